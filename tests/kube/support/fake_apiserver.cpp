// The loopback Kubernetes API server of the kube tests: see fake_apiserver.h.
//
// Structure: utilities (time, ids, base64, queries) -> the test CA (OpenSSL) -> metav1.Status
// builders -> label and field selectors -> patches -> the store and its history (one mutex) ->
// watches (one queue per watch, fed under the store mutex) -> the HTTP server (a thread per
// connection, synchronous Beast over TCP or TLS) -> the public API.
//
// Shutdown: stop() marks the server stopping, shuts down (not closes) the listening socket and
// every connection's descriptor so blocked accept/read/write calls return, wakes every watch and
// every sleep, and joins the threads. A connection thread unregisters its descriptor under the
// same mutex before the socket object closes it, so a descriptor is never shut down after reuse.
// GCC 12's -Wnull-dereference is a middle-end warning that fires inside Asio's inlined code
// (io_context.hpp), where system-header suppression no longer applies; operant_http turns it off
// for the same reason. The target's -Wno-null-dereference comes before operant_warnings'
// -Wnull-dereference on the command line, so it is turned off here, before any include.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "fake_apiserver.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

namespace operant::kube::test {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using obj_ptr = std::shared_ptr<const json>;
using steady = std::chrono::steady_clock;

// ---- small utilities ---------------------------------------------------------------------------

std::uint64_t random_u64() {
  static std::mutex mu;
  static std::mt19937_64 gen{std::random_device{}()};
  std::lock_guard lock(mu);
  return gen();
}

std::string new_uuid() {
  unsigned char b[16];
  const std::uint64_t hi = random_u64(), lo = random_u64();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(hi >> (8 * i));
    b[8 + i] = static_cast<unsigned char>(lo >> (8 * i));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 15];
  }
  return out;
}

// The apiserver's names.SimpleNameGenerator: 5 characters from an alphabet without vowels.
std::string random_suffix() {
  static const std::string alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) out += alphabet[random_u64() % alphabet.size()];
  return out;
}

std::string rfc3339_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* const b64_std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char* const b64_url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Go's base64.RawURLEncoding (no padding), as the continue token uses.
std::string base64url_encode(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(in[i + 1])) << 8) |
                       unsigned(static_cast<unsigned char>(in[i + 2]));
    out += b64_url[(v >> 18) & 63];
    out += b64_url[(v >> 12) & 63];
    out += b64_url[(v >> 6) & 63];
    out += b64_url[v & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16;
    out += b64_url[(v >> 18) & 63];
    out += b64_url[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    const unsigned v = (unsigned(static_cast<unsigned char>(in[i])) << 16) |
                       (unsigned(static_cast<unsigned char>(in[i + 1])) << 8);
    out += b64_url[(v >> 18) & 63];
    out += b64_url[(v >> 12) & 63];
    out += b64_url[(v >> 6) & 63];
  }
  return out;
}

// Decodes `alphabet` base64; padding is accepted only when `padded` (and then required).
std::optional<std::string> base64_decode(std::string_view in, const char* alphabet, bool padded) {
  if (padded) {
    if (in.size() % 4 != 0) return std::nullopt;
    while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = std::strchr(alphabet, c);
    if (c == '\0' || p == nullptr) return std::nullopt;
    acc = (acc << 6) | unsigned(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space in queries (Go's QueryUnescape), not in paths.
std::string pct_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    std::string key = pct_decode(part.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string() : pct_decode(part.substr(eq + 1), true);
    out.emplace(std::move(key), std::move(value));  // the first value wins, as url.Values.Get
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

// Go's %q for the ASCII strings of these messages.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---- object helpers ----------------------------------------------------------------------------

json& meta_of(json& o) {
  auto it = o.find("metadata");
  if (it == o.end() || !it->is_object()) o["metadata"] = json::object();
  return o["metadata"];
}

std::string str_of(const json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string meta_str(const json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find("metadata");
  return it == o.end() ? std::string() : str_of(*it, key);
}

// The metadata of a stored object (always an object; an empty one otherwise).
const json& meta_c(const json& o) {
  static const json empty = json::object();
  if (!o.is_object()) return empty;
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : empty;
}

bool has_finalizers(const json& o) {
  if (!o.is_object()) return false;
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return false;
  auto f = m->find("finalizers");
  return f != m->end() && f->is_array() && !f->empty();
}

// Everything but metadata and status: what metadata.generation tracks.
json spec_part(const json& o) {
  json copy = o;
  if (copy.is_object()) {
    copy.erase("metadata");
    copy.erase("status");
  }
  return copy;
}

std::optional<std::uint64_t> parse_u64(std::string_view s, bool* overflow = nullptr) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = std::uint64_t(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
      if (overflow) *overflow = true;
      return std::nullopt;
    }
    v = v * 10 + d;
  }
  return v;
}

std::optional<std::int64_t> parse_i64(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  auto v = parse_u64(s);
  if (!v || *v > std::uint64_t(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return neg ? -std::int64_t(*v) : std::int64_t(*v);
}

// ---- the test CA
// ---------------------------------------------------------------------------------

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

[[noreturn]] void ssl_fail(const char* what) {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error(std::string("test_ca: ") + what + ": " + buf);
}

pkey_ptr new_ec_key() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr) ssl_fail("EVP_PKEY_Q_keygen");
  return pkey_ptr(k);
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  const long n = BIO_ctrl(b, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  return n > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string cert_pem_of(X509* x) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_X509(b.get(), x) != 1) ssl_fail("PEM_write_bio_X509");
  return bio_text(b.get());
}

std::string key_pem_of(EVP_PKEY* k) {
  bio_ptr b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    ssl_fail("PEM_write_bio_PrivateKey");
  return bio_text(b.get());
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1)
    ssl_fail("X509_NAME_add_entry_by_txt");
}

// A certificate for `key` named CN=cn (O=orgs...), signed by issuer/issuer_key (self-signed when
// issuer is null), with the given extensions in order (subjectKeyIdentifier before
// authorityKeyIdentifier).
x509_ptr make_cert(EVP_PKEY* key, std::string_view cn, const std::vector<std::string>& orgs,
                   X509* issuer, EVP_PKEY* issuer_key,
                   const std::vector<std::pair<int, std::string>>& extensions) {
  x509_ptr x(X509_new());
  if (!x) ssl_fail("X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x.get()), random_u64() >> 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 2L * 24 * 3600);
  if (X509_set_pubkey(x.get(), key) != 1) ssl_fail("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x.get());
  for (const auto& o : orgs) add_name_entry(name, "O", o);
  add_name_entry(name, "CN", cn);
  X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx{};
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) ssl_fail("X509V3_EXT_conf_nid");
    const int ok = X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) ssl_fail("X509_add_ext");
  }
  if (X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0)
    ssl_fail("X509_sign");
  return x;
}

}  // namespace

struct test_ca::impl {
  pkey_ptr key;
  x509_ptr cert;
  std::string pem;
};

test_ca::test_ca(std::string_view common_name) : impl_(std::make_unique<impl>()) {
  impl_->key = new_ec_key();
  impl_->cert = make_cert(impl_->key.get(), common_name, {}, nullptr, nullptr,
                          {{NID_basic_constraints, "critical,CA:TRUE"},
                           {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                           {NID_subject_key_identifier, "hash"},
                           {NID_authority_key_identifier, "keyid:always"}});
  impl_->pem = cert_pem_of(impl_->cert.get());
}
test_ca::~test_ca() = default;
test_ca::test_ca(test_ca&&) noexcept = default;
test_ca& test_ca::operator=(test_ca&&) noexcept = default;

const std::string& test_ca::cert_pem() const { return impl_->pem; }

key_pair test_ca::issue_server(const std::vector<std::string>& dns_names,
                               const std::vector<std::string>& ip_addresses) const {
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  auto key = new_ec_key();
  std::vector<std::pair<int, std::string>> ext = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!san.empty()) ext.emplace_back(NID_subject_alt_name, san);
  const std::string cn = dns_names.empty() ? "server" : dns_names.front();
  auto cert = make_cert(key.get(), cn, {}, impl_->cert.get(), impl_->key.get(), ext);
  return {cert_pem_of(cert.get()), key_pem_of(key.get())};
}

key_pair test_ca::issue_client(std::string_view common_name,
                               const std::vector<std::string>& organizations) const {
  auto key = new_ec_key();
  auto cert = make_cert(key.get(), common_name, organizations, impl_->cert.get(), impl_->key.get(),
                        {{NID_basic_constraints, "critical,CA:FALSE"},
                         {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                         {NID_ext_key_usage, "clientAuth"},
                         {NID_subject_key_identifier, "hash"},
                         {NID_authority_key_identifier, "keyid:always"}});
  return {cert_pem_of(cert.get()), key_pem_of(key.get())};
}

// ---- metav1.Status -----------------------------------------------------------------------------

status_error::status_error(nlohmann::json status)
    : std::runtime_error(str_of(status, "message")), status_(std::move(status)) {
  auto c = status_.find("code");
  code_ = c != status_.end() && c->is_number_unsigned() ? c->get<unsigned>() : 500;
  reason_ = str_of(status_, "reason");
}

namespace {

json make_status(unsigned code, std::string_view reason, std::string_view message,
                 json details = nullptr) {
  json s = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Failure"},
            {"message", message}};
  if (!reason.empty()) s["reason"] = reason;
  if (!details.is_null()) s["details"] = std::move(details);
  s["code"] = code;
  return s;
}

status_error fail_status(unsigned code, std::string_view reason, std::string_view message,
                         json details = nullptr) {
  return status_error(make_status(code, reason, message, std::move(details)));
}

std::string qualified(const resource_type& rt) {
  return rt.group.empty() ? rt.resource : rt.resource + "." + rt.group;
}

json details_of(const resource_type& rt, std::string_view name) {
  json d = json::object();
  if (!name.empty()) d["name"] = name;
  if (!rt.group.empty()) d["group"] = rt.group;
  d["kind"] = rt.resource;
  return d;
}

status_error not_found(const resource_type& rt, std::string_view name) {
  return fail_status(404, "NotFound", qualified(rt) + " " + go_quote(name) + " not found",
                     details_of(rt, name));
}

status_error route_not_found() {
  return fail_status(404, "NotFound", "the server could not find the requested resource",
                     json::object());
}

status_error already_exists(const resource_type& rt, std::string_view name) {
  return fail_status(409, "AlreadyExists", qualified(rt) + " " + go_quote(name) + " already exists",
                     details_of(rt, name));
}

status_error conflict(const resource_type& rt, std::string_view name, std::string_view why) {
  return fail_status(409, "Conflict",
                     "Operation cannot be fulfilled on " + qualified(rt) + " " + go_quote(name) +
                         ": " + std::string(why),
                     details_of(rt, name));
}

constexpr const char* optimistic_lock_msg =
    "the object has been modified; please apply your changes to the latest version and try again";

status_error bad_request(std::string_view message) {
  return fail_status(400, "BadRequest", message);
}

status_error method_not_allowed() {
  return fail_status(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource",
                     json::object());
}

status_error expired(std::string_view message) { return fail_status(410, "Expired", message); }

// One field.Error: type is "FieldValueRequired", "FieldValueInvalid", "FieldValueForbidden",
// "FieldValueNotSupported"; text is its ErrorBody ("Required value: ...").
struct field_error {
  std::string type, field, text;
};

// errors.NewInvalid: `Kind.group "name" is invalid: <aggregate>`.
status_error invalid(std::string_view kind, std::string_view group, std::string_view name,
                     const std::vector<field_error>& errs) {
  std::string agg;
  json causes = json::array();
  for (const auto& e : errs) {
    if (!agg.empty()) agg += ", ";
    agg += e.field + ": " + e.text;
    causes.push_back({{"reason", e.type}, {"message", e.text}, {"field", e.field}});
  }
  if (errs.size() > 1) agg = "[" + agg + "]";
  const std::string qkind =
      group.empty() ? std::string(kind) : std::string(kind) + "." + std::string(group);
  json d = json::object();
  if (!name.empty()) d["name"] = name;
  if (!group.empty()) d["group"] = group;
  d["kind"] = kind;
  d["causes"] = causes;
  return fail_status(422, "Invalid", qkind + " " + go_quote(name) + " is invalid: " + agg, d);
}

status_error invalid_list_options(const std::vector<field_error>& errs) {
  return invalid("ListOptions", "meta.k8s.io", "", errs);
}

std::string reason_for(unsigned code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

// The Status a fault-injection rule answers with.
json injected_status(unsigned code, int retry_after) {
  switch (code) {
    case 429:
      return make_status(429, "TooManyRequests", "Too many requests, please try again later.",
                         {{"retryAfterSeconds", retry_after}});
    case 500:
      return make_status(
          500, "InternalError", "Internal error occurred: injected by the test apiserver",
          {{"causes", json::array({{{"message", "injected by the test apiserver"}}})}});
    case 503:
      return make_status(503, "ServiceUnavailable", "The service is currently unavailable",
                         {{"retryAfterSeconds", retry_after}});
    case 504:
      return make_status(504, "Timeout",
                         "Timeout: request did not complete within the allowed duration",
                         {{"retryAfterSeconds", retry_after}});
    default:
      return make_status(code, reason_for(code),
                         "injected error " + std::to_string(code) + " from the test apiserver");
  }
}

// ---- label selectors (k8s.io/apimachinery/pkg/labels.Parse) ----------------------------------

enum class tok { ident, in, notin, bang, eq, deq, neq, gt, lt, open, close, comma, end };
struct token {
  tok type;
  std::string lit;
};

std::vector<token> lex_selector(std::string_view s) {
  std::vector<token> out;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  const auto special = [](char c) {
    return c == '!' || c == '=' || c == '>' || c == '<' || c == '(' || c == ')' || c == ',';
  };
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (space(c)) {
      ++i;
      continue;
    }
    if (special(c)) {
      const bool two = i + 1 < s.size() && s[i + 1] == '=';
      if (c == '!' && two) {
        out.push_back({tok::neq, "!="});
        i += 2;
      } else if (c == '=' && two) {
        out.push_back({tok::deq, "=="});
        i += 2;
      } else {
        const tok t = c == '!'   ? tok::bang
                      : c == '=' ? tok::eq
                      : c == '>' ? tok::gt
                      : c == '<' ? tok::lt
                      : c == '(' ? tok::open
                      : c == ')' ? tok::close
                                 : tok::comma;
        out.push_back({t, std::string(1, c)});
        ++i;
      }
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && !space(s[j]) && !special(s[j])) ++j;
    std::string lit(s.substr(i, j - i));
    const tok t = lit == "in" ? tok::in : lit == "notin" ? tok::notin : tok::ident;
    out.push_back({t, std::move(lit)});
    i = j;
  }
  out.push_back({tok::end, ""});
  return out;
}

enum class label_op { eq, neq, in, notin, exists, not_exists, gt, lt };
struct label_req {
  std::string key;
  label_op op;
  std::vector<std::string> values;
};
using label_selector = std::vector<label_req>;

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 characters.
bool valid_label_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: lower-case alphanumerics, '-' and '.', at most 253.
bool valid_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  const auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return lower_alnum(c) || c == '-' || c == '.'; });
}

std::string label_key_error(std::string_view key) {
  const std::size_t slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (valid_label_name(key)) return {};
  } else {
    const auto prefix = key.substr(0, slash), name = key.substr(slash + 1);
    if (prefix.empty()) return "prefix part must be non-empty";
    if (!valid_dns_subdomain(prefix))
      return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character";
    if (valid_label_name(name)) return {};
  }
  return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
         "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
         "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
}

class label_parser {
 public:
  explicit label_parser(std::string_view s) : toks_(lex_selector(s)) {}

  label_selector parse() {
    label_selector out;
    for (;;) {
      const token& t = peek();
      if (t.type == tok::end) return out;
      if (t.type != tok::ident && t.type != tok::bang)
        fail("found '" + t.lit + "', expected: !, identifier, or 'end of string'");
      out.push_back(requirement());
      const token& after = peek();
      if (after.type == tok::end) return out;
      if (after.type != tok::comma)
        fail("found '" + after.lit + "', expected: ',' or 'end of string'");
      next();
      const token& n = peek();
      if (n.type != tok::ident && n.type != tok::bang)
        fail("found '" + n.lit + "', expected: identifier after ','");
    }
  }

 private:
  const token& peek() const { return toks_[pos_]; }
  const token& next() { return toks_[pos_ + 1 < toks_.size() ? pos_++ : pos_]; }
  [[noreturn]] static void fail(const std::string& why) { throw bad_request(why); }
  [[noreturn]] static void fail_req(const std::string& why) {
    throw bad_request("unable to parse requirement: " + why);
  }

  label_req requirement() {
    label_req r{{}, label_op::exists, {}};
    if (peek().type == tok::bang) {
      next();
      r.op = label_op::not_exists;
    }
    const token& k = next();
    if (k.type != tok::ident) fail_req("found '" + k.lit + "', expected: identifier");
    r.key = k.lit;
    if (auto e = label_key_error(r.key); !e.empty())
      fail_req("key: Invalid value: " + go_quote(r.key) + ": " + e);
    if (r.op == label_op::not_exists) return r;
    if (peek().type == tok::end || peek().type == tok::comma) return r;
    const token& op = next();
    switch (op.type) {
      case tok::in:
        r.op = label_op::in;
        break;
      case tok::notin:
        r.op = label_op::notin;
        break;
      case tok::eq:
      case tok::deq:
        r.op = label_op::eq;
        break;
      case tok::neq:
        r.op = label_op::neq;
        break;
      case tok::gt:
        r.op = label_op::gt;
        break;
      case tok::lt:
        r.op = label_op::lt;
        break;
      default:
        fail_req("found '" + op.lit + "', expected: in, notin, =, ==, !=, gt, lt");
    }
    if (r.op == label_op::in || r.op == label_op::notin) {
      const token& open = next();
      if (open.type != tok::open) fail_req("found '" + open.lit + "', expected: '('");
      bool expect_value = true;
      for (;;) {
        const token& t = next();
        if (t.type == tok::close) {
          if (expect_value && !r.values.empty()) r.values.emplace_back();  // "(a,)"
          break;
        }
        if (t.type == tok::comma) {
          if (expect_value) r.values.emplace_back();  // "(,a)"
          expect_value = true;
          continue;
        }
        if ((t.type == tok::ident || t.type == tok::in || t.type == tok::notin) && expect_value) {
          r.values.push_back(t.lit);
          expect_value = false;
          continue;
        }
        fail_req("found '" + t.lit + "', expected: ',', ')' or identifier");
      }
      if (r.values.empty()) fail_req("for 'in', 'notin' operators, values set can't be empty");
    } else {
      const token& v = peek();
      if (v.type == tok::end || v.type == tok::comma) {
        r.values.emplace_back();
      } else if (v.type == tok::ident || v.type == tok::in || v.type == tok::notin) {
        r.values.push_back(next().lit);
      } else {
        fail_req("found '" + v.lit + "', expected: identifier");
      }
      if ((r.op == label_op::gt || r.op == label_op::lt) && !parse_i64(r.values[0]))
        fail_req("for 'Gt', 'Lt' operators, the value must be an integer");
    }
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      const auto& v = r.values[i];
      if (!v.empty() && !valid_label_name(v))
        fail_req("values[" + std::to_string(i) + "][" + r.key + "]: Invalid value: " + go_quote(v) +
                 ": a valid label must be an empty string or consist of alphanumeric characters, "
                 "'-', '_' or '.', and must start and end with an alphanumeric character");
    }
    return r;
  }

  std::vector<token> toks_;
  std::size_t pos_ = 0;
};

bool labels_match(const label_selector& sel, const json& obj) {
  const json* labels = nullptr;
  if (obj.is_object()) {
    auto m = obj.find("metadata");
    if (m != obj.end() && m->is_object()) {
      auto l = m->find("labels");
      if (l != m->end() && l->is_object()) labels = &*l;
    }
  }
  for (const auto& r : sel) {
    std::optional<std::string> value;
    if (labels) {
      auto it = labels->find(r.key);
      if (it != labels->end() && it->is_string()) value = it->get<std::string>();
    }
    const auto in_set = [&] {
      return std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    };
    bool ok = false;
    switch (r.op) {
      case label_op::eq:
        ok = value && *value == r.values[0];
        break;
      case label_op::neq:
        ok = !value || *value != r.values[0];
        break;
      case label_op::in:
        ok = value && in_set();
        break;
      case label_op::notin:
        ok = !value || !in_set();
        break;
      case label_op::exists:
        ok = value.has_value();
        break;
      case label_op::not_exists:
        ok = !value;
        break;
      case label_op::gt:
      case label_op::lt: {
        const auto lhs = value ? parse_i64(*value) : std::nullopt;
        const auto rhs = parse_i64(r.values[0]);
        ok = lhs && rhs && (r.op == label_op::gt ? *lhs > *rhs : *lhs < *rhs);
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

// ---- field selectors (k8s.io/apimachinery/pkg/fields.ParseSelector) ---------------------------

struct field_req {
  std::string key;
  bool equal = true;
  std::string value;
};
using field_selector = std::vector<field_req>;

field_selector parse_field_selector(std::string_view s) {
  field_selector out;
  std::vector<std::string> terms(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      terms.back() += s[i];
      terms.back() += s[++i];
    } else if (s[i] == ',') {
      terms.emplace_back();
    } else {
      terms.back() += s[i];
    }
  }
  for (const auto& term : terms) {
    if (term.empty()) continue;
    std::optional<field_req> req;
    for (std::size_t i = 0; i < term.size() && !req; ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      for (const char* op : {"!=", "==", "="}) {
        const std::string_view o(op);
        if (term.compare(i, o.size(), o) == 0) {
          req = field_req{term.substr(0, i), o != "!=", term.substr(i + o.size())};
          break;
        }
      }
    }
    if (!req)
      throw bad_request("invalid selector: '" + std::string(s) + "'; can't understand '" + term +
                        "'");
    std::string value;
    for (std::size_t i = 0; i < req->value.size(); ++i) {
      const char c = req->value[i];
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i + 1 < req->value.size() &&
          (req->value[i + 1] == '\\' || req->value[i + 1] == ',' || req->value[i + 1] == '=')) {
        value += req->value[++i];
        continue;
      }
      throw bad_request("invalid field selector: invalid escape sequence: " +
                        req->value.substr(i, 2));
    }
    req->value = value;
    out.push_back(std::move(*req));
  }
  return out;
}

// The string a field label has on an object: a dotted path; booleans and numbers as Go prints
// them; missing is "".
std::string field_value(const json& obj, std::string_view path) {
  const json* cur = &obj;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string part(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (!cur->is_object()) return {};
    auto it = cur->find(part);
    if (it == cur->end()) return {};
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return {};
}

bool fields_match(const field_selector& sel, const json& obj) {
  for (const auto& r : sel) {
    if ((field_value(obj, r.key) == r.value) != r.equal) return false;
  }
  return true;
}

// ---- patches ------------------------------------------------------------------------------------

bool is_named_list(const json& a) {
  if (!a.is_array() || a.empty()) return false;
  return std::all_of(a.begin(), a.end(), [](const json& e) {
    return e.is_object() && e.contains("name") && e["name"].is_string();
  });
}

json strip_directives(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it.key().empty() && it.key()[0] == '$') continue;
      out[it.key()] = strip_directives(it.value());
    }
    return out;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const auto& e : j) out.push_back(strip_directives(e));
    return out;
  }
  return j;
}

// This server's strategic merge patch: a JSON merge patch in which lists of objects that all have
// a "name" (containers, volumes, env, ports, conditions with names, ...) are merged element by
// element on "name" instead of replaced; `$patch: delete` removes an element or a map,
// `$patch: replace` replaces a map; other `$` directives ($setElementOrder, $retainKeys,
// $deleteFromPrimitiveList) are ignored. The real one takes merge keys and strategies from the
// Go types (e.g. conditions merge on "type", finalizers are a set); this one knows no types.
std::optional<json> strategic_merge(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (auto d = patch.find("$patch"); d != patch.end() && d->is_string()) {
    if (*d == "delete") return std::nullopt;
    if (*d == "replace") return strip_directives(patch);
  }
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (!k.empty() && k[0] == '$') continue;
    const json& v = it.value();
    if (v.is_null()) {
      target.erase(k);
    } else if (v.is_object()) {
      auto merged = strategic_merge(target.contains(k) ? target[k] : json(nullptr), v);
      if (merged)
        target[k] = std::move(*merged);
      else
        target.erase(k);
    } else if (v.is_array() && target.contains(k) && is_named_list(target[k]) && is_named_list(v)) {
      json list = target[k];
      for (const auto& pe : v) {
        const std::string name = pe["name"].get<std::string>();
        auto found = std::find_if(list.begin(), list.end(),
                                  [&](const json& e) { return e["name"] == name; });
        const bool del = pe.contains("$patch") && pe["$patch"] == "delete";
        if (found == list.end()) {
          if (!del) list.push_back(strip_directives(pe));
        } else if (del) {
          list.erase(found);
        } else {
          auto merged = strategic_merge(*found, pe);
          if (merged)
            *found = std::move(*merged);
          else
            list.erase(found);
        }
      }
      target[k] = std::move(list);
    } else {
      target[k] = strip_directives(v);
    }
  }
  return target;
}

// ---- the store ----------------------------------------------------------------------------------

struct stored_event {
  std::uint64_t rv = 0;
  std::string rkey;  // "group/resource"
  std::string key;   // "ns/name" or "name"
  std::string type;  // ADDED, MODIFIED, DELETED
  obj_ptr prev;      // before the write (null for ADDED)
  obj_ptr obj;       // after; for DELETED the last state with the deletion's resourceVersion
};
using event_ptr = std::shared_ptr<const stored_event>;

// A parsed resource path.
struct api_path {
  std::string group, version, resource, ns, name, sub;
  bool has_ns = false;
  bool watch_prefix = false;
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string rkey() const { return group + "/" + resource; }
  std::string key() const { return has_ns ? ns + "/" + name : name; }
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segs;
  if (path.empty() || path[0] != '/') return segs;
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    segs.push_back(pct_decode(path.substr(0, slash), false));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  if (!segs.empty() && segs.back().empty()) segs.pop_back();  // a trailing slash
  return segs;
}

// nullopt when not a resource path (discovery, /version, unknown).
std::optional<api_path> parse_resource_path(std::string_view path) {
  const auto segs = split_path(path);
  api_path ap;
  std::size_t i = 0;
  if (segs.size() >= 3 && segs[0] == "api") {
    ap.version = segs[1];
    i = 2;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    ap.group = segs[1];
    ap.version = segs[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(segs.begin() + std::ptrdiff_t(i), segs.end());
  if (!rest.empty() && rest[0] == "watch") {
    ap.watch_prefix = true;
    rest.erase(rest.begin());
  }
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ap.has_ns = true;
    ap.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  for (const auto& s : rest)
    if (s.empty()) return std::nullopt;
  if (ap.has_ns && ap.ns.empty()) return std::nullopt;
  ap.resource = rest[0];
  if (rest.size() >= 2) ap.name = rest[1];
  if (rest.size() == 3) ap.sub = rest[2];
  return ap;
}

std::string guess_kind(std::string plural) {
  std::string s = plural;
  const auto ends = [&](std::string_view suf) {
    return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends("ies"))
    s = s.substr(0, s.size() - 3) + "y";
  else if (ends("sses") || ends("shes") || ends("ches") || ends("xes") || ends("zes"))
    s = s.substr(0, s.size() - 2);
  else if (ends("s"))
    s.pop_back();
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

bool builtin_group(const std::string& g) {
  static const std::set<std::string> known = {"", "apps", "batch", "autoscaling", "policy"};
  return known.count(g) > 0 || (g.size() > 7 && g.compare(g.size() - 7, 7, ".k8s.io") == 0);
}

// A watch, as the store feeds it. Immutable fields are set before registration.
struct watch_state {
  std::string rkey;
  resource_type rt;
  std::string api_version;
  std::optional<std::string> ns;
  label_selector labels;
  field_selector fields;
  bool bookmarks = false;

  std::mutex m;
  std::condition_variable cv;
  std::deque<event_ptr> queue;
  std::uint64_t fed_rv = 0;  // every event up to this one is in `queue` (or was)
  bool close_now = false, end_now = false, bookmark_now = false, stopping = false;
  std::optional<std::size_t> close_after;
};

struct reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

reply status_reply(const json& status,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  reply r;
  auto c = status.find("code");
  r.status = c != status.end() && c->is_number_unsigned() ? c->get<unsigned>() : 500;
  r.body = dump(status);
  r.headers = std::move(headers);
  return r;
}

reply json_reply(unsigned status, const json& body) {
  reply r;
  r.status = status;
  r.body = dump(body);
  return r;
}

// What one connection knows of its TLS peer.
struct conn_info {
  int fd = -1;
  bool has_cert = false;
  bool cert_valid = false;
  std::string cert_cn;
  std::vector<std::string> cert_orgs;
};

std::vector<std::string> name_entries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0 && utf8 != nullptr) {
      out.emplace_back(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
      OPENSSL_free(utf8);
    }
  }
  return out;
}

void read_peer(SSL* ssl, conn_info& ci) {
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return;
  ci.has_cert = true;
  ci.cert_valid = SSL_get_verify_result(ssl) == X509_V_OK;
  const auto cns = name_entries(X509_get_subject_name(peer), NID_commonName);
  if (!cns.empty()) ci.cert_cn = cns.front();
  ci.cert_orgs = name_entries(X509_get_subject_name(peer), NID_organizationName);
  X509_free(peer);
}

// True when the client closed (or wrote to) a connection that is streaming a watch: a watch
// client sends nothing, so anything readable is its close (FIN, or TLS close_notify).
bool peer_gone(int fd) {
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool parse_go_bool(const std::string& s, bool& out) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True") {
    out = true;
    return true;
  }
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False") {
    out = false;
    return true;
  }
  return false;
}

// Query parameters of list and watch.
struct list_params {
  std::string rv, rv_match, cont;
  bool has_rv = false;
  std::int64_t limit = 0;
  label_selector labels;
  field_selector fields;
  bool watch = false;
  bool bookmarks = false;
  std::optional<bool> send_initial;
  std::int64_t timeout_seconds = 0;
};

// ---- the continue token (k8s.io/apiserver/pkg/storage.EncodeContinue) --------------------------

std::string encode_continue(const std::string& start_key, std::int64_t rv) {
  json t = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", start_key}};
  return base64url_encode(t.dump());
}

struct continue_token {
  std::string start;  // relative to the list's scope
  std::int64_t rv = 0;
};

continue_token decode_continue(const std::string& token) {
  const auto fail = [](const std::string& why) {
    return bad_request("invalid continue token: continue key is not valid: " + why);
  };
  auto raw = base64_decode(token, b64_url, false);
  if (!raw) throw fail("illegal base64 data");
  json t;
  try {
    t = json::parse(*raw);
  } catch (const json::exception& e) {
    throw fail(e.what());
  }
  if (!t.is_object() || str_of(t, "v") != "meta.k8s.io/v1")
    throw fail("server does not recognize this encoded version");
  continue_token c;
  c.start = str_of(t, "start");
  if (!t.contains("rv") || !t["rv"].is_number_integer() || t["rv"].get<std::int64_t>() == 0)
    throw fail("incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  c.rv = t["rv"].get<std::int64_t>();
  if (c.start.empty()) throw fail("encoded start key empty");
  if (c.start[0] == '/' || c.start.find("..") != std::string::npos)
    throw fail("path traversal attempt detected");
  return c;
}

}  // namespace

// =================================================================================================

struct fake_apiserver::impl {
  explicit impl(fake_apiserver_options o)
      : opts_(std::move(o)), history_limit_(opts_.history_limit) {
    rv_ = compacted_ = opts_.initial_resource_version;
    register_defaults();
    server_kp_ = ca_.issue_server({"localhost"}, {"127.0.0.1"});
    if (opts_.tls) {
      ssl_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      ssl_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                        net::ssl::context::no_tlsv1_1);
      ssl_->use_certificate_chain(net::buffer(server_kp_.cert_pem));
      ssl_->use_private_key(net::buffer(server_kp_.key_pem), net::ssl::context::pem);
      if (opts_.client_cert_auth) {
        const std::string& ca = opts_.client_ca_pem.empty() ? ca_.cert_pem() : opts_.client_ca_pem;
        ssl_->add_certificate_authority(net::buffer(ca));
        // kube-apiserver's tls.RequestClientCert: ask, accept anything in the handshake, verify
        // in the authenticator (a bad certificate is a 401, no certificate is fine).
        SSL_CTX_set_verify(ssl_->native_handle(), SSL_VERIFY_PEER,
                           [](int, X509_STORE_CTX*) -> int { return 1; });
      }
    }
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen(64);
    port_ = acceptor_.local_endpoint().port();
    acceptor_fd_ = acceptor_.native_handle();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~impl() { stop(); }

  // ---- configuration ---------------------------------------------------------------------------

  fake_apiserver_options opts_;
  test_ca ca_;
  key_pair server_kp_;
  std::unique_ptr<net::ssl::context> ssl_;
  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  int acceptor_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread accept_thread_;

  void register_defaults() {
    const auto add = [&](std::string group, std::string res, std::string kind, bool namespaced,
                         bool returns_object, bool status, std::vector<std::string> fields = {}) {
      resource_type t;
      t.group = std::move(group);
      t.resource = std::move(res);
      t.kind = std::move(kind);
      t.namespaced = namespaced;
      t.builtin = true;
      t.delete_returns_object = returns_object;
      t.status_subresource = status;
      t.field_labels = std::move(fields);
      types_[t.group + "/" + t.resource] = std::move(t);
    };
    add("", "pods", "Pod", true, true, true,
        {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
         "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"});
    add("", "configmaps", "ConfigMap", true, false, false);
    add("", "secrets", "Secret", true, false, false, {"type"});
    add("", "services", "Service", true, false, true);
    add("", "endpoints", "Endpoints", true, false, false);
    add("", "events", "Event", true, false, false,
        {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
         "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"});
    add("", "serviceaccounts", "ServiceAccount", true, true, false);
    add("", "persistentvolumeclaims", "PersistentVolumeClaim", true, false, true);
    add("", "persistentvolumes", "PersistentVolume", false, false, true);
    add("", "nodes", "Node", false, false, true, {"spec.unschedulable"});
    add("", "namespaces", "Namespace", false, true, true, {"status.phase"});
    for (const auto& [res, kind] :
         std::vector<std::pair<std::string, std::string>>{{"deployments", "Deployment"},
                                                          {"statefulsets", "StatefulSet"},
                                                          {"daemonsets", "DaemonSet"},
                                                          {"replicasets", "ReplicaSet"}})
      add("apps", res, kind, true, false, true);
    add("batch", "jobs", "Job", true, false, true);
    add("batch", "cronjobs", "CronJob", true, false, true);
    add("coordination.k8s.io", "leases", "Lease", true, false, false);
    add("discovery.k8s.io", "endpointslices", "EndpointSlice", true, false, false);
    add("events.k8s.io", "events", "Event", true, false, false);
    add("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", false,
        true, true);
  }

  // ---- the store (mu_)
  // ---------------------------------------------------------------------------

  mutable std::mutex mu_;
  std::map<std::string, resource_type> types_;
  std::map<std::string, std::map<std::string, obj_ptr>> objects_;
  std::deque<event_ptr> history_;
  std::uint64_t rv_ = 0;
  // Every resourceVersion below this one is compacted; history_ holds every event after it.
  std::uint64_t compacted_ = 0;
  std::size_t history_limit_;
  std::list<std::shared_ptr<watch_state>> watches_;

  resource_type type_locked(const std::string& group, const std::string& resource) const {
    auto it = types_.find(group + "/" + resource);
    if (it != types_.end()) return it->second;
    resource_type t;
    t.group = group;
    t.resource = resource;
    t.kind = guess_kind(resource);
    t.builtin = builtin_group(group);
    return t;
  }

  // The path's resource, with the scope checked: 404 for a route the real server lacks.
  resource_type resolve_locked(const api_path& ap) const {
    resource_type rt = type_locked(ap.group, ap.resource);
    if (ap.has_ns && !rt.namespaced) throw route_not_found();
    if (!ap.has_ns && rt.namespaced && !ap.name.empty()) throw route_not_found();
    if (!ap.sub.empty() && ap.sub != "status") throw route_not_found();
    return rt;
  }

  void trim_history_locked() {
    while (history_.size() > history_limit_) {
      compacted_ = history_.front()->rv;
      history_.pop_front();
    }
  }

  // Writes `next` (or deletes, when type is DELETED) with a new resourceVersion, records the
  // event and feeds the watches. Returns the stored object (DELETED: the last state).
  json commit_locked(const std::string& rkey, const std::string& key, const char* type,
                     obj_ptr prev, json next) {
    const std::uint64_t new_rv = ++rv_;
    obj_ptr stored;
    auto& objs = objects_[rkey];
    if (std::string_view(type) == "DELETED") {
      json last = *prev;
      meta_of(last)["resourceVersion"] = std::to_string(new_rv);
      stored = std::make_shared<const json>(std::move(last));
      objs.erase(key);
    } else {
      meta_of(next)["resourceVersion"] = std::to_string(new_rv);
      stored = std::make_shared<const json>(std::move(next));
      objs[key] = stored;
    }
    auto ev = std::make_shared<const stored_event>(
        stored_event{new_rv, rkey, key, type, std::move(prev), stored});
    history_.push_back(ev);
    trim_history_locked();
    for (const auto& w : watches_) {
      std::lock_guard wl(w->m);
      if (w->rkey == rkey) w->queue.push_back(ev);
      w->fed_rv = new_rv;
      w->cv.notify_all();
    }
    notify_change();
    return *stored;
  }

  std::map<std::string, obj_ptr> snapshot_locked(const std::string& rkey, std::uint64_t at) const {
    std::map<std::string, obj_ptr> m;
    if (auto it = objects_.find(rkey); it != objects_.end()) m = it->second;
    for (auto it = history_.rbegin(); it != history_.rend() && (*it)->rv > at; ++it) {
      const stored_event& e = **it;
      if (e.rkey != rkey) continue;
      if (e.type == "ADDED")
        m.erase(e.key);
      else
        m[e.key] = e.prev;
    }
    return m;
  }

  obj_ptr find_locked(const api_path& ap) const {
    auto r = objects_.find(ap.rkey());
    if (r == objects_.end()) return nullptr;
    auto o = r->second.find(ap.key());
    return o == r->second.end() ? nullptr : o->second;
  }

  // The object as served: apiVersion and kind of the request's group version.
  static json present(const json& stored, const api_path& ap, const resource_type& rt) {
    json out = stored;
    out["apiVersion"] = ap.api_version();
    out["kind"] = rt.kind;
    return out;
  }

  status_error invalid_rv(const std::string& v) const {
    bool overflow = false;
    parse_u64(v, &overflow);
    const std::string msg = "resourceVersion: Invalid value: " + go_quote(v) +
                            ": strconv.ParseUint: parsing " + go_quote(v) +
                            (overflow ? ": value out of range" : ": invalid syntax");
    if (opts_.invalid_resource_version_as_400) return bad_request(msg);
    return fail_status(500, "", msg);  // storage.InvalidError is no APIStatus: 500, no reason
  }

  std::uint64_t rv_param(const std::string& v) const {
    if (v.empty() || v == "0") return 0;
    auto n = parse_u64(v);
    if (!n) throw invalid_rv(v);
    return *n;
  }

  // apiVersion and kind of a body against the path; an unregistered resource learns its kind.
  void check_type_locked(json& body, const api_path& ap, resource_type& rt) {
    if (!body.is_object()) throw bad_request("the body of the request must be a JSON object");
    const std::string av = str_of(body, "apiVersion");
    if (!av.empty() && av != ap.api_version())
      throw bad_request("the API version in the data (" + av +
                        ") does not match the expected API version (" + ap.api_version() + ")");
    const std::string kind = str_of(body, "kind");
    if (!kind.empty() && kind != rt.kind) {
      if (types_.count(ap.rkey()) != 0)
        throw bad_request("the kind in the data (" + kind + ") does not match the expected kind (" +
                          rt.kind + ")");
      rt.kind = kind;
      types_[ap.rkey()] = rt;
    }
    body["apiVersion"] = ap.api_version();
    body["kind"] = rt.kind;
    meta_of(body);
  }

  json create_locked(const api_path& ap, json body) {
    resource_type rt = resolve_locked(ap);
    if (!ap.name.empty() || !ap.sub.empty() || (rt.namespaced && !ap.has_ns))
      throw method_not_allowed();
    check_type_locked(body, ap, rt);
    json& md = body["metadata"];
    if (rt.namespaced) {
      const std::string ns = str_of(md, "namespace");
      if (!ns.empty() && ns != ap.ns)
        throw bad_request(
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
      md["namespace"] = ap.ns;
    } else {
      md.erase("namespace");
    }
    std::string name = str_of(md, "name");
    const std::string generate = str_of(md, "generateName");
    auto& objs = objects_[ap.rkey()];
    const auto key_of = [&](const std::string& n) { return rt.namespaced ? ap.ns + "/" + n : n; };
    if (name.empty() && !generate.empty()) {
      do name = generate + random_suffix();
      while (objs.count(key_of(name)) != 0);
    }
    if (name.empty())
      throw invalid(rt.kind, rt.group, "",
                    {{"FieldValueRequired", "metadata.name",
                      "Required value: name or generateName is required"}});
    if (name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('%') != std::string::npos)
      throw invalid(rt.kind, rt.group, name,
                    {{"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + go_quote(name) +
                          ": may not be '.' or '..' and may not contain '/' or '%'"}});
    md["name"] = name;
    if (auto v = parse_u64(str_of(md, "resourceVersion")); v && *v != 0)
      throw fail_status(500, "", "resourceVersion should not be set on objects to be created");
    md.erase("resourceVersion");
    md.erase("deletionTimestamp");
    md.erase("deletionGracePeriodSeconds");
    md.erase("selfLink");
    md["uid"] = new_uuid();
    md["creationTimestamp"] = rfc3339_now();
    md["generation"] = 1;
    const std::string key = key_of(name);
    if (objs.count(key) != 0) throw already_exists(rt, name);
    return present(commit_locked(ap.rkey(), key, "ADDED", nullptr, std::move(body)), ap, rt);
  }

  // PUT of the object or of its status; `body` is the whole new object (for PATCH, the patched
  // current object).
  json update_locked(const api_path& ap, json body) {
    resource_type rt = resolve_locked(ap);
    if (ap.name.empty()) throw method_not_allowed();
    check_type_locked(body, ap, rt);
    json& md = body["metadata"];
    const std::string name = str_of(md, "name");
    if (name != ap.name)
      throw bad_request("the name of the object (" + name +
                        ") does not match the name on the URL (" + ap.name + ")");
    if (rt.namespaced) {
      const std::string ns = str_of(md, "namespace");
      if (!ns.empty() && ns != ap.ns)
        throw bad_request("the namespace of the object (" + ns +
                          ") does not match the namespace on the URL (" + ap.ns + ")");
      md["namespace"] = ap.ns;
    } else {
      md.erase("namespace");
    }
    obj_ptr cur = find_locked(ap);
    if (!cur) throw not_found(rt, ap.name);
    const json& cmd = meta_c(*cur);
    // Preconditions: the body's resourceVersion and uid (objInfo.Preconditions()).
    const std::string want_rv = str_of(md, "resourceVersion");
    if (!want_rv.empty() && want_rv != str_of(cmd, "resourceVersion")) {
      if (!parse_u64(want_rv))
        throw bad_request("metadata.resourceVersion: Invalid value: " + go_quote(want_rv) +
                          ": must be a decimal number");
      throw conflict(rt, ap.name, optimistic_lock_msg);
    }
    const std::string want_uid = str_of(md, "uid");
    if (!want_uid.empty() && want_uid != str_of(cmd, "uid"))
      throw conflict(rt, ap.name,
                     "Precondition failed: UID in precondition: " + want_uid +
                         ", UID in object meta: " + str_of(cmd, "uid"));
    json next;
    if (ap.sub == "status") {
      next = *cur;  // the status subresource changes .status only
      if (auto it = body.find("status"); it != body.end())
        next["status"] = *it;
      else
        next.erase("status");
    } else {
      next = std::move(body);
      if (rt.status_subresource) {  // and the object everything but .status
        if (auto it = cur->find("status"); it != cur->end())
          next["status"] = *it;
        else
          next.erase("status");
      }
    }
    json& nmd = meta_of(next);
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (auto it = cmd.find(k); it != cmd.end())
        nmd[k] = *it;
      else
        nmd.erase(k);
    }
    nmd["resourceVersion"] = str_of(cmd, "resourceVersion");
    nmd.erase("selfLink");
    if (spec_part(next) != spec_part(*cur))
      nmd["generation"] = cmd.value("generation", std::int64_t(0)) + 1;
    if (next == *cur) return present(*cur, ap, rt);  // no change: no write, as etcd3
    if (nmd.contains("deletionTimestamp") && !has_finalizers(next)) {
      // The last finalizer went: the update deletes (Store.Update's shouldDeleteDuringUpdate).
      commit_locked(ap.rkey(), ap.key(), "DELETED", cur, nullptr);
      return present(*cur, ap, rt);
    }
    return present(commit_locked(ap.rkey(), ap.key(), "MODIFIED", cur, std::move(next)), ap, rt);
  }

  json patch_locked(const api_path& ap, std::string content_type, const std::string& body_text) {
    resource_type rt = resolve_locked(ap);
    if (ap.name.empty()) throw method_not_allowed();
    content_type = lower(content_type.substr(0, content_type.find(';')));
    while (!content_type.empty() && content_type.back() == ' ') content_type.pop_back();
    const bool merge = content_type == "application/merge-patch+json";
    const bool strategic = content_type == "application/strategic-merge-patch+json" && rt.builtin;
    const bool json_patch = content_type == "application/json-patch+json";
    if (!merge && !strategic && !json_patch) {
      const std::string types = rt.builtin
                                    ? "application/json-patch+json, application/merge-patch+json, "
                                      "application/strategic-merge-patch+json"
                                    : "application/json-patch+json, application/merge-patch+json";
      throw fail_status(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: " +
                            types);
    }
    obj_ptr cur = find_locked(ap);
    if (!cur) throw not_found(rt, ap.name);
    json patch;
    try {
      patch = json::parse(body_text);
    } catch (const json::exception& e) {
      throw bad_request(std::string("error decoding patch: ") + e.what());
    }
    json patched = *cur;
    if (merge) {
      patched.merge_patch(patch);
    } else if (strategic) {
      if (!patch.is_object()) throw bad_request("invalid JSON document");
      patched = strategic_merge(patched, patch).value_or(json::object());
    } else {
      if (!patch.is_array())
        throw bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
      try {
        patched = patched.patch(patch);
      } catch (const json::parse_error& e) {
        throw bad_request(e.what());
      } catch (const json::exception& e) {
        throw fail_status(422, "Invalid", e.what());
      }
    }
    if (!patched.is_object()) throw bad_request("the patched object is not a JSON object");
    return update_locked(ap, std::move(patched));
  }

  json delete_locked(const api_path& ap, const json& options) {
    resource_type rt = resolve_locked(ap);
    if (ap.name.empty() || !ap.sub.empty()) throw method_not_allowed();
    obj_ptr cur = find_locked(ap);
    if (!cur) throw not_found(rt, ap.name);
    const json& cmd = meta_c(*cur);
    if (options.is_object() && options.contains("preconditions") &&
        options["preconditions"].is_object()) {
      const json& pre = options["preconditions"];
      const std::string uid = str_of(pre, "uid"), rv = str_of(pre, "resourceVersion");
      if (!uid.empty() && uid != str_of(cmd, "uid"))
        throw conflict(rt, ap.name,
                       "Precondition failed: UID in precondition: " + uid +
                           ", UID in object meta: " + str_of(cmd, "uid"));
      if (!rv.empty() && rv != str_of(cmd, "resourceVersion"))
        throw conflict(rt, ap.name,
                       "Precondition failed: ResourceVersion in precondition: " + rv +
                           ", ResourceVersion in object meta: " + str_of(cmd, "resourceVersion"));
    }
    if (has_finalizers(*cur)) {  // graceful: mark, and wait for the finalizers to go
      if (cmd.contains("deletionTimestamp")) return present(*cur, ap, rt);
      json next = *cur;
      meta_of(next)["deletionTimestamp"] = rfc3339_now();
      meta_of(next)["deletionGracePeriodSeconds"] = 0;
      return present(commit_locked(ap.rkey(), ap.key(), "MODIFIED", cur, std::move(next)), ap, rt);
    }
    commit_locked(ap.rkey(), ap.key(), "DELETED", cur, nullptr);
    if (rt.delete_returns_object) return present(*cur, ap, rt);  // as etcd3 returns it: old RV
    json d = details_of(rt, ap.name);
    d["uid"] = str_of(cmd, "uid");
    return {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Success"},
            {"details", d}};
  }

  list_params parse_list_params(const std::map<std::string, std::string>& q,
                                const resource_type& rt) const {
    list_params p;
    const auto get = [&](const char* k) -> const std::string* {
      auto it = q.find(k);
      return it == q.end() ? nullptr : &it->second;
    };
    const auto get_bool = [&](const char* k, bool& out) {
      if (const auto* v = get(k); v && !v->empty() && !parse_go_bool(*v, out))
        throw bad_request("strconv.ParseBool: parsing " + go_quote(*v) + ": invalid syntax");
    };
    get_bool("watch", p.watch);
    get_bool("allowWatchBookmarks", p.bookmarks);
    if (const auto* v = get("sendInitialEvents"); v && !v->empty()) {
      bool b = false;
      get_bool("sendInitialEvents", b);
      p.send_initial = b;
    }
    if (const auto* v = get("resourceVersion")) {
      p.rv = *v;
      p.has_rv = true;
    }
    if (const auto* v = get("resourceVersionMatch")) p.rv_match = *v;
    if (const auto* v = get("continue")) p.cont = *v;
    if (const auto* v = get("limit"); v && !v->empty()) {
      auto n = parse_i64(*v);
      if (!n) throw bad_request("strconv.ParseInt: parsing " + go_quote(*v) + ": invalid syntax");
      p.limit = *n;
    }
    if (const auto* v = get("timeoutSeconds"); v && !v->empty()) {
      auto n = parse_i64(*v);
      if (!n) throw bad_request("strconv.ParseInt: parsing " + go_quote(*v) + ": invalid syntax");
      p.timeout_seconds = *n;
    }
    if (const auto* v = get("labelSelector")) p.labels = label_parser(*v).parse();
    if (const auto* v = get("fieldSelector")) {
      p.fields = parse_field_selector(*v);
      for (const auto& f : p.fields) {
        if (f.key == "metadata.name" || f.key == "metadata.namespace") continue;
        if (std::find(rt.field_labels.begin(), rt.field_labels.end(), f.key) ==
            rt.field_labels.end())
          throw bad_request("field label not supported: " + f.key);
      }
    }
    return p;
  }

  static bool in_scope(const json& obj, const api_path& ap) {
    return !ap.has_ns || meta_str(obj, "namespace") == ap.ns;
  }

  json list_locked(const api_path& ap, const resource_type& rt, const list_params& p) const {
    std::vector<field_error> errs;
    if (!p.rv_match.empty()) {
      if (p.rv.empty())
        errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is "
                        "provided"});
      if (!p.cont.empty())
        errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden when continue is provided"});
      if (p.rv_match != "Exact" && p.rv_match != "NotOlderThan")
        errs.push_back({"FieldValueNotSupported", "resourceVersionMatch",
                        "Unsupported value: " + go_quote(p.rv_match) +
                            ": supported values: \"Exact\", \"NotOlderThan\", \"\""});
      if (p.rv_match == "Exact" && p.rv == "0")
        errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch \"exact\" is forbidden for "
                        "resourceVersion \"0\""});
    }
    if (p.send_initial)
      errs.push_back({"FieldValueForbidden", "sendInitialEvents",
                      "Forbidden: sendInitialEvents is forbidden for list"});
    if (!errs.empty()) throw invalid_list_options(errs);

    std::int64_t limit = p.limit > 0 ? p.limit : 0;
    std::uint64_t at = rv_;  // the list's resourceVersion
    std::string start;       // first key to include
    if (!p.cont.empty()) {
      if (!p.rv.empty())
        throw bad_request("specifying resource version is not allowed when using continue");
      const continue_token c = decode_continue(p.cont);
      start = (ap.has_ns ? ap.ns + "/" : std::string()) + c.start;
      if (c.rv > 0) {
        at = std::uint64_t(c.rv);
        if (at < compacted_ || at > rv_) {
          // storage/etcd3 handleCompactedErrorForPaging: a token to go on inconsistently.
          json st = make_status(
              410, "Expired",
              "The provided continue parameter is too old to display a consistent list result. "
              "You can start a new list without the continue parameter, or use the continue "
              "token in this response to retrieve the remainder of the results. Continuing with "
              "the provided token results in an inconsistent list - objects that were created, "
              "modified, or deleted between the time the first chunk was returned and now may "
              "show up in the list.");
          st["metadata"]["continue"] = encode_continue(c.start, -1);
          throw status_error(st);
        }
      }  // rv -1: the remainder at the latest resourceVersion
    } else {
      const std::uint64_t want = rv_param(p.rv);
      if (p.rv == "0" && opts_.ignore_limit_on_rv0) limit = 0;
      const bool exact = p.rv_match == "Exact" || (p.rv_match.empty() && want != 0 && limit > 0);
      if (want > rv_) {
        json st =
            make_status(504, "Timeout",
                        "Timeout: Too large resource version: " + std::to_string(want) +
                            ", current: " + std::to_string(rv_),
                        {{"causes", json::array({{{"reason", "ResourceVersionTooLarge"},
                                                  {"message", "Too large resource version"}}})},
                         {"retryAfterSeconds", 1}});
        throw status_error(st);
      }
      if (exact && want != 0) {
        if (want < compacted_)
          throw expired("The resourceVersion for the provided list is too old.");
        at = want;
      }
    }
    const auto objs = at == rv_ ? [&] {
      auto it = objects_.find(ap.rkey());
      return it == objects_.end() ? std::map<std::string, obj_ptr>() : it->second;
    }()
                                : snapshot_locked(ap.rkey(), at);
    json items = json::array();
    std::string last_key;
    std::int64_t remaining = 0;
    bool more = false;
    for (auto it = objs.lower_bound(start); it != objs.end(); ++it) {
      const json& o = *it->second;
      if (!in_scope(o, ap) || !labels_match(p.labels, o) || !fields_match(p.fields, o)) continue;
      if (limit > 0 && std::int64_t(items.size()) >= limit) {
        more = true;
        ++remaining;
        continue;
      }
      json item = present(o, ap, rt);
      if (rt.builtin) {  // typed lists carry no apiVersion/kind on their items
        item.erase("apiVersion");
        item.erase("kind");
      }
      items.push_back(std::move(item));
      last_key = it->first;
    }
    json md = {{"resourceVersion", std::to_string(at)}};
    if (more) {
      const std::string rel = ap.has_ns ? last_key.substr(ap.ns.size() + 1) : last_key;
      md["continue"] = encode_continue(rel + std::string(1, '\0'), std::int64_t(at));
      if (p.labels.empty() && p.fields.empty()) md["remainingItemCount"] = remaining;
    }
    return {{"kind", rt.kind + "List"},
            {"apiVersion", ap.api_version()},
            {"metadata", md},
            {"items", std::move(items)}};
  }

  // ---- request log and change notification
  // --------------------------------------------------------

  mutable std::mutex log_mu_;
  std::vector<request_record> log_;
  mutable std::mutex chg_mu_;
  mutable std::condition_variable chg_cv_;
  std::uint64_t chg_gen_ = 0;

  void notify_change() {
    {
      std::lock_guard l(chg_mu_);
      ++chg_gen_;
    }
    chg_cv_.notify_all();
  }

  void log_request(request_record rec) {
    {
      std::lock_guard l(log_mu_);
      log_.push_back(std::move(rec));
    }
    notify_change();
  }

  bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const {
    const auto deadline = steady::now() + timeout;
    for (;;) {
      std::uint64_t gen;
      {
        std::lock_guard l(chg_mu_);
        gen = chg_gen_;
      }
      if (pred()) return true;
      std::unique_lock l(chg_mu_);
      // Re-checks at least every 50 ms, for predicates over state without notifications.
      const auto until = std::min(deadline, steady::now() + std::chrono::milliseconds(50));
      chg_cv_.wait_until(l, until, [&] { return chg_gen_ != gen; });
      if (steady::now() >= deadline) {
        l.unlock();
        return pred();
      }
    }
  }

  // ---- faults (fault_mu_) ---------------------------------------------------------------------

  struct fail_rule {
    int remaining;
    unsigned status;
    std::string match;
    int retry_after;
  };
  std::mutex fault_mu_;
  std::deque<fail_rule> fail_rules_;
  std::chrono::milliseconds delay_{0};
  int split_pieces_ = 1;
  bool split_random_ = false;
  std::vector<std::size_t> split_at_;
  std::chrono::milliseconds split_gap_{2};

  std::optional<reply> injected_failure(const std::string& what) {
    std::lock_guard l(fault_mu_);
    for (auto it = fail_rules_.begin(); it != fail_rules_.end(); ++it) {
      if (it->remaining <= 0 || (!it->match.empty() && what.find(it->match) == std::string::npos))
        continue;
      const fail_rule r = *it;
      if (--it->remaining == 0) fail_rules_.erase(it);
      std::vector<std::pair<std::string, std::string>> headers;
      if (r.status == 429 || r.status == 503)
        headers.emplace_back("Retry-After", std::to_string(r.retry_after));
      return status_reply(injected_status(r.status, r.retry_after), std::move(headers));
    }
    return std::nullopt;
  }

  // ---- connections
  // -------------------------------------------------------------------------------

  struct conn_entry {
    int fd = -1;  // -1 once the connection thread is closing it
    std::thread th;
    std::atomic<bool> done{false};
  };
  std::mutex conns_mu_;
  std::list<std::shared_ptr<conn_entry>> conns_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;  // conns_mu_
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;

  // Sleeps unless the server stops first; false when stopping.
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock l(sleep_mu_);
    return !sleep_cv_.wait_for(l, d, [&] { return stopping_.load(); });
  }

  void accept_loop() {
    for (;;) {
      tcp::socket sock(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(sock, ec);
      if (stopping_) return;
      if (ec) {
        if (ec == net::error::interrupted || ec == net::error::try_again ||
            ec == net::error::connection_aborted || ec == net::error::no_buffer_space ||
            ec == net::error::no_descriptors)
          continue;
        return;
      }
      auto entry = std::make_shared<conn_entry>();
      entry->fd = sock.native_handle();
      std::lock_guard l(conns_mu_);
      if (stopped_) return;
      for (auto it = conns_.begin(); it != conns_.end();) {  // reap finished connections
        if ((*it)->done) {
          (*it)->th.join();
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
      entry->th = std::thread([this, entry, s = std::move(sock)]() mutable {
        serve_connection(std::move(s), *entry);
        entry->done = true;
      });
      conns_.push_back(entry);
    }
  }

  void release_fd(conn_entry& e) {
    std::lock_guard l(conns_mu_);
    e.fd = -1;
  }

  void serve_connection(tcp::socket sock, conn_entry& entry) {
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    conn_info ci;
    ci.fd = sock.native_handle();
    if (ssl_) {
      net::ssl::stream<tcp::socket> s(std::move(sock), *ssl_);
      s.handshake(net::ssl::stream_base::server, ec);
      if (!ec) {
        read_peer(s.native_handle(), ci);
        serve_loop(s, ci);
      }
      release_fd(entry);  // before the stream's socket closes the descriptor
    } else {
      serve_loop(sock, ci);
      release_fd(entry);
    }
  }

  template <class Stream>
  void serve_loop(Stream& s, conn_info& ci) {
    beast::flat_buffer buf;
    while (!stopping_) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(1 << 20);
      parser.body_limit(64 << 20);
      boost::system::error_code ec;
      http::read(s, buf, parser, ec);
      if (ec) return;
      if (!serve_request(s, ci, parser.get())) return;
    }
  }

  template <class Stream>
  bool write_reply(Stream& s, const reply& r, bool keep_alive) {
    http::response<http::string_body> res;
    res.version(11);
    res.result(r.status);
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-cache, private");
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.body() = r.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(s, res, ec);
    return !ec && keep_alive;
  }

  static request_record make_record(const http::request<http::string_body>& req) {
    request_record rec;
    rec.method = std::string(req.method_string());
    rec.target = std::string(req.target());
    const std::size_t q = rec.target.find('?');
    rec.path = pct_decode(std::string_view(rec.target).substr(0, q), false);
    if (q != std::string::npos) rec.query = parse_query(std::string_view(rec.target).substr(q + 1));
    rec.verb = lower(rec.method);
    rec.content_type = std::string(req[http::field::content_type]);
    rec.accept = std::string(req[http::field::accept]);
    rec.user_agent = std::string(req[http::field::user_agent]);
    const std::string authz(req[http::field::authorization]);
    if (!authz.empty()) {
      const std::size_t sp = authz.find(' ');
      rec.authorization = (sp == std::string::npos ? authz : authz.substr(0, sp)) + " <redacted>";
    }
    rec.body = req.body();
    return rec;
  }

  static bool public_path(const std::string& path) {
    for (const char* p : {"/version", "/healthz", "/livez", "/readyz"}) {
      const std::string_view pv(p);
      if (path == pv || (path.size() > pv.size() && path.compare(0, pv.size(), pv) == 0 &&
                         path[pv.size()] == '/'))
        return true;
    }
    return false;
  }

  // Fills rec.auth/user/groups; false -> 401. The union of authenticators, as kube-apiserver:
  // any one that succeeds wins; presented-but-invalid credentials never fall back to anonymous.
  bool authenticate(const http::request<http::string_body>& req, const conn_info& ci,
                    request_record& rec) const {
    const bool configured =
        !opts_.tokens.empty() || !opts_.basic_users.empty() || opts_.client_cert_auth;
    bool presented = false;
    if (ci.has_cert && opts_.client_cert_auth) {
      presented = true;
      if (ci.cert_valid) {
        rec.auth = "client-cert";
        rec.user = ci.cert_cn;
        rec.groups = ci.cert_orgs;
        return true;
      }
    }
    const std::string authz(req[http::field::authorization]);
    if (!authz.empty()) {
      presented = true;
      const std::size_t sp = authz.find(' ');
      const std::string scheme = lower(authz.substr(0, sp));
      std::string cred = sp == std::string::npos ? std::string() : authz.substr(sp + 1);
      while (!cred.empty() && cred.front() == ' ') cred.erase(0, 1);
      if (scheme == "bearer" &&
          std::find(opts_.tokens.begin(), opts_.tokens.end(), cred) != opts_.tokens.end()) {
        rec.auth = "token";
        rec.user = cred;
        return true;
      }
      if (scheme == "basic") {
        if (auto d = base64_decode(cred, b64_std, true)) {
          const std::size_t colon = d->find(':');
          if (colon != std::string::npos) {
            auto u = opts_.basic_users.find(d->substr(0, colon));
            if (u != opts_.basic_users.end() && u->second == d->substr(colon + 1)) {
              rec.auth = "basic";
              rec.user = u->first;
              return true;
            }
          }
        }
      }
    }
    if (!configured) return true;  // no authentication: everything is allowed
    if (presented || !opts_.anonymous_auth) return false;
    rec.auth = "anonymous";
    rec.user = "system:anonymous";
    rec.groups = {"system:unauthenticated"};
    return true;
  }

  // authorizer.Attributes -> errors.NewForbidden.
  static status_error forbidden(const request_record& rec) {
    const std::string user = go_quote(rec.user);
    if (!rec.resource_request)
      return fail_status(
          403, "Forbidden",
          "forbidden: User " + user + " cannot " + rec.verb + " path " + go_quote(rec.path),
          json::object());
    const std::string res =
        rec.subresource.empty() ? rec.resource : rec.resource + "/" + rec.subresource;
    std::string why = "User " + user + " cannot " + rec.verb + " resource " + go_quote(res) +
                      " in API group " + go_quote(rec.group);
    why += rec.ns.empty() ? " at the cluster scope" : " in the namespace " + go_quote(rec.ns);
    const std::string qres = rec.group.empty() ? rec.resource : rec.resource + "." + rec.group;
    const std::string head = rec.name.empty() ? qres : qres + " " + go_quote(rec.name);
    json d = json::object();
    if (!rec.name.empty()) d["name"] = rec.name;
    if (!rec.group.empty()) d["group"] = rec.group;
    d["kind"] = rec.resource;
    return fail_status(403, "Forbidden", head + " is forbidden: " + why, d);
  }

  static bool accepts_json(const std::string& accept) {
    if (accept.empty()) return true;
    const std::string a = lower(accept);
    return a.find("json") != std::string::npos || a.find("*/*") != std::string::npos ||
           a.find("application/*") != std::string::npos;
  }

  template <class Stream>
  bool serve_request(Stream& s, conn_info& ci, const http::request<http::string_body>& req) {
    request_record rec = make_record(req);
    const bool keep_alive = req.keep_alive();
    std::chrono::milliseconds delay;
    {
      std::lock_guard l(fault_mu_);
      delay = delay_;
    }
    if (delay.count() > 0 && !sleep_for(delay)) return false;
    // Logged before the response goes out: a client that has its answer finds it in the log.
    const auto finish = [&](const reply& r) {
      rec.status = r.status;
      log_request(std::move(rec));
      return write_reply(s, r, keep_alive);
    };
    if (auto r = injected_failure(rec.method + " " + rec.target)) return finish(*r);
    if (!authenticate(req, ci, rec))
      return finish(status_reply(make_status(401, "Unauthorized", "Unauthorized")));
    try {
      auto ap = parse_resource_path(rec.path);
      if (ap) {
        rec.resource_request = true;
        rec.group = ap->group;
        rec.version = ap->version;
        rec.resource = ap->resource;
        rec.subresource = ap->sub;
        rec.ns = ap->ns;
        rec.name = ap->name;
        rec.verb = k8s_verb(req.method(), *ap, rec.query);
      }
      const bool anonymous = rec.auth == "anonymous";
      if (anonymous && !public_path(rec.path) && !(opts_.authorize && opts_.authorize(rec)))
        throw forbidden(rec);
      if (!anonymous && !rec.auth.empty() && opts_.authorize && !opts_.authorize(rec))
        throw forbidden(rec);
      if (!accepts_json(rec.accept) && ap)
        throw fail_status(
            406, "NotAcceptable",
            "the server was unable to respond with a content type that the client supports");
      if (ap && rec.verb == "watch") return serve_watch(s, ci, rec, *ap, keep_alive);
      return finish(ap ? handle_resource(req, rec, *ap) : handle_nonresource(req, rec));
    } catch (const status_error& e) {
      return finish(status_reply(e.status()));
    }
  }

  static std::string k8s_verb(http::verb method, const api_path& ap,
                              const std::map<std::string, std::string>& query) {
    bool watch = ap.watch_prefix;
    if (auto it = query.find("watch"); it != query.end()) parse_go_bool(it->second, watch);
    switch (method) {
      case http::verb::get:
      case http::verb::head:
        if (watch) return "watch";
        return ap.name.empty() ? "list" : "get";
      case http::verb::post:
        return "create";
      case http::verb::put:
        return "update";
      case http::verb::patch:
        return "patch";
      case http::verb::delete_:
        return ap.name.empty() ? "deletecollection" : "delete";
      default:
        return lower(std::string(http::to_string(method)));
    }
  }

  json parse_body(const std::string& body) const {
    try {
      return json::parse(body);
    } catch (const json::exception& e) {
      throw bad_request(std::string("couldn't get version/kind; json parse error: ") + e.what());
    }
  }

  static void check_json_content(const request_record& rec) {
    const std::string ct = lower(rec.content_type.substr(0, rec.content_type.find(';')));
    if (!ct.empty() && ct != "application/json" && ct != "*/*")
      throw fail_status(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json");
  }

  reply handle_resource(const http::request<http::string_body>& req, const request_record& rec,
                        const api_path& ap) {
    const std::string& verb = rec.verb;
    if (verb == "get" || verb == "list") {
      std::lock_guard l(mu_);
      const resource_type rt = resolve_locked(ap);
      if (verb == "get") {
        if (auto it = rec.query.find("resourceVersion"); it != rec.query.end())
          rv_param(it->second);
        obj_ptr cur = find_locked(ap);
        if (!cur) throw not_found(rt, ap.name);
        return json_reply(200, present(*cur, ap, rt));
      }
      if (!ap.sub.empty()) throw route_not_found();
      return json_reply(200, list_locked(ap, rt, parse_list_params(rec.query, rt)));
    }
    if (verb == "create") {
      check_json_content(rec);
      json body = parse_body(req.body());
      std::lock_guard l(mu_);
      return json_reply(201, create_locked(ap, std::move(body)));
    }
    if (verb == "update") {
      check_json_content(rec);
      json body = parse_body(req.body());
      std::lock_guard l(mu_);
      return json_reply(200, update_locked(ap, std::move(body)));
    }
    if (verb == "patch") {
      std::lock_guard l(mu_);
      return json_reply(200, patch_locked(ap, rec.content_type, req.body()));
    }
    if (verb == "delete") {
      json options = json::object();
      if (!req.body().empty()) options = parse_body(req.body());
      std::lock_guard l(mu_);
      return json_reply(200, delete_locked(ap, options));
    }
    if (verb == "deletecollection") {
      std::lock_guard l(mu_);
      const resource_type rt = resolve_locked(ap);
      if (!ap.sub.empty() || (rt.namespaced && !ap.has_ns)) throw method_not_allowed();
      list_params p = parse_list_params(rec.query, rt);
      p.limit = 0;
      p.cont.clear();
      json current = list_locked(ap, rt, p);
      json deleted = json::array();
      for (const auto& item : current["items"]) {
        api_path one = ap;
        one.name = meta_str(item, "name");
        json r = delete_locked(one, json::object());
        if (str_of(r, "kind") == "Status") r = present(item, ap, rt);
        deleted.push_back(std::move(r));
      }
      current["items"] = std::move(deleted);
      current["metadata"] = {{"resourceVersion", std::to_string(rv_)}};
      return json_reply(200, current);
    }
    throw method_not_allowed();
  }

  reply handle_nonresource(const http::request<http::string_body>& req, const request_record& rec) {
    const std::string& path = rec.path;
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      throw method_not_allowed();
    if (public_path(path) && path != "/version" && path != "/version/") {
      reply r;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "ok";
      return r;
    }
    if (path == "/version" || path == "/version/") {
      const std::string& v = opts_.git_version;
      const std::size_t dot1 = v.find('.'), dot2 = v.find('.', dot1 + 1);
      const std::string major = dot1 == std::string::npos ? "1" : v.substr(1, dot1 - 1);
      const std::string minor =
          dot1 == std::string::npos ? "0" : v.substr(dot1 + 1, dot2 - dot1 - 1);
      return json_reply(200, {{"major", major},
                              {"minor", minor},
                              {"gitVersion", v},
                              {"gitCommit", "0000000000000000000000000000000000000000"},
                              {"gitTreeState", "clean"},
                              {"buildDate", "2024-06-11T20:20:18Z"},
                              {"goVersion", "go1.22.4"},
                              {"compiler", "gc"},
                              {"platform", "linux/amd64"}});
    }
    const auto segs = split_path(path);
    std::lock_guard l(mu_);
    if (segs.size() == 1 && segs[0] == "api")
      return json_reply(200, {{"kind", "APIVersions"},
                              {"versions", {"v1"}},
                              {"serverAddressByClientCIDRs",
                               {{{"clientCIDR", "0.0.0.0/0"},
                                 {"serverAddress", "127.0.0.1:" + std::to_string(port_)}}}}});
    if (segs.size() == 2 && segs[0] == "api" && segs[1] == "v1")
      return json_reply(200, resource_list_locked("", "v1"));
    std::map<std::string, bool> groups;
    for (const auto& [k, t] : types_)
      if (!t.group.empty()) groups[t.group] = true;
    for (const auto& [k, o] : objects_) {
      const std::string g = k.substr(0, k.find('/'));
      if (!g.empty()) groups[g] = true;
    }
    const auto group_json = [](const std::string& g) {
      const json gv = {{"groupVersion", g + "/v1"}, {"version", "v1"}};
      return json{{"name", g}, {"versions", {gv}}, {"preferredVersion", gv}};
    };
    if (segs.size() == 1 && segs[0] == "apis") {
      json list = json::array();
      for (const auto& [g, b] : groups) list.push_back(group_json(g));
      return json_reply(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}});
    }
    if (segs.size() == 2 && segs[0] == "apis" && groups.count(segs[1]) != 0) {
      json g = group_json(segs[1]);
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return json_reply(200, g);
    }
    if (segs.size() == 3 && segs[0] == "apis" && groups.count(segs[1]) != 0)
      return json_reply(200, resource_list_locked(segs[1], segs[2]));
    throw route_not_found();
  }

  json resource_list_locked(const std::string& group, const std::string& version) const {
    json res = json::array();
    for (const auto& [k, t] : types_) {
      if (t.group != group) continue;
      std::string singular = lower(t.kind);
      json verbs = {"create", "delete", "deletecollection", "get",
                    "list",   "patch",  "update",           "watch"};
      res.push_back({{"name", t.resource},
                     {"singularName", singular},
                     {"namespaced", t.namespaced},
                     {"kind", t.kind},
                     {"verbs", verbs}});
      if (t.status_subresource)
        res.push_back({{"name", t.resource + "/status"},
                       {"singularName", ""},
                       {"namespaced", t.namespaced},
                       {"kind", t.kind},
                       {"verbs", {"get", "patch", "update"}}});
    }
    return {{"kind", "APIResourceList"},
            {"apiVersion", "v1"},
            {"groupVersion", group.empty() ? version : group + "/" + version},
            {"resources", res}};
  }

  // ---- watches --------------------------------------------------------------------------------

  std::size_t open_watches() const {
    std::lock_guard l(mu_);
    return watches_.size();
  }

  static json bookmark_object(const watch_state& w, std::uint64_t rv, bool initial_end) {
    json md = {{"resourceVersion", std::to_string(rv)}};
    if (initial_end) md["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    return {{"kind", w.rt.kind}, {"apiVersion", w.api_version}, {"metadata", md}};
  }

  static std::string event_line(std::string_view type, const json& obj) {
    return "{\"type\":\"" + std::string(type) + "\",\"object\":" + dump(obj) + "}\n";
  }

  bool matches(const watch_state& w, const json& obj) const {
    if (w.ns && meta_str(obj, "namespace") != *w.ns) return false;
    return labels_match(w.labels, obj) && fields_match(w.fields, obj);
  }

  // The watch cache's cacheWatcher.convertToWatchEvent: selector transitions become ADDED and
  // DELETED (the latter with the previous content and the event's resourceVersion).
  std::optional<std::string> convert(const watch_state& w, const stored_event& e) const {
    const bool cur = e.type != "DELETED" && matches(w, *e.obj);
    const bool old = e.prev && matches(w, *e.prev);
    const auto out = [&](const json& o) {
      json c = o;
      c["apiVersion"] = w.api_version;
      c["kind"] = w.rt.kind;
      return c;
    };
    if (cur && !old) return event_line("ADDED", out(*e.obj));
    if (cur && old) return event_line("MODIFIED", out(*e.obj));
    if (!cur && old) {
      json o = out(*e.prev);
      meta_of(o)["resourceVersion"] = std::to_string(e.rv);
      return event_line("DELETED", o);
    }
    return std::nullopt;
  }

  template <class Stream>
  bool write_chunk(Stream& s, std::string_view data) {
    boost::system::error_code ec;
    net::write(s, http::make_chunk(net::buffer(data.data(), data.size())), ec);
    return !ec;
  }

  // One watch line, split into chunks when the fault is on.
  template <class Stream>
  bool write_line(Stream& s, const std::string& line) {
    int pieces;
    bool random;
    std::vector<std::size_t> at;
    std::chrono::milliseconds gap;
    {
      std::lock_guard l(fault_mu_);
      pieces = split_pieces_;
      random = split_random_;
      at = split_at_;
      gap = split_gap_;
    }
    std::set<std::size_t> cuts;
    if (!at.empty()) {
      for (std::size_t c : at)
        if (c > 0 && c < line.size()) cuts.insert(c);
    } else if (pieces > 1 && line.size() >= 2) {
      const std::size_t n = std::min<std::size_t>(std::size_t(pieces), line.size());
      if (random) {
        while (cuts.size() < n - 1) cuts.insert(1 + random_u64() % (line.size() - 1));
      } else {
        for (std::size_t i = 1; i < n; ++i) cuts.insert(line.size() * i / n);
      }
    }
    if (cuts.empty()) return write_chunk(s, line);
    cuts.insert(line.size());
    std::size_t from = 0;
    for (std::size_t to : cuts) {
      if (!write_chunk(s, std::string_view(line).substr(from, to - from))) return false;
      from = to;
      if (to != line.size() && !sleep_for(gap)) return false;
    }
    return true;
  }

  template <class Stream>
  bool serve_watch(Stream& s, conn_info& ci, request_record& rec, const api_path& ap,
                   bool keep_alive) {
    auto w = std::make_shared<watch_state>();
    std::vector<std::string> initial;  // lines before the live events
    std::optional<json> too_old;       // the ERROR event's Status
    std::uint64_t start_rv = 0;
    std::int64_t timeout_seconds = 0;
    bool initial_end_bookmark = false;
    {
      std::lock_guard l(mu_);
      const resource_type rt = resolve_locked(ap);
      if (!ap.sub.empty()) throw route_not_found();
      list_params p = parse_list_params(rec.query, rt);
      if (!ap.name.empty()) p.fields.push_back({"metadata.name", true, ap.name});
      std::vector<field_error> errs;
      if (p.send_initial) {
        if (p.rv_match != "NotOlderThan")
          errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                          "Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                          "NotOlderThan"});
        if (*p.send_initial && !p.bookmarks)
          errs.push_back({"FieldValueForbidden", "allowWatchBookmarks",
                          "Forbidden: allowWatchBookmarks must be set to true when "
                          "sendInitialEvents is set"});
      }
      if (!p.rv_match.empty()) {
        if (!p.send_initial)
          errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                          "Forbidden: resourceVersionMatch is forbidden for watch unless "
                          "sendInitialEvents is provided"});
        if (p.rv_match != "NotOlderThan")
          errs.push_back({"FieldValueNotSupported", "resourceVersionMatch",
                          "Unsupported value: " + go_quote(p.rv_match) +
                              ": supported values: \"NotOlderThan\""});
      }
      if (!errs.empty()) throw invalid_list_options(errs);
      const std::uint64_t from = rv_param(p.rv);
      timeout_seconds = p.timeout_seconds;
      w->rkey = ap.rkey();
      w->rt = rt;
      w->api_version = ap.api_version();
      if (ap.has_ns) w->ns = ap.ns;
      w->labels = std::move(p.labels);
      w->fields = std::move(p.fields);
      w->bookmarks = p.bookmarks;
      const bool synthetic = p.send_initial ? *p.send_initial : from == 0;
      if (synthetic) {
        if (auto it = objects_.find(ap.rkey()); it != objects_.end())
          for (const auto& [k, o] : it->second)
            if (matches(*w, *o)) {
              json c = *o;
              c["apiVersion"] = w->api_version;
              c["kind"] = rt.kind;
              initial.push_back(event_line("ADDED", c));
            }
        initial_end_bookmark = p.send_initial.value_or(false);
      } else if (from != 0) {
        if (from < compacted_) {
          too_old = make_status(410, "Expired",
                                "too old resource version: " + std::to_string(from) + " (" +
                                    std::to_string(compacted_) + ")");
        } else {
          for (const auto& e : history_)
            if (e->rv > from && e->rkey == w->rkey)
              if (auto line = convert(*w, *e)) initial.push_back(std::move(*line));
        }
      }
      if (too_old && opts_.watch_expired_as_http_410) throw status_error(*too_old);
      start_rv = rv_;
      w->fed_rv = rv_;
      if (!too_old) watches_.push_back(w);
    }
    if (!too_old) notify_change();
    struct unregister {
      impl* self;
      std::shared_ptr<watch_state> w;
      bool active;
      ~unregister() {
        if (!active) return;
        {
          std::lock_guard l(self->mu_);
          self->watches_.remove(w);
        }
        self->notify_change();
      }
    } guard{this, w, !too_old.has_value()};

    http::response<http::empty_body> res;
    res.version(11);
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-cache, private");
    res.chunked(true);
    res.keep_alive(keep_alive);
    http::response_serializer<http::empty_body> sr(res);
    rec.status = 200;
    log_request(rec);
    boost::system::error_code ec;
    http::write_header(s, sr, ec);
    if (ec) return false;

    const auto end_cleanly = [&] {
      boost::system::error_code e2;
      net::write(s, http::make_chunk_last(), e2);
      return !e2 && keep_alive;
    };
    const auto abort_connection = [&] {
      ::shutdown(ci.fd, SHUT_RDWR);  // no terminating chunk, no close_notify
      return false;
    };
    if (too_old) {
      if (!write_line(s, event_line("ERROR", *too_old))) return false;
      return end_cleanly();
    }
    for (const auto& line : initial)
      if (!write_line(s, line)) return false;
    if (initial_end_bookmark &&
        !write_line(s, event_line("BOOKMARK", bookmark_object(*w, start_rv, true))))
      return false;

    const auto now = steady::now();
    std::optional<steady::time_point> deadline;
    if (timeout_seconds > 0) deadline = now + std::chrono::seconds(timeout_seconds);
    auto next_bookmark = now + opts_.bookmark_interval;
    for (;;) {
      std::deque<event_ptr> batch;
      bool close_now, end_now, bookmark_now, stopping;
      std::uint64_t fed;
      std::optional<std::size_t> close_after;
      {
        std::unique_lock l(w->m);
        auto until = steady::now() + std::chrono::milliseconds(50);
        if (w->bookmarks) until = std::min(until, next_bookmark);
        if (deadline) until = std::min(until, *deadline);
        w->cv.wait_until(l, until, [&] {
          return !w->queue.empty() || w->close_now || w->end_now || w->bookmark_now || w->stopping;
        });
        batch.swap(w->queue);
        close_now = w->close_now;
        end_now = w->end_now;
        bookmark_now = w->bookmark_now;
        w->bookmark_now = false;
        stopping = w->stopping;
        fed = w->fed_rv;
        close_after = w->close_after;
      }
      if (stopping || close_now) return abort_connection();
      for (const auto& e : batch) {
        auto line = convert(*w, *e);
        if (!line) continue;
        if (!write_line(s, *line)) return false;
        if (close_after) {
          std::lock_guard l(w->m);
          if (w->close_after && --*w->close_after == 0) return abort_connection();
        }
      }
      if (end_now || (deadline && steady::now() >= *deadline)) return end_cleanly();
      if (w->bookmarks && (bookmark_now || steady::now() >= next_bookmark)) {
        if (!write_line(s, event_line("BOOKMARK", bookmark_object(*w, fed, false)))) return false;
        next_bookmark = steady::now() + opts_.bookmark_interval;
      }
      if (peer_gone(ci.fd)) return false;
    }
  }

  // ---- test API -----------------------------------------------------------------------------

  static api_path path_or_throw(std::string_view path) {
    auto ap = parse_resource_path(path);
    if (!ap) throw std::invalid_argument("not a resource path: " + std::string(path));
    return *ap;
  }

  void for_each_watch(const std::function<void(watch_state&)>& f) {
    std::lock_guard l(mu_);
    for (const auto& w : watches_) {
      {
        std::lock_guard wl(w->m);
        f(*w);
      }
      w->cv.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard l(conns_mu_);
      if (stopped_) return;
      stopped_ = true;
      {
        std::lock_guard sl(sleep_mu_);
        stopping_ = true;
      }
      ::shutdown(acceptor_fd_, SHUT_RDWR);
      for (const auto& c : conns_)
        if (c->fd >= 0) ::shutdown(c->fd, SHUT_RDWR);
    }
    sleep_cv_.notify_all();
    for_each_watch([](watch_state& w) { w.stopping = true; });
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<std::shared_ptr<conn_entry>> conns;
    {
      std::lock_guard l(conns_mu_);
      conns.swap(conns_);
    }
    for (auto& c : conns)
      if (c->th.joinable()) c->th.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
};

// =================================================================================================

fake_apiserver::fake_apiserver(fake_apiserver_options options)
    : impl_(std::make_shared<impl>(std::move(options))) {}

fake_apiserver::~fake_apiserver() { stop(); }

std::uint16_t fake_apiserver::port() const { return impl_->port_; }

std::string fake_apiserver::url() const {
  return std::string(impl_->opts_.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port_);
}

const std::string& fake_apiserver::ca_pem() const { return impl_->ca_.cert_pem(); }

key_pair fake_apiserver::client_certificate(std::string_view user,
                                            const std::vector<std::string>& groups) const {
  return impl_->ca_.issue_client(user, groups);
}

void fake_apiserver::register_resource(resource_type type) {
  std::lock_guard l(impl_->mu_);
  if (type.kind.empty()) type.kind = guess_kind(type.resource);
  impl_->types_[type.group + "/" + type.resource] = std::move(type);
}

nlohmann::json fake_apiserver::create(std::string_view collection_path, nlohmann::json object) {
  const api_path ap = impl::path_or_throw(collection_path);
  std::lock_guard l(impl_->mu_);
  return impl_->create_locked(ap, std::move(object));
}

nlohmann::json fake_apiserver::update(std::string_view object_path, nlohmann::json object) {
  const api_path ap = impl::path_or_throw(object_path);
  std::lock_guard l(impl_->mu_);
  if (object.is_object() && !meta_of(object).contains("name")) meta_of(object)["name"] = ap.name;
  return impl_->update_locked(ap, std::move(object));
}

nlohmann::json fake_apiserver::patch(std::string_view object_path,
                                     const nlohmann::json& merge_patch) {
  const api_path ap = impl::path_or_throw(object_path);
  std::lock_guard l(impl_->mu_);
  return impl_->patch_locked(ap, "application/merge-patch+json", merge_patch.dump());
}

nlohmann::json fake_apiserver::remove(std::string_view object_path) {
  const api_path ap = impl::path_or_throw(object_path);
  std::lock_guard l(impl_->mu_);
  const obj_ptr before = impl_->find_locked(ap);
  json r = impl_->delete_locked(ap, json::object());
  // The Status-returning resources (configmaps, leases, ...): the object as it was, all the same.
  if (before && str_of(r, "kind") == "Status")
    return impl::present(*before, ap, impl_->type_locked(ap.group, ap.resource));
  return r;
}

std::optional<nlohmann::json> fake_apiserver::get(std::string_view object_path) const {
  const api_path ap = impl::path_or_throw(object_path);
  std::lock_guard l(impl_->mu_);
  const resource_type rt = impl_->resolve_locked(ap);
  obj_ptr o = impl_->find_locked(ap);
  if (!o) return std::nullopt;
  return impl::present(*o, ap, rt);
}

std::vector<nlohmann::json> fake_apiserver::list(std::string_view collection_path) const {
  const api_path ap = impl::path_or_throw(collection_path);
  std::lock_guard l(impl_->mu_);
  const resource_type rt = impl_->resolve_locked(ap);
  std::vector<nlohmann::json> out;
  if (auto it = impl_->objects_.find(ap.rkey()); it != impl_->objects_.end())
    for (const auto& [k, o] : it->second)
      if (impl::in_scope(*o, ap)) out.push_back(impl::present(*o, ap, rt));
  return out;
}

std::string fake_apiserver::resource_version() const {
  std::lock_guard l(impl_->mu_);
  return std::to_string(impl_->rv_);
}

void fake_apiserver::compact() {
  std::lock_guard l(impl_->mu_);
  impl_->history_.clear();
  impl_->compacted_ = impl_->rv_;
}

void fake_apiserver::set_history_limit(std::size_t events) {
  std::lock_guard l(impl_->mu_);
  impl_->history_limit_ = events;
  impl_->trim_history_locked();
}

void fake_apiserver::close_watches(std::size_t after_events) {
  impl_->for_each_watch([&](watch_state& w) {
    if (after_events == 0)
      w.close_now = true;
    else
      w.close_after = after_events;
  });
}

void fake_apiserver::end_watches() {
  impl_->for_each_watch([](watch_state& w) { w.end_now = true; });
}

void fake_apiserver::split_watch_lines(int pieces, bool random_positions,
                                       std::chrono::milliseconds gap) {
  std::lock_guard l(impl_->fault_mu_);
  impl_->split_pieces_ = pieces;
  impl_->split_random_ = random_positions;
  impl_->split_at_.clear();
  impl_->split_gap_ = gap;
}

void fake_apiserver::split_watch_lines_at(std::vector<std::size_t> offsets,
                                          std::chrono::milliseconds gap) {
  std::lock_guard l(impl_->fault_mu_);
  impl_->split_at_ = std::move(offsets);
  impl_->split_gap_ = gap;
}

void fake_apiserver::fail_next(int count, unsigned status, std::string match,
                               int retry_after_seconds) {
  if (count <= 0) return;
  std::lock_guard l(impl_->fault_mu_);
  impl_->fail_rules_.push_back({count, status, std::move(match), retry_after_seconds});
}

void fake_apiserver::set_delay(std::chrono::milliseconds delay) {
  std::lock_guard l(impl_->fault_mu_);
  impl_->delay_ = delay;
}

void fake_apiserver::send_bookmarks_now() {
  impl_->for_each_watch([](watch_state& w) {
    if (w.bookmarks) w.bookmark_now = true;
  });
}

std::vector<request_record> fake_apiserver::requests() const {
  std::lock_guard l(impl_->log_mu_);
  return impl_->log_;
}

void fake_apiserver::clear_requests() {
  std::lock_guard l(impl_->log_mu_);
  impl_->log_.clear();
}

std::size_t fake_apiserver::open_watches() const { return impl_->open_watches(); }

bool fake_apiserver::wait_for_watches(std::size_t n, std::chrono::milliseconds timeout) const {
  return impl_->wait_until([&] { return impl_->open_watches() == n; }, timeout);
}

bool fake_apiserver::wait_until(const std::function<bool()>& pred,
                                std::chrono::milliseconds timeout) const {
  return impl_->wait_until(pred, timeout);
}

void fake_apiserver::stop() { impl_->stop(); }

}  // namespace operant::kube::test
