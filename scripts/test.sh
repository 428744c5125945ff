#!/usr/bin/env bash
# The whole test suite, in stages (each its own build tree under build/):
#   main   g++, C++17, RelWithDebInfo, both adapters: every test (unit, compile, consumer,
#          emulator, conformance, ...)
#   asan   clang, C++17, AddressSanitizer + UndefinedBehaviorSanitizer: tests labelled unit
#   cxx20  g++, C++20: tests labelled unit and compile
#   tsan   clang, ThreadSanitizer (-DDBSERVE_TSAN=ON): tests labelled tsan
#   fuzz   clang libFuzzer, a short run of each fuzzer (tests labelled fuzz), when
#          tests/fuzz exists
# The label stages build only the executables of the tests they run.
# It installs what is missing first (scripts/install-deps.sh). Each stage prints CTest's
# summary; the last line is "<N> passed, <N> failed" over all stages, and the exit status
# is non-zero if anything failed (a build that fails counts as one failure).
#
#   bash scripts/test.sh              all stages
#   bash scripts/test.sh main cxx20   only those stages
# Environment: DBSERVE_JOBS (default: nproc), DBSERVE_BUILD_ROOT (default: build),
# DBSERVE_BUILD_DIR (main stage's tree, default: build/test), DBSERVE_FUZZ_SECONDS
# (per fuzzer, default 20).
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "installing dependencies failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=${DBSERVE_JOBS:-$(nproc)}
root=${DBSERVE_BUILD_ROOT:-build}
fuzz_seconds=${DBSERVE_FUZZ_SECONDS:-20}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(main asan cxx20 tsan fuzz)

total_passed=0
total_failed=0
summary=()

# CPU seconds used so far by this script's waited-for children (user + system).
child_cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / tck }' "/proc/$$/stat"
}

# record <stage> <passed> <failed> <seconds> <note>; CPU time counts from stage_cpu_start.
record() {
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
  local cpu=$(( $(child_cpu_seconds) - stage_cpu_start ))
  summary+=("$(printf '%-6s %4d passed %4d failed %5ds wall %5ds cpu  %s' "$1" "$2" "$3" "$4" "$cpu" "$5")")
}

# run_stage <stage> <build dir> <label regex|all> -- <cmake args...>
run_stage() {
  local stage=$1 build=$2 label=$3
  shift 3
  shift  # --
  local ctest_args=()
  [ "$label" = all ] || ctest_args=(-L "$label")
  local start=$SECONDS log="$build/test-stage.log"
  stage_cpu_start=$(child_cpu_seconds)
  echo
  echo "=== stage $stage: $build"
  mkdir -p "$build"
  if ! cmake -S . -B "$build" -G Ninja -DDBSERVE_BUILD_TESTS=ON "$@" >"$build/configure.log" 2>&1; then
    cat "$build/configure.log"
    echo "stage $stage: configure failed"
    record "$stage" 0 1 $((SECONDS - start)) "configure failed"
    return
  fi
  local built=0
  if [ "$label" = all ]; then
    cmake --build "$build" -j "$jobs" && built=1
  else
    cmake -DBUILD_DIR="$build" -DLABEL="$label" -DJOBS="$jobs" -P cmake/build_test_executables.cmake && built=1
  fi
  if [ $built -eq 0 ]; then
    echo "stage $stage: build failed"
    record "$stage" 0 1 $((SECONDS - start)) "build failed"
    return
  fi
  ctest --test-dir "$build" --output-on-failure --timeout 600 -j "$jobs" "${ctest_args[@]}" 2>&1 | tee "$log"
  local line passed failed total
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "stage $stage: CTest ran no tests"
    record "$stage" 0 1 $((SECONDS - start)) "no tests ran"
    return
  fi
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((total - failed))
  record "$stage" "$passed" "$failed" $((SECONDS - start)) ""
}

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
for stage in "${stages[@]}"; do
  case $stage in
    main)
      run_stage main "${DBSERVE_BUILD_DIR:-$root/test}" all -- \
        -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON
      ;;
    asan)
      ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      run_stage asan "$root/asan" '^unit$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 $sanitize" \
        -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    cxx20)
      run_stage cxx20 "$root/cxx20" '^(unit|compile)$' -- \
        -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=20 -DCMAKE_BUILD_TYPE=Debug \
        -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    tsan)
      run_stage tsan "$root/tsan" '^tsan$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_TSAN=ON \
        -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    fuzz)
      if [ ! -f tests/fuzz/CMakeLists.txt ]; then
        echo
        echo "=== stage fuzz: skipped (no tests/fuzz)"
        continue
      fi
      run_stage fuzz "$root/fuzz" '^fuzz$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_FUZZ=ON \
        -DDBSERVE_FUZZ_SECONDS="$fuzz_seconds" -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    *)
      echo "unknown stage '$stage' (stages: main asan cxx20 tsan fuzz)"
      stage_cpu_start=$(child_cpu_seconds)
      record "$stage" 0 1 0 "unknown stage"
      ;;
  esac
done

echo
echo "=== summary"
for line in "${summary[@]}"; do echo "$line"; done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
