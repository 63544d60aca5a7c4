#include "operant/http/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "operant/detail/quote.h"
#include "operant/detail/text.h"
#include "tls.h"

namespace operant::http {

namespace {

namespace fs = std::filesystem;

using operant::detail::quote;

// ---- bcrypt hash syntax ---------------------------------------------------------------------

bool is_bcrypt_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

// "$2a$", "$2b$" or "$2y$", a two-digit cost 04..31, '$', 22 salt and 31 hash characters.
// Returns an empty string when valid, else what is wrong.
std::string bcrypt_hash_problem(std::string_view h) {
  if (h.size() < 4 || h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') ||
      h[3] != '$') {
    return "not a bcrypt hash (expected $2a$, $2b$ or $2y$, as htpasswd -B or Python's bcrypt "
           "make)";
  }
  if (h.size() != 60) return "not a bcrypt hash (a bcrypt hash has 60 characters)";
  if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
    return "not a bcrypt hash (the cost must be two digits)";
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return "bcrypt cost " + std::to_string(cost) + " is outside 4..31";
  if (!std::all_of(h.begin() + 7, h.end(), is_bcrypt_char))
    return "not a bcrypt hash (salt and hash use the characters ./A-Za-z0-9)";
  const std::string copy(h);
  const int check = crypt_checksalt(copy.c_str());
  if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY)
    return "libxcrypt refuses this bcrypt hash";
  return {};
}

int bcrypt_cost(std::string_view h) noexcept { return (h[4] - '0') * 10 + (h[5] - '0'); }

std::string check_users(const std::map<std::string, std::string, std::less<>>& users) {
  for (const auto& [name, hash] : users) {
    if (name.find(':') != std::string::npos) {
      return "basic_auth_users." + name + ": user name " + quote(name) +
             " contains ':', which basic authentication cannot carry";
    }
    if (std::string problem = bcrypt_hash_problem(hash); !problem.empty())
      return "basic_auth_users." + name + ": " + quote(hash) + " is " + problem;
  }
  return {};
}

// ---- the YAML document ----------------------------------------------------------------------

// The toolkit's allowed extra headers and, where it restricts them, their values.
struct allowed_header {
  std::string_view name;
  std::vector<std::string_view> values;  // empty: any value
};
const std::array<allowed_header, 5>& allowed_headers() {
  static const std::array<allowed_header, 5> headers{{
      {"Strict-Transport-Security", {}},
      {"X-Content-Type-Options", {"nosniff"}},
      {"X-Frame-Options", {"deny", "sameorigin"}},
      {"X-XSS-Protection", {}},
      {"Content-Security-Policy", {}},
  }};
  return headers;
}

class parser {
 public:
  explicit parser(const fs::path& origin) : file_(origin.string()), dir_(origin.parent_path()) {}

  web_config parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      fail_at(e.mark, "YAML syntax error: " + e.msg);
    }
    web_config cfg;
    if (!root.IsDefined() || root.IsNull()) return cfg;  // empty file: no TLS, no auth
    if (!root.IsMap()) fail(root, "", "the document must be a mapping (tls_server_config, ...)");
    for_each_entry(
        root, "", [&](const std::string& key, const YAML::Node& value, const std::string& path) {
          if (key == "tls_server_config") {
            cfg.tls = tls_section(value, path);
          } else if (key == "http_server_config") {
            http_section(value, path, cfg);
          } else if (key == "basic_auth_users") {
            users_section(value, path, cfg);
          } else if (key == "rate_limit") {
            fail(current_key_, path,
                 "not supported by operant (bound load with server_options.max_connections and "
                 "metrics_handler_options instead)");
          } else {
            unknown(path, "tls_server_config, http_server_config, basic_auth_users");
          }
        });
    return cfg;
  }

 private:
  std::string file_;
  fs::path dir_;
  mutable YAML::Node current_key_;  // the key whose value is being read

  [[noreturn]] void fail_at(const YAML::Mark& mark, const std::string& what) const {
    std::string msg = "web config " + file_;
    if (!mark.is_null() && mark.line >= 0)
      msg += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    msg += ": " + what;
    throw config_error(msg);
  }
  [[noreturn]] void fail(const YAML::Node& at, const std::string& path,
                         const std::string& what) const {
    fail_at(at.Mark(), path.empty() ? what : path + ": " + what);
  }
  // Reported at the key (the entry being read), which is where the typo is.
  [[noreturn]] void unknown(const std::string& path, std::string_view known) const {
    fail(current_key_, path, "unknown field (expected one of " + std::string(known) + ")");
  }

  // Calls f(key, value, dotted path) for each entry of a mapping, refusing non-scalar and
  // duplicate keys (the toolkit's strict decoding refuses duplicates too).
  template <typename F>
  void for_each_entry(const YAML::Node& map, const std::string& path, F&& f) const {
    std::set<std::string, std::less<>> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) fail(key, path, "keys must be plain strings");
      const std::string& name = key.Scalar();
      // Names with control bytes or spaces are quoted, so the message stays one readable line.
      const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f;
      });
      const std::string shown = plain ? name : quote(name);
      const std::string child = path.empty() ? shown : path + "." + shown;
      if (!seen.insert(name).second) fail(key, child, "given twice");
      current_key_.reset(key);  // rebinds; operator= would overwrite the previous key node
      f(name, value, child);
    }
  }

  bool is_empty(const YAML::Node& n) const { return !n.IsDefined() || n.IsNull(); }

  // A string field; null (`key:` with nothing) reads as empty, as Go's decoder does.
  std::string string_value(const YAML::Node& n, const std::string& path) const {
    if (n.IsNull()) return {};
    if (!n.IsScalar()) fail(n, path, "expected a string");
    return n.Scalar();
  }

  bool bool_value(const YAML::Node& n, const std::string& path) const {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      fail(n, path,
           (n.IsScalar() ? quote(n.Scalar()) + " is not" : std::string("expected")) +
               " a boolean (true or false)");
    }
    return b;
  }

  std::vector<std::pair<std::string, YAML::Node>> string_list(const YAML::Node& n,
                                                              const std::string& path) const {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (n.IsNull()) return out;
    if (!n.IsSequence()) fail(n, path, "expected a list of strings");
    std::size_t i = 0;
    for (auto it = n.begin(); it != n.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      if (!item.IsScalar()) fail(item, item_path, "expected a string");
      out.emplace_back(item.Scalar(), item);
    }
    return out;
  }

  // A file field: resolved against the configuration's directory, and readable now.
  fs::path file_value(const YAML::Node& n, const std::string& path) const {
    const std::string s = string_value(n, path);
    if (s.empty()) return {};
    if (s.find('\0') != std::string::npos) fail(n, path, quote(s) + " contains a NUL byte");
    fs::path p(s);
    if (p.is_relative()) p = dir_ / p;
    std::error_code ec;
    if (fs::is_directory(p, ec))
      fail(n, path, "cannot read " + quote(p.string()) + ": a directory");
    errno = 0;
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      const int err = errno;
      fail(n, path,
           "cannot read " + quote(p.string()) + ": " +
               (err ? std::generic_category().message(err) : std::string("cannot open")));
    }
    return p;
  }

  std::unique_ptr<tls_server_config> tls_section(const YAML::Node& section,
                                                 const std::string& path) const {
    if (is_empty(section)) return nullptr;
    if (!section.IsMap()) fail(section, path, "expected a mapping (cert_file, key_file, ...)");
    if (section.size() == 0) return nullptr;  // `{}`: no TLS, as in the toolkit
    auto tls = std::make_unique<tls_server_config>();
    std::set<std::string, std::less<>> given;
    YAML::Node auth_node, min_node, ciphers_node, sans_node;
    for_each_entry(
        section, path, [&](const std::string& key, const YAML::Node& value, const std::string& p) {
          if (key == "cert_file") {
            tls->cert_file = file_value(value, p);
          } else if (key == "key_file") {
            tls->key_file = file_value(value, p);
          } else if (key == "client_ca_file") {
            tls->client_ca_file = file_value(value, p);
          } else if (key == "cert") {
            tls->cert = string_value(value, p);
          } else if (key == "key") {
            tls->key = string_value(value, p);
          } else if (key == "client_ca") {
            tls->client_ca = string_value(value, p);
          } else if (key == "client_auth_type") {
            auth_node.reset(value);
            tls->client_auth_type = client_auth_value(value, p);
          } else if (key == "min_version") {
            min_node.reset(value);
            tls->min_version = version_value(value, p);
          } else if (key == "max_version") {
            tls->max_version = version_value(value, p);
          } else if (key == "cipher_suites") {
            ciphers_node.reset(value);
            for (auto& [name, node] : string_list(value, p)) {
              if (!http::detail::is_tls13_cipher_suite(name) &&
                  http::detail::openssl_cipher_name(name).empty()) {
                fail(node, p + "[" + std::to_string(tls->cipher_suites.size()) + "]",
                     "unknown cipher suite " + quote(name) +
                         " (expected a Go name such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)");
              }
              tls->cipher_suites.push_back(name);
            }
          } else if (key == "curve_preferences") {
            for (auto& [name, node] : string_list(value, p)) {
              if (http::detail::openssl_curve_name(name).empty()) {
                fail(node, p + "[" + std::to_string(tls->curve_preferences.size()) + "]",
                     "unknown curve " + quote(name) +
                         " (expected CurveP256, CurveP384, CurveP521 or X25519)");
              }
              tls->curve_preferences.push_back(name);
            }
          } else if (key == "prefer_server_cipher_suites") {
            tls->prefer_server_cipher_suites = bool_value(value, p);
          } else if (key == "client_allowed_sans") {
            sans_node.reset(value);
            for (auto& [name, node] : string_list(value, p))
              tls->client_allowed_sans.push_back(name);
          } else {
            unknown(p,
                    "cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, "
                    "min_version, max_version, cipher_suites, curve_preferences, "
                    "prefer_server_cipher_suites, client_allowed_sans");
          }
        });

    // Cross-field rules. A missing field is reported at the section.
    const std::string tp = path + ".";
    if (!tls->cert_file.empty() && !tls->cert.empty())
      fail(section, tp + "cert", "give cert or cert_file, not both");
    if (tls->cert_file.empty() && tls->cert.empty())
      fail(section, tp + "cert_file", "missing: give cert_file (or cert, inline PEM)");
    if (!tls->key_file.empty() && !tls->key.empty())
      fail(section, tp + "key", "give key or key_file, not both");
    if (tls->key_file.empty() && tls->key.empty())
      fail(section, tp + "key_file", "missing: give key_file (or key, inline PEM)");
    if (!tls->client_ca_file.empty() && !tls->client_ca.empty())
      fail(section, tp + "client_ca", "give client_ca or client_ca_file, not both");
    const bool has_ca = !tls->client_ca_file.empty() || !tls->client_ca.empty();
    const client_auth mode = tls->client_auth_type;
    const std::string mode_name(http::detail::to_string(mode));
    if (http::detail::client_cert_verified(mode) && !has_ca) {
      fail(auth_node.IsDefined() ? auth_node : section, tp + "client_ca_file",
           "missing: client_auth_type " + mode_name + " verifies client certificates against it");
    }
    if (has_ca && mode == client_auth::no_client_cert) {
      fail(auth_node.IsDefined() ? auth_node : section, tp + "client_auth_type",
           "is NoClientCert but a client CA is configured; set client_auth_type (e.g. "
           "RequireAndVerifyClientCert) or remove the client CA");
    }
    if (!tls->client_allowed_sans.empty() && !http::detail::client_cert_required(mode)) {
      fail(sans_node, tp + "client_allowed_sans",
           "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert, not " +
               mode_name);
    }
    if (tls->min_version > tls->max_version) {
      fail(min_node.IsDefined() ? min_node : section, tp + "min_version",
           std::string(http::detail::to_string(tls->min_version)) + " is above max_version " +
               std::string(http::detail::to_string(tls->max_version)));
    }
    if (!tls->cipher_suites.empty() && tls->min_version < tls_version::tls13 &&
        std::all_of(tls->cipher_suites.begin(), tls->cipher_suites.end(),
                    [](const std::string& s) { return http::detail::is_tls13_cipher_suite(s); })) {
      fail(ciphers_node, tp + "cipher_suites",
           "lists only TLS 1.3 suites, which are not configurable; with min_version below TLS13 "
           "no TLS 1.0-1.2 suite would be left");
    }
    return tls;
  }

  client_auth client_auth_value(const YAML::Node& n, const std::string& path) const {
    const std::string s = string_value(n, path);
    if (s.empty() || s == "NoClientCert") return client_auth::no_client_cert;
    if (s == "RequestClientCert") return client_auth::request_client_cert;
    // "RequireClientCert" is the toolkit's old spelling, still accepted there.
    if (s == "RequireAnyClientCert" || s == "RequireClientCert")
      return client_auth::require_any_client_cert;
    if (s == "VerifyClientCertIfGiven") return client_auth::verify_client_cert_if_given;
    if (s == "RequireAndVerifyClientCert") return client_auth::require_and_verify_client_cert;
    fail(n, path,
         quote(s) +
             " is not a client auth type (expected NoClientCert, RequestClientCert, "
             "RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)");
  }

  tls_version version_value(const YAML::Node& n, const std::string& path) const {
    const std::string s = string_value(n, path);
    if (s == "TLS10") return tls_version::tls10;
    if (s == "TLS11") return tls_version::tls11;
    if (s == "TLS12") return tls_version::tls12;
    if (s == "TLS13") return tls_version::tls13;
    fail(n, path, quote(s) + " is not a TLS version (expected TLS10, TLS11, TLS12 or TLS13)");
  }

  void http_section(const YAML::Node& section, const std::string& path, web_config& cfg) const {
    if (is_empty(section)) return;
    if (!section.IsMap()) fail(section, path, "expected a mapping (headers, http2)");
    for_each_entry(
        section, path, [&](const std::string& key, const YAML::Node& value, const std::string& p) {
          if (key == "http2") {
            static_cast<void>(bool_value(value, p));  // checked, then ignored: HTTP/1.1 only
          } else if (key == "headers") {
            headers(value, p, cfg);
          } else {
            unknown(p, "headers, http2");
          }
        });
  }

  void headers(const YAML::Node& map, const std::string& path, web_config& cfg) const {
    if (is_empty(map)) return;
    if (!map.IsMap()) fail(map, path, "expected a mapping of header names to values");
    for_each_entry(
        map, path, [&](const std::string& name, const YAML::Node& value, const std::string& p) {
          const auto& known = allowed_headers();
          const auto it = std::find_if(known.begin(), known.end(),
                                       [&](const allowed_header& h) { return h.name == name; });
          if (it == known.end()) {
            fail(value, p,
                 "header " + quote(name) +
                     " can not be configured (allowed: Strict-Transport-Security, "
                     "X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
                     "Content-Security-Policy)");
          }
          const std::string v = string_value(value, p);
          if (!it->values.empty() &&
              std::find(it->values.begin(), it->values.end(), v) == it->values.end()) {
            std::string expected;
            for (const auto& a : it->values)
              expected += (expected.empty() ? "" : " or ") + quote(a);
            fail(value, p, quote(v) + " is not allowed (expected " + expected + ")");
          }
          if (std::any_of(v.begin(), v.end(), [](char c) {
                const auto u = static_cast<unsigned char>(c);
                return (u < 0x20 && c != '\t') || u == 0x7f;
              }))
            fail(value, p, quote(v) + " contains a control character");
          cfg.headers.emplace(name, v);
        });
  }

  void users_section(const YAML::Node& section, const std::string& path, web_config& cfg) const {
    if (is_empty(section)) return;
    if (!section.IsMap()) fail(section, path, "expected a mapping of user names to bcrypt hashes");
    for_each_entry(section, path,
                   [&](const std::string& name, const YAML::Node& value, const std::string& p) {
                     if (name.find(':') != std::string::npos) {
                       fail(value, p,
                            "user name " + quote(name) +
                                " contains ':', which basic authentication cannot carry");
                     }
                     if (value.IsNull()) fail(value, p, "missing bcrypt hash");
                     const std::string hash = string_value(value, p);
                     if (std::string problem = bcrypt_hash_problem(hash); !problem.empty())
                       fail(value, p, quote(hash) + " is " + problem);
                     cfg.basic_auth_users.emplace(name, hash);
                   });
  }
};

// ---- basic authentication -------------------------------------------------------------------

using digest = std::array<unsigned char, 32>;

struct digest_hash {
  std::size_t operator()(const digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);  // a SHA-256 is uniform already
    return h;
  }
};

constexpr std::size_t k_cache_size = 100;    // as the toolkit's
constexpr std::size_t k_max_password = 72;   // bcrypt reads no further
constexpr std::size_t k_max_encoded = 1368;  // base64 of 1 KiB of "user:password"

using operant::detail::base64_value;

// Standard base64 with padding, canonical only (unused bits zero): one text, one encoding.
bool decode_base64(std::string_view in, std::string& out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > k_max_encoded) return false;
  std::size_t pad = 0;
  if (in.back() == '=') pad = (in[in.size() - 2] == '=') ? 2 : 1;
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    for (std::size_t j = 0; j < 4; ++j) {
      const bool is_pad = last && j >= 4 - pad;
      v[j] = is_pad ? 0 : base64_value(static_cast<unsigned char>(in[i + j]));
      if (v[j] < 0) return false;  // includes '=' anywhere but the end
    }
    const unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                       (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (last && pad == 2) {
      if ((n & 0xffff) != 0) return false;
      break;
    }
    out += static_cast<char>((n >> 8) & 0xff);
    if (last && pad == 1) {
      if ((n & 0xff) != 0) return false;
      break;
    }
    out += static_cast<char>(n & 0xff);
  }
  return true;
}


// Equality whose time depends on the lengths only.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

web_config parse_web_config(std::string_view yaml, const std::filesystem::path& origin) {
  try {
    return parser(origin).parse(yaml);
  } catch (const config_error&) {
    throw;
  } catch (const YAML::Exception& e) {
    // yaml-cpp may throw while walking nodes (e.g. a conversion); report it as the file's fault.
    std::string msg = "web config " + origin.string();
    if (!e.mark.is_null() && e.mark.line >= 0)
      msg += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw config_error(msg + ": " + e.msg);
  }
}

web_config load_web_config(const std::filesystem::path& file) {
  constexpr std::uintmax_t k_max_size = std::uintmax_t{4} << 20;
  std::error_code ec;
  if (fs::is_directory(file, ec))
    throw config_error("web config " + file.string() + ": cannot read: a directory");
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw config_error("web config " + file.string() + ": cannot read: " +
                       (err ? std::generic_category().message(err) : std::string("cannot open")));
  }
  std::string text;
  char buf[16384];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > k_max_size)
      throw config_error("web config " + file.string() + ": larger than 4 MiB");
  }
  if (in.bad()) throw config_error("web config " + file.string() + ": read error");
  return parse_web_config(text, file);
}

struct basic_authenticator::impl {
  std::vector<std::pair<std::string, std::string>> users;  // name, bcrypt hash
  std::string dummy_hash;  // checked for unknown users, at the highest configured cost
  std::array<unsigned char, 32> cache_key_salt{};  // per process: cache keys say nothing later

  mutable std::mutex cache_mu;
  mutable std::unordered_map<digest, bool, digest_hash> cache;

  mutable std::mutex bcrypt_mu;  // one bcrypt at a time, as in the toolkit: it is CPU-bound
  mutable crypt_data bcrypt_data{};
  mutable std::atomic<std::uint64_t> bcrypt_count{0};

  digest cache_key(std::string_view user, std::string_view password) const {
    digest d{};
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    const std::uint64_t user_len = user.size();
    unsigned int len = 0;
    const bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
                    EVP_DigestUpdate(md, cache_key_salt.data(), cache_key_salt.size()) == 1 &&
                    EVP_DigestUpdate(md, &user_len, sizeof user_len) == 1 &&
                    EVP_DigestUpdate(md, user.data(), user.size()) == 1 &&
                    EVP_DigestUpdate(md, password.data(), password.size()) == 1 &&
                    EVP_DigestFinal_ex(md, d.data(), &len) == 1 && len == d.size();
    EVP_MD_CTX_free(md);
    if (!ok) throw std::runtime_error("basic_authenticator: SHA-256 failed");
    return d;
  }

  bool bcrypt_matches(const std::string& password, const std::string& hash) const {
    std::lock_guard lock(bcrypt_mu);
    std::memset(&bcrypt_data, 0, sizeof bcrypt_data);
    const char* out = crypt_rn(password.c_str(), hash.c_str(), &bcrypt_data,
                               static_cast<int>(sizeof bcrypt_data));
    bcrypt_count.fetch_add(1, std::memory_order_relaxed);
    return out != nullptr && constant_time_equal(out, hash);
  }
};

basic_authenticator::basic_authenticator(std::map<std::string, std::string, std::less<>> users)
    : impl_(std::make_unique<impl>()) {
  if (std::string problem = check_users(users); !problem.empty())
    throw config_error("basic_authenticator: " + problem);
  int max_cost = 0;
  while (!users.empty()) {
    auto entry = users.extract(users.begin());
    max_cost = std::max(max_cost, bcrypt_cost(entry.mapped()));
    impl_->users.emplace_back(std::move(entry.key()), std::move(entry.mapped()));
  }
  if (!impl_->users.empty()) {
    // A real bcrypt setting (random salt) that no crypt output can equal: crypt_rn returns the
    // 60-character hash, the setting has 29 characters.
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(max_cost), nullptr, 0, setting,
                          sizeof setting))
      throw std::system_error(errno, std::generic_category(), "basic_authenticator: crypt_gensalt");
    impl_->dummy_hash = setting;
  }
  if (RAND_bytes(impl_->cache_key_salt.data(), static_cast<int>(impl_->cache_key_salt.size())) != 1)
    throw std::runtime_error("basic_authenticator: no random bytes for the cache key");
}

basic_authenticator::~basic_authenticator() {
  std::lock_guard lock(impl_->bcrypt_mu);
  OPENSSL_cleanse(&impl_->bcrypt_data, sizeof impl_->bcrypt_data);
}

bool basic_authenticator::empty() const noexcept { return impl_->users.empty(); }

std::uint64_t basic_authenticator::bcrypt_computations() const noexcept {
  return impl_->bcrypt_count.load(std::memory_order_relaxed);
}

bool basic_authenticator::check(std::string_view authorization, std::string* user) const {
  if (impl_->users.empty()) return false;
  constexpr std::string_view k_scheme = "basic ";
  if (authorization.size() < k_scheme.size() ||
      !boost::beast::iequals(authorization.substr(0, k_scheme.size()), k_scheme))
    return false;
  std::string decoded;
  // The decoded text holds the password: wiped on every way out.
  struct wipe {
    std::string& s;
    ~wipe() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe_decoded{decoded};
  if (!decode_base64(authorization.substr(k_scheme.size()), decoded)) return false;
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  const std::string_view text = decoded;
  const std::string_view name = text.substr(0, colon);
  const std::string_view password = text.substr(colon + 1);
  if (password.size() > k_max_password || password.find('\0') != std::string_view::npos)
    return false;

  // Every configured name is compared, in time that depends on lengths only.
  const std::pair<std::string, std::string>* found = nullptr;
  for (const auto& entry : impl_->users) {
    const bool same = constant_time_equal(entry.first, name);
    found = same ? &entry : found;
  }
  // Keyed by the name as sent, so that a cached miss for one unknown name cannot make another
  // unknown name answer faster than a known one.
  const digest key = impl_->cache_key(name, password);
  std::optional<bool> cached;
  {
    std::lock_guard lock(impl_->cache_mu);
    const auto it = impl_->cache.find(key);
    if (it != impl_->cache.end()) cached = it->second;
  }
  bool ok = false;
  if (cached) {
    ok = *cached;
  } else {
    std::string pw(password);  // crypt_rn wants a NUL-terminated string
    struct wipe pw_wipe {
      pw
    };
    ok = impl_->bcrypt_matches(pw, found ? found->second : impl_->dummy_hash) && found;
    std::lock_guard lock(impl_->cache_mu);
    if (impl_->cache.size() >= k_cache_size) {
      // Keys are uniform hashes, so the first tenth in bucket order is a random tenth.
      auto it = impl_->cache.begin();
      for (std::size_t i = 0; i < k_cache_size / 10 && it != impl_->cache.end(); ++i)
        it = impl_->cache.erase(it);
    }
    impl_->cache.emplace(key, ok);
  }
  if (ok && user) *user = found->first;
  return ok;
}

}  // namespace operant::http
