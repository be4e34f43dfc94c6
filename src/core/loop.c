/*
 * The event loop.
 *
 * One iteration is asyncio's _run_once: move the timers that are due to the
 * ready queue, then run exactly the callbacks that were ready when the
 * iteration began (what they schedule runs in the next one).  I/O is
 * libuv's: uv_run(UV_RUN_NOWAIT) polls without blocking while callbacks are
 * ready, uv_run(UV_RUN_ONCE) blocks when nothing is, woken by I/O, by one
 * uv_timer_t armed for the earliest deadline, or by the inbox.
 *
 * Polling costs a system call, so while callbacks keep being ready the loop
 * runs iterations until about CALLBACKS_PER_POLL callbacks have run before
 * it polls again, each iteration counting as ITERATION_WEIGHT callbacks
 * more: a task spinning on sleep(0) (one callback an iteration) still
 * sees I/O within about sixty iterations, as Python polls every one.  The
 * order of callbacks is the same; I/O is merely noticed a few microseconds
 * later.
 *
 * Timers live in our own binary heap (timer.c), ordered by deadline then by
 * scheduling order, with nanosecond deadlines: libuv's millisecond timers
 * would round every sleep.
 */
#include "core/core.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOP_MAGIC 0x100Bu
#define CALLBACKS_PER_POLL 1024
#define ITERATION_WEIGHT 16
#define FREELIST_KEEP 1024            /* objects kept per free list when the loop idles */
#define SLOW_CALLBACK_NS 100000000ull /* debug mode reports callbacks over 100 ms */
#define TRIM_PERIOD_NS 1000000000ull  /* unused this long, pooled memory goes back */

/* Live loops, so that a closed or bogus loop pointer is refused instead of
 * followed (asyncio_loop_close, asyncio_call_soon_threadsafe).  Posting
 * threads hold the read lock while they touch a loop; close takes the write
 * lock to unregister it first.  The gdb helper (tools/casyncio-gdb.py)
 * finds the loops of a process, or of a core file, by these names. */
static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static asyncio_loop_t **loop_registry;
static size_t loop_registry_len, loop_registry_cap;

static bool registered(asyncio_loop_t *loop)
{
    for (size_t i = 0; i < loop_registry_len; i++)
        if (loop_registry[i] == loop)
            return true;
    return false;
}

/* May a suspending task start the next iteration itself?  Only when that
 * iteration would begin with nothing else to do: no timer to look at, no
 * post from another thread, no poll due, no stop requested. */
bool asyncio__loop_may_continue(asyncio_loop_t *loop)
{
    return !loop->stopping && !loop->timers.len && loop->ran_since_poll < CALLBACKS_PER_POLL &&
           !atomic_load_explicit(&loop->inbox_pending, memory_order_relaxed) && loop->ready.head;
}

/* Starts the next iteration's batch (see asyncio__loop_may_continue). */
void asyncio__loop_next_batch(asyncio_loop_t *loop)
{
    loop->ran_since_poll += ITERATION_WEIGHT;
    loop->batch = loop->ready.head;
    loop->ready.head = NULL;
    loop->ready.tailp = &loop->ready.head;
}

bool asyncio__loop_live(asyncio_loop_t *loop)
{
    if (!loop)
        return false;
    if (loop == asyncio__tls.running) /* a running loop cannot be closed */
        return true;
    pthread_rwlock_rdlock(&registry_lock);
    bool live_loop = registered(loop);
    pthread_rwlock_unlock(&registry_lock);
    return live_loop;
}

/* A callback posted with asyncio_call_soon_threadsafe. */
typedef struct threadsafe_call {
    asyncio__inbox_item_t item;
    asyncio_loop_t *loop;
    asyncio_callback_fn fn;
    void *arg;
    asyncio__cnode_t *ctxmap; /* the posting thread's context then (Python's Handle) */
} threadsafe_call_t;

uint64_t asyncio__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double asyncio_loop_time(asyncio_loop_t *loop)
{
    (void)loop;
    return (double)asyncio__now_ns() / 1e9;
}

asyncio_loop_t *asyncio_get_running_loop(void)
{
    return asyncio__tls.running;
}

asyncio_loop_t *asyncio__loop_get(void)
{
    if (asyncio__tls.running)
        return asyncio__tls.running;
    return asyncio__tls.current;
}

/* ------------------------------------------------------------ ready queue */

void asyncio__ready_push(asyncio_loop_t *loop, asyncio__ready_t *r)
{
    r->next = NULL;
    *loop->ready.tailp = r;
    loop->ready.tailp = &r->next;
}

/* Debug mode: reports a slow callback or task step, and lets go of the
 * task the step ran (task_step keeps it alive until here). */
static void debug_step_done(asyncio_loop_t *loop, uint64_t ns)
{
    asyncio__task_t *t = loop->last_task;
    loop->last_task = NULL;
    if (ns > SLOW_CALLBACK_NS) {
        if (t)
            fprintf(stderr, "casyncio: executing task '%s' took %.3f seconds\n",
                    asyncio__task_name(t), (double)ns / 1e9);
        else
            fprintf(stderr, "casyncio: executing a callback took %.3f seconds\n", (double)ns / 1e9);
    }
    if (t)
        asyncio_decref(&t->fut);
}

/* A plain callback (not a task) left an error raised in the thread's
 * indicator: Python's Handle._run reports it and goes on. */
static void callback_failed(asyncio_loop_t *loop)
{
    asyncio__exc_t *e = asyncio__tls.err.raised;
    asyncio__tls.err.raised = NULL;
    asyncio__report(loop, "Exception in callback", &e->pub, NULL);
    asyncio__exc_free(e);
    asyncio__errstate_clear(&asyncio__tls.err); /* whatever the handler raised */
}

/* Runs the callbacks ready now; those they schedule wait for the next
 * call.  The rest of the batch is loop->batch rather than a local: a
 * suspending task may take the next task step from it and switch to that
 * task directly (asyncio__task_handoff). */
static void run_ready(asyncio_loop_t *loop)
{
    asyncio__loop_next_batch(loop);
    asyncio__ready_t *r;
    while ((r = loop->batch)) {
        loop->batch = r->next; /* r may be freed by its own run */
        loop->ran_since_poll++;
        if (ASYNCIO__UNLIKELY(loop->debug)) {
            uint64_t t0 = asyncio__now_ns();
            r->run(r);
            debug_step_done(loop, asyncio__now_ns() - t0);
        } else {
            r->run(r);
        }
        if (ASYNCIO__UNLIKELY(asyncio__tls.err.raised))
            callback_failed(loop);
    }
}

/* Drops what is queued without running user code (loop close). */
static void drop_ready(asyncio_loop_t *loop)
{
    while (loop->ready.head)
        run_ready(loop); /* every run function checks loop->closed */
}

/* ------------------------------------------------------------ running */

static void expire_timers(asyncio_loop_t *loop)
{
    if (!loop->timers.len)
        return;
    loop->now_ns = asyncio__now_ns();
    asyncio__timer_t *t;
    while ((t = asyncio__heap_top(&loop->timers)) && t->when_ns <= loop->now_ns) {
        asyncio__heap_pop(&loop->timers);
        asyncio__ready_push(loop, &t->ready);
    }
}

static void wakeup_noop(uv_timer_t *h)
{
    (void)h;
}

/* Blocks in libuv until I/O, the inbox or the earliest deadline. */
static void poll_blocking(asyncio_loop_t *loop)
{
    uint64_t now = asyncio__now_ns();
    /* Going idle: at most once per TRIM_PERIOD_NS, hand back what bursts
     * left pooled and nobody took since the last time. */
    if (now - loop->last_trim_ns >= TRIM_PERIOD_NS) {
        loop->last_trim_ns = now;
        loop->trim_pending = asyncio__stack_pool_trim(loop->stacks);
        loop->trim_pending |= asyncio__freelist_trim(&loop->free_tasks, FREELIST_KEEP);
        loop->trim_pending |= asyncio__freelist_trim(&loop->free_futures, FREELIST_KEEP);
    } else if (!loop->trim_pending) {
        /* The last trim found nothing left to do, and a burst came back
         * since: trim when the period is over, also if the loop stays
         * idle until then (it would keep the burst's memory for good). */
        loop->trim_pending = asyncio__freelist_refilled(&loop->free_tasks, FREELIST_KEEP) ||
                             asyncio__freelist_refilled(&loop->free_futures, FREELIST_KEEP) ||
                             asyncio__stack_pool_refilled(loop->stacks);
    }
    uint64_t ms =
        loop->trim_pending ? (loop->last_trim_ns + TRIM_PERIOD_NS - now) / 1000000 + 1 : UINT64_MAX;
    if (loop->recheck_ms && loop->recheck_ms < ms)
        ms = loop->recheck_ms; /* the deadlock check looks again then */
    asyncio__timer_t *t = asyncio__heap_top(&loop->timers);
    if (t) {
        if (t->when_ns <= now) {
            uv_run(&loop->uv, UV_RUN_NOWAIT); /* became due meanwhile */
            return;
        }
        uint64_t due_ms = (t->when_ns - now + 999999) / 1000000;
        if (due_ms < ms)
            ms = due_ms;
    }
    if (ms != UINT64_MAX) {
        uv_update_time(&loop->uv);
        /* libuv runs due timers before it polls: if ours fired there, the
         * poll would have no deadline left and block for good.  The 1 ms
         * repeat keeps one. */
        uv_timer_start(&loop->wakeup_timer, wakeup_noop, ms, 1);
    } else {
        uv_timer_stop(&loop->wakeup_timer);
    }
    uv_run(&loop->uv, UV_RUN_ONCE);
}

/* ------------------------------------------------------------ deadlocks */

/*
 * When is it certain that no task of the loop can ever run again?  Every
 * task wakes through a callback of the loop (the future it awaits is
 * completed by one), and every callback comes from the ready queue, a
 * timer, libuv (I/O, signals, processes, requests of the thread pool) or
 * the inbox, which only other threads fill.  So when the loop is about to
 * block and
 *   1. the ready queue and the inbox are empty and no timer is pending
 *      (sleeps, timeouts, call_later), and
 *   2. libuv has nothing that could call back: no active referenced
 *      handle but the loop's own wake-up timer and inbox (a reading
 *      stream, a listening server, a running child, a signal handler, an
 *      HTTP transfer's sockets and timer all are such handles; the dump
 *      signal and asyncio_run's SIGINT handling are not), no request in
 *      flight (file, DNS, connect, write), no handle closing, and
 *   3. no higher area has something that will post (an executor job of
 *      this loop queued or running, a worker exit the loop waits for), and
 *   4. no other thread of the process could post: every thread but this
 *      one is a thread of the library that cannot (an idle executor
 *      worker, libuv's thread pool once the library used it: the pool
 *      posts only for requests in flight), counted from
 *      /proc/self/status, since any thread may hold the loop for
 *      call_soon_threadsafe or run_coroutine_threadsafe,
 * then nothing can ever wake a task: run_until_complete reports it instead
 * of blocking forever.  Anything unknown (no /proc, a thread the library
 * did not start) counts as a possible wake-up: the report is never
 * wrong, it may only be missed; while only such threads keep it possible
 * the loop looks again now and then (they may end or go idle without
 * posting).  A signal
 * arriving through a plain handler cannot post (call_soon_threadsafe is
 * not async-signal-safe); Ctrl-C still interrupts a program that hangs.
 */

static _Atomic(asyncio__wake_hook_t *) wake_hooks;
static pthread_mutex_t wake_hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long uv_pool_threads; /* libuv's pool, once the library used it */

void asyncio__loop_add_wake_hook(asyncio__wake_hook_t *hook)
{
    pthread_mutex_lock(&wake_hooks_lock);
    _Atomic(asyncio__wake_hook_t *) *at = &wake_hooks;
    asyncio__wake_hook_t *h;
    while ((h = atomic_load_explicit(at, memory_order_acquire)) && h != hook)
        at = &h->next;
    if (!h)
        atomic_store_explicit(at, hook, memory_order_release);
    pthread_mutex_unlock(&wake_hooks_lock);
}

void asyncio__uv_pool_used(void)
{
    if (atomic_load_explicit(&uv_pool_threads, memory_order_relaxed))
        return;
    /* libuv 1.x's own rule (threadpool.c): UV_THREADPOOL_SIZE, 0 means 1,
     * at most 1024, else 4; read when the pool starts, which is now. */
    const char *env = getenv("UV_THREADPOOL_SIZE");
    long n = env ? atol(env) : 4;
    if (n <= 0)
        n = 1;
    if (n > 1024)
        n = 1024;
    long zero = 0;
    atomic_compare_exchange_strong(&uv_pool_threads, &zero, n);
}

/* Threads of the process, or -1 if unknown. */
static long process_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) {
            n = strtol(line + 8, NULL, 10);
            break;
        }
    fclose(f);
    return n;
}

/* True if libuv holds something that could call back (2 above): its own
 * liveness, without the loop's wake-up timer and inbox. */
static bool uv_may_call_back(asyncio_loop_t *loop)
{
    uv_unref((uv_handle_t *)&loop->inbox_async);
    uv_unref((uv_handle_t *)&loop->wakeup_timer);
    bool alive = uv_loop_alive(&loop->uv);
    uv_ref((uv_handle_t *)&loop->inbox_async);
    uv_ref((uv_handle_t *)&loop->wakeup_timer);
    return alive;
}

enum { WAKE_POSSIBLE, WAKE_NEVER, WAKE_UNLESS_THREADS };

/* The conditions above, cheapest first: the first ones fail at once in a
 * program with anything to do.  WAKE_UNLESS_THREADS: only threads the
 * library does not know keep a wake-up possible; they may end or go idle
 * without posting, so the loop looks again a little later (while it
 * blocks: see run). */
static int can_wake(asyncio_loop_t *loop)
{
    if (loop->timers.len || loop->ready.head || loop->batch ||
        atomic_load_explicit(&loop->inbox_pending, memory_order_acquire) || uv_may_call_back(loop))
        return WAKE_POSSIBLE;
    long quiet = 0;
    for (asyncio__wake_hook_t *h = atomic_load_explicit(&wake_hooks, memory_order_acquire); h;
         h = atomic_load_explicit(&h->next, memory_order_acquire))
        if (h->may_post(loop, &quiet))
            return WAKE_POSSIBLE;
    long threads = process_threads();
#ifdef ASYNCIO__TSAN
    /* ThreadSanitizer runs a thread of its own from the first
     * pthread_create, and in every forked child: with more than one
     * thread, one at least is its.  (A forked child that then makes
     * threads has two: reports are missed there, never wrong.) */
    if (threads > 1)
        threads--;
#endif
    if (threads < 0 ||
        threads - 1 - quiet - atomic_load_explicit(&uv_pool_threads, memory_order_relaxed) > 0)
        return WAKE_UNLESS_THREADS;
    /* A thread that was busy when counted and idle since may have posted
     * on its way: the inbox says so (its post came before its idling). */
    pthread_mutex_lock(&loop->inbox_lock);
    bool posted = loop->inbox_head != NULL;
    pthread_mutex_unlock(&loop->inbox_lock);
    return posted ? WAKE_POSSIBLE : WAKE_NEVER;
}

static int run_checks(asyncio_loop_t *loop)
{
    if (!asyncio__loop_live(loop)) /* closed, or never a loop */
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
    if (loop->running)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "This event loop is already running");
    if (asyncio__tls.running)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "Cannot run the event loop while another loop is running");
    return 0;
}

static void drain_inbox(asyncio_loop_t *loop);

static void run(asyncio_loop_t *loop)
{
    /* Callbacks run with a clean indicator: the caller's error, if any,
     * is set aside and comes back when the loop stops. */
    asyncio__errstate_t outer_err = asyncio__tls.err;
    asyncio__tls.err = (asyncio__errstate_t){NULL, NULL};
    asyncio_loop_t *outer_current = asyncio__tls.current;
    asyncio__tls.running = loop;
    asyncio__tls.current = loop;
    loop->running = true;
    loop->now_ns = asyncio__now_ns();
    for (;;) {
        while (loop->ran_since_poll < CALLBACKS_PER_POLL) {
            /* Posts from other threads join the next iteration, as they
             * would join Python's ready queue, without waiting for a poll. */
            if (atomic_load_explicit(&loop->inbox_pending, memory_order_relaxed))
                drain_inbox(loop);
            expire_timers(loop);
            if (!loop->ready.head)
                break;
            run_ready(loop);
            if (loop->stopping)
                goto out;
        }
        if (loop->stopping)
            break;
        loop->ran_since_poll = 0;
        if (loop->ready.head) {
            uv_run(&loop->uv, UV_RUN_NOWAIT);
        } else {
            int verdict = loop->until ? can_wake(loop) : WAKE_POSSIBLE;
            if (verdict == WAKE_NEVER) {
                loop->deadlocked = true;
                break;
            }
            /* Unknown threads: look again after 10 ms, then less and less
             * often, up to once a second, while nothing else happens. */
            if (verdict == WAKE_UNLESS_THREADS)
                loop->recheck_ms =
                    loop->recheck_ms ? (loop->recheck_ms < 500 ? loop->recheck_ms * 2 : 1000) : 10;
            else
                loop->recheck_ms = 0;
            poll_blocking(loop);
        }
        /* The clock tasks read when they suspend (how long they have
         * waited, in task dumps): fresh after every poll. */
        loop->now_ns = asyncio__now_ns();
    }
out:
    loop->stopping = false;
    loop->running = false;
    asyncio__tls.running = NULL;
    /* The loop that was current may have been closed meanwhile. */
    asyncio__tls.current =
        outer_current && asyncio__loop_live(outer_current) ? outer_current : loop;
    asyncio__errstate_clear(&asyncio__tls.err);
    asyncio__tls.err = outer_err;
}

int asyncio_loop_run_forever(asyncio_loop_t *loop)
{
    int rc = run_checks(loop);
    if (rc)
        return rc;
    run(loop);
    return 0;
}

static void stop_when_done(asyncio_future_t *fut, void *arg)
{
    (void)fut;
    asyncio_loop_stop(arg);
}

int asyncio_loop_run_until_complete(asyncio_loop_t *loop, asyncio_future_t *fut, void **result)
{
    int rc = run_checks(loop);
    if (rc)
        return asyncio__out_fail(rc, result);
    if (!asyncio__future_check(fut))
        return asyncio__out_fail(ASYNCIO_EVALUE, result);
    if (fut->loop != loop)
        return asyncio__out_fail(
            asyncio__raise_code(ASYNCIO_EVALUE, "The future belongs to a different loop than the "
                                                "one specified as the loop argument"),
            result);
    asyncio_incref(fut);
    if (!asyncio_done(fut)) {
        if ((rc = asyncio__add_callback(fut, stop_when_done, loop)) != 0) {
            asyncio_decref(fut);
            return asyncio__out_fail(rc, result);
        }
        loop->until = fut;
        loop->deadlocked = false;
        run(loop);
        loop->until = NULL;
        asyncio_remove_done_callback(fut, stop_when_done, loop);
    }
    if (!asyncio_done(fut) && loop->deadlocked) {
        loop->deadlocked = false;
        fprintf(stderr, "casyncio: every task is waiting and nothing can wake them (no callback "
                        "ready, no timer, no I/O, no thread that could post to the loop)\n");
        asyncio__loop_dump(loop, stderr);
        rc = asyncio__out_fail(
            asyncio__raise_code(ASYNCIO_ERUNTIME,
                                "every task is waiting and nothing can wake them"),
            result);
    } else if (!asyncio_done(fut))
        rc = asyncio__out_fail(
            asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop stopped before Future completed."),
            result);
    else
        rc = asyncio__future_outcome(fut, result);
    asyncio_decref(fut);
    return rc;
}

void asyncio_loop_stop(asyncio_loop_t *loop)
{
    if (asyncio__loop_live(loop))
        loop->stopping = true;
}

/* ------------------------------------------------------------ thread-safe inbox */

/* Moves what other threads posted to the ready queue, in posting order. */
static void drain_inbox(asyncio_loop_t *loop)
{
    pthread_mutex_lock(&loop->inbox_lock);
    asyncio__inbox_item_t *it = loop->inbox_head;
    loop->inbox_head = NULL;
    loop->inbox_tailp = &loop->inbox_head;
    atomic_store_explicit(&loop->inbox_pending, false, memory_order_relaxed);
    pthread_mutex_unlock(&loop->inbox_lock);
    for (asyncio__inbox_item_t *next; it; it = next) {
        next = it->next;
        asyncio__ready_push(loop, &it->ready);
    }
}

static void on_inbox(uv_async_t *h)
{
    drain_inbox(h->data);
}

int asyncio__post(asyncio_loop_t *loop, asyncio__inbox_item_t *it)
{
    it->next = NULL;
    if (loop == asyncio__tls.running) {
        /* From the loop's own thread: straight to the ready queue, in
         * order with call_soon, as Python's shared ready queue does. */
        asyncio__ready_push(loop, &it->ready);
        return 0;
    }
    int rc = 0;
    pthread_rwlock_rdlock(&registry_lock);
    if (!registered(loop)) {
        rc = ASYNCIO_ERUNTIME;
    } else if (loop == asyncio__tls.current && !loop->running) {
        /* This thread's loop, not running anywhere: the same. */
        asyncio__ready_push(loop, &it->ready);
    } else {
        pthread_mutex_lock(&loop->inbox_lock);
        *loop->inbox_tailp = it;
        loop->inbox_tailp = &it->next;
        atomic_store_explicit(&loop->inbox_pending, true, memory_order_relaxed);
        pthread_mutex_unlock(&loop->inbox_lock);
        /* Coalesces: many posts before the loop wakes cost one wake-up. */
        uv_async_send(&loop->inbox_async);
    }
    pthread_rwlock_unlock(&registry_lock);
    return rc;
}

static void run_threadsafe_call(asyncio__ready_t *r)
{
    threadsafe_call_t *c = asyncio__container_of(r, threadsafe_call_t, item.ready);
    if (!c->loop->closed)
        asyncio__context_call(c->ctxmap, c->fn, c->arg);
    asyncio__cnode_decref(c->ctxmap);
    asyncio__free(c);
}

int asyncio_call_soon_threadsafe(asyncio_loop_t *loop, asyncio_callback_fn fn, void *arg)
{
    if (!fn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
    if (!loop)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "loop is NULL");
    threadsafe_call_t *c = asyncio__malloc(sizeof *c);
    if (!c)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a callback");
    c->item.ready.run = run_threadsafe_call;
    c->loop = loop;
    c->fn = fn;
    c->arg = arg;
    c->ctxmap = asyncio__context_capture();
    if (asyncio__post(loop, &c->item) != 0) {
        asyncio__cnode_decref(c->ctxmap);
        asyncio__free(c);
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
    }
    return 0;
}

/* ------------------------------------------------------------ life cycle */

/* A peer that closes its end makes the next write to it raise SIGPIPE,
 * which kills the process by default; libuv writes with write(2), so
 * the error must come back as EPIPE instead.  Python ignores SIGPIPE at
 * startup for the same reason; a program that set its own disposition
 * keeps it. */
static void ignore_sigpipe_once(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes every libuv handle of the loop, lets their close callbacks run
 * and closes libuv's loop: the end of asyncio_loop_close, and the unwind
 * of a loop that could not be made. */
static void uv_teardown(asyncio_loop_t *loop)
{
    uv_walk(&loop->uv, close_handle, NULL);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop->uv);
}

/* Adds loop to the registry of live loops; false without memory. */
static bool register_loop(asyncio_loop_t *loop)
{
    pthread_rwlock_wrlock(&registry_lock);
    if (loop_registry_len == loop_registry_cap) {
        size_t cap = loop_registry_cap ? loop_registry_cap * 2 : 8;
        asyncio_loop_t **grown = asyncio__realloc(loop_registry, cap * sizeof *grown);
        if (!grown) {
            pthread_rwlock_unlock(&registry_lock);
            return false;
        }
        loop_registry = grown;
        loop_registry_cap = cap;
    }
    loop_registry[loop_registry_len++] = loop;
    pthread_rwlock_unlock(&registry_lock);
    return true;
}

/* The loop's own fields, once its libuv part works. */
static void init_fields(asyncio_loop_t *loop)
{
    static atomic_uint_fast64_t serials;
    loop->serial = atomic_fetch_add(&serials, 1) + 1;
    loop->magic = LOOP_MAGIC;
    loop->stack_size = asyncio__stack_default_size();
    loop->refs = 1;
    loop->uv.data = loop;
    loop->ready.tailp = &loop->ready.head;
    asyncio__list_init(&loop->tasks);
    asyncio__list_init(&loop->closers);
    loop->inbox_tailp = &loop->inbox_head;
    pthread_mutex_init(&loop->inbox_lock, NULL);
    loop->inbox_async.data = loop;
    asyncio__freelist_init(&loop->free_tasks, sizeof(asyncio__task_t));
    asyncio__freelist_init(&loop->free_futures, sizeof(asyncio_future_t));
    const char *dbg = getenv("ASYNCIO_DEBUG");
    loop->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
}

/* env ASYNCIO_DUMP_SIGNAL: every loop writes its task dump on that
 * signal.  A bad value is reported once and ignored. */
static void dump_signal_from_env(asyncio_loop_t *loop)
{
    const char *env = getenv("ASYNCIO_DUMP_SIGNAL");
    if (!env || !*env)
        return;
    int signum = asyncio__parse_signal(env);
    static atomic_bool warned;
    if (signum > 0 && asyncio_loop_set_dump_signal(loop, signum) == 0)
        return;
    if (signum > 0)
        asyncio_error_clear();
    if (!atomic_exchange(&warned, true))
        fprintf(stderr, "casyncio: ignoring ASYNCIO_DUMP_SIGNAL=%s (not a signal one can catch)\n",
                env);
}

asyncio_loop_t *asyncio_loop_new(void)
{
    static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
    pthread_once(&sigpipe_once, ignore_sigpipe_once);
    int rc = ASYNCIO_ENOMEM;

    /* 1. The object and the context the loop runs in. */
    asyncio_loop_t *loop = asyncio__calloc(1, sizeof *loop);
    if (!loop)
        goto fail0;
    if (asyncio__coro_main_init(&loop->main_ctx) != 0)
        goto fail1;

    /* 2. libuv: the loop, the timer for the earliest deadline, and the
     *    inbox's wake-up (which needs a file descriptor: it can fail). */
    if ((rc = uv_loop_init(&loop->uv)) != 0)
        goto fail2;
    uv_timer_init(&loop->uv, &loop->wakeup_timer);
    if ((rc = uv_async_init(&loop->uv, &loop->inbox_async, on_inbox)) != 0)
        goto fail3;

    /* 3. Complete before it is registered: other threads look it up. */
    init_fields(loop);
    rc = ASYNCIO_ENOMEM;
    if (!register_loop(loop))
        goto fail4;

    asyncio__overflow_handler_install();
    atomic_fetch_add(&asyncio__live_loops, 1);
    asyncio__tls.nloops++;
    asyncio__tls.current = loop;
    dump_signal_from_env(loop);
    return loop;

fail4:
    pthread_mutex_destroy(&loop->inbox_lock);
fail3:
    uv_teardown(loop);
fail2:
    asyncio__coro_destroy(&loop->main_ctx);
fail1:
    asyncio__free(loop);
fail0:
    if (rc == ASYNCIO_ENOMEM)
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an event loop");
    else
        asyncio_raise_uv(rc, NULL);
    return NULL;
}

void asyncio__loop_ref(asyncio_loop_t *loop)
{
    loop->refs++;
}

void asyncio__loop_unref(asyncio_loop_t *loop)
{
    if (--loop->refs == 0) {
        loop->magic = 0;
        asyncio__freelist_destroy(&loop->free_tasks);
        asyncio__freelist_destroy(&loop->free_futures);
        asyncio__free(loop);
        /* Counted until here: its futures came from the allocator too. */
        atomic_fetch_sub(&asyncio__live_loops, 1);
    }
}

/* The higher areas' loop close hooks (core.h): a list that only grows, so
 * a loop closing reads it without a lock. */
static _Atomic(asyncio__close_hook_t *) close_hooks;
static pthread_mutex_t close_hooks_lock = PTHREAD_MUTEX_INITIALIZER;

void asyncio__loop_add_close_hook(asyncio__close_hook_t *hook)
{
    pthread_mutex_lock(&close_hooks_lock);
    _Atomic(asyncio__close_hook_t *) *at = &close_hooks;
    asyncio__close_hook_t *h;
    while ((h = atomic_load_explicit(at, memory_order_acquire)) && h != hook)
        at = &h->next;
    if (!h)
        atomic_store_explicit(at, hook, memory_order_release);
    pthread_mutex_unlock(&close_hooks_lock);
}

static void run_close_hooks(asyncio_loop_t *loop)
{
    for (asyncio__close_hook_t *h = atomic_load_explicit(&close_hooks, memory_order_acquire); h;
         h = atomic_load_explicit(&h->next, memory_order_acquire))
        h->fn(loop);
}

/* Takes loop out of the registry of live loops: from now on no thread can
 * post to it.  Refused (RuntimeError) for a loop that is not live or is
 * running. */
static int unregister_loop(asyncio_loop_t *loop)
{
    pthread_rwlock_wrlock(&registry_lock);
    size_t i = 0;
    while (i < loop_registry_len && loop_registry[i] != loop)
        i++;
    if (i == loop_registry_len) {
        pthread_rwlock_unlock(&registry_lock);
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "the loop is already closed (or was never a loop)");
    }
    if (loop->running) {
        pthread_rwlock_unlock(&registry_lock);
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Cannot close a running event loop");
    }
    loop_registry[i] = loop_registry[--loop_registry_len];
    if (loop_registry_len == 0) {
        /* Freed with the last loop: the allocator may change only now. */
        asyncio__free(loop_registry);
        loop_registry = NULL;
        loop_registry_cap = 0;
    }
    pthread_rwlock_unlock(&registry_lock);
    return 0;
}

/* Drops everything the loop would still have run: callbacks posted but
 * not yet run (as Python drops its ready queue; they join the ready queue,
 * whose entries only release what they hold once the loop is closed), the
 * ready queue (first: its entries may point at tasks about to go), the
 * tasks (unwound), the objects on the closers list, the ready queue again
 * (for what unwinding scheduled) and the timers.  The caller's raised
 * error is set aside meanwhile: dropping runs the ready queue's machinery,
 * which reports what callbacks leave raised. */
static void drop_work(asyncio_loop_t *loop)
{
    asyncio__errstate_t caller_err = asyncio__tls.err;
    asyncio__tls.err = (asyncio__errstate_t){NULL, NULL};
    drain_inbox(loop);
    drop_ready(loop);
    asyncio__tasks_abandon(loop);
    while (!asyncio__list_empty(&loop->closers)) {
        asyncio__closer_t *c = asyncio__container_of(loop->closers.next, asyncio__closer_t, link);
        asyncio__list_remove(&c->link);
        c->close(c);
    }
    drop_ready(loop);
    asyncio__timers_drop(loop);
    asyncio__errstate_clear(&asyncio__tls.err);
    asyncio__tls.err = caller_err;
}

/* The loop's own memory, once libuv is done with it. */
static void free_memory(asyncio_loop_t *loop)
{
    pthread_mutex_destroy(&loop->inbox_lock);
    asyncio__coro_destroy(&loop->main_ctx);
    asyncio__stack_pool_free(loop->stacks);
    loop->stacks = NULL;
    asyncio__freelist_drain(&loop->free_futures);
    asyncio__freelist_drain(&loop->free_tasks);
    asyncio__timers_free(loop);
    asyncio__heap_free(&loop->timers);
}

int asyncio_loop_close(asyncio_loop_t *loop)
{
    if (!loop)
        return 0; /* as every _free and _close */
    int rc = unregister_loop(loop);
    if (rc)
        return rc;
    loop->closed = true;
    drop_work(loop);
    uv_teardown(loop);
    run_close_hooks(loop);
    free_memory(loop);
    if (asyncio__tls.current == loop)
        asyncio__tls.current = NULL;
    if (asyncio__tls.nloops && --asyncio__tls.nloops == 0)
        asyncio__overflow_handler_thread_release();
    asyncio__loop_unref(loop); /* futures still held keep the struct */
    return 0;
}

struct uv_loop_s *asyncio_loop_uv(asyncio_loop_t *loop)
{
    return asyncio__loop_live(loop) ? &loop->uv : NULL;
}

void asyncio_loop_set_debug(asyncio_loop_t *loop, bool enabled)
{
    if (asyncio__loop_live(loop))
        loop->debug = enabled;
}

bool asyncio_loop_get_debug(asyncio_loop_t *loop)
{
    return asyncio__loop_live(loop) && loop->debug;
}

/* ------------------------------------------------------------ exception handler */

void asyncio_loop_set_exception_handler(asyncio_loop_t *loop, asyncio_exception_handler_fn fn,
                                        void *arg)
{
    if (!asyncio__loop_live(loop))
        return;
    loop->exc_handler = fn;
    loop->exc_handler_arg = arg;
}

void asyncio_loop_default_exception_handler(asyncio_loop_t *loop,
                                            const asyncio_exception_context_t *ctx)
{
    (void)loop;
    if (!ctx)
        return;
    fprintf(stderr, "%s\n", ctx->message ? ctx->message : "Unhandled exception in event loop");
    if (ctx->future) {
        asyncio__task_t *t = asyncio__as_task(ctx->future);
        const char *state = ctx->future->state == ASYNCIO__PENDING     ? "pending"
                            : ctx->future->state == ASYNCIO__CANCELLED ? "cancelled"
                                                                       : "finished";
        if (t)
            fprintf(stderr, "future: <Task %s name='%s'", state, asyncio__task_name(t));
        else
            fprintf(stderr, "future: <Future %s", state);
        if (ctx->exception)
            fprintf(stderr, " exception=%s(%s%s%s)", ctx->exception->type,
                    *ctx->exception->message ? "'" : "", ctx->exception->message,
                    *ctx->exception->message ? "'" : "");
        fprintf(stderr, ">\n");
    } else if (ctx->exception) {
        /* As Python prints an exception: no ": " after a type whose
         * message is empty ("KeyboardInterrupt"). */
        fprintf(stderr, "exception: %s%s%s\n", ctx->exception->type,
                *ctx->exception->message ? ": " : "", ctx->exception->message);
    }
    fflush(stderr);
}

void asyncio_loop_call_exception_handler(asyncio_loop_t *loop,
                                         const asyncio_exception_context_t *ctx)
{
    if (!ctx)
        return;
    if (loop && (!asyncio__loop_live(loop) || loop->closed))
        loop = NULL;
    if (loop && loop->exc_handler)
        loop->exc_handler(loop, ctx, loop->exc_handler_arg);
    else
        asyncio_loop_default_exception_handler(loop, ctx);
}

void asyncio__report(asyncio_loop_t *loop, const char *message, const asyncio_error_t *exc,
                     asyncio_future_t *fut)
{
    asyncio_exception_context_t ctx = {message, exc, fut};
    if (loop && loop->closed)
        loop = NULL; /* its handler may be gone with whatever it used */
    if (loop && loop->exc_handler)
        loop->exc_handler(loop, &ctx, loop->exc_handler_arg);
    else
        asyncio_loop_default_exception_handler(loop, &ctx);
}
