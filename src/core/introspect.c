/*
 * Seeing inside a running program: task dumps with the C backtrace of
 * every suspended task, Python's Task.print_stack, the creation site of
 * tasks in debug mode, and the dump signal.
 *
 * Unwinding.  A suspended task's registers are where the context switch
 * left them, on its own stack (coro.c, switch_<arch>.S): the stack pointer
 * saved in its asyncio__coro_t points at the callee-saved registers and the
 * return address into asyncio__coro_switch.  elfutils' libdwfl unwinds
 * from there with the call frame information (.eh_frame) every object has
 * under -O2, frame pointers or not: we attach to our own process with
 * thread callbacks of our own, one pseudo-thread per task whose initial
 * registers are the saved ones, and a memory reader that only reads inside
 * that task's stack (a damaged stack ends the backtrace instead of
 * faulting).  The running task (a dump asked from a task) is walked with
 * glibc's backtrace(), which uses the same tables through libgcc.  The
 * chain of every task ends in asyncio__ctx_start, whose CFI marks the
 * return address undefined.
 *
 * Symbols.  libdwfl again, over /proc/self/maps: the ELF symbol table of
 * each module (static functions included), and file:line from DWARF where
 * the object has it (its own .debug_info, or a separate file found by
 * build-id under /usr/lib/debug).  Never debuginfod: a dump must not wait
 * on the network.  Every frame also says module+offset, which `addr2line
 * -e MODULE OFFSET` resolves where this process could not.
 *
 * A dump runs on the loop's thread, between callbacks or in a task; it
 * reads the tasks, never changes them.
 */
#define _GNU_SOURCE
#include "core/core.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <execinfo.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef ASYNCIO_CORO_UCONTEXT
#include <ucontext.h>
#endif

#define MAX_FRAMES 64
#define CREATION_FRAMES 16

/* ------------------------------------------------------------ symbols */

typedef struct session {
    Dwfl *dwfl; /* NULL if this process's modules could not be read */
    bool attached;
    /* The task being unwound: its stack bounds and saved registers. */
    const asyncio__task_t *task;
    uintptr_t lo, hi;
    uintptr_t pcs[MAX_FRAMES];
    size_t npcs;
} session_t;

/* Separate debug files by build-id only (no debuginfod: see the top). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file, const char *debuglink, GElf_Word crc,
                          char **debuginfo_file_name)
{
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file, debuglink, crc,
                                        debuginfo_file_name);
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

static void session_open(session_t *s)
{
    memset(s, 0, sizeof *s);
    Dwfl *d = dwfl_begin(&proc_callbacks);
    if (!d)
        return;
    if (dwfl_linux_proc_report(d, getpid()) != 0 || dwfl_report_end(d, NULL, NULL) != 0) {
        dwfl_end(d);
        return;
    }
    s->dwfl = d;
}

static void session_close(session_t *s)
{
    if (s->dwfl)
        dwfl_end(s->dwfl);
    s->dwfl = NULL;
}

/* A frame's function, source line and module, as text. */
typedef struct frame_info {
    const char *func; /* NULL: unknown */
    uintptr_t func_off;
    const char *file; /* NULL: no line information */
    int line;
    const char *module; /* path of the object, or NULL */
    uintptr_t module_off;
} frame_info_t;

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Looks pc up (a return address is looked up at pc - 1, inside the call). */
static void lookup(session_t *s, uintptr_t pc, bool return_address, frame_info_t *fi)
{
    memset(fi, 0, sizeof *fi);
    uintptr_t at = return_address && pc ? pc - 1 : pc;
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, at) : NULL;
    if (mod) {
        GElf_Off off;
        GElf_Sym sym;
        fi->func = dwfl_module_addrinfo(mod, at, &off, &sym, NULL, NULL, NULL);
        fi->func_off = (uintptr_t)off + (at != pc);
        Dwfl_Line *line = dwfl_module_getsrc(mod, at);
        if (line)
            fi->file = dwfl_lineinfo(line, NULL, &fi->line, NULL, NULL, NULL);
        const char *mainfile = NULL;
        const char *name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
        fi->module = mainfile ? mainfile : name;
        GElf_Addr bias = 0;
        if (dwfl_module_getelf(mod, &bias))
            fi->module_off = pc - (uintptr_t)bias;
        return;
    }
    /* Without libdw's view of the process: the dynamic symbols. */
    Dl_info info;
    if (dladdr((void *)at, &info)) {
        fi->func = info.dli_sname;
        fi->func_off = info.dli_saddr ? pc - (uintptr_t)info.dli_saddr : 0;
        fi->module = info.dli_fname;
        fi->module_off = pc - (uintptr_t)info.dli_fbase;
    }
}

static void print_frame(FILE *out, session_t *s, unsigned n, uintptr_t pc, bool return_address)
{
    frame_info_t fi;
    lookup(s, pc, return_address, &fi);
    fprintf(out, "    #%-2u 0x%016" PRIxPTR " in %s", n, pc, fi.func ? fi.func : "??");
    if (fi.file)
        fprintf(out, " at %s:%d", fi.file, fi.line);
    else if (fi.func)
        fprintf(out, "+0x%" PRIxPTR, fi.func_off);
    if (fi.module)
        fprintf(out, " (%s+0x%" PRIxPTR ")", basename_of(fi.module), fi.module_off);
    fputc('\n', out);
}

/* The name of the function at addr, for descriptions ("to_thread(fetch)");
 * "??" when unknown. */
static const char *function_name(session_t *s, const void *addr, char *buf, size_t len)
{
    frame_info_t fi;
    lookup(s, (uintptr_t)addr, false, &fi);
    if (!fi.func)
        snprintf(buf, len, "%p", addr);
    else if (fi.func_off)
        snprintf(buf, len, "%s+0x%" PRIxPTR, fi.func, fi.func_off);
    else
        snprintf(buf, len, "%s", fi.func);
    return buf;
}

/* The session of the dump in progress on this thread, for
 * asyncio__function_name. */
static _Thread_local session_t *current_session;

const char *asyncio__function_name(const void *addr, char *buf, size_t len)
{
    if (current_session)
        return function_name(current_session, addr, buf, len);
    session_t s;
    memset(&s, 0, sizeof s); /* no libdw session: dladdr */
    return function_name(&s, addr, buf, len);
}

/* Frames of the suspension machinery, of the dump itself and of task
 * start, left out of a task's backtrace: what the task awaits says the
 * same. */
static bool internal_frame(session_t *s, uintptr_t pc)
{
    static const char *const names[] = {"suspend",
                                        "handoff",
                                        "sleep_for",
                                        "task_entry",
                                        "print_task",
                                        "print_stack",
                                        "backtrace",
                                        "asyncio_dump_tasks",
                                        "asyncio_task_print_stack"};
    frame_info_t fi;
    lookup(s, pc, true, &fi);
    if (!fi.func)
        return false;
    if (strncmp(fi.func, "asyncio__", 9) == 0)
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(fi.func, names[i]) == 0)
            return true;
    return false;
}

/* Prints pcs[0, n) (return addresses), the library's own suspension
 * frames at the top and the task's start at the bottom left out. */
/* True for the frame a task's coroutine was called from (task_entry):
 * what is below it (the context switch's start, glibc's for ucontext) is
 * the same for every task. */
static bool task_start_frame(session_t *s, uintptr_t pc)
{
    frame_info_t fi;
    lookup(s, pc, true, &fi);
    return fi.func && strcmp(fi.func, "task_entry") == 0;
}

static void print_frames(FILE *out, session_t *s, const uintptr_t *pcs, size_t n)
{
    size_t first = 0, end = n;
    while (first < end && internal_frame(s, pcs[first]))
        first++;
    for (size_t i = first; i < end; i++)
        if (task_start_frame(s, pcs[i]))
            end = i;
    while (end > first && internal_frame(s, pcs[end - 1]))
        end--;
    if (first == end) { /* nothing of the task's own: show it all */
        first = 0;
        end = n;
    }
    for (size_t i = first; i < end; i++)
        print_frame(out, s, (unsigned)(i - first), pcs[i], true);
    if (n == 0)
        fprintf(out, "    (no frames: the stack could not be unwound)\n");
}

/* ------------------------------------------------------------ unwinding a suspended task */

/* The registers a suspended task's context switch saved, as DWARF numbers
 * them.  False if there are none (not started, or running). */
typedef struct saved_regs {
    uintptr_t pc, sp;
#if defined(__x86_64__)
    uint64_t dwarf[17]; /* rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip */
#elif defined(__aarch64__)
    uint64_t dwarf[32]; /* x0-x30, sp */
#endif
} saved_regs_t;

static bool saved_registers(const asyncio__task_t *t, saved_regs_t *r)
{
    memset(r, 0, sizeof *r);
#ifdef ASYNCIO_CORO_UCONTEXT
    const ucontext_t *uc = t->ctx.uctx;
    if (!uc)
        return false;
#if defined(__x86_64__)
    const greg_t *g = uc->uc_mcontext.gregs;
    r->dwarf[3] = (uint64_t)g[REG_RBX];
    r->dwarf[6] = (uint64_t)g[REG_RBP];
    r->dwarf[7] = (uint64_t)g[REG_RSP];
    r->dwarf[12] = (uint64_t)g[REG_R12];
    r->dwarf[13] = (uint64_t)g[REG_R13];
    r->dwarf[14] = (uint64_t)g[REG_R14];
    r->dwarf[15] = (uint64_t)g[REG_R15];
    r->dwarf[16] = (uint64_t)g[REG_RIP];
    r->pc = (uintptr_t)g[REG_RIP];
    r->sp = (uintptr_t)g[REG_RSP];
    return true;
#elif defined(__aarch64__)
    for (int i = 0; i < 31; i++)
        r->dwarf[i] = uc->uc_mcontext.regs[i];
    r->dwarf[31] = uc->uc_mcontext.sp;
    r->pc = (uintptr_t)uc->uc_mcontext.pc;
    r->sp = (uintptr_t)uc->uc_mcontext.sp;
    return true;
#else
    return false;
#endif
#else
    const uint64_t *sp = t->ctx.sp;
    if (!sp)
        return false;
#if defined(__x86_64__)
    /* switch_x86_64.S: control words, r15, r14, r13, r12, rbx, rbp, return
     * address; the caller's rsp is above them. */
    r->dwarf[15] = sp[1];
    r->dwarf[14] = sp[2];
    r->dwarf[13] = sp[3];
    r->dwarf[12] = sp[4];
    r->dwarf[3] = sp[5];
    r->dwarf[6] = sp[6];
    r->dwarf[16] = sp[7];
    r->dwarf[7] = (uint64_t)(uintptr_t)(sp + 8);
    r->pc = (uintptr_t)sp[7];
    r->sp = (uintptr_t)(sp + 8);
    return true;
#elif defined(__aarch64__)
    /* switch_aarch64.S: x19-x28, x29, x30, d8-d15; sp above them. */
    for (int i = 0; i < 12; i++)
        r->dwarf[19 + i] = sp[i];
    r->dwarf[31] = (uint64_t)(uintptr_t)(sp + 20);
    r->pc = (uintptr_t)sp[11];
    r->sp = (uintptr_t)(sp + 20);
    return true;
#else
    return false;
#endif
#endif
}

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    if (*thread_argp)
        return 0;
    *thread_argp = arg;
    return 1; /* one pseudo-thread: the task being unwound */
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl;
    *thread_argp = arg;
    return tid == 1;
}

/* Reads a word of the task's stack, and nothing else: a stack that is not
 * what its CFI says ends the backtrace instead of faulting.  Not
 * instrumented: AddressSanitizer poisons parts of other fibers' stacks. */
__attribute__((no_sanitize_address)) static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr,
                                                             Dwarf_Word *result, void *arg)
{
    (void)dwfl;
    session_t *s = arg;
    if (addr < s->lo || addr + sizeof(Dwarf_Word) > s->hi || addr % sizeof(Dwarf_Word))
        return false;
    *result = *(const volatile Dwarf_Word *)(uintptr_t)addr;
    return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
    session_t *s = arg;
    saved_regs_t r;
    if (!saved_registers(s->task, &r))
        return false;
#if defined(__x86_64__)
    return dwfl_thread_state_registers(thread, 0, 17, r.dwarf);
#elif defined(__aarch64__)
    if (!dwfl_thread_state_registers(thread, 0, 32, r.dwarf))
        return false;
    dwfl_thread_state_register_pc(thread, r.pc);
    return true;
#else
    (void)thread;
    return false;
#endif
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
    session_t *s = arg;
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(state, &pc, &activation) || pc == 0)
        return DWARF_CB_ABORT;
    s->pcs[s->npcs++] = (uintptr_t)pc;
    return s->npcs < MAX_FRAMES ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwinds suspended task t into s->pcs (return addresses, innermost
 * first). */
static void unwind_task(session_t *s, const asyncio__task_t *t)
{
    s->npcs = 0;
    s->task = t;
    s->lo = (uintptr_t)t->stack.lo;
    s->hi = s->lo + ((size_t)1 << t->stack.size_log2);
    saved_regs_t r;
    if (!t->stack.lo || !saved_registers(t, &r))
        return;
    if (s->dwfl && !s->attached)
        s->attached = dwfl_attach_state(s->dwfl, NULL, getpid(), &thread_callbacks, s);
    if (s->attached)
        dwfl_getthread_frames(s->dwfl, 1, frame_cb, s);
    if (s->npcs == 0)
        s->pcs[s->npcs++] = r.pc; /* at least where it switched */
}

/* ------------------------------------------------------------ creation sites */

void **asyncio__capture_stack(void)
{
    void *pcs[CREATION_FRAMES + 2];
    int n = backtrace(pcs, CREATION_FRAMES + 2);
    if (n <= 1)
        return NULL;
    /* Not this function. */
    void **out = asyncio__malloc((size_t)n * sizeof *out);
    if (!out)
        return NULL;
    out[0] = (void *)(uintptr_t)(n - 1);
    memcpy(out + 1, pcs + 1, (size_t)(n - 1) * sizeof *out);
    return out;
}

/* Frames of task creation inside the library, left out of creation
 * sites. */
static bool creation_frame(session_t *s, uintptr_t pc)
{
    frame_info_t fi;
    lookup(s, pc, true, &fi);
    return fi.func &&
           (strcmp(fi.func, "asyncio_create_task_ex") == 0 ||
            strcmp(fi.func, "asyncio_create_task") == 0 || strncmp(fi.func, "asyncio__", 9) == 0);
}

static void print_creation(FILE *out, session_t *s, asyncio__task_t *t)
{
    asyncio__task_extra_t *x = asyncio__task_extra(t);
    if (!x || !x->created_at)
        return;
    size_t n = (size_t)(uintptr_t)x->created_at[0];
    const uintptr_t *pcs = (const uintptr_t *)(x->created_at + 1);
    size_t first = 0, end = n;
    while (first + 1 < end && creation_frame(s, pcs[first]))
        first++;
    for (size_t i = first + 1; i < end; i++)
        if (task_start_frame(s, pcs[i]))
            end = i;
    while (end > first + 1 && internal_frame(s, pcs[end - 1]))
        end--;
    fprintf(out, "  created at:\n");
    for (size_t i = first; i < end; i++)
        print_frame(out, s, (unsigned)(i - first), pcs[i], true);
}

/* ------------------------------------------------------------ describing */

static const char *state_word(asyncio_future_t *f)
{
    return f->state == ASYNCIO__PENDING     ? "pending"
           : f->state == ASYNCIO__CANCELLED ? "cancelled"
                                            : "finished";
}

void asyncio__describe_future(asyncio_future_t *f, char *buf, size_t len)
{
    asyncio__task_t *t = asyncio__as_task(f);
    if (t) {
        snprintf(buf, len, "<Task %s name='%s'>", state_word(f), asyncio__task_name(t));
    } else if (f->ops && f->ops->describe) {
        f->ops->describe(f, buf, len);
    } else {
        snprintf(buf, len, "<Future %s>", state_word(f));
    }
}

/* One line about t: its name, coroutine, state and what it waits on. */
static void print_task_line(FILE *out, session_t *s, asyncio__task_t *t, uint64_t now)
{
    char fn[128], what[256] = "";
    asyncio_loop_t *loop = t->fut.loop;
    fprintf(out, "Task '%s' coro=%s(): ", asyncio__task_name(t),
            function_name(s, (const void *)(uintptr_t)t->fn, fn, sizeof fn));
    if (t->fut.state != ASYNCIO__PENDING) {
        fprintf(out, "%s", state_word(&t->fut));
    } else if (loop->current == t) {
        fprintf(out, "running");
    } else if (!t->started) {
        fprintf(out, "not started");
    } else if (t->waiting && t->waiting->state == ASYNCIO__PENDING && t->wait) {
        const asyncio__wait_t *w = t->wait;
        double waited = now > w->since_ns ? (double)(now - w->since_ns) / 1e9 : 0;
        const asyncio__wait_kind_t *k = w->kind;
        if (k && k->describe)
            k->describe(w->obj, what, sizeof what);
        else if (!k)
            asyncio__describe_future(t->waiting, what, sizeof what);
        if (k)
            fprintf(out, "waiting %.3f s in %s%s%s", waited, k->what, *what ? ": " : "", what);
        else
            fprintf(out, "waiting %.3f s in await %s", waited, what);
    } else {
        fprintf(out, "ready");
    }
    if (t->num_cancels_requested || t->must_cancel)
        fprintf(out, " (cancelling)");
    fputc('\n', out);
}

static void print_stack(FILE *out, session_t *s, asyncio__task_t *t)
{
    asyncio_loop_t *loop = t->fut.loop;
    if (t->fut.state != ASYNCIO__PENDING || !t->started) {
        fprintf(out, "  (no stack: %s)\n",
                t->fut.state != ASYNCIO__PENDING ? state_word(&t->fut) : "not started");
        return;
    }
    if (loop->current == t && asyncio__current() == t) {
        /* The running task is the caller: its live stack. */
        void *pcs[MAX_FRAMES];
        int n = backtrace(pcs, MAX_FRAMES);
        fprintf(out, "  running at:\n");
        print_frames(out, s, (const uintptr_t *)pcs + 1, n > 1 ? (size_t)n - 1 : 0);
        return;
    }
    if (loop->current == t) {
        fprintf(out, "  (running in another context: no backtrace)\n");
        return;
    }
    unwind_task(s, t);
    fprintf(out, "  suspended at:\n");
    print_frames(out, s, s->pcs, s->npcs);
}

static void print_task(FILE *out, session_t *s, asyncio__task_t *t, uint64_t now)
{
    print_task_line(out, s, t, now);
    print_creation(out, s, t);
    print_stack(out, s, t);
}

/* ------------------------------------------------------------ public */

static FILE *output(FILE *file)
{
    return file ? file : stderr;
}

int asyncio_task_print_stack(asyncio_future_t *task, FILE *file)
{
    asyncio__task_t *t = asyncio__as_task(task);
    if (!t || task->magic != ASYNCIO__FUTURE_MAGIC)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s",
                                   task ? "the future is not a task" : "task is NULL");
    if (t->fut.loop != asyncio__tls.running && t->fut.loop != asyncio__tls.current)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "task '%s' belongs to a loop of another thread",
                                   asyncio__task_name(t));
    FILE *out = output(file);
    session_t s;
    session_open(&s);
    session_t *was = current_session;
    current_session = &s;
    fprintf(out, "Stack for ");
    print_task(out, &s, t, asyncio__now_ns());
    current_session = was;
    session_close(&s);
    fflush(out);
    return 0;
}

void asyncio__loop_dump(asyncio_loop_t *loop, FILE *out)
{
    session_t s;
    session_open(&s);
    session_t *was = current_session;
    current_session = &s;
    uint64_t now = asyncio__now_ns();
    fprintf(out, "casyncio: %zu unfinished task%s in loop %p (pid %ld, thread %ld):\n",
            loop->ntasks, loop->ntasks == 1 ? "" : "s", (void *)loop, (long)getpid(),
            (long)syscall(SYS_gettid));
    for (asyncio__list_t *l = loop->tasks.next; l != &loop->tasks; l = l->next) {
        asyncio__task_t *t = asyncio__container_of(l, asyncio__task_t, link);
        print_task(out, &s, t, now);
    }
    fprintf(out, "casyncio: end of task dump\n");
    current_session = was;
    session_close(&s);
    fflush(out);
}

int asyncio_dump_tasks(FILE *file)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
    asyncio__loop_dump(loop, output(file));
    return 0;
}

/* ------------------------------------------------------------ the dump signal */

static void on_dump_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    asyncio_loop_t *loop = h->data;
    if (!loop->closed)
        asyncio__loop_dump(loop, stderr);
}

int asyncio_loop_set_dump_signal(asyncio_loop_t *loop, int signum)
{
    if (!loop)
        loop = asyncio__loop_get();
    if (!loop || !asyncio__loop_live(loop) || loop->closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
    if (signum < 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP)
        return asyncio__raise_code(ASYNCIO_EVALUE, "invalid signal number %d", signum);
    if (loop->dump_signal_on) {
        uv_signal_stop(&loop->dump_signal);
        loop->dump_signal_num = 0;
    }
    if (!signum)
        return 0;
    int rc;
    if (!loop->dump_signal_on) {
        if ((rc = uv_signal_init(&loop->uv, &loop->dump_signal)) != 0) {
            asyncio_raise_uv(rc, NULL);
            return rc;
        }
        loop->dump_signal.data = loop;
        loop->dump_signal_on = true;
    }
    if ((rc = uv_signal_start(&loop->dump_signal, on_dump_signal, signum)) != 0) {
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    /* A dump never keeps the loop alive, and is no wake-up source for the
     * deadlock check. */
    uv_unref((uv_handle_t *)&loop->dump_signal);
    loop->dump_signal_num = signum;
    return 0;
}

int asyncio__parse_signal(const char *s)
{
    if (!s || !*s)
        return 0;
    char *end;
    long n = strtol(s, &end, 10);
    if (*end == '\0')
        return n > 0 && n < NSIG ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    static const struct {
        const char *name;
        int num;
    } names[] = {{"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},
                 {"INT", SIGINT},   {"TERM", SIGTERM}, {"PWR", SIGPWR},   {"WINCH", SIGWINCH},
                 {"URG", SIGURG},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"PROF", SIGPROF}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].num;
    if (strncasecmp(s, "RTMIN+", 6) == 0) {
        n = strtol(s + 6, &end, 10);
        if (*end == '\0' && n >= 0 && SIGRTMIN + n <= SIGRTMAX)
            return SIGRTMIN + (int)n;
    }
    return -1;
}
