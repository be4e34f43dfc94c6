#!/bin/sh
# Runs the tutorial's programs ported to C beside their Python originals.
#
#   sh examples/demo.sh BINDIR
#
# For each program NAME in PROGRAMS: runs BINDIR/NAME (showing its output),
# compares its stdout with examples/expected/NAME.txt (what examples/NAME.py
# prints), times it, then times examples/NAME.py under Python.  Prints a
# table and exits non-zero if any C program's output differs, it exits with
# a non-zero status, or its wall time differs from Python's by more than
# TOLERANCE seconds, Python's own start-up (the interpreter and asyncio's
# import, timed just after) not counted (the programs are sleep-dominated,
# so both should take the same time).
#
# Environment: PYTHON (default python3; when missing, Python is not timed
# and only the outputs are checked), TOLERANCE (default 0.5).
#
# A second part (marked below) runs the network and process examples.

# Add new examples here: each needs BINDIR/NAME, examples/NAME.py and
# examples/expected/NAME.txt.
PROGRAMS="hello gather background exceptions say_after create_task taskgroup timeout wait_for blocking producer_consumer workers"

# Programs whose line order is a race in the Python original too (a worker
# thread prints while the loop does): their output is compared as a set of
# lines, in any order, and the table says "yes*".
UNORDERED="blocking"

set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: sh $0 BINDIR   (the directory holding the built examples)" >&2
    exit 2
fi
bindir=$1
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
tolerance=${TOLERANCE:-0.5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-demo.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if ! command -v "$python" >/dev/null 2>&1; then
    echo "note: $python not found; Python timings skipped" >&2
    python=
fi

# Wall clock in seconds with nanoseconds (GNU date), else whole seconds.
now() {
    t=$(date +%s.%N)
    case $t in *N) date +%s ;; *) echo "$t" ;; esac
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# same_output EXPECTED ACTUAL NAME: exit status 0 when they match.
same_output() {
    case " $UNORDERED " in
    *" $3 "*)
        sort "$1" >"$tmp/sorted.expected"
        sort "$2" >"$tmp/sorted.actual"
        cmp -s "$tmp/sorted.expected" "$tmp/sorted.actual"
        ;;
    *) cmp -s "$1" "$2" ;;
    esac
}

failed=0
rows=
width=7
for name in $PROGRAMS; do
    [ "${#name}" -gt "$width" ] && width=${#name}
    exe=$bindir/$name
    expected=$here/expected/$name.txt
    echo "== $name: C port ($exe)"
    if [ ! -x "$exe" ]; then
        echo "   missing: $exe" >&2
        rows="$rows$name missing - - -
"
        failed=1
        continue
    fi

    # Show the output while it runs; keep a copy to compare.  The exit
    # status of the program (not of tee) is carried through a file.
    start=$(now)
    { "$exe"; echo $? >"$tmp/status"; } | tee "$tmp/$name.out"
    end=$(now)
    status=$(cat "$tmp/status")
    ctime=$(elapsed "$start" "$end")

    if same_output "$expected" "$tmp/$name.out" "$name"; then
        match=yes
        case " $UNORDERED " in *" $name "*) match='yes*' ;; esac
    else
        match=no
        failed=1
        echo "   output differs from $expected:" >&2
        diff "$expected" "$tmp/$name.out" >&2
    fi
    [ "$status" -eq 0 ] || { failed=1; echo "   exit status $status" >&2; }

    ptime=-
    if [ -n "$python" ]; then
        echo "== $name: Python ($here/$name.py)"
        start=$(now)
        "$python" "$here/$name.py" >"$tmp/$name.py.out"
        end=$(now)
        ptime=$(elapsed "$start" "$end")
        same_output "$expected" "$tmp/$name.py.out" "$name" ||
            echo "   note: $python's output differs from $expected" >&2
        # What Python takes to start and import asyncio, measured now (a
        # busy machine makes it long): not the program's time.
        start=$(now)
        "$python" -c 'import asyncio'
        pystart=$(elapsed "$start" "$(now)")
        if awk -v c="$ctime" -v p="$ptime" -v s="$pystart" -v t="$tolerance" \
            'BEGIN { d = c - (p - s); if (d < 0) d = -d; exit !(d > t) }'; then
            echo "   C and Python times differ by more than ${tolerance}s" >&2
            failed=1
            ctime="$ctime!"
        fi
    fi
    rows="$rows$name $match $status $ctime $ptime
"
done

# ===========================================================================
# Network and process examples (streams, signals, subprocesses): servers,
# clients and a pipeline, checked for their output and their exit status
# rather than timed against Python (their time is not sleep-dominated).
# Everything listens on 127.0.0.1, on free ports (port 0).  Each check
# adds a row to the table; the Python column says whether the Python twin
# gave the same output (or "-" where it is not run).
#   echo_server  both modes: echo_client's output, then SIGTERM -> exit 0
#   udp_echo_server  datagrams sent back (a Python client), then SIGTERM -> 0
#   reuseport_echo  two loops on one port: echo_client's output, SIGTERM -> 0
#   chat_server  chat_check.py's scripted clients, then SIGTERM -> exit 0
#   port_check   an open port, a closed one and one that never answers
#   pipeline     seq 1 100000 | grep 7 | wc -l
#   fetch_url    the tutorial's HTTP program, against a local server
# Needs $python for the chat clients and the port_check targets.

net_pid=
httpd_pid=
trap 'rm -rf "$tmp"; for p in $net_pid $httpd_pid; do kill -KILL "$p" 2>/dev/null; done' EXIT

# net_start COMMAND...: starts a server, waits for its READY line; sets
# net_pid and net_port.
net_start() {
    : >"$tmp/ready"
    "$@" >"$tmp/ready" &
    net_pid=$!
    n=0
    while ! grep -q '^READY ' "$tmp/ready"; do
        n=$((n + 1))
        if [ $n -gt 100 ] || ! kill -0 "$net_pid" 2>/dev/null; then
            echo "   $*: no READY line" >&2
            net_pid=
            return 1
        fi
        sleep 0.1
    done
    read -r _ _ net_port _ <"$tmp/ready"
}

# net_stop: SIGTERM to the server; sets net_status to its exit status.
net_stop() {
    kill -TERM "$net_pid"
    wait "$net_pid"
    net_status=$?
    net_pid=
}

# net_row NAME EXPECTED ACTUAL STATUS START PYMATCH [END]: compares, adds
# a row (C time: START to END, default now).
net_row() {
    if cmp -s "$2" "$3"; then match=yes; else
        match=no
        failed=1
        echo "   output differs from $2:" >&2
        diff "$2" "$3" >&2
    fi
    [ "$4" -eq 0 ] || { failed=1; echo "   exit status $4" >&2; }
    [ "${#1}" -gt "$width" ] && width=${#1}
    rows="$rows$1 $match $4 $(elapsed "$5" "${7:-$(now)}") $6
"
}

for mode in streams protocol; do
    name=echo_server[$mode]
    echo "== $name, with echo_client"
    start=$(now)
    if net_start "$bindir/echo_server" --port 0 --mode "$mode"; then
        "$bindir/echo_client" --port "$net_port" | tee "$tmp/echo.out"
        pymatch=-
        if [ -n "$python" ]; then
            "$python" "$here/echo_client.py" --port "$net_port" >"$tmp/echo.py.out"
            if cmp -s "$tmp/echo.out" "$tmp/echo.py.out"; then pymatch=same; else pymatch=differs; fi
        fi
        net_stop
        status=$net_status
    else
        : >"$tmp/echo.out"
        status=1 pymatch=-
    fi
    net_row "$name" "$here/expected/echo_client.txt" "$tmp/echo.out" "$status" "$start" "$pymatch"
done

# udp_client PORT: three datagrams to 127.0.0.1:PORT, the largest IPv4
# takes among them, one line per answer.  (Not an empty one: Python 3.11's
# sendto drops it, where casyncio sends it, as 3.13.)
udp_client() {
    "$python" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for msg in (b"hello", b"x" * 1000, b"y" * 65507):
    s.sendto(msg, ("127.0.0.1", int(sys.argv[1])))
    data, addr = s.recvfrom(65536)
    print(len(data), "bytes back,", "same" if data == msg else "different")' "$1"
}
name="reuseport_echo[loops=2]"
echo "== $name, with echo_client"
start=$(now)
if net_start "$bindir/reuseport_echo" --port 0 --loops 2; then
    "$bindir/echo_client" --port "$net_port" | tee "$tmp/echo.out"
    net_stop
    status=$net_status
else
    : >"$tmp/echo.out"
    status=1
fi
net_row "$name" "$here/expected/echo_client.txt" "$tmp/echo.out" "$status" "$start" -

if [ -n "$python" ]; then
    echo "== udp_echo_server, with a Python client"
    start=$(now)
    printf '5 bytes back, same\n1000 bytes back, same\n65507 bytes back, same\n' >"$tmp/udp.expected"
    if net_start "$bindir/udp_echo_server" --port 0; then
        udp_client "$net_port" | tee "$tmp/udp.out"
        net_stop
        status=$net_status
    else
        : >"$tmp/udp.out"
        status=1
    fi
    end=$(now)
    pymatch=differs
    if net_start "$python" "$here/udp_echo_server.py" --port 0; then
        udp_client "$net_port" >"$tmp/udp.py.out"
        net_stop
        cmp -s "$tmp/udp.out" "$tmp/udp.py.out" && pymatch=same
    fi
    net_row udp_echo_server "$tmp/udp.expected" "$tmp/udp.out" "$status" "$start" "$pymatch" "$end"

    echo "== chat_server, with the scripted clients of chat_check.py"
    start=$(now)
    if net_start "$bindir/chat_server" --port 0; then
        "$python" "$here/chat_check.py" --port "$net_port" | tee "$tmp/chat.out"
        net_stop
        status=$net_status
    else
        : >"$tmp/chat.out"
        status=1
    fi
    end=$(now)
    pymatch=differs
    if net_start "$python" "$here/chat_server.py" --port 0; then
        "$python" "$here/chat_check.py" --port "$net_port" >"$tmp/chat.py.out"
        net_stop
        cmp -s "$tmp/chat.out" "$tmp/chat.py.out" && pymatch=same
    fi
    net_row chat_server "$here/expected/chat_check.txt" "$tmp/chat.out" "$status" "$start" "$pymatch" "$end"

    echo "== port_check: an open port, a closed one, one that never answers"
    start=$(now)
    # A listener whose accept queue is full: further SYNs are dropped, so
    # a connect to it times out.  It prints its port, then a free port
    # (bound, then closed: nothing listens there).
    "$python" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
held = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    held.append(c)
f = socket.socket(); f.bind(("127.0.0.1", 0)); free = f.getsockname()[1]; f.close()
time.sleep(0.2)
print(port, free, flush=True)
time.sleep(60)' >"$tmp/stuck" &
    stuck_pid=$!
    n=0
    while [ ! -s "$tmp/stuck" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    read -r stuck closed <"$tmp/stuck"
    if net_start "$bindir/echo_server" --port 0; then
        printf '%s open\n%s closed\n%s timeout\n' "$net_port" "$closed" "$stuck" >"$tmp/ports.expected"
        { "$bindir/port_check" --timeout 0.5 --limit 2 "$net_port" "$closed" "$stuck"; echo $? >"$tmp/status"; } |
            tee "$tmp/ports.out"
        status=$(cat "$tmp/status")
        "$python" "$here/port_check.py" --timeout 0.5 --limit 2 "$net_port" "$closed" "$stuck" \
            >"$tmp/ports.py.out"
        if cmp -s "$tmp/ports.out" "$tmp/ports.py.out"; then pymatch=same; else pymatch=differs; fi
        net_stop
        [ "$net_status" -eq 0 ] || status=$net_status
    else
        : >"$tmp/ports.expected"
        echo missing >"$tmp/ports.out"
        status=1 pymatch=-
    fi
    kill "$stuck_pid" 2>/dev/null
    wait "$stuck_pid" 2>/dev/null
    net_row port_check "$tmp/ports.expected" "$tmp/ports.out" "$status" "$start" "$pymatch"
else
    echo "note: no $python: udp_echo_server, chat_server and port_check are not checked" >&2
fi

echo "== pipeline: seq 1 100000 | grep 7 | wc -l"
start=$(now)
{ "$bindir/pipeline"; echo $? >"$tmp/status"; } | tee "$tmp/pipeline.out"
pymatch=-
if [ -n "$python" ]; then
    "$python" "$here/pipeline.py" >"$tmp/pipeline.py.out"
    if cmp -s "$tmp/pipeline.out" "$tmp/pipeline.py.out"; then pymatch=same; else pymatch=differs; fi
fi
net_row pipeline "$here/expected/pipeline.txt" "$tmp/pipeline.out" "$(cat "$tmp/status")" "$start" "$pymatch"

# ---------------------------------------------------------------------------
# HTTP: the tutorial's fetch_url against a local server (no internet here),
# examples/www/ served by Python's http.server on a free port.  The aiohttp
# twin runs where aiohttp is installed (Debian's python3-aiohttp).
if [ -n "$python" ]; then
    echo "== fetch_url, against a local server"
    : >"$tmp/httpd"
    "$python" -u -m http.server 0 --bind 127.0.0.1 --directory "$here/www" >"$tmp/httpd" 2>/dev/null &
    httpd_pid=$!
    n=0
    while ! grep -q ' port ' "$tmp/httpd" && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
    url=http://127.0.0.1:$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$tmp/httpd")/
    start=$(now)
    { "$bindir/fetch_url" "$url"; echo $? >"$tmp/status"; } | tee "$tmp/fetch_url.out"
    end=$(now)
    pymatch=-
    for py in "$python" /usr/bin/python3; do
        if "$py" -c 'import aiohttp' 2>/dev/null; then
            "$py" "$here/fetch_url.py" "$url" >"$tmp/fetch_url.py.out"
            if cmp -s "$tmp/fetch_url.out" "$tmp/fetch_url.py.out"; then pymatch=same; else pymatch=differs; fi
            break
        fi
    done
    kill "$httpd_pid" 2>/dev/null
    wait "$httpd_pid" 2>/dev/null
    net_row fetch_url "$here/expected/fetch_url.txt" "$tmp/fetch_url.out" "$(cat "$tmp/status")" \
        "$start" "$pymatch" "$end"
else
    echo "note: no $python: fetch_url is not checked (it needs a local HTTP server)" >&2
fi
# ======================================== end of the network and process part

echo
printf "%-${width}s  %-8s %-5s %-10s %s\n" program matches exit "C (s)" "Python (s)"
printf '%s' "$rows" | while read -r name match status ctime ptime; do
    printf "%-${width}s  %-8s %-5s %-10s %s\n" "$name" "$match" "$status" "$ctime" "$ptime"
done
case $rows in *'yes*'*) echo "(yes*: the same lines, in an order that is a race in Python too)" ;; esac
if [ "$failed" -ne 0 ]; then
    echo "demo: FAILED (a '!' marks a time off by more than ${tolerance}s)"
    exit 1
fi
echo "demo: all outputs match, timings agree"
