"""Twin of check_gather.c: test_gather_wakeup_order.

How many loop iterations a gather takes, counted by a task that yields:
children run, their done callbacks run, then the caller wakes.
"""
import asyncio
log = []
async def x(n):
    for i in range(n):
        log.append(f"x{i}")
        await asyncio.sleep(0)
async def child():
    return 5
async def fail():
    raise ValueError("f")
async def main():
    t = asyncio.create_task(x(6))
    a = asyncio.create_task(child())
    b = asyncio.create_task(child())
    r = await asyncio.gather(a, b)
    log.append(f"g{r}")
    c = asyncio.create_task(fail())
    d = asyncio.create_task(child())
    try:
        await asyncio.gather(d, c)
    except ValueError:
        log.append("gV")
    await t
asyncio.run(main())
print(" ".join(log))
