"""timer_lateness: twin of bench/timer_lateness.c.

10,000 tasks; task i (i = 1..10,000) sleeps i/10,000 s, so the wake-ups are
spread uniformly over one second.  Each task records (actual wake time -
intended wake time), the intended time being the clock read just before its
sleep plus the delay.  Reports p50, p99 and max lateness in ms (nearest-rank
percentiles).  --uvloop runs it on uvloop.

The timers that come due in the first few tens of milliseconds also measure
how long the loop takes to start the 10,000 tasks (their first steps run in
one batch, during which nothing else runs).  So steady_p99_ms is the p99 over
the 8,000 tasks with delays > 0.2 s only, which come due after that start-up
burst: pure timer precision.
"""
import asyncio

import benchlib

N = 10_000
STEADY_FROM = N // 5  # tasks i > STEADY_FROM have delays > 0.2 s
lateness_ms = [0.0] * (N + 1)


async def sleeper(i):
    delay = i / N
    intended = benchlib.now_ns() + round(delay * 1e9)
    await asyncio.sleep(delay)
    lateness_ms[i] = (benchlib.now_ns() - intended) / 1e6


async def main():
    tasks = [asyncio.create_task(sleeper(i)) for i in range(1, N + 1)]
    for t in tasks:
        await t
    v = sorted(lateness_ms[1:])
    q = benchlib.quantile
    steady_p99 = q(sorted(lateness_ms[STEADY_FROM + 1:]), 0.99)
    benchlib.note("timer_lateness[%s]: %d timers over 1 s: min %.3f ms, p50 %.3f, p90 %.3f, "
                  "p99 %.3f, max %.3f ms; p99 of delays > 0.2 s: %.3f ms",
                  benchlib.loop_name(), N, v[0], q(v, 0.5), q(v, 0.9), q(v, 0.99), v[-1],
                  steady_p99)
    benchlib.result("timer_lateness", "p50_ms", q(v, 0.5), "ms")
    benchlib.result("timer_lateness", "p99_ms", q(v, 0.99), "ms")
    benchlib.result("timer_lateness", "max_ms", v[-1], "ms")
    benchlib.result("timer_lateness", "steady_p99_ms", steady_p99, "ms")


benchlib.run(main)
