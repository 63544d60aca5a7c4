// operant/http/metrics_handler.h — serving a scrape: client_golang's promhttp in C++.
//
// The handler negotiates the format from the request's Accept header (OpenMetrics 1.0 or text
// 0.0.4, each with its exact Content-Type), gzips when Accept-Encoding allows it, limits requests
// in flight, enforces a per-scrape timeout and counts its own work in
// `promhttp_metric_handler_requests_total{code}` (200, 500 and 503 exist from the start) and
// `promhttp_metric_handler_requests_in_flight`, as client_golang's promhttp.Handler() does.
//
// operant::http::server uses it for /metrics. To serve metrics from a server of your own, call
// serve() with the request's two headers and a sink that writes to your response:
//
//   operant::http::metrics_handler h;                       // default registry
//   my_stream out(response);            // a metrics_handler::response_stream of yours: start()
//   h.serve(req["Accept"], req["Accept-Encoding"], out);   // sets status and headers, write()
//                                                           // appends body chunks
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operant/metrics/exposition.h"
#include "operant/metrics/registry.h"

namespace operant::http {

struct request;
struct response;

// What to do when gathering fails (a collector or callback throws, or two merged registries hold
// the same family).
enum class error_handling {
  // Answer 500 with the error message (client_golang's HTTPErrorOnError, its default).
  http_error,
  // Serve what was gathered before the error (the failing collector's output is cut off there;
  // what was written is well formed) and log the error; 500 only if nothing was gathered
  // (client_golang's ContinueOnError).
  continue_on_error,
};

struct metrics_handler_options {
  // Registries served, merged into one exposition (a family in two of them is an error). Empty:
  // the default registry. They must outlive the handler.
  std::vector<metrics::registry*> registries{};
  error_handling on_error = error_handling::http_error;
  // Requests being served at once, at most; one more gets 503 "Limit of concurrent requests
  // reached". 0: no limit (client_golang's MaxRequestsInFlight default).
  std::size_t max_requests_in_flight = 0;
  // A scrape that takes longer gets 503 (client_golang's Timeout). The gather goes on in the
  // background and its result is thrown away; it keeps its in-flight slot until it ends, so slow
  // collectors cannot pile up. 0: no timeout.
  std::chrono::milliseconds timeout{0};
  // Offer OpenMetrics 1.0 in negotiation (needed for exemplars). client_golang's
  // EnableOpenMetrics defaults to false; operant's to true, because Prometheus asks for
  // OpenMetrics first and our OpenMetrics output is complete.
  bool enable_openmetrics = true;
  // Write OpenMetrics `_created` samples (client_golang's EnableOpenMetricsTextCreatedSamples).
  bool emit_created = false;
  // Never gzip, whatever Accept-Encoding says.
  bool disable_compression = false;
  // gzip level, 1 (fastest) to 9. Scrape bodies are repetitive: level 1 already shrinks them
  // about tenfold at a fraction of the CPU of level 6.
  int gzip_level = 1;
  // Register the handler's own metrics (promhttp_metric_handler_*) in `self_metrics_registry`,
  // or, when that is null, in the first served registry (the default registry when none given).
  // Reuses them when they are already registered there, so several handlers can share them.
  bool self_metrics = true;
  metrics::registerer* self_metrics_registry = nullptr;
  // Where gather and encode errors are logged (one line each). Default: stderr.
  std::function<void(std::string_view)> error_log{};
};

class metrics_handler {
 public:
  // Throws std::invalid_argument for a gzip_level outside 1..9, metrics::error when the
  // self-metrics cannot be registered.
  explicit metrics_handler(metrics_handler_options opts = {});
  ~metrics_handler();
  metrics_handler(const metrics_handler&) = delete;
  metrics_handler& operator=(const metrics_handler&) = delete;

  struct head {
    unsigned status = 200;
    std::string_view content_type;      // exact Content-Type to send
    std::string_view content_encoding;  // "gzip" or empty
  };

  // Where serve() streams a response: start() exactly once, before any write().
  class response_stream {
   public:
    virtual ~response_stream() = default;
    virtual void start(const head& h) = 0;
    virtual void write(std::string_view chunk) = 0;
  };

  // Streams one scrape into `out`, gzip-compressed when `accept_encoding` accepts gzip (q > 0)
  // and compression is enabled, in chunks of about 64 KiB. The head is decided before the first
  // byte is written: the first chunk is held back until it is full or the scrape ends, so small
  // scrapes always get the right status. A gather error after the first chunk went out can no
  // longer become a 500: the body then ends where the error happened, and the error is logged
  // and counted. On 500 and 503 the body is one line of plain text. Does not apply `timeout`
  // (a stream cannot be taken back): use the request overload for that. Thread-safe.
  void serve(std::string_view accept, std::string_view accept_encoding, response_stream& out) const;

  // Serves a whole request into a buffered response (with Content-Type, Content-Encoding and
  // Vary headers), applying every option, the timeout included. Thread-safe.
  response serve(const request& req) const;

  // Requests being served now.
  std::size_t in_flight() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// True when an Accept-Encoding header accepts gzip: "gzip" or "*" with q > 0, and gzip not
// refused with q=0. Malformed parts are ignored (identity is always acceptable).
bool accepts_gzip(std::string_view accept_encoding) noexcept;

}  // namespace operant::http
