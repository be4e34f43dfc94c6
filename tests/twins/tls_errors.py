"""Twin of check_tls.c's error tests: test_verify_errors (verify) and
test_peer_errors (peers), one line per fact, as the C tests log them.
Messages lose the " (_ssl.c:NNNN)" Python appends (C has no such tail).

verify: servers whose certificates a client refuses (self-signed,
expired, another host's), by name (server_hostname "localhost") and by
address; the verify code is Python's verify_code.

peers: a plain server answering with HTTP instead of a ServerHello, one
that never answers (ssl_handshake_timeout 0.2 and 0.25: the message shows
the timeout as repr() does), one that sends data and closes without
close_notify (data, then EOF: no error), and tests/tls/peer.py's
oversized record (after "hello", a header announcing 65535 bytes).

The last section prints, for the record, what ssl.SSLContext's loading
calls raise: casyncio's differ on purpose (see check_tls.c,
test_load_errors).

    /usr/bin/python3 tests/twins/tls_errors.py [CERTDIR]
"""
import asyncio
import ssl
import subprocess
import sys

from tls_common import D, PEER, clean, client_ctx, server_ctx


async def connect_fails(what, port, **kw):
    try:
        await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(), **kw)
        print(f"{what}: connected")
    except ssl.SSLCertVerificationError as e:
        assert isinstance(e, ValueError)
        print(f"{what}: {type(e).__name__} {clean(e)} (verify_code {e.verify_code})")
    except Exception as e:
        print(f"{what}: {type(e).__name__} {clean(e)}")


async def line_handler(r, w):
    try:
        await r.readline()
    except Exception:
        pass
    w.close()


async def verify():
    for name in ("self", "expired", "other"):
        srv = await asyncio.start_server(line_handler, "127.0.0.1", 0, ssl=server_ctx(name))
        port = srv.sockets[0].getsockname()[1]
        await connect_fails(name, port, server_hostname="localhost")
        await connect_fails(f"{name}-ip", port)
        srv.close()
        await srv.wait_closed()


async def peers():
    async def garbage(r, w):
        w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await w.drain()
        w.close()

    srv = await asyncio.start_server(garbage, "127.0.0.1", 0)
    await connect_fails("garbage", srv.sockets[0].getsockname()[1], server_hostname="localhost")
    srv.close()

    async def stall(r, w):
        await r.read()
        w.close()

    srv = await asyncio.start_server(stall, "127.0.0.1", 0)
    for t in (0.2, 0.25):
        await connect_fails("stall", srv.sockets[0].getsockname()[1],
                            server_hostname="localhost", ssl_handshake_timeout=t)
    srv.close()

    async def abrupt(r, w):
        w.write(b"data")
        await w.drain()
        w.transport.abort()

    srv = await asyncio.start_server(abrupt, "127.0.0.1", 0, ssl=server_ctx("server"))
    r, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1],
                                         ssl=client_ctx(), server_hostname="localhost")
    first = await r.read(64)
    second = await r.read(64)
    print(f"abrupt: {first!r} {second!r} at_eof {r.at_eof()}")
    w.close()
    await w.wait_closed()
    srv.close()

    p = await asyncio.create_subprocess_exec(sys.executable, PEER, "oversized", D,
                                             stdout=subprocess.PIPE)
    port = int((await p.stdout.readline()).split()[1])
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(),
                                         server_hostname="localhost")
    line = f"oversized: {await r.read(64)!r} "
    try:
        line += repr(await r.read(64))
    except Exception as e:
        line += f"{type(e).__name__} {clean(e)}"
    print(line)
    w.close()
    try:
        await w.wait_closed()
        print("oversized: wait_closed None")
    except Exception as e:
        print(f"oversized: wait_closed {type(e).__name__} {clean(e)}")
    p.kill()
    await p.wait()


def loading():
    def attempt(what, fn, *args):
        try:
            fn(*args)
            print(f"{what}: ok")
        except Exception as e:
            print(f"{what}: {type(e).__name__} {clean(e)}")

    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    attempt("missing cert", c.load_cert_chain, "/nonexistent/cert.pem")
    attempt("missing key", c.load_cert_chain, f"{D}/server.pem", "/nonexistent/key.pem")
    attempt("wrong password", c.load_cert_chain, f"{D}/server.pem", f"{D}/locked.key", "wrong")
    attempt("password", c.load_cert_chain, f"{D}/server.pem", f"{D}/locked.key", "secret")
    # No password for an encrypted key: Python asks on the terminal.
    attempt("mismatch", c.load_cert_chain, f"{D}/server.pem", f"{D}/other.key")
    attempt("key as cert", c.load_cert_chain, f"{D}/server.key")
    attempt("directory", c.load_cert_chain, D)
    attempt("missing cafile", c.load_verify_locations, "/nonexistent/ca.pem")
    attempt("key as cafile", c.load_verify_locations, f"{D}/server.key")
    attempt("ciphers", c.set_ciphers, "NOPE")

    def cert_none():
        ssl.create_default_context().verify_mode = ssl.CERT_NONE
    attempt("CERT_NONE", cert_none)


print("# verify (test_verify_errors)")
asyncio.run(verify())
print("# peers (test_peer_errors)")
asyncio.run(peers())
print("# loading, for the record (test_load_errors)")
loading()
if len(sys.argv) == 1:
    subprocess.run(["rm", "-rf", D])
