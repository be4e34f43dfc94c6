"""Shared helpers of the Python twins of the C benchmarks (bench/*.py).

Every twin runs under the stock asyncio event loop, or under uvloop when
given --uvloop, and prints the same machine-readable lines as its C twin:

    RESULT <name> <metric> <value> <unit>

Human-readable text goes to stderr.
"""

import asyncio
import math
import sys
import time


def use_uvloop():
    return "--uvloop" in sys.argv[1:]


def loop_name():
    return "uvloop" if use_uvloop() else "asyncio"


def run(main):
    """asyncio.run(main()), on uvloop when --uvloop was given."""
    if use_uvloop():
        try:
            import uvloop
        except ImportError:
            sys.stderr.write(
                "uvloop is not installed: sudo apt-get install -y python3-uvloop\n")
            sys.exit(3)
        # Python 3.11's asyncio.run has no loop_factory; the policy does it.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(main())


def now_ns():
    """The monotonic clock in nanoseconds (what loop.time() reads)."""
    return time.monotonic_ns()


def result(name, metric, value, unit):
    print("RESULT %s %s %.6g %s" % (name, metric, value, unit), flush=True)


def note(fmt, *args):
    sys.stderr.write((fmt % args if args else fmt) + "\n")


def status_kb(field):
    """A field of /proc/self/status in kB ('VmRSS', 'VmHWM', ...), or -1."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def quantile(sorted_values, q):
    """Nearest-rank quantile of an already sorted list (as bench.h does)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    rank = min(max(math.ceil(q * n), 1), n)
    return sorted_values[rank - 1]


def median(values):
    return quantile(sorted(values), 0.5)
