"""Twin of check_cancel.c: test_run_cancels_leftovers.

asyncio.run cancels the tasks main left running: a started one sees
CancelledError (and may await during cleanup); one that never started is
cancelled without running.
"""
import asyncio

log = []


async def looper():
    log.append("looper-start")
    try:
        while True:
            await asyncio.sleep(0.001)
    except asyncio.CancelledError:
        log.append("looper-cancelled")
        await asyncio.sleep(0)
        log.append("looper-cleaned")
        raise


async def never():
    log.append("never-ran")


tasks = []


async def main():
    tasks.append(asyncio.create_task(looper()))
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(never()))
    log.append("main-return")
    return 3


r = asyncio.run(main())
log.append(f"run:{r}")
log.append(f"cancelled:{tasks[0].cancelled()},{tasks[1].cancelled()}")
print(" ".join(log))
