"""An echo client (echo_client.c's twin): connects, sends each line, prints
what comes back.

    python3 echo_client.py [--host H] [--port P] [LINE...]
"""
import argparse
import asyncio


async def tcp_echo_client(host, port, lines):
    reader, writer = await asyncio.open_connection(host, port)
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
    p.add_argument("lines", nargs="*",
                   default=["Hello World!", "casyncio echoes", "the last line"])
    a = p.parse_args()
    asyncio.run(tcp_echo_client(a.host, a.port, a.lines))
