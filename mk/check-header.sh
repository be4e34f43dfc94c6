#!/bin/sh
# The public header is self-contained and portable: it compiles alone under
# plain ISO C11 with every warning an error, with gcc and with clang, and
# pulls in neither uv.h nor curl.h (dependencies stay private, which is what
# lets the .pc file list them in Requires.private only).
#
#   sh mk/check-header.sh INCLUDE_DIR
set -u

incdir=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/casyncio-header.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

printf '#include <casyncio.h>\n' > "$tmp/alone.c"
# Included twice and used: the include guard is part of the promise too.
printf '#include <casyncio.h>\n#include <casyncio.h>\nint main(void) { return ASYNCIO_VERSION_MAJOR; }\n' > "$tmp/twice.c"

flags="-std=c11 -pedantic -Wall -Wextra -Werror -I$incdir"
status=0

for cc in gcc clang; do
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "SKIP header: $cc is not installed"
        continue
    fi
    ok=1
    for src in alone.c twice.c; do
        if ! "$cc" $flags -c "$tmp/$src" -o "$tmp/${src%.c}.o" 2>"$tmp/err"; then
            echo "FAIL header: casyncio.h does not compile alone with $cc $flags ($src):"
            sed 's/^/    /' "$tmp/err"
            ok=0
            break
        fi
    done
    # List every file the header includes, transitively.
    if "$cc" $flags -M "$tmp/alone.c" >"$tmp/deps" 2>"$tmp/err"; then
        leaks=$(tr ' \\' '\n\n' < "$tmp/deps" | grep -E '(^|/)(uv\.h|uv/|curl/)' || true)
        if [ -n "$leaks" ]; then
            echo "FAIL header: casyncio.h includes libuv or libcurl headers ($cc):"
            printf '    %s\n' $leaks
            ok=0
        fi
    else
        echo "FAIL header: $cc -M failed:"
        sed 's/^/    /' "$tmp/err"
        ok=0
    fi
    # An area header alone says to include the umbrella instead.
    for area in "$incdir"/casyncio/*.h; do
        name=casyncio/$(basename "$area")
        printf '#include <%s>\n' "$name" > "$tmp/area.c"
        if "$cc" $flags -c "$tmp/area.c" -o "$tmp/area.o" 2>"$tmp/err" ||
            ! grep -q 'include <casyncio.h>' "$tmp/err"; then
            echo "FAIL header: <$name> alone does not say to include <casyncio.h> ($cc)"
            ok=0
        fi
    done
    if [ $ok -eq 1 ]; then
        echo "PASS header: casyncio.h compiles alone with $cc -std=c11 -pedantic -Wall -Wextra -Werror"
    else
        status=1
    fi
done
exit $status
