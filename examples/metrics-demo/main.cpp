// metrics-demo: a small service instrumented with operant::metrics. Worker threads "handle
// requests" for a while; then the demo prints what a Prometheus scrape of it would receive.
// (The embedded /metrics server arrives with the http module; until then the exposition goes to
// stdout.)
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "operant/metrics.h"

namespace m = operant::metrics;

namespace {

void usage(std::FILE* out) {
  std::fputs(
      "usage: metrics-demo [--duration SECONDS] [--threads N] [--format text|openmetrics]\n"
      "  --duration  how long the workers run (default 2)\n"
      "  --threads   number of worker threads (default 2)\n"
      "  --format    exposition format printed at the end (default text)\n"
      "  --help      show this text\n",
      out);
}

bool parse_int(const char* s, int& out) {
  const char* end = s + std::strlen(s);
  auto r = std::from_chars(s, end, out);
  return r.ec == std::errc() && r.ptr == end && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  int duration = 2, threads = 2;
  m::format fmt = m::format::text;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "--help") {
      usage(stdout);
      return 0;
    } else if (arg == "--duration" && value != nullptr && parse_int(value, duration)) {
      ++i;
    } else if (arg == "--threads" && value != nullptr && parse_int(value, threads)) {
      ++i;
    } else if (arg == "--format" && value != nullptr &&
               (std::strcmp(value, "text") == 0 || std::strcmp(value, "openmetrics") == 0)) {
      fmt = std::strcmp(value, "text") == 0 ? m::format::text : m::format::openmetrics;
      ++i;
    } else {
      const bool known = arg == "--duration" || arg == "--threads" || arg == "--format";
      std::fprintf(stderr, "metrics-demo: %s \"%s\"%s%s\n", known ? "bad value for" : "unknown flag",
                   arg.c_str(), known ? ": " : "", known ? (value ? value : "(missing)") : "");
      usage(stderr);
      return 2;
    }
  }

  // The seed's myapp metrics, registered on the default registry in one call each.
  auto& requests = m::new_counter_family({.name = "myapp_http_requests_total",
                                          .help = "The total number of times an endpoint was called.",
                                          .label_names = {"endpoint", "code"}});
  auto& latency = m::new_histogram({.name = "myapp_http_request_duration_seconds",
                                    .help = "Time spent handling requests.",
                                    .unit = "seconds"});
  auto& in_flight = m::new_gauge({.name = "myapp_http_requests_in_flight",
                                  .help = "Requests being handled right now."});
  m::new_info({.name = "myapp_build", .help = "Build information.", .label_names = {"version"}})
      .labels("1.0.0");

  const auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(duration);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::exponential_distribution<double> work(2000.0);  // mean 0.5 ms
      // Cache the series used on every request: the hot path is then a cell increment.
      m::counter& ok = requests.labels("/my-api-endpoint", "200");
      while (std::chrono::steady_clock::now() < stop_at) {
        in_flight.inc();
        auto timer = latency.time();
        std::this_thread::sleep_for(std::chrono::duration<double>(work(rng)));
        if (rng() % 50 == 0) {
          requests.labels("/my-api-endpoint", "500").inc();
        } else {
          ok.inc();
        }
        in_flight.dec();
      }
    });
  }
  for (auto& w : workers) w.join();

  std::cout << m::encode_to_string(m::default_registry(), fmt);
  return 0;
}
