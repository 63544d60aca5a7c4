// operant/controller/prometheus_recorder.h — the Prometheus backend of recorder.
//
// Built, as in the seed, from a registry (yours or the default one) and a namespace prefix P:
//
//   operant::metrics::registry reg;
//   auto rec = std::make_shared<operant::controller::prometheus_recorder>(reg, "myoperator");
//   cfg.recorder = rec;
//
// Kooper's four families (labels controller and type; with P = kooper the names are Kooper's, so
// its dashboards and alerts keep working):
//   P_controller_queued_events_total               counter   type=add|delete|requeue
//   P_controller_processed_events_total            counter   type=add|delete (every attempt)
//   P_controller_processed_event_errors_total      counter   type=add|delete (failed attempts)
//   P_controller_processed_event_duration_seconds  histogram type=add|delete, processing_buckets
// and what controller-runtime users rely on, named after controller-runtime / client-go with
// P_ in front (label controller only; client-go's `name` would always equal it):
//   P_workqueue_depth                              gauge     keys queued and ready
//   P_workqueue_queue_duration_seconds             histogram time in queue, in_queue_buckets
//   P_workqueue_retries_total                      counter   rate-limited requeues
//   P_workqueue_unfinished_work_seconds            gauge     sum of ages of keys in progress
//   P_workqueue_longest_running_processor_seconds  gauge     age of the oldest key in progress
//   P_controller_active_workers                    gauge     workers inside a handler
//   P_controller_max_concurrent_reconciles         gauge     configured workers
// Every series of a bound controller exists, at zero, from the moment it is bound (when the
// controller is constructed), and stays while the recorder lives: a controller bound again under
// the same name continues its counters. Gauges are read from the controller at scrape time.
//
// Cost: counters and histograms of one controller live in one block of per-thread cells
// (operant/metrics/detail/cells.h), resolved at bind(). A key costs the controller one clock
// stamp and two calls that each find the calling thread's block once and add to two or three of
// its cells. Durations are whole nanoseconds: bucket edges are exact (5 ms is in le="0.005") and
// sums are integers until a scrape divides them by 1e9. processed_events_total is the duration
// histogram's count (every attempt is observed once) and retries_total the requeue count, so
// neither costs a write. Each histogram may have at most about 330 buckets (a block holds 1024
// cells); the constructor says so if they do not fit.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operant/controller/recorder.h"
#include "operant/metrics/registry.h"

namespace operant::controller {

struct prometheus_recorder_options {
  // Buckets of P_controller_processed_event_duration_seconds. Empty (default): Prometheus'
  // default buckets .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10, as Kooper.
  std::vector<double> processing_buckets{};
  // Buckets of P_workqueue_queue_duration_seconds. Empty (default): controller-runtime's
  // 1e-8, 1e-7, ..., 1e3 (12 buckets).
  std::vector<double> in_queue_buckets{};
};

class prometheus_recorder final : public recorder {
 public:
  // Registers the families on `reg` (which must outlive the recorder). `prefix` must be a valid
  // metric-name start ([a-zA-Z_:][a-zA-Z0-9_:]*); empty means no prefix. Throws
  // std::invalid_argument (operant::metrics::error) for a bad prefix or buckets, or when `reg`
  // already holds these families.
  prometheus_recorder(metrics::registerer& reg, std::string_view prefix,
                      prometheus_recorder_options opts = {});
  // The same on operant::metrics::default_registry().
  explicit prometheus_recorder(std::string_view prefix, prometheus_recorder_options opts = {});
  ~prometheus_recorder() override;

  // Throws std::invalid_argument if a controller with this name is already bound (its series
  // would collide).
  std::unique_ptr<controller_recorder> bind(std::string_view controller,
                                            const controller_stats& stats) override;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace operant::controller
