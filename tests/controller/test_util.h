// Helpers shared by the controller tests: a handler that records its calls and lets a test wait
// for them on a condition variable, a logger that keeps its entries, a scripted retriever and a
// controller runner.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operant/controller.h"

namespace operant::controller::testing {

// A guard against hangs only: a test that needs longer than this has failed. No test asserts a
// duration.
inline constexpr std::chrono::seconds hang_guard{60};

struct call {
  std::string key;
  std::string resource_version;
  std::string label_v;  // metadata.labels.v of the object handled
  unsigned retries = 0;
  bool deleted = false;
  bool stop_requested = false;
  clock::time_point at{};
};

// Records every call; `behaviour(call_index, ctx)` decides the outcome (default: success).
class recording_handler final : public handler {
 public:
  using behaviour_fn = std::function<status(std::size_t, const context&)>;
  explicit recording_handler(std::shared_ptr<clock> clk = default_clock(), behaviour_fn b = {})
      : clock_(std::move(clk)), behaviour_(std::move(b)) {}

  status handle(const context& ctx, const object& obj) override { return record(ctx, obj, false); }
  status handle_delete(const context& ctx, std::string_view, const object& last) override {
    return record(ctx, last, true);
  }

  // Waits until at least n calls happened; false if the hang guard expired.
  bool wait_calls(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, hang_guard, [&] { return calls_.size() >= n; });
  }
  std::vector<call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  status record(const context& ctx, const object& obj, bool deleted) {
    std::size_t index;
    {
      std::lock_guard lock(mu_);
      index = calls_.size();
      calls_.push_back({std::string(ctx.key()), std::string(obj.resource_version()),
                        std::string(obj.label("v").value_or("")), ctx.retries(), deleted,
                        ctx.stop_requested(), clock_->now()});
    }
    cv_.notify_all();
    return behaviour_ ? behaviour_(index, ctx) : status::success();
  }

  std::shared_ptr<clock> clock_;
  behaviour_fn behaviour_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<call> calls_;
};

struct log_entry {
  log_level level;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string field(std::string_view k) const {
    for (const auto& [key, value] : fields) {
      if (key == k) return value;
    }
    return "<absent>";
  }
};

class capturing_logger final : public logger {
 public:
  bool enabled(log_level) const noexcept override { return true; }
  void log(log_level level, std::string_view message,
           std::span<const log_field> fields) noexcept override {
    log_entry e{level, std::string(message), {}};
    for (const auto& f : fields) e.fields.emplace_back(std::string(f.key), f.value);
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(e));
  }
  std::vector<log_entry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  std::vector<log_entry> with_message(std::string_view m) const {
    std::vector<log_entry> out;
    for (auto& e : entries()) {
      if (e.message == m) out.push_back(e);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<log_entry> entries_;
};

// Retries at once: for tests that count calls rather than delays.
class zero_rate_limiter final : public rate_limiter {
 public:
  clock::duration when(std::string_view, unsigned, clock::time_point) override { return {}; }
};

// Runs a controller on a thread until stop() or destruction.
class runner {
 public:
  explicit runner(controller& c) : thread_([&c](std::stop_token st) { c.run(st); }) {}
  ~runner() { stop(); }
  void request_stop() { thread_.request_stop(); }
  void stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::jthread thread_;
};

// Counts reads of the system clock.
class counting_clock final : public clock {
 public:
  time_point now() const noexcept override {
    reads.fetch_add(1);
    return std::chrono::steady_clock::now();
  }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override {
    cv.wait_until(lock, deadline);
  }
  std::uint64_t subscribe(std::function<void()>) override { return 0; }
  void unsubscribe(std::uint64_t) override {}
  mutable std::atomic<int> reads{0};
};

// A one-shot gate handlers can wait on.
class latch_gate {
 public:
  void open() {
    { std::lock_guard lock(mu_); open_ = true; }
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, hang_guard, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

inline object make_object(std::string_view ns, std::string_view name, std::string_view v = "1") {
  object o;
  o.set_namespace(ns).set_name(name).set_label("v", v);
  return o;
}

// Polls `pred` (for state that has no condition variable to wait on, e.g. a queue's counters);
// false if the hang guard expired. Never used to wait for time to pass.
template <class Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + hang_guard;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace operant::controller::testing
