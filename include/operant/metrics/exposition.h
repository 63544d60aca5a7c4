// operant/metrics/exposition.h — encoding metrics as Prometheus text 0.0.4 or OpenMetrics 1.0.
//
// Encoding streams: families and series are formatted straight into a buffer that is handed to
// your sink in chunks of about 64 KiB, so a 100k-series scrape builds no string per series and
// never holds the whole body unless you ask for a string.
//
//   std::string body = operant::metrics::encode_to_string(registry, format::openmetrics);
//
//   const negotiation n = negotiate(request_accept_header);   // in an HTTP handler
//   response.set("Content-Type", n.content_type);
//   my_sink sink(response);                                    // an output_sink of yours
//   encode(registry, n.fmt, sink);
#pragma once

#include <string>
#include <string_view>

#include "operant/metrics/collector.h"

namespace operant::metrics {

// OpenMetrics cannot express a few things text 0.0.4 can: negative quantile values, a negative or
// NaN summary _sum, a negative or NaN histogram _sum or negative bucket bounds (then _sum and
// _count both go), and exemplars on counters
// whose name lacks _total (exposed as unknown). Those samples are left out of OpenMetrics output,
// which otherwise would be rejected whole by a conforming parser; text output carries them.
enum class format : unsigned char {
  text,         // Prometheus text 0.0.4
  openmetrics,  // OpenMetrics 1.0.0 text
};

// The result of content negotiation: the format and the exact Content-Type to answer with.
struct negotiation {
  metrics::format format;
  std::string_view content_type;
};

// "text/plain; version=0.0.4; charset=utf-8" or
// "application/openmetrics-text; version=1.0.0; charset=utf-8".
std::string_view content_type(format f) noexcept;

// Picks the highest-weighted format the Accept header allows (q-values honoured; q=0 refuses;
// ties go to the earlier entry). OpenMetrics is chosen for application/openmetrics-text with
// version 1.0.0, 0.0.1 or none (answering with the version asked for); text for text/plain with
// version 0.0.4 or none and for wildcards. Anything else, or a malformed header: text 0.0.4.
negotiation negotiate(std::string_view accept) noexcept;

// Receives encoded bytes.
class output_sink {
 public:
  virtual ~output_sink() = default;
  virtual void write(std::string_view chunk) = 0;
};

struct encode_options {
  // OpenMetrics only: write `_created` samples for counters, histograms and summaries. Off by
  // default as in client_golang, because Prometheus 2.x stores them as separate series.
  bool emit_created = false;
};

// A metric_writer that formats into a sink. Call finish() once after the last family (it writes
// OpenMetrics' "# EOF" and flushes); the destructor does not.
class encoder final : public metric_writer {
 public:
  encoder(format f, output_sink& sink, encode_options opts = {});
  ~encoder() override;
  encoder(const encoder&) = delete;
  encoder& operator=(const encoder&) = delete;

  void begin_family(const family_desc& desc) override;
  void counter(label_values values, double value, double created, const exemplar* ex) override;
  void gauge(label_values values, double value) override;
  void histogram(label_values values, const histogram_sample& h) override;
  void summary(label_values values, const summary_sample& s) override;
  void end_family() override {}
  void finish();

 private:
  struct impl;
  impl* impl_;
};

// Gathers `g` (or collects `c`) and streams it to `sink` in format `f`.
void encode(const gatherer& g, format f, output_sink& sink, encode_options opts = {});
void encode(const collector& c, format f, output_sink& sink, encode_options opts = {});
std::string encode_to_string(const gatherer& g, format f, encode_options opts = {});
std::string encode_to_string(const collector& c, format f, encode_options opts = {});

// Formats v as Go's strconv.FormatFloat(v, 'g', -1, 64) does (shortest round-trip digits; NaN,
// +Inf, -Inf), which is what client_golang writes. Returns the number of chars written to `out`
// (at most 32).
std::size_t format_double(double v, char* out) noexcept;

}  // namespace operant::metrics
