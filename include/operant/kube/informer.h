// operant/kube/informer.h — client-go's reflector, indexed store and informer, and the adapter
// that makes any resource a controller retriever.
//
//   operant::kube::rest_client api(operant::kube::load_config());
//   operant::kube::informer pods(api, {.res = operant::kube::resources::pods, .ns = "default"});
//   pods.add_handlers({.on_add = [](const auto& pod) { std::puts(pod->key().c_str()); }});
//   std::jthread t([&](std::stop_token stop) { pods.run(stop); });
//   pods.wait_for_sync(stop);
//   auto web = pods.cache().by_index("namespace", "default");
//
// What the reflector does, as client-go's does: list (in pages of `page_size`), then watch from
// the list's resourceVersion with bookmarks allowed and a server-side timeout of 5 to 10 min.
// When the stream ends or the connection drops, it watches again from the last resourceVersion it
// saw (bookmarks move it forward), backing off 800 ms doubling to 30 s while failures repeat. When
// the server says the resourceVersion is too old (410 Gone, as an HTTP answer or an ERROR event)
// it lists again and turns the difference into events: adds, updates, and deletes that carry the
// last object it knew. So no change is lost across dropped watches and relists: after any
// sequence of faults, the store equals the server's state once the reflector catches up.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "operant/controller/logger.h"
#include "operant/controller/retriever.h"
#include "operant/kube/client.h"

namespace operant::kube {

// An index function: the values an object is indexed under ("namespace" → its namespace).
using index_func = std::function<std::vector<std::string>(const controller::object&)>;

// A thread-safe map of key ("namespace/name") to object, with indexes. Readers see immutable
// objects (object_ptr) and never block each other.
class store {
 public:
  // Adds an index; objects already stored are indexed at once. Throws std::invalid_argument if
  // the name is taken. The "namespace" index exists from the start.
  void add_index(const std::string& name, index_func fn);

  controller::object_ptr get(std::string_view key) const;
  std::vector<controller::object_ptr> list() const;
  std::vector<std::string> keys() const;
  std::size_t size() const;
  // Objects whose index `name` has `value`. Throws std::invalid_argument for an unknown index.
  std::vector<controller::object_ptr> by_index(std::string_view name, std::string_view value) const;
  // The values index `name` holds now (sorted).
  std::vector<std::string> index_values(std::string_view name) const;

  // Writers (the informer's reflector; tests). put returns the object it replaced (or null);
  // erase returns the object it removed (or null).
  controller::object_ptr put(controller::object_ptr obj);
  controller::object_ptr erase(std::string_view key);

 private:
  struct index {
    index_func fn;
    std::map<std::string, std::set<std::string>, std::less<>> values;  // value -> keys
  };
  void index_add(const std::string& key, const controller::object& obj);
  void index_remove(const std::string& key, const controller::object& obj);

  mutable std::shared_mutex mu_;
  std::map<std::string, controller::object_ptr, std::less<>> objects_;
  std::map<std::string, index, std::less<>> indexes_ = default_indexes();
  static std::map<std::string, index, std::less<>> default_indexes();
};

struct event_handlers {
  std::function<void(const controller::object_ptr& obj)> on_add{};
  // Also called by resync with old == now.
  std::function<void(const controller::object_ptr& old, const controller::object_ptr& now)>
      on_update{};
  // With the last state of the object (from the DELETED event, or, when the delete was missed
  // during a dropped watch, the last state the store had).
  std::function<void(const controller::object_ptr& last)> on_delete{};
};

struct reflector_options {
  resource res{};
  std::string ns{};  // "" for all namespaces (and for cluster-scoped resources)
  std::string label_selector{};
  std::string field_selector{};
  std::int64_t page_size = 500;  // client-go's reflector pages lists by 500
  // Backoff between failed attempts: doubling from initial to max (client-go: 800 ms, 30 s).
  std::chrono::milliseconds backoff_initial{800};
  std::chrono::milliseconds backoff_max{30'000};
  // Each watch asks the server to end it after a random time in [min, 2*min) (client-go: 5 min).
  std::chrono::seconds min_watch_timeout{300};
  controller::logger* log = nullptr;  // nullptr: nothing logged
};

struct informer_options : reflector_options {
  // Every interval, on_update(obj, obj) for every object; 0: never.
  std::chrono::milliseconds resync{0};
};

// Lists every page of what `o` selects (pages of o.page_size); when a continue token expires
// between pages, lists once more without pages, as client-go's reflector does.
list_page list_everything(rest_client& client, const reflector_options& o,
                          const std::stop_token& stop);

// Watches from `resource_version`, calling on_event for every event (bookmarks included, so the
// caller can track the resourceVersion), and watches again from the last resourceVersion seen
// when a stream ends or fails (with backoff). Returns when the resourceVersion expires (410:
// list again) or `stop` is requested. Throws api_error for answers no retry can fix (400, 401,
// 403, 404, ...).
void watch_continuously(rest_client& client, const reflector_options& o,
                        std::string resource_version,
                        const std::function<void(const watch_event&)>& on_event,
                        std::stop_token stop);

class informer {
 public:
  informer(rest_client& client, informer_options options);
  ~informer();
  informer(const informer&) = delete;
  informer& operator=(const informer&) = delete;

  // Before run(): handlers are called on run()'s thread, one event at a time, in order.
  void add_handlers(event_handlers h);
  // Indexes may be added any time.
  void add_index(const std::string& name, index_func fn) { store_.add_index(name, std::move(fn)); }

  // Lists, watches and keeps the store current until `stop` is requested. Call once.
  void run(std::stop_token stop);

  // True once the first list is in the store and its events delivered.
  bool has_synced() const noexcept;
  // Waits until has_synced() or `stop`; returns has_synced().
  bool wait_for_sync(std::stop_token stop) const;
  // The last resourceVersion seen (from a list, an event or a bookmark).
  std::string last_resource_version() const;
  // Lists made so far (1 after the first; more after relists).
  std::size_t lists() const noexcept;

  const store& cache() const noexcept { return store_; }

 private:
  void replace(const list_page& page);
  void apply(const watch_event& e);
  void resync_all();

  rest_client& client_;
  informer_options opts_;
  store store_;
  std::vector<event_handlers> handlers_;
  std::mutex deliver_mu_;  // one delivery at a time (events and resync)
  mutable std::mutex sync_mu_;
  mutable std::condition_variable_any sync_cv_;
  bool synced_ = false;
  std::string rv_;
  std::size_t lists_ = 0;
};

// A Kubernetes resource as a controller retriever: list() lists every page; watch() watches
// continuously (re-watching across dropped connections) and returns when the controller must
// list again (410). So the seed's controller runs against a cluster:
//
//   operant::controller::config cfg;
//   cfg.name = "pod-echo";
//   cfg.handler = h;
//   cfg.retriever = std::make_shared<operant::kube::retriever>(
//       api, operant::kube::reflector_options{.res = operant::kube::resources::pods, .ns =
//       "default"});
//   operant::controller::controller(cfg).run(stop);
class retriever final : public controller::retriever {
 public:
  retriever(rest_client& client, reflector_options options);
  controller::list_result list(std::stop_token stop) override;
  void watch(std::string_view resource_version,
             const std::function<void(const controller::watch_event&)>& on_event,
             std::stop_token stop) override;

 private:
  rest_client& client_;
  reflector_options opts_;
};

}  // namespace operant::kube
