"""Twin of check_contextvars.c: test_threadsafe.

call_soon_threadsafe and run_coroutine_threadsafe carry the posting
thread's context to the loop: the callback runs in a copy of it, the
coroutine's task copies it.
"""
import asyncio
import contextvars
import threading

out = []
var = contextvars.ContextVar("var", default="default")


def cb(tag):
    out.append("%s=%s" % (tag, var.get()))


async def coro():
    out.append("coro=%s" % var.get())
    return "done"


def poster(loop, fut):
    var.set("thread")
    loop.call_soon_threadsafe(cb, "threadsafe")
    cf = asyncio.run_coroutine_threadsafe(coro(), loop)
    out.append("result=%s" % cf.result())
    loop.call_soon_threadsafe(fut.set_result, None)


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    var.set("loop")
    th = threading.Thread(target=poster, args=(loop, fut))
    th.start()
    await fut
    th.join()
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
