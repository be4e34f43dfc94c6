"""Twin of check_cancel.c: test_run_leftover_fails_on_cancel.

A leftover task that answers asyncio.run's cancellation with another
exception is reported to the loop's handler as "unhandled exception
during asyncio.run() shutdown" (once, and not again as never retrieved);
run still returns main's result.
"""
import asyncio
import gc

reports = []


async def bad():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        raise ValueError("during shutdown")


async def main():
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, ctx: reports.append(f"{ctx['message']}/{ctx['exception']}"))
    asyncio.create_task(bad())
    await asyncio.sleep(0)
    return 8


r = asyncio.run(main())
gc.collect()
print(f"run:{r} reports:{reports}")
