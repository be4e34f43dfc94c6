"""A subprocess pipeline (pipeline.c's twin): the shell's `A | B | C` with
create_subprocess_exec and a task per pipe copying between the streams.

    python3 pipeline.py [COMMAND ARG... '|' COMMAND ARG... ...]

Without arguments it runs `seq 1 100000 | grep 7 | wc -l`.
"""
import asyncio
import sys
from asyncio.subprocess import PIPE


async def copy(src, dst):
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except ConnectionError:
        # The next command ended without reading all (like `head`).  A
        # StreamReader cannot be closed (the C port closes it, so that the
        # previous command gets SIGPIPE as in a shell): read to the end.
        while await src.read(65536):
            pass
    finally:
        dst.close()


async def main(commands):
    procs = []
    for i, argv in enumerate(commands):
        procs.append(await asyncio.create_subprocess_exec(
            *argv, stdin=PIPE if i > 0 else None, stdout=PIPE))
    copies = [asyncio.create_task(copy(a.stdout, b.stdin)) for a, b in zip(procs, procs[1:])]
    sys.stdout.write((await procs[-1].stdout.read()).decode())
    await asyncio.gather(*copies)
    for argv, proc in zip(commands, procs):
        if await proc.wait() != 0:
            raise SystemExit(f"pipeline: {argv[0]} exited with {proc.returncode}")


if __name__ == "__main__":
    commands = [["seq", "1", "100000"], ["grep", "7"], ["wc", "-l"]]
    if len(sys.argv) > 1:
        commands = [[]]
        for a in sys.argv[1:]:
            if a == "|":
                commands.append([])
            else:
                commands[-1].append(a)
    asyncio.run(main(commands))
