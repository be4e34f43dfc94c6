"""Twin of check_datagram.c's UDP tests: one line per test, in this order:
test_udp_v4, test_udp_v6, test_udp_broadcast_remote, test_udp_refused.

Each line lists the events of the test's endpoints in the order they
happen: `NAME:made`, `NAME:recv(DATA,FROM)` (FROM is the name of the
endpoint that sent it), `NAME:error(TYPE: MESSAGE)`, `NAME:lost(None)`,
and what the test's calls return or raise.  Ports are written P.  The C
tests expect these lines exactly.

    /usr/bin/python3 tests/twins/datagram_basic.py
"""
import asyncio
import re


class Log:
    def __init__(self):
        self.events = []
        self.names = {}  # sockname -> endpoint name

    def add(self, text):
        self.events.append(re.sub(r"\b\d{4,5}\b", "P", text))

    def line(self, test):
        print(test, " ".join(self.events))


class Recorder(asyncio.DatagramProtocol):
    """Logs every callback; echo=True sends each datagram back."""

    def __init__(self, log, name, echo=False):
        self.log, self.name, self.echo = log, name, echo
        self.got = asyncio.Queue()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.log.names[transport.get_extra_info("sockname")] = self.name
        self.log.add(f"{self.name}:made")

    def datagram_received(self, data, addr):
        sender = self.log.names.get(addr, repr(addr))
        self.log.add(f"{self.name}:recv({data!r},{sender})")
        if self.echo:
            self.transport.sendto(data, addr)
        self.got.put_nowait(data)

    def error_received(self, exc):
        self.log.add(f"{self.name}:error({type(exc).__name__}: {exc})")
        self.got.put_nowait(exc)

    def connection_lost(self, exc):
        self.log.add(f"{self.name}:lost({exc})")
        self.lost.set_result(None)


async def endpoint(log, name, echo=False, **kw):
    loop = asyncio.get_running_loop()
    t, p = await loop.create_datagram_endpoint(lambda: Recorder(log, name, echo), **kw)
    return t, p


async def close(t, p):
    t.close()
    await p.lost


async def udp(test, host):
    log = Log()
    srv, sp = await endpoint(log, "srv", echo=True, local_addr=(host, 0))
    port = srv.get_extra_info("sockname")[1]
    cli, cp = await endpoint(log, "cli", remote_addr=(host, port))
    peer = cli.get_extra_info("peername")
    log.add(f"peer={peer[0]},{'P' if peer[1] == port else peer[1]}")
    cli.sendto(b"hello")
    await cp.got.get()
    try:
        cli.sendto(b"x", ("127.0.0.2" if host == "127.0.0.1" else "::2", port))
    except ValueError as e:
        log.add(f"ValueError({e})")
    cli.sendto(b"again", srv.get_extra_info("sockname"))
    await cp.got.get()
    log.add(f"closing={cli.is_closing()}")
    await close(cli, cp)
    log.add(f"closing={cli.is_closing()}")
    await close(srv, sp)
    log.line(test)


async def broadcast_remote():
    """allow_broadcast with remote_addr: not connected, remote_addr is
    sendto's default address."""
    log = Log()
    srv, sp = await endpoint(log, "srv", echo=True, local_addr=("127.0.0.1", 0))
    port = srv.get_extra_info("sockname")[1]
    bc, bp = await endpoint(log, "bc", remote_addr=("127.0.0.1", port), allow_broadcast=True)
    log.add(f"peer={bc.get_extra_info('peername')}")
    bc.sendto(b"to remote")
    await bp.got.get()
    await close(bc, bp)
    await close(srv, sp)
    log.line("broadcast_remote")


async def refused():
    """A connected endpoint whose peer is gone: ICMP port unreachable comes
    back as ConnectionRefusedError in error_received, once per datagram,
    and the endpoint stays open."""
    log = Log()
    gone, gp = await endpoint(log, "gone", local_addr=("127.0.0.1", 0))
    port = gone.get_extra_info("sockname")[1]
    await close(gone, gp)
    # From another loopback address: bound to 127.0.0.1, the client could
    # get the freed port and be connected to itself.
    cli, cp = await endpoint(log, "cli", local_addr=("127.0.0.2", 0),
                             remote_addr=("127.0.0.1", port))
    for data in (b"1", b"2"):
        cli.sendto(data)
        await cp.got.get()
        log.add(f"closing={cli.is_closing()}")
    await close(cli, cp)
    log.line("refused")


async def main():
    await udp("udp_v4", "127.0.0.1")
    await udp("udp_v6", "::1")
    await broadcast_remote()
    await refused()


asyncio.run(main())
