/*
 * sleep_memory: N tasks all suspended at once, each awaiting one shared
 * future that is released at the end.  Reports the peak RSS (VmHWM) minus
 * the RSS before the tasks were created, divided by N: bytes per sleeping
 * task, everything included (task object, its stack pages, the waiter
 * entry, the caller's array of task pointers).  Page tables are not part
 * of RSS, so their growth (VmPTE) is reported too, per task.
 *
 * Without argument, measures N = 100,000 and N = 1,000,000, each in a
 * fresh child process (so that the second is not flattered by memory the
 * first left to the allocator); with an argument, measures that N only.
 *
 * After the N = 100,000 case, what stays resident while the loop idles:
 * the tasks are done, their stacks pooled; the pool gives the pages of
 * stacks untaken for a second back lazily (MADV_FREE: they still count in
 * RSS, as LazyFree, until the kernel needs them), and after four more
 * seconds for good.  Reported as bytes per task of the burst still in RSS
 * right after it (idle_rss_per_task_0s), after 2.5 s and after 7.5 s of
 * idling, and the LazyFree part at 2.5 s.
 *
 * Twin: bench/sleep_memory.py.
 */
#include "bench.h"

#include <sys/wait.h>
#include <unistd.h>

static long n_tasks;

static void *waiter(void *arg)
{
    bench_check(asyncio_await(arg, NULL), "waiter: asyncio_await");
    return NULL;
}

static const char *label(long n)
{
    static char buf[32];
    if (n % 1000000 == 0)
        snprintf(buf, sizeof buf, "%ldm", n / 1000000);
    else if (n % 1000 == 0)
        snprintf(buf, sizeof buf, "%ldk", n / 1000);
    else
        snprintf(buf, sizeof buf, "%ld", n);
    return buf;
}

/* A field of /proc/self/smaps_rollup in kB, or -1. */
static long rollup_kb(const char *field)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* RSS left by the burst (over the RSS before it) while the loop idles. */
static void idle_rss(long base_rss, long n)
{
    static const double at[] = {0, 2.5, 7.5};
    static const char *names[] = {"idle_rss_per_task_0s", "idle_rss_per_task_2s",
                                  "idle_rss_per_task_7s"};
    double slept = 0;
    for (int k = 0; k < 3; k++) {
        bench_check(asyncio_sleep(at[k] - slept), "asyncio_sleep");
        slept = at[k];
        long rss = bench_status_kb("VmRSS"), lazy = rollup_kb("LazyFree");
        fprintf(stderr,
                "sleep_memory: idle %.1f s after the burst: RSS %ld kB over the baseline, "
                "LazyFree %ld kB\n",
                at[k], rss - base_rss, lazy);
        bench_result("sleep_memory", names[k], (double)(rss - base_rss) * 1024.0 / (double)n, "B");
        if (k == 1 && lazy >= 0)
            bench_result("sleep_memory", "idle_lazyfree_per_task_2s",
                         (double)lazy * 1024.0 / (double)n, "B");
    }
}

static void *bench_main(void *arg)
{
    (void)arg;
    long n = n_tasks;
    long base_rss = bench_status_kb("VmRSS"), base_pte = bench_status_kb("VmPTE");
    long base_hwm = bench_reset_peak_rss() ? base_rss : bench_status_kb("VmHWM");

    int64_t t0 = bench_now_ns();
    asyncio_future_t *gate = bench_check_ptr(asyncio_future_new(), "asyncio_future_new");
    asyncio_future_t **tasks = bench_check_ptr(malloc((size_t)n * sizeof *tasks), "malloc");
    for (long i = 0; i < n; i++)
        tasks[i] = bench_check_ptr(asyncio_create_task(waiter, gate), "asyncio_create_task");
    /* The tasks run their first step (up to the await) in the next loop
     * iteration, before this task resumes; yield twice to be sure. */
    bench_check(asyncio_sleep(0), "asyncio_sleep(0)");
    bench_check(asyncio_sleep(0), "asyncio_sleep(0)");
    int64_t t1 = bench_now_ns();

    long rss = bench_status_kb("VmRSS"), hwm = bench_status_kb("VmHWM");
    long pte = bench_status_kb("VmPTE");
    size_t live = asyncio_all_tasks(NULL, 0);

    bench_check(asyncio_future_set_result(gate, gate), "asyncio_future_set_result");
    for (long i = 0; i < n; i++) {
        bench_check(asyncio_await(tasks[i], NULL), "asyncio_await");
        asyncio_decref(tasks[i]);
    }
    free(tasks);
    asyncio_decref(gate);
    int64_t t2 = bench_now_ns();

    double per_task = (double)(hwm - base_hwm) * 1024.0 / (double)n;
    double pte_per_task = (double)(pte - base_pte) * 1024.0 / (double)n;
    fprintf(stderr,
            "sleep_memory: N=%ld (%zu tasks alive): baseline RSS %ld kB; with all tasks "
            "suspended RSS %ld kB, peak %ld kB: %.0f B/task (peak), %.0f B/task (current); "
            "VmPTE %ld -> %ld kB: %.0f B/task more in page tables; set-up %.1f ms, "
            "release+collect %.1f ms\n",
            n, live, base_rss, rss, hwm, per_task, (double)(rss - base_rss) * 1024.0 / (double)n,
            base_pte, pte, pte_per_task, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);

    char metric[64];
    if (n == 100000)
        idle_rss(base_rss, n);
    snprintf(metric, sizeof metric, "bytes_per_task_%s", label(n));
    bench_result("sleep_memory", metric, per_task, "B");
    snprintf(metric, sizeof metric, "pte_bytes_per_task_%s", label(n));
    bench_result("sleep_memory", metric, pte_per_task, "B");
    return NULL;
}

static int measure(long n)
{
    n_tasks = n;
    bench_check(asyncio_run(bench_main, NULL, NULL), "asyncio_run");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        long n = strtol(argv[1], NULL, 10);
        if (n <= 0) {
            fprintf(stderr, "usage: %s [N]\n", argv[0]);
            return 2;
        }
        return measure(n);
    }
    static const long sizes[] = {100000, 1000000};
    int status_all = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0)
            _exit(measure(sizes[k]));
        int status;
        if (waitpid(pid, &status, 0) < 0) {
            perror("waitpid");
            return 2;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "sleep_memory: N=%ld failed (%s %d)\n", sizes[k],
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            status_all = 1;
        }
    }
    return status_all;
}
