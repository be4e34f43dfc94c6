#!/bin/sh
# The shared library exports exactly the functions the header declares
# (ASYNCIO_EXTERN in include/casyncio.h and include/casyncio/*.h), as
# jansson's check-exports does: a function exported but not declared is a
# leaked helper that would become ABI the moment a program links it; one
# declared but not exported is a promise the library does not keep.
# Private symbols are asyncio__* and built with -fvisibility=hidden.
#
#   sh mk/check-exports.sh path/to/libcasyncio.so [INCLUDE_DIR]
set -u

so=$1
incdir=${2:-include}
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
# What the header declares: the name before the '(' of each ASYNCIO_EXTERN
# declaration (declarations may span lines).
declared=$(cat "$incdir/casyncio.h" "$incdir"/casyncio/*.h | grep -v "^#" | tr '\n' ' ' |
    grep -o 'ASYNCIO_EXTERN[^;{]*;' |
    sed -n 's/^ASYNCIO_EXTERN[^(]*[^a-zA-Z0-9_]\(asyncio_[a-zA-Z0-9_]*\) *(.*/\1/p' | sort -u)
exported=$(printf '%s\n' "$syms" | grep . | sort -u)
undeclared=$(printf '%s\n' "$exported" | grep -vxF "$declared" || true)
missing=$(printf '%s\n' "$declared" | grep -vxF "$exported" || true)
ndeclared=$(printf '%s\n' "$declared" | grep -c . || true)
if [ "$ndeclared" -eq 0 ]; then
    echo "FAIL exports: found no ASYNCIO_EXTERN declarations under $incdir"
    status=1
fi
if [ -n "$undeclared" ]; then
    echo "FAIL exports: $so exports functions the header does not declare:"
    printf '    %s\n' $undeclared
    status=1
fi
if [ -n "$missing" ]; then
    echo "FAIL exports: the header declares functions $so does not export:"
    printf '    %s\n' $missing
    status=1
fi
if [ $status -eq 0 ]; then
    echo "PASS exports: $total symbols, exactly the $ndeclared functions the header declares"
fi
exit $status
