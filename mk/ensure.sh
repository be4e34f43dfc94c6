#!/bin/sh
# Makes sure the Debian packages a target needs are present.
#
#   sh mk/ensure.sh WHAT [--probe 'COMMAND'] PACKAGE...
#
# COMMAND (default: dpkg says every PACKAGE is installed) succeeds when
# everything is already there; in that common case it is all that runs, so
# the targets that depend on this stay cheap.  Otherwise, as root, the
# packages are installed with one `apt-get update` and one `apt-get install`
# and COMMAND must then succeed.  As any other user the exact command to run
# is printed and the script fails: a build never asks for a password.
set -u

what=$1
shift
probe=
if [ "${1:-}" = --probe ]; then
    probe=$2
    shift 2
fi

present() {
    if [ -n "$probe" ]; then
        sh -c "$probe" >/dev/null 2>&1
        return
    fi
    for p in "$@"; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || return 1
    done
}

present "$@" && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "casyncio: missing $what. Install with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y $*" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "casyncio: missing $what, and apt-get is not available." >&2
    echo "    Install the equivalent of these Debian packages: $*" >&2
    exit 1
fi

echo "casyncio: missing $what; installing: $*"
export DEBIAN_FRONTEND=noninteractive
apt-get update || exit 1
apt-get install -y "$@" || exit 1

if ! present "$@"; then
    echo "casyncio: $what still missing after installing $*" >&2
    [ -n "$probe" ] && echo "    (this failed: $probe)" >&2
    exit 1
fi
