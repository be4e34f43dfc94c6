"""Twin of check_tls.c's mutual TLS tests (test_mtls_s_server and
test_mtls_server).

Part 1, the lines test_mtls_s_server expects: asyncio clients, with and
without a client certificate, with TLS 1.3 and then at most TLS 1.2,
against `openssl s_server -Verify 1` (a client certificate is required).
With TLS 1.3 the client's handshake ends before the server has checked
its certificate, so open_connection succeeds and the server's alert comes
with the first read; with TLS 1.2 open_connection fails.

Part 2, for the record (check_tls.c's test_mtls_server differs, see
there): an asyncio server requiring a client certificate.  Python 3.11's
server drops the connection without sending its alert (the client reads
EOF) and reports nothing to the exception handler unless the loop is in
debug mode, where it reports "Error on transport creation for incoming
connection"; casyncio's does the same.  casyncio's server sends the
alert (as s_server does: its clients see the lines of part 1).

    /usr/bin/python3 tests/twins/tls_mtls.py [CERTDIR]

Without CERTDIR the certificates are made in a temporary directory.
"""
import asyncio
import ssl
import subprocess
import sys

from tls_common import D, clean


def client_ctx(cert, tls12):
    ctx = ssl.create_default_context(cafile=f"{D}/ca.pem")
    if cert:
        ctx.load_cert_chain(f"{D}/client.pem", f"{D}/client.key")
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def attempt(port, cert, tls12):
    what = "cert" if cert else "no cert"
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(cert, tls12),
                                             server_hostname="localhost")
    except Exception as e:
        print(f"{what}: connect {type(e).__name__} {clean(e)}")
        return
    print(f"{what}: connected {w.get_extra_info('ssl_object').version()}")
    w.write(b"hello\n")
    try:
        line = await r.readline()
        print(f"{what}: read {line.decode()}", end="")
        if not line:
            print("EOF")
    except Exception as e:
        print(f"{what}: read {type(e).__name__} {clean(e)}")
    w.close()
    try:
        await w.wait_closed()
    except Exception:
        pass


async def s_server_part():
    p = await asyncio.create_subprocess_exec(
        "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", f"{D}/server.pem", "-key",
        f"{D}/server.key", "-rev", "-Verify", "1", "-CAfile", f"{D}/ca.pem",
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not (line := await p.stdout.readline()).startswith(b"ACCEPT "):
        pass
    port = int(line.split(b":")[-1])
    for tls12 in (False, True):
        await attempt(port, True, tls12)
        await attempt(port, False, tls12)
    p.kill()
    await p.wait()


async def python_server_part(debug):
    loop = asyncio.get_running_loop()
    loop.set_debug(debug)
    reports = []
    loop.set_exception_handler(lambda loop, ctx: reports.append(
        f"{ctx['message']}: {type(ctx.get('exception')).__name__}: "
        f"{clean(ctx.get('exception'))}"))
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(f"{D}/server.pem", f"{D}/server.key")
    sctx.verify_mode = ssl.CERT_REQUIRED
    sctx.load_verify_locations(f"{D}/ca.pem")

    async def handler(r, w):
        line = await r.readline()
        w.write(b"echo: " + line)
        w.close()

    srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=sctx)
    port = srv.sockets[0].getsockname()[1]
    for tls12 in (False, True):
        await attempt(port, False, tls12)
    await asyncio.sleep(0.1)
    srv.close()
    print(f"python server (debug {debug}) reports: {reports}")


print("# against openssl s_server -Verify 1 (test_mtls_s_server)")
asyncio.run(s_server_part())
print("# against an asyncio server (for the record: see the docstring)")
import logging
logging.disable(logging.CRITICAL)  # debug mode's log lines: the reports say it
asyncio.run(python_server_part(False))
asyncio.run(python_server_part(True))
if len(sys.argv) == 1:
    subprocess.run(["rm", "-rf", D])
