#!/bin/sh
# Test certificates for the TLS specs, made with the openssl command line:
#
#   sh spec/peers/certs.sh DIR
#
# A private CA and leaf certificates it signed, all ECDSA P-256 (quick to
# make: the whole set takes a fraction of a second). Written to DIR:
#   ca.pem ca.key             the CA ("c_http_core test CA")
#   other-ca.pem              an unrelated CA (trusting it must not help)
#   server.pem server.key     DNS localhost, IP 127.0.0.1, IP ::1
#   wrong.pem wrong.key       DNS wrong.test only
#   iponly.pem iponly.key     IP 127.0.0.1 only
#   noip.pem noip.key         CN 127.0.0.1 and DNS localhost: no IP entry
#   expired.pem expired.key   as server.pem, valid 2020-01-01 .. 2020-01-02
#   client.pem client.key     a client certificate (clientAuth)
#   client-other.pem/.key     a client certificate from other-ca
set -eu

DIR=${1:?usage: certs.sh DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"
cd "$DIR"
SSL=${OPENSSL:-openssl}
CURVE="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

# ca NAME CN: a self-signed CA
ca() {
    $SSL req -x509 $CURVE -keyout "$1.key" -out "$1.pem" -days 3650 \
        -subj "/O=c_http_core tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# ext NAME SAN USAGE: the extensions of a leaf
ext() {
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$3"
        if [ -n "$2" ]; then echo "subjectAltName=$2"; fi
    } > "$1.ext"
}

# leaf NAME CN SAN [USAGE [CA]]: a key, a CSR and a certificate signed by CA
serial=100
leaf() {
    serial=$((serial + 1))
    ext "$1" "$3" "${4:-serverAuth}"
    $SSL req -new $CURVE -keyout "$1.key" -out "$1.csr" \
        -subj "/O=c_http_core tests/CN=$2" 2>/dev/null
    $SSL x509 -req -in "$1.csr" -CA "${5:-ca}.pem" -CAkey "${5:-ca}.key" \
        -set_serial "$serial" -days 30 -sha256 -extfile "$1.ext" \
        -out "$1.pem" 2>/dev/null
}

ca ca "c_http_core test CA"
ca other-ca "c_http_core other CA"
leaf server localhost "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wrong wrong.test "DNS:wrong.test"
leaf iponly 127.0.0.1 "IP:127.0.0.1"
leaf noip 127.0.0.1 "DNS:localhost"
leaf client "test client" "" clientAuth
leaf client-other "other client" "" clientAuth other-ca

# An expired certificate (dated_cert.sh: `openssl x509 -req` cannot backdate)
ext expired "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
sh "$HERE/dated_cert.sh" ca expired expired.ext 20200101000000Z \
    20200102000000Z

rm -f ./*.csr ./*.ext
