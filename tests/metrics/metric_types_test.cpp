// Counter, gauge, histogram, summary, info and bucket helpers: exact values and errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "operant/metrics/family.h"
#include "operant/metrics/registry.h"
#include "operant/metrics/snapshot.h"

namespace om = operant::metrics;

namespace {

om::metric_opts opts(std::string name) { return {.name = std::move(name), .help = "Help."}; }

TEST(Counter, starts_at_zero_and_counts_whole_and_fractional_increments) {
  om::family<om::counter> f(opts("c_total"));
  om::counter& c = f.labels();
  EXPECT_EQ(c.value(), 0);
  c.inc();
  c.inc();
  c.add(3);
  c.add(0.25);
  c.add(0);
  EXPECT_EQ(c.value(), 5.25);
}

TEST(Counter, rejects_negative_and_nan_amounts_naming_the_value) {
  om::family<om::counter> f(opts("c_total"));
  try {
    f.labels().add(-1);
    FAIL() << "expected error";
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "counter cannot be increased by -1: expected a non-negative amount");
  }
  EXPECT_THROW(f.labels().add(std::numeric_limits<double>::quiet_NaN()), om::error);
  EXPECT_EQ(f.labels().value(), 0);
}

TEST(Counter, accepts_infinity_and_huge_values) {
  om::family<om::counter> f(opts("c_total"));
  f.labels().add(1e300);
  EXPECT_EQ(f.labels().value(), 1e300);
  f.labels().add(std::numeric_limits<double>::infinity());
  EXPECT_EQ(f.labels().value(), std::numeric_limits<double>::infinity());
}

TEST(Counter, whole_increments_stay_exact_beyond_two_to_the_53) {
  om::family<om::counter> f(opts("c_total"));
  f.labels().add(4503599627370496.0);  // 2^52
  f.labels().add(4503599627370496.0);
  f.labels().inc();
  // 2^53 + 1 is not a double; the integer cell holds it exactly, the reading rounds once.
  EXPECT_EQ(f.labels().value(), 9007199254740992.0);
}

TEST(Counter, exemplar_is_kept_with_its_labels_and_value) {
  om::family<om::counter> f(opts("c_total"));
  f.labels().add_with_exemplar(2, {{"trace_id", "abc"}});
  const auto snap = om::snapshot(f);
  ASSERT_EQ(snap.size(), 1u);
  ASSERT_TRUE(snap[0].series[0].ex.has_value());
  EXPECT_EQ(snap[0].series[0].ex->labels, (om::labels{{"trace_id", "abc"}}));
  EXPECT_EQ(snap[0].series[0].ex->value, 2);
  EXPECT_TRUE(snap[0].series[0].ex->has_timestamp);
  EXPECT_EQ(snap[0].series[0].value, 2);
}

TEST(Counter, exemplar_labels_over_128_runes_are_rejected) {
  om::family<om::counter> f(opts("c_total"));
  EXPECT_THROW(f.labels().add_with_exemplar(1, {{"trace_id", std::string(130, 'x')}}), om::error);
  EXPECT_EQ(f.labels().value(), 0);
}

TEST(Gauge, set_inc_dec_add_sub) {
  om::family<om::gauge> f(opts("g"));
  om::gauge& g = f.labels();
  g.set(10);
  g.inc();
  g.dec();
  g.dec();
  g.add(2.5);
  g.sub(0.5);
  EXPECT_EQ(g.value(), 11);
  g.set(-1e-300);
  EXPECT_EQ(g.value(), -1e-300);
  g.set(std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(std::isnan(g.value()));
}

TEST(Gauge, set_to_current_time_uses_unix_seconds_with_fractions) {
  om::family<om::gauge> f(opts("g"));
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  f.labels().set_to_current_time();
  const double after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(f.labels().value(), before);
  EXPECT_LE(f.labels().value(), after);
}

TEST(Histogram, counts_each_value_in_the_first_bucket_whose_bound_is_not_below_it) {
  om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = {1, 2, 5}});
  om::histogram& h = f.labels();
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.9, 5.0, 5.1, 100.0, -3.0}) h.observe(v);
  EXPECT_EQ(h.cumulative_counts(), (std::vector<std::uint64_t>{3, 5, 7, 9}));
  EXPECT_EQ(h.count(), 9u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.5 + 1 + 1.5 + 2 + 4.9 + 5 + 5.1 + 100 - 3);
}

TEST(Histogram, nan_goes_to_the_inf_bucket_and_makes_the_sum_nan) {
  om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = {1}});
  f.labels().observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(f.labels().cumulative_counts(), (std::vector<std::uint64_t>{0, 1}));
  EXPECT_TRUE(std::isnan(f.labels().sum()));
}

TEST(Histogram, default_buckets_are_prometheus_defaults) {
  om::family<om::histogram> f(opts("h_seconds"));
  EXPECT_EQ(f.labels().bounds(),
            (std::vector<double>{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}));
}

TEST(Histogram, many_buckets_use_binary_search_with_the_same_result) {
  om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = om::linear_buckets(0, 1, 200)});
  om::histogram& h = f.labels();
  h.observe(-1);
  h.observe(0);
  h.observe(0.5);
  h.observe(199);
  h.observe(199.5);
  h.observe(std::numeric_limits<double>::quiet_NaN());
  const auto c = h.cumulative_counts();
  ASSERT_EQ(c.size(), 201u);
  EXPECT_EQ(c[0], 2u);    // -1, 0 (le 0)
  EXPECT_EQ(c[1], 3u);    // 0.5 (le 1)
  EXPECT_EQ(c[199], 4u);  // 199
  EXPECT_EQ(c[200], 6u);  // 199.5, NaN
}

TEST(Histogram, trailing_inf_bound_is_implied_and_accepted) {
  om::family<om::histogram> f(
      {.name = "h", .help = "Help.", .buckets = {1, std::numeric_limits<double>::infinity()}});
  EXPECT_EQ(f.labels().bounds(), (std::vector<double>{1}));
}

TEST(Histogram, invalid_buckets_are_rejected_naming_the_bound) {
  try {
    om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = {1, 3, 2}});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(),
                 "histogram h: bucket bounds must be strictly increasing, but 2 at index 2 follows 3");
  }
  EXPECT_THROW(om::family<om::histogram>({.name = "h", .help = "Help.", .buckets = {1, 1}}), om::error);
  EXPECT_THROW(om::family<om::histogram>(
                   {.name = "h", .help = "Help.", .buckets = {std::numeric_limits<double>::quiet_NaN()}}),
               om::error);
  EXPECT_THROW(om::family<om::histogram>({.name = "h", .help = "Help.", .buckets = om::linear_buckets(0, 1, 1023)}),
               om::error);
}

TEST(Histogram, le_label_is_reserved) {
  EXPECT_THROW(om::family<om::histogram>({.name = "h", .help = "Help.", .label_names = {"le"}}), om::error);
}

TEST(Histogram, timer_observes_elapsed_seconds_once) {
  om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = {0.001, 10}});
  {
    auto t = f.labels().time();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double s = t.observe_duration();
    EXPECT_GE(s, 0.005);
    EXPECT_LT(s, 10);
    EXPECT_EQ(t.observe_duration(), 0);
  }
  EXPECT_EQ(f.labels().count(), 1u);
  { auto t = f.labels().time(); }
  EXPECT_EQ(f.labels().count(), 2u);
}

TEST(Histogram, exemplar_is_stored_on_the_observed_bucket) {
  om::family<om::histogram> f({.name = "h", .help = "Help.", .buckets = {1, 2}});
  f.labels().observe_with_exemplar(1.5, {{"trace_id", "t1"}});
  const auto snap = om::snapshot(f);
  const auto& ex = snap[0].series[0].exemplars;
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_FALSE(ex[0].has_value());
  ASSERT_TRUE(ex[1].has_value());
  EXPECT_EQ(ex[1]->value, 1.5);
  EXPECT_EQ(ex[1]->labels, (om::labels{{"trace_id", "t1"}}));
  EXPECT_FALSE(ex[2].has_value());
}

TEST(Buckets, linear_exponential_and_range_helpers) {
  EXPECT_EQ(om::linear_buckets(1, 2, 4), (std::vector<double>{1, 3, 5, 7}));
  EXPECT_EQ(om::exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  const auto r = om::exponential_buckets_range(1, 1000, 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_DOUBLE_EQ(r[0], 1);
  EXPECT_DOUBLE_EQ(r[1], 10);
  EXPECT_DOUBLE_EQ(r[2], 100);
  EXPECT_EQ(r[3], 1000);
  EXPECT_THROW(om::linear_buckets(0, 0, 3), om::error);
  EXPECT_THROW(om::linear_buckets(0, 1, 0), om::error);
  EXPECT_THROW(om::exponential_buckets(0, 2, 3), om::error);
  EXPECT_THROW(om::exponential_buckets(1, 1, 3), om::error);
  EXPECT_THROW(om::exponential_buckets_range(1, 1, 3), om::error);
  EXPECT_THROW(om::exponential_buckets_range(1, 10, 1), om::error);
}

TEST(Summary, counts_and_sums_without_objectives_by_default) {
  om::family<om::summary> f(opts("s"));
  f.labels().observe(1.5);
  f.labels().observe(2.5);
  EXPECT_EQ(f.labels().count(), 2u);
  EXPECT_EQ(f.labels().sum(), 4);
  EXPECT_TRUE(f.labels().quantiles().empty());
}

TEST(Summary, quantiles_are_within_their_rank_error) {
  om::family<om::summary> f({.name = "s", .help = "Help.", .objectives = {{0.99, 0.001}, {0.5, 0.05}}});
  for (int i = 1; i <= 1000; ++i) f.labels().observe(i);
  const auto q = f.labels().quantiles();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].quantile, 0.5);  // sorted by quantile
  EXPECT_NEAR(q[0].value, 500, 50);
  EXPECT_EQ(q[1].quantile, 0.99);
  EXPECT_NEAR(q[1].value, 990, 1);
}

TEST(Summary, empty_window_reports_nan_quantiles) {
  om::family<om::summary> f({.name = "s", .help = "Help.", .objectives = {{0.5, 0.05}}});
  const auto q = f.labels().quantiles();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_TRUE(std::isnan(q[0].value));
}

TEST(Summary, invalid_objectives_and_quantile_label_are_rejected) {
  EXPECT_THROW(om::family<om::summary>({.name = "s", .help = "Help.", .objectives = {{1.5, 0.01}}}), om::error);
  EXPECT_THROW(om::family<om::summary>({.name = "s", .help = "Help.", .objectives = {{0.5, -1}}}), om::error);
  EXPECT_THROW(om::family<om::summary>({.name = "s", .help = "Help.", .objectives = {{0.5, 0.1}, {0.5, 0.2}}}),
               om::error);
  EXPECT_THROW(om::family<om::summary>({.name = "s", .help = "Help.", .label_names = {"quantile"}}), om::error);
}

TEST(Options, type_specific_fields_on_another_type_are_errors) {
  try {
    om::family<om::counter> f({.name = "c_total", .help = "Help.", .buckets = {1}});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "metric \"c_total\" is a counter; buckets apply to histograms only");
  }
  EXPECT_THROW(om::family<om::gauge>({.name = "g", .help = "Help.", .objectives = {{0.5, 0.1}}}), om::error);
}

TEST(Options, help_is_required_and_names_are_validated) {
  try {
    om::family<om::counter> f({.name = "c_total"});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "metric \"c_total\" has no help text; help is required");
  }
  try {
    om::family<om::counter> f({.name = "1bad", .help = "Help."});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "invalid metric name \"1bad\": expected [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  EXPECT_THROW(om::family<om::counter>({.name = "c", .help = "H.", .label_names = {"__x"}}), om::error);
  EXPECT_THROW(om::family<om::counter>({.name = "c", .help = "H.", .label_names = {"a", "a"}}), om::error);
  EXPECT_THROW(om::family<om::counter>({.name = "c", .help = "H.", .label_names = {"a-b"}}), om::error);
  EXPECT_THROW(om::family<om::counter>({.name = "c", .help = "H.", .const_labels = {{"a", "\xff"}}}), om::error);
}

TEST(Options, namespace_and_subsystem_are_joined) {
  om::family<om::counter> f({.ns = "kooper", .subsystem = "controller", .name = "x_total", .help = "H."});
  EXPECT_EQ(f.desc().name, "kooper_controller_x_total");
}

TEST(Options, unit_must_end_the_name) {
  EXPECT_NO_THROW(om::family<om::counter>({.name = "d_seconds_total", .help = "H.", .unit = "seconds"}));
  EXPECT_NO_THROW(om::family<om::gauge>({.name = "size_bytes", .help = "H.", .unit = "bytes"}));
  try {
    om::family<om::gauge> f({.name = "size", .help = "H.", .unit = "bytes"});
    FAIL();
  } catch (const om::error& e) {
    EXPECT_STREQ(e.what(), "unit \"bytes\" of metric \"size\": expected the name to end in \"_bytes\"");
  }
}

TEST(Info, series_value_is_one_and_name_takes_no_info_suffix) {
  om::family<om::info> f({.name = "build", .help = "H.", .label_names = {"version"}});
  f.labels("1.2.3");
  const auto snap = om::snapshot(f);
  ASSERT_EQ(snap[0].series.size(), 1u);
  EXPECT_EQ(snap[0].series[0].values, (std::vector<std::string>{"1.2.3"}));
  EXPECT_EQ(snap[0].series[0].value, 1);
  EXPECT_THROW(om::family<om::info>({.name = "build_info", .help = "H."}), om::error);
}

}  // namespace
