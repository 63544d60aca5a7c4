// The server TLS context: real handshakes on loopback for every client_auth_type, with
// certificates made by the openssl command in a temporary directory.
#include "http/tls.h"
#include "tls_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "operant/http/web_config.h"

namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using operant::http::client_auth;
using operant::http::config_error;
using operant::http::tls_server_config;
using operant::http::tls_version;
using operant::http::detail::make_server_tls_context;
using ::testing::HasSubstr;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

using operant::http::test::tls_files;

struct client_options {
  const char* cert = nullptr;  // file names in tls_files, or none
  const char* key = nullptr;
  int max_version = 0;  // 0: OpenSSL's default
  const char* ciphers = nullptr;
};

struct outcome {
  bool server_ok = false;    // the server's handshake succeeded
  std::string server_error;  // else why
  bool echoed = false;       // the client got its bytes back over the connection
  bool peer_cert = false;    // the server saw a client certificate
  std::string version;       // negotiated, as OpenSSL names it
  std::string cipher;
};

void set_timeout(tcp::socket& s) {
  timeval tv{5, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { files_ = new tls_files(); }
  static void TearDownTestSuite() {
    delete files_;
    files_ = nullptr;
  }

  static tls_server_config base_config() {
    tls_server_config cfg;
    cfg.cert_file = *files_ / "server.crt";
    cfg.key_file = *files_ / "server.key";
    return cfg;
  }

  // One connection to a TLS echo server on 127.0.0.1:0 that uses `server_ctx`.
  static outcome connect(ssl::context& server_ctx, const client_options& opts) {
    outcome out;
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::thread server([&] {
      tcp::socket socket(io);
      boost::system::error_code ec;
      acceptor.accept(socket, ec);
      if (ec) return;
      set_timeout(socket);
      ssl::stream<tcp::socket&> stream(socket, server_ctx);
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) {
        out.server_error = ec.message();
        return;
      }
      out.server_ok = true;
      out.peer_cert = SSL_get0_peer_certificate(stream.native_handle()) != nullptr;
      out.version = SSL_get_version(stream.native_handle());
      out.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(stream.native_handle()));
      char buf[4];
      asio::read(stream, asio::buffer(buf), ec);
      if (!ec) asio::write(stream, asio::buffer(buf), ec);
      stream.shutdown(ec);
    });

    ssl::context client_ctx(ssl::context::tls_client);
    client_ctx.load_verify_file((*files_ / "ca.crt").string());
    client_ctx.set_verify_mode(ssl::verify_peer);
    client_ctx.set_verify_callback(ssl::host_name_verification("localhost"));
    if (opts.cert) {
      client_ctx.use_certificate_chain_file((*files_ / opts.cert).string());
      client_ctx.use_private_key_file((*files_ / opts.key).string(), ssl::context::pem);
    }
    if (opts.max_version)
      SSL_CTX_set_max_proto_version(client_ctx.native_handle(), opts.max_version);
    if (opts.ciphers) SSL_CTX_set_cipher_list(client_ctx.native_handle(), opts.ciphers);
    ssl::stream<tcp::socket> client(io, client_ctx);
    boost::system::error_code ec;
    client.next_layer().connect(acceptor.local_endpoint(), ec);
    if (!ec) {
      set_timeout(client.next_layer());
      client.handshake(ssl::stream_base::client, ec);
    }
    if (!ec) asio::write(client, asio::buffer("ping", 4), ec);
    char reply[4] = {};
    if (!ec) asio::read(client, asio::buffer(reply), ec);
    out.echoed = !ec && std::string(reply, 4) == "ping";
    client.next_layer().close(ec);
    server.join();
    return out;
  }

  static std::string context_error(const tls_server_config& cfg) {
    try {
      make_server_tls_context(cfg);
    } catch (const config_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "made a context without error";
    return {};
  }

  static tls_files* files_;
};
tls_files* Tls::files_ = nullptr;

enum class client_cert { none, trusted, rogue };

struct auth_case {
  client_auth mode;
  client_cert cert;
  bool accepted;
  const char* server_error;  // when refused: OpenSSL's reason
};

std::string name(client_cert c) {
  return c == client_cert::none ? "no cert" : c == client_cert::trusted ? "trusted" : "rogue";
}

TEST_F(Tls, every_client_auth_type_accepts_and_refuses_as_go_does) {
  constexpr const char* k_no_cert = "peer did not return a certificate";
  constexpr const char* k_untrusted = "certificate verify failed";
  const auth_case cases[] = {
      {client_auth::no_client_cert, client_cert::none, true, ""},
      {client_auth::no_client_cert, client_cert::trusted, true, ""},
      {client_auth::no_client_cert, client_cert::rogue, true, ""},
      {client_auth::request_client_cert, client_cert::none, true, ""},
      {client_auth::request_client_cert, client_cert::trusted, true, ""},
      {client_auth::request_client_cert, client_cert::rogue, true, ""},
      {client_auth::require_any_client_cert, client_cert::none, false, k_no_cert},
      {client_auth::require_any_client_cert, client_cert::trusted, true, ""},
      {client_auth::require_any_client_cert, client_cert::rogue, true, ""},
      {client_auth::verify_client_cert_if_given, client_cert::none, true, ""},
      {client_auth::verify_client_cert_if_given, client_cert::trusted, true, ""},
      {client_auth::verify_client_cert_if_given, client_cert::rogue, false, k_untrusted},
      {client_auth::require_and_verify_client_cert, client_cert::none, false, k_no_cert},
      {client_auth::require_and_verify_client_cert, client_cert::trusted, true, ""},
      {client_auth::require_and_verify_client_cert, client_cert::rogue, false, k_untrusted},
  };
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    for (const auth_case& c : cases) {
      tls_server_config cfg = base_config();
      cfg.client_auth_type = c.mode;
      if (c.mode != client_auth::no_client_cert) cfg.client_ca_file = *files_ / "ca.crt";
      ssl::context ctx = make_server_tls_context(cfg);
      client_options opts;
      opts.max_version = version;
      if (c.cert == client_cert::trusted) opts = {"client.crt", "client.key", version, nullptr};
      if (c.cert == client_cert::rogue) opts = {"rogue.crt", "rogue.key", version, nullptr};
      const outcome o = connect(ctx, opts);
      const std::string what = std::string(operant::http::detail::to_string(c.mode)) + ", " +
                               name(c.cert) + ", " +
                               (version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
      EXPECT_EQ(o.server_ok, c.accepted) << what << ": " << o.server_error;
      EXPECT_EQ(o.echoed, c.accepted) << what;
      if (c.accepted) {
        EXPECT_EQ(o.version, version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3") << what;
        // A certificate is sent only when asked for, and then whenever the client has one.
        const bool asked = c.mode != client_auth::no_client_cert;
        EXPECT_EQ(o.peer_cert, asked && c.cert != client_cert::none) << what;
      } else {
        EXPECT_THAT(o.server_error, HasSubstr(c.server_error)) << what;
      }
    }
  }
}

TEST_F(Tls, client_allowed_sans_match_dns_uri_and_ip_names) {
  for (const char* san : {"client.example", "spiffe://operant/test", "10.1.2.3"}) {
    tls_server_config cfg = base_config();
    cfg.client_auth_type = client_auth::require_and_verify_client_cert;
    cfg.client_ca_file = *files_ / "ca.crt";
    cfg.client_allowed_sans = {"other.example", san};
    ssl::context ctx = make_server_tls_context(cfg);
    const outcome o = connect(ctx, {"client.crt", "client.key", 0, nullptr});
    EXPECT_TRUE(o.server_ok) << san << ": " << o.server_error;
    EXPECT_TRUE(o.echoed) << san;
  }
  tls_server_config cfg = base_config();
  cfg.client_auth_type = client_auth::require_any_client_cert;
  cfg.client_allowed_sans = {"other.example"};
  ssl::context ctx = make_server_tls_context(cfg);
  const outcome o = connect(ctx, {"client.crt", "client.key", 0, nullptr});
  EXPECT_FALSE(o.server_ok);
  EXPECT_FALSE(o.echoed);
  EXPECT_THAT(o.server_error, HasSubstr("certificate verify failed"));
}

TEST_F(Tls, versions_bound_the_handshake) {
  tls_server_config cfg = base_config();
  cfg.min_version = tls_version::tls13;
  ssl::context only13 = make_server_tls_context(cfg);
  outcome o = connect(only13, {nullptr, nullptr, TLS1_2_VERSION, nullptr});
  EXPECT_FALSE(o.server_ok);
  EXPECT_FALSE(o.echoed);
  EXPECT_THAT(o.server_error, HasSubstr("unsupported protocol"));
  o = connect(only13, {});
  EXPECT_TRUE(o.echoed);
  EXPECT_EQ(o.version, "TLSv1.3");

  cfg = base_config();
  cfg.max_version = tls_version::tls12;
  ssl::context upto12 = make_server_tls_context(cfg);
  o = connect(upto12, {});
  EXPECT_TRUE(o.echoed);
  EXPECT_EQ(o.version, "TLSv1.2");
}

TEST_F(Tls, cipher_suites_restrict_tls12_by_go_name) {
  tls_server_config cfg = base_config();
  cfg.max_version = tls_version::tls12;
  cfg.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"};
  ssl::context ctx = make_server_tls_context(cfg);
  outcome o = connect(ctx, {});
  EXPECT_TRUE(o.echoed);
  EXPECT_EQ(o.cipher, "ECDHE-RSA-AES256-GCM-SHA384");
  o = connect(ctx, {nullptr, nullptr, 0, "ECDHE-RSA-AES128-GCM-SHA256"});
  EXPECT_FALSE(o.server_ok);
  EXPECT_FALSE(o.echoed);
  EXPECT_THAT(o.server_error, HasSubstr("no shared cipher"));

  // The server's order wins by default (prefer_server_cipher_suites), the client's when off.
  cfg.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                       "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"};
  ssl::context server_pref = make_server_tls_context(cfg);
  o = connect(server_pref,
              {nullptr, nullptr, 0, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"});
  EXPECT_EQ(o.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
  cfg.prefer_server_cipher_suites = false;
  ssl::context client_pref = make_server_tls_context(cfg);
  o = connect(client_pref,
              {nullptr, nullptr, 0, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"});
  EXPECT_EQ(o.cipher, "ECDHE-RSA-AES256-GCM-SHA384");
}

TEST_F(Tls, maps_every_go_cipher_suite_name_to_one_openssl_knows) {
  using operant::http::detail::openssl_cipher_name;
  const char* go_names[] = {
      "TLS_RSA_WITH_AES_128_CBC_SHA",
      "TLS_RSA_WITH_AES_256_CBC_SHA",
      "TLS_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
      "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  };
  for (const char* go : go_names) {
    const std::string openssl(openssl_cipher_name(go));
    ASSERT_FALSE(openssl.empty()) << go;
    tls_server_config cfg = base_config();
    cfg.cipher_suites = {go};
    EXPECT_NO_THROW(make_server_tls_context(cfg)) << go << " -> " << openssl;
  }
  EXPECT_EQ(openssl_cipher_name("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(openssl_cipher_name("TLS_RSA_WITH_RC4_128_SHA"), "");  // Go calls it insecure
  EXPECT_TRUE(operant::http::detail::is_tls13_cipher_suite("TLS_CHACHA20_POLY1305_SHA256"));
}

TEST_F(Tls, curve_preferences_restrict_key_exchange) {
  tls_server_config cfg = base_config();
  cfg.curve_preferences = {"CurveP384"};
  ssl::context ctx = make_server_tls_context(cfg);
  EXPECT_TRUE(connect(ctx, {}).echoed);
  cfg.curve_preferences = {"CurveP256", "X25519", "CurveP521"};
  EXPECT_NO_THROW(make_server_tls_context(cfg));
  cfg.curve_preferences = {"CurveP224"};
  EXPECT_THAT(context_error(cfg),
              HasSubstr("tls_server_config.curve_preferences[0]: unknown curve \"CurveP224\""));
}

TEST_F(Tls, inline_pem_works_like_files) {
  tls_server_config cfg;
  cfg.cert = read_file(*files_ / "server.crt");
  cfg.key = read_file(*files_ / "server.key");
  cfg.client_auth_type = client_auth::require_and_verify_client_cert;
  cfg.client_ca = read_file(*files_ / "ca.crt");
  ssl::context ctx = make_server_tls_context(cfg);
  EXPECT_TRUE(connect(ctx, {"client.crt", "client.key", 0, nullptr}).echoed);
  EXPECT_FALSE(connect(ctx, {"rogue.crt", "rogue.key", 0, nullptr}).echoed);
}

TEST_F(Tls, load_errors_name_the_file_and_openssl_reason) {
  tls_server_config cfg = base_config();
  cfg.cert_file = *files_ / "missing.crt";
  EXPECT_EQ(context_error(cfg),
            "web config: tls_server_config.cert_file: cannot load "
            "certificate chain \"" +
                cfg.cert_file.string() + "\": No such file or directory");

  files_->write("garbage.pem", "not a certificate\n");
  cfg = base_config();
  cfg.cert_file = *files_ / "garbage.pem";
  EXPECT_THAT(context_error(cfg),
              HasSubstr("tls_server_config.cert_file: cannot load certificate chain \"" +
                        cfg.cert_file.string() + "\": no start line"));

  cfg = base_config();
  cfg.key_file = *files_ / "other-rsa.key";  // an RSA key, but not the server certificate's
  EXPECT_THAT(context_error(cfg),
              HasSubstr("tls_server_config.key_file: cannot load private key \"" +
                        cfg.key_file.string() + "\": key values mismatch"));
  cfg.key_file = *files_ / "client.key";  // an EC key for an RSA certificate
  EXPECT_EQ(context_error(cfg), "web config: tls_server_config.key_file: private key \"" +
                                    cfg.key_file.string() +
                                    "\" does not match the certificate: no certificate assigned");

  cfg = base_config();
  cfg.client_auth_type = client_auth::require_and_verify_client_cert;
  cfg.client_ca_file = *files_ / "garbage.pem";
  EXPECT_EQ(context_error(cfg), "web config: tls_server_config.client_ca_file: client CA file \"" +
                                    cfg.client_ca_file.string() + "\" holds no PEM certificate");

  cfg = base_config();
  cfg.client_auth_type = client_auth::require_and_verify_client_cert;
  EXPECT_THAT(context_error(cfg), HasSubstr("tls_server_config.client_ca_file: missing"));

  cfg = base_config();
  cfg.cipher_suites = {"TLS_FAKE_WITH_NOTHING"};
  EXPECT_THAT(context_error(cfg), HasSubstr("tls_server_config.cipher_suites[0]: unknown cipher "
                                            "suite \"TLS_FAKE_WITH_NOTHING\""));

  cfg = base_config();
  cfg.min_version = tls_version::tls13;
  cfg.max_version = tls_version::tls12;
  EXPECT_THAT(context_error(cfg),
              HasSubstr("tls_server_config.min_version: TLS13 is above max_version TLS12"));

  // An encrypted key is refused, never prompted for on the terminal.
  ASSERT_EQ(std::system(("cd '" + files_->dir.string() +
                         "' && openssl pkey -in server.key -aes256 -passout pass:secret "
                         "-out encrypted.key 2>/dev/null")
                            .c_str()),
            0);
  cfg = base_config();
  cfg.key_file = *files_ / "encrypted.key";
  EXPECT_THAT(context_error(cfg), HasSubstr("tls_server_config.key_file: cannot load private key"));
}

TEST_F(Tls, helpers_describe_the_modes) {
  using operant::http::detail::client_cert_required;
  using operant::http::detail::client_cert_verified;
  EXPECT_FALSE(client_cert_required(client_auth::no_client_cert));
  EXPECT_FALSE(client_cert_required(client_auth::request_client_cert));
  EXPECT_TRUE(client_cert_required(client_auth::require_any_client_cert));
  EXPECT_FALSE(client_cert_required(client_auth::verify_client_cert_if_given));
  EXPECT_TRUE(client_cert_required(client_auth::require_and_verify_client_cert));
  EXPECT_FALSE(client_cert_verified(client_auth::no_client_cert));
  EXPECT_FALSE(client_cert_verified(client_auth::request_client_cert));
  EXPECT_FALSE(client_cert_verified(client_auth::require_any_client_cert));
  EXPECT_TRUE(client_cert_verified(client_auth::verify_client_cert_if_given));
  EXPECT_TRUE(client_cert_verified(client_auth::require_and_verify_client_cert));
  EXPECT_EQ(operant::http::detail::to_string(tls_version::tls11), "TLS11");
}

}  // namespace
