/* A TCP port checker (port_check.py): tries to connect to each port, at
 * most --limit connections at a time (a semaphore), each given --timeout
 * seconds, and prints one line per port in the order given:
 *
 *   port_check [--host H] [--limit N] [--timeout S] PORTS...
 *
 * PORTS are numbers or ranges (8000-8010).  A line is `PORT open`,
 * `PORT closed` (connection refused), `PORT timeout` or `PORT error: ...`.
 * Exits with 0 once every port was checked, whatever it found. */
#include <casyncio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
    const char *host;
    int port;
    double timeout;
    asyncio_semaphore_t *limit;
    char result[160]; /* what to print */
};

/* async def check(host, port): */
static void *check_port(void *arg)
{
    struct check *c = arg;
    /* async with limit: */
    if (asyncio_semaphore_acquire(c->limit) < 0)
        return NULL;
    asyncio_stream_t *stream = NULL;
    /* async with asyncio.timeout(t): await asyncio.open_connection(...) */
    asyncio_timeout_t *deadline = asyncio_timeout_enter(c->timeout);
    if (deadline) {
        asyncio_open_connection(c->host, c->port, NULL, &stream);
        asyncio_timeout_exit(deadline);
    }
    asyncio_semaphore_release(c->limit);

    const asyncio_error_t *e;
    if (stream) {
        snprintf(c->result, sizeof c->result, "%d open", c->port);
        asyncio_stream_free(stream); /* closes it */
    } else if (asyncio_catch("ConnectionRefusedError")) {
        snprintf(c->result, sizeof c->result, "%d closed", c->port);
    } else if (asyncio_catch("TimeoutError")) {
        snprintf(c->result, sizeof c->result, "%d timeout", c->port);
    } else if ((e = asyncio_catch("OSError"))) {
        snprintf(c->result, sizeof c->result, "%d error: %s: %s", c->port, e->type, e->message);
    }
    /* Anything else (CancelledError, MemoryError) stays raised. */
    return NULL;
}

struct job {
    const char *host;
    double timeout;
    size_t limit;
    int *ports;
    size_t nports;
};

/* async def main(): a task per port, awaited and printed in order. */
static void *async_main(void *arg)
{
    struct job *job = arg;
    struct check *checks = calloc(job->nports, sizeof *checks);
    asyncio_future_t **tasks = calloc(job->nports, sizeof *tasks);
    asyncio_semaphore_t *limit = asyncio_semaphore_new(job->limit);
    size_t started = 0;
    if (!checks || !tasks || !limit) {
        asyncio_raise("MemoryError", "no memory for %zu checks", job->nports);
        goto out;
    }
    for (; started < job->nports; started++) {
        struct check *c = &checks[started];
        *c = (struct check){job->host, job->ports[started], job->timeout, limit, ""};
        if (!(tasks[started] = asyncio_create_task(check_port, c)))
            break;
    }
    for (size_t i = 0; i < started; i++) {
        if (asyncio_await(tasks[i], NULL) < 0)
            break;
        printf("%s\n", checks[i].result);
    }
out:
    /* On an error, the tasks still running are cancelled and waited for
     * before what they use is freed. */
    if (asyncio_error()) {
        asyncio_error_t *why = asyncio_error_dup(asyncio_error());
        asyncio_error_clear();
        for (size_t i = 0; i < started; i++)
            asyncio_cancel(tasks[i], NULL);
        for (size_t i = 0; i < started; i++)
            if (asyncio_await(tasks[i], NULL) < 0)
                asyncio_error_clear();
        asyncio_raise_error(why);
        asyncio_error_free(why);
    }
    for (size_t i = 0; i < started; i++)
        asyncio_decref(tasks[i]);
    asyncio_semaphore_free(limit);
    free(tasks);
    free(checks);
    return NULL;
}

/* Appends the ports of "N" or "N-M" to job->ports; false if malformed. */
static bool add_ports(struct job *job, const char *spec)
{
    char *end;
    long lo = strtol(spec, &end, 10), hi = lo;
    if (*end == '-')
        hi = strtol(end + 1, &end, 10);
    if (end == spec || *end != '\0' || lo < 1 || hi > 65535 || lo > hi)
        return false;
    int *more = realloc(job->ports, (job->nports + (size_t)(hi - lo + 1)) * sizeof *more);
    if (!more)
        return false;
    job->ports = more;
    for (long p = lo; p <= hi; p++)
        job->ports[job->nports++] = (int)p;
    return true;
}

int main(int argc, char **argv)
{
    struct job job = {.host = "127.0.0.1", .timeout = 1.0, .limit = 100};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 < argc && strcmp(opt, "--host") == 0) {
            job.host = argv[++i];
        } else if (i + 1 < argc && strcmp(opt, "--timeout") == 0) {
            job.timeout = strtod(argv[++i], NULL);
        } else if (i + 1 < argc && strcmp(opt, "--limit") == 0) {
            job.limit = strtoul(argv[++i], NULL, 10);
        } else if (!add_ports(&job, opt)) {
            fprintf(stderr, "usage: %s [--host H] [--limit N] [--timeout S] PORT|LO-HI...\n",
                    argv[0]);
            free(job.ports);
            return 2;
        }
    }
    if (job.nports == 0 || job.limit == 0 || !(job.timeout > 0)) {
        fprintf(stderr, "%s: give ports, a positive limit and a positive timeout\n", argv[0]);
        free(job.ports);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = asyncio_run(async_main, &job, NULL);
    free(job.ports);
    if (rc < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "port_check: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
