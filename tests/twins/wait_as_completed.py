"""Twin of check_wait.c (asyncio.as_completed): one line per test, in this order:
test_as_completed_order, test_as_completed_timeout, test_as_completed_empty,
test_as_completed_duplicates, test_as_completed_caller_cancelled.
C: as_completed_next stores the finished future (NULL once all were yielded);
Python's iterator yields awaitables that return the result.
"""
import asyncio

log = []


async def ok(v, d):
    await asyncio.sleep(d)
    return v


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def order():
    fs = [asyncio.create_task(ok(1, 0.3)), asyncio.create_task(bad(2, 0.1)),
          asyncio.create_task(ok(3, 0.2))]
    for f in asyncio.as_completed(fs):
        try:
            log.append(f"got:{await f}")
        except ValueError as e:
            log.append(f"raised:{e}")
    log.append("end")


async def timeout():
    a = asyncio.create_task(ok(1, 0.01))
    b = asyncio.create_task(ok(2, 10))
    c = asyncio.create_task(ok(3, 10))
    for f in asyncio.as_completed([a, b, c], timeout=0.05):
        try:
            log.append(f"got:{await f}")
        except TimeoutError:
            log.append("TimeoutError")
    log.append(f"end b-cancelled:{b.cancelled()} c-cancelled:{c.cancelled()}")
    b.cancel()
    c.cancel()


async def empty():
    n = 0
    for f in asyncio.as_completed([]):
        n += 1
    log.append(f"empty:{n}")


async def duplicates():
    a = asyncio.create_task(ok(1, 0.3))
    b = asyncio.create_task(ok(2, 0.01))
    for f in asyncio.as_completed([a, b, a, a]):
        log.append(f"got:{await f}")
    log.append("end")


async def iterate(fs):
    try:
        for f in asyncio.as_completed(fs):
            log.append(f"got:{await f}")
    except asyncio.CancelledError:
        log.append("w-cancelled")
        raise


async def caller_cancelled():
    a = asyncio.create_task(ok(1, 0.01))
    b = asyncio.create_task(ok(2, 0.15))
    w = asyncio.create_task(iterate([a, b]))
    await asyncio.sleep(0.05)
    log.append(f"cancel:{w.cancel()}")
    try:
        await w
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"b-cancelled:{b.cancelled()} b={await b}")


for scenario in (order, timeout, empty, duplicates, caller_cancelled):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
