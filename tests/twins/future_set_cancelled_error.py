# Twin of check_future.c test_set_exception_cancelled_error: a future given
# a CancelledError with set_exception is done but not cancelled, and its
# result() raises that CancelledError with its message.
import asyncio

loop = asyncio.new_event_loop()
f = loop.create_future()
f.set_exception(asyncio.CancelledError("x"))
print("done", f.done(), "cancelled", f.cancelled())
try:
    f.result()
except asyncio.CancelledError as e:
    print("result raises", type(e).__name__, e)
print("cancel() after:", f.cancel())
loop.close()
