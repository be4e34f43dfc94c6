# casyncio-gdb.py: gdb commands for programs using casyncio.
#
#   (gdb) source /usr/local/share/casyncio/casyncio-gdb.py
#   (gdb) casyncio tasks            every task of every loop of the process
#   (gdb) casyncio bt TASK          the backtrace of a suspended task
#
# TASK is a task's name ('worker', 'Task-3'), its number (3) or its address
# (0x5555...).  Both commands work on a live process and on a core file
# (gcore, or a crash): they only read memory.  `make install` also puts this
# file where gdb auto-loads it for libcasyncio.so
# ($PREFIX/share/gdb/auto-load/$LIBDIR/libcasyncio.so.VERSION-gdb.py).
#
# How: the loops of a process are in the library's registry of live loops
# (src/core/loop.c: loop_registry, loop_registry_len), each with its list of
# unfinished tasks (loop->tasks, linked through task->link).  A suspended
# task's registers are on its own stack, where its last context switch
# pushed them (src/core/coro/switch_<arch>.S): the stack pointer saved in
# task->ctx.sp points at them, the return address into asyncio__coro_switch
# last.  `casyncio bt` hands them to gdb through a frame unwinder that
# stands in for the caller of the newest frame once, so that gdb unwinds
# the task's stack with the program's own unwind tables and prints it with
# the debug information it has.  The library must have been built with
# debug information (-g, the default CFLAGS): the commands read its
# structures by their types.

import gdb
import gdb.unwinder

MAX_FRAMES = 64
# Frames of the library's suspension machinery, left out at the top, and of
# task start, left out at the bottom (as the library's own task dumps do).
SUSPENSION = ("suspend", "handoff", "sleep_for")
TASK_START = ("task_entry", "asyncio__ctx_start")


def _type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        raise gdb.GdbError(
            "casyncio: no type '%s': was the library built with -g?" % name)


def _offset(struct_type, field):
    for f in struct_type.strip_typedefs().fields():
        if f.name == field:
            return f.bitpos // 8
    raise gdb.GdbError("casyncio: %s has no field %s" % (struct_type, field))


def _static(name):
    sym = gdb.lookup_static_symbol(name)
    if sym is None:
        sym = gdb.lookup_global_symbol(name)
    if sym is None:
        raise gdb.GdbError(
            "casyncio: no symbol '%s': is this a casyncio program, with debug "
            "information?" % name)
    return sym.value()


def loops():
    """The live loops of the process: gdb.Value pointers."""
    registry = _static("loop_registry")
    n = int(_static("loop_registry_len"))
    return [registry[i] for i in range(n)] if int(registry) else []


def tasks(loop):
    """The unfinished tasks of loop, in creation order (pointers)."""
    task_ptr = _type("asyncio__task_t").pointer()
    link = _offset(_type("asyncio__task_t"), "link")
    head = loop["tasks"].address
    node = loop["tasks"]["next"]
    out = []
    while int(node) != int(head) and len(out) < 1000000:
        out.append(gdb.Value(int(node) - link).cast(task_ptr))
        node = node["next"]
    return out


def _string(ptr):
    try:
        return ptr.string() if int(ptr) else None
    except gdb.MemoryError:
        return None


def task_name(t):
    name = _string(t["name"])
    return name if name is not None else "Task-%d" % int(t["number"])


def _function(addr):
    addr = int(addr)
    block = gdb.block_for_pc(addr) if addr else None
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None and block.function is not None:
        return block.function.print_name
    sym = gdb.execute("info symbol 0x%x" % addr, to_string=True).strip()
    return sym.split(" in section")[0] if not sym.startswith("No symbol") else "0x%x" % addr


PENDING = 0


def task_state(t, loop):
    """What the task is doing, as the library's dumps say it."""
    fut = t["fut"]
    state = int(fut["state"])
    if state != PENDING:
        return "cancelled" if state == 2 else "finished"
    if int(loop["current"]) == int(t):
        return "running"
    if not int(t["started"]):
        return "not started"
    waiting = t["waiting"]
    wait = t["wait"]
    if int(waiting) and int(waiting["state"]) == PENDING and int(wait):
        # The wait in progress lives in the frame of asyncio__task_wait_on,
        # on the task's stack.
        kind = wait["kind"]
        waited = (int(loop["now_ns"]) - int(wait["since_ns"])) / 1e9
        if int(kind):
            what = _string(kind["what"]) or "?"
            return "waiting %.3f s in %s on 0x%x" % (max(waited, 0), what, int(wait["obj"]))
        if int(waiting["is_task"]):
            awaited = waiting.cast(_type("asyncio__task_t").pointer())
            return "waiting %.3f s in await <Task '%s'>" % (max(waited, 0),
                                                            task_name(awaited))
        return "waiting %.3f s in await <Future 0x%x>" % (max(waited, 0), int(waiting))
    return "ready"


def find_task(spec):
    spec = spec.strip()
    if not spec:
        raise gdb.GdbError("usage: casyncio bt TASK (a name, a number or an address)")
    found = []
    for loop in loops():
        for t in tasks(loop):
            name = task_name(t)
            if (spec == name or spec == str(int(t["number"])) or
                    (spec.startswith("0x") and int(spec, 16) == int(t))):
                found.append((loop, t))
    if not found:
        raise gdb.GdbError("casyncio: no unfinished task '%s' (see casyncio tasks)" % spec)
    if len(found) > 1:
        raise gdb.GdbError("casyncio: %d tasks are named '%s': give the number or the address"
                           % (len(found), spec))
    return found[0]


# ------------------------------------------------------------ saved registers

def _arch():
    return gdb.selected_inferior().architecture().name()


def saved_registers(t):
    """{gdb register name: value} of a suspended task, from its saved
    context, with 'pc' and 'sp' for the frame id."""
    words = gdb.lookup_type("unsigned long").pointer()
    ctx = t["ctx"]
    coro_fields = [f.name for f in ctx.type.strip_typedefs().fields()]
    arch = _arch()
    if "uctx" in coro_fields:  # CORO=ucontext: glibc's saved ucontext_t
        uc = ctx["uctx"].cast(_type("ucontext_t").pointer()).dereference()
        mc = uc["uc_mcontext"]
        if "x86-64" in arch:
            g = mc["gregs"]
            # REG_R8.. order of <sys/ucontext.h> on x86-64
            idx = {"r12": 4, "r13": 5, "r14": 6, "r15": 7, "rbp": 10, "rbx": 11,
                   "rsp": 15, "rip": 16}
            regs = {k: int(g[v]) for k, v in idx.items()}
            regs["pc"], regs["sp"] = regs["rip"], regs["rsp"]
            return regs
        if "aarch64" in arch:
            regs = {"x%d" % i: int(mc["regs"][i]) for i in range(19, 31)}
            regs["sp"], regs["pc"] = int(mc["sp"]), int(mc["pc"])
            return regs
        raise gdb.GdbError("casyncio: no saved registers for %s" % arch)
    sp = ctx["sp"].cast(words)
    if not int(sp):
        raise gdb.GdbError("casyncio: the task has no saved context")
    if "x86-64" in arch:
        # switch_x86_64.S: control words, r15, r14, r13, r12, rbx, rbp, return address
        regs = {"r15": int(sp[1]), "r14": int(sp[2]), "r13": int(sp[3]), "r12": int(sp[4]),
                "rbx": int(sp[5]), "rbp": int(sp[6]), "rip": int(sp[7]),
                "rsp": int(sp) + 8 * 8}
        regs["pc"], regs["sp"] = regs["rip"], regs["rsp"]
        return regs
    if "aarch64" in arch:
        # switch_aarch64.S: x19-x28, x29, x30, then d8-d15
        regs = {"x%d" % (19 + i): int(sp[i]) for i in range(12)}
        regs["sp"] = int(sp) + 160
        regs["pc"] = regs["x30"]
        return regs
    raise gdb.GdbError("casyncio: unknown architecture %s" % arch)


class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class TaskUnwinder(gdb.unwinder.Unwinder):
    """Stands in, once, for the caller of the newest frame: that caller
    becomes the suspended task's innermost frame."""

    def __init__(self):
        super(TaskUnwinder, self).__init__("casyncio-task")
        self.regs = None

    def __call__(self, pending_frame):
        regs = self.regs
        if regs is None:
            return None
        try:
            if pending_frame.level() != 0:
                return None
        except AttributeError:  # gdb before 11: the first call is level 0
            pass
        self.regs = None
        sp_name = "rsp" if "rsp" in regs else "sp"
        pc_name = "rip" if "rip" in regs else "pc"
        # gdb stops at a frame whose stack address is below the next
        # (younger) frame's: the stacks go down.  The task's stack may lie
        # anywhere below or above the one gdb stopped on, so the newest
        # frame, standing in only for this walk, claims the lowest address.
        frame_id = _FrameId(gdb.Value(0).cast(pending_frame.read_register(sp_name).type),
                            pending_frame.read_register(pc_name))
        info = pending_frame.create_unwind_info(frame_id)
        for name, value in regs.items():
            if name in ("pc", "sp") and name not in (sp_name, pc_name):
                continue
            info.add_saved_register(name, gdb.Value(value).cast(
                pending_frame.read_register(name).type))
        return info


_unwinder = TaskUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


NO_STACK = ("casyncio: the task's stack is not in this core file (its saved return address "
            "reads 0).  gdb's gcore cannot copy a slab of stacks guarded by Linux guard "
            "markers (kernels from 6.13): run the program with ASYNCIO_NO_GUARD_MARKERS=1 "
            "before taking a core with gcore, or use the kernel's core dump, which has them.")


def task_frames(t):
    """[(pc, function, file, line)] of a suspended task, innermost first."""
    try:
        regs = saved_registers(t)
    except gdb.MemoryError:
        raise gdb.GdbError(NO_STACK)
    if not regs["pc"]:
        raise gdb.GdbError(NO_STACK)
    frames = []
    _unwinder.regs = regs
    gdb.invalidate_cached_frames()
    try:
        frame = gdb.newest_frame().older()  # the caller the unwinder made up
        while frame is not None and len(frames) < MAX_FRAMES:
            name = frame.name()
            sal = frame.find_sal()
            filename = sal.symtab.filename if sal.symtab else None
            frames.append((frame.pc(), name, filename, sal.line))
            if name in TASK_START:
                break
            frame = frame.older()
    finally:
        _unwinder.regs = None
        gdb.invalidate_cached_frames()
    return frames


def _trim(frames):
    first = 0
    while first < len(frames) and frames[first][1] and (
            frames[first][1].startswith("asyncio__") or frames[first][1] in SUSPENSION):
        first += 1
    end = len(frames)
    while end > first and frames[end - 1][1] in TASK_START:
        end -= 1
    return frames[first:end] if first < end else frames


# ------------------------------------------------------------ commands

class CasyncioCommand(gdb.Command):
    """casyncio tasks: every task of every loop; casyncio bt TASK: a task's backtrace."""

    def __init__(self):
        super(CasyncioCommand, self).__init__("casyncio", gdb.COMMAND_STACK, prefix=True)


class TasksCommand(gdb.Command):
    """List the unfinished tasks of every casyncio loop of the process.

Usage: casyncio tasks

For each loop, each task: its address, number and name, its coroutine
function, and what it does (running, ready, not started, or waiting: in
what, on which object, for how long by the loop's clock)."""

    def __init__(self):
        super(TasksCommand, self).__init__("casyncio tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        all_loops = loops()
        if not all_loops:
            print("casyncio: no live loop in this process")
            return
        for loop in all_loops:
            ts = tasks(loop)
            print("Loop 0x%x: %d unfinished task%s%s" % (
                int(loop), len(ts), "" if len(ts) == 1 else "s",
                ", running" if int(loop["running"]) else ""))
            for t in ts:
                print("  0x%x  #%-4d %-20s coro=%s(): %s" % (
                    int(t), int(t["number"]), "'%s'" % task_name(t), _function(t["fn"]),
                    task_state(t, loop)))


class BtCommand(gdb.Command):
    """Print the backtrace of a suspended casyncio task.

Usage: casyncio bt [-a] TASK

TASK is a task's name, its number (as in Task-N) or its address (see
casyncio tasks).  The backtrace is unwound from the registers the task's
last context switch saved on its stack.  -a keeps the library's own
suspension frames at the top."""

    def __init__(self):
        super(BtCommand, self).__init__("casyncio bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        show_all = "-a" in args
        args = [a for a in args if a != "-a"]
        loop, t = find_task(" ".join(args))
        state = task_state(t, loop)
        print("Task '%s' (#%d, 0x%x) coro=%s(): %s" % (
            task_name(t), int(t["number"]), int(t), _function(t["fn"]), state))
        if state == "running":
            print("  running: use bt in the thread that runs its loop")
            return
        if state in ("not started", "finished", "cancelled"):
            print("  (no stack: %s)" % state)
            return
        frames = task_frames(t)
        if not show_all:
            frames = _trim(frames)
        for i, (pc, name, filename, line) in enumerate(frames):
            where = " at %s:%d" % (filename, line) if filename else ""
            print("#%-2d 0x%016x in %s%s" % (i, pc, name or "??", where))


CasyncioCommand()
TasksCommand()
BtCommand()
