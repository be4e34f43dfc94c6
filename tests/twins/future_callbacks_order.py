# Twin of check_future.c test_callbacks_order: done callbacks are FIFO, are
# scheduled with call_soon when the future completes (after what is
# already queued), a callback added to a done future is scheduled at once,
# and remove_done_callback after completion removes nothing.
import asyncio

loop = asyncio.new_event_loop()
fut = loop.create_future()


def cb(name):
    return lambda f: print("cb", name, f.result())


a, b = cb("a"), cb("b")
fut.add_done_callback(a)
fut.add_done_callback(b)
fut.add_done_callback(a)
loop.call_soon(print, "soon1")
fut.set_result(1)
print("set_result returned")
c = cb("c")
fut.add_done_callback(c)
print("removed", fut.remove_done_callback(c))
loop.call_soon(print, "soon2")
loop.call_soon(loop.stop)
loop.run_forever()
loop.close()
