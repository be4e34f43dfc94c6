# Twin of check_future.c test_await_*: awaiting a done future does not
# yield; awaiting a cancelled future raises CancelledError with the cancel
# message; awaiting a failed one raises its exception; a future set by
# call_later wakes the awaiting task.
import asyncio


async def other():
    print("other runs")


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    done.set_result("ready")
    t = asyncio.create_task(other())
    print("await done ->", await done)
    print("no yield yet")
    await asyncio.sleep(0)
    print("after sleep(0)")
    c = loop.create_future()
    c.cancel("gone")
    try:
        await c
    except asyncio.CancelledError as e:
        print("await cancelled ->", type(e).__name__, e)
    print("task not cancelled:", not asyncio.current_task().cancelled())
    f = loop.create_future()
    f.set_exception(KeyError("k"))
    try:
        await f
    except KeyError as e:
        print("await failed ->", type(e).__name__)
    later = loop.create_future()
    loop.call_later(0.01, later.set_result, 11)
    print("await later ->", await later)
    await t


asyncio.run(main())
