#!/bin/sh
# casyncio-fetch when the disk says no: a full disk (a 1 MiB tmpfs, when
# this user may mount one), a file-size limit (ulimit -f: writes fail with
# EFBIG, wherever this runs), an unwritable directory.  Each time: a clear
# message naming the file and the cause, nothing half-written left behind
# (kept with -c, and then completed by the next run).
#
#   sh tests/fetch/disk.sh PATH-TO-FETCH
fetch=${1:?usage: sh tests/fetch/disk.sh PATH-TO-FETCH}
. "$(dirname "$0")/lib.sh"

www=$tmp/www
mkdir -p "$www"
head -c 3000000 /dev/urandom >"$www/big.bin"
head -c 100000 /dev/urandom >"$www/small.bin"
start_misbehave "$www"

# --- a file-size limit: 1,000 blocks (of 512 bytes in dash, 1,024 in bash)
rm -rf "$tmp/f" && mkdir "$tmp/f"
(ulimit -f 1000 && exec "$fetch" -o "$tmp/f" "$mb/ok/big.bin" "$mb/ok/small.bin") \
    >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
expect_rc 1 "ulimit -f 1000: a 3 MB body"
expect_out "^FAIL File too large .* $mb/ok/big.bin: cannot write $tmp/f/big.bin: File too large (partial file removed)$" \
    "the line names the URL, the file and the cause"
[ ! -e "$tmp/f/big.bin" ] && ok "no partial file left" || bad "big.bin left: $(ls -l "$tmp/f")"
same "$tmp/f/small.bin" "$www/small.bin" "the small body is saved all the same"
(ulimit -f 1000 && exec "$fetch" -c -o "$tmp/f" "$mb/ok/big.bin") >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
expect_rc 1 "ulimit -f 1000 with -c"
size=$(wc -c <"$tmp/f/big.bin" 2>/dev/null || echo 0)
[ "$size" -ge 512000 ] && [ "$size" -lt 3000000 ] && cmp -s -n "$size" "$tmp/f/big.bin" "$www/big.bin" &&
    ok "-c keeps what was written: the first $size bytes" || bad "-c: $size bytes kept"
run -c -o "$tmp/f" "$mb/ok/big.bin"
expect_rc 0 "-c without the limit"
same "$tmp/f/big.bin" "$www/big.bin" "the file completed"
expect_out "(resumed from byte $size)" "from where it stopped"

# --- a full disk: a 1 MiB tmpfs
mnt=$tmp/mnt
mkdir -p "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m casyncio-fetch-test "$mnt" 2>/dev/null; then
    umount_mnt() { umount "$mnt" 2>/dev/null; }
    cleanup_hooks="$cleanup_hooks umount_mnt"
    : >"$tmp/urls"
    i=0
    while [ $i -lt 20 ]; do echo "$mb/ok/small.bin?i=$i	s$i" >>"$tmp/urls"; i=$((i + 1)); done
    run -j 1 -o "$mnt/d" "$mb/ok/big.bin" -i "$tmp/urls"
    expect_rc 1 "a full disk (1 MiB tmpfs, 3 MB body first)"
    expect_out "^FAIL No space left on device .* $mb/ok/big.bin: cannot write $mnt/d/big.bin: No space left on device (partial file removed)$" \
        "the line names the URL, the file and the cause"
    expect_out '^casyncio-fetch: the disk is full: no new transfers$' "no new transfers after it"
    expect_out '^stopped:  the disk is full: 0 cancelled (in flight or waiting to retry), 20 not started$' \
        "the summary says what did not start"
    [ "$(ls -A "$mnt/d" | wc -l)" -eq 0 ] && ok "nothing left on the disk" || bad "left: $(ls -l "$mnt/d")"
    run -c -o "$mnt/d" "$mb/ok/big.bin"
    expect_rc 1 "a full disk with -c"
    kept=$(wc -c <"$mnt/d/big.bin" 2>/dev/null || echo 0)
    [ "$kept" -gt 0 ] && cmp -s -n "$kept" "$mnt/d/big.bin" "$www/big.bin" &&
        ok "-c keeps the $kept bytes written" || bad "-c: $kept bytes"
    mount -o remount,size=8m "$mnt"
    run -c -o "$mnt/d" "$mb/ok/big.bin"
    expect_rc 0 "-c with room again"
    same "$mnt/d/big.bin" "$www/big.bin" "the file completed"
    # Several shards: the first full write stops them all.
    : >"$tmp/urls"
    i=0
    while [ $i -lt 300 ]; do echo "$mb/ok/small.bin?t=$i" >>"$tmp/urls"; i=$((i + 1)); done
    rm -rf "$mnt/d"
    run --threads 2 -j 4 -o "$mnt/d" -i "$tmp/urls"
    expect_rc 1 "a full disk, --threads 2"
    [ "$(grep -c 'the disk is full: no new transfers$' "$tmp/err")" -ge 1 ] &&
        grep -q '^stopped:  the disk is full: 0 cancelled (in flight or waiting to retry), [1-9][0-9]* not started$' "$tmp/err" &&
        ok "every shard stops starting transfers" || { bad "not stopped"; show; }
    n=0
    for f in "$mnt"/d/*; do [ -e "$f" ] || continue; cmp -s "$f" "$www/small.bin" || n=$((n + 1)); done
    [ "$n" -eq 0 ] && ok "every file left is complete" || bad "$n incomplete files"
    rm -rf "$mnt/d"
    # --- a read-only directory (root may write anywhere else)
    rm -rf "$mnt/d" && mkdir "$mnt/ro" && mount -o remount,ro "$mnt"
    run -o "$mnt/ro" "$mb/ok/small.bin"
    expect_rc 2 "a read-only directory"
    expect_out "^casyncio-fetch: cannot write to directory $mnt/ro: Read-only file system$" "says so"
    umount "$mnt"
else
    echo "skip the full-disk checks: cannot mount a tmpfs here (the ulimit -f checks above stand in)"
fi

# --- an unwritable directory (for a user permissions apply to)
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
    run -o "$tmp/ro" "$mb/ok/small.bin"
    expect_rc 2 "an unwritable directory"
    expect_out "cannot write to directory $tmp/ro: Permission denied" "says so"
    run -o "$tmp/ro/sub" "$mb/ok/small.bin"
    expect_rc 2 "a directory that cannot be made"
    expect_out "cannot create directory $tmp/ro/sub: Permission denied" "says so"
fi

finish
