// operant/metrics/counter.h — a monotonically increasing total.
//
// inc() and add() cost a load and a store to a cell that only the calling thread writes (see
// detail/cells.h): no lock prefix, no shared cache line. Whole-number increments are kept as
// integers (exact at any size), fractional ones as doubles; a scrape reads their sum.
#pragma once

#include <cstdint>

#include "operant/metrics/collector.h"
#include "operant/metrics/detail/cells.h"
#include "operant/metrics/detail/exemplars.h"
#include "operant/metrics/opts.h"

namespace operant::metrics {

class counter {
 public:
  struct config {
    explicit config(const metric_opts& opts);
  };
  static constexpr metric_type type = metric_type::counter;

  explicit counter(const config&);
  ~counter();
  counter(const counter&) = delete;
  counter& operator=(const counter&) = delete;

  // Adds 1.
  void inc() noexcept { detail::cell_add(detail::cell_at(slot_), 1); }
  // Adds v. Throws error if v is negative or NaN (a counter never goes down).
  void add(double v) {
    if (v >= 0 && v < 9007199254740992.0 /* 2^53 */) {
      const auto whole = static_cast<std::uint64_t>(v);
      if (static_cast<double>(whole) == v) {
        detail::cell_add(detail::cell_at(slot_), whole);
        return;
      }
    }
    add_slow(v);
  }
  // Adds v and records an exemplar (e.g. {{"trace_id", "abc"}}) stamped with the current time.
  // Throws error for a bad v or invalid exemplar labels (more than 128 UTF-8 code points in all).
  void add_with_exemplar(double v, labels exemplar_labels);

  // The current total, summed over all threads. For tests and tooling, not hot paths.
  double value() const;
  // Unix seconds at which the counter was created (OpenMetrics _created).
  double created() const noexcept { return created_; }

  void collect(label_values values, const config&, const detail::cell_reader& r,
               metric_writer& out) const;
  // Starts loading this series' cells for a collect() shortly after (a cache hint).
  void prefetch(const detail::cell_reader& r) const noexcept { r.prefetch(slot_, 2); }

 private:
  void add_slow(double v);
  std::uint32_t slot_;  // [slot_] whole increments, [slot_ + 1] fractional ones (double)
  double created_;
  detail::exemplar_slot exemplar_;
};

}  // namespace operant::metrics
