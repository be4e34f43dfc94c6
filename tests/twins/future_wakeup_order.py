# Twin of check_future.c test_wakeup_order: a task awaiting a future is
# woken by a done callback registered before a plain callback; the task
# step runs inside its wakeup, before the later done callbacks.
import asyncio


async def waiter(fut):
    print("waiter start")
    r = await fut
    print("waiter got", r)


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    t = asyncio.create_task(waiter(fut))
    await asyncio.sleep(0)
    fut.add_done_callback(lambda f: print("cb done-cb", f.result()))
    loop.call_soon(print, "soon-before")
    fut.set_result(7)
    loop.call_soon(print, "soon-after")
    print("main set")
    await t
    print("main end")


asyncio.run(main())
