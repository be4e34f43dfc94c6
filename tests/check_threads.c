/*
 * Loops in several threads: four loops posting to each other, plain
 * threads handing coroutines to a loop (run_coroutine_threadsafe), the
 * concurrent future's timeout, cancel and free, a loop closing under a
 * pending request, one executor serving loops in several threads.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ four loops */

enum { NLOOPS = 4 };

static asyncio_loop_t *_Atomic loops[NLOOPS];
static pthread_barrier_t loops_ready;
static long per_loop;
static long got[NLOOPS];       /* each touched by its loop's thread only */
static long order_bad[NLOOPS]; /* idem */
static atomic_int all_received;

static void receive(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int to = (int)(v >> 32);
    long seq = (long)(v & 0xffffffffu);
    ck_assert_ptr_eq(asyncio_get_running_loop(), atomic_load(&loops[to]));
    if (seq != got[to])
        order_bad[to]++;
    if (++got[to] == per_loop)
        atomic_fetch_add(&all_received, 1);
}

static void *ring_main(void *arg)
{
    int me = (int)PI(arg);
    int to = (me + 1) % NLOOPS;
    atomic_store(&loops[me], asyncio_get_running_loop());
    pthread_barrier_wait(&loops_ready);
    asyncio_loop_t *dest = atomic_load(&loops[to]);
    for (long i = 0; i < per_loop; i++) {
        ck_assert_int_eq(asyncio_call_soon_threadsafe(
                             dest, receive, (void *)(((uintptr_t)to << 32) | (uintptr_t)i)),
                         0);
        if (i % 64 == 0)
            asyncio_sleep(0); /* serve what the others post meanwhile */
    }
    /* Every loop stays up until every loop got all it was sent. */
    for (int i = 0; i < 20000 && atomic_load(&all_received) < NLOOPS; i++)
        asyncio_sleep(0.0005);
    ck_assert_int_eq(atomic_load(&all_received), NLOOPS);
    ck_assert_int_eq(got[me], per_loop);
    ck_assert_int_eq(order_bad[me], 0);
    return NULL;
}

static void *ring_thread(void *arg)
{
    int rc = asyncio_run(ring_main, arg, NULL);
    return IP(rc);
}

START_TEST(test_four_loops_post_to_each_other)
{
    per_loop = tu_scaled(10000);
    atomic_store(&all_received, 0);
    pthread_barrier_init(&loops_ready, NULL, NLOOPS);
    pthread_t th[NLOOPS];
    for (int i = 0; i < NLOOPS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, ring_thread, IP(i)), 0);
    for (int i = 0; i < NLOOPS; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_int_eq(PI(rc), 0);
    }
    pthread_barrier_destroy(&loops_ready);
}
END_TEST

/* ------------------------------------------------------------ run_coroutine_threadsafe */

enum { NPLAIN = 8 };
static asyncio_loop_t *_Atomic the_loop;
static long per_plain;
static atomic_int plain_done;

static void *coro_plus(void *arg)
{
    if (asyncio_sleep(0) < 0)
        return NULL;
    return IP(PI(arg) + 1);
}

static void *coro_fail(void *arg)
{
    return asyncio_raise("ValueError", "failed with %ld", (long)PI(arg));
}

static void *plain_thread(void *arg)
{
    long base = PI(arg) * 1000000;
    asyncio_loop_t *loop = atomic_load(&the_loop);
    long bad = 0;
    for (long i = 0; i < per_plain; i++) {
        asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, coro_plus, IP(base + i));
        ck_assert_ptr_nonnull(cf);
        void *res = NULL;
        ck_assert_int_eq(asyncio_cfuture_result(cf, -1, &res), 0);
        bad += PI(res) != base + i + 1;
        ck_assert(asyncio_cfuture_done(cf));
        asyncio_cfuture_free(cf);
    }
    /* An exception crosses with its type and message. */
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, coro_fail, IP(base));
    ck_assert_int_eq(asyncio_cfuture_result(cf, 10.0, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    char want[64];
    snprintf(want, sizeof want, "failed with %ld", base);
    ck_assert_str_eq(asyncio_error()->message, want);
    asyncio_error_clear();
    asyncio_cfuture_free(cf);
    atomic_fetch_add(&plain_done, 1);
    return IP(bad);
}

static void *plain_main(void *arg)
{
    (void)arg;
    atomic_store(&the_loop, asyncio_get_running_loop());
    pthread_t th[NPLAIN];
    for (int i = 0; i < NPLAIN; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, plain_thread, IP(i)), 0);
    for (int i = 0; i < 60000 && atomic_load(&plain_done) < NPLAIN; i++)
        asyncio_sleep(0.001);
    for (int i = 0; i < NPLAIN; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        ck_assert_int_eq(PI(bad), 0);
    }
    return NULL;
}

START_TEST(test_run_coroutine_threadsafe_8_threads)
{
    per_plain = tu_scaled(2000);
    atomic_store(&plain_done, 0);
    ck_assert_int_eq(tu_run(plain_main, NULL, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ cfuture */

/* A loop running in a thread of its own until stopped. */
static pthread_t loop_thread;
static atomic_int loop_up;

static void *loop_thread_main(void *arg)
{
    (void)arg;
    asyncio_loop_t *loop = asyncio_loop_new();
    atomic_store(&the_loop, loop);
    atomic_store(&loop_up, 1);
    asyncio_loop_run_forever(loop);
    asyncio_loop_close(loop);
    return NULL;
}

static asyncio_loop_t *start_loop_thread(void)
{
    atomic_store(&loop_up, 0);
    pthread_create(&loop_thread, NULL, loop_thread_main, NULL);
    while (!atomic_load(&loop_up))
        usleep(100);
    return atomic_load(&the_loop);
}

static void stop_cb(void *loop)
{
    asyncio_loop_stop(loop);
}

static void stop_loop_thread(asyncio_loop_t *loop)
{
    ck_assert_int_eq(asyncio_call_soon_threadsafe(loop, stop_cb, loop), 0);
    pthread_join(loop_thread, NULL);
}

static atomic_int saw_cancel, coro_ended;
static atomic_int freed;

static void *slow_coro(void *arg)
{
    int rc = asyncio_sleep((double)PI(arg) / 1000.0);
    if (rc == ASYNCIO_ECANCELLED)
        atomic_fetch_add(&saw_cancel, 1);
    atomic_fetch_add(&coro_ended, 1);
    if (rc)
        return NULL;
    int *p = malloc(sizeof *p);
    *p = 9;
    return p;
}

static void free_counted(void *p)
{
    atomic_fetch_add(&freed, 1);
    free(p);
}

START_TEST(test_cfuture_timeout)
{
    asyncio_loop_t *loop = start_loop_thread();
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(200));
    void *res = NULL;
    double t0 = asyncio_loop_time(NULL);
    ck_assert_int_eq(asyncio_cfuture_result(cf, 0.02, &res), ASYNCIO_ETIMEDOUT);
    double dt = asyncio_loop_time(NULL) - t0;
    ck_assert(dt >= 0.019 && dt < 0.15);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_cfuture_result(cf, 0, &res), ASYNCIO_ETIMEDOUT);
    asyncio_error_clear();
    ck_assert(!asyncio_cfuture_done(cf));
    /* Still running: the result comes. */
    ck_assert_int_eq(asyncio_cfuture_result(cf, -1, &res), 0);
    ck_assert_int_eq(*(int *)res, 9);
    free(res);
    ck_assert_int_eq(asyncio_cfuture_result(cf, 0, &res), 0); /* again */
    ck_assert(!asyncio_cfuture_cancel(cf));
    asyncio_cfuture_free(cf);
    stop_loop_thread(loop);
}
END_TEST

START_TEST(test_cfuture_cancel)
{
    atomic_store(&saw_cancel, 0);
    atomic_store(&coro_ended, 0);
    asyncio_loop_t *loop = start_loop_thread();
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(10000));
    usleep(20000); /* it runs, suspended in its sleep */
    ck_assert(asyncio_cfuture_cancel(cf));
    ck_assert(!asyncio_cfuture_cancel(cf));
    ck_assert(asyncio_cfuture_cancelled(cf));
    ck_assert_int_eq(asyncio_cfuture_result(cf, -1, NULL), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    asyncio_error_clear();
    for (int i = 0; i < 5000 && !atomic_load(&coro_ended); i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&saw_cancel), 1);
    asyncio_cfuture_free(cf);

    /* Cancelled before it starts: it never runs. */
    atomic_store(&coro_ended, 0);
    asyncio_cfuture_t *cfs[50];
    for (int i = 0; i < 50; i++) {
        cfs[i] = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(1));
        ck_assert(asyncio_cfuture_cancel(cfs[i]));
    }
    for (int i = 0; i < 50; i++)
        asyncio_cfuture_free(cfs[i]);
    stop_loop_thread(loop);
    ck_assert_int_le(atomic_load(&coro_ended), 50);
}
END_TEST

START_TEST(test_cfuture_free_unfinished)
{
    atomic_store(&freed, 0);
    atomic_store(&coro_ended, 0);
    asyncio_loop_t *loop = start_loop_thread();
    asyncio_cfuture_t *cf =
        asyncio_run_coroutine_threadsafe_ex(loop, slow_coro, IP(30), free_counted);
    asyncio_cfuture_free(cf); /* not cancelled: it runs on */
    asyncio_cfuture_free(NULL);
    for (int i = 0; i < 5000 && !atomic_load(&freed); i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&coro_ended), 1);
    ck_assert_int_eq(atomic_load(&freed), 1);

    /* Cancelled while running and the coroutine ignores it: its result
     * goes to the destructor. */
    stop_loop_thread(loop);
}
END_TEST

/* The loop closes while requests wait: they end cancelled. */
START_TEST(test_cfuture_loop_closes)
{
    atomic_store(&coro_ended, 0);
    asyncio_loop_t *loop = start_loop_thread();
    asyncio_cfuture_t *running = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(10000));
    usleep(20000);
    asyncio_cfuture_t *late = NULL;
    stop_loop_thread(loop); /* closes it; `running` is unwound */
    ck_assert_int_eq(asyncio_cfuture_result(running, 5.0, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(asyncio_error()->message, "Event loop is closed");
    asyncio_error_clear();
    asyncio_cfuture_free(running);
    late = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(1));
    ck_assert_ptr_null(late);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();

    /* Posted to a loop that never runs, then closed: cancelled. */
    asyncio_loop_t *idle = asyncio_loop_new();
    atomic_store(&the_loop, idle);
    asyncio_cfuture_t *never = asyncio_run_coroutine_threadsafe(idle, slow_coro, IP(1));
    ck_assert_ptr_nonnull(never);
    ck_assert_int_eq(asyncio_loop_close(idle), 0);
    ck_assert_int_eq(asyncio_cfuture_result(never, 1.0, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_cfuture_free(never);
}
END_TEST

/* Never started: created, then the loop stops before its first step. */
static void *stop_now(void *arg)
{
    (void)arg;
    asyncio_loop_stop(asyncio_get_running_loop());
    return NULL;
}
START_TEST(test_cfuture_task_never_started)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, slow_coro, IP(1));
    asyncio_future_t *t = asyncio_create_task(stop_now, NULL);
    asyncio_loop_run_forever(loop); /* runs start: the task is made, not run */
    ck_assert(!asyncio_cfuture_done(cf));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert(asyncio_cfuture_cancelled(cf));
    asyncio_cfuture_free(cf);
    asyncio_decref(t);
}
END_TEST

static void *same_thread_main(void *arg)
{
    (void)arg;
    asyncio_cfuture_t *cf =
        asyncio_run_coroutine_threadsafe(asyncio_get_running_loop(), coro_plus, IP(1));
    ck_assert_ptr_nonnull(cf);
    ck_assert_int_eq(asyncio_cfuture_result(cf, 1.0, NULL), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    void *res = NULL;
    ck_assert_int_eq(asyncio_cfuture_result(cf, 0, &res), 0);
    ck_assert_int_eq(PI(res), 2);
    asyncio_cfuture_free(cf);
    return NULL;
}

START_TEST(test_cfuture_bad_input)
{
    ck_assert_ptr_null(asyncio_run_coroutine_threadsafe(NULL, coro_plus, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_null(asyncio_run_coroutine_threadsafe(loop, NULL, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, coro_plus, IP(1));
    ck_assert_int_eq(asyncio_cfuture_result(cf, NAN, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_cfuture_result(NULL, 1, NULL), ASYNCIO_EVALUE);
    ck_assert(!asyncio_cfuture_cancel(NULL));
    ck_assert(!asyncio_cfuture_done(NULL));
    asyncio_error_clear();
    asyncio_cfuture_free(cf);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert_int_eq(tu_run(same_thread_main, NULL, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ shared executor */

static asyncio_executor_t *shared_ex;

static void *square(void *arg)
{
    return IP(PI(arg) * PI(arg));
}

static void *shared_main(void *arg)
{
    long base = PI(arg);
    for (long i = 0; i < tu_scaled(2000); i++) {
        void *res;
        ck_assert_int_eq(asyncio_to_thread(square, IP(base + i), &res), 0);
        ck_assert_int_eq(PI(res), (base + i) * (base + i));
        asyncio_future_t *f = asyncio_run_in_executor(shared_ex, square, IP(base + i));
        ck_assert_int_eq(asyncio_await(f, &res), 0);
        asyncio_decref(f);
        ck_assert_int_eq(PI(res), (base + i) * (base + i));
    }
    return NULL;
}

static void *shared_thread(void *arg)
{
    return IP(asyncio_run(shared_main, arg, NULL));
}

START_TEST(test_executor_shared_by_loops)
{
    shared_ex = asyncio_executor_new(3);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, shared_thread, IP(i * 10000));
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_int_eq(PI(rc), 0);
    }
    asyncio_executor_free(shared_ex);
}
END_TEST

Suite *threads_suite(void);
Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_four_loops_post_to_each_other);
    tcase_add_test(tc, test_run_coroutine_threadsafe_8_threads);
    tcase_add_test(tc, test_cfuture_timeout);
    tcase_add_test(tc, test_cfuture_cancel);
    tcase_add_test(tc, test_cfuture_free_unfinished);
    tcase_add_test(tc, test_cfuture_loop_closes);
    tcase_add_test(tc, test_cfuture_task_never_started);
    tcase_add_test(tc, test_cfuture_bad_input);
    tcase_add_test(tc, test_executor_shared_by_loops);
    suite_add_tcase(s, tc);
    return s;
}
