/*
 * wait_for: 1,000,000 `wait_for` calls on futures that complete before
 * their deadline.  Each iteration creates a future, schedules a callback
 * with call_soon that sets its result, and wait_fors it with a 10 s
 * timeout: the main task suspends, the callback completes the future, the
 * task wakes with the result and the deadline is disarmed.  Reports ns per
 * iteration (future, call_soon, wait_for, drop), median of several rounds.
 * The same loop with a plain `await` instead of `wait_for` is timed too and
 * shown on stderr, to tell the cost of the deadline itself.
 *
 * Twin: bench/wait_for.py.
 */
#include "bench.h"

#define N 1000000
#define ROUNDS 5
#define TIMEOUT 10.0

static void set_result_cb(void *arg)
{
    bench_check(asyncio_future_set_result(arg, arg), "asyncio_future_set_result");
}

/* One round of N iterations; with_deadline: wait_for, else plain await. */
static double one_round(asyncio_loop_t *loop, int with_deadline)
{
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < N; i++) {
        asyncio_future_t *fut = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
        if (!asyncio_handle_valid(asyncio_call_soon(loop, set_result_cb, fut)))
            bench_die("asyncio_call_soon", -1);
        void *result;
        if (with_deadline)
            bench_check(asyncio_wait_for(fut, TIMEOUT, &result), "asyncio_wait_for");
        else
            bench_check(asyncio_await(fut, &result), "asyncio_await");
        if (result != fut)
            bench_die("wrong result", -1);
        asyncio_decref(fut);
    }
    return (double)(bench_now_ns() - t0) / N;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_loop_t *loop = asyncio_get_running_loop();
    double per_wait_for[ROUNDS], per_await[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        per_wait_for[r] = one_round(loop, 1);
        per_await[r] = one_round(loop, 0);
        fprintf(stderr,
                "wait_for: round %d: %d x (future, call_soon, wait_for): %.1f ns each; "
                "with a plain await: %.1f ns\n",
                r, N, per_wait_for[r], per_await[r]);
    }
    double med = bench_median(per_wait_for, ROUNDS);
    double base = bench_median(per_await, ROUNDS);
    fprintf(stderr, "wait_for: median %.1f ns, plain await %.1f ns: the deadline costs %.1f ns\n",
            med, base, med - base);
    bench_result("wait_for", "ns_per_wait_for", med, "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
