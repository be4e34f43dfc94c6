"""Twin of check_queue.c: one line per test, in this order:
test_queue_kinds, test_getters_order, test_getter_cancel_woken,
test_putter_cancel_woken, test_join_task_done.
(Shutdown is Python 3.13's; /usr/bin/python3 is 3.11: check_queue.c's
shutdown tests reason from 3.13's source instead.)
"""
import asyncio


async def queue_kinds():
    out = []
    for q in (asyncio.Queue(), asyncio.LifoQueue(), asyncio.PriorityQueue()):
        for item in (3, 1, None, 2, 1):
            # None is an ordinary item; the priority queue compares ints, so
            # it stands for 0 there (the C comparator treats NULL as 0).
            q.put_nowait(item if not isinstance(q, asyncio.PriorityQueue) or item is not None else 0)
        got = []
        while not q.empty():
            got.append(str(q.get_nowait()))
        out.append(",".join(got))
    print("queue_kinds", " ".join(out))


async def getters_order():
    q = asyncio.Queue()
    log = []

    async def getter(i):
        item = await q.get()
        log.append(f"g{i}={item}")

    ts = [asyncio.create_task(getter(i)) for i in range(3)]
    await asyncio.sleep(0)
    for item in "abc":
        q.put_nowait(item)
    await asyncio.gather(*ts)
    print("getters_order", " ".join(log))


async def getter_cancel_woken():
    q = asyncio.Queue()
    log = []

    async def getter(i):
        try:
            item = await q.get()
        except asyncio.CancelledError:
            log.append(f"c{i}")
            return
        log.append(f"g{i}={item}")

    ts = [asyncio.create_task(getter(i)) for i in range(3)]
    await asyncio.sleep(0)
    ts[1].cancel()     # waiting: dropped
    q.put_nowait("a")  # wakes 0
    ts[0].cancel()     # woken, then cancelled: the item goes to 2
    await asyncio.gather(*ts)
    print("getter_cancel_woken", " ".join(log), q.qsize())


async def putter_cancel_woken():
    q = asyncio.Queue(1)
    log = []

    async def putter(i, item):
        try:
            await q.put(item)
        except asyncio.CancelledError:
            log.append(f"c{i}")
            return
        log.append(f"p{i}")

    q.put_nowait("x")
    ts = [asyncio.create_task(putter(i, item)) for i, item in enumerate("abc")]
    await asyncio.sleep(0)
    log.append(f"full={q.full()}")
    ts[1].cancel()
    log.append(f"got={q.get_nowait()}")  # wakes 0
    ts[0].cancel()                         # woken, then cancelled: slot goes to 2
    await asyncio.gather(*ts)
    rest = []
    while not q.empty():
        rest.append(q.get_nowait())
    print("putter_cancel_woken", " ".join(log), ",".join(rest))


async def join_task_done():
    q = asyncio.Queue()
    log = []

    async def worker(i):
        while True:
            item = await q.get()
            await asyncio.sleep(0)
            log.append(f"w{i}:{item}")
            q.task_done()

    async def joiner(i):
        await q.join()
        log.append(f"j{i}")

    for item in range(4):
        q.put_nowait(item)
    js = [asyncio.create_task(joiner(i)) for i in range(2)]
    ws = [asyncio.create_task(worker(i)) for i in range(2)]
    await q.join()
    log.append("joined")
    await asyncio.gather(*js)
    for w in ws:
        w.cancel()
    await asyncio.gather(*ws, return_exceptions=True)
    try:
        q.task_done()
    except ValueError as e:
        log.append(f"ValueError({e})")
    print("join_task_done", " ".join(log))


async def main():
    for f in (queue_kinds, getters_order, getter_cancel_woken, putter_cancel_woken,
              join_task_done):
        await f()


asyncio.run(main())
