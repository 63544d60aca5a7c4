// The server with a web-config.yml: TLS with and without client certificates, basic auth.
#include <crypt.h>
#include <gtest/gtest.h>

#include "operant/http/server.h"
#include "operant/http/web_config.h"
#include "operant/metrics/registry.h"
#include "test_client.h"
#include "tls_files.h"

namespace operant::http {
namespace {

namespace m = operant::metrics;

std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) == nullptr) throw std::runtime_error("gensalt");
  crypt_data data{};
  const char* h = crypt_rn(password.c_str(), salt, &data, sizeof data);
  if (h == nullptr || h[0] == '*') throw std::runtime_error("crypt");
  return h;
}

std::string basic(const std::string& user, const std::string& password) {
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += b64[(v >> 18) & 63];
    out += b64[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? b64[v & 63] : '=';
  }
  return "Basic " + out;
}

class ServerAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { files = new test::tls_files(); }
  static void TearDownTestSuite() {
    delete files;
    files = nullptr;
  }
  std::unique_ptr<server> serve(const std::string& web_config_yaml) {
    files->write("web.yml", web_config_yaml);
    server_options o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.web_config_file = files->dir / "web.yml";
    o.metrics.registries = {&reg};
    auto s = std::make_unique<server>(o);
    s->start();
    return s;
  }
  std::string ca() const { return (*files / "ca.crt").string(); }
  static test::tls_files* files;
  m::registry reg;
};
test::tls_files* ServerAuth::files = nullptr;

TEST_F(ServerAuth, TlsWithoutClientCertificates) {
  auto srv = serve("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  EXPECT_TRUE(srv->url().starts_with("https://127.0.0.1:"));
  const auto r = test::tls_get(srv->port(), "/metrics", ca());
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("promhttp_metric_handler_requests_total"), std::string::npos);
  // Plain HTTP on the TLS port gets no HTTP answer and the server keeps serving.
  EXPECT_EQ(test::raw(srv->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 200"),
            std::string::npos);
  EXPECT_EQ(test::tls_get(srv->port(), "/healthz", ca()).status, 200u);
}

TEST_F(ServerAuth, TlsRequiringVerifiedClientCertificates) {
  auto srv = serve(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
  const std::string cert = (*files / "client.crt").string(), key = (*files / "client.key").string();
  EXPECT_EQ(test::tls_get(srv->port(), "/metrics", ca(), cert, key).status, 200u);
  EXPECT_ANY_THROW(test::tls_get(srv->port(), "/metrics", ca()));  // no certificate
  const std::string rogue = (*files / "rogue.crt").string(), rogue_key = (*files / "rogue.key").string();
  EXPECT_ANY_THROW(test::tls_get(srv->port(), "/metrics", ca(), rogue, rogue_key));  // other CA
  EXPECT_EQ(test::tls_get(srv->port(), "/healthz", ca(), cert, key).status, 200u);
}

TEST_F(ServerAuth, BasicAuthAcceptedAndRefused) {
  auto srv = serve("basic_auth_users:\n  alice: " + bcrypt("s3cret") + "\n");
  const auto ok = test::get(srv->port(), "/metrics", {{"Authorization", basic("alice", "s3cret")}});
  EXPECT_EQ(ok.status, 200u);
  for (const auto& header : {basic("alice", "wrong"), basic("bob", "s3cret"), std::string("Basic !!!"),
                             std::string("Bearer abc"), std::string()}) {
    const auto r = header.empty() ? test::get(srv->port(), "/metrics")
                                  : test::get(srv->port(), "/metrics", {{"Authorization", header}});
    EXPECT_EQ(r.status, 401u) << header;
    EXPECT_EQ(r.header("www-authenticate"), "Basic") << header;
  }
}

TEST_F(ServerAuth, TlsAndBasicAuthTogetherAndExtraHeaders) {
  auto srv = serve("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                   "basic_auth_users:\n  prom: " + bcrypt("pw") + "\n"
                   "http_server_config:\n  headers:\n    X-Frame-Options: deny\n");
  const auto ok = test::tls_get(srv->port(), "/metrics", ca(), {}, {}, {{"Authorization", basic("prom", "pw")}});
  EXPECT_EQ(ok.status, 200u);
  EXPECT_EQ(ok.header("x-frame-options"), "deny");
  EXPECT_EQ(test::tls_get(srv->port(), "/metrics", ca()).status, 401u);
}

TEST_F(ServerAuth, BadWebConfigFailsConstructionNamingTheField) {
  files->write("bad.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                          "  client_auth_type: Sometimes\n");
  server_options o;
  o.listen = "127.0.0.1:0";
  o.web_config_file = files->dir / "bad.yml";
  o.metrics.registries = {&reg};
  try {
    server s(o);
    FAIL() << "accepted a bad client_auth_type";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("client_auth_type"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Sometimes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.yml"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace operant::http
