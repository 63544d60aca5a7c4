// operant/metrics/histogram.h — observations counted in cumulative buckets.
//
// observe() finds the bucket with a branch-free scan and updates two cells that only the calling
// thread writes: the bucket's count and the sum. The total count is not stored: a scrape derives
// it, and the cumulative buckets, from the per-bucket counts it reads, so every scrape sees a
// consistent histogram (count == +Inf bucket, buckets monotonic) while writers run, without the
// hot/cold flipping client_golang needs and without ever making an observer wait.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "operant/metrics/collector.h"
#include "operant/metrics/detail/cells.h"
#include "operant/metrics/detail/exemplars.h"
#include "operant/metrics/opts.h"

namespace operant::metrics {

namespace detail {

std::uint32_t find_bucket_large(const double* search, std::uint32_t nbounds, double v) noexcept;

// `bounds` (finite, strictly increasing) padded with +Inf to a power of two > bounds.size(), at
// least 16: the `search` array of find_bucket.
std::vector<double> search_bounds(std::span<const double> bounds);

// The bucket of v: the index of the first of the `nbounds` bounds that is >= v, or nbounds (+Inf)
// when none is or v is NaN. `search` is histogram::config::search (the bounds padded with +Inf to
// a power of two >= 16). Branch-free; for other hot paths that keep their own bucket counts.
inline std::uint32_t find_bucket(const double* search, std::uint32_t nbounds, double v) noexcept {
  if (nbounds >= 16) [[unlikely]] return find_bucket_large(search, nbounds, v);
  // Up to 15 bounds (the default 11): count the 16 +Inf-padded bounds below v, two at a time
  // with independent vector compares (SSE2/NEON): no branches, no dependent chain.
  using v2d = double __attribute__((vector_size(16)));
  using v2l = long long __attribute__((vector_size(16)));
  const v2d vv = {v, v};
  v2l acc = {0, 0};
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    v2d x;
    std::memcpy(&x, search + 2 * k, sizeof x);
    acc += x < vv;  // -1 where the bound is below v
  }
  const auto i = static_cast<std::uint32_t>(-(acc[0] + acc[1]));
  return v == v ? i : nbounds;
}

}  // namespace detail

class histogram {
 public:
  // The family-wide bucket layout, validated once.
  struct config {
    explicit config(const metric_opts& opts);
    std::vector<double> bounds;  // finite, strictly increasing; +Inf implied after the last
    // bounds padded with +Inf to a power of two > bounds.size() (at least 16), for
    // detail::find_bucket.
    std::vector<double> search;
  };
  static constexpr metric_type type = metric_type::histogram;

  explicit histogram(const config& c);
  ~histogram();
  histogram(const histogram&) = delete;
  histogram& operator=(const histogram&) = delete;

  // Counts v in the first bucket whose upper bound is >= v; NaN counts in +Inf (and makes the sum
  // NaN), as in client_golang.
  void observe(double v) noexcept {
    const std::uint32_t i = find_bucket(v);
    detail::cell* c = detail::cell_at(slot_);
    detail::cell_add(c + i, 1);
    detail::cell_add_double(c + nbounds_ + 1, v);
  }
  // observe(v) and record an exemplar for v's bucket. Throws error for invalid exemplar labels.
  void observe_with_exemplar(double v, labels exemplar_labels);

  // Observes the seconds elapsed between its construction and destruction (or observe_duration).
  class timer {
   public:
    explicit timer(histogram& h) noexcept : h_(&h), start_(std::chrono::steady_clock::now()) {}
    ~timer() { observe_duration(); }
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    // Observes now and disarms; returns the seconds observed (0 if already observed).
    double observe_duration() noexcept {
      if (h_ == nullptr) return 0;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      h_->observe(s);
      h_ = nullptr;
      return s;
    }

   private:
    histogram* h_;
    std::chrono::steady_clock::time_point start_;
  };
  [[nodiscard]] timer time() noexcept { return timer(*this); }

  // Totals summed over all threads. For tests and tooling, not hot paths.
  std::uint64_t count() const;
  double sum() const;
  // Cumulative counts, bounds().size() + 1 entries (the last is +Inf).
  std::vector<std::uint64_t> cumulative_counts() const;
  const std::vector<double>& bounds() const noexcept { return config_->bounds; }
  double created() const noexcept { return created_; }

  void collect(label_values values, const config&, const detail::cell_reader& r,
               metric_writer& out) const;
  // Starts loading this series' cells for a collect() shortly after (a cache hint).
  void prefetch(const detail::cell_reader& r) const noexcept { r.prefetch(slot_, nbounds_ + 2); }

 private:
  std::uint32_t find_bucket(double v) const noexcept {
    return detail::find_bucket(search_, nbounds_, v);
  }

  std::uint32_t slot_;  // [slot_ + i] count of bucket i (i <= nbounds_), [slot_ + nbounds_ + 1] sum
  std::uint32_t nbounds_;
  const double* search_;  // config_->search.data()
  const config* config_;
  double created_;
  detail::exemplar_slot exemplars_;
};

}  // namespace operant::metrics
