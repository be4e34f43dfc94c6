"""taskgroup: twin of bench/taskgroup.c.

100,000 TaskGroups of 10 children each: the main task enters a group,
creates 10 tasks in it whose coroutine returns at once, and leaves it
(waiting for the 10).  Reports ns per group and per child, median of
several rounds (fewer than C, as each takes seconds).  --uvloop runs it on
uvloop.
"""
import asyncio

import benchlib

GROUPS = 100_000
CHILDREN = 10
ROUNDS = 3


async def child():
    pass


async def main():
    per_group = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        for _ in range(GROUPS):
            async with asyncio.TaskGroup() as tg:
                for _ in range(CHILDREN):
                    tg.create_task(child())
        t1 = benchlib.now_ns()
        per_group.append((t1 - t0) / GROUPS)
        benchlib.note("taskgroup[%s]: round %d: %d groups of %d in %.2f ms, %.1f ns/group",
                      benchlib.loop_name(), r, GROUPS, CHILDREN, (t1 - t0) / 1e6, per_group[-1])
    med = benchlib.median(per_group)
    benchlib.result("taskgroup", "ns_per_group", med, "ns")
    benchlib.result("taskgroup", "ns_per_child", med / CHILDREN, "ns")


benchlib.run(main)
