"""A TCP port checker (port_check.c's twin): at most --limit connections at
a time, each given --timeout seconds; one line per port, in order.

    python3 port_check.py [--host H] [--limit N] [--timeout S] PORTS...
"""
import argparse
import asyncio


async def check(host, port, timeout, limit):
    async with limit:
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host, port)
        except ConnectionRefusedError:
            return f"{port} closed"
        except TimeoutError:
            return f"{port} timeout"
        except OSError as e:
            return f"{port} error: {type(e).__name__}: {e}"
    writer.close()
    await writer.wait_closed()
    return f"{port} open"


async def main(args):
    limit = asyncio.Semaphore(args.limit)
    tasks = [asyncio.create_task(check(args.host, p, args.timeout, limit)) for p in args.ports]
    for task in tasks:
        print(await task)


def ports(spec):
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--timeout", type=float, default=1.0)
    p.add_argument("specs", nargs="+", metavar="PORTS")
    args = p.parse_args()
    args.ports = [port for spec in args.specs for port in ports(spec)]
    asyncio.run(main(args))
