"""Twin of check_contextvars.c: test_copy_run.

copy_context() snapshots the current context; ctx.run(fn) runs fn in it
(what fn sets stays in ctx, the caller's context is untouched); entering a
context twice raises RuntimeError; Context() is empty; ctx[var] raises
KeyError for a variable not set in it; ctx.copy() is independent; a task
created inside ctx.run copies ctx.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


def f(x):
    out.append("run=%s" % var.get())
    var.set(x)
    return x + "!"


async def reader(tag):
    out.append("%s=%s" % (tag, var.get()))


def spawn():
    return asyncio.create_task(reader("task"))


async def main():
    var.set("a")
    ctx = contextvars.copy_context()
    var.set("b")
    r = ctx.run(f, "c")
    out.append("result=%s ctx=%s main=%s len=%d" % (r, ctx[var], var.get(), len(ctx)))

    def nested():
        ctx.run(f, "d")

    try:
        ctx.run(nested)
    except RuntimeError:
        out.append("RuntimeError")
    empty = contextvars.Context()
    out.append("empty=%s len=%d" % (empty.run(var.get), len(empty)))
    try:
        empty[var]
    except KeyError:
        out.append("KeyError")
    c2 = ctx.copy()
    c2.run(var.set, "e")
    out.append("ctx=%s c2=%s" % (ctx[var], c2[var]))
    await ctx.run(spawn)
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
