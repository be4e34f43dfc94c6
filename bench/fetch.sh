#!/bin/sh
# The fetch benchmark: a bulk download to disk by casyncio-fetch, by curl
# and by aria2c, against the nginx of bench/http_server.sh
# (BENCH_HTTP_BASE), with the same URL lists and the same number of
# transfers in flight (64):
#
#   sh bench/fetch.sh BINDIR [all | casyncio | curl | aria2c]
#
#   small     10,000 GETs of the 1 KiB file, each saved under its own name
#             (f0 ... f9999) in a new directory on disk: requests per
#             second, the best of 3 rounds after a warm-up round (the
#             median too, on stderr)
#   small_shm the same into /dev/shm (tmpfs), when it exists: the clients
#             without the disk's cost of making 10,000 files
#   big       100 GETs of the 10 MiB file to disk (1,000 MiB): MB/s, the
#             best of 2 rounds, and the peak RSS of that round (KiB)
#
# "all" (the default, what bench/run.sh runs) interleaves the programs
# round by round, in a rotating order, so that a busy moment of a shared
# machine costs each of them alike, and prints "RESULT[IMPL] ..." lines
# that bench/run.sh credits to each.  A single IMPL runs that one alone
# and prints plain RESULT lines.
#
# The programs run as a user runs them:
#   casyncio  BINDIR/../casyncio-fetch -q -j 64 -o DIR -i LIST (LIST:
#             "URL<TAB>NAME" lines)
#   curl      curl -s --no-progress-meter --fail --parallel --parallel-max 64
#             --config LIST (url = / output = pairs), in DIR (curl 7.88
#             draws its meter in --parallel mode despite -s)
#   aria2c    aria2c -q -j 64 -d DIR -i LIST (URL and " out=NAME" lines),
#             Debian's aria2 with its defaults otherwise
# Every file is checked (count and size) before a round counts.  Wall time
# from start to exit; peak RSS from /usr/bin/time.
#
# The disk.  Making a file is a file system's costliest operation here
# (the whole of these runs, on a slow disk).  On ext4 without a journal,
# as on the machines this was written on, it slows down further while many
# inodes were deleted in the last minutes (ext4 avoids reusing them and
# scans past each one: recently_deleted() in fs/ext4/ialloc.c), so the
# small rounds' directories are kept until the end rather than deleted
# between rounds, and aria2c (some 30 to 130 s per 10,000 files there: it
# makes and deletes a control file per download) runs one round on disk,
# without warm-up.
#
# Environment: FETCH_DIR (where the on-disk directories go; default
# TMPDIR, else /tmp), FETCH_SMALL (10000), FETCH_BIG (100), FETCH_ROUNDS
# (3), FETCH_INFLIGHT (64).
set -u

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: sh bench/fetch.sh BINDIR [all|casyncio|curl|aria2c]" >&2; exit 2; }
bindir=$1 which=${2:-all}
base=${BENCH_HTTP_BASE:-}
case $base in
http://*) ;;
*) echo "fetch.sh: set BENCH_HTTP_BASE (run it through bench/http_server.sh)" >&2; exit 2 ;;
esac
small=${FETCH_SMALL:-10000}
big=${FETCH_BIG:-100}
rounds=${FETCH_ROUNDS:-3}
inflight=${FETCH_INFLIGHT:-64}
disk=${FETCH_DIR:-${TMPDIR:-/tmp}}
fetch=$(cd "$bindir/.." && pwd)/casyncio-fetch

impls=
for i in $([ "$which" = all ] && echo casyncio curl aria2c || echo "$which"); do
    case $i in
    casyncio) [ -x "$fetch" ] || { echo "fetch.sh: $fetch: not built (make tools)" >&2; exit 2; } ;;
    curl) command -v curl >/dev/null || { echo "fetch.sh: curl is not installed: skipped" >&2; continue; } ;;
    aria2c) command -v aria2c >/dev/null ||
        { echo "fetch.sh: aria2c is not installed (apt-get install -y aria2): skipped" >&2; continue; } ;;
    *) echo "fetch.sh: unknown implementation $i" >&2; exit 2 ;;
    esac
    impls="$impls $i"
done

tmp=$(mktemp -d "$disk/casyncio-fetch-bench.XXXXXX") || exit 2
shm=
trap 'rm -rf "$tmp" ${shm:+"$shm"}' EXIT
trap 'exit 130' INT TERM
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=$(mktemp -d /dev/shm/casyncio-fetch-bench.XXXXXX) || shm=
fi
now_ns() { date +%s%N; }
have_time=no
[ -x /usr/bin/time ] && have_time=yes

# list IMPL FILE COUNT BASENAME: the URL list of COUNT GETs of BASENAME in
# IMPL's format, each with its own output name.
list() {
    awk -v impl="$1" -v url="$base/$4" -v n="$3" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (impl == "casyncio") printf "%s?%d\tf%d\n", url, i, i
            else if (impl == "curl") printf "url = \"%s?%d\"\noutput = \"f%d\"\n", url, i, i
            else printf "%s?%d\n  out=f%d\n", url, i, i
        }
    }' >"$2"
}

# one IMPL DIR LIST: runs IMPL once; sets secs and rss (KiB).
one() {
    impl=$1 dir=$2 lst=$3
    mkdir -p "$dir"
    timer=
    [ $have_time = yes ] && timer="/usr/bin/time -f %M -o $tmp/rss"
    t0=$(now_ns)
    case $impl in
    casyncio) $timer "$fetch" -q -j "$inflight" -o "$dir" -i "$lst" ;;
    curl) (cd "$dir" && exec $timer curl -s --no-progress-meter --fail --parallel \
        --parallel-max "$inflight" --config "$lst") ;;
    aria2c) $timer aria2c -q -j "$inflight" -d "$dir" -i "$lst" ;;
    esac
    st=$?
    t1=$(now_ns)
    secs=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.4f", ns / 1e9 }')
    rss=0
    [ $have_time = yes ] && rss=$(tail -n 1 "$tmp/rss")
    return $st
}

# check IMPL DIR COUNT SIZE: COUNT files of SIZE bytes, nothing else.
check() {
    n=$(find "$2" -type f -size "$4"c | wc -l)
    all=$(find "$2" -type f | wc -l)
    if [ "$n" -ne "$3" ] || [ "$all" -ne "$3" ]; then
        echo "fetch.sh: $1: $n files of $4 bytes in $2 ($all files), expected $3" >&2
        return 1
    fi
}

# rotate R WORDS...: the words, starting at the (R mod count)-th.
rotate() {
    r=$1
    shift
    n=$#
    k=$(((r % n + n) % n))
    i=0 out=
    for w in "$@"; do [ $i -ge $k ] && out="$out $w"; i=$((i + 1)); done
    i=0
    for w in "$@"; do [ $i -lt $k ] && out="$out $w"; i=$((i + 1)); done
    echo $out
}

failed=
# series NAME WHERE COUNT FILE SIZE ROUNDS WARMUP UNIT KEEP
series() {
    name=$1 where=$2 count=$3 file=$4 size=$5 nrounds=$6 warm=$7 unit=$8 keep=$9
    for i in $impls; do
        list "$i" "$tmp/list.$name.$i" "$count" "$file"
        eval "best_$i=0 rss_$i=0"
        : >"$tmp/values.$name.$i"
    done
    r=$((0 - warm))
    while [ $r -lt "$nrounds" ]; do
        for i in $(rotate $r $impls); do
            case " $failed " in *" $i.$name "*) continue ;; esac
            # aria2c on disk: one round (see above).
            if [ "$i" = aria2c ] && [ "$name" = small ] && [ $r -ne 0 ]; then continue; fi
            d=$where/$name.$i.$r
            if ! one "$i" "$d" "$tmp/list.$name.$i" || ! check "$i" "$d" "$count" "$size"; then
                echo "fetch.sh: $i failed ($name, round $r)" >&2
                failed="$failed $i.$name"
                rm -rf "$d"
                continue
            fi
            [ "$keep" = keep ] || rm -rf "$d"
            if [ "$unit" = "req/s" ]; then
                v=$(awk -v n="$count" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
            else
                v=$(awk -v n="$count" -v b="$size" -v s="$secs" 'BEGIN { printf "%.1f", n * b / 1e6 / s }')
            fi
            echo "fetch[$i]: $name round $r$([ $r -lt 0 ] && echo ' (warm-up)'): $count GETs, $inflight in flight: $secs s, $v $unit, peak RSS $rss KiB" >&2
            eval "b=\$best_$i"
            [ $r -ge 0 ] && echo "$v" >>"$tmp/values.$name.$i"
            if [ $r -ge 0 ] && awk -v a="$v" -v b="$b" 'BEGIN { exit !(a > b) }'; then
                eval "best_$i=$v rss_$i=$rss"
            fi
        done
        r=$((r + 1))
    done
    metric=${name}_$(echo "$unit" | tr '/' '_' | tr 'A-Z' 'a-z')
    for i in $impls; do
        case " $failed " in *" $i.$name "*) continue ;; esac
        sort -n "$tmp/values.$name.$i" | awk -v i="$i" -v name="$name" -v unit="$unit" '
            { v[NR] = $1 }
            END { if (NR) printf "fetch[%s]: %s: best %s, median %s %s over %d round(s)\n", i, name,
                  v[NR], NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, unit, NR }' >&2
        tag=RESULT
        [ "$which" = all ] && tag="RESULT[$i]"
        eval "echo \"$tag fetch $metric \$best_$i $unit\""
        if [ "$name" = big ] && [ $have_time = yes ]; then
            eval "echo \"$tag fetch big_peak_rss_kib \$rss_$i KiB\""
        fi
    done
}

series small "$tmp" "$small" 1k 1024 "$rounds" 1 req/s keep
[ -n "$shm" ] && series small_shm "$shm" "$small" 1k 1024 "$rounds" 1 req/s drop
series big "$tmp" "$big" 10m 10485760 2 0 MB/s drop
[ -z "$failed" ]
