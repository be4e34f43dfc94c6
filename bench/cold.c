/*
 * cold: what a program pays the first time, in a fresh process -- the
 * shape of a script that starts, does its work once and exits.  Each
 * figure is measured in a new process (this program runs itself again with
 * the case's name), ROUNDS times, and the median reported:
 *
 *   spawn_gather   create 100,000 tasks whose coroutine returns at once,
 *                  gather them, drop them: ns per task (cold_ns_per_task);
 *                  and the same again in the same process, its free lists
 *                  and stacks now warm (warm_ns_per_task)
 *   gather_sleep   create 10,000 tasks that each sleep(0.001), gather them,
 *                  drop them: wall time minus the 1 ms of the sleeps, in ms
 *                  (cold_gather_overhead_ms), and warm, the same again in
 *                  the same process (warm_gather_overhead_ms)
 *   pages          the machine's own price: a fresh process commits 64 MiB
 *                  of anonymous memory page by page (ns per 4 KiB page,
 *                  page_fault_ns).  On a virtual machine that must back
 *                  each page first this dominates every cold figure: a
 *                  fresh task costs its object (~300 bytes) and the top
 *                  page of its stack.
 *
 * Twin: bench/cold.py (one process per run there too; --uvloop).
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include "bench.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWN_N 100000
#define SLEEP_N 10000
#define DELAY 0.001
#define ROUNDS 5
#define PAGES_BYTES ((size_t)64 << 20)

static double first, second; /* the case's figure, cold then warm */

static void *noop(void *arg)
{
    return arg;
}

static void *sleeper(void *arg)
{
    bench_check(asyncio_sleep(DELAY), "asyncio_sleep");
    return arg;
}

/* n tasks of fn created and gathered: ns from the first creation to the
 * last reference dropped. */
static double gather_round(asyncio_coro_fn fn, long n)
{
    asyncio_future_t **t = bench_check_ptr(malloc((size_t)n * sizeof *t), "malloc");
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        t[i] = bench_check_ptr(asyncio_create_task(fn, NULL), "asyncio_create_task");
    bench_check(asyncio_gather(t, (size_t)n, NULL, 0), "asyncio_gather");
    for (long i = 0; i < n; i++)
        asyncio_decref(t[i]);
    int64_t t1 = bench_now_ns();
    free(t);
    return (double)(t1 - t0);
}

static void *spawn_main(void *arg)
{
    (void)arg;
    first = gather_round(noop, SPAWN_N) / SPAWN_N;
    second = gather_round(noop, SPAWN_N) / SPAWN_N;
    return NULL;
}

static void *sleep_main(void *arg)
{
    (void)arg;
    first = gather_round(sleeper, SLEEP_N) / 1e6 - DELAY * 1e3;
    second = gather_round(sleeper, SLEEP_N) / 1e6 - DELAY * 1e3;
    return NULL;
}

/* One case, in this (fresh) process: prints "cold warm". */
static int run_case(const char *name)
{
    if (strcmp(name, "pages") == 0) {
        char *p =
            mmap(NULL, PAGES_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 2;
#ifdef MADV_NOHUGEPAGE
        madvise(p, PAGES_BYTES, MADV_NOHUGEPAGE);
#endif
        int64_t t0 = bench_now_ns();
        for (size_t i = 0; i < PAGES_BYTES; i += 4096)
            p[i] = 1;
        first = second = (double)(bench_now_ns() - t0) / (double)(PAGES_BYTES / 4096);
    } else {
        bench_check(
            asyncio_run(strcmp(name, "spawn_gather") == 0 ? spawn_main : sleep_main, NULL, NULL),
            "asyncio_run");
    }
    printf("%.6g %.6g\n", first, second);
    return 0;
}

/* Runs this program again for one case; its two figures. */
static void run_fresh(const char *self, const char *name, double *cold, double *warm)
{
    int fds[2];
    if (pipe(fds) != 0)
        bench_die("pipe", -1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork", -1);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[128];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf((buf[n] = '\0', buf), "%lf %lf", cold, warm) != 2) {
        fprintf(stderr, "cold: the %s run failed\n", name);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return run_case(argv[1]);
    static const struct {
        const char *name, *cold_metric, *warm_metric, *unit;
    } cases[] = {
        {"spawn_gather", "cold_ns_per_task", "warm_ns_per_task", "ns"},
        {"gather_sleep", "cold_gather_overhead_ms", "warm_gather_overhead_ms", "ms"},
        {"pages", "page_fault_ns", NULL, "ns"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double cold[ROUNDS], warm[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            run_fresh("/proc/self/exe", cases[c].name, &cold[r], &warm[r]);
            fprintf(stderr, "cold: %s, fresh process %d: %.4g %s cold, %.4g %s warm\n",
                    cases[c].name, r, cold[r], cases[c].unit, warm[r], cases[c].unit);
        }
        bench_result("cold", cases[c].cold_metric, bench_median(cold, ROUNDS), cases[c].unit);
        if (cases[c].warm_metric)
            bench_result("cold", cases[c].warm_metric, bench_median(warm, ROUNDS), cases[c].unit);
    }
    return 0;
}
