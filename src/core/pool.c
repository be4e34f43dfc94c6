/*
 * Object pools: the free lists of a loop's tasks and futures, and the
 * memory behind them.
 *
 * A task or future that is gone goes on its loop's free list and the next
 * one takes it; what a burst left and nobody took for a while goes back
 * when the loop idles (asyncio__freelist_trim), so memory returns after
 * bursts.  Taking and putting are a few instructions, whatever the
 * objects came from.
 *
 * Where new objects come from depends on the allocator.  With one the
 * program set (asyncio_set_allocator) each object is an allocation of its
 * own, so that every one can be counted or made to fail.  With the default
 * one they are carved from slabs the pool maps itself, because an object
 * allocated alone costs a page fault per 4 KiB of them: a task is ~300
 * bytes, and the kernel commits a page at its first touch, at 1.6-10 us a
 * page on the virtual machines measured (bench/cold, page_fault_ns), more
 * than a task's whole life.  A slab's pages are committed by one call
 * (MADV_POPULATE_WRITE), and a slab of 2 MiB is asked to be one huge page
 * (MADV_HUGEPAGE).  Slabs grow from 64 KiB, doubling with each slab the
 * pool holds, up to 2 MiB: a small program commits 64 KiB per pool, a
 * burst of 100,000 tasks gets mostly huge pages.
 *
 * Every slab starts at a 2 MiB boundary, whatever its size, so an object
 * finds its slab by masking its address.  Objects are carved in address
 * order as they are first needed.  A slab goes back to the system once
 * every object carved from it is on the free list: when the loop idles
 * (beyond the objects kept), when it closes, and, for objects that
 * outlived their loop (a task the program still holds), with the loop's
 * last reference (asyncio__freelist_destroy).
 *
 * A 2 MiB slab asks for a huge page; where the kernel compacts memory for
 * them on demand (THP defrag "madvise"), mapping one may wait for that,
 * which only pools past ~2 MiB of objects ever do.
 *
 * AddressSanitizer builds carve nothing: every object is its own malloc,
 * which is what its leak and overflow checks see.  Valgrind sees a slab
 * as one mapping, not its objects; the test suites' counting allocator
 * makes every object an allocation of its own, so their Valgrind runs
 * still see each.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include "core/core.h"
#include "testing.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define SLAB_ALIGN ((size_t)2 << 20) /* and the largest slab */
#define SLAB_FIRST ((size_t)64 << 10)
#define SLAB_HEADER 64 /* bytes before the first object: one cache line */

struct asyncio__slab {
    asyncio__slab_t *next;
    size_t bytes;    /* mapped */
    uint32_t carved; /* objects carved from it so far */
    uint32_t nfree;  /* a trim's count of its objects on the free list */
};

static atomic_long slabs_mapped; /* in the process (tests) */

long asyncio__slab_count(void)
{
    return atomic_load_explicit(&slabs_mapped, memory_order_relaxed);
}

static void slab_unmap(asyncio__slab_t *s)
{
    atomic_fetch_sub_explicit(&slabs_mapped, 1, memory_order_relaxed);
    munmap(s, s->bytes);
}

static asyncio__slab_t *slab_of(const void *obj)
{
    return (asyncio__slab_t *)((uintptr_t)obj & ~(uintptr_t)(SLAB_ALIGN - 1));
}

void asyncio__freelist_init(asyncio__freelist_t *fl, size_t obj_size)
{
    fl->obj_size = (obj_size + 15) & ~(size_t)15;
#ifdef ASYNCIO__ASAN
    fl->slabs = false;
#else
    fl->slabs = asyncio__allocator_is_default();
#endif
}

void *asyncio__freelist_get(asyncio__freelist_t *fl)
{
    void *obj = fl->head;
    if (obj) {
        fl->head = *(void **)obj;
        if (--fl->len < fl->low_water)
            fl->low_water = fl->len;
    }
    return obj;
}

void asyncio__freelist_put(asyncio__freelist_t *fl, void *obj)
{
    *(void **)obj = fl->head;
    fl->head = obj;
    fl->len++;
}

/* ------------------------------------------------------------ slabs */

/* A mapping of bytes at a SLAB_ALIGN boundary, committed; NULL when the
 * system has no memory for it. */
static void *map_aligned(size_t bytes)
{
    size_t span = bytes + SLAB_ALIGN;
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *at = (char *)(((uintptr_t)p + SLAB_ALIGN - 1) & ~(uintptr_t)(SLAB_ALIGN - 1));
    if (at > p)
        munmap(p, (size_t)(at - p));
    if (at + bytes < p + span)
        munmap(at + bytes, (size_t)(p + span - (at + bytes)));
#ifdef MADV_HUGEPAGE
    if (bytes == SLAB_ALIGN)
        madvise(at, bytes, MADV_HUGEPAGE);
#endif
    /* One call commits what would otherwise be a fault per page; a kernel
     * without it (before 5.14) faults them in as they are carved. */
    madvise(at, bytes, MADV_POPULATE_WRITE);
    return at;
}

/* A new slab for fl, the one carved from now on; false without memory. */
static bool slab_new(asyncio__freelist_t *fl)
{
    size_t bytes = SLAB_FIRST << (fl->nslabs < 5 ? fl->nslabs : 5);
    asyncio__slab_t *s = map_aligned(bytes);
    if (!s)
        return false;
    s->next = fl->slab_list;
    s->bytes = bytes;
    s->carved = 0;
    fl->slab_list = s;
    fl->nslabs++;
    atomic_fetch_add_explicit(&slabs_mapped, 1, memory_order_relaxed);
    fl->carve = (char *)s + SLAB_HEADER;
    fl->carve_end = (char *)s + bytes;
    return true;
}

void *asyncio__freelist_new(asyncio__freelist_t *fl)
{
    if (!fl->slabs)
        return asyncio__malloc(fl->obj_size);
    if ((size_t)(fl->carve_end - fl->carve) < fl->obj_size && !slab_new(fl))
        return NULL;
    void *obj = fl->carve;
    fl->carve += fl->obj_size;
    slab_of(obj)->carved++;
    return obj;
}

void asyncio__freelist_release(asyncio__freelist_t *fl, void *obj)
{
    if (fl->slabs)
        asyncio__freelist_put(fl, obj); /* the slab goes with the loop */
    else
        asyncio__free(obj);
}

/* Gives back the slabs whose objects are all on the free list, as long as
 * that frees at most `budget` objects: unmaps them and takes their objects
 * off the list.  The slab being carved goes too when `all`. */
static void slabs_release(asyncio__freelist_t *fl, size_t budget, bool all)
{
    for (asyncio__slab_t *s = fl->slab_list; s; s = s->next)
        s->nfree = 0;
    for (void *obj = fl->head; obj; obj = *(void **)obj)
        slab_of(obj)->nfree++;
    /* Which go: nfree becomes UINT32_MAX for them. */
    bool any = false;
    char *carving = fl->carve_end ? fl->carve_end - 1 : NULL;
    for (asyncio__slab_t *s = fl->slab_list; s; s = s->next) {
        bool current = carving && slab_of(carving) == s;
        if (s->nfree == s->carved && s->carved <= budget && (all || !current)) {
            budget -= s->carved;
            s->nfree = UINT32_MAX;
            any = true;
        }
    }
    if (!any)
        return;
    void **link = &fl->head;
    while (*link) {
        if (slab_of(*link)->nfree == UINT32_MAX) {
            *link = *(void **)*link;
            fl->len--;
        } else {
            link = (void **)*link;
        }
    }
    for (asyncio__slab_t **at = &fl->slab_list, *s; (s = *at);) {
        if (s->nfree != UINT32_MAX) {
            at = &s->next;
            continue;
        }
        *at = s->next;
        if (carving && slab_of(carving) == s)
            fl->carve = fl->carve_end = NULL;
        fl->nslabs--;
        slab_unmap(s);
    }
}

/* ------------------------------------------------------------ trimming */

bool asyncio__freelist_trim(asyncio__freelist_t *fl, size_t keep)
{
    size_t len = fl->len;
    size_t idle = fl->low_water < len ? fl->low_water : len;
    if (!fl->slabs) {
        for (; idle > keep; idle--)
            asyncio__free(asyncio__freelist_get(fl));
        fl->low_water = fl->len;
        return fl->len > keep;
    }
    if (idle > keep)
        slabs_release(fl, idle - keep, false);
    fl->low_water = fl->len;
    /* What stayed free a whole period and is still here is held by slabs
     * that other objects keep: trimming again changes nothing until the
     * loop runs.  Only objects that came back during the period may go at
     * the next trim (an idle loop must not wake up for nothing). */
    return idle < len && fl->len > keep;
}

bool asyncio__freelist_refilled(const asyncio__freelist_t *fl, size_t keep)
{
    return fl->len > keep && fl->len > fl->low_water;
}

void asyncio__freelist_drain(asyncio__freelist_t *fl)
{
    if (fl->slabs) {
        slabs_release(fl, SIZE_MAX, true);
        return;
    }
    void *obj;
    while ((obj = asyncio__freelist_get(fl)))
        asyncio__free(obj);
}

void asyncio__freelist_destroy(asyncio__freelist_t *fl)
{
    for (asyncio__slab_t *s = fl->slab_list, *next; s; s = next) {
        next = s->next;
        slab_unmap(s);
    }
    fl->slab_list = NULL;
    fl->nslabs = 0;
    fl->head = NULL;
    fl->len = 0;
}
