"""Twin of check_cancel.c: test_cancel_while_yielding.

A task that is only yielding with sleep(0) (ready to run, awaiting no
future) gets the CancelledError from that sleep(0) when it resumes.
"""
import asyncio

log = []


async def spinner():
    n = 0
    try:
        while True:
            await asyncio.sleep(0)
            n += 1
    except asyncio.CancelledError as e:
        log.append(f"spinner-cancelled:{e.args[0]}")
        return n


async def main():
    t = asyncio.create_task(spinner())
    for _ in range(3):
        await asyncio.sleep(0)
    log.append(f"cancel:{t.cancel('spin')}")
    n = await t
    log.append(f"spins:{n} cancelled:{t.cancelled()}")


asyncio.run(main())
print(" ".join(log))
