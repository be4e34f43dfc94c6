"""Twin of check_task.c: test_task_names.

The first task of the process (asyncio.run's main task) is "Task-1";
unnamed tasks count on from there; a custom name is kept as given;
set_name() renames.  (Whether a named task consumes a number differs
between CPython versions, so the C test creates the named task last.)
"""
import asyncio

out = []


async def nop():
    return None


async def main():
    out.append(asyncio.current_task().get_name())
    t1 = asyncio.create_task(nop())
    t2 = asyncio.create_task(nop())
    t3 = asyncio.create_task(nop(), name="worker")
    out.extend([t1.get_name(), t2.get_name(), t3.get_name()])
    t2.set_name("renamed")
    out.append(t2.get_name())
    await asyncio.gather(t1, t2, t3)


asyncio.run(main())
print(" ".join(out))
