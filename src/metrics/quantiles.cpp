#include "operant/metrics/detail/quantiles.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "operant/metrics/types.h"

namespace operant::metrics::detail {

namespace {

std::string describe(const objective& o) {
  std::ostringstream s;
  s.precision(17);
  s << "{quantile " << o.quantile << ", error " << o.error << "}";
  return s.str();
}

bool in_unit_interval(double x) noexcept { return x >= 0.0 && x <= 1.0; }  // false for NaN

}  // namespace

quantile_window::quantile_window(std::vector<objective> objectives, clock::duration max_age,
                                 unsigned age_buckets, std::size_t buffer_cap,
                                 clock::time_point now)
    : objectives_(std::move(objectives)),
      stream_duration_(age_buckets == 0 ? clock::duration::zero() : max_age / age_buckets),
      buffer_cap_(buffer_cap) {
  for (std::size_t i = 0; i < objectives_.size(); ++i) {
    const objective& o = objectives_[i];
    if (!in_unit_interval(o.quantile) || !in_unit_interval(o.error)) {
      throw error("quantile objective " + describe(o) +
                  ": quantile and error must be in [0, 1]");
    }
    if (i > 0 && o.quantile < objectives_[i - 1].quantile) {
      throw error("quantile objective " + describe(o) + " comes after " +
                  describe(objectives_[i - 1]) + ": objectives must be sorted by quantile");
    }
    // The invariant's term for (q, e) uses e' = e·(1−q)/(1−q+e) <= e. With perks' plain e, the
    // gap between two tuples just below rank q·n may reach f(q·n − e·n, n) = 2·e·n·(1 + e/(1−q))
    // and a query can miss by that factor (measured: 108 for a bound of 100 on reverse-sorted
    // input). With e' that gap is at most 2·e·n, which is what the query needs.
    if (o.quantile > 0.0 && o.quantile < 1.0) {
      targets_.push_back({o.quantile, o.error * (1.0 - o.quantile) / (1.0 - o.quantile + o.error)});
    }
  }
  if (age_buckets == 0) throw error("quantile window: age_buckets must be at least 1, got 0");
  if (buffer_cap == 0) throw error("quantile window: buffer_cap must be at least 1, got 0");
  if (stream_duration_ <= clock::duration::zero()) {
    throw error("quantile window: max_age of " + std::to_string(max_age.count()) +
                " clock ticks split into " + std::to_string(age_buckets) +
                " age buckets gives no positive bucket duration");
  }

  buffer_.reserve(buffer_cap_);
  streams_.resize(age_buckets);
  head_expiry_ = now + stream_duration_;
  buffer_expiry_ = head_expiry_;
}

std::size_t quantile_window::objective_count() const noexcept { return objectives_.size(); }

void quantile_window::observe(double v, clock::time_point now) {
  if (std::isnan(v)) return;
  std::lock_guard lock(mu_);
  // client_golang's Observe: a buffer whose time slot has passed is flushed before v joins it, so
  // the buffer only ever holds values of one slot.
  if (now > buffer_expiry_) flush_locked(now);
  buffer_.push_back(v);  // within the reserved capacity: flushed below when full
  if (buffer_.size() >= buffer_cap_) flush_locked(now);
}

void quantile_window::query(clock::time_point now, std::span<double> out) {
  if (out.size() != objectives_.size()) {
    throw error("quantile window: query needs room for " + std::to_string(objectives_.size()) +
                " estimates, got " + std::to_string(out.size()));
  }
  std::lock_guard lock(mu_);
  flush_locked(now);
  const stream& head = streams_[head_];
  for (std::size_t i = 0; i < objectives_.size(); ++i) {
    out[i] = head.n == 0 ? std::numeric_limits<double>::quiet_NaN()
                         : query_stream(head, objectives_[i].quantile);
  }
}

void quantile_window::flush_locked(clock::time_point now) {
  // Every buffered value goes into every stream (summary.go's flushColdBuf) ...
  if (!buffer_.empty()) {
    std::sort(buffer_.begin(), buffer_.end());
    for (stream& s : streams_) insert_sorted(s);
    buffer_.clear();
  }
  // ... the buffer's time slot moves to the one holding `now` (swapBufs) ...
  if (now > buffer_expiry_) {
    const clock::duration behind = now - buffer_expiry_;
    const auto slots = (behind - clock::duration(1)) / stream_duration_ + 1;  // ceil, behind > 0
    buffer_expiry_ += slots * stream_duration_;
  }
  // ... and the head stream is reset and handed on once per slot passed (maybeRotateStreams).
  // After age_buckets resets every stream is empty, so a long idle period costs no more.
  const auto steps = static_cast<std::uint64_t>((buffer_expiry_ - head_expiry_) / stream_duration_);
  if (steps == 0) return;
  const std::uint64_t count = streams_.size();
  const std::uint64_t resets = std::min(steps, count);
  for (std::uint64_t i = 0; i < resets; ++i) {
    stream& s = streams_[head_];
    s.tuples.clear();
    s.n = 0;
    head_ = (head_ + 1) % streams_.size();
  }
  head_ = static_cast<std::size_t>((head_ + (steps - resets) % count) % count);
  head_expiry_ = buffer_expiry_;
}

double quantile_window::invariant(double r, double n) const noexcept {
  double allowed = std::numeric_limits<double>::infinity();
  for (const objective& t : targets_) {
    const double f = r >= t.quantile * n ? 2.0 * t.error * r / t.quantile
                                         : 2.0 * t.error * (n - r) / (1.0 - t.quantile);
    allowed = std::min(allowed, f);
  }
  return allowed;
}

void quantile_window::insert_sorted(stream& s) const {
  // A two-way merge of the sorted buffer into the tuple list. A new value that becomes the
  // minimum or the maximum has an exact rank (delta 0). Otherwise its rank lies between its
  // predecessor's lower bound + 1 and its successor's upper bound − 1, so it gets
  // delta = g + delta − 1 of the successor: never more than the invariant allowed there.
  std::vector<sample>& out = s.scratch;
  const std::vector<sample>& in = s.tuples;
  out.clear();
  std::size_t i = 0;
  for (const double v : buffer_) {
    while (i < in.size() && in[i].value <= v) out.push_back(in[i++]);
    std::uint64_t delta = 0;
    if (i < in.size() && !out.empty()) delta = in[i].g + in[i].delta - 1;
    out.push_back(sample{v, 1, delta});
  }
  out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(i), in.end());
  s.tuples.swap(s.scratch);
  s.n += buffer_.size();
  compress(s);
}

void quantile_window::compress(stream& s) const {
  // From the top down, merge tuple i into its successor x when the merged tuple still satisfies
  // the invariant at i's rank: g_i + g_x + delta_x <= f(rank before i, n). The last tuple (the
  // maximum) and the first (the minimum) are always kept. Survivors are packed towards the end
  // of the vector in place (write index w >= read index i), then shifted to the front.
  std::vector<sample>& t = s.tuples;
  const std::size_t size = t.size();
  if (size < 3) return;
  const double n = static_cast<double>(s.n);
  std::size_t w = size - 1;
  std::uint64_t rank_before = s.n - t[w].g;
  for (std::size_t i = size - 2; i > 0; --i) {
    const sample c = t[i];
    rank_before -= c.g;
    const std::uint64_t merged = c.g + t[w].g + t[w].delta;
    if (static_cast<double>(merged) <= invariant(static_cast<double>(rank_before), n)) {
      t[w].g += c.g;
    } else {
      --w;
      t[w] = c;
    }
  }
  --w;
  t[w] = t[0];
  t.erase(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(w));
}

double quantile_window::query_stream(const stream& s, double q) noexcept {
  if (q <= 0.0) return s.tuples.front().value;  // the exact minimum
  if (q >= 1.0) return s.tuples.back().value;   // the exact maximum
  // Tuple i's rank lies in [rmin, rmin + delta], rmin being the sum of g up to i. Return the
  // value whose worst-case distance from the target rank q·n is smallest.
  const double target = q * static_cast<double>(s.n);
  double best_error = std::numeric_limits<double>::infinity();
  double best = s.tuples.front().value;
  double rmin = 0;
  for (const sample& c : s.tuples) {
    rmin += static_cast<double>(c.g);
    if (rmin - target >= best_error) break;  // rmin only grows from here
    const double rmax = rmin + static_cast<double>(c.delta);
    const double err = std::max(target - rmin, rmax - target);
    if (err < best_error) {
      best_error = err;
      best = c.value;
    }
  }
  return best;
}

}  // namespace operant::metrics::detail
