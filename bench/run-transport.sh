#!/usr/bin/env bash
# Transport benchmark: builds bench_transport and the C floor, starts nginx on loopback
# HTTPS (test CA from tests/conformance/make-certs.sh, keep-alive, a fixed JSON reply to
# every POST), runs each mode ROUNDS times interleaved, prints per mode the median
# requests per second, the median ratio to the floor of the same round, and the median
# client CPU time per request, and stops nginx.
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

bench_configure "$build" -DDBSERVE_CURL=ON -DDBSERVE_BEAST="$beast" -DDBSERVE_INSTALL=OFF
cmake --build "$build" -j 2 --target bench_transport bench_transport_floor >/dev/null

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
