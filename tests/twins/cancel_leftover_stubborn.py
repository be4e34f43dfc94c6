"""Twin of check_cancel.c: test_run_waits_for_stubborn_leftover.

asyncio.run waits for leftover tasks that swallow the cancellation and
take a while to finish.  A leftover awaiting such a task is cancelled
through it (its cancel() cancels what it awaits), so when the inner task
swallows the cancellation the outer one gets the result, not an error.
"""
import asyncio

log = []


async def stubborn():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("stubborn-cancelled")
    await asyncio.sleep(0.05)
    log.append("stubborn-finished")
    return 1


async def awaiting(t):
    try:
        r = await t
        log.append(f"awaiting-got:{r}")
    except asyncio.CancelledError:
        log.append("awaiting-cancelled")
        raise


async def main():
    s = asyncio.create_task(stubborn())
    asyncio.create_task(awaiting(s))
    await asyncio.sleep(0)
    log.append("main-return")


asyncio.run(main())
log.append("run-returned")
print(" ".join(log))
