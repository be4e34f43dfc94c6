/*
 * Handles: how the objects a caller frees are named to the caller.
 *
 * A lock, queue, session, process, ... is given out not as its address but
 * as a handle: a slot in one process-wide table, a generation and a type,
 * packed into a pointer-sized value that is never dereferenced.  Freeing
 * the object retires the handle (the slot's generation moves on), so a
 * stale handle, freed twice or used after its free, is refused without
 * reading the freed object, and a new object that reuses the slot (or the
 * memory) is never reached through the old handle.  The public types
 * (struct asyncio_lock, ...) are never defined: only handles have them.
 *
 * Cost: a call decodes its handle with two loads from memory that never
 * moves (the table grows by chunks that stay put).  Creating or retiring a
 * handle takes one process-wide mutex.  Lookups take no lock: a handle is
 * used on its object's thread, and the table's words are atomics, so a
 * stale handle read while another thread reuses its slot reads a
 * generation that does not match, never torn memory.
 *
 * Generations are 32 bits on 64-bit targets (8 on 32-bit ones): a slot
 * would have to be reused 2^32 times before a stale handle could match
 * again.
 */
#ifndef CASYNCIO_CORE_HANDLE_H
#define CASYNCIO_CORE_HANDLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a handle names; a handle of one type is refused by the calls of
 * another. */
typedef enum asyncio__htype {
    ASYNCIO__H_LOCK = 1,
    ASYNCIO__H_EVENT,
    ASYNCIO__H_CONDITION,
    ASYNCIO__H_SEMAPHORE,
    ASYNCIO__H_BARRIER,
    ASYNCIO__H_QUEUE,
    ASYNCIO__H_TIMEOUT,
    ASYNCIO__H_HTTP_SESSION,
    ASYNCIO__H_PROCESS,
    ASYNCIO__H_CFUTURE,
    ASYNCIO__H_STREAM,
    ASYNCIO__H_SERVER,
    ASYNCIO__H_TRANSPORT,
    ASYNCIO__H_FILE,
    ASYNCIO__H_HTTP_STREAM,
    ASYNCIO__H_AS_COMPLETED,
    ASYNCIO__H_TASKGROUP,
    ASYNCIO__H_SSL_CONTEXT,
    ASYNCIO__H_DATAGRAM,
    ASYNCIO__H_CONTEXT,
    ASYNCIO__H_CONTEXTVAR,
    ASYNCIO__H_CONTEXTVAR_TOKEN,
    ASYNCIO__H_NTYPES
} asyncio__htype_t;

/* A new handle for obj; NULL and MemoryError raised when the table cannot
 * grow. */
void *asyncio__handle_new(void *obj, asyncio__htype_t type);

/* asyncio__handle_new for an object fresh from asyncio__malloc that holds
 * nothing else yet: stores the handle in *field and returns it; without
 * one frees obj and returns NULL (MemoryError raised). */
void *asyncio__handle_give(void *obj, void **field, asyncio__htype_t type);

/* Retires a live handle: later lookups of it fail.  Call it before the
 * object is freed. */
void asyncio__handle_retire(const void *handle);

/* Raises ValueError for a handle that asyncio__handle_get refused ("the
 * lock is NULL", "not a live lock (freed, or never one)"); NULL. */
void *asyncio__handle_refused(const void *handle, const char *what);

/* ---- lookups, inline: every public call of these types makes one */

#define ASYNCIO__HANDLE_TYPE_BITS 5
#define ASYNCIO__HANDLE_CHUNK_BITS 12
#if UINTPTR_MAX > 0xFFFFFFFFu
#define ASYNCIO__HANDLE_GEN_BITS 32
#else
#define ASYNCIO__HANDLE_GEN_BITS 8
#endif
#define ASYNCIO__HANDLE_INDEX_BITS                                                                 \
    (sizeof(uintptr_t) * 8 - ASYNCIO__HANDLE_GEN_BITS - ASYNCIO__HANDLE_TYPE_BITS)
/* Chunks of slots: enough pointers for every index (2^27 on 64-bit
 * targets, so no bound check is needed). */
#define ASYNCIO__HANDLE_MAX_CHUNKS                                                                 \
    ((size_t)1 << (ASYNCIO__HANDLE_INDEX_BITS - ASYNCIO__HANDLE_CHUNK_BITS))

/* A slot: the live handle it gave out and its object.  A free slot holds
 * the handle it will give out next with type 0 (which no handle has, so
 * nothing matches it) and, in obj, the index of the next free slot. */
typedef struct asyncio__hslot {
    _Atomic uintptr_t handle;
    _Atomic uintptr_t obj; /* the object's address; next free index while free */
} asyncio__hslot_t;

extern __attribute__((visibility("hidden"))) _Atomic(asyncio__hslot_t *) asyncio__handle_chunks[];

/* The slot of a live handle of this type, else NULL.  The slot must hold
 * exactly this handle: its generation and type are in it, so a stale
 * handle, or a handle of another type, never matches. */
static inline asyncio__hslot_t *asyncio__handle_slot(const void *handle, asyncio__htype_t type)
{
    uintptr_t h = (uintptr_t)handle;
    if ((h & ((1u << ASYNCIO__HANDLE_TYPE_BITS) - 1)) != (uintptr_t)type)
        return NULL;
    uintptr_t index =
        (h >> ASYNCIO__HANDLE_TYPE_BITS) & (((uintptr_t)1 << ASYNCIO__HANDLE_INDEX_BITS) - 1);
    asyncio__hslot_t *chunk = atomic_load_explicit(
        &asyncio__handle_chunks[index >> ASYNCIO__HANDLE_CHUNK_BITS], memory_order_acquire);
    if (!chunk)
        return NULL;
    asyncio__hslot_t *s = &chunk[index & (((uintptr_t)1 << ASYNCIO__HANDLE_CHUNK_BITS) - 1)];
    return atomic_load_explicit(&s->handle, memory_order_acquire) == h ? s : NULL;
}

/* The object a live handle of this type names, else NULL (nothing
 * raised). */
static inline void *asyncio__handle_get(const void *handle, asyncio__htype_t type)
{
    asyncio__hslot_t *s = asyncio__handle_slot(handle, type);
    return s ? (void *)atomic_load_explicit(&s->obj, memory_order_relaxed) : NULL;
}

/* The check at the top of every public call: the object, or NULL with
 * ValueError raised; `what` names the type for the message. */
static inline void *asyncio__handle_check(const void *handle, asyncio__htype_t type,
                                          const char *what)
{
    asyncio__hslot_t *s = asyncio__handle_slot(handle, type);
    if (__builtin_expect(s != NULL, 1))
        return (void *)atomic_load_explicit(&s->obj, memory_order_relaxed);
    return asyncio__handle_refused(handle, what);
}

#endif /* CASYNCIO_CORE_HANDLE_H */
