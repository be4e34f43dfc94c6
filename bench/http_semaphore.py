"""http_semaphore: twin of bench/http_semaphore.c, the aiohttp idiom.

10,000 GETs of a 1 KiB file, then of a 100 KiB file, from the nginx that
bench/http_server.sh starts (BENCH_HTTP_BASE), over one aiohttp
ClientSession: every request its own coroutine, an asyncio.Semaphore(64)
bounding them, one gather of the 10,000 at the end.  Each body is read whole
and its length checked.  Requests per second, the best of 3 rounds after a
warm-up round; the 64-worker form of bench/http_get.py in alternating
rounds, as the C program does.  --uvloop runs it on uvloop.
"""
import asyncio
import os
import sys

import aiohttp

import benchlib

REQUESTS = 10_000
IN_FLIGHT = 64
ROUNDS = 3
FILES = (("1k", 1024), ("100k", 102400))


async def fetch(session, sem, url, want_len):
    async with sem:
        async with session.get(url) as resp:
            body = await resp.read()
            if resp.status != 200 or len(body) != want_len:
                raise RuntimeError("%s: status %d, %d bytes" % (url, resp.status, len(body)))
            return body


async def sem_round(session, url, want_len):
    sem = asyncio.Semaphore(IN_FLIGHT)
    t0 = benchlib.now_ns()
    await asyncio.gather(*(fetch(session, sem, url, want_len) for _ in range(REQUESTS)))
    return REQUESTS / ((benchlib.now_ns() - t0) / 1e9)


async def workers_round(session, url, want_len):
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
        sys.exit("http_semaphore.py: set BENCH_HTTP_BASE=http://127.0.0.1:PORT, or run it as\n"
                 "    sh bench/http_server.sh python3 bench/http_semaphore.py")
    conn = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=conn) as session:
        for path, want_len in FILES:
            url = "%s/%s" % (base, path)
            best_sem = best_workers = 0.0
            for r in range(-1, ROUNDS):
                s = await sem_round(session, url, want_len)
                w = await workers_round(session, url, want_len)
                benchlib.note("http_semaphore[%s]: %s round %d%s: %d GETs, Semaphore(%d) + gather: "
                              "%.0f req/s; %d workers: %.0f req/s", benchlib.loop_name(), path, r,
                              " (warm-up)" if r < 0 else "", REQUESTS, IN_FLIGHT, s, IN_FLIGHT, w)
                if r >= 0:
                    best_sem = max(best_sem, s)
                    best_workers = max(best_workers, w)
            benchlib.result("http_semaphore", "get_%s_req_s" % path, best_sem, "req/s")
            benchlib.result("http_semaphore", "workers_%s_req_s" % path, best_workers, "req/s")
            benchlib.result("http_semaphore", "sem_over_workers_%s" % path,
                            best_sem / best_workers, "x")


benchlib.run(main)
