#include "operant/controller/prometheus_recorder.h"

#include <array>
#include <map>
#include <mutex>
#include <stdexcept>

#include "operant/metrics/family.h"

namespace operant::controller {

namespace m = operant::metrics;

namespace {

constexpr std::array<event_type, 2> processed_types{event_type::add, event_type::delete_};
constexpr std::array<event_type, 3> queued_types{event_type::add, event_type::delete_,
                                                 event_type::requeue};

// The gauges, read from each bound controller at scrape time.
class gauges_collector final : public m::collector {
 public:
  explicit gauges_collector(const std::string& prefix) {
    auto add = [&](std::string subsystem, std::string name, std::string help, std::string unit) {
      m::family_desc d;
      d.name = m::build_fq_name(prefix, subsystem, name);
      d.help = std::move(help);
      d.type = m::metric_type::gauge;
      d.unit = std::move(unit);
      d.label_names = {"controller"};
      m::validate_desc(d);
      descs_.push_back(std::move(d));
    };
    add("workqueue", "depth", "Current number of keys queued and ready, per controller.", "");
    add("workqueue", "unfinished_work_seconds",
        "How many seconds of work are in progress and not yet observed by the processed-event "
        "duration. Large values indicate stuck workers.",
        "seconds");
    add("workqueue", "longest_running_processor_seconds",
        "How many seconds the longest running handler call has been running.", "seconds");
    add("controller", "active_workers", "Number of workers currently inside a handler.", "");
    add("controller", "max_concurrent_reconciles", "Number of workers configured.", "");
  }

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

}  // namespace

struct prometheus_recorder::state {
  m::registerer* reg = nullptr;
  std::shared_ptr<m::family<m::counter>> queued, processed, errors, retries;
  std::shared_ptr<m::family<m::histogram>> duration, in_queue;
  std::shared_ptr<gauges_collector> gauges;
  std::vector<std::shared_ptr<m::collector>> registered;
};

namespace {

class prometheus_controller_recorder final : public controller_recorder {
 public:
  prometheus_controller_recorder(std::shared_ptr<prometheus_recorder::state> st, std::string name,
                                 const controller_stats& stats)
      : st_(std::move(st)), name_(std::move(name)) {
    // Resolve every series now: they exist at zero from here on, and the hot path is a cell
    // update through a pointer.
    for (event_type t : queued_types) {
      queued_[static_cast<std::size_t>(t)] = &st_->queued->labels(name_, to_string(t));
    }
    for (event_type t : processed_types) {
      const auto i = static_cast<std::size_t>(t);
      processed_[i] = &st_->processed->labels(name_, to_string(t));
      errors_[i] = &st_->errors->labels(name_, to_string(t));
      duration_[i] = &st_->duration->labels(name_, to_string(t));
    }
    in_queue_ = &st_->in_queue->labels(name_);
    retries_ = &st_->retries->labels(name_);
    st_->gauges->bind(name_, stats);
  }
  ~prometheus_controller_recorder() override { st_->gauges->unbind(name_); }

  void queued(event_type t, std::uint64_t n) noexcept override {
    queued_[static_cast<std::size_t>(t)]->add(static_cast<double>(n));
    if (t == event_type::requeue) retries_->add(static_cast<double>(n));
  }
  void dequeued(double seconds) noexcept override { in_queue_->observe(seconds); }
  void processed(event_type t, bool failed, double seconds) noexcept override {
    const std::size_t i = t == event_type::delete_ ? 1 : 0;
    processed_[i]->inc();
    if (failed) errors_[i]->inc();
    duration_[i]->observe(seconds);
  }

 private:
  std::shared_ptr<prometheus_recorder::state> st_;
  std::string name_;
  std::array<m::counter*, 3> queued_{};
  std::array<m::counter*, 2> processed_{}, errors_{};
  std::array<m::histogram*, 2> duration_{};
  m::histogram* in_queue_ = nullptr;
  m::counter* retries_ = nullptr;
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
  const std::vector<std::string> by_type{"controller", "type"};
  auto name = [&](const char* subsystem, const char* n) {
    return m::build_fq_name(prefix, subsystem, n);
  };
  state& s = *state_;
  s.reg = &reg;
  s.queued = std::make_shared<m::family<m::counter>>(m::metric_opts{
      .name = name("controller", "queued_events_total"),
      .help = "Total number of events queued: add (add, update, resync), delete, and requeue "
              "(a failed key queued again for a retry).",
      .label_names = by_type});
  s.processed = std::make_shared<m::family<m::counter>>(m::metric_opts{
      .name = name("controller", "processed_events_total"),
      .help = "Total number of events processed (handler calls), failed or not.",
      .label_names = by_type});
  s.errors = std::make_shared<m::family<m::counter>>(m::metric_opts{
      .name = name("controller", "processed_event_errors_total"),
      .help = "Total number of events whose processing failed (also those that will be retried).",
      .label_names = by_type});
  s.duration = std::make_shared<m::family<m::histogram>>(m::metric_opts{
      .name = name("controller", "processed_event_duration_seconds"),
      .help = "The duration of processing an event (one handler call).",
      .unit = "seconds",
      .label_names = by_type,
      .buckets = or_default(std::move(opts.processing_buckets), m::default_buckets())});
  s.in_queue = std::make_shared<m::family<m::histogram>>(m::metric_opts{
      .name = name("workqueue", "queue_duration_seconds"),
      .help = "How long in seconds a key stays in the workqueue before a worker takes it.",
      .unit = "seconds",
      .label_names = {"controller"},
      .buckets = or_default(std::move(opts.in_queue_buckets),
                            m::exponential_buckets(10e-9, 10, 12))});
  s.retries = std::make_shared<m::family<m::counter>>(m::metric_opts{
      .name = name("workqueue", "retries_total"),
      .help = "Total number of retries (failed keys queued again with a rate-limited delay).",
      .label_names = {"controller"}});
  s.gauges = std::make_shared<gauges_collector>(prefix);

  const std::vector<std::shared_ptr<m::collector>> all{s.queued,   s.processed, s.errors,
                                                       s.duration, s.in_queue,  s.retries,
                                                       s.gauges};
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
