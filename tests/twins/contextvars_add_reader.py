"""Twin of check_contextvars.c: test_add_reader.

add_reader and add_writer callbacks run in a copy of the context current
when they were added, the same copy each time: what one call sets, the
next call sees.  A reader added again (replaced) starts from the context
current then.  The callbacks run outside any task.
"""
import asyncio
import contextvars
import os

out = []
var = contextvars.ContextVar("var", default="default")


async def main():
    loop = asyncio.get_running_loop()
    r, w = os.pipe()
    futs = []

    def reader():
        os.read(r, 1)
        out.append("reader=%s" % var.get())
        var.set("reader-set")
        if asyncio.current_task() is not None:
            out.append("in-a-task")
        futs.pop(0).set_result(None)

    def writer():
        out.append("writer=%s" % var.get())
        loop.remove_writer(w)
        futs.pop(0).set_result(None)

    async def step(data):
        fut = loop.create_future()
        futs.append(fut)
        os.write(w, data)
        await fut

    var.set("add")
    loop.add_reader(r, reader)
    var.set("main")
    await step(b"x")
    await step(b"y")
    var.set("replaced")
    loop.add_reader(r, reader)
    var.set("main2")
    await step(b"z")
    loop.remove_reader(r)
    var.set("writer")
    fut = loop.create_future()
    futs.append(fut)
    loop.add_writer(w, writer)
    var.set("main3")
    await fut
    out.append("main=%s" % var.get())
    os.close(r)
    os.close(w)


asyncio.run(main())
print(" ".join(out))
