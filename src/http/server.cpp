#include "operant/http/server.h"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <sys/socket.h>

#include <condition_variable>
#include <csignal>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "operant/http/web_config.h"
#include "tls.h"
#include "wire.h"

namespace operant::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

host_port parse_listen_address(std::string_view address) {
  const auto bad = [&](std::string_view why) {
    return std::invalid_argument("listen address \"" + std::string(address) + "\" " + std::string(why) +
                                 ": expected host:port, [ipv6]:port or :port with port 0-65535");
  };
  host_port hp;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string_view::npos) throw bad("has no closing ']'");
    hp.host = std::string(address.substr(1, close - 1));
    if (close + 1 >= address.size() || address[close + 1] != ':') throw bad("has no port");
    port = address.substr(close + 2);
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) throw bad("has no port");
    hp.host = std::string(address.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) throw bad("has an IPv6 host without brackets");
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) throw bad("has an invalid port");
  unsigned value = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') throw bad("has an invalid port");
    value = value * 10 + unsigned(ch - '0');
  }
  if (value > 65535) throw bad("has a port above 65535");
  hp.port = static_cast<std::uint16_t>(value);
  return hp;
}

namespace {

// One open connection, as the connection table sees it. Touched on the connection's strand,
// except the atomics.
struct connection {
  net::any_io_executor strand;
  std::atomic<bool> waiting{true};              // waiting for (the rest of) a request
  std::atomic<std::int64_t> waiting_since{0};   // steady_clock ticks
  std::function<void()> close;                  // null once the session has ended (strand only)
  std::list<std::shared_ptr<connection>>::iterator self;
  int fd = -1;  // for the last sweep of stop(), when no I/O thread runs
};

std::string landing_page(const server_options& o) {
  std::string links;
  if (!o.metrics_path.empty()) links += "<li><a href=\"" + o.metrics_path + "\">Metrics</a></li>\n";
  if (!o.health_path.empty()) links += "<li><a href=\"" + o.health_path + "\">Health</a></li>\n";
  return "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>" + o.landing_title +
         "</title></head>\n<body>\n<h1>" + o.landing_title + "</h1>\n<ul>\n" + links +
         "</ul>\n</body>\n</html>\n";
}

bool is_get_or_head(const request& r) { return r.method == "GET" || r.method == "HEAD"; }

}  // namespace

struct server::impl {
  server_options opts;
  web_config web;
  std::unique_ptr<basic_authenticator> auth;
  std::unique_ptr<metrics_handler> metrics;
  std::vector<std::pair<std::string, handler>> routes;  // longest pattern first
  std::string landing;
  std::string url_host;
  std::uint16_t port = 0;

  // Connection table (declared before the io_context so it outlives the sessions' frames).
  std::mutex conn_mu;
  std::list<std::shared_ptr<connection>> conns;

  std::optional<net::ssl::context> tls;
  net::io_context ioc;  // destroyed first: its shutdown destroys the sessions' frames
  tcp::acceptor acceptor{ioc};
  // The accept loop and stop()'s close of the acceptor run on this strand: with several I/O
  // threads the acceptor object would otherwise be touched by two threads at once.
  net::strand<net::io_context::executor_type> accept_strand = net::make_strand(ioc);
  bool accepting = true;  // on accept_strand only
  std::promise<void> accept_exited;  // set when accept_loop() returns
  std::vector<std::thread> threads;
  std::mutex run_mu;
  std::condition_variable run_cv;
  bool started = false;
  bool stopped = false;

  ~impl() {
    // A connection holds a strand of `ioc`: the table's references must go before the
    // io_context does (the sessions' own references go with its shutdown).
    std::lock_guard lock(conn_mu);
    conns.clear();
  }

  // ---- connection table --------------------------------------------------------------------
  // Admits a new connection, closing the one that has waited longest when the table is full.
  bool admit() {
    std::lock_guard lock(conn_mu);
    if (conns.size() < opts.max_connections) return true;
    std::shared_ptr<connection> oldest;
    for (const auto& c : conns) {
      if (!c->waiting.load(std::memory_order_relaxed)) continue;
      if (!oldest || c->waiting_since.load(std::memory_order_relaxed) <
                         oldest->waiting_since.load(std::memory_order_relaxed)) {
        oldest = c;
      }
    }
    if (!oldest) return false;
    oldest->waiting.store(false, std::memory_order_relaxed);  // not chosen twice
    net::post(oldest->strand, [oldest] {
      if (oldest->close) oldest->close();
    });
    return true;
  }

  std::shared_ptr<connection> add_connection(net::any_io_executor strand) {
    auto c = std::make_shared<connection>();
    c->strand = std::move(strand);
    c->waiting_since.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    std::lock_guard lock(conn_mu);
    conns.push_front(c);
    c->self = conns.begin();
    return c;
  }

  void remove_connection(const std::shared_ptr<connection>& c) {
    std::lock_guard lock(conn_mu);
    conns.erase(c->self);
  }

  void close_all() {
    std::lock_guard lock(conn_mu);
    for (const auto& c : conns) {
      net::post(c->strand, [c] {
        if (c->close) c->close();
      });
    }
  }

  // ---- dispatch ----------------------------------------------------------------------------
  response dispatch(request& req) {
    if (auth && !auth->empty() && !auth->check(req.header("Authorization"), &req.user)) {
      response r = response::text(401, "Unauthorized\n");
      r.headers.push_back({"WWW-Authenticate", "Basic"});
      return r;
    }
    const std::string_view path = req.path();
    for (const auto& [pattern, h] : routes) {
      const bool match = pattern.back() == '/' ? path.starts_with(pattern) : path == pattern;
      if (match) return h(req);
    }
    const bool metrics_route = !opts.metrics_path.empty() && path == opts.metrics_path;
    const bool health_route = !opts.health_path.empty() && path == opts.health_path;
    const bool landing_route = opts.landing_page && path == "/";
    if (!metrics_route && !health_route && !landing_route) {
      return response::text(404, "404 page not found\n");
    }
    if (!is_get_or_head(req)) {
      response r = response::text(405, "Method Not Allowed\n");
      r.headers.push_back({"Allow", "GET, HEAD"});
      return r;
    }
    if (metrics_route) return metrics->serve(req);
    if (health_route) return response::text(200, "ok\n");
    return response::html(200, landing);
  }

  response dispatch_safely(request& req) noexcept {
    try {
      return dispatch(req);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "operant/http: handler for %s %s threw: %s\n", req.method.c_str(),
                   req.target.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr, "operant/http: handler for %s %s threw a non-exception\n",
                   req.method.c_str(), req.target.c_str());
    }
    return response::text(500, "Internal Server Error\n");
  }

  // ---- sessions ----------------------------------------------------------------------------
  template <class Stream>
  net::awaitable<void> session(Stream& stream, std::shared_ptr<connection> c, std::string remote) {
    auto& lowest = beast::get_lowest_layer(stream);
    boost::system::error_code ec;
    auto tok = net::redirect_error(net::use_awaitable, ec);
    detail::request_reader reader({opts.max_header_bytes, opts.max_body_bytes});
    std::array<char, 16 * 1024> buf;
    std::string head;
    response answer;
    std::array<net::const_buffer, 2> buffers;
    bool first = true;

    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      lowest.expires_after(opts.header_timeout);
      co_await stream.async_handshake(net::ssl::stream_base::server, tok);
      if (ec) co_return;
    }
    for (;;) {
      // Wait for a request: idle (or header) deadline until its first byte, then the header
      // deadline from that byte on, then the I/O deadline for the body.
      c->waiting_since.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      c->waiting.store(true, std::memory_order_relaxed);
      bool header_clock = false, body_clock = false, sent_continue = false;
      lowest.expires_after(first ? opts.header_timeout : opts.idle_timeout);
      first = false;
      detail::request_reader::state st = reader.feed({});
      while (st == detail::request_reader::state::need_more) {
        if (!header_clock && reader.has_partial()) {
          lowest.expires_after(opts.header_timeout);
          header_clock = true;
        }
        if (reader.header_done() && !body_clock) {
          c->waiting.store(false, std::memory_order_relaxed);
          lowest.expires_after(opts.io_timeout);
          body_clock = true;
          if (reader.expects_continue() && !sent_continue) {
            sent_continue = true;
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            buffers[0] = net::buffer(cont.data(), cont.size());
            co_await net::async_write(stream, buffers[0], tok);
            if (ec) co_return;
          }
        }
        const net::mutable_buffer into(buf.data(), buf.size());
        const std::size_t n = co_await stream.async_read_some(into, tok);
        if (ec) co_return;  // closed, reset or timed out: nothing to answer
        st = reader.feed(std::string_view(buf.data(), n));
      }
      c->waiting.store(false, std::memory_order_relaxed);
      lowest.expires_after(opts.io_timeout);
      // GCC 12 mishandles temporaries inside co_await expressions in some builds (seen under
      // -fsanitize=thread): every buffer handed to an async operation is a named frame variable.
      bool keep = false;
      if (st == detail::request_reader::state::failed) {
        answer = response::text(reader.error_status(), reader.error_message() + "\n");
        head.clear();
        detail::write_head(head, answer, answer.body.size(), false, &web.headers);
      } else {
        const bool is_head = reader.head();
        keep = reader.keep_alive();
        request req = reader.take();
        req.remote = remote;
        answer = dispatch_safely(req);
        head.clear();
        detail::write_head(head, answer, answer.body.size(), keep, &web.headers);
        if (is_head) answer.body.clear();
      }
      buffers[0] = net::buffer(head);
      buffers[1] = net::buffer(answer.body);
      co_await net::async_write(stream, buffers, tok);
      if (ec || !keep) break;
    }
    lowest.expires_after(opts.io_timeout);
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      co_await stream.async_shutdown(tok);
    }
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  template <class Stream>
  net::awaitable<void> run_session(Stream stream, std::shared_ptr<connection> c) {
    boost::system::error_code ec;
    const auto ep = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
    std::string remote = ec ? std::string("unknown") : (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) + ":" + std::to_string(ep.port());
    c->close = [&stream] {
      boost::system::error_code ignored;
      beast::get_lowest_layer(stream).socket().close(ignored);
    };
    try {
      co_await session(stream, c, std::move(remote));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "operant/http: connection ended by an error: %s\n", e.what());
    }
    c->close = nullptr;
    remove_connection(c);
  }

  net::awaitable<void> accept_loop() {
    struct exit_signal {
      std::promise<void>& p;
      explicit exit_signal(std::promise<void>& promise) : p(promise) {}
      exit_signal(const exit_signal&) = delete;
      exit_signal& operator=(const exit_signal&) = delete;
      ~exit_signal() { p.set_value(); }
    } on_exit{accept_exited};
    for (;;) {
      boost::system::error_code ec;
      auto strand = net::make_strand(ioc);
      tcp::socket sock = co_await acceptor.async_accept(strand, net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted || !accepting) co_return;  // sock closes with us
      if (ec) {
        // Out of descriptors or a connection reset before accept: wait a little, keep serving.
        net::steady_timer t(ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      if (!admit()) {
        sock.close(ec);  // every connection is busy in a handler
        continue;
      }
      sock.set_option(tcp::no_delay(true), ec);
      auto c = add_connection(strand);
      c->fd = sock.native_handle();
      if (tls) {
        net::co_spawn(strand, run_session(beast::ssl_stream<beast::tcp_stream>(std::move(sock), *tls), c),
                      net::detached);
      } else {
        net::co_spawn(strand, run_session(beast::tcp_stream(std::move(sock)), c), net::detached);
      }
    }
  }
};

server::server(server_options opts) : impl_(std::make_unique<impl>()) {
  impl& d = *impl_;
  if (opts.threads == 0) opts.threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  if (opts.max_connections == 0) {
    throw std::invalid_argument("server_options.max_connections is 0: expected at least 1");
  }
  if (opts.max_header_bytes < 256) {
    throw std::invalid_argument("server_options.max_header_bytes " + std::to_string(opts.max_header_bytes) +
                                " is too small: expected at least 256");
  }
  const std::pair<const char*, std::chrono::milliseconds> timeouts[] = {
      {"header_timeout", opts.header_timeout},
      {"idle_timeout", opts.idle_timeout},
      {"io_timeout", opts.io_timeout}};
  for (const auto& [name, value] : timeouts) {
    if (value.count() <= 0) {
      throw std::invalid_argument(std::string("server_options.") + name + " " +
                                  std::to_string(value.count()) + "ms: expected a positive duration");
    }
  }
  for (const std::string* p : {&opts.metrics_path, &opts.health_path}) {
    if (!p->empty() && p->front() != '/') {
      throw std::invalid_argument("server_options path \"" + *p + "\" must start with '/'");
    }
  }
  const host_port hp = parse_listen_address(opts.listen);
  if (!opts.web_config_file.empty()) {
    d.web = load_web_config(opts.web_config_file);
    if (d.web.tls) d.tls.emplace(detail::make_server_tls_context(*d.web.tls));
    d.auth = std::make_unique<basic_authenticator>(d.web.basic_auth_users);
  }
  d.metrics = std::make_unique<metrics_handler>(opts.metrics);
  d.landing = landing_page(opts);

  // Bind now, so port() is known before start().
  tcp::endpoint ep;
  boost::system::error_code ec;
  if (hp.host.empty()) {
    ep = tcp::endpoint(net::ip::address_v6::any(), hp.port);
  } else {
    const auto addr = net::ip::make_address(hp.host, ec);
    if (!ec) {
      ep = tcp::endpoint(addr, hp.port);
    } else {
      tcp::resolver resolver(d.ioc);
      const auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
      if (ec || results.empty()) {
        throw std::system_error(ec, "cannot resolve listen host \"" + hp.host + "\"");
      }
      ep = results.begin()->endpoint();
    }
  }
  auto open_and_bind = [&](const tcp::endpoint& e) {
    d.acceptor = tcp::acceptor(d.ioc);
    d.acceptor.open(e.protocol(), ec);
    if (ec) return;
    d.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (e.address().is_v6() && hp.host.empty()) d.acceptor.set_option(net::ip::v6_only(false), ec);
    d.acceptor.bind(e, ec);
    if (ec) return;
    d.acceptor.listen(net::socket_base::max_listen_connections, ec);
  };
  open_and_bind(ep);
  if (ec && hp.host.empty()) {  // no IPv6 here: all IPv4 interfaces
    ec.clear();
    ep = tcp::endpoint(net::ip::address_v4::any(), hp.port);
    open_and_bind(ep);
  }
  if (ec) throw std::system_error(ec, "cannot listen on \"" + opts.listen + "\"");
  const auto bound = d.acceptor.local_endpoint();
  d.port = bound.port();
  if (hp.host.empty() || bound.address().is_unspecified()) {
    d.url_host = "127.0.0.1";
  } else if (bound.address().is_v6()) {
    d.url_host = "[" + bound.address().to_string() + "]";
  } else {
    d.url_host = bound.address().to_string();
  }
  d.opts = std::move(opts);
}

server::~server() {
  stop();
  // stop() called from a handler cannot join its own thread; join here.
  for (auto& t : impl_->threads) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.detach();
  }
}

void server::handle(std::string pattern, handler h) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern \"" + pattern + "\" must start with '/'");
  }
  if (!h) throw std::invalid_argument("route \"" + pattern + "\" has no handler");
  std::lock_guard lock(impl_->run_mu);
  if (impl_->started) throw std::logic_error("server::handle(\"" + pattern + "\") called after start()");
  auto& routes = impl_->routes;
  for (auto& [p, existing] : routes) {
    if (p == pattern) {
      existing = std::move(h);
      return;
    }
  }
  routes.emplace_back(std::move(pattern), std::move(h));
  std::stable_sort(routes.begin(), routes.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void server::start() {
  impl& d = *impl_;
  std::lock_guard lock(d.run_mu);
  if (d.started) return;
  if (d.stopped) throw std::logic_error("server::start() after stop()");
  d.started = true;
  net::co_spawn(d.accept_strand, d.accept_loop(), net::detached);
  d.threads.reserve(d.opts.threads);
  for (unsigned i = 0; i < d.opts.threads; ++i) {
    d.threads.emplace_back([&d] {
      for (;;) {
        try {
          d.ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "operant/http: I/O thread caught: %s\n", e.what());
        }
      }
    });
  }
}

void server::run() {
  start();
  std::unique_lock lock(impl_->run_mu);
  impl_->run_cv.wait(lock, [this] { return impl_->stopped; });
}

int server::run_until_signal() {
  impl& d = *impl_;
  net::signal_set signals(d.ioc, SIGINT, SIGTERM);
  std::atomic<int> caught{0};
  signals.async_wait([&d, &caught](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    caught.store(sig);
    std::lock_guard lock(d.run_mu);
    d.run_cv.notify_all();
  });
  start();
  {
    std::unique_lock lock(d.run_mu);
    d.run_cv.wait(lock, [&] { return d.stopped || caught.load() != 0; });
  }
  stop();
  return caught.load();
}

void server::stop() {
  impl& d = *impl_;
  {
    std::lock_guard lock(d.run_mu);
    if (d.stopped) return;
    d.stopped = true;
  }
  d.run_cv.notify_all();
  const auto self = std::this_thread::get_id();
  bool on_io_thread = false;
  for (auto& t : d.threads) on_io_thread |= t.get_id() == self;
  // Close the acceptor on its strand and wait for that, so that a connection the accept loop
  // took just before is already in the table close_all() walks, and none is added after it.
  net::post(d.accept_strand, [&d] {
    boost::system::error_code ec;
    d.acceptor.close(ec);
    d.accepting = false;
  });
  // Wait for the accept loop to end, so that a connection it took just before is already in the
  // table close_all() walks (or closed by the loop), and no accepted socket is left in a
  // completion handler that ioc.stop() would strand with its descriptor open.
  if (!on_io_thread && !d.threads.empty()) d.accept_exited.get_future().wait();
  d.close_all();
  // Let the sessions see their sockets close, then stop whatever is still pending.
  if (on_io_thread) {
    d.ioc.stop();  // the destructor joins
    return;
  }
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(d.conn_mu);
      if (d.conns.empty()) break;
    }
    if (d.threads.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  d.ioc.stop();
  for (auto& t : d.threads) {
    if (t.joinable() && t.get_id() != self) t.join();
  }
  // No I/O thread runs any more: close what is still open (a connection accepted while stop()
  // was posting its closes) so no client waits on a socket nobody serves.
  // (shutdown, not close: the socket objects still own the descriptors.) Connections still in
  // the listen backlog are reset when the acceptor closes.
  boost::system::error_code ignored;
  d.acceptor.close(ignored);
  std::lock_guard lock(d.conn_mu);
  for (const auto& c : d.conns) ::shutdown(c->fd, SHUT_RDWR);
}

std::uint16_t server::port() const noexcept { return impl_->port; }

std::string server::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->url_host + ":" + std::to_string(port());
}

const metrics_handler& server::metrics() const noexcept { return *impl_->metrics; }

}  // namespace operant::http
