"""Twin of check_process.c: what Python's asyncio subprocesses answer.

basics: communicate's output, stderr=STDOUT, return codes, a child that
does not read its input; signals: -N for a signal, ProcessLookupError
after exit, several waiters; cancel: a cancelled wait or communicate
leaves the child running; bad: the errors of a program that cannot be
started.  Prints one line per fact.
"""
import asyncio
import signal
from asyncio.subprocess import DEVNULL, PIPE, STDOUT


async def basics():
    p = await asyncio.create_subprocess_exec("echo", "hello", "world", stdout=PIPE)
    out, err = await p.communicate()
    print("echo:", out, err, p.returncode, await p.wait())
    p = await asyncio.create_subprocess_shell("exit 3")
    print("exit 3:", await p.wait())
    p = await asyncio.create_subprocess_shell(
        "echo out; echo err >&2; exit 1", stdout=PIPE, stderr=STDOUT)
    out, err = await p.communicate()
    print("merged:", out, err, p.returncode)
    p = await asyncio.create_subprocess_shell(
        "cat; echo gone >&2", stdin=DEVNULL, stdout=PIPE, stderr=DEVNULL)
    print("devnull:", await p.communicate())
    p = await asyncio.create_subprocess_shell(
        'read line; echo "got $line"', stdin=PIPE, stdout=PIPE, stderr=PIPE)
    print("input:", await p.communicate(b"shout\n"))
    p = await asyncio.create_subprocess_shell("exit 0", stdin=PIPE, stdout=PIPE, stderr=PIPE)
    print("unread input:", await p.communicate(b"ignored input"), p.returncode)


async def signals():
    p = await asyncio.create_subprocess_shell("exec sleep 30")
    w = [asyncio.create_task(p.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    p.kill()
    print("two waiters:", await asyncio.gather(*w))
    try:
        p.send_signal(signal.SIGTERM)
        print("after exit: no error")
    except ProcessLookupError:
        print("after exit: ProcessLookupError")
    p = await asyncio.create_subprocess_shell("exec sleep 30")
    p.terminate()
    print("terminate:", await p.wait())
    # Several waiters resume in the order they started waiting.
    p = await asyncio.create_subprocess_shell("exec sleep 30")
    order = []

    async def ordered_waiter(i):
        await p.wait()
        order.append(i)

    ws = [asyncio.create_task(ordered_waiter(i)) for i in range(3)]
    await asyncio.sleep(0)
    p.kill()
    await asyncio.gather(*ws)
    print("wake order:", order)


async def cancel():
    p = await asyncio.create_subprocess_shell("echo partial; exec sleep 30", stdout=PIPE)
    w = asyncio.create_task(p.wait())
    await asyncio.sleep(0)
    w.cancel()
    try:
        await w
    except asyncio.CancelledError:
        print("wait cancelled; returncode:", p.returncode)
    c = asyncio.create_task(p.communicate())
    await asyncio.sleep(0.05)
    c.cancel()
    try:
        await c
    except asyncio.CancelledError:
        print("communicate cancelled; returncode:", p.returncode)
    p.kill()
    print("killed:", await p.wait())


async def bad():
    # A program that is not found, in PATH or by its path, and a missing
    # working directory (named instead of the program).
    for program, cwd in [("no-such-program", None), ("/nonexistent/program", None),
                         ("true", "/nonexistent")]:
        try:
            await asyncio.create_subprocess_exec(program, cwd=cwd)
        except OSError as e:
            print(f"exec {program}: {type(e).__name__}: {e}")
    try:
        await asyncio.create_subprocess_shell("true", cwd="/nonexistent")
    except OSError as e:
        print(f"shell: {type(e).__name__}: {e}")


async def main():
    await basics()
    await signals()
    await cancel()
    await bad()


asyncio.run(main())
