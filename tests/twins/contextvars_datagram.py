"""Twin of check_contextvars.c: test_datagram.

A datagram endpoint calls connection_made in a copy of the context
current when it was made, datagram_received in one copy kept for the
endpoint (what one call sets, the next sees), outside tasks;
error_received for a datagram sendto refuses at once inside sendto, in
the sender's context and task; connection_lost after close() in a copy
of the closer's context.
"""
import asyncio
import contextvars
import socket

out = []
var = contextvars.ContextVar("var", default="default")


class Proto(asyncio.DatagramProtocol):
    def __init__(self, events):
        self.events = events

    def connection_made(self, transport):
        out.append("made=%s%s" % (var.get(), "" if asyncio.current_task() is None else " in-a-task"))
        var.set("made-set")

    def datagram_received(self, data, addr):
        out.append("received=%s%s" % (var.get(), "" if asyncio.current_task() is None else " in-a-task"))
        var.set("received-set")
        self.events.put_nowait(data)

    def error_received(self, exc):
        out.append("error=%s%s" % (var.get(), "" if asyncio.current_task() is None else " in-a-task"))
        var.set("error-set")

    def connection_lost(self, exc):
        out.append("lost=%s" % var.get())
        self.events.put_nowait(None)


async def main():
    loop = asyncio.get_running_loop()
    events = asyncio.Queue()
    var.set("create")
    transport, _ = await loop.create_datagram_endpoint(lambda: Proto(events), local_addr=("127.0.0.1", 0))
    var.set("main")
    addr = transport.get_extra_info("sockname")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for data in (b"a", b"b"):
        peer.sendto(data, addr)
        await events.get()
    var.set("sender")
    transport.sendto(b"x" * 70000, addr)
    var.set("closer")
    transport.close()
    var.set("main")
    await events.get()
    peer.close()
    out.append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out))
