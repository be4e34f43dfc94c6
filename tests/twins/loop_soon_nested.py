# Twin of check_loop.c test_call_soon_nested: call_soon from inside a
# callback runs after every callback already queued (next iteration).
import asyncio

loop = asyncio.new_event_loop()


def a():
    print("a")
    loop.call_soon(print, "a-child")


def b():
    print("b")
    loop.call_soon(print, "b-child")
    loop.call_soon(loop.stop)


loop.call_soon(a)
loop.call_soon(b)
loop.call_soon(print, "c")
loop.run_forever()
loop.close()
