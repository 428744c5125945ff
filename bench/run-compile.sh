#!/usr/bin/env bash
# Compile cost side by side in one run: each translation unit of bench/compile compiled
# REPS times (g++ by default, -O0, no ccache), median CPU time (user + system: steadier
# than wall time on a shared machine) and peak memory, and the
# ratio to the nlohmann-only TU; then the stripped size of the minimal poll client against a
# JSON hello world (-O2).
#   bench/run-compile.sh [reps=3] [compiler=g++] [extra flags...]
# DBSERVE_BENCH_INCLUDE=<dir> measures another include tree (e.g. an older checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
cxx=${2:-g++}
shift $(( $# > 2 ? 2 : $# ))
extra=("$@")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# measure <label> <args...>: prints "<label> <median seconds> <median MB>"
measure() {
    local label=$1
    shift
    local times=() mems=()
    for _ in $(seq "$reps"); do
        /usr/bin/time -f "%U %S %M" -o "$out/time" "$cxx" -std=c++17 -I"${DBSERVE_BENCH_INCLUDE:-include}" "${extra[@]+"${extra[@]}"}" "$@"
        read -r u s m <"$out/time"
        times+=("$(echo "$u + $s" | bc -l)")
        mems+=("$m")
    done
    local t m
    t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
    m=$(printf '%s\n' "${mems[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")
    echo "$label $t $((m / 1024))"
}

{
    measure nlohmann-only.O0 -O0 -c bench/compile/nlohmann_only.cpp -o "$out/n.o"
    measure poll-client.O0 -O0 -c bench/compile/poll_client.cpp -o "$out/p.o"
    measure nlohmann-only.syntax -fsyntax-only bench/compile/nlohmann_only.cpp
    measure umbrella.syntax -fsyntax-only bench/compile/umbrella.cpp
} >"$out/results"

base_o0=$(awk '$1 == "nlohmann-only.O0" {print $2}' "$out/results")
base_syntax=$(awk '$1 == "nlohmann-only.syntax" {print $2}' "$out/results")
echo "compiler: $("$cxx" --version | head -1); flags: ${extra[*]:-(none)}; median of $reps"
printf '%-22s %9s %9s %8s\n' "translation unit" "CPU s" "peak MB" "ratio"
while read -r label t m; do
    base=$base_o0
    [[ $label == *.syntax ]] && base=$base_syntax
    printf '%-22s %9s %9s %7.2fx\n' "$label" "$t" "$m" "$(echo "$t / $base" | bc -l)"
done <"$out/results"

# Stripped sizes (-O2): the poll client against a JSON hello world.
"$cxx" -std=c++17 -O2 -Iinclude "${extra[@]+"${extra[@]}"}" bench/compile/nlohmann_only.cpp -o "$out/hello"
"$cxx" -std=c++17 -O2 -Iinclude "${extra[@]+"${extra[@]}"}" bench/compile/poll_client.cpp "${DBSERVE_BENCH_LINK[@]+"${DBSERVE_BENCH_LINK[@]}"}" -o "$out/poll" -pthread
strip "$out/hello" "$out/poll"
echo "stripped -O2: json hello world $(( $(stat -c %s "$out/hello") / 1024 )) KB, minimal poll client $(( $(stat -c %s "$out/poll") / 1024 )) KB"
