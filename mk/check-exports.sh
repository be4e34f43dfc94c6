#!/bin/sh
# The shared library must export nothing but the public API: every defined
# dynamic symbol starts with asyncio_.  Private symbols are asyncio__* and
# built with -fvisibility=hidden; anything else here is a missing `static`
# or a leaked helper, and would become ABI the moment a program links it.
#
#   sh mk/check-exports.sh path/to/libcasyncio.so
set -u

so=$1
if [ ! -f "$so" ]; then
    echo "FAIL exports: $so does not exist"
    exit 1
fi

# Field 3 of `nm -D --defined-only` is the name; symbol versions, if any,
# follow an @ and are not part of it.
if ! syms=$(nm -D --defined-only "$so" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }'); then
    echo "FAIL exports: nm could not read $so"
    exit 1
fi

total=$(printf '%s\n' "$syms" | grep -c . || true)
bad=$(printf '%s\n' "$syms" | grep . | grep -v '^asyncio_' || true)
private=$(printf '%s\n' "$syms" | grep '^asyncio__' || true)

status=0
if [ -n "$bad" ]; then
    echo "FAIL exports: $so exports symbols outside the asyncio_ namespace:"
    printf '    %s\n' $bad
    status=1
fi
if [ -n "$private" ]; then
    echo "FAIL exports: $so exports private asyncio__ symbols (mark them hidden or static):"
    printf '    %s\n' $private
    status=1
fi
if [ "$total" -eq 0 ]; then
    echo "FAIL exports: $so exports no symbols at all"
    status=1
fi
if [ $status -eq 0 ]; then
    echo "PASS exports: $total symbols, all asyncio_*"
fi
exit $status
