/*
 * contextvar: the cost of context variables, inside a task.
 *
 *   get_N      var.get() of one variable while N variables are set in the
 *              task's context (1, 16, 256): the lookup in the trie.
 *   get_unset  var.get() of a variable that is not set (its default).
 *   set_reset  token = var.set(v); var.reset(token): a binding and a path
 *              of the trie made and dropped, and the token.
 *   spawn_set  create a task and await it while one variable is set: the
 *              copy of a context that is not empty (one reference); the
 *              spawn benchmark has the empty case.
 * Each figure is the median of several rounds, in ns per operation.
 *
 * Twin: bench/contextvar.py (ContextVar.get and friends on asyncio).
 */
#include "bench.h"

#define GETS 10000000
#define SETS 1000000
#define SPAWNS 100000
#define ROUNDS 5

static volatile uintptr_t sink;

static double per_get(asyncio_contextvar_t *var)
{
    double per[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        uintptr_t acc = 0;
        int64_t t0 = bench_now_ns();
        for (long i = 0; i < GETS; i++) {
            void *v;
            asyncio_contextvar_get(var, &v);
            acc += (uintptr_t)v;
        }
        int64_t t1 = bench_now_ns();
        sink = acc;
        per[r] = (double)(t1 - t0) / GETS;
    }
    return bench_median(per, ROUNDS);
}

static void *noop(void *arg)
{
    return arg;
}

static void *bench_main(void *arg)
{
    (void)arg;
    enum { MAXVARS = 256 };
    static asyncio_contextvar_t *vars[MAXVARS];
    for (int i = 0; i < MAXVARS; i++)
        vars[i] = bench_check_ptr(asyncio_contextvar_new("v", NULL), "asyncio_contextvar_new");
    asyncio_contextvar_t *unset =
        bench_check_ptr(asyncio_contextvar_new("unset", NULL), "asyncio_contextvar_new");

    int set_so_far = 0;
    static const int counts[] = {1, 16, 256};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        for (; set_so_far < counts[c]; set_so_far++)
            bench_check(
                asyncio_contextvar_set(vars[set_so_far], (void *)(intptr_t)set_so_far, NULL),
                "asyncio_contextvar_set");
        double ns = per_get(vars[counts[c] / 2]);
        char metric[32];
        snprintf(metric, sizeof metric, "ns_per_get_%d", counts[c]);
        fprintf(stderr, "contextvar: get with %d set: %.2f ns\n", counts[c], ns);
        bench_result("contextvar", metric, ns, "ns");
    }
    double ns = per_get(unset);
    fprintf(stderr, "contextvar: get of an unset variable: %.2f ns\n", ns);
    bench_result("contextvar", "ns_per_get_unset", ns, "ns");

    /* set + reset with 16 variables set (a fresh task's context). */
    double per[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (long i = 0; i < SETS; i++) {
            asyncio_contextvar_token_t *tok;
            bench_check(asyncio_contextvar_set(vars[7], (void *)(intptr_t)i, &tok), "set");
            bench_check(asyncio_contextvar_reset(vars[7], tok), "reset");
        }
        int64_t t1 = bench_now_ns();
        per[r] = (double)(t1 - t0) / SETS;
    }
    ns = bench_median(per, ROUNDS);
    fprintf(stderr, "contextvar: set + reset: %.2f ns\n", ns);
    bench_result("contextvar", "ns_per_set_reset", ns, "ns");

    /* Spawning while the context holds variables: one reference per task. */
    static asyncio_future_t *tasks[SPAWNS];
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < SPAWNS; i++)
            tasks[i] = bench_check_ptr(asyncio_create_task(noop, NULL), "asyncio_create_task");
        for (int i = 0; i < SPAWNS; i++) {
            bench_check(asyncio_await(tasks[i], NULL), "asyncio_await");
            asyncio_decref(tasks[i]);
        }
        int64_t t1 = bench_now_ns();
        per[r] = (double)(t1 - t0) / SPAWNS;
    }
    ns = bench_median(per, ROUNDS);
    fprintf(stderr, "contextvar: spawn with 256 variables set: %.1f ns/task\n", ns);
    bench_result("contextvar", "ns_per_spawn_set", ns, "ns");

    for (int i = 0; i < MAXVARS; i++)
        asyncio_contextvar_free(vars[i]);
    asyncio_contextvar_free(unset);
    return NULL;
}

int main(void)
{
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}
