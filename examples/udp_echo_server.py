"""A UDP echo server on a datagram endpoint (udp_echo_server.c's twin).

    python3 udp_echo_server.py [--host H] [--port P] [--loop asyncio|uvloop]

Prints `READY <host> <port> <pid>` once bound (port 0 picks a free port),
sends every datagram back to its sender, and on SIGTERM closes the
endpoint and exits with 0.
"""
import argparse
import asyncio
import os
import signal


class EchoServerProtocol(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def main(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    transport, _ = await loop.create_datagram_endpoint(
        EchoServerProtocol, local_addr=(args.host, args.port))
    host, port = transport.get_extra_info("sockname")[:2]
    print(f"READY {host} {port} {os.getpid()}", flush=True)
    try:
        await stop.wait()
    finally:
        transport.close()
        loop.remove_signal_handler(signal.SIGTERM)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="uvloop: run on uvloop (the benchmark's comparison)")
    return p.parse_args()


if __name__ == "__main__":
    args = parse_args()
    if args.loop == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main(args))
