// operant/http/web_config.h — TLS and basic auth configured as Prometheus exporters are.
//
// The file format is the Prometheus exporter-toolkit's `web-config.yml`
// (https://prometheus.io/docs/prometheus/latest/configuration/https/), so operators reuse what
// they already run for node_exporter and Prometheus itself:
//
//   tls_server_config:
//     cert_file: server.crt
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
//     client_ca_file: ca.crt
//     min_version: TLS12                              # default TLS12
//   basic_auth_users:
//     alice: $2y$10$...                               # bcrypt hash (htpasswd -B, or Python bcrypt)
//   http_server_config:
//     headers:
//       X-Frame-Options: deny
//
// Relative file paths are resolved against the directory of the configuration file, as the
// exporter-toolkit does. Unknown keys are errors (the toolkit decodes strictly), so a typo never
// silently turns TLS or authentication off.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace operant::http {

// Raised for an unreadable or invalid web configuration. what() names the file, the field (as a
// dotted path such as `tls_server_config.client_auth_type`) and what was expected.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The exporter-toolkit's client_auth_type values, with Go's crypto/tls meaning.
enum class client_auth {
  no_client_cert,                  // "NoClientCert" (default): no certificate is asked for
  request_client_cert,             // "RequestClientCert": asked for, not required, not verified
  require_any_client_cert,         // "RequireAnyClientCert": required, not verified
  verify_client_cert_if_given,     // "VerifyClientCertIfGiven": optional; verified if sent
  require_and_verify_client_cert,  // "RequireAndVerifyClientCert": required and verified
};

enum class tls_version { tls10, tls11, tls12, tls13 };

struct tls_server_config {
  std::filesystem::path cert_file{};  // PEM certificate chain; required (or cert inline, below)
  std::filesystem::path key_file{};   // PEM private key (unencrypted); required (or key inline)
  std::string cert{};                 // inline PEM, the toolkit's `cert` (instead of cert_file)
  std::string key{};                  // inline PEM, the toolkit's `key` (instead of key_file)
  client_auth client_auth_type = client_auth::no_client_cert;
  std::filesystem::path client_ca_file{};  // the two "verify" modes need it (or client_ca inline)
  std::string client_ca{};                 // inline PEM, the toolkit's `client_ca`
  tls_version min_version = tls_version::tls12;
  tls_version max_version = tls_version::tls13;
  // Go/IANA names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...), as Go's tls.CipherSuites() spells
  // them. They restrict TLS 1.0-1.2 only; TLS 1.3 suites are never configurable (as in Go), so
  // TLS 1.3 names are accepted and change nothing. Empty = OpenSSL's defaults.
  std::vector<std::string> cipher_suites{};
  // Go names: CurveP256, CurveP384, CurveP521, X25519, in order of preference. Empty = defaults.
  std::vector<std::string> curve_preferences{};
  // Choose the cipher suite by the server's order (cipher_suites), not the client's. Default true.
  bool prefer_server_cipher_suites = true;
  // When not empty, a client certificate must carry one of these SAN values (DNS name, e-mail
  // address, IP address or URI). Needs RequireAnyClientCert or RequireAndVerifyClientCert.
  std::vector<std::string> client_allowed_sans{};
  // TLS 1.0 and 1.1 (min_version TLS10/TLS11) are accepted as the toolkit does, but OpenSSL's
  // system security level (Debian: SECLEVEL=2) may still refuse them; it is not lowered here.
};

struct web_config {
  // Present when the file has a non-empty tls_server_config section: the server then speaks only
  // TLS.
  std::unique_ptr<tls_server_config> tls{};
  // user name -> bcrypt hash ($2a$, $2b$ or $2y$). Empty: no authentication.
  std::map<std::string, std::string, std::less<>> basic_auth_users{};
  // Extra response headers (http_server_config.headers).
  std::map<std::string, std::string, std::less<>> headers{};
  // http_server_config.http2 is accepted for compatibility and ignored (HTTP/1.1 only).
  // The toolkit's rate_limit section is refused (config_error): operant bounds load with
  // server_options.max_connections and the metrics handler's in-flight limit instead, and a
  // limit that is configured but silently not applied would mislead.
};

// Parses the YAML text of a web configuration. `origin` is the configuration file's path: it
// names the file in error messages, and relative paths are resolved against its directory
// (origin.parent_path()). Checks every field (types, enum values, bcrypt hash syntax, cert/key
// given exactly once each, a client CA present when the auth type verifies and absent when no
// certificate is asked for, min_version <= max_version, known cipher suite and curve names, the
// toolkit's allowed extra headers) and that the referenced files exist and are readable; throws
// config_error otherwise. Duplicate keys are errors too. An empty document, or an empty
// tls_server_config section, means no TLS, as in the toolkit; a non-empty section without a
// certificate or key is an error (the toolkit would fall back to plain HTTP). Certificates and
// keys are parsed only when the TLS context is made (at server construction).
web_config parse_web_config(std::string_view yaml, const std::filesystem::path& origin);

// Reads and parses a web configuration file; throws config_error naming the file when it cannot
// be read.
web_config load_web_config(const std::filesystem::path& file);

// Checks HTTP basic credentials against basic_auth_users. Thread-safe. Successful and failed
// results are cached (keyed by a SHA-256 of user and password, never the password itself) so a
// Prometheus scraping every second costs one bcrypt check, not one per scrape; an unknown user is
// checked against a dummy hash so response time does not reveal which users exist.
class basic_authenticator {
 public:
  // Throws config_error when a hash is not a bcrypt hash, or a user name contains ':' (such a
  // user could never log in: the header's user name ends at the first colon).
  explicit basic_authenticator(std::map<std::string, std::string, std::less<>> users);
  ~basic_authenticator();
  basic_authenticator(const basic_authenticator&) = delete;
  basic_authenticator& operator=(const basic_authenticator&) = delete;

  // True when no users are configured (every request is allowed).
  bool empty() const noexcept;
  // `authorization` is the raw Authorization header value ("Basic base64(user:password)").
  // Returns true when the credentials match a configured user, and then stores the user name in
  // *user when given; false for a wrong password, an unknown user, a malformed header (scheme
  // other than "Basic" (any case) followed by one space, base64 that is not canonical standard
  // base64 with padding, no ':' in the decoded text), a password over 72 bytes (bcrypt reads
  // only 72, so longer ones would match on a prefix) or one containing a NUL byte, and when no
  // users are configured. At most one bcrypt computation runs at a time (as in the toolkit).
  bool check(std::string_view authorization, std::string* user = nullptr) const;

  // bcrypt computations done so far (cache misses). For tests and self-metrics.
  std::uint64_t bcrypt_computations() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace operant::http
