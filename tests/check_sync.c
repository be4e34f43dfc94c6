/*
 * Synchronisation primitives: Lock, Event, Condition, Semaphore,
 * BoundedSemaphore, Barrier.  Ordering and fairness, cancellation at every
 * suspension point (waiting, and woken-then-cancelled), bad input, freeing
 * with waiters, allocation failure.
 *
 * Where Python decides the answer the expected line is what
 * tests/twins/sync_order.py prints for the test of the same name.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tu_log_t LOG;

#define LOGF(...) tu_logf(&LOG, __VA_ARGS__)

/* Runs main in a fresh loop with an empty log and checks it succeeded. */
static void run(asyncio_coro_fn main, void *arg)
{
    memset(&LOG, 0, sizeof LOG);
    tu_run_ok(main, arg);
}

/* ---------------------------------------------------------------------
 * Lock
 * --------------------------------------------------------------------- */

static asyncio_lock_t *LK;

static void *lock_basic_main(void *arg)
{
    (void)arg;
    asyncio_lock_t *l = asyncio_lock_new();
    ck_assert(!asyncio_lock_locked(l));
    ck_assert_int_eq(asyncio_lock_acquire(l), 0);
    ck_assert(asyncio_lock_locked(l));
    ck_assert_int_eq(asyncio_lock_release(l), 0);
    ck_assert(!asyncio_lock_locked(l));
    ck_assert_int_eq(asyncio_lock_release(l), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(asyncio_error()->message, "Lock is not acquired.");
    asyncio_error_clear();
    asyncio_lock_free(l);
    return NULL;
}

START_TEST(test_lock_basic)
{
    run(lock_basic_main, NULL);
}
END_TEST

static void *lock_worker(void *arg)
{
    if (asyncio_lock_acquire(LK) < 0)
        return NULL;
    LOGF(" L%d", (int)PI(arg));
    asyncio_sleep(0);
    asyncio_lock_release(LK);
    return NULL;
}

static void *lock_order_main(void *arg)
{
    (void)arg;
    LK = asyncio_lock_new();
    ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
    asyncio_future_t *ts[4];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(lock_worker, IP(i));
    tu_yield();
    ck_assert_int_eq(asyncio_lock_release(LK), 0);
    ts[3] = tu_spawn(lock_worker, IP(9)); /* queues behind the woken waiter */
    tu_gather_drop(ts, 4);
    LOGF(" %s", TF(asyncio_lock_locked(LK)));
    asyncio_lock_free(LK);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (lock_order) */
START_TEST(test_lock_order)
{
    run(lock_order_main, NULL);
    tu_assert_log(&LOG, " L0 L1 L2 L9 False");
}
END_TEST

static void *lock_cancel_worker(void *arg)
{
    if (asyncio_lock_acquire(LK) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        LOGF(" c%d", (int)PI(arg));
        return NULL;
    }
    LOGF(" a%d", (int)PI(arg));
    asyncio_lock_release(LK);
    return NULL;
}

static void *lock_cancel_woken_main(void *arg)
{
    (void)arg;
    LK = asyncio_lock_new();
    ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(lock_cancel_worker, IP(i + 1));
    tu_yield();
    asyncio_lock_release(LK); /* wakes 1 */
    asyncio_cancel(ts[0], NULL);
    asyncio_cancel(ts[2], NULL);
    tu_gather_drop(ts, 3);
    LOGF(" %s", TF(asyncio_lock_locked(LK)));
    asyncio_lock_free(LK);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (lock_cancel_woken) */
START_TEST(test_lock_cancel_woken)
{
    run(lock_cancel_woken_main, NULL);
    tu_assert_log(&LOG, " c1 c3 a2 False");
}
END_TEST

/* A cancelled waiter leaves no trace: the next acquire takes the free lock
 * at once (Python: all remaining waiters cancelled). */
static void *lock_cancel_all_main(void *arg)
{
    (void)arg;
    LK = asyncio_lock_new();
    ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(lock_cancel_worker, IP(i));
    tu_yield();
    for (int i = 0; i < 3; i++)
        asyncio_cancel(ts[i], NULL);
    asyncio_lock_release(LK);
    /* The cancelled waiters are still queued but cannot take it. */
    ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
    asyncio_lock_release(LK);
    tu_gather_drop(ts, 3);
    asyncio_lock_free(LK);
    return NULL;
}

START_TEST(test_lock_cancel_all)
{
    run(lock_cancel_all_main, NULL);
    tu_assert_log(&LOG, " c0 c1 c2");
}
END_TEST

/* Many tasks hand one lock round: each gets it exactly in arrival order. */
static int handoff_next;
static void *lock_count_worker(void *arg)
{
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
        ck_assert_int_eq(handoff_next, (int)PI(arg));
        handoff_next = (handoff_next + 1) % 50;
        asyncio_sleep(0);
        asyncio_lock_release(LK);
    }
    return NULL;
}

static void *lock_many_main(void *arg)
{
    (void)arg;
    LK = asyncio_lock_new();
    handoff_next = 0;
    asyncio_future_t *ts[50];
    for (int i = 0; i < 50; i++)
        ts[i] = tu_spawn(lock_count_worker, IP(i));
    tu_gather_drop(ts, 50);
    asyncio_lock_free(LK);
    return NULL;
}

START_TEST(test_lock_fifo_many)
{
    run(lock_many_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Event
 * --------------------------------------------------------------------- */

static asyncio_event_t *EV;

static void *event_waiter(void *arg)
{
    if (asyncio_event_wait(EV) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        LOGF(" c%d", (int)PI(arg));
        return NULL;
    }
    LOGF(" e%d", (int)PI(arg));
    return NULL;
}

static void *event_order_main(void *arg)
{
    (void)arg;
    EV = asyncio_event_new();
    ck_assert(!asyncio_event_is_set(EV));
    asyncio_future_t *ts[3];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(event_waiter, IP(i));
    tu_yield();
    asyncio_cancel(ts[1], NULL);
    asyncio_event_set(EV);
    asyncio_event_clear(EV);
    tu_gather_drop(ts, 3);
    LOGF(" %s", TF(asyncio_event_is_set(EV)));
    /* Set: wait returns at once. */
    asyncio_event_set(EV);
    asyncio_event_set(EV);
    ck_assert_int_eq(asyncio_event_wait(EV), 0);
    asyncio_event_free(EV);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (event_order) */
START_TEST(test_event_order)
{
    run(event_order_main, NULL);
    tu_assert_log(&LOG, " c1 e0 e2 False");
}
END_TEST

/* ---------------------------------------------------------------------
 * Condition
 * --------------------------------------------------------------------- */

static asyncio_condition_t *CV;
static int cv_state;

static void *cond_waiter(void *arg)
{
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    ck_assert_int_eq(asyncio_condition_wait(CV), 0);
    ck_assert(asyncio_condition_locked(CV));
    LOGF(" w%d", (int)PI(arg));
    asyncio_condition_release(CV);
    return NULL;
}

static bool state_ge2(void *arg)
{
    (void)arg;
    return cv_state >= 2;
}

static void *cond_pred_waiter(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    ck_assert_int_eq(asyncio_condition_wait_for(CV, state_ge2, NULL), 0);
    LOGF(" p%d", cv_state);
    asyncio_condition_release(CV);
    return NULL;
}

static void *condition_order_main(void *arg)
{
    asyncio_lock_t *shared = arg;
    CV = asyncio_condition_new(shared);
    cv_state = 0;
    asyncio_future_t *ts[4];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(cond_waiter, IP(i));
    ts[3] = tu_spawn(cond_pred_waiter, NULL);
    tu_yield();
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    if (shared)
        ck_assert(asyncio_lock_locked(shared));
    cv_state = 1;
    ck_assert_int_eq(asyncio_condition_notify(CV, 1), 0);
    asyncio_condition_release(CV);
    tu_yield();
    LOGF(" |");
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    cv_state = 2;
    ck_assert_int_eq(asyncio_condition_notify_all(CV), 0);
    asyncio_condition_release(CV);
    tu_gather_drop(ts, 4);
    LOGF(" %s", TF(asyncio_condition_locked(CV)));
    asyncio_condition_free(CV);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (condition_order) */
START_TEST(test_condition_order)
{
    run(condition_order_main, NULL);
    tu_assert_log(&LOG, " w0 | w1 w2 p2 False");
}
END_TEST

/* Same with a lock of the caller's (which outlives the condition). */
START_TEST(test_condition_shared_lock)
{
    asyncio_lock_t *l = asyncio_lock_new();
    run(condition_order_main, l);
    tu_assert_log(&LOG, " w0 | w1 w2 p2 False");
    asyncio_lock_free(l);
}
END_TEST

static void *cond_cancel_waiter(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    int rc = asyncio_condition_wait(CV);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    LOGF(" cancelled locked=%s;", TF(asyncio_condition_locked(CV)));
    asyncio_condition_release(CV);
    return NULL; /* CancelledError still raised: ends cancelled */
}

static void *condition_cancel_relocks_main(void *arg)
{
    (void)arg;
    CV = asyncio_condition_new(NULL);
    asyncio_future_t *t = tu_spawn(cond_cancel_waiter, NULL);
    tu_yield();
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    asyncio_cancel(t, NULL);
    tu_yield();
    tu_yield();
    LOGF(" main releases;");
    asyncio_condition_release(CV);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    LOGF(" task cancelled");
    asyncio_decref(t);
    LOGF(" %s", TF(asyncio_condition_locked(CV)));
    asyncio_condition_free(CV);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (condition_cancel_relocks); Python
 * separates the parts with "; ". */
START_TEST(test_condition_cancel_relocks)
{
    run(condition_cancel_relocks_main, NULL);
    tu_assert_log(&LOG, " main releases; cancelled locked=True; task cancelled False");
}
END_TEST

static void *cond_plain_waiter(void *arg)
{
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    int rc = asyncio_condition_wait(CV);
    if (rc)
        LOGF(" c%d", (int)PI(arg));
    else
        LOGF(" w%d", (int)PI(arg));
    asyncio_condition_release(CV);
    return NULL;
}

/* Python 3.12+ (no 3.11 twin: 3.11 loses the notification): a waiter
 * notified and then cancelled notifies the next one in its place. */
static void *condition_notified_cancel_main(void *arg)
{
    (void)arg;
    CV = asyncio_condition_new(NULL);
    asyncio_future_t *ts[2] = {tu_spawn(cond_plain_waiter, IP(0)),
                               tu_spawn(cond_plain_waiter, IP(1))};
    tu_yield();
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    ck_assert_int_eq(asyncio_condition_notify(CV, 1), 0);
    asyncio_condition_release(CV);
    asyncio_cancel(ts[0], NULL);
    tu_gather_drop(ts, 2);
    asyncio_condition_free(CV);
    return NULL;
}

START_TEST(test_condition_notified_then_cancelled)
{
    run(condition_notified_cancel_main, NULL);
    tu_assert_log(&LOG, " c0 w1");
}
END_TEST

static void *condition_errors_main(void *arg)
{
    (void)arg;
    CV = asyncio_condition_new(NULL);
    ck_assert_int_eq(asyncio_condition_wait(CV), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(asyncio_error()->message, "cannot wait on un-acquired lock");
    ck_assert_int_eq(asyncio_condition_notify(CV, 1), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(asyncio_error()->message, "cannot notify on un-acquired lock");
    ck_assert_int_eq(asyncio_condition_notify_all(CV), ASYNCIO_ERUNTIME);
    ck_assert_int_eq(asyncio_condition_release(CV), ASYNCIO_ERUNTIME);
    ck_assert_int_eq(asyncio_condition_acquire(CV), 0);
    ck_assert_int_eq(asyncio_condition_wait_for(CV, NULL, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_condition_notify(CV, 5), 0); /* nobody waits: fine */
    asyncio_condition_release(CV);
    tu_clear_all();
    asyncio_condition_free(CV);
    return NULL;
}

START_TEST(test_condition_errors)
{
    run(condition_errors_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Semaphore
 * --------------------------------------------------------------------- */

static asyncio_semaphore_t *SEM;

static void *sem_worker(void *arg)
{
    if (asyncio_semaphore_acquire(SEM) < 0) {
        ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
        LOGF(" c%d", (int)PI(arg));
        return NULL;
    }
    LOGF(" s%d", (int)PI(arg));
    asyncio_sleep(0);
    asyncio_sleep(0);
    LOGF(" r%d", (int)PI(arg));
    asyncio_semaphore_release(SEM);
    return NULL;
}

static void *semaphore_order_main(void *arg)
{
    (void)arg;
    SEM = asyncio_semaphore_new(2);
    asyncio_future_t *ts[6];
    for (int i = 0; i < 6; i++)
        ts[i] = tu_spawn(sem_worker, IP(i));
    tu_yield();
    asyncio_cancel(ts[3], NULL);
    tu_yield();
    tu_yield();
    asyncio_cancel(ts[2], NULL);
    tu_gather_drop(ts, 6);
    LOGF(" %s", TF(asyncio_semaphore_locked(SEM)));
    asyncio_semaphore_free(SEM);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (semaphore_order) */
START_TEST(test_semaphore_order)
{
    run(semaphore_order_main, NULL);
    tu_assert_log(&LOG, " s0 s1 c3 r0 r1 c2 s4 s5 r4 r5 False");
}
END_TEST

static void *bounded_main(void *arg)
{
    (void)arg;
    asyncio_semaphore_t *s = asyncio_bounded_semaphore_new(2);
    ck_assert_int_eq(asyncio_semaphore_release(s), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "BoundedSemaphore released too many times");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_semaphore_acquire(s), 0);
    ck_assert(!asyncio_semaphore_locked(s));
    ck_assert_int_eq(asyncio_semaphore_acquire(s), 0);
    ck_assert(asyncio_semaphore_locked(s));
    ck_assert_int_eq(asyncio_semaphore_release(s), 0);
    ck_assert_int_eq(asyncio_semaphore_release(s), 0);
    ck_assert_int_eq(asyncio_semaphore_release(s), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_semaphore_free(s);
    /* An unbounded one may go above its start. */
    s = asyncio_semaphore_new(0);
    ck_assert(asyncio_semaphore_locked(s));
    ck_assert_int_eq(asyncio_semaphore_release(s), 0);
    ck_assert_int_eq(asyncio_semaphore_release(s), 0);
    ck_assert_int_eq(asyncio_semaphore_acquire(s), 0);
    ck_assert_int_eq(asyncio_semaphore_acquire(s), 0);
    ck_assert(asyncio_semaphore_locked(s));
    asyncio_semaphore_free(s);
    return NULL;
}

START_TEST(test_bounded_semaphore)
{
    run(bounded_main, NULL);
}
END_TEST

/* 10,000 workers bounded by Semaphore(100): never more than 100 inside,
 * and every one gets in. */
static int inside, max_inside, finished;
static void *bounded_worker(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_semaphore_acquire(SEM), 0);
    inside++;
    if (inside > max_inside)
        max_inside = inside;
    asyncio_sleep(0);
    inside--;
    finished++;
    asyncio_semaphore_release(SEM);
    return NULL;
}

static void *semaphore_many_main(void *arg)
{
    long n = PI(arg);
    SEM = asyncio_semaphore_new(100);
    inside = max_inside = finished = 0;
    asyncio_future_t **ts = malloc(sizeof *ts * (size_t)n);
    for (long i = 0; i < n; i++)
        ts[i] = tu_spawn(bounded_worker, NULL);
    tu_gather_drop(ts, (size_t)n);
    free(ts);
    ck_assert_int_eq(finished, n);
    ck_assert_int_eq(max_inside, n < 100 ? n : 100);
    ck_assert(!asyncio_semaphore_locked(SEM));
    asyncio_semaphore_free(SEM);
    return NULL;
}

START_TEST(test_semaphore_many)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(semaphore_many_main, IP(tu_scaled(10000)), NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Barrier
 * --------------------------------------------------------------------- */

static asyncio_barrier_t *BAR;

static void *barrier_worker(void *arg)
{
    int idx = asyncio_barrier_wait(BAR);
    if (idx >= 0) {
        LOGF(" %d:%d", (int)PI(arg), idx);
    } else {
        const asyncio_error_t *e = asyncio_catch("BrokenBarrierError");
        if (!e)
            return NULL; /* cancelled: propagates */
        ck_assert_int_eq(e->code, ASYNCIO_EBROKENBARRIER);
        LOGF(" %d:broken(%s)", (int)PI(arg), e->message);
    }
    return NULL;
}

static void *barrier_rounds_main(void *arg)
{
    (void)arg;
    BAR = asyncio_barrier_new(3);
    ck_assert_int_eq(asyncio_barrier_parties(BAR), 3);
    asyncio_future_t *ts[6];
    for (int i = 0; i < 3; i++)
        ts[i] = tu_spawn(barrier_worker, IP(i));
    tu_gather_drop(ts, 3);
    LOGF(" |");
    for (int i = 0; i < 2; i++)
        ts[i] = tu_spawn(barrier_worker, IP(i));
    tu_yield();
    LOGF(" n_waiting=%zu", asyncio_barrier_n_waiting(BAR));
    ck_assert_int_eq(asyncio_barrier_reset(BAR), 0);
    tu_gather_drop(ts, 2);
    LOGF(" |");
    ck_assert_int_eq(asyncio_barrier_abort(BAR), 0);
    barrier_worker(IP(7));
    LOGF(" broken=%s", TF(asyncio_barrier_broken(BAR)));
    ck_assert_int_eq(asyncio_barrier_reset(BAR), 0);
    for (int i = 0; i < 4; i++)
        ts[i] = tu_spawn(barrier_worker, IP(i));
    tu_yield();
    LOGF(" n_waiting=%zu", asyncio_barrier_n_waiting(BAR));
    tu_yield();
    ts[4] = tu_spawn(barrier_worker, IP(4));
    ts[5] = tu_spawn(barrier_worker, IP(5));
    tu_gather_drop(ts, 6);
    LOGF(" %zu", asyncio_barrier_n_waiting(BAR));
    asyncio_barrier_free(BAR);
    return NULL;
}

/* Twin: tests/twins/sync_order.py (barrier_rounds) */
START_TEST(test_barrier_rounds)
{
    run(barrier_rounds_main, NULL);
    tu_assert_log(&LOG, " 2:2 0:0 1:1 | n_waiting=2 0:broken(Abort or reset of barrier) "
                        "1:broken(Abort or reset of barrier) | 7:broken(Barrier aborted) "
                        "broken=True 2:2 n_waiting=0 0:0 1:1 5:2 3:0 4:1 0");
}
END_TEST

static void *barrier_cancel_main(void *arg)
{
    (void)arg;
    BAR = asyncio_barrier_new(2);
    asyncio_future_t *t = tu_spawn(barrier_worker, IP(0));
    tu_yield();
    ck_assert_int_eq(asyncio_barrier_n_waiting(BAR), 1);
    asyncio_cancel(t, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(t);
    /* The cancelled party left: two new ones make a full round. */
    ck_assert_int_eq(asyncio_barrier_n_waiting(BAR), 0);
    asyncio_future_t *ts[2] = {tu_spawn(barrier_worker, IP(1)), tu_spawn(barrier_worker, IP(2))};
    tu_gather_drop(ts, 2);
    asyncio_barrier_free(BAR);
    ck_assert_ptr_null(asyncio_barrier_new(0));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_barrier_cancel)
{
    run(barrier_cancel_main, NULL);
    tu_assert_log(&LOG, " 2:1 1:0");
}
END_TEST

/* ---------------------------------------------------------------------
 * Bad input, freeing with waiters, outside tasks
 * --------------------------------------------------------------------- */

START_TEST(test_null_and_dead_objects)
{
    ck_assert_int_eq(asyncio_lock_acquire(NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_int_eq(asyncio_lock_release(NULL), ASYNCIO_EVALUE);
    ck_assert(!asyncio_lock_locked(NULL));
    ck_assert_int_eq(asyncio_event_wait(NULL), ASYNCIO_EVALUE);
    asyncio_event_set(NULL);
    asyncio_event_clear(NULL);
    ck_assert(!asyncio_event_is_set(NULL));
    ck_assert_ptr_null(asyncio_condition_new((asyncio_lock_t *)"not a lock"));
    ck_assert_int_eq(asyncio_condition_acquire(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_condition_wait(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_condition_notify(NULL, 1), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_semaphore_acquire(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_semaphore_release(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_barrier_wait(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_barrier_reset(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_barrier_abort(NULL), ASYNCIO_EVALUE);
    ck_assert_str_eq(asyncio_error()->message, "the barrier is NULL");
    /* A pointer of the wrong type is not live. */
    asyncio_lock_t *l = asyncio_lock_new();
    ck_assert_int_eq(asyncio_semaphore_release((asyncio_semaphore_t *)l), ASYNCIO_EVALUE);
    ck_assert_str_eq(asyncio_error()->message, "not a live semaphore (freed, or never one)");
    asyncio_lock_free(NULL);
    asyncio_event_free(NULL);
    asyncio_condition_free(NULL);
    asyncio_semaphore_free(NULL);
    asyncio_barrier_free(NULL);
    asyncio_lock_free(l);
    asyncio_error_clear();
}
END_TEST

/* Suspending calls need a task, even when they would not suspend. */
START_TEST(test_outside_task)
{
    asyncio_lock_t *l = asyncio_lock_new();
    ck_assert_int_eq(asyncio_lock_acquire(l), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_event_t *e = asyncio_event_new();
    asyncio_event_set(e);
    ck_assert_int_eq(asyncio_event_wait(e), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_event_free(e);
    asyncio_lock_free(l);
}
END_TEST

static void *free_waiter(void *arg)
{
    (void)arg;
    if (asyncio_lock_acquire(LK) == 0)
        asyncio_lock_release(LK);
    return NULL;
}

static void *free_with_waiters_main(void *arg)
{
    (void)arg;
    LK = asyncio_lock_new();
    ck_assert_int_eq(asyncio_lock_acquire(LK), 0);
    asyncio_future_t *t = tu_spawn(free_waiter, NULL);
    tu_yield();
    asyncio_lock_free(LK);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert(asyncio_lock_locked(LK)); /* still alive */
    asyncio_lock_release(LK);
    /* Woken but not yet run: still a waiter. */
    asyncio_lock_free(LK);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    tu_gather_drop(&t, 1);
    asyncio_lock_free(LK);
    ck_assert_ptr_null(asyncio_error());
    return NULL;
}

START_TEST(test_free_with_waiters)
{
    run(free_with_waiters_main, NULL);
}
END_TEST

static void *other_loop_waiter(void *arg)
{
    /* Bound to the first loop by its waiter there. */
    int rc = asyncio_lock_acquire(arg);
    ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
    ck_assert_str_eq(asyncio_error()->message, "Lock is bound to a different event loop");
    asyncio_error_clear();
    return NULL;
}

static void *other_loop_main(void *arg)
{
    asyncio_lock_t *l = arg;
    /* Free with no waiters: the fast path needs no loop (as in Python). */
    ck_assert_int_eq(asyncio_lock_acquire(l), 0);
    asyncio_future_t *t = tu_spawn(other_loop_waiter, l);
    tu_gather_drop(&t, 1);
    ck_assert_int_eq(asyncio_lock_release(l), 0);
    return NULL;
}

static void *bind_main(void *arg)
{
    asyncio_lock_t *l = arg;
    ck_assert_int_eq(asyncio_lock_acquire(l), 0);
    asyncio_future_t *t = tu_spawn(free_waiter, NULL);
    LK = l;
    tu_yield();
    asyncio_lock_release(l);
    tu_gather_drop(&t, 1);
    return NULL;
}

START_TEST(test_bound_to_loop)
{
    asyncio_lock_t *l = asyncio_lock_new();
    /* The first loop stays open while the second runs: a loop made after
     * the first is closed may reuse its address, which the binding (a
     * pointer, as the core gives loops no serial number) cannot tell. */
    asyncio_loop_t *first = asyncio_loop_new();
    asyncio_future_t *t = asyncio_create_task(bind_main, l);
    ck_assert_int_eq(asyncio_loop_run_until_complete(first, t, NULL), 0);
    asyncio_decref(t);
    ck_assert_int_eq(asyncio_run(other_loop_main, l, NULL), 0);
    ck_assert_int_eq(asyncio_loop_close(first), 0);
    ck_assert(!asyncio_lock_locked(l));
    asyncio_lock_free(l);
}
END_TEST

/* ---------------------------------------------------------------------
 * Allocation failure
 * --------------------------------------------------------------------- */

START_TEST(test_constructors_alloc_failure)
{
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_lock_new());
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_event_new());
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_condition_new(NULL));
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_semaphore_new(1));
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_bounded_semaphore_new(1));
    tu_alloc_fail_at(1);
    ck_assert_ptr_null(asyncio_barrier_new(1));
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    asyncio_error_clear();
}
END_TEST

/* The waiter's future cannot be made: the acquire fails cleanly and the
 * lock is unchanged. */
static void *wait_alloc_failure_main(void *arg)
{
    (void)arg;
    asyncio_lock_t *l = asyncio_lock_new();
    asyncio_semaphore_t *s = asyncio_semaphore_new(0);
    ck_assert_int_eq(asyncio_lock_acquire(l), 0);
    /* Drain the loop's free list of futures first. */
    asyncio_future_t *hold[64];
    for (int i = 0; i < 64; i++)
        hold[i] = asyncio_future_new();
    tu_alloc_fail_at(1);
    ck_assert_int_eq(asyncio_lock_acquire(l), ASYNCIO_ENOMEM);
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    tu_alloc_fail_at(1);
    ck_assert_int_eq(asyncio_semaphore_acquire(s), ASYNCIO_ENOMEM);
    tu_alloc_fail_at(0);
    asyncio_error_clear();
    for (int i = 0; i < 64; i++)
        asyncio_decref(hold[i]);
    ck_assert(asyncio_lock_locked(l));
    ck_assert_int_eq(asyncio_lock_release(l), 0);
    ck_assert_int_eq(asyncio_semaphore_release(s), 0);
    ck_assert_int_eq(asyncio_semaphore_acquire(s), 0);
    asyncio_lock_free(l);
    asyncio_semaphore_free(s);
    return NULL;
}

START_TEST(test_wait_alloc_failure)
{
    run(wait_alloc_failure_main, NULL);
}
END_TEST

Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("lock");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_lock_basic);
    tcase_add_test(tc, test_lock_order);
    tcase_add_test(tc, test_lock_cancel_woken);
    tcase_add_test(tc, test_lock_cancel_all);
    tcase_add_test(tc, test_lock_fifo_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("event_condition");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_event_order);
    tcase_add_test(tc, test_condition_order);
    tcase_add_test(tc, test_condition_shared_lock);
    tcase_add_test(tc, test_condition_cancel_relocks);
    tcase_add_test(tc, test_condition_notified_then_cancelled);
    tcase_add_test(tc, test_condition_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("semaphore_barrier");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_semaphore_order);
    tcase_add_test(tc, test_bounded_semaphore);
    tcase_add_test(tc, test_semaphore_many);
    tcase_add_test(tc, test_barrier_rounds);
    tcase_add_test(tc, test_barrier_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_null_and_dead_objects);
    tcase_add_test(tc, test_outside_task);
    tcase_add_test(tc, test_free_with_waiters);
    tcase_add_test(tc, test_bound_to_loop);
    tcase_add_test(tc, test_constructors_alloc_failure);
    tcase_add_test(tc, test_wait_alloc_failure);
    suite_add_tcase(s, tc);
    return s;
}
