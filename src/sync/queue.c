/*
 * Queues: asyncio.Queue, LifoQueue and PriorityQueue, with Python 3.13's
 * shutdown().
 *
 * The logic is Python's Queue step for step: put waits while the queue is
 * full (and waits again, at the back, if another task filled it first),
 * get waits while it is empty; each successful put wakes the first getter
 * still waiting, each get the first putter, by popping waiters off the
 * front of their list (_wakeup_next).  A waiter cancelled after being woken
 * passes the wake-up on if it could have been used, so no item and no free
 * slot is ever left with nobody told.  Items move between the storage and
 * the caller only in the non-suspending part of put/get, so a cancelled
 * put never delivers its item and a cancelled get never takes one.
 *
 * Storage: a ring buffer (FIFO), an array used as a stack (LIFO), or a
 * binary heap ordered by (cmp(item), arrival number) so that equal items
 * come out first in, first out (priority).  All three grow by doubling;
 * they never shrink before the queue is freed.  NULL is an item like any
 * other.
 *
 * join() waits on what Python's `_finished` Event is: set exactly when no
 * task is unfinished.  Its waiters are kept like an Event's.
 */
#include "core/handle.h"
#include "core/waiters.h"

#include <stdio.h>
#include <string.h>

typedef struct queue queue_t;

enum { KIND_FIFO, KIND_LIFO, KIND_PRIORITY };

/* A heap entry: the item and its arrival number (ties go first in). */
typedef struct prio_entry {
    void *item;
    uint64_t seq;
} prio_entry_t;

struct queue {
    void *handle; /* what the caller holds (handle.h) */
    uint8_t kind;
    bool shutdown;
    size_t maxsize; /* 0: unbounded */
    size_t len;
    size_t cap;  /* slots allocated */
    size_t head; /* FIFO: index of the oldest item (cap is a power of two) */
    union {
        void **items;       /* FIFO ring, LIFO stack */
        prio_entry_t *heap; /* priority */
    } u;
    int (*cmp)(const void *, const void *);
    uint64_t seq;
    size_t unfinished; /* items put and not yet task_done() */
    size_t nwaiting;   /* tasks suspended in put/get/join: woken ones are
                          unlinked but still about to touch the queue */
    uint64_t loop;     /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t getters, putters;
    asyncio__waitq_t joiners; /* waiters of the `finished` event */
};

static asyncio_queue_t *queue_new(size_t maxsize, int kind, int (*cmp)(const void *, const void *))
{
    queue_t *q = asyncio__malloc(sizeof *q);
    if (!q) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a Queue");
        return NULL;
    }
    *q = (queue_t){.kind = (uint8_t)kind, .maxsize = maxsize, .cmp = cmp};
    asyncio__waitq_init(&q->getters);
    asyncio__waitq_init(&q->putters);
    asyncio__waitq_init(&q->joiners);
    return asyncio__handle_give(q, &q->handle, ASYNCIO__H_QUEUE);
}

asyncio_queue_t *asyncio_queue_new(size_t maxsize)
{
    return queue_new(maxsize, KIND_FIFO, NULL);
}

asyncio_queue_t *asyncio_lifo_queue_new(size_t maxsize)
{
    return queue_new(maxsize, KIND_LIFO, NULL);
}

asyncio_queue_t *asyncio_priority_queue_new(size_t maxsize,
                                            int (*cmp)(const void *a, const void *b))
{
    if (!cmp) {
        asyncio__raise_code(ASYNCIO_EVALUE, "cmp is NULL");
        return NULL;
    }
    return queue_new(maxsize, KIND_PRIORITY, cmp);
}

static inline bool q_full(const queue_t *q)
{
    return q->maxsize && q->len >= q->maxsize;
}

/* ------------------------------------------------------------ storage */

/* Makes room for one more item; MemoryError (raised) if it cannot. */
static int grow(queue_t *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 16;
    if (q->maxsize && ncap > q->maxsize && q->kind != KIND_FIFO)
        ncap = q->maxsize > q->cap ? q->maxsize : q->cap + 1;
    size_t esz = q->kind == KIND_PRIORITY ? sizeof(prio_entry_t) : sizeof(void *);
    if (ncap <= q->cap || ncap > SIZE_MAX / esz)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "too many items for a queue");
    void *mem;
    if (q->kind == KIND_FIFO) {
        /* The ring is unrolled into the new buffer, oldest first. */
        void **n = asyncio__malloc(ncap * esz);
        if (!n)
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %zu items in a queue", ncap);
        size_t mask = q->cap - 1;
        for (size_t i = 0; i < q->len; i++)
            n[i] = q->u.items[(q->head + i) & mask];
        asyncio__free(q->u.items);
        q->head = 0;
        mem = n;
    } else {
        mem = asyncio__realloc(q->u.items, ncap * esz);
        if (!mem)
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %zu items in a queue", ncap);
    }
    q->u.items = mem;
    q->cap = ncap;
    return 0;
}

static bool heap_less(const queue_t *q, const prio_entry_t *a, const prio_entry_t *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void heap_push(queue_t *q, void *item)
{
    prio_entry_t *h = q->u.heap;
    prio_entry_t e = {item, q->seq++};
    size_t i = q->len;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(q, &e, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static void *heap_pop(queue_t *q)
{
    prio_entry_t *h = q->u.heap;
    void *top = h[0].item;
    size_t n = q->len - 1; /* entries left */
    prio_entry_t last = h[n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && heap_less(q, &h[child + 1], &h[child]))
            child++;
        if (!heap_less(q, &h[child], &last))
            break;
        h[i] = h[child];
        i = child;
    }
    if (n)
        h[i] = last;
    return top;
}

/* _put: the queue is not full and has room. */
static inline void store(queue_t *q, void *item)
{
    switch (q->kind) {
    case KIND_FIFO:
        q->u.items[(q->head + q->len) & (q->cap - 1)] = item;
        break;
    case KIND_LIFO:
        q->u.items[q->len] = item;
        break;
    default:
        heap_push(q, item);
    }
    q->len++;
}

/* _get: the queue is not empty. */
static inline void *take(queue_t *q)
{
    void *item;
    switch (q->kind) {
    case KIND_FIFO:
        item = q->u.items[q->head];
        q->head = (q->head + 1) & (q->cap - 1);
        break;
    case KIND_LIFO:
        item = q->u.items[q->len - 1];
        break;
    default:
        item = heap_pop(q);
    }
    q->len--;
    return item;
}

/* ------------------------------------------------------------ waking */

/* Pops waiters off the front until one not done yet is woken. */
static inline void wakeup_next(asyncio__waitq_t *wq)
{
    while (!asyncio__waitq_empty(wq)) {
        asyncio__waiter_t *w = asyncio__waitq_first(wq);
        asyncio__waitq_unlink(w);
        if (asyncio__waiter_wake(w))
            break;
    }
}

static void wake_all_popping(asyncio__waitq_t *wq)
{
    while (!asyncio__waitq_empty(wq)) {
        asyncio__waiter_t *w = asyncio__waitq_first(wq);
        asyncio__waitq_unlink(w);
        asyncio__waiter_wake(w);
    }
}

/* The `finished` event is set: wake every joiner not woken yet. */
static void set_finished(queue_t *q)
{
    for (asyncio__waiter_t *w = asyncio__waitq_first(&q->joiners); w;
         w = asyncio__waitq_next(&q->joiners, w))
        asyncio__waiter_wake(w);
}

/* ------------------------------------------------------------ put / get */

static int put_nowait(queue_t *q, void *item)
{
    if (ASYNCIO__UNLIKELY(q->shutdown))
        return asyncio__raise_code(ASYNCIO_EQUEUESHUTDOWN, "queue is shut down");
    if (ASYNCIO__UNLIKELY(q_full(q)))
        return asyncio__raise_code(ASYNCIO_EQUEUEFULL, "queue is full");
    if (ASYNCIO__UNLIKELY(q->len == q->cap)) {
        int rc = grow(q);
        if (rc)
            return rc;
    }
    store(q, item);
    q->unfinished++;
    wakeup_next(&q->getters);
    return 0;
}

static int get_nowait(queue_t *q, void **item)
{
    if (ASYNCIO__UNLIKELY(q->len == 0)) {
        if (q->shutdown)
            return asyncio__out_fail(
                asyncio__raise_code(ASYNCIO_EQUEUESHUTDOWN, "queue is shut down"), item);
        return asyncio__out_fail(asyncio__raise_code(ASYNCIO_EQUEUEEMPTY, "queue is empty"), item);
    }
    void *it = take(q);
    if (item)
        *item = it;
    wakeup_next(&q->putters);
    return 0;
}

/* What a task waits on, for task dumps: the queue as Python's repr shows
 * it. */
static void describe_queue(const void *obj, char *buf, size_t len)
{
    const queue_t *q = obj;
    static const char *const kinds[] = {"Queue", "LifoQueue", "PriorityQueue"};
    snprintf(buf, len, "<%s %p maxsize=%zu qsize=%zu getters[%zu] putters[%zu] tasks=%zu%s>",
             kinds[q->kind], q->handle, q->maxsize, q->len, asyncio__waitq_len(&q->getters),
             asyncio__waitq_len(&q->putters), q->unfinished, q->shutdown ? " shutdown" : "");
}

static const asyncio__wait_kind_t get_wait = {"Queue.get()", describe_queue};
static const asyncio__wait_kind_t put_wait = {"Queue.put()", describe_queue};
static const asyncio__wait_kind_t join_wait = {"Queue.join()", describe_queue};

/* One wait of put (list: putters, `ready` means not full) or get (getters,
 * not empty), with Python's clean-up when it fails. */
static int wait_turn(queue_t *q, asyncio__waitq_t *wq, asyncio__task_t *t, bool getting)
{
    int rc = asyncio__bind_loop(&q->loop, t, "Queue");
    if (rc)
        return rc;
    asyncio__waiter_t w;
    q->nwaiting++;
    asyncio__task_waits_for(t, getting ? &get_wait : &put_wait, q);
    rc = asyncio__waiter_wait(wq, &w, t);
    q->nwaiting--;
    if (rc) {
        bool woken = w.fut && w.fut->state == ASYNCIO__FINISHED;
        asyncio__waiter_end(&w);
        /* Woken, then cancelled before using the wake-up: hand it to the
         * next waiter if what it was woken for is still there. */
        bool ready = getting ? q->len > 0 : !q_full(q);
        if (woken && ready)
            wakeup_next(wq);
        return rc;
    }
    asyncio__waiter_end(&w);
    return 0;
}

int asyncio_queue_put(asyncio_queue_t *handle, void *item)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    while (q_full(queue)) {
        if (queue->shutdown)
            return asyncio__raise_code(ASYNCIO_EQUEUESHUTDOWN, "queue is shut down");
        int rc = wait_turn(queue, &queue->putters, t, false);
        if (rc)
            return rc;
    }
    int rc = put_nowait(queue, item);
    if (rc == ASYNCIO_ENOMEM && !q_full(queue))
        wakeup_next(&queue->putters); /* the free slot this one was woken for */
    return rc;
}

static int queue_get(asyncio_queue_t *handle, void **item)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    while (queue->len == 0) {
        if (queue->shutdown)
            return asyncio__raise_code(ASYNCIO_EQUEUESHUTDOWN, "queue is shut down");
        int rc = wait_turn(queue, &queue->getters, t, true);
        if (rc)
            return rc;
    }
    return get_nowait(queue, item);
}

int asyncio_queue_get(asyncio_queue_t *handle, void **item)
{
    int rc = queue_get(handle, item);
    return rc < 0 ? asyncio__out_fail(rc, item) : rc;
}

int asyncio_queue_put_nowait(asyncio_queue_t *handle, void *item)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return ASYNCIO_EVALUE;
    return put_nowait(queue, item);
}

int asyncio_queue_get_nowait(asyncio_queue_t *handle, void **item)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return asyncio__out_fail(ASYNCIO_EVALUE, item);
    return get_nowait(queue, item);
}

/* ------------------------------------------------------------ join */

int asyncio_queue_task_done(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return ASYNCIO_EVALUE;
    if (queue->unfinished == 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "task_done() called too many times");
    if (--queue->unfinished == 0)
        set_finished(queue);
    return 0;
}

int asyncio_queue_join(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (queue->unfinished == 0)
        return 0;
    int rc = asyncio__bind_loop(&queue->loop, t, "Queue");
    if (rc)
        return rc;
    asyncio__waiter_t w;
    queue->nwaiting++;
    asyncio__task_waits_for(t, &join_wait, queue);
    rc = asyncio__waiter_wait(&queue->joiners, &w, t);
    queue->nwaiting--;
    asyncio__waiter_end(&w);
    return rc;
}

/* ------------------------------------------------------------ state */

size_t asyncio_queue_qsize(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return 0;
    return queue->len;
}

size_t asyncio_queue_maxsize(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return 0;
    return queue->maxsize;
}

bool asyncio_queue_empty(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return false;
    return queue->len == 0;
}

bool asyncio_queue_full(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return false;
    return q_full(queue);
}

bool asyncio_queue_is_shutdown(asyncio_queue_t *handle)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return false;
    return queue->shutdown;
}

void asyncio_queue_shutdown(asyncio_queue_t *handle, bool immediate)
{
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return;
    queue->shutdown = true;
    if (immediate) {
        /* Dropped items count as done, as 3.13 does. */
        while (queue->len) {
            take(queue);
            if (queue->unfinished > 0)
                queue->unfinished--;
        }
        if (queue->unfinished == 0)
            set_finished(queue);
    }
    /* Every blocked get and put re-checks and raises QueueShutDown (gets
     * only once the queue is empty). */
    wake_all_popping(&queue->getters);
    wake_all_popping(&queue->putters);
}

void asyncio_queue_free(asyncio_queue_t *handle)
{
    if (!handle)
        return;
    queue_t *queue = asyncio__handle_check(handle, ASYNCIO__H_QUEUE, "queue");
    if (!queue)
        return;
    if (queue->nwaiting) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "cannot free a Queue that tasks are waiting on");
        return;
    }
    asyncio__handle_retire(handle);
    asyncio__free(queue->u.items);
    asyncio__free(queue);
}
