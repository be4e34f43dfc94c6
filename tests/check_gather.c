/*
 * asyncio_gather and asyncio_gather_future: argument order, first failure,
 * ASYNCIO_RETURN_EXCEPTIONS, empty and duplicate inputs, cancellation in
 * both directions, bad input, retrieval of the children's exceptions, and
 * allocation failure.
 *
 * The expected logs are what tests/twins/gather_*.py print under
 * /usr/bin/python3 (CPython 3.11).
 */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_log_t LOG;

/* Child coroutines: arg points at a spec. */
struct spec {
    int value;    /* result, or the number in the error message */
    double delay; /* seconds to sleep first */
    bool fail;    /* raise ValueError instead of returning */
};

static void *child(void *arg)
{
    const struct spec *s = arg;
    if (asyncio_sleep(s->delay) < 0)
        return NULL;
    if (s->fail)
        return asyncio_raise("ValueError", "%d failed", s->value);
    tu_logf(&LOG, "ok%d-done ", s->value);
    return IP(s->value);
}

static asyncio_future_t *spawn(const struct spec *s)
{
    asyncio_future_t *t = asyncio_create_task(child, (void *)s);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* ---------------------------------------------------------------------- */

static void set_later(void *arg)
{
    ck_assert_int_eq(asyncio_future_set_result(arg, IP(100)), 0);
}

static void *order_main(void *arg)
{
    (void)arg;
    /* Finishing in reverse order; a plain future among the tasks. */
    static const struct spec s[3] = {{1, 0.03, false}, {2, 0.02, false}, {3, 0.0, false}};
    asyncio_future_t *fs[4] = {spawn(&s[0]), spawn(&s[1]), asyncio_future_new(), spawn(&s[2])};
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0.01, set_later, fs[2])));
    void *res[4] = {0};
    ck_assert_int_eq(asyncio_gather(fs, 4, res, 0), 0);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(PI(res[0]), 1);
    ck_assert_int_eq(PI(res[1]), 2);
    ck_assert_int_eq(PI(res[2]), 100);
    ck_assert_int_eq(PI(res[3]), 3);
    /* results may be NULL: wait only. */
    ck_assert_int_eq(asyncio_gather(fs, 4, NULL, 0), 0);
    tu_decref_all(fs, 4);
    return NULL;
}

START_TEST(test_gather_results_in_order)
{
    ck_assert_int_eq(asyncio_run(order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "ok3-done ok2-done ok1-done ");
}
END_TEST

static void *done_inputs_main(void *arg)
{
    (void)arg;
    /* Every input already done: gather completes without waiting. */
    asyncio_future_t *fs[3] = {asyncio_future_new(), asyncio_future_new(), asyncio_future_new()};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(asyncio_future_set_result(fs[i], IP(i + 1)), 0);
    void *res[3] = {0};
    ck_assert_int_eq(asyncio_gather(fs, 3, res, 0), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(PI(res[i]), i + 1);
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_gather_done_inputs)
{
    ck_assert_int_eq(asyncio_run(done_inputs_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/gather_done_order.py */
static void *xn(void *arg)
{
    for (int i = 0; i < PI(arg); i++) {
        tu_logf(&LOG, "x%d ", i);
        ck_assert_int_eq(asyncio_sleep(0), 0);
    }
    return NULL;
}

static void *done_order_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    asyncio_future_t *t = asyncio_create_task(xn, IP(4));
    void *res[1] = {0};
    ck_assert_int_eq(asyncio_gather(&f, 1, res, 0), 0);
    tu_logf(&LOG, "main[%d] ", (int)PI(res[0]));
    ck_assert_int_eq(asyncio_gather(NULL, 0, NULL, 0), 0);
    tu_logf(&LOG, "main-empty[] ");
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    asyncio_decref(f);
    return NULL;
}

/* Twin: tests/twins/gather_settle_order.py.  A gather of a task and a
 * future done beforehand: the future's callback is queued at once, the
 * task's when it ends, and the gather finishes at the task's, after the
 * callbacks queued before it -- not at the done future's, though that
 * one runs last of the two only in counting. */
static void *quick(void *arg)
{
    tu_logf(&LOG, "p ");
    return arg;
}

static void log_soon(void *arg)
{
    tu_logf(&LOG, "%s ", (const char *)arg);
}

static void log_later(void *arg)
{
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, log_soon, arg)));
}

static void log_done(asyncio_future_t *f, void *arg)
{
    (void)f;
    tu_logf(&LOG, "%s ", (const char *)arg);
}

static void *last_child_order_main(void *arg)
{
    (void)arg;
    asyncio_future_t *d = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(d, IP(2)), 0);
    asyncio_future_t *fs[2] = {asyncio_create_task(quick, IP(1)), d};
    asyncio_future_t *g = asyncio_gather_future(fs, 2, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(asyncio_add_done_callback(g, log_done, "g"), 0);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, log_soon, "A")));
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, log_later, "B")));
    void **res = NULL;
    ck_assert_int_eq(asyncio_await(g, (void **)&res), 0);
    ck_assert_int_eq(PI(res[0]), 1);
    ck_assert_int_eq(PI(res[1]), 2);
    asyncio_decref(g);
    tu_decref_all(fs, 2);
    return NULL;
}

START_TEST(test_gather_last_child_order)
{
    ck_assert_int_eq(asyncio_run(last_child_order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "p A B g ");
}
END_TEST

START_TEST(test_gather_done_inputs_order)
{
    ck_assert_int_eq(asyncio_run(done_order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "x0 x1 main[1] main-empty[] x2 x3 ");
}
END_TEST

/* Twin: tests/twins/gather_wake_order.py */
static void *five(void *arg)
{
    (void)arg;
    return IP(5);
}

static void *fail_f(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "f");
}

static void *wake_order_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(xn, IP(6));
    asyncio_future_t *ab[2] = {asyncio_create_task(five, NULL), asyncio_create_task(five, NULL)};
    void *res[2] = {0};
    ck_assert_int_eq(asyncio_gather(ab, 2, res, 0), 0);
    tu_logf(&LOG, "g[%d, %d] ", (int)PI(res[0]), (int)PI(res[1]));
    asyncio_future_t *c = asyncio_create_task(fail_f, NULL);
    asyncio_future_t *d = asyncio_create_task(five, NULL);
    asyncio_future_t *dc[2] = {d, c};
    ck_assert_int_eq(asyncio_gather(dc, 2, res, 0), ASYNCIO_EVALUE);
    asyncio_error_clear();
    tu_logf(&LOG, "gV");
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    tu_decref_all(ab, 2);
    asyncio_decref(c);
    asyncio_decref(d);
    return NULL;
}

START_TEST(test_gather_wakeup_order)
{
    ck_assert_int_eq(asyncio_run(wake_order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "x0 x1 x2 g[5, 5] x3 x4 x5 gV");
}
END_TEST

/* Twin: gather_sem.py, line 1. */
static void *first_failure_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.1, false}, {0, 0.0, true}, {3, 0.2, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    void *res[3] = {IP(-1), IP(-1), IP(-1)};
    int rc = asyncio_gather(fs, 3, res, 0);
    ck_assert_int_eq(rc, ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    tu_logf(&LOG, "gather-raised:%s ", tu_raised_message());
    asyncio_error_clear();
    tu_logf(&LOG, "done:%s,%s,%s ", TF(asyncio_done(fs[0])), TF(asyncio_done(fs[1])),
            TF(asyncio_done(fs[2])));
    /* The siblings keep running; their results stay reachable. */
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(fs[0], &r), 0);
    tu_logf(&LOG, "a=%d ", (int)PI(r));
    ck_assert_int_eq(asyncio_await(fs[2], &r), 0);
    tu_logf(&LOG, "c=%d", (int)PI(r));
    tu_decref_all(fs, 3);
    return NULL;
}

START_TEST(test_gather_first_failure)
{
    ck_assert_int_eq(asyncio_run(first_failure_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "gather-raised:0 failed done:False,True,False ok1-done a=1 ok3-done c=3");
}
END_TEST

/* Twin: gather_sem.py, line 5 (plus what C can see of each child). */
static void *rex_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{30, 0.0, false}, {5, 0.0, true}, {31, 10, false}};
    asyncio_future_t *a = spawn(&s[0]), *b = spawn(&s[1]), *d = spawn(&s[2]);
    ck_assert(asyncio_cancel(d, NULL));
    asyncio_future_t *fs[4] = {a, b, a, d};
    void *res[4] = {IP(-1), IP(-1), IP(-1), IP(-1)};
    ck_assert_int_eq(asyncio_gather(fs, 4, res, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert_ptr_null(asyncio_error());
    tu_logf(&LOG, "rex:");
    for (int i = 0; i < 4; i++) {
        if (res[i]) {
            tu_logf(&LOG, "%s%d", i ? "," : "", (int)PI(res[i]));
        } else {
            const asyncio_error_t *e = asyncio_exception(fs[i]);
            ck_assert_ptr_nonnull(e);
            tu_logf(&LOG, "%s%s", i ? "," : "", e->type);
        }
    }
    ck_assert_str_eq(asyncio_exception(b)->message, "5 failed");
    ck_assert_int_eq(asyncio_exception(d)->code, ASYNCIO_ECANCELLED);
    ck_assert(asyncio_cancelled(d));
    asyncio_decref(a);
    asyncio_decref(b);
    asyncio_decref(d);
    return NULL;
}

START_TEST(test_gather_return_exceptions)
{
    ck_assert_int_eq(asyncio_run(rex_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "ok30-done rex:30,ValueError,30,CancelledError");
}
END_TEST

static void *empty_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_gather(NULL, 0, NULL, 0), 0);
    asyncio_future_t *dummy[1] = {NULL};
    void *res[1] = {IP(5)};
    ck_assert_int_eq(asyncio_gather(dummy, 0, res, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert_int_eq(PI(res[0]), 5);
    asyncio_future_t *g = asyncio_gather_future(NULL, 0, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(asyncio_await(g, NULL), 0);
    ck_assert(asyncio_done(g));
    ck_assert(!asyncio_cancelled(g));
    asyncio_decref(g);
    return IP(1);
}

START_TEST(test_gather_empty)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(empty_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 1);
}
END_TEST

static void *twice_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{7, 0.001, false}, {8, 0.0, false}};
    asyncio_future_t *a = spawn(&s[0]), *b = spawn(&s[1]);
    asyncio_future_t *fs[4] = {a, b, a, a};
    void *res[4] = {0};
    ck_assert_int_eq(asyncio_gather(fs, 4, res, 0), 0);
    ck_assert_int_eq(PI(res[0]), 7);
    ck_assert_int_eq(PI(res[1]), 8);
    ck_assert_int_eq(PI(res[2]), 7);
    ck_assert_int_eq(PI(res[3]), 7);
    /* The same failing future twice, without return_exceptions. */
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(f, "ValueError", "twice"), 0);
    asyncio_future_t *gs[2] = {f, f};
    ck_assert_int_eq(asyncio_gather(gs, 2, res, 0), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "twice");
    asyncio_error_clear();
    asyncio_decref(f);
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_gather_same_future_twice)
{
    ck_assert_int_eq(asyncio_run(twice_main, NULL, NULL), 0);
}
END_TEST

/* Twin: gather_sem.py, line 3. */
static void *future_cancel_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{20, 10, false}, {21, 10, false}};
    asyncio_future_t *fs[2] = {spawn(&s[0]), spawn(&s[1])};
    asyncio_future_t *g = asyncio_gather_future(fs, 2, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(g, "gm")));
    tu_logf(&LOG, "g-done-now:%s ", TF(asyncio_done(g)));
    ck_assert_int_eq(asyncio_await(g, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "g-raised:%s ", tu_raised_message());
    asyncio_error_clear();
    tu_logf(&LOG, "children:%s,%s", TF(asyncio_cancelled(fs[0])), TF(asyncio_cancelled(fs[1])));
    asyncio_decref(g);
    tu_decref_all(fs, 2);
    return NULL;
}

START_TEST(test_gather_future_cancel)
{
    ck_assert_int_eq(asyncio_run(future_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True g-done-now:False g-raised:gm children:True,True");
}
END_TEST

/* Twin: gather_sem.py, line 4. */
static asyncio_future_t *caller_children[2];

static void *gatherer(void *arg)
{
    (void)arg;
    int rc = asyncio_gather(caller_children, 2, NULL, 0);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "gatherer:%s ", tu_raised_message());
    return NULL;
}

static void *caller_cancel_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{40, 10, false}, {41, 10, false}};
    caller_children[0] = spawn(&s[0]);
    caller_children[1] = spawn(&s[1]);
    asyncio_future_t *t = asyncio_create_task(gatherer, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(t, "cm")));
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "main:%s ", tu_raised_message());
    asyncio_error_clear();
    tu_logf(&LOG, "t:%s children:%s,%s", TF(asyncio_cancelled(t)),
            TF(asyncio_cancelled(caller_children[0])), TF(asyncio_cancelled(caller_children[1])));
    asyncio_decref(t);
    tu_decref_all(caller_children, 2);
    return NULL;
}

START_TEST(test_gather_caller_cancelled)
{
    ck_assert_int_eq(asyncio_run(caller_cancel_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True gatherer:cm main:cm t:True children:True,True");
}
END_TEST

/* Twin: gather_sem.py, line 2. */
static void *child_cancel_main(void *arg)
{
    (void)arg;
    static const struct spec s[2] = {{10, 10, false}, {11, 0.02, false}};
    asyncio_future_t *fs[2] = {spawn(&s[0]), spawn(&s[1])};
    asyncio_future_t *g = asyncio_gather_future(fs, 2, 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(fs[0], "alone"));
    int rc = asyncio_await(g, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    tu_logf(&LOG, "gather-raised:CancelledError:%s ", tu_raised_message());
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    tu_logf(&LOG, "b-cancelled:%s ", TF(asyncio_cancelled(fs[1])));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(fs[1], &r), 0);
    tu_logf(&LOG, "b=%d", (int)PI(r));
    tu_assert_log(&LOG, "gather-raised:CancelledError:alone b-cancelled:False ok11-done b=11");
    asyncio_decref(g);
    tu_decref_all(fs, 2);

    /* The same through asyncio_gather in this task: the task catches the
     * CancelledError and goes on (it was not cancelled itself). */
    asyncio_future_t *hs[2] = {spawn(&s[0]), spawn(&s[1])};
    ck_assert(asyncio_cancel(hs[0], NULL));
    ck_assert_int_eq(asyncio_gather(hs, 2, NULL, 0), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    ck_assert_int_eq(asyncio_task_cancelling(asyncio_current_task()), 0);
    ck_assert(!asyncio_cancelled(hs[1]));
    ck_assert_int_eq(asyncio_await(hs[1], NULL), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_decref_all(hs, 2);
    return NULL;
}

START_TEST(test_gather_child_cancelled)
{
    ck_assert_int_eq(asyncio_run(child_cancel_main, NULL, NULL), 0);
}
END_TEST

static void *array_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.01, false}, {2, 0.0, false}, {3, 0.005, false}};
    asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
    asyncio_future_t *g = asyncio_gather_future(fs, 3, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert(!asyncio_is_task(g));
    ck_assert(!asyncio_done(g));
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(g, &r), 0);
    void **arr = r;
    ck_assert_ptr_nonnull(arr);
    ck_assert_int_eq(PI(arr[0]), 1);
    ck_assert_int_eq(PI(arr[1]), 2);
    ck_assert_int_eq(PI(arr[2]), 3);
    void *r2 = NULL;
    ck_assert_int_eq(asyncio_result(g, &r2), 0);
    ck_assert_ptr_eq(r2, r);
    /* The gather future is not a task: it cannot be given a result. */
    ck_assert_int_eq(asyncio_future_set_result(g, NULL), ASYNCIO_EINVALIDSTATE);
    asyncio_error_clear();
    asyncio_decref(g); /* frees the array */
    tu_decref_all(fs, 3);

    /* With return_exceptions: NULL slot for the failure; the gather
     * future itself succeeds. */
    static const struct spec t[2] = {{4, 0.0, true}, {5, 0.0, false}};
    asyncio_future_t *hs[2] = {spawn(&t[0]), spawn(&t[1])};
    g = asyncio_gather_future(hs, 2, ASYNCIO_RETURN_EXCEPTIONS);
    ck_assert_int_eq(asyncio_await(g, &r), 0);
    arr = r;
    ck_assert_ptr_null(arr[0]);
    ck_assert_int_eq(PI(arr[1]), 5);
    ck_assert_str_eq(asyncio_exception(hs[0])->message, "4 failed");
    asyncio_decref(g);
    tu_decref_all(hs, 2);

    /* Without it, the gather future fails with the child's exception. */
    hs[0] = spawn(&t[0]);
    hs[1] = spawn(&t[1]);
    g = asyncio_gather_future(hs, 2, 0);
    ck_assert_int_eq(asyncio_await(g, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    const asyncio_error_t *e = asyncio_exception(g);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "4 failed");
    asyncio_decref(g);
    ck_assert_int_eq(asyncio_await(hs[1], NULL), 0);
    tu_decref_all(hs, 2);
    return NULL;
}

START_TEST(test_gather_future_result_array)
{
    ck_assert_int_eq(asyncio_run(array_main, NULL, NULL), 0);
}
END_TEST

/* gather of gather futures: results nest; cancelling the outer one
 * reaches the grandchildren. */
static void *nested_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.0, false}, {2, 0.001, false}, {3, 0.0, false}};
    asyncio_future_t *ab[2] = {spawn(&s[0]), spawn(&s[1])};
    asyncio_future_t *inner = asyncio_gather_future(ab, 2, 0);
    asyncio_future_t *c = spawn(&s[2]);
    asyncio_future_t *outer_in[2] = {inner, c};
    asyncio_future_t *outer = asyncio_gather_future(outer_in, 2, 0);
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(outer, &r), 0);
    void **top = r;
    void **nested = top[0];
    ck_assert_int_eq(PI(nested[0]), 1);
    ck_assert_int_eq(PI(nested[1]), 2);
    ck_assert_int_eq(PI(top[1]), 3);
    asyncio_decref(outer);
    asyncio_decref(inner);
    asyncio_decref(c);
    tu_decref_all(ab, 2);

    static const struct spec l[3] = {{4, 10, false}, {5, 10, false}, {6, 10, false}};
    asyncio_future_t *de[2] = {spawn(&l[0]), spawn(&l[1])};
    inner = asyncio_gather_future(de, 2, 0);
    c = spawn(&l[2]);
    outer_in[0] = inner;
    outer_in[1] = c;
    outer = asyncio_gather_future(outer_in, 2, 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(outer, NULL));
    ck_assert_int_eq(asyncio_await(outer, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(de[0]) && asyncio_cancelled(de[1]) && asyncio_cancelled(c));
    ck_assert(asyncio_done(inner));
    asyncio_decref(outer);
    asyncio_decref(inner);
    asyncio_decref(c);
    tu_decref_all(de, 2);
    return NULL;
}

START_TEST(test_gather_nested)
{
    ck_assert_int_eq(asyncio_run(nested_main, NULL, NULL), 0);
}
END_TEST

/* Plain futures failing later: the first failure in time wins, not the
 * first in argument order. */
static void fail_later(void *arg)
{
    ck_assert_int_eq(asyncio_future_set_exception(arg, "KeyError", "late"), 0);
}

static void fail_sooner(void *arg)
{
    ck_assert_int_eq(asyncio_future_set_exception(arg, "IndexError", "soon"), 0);
}

static void *futures_fail_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fs[2] = {asyncio_future_new(), asyncio_future_new()};
    asyncio_call_later(NULL, 0.02, fail_later, fs[0]);
    asyncio_call_later(NULL, 0.005, fail_sooner, fs[1]);
    ck_assert_int_eq(asyncio_gather(fs, 2, NULL, 0), ASYNCIO_EEXCEPTION);
    const asyncio_error_t *e = asyncio_catch("IndexError");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "soon");
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert_str_eq(asyncio_exception(fs[0])->type, "KeyError");
    tu_decref_all(fs, 2);
    return NULL;
}

START_TEST(test_gather_plain_futures_fail)
{
    ck_assert_int_eq(asyncio_run(futures_fail_main, NULL, NULL), 0);
}
END_TEST

/* Once gather has returned, the gather future and its references to the
 * children are gone: the caller's references are the last, and dropping
 * them releases the children (their names are freed) -- not only when
 * the caller next suspends.  The future a task was woken by is not kept
 * alive by the wake-up for the rest of the task's step. */
static void *named_child(void *arg)
{
    return arg;
}

static void *released_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fs[2];
    for (int i = 0; i < 2; i++) {
        fs[i] = asyncio_create_task(named_child, IP(i));
        ck_assert_ptr_nonnull(fs[i]);
        asyncio_task_set_name(fs[i], i ? "second" : "first");
    }
    void *res[2];
    ck_assert_int_eq(asyncio_gather(fs, 2, res, 0), 0);
    ck_assert_int_eq(PI(res[1]), 1);
    long live = tu_alloc_live();
    tu_decref_all(fs, 2);
    ck_assert_int_eq(tu_alloc_live(), live - 2); /* the two names */

    /* The same for a plain future awaited: woken, then dropped. */
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, set_later, f)));
    asyncio_future_t *g = asyncio_gather_future(&f, 1, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(asyncio_await(g, NULL), 0);
    live = tu_alloc_live();
    asyncio_decref(g); /* the gather's impl, children and results arrays */
    ck_assert_int_lt(tu_alloc_live(), live);
    asyncio_decref(f);
    return NULL;
}

/* A gather future that has completed lets go of its children at once,
 * though it is itself still held: a child whose other references are
 * gone is freed then (its name goes). */
static void *children_released_main(void *arg)
{
    (void)arg;
    /* Twice: the first round also sets up what the loop keeps (its stack
     * pool), which would blur the count. */
    for (int round = 0; round < 2; round++) {
        asyncio_future_t *fs[3];
        for (int i = 0; i < 3; i++) {
            fs[i] = asyncio_create_task(named_child, IP(i));
            ck_assert_ptr_nonnull(fs[i]);
            asyncio_task_set_name(fs[i], "child");
        }
        asyncio_future_t *both[4] = {fs[0], fs[1], fs[0], fs[2]}; /* fs[0] twice */
        asyncio_future_t *g = asyncio_gather_future(both, 4, 0);
        ck_assert_ptr_nonnull(g);
        tu_decref_all(fs, 3); /* g holds the only references now */
        long live = tu_alloc_live();
        void **res = NULL;
        ck_assert_int_eq(asyncio_await(g, (void **)&res), 0);
        ck_assert_int_eq(PI(res[2]), 0);
        ck_assert_int_eq(PI(res[3]), 2);
        if (round == 1)
            ck_assert_int_eq(tu_alloc_live(), live - 3); /* the three names */
        asyncio_decref(g);
    }
    return NULL;
}

START_TEST(test_gather_done_releases_children)
{
    ck_assert_int_eq(asyncio_run(children_released_main, NULL, NULL), 0);
}
END_TEST

START_TEST(test_gather_released_when_dropped)
{
    ck_assert_int_eq(asyncio_run(released_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/gather_cancel_edge.py */
static void *swallow(void *arg)
{
    if (asyncio_sleep(10) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "swallow%d ", (int)PI(arg));
    }
    return arg;
}

static void *sleep_long(void *arg)
{
    (void)arg;
    asyncio_sleep(10);
    return NULL;
}

static asyncio_future_t *rex_children[2];

static void *rex_gatherer(void *arg)
{
    (void)arg;
    void *res[2];
    if (asyncio_gather(rex_children, 2, res, ASYNCIO_RETURN_EXCEPTIONS) == 0) {
        tu_logf(&LOG, "gatherer-returned ");
        return NULL;
    }
    ck_assert(asyncio_error_matches("CancelledError"));
    tu_logf(&LOG, "gatherer-cancelled ");
    return NULL;
}

static void *edges_main(void *arg)
{
    (void)arg;
    /* 1: children swallow the cancellation. */
    asyncio_future_t *fs[2] = {asyncio_create_task(swallow, IP(1)),
                               asyncio_create_task(swallow, IP(2))};
    asyncio_future_t *g = asyncio_gather_future(fs, 2, 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "cancel:%s ", TF(asyncio_cancel(g, NULL)));
    void *r = NULL;
    if (asyncio_await(g, &r) == 0) {
        tu_logf(&LOG, "g-returned ");
    } else {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "g-cancelled-error ");
    }
    void *r1 = NULL, *r2 = NULL;
    ck_assert_int_eq(asyncio_result(fs[0], &r1), 0);
    ck_assert_int_eq(asyncio_result(fs[1], &r2), 0);
    tu_logf(&LOG, "results:%d,%d\n", (int)PI(r1), (int)PI(r2));
    asyncio_decref(g);
    tu_decref_all(fs, 2);

    /* 2: the caller of gather(return_exceptions) is cancelled. */
    rex_children[0] = asyncio_create_task(sleep_long, NULL);
    rex_children[1] = asyncio_create_task(sleep_long, NULL);
    asyncio_future_t *t = asyncio_create_task(rex_gatherer, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(t, NULL));
    if (asyncio_await(t, NULL) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        tu_logf(&LOG, "main-saw-cancel ");
    }
    tu_logf(&LOG, "t:%s a:%s b:%s\n", TF(asyncio_cancelled(t)),
            TF(asyncio_cancelled(rex_children[0])), TF(asyncio_cancelled(rex_children[1])));
    asyncio_decref(t);
    tu_decref_all(rex_children, 2);

    /* 3: nothing left to cancel. */
    asyncio_future_t *f1 = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f1, IP(1)), 0);
    g = asyncio_gather_future(&f1, 1, 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "done:%s ", TF(asyncio_done(g)));
    tu_logf(&LOG, "cancel:%s", TF(asyncio_cancel(g, NULL)));
    asyncio_decref(g);
    asyncio_decref(f1);
    return NULL;
}

START_TEST(test_gather_cancel_edges)
{
    ck_assert_int_eq(asyncio_run(edges_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cancel:True swallow1 swallow2 g-cancelled-error results:1,2\n"
                        "gatherer-cancelled main-saw-cancel t:True a:True b:True\n"
                        "done:True cancel:False");
}
END_TEST

static void *bad_input_main(void *arg)
{
    (void)arg;
    void *res[3]; /* n entries: a failed gather sets them all to NULL */
    ck_assert_int_eq(asyncio_gather(NULL, 2, res, 0), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *fs[3] = {f, NULL, f};
    ck_assert_int_eq(asyncio_gather(fs, 3, res, 0), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_gather(fs, 3, res, ASYNCIO_RETURN_EXCEPTIONS), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_gather_future(NULL, 1, 0));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_gather_future(fs, 3, 0));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    /* Nothing was attached to f: it is still pending and usable. */
    ck_assert(!asyncio_done(f));
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    asyncio_future_t *one[1] = {f};
    ck_assert_int_eq(asyncio_gather(one, 1, res, 0), 0);
    ck_assert_int_eq(PI(res[0]), 1);
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_gather_bad_input)
{
    ck_assert_int_eq(asyncio_run(bad_input_main, NULL, NULL), 0);
}
END_TEST

START_TEST(test_gather_outside_task)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *fs[1] = {f};
    ck_assert_int_eq(asyncio_gather(fs, 1, NULL, 0), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* Twin: tests/twins/gather_retrieved.py */
static int reports;
static char report_msg[128];

static void count_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    reports++;
    snprintf(report_msg, sizeof report_msg, "%s", ctx->message);
}

static void *retrieved_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_report, NULL);
    static const struct spec s[3] = {{1, 0.0, true}, {2, 0.01, true}, {3, 0.0, true}};
    asyncio_future_t *fs[2] = {spawn(&s[0]), spawn(&s[1])};
    ck_assert_int_eq(asyncio_gather(fs, 2, NULL, 0), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "1 failed");
    asyncio_error_clear();
    tu_decref_all(fs, 2);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert_int_eq(reports, 0);

    /* Same under return_exceptions, and for a dropped gather future. */
    fs[0] = spawn(&s[0]);
    fs[1] = spawn(&s[1]);
    ck_assert_int_eq(asyncio_gather(fs, 2, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    tu_decref_all(fs, 2);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    ck_assert_int_eq(reports, 0);

    /* Control: a failed task nobody looks at is reported. */
    asyncio_future_t *lost = spawn(&s[2]);
    asyncio_decref(lost);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(reports, 1);
    ck_assert_str_eq(report_msg, "Task exception was never retrieved");
    return NULL;
}

START_TEST(test_gather_marks_retrieved)
{
    ck_assert_int_eq(asyncio_run(retrieved_main, NULL, NULL), 0);
    ck_assert_int_eq(reports, 1);
}
END_TEST

/* A bad entry after a done future that failed: gather raises ValueError
 * and has looked at nothing -- the done future's exception is still
 * unretrieved, and reported when it is dropped. */
static void *bad_after_done_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_report, NULL);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_future_set_exception(f, "ValueError", "lost"), 0);
    asyncio_future_t *fs[2] = {f, NULL};
    ck_assert_ptr_null(asyncio_gather_future(fs, 2, 0));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_sleep(0), 0); /* whatever was queued has run */
    ck_assert_int_eq(reports, 0);
    asyncio_decref(f);
    ck_assert_int_eq(reports, 1);
    ck_assert_str_eq(report_msg, "Future exception was never retrieved");
    return NULL;
}

START_TEST(test_gather_bad_entry_retrieves_nothing)
{
    reports = 0;
    ck_assert_int_eq(asyncio_run(bad_after_done_main, NULL, NULL), 0);
}
END_TEST

/* Many children. */
static void *value_child(void *arg)
{
    if (PI(arg) % 3 == 0)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    return arg;
}

static void *many_main(void *arg)
{
    long n = PI(arg);
    asyncio_future_t **fs = calloc((size_t)n, sizeof *fs);
    void **res = calloc((size_t)n, sizeof *res);
    ck_assert(fs && res);
    for (long i = 0; i < n; i++) {
        fs[i] = asyncio_create_task(value_child, IP(i));
        ck_assert_ptr_nonnull(fs[i]);
    }
    ck_assert_int_eq(asyncio_gather(fs, (size_t)n, res, 0), 0);
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(PI(res[i]), i);
    tu_decref_all(fs, (size_t)n);
    free(fs);
    free(res);
    return NULL;
}

START_TEST(test_gather_many)
{
    ck_assert_int_eq(asyncio_run(many_main, IP(tu_scaled(20000)), NULL), 0);
}
END_TEST

/* Many children, each given twice far apart (the second half is the first
 * reversed) with a few given a third time: each counted once, every
 * result in its place, and a second gather of the same array (its marks
 * must be clear) gives the same. */
static void *many_dup_main(void *arg)
{
    long n = PI(arg);
    size_t total = (size_t)(2 * n + 3);
    asyncio_future_t **fs = calloc(total, sizeof *fs);
    void **res = calloc(total, sizeof *res);
    ck_assert(fs && res);
    for (long i = 0; i < n; i++) {
        fs[i] = asyncio_create_task(value_child, IP(i));
        ck_assert_ptr_nonnull(fs[i]);
        fs[2 * n - 1 - i] = fs[i];
    }
    fs[2 * n] = fs[0];
    fs[2 * n + 1] = fs[n / 2];
    fs[2 * n + 2] = fs[n - 1];
    for (int round = 0; round < 2; round++) {
        memset(res, 0, total * sizeof *res);
        ck_assert_int_eq(asyncio_gather(fs, total, res, 0), 0);
        for (long i = 0; i < n; i++) {
            ck_assert_int_eq(PI(res[i]), i);
            ck_assert_int_eq(PI(res[2 * n - 1 - i]), i);
        }
        ck_assert_int_eq(PI(res[2 * n]), 0);
        ck_assert_int_eq(PI(res[2 * n + 1]), n / 2);
        ck_assert_int_eq(PI(res[2 * n + 2]), n - 1);
    }
    tu_decref_all(fs, (size_t)n);
    free(fs);
    free(res);
    return NULL;
}

START_TEST(test_gather_many_duplicates)
{
    ck_assert_int_eq(asyncio_run(many_dup_main, IP(tu_scaled(20000)), NULL), 0);
}
END_TEST

/* Fails each allocation of asyncio_gather / asyncio_gather_future in turn:
 * MemoryError, no leak, and the children are unharmed. */
static void *chaos_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.002, false}, {2, 0.0, false}, {3, 0.001, false}};
    bool ok = false;
    for (long n = 1; n < 500 && !ok; n++) {
        asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
        void *res[3] = {0};
        tu_alloc_fail_at(n);
        int rc = asyncio_gather(fs, 3, res, 0);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ok = true;
            ck_assert_int_eq(PI(res[0]), 1);
            ck_assert_int_eq(PI(res[2]), 3);
        } else {
            ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
            assert_raised(ASYNCIO_ENOMEM, "MemoryError");
            asyncio_error_clear();
            /* The children still complete normally. */
            ck_assert_int_eq(asyncio_gather(fs, 3, res, 0), 0);
            ck_assert_int_eq(PI(res[1]), 2);
        }
        tu_decref_all(fs, 3);
    }
    ck_assert(ok);

    ok = false;
    for (long n = 1; n < 500 && !ok; n++) {
        asyncio_future_t *fs[3] = {spawn(&s[0]), spawn(&s[1]), spawn(&s[2])};
        tu_alloc_fail_at(n);
        asyncio_future_t *g = asyncio_gather_future(fs, 3, 0);
        tu_alloc_fail_at(0);
        if (g) {
            ok = true;
            void *r = NULL;
            ck_assert_int_eq(asyncio_await(g, &r), 0);
            ck_assert_int_eq(PI(((void **)r)[1]), 2);
            asyncio_decref(g);
        } else {
            assert_raised(ASYNCIO_ENOMEM, "MemoryError");
            asyncio_error_clear();
            ck_assert_int_eq(asyncio_gather(fs, 3, NULL, 0), 0);
        }
        tu_decref_all(fs, 3);
    }
    ck_assert(ok);
    return NULL;
}

START_TEST(test_gather_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(chaos_main, NULL, NULL), 0);
}
END_TEST

static void noop_done(asyncio_future_t *fut, void *arg)
{
    (void)fut;
    (void)arg;
}

/* The same, with duplicates among children that already have a done
 * callback, so that registering gather's own allocates and can fail half
 * way: what was registered is taken back, the marks are cleared (a
 * gather after the failure counts each child once and completes). */
static void *chaos_dup_main(void *arg)
{
    (void)arg;
    static const struct spec s[3] = {{1, 0.002, false}, {2, 0.0, false}, {3, 0.001, false}};
    bool ok = false;
    for (long n = 1; n < 500 && !ok; n++) {
        asyncio_future_t *a = spawn(&s[0]), *b = spawn(&s[1]), *c = spawn(&s[2]);
        asyncio_future_t *fs[6] = {a, b, a, c, b, c};
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(asyncio_add_done_callback(fs[i + (i == 2)], noop_done, NULL), 0);
        void *res[6] = {0};
        tu_alloc_fail_at(n);
        int rc = asyncio_gather(fs, 6, res, 0);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ok = true;
        } else {
            ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
            assert_raised(ASYNCIO_ENOMEM, "MemoryError");
            asyncio_error_clear();
            ck_assert_int_eq(asyncio_gather(fs, 6, res, 0), 0);
        }
        ck_assert_int_eq(PI(res[0]), 1);
        ck_assert_int_eq(PI(res[1]), 2);
        ck_assert_int_eq(PI(res[2]), 1);
        ck_assert_int_eq(PI(res[3]), 3);
        ck_assert_int_eq(PI(res[4]), 2);
        ck_assert_int_eq(PI(res[5]), 3);
        asyncio_decref(a);
        asyncio_decref(b);
        asyncio_decref(c);
    }
    ck_assert(ok);
    return NULL;
}

START_TEST(test_gather_alloc_failure_duplicates)
{
    ck_assert_int_eq(asyncio_run(chaos_dup_main, NULL, NULL), 0);
}
END_TEST

Suite *gather_suite(void)
{
    Suite *s = suite_create("gather");

    TCase *tc = tcase_create("results");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_gather_results_in_order);
    tcase_add_test(tc, test_gather_done_inputs);
    tcase_add_test(tc, test_gather_done_inputs_order);
    tcase_add_test(tc, test_gather_last_child_order);
    tcase_add_test(tc, test_gather_wakeup_order);
    tcase_add_test(tc, test_gather_first_failure);
    tcase_add_test(tc, test_gather_return_exceptions);
    tcase_add_test(tc, test_gather_empty);
    tcase_add_test(tc, test_gather_same_future_twice);
    tcase_add_test(tc, test_gather_future_result_array);
    tcase_add_test(tc, test_gather_marks_retrieved);
    tcase_add_test(tc, test_gather_nested);
    tcase_add_test(tc, test_gather_plain_futures_fail);
    tcase_add_test(tc, test_gather_released_when_dropped);
    tcase_add_test(tc, test_gather_done_releases_children);
    suite_add_tcase(s, tc);

    tc = tcase_create("cancel");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_gather_future_cancel);
    tcase_add_test(tc, test_gather_caller_cancelled);
    tcase_add_test(tc, test_gather_child_cancelled);
    tcase_add_test(tc, test_gather_cancel_edges);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad_input");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_gather_bad_input);
    tcase_add_test(tc, test_gather_outside_task);
    tcase_add_test(tc, test_gather_bad_entry_retrieves_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gather_many);
    tcase_add_test(tc, test_gather_many_duplicates);
    tcase_add_test(tc, test_gather_alloc_failure);
    tcase_add_test(tc, test_gather_alloc_failure_duplicates);
    suite_add_tcase(s, tc);

    return s;
}
