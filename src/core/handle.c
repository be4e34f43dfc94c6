/*
 * The handle table (see handle.h).
 *
 * A handle packs, from the top: the generation, the slot index, the type
 * (never 0, so no handle is NULL).  A live slot holds the very handle it
 * gave out and the object's address; a lookup compares the whole handle
 * with the slot's (handle.h), so a handle of an older generation never
 * matches.  Retiring a slot stores the handle it will give out next, with
 * the next generation and type 0, which matches no handle at all.
 *
 * The table is chunks of slots, made on demand and never freed or moved:
 * a lookup reads a chunk pointer and a slot without a lock.  Free slots
 * form LIFO lists (the slot freed last is warm in the cache): each thread
 * keeps up to CACHE_MAX of its own, so that a timeout scope entered and
 * left on a loop takes no lock, and trades them with the table's list,
 * under the table's mutex, CACHE_MAX / 2 at a time.  A thread that ends
 * gives its slots back.  The chunks come from the C library, not from
 * asyncio_set_allocator's hooks: they live as long as the process, like
 * the exception registry.
 */
#include "core/handle.h"

#include "core/core.h"
#include "testing.h"

#include <stdlib.h>

#define TYPE_BITS ASYNCIO__HANDLE_TYPE_BITS
#define GEN_BITS ASYNCIO__HANDLE_GEN_BITS
#define INDEX_BITS ASYNCIO__HANDLE_INDEX_BITS
#define CHUNK_BITS ASYNCIO__HANDLE_CHUNK_BITS
#define CHUNK ((uintptr_t)1 << CHUNK_BITS)
#define MAX_CHUNKS ASYNCIO__HANDLE_MAX_CHUNKS
#define NO_SLOT UINT32_MAX
#define CACHE_MAX 64

_Static_assert(ASYNCIO__H_NTYPES <= (1 << TYPE_BITS), "handle types overflow their bits");

_Atomic(asyncio__hslot_t *) asyncio__handle_chunks[MAX_CHUNKS];

#define GEN_SHIFT (INDEX_BITS + TYPE_BITS)
#define TYPE_MASK (((uintptr_t)1 << TYPE_BITS) - 1)

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_head = NO_SLOT; /* the table's free slots */
static uintptr_t next_unused;        /* slots below this have been handed out once */

/* This thread's free slots: a LIFO list through their obj words.  The
 * initial-exec model spares the shared library a __tls_get_addr call on
 * every handle, as for the error state. */
#define THREAD_LOCAL _Thread_local __attribute__((tls_model("initial-exec")))
static THREAD_LOCAL uint32_t cache_head = NO_SLOT;
static THREAD_LOCAL uint32_t cache_len;
static THREAD_LOCAL bool cache_registered;
static pthread_key_t cache_key; /* set on threads with a cache: flushed at their exit */
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* A free slot's link in its free list. */
static uint32_t next_of(asyncio__hslot_t *s)
{
    return (uint32_t)atomic_load_explicit(&s->obj, memory_order_relaxed);
}

static void set_next(asyncio__hslot_t *s, uint32_t next)
{
    atomic_store_explicit(&s->obj, next, memory_order_relaxed);
}

static asyncio__hslot_t *slot_at(uintptr_t index)
{
    asyncio__hslot_t *chunk =
        atomic_load_explicit(&asyncio__handle_chunks[index >> CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[index & (CHUNK - 1)] : NULL;
}

/* A never used slot's index, with the table locked; NO_SLOT when the
 * table is full or out of memory. */
static uint32_t new_slot(void)
{
    uintptr_t i = next_unused;
    if (i >> INDEX_BITS || i >= NO_SLOT)
        return NO_SLOT;
    if (!slot_at(i)) {
        asyncio__hslot_t *chunk = calloc(CHUNK, sizeof *chunk);
        if (!chunk)
            return NO_SLOT;
        atomic_store_explicit(&asyncio__handle_chunks[i >> CHUNK_BITS], chunk,
                              memory_order_release);
    }
    /* Generation 0, type 0: matches nothing until given out. */
    atomic_store_explicit(&slot_at(i)->handle, i << TYPE_BITS, memory_order_relaxed);
    next_unused++;
    return (uint32_t)i;
}

/* Moves up to n slots from the table's free list (or never used ones)
 * into this thread's cache. */
static void refill(uint32_t n)
{
    pthread_mutex_lock(&table_lock);
    for (; n; n--) {
        uint32_t i = free_head;
        if (i != NO_SLOT)
            free_head = next_of(slot_at(i));
        else if ((i = new_slot()) == NO_SLOT)
            break;
        set_next(slot_at(i), cache_head);
        cache_head = i;
        cache_len++;
    }
    pthread_mutex_unlock(&table_lock);
}

/* Gives up to n slots of this thread's cache back to the table. */
static void spill(uint32_t n)
{
    pthread_mutex_lock(&table_lock);
    for (; n && cache_head != NO_SLOT; n--) {
        uint32_t i = cache_head;
        asyncio__hslot_t *s = slot_at(i);
        cache_head = next_of(s);
        cache_len--;
        set_next(s, free_head);
        free_head = i;
    }
    pthread_mutex_unlock(&table_lock);
}

static void flush_at_exit(void *unused)
{
    (void)unused;
    spill(UINT32_MAX);
}

static void make_cache_key(void)
{
    pthread_key_create(&cache_key, flush_at_exit);
}

/* Makes sure this thread's cache goes back to the table when it ends. */
static void cache_register(void)
{
    if (ASYNCIO__LIKELY(cache_registered))
        return;
    pthread_once(&cache_key_once, make_cache_key);
    pthread_setspecific(cache_key, &cache_head); /* any non-NULL value */
    cache_registered = true;
}

/* The cache is empty: slots from the table.  Out of line, so that the
 * common path saves no registers. */
static __attribute__((noinline)) bool cache_fill(void)
{
    cache_register();
    refill(CACHE_MAX / 2);
    if (cache_head != NO_SLOT)
        return true;
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a new handle");
    return false;
}

static __attribute__((noinline)) void cache_spill(void)
{
    cache_register();
    spill(CACHE_MAX / 2);
}

void *asyncio__handle_new(void *obj, asyncio__htype_t type)
{
    if (ASYNCIO__UNLIKELY(cache_head == NO_SLOT) && !cache_fill())
        return NULL;
    uint32_t i = cache_head;
    asyncio__hslot_t *s = slot_at(i);
    cache_head = next_of(s);
    cache_len--;
    uintptr_t h = atomic_load_explicit(&s->handle, memory_order_relaxed) | (uintptr_t)type;
    atomic_store_explicit(&s->obj, (uintptr_t)obj, memory_order_relaxed);
    atomic_store_explicit(&s->handle, h, memory_order_release);
    return (void *)h;
}

void *asyncio__handle_give(void *obj, void **field, asyncio__htype_t type)
{
    void *handle = asyncio__handle_new(obj, type);
    if (!handle)
        asyncio__free(obj);
    *field = handle;
    return handle;
}

void *asyncio__handle_refused(const void *handle, const char *what)
{
    if (!handle)
        asyncio__raise_code(ASYNCIO_EVALUE, "the %s is NULL", what);
    else
        asyncio__raise_code(ASYNCIO_EVALUE, "not a live %s (freed, or never one)", what);
    return NULL;
}

void asyncio__handle_retire(const void *handle)
{
    uintptr_t h = (uintptr_t)handle;
    uintptr_t index = (h >> TYPE_BITS) & (((uintptr_t)1 << INDEX_BITS) - 1);
    asyncio__hslot_t *s = h ? slot_at(index) : NULL;
    /* The next generation (wrapping within its bits), type 0.  One
     * retirement per handle, even if two threads race to free it. */
    uintptr_t next = (h & ~TYPE_MASK) + ((uintptr_t)1 << GEN_SHIFT);
    uintptr_t expected = h;
    if (!s || (h & TYPE_MASK) == 0 ||
        !atomic_compare_exchange_strong_explicit(&s->handle, &expected, next, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    set_next(s, cache_head);
    cache_head = (uint32_t)index;
    /* A thread that only retires (another's objects) registers its cache
     * when it spills, or gives its slots back to the table at exit. */
    if (ASYNCIO__UNLIKELY(++cache_len > CACHE_MAX) || ASYNCIO__UNLIKELY(!cache_registered))
        cache_spill();
}

/* The live handles, counted slot by slot (for tests: no counter costs
 * the hot path anything). */
long asyncio__handle_count(void)
{
    long n = 0;
    pthread_mutex_lock(&table_lock);
    for (uintptr_t i = 0; i < next_unused; i++)
        n += (atomic_load_explicit(&slot_at(i)->handle, memory_order_relaxed) & TYPE_MASK) != 0;
    pthread_mutex_unlock(&table_lock);
    return n;
}
