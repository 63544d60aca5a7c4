#include "operant/controller/prometheus_recorder.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <stdexcept>

#include "operant/metrics/detail/cells.h"
#include "operant/metrics/family.h"
#include "operant/metrics/histogram.h"

namespace operant::controller {

namespace m = operant::metrics;

namespace {

// One family of the recorder. Labels: controller, and type when by_type.
struct family_spec {
  const char* subsystem;
  const char* name;
  m::metric_type type;
  const char* unit;
  bool by_type;
  const char* help;
};

std::vector<m::family_desc> describe_families(const std::string& prefix,
                                              std::span<const family_spec> specs) {
  std::vector<m::family_desc> descs;
  for (const family_spec& f : specs) {
    m::family_desc d;
    d.name = m::build_fq_name(prefix, f.subsystem, f.name);
    d.help = f.help;
    d.type = f.type;
    d.unit = f.unit;
    d.label_names = {"controller"};
    if (f.by_type) d.label_names.emplace_back("type");
    m::validate_desc(d);
    descs.push_back(std::move(d));
  }
  return descs;
}

constexpr auto gauge = m::metric_type::gauge;
constexpr auto counter = m::metric_type::counter;
constexpr auto histogram = m::metric_type::histogram;

// In the order gauges_collector::collect writes them.
constexpr family_spec gauge_families[] = {
    {"workqueue", "depth", gauge, "", false,
     "Current number of keys queued and ready, per controller."},
    {"workqueue", "unfinished_work_seconds", gauge, "seconds", false,
     "How many seconds of work are in progress and not yet observed by the processed-event "
     "duration. Large values indicate stuck workers."},
    {"workqueue", "longest_running_processor_seconds", gauge, "seconds", false,
     "How many seconds the longest running handler call has been running."},
    {"controller", "active_workers", gauge, "", false,
     "Number of workers currently inside a handler."},
    {"controller", "max_concurrent_reconciles", gauge, "", false, "Number of workers configured."},
};

// In the order events_collector::collect writes them.
constexpr family_spec event_families[] = {
    {"controller", "queued_events_total", counter, "", true,
     "Total number of events queued: add (add, update, resync), delete, and requeue (a failed "
     "key queued again for a retry)."},
    {"controller", "processed_events_total", counter, "", true,
     "Total number of events processed (handler calls), failed or not."},
    {"controller", "processed_event_errors_total", counter, "", true,
     "Total number of events whose processing failed (also those that will be retried)."},
    {"controller", "processed_event_duration_seconds", histogram, "seconds", true,
     "The duration of processing an event (one handler call)."},
    {"workqueue", "queue_duration_seconds", histogram, "seconds", false,
     "How long in seconds a key stays in the workqueue before a worker takes it."},
    {"workqueue", "retries_total", counter, "", false,
     "Total number of retries (failed keys queued again with a rate-limited delay)."},
};

// The gauges, read from each bound controller at scrape time.
class gauges_collector final : public m::collector {
 public:
  explicit gauges_collector(const std::string& prefix)
      : descs_(describe_families(prefix, gauge_families)) {}

  std::span<const m::family_desc> describe() const override { return descs_; }

  void collect(m::metric_writer& out) const override {
    std::vector<std::pair<std::string, controller_stats_snapshot>> snap;
    {
      std::lock_guard lock(mu_);
      snap.reserve(bound_.size());
      for (const auto& [name, stats] : bound_) snap.emplace_back(name, stats->stats());
    }
    auto family = [&](std::size_t i, auto value_of) {
      out.begin_family(descs_[i]);
      for (const auto& [name, s] : snap) {
        const std::string_view v[1] = {name};
        out.gauge(v, value_of(s));
      }
      out.end_family();
    };
    family(0, [](const controller_stats_snapshot& s) { return static_cast<double>(s.depth); });
    family(1, [](const controller_stats_snapshot& s) { return s.unfinished_work_seconds; });
    family(2, [](const controller_stats_snapshot& s) { return s.longest_running_seconds; });
    family(3, [](const controller_stats_snapshot& s) { return static_cast<double>(s.active_workers); });
    family(4, [](const controller_stats_snapshot& s) { return static_cast<double>(s.max_workers); });
  }

  void bind(std::string_view name, const controller_stats& stats) {
    std::lock_guard lock(mu_);
    if (!bound_.emplace(std::string(name), &stats).second) {
      throw std::invalid_argument("prometheus_recorder: a controller named \"" + std::string(name) +
                                  "\" is already bound to this recorder; controller names must "
                                  "be unique to keep their series apart");
    }
  }
  void unbind(const std::string& name) {
    std::lock_guard lock(mu_);
    bound_.erase(name);
  }

 private:
  std::vector<m::family_desc> descs_;
  mutable std::mutex mu_;
  std::map<std::string, const controller_stats*, std::less<>> bound_;
};

std::vector<double> or_default(std::vector<double> b, std::vector<double> def) {
  return b.empty() ? def : b;
}

// The search array (metrics::detail::search_bounds) of bounds in seconds, as whole nanoseconds: a
// duration of d ns is in the first bucket whose bound b has d <= b * 1e9, exactly. A bound within
// a millionth of a nanosecond of a whole number (0.005, 1e-08 even where decimal fractions round)
// is that number; any other is rounded down, as no whole duration lies between.
std::vector<double> search_bounds_ns(const std::vector<double>& seconds) {
  std::vector<double> ns;
  ns.reserve(seconds.size());
  for (double b : seconds) {
    const double x = b * 1e9;
    const double r = std::round(x);
    ns.push_back(std::abs(x - r) <= 1e-6 * std::max(1.0, std::abs(r)) ? r : std::floor(x));
  }
  return m::detail::search_bounds(ns);
}

// The counters and histograms of every bound controller. Each controller name gets one block of
// per-thread cells (detail/cells.h), so a hot-path call finds the calling thread's cells with one
// lookup and updates two or three of them in the same few cache lines; the six families are
// assembled from the blocks at scrape time. Layout of a block (all integers):
//   [0, 3)             queued events, by event_type (the requeue cell is also retries_total)
//   [3, 5)             failed attempts, add and delete
//   [in_queue, +nq+2)  time in queue: nq + 1 bucket counts, then the sum in nanoseconds
//   [duration(t), ...) processing time of type t (add, delete): nd + 1 bucket counts, sum in ns
// Processed events are the duration histogram's count, as every attempt is observed once.
class events_collector final : public m::collector {
 public:
  static constexpr std::uint32_t errors_at = 3;
  static constexpr std::uint32_t in_queue_at = 5;

  events_collector(const std::string& prefix, prometheus_recorder_options opts)
      : duration_cfg_(m::metric_opts{
            .name = m::build_fq_name(prefix, "controller", "processed_event_duration_seconds"),
            .buckets = or_default(std::move(opts.processing_buckets), m::default_buckets())}),
        in_queue_cfg_(m::metric_opts{
            .name = m::build_fq_name(prefix, "workqueue", "queue_duration_seconds"),
            .buckets = or_default(std::move(opts.in_queue_buckets),
                                  m::exponential_buckets(10e-9, 10, 12))}),
        in_queue_ns_(search_bounds_ns(in_queue_cfg_.bounds)),
        duration_ns_(search_bounds_ns(duration_cfg_.bounds)),
        nq_(static_cast<std::uint32_t>(in_queue_cfg_.bounds.size())),
        nd_(static_cast<std::uint32_t>(duration_cfg_.bounds.size())) {
    const std::uint64_t cells = std::uint64_t{in_queue_at} + (nq_ + 2) + 2 * (std::uint64_t{nd_} + 2);
    if (cells > m::detail::page_cells) {
      throw std::invalid_argument(
          "prometheus_recorder: " + std::to_string(nq_) + " in-queue and " + std::to_string(nd_) +
          " processing buckets need " + std::to_string(cells) + " cells per controller; at most " +
          std::to_string(m::detail::page_cells) + " are supported (use fewer buckets)");
    }
    cells_ = static_cast<std::uint32_t>(cells);
    descs_ = describe_families(prefix, event_families);
  }

  ~events_collector() override {
    for (const auto& [name, b] : blocks_) m::detail::free_cells(b.slot, cells_);
  }

  std::span<const m::family_desc> describe() const override { return descs_; }

  // The block of `name`: created, at zero, on the first bind of the name, and kept (so counters
  // continue) when a controller of the same name is bound again.
  std::uint32_t block(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(name);
    if (it == blocks_.end()) {
      const double created =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      it = blocks_.emplace(name, block_info{m::detail::allocate_cells(cells_, m::detail::no_double_cell),
                                            created})
               .first;
    }
    return it->second.slot;
  }

  std::uint32_t duration_at(std::size_t i) const noexcept {
    return in_queue_at + nq_ + 2 + static_cast<std::uint32_t>(i) * (nd_ + 2);
  }
  std::uint32_t in_queue_buckets() const noexcept { return nq_; }
  std::uint32_t duration_buckets() const noexcept { return nd_; }
  // search_bounds_ns of the two histograms.
  const double* in_queue_search() const noexcept { return in_queue_ns_.data(); }
  const double* duration_search() const noexcept { return duration_ns_.data(); }

  void collect(m::metric_writer& out) const override {
    std::vector<std::pair<std::string, block_info>> blocks;
    {
      std::lock_guard lock(mu_);
      blocks.assign(blocks_.begin(), blocks_.end());
    }
    // Every block's cells, summed over threads, read once for all six families.
    m::detail::cell_reader r;
    std::vector<std::uint64_t> cells(blocks.size() * cells_);
    for (std::size_t k = 0; k < blocks.size(); ++k) {
      r.u64_range(blocks[k].second.slot, cells_, cells.data() + k * cells_);
    }
    // Cumulative bucket counts of the histogram at c into `cumulative`; returns its sum in seconds.
    const auto hist = [&](const m::histogram::config& cfg, std::span<const std::uint64_t> c,
                          std::vector<std::uint64_t>& cumulative) {
      const std::size_t n = cfg.bounds.size();
      cumulative.assign(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n + 1));
      for (std::size_t i = 1; i <= n; ++i) cumulative[i] += cumulative[i - 1];
      return static_cast<double>(c[n + 1]) / 1e9;  // correctly rounded: 10000001 ns is 0.010000001
    };
    std::vector<std::uint64_t> cumulative;
    const auto each = [&](std::size_t family, auto&& write) {
      out.begin_family(descs_[family]);
      for (std::size_t k = 0; k < blocks.size(); ++k) {
        write(blocks[k].first, blocks[k].second, std::span(cells).subspan(k * cells_, cells_));
      }
      out.end_family();
    };
    const auto type_name = [](std::size_t t) { return to_string(static_cast<event_type>(t)); };
    each(0, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      for (std::size_t t = 0; t < event_type_count; ++t) {
        const std::string_view lv[2] = {name, type_name(t)};
        out.counter(lv, static_cast<double>(v[t]), b.created, nullptr);
      }
    });
    each(1, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      for (std::size_t t = 0; t < 2; ++t) {
        const std::string_view lv[2] = {name, type_name(t)};
        const auto buckets = v.subspan(duration_at(t), nd_ + 1);  // every attempt is in one
        out.counter(lv, static_cast<double>(std::accumulate(buckets.begin(), buckets.end(),
                                                            std::uint64_t{0})),
                    b.created, nullptr);
      }
    });
    each(2, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      for (std::size_t t = 0; t < 2; ++t) {
        const std::string_view lv[2] = {name, type_name(t)};
        out.counter(lv, static_cast<double>(v[errors_at + t]), b.created, nullptr);
      }
    });
    const auto write_hist = [&](const m::histogram::config& cfg, label_values lv,
                                std::span<const std::uint64_t> c, double created) {
      m::histogram_sample h;
      h.sum = hist(cfg, c, cumulative);
      h.upper_bounds = cfg.bounds;
      h.cumulative_counts = cumulative;
      h.count = cumulative.back();
      h.created = created;
      out.histogram(lv, h);
    };
    each(3, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      for (std::size_t t = 0; t < 2; ++t) {
        const std::string_view lv[2] = {name, type_name(t)};
        write_hist(duration_cfg_, lv, v.subspan(duration_at(t)), b.created);
      }
    });
    each(4, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      const std::string_view lv[1] = {name};
      write_hist(in_queue_cfg_, lv, v.subspan(in_queue_at), b.created);
    });
    each(5, [&](const std::string& name, const block_info& b, std::span<const std::uint64_t> v) {
      const std::string_view lv[1] = {name};
      out.counter(lv, static_cast<double>(v[static_cast<std::size_t>(event_type::requeue)]),
                  b.created, nullptr);
    });
  }

 private:
  using label_values = m::label_values;
  struct block_info {
    std::uint32_t slot;
    double created;  // Unix seconds of the first bind (OpenMetrics _created)
  };
  m::histogram::config duration_cfg_, in_queue_cfg_;
  std::vector<double> in_queue_ns_, duration_ns_;
  std::uint32_t nq_, nd_, cells_ = 0;
  std::vector<m::family_desc> descs_;
  mutable std::mutex mu_;
  std::map<std::string, block_info, std::less<>> blocks_;
};

}  // namespace

struct prometheus_recorder::state {
  m::registerer* reg = nullptr;
  std::shared_ptr<events_collector> events;
  std::shared_ptr<gauges_collector> gauges;
  std::vector<std::shared_ptr<m::collector>> registered;
};

namespace {

// One controller's sink: the block's slot and where its histograms' bounds are, so a call is one
// cell lookup, a branch-free bucket search on the nanoseconds (no conversion) and two or three
// integer adds.
class prometheus_controller_recorder final : public controller_recorder {
 public:
  prometheus_controller_recorder(std::shared_ptr<prometheus_recorder::state> st, std::string name,
                                 const controller_stats& stats)
      : st_(std::move(st)),
        name_(std::move(name)),
        slot_(st_->events->block(name_)),
        nq_(st_->events->in_queue_buckets()),
        nd_(st_->events->duration_buckets()),
        duration_at_{st_->events->duration_at(0), st_->events->duration_at(1)},
        in_queue_search_(st_->events->in_queue_search()),
        duration_search_(st_->events->duration_search()) {
    st_->gauges->bind(name_, stats);
  }
  ~prometheus_controller_recorder() override { st_->gauges->unbind(name_); }

  void queued(event_type t, std::uint64_t n) noexcept override {
    m::detail::cell_add(m::detail::cell_at(slot_) + static_cast<std::size_t>(t), n);
  }
  void dequeued(std::chrono::nanoseconds in_queue) noexcept override {
    const std::int64_t ns = std::max<std::int64_t>(in_queue.count(), 0);
    const std::uint32_t i = m::detail::find_bucket(in_queue_search_, nq_, static_cast<double>(ns));
    m::detail::cell* c = m::detail::cell_at(slot_) + events_collector::in_queue_at;
    m::detail::cell_add(c + i, 1);
    m::detail::cell_add(c + nq_ + 1, static_cast<std::uint64_t>(ns));
  }
  void processed(event_type t, bool failed, std::chrono::nanoseconds took) noexcept override {
    const std::size_t k = t == event_type::delete_ ? 1 : 0;
    const std::int64_t ns = std::max<std::int64_t>(took.count(), 0);
    const std::uint32_t i = m::detail::find_bucket(duration_search_, nd_, static_cast<double>(ns));
    m::detail::cell* base = m::detail::cell_at(slot_);
    m::detail::cell* c = base + duration_at_[k];
    m::detail::cell_add(c + i, 1);
    m::detail::cell_add(c + nd_ + 1, static_cast<std::uint64_t>(ns));
    if (failed) m::detail::cell_add(base + events_collector::errors_at + k, 1);
  }

 private:
  std::shared_ptr<prometheus_recorder::state> st_;
  std::string name_;
  std::uint32_t slot_, nq_, nd_;
  std::array<std::uint32_t, 2> duration_at_;
  const double* in_queue_search_;
  const double* duration_search_;
};

}  // namespace

prometheus_recorder::prometheus_recorder(m::registerer& reg, std::string_view prefix_view,
                                         prometheus_recorder_options opts)
    : state_(std::make_shared<state>()) {
  const std::string prefix(prefix_view);
  if (!prefix.empty() && !m::is_valid_metric_name(prefix)) {
    throw std::invalid_argument("prometheus_recorder: prefix \"" + prefix +
                                "\" is not a valid metric name start ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  state& s = *state_;
  s.reg = &reg;
  s.events = std::make_shared<events_collector>(prefix, std::move(opts));
  s.gauges = std::make_shared<gauges_collector>(prefix);
  const std::vector<std::shared_ptr<m::collector>> all{s.events, s.gauges};
  try {
    for (const auto& c : all) {
      reg.register_collector(c);
      s.registered.push_back(c);
    }
  } catch (...) {
    for (const auto& c : s.registered) reg.unregister(*c);
    throw;
  }
}

prometheus_recorder::prometheus_recorder(std::string_view prefix, prometheus_recorder_options opts)
    : prometheus_recorder(m::default_registry(), prefix, std::move(opts)) {}

prometheus_recorder::~prometheus_recorder() {
  for (const auto& c : state_->registered) state_->reg->unregister(*c);
}

std::unique_ptr<controller_recorder> prometheus_recorder::bind(std::string_view controller,
                                                               const controller_stats& stats) {
  return std::make_unique<prometheus_controller_recorder>(state_, std::string(controller), stats);
}

}  // namespace operant::controller
