/*
 * timer_lateness: 10,000 tasks; task i (i = 1..10,000) sleeps i/10,000 s,
 * so the wake-ups are spread uniformly over one second.  Each task records
 * (actual wake time - intended wake time), the intended time being the
 * clock read just before its sleep plus the delay.  Reports p50, p99 and
 * max lateness in ms (nearest-rank percentiles), and the min on stderr (a
 * negative value would be an early wake-up).
 *
 * The timers that come due in the first few tens of milliseconds also
 * measure how long the loop takes to start the 10,000 tasks (their first
 * steps run in one batch, during which nothing else runs; that takes 1 to
 * 100 ms depending on the loop).  So one more figure, steady_p99_ms, is the
 * p99 over the 8,000 tasks with delays >= 0.2 s only, which come due after
 * that start-up burst on every loop measured: pure timer precision.
 *
 * Twin: bench/timer_lateness.py.
 */
#include "bench.h"

#define N 10000
#define STEADY_FROM (N / 5) /* tasks i > STEADY_FROM have delays > 0.2 s */

static double lateness_ms[N + 1];

static void *sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    double delay = (double)i / N;
    int64_t intended = bench_now_ns() + (int64_t)(delay * 1e9 + 0.5);
    bench_check(asyncio_sleep(delay), "asyncio_sleep");
    lateness_ms[i] = (double)(bench_now_ns() - intended) / 1e6;
    return NULL;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_future_t **tasks = bench_check_ptr(malloc((N + 1) * sizeof *tasks), "malloc");
    for (int i = 1; i <= N; i++)
        tasks[i] = bench_check_ptr(asyncio_create_task(sleeper, (void *)(intptr_t)i),
                                   "asyncio_create_task");
    for (int i = 1; i <= N; i++) {
        bench_check(asyncio_await(tasks[i], NULL), "asyncio_await");
        asyncio_decref(tasks[i]);
    }
    free(tasks);

    double steady[N - STEADY_FROM];
    memcpy(steady, lateness_ms + STEADY_FROM + 1, sizeof steady);
    qsort(steady, N - STEADY_FROM, sizeof *steady, bench_cmp_double);
    double steady_p99 = bench_quantile_sorted(steady, N - STEADY_FROM, 0.99);

    double *v = lateness_ms + 1;
    qsort(v, N, sizeof *v, bench_cmp_double);
    fprintf(stderr,
            "timer_lateness: %d timers over 1 s: min %.3f ms, p50 %.3f, p90 %.3f, p99 %.3f, max "
            "%.3f ms; "
            "p99 of delays > 0.2 s: %.3f ms\n",
            N, v[0], bench_quantile_sorted(v, N, 0.5), bench_quantile_sorted(v, N, 0.9),
            bench_quantile_sorted(v, N, 0.99), v[N - 1], steady_p99);
    bench_result("timer_lateness", "p50_ms", bench_quantile_sorted(v, N, 0.5), "ms");
    bench_result("timer_lateness", "p99_ms", bench_quantile_sorted(v, N, 0.99), "ms");
    bench_result("timer_lateness", "max_ms", v[N - 1], "ms");
    bench_result("timer_lateness", "steady_p99_ms", steady_p99, "ms");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
