#!/bin/sh
# The areas of src/ depend on each other one way only, bottom up:
#
#   core                              0
#   combinators  sync  threads  http  1   (side by side: never each other)
#   net                               2
#   os                                3   (process pipes are net streams)
#   runner (src/runner.c)             4   (sees every area)
#
# A file may use its own area and the areas of lower layers, never a higher
# layer nor a neighbour on its own layer.  Checked twice:
#   - includes: every #include "AREA/..." in src/ (src/testing.h, the test
#     hooks, may be included anywhere: it needs only the public header);
#   - calls: every asyncio* symbol an object file of the library uses and
#     another object defines, read with nm from the build's objects, so a
#     call through a public function counts too.
# A lower area that must let a higher one act (loop close, a connection
# gone) runs a hook the higher one registered.
#
#   sh mk/check-layers.sh [OBJECT...]  (the library's object files; none:
#                                       the library is built, in BUILD
#                                       (default build), and its objects read)
set -u
cd "$(dirname "$0")/.." || exit 1

status=0

layer() {
    case $1 in
    core) echo 0 ;;
    combinators | sync | threads | http) echo 1 ;;
    net) echo 2 ;;
    os) echo 3 ;;
    runner) echo 4 ;;
    *) echo "" ;;
    esac
}

# The area of a path under src/ (or obj/src/): its first directory, or
# "runner" for src/runner.c.
area_of() {
    rel=${1#*src/}
    case $rel in
    runner.*) echo runner ;;
    */*) echo "${rel%%/*}" ;;
    *) echo "" ;;
    esac
}

# $1 uses $2 (areas): fails unless it may.
allowed() {
    [ "$1" = "$2" ] && return 0
    _user=$(layer "$1") _used=$(layer "$2")
    [ -n "$_user" ] && [ -n "$_used" ] && [ "$_used" -lt "$_user" ]
}

# ---- includes
nfiles=0
for f in $(find src -name '*.[chS]' | sort); do
    from=$(area_of "$f")
    if [ -z "$from" ] && [ "$f" != src/testing.h ]; then
        echo "FAIL layers: $f is in no area (put it under src/AREA/)"
        status=1
        continue
    fi
    nfiles=$((nfiles + 1))
    for inc in $(sed -n 's/^#include "\([a-z]*\)\/[^"]*"$/\1/p' "$f" | sort -u); do
        if [ -z "$(layer "$inc")" ]; then
            echo "FAIL layers: $f includes a header of \"$inc\", which is no area"
            status=1
        elif ! allowed "$from" "$inc"; then
            echo "FAIL layers: $f ($from, layer $(layer "$from")) includes $inc (layer $(layer "$inc"))"
            status=1
        fi
    done
done

# ---- calls
if [ $# -eq 0 ]; then
    build=${BUILD:-build}
    if ! make -s --no-print-directory BUILD="$build" lib >/dev/null; then
        echo "FAIL layers: the library does not build (make lib), so its calls cannot be read"
        exit 1
    fi
    # shellcheck disable=SC2046 # object paths have no spaces
    set -- $(find "$build/obj/src" -name '*.o' | sort)
    if [ $# -eq 0 ]; then
        echo "FAIL layers: no object files in $build/obj/src after make lib"
        exit 1
    fi
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-layers.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/defs"
: > "$tmp/uses"
for o in "$@"; do
    a=$(area_of "$o")
    LC_ALL=C nm "$o" | awk -v a="$a" -v o="$o" '
        NF == 3 && $2 ~ /^[TDBR]$/ && $3 ~ /^asyncio/ { print $3, a >> "'"$tmp/defs"'" }
        NF == 2 && $1 == "U" && $2 ~ /^asyncio/ { print $2, a, o >> "'"$tmp/uses"'" }'
done
LC_ALL=C sort -u "$tmp/defs" > "$tmp/defs.s"
LC_ALL=C sort "$tmp/uses" > "$tmp/uses.s"
ncalls=0
# symbol user_area object defining_area
LC_ALL=C join "$tmp/uses.s" "$tmp/defs.s" > "$tmp/joined"
while read -r sym from obj to; do
    ncalls=$((ncalls + 1))
    if ! allowed "$from" "$to"; then
        echo "FAIL layers: ${obj#*src/} ($from) calls $sym of $to"
        status=1
    fi
done < "$tmp/joined"

if [ $status -eq 0 ]; then
    echo "PASS layers: $nfiles files and $ncalls cross-file calls run one way (core < combinators, sync, threads, http < net < os < runner)"
fi
exit $status
