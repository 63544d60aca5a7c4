// web-config.yml parsing (exporter-toolkit compatible) and basic authentication.
#include "operant/http/web_config.h"

#include <crypt.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using operant::http::basic_authenticator;
using operant::http::client_auth;
using operant::http::config_error;
using operant::http::load_web_config;
using operant::http::parse_web_config;
using operant::http::tls_version;
using operant::http::web_config;
using ::testing::HasSubstr;
using users_map = std::map<std::string, std::string, std::less<>>;

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "operant-web-config-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path write(const fs::path& rel, const std::string& text) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  fs::path path_;
};

std::string bcrypt(const std::string& password, const char* prefix = "$2b$") {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, 4, nullptr, 0, setting, sizeof setting))
    throw std::runtime_error("crypt_gensalt_rn failed");
  crypt_data data{};
  const char* out = crypt_rn(password.c_str(), setting, &data, sizeof data);
  if (!out) throw std::runtime_error("crypt_rn failed");
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
  }
  if (in.size() - i == 1) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += {k[n >> 18], k[(n >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const unsigned n =
        static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

std::string basic(std::string_view user, std::string_view password) {
  return "Basic " + base64(std::string(user) + ":" + std::string(password));
}

class WebConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.write("server.crt", "cert\n");
    key_ = dir_.write("server.key", "key\n");
    ca_ = dir_.write("ca.crt", "ca\n");
  }
  web_config parse(const std::string& yaml) const { return parse_web_config(yaml, origin()); }
  fs::path origin() const { return dir_.path() / "web.yml"; }
  // The config_error message for `yaml`; fails the test when it parses.
  std::string error(const std::string& yaml) const {
    try {
      parse(yaml);
    } catch (const config_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "parsed without error:\n" << yaml;
    return {};
  }
  static constexpr const char* k_tls =
      "tls_server_config:\n  cert_file: server.crt\n"
      "  key_file: server.key\n";

  temp_dir dir_;
  fs::path cert_, key_, ca_;
};

// Built by hand with designated initialisers naming only some fields: this file compiles with
// -Wall -Wextra -Werror, so every other field needs a default.
TEST(WebConfigStruct, designated_initialisers_may_name_only_some_fields) {
  const operant::http::tls_server_config tls{.cert = "PEM", .key = "PEM"};
  EXPECT_TRUE(tls.client_ca.empty());
  const web_config wc{.headers = {{"X-Frame-Options", "deny"}}};
  EXPECT_EQ(wc.tls, nullptr);
  EXPECT_TRUE(wc.basic_auth_users.empty());
}

TEST_F(WebConfig, parses_every_field) {
  const std::string alice = bcrypt("alice-pw");
  const std::string bob = bcrypt("bob-pw", "$2y$");
  const web_config cfg = parse(std::string(k_tls) +
                               "  client_auth_type: RequireAndVerifyClientCert\n"
                               "  client_ca_file: ca.crt\n"
                               "  min_version: TLS13\n"
                               "  max_version: TLS13\n"
                               "  cipher_suites:\n"
                               "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                               "    - TLS_AES_128_GCM_SHA256\n"
                               "  curve_preferences: [X25519, CurveP256]\n"
                               "  prefer_server_cipher_suites: false\n"
                               "  client_allowed_sans: [client.example, 10.0.0.1]\n"
                               "basic_auth_users:\n"
                               "  alice: " +
                               alice +
                               "\n"
                               "  bob: '" +
                               bob +
                               "'\n"
                               "http_server_config:\n"
                               "  http2: false\n"
                               "  headers:\n"
                               "    X-Frame-Options: deny\n"
                               "    X-Content-Type-Options: nosniff\n"
                               "    Strict-Transport-Security: max-age=31536000\n"
                               "    X-XSS-Protection: '1; mode=block'\n"
                               "    Content-Security-Policy: default-src 'self'\n");
  ASSERT_NE(cfg.tls, nullptr);
  EXPECT_EQ(cfg.tls->cert_file, cert_);
  EXPECT_EQ(cfg.tls->key_file, key_);
  EXPECT_EQ(cfg.tls->cert, "");
  EXPECT_EQ(cfg.tls->key, "");
  EXPECT_EQ(cfg.tls->client_auth_type, client_auth::require_and_verify_client_cert);
  EXPECT_EQ(cfg.tls->client_ca_file, ca_);
  EXPECT_EQ(cfg.tls->min_version, tls_version::tls13);
  EXPECT_EQ(cfg.tls->max_version, tls_version::tls13);
  EXPECT_EQ(cfg.tls->cipher_suites,
            (std::vector<std::string>{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                      "TLS_AES_128_GCM_SHA256"}));
  EXPECT_EQ(cfg.tls->curve_preferences, (std::vector<std::string>{"X25519", "CurveP256"}));
  EXPECT_FALSE(cfg.tls->prefer_server_cipher_suites);
  EXPECT_EQ(cfg.tls->client_allowed_sans, (std::vector<std::string>{"client.example", "10.0.0.1"}));
  ASSERT_EQ(cfg.basic_auth_users.size(), 2u);
  EXPECT_EQ(cfg.basic_auth_users.at("alice"), alice);
  EXPECT_EQ(cfg.basic_auth_users.at("bob"), bob);
  ASSERT_EQ(cfg.headers.size(), 5u);
  EXPECT_EQ(cfg.headers.at("X-Frame-Options"), "deny");
  EXPECT_EQ(cfg.headers.at("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(cfg.headers.at("Strict-Transport-Security"), "max-age=31536000");
  EXPECT_EQ(cfg.headers.at("X-XSS-Protection"), "1; mode=block");
  EXPECT_EQ(cfg.headers.at("Content-Security-Policy"), "default-src 'self'");
}

TEST_F(WebConfig, defaults_follow_the_toolkit) {
  const web_config cfg = parse(k_tls);
  ASSERT_NE(cfg.tls, nullptr);
  EXPECT_EQ(cfg.tls->client_auth_type, client_auth::no_client_cert);
  EXPECT_EQ(cfg.tls->min_version, tls_version::tls12);
  EXPECT_EQ(cfg.tls->max_version, tls_version::tls13);
  EXPECT_TRUE(cfg.tls->prefer_server_cipher_suites);
  EXPECT_TRUE(cfg.tls->cipher_suites.empty());
  EXPECT_TRUE(cfg.tls->curve_preferences.empty());
  EXPECT_TRUE(cfg.tls->client_allowed_sans.empty());
  EXPECT_TRUE(cfg.tls->client_ca_file.empty());
  EXPECT_TRUE(cfg.basic_auth_users.empty());
  EXPECT_TRUE(cfg.headers.empty());
}

TEST_F(WebConfig, inline_pem_and_every_client_auth_spelling) {
  const web_config inline_cfg = parse(
      "tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n"
      "  key: KEYTEXT\n  client_ca: CATEXT\n  client_auth_type: VerifyClientCertIfGiven\n");
  ASSERT_NE(inline_cfg.tls, nullptr);
  EXPECT_EQ(inline_cfg.tls->cert, "-----BEGIN CERTIFICATE-----\nAAAA\n");
  EXPECT_EQ(inline_cfg.tls->key, "KEYTEXT");
  EXPECT_EQ(inline_cfg.tls->client_ca, "CATEXT");
  EXPECT_TRUE(inline_cfg.tls->cert_file.empty());
  EXPECT_EQ(inline_cfg.tls->client_auth_type, client_auth::verify_client_cert_if_given);

  const std::pair<const char*, client_auth> spellings[] = {
      {"NoClientCert", client_auth::no_client_cert},
      {"RequestClientCert", client_auth::request_client_cert},
      {"RequireAnyClientCert", client_auth::require_any_client_cert},
      {"RequireClientCert", client_auth::require_any_client_cert},  // the toolkit's old name
      {"VerifyClientCertIfGiven", client_auth::verify_client_cert_if_given},
      {"RequireAndVerifyClientCert", client_auth::require_and_verify_client_cert},
  };
  for (const auto& [name, mode] : spellings) {
    const bool with_ca = mode != client_auth::no_client_cert;
    const web_config cfg = parse(std::string(k_tls) + "  client_auth_type: " + name + "\n" +
                                 (with_ca ? "  client_ca_file: ca.crt\n" : ""));
    EXPECT_EQ(cfg.tls->client_auth_type, mode) << name;
  }
  const std::pair<const char*, tls_version> versions[] = {{"TLS10", tls_version::tls10},
                                                          {"TLS11", tls_version::tls11},
                                                          {"TLS12", tls_version::tls12},
                                                          {"TLS13", tls_version::tls13}};
  for (const auto& [name, v] : versions) {
    EXPECT_EQ(parse(std::string(k_tls) + "  min_version: " + name + "\n").tls->min_version, v);
  }
}

TEST_F(WebConfig, empty_documents_and_sections_mean_no_tls_and_no_auth) {
  for (const char* yaml : {"", "# nothing\n", "---\n", "tls_server_config:\n",
                           "tls_server_config: {}\nbasic_auth_users:\nhttp_server_config:\n"}) {
    const web_config cfg = parse(yaml);
    EXPECT_EQ(cfg.tls, nullptr) << yaml;
    EXPECT_TRUE(cfg.basic_auth_users.empty()) << yaml;
    EXPECT_TRUE(cfg.headers.empty()) << yaml;
  }
}

TEST_F(WebConfig, relative_paths_resolve_against_the_config_directory) {
  dir_.write("conf/certs/server.crt", "cert\n");
  const fs::path file = dir_.write("conf/web.yml",
                                   "tls_server_config:\n  cert_file: certs/server.crt\n"
                                   "  key_file: " +
                                       key_.string() + "\n");
  const web_config cfg = load_web_config(file);
  ASSERT_NE(cfg.tls, nullptr);
  EXPECT_EQ(cfg.tls->cert_file, dir_.path() / "conf" / "certs" / "server.crt");
  EXPECT_EQ(cfg.tls->key_file, key_);  // absolute: kept as written

  // The same relative name in another directory's config is another file, which is absent.
  const fs::path other = dir_.write(
      "elsewhere/web.yml", "tls_server_config:\n  cert_file: certs/server.crt\n  key_file: x\n");
  try {
    load_web_config(other);
    FAIL() << "loaded a config naming a missing certificate";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "web config " + other.string() +
                  ":2:14: tls_server_config.cert_file: cannot read \"" +
                  (dir_.path() / "elsewhere" / "certs" / "server.crt").string() +
                  "\": No such file or directory");
  }
}

TEST_F(WebConfig, load_names_an_unreadable_file) {
  const fs::path missing = dir_.path() / "absent.yml";
  try {
    load_web_config(missing);
    FAIL() << "loaded a missing file";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "web config " + missing.string() + ": cannot read: No such file or directory");
  }
  try {
    load_web_config(dir_.path());
    FAIL() << "loaded a directory";
  } catch (const config_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "web config " + dir_.path().string() + ": cannot read: a directory");
  }
}

TEST_F(WebConfig, rejects_unknown_keys_at_every_level) {
  std::string msg = error("tls_server_confg:\n  cert_file: server.crt\n");
  EXPECT_THAT(msg, HasSubstr(origin().string() + ":1:"));
  EXPECT_THAT(msg, HasSubstr("tls_server_confg: unknown field"));

  msg = error(std::string(k_tls) + "  cert_fle: server.crt\n");
  EXPECT_THAT(msg,
              HasSubstr(origin().string() + ":4:3: tls_server_config.cert_fle: unknown field"));

  msg = error("http_server_config:\n  header:\n    X-Frame-Options: deny\n");
  EXPECT_THAT(msg, HasSubstr("http_server_config.header: unknown field"));
}

TEST_F(WebConfig, rejects_a_bad_client_auth_type) {
  const std::string msg = error(std::string(k_tls) + "  client_auth_type: RequireSomething\n");
  EXPECT_EQ(msg, "web config " + origin().string() +
                     ":4:21: tls_server_config.client_auth_type: \"RequireSomething\" is not a "
                     "client auth type (expected NoClientCert, RequestClientCert, "
                     "RequireAnyClientCert, VerifyClientCertIfGiven or "
                     "RequireAndVerifyClientCert)");
}

TEST_F(WebConfig, rejects_bad_versions) {
  std::string msg = error(std::string(k_tls) + "  min_version: TLS14\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.min_version: \"TLS14\" is not a TLS version"));
  msg = error(std::string(k_tls) + "  max_version: tls12\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.max_version: \"tls12\" is not a TLS version"));
  msg = error(std::string(k_tls) + "  min_version: TLS13\n  max_version: TLS12\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.min_version: TLS13 is above max_version TLS12"));
}

TEST_F(WebConfig, rejects_missing_or_doubled_certificate_and_key) {
  std::string msg = error("tls_server_config:\n  cert_file: server.crt\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.key_file: missing"));
  msg = error("tls_server_config:\n  key_file: server.key\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.cert_file: missing"));
  // Any field makes the section a TLS section; the toolkit would fall back to plain HTTP here.
  msg = error("tls_server_config:\n  min_version: TLS13\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.cert_file: missing"));
  msg = error(std::string(k_tls) + "  cert: inline\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.cert: give cert or cert_file, not both"));
  msg = error(std::string(k_tls) + "  key: inline\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.key: give key or key_file, not both"));
}

TEST_F(WebConfig, rejects_a_cert_file_that_does_not_exist) {
  const std::string msg =
      error("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n");
  EXPECT_EQ(msg, "web config " + origin().string() +
                     ":2:14: tls_server_config.cert_file: cannot read \"" +
                     (dir_.path() / "nope.crt").string() + "\": No such file or directory");
  EXPECT_THAT(error("tls_server_config:\n  cert_file: server.crt\n  key_file: .\n"),
              HasSubstr("tls_server_config.key_file: cannot read \"" +
                        (dir_.path() / ".").string() + "\": a directory"));
}

TEST_F(WebConfig, client_ca_rules_match_the_auth_type) {
  std::string msg = error(std::string(k_tls) + "  client_auth_type: RequireAndVerifyClientCert\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.client_ca_file: missing: client_auth_type "
                             "RequireAndVerifyClientCert verifies client certificates against it"));
  msg = error(std::string(k_tls) + "  client_auth_type: VerifyClientCertIfGiven\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.client_ca_file: missing"));
  msg = error(std::string(k_tls) + "  client_ca_file: ca.crt\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.client_auth_type: is NoClientCert but a client "
                             "CA is configured"));
  msg = error(std::string(k_tls) +
              "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
              "  client_ca: inline\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.client_ca: give client_ca or client_ca_file"));
  msg = error(std::string(k_tls) +
              "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
              "  client_allowed_sans: [a.example]\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.client_allowed_sans: needs client_auth_type "
                             "RequireAnyClientCert or RequireAndVerifyClientCert, not "
                             "VerifyClientCertIfGiven"));
  // RequireAnyClientCert neither needs nor forbids a CA.
  EXPECT_NO_THROW(parse(std::string(k_tls) + "  client_auth_type: RequireAnyClientCert\n"));
}

TEST_F(WebConfig, rejects_unknown_cipher_suites_and_curves) {
  std::string msg = error(std::string(k_tls) +
                          "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                          "    - TLS_RSA_WITH_3DES_EDE_CBC_SHA\n");
  EXPECT_THAT(msg, HasSubstr(":6:7: tls_server_config.cipher_suites[1]: unknown cipher suite "
                             "\"TLS_RSA_WITH_3DES_EDE_CBC_SHA\""));
  msg = error(std::string(k_tls) + "  cipher_suites: ECDHE-RSA-AES128-GCM-SHA256\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.cipher_suites: expected a list of strings"));
  msg = error(std::string(k_tls) + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.cipher_suites: lists only TLS 1.3 suites"));
  EXPECT_NO_THROW(parse(std::string(k_tls) +
                        "  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"));
  msg = error(std::string(k_tls) + "  curve_preferences: [CurveP256, P-384]\n");
  EXPECT_THAT(msg, HasSubstr("tls_server_config.curve_preferences[1]: unknown curve \"P-384\""));
}

TEST_F(WebConfig, rejects_hashes_that_are_not_bcrypt) {
  const std::string good = bcrypt("pw");
  const std::string cases[] = {
      "secret",                                    // a plain password
      "$1$abcdefgh$abcdefghijklmnopqrstuv",        // MD5-crypt
      "$2x$" + good.substr(4),                     // the buggy-era variant
      good.substr(0, 59),                          // one character short
      "$2b$03$" + good.substr(7),                  // cost below 4
      "$2b$1a$" + good.substr(7),                  // cost not digits
      good.substr(0, 20) + "!" + good.substr(21),  // not bcrypt base64
  };
  for (const std::string& hash : cases) {
    const std::string msg = error("basic_auth_users:\n  alice: '" + hash + "'\n");
    EXPECT_THAT(msg, HasSubstr("basic_auth_users.alice: \"" + hash + "\" is ")) << hash;
  }
  EXPECT_THAT(error("basic_auth_users:\n  alice:\n"),
              HasSubstr("basic_auth_users.alice: missing bcrypt hash"));
  EXPECT_THAT(error("basic_auth_users:\n  'a:b': '" + good + "'\n"),
              HasSubstr("basic_auth_users.a:b: user name \"a:b\" contains ':'"));
  EXPECT_THAT(error("basic_auth_users: [alice]\n"),
              HasSubstr("basic_auth_users: expected a mapping of user names to bcrypt hashes"));
}

TEST_F(WebConfig, reports_yaml_syntax_errors_with_file_and_line) {
  const std::string msg = error("basic_auth_users:\n  alice: x\n  bob: [unterminated\n");
  EXPECT_THAT(msg, HasSubstr("web config " + origin().string() + ":4:"));
  EXPECT_THAT(msg, HasSubstr("YAML syntax error"));
  EXPECT_THAT(error("tls_server_config:\n\tcert_file: a\n"),
              HasSubstr("web config " + origin().string() + ":2:"));
}

TEST_F(WebConfig, rejects_wrong_shapes_and_duplicates) {
  EXPECT_THAT(error("- a\n- b\n"), HasSubstr("the document must be a mapping"));
  EXPECT_THAT(error("tls_server_config: yes\n"),
              HasSubstr("tls_server_config: expected a mapping"));
  EXPECT_THAT(error(std::string(k_tls) + "  cert_file: server.crt\n"),
              HasSubstr("tls_server_config.cert_file: given twice"));
  EXPECT_THAT(error(std::string(k_tls) + "  prefer_server_cipher_suites: maybe\n"),
              HasSubstr("tls_server_config.prefer_server_cipher_suites: \"maybe\" is not a "
                        "boolean"));
  EXPECT_THAT(error("http_server_config:\n  http2: [true]\n"),
              HasSubstr("http_server_config.http2: expected a boolean"));
  EXPECT_THAT(error("tls_server_config:\n  cert_file: [a, b]\n  key_file: server.key\n"),
              HasSubstr("tls_server_config.cert_file: expected a string"));
  EXPECT_THAT(error("rate_limit:\n  burst: 10\n  interval: 1s\n"),
              HasSubstr("rate_limit: not supported by operant"));
}

TEST_F(WebConfig, restricts_headers_as_the_toolkit_does) {
  EXPECT_THAT(error("http_server_config:\n  headers:\n    X-Frame-Options: allow\n"),
              HasSubstr("http_server_config.headers.X-Frame-Options: \"allow\" is not allowed "
                        "(expected \"deny\" or \"sameorigin\")"));
  EXPECT_THAT(error("http_server_config:\n  headers:\n    Server: operant\n"),
              HasSubstr("http_server_config.headers.Server: header \"Server\" can not be "
                        "configured"));
  EXPECT_THAT(error("http_server_config:\n  headers:\n    X-XSS-Protection: \"a\\r\\nb\"\n"),
              HasSubstr("http_server_config.headers.X-XSS-Protection: \"a\\x0d\\x0ab\" contains "
                        "a control character"));
}

// ---- basic authentication ---------------------------------------------------------------------

class BasicAuth : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    alice_hash_ = new std::string(bcrypt("alice-secret"));
    bob_hash_ = new std::string(bcrypt("bob:secret", "$2y$"));
    carol_hash_ = new std::string(bcrypt("carol", "$2a$"));
  }
  static void TearDownTestSuite() {
    delete alice_hash_;
    delete bob_hash_;
    delete carol_hash_;
  }
  basic_authenticator make() const {
    return basic_authenticator(
        users_map{{"alice", *alice_hash_}, {"bob", *bob_hash_}, {"carol", *carol_hash_}});
  }
  static std::string* alice_hash_;
  static std::string* bob_hash_;
  static std::string* carol_hash_;
};
std::string* BasicAuth::alice_hash_ = nullptr;
std::string* BasicAuth::bob_hash_ = nullptr;
std::string* BasicAuth::carol_hash_ = nullptr;

TEST_F(BasicAuth, accepts_configured_users_of_every_bcrypt_variant) {
  const basic_authenticator auth = make();
  EXPECT_FALSE(auth.empty());
  std::string user;
  EXPECT_TRUE(auth.check(basic("alice", "alice-secret"), &user));
  EXPECT_EQ(user, "alice");
  EXPECT_TRUE(auth.check(basic("bob", "bob:secret"), &user));  // the password may hold ':'
  EXPECT_EQ(user, "bob");
  EXPECT_TRUE(auth.check(basic("carol", "carol"), &user));
  EXPECT_EQ(user, "carol");
  EXPECT_TRUE(auth.check("basic " + base64("alice:alice-secret")));  // scheme is case-blind
  EXPECT_TRUE(auth.check("BASIC " + base64("alice:alice-secret")));
}

TEST_F(BasicAuth, refuses_wrong_passwords_and_unknown_users) {
  const basic_authenticator auth = make();
  std::string user = "untouched";
  EXPECT_FALSE(auth.check(basic("alice", "wrong"), &user));
  EXPECT_FALSE(auth.check(basic("alice", "alice-secreT"), &user));
  EXPECT_FALSE(auth.check(basic("alice", ""), &user));
  EXPECT_FALSE(auth.check(basic("Alice", "alice-secret"), &user));  // names are case-sensitive
  EXPECT_FALSE(auth.check(basic("mallory", "alice-secret"), &user));
  EXPECT_FALSE(auth.check(basic("", "alice-secret"), &user));
  EXPECT_EQ(user, "untouched");
}

TEST_F(BasicAuth, refuses_malformed_headers) {
  const basic_authenticator auth = make();
  const std::string good = base64("alice:alice-secret");
  const std::string malformed[] = {
      "",
      "Basic",
      "Basic ",
      "Bearer " + good,                            // another scheme
      "Digest username=\"alice\"",                 // another scheme
      "Basic  " + good,                            // two spaces
      "Basic\t" + good,                            // not a space
      "Basic " + good + " ",                       // trailing space
      "Basic " + good.substr(0, good.size() - 1),  // length not a multiple of 4
      "Basic YWxp!2U6YWxpY2Utc2VjcmV0",            // not base64
      "Basic YWxpY2U6YWxpY2Utc2VjcmV0\n",          // stray newline
      "Basic " + base64("alice"),                  // no colon
      "Basic " + base64(""),                       // nothing
      "Basic YQ=a",                                // padding in the middle
      "Basic YR==",                                // non-canonical: unused bits set
      "Basic YWI=YWI=",                            // padding before the end
      "Basic ====",
      "Basic " + std::string(4000, 'A'),  // far longer than any credential
  };
  for (const std::string& h : malformed) EXPECT_FALSE(auth.check(h)) << h;
  // Nothing malformed reached bcrypt.
  EXPECT_EQ(auth.bcrypt_computations(), 0u);
}

TEST_F(BasicAuth, refuses_passwords_bcrypt_would_truncate) {
  const std::string pw72(72, 'p');
  const basic_authenticator auth(users_map{{"long", bcrypt(pw72)}, {"nul", bcrypt("pw")}});
  EXPECT_TRUE(auth.check(basic("long", pw72)));
  EXPECT_FALSE(auth.check(basic("long", pw72 + "x")));  // bcrypt would read the first 72 only
  EXPECT_TRUE(auth.check(basic("nul", "pw")));
  EXPECT_FALSE(auth.check(basic("nul", std::string("pw\0x", 4))));  // crypt stops at NUL
  EXPECT_EQ(auth.bcrypt_computations(), 2u);
}

TEST_F(BasicAuth, caches_results_so_repeated_checks_skip_bcrypt) {
  const basic_authenticator auth = make();
  EXPECT_EQ(auth.bcrypt_computations(), 0u);
  EXPECT_TRUE(auth.check(basic("alice", "alice-secret")));
  EXPECT_EQ(auth.bcrypt_computations(), 1u);
  std::string user;
  EXPECT_TRUE(auth.check(basic("alice", "alice-secret"), &user));  // from the cache
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(auth.bcrypt_computations(), 1u);
  EXPECT_FALSE(auth.check(basic("alice", "wrong")));
  EXPECT_FALSE(auth.check(basic("alice", "wrong")));  // failures are cached too
  EXPECT_EQ(auth.bcrypt_computations(), 2u);
  // An unknown user costs one bcrypt (against the dummy hash), like a known one.
  EXPECT_FALSE(auth.check(basic("mallory", "alice-secret")));
  EXPECT_EQ(auth.bcrypt_computations(), 3u);
  EXPECT_FALSE(auth.check(basic("mallory", "alice-secret")));
  EXPECT_EQ(auth.bcrypt_computations(), 3u);
  // Another unknown user with the same password is its own cache entry.
  EXPECT_FALSE(auth.check(basic("trudy", "alice-secret")));
  EXPECT_EQ(auth.bcrypt_computations(), 4u);
}

TEST_F(BasicAuth, cache_stays_bounded_and_correct_under_churn) {
  const basic_authenticator auth = make();
  for (int i = 0; i < 250; ++i) EXPECT_FALSE(auth.check(basic("alice", std::to_string(i))));
  EXPECT_EQ(auth.bcrypt_computations(), 250u);
  // At most 100 entries survive, so most of the early ones were evicted and cost bcrypt again.
  for (int i = 0; i < 250; ++i) EXPECT_FALSE(auth.check(basic("alice", std::to_string(i))));
  EXPECT_GE(auth.bcrypt_computations(), 250u + 150u);
  EXPECT_TRUE(auth.check(basic("alice", "alice-secret")));
}

TEST_F(BasicAuth, is_thread_safe) {
  const basic_authenticator auth = make();
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        std::string user;
        if (auth.check(basic("alice", "alice-secret"), &user) && user == "alice") ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 200);
  // Threads that missed the cache at the same moment each ran bcrypt once, no more.
  EXPECT_GE(auth.bcrypt_computations(), 1u);
  EXPECT_LE(auth.bcrypt_computations(), 4u);
}

TEST_F(BasicAuth, no_users_means_empty_and_nothing_matches) {
  const basic_authenticator auth(users_map{});
  EXPECT_TRUE(auth.empty());
  EXPECT_FALSE(auth.check(basic("alice", "alice-secret")));
  EXPECT_EQ(auth.bcrypt_computations(), 0u);
}

TEST_F(BasicAuth, constructor_rejects_invalid_users) {
  try {
    basic_authenticator auth(users_map{{"alice", "plaintext"}});
    FAIL() << "accepted a plain password as a hash";
  } catch (const config_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("basic_auth_users.alice: \"plaintext\" is not a bcrypt hash"));
  }
  EXPECT_THROW(basic_authenticator(users_map{{"a:b", *alice_hash_}}), config_error);
}

TEST_F(BasicAuth, works_with_users_parsed_from_a_config) {
  temp_dir dir;
  const web_config cfg =
      parse_web_config("basic_auth_users:\n  alice: " + *alice_hash_ + "\n", dir.path() / "w.yml");
  const basic_authenticator auth(cfg.basic_auth_users);
  EXPECT_TRUE(auth.check(basic("alice", "alice-secret")));
  EXPECT_FALSE(auth.check(basic("alice", "alice-secret2")));
}

}  // namespace
