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
    task1 = asyncio.create_task(
        say_after(1, 'hello'))

    task2 = asyncio.create_task(
        say_after(2, 'world'))

    print(f"started at {clock()}")

    # Wait until both tasks are completed (should take
    # around 2 seconds.)
    await task1
    await task2

    print(f"finished at {clock()}")

asyncio.run(main())
