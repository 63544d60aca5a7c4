# shellcheck shell=bash
# Sourced by the bench/run_*_bench.sh scripts: builds one benchmark target in the release preset
# with benchmarks on, and prints the machine line that heads every result.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/build_bench.sh"   # moves to the repository root
#   build_bench controller_bench   # sets build_dir, bench (the binary) and OUT_DIR (created)

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

build_bench() {
  local target="$1" root
  root="$(pwd)"
  echo "+ cmake --preset release -DOPERANT_BUILD_BENCH=ON"
  cmake --preset release -DOPERANT_BUILD_BENCH=ON >/dev/null
  echo "+ cmake --build --preset release --target $target"
  cmake --build --preset release --target "$target"
  build_dir="$root/build/release"  # the preset's binaryDir: ${sourceDir}/build/${presetName}
  bench="$build_dir/bench/$target"
  [[ -x "$bench" ]] || { echo "$target not found at $bench" >&2; exit 1; }
  OUT_DIR="${OUT_DIR:-$build_dir/bench-results}"
  mkdir -p "$OUT_DIR"
  local cpu_model
  cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo
  echo "machine: $(nproc) CPUs, $cpu_model; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}
