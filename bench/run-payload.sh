#!/usr/bin/env bash
# Builds and runs the payload benchmarks (writers side by side, then response and SSE
# parsing) and prints the ratios reported in bench/README.md.
# Usage: bench/run-payload.sh [seconds per benchmark, default 1] [repetitions, default 5]
set -euo pipefail
source "$(dirname "$0")/common.sh"
build=${DBSERVE_BENCH_BUILD_DIR:-$bench_root/build/bench}
min_time=${1:-1}
repetitions=${2:-5}
bench_configure "$build"
cmake --build "$build" --target bench_payload bench_parse -j 2
for bench in bench_payload bench_parse; do
  "$build/bench/payload/$bench" --benchmark_min_time="$min_time" --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true --benchmark_out="$build/$bench.json" --benchmark_out_format=json
done
python3 - "$build/bench_payload.json" "$build/bench_parse.json" <<'PY'
import json, sys
rows = {}
for path in sys.argv[1:]:
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            rows[b["run_name"]] = b
def cpu(name): return rows[name]["cpu_time"]
def mbs(name): return rows[name]["bytes_per_second"] / 1e6
print("\nmedian CPU time; MB/s = 10^6 bytes of body per second")
for name, b in rows.items():
    print(f"{name:40s} {b['cpu_time']:9.2f} {b['time_unit']}  {mbs(name):8.1f} MB/s")
for form in ("split", "records"):
    d = cpu(f"{form}_dbserve")
    print(f"\n{form}: nlohmann/dbserve = {cpu(f'{form}_nlohmann')/d:.2f}x", end="")
    if f"{form}_rapidjson" in rows:
        print(f", rapidjson/dbserve = {cpu(f'{form}_rapidjson')/d:.2f}x", end="")
    print(f", dbserve/floor = {d/cpu(f'{form}_floor'):.2f}x")
PY
