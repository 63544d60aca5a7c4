// Counter, gauge, histogram, summary and info: construction, slow paths and collection.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>

#include "operant/metrics/counter.h"
#include "operant/metrics/detail/quantiles.h"
#include "operant/metrics/gauge.h"
#include "operant/metrics/histogram.h"
#include "operant/metrics/summary.h"

namespace operant::metrics {

namespace {

double unix_now() noexcept {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

namespace detail {
exemplar make_exemplar(double value, labels l) {
  validate_exemplar_labels(l);
  return exemplar{std::move(l), value, unix_now(), true};
}
}  // namespace detail

// ---- buckets ------------------------------------------------------------------------------------

std::vector<double> default_buckets() { return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; }

std::vector<double> linear_buckets(double start, double width, int count) {
  if (count < 1) throw error("linear_buckets needs a positive count, got " + std::to_string(count));
  if (!(width > 0)) throw error("linear_buckets needs a positive width, got " + number(width));
  std::vector<double> b(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) b[static_cast<std::size_t>(i)] = start + width * i;
  return b;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  if (count < 1) throw error("exponential_buckets needs a positive count, got " + std::to_string(count));
  if (!(start > 0)) throw error("exponential_buckets needs a positive start, got " + number(start));
  if (!(factor > 1)) throw error("exponential_buckets needs a factor > 1, got " + number(factor));
  std::vector<double> b(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    b[static_cast<std::size_t>(i)] = start;
    start *= factor;
  }
  return b;
}

std::vector<double> exponential_buckets_range(double min, double max, int count) {
  if (count < 2) throw error("exponential_buckets_range needs count >= 2, got " + std::to_string(count));
  if (!(min > 0)) throw error("exponential_buckets_range needs min > 0, got " + number(min));
  if (!(max > min)) throw error("exponential_buckets_range needs max > min, got " + number(max));
  const double factor = std::pow(max / min, 1.0 / (count - 1));
  std::vector<double> b(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) b[static_cast<std::size_t>(i)] = min * std::pow(factor, i);
  b.back() = max;
  return b;
}

// ---- counter ------------------------------------------------------------------------------------

counter::config::config(const metric_opts&) {}

counter::counter(const config&)
    : slot_(detail::allocate_cells(2, 1)), created_(unix_now()) {}

counter::~counter() { detail::free_cells(slot_, 2); }

void counter::add_slow(double v) {
  if (!(v >= 0)) {
    throw error("counter cannot be increased by " + number(v) + ": expected a non-negative amount");
  }
  detail::cell_add_double(detail::cell_at(slot_ + 1), v);
}

void counter::add_with_exemplar(double v, labels exemplar_labels) {
  exemplar e = detail::make_exemplar(v, std::move(exemplar_labels));
  add(v);
  exemplar_.get(1).set(0, std::move(e));
}

double counter::value() const {
  detail::cell_reader r;
  return static_cast<double>(r.u64(slot_)) + r.f64(slot_ + 1);
}

void counter::collect(label_values values, const config&, const detail::cell_reader& r,
                      metric_writer& out) const {
  std::uint64_t whole = 0;
  double fraction = 0;
  r.u64_f64(slot_, whole, fraction);
  const double v = static_cast<double>(whole) + fraction;
  const detail::exemplar_store* store = exemplar_.find();
  if (store == nullptr) {
    out.counter(values, v, created_, nullptr);
    return;
  }
  std::vector<std::optional<exemplar>> ex;
  store->copy(ex);
  out.counter(values, v, created_, ex[0] ? &*ex[0] : nullptr);
}

// ---- gauge --------------------------------------------------------------------------------------

gauge::config::config(const metric_opts&) {}

void gauge::set_to_current_time() noexcept { set(unix_now()); }

// ---- histogram ----------------------------------------------------------------------------------

histogram::config::config(const metric_opts& opts) {
  bounds = opts.buckets.empty() ? default_buckets() : opts.buckets;
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      throw error("histogram " + opts.name + ": bucket bound " + number(bounds[i]) +
                  " at index " + std::to_string(i) + " is not finite (only a last +Inf is allowed)");
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      throw error("histogram " + opts.name + ": bucket bounds must be strictly increasing, but " +
                  number(bounds[i]) + " at index " + std::to_string(i) + " follows " +
                  number(bounds[i - 1]));
    }
  }
  search = detail::search_bounds(bounds);
  if (bounds.size() + 2 > detail::page_cells) {
    throw error("histogram " + opts.name + " has " + std::to_string(bounds.size()) +
                " buckets; at most " + std::to_string(detail::page_cells - 2) + " are supported");
  }
}

histogram::histogram(const config& c)
    : slot_(detail::allocate_cells(static_cast<std::uint32_t>(c.bounds.size() + 2),
                                   static_cast<std::uint32_t>(c.bounds.size() + 1))),
      nbounds_(static_cast<std::uint32_t>(c.bounds.size())),
      search_(c.search.data()),
      config_(&c),
      created_(unix_now()) {}

histogram::~histogram() { detail::free_cells(slot_, nbounds_ + 2); }

std::vector<double> detail::search_bounds(std::span<const double> bounds) {
  std::vector<double> search(std::max<std::size_t>(16, std::bit_ceil(bounds.size() + 1)),
                             std::numeric_limits<double>::infinity());
  std::copy(bounds.begin(), bounds.end(), search.begin());
  return search;
}

std::uint32_t detail::find_bucket_large(const double* search, std::uint32_t nbounds,
                                        double v) noexcept {
  // Branch-free binary search over the power-of-two, +Inf-padded bounds (see config::config).
  std::uint32_t i = 0;
  for (std::uint32_t step = std::bit_ceil(nbounds + 1) / 2; step != 0; step >>= 1) {
    i += search[i + step - 1] < v ? step : 0;
  }
  return v == v ? i : nbounds;
}

void histogram::observe_with_exemplar(double v, labels exemplar_labels) {
  exemplar e = detail::make_exemplar(v, std::move(exemplar_labels));
  observe(v);
  exemplars_.get(nbounds_ + 1).set(find_bucket(v), std::move(e));
}

std::uint64_t histogram::count() const {
  const auto c = cumulative_counts();
  return c.back();
}

double histogram::sum() const {
  detail::cell_reader r;
  return r.f64(slot_ + nbounds_ + 1);
}

std::vector<std::uint64_t> histogram::cumulative_counts() const {
  std::vector<std::uint64_t> c(nbounds_ + 1);
  {
    detail::cell_reader r;
    r.u64_range(slot_, nbounds_ + 1, c.data());
  }
  for (std::size_t i = 1; i < c.size(); ++i) c[i] += c[i - 1];
  return c;
}

void histogram::collect(label_values values, const config&, const detail::cell_reader& r,
                        metric_writer& out) const {
  constexpr std::size_t small = 64;
  std::uint64_t stack_counts[small];
  std::vector<std::uint64_t> heap_counts;
  std::uint64_t* counts = stack_counts;
  if (nbounds_ + 1 > small) {
    heap_counts.resize(nbounds_ + 1);
    counts = heap_counts.data();
  }
  r.u64_range(slot_, nbounds_ + 1, counts);
  for (std::uint32_t i = 1; i <= nbounds_; ++i) counts[i] += counts[i - 1];
  histogram_sample h;
  h.upper_bounds = config_->bounds;
  h.cumulative_counts = std::span<const std::uint64_t>(counts, nbounds_ + 1);
  h.sum = r.f64(slot_ + nbounds_ + 1);
  h.count = counts[nbounds_];
  h.created = created_;
  std::vector<std::optional<exemplar>> ex;
  std::vector<const exemplar*> ex_ptrs;
  if (const detail::exemplar_store* store = exemplars_.find()) {
    store->copy(ex);
    ex_ptrs.resize(ex.size());
    for (std::size_t i = 0; i < ex.size(); ++i) ex_ptrs[i] = ex[i] ? &*ex[i] : nullptr;
    h.exemplars = ex_ptrs;
  }
  out.histogram(values, h);
}

// ---- summary ------------------------------------------------------------------------------------

summary::config::config(const metric_opts& opts)
    : objectives(opts.objectives),
      max_age(opts.max_age),
      age_buckets(opts.age_buckets),
      buffer_cap(opts.buffer_cap) {
  std::sort(objectives.begin(), objectives.end(),
            [](const objective& a, const objective& b) { return a.quantile < b.quantile; });
  for (std::size_t i = 0; i < objectives.size(); ++i) {
    const objective& o = objectives[i];
    if (!(o.quantile >= 0 && o.quantile <= 1)) {
      throw error("summary " + opts.name + ": quantile " + number(o.quantile) +
                  " is outside [0, 1]");
    }
    if (!(o.error >= 0 && o.error <= 1)) {
      throw error("summary " + opts.name + ": error " + number(o.error) + " for quantile " +
                  number(o.quantile) + " is outside [0, 1]");
    }
    if (i > 0 && objectives[i - 1].quantile == o.quantile) {
      throw error("summary " + opts.name + ": quantile " + number(o.quantile) + " given twice");
    }
  }
  if (!objectives.empty()) {
    if (max_age <= std::chrono::nanoseconds::zero()) {
      throw error("summary " + opts.name + ": max_age must be positive");
    }
    if (age_buckets == 0) throw error("summary " + opts.name + ": age_buckets must be at least 1");
    if (buffer_cap == 0) throw error("summary " + opts.name + ": buffer_cap must be at least 1");
  }
}

summary::summary(const config& c)
    : slot_(detail::allocate_cells(2, 1)), created_(unix_now()), config_(&c) {
  if (!c.objectives.empty()) {
    std::vector<detail::objective> objs;
    objs.reserve(c.objectives.size());
    for (const objective& o : c.objectives) objs.push_back({o.quantile, o.error});
    window_ = std::make_unique<detail::quantile_window>(
        std::move(objs), std::chrono::duration_cast<detail::quantile_window::clock::duration>(c.max_age),
        c.age_buckets, c.buffer_cap, detail::quantile_window::clock::now());
  }
}

summary::~summary() { detail::free_cells(slot_, 2); }

void summary::observe_quantiles(double v) { window_->observe(v, detail::quantile_window::clock::now()); }

std::uint64_t summary::count() const {
  detail::cell_reader r;
  return r.u64(slot_);
}

double summary::sum() const {
  detail::cell_reader r;
  return r.f64(slot_ + 1);
}

std::vector<quantile_value> summary::quantiles() const {
  std::vector<quantile_value> q(config_->objectives.size());
  if (window_ == nullptr) return q;
  std::vector<double> v(q.size());
  window_->query(detail::quantile_window::clock::now(), v);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = {config_->objectives[i].quantile, v[i]};
  return q;
}

void summary::collect(label_values values, const config&, const detail::cell_reader& r,
                      metric_writer& out) const {
  const std::vector<quantile_value> q = quantiles();
  summary_sample s;
  s.count = r.u64(slot_);
  s.sum = r.f64(slot_ + 1);
  s.quantiles = q;
  s.created = created_;
  out.summary(values, s);
}

info::config::config(const metric_opts&) {}

}  // namespace operant::metrics
