#!/usr/bin/env bash
# Builds metrics_bench in release mode, runs every case for operant and prometheus-cpp, runs the
# memory mode, and prints operant ÷ prometheus-cpp per case against the project's targets.
#
#   bench/run_metrics_bench.sh            # build + run (about 1 minute on 2 vCPUs, plus the build)
#   REPETITIONS=5 bench/run_metrics_bench.sh
#   BENCH_FILTER='labeled_inc' bench/run_metrics_bench.sh   # a subset (ratios for the cases run)
#
# Output files: $OUT_DIR (default build/release/bench-results) gets metrics_bench.json (Google
# Benchmark's JSON), memory.json and summary.txt.
#
# Times are CPU time (Google Benchmark's default). The ratio uses the median of the repetitions.
# The two ->Threads(2) cases need both vCPUs: on a busy machine their threads time-share one CPU
# and prometheus-cpp's contention disappears, so the script prints how much the operant threads
# overlapped (cpu / (threads x real); 1.00 = fully parallel) and flags low overlap.
set -euo pipefail
# shellcheck source=bench/build_bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/build_bench.sh"  # also moves to the repository root

REPETITIONS="${REPETITIONS:-3}"
BENCH_FILTER="${BENCH_FILTER:-.}"

# ---- build ------------------------------------------------------------------------------------------
build_bench metrics_bench

# ---- timing cases -----------------------------------------------------------------------------------
run_cmd=("$bench" "--benchmark_filter=$BENCH_FILTER" "--benchmark_repetitions=$REPETITIONS"
         "--benchmark_report_aggregates_only=true"
         "--benchmark_out=$OUT_DIR/metrics_bench.json" "--benchmark_out_format=json")
echo "+ ${run_cmd[*]}"
"${run_cmd[@]}"

# ---- memory -----------------------------------------------------------------------------------------
echo
echo "+ $bench --memory --memory_out=$OUT_DIR/memory.json"
"$bench" --memory "--memory_out=$OUT_DIR/memory.json"

# ---- ratios -----------------------------------------------------------------------------------------
echo
python3 - "$OUT_DIR/metrics_bench.json" "$OUT_DIR/memory.json" <<'PY' | tee "$OUT_DIR/summary.txt"
import json, re, sys

bench = json.load(open(sys.argv[1]))
memory = json.load(open(sys.argv[2]))

targets = [  # case, target ratio operant / prometheus_cpp (CPU time)
    ("counter_inc", 0.2),
    ("counter_inc_contended", 0.07),
    ("histogram_observe", 0.15),
    ("histogram_observe_contended", 0.05),
    ("labeled_inc", 0.1),
    ("serialize_counters_100k", 0.05),
    ("serialize_histograms_1k", 0.1),
]

# name "<case>/<impl>[/threads:N]_median" -> median cpu/real time in ns
cpu, real, threads = {}, {}, {}
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
for b in bench["benchmarks"]:
    if b.get("aggregate_name", "median" if b.get("run_type") == "iteration" else "") != "median":
        continue
    m = re.match(r"^([^/]+)/([^/]+)(?:/threads:(\d+))?", b["run_name"])
    if not m:
        continue
    key = (m.group(1), m.group(2))
    f = scale[b.get("time_unit", "ns")]
    cpu[key] = b["cpu_time"] * f
    real[key] = b["real_time"] * f
    threads[key] = int(m.group(3) or b.get("threads", 1))

def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.2f} ns"

print("CPU time per operation (median of repetitions); ratio = operant / prometheus_cpp")
print(f"{'case':30} {'operant':>11} {'prometheus_cpp':>15} {'ratio':>7} {'target':>7}  result")
passed = missed = 0
notes = []
for case, target in targets:
    o, p = cpu.get((case, "operant")), cpu.get((case, "prometheus_cpp"))
    if o is None or p is None:
        continue
    r = o / p
    ok = r <= target
    passed += ok
    missed += not ok
    print(f"{case:30} {fmt(o):>11} {fmt(p):>15} {r:7.3f} {target:7.2f}  {'PASS' if ok else 'MISS'}")
    if threads[(case, "operant")] > 1:
        n = threads[(case, "operant")]
        overlap = o / (n * real[(case, "operant")])
        p_overlap = p / (n * real[(case, "prometheus_cpp")])
        wall_ratio = real[(case, "operant")] / real[(case, "prometheus_cpp")]
        flag = "" if overlap >= 0.85 else "  <-- threads did not run in parallel; rerun on an idle machine"
        notes.append(f"  {case}: operant thread overlap {overlap:.2f}, prometheus_cpp {p_overlap:.2f}; "
                     f"wall-time ratio {wall_ratio:.3f}{flag}")
    if case == "counter_inc":
        floor = [cpu.get(("counter_inc_floor", k)) for k in ("load_store", "add_to_memory")]
        floor = [f for f in floor if f is not None]
        if floor:
            notes.append(f"  counter_inc: the CPU's floor for any increment in memory is {fmt(min(floor))} "
                         f"(ratio {min(floor) / p:.3f}); see docs/performance.md")
    alt = cpu.get((case, "operant_to_string"))
    if alt is not None:
        notes.append(f"  {case}: encode_to_string() (fresh string each scrape) {fmt(alt)}, "
                     f"ratio {alt / p:.3f} (informational)")

rows = {(r["library"], r["kind"]): r["bytes_per_series"] for r in memory["rows"]}
print()
print(f"heap per series ({memory['series']} series, two labels, touched once)")
print(f"{'kind':30} {'operant':>11} {'prometheus_cpp':>15} {'ratio':>7} {'target':>7}  result")
for kind in ("counter", "histogram"):
    o, p = rows[("operant", kind)], rows[("prometheus_cpp", kind)]
    r = o / p
    ok = r <= 0.5
    passed += ok
    missed += not ok
    print(f"{'memory_' + kind:30} {o:9.1f} B {p:13.1f} B {r:7.3f} {0.5:7.2f}  {'PASS' if ok else 'MISS'}")
extra = memory["operant_extra_thread_bytes_per_series"]
notes.append(f"  operant memory grows per further updating thread: +{extra['counter']:.1f} B/series "
             f"(counter), +{extra['histogram']:.1f} B/series (histogram); page table "
             f"{memory['operant_further_thread_bytes'] / 1024:.0f} KiB virtual per thread")

print()
print("notes:")
for n in notes:
    print(n)
print()
print(f"{passed} PASS, {missed} MISS")
PY
