"""Twin of check_wait.c (asyncio.wait): one line per test, in this order:
test_wait_first_completed, test_wait_first_exception, test_wait_all_completed_failures,
test_wait_timeout, test_wait_duplicates, test_wait_caller_cancelled,
test_wait_does_not_retrieve, test_wait_bad_input.
Done flags are printed in argument order (C's done[i]).
"""
import asyncio
import gc

log = []


def flags(fs, done):
    return ",".join("T" if f in done else "F" for f in fs)


async def ok(v, d):
    await asyncio.sleep(d)
    return v


async def bad(v, d):
    await asyncio.sleep(d)
    raise ValueError(f"{v} failed")


async def first_completed():
    fs = [asyncio.create_task(ok(1, 0.1)), asyncio.create_task(ok(2, 0.01)),
          asyncio.create_task(ok(3, 0.15))]
    done, pending = await asyncio.wait(fs, return_when=asyncio.FIRST_COMPLETED)
    log.append("first:" + flags(fs, done))
    done, pending = await asyncio.wait(fs)
    log.append("all:" + flags(fs, done))
    log.append("results:" + ",".join(str(f.result()) for f in fs))


async def first_exception():
    fs = [asyncio.create_task(ok(1, 0.01)), asyncio.create_task(bad(2, 0.03)),
          asyncio.create_task(ok(3, 0.5))]
    done, _ = await asyncio.wait(fs, return_when=asyncio.FIRST_EXCEPTION)
    log.append("fe:" + flags(fs, done))
    log.append(f"c-cancelled:{fs[2].cancelled()}")
    fs[2].cancel()
    await asyncio.wait(fs)
    gs = [asyncio.create_task(ok(4, 0.01)), asyncio.create_task(ok(5, 0.02))]
    done, _ = await asyncio.wait(gs, return_when=asyncio.FIRST_EXCEPTION)
    log.append("fe-none:" + flags(gs, done))
    x = asyncio.create_task(ok(6, 10))
    y = asyncio.create_task(ok(7, 0.03))
    asyncio.get_running_loop().call_later(0.01, x.cancel)
    done, _ = await asyncio.wait([x, y], return_when=asyncio.FIRST_EXCEPTION)
    log.append("fe-cancel:" + flags([x, y], done) + f" x-cancelled:{x.cancelled()}")


async def all_completed_failures():
    fs = [asyncio.create_task(bad(1, 0.01)), asyncio.create_task(ok(2, 0.02)),
          asyncio.create_task(bad(3, 0))]
    done, _ = await asyncio.wait(fs, return_when=asyncio.ALL_COMPLETED)
    log.append("all-fail:" + flags(fs, done))
    log.append("excs:" + ",".join(str(f.exception()) for f in fs))


async def timeout():
    loop = asyncio.get_running_loop()
    a = asyncio.create_task(ok(1, 0.01))
    b = asyncio.create_task(ok(2, 10))
    done, _ = await asyncio.wait([a, b], timeout=0.05)
    log.append("to:" + flags([a, b], done) + f" b-cancelled:{b.cancelled()}")
    f = loop.create_future()
    f.set_result(1)
    g = loop.create_future()
    done, _ = await asyncio.wait([f, g], timeout=0)
    log.append("to0:" + flags([f, g], done))
    done, _ = await asyncio.wait([b], timeout=0.01, return_when=asyncio.FIRST_COMPLETED)
    log.append("to-fc:" + flags([b], done) + f" b-done:{b.done()}")
    b.cancel()
    g.cancel()


async def duplicates():
    a = asyncio.create_task(ok(1, 0.01))
    b = asyncio.create_task(ok(2, 0.02))
    done, _ = await asyncio.wait([a, a, b])
    log.append("dup:" + flags([a, a, b], done))
    c = asyncio.create_task(ok(3, 10))
    done, _ = await asyncio.wait([c, a, c], return_when=asyncio.FIRST_COMPLETED)
    log.append("dup-fc:" + flags([c, a, c], done))
    c.cancel()


async def waiter(fs):
    try:
        await asyncio.wait(fs)
        log.append("w-returned")
    except asyncio.CancelledError:
        log.append("w-cancelled")
        raise


async def caller_cancelled():
    a = asyncio.create_task(ok(1, 0.05))
    b = asyncio.create_task(ok(2, 0.05))
    w = asyncio.create_task(waiter([a, b]))
    await asyncio.sleep(0.01)
    log.append(f"cancel:{w.cancel()}")
    try:
        await w
    except asyncio.CancelledError:
        log.append("main-saw-cancel")
    log.append(f"a-cancelled:{a.cancelled()} b-cancelled:{b.cancelled()}")
    log.append(f"a={await a} b={await b}")


reports = []


async def does_not_retrieve():
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda lp, ctx: reports.append(ctx["message"]))
    t = asyncio.create_task(bad(1, 0))
    done, pending = await asyncio.wait([t])
    log.append(f"done:{t.done()}")
    del t, done, pending
    gc.collect()
    await asyncio.sleep(0)
    log.append(f"reports:{len(reports)}:{reports[0] if reports else ''}")
    v = asyncio.create_task(bad(3, 0))
    done, pending = await asyncio.wait([v], return_when=asyncio.FIRST_EXCEPTION)
    del v, done, pending
    gc.collect()
    await asyncio.sleep(0)
    log.append(f"first-exception:{len(reports)}")
    u = asyncio.create_task(bad(2, 0))
    await asyncio.wait([u])
    u.exception()
    del u
    gc.collect()
    log.append(f"after-retrieve:{len(reports)}")


async def bad_input():
    try:
        await asyncio.wait([])
    except ValueError:
        log.append("empty:ValueError")
    f = asyncio.get_running_loop().create_future()
    try:
        await asyncio.wait([f], return_when=7)
    except ValueError:
        log.append("return_when:ValueError")
    log.append(f"f-done:{f.done()}")


for scenario in (first_completed, first_exception, all_completed_failures, timeout,
                 duplicates, caller_cancelled, does_not_retrieve, bad_input):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
