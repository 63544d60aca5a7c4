// operant/http/client.h — the HTTP/1.1 client the other modules share (kube's REST client and
// watches, remote write), on the same Asio/Beast stack as the server.
//
//   operant::http::client c({.tls = {.ca_pem = ca}});
//   auto r = c.send({.method = "GET", .url = "https://127.0.0.1:6443/version"});
//   if (r.status == 200) use(r.body);
//
//   // A long response read as it arrives (a Kubernetes watch), until the server ends it or
//   // `stop` is requested:
//   c.stream({.url = watch_url}, [](std::string_view piece) { decoder.feed(piece); }, stop);
//
// Calls block the calling thread; any number of threads may call one client at once. The I/O
// itself runs on the client's own thread, and stream() hands each piece of the body to the
// calling thread, so a slow consumer delays only its own stream. Connections are kept alive and
// reused per scheme, host and port (Go's http.Transport does the same), and a request that fails
// on a reused connection before any byte of the response arrived is sent once more on a new one.
//
// Errors: a response is a response, whatever its status (a 404 or a 500 is returned, not
// thrown). Failures to get one throw client_error: the URL is malformed, the name does not
// resolve, the connection is refused, TLS verification fails, the request timed out, the
// response is malformed or over a limit, or `stop` was requested.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "operant/http/header.h"

namespace operant::http {

// TLS for https:// URLs. The defaults verify the server against the system's CA store and the
// URL's host name, as every HTTPS client does.
struct client_tls {
  // PEM certificates to trust instead of the system store (a Kubernetes cluster's CA).
  std::string ca_pem{};
  // Skips verifying the server's certificate (kubeconfig's insecure-skip-tls-verify). For test
  // clusters only: anyone on the path can read and change the traffic.
  bool insecure_skip_verify = false;
  // The name to verify the certificate against and to send in SNI, instead of the URL's host
  // (kubeconfig's tls-server-name).
  std::string server_name{};
  // A client certificate chain and its private key, PEM (mutual TLS). Both or neither.
  std::string cert_pem{};
  std::string key_pem{};
};

struct client_options {
  client_tls tls{};
  // Time to resolve, connect and finish the TLS handshake (Go's net.Dialer uses 30 s).
  std::chrono::milliseconds connect_timeout{30'000};
  // Default time for a whole request, from sending it to the end of the response; 0 = none.
  // client_request::timeout overrides it per request.
  std::chrono::milliseconds timeout{0};
  // How long an unused kept-alive connection stays in the pool (Go's IdleConnTimeout: 90 s),
  // and how many stay per host (Go's MaxIdleConnsPerHost for client-go: 25).
  std::chrono::milliseconds idle_timeout{90'000};
  std::size_t max_idle_per_host = 25;
  // Limits on what a server may send: status line plus headers (Go: 10 MiB, we allow 1 MiB),
  // and the body of a send() (stream() has no body limit: it never holds the body).
  std::size_t max_response_header_bytes = 1024 * 1024;
  std::size_t max_body_bytes = 512 * 1024 * 1024;
  // Sent as User-Agent unless the request has one. Empty: no User-Agent header.
  std::string user_agent = "operant";
  // Ask for gzip (Accept-Encoding: gzip) and decompress a gzip-encoded body before returning it,
  // as Go's transport does when the request did not set Accept-Encoding itself.
  bool accept_gzip = true;
};

struct client_request {
  std::string method = "GET";
  // Absolute: "http://host:port/path?query" or "https://...". IPv6 hosts in brackets.
  std::string url{};
  // Host, Content-Length and User-Agent (unless given here) are added by the client.
  std::vector<header_field> headers{};
  std::string body{};
  // Time for this request; 0 = the client's default (client_options::timeout).
  std::chrono::milliseconds timeout{0};
};

struct client_response {
  unsigned status = 0;
  std::vector<header_field> headers{};
  // The body (decompressed if it was gzip). Empty after a stream() of a 2xx response, whose
  // body went to the callback.
  std::string body{};

  // The first header with this name (ASCII case-insensitive), or empty.
  std::string_view header(std::string_view name) const noexcept;
};

class client_error : public std::runtime_error {
 public:
  enum class kind {
    bad_url,    // the URL is not an absolute http(s) URL
    connect,    // name resolution or TCP connect failed
    tls,        // the handshake failed (certificate verification, protocol)
    timeout,    // connect_timeout or the request's timeout passed
    cancelled,  // `stop` was requested
    protocol,   // the response is malformed or over a limit
    io,         // the connection failed mid-request
  };
  client_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind what_kind() const noexcept { return kind_; }

 private:
  kind kind_;
};

class client {
 public:
  // Throws client_error(kind::tls) when the TLS material cannot be loaded (malformed PEM, a key
  // that does not match its certificate), naming which.
  explicit client(client_options options = {});
  ~client();  // cancels what is in flight, closes every connection, joins the I/O thread
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends the request and reads the whole response. Throws client_error (see above).
  client_response send(const client_request& request, std::stop_token stop = {});

  // Sends the request and, for a 2xx answer, calls `on_data` on this thread with each piece of
  // the body as it arrives (chunked transfer decoded, never an empty piece) until the body ends;
  // returns the status and headers with an empty body. For any other status the body is read
  // whole (bounded by max_body_bytes) into the returned response and `on_data` is not called.
  // When `stop` is requested, the stream is closed and stream() returns what it has (no throw
  // once the head has arrived). An exception thrown by `on_data` closes the connection and
  // propagates.
  client_response stream(const client_request& request,
                         const std::function<void(std::string_view)>& on_data,
                         std::stop_token stop = {});

  // Replaces the TLS material for connections made from now on (a rotated client certificate
  // from an exec credential plugin); pooled connections are closed. Throws as the constructor.
  void set_tls(const client_tls& tls);

  // Kept-alive connections in the pool now (for tests and metrics).
  std::size_t idle_connections() const;
  // Connections opened so far (for tests: reuse means this does not grow).
  std::size_t connections_opened() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The parts of an absolute http(s) URL, as the client uses them. Throws client_error(bad_url)
// naming the URL and what is wrong (scheme, empty host, bad port, spaces, a fragment).
struct url_parts {
  bool https = false;
  std::string host;    // without brackets: "127.0.0.1", "::1", "example.com"
  std::string port;    // always set: the URL's, or 80/443
  std::string target;  // "/path?query", "/" when the URL has no path
};
url_parts parse_url(std::string_view url);

}  // namespace operant::http
