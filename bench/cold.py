"""cold: twin of bench/cold.c.

Each figure in a fresh process (this script runs itself again with the
case's name), 5 times, the median: 100,000 tasks created and gathered (ns
per task), then the same again in that process (warm); 10,000 tasks each
sleeping 1 ms, gathered (overhead over the 1 ms, in ms), cold and warm.
--uvloop runs it (and its children) on uvloop.  The C program's pages
figure has no twin.
"""
import asyncio
import subprocess
import sys

import benchlib

SPAWN_N = 100_000
SLEEP_N = 10_000
DELAY = 0.001
ROUNDS = 5


async def noop():
    return None


async def sleeper():
    await asyncio.sleep(DELAY)


async def gather_round(fn, n):
    t0 = benchlib.now_ns()
    tasks = [asyncio.create_task(fn()) for _ in range(n)]
    await asyncio.gather(*tasks)
    tasks = None
    return benchlib.now_ns() - t0


async def spawn_main():
    return ((await gather_round(noop, SPAWN_N)) / SPAWN_N,
            (await gather_round(noop, SPAWN_N)) / SPAWN_N)


async def sleep_main():
    return ((await gather_round(sleeper, SLEEP_N)) / 1e6 - DELAY * 1e3,
            (await gather_round(sleeper, SLEEP_N)) / 1e6 - DELAY * 1e3)


def run_case(name):
    cold, warm = benchlib.run(spawn_main if name == "spawn_gather" else sleep_main)
    print("%.6g %.6g" % (cold, warm))


def main():
    cases = (("spawn_gather", "cold_ns_per_task", "warm_ns_per_task", "ns"),
             ("gather_sleep", "cold_gather_overhead_ms", "warm_gather_overhead_ms", "ms"))
    flags = ["--uvloop"] if benchlib.use_uvloop() else []
    for name, cold_metric, warm_metric, unit in cases:
        cold, warm = [], []
        for r in range(ROUNDS):
            out = subprocess.run([sys.executable, sys.argv[0], "--case", name] + flags,
                                 check=True, stdout=subprocess.PIPE, text=True).stdout
            c, w = (float(x) for x in out.split())
            cold.append(c)
            warm.append(w)
            benchlib.note("cold[%s]: %s, fresh process %d: %.4g %s cold, %.4g %s warm",
                          benchlib.loop_name(), name, r, c, unit, w, unit)
        benchlib.result("cold", cold_metric, benchlib.median(cold), unit)
        benchlib.result("cold", warm_metric, benchlib.median(warm), unit)


if "--case" in sys.argv:
    run_case(sys.argv[sys.argv.index("--case") + 1])
else:
    main()
