#!/bin/sh
# casyncio-fetch against a server that misbehaves (tests/fetch/server.py):
# 503 half of the time, Retry-After, connections reset mid-body, Range
# ignored, resources that change between attempts, slow and stalled
# bodies; retries, resume (-c and within a run), checksums, error bodies,
# --json, --per-host, --limit-rate, headers, compression, redirects, a
# proxy from the environment, URL files.  No check depends on timing but
# for lower bounds (a rate limit cannot make a transfer faster).
#
#   sh tests/fetch/misbehave.sh PATH-TO-FETCH
fetch=${1:?usage: sh tests/fetch/misbehave.sh PATH-TO-FETCH}
. "$(dirname "$0")/lib.sh"

www=$tmp/www
mkdir -p "$www"
head -c 300000 /dev/urandom >"$www/a.bin"
head -c 20000 /dev/urandom >"$www/small.bin"
seq 1 20000 >"$www/text.txt"
start_misbehave "$www"
closed=$(free_port)
sha() { sha256sum "$1" | cut -d' ' -f1; }
# fresh NAME: an empty directory $tmp/NAME.
fresh() { rm -rf "$tmp/$1"; mkdir -p "$tmp/$1"; d=$tmp/$1; }
nfiles() { ls -A "$1" | wc -l; }
R="--retry-delay 0.01"

# --- 503 half of the time: every URL retried once, every body saved
fresh flaky
i=0; : >"$tmp/urls"
while [ $i -lt 20 ]; do echo "$mb/flaky/small.bin?n=$i	s$i" >>"$tmp/urls"; i=$((i + 1)); done
: >"$mblog"
run -j 8 --retry 3 $R -o "$d" -i "$tmp/urls"
expect_rc 0 "503 half of the time, --retry 3"
good=0
for f in "$d"/s*; do cmp -s "$f" "$www/small.bin" && good=$((good + 1)); done
[ "$good" -eq 20 ] && [ "$(nfiles "$d")" -eq 20 ] && ok "20 files, all the server's bytes" ||
    bad "$good good files of $(nfiles "$d")"
expect_out '^retries:  20 (of 20 URLs)$' "summary: 20 retries"
[ "$(grep -c '^RETRY 1/3 after .* HTTP 503 Service Unavailable$' "$tmp/err")" -eq 20 ] &&
    ok "a RETRY line per URL, naming it and the status" || { bad "RETRY lines"; show; }
[ "$(count_log ' -> 503$')" -eq 20 ] && [ "$(count_log ' -> 200$')" -eq 20 ] &&
    ok "the server saw 20 503s and 20 200s" || bad "server log: $(count_log .) requests"

# --- the same without --retry: failures, and no error body saved anywhere
fresh flaky0
: >"$tmp/urls"
i=0; while [ $i -lt 4 ]; do echo "$mb/flaky/small.bin?m=$i" >>"$tmp/urls"; i=$((i + 1)); done
run -o "$d" -i "$tmp/urls"
expect_rc 1 "503s without --retry"
expect_out '^failure:  4 HTTP status >= 400$' "four failures"
expect_out '^FAIL HTTP status >= 400 .* s http://.*/flaky/small.bin?m=0: HTTP 503 Service Unavailable$' \
    "the failure's line names the URL and the status"
[ "$(nfiles "$d")" -eq 0 ] && ok "no error body saved" || bad "files: $(ls "$d")"
run -o "$d" --content-on-error "$mb/status/404"
expect_rc 1 "--content-on-error"
[ ! -e "$d/404" ] && [ "$(cat "$d/404.error" 2>/dev/null)" = "error 404" ] &&
    ok "the error body is saved as 404.error, nothing as 404" || bad "files: $(ls "$d")"
expect_out "HTTP 404 Not Found (body saved as $d/404.error)" "its line says where"

fresh errname
printf '%s\tpage\n%s\tpage.error\n' "$mb/status/404" "$mb/ok/small.bin" >"$tmp/errname.urls"
run -j 1 -o "$d" --content-on-error -i "$tmp/errname.urls"
expect_rc 1 "--content-on-error, and another URL named page.error"
same "$d/page.error" "$www/small.bin" "page.error is the URL that has that name"
[ "$(cat "$d/page.error.1" 2>/dev/null)" = "error 404" ] && [ "$(nfiles "$d")" -eq 2 ] &&
    ok "the error body takes the next free name" || bad "files: $(ls "$d")"
expect_out "HTTP 404 Not Found (body saved as $d/page.error.1)" "its line says where"

# --- a URL or a response header too long for curl: said so, not "Out of memory"
echo "$mb/any/$(head -c 1100000 /dev/zero | tr '\0' a)" >"$tmp/long"
run -i "$tmp/long"
expect_rc 1 "a URL of 1.1 MB"
expect_out ': the URL is too long (1100[0-9]* bytes; at most 1000000)$' "the line says the URL is too long"
run "$mb/bigheader/200000"
expect_rc 1 "a response header of 200 KB"
expect_out '/bigheader/200000: a response header is too long' "the line says a header is too long"
no_out 'Out of memory' "neither says 'Out of memory'"

# --- Retry-After, in seconds and as a date; beyond --retry-max-time
: >"$mblog"
run --retry 2 $R "$mb/later/1/small.bin"
expect_rc 0 "Retry-After: 1"
expect_out '^RETRY 1/2 after 1.00 s: ' "waited what the server said"
[ "$(count_log '^GET /later/1/small.bin ')" -eq 2 ] && ok "two requests" || bad "$(count_log .) requests"
run --retry 2 $R "$mb/later/2/small.bin?date=1"
expect_rc 0 "Retry-After as an HTTP date"
expect_out '^RETRY 1/2 after [12]\.[0-9]* s: ' "waited until that date"
run --retry 2 $R "$mb/later/0/small.bin?status=429"
expect_rc 0 "429 Too Many Requests is retried"
: >"$mblog"
run --retry 5 $R --retry-max-time 5 "$mb/later/30/small.bin"
expect_rc 1 "Retry-After beyond --retry-max-time"
expect_out "HTTP 503 Service Unavailable (the server's Retry-After of 30 s goes beyond --retry-max-time)" \
    "gives up at once, saying why"
[ "$(count_log .)" -eq 1 ] && ok "one request" || bad "$(count_log .) requests"

# --- what is retried and what is not
: >"$mblog"
run --retry 2 $R "$mb/status/503"
expect_rc 1 "503 every time, --retry 2"
expect_out 'HTTP 503 Service Unavailable (3 attempts, no retry left)$' "three attempts, then why"
[ "$(count_log '/status/503')" -eq 3 ] && ok "three requests" || bad "$(count_log .) requests"
: >"$mblog"
run --retry 3 $R "$mb/status/404"
expect_rc 1 "404 with --retry"
[ "$(count_log '/status/404')" -eq 1 ] && ok "a 404 is not retried" || bad "$(count_log .) requests"
: >"$mblog"
run --retry 1 $R "$mb/status/408"
expect_rc 1 "408 every time, --retry 1"
[ "$(count_log '/status/408')" -eq 2 ] && ok "a 408 is retried" || bad "$(count_log .) requests"
expect_out 'HTTP 408 Request Timeout (2 attempts, no retry left)$' "408: two attempts, then why"
run --retry 2 $R "http://127.0.0.1:$closed/x"
expect_rc 1 "connection refused, --retry 2"
[ "$(grep -c '^RETRY .*Failed to connect to 127.0.0.1 port' "$tmp/err")" -eq 2 ] &&
    ok "connection refused is retried, curl's words in the line" || { bad "RETRY lines"; show; }
expect_out "^failure:  1 Couldn't connect to server$" "its kind, in curl's words"

# --- a reset mid-body: the retry continues where it stopped
for variant in "" "?fin=1"; do
    fresh reset
    : >"$mblog"
    run --retry 2 $R -o "$d" "$mb/reset/a.bin$variant"
    expect_rc 0 "reset mid-body${variant:+ ($variant: closed, not reset)}, --retry 2"
    same "$d/a.bin" "$www/a.bin" "the file is byte for byte the server's"
    expect_out "^206 .* -> $d/a.bin (resumed from byte [1-9][0-9]*)$" "its line says it was resumed"
    grep -q '^GET /reset/a.bin.* range=bytes=[1-9][0-9]*- if-range="[^"]*" ae=identity -> 206$' "$mblog" &&
        ok "the retry asked for the rest: Range, If-Range with the ETag, no compression" ||
        { bad "no Range request"; cat "$mblog"; }
done

# --- a server that ignores Range, and a resource that changed: whole again
fresh norange
: >"$mblog"
run --retry 2 $R -o "$d" "$mb/norange/a.bin"
expect_rc 0 "Range ignored (200 to a Range)"
same "$d/a.bin" "$www/a.bin" "restarted cleanly: the file is the server's"
expect_out "(resume refused: fetched whole)$" "its line says it restarted"
grep -q 'range=bytes=.* -> 200$' "$mblog" && ok "the Range request got a 200" || bad "log"
run -c -o "$d" "$mb/norange/a.bin"
expect_out "^200 .* -> $d/a.bin " "the file that replaced the partial one is known as the URL's to -c"
fresh changed
run --retry 2 $R -o "$d" --json "$tmp/changed.json" "$mb/changed/a.bin"
expect_rc 0 "the resource changed between attempts (If-Range refused)"
same "$d/a.bin" "$www/a.bin" "the file is whole and right"
grep -q '"restarted": true' "$tmp/changed.json" && ok "the JSON record says restarted" || bad "json"

# --- without -c a failed transfer leaves no file; with -c it is kept and
# the next run continues it (If-Range from the file's attributes)
fresh nokeep
run -o "$d" "$mb/reset/a.bin?k=1"
expect_rc 1 "reset mid-body without --retry"
[ "$(nfiles "$d")" -eq 0 ] && ok "no partial file left" || bad "files: $(ls -l "$d")"
expect_out '(partial file removed)$' "its line says so"
expect_out '^status:   1xx 0, 2xx 0, 3xx 0, 4xx 0, 5xx 0$' "a 200 whose body was cut short is not counted as a 2xx"
fresh cont
run -c -o "$d" "$mb/reset/a.bin?k=2"
expect_rc 1 "-c: reset mid-body"
size=$(wc -c <"$d/a.bin" 2>/dev/null || echo 0)
[ "$size" -gt 0 ] && [ "$size" -lt 300000 ] && cmp -s -n "$size" "$d/a.bin" "$www/a.bin" &&
    ok "-c keeps the partial file ($size bytes, the server's first bytes)" || bad "partial: $size bytes"
expect_out "(partial file kept: $d/a.bin, $size bytes)" "its line says so"
: >"$mblog"
run -c -o "$d" --checksum "sha256=$(sha "$www/a.bin")" "$mb/reset/a.bin?k=2"
expect_rc 0 "-c: the next run"
same "$d/a.bin" "$www/a.bin" "-c completed the file byte for byte"
[ "$(nfiles "$d")" -eq 1 ] && ok "into the same file" || bad "files: $(ls "$d")"
expect_out "(resumed from byte $size)" "resumed where the first run stopped"
if $py -c 'import os, sys; os.setxattr(sys.argv[1], "user.t", b"1")' "$d/a.bin" 2>/dev/null; then
    grep -q "range=bytes=$size- if-range=\"" "$mblog" && ok "with If-Range: the ETag kept with the file" ||
        { bad "no If-Range"; cat "$mblog"; }
else
    echo "skip the If-Range check: no user extended attributes on $tmp"
fi
expect_out '^requests: 1 (1 ok, 0 failed)$' "the checksum covers the bytes of both runs"
run -c -o "$d" "$mb/reset/a.bin?k=2"
expect_rc 0 "-c on a complete file"
expect_out "^416 0 .* (already complete)$" "nothing fetched (416)"
same "$d/a.bin" "$www/a.bin" "the file is untouched"
# The 416 path hashes the file (300000 bytes: two chunks, the loop running
# between them) for --checksum.
run -c -o "$d" --checksum "sha256=$(sha "$www/a.bin")" "$mb/reset/a.bin?k=2"
expect_rc 0 "-c --checksum on a complete file (416)"
expect_out "^416 0 .* (already complete)$" "the checksum of the kept bytes is right"
run -c -o "$d" --checksum "sha256=$(sha "$www/small.bin")" "$mb/reset/a.bin?k=2"
expect_rc 1 "-c --checksum, wrong, on a complete file (416)"
expect_out '^FAIL checksum mismatch .*: sha256 of the body is ' "the 416 path checks it too"
fresh contnorange
head -c 5000 /dev/zero >"$d/a.bin"
$py -c 'import os, sys; os.setxattr(sys.argv[1], "user.casyncio-fetch.url", sys.argv[2].encode())' \
    "$d/a.bin" "$mb/norange/a.bin?k=3" 2>/dev/null
run -c -o "$d" "$mb/norange/a.bin?k=3" --retry 1 $R
expect_rc 0 "-c with a server that ignores Range"
same "$d/a.bin" "$www/a.bin" "the old bytes replaced: the server's file"

# -c adopts only a file saved from the same URL: names follow the input's
# order, so a rerun of some URLs must not continue another URL's file
fresh contother
printf '%s\tdata.bin\n%s\tdata.bin\n' "$mb/ok/a.bin" "$mb/ok/small.bin" >"$tmp/two"
run -c -o "$d" -i "$tmp/two"
expect_rc 0 "-c: two URLs named data.bin"
printf '%s\tdata.bin\n' "$mb/ok/small.bin" >"$tmp/one"
run -c -o "$d" -i "$tmp/one"
expect_rc 0 "-c: a rerun of the second URL alone"
same "$d/data.bin" "$www/a.bin" "the first URL's file is untouched"
same "$d/data.bin.1" "$www/small.bin" "the second URL's file is its own"
[ "$(nfiles "$d")" -eq 2 ] && ok "no third file" || bad "files: $(ls -A "$d")"
expect_out '^416 0 .* (already complete)$' "the second URL's file was found complete"
fresh contstale
run -c -o "$d" "$mb/ok/small.bin?noifrange=1"
head -c 20000 /dev/zero >"$d/small.bin.new"
cp --attributes-only --preserve=xattr "$d/small.bin" "$d/small.bin.new" 2>/dev/null
mv "$d/small.bin.new" "$d/small.bin"
$py -c 'import os, sys; os.setxattr(sys.argv[1], "user.casyncio-fetch.etag", b"\"stale\"")' "$d/small.bin" 2>/dev/null
run -c -o "$d" "$mb/ok/small.bin?noifrange=1"
expect_rc 0 "-c: a file of the right size with another ETag, a server that ignores If-Range"
no_out '(already complete)$' "its 416 is not taken as complete: the validators differ"
same "$d/small.bin" "$www/small.bin" "the file fetched again"

# -c: a 206 that ends before the file does is not a complete file: the
# rest is asked for
fresh contshort
run -c -o "$d" "$mb/shortrange/a.bin"
: >"$mblog"
run -c -o "$d" "$mb/shortrange/a.bin"
expect_rc 0 "-c: 206s of 10000 bytes each, the file 300000"
same "$d/a.bin" "$www/a.bin" "the file is whole"
[ "$(count_log ' -> 206$')" -eq 15 ] && ok "a Range for each rest (15)" || bad "$(count_log ' -> 206$') 206s"

# -c: a 200 to the Range restarts the body, but the old bytes stay until
# the new body is whole; a restart cut short leaves the partial file as it was
fresh contrestart
run -c -o "$d" "$mb/rangecut/a.bin"
size=$(wc -c <"$d/a.bin" 2>/dev/null || echo 0)
[ "$size" -eq 150000 ] && ok "-c: the first run kept half the file" || bad "partial: $size bytes"
run -c -o "$d" "$mb/rangecut/a.bin"
expect_rc 1 "-c: a restart (200 to a Range) cut short"
size=$(wc -c <"$d/a.bin" 2>/dev/null || echo 0)
[ "$size" -eq 150000 ] && cmp -s -n 150000 "$d/a.bin" "$www/a.bin" &&
    ok "the old partial file is kept, untouched" || bad "partial after the restart: $size bytes"
[ "$(nfiles "$d")" -eq 1 ] && ok "no temporary file left" || bad "files: $(ls -A "$d")"

# --- slow and stalled bodies, timeouts
fresh slow
run -o "$d" -m 0.5 "$mb/slow/a.bin?every=0.05&chunk=1000"
expect_rc 1 "a slow body, -m 0.5"
expect_out '^FAIL Timeout was reached .*slow/a.bin.*: Operation timed out after' \
    "a timeout, in curl's words"
[ "$(nfiles "$d")" -eq 0 ] && ok "no partial file left" || bad "files: $(ls "$d")"
run -o "$d" -m 0.3 --retry 1 $R "$mb/stall/a.bin"
expect_rc 1 "a stalled body, -m 0.3, --retry 1"
expect_out 'RETRY 1/1 .*stall/a.bin: Operation timed out' "timeouts are retried"
expect_out '(2 attempts, no retry left)' "then given up"
run --connect-timeout 0.5 "$mb/slow/small.bin?every=0.01&chunk=5000"
expect_rc 0 "--connect-timeout does not limit the body"

# --- checksums
run --checksum "sha256=$(sha "$www/small.bin")" "$mb/ok/small.bin"
expect_rc 0 "--checksum sha256, right"
fresh sum
run -o "$d" --checksum "sha-256=$(sha "$www/a.bin")" "$mb/ok/small.bin"
expect_rc 1 "--checksum sha256, wrong"
expect_out '^FAIL checksum mismatch .*: sha256 of the body is [0-9a-f]\{64\}, expected [0-9a-f]\{64\} (file removed)$' \
    "the line gives both checksums, and says the (whole) file was removed"
[ "$(nfiles "$d")" -eq 0 ] && ok "the wrong body is not kept" || bad "files: $(ls "$d")"
printf '%s\n  checksum=md5=%s\n%s\n  checksum=sha-1=%s\n' "$mb/ok/small.bin" \
    "$(md5sum "$www/small.bin" | cut -d' ' -f1)" "$mb/ok/a.bin" "$(sha1sum "$www/a.bin" | cut -d' ' -f1)" \
    >"$tmp/sums"
run -i "$tmp/sums"
expect_rc 0 "checksum= lines in a URL file (md5, sha-1)"
run --checksum sha256=abc "$mb/ok/small.bin"
expect_rc 2 "a checksum of the wrong length"
expect_out 'a sha256 checksum has 64 hex digits, not 3' "says what is wrong"
run --checksum crc32=00 "$mb/ok/small.bin"
expect_rc 2 "an unknown checksum type"

# --- --json: one record per URL
run --json "$tmp/j.json" --retry 1 $R "$mb/ok/small.bin" "$mb/status/404" "$mb/flaky/small.bin?j=1" \
    "http://127.0.0.1:$closed/x"
expect_rc 1 "--json"
if $py - "$tmp/j.json" "$mb" <<'PY'
import json, sys
recs = {r["url"]: r for r in map(json.loads, open(sys.argv[1]))}
mb = sys.argv[2]
ok = recs[mb + "/ok/small.bin"]
assert ok["result"] == "ok" and ok["status"] == 200 and ok["bytes"] == 20000, ok
assert ok["error"] is None and ok["retries"] == 0 and ok["seconds"] >= 0, ok
nf = recs[mb + "/status/404"]
assert nf["result"] == "failed" and nf["status"] == 404 and nf["error"] == "HTTP 404 Not Found", nf
fl = recs[mb + "/flaky/small.bin?j=1"]
assert fl["result"] == "ok" and fl["retries"] == 1 and fl["attempts"] == 2, fl
cr = [r for u, r in recs.items() if u.endswith("/x")][0]
assert cr["status"] is None and cr["kind"] == "Couldn't connect to server", cr
assert cr["error"].startswith("Failed to connect to 127.0.0.1 port"), cr
assert len(recs) == 4
PY
then ok "the JSON records: status, bytes, seconds, retries, error"; else bad "JSON records"; cat "$tmp/j.json"; fi

# The records are UTF-8 whatever the URL holds: surrogates (ED A0 80),
# overlong forms (E0 80 80, C0 AF), beyond U+10FFFF (F4 90 80 80), F5-FF
# replaced; a valid character (U+00E9) kept
run --json "$tmp/u.json" "http://127.0.0.1:$closed/$(printf '\355\240\200\340\200\200\364\220\200\200\300\257\365\377/\303\251')"
if $py - "$tmp/u.json" <<'PY'
import json, sys
rec = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
assert rec["url"].endswith("/\u00e9") and "\ufffd" in rec["url"], rec
PY
then ok "--json: invalid UTF-8 in a URL is replaced, the file is valid UTF-8"; else bad "JSON UTF-8"; od -c "$tmp/u.json" | head; fi

# A response cut short right after its headers: its status is known
run --json "$tmp/cut.json" "$mb/cutnow/a.bin"
expect_rc 1 "a 200 cut short after its headers"
$py -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(not (r["status"] == 200 and r["result"] == "failed"))' \
    "$tmp/cut.json" && ok "its JSON record has status 200" || { bad "JSON status"; cat "$tmp/cut.json"; }

# --- --per-host: never more in flight to one host; --limit-rate
curl -s "$mb/stats" >/dev/null
i=0; : >"$tmp/urls"
while [ $i -lt 6 ]; do echo "$mb/slow/small.bin?every=0.02&chunk=4000&p=$i" >>"$tmp/urls"; i=$((i + 1)); done
run -j 8 --per-host 2 -i "$tmp/urls"
expect_rc 0 "--per-host 2 -j 8"
inflight=$(curl -s "$mb/stats" | cut -d' ' -f2)
[ "$inflight" -le 2 ] && ok "at most 2 in flight at the server ($inflight)" || bad "$inflight in flight"
run -j 8 -i "$tmp/urls"
inflight=$(curl -s "$mb/stats" | cut -d' ' -f2)
[ "$inflight" -gt 2 ] && ok "without it, more ($inflight)" || echo "note: only $inflight in flight without --per-host"
# One host however it is spelled: http://h/, http://H:80/ (through a proxy)
curl -s "$mb/stats" >/dev/null
q='every=0.02&chunk=4000'
run -x "$mb" -j 8 --per-host 1 "http://nowhere.invalid/slow/small.bin?$q&h=1" \
    "http://NOWHERE.invalid:80/slow/small.bin?$q&h=2" "http://nowhere.invalid:80/slow/small.bin?$q&h=3"
expect_rc 0 "--per-host 1, one host spelled three ways"
inflight=$(curl -s "$mb/stats" | cut -d' ' -f2)
[ "$inflight" -eq 1 ] && ok "one host: h, H:80 and h:80 share its limit ($inflight in flight)" ||
    bad "$inflight in flight"
fresh rate
run -o "$d" --limit-rate 400K --json "$tmp/rate.json" "$mb/ok/a.bin"
expect_rc 0 "--limit-rate 400K"
same "$d/a.bin" "$www/a.bin" "the body is whole"
# A lower bound only: 300,000 bytes at 409,600 B/s take at least ~0.6 s
# (less the burst credit and what the buffers held before the first wait).
$py -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r["seconds"] < 0.4)' "$tmp/rate.json" &&
    ok "it took the time the rate asks for" || bad "too fast: $(cat "$tmp/rate.json")"
run --limit-rate 0 "$mb/ok/a.bin"; expect_rc 2 "--limit-rate 0"
run --limit-rate 1Q "$mb/ok/a.bin"; expect_rc 2 "--limit-rate 1Q"

# --- headers, user agent, compression, redirects, a proxy
fresh hdr
run -o "$d" -H 'X-Test: one' -H 'Accept-Language: fr' -A 'agent/7' "$mb/headers"
expect_rc 0 "-H and -A"
grep -q '^X-Test: one$' "$d/headers" && grep -q '^Accept-Language: fr$' "$d/headers" &&
    grep -q '^User-Agent: agent/7$' "$d/headers" && ok "sent as given" || { bad "headers"; cat "$d/headers"; }
run -o "$d" --out h2 "$mb/headers"
grep -q '^User-Agent: casyncio-fetch/' "$d/h2" && grep -q '^Accept-Encoding: .*gzip' "$d/h2" &&
    ok "default User-Agent casyncio-fetch/VERSION; compression asked for" || { bad "defaults"; cat "$d/h2"; }
run -o "$d" "$mb/gzip/text.txt"
expect_rc 0 "a gzip-encoded body"
same "$d/text.txt" "$www/text.txt" "saved decoded"
run -c -o "$d" --out h3 "$mb/headers"
grep -q '^Accept-Encoding: identity$' "$d/h3" && ok "-c asks for bodies as stored (identity)" ||
    { bad "-c encoding"; cat "$d/h3"; }
run -H 'no colon' "$mb/headers"; expect_rc 2 "-H without a colon"
run -L -o "$d" "$mb/redirect/small.bin"
expect_rc 0 "-L follows a 302"
same "$d/small.bin" "$www/small.bin" "to the file"
run -o "$d" --out r0 "$mb/redirect/small.bin"
expect_rc 1 "without -L a 302 fails its URL"
expect_out '^FAIL .*redirect/small.bin: redirected to /ok/small.bin; use -L to follow$' \
    "the line says where it was redirected and how to follow"
[ ! -e "$d/r0" ] && ok "the 302's body is not saved as the URL's" || bad "files: $(ls "$d")"
fresh contredirect
run -c -o "$d" "$mb/rangeredirect/a.bin"
kept=$(wc -c <"$d/a.bin" 2>/dev/null || echo 0)
run -c -o "$d" "$mb/rangeredirect/a.bin"
expect_rc 1 "-c: a 302 to the Range, without -L"
expect_out 'redirected to /ok/a.bin; use -L to follow' "the line says so"
size=$(wc -c <"$d/a.bin" 2>/dev/null || echo 0)
[ "$size" -gt 0 ] && [ "$size" -eq "$kept" ] && cmp -s -n "$size" "$d/a.bin" "$www/a.bin" &&
    ok "the partial file is kept, untouched" || bad "partial after the 302: $size bytes, $kept before"
fresh proxy
http_proxy=$mb "$fetch" -o "$d" http://nowhere.invalid/any/p >"$tmp/out" 2>"$tmp/err"; rc=$?
expect_rc 0 "http_proxy from the environment (a host that does not resolve, through the proxy)"
[ "$(cat "$d/p" 2>/dev/null)" = hello ] && ok "the proxy's answer saved" || bad "proxy"
run -x "$mb" -o "$d" --out p2 http://nowhere.invalid/any/p
[ "$(cat "$d/p2" 2>/dev/null)" = hello ] && ok "-x PROXY" || bad "-x"

# --- shards: several threads, each with its own loop, share the URLs
fresh threads
i=0; : >"$tmp/urls"
while [ $i -lt 300 ]; do
    if [ $((i % 10)) -eq 0 ]; then echo "$mb/flaky/small.bin?th=$i"; else echo "$mb/ok/small.bin?th=$i"; fi
    i=$((i + 1))
done >"$tmp/urls"
echo "$mb/status/404" >>"$tmp/urls"
run --threads 3 -j 12 --retry 2 $R -o "$d" -i "$tmp/urls" --json "$tmp/th.json"
expect_rc 1 "--threads 3: 300 URLs and a 404"
expect_out '^requests: 301 (300 ok, 1 failed)$' "the summary counts every shard's URLs"
expect_out '^retries:  30 (of 30 URLs)$' "and their retries"
good=0
for f in "$d"/*; do cmp -s "$f" "$www/small.bin" && good=$((good + 1)); done
[ "$good" -eq 300 ] && [ "$(nfiles "$d")" -eq 300 ] && ok "300 files, each the server's" ||
    bad "$good good of $(nfiles "$d") files"
[ "$(ls "$d" | sort -u | wc -l)" -eq 300 ] && ls "$d" | grep -q '^small.bin.299$' &&
    ok "names unique across the shards (small.bin ... small.bin.299)" || bad "names: $(ls "$d" | head)"
[ "$(wc -l <"$tmp/th.json")" -eq 301 ] && ok "301 JSON records" || bad "$(wc -l <"$tmp/th.json") JSON records"
curl -s "$mb/stats" >/dev/null
i=0; : >"$tmp/urls"
while [ $i -lt 8 ]; do echo "$mb/slow/small.bin?every=0.02&chunk=4000&ph=$i" >>"$tmp/urls"; i=$((i + 1)); done
run --threads 4 -j 8 --per-host 2 -i "$tmp/urls"
expect_rc 0 "--threads 4 --per-host 2"
inflight=$(curl -s "$mb/stats" | cut -d' ' -f2)
[ "$inflight" -le 2 ] && ok "the host's URLs stay in one shard: at most 2 in flight ($inflight)" ||
    bad "$inflight in flight"
run --threads 0 "$mb/ok/small.bin"; expect_rc 2 "--threads 0"

# --- URL files: tab names, out= lines, options ignored, errors
fresh names
printf '%s\tfirst.bin\n%s\n  out=second.bin\n  dir=/elsewhere\n%s\n# %s\n' "$mb/ok/small.bin" \
    "$mb/ok/small.bin" "$mb/ok/small.bin" "$mb/ok/nope" >"$tmp/named"
run -o "$d" -i "$tmp/named"
expect_rc 0 "URL file with names"
[ -f "$d/first.bin" ] && [ -f "$d/second.bin" ] && [ -f "$d/small.bin" ] && [ "$(nfiles "$d")" -eq 3 ] &&
    ok "NAME after a tab, out= under the URL, else the URL's" || bad "files: $(ls "$d")"
expect_out "named:4: option 'dir' ignored" "an option it does not read is named with its line"
printf '  out=x\n%s\n' "$mb/ok/small.bin" >"$tmp/bad"
run -i "$tmp/bad"
expect_rc 2 "out= before any URL"
expect_out "bad:1: 'out=x' comes before any URL" "says where"
run -o "$d" --out cmd.bin "$mb/ok/small.bin" --out
expect_rc 2 "--out without a value"
run -o "$d" "$mb/ok/small.bin" --out late.bin
expect_rc 2 "--out after the last URL"
expect_out 'applies to the URL that follows it' "says why"

# --- options that save files, without -o: refused rather than a run that
# keeps nothing; names in a URL file are not refused
for opt in -c --content-on-error "--out x.bin"; do
    run $opt "$mb/ok/small.bin"
    expect_rc 2 "$opt without -o"
    expect_out "${opt%% *} saves files, but bodies are discarded: give -o DIR" "$opt without -o: why"
done
run -i "$tmp/named"
expect_rc 0 "a URL file with names, without -o"
expect_out '^bytes:    .*, counted and discarded: -o DIR saves them)$' "the summary says nothing was saved"
fresh fail
run -o "$d" -f "$mb/status/404" --fail "$mb/ok/small.bin"
expect_rc 1 "-f and --fail (curl's) are accepted"
[ "$(nfiles "$d")" -eq 1 ] && [ -f "$d/small.bin" ] && ok "-f: the 404 left no file" || bad "files: $(ls "$d")"

finish
