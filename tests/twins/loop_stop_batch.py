# Twin of check_loop.c test_stop_finishes_batch: loop.stop() lets the
# current batch finish; callbacks scheduled by that batch wait for the next
# run.  A stop() before run_forever() makes it run exactly one iteration.
import asyncio

loop = asyncio.new_event_loop()


def a():
    print("a")
    loop.call_soon(print, "a2")


def stopper():
    print("stop")
    loop.stop()
    loop.call_soon(print, "after-stop")


loop.call_soon(a)
loop.call_soon(stopper)
loop.call_soon(print, "b")
loop.run_forever()
print("run1 done")
loop.call_soon(print, "c")
loop.stop()
loop.run_forever()
print("run2 done")
loop.close()
