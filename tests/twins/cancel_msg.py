"""Twin of check_cancel.c: test_cancel_message_travels.

main cancels `outer` (which awaits the task `inner`) with a message: the
inner task, the outer task and main all see the message.
"""
import asyncio

log = []


async def inner():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"inner:{e.args[0] if e.args else ''}")
        raise


async def outer():
    t = asyncio.create_task(inner())
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"outer:{e.args[0] if e.args else ''}")
        log.append(f"inner-cancelled:{t.cancelled()}")
        raise


async def main():
    o = asyncio.create_task(outer())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    log.append(f"cancel:{o.cancel('stop now')}")
    try:
        await o
    except asyncio.CancelledError as e:
        log.append(f"main:{e.args[0] if e.args else ''}")
    log.append(f"outer-cancelled:{o.cancelled()}")


asyncio.run(main())
print(" ".join(log))
