#!/bin/sh
# The TLS handshake benchmark: new TLS connections per second, counted by
# `openssl s_time -new` against the TLS echo servers of one implementation;
# prints RESULT lines.
#
#   sh bench/tls_handshake.sh BINDIR IMPL
#
# IMPL casyncio: `openssl s_server -www` on the same certificate first (the
#                reference: OpenSSL's own server, metrics s_server_*), then
#                the streams and Protocol servers (echo_casyncio --tls);
# IMPL asyncio / uvloop: bench/echo_server.py --tls on that loop, streams
#                and Protocol.
#
# The certificate is tests/tls/make-certs.sh's server.pem (EC P-256),
# made afresh in a temporary directory.  For each server, one run of
#     openssl s_time -connect 127.0.0.1:PORT -new -time TLS_HANDSHAKE_SECONDS
# which opens one connection at a time: TCP connect, a full handshake (no
# session reuse; TLS 1.3, OpenSSL's defaults; the client does not verify
# the certificate), then closes the socket at once -- without -www it sends
# no request and reads nothing, so an echo server answers nothing and
# s_time does not wait for anything.  s_time prints its own rate per second
# of *its* user CPU time and a whole number of "real seconds"; instead this
# script times s_time's run itself (date +%s%N, before and after), and
# reads the server's CPU time (user + system, all threads, from
# /proc/PID/task/*/schedstat) before and after:
#     RESULT tls_handshake MODE_conn_per_s         connections / wall time
#     RESULT tls_handshake MODE_cpu_us_per_conn    server CPU / connection
# The connections are sequential, so the rate is bounded by the client's
# work plus the server's (s_time's own CPU is on stderr); the server's CPU
# per connection is the server's cost alone.  With casyncio, also:
#     RESULT tls_handshake MODE_of_s_server        MODE_conn_per_s / s_server_conn_per_s
#     RESULT tls_handshake openssl_cpu_us_per_handshake
# the last from bench/tls_cost (OpenSSL alone, in one process over memory
# BIOs: the server's SSL_new, handshake and SSL_free, no socket, no loop):
# the floor of a server's CPU per connection.
#
# Every server is stopped with SIGTERM and must exit with 0 (s_server:
# killed).  Environment: PYTHON (default /usr/bin/python3),
# TLS_HANDSHAKE_SECONDS (s_time's -time, default 10).
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/tls_handshake.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
seconds=${TLS_HANDSHAKE_SECONDS:-10}

case $impl in
casyncio | asyncio | uvloop) ;;
*) echo "tls_handshake.sh: unknown implementation $impl" >&2; exit 2 ;;
esac
command -v openssl >/dev/null 2>&1 || { echo "tls_handshake.sh: no openssl command (apt-get install -y openssl)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-tls-hs.XXXXXX") || exit 2
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0
: >"$tmp/results"

sh "$here/../tests/tls/make-certs.sh" "$tmp/certs" || { echo "tls_handshake.sh: cannot make the certificates" >&2; exit 1; }
cert=$tmp/certs/server.pem key=$tmp/certs/server.key ca=$tmp/certs/ca.pem

# start_server COMMAND...: waits for its READY line; sets server_pid and
# server_port.
start_server() {
    : >"$tmp/ready"
    "$@" >"$tmp/ready" &
    server_pid=$!
    i=0
    while ! grep -q '^READY ' "$tmp/ready"; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "tls_handshake.sh: $*: no READY line" >&2
            return 1
        fi
        sleep 0.1
    done
    read -r _ _ server_port _ <"$tmp/ready"
}

# start_s_server: openssl s_server on a free port (its ACCEPT line).
start_s_server() {
    : >"$tmp/ready"
    openssl s_server -accept 127.0.0.1:0 -cert "$cert" -key "$key" -www \
        </dev/null >"$tmp/ready" 2>&1 &
    server_pid=$!
    i=0
    while ! grep -q '^ACCEPT ' "$tmp/ready"; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "tls_handshake.sh: openssl s_server: no ACCEPT line" >&2
            cat "$tmp/ready" >&2
            return 1
        fi
        sleep 0.1
    done
    server_port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$tmp/ready" | head -n 1)
}

# stop_server NAME: SIGTERM, then the exit status must be 0.
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid"
    status=$?
    server_pid=
    if [ "$status" -ne 0 ]; then
        echo "tls_handshake.sh: $1: exit status $status after SIGTERM" >&2
        failed=1
    fi
}

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

# s_time NAME: s_time against server_port; the RESULT lines of NAME.
s_time() {
    name=$1
    c0=$(cpu_ns "$server_pid")
    t0=$(date +%s%N)
    openssl s_time -connect "127.0.0.1:$server_port" -new -time "$seconds" >"$tmp/s_time" 2>&1
    rc=$?
    t1=$(date +%s%N)
    c1=$(cpu_ns "$server_pid")
    # "N connections in T real seconds, ..." (the last line); a connection
    # that failed ends the run with "ERROR".
    n=$(sed -n 's/^\([0-9][0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$tmp/s_time" | tail -n 1)
    user=$(sed -n 's/^[0-9]* connections in \([0-9.]*\)s;.*/\1/p' "$tmp/s_time" | tail -n 1)
    if [ $rc -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ] || grep -q ERROR "$tmp/s_time"; then
        echo "tls_handshake.sh: $name: s_time failed (exit status $rc):" >&2
        grep -v '^[*r]*$' "$tmp/s_time" | tail -n 5 >&2
        failed=1
        return
    fi
    awk -v name="$name" -v n="$n" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v user="$user" '
    BEGIN {
        wall = (t1 - t0) / 1e9
        printf "tls_handshake.sh: %s: %d connections in %.2f s; s_time used %.1f us of user CPU each, the server %.1f us of CPU\n",
            name, n, wall, user * 1e6 / n, (c1 - c0) / 1e3 / n > "/dev/stderr"
        printf "RESULT tls_handshake %s_conn_per_s %.0f conn/s\n", name, n / wall
        printf "RESULT tls_handshake %s_cpu_us_per_conn %.1f us\n", name, (c1 - c0) / 1e3 / n
    }' | tee -a "$tmp/results"
}

# measure NAME COMMAND...: a fresh server, s_time, SIGTERM.
measure() {
    name=$1
    shift
    echo "tls_handshake.sh: $name: $*" >&2
    if start_server "$@"; then
        s_time "$name"
        stop_server "$name"
    else
        failed=1
    fi
}

case $impl in
casyncio)
    echo "tls_handshake.sh: s_server: openssl s_server -www" >&2
    if start_s_server; then
        s_time s_server
        kill -TERM "$server_pid"
        wait "$server_pid" 2>/dev/null
        server_pid=
    else
        failed=1
    fi
    measure streams "$bindir/echo_casyncio" --port 0 --mode streams --tls "$cert" "$key"
    measure protocol "$bindir/echo_casyncio" --port 0 --mode protocol --tls "$cert" "$key"
    "$bindir/tls_cost" --bench tls_handshake --mode handshake --cert "$cert" --key "$key" \
        --ca "$ca" --seconds 2 || failed=1
    awk '$1 == "RESULT" { v[$3] = $4 }
    END {
        ref = v["s_server_conn_per_s"]
        if (ref == "" || ref <= 0) exit
        n = split("streams protocol", modes, " ")
        for (i = 1; i <= n; i++)
            if (v[modes[i] "_conn_per_s"] != "")
                printf "RESULT tls_handshake %s_of_s_server %.3f x\n", modes[i], v[modes[i] "_conn_per_s"] / ref
    }' "$tmp/results"
    ;;
asyncio | uvloop)
    measure streams "$python" "$here/echo_server.py" --port 0 --mode streams --loop "$impl" \
        --tls "$cert" "$key"
    measure protocol "$python" "$here/echo_server.py" --port 0 --mode protocol --loop "$impl" \
        --tls "$cert" "$key"
    ;;
esac
exit $failed
