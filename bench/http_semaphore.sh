#!/bin/sh
# http_semaphore with curl, against the nginx of bench/http_server.sh
# (BENCH_HTTP_BASE): the tool a user would pick instead of the aiohttp
# idiom.
#
#   sh bench/http_semaphore.sh curl   curl --parallel --parallel-max 64:
#                                     10,000 GETs of the 1 KiB file, then of
#                                     the 100 KiB file, best of 3 after a
#                                     warm-up (bench/http_get.sh's curl run)
#
# Prints RESULT lines named like the C program's (req/s).
set -u
case ${1:-} in
curl) ;;
*) echo "usage: sh bench/http_semaphore.sh curl" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/http_get.sh" curl | sed 's/^RESULT http_get /RESULT http_semaphore /'
