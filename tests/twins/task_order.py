"""Twin of check_task.c: test_first_run_on_suspend (first line),
test_await_done_no_suspend (second line) and test_sleep0_round_robin
(third line).

A new task first runs only when its creator suspends; sleep(0) yields and
the ready tasks run FIFO.  Awaiting a task that is already done does not
suspend.
"""
import asyncio

log = []


async def worker(name, n):
    for i in range(n):
        log.append(f"{name}{i}")
        await asyncio.sleep(0)
    log.append(f"{name}-end")


async def main():
    log.append("main-start")
    a = asyncio.create_task(worker("a", 3))
    b = asyncio.create_task(worker("b", 1))
    c = asyncio.create_task(worker("c", 2))
    log.append("main-created")
    await asyncio.sleep(0)
    log.append("main-resumed")
    await a
    log.append("main-a")
    await b
    await c
    log.append("main-end")


async def nop():
    log.append("d")
    return 1


async def main2():
    d = asyncio.create_task(nop())
    await asyncio.sleep(0)
    x = asyncio.create_task(worker("x", 1))
    log.append(f"got{await d}")
    log.append("main")
    await x


async def rr(i, rounds):
    for _ in range(rounds):
        log.append(str(i))
        await asyncio.sleep(0)


async def main3():
    await asyncio.gather(*(asyncio.create_task(rr(i, 4)) for i in range(5)))


asyncio.run(main())
print(" ".join(log))
log.clear()
asyncio.run(main2())
print(" ".join(log))
log.clear()
asyncio.run(main3())
print("".join(log))
