#include "tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace operant::http::detail {

namespace {

namespace ssl = boost::asio::ssl;

struct name_pair {
  std::string_view go;
  std::string_view openssl;
};

// Go's tls.CipherSuites() for TLS 1.0-1.2 (the toolkit looks names up there only, so Go's
// "insecure" suites such as TLS_RSA_WITH_3DES_EDE_CBC_SHA are unknown to it, and to us).
constexpr std::array<name_pair, 14> k_cipher_suites{{
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
}};

constexpr std::array<std::string_view, 3> k_tls13_suites{
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};

// The toolkit's curve names.
constexpr std::array<name_pair, 4> k_curves{{
    {"CurveP256", "P-256"},
    {"CurveP384", "P-384"},
    {"CurveP521", "P-521"},
    {"X25519", "X25519"},
}};

int openssl_version(tls_version v) noexcept {
  switch (v) {
    case tls_version::tls10:
      return TLS1_VERSION;
    case tls_version::tls11:
      return TLS1_1_VERSION;
    case tls_version::tls12:
      return TLS1_2_VERSION;
    case tls_version::tls13:
      return TLS1_3_VERSION;
  }
  return TLS1_3_VERSION;
}

// OpenSSL's error queue as "reason; reason", emptied. Only the reasons: the library and
// function parts mean nothing to an operator.
std::string openssl_errors() {
  std::string out;
  bool system_error = false;
  while (unsigned long e = ERR_get_error()) {
    std::string text;
    if (ERR_SYSTEM_ERROR(e)) {
      system_error = true;
      text = std::generic_category().message(static_cast<int>(ERR_GET_REASON(e)));
    } else {
      const char* reason = ERR_reason_error_string(e);
      text = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
      // BIO's companion entry to an errno says nothing more.
      if (system_error && text == "system lib") continue;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

[[noreturn]] void fail(std::string_view field, const std::string& what) {
  ERR_clear_error();
  std::string msg = "web config: tls_server_config.";
  msg += field;
  msg += ": ";
  msg += what;
  throw config_error(msg);
}

[[noreturn]] void fail_openssl(std::string_view field, const std::string& what) {
  std::string reason = openssl_errors();
  fail(field, what + ": " + reason);
}

std::string quoted(const std::filesystem::path& p) { return "\"" + p.string() + "\""; }

// Encrypted keys are refused instead of OpenSSL's default of prompting on the terminal.
int no_password(char*, int, int, void*) { return 0; }

struct bio_deleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct general_names_deleter {
  void operator()(GENERAL_NAMES* g) const noexcept { GENERAL_NAMES_free(g); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

bio_ptr memory_bio(std::string_view pem) {
  // BIO_new_mem_buf takes an int length; PEM beyond 2 GiB is not a certificate.
  if (pem.size() > 0x7fffffff) return nullptr;
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// True when the error queue ends in "no more PEM blocks", which ends a certificate loop.
bool at_pem_end() {
  const unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

void load_certificate(SSL_CTX* ctx, const tls_server_config& cfg) {
  if (!cfg.cert_file.empty() && !cfg.cert.empty()) fail("cert", "give cert or cert_file, not both");
  if (!cfg.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1)
      fail_openssl("cert_file", "cannot load certificate chain " + quoted(cfg.cert_file));
    return;
  }
  if (cfg.cert.empty()) fail("cert_file", "missing: give cert_file (or cert, inline PEM)");
  bio_ptr bio = memory_bio(cfg.cert);
  x509_ptr leaf(bio ? PEM_read_bio_X509_AUX(bio.get(), nullptr, no_password, nullptr) : nullptr);
  if (!leaf) fail_openssl("cert", "cannot load the inline PEM certificate");
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1)
    fail_openssl("cert", "cannot use the inline PEM certificate");
  SSL_CTX_clear_chain_certs(ctx);
  for (;;) {
    x509_ptr ca(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!ca) break;
    if (SSL_CTX_add0_chain_cert(ctx, ca.get()) != 1)
      fail_openssl("cert", "cannot add a chain certificate of the inline PEM");
    static_cast<void>(ca.release());  // owned by the context now
  }
  if (!at_pem_end()) fail_openssl("cert", "cannot load the inline PEM certificate chain");
  ERR_clear_error();
}

void load_key(SSL_CTX* ctx, const tls_server_config& cfg) {
  if (!cfg.key_file.empty() && !cfg.key.empty()) fail("key", "give key or key_file, not both");
  std::string field = "key_file";
  std::string what = "private key " + quoted(cfg.key_file);
  if (!cfg.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      fail_openssl("key_file", "cannot load private key " + quoted(cfg.key_file));
  } else {
    if (cfg.key.empty()) fail("key_file", "missing: give key_file (or key, inline PEM)");
    field = "key";
    what = "the inline PEM private key";
    bio_ptr bio = memory_bio(cfg.key);
    EVP_PKEY* pkey =
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr) : nullptr;
    if (!pkey) fail_openssl("key", "cannot load the inline PEM private key");
    const int ok = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    if (ok != 1) fail_openssl("key", "cannot use the inline PEM private key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    fail_openssl(field, what + " does not match the certificate");
}

void load_client_ca(SSL_CTX* ctx, const tls_server_config& cfg) {
  if (!cfg.client_ca_file.empty() && !cfg.client_ca.empty())
    fail("client_ca", "give client_ca or client_ca_file, not both");
  std::string_view field = cfg.client_ca_file.empty() ? "client_ca" : "client_ca_file";
  const std::string what = cfg.client_ca_file.empty()
                               ? std::string("the inline PEM client CA")
                               : "client CA file " + quoted(cfg.client_ca_file);
  bio_ptr bio;
  if (!cfg.client_ca_file.empty()) {
    bio.reset(BIO_new_file(cfg.client_ca_file.c_str(), "r"));
    if (!bio) fail_openssl(field, "cannot read " + what);
  } else {
    bio = memory_bio(cfg.client_ca);
    if (!bio) fail_openssl(field, "cannot read " + what);
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  for (;;) {
    x509_ptr ca(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!ca) break;
    ++count;
    // Both the trust store (to verify) and the names sent in the CertificateRequest, as Go
    // does with tls.Config.ClientCAs.
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1)
      fail_openssl(field, "cannot use a certificate of " + what);
  }
  if (!at_pem_end()) fail_openssl(field, "cannot load " + what);
  ERR_clear_error();
  // Go silently ends up with an empty pool (and refuses every client); say so instead.
  if (count == 0) fail(field, what + " holds no PEM certificate");
}

// The leaf's subject alternative names, as Go prints them: DNS names, e-mail addresses, IP
// addresses and URIs.
bool has_allowed_san(X509* cert, const std::vector<std::string>& allowed) {
  if (!cert) return false;
  std::unique_ptr<GENERAL_NAMES, general_names_deleter> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return false;
  const int n = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    std::string value;
    switch (gn->type) {
      case GEN_DNS:
      case GEN_EMAIL:
      case GEN_URI: {
        const ASN1_IA5STRING* s = gn->d.ia5;
        value.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
        break;
      }
      case GEN_IPADD: {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        const int len = ASN1_STRING_length(s);
        char buf[INET6_ADDRSTRLEN] = {};
        const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
        if (family < 0 || !inet_ntop(family, ASN1_STRING_get0_data(s), buf, sizeof buf)) continue;
        value = buf;
        break;
      }
      default:
        continue;
    }
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return true;
  }
  return false;
}

void set_client_auth(ssl::context& context, const tls_server_config& cfg) {
  SSL_CTX* ctx = context.native_handle();
  const bool has_ca = !cfg.client_ca_file.empty() || !cfg.client_ca.empty();
  const client_auth mode = cfg.client_auth_type;
  if (mode == client_auth::no_client_cert) {
    if (has_ca) {
      fail(cfg.client_ca_file.empty() ? "client_ca" : "client_ca_file",
           "a client CA is configured but client_auth_type is NoClientCert (no certificate is "
           "asked for); set client_auth_type, e.g. RequireAndVerifyClientCert");
    }
    if (!cfg.client_allowed_sans.empty()) {
      fail("client_allowed_sans",
           "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert");
    }
    context.set_verify_mode(ssl::verify_none);
    return;
  }
  if (client_cert_verified(mode) && !has_ca) {
    fail("client_ca_file", std::string("missing: client_auth_type ") +
                               std::string(to_string(mode)) +
                               " verifies client certificates against it");
  }
  if (!cfg.client_allowed_sans.empty() && !client_cert_required(mode)) {
    fail("client_allowed_sans",
         "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert, not " +
             std::string(to_string(mode)));
  }
  if (has_ca) load_client_ca(ctx, cfg);

  ssl::verify_mode verify = ssl::verify_peer;
  if (client_cert_required(mode)) verify |= ssl::verify_fail_if_no_peer_cert;
  context.set_verify_mode(verify);
  const bool check_chain = client_cert_verified(mode);
  context.set_verify_callback(
      [check_chain, sans = cfg.client_allowed_sans](bool preverified, ssl::verify_context& vc) {
        if (check_chain && !preverified) return false;
        X509_STORE_CTX* store = vc.native_handle();
        if (!sans.empty() && X509_STORE_CTX_get_error_depth(store) == 0 &&
            !has_allowed_san(X509_STORE_CTX_get_current_cert(store), sans)) {
          X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
          return false;
        }
        return true;  // the modes that do not verify accept any certificate
      });
}

void set_ciphers(SSL_CTX* ctx, const tls_server_config& cfg) {
  if (cfg.cipher_suites.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < cfg.cipher_suites.size(); ++i) {
    const std::string& name = cfg.cipher_suites[i];
    if (is_tls13_cipher_suite(name)) continue;
    const std::string_view openssl = openssl_cipher_name(name);
    if (openssl.empty()) {
      fail("cipher_suites[" + std::to_string(i) + "]",
           "unknown cipher suite \"" + name + "\" (expected a Go name such as " +
               "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
    }
    if (!list.empty()) list += ':';
    list += openssl;
  }
  if (list.empty()) {
    if (cfg.min_version < tls_version::tls13) {
      fail("cipher_suites",
           "lists only TLS 1.3 suites, which are not configurable; with min_version below TLS13 "
           "no TLS 1.0-1.2 suite would be left");
    }
    return;
  }
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1)
    fail_openssl("cipher_suites", "OpenSSL refuses \"" + list + "\"");
}

void set_curves(SSL_CTX* ctx, const tls_server_config& cfg) {
  if (cfg.curve_preferences.empty()) return;
  std::string list;
  for (std::size_t i = 0; i < cfg.curve_preferences.size(); ++i) {
    const std::string_view openssl = openssl_curve_name(cfg.curve_preferences[i]);
    if (openssl.empty()) {
      fail("curve_preferences[" + std::to_string(i) + "]",
           "unknown curve \"" + cfg.curve_preferences[i] +
               "\" (expected CurveP256, CurveP384, CurveP521 or X25519)");
    }
    if (!list.empty()) list += ':';
    list += openssl;
  }
  if (SSL_CTX_set1_groups_list(ctx, list.c_str()) != 1)
    fail_openssl("curve_preferences", "OpenSSL refuses \"" + list + "\"");
}

}  // namespace

bool client_cert_required(client_auth mode) noexcept {
  return mode == client_auth::require_any_client_cert ||
         mode == client_auth::require_and_verify_client_cert;
}

bool client_cert_verified(client_auth mode) noexcept {
  return mode == client_auth::verify_client_cert_if_given ||
         mode == client_auth::require_and_verify_client_cert;
}

std::string_view to_string(client_auth mode) noexcept {
  switch (mode) {
    case client_auth::no_client_cert:
      return "NoClientCert";
    case client_auth::request_client_cert:
      return "RequestClientCert";
    case client_auth::require_any_client_cert:
      return "RequireAnyClientCert";
    case client_auth::verify_client_cert_if_given:
      return "VerifyClientCertIfGiven";
    case client_auth::require_and_verify_client_cert:
      return "RequireAndVerifyClientCert";
  }
  return "?";
}

std::string_view to_string(tls_version version) noexcept {
  switch (version) {
    case tls_version::tls10:
      return "TLS10";
    case tls_version::tls11:
      return "TLS11";
    case tls_version::tls12:
      return "TLS12";
    case tls_version::tls13:
      return "TLS13";
  }
  return "?";
}

std::string_view openssl_cipher_name(std::string_view go_name) noexcept {
  for (const auto& c : k_cipher_suites)
    if (c.go == go_name) return c.openssl;
  return {};
}

bool is_tls13_cipher_suite(std::string_view go_name) noexcept {
  return std::find(k_tls13_suites.begin(), k_tls13_suites.end(), go_name) != k_tls13_suites.end();
}

std::string_view openssl_curve_name(std::string_view go_name) noexcept {
  for (const auto& c : k_curves)
    if (c.go == go_name) return c.openssl;
  return {};
}

ssl::context make_server_tls_context(const tls_server_config& cfg) {
  if (cfg.min_version > cfg.max_version) {
    fail("min_version", std::string(to_string(cfg.min_version)) + " is above max_version " +
                            std::string(to_string(cfg.max_version)));
  }
  ERR_clear_error();
  ssl::context context(ssl::context::tls_server);
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  // (Ephemeral keys are single-use in OpenSSL 3 anyway.)
  std::uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
  if (cfg.prefer_server_cipher_suites) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, options);
  if (SSL_CTX_set_min_proto_version(ctx, openssl_version(cfg.min_version)) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, openssl_version(cfg.max_version)) != 1)
    fail_openssl("min_version", "OpenSSL refuses the protocol range");
  // Session resumption with client certificates needs a session id context; without one
  // OpenSSL fails resumed handshakes when verify_peer is set.
  static constexpr unsigned char k_session_context[] = "operant-http";
  SSL_CTX_set_session_id_context(ctx, k_session_context, sizeof k_session_context - 1);

  load_certificate(ctx, cfg);
  load_key(ctx, cfg);
  set_client_auth(context, cfg);
  set_ciphers(ctx, cfg);
  set_curves(ctx, cfg);
  ERR_clear_error();
  return context;
}

}  // namespace operant::http::detail
