"""An echo client (echo_client.c's twin): connects, sends each line, prints
what comes back.

    python3 echo_client.py [--host H] [--port P] [--tls] [--cafile FILE] [LINE...]

--tls speaks TLS, verifying the server against the system's CAs, or FILE's
with --cafile.
"""
import argparse
import asyncio
import ssl


async def tcp_echo_client(host, port, lines, ctx):
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        for line in lines:
            print(f"Send: {line}")
            writer.write(line.encode() + b"\n")
            await writer.drain()
            reply = await reader.readline()
            if reply != line.encode() + b"\n":
                raise RuntimeError("the echo differs")
            print(f"Received: {reply.decode().rstrip()}")
    finally:
        print("Close the connection")
        writer.close()
        await writer.wait_closed()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--cafile")
    p.add_argument("lines", nargs="*",
                   default=["Hello World!", "casyncio echoes", "the last line"])
    a = p.parse_args()
    ctx = None
    if a.tls or a.cafile:
        ctx = ssl.create_default_context(cafile=a.cafile)
    asyncio.run(tcp_echo_client(a.host, a.port, a.lines, ctx))
