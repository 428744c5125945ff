#!/usr/bin/env bash
# Transport benchmark: builds bench_transport and the C floor, starts nginx on loopback
# HTTPS (test CA from tests/conformance/make-certs.sh, keep-alive, a fixed JSON reply to
# every POST), runs each mode ROUNDS times interleaved, prints per mode the median
# requests per second, the median ratio to the floor of the same round, and the median
# client CPU time per request, and stops nginx. Then the load tools against the same nginx,
# 64 connections each: wrk -t2 -c64 and dbserve-query's load mode (--concurrency 64) on
# each transport, LOAD_SECONDS (5) each, interleaved with the raw libcurl multi figure;
# every row gives its ratio to wrk and to that raw multi of the same round. Needs wrk
# (apt-get install -y wrk).
#
#   bash bench/run-transport.sh            # REQUESTS=5000 ROUNDS=5 by default
#   REQUESTS=20000 ROUNDS=7 bash bench/run-transport.sh
# DBSERVE_BEAST=ON adds the Boost.Beast adapter's modes.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$bench_root"
requests=${REQUESTS:-5000}
rounds=${ROUNDS:-5}
build=${DBSERVE_BENCH_BUILD_DIR:-build/bench-transport}
beast=${DBSERVE_BEAST:-OFF}

load_seconds=${LOAD_SECONDS:-5}
command -v wrk >/dev/null || { echo "run-transport.sh: needs wrk (apt-get install -y wrk)" >&2; exit 2; }

bench_configure "$build" -DDBSERVE_CURL=ON -DDBSERVE_BEAST="$beast" -DDBSERVE_INSTALL=OFF -DDBSERVE_BUILD_EXAMPLES=ON
cmake --build "$build" -j 2 --target bench_transport bench_transport_floor dbserve-query >/dev/null

work=$(mktemp -d)
nginx_conf="$work/nginx.conf"
cleanup() {
  [ -f "$work/nginx.pid" ] && nginx -p "$work" -c "$nginx_conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash tests/conformance/make-certs.sh "$work/certs"
port=$(( 20000 + RANDOM % 20000 ))
host=adb-1.2.azuredatabricks.net
mkdir -p "$work/tmp" "$work/logs"
cat > "$nginx_conf" <<EOF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port ssl;
    server_name $host;
    ssl_certificate $work/certs/good.pem;
    ssl_certificate_key $work/certs/good.key;
    location / {
      default_type application/json;
      return 200 '{"predictions":[1]}';
    }
  }
}
EOF
nginx -p "$work" -c "$nginx_conf"
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done

url="https://$host:$port/serving-endpoints/bench/invocations"
ca="$work/certs/ca.pem"
resolve="$host:$port:127.0.0.1"
floor="$build/bench/transport/bench_transport_floor"
adapters="$build/bench/transport/bench_transport"

modes=(floor-easy curl-blocking curl-async-seq floor-multi64 curl-async-64)
[ "$beast" = ON ] && modes+=(beast-blocking beast-async-seq beast-async-64)

# Load on a shared machine drifts within a run: each mode is compared with the floor of
# the same round, and the median of those per-round ratios is reported.
results="$work/results"
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    case "$mode" in
      floor-easy) "$floor" easy "$url" "$ca" "$resolve" "$requests" ;;
      floor-multi64) "$floor" multi64 "$url" "$ca" "$resolve" "$requests" ;;
      *) "$adapters" "$mode" "$url" "$ca" "$resolve" "$requests" ;;
    esac | sed "s/^/$round /"
  done
done > "$results"

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "requests per run: $requests, rounds: $rounds; medians over the rounds"
echo "  mode             req/s   ratio to the floor   client CPU us/request"
for mode in "${modes[@]}"; do
  case "$mode" in
    *64) base=floor-multi64 ;;
    *) base=floor-easy ;;
  esac
  rate=$(awk -v m="$mode" '$2 == m {print $3}' "$results" | median)
  cpu=$(awk -v m="$mode" '$2 == m {print $4}' "$results" | median)
  ratio=$(awk -v m="$mode" -v b="$base" '$2 == b {f[$1] = $3} $2 == m {r[$1] = $3} END {for (k in r) printf "%.3f\n", r[k] / f[k]}' "$results" | median)
  printf "  %-16s %6d   %5.2fx               %6.1f\n" "$mode" "$rate" "$ratio" "$cpu"
done

# Load tools, 64 connections each. Client CPU is user + system time of the whole process.
# dbserve-query needs a route optimized URL (workspace id 1234) and a ready token.
query="$build/examples/dbserve-query/dbserve-query"
printf '%s\n' 'wrk.method = "POST"' "wrk.body = '{\"inputs\":[[1,2]]}'" \
  'wrk.headers["Content-Type"] = "application/json"' "wrk.headers[\"Host\"] = \"$host\"" > "$work/post.lua"
load_modes=(wrk-c64 floor-multi64 query-curl-c64)
[ "$beast" = ON ] && load_modes+=(query-beast-c64)
load_results="$work/load-results"
cpu_of() { awk '{printf "%.6f", $1 + $2}' "$work/time"; }
for round in $(seq "$rounds"); do
  for mode in "${load_modes[@]}"; do
    case "$mode" in
      wrk-c64)
        /usr/bin/time -f "%U %S" -o "$work/time" wrk -t2 -c64 -d"${load_seconds}s" -s "$work/post.lua" \
          "https://127.0.0.1:$port/serving-endpoints/bench/invocations" > "$work/wrk.out"
        n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
        secs=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$work/wrk.out")
        awk -v n="$n" -v s="$secs" -v c="$(cpu_of)" -v r="$round" \
          'BEGIN {printf "%s wrk-c64 %.0f %.1f\n", r, n / s, c * 1e6 / n}' ;;
      floor-multi64) "$floor" multi64 "$url" "$ca" "$resolve" "$requests" | sed "s/^/$round /" ;;
      query-*)
        transport=${mode#query-}
        transport=${transport%-c64}
        DATABRICKS_TOKEN=bench-token-value /usr/bin/time -f "%U %S" -o "$work/time" "$query" --host "https://$host" \
          --url "https://$host:$port/1234/serving-endpoints/bench/invocations" --auth token \
          --cacert "$ca" --resolve "$resolve" --transport "$transport" --data '{"inputs":[[1,2]]}' \
          --duration "$load_seconds" --concurrency 64 --summary json > "$work/query.json" || true
        python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
if j["failures"]: sys.exit("load mode failures: %s" % j["failures_by_kind"])
print(sys.argv[3], sys.argv[4], round(j["queries_per_second"]), round(float(sys.argv[2]) * 1e6 / j["queries"], 1))
' "$work/query.json" "$(cpu_of)" "$round" "$mode" ;;
    esac
  done
done > "$load_results"

echo
echo "load tools, 64 connections, ${load_seconds} s each (raw multi: $requests requests); medians over the rounds"
echo "  mode             req/s   ratio to wrk   ratio to raw multi   client CPU us/request"
ratio_of() {  # MODE BASE
  awk -v m="$1" -v b="$2" '$2 == b {f[$1] = $3} $2 == m {r[$1] = $3} END {for (k in r) printf "%.3f\n", r[k] / f[k]}' \
    "$load_results" | median
}
for mode in "${load_modes[@]}"; do
  rate=$(awk -v m="$mode" '$2 == m {print $3}' "$load_results" | median)
  cpu=$(awk -v m="$mode" '$2 == m {print $4}' "$load_results" | median)
  printf "  %-16s %6d   %5.2fx         %5.2fx               %6.1f\n" "$mode" "$rate" "$(ratio_of "$mode" wrk-c64)" \
    "$(ratio_of "$mode" floor-multi64)" "$cpu"
done
