// operant/controller/retriever.h — where a controller's objects come from: list, then watch.
//
// A retriever is bound to one kind of object (Kooper's Retriever). The controller calls list()
// once, then watch() from the list's resource version; when watch() returns (the source closed
// the stream or the version expired) it lists again, and objects missing from the new list are
// delivered as deletes. `kube` adapts a Kubernetes resource to this interface; memory_retriever
// is an in-memory source for tests and demos:
//
//   auto source = std::make_shared<operant::controller::memory_retriever>();
//   source->add(operant::controller::object().set_namespace("default").set_name("a"));
//   source->update(...);  source->remove("default/a");
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "operant/controller/object.h"

namespace operant::controller {

enum class watch_event_type : std::uint8_t { added, modified, deleted };

struct watch_event {
  watch_event_type type;
  object_ptr obj;  // for deleted: the object as it was last stored
};

struct list_result {
  std::vector<object_ptr> items;
  std::string resource_version;  // watch from here
};

class retriever {
 public:
  virtual ~retriever() = default;
  // Every object that exists now. Throws on failure (the controller logs it and retries after a
  // backoff). `stop` is requested when the controller stops.
  virtual list_result list(std::stop_token stop) = 0;
  // Calls on_event for every change after `resource_version`, in order, until `stop` is requested
  // (then returns) or the stream ends (returns; the controller lists again). Throws on failure.
  virtual void watch(std::string_view resource_version,
                     const std::function<void(const watch_event&)>& on_event,
                     std::stop_token stop) = 0;
};

// A thread-safe in-memory store of objects that is also a retriever: what you add, update and
// remove, its watchers see. Each write sets metadata.resourceVersion to the store's version
// counter (as the API server does). Keeps the last `history` events (default 100000) for
// watchers; a watcher further behind is ended so that its controller lists again (like HTTP 410
// Gone from the API server).
class memory_retriever final : public retriever {
 public:
  explicit memory_retriever(std::size_t history = 100000);

  // Stores a new object and returns it as stored. Throws std::invalid_argument if its key
  // (object::key) is invalid or already present.
  object_ptr add(object obj);
  // Replaces an existing object. Throws std::invalid_argument if its key is not present.
  object_ptr update(object obj);
  // Removes the object with this key; false if there was none.
  bool remove(std::string_view key);
  // The stored object, or nullptr.
  object_ptr get(std::string_view key) const;
  std::size_t size() const;
  // Number of watch() calls currently running.
  std::size_t watchers() const;

  list_result list(std::stop_token stop) override;
  void watch(std::string_view resource_version,
             const std::function<void(const watch_event&)>& on_event,
             std::stop_token stop) override;

 private:
  object_ptr store(object obj, bool must_exist);
  void append(watch_event_type type, object_ptr obj);

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, object_ptr, std::less<>> objects_;
  std::uint64_t version_ = 0;
  std::deque<std::pair<std::uint64_t, watch_event>> log_;
  std::size_t history_;
  std::size_t watchers_ = 0;
};

}  // namespace operant::controller
