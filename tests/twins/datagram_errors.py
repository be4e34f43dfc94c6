"""Twin of check_datagram.c's error tests: one line per test, in this
order: test_create_errors, test_sendto_errors.

create_errors: create_datagram_endpoint with bad arguments, one entry per
call: `TYPE: MESSAGE` (Python's exception; casyncio raises the same type
and message, as ValueError where Python's is an OverflowError).
sendto_errors: what the kernel (or Python, before it) refuses at send
time, through error_received, and what sendto raises.  Ports are P.

    /usr/bin/python3 tests/twins/datagram_errors.py
"""
import asyncio
import os
import re
import socket
import tempfile


def P(text):
    return re.sub(r"\b\d{4,5}\b", "P", text)


class Recorder(asyncio.DatagramProtocol):
    def __init__(self, log, tag):
        self.log, self.tag = log, tag
        self.got = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.log.append(f"{self.tag}:recv({len(data)} bytes)")
        self.got.put_nowait(data)

    def error_received(self, exc):
        self.log.append(f"{self.tag}:error({type(exc).__name__}: {exc})")
        self.got.put_nowait(exc)


async def create_errors():
    loop = asyncio.get_running_loop()
    taken, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                   local_addr=("127.0.0.1", 0))
    port = taken.get_extra_info("sockname")[1]
    d = tempfile.mkdtemp(prefix="casyncio-dgram-twin-")
    regular = f"{d}/regular-file"
    open(regular, "w").close()
    cases = [
        dict(),                                                       # no address, no family
        dict(family=12345),                                           # unknown family, no address
        dict(family=12345, local_addr=("127.0.0.1", 0)),              # unknown family
        dict(family=socket.AF_INET, local_addr=("::1", 0)),           # address of another family
        dict(local_addr=("127.0.0.1", 0), remote_addr=("::1", 9)),    # no common family
        dict(local_addr=("no-such-host.invalid", 0)),                 # does not resolve
        dict(local_addr=("127.0.0.1", port)),                         # in use
        dict(family=socket.AF_UNIX, remote_addr=f"{d}/nobody.sock"),  # no such file
        dict(family=socket.AF_UNIX, remote_addr=regular),             # not a socket
        dict(family=socket.AF_UNIX, local_addr=f"{d}/no-dir/x.sock"), # no such directory
        dict(family=socket.AF_UNIX, local_addr=regular),              # a file that is no socket
        dict(family=socket.AF_UNIX, local_addr="/tmp/" + "x" * 200),  # too long
    ]
    out = []
    for kw in cases:
        try:
            t, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, **kw)
            out.append("OK")
            t.close()
        except Exception as e:
            out.append(f"{type(e).__name__}: {e}".replace(d + "/", ""))
    taken.close()
    os.unlink(regular)
    os.rmdir(d)
    print("create_errors", P(" | ".join(out)))


async def sendto_errors():
    loop = asyncio.get_running_loop()
    log = []
    srv, sp = await loop.create_datagram_endpoint(lambda: Recorder(log, "srv"),
                                                  local_addr=("127.0.0.1", 0))
    port = srv.get_extra_info("sockname")[1]
    cli, cp = await loop.create_datagram_endpoint(lambda: Recorder(log, "cli"),
                                                  remote_addr=("127.0.0.1", port))
    cli.sendto(b"z" * 65508)               # over IPv4's largest payload
    await cp.got.get()
    cli.sendto(b"z" * 65507)               # the largest
    await sp.got.get()
    srv.sendto(b"w", ("::1", port))        # an IPv6 address on an IPv4 socket
    await sp.got.get()
    log.append(f"closing={cli.is_closing()},{srv.is_closing()}")
    cli.close()
    srv.close()
    await asyncio.sleep(0)
    print("sendto_errors", P(" ".join(log)))


async def main():
    await create_errors()
    await sendto_errors()


asyncio.run(main())
