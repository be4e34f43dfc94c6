# Twin of gather.results test_gather_last_child_order: a gather of a task
# and a future done beforehand finishes when the task's callback runs, in
# its place in the ready queue, after the callbacks queued before it.
import asyncio

log = []


async def quick():
    log.append("p")
    return 1


async def main():
    loop = asyncio.get_running_loop()
    d = loop.create_future()
    d.set_result(2)
    p = asyncio.create_task(quick())
    g = asyncio.gather(p, d)
    g.add_done_callback(lambda _: log.append("g"))
    loop.call_soon(log.append, "A")
    loop.call_soon(lambda: loop.call_soon(log.append, "B"))
    print(await g)
    print(" ".join(log))


asyncio.run(main())
