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
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
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

namespace oc = operant::controller;
namespace kube = operant::kube;
namespace m = operant::metrics;
using namespace std::chrono_literals;

namespace {

// ---- Flags -------------------------------------------------------------------------------------
struct flags {
  std::string kubeconfig, context, ns, label_selector;
  bool all_namespaces = false;
  std::string listen = ":8080";
  std::chrono::milliseconds resync = 30s;
  int workers = 1;
  double duration = 0;  // seconds; 0 = until SIGINT/SIGTERM
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: pod-controller [flags]\n"
      "  --kubeconfig PATH     kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
      "  --context NAME        kubeconfig context (default: the current one)\n"
      "  --namespace NS        watch the pods of NS (default: the context's namespace)\n"
      "  --all-namespaces      watch the pods of every namespace\n"
      "  --label-selector SEL  only pods matching SEL, e.g. app=web,tier!=db\n"
      "  --listen HOST:PORT    serve /metrics and /healthz here (default :8080)\n"
      "  --resync D            resync interval: 30s, 1m, 500ms; 0 disables (default 30s)\n"
      "  --workers N           concurrent workers (default 1)\n"
      "  --duration SECONDS    run this long, then exit (default 0: until SIGINT or SIGTERM)\n"
      "  --help                show this text\n"
      "Flags take their value as the next argument or after '=' (--namespace=default).\n"
      "The first line on stdout is \"listening on http://HOST:PORT\".\n",
      out);
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "30s", "1.5s", "500ms", "2m", "1h", or a plain number of seconds.
bool parse_duration(std::string_view s, std::chrono::milliseconds& out) {
  const std::size_t unit = s.find_first_not_of("0123456789.");
  double v = 0;
  if (!parse_number(s.substr(0, unit), v) || v < 0) return false;
  const std::string_view u = unit == std::string_view::npos ? "s" : s.substr(unit);
  const double scale = u == "ms" ? 1 : u == "s" ? 1e3 : u == "m" ? 60e3 : u == "h" ? 3600e3 : -1;
  if (scale < 0) return false;
  out = std::chrono::milliseconds(static_cast<std::int64_t>(v * scale));
  return true;
}

// Returns -1 to run, 0 after --help, 2 after a bad flag (having said why).
int parse_flags(int argc, char** argv, flags& f) {
  const auto text = [](std::string& s) { return [&s](std::string_view v) { return s = v, true; }; };
  const std::map<std::string_view, std::function<bool(std::string_view)>> with_value{
      {"--kubeconfig", text(f.kubeconfig)},
      {"--context", text(f.context)},
      {"--namespace", [&](std::string_view v) { return f.ns = v, !v.empty(); }},
      {"--label-selector", text(f.label_selector)},
      {"--listen",
       [&](std::string_view v) {
         f.listen = v;
         try {
           operant::http::parse_listen_address(v);
           return true;
         } catch (const std::invalid_argument&) {
           return false;
         }
       }},
      {"--resync", [&](std::string_view v) { return parse_duration(v, f.resync); }},
      {"--workers",
       [&](std::string_view v) { return parse_number(v, f.workers) && f.workers >= 1; }},
      {"--duration",
       [&](std::string_view v) { return parse_number(v, f.duration) && f.duration >= 0; }},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return usage(stdout), 0;
    if (arg == "--all-namespaces") {
      f.all_namespaces = true;
      continue;
    }
    const std::size_t eq = arg.find('=');
    const std::string_view flag = arg.substr(0, eq);
    const auto it = with_value.find(flag);
    if (it == with_value.end()) {
      std::fprintf(stderr, "pod-controller: unknown flag \"%s\"\n", argv[i]);
      return usage(stderr), 2;
    }
    if (eq == std::string_view::npos && i + 1 >= argc) {
      std::fprintf(stderr, "pod-controller: missing value for %s\n", argv[i]);
      return usage(stderr), 2;
    }
    const std::string_view value = eq == std::string_view::npos ? argv[++i] : arg.substr(eq + 1);
    if (!it->second(value)) {
      std::fprintf(stderr, "pod-controller: bad value for %.*s: \"%.*s\"\n",
                   static_cast<int>(flag.size()), flag.data(), static_cast<int>(value.size()),
                   value.data());
      return usage(stderr), 2;
    }
  }
  if (f.all_namespaces && !f.ns.empty()) {
    std::fprintf(stderr,
                 "pod-controller: --namespace \"%s\" and --all-namespaces exclude each other\n",
                 f.ns.c_str());
    return 2;
  }
  return -1;
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
  flags f;
  if (const int rc = parse_flags(argc, argv, f); rc >= 0) return rc;

  // Signals are taken by sigwait below: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

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

  int sig = 0;
  if (f.duration > 0) {
    const auto nanos = static_cast<long long>(f.duration * 1e9);
    const timespec timeout{static_cast<time_t>(nanos / 1'000'000'000),
                           static_cast<long>(nanos % 1'000'000'000)};
    sig = std::max(sigtimedwait(&sigs, nullptr, &timeout), 0);  // < 0: the duration elapsed
  } else {
    sigwait(&sigs, &sig);
  }
  log->info("stopping", {{"signal", sig == 0 ? std::string("none (duration elapsed)")
                                             : std::string(strsignal(sig))}});
  controller_thread.request_stop();
  controller_thread.join();
  srv->stop();
  log->info("stopped");
  return 0;
}
