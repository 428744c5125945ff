#!/usr/bin/env bash
# Compile cost side by side in one run. Each translation unit of bench/compile is compiled
# REPS times (g++ by default, no ccache); the median CPU time (user + system: steadier than
# wall time on a shared machine) and peak memory are printed with the ratio to the
# nlohmann-only TU, header-only and with DBSERVE_SEPARATE_COMPILATION. Then the stripped
# size (-O2) of the minimal poll client against a JSON hello world.
#   bench/run-compile.sh [reps=3] [compiler=g++]
# DBSERVE_BENCH_INCLUDE=<dir> measures another include tree (e.g. an older checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
cxx=${2:-g++}
include=${DBSERVE_BENCH_INCLUDE:-include}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# measure <label> <args...>: prints "<label> <median CPU seconds> <median peak MB>"
measure() {
    local label=$1
    shift
    local times=() mems=()
    for _ in $(seq "$reps"); do
        /usr/bin/time -f "%U %S %M" -o "$out/time" "$cxx" -std=c++17 -I"$include" "$@"
        read -r u s m <"$out/time"
        times+=("$(echo "$u + $s" | bc -l)")
        mems+=("$m")
    done
    local middle=$(( (reps + 1) / 2 ))
    echo "$label $(printf '%s\n' "${times[@]}" | sort -n | sed -n "${middle}p") $(( $(printf '%s\n' "${mems[@]}" | sort -n | sed -n "${middle}p") / 1024 ))"
}

separate=-DDBSERVE_SEPARATE_COMPILATION
{
    measure nlohmann-only.O0 -O0 -c bench/compile/nlohmann_only.cpp -o "$out/n.o"
    measure poll-client.O0 -O0 -c bench/compile/poll_client.cpp -o "$out/p.o"
    measure poll-client.O0.separate $separate -O0 -c bench/compile/poll_client.cpp -o "$out/p.o"
    measure nlohmann-only.syntax -fsyntax-only bench/compile/nlohmann_only.cpp
    measure umbrella.syntax -fsyntax-only bench/compile/umbrella.cpp
    measure umbrella.syntax.separate $separate -fsyntax-only bench/compile/umbrella.cpp
} >"$out/results"

base_o0=$(awk '$1 == "nlohmann-only.O0" {print $2}' "$out/results")
base_syntax=$(awk '$1 == "nlohmann-only.syntax" {print $2}' "$out/results")
echo "compiler: $("$cxx" --version | head -1); median of $reps"
printf '%-26s %7s %8s %7s\n' "translation unit" "CPU s" "peak MB" "ratio"
while read -r label t m; do
    base=$base_o0
    [[ $label == *.syntax* ]] && base=$base_syntax
    printf '%-26s %7.2f %8s %6.2fx\n' "$label" "$t" "$m" "$(echo "$t / $base" | bc -l)"
done <"$out/results"

# Stripped sizes (-O2): the poll client (header-only, and with src/dbserve.cpp linked)
# against a JSON hello world.
"$cxx" -std=c++17 -O2 -I"$include" bench/compile/nlohmann_only.cpp -o "$out/hello"
"$cxx" -std=c++17 -O2 -I"$include" bench/compile/poll_client.cpp -o "$out/poll" -pthread
"$cxx" -std=c++17 -O2 -I"$include" $separate bench/compile/poll_client.cpp src/dbserve.cpp -o "$out/poll-separate" -pthread
strip "$out/hello" "$out/poll" "$out/poll-separate"
kb() { echo "$(( $(stat -c %s "$1") / 1024 )) KB"; }
echo "stripped -O2: json hello world $(kb "$out/hello"), minimal poll client $(kb "$out/poll")" \
     "(separate compilation, src/dbserve.cpp linked: $(kb "$out/poll-separate"))"
