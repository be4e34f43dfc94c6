#!/bin/sh
# The reuse_port benchmark: examples/reuseport_echo (N event loops in N
# threads, each with its own server on one port, SO_REUSEPORT) driven by
# the echo benchmark's load client, with 1 loop and with 2.
#
#   sh bench/reuseport.sh BINDIR IMPL
#
# IMPL casyncio runs it; asyncio and uvloop print nothing (their way to use
# two cores is two processes, which the echo benchmark's numbers already
# give per process).  For each mode (streams, protocol) and each count of
# loops in REUSEPORT_LOOPS (default "1 2"): 100 connections with one 1 KiB
# message in flight each (bench/echo_load), RESULT lines
#     RESULT reuseport MODE_Nloop_req_per_s <value> req/s
#     RESULT reuseport MODE_Nloop_cpu_us_per_req <value> us
# (the server's CPU time, all its threads, per round trip).  The client is
# one thread: on a machine with as many cores as loops it competes with
# them, and it is what limits req/s there; cpu_us_per_req says whether the
# loops scale (it stays flat when nothing is shared).
#
# Environment: ECHO_SECONDS (default 5), ECHO_WARMUP (1), ECHO_CONNS (100),
# REUSEPORT_LOOPS ("1 2").
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/reuseport.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
[ "$impl" = casyncio ] || exit 0
seconds=${ECHO_SECONDS:-5}
warmup=${ECHO_WARMUP:-1}
conns=${ECHO_CONNS:-100}
loops_list=${REUSEPORT_LOOPS:-1 2}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-reuseport.XXXXXX") || exit 2
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failed=0

for mode in streams protocol; do
    for n in $loops_list; do
        name=${mode}_${n}loop
        : >"$tmp/ready"
        "$bindir/reuseport_echo" --port 0 --loops "$n" --mode "$mode" >"$tmp/ready" &
        server_pid=$!
        i=0
        while ! grep -q '^READY ' "$tmp/ready"; do
            i=$((i + 1))
            if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
                echo "reuseport.sh: $name: no READY line" >&2
                failed=1
                continue 2
            fi
            sleep 0.1
        done
        read -r _ _ port _ <"$tmp/ready"
        echo "reuseport.sh: $name: $n loop(s) on port $port" >&2
        "$bindir/echo_load" --port "$port" --pid "$server_pid" --name "$name" \
            --conns "$conns" --warmup "$warmup" --seconds "$seconds" >"$tmp/out" || failed=1
        sed 's/^RESULT echo /RESULT reuseport /' "$tmp/out"
        kill -TERM "$server_pid"
        wait "$server_pid"
        status=$?
        server_pid=
        if [ "$status" -ne 0 ]; then
            echo "reuseport.sh: $name: exit status $status after SIGTERM" >&2
            failed=1
        fi
    done
done
exit $failed
