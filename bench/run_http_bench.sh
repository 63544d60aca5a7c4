#!/usr/bin/env bash
# Loads /metrics served by operant::http::server and by prometheus-cpp's Exposer with wrk, for the
# same 1,000- and 10,000-series registries, and prints requests/s, p99 latency and the ratio
# operant / prometheus-cpp (issue 3's targets: >= 3x the requests/s at 10k series, p99 <= 1/3).
#
#   bench/run_http_bench.sh [--duration S] [--connections C]     (defaults: 10 s, 4 connections)
#
# Environment: BUILD_DIR (default build/release, the release preset's directory), SERIES
# (default "1000 10000"), IMPLS (default "operant prometheus_cpp"), WARMUP seconds (default 2),
# JOBS for the build (default 2).
#
# For each series count and implementation it starts bench/http_bench_server on a free loopback
# port (2 server threads either way), checks the body (promtool check metrics, the number of
# bench series, the gzip body decompresses to the same samples, and both libraries serve the same
# bench samples), warms up, then runs `wrk -t1 -c<C> -d<S>s --latency` without and with
# `Accept-Encoding: gzip`, and stops the server by pid. It also reads the server's CPU time from
# /proc/<pid>/stat around each run and reports CPU milliseconds per request, which depends less on
# what else the machine is doing than requests/s does.
#
# wrk runs on the same machine as the server: with 2 CPUs, wrk's one thread and the server's two
# threads share them. Output files go to $BUILD_DIR/bench-results/http/ (wrk outputs, bodies,
# results.tsv, summary.txt).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

duration=10
connections=4
usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
    --duration=*) duration="${1#*=}"; shift ;;
    --connections) connections="${2:?--connections needs a number}"; shift 2 ;;
    --connections=*) connections="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_http_bench.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || { echo "--duration wants whole seconds >= 1" >&2; exit 2; }
[[ "$connections" =~ ^[1-9][0-9]*$ ]] || { echo "--connections wants an integer >= 1" >&2; exit 2; }

BUILD_DIR="${BUILD_DIR:-build/release}"
SERIES="${SERIES:-1000 10000}"
WARMUP="${WARMUP:-2}"
JOBS="${JOBS:-2}"
read -r -a impls <<<"${IMPLS:-operant prometheus_cpp}"

for tool in wrk curl promtool python3 gzip; do
  command -v "$tool" >/dev/null || { echo "run_http_bench.sh: $tool not found" >&2; exit 1; }
done

# ---- build ------------------------------------------------------------------------------------------
if [[ "$BUILD_DIR" == "build/release" ]]; then
  echo "+ cmake --preset release"
  cmake --preset release >/dev/null
else
  echo "+ cmake --preset release -B $BUILD_DIR"
  cmake --preset release -B "$BUILD_DIR" >/dev/null
fi
echo "+ cmake --build $BUILD_DIR --target http_bench_server --parallel $JOBS"
cmake --build "$BUILD_DIR" --target http_bench_server --parallel "$JOBS"
server_bin="$root/$BUILD_DIR/bench/http_bench_server"
[[ "$BUILD_DIR" == /* ]] && server_bin="$BUILD_DIR/bench/http_bench_server"
[[ -x "$server_bin" ]] || { echo "http_bench_server not found at $server_bin" >&2; exit 1; }

out="$(dirname "$server_bin")/../bench-results/http"
mkdir -p "$out"
rm -f "$out"/samples-*.txt
out="$(cd "$out" && pwd)"
results="$out/results.tsv"
printf 'encoding\tseries\timpl\treq_s\tp99_ms\tcpu_ms_per_req\tbody_bytes\trequests\terrors\n' >"$results"

# ---- machine ----------------------------------------------------------------------------------------
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo
echo "machine: $(nproc) CPUs, $cpu_model; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk: $(wrk -v 2>&1 | head -1); duration ${duration}s, ${connections} connections, 1 wrk thread, warm-up ${WARMUP}s"

# ---- helpers ----------------------------------------------------------------------------------------
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck="$(getconf CLK_TCK)"

start_server() {  # impl series -> sets server_pid, url
  local impl="$1" n="$2" port log
  log="$out/server-$impl-$n.log"
  for _ in 1 2 3; do
    port="$(free_port)"
    "$server_bin" --impl "$impl" --series "$n" --listen "127.0.0.1:$port" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
      grep -q '^listening on ' "$log" && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if grep -q '^listening on ' "$log"; then
      url="$(sed -n 's/^listening on //p' "$log" | head -1)/metrics"
      return 0
    fi
    stop_server  # the port was taken meanwhile, or the server failed: try another port
  done
  echo "http_bench_server --impl $impl --series $n did not start:" >&2
  cat "$log" >&2
  exit 1
}

# Checks the body: promtool parses it (lint findings are printed but are not errors), the bench
# series are all there, and the gzip variant decompresses to the same bench samples.
check_body() {  # impl series
  local impl="$1" n="$2" body="$out/body-$1-$2.txt" gz="$out/body-$1-$2.txt.gz" hdr
  curl -sf "$url" -o "$body" || { echo "GET $url failed" >&2; exit 1; }
  local lint
  lint="$(promtool check metrics <"$body" 2>&1)" || true
  if grep -qi 'error' <<<"$lint"; then
    echo "promtool check metrics: $impl, $n series: $lint" >&2
    exit 1
  fi
  [[ -z "$lint" ]] || echo "  promtool lint ($impl, $n series): $(head -3 <<<"$lint" | tr '\n' ' ')"
  local counters histograms want_h=$(((n + 99) / 100))
  counters="$(grep -c '^bench_requests_g[0-9]*_total{' "$body" || true)"
  histograms="$(grep -c '^bench_request_duration_seconds_count{' "$body" || true)"
  if [[ "$counters" != "$n" || "$histograms" != "$want_h" ]]; then
    echo "$impl serves $counters counter series and $histograms histograms; expected $n and $want_h" >&2
    exit 1
  fi
  hdr="$(curl -sf -H 'Accept-Encoding: gzip' -D - -o "$gz" "$url")"
  if ! grep -qi '^content-encoding: *gzip' <<<"$hdr"; then
    echo "$impl did not gzip for Accept-Encoding: gzip; headers:" >&2
    echo "$hdr" >&2
    exit 1
  fi
  # Samples in a canonical order (prometheus-cpp writes _count/_sum before the buckets).
  grep '^bench_' "$body" | LC_ALL=C sort >"$out/samples-$impl-$n.txt"
  if ! cmp -s "$out/samples-$impl-$n.txt" <(gzip -dc "$gz" | grep '^bench_' | LC_ALL=C sort); then
    echo "$impl: the gzip body's samples differ from the identity body's" >&2
    exit 1
  fi
  echo "  body ($impl, $n series): $(wc -c <"$body") bytes, $(wc -c <"$gz") gzipped; $(head -1 <<<"$hdr" | tr -d '\r')"
}

run_wrk() {  # encoding impl series
  local enc="$1" impl="$2" n="$3" log="$out/wrk-$1-$2-$3.txt" before after
  local -a cmd=(wrk -t1 "-c$connections" "-d${duration}s" --latency)
  [[ "$enc" == gzip ]] && cmd+=(-H 'Accept-Encoding: gzip')
  cmd+=("$url")
  printf '+'; printf ' %q' "${cmd[@]}"; echo
  before="$(cpu_ticks "$server_pid")"
  "${cmd[@]}" >"$log"
  after="$(cpu_ticks "$server_pid")"
  local body_bytes
  if [[ "$enc" == gzip ]]; then body_bytes="$(wc -c <"$out/body-$impl-$n.txt.gz")"
  else body_bytes="$(wc -c <"$out/body-$impl-$n.txt")"; fi
  python3 - "$log" "$enc" "$n" "$impl" "$((after - before))" "$clk_tck" "$body_bytes" >>"$results" <<'PY'
import re, sys
log, enc, n, impl, ticks, hz, body = sys.argv[1:]
text = open(log).read()
def grab(pattern):
    m = re.search(pattern, text, re.M)
    return m.group(1) if m else None
rps = float(grab(r"^Requests/sec:\s+([\d.]+)"))
p99 = grab(r"^\s+99%\s+([\d.]+\w+)")
unit = re.match(r"([\d.]+)(us|ms|s)$", p99)
p99_ms = float(unit.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit.group(2)]
requests = int(grab(r"^\s+(\d+) requests in"))
non2xx = int(grab(r"Non-2xx or 3xx responses:\s+(\d+)") or 0)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = f"non2xx={non2xx}"
if sock:
    errors += f",connect={sock.group(1)},read={sock.group(2)},write={sock.group(3)},timeout={sock.group(4)}"
cpu_ms = int(ticks) * 1000.0 / int(hz) / max(requests, 1)
print(f"{enc}\t{n}\t{impl}\t{rps:.1f}\t{p99_ms:.3f}\t{cpu_ms:.4f}\t{body}\t{requests}\t{errors}")
PY
  tail -1 "$results" | awk -F'\t' '{ printf "  %s req/s, p99 %s ms, server CPU %s ms/request, %s\n", $4, $5, $6, $9 }'
}

# ---- runs -------------------------------------------------------------------------------------------
for n in $SERIES; do
  for impl in "${impls[@]}"; do
    echo
    echo "== $n series, $impl"
    start_server "$impl" "$n"
    echo "  $url (pid $server_pid)"
    check_body "$impl" "$n"
    wrk -t1 "-c$connections" "-d${WARMUP}s" "$url" >/dev/null
    run_wrk identity "$impl" "$n"
    wrk -t1 "-c$connections" "-d${WARMUP}s" -H 'Accept-Encoding: gzip' "$url" >/dev/null
    run_wrk gzip "$impl" "$n"
    stop_server
  done
  [[ -f "$out/samples-operant-$n.txt" && -f "$out/samples-prometheus_cpp-$n.txt" ]] || continue
  if cmp -s "$out/samples-operant-$n.txt" "$out/samples-prometheus_cpp-$n.txt"; then
    echo "  both libraries serve the same $(wc -l <"$out/samples-operant-$n.txt") bench samples"
  else
    echo "the bench samples differ between the libraries at $n series:" >&2
    diff "$out/samples-operant-$n.txt" "$out/samples-prometheus_cpp-$n.txt" | head -20 >&2
    exit 1
  fi
done

# ---- table ------------------------------------------------------------------------------------------
echo
python3 - "$results" "$duration" "$connections" <<'PY' | tee "$out/summary.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
duration, connections = sys.argv[2], sys.argv[3]
get = {(r["encoding"], int(r["series"]), r["impl"]): r for r in rows}
print(f"wrk -t1 -c{connections} -d{duration}s --latency, loopback; 2 server threads each; "
      "ratio = operant / prometheus_cpp")
for enc in ("identity", "gzip"):
    print()
    print(f"Accept-Encoding: {'gzip' if enc == 'gzip' else '(none)'}")
    print(f"{'series':>7} {'impl':15} {'req/s':>10} {'p99':>10} {'CPU/req':>11} {'body':>10}  wrk errors")
    for n in sorted({k[1] for k in get if k[0] == enc}):
        for impl in ("operant", "prometheus_cpp"):
            r = get.get((enc, n, impl))
            if r is None:
                continue
            print(f"{n:>7} {impl:15} {float(r['req_s']):>10.1f} {float(r['p99_ms']):>7.2f} ms "
                  f"{float(r['cpu_ms_per_req']):>8.3f} ms {int(r['body_bytes']):>10}  {r['errors']}")
        o, p = get.get((enc, n, "operant")), get.get((enc, n, "prometheus_cpp"))
        if o and p:
            rr = float(o["req_s"]) / float(p["req_s"])
            pr = float(o["p99_ms"]) / float(p["p99_ms"])
            cr = float(o["cpu_ms_per_req"]) / float(p["cpu_ms_per_req"]) if float(p["cpu_ms_per_req"]) else float("nan")
            line = f"{n:>7} {'ratio':15} {rr:>9.2f}x {pr:>10.3f} {cr:>11.3f}"
            if enc == "identity" and n == 10000:
                ok_r, ok_p = rr >= 3.0, pr <= 1 / 3
                line += (f"   target req/s >= 3x: {'PASS' if ok_r else 'MISS'}; "
                         f"p99 <= 1/3: {'PASS' if ok_p else 'MISS'}")
            print(line)
if any(r["impl"] == "prometheus_cpp" and "read=0," not in r["errors"] for r in rows):
    print()
    print("wrk's read errors for prometheus_cpp: the Exposer's CivetWeb has keep-alive off and closes the")
    print("connection after each response (without 'Connection: close'); wrk counts each close as a read")
    print("error and reconnects. Those requests completed with 200 and are counted in req/s.")
PY
