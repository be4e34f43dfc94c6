/*
 * Waiter queues shared by the synchronisation primitives and queues (sync
 * area) and transports (net area); waiters.c has the two functions that
 * suspend.  Nothing here is API.
 *
 * A waiter is a node that lives in the waiting task's frame and is linked
 * into the primitive it waits on, so waiting allocates no list node.  Each
 * waiter awaits one future, taken from the loop's free list, because the
 * future is what cancellation reaches (cancelling a task cancels the future
 * it waits on).  That is the whole cost of a wait: no malloc on the hot
 * path.
 *
 * The lists follow Python's deques of futures: a waiter may stay linked
 * after its future is done (Lock, Event, Condition and Semaphore remove
 * their own waiter when it resumes, as Python's `finally:` clauses do), or
 * be unlinked by whoever wakes it (Queue's `_wakeup_next` pops it).  Either
 * way the waiting task unlinks its node, if still linked, before its frame
 * goes away.
 */
#ifndef CASYNCIO_CORE_WAITERS_H
#define CASYNCIO_CORE_WAITERS_H

#include "core/core.h"

/* A waiting task's node, on its queue's list (linked to itself when on
 * none). */
typedef struct asyncio__waiter {
    asyncio__list_t link;
    asyncio_future_t *fut; /* what the task awaits; done once woken or cancelled */
} asyncio__waiter_t;

/* Waiters, oldest first: the library's one intrusive list. */
typedef struct asyncio__waitq {
    asyncio__list_t list;
} asyncio__waitq_t;

/* Every queue is initialised with its object. */
static inline void asyncio__waitq_init(asyncio__waitq_t *q)
{
    asyncio__list_init(&q->list);
}

static inline bool asyncio__waitq_empty(const asyncio__waitq_t *q)
{
    return asyncio__list_empty(&q->list);
}

/* The oldest waiter, or NULL. */
static inline asyncio__waiter_t *asyncio__waitq_first(const asyncio__waitq_t *q)
{
    return asyncio__waitq_empty(q) ? NULL
                                   : asyncio__container_of(q->list.next, asyncio__waiter_t, link);
}

/* The waiter after w in q, or NULL. */
static inline asyncio__waiter_t *asyncio__waitq_next(const asyncio__waitq_t *q,
                                                     const asyncio__waiter_t *w)
{
    return w->link.next == &q->list ? NULL
                                    : asyncio__container_of(w->link.next, asyncio__waiter_t, link);
}

/* How many waiters q holds (task dumps: linear, never on a hot path). */
static inline size_t asyncio__waitq_len(const asyncio__waitq_t *q)
{
    size_t n = 0;
    for (const asyncio__list_t *l = q->list.next; l != &q->list; l = l->next)
        n++;
    return n;
}

static inline bool asyncio__waiter_linked(const asyncio__waiter_t *w)
{
    return !asyncio__list_empty(&w->link);
}

static inline void asyncio__waitq_append(asyncio__waitq_t *q, asyncio__waiter_t *w)
{
    asyncio__list_insert(&q->list, &w->link);
}

/* Takes w off its queue if it is on one. */
static inline void asyncio__waitq_unlink(asyncio__waiter_t *w)
{
    asyncio__list_remove(&w->link);
}

static inline bool asyncio__waiter_done(const asyncio__waiter_t *w)
{
    return w->fut->state != ASYNCIO__PENDING;
}

static inline bool asyncio__waiter_cancelled(const asyncio__waiter_t *w)
{
    return w->fut->state == ASYNCIO__CANCELLED;
}

/* `fut.set_result(...)` for a waiter not done yet; false if it was done. */
static inline bool asyncio__waiter_wake(asyncio__waiter_t *w)
{
    if (w->fut->state != ASYNCIO__PENDING)
        return false;
    asyncio__future_finish(w->fut, NULL, NULL);
    return true;
}

/* Links w at the tail of q with a fresh future and suspends the task until
 * the future is done.  Returns 0 when it was woken (its future got a
 * result), else a negative code, raised: CancelledError (the task was
 * cancelled while waiting, or just after being woken: then the future has
 * a result but the code is still ECANCELLED, as `await fut` raises in
 * Python), MemoryError (no future: w is not linked).  On return w->fut is
 * done (a future left pending by a refused wait is cancelled, as Python's
 * `fut.cancel()  # just in case`), and w may still be linked: the caller
 * decides what its wake-up meant, then calls asyncio__waiter_end. */
int asyncio__waiter_wait(asyncio__waitq_t *q, asyncio__waiter_t *w, asyncio__task_t *t);

/* Unlinks w if it is still linked and drops its future. */
void asyncio__waiter_end(asyncio__waiter_t *w);

/* Python's _LoopBoundMixin: a primitive is bound to the loop of the first
 * task that waits on it; waiting from another loop raises RuntimeError. */
int asyncio__bind_loop(uint64_t *bound, asyncio__task_t *t, const char *what);

#endif /* CASYNCIO_CORE_WAITERS_H */
