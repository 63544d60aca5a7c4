// operant/http/server.h — an embedded HTTP/1.1 server for /metrics, health checks and your routes.
//
// The seed's Go program (`http.Handle("/metrics", promhttp.Handler())` plus an API endpoint) is,
// with operant:
//
//   operant::http::server srv({.listen = ":2112"});      // /metrics, / and /healthz built in
//   srv.handle("/my-api-endpoint", [&](const operant::http::request&) {
//     requests.inc();
//     return operant::http::response::text(200, "ok\n");
//   });
//   srv.run_until_signal();                                 // or start() + stop() from elsewhere
//
// The server is asynchronous (Boost.Asio): idle and slow clients cost a socket and a timer, not a
// thread, so a client that opens connections and sends nothing (slowloris) cannot stop scrapes.
// Handlers run on the server's I/O threads; keep them short or hand work to your own threads.
// Malformed requests get a 4xx answer and the connection is closed; the server keeps serving.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operant/http/header.h"
#include "operant/http/metrics_handler.h"

namespace operant::http {

// One request, fully read (headers and body) before the handler runs.
struct request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and optional "?query"
  std::vector<header_field> headers;
  std::string body;
  std::string remote;  // peer address, "127.0.0.1:51234"
  std::string user;    // the basic-auth user when authentication is configured, else empty

  std::string_view path() const noexcept;   // target before '?'
  std::string_view query() const noexcept;  // target after '?', or empty
  // The first header with this name (ASCII case-insensitive), or empty.
  std::string_view header(std::string_view name) const noexcept;
};

struct response {
  unsigned status = 200;
  std::vector<header_field> headers;  // Content-Type, if absent, is "text/plain; charset=utf-8"
  std::string body;

  static response text(unsigned status, std::string body);
  static response html(unsigned status, std::string body);
  static response json(unsigned status, std::string body);
};

using handler = std::function<response(const request&)>;

// Every field with its default. The defaults follow Go's net/http where it has one and are
// stricter where Go has none (Go's server has no header-read timeout unless you set one).
struct server_options {
  // "host:port". ":2112" listens on every interface; "127.0.0.1:0" picks a free loopback port
  // (read it back with server::port()). IPv6 literals go in brackets: "[::1]:9090".
  std::string listen = ":2112";
  // I/O threads. 0 means min(hardware threads, 4).
  unsigned threads = 0;
  // Request line plus headers, in bytes (Go's DefaultMaxHeaderBytes is 1 MiB; Prometheus sends
  // about 300 bytes). Over it: 431.
  std::size_t max_header_bytes = 16 * 1024;
  // Request body, in bytes. Over it: 413.
  std::size_t max_body_bytes = 1024 * 1024;
  // Time allowed from a connection's first byte (or from the end of the previous response on a
  // kept-alive connection) to the end of the request headers. Over it the connection is closed.
  std::chrono::milliseconds header_timeout{10'000};
  // Time a kept-alive connection may wait idle for its next request.
  std::chrono::milliseconds idle_timeout{60'000};
  // Time allowed for reading a body and for writing a response.
  std::chrono::milliseconds io_timeout{30'000};
  // Open connections at most. When full, a new connection closes the one that has been waiting
  // longest for a request (idle or still sending headers); if every connection is busy in a
  // handler, the new one is refused. Slow clients therefore cannot lock scrapers out.
  std::size_t max_connections = 512;
  // A web-config.yml (TLS and basic auth; see web_config.h). Empty: plain HTTP, no auth.
  std::filesystem::path web_config_file{};
  // Built-in routes. Set a path to empty to leave that route out.
  std::string metrics_path = "/metrics";
  std::string health_path = "/healthz";
  bool landing_page = true;   // GET / links to metrics_path
  std::string landing_title = "operant";
  // How /metrics is served: registries, format options, in-flight limit, timeout, self-metrics.
  metrics_handler_options metrics{};
};

class server {
 public:
  // Validates the options, loads the web configuration and binds the listening socket (so the
  // port is known at once). Throws std::invalid_argument for bad options, config_error for a bad
  // web configuration, std::system_error when the address cannot be bound.
  explicit server(server_options opts = {});
  ~server();  // stops and joins
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Adds a route. A pattern ending in '/' matches every path under it; any other pattern matches
  // that path exactly. The longest matching pattern wins; user routes win over built-in ones.
  // Call before start().
  void handle(std::string pattern, handler h);

  // Starts the I/O threads and returns.
  void start();
  // Starts (if not started) and blocks until stop() is called from another thread or a signal
  // handler of yours.
  void run();
  // Starts (if not started) and blocks until SIGINT or SIGTERM arrives or stop() is called,
  // then stops. The usual main() of a service. Returns the signal number, or 0 after stop().
  int run_until_signal();
  // Stops accepting, closes every connection and joins the I/O threads. Idempotent. May be
  // called from a handler (the joining then happens in the destructor).
  void stop();

  std::uint16_t port() const noexcept;  // the bound port
  std::string url() const;              // "http://127.0.0.1:PORT" (https when TLS is on)
  const metrics_handler& metrics() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Splits "host:port" ("[v6]:port", ":port"). Throws std::invalid_argument naming the value.
struct host_port {
  std::string host;  // empty for ":port"
  std::uint16_t port;
};
host_port parse_listen_address(std::string_view address);

}  // namespace operant::http
