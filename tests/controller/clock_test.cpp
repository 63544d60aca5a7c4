// system_clock::stamp(): the cheap time source for durations must agree with steady_clock and
// never run backwards on a thread, whether it comes from the TSC or from now().
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "operant/controller/clock.h"

namespace operant::controller {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::microseconds;

TEST(system_clock, stamp_is_close_to_now) {
  system_clock c;
  for (int i = 0; i < 100; ++i) {
    const auto before = c.now();
    const auto s = c.stamp();
    const auto after = c.now();
    // Calibrated from a 1 ms measurement, then slewed: microseconds apart at worst.
    EXPECT_GT(s, before - 1ms) << "round " << i;
    EXPECT_LT(s, after + 1ms) << "round " << i;
  }
}

TEST(system_clock, stamp_measures_a_sleep_like_steady_clock) {
  system_clock c;
  const auto s0 = c.stamp();
  const auto n0 = c.now();
  std::this_thread::sleep_for(30ms);
  const auto s1 = c.stamp();
  const auto n1 = c.now();
  const auto by_stamp = duration_cast<microseconds>(s1 - s0).count();
  const auto by_now = duration_cast<microseconds>(n1 - n0).count();
  // The same interval, read twice; the rate is right to ~1e-4, the reads ~µs apart.
  EXPECT_NEAR(static_cast<double>(by_stamp), static_cast<double>(by_now), 100.0 + by_now * 1e-3)
      << "TSC stamps in use: " << system_clock::tsc_stamps();
}

TEST(system_clock, stamps_never_run_backwards_on_a_thread) {
  system_clock c;
  // Long enough to cross a recalibration (about once a second) on every thread.
  const auto until = c.now() + 1200ms;
  auto run = [&] {
    auto last = c.stamp();
    std::size_t backwards = 0;
    while (c.now() < until) {
      for (int i = 0; i < 1000; ++i) {
        const auto s = c.stamp();
        if (s < last) ++backwards;
        last = s;
      }
    }
    return backwards;
  };
  std::size_t other = 0;
  std::thread t([&] { other = run(); });
  const std::size_t mine = run();
  t.join();
  EXPECT_EQ(mine, 0u);
  EXPECT_EQ(other, 0u);
}

TEST(fake_clock, stamp_is_now) {
  fake_clock c;
  EXPECT_EQ(c.stamp(), c.now());
  c.advance(5ms);
  EXPECT_EQ(c.stamp(), c.now());
}

}  // namespace
}  // namespace operant::controller
