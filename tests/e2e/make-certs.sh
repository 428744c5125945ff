#!/usr/bin/env bash
# Makes a throw-away test CA and a server certificate for HOST... (and localhost, 127.0.0.1)
# signed by it, into DIR: ca.pem, server.pem, server.key. For the real TLS front (nginx)
# and the hostile servers (tests/hostile).
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR HOST...}
host=${2:?usage: make-certs.sh DIR HOST...}
shift
names=""
for name in "$@"; do names+="DNS:$name,"; done
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days 30 -subj "/CN=dbserve e2e test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=$host"
printf 'subjectAltName=%sDNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  "$names" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.pem
