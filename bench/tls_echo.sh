#!/bin/sh
# The TLS echo benchmark: the echo benchmark's load (bench/echo.sh) over
# TLS, driven by the same C load client (echo_load --tls CAFILE), beside the
# same servers without TLS; prints RESULT lines.
#
#   sh bench/tls_echo.sh BINDIR IMPL
#
# IMPL casyncio: the streams and Protocol servers (echo_casyncio, which is
#                examples/echo_server.c, with --tls CERT KEY);
# IMPL asyncio / uvloop: bench/echo_server.py (examples/echo_server.py) on
#                that loop, streams and Protocol, with --tls CERT KEY.
#
# The certificate is tests/tls/make-certs.sh's server.pem (EC P-256, for
# 127.0.0.1), made afresh in a temporary directory; the client verifies it
# against ca.pem.  OpenSSL's defaults negotiate TLS 1.3 with
# TLS_AES_256_GCM_SHA384 (echo_load prints what was negotiated).
#
# For each server: first WITHOUT TLS (metrics plain_MODE_*), then with TLS
# (MODE_*): 100 connections with one 1 KiB message in flight each; RESULT
# tls_echo MODE_req_per_s, MODE_cpu_us_per_req (the server's CPU time per
# round trip, user + system) and MODE_client_cpu_us_per_req (the load
# client's own).  Then a fresh TLS server holds TLS_IDLE idle TLS
# connections (each handshaken and one 1-byte round trip made): RESULT
# tls_echo MODE_idle_bytes_per_conn (RSS growth per connection).
#
# The cost of TLS itself: bench/tls_cost (OpenSSL alone, no loop, no
# socket) measures one side's work for one round trip -- a 1 KiB record
# decrypted, a 1 KiB record encrypted, the ciphertext copied through the
# memory BIOs; on 100 connections in turn, as the load runs -- as
# crypto_us_per_req (crypto_relbuf_us_per_req:
# the same with SSL_MODE_RELEASE_BUFFERS, as casyncio and Python set it);
# `openssl speed -aead -evp aes-256-gcm` at 1,024 bytes gives the cipher's
# share alone, two records' worth: gcm_us_per_req.  Both are reported with
# casyncio only (they do not depend on the server).  Then, per server:
#   MODE_tls_over_plain     = MODE_cpu_us_per_req / plain_MODE_cpu_us_per_req
#   MODE_over_plain_crypto  = MODE_cpu_us_per_req /
#                             (plain_MODE_cpu_us_per_req + crypto_us_per_req)
# (the issue's target: casyncio within 1.15x of plain + crypto).
#
# Every server is stopped with SIGTERM and must exit with 0.
#
# Environment: PYTHON (default /usr/bin/python3), TLS_ECHO_SECONDS
# (measured seconds per server; default ECHO_SECONDS, else 5), ECHO_WARMUP
# (default 1), ECHO_CONNS (default 100), TLS_IDLE (idle TLS connections;
# default 10000, lowered to what the hard RLIMIT_NOFILE allows; 0 skips the
# idle measurement), TLS_PLAIN (0: skip the servers without TLS).
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/tls_echo.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
seconds=${TLS_ECHO_SECONDS:-${ECHO_SECONDS:-5}}
warmup=${ECHO_WARMUP:-1}
conns=${ECHO_CONNS:-100}
idle=${TLS_IDLE:-10000}
plain=${TLS_PLAIN:-1}

case $impl in
casyncio | asyncio | uvloop) ;;
*) echo "tls_echo.sh: unknown implementation $impl" >&2; exit 2 ;;
esac
command -v openssl >/dev/null 2>&1 || { echo "tls_echo.sh: no openssl command (apt-get install -y openssl)" >&2; exit 2; }

# Each idle connection is one descriptor in the server and one in the
# client; keep some for the rest (listening socket, loop, stdio).
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$idle" -gt $((hard - 200)) ]; then
    echo "tls_echo.sh: the hard limit of open files is $hard: $((hard - 200)) idle connections, not $idle" >&2
    idle=$((hard - 200))
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-tls-echo.XXXXXX") || exit 2
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0
: >"$tmp/results"

sh "$here/../tests/tls/make-certs.sh" "$tmp/certs" || { echo "tls_echo.sh: cannot make the certificates" >&2; exit 1; }
cert=$tmp/certs/server.pem key=$tmp/certs/server.key ca=$tmp/certs/ca.pem

# start_server COMMAND...: starts it with the open-file limit at the hard
# limit, waits for its READY line; sets server_pid and server_port.
start_server() {
    : >"$tmp/ready"
    (ulimit -n "$hard" 2>/dev/null; exec "$@") >"$tmp/ready" &
    server_pid=$!
    i=0
    while ! grep -q '^READY ' "$tmp/ready"; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "tls_echo.sh: $*: no READY line" >&2
            return 1
        fi
        sleep 0.1
    done
    read -r _ _ server_port _ <"$tmp/ready"
}

# stop_server NAME: SIGTERM, then the exit status must be 0.
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid"
    status=$?
    server_pid=
    if [ "$status" -ne 0 ]; then
        echo "tls_echo.sh: $1: exit status $status after SIGTERM" >&2
        failed=1
    fi
}

# emit: prints the RESULT lines of $tmp/out and keeps them for the ratios.
emit() {
    grep '^RESULT ' "$tmp/out"
    grep '^RESULT ' "$tmp/out" >>"$tmp/results"
}

# load NAME TLS-ARGS COMMAND...: the load run on a fresh server (TLS-ARGS:
# "" or "--tls CAFILE" for the client).
load() {
    name=$1 client_tls=$2
    shift 2
    echo "tls_echo.sh: $name: $*" >&2
    if start_server "$@"; then
        # shellcheck disable=SC2086 # client_tls is two words or none
        "$bindir/echo_load" --bench tls_echo --port "$server_port" --pid "$server_pid" \
            --name "$name" --conns "$conns" --warmup "$warmup" --seconds "$seconds" \
            $client_tls >"$tmp/out" || failed=1
        emit
        stop_server "$name"
    else
        failed=1
    fi
}

# hold_idle NAME COMMAND...: TLS_IDLE idle TLS connections on a fresh server.
hold_idle() {
    name=$1
    shift
    [ "$idle" -gt 0 ] || return 0
    if start_server "$@"; then
        "$bindir/echo_load" --bench tls_echo --port "$server_port" --pid "$server_pid" \
            --name "$name" --idle "$idle" --tls "$ca" >"$tmp/out" || failed=1
        emit
        stop_server "$name"
    else
        failed=1
    fi
}

# measure MODE COMMAND...: COMMAND is the server without TLS; with TLS it
# gets --tls CERT KEY.
measure() {
    mode=$1
    shift
    [ "$plain" = 0 ] || load "plain_$mode" "" "$@"
    load "$mode" "--tls $ca" "$@" --tls "$cert" "$key"
    hold_idle "$mode" "$@" --tls "$cert" "$key"
}

case $impl in
casyncio)
    measure streams "$bindir/echo_casyncio" --port 0 --mode streams
    measure protocol "$bindir/echo_casyncio" --port 0 --mode protocol
    ;;
asyncio | uvloop)
    measure streams "$python" "$here/echo_server.py" --port 0 --mode streams --loop "$impl"
    measure protocol "$python" "$here/echo_server.py" --port 0 --mode protocol --loop "$impl"
    ;;
esac

# The cost of TLS alone: OpenSSL's record layer for one round trip, then
# the cipher alone (openssl speed, AEAD as TLS uses it: IV, AAD, tag).
"$bindir/tls_cost" --bench tls_echo --mode record --cert "$cert" --key "$key" --ca "$ca" \
    --size 1024 --conns "$conns" --seconds 1 >"$tmp/out" || failed=1
if openssl speed -mr -seconds 1 -bytes 1024 -aead -evp aes-256-gcm >"$tmp/speed" 2>&1; then
    # +R:COUNT:AES-256-GCM:SECONDS: COUNT records of 1 KiB in SECONDS.
    awk -F: '$1 == "+R" && $2 > 0 {
        us = $4 * 1e6 / $2
        printf "tls_echo.sh: openssl speed -aead -evp aes-256-gcm: %.3f us per 1 KiB record\n", us > "/dev/stderr"
        printf "RESULT tls_echo gcm_us_per_req %.3f us\n", 2 * us
    }' "$tmp/speed" >>"$tmp/out"
else
    echo "tls_echo.sh: openssl speed failed" >&2
fi
if [ "$impl" = casyncio ]; then
    emit
else
    grep '^RESULT ' "$tmp/out" >>"$tmp/results"
    sed 's/^RESULT /tls_echo.sh: (same for every server) /' "$tmp/out" >&2
fi

# The ratios, from what this run measured.
awk '$1 == "RESULT" { v[$3] = $4 }
END {
    n = split("streams protocol", modes, " ")
    for (i = 1; i <= n; i++) {
        m = modes[i]; tls = v[m "_cpu_us_per_req"]; pl = v["plain_" m "_cpu_us_per_req"]
        cr = v["crypto_us_per_req"]
        if (tls == "" || pl == "" || pl <= 0) continue
        printf "RESULT tls_echo %s_tls_over_plain %.3f x\n", m, tls / pl
        if (cr != "")
            printf "RESULT tls_echo %s_over_plain_crypto %.3f x\n", m, tls / (pl + cr)
    }
}' "$tmp/results"
exit $failed
