/*
 * future_pingpong: two tasks hand a fresh future back and forth.  Each
 * hand-off: the sender creates a new future for the reply, sets the result
 * of the future the receiver awaits to that new future, and awaits it.  So
 * a round trip is two hand-offs, each one future created, set, awaited and
 * dropped.  1,000,000 round trips; reports ns per hand-off (and per round
 * trip).  The main figure is the median of several runs.
 *
 * Twin: bench/future_pingpong.py.
 */
#include "bench.h"

#define ROUND_TRIPS 1000000
#define ROUNDS 5

static int stop_token; /* the result that tells the ponger to finish */

/* Awaits `first`; answers each future it receives with a fresh one. */
static void *ponger(void *arg)
{
    asyncio_future_t *mine = arg; /* borrowed from bench_main */
    asyncio_incref(mine);
    for (;;) {
        void *got;
        bench_check(asyncio_await(mine, &got), "ponger: asyncio_await");
        asyncio_decref(mine);
        if (got == &stop_token)
            return NULL;
        asyncio_future_t *reply_to = got; /* the pinger's future, owned by it */
        mine = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
        bench_check(asyncio_future_set_result(reply_to, mine), "ponger: set_result");
    }
}

struct pinger_args {
    asyncio_future_t *first; /* what the ponger awaits first */
    long n;
};

static void *pinger(void *arg)
{
    struct pinger_args *a = arg;
    asyncio_future_t *theirs = a->first; /* the future the ponger awaits */
    for (long i = 0; i < a->n; i++) {
        asyncio_future_t *mine = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
        bench_check(asyncio_future_set_result(theirs, mine), "pinger: set_result");
        void *got;
        bench_check(asyncio_await(mine, &got), "pinger: asyncio_await");
        asyncio_decref(mine);
        theirs = got; /* owned by the ponger, which awaits it */
    }
    bench_check(asyncio_future_set_result(theirs, &stop_token), "pinger: set_result(stop)");
    return NULL;
}

static void *bench_main(void *arg)
{
    (void)arg;
    double per_handoff[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        asyncio_future_t *first = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
        struct pinger_args pa = {first, ROUND_TRIPS};
        asyncio_future_t *t[2];
        t[0] = bench_check_ptr(asyncio_create_task(ponger, first), "asyncio_create_task");
        t[1] = bench_check_ptr(asyncio_create_task(pinger, &pa), "asyncio_create_task");
        for (int k = 0; k < 2; k++) {
            bench_check(asyncio_await(t[k], NULL), "asyncio_await");
            asyncio_decref(t[k]);
        }
        asyncio_decref(first);
        int64_t t1 = bench_now_ns();
        per_handoff[r] = (double)(t1 - t0) / (2.0 * ROUND_TRIPS);
        fprintf(stderr, "future_pingpong: round %d: %d round trips in %.2f ms, %.1f ns/hand-off\n",
                r, ROUND_TRIPS, (double)(t1 - t0) / 1e6, per_handoff[r]);
    }
    double med = bench_median(per_handoff, ROUNDS);
    bench_result("future_pingpong", "ns_per_handoff", med, "ns");
    bench_result("future_pingpong", "ns_per_round_trip", 2 * med, "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
