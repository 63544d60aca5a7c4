#include "operant/metrics/snapshot.h"

namespace operant::metrics {

void snapshot_writer::begin_family(const family_desc& desc) { families_.push_back({desc, {}}); }

series_snapshot& snapshot_writer::add(label_values values) {
  series_snapshot& s = families_.back().series.emplace_back();
  s.values.assign(values.begin(), values.end());
  return s;
}

void snapshot_writer::counter(label_values values, double value, double created, const exemplar* ex) {
  series_snapshot& s = add(values);
  s.value = value;
  s.created = created;
  if (ex != nullptr) s.ex = *ex;
}

void snapshot_writer::gauge(label_values values, double value) { add(values).value = value; }

void snapshot_writer::histogram(label_values values, const histogram_sample& h) {
  series_snapshot& s = add(values);
  s.upper_bounds.assign(h.upper_bounds.begin(), h.upper_bounds.end());
  s.cumulative_counts.assign(h.cumulative_counts.begin(), h.cumulative_counts.end());
  s.sum = h.sum;
  s.count = h.count;
  s.created = h.created;
  for (const exemplar* e : h.exemplars) {
    s.exemplars.push_back(e != nullptr ? std::optional<exemplar>(*e) : std::nullopt);
  }
}

void snapshot_writer::summary(label_values values, const summary_sample& s) {
  series_snapshot& r = add(values);
  r.count = s.count;
  r.sum = s.sum;
  r.quantiles.assign(s.quantiles.begin(), s.quantiles.end());
  r.created = s.created;
}

void replay(const family_snapshot& f, metric_writer& out) {
  out.begin_family(f.desc);
  std::vector<std::string_view> values;
  std::vector<const exemplar*> ex;
  for (const series_snapshot& s : f.series) {
    values.assign(s.values.begin(), s.values.end());
    switch (f.desc.type) {
      case metric_type::counter:
        out.counter(values, s.value, s.created, s.ex ? &*s.ex : nullptr);
        break;
      case metric_type::histogram: {
        histogram_sample h;
        h.upper_bounds = s.upper_bounds;
        h.cumulative_counts = s.cumulative_counts;
        h.sum = s.sum;
        h.count = s.count;
        h.created = s.created;
        ex.clear();
        for (const auto& e : s.exemplars) ex.push_back(e ? &*e : nullptr);
        h.exemplars = ex;
        out.histogram(values, h);
        break;
      }
      case metric_type::summary: {
        summary_sample r;
        r.count = s.count;
        r.sum = s.sum;
        r.quantiles = s.quantiles;
        r.created = s.created;
        out.summary(values, r);
        break;
      }
      default:
        out.gauge(values, s.value);
    }
  }
  out.end_family();
}

std::vector<family_snapshot> snapshot(const collector& c) {
  snapshot_writer w;
  c.collect(w);
  return std::move(w.families());
}

std::vector<family_snapshot> snapshot(const gatherer& g) {
  snapshot_writer w;
  g.gather(w);
  return std::move(w.families());
}

}  // namespace operant::metrics
