/*
 * taskgroup: 100,000 TaskGroups of 10 children each.  The main task enters
 * a group, creates 10 tasks in it whose coroutine returns at once, and
 * exits it (waiting for the 10).  Reports ns per group (enter, 10 x
 * create_task, exit: 10 tasks run and collected) and ns per child, median
 * of several rounds.
 *
 * Twin: bench/taskgroup.py.
 */
#include "bench.h"

#define GROUPS 100000
#define CHILDREN 10
#define ROUNDS 5

static void *child(void *arg)
{
    return arg;
}

static void *bench_main(void *arg)
{
    (void)arg;
    double per_group[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (long g = 0; g < GROUPS; g++) {
            asyncio_taskgroup_t *tg =
                bench_check_ptr(asyncio_taskgroup_enter(), "asyncio_taskgroup_enter");
            for (int c = 0; c < CHILDREN; c++)
                bench_check_ptr(asyncio_taskgroup_create_task(tg, child, NULL),
                                "asyncio_taskgroup_create_task");
            bench_check(asyncio_taskgroup_exit(tg), "asyncio_taskgroup_exit");
        }
        int64_t t1 = bench_now_ns();
        per_group[r] = (double)(t1 - t0) / GROUPS;
        fprintf(stderr, "taskgroup: round %d: %d groups of %d in %.2f ms, %.1f ns/group\n", r,
                GROUPS, CHILDREN, (double)(t1 - t0) / 1e6, per_group[r]);
    }
    double med = bench_median(per_group, ROUNDS);
    bench_result("taskgroup", "ns_per_group", med, "ns");
    bench_result("taskgroup", "ns_per_child", med / CHILDREN, "ns");
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
