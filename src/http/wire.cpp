#include "wire.h"

#include <algorithm>
#include <array>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace operant::http::detail {

namespace bhttp = boost::beast::http;

namespace {
// Beast 1.81 asserts (basic_parser.ipp parse_chunk_header, n >= 5) when it resumes in the last
// chunk with fewer than 5 bytes (fixed upstream in boostorg/beast#2861). Beast leaves the bytes
// of the last chunk's line ("0\r\n", after the previous chunk's CRLF) unconsumed until the
// message ends, so that state shows as fewer than 5 buffered bytes starting with "0" or "\r\n0":
// wait for more then (a chunked body always has them to come). Anything else, such as the tail
// of a chunk's data, is parsed at once, so a stream's last piece is never held back.
template <class Parser>
bool chunk_tail_pending(const Parser& p, std::string_view buffered) {
  if (!p.is_header_done() || !p.chunked() || buffered.size() >= 5) return false;
  if (buffered.starts_with("\r\n")) buffered.remove_prefix(2);
  return buffered.starts_with('0');
}
}  // namespace

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
    } else if (chunk_tail_pending(parser_->p, buffer_)) {
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

struct response_reader::parser_holder {
  bhttp::response_parser<bhttp::buffer_body> p;
};

response_reader::response_reader(response_limits limits, bool head_request)
    : limits_(limits), head_(head_request) {
  reset_parser();
}
response_reader::~response_reader() = default;

void response_reader::reset_parser() {
  parser_ = std::make_unique<parser_holder>();
  parser_->p.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  if (limits_.max_body_bytes == 0) {
    parser_->p.body_limit(boost::none);
  } else {
    parser_->p.body_limit(limits_.max_body_bytes);
  }
  parser_->p.eager(true);
  if (head_) parser_->p.skip(true);
  head_checked_ = false;
}

void response_reader::fail(std::string message) {
  state_ = state::failed;
  error_message_ = std::move(message);
}

bool response_reader::header_done() const noexcept { return parser_->p.is_header_done(); }
unsigned response_reader::status_code() const noexcept { return parser_->p.get().result_int(); }
bool response_reader::keep_alive() const noexcept { return parser_->p.get().keep_alive(); }

std::vector<header_field> response_reader::headers() const {
  std::vector<header_field> out;
  for (const auto& f : parser_->p.get()) {
    out.push_back({std::string(f.name_string()), std::string(f.value())});
  }
  return out;
}

response_reader::state response_reader::feed(std::string_view data, std::string& body) {
  buffer_.append(data);
  if (state_ != state::need_more) return state_;
  std::array<char, 16 * 1024> out;
  while (!buffer_.empty() && !chunk_tail_pending(parser_->p, buffer_)) {
    auto& b = parser_->p.get().body();
    b.data = out.data();
    b.size = out.size();
    boost::system::error_code ec;
    const std::size_t used = parser_->p.put(boost::asio::buffer(buffer_.data(), buffer_.size()), ec);
    body.append(out.data(), out.size() - parser_->p.get().body().size);
    buffer_.erase(0, used);
    if (ec && ec != bhttp::error::need_buffer && ec != bhttp::error::need_more) {
      if (ec == bhttp::error::header_limit) {
        fail("response header larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
      } else if (ec == bhttp::error::body_limit) {
        fail("response body larger than the limit of " + std::to_string(limits_.max_body_bytes) +
             " bytes");
      } else {
        fail("malformed response: " + ec.message());
      }
      return state_;
    }
    if (parser_->p.is_header_done() && !head_checked_) {
      // Checked once, as soon as the head is in, whatever the body does next (so the verdict does
      // not depend on how the bytes arrived).
      const unsigned code = parser_->p.get().result_int();
      if (code < 100 || code > 999) {
        fail("malformed response: status " + std::to_string(code));
        return state_;
      }
      if (code >= 100 && code < 200 && code != 101) {
        reset_parser();  // 100 Continue, 103 Early Hints: the real answer follows
        continue;
      }
      head_checked_ = true;
    }
    if (ec == bhttp::error::need_buffer) continue;
    if (ec == bhttp::error::need_more) break;
    if (parser_->p.is_done()) {
      state_ = state::complete;
      return state_;
    }
    if (used == 0) break;
  }
  return state_;
}

response_reader::state response_reader::finish(std::string& body) {
  if (state_ != state::need_more) return state_;
  if (!parser_->p.is_header_done()) {
    fail(buffer_.empty() && !parser_->p.got_some()
             ? "the server closed the connection without answering"
             : "the server closed the connection in the middle of the response header");
    return state_;
  }
  std::array<char, 16 * 1024> out;
  auto& b = parser_->p.get().body();
  b.data = out.data();
  b.size = out.size();
  boost::system::error_code ec;
  if (!buffer_.empty()) {
    fail("the server closed the connection in the middle of the response body");
    return state_;
  }
  parser_->p.put_eof(ec);
  body.append(out.data(), out.size() - parser_->p.get().body().size);
  if (ec || !parser_->p.is_done()) {
    fail("the server closed the connection in the middle of the response body");
    return state_;
  }
  state_ = state::complete;
  return state_;
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
