#include "wire.h"

#include <algorithm>
#include <array>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace operant::http::detail {

namespace bhttp = boost::beast::http;

struct request_reader::parser_holder {
  bhttp::request_parser<bhttp::string_body> p;
};

request_reader::request_reader(request_limits limits) : limits_(limits) { reset_parser(); }
request_reader::~request_reader() = default;

void request_reader::reset_parser() {
  parser_ = std::make_unique<parser_holder>();
  parser_->p.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->p.body_limit(limits_.max_body_bytes);
  parser_->p.eager(true);
  header_started_ = false;
  header_consumed_ = 0;
  header_checked_ = false;
}

void request_reader::fail(unsigned status, std::string message) {
  state_ = state::failed;
  error_status_ = status;
  error_message_ = std::move(message);
}

bool request_reader::header_done() const noexcept { return parser_->p.is_header_done(); }

bool request_reader::expects_continue() const noexcept {
  if (!parser_->p.is_header_done() || parser_->p.is_done()) return false;
  const auto& h = parser_->p.get();
  const auto it = h.find(bhttp::field::expect);
  return it != h.end() && boost::beast::iequals(it->value(), "100-continue");
}

request_reader::state request_reader::feed(std::string_view data) {
  if (state_ == state::failed) return state_;
  buffer_.append(data);
  if (state_ == state::complete) return state_;
  while (!buffer_.empty()) {
    if (!parser_->p.is_header_done()) {
      // The header limit counts every byte up to the blank line, whether Beast has taken some
      // of them already or they are still buffered; bytes after it (a body, the next pipelined
      // request) do not count. Beast's own header_limit restarts after the request line when
      // bytes arrive in pieces, so it alone would allow nearly twice the limit.
      const std::size_t end = buffer_.find("\r\n\r\n");
      const std::size_t header_bytes =
          header_consumed_ + (end == std::string::npos ? buffer_.size() : end + 4);
      if (header_bytes > limits_.max_header_bytes) {
        fail(431, "request header fields larger than " + std::to_string(limits_.max_header_bytes) +
                      " bytes");
        return state_;
      }
    } else if (parser_->p.chunked() && buffer_.size() < 5) {
      // Beast 1.81 asserts (basic_parser.ipp parse_chunk_header, n >= 5) when the last chunk
      // arrives in pieces (fixed upstream in boostorg/beast#2861). A chunked body always has at
      // least the 5 bytes of "0\r\n\r\n" left to come, so waiting for them delays nothing.
      break;
    }
    header_started_ = true;
    boost::system::error_code ec;
    const bool header_was_done = parser_->p.is_header_done();
    const std::size_t used = parser_->p.put(boost::asio::buffer(buffer_.data(), buffer_.size()), ec);
    if (!header_was_done) header_consumed_ += used;
    buffer_.erase(0, used);
    if (ec == bhttp::error::need_more) break;
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        fail(431, "request header fields larger than " + std::to_string(limits_.max_header_bytes) +
                      " bytes");
      } else if (ec == bhttp::error::body_limit) {
        // (content_length() may not be asked here: Beast raises this before the header is done.)
        fail(413, "request body larger than the limit of " + std::to_string(limits_.max_body_bytes) +
                      " bytes");
      } else if (ec == bhttp::error::bad_version) {
        fail(505, "HTTP version not supported: expected HTTP/1.0 or HTTP/1.1");
      } else if (ec == bhttp::error::bad_transfer_encoding) {
        fail(501, "unsupported Transfer-Encoding (only chunked is understood)");
      } else {
        fail(400, "malformed request: " + ec.message());
      }
      return state_;
    }
    if (parser_->p.is_header_done() && !parser_->p.is_done() && used == 0) break;
    if (parser_->p.is_done()) break;
  }
  if (parser_->p.is_header_done() && !header_checked_) {
    header_checked_ = true;
    const auto& h = parser_->p.get();
    // RFC 9112 3.2: origin-form ("/path?query"), asterisk-form ("*") or absolute-form
    // ("http://host/path"), in visible ASCII. Beast accepts any byte above 0x20.
    const std::string_view target = h.target();
    const bool visible = !target.empty() && std::all_of(target.begin(), target.end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (!visible || !(target.front() == '/' || target == "*" || target.starts_with("http://") ||
                      target.starts_with("https://"))) {
      fail(400, "malformed request: invalid request-target: expected /path, * or an absolute URL");
      return state_;
    }
    const unsigned v = h.version();
    if (v != 10 && v != 11) {
      fail(505, "HTTP version not supported: expected HTTP/1.0 or HTTP/1.1");
      return state_;
    }
    // RFC 9112 6.1: a request whose Transfer-Encoding does not end in chunked has no
    // determinable length. Beast would read it until the connection closes.
    if (h.find(bhttp::field::transfer_encoding) != h.end() && !parser_->p.chunked()) {
      fail(501, "unsupported Transfer-Encoding \"" + std::string(h[bhttp::field::transfer_encoding]) +
                    "\": expected chunked as the last coding");
      return state_;
    }
  }
  if (parser_->p.is_done()) {
    state_ = state::complete;
    const auto& m = parser_->p.get();
    keep_alive_ = m.keep_alive();
    head_ = m.method() == bhttp::verb::head;
  }
  return state_;
}

request request_reader::take() {
  request r;
  auto msg = parser_->p.release();
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  r.headers.reserve(8);
  for (const auto& f : msg) {
    r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  r.body = std::move(msg.body());
  reset_parser();
  state_ = state::need_more;
  keep_alive_ = false;
  head_ = false;
  return r;
}

std::string_view reason_phrase(unsigned status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

// RFC 9110 IMF-fixdate, formatted at most once a second per thread.
std::string_view http_date() {
  thread_local std::time_t last = 0;
  thread_local std::array<char, 40> buf{};
  thread_local std::size_t len = 0;
  const std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return {buf.data(), len};
}

bool has_header(const response& r, std::string_view name) {
  for (const header_field& f : r.headers) {
    if (boost::beast::iequals(f.name, name)) return true;
  }
  return false;
}

}  // namespace

void write_head(std::string& out, const response& r, std::size_t content_length, bool keep_alive,
                const std::map<std::string, std::string, std::less<>>* extra_headers) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(r.status));
  out.push_back(' ');
  out.append(reason_phrase(r.status));
  out.append("\r\nDate: ");
  out.append(http_date());
  out.append("\r\n");
  if (!has_header(r, "Content-Type")) out.append("Content-Type: text/plain; charset=utf-8\r\n");
  for (const header_field& f : r.headers) {
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (extra_headers != nullptr) {
    for (const auto& [name, value] : *extra_headers) {
      out.append(name).append(": ").append(value).append("\r\n");
    }
  }
  out.append("Content-Length: ");
  out.append(std::to_string(content_length));
  out.append(keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

}  // namespace operant::http::detail
