#!/usr/bin/env bash
# See dbserve work, in one command: installs what is missing (scripts/install-deps.sh),
# builds the examples and the emulator (only those targets, in build/quickstart), starts
# the emulator, runs examples/quickstart against it (discover the route optimized URL,
# fetch an OAuth token with authorization_details, send a dataframe_split table, print
# the predictions), then the streaming chat, feature serving and poll loop examples, and
# stops the emulator (always, whatever happens). The exit status is non-zero if anything
# failed.
#
# With DATABRICKS_HOST, DATABRICKS_CLIENT_ID, DATABRICKS_CLIENT_SECRET and
# DATABRICKS_SERVING_ENDPOINT all set, it builds only the quickstart and runs it against
# that workspace instead (no emulator; DBSERVE_CA_FILE and DBSERVE_RESOLVE are honoured).
# Arguments are passed on to it then, e.g. your model's table:
#   bash scripts/quickstart.sh --columns age,income --row 42,5100.5 --row 37,3900
#
# Environment: DBSERVE_JOBS (build parallelism, default: nproc),
# DBSERVE_QUICKSTART_BUILD_DIR (default: build/quickstart).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
if [ $# -gt 0 ] && ! { [ -n "${DATABRICKS_HOST:-}" ] && [ -n "${DATABRICKS_SERVING_ENDPOINT:-}" ]; }; then
    echo "quickstart: arguments are for a run against a real workspace (DATABRICKS_HOST, DATABRICKS_CLIENT_ID," >&2
    echo "DATABRICKS_CLIENT_SECRET and DATABRICKS_SERVING_ENDPOINT set); against the emulator it takes none" >&2
    exit 2
fi

bash scripts/install-deps.sh || { echo "quickstart: installing dependencies failed" >&2; exit 1; }

build=${DBSERVE_QUICKSTART_BUILD_DIR:-build/quickstart}
jobs=${DBSERVE_JOBS:-$(nproc)}
workspace=0
if [ -n "${DATABRICKS_HOST:-}" ] && [ -n "${DATABRICKS_CLIENT_ID:-}" ] && [ -n "${DATABRICKS_CLIENT_SECRET:-}" ] &&
   [ -n "${DATABRICKS_SERVING_ENDPOINT:-}" ]; then
    workspace=1
fi

examples=(quickstart)
targets=(quickstart)
if [ $workspace -eq 0 ]; then
    examples+=(streaming_chat feature_serving poll_loop)
    targets+=(streaming_chat feature_serving poll_loop dbserve-emulator)
fi

echo "=== building ${targets[*]} in $build"
mkdir -p "$build"
# Tests on: the emulator lives in tests/emulator. No build type: a quick -O0 build, as
# nothing here is measured.
if ! cmake -S . -B "$build" -G Ninja -DDBSERVE_CURL=ON -DDBSERVE_BUILD_TESTS=ON -DDBSERVE_BUILD_EXAMPLES=ON \
        >"$build/configure.log" 2>&1; then
    cat "$build/configure.log"
    echo "quickstart: configuring failed" >&2
    exit 1
fi
if ! cmake --build "$build" --target "${targets[@]}" -j "$jobs"; then
    echo "quickstart: the build failed" >&2
    exit 1
fi

failed=()
# run_example <name> <arguments...>
run_example() {
    local name=$1
    shift
    echo
    echo "=== $name"
    if ! "$build/examples/$name/$name" "$@"; then failed+=("$name"); fi
}

if [ $workspace -eq 1 ]; then
    echo
    echo "=== against $DATABRICKS_HOST (endpoint $DATABRICKS_SERVING_ENDPOINT)"
    run_example quickstart "$@"
else
    run=$build/emulator-run
    stop_emulator() { DBSERVE_EMULATOR="$build/tests/emulator/dbserve-emulator" bash scripts/emulator.sh stop --dir "$run"; }
    stop_emulator  # one left running by an earlier run that was killed
    trap stop_emulator EXIT
    echo
    echo "=== starting the emulator (a local workspace and route optimized data plane)"
    # --max-lifetime: a safety net should this script be killed before its trap runs.
    if ! DBSERVE_EMULATOR="$build/tests/emulator/dbserve-emulator" \
            bash scripts/emulator.sh start --dir "$run" -- --max-lifetime 600 >/dev/null; then
        echo "quickstart: the emulator did not start" >&2
        exit 1
    fi
    # shellcheck disable=SC1091
    . "$run/emulator.env"
    echo "workspace $DBSERVE_EMULATOR_WORKSPACE_URL (on 127.0.0.1 through resolve entries), test CA $DBSERVE_EMULATOR_CA_FILE"
    # The examples see the emulator's service principal and nothing else from this
    # environment that could change their behaviour (a DATABRICKS_TOKEN, a profile).
    unset DATABRICKS_TOKEN DATABRICKS_AUTH_TYPE DATABRICKS_CONFIG_PROFILE DATABRICKS_CONFIG_FILE DATABRICKS_WORKSPACE_ID
    export DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL
    export DATABRICKS_CLIENT_ID=$DBSERVE_EMULATOR_CLIENT_ID
    export DATABRICKS_CLIENT_SECRET=$DBSERVE_EMULATOR_CLIENT_SECRET
    export DBSERVE_RESOLVE=$DBSERVE_EMULATOR_CURL_RESOLVE
    ca=(--cacert "$DBSERVE_EMULATOR_CA_FILE")
    run_example quickstart "${ca[@]}" --endpoint sum-model
    run_example streaming_chat "${ca[@]}" --endpoint chat-model "What is a route optimized endpoint?"
    run_example feature_serving "${ca[@]}" --endpoint feature-endpoint
    run_example poll_loop "${ca[@]}" --endpoint sum-model --chat chat-model
fi

echo
passed=$((${#examples[@]} - ${#failed[@]}))
if [ ${#failed[@]} -gt 0 ]; then
    echo "quickstart: $passed of ${#examples[@]} examples passed; failed: ${failed[*]} ($((SECONDS - started)) s)"
    exit 1
fi
if [ ${#examples[@]} -eq 1 ]; then
    echo "quickstart: passed ($((SECONDS - started)) s)"
else
    echo "quickstart: all ${#examples[@]} examples passed ($((SECONDS - started)) s)"
fi
