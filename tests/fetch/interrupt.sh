#!/bin/sh
# casyncio-fetch interrupted: SIGINT at random moments of a run of slow
# downloads.  Each time: exit status 130, the summary printed, no partial
# file left (every file in the directory is complete and the server's),
# the JSON records of every URL; with -c the partial files are kept and a
# second run completes them.  Also SIGINT while retries wait, SIGTERM, and
# a second SIGINT.
#
#   sh tests/fetch/interrupt.sh PATH-TO-FETCH
fetch=${1:?usage: sh tests/fetch/interrupt.sh PATH-TO-FETCH}
. "$(dirname "$0")/lib.sh"

www=$tmp/www
mkdir -p "$www"
head -c 60000 /dev/urandom >"$www/s.bin"
start_misbehave "$www"

# 30 URLs, 8 at once; each body takes 0.24-0.6 s (4,000 to 10,000 bytes
# every 40 ms): a run takes about 1.6 s.
: >"$tmp/urls"
i=0
while [ $i -lt 30 ]; do
    echo "$mb/slow/s.bin?every=0.04&chunk=$((4000 + i % 3 * 3000))&i=$i	f$i" >>"$tmp/urls"
    i=$((i + 1))
done

# interrupt DIR DELAY SIGNAL ARGS...: starts a run, sends SIGNAL after
# DELAY seconds, waits; $rc, $tmp/err.
interrupt() {
    dir=$1 delay=$2 sig=$3
    shift 3
    "$fetch" -j 8 -o "$dir" -i "$tmp/urls" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null &
    p=$!
    sleep "$delay"
    kill "-$sig" "$p" 2>/dev/null
    wait "$p"
    rc=$?
}

# Random moments: from before the first body ends to near the end.
for delay in $($py -c 'import random; print(" ".join("%.2f" % random.uniform(0.05, 1.5) for _ in range(5)))'); do
    rm -rf "$tmp/d"
    interrupt "$tmp/d" "$delay" INT --json "$tmp/int.json"
    if [ "$rc" -ne 130 ] && grep -q '^requests: 30 (30 ok' "$tmp/err"; then
        ok "SIGINT after $delay s: the run had ended (exit $rc)"
        continue
    fi
    expect_rc 130 "SIGINT after $delay s"
    expect_out '^requests: 30 ([0-9]* ok, 0 failed, [0-9]* not finished)$' "  the summary, with what did not finish"
    expect_out '^stopped:  interrupted (SIGINT): ' "  says it was interrupted"
    nok=$(sed -n 's/^requests: 30 (\([0-9]*\) ok.*/\1/p' "$tmp/err")
    files=0 whole=0
    for f in "$tmp"/d/*; do
        [ -e "$f" ] || continue
        files=$((files + 1))
        cmp -s "$f" "$www/s.bin" && whole=$((whole + 1))
    done
    if [ "$files" -eq "$whole" ] && [ "$files" -eq "${nok:-x}" ]; then
        ok "  no partial file: $files files, each complete, one per URL that finished"
    else
        bad "  $files files, $whole complete, $nok finished"; ls -l "$tmp/d"
    fi
    n=$(grep -c '"result": "interrupted"\|"result": "not started"' "$tmp/int.json")
    [ "$(wc -l <"$tmp/int.json")" -eq 30 ] && [ "$n" -eq $((30 - nok)) ] &&
        ok "  30 JSON records, $n of them interrupted or not started" || bad "  JSON: $(wc -l <"$tmp/int.json") records"
done

# -c keeps the partial files; a second run completes them.
rm -rf "$tmp/c"
interrupt "$tmp/c" 0.3 INT -c
expect_rc 130 "-c: SIGINT"
kept=$(grep -c '(partial file kept: ' "$tmp/err")
[ "$kept" -gt 0 ] && ok "-c: $kept partial files kept" || { bad "-c: no partial file kept"; show; }
prefix=0
for f in "$tmp"/c/*; do
    n=$(wc -c <"$f")
    cmp -s -n "$n" "$f" "$www/s.bin" && prefix=$((prefix + 1))
done
[ "$prefix" -eq "$(ls "$tmp/c" | wc -l)" ] && ok "-c: each file is the server's first bytes" ||
    bad "-c: $prefix of $(ls "$tmp/c" | wc -l) files are prefixes"
"$fetch" -c -j 8 -o "$tmp/c" -i "$tmp/urls" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
expect_rc 0 "-c: the second run"
whole=0
for f in "$tmp"/c/*; do cmp -s "$f" "$www/s.bin" && whole=$((whole + 1)); done
[ "$whole" -eq 30 ] && [ "$(ls "$tmp/c" | wc -l)" -eq 30 ] && ok "-c: 30 complete files" ||
    bad "-c: $whole complete of $(ls "$tmp/c" | wc -l)"
expect_out '(resumed from byte [1-9][0-9]*)$' "-c: partial files were resumed, not fetched again"

# The same with three shards (threads): every one stops.
rm -rf "$tmp/th"
interrupt "$tmp/th" 0.6 INT --threads 3 --json "$tmp/th.json"
expect_rc 130 "--threads 3: SIGINT"
expect_out '^requests: 30 ([0-9]* ok, 0 failed, [0-9]* not finished)$' "--threads 3: the summary"
nok=$(sed -n 's/^requests: 30 (\([0-9]*\) ok.*/\1/p' "$tmp/err")
whole=0
for f in "$tmp"/th/*; do [ -e "$f" ] && cmp -s "$f" "$www/s.bin" && whole=$((whole + 1)); done
[ "$whole" -eq "$(ls -A "$tmp/th" | wc -l)" ] && [ "$whole" -eq "${nok:-x}" ] &&
    ok "--threads 3: no partial file ($whole complete)" || bad "--threads 3: $(ls -l "$tmp/th")"
[ "$(wc -l <"$tmp/th.json")" -eq 30 ] && ok "--threads 3: 30 JSON records" || bad "JSON"

# SIGINT while retries wait: at once, the waits dropped.
"$fetch" --retry 5 --retry-delay 30 "$mb/status/503" "$mb/status/502" >"$tmp/out" 2>"$tmp/err" &
p=$!
i=0
until [ "$(grep -c '^RETRY' "$tmp/err")" -eq 2 ] || [ $i -gt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT "$p"
wait "$p"
rc=$?
expect_rc 130 "SIGINT while two retries wait 30 s"
expect_out '^CANCELLED .*/status/503: interrupted while waiting to retry (after HTTP 503 Service Unavailable)$' \
    "the line says what it was waiting for"
expect_out '^requests: 2 (0 ok, 0 failed, 2 not finished)$' "both not finished"

# A Retry-After of months is capped (at 600 s, --retry-max-time allowing
# no more), and the line says so; SIGINT then ends the wait.
# (stderr emptied first: a RETRY line of an earlier run must not send the
# SIGINT before the program has its handler.)
for after in "10000000/s.bin" "1000000000/s.bin?date=1"; do
    : >"$tmp/err"
    "$fetch" --retry 1 "$mb/later/$after" >"$tmp/out" 2>"$tmp/err" &
    p=$!
    i=0
    until grep -q "^RETRY .*/later/${after%%/*}/" "$tmp/err" || [ $i -gt 200 ]; do sleep 0.05; i=$((i + 1)); done
    kill -INT "$p"
    wait "$p"
    rc=$?
    expect_rc 130 "Retry-After ${after%%/*} s: SIGINT while waiting"
    expect_out "^RETRY 1/1 after 600.00 s: .*: HTTP 503 Service Unavailable (the server's Retry-After of [0-9]* s, capped at 600 s)$" \
        "Retry-After ${after%%/*} s: waits at most 600 s, and says so"
done

# SIGTERM as SIGINT, with 128 + 15.
rm -rf "$tmp/t"
interrupt "$tmp/t" 0.2 TERM
expect_rc 143 "SIGTERM"
expect_out '^stopped:  terminated (SIGTERM): ' "the summary says so"

# Two SIGINTs at once: the second one, if it comes before the run is
# over, ends the process at once (the default action: killed by SIGINT).
rm -rf "$tmp/2"
"$fetch" -j 8 -o "$tmp/2" -i "$tmp/urls" >"$tmp/out" 2>"$tmp/err" </dev/null &
p=$!
sleep 0.2
kill -INT "$p" 2>/dev/null; kill -INT "$p" 2>/dev/null
wait "$p"
rc=$?
expect_rc 130 "two SIGINTs"

# SIGINT on a terminal, once the bar shows transfers in flight: the bar's
# last state says how far the run got and that it stopped (not "100%"),
# then the summary; exit 130, no partial file.
rm -rf "$tmp/tty"
if $py -B - "$here" "$fetch" "$tmp/tty.log" -j 8 -o "$tmp/tty" -i "$tmp/urls" <<'PY'
import re, sys
sys.path.insert(0, sys.argv[1])
import ptyrun
text, bars, status = ptyrun.run([sys.argv[2]] + sys.argv[4:], 120, sys.argv[3], sigint_on=" 8 active")
assert bars and " 8 active" in text, "no bar with 8 transfers in flight"
last = bars[-1]
# A transfer may end between the bar that showed 8 and the signal.
assert "100%" not in last and " stopped " in last and re.search(" [1-8] cancelled", last), last
assert "/30 done" in last and "30/30 done" not in last, last
assert "requests: 30 (" in text and re.search("SIGINT.: [1-8] cancelled", text), "no summary"
assert status == 130, status
PY
then ok "SIGINT on a terminal: the bar says stopped and what was cancelled, then the summary"
else bad "SIGINT on a terminal: see below"; tr '\r' '\n' <"$tmp/tty.log" | tail -n 12; fi
[ "$(ls -A "$tmp/tty" 2>/dev/null | wc -l)" -eq "$(ls "$tmp/tty" 2>/dev/null | while read -r f; do
    cmp -s "$tmp/tty/$f" "$www/s.bin" && echo; done | wc -l)" ] &&
    ok "  on a terminal: no partial file" || bad "  on a terminal: $(ls -l "$tmp/tty")"

# SIGINT before any response: nothing started is left behind.
rm -rf "$tmp/e"
interrupt "$tmp/e" 0.05 INT
expect_rc 130 "SIGINT at once"
[ "$(ls -A "$tmp/e" | wc -l)" -eq 0 ] && ok "no file" || { bad "files: $(ls "$tmp/e")"; }

finish
