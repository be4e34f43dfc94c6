/*
 * Timeout scopes (asyncio_timeout_enter/_at_enter/_reschedule/_when/
 * _expired/_exit): expiry and non-expiry, nesting in both orders, deadlines
 * already passed, rescheduling, foreign errors and foreign cancellations
 * (the cancelling() bookkeeping), no stray cancellation afterwards, bad
 * input, the scope rule for a coroutine that returns inside a scope, and
 * allocation failure.
 *
 * The expected logs are what tests/twins/timeout_cases.py prints under
 * /usr/bin/python3 (CPython 3.11): one line per test, in the order its
 * docstring lists.  A scope is freed by its exit, so the C tests read
 * expired() just before exit; Python reads it after, with the same value.
 */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tu_log_t LOG;

#define L(...)                                                                                     \
    do {                                                                                           \
        if (LOG.len)                                                                               \
            tu_logf(&LOG, " ");                                                                    \
        tu_logf(&LOG, __VA_ARGS__);                                                                \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double loop_time(void)
{
    return asyncio_loop_time(asyncio_get_running_loop());
}

static int cancelling(void)
{
    return asyncio_task_cancelling(asyncio_current_task());
}

/* ---------------------------------------------------------------------- */

/* Twin: timeout_cases.py, line 1. */
static void *expires_main(void *arg)
{
    (void)arg;
    double t0 = now();
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.02);
    ck_assert_ptr_nonnull(cm);
    ck_assert(!asyncio_timeout_expired(cm));
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    double dt = now() - t0;
    ck_assert_double_ge(dt, 0.015);
    ck_assert_double_lt(dt, 2.0);
    L("body:CancelledError expired:%s", TF(asyncio_timeout_expired(cm)));
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("exit:TimeoutError");
    L("expired:%s cancelling:%d", TF(expired), cancelling());
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("after");
    return NULL;
}

START_TEST(test_timeout_expires)
{
    ck_assert_int_eq(asyncio_run(expires_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "body:CancelledError expired:True exit:TimeoutError expired:True "
                        "cancelling:0 after");
}
END_TEST

/* Twin: timeout_cases.py, line 2. */
static void *not_expired_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.05);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    ck_assert_ptr_null(asyncio_error());
    L("exit:ok expired:%s", TF(expired));
    ck_assert_int_eq(asyncio_sleep(0.08), 0); /* past the old deadline: disarmed */
    L("after cancelling:%d", cancelling());
    return NULL;
}

START_TEST(test_timeout_not_expired)
{
    ck_assert_int_eq(asyncio_run(not_expired_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "exit:ok expired:False after cancelling:0");
}
END_TEST

/* Twin: timeout_cases.py, line 3. */
static void *at_main(void *arg)
{
    (void)arg;
    double when = loop_time() + 0.02;
    asyncio_timeout_t *cm = asyncio_timeout_at_enter(when);
    ck_assert_ptr_nonnull(cm);
    L("when-equal:%s", TF(asyncio_timeout_when(cm) == when));
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("exit:TimeoutError expired:%s", TF(expired));
    /* The deadline of asyncio_timeout_enter is loop time + delay. */
    double before = loop_time();
    cm = asyncio_timeout_enter(5);
    double w = asyncio_timeout_when(cm);
    ck_assert_double_ge(w, before + 5 - 1e-6);
    ck_assert_double_le(w, loop_time() + 5 + 1e-6);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    return NULL;
}

START_TEST(test_timeout_at)
{
    ck_assert_int_eq(asyncio_run(at_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "when-equal:True exit:TimeoutError expired:True");
}
END_TEST

/* Twin: timeout_cases.py, line 4.  C rule: negative means None. */
static void *disabled_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(cm);
    L("when:%s", asyncio_timeout_when(cm) < 0 ? "None" : "set");
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    L("exit:ok expired:%s", TF(expired));
    cm = asyncio_timeout_at_enter(-3.0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    double w = asyncio_timeout_when(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    L("at-none:ok when:%s", w < 0 ? "None" : "set");
    return NULL;
}

START_TEST(test_timeout_disabled)
{
    ck_assert_int_eq(asyncio_run(disabled_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "when:None exit:ok expired:False at-none:ok when:None");
}
END_TEST

/* Twin: timeout_cases.py, line 5. */
static void *passed_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(0);
    ck_assert_ptr_nonnull(cm);
    L("no-await");
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    ck_assert_ptr_null(asyncio_error());
    L("exit:ok expired:%s", TF(expired));

    cm = asyncio_timeout_enter(0);
    if (asyncio_sleep(0) == 0)
        L("not-reached");
    expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("zero:TimeoutError expired:%s", TF(expired));

    cm = asyncio_timeout_at_enter(loop_time() - 1);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("past:TimeoutError expired:%s", TF(expired));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("cancelling:%d", cancelling());
    return NULL;
}

START_TEST(test_timeout_already_passed)
{
    ck_assert_int_eq(asyncio_run(passed_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "no-await exit:ok expired:False zero:TimeoutError expired:True "
                        "past:TimeoutError expired:True cancelling:0");
}
END_TEST

/* Twin: timeout_cases.py, line 6. */
static void *inner_first_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *outer = asyncio_timeout_enter(10);
    asyncio_timeout_t *inner = asyncio_timeout_enter(0.01);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    bool ie = asyncio_timeout_expired(inner);
    ck_assert_int_eq(asyncio_timeout_exit(inner), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("inner:TimeoutError inner-expired:%s", TF(ie));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("outer-body-continues");
    bool oe = asyncio_timeout_expired(outer);
    ck_assert_int_eq(asyncio_timeout_exit(outer), 0);
    ck_assert_ptr_null(asyncio_error());
    L("outer:ok outer-expired:%s", TF(oe));
    return NULL;
}

START_TEST(test_timeout_nested_inner_first)
{
    ck_assert_int_eq(asyncio_run(inner_first_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "inner:TimeoutError inner-expired:True outer-body-continues "
                        "outer:ok outer-expired:False");
}
END_TEST

/* Twin: timeout_cases.py, line 7. */
static void *outer_first_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *outer = asyncio_timeout_enter(0.01);
    asyncio_timeout_t *inner = asyncio_timeout_enter(10);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    bool ie = asyncio_timeout_expired(inner);
    ck_assert_int_eq(asyncio_timeout_exit(inner), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    L("inner:CancelledError inner-expired:%s", TF(ie));
    bool oe = asyncio_timeout_expired(outer);
    ck_assert_int_eq(asyncio_timeout_exit(outer), ASYNCIO_ETIMEDOUT);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    asyncio_error_clear();
    L("outer:TimeoutError outer-expired:%s", TF(oe));
    L("cancelling:%d", cancelling());
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return NULL;
}

START_TEST(test_timeout_nested_outer_first)
{
    ck_assert_int_eq(asyncio_run(outer_first_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "inner:CancelledError inner-expired:False outer:TimeoutError "
                        "outer-expired:True cancelling:0");
}
END_TEST

/* Twin: timeout_cases.py, line 8: both deadlines fire in the same loop
 * iteration; the inner scope sees a second cancellation pending and lets
 * the CancelledError through, the outer one turns it into TimeoutError. */
static void *same_deadline_main(void *arg)
{
    (void)arg;
    double when = loop_time() + 0.02;
    asyncio_timeout_t *outer = asyncio_timeout_at_enter(when);
    asyncio_timeout_t *inner = asyncio_timeout_at_enter(when);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    bool ie = asyncio_timeout_expired(inner);
    ck_assert_int_eq(asyncio_timeout_exit(inner), ASYNCIO_ECANCELLED);
    L("inner:CancelledError inner-expired:%s", TF(ie));
    bool oe = asyncio_timeout_expired(outer);
    ck_assert_int_eq(asyncio_timeout_exit(outer), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("outer:TimeoutError outer-expired:%s", TF(oe));
    L("cancelling:%d", cancelling());
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return NULL;
}

START_TEST(test_timeout_nested_same_deadline)
{
    ck_assert_int_eq(asyncio_run(same_deadline_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "inner:CancelledError inner-expired:True outer:TimeoutError "
                        "outer-expired:True cancelling:0");
}
END_TEST

/* Twin: timeout_cases.py, line 9. */
static void *reschedule_main(void *arg)
{
    (void)arg;
    /* none -> soon */
    asyncio_timeout_t *cm = asyncio_timeout_enter(ASYNCIO_NO_TIMEOUT);
    asyncio_timeout_reschedule(cm, loop_time() + 0.01);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("none-to-soon:TimeoutError");
    /* soon -> later */
    cm = asyncio_timeout_enter(0.01);
    double later = loop_time() + 10;
    asyncio_timeout_reschedule(cm, later);
    ck_assert(asyncio_timeout_when(cm) == later);
    ck_assert_int_eq(asyncio_sleep(0.03), 0);
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    L("later:ok expired:%s", TF(expired));
    /* later -> earlier */
    cm = asyncio_timeout_enter(10);
    asyncio_timeout_reschedule(cm, loop_time() + 0.01);
    double t0 = now();
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_double_lt(now() - t0, 2.0);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("earlier:TimeoutError");
    /* soon -> none */
    cm = asyncio_timeout_enter(0.01);
    asyncio_timeout_reschedule(cm, ASYNCIO_NO_TIMEOUT);
    ck_assert_int_eq(asyncio_sleep(0.03), 0);
    double w = asyncio_timeout_when(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    L("to-none:ok when:%s", w < 0 ? "None" : "set");
    /* -> the past */
    cm = asyncio_timeout_enter(10);
    asyncio_timeout_reschedule(cm, loop_time() - 1);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("past:TimeoutError");
    ck_assert_int_eq(cancelling(), 0);
    return NULL;
}

START_TEST(test_timeout_reschedule)
{
    ck_assert_int_eq(asyncio_run(reschedule_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "none-to-soon:TimeoutError later:ok expired:False earlier:TimeoutError "
                        "to-none:ok when:None past:TimeoutError");
}
END_TEST

/* Twin: timeout_cases.py, line 10. */
static void *resched_expired_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.01);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    asyncio_timeout_reschedule(cm, loop_time() + 10);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ERUNTIME);
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    L("RuntimeError");
    L("expired:%s cancelling:%d", TF(expired), cancelling());
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("after");
    return NULL;
}

START_TEST(test_timeout_reschedule_after_expiry)
{
    ck_assert_int_eq(asyncio_run(resched_expired_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "RuntimeError expired:True cancelling:0 after");
}
END_TEST

/* Twin: timeout_cases.py, line 11. */
static void *foreign_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(10);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_raise("ValueError", "mine");
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    L("ValueError:%s expired:%s", tu_raised_message(), TF(expired));
    asyncio_error_clear();
    /* A libuv code passes through unchanged as well. */
    cm = asyncio_timeout_enter(10);
    asyncio_raise_uv(-2 /* UV_ENOENT */, "file");
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    int code = e->code;
    ck_assert_int_eq(asyncio_timeout_exit(cm), code);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_timeout_foreign_error)
{
    ck_assert_int_eq(asyncio_run(foreign_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "ValueError:mine expired:False");
}
END_TEST

/* Twin: timeout_cases.py, line 12. */
static void *foreign_expiry_main(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.01);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    asyncio_raise("KeyError", "k"); /* `finally: raise KeyError` */
    bool expired = asyncio_timeout_expired(cm);
    ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_EEXCEPTION);
    ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
    L("KeyError expired:%s", TF(expired));
    L("cancelling:%d", cancelling());
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("after");
    return NULL;
}

START_TEST(test_timeout_foreign_error_on_expiry)
{
    ck_assert_int_eq(asyncio_run(foreign_expiry_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "KeyError expired:True cancelling:0 after");
}
END_TEST

/* The twin's guarded(delay). */
static void *guarded(void *arg)
{
    double delay = (double)PI(arg) / 1000.0;
    asyncio_timeout_t *cm = asyncio_timeout_enter(delay);
    ck_assert_ptr_nonnull(cm);
    asyncio_sleep(10);
    bool expired = asyncio_timeout_expired(cm);
    int rc = asyncio_timeout_exit(cm);
    if (rc == ASYNCIO_ECANCELLED) {
        assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
        L("t:CancelledError expired:%s", TF(expired));
    } else if (rc == ASYNCIO_ETIMEDOUT) {
        L("t:TimeoutError");
    }
    return NULL;
}

/* Twin: timeout_cases.py, line 13. */
static void *outside_cancel_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(guarded, IP(10000));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("cancel:%s", TF(asyncio_cancel(t, NULL)));
    if (asyncio_await(t, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main:cancelled:%s", TF(asyncio_cancelled(t)));
    }
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_timeout_outside_cancel)
{
    ck_assert_int_eq(asyncio_run(outside_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True t:CancelledError expired:False main:cancelled:True");
}
END_TEST

/* Twin: timeout_cases.py, line 14: the deadline (already passed at enter)
 * and an outside cancel both reach the task before it runs again. */
static void *cancel_and_expiry_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(guarded, IP(0));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("cancel:%s", TF(asyncio_cancel(t, NULL)));
    if (asyncio_await(t, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main:cancelled:%s", TF(asyncio_cancelled(t)));
    }
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_timeout_outside_cancel_and_expiry)
{
    ck_assert_int_eq(asyncio_run(cancel_and_expiry_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True t:CancelledError expired:True main:cancelled:True");
}
END_TEST

/* Twin: timeout_cases.py, line 15. */
static void *many_expiries_main(void *arg)
{
    (void)arg;
    int n = 0;
    for (int i = 0; i < 100; i++) {
        asyncio_timeout_t *cm = asyncio_timeout_enter(0);
        asyncio_sleep(1);
        if (asyncio_timeout_exit(cm) == ASYNCIO_ETIMEDOUT) {
            ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
            n++;
        }
    }
    L("timeouts:%d cancelling:%d", n, cancelling());
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("after");
    return NULL;
}

START_TEST(test_timeout_many_expiries)
{
    ck_assert_int_eq(asyncio_run(many_expiries_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "timeouts:100 cancelling:0 after");
}
END_TEST

/* A cancellation the task caught itself inside the scope, before the
 * deadline, leaves the scope exiting normally; uncancel() by the task is
 * its own business. */
static void *caught_outside_cancel(void *arg)
{
    (void)arg;
    asyncio_timeout_t *cm = asyncio_timeout_enter(10);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    ck_assert_int_eq(asyncio_task_uncancel(asyncio_current_task()), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(!asyncio_timeout_expired(cm));
    ck_assert_int_eq(asyncio_timeout_exit(cm), 0);
    ck_assert_ptr_null(asyncio_error());
    return IP(5);
}

static void *caught_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(caught_outside_cancel, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, NULL));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(t, &r), 0);
    ck_assert_int_eq(PI(r), 5);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_timeout_caught_outside_cancel)
{
    ck_assert_int_eq(asyncio_run(caught_main, NULL, NULL), 0);
}
END_TEST

/* A cancellation older than the scope, caught and never withdrawn, is
 * still pending (cancelling() is 1) when the scope's own deadline passes:
 * the exit raises TimeoutError all the same, and the old request stays
 * counted.  Python 3.12's rule (gh-102780, in 3.11.7 too), which
 * CPython's newer tests assert; the twins' 3.11.2 leaves the
 * CancelledError, so this test has no twin. */
static void *older_cancel_pending(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    L("before:%d", cancelling());
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.01);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    L("sleep:%s", asyncio_error()->type);
    ck_assert(asyncio_timeout_expired(cm));
    int rc = asyncio_timeout_exit(cm);
    ck_assert_int_eq(rc, ASYNCIO_ETIMEDOUT);
    L("exit:%s", asyncio_error()->type);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("after:%d", cancelling());
    return NULL;
}

static void *older_cancel_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(older_cancel_pending, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_timeout_older_cancel_pending)
{
    ck_assert_int_eq(asyncio_run(older_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "before:1 sleep:CancelledError exit:TimeoutError after:1");
}
END_TEST

/* ------------------------------------------------------------- bad input */

START_TEST(test_timeout_outside_task)
{
    ck_assert_ptr_null(asyncio_timeout_enter(1));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_null(asyncio_timeout_enter(1));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_timeout_at_enter(1));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

static asyncio_timeout_t *foreign_scope;

static void *foreign_exit(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_timeout_exit(foreign_scope), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    return IP(1);
}

static void *bad_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_timeout_exit(NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_timeout_reschedule(NULL, 1);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_timeout_enter(NAN));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_timeout_at_enter(NAN));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();

    /* Another task cannot exit this task's scope; the scope still works. */
    foreign_scope = asyncio_timeout_enter(0.05);
    asyncio_future_t *t = asyncio_create_task(foreign_exit, NULL);
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(t, &r), 0);
    ck_assert_int_eq(PI(r), 1);
    asyncio_decref(t);
    ck_assert_int_eq(asyncio_sleep(10), ASYNCIO_ECANCELLED);
    ck_assert_int_eq(asyncio_timeout_exit(foreign_scope), ASYNCIO_ETIMEDOUT);
    asyncio_error_clear();
    ck_assert_int_eq(cancelling(), 0);
    return NULL;
}

START_TEST(test_timeout_bad_input)
{
    ck_assert_int_eq(asyncio_run(bad_main, NULL, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ scope rule */

static int body_done;

/* Returns inside open scopes: the library closes them. */
static void *leaves_open(void *arg)
{
    int mode = (int)PI(arg);
    asyncio_timeout_enter(0.02);
    asyncio_timeout_enter(mode == 2 ? 0.0 : 10);
    ck_assert_int_eq(asyncio_sleep(0), mode == 2 ? ASYNCIO_ECANCELLED : 0);
    body_done++;
    if (mode == 1)
        return asyncio_raise("ValueError", "left open");
    if (mode == 2)
        asyncio_error_clear();
    return IP(7);
}

static void *scope_rule_main(void *arg)
{
    (void)arg;
    for (int mode = 0; mode < 3; mode++) {
        asyncio_future_t *t = asyncio_create_task(leaves_open, IP(mode));
        void *r = NULL;
        int rc = asyncio_await(t, &r);
        if (mode == 1) {
            ck_assert_int_eq(rc, ASYNCIO_EVALUE);
            ck_assert_str_eq(tu_raised_message(), "left open");
            asyncio_error_clear();
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(PI(r), 7);
        }
        ck_assert(!asyncio_cancelled(t));
        asyncio_decref(t);
    }
    /* The deadlines were disarmed: nothing fires later. */
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert_int_eq(body_done, 3);
    return NULL;
}

START_TEST(test_timeout_scope_left_open)
{
    ck_assert_int_eq(asyncio_run(scope_rule_main, NULL, NULL), 0);
}
END_TEST

/* The same in debug mode (which reports the scopes; stderr only). */
static void *scope_rule_debug_main(void *arg)
{
    asyncio_loop_set_debug(asyncio_get_running_loop(), true);
    return scope_rule_main(arg);
}

START_TEST(test_timeout_scope_left_open_debug)
{
    ck_assert_int_eq(asyncio_run(scope_rule_debug_main, NULL, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ allocation */

static void *chaos_main(void *arg)
{
    (void)arg;
    bool ok = false;
    for (long n = 1; n < 100 && !ok; n++) {
        tu_alloc_fail_at(n);
        asyncio_timeout_t *cm = asyncio_timeout_enter(0.001);
        tu_alloc_fail_at(0);
        if (!cm) {
            assert_raised(ASYNCIO_ENOMEM, "MemoryError");
            asyncio_error_clear();
            continue;
        }
        ok = true;
        ck_assert_int_eq(asyncio_sleep(1), ASYNCIO_ECANCELLED);
        ck_assert_int_eq(asyncio_timeout_exit(cm), ASYNCIO_ETIMEDOUT);
        asyncio_error_clear();
    }
    ck_assert(ok);
    ck_assert_int_eq(cancelling(), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return NULL;
}

START_TEST(test_timeout_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(chaos_main, NULL, NULL), 0);
}
END_TEST

/* Scopes entered and left many times, expiring or not: nothing piles up. */
static void *many_main(void *arg)
{
    long n = PI(arg);
    long expired = 0;
    for (long i = 0; i < n; i++) {
        asyncio_timeout_t *cm = asyncio_timeout_enter(i % 10 == 0 ? 0 : 10);
        if (i % 2 == 0)
            asyncio_sleep(0);
        if (asyncio_timeout_exit(cm) == ASYNCIO_ETIMEDOUT) {
            asyncio_error_clear();
            expired++;
        }
        ck_assert_ptr_null(asyncio_error());
    }
    ck_assert_int_eq(expired, (n + 9) / 10);
    ck_assert_int_eq(cancelling(), 0);
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    return NULL;
}

START_TEST(test_timeout_many)
{
    ck_assert_int_eq(asyncio_run(many_main, IP(tu_scaled(100000)), NULL), 0);
}
END_TEST

Suite *timeout_suite(void)
{
    Suite *s = suite_create("timeout");

    TCase *tc = tcase_create("expiry");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_timeout_expires);
    tcase_add_test(tc, test_timeout_not_expired);
    tcase_add_test(tc, test_timeout_at);
    tcase_add_test(tc, test_timeout_disabled);
    tcase_add_test(tc, test_timeout_already_passed);
    tcase_add_test(tc, test_timeout_nested_inner_first);
    tcase_add_test(tc, test_timeout_nested_outer_first);
    tcase_add_test(tc, test_timeout_nested_same_deadline);
    tcase_add_test(tc, test_timeout_reschedule);
    tcase_add_test(tc, test_timeout_reschedule_after_expiry);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_timeout_foreign_error);
    tcase_add_test(tc, test_timeout_foreign_error_on_expiry);
    tcase_add_test(tc, test_timeout_outside_cancel);
    tcase_add_test(tc, test_timeout_outside_cancel_and_expiry);
    tcase_add_test(tc, test_timeout_many_expiries);
    tcase_add_test(tc, test_timeout_caught_outside_cancel);
    tcase_add_test(tc, test_timeout_older_cancel_pending);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_timeout_outside_task);
    tcase_add_test(tc, test_timeout_bad_input);
    tcase_add_test(tc, test_timeout_scope_left_open);
    tcase_add_test(tc, test_timeout_scope_left_open_debug);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_timeout_alloc_failure);
    tcase_add_test(tc, test_timeout_many);
    suite_add_tcase(s, tc);

    return s;
}
