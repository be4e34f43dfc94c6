/*
 * casyncio-fetch: fetches many URLs at once, on one HTTP session.
 *
 *   casyncio-fetch [OPTIONS] [URL...]       (options.c has them all)
 *
 * The run is one task, the scheduler, and one task per attempt.  Jobs
 * wait in per-host FIFO queues; hosts with a job and room under
 * --per-host wait in a ready list, taken round-robin, so one slow host
 * never holds the slots of the others.  The scheduler starts attempts
 * while fewer than -j are in flight, then sleeps on a future that an
 * attempt ending (or a retry coming due) completes.  An attempt that will
 * be retried gives its slot back and waits on a loop timer, not in a task:
 * ten thousand URLs waiting to be retried cost no stacks.
 *
 * Stopping.  The first SIGINT (or SIGTERM) stops the run: no attempt
 * starts after it, those in flight are cancelled (each removes its partial
 * file, or keeps it with -c), retries waiting are dropped, the summary is
 * printed and the exit status is 128 + the signal.  The handler is removed
 * as it runs, so the signal has its default action again: a second Ctrl-C
 * ends the process at once.  A full disk stops new attempts too (they
 * would all fail alike), but lets those in flight end.
 *
 * Exit status: 0 when every URL succeeded, 1 when one failed or did not
 * finish, 2 on a usage error (options.c), 128 + N after signal N.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

totals_t tot;

/* ------------------------------------------------------------ hosts */

struct host {
    char *key;          /* "scheme://host:port", lower case */
    job_t *head, *tail; /* queued jobs */
    long inflight;      /* its attempts in flight */
    bool ready;         /* on the ready list */
    struct host *next;  /* in the ready list */
    struct host *chain; /* in its hash bucket */
};

#define HOST_BUCKETS 4096
static host_t *buckets[HOST_BUCKETS];
static host_t *ready_head, *ready_tail;

static host_t *host_of(const char *url)
{
    /* scheme://[user@]host[:port] up to the path; case does not matter. */
    char key[512];
    const char *p = strstr(url, "://");
    const char *auth = p ? p + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    if (at)
        auth = at + 1;
    size_t slen = p ? (size_t)(p - url) : 0;
    snprintf(key, sizeof key, "%.*s://%.*s", (int)slen, url, (int)(end - auth), auth);
    for (char *c = key; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    uint64_t h = 1469598103934665603u;
    for (const char *c = key; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    host_t **b = &buckets[h % HOST_BUCKETS];
    for (host_t *x = *b; x; x = x->chain)
        if (!strcmp(x->key, key))
            return x;
    host_t *x = xcalloc(1, sizeof *x);
    x->key = xstrdup(key);
    x->chain = *b;
    *b = x;
    return x;
}

/* Puts a host with a queued job and room on the ready list. */
static void make_ready(host_t *h)
{
    if (h->ready || !h->head || (cfg.per_host && h->inflight >= cfg.per_host))
        return;
    h->ready = true;
    h->next = NULL;
    if (ready_tail)
        ready_tail->next = h;
    else
        ready_head = h;
    ready_tail = h;
}

static void enqueue(job_t *j, bool front)
{
    host_t *h = j->host;
    j->state = JOB_QUEUED;
    if (front) {
        j->next = h->head;
        h->head = j;
        if (!h->tail)
            h->tail = j;
    } else {
        j->next = NULL;
        if (h->tail)
            h->tail->next = j;
        else
            h->head = j;
        h->tail = j;
    }
    make_ready(h);
}

/* The next job to start: the first of the first ready host, which goes
 * to the back of the list if it still has room and jobs. */
static job_t *take(void)
{
    host_t *h = ready_head;
    if (!h)
        return NULL;
    ready_head = h->next;
    if (!ready_head)
        ready_tail = NULL;
    h->ready = false;
    job_t *j = h->head;
    h->head = j->next;
    if (!h->head)
        h->tail = NULL;
    j->next = NULL;
    h->inflight++;
    make_ready(h);
    return j;
}

/* ------------------------------------------------------------ the run */

static asyncio_future_t *wakeup; /* what the scheduler sleeps on */
static bool stopping;

double now(void)
{
    return asyncio_loop_time(NULL);
}

static void wake(void)
{
    if (wakeup && !asyncio_done(wakeup))
        asyncio_future_set_result(wakeup, NULL);
}

/* A job reaches its end: its file kept or removed, counted, reported. */
static void job_final(job_t *j, job_state_t state)
{
    j->state = state;
    if (j->attempts)
        j->t1 = now();
    bool removed = false;
    if (state != JOB_OK && j->path && !(cfg.resume && j->partial)) {
        removed = files_size(j) > 0;
        files_remove(j);
    }
    tot.done++;
    if (state == JOB_OK)
        tot.ok++;
    else if (state == JOB_FAILED)
        tot.failed++;
    else
        tot.cancelled++;
    report_final(j);
    if (state == JOB_OK)
        progress_done(j);
    else
        progress_failed(j, removed);
}

/* A retry's timer: the job goes back to the front of its host's queue. */
static void retry_due(void *arg)
{
    job_t *j = arg;
    tot.delayed--;
    enqueue(j, true);
    wake();
}

static void *attempt_task(void *arg)
{
    job_t *j = arg;
    if (j->attempts == 0)
        j->t0 = now();
    double delay;
    attempt_t r = transfer_attempt(j, &delay);
    j->t1 = now();
    tot.running--;
    j->host->inflight--;
    asyncio_decref(j->task); /* the loop holds the task until it returns */
    j->task = NULL;
    switch (r) {
    case ATTEMPT_OK:
        job_final(j, JOB_OK);
        break;
    case ATTEMPT_FAILED:
        job_final(j, JOB_FAILED);
        break;
    case ATTEMPT_CANCELLED:
        job_final(j, JOB_CANCELLED);
        break;
    case ATTEMPT_RETRY:
        if (stopping) { /* no new attempt: this failure is the last word */
            job_final(j, JOB_FAILED);
            break;
        }
        progress_retry(j, delay);
        tot.retries++;
        if (j->attempts == 1)
            tot.retried++;
        j->state = JOB_DELAYED;
        tot.delayed++;
        j->timer = asyncio_call_later(NULL, delay, retry_due, j);
        if (!asyncio_handle_valid(j->timer)) { /* MemoryError: now, then */
            asyncio_error_clear();
            retry_due(j);
        }
        break;
    }
    make_ready(j->host);
    wake();
    return NULL;
}

static void start(job_t *j)
{
    j->state = JOB_RUNNING;
    tot.running++;
    if (!(j->task = asyncio_create_task(attempt_task, j))) {
        tot.running--;
        j->host->inflight--;
        free(j->error);
        j->error = xstrdup(asyncio_error() ? asyncio_error()->message : "cannot start a task");
        j->kind = report_kind("MemoryError");
        asyncio_error_clear();
        job_final(j, JOB_FAILED);
    }
}

/* No attempt starts after this; with cancel, those in flight are
 * cancelled too.  Retries waiting are dropped either way. */
static void stop(const char *why, bool cancel)
{
    stopping = true;
    for (size_t i = 0; i < njobs; i++) {
        job_t *j = &jobs[i];
        if (j->state == JOB_RUNNING && cancel && j->task) {
            asyncio_cancel(j->task, NULL);
        } else if (j->state == JOB_DELAYED) {
            asyncio_handle_cancel(j->timer);
            tot.delayed--;
            char *msg = xmalloc(strlen(why) + strlen(j->error ? j->error : "") + 64);
            sprintf(msg, "%s while waiting to retry (after %s)", why,
                    j->error ? j->error : "a failure");
            free(j->error);
            j->error = msg;
            job_final(j, JOB_CANCELLED);
        }
    }
    wake();
}

void run_stop_starting(const char *why)
{
    if (stopping)
        return;
    tot.disk_full = true;
    progress_line(PROG ": %s: no new transfers", why);
    stop(why, false);
}

static void on_signal(void *arg)
{
    int sig = (int)(intptr_t)arg;
    /* The default action is back for the next one: a second Ctrl-C ends
     * the process at once, whatever the run is doing. */
    asyncio_remove_signal_handler(NULL, SIGINT);
    asyncio_remove_signal_handler(NULL, SIGTERM);
    if (tot.stop_signal)
        return;
    tot.stop_signal = sig;
    stop("interrupted", true);
}

static int session_open(void)
{
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.timeout = cfg.max_time;
    o.connect_timeout = cfg.connect_timeout;
    /* --max-redirs 0 follows none: the 3xx is the response. */
    o.follow_redirects = cfg.follow && cfg.max_redirs != 0;
    o.max_redirects = cfg.max_redirs;
    o.headers = cfg.headers;
    o.http_version = cfg.http_version;
    o.insecure = cfg.insecure;
    o.ca_file = cfg.cacert;
    o.proxy = cfg.proxy;
    char agent[64];
    snprintf(agent, sizeof agent, PROG "/%s", FETCH_VERSION);
    o.user_agent = cfg.user_agent ? cfg.user_agent : agent;
    session = asyncio_http_session_new(&o);
    return session ? 0 : -1;
}

static void *run(void *arg)
{
    (void)arg;
    if (session_open() < 0)
        return NULL; /* raised: main says it */
    if (asyncio_add_signal_handler(NULL, SIGINT, on_signal, (void *)(intptr_t)SIGINT) < 0 ||
        asyncio_add_signal_handler(NULL, SIGTERM, on_signal, (void *)(intptr_t)SIGTERM) < 0)
        asyncio_error_clear(); /* then the signals keep their default action */
    for (size_t i = 0; i < njobs; i++) {
        jobs[i].host = host_of(jobs[i].url);
        enqueue(&jobs[i], false);
    }
    tot.t0 = now();
    progress_start();
    for (;;) {
        job_t *j;
        while (!stopping && tot.running < (size_t)cfg.jobs && (j = take()))
            start(j);
        if (tot.running == 0 && tot.delayed == 0 && (stopping || !ready_head))
            break;
        if (!(wakeup = asyncio_future_new()))
            break; /* MemoryError: main says it */
        int rc = asyncio_await(wakeup, NULL);
        asyncio_decref(wakeup);
        wakeup = NULL;
        if (rc < 0) { /* cancelled from outside: end as for Ctrl-C */
            while (asyncio_error())
                asyncio_error_clear();
            stop("cancelled", true);
        }
    }
    double elapsed = now() - tot.t0;
    progress_stop();
    asyncio_remove_signal_handler(NULL, SIGINT);
    asyncio_remove_signal_handler(NULL, SIGTERM);
    asyncio_http_session_free(session);
    session = NULL;
    if (!cfg.quiet)
        report_summary(elapsed);
    return NULL;
}

int main(int argc, char **argv)
{
    /* A file-size limit (ulimit -f) fails the write with EFBIG, reported
     * for its URL, instead of killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    /* Each transfer may hold a socket and a file. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srand48((long)time(NULL) ^ (long)getpid());
    options_parse(argc, argv);

    int rc = asyncio_run(run, NULL, NULL);
    int json_rc = report_close_json();
    if (rc < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, PROG ": %s\n", e ? text : asyncio_strerror(rc));
        return 1;
    }
    if (tot.stop_signal)
        return 128 + tot.stop_signal;
    return tot.ok == njobs && json_rc == 0 ? 0 : 1;
}
