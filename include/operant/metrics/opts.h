// operant/metrics/opts.h — what you say about a metric when you create it.
//
// One options struct serves every metric type (client_golang's Opts, HistogramOpts and SummaryOpts
// in one), so designated initializers read the same everywhere:
//
//   auto& requests = operant::metrics::new_counter({
//       .name = "myapp_http_requests_total",
//       .help = "The total number of times the endpoint was called."});
//
// Fields that belong to one type (buckets, objectives, ...) are rejected with an error when set on
// another, never ignored.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "operant/metrics/types.h"

namespace operant::metrics {

// A summary quantile objective: the quantile to estimate and its allowed rank error, e.g.
// {0.99, 0.001} answers with a value whose rank is within 0.99·n ± 0.001·n.
struct objective {
  double quantile;
  double error;
};

struct metric_opts {
  std::string ns{};                        // default: none. Joined "ns_subsystem_name".
  std::string subsystem{};                 // default: none.
  std::string name{};                      // required; counters should end in "_total".
  std::string help{};                      // required (Prometheus' client guidelines).
  std::string unit{};                      // default: none. OpenMetrics unit; must end the name.
  std::vector<std::string> label_names{};  // default: none (one unlabelled series).
  metrics::labels const_labels{};          // default: none.

  // Histograms only. Upper bounds, strictly increasing, finite; a trailing +Inf is allowed and
  // implied anyway. Empty = default_buckets(): .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
  std::vector<double> buckets{};

  // Summaries only. Empty = count and sum only (the Prometheus default).
  std::vector<objective> objectives{};
  std::chrono::nanoseconds max_age = std::chrono::minutes(10);  // quantile window length
  unsigned age_buckets = 5;                                     // window rotation steps
  unsigned buffer_cap = 500;                                    // observations buffered per flush
};

// Prometheus' default histogram buckets: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
std::vector<double> default_buckets();
// `count` buckets starting at `start`, each `width` wider. Throws error unless count >= 1 and
// width > 0.
std::vector<double> linear_buckets(double start, double width, int count);
// `count` buckets starting at `start` (> 0), each `factor` (> 1) times the previous.
std::vector<double> exponential_buckets(double start, double factor, int count);
// `count` (>= 2) buckets spread exponentially from `min` (> 0) to `max` (> min) inclusive.
std::vector<double> exponential_buckets_range(double min, double max, int count);

}  // namespace operant::metrics
