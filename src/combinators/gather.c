/*
 * asyncio.gather.
 *
 * The outer future keeps its children and a result array made up front,
 * so completing cannot fail for want of memory.  Each distinct child gets
 * one done callback, which holds a reference to the outer future until it
 * has run: dropping the gather future early never leaves a callback
 * pointing at freed memory.  Cancelling the outer future cancels the
 * children instead (Python's _GatheringFuture.cancel); it then ends with
 * the CancelledError once they are all done.
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

typedef struct gather {
    asyncio__closer_t closer; /* on the loop's list while callbacks wait */
    asyncio_future_t *outer;
    size_t callbacks; /* child callbacks registered, not yet run */
    size_t n, nunique, nfinished;
    size_t ncompleted; /* distinct children done (their callback run or not) */
    int flags;
    bool cancel_requested;
    bool abandoned;              /* a bad entry made it fail: its callbacks only let go */
    asyncio_future_t **children; /* n references, in argument order */
    void **results;              /* the outer future's result */
} gather_t;

static void gather_free(asyncio_future_t *outer)
{
    gather_t *g = outer->impl;
    asyncio__list_remove(&g->closer.link);
    for (size_t i = 0; i < g->n; i++)
        asyncio_decref(g->children[i]);
    asyncio__free(g->children);
    asyncio__free(g->results);
    asyncio__free(g);
}

/* What a task awaiting a gather waits on, for task dumps. */
static void gather_describe(asyncio_future_t *outer, char *buf, size_t len)
{
    const gather_t *g = outer->impl;
    if (!g)
        snprintf(buf, len, "<gather>");
    else
        snprintf(buf, len, "<gather of %zu, %zu done%s>", g->n, g->nfinished,
                 g->cancel_requested ? ", cancelling" : "");
}

static bool gather_cancel(asyncio_future_t *outer, const char *msg)
{
    gather_t *g = outer->impl;
    if (outer->state != ASYNCIO__PENDING)
        return false;
    bool any = false;
    for (size_t i = 0; i < g->n; i++)
        if (asyncio_cancel(g->children[i], msg))
            any = true;
    if (any)
        g->cancel_requested = true;
    return any;
}

/* The error a child ended with (a cancelled child's CancelledError). */
static asyncio__exc_t *child_error(asyncio_future_t *child)
{
    if (child->state == ASYNCIO__CANCELLED)
        return asyncio__future_cancelled_exc(child);
    child->log_exception = 0; /* gather retrieved it */
    return child->exc;
}

static void fail_with(asyncio_future_t *outer, asyncio__exc_t *e)
{
    asyncio__future_finish(outer, NULL, asyncio__exc_dup(e));
}

static void child_done(asyncio_future_t *child, void *arg)
{
    asyncio_future_t *outer = arg;
    gather_t *g = outer->impl;
    if (--g->callbacks == 0)
        asyncio__list_remove(&g->closer.link);
    g->nfinished++;
    if (g->abandoned) {
        /* Queued before a later entry proved bad: nothing to do. */
    } else if (outer->state != ASYNCIO__PENDING) {
        /* Already failed: whatever this child raised is retrieved here. */
        if (child->state == ASYNCIO__FINISHED)
            child->log_exception = 0;
    } else if (!(g->flags & ASYNCIO_RETURN_EXCEPTIONS) && child_error(child)) {
        fail_with(outer, child_error(child));
    } else if (g->nfinished == g->nunique) {
        asyncio_future_t *last_cancelled = NULL;
        for (size_t i = 0; i < g->n; i++) {
            asyncio_future_t *c = g->children[i];
            bool failed = c->state == ASYNCIO__CANCELLED || child_error(c);
            if (c->state == ASYNCIO__CANCELLED) {
                asyncio_decref(last_cancelled);
                last_cancelled = asyncio_incref(c); /* past the decref below */
            }
            g->results[i] = failed ? NULL : c->result;
            /* Every child is done and its exception retrieved, and no
             * callback is left to take back: the references go now, in
             * the pass that reads them anyway, not in another at free. */
            asyncio_decref(c);
        }
        g->n = 0;
        if (g->cancel_requested && last_cancelled)
            fail_with(outer, asyncio__future_cancelled_exc(last_cancelled));
        else if (g->cancel_requested) /* the children finished despite it */
            asyncio__future_finish(outer, NULL,
                                   asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", ""));
        else
            asyncio__future_finish(outer, g->results, NULL);
        asyncio_decref(last_cancelled);
    }
    asyncio_decref(outer);
}

/* A child completes (before its callback is queued): when another child
 * is still pending and this one cannot fail the gather, its callback
 * would only count it -- done here and now, while the child is at hand,
 * instead of through the ready queue.  Whatever the gather does that can
 * be seen (failing, finishing with the results) still happens in
 * child_done at the callback's place in the queue: a failing child's, or
 * the last child's, which is queued after every callback queued before
 * it (another still pending ensures this one is not the last). */
static bool child_settle(asyncio_future_t *child, void *arg)
{
    asyncio_future_t *outer = arg;
    gather_t *g = outer->impl;
    g->ncompleted++;
    if (g->ncompleted >= g->nunique || g->abandoned || outer->state != ASYNCIO__PENDING ||
        outer->loop->closed)
        return false;
    if (!(g->flags & ASYNCIO_RETURN_EXCEPTIONS) &&
        (child->state == ASYNCIO__CANCELLED || child->exc))
        return false;
    /* child_done's bookkeeping; the outer future outlives it (the pending
     * child's callback holds a reference). */
    g->callbacks--;
    g->nfinished++;
    asyncio_decref(outer);
    return true;
}

/* The loop closes while children are pending: their callbacks, which
 * keep the gather future alive, are taken back (nothing will run them). */
static void gather_close(asyncio__closer_t *c)
{
    gather_t *g = asyncio__container_of(c, gather_t, closer);
    asyncio_future_t *outer = asyncio_incref(g->outer);
    for (size_t i = 0; i < g->n; i++)
        for (int k = asyncio_remove_done_callback(g->children[i], child_done, outer); k > 0; k--) {
            g->callbacks--;
            asyncio_decref(outer);
        }
    asyncio_decref(outer);
}

/* Whether f, pending, already has this gather's callback: then it came
 * earlier in the array.  Registering appends to f's list and nothing else
 * runs meanwhile, so this gather's record, if f has one, is the last. */
static bool registered_pending(asyncio_future_t *f, asyncio_future_t *outer)
{
    if (f->cbs_tailp == &f->cbs)
        return false;
    asyncio__callback_t *last = asyncio__container_of(f->cbs_tailp, asyncio__callback_t, next);
    return last->fn == child_done && last->arg == outer;
}

/* Failed half way, at futs[upto] (out of memory, or a bad entry): the
 * callbacks registered are taken back (those already queued, their child
 * being done, find the outer future finished and only drop their
 * reference -- after a bad entry without even marking the child's
 * exception retrieved: nothing was gathered), the children's references
 * dropped, the marks cleared. */
static void undo_callbacks(asyncio_future_t *const *futs, size_t upto, asyncio_future_t *outer,
                           bool bad_entry)
{
    gather_t *g = outer->impl;
    g->abandoned = bad_entry;
    for (size_t j = 0; j < upto; j++) {
        asyncio_future_t *f = futs[j];
        /* A duplicate finds its record gone: 0. */
        for (int k = asyncio_remove_done_callback(f, child_done, outer); k > 0; k--) {
            g->callbacks--;
            asyncio_decref(outer);
        }
    }
    for (size_t j = 0; j < upto; j++) {
        futs[j]->mark = 0;
        asyncio_decref(futs[j]);
    }
    asyncio__future_finish(outer, NULL, NULL);
}

/* futs[i] for i > 0, checked as asyncio__futures_loop checks it (futs[0]
 * was checked by it): 0, or the code raised. */
static int check_entry(asyncio_future_t *const *futs, size_t i, asyncio_loop_t *loop)
{
    asyncio_future_t *f = futs[i];
    if (ASYNCIO__LIKELY(f && f->magic == ASYNCIO__FUTURE_MAGIC && f->loop == loop))
        return 0;
    if (!f)
        return asyncio__raise_code(ASYNCIO_EVALUE, "futs[%zu] is NULL", i);
    if (!asyncio__future_check(f))
        return ASYNCIO_EVALUE;
    if (f->loop != loop)
        return asyncio__raise_code(ASYNCIO_EVALUE, "futures are tied to different event loops");
    return 0;
}

asyncio_future_t *asyncio_gather_future(asyncio_future_t *const *futs, size_t n, int flags)
{
    /* The first entry decides the loop; the others are checked in the
     * pass that registers them (one pass over the children, not two),
     * and a bad one undoes what came before it. */
    asyncio_loop_t *loop = asyncio__futures_loop(futs, n ? 1 : 0);
    if (!loop)
        return NULL;
    asyncio_future_t *outer = asyncio__future_new(loop);
    if (!outer)
        return NULL;
    gather_t *g = asyncio__calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    static const asyncio__future_ops_t gather_ops = {gather_cancel, gather_free, NULL,
                                                     gather_describe};
    asyncio__list_init(&g->closer.link);
    g->closer.close = gather_close;
    g->outer = outer;
    outer->impl = g;
    outer->ops = &gather_ops;
    if (n == 0) {
        asyncio__future_finish(outer, NULL, NULL);
        return outer;
    }
    g->flags = flags;
    g->children = asyncio__malloc(n * sizeof *g->children);
    g->results = asyncio__calloc(n, sizeof *g->results);
    if (!g->children || !g->results)
        goto nomem;
    /* One pass registers the first occurrence of each child and takes the
     * references: linear whatever n, no sorting.  A pending child seen
     * before has this gather's callback last on its list; a done one
     * (whose callback went straight to the ready queue) is marked, and
     * only then a second pass clears the marks. */
    size_t unique = 0;
    bool marked = false;
    for (size_t i = 0; i < n; i++) {
        asyncio_future_t *f = futs[i];
        if (ASYNCIO__UNLIKELY(i > 0 && check_entry(futs, i, loop) != 0)) {
            undo_callbacks(futs, i, outer, true);
            asyncio_decref(outer);
            return NULL;
        }
        bool seen = f->state == ASYNCIO__PENDING ? registered_pending(f, outer) : f->mark;
        if (!seen) {
            if (asyncio__add_callback_settle(f, child_done, child_settle, outer) != 0) {
                undo_callbacks(futs, i, outer, false);
                goto nomem;
            }
            if (f->state != ASYNCIO__PENDING) {
                f->mark = 1, marked = true;
                g->ncompleted++;
            }
            unique++;
            asyncio_incref(outer); /* released by child_done */
            g->callbacks++;
        }
        g->children[i] = asyncio_incref(f);
    }
    if (marked)
        for (size_t i = 0; i < n; i++)
            futs[i]->mark = 0;
    g->nunique = unique;
    asyncio__list_insert(&loop->closers, &g->closer.link);
    g->n = n;
    return outer;
nomem:
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for gather");
    asyncio_decref(outer);
    return NULL;
}

static int gather(asyncio_future_t *const *futs, size_t n, void **results, int flags)
{
    if (!asyncio__task_or_raise())
        return ASYNCIO_ERUNTIME;
    asyncio_future_t *outer = asyncio_gather_future(futs, n, flags);
    if (!outer)
        return asyncio_error()->code;
    void **values = NULL;
    int rc = asyncio_await(outer, (void **)&values);
    if (rc == 0 && results && n)
        memcpy(results, values, n * sizeof *results);
    asyncio_decref(outer);
    return rc;
}

int asyncio_gather(asyncio_future_t *const *futs, size_t n, void **results, int flags)
{
    int rc = gather(futs, n, results, flags);
    /* Zeroed only now: results may be the very array futs is. */
    if (rc < 0 && results && n)
        memset(results, 0, n * sizeof *results);
    return rc;
}
