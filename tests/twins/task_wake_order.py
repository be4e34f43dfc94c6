"""Twin of check_task.c: test_wake_order.

Line 1: tasks awaiting one future wake in the order they started waiting
(a done callback added in between runs in its place).
Line 2: sleepers wake by deadline; equal delays in the order they slept.
"""
import asyncio

log = []


async def waiter(name, fut):
    await fut
    log.append(name)


async def sleeper(name, d):
    await asyncio.sleep(d)
    log.append(name)


async def main1():
    f = asyncio.get_running_loop().create_future()
    ts = [asyncio.create_task(waiter("a", f)), asyncio.create_task(waiter("b", f))]
    await asyncio.sleep(0)
    f.add_done_callback(lambda _: log.append("cb"))
    ts.append(asyncio.create_task(waiter("c", f)))
    await asyncio.sleep(0)
    f.set_result(1)
    await asyncio.gather(*ts)


async def main2():
    spec = [("s30", 0.3), ("s10", 0.1), ("s20a", 0.2), ("s20b", 0.2), ("s0", 0)]
    await asyncio.gather(*(asyncio.create_task(sleeper(n, d)) for n, d in spec))


for m in (main1, main2):
    log.clear()
    asyncio.run(m())
    print(" ".join(log))
