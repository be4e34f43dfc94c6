"""Tutorial program 7: running blocking code in a thread (run_in_executor)."""
import asyncio
import time

async def async_task():
    print("Starting async task")
    await asyncio.sleep(2)
    print("Async task complete")

def blocking_task():
    print("Starting blocking task")
    time.sleep(3)
    print("Blocking task complete")

async def main():
    loop = asyncio.get_running_loop()
    blocking = loop.run_in_executor(None, blocking_task)
    await asyncio.gather(async_task(), blocking)

asyncio.run(main())
