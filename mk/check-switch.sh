#!/bin/sh
# The context switch alone (tests/coro/switch_test.c): built for this
# machine with the switch of this build (assembly, or ucontext when CORO is
# ucontext), and for aarch64 under qemu-user when a cross compiler and qemu
# are installed, so the assembly for the other architecture is run too.
#
#   sh mk/check-switch.sh BUILD-DIR CC CORO [cross]
set -u
build=$1 cc=$2 coro=$3 cross=${4:-}
out=$build/tests/switch
mkdir -p "$build/tests"
cflags="-std=gnu11 -O2 -Wall -Wextra -Werror -Iinclude -Isrc $(pkg-config --cflags libuv)"
arch=$(uname -m)

if [ "$coro" = ucontext ]; then
    set -- -DASYNCIO_CORO_UCONTEXT
else
    set -- "src/core/coro/switch_$arch.S"
fi
if ! $cc $cflags tests/coro/switch_test.c src/core/coro/coro.c "$@" -lm -o "$out"; then
    echo "FAIL switch: could not build $out"
    exit 1
fi
"$out" || exit 1

[ -n "$cross" ] || exit 0
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "SKIP switch (aarch64): install gcc-aarch64-linux-gnu and qemu-user to run it"
    exit 0
fi
if ! aarch64-linux-gnu-gcc $cflags tests/coro/switch_test.c src/core/coro/coro.c \
        src/core/coro/switch_aarch64.S -lm -o "$out-aarch64"; then
    echo "FAIL switch (aarch64): could not build"
    exit 1
fi
printf '(aarch64 under qemu) '
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out-aarch64"
