"""Twin of check_signal.c: the SIGINT tests.

Python 3.11's asyncio.run: the first SIGINT cancels the main task; if main
ends cancelled, asyncio.run raises KeyboardInterrupt (a BaseException, not
an Exception); if main catches the CancelledError, asyncio.run returns its
result; a second SIGINT raises KeyboardInterrupt at once, which ends the
process by SIGINT when nobody catches it; a program's own SIGINT handler is
left in place; add_signal_handler(SIGINT) replaces the runner's handler.
Prints one line per case.
"""
import asyncio
import os
import signal
import subprocess
import sys


async def uncaught():
    os.kill(os.getpid(), signal.SIGINT)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        print("uncaught: main saw CancelledError")
        raise


async def caught():
    os.kill(os.getpid(), signal.SIGINT)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        print("caught: main saw CancelledError")
    return 42


async def twice():
    os.kill(os.getpid(), signal.SIGINT)
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        pass
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.sleep(30)


async def replaced():
    loop = asyncio.get_running_loop()
    ev = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, ev.set)
    os.kill(os.getpid(), signal.SIGINT)
    await ev.wait()
    print("replaced: user handler ran, main not cancelled")
    print("replaced: removed", loop.remove_signal_handler(signal.SIGINT))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "twice":
        asyncio.run(twice())
        return
    try:
        asyncio.run(uncaught())
    except KeyboardInterrupt as e:
        print("uncaught: asyncio.run raised", type(e).__name__,
              "is Exception:", isinstance(e, Exception))
    print("caught: asyncio.run returned", asyncio.run(caught()))
    asyncio.run(replaced())
    p = subprocess.run([sys.executable, __file__, "twice"], capture_output=True)
    print("twice: child killed by SIGINT:", p.returncode == -signal.SIGINT)
    print("default handler back:",
          signal.getsignal(signal.SIGINT) is signal.default_int_handler)


main()
