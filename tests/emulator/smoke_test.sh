#!/usr/bin/env bash
# Smoke test of the emulator over real TLS with the curl command line: start it, read what it
# printed, get tokens, discover, invoke, stream, inject faults, and check the refusals.
# usage: smoke_test.sh path/to/dbserve-emulator
set -euo pipefail

binary=${1:?usage: smoke_test.sh path/to/dbserve-emulator}
# Only the emulator's test CA may be trusted: the environment's bundles must not rescue anything.
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$binary" --state-dir "$work/state" --env-file "$work/env" --max-lifetime 110 >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 200); do
    [ -s "$work/env" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/stderr"; echo "FAIL: the emulator exited at start"; exit 1; }
    sleep 0.1
done
[ -s "$work/env" ] || { echo "FAIL: no env file after 20 s"; exit 1; }
# shellcheck disable=SC1091
. "$work/env"
head -c 1 "$work/stdout" | grep -q '{' || { echo "FAIL: stdout does not start with the JSON line"; exit 1; }
[ "$(wc -l <"$work/stdout")" -eq 1 ] || { echo "FAIL: expected exactly one line on stdout"; exit 1; }

failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

resolve=()
for entry in $DBSERVE_EMULATOR_CURL_RESOLVE; do resolve+=(--resolve "$entry"); done
# request NAME: runs curl, leaving the status in $status, the body in $work/body and the
# headers in $work/headers.
request() {
    status=$(curl -sS --max-time 10 --cacert "$DBSERVE_EMULATOR_CA_FILE" "${resolve[@]}" \
        -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" 2>"$work/curl-stderr") || status="curl-failed"
}
expect() {  # expect NAME STATUS [TEXT the body must contain]
    local name=$1 want=$2 text=${3:-}
    if [ "$status" != "$want" ]; then
        fail "$name: status $status, expected $want: $(head -c 300 "$work/body" 2>/dev/null)"
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$work/body"; then
        fail "$name: body lacks '$text': $(head -c 300 "$work/body")"
    else
        pass "$name"
    fi
}
json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$work/body"; }
form_basic() { printf '%s:%s' "$1" "$2" | base64 -w0; }
admin() { request -X "$1" -H 'Content-Type: application/json' "$DBSERVE_EMULATOR_ADMIN_URL/$2" ${3:+--data "$3"}; }

sum_details=$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_AUTHORIZATION_DETAILS
main_basic="Authorization: Basic $(form_basic "$DBSERVE_EMULATOR_CLIENT_ID" "$DBSERVE_EMULATOR_CLIENT_SECRET")"
token_request() {  # token_request AUTH_HEADER [extra curl args]
    local auth=$1
    shift
    request -H "$auth" -d grant_type=client_credentials -d scope=all-apis "$@" "$DBSERVE_EMULATOR_TOKEN_URL"
}

# --- tokens
token_request "$main_basic"
expect "control-plane token" 200 '"token_type":"Bearer"'
control=$(json_field access_token)
token_request "$main_basic" --data-urlencode "authorization_details=$sum_details"
expect "endpoint-scoped token with authorization_details" 200 '"expires_in":3600'
data_plane=$(json_field access_token)

request -u "$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_ID:$DBSERVE_EMULATOR_SP_ENCODED_CLIENT_SECRET" \
    -d grant_type=client_credentials -d scope=all-apis "$DBSERVE_EMULATOR_TOKEN_URL"
expect "raw (unencoded) Basic credentials are refused" 401 '"error":"invalid_client"'
# 'emulator:sp+2' / 'dose:se+cr%t/with space', form-urlencoded by hand.
token_request "Authorization: Basic $(form_basic 'emulator%3Asp%2B2' 'dose%3Ase%2Bcr%25t%2Fwith+space')"
expect "form-urlencoded Basic credentials are accepted" 200 '"access_token"'
token_request "Authorization: Basic $(form_basic "$DBSERVE_EMULATOR_SP_NO_QUERY_CLIENT_ID" "$DBSERVE_EMULATOR_SP_NO_QUERY_CLIENT_SECRET")" \
    --data-urlencode "authorization_details=$sum_details"
expect "a principal without Query permission" 400 'User is not authorized to the requested authorizations'
token_request "$main_basic" -d grant_type=password
expect "a repeated grant_type" 400 '"error":"invalid_request"'
request -H "$main_basic" -d grant_type=password "$DBSERVE_EMULATOR_TOKEN_URL"
expect "an unsupported grant" 400 '"error":"unsupported_grant_type"'

# --- discovery
request -H "Authorization: Bearer $control" "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model"
expect "discovery" 200 "\"endpoint_url\":\"$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_URL\""
grep -qF '"authorization_details":"[{\"type\":\"workspace_permission\"' "$work/body" &&
    pass "discovery hands authorization_details out as a string" || fail "authorization_details is not a string"
request -H "Authorization: Bearer $DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/nope"
expect "discovery of an unknown endpoint" 404 'RESOURCE_DOES_NOT_EXIST'
request -H "Authorization: Bearer $data_plane" "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model"
expect "discovery refuses a data-plane token" 403 'PERMISSION_DENIED'

# --- jwt-bearer exchange
request --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer --data-urlencode "assertion=$control" \
    --data-urlencode "authorization_details=$sum_details" "$DBSERVE_EMULATOR_TOKEN_URL"
expect "token exchange" 200 '"access_token"'
exchanged=$(json_field access_token)

# --- invocations
invoke() {  # invoke TOKEN BODY [CONTENT-TYPE]; an empty TOKEN sends no Authorization header
    local token=$1 body=$2 type=${3:-application/json}
    local auth=()
    [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
    request "${auth[@]+"${auth[@]}"}" -H "Content-Type: $type" --data "$body" "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_URL"
}
invoke "$data_plane" '{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]]}}'
expect "invocation" 200 '{"predictions":[3,7]}'
grep -qi '^served-model-name: sum-v1' "$work/headers" && pass "served-model-name header" || fail "served-model-name header"
invoke "$exchanged" '{"inputs":{"a":[1],"b":[2]}}'
expect "invocation with the exchanged token" 200 '{"predictions":[3]}'
invoke "" '{"instances":[1]}'
expect "no token" 401 'UNAUTHENTICATED'
invoke "$DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" '{"instances":[1]}'
expect "a personal access token on the data plane" 401 'Personal access tokens are not supported'
invoke "$control" '{"instances":[1]}'
expect "a workspace token on the data plane" 403 'PERMISSION_DENIED'
invoke "$data_plane" '{"instances":[1]}' 'text/plain'
expect "a wrong content type" 415
invoke "$data_plane" '{"instances":[1]}' 'application/json; charset=latin-1'
expect "a charset other than utf-8" 415
invoke "$data_plane" '{"instances":[1'
expect "malformed JSON" 400 'BAD_REQUEST'
invoke "$data_plane" '{"instances":[1],"inputs":[1]}'
expect "two input fields" 400 'exactly one of the input fields'
request -H "Authorization: Bearer $DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" -H 'Content-Type: application/json' \
    --data '{"instances":[1]}' "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_WORKSPACE_URL"
expect "the workspace path for a new route optimized endpoint" 400 'dedicated URL'
request -H "Authorization: Bearer $DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" -H 'Content-Type: application/json' \
    --data '{"instances":[2]}' "$DBSERVE_EMULATOR_ENDPOINT_LEGACY_SUM_MODEL_WORKSPACE_URL"
expect "the workspace path for an endpoint created before 2025-09-22" 200 '{"predictions":[2]}'

# --- LLM endpoints and streaming
token_request "$main_basic" --data-urlencode "authorization_details=$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_AUTHORIZATION_DETAILS"
chat_token=$(json_field access_token)
chat() { request -H "Authorization: Bearer $chat_token" -H 'Content-Type: application/json' --data "$1" "$DBSERVE_EMULATOR_ENDPOINT_CHAT_MODEL_URL"; }
chat '{"messages":[{"role":"user","content":"hello"}]}'
expect "chat" 200 '"content":"Echo: hello"'
chat '{"inputs":[1]}'
expect "chat refuses unknown fields" 400 'json: unknown field \"inputs\"'
chat '{"messages":[{"role":"user","content":"hello"}],"temperature":3}'
expect "chat refuses temperature 3" 400
chat '{"messages":[{"role":"user","content":"hello world"}],"stream":true}'
expect "streamed chat" 200 '"object":"chat.completion.chunk"'
grep -qi '^transfer-encoding: chunked' "$work/headers" && pass "the stream is chunked" || fail "the stream is not chunked"
grep -qi '^content-type: text/event-stream' "$work/headers" && pass "the stream is text/event-stream" || fail "stream content type"
[ "$(tail -n 2 "$work/body" | head -n 1)" = "data: [DONE]" ] &&
    pass "the stream ends with data: [DONE]" || fail "the stream does not end with data: [DONE]"

# --- faults, counters, keep-alive
admin POST reset
admin POST faults '{"route":"invocations","status":429,"retry_after":3,"count":1}'
expect "add a fault" 200 '"added"'
invoke "$data_plane" '{"instances":[1]}'
expect "an injected 429" 429 'REQUEST_LIMIT_EXCEEDED'
grep -qi '^retry-after: 3' "$work/headers" && pass "Retry-After on the 429" || fail "Retry-After on the 429"
invoke "$data_plane" '{"instances":[1]}'
expect "the fault fired once only" 200
admin POST faults '{"route":"invocations","kind":"drop_before"}'
invoke "$data_plane" '{"instances":[1]}'
[ "$status" = "curl-failed" ] || [ "$status" = "000" ] && pass "a connection dropped before the request was read" ||
    fail "drop_before: status $status"
admin POST faults '{"route":"token","status":503,"count":1}'
token_request "$main_basic"
expect "a token endpoint that is down" 503 'TEMPORARILY_UNAVAILABLE'
admin GET counters
expect "counters" 200 '"client_credentials":1'
grep -qF '"invocations":{"429":1,"200":1,"dropped_before_read":1}' "$work/body" &&
    pass "invocations counted by status" || fail "invocations by status: $(cat "$work/body")"

admin POST reset
admin POST faults '[{"route":"invocations","kind":"delay","delay_ms":50},{"route":"invocations","kind":"drop_after"}]'
invoke "$data_plane" '{"instances":[5]}'
expect "a delayed answer" 200 '{"predictions":[5]}'
invoke "$data_plane" '{"instances":[1]}'
[ "$status" = "curl-failed" ] || [ "$status" = "000" ] && pass "a connection dropped after the request was read" ||
    fail "drop_after: status $status"
admin POST faults '{"route":"invocations","endpoint":"chat-model","kind":"truncate_stream","truncate_after_chunks":2}'
chat '{"messages":[{"role":"user","content":"one two three"}],"stream":true}'
if [ "$status" != "200" ] && grep -qF 'chat.completion.chunk' "$work/body" && ! grep -qF '[DONE]' "$work/body"; then
    pass "a stream cut after two chunks"
else
    fail "truncate_stream: status $status, body $(head -c 200 "$work/body")"
fi
admin GET counters
grep -qF '"invocations":{"200":3}' "$work/body" && grep -qF '"connections_dropped":2' "$work/body" &&
    pass "the dropped-after request was processed and counted" || fail "counters after drops: $(cat "$work/body")"

admin POST reset
curl -sS --max-time 10 --cacert "$DBSERVE_EMULATOR_CA_FILE" "${resolve[@]}" -o /dev/null -o /dev/null \
    -H "Authorization: Bearer $DBSERVE_EMULATOR_PERSONAL_ACCESS_TOKEN" \
    "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model" \
    "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/chat-model" || true
admin GET counters
grep -qF '"connections_accepted":2,' "$work/body" && grep -qF '"discovery_requests":2' "$work/body" &&
    pass "two requests on one kept-alive connection" || fail "keep-alive: $(cat "$work/body")"

# --- an endpoint recreated under a new id
admin POST endpoints/sum-model '{"recreate":true}'
expect "recreate an endpoint" 200 '"next_host"'
invoke "$data_plane" '{"instances":[1]}'
expect "the old data-plane host after recreation" 404 'RESOURCE_DOES_NOT_EXIST'
request -H "Authorization: Bearer $control" "$DBSERVE_EMULATOR_WORKSPACE_URL/api/2.0/serving-endpoints/sum-model"
if grep -qF "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_URL" "$work/body"; then fail "discovery still gives the old URL"; else pass "discovery gives the new URL"; fi

# --- malformed HTTP gets a 400 and the server lives on
reply=$(printf 'NOT HTTP AT ALL\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$DBSERVE_EMULATOR_PORT" \
    -servername localhost -CAfile "$DBSERVE_EMULATOR_CA_FILE" 2>/dev/null | head -n 1 || true)
case "$reply" in "HTTP/1.1 400"*) pass "malformed HTTP gets 400" ;; *) fail "malformed HTTP: '$reply'" ;; esac
admin GET counters
expect "still serving after malformed input" 200 '"bad_requests":1'

# --- a connection opened for one host does not serve another
reply=$(printf 'GET /admin/counters HTTP/1.1\r\nHost: %s\r\n\r\n' "$DBSERVE_EMULATOR_ENDPOINT_SUM_MODEL_HOST" |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$DBSERVE_EMULATOR_PORT" -servername "$DBSERVE_EMULATOR_WORKSPACE_HOST" \
        -CAfile "$DBSERVE_EMULATOR_CA_FILE" 2>/dev/null | head -n 1 || true)
case "$reply" in "HTTP/1.1 421"*) pass "a Host other than the TLS server name gets 421" ;; *) fail "SNI mismatch: '$reply'" ;; esac

# --- the certificate is trusted only through the test CA
if curl -sS --max-time 10 "${resolve[@]}" -o /dev/null "$DBSERVE_EMULATOR_WORKSPACE_URL/oidc/v1/token" 2>/dev/null; then
    fail "the certificate verified without the test CA"
else
    pass "without the test CA the certificate is refused"
fi

# --- graceful exit on SIGTERM
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
    fail "still running 5 s after SIGTERM"
else
    wait "$pid" && pass "exits with status 0 on SIGTERM" || fail "non-zero exit status after SIGTERM"
fi
pid=""

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed; emulator stderr:"
    cat "$work/stderr"
    exit 1
fi
echo "all emulator smoke checks passed"
