"""Twin of check_server.c's test_kept_peer_stream: a handler keeps another
client's StreamWriter (a chat server's broadcast list) after that client
left and its handler closed the writer and returned, then uses it.

Python's writer outlives its connection as a closed object: is_closing()
is true, write() and writelines() drop the data silently, drain() raises
ConnectionResetError('Connection lost'), write_eof() and close() do
nothing, wait_closed() returns.  The C test expects these lines exactly.

One difference the C test does not cover: a Python handler that returns
without closing its writer leaves the connection open (until the writer
is collected), where casyncio's server closes the stream when the handler
returns; kept after that, it is the same closed writer.
"""
import asyncio


async def kept_peer_stream():
    kept = []
    left = asyncio.Event()
    done = asyncio.Event()
    out = []

    async def try_call(name, call):
        try:
            r = call()
            if asyncio.iscoroutine(r):
                await r
            out.append(f"{name}: ok")
        except Exception as e:
            out.append(f"{name}: {type(e).__name__}({e})")

    async def handler(reader, writer):
        name = await reader.readline()
        if name == b"A\n":
            kept.append(writer)       # the broadcast list keeps it
            await reader.read()       # until A leaves
            writer.close()            # the canonical handler's finally
            left.set()
            return
        await left.wait()
        await asyncio.sleep(0.05)     # A's handler has returned
        w = kept[0]
        out.append(f"is_closing: {w.is_closing()}")
        await try_call("write", lambda: w.write(b"hello\n"))
        await try_call("writelines", lambda: w.writelines([b"a", b"b"]))
        await try_call("drain", w.drain)
        await try_call("write_eof", w.write_eof)
        await try_call("close", w.close)
        await try_call("wait_closed", w.wait_closed)
        writer.close()
        done.set()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ra, wa = await asyncio.open_connection("127.0.0.1", port)
    wa.write(b"A\n")
    rb, wb = await asyncio.open_connection("127.0.0.1", port)
    wb.write(b"B\n")
    await asyncio.sleep(0.05)
    wa.close()
    await wa.wait_closed()
    await done.wait()
    wb.close()
    server.close()
    await server.wait_closed()
    print("kept_peer_stream", "; ".join(out))


asyncio.run(kept_peer_stream())
