# Twin of check_future.c test_never_retrieved_*: what the exception handler
# is told when the last reference to a failed future (or task) goes, and
# that retrieving the exception (result(), exception(), await) or a
# cancelled/successful future reports nothing.
import asyncio
import gc


def handler(loop, ctx):
    exc = ctx.get("exception")
    who = "task" if isinstance(ctx.get("future"), asyncio.Task) else "future"
    print(f"report: {ctx['message']} | {type(exc).__name__}: {exc} | {who}")


async def fails():
    raise ValueError("task lost")


async def main():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handler)
    f = loop.create_future()
    f.set_exception(ValueError("lost"))
    del f
    gc.collect()
    print("unretrieved future dropped")
    for how in ("result", "exception", "await"):
        f = loop.create_future()
        f.set_exception(ValueError("kept"))
        try:
            if how == "result":
                f.result()
            elif how == "exception":
                f.exception()
            else:
                await f
        except ValueError:
            pass
        del f
        gc.collect()
        print("retrieved by", how, "dropped")
    f = loop.create_future()
    f.cancel()
    del f
    f = loop.create_future()
    f.set_result(1)
    del f
    gc.collect()
    print("cancelled and done futures dropped")
    t = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    del t
    gc.collect()
    print("unretrieved task dropped")


asyncio.run(main())
