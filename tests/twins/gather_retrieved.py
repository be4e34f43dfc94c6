"""Twin of check_gather.c: test_gather_marks_retrieved.

Both children fail: gather raises the first; the second, failing later,
is marked retrieved by gather too, so nothing is reported.
"""
import asyncio
import gc

reports = []


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def main():
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, ctx: reports.append(ctx["message"]))
    b = asyncio.create_task(bad(1, 0))
    c = asyncio.create_task(bad(2, 0.01))
    try:
        await asyncio.gather(b, c)
    except ValueError as e:
        print(f"raised:{e}", end=" ")
    del b, c
    await asyncio.sleep(0.05)
    gc.collect()
    # The same under return_exceptions.
    b = asyncio.create_task(bad(1, 0))
    c = asyncio.create_task(bad(2, 0.01))
    await asyncio.gather(b, c, return_exceptions=True)
    del b, c
    await asyncio.sleep(0.02)
    gc.collect()
    print(f"before-control:{len(reports)}", end=" ")
    # Control: a failed task nobody awaits is reported.
    asyncio.create_task(bad(3, 0))
    await asyncio.sleep(0.01)
    gc.collect()


asyncio.run(main())
gc.collect()
print(f"reports:{reports}")
