# Twin of check_future.c state tests: InvalidStateError messages and the
# CancelledError carrying the cancel message.
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
