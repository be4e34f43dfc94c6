"""Twin of check_contextvars.c: test_task_copy.

A task runs in a copy of the context current when it was created: it sees
what its creator had set then, not what the creator sets afterwards, and
what it sets stays its own.  asyncio.run's main task starts from a copy of
the calling thread's context, and its changes do not come back.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


async def child(tag):
    out.append("%s:start=%s" % (tag, var.get()))
    var.set(tag + "-set")
    await asyncio.sleep(0)
    out.append("%s:after=%s" % (tag, var.get()))


async def main():
    out.append("main=%s" % var.get())
    var.set("main1")
    t1 = asyncio.create_task(child("c1"))
    var.set("main2")
    t2 = asyncio.create_task(child("c2"))
    await asyncio.gather(t1, t2)
    out.append("main=%s" % var.get())


token = var.set("outer")
asyncio.run(main())
out.append("outer=%s" % var.get())
var.reset(token)
out.append("reset=%s" % var.get())
print(" ".join(out))
