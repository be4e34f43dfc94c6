"""Twin of check_task.c: test_task_done_callback_order.

A done callback added before main awaits the task runs before main
resumes (main's wake-up is a done callback added later); one added after
the task is done runs in the next iteration, not inside the call.
"""
import asyncio

log = []


async def child():
    await asyncio.sleep(0)
    log.append("child-end")
    return 1


async def main():
    t = asyncio.create_task(child())
    t.add_done_callback(lambda f: log.append(f"cb1:{f.result()}"))
    await t
    log.append("main-resumed")
    t.add_done_callback(lambda f: log.append("cb2"))
    log.append("added")
    await asyncio.sleep(0)
    log.append("main-end")


asyncio.run(main())
print(" ".join(log))
