/*
 * Switching between the loop and its tasks.
 *
 * The fast path is a dozen instructions of assembly (switch_<arch>.S) that
 * save and restore only callee-saved state.  `make CORO=ucontext` selects
 * the portable fallback, glibc's swapcontext, which also sets the signal
 * mask with a system call per switch (to the thread's current one, read
 * with another: the mask stays the thread's, not the task's).
 *
 * Sanitizers must be told about every switch: AddressSanitizer tracks the
 * current stack (start/finish_switch_fiber; a context that will never be
 * resumed passes NULL so its fake stack is freed), ThreadSanitizer tracks
 * fibers, and Valgrind needs stacks registered or it reports every switch
 * as a wild stack change.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

#ifdef ASYNCIO__ASAN
#include <sanitizer/asan_interface.h>

/* The context that is switching away, for the one it resumes: the
 * switch's end learns that context's stack bounds from AddressSanitizer
 * and records them there.  The loop's own context runs on whatever
 * thread runs (or closes) the loop, so its bounds must be the ones of its
 * last switch, not of the thread that made the loop. */
static _Thread_local asyncio__coro_t *asan_switching_from;
#endif
#ifdef ASYNCIO__TSAN
#include <pthread.h>
#include <signal.h>
#include <sanitizer/tsan_interface.h>

/* ThreadSanitizer defers an asynchronous signal that arrives outside an
 * intercepted call to the *fiber* that was running, and runs it when that
 * fiber next leaves an intercepted call: a fiber switched away from (or
 * destroyed) first keeps it, or loses it (a SIGCHLD lost that way leaves
 * libuv never reaping a child).  So signals are blocked across a switch:
 * the pthread_sigmask call that blocks them runs what the old fiber holds,
 * the one that unblocks them on the other side delivers what came meanwhile
 * to the new fiber, at once. */
static _Thread_local sigset_t tsan_switch_mask;

static void tsan_block_signals(void)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &tsan_switch_mask);
}

static void tsan_unblock_signals(void)
{
    pthread_sigmask(SIG_SETMASK, &tsan_switch_mask, NULL);
}
#endif
#ifdef ASYNCIO_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifdef ASYNCIO_CORO_UCONTEXT
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#endif

#ifndef ASYNCIO_CORO_UCONTEXT
void asyncio__ctx_switch(void **save_sp, void *load_sp);
void asyncio__ctx_start(void);
#endif

#ifdef ASYNCIO_HAVE_VALGRIND_H
/* Whether the process runs under Valgrind, asked once: a client request
 * is a dozen instructions even outside Valgrind, twice per task. */
static atomic_int on_valgrind = -1;

static bool under_valgrind(void)
{
    int v = atomic_load_explicit(&on_valgrind, memory_order_relaxed);
    if (ASYNCIO__UNLIKELY(v < 0)) {
        v = RUNNING_ON_VALGRIND ? 1 : 0;
        atomic_store_explicit(&on_valgrind, v, memory_order_relaxed);
    }
    return v;
}
#endif

static void sanitizers_init(asyncio__coro_t *c, bool main, void *lo, size_t size)
{
#ifdef ASYNCIO_HAVE_VALGRIND_H
    c->vg_id = main || !under_valgrind() ? 0 : VALGRIND_STACK_REGISTER(lo, (char *)lo + size);
#endif
#ifdef ASYNCIO__ASAN
    c->stack_lo = lo;
    c->stack_size = size;
#endif
    (void)lo;
    (void)size;
#ifdef ASYNCIO__ASAN
    c->asan_fake = NULL;
#endif
#ifdef ASYNCIO__TSAN
    /* The thread's own fiber is borrowed, never destroyed. */
    c->tsan_fiber = main ? __tsan_get_current_fiber() : __tsan_create_fiber(0);
    c->tsan_owned = !main;
#endif
    (void)c;
    (void)main;
}

int asyncio__coro_main_init(asyncio__coro_t *c)
{
    memset(c, 0, sizeof *c);
#ifdef ASYNCIO_CORO_UCONTEXT
    c->uctx = asyncio__calloc(1, sizeof(ucontext_t));
    if (!c->uctx)
        return ASYNCIO_ENOMEM;
    c->owns_uctx = true;
#endif
    sanitizers_init(c, true, NULL, 0);
    return 0;
}

#ifdef ASYNCIO_CORO_UCONTEXT
/* makecontext passes only ints: the context's address comes in two halves. */
static void uctx_start(unsigned hi, unsigned lo)
{
    asyncio__coro_t *c = (asyncio__coro_t *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    c->entry(c->entry_arg);
    abort(); /* entries never return */
}
#endif

int asyncio__coro_init(asyncio__coro_t *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    memset(c, 0, sizeof *c);
#ifdef ASYNCIO_CORO_UCONTEXT
    /* The context lives at the top of the stack it describes: starting a
     * task allocates nothing. */
    uintptr_t at = ((uintptr_t)lo + size - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)at;
    memset(uc, 0, sizeof *uc);
    getcontext(uc);
    uc->uc_stack.ss_sp = lo;
    uc->uc_stack.ss_size = at - (uintptr_t)lo;
    uc->uc_link = NULL;
    c->uctx = uc;
    c->entry = entry;
    c->entry_arg = arg;
    uintptr_t p = (uintptr_t)c;
    makecontext(uc, (void (*)(void))uctx_start, 2, (unsigned)(p >> 32), (unsigned)p);
#else
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Popped by asyncio__ctx_switch, lowest first: MXCSR and x87 control
     * word, r15, r14, r13 (arg), r12 (entry), rbx, rbp, then the return
     * address.  After that `ret` rsp is 16-byte aligned, as the call in
     * asyncio__ctx_start needs. */
    uint64_t *sp = (uint64_t *)(top - 80);
    memset(sp, 0, 80);
    sp[0] = 0x1F80u | ((uint64_t)0x037Fu << 32); /* default MXCSR, x87 control word */
    sp[3] = (uint64_t)(uintptr_t)arg;
    sp[4] = (uint64_t)(uintptr_t)entry;
    sp[7] = (uint64_t)(uintptr_t)asyncio__ctx_start;
#elif defined(__aarch64__)
    /* x19 (entry), x20 (arg), ..., x29 = 0 (end of frame chain), x30 =
     * asyncio__ctx_start, then d8-d15. */
    uint64_t *sp = (uint64_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uint64_t)(uintptr_t)entry;
    sp[1] = (uint64_t)(uintptr_t)arg;
    sp[11] = (uint64_t)(uintptr_t)asyncio__ctx_start;
#else
#error "no context switch for this architecture: build with CORO=ucontext"
#endif
    c->sp = sp;
#endif
    sanitizers_init(c, false, lo, size);
    return 0;
}

void asyncio__coro_destroy(asyncio__coro_t *c)
{
#ifdef ASYNCIO__TSAN
    if (c->tsan_owned)
        __tsan_destroy_fiber(c->tsan_fiber);
    c->tsan_fiber = NULL;
#endif
#ifdef ASYNCIO_HAVE_VALGRIND_H
    if (c->vg_id)
        VALGRIND_STACK_DEREGISTER(c->vg_id);
    c->vg_id = 0;
#endif
#ifdef ASYNCIO_CORO_UCONTEXT
    if (c->owns_uctx) /* the loop's own; a task's lives on its stack */
        asyncio__free(c->uctx);
    c->uctx = NULL;
#endif
    (void)c;
}

void asyncio__coro_started(asyncio__coro_t *self, asyncio__coro_t *from)
{
#ifdef ASYNCIO__ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(NULL, &lo, &size);
    from->stack_lo = (void *)lo;
    from->stack_size = size;
#endif
#ifdef ASYNCIO__TSAN
    tsan_unblock_signals();
#endif
    (void)self;
    (void)from;
}

void asyncio__coro_switch(asyncio__coro_t *from, asyncio__coro_t *to, bool ending)
{
#ifdef ASYNCIO__ASAN
    asan_switching_from = ending ? NULL : from;
    __sanitizer_start_switch_fiber(ending ? NULL : &from->asan_fake, to->stack_lo, to->stack_size);
#endif
#ifdef ASYNCIO__TSAN
    tsan_block_signals();
    /* The loop's own context is whichever thread runs (or closes) the loop
     * now: the fiber of the thread that made it may be gone. */
    if (!from->tsan_owned)
        from->tsan_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)ending;
#ifdef ASYNCIO_CORO_UCONTEXT
    /* The signal mask is the thread's, as with the assembly switch: the
     * context resumed runs with the mask in force now, where swapcontext
     * would restore the one it was switched away with (a program that
     * blocked SIGINT while starting and unblocked it in a task would find
     * it blocked again as soon as the task suspended). */
    pthread_sigmask(SIG_SETMASK, NULL, &((ucontext_t *)to->uctx)->uc_sigmask);
    swapcontext((ucontext_t *)from->uctx, (ucontext_t *)to->uctx);
#else
    asyncio__ctx_switch(&from->sp, to->sp);
#endif
#ifdef ASYNCIO__ASAN
    const void *lo;
    size_t size;
    __sanitizer_finish_switch_fiber(from->asan_fake, &lo, &size);
    if (asan_switching_from) { /* who switched here: its stack, as it is now */
        asan_switching_from->stack_lo = (void *)lo;
        asan_switching_from->stack_size = size;
    }
#endif
#ifdef ASYNCIO__TSAN
    tsan_unblock_signals();
#endif
}
