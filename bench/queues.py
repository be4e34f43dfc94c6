"""queues: twin of bench/queues.c (not queue.py: that name would hide Python's own queue module).

1,000,000 items through a Queue(maxsize=1024), one producer task putting,
one consumer task getting.  Reports ns per item (median of several rounds).
--uvloop runs it on uvloop.
"""
import asyncio

import benchlib

ITEMS = 1_000_000
MAXSIZE = 1024
ROUNDS = 3


async def producer(q):
    for i in range(ITEMS):
        await q.put(i)


async def consumer(q):
    total = 0
    for _ in range(ITEMS):
        total += await q.get()
    assert total == ITEMS * (ITEMS - 1) // 2


async def main():
    per_item = []
    for r in range(ROUNDS):
        q = asyncio.Queue(MAXSIZE)
        t0 = benchlib.now_ns()
        tasks = [asyncio.create_task(producer(q)), asyncio.create_task(consumer(q))]
        for t in tasks:
            await t
        t1 = benchlib.now_ns()
        per_item.append((t1 - t0) / ITEMS)
        benchlib.note("queue[%s]: round %d: %d items in %.2f ms, %.1f ns/item, %.2f M items/s",
                      benchlib.loop_name(), r, ITEMS, (t1 - t0) / 1e6, per_item[-1],
                      1e3 / per_item[-1])
    benchlib.result("queues", "ns_per_item", benchlib.median(per_item), "ns")


benchlib.run(main)
