#!/usr/bin/env bash
# Builds every libFuzzer target with clang++ (ASan + UBSan) and runs each for a short
# while. Usage: tests/fuzz/run-short.sh [seconds per target, default 20] [target...]
# Findings (crash-*, leak-*, timeout-*) land in the build directory and fail the script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(url token_response service_error retry_after sse responses); fi
out=${DBSERVE_FUZZ_BUILD_DIR:-$root/build/fuzz-short}
mkdir -p "$out"
cxx=${CXX_FUZZ:-clang++}
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Wpedantic -Werror -I"$root/include")

status=0
for target in "${targets[@]}"; do
  echo "== fuzz_$target: build"
  "$cxx" "${flags[@]}" "$here/fuzz_$target.cpp" -o "$out/fuzz_$target"
  mkdir -p "$out/corpus/$target"
  echo "== fuzz_$target: run ${seconds}s"
  if ! (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
          -rss_limit_mb=2048 -print_final_stats=1 "corpus/$target" "$here/corpus/$target" \
          2> "fuzz_$target.log"); then
    echo "!! fuzz_$target found a problem; see $out/fuzz_$target.log and $out/crash-*" >&2
    status=1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$out/fuzz_$target.log" || true
done
exit $status
