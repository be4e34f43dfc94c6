"""Twin of check_tls.c's stream tests over TLS (test_stream_over_tls and
test_write_eof), one line per fact.

limit_overrun: the reader's limit over TLS, as tests/twins/
stream_semantics.py's limit_overrun over plain TCP (the same line).
shutdown: close() with a peer that never answers close_notify
(tests/tls/peer.py mute) and ssl_shutdown_timeout 0.2: wait_closed raises.
write_eof (for the record): Python 3.11's SSL transport cannot write_eof
(NotImplementedError; can_write_eof() is False); casyncio's sends
close_notify: see check_tls.c test_write_eof.

    /usr/bin/python3 tests/twins/tls_stream.py [CERTDIR]
"""
import asyncio
import subprocess
import sys

from tls_common import D, PEER, clean, client_ctx, server_ctx


async def limit_overrun():
    async def handler(r, w):
        w.write(b"0123456789\nab\n")
        await w.drain()
        w.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ctx())
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=8, ssl=client_ctx(),
                                         server_hostname="localhost")
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


async def shutdown():
    p = await asyncio.create_subprocess_exec(sys.executable, PEER, "mute", D,
                                             stdout=subprocess.PIPE)
    port = int((await p.stdout.readline()).split()[1])
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(),
                                         server_hostname="localhost", ssl_shutdown_timeout=0.2)
    w.close()
    try:
        await w.wait_closed()
        print("shutdown: wait_closed None")
    except Exception as e:
        print(f"shutdown: wait_closed {type(e).__name__} {clean(e)}")
    p.kill()
    await p.wait()


async def write_eof():
    async def handler(r, w):
        await r.read()
        w.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ctx())
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(),
                                         server_hostname="localhost")
    w.write(b"ping")
    try:
        w.write_eof()
        print("write_eof: None")
    except Exception as e:
        print(f"write_eof: {type(e).__name__} {e}")
    print(f"write_eof: can_write_eof {w.can_write_eof()}")
    w.close()
    server.close()


asyncio.run(limit_overrun())
asyncio.run(shutdown())
print("# for the record (test_write_eof)")
asyncio.run(write_eof())
if len(sys.argv) == 1:
    subprocess.run(["rm", "-rf", D])
