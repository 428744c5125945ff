#!/usr/bin/env bash
# Runs one example against its own emulator and checks what it printed.
#   run_example.sh <example> <example binary> <emulator binary> <source dir> <run dir>
# <example>: quickstart, streaming_chat, feature_serving, poll_loop, engine_networking or query_events.
set -uo pipefail
name=$1 binary=$2 emulator=$3 source=$4 run=$5

rm -rf "$run"
mkdir -p "$run"
stop_emulator() { DBSERVE_EMULATOR="$emulator" bash "$source/scripts/emulator.sh" stop --dir "$run/emulator" || true; }
trap stop_emulator EXIT
# --max-lifetime: the emulator goes away even if this script is killed before its trap runs.
DBSERVE_EMULATOR="$emulator" bash "$source/scripts/emulator.sh" start --dir "$run/emulator" -- --max-lifetime 300 \
    >/dev/null || { echo "FAIL: the emulator did not start"; exit 1; }
# shellcheck disable=SC1091
. "$run/emulator/emulator.env"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run <expected exit status> <output file> [VAR=value...] -- <arguments...>
# The example sees only the variables given (env -i): nothing from the caller's
# environment (a DATABRICKS_TOKEN, a profile) can change what it does.
run() {
    local expected=$1 out=$2
    shift 2
    local vars=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    shift
    env -i PATH="$PATH" HOME="$run" "${vars[@]+"${vars[@]}"}" \
        timeout 60 "$binary" --cacert "$DBSERVE_EMULATOR_CA_FILE" "$@" >"$out.out" 2>"$out.err"
    local status=$?
    echo "--- $binary $* (exit $status)"
    cat "$out.out" "$out.err"
    [ "$status" -eq "$expected" ] || fail "exit status $status, expected $expected"
}
expect() {  # expect <file> <fixed string>
    grep -qF -- "$2" "$1" || fail "'$2' not in $(basename "$1")"
}
expect_no_secrets() {  # the client secret and tokens (JWT-shaped: eyJ...) never appear
    for file in "$@"; do
        grep -qF -- "$DBSERVE_EMULATOR_CLIENT_SECRET" "$file" && fail "the client secret appears in $(basename "$file")"
        grep -q 'eyJ[A-Za-z0-9_-]\{8,\}' "$file" && fail "a token appears in $(basename "$file")"
    done
    return 0
}

credentials=(DATABRICKS_HOST="$DBSERVE_EMULATOR_WORKSPACE_URL" DATABRICKS_CLIENT_ID="$DBSERVE_EMULATOR_CLIENT_ID"
             DATABRICKS_CLIENT_SECRET="$DBSERVE_EMULATOR_CLIENT_SECRET" DBSERVE_RESOLVE="$DBSERVE_EMULATOR_CURL_RESOLVE")
out=$run/out
case $name in
    quickstart)
        run 0 "$out" "${credentials[@]}" DATABRICKS_SERVING_ENDPOINT=sum-model --
        expect "$out.out" "GET  $DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model -> HTTP 200"
        expect "$out.out" "endpoint token: client_credentials with authorization_details $DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_AUTHORIZATION_DETAILS"
        expect "$out.out" "route optimized URL: $DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_URL"
        expect "$out.out" "predictions from served model sum-v1:"
        expect "$out.out" "row 0: 6"
        expect "$out.out" "row 1: 16"
        expect "$out.out" "row 2: nan"
        expect_no_secrets "$out.out" "$out.err"
        # A table of the caller's own, and the SDKs' token exchange.
        run 0 "$out-exchange" "${credentials[@]}" -- --endpoint sum-model --auth token-exchange \
            --columns x,y --row 1,1 --row 2,2.5
        expect "$out-exchange.out" "endpoint token: token exchange (jwt-bearer) with authorization_details"
        expect "$out-exchange.out" "row 1: 4.5"
        expect_no_secrets "$out-exchange.out" "$out-exchange.err"
        # Failures: a wrong secret, no host, a row of the wrong width, an unknown endpoint.
        run 1 "$out-secret" "${credentials[@]}" DATABRICKS_CLIENT_SECRET=wrong-secret -- --endpoint sum-model
        expect "$out-secret.err" "quickstart: the query failed: authentication (HTTP 401, invalid_client)"
        run 2 "$out-host" DATABRICKS_CLIENT_ID=x DATABRICKS_CLIENT_SECRET=y -- --endpoint sum-model
        expect "$out-host.err" "DATABRICKS_HOST"
        run 2 "$out-row" "${credentials[@]}" -- --endpoint sum-model --row 1,2
        expect "$out-row.err" "quickstart: the table was refused"
        run 1 "$out-missing" "${credentials[@]}" -- --endpoint no-such-model
        expect "$out-missing.err" "not_found (HTTP 404"
        run 2 "$out-none" "${credentials[@]}" --
        expect "$out-none.err" "DATABRICKS_SERVING_ENDPOINT"
        ;;
    streaming_chat)
        run 0 "$out" "${credentials[@]}" DATABRICKS_CHAT_ENDPOINT=chat-model -- "Is this streamed word by word?"
        expect "$out.out" "assistant: Echo: Is this streamed word by word?"
        expect "$out.out" "finish reason: stop"
        expect "$out.out" "tokens:"
        expect_no_secrets "$out.out" "$out.err"
        # An error answered as a plain JSON body instead of a stream.
        run 1 "$out-custom" "${credentials[@]}" -- --endpoint sum-model
        expect "$out-custom.err" "streaming_chat: the chat failed: bad_request (HTTP 400"
        ;;
    query_events)
        run 0 "$out" "${credentials[@]}" DATABRICKS_SERVING_ENDPOINT=sum-model -- 12
        expect "$out.out" "first query: trace 00-"
        expect "$out.out" 'dbserve_events_total discovered 1'
        expect "$out.out" 'dbserve_events_total query_finished{status="200"} 12'
        expect "$out.out" 'dbserve_events_total token_fetched{path="client_credentials"} 1'
        expect "$out.out" "dbserve_query_latency_ms le="
        expect_no_secrets "$out.out" "$out.err"
        ;;
    feature_serving)
        run 0 "$out" "${credentials[@]}" DATABRICKS_FEATURE_ENDPOINT=feature-endpoint --
        expect "$out.out" "(2 records)"
        expect "$out.out" '"customer_id":17'
        expect "$out.out" '"total":37.5'
        expect "$out.out" '"customer_id":42'
        expect_no_secrets "$out.out" "$out.err"
        # Another key column; a key that is not a number stays a string.
        run 0 "$out-keys" "${credentials[@]}" -- --endpoint feature-endpoint --key store_id 5 north
        expect "$out-keys.out" '"store_id":5'
        expect "$out-keys.out" '"store_id":"north"'
        run 2 "$out-usage" "${credentials[@]}" -- --endpoint feature-endpoint --key
        expect "$out-usage.err" "--key needs a column name"
        ;;
    engine_networking)
        run 0 "$out" "${credentials[@]}" DATABRICKS_CHAT_ENDPOINT=chat-model DATABRICKS_SERVING_ENDPOINT=sum-model -- \
            "Streamed through the engine"
        expect "$out.out" "chat chunk: "
        expect "$out.out" "chat answer: Echo: Streamed through the engine"
        expect "$out.out" "finish reason: stop"
        expect "$out.out" "model predictions: [6]"
        expect_no_secrets "$out.out" "$out.err"
        ;;
    poll_loop)
        run 0 "$out" "${credentials[@]}" DATABRICKS_SERVING_ENDPOINT=sum-model DATABRICKS_CHAT_ENDPOINT=chat-model --
        expect "$out.out" "query 0: predictions [3]"
        expect "$out.out" "query 1: predictions [6]"
        expect "$out.out" "query 2: predictions [9]"
        expect "$out.out" "chat: Echo: What is a route optimized endpoint?"
        # One workspace token for both endpoints, one endpoint-scoped token each.
        expect "$out.out" "2 discoveries, 3 token requests (1 for the workspace token), 4 queries sent"
        # The library and the curl_multi transport run on the caller's thread only.
        expect "$out.out" "threads in this process: 1"
        expect_no_secrets "$out.out" "$out.err"
        ;;
    *)
        fail "unknown example '$name'"
        ;;
esac

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "ok"
