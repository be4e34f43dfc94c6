/*
 * semaphore: 10,000 worker tasks bounded by a Semaphore(100): each
 * acquires a permit, yields once (sleep(0)) while holding it, and releases
 * it.  Measures the whole run, creating the tasks to the last one done;
 * reports ns per worker, median of 5 rounds.
 *
 * Twin: bench/semaphore.py.
 */
#include "bench.h"

#define WORKERS 10000
#define PERMITS 100
#define ROUNDS 5

static asyncio_semaphore_t *sem;

static void *worker(void *arg)
{
    (void)arg;
    bench_check(asyncio_semaphore_acquire(sem), "asyncio_semaphore_acquire");
    bench_check(asyncio_sleep(0), "asyncio_sleep");
    bench_check(asyncio_semaphore_release(sem), "asyncio_semaphore_release");
    return NULL;
}

static void *bench_main(void *arg)
{
    (void)arg;
    static asyncio_future_t *t[WORKERS];
    double ns[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        sem = bench_check_ptr(asyncio_semaphore_new(PERMITS), "asyncio_semaphore_new");
        int64_t t0 = bench_now_ns();
        for (int k = 0; k < WORKERS; k++)
            t[k] = bench_check_ptr(asyncio_create_task(worker, NULL), "asyncio_create_task");
        bench_check(asyncio_gather(t, WORKERS, NULL, 0), "asyncio_gather");
        for (int k = 0; k < WORKERS; k++)
            asyncio_decref(t[k]);
        int64_t t1 = bench_now_ns();
        asyncio_semaphore_free(sem);
        ns[r] = (double)(t1 - t0) / WORKERS;
        fprintf(stderr, "semaphore: round %d: %d workers in %.3f ms, %.1f ns/worker\n", r, WORKERS,
                (double)(t1 - t0) / 1e6, ns[r]);
    }
    bench_result("semaphore", "ns_per_worker", bench_median(ns, ROUNDS), "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
