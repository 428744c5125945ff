#!/usr/bin/env bash
# Instructions per query of each client benchmark under callgrind (repeatable, unlike
# time on a shared machine): each benchmark runs a fixed 2,000 and 12,000 iterations and
# the difference is divided by 10,000, so set-up and the warm-up query cancel out.
# Usage: bench/count-client.sh [benchmark name regex, default all]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DBSERVE_BENCH_BUILD_DIR:-$root/build/bench}
filter=${1:-.}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBSERVE_BUILD_BENCH=ON \
    -DDBSERVE_BUILD_TESTS=OFF -DDBSERVE_BUILD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$build" --target bench_client -j 2 >/dev/null
binary="$build/bench/client/bench_client"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {  # benchmark iterations -> instructions inside that benchmark's function
  DBSERVE_BENCH_ITERATIONS=$2 valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
    --toggle-collect="*::$1(*" "$binary" --benchmark_filter="^$1/" >/dev/null 2>&1
  callgrind_annotate "$out/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
for name in $("$binary" --benchmark_list_tests | grep -E "$filter"); do
  small=$(count "$name" 2000)
  large=$(count "$name" 12000)
  echo "$name: $(( (large - small) / 10000 )) instructions/query"
done
