// operant/metrics/summary.h — a count and sum of observations, and optionally quantiles.
//
// Without objectives (the default) a summary is two per-thread cells, as cheap as a counter. With
// objectives it also feeds a sliding-window quantile estimator (client_golang's semantics: a
// window of max_age split into age_buckets, each estimate within its stated rank error), which
// takes a mutex per observation.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "operant/metrics/collector.h"
#include "operant/metrics/detail/cells.h"
#include "operant/metrics/opts.h"

namespace operant::metrics {

namespace detail {
class quantile_window;
}

class summary {
 public:
  struct config {
    explicit config(const metric_opts& opts);
    std::vector<objective> objectives;  // sorted by quantile
    std::chrono::nanoseconds max_age;
    unsigned age_buckets;
    unsigned buffer_cap;
  };
  static constexpr metric_type type = metric_type::summary;

  explicit summary(const config& c);
  ~summary();
  summary(const summary&) = delete;
  summary& operator=(const summary&) = delete;

  void observe(double v) {
    detail::cell* c = detail::cell_at(slot_);
    detail::cell_add(c, 1);
    detail::cell_add_double(c + 1, v);
    if (window_ != nullptr) observe_quantiles(v);
  }

  std::uint64_t count() const;
  double sum() const;
  // Current quantile estimates, one per objective (NaN when the window is empty).
  std::vector<quantile_value> quantiles() const;
  double created() const noexcept { return created_; }

  void collect(label_values values, const config&, const detail::cell_reader& r,
               metric_writer& out) const;
  // Starts loading this series' cells for a collect() shortly after (a cache hint).
  void prefetch(const detail::cell_reader& r) const noexcept { r.prefetch(slot_, 2); }

 private:
  void observe_quantiles(double v);
  std::uint32_t slot_;  // [slot_] count, [slot_ + 1] sum (double)
  double created_;
  const config* config_;
  std::unique_ptr<detail::quantile_window> window_;
};

// An info metric: its labels are the information and its value is always 1 (OpenMetrics info;
// exposed as a gauge named <name>_info in text 0.0.4). Typically used through a family:
//   new_info({.name = "build", .help = "...", .label_names = {"version"}}).labels("1.2.3");
class info {
 public:
  struct config {
    explicit config(const metric_opts& opts);
  };
  static constexpr metric_type type = metric_type::info;
  explicit info(const config&) noexcept {}
  void collect(label_values values, const config&, const detail::cell_reader&,
               metric_writer& out) const {
    out.gauge(values, 1);
  }
};

}  // namespace operant::metrics
