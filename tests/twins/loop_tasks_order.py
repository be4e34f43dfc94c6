# Twin of check_loop.c test_order_tasks_like_python: call_soon, sleep(0),
# create_task and a future set by a callback, interleaved.
import asyncio


async def child(name):
    print(name, "start")
    await asyncio.sleep(0)
    print(name, "after sleep")
    return name


async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(print, "cb1")
    t1 = asyncio.create_task(child("t1"))
    loop.call_soon(print, "cb2")
    t2 = asyncio.create_task(child("t2"))
    print("main before sleep")
    await asyncio.sleep(0)
    print("main after sleep")
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 5)
    loop.call_soon(print, "cb3")
    r = await fut
    print("main got", r)
    print("t1 result", await t1)
    print("t2 result", await t2)


asyncio.run(main())
