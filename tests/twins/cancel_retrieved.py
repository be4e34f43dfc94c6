"""Twin of check_cancel.c: test_cancel_after_failure_retrieves.

A task whose awaited future (or gather) already failed, cancelled before
it resumed, sees CancelledError; the failure it never saw still counts as
retrieved (Task.__wakeup calls future.result()), so nothing is reported
as "exception was never retrieved".
"""
import asyncio
import gc

log = []
reports = []


async def await_it(fut):
    try:
        await fut
        log.append("no-error")
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    except ValueError:
        log.append("value-error")


async def fail():
    raise ValueError("child failed")


async def gather_it(a):
    try:
        await asyncio.gather(a)
    except asyncio.CancelledError:
        log.append("g-cancelled")
        raise
    except ValueError:
        log.append("g-value-error")


async def main():
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, ctx: reports.append(ctx["message"]))
    f = asyncio.get_running_loop().create_future()
    t = asyncio.create_task(await_it(f))
    await asyncio.sleep(0)
    f.set_exception(ValueError("lost"))
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    del f, t
    gc.collect()

    a = asyncio.create_task(fail())
    g = asyncio.create_task(gather_it(a))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    g.cancel()
    try:
        await g
    except asyncio.CancelledError:
        pass
    del a, g
    gc.collect()
    await asyncio.sleep(0.01)
    gc.collect()


asyncio.run(main())
gc.collect()
log.append(f"reports:{len(reports)}")
print(" ".join(log))
