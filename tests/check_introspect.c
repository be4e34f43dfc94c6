/*
 * Task dumps: asyncio_dump_tasks and asyncio_task_print_stack (what each
 * kind of wait says, the C backtrace of suspended and running tasks, the
 * creation site in debug mode) and the dump signal.
 *
 * The checks look for substrings of the dump: names of functions of this
 * file in the backtraces (the runner keeps its symbols and debug
 * information), and the descriptions the wait kinds give.
 */
#define _GNU_SOURCE /* open_memstream, memmem */
#include "testutil.h"

#include "../src/testing.h"
#include "httpd.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* asyncio_dump_tasks into a string (free it). */
static char *dump(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_dump_tasks(f), 0);
    fclose(f);
    return text;
}

static char *print_stack(asyncio_future_t *task)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(asyncio_task_print_stack(task, f), 0);
    fclose(f);
    return text;
}

#define assert_has(text, needle)                                                                   \
    ck_assert_msg(strstr((text), (needle)) != NULL, "missing \"%s\" in:\n%s", (needle), (text))
#define assert_lacks(text, needle)                                                                 \
    ck_assert_msg(strstr((text), (needle)) == NULL, "unexpected \"%s\" in:\n%s", (needle), (text))

/* The line of the dump about task `name`, copied into buf. */
static const char *task_line(const char *text, const char *name, char *buf, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "Task '%s' ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "no task '%s' in:\n%s", name, text);
    size_t n = strcspn(p, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* The part of the dump about task `name` (its line and frames), copied. */
static const char *task_block(const char *text, const char *name, char *buf, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "Task '%s' ", name);
    const char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "no task '%s' in:\n%s", name, text);
    const char *end = strstr(p + 1, "\nTask '");
    const char *fin = strstr(p + 1, "\ncasyncio: end of task dump");
    if (!end || (fin && fin < end))
        end = fin ? fin : p + strlen(p);
    size_t n = (size_t)(end - p);
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static asyncio_future_t *spawn_named(asyncio_coro_fn fn, void *arg, const char *name)
{
    asyncio_task_opts_t opts = {.name = name};
    asyncio_future_t *t = asyncio_create_task_ex(fn, arg, &opts);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* ---------------------------------------------------------------- what tasks wait on */

typedef struct prims {
    asyncio_lock_t *lock;
    asyncio_event_t *event;
    asyncio_condition_t *cond;
    asyncio_semaphore_t *sem;
    asyncio_barrier_t *barrier;
    asyncio_queue_t *empty, *full;
    asyncio_future_t *sleeper;
    asyncio_stream_t *reader;
} prims_t;

static __attribute__((noinline)) void *sleeper_fn(void *arg)
{
    (void)arg;
    asyncio_sleep(100);
    return NULL;
}

static __attribute__((noinline)) void *lock_waiter(void *arg)
{
    prims_t *p = arg;
    if (asyncio_lock_acquire(p->lock) == 0)
        asyncio_lock_release(p->lock);
    return NULL;
}

static __attribute__((noinline)) void *event_waiter(void *arg)
{
    prims_t *p = arg;
    asyncio_event_wait(p->event);
    return NULL;
}

static __attribute__((noinline)) void *cond_waiter(void *arg)
{
    prims_t *p = arg;
    if (asyncio_condition_acquire(p->cond) == 0) {
        asyncio_condition_wait(p->cond);
        asyncio_condition_release(p->cond);
    }
    return NULL;
}

static __attribute__((noinline)) void *sem_waiter(void *arg)
{
    prims_t *p = arg;
    if (asyncio_semaphore_acquire(p->sem) == 0)
        asyncio_semaphore_release(p->sem);
    return NULL;
}

static __attribute__((noinline)) void *barrier_waiter(void *arg)
{
    prims_t *p = arg;
    asyncio_barrier_wait(p->barrier);
    return NULL;
}

static __attribute__((noinline)) void *getter(void *arg)
{
    prims_t *p = arg;
    asyncio_queue_get(p->empty, NULL);
    return NULL;
}

static __attribute__((noinline)) void *putter(void *arg)
{
    prims_t *p = arg;
    asyncio_queue_put(p->full, "second");
    return NULL;
}

static __attribute__((noinline)) void *joiner(void *arg)
{
    prims_t *p = arg;
    asyncio_queue_join(p->full);
    return NULL;
}

static __attribute__((noinline)) void *awaiter(void *arg)
{
    prims_t *p = arg;
    asyncio_await(p->sleeper, NULL);
    return NULL;
}

static __attribute__((noinline)) void *reader_fn(void *arg)
{
    prims_t *p = arg;
    char buf[16];
    asyncio_stream_read(p->reader, buf, sizeof buf, NULL);
    return NULL;
}

static __attribute__((noinline)) void *dump_main(void *arg)
{
    (void)arg;
    prims_t p = {
        .lock = asyncio_lock_new(),
        .event = asyncio_event_new(),
        .cond = asyncio_condition_new(NULL),
        .sem = asyncio_semaphore_new(0),
        .barrier = asyncio_barrier_new(2),
        .empty = asyncio_queue_new(0),
        .full = asyncio_queue_new(1),
        .reader = asyncio__stream_reader_new(asyncio_get_running_loop(), 0),
    };
    ck_assert_int_eq(asyncio_lock_acquire(p.lock), 0);
    ck_assert_int_eq(asyncio_queue_put_nowait(p.full, "first"), 0);
    p.sleeper = spawn_named(sleeper_fn, NULL, "sleeper");
    asyncio_future_t *ts[] = {
        spawn_named(lock_waiter, &p, "locker"),    spawn_named(event_waiter, &p, "eventer"),
        spawn_named(cond_waiter, &p, "conder"),    spawn_named(sem_waiter, &p, "semer"),
        spawn_named(barrier_waiter, &p, "barrer"), spawn_named(getter, &p, "getter"),
        spawn_named(putter, &p, "putter"),         spawn_named(joiner, &p, "joiner"),
        spawn_named(awaiter, &p, "awaiter"),       spawn_named(reader_fn, &p, "reader"),
    };
    size_t n = sizeof ts / sizeof ts[0];
    tu_yield();
    tu_yield();
    asyncio_future_t *unstarted = spawn_named(sleeper_fn, NULL, "unstarted");
    asyncio_cancel(unstarted, NULL); /* it will never run */

    char *text = dump();
    char line[512], block[4096];
    assert_has(text, "unfinished tasks in loop");
    assert_has(text, "casyncio: end of task dump");
    /* The running task: its live stack. */
    assert_has(task_block(text, "Task-1", block, sizeof block), "running at:");
    assert_has(block, "in dump_main at tests/check_introspect.c:");
    assert_has(task_line(text, "Task-1", line, sizeof line), "coro=dump_main(): running");
    /* Each kind of wait, with its backtrace. */
    task_line(text, "sleeper", line, sizeof line);
    assert_has(line, "coro=sleeper_fn(): waiting ");
    assert_has(line, " s in sleep(): ");
    assert_has(line, " s left of 100 s (deadline at loop time ");
    assert_has(task_block(text, "sleeper", block, sizeof block), "suspended at:");
    assert_has(block, "in asyncio_sleep at ");
    assert_has(block, "in sleeper_fn at tests/check_introspect.c:");
    assert_lacks(block, "asyncio__ctx_switch");
    assert_lacks(block, "task_entry");
    assert_has(task_line(text, "locker", line, sizeof line), "in Lock.acquire(): <Lock 0x");
    assert_has(line, "[locked, waiters:1]>");
    assert_has(task_block(text, "locker", block, sizeof block), "in lock_waiter at tests/");
    assert_has(task_line(text, "eventer", line, sizeof line), "in Event.wait(): <Event 0x");
    assert_has(line, "[unset, waiters:1]>");
    assert_has(task_block(text, "eventer", block, sizeof block), "in event_waiter at tests/");
    assert_has(task_line(text, "conder", line, sizeof line), "in Condition.wait(): <Condition");
    assert_has(line, "[unlocked, waiters:1]>");
    assert_has(task_line(text, "semer", line, sizeof line), "in Semaphore.acquire(): <Semaphore");
    assert_has(line, "[locked, value:0, waiters:1]>");
    assert_has(task_line(text, "barrer", line, sizeof line), "in Barrier.wait(): <Barrier");
    assert_has(line, "[filling, waiters:1/2]>");
    assert_has(task_line(text, "getter", line, sizeof line), "in Queue.get(): <Queue 0x");
    assert_has(line, "maxsize=0 qsize=0 getters[1] putters[0] tasks=0>");
    assert_has(task_line(text, "putter", line, sizeof line), "in Queue.put(): <Queue 0x");
    assert_has(line, "maxsize=1 qsize=1 getters[0] putters[1] tasks=1>");
    assert_has(task_line(text, "joiner", line, sizeof line), "in Queue.join(): <Queue 0x");
    assert_has(task_line(text, "awaiter", line, sizeof line),
               "in await <Task pending name='sleeper'>");
    assert_has(task_block(text, "awaiter", block, sizeof block), "in awaiter at tests/");
    assert_has(task_line(text, "reader", line, sizeof line),
               "in StreamReader.read(): <StreamReader 0x");
    assert_has(line, "buffered=0 limit=");
    assert_has(task_block(text, "reader", block, sizeof block), "in reader_fn at tests/");
    task_block(text, "unstarted", block, sizeof block);
    assert_has(block, "coro=sleeper_fn(): not started (cancelling)");
    assert_has(block, "(no stack: not started)");
    /* Times come from the loop's clock: a few digits, never negative. */
    assert_lacks(text, "waiting -");
    free(text);

    /* One task alone, as Python's Task.print_stack. */
    text = print_stack(ts[0]);
    assert_has(text, "Stack for Task 'locker' coro=lock_waiter(): waiting ");
    assert_has(text, "in lock_waiter at tests/check_introspect.c:");
    assert_lacks(text, "Task 'eventer'");
    free(text);

    /* Let everything go. */
    asyncio_lock_release(p.lock);
    asyncio_event_set(p.event);
    asyncio_condition_acquire(p.cond);
    asyncio_condition_notify_all(p.cond);
    asyncio_condition_release(p.cond);
    asyncio_semaphore_release(p.sem);
    asyncio_barrier_abort(p.barrier);
    asyncio_queue_put_nowait(p.empty, "x");
    asyncio_queue_get_nowait(p.full, NULL);
    asyncio_queue_task_done(p.full);
    asyncio__stream_feed_eof(p.reader);
    asyncio_cancel(p.sleeper, NULL);
    ck_assert_int_eq(asyncio_gather(ts, n, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    asyncio_queue_get_nowait(p.full, NULL);
    asyncio_queue_task_done(p.full);
    asyncio_await(p.sleeper, NULL);
    asyncio_await(unstarted, NULL);
    tu_clear_all();
    text = print_stack(p.sleeper);
    assert_has(text, "coro=sleeper_fn(): cancelled");
    assert_has(text, "(no stack: cancelled)");
    free(text);
    tu_decref_all(ts, n);
    asyncio_decref(p.sleeper);
    asyncio_decref(unstarted);
    asyncio_lock_free(p.lock);
    asyncio_event_free(p.event);
    asyncio_condition_free(p.cond);
    asyncio_semaphore_free(p.sem);
    asyncio_barrier_free(p.barrier);
    asyncio_queue_free(p.empty);
    asyncio_queue_free(p.full);
    asyncio_stream_free(p.reader);
    return NULL;
}

START_TEST(test_dump_waits)
{
    tu_run_ok(dump_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------- futures of the library */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open, job_started;

static __attribute__((noinline)) void *blocking_job(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    job_started = true;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return NULL;
}

static __attribute__((noinline)) void *thread_waiter(void *arg)
{
    (void)arg;
    asyncio_to_thread(blocking_job, NULL, NULL);
    return NULL;
}

static __attribute__((noinline)) void *gatherer(void *arg)
{
    asyncio_future_t **kids = arg;
    asyncio_gather(kids, 2, NULL, ASYNCIO_RETURN_EXCEPTIONS);
    return NULL;
}

static __attribute__((noinline)) void *futures_main(void *arg)
{
    (void)arg;
    asyncio_future_t *kids[2] = {spawn_named(sleeper_fn, NULL, "kid1"),
                                 spawn_named(sleeper_fn, NULL, "kid2")};
    asyncio_future_t *g = spawn_named(gatherer, kids, "gatherer");
    asyncio_future_t *th = spawn_named(thread_waiter, NULL, "threader");
    tu_yield();
    pthread_mutex_lock(&gate_lock);
    while (!job_started)
        pthread_cond_wait(&gate_cv, &gate_lock);
    pthread_mutex_unlock(&gate_lock);

    char *text = dump(), line[512];
    assert_has(task_line(text, "gatherer", line, sizeof line), "in await <gather of 2, 0 done>");
    assert_has(task_line(text, "threader", line, sizeof line),
               "in await <to_thread(blocking_job) running>");
    free(text);

    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_lock);
    asyncio_cancel(kids[0], NULL);
    asyncio_cancel(kids[1], NULL);
    ck_assert_int_eq(asyncio_await(g, NULL), 0);
    ck_assert_int_eq(asyncio_await(th, NULL), 0);
    tu_decref_all(kids, 2);
    asyncio_decref(g);
    asyncio_decref(th);
    return NULL;
}

START_TEST(test_dump_library_futures)
{
    tu_run_ok(futures_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------- processes and HTTP */

static __attribute__((noinline)) void *proc_waiter(void *proc)
{
    int code;
    asyncio_process_wait(proc, &code);
    return NULL;
}

static __attribute__((noinline)) void *http_getter(void *url)
{
    asyncio_http_response_t *resp = NULL;
    asyncio_http_get(NULL, url, &resp);
    asyncio_http_response_free(resp);
    return NULL;
}

static __attribute__((noinline)) void *fd_waiter(void *fd)
{
    asyncio_wait_readable((int)(intptr_t)fd);
    return NULL;
}

static httpd_t *HTTPD;

static void *io_main(void *arg)
{
    (void)arg;
    const char *argv[] = {"sleep", "100", NULL};
    asyncio_process_t *proc;
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, NULL, &proc), 0);
    char url[160];
    httpd_url(HTTPD, "/delay/100000", url, sizeof url);
    asyncio_future_t *pw = spawn_named(proc_waiter, proc, "waiting-child");
    asyncio_future_t *hg = spawn_named(http_getter, url, "fetcher");
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    asyncio_future_t *fw = spawn_named(fd_waiter, (void *)(intptr_t)p[0], "fd-waiter");
    /* The transfer starts with the loop's next poll: wait until the dump
     * shows it waiting (no timing assumption, just polls). */
    char *text = NULL, line[512];
    for (int i = 0;; i++) {
        asyncio_sleep(0.001);
        free(text);
        text = dump();
        task_line(text, "fetcher", line, sizeof line);
        if (strstr(line, "HTTP transfer") || i > 100000)
            break;
    }
    char expect[256];
    assert_has(line, "in HTTP transfer: <");
    snprintf(expect, sizeof expect, "%s>", url);
    assert_has(line, expect);
    assert_has(task_line(text, "waiting-child", line, sizeof line), "in Process.wait(): <Process ");
    snprintf(expect, sizeof expect, "<Process %d running>", asyncio_process_pid(proc));
    assert_has(line, expect);
    assert_has(task_line(text, "fd-waiter", line, sizeof line), "in wait_readable(): ");
    snprintf(expect, sizeof expect, "<file descriptor %d>", p[0]);
    assert_has(line, expect);
    free(text);
    asyncio_cancel(hg, NULL);
    asyncio_await(hg, NULL);
    asyncio_cancel(fw, NULL);
    asyncio_await(fw, NULL);
    asyncio_decref(fw);
    close(p[0]);
    close(p[1]);
    asyncio_process_kill(proc);
    asyncio_await(pw, NULL);
    tu_clear_all();
    asyncio_decref(pw);
    asyncio_decref(hg);
    asyncio_process_free(proc);
    return NULL;
}

START_TEST(test_dump_io)
{
    HTTPD = httpd_start();
    tu_run_ok(io_main, NULL);
    httpd_stop(HTTPD);
}
END_TEST

/* ---------------------------------------------------------------- debug mode */

static __attribute__((noinline)) void *debug_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_debug(asyncio_get_running_loop(), true);
    asyncio_future_t *t = spawn_named(sleeper_fn, NULL, "made-in-debug");
    tu_yield();
    char *text = print_stack(t), block[4096];
    assert_has(text, "created at:");
    /* The creation site is this function, not the library's create. */
    const char *created = strstr(text, "created at:");
    const char *suspended = strstr(text, "suspended at:");
    ck_assert_ptr_nonnull(suspended);
    ck_assert(created < suspended);
    size_t n = (size_t)(suspended - created);
    memcpy(block, created, n < sizeof block ? n : sizeof block - 1);
    block[n < sizeof block ? n : sizeof block - 1] = '\0';
    assert_has(block, "#0  ");
    assert_has(block, "in debug_main at tests/check_introspect.c:");
    assert_lacks(block, "asyncio_create_task");
    free(text);
    asyncio_cancel(t, NULL);
    asyncio_await(t, NULL);
    tu_clear_all();
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_creation_site_in_debug_mode)
{
    tu_run_ok(debug_main, NULL);
}
END_TEST

static void *no_debug_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = spawn_named(sleeper_fn, NULL, "plain");
    tu_yield();
    char *text = print_stack(t);
    assert_lacks(text, "created at:");
    free(text);
    asyncio_cancel(t, NULL);
    asyncio_await(t, NULL);
    tu_clear_all();
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_no_creation_site_without_debug)
{
    tu_run_ok(no_debug_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------- errors */

static void *errors_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_task_print_stack(NULL, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_task_print_stack(f, NULL), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "the future is not a task");
    asyncio_error_clear();
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_set_dump_signal(NULL, -1), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_set_dump_signal(NULL, SIGKILL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_set_dump_signal(NULL, 0), 0); /* off: harmless */
    return NULL;
}

START_TEST(test_errors)
{
    tu_run_ok(errors_main, NULL);
    ck_assert_int_eq(asyncio_dump_tasks(NULL), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
}
END_TEST

/* ---------------------------------------------------------------- the dump signal */

/* stderr into a file for a while. */
typedef struct capture {
    char path[64];
    int saved, fd;
} capture_t;

static void capture_start(capture_t *c)
{
    strcpy(c->path, "/tmp/casyncio-dump.XXXXXX");
    c->fd = mkstemp(c->path);
    ck_assert_int_ge(c->fd, 0);
    fflush(stderr);
    c->saved = dup(2);
    dup2(c->fd, 2);
}

static char *capture_read(capture_t *c)
{
    fflush(stderr);
    FILE *f = fopen(c->path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void capture_end(capture_t *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    close(c->fd);
    unlink(c->path);
}

static capture_t CAP;

/* Sends signum to the process and lets the loop run until the dump is
 * written. */
static char *signal_and_wait(int signum)
{
    kill(getpid(), signum);
    char *text = NULL;
    for (int i = 0; i < 100000; i++) {
        asyncio_sleep(0.001);
        free(text);
        text = capture_read(&CAP);
        if (strstr(text, "casyncio: end of task dump"))
            break;
    }
    return text;
}

static void *signal_main(void *arg)
{
    int signum = (int)(intptr_t)arg;
    if (signum == SIGUSR1)
        ck_assert_int_eq(asyncio_loop_set_dump_signal(NULL, SIGUSR1), 0);
    asyncio_future_t *t = spawn_named(sleeper_fn, NULL, "signalled");
    tu_yield();
    char *text = signal_and_wait(signum);
    assert_has(text, "unfinished tasks in loop");
    assert_has(text, "Task 'signalled' coro=sleeper_fn(): waiting ");
    assert_has(text, "in sleeper_fn at tests/check_introspect.c:");
    free(text);
    asyncio_cancel(t, NULL);
    asyncio_await(t, NULL);
    tu_clear_all();
    asyncio_decref(t);
    if (signum == SIGUSR1)
        ck_assert_int_eq(asyncio_loop_set_dump_signal(NULL, 0), 0);
    return NULL;
}

START_TEST(test_dump_signal)
{
    capture_start(&CAP);
    tu_run_ok(signal_main, IP(SIGUSR1));
    capture_end(&CAP);
}
END_TEST

START_TEST(test_dump_signal_env)
{
    setenv("ASYNCIO_DUMP_SIGNAL", "SIGUSR2", 1);
    capture_start(&CAP);
    tu_run_ok(signal_main, IP(SIGUSR2));
    capture_end(&CAP);
}
END_TEST

static void *nothing(void *arg)
{
    return arg;
}

START_TEST(test_dump_signal_env_bad)
{
    setenv("ASYNCIO_DUMP_SIGNAL", "SIGBOGUS", 1);
    capture_start(&CAP);
    tu_run_ok(nothing, NULL);
    tu_run_ok(nothing, NULL);
    char *text = capture_read(&CAP);
    capture_end(&CAP);
    assert_has(text, "casyncio: ignoring ASYNCIO_DUMP_SIGNAL=SIGBOGUS");
    /* Said once per process. */
    ck_assert_ptr_null(strstr(strstr(text, "ignoring") + 1, "ignoring"));
    free(text);
}
END_TEST

Suite *introspect_suite(void)
{
    Suite *s = suite_create("introspect");
    TCase *tc = tcase_create("dumps");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dump_waits);
    tcase_add_test(tc, test_dump_library_futures);
    tcase_add_test(tc, test_dump_io);
    tcase_add_test(tc, test_creation_site_in_debug_mode);
    tcase_add_test(tc, test_no_creation_site_without_debug);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_dump_signal);
    tcase_add_test(tc, test_dump_signal_env);
    tcase_add_test(tc, test_dump_signal_env_bad);
    suite_add_tcase(s, tc);
    return s;
}
