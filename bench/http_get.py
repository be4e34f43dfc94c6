"""http_get: twin of bench/http_get.c.

10,000 GETs of a 1 KiB file, then of a 100 KiB file, 64 in flight, over one
aiohttp ClientSession (keep-alive, so 64 connections) from the nginx that
bench/http_server.sh starts (BENCH_HTTP_BASE): requests per second, the
best of 3 rounds after a warm-up round.  64 worker tasks take the next
request number until 10,000 are done; each body is read whole and its
length checked.  --uvloop runs it on uvloop.
"""
import asyncio
import os
import sys

import aiohttp

import benchlib

REQUESTS = 10_000
IN_FLIGHT = 64
ROUNDS = 3
FILES = (("1k", "get_1k_req_s", 1024), ("100k", "get_100k_req_s", 102400))


async def one_round(session, url, want_len):
    left = REQUESTS

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200 or len(body) != want_len:
                    raise RuntimeError("%s: status %d, %d bytes" % (url, resp.status, len(body)))

    t0 = benchlib.now_ns()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return REQUESTS / ((benchlib.now_ns() - t0) / 1e9)


async def main():
    base = os.environ.get("BENCH_HTTP_BASE", "")
    if not base.startswith("http://"):
        sys.exit("http_get.py: set BENCH_HTTP_BASE=http://127.0.0.1:PORT, or run it as\n"
                 "    sh bench/http_server.sh python3 bench/http_get.py")
    conn = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=conn) as session:
        for path, metric, want_len in FILES:
            url = "%s/%s" % (base, path)
            best = 0.0
            for r in range(-1, ROUNDS):
                v = await one_round(session, url, want_len)
                benchlib.note("http_get[%s]: %s round %d%s: %d GETs, %d in flight: %.0f req/s",
                              benchlib.loop_name(), path, r, " (warm-up)" if r < 0 else "",
                              REQUESTS, IN_FLIGHT, v)
                if r >= 0:
                    best = max(best, v)
            benchlib.result("http_get", metric, best, "req/s")


benchlib.run(main)
