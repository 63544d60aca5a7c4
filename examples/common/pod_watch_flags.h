// examples/common/pod_watch_flags.h — the flags pod-controller and leader-election-controller
// share: where the cluster is, which pods to watch, and how the controller runs.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "flags.h"

namespace example {

struct pod_watch_flags {
  std::string kubeconfig, context, ns, label_selector;
  bool all_namespaces = false;
  std::string listen = ":8080";
  std::chrono::milliseconds resync = std::chrono::seconds(30);
  int workers = 1;
  double duration = 0;  // seconds; 0 = until SIGINT/SIGTERM

  // The lines of --help for these flags.
  static constexpr const char* usage =
      "  --kubeconfig PATH     kubeconfig (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
      "  --context NAME        kubeconfig context (default: the current one)\n"
      "  --namespace NS        watch the pods of NS (default: the context's namespace)\n"
      "  --all-namespaces      watch the pods of every namespace\n"
      "  --label-selector SEL  only pods matching SEL, e.g. app=web,tier!=db\n"
      "  --listen HOST:PORT    serve /metrics and /healthz here (default :8080)\n"
      "  --resync D            resync interval: 30s, 1m, 500ms; 0 disables (default 30s)\n"
      "  --workers N           concurrent workers (default 1)\n"
      "  --duration SECONDS    run this long, then exit (default 0: until SIGINT or SIGTERM)\n";

  void add_to(flag_set& flags) {
    flags.value("--kubeconfig", text(kubeconfig))
        .value("--context", text(context))
        .value("--namespace", name(ns))
        .value("--label-selector", text(label_selector))
        .toggle("--all-namespaces", all_namespaces)
        .value("--listen", listen_address(listen))
        .value("--resync", example::duration(resync))
        .value("--workers", number(workers, 1))
        .value("--duration", number(duration, 0.0));
  }

  // After parsing: 2 (having said why) if the flags contradict each other, else -1.
  int check(const flag_set& flags) const {
    if (all_namespaces && !ns.empty()) {
      return flags.error("--namespace \"" + ns + "\" and --all-namespaces exclude each other");
    }
    return -1;
  }
};

}  // namespace example
