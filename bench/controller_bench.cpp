// controller_bench: keys per second through the controller — workqueue, workers and a no-op
// handler — with 1 and 2 workers, without a recorder and with the Prometheus recorder.
//
// Each iteration queues every key of a warm cache (10k or 100k objects) once (a resync, triggered by jumping the
// controller's clock) and measures the wall time until the handler has seen them all. The clock
// is the real steady clock plus an offset, so the recorder pays for real clock reads. The no-op
// handler increments one shared atomic (how the bench knows the batch is done).
//
//   build/release/bench/controller_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// On a host whose speed drifts (a shared VM), the recorder's few percent hide in the run-to-run
// spread of BM_controller; BM_recorder_cost pairs the two configurations block by block instead.
// Give it a minute for a median that holds to about a percent:
//
//   build/release/bench/controller_bench --benchmark_filter=recorder_cost --benchmark_min_time=60
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operant/controller.h"

namespace oc = operant::controller;
using namespace std::chrono_literals;

namespace {

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}


// steady_clock + an offset that jump() moves forward, waking subscribers (the resync loop).
// Stamps (durations for the recorder) are the system clock's, as in production.
class jump_clock final : public oc::clock {
 public:
  time_point now() const noexcept override {
    return std::chrono::steady_clock::now() + duration(offset_.load(std::memory_order_relaxed));
  }
  time_point stamp() const noexcept override { return system_.stamp(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  time_point deadline) const override {
    cv.wait_until(lock, deadline - duration(offset_.load(std::memory_order_relaxed)));
  }
  std::uint64_t subscribe(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    subs_.emplace(++next_, std::move(wake));
    return next_;
  }
  void unsubscribe(std::uint64_t id) override {
    std::lock_guard lock(mu_);
    subs_.erase(id);
  }
  void jump(duration d) {
    std::lock_guard lock(mu_);
    offset_.fetch_add(d.count());
    for (auto& [id, wake] : subs_) wake();
  }

 private:
  oc::system_clock system_;
  std::atomic<duration::rep> offset_{0};
  std::mutex mu_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, std::function<void()>> subs_;
};

class counting_handler final : public oc::handler {
 public:
  oc::status handle(const oc::context&, const oc::object&) override {
    if (count_.fetch_add(1, std::memory_order_relaxed) + 1 == target_.load(std::memory_order_relaxed)) {
      { std::lock_guard lock(mu_); }
      cv_.notify_all();
    }
    return {};
  }
  void expect(std::uint64_t n) { target_.store(count_.load() + n); }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return count_.load() >= target_.load(); });
  }

 private:
  std::atomic<std::uint64_t> count_{0}, target_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

std::shared_ptr<oc::memory_retriever> make_store(int keys) {
  static std::map<int, std::shared_ptr<oc::memory_retriever>> stores;
  auto& store = stores[keys];
  if (!store) store = [keys] {
    auto s = std::make_shared<oc::memory_retriever>();
    for (int i = 0; i < keys; ++i) {
      oc::object o;
      o.set_namespace("default").set_name("object-" + std::to_string(i));
      s->add(std::move(o));
    }
    return s;
  }();
  return store;
}

void BM_controller(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const bool with_recorder = state.range(1) != 0;
  const int keys = static_cast<int>(state.range(2));
  operant::metrics::registry reg;
  auto clk = std::make_shared<jump_clock>();
  auto h = std::make_shared<counting_handler>();
  oc::config cfg{.name = "bench",
                 .handler = h,
                 .retriever = make_store(keys),
                 .workers = workers,
                 .resync_interval = std::chrono::hours(1),
                 .logger = std::make_shared<oc::nop_logger>(),
                 .clock = clk};
  if (with_recorder) cfg.recorder = std::make_shared<oc::prometheus_recorder>(reg, "bench");
  oc::controller ctl(cfg);
  h->expect(keys);
  std::jthread runner([&](std::stop_token st) { ctl.run(st); });
  h->wait();  // the initial list, untimed

  std::int64_t processed = 0;
  double seconds = 0, cpu = 0;
  for (auto _ : state) {
    h->expect(keys);
    const double cpu0 = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    clk->jump(std::chrono::hours(1));  // resync: every key queued once
    h->wait();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu += process_cpu_seconds() - cpu0;
    state.SetIterationTime(s);
    seconds += s;
    processed += keys;
  }
  runner.request_stop();
  runner.join();
  state.counters["keys_per_second"] = static_cast<double>(processed) / seconds;
  // CPU time of all the process's threads per key: robust to other load on the machine.
  state.counters["cpu_ns_per_key"] = cpu * 1e9 / static_cast<double>(processed);
  state.SetLabel(std::string(with_recorder ? "prometheus" : "none") + " recorder, " +
                 std::to_string(workers) + " worker" + (workers > 1 ? "s" : ""));
}
BENCHMARK(BM_controller)
    ->ArgNames({"workers", "recorder", "keys"})
    ->ArgsProduct({{1, 2}, {0, 1}, {10'000, 100'000}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

// The recorder's cost end to end, paired: two controllers over the same objects, one without a
// recorder and one with the Prometheus recorder, take turns in blocks of `block` resyncs (of every
// key), so slow drifts of the machine (other load on the host, frequency) hit both alike; each
// block's first resync only warms the caches that the other controller's block evicted, and is
// not timed. One iteration is a block of each, in alternating order. Reports both rates and
// recorder_cost = 1 - without / with (wall time), the median over iterations (robust to the
// occasional block that a preemption stretches), and recorder_cpu_cost, the same from CPU time.
void BM_recorder_cost(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int keys = static_cast<int>(state.range(1));
  operant::metrics::registry reg;
  struct side {
    std::shared_ptr<jump_clock> clk = std::make_shared<jump_clock>();
    std::shared_ptr<counting_handler> h = std::make_shared<counting_handler>();
    std::unique_ptr<oc::controller> ctl;
    std::jthread runner;
    double turn() {
      h->expect(static_cast<std::uint64_t>(count));
      const auto start = std::chrono::steady_clock::now();
      clk->jump(std::chrono::hours(1));
      h->wait();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    int count = 0;
  };
  side sides[2];
  for (int i = 0; i < 2; ++i) {
    side& s = sides[i];
    s.count = keys;
    oc::config cfg{.name = "bench",
                   .handler = s.h,
                   .retriever = make_store(keys),
                   .workers = workers,
                   .resync_interval = std::chrono::hours(1),
                   .logger = std::make_shared<oc::nop_logger>(),
                   .clock = s.clk};
    if (i == 1) cfg.recorder = std::make_shared<oc::prometheus_recorder>(reg, "bench");
    s.ctl = std::make_unique<oc::controller>(cfg);
    s.h->expect(static_cast<std::uint64_t>(keys));
    s.runner = std::jthread([c = s.ctl.get()](std::stop_token st) { c->run(st); });
    s.h->wait();  // the initial list, untimed
  }
  constexpr int block = 8;
  std::int64_t turns = 0;
  std::vector<double> costs, cpu_costs;
  // Wall and process CPU seconds of a block's timed resyncs.
  const auto run_block = [&](side& s) {
    s.turn();  // warm-up
    const double cpu0 = process_cpu_seconds();
    double t = 0;
    for (int i = 1; i < block; ++i) t += s.turn();
    return std::pair{t, process_cpu_seconds() - cpu0};
  };
  double total[2] = {0, 0};
  for (auto _ : state) {
    const int first = static_cast<int>(turns % 2);
    std::pair<double, double> t[2];
    t[first] = run_block(sides[first]);
    t[1 - first] = run_block(sides[1 - first]);
    total[0] += t[0].first;
    total[1] += t[1].first;
    state.SetIterationTime(t[0].first + t[1].first);
    costs.push_back(1.0 - t[0].first / t[1].first);
    cpu_costs.push_back(1.0 - t[0].second / t[1].second);
    ++turns;
  }
  for (side& s : sides) {
    s.runner.request_stop();
    s.runner.join();
  }
  const double n = static_cast<double>(turns) * (block - 1) * keys;
  state.counters["without_keys_per_second"] = n / total[0];
  state.counters["with_keys_per_second"] = n / total[1];
  const auto quantile = [](std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    const auto k = static_cast<std::ptrdiff_t>(q * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[static_cast<std::size_t>(k)];
  };
  state.counters["recorder_cost"] = quantile(costs, 0.5);
  state.counters["recorder_cost_p25"] = quantile(costs, 0.25);
  state.counters["recorder_cost_p75"] = quantile(costs, 0.75);
  // The same from the CPU time the process spent (all threads): less sensitive to scheduling.
  state.counters["recorder_cpu_cost"] = quantile(cpu_costs, 0.5);
}
BENCHMARK(BM_recorder_cost)
    ->ArgNames({"workers", "keys"})
    ->ArgsProduct({{1, 2}, {10'000}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// What the recorder adds to one key, in isolation: the worker's clock read, dequeued() and
// processed() on a bound Prometheus sink, and the key's share of a batched queued() call. Stable
// on a busy machine, unlike the end-to-end difference.
class idle_stats final : public oc::controller_stats {
 public:
  oc::controller_stats_snapshot stats() const override { return {}; }
};

void BM_recorder_per_key(benchmark::State& state) {
  operant::metrics::registry reg;
  oc::prometheus_recorder rec(reg, "bench");
  idle_stats stats;
  auto sink = rec.bind("bench", stats);
  const auto clk = oc::default_clock();
  auto last = clk->stamp();
  std::uint64_t n = 0;
  for (auto _ : state) {
    const auto now = clk->stamp();
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(now - last);
    sink->dequeued(took);
    sink->processed(oc::event_type::add, false, took);
    if (++n % 512 == 0) sink->queued(oc::event_type::add, 512);
    last = now;
  }
}
BENCHMARK(BM_recorder_per_key);

// The workqueue alone: one producer adds distinct keys, `workers` threads get and done them.
void BM_workqueue(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  const int keys = 100'000;
  std::vector<std::string> names;
  for (int i = 0; i < keys; ++i) names.push_back("default/object-" + std::to_string(i));
  std::int64_t processed = 0;
  double seconds = 0;
  for (auto _ : state) {
    oc::workqueue q;
    std::atomic<int> done{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        int n = 0;
        for (auto it = q.get(); it; it = q.done_and_get(it)) ++n;
        done += n;
      });
    }
    for (const auto& k : names) q.add(k);
    q.shut_down();
    for (auto& t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(s);
    seconds += s;
    processed += done.load();
  }
  state.counters["keys_per_second"] = static_cast<double>(processed) / seconds;
}
BENCHMARK(BM_workqueue)->ArgName("workers")->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
