#!/bin/sh
# The echo benchmark: drives the servers of one implementation with the
# same C load client (echo_load) and prints RESULT lines.
#
#   sh bench/echo.sh BINDIR IMPL
#
# IMPL casyncio: the raw libuv ceiling (echo_raw_uv, metrics raw_uv_*), the
#                streams and Protocol servers (echo_casyncio, which is
#                examples/echo_server.c);
# IMPL asyncio / uvloop: bench/echo_server.py (examples/echo_server.py) on
#                that loop, streams and Protocol.
#
# For each server: 100 connections with one 1 KiB message in flight each;
# RESULT echo MODE_req_per_s and MODE_cpu_us_per_req (the server's CPU time
# per round trip, user + system).  Then a fresh server holds ECHO_IDLE idle
# connections: RESULT echo MODE_idle_bytes_per_conn (RSS growth per
# connection).  Every server is stopped with SIGTERM and must exit with 0.
#
# Environment: PYTHON (default /usr/bin/python3), ECHO_SECONDS (measured
# seconds per server, default 5), ECHO_WARMUP (default 1), ECHO_CONNS
# (default 100), ECHO_IDLE (idle connections; default 100000, lowered to
# what the hard RLIMIT_NOFILE allows; 0 skips the idle measurement).
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/echo.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
seconds=${ECHO_SECONDS:-5}
warmup=${ECHO_WARMUP:-1}
conns=${ECHO_CONNS:-100}
idle=${ECHO_IDLE:-100000}

# Each idle connection is one descriptor in the server and one in the
# client; keep some for the rest (listening socket, loop, stdio).
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$idle" -gt $((hard - 200)) ]; then
    echo "echo.sh: the hard limit of open files is $hard: $((hard - 200)) idle connections, not $idle" >&2
    idle=$((hard - 200))
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-echo.XXXXXX") || exit 2
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0

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
            echo "echo.sh: $*: no READY line" >&2
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
        echo "echo.sh: $1: exit status $status after SIGTERM" >&2
        failed=1
    fi
}

# measure NAME COMMAND...: the load run, then the idle run.
measure() {
    name=$1
    shift
    echo "echo.sh: $name: $*" >&2
    if start_server "$@"; then
        "$bindir/echo_load" --port "$server_port" --pid "$server_pid" --name "$name" \
            --conns "$conns" --warmup "$warmup" --seconds "$seconds" || failed=1
        stop_server "$name"
    else
        failed=1
    fi
    [ "$idle" -gt 0 ] || return 0
    if start_server "$@"; then
        "$bindir/echo_load" --port "$server_port" --pid "$server_pid" --name "$name" \
            --idle "$idle" || failed=1
        stop_server "$name"
    else
        failed=1
    fi
}

case $impl in
casyncio)
    measure raw_uv "$bindir/echo_raw_uv" --port 0
    measure streams "$bindir/echo_casyncio" --port 0 --mode streams
    measure protocol "$bindir/echo_casyncio" --port 0 --mode protocol
    ;;
asyncio | uvloop)
    measure streams "$python" "$here/echo_server.py" --port 0 --mode streams --loop "$impl"
    measure protocol "$python" "$here/echo_server.py" --port 0 --mode protocol --loop "$impl"
    ;;
*)
    echo "echo.sh: unknown implementation $impl" >&2
    exit 2
    ;;
esac
exit $failed
