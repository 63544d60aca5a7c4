#include "operant/controller/workqueue.h"

#include <algorithm>

namespace operant::controller {

workqueue::workqueue(workqueue_options opts)
    : clock_(opts.clock ? std::move(opts.clock) : default_clock()),
      limiter_(opts.limiter ? std::move(opts.limiter)
                            : std::shared_ptr<rate_limiter>(default_controller_rate_limiter())),
      track_time_(opts.track_queue_time) {
  // A fake clock's advance() must wake getters waiting for a delayed key.
  subscription_ = clock_->subscribe([this] {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
  });
}

workqueue::~workqueue() {
  clock_->unsubscribe(subscription_);
  shut_down();
}

workqueue::record& workqueue::record_locked(std::string_view key) {
  auto it = records_.find(key);
  if (it == records_.end()) {
    maybe_sweep_locked();
    it = records_.try_emplace(std::string(key)).first;
    it->second.key = &it->first;
  }
  return it->second;
}

void workqueue::add_locked(record& r, clock::time_point& stamp) const {
  if (r.dirty) return;
  r.dirty = true;
  if (track_time_) {
    if (stamp == clock::time_point{}) stamp = clock_->stamp();
    r.queued_at = stamp;
  }
  if (r.processing) return;  // queued again by done()
  queue_.push_back(&r);
}

void workqueue::add(std::string_view key) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    clock::time_point stamp{};
    add_locked(record_locked(key), stamp);
    wake = getters_waiting_ > 0 && !queue_.empty();
  }
  if (wake) cv_.notify_one();
}

void workqueue::add_all(std::span<const std::string_view> keys) {
  std::size_t queued;
  std::size_t waiting;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    clock::time_point stamp{};  // one clock read for the whole batch
    for (std::string_view k : keys) add_locked(record_locked(k), stamp);
    queued = queue_.size();
    waiting = getters_waiting_;
  }
  if (waiting == 0 || queued == 0) return;
  if (queued >= waiting) {
    cv_.notify_all();
  } else {
    for (std::size_t i = 0; i < queued; ++i) cv_.notify_one();
  }
}

void workqueue::add_after_locked(record& r, clock::duration delay) {
  if (delay <= clock::duration::zero()) {
    clock::time_point stamp{};
    add_locked(r, stamp);
    return;
  }
  const clock::time_point now = clock_->now();
  const clock::time_point ready = now + delay;
  if (r.waiting && r.ready_at <= ready) return;
  if (!r.waiting) ++waiting_count_;
  r.waiting = true;
  r.ready_at = ready;
  ++r.heap_refs;
  delayed_.push({ready, seq_++, &r});
}

void workqueue::add_after(std::string_view key, clock::duration delay) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    add_after_locked(record_locked(key), delay);
  }
  // A getter may be waiting for a later deadline, or for nothing.
  cv_.notify_one();
}

void workqueue::add_rate_limited(std::string_view key) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    record& r = record_locked(key);
    const unsigned failures = r.failures.load(std::memory_order_relaxed);
    const clock::duration delay = limiter_->when(key, failures, clock_->now());
    r.failures.store(failures + 1, std::memory_order_relaxed);
    add_after_locked(r, delay);
  }
  cv_.notify_one();
}

void workqueue::forget(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  if (it != records_.end()) it->second.failures.store(0, std::memory_order_relaxed);
}

void workqueue::forget(const item& it) {
  // The record cannot go away while its key is processing, and only its processor forgets it.
  if (it.rec_->failures.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(mu_);
  it.rec_->failures.store(0, std::memory_order_relaxed);
}

unsigned workqueue::num_requeues(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(key);
  return it == records_.end() ? 0 : it->second.failures.load(std::memory_order_relaxed);
}

bool workqueue::promote_locked() const {
  if (delayed_.empty()) return false;
  const clock::time_point now = clock_->now();
  clock::time_point stamp{};  // queued_at is a stamp (clock::stamp), read at most once
  bool any = false;
  while (!delayed_.empty() && delayed_.top().ready <= now) {
    const delayed_entry e = delayed_.top();
    delayed_.pop();
    record& r = *e.rec;
    --r.heap_refs;
    if (!r.waiting || r.ready_at != e.ready) continue;  // superseded by an earlier ready time
    r.waiting = false;
    --waiting_count_;
    add_locked(r, stamp);
    any = true;
  }
  return any;
}

workqueue::item workqueue::get_locked(std::unique_lock<std::mutex>& lock, bool* waited) {
  if (waited != nullptr) *waited = false;
  for (;;) {
    promote_locked();
    if (!queue_.empty()) break;
    if (shutting_down_) return item{};
    ++getters_waiting_;
    if (waited != nullptr) *waited = true;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      clock_->wait_until(cv_, lock, delayed_.top().ready);
    }
    --getters_waiting_;
  }
  record* r = queue_.front();
  queue_.pop_front();
  r->dirty = false;
  r->processing = true;
  ++processing_;
  if (!queue_.empty() && getters_waiting_ > 0) cv_.notify_one();
  return item(r, r->queued_at);
}

workqueue::item workqueue::get() {
  std::unique_lock lock(mu_);
  return get_locked(lock, nullptr);
}

void workqueue::done_locked(record& r) {
  r.processing = false;
  --processing_;
  if (r.dirty) queue_.push_back(&r);
  if (draining_ && processing_ == 0 && queue_.empty()) drain_cv_.notify_all();
}

void workqueue::maybe_sweep_locked() {
  // Called before a record is created. Records of idle keys are kept, so a key that keeps coming
  // back (every key, at each resync) costs no allocation; when the table has doubled since the
  // last sweep, idle records are dropped in bulk: amortised O(1), at most twice the live keys.
  if (records_.size() < sweep_above_) return;
  std::erase_if(records_, [](const auto& kv) { return idle(kv.second); });
  sweep_above_ = std::max<std::size_t>(1024, 2 * records_.size());
}

void workqueue::done(item it) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    done_locked(*it.rec_);
    wake = getters_waiting_ > 0 && !queue_.empty();
  }
  if (wake) cv_.notify_one();
}

workqueue::item workqueue::done_and_get(item prev, bool* waited) {
  std::unique_lock lock(mu_);
  done_locked(*prev.rec_);
  return get_locked(lock, waited);
}

std::size_t workqueue::len() const {
  std::lock_guard lock(mu_);
  promote_locked();
  return queue_.size();
}

std::size_t workqueue::processing() const {
  std::lock_guard lock(mu_);
  return processing_;
}

std::size_t workqueue::waiting() const {
  std::lock_guard lock(mu_);
  promote_locked();
  return waiting_count_;
}

void workqueue::shut_down() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    while (!delayed_.empty()) {
      record& r = *delayed_.top().rec;
      delayed_.pop();
      --r.heap_refs;
      r.waiting = false;
    }
    waiting_count_ = 0;
  }
  cv_.notify_all();
}

void workqueue::shut_down_with_drain() {
  shut_down();
  std::unique_lock lock(mu_);
  draining_ = true;
  drain_cv_.wait(lock, [&] { return processing_ == 0 && queue_.empty(); });
}

bool workqueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

}  // namespace operant::controller
