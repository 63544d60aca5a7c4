#!/usr/bin/python3
"""Reads expose_all's output with prometheus_client's parsers and checks every value.

For OpenMetrics 1.0 (prometheus_client.openmetrics.parser) and text 0.0.4
(prometheus_client.parser), runs `expose_all --format F --values-out FILE`, parses the
exposition, and checks that the families (name, type, help, unit) and the samples (name, label
values, value, exemplar) are exactly those that expose_all says it wrote: no sample missing, none
extra, every value equal (NaN equal to NaN, -0 distinct from 0), time stamps taken while it ran.

  /usr/bin/python3 tests/integration/check_openmetrics.py --expose-all build/release/.../expose_all

Exits 0 when everything matches, 1 with a list of differences otherwise.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

NUMERIC_LABELS = ("le", "quantile")
# Clock slack for "now" time stamps: expose_all's start/end and the library's stamps come from
# the same clock, but the encoder may round them to the shortest digits.
SLACK = 1e-3


def to_float(v):
    if isinstance(v, str):
        return float(v)  # "NaN", "+Inf", "-Inf"
    return float(v)


def same_float(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def label_key(labels):
    key = []
    for name in sorted(labels):
        value = labels[name]
        if name in NUMERIC_LABELS:
            value = ("#", float(value))
        key.append((name, value))
    return tuple(key)


def show(name, labels):
    inner = ",".join(f"{k}={json.dumps(labels[k], ensure_ascii=False)}" for k in sorted(labels))
    return f"{name}{{{inner}}}"


def run_expose_all(expose_all, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        values_file = os.path.join(tmp, "values.json")
        proc = subprocess.run(
            [expose_all, "--format", fmt, "--values-out", values_file],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"expose_all --format {fmt} failed ({proc.returncode}): "
                f"{proc.stderr.decode(errors='replace')}"
            )
        with open(values_file, encoding="utf-8") as f:
            values = json.load(f)
    return proc.stdout.decode("utf-8"), values


def raw_exemplar_timestamps(body):
    """Exemplar time stamps as written, read straight from the lines (see check_exemplar)."""
    stamps = []
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        # The exemplar starts at the last " # {" outside label values; expose_all's hostile
        # values contain " # " only inside quotes, so take the last occurrence.
        idx = line.rfind(" # {")
        if idx < 0:
            continue
        tail = line[idx + 4:]
        close = tail.rfind("}")
        fields = tail[close + 1:].split()
        if len(fields) == 2:
            stamps.append(fields[1])
    return stamps


class Checker:
    def __init__(self, fmt):
        self.fmt = fmt
        self.problems = []
        self.checked = 0

    def fail(self, msg):
        self.problems.append(f"[{self.fmt}] {msg}")

    def check_now(self, what, value, values):
        lo, hi = values["start"] - SLACK, values["end"] + SLACK
        if not (lo <= value <= hi):
            self.fail(f"{what}: time stamp {value!r} not within the run [{lo}, {hi}]")

    def check(self, body, values, families):
        self.check_families(families, values)
        self.check_samples(families, values)
        if self.fmt == "openmetrics":
            if not body.endswith("# EOF\n"):
                self.fail("OpenMetrics output does not end with '# EOF\\n'")
            for raw in raw_exemplar_timestamps(body):
                self.check_now(f"exemplar time stamp {raw!r} as written", float(raw), values)
        elif "# EOF" in body:
            self.fail("text 0.0.4 output contains '# EOF'")

    def check_families(self, families, values):
        want = {f["name"]: f for f in values["families"]}
        got = {f.name: f for f in families}
        for name in sorted(set(want) - set(got)):
            self.fail(f"family {name} missing from the parsed output")
        for name in sorted(set(got) - set(want)):
            self.fail(f"unexpected family {name} ({got[name].type})")
        for name in sorted(set(want) & set(got)):
            w, g = want[name], got[name]
            if g.type != w["type"]:
                self.fail(f"family {name}: type {g.type!r}, want {w['type']!r}")
            if g.documentation != w["help"]:
                self.fail(f"family {name}: help {g.documentation!r}, want {w['help']!r}")
            if (g.unit or "") != w["unit"]:
                self.fail(f"family {name}: unit {g.unit!r}, want {w['unit']!r}")
        names = [f.name for f in families]
        if len(names) != len(set(names)):
            self.fail(f"a family appears twice: {names}")

    def check_samples(self, families, values):
        want = {}
        for s in values["samples"]:
            key = (s["name"], label_key(s["labels"]))
            if key in want:
                self.fail(f"expose_all describes {show(s['name'], s['labels'])} twice")
            want[key] = s
        got = {}
        for fam in families:
            for s in fam.samples:
                key = (s.name, label_key(s.labels))
                if key in got:
                    self.fail(f"sample {show(s.name, s.labels)} parsed twice")
                got[key] = s
        for key in sorted(set(want) - set(got), key=repr):
            s = want[key]
            self.fail(f"sample {show(s['name'], s['labels'])} missing from the parsed output")
        for key in sorted(set(got) - set(want), key=repr):
            s = got[key]
            self.fail(f"unexpected sample {show(s.name, s.labels)} = {s.value!r}")
        for key in sorted(set(want) & set(got), key=repr):
            self.check_sample(want[key], got[key], values)

    def check_sample(self, w, g, values):
        what = show(w["name"], w["labels"])
        self.checked += 1
        # Label values must be the exact strings (numeric labels compared as numbers above).
        for name, value in w["labels"].items():
            if name not in NUMERIC_LABELS and g.labels.get(name) != value:
                self.fail(f"{what}: label {name}={g.labels.get(name)!r}, want {value!r}")
        if w["value"] == "now":
            self.check_now(what, float(g.value), values)
        elif not same_float(float(g.value), to_float(w["value"])):
            self.fail(f"{what}: value {g.value!r}, want {w['value']!r}")
        if g.timestamp is not None:
            self.fail(f"{what}: has a time stamp {g.timestamp!r}, want none")
        self.check_exemplar(what, w.get("exemplar"), g.exemplar, values)

    def check_exemplar(self, what, w, g, values):
        if w is None:
            if g is not None:
                self.fail(f"{what}: unexpected exemplar {g!r}")
            return
        if g is None:
            self.fail(f"{what}: exemplar missing, want {w!r}")
            return
        if dict(g.labels) != w["labels"]:
            self.fail(f"{what}: exemplar labels {dict(g.labels)!r}, want {w['labels']!r}")
        if not same_float(float(g.value), to_float(w["value"])):
            self.fail(f"{what}: exemplar value {g.value!r}, want {w['value']!r}")
        if g.timestamp is None:
            self.fail(f"{what}: exemplar has no time stamp")
        # prometheus_client 0.16's _parse_timestamp reads an exponent-form stamp such as
        # "1.7e+09" as 1.7 s (it splits at the dot), although OpenMetrics allows exponents and
        # client_golang writes them. So the stamps are checked as written, from the raw lines,
        # in check().


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expose-all", required=True, help="path to the expose_all program")
    args = ap.parse_args()

    problems = []
    total = 0
    for fmt, parse in (("openmetrics", parse_openmetrics), ("text", parse_text)):
        body, values = run_expose_all(args.expose_all, fmt)
        checker = Checker(fmt)
        try:
            families = list(parse(body))
        except Exception as e:  # noqa: BLE001 - any parser error is a failure to report
            problems.append(f"[{fmt}] prometheus_client could not parse the output: {e!r}")
            continue
        checker.check(body, values, families)
        problems += checker.problems
        total += checker.checked
        print(
            f"{fmt}: {len(families)} families, {checker.checked} samples compared, "
            f"{len(checker.problems)} problems"
        )

    # --values on its own prints the same description (up to the run's time stamps).
    proc = subprocess.run(
        [args.expose_all, "--format", "openmetrics", "--values"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        problems.append(f"expose_all --values failed ({proc.returncode})")
    else:
        alone = json.loads(proc.stdout)
        _, paired = run_expose_all(args.expose_all, "openmetrics")
        keys = lambda v: sorted((s["name"], label_key(s["labels"])) for s in v["samples"])  # noqa: E731
        if keys(alone) != keys(paired):
            problems.append("expose_all --values describes other samples than --values-out")

    for p in problems:
        print(p)
    if problems or total == 0:
        print(f"FAILED: {len(problems)} problems")
        return 1
    print(f"OK: {total} samples read back exactly by prometheus_client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
