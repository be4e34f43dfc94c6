"""Twin of check_task.c: test_task_step_and_callbacks_fifo.

A new task's first step is queued when it is created, between call_soon
callbacks scheduled before and after it; a task woken by a future set in a
callback runs after what was already queued.
"""
import asyncio

log = []


async def child(fut):
    log.append("child-start")
    await fut
    log.append("child-woken")


async def main():
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(lambda: log.append("cb1"))
    t = asyncio.create_task(child(fut))
    loop.call_soon(lambda: log.append("cb2"))
    await asyncio.sleep(0)
    log.append("main1")
    loop.call_soon(lambda: (log.append("cb3"), fut.set_result(None)))
    loop.call_soon(lambda: log.append("cb4"))
    await asyncio.sleep(0)
    log.append("main2")
    await asyncio.sleep(0)
    log.append("main3")
    await t


asyncio.run(main())
print(" ".join(log))
