"""sleep_memory: twin of bench/sleep_memory.c.

N tasks all suspended at once, each awaiting one shared future that is
released at the end.  Reports the peak RSS (VmHWM) minus the RSS before the
tasks were created, divided by N: bytes per sleeping task, everything
included.  Page-table growth (VmPTE) per task too.

Without argument, measures N = 100,000 and N = 1,000,000, each in a fresh
child process; with an argument, that N only.  --uvloop runs it on uvloop.
"""
import asyncio
import subprocess
import sys

import benchlib


def label(n):
    if n % 1_000_000 == 0:
        return "%dm" % (n // 1_000_000)
    if n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


async def waiter(gate):
    await gate


async def measure(n):
    base_rss, base_pte = benchlib.status_kb("VmRSS"), benchlib.status_kb("VmPTE")
    base_hwm = base_rss if benchlib.reset_peak_rss() else benchlib.status_kb("VmHWM")

    t0 = benchlib.now_ns()
    gate = asyncio.get_running_loop().create_future()
    tasks = [asyncio.create_task(waiter(gate)) for _ in range(n)]
    # The tasks run their first step (up to the await) in the next loop
    # iteration, before this task resumes; yield twice to be sure.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t1 = benchlib.now_ns()

    rss, hwm = benchlib.status_kb("VmRSS"), benchlib.status_kb("VmHWM")
    pte = benchlib.status_kb("VmPTE")
    live = len(asyncio.all_tasks())

    gate.set_result(None)
    for t in tasks:
        await t
    tasks = None
    t2 = benchlib.now_ns()

    per_task = (hwm - base_hwm) * 1024.0 / n
    pte_per_task = (pte - base_pte) * 1024.0 / n
    benchlib.note("sleep_memory[%s]: N=%d (%d tasks alive): baseline RSS %d kB; with all tasks "
                  "suspended RSS %d kB, peak %d kB: %.0f B/task (peak), %.0f B/task (current); "
                  "VmPTE %d -> %d kB: %.0f B/task more in page tables; set-up %.1f ms, "
                  "release+collect %.1f ms",
                  benchlib.loop_name(), n, live, base_rss, rss, hwm, per_task,
                  (rss - base_rss) * 1024.0 / n, base_pte, pte, pte_per_task,
                  (t1 - t0) / 1e6, (t2 - t1) / 1e6)
    benchlib.result("sleep_memory", "bytes_per_task_" + label(n), per_task, "B")
    benchlib.result("sleep_memory", "pte_bytes_per_task_" + label(n), pte_per_task, "B")


def main():
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    if args:
        n = int(args[0])
        benchlib.run(lambda: measure(n))
        return 0
    status = 0
    for n in (100_000, 1_000_000):
        child = [sys.executable, __file__, str(n)] + (["--uvloop"] if benchlib.use_uvloop() else [])
        rc = subprocess.call(child)
        if rc != 0:
            benchlib.note("sleep_memory[%s]: N=%d failed (exit status %d)",
                          benchlib.loop_name(), n, rc)
            status = 1
    return status


sys.exit(main())
