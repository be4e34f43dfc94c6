# Twin of check_loop.c test_call_at_past: deadlines already passed run at
# once, still in deadline order (0 before now - 10).
import asyncio

loop = asyncio.new_event_loop()
t = loop.time()
loop.call_at(t - 10, print, "past")
loop.call_at(0, print, "zero")
loop.call_later(0.01, loop.stop)
loop.run_forever()
loop.close()
