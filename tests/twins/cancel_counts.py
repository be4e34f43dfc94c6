"""Twin of check_cancel.c: test_cancelling_uncancel.

cancelling() counts requests; two requests deliver one CancelledError;
uncancel() decrements; after catching, the next await works and the task
completes normally.
"""
import asyncio

log = []


async def child():
    me = asyncio.current_task()
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append(f"caught:{me.cancelling()}")
        log.append(f"uncancel:{me.uncancel()}")
    await asyncio.sleep(0)
    log.append("after-await")
    log.append(f"uncancel:{me.uncancel()}")
    log.append(f"uncancel:{me.uncancel()}")
    return 42


async def main():
    t = asyncio.create_task(child())
    await asyncio.sleep(0)
    log.append(f"c0:{t.cancelling()}")
    log.append(f"cancel:{t.cancel()}")
    log.append(f"c1:{t.cancelling()}")
    log.append(f"cancel:{t.cancel()}")
    log.append(f"c2:{t.cancelling()}")
    r = await t
    log.append(f"result:{r}")
    log.append(f"cancelled:{t.cancelled()}")
    log.append(f"final:{t.cancelling()}")
    log.append(f"cancel-done:{t.cancel()}")


asyncio.run(main())
print(" ".join(log))
