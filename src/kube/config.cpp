// kubeconfig loading (client-go's clientcmd), in-cluster configuration (rest.InClusterConfig) and
// controller-runtime's search order.
#include "operant/kube/config.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <utility>

#include "config_internal.h"
#include "operant/detail/text.h"

namespace operant::kube {

std::string default_user_agent() { return "operant/" OPERANT_VERSION; }

namespace detail {

using operant::detail::base64_value;

std::optional<std::string> base64_decode(std::string_view text, std::string* error) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  unsigned group = 0;  // bits collected
  int count = 0;       // sextets in the current quantum
  int pad = 0;         // '=' seen in the current (last) quantum
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      // Padding completes a quantum of 2 or 3 sextets and ends the text.
      if (count + pad < 2) {
        *error = "misplaced '=' at offset " + std::to_string(i);
        return std::nullopt;
      }
      ++pad;
      if (count + pad == 4) {
        count = 4;  // complete; only newlines may follow
      } else if (count + pad > 4) {
        *error = "misplaced '=' at offset " + std::to_string(i);
        return std::nullopt;
      }
      continue;
    }
    if (pad > 0) {
      *error = "data after the '=' padding at offset " + std::to_string(i);
      return std::nullopt;
    }
    const int v = base64_value(c);
    if (v < 0) {
      *error = c >= 0x20 && c < 0x7f
                   ? "invalid character '" + std::string(1, static_cast<char>(c)) + "' at offset " +
                         std::to_string(i)
                   : "invalid byte at offset " + std::to_string(i);
      return std::nullopt;
    }
    group = (group << 6) | static_cast<unsigned>(v);
    if (++count == 4) {
      out += static_cast<char>((group >> 16) & 0xff);
      out += static_cast<char>((group >> 8) & 0xff);
      out += static_cast<char>(group & 0xff);
      group = 0;
      count = 0;
    }
  }
  if (pad > 0) {
    if (count != 4) {
      *error = "incomplete '=' padding at the end";
      return std::nullopt;
    }
    // The last quantum held 4 - pad sextets; Go (without Strict) ignores its unused low bits.
    const int sextets = 4 - pad;
    group <<= 6 * pad;
    out += static_cast<char>((group >> 16) & 0xff);
    if (sextets == 3) out += static_cast<char>((group >> 8) & 0xff);
    return out;
  }
  if (count != 0) {
    *error = "length is not a multiple of 4 (missing '=' padding?)";
    return std::nullopt;
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i < bytes.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    const bool two = i + 1 < bytes.size();
    if (two) n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += two ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string read_regular_file(const std::string& path, std::size_t limit) {
  if (path.find('\0') != std::string::npos) throw read_error("the path contains a NUL byte");
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) throw read_error(std::generic_category().message(errno));
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw read_error(std::generic_category().message(errno));
  if (S_ISDIR(st.st_mode)) throw read_error("is a directory");
  if (!S_ISREG(st.st_mode)) throw read_error("not a regular file");
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) throw read_error("would block");
      throw read_error(std::generic_category().message(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > limit)
      throw read_error("larger than " + std::to_string(limit >> 20) + " MiB");
  }
  return text;
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::quote;

constexpr std::string_view k_exec_v1 = "client.authentication.k8s.io/v1";
constexpr std::string_view k_exec_v1beta1 = "client.authentication.k8s.io/v1beta1";
constexpr std::string_view k_exec_v1alpha1 = "client.authentication.k8s.io/v1alpha1";
constexpr std::size_t k_max_kubeconfig = std::size_t{16} << 20;

// Where a value was found: the file, the position yaml-cpp gives (0-based; -1 if none) and the
// field path.
struct site {
  std::string file;
  int line = -1;
  int column = -1;
  std::string path;
};

std::string where(const site& at) {
  std::string s = "kubeconfig " + at.file;
  if (at.line >= 0) s += ":" + std::to_string(at.line + 1) + ":" + std::to_string(at.column + 1);
  return s;
}

[[noreturn]] void fail(const site& at, const std::string& what) {
  throw config_error(where(at) + ": " + (at.path.empty() ? what : at.path + ": " + what));
}

// A string field and where it was given (`at` is the entry's site when it was not).
struct text_field {
  std::string value;
  site at;
};

struct raw_cluster {
  site at;  // the list item
  std::string file;
  text_field server, tls_server_name, ca_file, ca_data, proxy_url;
  bool insecure = false;
  site insecure_at;
};

struct raw_exec {
  site at;
  text_field api_version, command, interactive_mode, install_hint;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<site> env_at;
  bool provide_cluster_info = false;
};

struct raw_user {
  site at;
  text_field cert_file, cert_data, key_file, key_data, token, token_file, username, password;
  std::optional<raw_exec> exec;
  std::optional<site> auth_provider;
  std::optional<site> impersonation;
  std::string impersonation_key;
};

struct raw_context {
  site at;
  text_field cluster, user, ns;
};

struct raw_file {
  std::string name;
  std::map<std::string, raw_cluster, std::less<>> clusters;
  std::map<std::string, raw_user, std::less<>> users;
  std::map<std::string, raw_context, std::less<>> contexts;
  text_field current_context;
};

// ---- YAML scalars as Go's yaml.v2 resolves them ------------------------------------------------
// client-go converts YAML to JSON before decoding, so an unquoted 123, 1.5 or yes is a JSON
// number or boolean and decoding it into a string field fails; quoted, it is a string.

bool is_yaml_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> yaml_bool(std::string_view s) {
  static constexpr std::string_view yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                             "True", "TRUE", "on",  "On",  "ON"};
  static constexpr std::string_view no[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                            "False", "FALSE", "off", "Off", "OFF"};
  for (const auto y : yes)
    if (s == y) return true;
  for (const auto n : no)
    if (s == n) return false;
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_yaml_number(std::string_view in) {
  static constexpr std::string_view specials[] = {".inf",  ".Inf",  ".INF",  "+.inf",
                                                  "+.Inf", "+.INF", "-.inf", "-.Inf",
                                                  "-.INF", ".nan",  ".NaN",  ".NAN"};
  for (const auto s : specials)
    if (in == s) return true;
  // yaml.v2 tries numbers only for scalars starting with one of these.
  if (in.empty() || std::string_view("+-.0123456789").find(in[0]) == std::string_view::npos)
    return false;
  std::string plain;
  for (const char c : in)
    if (c != '_') plain += c;
  std::string_view s = plain;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.empty()) return false;
  auto all_of = [](std::string_view t, auto pred) {
    return !t.empty() && std::all_of(t.begin(), t.end(), pred);
  };
  if (s.size() > 2 && s[0] == '0') {
    const std::string_view rest = s.substr(2);
    if (s[1] == 'x' || s[1] == 'X')
      return all_of(rest, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (s[1] == 'o' || s[1] == 'O')
      return all_of(rest, [](char c) { return c >= '0' && c <= '7'; });
    if (s[1] == 'b' || s[1] == 'B')
      return all_of(rest, [](char c) { return c == '0' || c == '1'; });
  }
  // ^(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
  std::size_t i = 0;
  const std::size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  const bool int_digits = i > int_start;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (!int_digits && i == frac_start) return false;
  } else if (!int_digits) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t exp_start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == s.size();
}

enum class scalar_kind { null, boolean, number, string };

scalar_kind kind_of(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return scalar_kind::null;
  const std::string& tag = n.Tag();
  const std::string& s = n.Scalar();
  if (tag == "?") {  // plain: resolved by its text
    if (is_yaml_null(s)) return scalar_kind::null;
    if (yaml_bool(s)) return scalar_kind::boolean;
    if (is_yaml_number(s)) return scalar_kind::number;
    return scalar_kind::string;
  }
  if (tag == "tag:yaml.org,2002:bool") return scalar_kind::boolean;
  if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float")
    return scalar_kind::number;
  if (tag == "tag:yaml.org,2002:null") return scalar_kind::null;
  return scalar_kind::string;  // quoted, block, !!str or another tag
}

std::string describe(const YAML::Node& n, bool secret) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      break;
  }
  const std::string shown = secret ? std::string("(value not shown)") : quote(n.Scalar());
  switch (kind_of(n)) {
    case scalar_kind::boolean:
      return "the boolean " + shown;
    case scalar_kind::number:
      return "the number " + shown;
    case scalar_kind::null:
      return "null";
    case scalar_kind::string:
      break;
  }
  return "the string " + shown;
}

// Fields whose values are never shown in messages.
bool is_secret_field(std::string_view key) {
  return key == "token" || key == "password" || key == "client-key-data";
}

bool dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || is_digit(c); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// The offset of the first byte that is not part of well-formed UTF-8 (no overlong forms,
// surrogates or code points above U+10FFFF), or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return i;
    }
    if (i + n >= s.size()) return i;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

// ---- one file ------------------------------------------------------------------------------

class file_parser {
 public:
  file_parser(std::string name, fs::path dir) : name_(std::move(name)), dir_(std::move(dir)) {}

  raw_file parse(std::string_view text) {
    raw_file out;
    out.name = name_;
    out.current_context.at = at_mark(YAML::Mark::null_mark(), "");
    if (const std::size_t bad = invalid_utf8_at(text); bad != std::string_view::npos) {
      const std::string_view before = text.substr(0, bad);
      const auto line = std::count(before.begin(), before.end(), '\n');
      const auto line_start = before.rfind('\n');
      const std::size_t column = line_start == std::string_view::npos ? bad : bad - line_start - 1;
      fail({name_, static_cast<int>(line), static_cast<int>(column), ""},
           "not valid UTF-8 (a kubeconfig is UTF-8 text)");
    }
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      fail(at_mark(e.mark, ""), "YAML syntax error: " + e.msg);
    }
    if (!root.IsDefined() || root.IsNull()) return out;  // an empty file: an empty config
    if (!root.IsMap())
      fail(at(root, ""),
           "expected a mapping (apiVersion, kind, clusters, users, contexts, ...), got " +
               describe(root, false));
    for_each_entry(root, "", [&](const std::string& key, const YAML::Node& value, const site& f) {
      if (key == "apiVersion") {
        const std::string v = string_value(value, f, key);
        if (!v.empty() && v != "v1")
          fail(f, quote(v) + " is not a kubeconfig version (expected v1)");
      } else if (key == "kind") {
        const std::string v = string_value(value, f, key);
        if (!v.empty() && v != "Config") fail(f, quote(v) + " is not Config");
      } else if (key == "current-context") {
        out.current_context = {string_value(value, f, key), f};
      } else if (key == "clusters") {
        named_list(value, f, "cluster",
                   [&](const std::string& name, const YAML::Node& body, const site& item,
                       const site& body_at) {
                     auto [it, fresh] = out.clusters.try_emplace(name);
                     if (!fresh) duplicate(item, "cluster", name, it->second.at);
                     it->second = cluster(body, item, body_at);
                   });
      } else if (key == "users") {
        named_list(value, f, "user",
                   [&](const std::string& name, const YAML::Node& body, const site& item,
                       const site& body_at) {
                     auto [it, fresh] = out.users.try_emplace(name);
                     if (!fresh) duplicate(item, "user", name, it->second.at);
                     it->second = user(body, item, body_at);
                   });
      } else if (key == "contexts") {
        named_list(value, f, "context",
                   [&](const std::string& name, const YAML::Node& body, const site& item,
                       const site& body_at) {
                     auto [it, fresh] = out.contexts.try_emplace(name);
                     if (!fresh) duplicate(item, "context", name, it->second.at);
                     it->second = context(body, item, body_at);
                   });
      }
      // preferences, extensions and unknown keys are ignored, as client-go ignores them.
    });
    return out;
  }

 private:
  std::string name_;
  fs::path dir_;

  site at_mark(const YAML::Mark& m, std::string path) const {
    site s{name_, -1, -1, std::move(path)};
    if (!m.is_null() && m.line >= 0) {
      s.line = m.line;
      s.column = m.column;
    }
    return s;
  }
  site at(const YAML::Node& n, std::string path) const {
    return at_mark(n.IsDefined() ? n.Mark() : YAML::Mark::null_mark(), std::move(path));
  }

  [[noreturn]] static void duplicate(const site& item, std::string_view what,
                                     const std::string& name, const site& first) {
    site s = item;
    s.path += ".name";
    fail(s, std::string(what) + " " + quote(name) + " is defined twice in this file (first at " +
                first.path + (first.line >= 0 ? ", line " + std::to_string(first.line + 1) : "") +
                ")");
  }

  // Calls f(key, value, site of the value) for each entry of a mapping. Keys must be scalars and
  // unique: a repeated key would leave one of two values silently unused.
  template <typename F>
  void for_each_entry(const YAML::Node& map, const std::string& path, F&& f) const {
    std::map<std::string, site, std::less<>> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) fail(at(key, path), "keys must be strings, got " + describe(key, false));
      const std::string& name = key.Scalar();
      const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f && c != '.' && c != '[';
      });
      const std::string shown = plain ? name : quote(name);
      const std::string child = path.empty() ? shown : path + "." + shown;
      const site key_at = at(key, child);
      if (auto [prev, fresh] = seen.try_emplace(name, key_at); !fresh) {
        fail(key_at, "given twice (first at line " + std::to_string(prev->second.line + 1) + ")");
      }
      // A scalar's own position points at the value; a null (`key:`) or block collection
      // starts after the key, whose position is where a reader looks.
      f(name, value, value.IsScalar() ? at(value, child) : key_at);
    }
  }
  template <typename F>
  void for_each_entry(const YAML::Node& map, const site& s, F&& f) const {
    for_each_entry(map, s.path, std::forward<F>(f));
  }

  // A string field; null reads as empty (JSON null leaves a Go string empty).
  std::string string_value(const YAML::Node& n, const site& s, std::string_view key) const {
    if (!n.IsScalar()) {
      if (!n.IsDefined() || n.IsNull()) return {};
      fail(s, "expected a string, got " + describe(n, false));
    }
    switch (kind_of(n)) {
      case scalar_kind::null:
        return {};
      case scalar_kind::string:
        return n.Scalar();
      default:
        fail(s, "expected a string, got " + describe(n, is_secret_field(key)) +
                    " (quote it to make it a string)");
    }
  }

  bool bool_value(const YAML::Node& n, const site& s) const {
    if (!n.IsDefined() || n.IsNull()) return false;
    if (n.IsScalar() && kind_of(n) == scalar_kind::null) return false;
    if (n.IsScalar() && kind_of(n) == scalar_kind::boolean) {
      if (const auto b = yaml_bool(n.Scalar())) return *b;
    }
    fail(s, "expected a boolean (true or false), got " + describe(n, false));
  }

  // A path field: relative paths are resolved against the directory of this file.
  std::string path_value(const YAML::Node& n, const site& s, std::string_view key) const {
    std::string v = string_value(n, s, key);
    if (v.empty()) return v;
    if (v.find('\0') != std::string::npos) fail(s, quote(v) + " contains a NUL byte");
    return resolve(v);
  }
  std::string resolve(const std::string& v) const {
    const fs::path p(v);
    if (p.is_absolute() || dir_.empty()) return v;
    return (dir_ / p).lexically_normal().string();
  }

  // A *-data field: base64 text, decoded.
  std::string data_value(const YAML::Node& n, const site& s, std::string_view key) const {
    const std::string text = string_value(n, s, key);
    std::string error;
    auto bytes = detail::base64_decode(text, &error);
    if (!bytes) {
      fail(s, (is_secret_field(key) ? std::string("the value (not shown)") : quote(text)) +
                  " is not valid base64: " + error +
                  " (expected standard base64 with '=' padding, as `base64 -w0` writes it)");
    }
    return std::move(*bytes);
  }

  bool is_absent(const YAML::Node& n) const { return !n.IsDefined() || n.IsNull(); }

  void expect_map(const YAML::Node& n, const site& s, std::string_view expected) const {
    if (!n.IsMap())
      fail(s, "expected a mapping (" + std::string(expected) + "), got " + describe(n, false));
  }

  // clusters/users/contexts: a list of {name, <what>} items.
  template <typename F>
  void named_list(const YAML::Node& list, const site& s, std::string_view what, F&& f) const {
    if (is_absent(list)) return;
    if (!list.IsSequence())
      fail(s, "expected a list of {name, " + std::string(what) + "} entries, got " +
                  describe(list, false));
    std::size_t i = 0;
    for (auto it = list.begin(); it != list.end(); ++it, ++i) {
      const YAML::Node item = *it;
      const std::string item_path = s.path + "[" + std::to_string(i) + "]";
      const site item_at = at(item, item_path);
      expect_map(item, item_at, "name, " + std::string(what));
      std::optional<std::string> name;
      YAML::Node body;
      site body_at = item_at;
      body_at.path += "." + std::string(what);
      for_each_entry(item, item_path,
                     [&](const std::string& key, const YAML::Node& value, const site& f_at) {
                       if (key == "name") {
                         name = string_value(value, f_at, key);
                       } else if (key == what) {
                         body.reset(value);
                         body_at = f_at;
                       }
                     });
      if (!name || name->empty()) fail(item_at, "missing name");
      f(*name, body, item_at, body_at);
    }
  }

  raw_cluster cluster(const YAML::Node& body, const site& item, const site& body_at) const {
    raw_cluster c;
    c.at = item;
    c.file = name_;
    for (text_field* t : {&c.server, &c.tls_server_name, &c.ca_file, &c.ca_data, &c.proxy_url})
      t->at = body_at;
    c.insecure_at = body_at;
    if (is_absent(body)) return c;
    expect_map(body, body_at, "server, certificate-authority-data, ...");
    for_each_entry(body, body_at, [&](const std::string& key, const YAML::Node& v, const site& f) {
      if (key == "server") {
        c.server = {string_value(v, f, key), f};
      } else if (key == "tls-server-name") {
        c.tls_server_name = {string_value(v, f, key), f};
      } else if (key == "certificate-authority") {
        c.ca_file = {path_value(v, f, key), f};
      } else if (key == "certificate-authority-data") {
        c.ca_data = {data_value(v, f, key), f};
      } else if (key == "insecure-skip-tls-verify") {
        c.insecure = bool_value(v, f);
        c.insecure_at = f;
      } else if (key == "proxy-url") {
        c.proxy_url = {string_value(v, f, key), f};
      } else if (key == "disable-compression") {
        static_cast<void>(bool_value(v, f));  // checked; responses are never compressed here
      }
    });
    return c;
  }

  raw_user user(const YAML::Node& body, const site& item, const site& body_at) const {
    raw_user u;
    u.at = item;
    for (text_field* t : {&u.cert_file, &u.cert_data, &u.key_file, &u.key_data, &u.token,
                          &u.token_file, &u.username, &u.password})
      t->at = body_at;
    if (is_absent(body)) return u;
    expect_map(body, body_at, "token, client-certificate-data, exec, ...");
    for_each_entry(body, body_at, [&](const std::string& key, const YAML::Node& v, const site& f) {
      if (key == "client-certificate") {
        u.cert_file = {path_value(v, f, key), f};
      } else if (key == "client-certificate-data") {
        u.cert_data = {data_value(v, f, key), f};
      } else if (key == "client-key") {
        u.key_file = {path_value(v, f, key), f};
      } else if (key == "client-key-data") {
        u.key_data = {data_value(v, f, key), f};
      } else if (key == "token") {
        u.token = {string_value(v, f, key), f};
      } else if (key == "tokenFile") {
        u.token_file = {path_value(v, f, key), f};
      } else if (key == "username") {
        u.username = {string_value(v, f, key), f};
      } else if (key == "password") {
        u.password = {string_value(v, f, key), f};
      } else if (key == "exec") {
        if (!is_absent(v)) u.exec = exec(v, f);
      } else if (key == "auth-provider") {
        if (!is_absent(v)) {
          expect_map(v, f, "name, config");
          u.auth_provider = f;
        }
      } else if (key == "as" || key == "as-uid" || key == "as-groups" || key == "as-user-extra") {
        if (!is_absent(v) && !u.impersonation) {
          u.impersonation = f;
          u.impersonation_key = key;
        }
      }
    });
    return u;
  }

  raw_exec exec(const YAML::Node& body, const site& body_at) const {
    raw_exec e;
    e.at = body_at;
    for (text_field* t : {&e.api_version, &e.command, &e.interactive_mode, &e.install_hint})
      t->at = body_at;
    expect_map(body, body_at, "apiVersion, command, args, env, ...");
    for_each_entry(body, body_at, [&](const std::string& key, const YAML::Node& v, const site& f) {
      if (key == "apiVersion") {
        e.api_version = {string_value(v, f, key), f};
      } else if (key == "command") {
        std::string cmd = string_value(v, f, key);
        if (cmd.find('\0') != std::string::npos) fail(f, quote(cmd) + " contains a NUL byte");
        // client-go resolves a command with a path separator against the kubeconfig's
        // directory; a bare name is looked up in $PATH when run.
        if (cmd.find('/') != std::string::npos) cmd = resolve(cmd);
        e.command = {cmd, f};
      } else if (key == "args") {
        if (is_absent(v)) return;
        if (!v.IsSequence()) fail(f, "expected a list of strings, got " + describe(v, false));
        std::size_t i = 0;
        for (auto it = v.begin(); it != v.end(); ++it, ++i) {
          const YAML::Node a = *it;
          const site a_at = at(a, f.path + "[" + std::to_string(i) + "]");
          std::string arg = string_value(a, a_at, "");
          if (arg.find('\0') != std::string::npos) fail(a_at, quote(arg) + " contains a NUL byte");
          e.args.push_back(std::move(arg));
        }
      } else if (key == "env") {
        if (is_absent(v)) return;
        if (!v.IsSequence())
          fail(f, "expected a list of {name, value} entries, got " + describe(v, false));
        std::size_t i = 0;
        for (auto it = v.begin(); it != v.end(); ++it, ++i) {
          const YAML::Node item = *it;
          const std::string p = f.path + "[" + std::to_string(i) + "]";
          const site item_at = at(item, p);
          expect_map(item, item_at, "name, value");
          std::string name, value;
          for_each_entry(item, p, [&](const std::string& k, const YAML::Node& x, const site& xf) {
            if (k == "name") name = string_value(x, xf, k);
            if (k == "value") value = string_value(x, xf, k);
          });
          for (const std::string& s : {name, value})
            if (s.find('\0') != std::string::npos) fail(item_at, quote(s) + " contains a NUL byte");
          e.env.emplace_back(std::move(name), std::move(value));
          e.env_at.push_back(item_at);
        }
      } else if (key == "interactiveMode") {
        e.interactive_mode = {string_value(v, f, key), f};
      } else if (key == "installHint") {
        e.install_hint = {string_value(v, f, key), f};
      } else if (key == "provideClusterInfo") {
        e.provide_cluster_info = bool_value(v, f);
      }
    });
    return e;
  }

  raw_context context(const YAML::Node& body, const site& item, const site& body_at) const {
    raw_context c;
    c.at = item;
    for (text_field* t : {&c.cluster, &c.user, &c.ns}) t->at = body_at;
    if (is_absent(body)) return c;
    expect_map(body, body_at, "cluster, user, namespace");
    for_each_entry(body, body_at, [&](const std::string& key, const YAML::Node& v, const site& f) {
      if (key == "cluster") {
        c.cluster = {string_value(v, f, key), f};
      } else if (key == "user") {
        c.user = {string_value(v, f, key), f};
      } else if (key == "namespace") {
        c.ns = {string_value(v, f, key), f};
      }
    });
    return c;
  }
};

// ---- merged files → config -----------------------------------------------------------------

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

template <typename Map>
std::string names_of(const Map& m) {
  if (m.empty()) return "none";
  std::string out;
  std::size_t n = 0;
  for (const auto& [name, entry] : m) {
    if (++n > 20) {
      out += ", ...";
      break;
    }
    if (!out.empty()) out += ", ";
    out += quote(name);
  }
  return out;
}

// The server URL: a scheme (added when missing, as client-go does), a host, an optional port and
// path; no user info, query or fragment; trailing slashes removed. Returns "" and sets *problem
// when invalid.
std::string normalize_server(std::string s, bool default_tls, std::string* problem) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      *problem = "contains a space or control character";
      return {};
    }
  }
  std::string scheme;
  std::string rest;
  if (const auto p = s.find("://"); p != std::string::npos) {
    scheme = s.substr(0, p);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    rest = s.substr(p + 3);
    if (scheme != "https" && scheme != "http") {
      *problem = "has scheme " + quote(s.substr(0, p)) + " (expected https:// or http://)";
      return {};
    }
  } else {
    scheme = default_tls ? "https" : "http";
    rest = s;
  }
  if (rest.find_first_of("?#") != std::string::npos) {
    *problem = "has a query or fragment (expected https://host:port, optionally with a path)";
    return {};
  }
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string::npos) {
    *problem = "has user information before the host (give credentials in the user entry)";
    return {};
  }
  std::string host, port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) {
      *problem = "has an IPv6 address without its closing ']'";
      return {};
    }
    host = authority.substr(0, close + 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        *problem = "has text after the IPv6 address (expected [address]:port)";
        return {};
      }
      port = after.substr(1);
      if (port.empty()) {
        *problem = "has an empty port";
        return {};
      }
    }
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.find(':') != std::string::npos) {
        *problem = "has several ':' (an IPv6 address must be bracketed: https://[::1]:6443)";
        return {};
      }
      if (port.empty()) {
        *problem = "has an empty port";
        return {};
      }
    }
  }
  if (host.empty() || host == "[]") {
    *problem = "has no host (expected https://host:port)";
    return {};
  }
  if (!port.empty()) {
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
    if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
      *problem = "has port " + quote(port) + " (expected a number in 1..65535)";
      return {};
    }
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  return scheme + "://" + authority + path;
}

std::string read_for(const detail::file_reader& reader, const text_field& f,
                     std::string_view what) {
  try {
    return reader(f.value);
  } catch (const detail::read_error& e) {
    fail(f.at, "cannot read " + std::string(what) + " " + quote(f.value) + ": " + e.what());
  }
}

struct merged {
  std::vector<std::string> files;  // the files read, in order
  std::map<std::string, const raw_cluster*, std::less<>> clusters;
  std::map<std::string, const raw_user*, std::less<>> users;
  std::map<std::string, const raw_context*, std::less<>> contexts;
  const text_field* current_context = nullptr;
};

merged merge(const std::vector<raw_file>& files) {
  merged m;
  for (const raw_file& f : files) {
    m.files.push_back(f.name);
    // First file to define a name wins (clientcmd's ClientConfigLoadingRules.Load).
    for (const auto& [name, c] : f.clusters) m.clusters.try_emplace(name, &c);
    for (const auto& [name, u] : f.users) m.users.try_emplace(name, &u);
    for (const auto& [name, c] : f.contexts) m.contexts.try_emplace(name, &c);
    if (!m.current_context && !f.current_context.value.empty())
      m.current_context = &f.current_context;
  }
  return m;
}

void apply_exec(const raw_exec& e, const std::string& user_name, config& cfg) {
  exec_config x;
  x.api_version = e.api_version.value;
  if (x.api_version.empty())
    fail(e.api_version.at, "apiVersion is missing (expected " + std::string(k_exec_v1) + ")");
  if (x.api_version == k_exec_v1alpha1) {
    fail(e.api_version.at, quote(x.api_version) +
                               " was removed in Kubernetes 1.24 and is not supported: update the "
                               "plugin and use " +
                               std::string(k_exec_v1) + " (or v1beta1)");
  }
  if (x.api_version != k_exec_v1 && x.api_version != k_exec_v1beta1) {
    fail(e.api_version.at, quote(x.api_version) +
                               " is not an exec credential API version (expected " +
                               std::string(k_exec_v1) + " or " + std::string(k_exec_v1beta1) + ")");
  }
  x.command = e.command.value;
  if (x.command.empty())
    fail(e.command.at, "missing: user " + quote(user_name) + " has an exec plugin with no command");
  x.args = e.args;
  for (std::size_t i = 0; i < e.env.size(); ++i) {
    const auto& [name, value] = e.env[i];
    if (name.empty()) fail(e.env_at[i], "env entry without a name");
    if (name.find('=') != std::string::npos)
      fail(e.env_at[i], "env name " + quote(name) + " contains '='");
  }
  x.env = e.env;
  x.interactive_mode = e.interactive_mode.value;
  if (x.interactive_mode.empty()) {
    if (x.api_version == k_exec_v1)
      fail(e.interactive_mode.at,
           "interactiveMode is missing: " + std::string(k_exec_v1) +
               " requires it (Never, IfAvailable or Always; operant gives plugins no terminal, so "
               "Never or IfAvailable)");
    x.interactive_mode = "IfAvailable";  // v1beta1's default
  } else if (x.interactive_mode != "Never" && x.interactive_mode != "IfAvailable" &&
             x.interactive_mode != "Always") {
    fail(e.interactive_mode.at, quote(x.interactive_mode) +
                                    " is not an interactive mode (expected Never, IfAvailable or "
                                    "Always)");
  }
  x.provide_cluster_info = e.provide_cluster_info;
  x.install_hint = e.install_hint.value;
  cfg.exec = std::move(x);
}

config build(const merged& m, std::string_view context_name, const detail::file_reader& reader) {
  const std::string files = join(m.files, ":");
  config cfg;
  cfg.source = files;

  std::string name(context_name);
  if (name.empty()) {
    if (!m.current_context) {
      throw config_error("kubeconfig " + files +
                         ": no context given and current-context is not set (set it with "
                         "`kubectl config use-context NAME`; contexts defined: " +
                         names_of(m.contexts) + ")");
    }
    name = m.current_context->value;
  }
  const auto ctx_it = m.contexts.find(name);
  if (ctx_it == m.contexts.end()) {
    std::string msg = "kubeconfig " + files + ": context " + quote(name) + " not found";
    if (context_name.empty())
      msg += " (it is the current-context, set at " + where(m.current_context->at) + ")";
    throw config_error(msg + "; contexts defined: " + names_of(m.contexts));
  }
  const raw_context& ctx = *ctx_it->second;
  cfg.context = name;

  // The context.
  if (ctx.cluster.value.empty())
    fail(ctx.cluster.at, "context " + quote(name) + " names no cluster");
  const auto cl_it = m.clusters.find(ctx.cluster.value);
  if (cl_it == m.clusters.end()) {
    fail(ctx.cluster.at, "cluster " + quote(ctx.cluster.value) + " of context " + quote(name) +
                             " is not defined in " + files +
                             " (clusters defined: " + names_of(m.clusters) + ")");
  }
  const raw_user* user = nullptr;
  if (!ctx.user.value.empty()) {
    const auto u_it = m.users.find(ctx.user.value);
    if (u_it == m.users.end()) {
      fail(ctx.user.at, "user " + quote(ctx.user.value) + " of context " + quote(name) +
                            " is not defined in " + files +
                            " (users defined: " + names_of(m.users) + ")");
    }
    user = u_it->second;
  }
  if (!ctx.ns.value.empty()) {
    if (!dns1123_label(ctx.ns.value)) {
      fail(ctx.ns.at, quote(ctx.ns.value) +
                          " is not a namespace name (expected a DNS-1123 label: at most 63 "
                          "characters a-z, 0-9 and '-', starting and ending alphanumeric)");
    }
    cfg.namespace_ = ctx.ns.value;
  }

  // The user (first: a client certificate decides the default scheme of the server).
  if (user) {
    const raw_user& u = *user;
    const std::string& uname = ctx.user.value;
    if (u.auth_provider) {
      fail(*u.auth_provider,
           "user " + quote(uname) +
               ": auth-provider is not supported (kubectl removed it in 1.26); use an exec "
               "plugin instead (gke-gcloud-auth-plugin, kubelogin, ...)");
    }
    if (u.impersonation) {
      fail(*u.impersonation, "user " + quote(uname) + ": impersonation (" + u.impersonation_key +
                                 ") is not supported");
    }
    if (!u.cert_file.value.empty() && !u.cert_data.value.empty())
      fail(u.cert_data.at,
           "client-certificate and client-certificate-data are both given; give one");
    if (!u.key_file.value.empty() && !u.key_data.value.empty())
      fail(u.key_data.at, "client-key and client-key-data are both given; give one");
    const bool has_cert = !u.cert_file.value.empty() || !u.cert_data.value.empty();
    const bool has_key = !u.key_file.value.empty() || !u.key_data.value.empty();
    if (has_cert && !has_key) {
      site s = u.at;
      s.path += ".user.client-key-data";
      fail(s, "missing: user " + quote(uname) +
                  " has a client certificate but no client-key or client-key-data");
    }
    if (has_key && !has_cert) {
      site s = u.at;
      s.path += ".user.client-certificate-data";
      fail(s, "missing: user " + quote(uname) +
                  " has a client key but no client-certificate or client-certificate-data");
    }
    cfg.client_cert_pem =
        u.cert_file.value.empty() ? u.cert_data.value : read_for(reader, u.cert_file, "file");
    cfg.client_key_pem =
        u.key_file.value.empty() ? u.key_data.value : read_for(reader, u.key_file, "file");

    std::vector<std::string> methods;
    if (!u.token.value.empty() || !u.token_file.value.empty()) methods.emplace_back("token");
    if (!u.username.value.empty() || !u.password.value.empty()) methods.emplace_back("basic auth");
    if (u.exec) methods.emplace_back("exec");
    if (methods.size() > 1) {
      site s = u.at;
      s.path += ".user";
      fail(s, "user " + quote(uname) + " has more than one authentication method (" +
                  join(methods, ", ") + "); give only one");
    }
    cfg.bearer_token = u.token.value;
    if (!u.token_file.value.empty()) {
      static_cast<void>(read_for(reader, u.token_file, "token file"));
      cfg.bearer_token_file = u.token_file.value;
    }
    cfg.username = u.username.value;
    cfg.password = u.password.value;
    if (u.exec) apply_exec(*u.exec, uname, cfg);
  }

  // The cluster.
  const raw_cluster& c = *cl_it->second;
  const std::string& cname = ctx.cluster.value;
  if (!c.proxy_url.value.empty()) {
    fail(c.proxy_url.at, "cluster " + quote(cname) + ": proxy-url " + quote(c.proxy_url.value) +
                             " is not supported (operant's HTTP client connects directly)");
  }
  if (!c.ca_file.value.empty() && !c.ca_data.value.empty()) {
    fail(c.ca_data.at,
         "certificate-authority and certificate-authority-data are both given; give one");
  }
  const bool has_ca = !c.ca_file.value.empty() || !c.ca_data.value.empty();
  if (c.insecure && has_ca) {
    fail(c.insecure_at, "cluster " + quote(cname) +
                            ": insecure-skip-tls-verify is true and a certificate authority is "
                            "given; remove one (client-go refuses both)");
  }
  if (c.server.value.empty()) {
    site s = c.server.at;
    if (s.path.find(".server") == std::string::npos) s.path += ".server";
    fail(s, "missing: cluster " + quote(cname) + " has no server");
  }
  std::string problem;
  cfg.server = normalize_server(c.server.value,
                                has_ca || c.insecure || !cfg.client_cert_pem.empty(), &problem);
  if (cfg.server.empty()) fail(c.server.at, quote(c.server.value) + " " + problem);
  cfg.tls_server_name = c.tls_server_name.value;
  cfg.insecure_skip_tls_verify = c.insecure;
  if (!c.ca_file.value.empty()) {
    cfg.ca_pem = read_for(reader, c.ca_file, "file");
    cfg.ca_file = c.ca_file.value;
  } else {
    cfg.ca_pem = c.ca_data.value;
  }
  return cfg;
}

fs::path absolute_dir_of(const std::string& file) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(file), ec);
  if (ec) return fs::path(file).parent_path();
  return p.parent_path();
}

std::string trim(std::string s) {
  const auto not_space = [](char c) { return !std::isspace(static_cast<unsigned char>(c)); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string home_dir() {
  if (const char* h = std::getenv("HOME"); h && *h) return h;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* result = nullptr;
  if (getpwuid_r(getuid(), &pw, buf.data(), buf.size(), &result) == 0 && result && pw.pw_dir)
    return pw.pw_dir;
  return {};
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace

namespace detail {

config load_kubeconfig_text(std::string_view yaml, std::string_view file_name_for_errors,
                            std::string_view context, const file_reader& reader) {
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) cwd.clear();
  std::vector<raw_file> files;
  try {
    files.push_back(file_parser(std::string(file_name_for_errors), cwd).parse(yaml));
    return build(merge(files), context, reader);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's accessors throw only on misuse; report rather than let it escape as another type.
    throw config_error("kubeconfig " + std::string(file_name_for_errors) + ": " + e.msg);
  }
}

}  // namespace detail

config load_kubeconfig_text(std::string_view yaml, std::string_view file_name_for_errors,
                            std::string_view context) {
  return detail::load_kubeconfig_text(
      yaml, file_name_for_errors, context,
      [](const std::string& p) { return detail::read_regular_file(p); });
}

config load_kubeconfig(const std::vector<std::string>& files, std::string_view context) {
  if (files.empty()) throw config_error("kubeconfig: no file given");
  std::vector<raw_file> parsed;
  std::vector<std::string> missing;
  for (const std::string& file : files) {
    if (file.empty()) continue;
    if (!file_exists(file)) {
      missing.push_back(file);  // skipped, as client-go skips them
      continue;
    }
    std::string text;
    try {
      text = detail::read_regular_file(file, k_max_kubeconfig);
    } catch (const detail::read_error& e) {
      throw config_error("kubeconfig " + file + ": cannot read: " + e.what());
    }
    try {
      parsed.push_back(file_parser(file, absolute_dir_of(file)).parse(text));
    } catch (const YAML::Exception& e) {
      throw config_error("kubeconfig " + file + ": " + e.msg);
    }
  }
  if (parsed.empty()) {
    throw config_error("kubeconfig: none of the files exist: " + join(missing, ":"));
  }
  try {
    return build(merge(parsed), context,
                 [](const std::string& p) { return detail::read_regular_file(p); });
  } catch (const YAML::Exception& e) {
    throw config_error("kubeconfig " + join(files, ":") + ": " + e.msg);
  }
}

config in_cluster_config(const in_cluster_paths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    throw config_error(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set");
  }
  const std::string h(host);
  const std::string p(port);
  const bool digits = p.size() <= 5 && std::all_of(p.begin(), p.end(), is_digit);
  if (!digits || std::stoi(p) < 1 || std::stoi(p) > 65535) {
    throw config_error("in-cluster: KUBERNETES_SERVICE_PORT " + quote(p) +
                       " is not a port number (expected 1..65535)");
  }
  if (std::any_of(h.begin(), h.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f || c == '/' || c == '@' || c == '[' || c == ']';
      })) {
    throw config_error("in-cluster: KUBERNETES_SERVICE_HOST " + quote(h) +
                       " is not a host name or IP address");
  }
  config cfg;
  cfg.source = "in-cluster";
  // net.JoinHostPort: an IPv6 address is bracketed.
  cfg.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + p;
  try {
    static_cast<void>(detail::read_regular_file(paths.token, std::size_t{1} << 20));
  } catch (const detail::read_error& e) {
    throw config_error("in-cluster: cannot read the service account token " + quote(paths.token) +
                       ": " + e.what());
  }
  cfg.bearer_token_file = paths.token;
  try {
    cfg.ca_pem = detail::read_regular_file(paths.ca);
  } catch (const detail::read_error& e) {
    throw config_error("in-cluster: cannot read the service account CA " + quote(paths.ca) + ": " +
                       e.what());
  }
  cfg.ca_file = paths.ca;
  try {
    const std::string ns = trim(detail::read_regular_file(paths.namespace_file, 4096));
    if (!ns.empty()) cfg.namespace_ = ns;
  } catch (const detail::read_error&) {
    // no namespace file: "default", as client-go's in-cluster namespace lookup falls back
  }
  return cfg;
}

config load_config(std::string_view kubeconfig_flag, std::string_view context) {
  if (!kubeconfig_flag.empty()) {
    const std::string file(kubeconfig_flag);
    if (!file_exists(file))
      throw config_error("kubeconfig " + file + " (from the flag): does not exist");
    return load_kubeconfig({file}, context);
  }
  const char* env = std::getenv("KUBECONFIG");
  if (env && *env) {
    std::vector<std::string> files;
    std::string_view list(env);
    while (!list.empty()) {
      const auto colon = list.find(':');
      const std::string_view item = list.substr(0, colon);
      if (!item.empty()) files.emplace_back(item);
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
    if (files.empty()) throw config_error("$KUBECONFIG " + quote(env) + " names no file");
    try {
      return load_kubeconfig(files, context);
    } catch (const config_error& e) {
      throw config_error(std::string(e.what()) + " (from $KUBECONFIG)");
    }
  }
  std::string in_cluster_problem;
  const char* service_host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (service_host && *service_host) {
    try {
      return in_cluster_config();
    } catch (const config_error& e) {
      in_cluster_problem = e.what();
    }
  }
  const std::string home = home_dir();
  const std::string home_config = home.empty() ? "" : home + "/.kube/config";
  if (!home_config.empty() && file_exists(home_config))
    return load_kubeconfig({home_config}, context);
  throw config_error(
      "no Kubernetes configuration found: no --kubeconfig flag given; $KUBECONFIG is not set; " +
      (in_cluster_problem.empty()
           ? std::string("not running in a cluster (KUBERNETES_SERVICE_HOST is not set)")
           : "in-cluster configuration failed (" + in_cluster_problem + ")") +
      "; and " +
      (home_config.empty() ? std::string("$HOME is not set") : home_config + " does not exist"));
}

}  // namespace operant::kube
