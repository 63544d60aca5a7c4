// metrics_bench — operant vs prometheus-cpp 1.0.1, the same cases in the same binary.
//
// Every case is registered twice, as `<case>/operant` and `<case>/prometheus_cpp`, with identical
// loop bodies apart from the library call, so the two can be compared as a ratio
// (bench/run_metrics_bench.sh prints it). The exception, counter_inc_floor/*, times the bare
// memory increment under counter_inc's loop, as a reference for this CPU. Times are CPU time,
// Google Benchmark's default; for the ->Threads(2) cases that is the CPU time of both threads
// divided by the operations of both.
//
//   metrics_bench [benchmark flags]                 the timing cases
//   metrics_bench --memory [--memory_out=FILE]      heap bytes per series (mallinfo2), then exit
//
// Objects shared by the threads of a contended case, and the 100k-series fixtures of the
// serialization cases, are function-local statics: built once (thread-safe initialisation),
// never destroyed, so Google Benchmark's repeated calls of a case do not rebuild them.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "operant/metrics/exposition.h"
#include "operant/metrics/registry.h"

namespace om = operant::metrics;

namespace {

// ---- shared inputs --------------------------------------------------------------------------------

// Prometheus' default buckets; prometheus-cpp has no default, so both get these explicitly.
const std::vector<double>& default_bounds() {
  static const std::vector<double> b{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  return b;
}

// 1024 pseudo-random observations, log-uniform over [0.001, 20): every one of the 12 buckets
// (including +Inf) gets hit, in an order the branch predictor cannot learn. Fixed seed, so both
// libraries see exactly the same sequence.
constexpr std::size_t n_values = 1024;
const std::array<double, n_values>& sample_values() {
  static const std::array<double, n_values> values = [] {
    std::array<double, n_values> v{};
    std::uint64_t x = 0x9e3779b97f4a7c15ull;
    for (double& d : v) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const double u = static_cast<double>(x >> 11) * 0x1.0p-53;  // [0, 1)
      d = 0.001 * std::pow(20000.0, u);
    }
    return v;
  }();
  return values;
}

// Label values "m<i%100>", "p<i/100>", "r<i>". Built by appending: "m" + std::to_string(...)
// trips GCC 12's bogus -Wrestrict at -O3 (GCC bug 105651).
std::string prefixed(char prefix, std::size_t n) {
  std::string s(1, prefix);
  s += std::to_string(n);
  return s;
}
std::string m_value(std::size_t i) { return prefixed('m', i % 100); }
std::string p_value(std::size_t i) { return prefixed('p', i / 100); }
std::string r_value(std::size_t i) { return prefixed('r', i); }

om::metric_opts opts(std::string name, std::vector<std::string> label_names = {}) {
  om::metric_opts o;
  o.name = std::move(name);
  o.help = "Benchmark metric.";
  o.label_names = std::move(label_names);
  return o;
}

// ---- counter_inc ----------------------------------------------------------------------------------

void counter_inc_operant(benchmark::State& state) {
  om::registry reg;
  om::counter& c = om::with(reg).new_counter(opts("bench_counter_total"));
  for (auto _ : state) {
    c.inc();
    benchmark::ClobberMemory();
  }
  if (c.value() != static_cast<double>(state.iterations())) state.SkipWithError("wrong total");
}

void counter_inc_prometheus_cpp(benchmark::State& state) {
  prometheus::Registry reg;
  prometheus::Counter& c =
      prometheus::BuildCounter().Name("bench_counter_total").Help("Benchmark metric.").Register(reg).Add({});
  for (auto _ : state) {
    c.Increment();
    benchmark::ClobberMemory();
  }
  if (c.Value() != static_cast<double>(state.iterations())) state.SkipWithError("wrong total");
}

// ---- counter_inc_floor: what any increment that lands in memory costs on this CPU -----------------
// Informational (no prometheus-cpp side): the same loop as counter_inc around the bare memory
// operation, so a counter_inc figure can be read against the CPU's store-to-load forwarding
// latency (see docs/performance.md, the Zen 1 section).

void counter_inc_floor_load_store(benchmark::State& state) {
  std::atomic<std::uint64_t> cell{0};
  for (auto _ : state) {
    cell.store(cell.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    benchmark::ClobberMemory();
  }
  if (cell.load() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("wrong total");
}

#if defined(__x86_64__)
void counter_inc_floor_add_to_memory(benchmark::State& state) {
  std::uint64_t cell = 0;
  for (auto _ : state) {
    asm volatile("addq $1, %0" : "+m"(cell));
    benchmark::ClobberMemory();
  }
  if (cell != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("wrong total");
}
#endif

// ---- counter_inc_contended: two threads, one series -------------------------------------------------

om::counter& shared_operant_counter() {
  static om::counter& c = [] () -> om::counter& {
    auto* reg = new om::registry;  // leaked: lives as long as the threads that use it
    return om::with(*reg).new_counter(opts("bench_shared_counter_total"));
  }();
  return c;
}

prometheus::Counter& shared_prometheus_counter() {
  static prometheus::Counter& c = [] () -> prometheus::Counter& {
    auto* reg = new prometheus::Registry;
    return prometheus::BuildCounter()
        .Name("bench_shared_counter_total")
        .Help("Benchmark metric.")
        .Register(*reg)
        .Add({});
  }();
  return c;
}

void counter_inc_contended_operant(benchmark::State& state) {
  om::counter& c = shared_operant_counter();
  for (auto _ : state) {
    c.inc();
    benchmark::ClobberMemory();
  }
}

void counter_inc_contended_prometheus_cpp(benchmark::State& state) {
  prometheus::Counter& c = shared_prometheus_counter();
  for (auto _ : state) {
    c.Increment();
    benchmark::ClobberMemory();
  }
}

// ---- histogram_observe ----------------------------------------------------------------------------

void histogram_observe_operant(benchmark::State& state) {
  om::registry reg;
  om::histogram& h = om::with(reg).new_histogram(opts("bench_histogram_seconds"));
  const auto& v = sample_values();
  std::size_t i = 0;
  for (auto _ : state) {
    h.observe(v[i++ & (n_values - 1)]);
    benchmark::ClobberMemory();
  }
  if (h.count() != static_cast<std::uint64_t>(state.iterations())) state.SkipWithError("wrong count");
}

void histogram_observe_prometheus_cpp(benchmark::State& state) {
  prometheus::Registry reg;
  prometheus::Histogram& h = prometheus::BuildHistogram()
                                 .Name("bench_histogram_seconds")
                                 .Help("Benchmark metric.")
                                 .Register(reg)
                                 .Add({}, default_bounds());
  const auto& v = sample_values();
  std::size_t i = 0;
  for (auto _ : state) {
    h.Observe(v[i++ & (n_values - 1)]);
    benchmark::ClobberMemory();
  }
}

// ---- histogram_observe_contended: two threads, one series -------------------------------------------

om::histogram& shared_operant_histogram() {
  static om::histogram& h = [] () -> om::histogram& {
    auto* reg = new om::registry;
    return om::with(*reg).new_histogram(opts("bench_shared_histogram_seconds"));
  }();
  return h;
}

prometheus::Histogram& shared_prometheus_histogram() {
  static prometheus::Histogram& h = [] () -> prometheus::Histogram& {
    auto* reg = new prometheus::Registry;
    return prometheus::BuildHistogram()
        .Name("bench_shared_histogram_seconds")
        .Help("Benchmark metric.")
        .Register(*reg)
        .Add({}, default_bounds());
  }();
  return h;
}

void histogram_observe_contended_operant(benchmark::State& state) {
  om::histogram& h = shared_operant_histogram();
  const auto& v = sample_values();
  // The threads walk the sequence from different offsets.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (n_values / 2);
  for (auto _ : state) {
    h.observe(v[i++ & (n_values - 1)]);
    benchmark::ClobberMemory();
  }
}

void histogram_observe_contended_prometheus_cpp(benchmark::State& state) {
  prometheus::Histogram& h = shared_prometheus_histogram();
  const auto& v = sample_values();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (n_values / 2);
  for (auto _ : state) {
    h.Observe(v[i++ & (n_values - 1)]);
    benchmark::ClobberMemory();
  }
}

// ---- labeled_inc: look a series up by two label values, then increment ------------------------------

void labeled_inc_operant(benchmark::State& state) {
  om::registry reg;
  auto& fam = om::with(reg).new_counter_family(opts("bench_requests_total", {"method", "code"}));
  const std::string method_s = "GET";
  const std::string code_s = "200";
  std::string_view method = method_s;
  std::string_view code = code_s;
  fam.labels(method, code).inc();  // pre-create: every lookup below is a hit
  for (auto _ : state) {
    benchmark::DoNotOptimize(method);  // the values are opaque to the compiler
    benchmark::DoNotOptimize(code);
    fam.labels(method, code).inc();
    benchmark::ClobberMemory();
  }
  if (fam.labels(method, code).value() != static_cast<double>(state.iterations()) + 1) {
    state.SkipWithError("wrong total");
  }
}

void labeled_inc_prometheus_cpp(benchmark::State& state) {
  prometheus::Registry reg;
  auto& fam = prometheus::BuildCounter()
                  .Name("bench_requests_total")
                  .Help("Benchmark metric.")
                  .Register(reg);
  std::string method = "GET";
  std::string code = "200";
  fam.Add({{"method", method}, {"code", code}}).Increment();  // pre-create
  for (auto _ : state) {
    benchmark::DoNotOptimize(method);
    benchmark::DoNotOptimize(code);
    fam.Add({{"method", method}, {"code", code}}).Increment();
    benchmark::ClobberMemory();
  }
}

// ---- serialization --------------------------------------------------------------------------------

constexpr std::size_t n_counter_series = 100'000;
constexpr std::size_t n_histogram_series = 1'000;
constexpr std::size_t observations_per_histogram = 5;

// Fixtures: built on first use, never destroyed.
om::registry& operant_counters_100k() {
  static om::registry& reg = [] () -> om::registry& {
    auto* r = new om::registry;
    auto& fam = om::with(*r).new_counter_family(opts("bench_series_total", {"method", "path"}));
    for (std::size_t i = 0; i < n_counter_series; ++i) fam.labels(m_value(i), p_value(i)).inc();
    return *r;
  }();
  return reg;
}

prometheus::Registry& prometheus_counters_100k() {
  static prometheus::Registry& reg = [] () -> prometheus::Registry& {
    auto* r = new prometheus::Registry;
    auto& fam =
        prometheus::BuildCounter().Name("bench_series_total").Help("Benchmark metric.").Register(*r);
    for (std::size_t i = 0; i < n_counter_series; ++i) {
      fam.Add({{"method", m_value(i)}, {"path", p_value(i)}}).Increment();
    }
    return *r;
  }();
  return reg;
}

om::registry& operant_histograms_1k() {
  static om::registry& reg = [] () -> om::registry& {
    auto* r = new om::registry;
    auto& fam = om::with(*r).new_histogram_family(opts("bench_latency_seconds", {"route"}));
    const auto& v = sample_values();
    for (std::size_t i = 0; i < n_histogram_series; ++i) {
      om::histogram& h = fam.labels(r_value(i));
      for (std::size_t k = 0; k < observations_per_histogram; ++k) {
        h.observe(v[(i * observations_per_histogram + k) & (n_values - 1)]);
      }
    }
    return *r;
  }();
  return reg;
}

prometheus::Registry& prometheus_histograms_1k() {
  static prometheus::Registry& reg = [] () -> prometheus::Registry& {
    auto* r = new prometheus::Registry;
    auto& fam = prometheus::BuildHistogram()
                    .Name("bench_latency_seconds")
                    .Help("Benchmark metric.")
                    .Register(*r);
    const auto& v = sample_values();
    for (std::size_t i = 0; i < n_histogram_series; ++i) {
      prometheus::Histogram& h = fam.Add({{"route", r_value(i)}}, default_bounds());
      for (std::size_t k = 0; k < observations_per_histogram; ++k) {
        h.Observe(v[(i * observations_per_histogram + k) & (n_values - 1)]);
      }
    }
    return *r;
  }();
  return reg;
}

// One iteration = gather the whole registry and encode it as text 0.0.4 into a std::string.
//
// operant (the measured case): encode() into a string sink that is reused across iterations,
// which is how a scrape handler uses the streaming encoder (chunks of ~64 KiB go to the sink; the
// sink here keeps them all so the body is one std::string like prometheus-cpp's).
// operant_to_string (informational, not a target): encode_to_string(), a fresh std::string per
// call, as prometheus-cpp's Serialize() returns one.
class reused_string_sink final : public om::output_sink {
 public:
  void write(std::string_view chunk) override { body.append(chunk); }
  std::string body;
};

void serialize_operant(benchmark::State& state, const om::registry& reg) {
  reused_string_sink sink;
  for (auto _ : state) {
    sink.body.clear();
    om::encode(reg, om::format::text, sink);
    benchmark::DoNotOptimize(sink.body.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(sink.body.size()) * state.iterations());
  state.counters["body_bytes"] = static_cast<double>(sink.body.size());
}

void serialize_operant_to_string(benchmark::State& state, const om::registry& reg) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string body = om::encode_to_string(reg, om::format::text);
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["body_bytes"] = static_cast<double>(bytes);
}

void serialize_prometheus_cpp(benchmark::State& state, const prometheus::Registry& reg) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::vector<prometheus::MetricFamily> families = reg.Collect();
    std::string body = prometheus::TextSerializer().Serialize(families);
    bytes = body.size();
    benchmark::DoNotOptimize(body.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["body_bytes"] = static_cast<double>(bytes);
}

void serialize_counters_100k_operant(benchmark::State& state) {
  serialize_operant(state, operant_counters_100k());
}
void serialize_counters_100k_operant_to_string(benchmark::State& state) {
  serialize_operant_to_string(state, operant_counters_100k());
}
void serialize_counters_100k_prometheus_cpp(benchmark::State& state) {
  serialize_prometheus_cpp(state, prometheus_counters_100k());
}
void serialize_histograms_1k_operant(benchmark::State& state) {
  serialize_operant(state, operant_histograms_1k());
}
void serialize_histograms_1k_operant_to_string(benchmark::State& state) {
  serialize_operant_to_string(state, operant_histograms_1k());
}
void serialize_histograms_1k_prometheus_cpp(benchmark::State& state) {
  serialize_prometheus_cpp(state, prometheus_histograms_1k());
}

void register_benchmarks() {
  benchmark::RegisterBenchmark("counter_inc/operant", counter_inc_operant);
  benchmark::RegisterBenchmark("counter_inc/prometheus_cpp", counter_inc_prometheus_cpp);
  benchmark::RegisterBenchmark("counter_inc_floor/load_store", counter_inc_floor_load_store);
#if defined(__x86_64__)
  benchmark::RegisterBenchmark("counter_inc_floor/add_to_memory", counter_inc_floor_add_to_memory);
#endif
  benchmark::RegisterBenchmark("counter_inc_contended/operant", counter_inc_contended_operant)->Threads(2);
  benchmark::RegisterBenchmark("counter_inc_contended/prometheus_cpp", counter_inc_contended_prometheus_cpp)
      ->Threads(2);
  benchmark::RegisterBenchmark("histogram_observe/operant", histogram_observe_operant);
  benchmark::RegisterBenchmark("histogram_observe/prometheus_cpp", histogram_observe_prometheus_cpp);
  benchmark::RegisterBenchmark("histogram_observe_contended/operant", histogram_observe_contended_operant)
      ->Threads(2);
  benchmark::RegisterBenchmark("histogram_observe_contended/prometheus_cpp",
                               histogram_observe_contended_prometheus_cpp)
      ->Threads(2);
  benchmark::RegisterBenchmark("labeled_inc/operant", labeled_inc_operant);
  benchmark::RegisterBenchmark("labeled_inc/prometheus_cpp", labeled_inc_prometheus_cpp);
  benchmark::RegisterBenchmark("serialize_counters_100k/operant", serialize_counters_100k_operant)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serialize_counters_100k/prometheus_cpp", serialize_counters_100k_prometheus_cpp)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serialize_counters_100k/operant_to_string",
                               serialize_counters_100k_operant_to_string)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("serialize_histograms_1k/operant", serialize_histograms_1k_operant)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("serialize_histograms_1k/prometheus_cpp", serialize_histograms_1k_prometheus_cpp)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("serialize_histograms_1k/operant_to_string",
                               serialize_histograms_1k_operant_to_string)
      ->Unit(benchmark::kMicrosecond);
}

// ---- memory mode ----------------------------------------------------------------------------------
//
// Heap bytes in use (mallinfo2: uordblks, small chunks, + hblkhd, mmapped chunks; glibc sums all
// malloc arenas) before and after creating N series with two labels and touching each once from
// this thread. operant's per-thread cell pages come from calloc and are counted, as are both
// libraries' registry, family and series structures. Label strings are built beforehand so they
// are charged to neither library.
//
// Also reported, because operant's values live in per-thread cells: the fixed cost of a thread's
// first update (its page table) and the bytes per series added by each *further* thread that
// updates every series (its own cells for them). prometheus-cpp has no per-thread cost.

std::size_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

template <class Fn>
double bytes_per_series(std::size_t n, Fn&& build) {
  malloc_trim(0);
  const std::size_t before = heap_in_use();
  build();
  const std::size_t after = heap_in_use();
  return (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n);
}

// Runs `touch` on a new thread whose operant record already exists; returns the heap it added
// per series (measured before the thread exits and folds its cells into the retired arena).
template <class Fn>
double per_series_on_new_thread(std::size_t n, Fn&& touch) {
  double result = 0;
  std::thread t([&] {
    om::detail::thread_record_slow();
    result = bytes_per_series(n, touch);
  });
  t.join();
  return result;
}

struct memory_row {
  std::string library;
  std::string kind;
  double bytes_per_series;
};

int run_memory(const char* json_path) {
  constexpr std::size_t n = 100'000;
  std::vector<std::string> ms(n), ps(n);
  for (std::size_t i = 0; i < n; ++i) {
    ms[i] = m_value(i);
    ps[i] = p_value(i);
  }

  // Fixed cost of the first thread that updates an operant metric: its record and page table
  // (64Ki pointers, calloc'd) plus, once per process, the retired arena's page table.
  malloc_trim(0);
  std::size_t before = heap_in_use();
  om::detail::thread_record_slow();
  const std::size_t first_thread = heap_in_use() - before;
  std::size_t further_thread = 0;
  std::thread([&] {
    void* warm = std::malloc(16);  // create this thread's malloc arena first; it is not operant's
    benchmark::DoNotOptimize(warm);
    std::free(warm);
    const std::size_t b = heap_in_use();
    om::detail::thread_record_slow();
    further_thread = heap_in_use() - b;
  }).join();

  // Objects stay alive until the end so that nothing is reused between measurements.
  std::vector<memory_row> rows;
  auto* o_reg_c = new om::registry;
  om::family<om::counter>* o_counters = nullptr;
  rows.push_back({"operant", "counter", bytes_per_series(n, [&] {
                    o_counters = &om::with(*o_reg_c).new_counter_family(opts("mem_counter_total", {"method", "path"}));
                    for (std::size_t i = 0; i < n; ++i) o_counters->labels(ms[i], ps[i]).inc();
                  })});
  auto* p_reg_c = new prometheus::Registry;
  rows.push_back({"prometheus_cpp", "counter", bytes_per_series(n, [&] {
                    auto& f = prometheus::BuildCounter().Name("mem_counter_total").Help("Benchmark metric.").Register(*p_reg_c);
                    for (std::size_t i = 0; i < n; ++i) f.Add({{"method", ms[i]}, {"path", ps[i]}}).Increment();
                  })});
  auto* o_reg_h = new om::registry;
  om::family<om::histogram>* o_histograms = nullptr;
  rows.push_back({"operant", "histogram", bytes_per_series(n, [&] {
                    o_histograms = &om::with(*o_reg_h).new_histogram_family(opts("mem_histogram_seconds", {"method", "path"}));
                    for (std::size_t i = 0; i < n; ++i) o_histograms->labels(ms[i], ps[i]).observe(0.3);
                  })});
  auto* p_reg_h = new prometheus::Registry;
  rows.push_back({"prometheus_cpp", "histogram", bytes_per_series(n, [&] {
                    auto& f = prometheus::BuildHistogram().Name("mem_histogram_seconds").Help("Benchmark metric.").Register(*p_reg_h);
                    for (std::size_t i = 0; i < n; ++i) f.Add({{"method", ms[i]}, {"path", ps[i]}}, default_bounds()).Observe(0.3);
                  })});
  const double extra_counter = per_series_on_new_thread(n, [&] {
    for (std::size_t i = 0; i < n; ++i) o_counters->labels(ms[i], ps[i]).inc();
  });
  const double extra_histogram = per_series_on_new_thread(n, [&] {
    for (std::size_t i = 0; i < n; ++i) o_histograms->labels(ms[i], ps[i]).observe(0.3);
  });

  auto find = [&](const char* library, const char* kind) {
    for (const memory_row& r : rows) {
      if (r.library == library && r.kind == kind) return r.bytes_per_series;
    }
    return 0.0;
  };

  std::printf("heap per series: %zu series per kind, two labels, each touched once from one thread\n", n);
  std::printf("(mallinfo2 uordblks + hblkhd, after - before)\n\n");
  std::printf("%-16s %-10s %14s %22s\n", "library", "kind", "bytes/series", "operant/prometheus_cpp");
  for (const char* kind : {"counter", "histogram"}) {
    const double o = find("operant", kind);
    const double p = find("prometheus_cpp", kind);
    std::printf("%-16s %-10s %14.1f %22.3f\n", "operant", kind, o, o / p);
    std::printf("%-16s %-10s %14.1f %22s\n", "prometheus_cpp", kind, p, "");
  }
  std::printf("\noperant, per further thread that updates every series: +%.1f bytes/series (counter), "
              "+%.1f (histogram)\n", extra_counter, extra_histogram);
  std::printf("operant, fixed per updating thread (calloc'd page table; virtual, untouched parts not "
              "resident): first thread %zu bytes (incl. the process-wide retired arena), each further "
              "thread %zu bytes\n", first_thread, further_thread);

  if (json_path != nullptr) {
    std::ofstream out(json_path);
    out << "{\n  \"series\": " << n << ",\n  \"operant_first_thread_bytes\": " << first_thread
        << ",\n  \"operant_further_thread_bytes\": " << further_thread
        << ",\n  \"operant_extra_thread_bytes_per_series\": {\"counter\": " << extra_counter
        << ", \"histogram\": " << extra_histogram << "},\n  \"rows\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out << "    {\"library\": \"" << rows[i].library << "\", \"kind\": \"" << rows[i].kind
          << "\", \"bytes_per_series\": " << rows[i].bytes_per_series << "}"
          << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    out << "  ]\n}\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool memory = false;
  const char* memory_out = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--memory") memory = true;
    if (a.starts_with("--memory_out=")) memory_out = argv[i] + std::strlen("--memory_out=");
  }
  if (memory) return run_memory(memory_out);

  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
