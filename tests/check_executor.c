/*
 * The thread-pool executor: results and exceptions across threads,
 * run_in_executor and to_thread, cancellation before a job starts and
 * while it runs (the destructor gets the result), shutdown with and without
 * wait and cancel_futures, the default executor's life with asyncio_run and
 * loop close, many jobs without a leak, bad input.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A gate jobs wait on until the test opens it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int started, finished, freed, ran_cancelled;

static void gate_reset(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = false;
    pthread_mutex_unlock(&gate_lock);
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    atomic_store(&freed, 0);
    atomic_store(&ran_cancelled, 0);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_lock);
}

static void *gated_job(void *arg)
{
    atomic_fetch_add(&started, 1);
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&finished, 1);
    return arg;
}

/* Returns a heap result, for the destructor. */
static void *gated_alloc_job(void *arg)
{
    gated_job(arg);
    int *p = malloc(sizeof *p);
    *p = (int)PI(arg);
    return p;
}

static void free_counted(void *p)
{
    atomic_fetch_add(&freed, 1);
    free(p);
}

static void *never_job(void *arg)
{
    atomic_fetch_add(&ran_cancelled, 1);
    return arg;
}

static void *add_one(void *arg)
{
    return IP(PI(arg) + 1);
}

static void *raise_job(void *arg)
{
    return asyncio_raise(arg ? (const char *)arg : "ValueError", "bad value %d", 42);
}

/* Suspends until cond() or about 5 s pass. */
static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
        asyncio_sleep(0.001);
    ck_assert_int_ge(atomic_load(v), want);
}

static void wait_started(int want)
{
    for (int i = 0; i < 5000 && atomic_load(&started) < want; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&started), want);
}

/* ------------------------------------------------------------ results */

static void *results_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_run_in_executor(NULL, add_one, IP(41));
    ck_assert_ptr_nonnull(f);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(f, &res), 0);
    ck_assert_int_eq(PI(res), 42);
    asyncio_decref(f);

    ck_assert_int_eq(asyncio_to_thread(add_one, IP(1), &res), 0);
    ck_assert_int_eq(PI(res), 2);

    /* Built-in and user types come back with their message. */
    f = asyncio_run_in_executor(NULL, raise_job, NULL);
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "bad value 42");
    asyncio_error_clear();
    asyncio_decref(f);

    ck_assert_int_eq(asyncio_exception_register("JobError", "ValueError"), 0);
    ck_assert_int_eq(asyncio_to_thread(raise_job, "JobError", NULL), ASYNCIO_EEXCEPTION);
    ck_assert_ptr_nonnull(asyncio_catch("ValueError"));
    ck_assert_int_eq(asyncio_to_thread(raise_job, "OSError", NULL), ASYNCIO_EEXCEPTION);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    return IP(7);
}

START_TEST(test_results_and_exceptions)
{
    void *res = NULL;
    ck_assert_int_eq(tu_run(results_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 7);
}
END_TEST

/* Each job starts with a clean indicator, whatever the one before left. */
static void *leave_error(void *arg)
{
    (void)arg;
    asyncio_raise("KeyError", "left behind");
    return NULL;
}
static void *check_clean(void *arg)
{
    (void)arg;
    return IP(asyncio_error() == NULL);
}
static void *clean_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    asyncio_future_t *a = asyncio_run_in_executor(ex, leave_error, NULL);
    asyncio_future_t *b = asyncio_run_in_executor(ex, check_clean, NULL);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(a, NULL), ASYNCIO_EEXCEPTION);
    assert_raised(ASYNCIO_EEXCEPTION, "KeyError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_await(b, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_indicator_cleared_per_job)
{
    asyncio_executor_t *ex = asyncio_executor_new(1);
    ck_assert_int_eq(tu_run(clean_main, ex, NULL), 0);
    asyncio_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------------ cancellation */

static void *cancel_queued_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    asyncio_future_t *busy = asyncio_run_in_executor(ex, gated_job, IP(1));
    asyncio_future_t *queued = asyncio_run_in_executor(ex, never_job, IP(2));
    wait_started(1);
    ck_assert(asyncio_cancel(queued, "stop"));
    ck_assert(asyncio_cancelled(queued));
    ck_assert(!asyncio_cancel(queued, NULL));
    ck_assert_int_eq(asyncio_await(queued, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    gate_release();
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(busy, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    asyncio_decref(busy);
    asyncio_decref(queued);
    return NULL;
}

START_TEST(test_cancel_before_start)
{
    gate_reset();
    asyncio_executor_t *ex = asyncio_executor_new(1);
    ck_assert_int_eq(tu_run(cancel_queued_main, ex, NULL), 0);
    asyncio_executor_free(ex);
    ck_assert_int_eq(atomic_load(&ran_cancelled), 0);
}
END_TEST

/* Cancelling the task awaiting to_thread removes the job not started. */
static void *to_thread_never(void *arg)
{
    (void)arg;
    int rc = asyncio_to_thread(never_job, NULL, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    return NULL;
}
static void *cancel_task_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    asyncio_loop_set_default_executor(asyncio_get_running_loop(), ex);
    ck_assert_ptr_null(asyncio_error());
    asyncio_future_t *busy = asyncio_run_in_executor(NULL, gated_job, NULL);
    wait_started(1);
    asyncio_future_t *t = asyncio_create_task(to_thread_never, NULL);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    gate_release();
    ck_assert_int_eq(asyncio_await(busy, NULL), 0);
    asyncio_decref(busy);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancel_awaiting_task)
{
    gate_reset();
    asyncio_executor_t *ex = asyncio_executor_new(1);
    ck_assert_int_eq(tu_run(cancel_task_main, ex, NULL), 0);
    ck_assert_int_eq(atomic_load(&ran_cancelled), 0);
    /* asyncio_run shut the default down, which was ours. */
    ck_assert_ptr_null(asyncio_run_in_executor(ex, add_one, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_executor_free(ex);
}
END_TEST

static void *cancel_running_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_run_in_executor_ex(NULL, gated_alloc_job, IP(5), free_counted);
    wait_started(1);
    ck_assert(asyncio_cancel(f, NULL));
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(f);
    gate_release();
    wait_for(&freed, 1);
    return NULL;
}

START_TEST(test_cancel_while_running)
{
    gate_reset();
    ck_assert_int_eq(tu_run(cancel_running_main, NULL, NULL), 0);
    ck_assert_int_eq(atomic_load(&freed), 1);
    ck_assert_int_eq(atomic_load(&finished), 1);
}
END_TEST

/* ------------------------------------------------------------ shutdown */

static void *opener(void *arg)
{
    usleep((useconds_t)PI(arg));
    gate_release();
    return NULL;
}

static void *shutdown_cancel_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    asyncio_future_t *a = asyncio_run_in_executor(ex, gated_job, IP(1));
    asyncio_future_t *b = asyncio_run_in_executor(ex, never_job, IP(2));
    wait_started(1);
    asyncio_executor_shutdown(ex, false, true);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_ptr_null(asyncio_run_in_executor(ex, add_one, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(asyncio_error()->message, "cannot schedule new futures after shutdown");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_await(b, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert(!asyncio_done(a));
    gate_release();
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(a, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    asyncio_executor_shutdown(ex, true, true); /* again: harmless */
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_shutdown_cancel_futures)
{
    gate_reset();
    asyncio_executor_t *ex = asyncio_executor_new(1);
    ck_assert_int_eq(tu_run(shutdown_cancel_main, ex, NULL), 0);
    ck_assert_int_eq(atomic_load(&ran_cancelled), 0);
    asyncio_executor_free(ex);
}
END_TEST

static void *shutdown_wait_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    asyncio_future_t *a = asyncio_run_in_executor(ex, gated_job, IP(1));
    asyncio_future_t *b = asyncio_run_in_executor(ex, gated_job, IP(2));
    wait_started(1);
    pthread_t th;
    pthread_create(&th, NULL, opener, IP(50000));
    asyncio_executor_shutdown(ex, true, false); /* blocks: both jobs run */
    ck_assert_int_eq(atomic_load(&finished), 2);
    pthread_join(th, NULL);
    ck_assert_int_eq(asyncio_gather((asyncio_future_t *[]){a, b}, 2, NULL, 0), 0);
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_shutdown_wait)
{
    gate_reset();
    asyncio_executor_t *ex = asyncio_executor_new(1);
    ck_assert_int_eq(tu_run(shutdown_wait_main, ex, NULL), 0);
    asyncio_executor_free(ex);
}
END_TEST

/* asyncio_run waits for the default executor's jobs, running the loop
 * meanwhile (a job may call into it). */
static asyncio_loop_t *run_loop;
static void *coro_add(void *arg)
{
    if (asyncio_sleep(0.001) < 0)
        return NULL;
    return IP(PI(arg) + 100);
}
static void *calls_back_job(void *arg)
{
    (void)arg;
    usleep(20000);
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(run_loop, coro_add, IP(1));
    ck_assert_ptr_nonnull(cf);
    void *res = NULL;
    ck_assert_int_eq(asyncio_cfuture_result(cf, 5.0, &res), 0);
    asyncio_cfuture_free(cf);
    ck_assert_int_eq(PI(res), 101);
    atomic_fetch_add(&finished, 1);
    return NULL;
}
static void *fire_and_forget_main(void *arg)
{
    (void)arg;
    run_loop = asyncio_get_running_loop();
    asyncio_decref(asyncio_run_in_executor(NULL, calls_back_job, NULL));
    return NULL;
}

START_TEST(test_run_waits_for_default_executor)
{
    gate_reset();
    ck_assert_int_eq(tu_run(fire_and_forget_main, NULL, NULL), 0);
    ck_assert_int_eq(atomic_load(&finished), 1);
}
END_TEST

/* loop.close() without asyncio_run: jobs running are orphaned, their
 * results reach the destructor, the executor outlives the loop. */
START_TEST(test_loop_close_orphans_jobs)
{
    gate_reset();
    asyncio_executor_t *ex = asyncio_executor_new(2);
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *a = asyncio_run_in_executor_ex(ex, gated_alloc_job, IP(1), free_counted);
    asyncio_future_t *b = asyncio_run_in_executor_ex(NULL, gated_alloc_job, IP(2), free_counted);
    asyncio_future_t *c = asyncio_run_in_executor_ex(ex, gated_alloc_job, IP(3), free_counted);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    wait_started(3);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    gate_release();
    asyncio_executor_free(ex); /* waits for a and c */
    for (int i = 0; i < 5000 && atomic_load(&freed) < 3; i++)
        usleep(1000);
    ck_assert_int_eq(atomic_load(&freed), 3);
    ck_assert(!asyncio_done(a));
    asyncio_decref(a);
    asyncio_decref(b);
    asyncio_decref(c);
    /* The loop's default executor goes with its last worker. */
    for (int i = 0; i < 5000 && tu_alloc_live() > 0; i++)
        usleep(1000);
}
END_TEST

/* A job that finished before close but whose outcome was not delivered. */
START_TEST(test_loop_close_undelivered)
{
    asyncio_executor_t *ex = asyncio_executor_new(1);
    asyncio_loop_t *loop = asyncio_loop_new();
    gate_reset();
    gate_release();
    asyncio_future_t *a = asyncio_run_in_executor_ex(ex, gated_alloc_job, IP(1), free_counted);
    asyncio_executor_shutdown(ex, true, false); /* done and posted, not run */
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert_int_eq(atomic_load(&freed), 1);
    asyncio_decref(a);
    asyncio_executor_free(ex);
}
END_TEST

/* ------------------------------------------------------------ many jobs */

static void *many_main(void *arg)
{
    long n = PI(arg);
    asyncio_future_t **f = calloc((size_t)n, sizeof *f);
    void **res = calloc((size_t)n, sizeof *res);
    for (long i = 0; i < n; i++) {
        f[i] = asyncio_run_in_executor(NULL, add_one, IP(i));
        ck_assert_ptr_nonnull(f[i]);
    }
    ck_assert_int_eq(asyncio_gather(f, (size_t)n, res, 0), 0);
    long bad = 0;
    for (long i = 0; i < n; i++) {
        bad += PI(res[i]) != i + 1;
        asyncio_decref(f[i]);
    }
    ck_assert_int_eq(bad, 0);
    free(f);
    free(res);
    /* And some cancelled at random points. */
    for (long i = 0; i < n / 10; i++) {
        asyncio_future_t *g =
            asyncio_run_in_executor_ex(NULL, gated_alloc_job, IP(i), free_counted);
        if (i % 3 == 0)
            asyncio_sleep(0);
        if (!asyncio_cancel(g, NULL)) { /* it was done: the result is ours */
            void *r = NULL;
            ck_assert_int_eq(asyncio_result(g, &r), 0);
            free_counted(r);
        }
        asyncio_decref(g);
    }
    return NULL;
}

START_TEST(test_many_jobs)
{
    gate_reset();
    gate_release();
    ck_assert_int_eq(tu_run(many_main, IP(tu_scaled(100000)), NULL), 0);
    ck_assert_int_eq(atomic_load(&freed), atomic_load(&finished));
}
END_TEST

/* ------------------------------------------------------------ bad input */

static void *bad_main(void *arg)
{
    asyncio_executor_t *freed_ex = arg;
    ck_assert_ptr_null(asyncio_run_in_executor(NULL, NULL, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_ptr_null(asyncio_run_in_executor(freed_ex, add_one, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_int_eq(asyncio_to_thread(NULL, NULL, NULL), ASYNCIO_EVALUE);
    asyncio_executor_shutdown(freed_ex, false, false);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_loop_set_default_executor(asyncio_get_running_loop(), freed_ex);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    tu_clear_all();
    return NULL;
}

START_TEST(test_bad_input)
{
    ck_assert_ptr_null(asyncio_executor_new(0));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_uint_ge(asyncio_executor_default_workers(), 5);
    ck_assert_uint_le(asyncio_executor_default_workers(), 32);
    ck_assert_ptr_null(asyncio_run_in_executor(NULL, add_one, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_int_eq(asyncio_to_thread(add_one, NULL, NULL), ASYNCIO_ERUNTIME);
    asyncio_executor_shutdown(NULL, true, true);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    tu_clear_all();
    asyncio_executor_free(NULL);
    ck_assert_ptr_null(asyncio_error());

    /* A freed executor is refused, with another still alive (so the
     * registry is) and with none. */
    asyncio_executor_t *keep = asyncio_executor_new(1);
    asyncio_executor_t *ex = asyncio_executor_new(3);
    asyncio_executor_free(ex);
    ck_assert_int_eq(tu_run(bad_main, ex, NULL), 0);
    asyncio_executor_free(keep);
    asyncio_executor_shutdown(keep, true, false);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

/* Allocation failures in run_in_executor: nothing leaks, the error is
 * MemoryError. */
static void *chaos_main(void *arg)
{
    (void)arg;
    for (long n = 1; n < 20; n++) {
        tu_alloc_fail_at(n);
        asyncio_future_t *f = asyncio_run_in_executor(NULL, add_one, IP(n));
        tu_alloc_fail_at(0);
        if (!f) {
            ck_assert(asyncio_error_matches("MemoryError"));
            asyncio_error_clear();
            continue;
        }
        void *res = NULL;
        ck_assert_int_eq(asyncio_await(f, &res), 0);
        ck_assert_int_eq(PI(res), n + 1);
        asyncio_decref(f);
    }
    return NULL;
}

START_TEST(test_alloc_failures)
{
    ck_assert_int_eq(tu_run(chaos_main, NULL, NULL), 0);
}
END_TEST

Suite *executor_suite(void);
Suite *executor_suite(void)
{
    Suite *s = suite_create("executor");
    TCase *tc = tcase_create("executor");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_results_and_exceptions);
    tcase_add_test(tc, test_indicator_cleared_per_job);
    tcase_add_test(tc, test_cancel_before_start);
    tcase_add_test(tc, test_cancel_awaiting_task);
    tcase_add_test(tc, test_cancel_while_running);
    tcase_add_test(tc, test_shutdown_cancel_futures);
    tcase_add_test(tc, test_shutdown_wait);
    tcase_add_test(tc, test_run_waits_for_default_executor);
    tcase_add_test(tc, test_loop_close_orphans_jobs);
    tcase_add_test(tc, test_loop_close_undelivered);
    tcase_add_test(tc, test_many_jobs);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
