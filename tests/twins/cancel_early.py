"""Twin of check_cancel.c: test_cancel_before_start.

A task cancelled before it ever ran is not done at once (the cancellation
is delivered when it would first run); its coroutine body never runs.
"""
import asyncio

log = []


async def body():
    log.append("body-ran")


async def main():
    t = asyncio.create_task(body())
    log.append(f"cancel:{t.cancel('early')}")
    log.append(f"done-now:{t.done()}")
    log.append(f"cancelling:{t.cancelling()}")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"raised:{e.args[0]}")
    log.append(f"cancelled:{t.cancelled()}")


asyncio.run(main())
print(" ".join(log))
