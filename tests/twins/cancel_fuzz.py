"""Twin of check_cancel.c: test_cancel_fuzz.

N worker tasks run K pseudo-random operations each (same LCG as the C
test): yield, await an earlier task, cancel any task (itself included),
complete or await one of M shared futures, fail with ValueError, or (for
the seeds run with 7 operations) gather two earlier tasks; a
CancelledError is swallowed or re-raised at random.  Every event is logged;
the C test must produce the same log.  Prints, per seed, the number of log
lines and the 64-bit FNV-1a hash of the log (lines joined by "\\n").
CancelledError messages are left out on purpose: CPython forgets a task's
cancel message after it is first retrieved, which is not part of the
contract.

Run with `--log SEED NOPS` to print the log itself (to diff with the C side:
env CASYNCIO_FUZZ_LOG=path makes the C test write its log there).
"""
import asyncio
import sys

N, M, K, ROUNDS = 60, 8, 12, 5
SEEDS = ((1, 6), (2, 6), (3, 6), (4, 6), (5, 7), (6, 7), (7, 7), (8, 7), (9, 7), (10, 7), (11, 7), (12, 7))


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def run(seed, nops):
    log = []
    tasks = []
    futs = []

    def rnd(st):
        st[0] = (st[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return st[0] >> 8

    async def worker(i):
        st = [seed * 1000 + i]
        for k in range(K):
            op = rnd(st) % nops
            if op == 5 and rnd(st) % 3 == 0:
                log.append(f"{i}.{k} fail")
                raise ValueError(f"v{i}")
            try:
                if op == 0 or op == 5:
                    await asyncio.sleep(0)
                    log.append(f"{i}.{k} y")
                elif op == 1:
                    j = rnd(st) % N
                    if j < i:
                        r = await tasks[j]
                        log.append(f"{i}.{k} a{j}={r}")
                    else:
                        log.append(f"{i}.{k} -")
                elif op == 2:
                    j = rnd(st) % N
                    ok = tasks[j].cancel()
                    log.append(f"{i}.{k} c{j}:{int(ok)}")
                elif op == 3:
                    m = rnd(st) % M
                    if not futs[m].done():
                        futs[m].set_result(i * 100 + k)
                        log.append(f"{i}.{k} s{m}")
                    else:
                        log.append(f"{i}.{k} s{m}:done")
                elif op == 4:
                    m = rnd(st) % M
                    r = await futs[m]
                    log.append(f"{i}.{k} f{m}={r}")
                elif op == 6:
                    j1, j2 = rnd(st) % N, rnd(st) % N
                    if j1 < i and j2 < i:
                        r1, r2 = await asyncio.gather(tasks[j1], tasks[j2])
                        log.append(f"{i}.{k} g{j1},{j2}={r1},{r2}")
                    else:
                        log.append(f"{i}.{k} -")
            except asyncio.CancelledError:
                swallow = rnd(st) % 2
                log.append(f"{i}.{k} X{swallow}")
                if not swallow:
                    raise
            except ValueError as e:
                log.append(f"{i}.{k} V{e}")
        return i

    async def main():
        loop = asyncio.get_running_loop()
        futs.extend(loop.create_future() for _ in range(M))
        tasks.extend(asyncio.create_task(worker(i)) for i in range(N))
        for _ in range(ROUNDS):
            await asyncio.sleep(0)
        for m, f in enumerate(futs):
            if not f.done():
                f.set_result(-1)
                log.append(f"main s{m}")
        await asyncio.gather(*tasks, return_exceptions=True)
        for i, t in enumerate(tasks):
            if t.cancelled():
                log.append(f"end {i} cancelled")
            elif t.exception() is not None:
                log.append(f"end {i} V{t.exception()}")
            else:
                log.append(f"end {i} r{t.result()}")

    asyncio.run(main())
    return log


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--log":
        print("\n".join(run(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        for seed, nops in SEEDS:
            log = run(seed, nops)
            text = "\n".join(log).encode()
            print(f"{{{seed}, {nops}, {len(log)}, 0x{fnv1a(text):016x}ull}},")
