// operant/metrics/collector.h — how values leave the metrics and reach an encoder.
//
// Collection is push-based and streaming: a collector writes its families, one at a time, into a
// metric_writer. Encoders (text 0.0.4, OpenMetrics), the test utilities and registry merging are
// all metric_writers, so a scrape of 100k series builds no per-series strings and no intermediate
// copy of the data. Every view passed to a writer is valid only for the duration of the call.
//
// Writing your own collector (client_golang's Collector): derive from `collector`, return the
// families you will produce from describe(), and in collect() call begin_family / one sample
// function per series / end_family for each of them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "operant/metrics/types.h"

namespace operant::metrics {

// Values of one histogram series, as the writer sees them. Buckets are cumulative and monotonic;
// cumulative_counts has upper_bounds.size() + 1 entries, the last being the implicit +Inf bucket,
// always equal to `count`.
struct histogram_sample {
  std::span<const double> upper_bounds{};          // ascending, without +Inf
  std::span<const std::uint64_t> cumulative_counts{}; // upper_bounds.size() + 1 entries
  double sum = 0;
  std::uint64_t count = 0;
  double created = 0;  // Unix seconds the series started; 0 = unknown.
  // One entry per bucket (size() == cumulative_counts.size()) or empty; nullptr = no exemplar.
  std::span<const exemplar* const> exemplars{};
};

struct quantile_value {
  double quantile;  // in [0, 1]
  double value;     // NaN when no observation falls in the window
};

struct summary_sample {
  std::uint64_t count = 0;
  double sum = 0;
  std::span<const quantile_value> quantiles{};  // ascending by quantile; may be empty
  double created = 0;
};

// The label values of one series, in the order of the family's label_names.
using label_values = std::span<const std::string_view>;

// Receives families and their series. Calls come in the order begin_family, any number of sample
// calls whose kind matches the family's type, end_family. `values` always has exactly
// desc.label_names.size() entries. Consecutive families with the same name are parts of one family
// (collected from collectors that differ in constant labels); writers expose its metadata once.
class metric_writer {
 public:
  virtual ~metric_writer() = default;
  virtual void begin_family(const family_desc& desc) = 0;
  // counter: value is the running total. `created` in Unix seconds, 0 = unknown.
  virtual void counter(label_values values, double value, double created, const exemplar* ex) = 0;
  // gauge, unknown and info (info's value is always 1).
  virtual void gauge(label_values values, double value) = 0;
  virtual void histogram(label_values values, const histogram_sample& h) = 0;
  virtual void summary(label_values values, const summary_sample& s) = 0;
  virtual void end_family() = 0;
};

// Something that owns metrics and can write their current values.
class collector {
 public:
  virtual ~collector() = default;
  // The families collect() writes, validated. A collector whose families are not known in advance
  // returns an empty span ("unchecked", as in client_golang); its output is checked at gather time.
  // The span stays valid for the collector's lifetime.
  virtual std::span<const family_desc> describe() const = 0;
  // Writes the current value of every series. Must be safe to call concurrently with updates of
  // the metrics and with other collect() calls. Each family is written at most once.
  virtual void collect(metric_writer& out) const = 0;
};

// Where collectors are registered (client_golang's Registerer).
class registerer {
 public:
  virtual ~registerer() = default;
  // Registers `c`. Throws error if a family it describes is invalid, already registered with the
  // same name and constant label values, or conflicts (same name, different type, help or label
  // names) with a family already registered. Throws already_registered_error if `c` itself is.
  virtual void register_collector(std::shared_ptr<collector> c) = 0;
  // Unregisters `c`; returns false if it was not registered here.
  virtual bool unregister(const collector& c) = 0;
};

// Something a scrape can read (client_golang's Gatherer).
class gatherer {
 public:
  virtual ~gatherer() = default;
  // Writes every family, sorted by name; families of the same name from different collectors are
  // merged into one. Throws error if collected data is inconsistent (a family seen with two types
  // or help strings, a series written twice); the writer has then seen a partial exposition.
  virtual void gather(metric_writer& out) const = 0;
};

class already_registered_error : public error {
 public:
  already_registered_error(std::string what, std::shared_ptr<collector> existing)
      : error(std::move(what)), existing_(std::move(existing)) {}
  const std::shared_ptr<collector>& existing() const noexcept { return existing_; }

 private:
  std::shared_ptr<collector> existing_;
};

}  // namespace operant::metrics
