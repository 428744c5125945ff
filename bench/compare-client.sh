#!/usr/bin/env bash
# Instructions per query of the client benchmarks here and at another commit, side by side
# in one run (callgrind counts, see count-client.sh). The other commit is checked out into a
# temporary worktree and built the same way. A `*_untraced` benchmark the other commit does
# not have is compared with its plain one (before trace context and events existed, every
# query was untraced); other benchmarks it does not have are left blank.
# Usage: bench/compare-client.sh <commit> [benchmark name regex]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:?usage: bench/compare-client.sh <commit> [benchmark name regex]}
filter=${2:-.}
work=$(mktemp -d)
cleanup() { git -C "$root" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git -C "$root" worktree add --detach "$work/src" "$base" >/dev/null 2>&1
configure() {  # source dir, build dir
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBSERVE_BUILD_BENCH=ON \
    -DDBSERVE_BUILD_TESTS=OFF -DDBSERVE_BUILD_EXAMPLES=OFF >/dev/null
}
here_build=${DBSERVE_BENCH_BUILD_DIR:-$root/build/bench}
[ -f "$here_build/CMakeCache.txt" ] || configure "$root" "$here_build"
configure "$work/src" "$work/build"
DBSERVE_BENCH_BUILD_DIR=$work/build "$root/bench/count-client.sh" "$filter" >"$work/base.txt"
DBSERVE_BENCH_BUILD_DIR=$here_build "$root/bench/count-client.sh" "$filter" >"$work/here.txt"
printf '%-36s %12s %12s %10s\n' benchmark "$(git -C "$root" rev-parse --short "$base")" \
  "$(git -C "$root" rev-parse --short HEAD)" difference
awk -F'[: ]+' 'NR == FNR { base[$1] = $2; next }
  { name = $1; if (!(name in base) && name ~ /_untraced$/) sub(/_untraced$/, "", name)
    b = (name in base) ? base[name] : ""; d = (b == "") ? "" : sprintf("%+d", $2 - b)
    printf "%-36s %12s %12s %10s\n", $1, b, $2, d }' "$work/base.txt" "$work/here.txt"
