// operant/kube/config.h — where the Kubernetes API server is and how to authenticate to it.
//
// The C++ side of client-go's clientcmd and rest.InClusterConfig, and of controller-runtime's
// GetConfig: a kubeconfig (one file or a $KUBECONFIG list merged as kubectl merges them), or the
// service account a Pod runs as, becomes one `config` value; `credentials` turns its user part
// into an Authorization header, re-reading rotated token files and running exec plugins
// (client.authentication.k8s.io ExecCredential) as needed.
//
//   operant::kube::config cfg = operant::kube::load_config();   // --kubeconfig, $KUBECONFIG,
//                                                                 // in-cluster, ~/.kube/config
//   operant::kube::credentials creds(cfg);
//   request.set("Authorization", creds.authorization());          // "" when none is configured
//   // after a 401: creds.invalidate(), and retry once
//
// What is refused, and why: proxy-url (the HTTP client has no proxy support; a proxy silently not
// used would send traffic elsewhere than configured), auth-provider (removed from kubectl in 1.26;
// gcp, azure and oidc all have exec plugins now), impersonation (`as`, `as-groups`, ...), and the
// v1alpha1 exec API (removed in Kubernetes 1.24). Each is refused only when the context being
// loaded uses it: other entries of the file may carry it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace operant::kube {

// Raised for a missing, unreadable or invalid configuration, and for a failed exec plugin.
// what() names the file (with line and column when known), the field as a path such as
// `users[1].user.client-key-data`, the offending value (never a secret: tokens, passwords and
// keys are not shown) and what was expected.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An exec credential plugin (users[].user.exec in a kubeconfig), as client-go runs it.
struct exec_config {
  // "client.authentication.k8s.io/v1" or "client.authentication.k8s.io/v1beta1". Loading refuses
  // v1alpha1 and anything else.
  std::string api_version{};
  // The program; searched in $PATH when it has no '/'. A relative path with a '/' is resolved
  // against the directory of the kubeconfig that named it, at load.
  std::string command{};
  std::vector<std::string> args{};
  // Added to (or replacing in) the inherited environment, in order.
  std::vector<std::pair<std::string, std::string>> env{};
  // "Never", "IfAvailable" or "Always". v1 requires it; v1beta1 defaults to "IfAvailable".
  // operant never gives a plugin a terminal, so "Always" fails when the plugin would be run.
  std::string interactive_mode{};
  // Pass the cluster (server, CA, ...) to the plugin in KUBERNETES_EXEC_INFO.
  bool provide_cluster_info = false;
  // Shown when the command cannot be found.
  std::string install_hint{};
};

// "operant/<version>", the default user agent.
std::string default_user_agent();

// Everything needed to reach and authenticate to one API server. Filled by the loaders below;
// may also be built by hand (tests, a fake API server).
struct config {
  // "https://host:port" (or http://), possibly with a path prefix (a proxying front end such as
  // Rancher's /k8s/clusters/<id>); never with a trailing slash. A kubeconfig server without a
  // scheme gets https:// when the cluster has TLS settings (a CA or insecure-skip-tls-verify) or
  // the user a client certificate, else http://, as client-go does.
  std::string server{};
  // The name to send in SNI and verify the server certificate against, when not the host of
  // `server`.
  std::string tls_server_name{};
  // Do not verify the server certificate. Never set together with a CA.
  bool insecure_skip_tls_verify = false;
  // The CA bundle (PEM text) that signs the server certificate: certificate-authority-data
  // decoded, or the contents of certificate-authority, read at load. Empty: the system's roots.
  std::string ca_pem{};
  // Where ca_pem was read from, if from a file (absolute).
  std::string ca_file{};
  // The client certificate and its key (PEM), for TLS client authentication; both or neither.
  std::string client_cert_pem{};
  std::string client_key_pem{};
  // A static bearer token (users[].user.token).
  std::string bearer_token{};
  // A file holding the bearer token (users[].user.tokenFile, or the service account token
  // in-cluster). credentials re-reads it when it changes; when both are set, the file wins.
  std::string bearer_token_file{};
  // HTTP basic authentication.
  std::string username{};
  std::string password{};
  // An exec credential plugin, run by credentials.
  std::optional<exec_config> exec{};
  // The namespace to work in: the context's namespace, or in-cluster the service account's
  // namespace file; "default" when neither is given.
  std::string namespace_ = "default";
  // The kubeconfig context used; "" in-cluster or for a hand-built config.
  std::string context{};
  // Where this came from, for messages: the kubeconfig files read ("a:b"), or "in-cluster".
  std::string source{};
  // Client-side rate limit of the API client (rest.Config's defaults: 5 requests a second,
  // bursts of 10).
  double qps = 5.0;
  int burst = 10;
  // The User-Agent header.
  std::string user_agent = default_user_agent();
};

// Loads the context `context` ("" = current-context) of a kubeconfig made of `files` merged with
// clientcmd's rules: for clusters, users and contexts the first file that defines a name wins, and
// current-context comes from the first file that sets it. Relative paths (certificate-authority,
// client-certificate, client-key, tokenFile, and an exec command containing '/') are resolved
// against the directory of the file that gave them. Files of the list that do not exist are
// skipped, as client-go does; none existing is an error.
//
// Every entry of every file is checked for types and encodings (a number or list where a string
// is expected, a non-boolean where a boolean is, invalid base64 in *-data, duplicate names or
// keys, an apiVersion other than v1, a kind other than Config, text that is not UTF-8); unknown
// keys are ignored, as client-go ignores them. Unquoted scalars are typed as client-go's YAML
// decoder types them: `token: 12345` or `name: yes` is a number or a boolean, not a string
// (quote it). The context used, its cluster and its user are then checked for meaning: a server
// given and a valid URL, CA and certificate files readable, data and file not both given, a key
// with a certificate, one authentication method, a DNS-1123 namespace, a known exec apiVersion
// and interactiveMode, and none of the refused features above. The files named (CA, certificate,
// key) are read now; tokenFile is checked readable now and read by credentials. Throws
// config_error naming the file, line, field path and value.
config load_kubeconfig(const std::vector<std::string>& files, std::string_view context = {});

// load_kubeconfig for one file's text. `file_name_for_errors` names it in messages; relative paths
// are resolved against the current directory. For tests and the fuzzer.
config load_kubeconfig_text(std::string_view yaml, std::string_view file_name_for_errors,
                            std::string_view context = {});

// Where a Pod finds its service account (the kubelet mounts it there).
struct in_cluster_paths {
  std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// rest.InClusterConfig: the API server at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
// (an IPv6 host bracketed), the service account token as bearer_token_file (re-read as the kubelet
// rotates it; it must be readable now), the CA from paths.ca (must be readable), the namespace
// from paths.namespace_file when it exists (trimmed), else "default". source is "in-cluster".
// Throws config_error when the variables are not set ("not running in a cluster"), the port is
// not a number in 1..65535, or the token or CA cannot be read.
config in_cluster_config(const in_cluster_paths& paths = {});

// controller-runtime's GetConfig. Tries, in order:
//   1. `kubeconfig_flag` when not empty (a --kubeconfig flag): that file, which must exist;
//   2. $KUBECONFIG when set and not empty: a colon-separated list, merged as load_kubeconfig does;
//   3. in-cluster, when $KUBERNETES_SERVICE_HOST is set;
//   4. $HOME/.kube/config when it exists.
// `context` selects the kubeconfig context in 1, 2 and 4 and is ignored in-cluster. When in-cluster
// configuration fails, 4 is still tried, and the in-cluster error is reported if it is missing too.
// Throws config_error naming every place tried when none gives a configuration.
config load_config(std::string_view kubeconfig_flag = {}, std::string_view context = {});

struct credentials_options {
  // How long an exec plugin may run before it is killed (SIGKILL) and the call fails.
  std::chrono::milliseconds exec_timeout = std::chrono::seconds(30);
};

// The credentials of a config, for each request. Thread-safe: any thread may call any member;
// an exec plugin runs under a lock, so concurrent callers wait for the one run.
class credentials {
 public:
  struct client_certificate {
    std::string cert_pem;
    std::string key_pem;
  };

  explicit credentials(config c, credentials_options opts = {});
  ~credentials();
  credentials(const credentials&) = delete;
  credentials& operator=(const credentials&) = delete;

  // The Authorization header value, "" when the config has no token, basic auth or exec plugin
  // (or the plugin returns only a client certificate):
  //   - bearer_token_file set: "Bearer <the file's contents, trimmed>". The file is re-read when
  //     its inode, size or modification time changes, and at least once a minute; when it cannot
  //     be read the last token read is kept (else bearer_token is used). Throws config_error when
  //     no token was ever read from it and there is no static token, or the file holds only
  //     whitespace.
  //   - bearer_token set: "Bearer <token>".
  //   - username or password set: "Basic base64(username:password)".
  //   - exec set: "Bearer <status.token>" from the plugin, run when no credential is cached or the
  //     cached one's expirationTimestamp has passed (none given: cached until invalidate()).
  //     The plugin gets no terminal (stdin is /dev/null), the inherited environment plus
  //     exec.env and KUBERNETES_EXEC_INFO ({"apiVersion": ..., "kind": "ExecCredential",
  //     "spec": {"interactive": false, "cluster": {...} when provide_cluster_info}}); its
  //     stdout must be an ExecCredential of the configured apiVersion with status.token or
  //     status.clientCertificateData and status.clientKeyData. Throws config_error naming the
  //     command and what went wrong (cannot start, interactiveMode Always, timeout, exit status
  //     or signal with the end of its stderr, output not valid JSON or not a valid
  //     ExecCredential); the token never appears in messages.
  std::string authorization();

  // Drops the cached exec credential so the next call runs the plugin again (call after the API
  // server answers 401), and forces the token file to be re-read.
  void invalidate();

  // The client certificate an exec plugin returned (running it as authorization() does); nullopt
  // when there is no exec plugin or it returned only a token. Throws as authorization() does.
  std::optional<client_certificate> exec_client_certificate();

  // How many times the exec plugin has been started (for tests and self-metrics).
  std::uint64_t exec_runs() const;

  const config& cfg() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace operant::kube
