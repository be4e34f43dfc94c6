"""Twin of check_error.c's cleanup tests: a C `goto cleanup` path is a
Python `finally:` block.  Each worker fails (or is cancelled), its cleanup
runs while that error propagates, and main prints how the worker ended:
its exception's type and message and its __context__.
"""
import asyncio


def show(e):
    return "%s(%s)" % (type(e).__name__, e.args[0]) if e else "None"


def ending(e):
    return "%s context=%s" % (show(e), show(e.__context__))


async def helper():
    await asyncio.sleep(10)


async def cleanup_awaits_and_catches():
    h = asyncio.create_task(helper())
    try:
        await asyncio.sleep(10)
    finally:
        h.cancel()
        try:
            await h
        except asyncio.CancelledError:
            print("  cleanup caught the helper's CancelledError")


async def cleanup_fails():
    try:
        raise ValueError("first")
    finally:
        raise KeyError("cleanup")


async def nested_cleanups():
    try:
        try:
            raise ValueError("inner")
        finally:
            try:
                raise KeyError("cleanup1")
            except KeyError:
                print("  caught cleanup1")
    finally:
        try:
            raise RuntimeError("cleanup2")
        except RuntimeError:
            print("  caught cleanup2")


async def fails_in_call():
    raise KeyError("in call")


async def call_in_cleanup_caught():
    try:
        raise ValueError("body")
    finally:
        try:
            await fails_in_call()
        except KeyError as e:
            print("  the call failed:", show(e))


async def call_in_cleanup_uncaught():
    try:
        raise ValueError("body")
    finally:
        await fails_in_call()


async def run(name, coro_fn, cancel=False):
    t = asyncio.create_task(coro_fn())
    if cancel:
        await asyncio.sleep(0)
        t.cancel()
    try:
        await t
        print(name + ": returned")
    except asyncio.CancelledError:
        print(name + ": cancelled")
    except Exception as e:
        print(name + ": " + ending(e))


async def main():
    await run("awaits and catches", cleanup_awaits_and_catches, cancel=True)
    await run("fails", cleanup_fails)
    await run("nested", nested_cleanups)
    await run("call caught", call_in_cleanup_caught)
    await run("call uncaught", call_in_cleanup_uncaught)


asyncio.run(main())
