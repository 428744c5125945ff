# Sourced by the bench/run-*.sh scripts. Benchmarks are built in Release with tests and
# examples off, so a run builds only what it measures.
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# bench_configure <build dir> [more cmake arguments]: configures quietly.
bench_configure() {
  local build=$1
  shift
  cmake -S "$bench_root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDBSERVE_BUILD_BENCH=ON \
    -DDBSERVE_BUILD_TESTS=OFF -DDBSERVE_BUILD_EXAMPLES=OFF "$@" >/dev/null
}

