// The embedded server over real loopback sockets: routes, negotiation, gzip, limits, errors,
// self-metrics, slow clients.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <poll.h>
#include <sys/socket.h>

#include "operant/http/server.h"
#include "operant/metrics.h"
#include "operant/metrics/testutil.h"
#include "test_client.h"

namespace operant::http {
namespace {

namespace m = operant::metrics;
using namespace std::chrono_literals;

constexpr std::string_view text_type = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view om_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
// What Prometheus 2.42 sends.
constexpr const char* prometheus_accept =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

server_options loopback(m::registry& reg) {
  server_options o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  o.metrics.registries = {&reg};
  return o;
}

struct served {
  m::registry reg;
  m::counter& requests = m::with(reg).new_counter({.name = "app_requests_total", .help = "Requests."});
};

TEST(Server, ServesTextByDefaultWithExactContentType) {
  served s;
  s.requests.add(3);
  server srv(loopback(s.reg));
  srv.start();
  const auto r = test::get(srv.port(), "/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), text_type);
  EXPECT_NE(r.body.find("app_requests_total 3\n"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("content-encoding"), "");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
}

TEST(Server, NegotiatesOpenMetricsForPrometheusAccept) {
  served s;
  s.requests.inc();
  server srv(loopback(s.reg));
  srv.start();
  const auto r = test::get(srv.port(), "/metrics", {{"Accept", prometheus_accept}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("content-type"), om_type);
  EXPECT_NE(r.body.find("app_requests_total 1.0\n"), std::string::npos) << r.body;
  EXPECT_TRUE(r.body.ends_with("# EOF\n"));
}

TEST(Server, OpenMetricsCanBeTurnedOff) {
  served s;
  auto o = loopback(s.reg);
  o.metrics.enable_openmetrics = false;
  server srv(o);
  srv.start();
  const auto r = test::get(srv.port(), "/metrics", {{"Accept", prometheus_accept}});
  EXPECT_EQ(r.header("content-type"), text_type);
}

TEST(Server, GzipBodyDecompressesToTheUncompressedBody) {
  served s;
  auto& fam = m::with(s.reg).new_counter_family(
      {.name = "many_total", .help = "Many series.", .label_names = {"i"}});
  for (int i = 0; i < 5000; ++i) fam.labels(std::to_string(i)).add(i);  // a multi-chunk body
  server srv(loopback(s.reg));
  srv.start();
  const auto plain = test::get(srv.port(), "/metrics");
  const auto gz = test::get(srv.port(), "/metrics", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("vary"), "Accept, Accept-Encoding");
  ASSERT_GT(plain.body.size(), 64u * 1024);
  EXPECT_LT(gz.body.size(), plain.body.size() / 4);
  // The self-metrics line differs between the two scrapes (one more 200); compare the rest.
  const auto strip = [](std::string b) {
    const auto a = b.find("promhttp_metric_handler_requests_total{code=\"200\"}");
    const auto e = b.find('\n', a);
    return b.erase(a, e - a);
  };
  EXPECT_EQ(strip(test::gunzip(gz.body)), strip(plain.body));
  const auto refused = test::get(srv.port(), "/metrics", {{"Accept-Encoding", "gzip;q=0, identity"}});
  EXPECT_EQ(refused.header("content-encoding"), "");
}

TEST(Server, LandingPageHealthAndNotFound) {
  served s;
  server srv(loopback(s.reg));
  srv.start();
  const auto landing = test::get(srv.port(), "/");
  EXPECT_EQ(landing.status, 200u);
  EXPECT_EQ(landing.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(landing.body.find("<a href=\"/metrics\">"), std::string::npos);
  const auto health = test::get(srv.port(), "/healthz");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(test::get(srv.port(), "/nothing-here").status, 404u);
  test::connection c(srv.port());
  const auto post = c.request("POST", "/metrics", {}, "x");
  EXPECT_EQ(post.status, 405u);
  EXPECT_EQ(post.header("allow"), "GET, HEAD");
}

TEST(Server, UserRoutesExactAndPrefix) {
  served s;
  server srv(loopback(s.reg));
  srv.handle("/my-api-endpoint", [&](const request& r) {
    s.requests.inc();
    return response::text(200, "hello " + std::string(r.query()) + "\n");
  });
  srv.handle("/api/", [](const request& r) { return response::json(200, "{\"path\":\"" + std::string(r.path()) + "\"}"); });
  srv.start();
  EXPECT_EQ(test::get(srv.port(), "/my-api-endpoint?x=1").body, "hello x=1\n");
  EXPECT_EQ(test::get(srv.port(), "/my-api-endpoint/more").status, 404u);
  const auto api = test::get(srv.port(), "/api/v1/things");
  EXPECT_EQ(api.body, "{\"path\":\"/api/v1/things\"}");
  EXPECT_EQ(api.header("content-type"), "application/json");
  EXPECT_EQ(m::testutil::sample_value(s.reg, "app_requests_total"), 1.0);
}

TEST(Server, RequestCarriesMethodHeadersBodyAndRemote) {
  served s;
  server srv(loopback(s.reg));
  std::promise<request> seen;
  srv.handle("/echo", [&](const request& r) {
    seen.set_value(r);
    return response::text(201, r.body);
  });
  srv.start();
  test::connection c(srv.port());
  const auto r = c.request("POST", "/echo", {{"X-Thing", "v"}}, "payload");
  EXPECT_EQ(r.status, 201u);
  EXPECT_EQ(r.body, "payload");
  const request got = seen.get_future().get();
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.header("x-thing"), "v");
  EXPECT_TRUE(got.remote.starts_with("127.0.0.1:")) << got.remote;
}

TEST(Server, ThrowingHandlerGets500AndServerKeepsServing) {
  served s;
  server srv(loopback(s.reg));
  srv.handle("/boom", [](const request&) -> response { throw std::runtime_error("bad"); });
  srv.start();
  EXPECT_EQ(test::get(srv.port(), "/boom").status, 500u);
  EXPECT_EQ(test::get(srv.port(), "/healthz").status, 200u);
}

TEST(Server, KeepAliveServesSeveralRequestsOnOneConnection) {
  served s;
  server srv(loopback(s.reg));
  srv.start();
  test::connection c(srv.port());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.request("GET", "/healthz").status, 200u);
  const auto head = c.request("HEAD", "/metrics");
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.body, "");
  EXPECT_NE(head.header("content-length"), "0");
  EXPECT_EQ(c.request("GET", "/healthz").body, "ok\n");
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  served s;
  server srv(loopback(s.reg));
  srv.start();
  const std::string out = test::raw(
      srv.port(),
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto first = out.find("HTTP/1.1 200 OK");
  const auto second = out.find("HTTP/1.1 404 Not Found");
  const auto third = out.find("HTTP/1.1 200 OK", second);
  EXPECT_NE(first, std::string::npos);
  EXPECT_LT(first, second);
  EXPECT_NE(third, std::string::npos);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
}

TEST(Server, MalformedRequestsGet4xxAndServerKeepsServing) {
  served s;
  auto o = loopback(s.reg);
  o.max_header_bytes = 1024;
  o.max_body_bytes = 100;
  server srv(o);
  srv.handle("/upload", [](const request& r) { return response::text(200, std::to_string(r.body.size())); });
  srv.start();
  const auto status_of = [](const std::string& out) { return out.substr(0, out.find("\r\n")); };
  EXPECT_EQ(status_of(test::raw(srv.port(), "BLAH\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of(test::raw(srv.port(), "GET / HTTP/1.1\r\nbad header line\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(status_of(test::raw(srv.port(), "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n")),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_of(test::raw(srv.port(), "POST /upload HTTP/1.1\r\nContent-Length: 101\r\n\r\n")),
            "HTTP/1.1 413 Content Too Large");
  EXPECT_EQ(status_of(test::raw(srv.port(), "GET / HTTP/2.0\r\n\r\n")),
            "HTTP/1.1 505 HTTP Version Not Supported");
  EXPECT_EQ(status_of(test::raw(srv.port(), "POST /upload HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")),
            "HTTP/1.1 501 Not Implemented");
  const std::string chunked = test::raw(
      srv.port(), "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(chunked), "HTTP/1.1 200 OK");
  EXPECT_TRUE(chunked.ends_with("\r\n\r\n5"));
  EXPECT_EQ(test::get(srv.port(), "/healthz").status, 200u);
}

// A gauge whose callback blocks until released: a scrape that stays in flight.
struct blocking_gauge {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  void attach(m::registry& reg) {
    m::with(reg).new_gauge_func({.name = "slow_value", .help = "Blocks."}, [this] {
      ++entered;
      std::unique_lock lock(mu);
      cv.wait(lock, [this] { return release; });
      return 1.0;
    });
  }
  void wait_entered(int n) {
    while (entered.load() < n) std::this_thread::sleep_for(1ms);
  }
  void open() {
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
  }
};

TEST(Server, OverInFlightLimitAnswers503) {
  served s;
  blocking_gauge g;
  g.attach(s.reg);
  auto o = loopback(s.reg);
  o.metrics.max_requests_in_flight = 1;
  server srv(o);
  srv.start();
  auto first = std::async(std::launch::async, [&] { return test::get(srv.port(), "/metrics"); });
  g.wait_entered(1);
  EXPECT_EQ(srv.metrics().in_flight(), 1u);
  const auto second = test::get(srv.port(), "/metrics");
  EXPECT_EQ(second.status, 503u);
  EXPECT_EQ(second.body, "Limit of concurrent requests reached (1), try again later.\n");
  g.open();
  EXPECT_EQ(first.get().status, 200u);
  const auto r = test::get(srv.port(), "/metrics");
  EXPECT_NE(r.body.find("promhttp_metric_handler_requests_total{code=\"503\"} 1\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("promhttp_metric_handler_requests_total{code=\"200\"} 1\n"), std::string::npos);
}

TEST(Server, ScrapeOverTimeoutAnswers503AndHealthStaysUp) {
  served s;
  blocking_gauge g;
  g.attach(s.reg);
  auto o = loopback(s.reg);
  o.metrics.timeout = 100ms;
  std::vector<std::string> logged;
  std::mutex log_mu;
  o.metrics.error_log = [&](std::string_view l) {
    std::lock_guard lock(log_mu);
    logged.emplace_back(l);
  };
  server srv(o);
  srv.start();
  const auto r = test::get(srv.port(), "/metrics");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body, "Exceeded configured timeout of 100ms.\n");
  EXPECT_EQ(test::get(srv.port(), "/healthz").status, 200u);
  EXPECT_EQ(srv.metrics().in_flight(), 1u);  // the gather still holds its slot
  g.open();
  while (srv.metrics().in_flight() != 0) std::this_thread::sleep_for(1ms);
  const auto after = test::get(srv.port(), "/metrics");
  EXPECT_EQ(after.status, 200u);
  EXPECT_NE(after.body.find("promhttp_metric_handler_requests_total{code=\"503\"} 1\n"), std::string::npos);
}

TEST(Server, SelfMetricsExistFromTheStart) {
  served s;
  server srv(loopback(s.reg));
  srv.start();
  const auto r = test::get(srv.port(), "/metrics");
  for (const char* line : {"promhttp_metric_handler_requests_total{code=\"200\"} 0\n",
                           "promhttp_metric_handler_requests_total{code=\"500\"} 0\n",
                           "promhttp_metric_handler_requests_total{code=\"503\"} 0\n",
                           "promhttp_metric_handler_requests_in_flight 1\n",
                           "promhttp_metric_handler_errors_total{cause=\"gathering\"} 0\n"}) {
    EXPECT_NE(r.body.find(line), std::string::npos) << line << r.body;
  }
  EXPECT_NE(test::get(srv.port(), "/metrics").body.find(
                "promhttp_metric_handler_requests_total{code=\"200\"} 1\n"),
            std::string::npos);
}

TEST(Server, GatherErrorIs500ByDefault) {
  served s;
  m::with(s.reg).new_gauge_func({.name = "broken", .help = "Throws."},
                                []() -> double { throw std::runtime_error("sensor offline"); });
  auto o = loopback(s.reg);
  std::string logged;
  o.metrics.error_log = [&](std::string_view l) { logged = l; };
  server srv(o);
  srv.start();
  const auto r = test::get(srv.port(), "/metrics");
  EXPECT_EQ(r.status, 500u);
  EXPECT_NE(r.body.find("sensor offline"), std::string::npos) << r.body;
  EXPECT_NE(logged.find("sensor offline"), std::string::npos);
}

TEST(Server, ContinueOnErrorServesWhatWasGathered) {
  served s;
  s.requests.add(2);
  m::with(s.reg).new_gauge_func({.name = "zz_broken", .help = "Throws."},
                                []() -> double { throw std::runtime_error("sensor offline"); });
  auto o = loopback(s.reg);
  o.metrics.on_error = error_handling::continue_on_error;
  o.metrics.error_log = [](std::string_view) {};
  server srv(o);
  srv.start();
  const auto r = test::get(srv.port(), "/metrics", {{"Accept", prometheus_accept}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("app_requests_total 2.0\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("promhttp_metric_handler_errors_total{cause=\"gathering\"} 0.0\n"), std::string::npos);
  EXPECT_TRUE(r.body.ends_with("# EOF\n"));
  const auto again = test::get(srv.port(), "/metrics");
  EXPECT_NE(again.body.find("promhttp_metric_handler_errors_total{cause=\"gathering\"} 1\n"), std::string::npos);
}

TEST(Server, SlowlorisConnectionsDoNotStopScrapes) {
  served s;
  s.requests.add(7);
  auto o = loopback(s.reg);
  o.max_connections = 64;
  server srv(o);
  srv.start();
  // 200 clients (more than max_connections) each send part of a request line and stall.
  std::vector<std::unique_ptr<test::connection>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<test::connection>(srv.port()));
    slow.back()->send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  for (int i = 0; i < 5; ++i) {
    const auto r = test::get(srv.port(), "/metrics");
    EXPECT_EQ(r.status, 200u);
    EXPECT_NE(r.body.find("app_requests_total 7\n"), std::string::npos);
  }
}

// Whether the server closed this connection within `within` (EOF readable), without blocking
// longer than that.
bool closed_by_server(test::connection& c, std::chrono::milliseconds within) {
  pollfd p{c.socket().native_handle(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return false;
  char byte;
  return ::recv(p.fd, &byte, 1, MSG_PEEK) == 0;
}

TEST(Server, FullTableClosesALongWaitingConnection) {
  served s;
  auto o = loopback(s.reg);
  o.max_connections = 2;
  server srv(o);
  srv.start();
  test::connection first(srv.port());
  EXPECT_EQ(first.request("GET", "/healthz").status, 200u);  // accepted, now idle
  test::connection second(srv.port());
  EXPECT_EQ(second.request("GET", "/healthz").status, 200u);
  // A third evicts one of them. The two sessions must have looped back to wait for their next
  // request (a session still finishing its write counts as busy, and busy ones are never
  // evicted); the client cannot see that moment, so a refused attempt is retried.
  unsigned third = 0;
  for (int attempt = 0; attempt < 50 && third == 0; ++attempt) {
    std::this_thread::sleep_for(20ms);
    try {
      third = test::get(srv.port(), "/healthz").status;
    } catch (const std::exception&) {
    }
  }
  EXPECT_EQ(third, 200u);
  // Which one waited longest depends on when each session looped back to wait, which the
  // client cannot see; exactly one is closed, and the other still serves.
  const bool first_closed = closed_by_server(first, 10s);
  const bool second_closed = closed_by_server(second, first_closed ? 200ms : 10s);
  ASSERT_NE(first_closed, second_closed);
  test::connection& kept = first_closed ? second : first;
  EXPECT_EQ(kept.request("GET", "/healthz").status, 200u);
}

TEST(Server, HeaderTimeoutClosesSilentConnections) {
  served s;
  auto o = loopback(s.reg);
  o.header_timeout = 200ms;
  server srv(o);
  srv.start();
  test::connection silent(srv.port());
  test::connection dribbler(srv.port());
  dribbler.send("GET /metrics HTTP/1.1\r\n");
  // Both are closed by the server without an answer (read_all returns at EOF).
  EXPECT_EQ(silent.read_all(), "");
  EXPECT_EQ(dribbler.read_all(), "");
}

TEST(Server, ExpectContinueIsHonoured) {
  served s;
  server srv(loopback(s.reg));
  srv.handle("/upload", [](const request& r) { return response::text(200, r.body); });
  srv.start();
  test::connection c(srv.port());
  c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  char buf[64];
  const std::size_t n = c.socket().read_some(boost::asio::buffer(buf));
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("data");
  const auto r = c.read();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "data");
}

TEST(Server, StopIsIdempotentAndClosesConnections) {
  served s;
  auto srv = std::make_unique<server>(loopback(s.reg));
  srv->start();
  test::connection idle(srv->port());
  srv->stop();
  srv->stop();
  EXPECT_EQ(idle.read_all(), "");
  srv.reset();
}

TEST(Server, RunReturnsAfterStopFromAnotherThread) {
  served s;
  server srv(loopback(s.reg));
  std::thread t([&] { srv.run(); });
  while (srv.port() == 0) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(test::get(srv.port(), "/healthz").status, 200u);
  srv.stop();
  t.join();
}

TEST(Server, RejectsBadOptionsNamingTheField) {
  const auto message = [](server_options o) {
    try {
      server srv(std::move(o));
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({.listen = "127.0.0.1"}),
            "listen address \"127.0.0.1\" has no port: expected host:port, [ipv6]:port or :port with port 0-65535");
  EXPECT_EQ(message({.listen = "127.0.0.1:70000"}),
            "listen address \"127.0.0.1:70000\" has a port above 65535: expected host:port, [ipv6]:port or :port with port 0-65535");
  server_options zero{.listen = "127.0.0.1:0"};
  zero.max_connections = 0;
  EXPECT_EQ(message(zero), "server_options.max_connections is 0: expected at least 1");
  server_options timeout{.listen = "127.0.0.1:0"};
  timeout.idle_timeout = 0ms;
  EXPECT_EQ(message(timeout), "server_options.idle_timeout 0ms: expected a positive duration");
  server_options gz{.listen = "127.0.0.1:0"};
  gz.metrics.gzip_level = 10;
  EXPECT_EQ(message(gz), "metrics_handler_options.gzip_level 10 is out of range: expected 1 (fastest) to 9 (smallest)");
}

TEST(Server, BindConflictIsASystemError) {
  served s;
  server first(loopback(s.reg));
  server_options o = loopback(s.reg);
  o.listen = "127.0.0.1:" + std::to_string(first.port());
  o.metrics.self_metrics = false;
  EXPECT_THROW(server second(o), std::system_error);
}

TEST(ListenAddress, Parses) {
  EXPECT_EQ(parse_listen_address(":2112").host, "");
  EXPECT_EQ(parse_listen_address(":2112").port, 2112);
  EXPECT_EQ(parse_listen_address("127.0.0.1:0").host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address("[::1]:9090").host, "::1");
  EXPECT_EQ(parse_listen_address("[::1]:9090").port, 9090);
  EXPECT_EQ(parse_listen_address("localhost:80").host, "localhost");
  EXPECT_THROW(parse_listen_address("::1:80"), std::invalid_argument);
  EXPECT_THROW(parse_listen_address("[::1]"), std::invalid_argument);
  EXPECT_THROW(parse_listen_address("host:8x"), std::invalid_argument);
  EXPECT_THROW(parse_listen_address("host:"), std::invalid_argument);
}

TEST(AcceptEncoding, GzipDecisions) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0.000, *"));
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_TRUE(accepts_gzip("gzip;q=1.0"));
  EXPECT_FALSE(accepts_gzip("gzip;q=2"));      // malformed element ignored
  EXPECT_FALSE(accepts_gzip("gzip;q=abc"));
  EXPECT_TRUE(accepts_gzip("br;q=oops, gzip"));
}

}  // namespace
}  // namespace operant::http
