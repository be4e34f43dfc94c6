#!/bin/sh
# The TLS tests' certificates, made with the openssl command into DIR:
#   ca.pem ca.key            a local CA
#   server.pem server.key    localhost and 127.0.0.1, signed by the CA
#   expired.pem expired.key  the same names, expired (signed by the CA)
#   other.pem other.key      a certificate for another host (other.example)
#   self.pem self.key        localhost, self-signed
#   client.pem client.key    a client certificate (mutual TLS), by the CA
#   locked.key               server.key encrypted with the password "secret"
# EC keys (P-256): fast to make, and what a modern server uses.
#
#   sh tests/tls/make-certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
days=3650

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

ext() { # $1 file, $2 subjectAltName
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1"
}

key ca.key
openssl req -x509 -new -key ca.key -days $days -subj "/CN=casyncio test CA/O=casyncio tests" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null

signed() { # $1 name, $2 subject, $3 SAN, $4 days
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
    ext "$1.ext" "$3"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$4" \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

signed server "/CN=localhost/O=casyncio tests" "DNS:localhost,IP:127.0.0.1" $days
signed other "/CN=other.example/O=casyncio tests" "DNS:other.example" $days
signed client "/CN=casyncio client/O=casyncio tests" "DNS:client.example" $days

key self.key
openssl req -x509 -new -key self.key -days $days -subj "/CN=localhost/O=casyncio self-signed" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -out self.pem 2>/dev/null

openssl ec -in server.key -aes256 -passout pass:secret -out locked.key 2>/dev/null

# Expired: openssl x509 -req on OpenSSL 3.0 has no -not_before, so the
# certificate is made valid from the past through a throwaway CA database.
if true; then
    key expired.key
    openssl req -new -key expired.key -subj "/CN=localhost/O=casyncio tests" -out expired.csr 2>/dev/null
    ext expired.ext "DNS:localhost,IP:127.0.0.1"
    mkdir -p cadb
    : >cadb/index.txt
    printf '01\n' >cadb/serial
    cat >cadb/ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = cadb
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
default_md = sha256
policy = anything
[anything]
commonName = supplied
organizationName = optional
CNF
    openssl ca -batch -config cadb/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
        -startdate "$(date -u -d '3 days ago' +%Y%m%d%H%M%SZ)" \
        -enddate "$(date -u -d 'yesterday' +%Y%m%d%H%M%SZ)" \
        -extfile expired.ext -out expired.pem >/dev/null 2>&1
    rm -rf cadb expired.csr expired.ext
fi
rm -f ca.srl
for f in ca.pem server.pem expired.pem other.pem self.pem client.pem locked.key; do
    [ -s "$f" ] || { echo "make-certs: $f was not made" >&2; exit 1; }
done
