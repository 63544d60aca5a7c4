#include "operant/metrics/detail/quantiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "operant/metrics/types.h"

namespace {

using operant::metrics::detail::objective;
using operant::metrics::detail::quantile_window;
using clock_type = quantile_window::clock;
using namespace std::chrono_literals;

const clock_type::time_point t0 = clock_type::time_point{} + 1h;
constexpr clock_type::duration default_max_age = 10min;  // client_golang's DefMaxAge
constexpr unsigned default_age_buckets = 5;              // DefAgeBuckets
constexpr std::size_t default_buffer_cap = 500;          // DefBufCap

std::vector<objective> standard_objectives() { return {{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}}; }

quantile_window make_window(std::vector<objective> objectives = standard_objectives(),
                            std::size_t buffer_cap = default_buffer_cap,
                            unsigned age_buckets = default_age_buckets) {
  return quantile_window(std::move(objectives), default_max_age, age_buckets, buffer_cap, t0);
}

std::vector<double> query_all(quantile_window& w, clock_type::time_point now) {
  std::vector<double> out(w.objective_count());
  w.query(now, out);
  return out;
}

// Checks that `v` is an element of `sorted` whose rank (1-based; any position among equal values)
// is within e·n + 1 of q·n.
testing::AssertionResult within_rank_error(const std::vector<double>& sorted, double v,
                                           objective o) {
  const auto lo_it = std::lower_bound(sorted.begin(), sorted.end(), v);
  const auto hi_it = std::upper_bound(sorted.begin(), sorted.end(), v);
  if (lo_it == hi_it) return testing::AssertionFailure() << v << " was never observed";
  const double n = static_cast<double>(sorted.size());
  const double lo = static_cast<double>(lo_it - sorted.begin() + 1);
  const double hi = static_cast<double>(hi_it - sorted.begin());
  const double target = o.quantile * n;
  const double distance = target < lo ? lo - target : (target > hi ? target - hi : 0.0);
  const double allowed = o.error * n + 1;
  if (distance <= allowed) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "q=" << o.quantile << " e=" << o.error << " n=" << n << ": value " << v
         << " has ranks [" << lo << ", " << hi << "], " << distance << " from target " << target
         << ", allowed " << allowed;
}

// Observes `values` in order at t0 and checks every standard objective against the exact data.
void expect_accurate(const std::vector<double>& values, std::size_t buffer_cap = default_buffer_cap,
                     unsigned age_buckets = default_age_buckets) {
  quantile_window w = make_window(standard_objectives(), buffer_cap, age_buckets);
  for (double v : values) w.observe(v, t0);
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const std::vector<double> got = query_all(w, t0 + 1s);
  const std::vector<objective> objectives = standard_objectives();
  for (std::size_t i = 0; i < objectives.size(); ++i) {
    EXPECT_TRUE(within_rank_error(sorted, got[i], objectives[i]));
  }
}

std::vector<double> sequence(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

TEST(quantile_window, estimates_within_rank_error_for_uniform_data) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> dist(0.0, 1000.0);
  std::vector<double> values(100'000);
  for (double& v : values) v = dist(rng);
  expect_accurate(values);
}

TEST(quantile_window, estimates_within_rank_error_for_exponential_data) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> dist(1.5);
  std::vector<double> values(100'000);
  for (double& v : values) v = dist(rng);
  expect_accurate(values);
}

TEST(quantile_window, estimates_within_rank_error_for_sorted_data) {
  expect_accurate(sequence(100'000));
}

TEST(quantile_window, estimates_within_rank_error_for_reverse_sorted_data) {
  std::vector<double> values = sequence(100'000);
  std::reverse(values.begin(), values.end());
  expect_accurate(values);
}

TEST(quantile_window, estimates_within_rank_error_for_data_with_many_duplicates) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> dist(0, 20);
  std::vector<double> values(100'000);
  for (double& v : values) v = dist(rng);
  expect_accurate(values);
}

TEST(quantile_window, estimates_within_rank_error_with_small_buffers) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> values(20'000);
  for (double& v : values) v = dist(rng);
  for (std::size_t cap : {1U, 2U, 7U, 64U}) {
    SCOPED_TRACE("buffer_cap " + std::to_string(cap));
    expect_accurate(values, cap, 1);
  }
}

TEST(quantile_window, estimates_within_rank_error_while_the_window_grows) {
  // Queries between observations flush partial buffers; every intermediate size must be right.
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(0.0, 2.0);
  quantile_window w = make_window();
  std::vector<double> seen;
  const std::vector<objective> objectives = standard_objectives();
  for (std::size_t n = 1; n <= 30'000; ++n) {
    const double v = dist(rng);
    w.observe(v, t0);
    seen.insert(std::upper_bound(seen.begin(), seen.end(), v), v);
    if (n < 50 || n % 997 == 0) {
      const std::vector<double> got = query_all(w, t0);
      for (std::size_t i = 0; i < objectives.size(); ++i) {
        ASSERT_TRUE(within_rank_error(seen, got[i], objectives[i])) << "after " << n;
      }
    }
  }
}

TEST(quantile_window, zero_error_objective_is_exact) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  quantile_window w = make_window({{0.25, 0.0}, {0.5, 0.0}});
  std::vector<double> values(5'000);
  for (double& v : values) {
    v = dist(rng);
    w.observe(v, t0);
  }
  std::sort(values.begin(), values.end());
  const std::vector<double> got = query_all(w, t0);
  // Rank q·n exactly (1-based), i.e. index q·n − 1.
  EXPECT_EQ(got[0], values[1'249]);
  EXPECT_EQ(got[1], values[2'499]);
}

TEST(quantile_window, extreme_objectives_return_exact_minimum_and_maximum) {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> dist(0.0, 100.0);
  quantile_window w = make_window({{0.0, 0.01}, {0.5, 0.05}, {1.0, 0.01}});
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (int i = 0; i < 100'000; ++i) {
    const double v = dist(rng);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    w.observe(v, t0);
  }
  const std::vector<double> got = query_all(w, t0);
  EXPECT_EQ(got[0], lo);
  EXPECT_EQ(got[2], hi);
  EXPECT_LT(std::abs(got[1]), 20.0);  // median of N(0, 100) within ±5% rank: about ±12.5
}

TEST(quantile_window, only_extreme_objectives_still_track_minimum_and_maximum) {
  quantile_window w = make_window({{0.0, 0.0}, {1.0, 0.0}});
  for (double v : sequence(10'000)) w.observe(v, t0);
  EXPECT_EQ(query_all(w, t0), (std::vector<double>{0.0, 9'999.0}));
}

TEST(quantile_window, empty_window_yields_nan) {
  quantile_window w = make_window();
  ASSERT_EQ(w.objective_count(), 3U);
  for (double v : query_all(w, t0)) EXPECT_TRUE(std::isnan(v));
  for (double v : query_all(w, t0 + 1h)) EXPECT_TRUE(std::isnan(v));
}

TEST(quantile_window, no_objectives_is_allowed) {
  quantile_window w = make_window({});
  EXPECT_EQ(w.objective_count(), 0U);
  w.observe(1.0, t0);
  w.query(t0, {});
}

TEST(quantile_window, single_value_is_every_quantile) {
  quantile_window w = make_window({{0.0, 0.01}, {0.5, 0.05}, {0.99, 0.001}, {1.0, 0.0}});
  w.observe(-3.25, t0);
  EXPECT_EQ(query_all(w, t0), (std::vector<double>(4, -3.25)));
}

TEST(quantile_window, identical_values_yield_that_value) {
  quantile_window w = make_window();
  for (int i = 0; i < 50'000; ++i) w.observe(0.125, t0);
  EXPECT_EQ(query_all(w, t0), (std::vector<double>(3, 0.125)));
}

TEST(quantile_window, nan_observations_are_ignored) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  quantile_window only_nan = make_window();
  for (int i = 0; i < 1'000; ++i) only_nan.observe(nan, t0);
  for (double v : query_all(only_nan, t0)) EXPECT_TRUE(std::isnan(v));

  quantile_window mixed = make_window();
  quantile_window clean = make_window();
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  for (int i = 0; i < 20'000; ++i) {
    const double v = dist(rng);
    mixed.observe(v, t0);
    mixed.observe(nan, t0);
    clean.observe(v, t0);
  }
  // NaN never even enters the buffer: both windows flush at the same points and hold the same
  // streams, so their estimates are identical.
  const std::vector<double> a = query_all(mixed, t0);
  for (double v : a) EXPECT_FALSE(std::isnan(v));
  EXPECT_EQ(query_all(clean, t0), a);
}

TEST(quantile_window, infinities_are_ordinary_values) {
  const double inf = std::numeric_limits<double>::infinity();
  quantile_window w = make_window({{0.0, 0.0}, {0.5, 0.05}, {1.0, 0.0}});
  w.observe(inf, t0);
  w.observe(-inf, t0);
  for (double v : sequence(999)) w.observe(v, t0);
  const std::vector<double> got = query_all(w, t0);
  EXPECT_EQ(got[0], -inf);
  EXPECT_EQ(got[2], inf);
  EXPECT_NEAR(got[1], 499.0, 51.0);

  quantile_window all_inf = make_window();
  for (int i = 0; i < 1'000; ++i) all_inf.observe(inf, t0);
  EXPECT_EQ(query_all(all_inf, t0), (std::vector<double>(3, inf)));
}

TEST(quantile_window, observations_expire_after_max_age) {
  quantile_window w = make_window();
  w.observe(1.0, t0);
  w.observe(2.0, t0);
  // Observed in the very first slot, they stay for all of max_age ...
  EXPECT_FALSE(std::isnan(query_all(w, t0 + default_max_age)[0]));
  // ... and not a tick longer.
  for (double v : query_all(w, t0 + default_max_age + clock_type::duration(1))) {
    EXPECT_TRUE(std::isnan(v));
  }
}

TEST(quantile_window, buffered_observations_expire_even_if_never_flushed) {
  quantile_window w = make_window({{0.0, 0.0}, {1.0, 0.0}});
  w.observe(1.0, t0);                             // sits in the buffer
  w.observe(2.0, t0 + default_max_age + 1s);      // flushes 1.0, which is already too old
  EXPECT_EQ(query_all(w, t0 + default_max_age + 2s), (std::vector<double>{2.0, 2.0}));
}

TEST(quantile_window, old_observations_drop_out_while_recent_ones_remain) {
  // 10 min in 5 buckets: the head rotates every 2 min, at t0 + 2, 4, 6, ... min.
  quantile_window w = make_window({{0.0, 0.0}, {0.5, 0.05}, {1.0, 0.0}});
  for (int i = 0; i < 100; ++i) w.observe(1.0, t0 + 10s);
  for (int i = 0; i < 100; ++i) w.observe(100.0, t0 + 5min);

  // At 9 min both groups are in the head.
  std::vector<double> got = query_all(w, t0 + 9min);
  EXPECT_EQ(got[0], 1.0);
  EXPECT_EQ(got[2], 100.0);

  // Just after 10 min the first slot's observations are gone; the later ones remain.
  got = query_all(w, t0 + 10min + 1s);
  EXPECT_EQ(got, (std::vector<double>{100.0, 100.0, 100.0}));
  // They were observed in the slot ending at 6 min and stay until 6 + 8 = 14 min.
  got = query_all(w, t0 + 14min);
  EXPECT_EQ(got, (std::vector<double>{100.0, 100.0, 100.0}));
  for (double v : query_all(w, t0 + 14min + 1s)) EXPECT_TRUE(std::isnan(v));
}

TEST(quantile_window, window_slides_over_a_continuous_stream) {
  // One observation per second whose value is its time in seconds: a query at time T must see
  // exactly the values of (T − window, T] for a window between max_age − 2 min and max_age.
  quantile_window w = make_window({{0.0, 0.0}, {1.0, 0.0}});
  for (int s = 0; s < 3'600; ++s) {
    const clock_type::time_point now = t0 + std::chrono::seconds(s);
    w.observe(static_cast<double>(s), now);
    if (s % 37 == 0) {
      const std::vector<double> got = query_all(w, now);
      EXPECT_EQ(got[1], static_cast<double>(s));
      const double age = static_cast<double>(s) - got[0];
      EXPECT_GE(age, std::min(static_cast<double>(s), 480.0)) << "at " << s;
      EXPECT_LE(age, 600.0) << "at " << s;
    }
  }
}

TEST(quantile_window, long_idle_period_empties_the_window_which_then_recovers) {
  quantile_window w = make_window();
  w.observe(5.0, t0);
  // Tens of millions of rotation periods: must finish at once and leave every stream empty.
  const clock_type::time_point later = t0 + 24h * 365 * 100;
  for (double v : query_all(w, later)) EXPECT_TRUE(std::isnan(v));
  w.observe(7.0, later + 1s);
  EXPECT_EQ(query_all(w, later + 2s), (std::vector<double>(3, 7.0)));
  // And the rotation phase is still sound afterwards.
  for (double v : query_all(w, later + 1s + default_max_age + 2min)) EXPECT_TRUE(std::isnan(v));
}

TEST(quantile_window, time_going_backwards_changes_nothing) {
  quantile_window w = make_window({{0.0, 0.0}, {1.0, 0.0}});
  w.observe(1.0, t0 + 3min);
  w.observe(3.0, t0 + 1min);  // a racing observer with an older clock reading
  EXPECT_EQ(query_all(w, t0), (std::vector<double>{1.0, 3.0}));
  EXPECT_EQ(query_all(w, t0 + 4min), (std::vector<double>{1.0, 3.0}));
}

TEST(quantile_window, concurrent_observers_lose_no_observations) {
  constexpr int threads = 4;
  constexpr int per_thread = 25'000;
  quantile_window w = make_window();
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::vector<double> out(w.objective_count());
    while (!done.load()) w.query(t0, out);
  });
  std::vector<std::thread> writers;
  for (int k = 0; k < threads; ++k) {
    writers.emplace_back([&w, k] {
      // Thread k owns the values [k·25000, (k+1)·25000): a lost thread or batch shifts the ranks.
      for (int i = 0; i < per_thread; ++i) w.observe(static_cast<double>(k * per_thread + i), t0);
    });
  }
  for (std::thread& t : writers) t.join();
  done = true;
  reader.join();

  const std::vector<double> sorted = sequence(threads * per_thread);
  const std::vector<double> got = query_all(w, t0);
  const std::vector<objective> objectives = standard_objectives();
  for (std::size_t i = 0; i < objectives.size(); ++i) {
    EXPECT_TRUE(within_rank_error(sorted, got[i], objectives[i]));
  }
}

TEST(quantile_window, invalid_configuration_throws) {
  using operant::metrics::error;
  const auto make = [](std::vector<objective> o, clock_type::duration max_age, unsigned buckets,
                       std::size_t cap) { quantile_window w(std::move(o), max_age, buckets, cap, t0); };
  EXPECT_THROW(make({{1.5, 0.01}}, 10min, 5, 500), error);
  EXPECT_THROW(make({{0.5, -0.01}}, 10min, 5, 500), error);
  EXPECT_THROW(make({{std::nan(""), 0.01}}, 10min, 5, 500), error);
  EXPECT_THROW(make({{0.9, 0.01}, {0.5, 0.05}}, 10min, 5, 500), error);
  EXPECT_THROW(make(standard_objectives(), 10min, 0, 500), error);
  EXPECT_THROW(make(standard_objectives(), 10min, 5, 0), error);
  EXPECT_THROW(make(standard_objectives(), 0min, 5, 500), error);
  EXPECT_THROW(make(standard_objectives(), -1min, 5, 500), error);
  EXPECT_THROW(make(standard_objectives(), clock_type::duration(4), 5, 500), error);
  EXPECT_NO_THROW(make(standard_objectives(), clock_type::duration(5), 5, 1));
  EXPECT_NO_THROW(make({{0.0, 0.0}, {0.5, 1.0}, {0.5, 0.1}, {1.0, 1.0}}, 1s, 1, 1));
}

TEST(quantile_window, query_with_wrong_output_size_throws) {
  quantile_window w = make_window();
  w.observe(1.0, t0);
  std::vector<double> out(2, 42.0);
  EXPECT_THROW(w.query(t0, out), operant::metrics::error);
  EXPECT_EQ(out, (std::vector<double>(2, 42.0)));
  out.resize(4);
  EXPECT_THROW(w.query(t0, out), operant::metrics::error);
}

}  // namespace
