"""Twin of check_fd.c's loop.sock_* tests: one line per test, in this
order: test_sock_stream, test_sock_dgram, test_sock_unix, test_sock_errors,
test_sock_cancel.  The C tests expect these lines exactly (ports, which
change from run to run, are printed as PORT).  Run with Debian's Python
3.11: /usr/bin/python3.  Debug mode is on: Python checks that a socket is
non-blocking only then (casyncio always does).
"""
import asyncio
import os
import socket
import tempfile

BIG = 1 << 20


def pattern(n):
    return bytes(i * 7 % 251 for i in range(n))


def nb(sock):
    sock.setblocking(False)
    return sock


async def sock_stream():
    """accept, connect, sendall of 1 MiB against recv_into, EOF."""
    loop = asyncio.get_running_loop()
    lst = nb(socket.socket())
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    port = lst.getsockname()[1]
    accept = asyncio.create_task(loop.sock_accept(lst))
    cli = nb(socket.socket())
    await loop.sock_connect(cli, ("127.0.0.1", port))
    conn, addr = await accept
    peer_ok = addr == cli.getsockname()
    data = pattern(BIG)
    send = asyncio.create_task(loop.sock_sendall(cli, data))
    got = bytearray()
    buf = bytearray(65536)
    while len(got) < BIG:
        n = await loop.sock_recv_into(conn, buf)
        got += buf[:n]
    await send
    cli.shutdown(socket.SHUT_WR)
    eof = await loop.sock_recv(conn, 100)
    print("sock_stream", f"peer={peer_ok}", f"received={len(got)}",
          f"same={bytes(got) == data}", f"eof={eof!r}",
          f"blocking={conn.getblocking()}")
    for s in (lst, cli, conn):
        s.close()


async def sock_dgram():
    """sendto / recvfrom; a datagram longer than the buffer is cut."""
    loop = asyncio.get_running_loop()
    a = nb(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    b = nb(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    recv = asyncio.create_task(loop.sock_recvfrom(b, 100))
    await asyncio.sleep(0)
    n = await loop.sock_sendto(a, b"hello", b.getsockname())
    data, addr = await recv
    out = [str(n), repr(data), str(addr == a.getsockname())]
    await loop.sock_sendto(a, b"0123456789", b.getsockname())
    await loop.sock_sendto(a, b"next", b.getsockname())
    buf = bytearray(4)
    n, addr = await loop.sock_recvfrom_into(b, buf)
    out.append(f"{n} {bytes(buf[:n])!r}")
    data, addr = await loop.sock_recvfrom(b, 100)
    out.append(repr(data))
    print("sock_dgram", " ".join(out))
    a.close()
    b.close()


async def sock_unix():
    """A Unix stream socket: connect to a missing path, then to a listener."""
    loop = asyncio.get_running_loop()
    out = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s")
        cli = nb(socket.socket(socket.AF_UNIX))
        try:
            await loop.sock_connect(cli, path)
        except OSError as e:
            out.append(f"{type(e).__name__}({e})")
        cli.close()
        lst = nb(socket.socket(socket.AF_UNIX))
        lst.bind(path)
        lst.listen(1)
        cli = nb(socket.socket(socket.AF_UNIX))
        await loop.sock_connect(cli, path)
        conn, addr = await loop.sock_accept(lst)
        await loop.sock_sendall(cli, b"ping")
        out.append(repr(await loop.sock_recv(conn, 10)))
        out.append(repr(addr))
        for s in (lst, cli, conn):
            s.close()
    print("sock_unix", " ".join(out))


async def sock_errors():
    loop = asyncio.get_running_loop()
    out = []
    blocking = socket.socket()
    try:
        await loop.sock_recv(blocking, 10)
    except ValueError as e:
        out.append(f"ValueError({e})")
    blocking.close()
    # A port nothing listens on: refused at once on the loopback.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cli = nb(socket.socket())
    try:
        await loop.sock_connect(cli, ("127.0.0.1", port))
    except OSError as e:
        out.append(f"{type(e).__name__}({str(e).replace(str(port), 'PORT')})")
    cli.close()
    # A reset: the peer closes with unread data (SO_LINGER 0 sends RST).
    a, b = socket.socketpair()
    lst = nb(socket.socket())
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = nb(socket.socket())
    await loop.sock_connect(cli, lst.getsockname())
    conn, _ = await loop.sock_accept(lst)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    conn.close()
    try:
        await loop.sock_recv(cli, 10)
    except OSError as e:
        out.append(f"{type(e).__name__}({e})")
    for s in (a, b, lst, cli):
        s.close()
    print("sock_errors", " ".join(out))


async def sock_cancel():
    """A cancelled sock_recv leaves nothing behind: another receive on the
    same socket works, and gets what comes next."""
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    nb(a)
    nb(b)
    t = asyncio.create_task(loop.sock_recv(a, 10))
    await asyncio.sleep(0.01)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    b.send(b"after")
    data = await loop.sock_recv(a, 10)
    print("sock_cancel", f"cancelled={t.cancelled()}", repr(data))
    a.close()
    b.close()


async def main():
    asyncio.get_running_loop().set_debug(True)
    await sock_stream()
    await sock_dgram()
    await sock_unix()
    await sock_errors()
    await sock_cancel()


asyncio.run(main())
