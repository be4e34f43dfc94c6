/*
 * The deadlock report: when no task can ever run again, asyncio_run and
 * run_until_complete write "every task is waiting and nothing can wake
 * them" with the task dump to stderr and fail with RuntimeError; when
 * something could still wake a task (a thread that may post, a timer, a
 * child process, a signal handler, an executor job), they go on waiting.
 *
 * stderr is captured in a file for each test (fork mode: the test's own
 * process).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT "casyncio: every task is waiting and nothing can wake them"
#define MESSAGE "every task is waiting and nothing can wake them"

/* stderr into a file for the test. */
static char cap_path[64];
static int cap_saved = -1, cap_fd = -1;

static void capture_start(void)
{
    tu_setup();
    strcpy(cap_path, "/tmp/casyncio-deadlock.XXXXXX");
    cap_fd = mkstemp(cap_path);
    ck_assert_int_ge(cap_fd, 0);
    fflush(stderr);
    cap_saved = dup(2);
    dup2(cap_fd, 2);
}

/* What stderr got so far (free it). */
static char *captured(void)
{
    fflush(stderr);
    FILE *f = fopen(cap_path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, 2);
    close(cap_saved);
    close(cap_fd);
    unlink(cap_path);
    tu_teardown();
}

#define assert_has(text, needle)                                                                   \
    ck_assert_msg(strstr((text), (needle)) != NULL, "missing \"%s\" in:\n%s", (needle), (text))

/* Runs main; asserts asyncio_run failed with the deadlock's RuntimeError
 * and that stderr has the report; returns what stderr got. */
static char *run_deadlocked(asyncio_coro_fn main, void *arg)
{
    int rc = asyncio_run(main, arg, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(tu_raised_message(), MESSAGE);
    asyncio_error_clear();
    char *text = captured();
    assert_has(text, REPORT);
    assert_has(text, "casyncio: end of task dump");
    return text;
}

static void run_alive(asyncio_coro_fn main, void *arg)
{
    tu_run_ok(main, arg);
    char *text = captured();
    ck_assert_msg(strstr(text, REPORT) == NULL, "false deadlock report:\n%s", text);
    free(text);
}

/* ---------------------------------------------------------------- deadlocks */

static asyncio_lock_t *LOCK;
static asyncio_event_t *EVENT;
static asyncio_queue_t *QUEUE;

static __attribute__((noinline)) void *hold_lock_forever(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_lock_acquire(LOCK), 0);
    asyncio_event_wait(EVENT); /* never set: the lock is never released */
    asyncio_lock_release(LOCK);
    return NULL;
}

static __attribute__((noinline)) void *lock_main(void *arg)
{
    (void)arg;
    asyncio_future_t *holder = tu_spawn(hold_lock_forever, NULL);
    tu_yield();
    if (asyncio_lock_acquire(LOCK) == 0) /* cancelled at shutdown */
        asyncio_lock_release(LOCK);
    asyncio_decref(holder);
    return NULL;
}

START_TEST(test_lock_never_released)
{
    LOCK = asyncio_lock_new();
    EVENT = asyncio_event_new();
    char *text = run_deadlocked(lock_main, NULL);
    assert_has(text, "Task 'Task-1' coro=lock_main(): waiting ");
    assert_has(text, "in Lock.acquire(): <Lock ");
    assert_has(text, "[locked, waiters:1]>");
    assert_has(text, "in lock_main at tests/check_deadlock.c:");
    assert_has(text, "coro=hold_lock_forever(): waiting ");
    assert_has(text, "in Event.wait(): <Event ");
    assert_has(text, "in hold_lock_forever at tests/check_deadlock.c:");
    free(text);
    asyncio_lock_free(LOCK);
    asyncio_event_free(EVENT);
}
END_TEST

static __attribute__((noinline)) void *queue_main(void *arg)
{
    (void)arg;
    asyncio_queue_get(QUEUE, NULL);
    return NULL;
}

START_TEST(test_queue_nobody_puts_to)
{
    QUEUE = asyncio_queue_new(0);
    char *text = run_deadlocked(queue_main, NULL);
    assert_has(text, "in Queue.get(): <Queue ");
    assert_has(text, "getters[1]");
    assert_has(text, "in queue_main at tests/check_deadlock.c:");
    free(text);
    asyncio_queue_free(QUEUE);
}
END_TEST

static __attribute__((noinline)) void *event_main(void *arg)
{
    (void)arg;
    asyncio_event_wait(EVENT);
    return NULL;
}

START_TEST(test_event_never_set)
{
    EVENT = asyncio_event_new();
    char *text = run_deadlocked(event_main, NULL);
    assert_has(text, "in Event.wait(): <Event ");
    assert_has(text, "[unset, waiters:1]>");
    free(text);
    asyncio_event_free(EVENT);
}
END_TEST

static asyncio_future_t *A, *B;

static __attribute__((noinline)) void *await_b(void *arg)
{
    (void)arg;
    asyncio_await(B, NULL);
    return NULL;
}

static __attribute__((noinline)) void *await_a(void *arg)
{
    (void)arg;
    asyncio_await(A, NULL);
    return NULL;
}

static void *each_other_main(void *arg)
{
    (void)arg;
    asyncio_task_opts_t oa = {.name = "A"}, ob = {.name = "B"};
    A = asyncio_create_task_ex(await_b, NULL, &oa);
    B = asyncio_create_task_ex(await_a, NULL, &ob);
    asyncio_await(A, NULL);
    asyncio_decref(A);
    asyncio_decref(B);
    return NULL;
}

START_TEST(test_tasks_awaiting_each_other)
{
    char *text = run_deadlocked(each_other_main, NULL);
    assert_has(text, "Task 'A' coro=await_b(): waiting ");
    assert_has(text, "in await <Task pending name='B'>");
    assert_has(text, "Task 'B' coro=await_a(): waiting ");
    assert_has(text, "in await <Task pending name='A'>");
    assert_has(text, "in await <Task pending name='A'>");
    free(text);
}
END_TEST

/* run_until_complete on a loop the caller owns: a future nobody will
 * complete, no task at all.  The loop stays usable. */
START_TEST(test_run_until_complete)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *fut = asyncio_future_new();
    void *r = (void *)1;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, fut, &r), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(tu_raised_message(), MESSAGE);
    asyncio_error_clear();
    char *text = captured();
    assert_has(text, "casyncio: 0 unfinished tasks in loop");
    free(text);
    ck_assert_int_eq(asyncio_future_set_result(fut, "done"), 0);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, fut, &r), 0);
    ck_assert_str_eq(r, "done");
    asyncio_decref(fut);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* Threads of the library that cannot post (idle executor workers, libuv's
 * thread pool once files were used) do not hide a deadlock. */
static void *quick_job(void *arg)
{
    return arg;
}

static void *after_threads_main(void *arg)
{
    (void)arg;
    void *r;
    ck_assert_int_eq(asyncio_to_thread(quick_job, "x", &r), 0);
    ck_assert_int_eq(asyncio_file_write_all("/dev/null", "x", 1), 0);
    asyncio_event_wait(EVENT);
    return NULL;
}

START_TEST(test_library_threads)
{
#ifdef __SANITIZE_THREAD__
    /* A forked child of ThreadSanitizer that makes threads runs two of
     * its own, and the check knows of one: the report is missed (never
     * wrong), and this test would wait forever. */
    return;
#endif
    EVENT = asyncio_event_new();
    char *text = run_deadlocked(after_threads_main, NULL);
    assert_has(text, "in Event.wait()");
    free(text);
    asyncio_event_free(EVENT);
}
END_TEST

/* ---------------------------------------------------------------- still possible */

typedef struct poster {
    asyncio_loop_t *loop;
    asyncio_future_t *fut;
} poster_t;

static void resolve(void *fut)
{
    asyncio_future_set_result(fut, "posted");
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *late_poster(void *arg)
{
    poster_t *p = arg;
    pause_ms(50); /* the loop has long blocked by then (or not: either way no report) */
    ck_assert_int_eq(asyncio_call_soon_threadsafe(p->loop, resolve, p->fut), 0);
    return NULL;
}

static void *thread_main(void *arg)
{
    (void)arg;
    poster_t p = {asyncio_get_running_loop(), asyncio_future_new()};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, late_poster, &p), 0);
    void *r;
    ck_assert_int_eq(asyncio_await(p.fut, &r), 0);
    ck_assert_str_eq(r, "posted");
    pthread_join(th, NULL);
    asyncio_decref(p.fut);
    return NULL;
}

START_TEST(test_thread_that_could_post)
{
    run_alive(thread_main, NULL);
}
END_TEST

static void *cf_coro(void *arg)
{
    return arg;
}

static void *cf_poster(void *arg)
{
    poster_t *p = arg;
    pause_ms(30);
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(p->loop, cf_coro, "cf");
    void *r;
    ck_assert_int_eq(asyncio_cfuture_result(cf, -1, &r), 0);
    asyncio_cfuture_free(cf);
    ck_assert_int_eq(asyncio_call_soon_threadsafe(p->loop, resolve, p->fut), 0);
    return NULL;
}

static void *cfuture_main(void *arg)
{
    (void)arg;
    poster_t p = {asyncio_get_running_loop(), asyncio_future_new()};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cf_poster, &p), 0);
    ck_assert_int_eq(asyncio_await(p.fut, NULL), 0);
    pthread_join(th, NULL);
    asyncio_decref(p.fut);
    return NULL;
}

START_TEST(test_thread_with_cfuture)
{
    run_alive(cfuture_main, NULL);
}
END_TEST

static void *timer_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.02, resolve, fut)));
    ck_assert_int_eq(asyncio_await(fut, NULL), 0);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_pending_timer)
{
    run_alive(timer_main, NULL);
}
END_TEST

static void *slow_job(void *arg)
{
    pause_ms(30);
    return arg;
}

static void *job_main(void *arg)
{
    (void)arg;
    void *r;
    ck_assert_int_eq(asyncio_to_thread(slow_job, "job", &r), 0);
    ck_assert_str_eq(r, "job");
    return NULL;
}

START_TEST(test_executor_job_in_flight)
{
    run_alive(job_main, NULL);
}
END_TEST

static void *process_main(void *arg)
{
    (void)arg;
    const char *argv[] = {"sh", "-c", "sleep 0.03", NULL};
    asyncio_process_t *p;
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, NULL, &p), 0);
    int code;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, 0);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_child_process)
{
    run_alive(process_main, NULL);
}
END_TEST

/* A signal handler is a wake-up source: another process signals us. */
static void on_usr1(void *fut)
{
    asyncio_future_set_result(fut, NULL);
}

static void *signal_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, on_usr1, fut), 0);
    pid_t parent = getpid(), child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        pause_ms(30);
        kill(parent, SIGUSR1);
        _exit(0);
    }
    ck_assert_int_eq(asyncio_await(fut, NULL), 0);
    waitpid(child, NULL, 0);
    asyncio_remove_signal_handler(NULL, SIGUSR1);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_signal_handler)
{
    run_alive(signal_main, NULL);
}
END_TEST

/* run_forever never reports: stop() may come from a callback later. */
static void stopper(void *loop)
{
    asyncio_loop_stop(loop);
}

START_TEST(test_run_forever_not_checked)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.01, stopper, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    char *text = captured();
    ck_assert_ptr_null(strstr(text, REPORT));
    free(text);
}
END_TEST

Suite *deadlock_suite(void)
{
    Suite *s = suite_create("deadlock");
    TCase *tc = tcase_create("certain");
    tcase_add_checked_fixture(tc, capture_start, capture_end);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lock_never_released);
    tcase_add_test(tc, test_queue_nobody_puts_to);
    tcase_add_test(tc, test_event_never_set);
    tcase_add_test(tc, test_tasks_awaiting_each_other);
    tcase_add_test(tc, test_run_until_complete);
    tcase_add_test(tc, test_library_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("possible");
    tcase_add_checked_fixture(tc, capture_start, capture_end);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_thread_that_could_post);
    tcase_add_test(tc, test_thread_with_cfuture);
    tcase_add_test(tc, test_pending_timer);
    tcase_add_test(tc, test_executor_job_in_flight);
    tcase_add_test(tc, test_child_process);
    tcase_add_test(tc, test_signal_handler);
    tcase_add_test(tc, test_run_forever_not_checked);
    suite_add_tcase(s, tc);
    return s;
}
