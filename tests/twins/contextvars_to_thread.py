"""Twin of check_contextvars.c: test_to_thread.

asyncio.to_thread runs its function in a copy of the caller's context
(what it sets stays there); loop.run_in_executor does not carry the
context: the job sees its worker thread's own context.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


def job(tag):
    out.append("%s=%s" % (tag, var.get()))
    token = var.set(tag + "-set")
    seen = var.get()
    var.reset(token)
    var.set(tag + "-kept")
    return seen


def plain_job(tag):
    out.append("%s=%s" % (tag, var.get()))
    token = var.set(tag + "-set")
    seen = var.get()
    var.reset(token)
    return seen


async def main():
    loop = asyncio.get_running_loop()
    var.set("main")
    r = await asyncio.to_thread(job, "to_thread")
    out.append("result=%s main=%s" % (r, var.get()))
    r = await loop.run_in_executor(None, plain_job, "executor")
    out.append("result=%s main=%s" % (r, var.get()))


asyncio.run(main())
print(" ".join(out))
