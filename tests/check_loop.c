/*
 * The event loop: call_soon / call_later / call_at ordering, handles,
 * run_forever / stop / run_until_complete, close, the running loop, the
 * clock, debug mode, the allocator rules, and scheduling order compared
 * with Python's asyncio.
 *
 * Where Python decides the answer the expected text is the stdout of the
 * twin program in tests/twins/ named in the test's comment.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define I2P(i) ((void *)(intptr_t)(i))
#define P2I(p) ((int)(intptr_t)(p))

static tu_log_t LOG;
static asyncio_loop_t *LOOP;

static void stop_cb(void *loop)
{
    asyncio_loop_stop(loop);
}

static void log_cb(void *arg)
{
    tu_logf(&LOG, "%s\n", (const char *)arg);
}

static asyncio_loop_t *new_loop(void)
{
    memset(&LOG, 0, sizeof LOG);
    LOOP = asyncio_loop_new();
    ck_assert_ptr_nonnull(LOOP);
    return LOOP;
}

static void close_loop(asyncio_loop_t *loop)
{
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    LOOP = NULL;
}

static void soon(asyncio_loop_t *loop, asyncio_callback_fn fn, void *arg)
{
    ck_assert(asyncio_handle_valid(asyncio_call_soon(loop, fn, arg)));
}

static void run_once(asyncio_loop_t *loop)
{
    soon(loop, stop_cb, loop);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void busy_wait(double seconds)
{
    double end = mono_now() + seconds;
    while (mono_now() < end)
        ;
}

/* ---------------------------------------------------------------------
 * call_soon
 * --------------------------------------------------------------------- */

START_TEST(test_call_soon_fifo)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, log_cb, "a");
    soon(loop, log_cb, "b");
    soon(loop, log_cb, "c");
    ck_assert_str_eq(LOG.buf, ""); /* nothing runs inside call_soon */
    run_once(loop);
    tu_assert_log(&LOG, "a\nb\nc\n");
    close_loop(loop);
}
END_TEST

static void nested_a(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "a\n");
    soon(LOOP, log_cb, "a-child");
}

static void nested_b(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "b\n");
    soon(LOOP, log_cb, "b-child");
    soon(LOOP, stop_cb, LOOP);
}

/* twins/loop_soon_nested.py */
START_TEST(test_call_soon_nested)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, nested_a, NULL);
    soon(loop, nested_b, NULL);
    soon(loop, log_cb, "c");
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "a\nb\nc\na-child\nb-child\n");
    close_loop(loop);
}
END_TEST

static void stop_a(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "a\n");
    soon(LOOP, log_cb, "a2");
}

static void stopper(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "stop\n");
    asyncio_loop_stop(LOOP);
    soon(LOOP, log_cb, "after-stop");
}

/* twins/loop_stop_batch.py */
START_TEST(test_stop_finishes_batch)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, stop_a, NULL);
    soon(loop, stopper, NULL);
    soon(loop, log_cb, "b");
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_logf(&LOG, "run1 done\n");
    soon(loop, log_cb, "c");
    asyncio_loop_stop(loop); /* before run_forever: one iteration */
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_logf(&LOG, "run2 done\n");
    tu_assert_log(&LOG, "a\nstop\nb\nrun1 done\na2\nafter-stop\nc\nrun2 done\n");
    close_loop(loop);
}
END_TEST

/* stop() twice before a run still runs one iteration, and the request
 * is used up: the next run_forever runs until its own stop. */
START_TEST(test_stop_resets)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_loop_stop(loop);
    asyncio_loop_stop(loop);
    soon(loop, log_cb, "one");
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "one\n");
    double t = asyncio_loop_time(loop);
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.02, stop_cb, loop)));
    soon(loop, log_cb, "two");
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_msg(asyncio_loop_time(loop) - t >= 0.019, "second run returned early");
    soon(loop, stop_cb, loop);
    soon(loop, stop_cb, loop);
    soon(loop, log_cb, "three");
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    t = asyncio_loop_time(loop);
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.02, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_msg(asyncio_loop_time(loop) - t >= 0.019, "fourth run returned early");
    tu_assert_log(&LOG, "one\ntwo\nthree\n");
    close_loop(loop);
}
END_TEST

static long counter, expected_next;

static void count_in_order(void *arg)
{
    ck_assert_int_eq((long)(intptr_t)arg, expected_next);
    expected_next++;
    counter++;
}

START_TEST(test_many_callbacks)
{
    asyncio_loop_t *loop = new_loop();
    long n = tu_scaled(100000);
    counter = expected_next = 0;
    for (long i = 0; i < n; i++)
        soon(loop, count_in_order, I2P(i));
    run_once(loop);
    ck_assert_int_eq(counter, n);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Timers
 * --------------------------------------------------------------------- */

/* twins/loop_timers_order.py */
START_TEST(test_timers_order)
{
    asyncio_loop_t *loop = new_loop();
    double t = asyncio_loop_time(loop);
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.03, log_cb, "t30")));
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.01, log_cb, "t10")));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.02, log_cb, "t20-a")));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.02, log_cb, "t20-b")));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.02, log_cb, "t20-c")));
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0, log_cb, "later0")));
    soon(loop, log_cb, "soon");
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.05, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "soon\nlater0\nt10\nt20-a\nt20-b\nt20-c\nt30\n");
    close_loop(loop);
}
END_TEST

/* Many timers with equal deadlines keep FIFO order.  This is casyncio's
 * promise (libuv orders equal timers by start order); Python's heap is only
 * FIFO for a handful of equal deadlines (see twins/loop_timers_order.py
 * for three). */
START_TEST(test_equal_deadlines_fifo)
{
    asyncio_loop_t *loop = new_loop();
    double when = asyncio_loop_time(loop) + 0.01;
    long n = tu_scaled(1000);
    counter = expected_next = 0;
    for (long i = 0; i < n; i++)
        ck_assert(asyncio_handle_valid(asyncio_call_at(loop, when, count_in_order, I2P(i))));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, when + 0.01, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_int_eq(counter, n);
    close_loop(loop);
}
END_TEST

/* The timer heap under churn: thousands of timers at random deadlines
 * (many equal), a third cancelled (from anywhere in the heap) and some
 * added from the callbacks themselves, run in deadline order, FIFO among
 * equal deadlines, each exactly once. */
#define CHURN_SLOTS 40 /* distinct deadlines, 1 ms apart */

static struct churn {
    long n, ran;
    double base;
    long last_slot, last_index;
    asyncio_handle_t *handles;
    bool *cancelled;
    unsigned rng;
} churn;

static unsigned churn_rand(void)
{
    churn.rng = churn.rng * 1103515245u + 12345u;
    return churn.rng >> 8;
}

static void churn_cb(void *arg);

static void churn_add(asyncio_loop_t *loop, long i, long min_slot)
{
    long slot = min_slot + (long)(churn_rand() % CHURN_SLOTS);
    churn.handles[i] =
        asyncio_call_at(loop, churn.base + 0.001 * (double)slot, churn_cb, I2P(i * 64 + slot));
    ck_assert(asyncio_handle_valid(churn.handles[i]));
}

static void churn_cb(void *arg)
{
    long i = (long)(intptr_t)arg / 64, slot = (long)(intptr_t)arg % 64;
    ck_assert(!churn.cancelled[i]);
    /* Deadline order; among equal deadlines, scheduling order (indices
     * grow with it: the late ones are numbered after the first ones). */
    ck_assert(slot > churn.last_slot || (slot == churn.last_slot && i > churn.last_index));
    churn.last_slot = slot;
    churn.last_index = i;
    churn.ran++;
}

START_TEST(test_timer_heap_churn)
{
    asyncio_loop_t *loop = new_loop();
    long n = tu_scaled(6000), late = n / 6;
    churn = (struct churn){.n = n, .last_slot = -1, .rng = 42};
    churn.handles = calloc((size_t)(n + late), sizeof *churn.handles);
    churn.cancelled = calloc((size_t)(n + late), sizeof *churn.cancelled);
    ck_assert(churn.handles && churn.cancelled);
    churn.base = asyncio_loop_time(loop) + 0.02;
    long cancelled = 0;
    for (long i = 0; i < n; i++)
        churn_add(loop, i, 0);
    for (long i = 0; i < n; i += 1 + (long)(churn_rand() % 5)) {
        ck_assert(asyncio_handle_cancel(churn.handles[i]));
        churn.cancelled[i] = true;
        cancelled++;
    }
    /* Added later, at deadlines among the others' (equal ones after). */
    for (long i = n; i < n + late; i++)
        churn_add(loop, i, 0);
    ck_assert(asyncio_handle_valid(
        asyncio_call_at(loop, churn.base + 0.001 * (CHURN_SLOTS + 5), stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_int_eq(churn.ran, n + late - cancelled);
    free(churn.handles);
    free(churn.cancelled);
    close_loop(loop);
}
END_TEST

/* The run of in-order deadlines beside the heap (timer.c): a timeout per
 * request, most cancelled while older ones still wait (holes in the run,
 * then its compaction), earlier deadlines that go to the heap, equal
 * deadlines across the two, and timers added from the callbacks while the
 * run's head moves (the ring wraps and grows).  Every timer not cancelled
 * runs once, in deadline order, in scheduling order among equal ones. */
static struct run_timers {
    long n, added, ran, cancelled;
    struct run_timer {
        double when;
        asyncio_handle_t h;
        bool cancelled, ran;
    } * t;
    double last_when, latest;
    long last_order;
} rt;

static void run_timer_cb(void *arg);

static void run_timer_add(asyncio_loop_t *loop, double when)
{
    long i = rt.added++;
    ck_assert(i < rt.n);
    rt.t[i].when = when;
    rt.t[i].h = asyncio_call_at(loop, when, run_timer_cb, I2P(i));
    if (when > rt.latest)
        rt.latest = when;
    ck_assert(asyncio_handle_valid(rt.t[i].h));
}

static void run_timer_cb(void *arg)
{
    long i = P2I(arg);
    ck_assert(!rt.t[i].cancelled && !rt.t[i].ran);
    ck_assert(rt.t[i].when > rt.last_when || (rt.t[i].when == rt.last_when && i > rt.last_order));
    rt.t[i].ran = true;
    rt.last_when = rt.t[i].when;
    rt.last_order = i;
    rt.ran++;
    /* Every fourth one schedules another after everything so far: onto
     * the run's tail while its head has moved on. */
    if (i % 4 == 0 && rt.added < rt.n)
        run_timer_add(LOOP, rt.latest + 1e-6);
}

START_TEST(test_timer_run)
{
    asyncio_loop_t *loop = new_loop();
    long first = tu_scaled(3000);
    rt = (struct run_timers){.n = first * 2, .last_when = -1, .last_order = -1};
    rt.t = calloc((size_t)rt.n, sizeof *rt.t);
    ck_assert(rt.t);
    double base = asyncio_loop_time(loop) + 0.02;
    for (long i = 0; i < first; i++) /* in order: the run */
        run_timer_add(loop, base + (double)i * 1e-6);
    for (long i = 1; i < first - 1; i++) /* holes in the middle of the run */
        if (i % 6 != 0) {
            ck_assert(asyncio_handle_cancel(rt.t[i].h));
            rt.t[i].cancelled = true;
            rt.cancelled++;
        }
    for (long k = 0; k < first / 10; k++) { /* earlier than the run: the heap */
        run_timer_add(loop, base - 0.005 + (double)k * 1e-6);
        run_timer_add(loop, base + (double)(k * 6) * 1e-6); /* equal to a run timer's */
    }
    double end = base + 0.05;
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, end, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_int_eq(rt.ran, rt.added - rt.cancelled);
    ck_assert_int_gt(rt.added, first + first / 5); /* some came from the callbacks */
    free(rt.t);
    close_loop(loop);
}
END_TEST

/* Memory runs out as the run would grow: the timer goes to the heap
 * instead; when the heap must grow, MemoryError and nothing kept (64
 * entries each to begin with). */
START_TEST(test_timer_run_alloc_failure)
{
    asyncio_loop_t *loop = new_loop();
    rt = (struct run_timers){.n = 128, .last_when = -1, .last_order = -1};
    rt.t = calloc((size_t)rt.n, sizeof *rt.t);
    ck_assert(rt.t);
    for (int i = 0; i < 130; i++) /* timers in the free list: no allocation for them below */
        soon(loop, log_cb, "");
    run_once(loop);
    double base = asyncio_loop_time(loop) + 0.02;
    for (long i = 0; i < 64; i++) /* the run, full */
        run_timer_add(loop, base + (double)i * 1e-6);
    tu_alloc_fail_at(1);
    run_timer_add(loop, base + 64e-6); /* in order, but the run cannot grow */
    tu_alloc_fail_at(0);
    for (long k = 0; k < 63; k++) /* earlier: the heap, now full */
        run_timer_add(loop, base - 0.01 + (double)k * 1e-6);
    tu_alloc_fail_at(1);
    /* earlier than the run's tail: the heap, which cannot grow */
    asyncio_handle_t h = asyncio_call_at(loop, base - 0.005, run_timer_cb, I2P(0));
    tu_alloc_fail_at(0);
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    asyncio_error_clear();
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, base + 0.01, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    ck_assert_int_eq(rt.ran, 128); /* all but the refused one */
    free(rt.t);
    close_loop(loop);
}
END_TEST

/* Equal deadlines across the heap and the run: the one scheduled first
 * runs first, wherever each sits ("x" went to the heap, being earlier
 * than the run's tail "r"; "r" cancelled, the run is empty and "y"
 * starts it again at x's deadline). */
START_TEST(test_timer_run_equal_to_heap)
{
    asyncio_loop_t *loop = new_loop();
    double t = asyncio_loop_time(loop);
    asyncio_handle_t r = asyncio_call_at(loop, t + 0.03, log_cb, "r");
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.01, log_cb, "x")));
    ck_assert(asyncio_handle_cancel(r));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.01, log_cb, "y")));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t + 0.02, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "x\ny\n");
    close_loop(loop);
}
END_TEST

static double fired_at[3];

static void record_time(void *arg)
{
    fired_at[P2I(arg)] = asyncio_loop_time(LOOP);
}

START_TEST(test_timer_not_early)
{
    asyncio_loop_t *loop = new_loop();
    double t0 = asyncio_loop_time(loop);
    asyncio_call_later(loop, 0.05, record_time, I2P(0));
    asyncio_call_at(loop, t0 + 0.08, record_time, I2P(1));
    asyncio_call_at(loop, t0 + 0.1, stop_cb, loop);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    /* not before the deadline (1 ms of rounding allowed), not much after */
    ck_assert_msg(fired_at[0] >= t0 + 0.049, "fired %.4f after %.4f", fired_at[0] - t0, 0.05);
    ck_assert_msg(fired_at[1] >= t0 + 0.079, "fired %.4f after %.4f", fired_at[1] - t0, 0.08);
    ck_assert_msg(fired_at[0] < t0 + 1.0, "late");
    ck_assert(fired_at[1] > fired_at[0]);
    close_loop(loop);
}
END_TEST

/* A deadline in the past runs soon (twins/loop_call_at_past.py). */
START_TEST(test_call_at_past)
{
    asyncio_loop_t *loop = new_loop();
    double t = asyncio_loop_time(loop);
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, t - 10, log_cb, "past")));
    ck_assert(asyncio_handle_valid(asyncio_call_at(loop, 0, log_cb, "zero")));
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.01, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "zero\npast\n"); /* by deadline: 0 < t - 10 */
    close_loop(loop);
}
END_TEST

START_TEST(test_bad_delays)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_handle_t h = asyncio_call_later(loop, -1.0, log_cb, "neg");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    h = asyncio_call_later(loop, -1e-9, log_cb, "neg-tiny");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    h = asyncio_call_later(loop, NAN, log_cb, "nan");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    h = asyncio_call_at(loop, NAN, log_cb, "nan-at");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    run_once(loop);
    ck_assert_str_eq(LOG.buf, ""); /* a failed call never calls back */
    close_loop(loop);
}
END_TEST

struct timer_rec {
    double when;
    bool cancelled;
    bool ran;
};
static struct timer_rec *timers;
static double last_when;

static void timer_fired(void *arg)
{
    struct timer_rec *r = arg;
    ck_assert(!r->cancelled);
    ck_assert(!r->ran);
    ck_assert_msg(r->when >= last_when, "timer out of order");
    last_when = r->when;
    r->ran = true;
}

START_TEST(test_many_timers_with_cancel)
{
    asyncio_loop_t *loop = new_loop();
    long n = tu_scaled(2000);
    timers = calloc((size_t)n, sizeof *timers);
    asyncio_handle_t *hs = calloc((size_t)n, sizeof *hs);
    double t = asyncio_loop_time(loop);
    srand(1234);
    for (long i = 0; i < n; i++) {
        timers[i].when = t + 0.001 * (rand() % 30);
        hs[i] = asyncio_call_at(loop, timers[i].when, timer_fired, &timers[i]);
        ck_assert(asyncio_handle_valid(hs[i]));
    }
    for (long i = 0; i < n; i += 2) {
        ck_assert(asyncio_handle_cancel(hs[i]));
        timers[i].cancelled = true;
    }
    asyncio_call_at(loop, t + 0.05, stop_cb, loop);
    last_when = 0;
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    for (long i = 0; i < n; i++) {
        ck_assert(timers[i].ran == !timers[i].cancelled);
        ck_assert(!asyncio_handle_cancel(hs[i])); /* ran or cancelled: false */
    }
    free(timers);
    free(hs);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Handles
 * --------------------------------------------------------------------- */

START_TEST(test_handle_cancel)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_handle_t a = asyncio_call_soon(loop, log_cb, "a");
    asyncio_handle_t b = asyncio_call_soon(loop, log_cb, "b");
    asyncio_handle_t l = asyncio_call_later(loop, 0.001, log_cb, "later");
    ck_assert(asyncio_handle_valid(a));
    ck_assert(asyncio_handle_valid(b));
    ck_assert(asyncio_handle_valid(l));
    ck_assert(asyncio_handle_cancel(b));
    ck_assert(!asyncio_handle_cancel(b)); /* twice */
    ck_assert(asyncio_handle_cancel(l));
    ck_assert(!asyncio_handle_cancel(l));
    asyncio_call_later(loop, 0.02, stop_cb, loop);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "a\n");
    ck_assert(!asyncio_handle_cancel(a)); /* after it ran: false, harmless */
    ck_assert(!asyncio_handle_cancel(b));
    run_once(loop);
    tu_assert_log(&LOG, "a\n");
    close_loop(loop);
}
END_TEST

static asyncio_handle_t victim;

static void cancels_victim(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "killer\n");
    ck_assert(asyncio_handle_cancel(victim));
}

/* A callback cancels one queued later in the same batch. */
START_TEST(test_handle_cancel_from_callback)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, cancels_victim, NULL);
    victim = asyncio_call_soon(loop, log_cb, "victim");
    soon(loop, log_cb, "survivor");
    run_once(loop);
    tu_assert_log(&LOG, "killer\nsurvivor\n");
    close_loop(loop);
}
END_TEST

/* Handles are generation-checked: an old handle never cancels the
 * callback that reuses its slot. */
START_TEST(test_handle_generation)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_handle_t old[64];
    for (int i = 0; i < 64; i++)
        old[i] = asyncio_call_soon(loop, log_cb, "x");
    for (int i = 0; i < 32; i++)
        ck_assert(asyncio_handle_cancel(old[i]));
    run_once(loop);
    memset(&LOG, 0, sizeof LOG);
    counter = expected_next = 0;
    for (int i = 0; i < 64; i++)
        soon(loop, count_in_order, I2P(i));
    for (int i = 0; i < 64; i++)
        ck_assert(!asyncio_handle_cancel(old[i]));
    run_once(loop);
    ck_assert_int_eq(counter, 64);
    close_loop(loop);
}
END_TEST

START_TEST(test_invalid_handles)
{
    asyncio_handle_t zero = {0};
    ck_assert(!asyncio_handle_valid(zero));
    ck_assert(!asyncio_handle_cancel(zero));

    /* no loop at all */
    asyncio_handle_t h = asyncio_call_soon(NULL, log_cb, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert(!asyncio_handle_cancel(h));
    h = asyncio_call_later(NULL, 0.1, log_cb, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();

    asyncio_loop_t *loop = new_loop();
    h = asyncio_call_soon(loop, NULL, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert(!asyncio_handle_cancel(h));
    h = asyncio_call_later(loop, 0.01, NULL, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    h = asyncio_call_at(loop, 0, NULL, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    run_once(loop);
    close_loop(loop);
}
END_TEST

START_TEST(test_call_soon_alloc_failure)
{
    asyncio_loop_t *loop = new_loop();
    int ok = 0;
    for (long n = 1; n < 10; n++) {
        tu_alloc_fail_at(n);
        asyncio_handle_t h = asyncio_call_soon(loop, log_cb, "x");
        tu_alloc_fail_at(0);
        if (asyncio_handle_valid(h)) {
            ok++;
            continue;
        }
        assert_raised(ASYNCIO_ENOMEM, "MemoryError");
        asyncio_error_clear();
    }
    run_once(loop);
    char expected[64] = "";
    for (int i = 0; i < ok; i++)
        strcat(expected, "x\n");
    ck_assert_str_eq(LOG.buf, expected);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * run_until_complete / run_forever / stop / close
 * --------------------------------------------------------------------- */

static void set_99(void *fut)
{
    asyncio_future_set_result(fut, I2P(99));
}

static void set_value_error(void *fut)
{
    asyncio_future_set_exception(fut, "ValueError", "from callback");
}

static void cancel_fut(void *fut)
{
    asyncio_cancel(fut, "cancelled by callback");
}

START_TEST(test_run_until_complete_future)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    soon(loop, set_99, f);
    void *v = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, &v), 0);
    ck_assert_ptr_eq(v, I2P(99));
    ck_assert_ptr_null(asyncio_error());
    asyncio_decref(f);

    f = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.02, set_99, f)));
    v = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, &v), 0);
    ck_assert_ptr_eq(v, I2P(99));
    asyncio_decref(f);

    /* an already done future: returns its result at once */
    f = asyncio_future_new();
    asyncio_future_set_result(f, I2P(5));
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, &v), 0);
    ck_assert_ptr_eq(v, I2P(5));
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), 0);
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

static int reports;
static void count_reports(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (void)arg;
    reports++;
}

START_TEST(test_run_until_complete_exception)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_loop_set_exception_handler(loop, count_reports, NULL);
    asyncio_future_t *f = asyncio_future_new();
    soon(loop, set_value_error, f);
    void *v = I2P(1);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, &v), ASYNCIO_EVALUE);
    ck_assert_ptr_null(v);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(asyncio_error()->message, "from callback");
    asyncio_error_clear();
    asyncio_decref(f); /* retrieved by run_until_complete: no report */
    ck_assert_int_eq(reports, 0);

    f = asyncio_future_new();
    soon(loop, cancel_fut, f);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), ASYNCIO_ECANCELLED);
    assert_raised(ASYNCIO_ECANCELLED, "CancelledError");
    ck_assert_str_eq(asyncio_error()->message, "cancelled by callback");
    asyncio_error_clear();
    asyncio_decref(f);
    close_loop(loop);
    ck_assert_int_eq(reports, 0);
}
END_TEST

static void *coro_add(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    return I2P(P2I(arg) + 1);
}

START_TEST(test_run_until_complete_task)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *t = asyncio_create_task(coro_add, I2P(41));
    ck_assert_ptr_nonnull(t);
    void *v = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, &v), 0);
    ck_assert_ptr_eq(v, I2P(42));
    asyncio_decref(t);
    close_loop(loop);
}
END_TEST

START_TEST(test_run_until_complete_bad_args)
{
    asyncio_loop_t *loop = new_loop();
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, NULL, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    close_loop(loop);
    ck_assert_int_lt(asyncio_loop_run_forever(NULL), 0);
    ck_assert_ptr_nonnull(asyncio_error());
    asyncio_error_clear();
}
END_TEST

/* Stopped before the future is done: RuntimeError; the future is intact. */
START_TEST(test_run_until_complete_stopped)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    soon(loop, stop_cb, loop);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert(!asyncio_done(f));
    /* the loop can run it to completion afterwards */
    soon(loop, set_99, f);
    void *v = NULL;
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, &v), 0);
    ck_assert_ptr_eq(v, I2P(99));
    asyncio_decref(f);
    close_loop(loop);
}
END_TEST

static void *run_inside(void *arg)
{
    (void)arg;
    return I2P(1);
}

static void *run_inside_nop(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "must not run\n");
    return NULL;
}

static void nested_runs(void *arg)
{
    asyncio_loop_t *loop = arg;
    ck_assert_int_eq(asyncio_loop_run_forever(loop), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();

    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_cancel(f, NULL);
    asyncio_decref(f);

    /* another loop while this one runs */
    asyncio_loop_t *other = asyncio_loop_new();
    ck_assert_ptr_nonnull(other);
    ck_assert_int_eq(asyncio_loop_run_forever(other), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_close(other), 0);

    ck_assert_int_eq(asyncio_run(run_inside, NULL, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();

    ck_assert_ptr_eq(asyncio_get_running_loop(), loop);
    tu_logf(&LOG, "nested checked\n");
}

START_TEST(test_nested_run_refused)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, nested_runs, loop);
    run_once(loop);
    tu_assert_log(&LOG, "nested checked\n");
    close_loop(loop);
}
END_TEST

static void *run_in_task(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_run(run_inside, NULL, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_run_forever(asyncio_get_running_loop()), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    return I2P(3);
}

START_TEST(test_run_inside_task_refused)
{
    void *v = NULL;
    ck_assert_int_eq(tu_run(run_in_task, NULL, &v), 0);
    ck_assert_ptr_eq(v, I2P(3));
}
END_TEST

START_TEST(test_close_twice)
{
    asyncio_loop_t *loop = new_loop();
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert_int_eq(asyncio_loop_close(loop), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_msg(strstr(asyncio_error()->message, "closed") != NULL, "message: %s",
                  asyncio_error()->message);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_close(NULL), 0); /* NULL is harmless, as for every _close */
    ck_assert_ptr_null(asyncio_error());
    int not_a_loop[16] = {0};
    ck_assert_int_eq(asyncio_loop_close((asyncio_loop_t *)not_a_loop), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
}
END_TEST

/* Every operation on a closed loop is a RuntimeError, never a crash (nor
 * a use of freed memory: run these under Valgrind too). */
START_TEST(test_closed_loop_call_soon)
{
    asyncio_loop_t *loop = new_loop();
    close_loop(loop);
    asyncio_handle_t h = asyncio_call_soon(loop, log_cb, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    h = asyncio_call_later(loop, 0.1, log_cb, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    h = asyncio_call_at(loop, 0, log_cb, "x");
    ck_assert(!asyncio_handle_valid(h));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

START_TEST(test_closed_loop_run)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    close_loop(loop);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    asyncio_decref(f);
}
END_TEST

START_TEST(test_closed_loop_not_current)
{
    asyncio_loop_t *loop = new_loop();
    close_loop(loop);
    ck_assert_ptr_null(asyncio_future_new()); /* no current loop any more */
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_create_task(run_inside_nop, NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
}
END_TEST

static void close_running(void *arg)
{
    ck_assert_int_eq(asyncio_loop_close(arg), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    tu_logf(&LOG, "close refused\n");
}

START_TEST(test_close_running_loop)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, close_running, loop);
    soon(loop, log_cb, "still running");
    run_once(loop);
    tu_assert_log(&LOG, "close refused\nstill running\n");
    close_loop(loop);
}
END_TEST

/* Closing drops pending callbacks and timers without running them. */
START_TEST(test_close_drops_pending)
{
    asyncio_loop_t *loop = new_loop();
    soon(loop, log_cb, "never");
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 10, log_cb, "never")));
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0, log_cb, "never")));
    close_loop(loop);
    ck_assert_str_eq(LOG.buf, "");
}
END_TEST

static void *await_arg(void *arg)
{
    int rc = asyncio_await(arg, NULL);
    if (rc == 0)
        tu_logf(&LOG, "resumed normally\n");
    else
        tu_logf(&LOG, "cleanup\n"); /* Python: GeneratorExit at the await */
    return NULL;
}

static void *never_started(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "never started\n");
    return NULL;
}

/* Tasks alive at close are left unfinished (header, and Python:
 * twins/loop_close_live_tasks.py); the caller's references stay valid and
 * free them.  A started coroutine may be unwound (its await fails, as
 * Python throws GeneratorExit into it) but never resumes normally; one
 * that never started never runs. */
START_TEST(test_close_with_live_tasks)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_future_t *f = asyncio_future_new();
    asyncio_future_t *t = asyncio_create_task(await_arg, f);
    run_once(loop); /* t starts and suspends on f */
    asyncio_future_t *u = asyncio_create_task(never_started, NULL);
    asyncio_incref(f); /* a second reference of ours, to catch over-release */
    close_loop(loop);
    ck_assert_msg(strstr(LOG.buf, "resumed normally") == NULL, "log: %s", LOG.buf);
    ck_assert_msg(strstr(LOG.buf, "never started") == NULL, "log: %s", LOG.buf);
    ck_assert(!asyncio_done(u));
    ck_assert(!asyncio_done(t));
    asyncio_decref(t);
    asyncio_decref(u);
    /* f still has our two references: dropping one frees nothing */
    long live = tu_alloc_live();
    asyncio_decref(f);
    ck_assert_msg(tu_alloc_live() == live,
                  "dropping one of our two references to the awaited future freed it: the "
                  "library released a reference it did not own");
    ck_assert(!asyncio_done(f));
    asyncio_decref(f);
    ck_assert_msg(strstr(LOG.buf, "resumed normally") == NULL, "log: %s", LOG.buf);
    ck_assert_msg(strstr(LOG.buf, "never started") == NULL, "log: %s", LOG.buf);
}
END_TEST

/* twins/loop_callback_exception.py: an error a callback leaves raised is
 * reported to the handler ("Exception in callback ...") and cleared, so
 * the next callbacks and the caller of run_forever never see it. */
static void cb_raises(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "from a");
}

static void cb_b(void *arg)
{
    (void)arg;
    if (asyncio_error())
        tu_logf(&LOG, "b sees %s\n", asyncio_error()->message);
    else
        tu_logf(&LOG, "b runs\n");
}

static void done_raises(asyncio_future_t *f, void *arg)
{
    (void)f;
    (void)arg;
    asyncio_raise("RuntimeError", "from done");
}

static void cb_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    const char *prefix = "Exception in callback";
    tu_logf(&LOG, "handler: %s %s %s\n",
            strncmp(ctx->message, prefix, strlen(prefix)) == 0 ? "True" : "False",
            ctx->exception ? ctx->exception->type : "None",
            ctx->exception ? ctx->exception->message : "");
}

START_TEST(test_callback_exception_reported)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_loop_set_exception_handler(loop, cb_handler, NULL);
    asyncio_future_t *fut = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_raises, NULL), 0);
    soon(loop, cb_raises, NULL);
    soon(loop, cb_b, NULL);
    ck_assert_int_eq(asyncio_future_set_result(fut, I2P(1)), 0);
    soon(loop, cb_b, NULL);
    soon(loop, stop_cb, loop);
    if (asyncio_loop_run_forever(loop) == 0 && asyncio_error() == NULL)
        tu_logf(&LOG, "run_forever returned normally\n");
    else
        tu_logf(&LOG, "run_forever raised %s\n",
                asyncio_error() ? asyncio_error()->message : "(no error)");
    asyncio_error_clear();
    tu_assert_log(&LOG, "handler: True ValueError from a\n"
                        "b runs\n"
                        "handler: True RuntimeError from done\n"
                        "b runs\n"
                        "run_forever returned normally\n");
    asyncio_decref(fut);
    close_loop(loop);
}
END_TEST

/* Callbacks start with a clean indicator even when the code that runs the
 * loop has an error raised (no Python callback can see an unrelated
 * exception), and that error is still raised after a successful run (C
 * rule: a successful call never clears the indicator), as asyncio_call
 * sets the caller's error aside. */
static void cb_sees(void *arg)
{
    tu_logf(&LOG, "%s sees %s\n", (const char *)arg,
            asyncio_error() ? asyncio_error()->message : "none");
}

static void done_sees(asyncio_future_t *f, void *arg)
{
    (void)f;
    cb_sees(arg);
}

START_TEST(test_callbacks_start_clean)
{
    asyncio_loop_t *loop = new_loop();
    asyncio_raise("KeyError", "caller's");
    asyncio_future_t *fut = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_sees, "done-cb"), 0);
    ck_assert_int_eq(asyncio_future_set_result(fut, NULL), 0);
    soon(loop, cb_sees, "cb");
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.001, cb_sees, "timer")));
    ck_assert(asyncio_handle_valid(asyncio_call_later(loop, 0.01, stop_cb, loop)));
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    tu_assert_log(&LOG, "done-cb sees none\ncb sees none\ntimer sees none\n");
    assert_raised(ASYNCIO_EEXCEPTION, "KeyError");
    ck_assert_str_eq(asyncio_error()->message, "caller's");
    asyncio_error_clear();
    asyncio_decref(fut);
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Running loop, clock, escape hatch
 * --------------------------------------------------------------------- */

static void check_running(void *arg)
{
    ck_assert_ptr_eq(asyncio_get_running_loop(), arg);
    tu_logf(&LOG, "running ok\n");
}

static void *task_running(void *arg)
{
    (void)arg;
    asyncio_loop_t *l = asyncio_get_running_loop();
    ck_assert_ptr_nonnull(l);
    soon(NULL, check_running, l); /* NULL: the running loop */
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return l;
}

START_TEST(test_get_running_loop)
{
    ck_assert_ptr_null(asyncio_get_running_loop());
    asyncio_loop_t *loop = new_loop();
    ck_assert_ptr_null(asyncio_get_running_loop()); /* current is not running */
    soon(loop, check_running, loop);
    run_once(loop);
    ck_assert_ptr_null(asyncio_get_running_loop());
    close_loop(loop);
    ck_assert_ptr_null(asyncio_error());

    void *l = NULL;
    ck_assert_int_eq(tu_run(task_running, NULL, &l), 0);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(asyncio_get_running_loop());
    tu_assert_log(&LOG, "running ok\nrunning ok\n");
}
END_TEST

START_TEST(test_loop_time)
{
    asyncio_loop_t *loop = new_loop();
    double a = asyncio_loop_time(loop);
    double m = mono_now();
    ck_assert_msg(fabs(a - m) < 0.5, "loop time %.3f vs CLOCK_MONOTONIC %.3f", a, m);
    double prev = a;
    for (int i = 0; i < 1000; i++) {
        double t = asyncio_loop_time(loop);
        ck_assert(t >= prev);
        prev = t;
    }
    usleep(20000);
    double b = asyncio_loop_time(loop);
    ck_assert_msg(b - a >= 0.019, "20 ms took %.4f", b - a);
    ck_assert_msg(b - a < 5.0, "20 ms took %.4f", b - a);
    double n = asyncio_loop_time(NULL); /* thread-safe, loop may be NULL */
    ck_assert(fabs(n - b) < 0.5);
    close_loop(loop);
}
END_TEST

/* The clock advances inside a callback that takes time (not cached at
 * the start of the iteration). */
static void measure(void *arg)
{
    double *d = arg;
    double a = asyncio_loop_time(LOOP);
    busy_wait(0.02);
    *d = asyncio_loop_time(LOOP) - a;
}

START_TEST(test_loop_time_inside_callback)
{
    asyncio_loop_t *loop = new_loop();
    double d = 0;
    soon(loop, measure, &d);
    run_once(loop);
    ck_assert_msg(d >= 0.019, "clock moved %.4f", d);
    close_loop(loop);
}
END_TEST

/* NULL loops where the call has nothing to return: harmless. */
START_TEST(test_null_loop_harmless)
{
    asyncio_loop_set_debug(NULL, true);
    ck_assert(!asyncio_loop_get_debug(NULL));
    asyncio_loop_stop(NULL);
    ck_assert_ptr_null(asyncio_loop_uv(NULL));
    asyncio_loop_set_exception_handler(NULL, NULL, NULL);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_run_until_complete(NULL, NULL, NULL) < 0, 1);
    ck_assert_ptr_nonnull(asyncio_error());
    asyncio_error_clear();
}
END_TEST

START_TEST(test_loop_uv)
{
    asyncio_loop_t *loop = new_loop();
    ck_assert_ptr_nonnull(asyncio_loop_uv(loop));
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Debug mode
 * --------------------------------------------------------------------- */

static void slow_callback(void *arg)
{
    (void)arg;
    busy_wait(0.15);
}

static void fast_callback(void *arg)
{
    (void)arg;
}

static void *slowpoke(void *arg)
{
    (void)arg;
    busy_wait(0.15);
    return NULL;
}

struct capture {
    FILE *file;
    int saved;
};

static void capture_stderr(struct capture *c)
{
    c->file = tmpfile();
    ck_assert_ptr_nonnull(c->file);
    fflush(stderr);
    c->saved = dup(2);
    dup2(fileno(c->file), 2);
}

static void end_capture(struct capture *c, char *buf, size_t cap)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    lseek(fileno(c->file), 0, SEEK_SET);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fileno(c->file), buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    fclose(c->file);
}

START_TEST(test_debug_slow_callback)
{
    unsetenv("ASYNCIO_DEBUG");
    asyncio_loop_t *loop = new_loop();
    ck_assert(!asyncio_loop_get_debug(loop));
    asyncio_loop_set_debug(loop, true);
    ck_assert(asyncio_loop_get_debug(loop));

    static char out[8192];
    struct capture c;
    capture_stderr(&c);
    soon(loop, fast_callback, NULL);
    run_once(loop);
    end_capture(&c, out, sizeof out);
    ck_assert_msg(out[0] == '\0', "fast callback logged: %s", out);

    capture_stderr(&c);
    soon(loop, slow_callback, NULL);
    run_once(loop);
    end_capture(&c, out, sizeof out);
    ck_assert_msg(out[0] != '\0', "slow callback not logged in debug mode");

    capture_stderr(&c);
    asyncio_task_opts_t opts = {.name = "slowpoke-task"};
    asyncio_future_t *t = asyncio_create_task_ex(slowpoke, NULL, &opts);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, NULL), 0);
    asyncio_decref(t);
    end_capture(&c, out, sizeof out);
    ck_assert_msg(strstr(out, "slowpoke-task") != NULL, "stderr: %s", out);

    asyncio_loop_set_debug(loop, false);
    ck_assert(!asyncio_loop_get_debug(loop));
    capture_stderr(&c);
    soon(loop, slow_callback, NULL);
    run_once(loop);
    end_capture(&c, out, sizeof out);
    ck_assert_msg(out[0] == '\0', "logged without debug mode: %s", out);
    close_loop(loop);
}
END_TEST

START_TEST(test_debug_env)
{
    setenv("ASYNCIO_DEBUG", "1", 1);
    asyncio_loop_t *loop = new_loop();
    ck_assert(asyncio_loop_get_debug(loop));
    close_loop(loop);
    unsetenv("ASYNCIO_DEBUG");
    loop = new_loop();
    ck_assert(!asyncio_loop_get_debug(loop));
    close_loop(loop);
}
END_TEST

/* ---------------------------------------------------------------------
 * Allocator rules and allocation failures
 * --------------------------------------------------------------------- */

static void *m(size_t n)
{
    return malloc(n);
}
static void *r(void *p, size_t n)
{
    return realloc(p, n);
}
static void *c(size_t n, size_t k)
{
    return calloc(n, k);
}
static void f(void *p)
{
    free(p);
}

START_TEST(test_set_allocator_rules)
{
    /* before any loop: allowed (the fixture did it too) */
    tu_alloc_install();

    ck_assert_int_eq(asyncio_set_allocator(NULL, r, c, f), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_set_allocator(m, NULL, c, f), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_set_allocator(m, r, NULL, f), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_set_allocator(m, r, c, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();

    asyncio_loop_t *loop = new_loop();
    long live = tu_alloc_live();
    ck_assert_int_gt(live, 0); /* the loop was counted: allocator kept */
    ck_assert_int_eq(asyncio_set_allocator(m, r, c, f), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(tu_alloc_live(), live);
    close_loop(loop);
}
END_TEST

START_TEST(test_loop_new_alloc_failure)
{
    bool made = false;
    for (long n = 1; n < 1000 && !made; n++) {
        tu_alloc_fail_at(n);
        asyncio_loop_t *loop = asyncio_loop_new();
        tu_alloc_fail_at(0);
        if (loop) {
            made = true;
            soon(loop, log_cb, "works");
            run_once(loop);
            close_loop(loop);
            break;
        }
        ck_assert_ptr_nonnull(asyncio_error());
        ck_assert_msg(asyncio_error_matches("MemoryError"), "failure %ld raised %s", n,
                      asyncio_error()->type);
        asyncio_error_clear();
        ck_assert_msg(tu_alloc_live() == 0, "failure %ld leaked %ld", n, tu_alloc_live());
        ck_assert_ptr_null(asyncio_get_running_loop());
    }
    ck_assert(made);
    tu_assert_log(&LOG, "works\n");
}
END_TEST

/* Chaos: a small program under asyncio_run with its 1st, 2nd, ... Nth
 * allocation failing in turn.  Each run either succeeds or fails with
 * MemoryError (raised in this thread), never crashes, never leaks. */
static void chaos_set(void *fut)
{
    asyncio_future_set_result(fut, I2P(7));
}

static void *chaos_child(void *arg)
{
    (void)arg;
    if (asyncio_sleep(0) < 0)
        return NULL;
    return I2P(1);
}

static void *chaos_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    if (!f)
        return NULL;
    asyncio_future_t *t = asyncio_create_task(chaos_child, NULL);
    if (!t) {
        asyncio_decref(f);
        return NULL;
    }
    void *v = NULL;
    int rc = 0;
    if (!asyncio_handle_valid(asyncio_call_soon(NULL, chaos_set, f)))
        rc = -1;
    if (rc == 0)
        rc = asyncio_await(f, &v);
    if (rc == 0)
        rc = asyncio_await(t, NULL);
    if (rc == 0)
        rc = asyncio_sleep(0.001);
    if (rc < 0 && !asyncio_done(t)) {
        /* `finally: t.cancel(); await t` (catching the task's own
         * CancelledError leaves the first error raised) */
        asyncio_cancel(t, NULL);
        if (asyncio_await(t, NULL) < 0)
            asyncio_catch("CancelledError");
    }
    asyncio_decref(t);
    asyncio_decref(f);
    return rc < 0 ? NULL : v;
}

START_TEST(test_run_alloc_failure)
{
    bool succeeded = false;
    int failures = 0;
    for (long n = 1; n < 400 && !succeeded; n++) {
        tu_alloc_fail_at(n);
        void *v = NULL;
        int rc = asyncio_run(chaos_main, NULL, &v);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ck_assert_ptr_eq(v, I2P(7));
            succeeded = true;
        } else {
            failures++;
            ck_assert_ptr_nonnull(asyncio_error());
            ck_assert_msg(asyncio_error_matches("MemoryError"), "failure %ld: rc %d raised %s: %s",
                          n, rc, asyncio_error()->type, asyncio_error()->message);
        }
        asyncio_error_clear();
        ck_assert_msg(tu_alloc_live() == 0, "failure %ld leaked %ld", n, tu_alloc_live());
        ck_assert_ptr_null(asyncio_get_running_loop());
    }
    ck_assert(succeeded);
    ck_assert_int_gt(failures, 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Scheduling order compared with Python (twins/loop_tasks_order.py)
 * --------------------------------------------------------------------- */

static void *child(void *arg)
{
    tu_logf(&LOG, "%s start\n", (const char *)arg);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "%s after sleep\n", (const char *)arg);
    return arg;
}

static void set_5(void *fut)
{
    ck_assert_int_eq(asyncio_future_set_result(fut, I2P(5)), 0);
}

static void *order_main(void *arg)
{
    (void)arg;
    soon(NULL, log_cb, "cb1");
    asyncio_future_t *t1 = asyncio_create_task(child, "t1");
    soon(NULL, log_cb, "cb2");
    asyncio_future_t *t2 = asyncio_create_task(child, "t2");
    tu_logf(&LOG, "main before sleep\n");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main after sleep\n");
    asyncio_future_t *fut = asyncio_future_new();
    soon(NULL, set_5, fut);
    soon(NULL, log_cb, "cb3");
    void *v = NULL;
    ck_assert_int_eq(asyncio_await(fut, &v), 0);
    tu_logf(&LOG, "main got %d\n", P2I(v));
    ck_assert_int_eq(asyncio_await(t1, &v), 0);
    tu_logf(&LOG, "t1 result %s\n", (const char *)v);
    ck_assert_int_eq(asyncio_await(t2, &v), 0);
    tu_logf(&LOG, "t2 result %s\n", (const char *)v);
    asyncio_decref(t1);
    asyncio_decref(t2);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_order_tasks_like_python)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(order_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "main before sleep\n"
                        "cb1\n"
                        "t1 start\n"
                        "cb2\n"
                        "t2 start\n"
                        "main after sleep\n"
                        "t1 after sleep\n"
                        "t2 after sleep\n"
                        "cb3\n"
                        "main got 5\n"
                        "t1 result t1\n"
                        "t2 result t2\n");
}
END_TEST

/* twins/loop_mixed_order.py */
static void *leaf(void *arg)
{
    int n = P2I(arg);
    tu_logf(&LOG, "leaf %d start\n", n);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "leaf %d end\n", n);
    return arg;
}

static void *mid(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "mid start\n");
    asyncio_future_t *t = asyncio_create_task(leaf, I2P(2));
    void *r1 = NULL, *r2 = NULL;
    ck_assert_int_eq(asyncio_call(leaf, I2P(1), &r1), 0); /* await leaf(1) */
    tu_logf(&LOG, "mid got %d\n", P2I(r1));
    ck_assert_int_eq(asyncio_await(t, &r2), 0);
    tu_logf(&LOG, "mid got %d\n", P2I(r2));
    asyncio_decref(t);
    return I2P(P2I(r1) + P2I(r2));
}

static void fut_cb(asyncio_future_t *f, void *arg)
{
    (void)arg;
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(f, &v), 0);
    tu_logf(&LOG, "fut cb %d\n", P2I(v));
}

static void mid_done(asyncio_future_t *m, void *fut)
{
    tu_logf(&LOG, "mid done cb\n");
    void *v = NULL;
    ck_assert_int_eq(asyncio_result(m, &v), 0);
    ck_assert_int_eq(asyncio_future_set_result(fut, I2P(P2I(v) * 10)), 0);
}

static void *mixed_main(void *arg)
{
    (void)arg;
    soon(NULL, log_cb, "cb-a");
    asyncio_future_t *m = asyncio_create_task(mid, NULL);
    asyncio_future_t *fut = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(fut, fut_cb, NULL), 0);
    ck_assert_int_eq(asyncio_add_done_callback(m, mid_done, fut), 0);
    soon(NULL, log_cb, "cb-b");
    tu_logf(&LOG, "main awaits fut\n");
    void *r = NULL;
    ck_assert_int_eq(asyncio_await(fut, &r), 0);
    tu_logf(&LOG, "main got %d\n", P2I(r));
    ck_assert_int_eq(asyncio_sleep(0), 0);
    tu_logf(&LOG, "main end\n");
    asyncio_decref(m);
    asyncio_decref(fut);
    return NULL;
}

START_TEST(test_mixed_order_like_python)
{
    memset(&LOG, 0, sizeof LOG);
    ck_assert_int_eq(tu_run(mixed_main, NULL, NULL), 0);
    tu_assert_log(&LOG, "main awaits fut\n"
                        "cb-a\n"
                        "mid start\n"
                        "leaf 1 start\n"
                        "cb-b\n"
                        "leaf 2 start\n"
                        "leaf 1 end\n"
                        "mid got 1\n"
                        "leaf 2 end\n"
                        "mid got 2\n"
                        "mid done cb\n"
                        "fut cb 30\n"
                        "main got 30\n"
                        "main end\n");
}
END_TEST

/* The first loop of a process ignores SIGPIPE (as Python does), so a
 * write to a closed pipe fails with EPIPE instead of killing the process;
 * a disposition the program chose is kept.  Each test needs a process
 * that has made no loop yet: Check's fork mode gives it one. */
static bool forked_tests(void)
{
    const char *f = getenv("CK_FORK");
    return !(f && strcmp(f, "no") == 0);
}

START_TEST(test_first_loop_ignores_sigpipe)
{
    if (!forked_tests())
        return;
    signal(SIGPIPE, SIG_DFL);
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    close(fds[0]);
    ck_assert_int_eq(write(fds[1], "x", 1), -1); /* alive: not killed */
    ck_assert_int_eq(errno, EPIPE);
    close(fds[1]);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

static void count_sigpipe(int sig)
{
    (void)sig;
}

START_TEST(test_own_sigpipe_handler_kept)
{
    if (!forked_tests())
        return;
    signal(SIGPIPE, count_sigpipe);
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    struct sigaction now;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)count_sigpipe);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    signal(SIGPIPE, SIG_DFL);
}
END_TEST

/* A task spinning on sleep(0) for I/O sees it within a bounded number of
 * iterations (Python polls at every one; casyncio at least every ~60). */
static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    *(bool *)h->data = true;
    uv_poll_stop(h);
}

static void on_poll_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

static void *spin_for_io(void *arg)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1); /* readable from the start */
    bool seen = false;
    uv_poll_t poll;
    poll.data = &seen;
    ck_assert_int_eq(uv_poll_init(asyncio_loop_uv(asyncio_get_running_loop()), &poll, fds[0]), 0);
    ck_assert_int_eq(uv_poll_start(&poll, UV_READABLE, on_readable), 0);
    int spins = 0;
    while (!seen && spins < 100000) {
        ck_assert_int_eq(asyncio_sleep(0), 0);
        spins++;
    }
    ck_assert_msg(spins <= 100, "I/O noticed after %d iterations", spins);
    /* The handle lives on this stack: wait for its close callback. */
    seen = false;
    uv_close((uv_handle_t *)&poll, on_poll_closed);
    while (!seen)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

START_TEST(test_spinning_task_sees_io)
{
    tu_run_ok(spin_for_io, NULL);
}
END_TEST

Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");

    TCase *tc = tcase_create("call_soon");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_call_soon_fifo);
    tcase_add_test(tc, test_call_soon_nested);
    tcase_add_test(tc, test_stop_finishes_batch);
    tcase_add_test(tc, test_stop_resets);
    tcase_add_test(tc, test_many_callbacks);
    tcase_add_test(tc, test_order_tasks_like_python);
    tcase_add_test(tc, test_mixed_order_like_python);
    suite_add_tcase(s, tc);

    tc = tcase_create("io");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_first_loop_ignores_sigpipe);
    tcase_add_test(tc, test_own_sigpipe_handler_kept);
    tcase_add_test(tc, test_spinning_task_sees_io);
    suite_add_tcase(s, tc);

    tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_timers_order);
    tcase_add_test(tc, test_equal_deadlines_fifo);
    tcase_add_test(tc, test_timer_heap_churn);
    tcase_add_test(tc, test_timer_run);
    tcase_add_test(tc, test_timer_run_equal_to_heap);
    tcase_add_test(tc, test_timer_run_alloc_failure);
    tcase_add_test(tc, test_timer_not_early);
    tcase_add_test(tc, test_call_at_past);
    tcase_add_test(tc, test_bad_delays);
    tcase_add_test(tc, test_many_timers_with_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("handles");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_handle_cancel);
    tcase_add_test(tc, test_handle_cancel_from_callback);
    tcase_add_test(tc, test_handle_generation);
    tcase_add_test(tc, test_invalid_handles);
    tcase_add_test(tc, test_call_soon_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_run_until_complete_future);
    tcase_add_test(tc, test_run_until_complete_exception);
    tcase_add_test(tc, test_run_until_complete_task);
    tcase_add_test(tc, test_run_until_complete_bad_args);
    tcase_add_test(tc, test_run_until_complete_stopped);
    tcase_add_test(tc, test_callback_exception_reported);
    tcase_add_test(tc, test_callbacks_start_clean);
    tcase_add_test(tc, test_nested_run_refused);
    tcase_add_test(tc, test_run_inside_task_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("close");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_close_twice);
    tcase_add_test(tc, test_closed_loop_call_soon);
    tcase_add_test(tc, test_closed_loop_run);
    tcase_add_test(tc, test_closed_loop_not_current);
    tcase_add_test(tc, test_close_running_loop);
    tcase_add_test(tc, test_close_drops_pending);
    tcase_add_test(tc, test_close_with_live_tasks);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_get_running_loop);
    tcase_add_test(tc, test_loop_time);
    tcase_add_test(tc, test_loop_time_inside_callback);
    tcase_add_test(tc, test_loop_uv);
    tcase_add_test(tc, test_null_loop_harmless);
    tcase_add_test(tc, test_debug_slow_callback);
    tcase_add_test(tc, test_debug_env);
    tcase_add_test(tc, test_set_allocator_rules);
    tcase_add_test(tc, test_loop_new_alloc_failure);
    tcase_add_test(tc, test_run_alloc_failure);
    suite_add_tcase(s, tc);
    return s;
}
