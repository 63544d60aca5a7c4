#!/usr/bin/python3
"""Structural checks of the Kubernetes manifests in deploy/ (no cluster needed).

    deploy_manifests_test.py --deploy DIR --pod-controller P --leader-election-controller L

For deploy/ (pod-controller) and deploy/leader-election/ (leader-election-controller):
  - kustomization.yaml lists exactly the manifests of its directory, and every object is in the
    namespace deploy/namespace.yaml creates;
  - the Deployment runs as the ServiceAccount defined beside it, non-root, read-only root
    filesystem, no privilege escalation, every capability dropped, with requests and limits;
    its image is the documented placeholder; its replicas are 1 (pod-controller) or 2 (leader
    election);
  - its container port `metrics` is the port of --listen, its liveness and readiness probes GET
    /healthz on it; the Service selects the Pods and targets that port under the name `metrics`;
    the ServiceMonitor selects the Service's labels and scrapes port `metrics` at /metrics every 30s;
  - the flags in the container's args are flags the program accepts (its --help lists them), and
    the $(VARS) they use are defined in its env;
  - RBAC grants the ServiceAccount exactly: list and watch on pods (both), and get, create and
    update on coordination.k8s.io leases in its own namespace only (leader election), get and
    update limited to the Lease named by --lease-name; every role is bound to that account.
Needs PyYAML (Debian: python3-yaml).
"""
import argparse
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    sys.exit("deploy_manifests_test: PyYAML is missing (Debian package python3-yaml)")

PLACEHOLDER_IMAGE = "operant/pod-controller:latest"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
    return cond


def load(directory):
    """The objects of a kustomization directory, after checking its resource list."""
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    resources = kustomization.get("resources", [])
    present = sorted(n for n in os.listdir(directory)
                     if n.endswith(".yaml") and n != "kustomization.yaml")
    check(sorted(resources) == present,
          f"{directory}/kustomization.yaml lists {sorted(resources)}, the directory holds {present}")
    objects = []
    for name in resources:
        with open(os.path.join(directory, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    doc["__file"] = os.path.join(os.path.basename(directory), name)
                    objects.append(doc)
    return objects


def of_kind(objects, kind):
    return [o for o in objects if o.get("kind") == kind]


def one(objects, kind, where):
    found = of_kind(objects, kind)
    if not check(len(found) == 1, f"{where}: {len(found)} {kind} objects, want 1"):
        finish()  # the checks that follow need it
    return found[0]


def finish():
    if failures:
        print("\n".join(f"FAIL: {f}" for f in failures))
        sys.exit(1)


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def help_flags(program):
    r = subprocess.run([program, "--help"], stdout=subprocess.PIPE, text=True, timeout=20)
    check(r.returncode == 0, f"{program} --help exited with {r.returncode}")
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", r.stdout))


def check_variant(directory, objects, namespace, program, replicas, lease):
    where = os.path.basename(os.path.normpath(directory))
    for o in objects:
        kind, meta = o.get("kind"), o.get("metadata", {})
        if kind not in CLUSTER_SCOPED:
            check(meta.get("namespace") == namespace,
                  f"{o['__file']}: {kind} {meta.get('name')} is in {meta.get('namespace')!r}, not {namespace!r}")

    sa = one(objects, "ServiceAccount", where)["metadata"]["name"]
    dep = one(objects, "Deployment", where)
    svc = one(objects, "Service", where)
    sm = one(objects, "ServiceMonitor", where)

    # ---- the Deployment --------------------------------------------------------------------------
    spec = dep["spec"]
    check(spec.get("replicas") == replicas, f"{where}: replicas {spec.get('replicas')}, want {replicas}")
    pod_labels = spec["template"]["metadata"].get("labels", {})
    check(labels_match(spec["selector"].get("matchLabels"), pod_labels),
          f"{where}: the Deployment's selector does not match its Pod labels")
    pod = spec["template"]["spec"]
    check(pod.get("serviceAccountName") == sa,
          f"{where}: the Pod runs as {pod.get('serviceAccountName')!r}, the ServiceAccount is {sa!r}")
    containers = pod.get("containers", [])
    check(len(containers) == 1, f"{where}: {len(containers)} containers, want 1")
    c = containers[0]
    check(c.get("image") == PLACEHOLDER_IMAGE, f"{where}: image {c.get('image')!r}, want {PLACEHOLDER_IMAGE!r}")
    command = c.get("command", ["/usr/local/bin/pod-controller"])  # the image's entry point
    check(command == ["/usr/local/bin/" + os.path.basename(program)],
          f"{where}: command {command} does not run {os.path.basename(program)} from the image")
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    check(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot is not true")
    check(csc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities.drop is not [ALL]")
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in res.get(part, {}), f"{where}: no resources.{part}.{r}")

    # ---- flags -----------------------------------------------------------------------------------
    args = c.get("args", [])
    accepted = help_flags(program)
    given = {}
    for a in args:
        check(a.startswith("--"), f"{where}: argument {a!r} is not a --flag")
        name, _, value = a.partition("=")
        check(name in accepted, f"{where}: {os.path.basename(program)} does not accept {name} (its --help: {sorted(accepted)})")
        given[name] = value
        env = {e["name"] for e in c.get("env", [])}
        for var in re.findall(r"\$\((\w+)\)", value):
            check(var in env, f"{where}: {a} uses $({var}), which the container's env does not define")

    # ---- port, probes, Service, ServiceMonitor ---------------------------------------------------
    listen_port = int(given.get("--listen", ":8080").rsplit(":", 1)[1])
    ports = {p.get("name"): p for p in c.get("ports", [])}
    check("metrics" in ports, f"{where}: no container port named metrics")
    metrics_port = ports.get("metrics", {}).get("containerPort")
    check(metrics_port == listen_port, f"{where}: container port metrics is {metrics_port}, --listen says {listen_port}")
    for probe in ("livenessProbe", "readinessProbe"):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("path") == "/healthz", f"{where}: {probe} path {get.get('path')!r}, want /healthz")
        check(get.get("port") in ("metrics", metrics_port), f"{where}: {probe} port {get.get('port')!r} is not the metrics port")

    sspec = svc["spec"]
    check(sspec.get("type", "ClusterIP") == "ClusterIP", f"{where}: the Service is {sspec.get('type')}, not ClusterIP")
    check(labels_match(sspec.get("selector"), pod_labels), f"{where}: the Service does not select the Pods")
    sports = {p.get("name"): p for p in sspec.get("ports", [])}
    check("metrics" in sports, f"{where}: the Service has no port named metrics")
    target = sports.get("metrics", {}).get("targetPort")
    check(target in ("metrics", metrics_port), f"{where}: the Service's metrics port targets {target!r}")

    check(sm.get("apiVersion") == "monitoring.coreos.com/v1", f"{where}: ServiceMonitor apiVersion {sm.get('apiVersion')}")
    smspec = sm["spec"]
    check(labels_match(smspec.get("selector", {}).get("matchLabels"), svc["metadata"].get("labels", {})),
          f"{where}: the ServiceMonitor does not select the Service's labels")
    names = smspec.get("namespaceSelector", {}).get("matchNames")
    check(names is None or namespace in names, f"{where}: the ServiceMonitor looks in {names}, not {namespace}")
    endpoints = smspec.get("endpoints", [])
    check(len(endpoints) == 1, f"{where}: {len(endpoints)} ServiceMonitor endpoints, want 1")
    for e in endpoints:
        check(e.get("port") == "metrics" and e.get("port") in sports,
              f"{where}: the ServiceMonitor scrapes port {e.get('port')!r}, not the Service's metrics port")
        check(e.get("path", "/metrics") == "/metrics", f"{where}: ServiceMonitor path {e.get('path')}")
        check(e.get("interval") == "30s", f"{where}: ServiceMonitor interval {e.get('interval')}, want 30s")

    # ---- RBAC: exactly the permissions the program needs, all bound to its ServiceAccount ---------
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objects if o["kind"] in ("Role", "ClusterRole")}
    bound = set()
    for b in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding"):
        ref = (b["roleRef"]["kind"], b["roleRef"]["name"])
        check(ref in roles, f"{where}: {b['kind']} {b['metadata']['name']} refers to {ref}, not defined here")
        check(b["kind"] == "RoleBinding" or ref[0] == "ClusterRole", f"{where}: a ClusterRoleBinding of a Role")
        check(b.get("subjects") == [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
              f"{where}: {b['kind']} {b['metadata']['name']} binds {b.get('subjects')}, not only ServiceAccount {sa}")
        bound.add((ref, b["kind"] == "ClusterRoleBinding"))
    check({r for r, _ in bound} == set(roles), f"{where}: roles {sorted(roles)} but bound {sorted(r for r, _ in bound)}")

    granted = {}  # (apiGroup, resource) -> {verb: (cluster_wide, resourceNames)}
    for (kind, _), role in roles.items():
        cluster_wide = kind == "ClusterRole" and any(r == (kind, role["metadata"]["name"]) and cw for r, cw in bound)
        for rule in role.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        check("*" not in (group, resource, verb), f"{where}: wildcard in {rule}")
                        granted.setdefault((group, resource), {})[verb] = (cluster_wide, rule.get("resourceNames"))
    want = {("", "pods"): {"list", "watch"}}
    if lease:
        want[("coordination.k8s.io", "leases")] = {"get", "create", "update"}
    got = {k: set(v) for k, v in granted.items()}
    check(got == want, f"{where}: RBAC grants {got}, want exactly {want}")
    if lease:
        for verb, (cluster_wide, names) in granted.get(("coordination.k8s.io", "leases"), {}).items():
            check(not cluster_wide, f"{where}: leases {verb} is granted beyond namespace {namespace}")
            if verb != "create":
                check(names == [given.get("--lease-name")],
                      f"{where}: leases {verb} is limited to {names}, the Deployment's --lease-name is {given.get('--lease-name')!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deploy", required=True)
    p.add_argument("--pod-controller", required=True)
    p.add_argument("--leader-election-controller", required=True)
    a = p.parse_args()

    base = load(a.deploy)
    namespace = one(base, "Namespace", "deploy")["metadata"]["name"]
    check_variant(a.deploy, base, namespace, a.pod_controller, replicas=1, lease=False)
    check_variant(os.path.join(a.deploy, "leader-election"), load(os.path.join(a.deploy, "leader-election")),
                  namespace, a.leader_election_controller, replicas=2, lease=True)

    with open(os.path.join(a.deploy, "Dockerfile")) as f:
        dockerfile = f.read()
    # The image the Deployments name: both programs in /usr/local/bin (where leader-election's
    # `command` points), pod-controller the entry point, a numeric non-root user (runAsNonRoot).
    for needle in ("FROM debian:bookworm AS build", "scripts/install-deps", "--preset release",
                   "--target pod-controller leader-election-controller", "FROM debian:bookworm-slim",
                   " /usr/local/bin/\n", 'ENTRYPOINT ["/usr/local/bin/pod-controller"]', "USER 65532"):
        check(needle in dockerfile, f"deploy/Dockerfile lacks {needle!r}")

    finish()
    print("deploy manifests: ok")


if __name__ == "__main__":
    main()
