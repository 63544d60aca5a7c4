// Internals of kube/config shared by config.cpp, exec_credential.cpp, the tests and the fuzzer.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "operant/detail/quote.h"
#include "operant/kube/config.h"

namespace operant::kube::detail {

// A value quoted for an error message: control bytes escaped, cut after 100 bytes.
using operant::detail::quote;

// Standard base64 (RFC 4648 §4) with padding, as Go's base64.StdEncoding decodes it for the
// *-data fields: '\r' and '\n' are skipped, anything else outside the alphabet, a missing or
// misplaced '=' is an error. Returns nullopt and sets *error (what is wrong, with the offset;
// never the value) when the text is not valid.
std::optional<std::string> base64_decode(std::string_view text, std::string* error);
std::string base64_encode(std::string_view bytes);

// RFC 3339 date-time ("2024-05-01T12:00:00Z", "...T12:00:00.5+02:00"); nullopt when invalid.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s);

// Thrown by a file_reader: what() is the reason only ("No such file or directory").
class read_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a whole file for the loader, or throws read_error.
using file_reader = std::function<std::string(const std::string& path)>;

// The default reader: regular files only (never a FIFO or device that could block or never end),
// at most `limit` bytes.
std::string read_regular_file(const std::string& path, std::size_t limit = std::size_t{4} << 20);

// load_kubeconfig_text with the files it names (CA, certificates, keys, token files) read through
// `reader`: the fuzzer passes one that reads nothing outside its sandbox.
config load_kubeconfig_text(std::string_view yaml, std::string_view file_name_for_errors,
                            std::string_view context, const file_reader& reader);

// A parsed ExecCredential (the plugin's stdout).
struct exec_credential {
  std::string token;
  std::string client_certificate_data;
  std::string client_key_data;
  std::optional<std::chrono::system_clock::time_point> expiration;
};

// Parses and checks an ExecCredential for `api_version`; throws config_error saying what is wrong
// (prefixed by `who`, e.g. `exec plugin "aws"`), never showing the token or key.
exec_credential parse_exec_credential(std::string_view json, std::string_view api_version,
                                      std::string_view who);

// The KUBERNETES_EXEC_INFO value for a config with an exec plugin.
std::string exec_info(const config& c);

}  // namespace operant::kube::detail
