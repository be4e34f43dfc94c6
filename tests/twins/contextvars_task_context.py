"""Twin of check_contextvars.c: test_task_context.

create_task(coro, context=ctx) runs the task in ctx itself, not in a copy:
what it sets is in ctx afterwards, and a second task in ctx sees it.
Entering ctx again from inside (ctx.run) raises RuntimeError.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


async def child(tag):
    out.append("%s=%s" % (tag, var.get()))
    var.set(tag + "-set")


async def reenter(ctx):
    try:
        ctx.run(var.get)
    except RuntimeError:
        out.append("RuntimeError")


async def main():
    var.set("main1")
    ctx = contextvars.copy_context()
    var.set("main2")
    await asyncio.create_task(child("first"), context=ctx)
    out.append("ctx=%s" % ctx[var])
    await asyncio.create_task(child("second"), context=ctx)
    out.append("ctx=%s" % ctx[var])
    await asyncio.create_task(reenter(ctx), context=ctx)
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
