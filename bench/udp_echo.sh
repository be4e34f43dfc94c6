#!/bin/sh
# The UDP echo benchmark: drives the datagram echo servers of one
# implementation with the same C load client (udp_load) and prints RESULT
# lines.
#
#   sh bench/udp_echo.sh BINDIR IMPL
#
# IMPL casyncio: the raw libuv ceiling (udp_raw_uv, metrics raw_uv_*), then
#                the datagram endpoint (udp_echo_casyncio, which is
#                examples/udp_echo_server.c; metrics endpoint_*);
# IMPL asyncio / uvloop: bench/udp_echo_server.py (examples/
#                udp_echo_server.py) on that loop (metrics endpoint_*).
#
# For each server: one client with UDP_WINDOW 64-byte datagrams in flight;
# RESULT udp_echo NAME_pkt_per_s (round trips per second) and
# NAME_cpu_us_per_pkt (the server's CPU time per round trip, user +
# system).  Every server is stopped with SIGTERM and must exit with 0.
#
# Environment: PYTHON (default /usr/bin/python3), UDP_SECONDS (measured
# seconds per server, default 5), UDP_WARMUP (default 1), UDP_WINDOW
# (datagrams in flight, default 32), UDP_SIZE (bytes, default 64).
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/udp_echo.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
seconds=${UDP_SECONDS:-5}
warmup=${UDP_WARMUP:-1}
window=${UDP_WINDOW:-32}
size=${UDP_SIZE:-64}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-udp.XXXXXX") || exit 2
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0

# start_server COMMAND...: starts it, waits for its READY line; sets
# server_pid and server_port.
start_server() {
    : >"$tmp/ready"
    "$@" >"$tmp/ready" &
    server_pid=$!
    i=0
    while ! grep -q '^READY ' "$tmp/ready"; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
            echo "udp_echo.sh: $*: no READY line" >&2
            return 1
        fi
        sleep 0.1
    done
    read -r _ _ server_port _ <"$tmp/ready"
}

# stop_server NAME: SIGTERM, then the exit status must be 0.
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_pid"
    status=$?
    server_pid=
    if [ "$status" -ne 0 ]; then
        echo "udp_echo.sh: $1: exit status $status after SIGTERM" >&2
        failed=1
    fi
}

# measure NAME COMMAND...
measure() {
    name=$1
    shift
    echo "udp_echo.sh: $name: $*" >&2
    if start_server "$@"; then
        "$bindir/udp_load" --port "$server_port" --pid "$server_pid" --name "$name" \
            --size "$size" --window "$window" --warmup "$warmup" --seconds "$seconds" || failed=1
        stop_server "$name"
    else
        failed=1
    fi
}

case $impl in
casyncio)
    measure raw_uv "$bindir/udp_raw_uv" --port 0
    measure endpoint "$bindir/udp_echo_casyncio" --port 0
    ;;
asyncio | uvloop)
    measure endpoint "$python" "$here/udp_echo_server.py" --port 0 --loop "$impl"
    ;;
*)
    echo "udp_echo.sh: unknown implementation $impl" >&2
    exit 2
    ;;
esac
exit $failed
