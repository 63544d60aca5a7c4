// A loopback Kubernetes API server for the tests of module `kube`.
//
// It is a generic object store that speaks the Kubernetes REST conventions the way a real
// kube-apiserver (etcd3 storage + watch cache) does, so a client tested against it behaves the
// same against EKS, GKE or kind:
//
//  * paths: /api/v1/[namespaces/{ns}/]{resource}[/{name}[/status]] and
//    /apis/{group}/{version}/[namespaces/{ns}/]{resource}[/{name}[/status]] for any resource name
//    (the legacy /watch/ path prefix too), /version, /healthz, /livez, /readyz and a minimal
//    discovery (/api, /api/v1, /apis, /apis/{group}[/{version}]);
//  * one global, etcd-like resourceVersion counter bumped by every write; uid, creationTimestamp,
//    generation; apiVersion and kind filled in; a write that changes nothing is not a write (same
//    resourceVersion, no watch event), as etcd3's GuaranteedUpdate;
//  * LIST with limit/continue (every page a snapshot at the first page's resourceVersion; 410
//    Expired with an "inconsistent continue" token once compacted), remainingItemCount, label
//    selectors (=, ==, !=, in, notin, exists, !exists, >, <) and field selectors
//    (metadata.name, metadata.namespace and per-resource field labels), resourceVersion and
//    resourceVersionMatch (NotOlderThan, Exact);
//  * WATCH from a resourceVersion (events strictly after it; "" and "0" begin with synthetic
//    ADDED events), bookmarks, sendInitialEvents, timeoutSeconds, selectors with the watch cache's
//    ADDED/DELETED on selector transitions, ERROR 410 Expired events for compacted versions;
//  * CREATE (generateName), UPDATE (optimistic concurrency), PATCH (merge, strategic, JSON
//    patch), DELETE (preconditions, finalizers, deletionTimestamp), deletecollection;
//  * errors as metav1.Status objects with the apiserver's reasons and messages;
//  * authentication by bearer token, client certificate (TLS, CA of the test) or basic auth,
//    optional anonymous requests and a pluggable authorizer (403);
//  * fault injection (abrupt or graceful end of watches, watch lines split across chunks, error
//    responses, delays, compaction) and a request log for assertions.
//
// Everything is thread-safe: tests drive the store and the faults while clients run.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace operant::kube::test {

// A certificate and its private key, PEM-encoded.
struct key_pair {
  std::string cert_pem{};
  std::string key_pem{};
};

// A throwaway certificate authority (EC P-256, valid from an hour ago for two days), made in
// memory with OpenSSL: no files, no openssl command.
class test_ca {
 public:
  explicit test_ca(std::string_view common_name = "operant-test-ca");
  ~test_ca();
  test_ca(test_ca&&) noexcept;
  test_ca& operator=(test_ca&&) noexcept;

  const std::string& cert_pem() const;
  // A server certificate for the given DNS names and IP addresses (subjectAltName), serverAuth.
  key_pair issue_server(const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ip_addresses) const;
  // A client certificate, clientAuth: CN = user, one O per group (as kube-apiserver reads them).
  key_pair issue_client(std::string_view common_name,
                        const std::vector<std::string>& organizations = {}) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// How the server treats one resource (group + plural name). Unregistered resources work too:
// namespaced, kind guessed from the plural (widgets -> Widget; or learnt from the first object
// created with a kind), behaving as a custom resource.
struct resource_type {
  std::string group{};     // "" for the core group
  std::string resource{};  // plural, e.g. "pods"
  std::string kind{};      // e.g. "Pod"
  bool namespaced = true;
  // Built-in types accept strategic merge patches and, like the real server, omit apiVersion and
  // kind from the items of a list; custom resources keep them and answer 415 to a strategic
  // merge patch.
  bool builtin = false;
  // metav1 registries' ReturnDeletedObject: DELETE answers with the object (pods, custom
  // resources) or with a Status of success (configmaps, secrets, leases, ...).
  bool delete_returns_object = true;
  // With a status subresource, PUT/PATCH of the object keep the stored .status and
  // PUT/PATCH of {name}/status change only .status.
  bool status_subresource = true;
  // Field selector labels besides metadata.name and metadata.namespace (dotted paths into the
  // object, e.g. "spec.nodeName", "status.phase").
  std::vector<std::string> field_labels{};
};

// One request as the server received and answered it.
struct request_record {
  std::string method{};                        // "GET", "POST", ...
  std::string target{};                        // path and query as sent
  std::string path{};                          // decoded path, no query
  std::map<std::string, std::string> query{};  // decoded query parameters
  // Kubernetes request attributes: verb is get, list, watch, create, update, patch, delete,
  // deletecollection for resource requests; the lower-cased method for other paths.
  std::string verb{};
  bool resource_request = false;
  std::string group{}, version{}, resource{}, subresource{}, ns{}, name{};
  // Authentication: auth is "token", "client-cert", "basic", "anonymous" or "" (none valid);
  // user is the token itself, the certificate's CN, the basic-auth user or system:anonymous.
  std::string auth{};
  std::string user{};
  std::vector<std::string> groups{};  // certificate O entries
  std::string authorization{};        // the header, redacted: "Bearer <redacted>", ...
  std::string content_type{}, accept{}, user_agent{};
  std::string body{};
  unsigned status = 0;  // the HTTP status sent (200 for a watch)
};

// The server's error for test-API calls that the HTTP API would answer with a Status.
class status_error : public std::runtime_error {
 public:
  explicit status_error(nlohmann::json status);
  unsigned code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const nlohmann::json& status() const { return status_; }

 private:
  nlohmann::json status_;
  unsigned code_ = 0;
  std::string reason_;
};

struct fake_apiserver_options {
  bool tls = true;
  // Accepted bearer tokens; the authenticated user is the token itself.
  std::vector<std::string> tokens{};
  // Accepted basic-auth users: user -> password.
  std::map<std::string, std::string> basic_users{};
  // Accept client certificates (TLS only) signed by client_ca_pem, or by the server's own CA
  // (ca_pem(), which client_certificate() uses) when client_ca_pem is empty. As kube-apiserver,
  // the server asks for a certificate but does not require one: token clients still connect, and
  // a certificate from another CA is 401, not a handshake failure.
  bool client_cert_auth = false;
  std::string client_ca_pem{};
  // Requests without credentials are system:anonymous instead of 401: /version, /healthz, /livez,
  // /readyz are allowed, everything else is 403 unless `authorize` allows it.
  bool anonymous_auth = false;
  // Called for every authenticated request (status still 0); false -> 403 Forbidden. Called
  // concurrently from the connection threads.
  std::function<bool(const request_record&)> authorize{};

  std::chrono::milliseconds bookmark_interval{1000};
  // Write events kept for watches and consistent pages; older ones are compacted.
  std::size_t history_limit = 10000;
  // The resourceVersion of the empty store (the first write gets this + 1).
  std::uint64_t initial_resource_version = 1000;
  // A watch from a compacted resourceVersion: false -> 200 then an ERROR event with a 410
  // Expired Status (kube-apiserver); true -> a plain HTTP 410 Status (some proxies, old servers).
  bool watch_expired_as_http_410 = false;
  // A resourceVersion that is not a number: false -> 500 with the storage layer's message and no
  // reason (what kube-apiserver answers to this day); true -> 400 BadRequest.
  bool invalid_resource_version_as_400 = false;
  // The watch cache's "resourceVersion=0 ignores limit" (full list, no continue); off: honoured.
  bool ignore_limit_on_rv0 = false;
  std::string git_version = "v1.30.2";
};

class fake_apiserver {
 public:
  explicit fake_apiserver(fake_apiserver_options options = {});
  ~fake_apiserver();  // stop()
  fake_apiserver(const fake_apiserver&) = delete;
  fake_apiserver& operator=(const fake_apiserver&) = delete;

  std::uint16_t port() const;
  std::string url() const;            // "https://127.0.0.1:PORT" (http:// without TLS)
  const std::string& ca_pem() const;  // signs the server certificate
  // A client certificate for `user` (CN) and `groups` (O), signed by ca_pem().
  key_pair client_certificate(std::string_view user,
                              const std::vector<std::string>& groups = {}) const;

  void register_resource(resource_type type);

  // ---- the store, as if another client wrote (watchers are notified) -----------------------
  // Paths are the HTTP API's: create("/api/v1/namespaces/default/pods", pod),
  // update("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", lease) (a
  // metadata.resourceVersion makes it conditional), update(".../pods/x/status", pod) for the
  // status. They throw status_error as the HTTP API would answer (404, 409, ...).
  nlohmann::json create(std::string_view collection_path, nlohmann::json object);
  nlohmann::json update(std::string_view object_path, nlohmann::json object);
  nlohmann::json patch(std::string_view object_path, const nlohmann::json& merge_patch);
  // Deletes (or, with finalizers, marks for deletion); returns the object as deleted.
  nlohmann::json remove(std::string_view object_path);
  std::optional<nlohmann::json> get(std::string_view object_path) const;
  std::vector<nlohmann::json> list(std::string_view collection_path) const;  // sorted ns/name
  std::string resource_version() const;                                      // current, decimal

  // ---- faults -------------------------------------------------------------------------------
  // Drops the whole write history: every resourceVersion before the current one is compacted
  // (watches from them get 410, continue tokens of older lists get 410).
  void compact();
  void set_history_limit(std::size_t events);
  // Abruptly closes (TCP, no terminating chunk) every open watch after it has sent
  // `after_events` more events (0: now). Watches opened later are not affected.
  void close_watches(std::size_t after_events = 0);
  // Ends every open watch cleanly (terminating chunk), as a watch timeout does.
  void end_watches();
  // Writes each watch line in `pieces` chunks (at even or random byte positions), `gap` apart.
  // pieces <= 1 turns it off.
  void split_watch_lines(int pieces, bool random_positions = false,
                         std::chrono::milliseconds gap = std::chrono::milliseconds(2));
  // Cuts each watch line before the given byte offsets (those inside the line; the offset
  // size-1 puts the "\n" alone in the last chunk). An empty list turns it off.
  void split_watch_lines_at(std::vector<std::size_t> offsets,
                            std::chrono::milliseconds gap = std::chrono::milliseconds(2));
  // Answers the next `count` requests whose "METHOD target" contains `match` (all when empty)
  // with `status` (500 InternalError, 503 ServiceUnavailable, 429 TooManyRequests with
  // Retry-After: retry_after_seconds, 504 Timeout, or any other code).
  void fail_next(int count, unsigned status, std::string match = {}, int retry_after_seconds = 1);
  void set_delay(std::chrono::milliseconds delay);  // before every response
  void send_bookmarks_now();                        // to watches that allow bookmarks

  // ---- observation --------------------------------------------------------------------------
  std::vector<request_record> requests() const;
  void clear_requests();
  std::size_t open_watches() const;
  // Waits until exactly n watches are open.
  bool wait_for_watches(std::size_t n,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // Waits until pred() holds; pred is re-checked after every request, watch change and write.
  bool wait_until(const std::function<bool()>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

  // Closes the listener and every connection (open watches too) and joins every thread.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace operant::kube::test
