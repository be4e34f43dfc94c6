"""switch: twin of bench/switch.c.

Two tasks ping-pong with sleep(0): each yields 500,000 times, so there are
1,000,000 sleep(0) calls, each one a switch from one task to the other
through the loop.  Reports the time per switch (median of several runs;
Python runs fewer rounds than C, as each takes seconds).  --uvloop runs it
on uvloop.
"""
import asyncio

import benchlib

SWITCHES = 1_000_000
ROUNDS = 3


async def yielder(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def main():
    per_switch = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        tasks = [asyncio.create_task(yielder(SWITCHES // 2)) for _ in range(2)]
        for t in tasks:
            await t
        t1 = benchlib.now_ns()
        per_switch.append((t1 - t0) / SWITCHES)
        benchlib.note("switch[%s]: round %d: %d switches in %.2f ms, %.1f ns/switch",
                      benchlib.loop_name(), r, SWITCHES, (t1 - t0) / 1e6, per_switch[-1])
    benchlib.result("switch", "ns_per_switch", benchlib.median(per_switch), "ns")


benchlib.run(main)
