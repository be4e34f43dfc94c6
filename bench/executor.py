"""executor: twin of bench/executor.c.

The default thread-pool executor three ways: 100,000 trivial jobs through
loop.run_in_executor(None, ...) then gathered (ns per job); 10,000
jobs each sleeping 1 ms on a ThreadPoolExecutor of 32 workers (seconds);
the round trip of one asyncio.to_thread job at a time, 20,000 times
(median and p99 in microseconds).  --uvloop runs it on uvloop.
"""
import asyncio
import time

import benchlib

import concurrent.futures

TRIVIAL_JOBS = 100_000
SLEEP_JOBS = 10_000
SLEEP_WORKERS = 32
ROUND_TRIPS = 20_000
ROUNDS = 3


def trivial(x):
    return x


def sleep_1ms(x):
    time.sleep(0.001)
    return x


async def run_jobs(ex, fn, n):
    loop = asyncio.get_running_loop()
    t0 = benchlib.now_ns()
    futs = [loop.run_in_executor(ex, fn, i) for i in range(n)]
    await asyncio.gather(*futs)
    return (benchlib.now_ns() - t0) / 1e9


async def main():
    v = []
    for r in range(ROUNDS):
        s = await run_jobs(None, trivial, TRIVIAL_JOBS)
        v.append(s * 1e9 / TRIVIAL_JOBS)
        benchlib.note("executor[%s]: trivial round %d: %d jobs in %.1f ms, %.0f jobs/s",
                      benchlib.loop_name(), r, TRIVIAL_JOBS, s * 1e3, TRIVIAL_JOBS / s)
    benchlib.result("executor", "trivial_ns_per_job", benchlib.median(v), "ns")

    v = []
    with concurrent.futures.ThreadPoolExecutor(SLEEP_WORKERS) as ex:
        for r in range(ROUNDS):
            v.append(await run_jobs(ex, sleep_1ms, SLEEP_JOBS))
            benchlib.note("executor[%s]: sleeps round %d: %d x 1 ms on %d workers in %.3f s",
                          benchlib.loop_name(), r, SLEEP_JOBS, SLEEP_WORKERS, v[-1])
    benchlib.result("executor", "sleep_1ms_x10k_s", benchlib.median(v), "s")

    med, p99 = [], []
    for r in range(ROUNDS):
        rt = []
        for _ in range(ROUND_TRIPS):
            t0 = benchlib.now_ns()
            await asyncio.to_thread(trivial, None)
            rt.append((benchlib.now_ns() - t0) / 1e3)
        rt.sort()
        med.append(benchlib.quantile(rt, 0.5))
        p99.append(benchlib.quantile(rt, 0.99))
        benchlib.note("executor[%s]: round trip round %d: median %.1f us, p99 %.1f us",
                      benchlib.loop_name(), r, med[-1], p99[-1])
    benchlib.result("executor", "round_trip_median_us", benchlib.median(med), "us")
    benchlib.result("executor", "round_trip_p99_us", benchlib.median(p99), "us")


benchlib.run(main)
