"""Twin of check_contextvars.c: test_signal_handler.

A signal handler is a Handle made by add_signal_handler: it runs, outside
any task, in the copy of the context current then, the same copy for
every signal, so what one call sets the next call sees.  A handler added
again (replacing the first) starts from the context current then.
"""
import asyncio
import contextvars
import os
import signal

out = []
var = contextvars.ContextVar("var", default="default")


async def main():
    loop = asyncio.get_running_loop()
    futs = []

    def handler(tag):
        out.append("%s=%s" % (tag, var.get()))
        var.set(tag + "-set")
        if asyncio.current_task() is not None:
            out.append("in-a-task")
        futs.pop(0).set_result(None)

    async def signal_once():
        fut = loop.create_future()
        futs.append(fut)
        os.kill(os.getpid(), signal.SIGUSR1)
        await fut

    var.set("add")
    loop.add_signal_handler(signal.SIGUSR1, handler, "h")
    var.set("main")
    await signal_once()
    await signal_once()
    var.set("replaced")
    loop.add_signal_handler(signal.SIGUSR1, handler, "r")
    var.set("main2")
    await signal_once()
    loop.remove_signal_handler(signal.SIGUSR1)
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
