/*
 * asyncio_wait, asyncio_wait_for, asyncio_shield and asyncio_as_completed:
 * the three return_when modes with and without timeout, duplicates, exception
 * retrieval, cancellation of the caller and of the inner future at each
 * suspension point, the wait_for races (a result arriving with the
 * cancellation, an inner task swallowing it), bad input, and allocation
 * failure.
 *
 * The expected logs are what tests/twins/wait_modes.py, wait_for_cases.py,
 * wait_shield.py and wait_as_completed.py print under /usr/bin/python3
 * (CPython 3.11): one line per test, named in each twin's docstring.
 */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static tu_log_t LOG;

/* Appends one space-separated token, as the twins' " ".join(log). */
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

/* "T,F,T" of n done flags, as the twins print them. */
static const char *flags(const bool *done, size_t n)
{
    static char buf[64];
    size_t len = 0;
    for (size_t i = 0; i < n && len + 3 < sizeof buf; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%c", i ? "," : "",
                                done[i] ? 'T' : 'F');
    buf[len] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- children */

/* The twins' ok(v, d) and bad(v, d). */
struct spec {
    int value;
    double delay;
    bool fail;
};

static void *child(void *arg)
{
    const struct spec *s = arg;
    if (asyncio_sleep(s->delay) < 0)
        return NULL;
    if (s->fail)
        return asyncio_raise("ValueError", "%d failed", s->value);
    return IP(s->value);
}

/* Same, logging "ok<v>-done" (wait_shield.py's ok). */
static void *child_logged(void *arg)
{
    const struct spec *s = arg;
    if (asyncio_sleep(s->delay) < 0)
        return NULL;
    if (s->fail)
        return asyncio_raise("ValueError", "%d failed", s->value);
    L("ok%d-done", s->value);
    return IP(s->value);
}

static asyncio_future_t *spawn(const struct spec *s)
{
    asyncio_future_t *t = asyncio_create_task(child, (void *)s);
    ck_assert_ptr_nonnull(t);
    return t;
}

static asyncio_future_t *spawn_logged(const struct spec *s)
{
    asyncio_future_t *t = asyncio_create_task(child_logged, (void *)s);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Sleeps 10 s; when cancelled logs, awaits a cleanup of `arg` ms, and lets
 * the cancellation propagate (wait_for_cases.py's cleaner). */
static void *cleaner(void *arg)
{
    if (asyncio_sleep(10) == 0)
        return NULL;
    ck_assert(asyncio_error_matches("CancelledError"));
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    L("cleanup-start");
    ck_assert_int_eq(asyncio_sleep((double)PI(arg) / 1000.0), 0);
    L("cleanup-end");
    return asyncio_raise("CancelledError", "cleanup done");
}

/* Swallows the cancellation and returns arg (wait_for_cases.py's swallower). */
static void *swallower(void *arg)
{
    if (asyncio_sleep(10) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("swallowed");
    }
    return arg;
}

/* Turns the cancellation into ValueError("late"). */
static void *raiser(void *arg)
{
    (void)arg;
    if (asyncio_sleep(10) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        return asyncio_raise("ValueError", "late");
    }
    return NULL;
}

static void set_result_cb(void *arg)
{
    ck_assert_int_eq(asyncio_future_set_result(arg, IP(100)), 0);
}

static void cancel_cb(void *arg)
{
    asyncio_cancel(arg, NULL);
}

static int reports;
static char report_msg[128];

static void count_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    reports++;
    snprintf(report_msg, sizeof report_msg, "%s", ctx->message);
}

/* ==================================================================== wait */

/* Twin: wait_modes.py, line 1. */
static void *first_completed_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.1, false}, {2, 0.01, false}, {3, 0.15, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    bool done[3] = {true, true, true};
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_COMPLETED, done), 0);
    ck_assert_ptr_null(asyncio_error());
    L("first:%s", flags(done, 3));
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done), 0);
    L("all:%s", flags(done, 3));
    void *r[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(asyncio_result(fs[i], &r[i]), 0);
    L("results:%d,%d,%d", (int)PI(r[0]), (int)PI(r[1]), (int)PI(r[2]));
    /* done may be NULL. */
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_COMPLETED, NULL), 0);
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_wait_first_completed)
{
    ck_assert_int_eq(asyncio_run(first_completed_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "first:F,T,F all:T,T,T results:1,2,3");
}
END_TEST

/* Twin: wait_modes.py, line 2. */
static void *first_exception_main(void *arg)
{
    (void)arg;
    static const struct spec s[5] = {
        {1, 0.01, false}, {2, 0.03, true}, {3, 0.5, false}, {4, 0.01, false}, {5, 0.02, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    bool done[3];
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_EXCEPTION, done), 0);
    ck_assert_ptr_null(asyncio_error());
    L("fe:%s", flags(done, 3));
    L("c-cancelled:%s", TF(asyncio_cancelled(fs[2])));
    asyncio_cancel(fs[2], NULL);
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, NULL), 0);
    ck_assert_int_eq(asyncio_exception(fs[1])->code, ASYNCIO_EVALUE);
    tu_decref_all(fs, 3);

    asyncio_future_t *gs[2] = {spawn(&s[3]), spawn(&s[4])};
    ck_assert_int_eq(asyncio_wait(gs, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_EXCEPTION, done), 0);
    L("fe-none:%s", flags(done, 2));
    tu_decref_all(gs, 2);

    /* A cancelled future is not an exception for FIRST_EXCEPTION. */
    static const struct spec x = {6, 10, false}, y = {7, 0.03, false};
    asyncio_future_t *xy[2] = {spawn(&x), spawn(&y)};
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, cancel_cb, xy[0])));
    ck_assert_int_eq(asyncio_wait(xy, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_EXCEPTION, done), 0);
    L("fe-cancel:%s x-cancelled:%s", flags(done, 2), TF(asyncio_cancelled(xy[0])));
    tu_decref_all(xy, 2);
    return NULL;
}

START_TEST(test_wait_first_exception)
{
    ck_assert_int_eq(asyncio_run(first_exception_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "fe:T,T,F c-cancelled:False fe-none:T,T fe-cancel:T,T x-cancelled:True");
}
END_TEST

/* Twin: wait_modes.py, line 3. */
static void *all_failures_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.01, true}, {2, 0.02, false}, {3, 0.0, true}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    bool done[3];
    ck_assert_int_eq(asyncio_wait(fs, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done), 0);
    ck_assert_ptr_null(asyncio_error());
    L("all-fail:%s", flags(done, 3));
    const asyncio_error_t *e[3] = {asyncio_exception(fs[0]), asyncio_exception(fs[1]),
                                   asyncio_exception(fs[2])};
    L("excs:%s,%s,%s", e[0] ? e[0]->message : "None", e[1] ? e[1]->message : "None",
      e[2] ? e[2]->message : "None");
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_wait_all_completed_failures)
{
    ck_assert_int_eq(asyncio_run(all_failures_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "all-fail:T,T,T excs:1 failed,None,3 failed");
}
END_TEST

/* Twin: wait_modes.py, line 4. */
static void *wait_timeout_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{1, 0.01, false}, {2, 10, false}};
    asyncio_future_t *ab[2] = {spawn(&s[0]), spawn(&s[1])};
    bool done[2] = {false, true};
    double t0 = now();
    ck_assert_int_eq(asyncio_wait(ab, 2, 0.05, ASYNCIO_ALL_COMPLETED, done), 0);
    double dt = now() - t0;
    ck_assert_ptr_null(asyncio_error());
    ck_assert_double_ge(dt, 0.04);
    ck_assert_double_lt(dt, 2.0);
    L("to:%s b-cancelled:%s", flags(done, 2), TF(asyncio_cancelled(ab[1])));

    asyncio_future_t *f = asyncio_future_new(), *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    asyncio_future_t *fg[2] = {f, g};
    ck_assert_int_eq(asyncio_wait(fg, 2, 0, ASYNCIO_ALL_COMPLETED, done), 0);
    L("to0:%s", flags(done, 2));
    ck_assert_int_eq(asyncio_wait(&ab[1], 1, 0.01, ASYNCIO_FIRST_COMPLETED, done), 0);
    L("to-fc:%s b-done:%s", flags(done, 1), TF(asyncio_done(ab[1])));
    /* The task is not left cancelled by the timeouts. */
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_cancel(ab[1], NULL);
    asyncio_cancel(g, NULL);
    tu_decref_all(ab, 2);
    tu_decref_all(fg, 2);
    return NULL;
}

START_TEST(test_wait_timeout)
{
    ck_assert_int_eq(asyncio_run(wait_timeout_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "to:T,F b-cancelled:False to0:T,F to-fc:F b-done:False");
}
END_TEST

/* Twin: wait_modes.py, line 5. */
static void *dup_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.01, false}, {2, 0.02, false}, {3, 10, false}};
    asyncio_future_t *a = spawn(&s[0]), *b = spawn(&s[1]), *c = spawn(&s[2]);
    asyncio_future_t *aab[3] = {a, a, b};
    bool done[3];
    ck_assert_int_eq(asyncio_wait(aab, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done), 0);
    L("dup:%s", flags(done, 3));
    asyncio_future_t *cac[3] = {c, a, c};
    ck_assert_int_eq(asyncio_wait(cac, 3, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_COMPLETED, done), 0);
    L("dup-fc:%s", flags(done, 3));
    /* A pending future twice, ALL_COMPLETED: counts once. */
    asyncio_future_t *f = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, set_result_cb, f)));
    asyncio_future_t *ff[3] = {f, f, a};
    ck_assert_int_eq(asyncio_wait(ff, 3, 2.0, ASYNCIO_ALL_COMPLETED, done), 0);
    ck_assert(done[0] && done[1] && done[2]);
    asyncio_cancel(c, NULL);
    asyncio_decref(f);
    asyncio_decref(a);
    asyncio_decref(b);
    asyncio_decref(c);
    return NULL;
}

START_TEST(test_wait_duplicates)
{
    ck_assert_int_eq(asyncio_run(dup_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "dup:T,T,T dup-fc:F,T,F");
}
END_TEST

/* Twin: wait_modes.py, line 6. */
static asyncio_future_t *waited[2];

static void *waiter(void *arg)
{
    (void)arg;
    int rc = asyncio_wait(waited, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, NULL);
    if (rc == 0) {
        L("w-returned");
        return NULL;
    }
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    L("w-cancelled");
    return NULL;
}

static void *wait_caller_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{1, 0.05, false}, {2, 0.05, false}};
    waited[0] = spawn(&s[0]);
    waited[1] = spawn(&s[1]);
    asyncio_future_t *w = asyncio_create_task(waiter, NULL);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    if (asyncio_await(w, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main-saw-cancel");
    }
    L("a-cancelled:%s b-cancelled:%s", TF(asyncio_cancelled(waited[0])),
      TF(asyncio_cancelled(waited[1])));
    void *a = NULL, *b = NULL;
    ck_assert_int_eq(asyncio_await(waited[0], &a), 0);
    ck_assert_int_eq(asyncio_await(waited[1], &b), 0);
    L("a=%d b=%d", (int)PI(a), (int)PI(b));
    asyncio_decref(w);
    tu_decref_all(waited, 2);
    return NULL;
}

START_TEST(test_wait_caller_cancelled)
{
    ck_assert_int_eq(asyncio_run(wait_caller_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True w-cancelled main-saw-cancel a-cancelled:False "
                        "b-cancelled:False a=1 b=2");
}
END_TEST

/* Twin: wait_modes.py, line 7. */
static void *retrieve_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_report, NULL);
    static const struct spec s[3] = {{1, 0, true}, {2, 0, true}, {3, 0, true}};
    asyncio_future_t *t = spawn(&s[0]);
    ck_assert_int_eq(asyncio_wait(&t, 1, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, NULL), 0);
    L("done:%s", TF(asyncio_done(t)));
    asyncio_decref(t);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("reports:%d:%s", reports, report_msg);
    /* FIRST_EXCEPTION looks at the exception but does not retrieve it. */
    asyncio_future_t *v = spawn(&s[2]);
    ck_assert_int_eq(asyncio_wait(&v, 1, ASYNCIO_NO_TIMEOUT, ASYNCIO_FIRST_EXCEPTION, NULL), 0);
    asyncio_decref(v);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("first-exception:%d", reports);
    asyncio_future_t *u = spawn(&s[1]);
    ck_assert_int_eq(asyncio_wait(&u, 1, 1.0, ASYNCIO_FIRST_COMPLETED, NULL), 0);
    ck_assert_ptr_nonnull(asyncio_exception(u));
    asyncio_decref(u);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("after-retrieve:%d", reports);
    return NULL;
}

START_TEST(test_wait_does_not_retrieve)
{
    ck_assert_int_eq(asyncio_run(retrieve_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "done:True reports:1:Task exception was never retrieved first-exception:2 "
                        "after-retrieve:2");
}
END_TEST

/* Twin: wait_modes.py, line 8 (plus C's own bad pointers). */
static void *wait_bad_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *fs[2] = {f, NULL};
    bool done[2] = {true, true};
    ck_assert_int_eq(asyncio_wait(fs, 0, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done),
                     ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    L("empty:ValueError");
    ck_assert_int_eq(asyncio_wait(fs, 1, ASYNCIO_NO_TIMEOUT, (enum asyncio_return_when)7, done),
                     ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    L("return_when:ValueError");
    ck_assert_int_eq(asyncio_wait(NULL, 1, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done),
                     ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_wait(fs, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done),
                     ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    /* Failures set every flag false. */
    ck_assert(!done[0] && !done[1]);
    L("f-done:%s", TF(asyncio_done(f)));
    /* Nothing stayed attached to f: completing it disturbs nobody. */
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_wait_bad_input)
{
    ck_assert_int_eq(asyncio_run(wait_bad_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "empty:ValueError return_when:ValueError f-done:False");
}
END_TEST

START_TEST(test_wait_outside_task)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_wait(&f, 1, 0, ASYNCIO_ALL_COMPLETED, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_wait_for(f, 1, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_as_completed_t *it = asyncio_as_completed(&f, 1, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it);
    asyncio_future_t *d = IP(1);
    ck_assert_int_eq(asyncio_as_completed_next(it, &d), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(asyncio_error()->message, "no running event loop");
    asyncio_error_clear();
    ck_assert_ptr_null(d);
    asyncio_as_completed_free(it);
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* Waiting on futures that are already done returns at once, whatever the
 * mode; an error already raised in the caller is left alone. */
static void *done_inputs_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new(), *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    ck_assert_int_eq(asyncio_future_set_exception(g, "KeyError", "k"), 0);
    asyncio_future_t *fg[2] = {f, g};
    enum asyncio_return_when modes[3] = {ASYNCIO_FIRST_COMPLETED, ASYNCIO_FIRST_EXCEPTION,
                                         ASYNCIO_ALL_COMPLETED};
    for (int m = 0; m < 3; m++) {
        bool done[2] = {false, false};
        double t0 = now();
        ck_assert_int_eq(asyncio_wait(fg, 2, ASYNCIO_NO_TIMEOUT, modes[m], done), 0);
        ck_assert(done[0] && done[1]);
        ck_assert_double_lt(now() - t0, 0.5);
    }
    asyncio_raise("KeyError", "pending");
    ck_assert_int_eq(asyncio_wait(fg, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, NULL), 0);
    ck_assert_str_eq(tu_raised_message(), "pending");
    asyncio_error_clear();
    ck_assert_str_eq(asyncio_exception(g)->type, "KeyError");
    tu_decref_all(fg, 2);
    return NULL;
}

START_TEST(test_wait_done_inputs)
{
    ck_assert_int_eq(asyncio_run(done_inputs_main, NULL, NULL), 0);
}
END_TEST

/* =============================================================== wait_for */

/* Twin: wait_for_cases.py, line 1. */
static void *wf_in_time_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{7, 0.01, false}, {8, 0.02, false}};
    asyncio_future_t *t = spawn(&s[0]);
    void *r = NULL;
    ck_assert_int_eq(asyncio_wait_for(t, 1, &r), 0);
    ck_assert_ptr_null(asyncio_error());
    L("task:%d", (int)PI(r));
    asyncio_decref(t);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, set_result_cb, f)));
    ck_assert_int_eq(asyncio_wait_for(f, 1, &r), 0);
    L("future:%d", (int)PI(r));
    asyncio_decref(f);
    t = spawn(&s[1]);
    ck_assert_int_eq(asyncio_wait_for(t, ASYNCIO_NO_TIMEOUT, &r), 0);
    L("none:%d", (int)PI(r));
    asyncio_decref(t);
    L("cancelling:%d", asyncio_task_cancelling(asyncio_current_task()));
    /* A result pointer is optional. */
    t = spawn(&s[0]);
    ck_assert_int_eq(asyncio_wait_for(t, 1, NULL), 0);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_wait_for_in_time)
{
    ck_assert_int_eq(asyncio_run(wf_in_time_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "task:7 future:100 none:8 cancelling:0");
}
END_TEST

/* Twin: wait_for_cases.py, line 2. */
static void *wf_cleanup_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(cleaner, IP(20));
    void *r = IP(-1);
    int rc = asyncio_wait_for(t, 0.02, &r);
    ck_assert_int_eq(rc, ASYNCIO_ETIMEDOUT);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("timeout");
    L("inner-cancelled:%s cancelling:%d", TF(asyncio_cancelled(t)),
      asyncio_task_cancelling(asyncio_current_task()));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("after");
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_wait_for_timeout_waits_for_cleanup)
{
    ck_assert_int_eq(asyncio_run(wf_cleanup_main, NULL, NULL), 0);
    tu_assert_log(&LOG,
                  "cleanup-start cleanup-end timeout inner-cancelled:True cancelling:0 after");
}
END_TEST

/* Twin: wait_for_cases.py, line 3. */
static void *wf_swallow_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(swallower, IP(42));
    void *r = NULL;
    ck_assert_int_eq(asyncio_wait_for(t, 0.01, &r), 0);
    ck_assert_ptr_null(asyncio_error());
    L("result:%d", (int)PI(r));
    L("cancelled:%s", TF(asyncio_cancelled(t)));
    asyncio_decref(t);
    t = asyncio_create_task(raiser, NULL);
    ck_assert_int_eq(asyncio_wait_for(t, 0.01, &r), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    L("raised:ValueError:%s", tu_raised_message());
    asyncio_error_clear();
    asyncio_decref(t);
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return NULL;
}

START_TEST(test_wait_for_inner_swallows)
{
    ck_assert_int_eq(asyncio_run(wf_swallow_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "swallowed result:42 cancelled:False raised:ValueError:late");
}
END_TEST

/* Twin: wait_for_cases.py, line 4. */
static void *race_waiter(void *arg)
{
    void *r = NULL;
    int rc = asyncio_wait_for(arg, 10, &r);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_null(asyncio_error());
    L("w-result:%d", (int)PI(r));
    return r;
}

static void slow_set(void *arg)
{
    struct timespec ts = {0, 50 * 1000 * 1000}; /* runs past wait_for's deadline */
    nanosleep(&ts, NULL);
    ck_assert_int_eq(asyncio_future_set_result(arg, IP(6)), 0);
}

static void *wf_race_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *w = asyncio_create_task(race_waiter, f);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, IP(5)), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(w, &r), 0);
    L("w=%d w-cancelled:%s", (int)PI(r), TF(asyncio_cancelled(w)));
    asyncio_decref(w);
    asyncio_decref(f);

    asyncio_future_t *g = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, slow_set, g)));
    ck_assert_int_eq(asyncio_wait_for(g, 0.03, &r), 0);
    L("overrun:%d", (int)PI(r));
    ck_assert(!asyncio_cancelled(g));
    asyncio_decref(g);
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    return NULL;
}

START_TEST(test_wait_for_result_not_lost)
{
    ck_assert_int_eq(asyncio_run(wf_race_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True w-result:5 w=5 w-cancelled:False overrun:6");
}
END_TEST

/* Twin: wait_for_cases.py, line 5. */
static void *wf_zero_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    void *r = NULL;
    ck_assert_int_eq(asyncio_wait_for(f, 0, &r), 0);
    L("done:%d", (int)PI(r));
    asyncio_decref(f);

    asyncio_future_t *t = asyncio_create_task(cleaner, IP(0));
    ck_assert_int_eq(asyncio_wait_for(t, 0, &r), ASYNCIO_ETIMEDOUT);
    ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
    L("unstarted:TimeoutError cancelled:%s", TF(asyncio_cancelled(t)));
    asyncio_decref(t);

    t = asyncio_create_task(cleaner, IP(10));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_wait_for(t, 0, &r), ASYNCIO_ETIMEDOUT);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    asyncio_error_clear();
    L("started:TimeoutError cancelled:%s", TF(asyncio_cancelled(t)));
    asyncio_decref(t);

    t = asyncio_create_task(swallower, IP(9));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_wait_for(t, 0, &r), 0);
    L("swallower:%d", (int)PI(r));
    asyncio_decref(t);
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    return NULL;
}

START_TEST(test_wait_for_timeout_zero)
{
    ck_assert_int_eq(asyncio_run(wf_zero_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "done:1 unstarted:TimeoutError cancelled:True cleanup-start "
                        "cleanup-end started:TimeoutError cancelled:True swallowed swallower:9");
}
END_TEST

/* Negative timeout: C rule, no timeout at all. */
static void *wf_negative_main(void *arg)
{
    (void)arg;
    static const struct spec s = {3, 0.03, false};
    asyncio_future_t *t = spawn(&s);
    void *r = NULL;
    ck_assert_int_eq(asyncio_wait_for(t, -0.5, &r), 0);
    ck_assert_int_eq(PI(r), 3);
    ck_assert(!asyncio_cancelled(t));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_wait_for_negative_timeout)
{
    ck_assert_int_eq(asyncio_run(wf_negative_main, NULL, NULL), 0);
}
END_TEST

/* Twin: wait_for_cases.py, line 6. */
struct wf_args {
    asyncio_future_t *inner;
    double timeout;
};

static void *wf_caller(void *arg)
{
    struct wf_args *a = arg;
    int rc = asyncio_wait_for(a->inner, a->timeout, NULL);
    if (rc == ASYNCIO_ECANCELLED) {
        assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
        L("w-cancelled");
    }
    return NULL;
}

static void *wf_caller_main(void *arg)
{
    (void)arg;
    struct wf_args a = {asyncio_create_task(cleaner, IP(20)), 10};
    asyncio_future_t *w = asyncio_create_task(wf_caller, &a);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    if (asyncio_await(w, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main-saw-cancel");
    }
    L("inner-cancelled:%s", TF(asyncio_cancelled(a.inner)));
    ck_assert(asyncio_cancelled(w));
    asyncio_decref(w);
    asyncio_decref(a.inner);
    return NULL;
}

START_TEST(test_wait_for_caller_cancelled)
{
    ck_assert_int_eq(asyncio_run(wf_caller_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True cleanup-start cleanup-end w-cancelled main-saw-cancel "
                        "inner-cancelled:True");
}
END_TEST

/* Twin: wait_for_cases.py, line 7. */
static void set_key_error(void *arg)
{
    ck_assert_int_eq(asyncio_future_set_exception(arg, "KeyError", "k"), 0);
}

static void *wf_raises_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{3, 0.01, true}, {1, 10, false}};
    asyncio_future_t *t = spawn(&s[0]);
    ck_assert_int_eq(asyncio_wait_for(t, 1, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    L("task:ValueError:%s", tu_raised_message());
    asyncio_error_clear();
    asyncio_decref(t);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, set_key_error, f)));
    ck_assert_int_eq(asyncio_wait_for(f, 1, NULL), ASYNCIO_EEXCEPTION);
    ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
    L("future:KeyError");
    asyncio_decref(f);
    asyncio_future_t *c = spawn(&s[1]);
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, cancel_cb, c)));
    ck_assert_int_eq(asyncio_wait_for(c, 1, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    L("inner-cancelled:CancelledError");
    L("cancelling:%d", asyncio_task_cancelling(asyncio_current_task()));
    asyncio_decref(c);
    return NULL;
}

START_TEST(test_wait_for_inner_raises)
{
    ck_assert_int_eq(asyncio_run(wf_raises_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "task:ValueError:3 failed future:KeyError "
                        "inner-cancelled:CancelledError cancelling:0");
}
END_TEST

/* Twin: wait_for_cases.py, line 8.  The caller is cancelled at wait_for's
 * second suspension point, while it waits for the timed-out inner task's
 * cleanup: as in Python 3.11 it lets go at once, and the cleanup ends
 * later (the inner task was cancelled already). */
static void *wf_cleanup_cancel_main(void *arg)
{
    (void)arg;
    struct wf_args a = {asyncio_create_task(cleaner, IP(150)), 0.01};
    asyncio_future_t *w = asyncio_create_task(wf_caller, &a);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    ck_assert_int_eq(asyncio_await(w, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    L("main-saw-cancel");
    ck_assert_int_eq(asyncio_await(a.inner, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    L("inner-cancelled");
    ck_assert(asyncio_cancelled(a.inner));
    asyncio_decref(w);
    asyncio_decref(a.inner);
    return NULL;
}

START_TEST(test_wait_for_cancel_during_cleanup)
{
    ck_assert_int_eq(asyncio_run(wf_cleanup_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cleanup-start cancel:True w-cancelled main-saw-cancel cleanup-end "
                        "inner-cancelled");
}
END_TEST

/* Twin: wait_for_cases.py, line 9: a timeout scope around wait_for
 * expires first; wait_for cancels and awaits the inner task, the scope
 * turns the CancelledError into TimeoutError. */
static void *wf_scope_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(cleaner, IP(10));
    asyncio_timeout_t *cm = asyncio_timeout_enter(0.01);
    ck_assert_int_eq(asyncio_wait_for(t, 10, NULL), ASYNCIO_ECANCELLED);
    if (asyncio_timeout_exit(cm) == ASYNCIO_ETIMEDOUT) {
        ck_assert_ptr_nonnull(asyncio_catch("TimeoutError"));
        L("TimeoutError");
    }
    L("inner-cancelled:%s cancelling:%d", TF(asyncio_cancelled(t)),
      asyncio_task_cancelling(asyncio_current_task()));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_wait_for_inside_timeout_scope)
{
    ck_assert_int_eq(asyncio_run(wf_scope_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cleanup-start cleanup-end TimeoutError inner-cancelled:True cancelling:0");
}
END_TEST

static void *self_wait_for(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_wait_for(asyncio_current_task(), 1, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    return IP(1);
}

static void *wf_bad_main(void *arg)
{
    (void)arg;
    void *r = IP(-1);
    ck_assert_int_eq(asyncio_wait_for(NULL, 1, &r), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "fut is NULL");
    asyncio_error_clear();
    ck_assert_ptr_null(r);
    asyncio_future_t *t = asyncio_create_task(self_wait_for, NULL);
    ck_assert_int_eq(asyncio_await(t, &r), 0);
    ck_assert_int_eq(PI(r), 1);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_wait_for_bad_input)
{
    ck_assert_int_eq(asyncio_run(wf_bad_main, NULL, NULL), 0);
}
END_TEST

/* ================================================================= shield */

/* Twin: wait_shield.py, line 1. */
static void *sh_outer_main(void *arg)
{
    (void)arg;
    static const struct spec s = {9, 0.02, false};
    asyncio_future_t *inner = spawn_logged(&s);
    asyncio_future_t *sh = asyncio_shield(inner);
    ck_assert_ptr_nonnull(sh);
    ck_assert_ptr_ne(sh, inner);
    L("cancel:%s", TF(asyncio_cancel(sh, NULL)));
    L("s-cancelled:%s inner-cancelled:%s", TF(asyncio_cancelled(sh)), TF(asyncio_cancelled(inner)));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(inner, &r), 0);
    L("inner=%d", (int)PI(r));
    asyncio_decref(sh);
    asyncio_decref(inner);
    return NULL;
}

START_TEST(test_shield_outer_cancelled)
{
    ck_assert_int_eq(asyncio_run(sh_outer_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True s-cancelled:True inner-cancelled:False ok9-done inner=9");
}
END_TEST

/* Twin: wait_shield.py, line 2. */
static void *shielded_await(void *arg)
{
    asyncio_future_t *sh = asyncio_shield(arg);
    ck_assert_ptr_nonnull(sh);
    void *r = NULL;
    int rc = asyncio_await(sh, &r);
    asyncio_decref(sh);
    if (rc == ASYNCIO_ECANCELLED)
        L("w-cancelled");
    return r;
}

static void *sh_caller_main(void *arg)
{
    (void)arg;
    static const struct spec s = {10, 0.1, false};
    asyncio_future_t *inner = spawn_logged(&s);
    asyncio_future_t *w = asyncio_create_task(shielded_await, inner);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    if (asyncio_await(w, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main-saw-cancel");
    }
    L("inner-cancelled:%s", TF(asyncio_cancelled(inner)));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(inner, &r), 0);
    L("inner=%d", (int)PI(r));
    asyncio_decref(w);
    asyncio_decref(inner);
    return NULL;
}

START_TEST(test_shield_caller_cancelled)
{
    ck_assert_int_eq(asyncio_run(sh_caller_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True w-cancelled main-saw-cancel inner-cancelled:False "
                        "ok10-done inner=10");
}
END_TEST

/* Twin: wait_shield.py, line 3. */
static void *sh_mirror_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{11, 0.01, false}, {12, 0.01, true}, {13, 10, false}};
    asyncio_future_t *inner = spawn_logged(&s[0]);
    asyncio_future_t *sh = asyncio_shield(inner);
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(sh, &r), 0);
    L("result:%d", (int)PI(r));
    asyncio_decref(sh);
    asyncio_decref(inner);

    inner = spawn_logged(&s[1]);
    sh = asyncio_shield(inner);
    ck_assert_int_eq(asyncio_await(sh, &r), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    L("exception:ValueError:%s", tu_raised_message());
    asyncio_error_clear();
    asyncio_decref(sh);
    asyncio_decref(inner);

    inner = spawn_logged(&s[2]);
    sh = asyncio_shield(inner);
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, cancel_cb, inner)));
    ck_assert_int_eq(asyncio_await(sh, &r), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    L("cancelled:%s", TF(asyncio_cancelled(sh)));
    /* The caller itself was not cancelled. */
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_decref(sh);
    asyncio_decref(inner);
    return NULL;
}

START_TEST(test_shield_mirrors)
{
    ck_assert_int_eq(asyncio_run(sh_mirror_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "ok11-done result:11 exception:ValueError:12 failed cancelled:True");
}
END_TEST

/* Twin: wait_shield.py, line 4. */
static void *sh_done_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(3)), 0);
    asyncio_future_t *sh = asyncio_shield(f);
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(sh, &r), 0);
    L("same:%s result:%d", TF(sh == f), (int)PI(r));
    /* A new reference: both decrefs are needed. */
    asyncio_decref(sh);
    ck_assert_int_eq(asyncio_result(f, &r), 0);
    asyncio_decref(f);

    /* A failed one too. */
    asyncio_future_t *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(g, "KeyError", "k"), 0);
    sh = asyncio_shield(g);
    ck_assert_ptr_eq(sh, g);
    ck_assert_int_eq(asyncio_await(sh, NULL), ASYNCIO_EEXCEPTION);
    asyncio_error_clear();
    asyncio_decref(sh);
    asyncio_decref(g);
    return NULL;
}

START_TEST(test_shield_done_future)
{
    ck_assert_int_eq(asyncio_run(sh_done_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "same:True result:3");
}
END_TEST

/* Twin: wait_shield.py, line 5.  Once the outer future is cancelled the
 * inner one is detached: its later exception is nobody's and is reported. */
static void *sh_detach_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_report, NULL);
    static const struct spec s = {14, 0.01, true};
    asyncio_future_t *inner = spawn(&s);
    asyncio_future_t *sh = asyncio_shield(inner);
    ck_assert(asyncio_cancel(sh, NULL));
    ck_assert_int_eq(asyncio_sleep(0.03), 0);
    L("inner-done:%s", TF(asyncio_done(inner)));
    asyncio_decref(inner);
    asyncio_decref(sh);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    L("reports:%d", reports);
    return NULL;
}

START_TEST(test_shield_cancelled_outer_detaches)
{
    ck_assert_int_eq(asyncio_run(sh_detach_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "inner-done:True reports:1");
}
END_TEST

static void *sh_bad_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_shield(NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    /* Dropping the shield before the inner finishes: no leak, no effect. */
    static const struct spec s = {1, 0.01, false};
    asyncio_future_t *inner = spawn(&s);
    asyncio_decref(asyncio_shield(inner));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(inner, &r), 0);
    ck_assert_int_eq(PI(r), 1);
    asyncio_decref(inner);
    return NULL;
}

START_TEST(test_shield_bad_input)
{
    ck_assert_int_eq(asyncio_run(sh_bad_main, NULL, NULL), 0);
}
END_TEST

/* =========================================================== as_completed */

/* Logs one step of an as_completed iteration the way the twin does. */
static int ac_step(asyncio_as_completed_t *it)
{
    asyncio_future_t *d = IP(-1);
    int rc = asyncio_as_completed_next(it, &d);
    if (rc == ASYNCIO_ETIMEDOUT) {
        assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
        asyncio_error_clear();
        ck_assert_ptr_null(d);
        L("TimeoutError");
        return 1;
    }
    ck_assert_int_eq(rc, 0);
    if (!d)
        return 0;
    void *r = NULL;
    if (asyncio_result(d, &r) == 0) {
        L("got:%d", (int)PI(r));
    } else {
        L("raised:%s", tu_raised_message());
        asyncio_error_clear();
    }
    return 1;
}

/* Twin: wait_as_completed.py, line 1. */
static void *ac_order_main(void *arg)
{
    (void)arg;
    /* Deadlines 0.1 s apart: the order holds while the three tasks start
     * within 0.1 s of each other (10 ms once was not enough under
     * ThreadSanitizer, whose first stacks are slow to make). */
    static const struct spec s[3] = {{1, 0.3, false}, {2, 0.1, true}, {3, 0.2, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    asyncio_as_completed_t *it = asyncio_as_completed(fs, 3, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it);
    while (ac_step(it))
        ;
    L("end");
    /* Exhausted stays exhausted. */
    asyncio_future_t *d = IP(-1);
    ck_assert_int_eq(asyncio_as_completed_next(it, &d), 0);
    ck_assert_ptr_null(d);
    asyncio_as_completed_free(it);
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_as_completed_order)
{
    ck_assert_int_eq(asyncio_run(ac_order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "raised:2 failed got:3 got:1 end");
}
END_TEST

/* Twin: wait_as_completed.py, line 2. */
static void *ac_timeout_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.01, false}, {2, 10, false}, {3, 10, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    asyncio_as_completed_t *it = asyncio_as_completed(fs, 3, 0.05);
    ck_assert_ptr_nonnull(it);
    double t0 = now();
    while (ac_step(it))
        ;
    ck_assert_double_ge(now() - t0, 0.04);
    L("end b-cancelled:%s c-cancelled:%s", TF(asyncio_cancelled(fs[1])),
      TF(asyncio_cancelled(fs[2])));
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    asyncio_as_completed_free(it);
    asyncio_cancel(fs[1], NULL);
    asyncio_cancel(fs[2], NULL);
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_as_completed_timeout)
{
    ck_assert_int_eq(asyncio_run(ac_timeout_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "got:1 TimeoutError TimeoutError end b-cancelled:False c-cancelled:False");
}
END_TEST

/* Twin: wait_as_completed.py, line 3. */
static void *ac_empty_main(void *arg)
{
    (void)arg;
    int n = 0;
    asyncio_as_completed_t *it = asyncio_as_completed(NULL, 0, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it);
    asyncio_future_t *d = IP(-1);
    while (asyncio_as_completed_next(it, &d) == 0 && d)
        n++;
    ck_assert_ptr_null(d);
    L("empty:%d", n);
    asyncio_as_completed_free(it);
    /* Empty with a timeout: still just exhausted. */
    it = asyncio_as_completed(NULL, 0, 0.01);
    ck_assert_int_eq(asyncio_as_completed_next(it, &d), 0);
    ck_assert_ptr_null(d);
    asyncio_as_completed_free(it);
    return NULL;
}

START_TEST(test_as_completed_empty)
{
    ck_assert_int_eq(asyncio_run(ac_empty_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "empty:0");
}
END_TEST

/* Twin: wait_as_completed.py, line 4. */
static void *ac_dup_main(void *arg)
{
    (void)arg;
    /* 0.3 s against 0.01: the order holds on a loaded machine too. */
    static const struct spec s[2] = {{1, 0.3, false}, {2, 0.01, false}};
    asyncio_future_t *a = spawn(&s[0]), *b = spawn(&s[1]);
    asyncio_future_t *fs[4] = {a, b, a, a};
    asyncio_as_completed_t *it = asyncio_as_completed(fs, 4, ASYNCIO_NO_TIMEOUT);
    while (ac_step(it))
        ;
    L("end");
    asyncio_as_completed_free(it);
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_as_completed_duplicates)
{
    ck_assert_int_eq(asyncio_run(ac_dup_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "got:2 got:1 end");
}
END_TEST

/* Twin: wait_as_completed.py, line 5. */
static asyncio_future_t *iterated[2];

static void *iterate(void *arg)
{
    (void)arg;
    asyncio_as_completed_t *it = asyncio_as_completed(iterated, 2, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it);
    for (;;) {
        asyncio_future_t *d = NULL;
        int rc = asyncio_as_completed_next(it, &d);
        if (rc < 0) {
            ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
            assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
            L("w-cancelled");
            break;
        }
        if (!d)
            break;
        void *r = NULL;
        ck_assert_int_eq(asyncio_result(d, &r), 0);
        L("got:%d", (int)PI(r));
    }
    asyncio_as_completed_free(it);
    return NULL;
}

static void *ac_caller_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{1, 0.01, false}, {2, 0.15, false}};
    iterated[0] = spawn(&s[0]);
    iterated[1] = spawn(&s[1]);
    asyncio_future_t *w = asyncio_create_task(iterate, NULL);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    L("cancel:%s", TF(asyncio_cancel(w, NULL)));
    if (asyncio_await(w, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        L("main-saw-cancel");
    }
    void *r = NULL;
    bool bc = asyncio_cancelled(iterated[1]);
    ck_assert_int_eq(asyncio_await(iterated[1], &r), 0);
    L("b-cancelled:%s b=%d", TF(bc), (int)PI(r));
    asyncio_decref(w);
    tu_decref_all(iterated, 2);
    return NULL;
}

START_TEST(test_as_completed_caller_cancelled)
{
    ck_assert_int_eq(asyncio_run(ac_caller_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "got:1 cancel:True w-cancelled main-saw-cancel b-cancelled:False b=2");
}
END_TEST

/* Freeing the iterator while its futures run (and while a timeout is
 * armed): the futures finish normally and nothing touches the freed
 * iterator (ASan would tell). */
static void *ac_free_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.0, false}, {2, 0.02, false}, {3, 0.03, true}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    /* A timeout far away: armed while freed, never the first event (a
     * short one raced the first future on a loaded machine). */
    asyncio_as_completed_t *it = asyncio_as_completed(fs, 3, 10.0);
    ac_step(it);
    asyncio_as_completed_free(it);
    it = asyncio_as_completed(fs, 3, ASYNCIO_NO_TIMEOUT);
    asyncio_as_completed_free(it);
    asyncio_as_completed_free(NULL);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_done(fs[1]) && asyncio_done(fs[2]));
    ck_assert_int_eq(asyncio_exception(fs[2])->code, ASYNCIO_EVALUE);
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_as_completed_free_while_running)
{
    ck_assert_int_eq(asyncio_run(ac_free_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "got:1");
}
END_TEST

static void *ac_bad_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_as_completed(NULL, 2, ASYNCIO_NO_TIMEOUT));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "futs is NULL");
    asyncio_error_clear();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *fs[2] = {f, NULL};
    ck_assert_ptr_null(asyncio_as_completed(fs, 2, ASYNCIO_NO_TIMEOUT));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "futs[1] is NULL");
    asyncio_error_clear();
    asyncio_future_t *d = IP(-1);
    ck_assert_int_eq(asyncio_as_completed_next(NULL, &d), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "the as_completed iterator is NULL");
    asyncio_error_clear();
    ck_assert_ptr_null(d);
    /* Nothing stayed attached to f. */
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_as_completed_bad_input)
{
    ck_assert_int_eq(asyncio_run(ac_bad_main, NULL, NULL), 0);
}
END_TEST

START_TEST(test_as_completed_no_loop)
{
    asyncio_future_t *fs[1] = {NULL};
    ck_assert_ptr_null(asyncio_as_completed(fs, 0, ASYNCIO_NO_TIMEOUT));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

/* ============================================================ alloc chaos */

/* Fails each allocation of every combinator in turn: MemoryError, no leak,
 * the futures unharmed. */
static void *chaos_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{1, 0.001, false}, {2, 0.002, false}};
    for (int which = 0; which < 4; which++) {
        bool ok = false;
        for (long n = 1; n < 200 && !ok; n++) {
            asyncio_future_t *fs[2] = {spawn(&s[0]), spawn(&s[1])};
            int rc = 0;
            tu_alloc_fail_at(n);
            switch (which) {
            case 0:
                rc = asyncio_wait(fs, 2, 1.0, ASYNCIO_ALL_COMPLETED, NULL);
                break;
            case 1:
                rc = asyncio_wait_for(fs[0], 1.0, NULL);
                break;
            case 2: {
                asyncio_future_t *sh = asyncio_shield(fs[0]);
                rc = sh ? 0 : asyncio_error()->code;
                tu_alloc_fail_at(0);
                if (sh) {
                    rc = asyncio_await(sh, NULL);
                    asyncio_decref(sh);
                }
                break;
            }
            case 3: {
                asyncio_as_completed_t *it = asyncio_as_completed(fs, 2, 1.0);
                rc = it ? 0 : asyncio_error()->code;
                tu_alloc_fail_at(0);
                if (it) {
                    asyncio_future_t *d = NULL;
                    while ((rc = asyncio_as_completed_next(it, &d)) == 0 && d)
                        ;
                    asyncio_as_completed_free(it);
                }
                break;
            }
            }
            tu_alloc_fail_at(0);
            if (rc == 0) {
                ok = true;
            } else {
                ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
                assert_raised(ASYNCIO_ENOMEM, "MemoryError");
                asyncio_error_clear();
            }
            ck_assert_int_eq(asyncio_gather(fs, 2, NULL, 0), 0);
            tu_decref_all(fs, 2);
        }
        ck_assert_msg(ok, "combinator %d never succeeded", which);
    }
    return NULL;
}

START_TEST(test_wait_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(chaos_main, NULL, NULL), 0);
}
END_TEST

/* Many wait_for calls on futures that complete in time, and many that time
 * out: nothing accumulates (timers, callbacks, cancellations). */
static void *many_main(void *arg)
{
    long n = PI(arg);
    for (long i = 0; i < n; i++) {
        asyncio_future_t *f = asyncio_future_new();
        ck_assert_int_eq(asyncio_future_set_result(f, IP(i)), 0);
        void *r = NULL;
        ck_assert_int_eq(asyncio_wait_for(f, 10, &r), 0);
        ck_assert_int_eq(PI(r), i);
        asyncio_decref(f);
        if (i % 100 == 0) {
            asyncio_future_t *g = asyncio_future_new();
            ck_assert_int_eq(asyncio_wait_for(g, 0, NULL), ASYNCIO_ETIMEDOUT);
            asyncio_error_clear();
            ck_assert(asyncio_cancelled(g));
            asyncio_decref(g);
        }
    }
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    return NULL;
}

START_TEST(test_wait_for_many)
{
    ck_assert_int_eq(asyncio_run(many_main, IP(tu_scaled(20000)), NULL), 0);
}
END_TEST

Suite *wait_suite(void)
{
    Suite *s = suite_create("wait");

    TCase *tc = tcase_create("wait");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_wait_first_completed);
    tcase_add_test(tc, test_wait_first_exception);
    tcase_add_test(tc, test_wait_all_completed_failures);
    tcase_add_test(tc, test_wait_timeout);
    tcase_add_test(tc, test_wait_duplicates);
    tcase_add_test(tc, test_wait_caller_cancelled);
    tcase_add_test(tc, test_wait_does_not_retrieve);
    tcase_add_test(tc, test_wait_bad_input);
    tcase_add_test(tc, test_wait_outside_task);
    tcase_add_test(tc, test_wait_done_inputs);
    suite_add_tcase(s, tc);

    tc = tcase_create("wait_for");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_wait_for_in_time);
    tcase_add_test(tc, test_wait_for_timeout_waits_for_cleanup);
    tcase_add_test(tc, test_wait_for_inner_swallows);
    tcase_add_test(tc, test_wait_for_result_not_lost);
    tcase_add_test(tc, test_wait_for_timeout_zero);
    tcase_add_test(tc, test_wait_for_negative_timeout);
    tcase_add_test(tc, test_wait_for_caller_cancelled);
    tcase_add_test(tc, test_wait_for_inner_raises);
    tcase_add_test(tc, test_wait_for_cancel_during_cleanup);
    tcase_add_test(tc, test_wait_for_inside_timeout_scope);
    tcase_add_test(tc, test_wait_for_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("shield");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_shield_outer_cancelled);
    tcase_add_test(tc, test_shield_caller_cancelled);
    tcase_add_test(tc, test_shield_mirrors);
    tcase_add_test(tc, test_shield_done_future);
    tcase_add_test(tc, test_shield_cancelled_outer_detaches);
    tcase_add_test(tc, test_shield_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("as_completed");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_as_completed_order);
    tcase_add_test(tc, test_as_completed_timeout);
    tcase_add_test(tc, test_as_completed_empty);
    tcase_add_test(tc, test_as_completed_duplicates);
    tcase_add_test(tc, test_as_completed_caller_cancelled);
    tcase_add_test(tc, test_as_completed_free_while_running);
    tcase_add_test(tc, test_as_completed_bad_input);
    tcase_add_test(tc, test_as_completed_no_loop);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wait_alloc_failure);
    tcase_add_test(tc, test_wait_for_many);
    suite_add_tcase(s, tc);

    return s;
}
