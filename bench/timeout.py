"""timeout: twin of bench/timeout.c.

Timeout scopes entered and exited 1,000,000 times, each around one await
that completes before the deadline: `async with asyncio.timeout(10): await
asyncio.sleep(0)`, then the same around `await fut` on a future already
done (no suspension: the scope alone).  Reports ns per scope for each,
median of several rounds (fewer than C, as each takes seconds); the same
loops without the scope are timed too and shown on stderr.  --uvloop runs
it on uvloop.
"""
import asyncio

import benchlib

N = 1_000_000
ROUNDS = 3
DELAY = 10.0


async def one_round(sleep0, scoped, done):
    t0 = benchlib.now_ns()
    if scoped:
        for _ in range(N):
            async with asyncio.timeout(DELAY):
                if sleep0:
                    await asyncio.sleep(0)
                else:
                    await done
    else:
        for _ in range(N):
            if sleep0:
                await asyncio.sleep(0)
            else:
                await done
    return (benchlib.now_ns() - t0) / N


async def main():
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    for sleep0, name, metric in ((True, "sleep(0)", "ns_per_scope_sleep0"),
                                 (False, "an already-done await", "ns_per_scope_done")):
        scoped, bare = [], []
        for r in range(ROUNDS):
            scoped.append(await one_round(sleep0, True, done))
            bare.append(await one_round(sleep0, False, done))
            benchlib.note("timeout[%s]: round %d: %d x timeout scope around %s: %.1f ns each; "
                          "without the scope: %.1f ns", benchlib.loop_name(), r, N, name,
                          scoped[-1], bare[-1])
        med, base = benchlib.median(scoped), benchlib.median(bare)
        benchlib.note("timeout[%s]: %s: median %.1f ns, without the scope %.1f ns: "
                      "the scope costs %.1f ns", benchlib.loop_name(), name, med, base, med - base)
        benchlib.result("timeout", metric, med, "ns")


benchlib.run(main)
