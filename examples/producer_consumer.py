import asyncio

async def producer(queue):
    for i in range(5):
        await asyncio.sleep(1)
        await queue.put(i)
        print(f"Produced: {i}")

async def consumer(queue):
    while True:
        item = await queue.get()
        print(f"Consumed: {item}")
        queue.task_done()

async def main():
    queue = asyncio.Queue()
    producers = asyncio.create_task(producer(queue))
    consumers = asyncio.create_task(consumer(queue))
    await producers
    await queue.join()
    consumers.cancel()

asyncio.run(main())
