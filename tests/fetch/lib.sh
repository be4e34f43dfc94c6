# What the casyncio-fetch test scripts share; sourced by each with
# fetch=PATH-TO-THE-PROGRAM set.  Makes a scratch directory, starts and
# stops the servers (by pid), and counts the checks.
#
#   start_httpd DIR       Python's http.server on DIR: sets base
#   start_misbehave DIR   tests/fetch/server.py on DIR: sets mb, mblog
#   ok / bad MESSAGE      one check passed / failed
#   run ARGS...           runs the program: $rc, $tmp/out, $tmp/err
#   expect_rc N TEXT      the last run exited with N
#   expect_out RE TEXT    a line of its stderr matches RE
#   no_out RE TEXT        no line of its stderr matches RE
#   finish                prints the count, exits 1 if a check failed
set -u
case $fetch in /*) ;; *) fetch=$(pwd)/$fetch ;; esac
[ -x "$fetch" ] || { echo "$0: $fetch is not a program" >&2; exit 2; }
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=python3; fi
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-fetch-test.XXXXXX") || exit 2
pids=
cleanup_hooks=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    for h in $cleanup_hooks; do $h; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    $py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_httpd() {
    port=$(free_port)
    (cd "$1" && exec $py -m http.server --bind 127.0.0.1 "$port") >"$tmp/httpd.log" 2>&1 &
    pids="$pids $!"
    base=http://127.0.0.1:$port
    i=0
    until curl -s -o /dev/null "$base/"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$0: http.server did not start" >&2; cat "$tmp/httpd.log" >&2; exit 2; }
        sleep 0.05
    done
}

start_misbehave() {
    mblog=$tmp/misbehave.log
    : >"$mblog"
    : >"$tmp/misbehave.ready"
    $py "$here/server.py" "$1" "$mblog" >"$tmp/misbehave.ready" 2>"$tmp/misbehave.err" &
    pids="$pids $!"
    i=0
    until grep -q '^READY ' "$tmp/misbehave.ready"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "$0: server.py did not start" >&2; cat "$tmp/misbehave.err" >&2; exit 2; }
        sleep 0.05
    done
    mb=http://127.0.0.1:$(sed -n 's/^READY //p' "$tmp/misbehave.ready")
}

checks=0
failures=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $*"; }
show() { sed 's/^/    /' "$tmp/err" | head -n 30; }
expect_rc() { if [ "$rc" -eq "$1" ]; then ok "$2 (exit $rc)"; else bad "$2: exit $rc, expected $1"; show; fi; }
expect_out() { if grep -q -- "$1" "$tmp/err"; then ok "$2"; else bad "$2: no line matching '$1'"; show; fi; }
no_out() { if grep -q -- "$1" "$tmp/err"; then bad "$2: a line matches '$1'"; show; else ok "$2"; fi; }
run() { "$fetch" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?; }
# same FILE1 FILE2 TEXT: the two files are byte for byte the same.
same() { if cmp -s "$1" "$2"; then ok "$3"; else bad "$3: $1 differs from $2"; fi; }
# count_log RE: requests in the misbehaving server's log matching RE.
count_log() { grep -c -- "$1" "$mblog"; }

finish() {
    echo "$(basename "$0" .sh): $checks checks, $failures failures"
    [ $failures -eq 0 ]
    exit $?
}
