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
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
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

namespace oc = operant::controller;
namespace kube = operant::kube;
namespace m = operant::metrics;
using namespace std::chrono_literals;

namespace {

// ---- Flags (pod-controller's, plus the Lease's) ------------------------------------------------
struct flags {
  std::string kubeconfig, context, ns, label_selector;
  bool all_namespaces = false;
  std::string listen = ":8080";
  std::chrono::milliseconds resync = 30s;
  int workers = 1;
  double duration = 0;  // seconds; 0 = until SIGINT/SIGTERM
  std::string lease_name = "leader-election-controller", lease_ns, identity;
  // client-go's (and Kooper's) defaults.
  std::chrono::milliseconds lease_duration = 15s, renew_deadline = 10s, retry_period = 2s;
};

void usage(std::FILE* out) {
  std::fputs(
      "usage: leader-election-controller [flags]\n"
      "  --kubeconfig PATH     kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
      "  --context NAME        kubeconfig context (default: the current one)\n"
      "  --namespace NS        watch the pods of NS (default: the context's namespace)\n"
      "  --all-namespaces      watch the pods of every namespace\n"
      "  --label-selector SEL  only pods matching SEL, e.g. app=web,tier!=db\n"
      "  --listen HOST:PORT    serve /metrics and /healthz here (default :8080)\n"
      "  --resync D            resync interval: 30s, 1m, 500ms; 0 disables (default 30s)\n"
      "  --workers N           concurrent workers while leading (default 1)\n"
      "  --duration SECONDS    run this long, then exit (default 0: until SIGINT or SIGTERM)\n"
      "  --lease-name NAME     the Lease to hold (default leader-election-controller)\n"
      "  --lease-namespace NS  its namespace (default: --namespace, else the context's)\n"
      "  --identity ID         this replica's identity (default: hostname_UUID)\n"
      "  --lease-duration D    a leader silent this long is replaced (default 15s)\n"
      "  --renew-deadline D    a leader failing to renew this long steps down (default 10s)\n"
      "  --retry-period D      time between attempts to acquire or renew (default 2s)\n"
      "  --help                show this text\n"
      "Durations: 30s, 1.5s, 500ms, 1m. Flags take their value as the next argument or after '='.\n"
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
  const auto name = [](std::string& s) {
    return [&s](std::string_view v) { return s = v, !v.empty(); };
  };
  const auto duration = [](std::chrono::milliseconds& d) {
    return [&d](std::string_view v) { return parse_duration(v, d) && d.count() > 0; };
  };
  const std::map<std::string_view, std::function<bool(std::string_view)>> with_value{
      {"--kubeconfig", text(f.kubeconfig)},
      {"--context", text(f.context)},
      {"--namespace", name(f.ns)},
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
      {"--lease-name", name(f.lease_name)},
      {"--lease-namespace", name(f.lease_ns)},
      {"--identity", text(f.identity)},
      {"--lease-duration", duration(f.lease_duration)},
      {"--renew-deadline", duration(f.renew_deadline)},
      {"--retry-period", duration(f.retry_period)},
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
      std::fprintf(stderr, "leader-election-controller: unknown flag \"%s\"\n", argv[i]);
      return usage(stderr), 2;
    }
    if (eq == std::string_view::npos && i + 1 >= argc) {
      std::fprintf(stderr, "leader-election-controller: missing value for %s\n", argv[i]);
      return usage(stderr), 2;
    }
    const std::string_view value = eq == std::string_view::npos ? argv[++i] : arg.substr(eq + 1);
    if (!it->second(value)) {
      std::fprintf(stderr, "leader-election-controller: bad value for %.*s: \"%.*s\"\n",
                   static_cast<int>(flag.size()), flag.data(), static_cast<int>(value.size()),
                   value.data());
      return usage(stderr), 2;
    }
  }
  if (f.all_namespaces && !f.ns.empty()) {
    std::fprintf(
        stderr,
        "leader-election-controller: --namespace \"%s\" and --all-namespaces exclude each other\n",
        f.ns.c_str());
    return 2;
  }
  // client-go's rule (lease_elector checks it too, naming its fields rather than the flags).
  if (f.lease_duration <= f.renew_deadline ||
      static_cast<double>(f.renew_deadline.count()) <=
          1.2 * static_cast<double>(f.retry_period.count())) {
    std::fprintf(stderr,
                 "leader-election-controller: need --lease-duration > --renew-deadline > "
                 "1.2 x --retry-period; got %lldms, %lldms, %lldms\n",
                 static_cast<long long>(f.lease_duration.count()),
                 static_cast<long long>(f.renew_deadline.count()),
                 static_cast<long long>(f.retry_period.count()));
    return 2;
  }
  return -1;
}

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
                  .name = f.lease_name,
                  .ns = f.lease_ns.empty() ? (ns.empty() ? cfg.namespace_ : ns) : f.lease_ns,
                  .identity = f.identity,
                  .lease_duration = f.lease_duration,
                  .renew_deadline = f.renew_deadline,
                  .retry_period = f.retry_period,
                  .registry = &reg,  // leader_election_master_status{name}
                  .log = log.get(),
                  // The elector logs acquiring and losing the Lease, the controller starting and
                  // stopping its workers; the hooks (on_started_leading, ...) are for more.
                  .on_new_leader = [&](const std::string& id) {
                    log->info("observed a new leader",
                              {{"identity", id.empty() ? "(none: released)" : id}});
                  }});
    log->info("campaigning",
              {{"lease", f.lease_name}, {"identity", elector->identity()}, {"server", cfg.server}});

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
  controller_thread.request_stop();  // the workers stop, then the Lease is released
  controller_thread.join();
  srv->stop();
  log->info("stopped");
  return 0;
}
