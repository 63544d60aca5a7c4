#include "operant/controller/controller.h"

#include <shared_mutex>
#include <span>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace operant::controller {

namespace {

double seconds(clock::duration d) noexcept { return std::chrono::duration<double>(d).count(); }
// The time from one clock::stamp() to a later one; stamps read on two threads may be a few
// nanoseconds out of order, which is zero, not a negative duration.
std::chrono::nanoseconds elapsed(clock::time_point from, clock::time_point to) noexcept {
  return to > from ? std::chrono::duration_cast<std::chrono::nanoseconds>(to - from)
                   : std::chrono::nanoseconds::zero();
}

std::string format_ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace

void config::validate() {
  auto bad = [](const std::string& what) { throw std::invalid_argument("controller config: " + what); };
  if (name.empty()) bad("name is required, got \"\"");
  if (!handler) bad("handler is required, got nullptr");
  if (!retriever) bad("retriever is required, got nullptr");
  if (workers < 1) bad("workers must be >= 1, got " + std::to_string(workers));
  if (resync_interval.count() < 0) {
    bad("resync_interval must be >= 0 (0 disables resync), got " + format_ms(resync_interval));
  }
  if (max_retries < 0) bad("max_retries must be >= 0, got " + std::to_string(max_retries));
  if (relist_backoff.count() <= 0) bad("relist_backoff must be > 0, got " + format_ms(relist_backoff));
  if (!logger) logger = std::make_shared<logfmt_logger>();
  if (!rate_limiter) rate_limiter = default_controller_rate_limiter();
  if (!clock) clock = default_clock();
}

// Everything that lives for one leadership term (or, without an elector, one run()).
struct controller::term {
  struct entry {
    object_ptr obj;
    bool deleted = false;  // a tombstone: the last known object of a deleted key
  };
  struct alignas(64) worker_slot {
    // The time the worker's current key started (a steady-clock count), 1 when no clock is read,
    // 0 when idle.
    std::atomic<clock::duration::rep> started{0};
  };

  term(const config& cfg, bool timed)
      : queue({.clock = cfg.clock, .limiter = cfg.rate_limiter, .track_queue_time = timed}),
        slots(static_cast<std::size_t>(cfg.workers)),
        clk(cfg.clock.get()) {
    subscription = clk->subscribe([this] {
      { std::lock_guard lock(mu); }
      cv.notify_all();
    });
  }
  ~term() { clk->unsubscribe(subscription); }

  // Waits until the clock reaches `deadline`; false if stopped first.
  bool sleep_until(clock::time_point deadline, const std::stop_token& tok) {
    std::unique_lock lock(mu);
    while (!tok.stop_requested() && clk->now() < deadline) clk->wait_until(cv, lock, deadline);
    return !tok.stop_requested();
  }

  workqueue queue;
  std::shared_mutex cache_mu;
  std::unordered_map<std::string, entry, string_hash, std::equal_to<>> cache;
  std::vector<worker_slot> slots;
  std::stop_source stop;  // ends the reflector and the resync loop
  clock* clk;
  std::mutex mu;  // with cv: sleeping reflector and resync loop
  std::condition_variable cv;
  std::uint64_t subscription = 0;
};

controller::controller(config cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  log_ = std::make_shared<logger_with_fields>(
      cfg_.logger, std::vector<std::pair<std::string, std::string>>{{"controller", cfg_.name}});
  if (cfg_.recorder) rec_ = cfg_.recorder->bind(cfg_.name, *this);
}

controller::~controller() {
  rec_.reset();  // unbind before anything stats() reads goes away
}

controller_stats_snapshot controller::stats() const {
  controller_stats_snapshot s;
  s.max_workers = static_cast<std::size_t>(cfg_.workers);
  std::lock_guard lock(term_mu_);
  if (term_ == nullptr) return s;
  s.depth = term_->queue.len();
  s.waiting = term_->queue.waiting();
  const clock::duration::rep now = cfg_.clock->stamp().time_since_epoch().count();
  for (const auto& slot : term_->slots) {
    const clock::duration::rep started = slot.started.load(std::memory_order_relaxed);
    if (started == 0) continue;
    ++s.active_workers;
    if (rec_ && started != 1 && now > started) {
      const double age = seconds(clock::duration(now - started));
      s.unfinished_work_seconds += age;
      if (age > s.longest_running_seconds) s.longest_running_seconds = age;
    }
  }
  return s;
}

void controller::run(std::stop_token stop) {
  if (running_.exchange(true)) {
    throw std::logic_error("controller \"" + cfg_.name + "\" is already running");
  }
  struct reset_running {
    std::atomic<bool>& r;
    ~reset_running() { r.store(false); }
  } reset{running_};

  log_->info("controller starting",
             {{"workers", cfg_.workers},
              {"resync", format_ms(cfg_.resync_interval)},
              {"max_retries", cfg_.max_retries}});
  if (cfg_.leader_elector) {
    cfg_.leader_elector->run(stop, [this](std::stop_token leading) {
      log_->info("leadership acquired; starting workers");
      run_term(std::move(leading));
      log_->info("leadership ended; workers stopped");
    });
  } else {
    run_term(std::move(stop));
  }
  log_->info("controller stopped");
}

void controller::run_term(std::stop_token stop) {
  term t(cfg_, rec_ != nullptr);
  clock& clk = *cfg_.clock;
  // Read before any thread starts, so that a test that advances a fake clock once the first keys
  // are handled knows the resync deadline was set before. No clock read without resync.
  const clock::time_point first_resync =
      cfg_.resync_interval.count() > 0 ? clk.now() + cfg_.resync_interval : clock::time_point{};
  {
    std::lock_guard lock(term_mu_);
    term_ = &t;
  }

  auto enqueue = [&](std::string_view key, event_type type) {
    t.queue.add(key);
    if (rec_) rec_->queued(type, 1);
  };

  auto enqueue_all = [&](std::span<const std::string_view> keys, event_type type) {
    t.queue.add_all(keys);
    if (rec_ && !keys.empty()) rec_->queued(type, keys.size());
  };

  // The retriever's view, applied to the cache; keys queued after the cache is updated, so a
  // worker always finds the state that queued its key (or a newer one).
  auto apply_event = [&](const watch_event& e) {
    std::string key;
    try {
      key = e.obj->key();
    } catch (const std::exception& ex) {
      log_->error("ignoring an object without a key", {{"error", ex.what()}});
      return;
    }
    {
      std::unique_lock lock(t.cache_mu);
      auto& entry = t.cache[key];
      entry.obj = e.obj;
      entry.deleted = e.type == watch_event_type::deleted;
    }
    enqueue(key, e.type == watch_event_type::deleted ? event_type::delete_ : event_type::add);
  };

  auto replace = [&](const list_result& list) {
    std::vector<std::string> keys, gone;
    keys.reserve(list.items.size());
    {
      std::unique_lock lock(t.cache_mu);
      std::unordered_set<std::string_view> listed;
      const bool relist = !t.cache.empty();
      for (const object_ptr& obj : list.items) {
        try {
          keys.push_back(obj->key());
        } catch (const std::exception& ex) {
          log_->error("ignoring an object without a key", {{"error", ex.what()}});
          continue;
        }
        auto& entry = t.cache[keys.back()];
        entry.obj = obj;
        entry.deleted = false;
      }
      if (relist) {
        listed.insert(keys.begin(), keys.end());
        for (auto& [key, entry] : t.cache) {
          if (!entry.deleted && !listed.contains(key)) {
            entry.deleted = true;  // missed its delete event: deliver it now, with the last object
            gone.push_back(key);
          }
        }
      }
    }
    enqueue_all(std::vector<std::string_view>(keys.begin(), keys.end()), event_type::add);
    enqueue_all(std::vector<std::string_view>(gone.begin(), gone.end()), event_type::delete_);
  };

  auto reflect = [&] {
    const std::stop_token tok = t.stop.get_token();
    while (!tok.stop_requested()) {
      try {
        list_result list = cfg_.retriever->list(tok);
        if (tok.stop_requested()) break;
        replace(list);
        cfg_.retriever->watch(list.resource_version, apply_event, tok);
        continue;  // the watch ended: list again
      } catch (const std::exception& ex) {
        log_->error("list/watch failed; retrying",
                    {{"error", ex.what()}, {"backoff", format_ms(cfg_.relist_backoff)}});
      } catch (...) {
        log_->error("list/watch failed with an unknown exception; retrying");
      }
      t.sleep_until(clk.now() + cfg_.relist_backoff, tok);
    }
  };

  auto resync = [&] {
    const std::stop_token tok = t.stop.get_token();
    std::vector<std::string_view> chunk;
    chunk.reserve(512);
    for (clock::time_point next = first_resync; t.sleep_until(next, tok); next += cfg_.resync_interval) {
      // Keys are queued straight from the cache in chunks, under its shared lock (lock order:
      // cache, then queue; nothing takes them the other way round), so a resync allocates nothing
      // per key. Writers of the cache wait for the resync: about a millisecond per 10k keys.
      std::shared_lock lock(t.cache_mu);
      for (const auto& [key, entry] : t.cache) {
        if (entry.deleted) continue;
        chunk.push_back(key);
        if (chunk.size() == chunk.capacity()) {
          enqueue_all(chunk, event_type::add);
          chunk.clear();
        }
      }
      enqueue_all(chunk, event_type::add);
      chunk.clear();
    }
  };

  auto drop_tombstone = [&](std::string_view key, const object_ptr& obj) {
    std::unique_lock lock(t.cache_mu);
    auto it = t.cache.find(key);
    if (it != t.cache.end() && it->second.deleted && it->second.obj == obj) t.cache.erase(it);
  };

  // `now` is the time the worker last read (when it finished its previous key and did not have to
  // wait for this one), or the epoch; with a recorder, a key costs one clock read. A duration
  // then includes the worker's sub-microsecond bookkeeping between two keys.
  auto process = [&](term::worker_slot& slot, const workqueue::item& item, clock::time_point& now) {
    const std::string_view key = item.key();
    object_ptr obj;
    bool deleted;
    {
      std::shared_lock lock(t.cache_mu);
      auto it = t.cache.find(key);
      if (it == t.cache.end()) {  // a tombstone already handled: nothing left to do
        t.queue.forget(item);
        now = {};
        return;
      }
      obj = it->second.obj;
      deleted = it->second.deleted;
    }
    const event_type type = deleted ? event_type::delete_ : event_type::add;
    clock::time_point start{};
    if (rec_) {
      start = now == clock::time_point{} ? clk.stamp() : now;
      rec_->dequeued(elapsed(item.queued_at(), start));
      slot.started.store(start.time_since_epoch().count(), std::memory_order_relaxed);
    } else {
      slot.started.store(1, std::memory_order_relaxed);
    }

    const unsigned failures = item.failures();
    const context ctx(stop, cfg_.name, key, failures, *log_);
    status st;
    try {
      st = deleted ? cfg_.handler->handle_delete(ctx, key, *obj) : cfg_.handler->handle(ctx, *obj);
    } catch (const std::exception& ex) {
      st = status::failure(std::string("handler threw: ") + ex.what());
    } catch (...) {
      st = status::failure("handler threw a non-standard exception");
    }

    slot.started.store(0, std::memory_order_relaxed);
    if (rec_) {
      now = clk.stamp();
      rec_->processed(type, !st.ok(), elapsed(start, now));
    }

    if (st.ok()) {
      t.queue.forget(item);
      if (deleted) drop_tombstone(key, obj);
      return;
    }
    const bool stopping = stop.stop_requested();
    const bool retry = failures < static_cast<unsigned>(cfg_.max_retries) && !stopping;
    // While stopping, a failure is expected (the handler's context is cancelled): a warning.
    if (log_->enabled(stopping ? log_level::warning : log_level::error)) {
      const log_field fields[] = {{"key", key},
                                  {"event", to_string(type)},
                                  {"error", st.message()},
                                  {"attempt", failures + 1},
                                  {"requeued", retry}};
      log_->log(stopping ? log_level::warning : log_level::error, "handler failed", fields);
    }
    if (retry) {
      t.queue.add_rate_limited(key);
      if (rec_) rec_->queued(event_type::requeue, 1);
    } else {
      t.queue.forget(item);
      if (deleted) drop_tombstone(key, obj);
    }
  };

  std::vector<std::thread> threads;
  {
    // When stop is requested: end the list/watch and the resync, and shut the queue down; workers
    // then hand the keys already queued to the handler (with its context cancelled) and exit.
    std::stop_callback on_stop(stop, [&] {
      t.stop.request_stop();
      t.queue.shut_down();
      { std::lock_guard lock(t.mu); }
      t.cv.notify_all();
    });
    threads.emplace_back(reflect);
    if (cfg_.resync_interval.count() > 0) threads.emplace_back(resync);
    for (auto& slot : t.slots) {
      threads.emplace_back([&] {
        clock::time_point now{};
        bool waited = false;
        for (auto item = t.queue.get(); item; item = t.queue.done_and_get(item, &waited)) {
          if (waited) now = {};
          process(slot, item, now);
        }
      });
    }
    for (std::thread& th : threads) th.join();
  }
  std::lock_guard lock(term_mu_);
  term_ = nullptr;
}

std::unique_ptr<controller> new_sequential(std::string name, std::chrono::milliseconds resync,
                                           std::shared_ptr<handler> h, std::shared_ptr<retriever> r,
                                           std::shared_ptr<recorder> rec,
                                           std::shared_ptr<logger> log) {
  return std::make_unique<controller>(config{.name = std::move(name),
                                             .handler = std::move(h),
                                             .retriever = std::move(r),
                                             .workers = 1,
                                             .resync_interval = resync,
                                             .logger = std::move(log),
                                             .recorder = std::move(rec)});
}

std::unique_ptr<controller> new_concurrent(int workers, std::string name,
                                           std::chrono::milliseconds resync,
                                           std::shared_ptr<handler> h, std::shared_ptr<retriever> r,
                                           std::shared_ptr<recorder> rec,
                                           std::shared_ptr<logger> log) {
  if (workers < 2) {
    throw std::invalid_argument("new_concurrent: workers must be >= 2 (use new_sequential for 1), got " +
                                std::to_string(workers));
  }
  return std::make_unique<controller>(config{.name = std::move(name),
                                             .handler = std::move(h),
                                             .retriever = std::move(r),
                                             .workers = workers,
                                             .resync_interval = resync,
                                             .logger = std::move(log),
                                             .recorder = std::move(rec)});
}

}  // namespace operant::controller
