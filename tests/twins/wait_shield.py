"""Twin of check_wait.c (asyncio.shield): one line per test, in this order:
test_shield_outer_cancelled, test_shield_caller_cancelled, test_shield_mirrors,
test_shield_done_future, test_shield_cancelled_outer_detaches.
"""
import asyncio
import gc

log = []


async def ok(v, d):
    await asyncio.sleep(d)
    log.append(f"ok{v}-done")
    return v


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def outer_cancelled():
    inner = asyncio.create_task(ok(9, 0.02))
    s = asyncio.shield(inner)
    log.append(f"cancel:{s.cancel()}")
    log.append(f"s-cancelled:{s.cancelled()} inner-cancelled:{inner.cancelled()}")
    log.append(f"inner={await inner}")


async def shielded_await(inner):
    try:
        return await asyncio.shield(inner)
    except asyncio.CancelledError:
        log.append("w-cancelled")
        raise


async def caller_cancelled():
    inner = asyncio.create_task(ok(10, 0.1))
    w = asyncio.create_task(shielded_await(inner))
    await asyncio.sleep(0.01)
    log.append(f"cancel:{w.cancel()}")
    try:
        await w
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"inner-cancelled:{inner.cancelled()}")
    log.append(f"inner={await inner}")


async def mirrors():
    log.append(f"result:{await asyncio.shield(asyncio.create_task(ok(11, 0.01)))}")
    try:
        await asyncio.shield(asyncio.create_task(bad(12, 0.01)))
    except ValueError as e:
        log.append(f"exception:ValueError:{e}")
    inner = asyncio.create_task(ok(13, 10))
    s = asyncio.shield(inner)
    asyncio.get_running_loop().call_later(0.01, inner.cancel)
    try:
        await s
    except asyncio.CancelledError:
        log.append(f"cancelled:{s.cancelled()}")


async def done_future():
    f = asyncio.get_running_loop().create_future()
    f.set_result(3)
    s = asyncio.shield(f)
    log.append(f"same:{s is f} result:{await s}")


reports = []


async def cancelled_outer_detaches():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda lp, ctx: reports.append(ctx["message"]))
    inner = asyncio.create_task(bad(14, 0.01))
    s = asyncio.shield(inner)
    s.cancel()
    await asyncio.sleep(0.03)
    log.append(f"inner-done:{inner.done()}")
    del inner, s
    gc.collect()
    await asyncio.sleep(0)
    log.append(f"reports:{len(reports)}")


for scenario in (outer_cancelled, caller_cancelled, mirrors, done_future,
                 cancelled_outer_detaches):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
