"""Twin of check_gather.c: test_gather_done_inputs_order.

gather() of futures that are already done still suspends the caller (its
done callbacks go through the loop: x0 and x1 run first); gather() of
nothing does not suspend at all.
"""
import asyncio

log = []


async def x(n):
    for i in range(n):
        log.append(f"x{i}")
        await asyncio.sleep(0)


async def main():
    f = asyncio.get_running_loop().create_future()
    f.set_result(1)
    t = asyncio.create_task(x(4))
    r = await asyncio.gather(f)
    log.append(f"main{r}")
    r = await asyncio.gather()
    log.append(f"main-empty{r}")
    await t


asyncio.run(main())
print(" ".join(log))
