"""An echo server in the two styles asyncio offers (echo_server.c's twin).

    python3 echo_server.py [--host H] [--port P] [--mode streams|protocol]
                           [--tls CERT KEY]

--tls serves TLS with the certificate chain CERT and its key KEY.

Prints `READY <host> <port> <pid>` once listening, echoes every byte back,
and on SIGTERM closes the server and its connections and exits with 0.
"""
import argparse
import asyncio
import os
import signal
import ssl


async def handle_echo(reader, writer):
    try:
        while data := await reader.read(16384):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass  # a peer that goes away is the normal end of a session
    finally:
        writer.close()


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ctx = None
    if args.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*args.tls)
    if args.mode == "protocol":
        server = await loop.create_server(EchoProtocol, args.host, args.port, ssl=ctx)
    else:
        server = await asyncio.start_server(handle_echo, args.host, args.port, ssl=ctx)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"READY {host} {port} {os.getpid()}", flush=True)
    await stop.wait()
    server.close()
    # server.close_clients() is Python 3.13's; before, asyncio.run cancels
    # the connection tasks still running when main returns.
    if hasattr(server, "close_clients"):
        server.close_clients()
    await server.wait_closed()
    loop.remove_signal_handler(signal.SIGTERM)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--mode", choices=("streams", "protocol"), default="streams")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                   help="serve TLS with this certificate chain and key")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="uvloop: run on uvloop (the benchmark's comparison)")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.loop == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main(args))
