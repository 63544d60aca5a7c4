// kube/config: kubeconfig loading and merging, in-cluster configuration, load_config's search
// order, and credentials (token files, basic auth, exec plugins run for real as /bin/sh scripts).
#include "operant/kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kube/config_internal.h"

namespace {

namespace fs = std::filesystem;
namespace k = operant::kube;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// base64 of the fake PEM texts below.
const std::string k_ca_pem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const std::string k_cert_pem = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const std::string k_key_pem = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

std::string b64(const std::string& s) { return k::detail::base64_encode(s); }

// Runs f and returns the config_error's message; fails the test when f succeeds or throws
// anything else.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const k::config_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a config_error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error";
  return {};
}

// Sets (or unsets, with nullopt) environment variables for one test and restores them after.
class env_guard {
 public:
  env_guard(std::initializer_list<std::pair<const char*, std::optional<std::string>>> vars) {
    for (const auto& [name, value] : vars) set(name, value);
  }
  void set(const char* name, const std::optional<std::string>& value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~env_guard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

class kube_config : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "operant-kube-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to dir_/name (creating directories) and returns the path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return p.string();
  }
  std::string script(const std::string& name, const std::string& body) const {
    const std::string p = write(name, "#!/bin/sh\n" + body);
    ::chmod(p.c_str(), 0755);
    return p;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A kubeconfig whose one user runs `command` as an exec plugin.
  std::string exec_kubeconfig(const std::string& command, const std::string& extra_exec = "",
                              const std::string& api = "client.authentication.k8s.io/v1") const {
    return write("exec.kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://api.example.com:6443
    certificate-authority-data: )" + b64(k_ca_pem) +
                                        R"(
    tls-server-name: kubernetes.internal
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
users:
- name: u
  user:
    exec:
      apiVersion: )" + api + R"(
      command: )" + command + R"(
      interactiveMode: Never
)" + extra_exec);
  }

  // An exec plugin that counts its runs in dir_/count and prints `json`.
  std::string counting_plugin(const std::string& json) const {
    return script("plugin.sh", "n=$(cat " + path("count") +
                                   " 2>/dev/null || echo 0)\necho $((n+1)) > " + path("count") +
                                   "\ncat <<'EOF'\n" + json + "\nEOF\n");
  }
  int plugin_runs() const {
    const std::string s = read("count");
    return s.empty() ? 0 : std::stoi(s);
  }

  fs::path dir_;
};

const std::string k_basic = R"(apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: prod
  cluster:
    server: https://prod.example.com:6443/
    certificate-authority-data: )" +
                            b64(k_ca_pem) + R"(
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: x}
- name: dev
  cluster:
    server: http://127.0.0.1:8080
users:
- name: admin
  user:
    token: prod-token
- name: dev-user
  user:
    username: alice
    password: s3cret
contexts:
- name: prod
  context:
    cluster: prod
    user: admin
    namespace: monitoring
- name: dev
  context:
    cluster: dev
    user: dev-user
current-context: prod
some-future-field: ignored
)";

// ---- one file ----------------------------------------------------------------------------

// A user builds a config by hand with designated initialisers and only the fields needed; under
// -Wextra (this file is built with -Wall -Wextra -Werror) every other field must have a default.
TEST(kube_config_struct, designated_initialisers_may_name_only_some_fields) {
  const k::config c{.server = "https://127.0.0.1:6443", .bearer_token = "t"};
  EXPECT_EQ(c.server, "https://127.0.0.1:6443");
  EXPECT_TRUE(c.ca_pem.empty());
  EXPECT_FALSE(c.exec.has_value());
  const k::exec_config e{.command = "/bin/true"};
  EXPECT_TRUE(e.args.empty());
}

TEST_F(kube_config, loads_current_context_of_one_file) {
  const std::string file = write("config", k_basic);
  const k::config c = k::load_kubeconfig({file});
  EXPECT_EQ(c.server, "https://prod.example.com:6443");  // trailing slash removed
  EXPECT_EQ(c.ca_pem, k_ca_pem);
  EXPECT_EQ(c.ca_file, "");
  EXPECT_EQ(c.bearer_token, "prod-token");
  EXPECT_EQ(c.bearer_token_file, "");
  EXPECT_EQ(c.username, "");
  EXPECT_FALSE(c.exec);
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.namespace_, "monitoring");
  EXPECT_EQ(c.context, "prod");
  EXPECT_EQ(c.source, file);
  EXPECT_EQ(c.qps, 5.0);
  EXPECT_EQ(c.burst, 10);
  EXPECT_THAT(c.user_agent, StartsWith("operant/"));
}

TEST_F(kube_config, named_context_overrides_current_context) {
  const std::string file = write("config", k_basic);
  const k::config c = k::load_kubeconfig({file}, "dev");
  EXPECT_EQ(c.server, "http://127.0.0.1:8080");
  EXPECT_EQ(c.ca_pem, "");
  EXPECT_EQ(c.bearer_token, "");
  EXPECT_EQ(c.username, "alice");
  EXPECT_EQ(c.password, "s3cret");
  EXPECT_EQ(c.namespace_, "default");
  EXPECT_EQ(c.context, "dev");
  k::credentials creds(c);
  EXPECT_EQ(creds.authorization(), "Basic YWxpY2U6czNjcmV0");  // base64("alice:s3cret")
}

TEST_F(kube_config, text_loader_resolves_relative_paths_against_current_directory) {
  write("ca.crt", k_ca_pem);
  const fs::path old = fs::current_path();
  fs::current_path(dir_);
  std::string err;
  k::config c;
  try {
    c = k::load_kubeconfig_text(R"(
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: ca.crt}}]
contexts: [{name: x, context: {cluster: c}}]
)",
                                "inline", "x");
  } catch (const std::exception& e) {
    err = e.what();
  }
  fs::current_path(old);
  ASSERT_EQ(err, "");
  EXPECT_EQ(c.ca_pem, k_ca_pem);
  EXPECT_EQ(fs::path(c.ca_file), dir_ / "ca.crt");
  EXPECT_EQ(c.source, "inline");
  EXPECT_EQ(c.bearer_token, "");  // a context without a user: no authentication
}

TEST_F(kube_config, json_kubeconfig_is_accepted) {
  const k::config c = k::load_kubeconfig_text(
      R"({"apiVersion": "v1", "kind": "Config", "current-context": "a",
          "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:443", "insecure-skip-tls-verify": true}}],
          "users": [{"name": "u", "user": {"token": "123"}}],
          "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}]})",
      "config.json");
  EXPECT_EQ(c.server, "https://10.0.0.1:443");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.bearer_token, "123");  // quoted in JSON: a string
}

// ---- merging ---------------------------------------------------------------------------------

TEST_F(kube_config, merges_files_first_definition_wins_and_paths_resolve_per_file) {
  write("a/ca.crt", k_ca_pem);
  write("a/token", "token-from-a\n");
  write("b/client.crt", k_cert_pem);
  write("b/keys/client.key", k_key_pem);
  write("b/ca.crt", "not this one");
  const std::string a = write("a/config", R"(
clusters:
- name: shared
  cluster:
    server: https://from-a:6443
    certificate-authority: ca.crt
users:
- name: token-user
  user:
    tokenFile: ./token
contexts:
- name: first
  context: {cluster: shared, user: token-user, namespace: ns-a}
)");
  const std::string b = write("b/config", R"(
current-context: first
clusters:
- name: shared
  cluster:
    server: https://from-b:6443
    certificate-authority: ca.crt
- name: only-b
  cluster:
    server: https://only-b:6443
    certificate-authority: ca.crt
users:
- name: token-user
  user: {token: from-b}
- name: cert-user
  user:
    client-certificate: client.crt
    client-key: keys/client.key
contexts:
- name: first
  context: {cluster: only-b, user: cert-user}
- name: second
  context: {cluster: shared, user: cert-user}
)");
  const std::string c_file = write("c/config", "current-context: second\n");
  const std::string missing = path("nowhere/config");

  const k::config first = k::load_kubeconfig({missing, a, b, c_file});
  EXPECT_EQ(first.context, "first");  // current-context of b, the first file setting it
  EXPECT_EQ(first.source, a + ":" + b + ":" + c_file);  // the missing file is skipped
  EXPECT_EQ(first.server, "https://from-a:6443");       // a's "first" context and "shared"
  EXPECT_EQ(first.ca_pem, k_ca_pem);
  EXPECT_EQ(fs::path(first.ca_file), dir_ / "a/ca.crt");
  EXPECT_EQ(first.bearer_token, "");
  EXPECT_EQ(fs::path(first.bearer_token_file), dir_ / "a/token");
  EXPECT_EQ(first.namespace_, "ns-a");
  k::credentials creds(first);
  EXPECT_EQ(creds.authorization(), "Bearer token-from-a");

  const k::config second = k::load_kubeconfig({a, b, c_file}, "second");
  EXPECT_EQ(second.server, "https://from-a:6443");  // "shared" from a, user from b
  EXPECT_EQ(second.client_cert_pem, k_cert_pem);    // b/client.crt, relative to b
  EXPECT_EQ(second.client_key_pem, k_key_pem);      // b/keys/client.key
  EXPECT_EQ(second.bearer_token_file, "");

  // b first: b's definitions win.
  const k::config b_first = k::load_kubeconfig({b, a});
  EXPECT_EQ(b_first.context, "first");
  EXPECT_EQ(b_first.server, "https://only-b:6443");
  EXPECT_EQ(b_first.ca_pem, "not this one");
  EXPECT_EQ(b_first.client_cert_pem, k_cert_pem);
}

TEST_F(kube_config, all_files_missing_is_an_error) {
  const std::string msg = error_of([&] { k::load_kubeconfig({path("x"), path("y")}); });
  EXPECT_THAT(
      msg, AllOf(HasSubstr("none of the files exist"), HasSubstr(path("x")), HasSubstr(path("y"))));
  EXPECT_THAT(error_of([&] { k::load_kubeconfig({}); }), HasSubstr("no file given"));
}

TEST_F(kube_config, missing_context_cluster_and_user_are_named) {
  const std::string a = write("a", R"(
clusters: [{name: c1, cluster: {server: "https://x:1"}}]
users: [{name: u1, user: {token: t}}]
contexts:
- {name: no-cluster, context: {cluster: nope, user: u1}}
- {name: no-user, context: {cluster: c1, user: ghost}}
- {name: empty, context: {user: u1}}
current-context: gone
)");
  const std::string b = write("b", "users: []\n");
  std::string msg = error_of([&] { k::load_kubeconfig({a, b}); });
  EXPECT_THAT(msg, AllOf(HasSubstr("context \"gone\" not found"), HasSubstr(a + ":" + b),
                         HasSubstr("current-context"), HasSubstr("\"no-cluster\"")));
  msg = error_of([&] { k::load_kubeconfig({a, b}, "other"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("context \"other\" not found"), HasSubstr(a + ":" + b)));
  msg = error_of([&] { k::load_kubeconfig({a, b}, "no-cluster"); });
  EXPECT_THAT(msg, AllOf(HasSubstr(a + ":5:"), HasSubstr("contexts[0].context.cluster"),
                         HasSubstr("cluster \"nope\" of context \"no-cluster\" is not defined"),
                         HasSubstr("\"c1\"")));
  msg = error_of([&] { k::load_kubeconfig({a, b}, "no-user"); });
  EXPECT_THAT(msg, AllOf(HasSubstr(a + ":6:"), HasSubstr("contexts[1].context.user"),
                         HasSubstr("user \"ghost\" of context \"no-user\" is not defined")));
  msg = error_of([&] { k::load_kubeconfig({a, b}, "empty"); });
  EXPECT_THAT(msg, HasSubstr("context \"empty\" names no cluster"));
  msg = error_of([&] { k::load_kubeconfig_text("clusters: []\n", "f.yaml"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("f.yaml"), HasSubstr("current-context is not set")));
}

// ---- TLS and user fields ---------------------------------------------------------------------

TEST_F(kube_config, certificates_from_files_and_from_data) {
  write("pki/ca.crt", k_ca_pem);
  write("pki/c.crt", k_cert_pem);
  write("pki/c.key", k_key_pem);
  const std::string file = write("config", R"(
clusters:
- name: files
  cluster: {server: "https://a:1", certificate-authority: pki/ca.crt}
- name: data
  cluster: {server: "https://b:2", certificate-authority-data: )" +
                                               b64(k_ca_pem) + R"(}
users:
- name: files
  user: {client-certificate: pki/c.crt, client-key: )" +
                                               path("pki/c.key") + R"(}
- name: data
  user:
    client-certificate-data: )" + b64(k_cert_pem) +
                                               R"(
    client-key-data: )" + b64(k_key_pem) + R"(
contexts:
- {name: files, context: {cluster: files, user: files}}
- {name: data, context: {cluster: data, user: data}}
)");
  const k::config f = k::load_kubeconfig({file}, "files");
  EXPECT_EQ(f.ca_pem, k_ca_pem);
  EXPECT_EQ(fs::path(f.ca_file), dir_ / "pki/ca.crt");
  EXPECT_EQ(f.client_cert_pem, k_cert_pem);
  EXPECT_EQ(f.client_key_pem, k_key_pem);
  const k::config d = k::load_kubeconfig({file}, "data");
  EXPECT_EQ(d.ca_pem, k_ca_pem);
  EXPECT_EQ(d.ca_file, "");
  EXPECT_EQ(d.client_cert_pem, k_cert_pem);
  EXPECT_EQ(d.client_key_pem, k_key_pem);
  k::credentials creds(d);
  EXPECT_EQ(creds.authorization(), "");  // TLS client authentication only
  EXPECT_FALSE(creds.exec_client_certificate());
}

TEST_F(kube_config, base64_with_line_breaks_is_decoded) {
  std::string wrapped = b64(k_cert_pem);
  wrapped.insert(20, "\n");
  const std::string yaml =
      "clusters: [{name: c, cluster: {server: 'https://a:1', "
      "certificate-authority-data: \"" +
      wrapped.substr(0, 20) + "\\n" + wrapped.substr(21) +
      "\"}}]\ncontexts: [{name: x, context: {cluster: c}}]\n";
  EXPECT_EQ(k::load_kubeconfig_text(yaml, "f", "x").ca_pem, k_cert_pem);
}

TEST_F(kube_config, insecure_and_tls_server_name) {
  const k::config c = k::load_kubeconfig_text(R"(
clusters:
- name: c
  cluster:
    server: https://[fd00::1]:6443
    insecure-skip-tls-verify: yes
    tls-server-name: kubernetes.default.svc
contexts: [{name: x, context: {cluster: c}}]
current-context: x
)",
                                              "f");
  EXPECT_EQ(c.server, "https://[fd00::1]:6443");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.tls_server_name, "kubernetes.default.svc");
}

TEST_F(kube_config, server_without_scheme_gets_https_only_with_tls_settings) {
  auto server_of = [](const std::string& cluster_extra) {
    return k::load_kubeconfig_text("clusters: [{name: c, cluster: {server: 'api.local:6443'" +
                                       cluster_extra +
                                       "}}]\ncontexts: [{name: x, context: {cluster: c}}]\n",
                                   "f", "x")
        .server;
  };
  EXPECT_EQ(server_of(""), "http://api.local:6443");
  EXPECT_EQ(server_of(", insecure-skip-tls-verify: true"), "https://api.local:6443");
  EXPECT_EQ(server_of(", certificate-authority-data: " + b64(k_ca_pem)), "https://api.local:6443");
  const k::config prefixed = k::load_kubeconfig_text(
      "clusters: [{name: c, cluster: {server: 'HTTPS://rancher.example.com/k8s/clusters/c-1//'}}]\n"
      "contexts: [{name: x, context: {cluster: c}}]\n",
      "f", "x");
  EXPECT_EQ(prefixed.server, "https://rancher.example.com/k8s/clusters/c-1");
}

TEST_F(kube_config, token_file_is_reread_when_it_changes) {
  const std::string token = write("token", "tok-1\n");
  const k::config c = k::load_kubeconfig_text(
      "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n"
      "users: [{name: u, user: {tokenFile: " +
          token +
          "}}]\n"
          "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
      "f", "x");
  EXPECT_EQ(c.bearer_token_file, token);
  k::credentials creds(c);
  EXPECT_EQ(creds.authorization(), "Bearer tok-1");
  EXPECT_EQ(creds.authorization(), "Bearer tok-1");
  write("token", "  tok-22\n");  // rewritten in place, another size
  EXPECT_EQ(creds.authorization(), "Bearer tok-22");
  // The kubelet's way: a new file renamed over the old one (same size, another inode).
  write("token.new", "tok-33\n");
  fs::rename(dir_ / "token.new", token);
  EXPECT_EQ(creds.authorization(), "Bearer tok-33");
  // A token file that vanishes (a rotation in progress) keeps the last token.
  fs::remove(token);
  EXPECT_EQ(creds.authorization(), "Bearer tok-33");
  write("token", "tok-4\n");
  EXPECT_EQ(creds.authorization(), "Bearer tok-4");
}

TEST_F(kube_config, token_file_must_be_readable_at_load_and_hold_a_token) {
  const std::string yaml_tpl =
      "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n"
      "users: [{name: u, user: {tokenFile: TOKEN}}]\n"
      "contexts: [{name: x, context: {cluster: c, user: u}}]\n";
  auto with = [&](const std::string& token_path) {
    std::string y = yaml_tpl;
    y.replace(y.find("TOKEN"), 5, token_path);
    return y;
  };
  const std::string msg =
      error_of([&] { k::load_kubeconfig_text(with(path("missing-token")), "f", "x"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[0].user.tokenFile"), HasSubstr("missing-token"),
                         HasSubstr("No such file or directory")));
  write("blank", " \n");
  k::credentials creds(k::load_kubeconfig_text(with(path("blank")), "f", "x"));
  EXPECT_THAT(error_of([&] { creds.authorization(); }), HasSubstr("holds no token"));
}

TEST_F(kube_config, static_token_and_no_credentials) {
  k::config c;
  c.bearer_token = "abc";
  EXPECT_EQ(k::credentials(c).authorization(), "Bearer abc");
  EXPECT_EQ(k::credentials(k::config{}).authorization(), "");
}

// ---- refused features ------------------------------------------------------------------------

TEST_F(kube_config, proxy_url_auth_provider_and_impersonation_are_refused_when_used) {
  const std::string file = write("config", R"(
clusters:
- name: proxied
  cluster:
    server: https://a:1
    proxy-url: http://proxy:3128
- name: direct
  cluster: {server: "https://b:2"}
users:
- name: gcp
  user:
    auth-provider:
      name: gcp
      config: {cmd-path: gcloud}
- name: imp
  user: {token: t, as: system:admin}
- name: plain
  user: {token: t}
contexts:
- {name: proxied, context: {cluster: proxied, user: plain}}
- {name: gcp, context: {cluster: direct, user: gcp}}
- {name: imp, context: {cluster: direct, user: imp}}
- {name: fine, context: {cluster: direct, user: plain}}
)");
  std::string msg = error_of([&] { k::load_kubeconfig({file}, "proxied"); });
  EXPECT_THAT(msg, AllOf(HasSubstr(file + ":6:"), HasSubstr("clusters[0].cluster.proxy-url"),
                         HasSubstr("proxy-url \"http://proxy:3128\" is not supported"),
                         HasSubstr("\"proxied\"")));
  msg = error_of([&] { k::load_kubeconfig({file}, "gcp"); });
  EXPECT_THAT(msg, AllOf(HasSubstr(file + ":12:"), HasSubstr("users[0].user.auth-provider"),
                         HasSubstr("not supported"), HasSubstr("exec")));
  msg = error_of([&] { k::load_kubeconfig({file}, "imp"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[1].user.as"), HasSubstr("impersonation")));
  // The entries it does not use may carry them.
  EXPECT_EQ(k::load_kubeconfig({file}, "fine").server, "https://b:2");
}

TEST_F(kube_config, exec_api_versions_and_interactive_mode) {
  auto load = [&](const std::string& exec_yaml) {
    return k::load_kubeconfig_text(
        "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n"
        "users:\n- name: u\n  user:\n    exec:\n" +
            exec_yaml + "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
        "f", "x");
  };
  std::string msg = error_of(
      [&] { load("      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: p\n"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[0].user.exec.apiVersion"), HasSubstr("v1alpha1"),
                         HasSubstr("removed in Kubernetes 1.24")));
  msg = error_of(
      [&] { load("      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"); });
  EXPECT_THAT(msg, HasSubstr("interactiveMode is missing"));
  msg = error_of([&] {
    load(
        "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
        "      interactiveMode: Sometimes\n");
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[0].user.exec.interactiveMode"),
                         HasSubstr("\"Sometimes\" is not an interactive mode")));
  msg = error_of([&] { load("      apiVersion: v2\n      command: p\n"); });
  EXPECT_THAT(msg, HasSubstr("\"v2\" is not an exec credential API version"));
  msg = error_of(
      [&] { load("      apiVersion: client.authentication.k8s.io/v1beta1\n      args: [a]\n"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[0].user.exec"), HasSubstr("no command")));

  const k::config beta = load(
      "      apiVersion: client.authentication.k8s.io/v1beta1\n"
      "      command: bin/plugin\n"
      "      args: [get-token, '--port', '8080']\n"
      "      env: [{name: A, value: '1'}, {name: B}]\n"
      "      provideClusterInfo: true\n"
      "      installHint: install it\n");
  ASSERT_TRUE(beta.exec);
  EXPECT_EQ(beta.exec->api_version, "client.authentication.k8s.io/v1beta1");
  EXPECT_EQ(beta.exec->interactive_mode, "IfAvailable");  // v1beta1's default
  EXPECT_EQ(fs::path(beta.exec->command), fs::current_path() / "bin/plugin");
  EXPECT_EQ(beta.exec->args, (std::vector<std::string>{"get-token", "--port", "8080"}));
  EXPECT_EQ(beta.exec->env,
            (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", ""}}));
  EXPECT_TRUE(beta.exec->provide_cluster_info);
  EXPECT_EQ(beta.exec->install_hint, "install it");
  const k::config bare = load(
      "      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n"
      "      interactiveMode: Never\n");
  EXPECT_EQ(bare.exec->command, "aws");  // looked up in $PATH when run
}

// ---- malformed files -------------------------------------------------------------------------

TEST_F(kube_config, yaml_syntax_error_names_file_and_line) {
  const std::string file = write("broken", "clusters:\n- name: c\n  cluster: {server: [\n");
  const std::string msg = error_of([&] { k::load_kubeconfig({file}); });
  EXPECT_THAT(msg, AllOf(HasSubstr("kubeconfig " + file + ":"), HasSubstr("YAML syntax error")));
}

struct bad_case {
  std::string yaml;
  std::vector<std::string> expected;  // substrings of the message
};

TEST_F(kube_config, wrong_types_and_values_name_file_line_field_and_value) {
  const std::string head =
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n";
  const std::vector<bad_case> cases = {
      {"clusters: [{name: c, cluster: {server: 123}}]\n",
       {"f.yaml:3:", "clusters[0].cluster.server", "expected a string, got the number \"123\""}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', insecure-skip-tls-verify: maybe}}]\n",
       {"clusters[0].cluster.insecure-skip-tls-verify",
        "expected a boolean (true or false), got the string \"maybe\""}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', insecure-skip-tls-verify: "
       "'true'}}]\n",
       {"insecure-skip-tls-verify", "the string \"true\""}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', certificate-authority-data: "
       "'LS0t!!'}}]\n",
       {"clusters[0].cluster.certificate-authority-data", "\"LS0t!!\" is not valid base64",
        "invalid character '!' at offset 4"}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', certificate-authority-data: 'QUJD "
       "RA=='}}]\n",
       {"certificate-authority-data", "invalid character ' ' at offset 4"}},
      {"clusters: {c: {server: 'https://a:1'}}\n",
       {"f.yaml:3:1: clusters: expected a list of {name, cluster} entries, got a mapping"}},
      {"clusters: [{name: c, cluster: [server]}]\n",
       {"clusters[0].cluster: expected a mapping", "got a list"}},
      {"clusters: [{cluster: {server: 'https://a:1'}}]\n", {"clusters[0]: missing name"}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1'}}, {name: c, cluster: {}}]\n",
       {"clusters[1].name", "cluster \"c\" is defined twice"}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', server: 'https://b:1'}}]\n",
       {"clusters[0].cluster.server: given twice"}},
      {"clusters: [{name: c, cluster: {server: 'ftp://a:1'}}]\n",
       {"clusters[0].cluster.server", "\"ftp://a:1\" has scheme \"ftp\""}},
      {"clusters: [{name: c, cluster: {server: 'https://a:99999'}}]\n",
       {"\"https://a:99999\" has port \"99999\""}},
      {"clusters: [{name: c, cluster: {server: 'https://::1:6443'}}]\n", {"must be bracketed"}},
      {"clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n",
       {"clusters[0].cluster.server", "cluster \"c\" has no server"}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', certificate-authority-data: QUJD, "
       "insecure-skip-tls-verify: true}}]\n",
       {"insecure-skip-tls-verify is true and a certificate authority is given"}},
      {"clusters: [{name: c, cluster: {server: 'https://a:1', certificate-authority: "
       "/nonexistent/ca.crt}}]\n",
       {"clusters[0].cluster.certificate-authority", "cannot read file \"/nonexistent/ca.crt\"",
        "No such file or directory"}},
      {"users: [{name: u, user: {token: t, username: a, password: b}}]\n",
       {"users[0].user", "more than one authentication method (token, basic auth)"}},
      {"users: [{name: u, user: {client-certificate-data: QUJD}}]\n",
       {"users[0].user.client-key-data", "no client-key or client-key-data"}},
      {"users: [{name: u, user: [token]}]\n", {"users[0].user: expected a mapping", "got a list"}},
      {"users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: p, "
       "interactiveMode: Never, args: [{a: b}]}}}]\n",
       {"users[0].user.exec.args[0]: expected a string, got a mapping"}},
      {"users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: p, "
       "interactiveMode: Never, env: [{value: x}]}}}]\n",
       {"users[0].user.exec.env[0]", "env entry without a name"}},
      {"apiVersion: v2\n", {"apiVersion", "\"v2\" is not a kubeconfig version"}},
      {"kind: Pod\n", {"kind", "\"Pod\" is not Config"}},
      {"- a\n- b\n", {"f.yaml:3:1", "expected a mapping", "got a list"}},
  };
  for (const bad_case& c : cases) {
    std::string yaml = head + c.yaml;
    if (c.yaml.find("clusters:") == std::string::npos)
      yaml += "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n";
    if (c.yaml.find("users:") == std::string::npos) yaml += "users: [{name: u, user: {}}]\n";
    if (c.yaml.starts_with("- ")) yaml = "\n\n" + c.yaml;
    const std::string msg = error_of([&] { k::load_kubeconfig_text(yaml, "f.yaml"); });
    EXPECT_THAT(msg, StartsWith("kubeconfig f.yaml")) << yaml;
    for (const std::string& e : c.expected) EXPECT_THAT(msg, HasSubstr(e)) << yaml;
  }
}

TEST_F(kube_config, secrets_never_appear_in_messages) {
  const std::string head =
      "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
      "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n";
  std::string msg = error_of([&] {
    k::load_kubeconfig_text(head + R"(users:
- name: other
  user: {}
- name: u
  user:
    client-certificate-data: QUJD
    client-key-data: "SECRETKEY!"
)",
                            "f.yaml");
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("f.yaml:10:"), HasSubstr("users[1].user.client-key-data"),
                         HasSubstr("not valid base64"), HasSubstr("offset 9"),
                         Not(HasSubstr("SECRETKEY"))));
  msg = error_of([&] {
    k::load_kubeconfig_text(head + "users: [{name: u, user: {token: 918273645}}]\n", "f");
  });
  EXPECT_THAT(
      msg, AllOf(HasSubstr("users[0].user.token"), HasSubstr("expected a string, got the number"),
                 Not(HasSubstr("918273645"))));
  msg = error_of([&] {
    k::load_kubeconfig_text(head + "users: [{name: u, user: {password: 55555}}]\n", "f");
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("users[0].user.password"), Not(HasSubstr("55555"))));
}

TEST_F(kube_config, namespace_must_be_a_dns_label) {
  const std::string msg = error_of([&] {
    k::load_kubeconfig_text(
        "clusters: [{name: c, cluster: {server: 'https://a:1'}}]\n"
        "contexts: [{name: x, context: {cluster: c, namespace: Bad_NS}}]\n",
        "f", "x");
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("contexts[0].context.namespace"), HasSubstr("\"Bad_NS\""),
                         HasSubstr("DNS-1123")));
}

TEST_F(kube_config, text_that_is_not_utf8_is_refused) {
  const std::string msg = error_of([&] {
    k::load_kubeconfig_text(
        "clusters:\n- name: c\n  cluster: {server: 'https://a:1', tls-server-name: \"k\x99\"}\n",
        "f.yaml");
  });
  EXPECT_THAT(msg, AllOf(HasSubstr("f.yaml:3:55:"), HasSubstr("not valid UTF-8")));
  // UTF-8 is fine, and a hand-built config with other bytes still gives a JSON exec info.
  EXPECT_EQ(k::load_kubeconfig_text("clusters: [{name: c, cluster: {server: 'https://a:1', "
                                    "tls-server-name: \"k\u00e9\xe2\x82\xac\"}}]\n"
                                    "contexts: [{name: x, context: {cluster: c}}]\n",
                                    "f", "x")
                .tls_server_name,
            "k\xc3\xa9\xe2\x82\xac");
  k::config c;
  c.tls_server_name = "k\x99";
  c.exec.emplace();
  c.exec->api_version = "client.authentication.k8s.io/v1";
  c.exec->provide_cluster_info = true;
  const auto info = nlohmann::json::parse(k::detail::exec_info(c));
  EXPECT_EQ(info["spec"]["cluster"]["tls-server-name"], "k\xef\xbf\xbd");  // U+FFFD
}

TEST_F(kube_config, empty_file_has_no_context) {
  const std::string file = write("empty", "");
  EXPECT_THAT(error_of([&] { k::load_kubeconfig({file}); }),
              AllOf(HasSubstr(file), HasSubstr("current-context is not set")));
}

// ---- in-cluster ------------------------------------------------------------------------------

TEST_F(kube_config, in_cluster_reads_env_token_ca_and_namespace) {
  const k::in_cluster_paths paths{write("sa/token", "sa-token-1\n"), write("sa/ca.crt", k_ca_pem),
                                  write("sa/namespace", "kube-system\n")};
  env_guard env{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  const k::config c = k::in_cluster_config(paths);
  EXPECT_EQ(c.server, "https://10.96.0.1:443");
  EXPECT_EQ(c.bearer_token, "");
  EXPECT_EQ(c.bearer_token_file, paths.token);
  EXPECT_EQ(c.ca_pem, k_ca_pem);
  EXPECT_EQ(c.ca_file, paths.ca);
  EXPECT_EQ(c.namespace_, "kube-system");
  EXPECT_EQ(c.source, "in-cluster");
  EXPECT_EQ(c.context, "");
  k::credentials creds(c);
  EXPECT_EQ(creds.authorization(), "Bearer sa-token-1");
  write("sa/token", "sa-token-rotated\n");
  EXPECT_EQ(creds.authorization(), "Bearer sa-token-rotated");
}

TEST_F(kube_config, in_cluster_ipv6_host_is_bracketed_and_namespace_defaults) {
  const k::in_cluster_paths paths{write("sa/token", "t"), write("sa/ca.crt", k_ca_pem),
                                  path("sa/no-namespace")};
  env_guard env{{"KUBERNETES_SERVICE_HOST", "fd00:10:96::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}};
  const k::config c = k::in_cluster_config(paths);
  EXPECT_EQ(c.server, "https://[fd00:10:96::1]:6443");
  EXPECT_EQ(c.namespace_, "default");
}

TEST_F(kube_config, in_cluster_errors) {
  const k::in_cluster_paths paths{write("sa/token", "t"), write("sa/ca.crt", k_ca_pem),
                                  path("sa/namespace")};
  {
    env_guard env{{"KUBERNETES_SERVICE_HOST", std::nullopt}, {"KUBERNETES_SERVICE_PORT", "443"}};
    EXPECT_EQ(error_of([&] { k::in_cluster_config(paths); }),
              "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
              "be set");
  }
  env_guard env{{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "https"}};
  EXPECT_THAT(error_of([&] { k::in_cluster_config(paths); }),
              HasSubstr("KUBERNETES_SERVICE_PORT \"https\" is not a port number"));
  env.set("KUBERNETES_SERVICE_PORT", "443");
  k::in_cluster_paths no_token = paths;
  no_token.token = path("sa/missing");
  EXPECT_THAT(error_of([&] { k::in_cluster_config(no_token); }),
              AllOf(HasSubstr("service account token"), HasSubstr("sa/missing"),
                    HasSubstr("No such file or directory")));
  k::in_cluster_paths no_ca = paths;
  no_ca.ca = path("sa");
  EXPECT_THAT(error_of([&] { k::in_cluster_config(no_ca); }),
              AllOf(HasSubstr("service account CA"), HasSubstr("is a directory")));
}

// ---- load_config's search order ----------------------------------------------------------------

TEST_F(kube_config, load_config_precedence) {
  auto kubeconfig = [&](const std::string& name, const std::string& server) {
    return write(name, "clusters: [{name: c, cluster: {server: '" + server +
                           "'}}]\ncontexts: [{name: x, context: {cluster: c}}, {name: alt, "
                           "context: {cluster: c, namespace: other}}]\ncurrent-context: x\n");
  };
  const std::string flag = kubeconfig("flag.yaml", "https://flag:1");
  const std::string env1 = kubeconfig("env1.yaml", "https://env1:1");
  const std::string env2 = kubeconfig("env2.yaml", "https://env2:1");
  kubeconfig("home/.kube/config", "https://home:1");
  // The in-cluster defaults point at /var/run/secrets, absent here: in-cluster fails and the
  // home file is used; with it gone, the in-cluster reason is reported.
  env_guard env{{"KUBECONFIG", ":" + env1 + "::" + env2},
                {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                {"KUBERNETES_SERVICE_PORT", "443"},
                {"HOME", path("home")}};
  const bool real_pod = fs::exists(k::in_cluster_paths{}.token);

  EXPECT_EQ(k::load_config(flag).server, "https://flag:1");
  EXPECT_EQ(k::load_config(flag, "alt").namespace_, "other");
  EXPECT_THAT(error_of([&] { k::load_config(path("no-such-flag-file")); }),
              AllOf(HasSubstr("no-such-flag-file"), HasSubstr("does not exist")));

  const k::config from_env = k::load_config();
  EXPECT_EQ(from_env.server, "https://env1:1");
  EXPECT_EQ(from_env.source, env1 + ":" + env2);

  env.set("KUBECONFIG", path("missing1") + ":" + path("missing2"));
  EXPECT_THAT(error_of([&] { k::load_config(); }),
              AllOf(HasSubstr("none of the files exist"), HasSubstr("$KUBECONFIG")));

  env.set("KUBECONFIG", std::nullopt);
  if (!real_pod) {
    EXPECT_EQ(k::load_config({}, "alt").server, "https://home:1");
    EXPECT_EQ(k::load_config({}, "alt").namespace_, "other");
    fs::remove(dir_ / "home/.kube/config");
    EXPECT_THAT(error_of([&] { k::load_config(); }),
                AllOf(HasSubstr("no --kubeconfig flag"), HasSubstr("$KUBECONFIG is not set"),
                      HasSubstr("in-cluster configuration failed"),
                      HasSubstr(path("home") + "/.kube/config does not exist")));
  }

  env.set("KUBERNETES_SERVICE_HOST", std::nullopt);
  kubeconfig("home/.kube/config", "https://home:1");
  EXPECT_EQ(k::load_config().server, "https://home:1");
  fs::remove(dir_ / "home/.kube/config");
  EXPECT_THAT(error_of([&] { k::load_config(); }),
              AllOf(HasSubstr("no --kubeconfig flag given"), HasSubstr("$KUBECONFIG is not set"),
                    HasSubstr("not running in a cluster (KUBERNETES_SERVICE_HOST is not set)"),
                    HasSubstr(path("home") + "/.kube/config does not exist")));
}

// ---- exec plugins ------------------------------------------------------------------------------

const std::string k_v1 = "client.authentication.k8s.io/v1";

TEST_F(kube_config, exec_token_without_expiry_is_cached_until_invalidate) {
  const std::string plugin = counting_plugin(
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
          "status": {"token": "exec-token"}})");
  k::credentials creds(k::load_kubeconfig({exec_kubeconfig(plugin)}));
  EXPECT_EQ(creds.authorization(), "Bearer exec-token");
  EXPECT_EQ(creds.authorization(), "Bearer exec-token");
  EXPECT_EQ(plugin_runs(), 1);
  creds.invalidate();
  EXPECT_EQ(creds.authorization(), "Bearer exec-token");
  EXPECT_EQ(plugin_runs(), 2);
  EXPECT_EQ(creds.exec_runs(), 2u);
  EXPECT_FALSE(creds.exec_client_certificate());
}

TEST_F(kube_config, exec_token_expired_reruns_and_future_is_cached) {
  const std::string past = counting_plugin(
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
          "status": {"token": "old", "expirationTimestamp": "2001-02-03T04:05:06Z"}})");
  k::credentials expired(k::load_kubeconfig({exec_kubeconfig(past)}));
  EXPECT_EQ(expired.authorization(), "Bearer old");
  EXPECT_EQ(expired.authorization(), "Bearer old");
  EXPECT_EQ(expired.authorization(), "Bearer old");
  EXPECT_EQ(plugin_runs(), 3);

  fs::remove(dir_ / "count");
  const std::string future = counting_plugin(
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
          "status": {"token": "new", "expirationTimestamp": "2999-01-01T00:00:00.123+02:00"}})");
  k::credentials cached(k::load_kubeconfig({exec_kubeconfig(future)}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cached.authorization(), "Bearer new");
  EXPECT_EQ(plugin_runs(), 1);
  cached.invalidate();
  EXPECT_EQ(cached.authorization(), "Bearer new");
  EXPECT_EQ(plugin_runs(), 2);
}

TEST_F(kube_config, exec_gets_args_env_and_exec_info) {
  const std::string plugin = script(
      "plugin.sh",
      "printf '%s' \"$KUBERNETES_EXEC_INFO\" > " + path("info") +
          "\nprintf '%s|%s|%s|%s' \"$1\" \"$2\" \"$GREETING\" \"$HOME_MARK\" > " + path("args") +
          "\ncat <<'EOF'\n"
          R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": "t"}})"
          "\nEOF\n");
  env_guard env{{"HOME_MARK", "inherited"}, {"GREETING", "overridden-below"}};
  const std::string extra = R"(      args: [first, "second arg"]
      env:
      - {name: GREETING, value: hello}
      provideClusterInfo: true
)";
  k::credentials creds(k::load_kubeconfig({exec_kubeconfig(plugin, extra)}));
  EXPECT_EQ(creds.authorization(), "Bearer t");
  EXPECT_EQ(read("args"), "first|second arg|hello|inherited");
  const auto info = nlohmann::json::parse(read("info"));
  EXPECT_EQ(info["apiVersion"], k_v1);
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://api.example.com:6443");
  EXPECT_EQ(info["spec"]["cluster"]["certificate-authority-data"], b64(k_ca_pem));
  EXPECT_EQ(info["spec"]["cluster"]["tls-server-name"], "kubernetes.internal");
  EXPECT_FALSE(info["spec"]["cluster"].contains("insecure-skip-tls-verify"));

  // Without provideClusterInfo, no cluster.
  k::credentials plain(k::load_kubeconfig({exec_kubeconfig(plugin)}));
  EXPECT_EQ(plain.authorization(), "Bearer t");
  const auto info2 = nlohmann::json::parse(read("info"));
  EXPECT_EQ(info2["spec"], nlohmann::json({{"interactive", false}}));
}

TEST_F(kube_config, exec_client_certificate) {
  const std::string plugin = counting_plugin(
      R"({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
          "status": {"clientCertificateData": "CERT-PEM", "clientKeyData": "KEY-PEM"}})");
  k::credentials creds(
      k::load_kubeconfig({exec_kubeconfig(plugin, "", "client.authentication.k8s.io/v1beta1")}));
  EXPECT_EQ(creds.authorization(), "");
  const auto cert = creds.exec_client_certificate();
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->cert_pem, "CERT-PEM");
  EXPECT_EQ(cert->key_pem, "KEY-PEM");
  EXPECT_EQ(plugin_runs(), 1);
}

TEST_F(kube_config, exec_failures_name_command_and_cause) {
  auto error_for = [&](const std::string& body, const std::string& extra = "") {
    const std::string plugin = script("plugin.sh", body);
    k::credentials creds(k::load_kubeconfig({exec_kubeconfig(plugin, extra)}),
                         {.exec_timeout = std::chrono::milliseconds(500)});
    return error_of([&] { creds.authorization(); });
  };
  const std::string who = "exec plugin \"" + path("plugin.sh") + "\"";
  EXPECT_THAT(error_for("echo 'token expired, run login' >&2\nexit 3\n"),
              AllOf(HasSubstr(who), HasSubstr("exited with status 3"),
                    HasSubstr("stderr: token expired, run login")));
  EXPECT_THAT(
      error_for("echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", "
                "\"kind\": \"ExecCredential\", \"status\": {\"token\": SECRETTOK'\n"),
      AllOf(HasSubstr(who), HasSubstr("output is not valid JSON"), Not(HasSubstr("SECRETTOK"))));
  EXPECT_THAT(error_for("echo '{\"apiVersion\": \"client.authentication.k8s.io/v1beta1\", "
                        "\"kind\": \"ExecCredential\", \"status\": {\"token\": \"t\"}}'\n"),
              AllOf(HasSubstr(who),
                    HasSubstr("apiVersion \"client.authentication.k8s.io/v1beta1\" but the plugin "
                              "is configured with \"client.authentication.k8s.io/v1\"")));
  EXPECT_THAT(error_for("echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", "
                        "\"kind\": \"ExecCredential\", \"status\": {\"token\": \"SECRETTOK\", "
                        "\"expirationTimestamp\": \"tomorrow\"}}'\n"),
              AllOf(HasSubstr("status.expirationTimestamp \"tomorrow\" is not an RFC 3339 time"),
                    Not(HasSubstr("SECRETTOK"))));
  EXPECT_THAT(error_for("echo '{\"apiVersion\": \"client.authentication.k8s.io/v1\", "
                        "\"kind\": \"ExecCredential\", \"status\": {}}'\n"),
              HasSubstr("status has no token"));
  EXPECT_THAT(error_for("true\n"), HasSubstr("printed nothing on standard output"));
  EXPECT_THAT(error_for("kill -9 $$\n"), HasSubstr("killed by signal 9"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(error_for("exec sleep 10\n"),
              AllOf(HasSubstr(who), HasSubstr("did not finish within 500 ms (killed)")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  k::config missing = k::load_kubeconfig(
      {exec_kubeconfig("operant-no-such-plugin-xyz", "      installHint: brew install it\n")});
  k::credentials creds(missing);
  EXPECT_THAT(error_of([&] { creds.authorization(); }),
              AllOf(HasSubstr("exec plugin \"operant-no-such-plugin-xyz\": cannot run"),
                    HasSubstr("No such file or directory"), HasSubstr("brew install it")));
  EXPECT_EQ(creds.exec_runs(), 1u);
}

TEST_F(kube_config, exec_interactive_always_fails_without_running) {
  const std::string plugin = counting_plugin("{}");
  std::string yaml = read(fs::path(exec_kubeconfig(plugin)).filename().string());
  yaml.replace(yaml.find("interactiveMode: Never"), 22, "interactiveMode: Always");
  k::credentials creds(k::load_kubeconfig({write("always", yaml)}));
  EXPECT_THAT(error_of([&] { creds.authorization(); }),
              AllOf(HasSubstr("interactiveMode Always needs a terminal"),
                    HasSubstr("Never or IfAvailable")));
  EXPECT_EQ(plugin_runs(), 0);
}

TEST_F(kube_config, exec_plugin_leaving_a_background_child_does_not_hang) {
  const std::string plugin = script(
      "plugin.sh",
      "(sleep 10 &)\ncat <<'EOF'\n"
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": "bg"}})"
      "\nEOF\n");
  k::credentials creds(k::load_kubeconfig({exec_kubeconfig(plugin)}));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(creds.authorization(), "Bearer bg");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(kube_config, exec_runs_once_for_concurrent_callers) {
  const std::string plugin = counting_plugin(
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
          "status": {"token": "shared"}})");
  k::credentials creds(k::load_kubeconfig({exec_kubeconfig(plugin)}));
  std::vector<std::thread> threads;
  std::vector<std::string> got(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] { got[static_cast<std::size_t>(i)] = creds.authorization(); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, "Bearer shared");
  EXPECT_EQ(plugin_runs(), 1);
}

// ---- internals ---------------------------------------------------------------------------------

TEST(kube_config_detail, base64_decoding_follows_go_std_encoding) {
  std::string err;
  EXPECT_EQ(k::detail::base64_decode("", &err), "");
  EXPECT_EQ(k::detail::base64_decode("YQ==", &err), "a");
  EXPECT_EQ(k::detail::base64_decode("YWI=", &err), "ab");
  EXPECT_EQ(k::detail::base64_decode("YWJj", &err), "abc");
  EXPECT_EQ(k::detail::base64_decode("YW\r\nJj\n", &err), "abc");
  EXPECT_EQ(k::detail::base64_decode("YR==", &err), "a");  // unused bits ignored, as Go
  for (const char* bad : {"YQ", "YQ=", "Y===", "=YQ=", "YQ==YQ==", "YQ=a", "YW Jj", "YWJj-"}) {
    err.clear();
    EXPECT_FALSE(k::detail::base64_decode(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  for (const std::string s : {"", "a", "ab", "abc", "abcd"})
    EXPECT_EQ(k::detail::base64_decode(k::detail::base64_encode(s), &err), s);
  const std::string binary("\xff\x00\x10\x80", 4);
  EXPECT_EQ(k::detail::base64_encode(binary), "/wAQgA==");
  EXPECT_EQ(k::detail::base64_decode("/wAQgA==", &err), binary);
}

TEST(kube_config_detail, rfc3339_times) {
  using namespace std::chrono;
  const auto t = k::detail::parse_rfc3339("2024-05-01T12:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(duration_cast<seconds>(t->time_since_epoch()).count(), 1714564800);
  const auto offset = k::detail::parse_rfc3339("2024-05-01T14:00:00.5+02:00");
  ASSERT_TRUE(offset);
  EXPECT_EQ(duration_cast<milliseconds>(offset->time_since_epoch()).count(), 1714564800500);
  EXPECT_TRUE(k::detail::parse_rfc3339("2024-02-29t00:00:00z"));
  EXPECT_EQ(k::detail::parse_rfc3339("9999-12-31T23:59:59Z"), system_clock::time_point::max());
  for (const char* bad :
       {"", "2024-05-01", "2024-05-01 12:00:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T12:00:00", "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00Zx"})
    EXPECT_FALSE(k::detail::parse_rfc3339(bad)) << bad;
}

TEST(kube_config_detail, exec_credential_checks) {
  auto err = [](const std::string& json) {
    return error_of([&] { k::detail::parse_exec_credential(json, k_v1, "exec plugin \"p\""); });
  };
  EXPECT_THAT(err("[]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(err(R"({"apiVersion": "client.authentication.k8s.io/v1", "status": {"token": "t"}})"),
              HasSubstr("kind \"\""));
  EXPECT_THAT(err(R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"})"),
              HasSubstr("no status"));
  EXPECT_THAT(
      err(R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": 5}})"),
      HasSubstr("status.token is not a string (got a JSON number)"));
  EXPECT_THAT(
      err(R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"clientCertificateData": "c"}})"),
      HasSubstr("no clientKeyData"));
  const auto c = k::detail::parse_exec_credential(
      R"({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": {},
          "status": {"token": "tok", "expirationTimestamp": null, "unknown": 1}})",
      k_v1, "p");
  EXPECT_EQ(c.token, "tok");
  EXPECT_FALSE(c.expiration);
}

}  // namespace
