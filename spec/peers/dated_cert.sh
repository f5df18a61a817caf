#!/bin/sh
# A leaf certificate with given validity dates, for the TLS specs' cert
# scripts (certs.sh, certs19.sh): `openssl x509 -req` cannot set the start
# date, `openssl ca` can (-startdate/-enddate), with a minimal CA setup of
# its own. Run in the directory of the CA's files:
#
#   sh dated_cert.sh CA NAME EXTFILE START END    (dates: YYYYMMDDHHMMSSZ)
#
# writes NAME.pem and NAME.key (ECDSA P-256, CN localhost), signed by
# CA.pem/CA.key, with the extensions of EXTFILE.
set -eu
CA=$1 NAME=$2 EXT=$3 START=$4 END=$5
DIR=$(pwd)
SSL=${OPENSSL:-openssl}
mkdir -p "$CA.db"
: > "$CA.db/index.txt"
[ -f "$CA.db/serial" ] || echo 1000 > "$CA.db/serial"
cat > "$CA.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $DIR/$CA.db/index.txt
new_certs_dir = $DIR/$CA.db
serial = $DIR/$CA.db/serial
certificate = $DIR/$CA.pem
private_key = $DIR/$CA.key
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
organizationName = optional
EOF
$SSL req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$NAME.key" -out "$NAME.csr" \
    -subj "/O=c_http_core tests/CN=localhost" 2>/dev/null
$SSL ca -batch -config "$CA.cnf" -notext -startdate "$START" \
    -enddate "$END" -extfile "$EXT" -in "$NAME.csr" -out "$NAME.pem" \
    2>/dev/null
rm -f "$NAME.csr"
