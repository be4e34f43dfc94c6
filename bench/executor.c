/*
 * executor: the thread-pool executor, three ways.
 *   trivial    100,000 jobs that return at once, all submitted through the
 *              default executor, then gathered: ns per job (1e9 / jobs/s).
 *   sleeps     10,000 jobs each blocking 1 ms (nanosleep) on an executor of
 *              32 workers: total seconds (ideal 10,000 / 32 ms = 0.31 s).
 *   round trip one job at a time, submit to result in the awaiting task,
 *              20,000 times: median and p99 in microseconds.
 * The main figures are medians of several runs.
 *
 * Twin: bench/executor.py.
 */
#include "bench.h"

#define TRIVIAL_JOBS 100000
#define SLEEP_JOBS 10000
#define SLEEP_WORKERS 32
#define ROUND_TRIPS 20000
#define ROUNDS 5

static void *trivial(void *arg)
{
    return arg;
}

static void *sleep_1ms(void *arg)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    return arg;
}

static double run_jobs(asyncio_executor_t *ex, asyncio_blocking_fn fn, long n,
                       asyncio_future_t **futs)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        futs[i] = bench_check_ptr(asyncio_run_in_executor(ex, fn, (void *)(intptr_t)i),
                                  "asyncio_run_in_executor");
    bench_check(asyncio_gather(futs, (size_t)n, NULL, 0), "asyncio_gather");
    int64_t t1 = bench_now_ns();
    for (long i = 0; i < n; i++)
        asyncio_decref(futs[i]);
    return (double)(t1 - t0) / 1e9;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_future_t **futs = malloc(TRIVIAL_JOBS * sizeof *futs);
    double v[ROUNDS];

    for (int r = 0; r < ROUNDS; r++) {
        double s = run_jobs(NULL, trivial, TRIVIAL_JOBS, futs);
        v[r] = s * 1e9 / TRIVIAL_JOBS;
        fprintf(stderr, "executor: trivial round %d: %d jobs in %.1f ms, %.0f jobs/s\n", r,
                TRIVIAL_JOBS, s * 1e3, TRIVIAL_JOBS / s);
    }
    double ns = bench_median(v, ROUNDS);
    bench_result("executor", "trivial_ns_per_job", ns, "ns");
    fprintf(stderr, "executor: trivial: %.0f jobs/s (median)\n", 1e9 / ns);

    asyncio_executor_t *ex =
        bench_check_ptr(asyncio_executor_new(SLEEP_WORKERS), "asyncio_executor_new");
    for (int r = 0; r < 3; r++) {
        v[r] = run_jobs(ex, sleep_1ms, SLEEP_JOBS, futs);
        fprintf(stderr, "executor: sleeps round %d: %d x 1 ms on %d workers in %.3f s\n", r,
                SLEEP_JOBS, SLEEP_WORKERS, v[r]);
    }
    bench_result("executor", "sleep_1ms_x10k_s", bench_median(v, 3), "s");
    asyncio_executor_free(ex);

    double *rt = malloc(ROUND_TRIPS * sizeof *rt);
    double med[ROUNDS], p99[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        for (long i = 0; i < ROUND_TRIPS; i++) {
            int64_t t0 = bench_now_ns();
            bench_check(asyncio_to_thread(trivial, NULL, NULL), "asyncio_to_thread");
            rt[i] = (double)(bench_now_ns() - t0) / 1e3;
        }
        qsort(rt, ROUND_TRIPS, sizeof *rt, bench_cmp_double);
        med[r] = bench_quantile_sorted(rt, ROUND_TRIPS, 0.5);
        p99[r] = bench_quantile_sorted(rt, ROUND_TRIPS, 0.99);
        fprintf(stderr, "executor: round trip round %d: median %.1f us, p99 %.1f us\n", r, med[r],
                p99[r]);
    }
    bench_result("executor", "round_trip_median_us", bench_median(med, ROUNDS), "us");
    bench_result("executor", "round_trip_p99_us", bench_median(p99, ROUNDS), "us");
    free(rt);
    free(futs);
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
