# Twin of check_loop.c test_mixed_order_like_python: a coroutine awaited
# inline (asyncio_call in C), tasks awaiting tasks, done callbacks on a
# task that complete a future, and call_soon, interleaved.
import asyncio


async def leaf(n):
    print("leaf", n, "start")
    await asyncio.sleep(0)
    print("leaf", n, "end")
    return n


async def mid():
    print("mid start")
    t = asyncio.create_task(leaf(2))
    r1 = await leaf(1)
    print("mid got", r1)
    r2 = await t
    print("mid got", r2)
    return r1 + r2


async def main():
    loop = asyncio.get_running_loop()
    loop.call_soon(print, "cb-a")
    m = asyncio.create_task(mid())
    fut = loop.create_future()
    fut.add_done_callback(lambda f: print("fut cb", f.result()))

    def mid_done(t):
        print("mid done cb")
        fut.set_result(t.result() * 10)

    m.add_done_callback(mid_done)
    loop.call_soon(print, "cb-b")
    print("main awaits fut")
    r = await fut
    print("main got", r)
    await asyncio.sleep(0)
    print("main end")


asyncio.run(main())
