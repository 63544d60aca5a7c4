// libFuzzer target for the web configuration (web-config.yml) and basic authentication.
//
// The input is parsed as a web configuration whose file sits in a temporary directory holding
// server.crt, server.key and ca.crt (so relative file names can resolve); only config_error may
// escape. What parses must keep the parser's promises, and its TLS section is turned into an
// OpenSSL context (inline PEM reaches OpenSSL's parsers), where again only config_error may
// escape. The input is also fed, as is and behind "Basic ", to basic_authenticator::check for a
// fixed user (bcrypt cost 4, so that a fuzzed password costs about a millisecond).
//
// Anything else (a crash, a sanitizer report, another exception type) is a bug.
#ifndef BOOST_ASIO_SEPARATE_COMPILATION
#define BOOST_ASIO_SEPARATE_COMPILATION 1  // as operant_http, which holds Asio's definitions
#endif
#ifndef BOOST_ASIO_NO_DEPRECATED
#define BOOST_ASIO_NO_DEPRECATED 1
#endif
#include <crypt.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "http/tls.h"
#include "operant/http/web_config.h"

namespace {

namespace fs = std::filesystem;
namespace h = operant::http;

void check(bool ok) {
  if (!ok) std::abort();
}

fs::path make_origin() {
  std::string tmpl = (fs::temp_directory_path() / "operant-fuzz-web-config-XXXXXX").string();
  check(mkdtemp(tmpl.data()) != nullptr);
  const fs::path dir = tmpl;
  for (const char* name : {"server.crt", "server.key", "ca.crt"})
    std::ofstream(dir / name) << "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  static fs::path cleanup_dir = dir;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(cleanup_dir, ec);
  });
  return dir / "web.yml";
}

const h::basic_authenticator& authenticator() {
  static const h::basic_authenticator auth = [] {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    check(crypt_gensalt_rn("$2b$", 4, nullptr, 0, setting, sizeof setting) != nullptr);
    crypt_data data{};
    const char* hash = crypt_rn("alice-secret", setting, &data, sizeof data);
    check(hash != nullptr);
    return h::basic_authenticator({{"alice", hash}});
  }();
  return auth;
}

// What every successful parse guarantees.
void check_config(const h::web_config& cfg) {
  if (cfg.tls) {
    const h::tls_server_config& t = *cfg.tls;
    check(t.cert_file.empty() != t.cert.empty());
    check(t.key_file.empty() != t.key.empty());
    check(t.client_ca_file.empty() || t.client_ca.empty());
    check(t.min_version <= t.max_version);
    const bool has_ca = !t.client_ca_file.empty() || !t.client_ca.empty();
    if (h::detail::client_cert_verified(t.client_auth_type)) check(has_ca);
    if (t.client_auth_type == h::client_auth::no_client_cert) check(!has_ca);
    for (const auto& p : {t.cert_file, t.key_file, t.client_ca_file})
      check(p.empty() || p.is_absolute());
    for (const auto& c : t.cipher_suites)
      check(h::detail::is_tls13_cipher_suite(c) || !h::detail::openssl_cipher_name(c).empty());
    for (const auto& c : t.curve_preferences) check(!h::detail::openssl_curve_name(c).empty());
    try {
      static_cast<void>(h::detail::make_server_tls_context(t));
    } catch (const h::config_error&) {
      // a certificate or key that OpenSSL refuses: expected for fuzzed PEM
    }
  }
  for (const auto& [name, value] : cfg.headers) {
    for (const char c : value) check(static_cast<unsigned char>(c) >= 0x20 || c == '\t');
  }
  // Every parsed user is acceptable to the authenticator (its hashes are bcrypt hashes). No
  // check() here: a fuzzed hash may carry cost 31.
  const h::basic_authenticator users(cfg.basic_auth_users);
  check(users.empty() == cfg.basic_auth_users.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path origin = make_origin();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    check_config(h::parse_web_config(input, origin));
  } catch (const h::config_error&) {
    // the one way a bad configuration may be refused
  } catch (...) {
    std::abort();  // any other exception escaping is a bug
  }

  const h::basic_authenticator& auth = authenticator();
  std::string user;
  try {
    const std::string_view first_line = input.substr(0, input.find('\n'));
    for (const std::string& header :
         {std::string(first_line), "Basic " + std::string(first_line)}) {
      user.clear();
      if (auth.check(header, &user)) {
        check(user == "alice");
      } else {
        check(user.empty());
      }
    }
  } catch (...) {
    std::abort();
  }
  return 0;
}
