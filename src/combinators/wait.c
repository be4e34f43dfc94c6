/*
 * asyncio.wait, wait_for, shield and as_completed.
 *
 * Each is a waiter future plus done callbacks on the futures watched, as in
 * CPython.  A callback may already sit in the ready queue when the call
 * that registered it returns, so whatever it points at must outlive it:
 * every registered callback holds a reference to the waiter (or to the
 * iterator) and drops it when it runs or is removed.
 */
#include "core/core.h"
#include "core/handle.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct futures of futs, in a new array (sorted by address: the
 * order of a set).  NULL and MemoryError on failure. */
static asyncio_future_t **distinct(asyncio_future_t *const *futs, size_t n, size_t *count)
{
    asyncio_future_t **u = asyncio__malloc((n ? n : 1) * sizeof *u);
    if (!u) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for the futures watched");
        return NULL;
    }
    if (n)
        memcpy(u, futs, n * sizeof *u);
    qsort(u, n, sizeof *u, cmp_ptr);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || u[k - 1] != u[i])
            u[k++] = u[i];
    *count = k;
    return u;
}

/* A future that finishes when `at` seconds pass (or never, at < 0). */
typedef struct deadline {
    asyncio__timer_t *timer;
    uint64_t id;
} deadline_t;

static void release_waiter(void *arg)
{
    asyncio_future_t *waiter = arg;
    if (waiter->state == ASYNCIO__PENDING)
        asyncio__future_finish(waiter, NULL, NULL);
}

static void release_waiter_cb(asyncio_future_t *fut, void *arg)
{
    (void)fut;
    release_waiter(arg);
    asyncio_decref(arg);
}

static int deadline_start(deadline_t *d, asyncio_loop_t *loop, double timeout,
                          asyncio_callback_fn fn, void *arg)
{
    d->timer = NULL;
    if (timeout < 0)
        return 0;
    uint64_t now = asyncio__now_ns();
    double ns = timeout * 1e9;
    uint64_t when = ns >= (double)(UINT64_MAX - now) ? UINT64_MAX : now + (uint64_t)ns;
    d->timer = asyncio__timer_start(loop, when ? when : 1, fn, arg);
    if (!d->timer)
        return ASYNCIO_ENOMEM;
    d->id = d->timer->id;
    return 0;
}

static void deadline_cancel(deadline_t *d)
{
    if (d->timer)
        asyncio__timer_cancel(d->timer, d->id);
    d->timer = NULL;
}

/* Adds `fn(fut, waiter)` to fut with a reference to waiter. */
static int watch(asyncio_future_t *fut, asyncio_done_fn fn, asyncio_future_t *waiter)
{
    int rc = asyncio__add_callback(fut, fn, waiter);
    if (rc == 0)
        asyncio_incref(waiter);
    return rc;
}

static void unwatch(asyncio_future_t *fut, asyncio_done_fn fn, asyncio_future_t *waiter)
{
    for (int k = asyncio_remove_done_callback(fut, fn, waiter); k > 0; k--)
        asyncio_decref(waiter);
}

/* ------------------------------------------------------------ wait */

typedef struct wait_state {
    size_t counter;
    int return_when;
    deadline_t deadline;
} wait_state_t;

static void wait_state_free(asyncio_future_t *waiter)
{
    asyncio__free(waiter->impl);
}

/* What a task waits on in wait(), for task dumps. */
static void describe_wait(const void *obj, char *buf, size_t len)
{
    const wait_state_t *st = obj;
    static const char *const when[] = {"FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"};
    snprintf(buf, len, "%zu pending, return_when=%s", st->counter,
             (size_t)st->return_when < 3 ? when[st->return_when] : "?");
}

static const asyncio__wait_kind_t wait_wait = {"wait()", describe_wait};

static void describe_awaited(const void *obj, char *buf, size_t len)
{
    asyncio__describe_future((asyncio_future_t *)obj, buf, len);
}

static const asyncio__wait_kind_t wait_for_wait = {"wait_for()", describe_awaited};
static const asyncio__wait_kind_t cancel_wait = {"wait_for() cancelling", describe_awaited};
static const asyncio__wait_kind_t as_completed_wait = {"as_completed()", NULL};

/* The waiter cancels as any future; it only needs its state freed. */
static const asyncio__future_ops_t wait_ops = {asyncio__future_cancel, wait_state_free, NULL, NULL};

static void on_completion(asyncio_future_t *fut, void *arg)
{
    asyncio_future_t *waiter = arg;
    wait_state_t *st = waiter->impl;
    st->counter--;
    bool failed = fut->state == ASYNCIO__FINISHED && fut->exc;
    if (st->counter == 0 || st->return_when == ASYNCIO_FIRST_COMPLETED ||
        (st->return_when == ASYNCIO_FIRST_EXCEPTION && failed)) {
        deadline_cancel(&st->deadline);
        release_waiter(waiter);
    }
    asyncio_decref(waiter);
}

static int wait_futures(asyncio_future_t *const *futs, size_t n, double timeout,
                        enum asyncio_return_when return_when, bool *done)
{
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (n == 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Set of Tasks/Futures is empty.");
    if ((unsigned)return_when > ASYNCIO_ALL_COMPLETED)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Invalid return_when value: %d",
                                   (int)return_when);
    if (isnan(timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, "timeout must not be NaN");
    asyncio_loop_t *loop = asyncio__futures_loop(futs, n);
    if (!loop)
        return asyncio_error()->code;
    if (loop != t->fut.loop)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "Task '%s' got Future attached to a different loop",
                                   asyncio__task_name(t));
    size_t count;
    asyncio_future_t **u = distinct(futs, n, &count);
    if (!u)
        return ASYNCIO_ENOMEM;
    asyncio_future_t *waiter = asyncio__future_new(loop);
    wait_state_t *st = waiter ? asyncio__calloc(1, sizeof *st) : NULL;
    int rc = ASYNCIO_ENOMEM;
    if (!st)
        goto out;
    waiter->impl = st;
    waiter->ops = &wait_ops;
    st->counter = count;
    st->return_when = return_when;
    if (deadline_start(&st->deadline, loop, timeout, release_waiter, waiter) != 0)
        goto out;
    size_t watched = 0;
    for (; watched < count; watched++)
        if (watch(u[watched], on_completion, waiter) != 0)
            break;
    if (watched == count) {
        asyncio__task_waits_for(t, &wait_wait, st);
        rc = asyncio__task_wait_private(t, waiter);
    }
    deadline_cancel(&st->deadline);
    for (size_t i = 0; i < watched; i++)
        unwatch(u[i], on_completion, waiter);
    if (rc == 0 && done)
        for (size_t i = 0; i < n; i++)
            done[i] = asyncio_done(futs[i]);
out:
    if (rc == ASYNCIO_ENOMEM)
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for wait");
    asyncio_decref(waiter);
    asyncio__free(u);
    return rc;
}

int asyncio_wait(asyncio_future_t *const *futs, size_t n, double timeout,
                 enum asyncio_return_when return_when, bool *done)
{
    int rc = wait_futures(futs, n, timeout, return_when, done);
    if (rc < 0 && done && n)
        memset(done, 0, n * sizeof *done);
    return rc;
}

/* ------------------------------------------------------------ wait_for */

/* Cancels fut and waits until it is done, without waiting on fut itself so
 * that this wait stays cancellable (CPython's _cancel_and_wait). */
static int cancel_and_wait(asyncio__task_t *t, asyncio_future_t *fut)
{
    asyncio_future_t *waiter = asyncio__future_new(t->fut.loop);
    if (!waiter)
        return ASYNCIO_ENOMEM;
    int rc = watch(fut, release_waiter_cb, waiter);
    if (rc == 0) {
        asyncio_cancel(fut, NULL);
        asyncio__task_waits_for(t, &cancel_wait, fut);
        rc = asyncio__task_wait_private(t, waiter);
        unwatch(fut, release_waiter_cb, waiter);
    }
    asyncio_decref(waiter);
    return rc;
}

/* fut's outcome, a CancelledError of it turned into TimeoutError. */
static int outcome_or_timeout(asyncio_future_t *fut, void **result)
{
    if (fut->state == ASYNCIO__CANCELLED)
        return asyncio__raise_code(ASYNCIO_ETIMEDOUT, "%s", "");
    return asyncio__future_outcome(fut, result);
}

static int wait_for(asyncio_future_t *fut, double timeout, void **result)
{
    if (isnan(timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, "timeout must not be NaN");
    if (timeout < 0)
        return asyncio_await(fut, result);
    if (!asyncio__future_check(fut))
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (fut == &t->fut || fut->loop != t->fut.loop)
        return asyncio_await(fut, result); /* raises what asyncio_await raises */
    if (fut->state != ASYNCIO__PENDING)
        return asyncio__future_outcome(fut, result);
    if (timeout == 0) {
        int rc = cancel_and_wait(t, fut);
        return rc ? rc : outcome_or_timeout(fut, result);
    }

    asyncio_future_t *waiter = asyncio__future_new(t->fut.loop);
    if (!waiter)
        return ASYNCIO_ENOMEM;
    deadline_t deadline;
    int rc = deadline_start(&deadline, t->fut.loop, timeout, release_waiter, waiter);
    if (rc == 0)
        rc = watch(fut, release_waiter_cb, waiter);
    if (rc != 0) {
        deadline_cancel(&deadline);
        asyncio_decref(waiter);
        return ASYNCIO_ENOMEM;
    }
    asyncio__task_waits_for(t, &wait_for_wait, fut);
    rc = asyncio__task_wait_private(t, waiter);
    deadline_cancel(&deadline);
    unwatch(fut, release_waiter_cb, waiter);
    asyncio_decref(waiter);
    if (fut->state != ASYNCIO__PENDING) {
        /* Done in time, or together with our cancellation: its outcome
         * wins and nothing is lost. */
        if (rc == ASYNCIO_ECANCELLED)
            asyncio__exc_free(asyncio__take_raised());
        return asyncio__future_outcome(fut, result);
    }
    /* The deadline passed, or the caller was cancelled: either way fut must
     * not run on after wait_for returns. */
    int rc2 = cancel_and_wait(t, fut);
    if (rc == ASYNCIO_ECANCELLED)
        return rc; /* the caller's CancelledError stays raised */
    if (rc2)
        return rc2;
    return outcome_or_timeout(fut, result);
}

int asyncio_wait_for(asyncio_future_t *fut, double timeout, void **result)
{
    int rc = wait_for(fut, timeout, result);
    return rc < 0 ? asyncio__out_fail(rc, result) : rc;
}

/* ------------------------------------------------------------ shield */

static void shield_inner_done(asyncio_future_t *inner, void *arg)
{
    asyncio_future_t *outer = arg;
    if (outer->state == ASYNCIO__CANCELLED) {
        if (inner->state == ASYNCIO__FINISHED)
            inner->log_exception = 0; /* Python marks it retrieved */
    } else if (outer->state == ASYNCIO__PENDING) {
        if (inner->state == ASYNCIO__CANCELLED) {
            asyncio__future_cancel(outer, NULL);
        } else if (inner->exc) {
            inner->log_exception = 0;
            asyncio__future_finish(outer, NULL, asyncio__exc_dup(inner->exc));
        } else {
            asyncio__future_finish(outer, inner->result, NULL);
        }
    }
    asyncio_decref(outer);
}

/* The outer future's state: on the loop's list of closers while the two
 * futures' callbacks hold each other alive. */
typedef struct shield {
    asyncio__closer_t closer;
    asyncio_future_t *inner, *outer;
} shield_t;

static void shield_outer_done(asyncio_future_t *outer, void *arg)
{
    asyncio_future_t *inner = arg;
    shield_t *sh = outer->impl;
    asyncio__list_remove(&sh->closer.link);
    if (inner->state == ASYNCIO__PENDING)
        unwatch(inner, shield_inner_done, outer);
    asyncio_decref(inner);
}

/* Loop close with both futures pending: each callback keeps the other
 * future alive, and none will run any more. */
static void shield_close(asyncio__closer_t *c)
{
    shield_t *sh = asyncio__container_of(c, shield_t, closer);
    asyncio_future_t *inner = sh->inner, *outer = asyncio_incref(sh->outer);
    unwatch(inner, shield_inner_done, outer);
    for (int k = asyncio_remove_done_callback(outer, shield_outer_done, inner); k > 0; k--)
        asyncio_decref(inner);
    asyncio_decref(outer);
}

static void shield_free(asyncio_future_t *outer)
{
    shield_t *sh = outer->impl;
    asyncio__list_remove(&sh->closer.link);
    asyncio__free(sh);
}

static void shield_describe(asyncio_future_t *outer, char *buf, size_t len)
{
    (void)outer;
    snprintf(buf, len, "<shield>");
}

static const asyncio__future_ops_t shield_ops = {asyncio__future_cancel, shield_free, NULL,
                                                 shield_describe};

asyncio_future_t *asyncio_shield(asyncio_future_t *inner)
{
    if (!asyncio__future_check(inner))
        return NULL;
    if (inner->state != ASYNCIO__PENDING)
        return asyncio_incref(inner);
    asyncio_future_t *outer = asyncio__future_new(inner->loop);
    shield_t *sh = outer ? asyncio__malloc(sizeof *sh) : NULL;
    if (!sh || watch(inner, shield_inner_done, outer) != 0) {
        asyncio__free(sh);
        asyncio_decref(outer);
        if (outer)
            asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for shield");
        return NULL;
    }
    sh->inner = inner;
    sh->outer = outer;
    sh->closer.close = shield_close;
    asyncio__list_insert(&inner->loop->closers, &sh->closer.link);
    outer->impl = sh;
    outer->ops = &shield_ops;
    /* A new future's first callback lives inside it: this cannot fail. */
    asyncio__add_callback(outer, shield_outer_done, asyncio_incref(inner));
    return outer;
}

/* ------------------------------------------------------------ as_completed */

/* The iterator.  Its memory is counted: the user's handle (retired by
 * asyncio_as_completed_free, which also sets closed), one count per done
 * callback registered, and one while a next() waits, so a free during
 * that wait leaves the memory to the waiting call. */
typedef struct as_completed {
    void *handle; /* what the caller holds (handle.h) */
    int refs;
    asyncio_loop_t *loop;
    asyncio_future_t **futs; /* the distinct futures, one reference each */
    size_t n;
    asyncio_future_t **queue; /* finished, not yet handed out */
    size_t head, tail;
    size_t pending;  /* not finished yet */
    size_t timeouts; /* TimeoutErrors still to raise, after the deadline */
    deadline_t deadline;
    asyncio_future_t *waiter; /* a next() waiting */
    bool closed;              /* freed by the user */
} as_completed_t;

static void it_unref(as_completed_t *it)
{
    if (--it->refs)
        return;
    for (size_t i = 0; i < it->n; i++)
        asyncio_decref(it->futs[i]);
    asyncio__free(it->futs);
    asyncio__free(it->queue);
    asyncio__free(it);
}

static void wake_next(as_completed_t *it)
{
    if (it->waiter && it->waiter->state == ASYNCIO__PENDING)
        asyncio__future_finish(it->waiter, NULL, NULL);
}

static void it_on_completion(asyncio_future_t *fut, void *arg)
{
    as_completed_t *it = arg;
    if (!it->closed && it->pending && !it->timeouts) {
        it->queue[it->tail++] = fut;
        it->pending--;
        if (!it->pending)
            deadline_cancel(&it->deadline);
        wake_next(it);
    }
    it_unref(it);
}

static void it_unwatch_all(as_completed_t *it)
{
    for (size_t i = 0; i < it->n; i++)
        for (int k = asyncio_remove_done_callback(it->futs[i], it_on_completion, it); k > 0; k--)
            it->refs--; /* never the last: the user's remains */
}

static void it_on_timeout(void *arg)
{
    as_completed_t *it = arg;
    it->deadline.timer = NULL;
    it_unwatch_all(it);
    it->timeouts = it->pending;
    it->pending = 0;
    wake_next(it);
}

asyncio_as_completed_t *asyncio_as_completed(asyncio_future_t *const *futs, size_t n,
                                             double timeout)
{
    if (isnan(timeout)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "timeout must not be NaN");
        return NULL;
    }
    asyncio_loop_t *loop = asyncio__futures_loop(futs, n);
    if (!loop)
        return NULL;
    as_completed_t *it = asyncio__calloc(1, sizeof *it);
    if (!it) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for as_completed");
        return NULL;
    }
    if (!asyncio__handle_give(it, &it->handle, ASYNCIO__H_AS_COMPLETED))
        return NULL;
    it->refs = 1;
    it->loop = loop;
    size_t count = 0;
    if (!(it->futs = distinct(futs, n, &count)) ||
        !(it->queue = asyncio__malloc((count ? count : 1) * sizeof *it->queue)))
        goto nomem;
    for (size_t i = 0; i < count; i++) {
        if (asyncio__add_callback(it->futs[i], it_on_completion, it) != 0) {
            it_unwatch_all(it);
            goto nomem;
        }
        it->refs++;
        it->n++;
        asyncio_incref(it->futs[i]);
    }
    it->pending = count;
    if (count && deadline_start(&it->deadline, loop, timeout, it_on_timeout, it) != 0) {
        it_unwatch_all(it);
        goto nomem;
    }
    return it->handle;
nomem:
    asyncio__handle_retire(it->handle);
    it_unref(it); /* the only count left: the futures it holds go too */
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for as_completed");
    return NULL;
}

static int next_done(asyncio_as_completed_t *handle, asyncio_future_t **done)
{
    as_completed_t *it =
        asyncio__handle_check(handle, ASYNCIO__H_AS_COMPLETED, "as_completed iterator");
    if (!it)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (it->waiter)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "another task is waiting on the as_completed iterator");
    for (;;) {
        if (it->head < it->tail) {
            if (done)
                *done = it->queue[it->head];
            it->head++;
            return 0;
        }
        if (it->timeouts) {
            it->timeouts--;
            return asyncio__raise_code(ASYNCIO_ETIMEDOUT, "%s", "");
        }
        if (!it->pending) {
            if (done)
                *done = NULL;
            return 0;
        }
        if (!(it->waiter = asyncio__future_new(it->loop)))
            return ASYNCIO_ENOMEM;
        it->refs++; /* freeing it meanwhile must not pull it from under us */
        asyncio__task_waits_for(t, &as_completed_wait, it);
        int rc = asyncio__task_wait_private(t, it->waiter);
        asyncio_decref(it->waiter);
        it->waiter = NULL;
        bool closed = it->closed;
        it_unref(it);
        if (rc)
            return rc;
        if (closed)
            return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                       "the as_completed iterator was freed while waiting");
    }
}

int asyncio_as_completed_next(asyncio_as_completed_t *handle, asyncio_future_t **done)
{
    int rc = next_done(handle, done);
    if (rc < 0 && done)
        *done = NULL;
    return rc;
}

void asyncio_as_completed_free(asyncio_as_completed_t *handle)
{
    if (!handle)
        return;
    as_completed_t *it =
        asyncio__handle_check(handle, ASYNCIO__H_AS_COMPLETED, "as_completed iterator");
    if (!it)
        return;
    asyncio__handle_retire(handle);
    it->closed = true;
    deadline_cancel(&it->deadline);
    it_unwatch_all(it);
    wake_next(it); /* a next() waiting returns RuntimeError */
    it_unref(it);
}
