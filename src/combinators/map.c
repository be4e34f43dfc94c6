/*
 * asyncio_map: `await fn(arg)` for every argument with at most `limit`
 * running at once, results in argument order: the Semaphore + gather
 * program, without its bookkeeping and without its cost.
 *
 * Python's shape makes a task per argument, each waiting on the semaphore;
 * here `limit` worker tasks take the next argument when they finish one,
 * so N arguments cost `limit` tasks and no semaphore.  Arguments start in
 * order, as the semaphore's FIFO waiters would.
 *
 * Failures: with ASYNCIO_RETURN_EXCEPTIONS a failed call leaves NULL in
 * its result (and its error in errors[i] for asyncio_map_ex) and the others
 * go on.  Without it the first failure stops the map: no argument starts
 * after it, the calls in flight are cancelled and waited for, and the
 * failure is raised (TaskGroup's rule; gather would let them run on).
 *
 * Cancelling the caller cancels the workers and starts nothing more; the
 * caller waits until every worker has ended (they use its arrays) and
 * returns with its CancelledError.  The state lives on the heap, held by
 * the caller and each worker: a caller unwound at loop close leaves before
 * its workers, and lets go of its arrays first.
 */
#include "core/core.h"

#include <string.h>

typedef struct map_state {
    asyncio_coro_fn fn;
    void *const *args;
    void **results;           /* may be NULL */
    asyncio_error_t **errors; /* may be NULL (asyncio_map_ex's) */
    size_t n, next;           /* arguments; the next one to start */
    bool return_exceptions;
    bool stopping;           /* a failure (or the caller) stopped the map */
    asyncio__exc_t *failure; /* the first failure, without the flag */
    asyncio_future_t **workers;
    size_t nworkers;
    size_t refs; /* the caller's and each running worker's */
} map_state_t;

static void state_release(map_state_t *m)
{
    if (--m->refs)
        return;
    asyncio__exc_free(m->failure);
    asyncio__free(m->workers);
    asyncio__free(m);
}

/* Cancels every worker but `self` (NULL: all of them). */
static void stop_workers(map_state_t *m, asyncio_future_t *self)
{
    m->stopping = true;
    for (size_t i = 0; i < m->nworkers; i++)
        if (m->workers[i] != self)
            asyncio_cancel(m->workers[i], NULL);
}

/* One call failed (its error raised in this worker). */
static void call_failed(map_state_t *m, size_t i)
{
    asyncio__exc_t *e = asyncio__exc_settle(asyncio__take_raised());
    if (m->return_exceptions) {
        if (m->errors)
            m->errors[i] = asyncio_error_dup(&e->pub);
        asyncio__exc_free(e);
        return;
    }
    if (m->failure || m->stopping) { /* a cancellation the map itself caused */
        asyncio__exc_free(e);
        return;
    }
    m->failure = e;
    stop_workers(m, asyncio_current_task());
}

static void *worker(void *arg)
{
    map_state_t *m = arg;
    while (!m->stopping && m->next < m->n) {
        size_t i = m->next++;
        void *r = NULL;
        if (asyncio_call(m->fn, m->args[i], &r) < 0) {
            call_failed(m, i);
            continue;
        }
        if (m->results)
            m->results[i] = r;
    }
    return NULL;
}

/* A worker's hold ends with its task, also one cancelled before it ran. */
static void worker_done(asyncio_future_t *w, void *arg)
{
    (void)w;
    state_release(arg);
}

/* Waits until every worker has ended.  A cancellation of the caller
 * meanwhile stops the map and stays raised; the workers' own ends (a
 * worker cancelled before it started) are dropped.  Returns the caller's
 * ASYNCIO_ECANCELLED, or 0. */
static int wait_workers(map_state_t *m, asyncio__task_t *self)
{
    int rc = 0;
    for (size_t i = 0; i < m->nworkers; i++) {
        asyncio_future_t *w = m->workers[i];
        while (!asyncio_done(w) && !self->unwinding) {
            int r = asyncio_await(w, NULL);
            if (r == 0)
                continue;
            bool callers = r == ASYNCIO_ECANCELLED && (!asyncio_done(w) || !asyncio_cancelled(w));
            if (callers && !rc) {
                rc = ASYNCIO_ECANCELLED;
                stop_workers(m, NULL);
            } else {
                asyncio_error_clear();
            }
        }
    }
    return rc;
}

static int check_args(asyncio_coro_fn fn, void *const *args, size_t n)
{
    if (!fn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
    if (!args && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "args is NULL");
    return 0;
}

/* Makes the state and min(limit, n) workers; NULL with MemoryError raised
 * (nothing started). */
static map_state_t *start(asyncio_coro_fn fn, void *const *args, size_t n, size_t limit,
                          void **results, asyncio_error_t **errors, int flags)
{
    size_t k = limit && limit < n ? limit : n;
    map_state_t *m = asyncio__calloc(1, sizeof *m);
    if (!m || !(m->workers = asyncio__calloc(k, sizeof *m->workers))) {
        asyncio__free(m);
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for the map's workers");
        return NULL;
    }
    *m = (map_state_t){.fn = fn,
                       .args = args,
                       .results = results,
                       .errors = errors,
                       .n = n,
                       .return_exceptions = flags & ASYNCIO_RETURN_EXCEPTIONS,
                       .workers = m->workers,
                       .refs = 1};
    for (; m->nworkers < k; m->nworkers++) {
        asyncio_future_t *w = asyncio_create_task(worker, m);
        if (!w)
            break;
        /* A fresh task's first callback is stored inline: cannot fail. */
        asyncio__add_callback(w, worker_done, m);
        m->workers[m->nworkers] = w;
        m->refs++;
    }
    return m;
}

int asyncio_map_ex(asyncio_coro_fn fn, void *const *args, size_t n, size_t limit, void **results,
                   asyncio_error_t **errors, int flags)
{
    if (results && n)
        memset(results, 0, n * sizeof *results);
    if (errors && n)
        memset(errors, 0, n * sizeof *errors);
    int rc = check_args(fn, args, n);
    if (rc)
        return rc;
    asyncio__task_t *self = asyncio__task_or_raise();
    if (!self)
        return ASYNCIO_ERUNTIME;
    if (n == 0)
        return 0;

    /* 1. The workers, as many as may run at once.  Without memory for all
     *    of them, the map does not run: those made are stopped. */
    map_state_t *m = start(fn, args, n, limit, results, errors, flags);
    if (!m)
        return ASYNCIO_ENOMEM;
    size_t wanted = limit && limit < n ? limit : n;
    if (m->nworkers < wanted) {
        rc = asyncio_error()->code; /* MemoryError, raised */
        stop_workers(m, NULL);
    }

    /* 2. Every worker ends, whatever happens to the caller. */
    int wrc = wait_workers(m, self);
    for (size_t i = 0; i < m->nworkers; i++)
        asyncio_decref(m->workers[i]);

    /* 3. The outcome: the caller's cancellation, else the first failure. */
    if (wrc) {
        rc = wrc;
    } else if (!rc && m->failure) {
        rc = m->failure->pub.code;
        asyncio__raise_exc(m->failure);
        m->failure = NULL;
    }
    if (rc && results)
        memset(results, 0, n * sizeof *results);
    if (rc && errors)
        for (size_t i = 0; i < n; i++) {
            asyncio_error_free(errors[i]);
            errors[i] = NULL;
        }
    /* Workers still running (the caller is unwound at loop close) must not
     * touch its arrays. */
    m->results = NULL;
    m->errors = NULL;
    m->stopping = true;
    state_release(m);
    return rc;
}

int asyncio_map(asyncio_coro_fn fn, void *const *args, size_t n, size_t limit, void **results,
                int flags)
{
    return asyncio_map_ex(fn, args, n, limit, results, NULL, flags);
}
