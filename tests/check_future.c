/*
 * Futures: the state machine, results and exceptions, done callbacks
 * (FIFO, always through the loop), reference counting, bad arguments, and
 * the "exception was never retrieved" report.
 *
 * Where Python decides the answer the expected text is the stdout of the
 * twin program in tests/twins/ named in the test's comment.
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define I2P(i) ((void *)(intptr_t)(i))
#define P2I(p) ((int)(intptr_t)(p))

static tu_log_t LOG;

static void stop_cb(void *loop)
{
    asyncio_loop_stop(loop);
}

static void log_cb(void *arg)
{
    tu_logf(&LOG, "%s\n", (const char *)arg);
}

/* Runs the callbacks queued so far (one batch), like Python's
 * loop.call_soon(loop.stop); loop.run_forever(). */
static void run_once(asyncio_loop_t *loop)
{
    ck_assert(asyncio_handle_valid(asyncio_call_soon(loop, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
}

static asyncio_loop_t *new_loop(void)
{
    memset(&LOG, 0, sizeof LOG);
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    return loop;
}

static void close_loop(asyncio_loop_t *loop)
{
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------
 * State machine
 * --------------------------------------------------------------------- */

START_TEST(test_new_without_loop)
{
    ck_assert_ptr_null(asyncio_future_new());
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

START_TEST(test_initial_state)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert(!asyncio_done(f));
    ck_assert(!asyncio_cancelled(f));
    ck_assert(!asyncio_is_task(f));
    ck_assert_ptr_null(asyncio_task_get_name(f));
    ck_assert_ptr_null(asyncio_error());
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_set_result)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(42)), 0);
    ck_assert(asyncio_done(f));
    ck_assert(!asyncio_cancelled(f));
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    ck_assert_ptr_eq(v, I2P(42));
    v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0); /* repeatable */
    ck_assert_ptr_eq(v, I2P(42));
    ck_assert_int_eq(asyncio_result(f, NULL), 0);
    ck_assert_ptr_null(asyncio_exception(f));
    ck_assert_ptr_null(asyncio_error());
    ck_assert(!asyncio_cancel(f, "too late"));
    ck_assert(!asyncio_cancelled(f));
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* NULL is an ordinary result. */
START_TEST(test_set_result_null_value)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    ck_assert(asyncio_done(f));
    void *v = I2P(1);
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    ck_assert_ptr_null(v);
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* twins/future_states.py */
START_TEST(test_set_twice_invalid_state)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(42)), 0);

    ck_assert_int_eq(asyncio_future_set_result(f, I2P(43)), ASYNCIO_EINVALIDSTATE);
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    ck_assert_str_ne(asyncio_error()->message, "");
    asyncio_error_clear();

    ck_assert_int_eq(asyncio_future_set_exception(f, "ValueError", "x"), ASYNCIO_EINVALIDSTATE);
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    ck_assert_str_ne(asyncio_error()->message, "");
    asyncio_error_clear();

    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0); /* unchanged */
    ck_assert_ptr_eq(v, I2P(42));

    /* after an exception */
    asyncio_future_t *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(g, "KeyError", "k"), 0);
    ck_assert_int_eq(asyncio_future_set_result(g, I2P(1)), ASYNCIO_EINVALIDSTATE);
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_future_set_exception(g, "ValueError", "v"), ASYNCIO_EINVALIDSTATE);
    asyncio_error_clear();
    ck_assert_str_eq(asyncio_exception(g)->type, "KeyError");

    /* after cancel */
    asyncio_future_t *h = asyncio_future_new();
    ck_assert(asyncio_cancel(h, NULL));
    ck_assert_int_eq(asyncio_future_set_result(h, I2P(1)), ASYNCIO_EINVALIDSTATE);
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_future_set_exception(h, NULL, "e"), ASYNCIO_EINVALIDSTATE);
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(h));

    asyncio_decref(f);
    asyncio_decref(g);
    asyncio_decref(h);
    close_loop(loop);
}
END_TEST

START_TEST(test_result_before_done)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    void *v = I2P(5);
    ck_assert_int_eq(asyncio_result(f, &v), ASYNCIO_EINVALIDSTATE);
    ck_assert_ptr_null(v); /* NULL on failure */
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    ck_assert_str_eq(asyncio_error()->message, "Result is not ready.");
    asyncio_error_clear();

    ck_assert_ptr_null(asyncio_exception(f));
    assert_raised(ASYNCIO_EINVALIDSTATE, "InvalidStateError");
    asyncio_error_clear();
    ck_assert(!asyncio_done(f));
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_set_exception)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(f, "ValueError", "boom %d", 1), 0);
    ck_assert_ptr_null(asyncio_error()); /* setting it raises nothing here */
    ck_assert(asyncio_done(f));
    ck_assert(!asyncio_cancelled(f));

    void *v = I2P(5);
    ck_assert_int_eq(asyncio_result(f, &v), ASYNCIO_EVALUE);
    ck_assert_ptr_null(v);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "boom 1");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_result(f, NULL), ASYNCIO_EVALUE); /* every time */
    asyncio_error_clear();

    const asyncio_error_t *e = asyncio_exception(f);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, ASYNCIO_EVALUE);
    ck_assert_str_eq(e->type, "ValueError");
    ck_assert_str_eq(e->message, "boom 1");
    ck_assert_ptr_null(asyncio_error()); /* exception() does not raise it */
    ck_assert_ptr_eq(asyncio_exception(f), e);
    ck_assert(!asyncio_cancel(f, NULL));

    /* type NULL means Exception; other names keep theirs */
    asyncio_future_t *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(g, NULL, "plain"), 0);
    ck_assert_int_eq(asyncio_exception(g)->code, ASYNCIO_EEXCEPTION);
    ck_assert_str_eq(asyncio_exception(g)->type, "Exception");
    asyncio_future_t *h = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(h, "TimeoutError", "late"), 0);
    ck_assert_int_eq(asyncio_result(h, NULL), ASYNCIO_ETIMEDOUT);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();

    asyncio_decref(f);
    asyncio_decref(g);
    asyncio_decref(h);
    close_loop(loop);
}
END_TEST

START_TEST(test_set_error)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_raise("ConnectionResetError", "peer");
    asyncio_error_t *kept = asyncio_error_dup(asyncio_error());
    asyncio_error_clear();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_error(f, kept), 0);
    asyncio_error_free(kept); /* copied */
    const asyncio_error_t *e = asyncio_exception(f);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "ConnectionResetError");
    ck_assert_str_eq(e->message, "peer");

    asyncio_future_t *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_error(g, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert(!asyncio_done(g));
    asyncio_decref(f);
    asyncio_decref(g);
    close_loop(loop);
}
END_TEST

/* twins/future_set_cancelled_error.py */
START_TEST(test_set_exception_cancelled_error)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(f, "CancelledError", "x"), 0);
    tu_logf(&LOG, "done %s cancelled %s\n", asyncio_done(f) ? "True" : "False",
            asyncio_cancelled(f) ? "True" : "False");
    ck_assert_int_eq(asyncio_result(f, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "result raises %s %s\n", asyncio_error()->type, asyncio_error()->message);
    asyncio_error_clear();
    tu_logf(&LOG, "cancel() after: %s\n", asyncio_cancel(f, NULL) ? "True" : "False");
    tu_assert_log(&LOG, "done True cancelled False\n"
                        "result raises CancelledError x\n"
                        "cancel() after: False\n");
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* twins/future_states.py */
START_TEST(test_cancel)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert(asyncio_cancel(f, "stop it"));
    ck_assert(asyncio_cancelled(f));
    ck_assert(asyncio_done(f));
    ck_assert(!asyncio_cancel(f, "again"));
    ck_assert_ptr_null(asyncio_error());

    ck_assert_int_eq(asyncio_result(f, NULL), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    ck_assert_str_eq(asyncio_error()->message, "stop it");
    asyncio_error_clear();

    const asyncio_error_t *e = asyncio_exception(f);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, ASYNCIO_ECANCELLED);
    ck_assert_str_eq(e->type, "CancelledError");
    ck_assert_str_eq(e->message, "stop it");
    asyncio_error_clear();

    /* msg NULL: still a CancelledError, message never NULL */
    asyncio_future_t *g = asyncio_future_new();
    ck_assert(asyncio_cancel(g, NULL));
    ck_assert_int_eq(asyncio_result(g, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_error()->message);
    asyncio_error_clear();

    /* the message is copied */
    char buf[16];
    strcpy(buf, "transient");
    asyncio_future_t *h = asyncio_future_new();
    ck_assert(asyncio_cancel(h, buf));
    strcpy(buf, "XXXXXXXXX");
    ck_assert_int_eq(asyncio_result(h, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(asyncio_error()->message, "transient");
    asyncio_error_clear();

    asyncio_decref(f);
    asyncio_decref(g);
    asyncio_decref(h);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Done callbacks
 * --------------------------------------------------------------------- */

static void done_log(asyncio_future_t *f, void *arg)
{
    void *v = NULL;
    if (asyncio_cancelled(f))
        tu_logf(&LOG, "cb %s cancelled\n", (const char *)arg);
    else if (asyncio_result(f, &v) == 0)
        tu_logf(&LOG, "cb %s %d\n", (const char *)arg, P2I(v));
    else {
        tu_logf(&LOG, "cb %s raised %s\n", (const char *)arg, asyncio_error()->type);
        asyncio_error_clear();
    }
}

static void done_other(asyncio_future_t *f, void *arg)
{
    (void)f;
    tu_logf(&LOG, "other %s\n", (const char *)arg);
}

/* twins/future_callbacks_order.py */
START_TEST(test_callbacks_order)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "a"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "b"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "a"), 0);
    asyncio_call_soon(loop, log_cb, "soon1");
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(1)), 0);
    tu_logf(&LOG, "set_result returned\n");
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "c"), 0);
    tu_logf(&LOG, "removed %d\n", asyncio_remove_done_callback(f, done_log, "c"));
    asyncio_call_soon(loop, log_cb, "soon2");
    asyncio_call_soon(loop, stop_cb, loop);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "set_result returned\n"
                        "removed 0\n"
                        "soon1\n"
                        "cb a 1\n"
                        "cb b 1\n"
                        "cb a 1\n"
                        "cb c 1\n"
                        "soon2\n");
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_callback_never_inside_add)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(3)), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "late"), 0);
    ck_assert_str_eq(LOG.buf, ""); /* not run inside the call */
    run_once(loop);
    tu_assert_log(&LOG, "cb late 3\n");
    run_once(loop);
    tu_assert_log(&LOG, "cb late 3\n"); /* once */
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_callback_never_inside_set)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *g = asyncio_future_new();
    asyncio_future_t *h = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "f"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(g, done_log, "g"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(h, done_log, "h"), 0);
    ck_assert_int_eq(asyncio_future_set_exception(g, "KeyError", "k"), 0);
    ck_assert(asyncio_cancel(h, "c"));
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(9)), 0);
    ck_assert_str_eq(LOG.buf, "");
    run_once(loop);
    /* in the order the futures completed */
    tu_assert_log(&LOG, "cb g raised KeyError\ncb h cancelled\ncb f 9\n");
    asyncio_decref(f);
    asyncio_decref(g);
    asyncio_decref(h);
    close_loop(loop);
}
END_TEST

START_TEST(test_remove_done_callback)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "1"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "2"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "1"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_other, "1"), 0);
    ck_assert_int_eq(asyncio_remove_done_callback(f, done_log, "1"), 2);
    ck_assert_int_eq(asyncio_remove_done_callback(f, done_log, "1"), 0);
    ck_assert_int_eq(asyncio_remove_done_callback(f, done_log, "3"), 0);
    ck_assert_int_eq(asyncio_remove_done_callback(f, done_other, "2"), 0);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(0)), 0);
    run_once(loop);
    tu_assert_log(&LOG, "cb 2 0\nother 1\n");
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* Callbacks added from a callback of the same future, and removal of all
 * callbacks of a future: nothing runs. */
static void adds_more(asyncio_future_t *f, void *arg)
{
    (void)arg;
    tu_logf(&LOG, "first\n");
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "added-later"), 0);
    ck_assert_str_eq(LOG.buf, "first\n");
}

START_TEST(test_callback_adds_callback)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, adds_more, NULL), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "second"), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(4)), 0);
    run_once(loop);
    tu_assert_log(&LOG, "first\ncb second 4\n");
    run_once(loop);
    tu_assert_log(&LOG, "first\ncb second 4\ncb added-later 4\n");
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

static void reads_result(asyncio_future_t *f, void *arg)
{
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    *(int *)arg = P2I(v);
}

/* A scheduled callback keeps its future alive after the caller's last
 * reference is gone. */
START_TEST(test_callback_keeps_future_alive)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    int seen = 0;
    ck_assert_int_eq(asyncio_add_done_callback(f, reads_result, &seen), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(7)), 0);
    asyncio_decref(f);
    run_once(loop);
    ck_assert_int_eq(seen, 7);
    close_loop(loop);
}
END_TEST

/* A done callback may drop the last reference to its own future. */
static void drops_last_ref(asyncio_future_t *f, void *arg)
{
    (void)arg;
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    tu_logf(&LOG, "got %d\n", P2I(v));
    asyncio_decref(f);
}

START_TEST(test_callback_drops_last_reference)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, drops_last_ref, NULL), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "after"), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(12)), 0);
    run_once(loop);
    tu_assert_log(&LOG, "got 12\ncb after 12\n");
    close_loop(loop);
}
END_TEST

static long next_cb;

static void count_cb(asyncio_future_t *f, void *arg)
{
    (void)f;
    ck_assert_int_eq((long)(intptr_t)arg, next_cb);
    next_cb += 2;
}

/* Many callbacks on one future stay FIFO; removing the odd ones keeps the
 * order of the others. */
START_TEST(test_many_callbacks_one_future)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    long n = tu_scaled(2000);
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(asyncio_add_done_callback(f, count_cb, I2P(i)), 0);
    for (long i = 1; i < n; i += 2)
        ck_assert_int_eq(asyncio_remove_done_callback(f, count_cb, I2P(i)), 1);
    next_cb = 0;
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    run_once(loop);
    ck_assert_int_eq(next_cb, ((n + 1) / 2) * 2);
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* Closing a loop with done callbacks still scheduled drops them without
 * leaking the futures they hold. */
START_TEST(test_close_with_scheduled_callbacks)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, done_log, "never"), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(1)), 0);
    asyncio_decref(f);
    close_loop(loop);
    ck_assert_str_eq(LOG.buf, "");
}
END_TEST

START_TEST(test_add_done_callback_alloc_failure)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    int added = 0, failed = 0;
    for (long n = 1; n < 20; n++) {
        tu_alloc_fail_at(n);
        int rc = asyncio_add_done_callback(f, done_other, "x");
        tu_alloc_fail_at(0);
        if (rc == 0) {
            added++;
            continue;
        }
        ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
        failed++;
    }
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    run_once(loop);
    /* exactly the successful additions ran */
    char expected[512] = "";
    for (int i = 0; i < added; i++)
        strcat(expected, "other x\n");
    ck_assert_str_eq(LOG.buf, expected);
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_future_new_alloc_failure)
{
    asyncio_loop_t *loop = new_loop();
    for (long n = 1; n < 50; n++) {
        tu_alloc_fail_at(n);
        asyncio_future_t *f = asyncio_future_new();
        tu_alloc_fail_at(0);
        if (f) {
            asyncio_decref(f);
            break;
        }
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
    }
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Tasks are futures, but not settable
 * --------------------------------------------------------------------- */

static void *returns_one(void *arg)
{
    (void)arg;
    return I2P(1);
}

/* twins/future_states.py */
START_TEST(test_set_on_task)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *t = asyncio_create_task(returns_one, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert(asyncio_is_task(t));
    ck_assert_int_eq(asyncio_future_set_result(t, I2P(2)), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_future_set_exception(t, "ValueError", "v"), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_raise("ValueError", "kept");
    asyncio_error_t *kept = asyncio_error_dup(asyncio_error());
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_future_set_error(t, kept), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_error_free(kept);
    ck_assert(!asyncio_done(t));
    void *v = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, &v), 0);
    ck_assert_ptr_eq(v, I2P(1));
    asyncio_decref(t);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Bad arguments and reference counting
 * --------------------------------------------------------------------- */

#define expect_value_error(call)                                                                   \
    do {                                                                                           \
        ck_assert_int_eq((call), ASYNCIO_EVALUE);                                                  \
        assert_raised(ASYNCIO_EVALUE, "ValueError");                                               \
        asyncio_error_clear();                                                                     \
    } while (0)

START_TEST(test_null_arguments)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();

    expect_value_error(asyncio_future_set_result(NULL, I2P(1)));
    expect_value_error(asyncio_future_set_exception(NULL, "ValueError", "x"));
    expect_value_error(asyncio_future_set_error(NULL, NULL));
    void *v = I2P(3);
    expect_value_error(asyncio_result(NULL, &v));
    ck_assert_ptr_null(v);
    expect_value_error(asyncio_add_done_callback(NULL, done_log, "x"));
    expect_value_error(asyncio_add_done_callback(f, NULL, "x"));

    ck_assert_int_lt(asyncio_remove_done_callback(NULL, done_log, "x"), 0);
    ck_assert_ptr_nonnull(asyncio_error());
    asyncio_error_clear();
    /* fn NULL matches nothing (Python: remove_done_callback(None) == 0);
     * refusing it as bad input is fine too */
    int rc = asyncio_remove_done_callback(f, NULL, "x");
    ck_assert_int_le(rc, 0);
    ck_assert(rc == 0 ? asyncio_error() == NULL : asyncio_error() != NULL);
    asyncio_error_clear();

    ck_assert_ptr_null(asyncio_exception(NULL));
    ck_assert_ptr_nonnull(asyncio_error());
    asyncio_error_clear();

    ck_assert(!asyncio_cancel(NULL, "x"));
    asyncio_error_clear();
    ck_assert(!asyncio_done(NULL));
    ck_assert(!asyncio_cancelled(NULL));
    ck_assert(!asyncio_is_task(NULL));
    ck_assert_ptr_null(asyncio_incref(NULL));
    asyncio_decref(NULL);
    ck_assert_ptr_null(asyncio_task_get_name(NULL));
    asyncio_error_clear();

    /* f is untouched by all that */
    ck_assert(!asyncio_done(f));
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(8)), 0);
    run_once(loop);
    ck_assert_str_eq(LOG.buf, "");
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

static void *await_null(void *arg)
{
    (void)arg;
    void *v = I2P(3);
    ck_assert_int_eq(asyncio_await(NULL, &v), ASYNCIO_EVALUE);
    ck_assert_ptr_null(v);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "fut is NULL");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_await_null)
{
    ck_assert_int_eq(tu_run(await_null, NULL, NULL), 0);
}
END_TEST

START_TEST(test_await_outside_task)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_set_result(f, I2P(1));
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

START_TEST(test_incref_decref)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_eq(asyncio_incref(f), f);
    ck_assert_ptr_eq(asyncio_incref(f), f);
    asyncio_decref(f);
    asyncio_decref(f);
    /* still alive: one reference left */
    ck_assert(!asyncio_done(f));
    ck_assert_int_eq(asyncio_future_set_result(f, I2P(6)), 0);
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    ck_assert_ptr_eq(v, I2P(6));
    asyncio_decref(f); /* freed: the leak check proves it */
    close_loop(loop);
}
END_TEST

/* A future may outlive its loop; its last decref frees it. */
START_TEST(test_future_outlives_loop)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *g = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(g, I2P(2)), 0);
    close_loop(loop);
    ck_assert(!asyncio_done(f));
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(g, &v), 0);
    ck_assert_ptr_eq(v, I2P(2));
    asyncio_decref(f);
    asyncio_decref(g);
}
END_TEST

/* Many futures with callbacks: nothing lost, nothing leaked. */
START_TEST(test_many_futures)
{
    asyncio_loop_t *loop = new_loop();
    long n = tu_scaled(10000);
    asyncio_future_t **fs = calloc((size_t)n, sizeof *fs);
    static int count;
    count = 0;
    for (long i = 0; i < n; i++) {
        fs[i] = asyncio_future_new();
        ck_assert_ptr_nonnull(fs[i]);
        ck_assert_int_eq(asyncio_add_done_callback(fs[i], reads_result, &count), 0);
    }
    for (long i = 0; i < n; i++) {
        ck_assert_int_eq(asyncio_future_set_result(fs[i], I2P(i)), 0);
        asyncio_decref(fs[i]);
    }
    run_once(loop);
    ck_assert_int_eq(count, (int)(n - 1)); /* the last one ran last */
    free(fs);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Awaiting futures (twins/future_await.py, twins/future_wakeup_order.py)
 * --------------------------------------------------------------------- */

static void *other_runs(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "other runs\n");
    return NULL;
}

static void set_fut_11(void *arg)
{
    asyncio_future_set_result(arg, I2P(11));
}

static void *await_main(void *arg)
{
    (void)arg;
    asyncio_future_t *done = asyncio_future_new();
    asyncio_future_set_result(done, "ready");
    asyncio_future_t *t = asyncio_create_task(other_runs, NULL);
    void *v = NULL;
    ck_assert_int_eq(asyncio_await(done, &v), 0);
    tu_logf(&LOG, "await done -> %s\n", (const char *)v);
    tu_logf(&LOG, "no yield yet\n");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "after sleep(0)\n");

    asyncio_future_t *c = asyncio_future_new();
    asyncio_cancel(c, "gone");
    ck_assert_int_eq(asyncio_await(c, NULL), ASYNCIO_ECANCELLED);
    const asyncio_error_t *e = asyncio_catch("CancelledError");
    ck_assert_ptr_nonnull(e);
    tu_logf(&LOG, "await cancelled -> %s %s\n", e->type, e->message);
    tu_logf(&LOG, "task not cancelled: %s\n",
            asyncio_cancelled(asyncio_current_task()) ? "False" : "True");

    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_set_exception(f, "KeyError", "k");
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_EEXCEPTION);
    e = asyncio_catch("KeyError");
    ck_assert_ptr_nonnull(e);
    tu_logf(&LOG, "await failed -> %s\n", e->type);

    asyncio_future_t *later = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, set_fut_11, later)));
    v = NULL;
    ck_assert_int_eq(asyncio_await(later, &v), 0);
    tu_logf(&LOG, "await later -> %d\n", P2I(v));
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(done);
    asyncio_decref(t);
    asyncio_decref(c);
    asyncio_decref(f);
    asyncio_decref(later);
    return NULL;
}

START_TEST(test_await_futures)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(await_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "await done -> ready\n"
                        "no yield yet\n"
                        "other runs\n"
                        "after sleep(0)\n"
                        "await cancelled -> CancelledError gone\n"
                        "task not cancelled: True\n"
                        "await failed -> KeyError\n"
                        "await later -> 11\n");
}
END_TEST

static void *waiter(void *arg)
{
    tu_logf(&LOG, "waiter start\n");
    void *v = NULL;
    ck_assert_int_eq(asyncio_await(arg, &v), 0);
    tu_logf(&LOG, "waiter got %d\n", P2I(v));
    return NULL;
}

static void *wakeup_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    asyncio_future_t *t = asyncio_create_task(waiter, fut);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_log, "done-cb"), 0);
    asyncio_call_soon(NULL, log_cb, "soon-before");
    ck_assert_int_eq(asyncio_future_set_result(fut, I2P(7)), 0);
    asyncio_call_soon(NULL, log_cb, "soon-after");
    tu_logf(&LOG, "main set\n");
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    tu_logf(&LOG, "main end\n");
    asyncio_decref(t);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_wakeup_order)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(wakeup_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "waiter start\n"
                        "main set\n"
                        "soon-before\n"
                        "waiter got 7\n"
                        "cb done-cb 7\n"
                        "soon-after\n"
                        "main end\n");
}
END_TEST

/* Cancelling a task that awaits a future cancels the future too. */
static void *await_forever(void *arg)
{
    int rc = asyncio_await(arg, NULL);
    tu_logf(&LOG, "waiter rc=%s\n", rc == ASYNCIO_ECANCELLED ? "cancelled" : "other");
    return NULL; /* propagates the CancelledError */
}

static void *cancel_waiter_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    asyncio_future_t *t = asyncio_create_task(await_forever, fut);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, "bye"));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(asyncio_error()->message, "bye");
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(t));
    ck_assert(asyncio_cancelled(fut));
    asyncio_decref(t);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_cancel_awaiting_task_cancels_future)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(cancel_waiter_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "waiter rc=cancelled\n");
}
END_TEST

/* ---------------------------------------------------------------------
 * "exception was never retrieved" (twins/future_never_retrieved.py)
 * --------------------------------------------------------------------- */

static void record_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)arg;
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_ptr_nonnull(ctx->message);
    const asyncio_error_t *e = ctx->exception;
    tu_logf(&LOG, "report: %s | %s: %s | %s\n", ctx->message, e ? e->type : "None",
            e ? e->message : "", asyncio_is_task(ctx->future) ? "task" : "future");
}

static void *fails(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "task lost");
}

static void *never_retrieved_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), record_handler, NULL);
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_set_exception(f, "ValueError", "lost");
    asyncio_decref(f);
    tu_logf(&LOG, "unretrieved future dropped\n");

    static const char *hows[] = {"result", "exception", "await"};
    for (int i = 0; i < 3; i++) {
        f = asyncio_future_new();
        asyncio_future_set_exception(f, "ValueError", "kept");
        if (i == 0)
            ck_assert_int_eq(asyncio_result(f, NULL), ASYNCIO_EVALUE);
        else if (i == 1)
            ck_assert_ptr_nonnull(asyncio_exception(f));
        else
            ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_EVALUE);
        asyncio_error_clear();
        asyncio_decref(f);
        tu_logf(&LOG, "retrieved by %s dropped\n", hows[i]);
    }
    f = asyncio_future_new();
    asyncio_cancel(f, NULL);
    asyncio_decref(f);
    f = asyncio_future_new();
    asyncio_future_set_result(f, I2P(1));
    asyncio_decref(f);
    tu_logf(&LOG, "cancelled and done futures dropped\n");

    asyncio_future_t *t = asyncio_create_task(fails, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_done(t));
    asyncio_decref(t);
    tu_logf(&LOG, "unretrieved task dropped\n");
    return NULL;
}

START_TEST(test_never_retrieved)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(never_retrieved_main, NULL, NULL), 0);
    tu_assert_log(&LOG,
                  "report: Future exception was never retrieved | ValueError: lost | future\n"
                  "unretrieved future dropped\n"
                  "retrieved by result dropped\n"
                  "retrieved by exception dropped\n"
                  "retrieved by await dropped\n"
                  "cancelled and done futures dropped\n"
                  "report: Task exception was never retrieved | ValueError: task lost | task\n"
                  "unretrieved task dropped\n");
}
END_TEST

/* The handler is told the future itself. */
static asyncio_future_t *reported_future;
static int reports;

static void ptr_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    ck_assert_ptr_eq(arg, &reports);
    reported_future = ctx->future;
    reports++;
    ck_assert_ptr_nonnull(ctx->exception);
    ck_assert_str_eq(ctx->exception->message, "lost");
}

START_TEST(test_never_retrieved_outside_run)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_loop_set_exception_handler(loop, ptr_handler, &reports);
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_set_exception(f, "ValueError", "lost");
    asyncio_future_t *same = f;
    asyncio_incref(f);
    asyncio_decref(f);
    ck_assert_int_eq(reports, 0); /* not the last reference */
    asyncio_decref(f);
    if (reports == 0)
        run_once(loop); /* a deferred report is acceptable too */
    ck_assert_int_eq(reports, 1);
    ck_assert_ptr_eq(reported_future, same);
    close_loop(loop);
    ck_assert_int_eq(reports, 1);
}
END_TEST

/* loop.call_exception_handler() reaches the custom handler at once, with
 * the context as given. */
static const asyncio_exception_context_t *seen_ctx;
static asyncio_loop_t *seen_loop;

static void ctx_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    seen_loop = loop;
    seen_ctx = ctx;
    tu_logf(&LOG, "%s|%s|%s|%s\n", (const char *)arg, ctx->message,
            ctx->exception ? ctx->exception->message : "-", ctx->future ? "fut" : "-");
}

START_TEST(test_call_exception_handler_custom)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_loop_set_exception_handler(loop, ctx_handler, "h");
    asyncio_future_t *f = asyncio_future_new();
    asyncio_raise("ValueError", "ctx-exc");
    asyncio_error_t *kept = asyncio_error_dup(asyncio_error());
    asyncio_error_clear();
    asyncio_exception_context_t ctx = {.message = "custom", .exception = kept, .future = f};
    asyncio_loop_call_exception_handler(loop, &ctx);
    tu_assert_log(&LOG, "h|custom|ctx-exc|fut\n"); /* synchronously */
    ck_assert_ptr_eq(seen_loop, loop);
    ctx.exception = NULL;
    ctx.future = NULL;
    ctx.message = "bare";
    asyncio_loop_call_exception_handler(loop, &ctx);
    tu_assert_log(&LOG, "h|custom|ctx-exc|fut\nh|bare|-|-\n");
    asyncio_error_free(kept);
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

/* Read a whole file descriptor (rewound) into buf. */
static void slurp(int fd, char *buf, size_t cap)
{
    lseek(fd, 0, SEEK_SET);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
}

/* The default handler writes to stderr, never stdout. */
START_TEST(test_default_handler_stderr)
{
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);

    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_set_exception(f, "ValueError", "lost-in-default");
    asyncio_decref(f);

    /* a custom handler, then NULL restores the default */
    asyncio_loop_set_exception_handler(loop, record_handler, NULL);
    asyncio_loop_set_exception_handler(loop, NULL, NULL);
    f = asyncio_future_new();
    asyncio_future_set_exception(f, "KeyError", "second-one");
    asyncio_decref(f);

    asyncio_raise("RuntimeError", "ctx-error");
    asyncio_error_t *kept = asyncio_error_dup(asyncio_error());
    asyncio_error_clear();
    asyncio_exception_context_t ctx = {.message = "direct-call", .exception = kept};
    asyncio_loop_default_exception_handler(loop, &ctx);
    ctx.message = "through-call-handler";
    ctx.exception = NULL;
    asyncio_loop_call_exception_handler(loop, &ctx);
    run_once(loop);
    close_loop(loop);
    asyncio_error_free(kept);

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);

    static char obuf[8192], ebuf[8192];
    slurp(fileno(out), obuf, sizeof obuf);
    slurp(fileno(err), ebuf, sizeof ebuf);
    fclose(out);
    fclose(err);
    ck_assert_msg(obuf[0] == '\0', "stdout got: %s", obuf);
    ck_assert_msg(strstr(ebuf, "exception was never retrieved") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "lost-in-default") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "ValueError") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "second-one") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "direct-call") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "ctx-error") != NULL, "stderr: %s", ebuf);
    ck_assert_msg(strstr(ebuf, "through-call-handler") != NULL, "stderr: %s", ebuf);
}
END_TEST

Suite *future_suite(void)
{
    Suite *s = suite_create("future");

    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_new_without_loop);
    tcase_add_test(tc, test_initial_state);
    tcase_add_test(tc, test_set_result);
    tcase_add_test(tc, test_set_result_null_value);
    tcase_add_test(tc, test_set_twice_invalid_state);
    tcase_add_test(tc, test_result_before_done);
    tcase_add_test(tc, test_set_exception);
    tcase_add_test(tc, test_set_error);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_set_exception_cancelled_error);
    tcase_add_test(tc, test_set_on_task);
    suite_add_tcase(s, tc);

    tc = tcase_create("callbacks");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_callbacks_order);
    tcase_add_test(tc, test_callback_never_inside_add);
    tcase_add_test(tc, test_callback_never_inside_set);
    tcase_add_test(tc, test_remove_done_callback);
    tcase_add_test(tc, test_callback_adds_callback);
    tcase_add_test(tc, test_callback_keeps_future_alive);
    tcase_add_test(tc, test_callback_drops_last_reference);
    tcase_add_test(tc, test_many_callbacks_one_future);
    tcase_add_test(tc, test_close_with_scheduled_callbacks);
    tcase_add_test(tc, test_add_done_callback_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("refs_and_args");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_await_null);
    tcase_add_test(tc, test_await_outside_task);
    tcase_add_test(tc, test_incref_decref);
    tcase_add_test(tc, test_future_outlives_loop);
    tcase_add_test(tc, test_future_new_alloc_failure);
    tcase_add_test(tc, test_many_futures);
    suite_add_tcase(s, tc);

    tc = tcase_create("await");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_await_futures);
    tcase_add_test(tc, test_wakeup_order);
    tcase_add_test(tc, test_cancel_awaiting_task_cancels_future);
    suite_add_tcase(s, tc);

    tc = tcase_create("never_retrieved");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_never_retrieved);
    tcase_add_test(tc, test_never_retrieved_outside_run);
    tcase_add_test(tc, test_call_exception_handler_custom);
    tcase_add_test(tc, test_default_handler_stderr);
    suite_add_tcase(s, tc);
    return s;
}
