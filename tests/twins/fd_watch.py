"""Twin of check_fd.c's add_reader / add_writer tests: one line per test,
in this order: test_watch_order, test_watch_level, test_watch_replace,
test_watch_remove_queued, test_watch_errors.  The C tests expect these
lines exactly.  Run with Debian's Python 3.11: /usr/bin/python3.

Every descriptor is one end of a socketpair whose other end has written
before the callbacks are added, so that the first poll sees it readable
(and writable: a socket with room in its buffer always is).  No result
depends on timing.
"""
import asyncio
import errno
import os
import socket
import tempfile


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def until(cond):
    for _ in range(1000):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("never happened")


async def watch_order():
    """A descriptor ready both ways: its reader is called before its
    writer, whatever the order they were added in."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"x")
    log = []

    def on(name, remove):
        log.append(name)
        remove(a.fileno())

    loop.add_writer(a.fileno(), on, "w", loop.remove_writer)
    loop.add_reader(a.fileno(), on, "r", loop.remove_reader)
    await until(lambda: len(log) == 2)
    print("watch_order", " ".join(log))
    a.close()
    b.close()


async def watch_level():
    """Level-triggered: called again in every iteration while data is
    there, no more once it has been read."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"abc")
    calls = []

    def on_read():
        calls.append(len(calls) + 1)
        if len(calls) == 3:
            calls.append(a.recv(10))

    loop.add_reader(a.fileno(), on_read)
    await until(lambda: len(calls) >= 4)
    for _ in range(5):
        await asyncio.sleep(0.001)
    removed = loop.remove_reader(a.fileno())
    print("watch_level", calls, removed)
    a.close()
    b.close()


async def watch_replace():
    """add_reader replaces the reader; remove returns whether there was
    one; a writer's removal leaves the reader."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    log = []
    out = [loop.remove_reader(a.fileno()), loop.remove_writer(a.fileno())]
    loop.add_reader(a.fileno(), log.append, "first")
    loop.add_reader(a.fileno(), log.append, "second")
    out.append(loop.remove_writer(a.fileno()))
    b.send(b"x")
    await until(lambda: log)
    out.append(loop.remove_reader(a.fileno()))
    out.append(loop.remove_reader(a.fileno()))
    print("watch_replace", log[0], " ".join(str(x) for x in out))
    a.close()
    b.close()


async def watch_remove_queued():
    """The reader removes the writer after the event for both was seen,
    and adds another: the removed one is never called, the new one only
    after a later poll."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    b.send(b"x")
    log = []

    def on_read():
        log.append("r")
        a.recv(10)
        loop.remove_reader(a.fileno())
        loop.remove_writer(a.fileno())
        loop.add_writer(a.fileno(), on_write, "w2")

    def on_write(name):
        log.append(name)
        loop.remove_writer(a.fileno())

    loop.add_reader(a.fileno(), on_read)
    loop.add_writer(a.fileno(), on_write, "w1")
    await until(lambda: len(log) == 2)
    for _ in range(5):
        await asyncio.sleep(0.001)
    print("watch_remove_queued", " ".join(log))
    a.close()
    b.close()


async def watch_errors():
    loop = asyncio.get_running_loop()
    out = []

    def noop():
        pass

    try:
        loop.add_reader(-1, noop)
    except ValueError as e:
        out.append(f"ValueError({e})")
    a, b = pair()
    fd = a.fileno()
    a.close()
    try:
        loop.add_reader(fd, noop)
    except OSError as e:
        out.append(f"{type(e).__name__}({e})")
    out.append(str(loop.remove_reader(fd)))
    with tempfile.TemporaryFile() as f:
        try:
            loop.add_writer(f.fileno(), noop)
        except OSError as e:
            out.append(f"{type(e).__name__}({e})")
    b.close()
    print("watch_errors", " ".join(out))


async def main():
    await watch_order()
    await watch_level()
    await watch_replace()
    await watch_remove_queued()
    await watch_errors()


asyncio.run(main())
