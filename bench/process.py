"""process: twin of bench/process.c.

create_subprocess_exec("true") then wait, 300 times (us per child);
communicate() of 64 MiB through cat (ms); reading a 4 KiB file 5,000
times (us per file) and a 64 MiB file (ms), each through asyncio.to_thread (Python has no
asynchronous file API of its own); 64 MiB from a child's stdout (cat of that file) in
reads of 64 KiB (ms).  --uvloop runs it on uvloop.
"""
import asyncio
import os

import benchlib

SPAWNS = 300
PIPE_BYTES = 64 << 20
SMALL_READS = 5000
BIG_BYTES = 64 << 20
PIPE_READ = 64 << 10
ROUNDS = 3


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


async def main():
    v = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        for _ in range(SPAWNS):
            p = await asyncio.create_subprocess_exec("true")
            await p.wait()
        v.append((benchlib.now_ns() - t0) / 1e3 / SPAWNS)
        benchlib.note("process[%s]: spawn round %d: %.0f us per child", benchlib.loop_name(), r, v[-1])
    benchlib.result("process", "spawn_wait_us", benchlib.median(v), "us")

    data = b"x" * PIPE_BYTES
    v = []
    for r in range(ROUNDS):
        t0 = benchlib.now_ns()
        p = await asyncio.create_subprocess_exec(
            "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await p.communicate(data)
        assert len(out) == PIPE_BYTES
        v.append((benchlib.now_ns() - t0) / 1e6)
        benchlib.note("process[%s]: pipe round %d: %.1f ms", benchlib.loop_name(), r, v[-1])
    benchlib.result("process", "communicate_64MiB_ms", benchlib.median(v), "ms")

    small = "/tmp/casyncio-bench-small-py-%d" % os.getpid()
    big = "/tmp/casyncio-bench-big-py-%d" % os.getpid()
    with open(small, "wb") as f:
        f.write(data[:4096])
    with open(big, "wb") as f:
        f.write(data[:BIG_BYTES])
    try:
        v = []
        for r in range(ROUNDS):
            t0 = benchlib.now_ns()
            for _ in range(SMALL_READS):
                await asyncio.to_thread(read_bytes, small)
            v.append((benchlib.now_ns() - t0) / 1e3 / SMALL_READS)
            benchlib.note("process[%s]: read_small round %d: %.1f us per file",
                          benchlib.loop_name(), r, v[-1])
        benchlib.result("process", "read_small_us", benchlib.median(v), "us")
        v = []
        for r in range(ROUNDS):
            t0 = benchlib.now_ns()
            n = len(await asyncio.to_thread(read_bytes, big))
            v.append((benchlib.now_ns() - t0) / 1e6)
            benchlib.note("process[%s]: read_big round %d: %.1f ms (%d bytes)",
                          benchlib.loop_name(), r, v[-1], n)
        benchlib.result("process", "read_big_64MiB_ms", benchlib.median(v), "ms")
        v = []
        for r in range(ROUNDS):
            t0 = benchlib.now_ns()
            p = await asyncio.create_subprocess_exec("cat", big, stdout=asyncio.subprocess.PIPE)
            total = 0
            while True:
                chunk = await p.stdout.read(PIPE_READ)
                if not chunk:
                    break
                total += len(chunk)
            await p.wait()
            v.append((benchlib.now_ns() - t0) / 1e6)
            assert total == BIG_BYTES
            benchlib.note("process[%s]: read_pipe round %d: %.1f ms (%d bytes in reads of %d)",
                          benchlib.loop_name(), r, v[-1], total, PIPE_READ)
        benchlib.result("process", "read_pipe_64MiB_ms", benchlib.median(v), "ms")
    finally:
        os.unlink(small)
        os.unlink(big)


benchlib.run(main)
