"""contextvar: twin of bench/contextvar.c.

ContextVar.get with 1, 16 and 256 variables set, of an unset variable
(its default), set + reset, and spawning a task while variables are set,
all inside a task; the median of several rounds in ns per operation.
Python's figures include the interpreter's loop around each call, as the
C figures include the call.  --uvloop runs it on uvloop.
"""
import asyncio
import contextvars

import benchlib

GETS = 1_000_000
SETS = 200_000
SPAWNS = 100_000
ROUNDS = 5


def per_get(var):
    get = var.get
    per = []
    for _ in range(ROUNDS):
        t0 = benchlib.now_ns()
        for _ in range(GETS):
            get()
        t1 = benchlib.now_ns()
        per.append((t1 - t0) / GETS)
    return benchlib.median(per)


async def noop():
    return None


async def main():
    variables = [contextvars.ContextVar("v%d" % i, default=None) for i in range(256)]
    unset = contextvars.ContextVar("unset", default=None)
    set_so_far = 0
    for count in (1, 16, 256):
        while set_so_far < count:
            variables[set_so_far].set(set_so_far)
            set_so_far += 1
        ns = per_get(variables[count // 2])
        benchlib.note("contextvar[%s]: get with %d set: %.2f ns", benchlib.loop_name(), count, ns)
        benchlib.result("contextvar", "ns_per_get_%d" % count, ns, "ns")
    ns = per_get(unset)
    benchlib.note("contextvar[%s]: get of an unset variable: %.2f ns", benchlib.loop_name(), ns)
    benchlib.result("contextvar", "ns_per_get_unset", ns, "ns")

    var = variables[7]
    per = []
    for _ in range(ROUNDS):
        t0 = benchlib.now_ns()
        for i in range(SETS):
            var.reset(var.set(i))
        t1 = benchlib.now_ns()
        per.append((t1 - t0) / SETS)
    ns = benchlib.median(per)
    benchlib.note("contextvar[%s]: set + reset: %.2f ns", benchlib.loop_name(), ns)
    benchlib.result("contextvar", "ns_per_set_reset", ns, "ns")

    per = []
    for _ in range(ROUNDS):
        t0 = benchlib.now_ns()
        tasks = [asyncio.create_task(noop()) for _ in range(SPAWNS)]
        for t in tasks:
            await t
        tasks = None
        t1 = benchlib.now_ns()
        per.append((t1 - t0) / SPAWNS)
    ns = benchlib.median(per)
    benchlib.note("contextvar[%s]: spawn with 256 variables set: %.1f ns/task",
                  benchlib.loop_name(), ns)
    benchlib.result("contextvar", "ns_per_spawn_set", ns, "ns")


benchlib.run(main)
