#include "operant/kube/informer.h"

#include <algorithm>
#include <random>
#include <thread>
#include <unordered_set>

#include "sleep.h"

namespace operant::kube {

using controller::object_ptr;

// ---- store
// ---------------------------------------------------------------------------------------

std::map<std::string, store::index, std::less<>> store::default_indexes() {
  std::map<std::string, index, std::less<>> m;
  m["namespace"].fn = [](const controller::object& o) {
    return std::vector<std::string>{std::string(o.namespace_())};
  };
  return m;
}

void store::index_add(const std::string& key, const controller::object& obj) {
  for (auto& [name, ix] : indexes_) {
    for (auto& v : ix.fn(obj)) ix.values[std::move(v)].insert(key);
  }
}

void store::index_remove(const std::string& key, const controller::object& obj) {
  for (auto& [name, ix] : indexes_) {
    for (const auto& v : ix.fn(obj)) {
      const auto it = ix.values.find(v);
      if (it == ix.values.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) ix.values.erase(it);
    }
  }
}

void store::add_index(const std::string& name, index_func fn) {
  std::unique_lock lock(mu_);
  if (indexes_.contains(name)) throw std::invalid_argument("index \"" + name + "\" already exists");
  index& ix = indexes_[name];
  ix.fn = std::move(fn);
  for (const auto& [key, obj] : objects_) {
    for (auto& v : ix.fn(*obj)) ix.values[std::move(v)].insert(key);
  }
}

object_ptr store::get(std::string_view key) const {
  std::shared_lock lock(mu_);
  const auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<object_ptr> store::list() const {
  std::shared_lock lock(mu_);
  std::vector<object_ptr> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) out.push_back(obj);
  return out;
}

std::vector<std::string> store::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) out.push_back(key);
  return out;
}

std::size_t store::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

std::vector<object_ptr> store::by_index(std::string_view name, std::string_view value) const {
  std::shared_lock lock(mu_);
  const auto ix = indexes_.find(name);
  if (ix == indexes_.end())
    throw std::invalid_argument("no index named \"" + std::string(name) + "\"");
  std::vector<object_ptr> out;
  const auto it = ix->second.values.find(value);
  if (it == ix->second.values.end()) return out;
  for (const auto& key : it->second) out.push_back(objects_.find(key)->second);
  return out;
}

std::vector<std::string> store::index_values(std::string_view name) const {
  std::shared_lock lock(mu_);
  const auto ix = indexes_.find(name);
  if (ix == indexes_.end())
    throw std::invalid_argument("no index named \"" + std::string(name) + "\"");
  std::vector<std::string> out;
  for (const auto& [value, keys] : ix->second.values) out.push_back(value);
  return out;
}

object_ptr store::put(object_ptr obj) {
  std::string key = obj->key();
  std::unique_lock lock(mu_);
  auto [it, inserted] = objects_.try_emplace(key, obj);
  object_ptr old;
  if (!inserted) {
    old = std::move(it->second);
    index_remove(key, *old);
    it->second = obj;
  }
  index_add(key, *obj);
  return old;
}

object_ptr store::erase(std::string_view key) {
  std::unique_lock lock(mu_);
  const auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  object_ptr old = std::move(it->second);
  index_remove(it->first, *old);
  objects_.erase(it);
  return old;
}

// ---- watching
// --------------------------------------------------------------------------------------

namespace {

class backoff {
 public:
  backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max) {}
  // The next delay, with up to 100% jitter as client-go's (factor 2, jitter 1.0).
  std::chrono::milliseconds next() {
    const auto base = current_.count() == 0 ? initial_ : std::min(max_, current_ * 2);
    current_ = base;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.0, 1.0);
    return std::min(max_, std::chrono::milliseconds(static_cast<long long>(
                              static_cast<double>(base.count()) * (1.0 + jitter(rng)))));
  }
  void reset() { current_ = std::chrono::milliseconds(0); }

 private:
  std::chrono::milliseconds initial_, max_;
  std::chrono::milliseconds current_{0};
};

std::chrono::seconds watch_timeout(std::chrono::seconds min) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<long long> extra(0, std::max<long long>(min.count() - 1, 0));
  return min + std::chrono::seconds(extra(rng));
}

// Whether a failure is worth retrying the same watch for (as opposed to relisting or giving up).
bool transient(const api_error& e) { return e.code() >= 500 || e.code() == 429; }

void log_error(controller::logger* log, std::string_view msg, const reflector_options& o,
               const std::exception& e) {
  if (log)
    log->error(msg, {{"resource", o.res.group_version() + "/" + o.res.plural},
                     {"namespace", o.ns},
                     {"error", e.what()}});
}

}  // namespace

list_page list_everything(rest_client& client, const reflector_options& o,
                          const std::stop_token& stop) {
  list_options lo;
  lo.label_selector = o.label_selector;
  lo.field_selector = o.field_selector;
  lo.limit = o.page_size;
  try {
    return client.list_all(o.res, o.ns, lo, stop);
  } catch (const api_error& e) {
    if (!e.expired()) throw;
    lo.limit = 0;  // a continue token expired between pages: one unpaginated list (client-go)
    return client.list_all(o.res, o.ns, lo, stop);
  }
}

void watch_continuously(rest_client& client, const reflector_options& o,
                        std::string resource_version,
                        const std::function<void(const watch_event&)>& on_event,
                        std::stop_token stop) {
  backoff b(o.backoff_initial, o.backoff_max);
  while (!stop.stop_requested()) {
    watch_options w;
    w.label_selector = o.label_selector;
    w.field_selector = o.field_selector;
    w.resource_version = resource_version;
    w.allow_bookmarks = true;
    w.timeout = watch_timeout(o.min_watch_timeout);
    bool got_events = false;
    try {
      client.watch(
          o.res, o.ns, w,
          [&](const watch_event& e) {
            got_events = true;
            const std::string_view rv = e.obj->resource_version();
            if (!rv.empty()) resource_version = std::string(rv);
            on_event(e);
          },
          stop);
      b.reset();  // the server ended the stream (timeoutSeconds): watch again at once
      continue;
    } catch (const api_error& e) {
      if (e.expired()) {
        if (o.log)
          o.log->info("watch expired; listing again",
                      {{"resource", o.res.plural}, {"resourceVersion", resource_version}});
        return;
      }
      if (!transient(e)) throw;
      log_error(o.log, "watch failed; watching again after a backoff", o, e);
    } catch (const http::client_error& e) {
      if (e.what_kind() == http::client_error::kind::cancelled) return;
      log_error(o.log, "watch failed; watching again after a backoff", o, e);
    } catch (const watch_error& e) {
      log_error(o.log, "watch stream malformed; watching again after a backoff", o, e);
    }
    if (got_events) b.reset();
    if (!detail::sleep_for(b.next(), stop)) return;
  }
}

// ---- informer
// ----------------------------------------------------------------------------------------

informer::informer(rest_client& client, informer_options options)
    : client_(client), opts_(std::move(options)) {}
informer::~informer() = default;

void informer::add_handlers(event_handlers h) { handlers_.push_back(std::move(h)); }

bool informer::has_synced() const noexcept {
  std::lock_guard lock(sync_mu_);
  return synced_;
}

bool informer::wait_for_sync(std::stop_token stop) const {
  std::unique_lock lock(sync_mu_);
  sync_cv_.wait(lock, stop, [this] { return synced_; });
  return synced_;
}

std::string informer::last_resource_version() const {
  std::lock_guard lock(sync_mu_);
  return rv_;
}

std::size_t informer::lists() const noexcept {
  std::lock_guard lock(sync_mu_);
  return lists_;
}

void informer::replace(const list_page& page) {
  std::lock_guard deliver(deliver_mu_);
  std::unordered_set<std::string> listed;
  listed.reserve(page.items.size());
  for (const object_ptr& obj : page.items) {
    std::string key;
    try {
      key = obj->key();
    } catch (const std::exception& e) {
      if (opts_.log) opts_.log->error("ignoring an object without a name", {{"error", e.what()}});
      continue;
    }
    listed.insert(key);
    const object_ptr old = store_.put(obj);
    if (!old) {
      for (auto& h : handlers_) {
        if (h.on_add) h.on_add(obj);
      }
    } else if (old->resource_version() != obj->resource_version()) {
      for (auto& h : handlers_) {
        if (h.on_update) h.on_update(old, obj);
      }
    }
  }
  for (const std::string& key : store_.keys()) {
    if (listed.contains(key)) continue;
    // Deleted while no watch was open: deliver the delete with the last state we had.
    const object_ptr last = store_.erase(key);
    if (!last) continue;
    for (auto& h : handlers_) {
      if (h.on_delete) h.on_delete(last);
    }
  }
  std::lock_guard lock(sync_mu_);
  rv_ = page.resource_version;
  ++lists_;
  synced_ = true;
  sync_cv_.notify_all();
}

void informer::apply(const watch_event& e) {
  {
    std::lock_guard lock(sync_mu_);
    const std::string_view rv = e.obj->resource_version();
    if (!rv.empty()) rv_ = std::string(rv);
  }
  if (e.type == event_type::bookmark) return;
  std::lock_guard deliver(deliver_mu_);
  if (e.type == event_type::deleted) {
    std::string key;
    try {
      key = e.obj->key();
    } catch (const std::exception&) {
      return;
    }
    store_.erase(key);
    for (auto& h : handlers_) {
      if (h.on_delete) h.on_delete(e.obj);
    }
    return;
  }
  object_ptr old;
  try {
    old = store_.put(e.obj);
  } catch (const std::exception& ex) {
    if (opts_.log) opts_.log->error("ignoring an object without a name", {{"error", ex.what()}});
    return;
  }
  for (auto& h : handlers_) {
    if (old) {
      if (h.on_update) h.on_update(old, e.obj);
    } else if (h.on_add) {
      h.on_add(e.obj);
    }
  }
}

void informer::resync_all() {
  std::lock_guard deliver(deliver_mu_);
  for (const object_ptr& obj : store_.list()) {
    for (auto& h : handlers_) {
      if (h.on_update) h.on_update(obj, obj);
    }
  }
}

void informer::run(std::stop_token stop) {
  std::jthread resync;
  if (opts_.resync.count() > 0) {
    resync = std::jthread([this](std::stop_token own) {
      while (detail::sleep_for(opts_.resync, own)) {
        if (has_synced()) resync_all();
      }
    });
  }
  std::stop_callback stop_resync(stop, [&resync] { resync.request_stop(); });
  backoff b(opts_.backoff_initial, opts_.backoff_max);
  while (!stop.stop_requested()) {
    try {
      const list_page page = list_everything(client_, opts_, stop);
      replace(page);
      b.reset();
      watch_continuously(
          client_, opts_, page.resource_version, [this](const watch_event& e) { apply(e); }, stop);
      continue;  // expired: list again at once
    } catch (const http::client_error& e) {
      if (e.what_kind() == http::client_error::kind::cancelled) break;
      log_error(opts_.log, "list/watch failed; retrying after a backoff", opts_, e);
    } catch (const std::exception& e) {
      log_error(opts_.log, "list/watch failed; retrying after a backoff", opts_, e);
    }
    if (!detail::sleep_for(b.next(), stop)) break;
  }
  resync.request_stop();
}

// ---- retriever
// ---------------------------------------------------------------------------------------

retriever::retriever(rest_client& client, reflector_options options)
    : client_(client), opts_(std::move(options)) {}

controller::list_result retriever::list(std::stop_token stop) {
  list_page page = list_everything(client_, opts_, stop);
  return {std::move(page.items), std::move(page.resource_version)};
}

void retriever::watch(std::string_view resource_version,
                      const std::function<void(const controller::watch_event&)>& on_event,
                      std::stop_token stop) {
  watch_continuously(
      client_, opts_, std::string(resource_version),
      [&](const watch_event& e) {
        switch (e.type) {
          case event_type::added:
            on_event({controller::watch_event_type::added, e.obj});
            break;
          case event_type::modified:
            on_event({controller::watch_event_type::modified, e.obj});
            break;
          case event_type::deleted:
            on_event({controller::watch_event_type::deleted, e.obj});
            break;
          case event_type::bookmark:
            break;
        }
      },
      stop);
}

}  // namespace operant::kube
