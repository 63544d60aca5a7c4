// app-metrics: the seed's Go service (promhttp.Handler() on /metrics, a counter bumped by
// /my-api-endpoint) written with operant alone, plus a gauge and a latency histogram.
#include <cstdio>
#include <string>

#include "operant/http.h"
#include "operant/metrics.h"

namespace m = operant::metrics;
namespace h = operant::http;

static int usage(std::FILE* out, int code) {
  std::fputs("usage: app-metrics [--listen HOST:PORT] [--web-config FILE] [--no-openmetrics]\n"
             "  --listen          address to serve on (default :2112)\n"
             "  --web-config      TLS and basic auth, in Prometheus' web-config.yml format\n"
             "  --no-openmetrics  always answer in the text format 0.0.4\n",
             out);
  return code;
}

int main(int argc, char** argv) {
  h::server_options opts{.listen = ":2112"};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--help") return usage(stdout, 0);
    if (arg == "--listen" && has_value) {
      opts.listen = argv[++i];
    } else if (arg == "--web-config" && has_value) {
      opts.web_config_file = argv[++i];
    } else if (arg == "--no-openmetrics") {
      opts.metrics.enable_openmetrics = false;
    } else {
      std::fprintf(stderr, "app-metrics: unknown flag or missing value: %s\n", arg.c_str());
      return usage(stderr, 2);
    }
  }

  auto& requests = m::new_counter({.name = "myapp_http_requests_total",
                                   .help = "Total number of requests to /my-api-endpoint."});
  auto& in_progress = m::new_gauge({.name = "myapp_http_requests_in_progress",
                                    .help = "Requests to /my-api-endpoint being served."});
  auto& latency = m::new_histogram({.name = "myapp_http_request_duration_seconds",
                                    .help = "Time spent serving /my-api-endpoint."});
  try {
    h::server srv(opts);  // serves /metrics (default registry), / and /healthz
    srv.handle("/my-api-endpoint", [&](const h::request&) {
      in_progress.inc();
      auto timer = latency.time();
      requests.inc();
      in_progress.dec();
      return h::response::text(200, "Hello from /my-api-endpoint\n");
    });
    std::printf("listening on %s (metrics at %s/metrics)\n", srv.url().c_str(), srv.url().c_str());
    std::fflush(stdout);
    srv.run_until_signal();  // Ctrl-C or SIGTERM stops it
  } catch (const std::exception& e) {
    std::fprintf(stderr, "app-metrics: %s\n", e.what());
    return 1;
  }
}
