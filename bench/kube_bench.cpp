// kube_bench: the watch-stream decoder's throughput and the informer store's memory per object.
//
// There is no C++ Kubernetes client with a watch decoder to put beside ours in this binary (the C
// client in ../shared/anchors/kooper.md §6 is not packaged by Debian), so the in-binary baseline is
// the floor any JSON watch decoder has to pay: nlohmann::json::parse of each event line, with the
// lines already split. decode ÷ parse_only is the cost of framing, validation and objects.
//
//   build/release/bench/kube_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "operant/kube/client.h"
#include "operant/kube/informer.h"

namespace {

std::atomic<std::size_t> allocated{0};

// A pod-like object of about `size` bytes of JSON.
std::string object_json(int i, std::size_t size) {
  std::string o = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-)" +
                  std::to_string(i) + R"(","namespace":"default","uid":"0b5e6f1c-8a8e-4c1e-9d7e-)" +
                  std::to_string(100000000000 + i) + R"(","resourceVersion":")" +
                  std::to_string(1000 + i) +
                  R"(","labels":{"app":"web","tier":"front"},"annotations":{"pad":")";
  const std::string tail =
      R"("}},"spec":{"nodeName":"node-1","containers":[{"name":"c","image":"busybox"}]},"status":{"phase":"Running"}})";
  if (o.size() + tail.size() < size) o.append(size - o.size() - tail.size(), 'x');
  return o + tail;
}

std::string stream_of(int events, std::size_t size, std::vector<std::string>* lines = nullptr) {
  std::string s;
  for (int i = 0; i < events; ++i) {
    std::string line = R"({"type":"MODIFIED","object":)" + object_json(i, size) + "}\n";
    if (lines) lines->push_back(line);
    s += line;
  }
  return s;
}

void BM_watch_decode(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const int events = 256;
  const std::string s = stream_of(events, size);
  std::size_t seen = 0;
  for (auto _ : state) {
    operant::kube::watch_decoder d;
    for (std::size_t pos = 0; pos < s.size(); pos += 64 * 1024) {
      d.feed(std::string_view(s).substr(pos, 64 * 1024), [&](const operant::kube::watch_event& e) {
        benchmark::DoNotOptimize(e.obj.get());
        ++seen;
      });
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * events);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
  benchmark::DoNotOptimize(seen);
}
BENCHMARK(BM_watch_decode)->Arg(1024)->Arg(16 * 1024);

void BM_parse_only(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> lines;
  const std::string s = stream_of(256, size, &lines);
  for (auto _ : state) {
    for (const auto& l : lines) {
      auto j = nlohmann::json::parse(l);
      benchmark::DoNotOptimize(j);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_parse_only)->Arg(1024)->Arg(16 * 1024);

// Bytes the store holds per cached object (the object, its key and the namespace index), counted
// by the global allocator, for objects whose JSON text is 1 KiB.
void BM_store_memory_per_object(benchmark::State& state) {
  const int n = 10000;
  std::vector<operant::controller::object_ptr> objs;
  for (int i = 0; i < n; ++i) {
    objs.push_back(std::make_shared<const operant::controller::object>(
        operant::controller::object::parse(object_json(i, 1024))));
  }
  const std::size_t text = object_json(0, 1024).size();
  double per_object = 0, objects_only = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<operant::controller::object_ptr> fresh;
    const std::size_t before_objects = allocated.load();
    for (int i = 0; i < n; ++i) {
      fresh.push_back(std::make_shared<const operant::controller::object>(
          operant::controller::object::parse(object_json(i, 1024))));
    }
    const std::size_t after_objects = allocated.load();
    operant::kube::store st;
    for (auto& o : fresh) st.put(o);
    const std::size_t after_store = allocated.load();
    objects_only = static_cast<double>(after_objects - before_objects) / n;
    per_object = static_cast<double>(after_store - before_objects) / n;
    state.ResumeTiming();
  }
  state.counters["bytes_per_object"] = per_object;
  state.counters["object_bytes"] = objects_only;
  state.counters["json_text_bytes"] = static_cast<double>(text);
  state.counters["ratio_to_text"] = per_object / static_cast<double>(text);
}
BENCHMARK(BM_store_memory_per_object)->Iterations(1);

}  // namespace

// Counts live allocations (bytes allocated minus freed) for the memory case.
void* operator new(std::size_t n) {
  allocated.fetch_add(n, std::memory_order_relaxed);
  if (void* p = std::malloc(n + 16)) {
    *static_cast<std::size_t*>(p) = n;
    return static_cast<char*>(p) + 16;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  if (!p) return;
  char* base = static_cast<char*>(p) - 16;
  allocated.fetch_sub(*reinterpret_cast<std::size_t*>(base), std::memory_order_relaxed);
  std::free(base);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

BENCHMARK_MAIN();
