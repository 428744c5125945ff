#!/usr/bin/env bash
# The whole test suite, in stages (each its own build tree under build/):
#   main   g++, C++17, RelWithDebInfo, both adapters: every test (unit, compile, consumer,
#          emulator, conformance, e2e, tools, ...)
#   asan   clang, AddressSanitizer + UndefinedBehaviorSanitizer, both adapters: tests
#          labelled unit, conformance and beast (the adapters' asynchronous paths,
#          cancellation and connection pools against a real TLS server)
#   cxx20  g++, C++20: tests labelled unit and compile
#   tsan   clang, ThreadSanitizer on everything it builds, both adapters: tests labelled
#          tsan, conformance and beast
#   fuzz   clang libFuzzer, a short run of each fuzzer (tests labelled fuzz)
# The label stages build only the executables of the tests they run.
# It installs what is missing first (scripts/install-deps.sh). Each stage prints CTest's
# summary, the tests it skipped, and checks what ran against tests/expected-counts: each
# stage pins how many tests of each label must run, so an area that drops out (a tool not
# found at configure time, a test skipped or disabled) fails the run with a message naming
# it. The last line is "<N> passed, <N> failed, <N> skipped" over all stages: passed counts
# only tests that ran and passed; a build that fails and each label whose count differs from
# its pin count as one failure each. The exit status is non-zero if anything failed.
#
#   bash scripts/test.sh              all stages
#   bash scripts/test.sh main cxx20   only those stages
#   bash scripts/test.sh --pin-counts [stages]
#                                     configure the stages (no build, no test run) and write
#                                     the tests they register into tests/expected-counts
# Environment: DBSERVE_JOBS (default: nproc), DBSERVE_BUILD_ROOT (default: build),
# DBSERVE_BUILD_DIR (main stage's tree, default: build/test), DBSERVE_FUZZ_SECONDS
# (per fuzzer, default 20).
set -uo pipefail
cd "$(dirname "$0")/.."

pin=0
if [ "${1:-}" = --pin-counts ]; then
  pin=1
  shift
fi

bash scripts/install-deps.sh || { echo "installing dependencies failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=${DBSERVE_JOBS:-$(nproc)}
root=${DBSERVE_BUILD_ROOT:-build}
fuzz_seconds=${DBSERVE_FUZZ_SECONDS:-20}
expected_counts=tests/expected-counts
all_stages=(main asan cxx20 tsan fuzz)
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")

total_passed=0
total_failed=0
total_skipped=0
summary=()
pinned=()

# CPU seconds used so far by this script's waited-for children (user + system).
child_cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($14 + $15) / tck }' "/proc/$$/stat"
}

# record <stage> <passed> <failed> <skipped> <seconds> <note>; CPU time counts from
# stage_cpu_start.
record() {
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
  total_skipped=$((total_skipped + $4))
  local cpu=$(( $(child_cpu_seconds) - stage_cpu_start ))
  summary+=("$(printf '%-6s %4d passed %4d failed %4d skipped %5ds wall %5ds cpu  %s' "$1" "$2" "$3" "$4" "$5" "$cpu" "$6")")
}

# run_stage <stage> <build dir> <label regex|all> -- <cmake args...>
run_stage() {
  local stage=$1 build=$2 label=$3
  shift 3
  shift  # --
  local ctest_args=()
  [ "$label" = all ] || ctest_args=(-L "$label")
  local start=$SECONDS log="$build/test-stage.log" junit="$PWD/$build/test-stage.junit.xml"
  local tests_json="$build/test-stage.tests.json"
  stage_cpu_start=$(child_cpu_seconds)
  echo
  echo "=== stage $stage: $build"
  mkdir -p "$build"
  if ! cmake -S . -B "$build" -G Ninja -DDBSERVE_BUILD_TESTS=ON "$@" >"$build/configure.log" 2>&1; then
    cat "$build/configure.log"
    echo "stage $stage: configure failed"
    record "$stage" 0 1 0 $((SECONDS - start)) "configure failed"
    return
  fi
  # The tests this stage selects, with their labels (ctest lists them without building).
  if ! ctest --test-dir "$build" --show-only=json-v1 "${ctest_args[@]}" >"$tests_json" 2>"$build/show-only.log"; then
    cat "$build/show-only.log"
    echo "stage $stage: ctest could not list the tests"
    record "$stage" 0 1 0 $((SECONDS - start)) "listing tests failed"
    return
  fi
  if [ $pin -eq 1 ]; then
    local counts
    counts=$(python3 scripts/test_counts.py labels --tests "$tests_json")
    while read -r l count; do [ -z "$l" ] || pinned+=("$stage $l $count"); done <<<"$counts"
    echo "stage $stage: $(tr '\n' ' ' <<<"$counts")"
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
    record "$stage" 0 1 0 $((SECONDS - start)) "build failed"
    return
  fi
  rm -f "$junit"
  ctest --test-dir "$build" --output-on-failure --timeout 600 -j "$jobs" --output-junit "$junit" \
    "${ctest_args[@]}" 2>&1 | tee "$log"
  if [ ! -s "$junit" ]; then
    echo "stage $stage: CTest wrote no results"
    record "$stage" 0 1 0 $((SECONDS - start)) "no results"
    return
  fi
  local counts passed failed skipped
  python3 scripts/test_counts.py result --stage "$stage" --junit "$junit" --tests "$tests_json" \
    --expected "$expected_counts" --configure-log "$build/configure.log" >"$build/test-stage.counts" 2>&1
  sed '$d' "$build/test-stage.counts"
  counts=$(tail -1 "$build/test-stage.counts")
  if ! [[ $counts =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; then
    echo "stage $stage: counting the results failed: $counts"
    record "$stage" 0 1 0 $((SECONDS - start)) "counting failed"
    return
  fi
  read -r passed failed skipped <<<"$counts"
  record "$stage" "$passed" "$failed" "$skipped" $((SECONDS - start)) ""
}

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Line tables only (-g1, -gline-tables-only): every stack trace a failure or a sanitizer prints
# still names file and line, and the Asio-heavy programs (emulator, conformance, Beast) build
# in about three quarters of the time full debug information takes.
lines_only_g=-g1
lines_only_clang=-gline-tables-only
for stage in "${stages[@]}"; do
  case $stage in
    main)
      run_stage main "${DBSERVE_BUILD_DIR:-$root/test}" all -- \
        -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $lines_only_g -DNDEBUG" -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON
      ;;
    asan)
      ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      run_stage asan "$root/asan" '^(unit|conformance|beast)$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1 $sanitize" \
        -DCMAKE_CXX_FLAGS_DEBUG="$lines_only_clang" \
        -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    cxx20)
      run_stage cxx20 "$root/cxx20" '^(unit|compile)$' -- \
        -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=20 -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_CXX_FLAGS_DEBUG="$lines_only_g" \
        -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    tsan)
      # Every program this stage builds is instrumented, the adapters' included.
      TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan/openssl.supp} \
      run_stage tsan "$root/tsan" '^(tsan|conformance|beast)$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_TSAN=ON \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 $lines_only_clang -DNDEBUG" \
        -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
        -DDBSERVE_CURL=ON -DDBSERVE_BEAST=ON -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    fuzz)
      # Part of every full run: a missing tests/fuzz is a failure, never a silent skip.
      if [ ! -f tests/fuzz/CMakeLists.txt ]; then
        echo
        echo "=== stage fuzz: tests/fuzz/CMakeLists.txt is missing"
        stage_cpu_start=$(child_cpu_seconds)
        record fuzz 0 1 0 0 "tests/fuzz missing"
        continue
      fi
      run_stage fuzz "$root/fuzz" '^fuzz$' -- \
        -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDBSERVE_FUZZ=ON \
        -DDBSERVE_FUZZ_SECONDS="$fuzz_seconds" -DDBSERVE_BUILD_EXAMPLES=OFF
      ;;
    *)
      echo "unknown stage '$stage' (stages: ${all_stages[*]})"
      stage_cpu_start=$(child_cpu_seconds)
      record "$stage" 0 1 0 0 "unknown stage"
      ;;
  esac
done

if [ $pin -eq 1 ]; then
  [ "$total_failed" -eq 0 ] || { for line in "${summary[@]}"; do echo "$line"; done; exit 1; }
  # Keep the header and the other stages' lines; replace the lines of the stages just listed.
  kept=$(mktemp)
  grep -E '^#|^$' "$expected_counts" >"$kept" 2>/dev/null || true
  for stage in "${all_stages[@]}"; do
    if [[ " ${stages[*]} " == *" $stage "* ]]; then
      for line in "${pinned[@]}"; do [ "${line%% *}" = "$stage" ] && echo "$line"; done
    else
      grep -E "^$stage " "$expected_counts" 2>/dev/null || true
    fi
  done >>"$kept"
  mv "$kept" "$expected_counts"
  echo
  echo "wrote $expected_counts:"
  git --no-pager diff --stat -- "$expected_counts" 2>/dev/null
  git --no-pager diff -U0 -- "$expected_counts" 2>/dev/null | grep -E '^[-+][a-z]' || echo "(no change)"
  exit 0
fi

echo
echo "=== summary"
for line in "${summary[@]}"; do echo "$line"; done
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
[ "$total_failed" -eq 0 ]
