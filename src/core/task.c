/*
 * Tasks: a future that runs a coroutine function on its own stack.
 *
 * A task's life follows asyncio.Task.__step.  The loop runs a step by
 * switching to the task's stack; the task runs until it suspends (awaits a
 * pending future, or sleep(0)) or its function returns, and then switches
 * back.  Suspending registers task_wakeup as a done callback of the awaited
 * future; the callback runs the next step.  So a task is woken by exactly
 * one thing, the future it waits on, and cancelling the task cancels that
 * future.
 *
 * Cancellation is Python's: cancel() cancels the awaited future, or sets
 * must_cancel when there is none (not started yet, ready to run, or the
 * awaited future already done); must_cancel turns the next resumption into
 * a CancelledError.  The coroutine may catch it and go on.
 *
 * Stacks are taken from the loop's pool at the first step, not at
 * creation: a million tasks created before any runs cost no stack, and a
 * task that finishes before the next starts hands its warm stack over.
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* "Task-N" numbers come from one process-wide counter, handed to each
 * thread in blocks so creating a task needs no atomic operation. */
#define NAME_BLOCK 1024
static atomic_uint_fast64_t name_counter;

static uint64_t next_task_number(void)
{
    if (asyncio__tls.name_next == asyncio__tls.name_end) {
        uint64_t base = atomic_fetch_add_explicit(&name_counter, NAME_BLOCK, memory_order_relaxed);
        asyncio__tls.name_next = base + 1;
        asyncio__tls.name_end = base + 1 + NAME_BLOCK;
    }
    return asyncio__tls.name_next++;
}

asyncio__task_t *asyncio__task_or_raise(void)
{
    asyncio__task_t *t = asyncio__current();
    if (ASYNCIO__UNLIKELY(!t))
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s",
                            asyncio__tls.running ? "no running task" : "no running event loop");
    return t;
}


const char *asyncio__task_name(asyncio__task_t *t)
{
    if (!t->name) {
        /* Made on demand: most tasks are never asked their name. */
        char buf[32];
        snprintf(buf, sizeof buf, "Task-%llu", (unsigned long long)t->number);
        t->name = asyncio__strdup(buf);
        if (!t->name)
            return "Task-?"; /* out of memory: the name only */
    }
    return t->name;
}

/* ------------------------------------------------------------ stepping */

static void task_step(asyncio__task_t *t);
static int refuse_while_unwinding(asyncio__task_t *t);

static void run_step(asyncio__ready_t *r)
{
    asyncio__task_t *t = asyncio__container_of(r, asyncio__task_t, step);
    t->step_scheduled = 0;
    if (!t->fut.loop->closed)
        task_step(t);
}

static void schedule_step(asyncio__task_t *t)
{
    t->step_scheduled = 1;
    asyncio__ready_push(t->fut.loop, &t->step);
}

static void task_wakeup(asyncio_future_t *fut, void *arg)
{
    if (!fut->loop->closed) /* at close tasks are unwound, not resumed */
        task_step(arg);
}

static asyncio__exc_t *cancelled_error(asyncio__task_t *t)
{
    asyncio__exc_t *e = asyncio__exc_make(ASYNCIO_ECANCELLED, "CancelledError", t->cancel_msg);
    asyncio__free(t->cancel_msg);
    t->cancel_msg = NULL;
    return e;
}

/* A suspending task whose successor in the loop's batch is another task's
 * step switches to that task itself: one switch instead of two through the
 * loop's context, in the very order the loop would have run them.  When the
 * batch is used up and the next iteration would only run more callbacks,
 * it starts that iteration too.  Returns false when the loop must take
 * over (a callback comes next, a task's first step, timers, I/O, debug
 * timing).  If the next step is the task's own, it just goes on. */
static bool handoff(asyncio__task_t *t)
{
    asyncio_loop_t *loop = t->fut.loop;
    if (ASYNCIO__UNLIKELY(loop->debug))
        return false;
    if (!loop->batch) {
        if (!asyncio__loop_may_continue(loop))
            return false;
        asyncio__loop_next_batch(loop);
    }
    asyncio__ready_t *r = loop->batch;
    if (r->run != run_step)
        return false;
    asyncio__task_t *next = asyncio__container_of(r, asyncio__task_t, step);
    if (!next->started)
        return false;
    loop->batch = r->next;
    loop->ran_since_poll++;
    next->step_scheduled = 0;
    if (next == t)
        return true;
    loop->current = next;
    asyncio__coro_switch(&t->ctx, &next->ctx, false);
    return true;
}

/* Switches away from the task until its next step. */
static void suspend(asyncio__task_t *t)
{
    if (!t->stack.guarded)
        asyncio__stack_check(&t->stack);
    if (handoff(t))
        return;
    t->fut.loop->returning = t;
    asyncio__coro_switch(&t->ctx, &t->fut.loop->main_ctx, false);
}

/* After a resumption: a cancellation requested meanwhile is delivered now
 * (Python throws it into the coroutine at the start of the step). */
static int deliver_cancel(asyncio__task_t *t)
{
    if (ASYNCIO__LIKELY(!t->must_cancel))
        return 0;
    t->must_cancel = 0;
    asyncio__raise_exc(cancelled_error(t));
    return ASYNCIO_ECANCELLED;
}

static void release_stack(asyncio__task_t *t)
{
    if (!t->started)
        return;
    asyncio__coro_destroy(&t->ctx);
    if (!t->stack.guarded)
        asyncio__stack_check(&t->stack);
    asyncio__stack_release(t->fut.loop->stacks, &t->stack);
    t->stack.lo = NULL;
    t->started = 0;
}

/* The task's coroutine returned (or never ran): settle its future. */
static void task_complete(asyncio__task_t *t, asyncio__exc_t *exc, void *result)
{
    asyncio_loop_t *loop = t->fut.loop;
    release_stack(t);
    asyncio__errstate_clear(&t->err);
    /* Its context, or its extras (a given context, a creation site). */
    if (ASYNCIO__UNLIKELY(t->ctxmap != NULL))
        asyncio__task_release_extras(t);
    asyncio__list_remove(&t->link);
    loop->ntasks--;
    t->fut.result = NULL; /* held the coroutine's return value (task_entry) */
    if (exc && asyncio__exc_matches(&exc->pub, "CancelledError")) {
        /* Raised CancelledError ends the task cancelled, message kept. */
        asyncio__future_set_cancelled(&t->fut, exc);
    } else if (exc) {
        asyncio__future_finish(&t->fut, NULL, exc);
    } else if (t->must_cancel) {
        t->must_cancel = 0;
        asyncio__future_set_cancelled(&t->fut, cancelled_error(t));
    } else {
        asyncio__future_finish(&t->fut, result, NULL);
    }
    /* A request that came too late to be delivered (the coroutine raised
     * or returned first).  From here on the task holds nothing but its
     * name: task_free need not look further in a finished task. */
    if (ASYNCIO__UNLIKELY(t->cancel_msg)) {
        asyncio__free(t->cancel_msg);
        t->cancel_msg = NULL;
    }
    asyncio_decref(&t->fut); /* the loop's reference */
}

/* Debug mode: the task returns with an error that came back when it
 * caught a newer one raised on top of it.  Python does the same (the
 * newer error was raised in a `finally:`), but in C it usually means a
 * cleanup caught an error thinking it was the only one. */
static void report_resurfaced(asyncio__task_t *t, asyncio__exc_t *exc)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "Task '%s' returned with %s raised again: it was still propagating when the task "
             "caught a newer error raised on top of it; catch it too if the cleanup meant to "
             "handle it",
             asyncio__task_name(t), exc->pub.type);
    asyncio__report(t->fut.loop, msg, &exc->pub, &t->fut);
}

static void task_entry(void *arg)
{
    asyncio__task_t *t = arg;
    asyncio_loop_t *loop = t->fut.loop;
    asyncio__coro_started(&t->ctx, &loop->main_ctx);
    t->fut.result = t->fn(t->fut.impl); /* the result, unless it raised */
    asyncio__scopes_close(t);
    t->finished = 1;
    loop->returning = t;
    asyncio__coro_switch(&t->ctx, &loop->main_ctx, true);
    __builtin_unreachable(); /* a finished task is never resumed */
}

static void task_step(asyncio__task_t *t)
{
    asyncio_loop_t *loop = t->fut.loop;
    if (!t->started) {
        if (t->must_cancel) {
            /* Cancelled before it started: the coroutine never runs. */
            task_complete(t, NULL, NULL);
            return;
        }
        size_t size = t->stack.size_log2 ? (size_t)1 << t->stack.size_log2 : loop->stack_size;
        if (asyncio__stack_acquire(&loop->stacks, size, &t->stack) != 0 ||
            asyncio__coro_init(&t->ctx, t->stack.lo, asyncio__stack_usable(&t->stack), task_entry,
                               t) != 0) {
            if (t->stack.lo)
                asyncio__stack_release(loop->stacks, &t->stack);
            t->stack.lo = NULL;
            task_complete(
                t,
                asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for the task's stack"),
                NULL);
            return;
        }
        t->started = 1;
    }
    loop->current = t;
    if (ASYNCIO__UNLIKELY(loop->debug) && !loop->last_task)
        loop->last_task = (asyncio__task_t *)asyncio_incref(&t->fut); /* for the report */
    asyncio__coro_switch(&loop->main_ctx, &t->ctx, false);
    /* Tasks may have handed over to each other meanwhile: the one that
     * came back is not necessarily t. */
    t = loop->returning;
    loop->current = NULL;
    if (t->finished) {
        asyncio__exc_t *exc = asyncio__exc_settle(t->err.raised);
        t->err.raised = NULL;
        if (exc && exc->resurfaced && loop->debug)
            report_resurfaced(t, exc);
        task_complete(t, exc, t->fut.result);
    }
}

int asyncio__task_wait_on(asyncio__task_t *t, asyncio_future_t *fut)
{
    /* What it waits on, for dumps: named by its caller (or nothing: an
     * await), taken whatever happens next. */
    asyncio_loop_t *loop = t->fut.loop;
    asyncio__wait_t wait = {loop->next_wait_kind, loop->next_wait_obj, loop->now_ns};
    loop->next_wait_kind = NULL;
    if (ASYNCIO__UNLIKELY(t->unwinding))
        return refuse_while_unwinding(t);
    int rc = asyncio__add_task_wakeup(fut, task_wakeup, t);
    if (rc)
        return rc;
    t->waiting = asyncio_incref(fut);
    t->wait = &wait;
    if (t->must_cancel && asyncio_cancel(fut, t->cancel_msg)) {
        t->must_cancel = 0;
        asyncio__free(t->cancel_msg);
        t->cancel_msg = NULL;
    }
    suspend(t);
    t->waiting = NULL;
    t->wait = NULL;
    /* Python's wakeup reads the future's result before a cancellation is
     * delivered: its exception counts as retrieved either way. */
    if (fut->state == ASYNCIO__FINISHED)
        fut->log_exception = 0;
    asyncio_decref(fut);
    return deliver_cancel(t);
}

int asyncio__task_wait_private(asyncio__task_t *t, asyncio_future_t *fut)
{
    int rc = asyncio__task_wait_on(t, fut);
    if (rc == 0 && fut->state == ASYNCIO__CANCELLED)
        rc = asyncio__future_outcome(fut, NULL); /* the task's cancel reached it */
    return rc;
}

/* ------------------------------------------------------------ creation */

/* What makes a future a task (defined below, with the functions it
 * names). */
static const asyncio__future_ops_t task_ops;

asyncio_future_t *asyncio_create_task_ex(asyncio_coro_fn fn, void *arg,
                                         const asyncio_task_opts_t *opts)
{
    /* asyncio__loop_get and asyncio__context_current by hand: both read
     * the running loop. */
    asyncio_loop_t *running = asyncio__tls.running;
    asyncio_loop_t *loop = running ? running : asyncio__tls.current;
    if (!loop) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    if (loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        return NULL;
    }
    if (!fn) {
        asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
        return NULL;
    }
    size_t stack = 0;
    if (opts && opts->stack_size && !(stack = asyncio__stack_round(opts->stack_size))) {
        asyncio__raise_code(ASYNCIO_EVALUE, "stack_size %zu is out of range (%zu to %zu)",
                            opts->stack_size, ASYNCIO_STACK_MIN, ASYNCIO_STACK_MAX);
        return NULL;
    }
    asyncio__task_t *t = asyncio__freelist_get(&loop->free_tasks);
    if (!t && !(t = asyncio__freelist_new(&loop->free_tasks)))
        goto nomem;
    char *name = NULL;
    if (opts && opts->name && !(name = asyncio__strdup(opts->name))) {
        asyncio__freelist_put(&loop->free_tasks, t);
        goto nomem;
    }
    /* A copy of the current context: one reference to its mapping, none
     * at all when nobody set anything (NULL).  (asyncio__context_slot by
     * hand: the running loop is known.) */
    asyncio__context_t *given = NULL;
    asyncio__cnode_t *ctxmap;
    if (ASYNCIO__UNLIKELY(opts && opts->context)) {
        if (asyncio__context_for_task(opts->context, &given, &ctxmap) != 0) {
            asyncio__free(name);
            asyncio__freelist_put(&loop->free_tasks, t);
            return NULL;
        }
    } else {
        asyncio__task_t *creator = running ? running->current : NULL;
        asyncio__task_extra_t *x = creator ? asyncio__task_extra(creator) : NULL;
        ctxmap = !creator              ? *asyncio__context_slot()
                 : ASYNCIO__LIKELY(!x) ? creator->ctxmap
                 : x->context          ? x->context->map
                                       : x->map;
        if (ctxmap)
            asyncio__cnode_incref(ctxmap);
    }
    /* The whole cost of a task that has not run yet: a store for each
     * field that needs a value before the first step, and none for those
     * set later (the machine context and the stack's address at the first
     * step, the result, the wait description with each wait, the list
     * links when linked).  Adjacent constants merge into wide stores. */
    t->fut.magic = ASYNCIO__FUTURE_MAGIC;
    t->fut.state = ASYNCIO__PENDING;
    t->fut.is_task = 1;
    t->fut.log_exception = 0;
    t->fut.cb0_used = 0;
    t->fut.refcnt = 2; /* the caller's and the loop's, until the task is done */
    t->fut.mark = 0;
    t->fut.loop = loop;
    t->fut.exc = NULL;
    t->fut.cbs = NULL;
    t->fut.cbs_tailp = &t->fut.cbs;
    t->fut.ops = &task_ops;
    t->fut.impl = arg; /* the coroutine's argument (a task has no other impl) */
    t->step.run = run_step;
    t->stack = (asyncio__stack_t){.size_log2 = stack ? (uint32_t)__builtin_ctzll(stack) : 0};
    t->fn = fn;
    t->ctxmap = ctxmap;
    t->waiting = NULL;
    t->wait = NULL;
    t->err = (asyncio__errstate_t){NULL, NULL};
    t->name = name;
    t->number = next_task_number(); /* named tasks use up a number too, as in 3.11 */
    t->cancel_msg = NULL;
    t->scopes = NULL;
    t->num_cancels_requested = 0;
    t->must_cancel = t->started = t->finished = t->step_scheduled = 0;
    t->unwinding = t->unwind_attempts = t->cancelling_waiting = 0;
    if (ASYNCIO__UNLIKELY(given || loop->debug)) {
        /* The rare parts: the context given, the creation site. */
        asyncio__task_extra_t *x = asyncio__task_extras(t);
        if (!x) {
            asyncio__task_release_extras(t);
            if (given)
                asyncio__context_unref(given);
            asyncio__free(name);
            asyncio__freelist_put(&loop->free_tasks, t);
            return NULL;
        }
        x->given = x->context = given;
        if (loop->debug)
            x->created_at = asyncio__capture_stack();
    }
    asyncio__loop_ref(loop);
    asyncio__list_insert(&loop->tasks, &t->link);
    loop->ntasks++;
    schedule_step(t);
    return &t->fut;
nomem:
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a task");
    return NULL;
}

asyncio_future_t *asyncio_create_task(asyncio_coro_fn fn, void *arg)
{
    return asyncio_create_task_ex(fn, arg, NULL);
}

/* The task's part of a future's last release (future.c), through the
 * task ops below. */
static void task_free(asyncio_future_t *f)
{
    asyncio__task_t *t = (asyncio__task_t *)f;
    asyncio__free(t->name);
    if (f->state == ASYNCIO__PENDING) {
        /* Never finished (given up at loop close): task_complete did not
         * clear these.  Not read otherwise: a finished task's are clear,
         * and reading them would cost a cache line per task. */
        asyncio__free(t->cancel_msg);
        asyncio__errstate_clear(&t->err);
    }
}

static void task_release(asyncio_future_t *f)
{
    if (f->loop->closed)
        asyncio__freelist_release(&f->loop->free_tasks, f);
    else
        asyncio__freelist_put(&f->loop->free_tasks, f);
}

static bool task_cancel(asyncio_future_t *f, const char *msg)
{
    return asyncio__task_cancel((asyncio__task_t *)f, msg);
}

static const asyncio__future_ops_t task_ops = {task_cancel, task_free, task_release, NULL};

/* Loop close with a task still suspended.  As in Python the task stays
 * pending for whoever holds it, and is reported; and as Python closes such
 * a coroutine when it is collected, running its cleanup, it is resumed
 * once with a CancelledError and every suspending call it makes on the way
 * out fails at once with another, so it returns and frees what its frames
 * hold.  One that keeps trying to suspend is given up after a while: its
 * stack is released without returning, and what its frames own is lost. */
#define UNWIND_ATTEMPTS 100

static int refuse_while_unwinding(asyncio__task_t *t)
{
    if (++t->unwind_attempts > UNWIND_ATTEMPTS) {
        t->fut.loop->returning = t;
        asyncio__coro_switch(&t->ctx, &t->fut.loop->main_ctx, true); /* never resumed */
    }
    asyncio__raise_code(ASYNCIO_ECANCELLED, "Event loop is closed");
    return ASYNCIO_ECANCELLED;
}

static void unwind(asyncio__task_t *t)
{
    asyncio_loop_t *loop = t->fut.loop;
    t->unwinding = 1;
    t->must_cancel = 1;
    asyncio__free(t->cancel_msg);
    t->cancel_msg = asyncio__strdup("Event loop is closed");
    asyncio_loop_t *was_running = asyncio__tls.running;
    asyncio__tls.running = loop; /* the task's own indicator, as in a step */
    loop->current = t;
    asyncio__coro_switch(&loop->main_ctx, &t->ctx, false);
    loop->current = NULL;
    asyncio__tls.running = was_running;
}

void asyncio__tasks_abandon(asyncio_loop_t *loop)
{
    while (loop->tasks.next != &loop->tasks) {
        asyncio__task_t *t = asyncio__container_of(loop->tasks.next, asyncio__task_t, link);
        asyncio__report(loop, "Task was destroyed but it is pending!", NULL, &t->fut);
        /* Its wait ends here; the await it resumes in drops its reference
         * to the awaited future. */
        if (t->waiting)
            asyncio_remove_done_callback(t->waiting, task_wakeup, t);
        if (t->started)
            unwind(t);
        asyncio__list_remove(&t->link);
        loop->ntasks--;
        release_stack(t);
        asyncio__errstate_clear(&t->err);
        asyncio__task_release_extras(t);
        asyncio_decref(&t->fut); /* the loop's reference */
    }
}

/* ------------------------------------------------------------ scopes */

void asyncio__scope_push(asyncio__task_t *t, asyncio__scope_t *s, const char *kind,
                         void (*close)(asyncio__scope_t *))
{
    s->raised_at_enter = asyncio__raised_depth();
    s->task = t;
    s->kind = kind;
    s->close = close;
    s->outer = t->scopes;
    t->scopes = s;
}

size_t asyncio__scope_raised(const asyncio__scope_t *s)
{
    size_t depth = asyncio__raised_depth();
    return depth > s->raised_at_enter ? depth - s->raised_at_enter : 0;
}

void asyncio__scope_remove(asyncio__scope_t *s)
{
    asyncio__scope_t **pp = &s->task->scopes;
    while (*pp && *pp != s)
        pp = &(*pp)->outer;
    if (*pp)
        *pp = s->outer;
}

void asyncio__scopes_close(asyncio__task_t *t)
{
    if (!t->scopes)
        return;
    /* Closing a task group awaits its children: the task's own outcome
     * is set aside meanwhile and comes back untouched. */
    asyncio__exc_t *own = t->err.raised;
    t->err.raised = NULL;
    while (t->scopes) {
        asyncio__scope_t *s = t->scopes;
        if (t->fut.loop->debug)
            fprintf(stderr, "casyncio: task '%s' returned with a %s scope still open\n",
                    asyncio__task_name(t), s->kind);
        s->close(s); /* takes it off the stack and frees it */
    }
    asyncio__errstate_clear(&t->err);
    t->err.raised = own;
}

/* ------------------------------------------------------------ suspending */

/* asyncio_await's checks: the current task, or NULL after raising. */
static asyncio__task_t *awaiter(asyncio_future_t *fut)
{
    if (!asyncio__future_check(fut))
        return NULL;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return NULL;
    if (fut == &t->fut) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Task cannot await on itself: <Task '%s'>",
                            asyncio__task_name(t));
        return NULL;
    }
    if (fut->loop != t->fut.loop) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Task '%s' got Future attached to a different loop",
                            asyncio__task_name(t));
        return NULL;
    }
    return t;
}

int asyncio_await(asyncio_future_t *fut, void **result)
{
    asyncio__task_t *t = awaiter(fut);
    if (!t)
        return asyncio__out_fail(asyncio_error()->code, result);
    if (fut->state == ASYNCIO__PENDING) {
        int rc = asyncio__task_wait_on(t, fut);
        if (rc)
            return asyncio__out_fail(rc, result);
    }
    return asyncio__future_outcome(fut, result);
}

static void sleep_done(void *arg)
{
    asyncio_future_t *f = arg;
    if (f->state == ASYNCIO__PENDING)
        asyncio__future_finish(f, NULL, NULL);
}

/* What a sleeping task waits on, for dumps: its deadline. */
typedef struct sleep_info {
    double delay;
    uint64_t when_ns;
} sleep_info_t;

static void describe_sleep(const void *obj, char *buf, size_t len)
{
    const sleep_info_t *s = obj;
    uint64_t now = asyncio__now_ns();
    double left = s->when_ns > now ? (double)(s->when_ns - now) / 1e9 : 0;
    snprintf(buf, len, "%.3f s left of %g s (deadline at loop time %.3f)", left, s->delay,
             (double)s->when_ns / 1e9);
}

static const asyncio__wait_kind_t sleep_kind = {"sleep()", describe_sleep};

/* sleep(delay > 0): a timer completes a private future.  Out of line, so
 * that sleep(0), a task switch, keeps its frame small. */
static __attribute__((noinline)) int sleep_for(asyncio__task_t *t, double delay)
{
    asyncio_loop_t *loop = t->fut.loop;
    asyncio_future_t *f = asyncio__future_new(loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    uint64_t now = asyncio__now_ns();
    double d = delay * 1e9;
    uint64_t when = d >= (double)(UINT64_MAX - now) ? UINT64_MAX : now + (uint64_t)d;
    asyncio__timer_t *timer = asyncio__timer_start(loop, when ? when : 1, sleep_done, f);
    if (!timer) {
        asyncio_decref(f);
        return ASYNCIO_ENOMEM;
    }
    uint64_t id = timer->id;
    sleep_info_t info = {delay, when};
    loop->now_ns = now;
    asyncio__task_waits_for(t, &sleep_kind, &info);
    int rc = asyncio__task_wait_on(t, f);
    if (rc == 0)
        rc = asyncio__future_outcome(f, NULL);
    asyncio__timer_cancel(timer, id);
    asyncio_decref(f);
    return rc;
}

int asyncio_sleep(double delay)
{
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (isnan(delay))
        return asyncio__raise_code(ASYNCIO_EVALUE, "delay must not be NaN");
    if (delay > 0) {
        int rc = sleep_for(t, delay);
        /* Not a tail call: backtraces of sleeping tasks show asyncio_sleep,
         * the call the task made. */
        __asm__ volatile("" ::: "memory");
        return rc;
    }
    /* sleep(0): go to the back of the ready queue. */
    if (ASYNCIO__UNLIKELY(t->unwinding))
        return refuse_while_unwinding(t);
    schedule_step(t);
    suspend(t);
    return deliver_cancel(t);
}

/* ------------------------------------------------------------ cancellation */

bool asyncio__task_cancel(asyncio__task_t *t, const char *msg)
{
    t->fut.log_exception = 0; /* Python: cancelling counts as looking at it */
    if (t->fut.state != ASYNCIO__PENDING)
        return false;
    t->num_cancels_requested++;
    if (t->waiting && !t->cancelling_waiting) {
        t->cancelling_waiting = 1;
        bool done = asyncio_cancel(t->waiting, msg);
        t->cancelling_waiting = 0;
        if (done)
            return true;
    } else if (t->waiting) {
        /* Tasks awaiting each other pass the cancel round: on this second
         * visit the task stops waiting and takes the cancellation itself
         * (its wake-up, unless already queued, becomes a step). */
        if (asyncio_remove_done_callback(t->waiting, task_wakeup, t) > 0)
            schedule_step(t);
    }
    /* Delivered when the task next resumes. */
    t->must_cancel = 1;
    asyncio__free(t->cancel_msg);
    t->cancel_msg = msg ? asyncio__strdup(msg) : NULL;
    return true;
}

/* ValueError for a task argument that is NULL or a plain future. */
static int not_a_task(asyncio_future_t *task)
{
    return asyncio__raise_code(ASYNCIO_EVALUE, "%s",
                               task ? "the future is not a task" : "task is NULL");
}

int asyncio_task_cancelling(asyncio_future_t *task)
{
    asyncio__task_t *t = asyncio__as_task(task);
    if (!t)
        return not_a_task(task);
    return t->num_cancels_requested;
}

int asyncio__task_uncancel(asyncio__task_t *t)
{
    if (t->num_cancels_requested > 0 && --t->num_cancels_requested == 0 && t->must_cancel) {
        t->must_cancel = 0;
        asyncio__free(t->cancel_msg);
        t->cancel_msg = NULL;
    }
    return t->num_cancels_requested;
}

int asyncio_task_uncancel(asyncio_future_t *task)
{
    asyncio__task_t *t = asyncio__as_task(task);
    if (!t)
        return not_a_task(task);
    return asyncio__task_uncancel(t);
}

/* ------------------------------------------------------------ introspection */

asyncio_future_t *asyncio_current_task(void)
{
    asyncio__task_t *t = asyncio__current();
    return t ? &t->fut : NULL;
}

size_t asyncio_all_tasks(asyncio_future_t **out, size_t cap)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed)
        return 0;
    size_t n = 0;
    for (asyncio__list_t *l = loop->tasks.next; l != &loop->tasks; l = l->next, n++)
        if (out && n < cap)
            out[n] = &asyncio__container_of(l, asyncio__task_t, link)->fut;
    return n;
}

const char *asyncio_task_get_name(asyncio_future_t *task)
{
    asyncio__task_t *t = asyncio__as_task(task);
    return t ? asyncio__task_name(t) : NULL;
}

void asyncio_task_set_name(asyncio_future_t *task, const char *name)
{
    asyncio__task_t *t = asyncio__as_task(task);
    if (!t) {
        not_a_task(task);
        return;
    }
    if (!name) {
        asyncio__raise_code(ASYNCIO_EVALUE, "name is NULL");
        return;
    }
    char *copy = asyncio__strdup(name);
    if (!copy) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for the task's name");
        return;
    }
    asyncio__free(t->name);
    t->name = copy;
}

/* ------------------------------------------------------------ asyncio_call */

/* `await fn(arg)` inline: the coroutine runs on the caller's stack, as
 * part of the current task. */
int asyncio_call(asyncio_coro_fn fn, void *arg, void **result)
{
    if (!fn)
        return asyncio__out_fail(asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL"), result);
    if (!asyncio__task_or_raise())
        return asyncio__out_fail(ASYNCIO_ERUNTIME, result);
    /* fn runs with a clean indicator, as a new `await` would; the error
     * that was raised before comes back if fn succeeds, and is the context
     * of fn's error if fn fails. */
    asyncio__errstate_t saved = asyncio__call_enter();
    void *r = fn(arg);
    return asyncio__call_leave(saved, r, result);
}
