#!/bin/sh
# examples/postgres against a real PostgreSQL server, started and stopped
# here (tests/pg/server.sh: initdb into a temporary directory under /tmp,
# a Unix socket in it, never TCP; as the postgres user when run as root).
#
#   sh tests/pg/test.sh PATH-TO-POSTGRES-EXAMPLE
#
# Runs: 1000 queries over 8 connections (every result checked by the
# example); more connections than queries, and none; a run cancelled with
# SIGTERM while its queries are in flight (it must exit 1 saying so, and
# leave no session on the server); bad connection strings and a missing
# database (exit 1, a message naming the cause); bad command lines (exit 2).
# Prints one line per check; exits 1 if any failed.
set -u
ex=${1:?usage: sh tests/pg/test.sh PATH-TO-POSTGRES-EXAMPLE}
case $ex in /*) ;; *) ex=$(pwd)/$ex ;; esac
[ -x "$ex" ] || { echo "test.sh: $ex is not a program" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/server.sh"

out=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-pg-test.XXXXXX") || exit 2
bg=
cleanup() {
    [ -n "$bg" ] && kill -KILL "$bg" 2>/dev/null
    pg_stop
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start || exit 2
echo "test.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') (pid $PG_PID) on $PG_DIR/.s.PGSQL.5432"

checks=0
failures=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }
show() { sed 's/^/    /' "$out/out" "$out/err"; }
run() { "$ex" "$@" >"$out/out" 2>"$out/err" </dev/null; rc=$?; }
# expect RC PATTERN-ON-STDOUT-OR-STDERR DESCRIPTION
expect() {
    if [ "$rc" -eq "$1" ] && cat "$out/out" "$out/err" | grep -Eq -- "$2"; then
        ok "$3 (exit $rc)"
    else
        bad "$3: exit $rc, expected $1 and a line matching /$2/"
        show
    fi
}
sessions() {
    pg_psql "select count(*) from pg_stat_activity where application_name = 'casyncio-postgres'"
}

# --- normal runs
run "$PG_CONNINFO" 1000 8
expect 0 '^ok 1000 queries over 8 connections in [0-9]+\.[0-9]+ s$' "1000 queries over 8 connections"
run "$PG_CONNINFO" 20000 8
expect 0 '^ok 20000 queries over 8 connections in ' "20000 queries over 8 connections (pipelined)"
run "$PG_CONNINFO" 5 20
expect 0 '^ok 5 queries over 20 connections in ' "more connections than queries"
run "$PG_CONNINFO" 0 2
expect 0 '^ok 0 queries over 2 connections in ' "no query"
run "postgresql://postgres@/postgres?host=$PG_DIR" 100 2
expect 0 '^ok 100 queries over 2 connections in ' "a URI for CONNINFO"

# --- cancelled while queries are in flight
"$ex" "$PG_CONNINFO" 1000000000 8 >"$out/out" 2>"$out/err" </dev/null &
bg=$!
i=0
until [ "$(sessions)" = 8 ] || [ $i -gt 100 ]; do i=$((i + 1)); sleep 0.1; done
sleep 0.3 # queries running
kill -TERM "$bg"
i=0
while kill -0 "$bg" 2>/dev/null && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done
if kill -0 "$bg" 2>/dev/null; then
    bad "SIGTERM: still running 10 s later"
    kill -KILL "$bg"
fi
wait "$bg"
rc=$?
bg=
expect 1 '^postgres: cancelled \(SIGTERM\) after [1-9][0-9]* of 1000000000 queries$' \
    "SIGTERM cancels the queries in flight"
i=0
until [ "$(sessions)" = 0 ] || [ $i -gt 50 ]; do i=$((i + 1)); sleep 0.1; done
n=$(sessions)
if [ "$n" = 0 ]; then ok "no session left on the server"; else bad "$n sessions left on the server"; fi

# --- failures: named, exit 1
run "host=$PG_DIR/nowhere user=postgres" 10 2
expect 1 '^postgres: PostgresError: connection [0-9]+: cannot connect: connection to server on socket ".*/nowhere/\.s\.PGSQL\.5432" failed: No such file or directory' \
    "no server at that socket"
run "nonsense" 10 2
expect 1 '^postgres: invalid connection string: missing "=" after "nonsense" in connection info string' \
    "a connection string that does not parse"
run "$PG_CONNINFO dbname=nosuchdb" 10 2
expect 1 'cannot connect: .*FATAL: +database "nosuchdb" does not exist' "a database that does not exist"
run "$PG_CONNINFO user=nosuchuser" 10 2
expect 1 'cannot connect: .*role "nosuchuser" does not exist' "a role that does not exist"

# --- bad command lines
run "$PG_CONNINFO" 10
expect 2 '^usage: postgres CONNINFO N M' "two arguments"
run "$PG_CONNINFO" ten 2
expect 2 '^usage: ' "N not a number"
run "$PG_CONNINFO" 10 0
expect 2 '^usage: ' "M = 0"

# The server is still well.
if [ "$(pg_psql 'select 1')" = 1 ]; then ok "the server still answers"; else bad "the server does not answer"; fi

echo "tests/pg/test.sh: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
