# Twin of check_loop.c test_timers_order: timers run by deadline, FIFO
# among equal deadlines; a call_later(0) made before a call_soon runs
# after it (ready callbacks first, then expired timers).
import asyncio

loop = asyncio.new_event_loop()
t = loop.time()
loop.call_later(0.03, print, "t30")
loop.call_later(0.01, print, "t10")
loop.call_at(t + 0.02, print, "t20-a")
loop.call_at(t + 0.02, print, "t20-b")
loop.call_at(t + 0.02, print, "t20-c")
loop.call_later(0, print, "later0")
loop.call_soon(print, "soon")
loop.call_later(0.05, loop.stop)
loop.run_forever()
loop.close()
