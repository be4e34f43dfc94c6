"""Twin of examples/postgres.c for bench/postgres.sh: N `SELECT $1::int`
(the values 0..N-1) over M asyncpg connections at once, every result
checked, on asyncio or (--uvloop) uvloop.

    python3 bench/postgres_asyncpg.py HOST PORT USER DATABASE N M [--uvloop]

HOST is the directory of the server's Unix socket.  Prints, as the C
example does, `ok N queries over M connections in S s` (S: from all
connections open to the last result), or the failure, and exits 1.

asyncpg's way: a task per connection, each sending its next query when the
last result came back (fetchval prepares the statement once, then reuses
it); the connections open together, as asyncpg's pool would open them.
"""
import asyncio
import sys
import time

import asyncpg


async def main(host, port, user, database, n, m):
    conns = await asyncio.gather(
        *(asyncpg.connect(host=host, port=port, user=user, database=database)
          for _ in range(m)))
    next_value = 0

    async def worker(conn):
        nonlocal next_value
        while next_value < n:
            i = next_value
            next_value += 1
            v = await conn.fetchval("SELECT $1::int", i)
            if v != i:
                raise RuntimeError(f"query {i} returned {v!r}")

    t0 = time.monotonic()
    async with asyncio.TaskGroup() as tg:
        for conn in conns:
            tg.create_task(worker(conn))
    dt = time.monotonic() - t0
    print(f"ok {n} queries over {m} connections in {dt:.3f} s")
    await asyncio.gather(*(conn.close() for conn in conns))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    if len(args) != 6:
        sys.exit(__doc__)
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    host, port, user, database, n, m = args
    try:
        asyncio.run(main(host, int(port), user, database, int(n), int(m)))
    except Exception as e:
        print(f"postgres_asyncpg: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
