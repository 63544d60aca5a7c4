#!/usr/bin/python3
"""The kube examples against a loopback Kubernetes API server (the fake-apiserver program).

    kube_examples_test.py pod    --fake-apiserver F --pod-controller P
    kube_examples_test.py leader --fake-apiserver F --leader-election-controller L
    kube_examples_test.py flags  --pod-controller P --leader-election-controller L

pod:    pods created and deleted through the API server's REST API (TLS, the CA and token of the
        kubeconfig fake-apiserver writes) reach pod-controller's handler exactly once each, as
        its /metrics shows (Kooper's processed-events counter, its own counter, the REST
        client's); namespace, label selector and --all-namespaces select the right pods.
leader: two leader-election-controllers on one Lease: exactly one leads and processes the pods;
        when it is terminated it releases the Lease and the other takes over within
        lease duration + retry period, and processes the pods.
flags:  --help exits 0 and lists every flag; bad flags exit 2 naming the flag and the value.

Everything listens on 127.0.0.1; processes are stopped by pid and temporary directories removed.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prometheus_harness import Program, stop_pid  # noqa: E402

NAMESPACE = "demo"  # the namespace of fake-apiserver's kubeconfig context
PODS = 7


class FakeAPIServer:
    """fake-apiserver in a temporary directory; a REST client for it (stdlib http.client + TLS)."""

    def __init__(self, binary, namespace=NAMESPACE, token="operant-test-token"):
        self.binary, self.namespace, self.token = binary, namespace, token
        self.dir = self.proc = self.port = self.ssl = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="operant-kube-examples-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.proc = subprocess.Popen(
            [self.binary, "--kubeconfig-out", self.kubeconfig, "--token", self.token,
             "--namespace", self.namespace],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on https://127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.__exit__(None, None, None)
            raise RuntimeError(f"fake-apiserver printed {line!r}, not 'listening on https://...'")
        self.port = int(m.group(1))
        with open(self.kubeconfig) as f:
            ca = re.search(r"certificate-authority-data: (\S+)", f.read()).group(1)
        self.ssl = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.stdin.close()  # end of input: the server stops
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop_pid(self.proc)
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, content_type="application/json"):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl, timeout=10)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers=headers)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {r.status}: {data[:400]!r}")
        return json.loads(data) if data else None

    def create_pod(self, ns, name, labels):
        return self.request("POST", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}})

    def label_pod(self, ns, name, labels):
        return self.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}",
                            {"metadata": {"labels": labels}}, "application/merge-patch+json")

    def delete_pod(self, ns, name):
        return self.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}")

    def lease_holder(self, ns, name):
        try:
            lease = self.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}")
        except RuntimeError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        return lease.get("spec", {}).get("holderIdentity", "")


# ---- reading /metrics --------------------------------------------------------------------------
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(program):
    """{(name, frozenset(labels)): value} of a program's /metrics (text format)."""
    with urllib.request.urlopen(program.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples[(m.group(1), frozenset(LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return samples


def value(samples, metric, /, **labels):
    """The value of the one series of `metric` whose labels include `labels`; None when absent."""
    found = [v for (n, ls), v in samples.items() if n == metric and set(labels.items()) <= ls]
    if len(found) > 1:
        raise AssertionError(f"{metric}{labels} matches {len(found)} series")
    return found[0] if found else None


def processed(program, type_):
    return value(scrape(program), "operant_controller_processed_events_total", type=type_)


def wait_for(what, fn, predicate, timeout=10, interval=0.05):
    """Polls fn() until predicate(result); returns the result or fails with the last one."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if predicate(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {last!r} after {timeout} s")
        time.sleep(interval)


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def stop_and_check(program, name):
    rc = stop_pid(program.proc)
    check(rc == 0, f"{name} exited with {rc} after SIGTERM")


# ---- the tests -----------------------------------------------------------------------------------
def test_pod(args):
    with FakeAPIServer(args.fake_apiserver) as api:
        names = [f"echo-{i}" for i in range(PODS)]
        for n in names:
            api.create_pod(NAMESPACE, n, {"app": "echo"})
        api.create_pod(NAMESPACE, "unlabelled", {})                # not selected by app=echo
        api.create_pod("elsewhere", "echo-other", {"app": "echo"})  # another namespace

        common = [args.pod_controller, "--kubeconfig", api.kubeconfig, "--listen", "127.0.0.1:0",
                  "--resync", "0"]
        with Program(common + ["--label-selector", "app=echo", "--workers", "2"]) as ctl, \
                Program(common + ["--all-namespaces", "--label-selector=app=echo"]) as everywhere:
            # Every pod of the context's namespace matching the selector, exactly once.
            wait_for("processed adds", lambda: processed(ctl, "add"), lambda v: v == PODS)
            wait_for("processed adds, all namespaces", lambda: processed(everywhere, "add"),
                     lambda v: v == PODS + 1)
            s = scrape(ctl)
            check(value(s, "pod_controller_pods_seen_total", event="add") == PODS,
                  f"pods_seen add: {value(s, 'pod_controller_pods_seen_total', event='add')}")
            check(value(s, "operant_controller_processed_event_errors_total", type="add") == 0,
                  "handler errors")

            # An update is handled as an update of a known pod.
            api.label_pod(NAMESPACE, names[0], {"touched": "yes"})
            wait_for("pods_seen update",
                     lambda: value(scrape(ctl), "pod_controller_pods_seen_total", event="update"),
                     lambda v: v == 1)

            # Deletes reach the handler with the last object.
            for n in names[-2:]:
                api.delete_pod(NAMESPACE, n)
            wait_for("processed deletes", lambda: processed(ctl, "delete"), lambda v: v == 2)
            wait_for("pods_seen delete",
                     lambda: value(scrape(ctl), "pod_controller_pods_seen_total", event="delete"),
                     lambda v: v == 2)
            time.sleep(0.3)  # nothing more arrives: no duplicates
            s = scrape(ctl)
            check(value(s, "operant_controller_processed_events_total", type="add") == PODS + 1,
                  "adds after the update and the deletes")
            check(value(s, "operant_controller_processed_events_total", type="delete") == 2,
                  "deletes settled")
            check(value(s, "rest_client_requests_total", method="GET", code="200") is not None,
                  "rest_client_requests_total{method=GET,code=200} missing")
            check(value(s, "pod_controller_pods_seen_total", event="resync") == 0, "resyncs with --resync 0")
            status, _, body = ctl.get("/healthz")
            check(status == 200, f"/healthz: {status} {body!r}")
            stop_and_check(ctl, "pod-controller")
            stop_and_check(everywhere, "pod-controller --all-namespaces")

        # --duration ends the program by itself.
        t0 = time.monotonic()
        rc = subprocess.run(common + ["--duration", "0.5"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=10).returncode
        check(rc == 0, f"--duration 0.5 exited with {rc}")
        print(f"pod-controller --duration 0.5 ran {time.monotonic() - t0:.2f} s")


def test_leader(args):
    lease, lease_s, retry_s = "le-test", 2.0, 0.3
    with FakeAPIServer(args.fake_apiserver) as api:
        for i in range(PODS):
            api.create_pod(NAMESPACE, f"pod-{i}", {"app": "le"})
        common = [args.leader_election_controller, "--kubeconfig", api.kubeconfig,
                  "--listen", "127.0.0.1:0", "--resync", "0", "--lease-name", lease,
                  "--lease-duration", f"{lease_s}s", "--renew-deadline", "1.5s",
                  "--retry-period", f"{retry_s}s"]
        with Program(common + ["--identity", "replica-a"]) as a, \
                Program(common + ["--identity", "replica-b"]) as b:
            replicas = {"replica-a": a, "replica-b": b}

            def statuses():
                return {ident: value(scrape(p), "leader_election_master_status", name=lease)
                        for ident, p in replicas.items()}

            got = wait_for("one leader", statuses, lambda s: sorted(s.values()) == [0, 1])
            leader_id = next(i for i, v in got.items() if v == 1)
            follower_id = next(i for i in replicas if i != leader_id)
            leader, follower = replicas[leader_id], replicas[follower_id]
            check(api.lease_holder(NAMESPACE, lease) == leader_id, "the Lease names the leader")

            # Only the leader's workers run; the follower stays a follower.
            wait_for("leader processed adds", lambda: processed(leader, "add"), lambda v: v == PODS)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                s = statuses()
                check(s == {leader_id: 1, follower_id: 0}, f"leadership moved: {s}")
                time.sleep(0.1)
            check(processed(follower, "add") == 0, "the follower processed pods")

            # SIGTERM: the leader stops its workers and releases the Lease; the follower takes over.
            stop_and_check(leader, f"leader {leader_id}")
            t0 = time.monotonic()
            holder = api.lease_holder(NAMESPACE, lease)
            check(holder in ("", follower_id), f"the Lease is still held by {holder!r} after its holder exited")
            wait_for("follower leads",
                     lambda: value(scrape(follower), "leader_election_master_status", name=lease),
                     lambda v: v == 1, timeout=lease_s + retry_s)
            took = time.monotonic() - t0
            print(f"takeover {took:.2f} s after the leader exited (bound {lease_s + retry_s} s)")
            check(api.lease_holder(NAMESPACE, lease) == follower_id, "the Lease names the new leader")
            wait_for("new leader processed adds", lambda: processed(follower, "add"), lambda v: v == PODS)
            api.delete_pod(NAMESPACE, "pod-0")
            wait_for("new leader processed the delete", lambda: processed(follower, "delete"), lambda v: v == 1)
            stop_and_check(follower, f"new leader {follower_id}")


def run(argv):
    return subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=20)


def test_flags(args):
    common_flags = ["--kubeconfig", "--context", "--namespace", "--all-namespaces", "--listen",
                    "--resync", "--workers", "--label-selector", "--duration", "--help"]
    lease_flags = ["--lease-name", "--lease-namespace", "--identity", "--lease-duration",
                   "--renew-deadline", "--retry-period"]
    for prog, flags in ((args.pod_controller, common_flags),
                        (args.leader_election_controller, common_flags + lease_flags)):
        name = os.path.basename(prog)
        r = run([prog, "--help"])
        check(r.returncode == 0, f"{name} --help exited with {r.returncode}")
        for flag in flags:
            check(re.search(rf"(^|\s){re.escape(flag)}(\s|$)", r.stdout), f"{name} --help lacks {flag}")
        bad = [(["--workers", "0"], ["--workers", '"0"']),
               (["--workers=many"], ["--workers", '"many"']),
               (["--resync", "soon"], ["--resync", '"soon"']),
               (["--listen", "nowhere"], ["--listen", '"nowhere"']),
               (["--duration", "-1"], ["--duration", '"-1"']),
               (["--frobnicate", "1"], ["--frobnicate"]),
               (["--namespace"], ["missing value", "--namespace"]),
               (["--namespace", "a", "--all-namespaces"], ["--namespace", '"a"', "--all-namespaces"])]
        if prog == args.leader_election_controller:
            bad += [(["--retry-period", "0"], ["--retry-period", '"0"']),
                    (["--lease-duration", "1s", "--renew-deadline", "2s"],
                     ["--lease-duration", "--renew-deadline", "1000ms", "2000ms"])]
        for argv, expected in bad:
            r = run([prog] + argv)
            check(r.returncode == 2, f"{name} {' '.join(argv)}: exit {r.returncode}, want 2")
            first = r.stderr.splitlines()[0] if r.stderr else ""
            for e in expected:
                check(e in first, f"{name} {' '.join(argv)}: {first!r} does not name {e}")
        # A kubeconfig that does not exist: a configuration error naming the file, exit 1.
        missing = os.path.join(tempfile.gettempdir(), "operant-no-such-kubeconfig")
        r = run([prog, "--kubeconfig", missing, "--listen", "127.0.0.1:0"])
        check(r.returncode == 1 and missing in r.stderr, f"{name} --kubeconfig {missing}: {r.returncode} {r.stderr!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("test", choices=["pod", "leader", "flags"])
    p.add_argument("--fake-apiserver")
    p.add_argument("--pod-controller")
    p.add_argument("--leader-election-controller")
    args = p.parse_args()
    t0 = time.monotonic()
    {"pod": test_pod, "leader": test_leader, "flags": test_flags}[args.test](args)
    print(f"kube_examples_test {args.test}: ok ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
