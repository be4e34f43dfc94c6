#!/bin/sh
# The gdb helper (tools/casyncio-gdb.py) in gdb's batch mode, three ways:
#   1. a live process stopped at a known point (a breakpoint in
#      casyncio_gdb_stop_here, tests/gdb/prog.c): `casyncio tasks` lists the
#      suspended tasks, `casyncio bt` unwinds them by name, number and with
#      -a; gdb's own `bt` is untouched afterwards; the program then runs to
#      its end;
#   2. a core file of the same point, written with gcore: the same;
#   3. auto-loading: the script next to libcasyncio.so under the name gdb
#      looks for (libcasyncio.so.VERSION-gdb.py) is loaded with the library,
#      no `source` needed.
#
#   sh tests/gdb/test.sh BUILD_DIR SCRIPT VERSION
set -u

build=$1
script=$2
version=$3
prog=$build/tests/gdb/prog
prog_shared=$build/tests/gdb/prog-shared

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-gdb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL gdb: $*"
    if [ -n "${out:-}" ] && [ -f "$out" ]; then
        sed 's/^/    /' "$out"
    fi
    exit 1
}

# expect FILE TEXT...: every TEXT is a line fragment of FILE.
expect() {
    f=$1
    shift
    for t in "$@"; do
        grep -qF -- "$t" "$f" || fail "'$t' missing from $(basename "$f")"
    done
}

gdb_batch() {
    timeout 120 gdb -q -batch -nx "$@" </dev/null 2>&1
}

# ptrace may be forbidden here (a container without CAP_SYS_PTRACE): then
# there is nothing gdb can show, and nothing to test.
out=$tmp/probe.txt
gdb_batch -ex run --args /bin/true >"$out"
if grep -q "ptrace: Operation not permitted\|Could not trace the inferior" "$out"; then
    echo "SKIP gdb: this machine does not let gdb trace a process (ptrace not permitted)"
    exit 0
fi

# ---- 1. a live process
out=$tmp/live.txt
gdb_batch -ex "source $script" -ex "break casyncio_gdb_stop_here" -ex run \
    -ex "casyncio tasks" -ex "casyncio bt locker" -ex "casyncio bt 3" \
    -ex "casyncio bt -a getter" -ex "casyncio bt awaiter" -ex "casyncio bt Task-1" \
    -ex "casyncio bt nosuch" -ex "echo ---- plain bt\n" -ex bt -ex continue "$prog" >"$out"
expect "$out" "Loop 0x" "5 unfinished tasks, running" \
    "'Task-1'" "coro=gdb_main(): running" \
    "'locker'" "coro=gdb_lock_waiter(): waiting " "in Lock.acquire() on 0x" \
    "'sleeper'" "coro=gdb_sleeper(): waiting " "in sleep() on 0x" \
    "'getter'" "coro=gdb_getter(): waiting " "in Queue.get() on 0x" \
    "'awaiter'" "coro=gdb_awaiter(): waiting " "in await <Task 'sleeper'>" \
    "Task 'locker' (#2, 0x" "in gdb_take_lock at " "tests/gdb/prog.c:" \
    "in gdb_lock_waiter at " "Task 'sleeper' (#3, 0x" "in gdb_sleeper at " \
    "in asyncio_queue_get at " "in gdb_getter at " "in gdb_awaiter at " \
    "running: use bt in the thread that runs its loop" \
    "casyncio: no unfinished task 'nosuch'" \
    "gdb test program: done" "exited normally"
# Without -a the library's suspension frames are left out; gdb's own bt
# is the stopped thread's stack again.
sed -n '/^Task .locker/,/^Task .sleeper/p' "$out" | grep -q "asyncio__task_wait_on" &&
    fail "casyncio bt locker shows the suspension machinery"
sed -n '/^Task .getter/,/^Task .awaiter/p' "$out" | grep -q "in asyncio__task_wait_on at " ||
    fail "casyncio bt -a getter leaves out the suspension frames"
sed -n '/^---- plain bt/,$p' "$out" >"$tmp/plain.txt"
expect "$tmp/plain.txt" "#0  casyncio_gdb_stop_here" "in gdb_main"
echo "PASS gdb: casyncio tasks and casyncio bt on a live process"

# ---- 2. a core file (gcore cannot copy stacks behind Linux guard markers:
# the program makes its stacks the older way, as casyncio-gdb.py advises)
out=$tmp/gcore.txt
gdb_batch -ex "set environment ASYNCIO_NO_GUARD_MARKERS=1" -ex "break casyncio_gdb_stop_here" \
    -ex run -ex "gcore $tmp/core" -ex kill "$prog" >"$out"
[ -s "$tmp/core" ] || fail "gcore wrote no core file"
out=$tmp/core.txt
gdb_batch -ex "source $script" -ex "casyncio tasks" -ex "casyncio bt locker" \
    -ex "casyncio bt awaiter" "$prog" "$tmp/core" >"$out"
expect "$out" "5 unfinished tasks" "coro=gdb_lock_waiter(): waiting " \
    "in Lock.acquire() on 0x" "coro=gdb_awaiter(): waiting " \
    "in gdb_take_lock at " "in gdb_lock_waiter at " "in gdb_awaiter at "
echo "PASS gdb: casyncio tasks and casyncio bt on a core file"

# ---- 3. auto-loading with the shared library
mkdir -p "$tmp/lib"
cp "$build/libcasyncio.so.$version" "$tmp/lib/"
ln -s "libcasyncio.so.$version" "$tmp/lib/libcasyncio.so.0"
cp "$script" "$tmp/lib/libcasyncio.so.$version-gdb.py"
out=$tmp/autoload.txt
LD_LIBRARY_PATH=$tmp/lib gdb_batch -iex "set auto-load safe-path $tmp" \
    -ex "set environment LD_LIBRARY_PATH=$tmp/lib" -ex "break casyncio_gdb_stop_here" -ex run \
    -ex "casyncio tasks" -ex "casyncio bt locker" -ex kill "$prog_shared" >"$out"
expect "$out" "5 unfinished tasks, running" "in gdb_lock_waiter at "
echo "PASS gdb: auto-loaded with libcasyncio.so.$version"
