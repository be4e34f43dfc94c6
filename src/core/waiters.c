/*
 * The waiter queues (waiters.h): suspending a task on a primitive's queue
 * and taking it off again.  Shared by the synchronisation primitives and
 * queues (sync area) and by transports (net area).
 */
#include "core/waiters.h"

int asyncio__waiter_wait(asyncio__waitq_t *q, asyncio__waiter_t *w, asyncio__task_t *t)
{
    asyncio__list_init(&w->link);
    w->fut = asyncio__future_new(t->fut.loop);
    if (!w->fut) {
        t->fut.loop->next_wait_kind = NULL; /* what it was to wait on (for dumps) */
        return ASYNCIO_ENOMEM;
    }
    asyncio__waitq_append(q, w);
    int rc = asyncio__task_wait_on(t, w->fut);
    if (w->fut->state == ASYNCIO__PENDING)
        asyncio__future_cancel(w->fut, NULL); /* the wait was refused: nobody woke it */
    if (rc == 0 && w->fut->state == ASYNCIO__CANCELLED)
        rc = asyncio__future_outcome(w->fut, NULL); /* raises its CancelledError */
    return rc;
}

void asyncio__waiter_end(asyncio__waiter_t *w)
{
    asyncio__waitq_unlink(w);
    asyncio_decref(w->fut);
    w->fut = NULL;
}

int asyncio__bind_loop(uint64_t *bound, asyncio__task_t *t, const char *what)
{
    /* By serial, not address: a later loop may reuse a closed one's. */
    uint64_t loop = t->fut.loop->serial;
    if (ASYNCIO__LIKELY(*bound == loop))
        return 0;
    if (!*bound) {
        *bound = loop;
        return 0;
    }
    return asyncio__raise_code(ASYNCIO_ERUNTIME, "%s is bound to a different event loop", what);
}
