/*
 * loop.call_soon_threadsafe: many threads posting at once (nothing lost,
 * per-thread order kept), waking a loop blocked with nothing to do, posts
 * made before the loop runs, bad arguments and closed loops.
 *
 * Several threads allocate at the same time here, so these tests install
 * a counting allocator with atomic counters on top of the shared fixture
 * (testutil's counters are plain longs, exact only for one thread at a
 * time) and check it for leaks too.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define I2P(i) ((void *)(intptr_t)(i))

static atomic_long ts_live;
static atomic_long ts_fail_at; /* fail the nth allocation from now; 0: never */

static bool ts_should_fail(void)
{
    long n = atomic_load(&ts_fail_at);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&ts_fail_at, &n, n - 1))
            return n == 1;
    }
    return false;
}

static void *ts_malloc(size_t n)
{
    if (ts_should_fail())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        atomic_fetch_add(&ts_live, 1);
    return p;
}

static void *ts_calloc(size_t n, size_t m)
{
    if (ts_should_fail())
        return NULL;
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p)
        atomic_fetch_add(&ts_live, 1);
    return p;
}

static void *ts_realloc(void *old, size_t n)
{
    if (ts_should_fail())
        return NULL;
    void *p = realloc(old, n ? n : 1);
    if (p && !old)
        atomic_fetch_add(&ts_live, 1);
    return p;
}

static void ts_free(void *p)
{
    if (p)
        atomic_fetch_sub(&ts_live, 1);
    free(p);
}

static void ts_setup(void)
{
    tu_setup();
    atomic_store(&ts_live, 0);
    atomic_store(&ts_fail_at, 0);
    ck_assert_int_eq(asyncio_set_allocator(ts_malloc, ts_realloc, ts_calloc, ts_free), 0);
}

static void ts_teardown(void)
{
    asyncio_error_clear();
    long live = atomic_load(&ts_live);
    ck_assert_msg(live == 0, "leak: %ld live allocations", live);
    tu_teardown();
}

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

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------
 * Many threads
 * --------------------------------------------------------------------- */

enum { NTHREADS = 4 };

static long per_thread;         /* posts per thread */
static long next_seq[NTHREADS]; /* loop thread only */
static long received;           /* loop thread only */
static long out_of_order;       /* loop thread only */
static pthread_barrier_t start_line;

struct poster {
    int idx;
    long failures;
};

static void receive(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int t = (int)(v >> 32);
    long seq = (long)(v & 0xffffffffu);
    ck_assert_int_lt(t, NTHREADS);
    if (seq != next_seq[t])
        out_of_order++;
    next_seq[t] = seq + 1;
    if (++received == per_thread * NTHREADS)
        asyncio_loop_stop(LOOP);
}

static void *post_many(void *p)
{
    struct poster *ps = p;
    pthread_barrier_wait(&start_line);
    for (long i = 0; i < per_thread; i++) {
        uintptr_t v = ((uintptr_t)ps->idx << 32) | (uintptr_t)i;
        if (asyncio_call_soon_threadsafe(LOOP, receive, (void *)v) != 0) {
            ps->failures++;
            asyncio_error_clear();
        }
    }
    return NULL;
}

static void watchdog(void *arg)
{
    (void)arg;
    tu_logf(&LOG, "watchdog fired\n");
    asyncio_loop_stop(LOOP);
}

START_TEST(test_many_threads)
{
    LOOP = asyncio_loop_new();
    ck_assert_ptr_nonnull(LOOP);
    per_thread = tu_scaled(10000);
    pthread_barrier_init(&start_line, NULL, NTHREADS);
    pthread_t th[NTHREADS];
    struct poster ps[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ps[i] = (struct poster){i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, post_many, &ps[i]), 0);
    }
    asyncio_handle_t dog = asyncio_call_later(LOOP, 30, watchdog, NULL);
    ck_assert(asyncio_handle_valid(dog));
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ps[i].failures, 0);
    }
    ck_assert_str_eq(LOG.buf, "");
    ck_assert(asyncio_handle_cancel(dog));
    ck_assert_int_eq(received, per_thread * NTHREADS);
    ck_assert_int_eq(out_of_order, 0);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(next_seq[i], per_thread);
    pthread_barrier_destroy(&start_line);
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Waking a blocked loop
 * --------------------------------------------------------------------- */

static void stop_and_log(void *arg)
{
    tu_logf(&LOG, "%s\n", (const char *)arg);
    asyncio_loop_stop(LOOP);
}

struct delayed {
    useconds_t delay_us;
    const char *label;
    int rc;
};

static void *post_later(void *p)
{
    struct delayed *d = p;
    usleep(d->delay_us);
    d->rc = asyncio_call_soon_threadsafe(LOOP, stop_and_log, (void *)d->label);
    return NULL;
}

/* Nothing scheduled at all: the loop sleeps until the thread posts. */
START_TEST(test_wakes_idle_loop)
{
    LOOP = asyncio_loop_new();
    ck_assert_ptr_nonnull(LOOP);
    struct delayed d = {100000, "woken", -1};
    pthread_t th;
    double t0 = mono_now();
    ck_assert_int_eq(pthread_create(&th, NULL, post_later, &d), 0);
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    double elapsed = mono_now() - t0;
    pthread_join(th, NULL);
    ck_assert_int_eq(d.rc, 0);
    tu_assert_log(&LOG, "woken\n");
    ck_assert_msg(elapsed >= 0.09, "run_forever returned after %.3f s, before the post", elapsed);
    ck_assert_msg(elapsed < 3.0, "woken after %.3f s", elapsed);
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* A far timer only: the post wakes the loop long before it. */
START_TEST(test_wakes_loop_waiting_for_timer)
{
    LOOP = asyncio_loop_new();
    ck_assert_ptr_nonnull(LOOP);
    asyncio_handle_t far = asyncio_call_later(LOOP, 30, log_cb, "far timer");
    struct delayed d = {50000, "woken early", -1};
    pthread_t th;
    double t0 = mono_now();
    ck_assert_int_eq(pthread_create(&th, NULL, post_later, &d), 0);
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    double elapsed = mono_now() - t0;
    pthread_join(th, NULL);
    tu_assert_log(&LOG, "woken early\n");
    ck_assert_msg(elapsed < 3.0, "woken after %.3f s", elapsed);
    ck_assert(asyncio_handle_cancel(far));
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* Posts from the loop's own thread wake nothing but still run. */
START_TEST(test_post_from_loop_thread)
{
    LOOP = asyncio_loop_new();
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, stop_and_log, "self"), 0);
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    tu_assert_log(&LOG, "self\n");
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* twins/threadsafe_same_thread_order.py */
START_TEST(test_same_thread_order)
{
    LOOP = asyncio_loop_new();
    ck_assert(asyncio_handle_valid(asyncio_call_soon(LOOP, log_cb, "a")));
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, log_cb, "b"), 0);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(LOOP, log_cb, "c")));
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, log_cb, "d"), 0);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(LOOP, stop_cb, LOOP)));
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    tu_assert_log(&LOG, "a\nb\nc\nd\n");
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Before run_forever, after close, bad arguments
 * --------------------------------------------------------------------- */

static void *post_three(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, log_cb, "first"), 0);
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, log_cb, "second"), 0);
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, stop_and_log, "third"), 0);
    return NULL;
}

START_TEST(test_posted_before_run)
{
    LOOP = asyncio_loop_new();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_three, NULL), 0);
    pthread_join(th, NULL);
    usleep(20000);
    ck_assert_str_eq(LOG.buf, ""); /* nothing runs until the loop does */
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    tu_assert_log(&LOG, "first\nsecond\nthird\n");
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* Posted callbacks never run are dropped by close, without a leak. */
START_TEST(test_close_drops_posted)
{
    LOOP = asyncio_loop_new();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_three, NULL), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
    ck_assert_str_eq(LOG.buf, "");
}
END_TEST

struct bad_post {
    asyncio_loop_t *loop;
    int rc_closed;
    int code_closed;
    bool main_error_visible;
};

static void *post_to_closed(void *p)
{
    struct bad_post *b = p;
    b->main_error_visible = asyncio_error() != NULL;
    b->rc_closed = asyncio_call_soon_threadsafe(b->loop, log_cb, "never");
    b->code_closed = asyncio_error() ? asyncio_error()->code : 0;
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_bad_arguments)
{
    ck_assert_int_eq(asyncio_call_soon_threadsafe(NULL, log_cb, "x"), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();

    LOOP = asyncio_loop_new();
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, NULL, "x"), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);

    /* a closed loop, from this thread and from another one */
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, log_cb, "x"), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    /* leave it raised: the other thread must not see it */
    struct bad_post b = {.loop = LOOP};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_to_closed, &b), 0);
    pthread_join(th, NULL);
    ck_assert(!b.main_error_visible);
    ck_assert_int_eq(b.rc_closed, ASYNCIO_ERUNTIME);
    ck_assert_int_eq(b.code_closed, ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_str_eq(LOG.buf, "");
}
END_TEST

/* A post whose allocation fails raises MemoryError (in the posting
 * thread) and its callback never runs; the others all run. */
struct chaos_post {
    int ok, nomem, other;
};

static void *post_with_failures(void *p)
{
    struct chaos_post *c = p;
    for (long n = 1; n <= 8; n++) {
        atomic_store(&ts_fail_at, n);
        int rc = asyncio_call_soon_threadsafe(LOOP, log_cb, "x");
        atomic_store(&ts_fail_at, 0);
        if (rc == 0)
            c->ok++;
        else if (rc == ASYNCIO_ENOMEM && asyncio_error_matches("MemoryError"))
            c->nomem++;
        else
            c->other++;
        asyncio_error_clear();
    }
    return NULL;
}

START_TEST(test_post_alloc_failure)
{
    LOOP = asyncio_loop_new();
    struct chaos_post c = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_with_failures, &c), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(c.other, 0);
    ck_assert_int_eq(c.ok + c.nomem, 8);
    ck_assert(asyncio_handle_valid(asyncio_call_later(LOOP, 0.01, stop_cb, LOOP)));
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    char expected[64] = "";
    for (int i = 0; i < c.ok; i++)
        strcat(expected, "x\n");
    ck_assert_str_eq(LOG.buf, expected);
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Posting while the loop is busy, and into a task-based program
 * --------------------------------------------------------------------- */

static atomic_int busy_started;

static void busy_callback(void *arg)
{
    (void)arg;
    atomic_store(&busy_started, 1);
    usleep(100000); /* the thread posts while we are busy */
    tu_logf(&LOG, "busy done\n");
}

static void *post_while_busy(void *arg)
{
    (void)arg;
    while (!atomic_load(&busy_started))
        usleep(1000);
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, stop_and_log, "posted"), 0);
    return NULL;
}

START_TEST(test_post_while_busy)
{
    LOOP = asyncio_loop_new();
    ck_assert(asyncio_handle_valid(asyncio_call_soon(LOOP, busy_callback, NULL)));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, post_while_busy, NULL), 0);
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    pthread_join(th, NULL);
    tu_assert_log(&LOG, "busy done\nposted\n");
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
}
END_TEST

/* A worker thread completes a future through the loop, the pattern the
 * executor uses: the awaiting task wakes with the value. */
struct job {
    asyncio_future_t *fut;
    pthread_t th;
};

static void complete_job(void *arg)
{
    struct job *j = arg;
    ck_assert_int_eq(asyncio_future_set_result(j->fut, I2P(1234)), 0);
}

static void *worker(void *arg)
{
    usleep(20000);
    ck_assert_int_eq(asyncio_call_soon_threadsafe(LOOP, complete_job, arg), 0);
    return NULL;
}

static void *job_main(void *arg)
{
    (void)arg;
    LOOP = asyncio_get_running_loop();
    struct job j = {.fut = asyncio_future_new()};
    ck_assert_int_eq(pthread_create(&j.th, NULL, worker, &j), 0);
    void *v = NULL;
    ck_assert_int_eq(asyncio_await(j.fut, &v), 0);
    pthread_join(j.th, NULL);
    asyncio_decref(j.fut);
    return v;
}

START_TEST(test_thread_completes_future)
{
    void *v = NULL;
    ck_assert_int_eq(tu_run(job_main, NULL, &v), 0);
    ck_assert_ptr_eq(v, I2P(1234));
}
END_TEST

/* Threads keep posting while the loop runs, then the loop is closed under
 * them: every post either succeeds (and runs, or is dropped by close) or
 * fails with RuntimeError; nothing crashes and nothing leaks. */
static atomic_long race_ok, race_refused;
static atomic_int race_ran;

static void race_cb(void *arg)
{
    (void)arg;
    atomic_fetch_add(&race_ran, 1);
}

static void *post_until_refused(void *arg)
{
    asyncio_loop_t *loop = arg;
    for (long k = 1;; k++) {
        int rc = asyncio_call_soon_threadsafe(loop, race_cb, NULL);
        if (rc == 0) {
            atomic_fetch_add(&race_ok, 1);
            if (k % 64 == 0)
                usleep(100); /* do not bury the loop (Valgrind serialises) */
            continue;
        }
        ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
        ck_assert(asyncio_error_matches("RuntimeError"));
        asyncio_error_clear();
        atomic_fetch_add(&race_refused, 1);
        return NULL;
    }
}

START_TEST(test_post_races_close)
{
    LOOP = asyncio_loop_new();
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, post_until_refused, LOOP), 0);
    ck_assert(asyncio_handle_valid(asyncio_call_later(LOOP, 0.05, stop_cb, LOOP)));
    ck_assert_int_eq(asyncio_loop_run_forever(LOOP), 0);
    ck_assert_int_eq(asyncio_loop_close(LOOP), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(atomic_load(&race_refused), NTHREADS);
    ck_assert_int_gt(atomic_load(&race_ran), 0);
    ck_assert_int_le(atomic_load(&race_ran), atomic_load(&race_ok));
}
END_TEST

/* Two threads each run their own loop (asyncio_run) at the same time and
 * post to each other's loop; each main ends with its own exception, found
 * afterwards in its own thread's indicator. */
struct peer {
    int idx;
    _Atomic(asyncio_loop_t *) loop;
    atomic_long received;
    struct peer *other;
    int run_rc;
    char message[64];
    bool wrong_loop;
};

static void peer_receive(void *arg)
{
    struct peer *p = arg;
    if (asyncio_get_running_loop() != atomic_load(&p->loop))
        p->wrong_loop = true;
    atomic_fetch_add(&p->received, 1);
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    long n = tu_scaled(2000);
    atomic_store(&p->loop, asyncio_get_running_loop());
    asyncio_loop_t *theirs;
    while (!(theirs = atomic_load(&p->other->loop)))
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    for (long i = 0; i < n; i++) {
        ck_assert_int_eq(asyncio_call_soon_threadsafe(theirs, peer_receive, p->other), 0);
        if (i % 100 == 0)
            ck_assert_int_eq(asyncio_sleep(0), 0);
    }
    while (atomic_load(&p->received) < n)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    /* stay until the other side got everything too: its loop must live */
    while (atomic_load(&p->other->received) < n)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    return asyncio_raise("ValueError", "thread %d", p->idx);
}

static void *peer_thread(void *arg)
{
    struct peer *p = arg;
    p->run_rc = asyncio_run(peer_main, p, NULL);
    const asyncio_error_t *e = asyncio_error();
    snprintf(p->message, sizeof p->message, "%s", e ? e->message : "(none)");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_loops_in_two_threads)
{
    static struct peer a, b;
    a.idx = 0;
    b.idx = 1;
    a.other = &b;
    b.other = &a;
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, peer_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, peer_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    long n = tu_scaled(2000);
    ck_assert_int_eq(atomic_load(&a.received), n);
    ck_assert_int_eq(atomic_load(&b.received), n);
    ck_assert(!a.wrong_loop);
    ck_assert(!b.wrong_loop);
    ck_assert_int_eq(a.run_rc, ASYNCIO_EVALUE);
    ck_assert_int_eq(b.run_rc, ASYNCIO_EVALUE);
    ck_assert_str_eq(a.message, "thread 0");
    ck_assert_str_eq(b.message, "thread 1");
    ck_assert_ptr_null(asyncio_error()); /* this thread saw none of it */
    ck_assert_ptr_null(asyncio_get_running_loop());
}
END_TEST

Suite *threadsafe_suite(void)
{
    Suite *s = suite_create("threadsafe");

    TCase *tc = tcase_create("threads");
    tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_many_threads);
    tcase_add_test(tc, test_post_while_busy);
    tcase_add_test(tc, test_thread_completes_future);
    tcase_add_test(tc, test_post_races_close);
    tcase_add_test(tc, test_loops_in_two_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("wakeup");
    tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_wakes_idle_loop);
    tcase_add_test(tc, test_wakes_loop_waiting_for_timer);
    tcase_add_test(tc, test_post_from_loop_thread);
    tcase_add_test(tc, test_same_thread_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, ts_setup, ts_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_posted_before_run);
    tcase_add_test(tc, test_close_drops_posted);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_post_alloc_failure);
    suite_add_tcase(s, tc);
    return s;
}
