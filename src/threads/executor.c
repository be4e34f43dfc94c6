/*
 * The thread-pool executor: concurrent.futures.ThreadPoolExecutor with
 * loop.run_in_executor and asyncio.to_thread on top.
 *
 * Our own pool, not libuv's (file and DNS requests need that one): a FIFO
 * of jobs under one mutex, worker threads started lazily as jobs arrive (a
 * new one only when no idle worker can take the job) up to max_workers.
 *
 * A job belongs to the loop of its future.  The loop thread makes it and
 * queues it; a worker takes it, runs it, stores the outcome in it and
 * posts it to that loop (asyncio__post, the job's own inbox item: no
 * allocation, and completions arriving together cost one wake-up); the
 * loop thread then settles the future and frees the job.  So a job is
 * freed on its loop's thread, except when its loop closed first (below).
 *
 * Who touches what: job->state and the queue and in-flight lists change
 * only under ex->lock.  The outcome (result, exc) is written by the worker
 * before the post and read by the loop after it: the inbox lock orders
 * them.  The future is touched on its loop's thread only.
 *
 * Loop close: jobs of a loop that closes while they wait or run are
 * orphaned (their futures released on the closing thread; the worker
 * drops their outcome).  A worker posts while holding ex->lock, and a post
 * fails only once the loop is unregistered, which happens before the close
 * hook (asyncio__executor_shutdown_default) scans the executors: a job
 * whose post failed waits in the in-flight list for that scan, so every
 * job is released exactly once.  Lock order: executor registry, then
 * ex->lock, then the loop registry and inbox (inside asyncio__post).
 *
 * Lifetime: an executor is counted by its user handle, each loop using it
 * as default, and each job not yet freed; its memory goes when the count
 * is zero and no worker thread is left (workers are detached; shutdown
 * with wait waits for them on a condition variable).
 */
#include "threads/threads.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXECUTOR_MAGIC 0xE8EC0001u

enum job_state {
    JOB_QUEUED,    /* in ex->queue */
    JOB_RUNNING,   /* a worker runs it; in ex->inflight */
    JOB_DONE,      /* outcome posted to its loop */
    JOB_CANCELLED, /* taken off the queue by shutdown(cancel_futures): posted */
    JOB_UNPOSTED,  /* its loop closed before the post: in ex->inflight for the close hook */
    JOB_ORPHANED,  /* its loop closed: the worker drops the outcome and frees it */
};

struct asyncio_executor {
    uint32_t magic;
    bool loop_made;         /* a loop's lazily made default: no user handle */
    atomic_bool user_freed; /* asyncio_executor_free was called */
    bool shutdown;          /* no new jobs */
    bool free_when_idle;    /* count reached zero with workers alive: the last one frees */
    atomic_size_t refs;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* workers wait here for jobs */
    pthread_cond_t stopped;   /* shutdown(wait) waits here for nthreads == 0 */
    asyncio__list_t queue;    /* jobs not started, FIFO */
    asyncio__list_t inflight; /* running jobs, and jobs whose post failed */
    size_t max_workers, nthreads, nwaiting, nsignalled;
    struct exit_waiter *exit_waiters; /* loops running while they wait for the workers */
};

typedef struct job {
    asyncio__inbox_item_t item; /* posted to the loop with the outcome */
    asyncio__list_t link;       /* in ex->queue or ex->inflight */
    asyncio_executor_t *ex;
    asyncio_loop_t *loop;
    asyncio_future_t *fut; /* a reference, until the job is freed */
    asyncio_blocking_fn fn;
    void *arg;
    void (*free_result)(void *);
    void *result;
    asyncio__exc_t *exc;
    uint8_t state;
    bool in_context;          /* to_thread: fn runs in a copy of ctxmap */
    asyncio__cnode_t *ctxmap; /* the caller's context (owned), if in_context */
} job_t;

/* A loop waiting (while it runs) for an executor's workers to be gone:
 * the last worker posts it. */
typedef struct exit_waiter {
    asyncio__inbox_item_t item;
    struct exit_waiter *next;
    asyncio_future_t *fut;
} exit_waiter_t;

/* The worker thread's executor, to refuse a shutdown(wait) from a job. */
static _Thread_local asyncio_executor_t *current_executor;

/* ------------------------------------------------------------ registry */

/* Every executor whose memory is alive: to refuse freed pointers and for
 * the loop-close scan. */
static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static asyncio_executor_t **live;
static size_t live_len, live_cap;

static bool registered(asyncio_executor_t *ex)
{
    for (size_t i = 0; i < live_len; i++)
        if (live[i] == ex)
            return true;
    return false;
}

static void destroy(asyncio_executor_t *ex)
{
    pthread_rwlock_wrlock(&registry_lock);
    for (size_t i = 0; i < live_len; i++) {
        if (live[i] == ex) {
            live[i] = live[--live_len];
            break;
        }
    }
    if (live_len == 0) {
        asyncio__free(live); /* with the last executor: the allocator may change */
        live = NULL;
        live_cap = 0;
    }
    pthread_rwlock_unlock(&registry_lock);
    ex->magic = 0;
    pthread_mutex_destroy(&ex->lock);
    pthread_cond_destroy(&ex->work);
    pthread_cond_destroy(&ex->stopped);
    asyncio__free(ex);
}

static void ex_ref(asyncio_executor_t *ex)
{
    atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
}

/* Drops one count; the memory goes with the last one once no worker is
 * left (else the last worker frees it). */
static void ex_release(asyncio_executor_t *ex)
{
    if (atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&ex->lock);
    bool now = ex->nthreads == 0;
    if (!now)
        ex->free_when_idle = true;
    pthread_mutex_unlock(&ex->lock);
    if (now)
        destroy(ex);
}

size_t asyncio_executor_default_workers(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    return cpus + 4 < 32 ? (size_t)cpus + 4 : 32;
}

static asyncio_executor_t *executor_new(size_t max_workers, bool loop_made)
{
    asyncio__threads_hook_install();
    asyncio_executor_t *ex = asyncio__calloc(1, sizeof *ex);
    if (!ex)
        goto nomem;
    /* Complete before it is registered: other threads walk the registry. */
    ex->magic = EXECUTOR_MAGIC;
    ex->loop_made = loop_made;
    atomic_init(&ex->refs, 1);
    ex->max_workers = max_workers;
    pthread_mutex_init(&ex->lock, NULL);
    pthread_cond_init(&ex->work, NULL);
    pthread_cond_init(&ex->stopped, NULL);
    asyncio__list_init(&ex->queue);
    asyncio__list_init(&ex->inflight);
    pthread_rwlock_wrlock(&registry_lock);
    if (live_len == live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 8;
        asyncio_executor_t **grown = asyncio__realloc(live, cap * sizeof *grown);
        if (!grown) {
            pthread_rwlock_unlock(&registry_lock);
            pthread_mutex_destroy(&ex->lock);
            pthread_cond_destroy(&ex->work);
            pthread_cond_destroy(&ex->stopped);
            asyncio__free(ex);
            goto nomem;
        }
        live = grown;
        live_cap = cap;
    }
    live[live_len++] = ex;
    pthread_rwlock_unlock(&registry_lock);
    return ex;
nomem:
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an executor");
    return NULL;
}

asyncio_executor_t *asyncio_executor_new(size_t max_workers)
{
    if (max_workers == 0) {
        asyncio__raise_code(ASYNCIO_EVALUE, "max_workers must be greater than 0");
        return NULL;
    }
    return executor_new(max_workers, false);
}

/* The executor behind a user's handle, or NULL after raising. */
static asyncio_executor_t *checked(asyncio_executor_t *ex)
{
    if (!ex) {
        asyncio__raise_code(ASYNCIO_EVALUE, "executor is NULL");
        return NULL;
    }
    pthread_rwlock_rdlock(&registry_lock);
    bool ok = registered(ex) && ex->magic == EXECUTOR_MAGIC;
    pthread_rwlock_unlock(&registry_lock);
    if (!ok || atomic_load(&ex->user_freed) || ex->loop_made) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not a live executor (freed, or never one)");
        return NULL;
    }
    return ex;
}

/* ------------------------------------------------------------ jobs */

static void job_release_outcome(job_t *j)
{
    if (j->result && j->free_result && !j->exc)
        j->free_result(j->result);
    j->result = NULL;
    asyncio__exc_free(j->exc);
    j->exc = NULL;
}

/* A job's memory, on whichever thread lets it go last. */
static void job_dispose(job_t *j)
{
    if (j->in_context)
        asyncio__cnode_decref(j->ctxmap);
    asyncio__free(j);
}

static void job_free(job_t *j)
{
    asyncio_executor_t *ex = j->ex;
    job_dispose(j);
    ex_release(ex);
}

/* On the loop thread: the outcome of a job arrives (or the loop closes). */
static void job_deliver(asyncio__ready_t *r)
{
    job_t *j = asyncio__container_of(r, job_t, item.ready);
    asyncio_future_t *fut = j->fut;
    if (j->loop->closed || fut->state != ASYNCIO__PENDING) {
        /* Cancelled while it ran: nobody will see the result. */
        job_release_outcome(j);
    } else if (j->state == JOB_CANCELLED) {
        asyncio__future_cancel(fut, NULL);
    } else {
        asyncio__future_finish(fut, j->result, j->exc);
        j->exc = NULL;
    }
    fut->impl = NULL;
    asyncio_decref(fut);
    job_free(j);
}

/* Posts a finished (or cancelled) job; called with ex->lock held.  A job
 * whose loop is gone waits in the in-flight list for the close hook. */
static void job_post(asyncio_executor_t *ex, job_t *j)
{
    j->item.ready.run = job_deliver;
    if (asyncio__post(j->loop, &j->item) != 0) {
        j->state = JOB_UNPOSTED;
        asyncio__list_insert(&ex->inflight, &j->link);
    }
}

/* With ex->lock held, by a worker or a holder of a count: frees a job
 * whose loop closed.  The count it held cannot be the last one that keeps
 * the memory (a worker is alive, or the caller holds one); if it was the
 * last count, the last worker frees the executor. */
static void drop_orphan(asyncio_executor_t *ex, job_t *j)
{
    job_release_outcome(j);
    job_dispose(j);
    if (atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) == 1)
        ex->free_when_idle = true;
}

static void post_exit_waiters(asyncio_executor_t *ex)
{
    exit_waiter_t *w = ex->exit_waiters;
    ex->exit_waiters = NULL;
    for (exit_waiter_t *next; w; w = next) {
        next = w->next;
        (void)asyncio__post(w->fut->loop, &w->item); /* a closed loop waits for no one */
    }
}

static void *worker_main(void *arg)
{
    asyncio_executor_t *ex = arg;
    current_executor = ex;
    pthread_mutex_lock(&ex->lock);
    for (;;) {
        while (asyncio__list_empty(&ex->queue) && !ex->shutdown) {
            ex->nwaiting++;
            pthread_cond_wait(&ex->work, &ex->lock);
            ex->nwaiting--;
            if (ex->nsignalled)
                ex->nsignalled--;
        }
        if (asyncio__list_empty(&ex->queue))
            break; /* shut down and nothing left */
        job_t *j = asyncio__container_of(ex->queue.next, job_t, link);
        asyncio__list_remove(&j->link);
        if (j->state == JOB_QUEUED)
            j->state = JOB_RUNNING; /* not if its loop closed meanwhile */
        asyncio__list_insert(&ex->inflight, &j->link);
        pthread_mutex_unlock(&ex->lock);

        /* Each job starts with a clean indicator; what it leaves raised is
         * its exception. */
        asyncio__errstate_clear(&asyncio__tls.err);
        void *result = j->in_context ? asyncio__context_call_blocking(j->ctxmap, j->fn, j->arg)
                                     : j->fn(j->arg);
        asyncio__exc_t *exc = asyncio__exc_settle(asyncio__tls.err.raised);
        asyncio__tls.err.raised = NULL;
        asyncio__errstate_clear(&asyncio__tls.err);

        pthread_mutex_lock(&ex->lock);
        asyncio__list_remove(&j->link);
        j->result = exc ? NULL : result; /* a failed job's return value is not a result */
        j->exc = exc;
        if (j->state == JOB_ORPHANED) {
            drop_orphan(ex, j);
        } else {
            j->state = JOB_DONE;
            job_post(ex, j);
        }
    }
    ex->nthreads--;
    bool last = ex->nthreads == 0;
    bool free_now = last && ex->free_when_idle;
    if (last) {
        post_exit_waiters(ex);
        pthread_cond_broadcast(&ex->stopped);
    }
    pthread_mutex_unlock(&ex->lock);
    current_executor = NULL;
    if (free_now)
        destroy(ex);
    return NULL;
}

/* With ex->lock held: wakes an idle worker for a new job, or starts one. */
static int adjust_workers(asyncio_executor_t *ex)
{
    if (ex->nwaiting > ex->nsignalled) {
        ex->nsignalled++;
        pthread_cond_signal(&ex->work);
        return 0;
    }
    if (ex->nthreads >= ex->max_workers)
        return 0; /* a busy worker takes it */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Workers take no signals: they are the application's threads'. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int err = pthread_create(&tid, &attr, worker_main, ex);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err)
        return ex->nthreads ? 0 : -err; /* the workers there take it */
    ex->nthreads++;
    return 0;
}

static bool job_cancel(asyncio_future_t *fut, const char *msg);
static void job_future_free(asyncio_future_t *fut)
{
    (void)fut;
}
/* What a task awaiting a job waits on, for task dumps: its function. */
static void job_describe(asyncio_future_t *fut, char *buf, size_t len)
{
    job_t *j = fut->impl;
    char name[96];
    if (!j) {
        snprintf(buf, len, "<executor job>");
        return;
    }
    pthread_mutex_lock(&j->ex->lock);
    const char *state = j->state == JOB_QUEUED ? "queued" : "running";
    pthread_mutex_unlock(&j->ex->lock);
    snprintf(buf, len, "<%s(%s) %s>", j->in_context ? "to_thread" : "run_in_executor",
             asyncio__function_name((const void *)(uintptr_t)j->fn, name, sizeof name), state);
}

static const asyncio__future_ops_t job_ops = {job_cancel, job_future_free, NULL, job_describe};

/* future.cancel(): a job not started is taken off the queue and never
 * runs; one running goes on, its result for free_result. */
static bool job_cancel(asyncio_future_t *fut, const char *msg)
{
    if (fut->state != ASYNCIO__PENDING)
        return false;
    job_t *j = fut->impl;
    bool dequeued = false;
    if (j) {
        pthread_mutex_lock(&j->ex->lock);
        if (j->state == JOB_QUEUED) {
            asyncio__list_remove(&j->link);
            dequeued = true;
        }
        pthread_mutex_unlock(&j->ex->lock);
    }
    asyncio__future_cancel(fut, msg);
    if (dequeued) {
        fut->impl = NULL;
        j->fut = NULL;
        job_free(j);
        asyncio_decref(fut); /* the job's reference; the caller holds one */
    }
    return true;
}

static asyncio_future_t *submit(asyncio_loop_t *loop, asyncio_executor_t *ex,
                                asyncio_blocking_fn fn, void *arg, void (*free_result)(void *),
                                bool in_context)
{
    job_t *j = asyncio__malloc(sizeof *j);
    asyncio_future_t *fut = j ? asyncio__future_new(loop) : NULL;
    if (!fut) {
        asyncio__free(j);
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a job");
        return NULL;
    }
    j->ex = ex;
    j->loop = loop;
    j->fut = fut;
    j->fn = fn;
    j->arg = arg;
    j->free_result = free_result;
    j->result = NULL;
    j->exc = NULL;
    j->state = JOB_QUEUED;
    /* to_thread: Python's functools.partial(copy_context().run, fn). */
    j->in_context = in_context;
    j->ctxmap = in_context ? asyncio__context_capture() : NULL;
    fut->ops = &job_ops;
    fut->impl = j;
    ex_ref(ex);
    pthread_mutex_lock(&ex->lock);
    int rc = ex->shutdown ? ASYNCIO_ERUNTIME : 0;
    if (!rc) {
        asyncio__list_insert(&ex->queue, &j->link);
        if ((rc = adjust_workers(ex)) != 0)
            asyncio__list_remove(&j->link);
    }
    pthread_mutex_unlock(&ex->lock);
    if (rc) {
        fut->impl = NULL;
        fut->ops = NULL;
        job_dispose(j);
        ex_release(ex);
        asyncio_decref(fut);
        if (rc == ASYNCIO_ERUNTIME)
            asyncio__raise_code(rc, "cannot schedule new futures after shutdown");
        else
            asyncio_raise_uv(rc, NULL);
        return NULL;
    }
    asyncio_incref(fut); /* the job's reference */
    return fut;
}

static asyncio_future_t *run_in_executor(asyncio_executor_t *executor, asyncio_blocking_fn fn,
                                         void *arg, void (*free_result)(void *), bool in_context)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    if (!fn) {
        asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
        return NULL;
    }
    asyncio_executor_t *ex;
    if (executor) {
        if (!(ex = checked(executor)))
            return NULL;
    } else if (!(ex = loop->executor)) {
        ex = executor_new(asyncio_executor_default_workers(), true);
        if (!ex)
            return NULL;
        loop->executor = ex; /* the loop's count is the one it was made with */
    }
    return submit(loop, ex, fn, arg, free_result, in_context);
}

asyncio_future_t *asyncio_run_in_executor_ex(asyncio_executor_t *executor, asyncio_blocking_fn fn,
                                             void *arg, void (*free_result)(void *))
{
    /* loop.run_in_executor: the worker thread's own context, as in Python. */
    return run_in_executor(executor, fn, arg, free_result, false);
}

asyncio_future_t *asyncio_run_in_executor(asyncio_executor_t *executor, asyncio_blocking_fn fn,
                                          void *arg)
{
    return asyncio_run_in_executor_ex(executor, fn, arg, NULL);
}

int asyncio_to_thread_ex(asyncio_blocking_fn fn, void *arg, void (*free_result)(void *),
                         void **result)
{
    if (!asyncio__task_or_raise())
        return asyncio__out_fail(ASYNCIO_ERUNTIME, result);
    asyncio_future_t *fut = run_in_executor(NULL, fn, arg, free_result, true);
    if (!fut)
        return asyncio__out_fail(asyncio_error()->code, result);
    int rc = asyncio_await(fut, result);
    asyncio_decref(fut);
    return rc;
}

int asyncio_to_thread(asyncio_blocking_fn fn, void *arg, void **result)
{
    return asyncio_to_thread_ex(fn, arg, NULL, result);
}

/* ------------------------------------------------------------ shutdown */

/* With ex->lock held: no new jobs; with cancel_futures the queued ones are
 * cancelled (posted as such to their loops).  Idle workers wake to exit. */
static void begin_shutdown(asyncio_executor_t *ex, bool cancel_futures)
{
    ex->shutdown = true;
    if (cancel_futures) {
        while (!asyncio__list_empty(&ex->queue)) {
            job_t *j = asyncio__container_of(ex->queue.next, job_t, link);
            asyncio__list_remove(&j->link);
            if (j->state == JOB_ORPHANED) {
                drop_orphan(ex, j);
                continue;
            }
            j->state = JOB_CANCELLED;
            job_post(ex, j);
        }
    }
    pthread_cond_broadcast(&ex->work);
}

static void wait_stopped(asyncio_executor_t *ex)
{
    if (current_executor == ex)
        return; /* a job shutting down its own pool would wait for itself */
    while (ex->nthreads)
        pthread_cond_wait(&ex->stopped, &ex->lock);
}

void asyncio_executor_shutdown(asyncio_executor_t *executor, bool wait, bool cancel_futures)
{
    if (!checked(executor))
        return;
    /* Held for the call: another thread may free it while this one waits. */
    pthread_rwlock_rdlock(&registry_lock);
    bool live_ex = registered(executor);
    if (live_ex)
        ex_ref(executor);
    pthread_rwlock_unlock(&registry_lock);
    if (!live_ex) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not a live executor (freed, or never one)");
        return;
    }
    pthread_mutex_lock(&executor->lock);
    begin_shutdown(executor, cancel_futures);
    if (wait)
        wait_stopped(executor);
    pthread_mutex_unlock(&executor->lock);
    ex_release(executor);
}

void asyncio_executor_free(asyncio_executor_t *executor)
{
    if (!executor)
        return;
    asyncio_executor_t *ex = checked(executor);
    if (!ex)
        return;
    pthread_mutex_lock(&ex->lock);
    atomic_store(&ex->user_freed, true);
    begin_shutdown(ex, false);
    wait_stopped(ex);
    pthread_mutex_unlock(&ex->lock);
    ex_release(ex);
}

void asyncio_loop_set_default_executor(asyncio_loop_t *loop, asyncio_executor_t *executor)
{
    if (!asyncio__loop_live(loop) || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        return;
    }
    asyncio_executor_t *ex = NULL;
    if (executor && !(ex = checked(executor)))
        return;
    asyncio_executor_t *old = loop->executor;
    if (ex == old)
        return;
    if (ex)
        ex_ref(ex);
    loop->executor = ex;
    if (old) {
        if (old->loop_made) {
            /* Nobody else can reach it: it finishes its jobs and goes. */
            pthread_mutex_lock(&old->lock);
            begin_shutdown(old, false);
            pthread_mutex_unlock(&old->lock);
        }
        ex_release(old);
    }
}

static void exit_waiter_run(asyncio__ready_t *r)
{
    exit_waiter_t *w = asyncio__container_of(r, exit_waiter_t, item.ready);
    if (w->fut->state == ASYNCIO__PENDING && !w->fut->loop->closed)
        asyncio__future_finish(w->fut, NULL, NULL);
    asyncio_decref(w->fut);
    asyncio__free(w);
}

/* Loop close: the loop's jobs in every executor are orphaned (their
 * futures released here, on the closing thread); those whose post failed
 * are freed. */
static void orphan_jobs(asyncio_loop_t *loop)
{
    asyncio__list_t dead;
    asyncio__list_init(&dead);
    pthread_rwlock_rdlock(&registry_lock);
    for (size_t i = 0; i < live_len; i++) {
        asyncio_executor_t *ex = live[i];
        pthread_mutex_lock(&ex->lock);
        asyncio__list_t *lists[2] = {&ex->queue, &ex->inflight};
        for (int k = 0; k < 2; k++) {
            for (asyncio__list_t *l = lists[k]->next, *next; l != lists[k]; l = next) {
                next = l->next;
                job_t *j = asyncio__container_of(l, job_t, link);
                if (j->loop != loop)
                    continue;
                if (j->state == JOB_UNPOSTED) {
                    asyncio__list_remove(&j->link);
                    asyncio__list_insert(&dead, &j->link);
                } else if (j->fut) {
                    /* Queued or running: it still runs, its outcome is dropped. */
                    j->state = JOB_ORPHANED;
                    j->fut->impl = NULL;
                    asyncio_decref(j->fut);
                    j->fut = NULL;
                }
            }
        }
        pthread_mutex_unlock(&ex->lock);
    }
    pthread_rwlock_unlock(&registry_lock);
    /* Outside the locks: freeing a job may free its executor. */
    while (dead.next != &dead) {
        job_t *j = asyncio__container_of(dead.next, job_t, link);
        asyncio__list_remove(&j->link);
        job_release_outcome(j);
        j->fut->impl = NULL;
        asyncio_decref(j->fut);
        job_free(j);
    }
}

static void on_loop_closed(asyncio_loop_t *loop)
{
    asyncio__executor_shutdown_default(loop);
}

static asyncio__close_hook_t close_hook = {on_loop_closed, NULL};
static pthread_once_t close_hook_once = PTHREAD_ONCE_INIT;

/* The deadlock check (loop.c): a job of the loop queued or running, or a
 * worker exit the loop waits for, will post to it; idle workers (waiting
 * for a job, not signalled to take one) post nothing until given work. */
static bool may_post(asyncio_loop_t *loop, long *quiet)
{
    bool busy = false;
    pthread_rwlock_rdlock(&registry_lock);
    for (size_t i = 0; i < live_len && !busy; i++) {
        asyncio_executor_t *ex = live[i];
        pthread_mutex_lock(&ex->lock);
        asyncio__list_t *lists[2] = {&ex->queue, &ex->inflight};
        for (int k = 0; k < 2 && !busy; k++)
            for (asyncio__list_t *l = lists[k]->next; l != lists[k] && !busy; l = l->next) {
                job_t *j = asyncio__container_of(l, job_t, link);
                busy = j->loop == loop && (j->state == JOB_QUEUED || j->state == JOB_RUNNING);
            }
        for (exit_waiter_t *w = ex->exit_waiters; w && !busy; w = w->next)
            busy = w->fut->loop == loop;
        *quiet += (long)(ex->nwaiting - ex->nsignalled);
        pthread_mutex_unlock(&ex->lock);
    }
    pthread_rwlock_unlock(&registry_lock);
    return busy;
}

static asyncio__wake_hook_t wake_hook = {may_post, NULL};

static void add_close_hook(void)
{
    asyncio__loop_add_close_hook(&close_hook);
    asyncio__loop_add_wake_hook(&wake_hook);
}

void asyncio__threads_hook_install(void)
{
    pthread_once(&close_hook_once, add_close_hook);
}

void asyncio__executor_shutdown_default(asyncio_loop_t *loop)
{
    asyncio_executor_t *ex = loop->executor;
    if (loop->closed) {
        /* loop.close(): the default executor stops taking jobs but is not
         * waited for; what the loop's jobs and coroutines still hold is
         * released. */
        loop->executor = NULL;
        if (ex) {
            pthread_mutex_lock(&ex->lock);
            begin_shutdown(ex, false);
            pthread_mutex_unlock(&ex->lock);
        }
        orphan_jobs(loop);
        asyncio__cfutures_loop_closed(loop);
        if (ex)
            ex_release(ex);
        return;
    }
    if (!ex)
        return;
    /* asyncio.run(): shutdown(wait=True) while the loop runs, so that the
     * jobs' completions (and their calls into this loop) are served.  The
     * loop lets go of it first: what runs meanwhile may install another
     * default executor (loop close shuts that one down). */
    loop->executor = NULL;
    exit_waiter_t *w = asyncio__malloc(sizeof *w);
    asyncio_future_t *fut = w ? asyncio__future_new(loop) : NULL;
    pthread_mutex_lock(&ex->lock);
    begin_shutdown(ex, false);
    bool wait_in_loop = fut && ex->nthreads && current_executor != ex;
    if (wait_in_loop) {
        w->item.ready.run = exit_waiter_run;
        w->fut = asyncio_incref(fut);
        w->next = ex->exit_waiters;
        ex->exit_waiters = w;
    }
    pthread_mutex_unlock(&ex->lock);
    if (wait_in_loop) {
        asyncio_loop_run_until_complete(loop, fut, NULL);
        asyncio_error_clear();
    } else {
        asyncio__free(w);
    }
    asyncio_decref(fut);
    /* Stopped early (or without memory): wait here. */
    pthread_mutex_lock(&ex->lock);
    wait_stopped(ex);
    pthread_mutex_unlock(&ex->lock);
    ex_release(ex); /* the hold the loop had */
}
