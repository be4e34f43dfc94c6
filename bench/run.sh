#!/bin/sh
# Runs every benchmark three ways in one run -- the C program (casyncio), its
# Python twin on asyncio, the same twin on uvloop -- and prints a table with
# the ratios.
#
#   sh bench/run.sh DIR [BENCHMARK...]
#
# DIR holds the C programs (the Makefile builds them as $(BUILD)/bench/NAME);
# the Python twins are read from the directory of this script.  With no
# BENCHMARK names, all of them run.
#
# Benchmarks that need an HTTP server (http_get, http_semaphore) run each program through
# bench/http_server.sh, which starts nginx on a free loopback port; they
# also have extra columns for other clients (bench/NAME.sh IMPL: curl, wrk).
#
# Environment: PYTHON (default /usr/bin/python3, Debian's, which is the one
# python3-uvloop installs into), BENCH_TIMEOUT (seconds per program, default
# 300; three times that for the fetch driver), BENCH_BASELINE (a second DIR of C programs, built from an older
# commit: each C program runs from it too, right after the current one, and a
# second table compares the two -- "before and after in one run").
#
# A benchmark with a driver script bench/NAME.sh instead of a twin (echo,
# tls_echo, tls_handshake, udp_echo: several servers, one load client;
# reuseport: one server with 1 and 2 loops; postgres: a PostgreSQL server,
# the example and asyncpg) runs as `sh NAME.sh DIR IMPL` for each IMPL
# (casyncio, asyncio, uvloop); the driver prints the RESULT lines.  The
# fetch driver compares casyncio-fetch with other programs instead (curl,
# aria2c): it runs once, as IMPL "all", through bench/http_server.sh,
# interleaves the programs itself and prints RESULT[IMPL] lines, each
# credited to its IMPL.
#
# Every program prints `RESULT <name> <metric> <value> <unit>` lines on
# stdout (collected here) and human-readable text on stderr (passed
# through).  Exit status: 1 if a C program failed or timed out, else 0 (a
# failing Python twin only shows as "failed" in its column).
set -u

usage() {
    echo "usage: sh bench/run.sh DIR-WITH-C-BINARIES [BENCHMARK...]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
bindir=$1
shift
[ -d "$bindir" ] || { echo "run.sh: $bindir: not a directory" >&2; usage; }
baseline=${BENCH_BASELINE:-}
if [ -n "$baseline" ] && [ ! -d "$baseline" ]; then
    echo "run.sh: BENCH_BASELINE=$baseline: not a directory" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
all="spawn cold switch contextvar future_pingpong gather sleep_memory timer_lateness executor wait_for taskgroup timeout queues lock semaphore process echo tls_echo tls_handshake udp_echo reuseport http_get http_semaphore postgres fetch"
benchmarks=${*:-$all}
timeout_s=${BENCH_TIMEOUT:-300}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

for b in $benchmarks; do
    if [ ! -f "$here/$b.py" ] && [ ! -f "$here/$b.sh" ]; then
        echo "run.sh: unknown benchmark $b (known: $all)" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-bench.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
: >"$tmp/results"
: >"$tmp/failures"

# --- the machine -----------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
echo "casyncio benchmarks, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc 2>/dev/null || echo '?') CPUs, $cpu; kernel $(uname -sr);" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?');" \
     "$("$PYTHON" -c 'import sys; print("Python", sys.version.split()[0])' 2>/dev/null || echo "no $PYTHON")"

have_uvloop=yes
uvloop_version=$("$PYTHON" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null) || have_uvloop=no
if [ "$have_uvloop" = yes ]; then
    echo "uvloop $uvloop_version"
else
    echo "uvloop is not installed for $PYTHON: the uvloop column is skipped. Install it with:"
    echo "    sudo apt-get install -y python3-uvloop"
fi
echo

# The fetch driver runs three programs, each several times: three times
# the bound.
limit_for() {
    case $1 in
    fetch) echo $((timeout_s * 3)) ;;
    *) echo "$timeout_s" ;;
    esac
}
if command -v timeout >/dev/null 2>&1; then
    bounded() { timeout "$(limit_for "$name")" "$@"; }
else
    echo "run.sh: no timeout(1); runs are not bounded in time" >&2
    bounded() { "$@"; }
fi

# run IMPL NAME COMMAND...: runs one program, keeps its RESULT lines.
run() {
    impl=$1 name=$2
    shift 2
    echo "--- $name [$impl]" >&2
    bounded "$@" >"$tmp/out"
    rc=$?
    # Keep only well-formed lines: RESULT name metric value unit, or
    # RESULT[IMPL] ... from a driver that runs several programs itself.
    awk -v impl="$impl" '
        $1 == "RESULT" && NF == 5 { print impl, $2, $3, $4, $5 }
        $1 ~ /^RESULT\[[a-z0-9_]+\]$/ && NF == 5 { print substr($1, 8, length($1) - 8), $2, $3, $4, $5 }
    ' "$tmp/out" >>"$tmp/results"
    if [ $rc -ne 0 ]; then
        if [ $rc -eq 124 ]; then why="timed out after $(limit_for "$name") s"; else why="exit status $rc"; fi
        echo "run.sh: $name [$impl] failed: $why" >&2
        echo "$impl $name $why" >>"$tmp/failures"
    fi
    return 0
}

# What a benchmark's programs run inside (a server), and its extra columns.
wrapper() {
    case $1 in
    http_get | http_semaphore | fetch) echo "sh $here/http_server.sh" ;;
    esac
}
extras() {
    case $1 in
    http_get) echo "curl wrk" ;;
    http_semaphore) echo "curl" ;;
    esac
}
# The implementations a driver script runs.
driver_impls() {
    case $1 in
    fetch) echo all ;; # casyncio, curl and aria2c interleaved: RESULT[IMPL] lines
    *) echo "casyncio asyncio uvloop" ;;
    esac
}

for b in $benchmarks; do
    # A driver without a Python twin (echo) runs every implementation
    # itself; http_get.sh only runs the extra clients (curl, wrk).
    if [ -f "$here/$b.sh" ] && [ ! -f "$here/$b.py" ]; then
        w=$(wrapper "$b")
        for impl in $(driver_impls "$b"); do
            [ "$impl" = uvloop ] && [ "$have_uvloop" != yes ] && continue
            run "$impl" "$b" env PYTHON="$PYTHON" $w sh "$here/$b.sh" "$bindir" "$impl"
            if [ "$impl" = casyncio ] && [ -n "$baseline" ]; then
                run baseline "$b" env PYTHON="$PYTHON" $w sh "$here/$b.sh" "$baseline" casyncio
            fi
        done
        continue
    fi
    w=$(wrapper "$b")
    if [ -x "$bindir/$b" ]; then
        run casyncio "$b" $w "$bindir/$b"
    else
        echo "run.sh: $bindir/$b: no such program (build it first: make bench)" >&2
        echo "casyncio $b missing" >>"$tmp/failures"
    fi
    if [ -n "$baseline" ]; then
        if [ -x "$baseline/$b" ]; then
            run baseline "$b" $w "$baseline/$b"
        else
            echo "baseline $b missing" >>"$tmp/failures"
        fi
    fi
    run asyncio "$b" $w "$PYTHON" "$here/$b.py"
    if [ "$have_uvloop" = yes ]; then
        run uvloop "$b" $w "$PYTHON" "$here/$b.py" --uvloop
    fi
    for x in $(extras "$b"); do
        run "$x" "$b" $w sh "$here/$b.sh" "$x"
    done
done
echo >&2

# --- the table ---------------------------------------------------------------
# Every metric is "lower is better" (time, memory, lateness), so each ratio is
# other / casyncio: bigger means casyncio is faster (or smaller), 1.0x a tie,
# below 1.0x casyncio loses.
awk -v have_uvloop="$have_uvloop" -v failures="$tmp/failures" '
function fmt(v,  a) {
    if (v == "") return "-"
    a = v < 0 ? -v : v
    if (a >= 100) return sprintf("%.0f", v)
    if (a >= 10) return sprintf("%.1f", v)
    return sprintf("%.2f", v)
}
function ratio(other, base, u,  r) {
    if (other == "" || base == "" || base + 0 <= 0 || other + 0 <= 0) return "-"
    # A rate (req/s, conn/s, pkt/s) is higher-is-better: casyncio / other instead.
    r = u ~ /\/s$/ ? base / other : other / base
    if (r >= 1) return sprintf("%.1fx", r)
    return sprintf("%.2gx", r)
}
BEGIN {
    # The targets of the issue that set up the foundation.
    target["spawn ns_per_task"] = "<= 40"
    target["switch ns_per_switch"] = "<= 20"
    target["gather overhead_ms"] = "<= 2"
    # Cold starts (issue 18): each figure in a fresh process.
    target["cold cold_ns_per_task"] = "<= 100, uvl/cas >= 50x"
    target["cold warm_ns_per_task"] = "<= 40"
    target["cold cold_gather_overhead_ms"] = "<= 8"
    target["cold warm_gather_overhead_ms"] = "<= 2"
    target["process read_big_64MiB_ms"] = "asy/cas >= 1.5x"
    target["process read_pipe_64MiB_ms"] = "asy/cas >= 1.5x"
    target["process communicate_64MiB_ms"] = "uvl/cas >= 1.5x"
    target["sleep_memory bytes_per_task_1m"] = "<= 4608"
    target["timer_lateness p99_ms"] = "<= 1.5"
    # Structured concurrency (issue 3): a ratio, not a time.
    target["wait_for ns_per_wait_for"] = "uvl/cas >= 50x"
    target["taskgroup ns_per_group"] = "uvl/cas >= 50x"
    target["timeout ns_per_scope_sleep0"] = "uvl/cas >= 50x"
    target["timeout ns_per_scope_done"] = "uvl/cas >= 50x"
    target["queues ns_per_item"] = "<= 20 (50 M/s)"
    target["lock ns_per_handoff_2"] = "uvl/cas >= 30x"
    target["lock ns_per_handoff_100"] = "uvl/cas >= 30x"
    target["semaphore ns_per_worker"] = "uvl/cas >= 30x"
    target["executor trivial_ns_per_job"] = "<= 2000"
    target["executor sleep_1ms_x10k_s"] = "<= 0.4"
    target["executor round_trip_p99_us"] = "<= 50"
    # Streams (issue 7): CPU per echo, against the raw libuv server.
    target["echo protocol_cpu_us_per_req"] = "<= 1.05x raw_uv, uvl/cas >= 3x"
    target["echo streams_cpu_us_per_req"] = "<= 1.2x raw_uv, uvl/cas >= 3x"
    # TLS (the TLS issue): CPU per echo against uvloop and against the same
    # server without TLS plus the cost of OpenSSL alone (*_over_plain_crypto
    # ratio); new connections per second against openssl s_server.
    target["tls_echo streams_cpu_us_per_req"] = "uvl/cas >= 3x, <= 1.15x plain+crypto"
    target["tls_echo protocol_cpu_us_per_req"] = "uvl/cas >= 3x, <= 1.15x plain+crypto"
    target["tls_echo streams_over_plain_crypto"] = "<= 1.15"
    target["tls_echo protocol_over_plain_crypto"] = "<= 1.15"
    target["tls_handshake streams_conn_per_s"] = ">= 0.9x s_server, >= 3x uvloop"
    target["tls_handshake protocol_conn_per_s"] = ">= 0.9x s_server, >= 3x uvloop"
    target["tls_handshake streams_of_s_server"] = ">= 0.9"
    target["tls_handshake protocol_of_s_server"] = ">= 0.9"
    # Datagrams (issue 15): CPU per echoed datagram, against raw libuv.
    target["udp_echo endpoint_cpu_us_per_pkt"] = "<= 1.1x raw_uv"
    # PostgreSQL (issue 15): queries per second, higher is better.
    target["postgres queries_per_s"] = "uvl/cas >= 1.5x"
    # HTTP (issue 6): requests per second, higher is better.
    target["http_get get_1k_req_s"] = ">= 45000"
    target["http_get get_100k_req_s"] = ">= 20000"
    # casyncio-fetch (issue 16): against curl --parallel and aria2c.
    target["fetch small_req_s"] = ">= 1.5x curl, >= 3x aria2c"
    target["fetch small_shm_req_s"] = ">= 1.5x curl, >= 3x aria2c"
    target["fetch big_mb_s"] = ">= 1.0x curl"
    target["fetch big_peak_rss_kib"] = "bounded"
    # The aiohttp idiom (issue 18): within 10% of the 64 workers of the
    # same run, and 1.3x curl --parallel (the second table).
    target["http_semaphore get_1k_req_s"] = ">= 1.3x curl"
    target["http_semaphore get_100k_req_s"] = ">= 1.3x curl"
    target["http_semaphore sem_over_workers_1k"] = ">= 0.9"
    target["http_semaphore sem_over_workers_100k"] = ">= 0.9"
    while ((getline line < failures) > 0) {
        split(line, f, " ")
        failed[f[1] " " f[2]] = 1
    }
}
{
    key = $2 " " $3
    if (!(key in seen)) { seen[key] = 1; order[++n] = key; unit[key] = $5 }
    val[$1 " " key] = $4
    if ($1 == "baseline") has_baseline[key] = 1
    else if ($1 != "casyncio" && $1 != "asyncio" && $1 != "uvloop") {
        has_extra[key] = 1
        if (!($1 in extra_seen)) { extra_seen[$1] = 1; extra_impl[++nextra] = $1 }
    }
}
END {
    hdr = sprintf("%-16s %-30s %-6s %10s %10s %10s %9s %9s  %s", "benchmark", "metric", "unit",
                  "casyncio", "asyncio", "uvloop", "asy/cas", "uvl/cas", "target")
    print hdr
    gsub(/./, "-", hdr); print hdr
    for (i = 1; i <= n; i++) {
        key = order[i]; split(key, k, " ")
        c = val["casyncio " key]; a = val["asyncio " key]; u = val["uvloop " key]
        cs = c == "" ? (("casyncio " k[1]) in failed ? "failed" : "-") : fmt(c)
        as = a == "" ? (("asyncio " k[1]) in failed ? "failed" : "-") : fmt(a)
        us = have_uvloop != "yes" ? "skipped" : u == "" ? (("uvloop " k[1]) in failed ? "failed" : "-") : fmt(u)
        printf "%-16s %-30s %-6s %10s %10s %10s %9s %9s  %s\n", k[1], k[2], unit[key], cs, as, us,
               ratio(a, c, unit[key]), have_uvloop == "yes" ? ratio(u, c, unit[key]) : "skipped", \
               (key in target) ? target[key] : ""
    }
    extra = 0
    for (i = 1; i <= n; i++) if (order[i] in has_extra) extra = 1
    if (extra) {
        # Other clients (curl, wrk, aria2c) on the benchmarks that have them.
        print ""
        line = sprintf("%-16s %-30s %-6s %10s", "benchmark", "metric", "unit", "casyncio")
        for (x = 1; x <= nextra; x++) line = line sprintf(" %10s", extra_impl[x])
        for (x = 1; x <= nextra; x++) line = line sprintf(" %9s", "cas/" extra_impl[x])
        print line
        for (i = 1; i <= n; i++) {
            key = order[i]; if (!(key in has_extra)) continue
            split(key, k, " ")
            c = val["casyncio " key]
            line = sprintf("%-16s %-30s %-6s %10s", k[1], k[2], unit[key], fmt(c))
            for (x = 1; x <= nextra; x++) {
                e = val[extra_impl[x] " " key]
                line = line sprintf(" %10s", e != "" ? fmt(e) : \
                    ((extra_impl[x] " " k[1]) in failed ? "failed" : "-"))
            }
            for (x = 1; x <= nextra; x++)
                line = line sprintf(" %9s", ratio(val[extra_impl[x] " " key], c, unit[key]))
            print line
        }
    }
    before = 0
    for (i = 1; i <= n; i++) if (order[i] in has_baseline) before = 1
    if (before) {
        # BENCH_BASELINE: the same C programs built from an older commit.
        print ""
        printf "%-16s %-30s %-6s %10s %10s %9s\n", "benchmark", "metric", "unit",
               "before", "after", "bef/aft"
        for (i = 1; i <= n; i++) {
            key = order[i]; if (!(key in has_baseline)) continue
            split(key, k, " ")
            c = val["casyncio " key]; bl = val["baseline " key]
            printf "%-16s %-30s %-6s %10s %10s %9s\n", k[1], k[2], unit[key],
                   bl == "" ? "-" : fmt(bl), c == "" ? "-" : fmt(c), ratio(bl, c, unit[key])
        }
    }
    print ""
    print "Every metric is lower-is-better but rates (req/s, conn/s, pkt/s); asy/cas = asyncio / casyncio and"
    print "uvl/cas = uvloop / casyncio (for a rate: casyncio / asyncio, casyncio / uvloop), so a ratio"
    print "above 1.0x means casyncio is that many times faster (or smaller). The target column applies"
    print "to casyncio. wrk (HTTP) is the ceiling of the server, not a client to beat; curl and aria2c"
    print "(fetch) are the downloaders casyncio-fetch is measured against. Unit x: a ratio"
    print "the benchmark computed itself (tls_echo *_over_plain*: lower is better; tls_handshake"
    print "*_of_s_server: casyncio / openssl s_server, higher is better)."
    if (before) print "bef/aft = before / after (BENCH_BASELINE / the current build): below 1.0x is a slowdown."
}' "$tmp/results"

status=0
if [ -s "$tmp/failures" ]; then
    echo
    echo "Failures:"
    sed 's/^/    /' "$tmp/failures"
    grep -q '^casyncio ' "$tmp/failures" && status=1
fi
exit $status
