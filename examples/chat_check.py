"""Scripted clients for chat_server (C or Python): checks that every line
goes to all other clients, and that a client that does not read never
stalls the others (its lines are dropped instead).

    python3 chat_check.py --port P [--host H] [--lines N]

Prints what it checks, one line each (compared by examples/demo.sh with
expected/chat_check.txt); exits with 1 at the first thing that is wrong.
"""
import argparse
import asyncio
import sys


async def join(host, port, name):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(name.encode() + b"\n")
    welcome = await asyncio.wait_for(reader.readline(), 10)
    expect(welcome == f"* welcome {name}\n".encode(), f"{name}: welcome {welcome!r}")
    print(f"{name} joined")
    return reader, writer


def expect(ok, what):
    if not ok:
        print(f"FAILED: {what}")
        sys.exit(1)


async def receive(reader, name, want):
    line = await asyncio.wait_for(reader.readline(), 10)
    expect(line == want.encode() + b"\n", f"{name} got {line!r}, not {want!r}")
    print(f"{name} received: {want}")


async def main(host, port, nlines):
    (ra, wa), (rb, wb), (rc, wc) = [await join(host, port, n) for n in "ABC"]

    wa.write(b"hello from A\n")
    await receive(rb, "B", "A: hello from A")
    await receive(rc, "C", "A: hello from A")
    wb.write(b"hi from B\n")
    await receive(ra, "A", "B: hi from B")
    await receive(rc, "C", "B: hi from B")

    # A client that reads nothing while A sends a flood, in batches that B
    # and C read as they come: B and C get every line, in order, while the
    # slow client's buffers fill up and then its lines are dropped.
    rs, ws = await join(host, port, "slow")
    pad = "x" * 1000
    batch = 100

    async def collect(reader, name, first):
        for i in range(first, first + batch):
            line = await asyncio.wait_for(reader.readline(), 30)
            expect(line == f"A: line {i} {pad}\n".encode(), f"{name}: line {i}: {line[:40]!r}")

    for first in range(0, nlines, batch):
        wa.write(b"".join(f"line {i} {pad}\n".encode() for i in range(first, first + batch)))
        await asyncio.gather(wa.drain(), collect(rb, "B", first), collect(rc, "C", first))
    print(f"B and C received all {nlines} lines while slow read nothing")

    # The slow client catches up: what it missed was dropped, and it is
    # told so before the next line.
    got = 0
    while True:
        try:
            line = await asyncio.wait_for(rs.readline(), 1)
        except asyncio.TimeoutError:
            break
        expect(line.startswith(b"A: line "), f"slow got {line[:40]!r}")
        got += 1
    expect(0 < got < nlines, f"slow received {got} of {nlines} lines")
    wa.write(b"final\n")
    note = await asyncio.wait_for(rs.readline(), 10)
    expect(note == f"* {nlines - got} lines dropped\n".encode(), f"slow: note {note!r}")
    await receive(rs, "slow", "A: final")
    print("slow missed some lines and was told how many")

    for w in (wa, wb, wc, ws):
        w.close()
        await w.wait_closed()
    print("all clients closed")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--lines", type=int, default=20000)
    a = p.parse_args()
    asyncio.run(main(a.host, a.port, a.lines))
