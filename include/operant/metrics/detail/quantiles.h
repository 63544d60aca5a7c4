// operant/metrics/detail/quantiles.h — the streaming quantile estimator behind summaries.
//
// A quantile_window estimates a fixed set of quantiles ("objectives") over the observations of a
// sliding time window, in bounded memory, the way client_golang's Summary does:
//
//  * Observations are appended to a preallocated buffer. When the buffer is full, or when a query
//    comes, or when the buffer's time slot has passed, the buffer is sorted and merged into every
//    one of `age_buckets` streams.
//  * Each stream is a CKMS "targeted quantiles" summary (Cormode, Korn, Muthukrishnan,
//    Srivastava, "Effective Computation of Biased Quantiles over Data Streams", ICDE 2005), as in
//    beorn7/perks' quantile.NewTargeted: a sorted list of (value, g, delta) tuples compressed
//    under the invariant g + delta <= f(r, n), where r is the rank before the tuple and n the
//    number of values in the stream, and
//        f(r, n) = min over objectives (q, e) of   2·e·r/q          if r >= q·n
//                                                  2·e·(n−r)/(1−q)  otherwise.
//  * One stream, the "head", answers queries. Every max_age/age_buckets the head is reset and the
//    next stream becomes head (several times in a row after a long idle period), exactly like
//    summary.go's swapBufs/maybeRotateStreams. Since every stream receives every observation but
//    streams were last reset at staggered times, the head holds the observations of the last
//    max_age − max_age/age_buckets to max_age.
//
// Which observations a query sees: an observation made at time t is seen by every query at a
// time `now` with now <= t + max_age − max_age/age_buckets, and by no query with now > t + max_age
// (the exact cut-off in between depends on the phase of the age-bucket clock, which starts at
// construction).
//
// Accuracy: for an objective (q, e) over a window of n observations, the returned value v is an
// observation of the window whose rank (1-based position in the sorted window; any position
// among equal values) is within e·n, plus rounding of 1, of q·n. The objectives q = 0 and q = 1
// are answered exactly (the minimum and the maximum of the window) and put no load on the
// invariant. An objective with e = 0 makes its streams exact and their memory unbounded.
//
// Differences from client_golang, on purpose:
//  * NaN observations are ignored by the streams (a summary still counts them and adds them to its
//    sum; that is the caller's business). client_golang inserts NaN into perks, where every
//    comparison with it is false, so it lands anywhere in the list that must stay sorted.
//  * ±Inf are ordinary values: they sort below/above every finite value and are returned as such.
//  * perks' invariant only bounds the rank error by e·n·(1 + e/(1−q)) (reverse-sorted input
//    exceeds e·n in practice). Each objective's term in f uses e' = e·(1−q)/(1−q+e) instead of e,
//    which makes the bound above hold. Objectives with q = 0 or q = 1 have no term in f.
//  * A query picks, among the tuples of the head stream, the one whose rank bounds are closest to
//    q·n, rather than perks' first-fit scan; this never answers worse. New tuples get the tight
//    GK-style delta of their successor (g + delta − 1) instead of floor(f(r, n)) − 1. The minimum
//    is never merged away.
//  * The buffer is flushed synchronously under the one internal mutex (client_golang hands the
//    flush to a goroutine); a query therefore always sees every earlier observe().
//
// Cost: observe() is O(1) plus, once per buffer_cap observations, a flush that sorts the buffer
// (O(b log b)) and merges it into each of the age_buckets streams (O(b + L) each, L being the
// stream's tuple count, which for the CKMS invariant grows like O((1/e)·log(e·n))). Amortised per
// observation that is O(log b + age_buckets · (1 + L/b)). No allocation happens in steady state:
// the buffer is preallocated and the streams reuse their vectors' capacity.
//
// Thread safety: all member functions may be called concurrently; one internal mutex serialises
// them. Time points passed by concurrent callers may arrive slightly out of order; a `now` earlier
// than one already seen simply rotates nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace operant::metrics::detail {

// A quantile to estimate and the rank error tolerated, as a fraction of the window's count:
// {0.99, 0.001} asks for the 99th percentile with a rank error of at most ±0.001·n.
struct objective {
  double quantile;  // in [0, 1]
  double error;     // in [0, 1]
};

class quantile_window {
 public:
  using clock = std::chrono::steady_clock;

  // Creates an empty window. `objectives` must be sorted ascending by quantile, each quantile and
  // error in [0, 1] (the summary validates them for the user; checked here again). The window
  // covers the last `max_age`, split into `age_buckets` streams rotated every
  // max_age/age_buckets, starting at `now`. `buffer_cap` observations are buffered between
  // flushes. client_golang's defaults: max_age 10 min, age_buckets 5, buffer_cap 500.
  //
  // Throws operant::metrics::error if an objective is out of range or out of order, if
  // age_buckets or buffer_cap is 0, or if max_age/age_buckets is not a positive duration.
  quantile_window(std::vector<objective> objectives, clock::duration max_age, unsigned age_buckets,
                  std::size_t buffer_cap, clock::time_point now);

  quantile_window(const quantile_window&) = delete;
  quantile_window& operator=(const quantile_window&) = delete;

  // Records `v` as observed at `now`. NaN is ignored (see above). Allocates only while the
  // streams grow towards their steady-state size (and may then throw std::bad_alloc).
  void observe(double v, clock::time_point now);

  // Writes the estimate of objectives[i].quantile over the window ending at `now` to out[i]: NaN
  // for every objective if the window holds no observation. Flushes the buffer and rotates the
  // streams as needed. Requires out.size() == objective_count(); throws operant::metrics::error
  // otherwise (out is then untouched).
  void query(clock::time_point now, std::span<double> out);

  // The number of objectives given to the constructor.
  std::size_t objective_count() const noexcept;

 private:
  // One CKMS summary. Not synchronised; the window's mutex guards it.
  struct sample {
    double value;
    std::uint64_t g;      // rank(this) − rank(predecessor), lower bounds
    std::uint64_t delta;  // rank(this) upper bound − lower bound
  };
  struct stream {
    std::vector<sample> tuples;   // ascending by value; tuples[0] is the exact minimum
    std::vector<sample> scratch;  // merge target; swapped with tuples, keeps its capacity
    std::uint64_t n = 0;          // observations held
  };

  // The allowed g + delta for a tuple preceded by rank r in a stream of n values (+inf when no
  // objective strictly inside (0, 1) exists).
  double invariant(double r, double n) const noexcept;
  // Merges the sorted buffer into s and compresses it.
  void insert_sorted(stream& s) const;
  void compress(stream& s) const;
  // The estimate of quantile q from a non-empty stream.
  static double query_stream(const stream& s, double q) noexcept;
  // Moves the buffer into every stream and rotates the head as of `now`. Needs mu_.
  void flush_locked(clock::time_point now);

  std::vector<objective> objectives_;  // as given
  std::vector<objective> targets_;     // those with 0 < quantile < 1, error tightened (see .cpp)
  clock::duration stream_duration_;    // max_age / age_buckets

  std::mutex mu_;
  std::vector<double> buffer_;        // capacity buffer_cap_, reserved at construction
  std::size_t buffer_cap_;
  clock::time_point buffer_expiry_;   // end of the time slot the buffered values belong to
  std::vector<stream> streams_;       // age_buckets of them
  std::size_t head_ = 0;              // index of the stream that answers queries
  clock::time_point head_expiry_;     // when the head is reset and the next stream takes over
};

}  // namespace operant::metrics::detail
