"""spawn: twin of bench/spawn.c.

Create 100,000 tasks whose coroutine returns at once, then wait for all of
them (await each in turn, drop the references).  Reports the time per task;
round 0 (cold) separately, the main figure is the median of the following
rounds.  --uvloop runs it on uvloop.
"""
import asyncio

import benchlib

N = 100_000
ROUNDS = 5  # measured rounds after the cold one


async def noop():
    return None


async def main():
    per_task = []
    for r in range(ROUNDS + 1):
        t0 = benchlib.now_ns()
        tasks = [asyncio.create_task(noop()) for _ in range(N)]
        for t in tasks:
            await t
        tasks = None
        t1 = benchlib.now_ns()
        per_task.append((t1 - t0) / N)
        benchlib.note("spawn[%s]: round %d: %d tasks in %.2f ms, %.1f ns/task%s",
                      benchlib.loop_name(), r, N, (t1 - t0) / 1e6, per_task[-1],
                      " (cold)" if r == 0 else "")
    benchlib.result("spawn", "ns_per_task", benchlib.median(per_task[1:]), "ns")
    benchlib.result("spawn", "cold_ns_per_task", per_task[0], "ns")


benchlib.run(main)
