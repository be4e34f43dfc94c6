"""Twin of check_stream.c's server tests (test_serve_forever,
test_server_close_live_clients): what Python does, printed one fact per
line; the C tests assert the same facts.
"""
import asyncio


async def serve_forever_ends_on_close():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0)
    try:
        await server.serve_forever()
    except RuntimeError as e:
        print("second serve_forever:", e)
    server.close()
    try:
        await task
    except asyncio.CancelledError:
        print("serve_forever after close: CancelledError")
    try:
        await server.serve_forever()
    except RuntimeError as e:
        print("serve_forever on a closed server:", e)


async def cancel_serve_forever_closes():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("cancelled serve_forever; is_serving:", server.is_serving())


async def close_keeps_live_clients():
    async def echo(reader, writer):
        while line := await reader.readline():
            writer.write(line)
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    server.close()
    try:
        await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        print("new connection after close: ConnectionRefusedError")
    w.write(b"again\n")
    print("live client after close:", await r.readline())
    w.close()
    await server.wait_closed()


async def main():
    await serve_forever_ends_on_close()
    await cancel_serve_forever_closes()
    await close_keeps_live_clients()


asyncio.run(main())
