#!/bin/sh
# The PostgreSQL benchmark: 10,000 `SELECT $1::int` over 8 connections, on
# a private server started here as the tests start theirs
# (tests/pg/server.sh: initdb under /tmp, a Unix socket only).
#
#   sh bench/postgres.sh BINDIR IMPL
#
# IMPL casyncio: examples/postgres (pipelined: up to 256 queries in flight
#                per connection), found as BINDIR/../examples/postgres
#                (PG_EXAMPLE overrides); then pgbench on the same server,
#                8 clients, a prepared `SELECT :i::int` per transaction
#                (pgbench_*), and 256 of them to a pipeline
#                (pgbench_pipelined_*), each for PG_PGBENCH_SECONDS
#                (default 2): a C client without and with pipelining.
# IMPL asyncio / uvloop: bench/postgres_asyncpg.py (asyncpg, one query in
#                flight per connection) on that loop.
#
# Each program runs PG_ROUNDS times (default 5) after one warm-up run; the
# median is reported:
#     RESULT postgres queries_per_s <N / S> req/s
#     RESULT postgres unpipelined_queries_per_s <N / S> req/s   (casyncio,
#            PG_PIPELINE=1: one query in flight per connection, as asyncpg)
#     RESULT postgres pgbench_queries_per_s <tps> req/s        (casyncio)
#     RESULT postgres pgbench_pipelined_queries_per_s <...> req/s (casyncio)
# S is the time the program reports from its connections being open to
# the last result.  Environment: PG_N (10000), PG_M (8), PG_ROUNDS (5),
# PYTHON (default /usr/bin/python3), PG_EXAMPLE.
set -u

[ $# -eq 2 ] || { echo "usage: sh bench/postgres.sh BINDIR casyncio|asyncio|uvloop" >&2; exit 2; }
bindir=$1 impl=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
n=${PG_N:-10000}
m=${PG_M:-8}
rounds=${PG_ROUNDS:-5}
example=${PG_EXAMPLE:-$bindir/../examples/postgres}
. "$here/../tests/pg/server.sh"

case $impl in
casyncio)
    [ -x "$example" ] || {
        echo "postgres.sh: $example: no such program (make examples, with libpq-dev)" >&2
        exit 2
    }
    ;;
asyncio | uvloop)
    "$python" -c 'import asyncpg' 2>/dev/null || {
        echo "postgres.sh: asyncpg is not installed for $python (apt-get install python3-asyncpg)" >&2
        exit 2
    }
    ;;
*)
    echo "postgres.sh: unknown implementation $impl" >&2
    exit 2
    ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-pgbench.XXXXXX") || exit 2
cleanup() {
    pg_stop
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pg_start || exit 2
failed=0

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# measure NAME COMMAND...: warm-up, then PG_ROUNDS runs; each must print
# `ok N queries over M connections in S s`.
measure() {
    name=$1
    shift
    : >"$tmp/rates"
    r=0
    while [ $r -le "$rounds" ]; do
        if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
            echo "postgres.sh: $name failed:" >&2
            cat "$tmp/out" "$tmp/err" >&2
            failed=1
            return
        fi
        s=$(sed -n 's/^ok [0-9]* queries over [0-9]* connections in \([0-9.]*\) s$/\1/p' "$tmp/out")
        [ -n "$s" ] || { echo "postgres.sh: $name: no result line" >&2; failed=1; return; }
        echo "postgres.sh: $name round $r: $(cat "$tmp/out")" >&2
        [ $r -gt 0 ] && awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f\n", (s > 0 ? n / s : 0) }' >>"$tmp/rates"
        r=$((r + 1))
    done
    echo "RESULT postgres $name $(median <"$tmp/rates") req/s"
}

# pgbench NAME SCRIPT QUERIES-PER-TRANSACTION: runs of PG_PGBENCH_SECONDS
# (default 2) each, 3 after a warm-up, the median reported.
pgbench_run() {
    name=$1 script=$2 per=$3
    : >"$tmp/rates"
    r=0
    while [ $r -le 3 ]; do
        if ! "$PG_BIN/pgbench" -n -h "$PG_DIR" -U postgres -c "$m" -j 2 \
            -T "${PG_PGBENCH_SECONDS:-2}" -M prepared \
            -f "$script" postgres >"$tmp/out" 2>"$tmp/err"; then
            echo "postgres.sh: $name failed:" >&2
            cat "$tmp/out" "$tmp/err" >&2
            failed=1
            return
        fi
        tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$tmp/out")
        echo "postgres.sh: $name round $r: tps $tps, $per queries each" >&2
        [ $r -gt 0 ] && awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.0f\n", t * p }' >>"$tmp/rates"
        r=$((r + 1))
    done
    echo "RESULT postgres $name $(median <"$tmp/rates") req/s"
}

case $impl in
casyncio)
    measure queries_per_s "$example" "$PG_CONNINFO" "$n" "$m"
    # One query in flight per connection, as asyncpg does: the loops alone.
    measure unpipelined_queries_per_s env PG_PIPELINE=1 "$example" "$PG_CONNINFO" "$n" "$m"
    # pgbench, m clients (2 threads), for a fixed time.
    printf '\\set i random(0, %d)\nSELECT :i::int;\n' "$((n - 1))" >"$tmp/one.sql"
    pgbench_run pgbench_queries_per_s "$tmp/one.sql" 1
    {
        printf '\\set i random(0, %d)\n\\startpipeline\n' "$((n - 1))"
        k=0
        while [ $k -lt 256 ]; do echo 'SELECT :i::int;'; k=$((k + 1)); done
        printf '\\endpipeline\n'
    } >"$tmp/pipe.sql"
    pgbench_run pgbench_pipelined_queries_per_s "$tmp/pipe.sql" 256
    ;;
asyncio)
    measure queries_per_s "$python" "$here/postgres_asyncpg.py" "$PG_DIR" 5432 postgres postgres "$n" "$m"
    ;;
uvloop)
    measure queries_per_s "$python" "$here/postgres_asyncpg.py" "$PG_DIR" 5432 postgres postgres "$n" "$m" --uvloop
    ;;
esac
exit $failed
