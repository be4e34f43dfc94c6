/*
 * Cancellation: before start, while sleeping, while awaiting a future or a
 * task; messages; cancelling()/uncancel(); catching and continuing; cleanup
 * awaits; self-cancellation; asyncio_run's shutdown of leftover tasks.
 *
 * The expected logs are what the Python twins in tests/twins/cancel_*.py
 * print under /usr/bin/python3 (CPython 3.11).
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tu_log_t LOG;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------- */

static int body_ran;

static void *body(void *arg)
{
    (void)arg;
    body_ran = 1;
    tu_logf(&LOG, "body-ran ");
    return NULL;
}

/* Twin: tests/twins/cancel_early.py */
static void *early_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(body, NULL);
    ck_assert_ptr_nonnull(t);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, "early")));
    tu_logf(&LOG, "done-now:%s ", TF(asyncio_done(t)));
    tu_logf(&LOG, "cancelling:%d ", asyncio_task_cancelling(t));
    int rc = asyncio_await(t, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    tu_logf(&LOG, "raised:%s ", tu_raised_message());
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    tu_logf(&LOG, "cancelled:%s", TF(asyncio_cancelled(t)));
    /* Its exception() is its CancelledError. */
    const asyncio_error_t *e = asyncio_exception(t);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, ASYNCIO_ECANCELLED);
    ck_assert_str_eq(e->type, "CancelledError");
    ck_assert_int_eq(asyncio_result(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancel_before_start)
{
    ck_assert_int_eq(asyncio_run(early_main, NULL, NULL), 0);
    ck_assert_int_eq(body_ran, 0);
    tu_assert_log(&LOG, "cancel:True done-now:False cancelling:1 raised:early cancelled:True");
}
END_TEST

static int sleep_rc;

static void *long_sleep(void *arg)
{
    (void)arg;
    sleep_rc = asyncio_sleep(10);
    ck_assert_int_eq(sleep_rc, ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    return NULL; /* propagates: the task ends cancelled */
}

/* Sleeps; whatever ends the sleep propagates. */
static void *long_sleep_quiet(void *arg)
{
    (void)arg;
    asyncio_sleep(10);
    return NULL;
}

static void *sleeping_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(long_sleep, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(!asyncio_done(t));
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(t));
    ck_assert(asyncio_done(t));
    asyncio_decref(t);
    return IP(1);
}

START_TEST(test_cancel_while_sleeping)
{
    double t0 = now();
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(sleeping_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    ck_assert_int_eq(sleep_rc, ASYNCIO_ECANCELLED);
    /* Neither the task nor asyncio_run waited for the 10 s timer. */
    ck_assert_double_lt(now() - t0, 2.0);
}
END_TEST

static void *await_fut(void *arg)
{
    int rc = asyncio_await(arg, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "waiter:%s ", tu_raised_message());
    return NULL;
}

static void *future_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    asyncio_future_t *t = asyncio_create_task(await_fut, fut);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, "m1"));
    /* The awaited future is cancelled at once, as in Python. */
    ck_assert(asyncio_cancelled(fut));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "main:%s", tu_raised_message());
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(t));
    const asyncio_error_t *e = asyncio_exception(fut);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "CancelledError");
    asyncio_decref(t);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_cancel_while_awaiting_future)
{
    ck_assert_int_eq(asyncio_run(future_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "waiter:m1 main:m1");
}
END_TEST

/* Twin: tests/twins/cancel_yield.py */
static void *spinner(void *arg)
{
    (void)arg;
    long n = 0;
    while (asyncio_sleep(0) == 0)
        n++;
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    tu_logf(&LOG, "spinner-cancelled:%s ", e->message);
    return IP(n);
}

static void *yield_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(spinner, NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, "spin")));
    void *n = NULL;
    ck_assert_int_eq(asyncio_await(t, &n), 0);
    tu_logf(&LOG, "spins:%d cancelled:%s", (int)PI(n), TF(asyncio_cancelled(t)));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancel_while_yielding)
{
    ck_assert_int_eq(asyncio_run(yield_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True spinner-cancelled:spin spins:2 cancelled:False");
}
END_TEST

/* Twin: tests/twins/cancel_msg.py */
static void *msg_inner(void *arg)
{
    (void)arg;
    int rc = asyncio_sleep(10);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "inner:%s ", tu_raised_message());
    return asyncio_reraise();
}

static void *msg_outer(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(msg_inner, NULL);
    int rc = asyncio_await(t, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "outer:%s ", tu_raised_message());
    tu_logf(&LOG, "inner-cancelled:%s ", TF(asyncio_cancelled(t)));
    asyncio_decref(t);
    return NULL; /* the CancelledError propagates */
}

static void *msg_main(void *arg)
{
    (void)arg;
    asyncio_future_t *o = asyncio_create_task(msg_outer, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(o, "stop now")));
    ck_assert_int_eq(asyncio_await(o, NULL), ASYNCIO_ECANCELLED);
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    tu_logf(&LOG, "main:%s ", e->message);
    tu_logf(&LOG, "outer-cancelled:%s", TF(asyncio_cancelled(o)));
    asyncio_decref(o);
    return NULL;
}

START_TEST(test_cancel_message_travels)
{
    ck_assert_int_eq(asyncio_run(msg_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True inner:stop now outer:stop now inner-cancelled:True "
                        "main:stop now outer-cancelled:True");
}
END_TEST

/* Twin: tests/twins/cancel_counts.py */
static void *counts_child(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    if (asyncio_sleep(10) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "caught:%d ", asyncio_task_cancelling(me));
        tu_logf(&LOG, "uncancel:%d ", asyncio_task_uncancel(me));
    }
    /* Delivery was one-shot: the next await works. */
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "after-await ");
    tu_logf(&LOG, "uncancel:%d ", asyncio_task_uncancel(me));
    tu_logf(&LOG, "uncancel:%d ", asyncio_task_uncancel(me));
    return IP(42);
}

static void *counts_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(counts_child, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "c0:%d ", asyncio_task_cancelling(t));
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, NULL)));
    tu_logf(&LOG, "c1:%d ", asyncio_task_cancelling(t));
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, NULL)));
    tu_logf(&LOG, "c2:%d ", asyncio_task_cancelling(t));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    tu_logf(&LOG, "result:%d ", (int)PI(res));
    tu_logf(&LOG, "cancelled:%s ", TF(asyncio_cancelled(t)));
    tu_logf(&LOG, "final:%d ", asyncio_task_cancelling(t));
    tu_logf(&LOG, "cancel-done:%s", TF(asyncio_cancel(t, NULL)));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancelling_uncancel)
{
    ck_assert_int_eq(asyncio_run(counts_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "c0:0 cancel:True c1:1 cancel:True c2:2 caught:2 uncancel:1 after-await "
                        "uncancel:0 uncancel:0 result:42 cancelled:False final:0 "
                        "cancel-done:False");
}
END_TEST

/* Catch the CancelledError and go on: later awaits work, the task
 * completes normally with its result. */
static void *catch_continue(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "once");
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(3)), 0);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(f, &res), 0);
    asyncio_decref(f);
    return IP(PI(res) + 4);
}

static void *catch_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(catch_continue, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, "once"));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 7);
    ck_assert(!asyncio_cancelled(t));
    ck_assert_ptr_null(asyncio_exception(t));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_catch_and_continue)
{
    ck_assert_int_eq(asyncio_run(catch_main, NULL, NULL), 0);
}
END_TEST

/* `except CancelledError: await sleep(0.01); raise` */
static void *cleanup_reraise(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "cancelled:%s ", tu_raised_message());
    /* Suspending calls work while the error is raised and keep it. */
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    tu_logf(&LOG, "cleaned ");
    return asyncio_reraise();
}

/* The same with an explicit copy: `except CancelledError as e: ...;
 * raise e`. */
static void *cleanup_raise_copy(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    asyncio_error_t *kept = asyncio_error_dup(asyncio_catch("CancelledError"));
    ck_assert_ptr_nonnull(kept);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_ptr_null(asyncio_error());
    asyncio_raise_error(kept);
    asyncio_error_free(kept);
    tu_logf(&LOG, "copy-raised ");
    return NULL;
}

static void *cleanup_main(void *arg)
{
    (void)arg;
    asyncio_coro_fn fns[2] = {cleanup_reraise, cleanup_raise_copy};
    for (int i = 0; i < 2; i++) {
        asyncio_future_t *t = asyncio_create_task(fns[i], NULL);
        ck_assert_int_eq(asyncio_sleep(0), 0);
        ck_assert(asyncio_cancel(t, "bye"));
        ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
        tu_logf(&LOG, "main:%s ", tu_raised_message());
        asyncio_error_clear();
        ck_assert(asyncio_cancelled(t));
        asyncio_decref(t);
    }
    return NULL;
}

START_TEST(test_reraise_after_cleanup)
{
    ck_assert_int_eq(asyncio_run(cleanup_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancelled:bye cleaned main:bye copy-raised main:bye ");
}
END_TEST

static void *fail_now(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "v");
}

static void *done_main(void *arg)
{
    (void)arg;
    asyncio_future_t *ok = asyncio_create_task(body, NULL);
    asyncio_future_t *bad = asyncio_create_task(fail_now, NULL);
    asyncio_future_t *cc = asyncio_create_task(body, NULL);
    ck_assert(asyncio_cancel(cc, NULL));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_done(ok) && asyncio_done(bad) && asyncio_done(cc));
    ck_assert(!asyncio_cancel(ok, "late"));
    ck_assert(!asyncio_cancel(bad, "late"));
    ck_assert(!asyncio_cancel(cc, "late"));
    ck_assert(!asyncio_cancelled(ok));
    ck_assert(!asyncio_cancelled(bad));
    ck_assert(asyncio_cancelled(cc));
    /* Results are untouched. */
    ck_assert_int_eq(asyncio_await(ok, NULL), 0);
    ck_assert_int_eq(asyncio_await(bad, NULL), ASYNCIO_EVALUE);
    ck_assert_ptr_nonnull(asyncio_catch("ValueError"));
    ck_assert_int_eq(asyncio_task_cancelling(ok), 0);
    asyncio_decref(ok);
    asyncio_decref(bad);
    asyncio_decref(cc);
    return NULL;
}

START_TEST(test_cancel_done_task)
{
    ck_assert_int_eq(asyncio_run(done_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/cancel_self.py */
static void *self_await(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "self-cancel:%s ", TF(asyncio_cancel(asyncio_current_task(), "me")));
    tu_logf(&LOG, "still-running ");
    ck_assert_int_eq(asyncio_sleep(0), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "await-raised:%s ", tu_raised_message());
    return NULL;
}

static void *self_return(void *arg)
{
    (void)arg;
    ck_assert(asyncio_cancel(asyncio_current_task(), NULL));
    return IP(5);
}

static void *waiter(void *arg)
{
    void *res = NULL;
    int rc = asyncio_await(arg, &res);
    if (rc == 0)
        tu_logf(&LOG, "waiter-got:%d ", (int)PI(res));
    else
        tu_logf(&LOG, "waiter-cancelled ");
    return NULL;
}

static void *self_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(self_await, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "main:%s ", tu_raised_message());
    asyncio_error_clear();
    tu_logf(&LOG, "t1-cancelled:%s ", TF(asyncio_cancelled(t)));
    asyncio_decref(t);

    t = asyncio_create_task(self_return, NULL);
    if (asyncio_await(t, NULL) == 0) {
        tu_logf(&LOG, "t2-returned ");
    } else {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "t2-cancelled ");
    }
    tu_logf(&LOG, "t2-cancelled:%s ", TF(asyncio_cancelled(t)));
    asyncio_decref(t);

    /* The future completed, then the task was cancelled before it resumed:
     * the result is lost and the task sees CancelledError. */
    asyncio_future_t *fut = asyncio_future_new();
    t = asyncio_create_task(waiter, fut);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_future_set_result(fut, IP(7)), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, NULL)));
    if (asyncio_await(t, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "main-saw-cancel ");
    }
    tu_logf(&LOG, "t3-cancelled:%s ", TF(asyncio_cancelled(t)));
    tu_logf(&LOG, "fut-cancelled:%s", TF(asyncio_cancelled(fut)));
    asyncio_decref(t);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_cancel_self)
{
    ck_assert_int_eq(asyncio_run(self_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "self-cancel:True still-running await-raised:me main:me t1-cancelled:True "
                        "t2-cancelled t2-cancelled:True cancel:True waiter-cancelled "
                        "main-saw-cancel t3-cancelled:True fut-cancelled:False");
}
END_TEST

/* Twin: tests/twins/cancel_leftover.py */
static asyncio_future_t *leftover[2];

static void *looper(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "looper-start ");
    while (asyncio_sleep(0.001) == 0)
        ;
    ck_assert(asyncio_error_matches("CancelledError"));
    tu_logf(&LOG, "looper-cancelled ");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "looper-cleaned ");
    return asyncio_reraise();
}

static void *never(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "never-ran ");
    return NULL;
}

static void *leftover_main(void *arg)
{
    (void)arg;
    leftover[0] = asyncio_create_task(looper, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    leftover[1] = asyncio_create_task(never, NULL);
    tu_logf(&LOG, "main-return ");
    return IP(3);
}

START_TEST(test_run_cancels_leftovers)
{
    void *res = NULL;
    int rc = asyncio_run(leftover_main, NULL, &res);
    tu_logf(&LOG, "run:%d ", (int)PI(res));
    ck_assert_int_eq(rc, 0);
    /* The tasks we still hold stay valid after the loop is closed. */
    ck_assert(asyncio_done(leftover[0]) && asyncio_done(leftover[1]));
    tu_logf(&LOG, "cancelled:%s,%s", TF(asyncio_cancelled(leftover[0])),
            TF(asyncio_cancelled(leftover[1])));
    asyncio_decref(leftover[0]);
    asyncio_decref(leftover[1]);
    tu_assert_log(&LOG, "looper-start main-return never-ran looper-cancelled looper-cleaned run:3 "
                        "cancelled:True,False");
}
END_TEST

/* "Exception" does not catch CancelledError; BaseException and bare
 * except do. */
static void *catch_kinds(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(asyncio_cancel(asyncio_current_task(), "k"), true);
        ck_assert_int_eq(asyncio_sleep(0), ASYNCIO_ECANCELLED);
        ck_assert(!asyncio_error_matches("Exception"));
        ck_assert_ptr_null(asyncio_catch("Exception"));
        ck_assert_ptr_null(asyncio_catch("RuntimeError"));
        ck_assert_ptr_null(asyncio_catch("TimeoutError"));
        ck_assert(asyncio_error_matches("CancelledError"));
        ck_assert(asyncio_error_matches("BaseException"));
        ck_assert(asyncio_error_matches(NULL));
        const asyncio_error_t *e = round == 0   ? asyncio_catch("CancelledError")
                                   : round == 1 ? asyncio_catch("BaseException")
                                                : asyncio_catch(NULL);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->code, ASYNCIO_ECANCELLED);
        ck_assert_ptr_null(asyncio_error());
        asyncio_task_uncancel(asyncio_current_task());
    }
    /* A task whose coroutine caught "Exception" only ends cancelled. */
    ck_assert(asyncio_cancel(asyncio_current_task(), NULL));
    ck_assert_int_eq(asyncio_sleep(0), ASYNCIO_ECANCELLED);
    asyncio_catch("Exception");
    return IP(1);
}

static void *catch_kinds_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(catch_kinds, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(t));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_exception_does_not_catch_cancelled)
{
    ck_assert_int_eq(asyncio_run(catch_kinds_main, NULL, NULL), 0);
}
END_TEST

/* The awaiter of a task cancelled by someone else sees CancelledError but
 * is not itself cancelled: it can go on awaiting. */
static void *third_party(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0.005), 0);
    ck_assert(asyncio_cancel(arg, "from third"));
    return NULL;
}

static void *awaiter_main(void *arg)
{
    (void)arg;
    asyncio_future_t *victim = asyncio_create_task(long_sleep, NULL);
    asyncio_future_t *killer = asyncio_create_task(third_party, victim);
    ck_assert_int_eq(asyncio_await(victim, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(tu_raised_message(), "from third");
    asyncio_error_clear();
    asyncio_future_t *me = asyncio_current_task();
    ck_assert_int_eq(asyncio_task_cancelling(me), 0);
    ck_assert(!asyncio_cancelled(me));
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_int_eq(asyncio_await(killer, NULL), 0);
    asyncio_decref(victim);
    asyncio_decref(killer);
    return IP(9);
}

START_TEST(test_awaiter_not_cancelled)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(awaiter_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 9);
}
END_TEST

/* Twin: tests/twins/cancel_leftover_stubborn.py */
static void *stubborn_leftover(void *arg)
{
    (void)arg;
    if (asyncio_sleep(10) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "stubborn-cancelled ");
    }
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    tu_logf(&LOG, "stubborn-finished ");
    return IP(1);
}

static void *awaiting_leftover(void *arg)
{
    /* Its own reference: the awaited task must outlive the await. */
    asyncio_future_t *s = asyncio_incref(arg);
    void *res = NULL;
    if (asyncio_await(s, &res) == 0)
        tu_logf(&LOG, "awaiting-got:%d ", (int)PI(res));
    else
        tu_logf(&LOG, "awaiting-cancelled ");
    asyncio_decref(s);
    return NULL;
}

static void *stubborn_main(void *arg)
{
    (void)arg;
    asyncio_future_t *s = asyncio_create_task(stubborn_leftover, NULL);
    asyncio_future_t *a = asyncio_create_task(awaiting_leftover, s);
    asyncio_decref(a);
    asyncio_decref(s); /* the loop holds it until done; `a` takes its own */
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main-return ");
    return NULL;
}

START_TEST(test_run_waits_for_stubborn_leftover)
{
    ck_assert_int_eq(asyncio_run(stubborn_main, NULL, NULL), 0);
    tu_logf(&LOG, "run-returned");
    tu_assert_log(&LOG,
                  "main-return stubborn-cancelled stubborn-finished awaiting-got:1 run-returned");
}
END_TEST

/* Twin: tests/twins/cancel_shutdown_error.py */
static void log_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    tu_logf(&LOG, "[%s/%s] ", ctx->message, ctx->exception ? ctx->exception->message : "-");
}

static void *fails_on_cancel(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    return asyncio_raise("ValueError", "during shutdown");
}

static void *shutdown_error_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), log_report, NULL);
    asyncio_decref(asyncio_create_task(fails_on_cancel, NULL));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return IP(8);
}

START_TEST(test_run_leftover_fails_on_cancel)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(shutdown_error_main, NULL, &res), 0);
    tu_logf(&LOG, "run:%d", (int)PI(res));
    tu_assert_log(&LOG,
                  "[unhandled exception during asyncio.run() shutdown/during shutdown] run:8");
}
END_TEST

/* Cancelling asyncio_run's main task: run returns ECANCELLED with the
 * CancelledError in the thread's indicator. */
static void *cancel_main_child(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(arg, "main go"));
    return NULL;
}

static void *cancelled_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(cancel_main_child, asyncio_current_task());
    asyncio_decref(t);
    asyncio_sleep(10);
    return NULL;
}

START_TEST(test_run_main_cancelled)
{
    double t0 = now();
    ck_assert_int_eq(asyncio_run(cancelled_main, NULL, NULL), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    ck_assert_str_eq(tu_raised_message(), "main go");
    asyncio_error_clear();
    ck_assert_double_lt(now() - t0, 2.0);
}
END_TEST

/* asyncio_run's main task cancelling itself and returning normally: the
 * Python 3.11 rule makes it end cancelled, so run returns ECANCELLED. */
static void *self_cancel_main(void *arg)
{
    (void)arg;
    ck_assert(asyncio_cancel(asyncio_current_task(), "bye main"));
    return IP(4);
}

START_TEST(test_run_main_cancels_itself)
{
    void *res = IP(-1);
    ck_assert_int_eq(asyncio_run(self_cancel_main, NULL, &res), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    ck_assert_str_eq(tu_raised_message(), "bye main");
    asyncio_error_clear();
}
END_TEST

/* Twin: tests/twins/cancel_retrieved.py.  The failure a cancelled task
 * never saw still counts as retrieved: no "never retrieved" report. */
static int retrieved_reports;

static void count_reports(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    retrieved_reports++;
    tu_logf(&LOG, "[report:%s] ", ctx->message);
}

static void *await_it(void *arg)
{
    int rc = asyncio_await(arg, NULL);
    if (rc == 0)
        tu_logf(&LOG, "no-error ");
    else if (rc == ASYNCIO_ECANCELLED)
        tu_logf(&LOG, "cancelled ");
    else
        tu_logf(&LOG, "value-error ");
    if (rc != ASYNCIO_ECANCELLED)
        asyncio_error_clear();
    return NULL; /* a CancelledError propagates */
}

static void *fail_child(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "child failed");
}

static void *gather_it(void *arg)
{
    asyncio_future_t *a = arg;
    int rc = asyncio_gather(&a, 1, NULL, 0);
    if (rc == ASYNCIO_ECANCELLED) {
        tu_logf(&LOG, "g-cancelled ");
        return NULL;
    }
    tu_logf(&LOG, rc ? "g-value-error " : "g-no-error ");
    asyncio_error_clear();
    return NULL;
}

static void *retrieved_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_reports, NULL);
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *t = asyncio_create_task(await_it, f);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_future_set_exception(f, "ValueError", "lost"), 0);
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(f);
    asyncio_decref(t);

    asyncio_future_t *a = asyncio_create_task(fail_child, NULL);
    asyncio_future_t *g = asyncio_create_task(gather_it, a);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(g, NULL));
    ck_assert_int_eq(asyncio_await(g, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(a);
    asyncio_decref(g);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    return NULL;
}

START_TEST(test_cancel_after_failure_retrieves)
{
    ck_assert_int_eq(asyncio_run(retrieved_main, NULL, NULL), 0);
    tu_logf(&LOG, "reports:%d", retrieved_reports);
    tu_assert_log(&LOG, "cancelled g-cancelled reports:0");
}
END_TEST

/* Raising CancelledError by name ends a task cancelled. */
static void *raise_cancelled(void *arg)
{
    (void)arg;
    return asyncio_raise("CancelledError", "by name");
}

static void *raise_cancelled_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(raise_cancelled, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(tu_raised_message(), "by name");
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(t));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_raise_cancelled_by_name)
{
    ck_assert_int_eq(asyncio_run(raise_cancelled_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/cancel_cleanup.py, first line.  A second cancel
 * reaches the cleanup's own await. */
static void *stubborn(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    tu_logf(&LOG, "first:%s:%d ", e->message, asyncio_task_cancelling(me));
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "second:%s:%d ", tu_raised_message(), asyncio_task_cancelling(me));
    return NULL;
}

static void *cleanup_cancel_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(stubborn, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, "one"));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, "two"));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "main:%s", tu_raised_message());
    asyncio_error_clear();
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_cancel_during_cleanup)
{
    ck_assert_int_eq(asyncio_run(cleanup_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "first:one:1 second:two:2 main:two");
}
END_TEST

/* Twin: tests/twins/cancel_cleanup.py, second line.  Cancelling a task
 * cancels the future it awaits, so every other task awaiting that future
 * sees CancelledError too. */
struct named_wait {
    const char *name;
    asyncio_future_t *fut;
};

static void *named_waiter(void *arg)
{
    struct named_wait *w = arg;
    ck_assert_int_eq(asyncio_await(w->fut, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "%s:%s ", w->name, tu_raised_message());
    return NULL;
}

static void *shared_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    struct named_wait wa = {"a", f}, wb = {"b", f};
    asyncio_future_t *ts[2] = {asyncio_create_task(named_waiter, &wa),
                               asyncio_create_task(named_waiter, &wb)};
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(ts[0], "shared"));
    ck_assert_int_eq(asyncio_gather(ts, 2, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    tu_logf(&LOG, "f:%s a:%s b:%s cancelling:%d,%d", TF(asyncio_cancelled(f)),
            TF(asyncio_cancelled(ts[0])), TF(asyncio_cancelled(ts[1])),
            asyncio_task_cancelling(ts[0]), asyncio_task_cancelling(ts[1]));
    asyncio_decref(ts[0]);
    asyncio_decref(ts[1]);
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_cancel_shared_future)
{
    ck_assert_int_eq(asyncio_run(shared_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "a:shared b:shared f:True a:True b:True cancelling:1,0");
}
END_TEST

/* Cancelling many tasks at once: all end cancelled, nothing leaks. */
static void *many_main(void *arg)
{
    long n = PI(arg);
    asyncio_future_t **ts = calloc((size_t)n, sizeof *ts);
    for (long i = 0; i < n; i++)
        ts[i] = asyncio_create_task(long_sleep, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    for (long i = 0; i < n; i++)
        ck_assert(asyncio_cancel(ts[i], NULL));
    for (long i = 0; i < n; i++) {
        ck_assert_int_eq(asyncio_await(ts[i], NULL), ASYNCIO_ECANCELLED);
        asyncio_error_clear();
        ck_assert(asyncio_cancelled(ts[i]));
        asyncio_decref(ts[i]);
    }
    free(ts);
    return NULL;
}

START_TEST(test_cancel_many)
{
    ck_assert_int_eq(asyncio_run(many_main, IP(tu_scaled(10000)), NULL), 0);
}
END_TEST

/* Allocation failure anywhere while a task is cancelled and awaited: the
 * task still ends (cancelled, or with MemoryError), nothing leaks. */
static void *cancel_chaos_main(void *arg)
{
    (void)arg;
    for (long n = 1; n <= 40; n++) {
        asyncio_future_t *t = asyncio_create_task(long_sleep_quiet, NULL);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(asyncio_sleep(0), 0);
        tu_alloc_fail_at(n);
        bool accepted = asyncio_cancel(t, "chaos message");
        int rc = asyncio_await(t, NULL);
        tu_alloc_fail_at(0);
        ck_assert(accepted);
        ck_assert_msg(rc == ASYNCIO_ECANCELLED || rc == ASYNCIO_ENOMEM,
                      "allocation %ld: await returned %d", n, rc);
        asyncio_error_clear();
        while (!asyncio_done(t)) {
            asyncio_cancel(t, NULL);
            if (asyncio_await(t, NULL) < 0)
                asyncio_error_clear();
        }
        asyncio_decref(t);
    }
    return NULL;
}

START_TEST(test_cancel_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(cancel_chaos_main, NULL, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Fuzz: pseudo-random awaits, cancels and failures, compared with Python   */

/* Twin: tests/twins/cancel_fuzz.py (same LCG, same log lines; the twin
 * prints the table below).  Set env CASYNCIO_FUZZ_LOG=path to get the C
 * log on a mismatch, and `cancel_fuzz.py --log SEED NOPS` for Python's. */
enum { FZ_N = 60, FZ_M = 8, FZ_K = 12, FZ_ROUNDS = 5 };

static const struct {
    long seed, nops, lines;
    uint64_t hash;
} fuzz_expected[] = {
    {1, 6, 404, 0x4c53ee3ca8fb48d2ull},  {2, 6, 463, 0xe8c20943106d36cfull},
    {3, 6, 395, 0x4ba49e6ae0bf6297ull},  {4, 6, 391, 0x1bbc3afe459ddae5ull},
    {5, 7, 358, 0xb636606da6e7bf11ull},  {6, 7, 358, 0x218cbf7d637f51fdull},
    {7, 7, 430, 0xe8bfc0efb0295b84ull},  {8, 7, 446, 0xc4f67333078b63b6ull},
    {9, 7, 435, 0xe5e17a75993b82a9ull},  {10, 7, 403, 0xa5c7dfb04e707e2bull},
    {11, 7, 411, 0xd04880df16449affull}, {12, 7, 384, 0x2b6315977243cd6bull},
};

static struct {
    long seed, nops;
    asyncio_future_t *tasks[FZ_N];
    asyncio_future_t *futs[FZ_M];
    char *buf;
    size_t len, cap;
    long lines;
} FZ;

static void fz_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fz_log(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof line);
    if (FZ.len + (size_t)n + 2 > FZ.cap) {
        FZ.cap = FZ.cap ? FZ.cap * 2 : 65536;
        FZ.buf = realloc(FZ.buf, FZ.cap);
        ck_assert_ptr_nonnull(FZ.buf);
    }
    if (FZ.lines++)
        FZ.buf[FZ.len++] = '\n';
    memcpy(FZ.buf + FZ.len, line, (size_t)n);
    FZ.len += (size_t)n;
    FZ.buf[FZ.len] = '\0';
}

static unsigned long fz_rnd(uint64_t *st)
{
    *st = (*st * 1103515245u + 12345u) & 0x7fffffffu;
    return (unsigned long)(*st >> 8);
}

static void *fz_worker(void *arg)
{
    long i = PI(arg);
    uint64_t st = (uint64_t)(FZ.seed * 1000 + i);
    for (int k = 0; k < FZ_K; k++) {
        unsigned long op = fz_rnd(&st) % (unsigned long)FZ.nops;
        if (op == 5 && fz_rnd(&st) % 3 == 0) {
            fz_log("%ld.%d fail", i, k);
            return asyncio_raise("ValueError", "v%ld", i);
        }
        int rc = 0;
        void *r = NULL;
        if (op == 0 || op == 5) {
            if ((rc = asyncio_sleep(0)) == 0)
                fz_log("%ld.%d y", i, k);
        } else if (op == 1) {
            long j = (long)(fz_rnd(&st) % FZ_N);
            if (j < i) {
                if ((rc = asyncio_await(FZ.tasks[j], &r)) == 0)
                    fz_log("%ld.%d a%ld=%ld", i, k, j, (long)PI(r));
            } else {
                fz_log("%ld.%d -", i, k);
            }
        } else if (op == 2) {
            long j = (long)(fz_rnd(&st) % FZ_N);
            bool ok = asyncio_cancel(FZ.tasks[j], NULL);
            fz_log("%ld.%d c%ld:%d", i, k, j, ok);
        } else if (op == 3) {
            long m = (long)(fz_rnd(&st) % FZ_M);
            if (!asyncio_done(FZ.futs[m])) {
                ck_assert_int_eq(asyncio_future_set_result(FZ.futs[m], IP(i * 100 + k)), 0);
                fz_log("%ld.%d s%ld", i, k, m);
            } else {
                fz_log("%ld.%d s%ld:done", i, k, m);
            }
        } else if (op == 4) {
            long m = (long)(fz_rnd(&st) % FZ_M);
            if ((rc = asyncio_await(FZ.futs[m], &r)) == 0)
                fz_log("%ld.%d f%ld=%ld", i, k, m, (long)PI(r));
        } else {
            long j1 = (long)(fz_rnd(&st) % FZ_N), j2 = (long)(fz_rnd(&st) % FZ_N);
            if (j1 < i && j2 < i) {
                asyncio_future_t *two[2] = {FZ.tasks[j1], FZ.tasks[j2]};
                void *rs[2];
                if ((rc = asyncio_gather(two, 2, rs, 0)) == 0)
                    fz_log("%ld.%d g%ld,%ld=%ld,%ld", i, k, j1, j2, (long)PI(rs[0]),
                           (long)PI(rs[1]));
            } else {
                fz_log("%ld.%d -", i, k);
            }
        }
        if (rc == 0)
            continue;
        if (asyncio_error_matches("CancelledError")) {
            unsigned long swallow = fz_rnd(&st) % 2;
            fz_log("%ld.%d X%lu", i, k, swallow);
            if (!swallow)
                return NULL;
            asyncio_error_clear();
        } else {
            const asyncio_error_t *e = asyncio_catch("ValueError");
            ck_assert_msg(e != NULL, "unexpected %s", asyncio_error()->type);
            fz_log("%ld.%d V%s", i, k, e->message);
        }
    }
    return IP(i);
}

static void *fz_main(void *arg)
{
    (void)arg;
    for (int m = 0; m < FZ_M; m++)
        FZ.futs[m] = asyncio_future_new();
    for (long i = 0; i < FZ_N; i++)
        FZ.tasks[i] = asyncio_create_task(fz_worker, IP(i));
    for (int r = 0; r < FZ_ROUNDS; r++)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    for (int m = 0; m < FZ_M; m++) {
        if (!asyncio_done(FZ.futs[m])) {
            ck_assert_int_eq(asyncio_future_set_result(FZ.futs[m], IP(-1)), 0);
            fz_log("main s%d", m);
        }
    }
    ck_assert_int_eq(asyncio_gather(FZ.tasks, FZ_N, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < FZ_N; i++) {
        asyncio_future_t *t = FZ.tasks[i];
        const asyncio_error_t *e;
        void *r = NULL;
        if (asyncio_cancelled(t)) {
            fz_log("end %d cancelled", i);
        } else if ((e = asyncio_exception(t)) != NULL) {
            fz_log("end %d V%s", i, e->message);
        } else {
            ck_assert_int_eq(asyncio_result(t, &r), 0);
            fz_log("end %d r%ld", i, (long)PI(r));
        }
    }
    for (int i = 0; i < FZ_N; i++)
        asyncio_decref(FZ.tasks[i]);
    for (int m = 0; m < FZ_M; m++)
        asyncio_decref(FZ.futs[m]);
    return NULL;
}

START_TEST(test_cancel_fuzz)
{
    FZ.seed = fuzz_expected[_i].seed;
    FZ.nops = fuzz_expected[_i].nops;
    ck_assert_int_eq(asyncio_run(fz_main, NULL, NULL), 0);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t k = 0; k < FZ.len; k++) {
        h ^= (unsigned char)FZ.buf[k];
        h *= 0x100000001b3ull;
    }
    const char *path = getenv("CASYNCIO_FUZZ_LOG");
    if (path && (FZ.lines != fuzz_expected[_i].lines || h != fuzz_expected[_i].hash)) {
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(FZ.buf, f);
            fputc('\n', f);
            fclose(f);
        }
    }
    ck_assert_int_eq(FZ.lines, fuzz_expected[_i].lines);
    ck_assert_msg(h == fuzz_expected[_i].hash, "seed %ld: log hash %016llx, Python's %016llx",
                  FZ.seed, (unsigned long long)h, (unsigned long long)fuzz_expected[_i].hash);
    free(FZ.buf);
}
END_TEST

Suite *cancel_suite(void)
{
    Suite *s = suite_create("cancel");

    TCase *tc = tcase_create("delivery");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cancel_before_start);
    tcase_add_test(tc, test_cancel_while_sleeping);
    tcase_add_test(tc, test_cancel_while_awaiting_future);
    tcase_add_test(tc, test_cancel_while_yielding);
    tcase_add_test(tc, test_cancel_message_travels);
    tcase_add_test(tc, test_cancel_done_task);
    tcase_add_test(tc, test_cancel_self);
    tcase_add_test(tc, test_cancel_after_failure_retrieves);
    tcase_add_test(tc, test_awaiter_not_cancelled);
    tcase_add_test(tc, test_raise_cancelled_by_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("handling");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cancelling_uncancel);
    tcase_add_test(tc, test_catch_and_continue);
    tcase_add_test(tc, test_reraise_after_cleanup);
    tcase_add_test(tc, test_exception_does_not_catch_cancelled);
    tcase_add_test(tc, test_cancel_during_cleanup);
    tcase_add_test(tc, test_cancel_shared_future);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_run_cancels_leftovers);
    tcase_add_test(tc, test_run_waits_for_stubborn_leftover);
    tcase_add_test(tc, test_run_leftover_fails_on_cancel);
    tcase_add_test(tc, test_run_main_cancelled);
    tcase_add_test(tc, test_run_main_cancels_itself);
    tcase_add_test(tc, test_cancel_many);
    tcase_add_test(tc, test_cancel_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_cancel_fuzz, 0,
                        (int)(sizeof fuzz_expected / sizeof *fuzz_expected));
    suite_add_tcase(s, tc);

    return s;
}
