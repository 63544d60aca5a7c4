// http_bench_server — the same registry served on /metrics by operant or by prometheus-cpp 1.0.1.
//
//   http_bench_server --impl operant|prometheus_cpp --series N --listen 127.0.0.1:PORT
//
// bench/run_http_bench.sh starts one of these per (series, impl) pair, loads it with wrk and
// prints the ratio table. Both implementations serve byte-for-byte the same samples:
//
//   * N counter series in ceil(N/100) families `bench_requests_g<k>_total{method,path}`, 100
//     series each (the last one takes the remainder): method is one of GET POST PUT DELETE PATCH,
//     path is /api/v1/items/<0..19>. Series i holds the integer (i % 1000) + 1.
//   * ceil(N/100) histogram series in one family `bench_request_duration_seconds{method,path}`
//     (same label scheme, series j as counter series j of a family), Prometheus' 11 default
//     buckets, 8 observations each from a fixed list
//     of binary-exact values (so the _sum prints identically in both libraries).
//
// At N = 10000 that is 10,000 counter lines, 100 histograms (1,400 lines) and 202 HELP/TYPE
// lines. Each library also adds its handler's own metrics, which cannot be switched off in
// prometheus-cpp (exposer_transferred_bytes_total, exposer_scrapes_total and the summary
// exposer_request_latencies: 8 samples); operant's are promhttp_metric_handler_requests_total{code}
// and promhttp_metric_handler_requests_in_flight (4 samples).
//
// Each server gets 2 threads: prometheus::Exposer(bind, 2) (CivetWeb's worker threads; its
// listener thread comes on top) and server_options.threads = 2 (operant's Asio I/O threads).
//
// The process prints "listening on http://HOST:PORT" once the socket is bound and serves until
// SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "operant/http/server.h"
#include "operant/metrics/registry.h"

namespace om = operant::metrics;

namespace {

constexpr std::size_t series_per_family = 100;
constexpr unsigned server_threads = 2;

constexpr std::string_view usage =
    "usage: http_bench_server --impl operant|prometheus_cpp --series N --listen HOST:PORT\n"
    "\n"
    "Serves N counter series (families of 100, labels method and path) plus N/100 histograms on\n"
    "/metrics with the chosen library and 2 server threads, until SIGINT or SIGTERM.\n"
    "\n"
    "  --impl     operant (operant::http::server) or prometheus_cpp (prometheus::Exposer)\n"
    "  --series   counter series, >= 1 (default 1000)\n"
    "  --listen   address to bind (default 127.0.0.1:0, a free loopback port)\n"
    "  --help     this text\n";

// The label values of series i of a family: 5 methods x 20 paths for i < 100 (histogram series
// beyond 100, at N > 10,000, continue with paths 20, 21, ...).
constexpr std::string_view methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
std::string path_of(std::size_t i) {
  std::string p = "/api/v1/items/";
  p += std::to_string(i / std::size(methods));
  return p;
}
std::string_view method_of(std::size_t i) { return methods[i % std::size(methods)]; }

std::string counter_family_name(std::size_t k) {
  std::string n = "bench_requests_g";
  n += std::to_string(k);
  n += "_total";
  return n;
}

constexpr std::string_view help = "Benchmark metric.";
constexpr std::string_view histogram_name = "bench_request_duration_seconds";
const std::vector<double> bounds{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
// Binary-exact observations spread over the buckets; their sums are exact too.
constexpr double observations[] = {0.00390625, 0.0078125, 0.0625, 0.125, 0.25, 0.75, 3.0, 12.0};

double counter_value(std::size_t i) { return static_cast<double>(i % 1000 + 1); }

struct content {
  std::size_t series;
  std::size_t families() const { return (series + series_per_family - 1) / series_per_family; }
  std::size_t family_size(std::size_t k) const {
    return k + 1 < families() ? series_per_family : series - k * series_per_family;
  }
  std::size_t histograms() const { return families(); }
};

// ---- operant ------------------------------------------------------------------------------------

void fill(om::registry& reg, const content& c) {
  auto make = om::with(reg);
  std::size_t i = 0;
  for (std::size_t k = 0; k < c.families(); ++k) {
    auto& fam = make.new_counter_family({.name = counter_family_name(k),
                                         .help = std::string(help),
                                         .label_names = {"method", "path"}});
    for (std::size_t j = 0; j < c.family_size(k); ++j, ++i) {
      fam.labels(method_of(j), path_of(j)).add(counter_value(i));
    }
  }
  auto& hist = make.new_histogram_family({.name = std::string(histogram_name),
                                          .help = std::string(help),
                                          .label_names = {"method", "path"},
                                          .buckets = bounds});
  for (std::size_t j = 0; j < c.histograms(); ++j) {
    auto& h = hist.labels(method_of(j), path_of(j));
    for (double v : observations) h.observe(v);
  }
}

// ---- prometheus-cpp -----------------------------------------------------------------------------

void fill(prometheus::Registry& reg, const content& c) {
  std::size_t i = 0;
  for (std::size_t k = 0; k < c.families(); ++k) {
    auto& fam = prometheus::BuildCounter()
                    .Name(counter_family_name(k))
                    .Help(std::string(help))
                    .Register(reg);
    for (std::size_t j = 0; j < c.family_size(k); ++j, ++i) {
      fam.Add({{"method", std::string(method_of(j))}, {"path", path_of(j)}})
          .Increment(counter_value(i));
    }
  }
  auto& hist = prometheus::BuildHistogram()
                   .Name(std::string(histogram_name))
                   .Help(std::string(help))
                   .Register(reg);
  for (std::size_t j = 0; j < c.histograms(); ++j) {
    auto& h = hist.Add({{"method", std::string(method_of(j))}, {"path", path_of(j)}}, bounds);
    for (double v : observations) h.Observe(v);
  }
}

// ---- main ---------------------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "http_bench_server: %s\n%.*s", message.c_str(),
               static_cast<int>(usage.size()), usage.data());
  std::exit(2);
}

// Blocks SIGINT and SIGTERM in this thread (and so in every thread started afterwards), then
// waits for one of them after `serve` has started the server.
sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void wait_for_termination(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
}

void announce(std::string_view host, int port) {
  std::printf("listening on http://%.*s:%d\n", static_cast<int>(host.size()), host.data(), port);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string impl;
  std::size_t series = 1000;
  std::string listen = "127.0.0.1:0";
  for (int a = 1; a < argc; ++a) {
    const std::string_view arg = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) fail("missing value after " + std::string(arg));
      return argv[++a];
    };
    if (arg == "--help" || arg == "-h") {
      std::fwrite(usage.data(), 1, usage.size(), stdout);
      return 0;
    } else if (arg == "--impl") {
      impl = value();
    } else if (arg == "--series") {
      const std::string v = value();
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 10'000'000) {
        fail("--series wants an integer in 1..10000000, not \"" + v + "\"");
      }
      series = static_cast<std::size_t>(n);
    } else if (arg == "--listen") {
      listen = value();
    } else {
      fail("unknown argument \"" + std::string(arg) + "\"");
    }
  }
  if (impl != "operant" && impl != "prometheus_cpp") {
    fail("--impl must be operant or prometheus_cpp, not \"" + impl + "\"");
  }

  const sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const content c{series};
  try {
    const operant::http::host_port hp = operant::http::parse_listen_address(listen);
    const std::string host = hp.host.empty() ? "0.0.0.0" : hp.host;
    if (impl == "operant") {
      om::registry reg;
      fill(reg, c);
      operant::http::server_options opts;
      opts.listen = listen;
      opts.threads = server_threads;
      opts.metrics.registries = {&reg};
      operant::http::server srv(std::move(opts));
      srv.start();
      announce(host, srv.port());
      wait_for_termination(signals);
      srv.stop();
    } else {
      auto reg = std::make_shared<prometheus::Registry>();
      fill(*reg, c);
      prometheus::Exposer exposer(listen, server_threads);
      exposer.RegisterCollectable(reg);
      const std::vector<int> ports = exposer.GetListeningPorts();
      if (ports.empty()) throw std::runtime_error("prometheus::Exposer reports no listening port");
      announce(host, ports.front());
      wait_for_termination(signals);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_bench_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
