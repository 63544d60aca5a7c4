// operant/controller/workqueue.h — client-go's rate-limited workqueue, keyed by strings.
//
// The queue a controller's workers take keys from, with client-go's semantics
// (util/workqueue):
//   - A key is queued once however many times it is added while it waits (the `dirty` set).
//   - A key being processed (between get() and done()) is not handed to another worker; added
//     meanwhile, it is queued again when done() is called.
//   - add_after() delays an add; add_rate_limited() delays it by the rate limiter's verdict for
//     the key's failure count and counts one more failure; forget() clears the count.
//   - shut_down(): adds are ignored from then on, delayed keys are dropped, get() keeps handing
//     out the keys already queued and returns an empty item once none is left.
//     shut_down_with_drain() also waits until every key handed out is done().
//
//   operant::controller::workqueue q;
//   q.add("default/a");
//   for (auto item = q.get(); item; item = q.done_and_get(item)) {
//     if (process(item.key())) q.forget(item); else q.add_rate_limited(item.key());
//   }
//
// Every operation takes one mutex for a few dozen instructions; an idle worker blocks on a
// condition variable and is woken only when there is a key for it. Per-key state lives in one
// record allocated when the key is first seen and kept while it keeps coming back; records of
// idle keys are dropped in bulk when their number doubles (amortised O(1), bounded memory).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "operant/controller/clock.h"

namespace operant::controller {

// Decides how long a failed key waits before it is retried (client-go's RateLimiter, with the
// per-key failure count kept by the queue and passed in).
class rate_limiter {
 public:
  virtual ~rate_limiter() = default;
  // The delay for a key that has failed `failures` times before this failure. Called under the
  // queue's lock; must be fast and must not call back into the queue.
  virtual clock::duration when(std::string_view key, unsigned failures, clock::time_point now) = 0;
};

// base * 2^failures, capped at max_delay (client-go's ItemExponentialFailureRateLimiter).
class exponential_rate_limiter final : public rate_limiter {
 public:
  // Throws std::invalid_argument unless 0 < base <= max_delay.
  exponential_rate_limiter(clock::duration base, clock::duration max_delay);
  clock::duration when(std::string_view key, unsigned failures, clock::time_point now) override;

 private:
  clock::duration base_, max_;
};

// One token bucket for all keys (client-go's BucketRateLimiter over golang.org/x/time/rate):
// `qps` tokens a second, at most `burst` stored, starting full; each call takes a token and
// returns how long until that token exists.
class bucket_rate_limiter final : public rate_limiter {
 public:
  // Throws std::invalid_argument unless qps > 0 and burst >= 1.
  bucket_rate_limiter(double qps, unsigned burst);
  clock::duration when(std::string_view key, unsigned failures, clock::time_point now) override;

 private:
  std::mutex mu_;
  double qps_, burst_, tokens_;
  clock::time_point last_{};
  bool started_ = false;
};

// The longest delay of several limiters (client-go's MaxOfRateLimiter); every limiter is asked.
class max_of_rate_limiter final : public rate_limiter {
 public:
  explicit max_of_rate_limiter(std::vector<std::unique_ptr<rate_limiter>> limiters);
  clock::duration when(std::string_view key, unsigned failures, clock::time_point now) override;

 private:
  std::vector<std::unique_ptr<rate_limiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: max(exponential 5 ms .. 1000 s per key, bucket 10 qps
// burst 100 overall).
std::unique_ptr<rate_limiter> default_controller_rate_limiter();

struct workqueue_options {
  // Time for delays, the token bucket and time-in-queue. nullptr: default_clock().
  std::shared_ptr<operant::controller::clock> clock = nullptr;
  // nullptr: default_controller_rate_limiter().
  std::shared_ptr<rate_limiter> limiter = nullptr;
  // Stamp each key with the time it was queued (clock::stamp()), readable as item::queued_at()
  // (one clock read per add or per batch). Default false: the time is not read.
  bool track_queue_time = false;
};

class workqueue {
  struct record;

 public:
  // A key handed out by get(): valid (and its key() readable) until done() is called with it.
  class item {
   public:
    item() noexcept = default;
    explicit operator bool() const noexcept { return rec_ != nullptr; }
    inline std::string_view key() const noexcept;
    // When the key was queued, as clock::stamp() (only with track_queue_time; otherwise the
    // epoch).
    inline clock::time_point queued_at() const noexcept;
    // Failures counted for this key so far (num_requeues).
    inline unsigned failures() const noexcept;

   private:
    friend class workqueue;
    // queued_at is copied under the queue's lock: a new event for the key while it is being
    // processed writes the record's timestamp again.
    item(record* r, clock::time_point queued_at) noexcept : rec_(r), queued_at_(queued_at) {}
    record* rec_ = nullptr;
    clock::time_point queued_at_{};
  };

  explicit workqueue(workqueue_options opts = {});
  ~workqueue();  // shuts down; no thread may still be inside a call
  workqueue(const workqueue&) = delete;
  workqueue& operator=(const workqueue&) = delete;

  // Queues `key` unless it is already queued; ignored after shut_down().
  void add(std::string_view key);
  // add() for each key, under one lock acquisition (a list or a resync queues many at once).
  void add_all(std::span<const std::string_view> keys);
  // Queues `key` once `delay` has passed (at once if delay <= 0). A key already waiting keeps the
  // earlier of its two ready times.
  void add_after(std::string_view key, clock::duration delay);
  // add_after(key, limiter.when(key, failures)) and counts one more failure.
  void add_rate_limited(std::string_view key);
  // Clears the key's failure count (call after success). Cheap when it is already 0.
  void forget(std::string_view key);
  void forget(const item& it);
  // The key's failure count (client-go's NumRequeues).
  unsigned num_requeues(std::string_view key) const;

  // Blocks until a key is queued, then hands it out (marking it processing). Returns an empty
  // item once shut down and no key is left.
  item get();
  // Marks the key processed; if it was added meanwhile it is queued again.
  void done(item it);
  // done(prev) and get() under one lock acquisition: what a worker loop calls. If `waited` is
  // given, it is set to whether the call had to wait for a key (a worker that did not wait can
  // reuse the time it read when it finished the previous key).
  item done_and_get(item prev, bool* waited = nullptr);

  // Keys queued and ready (not those processing or waiting for a delay).
  std::size_t len() const;
  // Keys between get() and done().
  std::size_t processing() const;
  // Keys waiting for their delay to pass.
  std::size_t waiting() const;

  void shut_down();
  void shut_down_with_drain();
  bool shutting_down() const;

 private:
  struct record {
    const std::string* key = nullptr;  // the map's key
    clock::time_point queued_at{};
    clock::time_point ready_at{};      // valid while waiting
    std::atomic<unsigned> failures{0};  // written under mu_, read without it by forget(item)
    unsigned heap_refs = 0;             // entries in delayed_ pointing here
    bool dirty = false;
    bool processing = false;
    bool waiting = false;
  };
  struct delayed_entry {
    clock::time_point ready;
    std::uint64_t seq;
    record* rec;
    bool operator>(const delayed_entry& o) const noexcept {
      return ready != o.ready ? ready > o.ready : seq > o.seq;
    }
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  record& record_locked(std::string_view key);
  // const: the queue it pushes to is mutable. `now` is read lazily, once per call of the caller.
  void add_locked(record& r, clock::time_point& stamp) const;
  void add_after_locked(record& r, clock::duration delay);
  bool promote_locked() const;  // moves ready delayed keys to the queue; true if any
  item get_locked(std::unique_lock<std::mutex>& lock, bool* waited);
  void done_locked(record& r);
  void maybe_sweep_locked();
  static bool idle(const record& r) noexcept {
    return !r.dirty && !r.processing && !r.waiting && r.heap_refs == 0 &&
           r.failures.load(std::memory_order_relaxed) == 0;
  }

  std::shared_ptr<operant::controller::clock> clock_;
  std::shared_ptr<rate_limiter> limiter_;
  bool track_time_;
  std::uint64_t subscription_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;        // getters wait here
  std::condition_variable drain_cv_;  // shut_down_with_drain waits here
  mutable std::unordered_map<std::string, record, string_hash, std::equal_to<>> records_;
  mutable std::deque<record*> queue_;
  mutable std::priority_queue<delayed_entry, std::vector<delayed_entry>, std::greater<>> delayed_;
  mutable std::size_t waiting_count_ = 0;
  std::uint64_t seq_ = 0;
  std::size_t processing_ = 0;
  std::size_t getters_waiting_ = 0;
  std::size_t sweep_above_ = 1024;  // records_ size that triggers the next sweep
  bool shutting_down_ = false;
  bool draining_ = false;
};

// Inline: a worker reads them for every key.
std::string_view workqueue::item::key() const noexcept { return *rec_->key; }
clock::time_point workqueue::item::queued_at() const noexcept { return queued_at_; }
unsigned workqueue::item::failures() const noexcept {
  return rec_->failures.load(std::memory_order_relaxed);
}

}  // namespace operant::controller
