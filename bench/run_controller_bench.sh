#!/usr/bin/env bash
# Builds controller_bench in release mode and checks issue 4's two targets on this machine:
#   - at least 1,000,000 keys/s through the controller with 2 workers and no recorder;
#   - the Prometheus recorder costs at most 5% of that.
#
#   bench/run_controller_bench.sh                 # about 4 minutes on 2 vCPUs, plus the build
#   RUNS=1 MIN_TIME=5 bench/run_controller_bench.sh   # a quick look (the cost is then noisy)
#
# The throughput is BM_controller (median of 3 repetitions). The cost is BM_recorder_cost: a
# controller without and one with the recorder, alternating blocks of resyncs, so a shared host's
# drifts hit both alike (see docs/performance.md). Each of RUNS runs of MIN_TIME seconds gives the
# median of its per-block costs; the verdict uses their mean.
#
# Output files: $OUT_DIR (default build/release/bench-results) gets controller_bench.json,
# recorder_cost_N.json and controller_summary.txt.
set -euo pipefail
# shellcheck source=bench/build_bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/build_bench.sh"  # also moves to the repository root

RUNS="${RUNS:-3}"
MIN_TIME="${MIN_TIME:-60}"

build_bench controller_bench

run_cmd=("$bench" "--benchmark_filter=BM_controller/" "--benchmark_repetitions=3"
         "--benchmark_report_aggregates_only=true"
         "--benchmark_out=$OUT_DIR/controller_bench.json" "--benchmark_out_format=json")
echo "+ ${run_cmd[*]}"
"${run_cmd[@]}"

for ((i = 1; i <= RUNS; i++)); do
  run_cmd=("$bench" "--benchmark_filter=BM_recorder_cost/workers:2/" "--benchmark_min_time=$MIN_TIME"
           "--benchmark_out=$OUT_DIR/recorder_cost_$i.json" "--benchmark_out_format=json")
  echo "+ ${run_cmd[*]}"
  "${run_cmd[@]}"
done

echo
python3 - "$OUT_DIR" "$RUNS" <<'PY' | tee "$OUT_DIR/controller_summary.txt"
import json, os, re, sys

out_dir, runs = sys.argv[1], int(sys.argv[2])
table = json.load(open(os.path.join(out_dir, "controller_bench.json")))

print("BM_controller, median of 3 repetitions")
print(f"{'case':44} {'keys/s':>10} {'CPU ns/key':>11}")
rate = {}
for b in table["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = re.sub(r"/(min_time:[0-9.]+|manual_time)", "", b["run_name"].replace("BM_controller/", ""))
    rate[name] = b["keys_per_second"]
    print(f"{name:44} {b['keys_per_second'] / 1e6:8.2f} M {b['cpu_ns_per_key']:11.0f}")

costs = []
print()
print("BM_recorder_cost, 2 workers, 10,000 objects (per-block cost: median and quartiles)")
for i in range(1, runs + 1):
    b = json.load(open(os.path.join(out_dir, f"recorder_cost_{i}.json")))["benchmarks"][0]
    costs.append(b["recorder_cost"])
    print(f"  run {i}: wall {100 * b['recorder_cost']:5.1f}% "
          f"({100 * b['recorder_cost_p25']:.1f}% .. {100 * b['recorder_cost_p75']:.1f}%), "
          f"CPU {100 * b['recorder_cpu_cost']:5.1f}%, {b['iterations']} block pairs")

passed = missed = 0
def verdict(label, ok, detail):
    global passed, missed
    passed += ok
    missed += not ok
    print(f"{label:52} {detail:>24}  {'PASS' if ok else 'MISS'}")

print()
base = rate.get("workers:2/recorder:0/keys:10000")
if base is not None:
    verdict("2 workers, no recorder, >= 1,000,000 keys/s", base >= 1e6, f"{base / 1e6:.2f} M keys/s")
mean = sum(costs) / len(costs)
verdict("Prometheus recorder costs <= 5% (mean of run medians)", mean <= 0.05, f"{100 * mean:.1f}%")
print()
print(f"{passed} PASS, {missed} MISS")
PY
