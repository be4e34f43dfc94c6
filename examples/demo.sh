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
# TOLERANCE seconds (the programs are sleep-dominated, so both should take
# the same time).
#
# Environment: PYTHON (default python3; when missing, Python is not timed
# and only the outputs are checked), TOLERANCE (default 0.5).

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
        if awk -v c="$ctime" -v p="$ptime" -v t="$tolerance" \
            'BEGIN { d = c - p; if (d < 0) d = -d; exit !(d > t) }'; then
            echo "   C and Python times differ by more than ${tolerance}s" >&2
            failed=1
            ctime="$ctime!"
        fi
    fi
    rows="$rows$name $match $status $ctime $ptime
"
done

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
