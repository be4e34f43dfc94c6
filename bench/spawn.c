/*
 * spawn: create 100,000 tasks whose coroutine returns at once, then wait
 * for all of them (await each in turn, drop the reference).  Reports the
 * time per task, creation to collection.  Round 0 (cold: the loop's
 * free lists and stack pool are empty) is reported separately; the main
 * figure is the median of the following rounds.
 *
 * Twin: bench/spawn.py.
 */
#include "bench.h"

#define N 100000
#define ROUNDS 5 /* measured rounds after the cold one */

static void *noop(void *arg)
{
    return arg;
}

static void *bench_main(void *arg)
{
    (void)arg;
    asyncio_future_t **tasks = bench_check_ptr(malloc(N * sizeof *tasks), "malloc");
    double per_task[ROUNDS + 1];

    for (int r = 0; r <= ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < N; i++)
            tasks[i] = bench_check_ptr(asyncio_create_task(noop, NULL), "asyncio_create_task");
        for (int i = 0; i < N; i++) {
            bench_check(asyncio_await(tasks[i], NULL), "asyncio_await");
            asyncio_decref(tasks[i]);
        }
        int64_t t1 = bench_now_ns();
        per_task[r] = (double)(t1 - t0) / N;
        fprintf(stderr, "spawn: round %d: %d tasks in %.2f ms, %.1f ns/task%s\n", r, N,
                (double)(t1 - t0) / 1e6, per_task[r], r == 0 ? " (cold)" : "");
    }
    free(tasks);

    bench_result("spawn", "ns_per_task", bench_median(per_task + 1, ROUNDS), "ns");
    bench_result("spawn", "cold_ns_per_task", per_task[0], "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
