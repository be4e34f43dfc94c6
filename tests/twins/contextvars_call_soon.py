"""Twin of check_contextvars.c: test_call_soon.

call_soon, call_later and call_at callbacks run in a copy of the context
current when they were scheduled: later changes are not seen, what they
set stays in their copy, and a task a callback creates copies the
callback's context.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


def cb(tag):
    out.append("%s=%s" % (tag, var.get()))
    var.set(tag + "-set")


async def reader(tag):
    out.append("%s=%s" % (tag, var.get()))


def spawner(tasks):
    var.set("spawner-set")
    tasks.append(asyncio.get_running_loop().create_task(reader("task")))


def last(fut):
    out.append("last=%s" % var.get())
    fut.set_result(None)


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    tasks = []
    var.set("soon")
    loop.call_soon(cb, "soon")
    var.set("later")
    loop.call_later(0, cb, "later")
    var.set("at")
    loop.call_at(loop.time(), cb, "at")
    var.set("spawner")
    loop.call_soon(spawner, tasks)
    var.set("last")
    loop.call_soon(last, fut)
    var.set("main")
    await fut
    await asyncio.gather(*tasks)
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
