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
