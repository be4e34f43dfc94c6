# Twin of check_threadsafe.c test_same_thread_order: call_soon_threadsafe
# from the loop's own thread keeps FIFO order with call_soon.
import asyncio

loop = asyncio.new_event_loop()
loop.call_soon(print, "a")
loop.call_soon_threadsafe(print, "b")
loop.call_soon(print, "c")
loop.call_soon_threadsafe(print, "d")
loop.call_soon(loop.stop)
loop.run_forever()
loop.close()
