// The HTTP client against operant's own server (plain and TLS) and against scripted raw-socket
// servers that misbehave in the ways real ones do: split chunks, bodies ended by the close,
// keep-alive connections closed under the client, silence, garbage.
#include "operant/http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "operant/http/server.h"
#include "operant/metrics.h"
#include "tls_files.h"

namespace operant::http {
namespace {

namespace m = operant::metrics;
using namespace std::chrono_literals;

// A loopback server that runs `script(fd)` for each accepted connection, on its own thread.
class raw_server {
 public:
  explicit raw_server(std::function<void(int fd, int index)> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      throw std::runtime_error("raw_server: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (int i = 0;; ++i) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        {
          std::lock_guard lock(mu_);
          if (stopping_) {
            ::close(c);
            return;
          }
          conns_.push_back(c);
        }
        workers_.emplace_back([this, c, i] { script_(c, i); });
      }
    });
  }
  ~raw_server() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    }
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& w : workers_) w.join();
    for (int c : conns_) ::close(c);
  }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(conns_.size());
  }

  // Reads one request head (up to the blank line); "" when the peer closed first.
  static std::string read_head(int fd) {
    std::string in;
    char ch;
    while (in.find("\r\n\r\n") == std::string::npos) {
      if (::recv(fd, &ch, 1, 0) != 1) return {};
      in.push_back(ch);
    }
    return in;
  }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

 private:
  std::function<void(int, int)> script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
  mutable std::mutex mu_;
  std::vector<int> conns_;
  bool stopping_ = false;
};

server_options loopback(m::registry& reg) {
  server_options o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  o.metrics.registries = {&reg};
  return o;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ParseUrl, SplitsAndValidates) {
  auto u = parse_url("https://127.0.0.1:6443/api/v1/pods?limit=5");
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "6443");
  EXPECT_EQ(u.target, "/api/v1/pods?limit=5");
  u = parse_url("http://[::1]/");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, "80");
  u = parse_url("https://kubernetes.default.svc");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(parse_url("http://h:1?x=1").target, "/?x=1");
  for (const char* bad : {"ftp://x/", "127.0.0.1:80/", "http://", "http://:80/", "http://h:0/",
                          "http://h:70000/", "http://h:x/", "http://a b/", "http://h/#frag",
                          "http://user@h/", "http://[::1/", "http://h:/"}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const client_error& e) {
      EXPECT_EQ(e.what_kind(), client_error::kind::bad_url);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Client, GetsFromTheServerAndReusesTheConnection) {
  m::registry reg;
  server srv(loopback(reg));
  srv.handle("/echo", [](const request& r) {
    response resp = response::text(200, r.method + " " + r.target + " " + r.body +
                                            " ua=" + std::string(r.header("User-Agent")));
    resp.headers.push_back({"X-Seen", std::string(r.header("X-Test"))});
    return resp;
  });
  srv.start();
  client c({.user_agent = "operant-test/1"});
  for (int i = 0; i < 3; ++i) {
    const auto r = c.send({.method = "POST",
                           .url = srv.url() + "/echo?i=" + std::to_string(i),
                           .headers = {{"X-Test", "yes"}},
                           .body = "payload"});
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "POST /echo?i=" + std::to_string(i) + " payload ua=operant-test/1");
    EXPECT_EQ(r.header("x-seen"), "yes");
  }
  EXPECT_EQ(c.connections_opened(), 1u);
  EXPECT_EQ(c.idle_connections(), 1u);
  const auto missing = c.send({.url = srv.url() + "/nope"});
  EXPECT_EQ(missing.status, 404u);
}

TEST(Client, DecompressesGzipAndLeavesItWhenTheCallerAsks) {
  m::registry reg;
  m::with(reg).new_counter({.name = "c_total", .help = "A counter."}).add(7);
  server srv(loopback(reg));
  srv.start();
  client c;
  const auto r = c.send({.url = srv.url() + "/metrics"});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("Content-Encoding"), "gzip");
  EXPECT_NE(r.body.find("c_total 7\n"), std::string::npos) << r.body;
  client plain({.accept_gzip = false});
  const auto p = plain.send({.url = srv.url() + "/metrics"});
  EXPECT_EQ(p.header("Content-Encoding"), "");
  // The same exposition (but for the handler's own request count, which each scrape bumps).
  const auto without_counts = [](const std::string& body) {
    return body.substr(0, body.find("promhttp_metric_handler_requests_total{"));
  };
  EXPECT_EQ(without_counts(p.body), without_counts(r.body));
  // An explicit Accept-Encoding is the caller's business: the body comes back as sent.
  const auto raw =
      c.send({.url = srv.url() + "/metrics", .headers = {{"Accept-Encoding", "gzip"}}});
  EXPECT_EQ(raw.header("Content-Encoding"), "gzip");
  EXPECT_NE(raw.body, r.body);
  EXPECT_EQ(raw.body.substr(0, 2), std::string("\x1f\x8b", 2));
}

class ClientTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { files = new test::tls_files(); }
  static void TearDownTestSuite() {
    delete files;
    files = nullptr;
  }
  std::unique_ptr<server> serve(const std::string& web_config_yaml) {
    files->write("web.yml", web_config_yaml);
    server_options o = loopback(reg);
    o.web_config_file = files->dir / "web.yml";
    auto s = std::make_unique<server>(o);
    s->start();
    return s;
  }
  std::string url(const server& s) const {
    return "https://127.0.0.1:" + std::to_string(s.port()) + "/healthz";
  }
  static test::tls_files* files;
  m::registry reg;
};
test::tls_files* ClientTls::files = nullptr;

TEST_F(ClientTls, VerifiesTheServerAgainstTheGivenCa) {
  auto srv = serve("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  client good({.tls = {.ca_pem = slurp(*files / "ca.crt")}});
  EXPECT_EQ(good.send({.url = url(*srv)}).status, 200u);
  // "localhost" is in the certificate too; SNI and verification use it.
  EXPECT_EQ(
      good.send({.url = "https://localhost:" + std::to_string(srv->port()) + "/healthz"}).status,
      200u);

  client wrong_ca({.tls = {.ca_pem = slurp(*files / "other-ca.crt")}});
  try {
    wrong_ca.send({.url = url(*srv)});
    ADD_FAILURE() << "a server signed by another CA was trusted";
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::tls);
    EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
  }
  client wrong_name(
      {.tls = {.ca_pem = slurp(*files / "ca.crt"), .server_name = "kubernetes.default"}});
  try {
    wrong_name.send({.url = url(*srv)});
    ADD_FAILURE() << "a certificate without the name was accepted";
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::tls);
    EXPECT_NE(std::string(e.what()).find("kubernetes.default"), std::string::npos) << e.what();
  }
  client insecure({.tls = {.insecure_skip_verify = true}});
  EXPECT_EQ(insecure.send({.url = url(*srv)}).status, 200u);
}

TEST_F(ClientTls, PresentsAClientCertificate) {
  auto srv = serve(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
  const std::string ca = slurp(*files / "ca.crt");
  client with({.tls = {.ca_pem = ca,
                       .cert_pem = slurp(*files / "client.crt"),
                       .key_pem = slurp(*files / "client.key")}});
  EXPECT_EQ(with.send({.url = url(*srv)}).status, 200u);
  client without({.tls = {.ca_pem = ca}});
  EXPECT_THROW(without.send({.url = url(*srv)}), client_error);
  // Rotation: the new certificate is used by the connections made after set_tls().
  without.set_tls({.ca_pem = ca,
                   .cert_pem = slurp(*files / "client.crt"),
                   .key_pem = slurp(*files / "client.key")});
  EXPECT_EQ(without.send({.url = url(*srv)}).status, 200u);
}

TEST_F(ClientTls, RejectsBadTlsMaterialNamingIt) {
  try {
    client c({.tls = {.ca_pem = "not a certificate"}});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_NE(std::string(e.what()).find("ca_pem"), std::string::npos) << e.what();
  }
  try {
    client c({.tls = {.cert_pem = slurp(*files / "client.crt"),
                      .key_pem = slurp(*files / "server.key")}});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
  try {
    client c({.tls = {.cert_pem = slurp(*files / "client.crt")}});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_NE(std::string(e.what()).find("key_pem"), std::string::npos) << e.what();
  }
}

TEST(Client, StreamsChunksAsTheyArriveEvenSplitByteByByte) {
  const std::string lines = "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n";
  raw_server srv([&](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
    // One chunk per line, each sent a byte at a time, then the last chunk in pieces too (the
    // case Beast 1.81 asserts on when fed naively).
    std::string wire;
    for (std::size_t start = 0; start < lines.size();) {
      const std::size_t end = lines.find('\n', start) + 1;
      std::ostringstream chunk;
      chunk << std::hex << (end - start) << "\r\n" << lines.substr(start, end - start) << "\r\n";
      wire += chunk.str();
      start = end;
    }
    wire += "0\r\n\r\n";
    for (char ch : wire) {
      raw_server::send_all(fd, std::string_view(&ch, 1));
      std::this_thread::sleep_for(100us);
    }
    raw_server::read_head(fd);  // keep the connection open until the client is done
  });
  client c;
  std::string got;
  int pieces = 0;
  const auto r = c.stream({.url = srv.url("/watch")}, [&](std::string_view p) {
    EXPECT_FALSE(p.empty());
    got.append(p);
    ++pieces;
  });
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(got, lines);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(c.idle_connections(), 1u);  // the stream ended cleanly: kept alive
}

TEST(Client, DeliversAStreamsLastPieceWithoutWaitingForMore) {
  // A watch event's tail arrives and then the server goes quiet: the client must hand it over
  // now, not when the next event comes.
  std::atomic<bool> release{false};
  raw_server srv([&](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabc");
    std::this_thread::sleep_for(20ms);
    raw_server::send_all(fd, "de\n\r\n");  // fewer than 5 bytes of data tail + CRLF
    while (!release.load()) std::this_thread::sleep_for(1ms);
    raw_server::send_all(fd, "0\r\n\r\n");
  });
  client c;
  std::string got;
  c.stream({.url = srv.url()}, [&](std::string_view p) {
    got.append(p);
    if (got == "abcde\n") release = true;  // only reached if the tail was delivered
  });
  EXPECT_EQ(got, "abcde\n");
}

TEST(Client, StopEndsAStreamThatNeverEnds) {
  raw_server srv([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhi\n\r\n");
    char ch;
    while (::recv(fd, &ch, 1, 0) == 1) {}
  });
  client c;
  std::stop_source stop;
  std::string got;
  const auto r = c.stream(
      {.url = srv.url()},
      [&](std::string_view p) {
        got.append(p);
        stop.request_stop();  // from the callback; another thread works the same way
      },
      stop.get_token());
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(got, "hi\n");
  EXPECT_EQ(c.idle_connections(), 0u);  // an abandoned stream is not reused

  std::stop_source stop2;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop2.request_stop();
  });
  std::string got2;
  c.stream(
      {.url = srv.url()}, [&](std::string_view p) { got2.append(p); }, stop2.get_token());
  stopper.join();
  EXPECT_EQ(got2, "hi\n");
}

TEST(Client, StreamOfAnErrorReturnsTheBody) {
  raw_server srv([](int fd, int) {
    raw_server::read_head(fd);
    const std::string body = R"({"kind":"Status","code":410,"reason":"Expired"})";
    raw_server::send_all(fd,
                         "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
    raw_server::read_head(fd);
  });
  client c;
  bool called = false;
  const auto r = c.stream({.url = srv.url()}, [&](std::string_view) { called = true; });
  EXPECT_EQ(r.status, 410u);
  EXPECT_FALSE(called);
  EXPECT_NE(r.body.find("Expired"), std::string::npos);
}

TEST(Client, ReadsABodyEndedByTheCloseAndSkipsInterimResponses) {
  raw_server srv([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(
        fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
    ::shutdown(fd, SHUT_WR);
  });
  client c;
  const auto r = c.send({.url = srv.url()});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "all of it");
  EXPECT_EQ(c.idle_connections(), 0u);
}

TEST(Client, RetriesOnceWhenAKeptAliveConnectionWasClosed) {
  raw_server srv([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ::shutdown(fd, SHUT_RDWR);  // says keep-alive, then closes: what idle timeouts do
  });
  client c;
  EXPECT_EQ(c.send({.url = srv.url()}).body, "ok");
  for (int i = 0; i < 50 && c.idle_connections() == 1 && srv.accepted() < 1; ++i)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(c.send({.url = srv.url()}).body, "ok");
  EXPECT_EQ(c.connections_opened(), 2u);
}

TEST(Client, FailuresAreTypedAndNameTheUrl) {
  // Nothing listens on the port of a server that is gone.
  std::string refused;
  {
    raw_server gone([](int, int) {});
    refused = gone.url();
  }
  client c({.connect_timeout = 2s});
  try {
    c.send({.url = refused});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::connect);
    EXPECT_NE(std::string(e.what()).find(refused), std::string::npos) << e.what();
  }

  raw_server silent([](int fd, int) {
    raw_server::read_head(fd);
    char ch;
    while (::recv(fd, &ch, 1, 0) == 1) {}
  });
  try {
    c.send({.url = silent.url(), .timeout = 50ms});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::timeout) << e.what();
  }

  raw_server garbage([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd, "SMTP ready\r\n\r\n");
    raw_server::read_head(fd);
  });
  try {
    c.send({.url = garbage.url()});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::protocol) << e.what();
  }

  raw_server hangup([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    ::shutdown(fd, SHUT_RDWR);
  });
  try {
    c.send({.url = hangup.url()});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::io) << e.what();
    EXPECT_NE(std::string(e.what()).find("middle of the response body"), std::string::npos)
        << e.what();
  }

  raw_server huge([](int fd, int) {
    raw_server::read_head(fd);
    raw_server::send_all(
        fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'x'));
    raw_server::read_head(fd);
  });
  client small({.max_body_bytes = 1000});
  try {
    small.send({.url = huge.url()});
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::protocol) << e.what();
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }

  std::stop_source stopped;
  stopped.request_stop();
  try {
    c.send({.url = silent.url()}, stopped.get_token());
    ADD_FAILURE();
  } catch (const client_error& e) {
    EXPECT_EQ(e.what_kind(), client_error::kind::cancelled) << e.what();
  }
  EXPECT_THROW(c.send({.url = silent.url(), .headers = {{"X", "a\r\nInjected: 1"}}}), client_error);
}

TEST(Client, ManyThreadsShareOneClient) {
  m::registry reg;
  server srv(loopback(reg));
  srv.handle("/n", [](const request& r) { return response::text(200, std::string(r.query())); });
  srv.start();
  client c;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string q = std::to_string(t) + "-" + std::to_string(i);
        if (c.send({.url = srv.url() + "/n?" + q}).body == q) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_LE(c.connections_opened(), 4u);
}

}  // namespace
}  // namespace operant::http
