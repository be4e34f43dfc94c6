# Twin of check_loop.c test_close_with_live_tasks: closing a loop leaves
# its pending tasks pending; a started coroutine is only closed (its
# cleanup runs, its await never returns normally) when the task goes; a
# task that never started never runs.
import asyncio
import gc

loop = asyncio.new_event_loop()
loop.set_exception_handler(lambda loop, ctx: print("report:", ctx["message"]))
f = loop.create_future()


async def waiter():
    try:
        await f
        print("resumed normally")
    except BaseException as e:
        print("cleanup on", type(e).__name__)
        raise


async def never():
    print("never started")


t = loop.create_task(waiter())
loop.call_soon(loop.stop)
loop.run_forever()
u = loop.create_task(never())
loop.close()
print("after close: t done", t.done(), "u done", u.done())
del t, u
gc.collect()
print("dropped")
