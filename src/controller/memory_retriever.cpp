#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "operant/controller/retriever.h"

namespace operant::controller {

memory_retriever::memory_retriever(std::size_t history) : history_(history) {}

object_ptr memory_retriever::store(object obj, bool must_exist) {
  std::string key = obj.key();  // throws for an object without a name
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (must_exist && it == objects_.end()) {
    throw std::invalid_argument("memory_retriever::update: no object with key \"" + key + "\"");
  }
  if (!must_exist && it != objects_.end()) {
    throw std::invalid_argument("memory_retriever::add: an object with key \"" + key +
                                "\" already exists");
  }
  ++version_;
  obj.set_resource_version(std::to_string(version_));
  auto ptr = std::make_shared<const object>(std::move(obj));
  if (it == objects_.end()) {
    objects_.emplace(std::move(key), ptr);
    append(watch_event_type::added, ptr);
  } else {
    it->second = ptr;
    append(watch_event_type::modified, ptr);
  }
  return ptr;
}

object_ptr memory_retriever::add(object obj) { return store(std::move(obj), false); }
object_ptr memory_retriever::update(object obj) { return store(std::move(obj), true); }

bool memory_retriever::remove(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return false;
  ++version_;
  object_ptr last = std::move(it->second);
  objects_.erase(it);
  append(watch_event_type::deleted, std::move(last));
  return true;
}

void memory_retriever::append(watch_event_type type, object_ptr obj) {
  log_.emplace_back(version_, watch_event{type, std::move(obj)});
  while (log_.size() > history_) log_.pop_front();
  cv_.notify_all();
}

object_ptr memory_retriever::get(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::size_t memory_retriever::size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

std::size_t memory_retriever::watchers() const {
  std::lock_guard lock(mu_);
  return watchers_;
}

list_result memory_retriever::list(std::stop_token) {
  list_result r;
  std::lock_guard lock(mu_);
  r.items.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) r.items.push_back(obj);
  r.resource_version = std::to_string(version_);
  return r;
}

void memory_retriever::watch(std::string_view resource_version,
                             const std::function<void(const watch_event&)>& on_event,
                             std::stop_token stop) {
  std::uint64_t pos = 0;
  const auto parsed = std::from_chars(resource_version.data(),
                                      resource_version.data() + resource_version.size(), pos);
  if (parsed.ec != std::errc() || parsed.ptr != resource_version.data() + resource_version.size()) {
    throw std::invalid_argument("memory_retriever::watch: bad resource version \"" +
                                std::string(resource_version) + "\"");
  }
  std::unique_lock lock(mu_);
  ++watchers_;
  struct leave {
    std::unique_lock<std::mutex>& l;
    std::size_t& n;
    ~leave() {
      if (!l.owns_lock()) l.lock();
      --n;
    }
  } guard{lock, watchers_};
  std::vector<watch_event> batch;
  while (!stop.stop_requested()) {
    if (version_ > pos && (log_.empty() || log_.front().first > pos + 1)) return;  // expired
    auto first = std::upper_bound(log_.begin(), log_.end(), pos,
                                  [](std::uint64_t v, const auto& e) { return v < e.first; });
    if (first != log_.end()) {
      batch.clear();
      for (auto it = first; it != log_.end(); ++it) batch.push_back(it->second);
      pos = log_.back().first;
      lock.unlock();
      for (const watch_event& e : batch) {
        if (stop.stop_requested()) break;
        on_event(e);
      }
      lock.lock();
      continue;
    }
    cv_.wait(lock, stop, [&] { return version_ > pos; });
  }
}

}  // namespace operant::controller
