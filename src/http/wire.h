// Internal: reading HTTP/1.1 requests off the wire, and writing responses.
//
// request_reader is the one request parser of the server (and of the fuzz target
// fuzz_http_request): it accumulates bytes, parses them with Beast's parser under the server's
// limits, and turns failures into the 4xx/5xx status the client should get.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <vector>

#include "operant/http/header.h"
#include "operant/http/server.h"

namespace operant::http::detail {

struct request_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
};

class request_reader {
 public:
  explicit request_reader(request_limits limits);
  ~request_reader();
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  enum class state { need_more, complete, failed };

  // Appends `data` (all of it) and parses as far as one request goes. Bytes after a complete
  // request stay buffered for the next one (pipelining): call feed({}) after take() to parse
  // them. Once failed, stays failed.
  state feed(std::string_view data);
  state status() const noexcept { return state_; }

  // True once the request line and headers are complete (the body may still be coming).
  bool header_done() const noexcept;
  // True when the (complete) headers carry "Expect: 100-continue" and a body is still expected.
  bool expects_continue() const noexcept;
  // True when some bytes of the next request have arrived (used for the header timeout).
  bool has_partial() const noexcept { return !buffer_.empty() || header_started_; }

  // When failed: the status to answer (400, 413, 431, 501 or 505) and why.
  unsigned error_status() const noexcept { return error_status_; }
  const std::string& error_message() const noexcept { return error_message_; }

  // The completed request (status() == complete); resets for the next request.
  request take();
  // Whether the completed request allows the connection to stay open (HTTP/1.1 without
  // "Connection: close", or HTTP/1.0 with "Connection: keep-alive"). Valid until take().
  bool keep_alive() const noexcept { return keep_alive_; }
  // The completed request's method is HEAD (no body in the answer).
  bool head() const noexcept { return head_; }

 private:
  struct parser_holder;
  void reset_parser();
  void fail(unsigned status, std::string message);

  request_limits limits_;
  std::unique_ptr<parser_holder> parser_;
  std::string buffer_;
  state state_ = state::need_more;
  bool header_started_ = false;
  bool header_checked_ = false;
  std::size_t header_consumed_ = 0;  // header bytes Beast has taken so far
  bool keep_alive_ = false;
  bool head_ = false;
  unsigned error_status_ = 0;
  std::string error_message_;
};

// response_reader is the client's response parser (and the fuzz target fuzz_http_response's):
// bytes in, status, headers and decoded body bytes (chunked transfer undone) out.
struct response_limits {
  std::size_t max_header_bytes = 1024 * 1024;
  std::size_t max_body_bytes = 0;  // 0: no limit (a stream)
};

class response_reader {
 public:
  // `head_request`: the request was HEAD, so the response has no body whatever it says.
  explicit response_reader(response_limits limits, bool head_request = false);
  ~response_reader();
  response_reader(const response_reader&) = delete;
  response_reader& operator=(const response_reader&) = delete;

  enum class state { need_more, complete, failed };

  // Parses `data` and appends the body bytes it completes to `body`. Interim 1xx responses are
  // skipped. Bytes after the end of the response are kept (leftover()). Once failed or
  // complete, stays so.
  state feed(std::string_view data, std::string& body);
  // The connection ended: a body delimited by the close is complete; anything else unfinished
  // fails ("the server closed the connection ...").
  state finish(std::string& body);
  state status() const noexcept { return state_; }

  bool header_done() const noexcept;
  // Valid once header_done().
  unsigned status_code() const noexcept;
  std::vector<header_field> headers() const;
  bool keep_alive() const noexcept;
  // When failed: what is wrong with the response.
  const std::string& error_message() const noexcept { return error_message_; }
  // Bytes received after the end of the response.
  const std::string& leftover() const noexcept { return buffer_; }

 private:
  struct parser_holder;
  void reset_parser();
  void fail(std::string message);

  response_limits limits_;
  bool head_;
  std::unique_ptr<parser_holder> parser_;
  std::string buffer_;
  state state_ = state::need_more;
  bool head_checked_ = false;
  std::string error_message_;
};

// Serializes a response head (status line, the server's standard headers, the response's own
// headers, Content-Length) into `out`. `keep_alive` false adds "Connection: close".
void write_head(std::string& out, const response& r, std::size_t content_length, bool keep_alive,
                const std::map<std::string, std::string, std::less<>>* extra_headers);

// The reason phrase of a status code ("OK", "Not Found"), or "Unknown".
std::string_view reason_phrase(unsigned status) noexcept;

}  // namespace operant::http::detail
