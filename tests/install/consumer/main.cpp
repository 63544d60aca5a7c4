// Creates a counter on its own registry and prints the registry in text 0.0.4 and OpenMetrics.
#include <iostream>

#include "operant/metrics/exposition.h"
#include "operant/metrics/registry.h"
#ifdef CONSUMER_HAS_HTTP
#include "operant/http/server.h"
#endif

int main() {
  namespace om = operant::metrics;
  om::registry reg;
  auto& requests = om::with(reg).new_counter(
      {.name = "consumer_requests_total", .help = "Requests the consumer served."});
  requests.inc();
  requests.add(2);
  std::cout << om::encode_to_string(reg, om::format::text);
  std::cout << om::encode_to_string(reg, om::format::openmetrics);
#ifdef CONSUMER_HAS_HTTP
  operant::http::server srv({.listen = "127.0.0.1:0"});
  std::cout << "http server bound to port " << srv.port() << "\n";
#endif
  return 0;
}
