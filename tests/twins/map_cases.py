"""Twin of check_gather.c's asyncio_map tests: the Semaphore + gather
program asyncio_map replaces.  fn(i) takes STEPS[i] loop iterations
(sleep(0) each); at most LIMIT run at once; results in argument order.

normal: the order calls end in, the results, the most running at once.
return_exceptions: odd arguments fail; results None there, errors listed.
first failure: argument 2 fails; without return_exceptions the map stops
(the C rule, TaskGroup's: here a TaskGroup with the semaphore): what
started, what was cancelled, what is raised.
cancel: the caller is cancelled while calls run: they are cancelled.
"""
import asyncio

STEPS = [10, 3, 20, 5, 2, 12]
LIMIT = 2
log = []
running = 0
peak = 0


async def fn(i, fail=lambda i: False):
    global running, peak
    running += 1
    peak = max(peak, running)
    try:
        for _ in range(STEPS[i]):
            await asyncio.sleep(0)
        if fail(i):
            raise ValueError("bad %d" % i)
        log.append("end %d" % i)
        return i * 10
    except asyncio.CancelledError:
        log.append("cancelled %d" % i)
        raise
    finally:
        running -= 1


def reset():
    global peak
    log.clear()
    peak = 0


async def bounded_gather(f, return_exceptions=False):
    sem = asyncio.Semaphore(LIMIT)

    async def one(i):
        async with sem:
            return await f(i)
    return await asyncio.gather(*(one(i) for i in range(len(STEPS))),
                                return_exceptions=return_exceptions)


async def main():
    reset()
    results = await bounded_gather(fn)
    print("normal:", " ".join(log), "| results", results, "| peak", peak)

    reset()
    res = await bounded_gather(lambda i: fn(i, lambda i: i % 2), return_exceptions=True)
    print("return_exceptions:", [None if isinstance(r, Exception) else r for r in res],
          [str(r) for r in res if isinstance(r, Exception)])

    reset()
    sem = asyncio.Semaphore(LIMIT)

    async def one(i):
        async with sem:
            return await fn(i, lambda i: i == 2)
    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(len(STEPS)):
                tg.create_task(one(i))
    except* ValueError as eg:
        print("first failure:", " ".join(log), "| raised", eg.exceptions[0])

    reset()
    t = asyncio.create_task(bounded_gather(fn))
    for _ in range(8):
        await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        print("cancel:", " ".join(log), "| cancelled")


asyncio.run(main())
