"""Real servers for integration tests: Debian's Prometheus and operant's example programs.

Everything listens on 127.0.0.1 ports chosen free at start; every process is stopped by pid and
every temporary directory removed, even when the test fails.

    with Prometheus({"app": ["127.0.0.1:1234"]}) as prom:
        prom.wait_for('up{job="app"}', lambda v: v == 1)
        value = prom.value('sum(myapp_http_requests_total)')

    with Program([path, "--listen", "127.0.0.1:0"]) as app:   # reads "listening on URL"
        urllib.request.urlopen(app.url + "/metrics")
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_pid(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Program:
    """Runs one of operant's programs that prints 'listening on URL' as its first line."""

    def __init__(self, argv, startup_timeout=30):
        self.argv = [str(a) for a in argv]
        self.startup_timeout = startup_timeout
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=None, text=True)
        deadline = time.monotonic() + self.startup_timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                self.url = line.split()[2]
                return self
        stop_pid(self.proc)
        raise RuntimeError(f"{self.argv[0]} did not print 'listening on URL' (last line {line!r})")

    def __exit__(self, *exc):
        stop_pid(self.proc)
        self.proc.stdout.close()

    @property
    def host_port(self):
        return urllib.parse.urlsplit(self.url).netloc

    def get(self, path, headers=None):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")


class Prometheus:
    """Debian's Prometheus 2.42 scraping `jobs` (name -> ["host:port", ...]) every interval."""

    def __init__(self, jobs, scrape_interval="1s", extra_job_config=""):
        self.jobs = jobs
        self.scrape_interval = scrape_interval
        self.extra_job_config = extra_job_config
        self.dir = None
        self.proc = None
        self.port = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="operant-prometheus-")
        self.port = free_port()
        lines = ["global:", f"  scrape_interval: {self.scrape_interval}",
                 f"  scrape_timeout: {self.scrape_interval}", "scrape_configs:"]
        for job, targets in self.jobs.items():
            lines += [f"  - job_name: {json.dumps(job)}",
                      f"    static_configs:",
                      f"      - targets: {json.dumps(targets)}"]
            if self.extra_job_config:
                lines += ["    " + l for l in self.extra_job_config.splitlines()]
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.__exit__()
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("prometheus did not become ready within 60 s")

    def __exit__(self, *exc):
        if self.proc is not None:
            stop_pid(self.proc)
        if self.dir is not None:
            if exc and exc[0] is not None:
                try:
                    with open(os.path.join(self.dir, "prometheus.log")) as f:
                        print("---- prometheus log ----\n" + f.read())
                except OSError:
                    pass
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr):
        """The result list of an instant query (each item has 'metric' and 'value')."""
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def value(self, expr):
        """The single value of a query returning one sample, or None when it returns none."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expr!r} returned {len(result)} series: {result}")
        return float(result[0]["value"][1])

    def wait_for(self, expr, predicate, timeout=45):
        """Polls `expr` until predicate(value) holds; returns the value or raises with the last."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.value(expr)
            if last is not None and predicate(last):
                return last
            time.sleep(0.25)
        raise AssertionError(f"{expr!r} never satisfied the condition; last value {last}")
