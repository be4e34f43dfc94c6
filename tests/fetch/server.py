"""A local HTTP/1.1 server that misbehaves on purpose, for casyncio-fetch's
tests.  Python 3.11's standard library only.

    /usr/bin/python3 tests/fetch/server.py ROOT LOG

serves the files under ROOT on a free 127.0.0.1 port, prints "READY PORT"
on stdout once it listens, and appends one line per request to LOG:

    GET /reset/a.bin range=bytes=100000- if-range="..." ae=identity -> 206

The first path segment chooses the behaviour; the rest names a file of
ROOT.  Every good answer supports Range (one range), If-Range (ETag or
Last-Modified), 416 with "Content-Range: bytes */SIZE", and keep-alive.

    /ok/F                the file (?noifrange=1: If-Range not checked)
    /flaky/F             503 on the 1st, 3rd, 5th... request for this URL,
                         the file on the others (503 half of the time)
    /later/N/F           the first request: 503 with "Retry-After: N"
                         (?status=429 for a 429, ?date=1 for an HTTP date);
                         later ones the file
    /reset/F             a request without Range gets the headers and half
                         the body (?at=BYTES), then a TCP reset (?fin=1: a
                         plain close, the body cut short); a Range request
                         gets its range
    /norange/F           ignores Range (always 200 and the whole file), and
                         cuts the first response in half
    /cutnow/F            the headers and 1000 bytes of the body in one write,
                         then a close: the client sees all of it at once
    /rangecut/F          a request without Range gets half the body, then a
                         close; one with Range gets a 200 (Range ignored)
                         whose body is cut after ?rat=BYTES (default 1000)
    /shortrange/F        a request without Range gets half the body, then a
                         close; one with Range a 206 of only 10000 bytes of it
                         (a Content-Range that ends before the file does)
    /changed/F           like /reset/F, but the ETag and Last-Modified
                         change after the first request (If-Range fails)
    /slow/F              the body trickles: ?chunk=BYTES every ?every=SECONDS
                         (default 1000 every 0.05)
    /stall/F             the headers, then nothing until the client leaves
    /status/CODE         that status with a short body
    /any/...             200 and "hello\n" whatever the rest of the path
    /headers             the request's headers as the body
    /bigheader/N         200 with a header line of N bytes
    /gzip/F              the file gzip-encoded when the client accepts it
    /redirect/F          302 to /ok/F
    /rangeredirect/F     a request without Range gets half the body, then a
                         close; one with Range a 302 to /ok/F with a body
    /stats               "max-in-flight N": the most requests this server
                         had in flight at once since the last /stats
"""

import email.utils
import gzip
import http.server
import os
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

ROOT = sys.argv[1]
LOG = open(sys.argv[2], "a", buffering=1)
counts = {}
lock = threading.Lock()
in_flight = 0
max_in_flight = 0


def count(key):
    with lock:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]


class Cut(Exception):
    """The connection was closed on purpose: nothing more to send."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "misbehave/1"

    def log_message(self, fmt, *args):
        pass

    def log(self, status):
        h = self.headers
        LOG.write("%s %s range=%s if-range=%s ae=%s -> %s\n" % (
            self.command, self.path, h.get("Range", "-"), h.get("If-Range", "-"),
            h.get("Accept-Encoding", "-"), status))

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (Cut, ConnectionError, BrokenPipeError, socket.timeout, ValueError, OSError):
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    # --- helpers

    def send_head(self, status, length, headers=()):
        """The status line and headers of a body of length bytes, logged;
        False when the request was HEAD (no body to send)."""
        self.log(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        return self.command != "HEAD"

    def send(self, status, body=b"", headers=()):
        if self.send_head(status, len(body), headers):
            self.wfile.write(body)

    def cut(self, reset):
        """Ends the connection now: a TCP reset, or a plain close."""
        self.wfile.flush()
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.close_connection = True
        raise Cut()

    def file(self, rel):
        path = os.path.join(ROOT, rel)
        if ".." in rel.split("/") or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read(), os.stat(path).st_mtime

    def serve(self, data, mtime, query, honour_range=True, cut_at=None, reset=True,
              version="", pause=0):
        size = len(data)
        etag = '"%x-%x%s"' % (size, int(mtime), version)
        modified = email.utils.formatdate(mtime + (3600 if version else 0), usegmt=True)
        headers = [("ETag", etag), ("Last-Modified", modified), ("Accept-Ranges", "bytes")]
        start, end, status = 0, size, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if query.get("noifrange"):  # a server that checks no If-Range
            if_range = None
        if rng and honour_range and (if_range is None or if_range in (etag, modified)):
            spec = rng.split("=", 1)[1].split(",")[0].strip()
            first, _, last = spec.partition("-")
            first = int(first)
            last = int(last) if last else size - 1
            if first >= size:
                self.send(416, b"", headers + [("Content-Range", "bytes */%d" % size)])
                return
            start, end, status = first, min(last + 1, size), 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end - 1, size)))
        body = data[start:end]
        if not self.send_head(status, len(body), headers):
            return
        if cut_at is not None and cut_at < len(body):
            self.wfile.write(body[:cut_at])
            if pause:  # the client sees the first bytes before the cut
                self.wfile.flush()
                time.sleep(pause)
            self.cut(reset)
        slow = query.get("every")
        if slow is not None:
            chunk = int(query.get("chunk", "1000"))
            for i in range(0, len(body), chunk):
                self.wfile.write(body[i:i + chunk])
                self.wfile.flush()
                time.sleep(float(slow))
            return
        self.wfile.write(body)

    # --- the behaviours

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        global in_flight, max_in_flight
        if self.path == "/stats":
            with lock:
                text = "max-in-flight %d\n" % max_in_flight
                max_in_flight = 0
            self.send(200, text.encode())
            return
        with lock:
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
        try:
            self.behave()
        finally:
            with lock:
                in_flight -= 1

    def behave(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.lstrip("/").split("/", 1)
        kind, rest = parts[0], urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        key = self.path
        if kind == "any":
            self.send(200, b"hello\n")
            return
        if kind == "bigheader":
            self.send(200, b"hello\n", [("X-Big", "x" * int(rest))])
            return
        if kind == "headers":
            text = "".join("%s: %s\n" % (k, v) for k, v in self.headers.items())
            self.send(200, text.encode())
            return
        if kind == "status":
            code = int(rest or "500")
            self.send(code, b"error %d\n" % code,
                      [("Content-Type", "text/plain")])
            return
        if kind == "redirect":
            self.send(302, b"", [("Location", "/ok/" + rest)])
            return
        if kind == "rangeredirect" and self.headers.get("Range"):
            self.send(302, b"moved\n", [("Location", "/ok/" + rest)])
            return
        if kind == "later":
            secs, _, rest = rest.partition("/")
        got = self.file(rest)
        if got is None:
            self.send(404, b"no such file\n")
            return
        data, mtime = got
        n = count(key)
        if kind == "ok" or kind == "slow":
            self.serve(data, mtime, query if kind == "slow" else
                       {k: v for k, v in query.items() if k == "noifrange"})
        elif kind == "flaky":
            if n % 2 == 1:
                self.send(503, b"busy, try again\n")
            else:
                self.serve(data, mtime, {})
        elif kind == "later":
            if n == 1:
                status = int(query.get("status", "503"))
                after = secs
                if query.get("date"):
                    after = email.utils.formatdate(time.time() + float(secs), usegmt=True)
                self.send(status, b"later\n", [("Retry-After", after)])
            else:
                self.serve(data, mtime, {})
        elif kind in ("reset", "changed", "rangeredirect"):
            at = int(query.get("at", len(data) // 2))
            cut = None if self.headers.get("Range") else at
            self.serve(data, mtime, {}, cut_at=cut, reset=not query.get("fin"),
                       version="v2" if kind == "changed" and n > 1 else "")
        elif kind == "cutnow":
            self.log(200)
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data)
                             + data[:1000])
            self.cut(False)
        elif kind == "rangecut":
            if self.headers.get("Range"):
                self.serve(data, mtime, {}, honour_range=False,
                           cut_at=int(query.get("rat", "1000")), reset=False, pause=0.2)
            else:
                self.serve(data, mtime, {}, cut_at=len(data) // 2, reset=False)
        elif kind == "shortrange":
            rng = self.headers.get("Range")
            if rng:
                first = int(rng.split("=", 1)[1].split("-")[0])
                body = data[first:first + 10000]
                self.send(206, body, [("Content-Range", "bytes %d-%d/%d" % (
                    first, first + len(body) - 1, len(data)))])
            else:
                self.serve(data, mtime, {}, cut_at=len(data) // 2, reset=False)
        elif kind == "norange":
            self.serve(data, mtime, {}, honour_range=False,
                       cut_at=len(data) // 2 if n == 1 else None)
        elif kind == "stall":
            self.log(200)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:100])
            self.wfile.flush()
            while self.connection.recv(1024):
                pass
            self.close_connection = True
        elif kind == "gzip":
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                self.send(200, gzip.compress(data), [("Content-Encoding", "gzip")])
            else:
                self.serve(data, mtime, {})
        else:
            self.send(404, b"unknown behaviour\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


server = Server(("127.0.0.1", 0), Handler)
print("READY", server.server_address[1], flush=True)
server.serve_forever()
