// operant/controller/recorder.h — how a controller reports what it does (the seed's Recorder).
//
// A recorder is bound once to each controller that uses it and returns that controller's
// controller_recorder, whose methods the controller calls on its hot path: so a backend resolves
// its series (or whatever it keeps) once per controller and event type, never per event. A
// controller whose config has no recorder (nullptr) makes no call and reads no clock for metrics.
//
// The measurements (Kooper's, with event types add, delete and requeue):
//   queued      `count` add/update/resync events (type add) or a delete event (type delete) queued a
//               key, or a failed key was requeued for a retry (type requeue). Every event counts,
//               also one whose key was already queued.
//   dequeued    a worker took a key, after `in_queue` in the queue.
//   processed   one attempt at a key finished: handle() (type add) or handle_delete() (type
//               delete), after `took`, failed or not. A failure that will be retried is a
//               failure (Kooper counted it as a success).
// Durations are whole nanoseconds, never negative: the controller measures them with
// clock::stamp() and hands them over unconverted, so a backend pays for a conversion to seconds
// only if it wants one (the Prometheus backend sums nanoseconds as integers).
// Gauges (queue depth, in-flight work, workers) are read from controller_stats when the backend
// wants them, e.g. at scrape time.
//
// Backends: prometheus_recorder (prometheus_recorder.h), nop_recorder, and your own: the
// metrics-controller example has a logging one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

namespace operant::controller {

enum class event_type : std::uint8_t { add = 0, delete_ = 1, requeue = 2 };
inline constexpr std::size_t event_type_count = 3;

// "add", "delete", "requeue".
std::string_view to_string(event_type t) noexcept;

// A controller's gauges, read on demand.
struct controller_stats_snapshot {
  std::size_t depth = 0;                  // keys queued and ready
  std::size_t waiting = 0;                // keys waiting for a retry delay to pass
  // Sum of the ages of the keys being processed, and the oldest age (0 without a recorder: the
  // controller reads no clock then).
  double unfinished_work_seconds = 0;
  double longest_running_seconds = 0;
  std::size_t active_workers = 0;         // workers inside a handler
  std::size_t max_workers = 0;            // configured workers
};

// Implemented by the controller; safe to call from any thread while the binding lives.
class controller_stats {
 public:
  virtual ~controller_stats() = default;
  virtual controller_stats_snapshot stats() const = 0;
};

// One controller's sink. Methods are called concurrently from the controller's threads and must
// be cheap and must not throw.
class controller_recorder {
 public:
  virtual ~controller_recorder() = default;
  // `count` events of `type` queued keys (a list or resync reports its keys in batches).
  virtual void queued(event_type type, std::uint64_t count) noexcept = 0;
  virtual void dequeued(std::chrono::nanoseconds in_queue) noexcept = 0;
  virtual void processed(event_type type, bool failed, std::chrono::nanoseconds took) noexcept = 0;
};

class recorder {
 public:
  virtual ~recorder() = default;
  // Called once when a controller named `controller` is constructed; the controller destroys the
  // result before it is destroyed itself, and `stats` lives as long as the result. Throws
  // std::invalid_argument if this recorder cannot take the name (e.g. already bound).
  virtual std::unique_ptr<controller_recorder> bind(std::string_view controller,
                                                    const controller_stats& stats) = 0;
};

// Records nothing (Kooper's Dummy). Equivalent to no recorder, but still called.
class nop_recorder final : public recorder {
 public:
  std::unique_ptr<controller_recorder> bind(std::string_view, const controller_stats&) override;
};

}  // namespace operant::controller
