"""Twin of check_contextvars.c: test_done_callback.

A future's done callbacks run in a copy of the context current when they
were added, not when the future completed; one added to a done future
too.
"""
import asyncio
import contextvars
import functools

out = []
var = contextvars.ContextVar("var", default="default")


def done(fut, tag):
    out.append("%s=%s" % (tag, var.get()))
    var.set(tag + "-set")


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    var.set("added1")
    fut.add_done_callback(functools.partial(done, tag="cb1"))
    var.set("added2")
    fut.add_done_callback(functools.partial(done, tag="cb2"))
    var.set("resolver")
    fut.set_result(None)
    var.set("late")
    fut.add_done_callback(functools.partial(done, tag="cb3"))
    var.set("main")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
