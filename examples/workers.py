# The "workers" example of the Python documentation's asyncio Queue page,
# made deterministic: the 20 sleep times that random.uniform(0.05, 1.0)
# would draw are fixed in SLEEP_TIMES (drawn once, with seed 3, and chosen
# so that no two workers finish within 40 ms of each other), and the
# measured parallel time is printed to 0.1 s.  So the output is the same on
# every run and for the C port, examples/workers.c.
import asyncio
import time

SLEEP_TIMES = [0.28, 0.57, 0.40, 0.62, 0.64, 0.11, 0.06, 0.85, 0.30, 0.27,
               1.00, 0.50, 0.84, 0.50, 0.66, 0.19, 0.65, 0.87, 0.55, 0.75]


async def worker(name, queue):
    while True:
        # Get a "work item" out of the queue.
        sleep_for = await queue.get()

        # Sleep for the "sleep_for" seconds.
        await asyncio.sleep(sleep_for)

        # Notify the queue that the "work item" has been processed.
        queue.task_done()

        print(f'{name} has slept for {sleep_for:.2f} seconds')


async def main():
    # Create a queue that we will use to store our "workload".
    queue = asyncio.Queue()

    # Put the sleep times into the queue.
    total_sleep_time = 0
    for sleep_for in SLEEP_TIMES:
        total_sleep_time += sleep_for
        queue.put_nowait(sleep_for)

    # Create three worker tasks to process the queue concurrently.
    tasks = []
    for i in range(3):
        task = asyncio.create_task(worker(f'worker-{i}', queue))
        tasks.append(task)

    # Wait until the queue is fully processed.
    started_at = time.monotonic()
    await queue.join()
    total_slept_for = time.monotonic() - started_at

    # Cancel our worker tasks.
    for task in tasks:
        task.cancel()
    # Wait until all worker tasks are cancelled.
    await asyncio.gather(*tasks, return_exceptions=True)

    print('====')
    print(f'3 workers slept in parallel for {total_slept_for:.1f} seconds')
    print(f'total expected sleep time: {total_sleep_time:.2f} seconds')


asyncio.run(main())
