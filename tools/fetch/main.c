/*
 * casyncio-fetch: fetches many URLs at once.
 *
 *   casyncio-fetch [OPTIONS] [URL...]       (options.c has them all)
 *
 * Shards.  The URLs are split among a few shards, each run by a thread of
 * its own with its own loop, HTTP session and share of -j (the library's
 * scale-out: one loop per core).  Downloading many small files costs a
 * client CPU time per request (curl's work, the system calls of the
 * socket and of the file); one loop per core spreads it.  Without
 * --per-host the URLs are dealt round-robin; with it, all the URLs of a
 * host go to one shard, so its limit holds exactly.  --threads sets the
 * count; by default one shard per CPU (at most 4), and fewer when there
 * are few URLs (one per 100) or few slots.  Shard 0 runs on the main
 * thread: it starts the others, handles the signals, draws the bar, waits
 * for the others and prints the summary.
 *
 * In a shard, the run is one task, the scheduler, and one task per
 * attempt.  Jobs wait in per-host FIFO queues; hosts with a job and room
 * under --per-host wait in a ready list, taken round-robin, so one slow
 * host never holds the slots of the others.  The scheduler starts
 * attempts while fewer than the shard's slots are in flight, then sleeps
 * on a future that an attempt ending (or a retry coming due) completes.
 * An attempt that will be retried gives its slot back and waits on a loop
 * timer, not in a task: ten thousand URLs waiting to be retried cost no
 * stacks.
 *
 * What shards share is behind one lock (run_lock): the shards' published
 * counters and loops, the failure kinds, the statuses and JSON records
 * (report.c), the output lines and the bar (progress.c), the names made
 * when one is taken (input.c), the rate budget (transfer.c).  Nothing is
 * locked on the path of a transfer but the line it prints when it ends.
 *
 * Stopping.  The first SIGINT (or SIGTERM) stops the run: no attempt
 * starts after it, those in flight are cancelled (each removes its partial
 * file, or keeps it with -c), retries waiting are dropped, the summary is
 * printed and the exit status is 128 + the signal.  Shard 0 tells the
 * other shards through their loops (call_soon_threadsafe).  The handler is
 * removed as it runs, so the signal has its default action again: a
 * second Ctrl-C ends the process at once.  A full disk stops new attempts
 * in every shard too (they would all fail alike), but lets those in
 * flight end.
 *
 * Exit status: 0 when every URL succeeded, 1 when one failed or did not
 * finish, 2 on a usage error (options.c), 128 + N after signal N.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_AUTO_SHARDS 4
#define URLS_PER_SHARD 100

_Thread_local totals_t tot;
double run_t0;

/* ------------------------------------------------------------ shards */

struct host {
    char *key;          /* "scheme://host:port", lower case */
    job_t *head, *tail; /* queued jobs */
    long inflight;      /* its attempts in flight */
    bool ready;         /* on the ready list */
    struct host *next;  /* in the ready list */
    struct host *chain; /* in its hash bucket */
};

#define HOST_BUCKETS 1024

typedef struct shard {
    int id;
    pthread_t thread;
    job_t **jobs; /* its share, in input order */
    size_t njobs, cap;
    long slots; /* its share of -j */
    /* Its run: touched by its own thread only. */
    host_t **buckets;
    host_t *ready_head, *ready_tail;
    asyncio_future_t *wakeup; /* what its scheduler sleeps on */
    bool stopping;
    /* Shared, under run_lock. */
    asyncio_loop_t *loop; /* while it runs: others reach it through it */
    bool ended;
    bool finished; /* reached the finish line */
    totals_t snap; /* its counters as last published (final once ended) */
    char *failure; /* why its run failed, if it did */
} shard_t;

static shard_t *shards;
static int nshards;
static _Thread_local shard_t *self;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ended;       /* shards other than 0 done with their jobs */
static int running = 1; /* shards whose run goes on (threads started) */
static int at_finish;   /* shards at the finish line */
static pthread_cond_t finish = PTHREAD_COND_INITIALIZER;
static const char *stop_why; /* a stop asked for every shard, under lock */
static bool stop_cancel;

void errors_clear(void)
{
    while (asyncio_error())
        asyncio_error_clear();
}

void run_lock(void)
{
    pthread_mutex_lock(&lock);
}

void run_unlock(void)
{
    pthread_mutex_unlock(&lock);
}

void run_publish(void)
{
    self->snap = tot;
}

void run_totals(totals_t *sum)
{
    *sum = (totals_t){0};
    for (int i = 0; i < nshards; i++) {
        const totals_t *t = &shards[i].snap;
        sum->ok += t->ok;
        sum->failed += t->failed;
        sum->cancelled += t->cancelled;
        sum->running += t->running;
        sum->delayed += t->delayed;
        sum->bytes += t->bytes;
        sum->expect += t->expect;
        sum->got += t->got;
        sum->sized += t->sized;
        sum->retries += t->retries;
        sum->retried += t->retried;
        sum->disk_full |= t->disk_full;
    }
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* "scheme://host:port" of a URL, lower case, the scheme's default port
 * made explicit, so that http://h/ and http://H:80/ are one host for
 * --per-host.  A URL curl cannot parse (its transfer fails) is keyed by
 * what comes before its path. */
static void host_key(const char *url, char *key, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool parsed = u && !curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) &&
                  !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
                  !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
                  !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (parsed)
        snprintf(key, cap, "%s://%s:%s", scheme, host, port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    if (parsed) {
        lower(key);
        return;
    }
    const char *p = strstr(url, "://");
    const char *auth = p ? p + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', (size_t)(end - auth));
    if (at)
        auth = at + 1;
    size_t slen = p ? (size_t)(p - url) : 0;
    snprintf(key, cap, "%.*s://%.*s", (int)slen, url, (int)(end - auth), auth);
    lower(key);
}

/* How many shards: --threads, else one per CPU this process may use (at
 * most MAX_AUTO_SHARDS), one per URLS_PER_SHARD URLs, one per slot. */
static int shard_count(void)
{
    long n = cfg.threads;
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n > MAX_AUTO_SHARDS)
            n = MAX_AUTO_SHARDS;
        if (n > (long)(njobs / URLS_PER_SHARD))
            n = (long)(njobs / URLS_PER_SHARD);
    }
    if (n > cfg.jobs)
        n = cfg.jobs;
    if (n > (long)njobs)
        n = (long)njobs;
    return n < 1 ? 1 : (int)n;
}

/* Deals the jobs to the shards: round-robin, or by host with --per-host
 * (then shards left without a job are dropped); the slots of -j are
 * shared among those that remain. */
static void make_shards(void)
{
    nshards = shard_count();
    shards = xcalloc((size_t)nshards, sizeof *shards);
    char key[512];
    for (size_t i = 0; i < njobs; i++) {
        int k = (int)(i % (size_t)nshards);
        if (cfg.per_host && nshards > 1) {
            host_key(jobs[i].url, key, sizeof key);
            k = (int)(name_hash(key) % (uint64_t)nshards);
        }
        shard_t *sh = &shards[k];
        if (sh->njobs == sh->cap) {
            sh->cap = sh->cap ? sh->cap * 2 : 64;
            if (!(sh->jobs = realloc(sh->jobs, sh->cap * sizeof *sh->jobs)))
                fatal("out of memory");
        }
        sh->jobs[sh->njobs++] = &jobs[i];
    }
    int n = 0;
    for (int i = 0; i < nshards; i++)
        if (shards[i].njobs || i == 0)
            shards[n++] = shards[i];
    nshards = n;
    for (int i = 0; i < nshards; i++) {
        shards[i].id = i;
        shards[i].slots = cfg.jobs / nshards + (i < cfg.jobs % nshards);
    }
}

/* ------------------------------------------------------------ hosts */

static host_t *host_of(const char *url)
{
    char key[512];
    host_key(url, key, sizeof key);
    host_t **b = &self->buckets[name_hash(key) % HOST_BUCKETS];
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
    if (self->ready_tail)
        self->ready_tail->next = h;
    else
        self->ready_head = h;
    self->ready_tail = h;
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
    host_t *h = self->ready_head;
    if (!h)
        return NULL;
    self->ready_head = h->next;
    if (!self->ready_head)
        self->ready_tail = NULL;
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

double now(void)
{
    return asyncio_loop_time(NULL);
}

static void wake(void)
{
    if (self->wakeup && !asyncio_done(self->wakeup))
        asyncio_future_set_result(self->wakeup, NULL);
}

/* A job reaches its end: its file kept or removed, counted, reported. */
static void job_final(job_t *j, job_state_t state)
{
    j->state = state;
    if (j->attempts)
        j->t1 = now();
    /* What the line says of the file: only what happened to it. */
    char removal[NAME_MAX_LEN * 2 + 4200] = "", shown[NAME_MAX_LEN * 2 + 4096];
    if (state != JOB_OK && j->path && !(cfg.resume && j->partial)) {
        bool had = files_size(j) > 0, partial = j->partial;
        files_display(j->path, shown, sizeof shown);
        if (files_remove(j) != 0)
            snprintf(removal, sizeof removal, "cannot remove %s: %s", shown, strerror(errno));
        else if (had)
            snprintf(removal, sizeof removal, "%s removed", partial ? "partial file" : "file");
    }
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
        progress_failed(j, removal[0] ? removal : NULL);
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
        if (self->stopping) { /* no new attempt: this failure is the last word */
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
        j->kind = report_kind("out of memory");
        asyncio_error_clear();
        job_final(j, JOB_FAILED);
    }
}

/* No attempt starts in this shard after this; with cancel, those in
 * flight are cancelled too.  Retries waiting are dropped either way. */
static void stop(const char *why, bool cancel)
{
    if (self->stopping && !cancel)
        return;
    self->stopping = true;
    for (size_t i = 0; i < self->njobs; i++) {
        job_t *j = self->jobs[i];
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

/* A stop asked for by another shard, run on this shard's loop. */
static void stop_here(void *arg)
{
    (void)arg;
    const char *why;
    bool cancel;
    run_lock();
    why = stop_why;
    cancel = stop_cancel;
    run_unlock();
    if (why)
        stop(why, cancel);
}

/* Stops every shard: this one now, the others through their loops (one
 * that has not started yet stops as it starts). */
static void stop_all(const char *why, bool cancel)
{
    run_lock();
    if (!stop_why || (cancel && !stop_cancel)) {
        stop_why = why;
        stop_cancel = cancel;
        for (int i = 0; i < nshards; i++)
            if (&shards[i] != self && shards[i].loop)
                asyncio_call_soon_threadsafe(shards[i].loop, stop_here, NULL);
    }
    run_unlock();
    errors_clear(); /* a loop closing meanwhile: it needs no stop */
    stop(why, cancel);
}

void run_stop_starting(const char *why)
{
    if (self->stopping)
        return;
    tot.disk_full = true;
    progress_line(PROG ": %s: no new transfers", why);
    stop_all(why, false);
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
    stop_all("interrupted", true);
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

/* Another shard ended (posted from its thread to shard 0's loop). */
static void shard_ended(void *arg)
{
    (void)arg;
    wake();
}

/* SIGINT and SIGTERM are held back from the start until the handlers are
 * in place: one that came before would otherwise cancel the run before it
 * began (asyncio_run's own SIGINT handling) or end it without a summary. */
static void signals_blocked(bool block)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void *shard_thread(void *arg);

/* Shard 0 starts the others. */
static void start_shards(void)
{
    for (int i = 1; i < nshards; i++) {
        run_lock();
        running++;
        run_unlock();
        if (pthread_create(&shards[i].thread, NULL, shard_thread, &shards[i]) != 0) {
            /* No thread: its jobs are not started. */
            run_lock();
            running--;
            shards[i].ended = true;
            shards[i].failure = xstrdup("cannot start a thread");
            ended++;
            pthread_cond_broadcast(&finish);
            run_unlock();
        }
    }
}

/* Every shard waits here, its work done, until all are: their loops then
 * close together.  (A loop closes its descriptors with a raw system call
 * that ThreadSanitizer does not see; a shard closing its loop while
 * another still opens and closes files would look to it like a race on
 * the reused descriptor numbers.)  The other shards first publish their
 * counters and tell shard 0, whose loop waits for them to be done. */
static void arrive(shard_t *sh)
{
    if (sh->id != 0) {
        sh->snap = tot;
        sh->ended = true;
        sh->loop = NULL; /* nothing is posted to it any more */
        ended++;
        asyncio_call_soon_threadsafe(shards[0].loop, shard_ended, NULL);
    }
    sh->finished = true;
    at_finish++;
    pthread_cond_broadcast(&finish);
}

static void finish_line(void)
{
    run_lock();
    arrive(self);
    while (at_finish < running)
        pthread_cond_wait(&finish, &lock);
    run_unlock();
    errors_clear();
}

/* The scheduler has no future to sleep on (MemoryError).  The attempts in
 * flight use the session: they are cancelled and waited for (by polling,
 * which needs no future) before the session is freed.  The run's end
 * says why it stopped. */
static void out_of_memory(void)
{
    run_lock();
    if (!self->failure)
        self->failure = xstrdup("out of memory: the run stopped");
    run_unlock();
    stop_all("out of memory", true);
    while (tot.running > 0)
        if (asyncio_sleep(0.01) < 0)
            errors_clear();
}

/* One shard's run, in its thread, as its loop's main task. */
static void *shard_run(void *arg)
{
    self = arg;
    self->buckets = xcalloc(HOST_BUCKETS, sizeof *self->buckets);
    if (self->id == 0) {
        if (asyncio_add_signal_handler(NULL, SIGINT, on_signal, (void *)(intptr_t)SIGINT) < 0 ||
            asyncio_add_signal_handler(NULL, SIGTERM, on_signal, (void *)(intptr_t)SIGTERM) < 0)
            asyncio_error_clear(); /* then the signals keep their default action */
        signals_blocked(false);
        run_lock();
        self->loop = asyncio_get_running_loop();
        run_unlock();
        progress_start(); /* before the other threads: they read tty */
        start_shards();
    } else {
        run_lock();
        self->loop = asyncio_get_running_loop();
        const char *why = stop_why;
        bool cancel = stop_cancel;
        run_unlock();
        if (why) /* stopped before it started */
            stop(why, cancel);
        progress_start_publishing();
    }
    if (session_open() < 0) { /* its jobs are not started */
        char text[512];
        asyncio_error_format(asyncio_error(), text, sizeof text);
        errors_clear();
        run_lock();
        self->failure = xstrdup(text);
        run_unlock();
    }
    for (size_t i = 0; session && i < self->njobs; i++) {
        job_t *j = self->jobs[i];
        j->host = host_of(j->url);
        enqueue(j, false);
    }
    for (;;) {
        job_t *j;
        while (!self->stopping && tot.running < (size_t)self->slots && (j = take()))
            start(j);
        bool mine_done =
            tot.running == 0 && tot.delayed == 0 && (self->stopping || !self->ready_head);
        run_lock();
        bool others_done = self->id != 0 || ended == nshards - 1;
        run_unlock();
        if (mine_done && others_done)
            break;
        if (!(self->wakeup = asyncio_future_new())) {
            out_of_memory();
            break;
        }
        int rc = asyncio_await(self->wakeup, NULL);
        asyncio_decref(self->wakeup);
        self->wakeup = NULL;
        if (rc < 0) { /* cancelled from outside: end as for Ctrl-C */
            errors_clear();
            stop_all("cancelled", true);
        }
    }
    asyncio_http_session_free(session);
    session = NULL;
    if (self->id == 0) {
        progress_stop();
        asyncio_remove_signal_handler(NULL, SIGINT);
        asyncio_remove_signal_handler(NULL, SIGTERM);
    } else {
        progress_stop_publishing();
    }
    finish_line();
    return NULL;
}

/* The end of a shard's run, in its thread: its counters and failure
 * published (main sums them once every thread is joined). */
static void shard_end(shard_t *sh, int rc)
{
    char text[512] = "";
    if (rc < 0) {
        const asyncio_error_t *e = asyncio_error();
        asyncio_error_format(e, text, sizeof text);
        if (!e)
            snprintf(text, sizeof text, "%s", asyncio_strerror(rc));
        errors_clear();
    }
    run_lock();
    if (!sh->finished) /* its run failed before the end: the others go on */
        arrive(sh);
    sh->loop = NULL;
    sh->snap = tot;
    if (rc < 0 && !sh->failure)
        sh->failure = xstrdup(text);
    run_unlock();
    errors_clear();
}

static void *shard_thread(void *arg)
{
    shard_t *sh = arg;
    int rc = asyncio_run(shard_run, sh, NULL);
    shard_end(sh, rc);
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
    options_parse(argc, argv);
    make_shards();
    signals_blocked(true);

    run_t0 = asyncio_loop_time(NULL);
    int rc = asyncio_run(shard_run, &shards[0], NULL);
    shard_end(&shards[0], rc);
    for (int i = 1; i < nshards; i++)
        if (shards[i].thread)
            pthread_join(shards[i].thread, NULL);
    double elapsed = asyncio_loop_time(NULL) - run_t0;

    /* The counters of every shard; jobs a shard never ran (it failed to
     * start) are "not started". */
    int stop_signal = tot.stop_signal;
    run_totals(&tot);
    tot.stop_signal = stop_signal;
    int json_rc = report_close_json();
    bool failed = false;
    for (int i = 0; i < nshards; i++)
        if (shards[i].failure) {
            say_line(PROG ": %s", shards[i].failure);
            failed = true;
        }
    if (!cfg.quiet && !failed)
        report_summary(elapsed);
    if (failed)
        return 1;
    if (tot.stop_signal)
        return 128 + tot.stop_signal;
    return tot.ok == njobs && json_rc == 0 ? 0 : 1;
}
