"""What the TLS twins share: the certificates (made once in a temporary
directory with tests/tls/make-certs.sh, or taken from the directory
given as the first argument), the Python peers' path, and Python's error
text without its "(_ssl.c:NNNN)" tail, which casyncio's messages do not
have."""
import os
import re
import ssl
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "tls", "peer.py")


def certs():
    if len(sys.argv) > 1:
        return sys.argv[1]
    d = tempfile.mkdtemp(prefix="casyncio-tls-twin-")
    subprocess.run(["sh", os.path.join(HERE, "..", "tls", "make-certs.sh"), d], check=True)
    return d


D = certs()


def clean(e):
    return re.sub(r" \(_ssl\.c:\d+\)$", "", str(e))


def client_ctx():
    return ssl.create_default_context(cafile=f"{D}/ca.pem")


def server_ctx(name="server"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(f"{D}/{name}.pem", f"{D}/{name}.key")
    return ctx
