/*
 * Task stacks.
 *
 * A stack is address space, committed by the kernel page by page as the
 * task touches it: a task that suspends near the top of its 256 KiB stack
 * costs one or two pages.  Stacks come from a per-loop pool, one free list
 * per power-of-two size class, and go back to it when their task ends.
 *
 * Overflow must never be silent: every stack has a guard below it or a
 * canary, and the SIGSEGV handler at the bottom of this file reports a
 * fault in a guard with the task's name.  A guard is inaccessible address
 * space as large as the stack and at least 256 KiB (guard_for): a frame
 * that compiled code does not probe (anything built without
 * -fstack-clash-protection) writes wherever it reaches, and a guard
 * smaller than the frame would let it land in the live stack below,
 * silently.  A frame no larger than the guard always faults in it.  How
 * the guard is made depends on the kernel, decided once per process:
 *
 * - Linux 6.13 and later install guard pages as page-table markers
 *   (MADV_GUARD_INSTALL): they cost no mapping of their own, so all stacks
 *   come from large slabs, each slot a guard and a stack.
 *
 * - Older kernels need a PROT_NONE page, which splits the mapping: each
 *   guarded stack costs two of vm.max_map_count's mappings (65530 by
 *   default).  Within a budget of a quarter of that limit each stack gets
 *   its own mapping and guard page; past it stacks are carved from slabs
 *   with one guard page per slab, below the first stack, and the others
 *   carry a canary, checked at every switch: the 64 bytes just below the
 *   stack, the top of the slot underneath, which that slot's own task never
 *   uses, must stay zero.  The canary is never written and sits in a page
 *   the neighbour already touched, so checking it costs neither memory nor
 *   a page fault.
 *
 * What a stack costs is its pages, and a page the kernel hands out costs a
 * fault: about 1 us on bare metal, several times that in a virtual machine
 * that must back the page first.  So:
 *
 * - Slab stacks are carved in batches that grow with the demand (1, 1, 2,
 *   4, ... up to BATCH_MAX): a burst of 10,000 tasks makes 50 batches, not
 *   10,000 stacks one by one.  Where the kernel lets a process advise
 *   itself on a list of ranges (process_madvise on PIDFD_SELF, Linux
 *   6.15), a batch costs two system calls: one installs every guard, one
 *   commits the top page of every stack at once (MADV_POPULATE_WRITE), the
 *   page every task touches first, instead of a fault each.  Elsewhere
 *   each guard is one madvise and the pages come by faults, as before.
 *   The spare stacks of a batch wait in the pool; their committed top
 *   pages (at most BATCH_MAX - 1 of them) are what the batch costs beyond
 *   its use.
 *
 * - The pool is LIFO: the stack released last, whose pages are the
 *   hottest, is taken first.  A burst that repeats finds its stacks warm.
 *
 * - Pages go back in two steps when the loop idles (the loop trims at most
 *   once a second).  Stacks beyond POOL_HOT per class that no task took
 *   during a whole period are given back lazily (MADV_FREE): the kernel
 *   takes their pages only when it needs memory, and until then a task
 *   that takes the stack again writes to them without a fault.  They still
 *   count in the process's RSS (as LazyFree in smaps).  Stacks that then
 *   stay untaken for STALE_TRIMS more periods are given back for good
 *   (MADV_DONTNEED), and RSS drops.  A kernel without MADV_FREE (before
 *   4.5) gets MADV_DONTNEED at once.
 */
#define _GNU_SOURCE /* REG_RSP */
#include "core/core.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack it */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MADV_FREE
#define MADV_FREE 8 /* Linux 4.5 */
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440 /* Linux 5.10, any advice on oneself since 6.13 */
#endif
#define PIDFD_SELF_THREAD_ (-10000) /* Linux 6.15: the calling thread, no descriptor needed */

#define CLASS_MIN 14 /* 16 KiB */
#define CLASS_MAX 30 /* 1 GiB */
#define NCLASSES (CLASS_MAX - CLASS_MIN + 1)
#define POOL_HOT 64   /* stacks per class never trimmed */
#define STALE_TRIMS 4 /* lazily freed stacks untaken this many more trims: dropped */
#define BATCH_MAX 256 /* stacks carved at once, at most (an iovec each) */
#define SLAB_BYTES ((size_t)256 << 20) /* address space per slab */
#define CANARY_BYTES 64

typedef struct slab {
    struct slab *next;
    void *map;
    size_t len;
} slab_t;

typedef struct pool_class {
    asyncio__stack_t *free; /* LIFO: the most recently released on top */
    size_t len, cap;
    /* free[0, freed) have had their pages given back lazily (MADV_FREE),
     * free[0, dropped) for good (MADV_DONTNEED); dropped <= freed. */
    size_t freed, dropped;
    size_t low_water;         /* free[0, low_water) untaken since the last trim */
    size_t idle[STALE_TRIMS]; /* low_water of the last trims, a ring */
    unsigned idle_next;       /* where the next trim writes in idle */
    size_t carved;            /* slab stacks made so far: sets the next batch */
    char *carve;              /* unused part of the current slab */
    size_t carve_left;
    bool carve_first; /* carve is the slab's first slot, above its guard page */
} pool_class_t;

struct asyncio__stack_pool {
    pool_class_t cls[NCLASSES];
    slab_t *slabs;
};

static void overflow_abort(asyncio__task_t *t);

/* See guard_for. */
#define GUARD_MIN ((size_t)256 << 10)

static size_t page_size;
static bool guard_markers; /* MADV_GUARD_INSTALL works here */
static bool bulk_advice;   /* process_madvise on oneself, guards and populating included */
static bool lazy_free;     /* MADV_FREE works here */
static atomic_long guarded_live;
static long guarded_budget;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static size_t default_size;

/* Reads a size like "262144", "256K" or "1M"; 0 if malformed. */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return 0;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    return *end ? 0 : (size_t)v;
}

/* One system call for a list of ranges: the bytes advised, or -1. */
static long advise_ranges(struct iovec *iov, size_t n, int advice)
{
    return syscall(SYS_process_madvise, PIDFD_SELF_THREAD_, iov, n, advice, 0u);
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* What this kernel can do, tried on two pages of our own. */
static void probe_kernel(void)
{
    void *p = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    /* The test knobs: the suite runs again as on older kernels. */
    guard_markers =
        !env_set("ASYNCIO_NO_GUARD_MARKERS") && madvise(p, page_size, MADV_GUARD_INSTALL) == 0;
    struct iovec iov = {(char *)p + page_size, page_size};
    bulk_advice = !env_set("ASYNCIO_NO_BULK_ADVICE") &&
                  advise_ranges(&iov, 1, MADV_POPULATE_WRITE) == (long)page_size;
    lazy_free = madvise((char *)p + page_size, page_size, MADV_FREE) == 0;
    munmap(p, 2 * page_size);
}

static void stack_init_once(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    probe_kernel();
    long max_maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1)
            max_maps = 65530;
        fclose(f);
    }
    /* Two mappings per guarded stack, half the limit for them: the rest
     * stays for the program, its libraries and our slabs. */
    guarded_budget = max_maps / 4;
    default_size = (size_t)256 << 10;
    const char *env = getenv("ASYNCIO_STACK_SIZE");
    if (env && *env) {
        size_t want = asyncio__stack_round(parse_size(env));
        if (want)
            default_size = want;
        else
            fprintf(stderr, "casyncio: ignoring ASYNCIO_STACK_SIZE=%s (want 16K to 1024M)\n", env);
    }
}

size_t asyncio__stack_default_size(void)
{
    /* Settled once per process; the loop caches it (asyncio_loop_new). */
    pthread_once(&init_once, stack_init_once);
    return default_size;
}

size_t asyncio__stack_round(size_t size)
{
    if (size < ASYNCIO_STACK_MIN / 2 || size > ASYNCIO_STACK_MAX)
        return 0;
    size_t p = ASYNCIO_STACK_MIN;
    while (p < size)
        p <<= 1;
    return p;
}

static unsigned log2_of(size_t pow2)
{
    return (unsigned)__builtin_ctzll((unsigned long long)pow2);
}

/* The guard below a stack of `size` bytes: the stack's size, at least
 * GUARD_MIN.  A frame of at most that size that overflows touches the
 * guard before anything below it, whatever the stack held when the frame
 * began.  Markers cost no memory but page tables (8 bytes per 4 KiB of
 * guard); PROT_NONE costs address space only. */
static size_t guard_for(size_t size)
{
    size_t g = size > GUARD_MIN ? size : GUARD_MIN;
    return g > page_size ? g : page_size;
}

static int map_guarded(size_t size, asyncio__stack_t *out)
{
    size_t guard_size = guard_for(size);
    void *map = mmap(NULL, size + guard_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return ASYNCIO_ENOMEM;
    if (mprotect(map, guard_size, PROT_NONE) != 0) {
        munmap(map, size + guard_size);
        return ASYNCIO_ENOMEM;
    }
    out->lo = (char *)map + guard_size;
    out->guarded = 1;
    out->in_slab = 0;
    out->canary_reserve = 0;
    return 0;
}

/* With guard markers a slot is a guard and a stack; without, slots are
 * just stacks, after one guard page for the whole slab. */
static int new_slab(asyncio__stack_pool_t *pool, pool_class_t *c, size_t size, size_t stride)
{
    size_t n = SLAB_BYTES / stride ? SLAB_BYTES / stride : 1;
    size_t lead = guard_markers ? 0 : guard_for(size);
    size_t len = lead + n * stride;
    slab_t *s = asyncio__malloc(sizeof *s);
    if (!s)
        return ASYNCIO_ENOMEM;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        asyncio__free(s);
        return ASYNCIO_ENOMEM;
    }
    if (lead)
        mprotect(map, lead, PROT_NONE);
#ifdef MADV_NOHUGEPAGE
    madvise(map, len, MADV_NOHUGEPAGE); /* a huge page would commit 2 MiB per touch */
#endif
    s->map = map;
    s->len = len;
    s->next = pool->slabs;
    pool->slabs = s;
    c->carve = (char *)map + lead;
    c->carve_left = n * stride;
    c->carve_first = true;
    return 0;
}

/* Installs the guards of slots [0, n) of a batch starting at base: the
 * number of slots guarded from the first on (n unless memory ran out). */
static size_t install_guards(char *base, size_t n, size_t stride, size_t guard_size)
{
    if (bulk_advice && n > 1) {
        struct iovec iov[BATCH_MAX];
        for (size_t k = 0; k < n; k++)
            iov[k] = (struct iovec){base + k * stride, guard_size};
        if (advise_ranges(iov, n, MADV_GUARD_INSTALL) == (long)(n * guard_size))
            return n;
        /* Part of it failed: again one by one, which finds where (an
         * installed guard may be installed again). */
    }
    size_t k = 0;
    while (k < n && madvise(base + k * stride, guard_size, MADV_GUARD_INSTALL) == 0)
        k++;
    return k;
}

/* Commits the top page of each stack of a batch in one call, where the
 * kernel can: the page every task writes first (its initial frame).  Best
 * effort: a page not committed here comes by a fault, as it would anyway. */
static void populate_tops(char *lo0, size_t n, size_t stride, size_t size)
{
    if (!bulk_advice)
        return;
    struct iovec iov[BATCH_MAX];
    for (size_t k = 0; k < n; k++)
        iov[k] = (struct iovec){lo0 + k * stride + size - page_size, page_size};
    advise_ranges(iov, n, MADV_POPULATE_WRITE);
}

/* Room in the free list for `more` stacks beyond what it holds. */
static bool reserve(pool_class_t *c, size_t more)
{
    if (c->cap - c->len >= more)
        return true;
    size_t cap = c->cap ? c->cap : 64;
    while (cap - c->len < more)
        cap *= 2;
    asyncio__stack_t *grown = asyncio__realloc(c->free, cap * sizeof *grown);
    if (!grown)
        return false;
    c->free = grown;
    c->cap = cap;
    return true;
}

/* A batch of stacks from the class's slab (a new slab when it is used
 * up): the first goes to *out, the others to the (empty) free list, the
 * next one to be taken on top. */
static int carve_batch(asyncio__stack_pool_t *pool, pool_class_t *c, size_t size,
                       asyncio__stack_t *out)
{
    size_t guard_size = guard_for(size);
    size_t stride = guard_markers ? guard_size + size : size;
    if (c->carve_left < stride && new_slab(pool, c, size, stride) != 0)
        return ASYNCIO_ENOMEM;
    size_t n = c->carved < BATCH_MAX ? (c->carved ? c->carved : 1) : BATCH_MAX;
    if (n > c->carve_left / stride)
        n = c->carve_left / stride;
    if (n > 1 && !reserve(c, n - 1))
        n = 1;
    char *base = c->carve;
    if (guard_markers && (n = install_guards(base, n, stride, guard_size)) == 0)
        return ASYNCIO_ENOMEM;
    size_t lead = guard_markers ? guard_size : 0; /* from a slot to its stack */
    populate_tops(base + lead, n, stride, size);
    uint32_t lg = log2_of(size);
    for (size_t k = 0; k < n; k++) {
        asyncio__stack_t *st = k == 0 ? out : &c->free[n - 1 - k];
        st->lo = base + k * stride + lead;
        st->size_log2 = lg;
        st->in_slab = 1;
        /* Without markers only a slab's first slot has a guard (below it);
         * the others have a canary. */
        st->guarded = guard_markers || (k == 0 && c->carve_first);
        st->canary_reserve = !guard_markers;
    }
    c->len = n - 1;
    c->low_water = c->freed = c->dropped = 0;
    c->carve_first = false;
    c->carve += n * stride;
    c->carve_left -= n * stride;
    c->carved += n;
    return 0;
}

/* The pool is empty: a new stack.  Out of line, so that taking a pooled
 * stack stays a few instructions. */
static __attribute__((noinline)) int acquire_new(asyncio__stack_pool_t *pool, pool_class_t *c,
                                                 size_t size, asyncio__stack_t *out)
{
    out->size_log2 = log2_of(size);
    if (!guard_markers &&
        atomic_fetch_add_explicit(&guarded_live, 1, memory_order_relaxed) < guarded_budget) {
        if (map_guarded(size, out) == 0)
            return 0;
        atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
    } else if (!guard_markers) {
        atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
    }
    return carve_batch(pool, c, size, out);
}

/* The first stack of a loop: its pool comes first. */
static __attribute__((noinline)) int acquire_first(asyncio__stack_pool_t **poolp, size_t size,
                                                   asyncio__stack_t *out)
{
    pthread_once(&init_once, stack_init_once);
    if (!(*poolp = asyncio__calloc(1, sizeof **poolp)))
        return ASYNCIO_ENOMEM;
    asyncio__stack_pool_t *pool = *poolp;
    return acquire_new(pool, &pool->cls[log2_of(size) - CLASS_MIN], size, out);
}

int asyncio__stack_acquire(asyncio__stack_pool_t **poolp, size_t size, asyncio__stack_t *out)
{
    asyncio__stack_pool_t *pool = *poolp;
    if (ASYNCIO__UNLIKELY(!pool))
        return acquire_first(poolp, size, out);
    pool_class_t *c = &pool->cls[log2_of(size) - CLASS_MIN];
    size_t len = c->len;
    if (ASYNCIO__UNLIKELY(!len))
        return acquire_new(pool, c, size, out);
    c->len = --len;
    /* What is left below len was not taken. */
    size_t low = c->low_water, freed = c->freed, dropped = c->dropped;
    c->low_water = low > len ? len : low;
    c->freed = freed > len ? len : freed;
    c->dropped = dropped > len ? len : dropped;
    *out = c->free[len];
    return 0;
}

static void unmap_own(asyncio__stack_t *st)
{
    size_t size = (size_t)1 << st->size_log2, guard_size = guard_for(size);
    munmap((char *)st->lo - guard_size, size + guard_size);
    atomic_fetch_sub_explicit(&guarded_live, 1, memory_order_relaxed);
}

/* The free list is full: it grows, or the stack is let go. */
static __attribute__((noinline)) void release_grow(pool_class_t *c, asyncio__stack_t *st)
{
    if (!reserve(c, 1)) {
        /* No room to pool it: a stack with its own mapping is unmapped;
         * one from a slab stays there until the pool goes. */
        if (!st->in_slab)
            unmap_own(st);
        return;
    }
    c->free[c->len++] = *st;
}

void asyncio__stack_release(asyncio__stack_pool_t *pool, asyncio__stack_t *st)
{
    pool_class_t *c = &pool->cls[st->size_log2 - CLASS_MIN];
    if (ASYNCIO__UNLIKELY(c->len == c->cap)) {
        release_grow(c, st);
        return;
    }
    c->free[c->len++] = *st;
}

static void advise_stacks(pool_class_t *c, size_t from, size_t to, size_t size, int advice)
{
    for (size_t k = from; k < to; k++)
        madvise(c->free[k].lo, size, advice);
}

bool asyncio__stack_pool_refilled(const asyncio__stack_pool_t *pool)
{
    if (!pool)
        return false;
    for (int i = 0; i < NCLASSES; i++) {
        const pool_class_t *c = &pool->cls[i];
        if (c->len > POOL_HOT && c->len > c->low_water)
            return true;
    }
    return false;
}

bool asyncio__stack_pool_trim(asyncio__stack_pool_t *pool)
{
    if (!pool)
        return false;
    bool left = false;
    for (int i = 0; i < NCLASSES; i++) {
        pool_class_t *c = &pool->cls[i];
        if (!c->cap)
            continue;
        size_t size = (size_t)1 << (i + CLASS_MIN);
        size_t beyond_hot = c->len > POOL_HOT ? c->len - POOL_HOT : 0;
        /* Untaken during the last period: given back lazily. */
        c->idle[c->idle_next++ % STALE_TRIMS] = c->low_water;
        size_t lazy_upto = c->low_water < beyond_hot ? c->low_water : beyond_hot;
        if (c->freed < lazy_upto) {
            advise_stacks(c, c->freed, lazy_upto, size, lazy_free ? MADV_FREE : MADV_DONTNEED);
            c->freed = lazy_upto;
        }
        if (!lazy_free) {
            c->dropped = c->freed;
        } else {
            /* Untaken during the last STALE_TRIMS periods: for good. */
            size_t drop_upto = lazy_upto;
            for (int k = 0; k < STALE_TRIMS; k++)
                if (c->idle[k] < drop_upto)
                    drop_upto = c->idle[k];
            if (c->dropped < drop_upto) {
                advise_stacks(c, c->dropped, drop_upto, size, MADV_DONTNEED);
                c->dropped = drop_upto;
            }
        }
        c->low_water = c->len;
        left |= c->dropped < beyond_hot;
    }
    return left;
}

void asyncio__stack_pool_free(asyncio__stack_pool_t *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < NCLASSES; i++) {
        pool_class_t *c = &pool->cls[i];
        for (size_t k = 0; k < c->len; k++)
            if (!c->free[k].in_slab)
                unmap_own(&c->free[k]);
        asyncio__free(c->free);
    }
    for (slab_t *s = pool->slabs, *next; s; s = next) {
        next = s->next;
        munmap(s->map, s->len);
        asyncio__free(s);
    }
    asyncio__free(pool);
}

size_t asyncio__stack_usable(const asyncio__stack_t *st)
{
    /* Without guard markers a slab stack leaves its top 64 bytes as the
     * canary of the one above. */
    size_t size = (size_t)1 << st->size_log2;
    return st->canary_reserve ? size - CANARY_BYTES : size;
}

void asyncio__stack_check(const asyncio__stack_t *st)
{
    const uint64_t *w = (const uint64_t *)((const char *)st->lo - CANARY_BYTES);
    for (int i = 0; i < CANARY_BYTES / 8; i++)
        if (ASYNCIO__UNLIKELY(w[i] != 0))
            overflow_abort(asyncio__container_of(st, asyncio__task_t, stack));
}

/* ------------------------------------------------------------ overflow */

/* Writes "casyncio: task 'NAME' overflowed its N KiB stack" with write(2)
 * only: this runs in a signal handler or right before abort. */
static void report_overflow(const char *name, uint64_t number, size_t size)
{
    char buf[256];
    size_t n = 0;
#define PUT(s)                                                                                     \
    for (const char *p_ = (s); *p_ && n < sizeof buf - 1; p_++)                                    \
        buf[n++] = *p_;
    char num[24];
    PUT("casyncio: task '");
    if (name) {
        PUT(name);
    } else {
        int i = (int)sizeof num - 1;
        num[i] = 0;
        do
            num[--i] = (char)('0' + number % 10);
        while ((number /= 10) && i > 0);
        PUT("Task-");
        PUT(num + i);
    }
    PUT("' overflowed its ");
    size_t kib = size >> 10;
    int i = (int)sizeof num - 1;
    num[i] = 0;
    do
        num[--i] = (char)('0' + kib % 10);
    while ((kib /= 10) && i > 0);
    PUT(num + i);
    PUT(" KiB stack\n");
#undef PUT
    ssize_t w = write(2, buf, n);
    (void)w;
}

static void overflow_abort(asyncio__task_t *t)
{
    report_overflow(t->name, t->number, (size_t)1 << t->stack.size_log2);
    signal(SIGABRT, SIG_DFL);
    abort();
}

static struct sigaction previous_segv;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static _Thread_local void *altstack;

/* The stack pointer when the fault happened. */
static uintptr_t fault_sp(void *uc)
{
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return UINTPTR_MAX;
#endif
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    asyncio__task_t *t = asyncio__current();
    if (t && t->stack.lo) {
        uintptr_t a = (uintptr_t)si->si_addr, lo = (uintptr_t)t->stack.lo;
        uintptr_t sp = fault_sp(uc);
        size_t guard_size = guard_for((size_t)1 << t->stack.size_log2);
        /* The guard page, a large frame that jumped past it, or (for a
         * stack in a slab) a task whose stack pointer left its stack and
         * ran down its neighbours until the slab's guard page. */
        if ((a < lo + CANARY_BYTES && a + guard_size >= lo) ||
            (sp < lo + CANARY_BYTES && sp + ((size_t)1 << 30) >= lo))
            overflow_abort(t);
    }
    /* Not ours: hand the fault to whoever had the signal before. */
    if (previous_segv.sa_flags & SA_SIGINFO) {
        previous_segv.sa_sigaction(sig, si, uc);
        return;
    }
    if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
        previous_segv.sa_handler(sig);
        return;
    }
    /* Re-executing the faulting instruction now kills the process. */
    signal(sig, SIG_DFL);
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
}

void asyncio__overflow_handler_install(void)
{
    pthread_once(&init_once, stack_init_once);
    pthread_once(&handler_once, install_handler);
    /* The handler must not run on the stack that just overflowed. */
    stack_t cur;
    if (altstack || sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
        return;
    size_t len = 64 << 10;
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = len, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, len);
        return;
    }
    altstack = mem;
}

void asyncio__overflow_handler_thread_release(void)
{
    if (!altstack)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(altstack, 64 << 10);
    altstack = NULL;
}
