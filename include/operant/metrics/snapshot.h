// operant/metrics/snapshot.h — a collection captured as values, to inspect or replay later.
//
// The scrape path never builds these (it streams); they serve collectors whose families are not
// known in advance (the registry buffers them to sort and check), the test utilities, and users
// who want to look at values in code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "operant/metrics/collector.h"

namespace operant::metrics {

struct series_snapshot {
  std::vector<std::string> values;  // label values in the family's label-name order
  double value = 0;                 // counter, gauge, unknown, info
  double created = 0;
  std::optional<exemplar> ex;       // counter
  std::vector<double> upper_bounds;               // histogram
  std::vector<std::uint64_t> cumulative_counts;   // histogram
  std::vector<std::optional<exemplar>> exemplars; // histogram, per bucket (may be empty)
  double sum = 0;                                  // histogram, summary
  std::uint64_t count = 0;                         // histogram, summary
  std::vector<quantile_value> quantiles;           // summary
};

struct family_snapshot {
  family_desc desc;
  std::vector<series_snapshot> series;
};

// A metric_writer that records everything written to it.
class snapshot_writer final : public metric_writer {
 public:
  void begin_family(const family_desc& desc) override;
  void counter(label_values values, double value, double created, const exemplar* ex) override;
  void gauge(label_values values, double value) override;
  void histogram(label_values values, const histogram_sample& h) override;
  void summary(label_values values, const summary_sample& s) override;
  void end_family() override {}

  std::vector<family_snapshot>& families() noexcept { return families_; }

 private:
  series_snapshot& add(label_values values);
  std::vector<family_snapshot> families_;
};

// Writes one recorded family to `out` exactly as it was collected.
void replay(const family_snapshot& f, metric_writer& out);

// Collects `c` (or gathers `g`) into snapshots.
std::vector<family_snapshot> snapshot(const collector& c);
std::vector<family_snapshot> snapshot(const gatherer& g);

}  // namespace operant::metrics
