// The workqueue's client-go semantics, pinned with a fake clock: no test sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "operant/controller/workqueue.h"
#include "test_util.h"

namespace operant::controller {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

struct fixture : ::testing::Test {
  std::shared_ptr<fake_clock> clk = std::make_shared<fake_clock>();
  workqueue q{{.clock = clk}};

  std::string take() {
    auto it = q.get();
    if (!it) return "<shutdown>";
    std::string k(it.key());
    q.done(it);
    return k;
  }
};

TEST_F(fixture, key_added_many_times_while_waiting_is_queued_once) {
  q.add("a");
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(take(), "b");
  EXPECT_EQ(q.len(), 0u);
}

TEST_F(fixture, key_being_processed_is_not_handed_out_and_is_requeued_at_done) {
  q.add("a");
  auto it = q.get();
  ASSERT_TRUE(it);
  EXPECT_EQ(it.key(), "a");
  q.add("a");
  q.add("a");
  EXPECT_EQ(q.len(), 0u);  // not queued while processing
  EXPECT_EQ(q.processing(), 1u);
  q.done(it);
  EXPECT_EQ(q.len(), 1u);  // queued again, once
  EXPECT_EQ(q.processing(), 0u);
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(q.len(), 0u);
}

TEST_F(fixture, done_without_changes_does_not_requeue) {
  q.add("a");
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.processing(), 0u);
}

TEST_F(fixture, keys_come_out_in_fifo_order) {
  for (const char* k : {"c", "a", "b"}) q.add(k);
  EXPECT_EQ(take(), "c");
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(take(), "b");
}

TEST_F(fixture, add_after_waits_for_the_delay) {
  q.add_after("a", 10ms);
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.waiting(), 1u);
  clk->advance(10ms - 1ns);
  EXPECT_EQ(q.len(), 0u);
  clk->advance(1ns);
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(take(), "a");
}

TEST_F(fixture, add_after_with_zero_delay_adds_at_once) {
  q.add_after("a", 0ns);
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.waiting(), 0u);
}

TEST_F(fixture, waiting_key_keeps_the_earlier_ready_time) {
  q.add_after("a", 10ms);
  q.add_after("a", 5ms);   // earlier: wins
  q.add_after("b", 5ms);
  q.add_after("b", 10ms);  // later: ignored
  EXPECT_EQ(q.waiting(), 2u);
  clk->advance(5ms);
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(take(), "b");
  clk->advance(10ms);  // the superseded entry of "a" does not add it again
  EXPECT_EQ(q.len(), 0u);
}

TEST_F(fixture, rate_limited_requeues_back_off_exponentially_from_5ms) {
  // client-go's default controller limiter: 5ms, 10ms, 20ms, 40ms, 80ms for one key.
  for (int n = 0; n < 5; ++n) {
    const auto delay = 5ms * (1 << n);
    EXPECT_EQ(q.num_requeues("a"), static_cast<unsigned>(n));
    q.add_rate_limited("a");
    EXPECT_EQ(q.num_requeues("a"), static_cast<unsigned>(n + 1));
    clk->advance(delay - 1ns);
    EXPECT_EQ(q.len(), 0u) << "failure " << n;
    clk->advance(1ns);
    EXPECT_EQ(q.len(), 1u) << "failure " << n;
    EXPECT_EQ(take(), "a");
  }
}

TEST_F(fixture, forget_resets_the_backoff) {
  q.add_rate_limited("a");
  q.add_rate_limited("a");
  q.add_rate_limited("a");
  EXPECT_EQ(q.num_requeues("a"), 3u);
  q.forget("a");
  EXPECT_EQ(q.num_requeues("a"), 0u);
  clk->advance(5ms);  // the first delay of "a" (5ms) has passed; its later ones were earlier-wins
  EXPECT_EQ(take(), "a");
  q.add_rate_limited("a");  // back to the first delay
  clk->advance(5ms - 1ns);
  EXPECT_EQ(q.len(), 0u);
  clk->advance(1ns);
  EXPECT_EQ(q.len(), 1u);
}

TEST_F(fixture, forget_through_an_item_clears_the_count) {
  q.add_rate_limited("a");
  clk->advance(5ms);
  auto it = q.get();
  ASSERT_TRUE(it);
  EXPECT_EQ(it.failures(), 1u);
  q.forget(it);
  EXPECT_EQ(it.failures(), 0u);
  q.done(it);
  EXPECT_EQ(q.num_requeues("a"), 0u);
}

TEST_F(fixture, overall_bucket_limits_retries_after_a_burst_of_100) {
  // 100 distinct keys fail once: within the burst, each waits its own 5ms.
  for (int i = 0; i < 100; ++i) q.add_rate_limited("k" + std::to_string(i));
  clk->advance(5ms);
  EXPECT_EQ(q.len(), 100u);
  // The bucket is empty: the 101st retry waits for a token, 100ms at 10/s (minus the 5ms that
  // passed, refilled as 0.05 of a token).
  q.add_rate_limited("x");
  clk->advance(95ms - 1ns);
  EXPECT_EQ(q.len(), 100u);
  clk->advance(1ns);
  EXPECT_EQ(q.len(), 101u);
}

TEST_F(fixture, track_queue_time_stamps_the_first_add) {
  workqueue timed({.clock = clk, .track_queue_time = true});
  const auto t0 = clk->now();
  timed.add("a");
  clk->advance(3ms);
  timed.add("a");  // already queued: keeps t0
  auto it = timed.get();
  ASSERT_TRUE(it);
  EXPECT_EQ(it.queued_at(), t0);
  timed.done(it);
}

TEST_F(fixture, shut_down_drains_queued_keys_then_returns_empty) {
  q.add("a");
  q.add("b");
  q.shut_down();
  EXPECT_TRUE(q.shutting_down());
  q.add("c");  // ignored
  q.add_rate_limited("d");
  EXPECT_EQ(take(), "a");
  EXPECT_EQ(take(), "b");
  EXPECT_FALSE(q.get());
  EXPECT_FALSE(q.get());
}

TEST_F(fixture, shut_down_drops_delayed_keys) {
  q.add_after("a", 1s);
  q.shut_down();
  EXPECT_EQ(q.waiting(), 0u);
  clk->advance(1s);
  EXPECT_EQ(q.len(), 0u);
  EXPECT_FALSE(q.get());
}

TEST_F(fixture, blocked_get_is_woken_by_add_and_by_shut_down) {
  std::string got;
  std::thread t([&] { got = take(); });
  q.add("a");
  t.join();
  EXPECT_EQ(got, "a");

  bool empty = false;
  std::thread t2([&] { empty = !q.get(); });
  q.shut_down();
  t2.join();
  EXPECT_TRUE(empty);
}

TEST_F(fixture, blocked_get_is_woken_when_the_fake_clock_reaches_a_delayed_key) {
  std::string got;
  q.add_after("a", 5ms);
  std::thread t([&] { got = take(); });
  clk->advance(5ms);
  t.join();
  EXPECT_EQ(got, "a");
}

TEST_F(fixture, shut_down_with_drain_waits_for_keys_in_progress) {
  q.add("a");
  auto it = q.get();
  std::atomic<bool> returned{false};
  std::thread t([&] {
    q.shut_down_with_drain();
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return q.shutting_down(); }));
  EXPECT_FALSE(returned.load());
  q.done(it);
  t.join();
  EXPECT_TRUE(returned.load());
}

TEST_F(fixture, many_distinct_keys_reuse_and_release_records) {
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5000; ++i) q.add("key-" + std::to_string(i));
    EXPECT_EQ(q.len(), 5000u);
    for (int i = 0; i < 5000; ++i) EXPECT_EQ(take(), "key-" + std::to_string(i));
  }
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.processing(), 0u);
}

TEST(workqueue_concurrency, no_key_is_processed_by_two_workers_at_once) {
  workqueue q;
  constexpr int keys = 16, workers = 4, adds = 20000;
  std::array<std::atomic<int>, keys> in_flight{};
  std::array<std::atomic<int>, keys> processed{};
  std::atomic<int> overlaps{0};
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (auto it = q.get(); it; it = q.done_and_get(it)) {
        const int k = std::stoi(std::string(it.key()));
        if (in_flight[k].fetch_add(1) != 0) ++overlaps;
        std::this_thread::yield();
        in_flight[k].fetch_sub(1);
        ++processed[k];
      }
    });
  }
  for (int i = 0; i < adds; ++i) q.add(std::to_string(i % keys));
  q.shut_down();
  for (auto& t : pool) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  int total = 0;
  for (auto& p : processed) {
    EXPECT_GE(p.load(), 1);
    total += p.load();
  }
  EXPECT_LE(total, adds);  // dedup: never more handlings than adds
}

TEST(rate_limiters, exponential_doubles_and_caps_at_max) {
  exponential_rate_limiter r(5ms, 1000s);
  const auto now = clock::time_point{};
  EXPECT_EQ(r.when("k", 0, now), 5ms);
  EXPECT_EQ(r.when("k", 1, now), 10ms);
  EXPECT_EQ(r.when("k", 17, now), 655360ms);  // 5ms * 2^17 = 655.36s
  EXPECT_EQ(r.when("k", 18, now), 1000s);     // 1310.72s capped
  EXPECT_EQ(r.when("k", 4000000000u, now), 1000s);
  EXPECT_THROW(exponential_rate_limiter(0ms, 1s), std::invalid_argument);
  EXPECT_THROW(exponential_rate_limiter(2s, 1s), std::invalid_argument);
}

TEST(rate_limiters, bucket_starts_full_and_refills_at_qps) {
  bucket_rate_limiter r(10, 100);
  const auto t0 = clock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(r.when("k", 0, t0), clock::duration::zero()) << i;
  EXPECT_EQ(r.when("k", 0, t0), 100ms);  // tokens -1
  EXPECT_EQ(r.when("k", 0, t0), 200ms);  // tokens -2
  // One second later: -2 + 10 = 8 tokens; 8 calls free, the 9th waits 100ms.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(r.when("k", 0, t0 + 1s), clock::duration::zero()) << i;
  EXPECT_EQ(r.when("k", 0, t0 + 1s), 100ms);
  EXPECT_THROW(bucket_rate_limiter(0, 1), std::invalid_argument);
  EXPECT_THROW(bucket_rate_limiter(1, 0), std::invalid_argument);
}

TEST(rate_limiters, default_controller_limiter_is_the_max_of_both) {
  auto r = default_controller_rate_limiter();
  const auto t0 = clock::time_point{} + 1h;
  EXPECT_EQ(r->when("a", 0, t0), 5ms);
  EXPECT_EQ(r->when("a", 3, t0), 40ms);
  for (int i = 0; i < 98; ++i) r->when("b", 0, t0);  // the bucket's 100 tokens are used up
  EXPECT_EQ(r->when("c", 0, t0), 100ms);              // bucket wins over 5ms
  EXPECT_EQ(r->when("c", 10, t0), 5120ms);            // exponential wins over 200ms
}

}  // namespace
}  // namespace operant::controller
