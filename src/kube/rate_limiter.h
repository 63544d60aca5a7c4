// Internal: client-go's client-side rate limiter (flowcontrol.NewTokenBucketRateLimiter): a
// bucket of `burst` tokens refilled at `qps` per second; each request takes one, waiting for it
// when the bucket is empty. qps < 0 disables limiting.
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace operant::kube::detail {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  token_bucket(double qps, int burst)
      : qps_(qps),
        burst_(std::max(burst, 1)),
        tokens_(static_cast<double>(burst_)),
        last_(clock::now()) {}

  // Takes a token, waiting until one is available or `stop` is requested. Returns the seconds
  // waited. Waiters are served in the order the tokens were reserved (a reservation is taken
  // at once, possibly making the count negative, as golang.org/x/time/rate does).
  double wait(const std::stop_token& stop) {
    if (qps_ < 0) return 0;
    std::unique_lock lock(mu_);
    const auto now = clock::now();
    refill(now);
    tokens_ -= 1;
    if (tokens_ >= 0) return 0;
    const auto until = now + std::chrono::duration_cast<clock::duration>(
                                 std::chrono::duration<double>(-tokens_ / qps_));
    cv_.wait_until(lock, stop, until, [] { return false; });
    if (stop.stop_requested() && clock::now() < until) tokens_ += 1;  // give the reservation back
    return std::chrono::duration<double>(clock::now() - now).count();
  }

 private:
  void refill(clock::time_point now) {
    tokens_ = std::min(static_cast<double>(burst_),
                       tokens_ + std::chrono::duration<double>(now - last_).count() * qps_);
    last_ = now;
  }

  double qps_;
  int burst_;
  double tokens_;
  clock::time_point last_;
  std::mutex mu_;
  std::condition_variable_any cv_;
};

}  // namespace operant::kube::detail
