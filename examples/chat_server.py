"""A chat server (chat_server.c's twin): every line a client sends goes to
all the other clients.

    python3 chat_server.py [--host H] [--port P]

A client's first line is its name ("* welcome NAME" answers it); then each
line goes to every other client as "NAME: line".  A slow client never
stalls the others: each client has a writer task draining its own bounded
queue, and a line that does not fit a full queue is dropped for that
client alone (it is told how many it missed when there is room again).
"""
import argparse
import asyncio
import os
import signal

MAX_QUEUED = 256
clients = set()


class Client:
    def __init__(self, name, writer):
        self.name, self.writer = name, writer
        self.outbox = asyncio.Queue(MAX_QUEUED)
        self.dropped = 0

    def deliver(self, data):
        try:
            if self.dropped:
                self.outbox.put_nowait(f"* {self.dropped} lines dropped\n".encode())
                self.dropped = 0
            self.outbox.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    async def write_all(self):
        while True:
            data = await self.outbox.get()
            self.writer.write(data)
            await self.writer.drain()


async def handle_client(reader, writer):
    try:
        name = (await reader.readline()).rstrip(b"\n").decode()
        if not name:
            return
        client = Client(name, writer)
        sender = asyncio.create_task(client.write_all())
        client.deliver(f"* welcome {name}\n".encode())
        clients.add(client)
        try:
            while line := await reader.readline():
                data = f"{name}: ".encode() + line.rstrip(b"\n") + b"\n"
                for other in clients:
                    if other is not client:
                        other.deliver(data)
                await asyncio.sleep(0)  # let the writers run (see chat_server.c)
        finally:
            clients.discard(client)
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, ConnectionError):
                pass
    except (ConnectionError, ValueError):
        pass  # the end of this client alone
    finally:
        writer.close()


async def main(host, port):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(handle_client, host, port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"READY {host} {port} {os.getpid()}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8888)
    a = p.parse_args()
    asyncio.run(main(a.host, a.port))
