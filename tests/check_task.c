/*
 * Tasks: asyncio_run, create_task, scheduling order, awaiting tasks,
 * names, current_task/all_tasks, bad awaits, scale, allocation failure and
 * "Task exception was never retrieved".
 *
 * Order and semantics questions are settled by the Python twins in
 * tests/twins/ (run them with /usr/bin/python3): each test that compares a
 * log names its twin, and expects exactly what the twin prints.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The raised error is `code` of Python type `type`. */
static tu_log_t LOG;

/* ---------------------------------------------------------------------- */
/* asyncio_run                                                              */

static void *return_arg(void *arg)
{
    ck_assert_ptr_nonnull(asyncio_get_running_loop());
    ck_assert_ptr_nonnull(asyncio_current_task());
    return arg;
}

/* The signal mask belongs to the thread, not to a task: what a task
 * blocks or unblocks stays so when it suspends, and what the loop's side
 * changes is what a task finds when it resumes (also with CORO=ucontext,
 * whose swapcontext would restore each context's own mask). */
static bool usr1_blocked(void)
{
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, SIGUSR1);
}

static void usr1_mask(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(how, &set, NULL);
}

static void unblock_usr1_cb(void *arg)
{
    ck_assert_msg(usr1_blocked(), "a task's SIG_BLOCK was undone when it suspended");
    usr1_mask(SIG_UNBLOCK);
    *(bool *)arg = true;
}

static void *mask_task(void *arg)
{
    usr1_mask(SIG_BLOCK);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, unblock_usr1_cb, arg)));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(*(bool *)arg);
    ck_assert_msg(!usr1_blocked(), "the loop's SIG_UNBLOCK was undone when the task resumed");
    return NULL;
}

START_TEST(test_signal_mask_is_the_threads)
{
    bool unblocked = false;
    ck_assert(!usr1_blocked());
    ck_assert_int_eq(asyncio_run(mask_task, &unblocked, NULL), 0);
    ck_assert(unblocked);
    ck_assert(!usr1_blocked());
}
END_TEST

START_TEST(test_run_result)
{
    void *res = NULL;
    ck_assert_ptr_null(asyncio_get_running_loop());
    ck_assert_int_eq(asyncio_run(return_arg, IP(42), &res), 0);
    ck_assert_int_eq(PI(res), 42);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_ptr_null(asyncio_get_running_loop());
    /* result may be NULL; a second run in the same thread works. */
    ck_assert_int_eq(asyncio_run(return_arg, IP(7), NULL), 0);
}
END_TEST

static void *raise_key_error(void *arg)
{
    return asyncio_raise("KeyError", "missing %d", (int)PI(arg));
}

static void *raise_value_error(void *arg)
{
    (void)arg;
    return asyncio_raise("ValueError", "bad value");
}

START_TEST(test_run_raises)
{
    void *res = NULL;
    int rc = asyncio_run(raise_key_error, IP(7), &res);
    ck_assert_int_eq(rc, ASYNCIO_EEXCEPTION);
    assert_raised(ASYNCIO_EEXCEPTION, "KeyError");
    const asyncio_error_t *e = asyncio_catch("KeyError");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "missing 7");
    ck_assert_ptr_null(asyncio_error());

    rc = asyncio_run(raise_value_error, NULL, NULL);
    ck_assert_int_eq(rc, ASYNCIO_EVALUE);
    ck_assert_ptr_null(asyncio_catch("KeyError"));
    e = asyncio_catch("Exception");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "ValueError");
    ck_assert_str_eq(e->message, "bad value");
}
END_TEST

static void *nested_run(void *arg)
{
    (void)arg;
    int rc = asyncio_run(return_arg, IP(1), NULL);
    ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    return IP(5);
}

/* A task that cancels itself with a message and then returns with an
 * error of its own, before any resumption could deliver the request:
 * it ends with its error, and the message kept for the request is
 * freed when the task finishes (the fixture checks for leaks). */
static void *cancel_self_then_fail(void *arg)
{
    (void)arg;
    ck_assert(asyncio_cancel(asyncio_current_task(), "too late"));
    return asyncio_raise("ValueError", "first");
}

static void *late_cancel_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(cancel_self_then_fail, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert(!asyncio_cancelled(t));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_task_late_cancel_message_freed)
{
    ck_assert_int_eq(asyncio_run(late_cancel_main, NULL, NULL), 0);
}
END_TEST

START_TEST(test_run_nested_refused)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(nested_run, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 5);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* create_task and await                                                    */

static void *double_it(void *arg)
{
    return IP(PI(arg) * 2);
}

static void *create_and_await(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(double_it, IP(21));
    ck_assert_ptr_nonnull(t);
    ck_assert(asyncio_is_task(t));
    ck_assert(!asyncio_done(t));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 42);
    ck_assert(asyncio_done(t));
    ck_assert(!asyncio_cancelled(t));
    ck_assert_ptr_null(asyncio_exception(t));
    res = NULL;
    ck_assert_int_eq(asyncio_result(t, &res), 0);
    ck_assert_int_eq(PI(res), 42);
    /* Awaiting a done task again gives the same result. */
    res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 42);
    asyncio_decref(t);
    return IP(1);
}

START_TEST(test_create_task_and_await)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(create_and_await, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 1);
}
END_TEST

/* Twin: tests/twins/task_order.py, first line. */
struct worker {
    const char *name;
    int n;
};

static void *worker_fn(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        tu_logf(&LOG, "%s%d ", w->name, i);
        ck_assert_int_eq(asyncio_sleep(0), 0);
    }
    tu_logf(&LOG, "%s-end ", w->name);
    return NULL;
}

static void *order_main(void *arg)
{
    (void)arg;
    struct worker wa = {"a", 3}, wb = {"b", 1}, wc = {"c", 2};
    tu_logf(&LOG, "main-start ");
    asyncio_future_t *a = asyncio_create_task(worker_fn, &wa);
    asyncio_future_t *b = asyncio_create_task(worker_fn, &wb);
    asyncio_future_t *c = asyncio_create_task(worker_fn, &wc);
    ck_assert(a && b && c);
    tu_logf(&LOG, "main-created ");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main-resumed ");
    ck_assert_int_eq(asyncio_await(a, NULL), 0);
    tu_logf(&LOG, "main-a ");
    ck_assert_int_eq(asyncio_await(b, NULL), 0);
    ck_assert_int_eq(asyncio_await(c, NULL), 0);
    tu_logf(&LOG, "main-end");
    asyncio_decref(a);
    asyncio_decref(b);
    asyncio_decref(c);
    return NULL;
}

START_TEST(test_first_run_on_suspend)
{
    ck_assert_int_eq(asyncio_run(order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "main-start main-created a0 b0 c0 main-resumed a1 b-end c1 a2 c-end "
                        "a-end main-a main-end");
}
END_TEST

/* Twin: tests/twins/task_order.py, second line. */
static void *log_d(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "d ");
    return IP(1);
}

static void *done_no_suspend_main(void *arg)
{
    (void)arg;
    struct worker wx = {"x", 1};
    asyncio_future_t *d = asyncio_create_task(log_d, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_done(d));
    asyncio_future_t *x = asyncio_create_task(worker_fn, &wx);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(d, &res), 0);
    tu_logf(&LOG, "got%d ", (int)PI(res));
    tu_logf(&LOG, "main ");
    ck_assert_int_eq(asyncio_await(x, NULL), 0);
    asyncio_decref(d);
    asyncio_decref(x);
    return NULL;
}

START_TEST(test_await_done_no_suspend)
{
    ck_assert_int_eq(asyncio_run(done_no_suspend_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "d got1 main x0 x-end ");
}
END_TEST

/* Many tasks yielding with sleep(0) run round-robin in creation order. */
struct rr {
    int id;
    int rounds;
};

static void *rr_fn(void *arg)
{
    struct rr *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        tu_logf(&LOG, "%d", r->id);
        ck_assert_int_eq(asyncio_sleep(0), 0);
    }
    return NULL;
}

static void *rr_main(void *arg)
{
    (void)arg;
    struct rr rs[5];
    asyncio_future_t *ts[5];
    for (int i = 0; i < 5; i++) {
        rs[i].id = i;
        rs[i].rounds = 4;
        ts[i] = asyncio_create_task(rr_fn, &rs[i]);
        ck_assert_ptr_nonnull(ts[i]);
    }
    ck_assert_int_eq(asyncio_gather(ts, 5, NULL, 0), 0);
    for (int i = 0; i < 5; i++)
        asyncio_decref(ts[i]);
    return NULL;
}

START_TEST(test_sleep0_round_robin)
{
    ck_assert_int_eq(asyncio_run(rr_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "01234012340123401234");
}
END_TEST

/* t1 awaits t2 which awaits t3 ...: results flow back through await. */
static void *chain_fn(void *arg)
{
    intptr_t depth = PI(arg);
    if (depth == 0) {
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
        return IP(1);
    }
    asyncio_future_t *t = asyncio_create_task(chain_fn, IP(depth - 1));
    ck_assert_ptr_nonnull(t);
    void *res = NULL;
    int rc = asyncio_await(t, &res);
    asyncio_decref(t);
    ck_assert_int_eq(rc, 0);
    return IP(PI(res) + depth);
}

static void *chain_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(chain_fn, IP(50));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    asyncio_decref(t);
    return res;
}

START_TEST(test_task_awaits_task)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(chain_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 1 + 50 * 51 / 2);
}
END_TEST

/* A task that raised: await and result() raise its exception again. */
static void *boom(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return asyncio_raise("ValueError", "boom %d", (int)PI(arg));
}

static void *await_exc_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(boom, IP(7));
    void *res = IP(99);
    int rc = asyncio_await(t, &res);
    ck_assert_int_eq(rc, ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "boom 7");
    ck_assert_ptr_nonnull(asyncio_catch("ValueError"));
    ck_assert_ptr_null(asyncio_error());
    ck_assert(asyncio_done(t));
    ck_assert(!asyncio_cancelled(t));

    /* Still the same exception through result() and exception(). */
    ck_assert_int_eq(asyncio_result(t, NULL), ASYNCIO_EVALUE);
    const asyncio_error_t *e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->message, "boom 7");
    e = asyncio_exception(t);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "ValueError");
    ck_assert_str_eq(e->message, "boom 7");
    ck_assert_ptr_null(asyncio_error());

    /* A second await raises it again. */
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_await_task_exception)
{
    ck_assert_int_eq(asyncio_run(await_exc_main, NULL, NULL), 0);
}
END_TEST

/* A task's result cannot be set from outside. */
static void *set_result_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(double_it, IP(1));
    ck_assert_int_eq(asyncio_future_set_result(t, IP(5)), ASYNCIO_ERUNTIME);
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    ck_assert_int_eq(asyncio_future_set_exception(t, "ValueError", "x"), ASYNCIO_ERUNTIME);
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 2);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_task_set_result_refused)
{
    ck_assert_int_eq(asyncio_run(set_result_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/task_callback.py */
static void *cb_child(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "child-end ");
    return IP(1);
}

static void cb1(asyncio_future_t *f, void *arg)
{
    (void)arg;
    void *res = NULL;
    ck_assert_int_eq(asyncio_result(f, &res), 0);
    tu_logf(&LOG, "cb1:%d ", (int)PI(res));
}

static void cb2(asyncio_future_t *f, void *arg)
{
    ck_assert_ptr_eq(f, arg);
    tu_logf(&LOG, "cb2 ");
}

static void *cb_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(cb_child, NULL);
    ck_assert_int_eq(asyncio_add_done_callback(t, cb1, NULL), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    tu_logf(&LOG, "main-resumed ");
    ck_assert_int_eq(asyncio_add_done_callback(t, cb2, t), 0);
    tu_logf(&LOG, "added ");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main-end");
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_task_done_callback_order)
{
    ck_assert_int_eq(asyncio_run(cb_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "child-end cb1:1 main-resumed added cb2 main-end");
}
END_TEST

/* Each task has its own error indicator: an error raised in one task is
 * not seen by another, nor by the thread outside the loop. */
static void *clean_child(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_error());
    asyncio_raise("KeyError", "child's own");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_str_eq(asyncio_error()->message, "child's own");
    asyncio_error_clear();
    return IP(2);
}

static void *indicator_main(void *arg)
{
    (void)arg;
    /* The thread's raised error is not the main task's. */
    ck_assert_ptr_null(asyncio_error());
    asyncio_future_t *t = asyncio_create_task(clean_child, NULL);
    asyncio_raise("ValueError", "main's own");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_str_eq(asyncio_error()->message, "main's own");
    asyncio_error_clear();
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 2);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_error_indicator_per_task)
{
    asyncio_raise("RuntimeError", "thread's own");
    ck_assert_int_eq(asyncio_run(indicator_main, NULL, NULL), 0);
    asyncio_error_clear();
}
END_TEST

/* Twin: tests/twins/task_wake_order.py */
struct waiting {
    const char *name;
    asyncio_future_t *fut;
    double delay;
};

static void *wo_waiter(void *arg)
{
    struct waiting *w = arg;
    ck_assert_int_eq(asyncio_await(w->fut, NULL), 0);
    tu_logf(&LOG, "%s ", w->name);
    return NULL;
}

static void *wo_sleeper(void *arg)
{
    struct waiting *w = arg;
    ck_assert_int_eq(asyncio_sleep(w->delay), 0);
    tu_logf(&LOG, "%s ", w->name);
    return NULL;
}

static void log_cb(asyncio_future_t *f, void *arg)
{
    (void)f;
    tu_logf(&LOG, "%s ", (const char *)arg);
}

static void *wake_order_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    struct waiting w[3] = {{"a", f, 0}, {"b", f, 0}, {"c", f, 0}};
    asyncio_future_t *ts[5];
    ts[0] = asyncio_create_task(wo_waiter, &w[0]);
    ts[1] = asyncio_create_task(wo_waiter, &w[1]);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f, log_cb, "cb"), 0);
    ts[2] = asyncio_create_task(wo_waiter, &w[2]);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);
    ck_assert_int_eq(asyncio_gather(ts, 3, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        asyncio_decref(ts[i]);
    asyncio_decref(f);
    tu_logf(&LOG, "\n");

    /* Deadlines 0.1 s apart: the order holds as long as the five tasks
     * start within 0.1 s of each other, also under ThreadSanitizer on a
     * loaded machine (10 ms once was not). */
    struct waiting sl[5] = {
        {"s30", NULL, 0.3},  {"s10", NULL, 0.1}, {"s20a", NULL, 0.2},
        {"s20b", NULL, 0.2}, {"s0", NULL, 0},
    };
    for (int i = 0; i < 5; i++)
        ts[i] = asyncio_create_task(wo_sleeper, &sl[i]);
    ck_assert_int_eq(asyncio_gather(ts, 5, NULL, 0), 0);
    for (int i = 0; i < 5; i++)
        asyncio_decref(ts[i]);
    return NULL;
}

START_TEST(test_wake_order)
{
    ck_assert_int_eq(asyncio_run(wake_order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "a b cb c \ns0 s10 s20a s20b s30 ");
}
END_TEST

/* In a task as anywhere: a successful await keeps the raised error, a
 * failing one replaces it. */
static void *indicator_awaits(void *arg)
{
    (void)arg;
    asyncio_future_t *ok = asyncio_future_new();
    asyncio_future_t *bad = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(ok, IP(1)), 0);
    ck_assert_int_eq(asyncio_future_set_exception(bad, "KeyError", "replaced"), 0);
    asyncio_raise("ValueError", "kept");
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(ok, &res), 0);
    ck_assert_int_eq(PI(res), 1);
    ck_assert_str_eq(asyncio_error()->message, "kept");
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_str_eq(asyncio_error()->message, "kept");
    ck_assert_int_eq(asyncio_await(bad, NULL), ASYNCIO_EEXCEPTION);
    ck_assert_str_eq(asyncio_error()->type, "KeyError");
    ck_assert_str_eq(asyncio_error()->message, "replaced");
    asyncio_decref(ok);
    asyncio_decref(bad);
    return IP(5); /* returns with KeyError raised: the task fails */
}

static void *indicator_awaits_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(indicator_awaits, NULL);
    void *res = IP(-1);
    ck_assert_int_eq(asyncio_await(t, &res), ASYNCIO_EEXCEPTION);
    ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_await_keeps_or_replaces_error)
{
    ck_assert_int_eq(asyncio_run(indicator_awaits_main, NULL, NULL), 0);
}
END_TEST

/* Twin: tests/twins/task_soon_order.py */
static void *so_child(void *arg)
{
    tu_logf(&LOG, "child-start ");
    ck_assert_int_eq(asyncio_await(arg, NULL), 0);
    tu_logf(&LOG, "child-woken ");
    return NULL;
}

static void so_log(void *arg)
{
    tu_logf(&LOG, "%s ", (const char *)arg);
}

static asyncio_future_t *so_fut;

static void so_log_and_set(void *arg)
{
    tu_logf(&LOG, "%s ", (const char *)arg);
    ck_assert_int_eq(asyncio_future_set_result(so_fut, NULL), 0);
}

static void *so_main(void *arg)
{
    (void)arg;
    so_fut = asyncio_future_new();
    asyncio_call_soon(NULL, so_log, "cb1");
    asyncio_future_t *t = asyncio_create_task(so_child, so_fut);
    asyncio_call_soon(NULL, so_log, "cb2");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main1 ");
    asyncio_call_soon(NULL, so_log_and_set, "cb3");
    asyncio_call_soon(NULL, so_log, "cb4");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main2 ");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main3");
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    asyncio_decref(so_fut);
    return NULL;
}

START_TEST(test_task_step_and_callbacks_fifo)
{
    ck_assert_int_eq(asyncio_run(so_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "cb1 child-start cb2 main1 cb3 cb4 main2 child-woken main3");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Names, current_task, all_tasks                                          */

static void *nop(void *arg)
{
    return arg;
}

static char second_main_name[64];

static void *names_main(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    tu_logf(&LOG, "%s ", asyncio_task_get_name(me));
    asyncio_future_t *t1 = asyncio_create_task(nop, NULL);
    asyncio_future_t *t2 = asyncio_create_task(nop, NULL);
    char buf[16];
    strcpy(buf, "worker");
    asyncio_task_opts_t opts = {.name = buf, .stack_size = 0};
    asyncio_future_t *t3 = asyncio_create_task_ex(nop, NULL, &opts);
    ck_assert(t1 && t2 && t3);
    strcpy(buf, "changed"); /* the name was copied */
    tu_logf(&LOG, "%s %s %s ", asyncio_task_get_name(t1), asyncio_task_get_name(t2),
            asyncio_task_get_name(t3));
    strcpy(buf, "renamed");
    asyncio_task_set_name(t2, buf);
    strcpy(buf, "zzz"); /* copied too */
    tu_logf(&LOG, "%s", asyncio_task_get_name(t2));
    asyncio_future_t *ts[3] = {t1, t2, t3};
    ck_assert_int_eq(asyncio_gather(ts, 3, NULL, 0), 0);
    /* Names stay readable after the task is done. */
    ck_assert_str_eq(asyncio_task_get_name(t3), "worker");
    for (int i = 0; i < 3; i++)
        asyncio_decref(ts[i]);
    /* A plain future has no name. */
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert(!asyncio_is_task(f));
    ck_assert_ptr_null(asyncio_task_get_name(f));
    asyncio_decref(f);
    return NULL;
}

static void *second_main(void *arg)
{
    (void)arg;
    snprintf(second_main_name, sizeof second_main_name, "%s",
             asyncio_task_get_name(asyncio_current_task()));
    return NULL;
}

/* Twin: tests/twins/task_names.py.  Each test runs in a fresh process, so
 * asyncio_run's main task is the first task of the process: "Task-1". */
START_TEST(test_task_names)
{
    ck_assert_int_eq(asyncio_run(names_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "Task-1 Task-2 Task-3 worker renamed");
    /* The counter is per process: a second run goes on counting (Python
     * also spends numbers on asyncio.run's internal tasks, so only the
     * prefix and the growth are checked). */
    ck_assert_int_eq(asyncio_run(second_main, NULL, NULL), 0);
    ck_assert_int_eq(strncmp(second_main_name, "Task-", 5), 0);
    ck_assert_int_gt(atoi(second_main_name + 5), 3);
}
END_TEST

static asyncio_future_t *seen_current;
static bool callback_saw_task;
static bool callback_ran;

static void *store_current(void *arg)
{
    (void)arg;
    seen_current = asyncio_current_task();
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_ptr_eq(asyncio_current_task(), seen_current);
    return NULL;
}

static void check_no_task(void *arg)
{
    (void)arg;
    callback_ran = true;
    callback_saw_task = asyncio_current_task() != NULL;
}

static void *current_main(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    ck_assert_ptr_nonnull(me);
    ck_assert(asyncio_is_task(me));
    ck_assert(!asyncio_done(me));
    asyncio_future_t *t = asyncio_create_task(store_current, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    ck_assert_ptr_eq(seen_current, t);
    ck_assert_ptr_eq(asyncio_current_task(), me);
    asyncio_decref(t);
    /* A plain callback does not run inside a task. */
    asyncio_handle_t h = asyncio_call_soon(NULL, check_no_task, NULL);
    ck_assert(asyncio_handle_valid(h));
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert(callback_ran);
    ck_assert(!callback_saw_task);
    return NULL;
}

START_TEST(test_current_task)
{
    ck_assert_ptr_null(asyncio_current_task());
    ck_assert_int_eq(asyncio_run(current_main, NULL, NULL), 0);
    ck_assert_ptr_null(asyncio_current_task());
}
END_TEST

static void *sleeper(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(PI(arg) / 1000.0), 0);
    return arg;
}

/* Sleeps; a cancellation propagates (the task ends cancelled). */
static void *sleep_propagating(void *arg)
{
    asyncio_sleep(PI(arg) / 1000.0);
    return NULL;
}

static void *all_tasks_main(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 1);
    asyncio_future_t *out[8] = {0};
    ck_assert_uint_eq(asyncio_all_tasks(out, 8), 1);
    ck_assert_ptr_eq(out[0], me);

    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = asyncio_create_task(sleeper, IP(5 + i));
    /* Tasks not yet started are unfinished tasks too. */
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 4);
    memset(out, 0, sizeof out);
    ck_assert_uint_eq(asyncio_all_tasks(out, 8), 4);
    for (int want = -1; want < 3; want++) {
        asyncio_future_t *w = want < 0 ? me : ts[want];
        int found = 0;
        for (int j = 0; j < 4; j++)
            found += out[j] == w;
        ck_assert_int_eq(found, 1);
    }
    /* cap smaller than the count: fills cap, returns the count. */
    memset(out, 0, sizeof out);
    ck_assert_uint_eq(asyncio_all_tasks(out, 2), 4);
    ck_assert_ptr_nonnull(out[0]);
    ck_assert_ptr_nonnull(out[1]);
    ck_assert_ptr_null(out[2]);

    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 4);
    ck_assert_int_eq(asyncio_gather(ts, 3, NULL, 0), 0);
    /* Finished tasks are no longer listed even while referenced. */
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 1);
    for (int i = 0; i < 3; i++)
        asyncio_decref(ts[i]);
    return NULL;
}

START_TEST(test_all_tasks)
{
    ck_assert_int_eq(asyncio_run(all_tasks_main, NULL, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Bad awaits and bad arguments                                            */

START_TEST(test_await_outside_task)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_sleep(0), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    /* Still usable: nothing was registered on it. */
    ck_assert_int_eq(asyncio_future_set_result(f, IP(3)), 0);
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

static void *await_self_main(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    ck_assert_int_eq(asyncio_await(me, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    /* The task goes on normally. */
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(!asyncio_done(me));
    return IP(11);
}

static void *await_self_child(void *arg)
{
    (void)arg;
    asyncio_future_t *me = asyncio_current_task();
    int rc = asyncio_await(me, NULL);
    ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
    return NULL; /* propagates the RuntimeError */
}

static void *await_self_outer(void *arg)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_call(await_self_main, arg, &res), 0);
    ck_assert_int_eq(PI(res), 11);
    asyncio_future_t *t = asyncio_create_task(await_self_child, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_decref(t);
    return res;
}

START_TEST(test_await_self)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(await_self_outer, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 11);
}
END_TEST

static void *await_null_main(void *arg)
{
    (void)arg;
    void *res = IP(5);
    ck_assert_int_eq(asyncio_await(NULL, &res), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_await(NULL, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_await_null)
{
    ck_assert_int_eq(asyncio_run(await_null_main, NULL, NULL), 0);
}
END_TEST

static asyncio_future_t *foreign;

static void *await_foreign_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_await(foreign, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    /* The foreign future is untouched. */
    ck_assert(!asyncio_done(foreign));
    return NULL;
}

START_TEST(test_await_other_loop)
{
    asyncio_loop_t *other = asyncio_loop_new();
    ck_assert_ptr_nonnull(other);
    foreign = asyncio_future_new();
    ck_assert_ptr_nonnull(foreign);
    ck_assert_int_eq(asyncio_run(await_foreign_main, NULL, NULL), 0);
    asyncio_decref(foreign);
    ck_assert_int_eq(asyncio_loop_close(other), 0);
}
END_TEST

static void *bad_create_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_create_task(NULL, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_create_task_ex(NULL, NULL, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();

    size_t bad_sizes[] = {ASYNCIO_STACK_MAX + 1, ASYNCIO_STACK_MAX * 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++) {
        asyncio_task_opts_t opts = {.name = "big", .stack_size = bad_sizes[i]};
        ck_assert_ptr_null(asyncio_create_task_ex(nop, NULL, &opts));
        assert_raised(ASYNCIO_EVALUE, "ValueError");
        asyncio_error_clear();
    }
    /* NULL opts means defaults. */
    asyncio_future_t *t = asyncio_create_task_ex(nop, IP(3), NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(strncmp(asyncio_task_get_name(t), "Task-", 5), 0);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 3);
    asyncio_decref(t);
    /* Non-task futures have no cancelling() count. */
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_task_cancelling(f), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_create_task_bad_args)
{
    /* No loop at all in this thread. */
    ck_assert_ptr_null(asyncio_create_task(nop, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_run(bad_create_main, NULL, NULL), 0);
}
END_TEST

/* Tasks made before the loop runs (on the thread's current loop) and from
 * a plain callback (on the running loop). */
static asyncio_future_t *from_callback;

static void create_in_callback(void *arg)
{
    ck_assert_ptr_null(asyncio_current_task());
    from_callback = asyncio_create_task(double_it, arg);
    ck_assert_ptr_nonnull(from_callback);
}

static void *await_from_callback(void *arg)
{
    (void)arg;
    while (!from_callback)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(from_callback, &res), 0);
    return res;
}

START_TEST(test_create_task_outside_running_loop)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    asyncio_future_t *t = asyncio_create_task(double_it, IP(4));
    ck_assert_ptr_nonnull(t);
    ck_assert(!asyncio_done(t));
    void *res = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, &res), 0);
    ck_assert_int_eq(PI(res), 8);
    asyncio_decref(t);

    ck_assert(asyncio_handle_valid(asyncio_call_soon(loop, create_in_callback, IP(6))));
    t = asyncio_create_task(await_from_callback, NULL);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, &res), 0);
    ck_assert_int_eq(PI(res), 12);
    asyncio_decref(t);
    asyncio_decref(from_callback);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* loop.close() leaves unfinished tasks unfinished: one suspended on its
 * own stack, one never started.  Dropping them afterwards frees them. */
static void *quick(void *arg)
{
    return arg;
}

START_TEST(test_close_loop_with_unfinished_tasks)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    asyncio_future_t *sleeping = asyncio_create_task(sleep_propagating, IP(10000));
    asyncio_future_t *q = asyncio_create_task(quick, IP(1));
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, q, NULL), 0);
    asyncio_future_t *never_started = asyncio_create_task(quick, IP(2));
    ck_assert(!asyncio_done(sleeping));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert(!asyncio_done(sleeping));
    ck_assert(!asyncio_done(never_started));
    asyncio_decref(q);
    asyncio_decref(sleeping);
    asyncio_decref(never_started);
    asyncio_error_clear();
}
END_TEST

/* A long name is kept whole; renaming while the task runs is seen by the
 * task itself. */
static void *rename_self(void *arg)
{
    asyncio_task_set_name(asyncio_current_task(), arg);
    ck_assert_str_eq(asyncio_task_get_name(asyncio_current_task()), arg);
    return NULL;
}

static void *long_name_main(void *arg)
{
    (void)arg;
    static char name[5001];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    asyncio_task_opts_t opts = {.name = name};
    asyncio_future_t *t = asyncio_create_task_ex(nop, NULL, &opts);
    ck_assert_str_eq(asyncio_task_get_name(t), name);
    asyncio_task_set_name(t, "short");
    ck_assert_str_eq(asyncio_task_get_name(t), "short");
    asyncio_task_set_name(t, name);
    ck_assert_uint_eq(strlen(asyncio_task_get_name(t)), sizeof name - 1);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    t = asyncio_create_task(rename_self, "inside");
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    ck_assert_str_eq(asyncio_task_get_name(t), "inside");
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_task_long_name)
{
    ck_assert_int_eq(asyncio_run(long_name_main, NULL, NULL), 0);
}
END_TEST

/* A done callback that drops the last user reference to its own task (the
 * loop's reference is still held while callbacks run). */
static int dropped_in_callback;

static void drop_in_callback(asyncio_future_t *f, void *arg)
{
    (void)arg;
    ck_assert(asyncio_done(f));
    dropped_in_callback++;
    asyncio_exception(f); /* retrieved: no report for the failed one */
    asyncio_decref(f);
}

static void *drop_cb_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        asyncio_future_t *t = asyncio_create_task(i == 1 ? boom : double_it, IP(i));
        ck_assert_int_eq(asyncio_add_done_callback(t, drop_in_callback, NULL), 0);
        if (i == 2)
            ck_assert(asyncio_cancel(t, NULL));
        /* no reference kept: the callback drops ours */
    }
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f, drop_in_callback, NULL), 0);
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(dropped_in_callback, 4);
    return NULL;
}

START_TEST(test_decref_in_done_callback)
{
    ck_assert_int_eq(asyncio_run(drop_cb_main, NULL, NULL), 0);
    ck_assert_int_eq(dropped_in_callback, 4);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Deep call chains awaiting at every level                                */

static intptr_t deep(intptr_t depth)
{
    volatile char pad[256];
    pad[0] = (char)depth;
    ck_assert_int_eq(asyncio_sleep(0), 0);
    intptr_t below = depth == 0 ? 0 : deep(depth - 1);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(pad[0], (char)depth);
    return below + depth;
}

static void *deep_task(void *arg)
{
    return IP(deep(PI(arg)));
}

static void *deep_main(void *arg)
{
    (void)arg;
    /* Two tasks interleave their deep chains: each keeps its own stack. */
    asyncio_future_t *ts[2] = {asyncio_create_task(deep_task, IP(100)),
                               asyncio_create_task(deep_task, IP(99))};
    void *res[2] = {0};
    ck_assert_int_eq(asyncio_gather(ts, 2, res, 0), 0);
    ck_assert_int_eq(PI(res[0]), 100 * 101 / 2);
    ck_assert_int_eq(PI(res[1]), 99 * 100 / 2);
    asyncio_decref(ts[0]);
    asyncio_decref(ts[1]);
    return IP(deep(100));
}

START_TEST(test_deep_await_chain)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(deep_main, NULL, &res), 0);
    ck_assert_int_eq(PI(res), 100 * 101 / 2);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Lifetime: the loop keeps a task alive; unretrieved exceptions            */

static int finished_alone;

static void *alone(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_str_eq(asyncio_task_get_name(asyncio_current_task()), "alone");
    finished_alone = (int)PI(arg);
    return NULL;
}

static void *dropped_main(void *arg)
{
    (void)arg;
    asyncio_task_opts_t opts = {.name = "alone"};
    asyncio_future_t *t = asyncio_create_task_ex(alone, IP(7), &opts);
    ck_assert_ptr_nonnull(t);
    asyncio_decref(t); /* the loop still holds it */
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 2);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert_int_eq(finished_alone, 7);
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 1);
    return NULL;
}

START_TEST(test_dropped_task_keeps_running)
{
    ck_assert_int_eq(asyncio_run(dropped_main, NULL, NULL), 0);
    ck_assert_int_eq(finished_alone, 7);
}
END_TEST

struct reports {
    int count;
    char message[128];
    char type[64];
    char exc_message[64];
    char task_name[64];
};

static void record_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    struct reports *r = arg;
    r->count++;
    snprintf(r->message, sizeof r->message, "%s", ctx->message ? ctx->message : "(null)");
    snprintf(r->type, sizeof r->type, "%s", ctx->exception ? ctx->exception->type : "(none)");
    snprintf(r->exc_message, sizeof r->exc_message, "%s",
             ctx->exception ? ctx->exception->message : "(none)");
    const char *name = ctx->future ? asyncio_task_get_name(ctx->future) : NULL;
    snprintf(r->task_name, sizeof r->task_name, "%s", name ? name : "(none)");
}

static struct reports REPORTS;

static void *unretrieved_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), record_report, &REPORTS);

    /* Retrieved in three ways: no report. */
    asyncio_future_t *a = asyncio_create_task(boom, IP(1));
    asyncio_future_t *b = asyncio_create_task(boom, IP(2));
    asyncio_future_t *c = asyncio_create_task(boom, IP(3));
    ck_assert_int_eq(asyncio_await(a, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(asyncio_result(b, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_ptr_nonnull(asyncio_exception(c));
    asyncio_decref(a);
    asyncio_decref(b);
    asyncio_decref(c);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(REPORTS.count, 0);

    /* Nobody looks at this one: reported once its last reference goes. */
    asyncio_task_opts_t opts = {.name = "lost"};
    asyncio_future_t *d = asyncio_create_task_ex(boom, IP(4), &opts);
    asyncio_decref(d);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert_int_eq(REPORTS.count, 1);
    ck_assert_str_eq(REPORTS.message, "Task exception was never retrieved");
    ck_assert_str_eq(REPORTS.type, "ValueError");
    ck_assert_str_eq(REPORTS.exc_message, "boom 4");
    ck_assert_str_eq(REPORTS.task_name, "lost");

    /* Held, then released without looking: reported at the decref. */
    asyncio_future_t *e = asyncio_create_task(boom, IP(5));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert(asyncio_done(e));
    ck_assert_int_eq(REPORTS.count, 1);
    asyncio_decref(e);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(REPORTS.count, 2);
    ck_assert_str_eq(REPORTS.exc_message, "boom 5");
    /* A cancelled task is not an unretrieved exception. */
    asyncio_future_t *f = asyncio_create_task(sleep_propagating, IP(1000));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert(asyncio_cancel(f, NULL));
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(REPORTS.count, 2);
    return NULL;
}

START_TEST(test_exception_never_retrieved)
{
    ck_assert_int_eq(asyncio_run(unretrieved_main, NULL, NULL), 0);
    ck_assert_int_eq(REPORTS.count, 2);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Allocation failure                                                       */

/* Fails the 1st, 2nd, ... allocation of create_task until it succeeds:
 * every failure returns NULL with MemoryError and leaks nothing. */
static void *create_chaos_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = NULL;
    long n;
    for (n = 1; n < 1000 && !t; n++) {
        long before = tu_alloc_live();
        tu_alloc_fail_at(n);
        t = asyncio_create_task(double_it, IP(21));
        tu_alloc_fail_at(0);
        if (t)
            break;
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
        ck_assert_msg(tu_alloc_live() == before, "create_task failing at allocation %ld leaked %ld",
                      n, tu_alloc_live() - before);
        ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 1);
    }
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(asyncio_error());
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 42);
    asyncio_decref(t);

    /* Same with options (the name is copied). */
    t = NULL;
    for (n = 1; n < 1000 && !t; n++) {
        asyncio_task_opts_t opts = {.name = "chaos", .stack_size = 64 * 1024};
        tu_alloc_fail_at(n);
        t = asyncio_create_task_ex(double_it, IP(4), &opts);
        tu_alloc_fail_at(0);
        if (t)
            break;
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
    }
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(asyncio_task_get_name(t), "chaos");
    ck_assert_int_eq(asyncio_await(t, &res), 0);
    ck_assert_int_eq(PI(res), 8);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_create_task_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(create_chaos_main, NULL, NULL), 0);
}
END_TEST

/* Fails the nth allocation made while a new task starts and is awaited:
 * the task ends with MemoryError (its stack could not be had) or the await
 * fails with MemoryError; either way nothing leaks or crashes. */
static void *start_chaos_main(void *arg)
{
    (void)arg;
    for (long n = 1; n < 1000; n++) {
        asyncio_future_t *t = asyncio_create_task(double_it, IP(5));
        ck_assert_ptr_nonnull(t);
        void *res = NULL;
        tu_alloc_fail_at(n);
        int rc = asyncio_await(t, &res);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ck_assert_int_eq(PI(res), 10);
            asyncio_decref(t);
            return NULL;
        }
        ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
        if (!asyncio_done(t)) {
            rc = asyncio_await(t, &res);
            if (rc)
                asyncio_error_clear();
        }
        ck_assert(asyncio_done(t));
        asyncio_decref(t);
    }
    ck_abort_msg("the task never succeeded");
    return NULL;
}

START_TEST(test_task_start_alloc_failure)
{
    ck_assert_int_eq(asyncio_run(start_chaos_main, NULL, NULL), 0);
}
END_TEST

static void *chaos_run_main(void *arg)
{
    (void)arg;
    asyncio_future_t *t = asyncio_create_task(double_it, IP(21));
    if (!t)
        return NULL;
    void *res = NULL;
    int rc = asyncio_await(t, &res);
    asyncio_decref(t);
    return rc ? NULL : res;
}

/* asyncio_run itself, failing each allocation in turn. */
START_TEST(test_run_alloc_failure)
{
    long n;
    for (n = 1; n < 2000; n++) {
        void *res = NULL;
        tu_alloc_fail_at(n);
        int rc = asyncio_run(chaos_run_main, NULL, &res);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ck_assert_int_eq(PI(res), 42);
            break;
        }
        ck_assert_msg(rc == ASYNCIO_ENOMEM, "allocation %ld: asyncio_run returned %d (%s)", n, rc,
                      asyncio_strerror(rc));
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
        ck_assert_msg(tu_alloc_live() == 0, "asyncio_run failing at allocation %ld leaked %ld", n,
                      tu_alloc_live());
    }
    ck_assert_int_lt(n, 2000);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Scale                                                                    */

static long completed;

static void *count_done(void *arg)
{
    completed++;
    return arg;
}

static void *million_main(void *arg)
{
    long total = PI(arg);
    long batch = 10000;
    asyncio_future_t **ts = malloc(sizeof *ts * (size_t)batch);
    ck_assert_ptr_nonnull(ts);
    long sum = 0;
    for (long base = 0; base < total; base += batch) {
        long n = total - base < batch ? total - base : batch;
        for (long i = 0; i < n; i++) {
            ts[i] = asyncio_create_task(count_done, IP(i));
            ck_assert_ptr_nonnull(ts[i]);
            /* Every other task is dropped at once: the loop runs it. */
            if (i % 2) {
                asyncio_decref(ts[i]);
                ts[i] = NULL;
            }
        }
        for (long i = 0; i < n; i += 2) {
            void *res = NULL;
            ck_assert_int_eq(asyncio_await(ts[i], &res), 0);
            sum += PI(res);
            asyncio_decref(ts[i]);
        }
        ck_assert_int_eq(asyncio_sleep(0), 0);
    }
    free(ts);
    ck_assert_int_eq(completed, total);
    return IP(sum);
}

START_TEST(test_million_tasks)
{
    long total = tu_scaled(1000000);
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(million_main, IP(total), &res), 0);
    ck_assert_int_eq(completed, total);
    ck_assert_int_gt(PI(res), 0);
}
END_TEST

static asyncio_future_t *gate;
static long woken;

static void *wait_gate(void *arg)
{
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(gate, &res), 0);
    ck_assert_int_eq(PI(res), 77);
    woken++;
    return arg;
}

static void *suspended_main(void *arg)
{
    long n = PI(arg);
    gate = asyncio_future_new();
    ck_assert_ptr_nonnull(gate);
    for (long i = 0; i < n; i++) {
        asyncio_future_t *t = asyncio_create_task(wait_gate, IP(i));
        ck_assert_ptr_nonnull(t);
        asyncio_decref(t);
    }
    ck_assert_int_eq(asyncio_sleep(0), 0);
    /* All of them are suspended at once. */
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), (size_t)n + 1);
    ck_assert_int_eq(woken, 0);
    ck_assert_int_eq(asyncio_future_set_result(gate, IP(77)), 0);
    while (woken < n)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_uint_eq(asyncio_all_tasks(NULL, 0), 1);
    asyncio_decref(gate);
    return NULL;
}

START_TEST(test_many_suspended_tasks)
{
    long n = tu_scaled(100000);
    ck_assert_int_eq(asyncio_run(suspended_main, IP(n), NULL), 0);
    ck_assert_int_eq(woken, n);
}
END_TEST

Suite *task_suite(void)
{
    Suite *s = suite_create("task");

    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_run_result);
    tcase_add_test(tc, test_signal_mask_is_the_threads);
    tcase_add_test(tc, test_run_raises);
    tcase_add_test(tc, test_run_nested_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("basics");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_add_test(tc, test_task_late_cancel_message_freed);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_create_task_and_await);
    tcase_add_test(tc, test_first_run_on_suspend);
    tcase_add_test(tc, test_await_done_no_suspend);
    tcase_add_test(tc, test_sleep0_round_robin);
    tcase_add_test(tc, test_task_awaits_task);
    tcase_add_test(tc, test_await_task_exception);
    tcase_add_test(tc, test_task_set_result_refused);
    tcase_add_test(tc, test_deep_await_chain);
    tcase_add_test(tc, test_task_done_callback_order);
    tcase_add_test(tc, test_error_indicator_per_task);
    tcase_add_test(tc, test_wake_order);
    tcase_add_test(tc, test_task_step_and_callbacks_fifo);
    tcase_add_test(tc, test_await_keeps_or_replaces_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_task_names);
    tcase_add_test(tc, test_current_task);
    tcase_add_test(tc, test_all_tasks);
    tcase_add_test(tc, test_task_long_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_await_outside_task);
    tcase_add_test(tc, test_await_self);
    tcase_add_test(tc, test_await_null);
    tcase_add_test(tc, test_await_other_loop);
    tcase_add_test(tc, test_create_task_bad_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_dropped_task_keeps_running);
    tcase_add_test(tc, test_create_task_outside_running_loop);
    tcase_add_test(tc, test_close_loop_with_unfinished_tasks);
    tcase_add_test(tc, test_decref_in_done_callback);
    tcase_add_test(tc, test_exception_never_retrieved);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc_failure");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_task_alloc_failure);
    tcase_add_test(tc, test_task_start_alloc_failure);
    tcase_add_test(tc, test_run_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_million_tasks);
    tcase_add_test(tc, test_many_suspended_tasks);
    suite_add_tcase(s, tc);

    return s;
}
