"""Twin of check_wait.c (asyncio.wait_for): one line per test, in this order:
test_wait_for_in_time, test_wait_for_timeout_waits_for_cleanup,
test_wait_for_inner_swallows, test_wait_for_result_not_lost,
test_wait_for_timeout_zero, test_wait_for_caller_cancelled,
test_wait_for_inner_raises, test_wait_for_cancel_during_cleanup,
test_wait_for_inside_timeout_scope.
C rule: a negative timeout is Python's None.
"""
import asyncio
import time

log = []


async def ok(v, d):
    await asyncio.sleep(d)
    return v


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def cleaner(d):
    """Sleeps; on cancellation logs, awaits a cleanup of d seconds, re-raises."""
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("cleanup-start")
        await asyncio.sleep(d)
        log.append("cleanup-end")
        raise


async def swallower(v):
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("swallowed")
    return v


async def raiser():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        raise ValueError("late")


async def in_time():
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    t = asyncio.create_task(ok(7, 0.01))
    log.append(f"task:{await asyncio.wait_for(t, 1)}")
    f = loop.create_future()
    loop.call_later(0.01, f.set_result, 100)
    log.append(f"future:{await asyncio.wait_for(f, 1)}")
    t = asyncio.create_task(ok(8, 0.02))
    log.append(f"none:{await asyncio.wait_for(t, None)}")
    log.append(f"cancelling:{me.cancelling()}")


async def timeout_waits_for_cleanup():
    me = asyncio.current_task()
    t = asyncio.create_task(cleaner(0.02))
    try:
        await asyncio.wait_for(t, 0.02)
    except TimeoutError:
        log.append("timeout")
    log.append(f"inner-cancelled:{t.cancelled()} cancelling:{me.cancelling()}")
    await asyncio.sleep(0.01)
    log.append("after")


async def inner_swallows():
    t = asyncio.create_task(swallower(42))
    log.append(f"result:{await asyncio.wait_for(t, 0.01)}")
    log.append(f"cancelled:{t.cancelled()}")
    t = asyncio.create_task(raiser())
    try:
        await asyncio.wait_for(t, 0.01)
    except ValueError as e:
        log.append(f"raised:ValueError:{e}")


async def race_waiter(f):
    r = await asyncio.wait_for(f, 10)
    log.append(f"w-result:{r}")
    return r


async def result_not_lost():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    w = asyncio.create_task(race_waiter(f))
    await asyncio.sleep(0)
    f.set_result(5)
    log.append(f"cancel:{w.cancel()}")
    r = await w
    log.append(f"w={r} w-cancelled:{w.cancelled()}")

    def slow_set(fut):
        time.sleep(0.05)  # runs past wait_for's deadline
        fut.set_result(6)

    g = loop.create_future()
    loop.call_later(0.01, slow_set, g)
    log.append(f"overrun:{await asyncio.wait_for(g, 0.03)}")


async def timeout_zero():
    loop = asyncio.get_running_loop()
    f = loop.create_future()
    f.set_result(1)
    log.append(f"done:{await asyncio.wait_for(f, 0)}")
    t = asyncio.create_task(cleaner(0))
    try:
        await asyncio.wait_for(t, 0)
    except TimeoutError:
        log.append(f"unstarted:TimeoutError cancelled:{t.cancelled()}")
    t = asyncio.create_task(cleaner(0.01))
    await asyncio.sleep(0)
    try:
        await asyncio.wait_for(t, 0)
    except TimeoutError:
        log.append(f"started:TimeoutError cancelled:{t.cancelled()}")
    t = asyncio.create_task(swallower(9))
    await asyncio.sleep(0)
    log.append(f"swallower:{await asyncio.wait_for(t, 0)}")


async def wf_caller(t, timeout):
    try:
        await asyncio.wait_for(t, timeout)
    except asyncio.CancelledError:
        log.append("w-cancelled")
        raise


async def caller_cancelled():
    t = asyncio.create_task(cleaner(0.02))
    w = asyncio.create_task(wf_caller(t, 10))
    await asyncio.sleep(0.01)
    log.append(f"cancel:{w.cancel()}")
    try:
        await w
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"inner-cancelled:{t.cancelled()}")


async def inner_raises():
    loop = asyncio.get_running_loop()
    t = asyncio.create_task(bad(3, 0.01))
    try:
        await asyncio.wait_for(t, 1)
    except ValueError as e:
        log.append(f"task:ValueError:{e}")
    f = loop.create_future()
    loop.call_soon(f.set_exception, KeyError("k"))
    try:
        await asyncio.wait_for(f, 1)
    except KeyError:
        log.append("future:KeyError")
    c = asyncio.create_task(ok(1, 10))
    loop.call_later(0.01, c.cancel)
    try:
        await asyncio.wait_for(c, 1)
    except asyncio.CancelledError:
        log.append("inner-cancelled:CancelledError")
    log.append(f"cancelling:{asyncio.current_task().cancelling()}")


async def cancel_during_cleanup():
    t = asyncio.create_task(cleaner(0.15))
    w = asyncio.create_task(wf_caller(t, 0.01))
    await asyncio.sleep(0.05)
    log.append(f"cancel:{w.cancel()}")
    try:
        await w
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    try:
        await t
    except asyncio.CancelledError:
        log.append("inner-cancelled")


async def inside_timeout_scope():
    me = asyncio.current_task()
    t = asyncio.create_task(cleaner(0.01))
    try:
        async with asyncio.timeout(0.01):
            await asyncio.wait_for(t, 10)
    except TimeoutError:
        log.append("TimeoutError")
    log.append(f"inner-cancelled:{t.cancelled()} cancelling:{me.cancelling()}")


for scenario in (in_time, timeout_waits_for_cleanup, inner_swallows, result_not_lost,
                 timeout_zero, caller_cancelled, inner_raises, cancel_during_cleanup,
                 inside_timeout_scope):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
