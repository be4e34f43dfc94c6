"""Twin of check_contextvars.c: test_call.

`await coro()` (asyncio_call) runs in the caller's context: what the
callee sets, the caller sees afterwards.
"""
import asyncio
import contextvars

out = []
var = contextvars.ContextVar("var", default="default")


async def sub():
    out.append("sub=%s" % var.get())
    var.set("sub-set")
    await asyncio.sleep(0)


async def main():
    var.set("main")
    await sub()
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
