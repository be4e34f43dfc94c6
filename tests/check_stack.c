/*
 * Task stacks: overflow detection (the process aborts with a message that
 * names the task and its stack size), custom sizes, env
 * ASYNCIO_STACK_SIZE, heavy stack use, and many stacks alive at once
 * (beyond what guard pages alone allow under vm.max_map_count), and the
 * pool's policy as a program can see it: LIFO reuse (the stack released
 * last is taken first), stacks prepared in bulk where the kernel allows it
 * (page faults counted with perf_event_open), pages given back lazily,
 * then for good, when the loop idles (RSS and LazyFree in /proc).
 *
 * Overflow tests fork a child of their own: the child runs the loop with
 * its stderr on a pipe; the test reads the pipe and the child's status.
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* AddressSanitizer reports a write past a stack region itself, before the
 * library's canary check can: the beyond-budget overflow test is for
 * uninstrumented builds (UNDER_ASAN, testutil.h). */
#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---------------------------------------------------------------------- */
/* Helpers                                                                  */

/* Fills `bytes` of this frame with a pattern, yields to the other tasks,
 * and checks the pattern survived: 0 on success. */
static __attribute__((noinline)) int use_stack(size_t bytes, unsigned seed)
{
    volatile unsigned char buf[bytes];
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (unsigned char)(seed + i * 7);
    if (asyncio_sleep(0) != 0)
        return -1;
    for (size_t i = 0; i < bytes; i++)
        if (buf[i] != (unsigned char)(seed + i * 7))
            return -2;
    return 0;
}

/* Never stops on its own: each frame is kept alive by the addition after
 * the call, so the recursion walks down the stack until it hits the
 * guard. */
static volatile long recursion_limit = LONG_MAX;

static __attribute__((noinline)) long recurse(long depth)
{
    volatile char pad[512];
    pad[0] = (char)depth;
    pad[511] = (char)(depth >> 8);
    if (depth >= recursion_limit)
        return depth;
    return recurse(depth + 1) + pad[0] + pad[511];
}

static void *recurse_forever(void *arg)
{
    (void)arg;
    return IP(recurse(0));
}

struct overflow_case {
    const char *env;   /* ASYNCIO_STACK_SIZE, or NULL */
    const char *name;  /* task name; NULL: asyncio_run's main task recurses */
    size_t stack_size; /* opts.stack_size */
    const char *expect;
};

static void *overflow_main(void *arg)
{
    const struct overflow_case *c = arg;
    if (!c->name)
        return recurse_forever(NULL);
    asyncio_task_opts_t opts = {.name = c->name, .stack_size = c->stack_size};
    asyncio_future_t *t = asyncio_create_task_ex(recurse_forever, NULL, &opts);
    if (!t)
        _exit(90);
    asyncio_await(t, NULL);
    asyncio_decref(t);
    return NULL;
}

/* Runs fn(arg) in a forked child whose stderr goes to `err`; returns the
 * child's wait status. */
static int run_forked(void (*fn)(const void *), const void *arg, char *err, size_t cap)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        alarm(30);
        fn(arg);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < cap - 1 - len ? (size_t)r : cap - 1 - len;
        memcpy(err + len, tmp, take);
        len += take;
    }
    err[len] = '\0';
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    return status;
}

static void overflow_child(const void *arg)
{
    const struct overflow_case *c = arg;
    if (c->env)
        setenv("ASYNCIO_STACK_SIZE", c->env, 1);
    else
        unsetenv("ASYNCIO_STACK_SIZE");
    asyncio_run(overflow_main, (void *)c, NULL);
    _exit(91); /* the overflow went unnoticed */
}

static const struct overflow_case overflow_cases[] = {
    {NULL, "deep", 64 * KiB, "casyncio: task 'deep' overflowed its 64 KiB stack"},
    {NULL, NULL, 0, "casyncio: task 'Task-1' overflowed its 256 KiB stack"},
    {NULL, "tiny", 16 * KiB, "casyncio: task 'tiny' overflowed its 16 KiB stack"},
    {NULL, "odd", 100000, "casyncio: task 'odd' overflowed its 128 KiB stack"},
    {"32K", "envk", 0, "casyncio: task 'envk' overflowed its 32 KiB stack"},
    {"131072", "envbytes", 0, "casyncio: task 'envbytes' overflowed its 128 KiB stack"},
    {"1M", "mega", 0, "casyncio: task 'mega' overflowed its 1024 KiB stack"},
    {"1M", "optwins", 64 * KiB, "casyncio: task 'optwins' overflowed its 64 KiB stack"},
};

START_TEST(test_stack_overflow_detected)
{
    const struct overflow_case *c = &overflow_cases[_i];
    char err[8192];
    int status = run_forked(overflow_child, c, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "case %d: expected SIGABRT, got %s %d; stderr: %.1500s", _i,
                  WIFSIGNALED(status) ? "signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), err);
    ck_assert_msg(strstr(err, c->expect) != NULL, "case %d: stderr lacks \"%s\": \"%.1500s\"", _i,
                  c->expect, err);
}
END_TEST

/* Past the guard-page budget stacks may come without a guard page of their
 * own; overflowing one must still be reported, not silently corrupt the
 * neighbouring stacks.  The child first parks more tasks than any guard
 * budget allows (half of vm.max_map_count: a guarded stack costs two
 * mappings), then runs the overflowing task. */
static long max_map_count(void)
{
    long v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

static asyncio_future_t *park;

static void *parked(void *arg)
{
    (void)arg;
    asyncio_await(park, NULL);
    return NULL;
}

/* A frame larger than the whole stack, which writes only its lowest bytes
 * and returns: nothing probes such a frame in code built without
 * -fstack-clash-protection (this file is), so the writes land wherever
 * the frame reaches, beyond the task's own guard.  The neighbour below is
 * a live task with the same stack size.  The overflow must be reported
 * naming the task, never corrupt the neighbour silently. */
static __attribute__((noinline)) int jump_the_guard(void)
{
    volatile char big[136 * KiB];
    for (size_t i = 0; i < 2048; i++)
        big[i] = (char)i;
    return big[0] + big[2047];
}

static void *jumper(void *arg)
{
    (void)arg;
    return IP(jump_the_guard());
}

static void *jump_main(void *arg)
{
    (void)arg;
    park = asyncio_future_new();
    asyncio_task_opts_t opts = {.name = "neighbour", .stack_size = 64 * KiB};
    asyncio_future_t *below = asyncio_create_task_ex(parked, NULL, &opts);
    asyncio_sleep(0); /* the neighbour holds its stack */
    opts.name = "jumper";
    asyncio_future_t *t = asyncio_create_task_ex(jumper, NULL, &opts);
    asyncio_await(t, NULL);
    asyncio_future_set_result(park, NULL);
    asyncio_await(below, NULL);
    return NULL;
}

static void jump_child(const void *arg)
{
    (void)arg;
    unsetenv("ASYNCIO_STACK_SIZE");
    asyncio_run(jump_main, NULL, NULL);
    _exit(91); /* the overflow went unnoticed */
}

START_TEST(test_stack_overflow_large_frame)
{
    if (UNDER_ASAN) /* ASan reports the frame itself */
        return;
    char err[8192];
    int status = run_forked(jump_child, NULL, err, sizeof err);
    const char *expect = "casyncio: task 'jumper' overflowed its 64 KiB stack";
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "expected SIGABRT, got %s %d; stderr: %.1500s",
                  WIFSIGNALED(status) ? "signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), err);
    ck_assert_msg(strstr(err, expect) != NULL, "stderr lacks \"%s\": \"%.1500s\"", expect, err);
}
END_TEST

static void *overflow_by_80k(void *arg)
{
    (void)arg;
    /* A bounded overflow: 80 KiB of locals in a 64 KiB stack, then a
     * suspension. */
    use_stack(80 * KiB, 3);
    return NULL;
}

static void *slab_overflow_main(void *arg)
{
    long n = max_map_count() / 2 + 1000;
    park = asyncio_future_new();
    for (long i = 0; i < n; i++) {
        asyncio_task_opts_t opts = {.stack_size = 64 * KiB};
        asyncio_future_t *t = asyncio_create_task_ex(parked, NULL, &opts);
        if (!t)
            _exit(92);
        asyncio_decref(t);
    }
    asyncio_sleep(0); /* every parked task has its stack now */
    asyncio_task_opts_t opts = {.name = "slabby", .stack_size = 64 * KiB};
    asyncio_future_t *t =
        asyncio_create_task_ex(arg ? overflow_by_80k : recurse_forever, NULL, &opts);
    asyncio_await(t, NULL);
    return NULL;
}

static void slab_overflow_child(const void *arg)
{
    unsetenv("ASYNCIO_STACK_SIZE");
    asyncio_run(slab_overflow_main, (void *)arg, NULL);
    _exit(91);
}

START_TEST(test_stack_overflow_beyond_guard_budget)
{
    /* Not under ASan (see UNDER_ASAN) nor Valgrind (scaled runs: it cannot
     * map that many segments), nor where the budget is out of reach. */
    if (UNDER_ASAN || tu_scaled(1000) < 1000 || max_map_count() > 1000000)
        return;
    char err[8192];
    /* _i == 0: unbounded recursion; _i == 1: a bounded overflow. */
    int status = run_forked(slab_overflow_child, _i ? "bounded" : NULL, err, sizeof err);
    const char *expect = "casyncio: task 'slabby' overflowed its 64 KiB stack";
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "case %d: expected SIGABRT, got %s %d; stderr: %.1500s", _i,
                  WIFSIGNALED(status) ? "signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), err);
    ck_assert_msg(strstr(err, expect) != NULL, "case %d: stderr lacks \"%s\": \"%.1500s\"", _i,
                  expect, err);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Custom sizes and heavy use                                              */

struct use {
    size_t bytes;
    unsigned seed;
};

static void *use_task(void *arg)
{
    const struct use *u = arg;
    ck_assert_int_eq(use_stack(u->bytes, u->seed), 0);
    return IP(1);
}

static void *sizes_main(void *arg)
{
    (void)arg;
    /* 16 KiB to 8 MiB, each task using a good part of its stack, all
     * alive together so their stacks must not overlap. */
    enum { N = 10 };
    struct use uses[N + 1];
    asyncio_future_t *ts[N + 1];
    size_t size = 16 * KiB;
    for (int i = 0; i < N; i++, size *= 2) {
        uses[i].bytes = size >= 64 * KiB ? size / 2 : size / 4;
        uses[i].seed = (unsigned)i * 31u;
        char name[32];
        snprintf(name, sizeof name, "s%zuk", size / KiB);
        asyncio_task_opts_t opts = {.name = name, .stack_size = size};
        ts[i] = asyncio_create_task_ex(use_task, &uses[i], &opts);
        ck_assert_ptr_nonnull(ts[i]);
        ck_assert_str_eq(asyncio_task_get_name(ts[i]), name);
    }
    ck_assert_uint_eq(size, 16 * MiB);
    /* A size that is not a power of two is rounded up: 40000 -> 64 KiB. */
    uses[N].bytes = 48 * KiB;
    uses[N].seed = 99;
    asyncio_task_opts_t odd = {.name = "odd", .stack_size = 40000};
    ts[N] = asyncio_create_task_ex(use_task, &uses[N], &odd);
    ck_assert_ptr_nonnull(ts[N]);
    void *res[N + 1];
    ck_assert_int_eq(asyncio_gather(ts, N + 1, res, 0), 0);
    for (int i = 0; i <= N; i++) {
        ck_assert_int_eq(PI(res[i]), 1);
        asyncio_decref(ts[i]);
    }
    return NULL;
}

START_TEST(test_custom_stack_sizes)
{
    ck_assert_int_eq(asyncio_run(sizes_main, NULL, NULL), 0);
}
END_TEST

static void *max_main(void *arg)
{
    (void)arg;
    struct use u = {2 * MiB, 5};
    asyncio_task_opts_t opts = {.name = "max", .stack_size = ASYNCIO_STACK_MAX};
    asyncio_future_t *t = asyncio_create_task_ex(use_task, &u, &opts);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_max_stack_size)
{
    ck_assert_int_eq(asyncio_run(max_main, NULL, NULL), 0);
}
END_TEST

/* A 100 KiB local array in the default 256 KiB stack, in the main task and
 * in several children at once. */
static void *big_local_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(use_stack(100 * KiB, 1), 0);
    struct use u[4];
    asyncio_future_t *ts[4];
    for (int i = 0; i < 4; i++) {
        u[i].bytes = 100 * KiB;
        u[i].seed = (unsigned)i + 10;
        ts[i] = asyncio_create_task(use_task, &u[i]);
    }
    ck_assert_int_eq(asyncio_gather(ts, 4, NULL, 0), 0);
    for (int i = 0; i < 4; i++)
        asyncio_decref(ts[i]);
    return NULL;
}

START_TEST(test_big_local_array)
{
    unsetenv("ASYNCIO_STACK_SIZE");
    ck_assert_int_eq(asyncio_run(big_local_main, NULL, NULL), 0);
}
END_TEST

/* ASYNCIO_STACK_SIZE=1M: default tasks (main included) can use 600 KiB,
 * which would overflow the 256 KiB default. */
static void *env_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(use_stack(600 * KiB, 3), 0);
    struct use u = {600 * KiB, 4};
    asyncio_future_t *t = asyncio_create_task(use_task, &u);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_env_stack_size)
{
    setenv("ASYNCIO_STACK_SIZE", "1M", 1);
    ck_assert_int_eq(asyncio_run(env_main, NULL, NULL), 0);
}
END_TEST

START_TEST(test_env_stack_size_bytes)
{
    setenv("ASYNCIO_STACK_SIZE", "1048576", 1);
    ck_assert_int_eq(asyncio_run(env_main, NULL, NULL), 0);
}
END_TEST

/* The library's own calls fit in the smallest stack: a 16 KiB task
 * creates tasks, gathers, sleeps, raises with a long formatted message,
 * catches, copies errors and cancels. */
static void *small_child(void *arg)
{
    if (PI(arg) == 2)
        return asyncio_raise("ValueError", "%0500d", 7);
    if (PI(arg) == 3) {
        asyncio_sleep(10);
        return NULL;
    }
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    return arg;
}

static void *small_task(void *arg)
{
    (void)arg;
    asyncio_future_t *fs[3] = {asyncio_create_task(small_child, IP(1)),
                               asyncio_create_task(small_child, IP(2)),
                               asyncio_create_task(small_child, IP(3))};
    ck_assert(fs[0] && fs[1] && fs[2]);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(fs[2], "small"));
    void *res[3];
    ck_assert_int_eq(asyncio_gather(fs, 3, res, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert_int_eq(PI(res[0]), 1);
    ck_assert_int_eq(asyncio_await(fs[1], NULL), ASYNCIO_EVALUE);
    asyncio_error_t *kept = asyncio_error_dup(asyncio_catch("ValueError"));
    ck_assert_ptr_nonnull(kept);
    ck_assert_uint_eq(strlen(kept->message), 500);
    asyncio_raise("KeyError", "%s / %s", kept->message, kept->message);
    ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
    asyncio_error_free(kept);
    for (int i = 0; i < 3; i++)
        asyncio_decref(fs[i]);
    return IP(16);
}

static void *small_main(void *arg)
{
    (void)arg;
    asyncio_task_opts_t opts = {.name = "small", .stack_size = ASYNCIO_STACK_MIN};
    asyncio_future_t *t = asyncio_create_task_ex(small_task, NULL, &opts);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 16);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_library_fits_min_stack)
{
    ck_assert_int_eq(asyncio_run(small_main, NULL, NULL), 0);
}
END_TEST

/* A task whose stack cannot be had when it starts ends with MemoryError;
 * the loop and the other tasks go on.  The address space is limited just
 * for this, then restored. */
static long vm_size_bytes(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

static void *stackless_main(void *arg)
{
    (void)arg;
    struct rlimit old;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    static struct use u = {KiB, 1};
    asyncio_task_opts_t opts = {.name = "huge", .stack_size = 512 * MiB};
    asyncio_future_t *t = asyncio_create_task_ex(use_task, &u, &opts);
    asyncio_future_t *ok = asyncio_create_task(small_child, IP(1));
    ck_assert(t && ok);
    struct rlimit lim = old;
    lim.rlim_cur = (rlim_t)vm_size_bytes() + 64 * MiB;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    int rc = asyncio_await(t, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
    ck_assert_ptr_nonnull(asyncio_catch("MemoryError"));
    ck_assert(asyncio_done(t));
    ck_assert_str_eq(asyncio_exception(t)->type, "MemoryError");
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(ok, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    asyncio_decref(t);
    asyncio_decref(ok);
    return NULL;
}

START_TEST(test_stack_allocation_failure)
{
    if (UNDER_ASAN || tu_scaled(1000) < 1000)
        return; /* sanitizers and Valgrind need the address space themselves */
    ck_assert_int_eq(asyncio_run(stackless_main, NULL, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Many stacks                                                              */

static long finished;

static void *short_sleep(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0.001 * (double)(1 + PI(arg) % 20)), 0);
    finished++;
    return NULL;
}

static void *sleepers_main(void *arg)
{
    long n = PI(arg);
    for (long i = 0; i < n; i++) {
        asyncio_future_t *t = asyncio_create_task(short_sleep, IP(i));
        ck_assert_ptr_nonnull(t);
        asyncio_decref(t);
    }
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), (size_t)n + 1);
    while (finished < n)
        ck_assert_int_eq(asyncio_sleep(0.005), 0);
    return NULL;
}

START_TEST(test_many_sleeping_tasks)
{
    long n = tu_scaled(100000);
    ck_assert_int_eq(asyncio_run(sleepers_main, IP(n), NULL), 0);
    ck_assert_int_eq(finished, n);
}
END_TEST

/* More tasks alive at once than guard pages allow (vm.max_map_count is
 * 65530 by default, two mappings per guarded stack): each keeps a pattern
 * on its stack across the suspension, so overlapping or reused stacks
 * would show. */
static asyncio_future_t *gate;
static long verified;

static __attribute__((noinline)) int hold_pattern(unsigned seed)
{
    volatile unsigned char buf[2048];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(seed * 13u + i);
    if (asyncio_await(gate, NULL) != 0)
        return -1;
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (unsigned char)(seed * 13u + i))
            return -2;
    return 0;
}

static void *holder(void *arg)
{
    ck_assert_int_eq(hold_pattern((unsigned)PI(arg)), 0);
    verified++;
    return NULL;
}

static void *budget_main(void *arg)
{
    long n = PI(arg);
    gate = asyncio_future_new();
    ck_assert_ptr_nonnull(gate);
    for (long i = 0; i < n; i++) {
        asyncio_future_t *t = asyncio_create_task(holder, IP(i));
        ck_assert_ptr_nonnull(t);
        asyncio_decref(t);
    }
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), (size_t)n + 1);
    ck_assert_int_eq(asyncio_future_set_result(gate, NULL), 0);
    while (asyncio_all_tasks(NULL, 0) > 1)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(verified, n);
    asyncio_decref(gate);
    return NULL;
}

START_TEST(test_beyond_guard_page_budget)
{
    long n = tu_scaled(60000);
    ck_assert_int_eq(asyncio_run(budget_main, IP(n), NULL), 0);
    ck_assert_int_eq(verified, n);
    /* Twice in one process: stacks released by the first run are reused
     * or freed, not leaked against the budget. */
    verified = 0;
    ck_assert_int_eq(asyncio_run(budget_main, IP(n), NULL), 0);
    ck_assert_int_eq(verified, n);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The pool's policy                                                        */

/* The address of a local at the same depth below every task's entry:
 * equal for two tasks exactly when they ran on the same stack. */
static __attribute__((noinline)) uintptr_t frame_addr(void)
{
    volatile char c = 0;
    return (uintptr_t)&c + (uintptr_t)c;
}

struct where {
    uintptr_t addr;
    asyncio_future_t *gate; /* awaited after noting the address, or NULL */
};

static void *note_where(void *arg)
{
    struct where *w = arg;
    w->addr = frame_addr();
    if (w->gate)
        ck_assert_int_eq(asyncio_await(w->gate, NULL), 0);
    return NULL;
}

static asyncio_future_t *spawn_where(struct where *w)
{
    w->addr = 0;
    return tu_spawn(note_where, w);
}

static void finish(asyncio_future_t *t)
{
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
}

static void *lifo_main(void *arg)
{
    (void)arg;
    /* A task started after another ended gets its stack. */
    struct where a = {0}, b = {0};
    finish(spawn_where(&a));
    finish(spawn_where(&b));
    ck_assert(a.addr != 0 && a.addr == b.addr);

    /* Three stacks released in the order x, y, z: the next two tasks get
     * z's, then y's. */
    struct where w[5];
    asyncio_future_t *t[5];
    for (int i = 0; i < 3; i++) {
        w[i].gate = asyncio_future_new();
        t[i] = spawn_where(&w[i]);
    }
    tu_yield();
    ck_assert(w[0].addr != w[1].addr && w[1].addr != w[2].addr && w[0].addr != w[2].addr);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(asyncio_future_set_result(w[i].gate, NULL), 0);
        finish(t[i]);
    }
    asyncio_future_t *gate = asyncio_future_new();
    for (int i = 3; i < 5; i++) {
        w[i].gate = gate;
        t[i] = spawn_where(&w[i]);
    }
    tu_yield();
    ck_assert(w[3].addr == w[2].addr);
    ck_assert(w[4].addr == w[1].addr);
    ck_assert_int_eq(asyncio_future_set_result(gate, NULL), 0);
    for (int i = 3; i < 5; i++)
        finish(t[i]);
    for (int i = 0; i < 3; i++)
        asyncio_decref(w[i].gate);
    asyncio_decref(gate);
    return NULL;
}

START_TEST(test_pool_lifo)
{
    tu_run_ok(lifo_main, NULL);
}
END_TEST

/* Page faults taken by this thread (the trap kind: pages committed by
 * madvise are not counted), through perf_event_open; -1 where perf is not
 * allowed. */
static int fault_counter(void)
{
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.type = PERF_TYPE_SOFTWARE;
    pe.size = sizeof pe;
    pe.config = PERF_COUNT_SW_PAGE_FAULTS;
    pe.disabled = 0;
    pe.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

static long faults_read(int fd)
{
    long long v = 0;
    ck_assert_int_eq(read(fd, &v, sizeof v), (ssize_t)sizeof v);
    return (long)v;
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* What the library decides (stack.c, probe_kernel): slab stacks are
 * prepared in batches with one process_madvise on the calling thread's
 * PIDFD_SELF (Linux 6.15), unless ASYNCIO_NO_BULK_ADVICE is set.  Without
 * guard markers (ASYNCIO_NO_GUARD_MARKERS, or a kernel before 6.13, which
 * has no PIDFD_SELF either) the first thousands of stacks are mappings of
 * their own, made one by one. */
static bool bulk_expected(void)
{
    if (env_set("ASYNCIO_NO_BULK_ADVICE") || env_set("ASYNCIO_NO_GUARD_MARKERS"))
        return false;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    struct iovec iov = {p, page};
    bool ok = syscall(SYS_process_madvise, -10000, &iov, 1, 23 /* MADV_POPULATE_WRITE */, 0) ==
              (long)page;
    munmap(p, page);
    return ok;
}

static void *hold_small(void *arg)
{
    volatile char frame[1024];
    frame[0] = 1;
    ck_assert_int_eq(asyncio_await(arg, NULL), 0);
    return IP(frame[0]);
}

static void *bulk_main(void *arg)
{
    long n = PI(arg);
    int fd = fault_counter();
    asyncio_future_t *gate = asyncio_future_new();
    asyncio_future_t **ts = malloc((size_t)n * sizeof *ts);
    ck_assert_ptr_nonnull(ts);
    long before = fd >= 0 ? faults_read(fd) : 0;
    for (long i = 0; i < n; i++)
        ts[i] = tu_spawn(hold_small, gate);
    tu_yield(); /* every task ran its first step, on a stack of its own */
    long faults = fd >= 0 ? faults_read(fd) - before : -1;
    ck_assert_int_eq(asyncio_future_set_result(gate, NULL), 0);
    tu_gather_drop(ts, (size_t)n);
    free(ts);
    asyncio_decref(gate);
    if (fd >= 0)
        close(fd);
    return IP(faults);
}

START_TEST(test_pool_bulk_prepare)
{
    long n = tu_scaled(2048);
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(bulk_main, IP(n), &res), 0);
    long faults = PI(res);
    /* Only counted where perf is allowed, on a plain build (sanitizers
     * move frames and fault on their own shadow memory). */
    if (faults < 0 || UNDER_ASAN || n < 2048)
        return;
    if (bulk_expected())
        /* The top page of every stack came with its batch: what faults is
         * the tasks' own memory (about 300 bytes each) and little else. */
        ck_assert_msg(faults < n / 4, "%ld faults for %ld new stacks prepared in bulk", faults, n);
    else
        /* The fallback: each new stack's first page is a fault. */
        ck_assert_msg(faults >= n, "%ld faults for %ld new stacks without bulk advice", faults, n);
}
END_TEST

#define TRIM_TASKS 320
#define TRIM_TOUCH (64 * KiB)

static void *touch_and_wait(void *arg)
{
    ck_assert_int_eq(use_stack(TRIM_TOUCH, (unsigned)PI(arg)), 0);
    return NULL;
}

/* TRIM_TASKS tasks each use TRIM_TOUCH of stack at once, then end. */
static void burst(void)
{
    asyncio_future_t *ts[TRIM_TASKS];
    for (int i = 0; i < TRIM_TASKS; i++)
        ts[i] = tu_spawn(touch_and_wait, IP(i));
    tu_gather_drop(ts, TRIM_TASKS);
}

static void *trim_main(void *arg)
{
    (void)arg;
    /* Beyond the 64 stacks per class that are never trimmed. */
    long beyond_kb = (long)((TRIM_TASKS - 64) * TRIM_TOUCH / KiB);
    burst();
    long rss0 = tu_proc_field("/proc/self/status", "VmRSS");
    long lazy0 = tu_proc_field("/proc/self/smaps_rollup", "LazyFree");
    /* Idle: the loop trims at most once a second; stacks untaken during a
     * whole period are given back lazily at the second trim at most. */
    ck_assert_int_eq(asyncio_sleep(2.3), 0);
    long rss1 = tu_proc_field("/proc/self/status", "VmRSS");
    long lazy1 = tu_proc_field("/proc/self/smaps_rollup", "LazyFree");
    if (lazy0 >= 0) {
        ck_assert_msg(lazy1 - lazy0 >= beyond_kb * 3 / 4,
                      "LazyFree %ld -> %ld kB, want %ld kB more", lazy0, lazy1, beyond_kb * 3 / 4);
        /* Still counted in RSS until the kernel needs the memory. */
        ck_assert_msg(rss0 - rss1 < beyond_kb / 2, "RSS %ld -> %ld kB", rss0, rss1);
    }
    /* Four periods more: given back for good. */
    ck_assert_int_eq(asyncio_sleep(5.3), 0);
    long rss2 = tu_proc_field("/proc/self/status", "VmRSS");
    long lazy2 = tu_proc_field("/proc/self/smaps_rollup", "LazyFree");
    ck_assert_msg(rss1 - rss2 >= beyond_kb * 3 / 4, "RSS %ld -> %ld kB, want %ld kB less", rss1,
                  rss2, beyond_kb * 3 / 4);
    if (lazy0 >= 0)
        ck_assert_msg(lazy2 - lazy0 < beyond_kb / 4, "LazyFree %ld -> %ld kB", lazy0, lazy2);
    /* The stacks work again, patterns intact. */
    burst();
    return NULL;
}

START_TEST(test_pool_trim_lazy_then_for_good)
{
    if (UNDER_ASAN || tu_scaled(1000) < 1000)
        return; /* RSS and LazyFree are the tools' own under sanitizers and Valgrind */
    tu_run_ok(trim_main, NULL);
}
END_TEST

Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");

    TCase *tc = tcase_create("overflow");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_stack_overflow_detected, 0,
                        (int)(sizeof overflow_cases / sizeof *overflow_cases));
    tcase_add_loop_test(tc, test_stack_overflow_beyond_guard_budget, 0, 2);
    tcase_add_test(tc, test_stack_overflow_large_frame);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_custom_stack_sizes);
    tcase_add_test(tc, test_max_stack_size);
    tcase_add_test(tc, test_big_local_array);
    tcase_add_test(tc, test_env_stack_size);
    tcase_add_test(tc, test_env_stack_size_bytes);
    tcase_add_test(tc, test_library_fits_min_stack);
    tcase_add_test(tc, test_stack_allocation_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("many");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_many_sleeping_tasks);
    tcase_add_test(tc, test_beyond_guard_page_budget);
    suite_add_tcase(s, tc);

    tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pool_lifo);
    tcase_add_test(tc, test_pool_bulk_prepare);
    tcase_add_test(tc, test_pool_trim_lazy_then_for_good);
    suite_add_tcase(s, tc);

    return s;
}
