#!/usr/bin/env bash
# dbserve-query against the emulator, one flag group per run:
#   dbserve_query_test.sh GROUP TOOL EMULATOR SOURCE_DIR WORK_DIR HAS_BEAST
# Each group starts its own emulator (scripts/emulator.sh --dir WORK_DIR/emulator), runs the
# tool with every output saved under WORK_DIR/out, and at the end checks that no client
# secret, personal access token or OAuth token appears in any of those outputs.
set -uo pipefail

group=$1 tool=$2 emulator=$3 root=$4 work=$5 has_beast=${6:-0}
rm -rf "$work"
mkdir -p "$work/out" "$work/home" "$work/files"
out=$work/out
files=$work/files

# Nothing from the caller's environment may rescue or change a test.
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
for v in $(env | sed -n 's/^\(DATABRICKS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export HOME=$work/home
export DBSERVE_EMULATOR=$emulator

failures=0
checks=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() { checks=$((checks + 1)); }

emulator_dir=$work/emulator
stop_emulator() { bash "$root/scripts/emulator.sh" stop --dir "$emulator_dir" >/dev/null 2>&1 || true; }
trap stop_emulator EXIT

start_emulator() {
    if ! bash "$root/scripts/emulator.sh" start --dir "$emulator_dir" -- --max-lifetime 175 "$@" >/dev/null; then
        echo "FAIL: the emulator did not start" >&2
        exit 1
    fi
    # shellcheck disable=SC1091
    . "$emulator_dir/emulator.env"
    CA=$DBSERVE_EMULATOR_CA_FILE
    PORT=$DBSERVE_EMULATOR_PORT
    WS_HOST=$DBSERVE_EMULATOR_WORKSPACE_HOST
    SUM_URL=$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_URL
    CHAT_URL=$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_URL
    RESOLVE=()
    for r in $DBSERVE_EMULATOR_CURL_RESOLVE; do RESOLVE+=(--resolve "$r"); done
    NET=(--cacert "$CA" "${RESOLVE[@]}")
    use_main_principal
}

use_main_principal() {
    export DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL
    export DATABRICKS_CLIENT_ID=$DBSERVE_EMULATOR_CLIENT_ID
    export DATABRICKS_CLIENT_SECRET=$DBSERVE_EMULATOR_CLIENT_SECRET
}

# run NAME EXPECTED_EXIT ARGS...: the tool with stdin closed; NAME.out / NAME.err kept.
run() {
    local name=$1 expected=$2
    shift 2
    timeout 60 "$tool" "$@" >"$out/$name.out" 2>"$out/$name.err" </dev/null
    check_exit "$name" "$expected" $?
}
# run_bounded SECONDS NAME EXPECTED_EXIT ARGS...: like run, killed after SECONDS (a hang).
run_bounded() {
    local seconds=$1 name=$2 expected=$3
    shift 3
    timeout "$seconds" "$tool" "$@" >"$out/$name.out" 2>"$out/$name.err" </dev/null
    check_exit "$name" "$expected" $?
}
# run_stdin NAME EXPECTED_EXIT INPUT_FILE ARGS...
run_stdin() {
    local name=$1 expected=$2 input=$3
    shift 3
    timeout 60 "$tool" "$@" >"$out/$name.out" 2>"$out/$name.err" <"$input"
    check_exit "$name" "$expected" $?
}
check_exit() {
    local name=$1 expected=$2 got=$3
    if [ "$got" != "$expected" ]; then
        fail "$name: exit status $got, expected $expected"
        sed 's/^/    stderr: /' "$out/$name.err" | head -n 20 >&2
    else
        pass
    fi
}
out_has() {  # NAME REGEX
    if grep -qE -- "$2" "$out/$1.out"; then pass; else fail "$1: stdout does not match /$2/"; sed 's/^/    stdout: /' "$out/$1.out" | head -n 10 >&2; fi
}
out_lacks() {
    if grep -qE -- "$2" "$out/$1.out"; then fail "$1: stdout matches /$2/"; else pass; fi
}
err_has() {
    if grep -qE -- "$2" "$out/$1.err"; then pass; else fail "$1: stderr does not match /$2/"; sed 's/^/    stderr: /' "$out/$1.err" | head -n 10 >&2; fi
}
# A bad input: exactly one line on stderr, from the tool, naming the problem.
one_error_line() {  # NAME REGEX
    local lines
    lines=$(wc -l <"$out/$1.err")
    if [ "$lines" != 1 ]; then fail "$1: $lines lines on stderr, expected one"; sed 's/^/    stderr: /' "$out/$1.err" | head -n 5 >&2; return; fi
    if ! grep -qE '^dbserve-query: ' "$out/$1.err"; then fail "$1: stderr line does not start with 'dbserve-query: '"; fi
    err_has "$1" "$2"
    if [ -s "$out/$1.out" ]; then fail "$1: printed something on stdout"; fi
}

# refused_csv NAME CONTENT REGEX: --csv with a file holding CONTENT (printf %b escapes) is
# refused with exit 2 and one error line matching REGEX; the file stays as $files/NAME.csv.
refused_csv() {
    printf '%b' "$2" >"$files/$1.csv"
    run "$1" 2 "${U[@]}" --csv "$files/$1.csv"
    one_error_line "$1" "$3"
}

# run_terminal NAME EXPECTED_EXIT ARGS...: the tool on a pseudo-terminal (stdout and stderr
# both), through util-linux script; skipped when script is missing.
run_terminal() {
    local name=$1 expected=$2
    shift 2
    if ! command -v script >/dev/null; then
        echo "note: script(1) not found; $name skipped" >&2
        return 1
    fi
    : >"$out/$name.err"
    timeout 60 script -qec "$(printf '%q ' "$tool" "$@")" /dev/null >"$out/$name.out" 2>&1 </dev/null
    check_exit "$name" "$expected" $?
}

admin() {  # METHOD PATH [JSON]
    if [ $# -ge 3 ]; then
        curl -sS --max-time 10 --cacert "$CA" -X "$1" -H 'Content-Type: application/json' --data "$3" "$DBSERVE_EMULATOR_ADMIN_URL$2"
    else
        curl -sS --max-time 10 --cacert "$CA" -X "$1" "$DBSERVE_EMULATOR_ADMIN_URL$2"
    fi
}
reset_emulator() { admin POST /reset >/dev/null; }
# counter EXPRESSION: a value from GET /admin/counters (j is the object), 0 when absent.
counter() {
    admin GET /counters | node -e '
        const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
        let v; try { v = eval(process.argv[1]); } catch (e) { v = undefined; }
        console.log(v === undefined ? 0 : v);' "$1"
}
# json_field FILE EXPRESSION: a value from a JSON document (j).
json_field() {
    node -e '
        const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        let v; try { v = eval(process.argv[2]); } catch (e) { v = undefined; }
        console.log(v === undefined ? "" : (typeof v === "object" ? JSON.stringify(v) : v));' "$1" "$2"
}
equals() {  # WHAT GOT EXPECTED
    if [ "$2" == "$3" ]; then pass; else fail "$1: got '$2', expected '$3'"; fi
}
between() {  # WHAT GOT LOW HIGH
    if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then pass; else fail "$1: got $2, expected $3..$4"; fi
}

# A data-plane token fetched outside the tool (like one from the Serving UI).
fetch_token() {  # AUTHORIZATION_DETAILS [CLIENT_ID SECRET]
    local id=${2:-$DBSERVE_EMULATOR_CLIENT_ID} secret=${3:-$DBSERVE_EMULATOR_CLIENT_SECRET}
    curl -sS --max-time 10 --cacert "$CA" "${RESOLVE[@]}" -u "$id:$secret" \
        --data-urlencode grant_type=client_credentials --data-urlencode scope=all-apis \
        --data-urlencode "authorization_details=$1" "$DBSERVE_EMULATOR_TOKEN_URL" |
        node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).access_token)'
}

fetch_workspace_token() {  # a control-plane token of the main service principal
    curl -sS --max-time 10 --cacert "$CA" "${RESOLVE[@]}" -u "$DBSERVE_EMULATOR_CLIENT_ID:$DBSERVE_EMULATOR_CLIENT_SECRET" \
        --data-urlencode grant_type=client_credentials --data-urlencode scope=all-apis "$DBSERVE_EMULATOR_TOKEN_URL" |
        node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).access_token)'
}

closed_port() {
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ------------------------------------------------------------------------------- groups

group_where() {
    start_emulator
    local body='{"inputs":[[1,2],[3,4]]}'
    run url 0 --url "$SUM_URL" "${NET[@]}" --data "$body"
    out_has url '"predictions":\[3,7\]'
    run endpoint 0 --endpoint sum-model "${NET[@]}" --data "$body"
    out_has endpoint '"predictions":\[3,7\]'
    run served_model_by_name 0 --endpoint sum-model --served-model sum-v2 "${NET[@]}" --data "$body" -v
    err_has served_model_by_name '> POST https://[^ ]*/serving-endpoints/sum-model/served-models/sum-v2/invocations'
    err_has served_model_by_name '< served-model-name: sum-v2'
    run served_model_by_url 0 --url "$SUM_URL" --served-model sum-v2 "${NET[@]}" --data "$body" -v
    err_has served_model_by_url '< served-model-name: sum-v2'
    run endpoint_id 0 --url "$SUM_URL" --endpoint-id "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_ID" "${NET[@]}" --data "$body"
    # Another endpoint's id goes into authorization_details: the token works, the data plane refuses it.
    run endpoint_id_other 3 --url "$SUM_URL" --endpoint-id "$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_ID" "${NET[@]}" --data "$body" -v
    err_has endpoint_id_other "object_path%22%3A%22%2Fserving-endpoints%2F$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_ID"
    err_has endpoint_id_other '< HTTP 403'

    unset DATABRICKS_HOST
    run host_flag 0 --host "$DBSERVE_EMULATOR_WORKSPACE_URL" --url "$SUM_URL" "${NET[@]}" --data "$body"
    run host_bare 0 --host "$WS_HOST:$PORT" --url "$SUM_URL" "${NET[@]}" --data "$body"
    run no_host 2 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line no_host 'no workspace host.*--host'

    # Profiles: a named one from DATABRICKS_CONFIG_FILE, DEFAULT from ~/.databrickscfg.
    unset DATABRICKS_CLIENT_ID DATABRICKS_CLIENT_SECRET
    printf '[DEFAULT]\nhost = %s\nclient_id = %s\nclient_secret = %s\n' "$DBSERVE_EMULATOR_WORKSPACE_URL" \
        "$DBSERVE_EMULATOR_CLIENT_ID" "$DBSERVE_EMULATOR_CLIENT_SECRET" >"$HOME/.databrickscfg"
    run profile_default 0 --endpoint sum-model "${NET[@]}" --data "$body"
    rm "$HOME/.databrickscfg"
    printf '[other]\nhost = https://example.invalid\n[emu]\nhost = %s\nclient_id = %s\nclient_secret = %s\n' \
        "$DBSERVE_EMULATOR_WORKSPACE_URL" "$DBSERVE_EMULATOR_CLIENT_ID" "$DBSERVE_EMULATOR_CLIENT_SECRET" >"$files/cfg"
    DATABRICKS_CONFIG_FILE=$files/cfg run profile_named 0 --profile emu --url "$SUM_URL" "${NET[@]}" --data "$body"
    DATABRICKS_CONFIG_FILE=$files/cfg run profile_missing 2 --profile nope --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line profile_missing "profile 'nope'.*(other|emu)"
    use_main_principal

    # --token-url: token requests go there instead of <host>/oidc/v1/token.
    run token_url 0 --url "$SUM_URL" --token-url "https://localhost:$PORT/oidc/v1/token" "${NET[@]}" --data "$body" -v
    err_has token_url "^> POST https://localhost:$PORT/oidc/v1/token"
    err_has token_url 'fetched a data-plane token'
    out_has token_url '"predictions":\[3,7\]'
    run token_url_dry 0 --url "$SUM_URL" --token-url "https://localhost:$PORT/oidc/v1/token" "${NET[@]}" --data "$body" --dry-run
    out_has token_url_dry "^# a token would be fetched .*POST https://localhost:$PORT/oidc/v1/token"
}

group_credentials() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    reset_emulator
    run environment 0 --url "$SUM_URL" "${NET[@]}" --data "$body" -v
    err_has environment 'client_secret=\(redacted\)'
    err_has environment 'token path: client credentials with authorization_details'
    err_has environment 'fetched a data-plane token \(client credentials with authorization_details\), expires in 3600 s'
    equals "client_credentials token requests" "$(counter 'j.token_requests.client_credentials')" 1
    # The secret check at the end knows the secret it looks for.
    if [ -n "$DBSERVE_EMULATOR_CLIENT_SECRET" ] && grep -qF "$DBSERVE_EMULATOR_CLIENT_SECRET" "$emulator_dir/emulator.env"; then
        pass
    else
        fail "the emulator's client secret is not known to the test"
    fi

    # --client-secret-file, also with a secret that needs form-urlencoding (sp-encoded).
    unset DATABRICKS_CLIENT_SECRET
    printf '%s\n' "$DBSERVE_EMULATOR_CLIENT_SECRET" >"$files/secret"
    run secret_file 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --client-secret-file "$files/secret"
    printf '%s\n' "$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_SECRET" >"$files/encoded-secret"
    DATABRICKS_CLIENT_ID=$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_ID run secret_file_encoded 0 --url "$SUM_URL" "${NET[@]}" \
        --data "$body" --client-secret-file "$files/encoded-secret"
    run no_secret 2 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line no_secret 'without a client secret.*DATABRICKS_CLIENT_SECRET'
    unset DATABRICKS_CLIENT_ID
    run no_credentials 2 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line no_credentials 'no OAuth client id and secret.*DATABRICKS_CLIENT_ID'
    use_main_principal

    # --auth: the three ways to a token, seen in the emulator's counters.
    reset_emulator
    run auth_client_credentials 0 --auth client-credentials --endpoint sum-model "${NET[@]}" --data "$body" -v
    err_has auth_client_credentials 'token path: client credentials'
    equals "client credentials: jwt-bearer requests" "$(counter 'j.token_requests["jwt-bearer"]')" 0
    equals "client credentials: client_credentials requests" "$(counter 'j.token_requests.client_credentials')" 2
    reset_emulator
    run auth_token_exchange 0 --auth token-exchange --endpoint sum-model "${NET[@]}" --data "$body" -v
    err_has auth_token_exchange 'token path: token exchange'
    err_has auth_token_exchange 'fetched a data-plane token \(token exchange'
    equals "token exchange: jwt-bearer requests" "$(counter 'j.token_requests["jwt-bearer"]')" 1
    equals "token exchange: discoveries" "$(counter 'j.discovery_requests')" 1

    # --token-file: a token from elsewhere; the tool asks the token endpoint for nothing.
    local token
    token=$(fetch_token "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_AUTHORIZATION_DETAILS")
    printf '%s\n' "$token" >"$files/token"
    echo "$token" >>"$work/secrets"
    reset_emulator
    unset DATABRICKS_CLIENT_ID DATABRICKS_CLIENT_SECRET DATABRICKS_HOST
    run token_file 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --token-file "$files/token" -v
    out_has token_file '"predictions":\[3\]'
    err_has token_file 'token path: a token from --token-file'
    err_has token_file 'read a token from --token-file, expires in [0-9]+ s'
    equals "token file: token requests" "$(counter 'j.token_requests.total')" 0
    run auth_token_file 0 --auth token --url "$SUM_URL" "${NET[@]}" --data "$body" --token-file "$files/token"
    # --token-file with discovery: a workspace token looks the endpoint up and is exchanged.
    local workspace_token
    workspace_token=$(fetch_workspace_token)
    printf '%s\n' "$workspace_token" >"$files/workspace-token"
    echo "$workspace_token" >>"$work/secrets"
    reset_emulator
    DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL run token_file_discovery 0 --endpoint sum-model "${NET[@]}" \
        --data "$body" --token-file "$files/workspace-token" -v
    out_has token_file_discovery '"predictions":\[3\]'
    err_has token_file_discovery 'it also looks the endpoint up by name'
    equals "token file with discovery: discoveries" "$(counter 'j.discovery_requests')" 1
    equals "token file with discovery: jwt-bearer requests" "$(counter 'j.token_requests["jwt-bearer"]')" 1
    # --auth token without a file: DATABRICKS_TOKEN holding an OAuth token.
    DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL DATABRICKS_TOKEN=$token run auth_token_env 0 --auth token \
        --url "$SUM_URL" "${NET[@]}" --data "$body"
    # A personal access token is refused before anything is sent.
    printf '%s\n' "$DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" >"$files/pat"
    reset_emulator
    run token_file_pat 2 --url "$SUM_URL" "${NET[@]}" --data "$body" --token-file "$files/pat"
    one_error_line token_file_pat 'personal access token.*OAuth'
    DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL DATABRICKS_TOKEN=$DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN \
        run pat_environment 2 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line pat_environment 'personal access token.*DATABRICKS_CLIENT_ID'
    equals "personal access token: requests sent" "$(counter 'j.requests')" 0
    use_main_principal

    # --action manage_inference_endpoint goes into authorization_details.
    run action_manage 0 --url "$SUM_URL" --action manage_inference_endpoint "${NET[@]}" --data "$body" -v
    err_has action_manage 'authorization_details=.*manage_inference_endpoint'
    # A principal without Query permission: the token request is refused (exit 3).
    DATABRICKS_CLIENT_ID=$DBSERVE_EMULATOR_SP_NO_QUERY_CLIENT_ID DATABRICKS_CLIENT_SECRET=$DBSERVE_EMULATOR_SP_NO_QUERY_CLIENT_SECRET \
        run no_query_permission 3 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line no_query_permission 'invalid_authorization_details.*Query permission'

    # --auth github-oidc against the emulator's GitHub Actions stand-in: no secret held.
    local gh
    gh=$(admin GET /info | node -e '
        const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const g = j.github_actions;
        console.log(JSON.stringify({request_url: g.request_url, request_token: g.request_token,
            policy: {principal: "sp-main", issuer: g.issuer, audiences: [j.token_url], subject: g.subject, jwks: g.jwks}}));')
    admin POST /federation-policies "$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1]).policy))' "$gh")" >/dev/null
    local request_url request_token
    request_url=$(node -e 'console.log(JSON.parse(process.argv[1]).request_url)' "$gh")
    request_token=$(node -e 'console.log(JSON.parse(process.argv[1]).request_token)' "$gh")
    echo "$request_token" >>"$work/secrets"
    reset_emulator
    admin POST /federation-policies "$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1]).policy))' "$gh")" >/dev/null
    # DATABRICKS_CLIENT_ID (the main principal) names its federation policy; its secret,
    # still in the environment, is not used: --auth says how to sign in.
    DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL ACTIONS_ID_TOKEN_REQUEST_URL=$request_url \
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=$request_token \
        run github_oidc 0 --auth github-oidc --endpoint sum-model "${NET[@]}" --data "$body" -v
    out_has github_oidc '"predictions":\[3\]'
    err_has github_oidc 'token path: OAuth token federation \(github-oidc\)'
    err_has github_oidc 'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=<redacted>&'
    equals "github-oidc: federated exchanges" "$(counter 'j.federation.accepted')" 1
    equals "github-oidc: ID tokens" "$(counter 'j.identity_tokens.issued')" 1
    # A file-oidc token file that does not exist: a configuration error naming it (exit 2).
    DATABRICKS_HOST=$DBSERVE_EMULATOR_WORKSPACE_URL DATABRICKS_OIDC_TOKEN_FILEPATH=$files/no-such-jwt \
        run file_oidc_missing 2 --auth file-oidc --endpoint sum-model "${NET[@]}" --data "$body"
    one_error_line file_oidc_missing 'no-such-jwt'
}

group_body() {
    start_emulator
    printf '{"inputs": [[1, 2], [3, 4]]}\n' >"$files/body.json"
    run data_inline 0 --url "$SUM_URL" "${NET[@]}" --data '{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]]}}'
    out_has data_inline '^\{"predictions":\[3,7\]\}$'
    run data_file 0 --url "$SUM_URL" "${NET[@]}" --data "@$files/body.json"
    out_has data_file '"predictions":\[3,7\]'
    run_stdin data_stdin 0 "$files/body.json" --url "$SUM_URL" "${NET[@]}" --data @-
    out_has data_stdin '"predictions":\[3,7\]'
    run data_params 0 --url "$SUM_URL" "${NET[@]}" --data "@$files/body.json" --params '{"scale": 2}'
    out_has data_params '"predictions":\[6,14\]'

    printf 'a,b,c\n1,2,3\n4,5,\r\n"7",8.5,1e1\n' >"$files/table.csv"
    run csv_split_dry 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/table.csv" --dry-run
    out_has csv_split_dry '^\{"dataframe_split":\{"columns":\["a","b","c"\],"data":\[\[1,2,3\],\[4,5,null\],\["7",8.5,10(\.0)?\]\]\}\}$'
    run csv_records_dry 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/table.csv" --format records --dry-run
    out_has csv_records_dry '^\{"dataframe_records":\[\{"a":1,"b":2,"c":3\},\{"a":4,"b":5,"c":null\}'
    printf 'id,score,label\n1,nan,x\n2,-INF,nan\n' >"$files/nan.csv"
    run csv_nan_null_dry 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/nan.csv" --nan null --dry-run
    out_has csv_nan_null_dry '^\{"dataframe_split":\{"columns":\["id","score","label"\],"data":\[\[1,null,"x"\],\[2,null,"nan"\]\]\}\}$'
    printf 'a,b\n1,2\n3,4\n' >"$files/numbers.csv"
    run csv_split 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/numbers.csv"
    out_has csv_split '"predictions":\[3,7\]'
    run csv_records 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/numbers.csv" --format records --params '{"scale":10}'
    out_has csv_records '"predictions":\[30,70\]'
    printf 'x,y\n1,\n' >"$files/null.csv"
    run csv_null 0 --url "$SUM_URL" "${NET[@]}" --csv "$files/null.csv"
    out_has csv_null 'NaN'
    run csv_feature 0 --endpoint feature-endpoint "${NET[@]}" --csv "$files/numbers.csv" --format records
    out_has csv_feature '"outputs"'

    run chat 0 --endpoint chat-model "${NET[@]}" --chat "hello out there"
    out_has chat 'Echo: hello out there'
    run chat_max_tokens 0 --url "$CHAT_URL" "${NET[@]}" --chat "hello out there" --max-tokens 1 --temperature 0.5
    out_has chat_max_tokens '"finish_reason":"length"'
    run chat_dry 0 --url "$CHAT_URL" "${NET[@]}" --chat 'say "hi"' --max-tokens 5 --temperature 0.5 --params '{"top_p":0.9}' --dry-run
    out_has chat_dry '"messages":\[\{"content":"say \\"hi\\"","role":"user"\}\]'
    out_has chat_dry '"max_tokens":5'
    out_has chat_dry '"temperature":0.5'
    out_has chat_dry '"top_p":0.9'
    run embeddings 0 --endpoint embeddings-model "${NET[@]}" --data '{"input":"two words"}'
    out_has embeddings '"embedding"'
    # On a terminal the body is pretty-printed; otherwise it is passed on byte for byte.
    if run_terminal pretty 0 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1,2],[3,4]]}'; then
        out_has pretty '^  "predictions": \['
    fi
}

group_stream() {
    start_emulator
    run stream_chat 0 --endpoint chat-model "${NET[@]}" --chat "one two three" --stream
    equals "streamed text" "$(cat "$out/stream_chat.out")" "Echo: one two three"
    run stream_data 0 --url "$CHAT_URL" "${NET[@]}" --data '{"messages":[{"role":"user","content":"four five"}]}' --stream -v
    equals "streamed text (--data)" "$(cat "$out/stream_data.out")" "Echo: four five"
    err_has stream_data '^> Accept: text/event-stream'
    err_has stream_data 'stream ended: [0-9]+ chunks, finish_reason stop'
    # -v shows the client's events, each with the query's trace id.
    err_has stream_data '^\* event token_fetched: client_credentials token for .*, expires in [0-9]+ s, took [0-9.]+ ms \[trace [0-9a-f]{32}\]$'
    err_has stream_data '^\* event stream_first_token: [0-9.]+ ms after the query began \[trace [0-9a-f]{32}\]$'
    err_has stream_data '^\* event stream_end: [0-9]+ chunks, finish_reason stop, usage [0-9]+\+[0-9]+ tokens'
    err_has stream_data '^\* event query_finished: HTTP 200, 1 attempt\(s\), [0-9.]+ ms, sent [0-9]+ bytes, received [0-9]+ bytes, served model'
    err_has stream_data '^> traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-00$'
    # Every request carried a well-formed traceparent (the emulator counts them).
    equals "every request carried a traceparent" "$(counter 'j.traceparent.received')" "$(counter 'j.requests')"
    equals "no malformed traceparent" "$(counter 'j.traceparent.invalid')" 0
    run stream_completions 0 --endpoint completions-model "${NET[@]}" --data '{"prompt":"p q"}' --stream
    out_has stream_completions 'Completion of: p q'
    if [ "$has_beast" = 1 ]; then
        run stream_beast 0 --endpoint chat-model "${NET[@]}" --chat "six seven" --stream --transport beast
        equals "streamed text (beast)" "$(cat "$out/stream_beast.out")" "Echo: six seven"
    fi
    # A model that cannot stream answers with an HTTP error instead of a stream.
    run stream_refused 4 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1]]}' --stream
    one_error_line stream_refused 'HTTP 400'
    # The stream cut after two chunks: a network failure.
    admin POST /faults '{"route":"invocations","kind":"truncate_stream","truncate_after_chunks":2}' >/dev/null
    run stream_cut 5 --url "$CHAT_URL" "${NET[@]}" --chat "a b c d e f" --stream

    # Streamed load mode: the LLM figures, against the chat model paced at 100 ms a chunk
    # ("Echo: one two three four": five words, one chunk and one usage token each).
    reset_emulator
    admin POST /config '{"stream_chunk_delay_ms":100}' >/dev/null
    run llm_load 0 --url "$CHAT_URL" "${NET[@]}" --chat "one two three four" --stream --repeat 6 --concurrency 2 \
        --summary json
    equals "llm: successes" "$(json_field "$out/llm_load.out" j.successes)" 6
    equals "llm: streams" "$(json_field "$out/llm_load.out" j.llm.streams)" 6
    equals "llm: completion tokens" "$(json_field "$out/llm_load.out" j.llm.usage.completion_tokens)" 30
    equals "llm: inter-token samples" "$(json_field "$out/llm_load.out" j.llm.inter_token_latency_ms.count)" 24
    # The server waits 100 ms before every chunk after the role chunk: no figure can be
    # below it (the histogram reads back within 0.1 %); an upper bound only rules out nonsense.
    between "llm: inter-token p50 (ms)" "$(json_field "$out/llm_load.out" 'Math.round(j.llm.inter_token_latency_ms.p50)')" 100 2000
    between "llm: time to first token p50 (ms)" "$(json_field "$out/llm_load.out" 'Math.round(j.llm.time_to_first_token_ms.p50)')" 100 5000
    # Six words over at least 6 x 100 ms (five words and the end): at most 10 tokens/s a stream.
    between "llm: tokens/s per stream p50 (x100)" "$(json_field "$out/llm_load.out" 'Math.round(100 * j.llm.output_tokens_per_second_per_stream.p50)')" 1 1000
    run llm_load_text 0 --url "$CHAT_URL" "${NET[@]}" --chat "one two" --stream --repeat 2
    out_has llm_load_text '^time to first token \(ms\): +p50 [0-9.]+ +p90 [0-9.]+ +p99 [0-9.]+$'
    out_has llm_load_text '^inter-token latency \(ms\): +p50 [0-9.]+'
    out_has llm_load_text '^output tokens/s \(total\): +[0-9.]+$'
    out_has llm_load_text '^usage \(tokens\): +prompt [0-9]+ +completion 6 +total [0-9]+$'
    admin POST /config '{"stream_chunk_delay_ms":0}' >/dev/null
}

group_dry_run() {
    start_emulator
    reset_emulator
    run dry_url 0 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1,2]]}' --dry-run
    out_has dry_url "^POST $SUM_URL\$"
    out_has dry_url '^Authorization: Bearer <redacted>$'
    out_has dry_url '^Content-Type: application/json$'
    out_has dry_url "^X-Databricks-Workspace-Id: $DBSERVE_EMULATOR_WORKSPACE_ID\$"
    out_has dry_url '^\{"inputs":\[\[1,2\]\]\}$'
    out_has dry_url '^# .*token would be fetched.*authorization_details='
    out_has dry_url "\"object_path\":\"/serving-endpoints/$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_ID\""
    run dry_endpoint 0 --endpoint sum-model "${NET[@]}" --data '{"inputs":[[1,2]]}' --dry-run
    out_has dry_endpoint "^# .*GET $DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model"
    out_has dry_endpoint '^POST <route optimized host from discovery>/<workspace id>/serving-endpoints/sum-model/invocations$'
    out_has dry_endpoint 'grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<redacted>&authorization_details=.*<endpoint id from discovery>'
    run dry_stream 0 --url "$CHAT_URL" "${NET[@]}" --chat hi --stream --dry-run
    out_has dry_stream '"stream":true'
    out_has dry_stream '^Accept: text/event-stream$'
    run dry_verbose 0 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1]]}' --dry-run -v
    local token
    token=$(fetch_token "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_AUTHORIZATION_DETAILS")
    printf '%s\n' "$token" >"$files/token"
    echo "$token" >>"$work/secrets"
    reset_emulator
    run dry_token_file 0 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1]]}' --token-file "$files/token" --dry-run
    out_has dry_token_file '^Authorization: Bearer <redacted>$'
    # Without credentials a dry run still says what is missing (and sends nothing).
    unset DATABRICKS_CLIENT_SECRET
    run dry_no_secret 2 --url "$SUM_URL" "${NET[@]}" --data '{"inputs":[[1]]}' --dry-run
    use_main_principal
    equals "dry run: requests the emulator saw" "$(counter 'j.requests')" 0
}

group_network() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    # --capath: a directory of CA certificates prepared with openssl rehash.
    mkdir -p "$files/capath"
    cp "$CA" "$files/capath/emulator-ca.pem"
    openssl rehash "$files/capath" >/dev/null 2>&1 || c_rehash "$files/capath" >/dev/null 2>&1
    run capath 0 --url "$SUM_URL" --capath "$files/capath" "${RESOLVE[@]}" --data "$body"
    out_has capath '"predictions":\[3\]'
    if [ "$has_beast" = 1 ]; then
        run beast 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --transport beast
        out_has beast '"predictions":\[3\]'
        run capath_beast 0 --url "$SUM_URL" --capath "$files/capath" "${RESOLVE[@]}" --data "$body" --transport beast
    fi
    run curl 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --transport curl --connect-timeout 5 --max-time 20

    # --max-time: a model slower than the deadline is a timeout (exit 5), not repeated.
    admin POST /faults '{"route":"invocations","kind":"delay","delay_ms":4000}' >/dev/null
    run max_time 5 --url "$SUM_URL" "${NET[@]}" --data "$body" --max-time 1.5
    one_error_line max_time 'timeout'
    admin POST /faults/clear >/dev/null

    # --resolve decides where a name goes: a closed port is a network failure (exit 5).
    local closed
    closed=$(closed_port)
    run closed_port 5 --host "https://$WS_HOST:$closed" --url "$SUM_URL" --cacert "$CA" \
        --resolve "$WS_HOST:$closed:127.0.0.1" "${RESOLVE[@]}" --data "$body" --max-time 10
    one_error_line closed_port 'connection'
    if [ "$has_beast" = 1 ]; then
        run closed_port_beast 5 --host "https://$WS_HOST:$closed" --url "$SUM_URL" --cacert "$CA" \
            --resolve "$WS_HOST:$closed:127.0.0.1" "${RESOLVE[@]}" --data "$body" --max-time 10 --transport beast
    fi

    # TLS: the system store, or another CA, does not trust the emulator (exit 6).
    run tls_system_store 6 --url "$SUM_URL" "${RESOLVE[@]}" --data "$body"
    one_error_line tls_system_store '^dbserve-query: tls'
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$files/other-ca.key" -out "$files/other-ca.pem" \
        -days 2 -subj "/CN=another test CA" >/dev/null 2>&1
    run tls_other_ca 6 --url "$SUM_URL" --cacert "$files/other-ca.pem" "${RESOLVE[@]}" --data "$body"
    one_error_line tls_other_ca '^dbserve-query: tls'
    if [ "$has_beast" = 1 ]; then
        run tls_other_ca_beast 6 --url "$SUM_URL" --cacert "$files/other-ca.pem" "${RESOLVE[@]}" --data "$body" --transport beast
        one_error_line tls_other_ca_beast '^dbserve-query: tls'
    fi
}

group_exit_codes() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    run code_0 0 --url "$SUM_URL" "${NET[@]}" --data "$body"
    run code_2_usage 2 --url "$SUM_URL" "${NET[@]}" --data "$body" --no-such-flag
    one_error_line code_2_usage "unknown option '--no-such-flag'"
    # 3: the token request refused (a wrong secret), a 401 (an unknown token), a 403 (a
    # token for another endpoint).
    DATABRICKS_CLIENT_SECRET=wrong-secret run code_3_token_refused 3 --url "$SUM_URL" "${NET[@]}" --data "$body"
    one_error_line code_3_token_refused 'invalid_client'
    printf 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.c2ln\n' >"$files/unknown-token"
    echo 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJub2JvZHkifQ.c2ln' >>"$work/secrets"
    run code_3_401 3 --url "$SUM_URL" "${NET[@]}" --data "$body" --token-file "$files/unknown-token"
    one_error_line code_3_401 'HTTP 401'
    local chat_token
    chat_token=$(fetch_token "$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_AUTHORIZATION_DETAILS")
    echo "$chat_token" >>"$work/secrets"
    printf '%s\n' "$chat_token" >"$files/chat-token"
    run code_3_403 3 --url "$SUM_URL" "${NET[@]}" --data "$body" --token-file "$files/chat-token"
    one_error_line code_3_403 'HTTP 403'
    # 4: the endpoint's own HTTP errors.
    run code_4_400 4 --url "$SUM_URL" "${NET[@]}" --data '{"unknown":[1]}'
    one_error_line code_4_400 'HTTP 400.*exactly one of the input fields'
    run code_4_404 4 --url "$SUM_URL" --served-model no-such-model "${NET[@]}" --data "$body"
    one_error_line code_4_404 'HTTP 404'
    admin POST /faults '{"route":"invocations","status":500,"count":-1}' >/dev/null
    run code_4_500 4 --url "$SUM_URL" "${NET[@]}" --data "$body" --max-time 20
    one_error_line code_4_500 'HTTP 500'
    admin POST /faults/clear >/dev/null
    # 5 and 6.
    local closed
    closed=$(closed_port)
    run code_5 5 --host "https://$WS_HOST:$closed" --url "$SUM_URL" --cacert "$CA" \
        --resolve "$WS_HOST:$closed:127.0.0.1" "${RESOLVE[@]}" --data "$body" --max-time 10
    run code_6 6 --url "$SUM_URL" "${RESOLVE[@]}" --data "$body"
    # 4, not 2, once requests went out: discovery finds an endpoint that is not route
    # optimized (the token and discovery requests were sent).
    run code_4_not_route_optimized 4 --endpoint classic-model "${NET[@]}" --data "$body"
    one_error_line code_4_not_route_optimized 'classic-model.* is not route optimized'
    # Accepted --resolve values mean the same to both transports: an IPv4 and a bracketed
    # IPv6 literal for a host the query does not use change nothing.
    local transports=(curl) t
    [ "$has_beast" = 1 ] && transports+=(beast)
    for t in "${transports[@]}"; do
        run "resolve_accepted_$t" 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --transport "$t" \
            --resolve other.example:443:10.1.2.3 --resolve other.example:8443:[2001:db8::1]
        out_has "resolve_accepted_$t" '"predictions":\[3\]'
    done
}

group_bad_input() {
    start_emulator
    reset_emulator
    local body='{"inputs":[[1,2]]}'
    local U=(--url "$SUM_URL" "${NET[@]}")
    run unknown_flag 2 "${U[@]}" --data "$body" --bogus
    one_error_line unknown_flag "unknown option '--bogus'.*--help"
    run missing_value 2 --data "$body" --url
    one_error_line missing_value '--url needs a value'
    run secret_argument 2 "${U[@]}" --data "$body" --client-secret abc
    one_error_line secret_argument '--client-secret is not accepted.*--client-secret-file'
    run token_argument 2 "${U[@]}" --data "$body" --token=abc
    one_error_line token_argument '--token is not accepted'
    run url_and_endpoint 2 "${U[@]}" --endpoint sum-model --data "$body"
    one_error_line url_and_endpoint 'give --url or --endpoint, not both'
    run no_endpoint 2 "${NET[@]}" --data "$body"
    one_error_line no_endpoint '--endpoint NAME.*--url'
    run no_body 2 "${U[@]}"
    one_error_line no_body 'no request body'
    run two_bodies 2 "${U[@]}" --data "$body" --chat hi
    one_error_line two_bodies 'only one of --data, --csv and --chat'
    run data_not_json 2 "${U[@]}" --data 'inputs=[1,2]'
    one_error_line data_not_json '--data is not valid JSON: parsing stopped at byte 1'
    run data_truncated 2 "${U[@]}" --data '{"inputs": [[1,'
    one_error_line data_truncated '--data is not valid JSON'
    run data_nan 2 "${U[@]}" --data '{"inputs": [[NaN]]}'
    one_error_line data_nan 'NaN and Infinity are not JSON'
    run data_missing_file 2 "${U[@]}" --data "@$files/nope.json"
    one_error_line data_missing_file "--data: cannot open '.*nope.json': No such file"
    printf '' >"$files/empty"
    run_stdin data_empty_stdin 2 "$files/empty" "${U[@]}" --data @-
    one_error_line data_empty_stdin 'standard input.*is empty'
    refused_csv csv_ragged 'a,b\n1,2\n3\n' 'CSV line 3 \(data row 2\) has 1 fields but the header has 2'
    refused_csv csv_open_quote 'a,b\n"1,2\n' 'CSV line 2: a quoted field is never closed'
    refused_csv csv_inner_quote 'a,b\n1"x",2\n' 'CSV line 2: a quote inside an unquoted field'
    refused_csv csv_after_quote 'a,b\n"1"x,2\n' 'CSV line 2: unexpected character after a closing quote'
    refused_csv csv_header_only 'a,b\n' 'no data rows'
    refused_csv csv_empty_column_name 'a,,c\n1,2,3\n' 'column name in the header row is empty'
    refused_csv csv_nan 'id,score\n1,0.5\n2,NaN\n' "CSV line 3 \\(data row 2\\), column 'score' \\(1\\): 'NaN' in a numeric column is NaN or infinite.*--nan null"
    refused_csv csv_infinity 'a\n1\n-Infinity\n' "CSV line 3 \\(data row 2\\), column 'a' \\(0\\): '-Infinity'"
    run nan_without_csv 2 "${U[@]}" --data "$body" --nan null
    one_error_line nan_without_csv '--nan goes with --csv'
    run nan_bad 2 "${U[@]}" --csv "$files/csv_nan.csv" --nan zero
    one_error_line nan_bad '--nan expects error or null'
    run csv_missing 2 "${U[@]}" --csv "$files/nope.csv"
    one_error_line csv_missing "--csv: cannot open"
    run format_without_csv 2 "${U[@]}" --data "$body" --format records
    one_error_line format_without_csv '--format goes with --csv'
    run format_bad 2 "${U[@]}" --csv "$files/csv_ragged.csv" --format columns
    one_error_line format_bad '--format expects split or records'
    run params_not_object 2 "${U[@]}" --data "$body" --params '[1]'
    one_error_line params_not_object '--params must be a JSON object'
    run params_not_json 2 "${U[@]}" --data "$body" --params '{scale: 2}'
    one_error_line params_not_json '--params is not valid JSON'
    run url_http 2 --url "http://example.com/1/serving-endpoints/a/invocations" "${NET[@]}" --data "$body"
    one_error_line url_http '--url: .*https'
    run url_shape 2 --url "https://example.com/not/an/invocations/url" "${NET[@]}" --data "$body"
    one_error_line url_shape '--url: '
    run url_garbage 2 --url "https://" "${NET[@]}" --data "$body"
    one_error_line url_garbage '--url: '
    run host_with_path 2 --host "https://$WS_HOST/some/path" "${U[@]}" --data "$body"
    one_error_line host_with_path '--host: '
    run endpoint_name_bad 2 --endpoint 'no spaces allowed' "${NET[@]}" --data "$body"
    one_error_line endpoint_name_bad '--endpoint: '
    run token_url_http 2 "${U[@]}" --data "$body" --token-url http://example.com/oidc/v1/token
    one_error_line token_url_http '--token-url must be an https'
    run resolve_bad 2 "${U[@]}" --data "$body" --resolve example.com:443
    one_error_line resolve_bad '--resolve expects HOST:PORT:ADDRESS'
    run resolve_port 2 "${U[@]}" --data "$body" --resolve example.com:99999:127.0.0.1
    one_error_line resolve_port '--resolve expects HOST:PORT:ADDRESS'
    run repeat_zero 2 "${U[@]}" --data "$body" --repeat 0
    one_error_line repeat_zero '--repeat expects a whole number from 1'
    run duration_bad 2 "${U[@]}" --data "$body" --duration soon
    one_error_line duration_bad '--duration expects a positive number of seconds'
    run concurrency_alone 2 "${U[@]}" --data "$body" --concurrency 4
    one_error_line concurrency_alone '--concurrency needs load mode'
    run summary_alone 2 "${U[@]}" --data "$body" --summary json
    one_error_line summary_alone '--summary goes with load mode'
    run dry_load 2 "${U[@]}" --data "$body" --dry-run --repeat 2
    one_error_line dry_load '--dry-run'
    run temperature_bad 2 "${U[@]}" --chat hi --temperature 3
    one_error_line temperature_bad '--temperature expects a number from 0 to 2'
    run max_tokens_alone 2 "${U[@]}" --data "$body" --max-tokens 5
    one_error_line max_tokens_alone '--max-tokens and --temperature go with --chat'
    run transport_bad 2 "${U[@]}" --data "$body" --transport wget
    one_error_line transport_bad '--transport expects curl or beast'
    run auth_bad 2 "${U[@]}" --data "$body" --auth password
    one_error_line auth_bad '--auth expects client-credentials, token-exchange, token, env-oidc, file-oidc or github-oidc'
    run action_bad 2 "${U[@]}" --data "$body" --action read
    one_error_line action_bad '--action expects query_inference_endpoint or manage_inference_endpoint'
    run cacert_missing 2 --url "$SUM_URL" --cacert "$files/nope.pem" "${RESOLVE[@]}" --data "$body"
    one_error_line cacert_missing "--cacert '.*nope.pem' does not exist"
    run capath_file 2 --url "$SUM_URL" --capath "$CA" "${RESOLVE[@]}" --data "$body"
    one_error_line capath_file '--capath .* is not a directory'
    run timeout_bad 2 "${U[@]}" --data "$body" --connect-timeout -1
    one_error_line timeout_bad '--connect-timeout expects a positive number of seconds'
    run token_file_missing 2 "${U[@]}" --data "$body" --token-file "$files/nope-token"
    one_error_line token_file_missing "--token-file: cannot open"
    run token_file_empty 2 "${U[@]}" --data "$body" --token-file "$files/empty"
    one_error_line token_file_empty "--token-file: .* is empty"
    printf 'a\nb\n' >"$files/two-lines"
    run token_file_two_lines 2 "${U[@]}" --data "$body" --token-file "$files/two-lines"
    one_error_line token_file_two_lines 'more than one line'
    printf 'not-a-real-token\n' >"$files/some-token"
    run token_file_with_auth 2 --auth env-oidc "${U[@]}" --data "$body" --token-file "$files/some-token"
    one_error_line token_file_with_auth '--token-file supplies the token itself'
    run token_file_and_secret_file 2 "${U[@]}" --data "$body" --token-file "$files/empty" --client-secret-file "$files/empty"
    one_error_line token_file_and_secret_file 'give --token-file or --client-secret-file, not both'
    run secret_file_empty 2 "${U[@]}" --data "$body" --client-secret-file "$files/empty"
    one_error_line secret_file_empty "--client-secret-file: .* is empty"
    run data_empty 2 "${U[@]}" --data ''
    one_error_line data_empty '--data was given an empty value'
    # What a dependency would throw on is refused where the input enters (it used to abort).
    run data_huge_number 2 "${U[@]}" --data '{"inputs":[1e309]}'
    one_error_line data_huge_number '--data holds a number too large for a double'
    run data_huge_number_dry 2 "${U[@]}" --data '{"inputs":[1e309]}' --dry-run
    one_error_line data_huge_number_dry '--data holds a number too large for a double'
    run params_huge_number 2 "${U[@]}" --data "$body" --params '{"scale":1e309}'
    one_error_line params_huge_number '--params holds a number too large for a double'
    run params_huge_number_dry 2 "${U[@]}" --chat hi --params '{"top_p":-1e400}' --dry-run
    one_error_line params_huge_number_dry '--params holds a number too large for a double'
    run chat_not_utf8 2 "${U[@]}" --chat $'\xff\xfe'
    one_error_line chat_not_utf8 '--chat is not valid UTF-8 \(byte 0'
    run chat_not_utf8_dry 2 "${U[@]}" --chat $'hi \xc3' --dry-run
    one_error_line chat_not_utf8_dry '--chat is not valid UTF-8 \(byte 3'
    node -e 'process.stdout.write("{\"inputs\":" + "[".repeat(100000) + "]".repeat(100000) + "}")' >"$files/deep.json"
    run data_deep 2 "${U[@]}" --data "@$files/deep.json" --params '{}'
    one_error_line data_deep 'nests arrays or objects more than 512 levels deep'
    printf 'a,b\n\xff,2\n' >"$files/not-utf8.csv"
    run csv_not_utf8 2 "${U[@]}" --csv "$files/not-utf8.csv" --dry-run
    one_error_line csv_not_utf8 'UTF-8'
    # --resolve: one IP literal (an IPv6 one in brackets), refused the same way by both
    # transports before anything is sent; an accepted one is used the same way by both.
    local transports=(curl)
    [ "$has_beast" = 1 ] && transports+=(beast)
    local t i address
    for t in "${transports[@]}"; do
        i=0
        for address in localhost 999.1.1.1 0x7f.1 127.1 '[::1' ::1 127.0.0.1,127.0.0.2 garbage $'127.0.0.1\r\nX: y'; do
            i=$((i + 1))
            run "resolve_refused_${t}_$i" 2 "${U[@]}" --data "$body" --transport "$t" --resolve "other.example:443:$address"
            one_error_line "resolve_refused_${t}_$i" '^dbserve-query: --resolve: resolve override for .other.example:443.: '
        done
        err_has "resolve_refused_${t}_1" 'not an IP address.*127\.0\.0\.1.*\[::1\]'
        err_has "resolve_refused_${t}_5" 'unmatched bracket'
        err_has "resolve_refused_${t}_6" 'an IPv6 address goes in brackets'
        err_has "resolve_refused_${t}_7" 'only one address'
        err_has "resolve_refused_${t}_9" '\\x0d\\x0a'
    done
    # --cacert / --capath that cannot give a trusted CA: refused before anything is sent,
    # not a TLS failure (exit 6) after connecting.
    printf '' >"$files/empty.pem"
    printf 'this is not a certificate\n' >"$files/not-pem.pem"
    mkdir -p "$files/empty-capath" "$files/not-pem-capath"
    cp "$files/not-pem.pem" "$files/not-pem-capath/0badc0de.0"
    for t in "${transports[@]}"; do
        run "cacert_empty_$t" 2 --url "$SUM_URL" --cacert "$files/empty.pem" "${RESOLVE[@]}" --data "$body" --transport "$t"
        one_error_line "cacert_empty_$t" "--cacert '.*empty.pem' is empty"
        run "cacert_not_pem_$t" 2 --url "$SUM_URL" --cacert "$files/not-pem.pem" "${RESOLVE[@]}" --data "$body" --transport "$t"
        one_error_line "cacert_not_pem_$t" "--cacert '.*not-pem.pem' holds no PEM certificate"
        run "cacert_missing_$t" 2 --url "$SUM_URL" --cacert "$files/nope.pem" "${RESOLVE[@]}" --data "$body" --transport "$t"
        one_error_line "cacert_missing_$t" "--cacert '.*nope.pem' does not exist"
        run "capath_empty_$t" 2 --url "$SUM_URL" --capath "$files/empty-capath" "${RESOLVE[@]}" --data "$body" --transport "$t"
        one_error_line "capath_empty_$t" "--capath '.*empty-capath' holds no PEM certificate"
        run "capath_not_pem_$t" 2 --url "$SUM_URL" --capath "$files/not-pem-capath" "${RESOLVE[@]}" --data "$body" --transport "$t"
        one_error_line "capath_not_pem_$t" "--capath '.*not-pem-capath' holds no PEM certificate"
    done
    equals "bad input: requests the emulator saw" "$(counter 'j.requests')" 0
}

group_load() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    reset_emulator
    run repeat_json 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --repeat 40 --concurrency 4 --summary json
    equals "repeat: queries" "$(json_field "$out/repeat_json.out" j.queries)" 40
    equals "repeat: successes" "$(json_field "$out/repeat_json.out" j.successes)" 40
    equals "repeat: failures" "$(json_field "$out/repeat_json.out" j.failures)" 0
    equals "repeat: token requests" "$(json_field "$out/repeat_json.out" j.token_requests)" 1
    equals "repeat: emulator token requests" "$(counter 'j.token_requests.total')" 1
    equals "repeat: emulator invocations" "$(counter 'j.invocations["200"]')" 40
    for field in p50 p90 p99 max; do
        local v
        v=$(json_field "$out/repeat_json.out" "j.latency_ms.$field")
        if [ -n "$v" ]; then pass; else fail "repeat: no latency_ms.$field"; fi
    done
    if [ -n "$(json_field "$out/repeat_json.out" "j.latency_ms['p99.9']")" ]; then pass; else fail "repeat: no latency_ms.p99.9"; fi
    # The histogram's buckets, [lower_ms, upper_ms, count], account for every query.
    equals "repeat: histogram buckets count every query" \
        "$(json_field "$out/repeat_json.out" "j.latency_ms.buckets.reduce((n, b) => n + b[2], 0)")" 40
    if [ "$(wc -l <"$out/repeat_json.out")" = 1 ]; then pass; else fail "repeat: --summary json is not one line"; fi
    # A progress bar on stderr when it is a terminal; none otherwise.
    if run_terminal progress 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --repeat 200 --concurrency 2; then
        out_has progress '\[[#.]{30}\] [0-9]+/200 queries, 0 failed'
        out_has progress 'queries: +200 \(200 succeeded, 0 failed\)'
    fi
    if grep -q 'queries, 0 failed' "$out/repeat_json.err"; then fail "a progress bar was drawn on a non-terminal"; else pass; fi

    run duration_text 0 --endpoint sum-model "${NET[@]}" --data "$body" --duration 1.5 --concurrency 2
    out_has duration_text '^queries: +[0-9]+ \([0-9]+ succeeded, 0 failed\)'
    out_has duration_text '^throughput: +[0-9.]+ queries/s'
    out_has duration_text '^latency \(ms\): +p50 [0-9.]+ +p90 [0-9.]+ +p99 [0-9.]+ +p99\.9 [0-9.]+ +max [0-9.]+'
    out_has duration_text '^token requests: +2$'

    if [ "$has_beast" = 1 ]; then
        run repeat_beast 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --repeat 12 --concurrency 3 --summary json --transport beast
        equals "beast: successes" "$(json_field "$out/repeat_beast.out" j.successes)" 12
    fi

    # Ctrl-C ends load mode early: the queries in flight finish and the summary is printed.
    timeout 90 "$tool" --url "$SUM_URL" "${NET[@]}" --data "$body" --duration 80 --summary json \
        >"$out/interrupted.out" 2>"$out/interrupted.err" </dev/null &
    local pid=$! tries=0
    while kill -0 "$pid" 2>/dev/null && [ $tries -lt 60 ]; do
        sleep 0.5
        kill -INT "$pid" 2>/dev/null
        tries=$((tries + 1))
    done
    wait "$pid"
    check_exit interrupted 0 $?
    err_has interrupted 'load mode: interrupted'
    equals "interrupted: failures" "$(json_field "$out/interrupted.out" j.failures)" 0
    if [ "$(json_field "$out/interrupted.out" j.queries)" -gt 0 ] 2>/dev/null; then pass; else fail "interrupted: no queries counted"; fi

    run no_arguments 2
    err_has no_arguments '^usage: dbserve-query'

    # Failures: counted by kind, exit code of the failure, summary still printed.
    run repeat_failing 4 --url "$SUM_URL" "${NET[@]}" --data '{"unknown":1}' --repeat 5 --summary json
    equals "failing: failures" "$(json_field "$out/repeat_failing.out" j.failures)" 5
    equals "failing: by kind" "$(json_field "$out/repeat_failing.out" 'j.failures_by_kind["bad_request (HTTP 400)"]')" 5
    err_has repeat_failing '5 queries failed; the first: bad_request'
    # Throttling answered by retries: every query still succeeds.
    admin POST /faults '{"route":"invocations","status":429,"retry_after":0,"count":3}' >/dev/null
    run repeat_throttled 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --repeat 6 --summary json -v
    equals "throttled: successes" "$(json_field "$out/repeat_throttled.out" j.successes)" 6
    err_has repeat_throttled '< HTTP 429'
}

group_load_token_lifetime() {
    # How many tokens a run needs must not depend on how fast the machine is: with hour-long
    # tokens a load run of any length needs exactly one token per kind, shared by every
    # worker. (When short-lived tokens are refreshed is a rule about time, proven on a manual
    # clock in tests/unit.)
    start_emulator
    local body='{"inputs":[[1,2]]}'
    reset_emulator
    run lifetime 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --duration 3 --concurrency 3 --summary json
    equals "lifetime: failures" "$(json_field "$out/lifetime.out" j.failures)" 0
    equals "lifetime: token requests" "$(json_field "$out/lifetime.out" j.token_requests)" 1
    equals "lifetime: emulator token requests" "$(counter 'j.token_requests.client_credentials')" 1
    equals "lifetime: 401s from the data plane" "$(counter 'j.invocations["401"]')" 0
    # Token exchange: one control-plane token, one discovery, one exchanged data-plane token.
    reset_emulator
    run lifetime_exchange 0 --endpoint sum-model "${NET[@]}" --data "$body" --duration 3 --concurrency 2 --summary json
    equals "exchange lifetime: failures" "$(json_field "$out/lifetime_exchange.out" j.failures)" 0
    equals "exchange lifetime: token requests" "$(json_field "$out/lifetime_exchange.out" j.token_requests)" 2
    equals "exchange lifetime: client_credentials" "$(counter 'j.token_requests.client_credentials')" 1
    equals "exchange lifetime: jwt-bearer" "$(counter 'j.token_requests["jwt-bearer"]')" 1
    equals "exchange lifetime: discoveries" "$(counter 'j.discovery_requests')" 1
    # Tokens living 4 s over a 7 s run: renewed as they age, so no query fails, and the
    # tool counts every token request the emulator saw.
    reset_emulator
    admin POST /config '{"token_lifetime_seconds": 4}' >/dev/null
    run lifetime_short 0 --url "$SUM_URL" "${NET[@]}" --data "$body" --duration 7 --concurrency 3 --summary json
    equals "short lifetime: failures" "$(json_field "$out/lifetime_short.out" j.failures)" 0
    equals "short lifetime: the tool's and the emulator's token request counts" \
        "$(json_field "$out/lifetime_short.out" j.token_requests)" "$(counter 'j.token_requests.client_credentials')"
}

# Hostile server text, made with the emulator's faults (a replaced body and content type).
group_server_text() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    local U=(--url "$SUM_URL" "${NET[@]}" --data "$body")

    # JSON nested 100,000 levels deep, as a token error and as an invocation error: -v shows
    # that it was not shown (the tool used to recurse through it and crash).
    local route
    for route in token invocations; do
        node -e 'const d = "[".repeat(100000) + "]".repeat(100000);
            console.log(JSON.stringify({route: process.argv[1], status: 400, count: -1, body: d, content_type: "application/json"}));' \
            "$route" >"$files/deep-$route.json"
    done
    admin POST /faults "@$files/deep-token.json" >/dev/null
    run deep_token 4 "${U[@]}" -v --max-time 20
    err_has deep_token '^< \(200000 bytes of JSON nested more than 512 levels deep, not shown\)$'
    run deep_token_quiet 4 "${U[@]}" --max-time 20
    one_error_line deep_token_quiet 'HTTP 400'
    admin POST /faults/clear >/dev/null
    admin POST /faults "@$files/deep-invocations.json" >/dev/null
    run deep_invocation 4 "${U[@]}" -v --max-time 20
    err_has deep_invocation '^< \(200000 bytes of JSON nested more than 512 levels deep, not shown\)$'
    admin POST /faults/clear >/dev/null

    # A token endpoint that quotes the client's credentials back: the secret, its form
    # encoding and the Basic value sent with them never appear, with or without -v.
    local id=$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_ID secret=$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_SECRET
    local encoded basic
    form_encode() { node -e 'console.log(new URLSearchParams([["a", process.argv[1]]]).toString().slice(2))' "$1"; }
    encoded=$(form_encode "$secret")
    basic=$(printf '%s:%s' "$(form_encode "$id")" "$encoded" | base64 -w0)
    printf '%s\n%s\n' "$encoded" "$basic" >>"$work/secrets"
    node -e 'const [secret, encoded, basic] = process.argv.slice(1);
        console.log(JSON.stringify({route: "token", status: 401, count: -1, content_type: "application/json",
            body: JSON.stringify({error: "invalid_client", error_description:
                "client authentication failed: secret " + secret + ", form " + encoded + ", Basic " + basic})}));' \
        "$secret" "$encoded" "$basic" >"$files/echo-secret.json"
    admin POST /faults "@$files/echo-secret.json" >/dev/null
    DATABRICKS_CLIENT_ID=$id DATABRICKS_CLIENT_SECRET=$secret run echo_secret 3 "${U[@]}"
    one_error_line echo_secret 'invalid_client'
    DATABRICKS_CLIENT_ID=$id DATABRICKS_CLIENT_SECRET=$secret run echo_secret_verbose 3 "${U[@]}" -v
    err_has echo_secret_verbose '^< HTTP 401'
    admin POST /faults/clear >/dev/null

    # A data plane that quotes the bearer token back in its 401.
    local token
    token=$(fetch_token "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_AUTHORIZATION_DETAILS")
    echo "$token" >>"$work/secrets"
    printf '%s\n' "$token" >"$files/token"
    node -e 'console.log(JSON.stringify({route: "invocations", status: 401, count: -1, content_type: "application/json",
            body: JSON.stringify({error_code: "UNAUTHENTICATED", message: "Invalid token: Bearer " + process.argv[1]})}));' \
        "$token" >"$files/echo-token.json"
    admin POST /faults "@$files/echo-token.json" >/dev/null
    run echo_token 3 "${U[@]}" --token-file "$files/token"
    one_error_line echo_token 'HTTP 401'
    run echo_token_verbose 3 "${U[@]}" --token-file "$files/token" -v
    err_has echo_token_verbose '^< HTTP 401'
    admin POST /faults/clear >/dev/null

    # Terminal control sequences (OSC title, clear screen, CSI colour, C1 CSI) in a header
    # and a body: shown escaped, never sent to the terminal.
    node -e 'console.log(JSON.stringify({route: "invocations", status: 400, count: -1,
            content_type: "text/plain\u001b[31m",
            body: "bad input \u001b]0;pwned\u0007\u001b[2J \u009b31m red"}));' >"$files/control.json"
    admin POST /faults "@$files/control.json" >/dev/null
    run control_verbose 4 "${U[@]}" -v
    err_has control_verbose '^< HTTP 400'
    err_has control_verbose 'bad input \\x1b\]0;pwned\\x07\\x1b\[2J \\u009b31m red'
    run control_quiet 4 "${U[@]}"
    one_error_line control_quiet 'HTTP 400'
    admin POST /faults/clear >/dev/null
    for name in control_verbose control_quiet; do
        if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$out/$name.err"; then
            fail "$name: a raw control character reached stderr"
        else
            pass
        fi
        if LC_ALL=C grep -q $'\xc2\x9b' "$out/$name.err"; then fail "$name: a raw C1 control reached stderr"; else pass; fi
    done
}

# Deadlines against a token endpoint that accepts TCP connections and never answers (not
# even the TLS handshake): --max-time holds, and load mode ends at --duration with its summary.
group_deadlines() {
    start_emulator
    local body='{"inputs":[[1,2]]}'
    node -e 'const net = require("net"); const held = [];
        const s = net.createServer(c => held.push(c));
        s.listen(0, "127.0.0.1", () => console.log(s.address().port));' >"$files/silent.port" &
    local silent_pid=$! tries=0
    while [ ! -s "$files/silent.port" ] && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
    local silent
    silent=$(cat "$files/silent.port")
    local U=(--url "$SUM_URL" "${NET[@]}" --data "$body" --token-url "https://127.0.0.1:$silent/oidc/v1/token")
    # --max-time bounds the whole query whatever the per-request limits are (the token
    # request used to keep its own: a 60 s connect timeout here, which timeout 30 would catch).
    run_bounded 30 max_time_token 5 "${U[@]}" --max-time 2 --connect-timeout 60
    one_error_line max_time_token 'timeout'
    if [ "$has_beast" = 1 ]; then
        run_bounded 30 max_time_token_beast 5 "${U[@]}" --max-time 2 --connect-timeout 60 --transport beast
        one_error_line max_time_token_beast 'timeout'
    fi
    run_bounded 30 duration_hung_token 5 "${U[@]}" --duration 2 --concurrency 2 --summary json
    # Every query was cut by the end of the run (its token request timed out then, and a
    # retry after the end is not sent: cancelled): counted as unfinished, and a run in which
    # none finished fails.
    local unfinished
    unfinished=$(json_field "$out/duration_hung_token.out" j.unfinished)
    if [ "${unfinished:-0}" -ge 2 ] 2>/dev/null; then pass; else fail "duration: $unfinished unfinished, expected one per worker at least"; fi
    equals "duration: finished queries" "$(json_field "$out/duration_hung_token.out" j.queries)" 0
    equals "duration: successes" "$(json_field "$out/duration_hung_token.out" j.successes)" 0
    err_has duration_hung_token '^dbserve-query: load mode: no query finished before --duration ended; the first: (timeout|cancelled)'
    kill "$silent_pid" 2>/dev/null
    wait "$silent_pid" 2>/dev/null
}

# ------------------------------------------------------------------------------- main

case "$group" in
    where | credentials | body | stream | dry_run | network | exit_codes | bad_input | load | load_token_lifetime | \
        server_text | deadlines)
        "group_$group" ;;
    *) echo "unknown group $group" >&2; exit 2 ;;
esac

# No secret or token in anything the tool printed, in any run of this group (-v included).
{
    for v in $(compgen -v DBSERVE_EMULATOR_ | grep 'CLIENT_SECRET$'); do echo "${!v}"; done
    echo "${DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN:-}"
    [ -f "$work/secrets" ] && cat "$work/secrets"
} | sed '/^$/d' | sort -u >"$work/secret-values"
for f in "$out"/*; do
    if grep -qF -f "$work/secret-values" "$f"; then fail "a secret or token appears in $(basename "$f")"; fi
    # Every token the emulator issues is a JWT ("eyJ...").
    if grep -qE 'eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}' "$f"; then fail "a JWT appears in $(basename "$f")"; fi
done
pass

echo "$group: $checks checks passed, $failures failed"
[ "$failures" -eq 0 ]
