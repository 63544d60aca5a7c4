// metrics-controller: Kooper's metrics example in C++. A controller watches an in-memory source
// that adds, updates and deletes objects at a chosen rate; its handler sleeps a random time and
// fails at a chosen rate; the controller's metrics are served on /metrics.
//
//   metrics-controller --listen :7777 --workers 3 --events-per-second 20 --error-rate 0.2
//   curl -s localhost:7777/metrics | grep operant_controller_
//
// --metrics-backend chooses the recorder: prometheus (operant::controller::prometheus_recorder on
// the default registry), none (no recorder: no controller metrics, no cost), or log (the custom
// backend below: logs a summary every 5 seconds — how to write your own recorder).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "operant/controller.h"
#include "operant/http/server.h"
#include "operant/metrics.h"
#include "flags.h"

namespace oc = operant::controller;
using namespace std::chrono_literals;

namespace {

// ---- A custom recorder backend: totals per controller, logged every `period`. -----------------
class logging_recorder final : public oc::recorder {
  struct sink;

 public:
  logging_recorder(std::shared_ptr<oc::logger> log, std::chrono::milliseconds period)
      : log_(std::move(log)), reporter_([this, period](std::stop_token st) { report_loop(st, period); }) {}
  ~logging_recorder() override {
    reporter_.request_stop();
    cv_.notify_all();
  }

  std::unique_ptr<oc::controller_recorder> bind(std::string_view controller,
                                                const oc::controller_stats& stats) override {
    auto s = std::make_unique<sink>(this, std::string(controller), stats);
    std::lock_guard lock(mu_);
    sinks_.push_back(s.get());
    return s;
  }

 private:
  // One controller's counters: relaxed atomics, nothing else on the hot path.
  struct sink final : oc::controller_recorder {
    sink(logging_recorder* o, std::string n, const oc::controller_stats& s)
        : owner(o), name(std::move(n)), stats(&s) {}
    ~sink() override {
      std::lock_guard lock(owner->mu_);
      std::erase(owner->sinks_, this);
    }
    void queued(oc::event_type t, std::uint64_t n) noexcept override {
      queued_by_type[static_cast<std::size_t>(t)].fetch_add(n, std::memory_order_relaxed);
    }
    void dequeued(std::chrono::nanoseconds) noexcept override {}
    void processed(oc::event_type, bool failed, std::chrono::nanoseconds took) noexcept override {
      processed_total.fetch_add(1, std::memory_order_relaxed);
      if (failed) errors.fetch_add(1, std::memory_order_relaxed);
      micros.fetch_add(static_cast<std::uint64_t>(took.count() / 1000), std::memory_order_relaxed);
    }

    logging_recorder* owner;
    std::string name;
    const oc::controller_stats* stats;
    std::atomic<std::uint64_t> queued_by_type[oc::event_type_count]{};
    std::atomic<std::uint64_t> processed_total{0}, errors{0}, micros{0};
  };

  void report_loop(std::stop_token st, std::chrono::milliseconds period) {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait_for(lock, st, period, [] { return false; });
      if (st.stop_requested()) return;
      for (sink* s : sinks_) {
        const std::uint64_t n = s->processed_total.load();
        const auto snap = s->stats->stats();
        log_->info("controller metrics",
                   {{"controller", s->name},
                    {"queued_add", s->queued_by_type[0].load()},
                    {"queued_delete", s->queued_by_type[1].load()},
                    {"queued_requeue", s->queued_by_type[2].load()},
                    {"processed", n},
                    {"errors", s->errors.load()},
                    {"avg_ms", n == 0 ? 0.0 : static_cast<double>(s->micros.load()) / 1e3 / static_cast<double>(n)},
                    {"depth", snap.depth},
                    {"active_workers", snap.active_workers}});
      }
    }
  }

  std::shared_ptr<oc::logger> log_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<sink*> sinks_;
  std::jthread reporter_;  // last: stops before the members it uses go away
};

// ---- Flags -------------------------------------------------------------------------------------
struct flags {
  std::string listen = ":7777";
  std::string backend = "prometheus";
  std::string ns = "operant";
  int workers = 3;
  int retries = 3;
  std::chrono::milliseconds resync = 30s;
  double events_per_second = 20;
  double error_rate = 0.2;
  int objects = 50;
  int max_handler_ms = 500;
  double duration = 0;  // seconds; 0 = until SIGINT/SIGTERM
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: metrics-controller [flags]\n"
      "  --listen HOST:PORT         serve /metrics here (default :7777; 127.0.0.1:0 picks a port)\n"
      "  --metrics-backend B        prometheus | none | log (default prometheus)\n"
      "  --namespace P              metric name prefix for the prometheus backend (default operant)\n"
      "  --workers N                concurrent workers (default 3)\n"
      "  --retries N                retries of a failed key (default 3)\n"
      "  --resync D                 resync interval: 30s, 1m, 500ms; 0 disables (default 30s)\n"
      "  --events-per-second R      adds, updates and deletes generated per second (default 20)\n"
      "  --error-rate F             fraction of handler calls that fail, 0..1 (default 0.2)\n"
      "  --objects N                objects the generator keeps around (default 50)\n"
      "  --max-handler-ms N         the handler sleeps a random 0..N ms (default 500)\n"
      "  --duration SECONDS         run this long, then exit (default 0: until Ctrl-C)\n"
      "  --help                     show this text\n"
      "Flags take their value as the next argument or after '=' (--workers=2).\n"
      "The first line on stdout is \"listening on http://HOST:PORT\".\n",
      out);
}

// Returns -1 to run, 0 after --help, 2 after a bad flag (having said why). examples/common/flags.h.
int parse_flags(int argc, char** argv, flags& f) {
  example::flag_set flags("metrics-controller", usage);
  flags.value("--listen", example::listen_address(f.listen))
      .value("--metrics-backend", example::one_of(f.backend, {"prometheus", "none", "log"}))
      .value("--namespace", example::text(f.ns))
      .value("--workers", example::number(f.workers, 1))
      .value("--retries", example::number(f.retries, 0))
      .value("--resync", example::duration(f.resync))
      .value("--events-per-second", example::number(f.events_per_second, 1e-9))
      .value("--error-rate", example::number(f.error_rate, 0.0, 1.0))
      .value("--objects", example::number(f.objects, 1))
      .value("--max-handler-ms", example::number(f.max_handler_ms, 0))
      .value("--duration", example::number(f.duration, 0.0));
  return flags.parse(argc, argv);
}

// ---- The fake world: a generator of adds, updates and deletes. --------------------------------
void generate(std::stop_token st, oc::memory_retriever& store, const flags& f) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::string> names;  // names currently stored
  int next = 0;
  const auto period = std::chrono::duration<double>(1.0 / f.events_per_second);
  auto due = std::chrono::steady_clock::now();
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  while (!st.stop_requested()) {
    const double fill = static_cast<double>(names.size()) / f.objects;
    const double r = u(rng);
    if (names.empty() || (fill < 1 && r < 0.3 + 0.4 * (1 - fill))) {  // add
      oc::object o;
      o.set_namespace("demo").set_name("object-" + std::to_string(next++)).set_label("generation", "1");
      o.json()["spec"] = {{"replicas", 1}};
      names.emplace_back(o.name());
      store.add(std::move(o));
    } else if (r < 0.85) {  // update
      const std::string& name = names[rng() % names.size()];
      auto cur = store.get(oc::make_key("demo", name));
      oc::object o = *cur;
      const int gen = std::stoi(std::string(cur->label("generation").value_or("1"))) + 1;
      o.set_label("generation", std::to_string(gen));
      store.update(std::move(o));
    } else {  // delete
      const std::size_t i = rng() % names.size();
      store.remove(oc::make_key("demo", names[i]));
      names[i] = names.back();
      names.pop_back();
    }
    due += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    cv.wait_until(lock, st, due, [] { return false; });
  }
}

// The handler: sleeps a random time (cut short on stop) and fails at the chosen rate.
oc::status simulate_work(const oc::context& ctx, double error_rate, int max_ms) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0, 1);
  const auto sleep = std::chrono::milliseconds(static_cast<int>(u(rng) * max_ms));
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  if (cv.wait_for(lock, ctx.stop_token(), sleep, [] { return false; }) || ctx.stop_requested()) {
    return oc::status::failure("stopping");
  }
  if (u(rng) < error_rate) return oc::status::failure("random failure");
  return oc::status::success();
}

}  // namespace

int main(int argc, char** argv) {
  flags f;
  if (const int rc = parse_flags(argc, argv, f); rc >= 0) return rc;

  // Signals are taken by wait_for_signal below: block them before any thread starts.
  const sigset_t sigs = example::block_stop_signals();

  auto log = std::make_shared<oc::logfmt_logger>();
  std::shared_ptr<oc::recorder> rec;
  try {
    if (f.backend == "prometheus") rec = std::make_shared<oc::prometheus_recorder>(f.ns);
    if (f.backend == "log") rec = std::make_shared<logging_recorder>(log, 5s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metrics-controller: %s\n", e.what());
    return 2;
  }

  auto store = std::make_shared<oc::memory_retriever>();
  const double error_rate = f.error_rate;
  const int max_ms = f.max_handler_ms;
  auto handler = oc::make_handler(
      [=](const oc::context& ctx, const oc::object&) { return simulate_work(ctx, error_rate, max_ms); },
      [=](const oc::context& ctx, std::string_view, const oc::object&) {
        return simulate_work(ctx, error_rate, max_ms);
      });

  std::unique_ptr<oc::controller> ctl;
  std::unique_ptr<operant::http::server> srv;
  try {
    ctl = std::make_unique<oc::controller>(oc::config{.name = "metrics-controller",
                                                      .handler = handler,
                                                      .retriever = store,
                                                      .workers = f.workers,
                                                      .resync_interval = f.resync,
                                                      .max_retries = f.retries,
                                                      .logger = log,
                                                      .recorder = rec});
    srv = std::make_unique<operant::http::server>(operant::http::server_options{
        .listen = f.listen, .landing_title = "operant metrics-controller"});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metrics-controller: %s\n", e.what());
    return 1;
  }
  srv->start();
  std::printf("listening on %s\n", srv->url().c_str());
  std::printf("metrics at %s%s (backend %s)\n", srv->url().c_str(), "/metrics", f.backend.c_str());
  std::fflush(stdout);

  std::jthread controller_thread([&](std::stop_token st) { ctl->run(st); });
  std::jthread generator([&](std::stop_token st) { generate(st, *store, f); });

  log->info("stopping", {{"signal", example::wait_for_signal(sigs, f.duration)}});
  generator.request_stop();
  generator.join();
  controller_thread.request_stop();
  controller_thread.join();
  srv->stop();
  log->info("stopped");
  return 0;
}
