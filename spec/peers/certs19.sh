#!/bin/sh
# Certificates for spec/tls_verify_spec.lua (issue 19), each made to break
# one property at a time; made with the openssl command line:
#
#   sh spec/peers/certs19.sh DIR
#
# Written to DIR (X.pem with X.key; a certificate signed by an intermediate
# also gets X-chain.pem, the intermediate, for s_server -cert_chain):
#   root              the trust anchor ("c19 root")
#   int               a plain intermediate CA
#   int-noca          an "intermediate" without basicConstraints CA:TRUE
#   nc-perm           intermediate, permitted DNS:allowed.test and IP
#                     127.0.0.0/8 (non-critical)
#   nc-permc          the same, critical
#   nc-ip10           critical, permitted IP 10.0.0.0/8 only
#   nc-excl           critical, excluded DNS:bad.allowed.test and IP
#                     127.0.0.1/32
#   perm-good perm-bad       good.allowed.test + 127.0.0.1 / good.example.test
#   permc-good permc-bad     the same under nc-permc
#   ip10-leaf         DNS:localhost, IP:127.0.0.1 under nc-ip10
#   excl-dns excl-ip excl-ok bad.allowed.test / ok.allowed.test + 127.0.0.1
#                     / ok.allowed.test, under nc-excl
#   leaf              DNS:localhost, IP:127.0.0.1 (under int)
#   noca-leaf         DNS:localhost under int-noca
#   cn-only           CN localhost and no subjectAltName
#   san-over-cn       CN localhost, DNS:other.test
#   wild              DNS:*.wild.test
#   ip-san            IP:127.0.0.1 only; dns-ip: DNS "127.0.0.1" only
#   eku-client        extendedKeyUsage clientAuth only
#   rsa-ku-encipher   RSA, keyUsage keyEncipherment only: no ECDHE-RSA
#   rsa               RSA-2048, digitalSignature+keyEncipherment (for the
#                     static-RSA and CBC suites)
#   rsa1024           RSA-1024; sha1: signed with SHA-1
#   future            DNS:localhost, valid from 2100 (dated_cert.sh)
#   crit-unknown      DNS:localhost and a critical extension nobody knows
# All leaves are signed by root unless said otherwise.
set -eu

DIR=${1:?usage: certs19.sh DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"
cd "$DIR"
SSL=${OPENSSL:-openssl}
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

$SSL req -x509 $EC -keyout root.key -out root.pem -days 3650 \
    -subj "/O=c_http_core tests/CN=c19 root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

serial=100
# sign NAME SUBJECT_CN EXTFILE_LINES ISSUER [KEYOPTS [DIGEST]]
sign() {
    serial=$((serial + 1))
    printf '%s\n' "$3" > "$1.ext"
    # shellcheck disable=SC2086 # key options, split on purpose
    $SSL req -new ${5:-$EC} -keyout "$1.key" -out "$1.csr" \
        -subj "/O=c_http_core tests/CN=$2" 2>/dev/null
    $SSL x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
        -set_serial "$serial" -days 30 "-${6:-sha256}" -extfile "$1.ext" \
        -out "$1.pem" 2>/dev/null
    if [ "$4" != root ]; then cp "$4.pem" "$1-chain.pem"; fi
}

CAEXT="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
# leaf NAME CN SAN [ISSUER [EKU [KU [KEYOPTS [DIGEST]]]]]
leaf() {
    ext="basicConstraints=CA:FALSE
keyUsage=critical,${6:-digitalSignature}
extendedKeyUsage=${5:-serverAuth}"
    if [ -n "$3" ]; then ext="$ext
subjectAltName=$3"; fi
    sign "$1" "$2" "$ext" "${4:-root}" "${7:-}" "${8:-}"
}

sign int "c19 intermediate" "$CAEXT" root
sign int-noca "c19 not a CA" "basicConstraints=critical,CA:FALSE
keyUsage=critical,keyCertSign,digitalSignature" root
sign nc-perm "c19 permitted" "$CAEXT
nameConstraints=permitted;DNS:allowed.test,permitted;IP:127.0.0.0/255.0.0.0" root
sign nc-permc "c19 permitted critical" "$CAEXT
nameConstraints=critical,permitted;DNS:allowed.test,permitted;IP:127.0.0.0/255.0.0.0" root
sign nc-ip10 "c19 ip10" "$CAEXT
nameConstraints=critical,permitted;IP:10.0.0.0/255.0.0.0" root
sign nc-excl "c19 excluded" "$CAEXT
nameConstraints=critical,excluded;DNS:bad.allowed.test,excluded;IP:127.0.0.1/255.255.255.255" root

leaf perm-good good.allowed.test "DNS:good.allowed.test,IP:127.0.0.1" nc-perm
leaf perm-bad good.example.test "DNS:good.example.test" nc-perm
leaf permc-good good.allowed.test "DNS:good.allowed.test,IP:127.0.0.1" nc-permc
leaf permc-bad good.example.test "DNS:good.example.test" nc-permc
leaf ip10-leaf localhost "DNS:localhost,IP:127.0.0.1" nc-ip10
leaf excl-dns bad.allowed.test "DNS:bad.allowed.test" nc-excl
leaf excl-ip ok.allowed.test "DNS:ok.allowed.test,IP:127.0.0.1" nc-excl
leaf excl-ok ok.allowed.test "DNS:ok.allowed.test" nc-excl

leaf leaf localhost "DNS:localhost,IP:127.0.0.1" int
leaf noca-leaf localhost "DNS:localhost" int-noca
leaf cn-only localhost ""
leaf san-over-cn localhost "DNS:other.test"
leaf wild "wildcard" "DNS:*.wild.test"
leaf ip-san 127.0.0.1 "IP:127.0.0.1"
leaf dns-ip 127.0.0.1 "DNS:127.0.0.1"
leaf eku-client localhost "DNS:localhost" root clientAuth
leaf rsa-ku-encipher localhost "DNS:localhost" root serverAuth \
    keyEncipherment "-newkey rsa:2048 -nodes"
leaf rsa localhost "DNS:localhost" root serverAuth \
    "digitalSignature,keyEncipherment" "-newkey rsa:2048 -nodes"
leaf rsa1024 localhost "DNS:localhost" root serverAuth \
    "digitalSignature,keyEncipherment" "-newkey rsa:1024 -nodes"
leaf sha1 localhost "DNS:localhost" root serverAuth digitalSignature "" sha1
sign crit-unknown localhost "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost
1.3.6.1.4.1.55555.1=critical,ASN1:NULL" root

printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost" > future.ext
sh "$HERE/dated_cert.sh" root future future.ext 21000101000000Z \
    21000201000000Z

rm -f ./*.csr ./*.ext
