"""Twin of check_gather.c: one line per test, in this order:
test_gather_first_failure, test_gather_child_cancelled,
test_gather_future_cancel, test_gather_caller_cancelled,
test_gather_return_exceptions.
"""
import asyncio

log = []


def name(x):
    return type(x).__name__ if isinstance(x, BaseException) else str(x)


async def ok(v, d):
    await asyncio.sleep(d)
    log.append(f"ok{v}-done")
    return v


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def first_failure():
    a = asyncio.create_task(ok(1, 0.1))
    b = asyncio.create_task(bad(0, 0))
    c = asyncio.create_task(ok(3, 0.2))
    try:
        await asyncio.gather(a, b, c)
    except ValueError as e:
        log.append(f"gather-raised:{e}")
    log.append(f"done:{a.done()},{b.done()},{c.done()}")
    log.append(f"a={await a}")
    log.append(f"c={await c}")


async def child_cancelled():
    a = asyncio.create_task(ok(10, 10))
    b = asyncio.create_task(ok(11, 0.02))
    g = asyncio.gather(a, b)
    await asyncio.sleep(0)
    a.cancel("alone")
    try:
        await g
    except asyncio.CancelledError as e:
        log.append(f"gather-raised:CancelledError:{e.args[0] if e.args else ''}")
    log.append(f"b-cancelled:{b.cancelled()}")
    log.append(f"b={await b}")


async def future_cancel():
    a = asyncio.create_task(ok(20, 10))
    b = asyncio.create_task(ok(21, 10))
    g = asyncio.gather(a, b)
    await asyncio.sleep(0)
    log.append(f"cancel:{g.cancel('gm')}")
    log.append(f"g-done-now:{g.done()}")
    try:
        await g
    except asyncio.CancelledError as e:
        log.append(f"g-raised:{e.args[0] if e.args else ''}")
    log.append(f"children:{a.cancelled()},{b.cancelled()}")


async def gatherer(a, b):
    try:
        await asyncio.gather(a, b)
    except asyncio.CancelledError as e:
        log.append(f"gatherer:{e.args[0] if e.args else ''}")
        raise


async def caller_cancelled():
    a = asyncio.create_task(ok(40, 10))
    b = asyncio.create_task(ok(41, 10))
    t = asyncio.create_task(gatherer(a, b))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append(f"cancel:{t.cancel('cm')}")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"main:{e.args[0] if e.args else ''}")
    log.append(f"t:{t.cancelled()} children:{a.cancelled()},{b.cancelled()}")


async def return_exceptions():
    a = asyncio.create_task(ok(30, 0))
    b = asyncio.create_task(bad(5, 0))
    d = asyncio.create_task(ok(31, 10))
    d.cancel()
    r = await asyncio.gather(a, b, a, d, return_exceptions=True)
    log.append("rex:" + ",".join(name(x) for x in r))


for scenario in (first_failure, child_cancelled, future_cancel, caller_cancelled,
                 return_exceptions):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
