// leader-election-controller: Kooper's leader-election example in C++. Run several replicas: they
// campaign for a coordination.k8s.io Lease, and only the one holding it runs the controller's
// workers (a pod counter, as pod-controller without the echo). When the leader stops (SIGTERM) it
// releases the Lease and another replica takes over at once; when it crashes, after
// --lease-duration.
//
//   leader-election-controller --namespace default --listen :8080 &
//   leader-election-controller --namespace default --listen :8081 &
//   curl -s localhost:8080/metrics | grep leader_election_master_status
//
// leader_election_master_status{name="<lease>"} is 1 on the leader and 0 on the others, next to
// Kooper's controller metrics and the REST client's, on one registry.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "operant/controller.h"
#include "operant/http/server.h"
#include "operant/kube/client.h"
#include "operant/kube/config.h"
#include "operant/kube/informer.h"
#include "operant/kube/leader_election.h"
#include "operant/metrics.h"
#include "pod_watch_flags.h"

namespace oc = operant::controller;
namespace kube = operant::kube;
namespace m = operant::metrics;
using namespace std::chrono_literals;

namespace {

// ---- Flags: pod-controller's (examples/common), plus the Lease's ---------------------------------
struct lease_flags {
  std::string name = "leader-election-controller", ns, identity;
  // client-go's (and Kooper's) defaults.
  std::chrono::milliseconds lease_duration = 15s, renew_deadline = 10s, retry_period = 2s;
};

void usage(std::FILE* out) {
  std::fputs("usage: leader-election-controller [flags]\n", out);
  std::fputs(example::pod_watch_flags::usage, out);
  std::fputs(
      "  --lease-name NAME     the Lease to hold (default leader-election-controller)\n"
      "  --lease-namespace NS  its namespace (default: --namespace, else the context's)\n"
      "  --identity ID         this replica's identity (default: hostname_UUID)\n"
      "  --lease-duration D    a leader silent this long is replaced (default 15s)\n"
      "  --renew-deadline D    a leader failing to renew this long steps down (default 10s)\n"
      "  --retry-period D      time between attempts to acquire or renew (default 2s)\n"
      "  --help                show this text\n"
      "Workers run only while this replica leads.\n"
      "Durations: 30s, 1.5s, 500ms, 1m. Flags take their value as the next argument or after '='.\n"
      "The first line on stdout is \"listening on http://HOST:PORT\".\n",
      out);
}

// Returns -1 to run, 0 after --help, 2 after a bad flag (having said why).
int parse_flags(int argc, char** argv, example::pod_watch_flags& f, lease_flags& l) {
  example::flag_set flags("leader-election-controller", usage);
  f.add_to(flags);
  flags.value("--lease-name", example::name(l.name))
      .value("--lease-namespace", example::name(l.ns))
      .value("--identity", example::text(l.identity))
      .value("--lease-duration", example::duration(l.lease_duration, true))
      .value("--renew-deadline", example::duration(l.renew_deadline, true))
      .value("--retry-period", example::duration(l.retry_period, true));
  if (const int rc = flags.parse(argc, argv); rc >= 0) return rc;
  if (const int rc = f.check(flags); rc >= 0) return rc;
  // client-go's rule (lease_elector checks it too, naming its fields rather than the flags).
  if (l.lease_duration <= l.renew_deadline ||
      static_cast<double>(l.renew_deadline.count()) <=
          1.2 * static_cast<double>(l.retry_period.count())) {
    return flags.error("need --lease-duration > --renew-deadline > 1.2 x --retry-period; got " +
                       std::to_string(l.lease_duration.count()) + "ms, " +
                       std::to_string(l.renew_deadline.count()) + "ms, " +
                       std::to_string(l.retry_period.count()) + "ms");
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  example::pod_watch_flags f;
  lease_flags l;
  if (const int rc = parse_flags(argc, argv, f, l); rc >= 0) return rc;

  // Signals are taken by wait_for_signal below: block them before any thread starts.
  const sigset_t sigs = example::block_stop_signals();

  auto log = std::make_shared<oc::logfmt_logger>();
  m::registry reg;  // the controller's, the client's and the election's metrics
  reg.register_collector(std::make_shared<m::process_collector>());

  std::unique_ptr<kube::rest_client> api;
  std::shared_ptr<kube::lease_elector> elector;
  std::unique_ptr<oc::controller> ctl;
  std::unique_ptr<operant::http::server> srv;
  try {
    const kube::config cfg = kube::load_config(f.kubeconfig, f.context);
    const std::string ns = f.all_namespaces ? "" : f.ns.empty() ? cfg.namespace_ : f.ns;
    api = std::make_unique<kube::rest_client>(cfg, kube::rest_options{.registry = &reg});
    elector = std::make_shared<kube::lease_elector>(
        *api, kube::lease_options{
                  .name = l.name,
                  .ns = l.ns.empty() ? (ns.empty() ? cfg.namespace_ : ns) : l.ns,
                  .identity = l.identity,
                  .lease_duration = l.lease_duration,
                  .renew_deadline = l.renew_deadline,
                  .retry_period = l.retry_period,
                  .registry = &reg,  // leader_election_master_status{name}
                  .log = log.get(),
                  // The elector logs acquiring and losing the Lease, the controller starting and
                  // stopping its workers; the hooks (on_started_leading, ...) are for more.
                  .on_new_leader = [&](const std::string& id) {
                    log->info("observed a new leader",
                              {{"identity", id.empty() ? "(none: released)" : id}});
                  }});
    log->info("campaigning",
              {{"lease", l.name}, {"identity", elector->identity()}, {"server", cfg.server}});

    auto handler = oc::make_handler(
        [](const oc::context& ctx, const oc::object& pod) {
          ctx.logger().info("pod",
                            {{"key", ctx.key()}, {"resource_version", pod.resource_version()}});
          return oc::status::success();
        },
        [](const oc::context& ctx, std::string_view key, const oc::object&) {
          ctx.logger().info("pod deleted", {{"key", key}});
          return oc::status::success();
        });
    ctl = std::make_unique<oc::controller>(
        oc::config{.name = "leader-election-controller",
                   .handler = handler,
                   .retriever = std::make_shared<kube::retriever>(
                       *api, kube::reflector_options{.res = kube::resources::pods,
                                                     .ns = ns,
                                                     .label_selector = f.label_selector,
                                                     .log = log.get()}),
                   .workers = f.workers,
                   .resync_interval = f.resync,
                   .logger = log,
                   .recorder = std::make_shared<oc::prometheus_recorder>(reg, "operant"),
                   .leader_elector = elector});  // list, watch and work only while leading
    srv = std::make_unique<operant::http::server>(
        operant::http::server_options{.listen = f.listen,
                                      .landing_title = "operant leader-election-controller",
                                      .metrics = {.registries = {&reg}}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "leader-election-controller: %s\n", e.what());
    return 1;
  }
  srv->start();
  std::printf("listening on %s\n", srv->url().c_str());
  std::fflush(stdout);

  std::jthread controller_thread([&](std::stop_token st) { ctl->run(st); });

  log->info("stopping", {{"signal", example::wait_for_signal(sigs, f.duration)}});
  controller_thread.request_stop();  // the workers stop, then the Lease is released
  controller_thread.join();
  srv->stop();
  log->info("stopped");
  return 0;
}
