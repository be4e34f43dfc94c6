/*
 * Regressions: each test is a defect found by reviewing the core, kept so
 * that it stays fixed.  Most were memory errors: they fail plainly here
 * and loudly under ASan and Valgrind (check-asan, check-valgrind).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int reports;

static void count_reports(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (void)arg;
    reports++;
}

/* Debug mode reported a slow step after its task had finished and been
 * freed (the loop held the last reference). */
static void *slow_step(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 120 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return NULL;
}

static void *fire_and_forget_slow(void *arg)
{
    asyncio_task_opts_t opts = {.name = arg};
    asyncio_decref(asyncio_create_task_ex(slow_step, NULL, &opts));
    ck_assert_int_eq(asyncio_sleep(0.2), 0);
    return NULL;
}

START_TEST(test_debug_report_of_a_finished_task)
{
    /* Named and unnamed: the report must use neither a freed name nor
     * make a name for a freed task. */
    static const char *names[2] = {"worker", NULL};
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_loop_set_debug(loop, true);
    asyncio_future_t *main_task = asyncio_create_task(fire_and_forget_slow, (void *)names[_i]);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, main_task, NULL), 0);
    asyncio_decref(main_task);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* asyncio_run restored the thread's current loop to one its main had
 * closed meanwhile. */
static asyncio_loop_t *outer_loop;

static void *close_outer(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_loop_close(outer_loop), 0);
    return NULL;
}

START_TEST(test_current_loop_closed_inside_run)
{
    outer_loop = asyncio_loop_new();
    ck_assert_int_eq(asyncio_run(close_outer, NULL, NULL), 0);
    ck_assert_ptr_null(asyncio_future_new()); /* no loop: a clean RuntimeError */
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

/* asyncio_loop_close swallowed the caller's raised error, reporting it as
 * "Exception in callback". */
static void *fails(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "boom");
}

static void *spins(void *arg)
{
    (void)arg;
    while (asyncio_sleep(0) == 0)
        ;
    return NULL;
}

START_TEST(test_close_keeps_the_callers_error)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_loop_set_exception_handler(loop, count_reports, NULL);
    asyncio_future_t *busy = asyncio_create_task(spins, NULL);
    asyncio_future_t *t = asyncio_create_task(fails, NULL);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "boom");
    asyncio_error_clear();
    asyncio_decref(t);
    asyncio_decref(busy);
}
END_TEST

/* asyncio_call let the called coroutine's own catch free the caller's
 * caught error: `except ValueError as e: await log_it(); raise`. */
static void *catches_its_own(void *arg)
{
    (void)arg;
    asyncio_raise("KeyError", "inner");
    ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
    return NULL;
}

static void *reraise_after_call(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "outer");
    const asyncio_error_t *e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(asyncio_call(catches_its_own, NULL, NULL), 0);
    ck_assert_str_eq(e->message, "outer"); /* still the caller's */
    return asyncio_reraise();
}

START_TEST(test_call_keeps_the_callers_caught_error)
{
    ck_assert_int_eq(asyncio_run(reraise_after_call, NULL, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "outer");
    asyncio_error_clear();
}
END_TEST

/* A gather (or a shield) left pending at close kept itself, its child and
 * the loop alive: the counting allocator sees the leak, and the allocator
 * could no longer be changed. */
START_TEST(test_pending_gather_and_shield_at_close)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_decref(asyncio_gather_future(&f, 1, 0));
    asyncio_decref(asyncio_shield(f));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_decref(f);
    tu_assert_no_leak();
}
END_TEST

/* Cancelling one of two tasks that await each other recursed until the
 * stack overflowed. */
static asyncio_future_t *peer[2];

static void *await_peer(void *arg)
{
    asyncio_future_t *other = NULL;
    while (!(other = peer[PI(arg) ^ 1]))
        if (asyncio_sleep(0) != 0)
            return NULL;
    asyncio_await(other, NULL);
    return NULL;
}

static void *mutual_main(void *arg)
{
    (void)arg;
    peer[0] = asyncio_create_task(await_peer, IP(0));
    peer[1] = asyncio_create_task(await_peer, IP(1));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert(asyncio_cancel(peer[0], NULL));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert(asyncio_done(peer[0]) && asyncio_done(peer[1]));
    asyncio_decref(peer[0]);
    asyncio_decref(peer[1]);
    return NULL;
}

START_TEST(test_cancel_tasks_awaiting_each_other)
{
    ck_assert_int_eq(asyncio_run(mutual_main, NULL, NULL), 0);
}
END_TEST

/* cancel() of a task that already failed counts as looking at it (Python
 * clears _log_traceback first): no "never retrieved" report. */
static void *cancel_done_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_reports, NULL);
    asyncio_future_t *t = asyncio_create_task(fails, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_done(t));
    ck_assert(!asyncio_cancel(t, NULL));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancel_of_a_failed_task_retrieves)
{
    reports = 0;
    ck_assert_int_eq(asyncio_run(cancel_done_main, NULL, NULL), 0);
    ck_assert_int_eq(reports, 0);
}
END_TEST

/* asyncio_run kept using its default executor after something run during
 * its shutdown had replaced it (and so freed it). */
static asyncio_loop_t *shutdown_loop;

static void replace_default(void *arg)
{
    (void)arg;
    asyncio_loop_set_default_executor(shutdown_loop, NULL);
}

static void *posts_then_lingers(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    asyncio_call_soon_threadsafe(shutdown_loop, replace_default, NULL);
    usleep(50 * 1000);
    return NULL;
}

static void *leaves_a_job_running(void *arg)
{
    (void)arg;
    shutdown_loop = asyncio_get_running_loop();
    asyncio_decref(asyncio_run_in_executor(NULL, posts_then_lingers, NULL));
    return NULL;
}

START_TEST(test_default_executor_replaced_during_run_shutdown)
{
    ck_assert_int_eq(asyncio_run(leaves_a_job_running, NULL, NULL), 0);
}
END_TEST

/* A Condition with a borrowed lock could be freed while a cancelled waiter
 * was still retaking that lock inside asyncio_condition_wait. */
static asyncio_lock_t *cond_lock;
static asyncio_condition_t *cond;

static void *cond_waiter(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_condition_acquire(cond), 0);
    ck_assert_int_eq(asyncio_condition_wait(cond), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert(asyncio_lock_locked(cond_lock));
    ck_assert_int_eq(asyncio_lock_release(cond_lock), 0);
    return NULL;
}

static void *cond_free_main(void *arg)
{
    (void)arg;
    cond_lock = asyncio_lock_new();
    cond = asyncio_condition_new(cond_lock);
    asyncio_future_t *t = tu_spawn(cond_waiter, NULL);
    tu_yield();
    tu_yield();
    ck_assert_int_eq(asyncio_lock_acquire(cond_lock), 0);
    ck_assert(asyncio_cancel(t, NULL));
    tu_yield();
    tu_yield(); /* the waiter now waits for the lock, inside condition_wait */
    asyncio_condition_free(cond);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_lock_release(cond_lock), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    asyncio_condition_free(cond);
    ck_assert_ptr_null(asyncio_error());
    asyncio_lock_free(cond_lock);
    return NULL;
}

START_TEST(test_condition_free_while_waiter_retakes_lock)
{
    tu_run_ok(cond_free_main, NULL);
}
END_TEST

Suite *regress_suite(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("review");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_loop_test(tc, test_debug_report_of_a_finished_task, 0, 2);
    tcase_add_test(tc, test_current_loop_closed_inside_run);
    tcase_add_test(tc, test_close_keeps_the_callers_error);
    tcase_add_test(tc, test_call_keeps_the_callers_caught_error);
    tcase_add_test(tc, test_pending_gather_and_shield_at_close);
    tcase_add_test(tc, test_cancel_tasks_awaiting_each_other);
    tcase_add_test(tc, test_cancel_of_a_failed_task_retrieves);
    tcase_add_test(tc, test_default_executor_replaced_during_run_shutdown);
    tcase_add_test(tc, test_condition_free_while_waiter_retakes_lock);
    suite_add_tcase(s, tc);
    return s;
}
