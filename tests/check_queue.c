/*
 * Queues: FIFO, LIFO and priority order (NULL items, equal priorities
 * first in first out), bounded put, the _nowait variants, task_done/join,
 * cancellation of waiting and of woken getters and putters, shutdown
 * (Python 3.13), bad input, allocation failure, and a stress test with
 * random cancellations.
 *
 * Where Python decides the answer the expected line is what
 * tests/twins/queue_order.py prints for the test of the same name.
 * Shutdown is 3.13's and the Python here is 3.11: those expectations are
 * reasoned from 3.13's Lib/asyncio/queues.py and say so.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_log_t LOG;
static asyncio_queue_t *Q;

#define LOGF(...) tu_logf(&LOG, __VA_ARGS__)

/* Runs main in a fresh loop with an empty log and checks it succeeded. */
static void run(asyncio_coro_fn main, void *arg)
{
    memset(&LOG, 0, sizeof LOG);
    tu_run_ok(main, arg);
}

/* Items are small integers in pointers; NULL prints as Python's None. */
static void log_item(void *item)
{
    if (item)
        LOGF("%d", (int)PI(item));
    else
        LOGF("None");
}

static int int_cmp(const void *a, const void *b)
{
    intptr_t x = PI(a), y = PI(b);
    return (x > y) - (x < y);
}

/* ---------------------------------------------------------------------
 * Order
 * --------------------------------------------------------------------- */

/* Twin: tests/twins/queue_order.py (queue_kinds) */
START_TEST(test_queue_kinds)
{
    memset(&LOG, 0, sizeof LOG);
    asyncio_queue_t *qs[3] = {asyncio_queue_new(0), asyncio_lifo_queue_new(0),
                              asyncio_priority_queue_new(0, int_cmp)};
    static const int items[] = {3, 1, 0, 2, 1}; /* 0 is NULL */
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < 5; i++)
            ck_assert_int_eq(asyncio_queue_put_nowait(qs[k], IP(items[i])), 0);
        ck_assert_int_eq(asyncio_queue_qsize(qs[k]), 5);
        LOGF(k ? " " : "queue_kinds ");
        for (int i = 0; !asyncio_queue_empty(qs[k]); i++) {
            void *item = IP(-1);
            ck_assert_int_eq(asyncio_queue_get_nowait(qs[k], &item), 0);
            LOGF(i ? "," : "");
            if (k == 2 && !item)
                LOGF("0"); /* Python's twin puts 0 there */
            else
                log_item(item);
        }
        asyncio_queue_free(qs[k]);
    }
    tu_assert_log(&LOG, "queue_kinds 3,1,None,2,1 1,2,None,1,3 0,1,1,2,3");
}
END_TEST

typedef struct keyed {
    int key;
    int id;
} keyed_t;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

/* Equal priorities come out in the order they went in, whatever the heap
 * does to them; smallest first. */
START_TEST(test_priority_stable)
{
    enum { N = 500 };
    keyed_t *ks = malloc(sizeof *ks * N);
    asyncio_queue_t *q = asyncio_priority_queue_new(0, keyed_cmp);
    unsigned r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        ks[i].key = (int)((r >> 16) % 7);
        ks[i].id = i;
        ck_assert_int_eq(asyncio_queue_put_nowait(q, &ks[i]), 0);
    }
    int last_key = -1, last_id = -1;
    for (int i = 0; i < N; i++) {
        void *p;
        ck_assert_int_eq(asyncio_queue_get_nowait(q, &p), 0);
        keyed_t *k = p;
        ck_assert(k->key >= last_key);
        if (k->key == last_key)
            ck_assert_int_gt(k->id, last_id);
        last_key = k->key;
        last_id = k->id;
    }
    ck_assert_int_eq(asyncio_queue_get_nowait(q, NULL), ASYNCIO_EQUEUEEMPTY);
    asyncio_error_clear();
    asyncio_queue_free(q);
    free(ks);
}
END_TEST

START_TEST(test_nowait_full_empty)
{
    asyncio_queue_t *q = asyncio_queue_new(2);
    ck_assert_int_eq(asyncio_queue_maxsize(q), 2);
    ck_assert(!asyncio_queue_full(q));
    ck_assert_int_eq(asyncio_queue_get_nowait(q, NULL), ASYNCIO_EQUEUEEMPTY);
    assert_raised(ASYNCIO_EQUEUEEMPTY, "QueueEmpty");
    ck_assert_int_eq(asyncio_queue_put_nowait(q, NULL), 0);
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(2)), 0);
    ck_assert(asyncio_queue_full(q));
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(3)), ASYNCIO_EQUEUEFULL);
    assert_raised(ASYNCIO_EQUEUEFULL, "QueueFull");
    void *item = IP(7);
    ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
    ck_assert_ptr_null(item); /* NULL is an item */
    ck_assert_int_eq(asyncio_queue_qsize(q), 1);
    asyncio_error_clear();
    asyncio_queue_free(q);
    /* An unbounded queue is never full and grows (ring wrap-around too). */
    q = asyncio_queue_new(0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++)
            ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(i)), 0);
        ck_assert(!asyncio_queue_full(q));
        for (int i = 0; i < 700; i++)
            ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
    }
    ck_assert_int_eq(asyncio_queue_qsize(q), 900);
    asyncio_queue_free(q);
}
END_TEST

/* FIFO across growth while the ring has wrapped. */
START_TEST(test_fifo_wraparound)
{
    asyncio_queue_t *q = asyncio_queue_new(0);
    long next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 37 + round; i++)
            ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(next_in++)), 0);
        for (int i = 0; i < 30; i++) {
            void *item;
            ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
            ck_assert_int_eq(PI(item), next_out++);
        }
    }
    ck_assert_int_eq((long)asyncio_queue_qsize(q), next_in - next_out);
    asyncio_queue_free(q);
}
END_TEST

static void *getter(void *arg)
{
    void *item;
    int rc = asyncio_queue_get(Q, &item);
    if (rc) {
        const asyncio_error_t *e = asyncio_catch(NULL);
        LOGF(" %s%d", strcmp(e->type, "CancelledError") ? e->type : "c", (int)PI(arg));
        return NULL;
    }
    LOGF(" g%d=%c", (int)PI(arg), (char)PI(item));
    return NULL;
}

static void *getters_order_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(0);
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(getter, IP(i));
    tu_yield();
    for (const char *s = "abc"; *s; s++)
        ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP(*s)), 0);
    tu_gather_drop(ts, 3);
    asyncio_queue_free(Q);
    return NULL;
}

/* Twin: tests/twins/queue_order.py (getters_order) */
START_TEST(test_getters_order)
{
    run(getters_order_main, NULL);
    tu_assert_log(&LOG, " g0=a g1=b g2=c");
}
END_TEST

static void *getter_cancel_woken_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(0);
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(getter, IP(i));
    tu_yield();
    asyncio_cancel(ts[1], NULL);
    ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP('a')), 0);
    asyncio_cancel(ts[0], NULL);
    tu_gather_drop(ts, 3);
    LOGF(" %zu", asyncio_queue_qsize(Q));
    asyncio_queue_free(Q);
    return NULL;
}

/* Twin: tests/twins/queue_order.py (getter_cancel_woken) */
START_TEST(test_getter_cancel_woken)
{
    run(getter_cancel_woken_main, NULL);
    tu_assert_log(&LOG, " c1 c0 g2=a 0");
}
END_TEST

static void *putter(void *arg)
{
    int i = (int)PI(arg);
    if (asyncio_queue_put(Q, IP('a' + i)) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        LOGF(" c%d", i);
        return NULL;
    }
    LOGF(" p%d", i);
    return NULL;
}

static void *putter_cancel_woken_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(1);
    ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP('x')), 0);
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(putter, IP(i));
    tu_yield();
    LOGF(" full=%s", TF(asyncio_queue_full(Q)));
    asyncio_cancel(ts[1], NULL);
    void *item;
    ck_assert_int_eq(asyncio_queue_get_nowait(Q, &item), 0);
    LOGF(" got=%c", (char)PI(item));
    asyncio_cancel(ts[0], NULL);
    tu_gather_drop(ts, 3);
    LOGF(" ");
    while (!asyncio_queue_empty(Q)) {
        ck_assert_int_eq(asyncio_queue_get_nowait(Q, &item), 0);
        LOGF("%c", (char)PI(item));
    }
    asyncio_queue_free(Q);
    return NULL;
}

/* Twin: tests/twins/queue_order.py (putter_cancel_woken) */
START_TEST(test_putter_cancel_woken)
{
    run(putter_cancel_woken_main, NULL);
    tu_assert_log(&LOG, " full=True got=x c1 c0 p2 c");
}
END_TEST

/* ---------------------------------------------------------------------
 * task_done / join
 * --------------------------------------------------------------------- */

static void *jt_worker(void *arg)
{
    for (;;) {
        void *item;
        if (asyncio_queue_get(Q, &item) < 0)
            return NULL;
        if (asyncio_sleep(0) < 0)
            return NULL;
        LOGF(" w%d:%d", (int)PI(arg), (int)PI(item));
        asyncio_queue_task_done(Q);
    }
}

static void *jt_joiner(void *arg)
{
    ck_assert_int_eq(asyncio_queue_join(Q), 0);
    LOGF(" j%d", (int)PI(arg));
    return NULL;
}

static void *join_task_done_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(0);
    ck_assert_int_eq(asyncio_queue_join(Q), 0); /* nothing pending */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP(i)), 0);
    asyncio_future_t *js[2] = {tu_spawn(jt_joiner, IP(0)), tu_spawn(jt_joiner, IP(1))};
    asyncio_future_t *ws[2] = {tu_spawn(jt_worker, IP(0)), tu_spawn(jt_worker, IP(1))};
    ck_assert_int_eq(asyncio_queue_join(Q), 0);
    LOGF(" joined");
    tu_gather_drop(js, 2);
    asyncio_cancel(ws[0], NULL);
    asyncio_cancel(ws[1], NULL);
    tu_gather_drop(ws, 2);
    ck_assert_int_eq(asyncio_queue_task_done(Q), ASYNCIO_EVALUE);
    const asyncio_error_t *e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    LOGF(" ValueError(%s)", e->message);
    asyncio_queue_free(Q);
    return NULL;
}

/* Twin: tests/twins/queue_order.py (join_task_done) */
START_TEST(test_join_task_done)
{
    run(join_task_done_main, NULL);
    tu_assert_log(&LOG, " w0:0 w1:1 w0:2 w1:3 joined j0 j1 "
                        "ValueError(task_done() called too many times)");
}
END_TEST

/* ---------------------------------------------------------------------
 * Shutdown (Python 3.13)
 * --------------------------------------------------------------------- */

/* 3.13: put_nowait raises QueueShutDown at once; get_nowait returns what is
 * left, then raises QueueShutDown instead of QueueEmpty. */
START_TEST(test_shutdown_drains)
{
    asyncio_queue_t *q = asyncio_queue_new(0);
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(1)), 0);
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(2)), 0);
    ck_assert(!asyncio_queue_is_shutdown(q));
    asyncio_queue_shutdown(q, false);
    ck_assert(asyncio_queue_is_shutdown(q));
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(3)), ASYNCIO_EQUEUESHUTDOWN);
    assert_raised(ASYNCIO_EQUEUESHUTDOWN, "QueueShutDown");
    void *item;
    ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
    ck_assert_int_eq(PI(item), 1);
    ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
    ck_assert_int_eq(PI(item), 2);
    ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), ASYNCIO_EQUEUESHUTDOWN);
    asyncio_queue_shutdown(q, true); /* again: harmless */
    ck_assert_int_eq(asyncio_queue_task_done(q), 0);
    ck_assert_int_eq(asyncio_queue_task_done(q), 0);
    asyncio_error_clear();
    asyncio_queue_free(q);
}
END_TEST

static void *sd_getter(void *arg)
{
    void *item;
    int rc = asyncio_queue_get(Q, &item);
    if (rc == 0) {
        LOGF(" g%d=%d", (int)PI(arg), (int)PI(item));
        return NULL;
    }
    const asyncio_error_t *e = asyncio_catch(NULL);
    LOGF(" g%d:%s", (int)PI(arg), e->type);
    return NULL;
}

static void *sd_putter(void *arg)
{
    int rc = asyncio_queue_put(Q, arg);
    if (rc == 0) {
        LOGF(" p%d", (int)PI(arg));
        return NULL;
    }
    const asyncio_error_t *e = asyncio_catch(NULL);
    LOGF(" p%d:%s", (int)PI(arg), e->type);
    return NULL;
}

static void *sd_joiner(void *arg)
{
    (void)arg;
    int rc = asyncio_queue_join(Q);
    LOGF(" joined(%d)", rc);
    return NULL;
}

/* Blocked getters and putters are all woken by shutdown(); getters raise
 * QueueShutDown only once the queue is empty.  3.13 reasoning: shutdown
 * wakes every getter and putter; each re-checks its loop condition. */
static void *shutdown_blocked_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(1);
    asyncio_future_t *gs[2] = {tu_spawn(sd_getter, IP(0)), tu_spawn(sd_getter, IP(1))};
    tu_yield();
    asyncio_queue_shutdown(Q, false);
    tu_gather_drop(gs, 2);
    asyncio_queue_free(Q);
    LOGF(" |");

    Q = asyncio_queue_new(1);
    ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP(9)), 0);
    asyncio_future_t *ps[2] = {tu_spawn(sd_putter, IP(1)), tu_spawn(sd_putter, IP(2))};
    asyncio_future_t *g = tu_spawn(sd_getter, IP(5));
    tu_yield();
    asyncio_queue_shutdown(Q, false);
    asyncio_future_t *g2 = tu_spawn(sd_getter, IP(6)); /* takes the item left */
    asyncio_future_t *g3 = tu_spawn(sd_getter, IP(7)); /* then shut down */
    asyncio_future_t *all[5] = {ps[0], ps[1], g, g2, g3};
    tu_gather_drop(all, 5);
    asyncio_queue_free(Q);
    return NULL;
}

START_TEST(test_shutdown_blocked)
{
    run(shutdown_blocked_main, NULL);
    /* Putters 1 and 2 wait (full), getter 5 takes the 9 and wakes putter
     * 1; main shuts the queue down before putter 1 runs.  In 3.13 put()
     * ends in put_nowait(), which checks the shutdown first: putter 1
     * raises although there is room, as putter 2 does, and the getters
     * find the queue empty and shut down. */
    tu_assert_log(&LOG, " g0:QueueShutDown g1:QueueShutDown | g5=9 p1:QueueShutDown "
                        "p2:QueueShutDown g6:QueueShutDown g7:QueueShutDown");
}
END_TEST

/* Immediate: items dropped, each counted as done; joiners released once
 * nothing else is unfinished; gets raise at once. */
static void *shutdown_immediate_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(0);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP(i)), 0);
    void *item;
    ck_assert_int_eq(asyncio_queue_get_nowait(Q, &item), 0); /* 1 unfinished in hand */
    asyncio_future_t *j = tu_spawn(sd_joiner, NULL);
    tu_yield();
    asyncio_queue_shutdown(Q, true);
    ck_assert_int_eq(asyncio_queue_qsize(Q), 0);
    tu_yield();
    LOGF(" still-joining=%s", TF(!asyncio_done(j)));
    ck_assert_int_eq(asyncio_queue_task_done(Q), 0);
    tu_gather_drop(&j, 1);
    ck_assert_int_eq(asyncio_queue_task_done(Q), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_future_t *g = tu_spawn(sd_getter, IP(0));
    tu_gather_drop(&g, 1);
    asyncio_queue_free(Q);

    /* Shut down immediately with nothing unfinished: join returns. */
    Q = asyncio_queue_new(0);
    asyncio_future_t *gs[2] = {tu_spawn(sd_getter, IP(1)), tu_spawn(sd_getter, IP(2))};
    tu_yield();
    asyncio_queue_shutdown(Q, true);
    tu_gather_drop(gs, 2);
    ck_assert_int_eq(asyncio_queue_join(Q), 0);
    asyncio_queue_free(Q);
    return NULL;
}

START_TEST(test_shutdown_immediate)
{
    run(shutdown_immediate_main, NULL);
    tu_assert_log(&LOG, " still-joining=True joined(0) g0:QueueShutDown g1:QueueShutDown "
                        "g2:QueueShutDown");
}
END_TEST

/* ---------------------------------------------------------------------
 * Misuse, allocation failure
 * --------------------------------------------------------------------- */

START_TEST(test_bad_input)
{
    ck_assert_int_eq(asyncio_queue_put(NULL, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_int_eq(asyncio_queue_get(NULL, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_queue_put_nowait(NULL, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_queue_get_nowait(NULL, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_queue_task_done(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_queue_join(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_queue_qsize(NULL), 0);
    ck_assert(!asyncio_queue_empty(NULL));
    ck_assert(!asyncio_queue_full(NULL));
    asyncio_queue_shutdown(NULL, true);
    ck_assert_str_eq(asyncio_error()->message, "the queue is NULL");
    asyncio_queue_free(NULL);
    ck_assert_ptr_null(asyncio_priority_queue_new(0, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_lock_t *l = asyncio_lock_new();
    ck_assert_int_eq(asyncio_queue_put_nowait((asyncio_queue_t *)l, NULL), ASYNCIO_EVALUE);
    ck_assert_str_eq(asyncio_error()->message, "not a live queue (freed, or never one)");
    asyncio_lock_free(l);
    /* Outside a task. */
    asyncio_queue_t *q = asyncio_queue_new(0);
    ck_assert_int_eq(asyncio_queue_put(q, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_queue_free(q);
    asyncio_error_clear();
}
END_TEST

static void *free_waiting_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(0);
    asyncio_future_t *g = tu_spawn(sd_getter, IP(0));
    tu_yield();
    asyncio_queue_free(Q);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    /* Woken (unlinked) but not run yet: still refused. */
    ck_assert_int_eq(asyncio_queue_put_nowait(Q, IP(4)), 0);
    asyncio_queue_free(Q);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    tu_gather_drop(&g, 1);
    asyncio_queue_free(Q);
    ck_assert_ptr_null(asyncio_error());
    return NULL;
}

START_TEST(test_free_with_waiters)
{
    run(free_waiting_main, NULL);
    tu_assert_log(&LOG, " g0=4");
}
END_TEST

START_TEST(test_alloc_failure)
{
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_queue_new(0));
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    for (int kind = 0; kind < 3; kind++) {
        asyncio_queue_t *q = kind == 0   ? asyncio_queue_new(0)
                             : kind == 1 ? asyncio_lifo_queue_new(0)
                                         : asyncio_priority_queue_new(0, int_cmp);
        ck_assert_ptr_nonnull(q);
        /* The first put allocates storage; growing at 16 again. */
        tu_alloc_fail_at(1);
        ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(1)), ASYNCIO_ENOMEM);
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        ck_assert_int_eq(asyncio_queue_qsize(q), 0);
        for (int i = 0; i < 16; i++)
            ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(i)), 0);
        tu_alloc_fail_at(1);
        ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(99)), ASYNCIO_ENOMEM);
        ck_assert_int_eq(asyncio_queue_qsize(q), 16);
        ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(16)), 0);
        void *item;
        ck_assert_int_eq(asyncio_queue_get_nowait(q, &item), 0);
        ck_assert_int_eq(PI(item), kind == 1 ? 16 : 0);
        asyncio_queue_free(q);
    }
    asyncio_error_clear();
}
END_TEST

/* ---------------------------------------------------------------------
 * Stress: producers and consumers over a small bounded queue, with random
 * cancellations.  Every item a producer tried to put is either consumed
 * exactly once, or returned to its producer as not delivered (its put
 * failed), or still in the queue at the end: never lost, never duplicated.
 * --------------------------------------------------------------------- */

#define PER_PRODUCER 10

static struct stress {
    long nprod, ncons;
    unsigned char *attempted, *consumed, *returned, *drained;
    asyncio_future_t **prod, **cons;
    bool producing;
    unsigned rng;
    long cancels;
} S;

static unsigned rnd(void)
{
    S.rng = S.rng * 1103515245u + 12345u;
    return S.rng >> 16;
}

static void *stress_producer(void *arg)
{
    long p = PI(arg);
    for (long j = 0; j < PER_PRODUCER; j++) {
        long id = p * PER_PRODUCER + j;
        S.attempted[id] = 1;
        if (asyncio_queue_put(Q, IP(id)) < 0) {
            ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
            S.returned[id]++;
            return NULL;
        }
        if (rnd() % 4 == 0 && asyncio_sleep(0) < 0) {
            asyncio_error_clear();
            return NULL;
        }
    }
    return NULL;
}

static void *stress_consumer(void *arg)
{
    (void)arg;
    for (;;) {
        void *item;
        if (asyncio_queue_get(Q, &item) < 0) {
            ck_assert(asyncio_error_matches("CancelledError") ||
                      asyncio_error_matches("QueueShutDown"));
            asyncio_error_clear();
            return NULL;
        }
        S.consumed[PI(item)]++;
        asyncio_queue_task_done(Q);
        if (rnd() % 3 == 0 && asyncio_sleep(0) < 0) {
            asyncio_error_clear();
            return NULL;
        }
    }
}

static void *chaos(void *arg)
{
    (void)arg;
    while (S.producing) {
        /* All the tasks run once per loop iteration: several cancels
         * each time so that every kind of suspension gets hit. */
        for (int n = 0; n < 8; n++) {
            if (rnd() % 3)
                continue;
            long k = (long)(rnd() % (unsigned)(S.nprod + S.ncons));
            asyncio_future_t *t = k < S.nprod ? S.prod[k] : S.cons[k - S.nprod];
            if (asyncio_cancel(t, NULL))
                S.cancels++;
        }
        if (asyncio_sleep(0) < 0)
            return NULL;
    }
    return NULL;
}

static void *stress_main(void *arg)
{
    (void)arg;
    Q = asyncio_queue_new(16);
    long nitems = S.nprod * PER_PRODUCER;
    S.attempted = calloc((size_t)nitems, 1);
    S.consumed = calloc((size_t)nitems, 1);
    S.returned = calloc((size_t)nitems, 1);
    S.drained = calloc((size_t)nitems, 1);
    S.prod = malloc(sizeof *S.prod * (size_t)S.nprod);
    S.cons = malloc(sizeof *S.cons * (size_t)S.ncons);
    S.producing = true;
    for (long i = 0; i < S.ncons; i++)
        S.cons[i] = tu_spawn(stress_consumer, NULL);
    for (long i = 0; i < S.nprod; i++)
        S.prod[i] = tu_spawn(stress_producer, IP(i));
    asyncio_future_t *c = tu_spawn(chaos, NULL);
    tu_gather_drop(S.prod, (size_t)S.nprod);
    S.producing = false;
    tu_gather_drop(&c, 1);
    /* Consumers still alive take what is left, then see the shutdown. */
    asyncio_queue_shutdown(Q, false);
    tu_gather_drop(S.cons, (size_t)S.ncons);
    void *item;
    while (asyncio_queue_get_nowait(Q, &item) == 0)
        S.drained[PI(item)]++;
    asyncio_error_clear();
    long consumed = 0, returned = 0, drained = 0;
    for (long id = 0; id < nitems; id++) {
        int n = S.consumed[id] + S.returned[id] + S.drained[id];
        ck_assert_msg(n == S.attempted[id], "item %ld: attempted %d, seen %d times", id,
                      S.attempted[id], n);
        consumed += S.consumed[id];
        returned += S.returned[id];
        drained += S.drained[id];
    }
    ck_assert_int_gt(S.cancels, 0);
    ck_assert_int_gt(consumed, 0);
    fprintf(stderr, "stress: %ld consumed, %ld returned, %ld drained, %ld cancellations\n",
            consumed, returned, drained, S.cancels);
    free(S.attempted);
    free(S.consumed);
    free(S.returned);
    free(S.drained);
    free(S.prod);
    free(S.cons);
    asyncio_queue_free(Q);
    return NULL;
}

START_TEST(test_stress_cancellations)
{
    S = (struct stress){.nprod = tu_scaled(1000), .ncons = tu_scaled(1000), .rng = 42};
    run(stress_main, NULL);
}
END_TEST

Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("order");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_queue_kinds);
    tcase_add_test(tc, test_priority_stable);
    tcase_add_test(tc, test_nowait_full_empty);
    tcase_add_test(tc, test_fifo_wraparound);
    tcase_add_test(tc, test_getters_order);
    tcase_add_test(tc, test_getter_cancel_woken);
    tcase_add_test(tc, test_putter_cancel_woken);
    tcase_add_test(tc, test_join_task_done);
    suite_add_tcase(s, tc);

    tc = tcase_create("shutdown");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_shutdown_drains);
    tcase_add_test(tc, test_shutdown_blocked);
    tcase_add_test(tc, test_shutdown_immediate);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_free_with_waiters);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stress_cancellations);
    suite_add_tcase(s, tc);
    return s;
}
