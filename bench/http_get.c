/*
 * http_get: 10,000 GETs of a 1 KiB file, then of a 100 KiB file, 64 in
 * flight, over one session (HTTP/1.1 keep-alive, so 64 connections), from
 * a local nginx with one worker: requests per second, the best of 3 rounds
 * after a warm-up round that opens the connections.  64 worker tasks take
 * the next request number until 10,000 are done; each body is read whole
 * into memory and its length checked.
 *
 * The server's address comes from BENCH_HTTP_BASE (http://127.0.0.1:PORT):
 * bench/run.sh starts nginx through bench/http_server.sh, which can also
 * wrap a single run:  sh bench/http_server.sh build/bench/http_get
 *
 * Twin: bench/http_get.py (aiohttp); bench/http_get.sh measures curl
 * --parallel and wrk against the same server.
 */
#include "bench.h"

#define REQUESTS 10000
#define IN_FLIGHT 64
#define ROUNDS 3

static asyncio_http_session_t *session;
static char url[512];
static size_t want_len;
static long next_req, failures;

static void *worker(void *arg)
{
    (void)arg;
    while (next_req < REQUESTS) {
        next_req++;
        asyncio_http_response_t *resp;
        bench_check(asyncio_http_get(session, url, &resp), "asyncio_http_get");
        if (resp->status != 200 || resp->body_len != want_len)
            failures++;
        asyncio_http_response_free(resp);
    }
    return NULL;
}

static double round_req_s(void)
{
    asyncio_future_t *t[IN_FLIGHT];
    next_req = 0;
    int64_t t0 = bench_now_ns();
    for (int k = 0; k < IN_FLIGHT; k++)
        t[k] = bench_check_ptr(asyncio_create_task(worker, NULL), "asyncio_create_task");
    bench_check(asyncio_gather(t, IN_FLIGHT, NULL, 0), "asyncio_gather");
    int64_t t1 = bench_now_ns();
    for (int k = 0; k < IN_FLIGHT; k++)
        asyncio_decref(t[k]);
    if (failures) {
        fprintf(stderr, "http_get: %ld responses were not 200 with %zu bytes\n", failures,
                want_len);
        exit(2);
    }
    return REQUESTS / ((double)(t1 - t0) / 1e9);
}

static void *bench_main(void *arg)
{
    const char *base = arg;
    static const struct {
        const char *path, *metric;
        size_t len;
    } files[] = {{"1k", "get_1k_req_s", 1024}, {"100k", "get_100k_req_s", 102400}};
    asyncio_http_opts_t opts = ASYNCIO_HTTP_OPTS_INIT;
    opts.http_version = ASYNCIO_HTTP_VERSION_1_1;
    session = bench_check_ptr(asyncio_http_session_new(&opts), "asyncio_http_session_new");
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        snprintf(url, sizeof url, "%s/%s", base, files[f].path);
        want_len = files[f].len;
        double best = 0;
        for (int r = -1; r < ROUNDS; r++) {
            double v = round_req_s();
            fprintf(stderr, "http_get: %s round %d%s: %d GETs, %d in flight: %.0f req/s\n",
                    files[f].path, r, r < 0 ? " (warm-up)" : "", REQUESTS, IN_FLIGHT, v);
            if (r >= 0 && v > best)
                best = v;
        }
        bench_result("http_get", files[f].metric, best, "req/s");
    }
    asyncio_http_session_free(session);
    return NULL;
}

int main(void)
{
    const char *base = getenv("BENCH_HTTP_BASE");
    if (!base || strncmp(base, "http://", 7) != 0 || strlen(base) > 400) {
        fprintf(stderr,
                "http_get: set BENCH_HTTP_BASE=http://127.0.0.1:PORT, or run it as\n"
                "    sh bench/http_server.sh %s\n",
                "build/bench/http_get");
        return 2;
    }
    bench_check(asyncio_run(bench_main, (void *)base, NULL), "asyncio_run");
    return 0;
}
