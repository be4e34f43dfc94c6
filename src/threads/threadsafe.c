/*
 * asyncio.run_coroutine_threadsafe and the concurrent future it returns:
 * a plain thread hands a coroutine to a loop running in another thread and
 * blocks on the outcome.
 *
 * A cfuture is shared by its user and its loop, each holding a count (the
 * loop's until the coroutine has ended or the loop closed; one more while a
 * cancel request is posted, and one per waiting thread).  Its state and
 * outcome are under its mutex; waiters sleep on its condition variable
 * (CLOCK_MONOTONIC, as the loop's clock).
 *
 * The coroutine runs inside a small task (run_coro) that copies its outcome
 * into the cfuture when it returns; the task's done callback (task_done)
 * ends the loop's side, also when run_coro never ran.  Requests reach the loop through its
 * inbox, with items embedded in the cfuture (starting it, cancelling it),
 * so they keep their order.  The task's pointer (cf->task) is read and
 * written on the loop's thread only.
 *
 * Loop close: a request still in the inbox runs with loop->closed and
 * cancels the cfuture; a coroutine that had started is unwound by the
 * close and cancels it through run_coro.  Done callbacks do not run on a
 * closed loop, so the close hook ends the loop's side of every cfuture
 * still in the list of started ones (`pending`).
 */
#include "core/handle.h"
#include "threads/threads.h"

#include <errno.h>
#include <math.h>
#include <time.h>

typedef struct cfuture cfuture_t;

struct cfuture {
    void *handle; /* what the caller holds (handle.h), retired by its free */
    bool freed;   /* the caller freed it: a late result goes to free_result */
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    uint8_t state;      /* ASYNCIO__PENDING, __FINISHED, __CANCELLED */
    bool cancel_posted; /* a cancel request went to the loop */
    void *result;
    asyncio__exc_t *exc; /* its exception, or the CancelledError (may be NULL) */
    asyncio_loop_t *loop;
    asyncio_coro_fn fn;
    void *arg;
    void (*free_result)(void *);
    asyncio__inbox_item_t start_item, cancel_item;
    asyncio_future_t *task; /* loop thread only: the running coroutine */
    asyncio__list_t link;   /* in `pending` while its task lives, else on itself */
    asyncio__cnode_t *ctxmap; /* the calling thread's context (owned): the task copies it */
};

/* Cfutures whose task was made and has not ended. */
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static asyncio__list_t pending = {&pending, &pending};

static void cf_release(cfuture_t *cf)
{
    if (atomic_fetch_sub_explicit(&cf->refs, 1, memory_order_acq_rel) != 1)
        return;
    asyncio__exc_free(cf->exc);
    asyncio__cnode_decref(cf->ctxmap);
    pthread_mutex_destroy(&cf->lock);
    pthread_cond_destroy(&cf->done_cv);
    asyncio__free(cf);
}

/* Sets the outcome (exc taken over) unless already done; then the result
 * goes to free_result when nobody can take it any more. */
static void cf_complete(cfuture_t *cf, int state, void *result, asyncio__exc_t *exc)
{
    pthread_mutex_lock(&cf->lock);
    bool taken = cf->state == ASYNCIO__PENDING && !cf->freed;
    if (cf->state == ASYNCIO__PENDING) {
        cf->state = (uint8_t)state;
        cf->result = result;
        cf->exc = exc;
        pthread_cond_broadcast(&cf->done_cv);
    } else {
        asyncio__exc_free(exc);
    }
    pthread_mutex_unlock(&cf->lock);
    if (!taken && result && !exc && state == ASYNCIO__FINISHED && cf->free_result)
        cf->free_result(result);
}

static asyncio__exc_t *closed_exc(void)
{
    return asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", "Event loop is closed");
}

/* The loop side is done with cf (loop thread, or the close hook). */
static void loop_side_end(cfuture_t *cf)
{
    pthread_mutex_lock(&pending_lock);
    asyncio__list_remove(&cf->link);
    pthread_mutex_unlock(&pending_lock);
    cf->task = NULL;
    cf_release(cf);
}

/* The task around the coroutine: its outcome goes to the cfuture (the
 * loop's count is released by task_done, which runs after it). */
static void *run_coro(void *arg)
{
    cfuture_t *cf = arg;
    pthread_mutex_lock(&cf->lock);
    bool cancelled = cf->state != ASYNCIO__PENDING;
    pthread_mutex_unlock(&cf->lock);
    if (cancelled)
        return NULL; /* cancelled before it started: the coroutine never runs */
    void *result = NULL;
    int rc = asyncio_call(cf->fn, cf->arg, &result);
    asyncio__exc_t *exc = rc ? asyncio__exc_settle(asyncio__take_all()) : NULL;
    if (exc && exc->pub.code == ASYNCIO_ECANCELLED)
        cf_complete(cf, ASYNCIO__CANCELLED, NULL, exc);
    else
        cf_complete(cf, ASYNCIO__FINISHED, exc ? NULL : result, exc);
    return NULL;
}

/* The task ended, whether run_coro ran or not (cancelled before its first
 * step, or no memory for its stack): the loop side is done. */
static void task_done(asyncio_future_t *task, void *arg)
{
    cfuture_t *cf = arg;
    if (task->state == ASYNCIO__CANCELLED)
        cf_complete(cf, ASYNCIO__CANCELLED, NULL,
                    asyncio__exc_dup(asyncio__future_cancelled_exc(task)));
    else if (task->exc)
        cf_complete(cf, ASYNCIO__FINISHED, NULL, asyncio__exc_dup(task->exc));
    task->log_exception = 0;
    loop_side_end(cf);
}

static void create_run_coro(void *arg)
{
    cfuture_t *cf = arg;
    cf->task = asyncio_create_task(run_coro, cf);
}

static void start_run(asyncio__ready_t *r)
{
    cfuture_t *cf = asyncio__container_of(r, cfuture_t, start_item.ready);
    if (cf->loop->closed) {
        cf_complete(cf, ASYNCIO__CANCELLED, NULL, closed_exc());
        cf_release(cf);
        return;
    }
    pthread_mutex_lock(&cf->lock);
    bool cancelled = cf->state != ASYNCIO__PENDING;
    pthread_mutex_unlock(&cf->lock);
    if (cancelled) { /* before it started: the coroutine never runs */
        cf_release(cf);
        return;
    }
    /* Python makes the task in a callback that runs in a copy of the
     * calling thread's context: the task copies that. */
    asyncio__context_call(cf->ctxmap, create_run_coro, cf);
    asyncio_future_t *task = cf->task;
    cf->task = NULL;
    if (!task || asyncio__add_callback(task, task_done, cf) != 0) {
        if (task) { /* it must not run without us: cancelled before its start */
            asyncio_cancel(task, NULL);
            asyncio_decref(task);
        }
        cf_complete(cf, ASYNCIO__FINISHED, NULL, asyncio__take_raised());
        cf_release(cf);
        return;
    }
    cf->task = task; /* borrowed: the loop holds it until it ends */
    asyncio_decref(task);
    pthread_mutex_lock(&pending_lock);
    asyncio__list_insert(&pending, &cf->link);
    pthread_mutex_unlock(&pending_lock);
}

static void cancel_run(asyncio__ready_t *r)
{
    cfuture_t *cf = asyncio__container_of(r, cfuture_t, cancel_item.ready);
    if (!cf->loop->closed && cf->task)
        asyncio_cancel(cf->task, NULL);
    cf_release(cf);
}

/* Loop close (from the executor's hook): cfutures whose coroutine never
 * ran to its end are cancelled and released. */
void asyncio__cfutures_loop_closed(asyncio_loop_t *loop)
{
    for (;;) {
        pthread_mutex_lock(&pending_lock);
        cfuture_t *cf = NULL;
        for (asyncio__list_t *n = pending.next; n != &pending && !cf; n = n->next) {
            cfuture_t *c = asyncio__container_of(n, cfuture_t, link);
            if (c->loop == loop)
                cf = c;
        }
        pthread_mutex_unlock(&pending_lock);
        if (!cf)
            return;
        cf_complete(cf, ASYNCIO__CANCELLED, NULL, closed_exc());
        loop_side_end(cf);
    }
}

asyncio_cfuture_t *asyncio_run_coroutine_threadsafe_ex(asyncio_loop_t *loop, asyncio_coro_fn fn,
                                                       void *arg, void (*free_result)(void *))
{
    if (!fn) {
        asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
        return NULL;
    }
    if (!loop) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "loop is NULL");
        return NULL;
    }
    asyncio__threads_hook_install(); /* loop close cancels what never started */
    cfuture_t *cf = asyncio__calloc(1, sizeof *cf);
    if (!cf) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a concurrent future");
        return NULL;
    }
    if (!asyncio__handle_give(cf, &cf->handle, ASYNCIO__H_CFUTURE))
        return NULL;
    atomic_init(&cf->refs, 2); /* the caller's and the loop's */
    asyncio__list_init(&cf->link);
    pthread_mutex_init(&cf->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cf->done_cv, &attr);
    pthread_condattr_destroy(&attr);
    cf->state = ASYNCIO__PENDING;
    cf->loop = loop;
    cf->fn = fn;
    cf->arg = arg;
    cf->free_result = free_result;
    cf->ctxmap = asyncio__context_capture();
    cf->start_item.ready.run = start_run;
    cf->cancel_item.ready.run = cancel_run;
    if (asyncio__post(loop, &cf->start_item) != 0) {
        asyncio__cnode_decref(cf->ctxmap);
        pthread_mutex_destroy(&cf->lock);
        pthread_cond_destroy(&cf->done_cv);
        asyncio__handle_retire(cf->handle);
        asyncio__free(cf);
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        return NULL;
    }
    return cf->handle;
}

asyncio_cfuture_t *asyncio_run_coroutine_threadsafe(asyncio_loop_t *loop, asyncio_coro_fn fn,
                                                    void *arg)
{
    return asyncio_run_coroutine_threadsafe_ex(loop, fn, arg, NULL);
}

static int cfuture_result(asyncio_cfuture_t *handle, double timeout, void **result)
{
    cfuture_t *cf = asyncio__handle_check(handle, ASYNCIO__H_CFUTURE, "concurrent future");
    if (!cf)
        return ASYNCIO_EVALUE;
    if (isnan(timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, "timeout must not be NaN");
    struct timespec deadline;
    if (timeout >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        double t = timeout > 1e9 ? 1e9 : timeout;
        time_t s = (time_t)t; /* truncates: t >= 0 */
        deadline.tv_sec += s;
        deadline.tv_nsec += (long)((t - (double)s) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    atomic_fetch_add_explicit(&cf->refs, 1, memory_order_relaxed); /* ours while we wait */
    pthread_mutex_lock(&cf->lock);
    int rc = 0;
    if (cf->state == ASYNCIO__PENDING && timeout != 0 && asyncio__tls.running == cf->loop) {
        rc = ASYNCIO_ERUNTIME; /* the loop cannot run while its thread sleeps here */
    } else {
        while (cf->state == ASYNCIO__PENDING) {
            if (timeout < 0) {
                pthread_cond_wait(&cf->done_cv, &cf->lock);
            } else if (timeout == 0 ||
                       pthread_cond_timedwait(&cf->done_cv, &cf->lock, &deadline) == ETIMEDOUT) {
                if (cf->state == ASYNCIO__PENDING)
                    rc = ASYNCIO_ETIMEDOUT;
                break;
            }
        }
    }
    asyncio__exc_t *exc = NULL;
    if (rc == 0) {
        if (cf->state == ASYNCIO__CANCELLED)
            exc = cf->exc ? asyncio__exc_dup(cf->exc)
                          : asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", "");
        else if (cf->exc)
            exc = asyncio__exc_dup(cf->exc);
        else if (result)
            *result = cf->result;
    }
    pthread_mutex_unlock(&cf->lock);
    cf_release(cf);
    if (rc == ASYNCIO_ERUNTIME)
        return asyncio__raise_code(rc, "cannot wait for the result on the thread of the loop "
                                       "that runs the coroutine (it would wait for itself)");
    if (rc == ASYNCIO_ETIMEDOUT)
        return asyncio__raise_code(rc, "timed out after %g s", timeout);
    if (exc) {
        asyncio__raise_exc(exc);
        return exc->pub.code;
    }
    return 0;
}

int asyncio_cfuture_result(asyncio_cfuture_t *handle, double timeout, void **result)
{
    int rc = cfuture_result(handle, timeout, result);
    return rc < 0 ? asyncio__out_fail(rc, result) : rc;
}

bool asyncio_cfuture_cancel(asyncio_cfuture_t *handle)
{
    cfuture_t *cf = asyncio__handle_check(handle, ASYNCIO__H_CFUTURE, "concurrent future");
    if (!cf)
        return false;
    pthread_mutex_lock(&cf->lock);
    if (cf->state != ASYNCIO__PENDING) {
        pthread_mutex_unlock(&cf->lock);
        return false;
    }
    cf->state = ASYNCIO__CANCELLED;
    pthread_cond_broadcast(&cf->done_cv);
    bool post = !cf->cancel_posted;
    cf->cancel_posted = true;
    if (post)
        atomic_fetch_add_explicit(&cf->refs, 1, memory_order_relaxed); /* the request's */
    pthread_mutex_unlock(&cf->lock);
    /* The task is cancelled on its loop; the cfuture already is. */
    if (post && asyncio__post(cf->loop, &cf->cancel_item) != 0)
        cf_release(cf); /* a closed loop runs nothing more */
    return true;
}

bool asyncio_cfuture_done(asyncio_cfuture_t *handle)
{
    cfuture_t *cf = asyncio__handle_get(handle, ASYNCIO__H_CFUTURE);
    if (!cf)
        return false;
    pthread_mutex_lock(&cf->lock);
    bool done = cf->state != ASYNCIO__PENDING;
    pthread_mutex_unlock(&cf->lock);
    return done;
}

bool asyncio_cfuture_cancelled(asyncio_cfuture_t *handle)
{
    cfuture_t *cf = asyncio__handle_get(handle, ASYNCIO__H_CFUTURE);
    if (!cf)
        return false;
    pthread_mutex_lock(&cf->lock);
    bool c = cf->state == ASYNCIO__CANCELLED;
    pthread_mutex_unlock(&cf->lock);
    return c;
}

void asyncio_cfuture_free(asyncio_cfuture_t *handle)
{
    cfuture_t *cf = asyncio__handle_get(handle, ASYNCIO__H_CFUTURE);
    if (!cf)
        return;
    asyncio__handle_retire(handle);
    pthread_mutex_lock(&cf->lock);
    cf->freed = true; /* a result arriving later goes to free_result */
    pthread_mutex_unlock(&cf->lock);
    cf_release(cf);
}
