"""Twin of check_tls.c's STARTTLS tests (test_starttls_*): an SMTP-like
exchange.  The server greets "220 ready", the client sends "STARTTLS",
the server answers "220 go ahead", both sides start_tls, then one line
each way over TLS.  Each side prints one line, "client: ..." and
"server: ...", the facts joined by " | "; the C tests expect these lines
from every pairing (C with C, C with tests/tls/peer.py's Python side).

Then "early" (test_starttls_early): a client sending "STARTTLS\\r\\n" and
its ClientHello in one write.  casyncio's server hands the bytes its
reader had not consumed to the handshake and the exchange succeeds (the
C test expects the lines of the exchange above, with "EHLO early").
Python 3.11's reader keeps them as plaintext and its handshake waits for
a ClientHello that already came: with ssl_handshake_timeout 0.5 it fails
as printed here (for the record).

    /usr/bin/python3 tests/twins/tls_starttls.py [CERTDIR]
"""
import asyncio
import subprocess
import sys

from tls_common import D, PEER


async def run(client_mode, timeout=None):
    args = [sys.executable, PEER, "starttls-server", D] + ([str(timeout)] if timeout else [])
    srv = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE)
    port = (await srv.stdout.readline()).split()[1].decode()
    cli = await asyncio.create_subprocess_exec(sys.executable, PEER, client_mode, D, port,
                                               stdout=subprocess.PIPE)
    out, _ = await cli.communicate()
    print(out.decode(), end="")
    print((await srv.stdout.readline()).decode(), end="")
    srv.kill()
    await srv.wait()


asyncio.run(run("starttls-client"))
print("# early: Python's server, for the record")
asyncio.run(run("early", 0.5))
if len(sys.argv) == 1:
    subprocess.run(["rm", "-rf", D])
