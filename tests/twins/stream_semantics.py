"""Twin of check_stream.c's semantics tests: one line per test, in this
order: test_partial_reads, test_limit_overrun, test_half_close.

A scripted server writes its chunks with a pause between them (so they
arrive as separate reads: separators split across packets); the client
logs what each read returns.  The C tests expect these lines exactly.
"""
import asyncio

CHUNKS = [b"ab", b"c\nde", b"f|", b"|gh", b"ij\n", b"klm"]


async def serve_chunks(chunks):
    async def handler(reader, writer):
        for c in chunks:
            writer.write(c)
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def partial_reads():
    server, port = await serve_chunks(CHUNKS)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    out = []
    out.append(repr(await r.readline()))
    out.append(repr(await r.readuntil(b"||")))
    out.append(repr(await r.read(2)))
    out.append(repr(await r.readexactly(3)))
    try:
        await r.readexactly(5)
    except asyncio.IncompleteReadError as e:
        out.append(f"IncompleteReadError({e.partial!r}, {e})")
    out.append(str(r.at_eof()))
    out.append(repr(await r.read(10)))
    out.append(repr(await r.readline()))
    w.close()
    await w.wait_closed()
    server.close()
    await server.wait_closed()
    print("partial_reads", " ".join(out))


async def limit_overrun():
    server, port = await serve_chunks([b"0123456789\nab\n"])
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=8)
    out = []
    await asyncio.sleep(0.05)  # the whole chunk is buffered
    try:
        await r.readuntil(b"\n")
    except asyncio.LimitOverrunError as e:
        out.append(f"LimitOverrunError({e}, consumed={e.consumed})")
    try:
        await r.readline()
    except ValueError as e:
        out.append(f"ValueError({e})")
    out.append(repr(await r.readline()))
    out.append(repr(await r.readline()))
    w.close()
    server.close()
    print("limit_overrun", " ".join(out))


async def half_close():
    got = []

    async def handler(reader, writer):
        data = await reader.read()
        got.append(data)
        writer.write(b"pong:" + data)
        writer.close()
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"ping")
    w.write_eof()
    out = [repr(await r.read()), str(r.at_eof())]
    w.close()
    server.close()
    await server.wait_closed()
    print("half_close", repr(got[0]), " ".join(out))


async def main():
    await partial_reads()
    await limit_overrun()
    await half_close()


asyncio.run(main())
