"""gather: twin of bench/gather.c.

Create 10,000 tasks that each sleep(0.001), gather them, drop them.
"Gather overhead" = wall time from before the first task is created to after
the results are in, minus the 1 ms the sleeps themselves must take.  Median
of several runs (the first, cold one included).  --uvloop runs it on uvloop.
"""
import asyncio

import benchlib

N = 10_000
DELAY = 0.001
ROUNDS = 7


async def sleeper():
    await asyncio.sleep(DELAY)


async def main():
    overhead_ms = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        tasks = [asyncio.create_task(sleeper()) for _ in range(N)]
        await asyncio.gather(*tasks)
        tasks = None
        t1 = benchlib.now_ns()
        overhead_ms.append((t1 - t0) / 1e6 - DELAY * 1e3)
        benchlib.note("gather[%s]: round %d: %d tasks sleeping %g s gathered in %.3f ms: overhead %.3f ms",
                      benchlib.loop_name(), r, N, DELAY, (t1 - t0) / 1e6, overhead_ms[-1])
    benchlib.result("gather", "overhead_ms", benchlib.median(overhead_ms), "ms")


benchlib.run(main)
