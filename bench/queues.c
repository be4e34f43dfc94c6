/*
 * queue: 1,000,000 items through a Queue(maxsize=1024), one producer task
 * putting, one consumer task getting.  Each side runs until the queue is
 * full (empty) and then suspends, so most puts and gets do not suspend:
 * this measures the queue itself plus a hand-off every ~1,000 items.
 * Reports ns per item (median of 5 rounds); items/s is 1e9 / that.
 *
 * Twin: bench/queues.py.
 */
#include "bench.h"

#define ITEMS 1000000L
#define MAXSIZE 1024
#define ROUNDS 5

static void *producer(void *arg)
{
    asyncio_queue_t *q = arg;
    for (long i = 0; i < ITEMS; i++)
        bench_check(asyncio_queue_put(q, (void *)(intptr_t)i), "asyncio_queue_put");
    return NULL;
}

static void *consumer(void *arg)
{
    asyncio_queue_t *q = arg;
    long sum = 0;
    for (long i = 0; i < ITEMS; i++) {
        void *item;
        bench_check(asyncio_queue_get(q, &item), "asyncio_queue_get");
        sum += (long)(intptr_t)item;
    }
    if (sum != ITEMS * (ITEMS - 1) / 2)
        bench_die("consumer: wrong items", -1);
    return NULL;
}

static void *bench_main(void *arg)
{
    (void)arg;
    double per_item[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        asyncio_queue_t *q = bench_check_ptr(asyncio_queue_new(MAXSIZE), "asyncio_queue_new");
        int64_t t0 = bench_now_ns();
        asyncio_future_t *t[2];
        t[0] = bench_check_ptr(asyncio_create_task(producer, q), "asyncio_create_task");
        t[1] = bench_check_ptr(asyncio_create_task(consumer, q), "asyncio_create_task");
        for (int k = 0; k < 2; k++) {
            bench_check(asyncio_await(t[k], NULL), "asyncio_await");
            asyncio_decref(t[k]);
        }
        int64_t t1 = bench_now_ns();
        asyncio_queue_free(q);
        per_item[r] = (double)(t1 - t0) / ITEMS;
        fprintf(stderr, "queue: round %d: %ld items in %.2f ms, %.2f ns/item, %.1f M items/s\n", r,
                ITEMS, (double)(t1 - t0) / 1e6, per_item[r], 1e3 / per_item[r]);
    }
    double med = bench_median(per_item, ROUNDS);
    bench_result("queues", "ns_per_item", med, "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
