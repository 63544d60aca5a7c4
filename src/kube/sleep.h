// Internal: an interruptible sleep, shared by the reflector and the leader elector.
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace operant::kube::detail {

// Sleeps for `d` or until `stop` is requested; false when stopped.
inline bool sleep_for(std::chrono::milliseconds d, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace operant::kube::detail
