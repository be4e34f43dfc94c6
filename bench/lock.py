"""lock: twin of bench/lock.c.

N tasks (N = 2, then 100) share one Lock; each in turn acquires it, yields
once while holding it, and releases it.  1,000,000 acquisitions in all
(fewer rounds in Python).  Reports ns per acquisition (hand-off).
--uvloop runs it on uvloop.
"""
import asyncio

import benchlib

ACQUISITIONS = 1_000_000
ROUNDS = 3


async def worker(lock, n):
    for _ in range(n):
        async with lock:
            await asyncio.sleep(0)


async def one_round(ntasks):
    lock = asyncio.Lock()
    t0 = benchlib.now_ns()
    tasks = [asyncio.create_task(worker(lock, ACQUISITIONS // ntasks)) for _ in range(ntasks)]
    for t in tasks:
        await t
    return (benchlib.now_ns() - t0) / ACQUISITIONS


async def main():
    for ntasks in (2, 100):
        ns = []
        for r in range(ROUNDS):
            ns.append(await one_round(ntasks))
            benchlib.note("lock[%s]: %d tasks, round %d: %.1f ns/hand-off",
                          benchlib.loop_name(), ntasks, r, ns[-1])
        benchlib.result("lock", "ns_per_handoff_%d" % ntasks, benchlib.median(ns), "ns")


benchlib.run(main)
