import asyncio

# The docs leave long_running_task() undefined: here it is a task that takes
# an hour.  The docs' timeout is 10 s; 1 s keeps the demo short.
async def long_running_task():
    await asyncio.sleep(3600)

async def main():
    try:
        async with asyncio.timeout(1):
            await long_running_task()
    except TimeoutError:
        print("The long operation timed out, but we've handled it.")

    print("This statement will run regardless.")

asyncio.run(main())
