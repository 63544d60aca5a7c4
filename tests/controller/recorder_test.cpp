// The Prometheus recorder: names, labels, series at zero from the start, and the exact value of
// every family after a scripted sequence of events (read through operant::metrics::testutil).
#include <gtest/gtest.h>

#include "operant/controller.h"
#include "operant/metrics/testutil.h"
#include "test_util.h"

namespace operant::controller {
namespace {

using namespace std::chrono_literals;
using operant::metrics::testutil::gather_and_compare;
using operant::metrics::testutil::gather_and_count;
using operant::metrics::testutil::gather_and_lint;
using operant::metrics::testutil::sample_value;
using testing::eventually;
using testing::latch_gate;
using testing::make_object;
using testing::recording_handler;
using testing::runner;
using testing::zero_rate_limiter;
namespace m = operant::metrics;

m::labels ct(std::string_view controller, std::string_view type) {
  return {{"controller", std::string(controller)}, {"type", std::string(type)}};
}
m::labels c(std::string_view controller) { return {{"controller", std::string(controller)}}; }

struct recorder_fixture : ::testing::Test {
  m::registry reg;
  std::shared_ptr<prometheus_recorder> rec = std::make_shared<prometheus_recorder>(reg, "test");
  std::shared_ptr<memory_retriever> store = std::make_shared<memory_retriever>();
  std::shared_ptr<fake_clock> clk = std::make_shared<fake_clock>();

  config make(std::shared_ptr<handler> h, std::string name = "ctl") {
    return config{.name = std::move(name),
                  .handler = std::move(h),
                  .retriever = store,
                  .resync_interval = 0ms,
                  .logger = std::make_shared<nop_logger>(),
                  .recorder = rec,
                  .rate_limiter = std::make_shared<zero_rate_limiter>(),
                  .clock = clk};
  }
  double v(std::string_view sample, const m::labels& l) { return sample_value(reg, sample, l); }
};

const std::vector<std::string> all_families = {
    "test_controller_queued_events_total",
    "test_controller_processed_events_total",
    "test_controller_processed_event_errors_total",
    "test_controller_processed_event_duration_seconds",
    "test_workqueue_depth",
    "test_workqueue_queue_duration_seconds",
    "test_workqueue_retries_total",
    "test_workqueue_unfinished_work_seconds",
    "test_workqueue_longest_running_processor_seconds",
    "test_controller_active_workers",
    "test_controller_max_concurrent_reconciles"};

TEST_F(recorder_fixture, every_series_exists_at_zero_once_the_controller_is_constructed) {
  EXPECT_EQ(gather_and_count(reg, all_families), 0u);
  controller ctl(make(std::make_shared<nop_handler>()));
  // queued: 3 types; processed, errors, duration: add and delete; 7 one-series families.
  EXPECT_EQ(gather_and_count(reg, all_families), 3u + 2u + 2u + 2u + 7u);
  EXPECT_EQ(gather_and_compare(reg, R"(
# HELP test_controller_queued_events_total Total number of events queued: add (add, update, resync), delete, and requeue (a failed key queued again for a retry).
# TYPE test_controller_queued_events_total counter
test_controller_queued_events_total{controller="ctl",type="add"} 0
test_controller_queued_events_total{controller="ctl",type="delete"} 0
test_controller_queued_events_total{controller="ctl",type="requeue"} 0
# HELP test_controller_processed_event_errors_total Total number of events whose processing failed (also those that will be retried).
# TYPE test_controller_processed_event_errors_total counter
test_controller_processed_event_errors_total{controller="ctl",type="add"} 0
test_controller_processed_event_errors_total{controller="ctl",type="delete"} 0
# HELP test_controller_max_concurrent_reconciles Number of workers configured.
# TYPE test_controller_max_concurrent_reconciles gauge
test_controller_max_concurrent_reconciles{controller="ctl"} 1
# HELP test_workqueue_depth Current number of keys queued and ready, per controller.
# TYPE test_workqueue_depth gauge
test_workqueue_depth{controller="ctl"} 0
)", {"test_controller_queued_events_total", "test_controller_processed_event_errors_total",
     "test_controller_max_concurrent_reconciles", "test_workqueue_depth"}),
            "");
  for (const char* t : {"add", "delete"}) {
    EXPECT_EQ(v("test_controller_processed_events_total", ct("ctl", t)), 0);
    EXPECT_EQ(v("test_controller_processed_event_duration_seconds_count", ct("ctl", t)), 0);
    EXPECT_EQ(v("test_controller_processed_event_duration_seconds_sum", ct("ctl", t)), 0);
  }
  EXPECT_EQ(v("test_workqueue_queue_duration_seconds_count", c("ctl")), 0);
  EXPECT_EQ(v("test_workqueue_retries_total", c("ctl")), 0);
  EXPECT_EQ(v("test_workqueue_unfinished_work_seconds", c("ctl")), 0);
  EXPECT_EQ(v("test_workqueue_longest_running_processor_seconds", c("ctl")), 0);
  EXPECT_EQ(v("test_controller_active_workers", c("ctl")), 0);
  EXPECT_TRUE(gather_and_lint(reg).empty());
}

TEST_F(recorder_fixture, exact_values_after_a_scripted_sequence) {
  store->add(make_object("default", "a"));
  store->add(make_object("default", "b"));
  // Every handler call takes exactly 20ms of fake time. "b" fails on its first attempt (call 1).
  auto h = std::make_shared<recording_handler>(clk, [&](std::size_t i, const context&) {
    clk->advance(20ms);
    return i == 1 ? status::failure("b is not ready") : status::success();
  });
  controller ctl(make(h));
  runner r(ctl);
  ASSERT_TRUE(h->wait_calls(3));          // a, b (fails), b (retry succeeds)
  store->remove("default/a");             // delete a
  ASSERT_TRUE(h->wait_calls(4));
  store->update(make_object("default", "b", "2"));  // update b
  ASSERT_TRUE(h->wait_calls(5));
  r.stop();  // everything recorded once run() has returned

  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_TRUE(calls[3].deleted);

  EXPECT_EQ(v("test_controller_queued_events_total", ct("ctl", "add")), 3);      // list a, b; update b
  EXPECT_EQ(v("test_controller_queued_events_total", ct("ctl", "delete")), 1);   // remove a
  EXPECT_EQ(v("test_controller_queued_events_total", ct("ctl", "requeue")), 1);  // b's retry
  EXPECT_EQ(v("test_controller_processed_events_total", ct("ctl", "add")), 4);
  EXPECT_EQ(v("test_controller_processed_events_total", ct("ctl", "delete")), 1);
  EXPECT_EQ(v("test_controller_processed_event_errors_total", ct("ctl", "add")), 1);
  EXPECT_EQ(v("test_controller_processed_event_errors_total", ct("ctl", "delete")), 0);
  EXPECT_EQ(v("test_controller_processed_event_duration_seconds_count", ct("ctl", "add")), 4);
  EXPECT_DOUBLE_EQ(v("test_controller_processed_event_duration_seconds_sum", ct("ctl", "add")), 0.08);
  EXPECT_EQ(v("test_controller_processed_event_duration_seconds_count", ct("ctl", "delete")), 1);
  EXPECT_DOUBLE_EQ(v("test_controller_processed_event_duration_seconds_sum", ct("ctl", "delete")), 0.02);
  auto bucket = [&](const char* type, const char* le) {
    m::labels l = ct("ctl", type);
    l.push_back({"le", le});
    return v("test_controller_processed_event_duration_seconds_bucket", l);
  };
  EXPECT_EQ(bucket("add", "0.01"), 0);
  EXPECT_EQ(bucket("add", "0.025"), 4);
  EXPECT_EQ(bucket("delete", "0.025"), 1);
  EXPECT_EQ(bucket("add", "+Inf"), 4);
  EXPECT_EQ(v("test_workqueue_queue_duration_seconds_count", c("ctl")), 5);  // one per dequeue
  EXPECT_EQ(v("test_workqueue_retries_total", c("ctl")), 1);
  EXPECT_EQ(v("test_workqueue_depth", c("ctl")), 0);
  EXPECT_EQ(v("test_workqueue_unfinished_work_seconds", c("ctl")), 0);
  EXPECT_EQ(v("test_workqueue_longest_running_processor_seconds", c("ctl")), 0);
  EXPECT_EQ(v("test_controller_active_workers", c("ctl")), 0);
  EXPECT_EQ(v("test_controller_max_concurrent_reconciles", c("ctl")), 1);
  EXPECT_TRUE(gather_and_lint(reg).empty());
}

TEST_F(recorder_fixture, gauges_show_depth_and_work_in_progress_at_scrape_time) {
  for (const char* n : {"a", "b", "c", "d", "e"}) store->add(make_object("default", n));
  latch_gate gate;
  auto h = std::make_shared<recording_handler>(clk, [&](std::size_t i, const context&) {
    if (i < 2) gate.wait();
    return status::success();
  });
  auto cfg = make(h);
  cfg.workers = 2;
  controller ctl(cfg);
  runner r(ctl);
  ASSERT_TRUE(h->wait_calls(2));
  ASSERT_TRUE(eventually([&] { return ctl.stats().depth == 3; }));
  clk->advance(2s);
  EXPECT_EQ(v("test_workqueue_depth", c("ctl")), 3);
  EXPECT_EQ(v("test_controller_active_workers", c("ctl")), 2);
  EXPECT_EQ(v("test_controller_max_concurrent_reconciles", c("ctl")), 2);
  EXPECT_EQ(v("test_workqueue_unfinished_work_seconds", c("ctl")), 4);
  EXPECT_EQ(v("test_workqueue_longest_running_processor_seconds", c("ctl")), 2);
  gate.open();
  ASSERT_TRUE(h->wait_calls(5));
  r.stop();
  EXPECT_EQ(v("test_workqueue_depth", c("ctl")), 0);
  EXPECT_EQ(v("test_controller_active_workers", c("ctl")), 0);
  // Two calls waited 2s; the other three took no fake time.
  EXPECT_EQ(v("test_controller_processed_event_duration_seconds_sum", ct("ctl", "add")), 4);
}

TEST_F(recorder_fixture, two_controllers_share_the_families_with_their_own_series) {
  controller one(make(std::make_shared<nop_handler>(), "one"));
  controller two(make(std::make_shared<nop_handler>(), "two"));
  EXPECT_EQ(v("test_controller_queued_events_total", ct("one", "add")), 0);
  EXPECT_EQ(v("test_controller_queued_events_total", ct("two", "requeue")), 0);
  EXPECT_EQ(gather_and_count(reg, {"test_workqueue_depth"}), 2u);
}

TEST_F(recorder_fixture, a_controller_name_is_bound_once_at_a_time) {
  {
    controller first(make(std::make_shared<nop_handler>(), "same"));
    try {
      controller second(make(std::make_shared<nop_handler>(), "same"));
      FAIL() << "second controller with the same name was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"same\" is already bound"), std::string::npos) << e.what();
    }
  }
  controller again(make(std::make_shared<nop_handler>(), "same"));  // free again
  EXPECT_EQ(gather_and_count(reg, {"test_workqueue_depth"}), 1u);
}

TEST(prometheus_recorder, registration_conflicts_and_bad_prefixes_throw) {
  m::registry reg;
  {
    prometheus_recorder a(reg, "dup");
    EXPECT_THROW(prometheus_recorder(reg, "dup"), std::invalid_argument);
    prometheus_recorder other(reg, "other");  // a different prefix coexists
  }
  prometheus_recorder again(reg, "dup");  // destroying a recorder unregisters its families
  EXPECT_THROW(prometheus_recorder(reg, "1abc"), std::invalid_argument);
  EXPECT_THROW(prometheus_recorder(reg, "my-operator"), std::invalid_argument);
  EXPECT_THROW(prometheus_recorder(reg, "x", {.processing_buckets = {1, 0.5}}), std::invalid_argument);
}

TEST(prometheus_recorder, prefix_kooper_gives_kooper_names) {
  m::registry reg;
  auto rec = std::make_shared<prometheus_recorder>(reg, "kooper");
  controller ctl({.name = "pods", .handler = std::make_shared<nop_handler>(),
                  .retriever = std::make_shared<memory_retriever>(), .recorder = rec});
  const m::labels add{{"controller", "pods"}, {"type", "add"}};
  EXPECT_EQ(sample_value(reg, "kooper_controller_queued_events_total", add), 0);
  EXPECT_EQ(sample_value(reg, "kooper_controller_processed_events_total", add), 0);
  EXPECT_EQ(sample_value(reg, "kooper_controller_processed_event_errors_total", add), 0);
  EXPECT_EQ(sample_value(reg, "kooper_controller_processed_event_duration_seconds_count", add), 0);
}

TEST(prometheus_recorder, empty_prefix_and_custom_buckets) {
  m::registry reg;
  auto rec = std::make_shared<prometheus_recorder>(
      reg, "", prometheus_recorder_options{.processing_buckets = {0.1, 1}, .in_queue_buckets = {1}});
  controller ctl({.name = "x", .handler = std::make_shared<nop_handler>(),
                  .retriever = std::make_shared<memory_retriever>(), .recorder = rec});
  m::labels l{{"controller", "x"}, {"type", "add"}, {"le", "0.1"}};
  EXPECT_EQ(sample_value(reg, "controller_processed_event_duration_seconds_bucket", l), 0);
  EXPECT_EQ(sample_value(reg, "workqueue_queue_duration_seconds_bucket", {{"controller", "x"}, {"le", "1"}}), 0);
  EXPECT_THROW(sample_value(reg, "controller_processed_event_duration_seconds_bucket",
                            {{"controller", "x"}, {"type", "add"}, {"le", "0.005"}}),
               m::error);
}

class no_stats final : public controller_stats {
 public:
  controller_stats_snapshot stats() const override { return {}; }
};

// Durations arrive as whole nanoseconds and are kept as such: bucket edges are exact and sums do
// not drift (ten 0.1 s observations summed as doubles give 0.9999999999999999).
TEST(prometheus_recorder, durations_fall_in_exact_buckets_and_sum_exactly) {
  m::registry reg;
  prometheus_recorder rec(reg, "t");
  no_stats stats;
  auto sink = rec.bind("c", stats);
  for (int i = 0; i < 10; ++i) sink->processed(event_type::add, false, 100ms);
  sink->processed(event_type::delete_, false, 5ms);       // on the bound: le="0.005"
  sink->processed(event_type::delete_, true, 5ms + 1ns);  // one nanosecond above: le="0.01"
  sink->dequeued(10ns);                                   // on controller-runtime's first bound, 1e-08
  sink->dequeued(11ns);
  sink->dequeued(-5ns);  // a negative duration counts as 0
  auto bucket = [&](std::string_view family, m::labels l, std::string le) {
    l.push_back({"le", std::move(le)});
    return sample_value(reg, std::string(family) + "_bucket", l);
  };
  const std::string d = "t_controller_processed_event_duration_seconds";
  EXPECT_EQ(sample_value(reg, d + "_sum", ct("c", "add")), 1.0);
  EXPECT_EQ(sample_value(reg, d + "_count", ct("c", "add")), 10);
  EXPECT_EQ(bucket(d, ct("c", "add"), "0.05"), 0);
  EXPECT_EQ(bucket(d, ct("c", "add"), "0.1"), 10);
  EXPECT_EQ(bucket(d, ct("c", "delete"), "0.005"), 1);
  EXPECT_EQ(bucket(d, ct("c", "delete"), "0.01"), 2);
  EXPECT_EQ(sample_value(reg, d + "_sum", ct("c", "delete")), 0.010000001);
  EXPECT_EQ(sample_value(reg, "t_controller_processed_events_total", ct("c", "delete")), 2);
  EXPECT_EQ(sample_value(reg, "t_controller_processed_event_errors_total", ct("c", "delete")), 1);
  const std::string q = "t_workqueue_queue_duration_seconds";
  EXPECT_EQ(bucket(q, c("c"), "1e-08"), 2);
  EXPECT_EQ(bucket(q, c("c"), "1e-07"), 3);
  EXPECT_EQ(sample_value(reg, q + "_sum", c("c")), 21e-9);
  EXPECT_TRUE(gather_and_lint(reg).empty());
}

// A controller bound again under a name used before continues that name's counters, as series of
// a family would: a restarted controller does not reset its totals.
TEST(prometheus_recorder, a_name_bound_again_continues_its_series) {
  m::registry reg;
  prometheus_recorder rec(reg, "t");
  no_stats stats;
  rec.bind("c", stats)->queued(event_type::requeue, 3);
  auto again = rec.bind("c", stats);
  again->queued(event_type::requeue, 1);
  EXPECT_EQ(sample_value(reg, "t_controller_queued_events_total", ct("c", "requeue")), 4);
  EXPECT_EQ(sample_value(reg, "t_workqueue_retries_total", c("c")), 4);
}

// Every series of a controller lives in one block of at most 1024 cells; buckets beyond that are
// refused with the numbers, not silently cut.
TEST(prometheus_recorder, too_many_buckets_are_refused_with_the_counts) {
  m::registry reg;
  std::vector<double> many;
  for (int i = 1; i <= 600; ++i) many.push_back(i);
  try {
    prometheus_recorder rec(reg, "t", {.processing_buckets = many});
    FAIL() << "600 processing buckets were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("12 in-queue and 600 processing buckets need 1223 cells"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(gather_and_count(reg, {}), 0u);  // nothing was left registered
  many.resize(300);  // 5 + 14 + 2 * 302 = 623 cells: fine
  prometheus_recorder rec(reg, "t", {.processing_buckets = many});
}

TEST(prometheus_recorder, default_registry_overload) {
  {
    auto rec = std::make_shared<prometheus_recorder>("operant_ctl_test");
    controller ctl({.name = "d", .handler = std::make_shared<nop_handler>(),
                    .retriever = std::make_shared<memory_retriever>(), .recorder = rec});
    EXPECT_EQ(sample_value(m::default_registry(), "operant_ctl_test_workqueue_depth", {{"controller", "d"}}), 0);
  }
  EXPECT_EQ(gather_and_count(m::default_registry(), {"operant_ctl_test_workqueue_depth"}), 0u);
}

TEST(nop_recorder, records_nothing_and_the_controller_runs) {
  auto store = std::make_shared<memory_retriever>();
  store->add(make_object("default", "a"));
  auto h = std::make_shared<recording_handler>();
  controller ctl({.name = "n", .handler = h, .retriever = store, .logger = std::make_shared<nop_logger>(),
                  .recorder = std::make_shared<nop_recorder>()});
  runner r(ctl);
  ASSERT_TRUE(h->wait_calls(1));
  r.stop();
}

}  // namespace
}  // namespace operant::controller
