"""Twin of check_sync.c: one line per test, in this order:
test_lock_order, test_lock_cancel_woken, test_event_order,
test_condition_order, test_condition_cancel_relocks, test_semaphore_order,
test_barrier_rounds.
"""
import asyncio


async def lock_order():
    lock = asyncio.Lock()
    log = []

    async def worker(i):
        await lock.acquire()
        log.append(f"L{i}")
        await asyncio.sleep(0)
        lock.release()

    await lock.acquire()
    ts = [asyncio.create_task(worker(i)) for i in range(3)]
    await asyncio.sleep(0)
    lock.release()
    late = asyncio.create_task(worker(9))  # queues behind the woken waiter
    await asyncio.gather(*ts, late)
    print("lock_order", " ".join(log), lock.locked())


async def lock_cancel_woken():
    lock = asyncio.Lock()
    log = []

    async def worker(i):
        try:
            await lock.acquire()
        except asyncio.CancelledError:
            log.append(f"c{i}")
            return
        log.append(f"a{i}")
        lock.release()

    await lock.acquire()
    ts = [asyncio.create_task(worker(i)) for i in range(1, 4)]
    await asyncio.sleep(0)
    lock.release()  # wakes 1
    ts[0].cancel()  # 1 was woken: it must pass the lock on
    ts[2].cancel()  # 3 is still waiting
    await asyncio.gather(*ts)
    print("lock_cancel_woken", " ".join(log), lock.locked())


async def event_order():
    ev = asyncio.Event()
    log = []

    async def waiter(i):
        try:
            await ev.wait()
        except asyncio.CancelledError:
            log.append(f"c{i}")
            return
        log.append(f"e{i}")

    ts = [asyncio.create_task(waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    ts[1].cancel()
    ev.set()
    ev.clear()  # the waiters woken by set still return
    await asyncio.gather(*ts)
    print("event_order", " ".join(log), ev.is_set())


async def condition_order():
    cond = asyncio.Condition()
    log = []
    state = {"n": 0}

    async def waiter(i):
        async with cond:
            await cond.wait()
            log.append(f"w{i}")

    async def pred_waiter():
        async with cond:
            await cond.wait_for(lambda: state["n"] >= 2)
            log.append(f"p{state['n']}")

    ts = [asyncio.create_task(waiter(i)) for i in range(3)]
    ts.append(asyncio.create_task(pred_waiter()))
    await asyncio.sleep(0)
    async with cond:
        state["n"] = 1
        cond.notify(1)
    await asyncio.sleep(0)
    log.append("|")
    async with cond:
        state["n"] = 2
        cond.notify_all()
    await asyncio.gather(*ts)
    print("condition_order", " ".join(log), cond.locked())


async def condition_cancel_relocks():
    cond = asyncio.Condition()
    log = []

    async def waiter():
        async with cond:
            try:
                await cond.wait()
            except asyncio.CancelledError:
                log.append(f"cancelled locked={cond.locked()}")
                raise

    t = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    await cond.acquire()
    t.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append("main releases")
    cond.release()
    try:
        await t
    except asyncio.CancelledError:
        log.append("task cancelled")
    print("condition_cancel_relocks", "; ".join(log), cond.locked())


async def semaphore_order():
    sem = asyncio.Semaphore(2)
    log = []

    async def worker(i):
        try:
            await sem.acquire()
        except asyncio.CancelledError:
            log.append(f"c{i}")
            return
        log.append(f"s{i}")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        log.append(f"r{i}")
        sem.release()

    ts = [asyncio.create_task(worker(i)) for i in range(6)]
    await asyncio.sleep(0)
    ts[3].cancel()  # waiting: never gets a permit
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # 0 and 1 released: 2 and 4 woken
    ts[2].cancel()  # woken, then cancelled: its permit goes to 5
    await asyncio.gather(*ts)
    print("semaphore_order", " ".join(log), sem.locked())


async def barrier_rounds():
    b = asyncio.Barrier(3)
    log = []

    async def worker(i):
        try:
            idx = await b.wait()
            log.append(f"{i}:{idx}")
        except asyncio.BrokenBarrierError as e:
            log.append(f"{i}:broken({e})")

    ts = [asyncio.create_task(worker(i)) for i in range(3)]
    await asyncio.gather(*ts)
    log.append("|")
    ts = [asyncio.create_task(worker(i)) for i in range(2)]
    await asyncio.sleep(0)
    log.append(f"n_waiting={b.n_waiting}")
    await b.reset()
    await asyncio.gather(*ts)
    log.append("|")
    await b.abort()
    await worker(7)
    log.append(f"broken={b.broken}")
    await b.reset()
    ts = [asyncio.create_task(worker(i)) for i in range(4)]
    await asyncio.sleep(0)
    log.append(f"n_waiting={b.n_waiting}")
    await asyncio.sleep(0)
    ts.append(asyncio.create_task(worker(4)))
    ts.append(asyncio.create_task(worker(5)))
    await asyncio.gather(*ts)
    print("barrier_rounds", " ".join(log), b.n_waiting)


async def main():
    for f in (lock_order, lock_cancel_woken, event_order, condition_order,
              condition_cancel_relocks, semaphore_order, barrier_rounds):
        await f()


asyncio.run(main())
