/*
 * lock: N tasks (N = 2, then 100) share one Lock; each in turn acquires it,
 * yields once while holding it (so that the others queue up), and releases
 * it, which hands it to the first waiter.  1,000,000 acquisitions in all,
 * whatever N.  Reports ns per acquisition, i.e. per hand-off (each includes
 * the holder's sleep(0)), median of 5 rounds.
 *
 * Twin: bench/lock.py.
 */
#include "bench.h"

#define ACQUISITIONS 1000000L
#define ROUNDS 5

static asyncio_lock_t *lock;

static void *worker(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++) {
        bench_check(asyncio_lock_acquire(lock), "asyncio_lock_acquire");
        bench_check(asyncio_sleep(0), "asyncio_sleep");
        bench_check(asyncio_lock_release(lock), "asyncio_lock_release");
    }
    return NULL;
}

static double one_round(int ntasks)
{
    lock = bench_check_ptr(asyncio_lock_new(), "asyncio_lock_new");
    asyncio_future_t *t[100];
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < ntasks; k++)
        t[k] =
            bench_check_ptr(asyncio_create_task(worker, (void *)(intptr_t)(ACQUISITIONS / ntasks)),
                            "asyncio_create_task");
    for (int k = 0; k < ntasks; k++) {
        bench_check(asyncio_await(t[k], NULL), "asyncio_await");
        asyncio_decref(t[k]);
    }
    int64_t t1 = bench_now_ns();
    asyncio_lock_free(lock);
    return (double)(t1 - t0) / ACQUISITIONS;
}

static void *bench_main(void *arg)
{
    (void)arg;
    static const int sizes[2] = {2, 100};
    for (int s = 0; s < 2; s++) {
        double ns[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            ns[r] = one_round(sizes[s]);
            fprintf(stderr, "lock: %d tasks, round %d: %.1f ns/hand-off\n", sizes[s], r, ns[r]);
        }
        char metric[64];
        snprintf(metric, sizeof metric, "ns_per_handoff_%d", sizes[s]);
        bench_result("lock", metric, bench_median(ns, ROUNDS), "ns");
    }
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
