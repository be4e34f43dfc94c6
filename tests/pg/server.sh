# A private PostgreSQL server for a test or a benchmark, sourced by
# tests/pg/test.sh and bench/postgres.sh (POSIX sh):
#
#   . tests/pg/server.sh
#   pg_start            # sets PG_DIR, PG_PID, PG_CONNINFO, PG_BIN
#   ...
#   pg_stop             # also run by the EXIT trap the caller installs
#
# Debian's postgresql package (/usr/lib/postgresql/VERSION/bin): initdb into
# a fresh directory under /tmp, then the server itself, listening on a Unix
# socket in that directory and nowhere else (listen_addresses = ''), so
# that any number of these run side by side without a port to choose and
# nothing is reachable over TCP.  Trust authentication, user postgres.  As
# root, initdb and the server run as the postgres user (PostgreSQL refuses
# root), which must be able to enter the directory: it owns it.  Stopped
# by its pid (postmaster.pid), fast shutdown.

pg_find_bin() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
    done
    return 1
}

# pg_as CMD...: runs CMD as the postgres user when we are root.
pg_as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

PG_DIR=
PG_PID=
pg_start() {
    PG_BIN=$(pg_find_bin) || { echo "pg: no PostgreSQL under /usr/lib/postgresql/*/bin" >&2; return 1; }
    # /tmp, not $TMPDIR: the postgres user must reach it.
    PG_DIR=$(mktemp -d /tmp/casyncio-pg.XXXXXX) || return 1
    chmod 755 "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync \
        >"$PG_DIR/initdb.log" 2>&1 || {
        echo "pg: initdb failed:" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    # The server: in the background, its log in the directory.
    pg_as "$PG_BIN/postgres" -D "$PG_DIR/data" -k "$PG_DIR" -c listen_addresses= \
        -c fsync=off -c max_connections=200 ${PG_EXTRA_OPTS:-} \
        >"$PG_DIR/server.log" 2>&1 &
    i=0
    until [ -S "$PG_DIR/.s.PGSQL.5432" ] && [ -f "$PG_DIR/data/postmaster.pid" ] &&
        "$PG_BIN/pg_isready" -q -h "$PG_DIR" -U postgres; do
        i=$((i + 1))
        if [ $i -gt 300 ]; then
            echo "pg: the server did not start:" >&2
            cat "$PG_DIR/server.log" >&2
            return 1
        fi
        sleep 0.1
    done
    PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    PG_CONNINFO="host=$PG_DIR user=postgres dbname=postgres"
}

# pg_psql SQL: one value, unaligned.
pg_psql() {
    "$PG_BIN/psql" -X -q -A -t -h "$PG_DIR" -U postgres -d postgres -c "$1"
}

pg_stop() {
    if [ -n "$PG_PID" ]; then
        kill -TERM "$PG_PID" 2>/dev/null
        i=0
        while kill -0 "$PG_PID" 2>/dev/null && [ $i -lt 100 ]; do
            i=$((i + 1))
            sleep 0.1
        done
        kill -KILL "$PG_PID" 2>/dev/null
        PG_PID=
    fi
    [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
    PG_DIR=
}
