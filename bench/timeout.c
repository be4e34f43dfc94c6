/*
 * timeout: timeout scopes entered and exited 1,000,000 times, each around
 * one await that completes before the deadline: `async with timeout(10):
 * await sleep(0)` (the task yields to the loop inside the scope), then
 * `async with timeout(10): await fut` on a future already done (no
 * suspension: the scope alone).  Reports ns per scope for each, median of
 * several rounds; the same loops without the scope are timed too and shown
 * on stderr, to tell what the scope itself costs.
 *
 * Twin: bench/timeout.py.
 */
#include "bench.h"

#define N 1000000
#define ROUNDS 5
#define DELAY 10.0

enum body { SLEEP0, DONE_AWAIT };

/* One round of N iterations of the body, inside a scope each or not. */
static double one_round(enum body body, int scoped, asyncio_future_t *done)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < N; i++) {
        asyncio_timeout_t *cm = NULL;
        if (scoped)
            cm = bench_check_ptr(asyncio_timeout_enter(DELAY), "asyncio_timeout_enter");
        if (body == SLEEP0)
            bench_check(asyncio_sleep(0), "asyncio_sleep");
        else
            bench_check(asyncio_await(done, NULL), "asyncio_await");
        if (scoped)
            bench_check(asyncio_timeout_exit(cm), "asyncio_timeout_exit");
    }
    return (double)(bench_now_ns() - t0) / N;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_future_t *done = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
    bench_check(asyncio_future_set_result(done, NULL), "asyncio_future_set_result");
    static const char *const names[] = {"sleep(0)", "an already-done await"};
    static const char *const metrics[] = {"ns_per_scope_sleep0", "ns_per_scope_done"};
    for (int b = SLEEP0; b <= DONE_AWAIT; b++) {
        double scoped[ROUNDS], bare[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            scoped[r] = one_round(b, 1, done);
            bare[r] = one_round(b, 0, done);
            fprintf(stderr,
                    "timeout: round %d: %d x timeout scope around %s: %.1f ns each; "
                    "without the scope: %.1f ns\n",
                    r, N, names[b], scoped[r], bare[r]);
        }
        double med = bench_median(scoped, ROUNDS), base = bench_median(bare, ROUNDS);
        fprintf(stderr,
                "timeout: %s: median %.1f ns, without the scope %.1f ns: "
                "the scope costs %.1f ns\n",
                names[b], med, base, med - base);
        bench_result("timeout", metrics[b], med, "ns");
    }
    asyncio_decref(done);
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
