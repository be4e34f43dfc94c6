"""Twin of check_contextvars.c: test_server.

A server accepts in a copy of the context current when it was made: each
connection's handler task (start_server) copies it, whatever the handler
of an earlier connection set.  A protocol's transport (create_server's
connections, create_connection's) calls connection_made in a copy of the
context current when the transport was made (a server's: the server's),
data_received and eof_received in one copy kept for the transport (what
one call sets, the next sees), connection_lost after close() in a copy
of the closer's context.  None of them runs in a task.  The two sides
log apart (the order between them is the kernel's).
"""
import asyncio
import contextvars

out = {"srv": [], "cli": [], "main": []}
var = contextvars.ContextVar("var", default="default")


async def handler(reader, writer):
    out["main"].append("handler=%s" % var.get())
    var.set("handler-set")
    writer.write(b"x")
    await writer.drain()
    writer.close()


class Proto(asyncio.Protocol):
    def __init__(self, tag, events):
        self.tag = tag
        self.events = events

    def connection_made(self, transport):
        self.transport = transport
        task = asyncio.current_task()
        out[self.tag].append("%s.made=%s%s" % (self.tag, var.get(), "" if task is None else " in-a-task"))
        var.set("made-set")

    def data_received(self, data):
        out[self.tag].append("%s.data=%s" % (self.tag, var.get()))
        var.set(self.tag + "-data-set")
        if self.tag == "srv":
            self.transport.write(data)
        self.events.put_nowait(data)

    def eof_received(self):
        out[self.tag].append("%s.eof=%s" % (self.tag, var.get()))
        return False

    def connection_lost(self, exc):
        out[self.tag].append("%s.lost=%s" % (self.tag, var.get()))
        self.events.put_nowait(None)


async def main():
    loop = asyncio.get_running_loop()
    var.set("server")
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    var.set("main")
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()
        writer.close()
        await writer.wait_closed()
    srv.close()
    await srv.wait_closed()

    srv_events = asyncio.Queue()
    cli_events = asyncio.Queue()
    var.set("pserver")
    srv = await loop.create_server(lambda: Proto("srv", srv_events), "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    var.set("client")
    transport, _ = await loop.create_connection(lambda: Proto("cli", cli_events), "127.0.0.1", port)
    var.set("main")
    for data in (b"a", b"b"):
        transport.write(data)
        await srv_events.get()
        await cli_events.get()
    var.set("closer")
    transport.close()
    var.set("main")
    await cli_events.get()
    await srv_events.get()
    srv.close()
    await srv.wait_closed()
    out["main"].append("main=%s" % var.get())


asyncio.run(main())
print(" ".join(out["srv"] + out["cli"] + out["main"]))
