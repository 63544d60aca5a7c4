// libFuzzer target for the HTTP server's request reading (operant::http::detail::request_reader,
// src/http/wire.h) and for what the server does next with a request's headers: content
// negotiation (operant::metrics::negotiate on Accept) and operant::http::accepts_gzip on
// Accept-Encoding.
//
// Input layout (seeds in fuzz/corpus/fuzz_http_request/ follow it):
//
//   byte 0      limits: bits 0-1 max_header_bytes {16384, 1024, 256, 64},
//                       bits 2-3 max_body_bytes  {1 MiB, 4096, 64, 0}      (0x00: the defaults)
//   byte 1      k = byte & 15: how many chunk-length bytes follow
//   k bytes     chunk lengths (each byte + 1), used in turn, cyclically, to cut the stream
//   the rest    the byte stream a client sends: one or more (pipelined) requests
//
// With k = 0 the stream is fed in one piece. The stream is fed chunk by chunk, as reads from a
// socket would deliver it; each completed request is taken and the reader is fed nothing
// (feed({})) to parse what is buffered behind it, as the server does.
//
// Checked, beyond "no crash, no sanitizer report, no exception":
//   * failed   => error_status() is one of 400 413 431 501 505 (wire.h) and error_message() is
//                 not empty; further feeds leave it failed with the same status.
//   * complete => method is a non-empty token; the target is origin-form ("/..."), "*",
//                 absolute-form ("scheme://...") or, for CONNECT only, authority-form; header
//                 names are non-empty and values hold no CR, LF or NUL; method, target and
//                 fields fit in max_header_bytes and the body in max_body_bytes; path()/query()
//                 split the target at the first '?'; header() finds the first field of that name
//                 whatever its case; head() is true exactly for HEAD.
//   * negotiate(Accept) answers one of the three exact Content-Types (text 0.0.4, OpenMetrics
//     1.0.0, OpenMetrics 0.0.1) and a format that matches it.
//   * chunking does not matter: the same stream fed in one piece gives the same requests (with
//     k = 0, the comparison is against one byte at a time). A server must not accept or refuse a
//     request depending on how TCP segments its bytes. (Where a refused stream ends, 400 at once
//     or 431/waiting when fed in pieces, may differ: see the comment at the comparison.)
//
// FUZZ_HTTP_SKIP=target,chunking (comma-separated) turns those two checks off, to look for
// further findings while a known one is being fixed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/wire.h"
#include "operant/http/metrics_handler.h"
#include "operant/http/server.h"
#include "operant/metrics/exposition.h"

namespace {

namespace h = operant::http;
namespace m = operant::metrics;
using reader = h::detail::request_reader;

bool skipped(std::string_view check) {
  static const std::string skip = [] {
    const char* s = std::getenv("FUZZ_HTTP_SKIP");
    return s == nullptr ? std::string() : "," + std::string(s) + ",";
  }();
  return skip.find("," + std::string(check) + ",") != std::string::npos;
}

[[noreturn]] void broken(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_http_request: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
               detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) broken(what, detail);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// scheme "://" ...: RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_absolute_form(std::string_view t) {
  const std::size_t colon = t.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(t[0])) return false;
  return std::all_of(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(colon), [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

// host ":" port, no '/': what CONNECT carries.
bool is_authority_form(std::string_view t) {
  const std::size_t colon = t.rfind(':');
  return colon != std::string_view::npos && colon > 0 && colon + 1 < t.size() &&
         t.find('/') == std::string_view::npos &&
         std::all_of(t.begin() + static_cast<std::ptrdiff_t>(colon) + 1, t.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

void check_negotiation(std::string_view accept) {
  const m::negotiation n = m::negotiate(accept);
  constexpr std::string_view om_0 = "application/openmetrics-text; version=0.0.1; charset=utf-8";
  if (n.format == m::format::text) {
    check(n.content_type == m::content_type(m::format::text), "negotiate: text with a wrong Content-Type",
          n.content_type);
  } else {
    check(n.format == m::format::openmetrics, "negotiate: unknown format");
    check(n.content_type == m::content_type(m::format::openmetrics) || n.content_type == om_0,
          "negotiate: OpenMetrics with a wrong Content-Type", n.content_type);
  }
  check(m::negotiate(accept).content_type == n.content_type, "negotiate is not deterministic");
  (void)h::accepts_gzip(accept);
}

void check_request(const h::request& r, bool head, const h::detail::request_limits& limits) {
  check(is_token(r.method), "method is not a token", r.method);
  check(head == (r.method == "HEAD"), "head() disagrees with the method", r.method);
  const std::string_view t = r.target;
  if (!skipped("target")) {
    const bool ok = (!t.empty() && t.front() == '/') || t == "*" || is_absolute_form(t) ||
                    (r.method == "CONNECT" && is_authority_form(t));
    check(ok, "request-target is neither origin-, asterisk-, absolute- nor authority-form (400 expected)",
          t);
  }
  std::size_t header_bytes = r.method.size() + r.target.size();
  for (const h::header_field& f : r.headers) {
    check(is_token(f.name), "header name is not a token", f.name);
    check(f.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
          "header value holds CR, LF or NUL", f.name);
    header_bytes += f.name.size() + f.value.size();
  }
  check(header_bytes <= limits.max_header_bytes, "accepted headers larger than max_header_bytes");
  check(r.body.size() <= limits.max_body_bytes, "accepted a body larger than max_body_bytes");

  // path() and query() split the target at its first '?'.
  const std::size_t q = t.find('?');
  check(r.path() == t.substr(0, q), "path() is not the target before '?'");
  check(r.query() == (q == std::string_view::npos ? std::string_view() : t.substr(q + 1)),
        "query() is not the target after '?'");

  // header() finds the first field of that name, whatever its case.
  for (std::string_view name : {"Accept", "accept-encoding", "HOST", "X-Prometheus-Scrape-Timeout-Seconds"}) {
    std::string_view want;
    for (const h::header_field& f : r.headers) {
      if (iequals(f.name, name)) {
        want = f.value;
        break;
      }
    }
    const std::string_view got = r.header(name);
    check(got == want && (got.data() == want.data() || got.empty()), "header() did not find the first field",
          name);
  }

  check_negotiation(r.header("Accept"));
  (void)h::accepts_gzip(r.header("Accept-Encoding"));
  // Every header value, so the fuzzer reaches both parsers without finding the field names first.
  for (const h::header_field& f : r.headers) check_negotiation(f.value);
}

// What feeding a stream produced: the requests, then how it ended.
struct outcome {
  struct req {
    std::string method, target, body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool keep_alive, head;
    bool operator==(const req&) const = default;
  };
  std::vector<req> requests;
  reader::state end = reader::state::need_more;
  unsigned error_status = 0;
  std::string error_message;
};

std::string describe(const outcome& o) {
  std::string s = std::to_string(o.requests.size()) + " request(s)";
  for (const auto& r : o.requests) s += " [" + r.method + " " + r.target + ", body " + std::to_string(r.body.size()) + "]";
  if (o.end == reader::state::failed) {
    s += ", then failed " + std::to_string(o.error_status) + " (" + o.error_message + ")";
  } else {
    s += ", then waiting for more";
  }
  return s;
}

// Feeds `stream` cut into pieces of the given lengths (cyclically; empty = one piece).
outcome feed(std::string_view stream, const std::vector<std::size_t>& cuts,
             const h::detail::request_limits& limits) {
  outcome o;
  reader rd(limits);
  std::size_t pos = 0, next_cut = 0;
  reader::state st = reader::state::need_more;
  for (;;) {
    check(st == rd.status(), "feed() returned a state other than status()");
    if (st == reader::state::complete) {
      const bool keep = rd.keep_alive(), head = rd.head();
      h::request r = rd.take();
      check(rd.status() == reader::state::need_more, "take() did not reset the reader");
      check_request(r, head, limits);
      outcome::req rec{r.method, r.target, std::move(r.body), {}, keep, head};
      for (auto& f : r.headers) rec.headers.emplace_back(std::move(f.name), std::move(f.value));
      o.requests.push_back(std::move(rec));
      st = rd.feed({});
      continue;
    }
    if (st == reader::state::failed) {
      const unsigned code = rd.error_status();
      check(code == 400 || code == 413 || code == 431 || code == 501 || code == 505,
            "error_status() is not one of 400 413 431 501 505", std::to_string(code));
      check(!rd.error_message().empty(), "failed without a message");
      check(rd.feed("GET / HTTP/1.1\r\n\r\n") == reader::state::failed && rd.error_status() == code,
            "a failed reader recovered");
      o.end = st;
      o.error_status = code;
      o.error_message = rd.error_message();
      return o;
    }
    if (pos == stream.size()) return o;
    std::size_t len = stream.size() - pos;
    if (!cuts.empty()) {
      len = std::min(len, cuts[next_cut]);
      next_cut = (next_cut + 1) % cuts.size();
    }
    st = rd.feed(stream.substr(pos, len));
    pos += len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t header_limits[] = {16 * 1024, 1024, 256, 64};
  constexpr std::size_t body_limits[] = {1024 * 1024, 4096, 64, 0};
  const auto b0 = static_cast<unsigned char>(in[0]);
  const h::detail::request_limits limits{header_limits[b0 & 3], body_limits[(b0 >> 2) & 3]};
  const std::size_t k = static_cast<unsigned char>(in[1]) & 15u;
  if (size < 2 + k) return 0;
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < k; ++i) cuts.push_back(static_cast<unsigned char>(in[2 + i]) + 1u);
  const std::string_view stream = in.substr(2 + k);

  const outcome chunked = feed(stream, cuts, limits);
  if (!skipped("chunking")) {
    const std::vector<std::size_t> other = cuts.empty() ? std::vector<std::size_t>{1} : std::vector<std::size_t>{};
    const outcome reference = feed(stream, other, limits);
    // Only the requests are compared, not how the stream ended: after a first incomplete
    // header, Beast's parser only looks for the blank line ending it and parses the header once
    // that arrives (or the header limit is reached), so a malformed header fed in pieces is
    // reported later (or as 431, or not until the header timeout) than fed at once. Harmless: no
    // request is accepted either way.
    if (chunked.requests != reference.requests) {
      broken("the outcome depends on how the stream is cut",
             (cuts.empty() ? "in one piece: " : "in the given chunks: ") + describe(chunked) +
                 (cuts.empty() ? "; one byte at a time: " : "; in one piece: ") + describe(reference));
    }
  }
  return 0;
}
