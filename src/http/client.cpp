#include "operant/http/client.h"

#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "wire.h"

namespace operant::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

std::string_view client_response::header(std::string_view name) const noexcept {
  for (const header_field& f : headers) {
    if (beast::iequals(f.name, name)) return f.value;
  }
  return {};
}

url_parts parse_url(std::string_view url) {
  const auto bad = [&](std::string_view why) {
    return client_error(client_error::kind::bad_url,
                        "invalid URL \"" + std::string(url) + "\": " + std::string(why));
  };
  url_parts u;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    u.https = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    throw bad("expected an absolute URL starting with http:// or https://");
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      throw bad("contains a space or control character");
    }
  }
  if (url.find('#') != std::string_view::npos)
    throw bad("a fragment (#...) is not sent to servers");
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    throw bad("user information in the URL is not supported: use an Authorization header");
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unterminated [IPv6] host");
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("expected :port after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) throw bad("empty port");
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      if (port.empty()) throw bad("empty port");
    }
    u.host = std::string(authority);
  }
  if (u.host.empty()) throw bad("empty host");
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      throw bad("port \"" + std::string(port) + "\" is not a number from 1 to 65535");
    }
    u.port = std::string(port);
  } else {
    u.port = u.https ? "443" : "80";
  }
  return u;
}

namespace {

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::shared_ptr<net::ssl::context> make_client_context(const client_tls& t) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1 | net::ssl::context::no_compression);
  boost::system::error_code ec;
  if (t.insecure_skip_verify) {
    ctx->set_verify_mode(net::ssl::verify_none);
  } else {
    ctx->set_verify_mode(net::ssl::verify_peer);
    if (t.ca_pem.empty()) {
      ctx->set_default_verify_paths(ec);
      if (ec)
        throw client_error(client_error::kind::tls,
                           "cannot load the system CA store: " + ec.message());
    } else {
      ctx->add_certificate_authority(net::buffer(t.ca_pem), ec);
      if (ec) {
        throw client_error(client_error::kind::tls,
                           "cannot load the CA certificates (ca_pem): " + ec.message() +
                               "; expected PEM \"-----BEGIN CERTIFICATE-----\" blocks");
      }
    }
  }
  if (t.cert_pem.empty() != t.key_pem.empty()) {
    throw client_error(client_error::kind::tls,
                       t.cert_pem.empty()
                           ? "a client key (key_pem) without its certificate (cert_pem)"
                           : "a client certificate (cert_pem) without its key (key_pem)");
  }
  if (!t.cert_pem.empty()) {
    ctx->use_certificate_chain(net::buffer(t.cert_pem), ec);
    if (ec) {
      throw client_error(client_error::kind::tls,
                         "cannot load the client certificate (cert_pem): " + ec.message());
    }
    ctx->use_private_key(net::buffer(t.key_pem), net::ssl::context::pem, ec);
    if (ec) {
      throw client_error(client_error::kind::tls,
                         "cannot load the client key (key_pem): " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      throw client_error(
          client_error::kind::tls,
          "the client key (key_pem) does not match the client certificate (cert_pem): " +
              openssl_reason());
    }
  }
  return ctx;
}

// A gzip body, inflated as it arrives.
class gunzip {
 public:
  gunzip() {
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~gunzip() { inflateEnd(&z_); }
  gunzip(const gunzip&) = delete;
  gunzip& operator=(const gunzip&) = delete;

  // Appends the inflated bytes of `in` to `out`; throws client_error on a corrupt stream or when
  // `out` would pass `limit` bytes (0: none).
  void feed(std::string_view in, std::string& out, std::size_t limit) {
    // zlib's interface is not const-correct; it does not write through next_in.
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // NOLINT
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[16 * 1024];
    while (z_.avail_in > 0 && !ended_) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        throw client_error(
            client_error::kind::protocol,
            std::string("corrupt gzip response body: ") + (z_.msg ? z_.msg : "inflate failed"));
      }
      out.append(buf, sizeof buf - z_.avail_out);
      if (limit != 0 && out.size() > limit) {
        throw client_error(client_error::kind::protocol, "response body larger than the limit of " +
                                                             std::to_string(limit) +
                                                             " bytes once decompressed");
      }
      if (rc == Z_STREAM_END) ended_ = true;
      if (rc == Z_BUF_ERROR && z_.avail_out != 0) break;
    }
  }
  bool ended() const noexcept { return ended_; }

 private:
  z_stream z_{};
  bool ended_ = false;
};

}  // namespace

struct client::impl {
  // One kept-alive connection. Every operation on it runs on its strand.
  struct conn {
    explicit conn(net::io_context& ioc) : strand(net::make_strand(ioc)) {}
    net::strand<net::io_context::executor_type> strand;
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    std::shared_ptr<net::ssl::context> ctx;  // keeps the context alive with the stream
    std::string key;
    bool cancelled = false;  // on the strand: stop() was requested, start nothing more
    steady::time_point idle_since;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void cancel() {
      cancelled = true;
      boost::system::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      lowest().cancel();
    }
  };
  using conn_ptr = std::shared_ptr<conn>;

  explicit impl(client_options o) : opts(std::move(o)), ctx(make_client_context(opts.tls)) {
    io_thread = std::thread([this] {
      for (;;) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "operant/http client: I/O thread caught: %s\n", e.what());
        }
      }
    });
  }

  ~impl() {
    {
      std::lock_guard lock(mu);
      idle.clear();
    }
    work.reset();
    ioc.stop();
    io_thread.join();
  }

  client_options opts;
  mutable std::mutex mu;  // ctx, idle, opened
  std::shared_ptr<net::ssl::context> ctx;
  std::map<std::string, std::deque<conn_ptr>> idle;
  std::size_t opened = 0;

  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);
  std::thread io_thread;

  // ---- the pool --------------------------------------------------------------------------

  static std::string pool_key(const url_parts& u) {
    return (u.https ? "https://" : "http://") + u.host + ":" + u.port;
  }

  conn_ptr take_idle(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto& q = it->second;
    const auto now = steady::now();
    while (!q.empty()) {
      conn_ptr c = std::move(q.back());  // most recently used first: least likely to be closed
      q.pop_back();
      if (now - c->idle_since < opts.idle_timeout) return c;
    }
    return nullptr;
  }

  void give_back(conn_ptr c) {
    c->idle_since = steady::now();
    std::lock_guard lock(mu);
    auto& q = idle[c->key];
    q.push_back(std::move(c));
    while (q.size() > opts.max_idle_per_host) q.pop_front();
  }

  // ---- running one operation on a connection's strand, from the calling thread ---------------

  // An operation's failure, carried across threads as a value. (An exception_ptr would do, but
  // its reference count lives in libstdc++.so, which ThreadSanitizer does not see, so every
  // failed request would be reported as a race.)
  struct op_failure {
    bool failed = false;
    client_error::kind kind = client_error::kind::io;
    std::string message;
  };

  static net::awaitable<op_failure> guarded(net::awaitable<void> op) {
    op_failure f;
    try {
      co_await std::move(op);
    } catch (const client_error& e) {
      f = {true, e.what_kind(), e.what()};
    } catch (const std::exception& e) {
      f = {true, client_error::kind::io, e.what()};
    }
    co_return f;
  }

  void run(const conn_ptr& c, net::awaitable<void> op, const std::stop_token& stop) {
    auto fut = net::co_spawn(c->strand, guarded(std::move(op)), net::use_future);
    std::stop_callback on_stop(stop, [c] { net::post(c->strand, [c] { c->cancel(); }); });
    const op_failure f = fut.get();
    if (f.failed) throw client_error(f.kind, f.message);
  }

  void set_deadline(conn& c, std::optional<steady::time_point> deadline) {
    if (deadline) {
      c.lowest().expires_at(*deadline);
    } else {
      c.lowest().expires_never();
    }
  }

  // A failed operation as client_error, with what was being done and where.
  [[noreturn]] static void fail(const conn& c, const boost::system::error_code& ec,
                                std::string_view what, const std::string& url) {
    using k = client_error::kind;
    if (c.cancelled) throw client_error(k::cancelled, "request to " + url + " cancelled");
    if (ec == beast::error::timeout)
      throw client_error(k::timeout, std::string(what) + " " + url + ": timed out");
    if (ec.category() == net::error::get_ssl_category() ||
        ec == net::ssl::error::stream_truncated) {
      std::string msg = std::string(what) + " " + url + ": TLS: " + ec.message();
      throw client_error(k::tls, msg);
    }
    throw client_error(k::io, std::string(what) + " " + url + ": " + ec.message());
  }

  net::awaitable<void> connect_op(conn_ptr c, url_parts u, std::string url,
                                  steady::time_point deadline,
                                  std::shared_ptr<net::ssl::context> context, client_tls tls_opts) {
    boost::system::error_code ec;
    tcp::resolver resolver(c->strand);
    const std::string host = u.host;
    const std::string port = u.port;
    auto results =
        co_await resolver.async_resolve(host, port, net::redirect_error(net::use_awaitable, ec));
    if (c->cancelled) fail(*c, ec, "connecting to", url);
    if (ec)
      throw client_error(client_error::kind::connect,
                         "cannot resolve " + u.host + " for " + url + ": " + ec.message());
    beast::tcp_stream stream(c->strand);
    stream.expires_at(deadline);
    co_await stream.async_connect(results, net::redirect_error(net::use_awaitable, ec));
    if (c->cancelled) fail(*c, ec, "connecting to", url);
    if (ec == beast::error::timeout) {
      throw client_error(client_error::kind::timeout, "connecting to " + url + ": timed out");
    }
    if (ec)
      throw client_error(client_error::kind::connect,
                         "cannot connect to " + url + ": " + ec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (!u.https) {
      c->plain.emplace(std::move(stream));
      co_return;
    }
    c->ctx = std::move(context);
    c->tls.emplace(std::move(stream), *c->ctx);
    const std::string& name = tls_opts.server_name.empty() ? u.host : tls_opts.server_name;
    if (!is_ip_literal(name)) {
      // SSL_set_tlsext_host_name, without the macro's C cast.
      SSL_ctrl(c->tls->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    }
    if (!tls_opts.insecure_skip_verify)
      c->tls->set_verify_callback(net::ssl::host_name_verification(name));
    co_await c->tls->async_handshake(net::ssl::stream_base::client,
                                     net::redirect_error(net::use_awaitable, ec));
    if (c->cancelled) fail(*c, ec, "connecting to", url);
    if (ec == beast::error::timeout) {
      throw client_error(client_error::kind::timeout, "TLS handshake with " + url + ": timed out");
    }
    if (ec) {
      std::string msg = "TLS handshake with " + url + " failed: " + ec.message();
      const long verify = SSL_get_verify_result(c->tls->native_handle());
      if (verify != X509_V_OK) {
        msg += " (certificate verification: ";
        msg += X509_verify_cert_error_string(verify);
        msg += "; verified against \"" + name + "\")";
      }
      throw client_error(client_error::kind::tls, msg);
    }
  }

  conn_ptr connect(const url_parts& u, const std::string& url, const std::stop_token& stop) {
    std::shared_ptr<net::ssl::context> context;
    client_tls tls_opts;
    {
      std::lock_guard lock(mu);
      context = ctx;
      tls_opts.server_name = opts.tls.server_name;
      tls_opts.insecure_skip_verify = opts.tls.insecure_skip_verify;
      ++opened;
    }
    auto c = std::make_shared<conn>(ioc);
    c->key = pool_key(u);
    run(c,
        connect_op(c, u, url, steady::now() + opts.connect_timeout, std::move(context),
                   std::move(tls_opts)),
        stop);
    return c;
  }

  // ---- one request/response exchange -----------------------------------------------------

  struct exchange_state {
    std::string wire;  // the serialized request
    detail::response_reader reader;
    std::string body;  // raw (possibly gzip) body bytes produced so far
    bool got_bytes = false;
    exchange_state(std::string w, detail::response_limits limits, bool head)
        : wire(std::move(w)), reader(limits, head) {}
  };

  template <class Stream>
  static net::awaitable<std::size_t> read_some(Stream& s, std::array<char, 64 * 1024>& buf,
                                               boost::system::error_code& ec) {
    co_return co_await s.async_read_some(net::buffer(buf),
                                         net::redirect_error(net::use_awaitable, ec));
  }

  // Reads until the head is complete (and, when `whole`, until the response is complete).
  net::awaitable<void> exchange_op(conn_ptr c, std::shared_ptr<exchange_state> st, std::string url,
                                   std::optional<steady::time_point> deadline, bool write,
                                   bool whole) {
    boost::system::error_code ec;
    if (c->cancelled) fail(*c, net::error::operation_aborted, "request to", url);
    set_deadline(*c, deadline);
    if (write) {
      const auto buf = net::buffer(st->wire);
      if (c->tls) {
        co_await net::async_write(*c->tls, buf, net::redirect_error(net::use_awaitable, ec));
      } else {
        co_await net::async_write(*c->plain, buf, net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) fail(*c, ec, "sending the request to", url);
    }
    std::array<char, 64 * 1024> buf;
    for (;;) {
      if (st->reader.status() == detail::response_reader::state::failed) {
        throw client_error(client_error::kind::protocol,
                           "bad response from " + url + ": " + st->reader.error_message());
      }
      if (st->reader.status() == detail::response_reader::state::complete) co_return;
      if (!whole && st->reader.header_done()) co_return;
      std::size_t n = 0;
      if (c->tls) {
        n = co_await read_some(*c->tls, buf, ec);
      } else {
        n = co_await read_some(*c->plain, buf, ec);
      }
      if (n > 0) {
        st->got_bytes = true;
        st->reader.feed(std::string_view(buf.data(), n), st->body);
      }
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
        if (st->reader.finish(st->body) == detail::response_reader::state::failed) {
          throw client_error(client_error::kind::io, "reading the response from " + url + ": " +
                                                         st->reader.error_message());
        }
        co_return;
      }
      if (ec) fail(*c, ec, "reading the response from", url);
    }
  }

  // Reads more of the body into st->body (at least one byte, unless the response ends).
  net::awaitable<void> body_op(conn_ptr c, std::shared_ptr<exchange_state> st, std::string url,
                               std::optional<steady::time_point> deadline) {
    boost::system::error_code ec;
    if (c->cancelled) fail(*c, net::error::operation_aborted, "request to", url);
    set_deadline(*c, deadline);
    std::array<char, 64 * 1024> buf;
    const std::size_t before = st->body.size();
    while (st->body.size() == before &&
           st->reader.status() == detail::response_reader::state::need_more) {
      std::size_t n = 0;
      if (c->tls) {
        n = co_await read_some(*c->tls, buf, ec);
      } else {
        n = co_await read_some(*c->plain, buf, ec);
      }
      if (n > 0) st->reader.feed(std::string_view(buf.data(), n), st->body);
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
        st->reader.finish(st->body);
        break;
      }
      if (ec) fail(*c, ec, "reading the response from", url);
    }
    if (st->reader.status() == detail::response_reader::state::failed) {
      throw client_error(client_error::kind::protocol,
                         "bad response from " + url + ": " + st->reader.error_message());
    }
  }

  std::string serialize(const client_request& r, const url_parts& u) const {
    std::string w;
    w.reserve(256 + r.body.size());
    w.append(r.method).append(" ").append(u.target).append(" HTTP/1.1\r\nHost: ");
    const bool v6 = u.host.find(':') != std::string::npos;
    if (v6) w.append("[");
    w.append(u.host);
    if (v6) w.append("]");
    if (!(u.https && u.port == "443") && !(!u.https && u.port == "80"))
      w.append(":").append(u.port);
    w.append("\r\n");
    bool has_ua = false, has_ae = false;
    for (const header_field& h : r.headers) {
      for (const char ch : h.name + h.value) {
        if (ch == '\r' || ch == '\n') {
          throw client_error(
              client_error::kind::bad_url,
              "header \"" + h.name + "\" contains a line break; expected a single-line value");
        }
      }
      if (beast::iequals(h.name, "Host") || beast::iequals(h.name, "Content-Length")) continue;
      has_ua |= beast::iequals(h.name, "User-Agent");
      has_ae |= beast::iequals(h.name, "Accept-Encoding");
      w.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!has_ua && !opts.user_agent.empty())
      w.append("User-Agent: ").append(opts.user_agent).append("\r\n");
    if (!has_ae && opts.accept_gzip) w.append("Accept-Encoding: gzip\r\n");
    if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
      w.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    }
    w.append("\r\n");
    w.append(r.body);
    return w;
  }

  static bool gzip_encoded(const detail::response_reader& reader, bool asked) {
    if (!asked) return false;
    for (const header_field& h : reader.headers()) {
      if (beast::iequals(h.name, "Content-Encoding") && beast::iequals(h.value, "gzip"))
        return true;
    }
    return false;
  }

  client_response perform(const client_request& req,
                          const std::function<void(std::string_view)>* on_data,
                          const std::stop_token& stop) {
    const url_parts u = parse_url(req.url);
    const std::string key = pool_key(u);
    const std::string wire = serialize(req, u);
    const auto timeout = req.timeout.count() > 0 ? req.timeout : opts.timeout;
    std::optional<steady::time_point> deadline;
    if (timeout.count() > 0) deadline = steady::now() + timeout;
    const bool head = req.method == "HEAD";
    bool asked_gzip = opts.accept_gzip;
    for (const header_field& h : req.headers)
      asked_gzip &= !beast::iequals(h.name, "Accept-Encoding");

    for (int attempt = 0;; ++attempt) {
      if (stop.stop_requested())
        throw client_error(client_error::kind::cancelled, "request to " + req.url + " cancelled");
      conn_ptr c = attempt == 0 ? take_idle(key) : nullptr;
      const bool reused = c != nullptr;
      if (!c) c = connect(u, req.url, stop);
      detail::response_limits limits;
      limits.max_header_bytes = opts.max_response_header_bytes;
      limits.max_body_bytes = on_data ? 0 : opts.max_body_bytes;
      auto st = std::make_shared<exchange_state>(wire, limits, head);
      try {
        run(c, exchange_op(c, st, req.url, deadline, true, on_data == nullptr), stop);
      } catch (const client_error& e) {
        // A kept-alive connection the server closed meanwhile: once more on a new one.
        if (reused && !st->got_bytes && (e.what_kind() == client_error::kind::io)) continue;
        throw;
      }
      client_response resp;
      resp.status = st->reader.status_code();
      resp.headers = st->reader.headers();
      const bool gz = gzip_encoded(st->reader, asked_gzip);
      const bool is_2xx = resp.status >= 200 && resp.status < 300;
      if (on_data && is_2xx) {
        return stream_body(c, st, *on_data, gz, req.url, deadline, stop, std::move(resp));
      }
      if (on_data) {
        // Not 2xx: the error body is read whole, bounded as send()'s (the reader has no limit).
        while (st->reader.status() == detail::response_reader::state::need_more) {
          run(c, body_op(c, st, req.url, deadline), stop);
          if (st->body.size() > opts.max_body_bytes) {
            throw client_error(client_error::kind::protocol,
                               "bad response from " + req.url + ": body larger than the limit of " +
                                   std::to_string(opts.max_body_bytes) + " bytes");
          }
        }
      }
      if (gz) {
        gunzip z;
        z.feed(st->body, resp.body, opts.max_body_bytes);
      } else {
        resp.body = std::move(st->body);
      }
      if (st->reader.keep_alive() && st->reader.leftover().empty()) give_back(std::move(c));
      return resp;
    }
  }

  client_response stream_body(const conn_ptr& c, const std::shared_ptr<exchange_state>& st,
                              const std::function<void(std::string_view)>& on_data, bool gz,
                              const std::string& url, std::optional<steady::time_point> deadline,
                              const std::stop_token& stop, client_response resp) {
    std::optional<gunzip> z;
    if (gz) z.emplace();
    std::string inflated;
    const auto deliver = [&] {
      if (st->body.empty()) return;
      if (z) {
        inflated.clear();
        z->feed(st->body, inflated, 0);
        if (!inflated.empty()) on_data(inflated);
      } else {
        on_data(st->body);
      }
      st->body.clear();
    };
    try {
      deliver();
      while (st->reader.status() == detail::response_reader::state::need_more) {
        run(c, body_op(c, st, url, deadline), stop);
        deliver();
      }
    } catch (const client_error& e) {
      if (e.what_kind() == client_error::kind::cancelled) return resp;
      throw;
    }
    if (st->reader.status() == detail::response_reader::state::complete &&
        st->reader.keep_alive() && st->reader.leftover().empty() && !stop.stop_requested()) {
      give_back(c);
    }
    return resp;
  }
};

client::client(client_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
client::~client() = default;

client_response client::send(const client_request& request, std::stop_token stop) {
  return impl_->perform(request, nullptr, stop);
}

client_response client::stream(const client_request& request,
                               const std::function<void(std::string_view)>& on_data,
                               std::stop_token stop) {
  return impl_->perform(request, &on_data, stop);
}

void client::set_tls(const client_tls& tls) {
  auto ctx = make_client_context(tls);
  std::lock_guard lock(impl_->mu);
  impl_->ctx = std::move(ctx);
  impl_->opts.tls = tls;
  impl_->idle.clear();
}

std::size_t client::idle_connections() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& [key, q] : impl_->idle) n += q.size();
  return n;
}

std::size_t client::connections_opened() const {
  std::lock_guard lock(impl_->mu);
  return impl_->opened;
}

}  // namespace operant::http
