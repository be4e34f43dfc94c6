"""semaphore: twin of bench/semaphore.c.

10,000 worker tasks bounded by a Semaphore(100): each acquires a permit,
yields once while holding it, and releases it.  Reports ns per worker for
the whole run (creating the tasks to the last one done), median of rounds.
--uvloop runs it on uvloop.
"""
import asyncio

import benchlib

WORKERS = 10_000
PERMITS = 100
ROUNDS = 5


async def worker(sem):
    async with sem:
        await asyncio.sleep(0)


async def main():
    ns = []
    for r in range(ROUNDS):
        sem = asyncio.Semaphore(PERMITS)
        t0 = benchlib.now_ns()
        await asyncio.gather(*[asyncio.create_task(worker(sem)) for _ in range(WORKERS)])
        t1 = benchlib.now_ns()
        ns.append((t1 - t0) / WORKERS)
        benchlib.note("semaphore[%s]: round %d: %d workers in %.3f ms, %.1f ns/worker",
                      benchlib.loop_name(), r, WORKERS, (t1 - t0) / 1e6, ns[-1])
    benchlib.result("semaphore", "ns_per_worker", benchlib.median(ns), "ns")


benchlib.run(main)
