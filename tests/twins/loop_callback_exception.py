# Twin of check_loop.c test_callback_exception_reported: an exception a
# callback (or a done callback) leaves is reported to the exception
# handler as "Exception in callback ...", the next callbacks run as usual,
# and nothing escapes run_forever().
import asyncio

loop = asyncio.new_event_loop()


def handler(loop, ctx):
    print("handler:", ctx["message"].startswith("Exception in callback"),
          type(ctx["exception"]).__name__, ctx["exception"])


def a():
    raise ValueError("from a")


def b():
    print("b runs")


def done_cb(f):
    raise RuntimeError("from done")


loop.set_exception_handler(handler)
fut = loop.create_future()
fut.add_done_callback(done_cb)
loop.call_soon(a)
loop.call_soon(b)
fut.set_result(1)
loop.call_soon(b)
loop.call_soon(loop.stop)
try:
    loop.run_forever()
    print("run_forever returned normally")
except Exception as e:
    print("run_forever raised", e)
loop.close()
