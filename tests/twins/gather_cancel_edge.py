"""Twin of check_gather.c: test_gather_cancel_edges.

Line 1: cancelling a gather future whose children swallow the
cancellation and return normally still ends the gather with CancelledError.
Line 2: cancelling the task awaiting gather(return_exceptions=True) still
raises CancelledError in it.
Line 3: cancel() of a gather future whose children are all done is False.
"""
import asyncio

log = []


async def swallow(v):
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append(f"swallow{v}")
    return v


async def sleeper():
    await asyncio.sleep(10)


async def gatherer(a, b):
    try:
        r = await asyncio.gather(a, b, return_exceptions=True)
        log.append(f"gatherer-returned:{r}")
    except asyncio.CancelledError:
        log.append("gatherer-cancelled")
        raise


async def main1():
    a = asyncio.create_task(swallow(1))
    b = asyncio.create_task(swallow(2))
    g = asyncio.gather(a, b)
    await asyncio.sleep(0)
    log.append(f"cancel:{g.cancel()}")
    try:
        r = await g
        log.append(f"g-returned:{r}")
    except asyncio.CancelledError:
        log.append("g-cancelled-error")
    log.append(f"results:{a.result()},{b.result()}")


async def main2():
    a = asyncio.create_task(sleeper())
    b = asyncio.create_task(sleeper())
    t = asyncio.create_task(gatherer(a, b))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"t:{t.cancelled()} a:{a.cancelled()} b:{b.cancelled()}")


async def main3():
    f1 = asyncio.get_running_loop().create_future()
    f1.set_result(1)
    g = asyncio.gather(f1)
    await asyncio.sleep(0)
    log.append(f"done:{g.done()} cancel:{g.cancel()}")


for m in (main1, main2, main3):
    log.clear()
    asyncio.run(m())
    print(" ".join(log))
