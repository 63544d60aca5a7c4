// operant/controller/controller.h — a controller: a retriever feeding a workqueue, workers running
// a handler, instrumented through a recorder (Kooper's controller in C++).
//
//   retriever --list/watch--> cache + workqueue --key--> worker --object--> handler
//                                  |                         |
//                              recorder: queued          recorder: dequeued, processed
//
// The retriever's events update a private cache of objects and queue their keys (a key waits in
// the queue once however many events arrive). A worker takes a key, looks up the object and calls
// handler::handle (or handler::handle_delete with the last known object if it is gone). On
// failure (a failure status or an exception) the key is requeued with backoff until it has failed
// 1 + max_retries times, then dropped and logged; on success its failure count is forgotten. Every
// resync_interval every cached key is queued again.
//
//   auto source = std::make_shared<operant::controller::memory_retriever>();
//   operant::controller::controller ctrl({
//       .name = "pods",
//       .handler = operant::controller::make_handler(my_reconcile),
//       .retriever = source,
//       .workers = 2,
//       .recorder = std::make_shared<operant::controller::prometheus_recorder>(reg, "myapp")});
//   std::jthread t([&](std::stop_token st) { ctrl.run(st); });   // request_stop() to end it
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "operant/controller/clock.h"
#include "operant/controller/handler.h"
#include "operant/controller/leader_elector.h"
#include "operant/controller/logger.h"
#include "operant/controller/recorder.h"
#include "operant/controller/retriever.h"
#include "operant/controller/workqueue.h"

namespace operant::controller {

// Every knob of a controller, with its default. validate() fills the defaults it can and throws
// std::invalid_argument naming the first bad field and its value.
struct config {
  std::string name{};                                              // required; names metrics and logs
  std::shared_ptr<operant::controller::handler> handler{};         // required
  std::shared_ptr<operant::controller::retriever> retriever{};     // required
  int workers = 1;                                                 // >= 1 (Kooper v0: 1)
  // Every cached key is queued again this often; 0 disables resync. >= 0. (Kooper v0: 30 s.)
  std::chrono::milliseconds resync_interval{30'000};
  // Retries of a failed key before it is dropped: a key that always fails is handled
  // 1 + max_retries times. >= 0. (Kooper v0: 3.)
  int max_retries = 3;
  // nullptr: a logfmt_logger on stderr (info and up). Every entry carries controller=<name>.
  std::shared_ptr<operant::controller::logger> logger{};
  // nullptr: nothing is recorded and no clock is read for metrics.
  std::shared_ptr<operant::controller::recorder> recorder{};
  // nullptr: always leading.
  std::shared_ptr<operant::controller::leader_elector> leader_elector{};
  // Delay of retries. nullptr: default_controller_rate_limiter() (5 ms doubling to 1000 s per
  // key, at most 10 retries a second overall after a burst of 100).
  std::shared_ptr<operant::controller::rate_limiter> rate_limiter{};
  // Delay between failed list or watch attempts of the retriever. > 0.
  std::chrono::milliseconds relist_backoff{1'000};
  // nullptr: default_clock().
  std::shared_ptr<operant::controller::clock> clock{};

  void validate();
};

class controller final : private controller_stats {
 public:
  // Validates a copy of `cfg` and binds the recorder (the recorder's series exist from here on).
  // Throws std::invalid_argument for a bad config or a recorder that refuses the name.
  explicit controller(config cfg);
  ~controller() override;
  controller(const controller&) = delete;
  controller& operator=(const controller&) = delete;

  // Lists, watches and processes until `stop` is requested, then stops: the retriever's watch
  // ends, handlers' contexts are cancelled, keys already queued are still handed to the handler
  // once each (no retries), and run returns when every worker has finished. With a leader
  // elector, does all that only while leading. Throws std::logic_error if already running.
  void run(std::stop_token stop);

  const config& cfg() const noexcept { return cfg_; }
  // The gauges the recorder reads (depth, in-flight work, workers); zeros when not running.
  controller_stats_snapshot stats() const override;

 private:
  struct term;
  void run_term(std::stop_token stop);

  config cfg_;
  std::shared_ptr<operant::controller::logger> log_;
  std::unique_ptr<controller_recorder> rec_;
  std::atomic<bool> running_{false};
  mutable std::mutex term_mu_;
  term* term_ = nullptr;  // the running term, read by stats()
};

// The seed's constructors. new_sequential: one worker. new_concurrent: `workers` workers; throws
// std::invalid_argument if workers < 2 (use new_sequential). A null recorder records nothing; a
// null logger is the default logfmt logger.
std::unique_ptr<controller> new_sequential(std::string name, std::chrono::milliseconds resync,
                                           std::shared_ptr<handler> h,
                                           std::shared_ptr<retriever> r,
                                           std::shared_ptr<recorder> rec = nullptr,
                                           std::shared_ptr<logger> log = nullptr);
std::unique_ptr<controller> new_concurrent(int workers, std::string name,
                                           std::chrono::milliseconds resync,
                                           std::shared_ptr<handler> h,
                                           std::shared_ptr<retriever> r,
                                           std::shared_ptr<recorder> rec = nullptr,
                                           std::shared_ptr<logger> log = nullptr);

}  // namespace operant::controller
