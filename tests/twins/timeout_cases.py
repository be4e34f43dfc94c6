"""Twin of check_timeout.c: one line per test, in this order:
test_timeout_expires, test_timeout_not_expired, test_timeout_at,
test_timeout_disabled, test_timeout_already_passed, test_timeout_nested_inner_first,
test_timeout_nested_outer_first, test_timeout_nested_same_deadline,
test_timeout_reschedule, test_timeout_reschedule_after_expiry,
test_timeout_foreign_error, test_timeout_foreign_error_on_expiry,
test_timeout_outside_cancel, test_timeout_outside_cancel_and_expiry,
test_timeout_many_expiries.
C rule: a negative delay is Python's None; asyncio_timeout_exit returns the
code of what it lets through (ETIMEDOUT for the TimeoutError it raises).
"""
import asyncio

log = []


def name(e):
    return type(e).__name__


async def expires():
    me = asyncio.current_task()
    try:
        async with asyncio.timeout(0.02) as cm:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append(f"body:CancelledError expired:{cm.expired()}")
                raise
    except TimeoutError:
        log.append("exit:TimeoutError")
    log.append(f"expired:{cm.expired()} cancelling:{me.cancelling()}")
    await asyncio.sleep(0.01)
    log.append("after")


async def not_expired():
    me = asyncio.current_task()
    async with asyncio.timeout(0.05) as cm:
        await asyncio.sleep(0.01)
    log.append(f"exit:ok expired:{cm.expired()}")
    await asyncio.sleep(0.08)  # past the old deadline: disarmed
    log.append(f"after cancelling:{me.cancelling()}")


async def timeout_at():
    loop = asyncio.get_running_loop()
    when = loop.time() + 0.02
    try:
        async with asyncio.timeout_at(when) as cm:
            log.append(f"when-equal:{cm.when() == when}")
            await asyncio.sleep(10)
    except TimeoutError:
        log.append(f"exit:TimeoutError expired:{cm.expired()}")


async def disabled():
    async with asyncio.timeout(None) as cm:
        log.append(f"when:{cm.when()}")
        await asyncio.sleep(0.02)
    log.append(f"exit:ok expired:{cm.expired()}")
    async with asyncio.timeout_at(None) as cm:
        await asyncio.sleep(0)
    log.append(f"at-none:ok when:{cm.when()}")


async def already_passed():
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(0) as cm:
        log.append("no-await")
    log.append(f"exit:ok expired:{cm.expired()}")
    try:
        async with asyncio.timeout(0) as cm:
            await asyncio.sleep(0)
            log.append("not-reached")
    except TimeoutError:
        log.append(f"zero:TimeoutError expired:{cm.expired()}")
    try:
        async with asyncio.timeout_at(loop.time() - 1) as cm:
            await asyncio.sleep(10)
    except TimeoutError:
        log.append(f"past:TimeoutError expired:{cm.expired()}")
    await asyncio.sleep(0)
    log.append(f"cancelling:{asyncio.current_task().cancelling()}")


async def nested_inner_first():
    async with asyncio.timeout(10) as outer:
        try:
            async with asyncio.timeout(0.01) as inner:
                await asyncio.sleep(10)
        except TimeoutError:
            log.append(f"inner:TimeoutError inner-expired:{inner.expired()}")
        await asyncio.sleep(0.01)
        log.append("outer-body-continues")
    log.append(f"outer:ok outer-expired:{outer.expired()}")


async def nested_outer_first():
    try:
        async with asyncio.timeout(0.01) as outer:
            try:
                async with asyncio.timeout(10) as inner:
                    await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append(f"inner:CancelledError inner-expired:{inner.expired()}")
                raise
    except TimeoutError:
        log.append(f"outer:TimeoutError outer-expired:{outer.expired()}")
    log.append(f"cancelling:{asyncio.current_task().cancelling()}")


async def nested_same_deadline():
    loop = asyncio.get_running_loop()
    when = loop.time() + 0.02
    try:
        async with asyncio.timeout_at(when) as outer:
            try:
                async with asyncio.timeout_at(when) as inner:
                    await asyncio.sleep(10)
            except asyncio.CancelledError:
                log.append(f"inner:CancelledError inner-expired:{inner.expired()}")
                raise
    except TimeoutError:
        log.append(f"outer:TimeoutError outer-expired:{outer.expired()}")
    log.append(f"cancelling:{asyncio.current_task().cancelling()}")


async def reschedule():
    loop = asyncio.get_running_loop()
    # none -> soon
    try:
        async with asyncio.timeout(None) as cm:
            cm.reschedule(loop.time() + 0.01)
            await asyncio.sleep(10)
    except TimeoutError:
        log.append("none-to-soon:TimeoutError")
    # soon -> later
    async with asyncio.timeout(0.01) as cm:
        cm.reschedule(loop.time() + 10)
        await asyncio.sleep(0.03)
    log.append(f"later:ok expired:{cm.expired()}")
    # later -> earlier
    try:
        async with asyncio.timeout(10) as cm:
            cm.reschedule(loop.time() + 0.01)
            await asyncio.sleep(10)
    except TimeoutError:
        log.append("earlier:TimeoutError")
    # soon -> none
    async with asyncio.timeout(0.01) as cm:
        cm.reschedule(None)
        await asyncio.sleep(0.03)
    log.append(f"to-none:ok when:{cm.when()}")
    # -> the past
    try:
        async with asyncio.timeout(10) as cm:
            cm.reschedule(loop.time() - 1)
            await asyncio.sleep(10)
    except TimeoutError:
        log.append("past:TimeoutError")


async def reschedule_after_expiry():
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(0.01) as cm:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cm.reschedule(loop.time() + 10)
    except RuntimeError:
        log.append("RuntimeError")
    log.append(f"expired:{cm.expired()} cancelling:{asyncio.current_task().cancelling()}")
    await asyncio.sleep(0)
    log.append("after")


async def foreign_error():
    try:
        async with asyncio.timeout(10) as cm:
            await asyncio.sleep(0)
            raise ValueError("mine")
    except ValueError as e:
        log.append(f"ValueError:{e} expired:{cm.expired()}")


async def foreign_error_on_expiry():
    try:
        async with asyncio.timeout(0.01) as cm:
            try:
                await asyncio.sleep(10)
            finally:
                raise KeyError("k")
    except KeyError:
        log.append(f"KeyError expired:{cm.expired()}")
    log.append(f"cancelling:{asyncio.current_task().cancelling()}")
    await asyncio.sleep(0)
    log.append("after")


async def guarded(delay):
    try:
        async with asyncio.timeout(delay) as cm:
            await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append(f"t:CancelledError expired:{cm.expired()}")
        raise
    except TimeoutError:
        log.append("t:TimeoutError")


async def outside_cancel():
    t = asyncio.create_task(guarded(10))
    await asyncio.sleep(0.01)
    log.append(f"cancel:{t.cancel()}")
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"main:cancelled:{t.cancelled()}")


async def outside_cancel_and_expiry():
    t = asyncio.create_task(guarded(0))
    await asyncio.sleep(0)  # t enters timeout(0) and sleeps
    log.append(f"cancel:{t.cancel()}")
    try:
        await t
    except asyncio.CancelledError:
        log.append(f"main:cancelled:{t.cancelled()}")


async def many_expiries():
    n = 0
    for i in range(100):
        try:
            async with asyncio.timeout(0):
                await asyncio.sleep(1)
        except TimeoutError:
            n += 1
    log.append(f"timeouts:{n} cancelling:{asyncio.current_task().cancelling()}")
    await asyncio.sleep(0.01)
    log.append("after")


for scenario in (expires, not_expired, timeout_at, disabled, already_passed,
                 nested_inner_first, nested_outer_first, nested_same_deadline, reschedule,
                 reschedule_after_expiry, foreign_error, foreign_error_on_expiry,
                 outside_cancel, outside_cancel_and_expiry, many_expiries):
    log.clear()
    asyncio.run(scenario())
    print(" ".join(log))
