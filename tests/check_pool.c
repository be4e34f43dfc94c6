/*
 * The pools of tasks and futures (src/core/pool.c): with the default
 * allocator their objects come from slabs the library maps itself; a
 * burst's slabs go back once the loop idled long enough, at loop close, or
 * with the last object that outlived its loop; a program's own allocator
 * gets one allocation per object (and no slab); a slab that cannot be
 * mapped is a MemoryError, nothing else.  asyncio__slab_count() counts
 * the slabs mapped in the process.  AddressSanitizer builds carve no
 * slabs (UNDER_ASAN): there only the objects' behaviour is checked.
 */
#include "testutil.h"

#include "../src/testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BURST 30000

static void default_allocator(void)
{
    ck_assert_int_eq(asyncio_set_allocator(malloc, realloc, calloc, free), 0);
}

static void pool_teardown(void)
{
    tu_clear_all();
    ck_assert_int_eq(asyncio__slab_count(), 0);
}

static void *echo(void *arg)
{
    return arg;
}

/* n tasks and n futures at once, each checked, all dropped. */
static void burst(long n)
{
    asyncio_future_t **ts = malloc((size_t)n * sizeof *ts);
    asyncio_future_t **fs = malloc((size_t)n * sizeof *fs);
    ck_assert(ts && fs);
    for (long i = 0; i < n; i++) {
        ts[i] = tu_spawn(echo, IP(i + 1));
        fs[i] = asyncio_future_new();
        ck_assert_ptr_nonnull(fs[i]);
        ck_assert_int_eq(asyncio_future_set_result(fs[i], IP(i + 2)), 0);
    }
    for (long i = 0; i < n; i++) {
        void *r = NULL;
        ck_assert_int_eq(asyncio_await(ts[i], &r), 0);
        ck_assert_ptr_eq(r, IP(i + 1));
        ck_assert_int_eq(asyncio_await(fs[i], &r), 0);
        ck_assert_ptr_eq(r, IP(i + 2));
        asyncio_decref(ts[i]);
        asyncio_decref(fs[i]);
    }
    free(ts);
    free(fs);
}

static void *slabs_main(void *arg)
{
    (void)arg;
    long n = tu_scaled(BURST);
    burst(n);
    long held = asyncio__slab_count();
    if (!UNDER_ASAN)
        ck_assert_msg(held >= 2, "%ld slabs after a burst of %ld tasks and futures", held, n);
    /* Idle for two trim periods: the first marks what stayed free, the
     * second gives back what stayed free for a whole period beyond the
     * objects kept (1,024 of each). */
    ck_assert_int_eq(asyncio_sleep(2.3), 0);
    long after = asyncio__slab_count();
    if (!UNDER_ASAN && n == BURST)
        ck_assert_msg(after < held && after <= 6, "%ld slabs after the burst, %ld after idling",
                      held, after);
    /* The objects kept, and new slabs, serve the next burst. */
    burst(n);
    return NULL;
}

START_TEST(test_burst_slabs_go_back_when_idle)
{
    default_allocator();
    tu_run_ok(slabs_main, NULL);
    /* asyncio_run closed its loop: every slab went with it. */
    ck_assert_int_eq(asyncio__slab_count(), 0);
}
END_TEST

/* A burst that ends soon after a trim that found nothing to do: the loop,
 * idle from then on, still trims once the period is over (it used to
 * block until its next deadline and keep the burst's memory meanwhile). */
static void *late_burst_main(void *arg)
{
    (void)arg;
    /* Two trims with nothing to give back, the last 0.3 s ago. */
    ck_assert_int_eq(asyncio_sleep(1.2), 0);
    ck_assert_int_eq(asyncio_sleep(0.3), 0);
    burst(BURST);
    long held = asyncio__slab_count();
    ck_assert_int_eq(asyncio_sleep(4), 0);
    long after = asyncio__slab_count();
    ck_assert_msg(after < held && after <= 6, "%ld slabs after the burst, %ld after 4 s idle", held,
                  after);
    return NULL;
}

START_TEST(test_burst_after_a_trim_goes_back)
{
    if (UNDER_ASAN || tu_scaled(1000) < 1000)
        return; /* no slabs; scaled runs are too small for slabs to go */
    default_allocator();
    tu_run_ok(late_burst_main, NULL);
}
END_TEST

/* The main thread's blocking waits so far (each poll that slept, then
 * woke, is one). */
static long voluntary_switches(void)
{
    return tu_proc_field("/proc/self/status", "voluntary_ctxt_switches");
}

/* A burst whose slabs stay pinned by a few live tasks: once trimming has
 * given back what it could, an idle loop sleeps until its next deadline
 * instead of waking every second to trim again. */
static void *pinned_main(void *arg)
{
    (void)arg;
    enum { N = 20000, EVERY = 50 };
    asyncio_future_t *pins[N / EVERY];
    asyncio_future_t **ts = malloc(N * sizeof *ts);
    ck_assert_ptr_nonnull(ts);
    for (int i = 0; i < N; i++)
        ts[i] = tu_spawn(echo, IP(i));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(asyncio_await(ts[i], NULL), 0);
        if (i % EVERY == 0)
            pins[i / EVERY] = ts[i]; /* one task in EVERY keeps its slab */
        else
            asyncio_decref(ts[i]);
    }
    free(ts);
    /* Two trims: one marks what is free, the next gives back what it can. */
    ck_assert_int_eq(asyncio_sleep(2.5), 0);
    long before = voluntary_switches();
    ck_assert_int_eq(asyncio_sleep(3.5), 0);
    long woke = voluntary_switches() - before;
    /* The sleep's own wake-up, and one trim that may still be due. */
    ck_assert_msg(woke <= 2, "an idle loop woke %ld times in 3.5 s", woke);
    tu_decref_all(pins, N / EVERY);
    return NULL;
}

START_TEST(test_idle_loop_with_pinned_slabs_sleeps)
{
    if (UNDER_ASAN || tu_scaled(1000) < 1000)
        return; /* the tools' own threads and timers */
    default_allocator();
    tu_run_ok(pinned_main, NULL);
}
END_TEST

/* Tasks and futures that outlive their loop stay whole; their slabs go
 * with the last of them. */
static asyncio_future_t *kept[600];

static void *outlive_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 600; i += 2) {
        kept[i] = tu_spawn(echo, IP(i));
        kept[i + 1] = asyncio_future_new();
        ck_assert_ptr_nonnull(kept[i + 1]);
        ck_assert_int_eq(asyncio_future_set_result(kept[i + 1], IP(i + 1)), 0);
    }
    for (int i = 0; i < 600; i += 2)
        ck_assert_int_eq(asyncio_await(kept[i], NULL), 0);
    return NULL;
}

START_TEST(test_objects_outlive_their_loop)
{
    default_allocator();
    tu_run_ok(outlive_main, NULL);
    if (!UNDER_ASAN)
        ck_assert_int_gt(asyncio__slab_count(), 0);
    for (int i = 0; i < 600; i++) {
        void *r = NULL;
        ck_assert(asyncio_done(kept[i]));
        ck_assert_int_eq(asyncio_result(kept[i], &r), 0);
        ck_assert_ptr_eq(r, IP(i));
    }
    for (int i = 0; i < 599; i++)
        asyncio_decref(kept[i]);
    if (!UNDER_ASAN)
        ck_assert_int_gt(asyncio__slab_count(), 0); /* one object still holds the loop */
    asyncio_decref(kept[599]);
    ck_assert_int_eq(asyncio__slab_count(), 0);
}
END_TEST

/* A program's own allocator sees one allocation per task and future. */
static void *counted_main(void *arg)
{
    (void)arg;
    long before = tu_alloc_total();
    burst(100);
    ck_assert_int_ge(tu_alloc_total() - before, 200);
    ck_assert_int_eq(asyncio__slab_count(), 0);
    return NULL;
}

START_TEST(test_own_allocator_gets_every_object)
{
    tu_alloc_install();
    tu_run_ok(counted_main, NULL);
    tu_assert_no_leak();
}
END_TEST

/* No memory for a new slab: create_task and future_new raise MemoryError,
 * the objects made before stay good. */
static long vm_size_bytes(void)
{
    return tu_proc_field("/proc/self/status", "VmSize") * 1024;
}

static void *no_memory_main(void *arg)
{
    bool tasks = PI(arg);
    enum { MAX = 4000 };
    asyncio_future_t **made = calloc(MAX, sizeof *made);
    ck_assert_ptr_nonnull(made);
    /* The first object maps the pool's first slab. */
    made[0] = tasks ? asyncio_create_task(echo, IP(0)) : asyncio_future_new();
    ck_assert_ptr_nonnull(made[0]);
    /* Room for a little heap, not for the next slab's 2 MiB-aligned map. */
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)vm_size_bytes() + ((rlim_t)1 << 20);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    int n = 1;
    for (; n < MAX; n++) {
        made[n] = tasks ? asyncio_create_task(echo, IP(n)) : asyncio_future_new();
        if (!made[n])
            break;
    }
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_msg(n < MAX, "%d objects made under a limit of 1 MiB more", n);
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    ck_assert_str_eq(tu_raised_message(),
                     tasks ? "no memory for a task" : "no memory for a future");
    ck_assert_int_gt(n, 100); /* the first slab's objects came */
    asyncio_error_clear();
    for (int i = 0; i < n; i++) {
        void *r = NULL;
        if (!tasks)
            ck_assert_int_eq(asyncio_future_set_result(made[i], IP(i)), 0);
        ck_assert_int_eq(asyncio_await(made[i], &r), 0);
        ck_assert_ptr_eq(r, IP(i));
        asyncio_decref(made[i]);
    }
    free(made);
    return NULL;
}

START_TEST(test_no_memory_for_a_slab)
{
    if (UNDER_ASAN || tu_scaled(1000) < 1000)
        return; /* the tools map memory of their own */
    default_allocator();
    tu_run_ok(no_memory_main, IP(_i));
}
END_TEST

Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, NULL, pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_burst_slabs_go_back_when_idle);
    tcase_add_test(tc, test_burst_after_a_trim_goes_back);
    tcase_add_test(tc, test_idle_loop_with_pinned_slabs_sleeps);
    tcase_add_test(tc, test_objects_outlive_their_loop);
    tcase_add_test(tc, test_own_allocator_gets_every_object);
    tcase_add_loop_test(tc, test_no_memory_for_a_slab, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
