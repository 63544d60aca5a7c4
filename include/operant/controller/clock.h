// operant/controller/clock.h — where the workqueue and the controller read the time.
//
// Backoff delays, the token bucket, resync and the time-based metrics all read a clock. The
// system clock is std::chrono::steady_clock; fake_clock is a clock that moves only when a test
// calls advance(), so a test can pin a 5 ms backoff or a 30 s resync without sleeping.
//
//   auto clk = std::make_shared<operant::controller::fake_clock>();
//   operant::controller::workqueue q({.clock = clk});
//   q.add_rate_limited("a");        // first failure: ready in 5 ms
//   clk->advance(std::chrono::milliseconds(5));
//   q.len();                        // 1
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace operant::controller {

class clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock() = default;
  // The current time. Monotonic.
  virtual time_point now() const noexcept = 0;
  // Waits on `cv`, whose mutex `lock` holds, until notified or until now() >= deadline. May
  // return early (spuriously); callers re-check their condition and the time.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          time_point deadline) const = 0;
  // Registers `wake` to be called after time jumps in a way a waiter of wait_until cannot notice
  // by itself (fake_clock::advance). Returns an id for unsubscribe(). `wake` must not call back
  // into the clock. The system clock never calls it.
  virtual std::uint64_t subscribe(std::function<void()> wake) = 0;
  // Removes a subscription; once it returns, `wake` is not running and will not be called.
  virtual void unsubscribe(std::uint64_t id) = 0;
  // The time for measuring a duration (time in queue, processing time), not for scheduling: by
  // default now(). system_clock answers from the CPU's time-stamp counter where that is safe,
  // which is 2-3x cheaper than now(). Stamps track now() to within microseconds and never run
  // backwards on one thread, but stamps from two threads may be a few nanoseconds out of order:
  // clamp a difference of two stamps at zero.
  virtual time_point stamp() const noexcept { return now(); }
};

// std::chrono::steady_clock.
//
// stamp() reads the time-stamp counter (rdtsc) when the CPU's counter is invariant and Linux
// itself keeps time with it (clocksource "tsc", which also means it is synchronised across CPUs),
// and converts it with a rate measured against steady_clock: 1 ms of calibration on the first
// stamp() in the process, then refined about once a second by slewing (the stamp never jumps).
// Elsewhere stamp() is now(). tsc_stamps() says which one is in use.
class system_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  time_point stamp() const noexcept override;
  static bool tsc_stamps() noexcept;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override {
    cv.wait_until(lock, deadline);
  }
  std::uint64_t subscribe(std::function<void()>) override { return 0; }
  void unsubscribe(std::uint64_t) override {}
};

// The process-wide system clock (shared; never destroyed).
std::shared_ptr<clock> default_clock();

// A clock that stands still until advance() or set() moves it. Starts at an arbitrary fixed
// point (one hour after the steady_clock epoch). Thread-safe.
class fake_clock final : public clock {
 public:
  fake_clock() = default;
  time_point now() const noexcept override { return time_point(duration(now_.load())); }
  // Waits on cv until notified; advance() notifies every subscriber, so waiters re-check.
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override;
  std::uint64_t subscribe(std::function<void()> wake) override;
  void unsubscribe(std::uint64_t id) override;

  // Moves the clock forward by d (>= 0; a negative d throws std::invalid_argument) and wakes
  // every subscriber.
  void advance(duration d);
  // Number of live subscriptions (tests use it to know a component is attached).
  std::size_t subscribers() const;

 private:
  std::atomic<duration::rep> now_{std::chrono::duration_cast<duration>(std::chrono::hours(1)).count()};
  mutable std::mutex mu_;  // subscriptions; held while calling them
  std::uint64_t next_id_ = 1;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> subs_;
};

}  // namespace operant::controller
