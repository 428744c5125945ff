#!/usr/bin/env bash
# Builds and runs the client machinery benchmark (bench/client) and prints the medians.
# Usage: bench/run-client.sh [seconds per benchmark, default 1] [repetitions, default 5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DBSERVE_BENCH_BUILD_DIR:-$root/build/bench}
min_time=${1:-1}
repetitions=${2:-5}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBSERVE_BUILD_BENCH=ON \
  -DDBSERVE_BUILD_TESTS=OFF -DDBSERVE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target bench_client -j 2
"$build/bench/client/bench_client" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only=true | grep -E "Benchmark|median"
