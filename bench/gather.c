/*
 * gather: create 10,000 tasks that each sleep(0.001), gather them, drop
 * them.  "Gather overhead" = wall time from before the first task is
 * created to after the last reference is dropped, minus the 1 ms that the
 * sleeps themselves must take.  The main figure is the median of several
 * runs (the first, cold one included).
 *
 * Twin: bench/gather.py.
 */
#include "bench.h"

#define N 10000
#define DELAY 0.001
#define ROUNDS 7

static void *sleeper(void *arg)
{
    bench_check(asyncio_sleep(DELAY), "asyncio_sleep");
    return arg;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_future_t **tasks = bench_check_ptr(malloc(N * sizeof *tasks), "malloc");
    void **results = bench_check_ptr(malloc(N * sizeof *results), "malloc");
    double overhead_ms[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < N; i++)
            tasks[i] = bench_check_ptr(asyncio_create_task(sleeper, NULL), "asyncio_create_task");
        bench_check(asyncio_gather(tasks, N, results, 0), "asyncio_gather");
        for (int i = 0; i < N; i++)
            asyncio_decref(tasks[i]);
        int64_t t1 = bench_now_ns();
        overhead_ms[r] = (double)(t1 - t0) / 1e6 - DELAY * 1e3;
        fprintf(stderr,
                "gather: round %d: %d tasks sleeping %g s gathered in %.3f ms: overhead %.3f ms\n",
                r, N, DELAY, (double)(t1 - t0) / 1e6, overhead_ms[r]);
    }
    free(results);
    free(tasks);
    bench_result("gather", "overhead_ms", bench_median(overhead_ms, ROUNDS), "ms");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
