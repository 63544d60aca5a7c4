// operant/kube/leader_election.h — leader election on a coordination.k8s.io/v1 Lease, with
// client-go's semantics, as a controller's leader_elector.
//
//   operant::kube::lease_elector elector(api, {.name = "pod-echo", .ns = "operant"});
//   cfg.leader_elector = std::shared_ptr<operant::controller::leader_elector>(&elector, [](auto*)
//   {});
//
// How it works (client-go's tools/leaderelection): each candidate tries every retry_period
// (jittered by up to 20%) to get the Lease. It takes it when the Lease does not exist, is free,
// or has not been renewed (as this candidate observed on its own clock) for lease_duration. The
// leader renews it every retry_period; when it cannot renew for renew_deadline it stops leading
// (the token given to lead() is requested, so a controller's workers stop) and campaigns again.
// Every write is an update with the Lease's resourceVersion, so of two candidates racing for the
// Lease exactly one wins (the other gets 409 Conflict). A leader whose lease is still valid by
// its own observation renews with one PUT of the Lease it last wrote, without a GET first
// (client-go's fast path); if that fails (409 after someone else wrote it, or an error), the same
// attempt reads the Lease and decides again. With release_on_cancel, a leader that stops clears
// the holder so the next candidate takes over at once instead of after
// lease_duration.
//
// Exported: leader_election_master_status{name} (1 while leading, else 0), as controller-runtime.
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>

#include "operant/controller/leader_elector.h"
#include "operant/controller/logger.h"
#include "operant/kube/client.h"
#include "operant/metrics/collector.h"

namespace operant::kube {

struct lease_options {
  std::string name{};  // the Lease's name; required
  std::string ns{};    // its namespace; required
  // This candidate's identity; empty: the host name, '_', and a random UUID (as Kooper does).
  std::string identity{};
  // client-go's defaults. Validated as client-go does: lease_duration > renew_deadline >
  // 1.2 * retry_period > 0.
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  bool release_on_cancel = true;
  // Where leader_election_master_status goes; nullptr: nowhere.
  metrics::registerer* registry = nullptr;
  controller::logger* log = nullptr;
  // Called (on the campaigning thread) when leadership starts or stops, and when the observed
  // leader changes (with its identity; "" when the Lease was released and nobody holds it).
  std::function<void()> on_started_leading{};
  std::function<void()> on_stopped_leading{};
  std::function<void(const std::string& identity)> on_new_leader{};
};

class lease_elector final : public controller::leader_elector {
 public:
  // Throws std::invalid_argument naming the field when the options are invalid.
  lease_elector(rest_client& client, lease_options options);
  ~lease_elector() override;

  // Campaigns until `stop`; see controller::leader_elector. lead() runs on this thread while this
  // candidate leads; its token is requested when leadership is lost or `stop` is requested.
  void run(std::stop_token stop, const std::function<void(std::stop_token)>& lead) override;

  bool is_leader() const noexcept { return leading_.load(); }
  // The holder this candidate last observed ("" when none).
  std::string leader() const;
  const std::string& identity() const noexcept { return opts_.identity; }

  // One attempt to acquire or renew (what the loops do every retry_period); true when this
  // candidate holds the Lease afterwards. Exposed for tests.
  bool try_acquire_or_renew(std::stop_token stop = {});

 private:
  void release();
  void set_leading(bool v);

  rest_client& client_;
  lease_options opts_;
  std::shared_ptr<void> status_family_;
  std::function<void(double)> set_status_;
  std::atomic<bool> leading_{false};
  mutable std::mutex mu_;
  std::string observed_holder_;
  nlohmann::json observed_spec_;
  std::chrono::steady_clock::time_point observed_time_{};
  // The lease object as last read or written (with its resourceVersion), for the renewal fast path.
  nlohmann::json observed_lease_;
};

}  // namespace operant::kube
