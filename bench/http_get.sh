#!/bin/sh
# http_get with other clients, against the nginx of bench/http_server.sh
# (BENCH_HTTP_BASE), for comparison with bench/http_get.c:
#
#   sh bench/http_get.sh curl   curl --parallel --parallel-max 64: 10,000 GETs
#                               of the 1 KiB file, then of the 100 KiB file
#                               (URLs given through --config), best of 3
#   sh bench/http_get.sh wrk    wrk -c64 -t1 for 5 s on each file: the
#                               server's ceiling (skipped with a note when
#                               wrk is missing: apt-get install -y wrk)
#
# Prints the same RESULT lines as the C program (req/s).
set -u
REQUESTS=10000
IN_FLIGHT=64
ROUNDS=3
tool=${1:-}
base=${BENCH_HTTP_BASE:-}
case $base in
http://*) ;;
*) echo "http_get.sh: set BENCH_HTTP_BASE (run it through bench/http_server.sh)" >&2; exit 2 ;;
esac

now_ns() { date +%s%N; }

case $tool in
curl)
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-curl.XXXXXX") || exit 2
    trap 'rm -rf "$tmp"' EXIT
    for f in 1k 100k; do
        i=0
        while [ $i -lt $REQUESTS ]; do
            printf 'url = "%s/%s"\noutput = "/dev/null"\n' "$base" "$f"
            i=$((i + 1))
        done >"$tmp/$f.conf"
        best=0
        for r in -1 0 1 2; do
            t0=$(now_ns)
            curl -s --fail --parallel --parallel-max $IN_FLIGHT --config "$tmp/$f.conf" || {
                echo "http_get.sh: curl failed" >&2; exit 1; }
            t1=$(now_ns)
            v=$(awk -v n=$REQUESTS -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
            echo "http_get[curl]: $f round $r: $REQUESTS GETs, $IN_FLIGHT in flight: $v req/s" >&2
            [ "$r" -ge 0 ] && [ "$v" -gt "$best" ] && best=$v
        done
        echo "RESULT http_get get_${f}_req_s $best req/s"
    done
    ;;
wrk)
    if ! command -v wrk >/dev/null 2>&1; then
        echo "http_get.sh: wrk is not installed (apt-get install -y wrk): its column is skipped" >&2
        exit 0
    fi
    for f in 1k 100k; do
        out=$(wrk -c$IN_FLIGHT -t1 -d5s "$base/$f") || { echo "http_get.sh: wrk failed" >&2; exit 1; }
        echo "$out" | sed 's/^/http_get[wrk]: /' >&2
        v=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
        [ -n "$v" ] && echo "RESULT http_get get_${f}_req_s $v req/s"
    done
    ;;
*)
    echo "usage: sh bench/http_get.sh curl|wrk" >&2
    exit 2
    ;;
esac
