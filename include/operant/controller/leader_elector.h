// operant/controller/leader_elector.h — run a controller's workers only while this process leads.
//
// Several replicas of a controller may run; with a leader elector only the leader processes keys
// (Kooper's leaderelection.Runner). This module defines the interface; `kube` implements it with a
// coordination.k8s.io Lease. When leadership is lost the controller stops its workers (cancelling
// the handlers' contexts and waiting for them) and keeps campaigning; when it is regained it lists
// again and starts over. (Kooper left its workers running after a lost lease: issue #197.)
#pragma once

#include <functional>
#include <stop_token>

namespace operant::controller {

class leader_elector {
 public:
  virtual ~leader_elector() = default;
  // Campaigns until `stop` is requested. Each time leadership is acquired, calls lead(leading) on
  // the calling thread with a token that is requested when leadership is lost or `stop` is
  // requested; lead returns soon after. Returns once `stop` is requested and lead (if running) has
  // returned. May be called by one controller at a time.
  virtual void run(std::stop_token stop, const std::function<void(std::stop_token)>& lead) = 0;
};

// Always the leader: calls lead(stop) once. What a controller without an elector does.
class always_leader final : public leader_elector {
 public:
  void run(std::stop_token stop, const std::function<void(std::stop_token)>& lead) override {
    lead(stop);
  }
};

}  // namespace operant::controller
