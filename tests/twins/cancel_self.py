"""Twin of check_cancel.c: test_cancel_self_then_await,
test_cancel_self_then_return and test_cancel_after_future_done.
"""
import asyncio

log = []


async def self_await():
    log.append(f"self-cancel:{asyncio.current_task().cancel('me')}")
    log.append("still-running")
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError as e:
        log.append(f"await-raised:{e.args[0]}")
        raise


async def self_return():
    asyncio.current_task().cancel()
    return 5


async def waiter(fut):
    try:
        r = await fut
        log.append(f"waiter-got:{r}")
    except asyncio.CancelledError:
        log.append("waiter-cancelled")
        raise


async def main():
    t = asyncio.create_task(self_await())
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"main:{e.args[0]}")
    log.append(f"t1-cancelled:{t.cancelled()}")

    t = asyncio.create_task(self_return())
    try:
        await t
        log.append("t2-returned")
    except asyncio.CancelledError:
        log.append("t2-cancelled")
    log.append(f"t2-cancelled:{t.cancelled()}")

    fut = asyncio.get_running_loop().create_future()
    t = asyncio.create_task(waiter(fut))
    await asyncio.sleep(0)
    fut.set_result(7)
    log.append(f"cancel:{t.cancel()}")
    try:
        await t
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"t3-cancelled:{t.cancelled()}")
    log.append(f"fut-cancelled:{fut.cancelled()}")


asyncio.run(main())
print(" ".join(log))
