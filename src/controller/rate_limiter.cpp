#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "operant/controller/workqueue.h"

namespace operant::controller {

exponential_rate_limiter::exponential_rate_limiter(clock::duration base, clock::duration max_delay)
    : base_(base), max_(max_delay) {
  if (base <= clock::duration::zero() || max_delay < base) {
    throw std::invalid_argument("exponential_rate_limiter: need 0 < base <= max_delay, got base " +
                                std::to_string(base.count()) + "ns, max_delay " +
                                std::to_string(max_delay.count()) + "ns");
  }
}

clock::duration exponential_rate_limiter::when(std::string_view, unsigned failures,
                                               clock::time_point) {
  // As client-go: computed in floating point so that large exponents saturate at max_delay.
  const double backoff = static_cast<double>(base_.count()) * std::ldexp(1.0, static_cast<int>(std::min(failures, 1100u)));
  if (!(backoff < static_cast<double>(max_.count()))) return max_;
  return clock::duration(static_cast<clock::duration::rep>(backoff));
}

bucket_rate_limiter::bucket_rate_limiter(double qps, unsigned burst)
    : qps_(qps), burst_(burst), tokens_(burst) {
  if (!(qps > 0) || burst < 1) {
    throw std::invalid_argument("bucket_rate_limiter: need qps > 0 and burst >= 1, got qps " +
                                std::to_string(qps) + ", burst " + std::to_string(burst));
  }
}

clock::duration bucket_rate_limiter::when(std::string_view, unsigned, clock::time_point now) {
  // golang.org/x/time/rate's Reserve().Delay(): refill since the last call, take one token, and
  // wait until the balance is back to zero.
  std::lock_guard lock(mu_);
  if (started_ && now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  }
  if (!started_ || now > last_) last_ = now;
  started_ = true;
  tokens_ -= 1;
  if (tokens_ >= 0) return clock::duration::zero();
  return std::chrono::round<clock::duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

max_of_rate_limiter::max_of_rate_limiter(std::vector<std::unique_ptr<rate_limiter>> limiters)
    : limiters_(std::move(limiters)) {
  if (limiters_.empty()) throw std::invalid_argument("max_of_rate_limiter: no limiters");
  for (const auto& l : limiters_) {
    if (!l) throw std::invalid_argument("max_of_rate_limiter: a limiter is null");
  }
}

clock::duration max_of_rate_limiter::when(std::string_view key, unsigned failures,
                                          clock::time_point now) {
  clock::duration d = clock::duration::zero();
  for (auto& l : limiters_) d = std::max(d, l->when(key, failures, now));
  return d;
}

std::unique_ptr<rate_limiter> default_controller_rate_limiter() {
  std::vector<std::unique_ptr<rate_limiter>> v;
  v.push_back(std::make_unique<exponential_rate_limiter>(std::chrono::milliseconds(5),
                                                         std::chrono::seconds(1000)));
  v.push_back(std::make_unique<bucket_rate_limiter>(10.0, 100));
  return std::make_unique<max_of_rate_limiter>(std::move(v));
}

}  // namespace operant::controller
