#!/usr/bin/env bash
# Makes the certificates the transport conformance server presents, into DIR:
#   ca.pem / ca-dir/         the test CA (file, and a directory prepared with openssl rehash)
#   good.{pem,key}           signed by the test CA for the names in GOOD_NAMES
#   expired.{pem,key}        signed by the test CA, validity entirely in the past
#   self-signed.{pem,key}    its own issuer
#   unknown-ca.{pem,key}     signed by another CA that nobody trusts
# Idempotent: does nothing when DIR/done exists.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR}
[ -f "$dir/done" ] && exit 0
mkdir -p "$dir"
cd "$dir"
rm -rf ca-dir ca-db && mkdir -p ca-dir ca-db

good_names="DNS:adb-1.2.azuredatabricks.net,DNS:ep-1.7.serving.azuredatabricks.net,DNS:localhost,IP:127.0.0.1"
days=825
q() { openssl "$@" >/dev/null 2>&1; }

make_ca() {  # name subject
  q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
    -days 3650 -subj "$2" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf_request() {  # name cn
  q req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
}
sign() {  # name ca san
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" > "$1.ext"
  q x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days "$days" -extfile "$1.ext" -out "$1.pem"
}

make_ca ca "/CN=dbserve conformance test CA"
make_ca rogue-ca "/CN=dbserve conformance untrusted CA"

leaf_request good adb-1.2.azuredatabricks.net
sign good ca "$good_names"

leaf_request unknown-ca unknown-ca.azuredatabricks.net
sign unknown-ca rogue-ca "DNS:unknown-ca.azuredatabricks.net"

q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout self-signed.key -out self-signed.pem \
  -days "$days" -subj "/CN=self-signed.azuredatabricks.net" -addext "subjectAltName=DNS:self-signed.azuredatabricks.net"

# x509 cannot back-date a certificate; `openssl ca` takes explicit start and end dates.
leaf_request expired expired.azuredatabricks.net
touch ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca-db/openssl.cnf <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $PWD/ca-db/index.txt
serial = $PWD/ca-db/serial
new_certs_dir = $PWD/ca-db
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[leaf]
subjectAltName = DNS:expired.azuredatabricks.net
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
EOF
q ca -batch -config ca-db/openssl.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
  -extensions leaf -startdate 20200101000000Z -enddate 20200201000000Z -notext

cp ca.pem ca-dir/
openssl rehash ca-dir >/dev/null 2>&1 || c_rehash ca-dir >/dev/null
for f in ca.pem good.pem expired.pem self-signed.pem unknown-ca.pem; do [ -s "$f" ] || { echo "make-certs.sh: $f missing" >&2; exit 1; }; done
touch done
