"""Twin of check_datagram.c's Unix datagram tests: one line per test, in
this order: test_unix, test_unix_abstract.

Events as in datagram_basic.py; a Unix address is written as its file's
name (the directory is a temporary one), None for a socket that sent
without a name, and an abstract name (Python's leading NUL) with '@'
instead of the NUL, as casyncio spells it.  uvloop cannot run this (its
issue 403): it takes only (host, port) addresses.

    /usr/bin/python3 tests/twins/datagram_unix.py
"""
import asyncio
import os
import socket
import tempfile

D = tempfile.mkdtemp(prefix="casyncio-dgram-twin-")


def name(addr):
    if addr is None:
        return "None"
    if isinstance(addr, bytes):
        addr = addr.decode()
    if addr.startswith("\0"):
        return "@" + addr[1:]
    return os.path.basename(addr) if addr else "''"


class Log:
    def __init__(self):
        self.events = []

    def add(self, text):
        self.events.append(text.replace(D + "/", ""))

    def line(self, test):
        print(test, " ".join(self.events))


class Recorder(asyncio.DatagramProtocol):
    def __init__(self, log, tag):
        self.log, self.tag = log, tag
        self.got = asyncio.Queue()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.log.add(f"{self.tag}:made")

    def datagram_received(self, data, addr):
        self.log.add(f"{self.tag}:recv({data!r},{name(addr)})")
        self.got.put_nowait(data)

    def error_received(self, exc):
        self.log.add(f"{self.tag}:error({type(exc).__name__}: {exc})")
        self.got.put_nowait(exc)

    def connection_lost(self, exc):
        self.log.add(f"{self.tag}:lost({exc})")
        self.lost.set_result(None)


async def endpoint(log, tag, **kw):
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(lambda: Recorder(log, tag),
                                               family=socket.AF_UNIX, **kw)


async def close(t, p):
    t.close()
    await p.lost


async def unix():
    log = Log()
    A, B = f"{D}/a.sock", f"{D}/b.sock"
    a, ap = await endpoint(log, "a", local_addr=A)
    log.add(f"a.sockname={name(a.get_extra_info('sockname'))} a.peer={a.get_extra_info('peername')}")
    # b: connected, unbound: the receiver sees None
    b, bp = await endpoint(log, "b", remote_addr=A)
    log.add(f"b.sockname={name(b.get_extra_info('sockname'))} b.peer={name(b.get_extra_info('peername'))}")
    b.sendto(b"from unbound")
    await ap.got.get()
    # c: bound and connected
    c, cp = await endpoint(log, "c", local_addr=B, remote_addr=A)
    c.sendto(b"from bound")
    await ap.got.get()
    a.sendto(b"reply", B)
    await cp.got.get()
    try:
        c.sendto(b"x", f"{D}/other.sock")
    except ValueError as e:
        log.add(f"ValueError({e})")
    a.sendto(b"lost", f"{D}/nobody.sock")
    await ap.got.get()
    await close(a, ap)
    c.sendto(b"to a closed socket")
    await cp.got.get()
    log.add(f"c.closing={c.is_closing()}")
    # A socket file left at A is removed when a new endpoint binds there.
    # c's connection ended with the socket it was connected to: it does
    # not reach the new one; a new endpoint does.
    a2, a2p = await endpoint(log, "a2", local_addr=A)
    c.sendto(b"to the new a")
    await cp.got.get()
    d, dp = await endpoint(log, "d", remote_addr=A)
    d.sendto(b"to the new a")
    await a2p.got.get()
    for t, p in ((a2, a2p), (b, bp), (c, cp), (d, dp)):
        await close(t, p)
    log.line("unix")


async def abstract():
    log = Log()
    n1, n2 = f"\0casyncio-twin-{os.getpid()}-1", f"\0casyncio-twin-{os.getpid()}-2"
    x, xp = await endpoint(log, "x", local_addr=n1)
    y, yp = await endpoint(log, "y", local_addr=n2, remote_addr=n1)
    log.add(f"y.peer={name(y.get_extra_info('peername'))}".replace(str(os.getpid()), "PID"))
    y.sendto(b"abstract")
    await xp.got.get()
    x.sendto(b"back", n2)
    await yp.got.get()
    await close(x, xp)
    await close(y, yp)
    print("unix_abstract", " ".join(e.replace(str(os.getpid()), "PID") for e in log.events))


async def main():
    try:
        await unix()
        await abstract()
    finally:
        for f in os.listdir(D):
            os.unlink(os.path.join(D, f))
        os.rmdir(D)


asyncio.run(main())
