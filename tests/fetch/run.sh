#!/bin/sh
# All of casyncio-fetch's tests, one script after the other (each starts
# and stops its own local servers):
#
#   sh tests/fetch/run.sh PATH-TO-FETCH [SCRIPT...]
#
#   test.sh       files, names, summary, input, redirects, timeouts, usage
#   misbehave.sh  retries, resume, checksums, JSON, limits, headers, proxy
#   interrupt.sh  SIGINT and SIGTERM at random moments
#   disk.sh       a full disk, a file-size limit, an unwritable directory
#
# (lib.sh is what they share; server.py the misbehaving server; ptyrun.py
# runs the program on a pseudo-terminal for the checks of what it draws.)
#
# Exits 1 if any check failed.
set -u
fetch=${1:?usage: sh tests/fetch/run.sh PATH-TO-FETCH [SCRIPT...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
scripts=${*:-test.sh misbehave.sh interrupt.sh disk.sh}
status=0
for s in $scripts; do
    echo "--- tests/fetch/$s"
    sh "$here/$s" "$fetch" || status=1
done
[ $status -eq 0 ] && echo "casyncio-fetch: every check passed" || echo "casyncio-fetch: some checks FAILED"
exit $status
