#!/bin/sh
# Installs into a scratch DESTDIR and builds a program the way a user would:
# with nothing but `pkg-config casyncio`.  This checks the installed file
# set, the .pc file (Cflags, Libs, and Requires.private/Libs.private for
# static linking), the soname and the symlinks, in one go.
#
#   MAKE=make sh mk/check-install.sh BUILD_DIR VERSION CC
set -u

build=$1
version=$2
cc=$3
make=${MAKE:-make}
pkg_config=${PKG_CONFIG:-pkg-config}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
prefix=$root/usr/local
libdir=$prefix/lib

fail() {
    echo "FAIL install: $*"
    exit 1
}

if ! $make --no-print-directory install DESTDIR="$root" PREFIX=/usr/local BUILD="$build" \
    >"$tmp/install.log" 2>&1; then
    sed 's/^/    /' "$tmp/install.log"
    fail "make install DESTDIR=$root PREFIX=/usr/local failed"
fi

for f in include/casyncio.h lib/libcasyncio.a lib/libcasyncio.so.$version \
    lib/pkgconfig/casyncio.pc bin/casyncio-fetch share/man/man1/casyncio-fetch.1 \
    share/casyncio/casyncio-gdb.py \
    share/gdb/auto-load/usr/local/lib/libcasyncio.so.$version-gdb.py; do
    [ -f "$prefix/$f" ] || fail "$f was not installed"
done
# The tool runs from where it was installed and knows its version.
fetch_version=$("$prefix/bin/casyncio-fetch" --version 2>&1) ||
    fail "casyncio-fetch --version failed: $fetch_version"
case $fetch_version in
"casyncio-fetch $version "*) ;;
*) fail "casyncio-fetch --version printed '$fetch_version'" ;;
esac
if command -v man >/dev/null 2>&1; then
    man -l "$prefix/share/man/man1/casyncio-fetch.1" 2>/dev/null | grep -q 'casyncio-fetch - fetch many URLs' ||
        fail "the installed man page does not read as casyncio-fetch(1)"
fi
# Every area header the umbrella includes.
for f in $(sed -n 's/^#include "\(casyncio\/[a-z]*\.h\)"$/\1/p' include/casyncio.h); do
    [ -f "$prefix/include/$f" ] || fail "include/$f was not installed"
done
for l in lib/libcasyncio.so.0 lib/libcasyncio.so; do
    [ -L "$prefix/$l" ] || fail "$l is not a symlink"
    [ -f "$prefix/$l" ] || fail "$l is a dangling symlink"
done

# The .pc file is generated for /usr/local; point it at the scratch copy.
pc() {
    PKG_CONFIG_PATH=$libdir/pkgconfig $pkg_config --define-variable=prefix="$prefix" "$@" casyncio
}
pc_version=$(pc --modversion) || fail "pkg-config cannot read casyncio.pc"
[ "$pc_version" = "$version" ] || fail "casyncio.pc says version $pc_version, expected $version"
flags=$(pc --cflags --libs) || fail "pkg-config --cflags --libs casyncio failed"
static_libs=$(pc --static --libs) || fail "pkg-config --static --libs casyncio failed"
# Programs built through pkg-config probe their frames (see casyncio.pc.in)
# where the compiler can.
if $cc -fstack-clash-protection -x c -c -o /dev/null /dev/null >/dev/null 2>&1; then
    case " $(pc --cflags) " in
    *" -fstack-clash-protection "*) ;;
    *) fail "casyncio.pc's Cflags lack -fstack-clash-protection" ;;
    esac
fi

cat > "$tmp/hello.c" <<'CEOF'
#include <casyncio.h>
#include <stdio.h>
#include <string.h>

static void *hello(void *arg)
{
    /* One real suspension: the task switches to the loop and back. */
    if (asyncio_sleep(0) != 0)
        return NULL;
    return arg;
}

int main(void)
{
    void *result = NULL;
    int rc = asyncio_run(hello, "done", &result);
    if (rc != 0 || result == NULL || strcmp(result, "done") != 0) {
        fprintf(stderr, "asyncio_run returned %d\n", rc);
        return 1;
    }
    printf("casyncio %s\n", asyncio_version_string());
    return 0;
}
CEOF

# Shared: the program records the soname and runs against the scratch copy.
if ! $cc -o "$tmp/hello" "$tmp/hello.c" $flags 2>"$tmp/err"; then
    sed 's/^/    /' "$tmp/err"
    fail "cannot build against the installed library: $cc hello.c $flags"
fi
out=$(LD_LIBRARY_PATH=$libdir "$tmp/hello" 2>&1) || fail "dynamically linked program failed: $out"
[ "$out" = "casyncio $version" ] || fail "dynamically linked program printed '$out', expected 'casyncio $version'"
if command -v readelf >/dev/null 2>&1; then
    readelf -d "$tmp/hello" | grep -q 'NEEDED.*\[libcasyncio\.so\.0\]' ||
        fail "program does not depend on the soname libcasyncio.so.0"
fi
echo "PASS install: pkg-config casyncio $pc_version, shared library with $cc: $out"

# Static: libcasyncio.a plus what Requires.private/Libs.private bring.
static_libs=$(printf '%s\n' "$static_libs" | sed 's/-lcasyncio/-Wl,-Bstatic -lcasyncio -Wl,-Bdynamic/')
if ! $cc -o "$tmp/hello-static" "$tmp/hello.c" $(pc --cflags) $static_libs 2>"$tmp/err"; then
    sed 's/^/    /' "$tmp/err"
    fail "cannot link statically: $cc hello.c $static_libs"
fi
out=$("$tmp/hello-static" 2>&1) || fail "statically linked program failed: $out"
[ "$out" = "casyncio $version" ] || fail "statically linked program printed '$out'"
if command -v readelf >/dev/null 2>&1 && readelf -d "$tmp/hello-static" | grep -q libcasyncio; then
    fail "the static build still depends on libcasyncio.so"
fi
echo "PASS install: static library via pkg-config --static with $cc: $out"

# A frame far larger than any guard, built through pkg-config: its probes
# fault in the guard, so the overflow is reported naming the task instead
# of writing into the stack below (only where the compiler probes).
if $cc -fstack-clash-protection -x c -c -o /dev/null /dev/null >/dev/null 2>&1; then
    cat > "$tmp/overflow.c" <<'CEOF'
#include <casyncio.h>
#include <stddef.h>

static __attribute__((noinline)) int huge_frame(void)
{
    volatile char big[4 << 20];
    for (size_t i = 0; i < 2048; i++) /* only the lowest bytes */
        big[i] = (char)i;
    return big[0] + big[2047];
}

static void *jumper(void *arg)
{
    (void)arg;
    return (void *)(long)huge_frame();
}

static void *parked(void *fut)
{
    asyncio_await(fut, NULL);
    return NULL;
}

static void *main_task(void *arg)
{
    (void)arg;
    asyncio_future_t *gate = asyncio_future_new();
    asyncio_task_opts_t opts = {.name = "below", .stack_size = 64 * 1024};
    asyncio_future_t *below = asyncio_create_task_ex(parked, gate, &opts);
    asyncio_sleep(0);
    opts.name = "jumper";
    asyncio_future_t *t = asyncio_create_task_ex(jumper, NULL, &opts);
    asyncio_await(t, NULL);
    asyncio_future_set_result(gate, NULL);
    asyncio_await(below, NULL);
    return NULL;
}

int main(void)
{
    asyncio_run(main_task, NULL, NULL);
    return 0; /* the overflow went unnoticed */
}
CEOF
    if ! $cc -o "$tmp/overflow" "$tmp/overflow.c" $flags 2>"$tmp/err"; then
        sed 's/^/    /' "$tmp/err"
        fail "cannot build the overflow program: $cc overflow.c $flags"
    fi
    if LD_LIBRARY_PATH=$libdir "$tmp/overflow" 2>"$tmp/err"; then
        fail "a 4 MiB frame in a 64 KiB task built through pkg-config went unnoticed"
    fi
    grep -q "casyncio: task 'jumper' overflowed its 64 KiB stack" "$tmp/err" ||
        fail "the 4 MiB frame was not reported: $(cat "$tmp/err")"
    echo "PASS install: a 4 MiB frame built through pkg-config is reported as an overflow"
fi
