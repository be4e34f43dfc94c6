"""Twin of check_cancel.c: test_cancel_during_cleanup (first line) and
test_cancel_shared_future (second line).
"""
import asyncio

log = []


async def stubborn():
    me = asyncio.current_task()
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError as e:
        log.append(f"first:{e.args[0]}:{me.cancelling()}")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as e2:
            log.append(f"second:{e2.args[0]}:{me.cancelling()}")
            raise


async def main():
    t = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    t.cancel("one")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t.cancel("two")
    try:
        await t
    except asyncio.CancelledError as e:
        log.append(f"main:{e.args[0]}")


async def waiter(name, fut):
    try:
        await fut
    except asyncio.CancelledError as e:
        log.append(f"{name}:{e.args[0] if e.args else ''}")
        raise


async def main2():
    f = asyncio.get_running_loop().create_future()
    a = asyncio.create_task(waiter("a", f))
    b = asyncio.create_task(waiter("b", f))
    await asyncio.sleep(0)
    a.cancel("shared")
    await asyncio.gather(a, b, return_exceptions=True)
    log.append(f"f:{f.cancelled()} a:{a.cancelled()} b:{b.cancelled()} "
               f"cancelling:{a.cancelling()},{b.cancelling()}")


asyncio.run(main())
print(" ".join(log))
log.clear()
asyncio.run(main2())
print(" ".join(log))
