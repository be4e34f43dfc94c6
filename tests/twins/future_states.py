# Twin of check_future.c state tests (test_set_twice_invalid_state,
# test_result_before_done, test_cancel, test_set_on_task), which check these
# facts one assertion at a time: InvalidStateError for a second result, an
# exception after a result, anything after cancel; the CancelledError
# carrying the cancel message; RuntimeError for set_result on a task.
# (C rule: the header words result()'s message "Result is not ready.")
import asyncio

loop = asyncio.new_event_loop()
f = loop.create_future()
for what, call in (("result", f.result), ("exception", f.exception)):
    try:
        call()
    except asyncio.InvalidStateError as e:
        print(what, "pending:", type(e).__name__, e)
f.cancel("stop it")
try:
    f.result()
except asyncio.CancelledError as e:
    print("result cancelled:", type(e).__name__, e)
try:
    f.exception()
except asyncio.CancelledError as e:
    print("exception cancelled:", type(e).__name__, e)
print("cancel again:", f.cancel())
try:
    f.set_result(1)
except asyncio.InvalidStateError as e:
    print("set_result on cancelled: InvalidStateError")
g = loop.create_future()
g.set_result(42)
try:
    g.set_result(43)
except asyncio.InvalidStateError:
    print("set_result twice: InvalidStateError, result", g.result())
try:
    g.set_exception(ValueError("x"))
except asyncio.InvalidStateError:
    print("set_exception after result: InvalidStateError")
print("exception of success:", g.exception())


async def coro():
    return 1

t = loop.create_task(coro())
for what, call in (("set_result", lambda: t.set_result(1)),
                   ("set_exception", lambda: t.set_exception(ValueError()))):
    try:
        call()
    except RuntimeError as e:
        print(what, "on task:", type(e).__name__)
print("task result", loop.run_until_complete(t))
loop.close()
