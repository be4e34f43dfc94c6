"""Python peers of the TLS tests (tests/check_tls.c and the tls twins).

    python3 tests/tls/peer.py MODE CERTDIR [PORT] [OPTIONS]

Servers bind 127.0.0.1 on a free port and print "PORT <n>" first; they
serve until killed.  Clients connect to 127.0.0.1:PORT and print one line
per fact, then exit.  Error lines read "error <Type> <message>" with the
"(_ssl.c:NNNN)" tail Python adds taken off, as the C messages have none.

Modes:
  echo            TLS server (server.pem): echoes each line, answers "info"
                  with "<version> <alpn or -> <client CN or ->".  Options:
                  --verify (mutual TLS: CERT_REQUIRED, ca.pem), --tls12.
  client PORT     TLS client (ca.pem, server_hostname localhost): sends
                  "hello", prints the answer, then asks for "info".
                  Options: --cert (client.pem, for mutual TLS).
  oversized       Raw socket + ssl.MemoryBIO server: after the handshake,
                  the record "hello", then a record header announcing
                  65535 bytes (more than TLS allows) and junk.
  starttls-server [TIMEOUT]  SMTP-like: "220 ready", reads STARTTLS, "220
                  go ahead", start_tls (ssl_handshake_timeout TIMEOUT), then
                  answers one line over TLS with "250 <line>"; prints
                  "server: ..." once the client went.
  starttls-client PORT  the other side of starttls-server.
  early PORT      A raw-socket STARTTLS client that sends "STARTTLS\\r\\n"
                  and its ClientHello in one write (ssl.MemoryBIO), then
                  finishes the handshake and sends one line.
  mute            Raw socket + ssl.MemoryBIO server: after the handshake it
                  reads nothing more and never answers close_notify (holds
                  the connection for 60 s).
  resets PORT N   A client that completes N handshakes, each connection
                  reset (SO_LINGER 0) right after its Finished, before the
                  server's session tickets can be sent; prints "resets N".
  halfclose       Raw socket + ssl.MemoryBIO server: reads until the
                  client's close_notify, then answers "pong:<what it read>"
                  and sends its own close_notify (TLS half-close).
"""
import asyncio
import re
import signal
import socket
import ssl
import struct
import sys
import time


def die_with_parent():
    """A server left by a test that failed must not outlive it: killed
    when its parent exits (Linux's PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def clean(e):
    return re.sub(r" \(_ssl\.c:\d+\)$", "", str(e))


def say(*words):
    print(*words, flush=True)


def server_ctx(d, verify=False, tls12=False):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
    ctx.set_alpn_protocols(["http/1.1"])
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(f"{d}/ca.pem")
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def client_ctx(d, cert=False):
    ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")
    if cert:
        ctx.load_cert_chain(f"{d}/client.pem", f"{d}/client.key")
    return ctx


def common_name(cert):
    for rdn in (cert or {}).get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "-"


async def echo(d, opts):
    ctx = server_ctx(d, "--verify" in opts, "--tls12" in opts)

    async def handler(r, w):
        try:
            while line := await r.readline():
                if line == b"info\n":
                    o = w.get_extra_info("ssl_object")
                    line = (f"{o.version()} {o.selected_alpn_protocol() or '-'} "
                            f"{common_name(w.get_extra_info('peercert'))}\n").encode()
                w.write(line)
                await w.drain()
        except (OSError, ssl.SSLError):
            pass
        w.close()

    srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    say("PORT", srv.sockets[0].getsockname()[1])
    await asyncio.sleep(3600)


async def client(d, port, opts):
    try:
        r, w = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx(d, "--cert" in opts), server_hostname="localhost")
        o = w.get_extra_info("ssl_object")
        say("connected", o.version(), common_name(w.get_extra_info("peercert")))
        w.write(b"hello\n")
        say("reply", repr(await r.readline()))
        w.write(b"info\n")
        say("info", repr(await r.readline()))
        w.close()
        await w.wait_closed()
        say("closed")
    except Exception as e:
        say("error", type(e).__name__, clean(e))


def raw_server():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    say("PORT", ls.getsockname()[1])
    return ls


def bio_handshake(sock, obj, incoming, outgoing, first=b""):
    """Runs obj's handshake over sock; first: bytes already read."""
    if first:
        incoming.write(first)
    while True:
        try:
            obj.do_handshake()
            sock.sendall(outgoing.read())
            return
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if not data:
                raise ConnectionResetError("EOF during the handshake")
            incoming.write(data)


def oversized(d):
    ls = raw_server()
    ctx = server_ctx(d)
    while True:
        sock, _ = ls.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            bio_handshake(sock, obj, incoming, outgoing)
            obj.write(b"hello")
            sock.sendall(outgoing.read())
            time.sleep(0.1)  # "hello" and the bad record in two reads
            sock.sendall(b"\x17\x03\x03\xff\xff" + b"\x00" * 64)
            sock.settimeout(5)
            while sock.recv(65536):  # until the client goes
                pass
        except OSError:
            pass
        sock.close()


def mute(d):
    ls = raw_server()
    ctx = server_ctx(d)
    held = []
    while True:
        sock, _ = ls.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            bio_handshake(sock, obj, incoming, outgoing)
        except OSError:
            pass
        held.append(sock)  # open, unread, until the peer is killed


def halfclose(d):
    ls = raw_server()
    ctx = server_ctx(d)
    while True:
        sock, _ = ls.accept()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            bio_handshake(sock, obj, incoming, outgoing)
            got = b""
            while True:
                try:
                    chunk = obj.read(65536)
                    if not chunk:  # the client's close_notify
                        break
                    got += chunk
                    continue
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
            obj.write(b"pong:" + got)
            try:
                obj.unwrap()  # ours; the client's came already
            except ssl.SSLError:
                pass
            sock.sendall(outgoing.read())
        except OSError:
            pass
        sock.close()


async def starttls_server(d, opts):
    ctx = server_ctx(d)
    timeout = float(opts[0]) if opts else None

    async def handler(r, w):
        out = []
        try:
            w.write(b"220 ready\r\n")
            out.append((await r.readline()).decode().strip())
            w.write(b"220 go ahead\r\n")
            await w.start_tls(ctx, ssl_handshake_timeout=timeout)
            out.append(w.get_extra_info("ssl_object").version())
            line = await r.readline()
            out.append(line.decode().strip())
            w.write(b"250 " + line)
            await w.drain()
            await r.read()
        except Exception as e:
            out.append(f"error {type(e).__name__} {clean(e)}")
        say("server: " + " | ".join(out))
        w.close()

    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    say("PORT", srv.sockets[0].getsockname()[1])
    await asyncio.sleep(3600)


async def starttls_client(d, port):
    out = []
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        out.append((await r.readline()).decode().strip())
        w.write(b"STARTTLS\r\n")
        out.append((await r.readline()).decode().strip())
        await w.start_tls(client_ctx(d), server_hostname="localhost")
        out.append(w.get_extra_info("ssl_object").version())
        w.write(b"EHLO tls\r\n")
        out.append((await r.readline()).decode().strip())
        w.close()
        await w.wait_closed()
    except Exception as e:
        out.append(f"error {type(e).__name__} {clean(e)}")
    say("client: " + " | ".join(out))


def early(d, port):
    out = []
    sock = socket.create_connection(("127.0.0.1", port))
    buf = b""
    while b"\r\n" not in buf:
        buf += sock.recv(100)
    line, buf = buf.split(b"\r\n", 1)
    out.append(line.decode())
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(d).wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(b"STARTTLS\r\n" + outgoing.read())  # one write: both at once
    while b"\r\n" not in buf:
        buf += sock.recv(100)
    line, buf = buf.split(b"\r\n", 1)
    out.append(line.decode())
    try:
        bio_handshake(sock, obj, incoming, outgoing, buf)
        out.append(obj.version())
        obj.write(b"EHLO early\r\n")
        sock.sendall(outgoing.read())
        got = b""
        while not got.endswith(b"\n"):
            try:
                chunk = obj.read(100)
                if not chunk:  # close_notify
                    break
                got += chunk
            except ssl.SSLWantReadError:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
        out.append(got.decode().strip())
    except Exception as e:
        out.append(f"error {type(e).__name__} {clean(e)}")
    sock.close()
    say("early: " + " | ".join(out))


def resets(d, port, n):
    ctx = client_ctx(d)
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port))
        tls = ctx.wrap_socket(sock, server_hostname="localhost")
        tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()
    say(f"resets {n}")


def main():
    die_with_parent()
    mode, d = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    if mode == "echo":
        asyncio.run(echo(d, rest))
    elif mode == "client":
        asyncio.run(client(d, int(rest[0]), rest[1:]))
    elif mode == "oversized":
        oversized(d)
    elif mode == "mute":
        mute(d)
    elif mode == "halfclose":
        halfclose(d)
    elif mode == "starttls-server":
        asyncio.run(starttls_server(d, rest))
    elif mode == "starttls-client":
        asyncio.run(starttls_client(d, int(rest[0])))
    elif mode == "early":
        early(d, int(rest[0]))
    elif mode == "resets":
        resets(d, int(rest[0]), int(rest[1]))
    else:
        sys.exit(f"peer.py: unknown mode {mode}")


if __name__ == "__main__":
    main()
