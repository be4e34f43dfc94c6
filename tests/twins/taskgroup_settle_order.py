# Twin of taskgroup test_taskgroup_last_child_order: exit, waiting for two
# children, resumes once the last child's callback has run, in its place
# in the ready queue, after the callbacks queued before it.
import asyncio

log = []


async def quick(name):
    log.append(name)


async def main():
    loop = asyncio.get_running_loop()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(quick("a"))
        tg.create_task(quick("b"))
        loop.call_soon(log.append, "A")
        loop.call_soon(lambda: loop.call_soon(log.append, "B"))
    log.append("exit")
    print(" ".join(log))


asyncio.run(main())
