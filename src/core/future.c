/*
 * Futures: asyncio.Future's state machine, done callbacks, reference
 * counting.
 *
 * States go PENDING -> FINISHED (result or exception) or PENDING ->
 * CANCELLED, once.  Done callbacks are records in a FIFO list; the first
 * lives inside the future, so the common single waiter costs no
 * allocation.  Completing moves every record to the loop's ready queue
 * (each holding a reference to the future): callbacks never run inside the
 * call that completed the future.
 */
#include "core/core.h"

#include <string.h>

bool asyncio__future_check(asyncio_future_t *fut)
{
    if (ASYNCIO__LIKELY(fut && fut->magic == ASYNCIO__FUTURE_MAGIC))
        return true;
    asyncio__raise_code(ASYNCIO_EVALUE, "%s", fut ? "not a live future" : "fut is NULL");
    return false;
}

asyncio_loop_t *asyncio__futures_loop(asyncio_future_t *const *futs, size_t n)
{
    if (n && !futs) {
        asyncio__raise_code(ASYNCIO_EVALUE, "futs is NULL");
        return NULL;
    }
    asyncio_loop_t *loop = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!futs[i]) {
            asyncio__raise_code(ASYNCIO_EVALUE, "futs[%zu] is NULL", i);
            return NULL;
        }
        if (!asyncio__future_check(futs[i]))
            return NULL;
        if (loop && futs[i]->loop != loop) {
            asyncio__raise_code(ASYNCIO_EVALUE, "futures are tied to different event loops");
            return NULL;
        }
        loop = futs[i]->loop;
    }
    if (!loop)
        loop = asyncio__loop_get();
    if (!loop || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    return loop;
}

asyncio_future_t *asyncio__future_new(asyncio_loop_t *loop)
{
    asyncio_future_t *f = asyncio__freelist_get(&loop->free_futures);
    if (!f && !(f = asyncio__freelist_new(&loop->free_futures))) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a future");
        return NULL;
    }
    memset(f, 0, sizeof *f);
    f->magic = ASYNCIO__FUTURE_MAGIC;
    f->refcnt = 1;
    f->loop = loop;
    f->cbs_tailp = &f->cbs;
    asyncio__loop_ref(loop);
    return f;
}

asyncio_future_t *asyncio_future_new(void)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    return asyncio__future_new(loop);
}

asyncio_future_t *asyncio_incref(asyncio_future_t *fut)
{
    if (fut)
        fut->refcnt++;
    return fut;
}

void asyncio_decref(asyncio_future_t *fut)
{
    if (fut && --fut->refcnt == 0)
        asyncio__future_release(fut);
}

/* A callback record beyond the first, which lives inside the future. */
typedef struct extra_callback {
    asyncio__callback_t cb;
    asyncio_future_t *fut;
} extra_callback_t;

static void free_record(asyncio_future_t *f, asyncio__callback_t *cb)
{
    if (!asyncio__cb_internal(cb))
        asyncio__cnode_decref(cb->ctxmap);
    if (cb == &f->cb0)
        f->cb0_used = 0;
    else
        asyncio__free(cb);
}

/* Callbacks never scheduled (removed from no future that completed):
 * rare, so out of the release's way. */
static __attribute__((noinline)) void free_records(asyncio_future_t *f)
{
    for (asyncio__callback_t *cb = f->cbs, *next; cb; cb = next) {
        next = cb->next;
        free_record(f, cb);
    }
}

void asyncio__future_release(asyncio_future_t *f)
{
    if (f->log_exception) {
        /* The handler may keep the future (asyncio_incref): then it lives. */
        f->log_exception = 0;
        f->refcnt = 1;
        asyncio__report(f->loop,
                        f->is_task ? "Task exception was never retrieved"
                                   : "Future exception was never retrieved",
                        &f->exc->pub, f);
        if (--f->refcnt > 0)
            return;
    }
    if (f->ops && f->ops->free)
        f->ops->free(f);
    if (f->cbs)
        free_records(f);
    if (f->exc)
        asyncio__exc_free(f->exc);
    asyncio_loop_t *loop = f->loop;
    f->magic = ASYNCIO__DEAD_MAGIC;
    if (f->ops && f->ops->release) {
        f->ops->release(f);
    } else if (loop->closed) {
        asyncio__freelist_release(&loop->free_futures, f);
    } else {
        asyncio__freelist_put(&loop->free_futures, f);
    }
    asyncio__loop_unref(loop);
}

/* ------------------------------------------------------------ callbacks */

/* A user's done callback in its copy of the context it was added in. */
typedef struct user_call {
    asyncio_done_fn fn;
    asyncio_future_t *fut;
    void *arg;
} user_call_t;

static void run_user_call(void *arg)
{
    user_call_t *c = arg;
    c->fn(c->fut, c->arg);
}

/* A user's callback: out of line, the library's own (a task's wake-up)
 * being the hot path. */
static __attribute__((noinline)) void run_user_callback(asyncio_future_t *f,
                                                        asyncio__callback_t *cb)
{
    user_call_t c = {cb->fn, f, cb->arg};
    asyncio__cnode_t *ctxmap = cb->ctxmap;
    cb->ctxmap = NULL; /* ours now, released after the call */
    free_record(f, cb);
    if (!f->loop->closed)
        asyncio__context_call(ctxmap, run_user_call, &c);
    asyncio__cnode_decref(ctxmap);
}

static void run_callback(asyncio_future_t *f, asyncio__callback_t *cb)
{
    if (ASYNCIO__LIKELY(asyncio__cb_internal(cb))) {
        asyncio_done_fn fn = cb->fn;
        void *arg = cb->arg;
        /* A task's wake-up lets go of the record's reference first: the
         * task still holds its own.  Not at close, where a task may have
         * been unwound (and have dropped its reference) while this record
         * waited. */
        bool early = cb->ctxmap == ASYNCIO__CB_WAKES_TASK && !f->loop->closed && f->refcnt > 1;
        free_record(f, cb);
        if (early) {
            f->refcnt--;
            fn(f, arg);
            return;
        }
        fn(f, arg);
    } else {
        run_user_callback(f, cb);
    }
    asyncio_decref(f);
}

static void run_cb0(asyncio__ready_t *r)
{
    run_callback(asyncio__container_of(r, asyncio_future_t, cb0.ready), (asyncio__callback_t *)r);
}

static void run_extra(asyncio__ready_t *r)
{
    run_callback(((extra_callback_t *)r)->fut, (asyncio__callback_t *)r);
}

static void schedule_record(asyncio_future_t *f, asyncio__callback_t *cb)
{
    f->refcnt++;
    asyncio__ready_push(f->loop, &cb->ready);
}

static int add_callback(asyncio_future_t *f, asyncio_done_fn fn, void *arg, bool internal,
                        bool wakes_task, bool (*settle)(asyncio_future_t *, void *))
{
    asyncio__callback_t *cb = &f->cb0;
    if (!f->cb0_used) {
        f->cb0_used = 1;
        cb->ready.run = run_cb0;
    } else {
        extra_callback_t *x = asyncio__malloc(sizeof *x);
        if (!x)
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a done callback");
        x->fut = f;
        cb = &x->cb;
        cb->ready.run = run_extra;
    }
    cb->fn = fn;
    cb->arg = arg;
    cb->settle = settle;
    cb->next = NULL;
    /* Python's add_done_callback: a copy of the current context. */
    cb->ctxmap = !internal    ? asyncio__context_capture()
                 : wakes_task ? ASYNCIO__CB_WAKES_TASK
                              : ASYNCIO__CB_INTERNAL;
    if (f->state != ASYNCIO__PENDING) {
        schedule_record(f, cb);
    } else {
        *f->cbs_tailp = cb;
        f->cbs_tailp = &cb->next;
    }
    return 0;
}

int asyncio__add_callback(asyncio_future_t *f, asyncio_done_fn fn, void *arg)
{
    return add_callback(f, fn, arg, true, false, NULL);
}

int asyncio__add_task_wakeup(asyncio_future_t *f, asyncio_done_fn fn, void *arg)
{
    return add_callback(f, fn, arg, true, true, NULL);
}

int asyncio__add_callback_settle(asyncio_future_t *f, asyncio_done_fn fn,
                                 bool (*settle)(asyncio_future_t *, void *), void *arg)
{
    return add_callback(f, fn, arg, true, false, settle);
}

int asyncio_add_done_callback(asyncio_future_t *fut, asyncio_done_fn fn, void *arg)
{
    if (!asyncio__future_check(fut))
        return ASYNCIO_EVALUE;
    if (!fn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
    if (fut->loop->closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
    return add_callback(fut, fn, arg, false, false, NULL);
}

int asyncio_remove_done_callback(asyncio_future_t *fut, asyncio_done_fn fn, void *arg)
{
    if (!asyncio__future_check(fut))
        return ASYNCIO_EVALUE;
    int removed = 0;
    asyncio__callback_t **pp = &fut->cbs;
    while (*pp) {
        asyncio__callback_t *cb = *pp;
        if (cb->fn == fn && cb->arg == arg) {
            *pp = cb->next;
            free_record(fut, cb);
            removed++;
        } else {
            pp = &cb->next;
        }
    }
    fut->cbs_tailp = pp;
    return removed;
}

static void schedule_callbacks(asyncio_future_t *f)
{
    asyncio__callback_t *cb = f->cbs;
    f->cbs = NULL;
    f->cbs_tailp = &f->cbs;
    for (asyncio__callback_t *next; cb; cb = next) {
        next = cb->next;
        if (cb->settle && cb->settle(f, cb->arg))
            free_record(f, cb); /* done already: nothing to queue */
        else
            schedule_record(f, cb);
    }
}

/* ------------------------------------------------------------ completion */

void asyncio__future_finish(asyncio_future_t *f, void *result, asyncio__exc_t *exc)
{
    f->state = ASYNCIO__FINISHED;
    f->result = result;
    f->exc = exc;
    f->log_exception = exc != NULL;
    schedule_callbacks(f);
}

bool asyncio__future_cancel(asyncio_future_t *f, const char *msg)
{
    f->log_exception = 0; /* Python: cancelling counts as looking at it */
    if (f->state != ASYNCIO__PENDING)
        return false;
    f->state = ASYNCIO__CANCELLED;
    f->log_exception = 0;
    /* Made now so the message survives; if memory is short it is made
     * (without the message) when someone asks. */
    f->exc = asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", msg);
    schedule_callbacks(f);
    return true;
}

void asyncio__future_set_cancelled(asyncio_future_t *f, asyncio__exc_t *exc)
{
    f->state = ASYNCIO__CANCELLED;
    f->log_exception = 0;
    f->exc = exc;
    schedule_callbacks(f);
}

asyncio__exc_t *asyncio__future_cancelled_exc(asyncio_future_t *f)
{
    if (!f->exc)
        f->exc = asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", "");
    return f->exc;
}

int asyncio__future_outcome(asyncio_future_t *f, void **result)
{
    switch (f->state) {
    case ASYNCIO__PENDING:
        return asyncio__out_fail(asyncio__raise_code(ASYNCIO_EINVALIDSTATE, "Result is not ready."),
                                 result);
    case ASYNCIO__CANCELLED: {
        asyncio__exc_t *e = asyncio__exc_dup(asyncio__future_cancelled_exc(f));
        asyncio__raise_exc(e);
        return asyncio__out_fail(e->pub.code, result);
    }
    default:
        f->log_exception = 0;
        if (f->exc) {
            asyncio__exc_t *e = asyncio__exc_dup(f->exc);
            asyncio__raise_exc(e);
            return asyncio__out_fail(e->pub.code, result);
        }
        if (result)
            *result = f->result;
        return 0;
    }
}

static const char *state_name(asyncio_future_t *f)
{
    return f->state == ASYNCIO__CANCELLED ? "CANCELLED" : "FINISHED";
}

/* Python's checks before completing a future; op names the method for
 * Python's message about tasks. */
static int settable(asyncio_future_t *fut, const char *op)
{
    if (!asyncio__future_check(fut))
        return ASYNCIO_EVALUE;
    if (fut->is_task)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Task does not support %s operation", op);
    if (fut->state != ASYNCIO__PENDING)
        return asyncio__raise_code(ASYNCIO_EINVALIDSTATE, "%s: <Future %s>", state_name(fut),
                                   fut->state == ASYNCIO__CANCELLED ? "cancelled" : "finished");
    return 0;
}

int asyncio_future_set_result(asyncio_future_t *fut, void *value)
{
    int rc = settable(fut, "set_result");
    if (rc)
        return rc;
    asyncio__future_finish(fut, value, NULL);
    return 0;
}

int asyncio_future_set_exception(asyncio_future_t *fut, const char *type, const char *fmt, ...)
{
    int rc = settable(fut, "set_exception");
    if (rc)
        return rc;
    if (!type)
        type = "Exception";
    va_list ap;
    va_start(ap, fmt);
    asyncio__exc_t *e = asyncio__exc_new(asyncio__type_code(type), type, 0, fmt, ap);
    va_end(ap);
    asyncio__future_finish(fut, NULL, e);
    return 0;
}

int asyncio_future_set_error(asyncio_future_t *fut, const asyncio_error_t *err)
{
    int rc = settable(fut, "set_exception");
    if (rc)
        return rc;
    if (!err)
        return asyncio__raise_code(ASYNCIO_EVALUE, "err is NULL");
    asyncio__future_finish(fut, NULL, asyncio__exc_dup((const asyncio__exc_t *)err));
    return 0;
}

/* ------------------------------------------------------------ queries */

bool asyncio_cancel(asyncio_future_t *fut, const char *msg)
{
    if (!asyncio__future_check(fut))
        return false;
    if (fut->ops)
        return fut->ops->cancel(fut, msg);
    return asyncio__future_cancel(fut, msg);
}

bool asyncio_done(asyncio_future_t *fut)
{
    return fut && fut->state != ASYNCIO__PENDING;
}

bool asyncio_cancelled(asyncio_future_t *fut)
{
    return fut && fut->state == ASYNCIO__CANCELLED;
}

int asyncio_result(asyncio_future_t *fut, void **value)
{
    if (!asyncio__future_check(fut))
        return asyncio__out_fail(ASYNCIO_EVALUE, value);
    return asyncio__future_outcome(fut, value);
}

const asyncio_error_t *asyncio_exception(asyncio_future_t *fut)
{
    if (!asyncio__future_check(fut))
        return NULL;
    if (fut->state == ASYNCIO__PENDING) {
        asyncio__raise_code(ASYNCIO_EINVALIDSTATE, "Exception is not set.");
        return NULL;
    }
    if (fut->state == ASYNCIO__CANCELLED)
        return &asyncio__future_cancelled_exc(fut)->pub;
    fut->log_exception = 0;
    return fut->exc ? &fut->exc->pub : NULL;
}

bool asyncio_is_task(asyncio_future_t *fut)
{
    return fut && fut->magic == ASYNCIO__FUTURE_MAGIC && fut->is_task;
}
