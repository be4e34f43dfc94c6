/*
 * http_semaphore: the aiohttp idiom.  10,000 GETs of a 1 KiB file, then of
 * a 100 KiB file, from a local nginx over one session (HTTP/1.1
 * keep-alive), each request its own task, a Semaphore(64) bounding them,
 * one gather of the 10,000 tasks at the end -- the shape of
 *
 *     sem = asyncio.Semaphore(64)
 *     async def fetch(url):
 *         async with sem:
 *             async with session.get(url) as resp:
 *                 return await resp.read()
 *     await asyncio.gather(*(fetch(url) for _ in range(10_000)))
 *
 * Each body is read whole into memory and its length checked.  Requests
 * per second, the best of 3 rounds after a warm-up round.
 *
 * The same program also runs bench/http_get's form, 64 long-lived worker
 * tasks taking the next request, in rounds alternating with the semaphore
 * ones, so that the two shapes are compared under the same load of a
 * shared machine: `workers_*_req_s`, and `sem_over_workers_*` (the
 * semaphore form's rate over the workers', higher is better, goal >= 0.9).
 *
 * The server's address comes from BENCH_HTTP_BASE (http://127.0.0.1:PORT),
 * as for http_get:  sh bench/http_server.sh build/bench/http_semaphore
 *
 * Twin: bench/http_semaphore.py (aiohttp, the idiom above);
 * bench/http_semaphore.sh measures curl --parallel --parallel-max 64.
 */
#include "bench.h"

#include <sys/resource.h>

#define REQUESTS 10000
#define IN_FLIGHT 64
#define ROUNDS 3

static asyncio_http_session_t *session;
static asyncio_semaphore_t *sem;
static char url[512];
static size_t want_len;
static long next_req, failures;

/* What a shape cost the client process over all its rounds: page faults
 * and CPU time (user + system), which a busy machine does not inflate as
 * it does wall-clock time. */
typedef struct cost {
    long faults;
    double cpu_s;
    long requests;
} cost_t;

static void usage_now(long *faults, double *cpu_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *faults = ru.ru_minflt + ru.ru_majflt;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void get_one(void)
{
    asyncio_http_response_t *resp;
    bench_check(asyncio_http_get(session, url, &resp), "asyncio_http_get");
    if (resp->status != 200 || resp->body_len != want_len)
        failures++;
    asyncio_http_response_free(resp);
}

/* One request, inside `async with sem`. */
static void *fetch(void *arg)
{
    bench_check(asyncio_semaphore_acquire(sem), "asyncio_semaphore_acquire");
    get_one();
    bench_check(asyncio_semaphore_release(sem), "asyncio_semaphore_release");
    return arg;
}

/* bench/http_get's form: a worker takes the next request until none is
 * left. */
static void *worker(void *arg)
{
    while (next_req < REQUESTS) {
        next_req++;
        get_one();
    }
    return arg;
}

static void check_failures(void)
{
    if (failures) {
        fprintf(stderr, "http_semaphore: %ld responses were not 200 with %zu bytes\n", failures,
                want_len);
        exit(2);
    }
}

static double sem_round(cost_t *c)
{
    static asyncio_future_t *t[REQUESTS];
    sem = bench_check_ptr(asyncio_semaphore_new(IN_FLIGHT), "asyncio_semaphore_new");
    long f0;
    double c0;
    usage_now(&f0, &c0);
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < REQUESTS; k++)
        t[k] = bench_check_ptr(asyncio_create_task(fetch, NULL), "asyncio_create_task");
    bench_check(asyncio_gather(t, REQUESTS, NULL, 0), "asyncio_gather");
    for (int k = 0; k < REQUESTS; k++)
        asyncio_decref(t[k]);
    int64_t t1 = bench_now_ns();
    long f1;
    double c1;
    usage_now(&f1, &c1);
    c->faults += f1 - f0;
    c->cpu_s += c1 - c0;
    c->requests += REQUESTS;
    asyncio_semaphore_free(sem);
    check_failures();
    return REQUESTS / ((double)(t1 - t0) / 1e9);
}

static double workers_round(cost_t *c)
{
    asyncio_future_t *t[IN_FLIGHT];
    next_req = 0;
    long f0;
    double c0;
    usage_now(&f0, &c0);
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < IN_FLIGHT; k++)
        t[k] = bench_check_ptr(asyncio_create_task(worker, NULL), "asyncio_create_task");
    bench_check(asyncio_gather(t, IN_FLIGHT, NULL, 0), "asyncio_gather");
    for (int k = 0; k < IN_FLIGHT; k++)
        asyncio_decref(t[k]);
    int64_t t1 = bench_now_ns();
    long f1;
    double c1;
    usage_now(&f1, &c1);
    c->faults += f1 - f0;
    c->cpu_s += c1 - c0;
    c->requests += REQUESTS;
    check_failures();
    return REQUESTS / ((double)(t1 - t0) / 1e9);
}

static void *bench_main(void *arg)
{
    const char *base = arg;
    static const struct {
        const char *path, *name;
        size_t len;
    } files[] = {{"1k", "1k", 1024}, {"100k", "100k", 102400}};
    asyncio_http_opts_t opts = ASYNCIO_HTTP_OPTS_INIT;
    opts.http_version = ASYNCIO_HTTP_VERSION_1_1;
    session = bench_check_ptr(asyncio_http_session_new(&opts), "asyncio_http_session_new");
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        snprintf(url, sizeof url, "%s/%s", base, files[f].path);
        want_len = files[f].len;
        double best_sem = 0, best_workers = 0;
        cost_t cs = {0}, cw = {0};
        for (int r = -1; r < ROUNDS; r++) {
            cost_t *ps = r < 0 ? &(cost_t){0} : &cs, *pw = r < 0 ? &(cost_t){0} : &cw;
            double s = sem_round(ps), w = workers_round(pw);
            fprintf(stderr,
                    "http_semaphore: %s round %d%s: %d GETs, Semaphore(%d) + gather: %.0f req/s; "
                    "%d workers: %.0f req/s\n",
                    files[f].path, r, r < 0 ? " (warm-up)" : "", REQUESTS, IN_FLIGHT, s, IN_FLIGHT,
                    w);
            if (r >= 0 && s > best_sem)
                best_sem = s;
            if (r >= 0 && w > best_workers)
                best_workers = w;
        }
        char metric[64];
        snprintf(metric, sizeof metric, "get_%s_req_s", files[f].name);
        bench_result("http_semaphore", metric, best_sem, "req/s");
        snprintf(metric, sizeof metric, "workers_%s_req_s", files[f].name);
        bench_result("http_semaphore", metric, best_workers, "req/s");
        snprintf(metric, sizeof metric, "sem_over_workers_%s", files[f].name);
        bench_result("http_semaphore", metric, best_sem / best_workers, "x");
        fprintf(stderr,
                "http_semaphore: %s, measured rounds: Semaphore + gather %.2f page faults and "
                "%.1f us CPU per request; workers %.2f page faults and %.1f us CPU per request\n",
                files[f].path, (double)cs.faults / cs.requests, cs.cpu_s * 1e6 / cs.requests,
                (double)cw.faults / cw.requests, cw.cpu_s * 1e6 / cw.requests);
        snprintf(metric, sizeof metric, "faults_per_req_%s", files[f].name);
        bench_result("http_semaphore", metric, (double)cs.faults / cs.requests, "faults");
        snprintf(metric, sizeof metric, "cpu_us_per_req_%s", files[f].name);
        bench_result("http_semaphore", metric, cs.cpu_s * 1e6 / cs.requests, "us");
        snprintf(metric, sizeof metric, "workers_cpu_us_per_req_%s", files[f].name);
        bench_result("http_semaphore", metric, cw.cpu_s * 1e6 / cw.requests, "us");
    }
    asyncio_http_session_free(session);
    return NULL;
}

int main(void)
{
    const char *base = getenv("BENCH_HTTP_BASE");
    if (!base || strncmp(base, "http://", 7) != 0 || strlen(base) > 400) {
        fprintf(stderr,
                "http_semaphore: set BENCH_HTTP_BASE=http://127.0.0.1:PORT, or run it as\n"
                "    sh bench/http_server.sh %s\n",
                "build/bench/http_semaphore");
        return 2;
    }
    bench_check(asyncio_run(bench_main, (void *)base, NULL), "asyncio_run");
    return 0;
}
