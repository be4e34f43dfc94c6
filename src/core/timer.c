/*
 * call_soon, call_later, call_at and their handles; the timer heap.
 *
 * A scheduled callback is one asyncio__timer_t from the loop's free list.
 * call_soon puts it straight on the ready queue; call_later/call_at put it
 * among the pending deadlines, ordered by (deadline, scheduling order),
 * until the loop finds it due: in a run of deadlines that came in order
 * (O(1) in and out: the common case of timers sharing a delay) or else in
 * a binary min-heap (core.h, asyncio__heap_t).  Cancelling a pending timer
 * removes it at once (its heap_index says where), so a million cancelled
 * timeouts cost nothing afterwards; one already on the ready queue is only
 * marked.
 *
 * Handles carry the timer's address and a 64-bit id that is never reused:
 * the id is cleared when the callback runs or is cancelled, so a stale
 * handle compares unequal and is harmless.  For that the memory behind a
 * handle must stay readable: timers come in chunks that the loop frees
 * only when it closes.
 */
#include "core/core.h"

#include <math.h>

/* ------------------------------------------------------------ heap */

static void place(asyncio__heap_t *h, size_t i, asyncio__heap_item_t it)
{
    h->items[i] = it;
    it.timer->heap_index = i;
}

static void sift_up(asyncio__heap_t *h, size_t i, asyncio__heap_item_t it)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!asyncio__heap_before(&it, &h->items[parent]))
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, it);
}

static void sift_down(asyncio__heap_t *h, size_t i, asyncio__heap_item_t it)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && asyncio__heap_before(&h->items[child + 1], &h->items[child]))
            child++;
        if (!asyncio__heap_before(&h->items[child], &it))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, it);
}

static int heap_insert(asyncio__heap_t *h, asyncio__heap_item_t it)
{
    if (h->n == h->cap) {
        size_t cap = h->cap * 2;
        asyncio__heap_item_t *grown = asyncio__realloc(h->items, cap * sizeof *grown);
        if (!grown)
            return ASYNCIO_ENOMEM;
        h->items = grown;
        h->cap = cap;
    }
    sift_up(h, h->n++, it);
    return 0;
}

static void heap_delete(asyncio__heap_t *h, size_t i)
{
    asyncio__heap_item_t last = h->items[--h->n];
    if (i == h->n)
        return;
    if (i > 0 && asyncio__heap_before(&last, &h->items[(i - 1) / 2]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

/* Takes the heap's earliest entry off: its hole goes down to a leaf along
 * the earlier children, one comparison a level, and the last entry
 * (usually among the latest deadlines) goes up from there, usually not
 * far: about half the comparisons of sifting the last entry down from the
 * top. */
static void heap_delete_top(asyncio__heap_t *h)
{
    asyncio__heap_item_t last = h->items[--h->n];
    if (!h->n)
        return;
    size_t i = 0, child;
    while ((child = 2 * i + 1) < h->n) {
        if (child + 1 < h->n && asyncio__heap_before(&h->items[child + 1], &h->items[child]))
            child++;
        place(h, i, h->items[child]);
        i = child;
    }
    sift_up(h, i, last);
}

/* ------------------------------------------------------------ the run */

static asyncio__heap_item_t *run_at(const asyncio__heap_t *h, size_t pos)
{
    return &h->run[pos & (h->run_cap - 1)];
}

/* A full ring doubled; every entry keeps its position. */
static int run_grow(asyncio__heap_t *h)
{
    size_t cap = h->run_cap * 2;
    asyncio__heap_item_t *grown = asyncio__malloc(cap * sizeof *grown);
    if (!grown)
        return ASYNCIO_ENOMEM;
    for (size_t p = h->run_head; p != h->run_tail; p++)
        grown[p & (cap - 1)] = *run_at(h, p);
    asyncio__free(h->run);
    h->run = grown;
    h->run_cap = cap;
    return 0;
}

/* Appends a deadline at or after the tail's, if there is room. */
static int run_append(asyncio__heap_t *h, asyncio__heap_item_t it)
{
    if (h->run_tail - h->run_head == h->run_cap && run_grow(h) < 0)
        return ASYNCIO_ENOMEM;
    *run_at(h, h->run_tail) = it;
    it.timer->heap_index = ASYNCIO__IN_RUN | h->run_tail;
    h->run_tail++;
    h->run_live++;
    return 0;
}

/* The timers moved together from the head on, holes dropped: the ring
 * holds at most about twice its timers, however many were cancelled in
 * the middle (a timeout per request, most cancelled when the request
 * ends while older ones are still waiting). */
static void run_compact(asyncio__heap_t *h)
{
    size_t to = h->run_head;
    for (size_t p = h->run_head; p != h->run_tail; p++) {
        asyncio__heap_item_t it = *run_at(h, p);
        if (!it.timer)
            continue;
        *run_at(h, to) = it;
        it.timer->heap_index = ASYNCIO__IN_RUN | to;
        to++;
    }
    h->run_tail = to;
}

static void run_delete(asyncio__heap_t *h, size_t pos)
{
    run_at(h, pos)->timer = NULL;
    h->run_live--;
    while (h->run_head != h->run_tail && !run_at(h, h->run_head)->timer)
        h->run_head++;
    while (h->run_head != h->run_tail && !run_at(h, h->run_tail - 1)->timer)
        h->run_tail--;
    if (h->run_tail - h->run_head > 2 * h->run_live + 64)
        run_compact(h);
}

/* ------------------------------------------------------------ both */

#define INITIAL_ENTRIES 64

/* The heap's and the run's first arrays, made together by the first timer:
 * until either part outgrows them, a timer allocates nothing wherever its
 * deadline goes. */
static __attribute__((noinline)) int arrays_new(asyncio__heap_t *h)
{
    h->items = asyncio__malloc(INITIAL_ENTRIES * sizeof *h->items);
    h->run = asyncio__malloc(INITIAL_ENTRIES * sizeof *h->run);
    if (!h->items || !h->run) {
        asyncio__heap_free(h);
        return ASYNCIO_ENOMEM;
    }
    h->cap = h->run_cap = INITIAL_ENTRIES;
    return 0;
}

/* The earlier of the heap's top and the run's head. */
static asyncio__timer_t *earliest(const asyncio__heap_t *h)
{
    if (h->run_head == h->run_tail)
        return h->n ? h->items[0].timer : NULL;
    const asyncio__heap_item_t *head = run_at(h, h->run_head);
    if (h->n && asyncio__heap_before(&h->items[0], head))
        return h->items[0].timer;
    return head->timer;
}

/* A timer just added is the first if it comes before the first (only
 * then can it: the fronts' order among the others is unchanged). */
static void note_added(asyncio__heap_t *h, asyncio__timer_t *t)
{
    asyncio__heap_item_t it = {t->when_ns, t}, first;
    if (h->first) {
        first = (asyncio__heap_item_t){h->first->when_ns, h->first};
        if (!asyncio__heap_before(&it, &first))
            return;
    }
    h->first = t;
}

/* Where the run cannot take it (out of order, or the ring is full and
 * cannot grow): the heap. */
static __attribute__((noinline)) int push_slow(asyncio__heap_t *h, asyncio__timer_t *t,
                                                bool in_order)
{
    asyncio__heap_item_t it = {t->when_ns, t};
    if ((in_order && run_append(h, it) == 0) || heap_insert(h, it) == 0) {
        h->len++;
        note_added(h, t);
        return 0;
    }
    return ASYNCIO_ENOMEM;
}

int asyncio__heap_push(asyncio__heap_t *h, asyncio__timer_t *t)
{
    if (ASYNCIO__UNLIKELY(!h->items) && arrays_new(h) < 0)
        return ASYNCIO_ENOMEM;
    size_t tail = h->run_tail, mask = h->run_cap - 1;
    /* A later seq orders it after the tail's timer at an equal deadline. */
    bool in_order = tail == h->run_head || t->when_ns >= h->run[(tail - 1) & mask].when_ns;
    if (ASYNCIO__UNLIKELY(!in_order || tail - h->run_head == h->run_cap))
        return push_slow(h, t, in_order);
    h->run[tail & mask] = (asyncio__heap_item_t){t->when_ns, t};
    t->heap_index = ASYNCIO__IN_RUN | tail;
    h->run_tail = tail + 1;
    h->run_live++;
    h->len++;
    if (h->len == 1)
        h->first = t; /* alone */
    else if (tail == h->run_head)
        note_added(h, t); /* else after the run's tail, so not first */
    return 0;
}

void asyncio__heap_remove(asyncio__heap_t *h, asyncio__timer_t *t)
{
    size_t i = t->heap_index;
    t->heap_index = SIZE_MAX;
    if (--h->len == 0) { /* the last one: the common case of one timeout at a time */
        h->n = 0;
        h->run_head = h->run_tail = 0;
        h->run_live = 0;
        h->first = NULL;
        return;
    }
    if (i & ASYNCIO__IN_RUN)
        run_delete(h, i & ~ASYNCIO__IN_RUN);
    else
        heap_delete(h, i);
    if (t == h->first)
        h->first = earliest(h);
}

asyncio__timer_t *asyncio__heap_pop(asyncio__heap_t *h)
{
    asyncio__timer_t *t = h->first;
    if (!t)
        return NULL;
    if (h->len == 1) {
        asyncio__heap_remove(h, t);
        return t;
    }
    size_t i = t->heap_index;
    t->heap_index = SIZE_MAX;
    h->len--;
    if (i & ASYNCIO__IN_RUN)
        run_delete(h, i & ~ASYNCIO__IN_RUN);
    else
        heap_delete_top(h);
    h->first = earliest(h);
    return t;
}

void asyncio__heap_free(asyncio__heap_t *h)
{
    asyncio__free(h->items);
    asyncio__free(h->run);
    *h = (asyncio__heap_t){0};
}

/* ------------------------------------------------------------ timers */

#define TIMERS_PER_CHUNK 64

typedef struct timer_chunk {
    struct timer_chunk *next;
    asyncio__timer_t timers[TIMERS_PER_CHUNK];
} timer_chunk_t;

/* The free list is empty: a chunk of timers.  Out of line, so that taking
 * a free timer stays a few instructions. */
static __attribute__((noinline)) asyncio__timer_t *timer_chunk_new(asyncio_loop_t *loop)
{
    timer_chunk_t *c = asyncio__malloc(sizeof *c);
    if (!c)
        return NULL;
    c->next = loop->timer_chunks;
    loop->timer_chunks = c;
    for (int i = TIMERS_PER_CHUNK - 1; i > 0; i--) {
        c->timers[i].id = 0;
        asyncio__freelist_put(&loop->free_timers, &c->timers[i]);
    }
    return &c->timers[0];
}

static asyncio__timer_t *timer_alloc(asyncio_loop_t *loop)
{
    asyncio__timer_t *t = asyncio__freelist_get(&loop->free_timers);
    return ASYNCIO__LIKELY(t) ? t : timer_chunk_new(loop);
}

static void timer_free(asyncio__timer_t *t)
{
    if (t->in_context) {
        t->in_context = 0;
        asyncio__cnode_decref(t->ctxmap);
    }
    t->id = 0;
    asyncio__freelist_put(&t->loop->free_timers, t);
}

void asyncio__timers_free(asyncio_loop_t *loop)
{
    for (timer_chunk_t *c = loop->timer_chunks, *next; c; c = next) {
        next = c->next;
        asyncio__free(c);
    }
    loop->timer_chunks = NULL;
    loop->free_timers.head = NULL;
    loop->free_timers.len = 0;
}

static void run_timer(asyncio__ready_t *r)
{
    asyncio__timer_t *t = asyncio__container_of(r, asyncio__timer_t, ready);
    if (!t->cancelled && !t->loop->closed) {
        t->id = 0;
        if (t->in_context)
            asyncio__context_call(t->ctxmap, t->fn, t->arg);
        else
            t->fn(t->arg);
    }
    timer_free(t);
}

asyncio__timer_t *asyncio__timer_start(asyncio_loop_t *loop, uint64_t when_ns,
                                       asyncio_callback_fn fn, void *arg)
{
    asyncio__timer_t *t = timer_alloc(loop);
    if (!t)
        goto nomem;
    t->ready.run = run_timer;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->id = ++loop->handle_seq;
    t->cancelled = 0;
    t->in_context = 0;
    t->heap_index = SIZE_MAX;
    if (when_ns == 0) {
        asyncio__ready_push(loop, &t->ready);
        return t;
    }
    t->when_ns = when_ns;
    t->seq = ++loop->timer_seq;
    if (asyncio__heap_push(&loop->timers, t) == 0)
        return t;
    timer_free(t);
nomem:
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a callback");
    return NULL;
}

bool asyncio__timer_cancel(asyncio__timer_t *t, uint64_t id)
{
    if (!t || !id || t->id != id)
        return false;
    t->id = 0;
    if (t->heap_index != SIZE_MAX) {
        asyncio__heap_remove(&t->loop->timers, t);
        timer_free(t);
    } else {
        t->cancelled = 1; /* on the ready queue: freed when the loop reaches it */
    }
    return true;
}

void asyncio__timers_drop(asyncio_loop_t *loop)
{
    asyncio__timer_t *t;
    while ((t = asyncio__heap_pop(&loop->timers)))
        timer_free(t);
}

/* ------------------------------------------------------------ public API */

static const asyncio_handle_t invalid_handle = {NULL, 0};

static asyncio_loop_t *loop_for(asyncio_loop_t *loop, asyncio_callback_fn fn)
{
    if (!fn) {
        asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
        return NULL;
    }
    if (!loop && !(loop = asyncio__loop_get())) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    /* A loop closed, or never one, as Python's closed loop says. */
    if (!asyncio__loop_live(loop) || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        return NULL;
    }
    return loop;
}

static asyncio_handle_t schedule(asyncio_loop_t *loop, uint64_t when_ns, asyncio_callback_fn fn,
                                 void *arg)
{
    asyncio__timer_t *t = asyncio__timer_start(loop, when_ns, fn, arg);
    if (!t)
        return invalid_handle;
    /* Python's Handle: the callback runs in a copy of the context current
     * now. */
    t->ctxmap = asyncio__context_capture();
    t->in_context = 1;
    return (asyncio_handle_t){t, t->id};
}

asyncio_handle_t asyncio_call_soon(asyncio_loop_t *loop, asyncio_callback_fn fn, void *arg)
{
    if (!(loop = loop_for(loop, fn)))
        return invalid_handle;
    return schedule(loop, 0, fn, arg);
}

/* Deadline in ns for `when` seconds of asyncio_loop_time(); never 0, which
 * means "ready now" to asyncio__timer_start. */
static uint64_t deadline_ns(double when)
{
    if (when <= 0)
        return 1;
    if (when >= 1.8e10) /* ~570 years: further is never */
        return UINT64_MAX;
    uint64_t ns = (uint64_t)(when * 1e9);
    return ns ? ns : 1;
}

asyncio_handle_t asyncio_call_at(asyncio_loop_t *loop, double when, asyncio_callback_fn fn,
                                 void *arg)
{
    if (!(loop = loop_for(loop, fn)))
        return invalid_handle;
    if (isnan(when)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "when must not be NaN");
        return invalid_handle;
    }
    return schedule(loop, deadline_ns(when), fn, arg);
}

asyncio_handle_t asyncio_call_later(asyncio_loop_t *loop, double delay, asyncio_callback_fn fn,
                                    void *arg)
{
    if (!(loop = loop_for(loop, fn)))
        return invalid_handle;
    if (isnan(delay)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "delay must not be NaN");
        return invalid_handle;
    }
    if (delay < 0) {
        asyncio__raise_code(ASYNCIO_EVALUE, "delay must be >= 0, not %g", delay);
        return invalid_handle;
    }
    uint64_t now = asyncio__now_ns();
    double d = delay * 1e9;
    uint64_t when = d >= (double)(UINT64_MAX - now) ? UINT64_MAX : now + (uint64_t)d;
    return schedule(loop, when, fn, arg);
}

bool asyncio_handle_cancel(asyncio_handle_t h)
{
    return asyncio__timer_cancel(h.ptr, h.id);
}

bool asyncio_handle_valid(asyncio_handle_t h)
{
    return h.ptr != NULL && h.id != 0;
}
