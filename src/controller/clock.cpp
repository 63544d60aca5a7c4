#include "operant/controller/clock.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace operant::controller {

// ---- system_clock::stamp(): the time-stamp counter, calibrated against steady_clock -------------

namespace {

using steady = std::chrono::steady_clock;

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
      .count();
}

#if defined(__x86_64__)

std::uint64_t read_tsc() noexcept { return __rdtsc(); }

__extension__ typedef unsigned __int128
    u128;  // NOLINT(modernize-use-using): __extension__ needs typedef

// True when the counter runs at a constant rate through power states (CPUID 0x80000007 EDX bit 8)
// and the kernel keeps time with it: then it is also synchronised across CPUs, or Linux would
// have switched clocksource.
bool tsc_usable() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000007) return false;
  if (__get_cpuid(0x80000007, &a, &b, &c, &d) == 0 || (d & (1u << 8)) == 0) return false;
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string source;
  return static_cast<bool>(f >> source) && source == "tsc";
}

// ns = anchor_ns + ((tsc - anchor_tsc) * mult) >> 32, published under a sequence lock. A recal
// happens at most once a second, by whichever thread first sees the anchor a second old.
class tsc_converter {
 public:
  tsc_converter() {
    // Initial rate: 1 ms against steady_clock. Each end is a tightly bracketed pair (pair()), so
    // the rate is within ~1e-4 even if the thread is preempted meanwhile; the first
    // recalibration a second later removes that error by slewing.
    const auto [t0, n0] = pair();
    base_tsc_ = t0;
    base_ns_ = n0;
    while (steady_ns() - n0 < 1'000'000) {}
    const auto [t1, n1] = pair();
    const double ns_per_tick = static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0);
    ticks_per_recal_ = static_cast<std::uint64_t>(1e9 / ns_per_tick);
    anchor_tsc_.store(t1, std::memory_order_relaxed);
    anchor_ns_.store(n1, std::memory_order_relaxed);
    mult_.store(static_cast<std::uint64_t>(ns_per_tick * 4294967296.0), std::memory_order_relaxed);
  }

  std::int64_t now_ns() noexcept {
    for (;;) {
      const std::uint32_t s1 = seq_.load(std::memory_order_acquire);
      const std::uint64_t at = anchor_tsc_.load(std::memory_order_relaxed);
      const std::int64_t an = anchor_ns_.load(std::memory_order_relaxed);
      const std::uint64_t mult = mult_.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if ((s1 & 1) != 0 || seq_.load(std::memory_order_relaxed) != s1) continue;
      const std::uint64_t tsc = read_tsc();
      const std::uint64_t delta = tsc > at ? tsc - at : 0;
      if (delta > ticks_per_recal_) [[unlikely]] {
        if (recalibrate(at)) continue;
      }
      const auto scaled = static_cast<u128>(delta) * mult;
      return an + static_cast<std::int64_t>(scaled >> 32);
    }
  }

 private:
  // Slews: keeps the stamp continuous now and sets the rate so that it meets steady_clock
  // a second from now. Returns true if this thread changed the parameters.
  bool recalibrate(std::uint64_t seen_anchor) noexcept {
    std::unique_lock lock(recal_mu_, std::try_to_lock);
    if (!lock.owns_lock() || anchor_tsc_.load(std::memory_order_relaxed) != seen_anchor)
      return false;
    const std::uint64_t at = anchor_tsc_.load(std::memory_order_relaxed);
    const std::int64_t an = anchor_ns_.load(std::memory_order_relaxed);
    const std::uint64_t mult = mult_.load(std::memory_order_relaxed);
    const auto [t, ns] = pair();
    if (t <= at || t <= base_tsc_) return false;
    const std::int64_t cur =
        an + static_cast<std::int64_t>((static_cast<u128>(t - at) * mult) >> 32);
    const double rate = static_cast<double>(ns - base_ns_) / static_cast<double>(t - base_tsc_);
    const double period_ns = rate * static_cast<double>(ticks_per_recal_);
    const double err = static_cast<double>(ns - cur);
    std::int64_t new_anchor_ns = cur;
    double new_rate = rate * (1.0 + err / period_ns);
    if (err > 10e6 || err < -10e6 || new_rate < rate * 0.5 || new_rate > rate * 1.5) {
      new_anchor_ns = ns < cur ? cur : ns;  // far off (e.g. after a suspend): step, never back
      new_rate = rate;
    }
    seq_.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    anchor_tsc_.store(t, std::memory_order_relaxed);
    anchor_ns_.store(new_anchor_ns, std::memory_order_relaxed);
    mult_.store(static_cast<std::uint64_t>(new_rate * 4294967296.0), std::memory_order_relaxed);
    seq_.fetch_add(1, std::memory_order_release);
    return true;
  }

  // A (tsc, steady ns) pair read as close together as possible: steady_clock read between two
  // TSC reads, the best of a few tries (a preemption or interrupt between the reads shows as a
  // wide bracket), the TSC taken at the bracket's middle.
  static std::pair<std::uint64_t, std::int64_t> pair() noexcept {
    std::uint64_t best_width = ~std::uint64_t{0};
    std::pair<std::uint64_t, std::int64_t> best{};
    for (int i = 0; i < 16; ++i) {
      const std::uint64_t a = read_tsc();
      const std::int64_t ns = steady_ns();
      const std::uint64_t b = read_tsc();
      if (b >= a && b - a < best_width) {
        best_width = b - a;
        best = {a + (b - a) / 2, ns};
      }
    }
    return best;
  }

  std::uint64_t base_tsc_ = 0;
  std::int64_t base_ns_ = 0;
  std::uint64_t ticks_per_recal_ = 0;
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<std::uint64_t> anchor_tsc_{0};
  std::atomic<std::int64_t> anchor_ns_{0};
  std::atomic<std::uint64_t> mult_{0};
  std::mutex recal_mu_;
};

tsc_converter* converter() noexcept {
  static tsc_converter* const c = tsc_usable() ? new tsc_converter() : nullptr;  // never freed
  return c;
}

#else

class tsc_converter;
tsc_converter* converter() noexcept { return nullptr; }

#endif

}  // namespace

clock::time_point system_clock::stamp() const noexcept {
#if defined(__x86_64__)
  if (tsc_converter* c = converter()) {
    return time_point(std::chrono::duration_cast<duration>(std::chrono::nanoseconds(c->now_ns())));
  }
#endif
  return now();
}

bool system_clock::tsc_stamps() noexcept { return converter() != nullptr; }

std::shared_ptr<clock> default_clock() {
  static const std::shared_ptr<clock> c = std::make_shared<system_clock>();
  return c;
}

void fake_clock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            time_point deadline) const {
  // advance() stores the new time before it calls the subscribers, and each subscriber takes the
  // waiter's mutex to notify: a waiter that saw the old time is already waiting when notified.
  if (now() >= deadline) return;
  cv.wait(lock);
}

std::uint64_t fake_clock::subscribe(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  subs_.emplace_back(id, std::move(wake));
  return id;
}

void fake_clock::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [id](const auto& s) { return s.first == id; });
}

void fake_clock::advance(duration d) {
  if (d < duration::zero()) {
    throw std::invalid_argument("fake_clock::advance: negative duration " +
                                std::to_string(d.count()) + "ns");
  }
  std::lock_guard lock(mu_);
  now_.fetch_add(d.count());
  for (auto& [id, wake] : subs_) wake();
}

std::size_t fake_clock::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

}  // namespace operant::controller
