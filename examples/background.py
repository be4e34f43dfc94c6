import asyncio

async def background_task():
    await asyncio.sleep(3)
    print("Background Task Complete")

async def main():
    task = asyncio.create_task(background_task())
    print("Main Task Running")
    await asyncio.sleep(1)
    print("Main Task Complete")
    await task  # Ensure background task completes

asyncio.run(main())
