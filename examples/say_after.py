import asyncio
import time

# The docs print time.strftime('%X'), the time of day.  To make the output
# the same on every run, clock() gives the time since the program started
# instead, rounded to whole seconds, in the same HH:MM:SS form.
START = time.monotonic()

def clock():
    s = round(time.monotonic() - START)
    return f"{s // 3600:02}:{s // 60 % 60:02}:{s % 60:02}"

async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)

async def main():
    print(f"started at {clock()}")

    await say_after(1, 'hello')
    await say_after(2, 'world')

    print(f"finished at {clock()}")

asyncio.run(main())
