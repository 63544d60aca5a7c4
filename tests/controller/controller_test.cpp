// The controller's semantics: delivery, retries, backoff, forget, resync, concurrency, deletes,
// shutdown, exceptions and leader election. Time is a fake clock wherever a delay matters.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <thread>

#include "operant/controller.h"
#include "test_util.h"

namespace operant::controller {
namespace {

using namespace std::chrono_literals;
using testing::call;
using testing::capturing_logger;
using testing::counting_clock;
using testing::eventually;
using testing::latch_gate;
using testing::make_object;
using testing::recording_handler;
using testing::runner;
using testing::zero_rate_limiter;

std::string expect_invalid(config cfg) {
  try {
    cfg.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no exception>";
}

config valid_config() {
  return config{.name = "c",
                .handler = std::make_shared<nop_handler>(),
                .retriever = std::make_shared<memory_retriever>()};
}

TEST(config, validate_names_the_bad_field_and_value) {
  auto c = valid_config();
  c.name = "";
  EXPECT_EQ(expect_invalid(c), "controller config: name is required, got \"\"");
  c = valid_config();
  c.handler = nullptr;
  EXPECT_EQ(expect_invalid(c), "controller config: handler is required, got nullptr");
  c = valid_config();
  c.retriever = nullptr;
  EXPECT_EQ(expect_invalid(c), "controller config: retriever is required, got nullptr");
  c = valid_config();
  c.workers = 0;
  EXPECT_EQ(expect_invalid(c), "controller config: workers must be >= 1, got 0");
  c = valid_config();
  c.resync_interval = -5ms;
  EXPECT_EQ(expect_invalid(c),
            "controller config: resync_interval must be >= 0 (0 disables resync), got -5ms");
  c = valid_config();
  c.max_retries = -1;
  EXPECT_EQ(expect_invalid(c), "controller config: max_retries must be >= 0, got -1");
  c = valid_config();
  c.relist_backoff = 0ms;
  EXPECT_EQ(expect_invalid(c), "controller config: relist_backoff must be > 0, got 0ms");
}

TEST(config, validate_fills_defaults) {
  auto c = valid_config();
  c.validate();
  EXPECT_EQ(c.workers, 1);
  EXPECT_EQ(c.resync_interval, 30s);
  EXPECT_EQ(c.max_retries, 3);
  EXPECT_EQ(c.relist_backoff, 1s);
  EXPECT_NE(dynamic_cast<logfmt_logger*>(c.logger.get()), nullptr);
  EXPECT_NE(c.rate_limiter, nullptr);
  EXPECT_EQ(c.clock, default_clock());
  EXPECT_EQ(c.recorder, nullptr);
  EXPECT_EQ(c.leader_elector, nullptr);
}

TEST(constructors, sequential_has_one_worker_and_concurrent_needs_two) {
  auto h = std::make_shared<nop_handler>();
  auto r = std::make_shared<memory_retriever>();
  auto seq = new_sequential("s", 30s, h, r);
  EXPECT_EQ(seq->cfg().workers, 1);
  EXPECT_EQ(seq->cfg().resync_interval, 30s);
  auto conc = new_concurrent(4, "c", 0ms, h, r);
  EXPECT_EQ(conc->cfg().workers, 4);
  EXPECT_EQ(conc->stats().max_workers, 4u);
  EXPECT_THROW(new_concurrent(1, "c", 0ms, h, r), std::invalid_argument);
  EXPECT_THROW(new_sequential("", 0ms, h, r), std::invalid_argument);
}

struct controller_fixture : ::testing::Test {
  std::shared_ptr<memory_retriever> store = std::make_shared<memory_retriever>();
  std::shared_ptr<capturing_logger> log = std::make_shared<capturing_logger>();

  config make(std::shared_ptr<handler> h) {
    return config{.name = "c",
                  .handler = std::move(h),
                  .retriever = store,
                  .resync_interval = 0ms,
                  .logger = log,
                  .rate_limiter = std::make_shared<zero_rate_limiter>()};
  }
};

std::vector<testing::log_entry> handler_failures(const capturing_logger& log) {
  return log.with_message("handler failed");
}

TEST_F(controller_fixture, handles_every_listed_object_then_watched_changes) {
  store->add(make_object("default", "a"));
  store->add(make_object("default", "b"));
  auto h = std::make_shared<recording_handler>();
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(h->wait_calls(2));
  store->update(make_object("default", "a", "2"));
  store->add(object().set_name("cluster-scoped"));
  ASSERT_TRUE(h->wait_calls(4));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].key, "default/a");
  EXPECT_EQ(calls[1].key, "default/b");
  EXPECT_EQ(calls[2].key, "default/a");
  EXPECT_EQ(calls[2].label_v, "2");
  EXPECT_EQ(calls[2].resource_version, "3");
  EXPECT_EQ(calls[3].key, "cluster-scoped");
  for (const call& k : calls) {
    EXPECT_FALSE(k.deleted);
    EXPECT_EQ(k.retries, 0u);
  }
}

TEST_F(controller_fixture, always_failing_key_is_handled_one_plus_max_retries_times) {
  store->add(make_object("default", "a"));
  auto h = std::make_shared<recording_handler>(default_clock(), [](std::size_t, const context& ctx) {
    return ctx.key() == "default/a" ? status::failure("nope") : status::success();
  });
  auto cfg = make(h);
  cfg.max_retries = 3;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(h->wait_calls(4));
  ASSERT_TRUE(eventually([&] { return handler_failures(*log).size() == 4; }));
  // A later key is handled after the dropped one; stopping drains anything still queued, so a
  // fifth call of "a" would be seen below.
  store->add(make_object("default", "b"));
  ASSERT_TRUE(h->wait_calls(5));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 5u);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(calls[i].key, "default/a");
    EXPECT_EQ(calls[i].retries, i);  // ctx.retries(): 0, 1, 2, 3
  }
  EXPECT_EQ(calls[4].key, "default/b");
  const auto logged = handler_failures(*log);
  ASSERT_GE(logged.size(), 4u);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(logged[i].field("key"), "default/a");
    EXPECT_EQ(logged[i].field("controller"), "c");
    EXPECT_EQ(logged[i].field("error"), "nope");
    EXPECT_EQ(logged[i].field("attempt"), std::to_string(i + 1));
    EXPECT_EQ(logged[i].field("requeued"), i < 3 ? "true" : "false");
    EXPECT_EQ(logged[i].level, log_level::error);
  }
}

TEST_F(controller_fixture, zero_retries_handles_a_failing_key_once) {
  store->add(make_object("default", "a"));
  store->add(make_object("default", "b"));
  auto h = std::make_shared<recording_handler>(
      default_clock(), [](std::size_t i, const context&) {
        return i == 0 ? status::failure("x") : status::success();
      });
  auto cfg = make(h);
  cfg.max_retries = 0;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(h->wait_calls(2));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].key, "default/a");
  EXPECT_EQ(calls[1].key, "default/b");
}

TEST_F(controller_fixture, success_forgets_past_failures) {
  store->add(make_object("default", "a"));
  // Calls 0 and 1 fail, 2 succeeds, 3 fails, 4 succeeds.
  auto h = std::make_shared<recording_handler>(default_clock(), [](std::size_t i, const context&) {
    return (i == 0 || i == 1 || i == 3) ? status::failure("x") : status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(h->wait_calls(3));
  store->update(make_object("default", "a", "2"));
  ASSERT_TRUE(h->wait_calls(5));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].retries, 0u);
  EXPECT_EQ(calls[1].retries, 1u);
  EXPECT_EQ(calls[2].retries, 2u);
  EXPECT_EQ(calls[3].retries, 0u);  // Kooper never forgot: it would say 2 here
  EXPECT_EQ(calls[4].retries, 1u);
}

TEST_F(controller_fixture, retries_back_off_5_10_20ms_on_the_fake_clock) {
  auto clk = std::make_shared<fake_clock>();
  store->add(make_object("default", "a"));
  auto h = std::make_shared<recording_handler>(
      clk, [](std::size_t, const context&) { return status::failure("nope"); });
  auto cfg = make(h);
  cfg.clock = clk;
  cfg.rate_limiter = nullptr;  // the default: 5ms doubling, 10 qps bucket
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(h->wait_calls(1));
  for (std::size_t n = 1; n <= 3; ++n) {
    const auto delay = 5ms * (1 << (n - 1));
    ASSERT_TRUE(eventually([&] { return c.stats().waiting == 1; })) << n;
    clk->advance(delay - 1ns);
    EXPECT_EQ(c.stats().waiting, 1u) << n;
    EXPECT_EQ(h->count(), n);
    clk->advance(1ns);
    ASSERT_TRUE(h->wait_calls(n + 1));
    const auto calls = h->calls();
    EXPECT_EQ(calls[n].at - calls[n - 1].at, delay) << n;
  }
  ASSERT_TRUE(eventually([&] { return handler_failures(*log).size() == 4; }));
  EXPECT_EQ(c.stats().waiting, 0u);  // dropped after 3 retries
  r.stop();
  EXPECT_EQ(h->count(), 4u);
}

TEST_F(controller_fixture, resync_requeues_every_key_each_interval) {
  auto clk = std::make_shared<fake_clock>();
  for (const char* n : {"a", "b", "c"}) store->add(make_object("default", n));
  auto h = std::make_shared<recording_handler>(clk);
  auto cfg = make(h);
  cfg.clock = clk;
  cfg.resync_interval = 30s;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(h->wait_calls(3));
  clk->advance(30s - 1ns);
  EXPECT_EQ(h->count(), 3u);
  clk->advance(1ns);
  ASSERT_TRUE(h->wait_calls(6));
  clk->advance(30s);
  ASSERT_TRUE(h->wait_calls(9));
  r.stop();
  std::map<std::string, int> per_key;
  for (const call& k : h->calls()) ++per_key[k.key];
  EXPECT_EQ(per_key, (std::map<std::string, int>{{"default/a", 3}, {"default/b", 3}, {"default/c", 3}}));
}

TEST_F(controller_fixture, delete_delivers_the_last_known_object_and_is_retried) {
  store->add(make_object("default", "a"));
  // The first delete attempt (call 2) fails.
  auto h = std::make_shared<recording_handler>(default_clock(), [](std::size_t i, const context&) {
    return i == 2 ? status::failure("not yet") : status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(h->wait_calls(1));
  store->update(make_object("default", "a", "2"));
  ASSERT_TRUE(h->wait_calls(2));
  store->remove("default/a");
  ASSERT_TRUE(h->wait_calls(4));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 4u);
  for (std::size_t i : {2u, 3u}) {
    EXPECT_TRUE(calls[i].deleted);
    EXPECT_EQ(calls[i].key, "default/a");
    EXPECT_EQ(calls[i].label_v, "2");
    EXPECT_EQ(calls[i].resource_version, "2");
  }
  EXPECT_EQ(calls[3].retries, 1u);
}

TEST_F(controller_fixture, handler_func_without_delete_callback_ignores_deletes) {
  store->add(make_object("default", "a"));
  std::atomic<int> handled{0};
  auto h = make_handler([&](const context&, const object&) {
    ++handled;
    return status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(eventually([&] { return handled.load() == 1; }));
  store->remove("default/a");
  store->add(make_object("default", "b"));
  ASSERT_TRUE(eventually([&] { return handled.load() == 2; }));
  r.stop();
  EXPECT_EQ(handled.load(), 2);
  EXPECT_TRUE(handler_failures(*log).empty());
  EXPECT_THROW(handler_func(nullptr), std::invalid_argument);
}

class scripted_retriever final : public retriever {
 public:
  std::vector<list_result> lists;
  std::atomic<int> list_calls{0};
  std::atomic<bool> fail_first_list{false};

  list_result list(std::stop_token) override {
    const int i = list_calls++;
    if (i == 0 && fail_first_list) throw std::runtime_error("api server unavailable");
    return lists[std::min<std::size_t>(static_cast<std::size_t>(i), lists.size() - 1)];
  }
  void watch(std::string_view, const std::function<void(const watch_event&)>&,
             std::stop_token stop) override {
    std::unique_lock lock(mu_);
    const int generation = end_watches_;
    ++watching_;
    cv_.notify_all();
    cv_.wait(lock, stop, [&] { return end_watches_ != generation; });
    --watching_;
  }
  // Ends the running watch, waiting for one to start first: the handler may see the listed
  // objects before the controller has begun to watch.
  void end_watch() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return watching_ > 0; });
      ++end_watches_;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  int end_watches_ = 0;
  int watching_ = 0;
};

TEST_F(controller_fixture, relist_delivers_deletes_missed_while_not_watching) {
  auto a = std::make_shared<const object>(make_object("default", "a"));
  auto b = std::make_shared<const object>(make_object("default", "b", "7"));
  auto src = std::make_shared<scripted_retriever>();
  src->lists = {{{a, b}, "1"}, {{a}, "2"}};
  auto h = std::make_shared<recording_handler>();
  auto cfg = make(h);
  cfg.retriever = src;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(h->wait_calls(2));
  src->end_watch();  // the stream ends; b was deleted meanwhile
  ASSERT_TRUE(h->wait_calls(4));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[2].key, "default/a");
  EXPECT_FALSE(calls[2].deleted);
  EXPECT_EQ(calls[3].key, "default/b");
  EXPECT_TRUE(calls[3].deleted);
  EXPECT_EQ(calls[3].label_v, "7");
}

TEST_F(controller_fixture, failed_list_is_logged_and_retried_after_the_backoff) {
  auto clk = std::make_shared<fake_clock>();
  auto src = std::make_shared<scripted_retriever>();
  src->lists = {{{std::make_shared<const object>(make_object("default", "a"))}, "1"}};
  src->fail_first_list = true;
  auto h = std::make_shared<recording_handler>(clk);
  auto cfg = make(h);
  cfg.retriever = src;
  cfg.clock = clk;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(eventually([&] { return !log->with_message("list/watch failed; retrying").empty(); }));
  EXPECT_EQ(h->count(), 0u);
  // The retry waits for relist_backoff on the fake clock.
  ASSERT_TRUE(eventually([&] {
    clk->advance(1s);
    return h->count() == 1;
  }));
  r.stop();
  const auto e = log->with_message("list/watch failed; retrying");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].field("error"), "api server unavailable");
  EXPECT_EQ(e[0].field("backoff"), "1000ms");
  EXPECT_EQ(src->list_calls.load(), 2);
}

TEST_F(controller_fixture, throwing_handler_is_caught_logged_with_its_key_counted_and_retried) {
  store->add(make_object("default", "a"));
  auto h = std::make_shared<recording_handler>(default_clock(), [](std::size_t i, const context&) -> status {
    if (i == 0) throw std::runtime_error("boom");
    if (i == 1) throw 42;
    return status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(h->wait_calls(3));
  store->add(make_object("default", "b"));  // the controller is still alive
  ASSERT_TRUE(h->wait_calls(4));
  r.stop();
  const auto calls = h->calls();
  EXPECT_EQ(calls[2].key, "default/a");
  EXPECT_EQ(calls[2].retries, 2u);
  EXPECT_EQ(calls[3].key, "default/b");
  const auto logged = handler_failures(*log);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0].field("key"), "default/a");
  EXPECT_EQ(logged[0].field("error"), "handler threw: boom");
  EXPECT_EQ(logged[0].field("requeued"), "true");
  EXPECT_EQ(logged[1].field("error"), "handler threw a non-standard exception");
}

TEST_F(controller_fixture, one_key_is_never_handled_by_two_workers_at_once) {
  store->add(make_object("default", "a"));
  std::atomic<int> in_flight{0}, overlaps{0};
  std::mutex mu;
  std::string last_seen;
  auto h = make_handler([&](const context&, const object& o) {
    if (in_flight.fetch_add(1) != 0) ++overlaps;
    std::this_thread::yield();
    {
      std::lock_guard lock(mu);
      last_seen = std::string(o.label("v").value_or(""));
    }
    in_flight.fetch_sub(1);
    return status::success();
  });
  auto cfg = make(h);
  cfg.workers = 4;
  controller c(cfg);
  runner r(c);
  for (int i = 2; i <= 500; ++i) store->update(make_object("default", "a", std::to_string(i)));
  // Level-triggered: whatever was coalesced, the last version is handled.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return last_seen == "500";
  }));
  r.stop();
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_F(controller_fixture, different_keys_are_handled_in_parallel_by_two_workers) {
  store->add(make_object("default", "a"));
  store->add(make_object("default", "b"));
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto h = make_handler([&](const context&, const object&) {
    std::unique_lock lock(mu);
    ++started;
    cv.notify_all();
    // Each call returns only once both are inside the handler.
    return cv.wait_for(lock, testing::hang_guard, [&] { return started >= 2; })
               ? status::success()
               : status::failure("not parallel");
  });
  auto cfg = make(h);
  cfg.workers = 2;
  cfg.max_retries = 0;
  controller c(cfg);
  runner r(c);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, testing::hang_guard, [&] { return started >= 2; }));
  }
  r.stop();
  EXPECT_TRUE(handler_failures(*log).empty());
}

TEST_F(controller_fixture, stop_cancels_the_context_and_drains_queued_keys_once) {
  store->add(make_object("default", "a"));
  latch_gate gate;
  std::atomic<bool> saw_cancel{false};
  auto clk = default_clock();
  auto h = std::make_shared<recording_handler>(clk, [&](std::size_t i, const context& ctx) {
    if (i == 0) {
      gate.wait();
      saw_cancel = ctx.stop_requested();
      return status::failure("interrupted");  // not retried: the controller is stopping
    }
    return status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(h->wait_calls(1));
  store->add(make_object("default", "b"));
  store->add(make_object("default", "c"));
  ASSERT_TRUE(eventually([&] { return c.stats().depth == 2; }));
  r.request_stop();
  ASSERT_TRUE(eventually([&] { return store->watchers() == 0; }));
  gate.open();
  r.stop();
  EXPECT_TRUE(saw_cancel.load());
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].key, "default/b");
  EXPECT_EQ(calls[2].key, "default/c");
  EXPECT_TRUE(calls[1].stop_requested);
  EXPECT_TRUE(calls[2].stop_requested);
  const auto logged = handler_failures(*log);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].field("requeued"), "false");
  EXPECT_EQ(logged[0].level, log_level::warning);  // expected while stopping: not an error
  EXPECT_EQ(c.stats().depth, 0u);
}

TEST_F(controller_fixture, handler_waiting_on_its_context_returns_when_stopped) {
  store->add(make_object("default", "a"));
  std::atomic<bool> entered{false};
  auto h = make_handler([&](const context& ctx, const object&) {
    entered = true;
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, ctx.stop_token(), [] { return false; });
    return status::success();
  });
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  EXPECT_EQ(c.stats().active_workers, 1u);
  r.stop();  // returns only because the handler's context was cancelled
  EXPECT_EQ(c.stats().active_workers, 0u);
}

TEST_F(controller_fixture, run_twice_at_once_is_refused) {
  auto h = std::make_shared<recording_handler>();
  controller c(make(h));
  runner r(c);
  ASSERT_TRUE(eventually([&] { return store->watchers() == 1; }));
  EXPECT_THROW(c.run(std::stop_token{}), std::logic_error);
  r.stop();
}

TEST_F(controller_fixture, without_a_recorder_no_clock_is_read) {
  auto clk = std::make_shared<counting_clock>();
  for (int i = 0; i < 100; ++i) store->add(make_object("default", "k" + std::to_string(i)));
  std::atomic<int> n{0};
  auto counting = make_handler([&](const context&, const object&) {
    ++n;
    return status::success();
  });
  auto cfg = make(counting);
  cfg.clock = clk;
  controller c(cfg);
  runner r(c);
  ASSERT_TRUE(eventually([&] { return n.load() == 100; }));
  r.stop();
  EXPECT_EQ(clk->reads.load(), 0);
}

// A leader elector the test drives.
class test_elector final : public leader_elector {
 public:
  void run(std::stop_token stop, const std::function<void(std::stop_token)>& lead) override {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, stop, [&] { return granted_; });
      if (stop.stop_requested()) return;
      std::stop_source term;
      term_ = &term;
      lock.unlock();
      {
        std::stop_callback forward(stop, [&] { term.request_stop(); });
        lead(term.get_token());
      }
      lock.lock();
      term_ = nullptr;
      ++terms_ended_;
      cv_.notify_all();
    }
  }
  void grant() {
    { std::lock_guard lock(mu_); granted_ = true; }
    cv_.notify_all();
  }
  // Revokes leadership and waits until the controller has stopped leading.
  bool revoke() {
    std::unique_lock lock(mu_);
    granted_ = false;
    const int ended = terms_ended_;
    if (term_ != nullptr) term_->request_stop();
    return cv_.wait_for(lock, testing::hang_guard, [&] { return terms_ended_ > ended; });
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool granted_ = false;
  std::stop_source* term_ = nullptr;
  int terms_ended_ = 0;
};

TEST_F(controller_fixture, workers_run_only_while_leading) {
  store->add(make_object("default", "a"));
  store->add(make_object("default", "b"));
  auto elector = std::make_shared<test_elector>();
  latch_gate release;
  std::atomic<bool> in_flight_cancelled{false};
  auto h = std::make_shared<recording_handler>(default_clock(), [&](std::size_t i, const context& ctx) {
    if (i == 1) {  // the second key blocks until leadership is lost
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait(lock, ctx.stop_token(), [] { return false; });
      in_flight_cancelled = ctx.stop_requested();
    }
    return status::success();
  });
  auto cfg = make(h);
  cfg.leader_elector = elector;
  controller c(cfg);
  runner r(c);
  EXPECT_EQ(store->watchers(), 0u);  // not leading: not even watching
  EXPECT_EQ(h->count(), 0u);
  elector->grant();
  ASSERT_TRUE(h->wait_calls(2));
  ASSERT_TRUE(elector->revoke());  // returns once the term's workers have stopped
  EXPECT_TRUE(in_flight_cancelled.load());
  EXPECT_EQ(c.stats().active_workers, 0u);
  EXPECT_EQ(store->watchers(), 0u);
  store->update(make_object("default", "a", "2"));  // nobody handles it while not leading
  EXPECT_EQ(h->count(), 2u);
  elector->grant();  // leading again: lists again and sees the update
  ASSERT_TRUE(h->wait_calls(4));
  r.stop();
  const auto calls = h->calls();
  ASSERT_EQ(calls.size(), 4u);
  std::set<std::string> second_term{calls[2].key + "@" + calls[2].label_v,
                                    calls[3].key + "@" + calls[3].label_v};
  EXPECT_EQ(second_term, (std::set<std::string>{"default/a@2", "default/b@1"}));
}

}  // namespace
}  // namespace operant::controller
