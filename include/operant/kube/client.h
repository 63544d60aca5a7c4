// operant/kube/client.h — a REST client for any Kubernetes resource, core or custom.
//
//   auto cfg = operant::kube::load_config();            // --kubeconfig, KUBECONFIG, in-cluster,
//   ~/.kube/config operant::kube::rest_client api(cfg); auto pods =
//   api.list(operant::kube::resources::pods, "default", {.label_selector = "app=web"}); for (const
//   auto& pod : pods.items) std::puts(pod->key().c_str());
//   api.patch(operant::kube::resources::configmaps, "default", "settings",
//             operant::kube::patch_type::merge, R"({"data":{"mode":"fast"}})");
//
// Objects are operant::controller::object (a JSON document with typed metadata accessors). An
// answer that is not 2xx throws api_error carrying the server's Status object (reason, code,
// message); a failure to get an answer throws http::client_error. Every request waits for the
// client-side rate limiter first (client-go's token bucket: QPS 5, burst 10 by default, from the
// config) and is counted in `rest_client_requests_total{code,method,host}` and timed in
// `rest_client_request_duration_seconds{verb,host}` (client-go's names and buckets).
//
// Thread-safe: share one rest_client between informers, controllers and the leader elector.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "operant/controller/object.h"
#include "operant/http/client.h"
#include "operant/kube/config.h"
#include "operant/metrics/collector.h"

namespace operant::kube {

// A group/version/resource: where a kind of object lives in the API.
struct resource {
  std::string group{};    // "" for the core group ("v1" objects: pods, configmaps, ...)
  std::string version{};  // "v1"
  std::string plural{};   // "pods", "leases", "widgets"
  bool namespaced = true;

  // "v1" or "coordination.k8s.io/v1".
  std::string group_version() const;
  // The URL path of the collection in `ns` (all namespaces when empty, or when the resource is
  // cluster-scoped), or of the object `name` in it: "/api/v1/namespaces/default/pods/web-0".
  // Throws std::invalid_argument when a name or namespace is not a valid path segment (empty
  // where needed, or containing '/', '%', '?', '#', or being "." or "..").
  std::string path(std::string_view ns = {}, std::string_view name = {}) const;

  // Parses "pods", "v1/pods", "apps/v1/deployments" or "leases.v1.coordination.k8s.io"
  // (kubectl's resource.version.group). Namespaced unless the plural is a well-known
  // cluster-scoped one (namespaces, nodes, persistentvolumes, customresourcedefinitions,
  // clusterroles, clusterrolebindings, storageclasses, ...). Throws std::invalid_argument.
  static resource parse(std::string_view text);
};

// Resources everyone uses.
namespace resources {
inline const resource pods{"", "v1", "pods"};
inline const resource configmaps{"", "v1", "configmaps"};
inline const resource secrets{"", "v1", "secrets"};
inline const resource services{"", "v1", "services"};
inline const resource events{"", "v1", "events"};
inline const resource namespaces{"", "v1", "namespaces", false};
inline const resource nodes{"", "v1", "nodes", false};
inline const resource deployments{"apps", "v1", "deployments"};
inline const resource leases{"coordination.k8s.io", "v1", "leases"};
}  // namespace resources

// An answer that is not 2xx. `status` is the server's Status object (or one made from the HTTP
// status when the body was not a Status).
class api_error : public std::runtime_error {
 public:
  api_error(unsigned code, std::string reason, std::string message, nlohmann::json status);
  unsigned code() const noexcept { return code_; }
  // The Status reason: "NotFound", "AlreadyExists", "Conflict", "Expired", "Gone", ...
  const std::string& reason() const noexcept { return reason_; }
  // The Status message, as the server wrote it.
  const std::string& message() const noexcept { return message_; }
  const nlohmann::json& status() const noexcept { return status_; }

  bool not_found() const noexcept { return code_ == 404; }
  bool already_exists() const noexcept { return code_ == 409 && reason_ == "AlreadyExists"; }
  bool conflict() const noexcept { return code_ == 409 && reason_ != "AlreadyExists"; }
  // 410 Gone, or reason Expired (a too-old resourceVersion or continue token): relist.
  bool expired() const noexcept {
    return code_ == 410 || reason_ == "Expired" || reason_ == "Gone";
  }

 private:
  unsigned code_;
  std::string reason_;
  std::string message_;
  nlohmann::json status_;
};

struct list_options {
  std::string label_selector{};  // "app=web,tier!=db", "env in (a,b)"
  std::string field_selector{};  // "metadata.name=web-0"
  std::int64_t limit = 0;        // page size; 0: everything at once
  std::string continue_token{};  // from the previous page
  std::string resource_version{};
};

struct list_page {
  std::vector<controller::object_ptr> items{};
  std::string resource_version{};  // the list's: watch from here
  std::string continue_token{};    // non-empty when there are more pages
};

enum class event_type { added, modified, deleted, bookmark };

struct watch_event {
  event_type type;
  // The object (for deleted: as it was when deleted; for bookmark: only kind, apiVersion and
  // metadata.resourceVersion).
  controller::object_ptr obj;
};

struct watch_options {
  std::string label_selector{};
  std::string field_selector{};
  std::string resource_version{};  // events after this one; "" or "0": current state first
  bool allow_bookmarks = true;
  // Asks the server to end the stream after this long (timeoutSeconds); 0: the server's default.
  std::chrono::seconds timeout{0};
};

enum class patch_type {
  merge,            // application/merge-patch+json (RFC 7386)
  strategic_merge,  // application/strategic-merge-patch+json (built-in types only)
  json_patch,       // application/json-patch+json (RFC 6902)
};

struct rest_options {
  // Where rest_client_* metrics go; nullptr: nowhere. Several clients may share one registry.
  metrics::registerer* registry = nullptr;
  // Time for each non-watch request; 0: none (client-go's default: none).
  std::chrono::milliseconds timeout{0};
  http::client_options http{};  // TLS is filled in from the config; the rest is used as given
};

class rest_client {
 public:
  // Throws config_error / http::client_error when the config's TLS material cannot be used.
  explicit rest_client(config cfg, rest_options options = {});
  ~rest_client();
  rest_client(const rest_client&) = delete;
  rest_client& operator=(const rest_client&) = delete;

  const config& cfg() const noexcept;

  controller::object get(const resource& r, std::string_view ns, std::string_view name,
                         std::stop_token stop = {});
  // One page (or everything, with limit 0).
  list_page list(const resource& r, std::string_view ns, const list_options& o = {},
                 std::stop_token stop = {});
  // Every page, following continue tokens; the result carries the first page's resourceVersion
  // (all pages are one consistent snapshot). A token that expires mid-way throws api_error
  // (expired()): list again from the start.
  list_page list_all(const resource& r, std::string_view ns, list_options o = {},
                     std::stop_token stop = {});
  // The object's namespace is `ns` (for namespaced resources).
  controller::object create(const resource& r, std::string_view ns, const nlohmann::json& obj,
                            std::stop_token stop = {});
  // PUT of the whole object, named by its metadata.name; with metadata.resourceVersion set, the
  // server refuses (409, conflict()) if the object changed since.
  controller::object update(const resource& r, std::string_view ns, const nlohmann::json& obj,
                            std::stop_token stop = {});
  controller::object patch(const resource& r, std::string_view ns, std::string_view name,
                           patch_type type, std::string_view patch, std::stop_token stop = {});
  // Deletes; with a non-empty `precondition_resource_version` the server refuses (409) if the
  // object changed since.
  void remove(const resource& r, std::string_view ns, std::string_view name,
              std::string_view precondition_resource_version = {}, std::stop_token stop = {});

  // Watches: calls on_event for each event, on this thread, until the server ends the stream
  // (returns), `stop` is requested (returns), or an error: a non-2xx answer or an ERROR event
  // throws api_error (expired() when the resourceVersion is too old: list again), a malformed
  // event throws watch_error.
  void watch(const resource& r, std::string_view ns, const watch_options& o,
             const std::function<void(const watch_event&)>& on_event, std::stop_token stop = {});

  // Any request: `path` starts with "/" (and may carry a query). Rate-limited and counted like
  // the others; returns whatever the server answered.
  http::client_response request(std::string_view method, std::string_view path,
                                std::string body = {}, std::string_view content_type = {},
                                std::stop_token stop = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// A watch stream that could not be decoded: names what was wrong and shows the start of it.
class watch_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The decoder of a watch stream: bytes in (in pieces of any size, split anywhere), events out.
// Frames are JSON objects one after the other (the apiserver writes one per line; whitespace
// between them is skipped), each {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}.
// Scans each byte once however the stream is split. Used by rest_client::watch and the fuzz target.
class watch_decoder {
 public:
  // `max_event_bytes`: a frame larger than this is an error (the apiserver's limit on an object is
  // about 1.5 MiB in etcd; the default allows far more).
  explicit watch_decoder(std::size_t max_event_bytes = 64 * 1024 * 1024);

  // Decodes what `data` completes, calling on_event for each event in order. An ERROR event
  // throws api_error from its Status; anything malformed throws watch_error. After a throw the
  // decoder is unusable (the stream must be dropped).
  void feed(std::string_view data, const std::function<void(const watch_event&)>& on_event);
  // Bytes of an unfinished frame held now.
  std::size_t buffered() const noexcept { return frame_.size(); }

 private:
  void finish_frame(const std::function<void(const watch_event&)>& on_event);

  std::size_t max_;
  std::string frame_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
};

// The Status object in an error body, as api_error; for bodies that are not a Status, one
// made from the HTTP status (reason from the code, message from the body's start).
api_error error_from_response(unsigned http_status, std::string_view body);

}  // namespace operant::kube
