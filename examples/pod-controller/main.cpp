// pod-controller: Kooper's echo pod controller in C++. It watches the pods of a namespace (or of
// every namespace), logs each pod added, updated, resynced or deleted, and counts them; Kooper's
// controller metrics, the REST client's and its own are served on one registry at /metrics.
//
//   pod-controller --namespace default --listen :8080
//   curl -s localhost:8080/metrics | grep -E 'controller_processed|pods_seen|rest_client_req'
//
// The handler is level-based (it gets the pod as it is now, not the event), so it tells an add
// from an update or a resync by the resourceVersion it last saw for the pod. Deletes get the last
// pod the controller knew. deploy/ holds the manifests to run it in a cluster.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "operant/controller.h"
#include "operant/http/server.h"
#include "operant/kube/client.h"
#include "operant/kube/config.h"
#include "operant/kube/informer.h"
#include "operant/metrics.h"
#include "pod_watch_flags.h"

namespace oc = operant::controller;
namespace kube = operant::kube;
namespace m = operant::metrics;
using namespace std::chrono_literals;

namespace {

// ---- Flags (examples/common) -------------------------------------------------------------------
void usage(std::FILE* out) {
  std::fputs("usage: pod-controller [flags]\n", out);
  std::fputs(example::pod_watch_flags::usage, out);
  std::fputs(
      "  --help                show this text\n"
      "Flags take their value as the next argument or after '=' (--namespace=default).\n"
      "The first line on stdout is \"listening on http://HOST:PORT\".\n",
      out);
}

// ---- The handler: log and count every pod ------------------------------------------------------
// A string at a path of the pod's document ("status", "phase"), or "" when absent.
std::string field(const oc::object& o, const char* outer, const char* inner) {
  const auto& j = o.json();
  if (!j.contains(outer) || !j[outer].is_object() || !j[outer].contains(inner)) return "";
  const auto& v = j[outer][inner];
  return v.is_string() ? v.get<std::string>() : "";
}

class echo_handler final : public oc::handler {
 public:
  explicit echo_handler(m::registry& reg)
      : seen_(m::with(reg).new_counter_family(
            {.name = "pod_controller_pods_seen_total",
             .help = "Pods handled by pod-controller, by what happened to them.",
             .label_names = {"event"}})) {
    for (const char* e : {"add", "update", "resync", "delete"}) seen_.labels(e);  // exist at 0
  }

  oc::status handle(const oc::context& ctx, const oc::object& pod) override {
    std::string event;
    {
      std::lock_guard lock(mu_);
      auto [it, added] = versions_.try_emplace(pod.key(), pod.resource_version());
      event = added ? "add" : it->second == pod.resource_version() ? "resync" : "update";
      it->second = pod.resource_version();
    }
    ctx.logger().info("pod " + event, {{"key", ctx.key()},
                                       {"phase", field(pod, "status", "phase")},
                                       {"node", field(pod, "spec", "nodeName")},
                                       {"resource_version", pod.resource_version()}});
    seen_.labels(event).inc();
    return oc::status::success();
  }

  oc::status handle_delete(const oc::context& ctx, std::string_view key,
                           const oc::object& last) override {
    {
      std::lock_guard lock(mu_);
      versions_.erase(std::string(key));
    }
    ctx.logger().info(
        "pod deleted",
        {{"key", key}, {"uid", last.uid()}, {"phase", field(last, "status", "phase")}});
    seen_.labels("delete").inc();
    return oc::status::success();
  }

 private:
  m::family<m::counter>& seen_;
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> versions_;  // key -> resourceVersion last handled
};

}  // namespace

int main(int argc, char** argv) {
  example::pod_watch_flags f;
  example::flag_set flags("pod-controller", usage);
  f.add_to(flags);
  if (const int rc = flags.parse(argc, argv); rc >= 0) return rc;
  if (const int rc = f.check(flags); rc >= 0) return rc;

  // Signals are taken by wait_for_signal below: block them before any thread starts.
  const sigset_t sigs = example::block_stop_signals();

  auto log = std::make_shared<oc::logfmt_logger>();
  m::registry reg;  // one registry for the controller's, the client's and our own metrics
  reg.register_collector(std::make_shared<m::process_collector>());

  std::unique_ptr<kube::rest_client> api;
  std::unique_ptr<oc::controller> ctl;
  std::unique_ptr<operant::http::server> srv;
  std::string ns;
  try {
    const kube::config cfg = kube::load_config(f.kubeconfig, f.context);
    ns = f.all_namespaces ? "" : f.ns.empty() ? cfg.namespace_ : f.ns;
    log->info("connecting", {{"server", cfg.server},
                             {"source", cfg.source},
                             {"namespace", f.all_namespaces ? "(all)" : ns}});
    api = std::make_unique<kube::rest_client>(cfg, kube::rest_options{.registry = &reg});
    ctl = std::make_unique<oc::controller>(
        oc::config{.name = "pod-controller",
                   .handler = std::make_shared<echo_handler>(reg),
                   .retriever = std::make_shared<kube::retriever>(
                       *api, kube::reflector_options{.res = kube::resources::pods,
                                                     .ns = ns,
                                                     .label_selector = f.label_selector,
                                                     .log = log.get()}),
                   .workers = f.workers,
                   .resync_interval = f.resync,
                   .logger = log,
                   // Kooper's metrics under the prefix the dashboards in dashboards/ expect.
                   .recorder = std::make_shared<oc::prometheus_recorder>(reg, "operant")});
    srv = std::make_unique<operant::http::server>(
        operant::http::server_options{.listen = f.listen,
                                      .landing_title = "operant pod-controller",
                                      .metrics = {.registries = {&reg}}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pod-controller: %s\n", e.what());
    return 1;
  }
  srv->start();
  std::printf("listening on %s\n", srv->url().c_str());
  std::fflush(stdout);

  std::jthread controller_thread([&](std::stop_token st) { ctl->run(st); });

  log->info("stopping", {{"signal", example::wait_for_signal(sigs, f.duration)}});
  controller_thread.request_stop();
  controller_thread.join();
  srv->stop();
  log->info("stopped");
  return 0;
}
