// libFuzzer target for kubeconfig loading (and the small decoders it relies on).
//
// The input is loaded as a kubeconfig's text, for its current-context and for the context "x".
// Files it names are read through a sandboxed reader: a path whose file name is ca.crt,
// client.crt, client.key or token reads that file of a temporary directory; any other path is
// "not found", so a fuzzed /dev/zero, FIFO or /proc file is never opened. Exec plugins are never
// run (loading does not run them; credentials are asked for a header only when the config has no
// exec plugin and no token file). Only config_error may escape; what loads must keep the loader's
// promises. The input is also fed to the ExecCredential parser, the RFC 3339 parser and the base64
// decoder (a round trip must give back the bytes).
//
// Anything else (a crash, a sanitizer report, another exception type) is a bug.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "kube/config_internal.h"
#include "operant/kube/config.h"

namespace {

namespace fs = std::filesystem;
namespace k = operant::kube;

void check(bool ok) {
  if (!ok) std::abort();
}

const fs::path& sandbox() {
  static const fs::path dir = [] {
    std::string tmpl = (fs::temp_directory_path() / "operant-fuzz-kubeconfig-XXXXXX").string();
    check(mkdtemp(tmpl.data()) != nullptr);
    const fs::path d = tmpl;
    std::ofstream(d / "ca.crt") << "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
    std::ofstream(d / "client.crt")
        << "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n";
    std::ofstream(d / "client.key")
        << "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n";
    std::ofstream(d / "token") << "fuzz-token\n";
    static fs::path cleanup = d;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(cleanup, ec);
    });
    return d;
  }();
  return dir;
}

std::string sandboxed_read(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  if (name == "ca.crt" || name == "client.crt" || name == "client.key" || name == "token")
    return k::detail::read_regular_file((sandbox() / name).string());
  throw k::detail::read_error("No such file or directory");
}

bool dns_label_or_default(const std::string& ns) {
  if (ns.empty() || ns.size() > 63) return false;
  for (const char c : ns)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return ns.front() != '-' && ns.back() != '-';
}

// What every successful load guarantees.
void check_config(const k::config& c) {
  check(c.server.starts_with("https://") || c.server.starts_with("http://"));
  check(c.server.back() != '/');
  check(!(c.insecure_skip_tls_verify && !c.ca_pem.empty()));
  check(c.client_cert_pem.empty() == c.client_key_pem.empty());
  check(dns_label_or_default(c.namespace_));
  const int methods = (!c.bearer_token.empty() || !c.bearer_token_file.empty() ? 1 : 0) +
                      (!c.username.empty() || !c.password.empty() ? 1 : 0) + (c.exec ? 1 : 0);
  check(methods <= 1);
  if (c.exec) {
    check(c.exec->api_version == "client.authentication.k8s.io/v1" ||
          c.exec->api_version == "client.authentication.k8s.io/v1beta1");
    check(c.exec->interactive_mode == "Never" || c.exec->interactive_mode == "IfAvailable" ||
          c.exec->interactive_mode == "Always");
    check(!c.exec->command.empty());
    for (const auto& [name, value] : c.exec->env)
      check(!name.empty() && name.find('=') == std::string::npos);
    check(!k::detail::exec_info(c).empty());
  }
  if (!c.exec && c.bearer_token_file.empty()) {
    k::credentials creds(c);
    const std::string h = creds.authorization();
    check(h.empty() || h.starts_with("Bearer ") || h.starts_with("Basic "));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const k::detail::file_reader reader = sandboxed_read;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const std::string_view context : {std::string_view(), std::string_view("x")}) {
    try {
      check_config(k::detail::load_kubeconfig_text(input, "fuzz.yaml", context, reader));
    } catch (const k::config_error&) {
      // the one way a bad kubeconfig may be refused
    } catch (...) {
      std::abort();
    }
  }

  try {
    const auto cred = k::detail::parse_exec_credential(input, "client.authentication.k8s.io/v1",
                                                       "exec plugin \"fuzz\"");
    check(!cred.token.empty() || !cred.client_certificate_data.empty());
    check(cred.client_certificate_data.empty() == cred.client_key_data.empty());
  } catch (const k::config_error&) {
  } catch (...) {
    std::abort();
  }

  try {
    static_cast<void>(k::detail::parse_rfc3339(input));
    std::string error;
    if (const auto bytes = k::detail::base64_decode(input, &error)) {
      const std::string again = k::detail::base64_encode(*bytes);
      const auto round = k::detail::base64_decode(again, &error);
      check(round && *round == *bytes);
    } else {
      check(!error.empty());
    }
  } catch (...) {
    std::abort();
  }
  return 0;
}
