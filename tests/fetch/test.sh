#!/bin/sh
# casyncio-fetch against a local server: Python's http.server on a free
# 127.0.0.1 port, started and stopped here.
#
#   sh tests/fetch/test.sh PATH-TO-FETCH
#
# Checks files written and their content, safe and unique file names,
# summary counts, -i input (file and stdin), -L, -t, exit statuses (404,
# connection refused, usage errors).  Prints one line per check; exits 1
# if any failed.  Under ASan give it ASAN_OPTIONS=quarantine_size_mb=1
# (the quarantine of freed memory would count as RSS); under valgrind
# FETCH_TEST_NO_RSS=1 skips the memory check.
fetch=${1:?usage: sh tests/fetch/test.sh PATH-TO-FETCH}
. "$(dirname "$0")/lib.sh"

# --- the server's files
www=$tmp/www
mkdir -p "$www/sub" "$www/deep/er"
head -c 200000 /dev/urandom >"$www/a.bin"
echo hello >"$www/sub/b.txt"
printf 'same name, other dir\n' >"$www/deep/er/b.txt"
head -c 33554432 /dev/urandom >"$www/big.bin"

start_httpd "$www"
start_misbehave "$www"
# A port that accepts connections (the kernel's backlog) but never answers.
mute=$(free_port)
$py -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(600)' "$mute" &
pids="$pids $!"
# A port nothing listens on: connection refused.
closed=$(free_port)

# --- files written, content, unique names
out=$tmp/out1
run -o "$out" -j 4 "$base/a.bin" "$base/sub/b.txt" "$base/deep/er/b.txt" "$base/a.bin" "$base/"
expect_rc 0 "five downloads to a directory"
if cmp -s "$out/a.bin" "$www/a.bin" && cmp -s "$out/a.bin.1" "$www/a.bin"; then
    ok "a.bin and its duplicate a.bin.1 have the server's content"
else bad "a.bin / a.bin.1 differ from the server's"; fi
if [ -f "$out/b.txt" ] && [ -f "$out/b.txt.1" ] && cat "$out/b.txt" "$out/b.txt.1" | sort |
    cmp -s - "$(cat "$www/sub/b.txt" "$www/deep/er/b.txt" | sort >"$tmp/bb"; echo "$tmp/bb")"; then
    ok "two b.txt from two paths: b.txt and b.txt.1"
else bad "b.txt / b.txt.1 wrong"; ls -la "$out"; fi
if [ -f "$out/index.html" ]; then ok "a URL ending in / is saved as index.html"; else bad "no index.html"; fi
n=$(ls "$out" | wc -l)
[ "$n" -eq 5 ] && ok "exactly five files" || bad "$n files in $out, expected 5"
expect_out '^requests: 5 (5 ok, 0 failed)$' "summary: requests"
total=$(($(wc -c <"$www/a.bin") * 2 + $(wc -c <"$www/sub/b.txt") + $(wc -c <"$www/deep/er/b.txt") + $(wc -c <"$out/index.html")))
expect_out "^bytes:    $total " "summary: bytes ($total)"
expect_out '^status:   1xx 0, 2xx 5, 3xx 0, 4xx 0, 5xx 0$' "summary: status classes"
expect_out '^status:   200 5$' "summary: status 200 count"
expect_out '^rate: .* req/s, .* MB/s$' "summary: rate"
[ "$(grep -c '^200 ' "$tmp/err")" -eq 5 ] && ok "one plain line per transfer (stderr not a terminal)" ||
    bad "not one line per transfer"

# --output-dir (curl's name) and --output-dir=DIR, as --dir
run --output-dir "$tmp/od1" "$base/sub/b.txt"
expect_rc 0 "--output-dir DIR"
same "$tmp/od1/b.txt" "$www/sub/b.txt" "--output-dir DIR saves there"
run --output-dir="$tmp/od2" "$base/sub/b.txt"
same "$tmp/od2/b.txt" "$www/sub/b.txt" "--output-dir=DIR saves there"

# a second run into the same directory never overwrites
run -o "$out" "$base/sub/b.txt"
expect_rc 0 "again into the same directory"
[ -f "$out/b.txt.2" ] && cmp -s "$out/b.txt.2" "$www/sub/b.txt" && ok "existing files kept, new one is b.txt.2" ||
    bad "b.txt.2 missing"

# --- names never escape the directory: from URLs (a server that answers
# 200 to any path) and given in a URL file
mkdir -p "$tmp/jail"
run -o "$tmp/jail/d" "$mb/any/..%2F..%2Fescape" "$mb/any/sub/..%2f..%2f.hidden?x=/../y" "$mb/any/%2e%2e"
expect_rc 0 "hostile names from URLs"
for f in "$tmp/escape" "$tmp/jail/escape" "$tmp/y"; do
    [ -e "$f" ] && bad "a file escaped to $f"
done
inside=$(ls -A "$tmp/jail/d" | wc -l)
outside=$(ls -A "$tmp/jail" | wc -l)
if [ "$inside" -eq 3 ] && [ "$outside" -eq 1 ] && ! ls -A "$tmp/jail/d" | grep -q '^\.'; then
    ok "hostile names stay inside the directory, none hidden: $(ls -A "$tmp/jail/d" | tr '\n' ' ')"
else bad "hostile names: $(ls -A "$tmp/jail/d" | tr '\n' ' ')"; fi
printf '%s\t../../evil\n%s\n  out=/etc/passwd\n%s\t.profile\n%s\t..\n%s\ta\033[31mb\n' \
    "$mb/any/1" "$mb/any/2" "$mb/any/3" "$mb/any/4" "$mb/any/5" >"$tmp/hostile"
# A symbolic link planted under the name the ".profile" URL maps to.
mkdir -p "$tmp/jail/d2" && ln -s "$tmp/jail/outside" "$tmp/jail/d2/_profile"
run -o "$tmp/jail/d2" -i "$tmp/hostile"
expect_rc 0 "hostile names given in a URL file"
names=$(ls -A "$tmp/jail/d2" | LC_ALL=C sort | tr '\n' ' ')
want=$(printf '_. _._.._evil _etc_passwd _profile _profile.1 a_[31mb ')
if [ "$names" = "$want" ] && [ ! -e "$tmp/jail/outside" ] && [ -L "$tmp/jail/d2/_profile" ]; then
    ok "given names stay inside, none hidden, a planted link not written through: $names"
else bad "given names: '$names', expected '$want'"; fi

# --- nothing from a URL, a name or a server reaches the terminal as a
# control: ESC, BEL, C1 (U+009B, a one-character CSI) and bytes that are
# not UTF-8 are shown escaped; a name given with a C1 character is refused
run -o "$tmp/jail/d3" "http://127.0.0.1:$closed/a$(printf '\033]0;pwned\007\302\233\377')b"
expect_rc 1 "a URL with control characters"
if LC_ALL=C grep -q "$(printf '[\033\007\233\377]')" "$tmp/err"; then bad "control bytes on stderr"; od -c "$tmp/err" | head
else ok "no control byte on stderr"; fi
expect_out '^FAIL .*/a\\x1b]0;pwned\\x07\\u009b\\xffb: ' "the URL is shown escaped"
printf '%s\tc1\302\233x\n' "$mb/any/6" >"$tmp/c1"
run -o "$tmp/jail/d3" -i "$tmp/c1"
[ -f "$tmp/jail/d3/c1_x" ] && ok "a C1 character in a given name is replaced: c1_x" ||
    bad "names: $(ls -A "$tmp/jail/d3" | od -c | head -3)"

# --- a big body is streamed to its file: memory stays bounded
rss() { # rss FILE-FOR-TIME ARGS...: max RSS in KiB of one run
    f=$1; shift
    /usr/bin/time -f '%M' -o "$f" "$fetch" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
}
if [ -x /usr/bin/time ] && [ -z "${FETCH_TEST_NO_RSS:-}" ]; then
    rss "$tmp/rss_small" -o "$tmp/small" "$base/sub/b.txt"
    rss "$tmp/rss_big" -o "$tmp/big" "$base/big.bin"
    small_kb=$(tail -n 1 "$tmp/rss_small"); big_kb=$(tail -n 1 "$tmp/rss_big")
    if [ $((big_kb - small_kb)) -lt 8192 ]; then
        ok "32 MiB download: max RSS $big_kb KiB (a 6-byte one: $small_kb KiB)"
    else bad "32 MiB download: max RSS $big_kb KiB, a 6-byte one $small_kb KiB"; fi
else
    echo "skip the memory check (no /usr/bin/time, or FETCH_TEST_NO_RSS set)"
    run -o "$tmp/big" "$base/big.bin"
fi
expect_rc 0 "32 MiB download"
cmp -s "$tmp/big/big.bin" "$www/big.bin" && ok "32 MiB body intact" || bad "32 MiB body differs"

# --- discarding (the default): no files, counts only
(cd "$tmp" && "$fetch" "$base/a.bin" "$base/sub/b.txt" >"$tmp/out" 2>"$tmp/err"); rc=$?
expect_rc 0 "discarded bodies"
expect_out "^bytes:    $(($(wc -c <"$www/a.bin") + 6)) " "discarded bodies are counted"
[ "$(ls -A "$tmp" | grep -c -e '^a.bin' -e '^b.txt')" -eq 0 ] && ok "discarding writes no file" || bad "files written while discarding"

# --- 404 and connection refused
run "$base/nope" "$base/sub/b.txt"
expect_rc 1 "a 404 fails the run"
expect_out '^status:   200 1$' "404 run: 200 counted"
expect_out '^status:   404 1$' "404 run: 404 counted"
expect_out '^failure:  1 HTTP status >= 400$' "404 run: failure kind"
expect_out '^requests: 2 (1 ok, 1 failed)$' "404 run: requests"
run "http://127.0.0.1:$closed/x"
expect_rc 1 "connection refused"
expect_out "^failure:  1 Couldn't connect to server$" "refused: failure kind, in curl's words"
expect_out "^FAIL Couldn't connect to server .* http://127.0.0.1:[0-9]*/x: " "refused: its line"
run "ftp://127.0.0.1/x" "not a url"
expect_rc 1 "bad URLs"
expect_out '^failure:  2 invalid URL$' "bad URLs: failure kind"
expect_out '^FAIL invalid URL .* ftp://127.0.0.1/x: unsupported URL scheme' "bad URLs: the line names the URL once, and why"

# --- timeouts
run -t 0.3 "http://127.0.0.1:$mute/slow"
expect_rc 1 "a server that never answers, -t 0.3"
expect_out '^failure:  1 Timeout was reached$' "timeout: failure kind"

# --- redirects: http.server sends 301 for a directory without its slash
run "$base/sub"
expect_rc 1 "a 301 without -L fails its URL"
expect_out '^status:   301 1$' "without -L: 301"
expect_out ': redirected to /sub/; use -L to follow$' "without -L: the line says how to follow"
run -L "$base/sub"
expect_rc 0 "-L"
expect_out '^status:   200 1$' "with -L: 200"

# --- on a terminal: the progress bar redrawn in place, failures above it,
# no line per transfer, the summary (a pseudo-terminal 100 columns wide)
if $py -B - "$here" "$fetch" "$tmp/tty" "$base/a.bin" "$base/sub/b.txt" "$base/nope" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import ptyrun
text, bars, status = ptyrun.run([sys.argv[2], "-j", "2"] + sys.argv[4:], 100, sys.argv[3])
assert bars, "no bar"
assert all(len(b) <= 99 for b in bars), "a bar wider than the terminal"
assert "100% 3/3 done" in bars[-1] and "1 failed" in bars[-1], bars[-1]
assert "ETA" in bars[-1], bars[-1]
assert "FAIL HTTP status >= 400" in text and "/nope: HTTP 404 Not Found" in text
assert "\n200 " not in text, "a line per transfer on a terminal"
assert "requests: 3 (2 ok, 1 failed)" in text
assert status == 1, status
PY
then ok "on a terminal: the bar redrawn in place, the failure above it, the summary"
else bad "on a terminal: see $tmp/tty"; cat "$tmp/tty" | tr '\r' '\n' | tail -n 20; fi

# --- -i: file and stdin, comments and blank lines
printf '# a comment\n\n  %s/sub/b.txt  \n%s/a.bin\n\t\n# %s/nope\n' "$base" "$base" "$base" >"$tmp/urls"
run -i "$tmp/urls"
expect_rc 0 "-i FILE"
expect_out '^requests: 2 (2 ok, 0 failed)$' "-i FILE: two URLs, comments and blanks skipped"
"$fetch" -i - "$base/sub/b.txt" <"$tmp/urls" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect_rc 0 "-i - (stdin) plus an argument"
expect_out '^requests: 3 (3 ok, 0 failed)$' "-i -: three URLs"
run -q "$base/sub/b.txt" "$base/nope"
expect_rc 1 "-q"
[ ! -s "$tmp/err" ] && [ ! -s "$tmp/out" ] && ok "-q prints nothing" || bad "-q printed something"

# --- HTTP/2 with prior knowledge (h2c) against nginx, when it is installed
nginx=${NGINX:-/usr/sbin/nginx}
if [ -x "$nginx" ] && command -v openssl >/dev/null; then
    ngport=$(free_port)
    tlsport=$(free_port)
    mkdir -p "$tmp/ng/tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/ng/key.pem" -out "$tmp/ng/cert.pem" \
        >/dev/null 2>&1
    cat >"$tmp/ng/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $tmp/ng/tmp;
    proxy_temp_path $tmp/ng/tmp;
    fastcgi_temp_path $tmp/ng/tmp;
    uwsgi_temp_path $tmp/ng/tmp;
    scgi_temp_path $tmp/ng/tmp;
    server { listen 127.0.0.1:$ngport http2; root $www; }
    log_format conn '\$connection \$server_protocol \$status';
    server {
        listen 127.0.0.1:$tlsport ssl http2;
        ssl_certificate $tmp/ng/cert.pem;
        ssl_certificate_key $tmp/ng/key.pem;
        access_log $tmp/ng/tls.log conn;
        root $www;
    }
}
CONF
    "$nginx" -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -e "$tmp/ng/error.log" 2>>"$tmp/ng/error.log" &
    pids="$pids $!"
    i=0
    until curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$ngport/sub/b.txt"; do
        i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1
    done
    # One URL only: libcurl 7.88 (Debian 12) fails every request that reuses
    # an h2c prior-knowledge connection with CURLE_HTTP2 (curl issue 10634,
    # fixed in 8.0.0); the curl tool fails the same way.
    run --h2c -o "$tmp/h2" "http://127.0.0.1:$ngport/a.bin"
    expect_rc 0 "--h2c against nginx"
    cmp -s "$tmp/h2/a.bin" "$www/a.bin" && ok "--h2c: body intact" || bad "--h2c: body differs"
    expect_out '^status:   200 1$' "--h2c: 200"
    run "http://127.0.0.1:$ngport/sub/b.txt"
    expect_rc 1 "HTTP/1.1 to an h2c-only port fails"

    # HTTP/2 over TLS: 20 URLs, 8 at once, multiplexed on one connection.
    tls=https://127.0.0.1:$tlsport
    : >"$tmp/h2urls"
    i=0; while [ $i -lt 20 ]; do echo "$tls/a.bin?$i" >>"$tmp/h2urls"; i=$((i + 1)); done
    run -j 8 --http2 --cacert "$tmp/ng/cert.pem" -o "$tmp/tls" -i "$tmp/h2urls"
    expect_rc 0 "HTTP/2 over TLS, --cacert"
    n=0; for f in "$tmp"/tls/a.bin*; do cmp -s "$f" "$www/a.bin" && n=$((n + 1)); done
    [ "$n" -eq 20 ] && ok "20 bodies intact" || bad "$n bodies intact of 20"
    conns=$(awk '$2 == "HTTP/2.0" { print $1 }' "$tmp/ng/tls.log" | sort -u | wc -l)
    [ "$(grep -c ' HTTP/2.0 200$' "$tmp/ng/tls.log")" -eq 20 ] && [ "$conns" -lt 20 ] &&
        ok "all over HTTP/2, multiplexed: $conns connection(s) for 20 requests" ||
        { bad "HTTP/2: $conns connections"; cat "$tmp/ng/tls.log"; }
    run "$tls/a.bin"
    expect_rc 1 "a certificate it does not trust"
    expect_out "^FAIL SSL peer certificate or SSH remote key was not OK .* $tls/a.bin: SSL certificate problem: self-signed certificate" \
        "in curl's words"
    run -k "$tls/a.bin"
    expect_rc 0 "-k"
else
    echo "skip --h2c and HTTP/2 over TLS: $nginx or openssl is not installed (apt-get install -y nginx-light openssl)"
fi

# --- usage errors: exit 2 and a clear message
run -j 0 "$base/a.bin"; expect_rc 2 "-j 0"; expect_out '-j wants a number' "-j 0: message"
run -j x "$base/a.bin"; expect_rc 2 "-j x"
run -j; expect_rc 2 "-j without value"; expect_out 'option -j wants a value' "-j: message"
run --bogus "$base/a.bin"; expect_rc 2 "unknown option"; expect_out "unknown option '--bogus'" "unknown option: message"
run; expect_rc 2 "no URL"; expect_out 'no URL given' "no URL: message"
run -i "$tmp/missing"; expect_rc 2 "missing -i file"; expect_out 'cannot read URLs from' "missing -i file: message"
run -t -1 "$base/a.bin"; expect_rc 2 "-t -1"
run -t nan "$base/a.bin"; expect_rc 2 "-t nan"
run -o "$www/a.bin" "$base/a.bin"; expect_rc 2 "-o on a file"; expect_out 'cannot open directory' "-o on a file: message"
run -o "$tmp/no/such/dir" "$base/a.bin"; expect_rc 2 "-o under a missing directory"
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
    run -o "$tmp/ro" "$base/a.bin"; expect_rc 2 "-o unwritable directory"
fi
run --help; expect_rc 0 "--help"
grep -q '^usage: casyncio-fetch' "$tmp/out" && ok "--help prints the usage" || bad "--help output"

finish
