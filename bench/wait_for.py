"""wait_for: twin of bench/wait_for.c.

1,000,000 wait_for calls on futures that complete before their deadline:
each iteration creates a future, schedules fut.set_result with call_soon
and wait_fors it with a 10 s timeout.  Reports ns per iteration, median of
several rounds (fewer than C, as each takes seconds); the same loop with a
plain await is timed too and shown on stderr.  --uvloop runs it on uvloop.
"""
import asyncio

import benchlib

N = 1_000_000
ROUNDS = 3
TIMEOUT = 10.0


async def one_round(loop, with_deadline):
    t0 = benchlib.now_ns()
    for _ in range(N):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, fut)
        if with_deadline:
            result = await asyncio.wait_for(fut, TIMEOUT)
        else:
            result = await fut
        if result is not fut:
            raise RuntimeError("wrong result")
    return (benchlib.now_ns() - t0) / N


async def main():
    loop = asyncio.get_running_loop()
    per_wait_for, per_await = [], []
    for r in range(ROUNDS):
        per_wait_for.append(await one_round(loop, True))
        per_await.append(await one_round(loop, False))
        benchlib.note("wait_for[%s]: round %d: %d x (future, call_soon, wait_for): %.1f ns each; "
                      "with a plain await: %.1f ns", benchlib.loop_name(), r, N,
                      per_wait_for[-1], per_await[-1])
    med = benchlib.median(per_wait_for)
    base = benchlib.median(per_await)
    benchlib.note("wait_for[%s]: median %.1f ns, plain await %.1f ns: the deadline costs %.1f ns",
                  benchlib.loop_name(), med, base, med - base)
    benchlib.result("wait_for", "ns_per_wait_for", med, "ns")


benchlib.run(main)
