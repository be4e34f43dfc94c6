/*
 * call_soon, call_later, call_at and their handles; the timer heap.
 *
 * A scheduled callback is one asyncio__timer_t from the loop's free list.
 * call_soon puts it straight on the ready queue; call_later/call_at put it
 * in a binary min-heap ordered by (deadline, scheduling order) until the
 * loop finds it due.  Cancelling a timer in the heap removes it at once
 * (its heap_index makes that O(log n)), so a million cancelled timeouts
 * cost nothing afterwards; one already on the ready queue is only marked.
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

/* Entries order by deadline, then by scheduling order (read from the
 * timers only when deadlines are equal, which nanoseconds make rare). */
static bool before(const asyncio__heap_item_t *a, const asyncio__heap_item_t *b)
{
    return a->when_ns < b->when_ns || (a->when_ns == b->when_ns && a->timer->seq < b->timer->seq);
}

static void place(asyncio__heap_t *h, size_t i, asyncio__heap_item_t it)
{
    h->items[i] = it;
    it.timer->heap_index = i;
}

static void sift_up(asyncio__heap_t *h, size_t i, asyncio__heap_item_t it)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&it, &h->items[parent]))
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
        if (child >= h->len)
            break;
        if (child + 1 < h->len && before(&h->items[child + 1], &h->items[child]))
            child++;
        if (!before(&h->items[child], &it))
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, it);
}

int asyncio__heap_push(asyncio__heap_t *h, asyncio__timer_t *t)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        asyncio__heap_item_t *grown = asyncio__realloc(h->items, cap * sizeof *grown);
        if (!grown)
            return ASYNCIO_ENOMEM;
        h->items = grown;
        h->cap = cap;
    }
    sift_up(h, h->len++, (asyncio__heap_item_t){t->when_ns, t});
    return 0;
}

void asyncio__heap_remove(asyncio__heap_t *h, asyncio__timer_t *t)
{
    size_t i = t->heap_index;
    asyncio__heap_item_t last = h->items[--h->len];
    t->heap_index = SIZE_MAX;
    if (i == h->len)
        return;
    if (i > 0 && before(&last, &h->items[(i - 1) / 2]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

/* Takes the earliest timer off: its hole goes down to a leaf along the
 * earlier children, one comparison a level, and the last entry (usually
 * among the latest deadlines) goes up from there, usually not far: about
 * half the comparisons of sifting the last entry down from the top. */
asyncio__timer_t *asyncio__heap_pop(asyncio__heap_t *h)
{
    if (!h->len)
        return NULL;
    asyncio__timer_t *t = h->items[0].timer;
    t->heap_index = SIZE_MAX;
    asyncio__heap_item_t last = h->items[--h->len];
    if (h->len) {
        size_t i = 0, child;
        while ((child = 2 * i + 1) < h->len) {
            if (child + 1 < h->len && before(&h->items[child + 1], &h->items[child]))
                child++;
            place(h, i, h->items[child]);
            i = child;
        }
        sift_up(h, i, last);
    }
    return t;
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
