/*
 * switch: two tasks ping-pong with sleep(0): each yields 500,000 times, so
 * there are 1,000,000 sleep(0) calls, each one a switch from one task to
 * the other through the loop's ready queue.  Reports the time per switch
 * (the time to create and collect the two tasks is included; it is
 * negligible).  The main figure is the median of several runs.
 *
 * Twin: bench/switch.py.
 */
#include "bench.h"

#define SWITCHES 1000000
#define ROUNDS 5

static void *yielder(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        bench_check(asyncio_sleep(0), "asyncio_sleep(0)");
    return NULL;
}

static void *bench_main(void *arg)
{
    (void)arg;
    double per_switch[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        asyncio_future_t *t[2];
        for (int k = 0; k < 2; k++)
            t[k] = bench_check_ptr(asyncio_create_task(yielder, (void *)(intptr_t)(SWITCHES / 2)),
                                   "asyncio_create_task");
        for (int k = 0; k < 2; k++) {
            bench_check(asyncio_await(t[k], NULL), "asyncio_await");
            asyncio_decref(t[k]);
        }
        int64_t t1 = bench_now_ns();
        per_switch[r] = (double)(t1 - t0) / SWITCHES;
        fprintf(stderr, "switch: round %d: %d switches in %.2f ms, %.1f ns/switch\n", r, SWITCHES,
                (double)(t1 - t0) / 1e6, per_switch[r]);
    }
    bench_result("switch", "ns_per_switch", bench_median(per_switch, ROUNDS), "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
