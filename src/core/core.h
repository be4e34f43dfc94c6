/*
 * What the areas of casyncio share.  Nothing here is API.
 *
 * Threading: everything below belongs to the thread running its loop, except
 * the inbox (loop.c), the allocator hooks (alloc.c), the exception registry
 * (error.c) and the guard-page budget (coro/stack.c), which say how they are
 * protected.
 */
#ifndef CASYNCIO_CORE_CORE_H
#define CASYNCIO_CORE_CORE_H

#include "casyncio.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <uv.h>

/* Sanitizers the coroutine switch must tell about. */
#if defined(__SANITIZE_ADDRESS__)
#define ASYNCIO__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define ASYNCIO__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASYNCIO__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define ASYNCIO__TSAN 1
#endif
#endif

#define ASYNCIO__LIKELY(x) __builtin_expect(!!(x), 1)
#define ASYNCIO__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define asyncio__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---------------------------------------------------------------- alloc */

void *asyncio__malloc(size_t n);
void *asyncio__calloc(size_t n, size_t m);
void *asyncio__realloc(void *p, size_t n);
void asyncio__free(void *p);
char *asyncio__strdup(const char *s);
/* True while the allocator is the C library's malloc (the default, or
 * malloc given to asyncio_set_allocator again). */
bool asyncio__allocator_is_default(void);
/* Set once any loop exists: the allocator may no longer change. */
extern atomic_int asyncio__live_loops;

/* ---------------------------------------------------------------- errors */

/* A public call failing with rc (< 0) sets its out-parameter to NULL
 * (casyncio.h, "Out-parameters"); returns rc. */
static inline int asyncio__out_fail(int rc, void **out)
{
    if (out)
        *out = NULL;
    return rc;
}

/* A raised exception: the public part first, its strings and group members
 * owned by the same object. */
typedef struct asyncio__exc {
    asyncio_error_t pub;
    size_t nmembers;
    struct asyncio__exc **members;
    /* Python's __context__, owned.  With context_propagating, the context
     * is an error still propagating under this one in the same indicator
     * (raised, never caught): catching this one raises it again.  Without,
     * it is history only: an error this one replaced, as when an error
     * leaves the coroutine that raised it (see asyncio__exc_settle). */
    struct asyncio__exc *context;
    bool context_propagating;
    bool resurfaced; /* raised again because a newer one was caught (debug reports) */
} asyncio__exc_t;

/* An error indicator: the raised error (with the older errors still
 * propagating under it, through their context links) and the last caught
 * one (kept alive until the next catch or raise, as asyncio_catch
 * promises). */
typedef struct asyncio__errstate {
    asyncio__exc_t *raised;
    asyncio__exc_t *caught;
} asyncio__errstate_t;

/* Error objects.  Making or copying one never fails: without memory the
 * result is a shared MemoryError that asyncio__exc_free ignores. */
asyncio__exc_t *asyncio__exc_new(int code, const char *type, int detail, const char *fmt,
                                 va_list ap);
asyncio__exc_t *asyncio__exc_make(int code, const char *type, const char *message);
asyncio__exc_t *asyncio__exc_dup(const asyncio__exc_t *e);
void asyncio__exc_free(asyncio__exc_t *e);
/* A group whose members are taken over (the array too). */
asyncio__exc_t *asyncio__exc_group(const char *message, asyncio__exc_t **members, size_t n);
bool asyncio__exc_matches(const asyncio_error_t *e, const char *type);

/* The indicator of the current task, or of the calling thread. */
asyncio__errstate_t *asyncio__errstate(void);
/* Raises e (taken over) in the current indicator, over the error raised
 * there, which becomes e's context; NULL (e NULL = MemoryError). */
void *asyncio__raise_exc(asyncio__exc_t *e);
/* Raises code with its default type and a formatted message. */
int asyncio__raise_code(int code, const char *fmt, ...) ASYNCIO_PRINTF(2, 3);
/* Takes the newest raised error out of the indicator, as asyncio_catch
 * does: what the code just got; the error it was raised on top of, if
 * any, is raised again.  NULL if none.  To drop it: asyncio_error_clear. */
asyncio__exc_t *asyncio__take_raised(void);
/* Takes the raised error with every error under it (a coroutine's
 * outcome, which goes with it whole).  NULL if none. */
asyncio__exc_t *asyncio__take_all(void);
/* An error leaves the coroutine that raised it (a task's outcome, what
 * asyncio_call or an executor job returns with): the errors that were
 * still propagating under it become its history, as in Python, where only
 * the newest exception leaves a frame.  Returns e. */
asyncio__exc_t *asyncio__exc_settle(asyncio__exc_t *e);
/* asyncio_call's rules for the indicator around a coroutine called inline
 * (asyncio_call, asyncio_context_run): _enter gives fn a clean indicator
 * and returns what it set aside; _leave(saved, fn's result, result) puts
 * that back.  If fn raised, its error (settled) is raised again over the
 * error set aside, which becomes its context, and _leave returns its code
 * (*result NULL); else 0 and *result = r. */
asyncio__errstate_t asyncio__call_enter(void);
int asyncio__call_leave(asyncio__errstate_t saved, void *r, void **result);
/* Python's `raise X` in __exit__: the newest raised error is handled
 * (dropped) and e (taken over) is raised instead, over whatever was under
 * it.  A timeout turning its CancelledError into TimeoutError. */
void asyncio__raise_instead(asyncio__exc_t *e);
/* The errors propagating in the current indicator, the raised one and
 * those under it. */
size_t asyncio__raised_depth(void);
/* The position (0: the raised one) of the newest of the `within` newest
 * propagating errors that matches type, or -1. */
long asyncio__find_raised(size_t within, const char *type);
/* Drops the index-th propagating error (0: the raised one); the others
 * stay in order.  A scope's own CancelledError, which the code replaced
 * with another error (Python's `finally: raise X`), goes this way. */
void asyncio__drop_raised(size_t index);
void asyncio__errstate_clear(asyncio__errstate_t *es);
const char *asyncio__code_type(int code);
/* The code asyncio_raise gives a type name. */
int asyncio__type_code(const char *type);

/* ---------------------------------------------------------------- coroutines */

/* A machine context: the saved stack pointer of a suspended context, and
 * the stack it runs on (for the sanitizers).  The loop's own context uses
 * the thread's stack. */
typedef struct asyncio__coro {
    void *sp;
#ifdef ASYNCIO_CORO_UCONTEXT
    void *uctx; /* its ucontext_t */
    void (*entry)(void *);
    void *entry_arg;
    bool owns_uctx;
#endif
#ifdef ASYNCIO__ASAN
    void *stack_lo; /* AddressSanitizer is told the stack it switches to */
    size_t stack_size;
    void *asan_fake;
#endif
#ifdef ASYNCIO__TSAN
    void *tsan_fiber;
    bool tsan_owned;
#endif
#ifdef ASYNCIO_HAVE_VALGRIND_H
    unsigned vg_id;
#endif
} asyncio__coro_t;

/* Prepares the loop's own context (the thread's stack); undone by
 * asyncio__coro_destroy. */
int asyncio__coro_main_init(asyncio__coro_t *c);
/* Prepares c to run entry(arg) on [lo, lo + size) at its first switch-in. */
int asyncio__coro_init(asyncio__coro_t *c, void *lo, size_t size, void (*entry)(void *), void *arg);
/* Saves the current context in from and resumes to.  `ending` says the
 * current context will never be resumed (its stack is about to be reused). */
void asyncio__coro_switch(asyncio__coro_t *from, asyncio__coro_t *to, bool ending);
/* Releases what coro_init set up (sanitizer fibers, Valgrind ids). */
void asyncio__coro_destroy(asyncio__coro_t *c);
/* Called first thing by a coroutine's entry function. */
void asyncio__coro_started(asyncio__coro_t *self, asyncio__coro_t *from);

/* ---------------------------------------------------------------- stacks */

/* A task's stack: [lo, lo + size), with a guard page below or a canary
 * just below lo (coro/stack.c). */
typedef struct asyncio__stack {
    void *lo;
    uint32_t size_log2;     /* size is a power of two */
    uint8_t guarded;        /* a guard page is right below lo */
    uint8_t in_slab;        /* carved from a slab, not a mapping of its own */
    uint8_t canary_reserve; /* its top 64 bytes are the canary of the slot above */
} asyncio__stack_t;

typedef struct asyncio__stack_pool asyncio__stack_pool_t;

size_t asyncio__stack_default_size(void);
/* Rounds size up to a valid power of two; 0 when out of range. */
size_t asyncio__stack_round(size_t size);
int asyncio__stack_acquire(asyncio__stack_pool_t **pool, size_t size, asyncio__stack_t *out);
void asyncio__stack_release(asyncio__stack_pool_t *pool, asyncio__stack_t *st);
void asyncio__stack_pool_free(asyncio__stack_pool_t *pool);
/* Loop idle, once in a while: hands back the pages of pooled stacks beyond
 * the hot set that no task took since the last call.  True while pooled
 * stacks beyond the hot set keep their pages (the loop comes back). */
bool asyncio__stack_pool_trim(asyncio__stack_pool_t *pool);
/* Whether stacks came back to the pool since the last trim, beyond the
 * hot set: a trim may have something to give back. */
bool asyncio__stack_pool_refilled(const asyncio__stack_pool_t *pool);
/* The bytes from lo a task may use. */
size_t asyncio__stack_usable(const asyncio__stack_t *st);
/* Aborts with the overflow message if the canary of a task's unguarded
 * stack is damaged. */
void asyncio__stack_check(const asyncio__stack_t *st);
/* Installs the SIGSEGV overflow reporter (once per process) and an
 * alternate signal stack for this thread. */
void asyncio__overflow_handler_install(void);
void asyncio__overflow_handler_thread_release(void);
#define ASYNCIO__CANARY 0xCA5C0DEDBADC0FFEULL

/* ---------------------------------------------------------------- contexts */

/* A context's mapping (context.c): an immutable hash array mapped trie of
 * bindings (variable, value), shared by every context that copied it, so
 * that a copy costs one reference and `set` copies one path.  Reference
 * counted atomically: a copy may travel to another thread (to_thread,
 * call_soon_threadsafe).  NULL is the empty mapping, the one nearly every
 * task has: copying it costs nothing at all. */
typedef struct asyncio__cnode asyncio__cnode_t;

/* A context (PEP 567's Context): the mapping that `set` replaces.  A
 * task's own context lives in the task, a thread's in its TLS, the copy a
 * callback runs in on the loop's stack, one made by copy_context in its
 * handle's object.  id names it for tokens (reset must happen in the
 * context of the set): handed out on first need, 0 before. */
typedef struct asyncio__context {
    asyncio__cnode_t *map;
    uint64_t id;
} asyncio__context_t;

/* References to a mapping; NULL is harmless.  Dropping the last one may
 * call the destroy functions of the variables whose values it held. */
void asyncio__cnode_incref(asyncio__cnode_t *m);
void asyncio__cnode_decref(asyncio__cnode_t *m);
/* contextvars.copy_context() as a mapping: the current context's, with a
 * reference the caller owns (NULL, owning nothing, when it is empty). */
asyncio__cnode_t *asyncio__context_capture(void);
/* Runs fn(arg) in a fresh copy of m (borrowed), as copy.run(fn, arg): what
 * fn sets stays in the copy, which goes when fn returns.  Outside tasks
 * only (a loop's callbacks, worker threads). */
void asyncio__context_call(asyncio__cnode_t *m, asyncio_callback_fn fn, void *arg);
/* The same for a function with a result (to_thread's job). */
void *asyncio__context_call_blocking(asyncio__cnode_t *m, void *(*fn)(void *), void *arg);

/* A context an object keeps for the user's callbacks it runs again and
 * again (Python's Handle of add_reader, a transport's reading, a datagram
 * endpoint's): a copy of the one current when the object was made, in
 * which what one call sets is what the next call sees, as it is in the
 * one Context object a Python Handle runs in each time. */
static inline void asyncio__context_keep(asyncio__context_t *c)
{
    c->map = asyncio__context_capture();
    c->id = 0;
}
static inline void asyncio__context_drop(asyncio__context_t *c)
{
    asyncio__cnode_decref(c->map);
    c->map = NULL;
}
/* The kept context becomes a copy of the current one (a callback
 * registered again; a transport's connection_lost after close(), which
 * Python schedules from the closer). */
static inline void asyncio__context_renew(asyncio__context_t *c)
{
    asyncio__cnode_t *m = asyncio__context_capture();
    asyncio__cnode_decref(c->map);
    c->map = m;
    c->id = 0;
}

/* A user's callback run as Python's loop runs a Handle: in context c and
 * outside any task (current_task() is NULL in it), also when the library
 * calls it from inside a task (connection_made before create_connection
 * returns).  Between asyncio__callback_enter and _leave, on the loop's
 * thread; c must stay alive until _leave. */
typedef struct asyncio__callback_scope {
    struct asyncio__task *task;
    asyncio__context_t *context;
} asyncio__callback_scope_t;
asyncio__callback_scope_t asyncio__callback_enter(asyncio__context_t *c);
void asyncio__callback_leave(asyncio__callback_scope_t was);
/* The same around a call of any shape: `call` runs between the two, in c
 * (an asyncio__context_t *). */
#define ASYNCIO__CALLBACK_IN(c, call)                                                              \
    do {                                                                                           \
        asyncio__callback_scope_t was_ = asyncio__callback_enter(c);                               \
        call;                                                                                      \
        asyncio__callback_leave(was_);                                                             \
    } while (0)
/* Python's call_soon of a callback an object runs once (connection_made):
 * `call` runs in a fresh copy of c's mapping, which goes afterwards. */
#define ASYNCIO__CALLBACK_ONCE(c, call)                                                            \
    do {                                                                                           \
        asyncio__context_t once_ = {(c)->map, 0};                                                  \
        asyncio__cnode_incref(once_.map);                                                          \
        ASYNCIO__CALLBACK_IN(&once_, call);                                                        \
        asyncio__context_drop(&once_);                                                             \
    } while (0)
/* Variables and Context objects alive: the allocator may not change. */
extern atomic_long asyncio__live_contexts;

/* ---------------------------------------------------------------- loop */

/* An entry of the ready queue.  Intrusive: the object to run embeds it, so
 * scheduling never allocates and cannot fail. */
typedef struct asyncio__ready {
    struct asyncio__ready *next;
    void (*run)(struct asyncio__ready *);
} asyncio__ready_t;

typedef struct asyncio__ready_queue {
    asyncio__ready_t *head;
    asyncio__ready_t **tailp;
} asyncio__ready_queue_t;

/* A callback scheduled with call_soon/call_later/call_at.  While its
 * deadline is pending it sits among the loop's deadlines (heap_index says
 * where); once due it goes to the ready queue. */
typedef struct asyncio__timer {
    asyncio__ready_t ready;
    asyncio_loop_t *loop;
    asyncio_callback_fn fn;
    void *arg;
    uint64_t id;      /* 0 once ran or cancelled (handles compare it) */
    uint64_t when_ns; /* deadline, ns of the monotonic clock */
    uint64_t seq;     /* FIFO among equal deadlines */
    size_t heap_index; /* in the heap; ASYNCIO__IN_RUN | position: in the run; SIZE_MAX: neither */
    uint8_t cancelled;
    uint8_t in_context;       /* a user's callback: runs in a copy of ctxmap */
    asyncio__cnode_t *ctxmap; /* the context when scheduled (owned), if in_context */
} asyncio__timer_t;
#define ASYNCIO__IN_RUN ((SIZE_MAX >> 1) + 1)

/* A heap entry carries its timer's deadline: sifting compares entries of
 * the array, next to each other, without reading the timers. */
typedef struct asyncio__heap_item {
    uint64_t when_ns;
    asyncio__timer_t *timer;
} asyncio__heap_item_t;

/* The loop's pending deadlines (timer.c): a binary min-heap, and beside it
 * a run, a FIFO of deadlines that came in order.  Most timers of a program
 * share a delay (sleeps of one length, a timeout per request), so each
 * deadline is at or after the one scheduled before it: those go to the
 * run's tail, and the earliest comes off its head, both O(1), where the
 * heap costs a sift of log2(n) levels each way.  The others go to the
 * heap; the earliest timer is the earlier of the two fronts.  A timer
 * cancelled inside the run leaves a hole (a NULL timer) that the run's
 * ends skip, and the run is compacted when holes outnumber its timers. */
typedef struct asyncio__heap {
    asyncio__timer_t *first;     /* the earliest of all, NULL: none (the loop asks often) */
    size_t len;                  /* timers pending, heap and run */
    asyncio__heap_item_t *items; /* the heap, n entries */
    size_t n, cap;
    /* The run: a ring of run_cap entries (a power of two).  Positions
     * count up and are kept by an entry for its life (entry p is
     * run[p & (run_cap - 1)]); head and tail - 1 are never holes. */
    asyncio__heap_item_t *run;
    size_t run_head, run_tail, run_cap, run_live;
} asyncio__heap_t;

/* Deadline order; equal deadlines in scheduling order (the timers are read
 * only then, which nanoseconds make rare). */
static inline bool asyncio__heap_before(const asyncio__heap_item_t *a,
                                        const asyncio__heap_item_t *b)
{
    return a->when_ns < b->when_ns || (a->when_ns == b->when_ns && a->timer->seq < b->timer->seq);
}

int asyncio__heap_push(asyncio__heap_t *h, asyncio__timer_t *t);
asyncio__timer_t *asyncio__heap_pop(asyncio__heap_t *h);
void asyncio__heap_remove(asyncio__heap_t *h, asyncio__timer_t *t);
void asyncio__heap_free(asyncio__heap_t *h);
static inline asyncio__timer_t *asyncio__heap_top(const asyncio__heap_t *h)
{
    return h->first;
}
/* The intrusive list: circular and doubly linked, through a node
 * embedded in each element (asyncio__container_of finds the element); the
 * head is a node too.  A node on no list is linked to itself, so removing
 * it again is harmless.  Tasks, closers, waiters, executor jobs, HTTP
 * transfers and poll handles, a server's connections all use it. */
typedef struct asyncio__list {
    struct asyncio__list *prev, *next;
} asyncio__list_t;

static inline void asyncio__list_init(asyncio__list_t *l)
{
    l->prev = l->next = l;
}

static inline void asyncio__list_insert(asyncio__list_t *head, asyncio__list_t *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline bool asyncio__list_empty(const asyncio__list_t *l)
{
    return l->next == l;
}

static inline void asyncio__list_remove(asyncio__list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* Something whose done callbacks keep futures alive in a cycle (gather's
 * children and the gather future): when the loop closes with it still
 * waiting, close() lets go of them. */
typedef struct asyncio__closer {
    asyncio__list_t link;
    void (*close)(struct asyncio__closer *);
} asyncio__closer_t;

typedef struct asyncio__task asyncio__task_t;

/* Something another thread hands to a loop (asyncio__post): the poster
 * sets ready.run, which runs on the loop's thread, or, if the loop closes
 * first, with loop->closed set, to release what the item holds. */
typedef struct asyncio__inbox_item {
    asyncio__ready_t ready;
    struct asyncio__inbox_item *next;
} asyncio__inbox_item_t;

/* A free list of fixed-size objects; trimmed so memory returns after
 * bursts.  The pools of tasks and futures (pool.c) also make their
 * objects, from slabs of their own with the default allocator. */
typedef struct asyncio__slab asyncio__slab_t;
typedef struct asyncio__freelist {
    void *head;
    size_t len;
    size_t low_water; /* fewest objects it held since the last trim */
    size_t obj_size;  /* 0: a plain list (timers: timer.c makes them) */
    bool slabs;       /* objects are carved from slabs (default allocator) */
    size_t nslabs;
    asyncio__slab_t *slab_list;
    char *carve, *carve_end; /* the newest slab's part not carved yet */
} asyncio__freelist_t;

struct asyncio_loop {
    uint32_t magic;
    uint64_t serial; /* never reused, unlike the address (objects bound to a loop) */
    bool running, stopping, closed, debug;
    uv_loop_t uv;
    uv_timer_t wakeup_timer;    /* wakes the poll for the earliest deadline */
    uv_async_t inbox_async;     /* wakes the loop for call_soon_threadsafe */
    asyncio__coro_t main_ctx;   /* the context the loop itself runs in */
    asyncio__task_t *current;   /* the running task, or NULL */
    asyncio__task_t *last_task; /* the task the last step ran (debug reports) */
    asyncio__ready_queue_t ready;
    asyncio__ready_t *batch;    /* what is left of the iteration being run */
    size_t ran_since_poll;      /* callbacks run since I/O was last polled */
    asyncio__task_t *returning; /* the task that switched back to the loop */
    asyncio__heap_t timers;
    uint64_t now_ns; /* cached clock, refreshed once per iteration */
    uint64_t timer_seq, handle_seq;
    asyncio__list_t tasks;   /* unfinished tasks */
    asyncio__list_t closers; /* asyncio__closer_t, run at close */
    size_t ntasks;
    asyncio__stack_pool_t *stacks;
    size_t stack_size;     /* default for its tasks (ASYNCIO_STACK_SIZE) */
    uint64_t last_trim_ns; /* pools and free lists are trimmed at most this often */
    bool trim_pending;     /* something was left to trim then */
    asyncio__freelist_t free_futures, free_tasks, free_timers;
    struct timer_chunk *timer_chunks; /* all timers' memory, freed at close */
    size_t refs;                      /* futures alive + 1 while open: the struct lives until 0 */
    asyncio_exception_handler_fn exc_handler;
    void *exc_handler_arg;
    /* call_soon_threadsafe: posted by any thread under inbox_lock. */
    pthread_mutex_t inbox_lock;
    asyncio__inbox_item_t *inbox_head, **inbox_tailp;
    atomic_bool inbox_pending; /* a hint, read without the lock */
    void *executor;            /* the default executor, when one exists */
    char *read_buf;            /* what every socket of the loop reads into (transport.c):
                                  made on first read, freed at close, as uvloop does */
    char *dgram_buf;           /* what datagram sockets read into, a batch of datagrams at
                                  once (datagram.c): made on first read, freed at close */
    /* HTTP state of the loop, made on first use, gone at its close (the
     * loop, not the thread: a loop may be closed by another thread). */
    struct asyncio__http_session *http_default; /* the session NULL stands for */
    struct asyncio__body_cache *http_bodies;    /* buffers of freed bodies (http_request.c) */
    /* The descriptors the loop watches for add_reader and the waits of
     * its tasks (net/fdwatch.c): made on first use, gone at its close. */
    struct asyncio__fdwatch *fdwatch;
    /* What the running task's next wait is on (asyncio__task_waits_for). */
    const struct asyncio__wait_kind *next_wait_kind;
    const void *next_wait_obj;
    asyncio_future_t *until; /* what run_until_complete waits for (deadlock check) */
    bool deadlocked;         /* run() stopped: nothing could ever wake a task */
    uint64_t recheck_ms;     /* the deadlock check waits on unknown threads: look again then */
    /* The dump signal (introspect.c): unreferenced, it keeps nothing alive. */
    uv_signal_t dump_signal;
    bool dump_signal_on; /* dump_signal is initialised */
    int dump_signal_num; /* 0: none */
};

/* Per-thread state. */
typedef struct asyncio__tls {
    asyncio_loop_t *running;      /* the loop running in this thread */
    asyncio_loop_t *current;      /* the last loop made in this thread */
    asyncio__errstate_t err;      /* the thread's own indicator */
    uint64_t name_next, name_end; /* block of "Task-N" numbers */
    size_t nloops;                /* loops alive made by this thread */
    asyncio__context_t ctx0;      /* the thread's own context (outside tasks) */
    asyncio__context_t *context;  /* the context entered outside tasks; NULL: ctx0 */
    bool ctx_key_set;             /* ctx0's mapping is released at thread exit */
} asyncio__tls_t;
/* initial-exec: a plain %fs-relative access, no __tls_get_addr call. */
extern _Thread_local asyncio__tls_t asyncio__tls __attribute__((tls_model("initial-exec")));

static inline asyncio__task_t *asyncio__current(void)
{
    asyncio_loop_t *l = asyncio__tls.running;
    return l ? l->current : NULL;
}

/* True for a loop that exists and is not closed (the running loop at no
 * cost, others through the registry of live loops). */
bool asyncio__loop_live(asyncio_loop_t *loop);
/* The running loop, else the thread's current open loop, else NULL. */
asyncio_loop_t *asyncio__loop_get(void);
void asyncio__ready_push(asyncio_loop_t *loop, asyncio__ready_t *r);
bool asyncio__loop_may_continue(asyncio_loop_t *loop);
/* Thread-safe: queues it for the loop and wakes the loop; many posts before
 * it wakes cost one wake-up.  ASYNCIO_ERUNTIME if the loop is closed,
 * raising nothing: most posters are worker threads with no one to tell,
 * and the entry points that have someone raise it themselves. */
int asyncio__post(asyncio_loop_t *loop, asyncio__inbox_item_t *it);
void asyncio__loop_next_batch(asyncio_loop_t *loop);
void asyncio__loop_ref(asyncio_loop_t *loop);
void asyncio__loop_unref(asyncio_loop_t *loop);
uint64_t asyncio__now_ns(void);
/* pool.c.  Makes fl (zeroed by its owner) a pool of objects of obj_size:
 * carved from slabs with the default allocator outside AddressSanitizer
 * builds, else one allocation each. */
void asyncio__freelist_init(asyncio__freelist_t *fl, size_t obj_size);
/* A free object, or NULL when there is none (then freelist_new). */
void *asyncio__freelist_get(asyncio__freelist_t *fl);
/* A new object, or NULL without memory (nothing raised). */
void *asyncio__freelist_new(asyncio__freelist_t *fl);
void asyncio__freelist_put(asyncio__freelist_t *fl, void *obj);
/* An object of a closed loop is gone: freed, or kept until the loop's
 * last reference when it is a slab's. */
void asyncio__freelist_release(asyncio__freelist_t *fl, void *obj);
/* Loop idle: gives back what stayed unused since the last trim beyond
 * `keep` objects (whole slabs only, for a pool of slabs); true if a trim
 * one period later may give back more. */
bool asyncio__freelist_trim(asyncio__freelist_t *fl, size_t keep);
/* Whether objects came back since the last trim, beyond `keep`: a trim
 * may have something to give back. */
bool asyncio__freelist_refilled(const asyncio__freelist_t *fl, size_t keep);
/* Loop close: gives back every free object (every slab all free). */
void asyncio__freelist_drain(asyncio__freelist_t *fl);
/* The loop's last reference: every slab goes (no object is left). */
void asyncio__freelist_destroy(asyncio__freelist_t *fl);
/* Schedules fn(arg) at when_ns (0: in the next iteration); NULL and
 * MemoryError on failure. */
asyncio__timer_t *asyncio__timer_start(asyncio_loop_t *loop, uint64_t when_ns,
                                       asyncio_callback_fn fn, void *arg);
/* Cancels a timer that has not run; harmless once it has. */
bool asyncio__timer_cancel(asyncio__timer_t *t, uint64_t id);
/* Loop close: drops every pending timer without running it, then (after
 * the ready queue is dropped too) frees their memory. */
void asyncio__timers_drop(asyncio_loop_t *loop);
void asyncio__timers_free(asyncio_loop_t *loop);
/* Loop close: releases the stacks of tasks that will never finish. */
void asyncio__tasks_abandon(asyncio_loop_t *loop);
/* Reports through the loop's handler (or the default one without a loop). */
void asyncio__report(asyncio_loop_t *loop, const char *message, const asyncio_error_t *exc,
                     asyncio_future_t *fut);

/* What a higher area does at every loop close, once the loop's libuv
 * handles are closed: release per-loop memory (the read buffer of the
 * transports), orphan the executor jobs and concurrent futures of the
 * loop.  An area registers its hook once per process, before anything it
 * could have to release exists; hooks are never removed and run in the
 * order registered.  (Objects of one loop use the loop's closers
 * instead.) */
typedef struct asyncio__close_hook {
    void (*fn)(asyncio_loop_t *loop);
    _Atomic(struct asyncio__close_hook *) next; /* set once, by registration */
} asyncio__close_hook_t;
/* Thread-safe; registering the same hook twice is harmless. */
void asyncio__loop_add_close_hook(asyncio__close_hook_t *hook);

/* What a higher area tells the deadlock check (loop.c, "nothing can wake
 * them"): may_post is true when something the area owns may still post
 * to loop from another thread (a job of the loop queued or running, a
 * worker exit the loop waits for); otherwise it adds to *quiet the threads
 * of the area that can post nothing until given work (idle executor
 * workers).  Called on the loop's thread when the loop would block for
 * good; registered once per process, as close hooks are. */
typedef struct asyncio__wake_hook {
    bool (*may_post)(asyncio_loop_t *loop, long *quiet);
    _Atomic(struct asyncio__wake_hook *) next; /* set once, by registration */
} asyncio__wake_hook_t;
void asyncio__loop_add_wake_hook(asyncio__wake_hook_t *hook);

/* The library is about to hand work to libuv's thread pool (files, DNS):
 * the pool's threads exist from then on, and the deadlock check knows
 * them (they post only for requests in flight, which keep a loop alive).
 * Thread-safe. */
void asyncio__uv_pool_used(void);

/* ---------------------------------------------------------------- introspection */

/* introspect.c.  Debug mode: where a task is created, as return addresses
 * (count first); NULL without memory. */
void **asyncio__capture_stack(void);
/* Writes the task dump of loop to out: every unfinished task, its state,
 * what it waits on and for how long, where it was created (debug mode),
 * and its backtrace.  On the loop's thread. */
void asyncio__loop_dump(asyncio_loop_t *loop, FILE *out);
/* "<Task pending name='x'>", "<Future pending>", or what the future's
 * ops describe. */
void asyncio__describe_future(asyncio_future_t *f, char *buf, size_t len);
/* The name of the function at addr ("fetch", "fetch+0x12", or the
 * address), into buf. */
const char *asyncio__function_name(const void *addr, char *buf, size_t len);
/* A signal by number or name ("SIGQUIT", "QUIT", "3", "RTMIN+2"); 0 for
 * none, -1 if not a signal. */
int asyncio__parse_signal(const char *s);

/* ---------------------------------------------------------------- futures */

enum { ASYNCIO__PENDING, ASYNCIO__FINISHED, ASYNCIO__CANCELLED };

#define ASYNCIO__FUTURE_MAGIC 0xF07E0001u
#define ASYNCIO__DEAD_MAGIC 0xDEADF07Eu

/* A done callback.  The first one lives inside the future (cb0); more are
 * allocated with a pointer back to their future.  When the future
 * completes each record moves to the ready queue, holding a reference to
 * the future until it has run. */
typedef struct asyncio__callback {
    asyncio__ready_t ready;
    struct asyncio__callback *next;
    asyncio_done_fn fn;
    void *arg;
    /* A user's callback runs in a copy of the context current when it was
     * added: that context's mapping (owned).  The library's own callbacks
     * have ASYNCIO__CB_INTERNAL or ASYNCIO__CB_WAKES_TASK here (bit 0 set,
     * which no mapping has): they run even once the loop is closed, to
     * release what they hold, where the user's are dropped, as Python
     * drops them.
     *
     * ASYNCIO__CB_WAKES_TASK, a task's wake-up: the task holds its own
     * reference to the future it waits on (t->waiting), so the record's
     * is dropped before the call.  Otherwise the step the call runs -- the
     * task's code up to its next suspension, or further when tasks hand
     * over to each other -- would keep the future alive all along, and
     * what it holds (gather's children) with it.  (A sentinel rather than
     * a flag of its own: every future carries a record, every task a
     * future.) */
    asyncio__cnode_t *ctxmap;
    /* Consulted when the future completes, before the record is queued:
     * true if it did at once all that fn would have done and nothing
     * could tell the difference (no user code, no effect whose moment in
     * the ready queue matters); the record is then dropped, not queued.
     * NULL for most: gather's bookkeeping for a child that is not the
     * last uses it, sparing a queue entry and a later visit per child. */
    bool (*settle)(asyncio_future_t *fut, void *arg);
} asyncio__callback_t;
#define ASYNCIO__CB_INTERNAL ((asyncio__cnode_t *)1)
#define ASYNCIO__CB_WAKES_TASK ((asyncio__cnode_t *)3)
static inline bool asyncio__cb_internal(const asyncio__callback_t *cb)
{
    return ((uintptr_t)cb->ctxmap & 1) != 0;
}

/* What a future of another kind does differently from a plain one: a
 * task, a combinator's future.  cancel: a task cancels what it awaits,
 * gather cancels its children instead of itself.  free: releases what it
 * holds besides the future's own fields (a combinator's impl, a task's
 * name).  release: gives its memory back (NULL: a plain future's way, the
 * loop's free list of futures). */
typedef struct asyncio__future_ops {
    bool (*cancel)(asyncio_future_t *, const char *msg);
    void (*free)(asyncio_future_t *);
    void (*release)(asyncio_future_t *);
    /* Task dumps: writes what the future stands for ("gather() of 3, 1
     * done", "to_thread(fetch)") to buf, at most len bytes; NULL: a plain
     * future's description. */
    void (*describe)(asyncio_future_t *, char *buf, size_t len);
} asyncio__future_ops_t;

struct asyncio_future {
    uint32_t magic;
    uint8_t state;
    uint8_t is_task;
    uint8_t log_exception; /* failed and nobody retrieved the exception */
    uint8_t cb0_used;
    int32_t refcnt;
    /* Zero but inside a combinator's walk over an array of futures, which
     * marks the ones it has seen (gather's duplicates) and clears the
     * marks before it returns. */
    uint8_t mark;
    asyncio_loop_t *loop;
    void *result;
    asyncio__exc_t *exc; /* exception, or CancelledError once cancelled */
    asyncio__callback_t cb0;
    asyncio__callback_t *cbs; /* pending callbacks in order (cb0 among them) */
    asyncio__callback_t **cbs_tailp;
    const asyncio__future_ops_t *ops; /* NULL for a plain future */
    void *impl;
};

/* Makes a pending future of loop (new reference) or NULL with MemoryError. */
asyncio_future_t *asyncio__future_new(asyncio_loop_t *loop);
/* Completes fut; schedules its callbacks.  exc is taken over. */
void asyncio__future_finish(asyncio_future_t *fut, void *result, asyncio__exc_t *exc);
/* Marks fut cancelled with msg (copied when not NULL); schedules callbacks. */
bool asyncio__future_cancel(asyncio_future_t *fut, const char *msg);
/* Marks f cancelled with exc (taken over; NULL: made on demand). */
void asyncio__future_set_cancelled(asyncio_future_t *f, asyncio__exc_t *exc);
/* The CancelledError of a cancelled future (made on first use). */
asyncio__exc_t *asyncio__future_cancelled_exc(asyncio_future_t *fut);
/* Raises fut's outcome in the current indicator and returns its code (0 on
 * success, storing the result; NULL stored on failure); marks the
 * exception retrieved. */
int asyncio__future_outcome(asyncio_future_t *fut, void **result);
int asyncio__add_callback(asyncio_future_t *fut, asyncio_done_fn fn, void *arg);
/* The same for a callback that resumes a task which holds its own
 * reference to fut until it has resumed (see ASYNCIO__CB_WAKES_TASK above). */
int asyncio__add_task_wakeup(asyncio_future_t *fut, asyncio_done_fn fn, void *arg);
/* The same for an internal callback with a settle function (see the
 * record's settle above). */
int asyncio__add_callback_settle(asyncio_future_t *fut, asyncio_done_fn fn,
                                 bool (*settle)(asyncio_future_t *, void *), void *arg);
/* True for a live future; otherwise ValueError ("fut is NULL", "not a
 * live future") and false. */
bool asyncio__future_check(asyncio_future_t *fut);
/* The loop of an array of futures (asyncio_wait, gather, as_completed):
 * all live and of one loop; for n == 0 the running (or current) loop.
 * NULL after raising ValueError ("futs is NULL", "futs[2] is NULL",
 * "futures are tied to different event loops") or RuntimeError ("no
 * running event loop"). */
asyncio_loop_t *asyncio__futures_loop(asyncio_future_t *const *futs, size_t n);
void asyncio__future_release(asyncio_future_t *fut);

/* ---------------------------------------------------------------- tasks */

/* What a suspended task waits on, for task dumps: what Python would show
 * it awaiting ("Lock.acquire()", "Queue.get()", "sleep()") and a function
 * describing the object as Python's repr would ("<Lock [locked,
 * waiters:2]>").  An area that suspends a task on something of its own
 * names it right before the wait (asyncio__task_waits_for); a wait with
 * nothing named describes the future awaited.  The object must stay alive
 * while the task waits on it (it does: the task is inside a call on it). */
typedef struct asyncio__wait_kind {
    const char *what;
    /* Writes obj's description to buf (NUL-terminated, at most len bytes);
     * NULL: what alone says it. */
    void (*describe)(const void *obj, char *buf, size_t len);
} asyncio__wait_kind_t;

/* A wait in progress, in the frame of asyncio__task_wait_on while the task
 * is suspended there (no memory of the task's own: tasks stay small). */
typedef struct asyncio__wait {
    const asyncio__wait_kind_t *kind; /* NULL: an await of t->waiting */
    const void *obj;
    uint64_t since_ns; /* the loop's clock (now_ns) when it suspended */
} asyncio__wait_t;

/* The rare parts of a task, allocated when it has one of them: a context
 * given at creation or entered with asyncio_context_run, a creation site
 * (debug mode).  Its own context's mapping moves here then. */
typedef struct asyncio__task_extra {
    asyncio__cnode_t *map;            /* its own context's mapping */
    struct asyncio__context *given;   /* opts.context (a reference), or NULL */
    struct asyncio__context *context; /* the one it runs in now; NULL: its own */
    void **created_at;                /* debug mode: count, then return addresses */
} asyncio__task_extra_t;

/* A task's memory is a cost of every task (and of the memory bandwidth of
 * programs with many): 272 bytes on x86-64 without sanitizers.  What is
 * rare lives in the extras, what a wait describes in the waiting frame.
 * The fields set before the first step are listed in
 * asyncio_create_task_ex. */
struct asyncio__task {
    asyncio_future_t fut;  /* a task is a future; fut.impl is its coroutine's
                              argument, fut.result its return value */
    char *name;            /* set by set_name, or "Task-<number>" made on demand; next to
                            * the future's fields, which its last release reads anyway */
    asyncio__ready_t step; /* scheduled to run its next step */
    asyncio__coro_t ctx;
    asyncio__stack_t stack; /* before the first step, size_log2 is the size asked (0: default) */
    asyncio_coro_fn fn;
    /* Its context (context.c): the mapping of its own context, a copy of
     * its creator's (NULL: empty), or, with bit 0 set, its extras. */
    asyncio__cnode_t *ctxmap;
    asyncio_future_t *waiting; /* the future it is suspended on */
    const asyncio__wait_t *wait; /* what it waits on while suspended there (dumps) */
    asyncio__list_t link;      /* in loop->tasks while unfinished */
    asyncio__errstate_t err;   /* its error indicator */
    uint64_t number;
    char *cancel_msg;              /* message for a pending must_cancel */
    struct asyncio__scope *scopes; /* open timeouts and task groups, innermost first */
    int32_t num_cancels_requested;
    uint8_t must_cancel, started, finished, step_scheduled;
    uint8_t unwinding, unwind_attempts; /* loop close (tasks_abandon) */
    uint8_t cancelling_waiting;         /* inside the cancel of what it awaits */
};

static inline asyncio__task_t *asyncio__as_task(asyncio_future_t *f)
{
    return (f && f->is_task) ? (asyncio__task_t *)f : NULL;
}

/* The task's extras, or NULL. */
static inline asyncio__task_extra_t *asyncio__task_extra(const asyncio__task_t *t)
{
    uintptr_t c = (uintptr_t)t->ctxmap;
    return (c & 1) ? (asyncio__task_extra_t *)(c - 1) : NULL;
}

/* Where the current context's mapping is (what get reads and set
 * replaces): the running task's, else the calling thread's. */
static inline asyncio__cnode_t **asyncio__context_slot(void)
{
    asyncio_loop_t *l = asyncio__tls.running;
    asyncio__task_t *t = l ? l->current : NULL;
    if (t) {
        asyncio__task_extra_t *x = asyncio__task_extra(t);
        if (ASYNCIO__LIKELY(!x))
            return &t->ctxmap;
        return x->context ? &x->context->map : &x->map;
    }
    return asyncio__tls.context ? &asyncio__tls.context->map : &asyncio__tls.ctx0.map;
}

/* The extras of t, made on first need; NULL with MemoryError raised. */
asyncio__task_extra_t *asyncio__task_extras(asyncio__task_t *t);

/* The context a new task runs in (context.c), per asyncio_task_opts_t's
 * context: that object (*obj, a reference taken), else NULL and *map a
 * copy of the current one (a reference).  ValueError for a handle that is
 * not a live context. */
int asyncio__context_for_task(asyncio_context_t *given, asyncio__context_t **obj,
                              asyncio__cnode_t **map);
/* The task ended: its contexts let go of what they held, its extras go. */
void asyncio__task_release_extras(asyncio__task_t *t);
/* Drops a reference to a context object (asyncio__context_for_task's). */
void asyncio__context_unref(asyncio__context_t *c);

/* Names what the next wait of t (the running task of its loop) is on: two
 * stores into its loop, taken by the wait that follows at once. */
static inline void asyncio__task_waits_for(asyncio__task_t *t, const asyncio__wait_kind_t *kind,
                                           const void *obj)
{
    t->fut.loop->next_wait_kind = kind;
    t->fut.loop->next_wait_obj = obj;
}

/* Suspends the current task until fut is done (or the task is cancelled);
 * returns 0 or ASYNCIO_ECANCELLED (raised).  Checks and errors are the
 * caller's. */
int asyncio__task_wait_on(asyncio__task_t *task, asyncio_future_t *fut);
/* The same for a future private to the caller, which only the task's own
 * cancellation can cancel: returns ASYNCIO_ECANCELLED (raised) then too. */
int asyncio__task_wait_private(asyncio__task_t *t, asyncio_future_t *fut);
/* The current task, or NULL after raising RuntimeError as Python would
 * for an await there: "no running event loop" when no loop runs in this
 * thread, "no running task" in a loop's callback. */
asyncio__task_t *asyncio__task_or_raise(void);
bool asyncio__task_cancel(asyncio__task_t *t, const char *msg);
const char *asyncio__task_name(asyncio__task_t *t);

/* An open `async with` scope (a timeout, a task group), on its task's
 * stack of scopes, innermost first.  close() closes and frees one that the
 * coroutine left open when it returned (the scope rule). */
typedef struct asyncio__scope {
    struct asyncio__scope *outer;
    asyncio__task_t *task;
    const char *kind; /* for debug reports: "timeout", "TaskGroup" */
    /* Errors propagating when it was entered: those raised above them at
     * exit are the body's (Python's __aexit__ sees only those). */
    size_t raised_at_enter;
    void (*close)(struct asyncio__scope *);
} asyncio__scope_t;

void asyncio__scope_push(asyncio__task_t *t, asyncio__scope_t *s, const char *kind,
                         void (*close)(asyncio__scope_t *));
/* Of the errors raised now, how many were raised inside scope s. */
size_t asyncio__scope_raised(const asyncio__scope_t *s);
/* Takes s off its task's stack of scopes, wherever it is. */
void asyncio__scope_remove(asyncio__scope_t *s);
/* The coroutine returned: closes what it left open, innermost first. */
void asyncio__scopes_close(asyncio__task_t *t);
/* task.uncancel(), also clearing a cancellation not yet delivered when no
 * request is left (Python 3.13's rule: no stray cancellation). */
int asyncio__task_uncancel(asyncio__task_t *t);

#endif /* CASYNCIO_CORE_CORE_H */
