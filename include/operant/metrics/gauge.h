// operant/metrics/gauge.h — a value that goes up and down.
//
// A gauge is one atomic double: set() overwrites it, so it cannot be split across threads the way
// counters are. set() is a plain store; inc/dec/add/sub a compare-and-swap loop.
#pragma once

#include <atomic>

#include "operant/metrics/collector.h"
#include "operant/metrics/detail/cells.h"
#include "operant/metrics/opts.h"

namespace operant::metrics {

class gauge {
 public:
  struct config {
    explicit config(const metric_opts& opts);
  };
  static constexpr metric_type type = metric_type::gauge;

  explicit gauge(const config&) noexcept {}
  gauge(const gauge&) = delete;
  gauge& operator=(const gauge&) = delete;

  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  void add(double v) noexcept { value_.fetch_add(v, std::memory_order_relaxed); }
  void sub(double v) noexcept { add(-v); }
  // Sets the gauge to the current Unix time in seconds (sub-second precision).
  void set_to_current_time() noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

  void collect(label_values values, const config&, const detail::cell_reader&,
               metric_writer& out) const {
    out.gauge(values, value());
  }

 private:
  std::atomic<double> value_{0};
};

}  // namespace operant::metrics
