"""future_pingpong: twin of bench/future_pingpong.c.

Two tasks hand a fresh future back and forth.  Each hand-off: the sender
creates a new future for the reply, sets the result of the future the
receiver awaits to that new future, and awaits it.  A round trip is two
hand-offs.  1,000,000 round trips; reports ns per hand-off (and per round
trip), median of several runs.  --uvloop runs it on uvloop.
"""
import asyncio

import benchlib

ROUND_TRIPS = 1_000_000
ROUNDS = 3
STOP = object()  # the result that tells the ponger to finish


async def ponger(mine):
    loop = asyncio.get_running_loop()
    while True:
        got = await mine
        if got is STOP:
            return
        mine = loop.create_future()
        got.set_result(mine)


async def pinger(theirs, n):
    loop = asyncio.get_running_loop()
    for _ in range(n):
        mine = loop.create_future()
        theirs.set_result(mine)
        theirs = await mine
    theirs.set_result(STOP)


async def main():
    loop = asyncio.get_running_loop()
    per_handoff = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        first = loop.create_future()
        tasks = [asyncio.create_task(ponger(first)),
                 asyncio.create_task(pinger(first, ROUND_TRIPS))]
        # Each future's result is the next future: holding `first` would keep
        # the whole chain of 2,000,000 futures alive (and freeing it at once
        # overflows the C stack in CPython's recursive deallocation).
        del first
        for t in tasks:
            await t
        t1 = benchlib.now_ns()
        per_handoff.append((t1 - t0) / (2 * ROUND_TRIPS))
        benchlib.note("future_pingpong[%s]: round %d: %d round trips in %.2f ms, %.1f ns/hand-off",
                      benchlib.loop_name(), r, ROUND_TRIPS, (t1 - t0) / 1e6, per_handoff[-1])
    med = benchlib.median(per_handoff)
    benchlib.result("future_pingpong", "ns_per_handoff", med, "ns")
    benchlib.result("future_pingpong", "ns_per_round_trip", 2 * med, "ns")


benchlib.run(main)
