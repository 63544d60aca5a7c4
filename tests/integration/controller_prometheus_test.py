#!/usr/bin/python3
"""metrics-controller scraped by a real Prometheus (Debian's /usr/bin/prometheus).

Modes:
  prometheus  Runs two metrics-controllers on free loopback ports, one with the Prometheus
              recorder (--error-rate > 0) and one with --metrics-backend none, and a Prometheus
              scraping both every second. Asserts through /api/v1/query that the four seed
              families exist with labels controller and type, that errors > 0, and that the
              `none` target exposes none of them although it is scraped.
  promtool    Runs one metrics-controller, scrapes /metrics once and requires
              `promtool check metrics` to exit 0 and print nothing.
Everything listens on 127.0.0.1 only; processes are stopped by pid and the temporary directory is
removed. Standard library only.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PREFIX = "itest"
SEED_FAMILIES = [
    f"{PREFIX}_controller_queued_events_total",
    f"{PREFIX}_controller_processed_events_total",
    f"{PREFIX}_controller_processed_event_errors_total",
    f"{PREFIX}_controller_processed_event_duration_seconds_count",
]
DEADLINE_SECONDS = 90


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_controller(binary, extra, log_path):
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--namespace", PREFIX, "--events-per-second", "50",
         "--max-handler-ms", "20", "--objects", "20", "--duration", "300"] + extra,
        stdout=subprocess.PIPE, stderr=log)
    first = proc.stdout.readline().decode().strip()
    if not first.startswith("listening on http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"unexpected first line from metrics-controller: {first!r}")
    return proc, first[len("listening on "):]


def stop(proc, name):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name} did not stop within 30s of SIGTERM")
    if rc != 0:
        raise AssertionError(f"{name} exited with {rc} after SIGTERM")


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def query(prom, expr):
    body = json.loads(http_get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    if body.get("status") != "success":
        raise AssertionError(f"query {expr!r} failed: {body}")
    return body["data"]["result"]


def wait_for(what, fn):
    until = time.monotonic() + DEADLINE_SECONDS
    last = None
    while time.monotonic() < until:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError) as e:  # Prometheus still starting
            last = e
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last result: {last!r}")


def run_prometheus_mode(args, tmp):
    with_proc = none_proc = prom = None
    try:
        with_proc, with_url = start_controller(
            args.metrics_controller, ["--metrics-backend", "prometheus", "--error-rate", "0.5"],
            os.path.join(tmp, "with.log"))
        none_proc, none_url = start_controller(
            args.metrics_controller, ["--metrics-backend", "none", "--error-rate", "0.5"],
            os.path.join(tmp, "none.log"))
        port = free_port()
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: with
    static_configs: [{{targets: ["{with_url[len('http://'):]}"]}}]
  - job_name: none
    static_configs: [{{targets: ["{none_url[len('http://'):]}"]}}]
""")
        prom_log = open(os.path.join(tmp, "prometheus.log"), "wb")
        prom = subprocess.Popen(
            [args.prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT)
        prom_url = f"http://127.0.0.1:{port}"

        # Errors > 0 (the handler fails half of the time).
        errors = wait_for(
            "processed_event_errors_total > 0",
            lambda: query(prom_url, f'sum({PREFIX}_controller_processed_event_errors_total{{job="with"}}) > 0'))
        print(f"errors total: {errors[0]['value'][1]}")

        # The four seed families, with labels controller and type.
        for family in SEED_FAMILIES:
            result = wait_for(family, lambda: query(prom_url, f'{family}{{job="with"}}'))
            types = set()
            for series in result:
                labels = series["metric"]
                if labels.get("controller") != "metrics-controller":
                    raise AssertionError(f"{family}: bad controller label in {labels}")
                if "type" not in labels:
                    raise AssertionError(f"{family}: no type label in {labels}")
                types.add(labels["type"])
            expected = {"add", "delete", "requeue"} if family.endswith("queued_events_total") else {"add", "delete"}
            if types != expected:
                raise AssertionError(f"{family}: types {sorted(types)}, expected {sorted(expected)}")
            print(f"{family}: {len(result)} series, types {sorted(types)}")

        # --metrics-backend none: scraped fine, yet no controller family at all.
        wait_for("the none target to be up", lambda: query(prom_url, 'up{job="none"} == 1'))
        wait_for("a sample from the none target",
                 lambda: query(prom_url, 'process_cpu_seconds_total{job="none"}'))
        leaked = query(prom_url, f'{{job="none", __name__=~"{PREFIX}_.*"}}')
        if leaked:
            raise AssertionError(f"--metrics-backend none exposes {[s['metric'] for s in leaked]}")
        print("none backend: no controller families")
    finally:
        for p, name in ((prom, "prometheus"), (with_proc, "metrics-controller (prometheus)"),
                        (none_proc, "metrics-controller (none)")):
            try:
                stop(p, name)
            except AssertionError as e:
                print(e, file=sys.stderr)
                raise


def run_promtool_mode(args, tmp):
    proc = None
    try:
        proc, url = start_controller(args.metrics_controller, ["--error-rate", "0.3"],
                                     os.path.join(tmp, "controller.log"))
        def scraped_after_some_work():
            body = http_get(f"{url}/metrics")
            sample = f'{PREFIX}_controller_processed_events_total{{controller="metrics-controller",type="add"}} '
            for line in body.splitlines():
                if line.startswith(sample) and float(line[len(sample):]) > 0:
                    return body
            return None

        body = wait_for("processed events in /metrics", scraped_after_some_work)
        check = subprocess.run([args.promtool, "check", "metrics"], input=body.encode(),
                               capture_output=True)
        out = (check.stdout + check.stderr).decode()
        if check.returncode != 0 or out.strip():
            raise AssertionError(f"promtool check metrics: rc={check.returncode}\n{out}")
        print(f"promtool check metrics: clean ({len(body)} bytes)")
    finally:
        stop(proc, "metrics-controller")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["prometheus", "promtool"])
    ap.add_argument("--metrics-controller", required=True)
    ap.add_argument("--prometheus", default="/usr/bin/prometheus")
    ap.add_argument("--promtool", default="/usr/bin/promtool")
    args = ap.parse_args()
    for tool in (args.prometheus if args.mode == "prometheus" else args.promtool,):
        if not os.access(tool, os.X_OK):
            print(f"{tool} not found: run scripts/install-deps (Debian package `prometheus`)",
                  file=sys.stderr)
            return 1
    tmp = tempfile.mkdtemp(prefix="operant-controller-it-")
    ok = False
    try:
        if args.mode == "prometheus":
            run_prometheus_mode(args, tmp)
        else:
            run_promtool_mode(args, tmp)
        ok = True
    finally:
        if not ok:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log"):
                    with open(os.path.join(tmp, name), errors="replace") as f:
                        tail = f.read()[-3000:]
                    print(f"---- {name} (tail) ----\n{tail}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
