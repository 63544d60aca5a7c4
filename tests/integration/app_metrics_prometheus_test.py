"""app-metrics scraped by Debian's Prometheus 2.42, in both negotiated formats.

One app-metrics answers Prometheus in OpenMetrics (its default), one in text 0.0.4
(--no-openmetrics); the test checks the Content-Type each chooses for Prometheus' own Accept
header, drives /my-api-endpoint N times in two rounds around a scrape, and asks Prometheus' HTTP
API for up, the counter, its rate, and the histogram's buckets and count, which must equal what
the program itself reports. promtool lints the live output; prometheus_client parses the
OpenMetrics output.
"""
import argparse
import subprocess
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from prometheus_harness import PROMTOOL, Program, Prometheus

# Prometheus 2.42's scrape Accept header (scrape/scrape.go acceptHeader).
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
N1, N2 = 17, 25


def drive(app, n):
    for _ in range(n):
        status, _, body = app.get("/my-api-endpoint")
        assert status == 200, status


def buckets_from(body):
    """{le: value} of myapp_http_request_duration_seconds from text exposition."""
    out = {}
    for line in body.splitlines():
        if line.startswith('myapp_http_request_duration_seconds_bucket{le="'):
            le = line.split('"')[1]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    args = ap.parse_args()

    with Program([args.app, "--listen", "127.0.0.1:0"]) as om_app, \
         Program([args.app, "--listen", "127.0.0.1:0", "--no-openmetrics"]) as text_app:
        apps = {"om": om_app, "text": text_app}
        # What each answers to Prometheus' Accept header.
        _, headers, om_body = om_app.get("/metrics", {"Accept": PROMETHEUS_ACCEPT})
        assert headers["Content-Type"] == OM_TYPE, headers
        _, headers, _ = text_app.get("/metrics", {"Accept": PROMETHEUS_ACCEPT})
        assert headers["Content-Type"] == TEXT_TYPE, headers
        list(text_string_to_metric_families(om_body))  # raises on any OpenMetrics violation

        with Prometheus({job: [app.host_port] for job, app in apps.items()}) as prom:
            for job, app in apps.items():
                prom.wait_for(f'up{{job="{job}"}}', lambda v: v == 1)
                drive(app, N1)
            for job in apps:
                prom.wait_for(f'myapp_http_requests_total{{job="{job}"}}', lambda v: v == N1)
            for app in apps.values():
                drive(app, N2)
            n = N1 + N2
            for job, app in apps.items():
                sel = f'{{job="{job}"}}'
                assert prom.value(f"up{sel}") == 1
                prom.wait_for(f"myapp_http_requests_total{sel}", lambda v: v == n)
                prom.wait_for(f"myapp_http_request_duration_seconds_count{sel}", lambda v: v == n)
                rate = prom.value(f"rate(myapp_http_requests_total{sel}[1m])")
                assert rate is not None and rate > 0, rate
                _, _, body = app.get("/metrics")
                expected = buckets_from(body)
                assert expected[float("inf")] == n, expected
                got = {float(r["metric"]["le"]): float(r["value"][1]) for r in
                       prom.query(f"myapp_http_request_duration_seconds_bucket{sel}")}
                assert got == expected, (job, got, expected)
                assert prom.value(f'myapp_http_requests_in_progress{sel}') == 0
                # promhttp's own counter saw Prometheus' scrapes.
                assert prom.value(f'promhttp_metric_handler_requests_total{{job="{job}",code="200"}}') >= 1
                print(f"{job}: up=1 requests_total={n} rate={rate:.3f}/s buckets={len(got)} ok")
            # promtool lints the live text output of both.
            for app in apps.values():
                _, _, body = app.get("/metrics")
                lint = subprocess.run([PROMTOOL, "check", "metrics"], input=body, text=True,
                                      capture_output=True)
                assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), \
                    (lint.stdout, lint.stderr)
    print("app-metrics: Prometheus ingested both formats exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
