/*
 * `async with asyncio.timeout(delay):` as an enter/exit pair.
 *
 * Entering arms a timer that cancels the task when the deadline passes;
 * the CancelledError that cancellation causes travels up through whatever
 * the body was awaiting, and exiting turns it into TimeoutError.  Whether
 * the CancelledError is "ours" follows Python's uncancel logic: exit
 * withdraws the one cancel request the timeout made; if no request older
 * than the scope remains (cancelling() back where it was at enter), nobody
 * else wants the task cancelled and the error is the timeout's.
 */
#include "core/handle.h"
#include "core/core.h"

#include <math.h>

enum { ENTERED, EXPIRING, EXPIRED };

typedef struct timeout {
    asyncio__scope_t scope;
    void *handle; /* what the caller holds (handle.h) */
    int state;
    double when; /* < 0: no deadline */
    asyncio__timer_t *timer;
    uint64_t timer_id;
    int cancelling_at_enter;
} timeout_t;

static void on_timeout(void *arg)
{
    timeout_t *t = arg;
    t->timer = NULL;
    t->state = EXPIRING;
    asyncio__task_cancel(t->scope.task, NULL);
}

static void disarm(timeout_t *t)
{
    if (t->timer)
        asyncio__timer_cancel(t->timer, t->timer_id);
    t->timer = NULL;
}

/* Arms the deadline `when` (seconds of loop time), deadline_ns on the
 * clock (UINT64_MAX: none), given the clock now_ns.  A deadline not after now expires at the next
 * iteration, as Python's call_soon(on_timeout) does. */
static int arm_ns(timeout_t *t, double when, uint64_t deadline_ns, uint64_t now_ns)
{
    disarm(t);
    if (deadline_ns == UINT64_MAX) {
        t->when = -1.0;
        return 0;
    }
    t->when = when; /* as given: when() returns it unchanged */
    uint64_t when_ns = deadline_ns <= now_ns ? 0 : deadline_ns;
    t->timer = asyncio__timer_start(t->scope.task->fut.loop, when_ns, on_timeout, t);
    if (!t->timer)
        return ASYNCIO_ENOMEM;
    t->timer_id = t->timer->id;
    return 0;
}

/* The deadline of `when` seconds of loop time, in ns (< 0: none). */
static uint64_t deadline_of(double when)
{
    if (when < 0)
        return UINT64_MAX;
    double ns = when * 1e9;
    return ns >= 1.8e19 ? UINT64_MAX - 1 : (uint64_t)ns;
}

static void free_timeout(timeout_t *t)
{
    disarm(t);
    asyncio__scope_remove(&t->scope);
    asyncio__handle_retire(t->handle);
    asyncio__free(t);
}

/* The scope rule: the coroutine returned inside the scope. */
static void close_left_open(asyncio__scope_t *s)
{
    free_timeout((timeout_t *)s);
}

static asyncio_timeout_t *enter(double when, uint64_t deadline_ns, uint64_t now_ns)
{
    asyncio__task_t *task = asyncio__current();
    if (!task) {
        /* Python's words: get_running_loop()'s, else the timeout's own. */
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s",
                            asyncio__tls.running ? "Timeout should be used inside a task"
                                                 : "no running event loop");
        return NULL;
    }
    timeout_t *t = asyncio__calloc(1, sizeof *t);
    if (!t || !asyncio__handle_give(t, &t->handle, ASYNCIO__H_TIMEOUT)) {
        if (!t)
            asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a timeout scope");
        return NULL;
    }
    t->state = ENTERED;
    t->cancelling_at_enter = task->num_cancels_requested;
    asyncio__scope_push(task, &t->scope, "timeout", close_left_open);
    if (arm_ns(t, when, deadline_ns, now_ns) != 0) { /* MemoryError raised */
        free_timeout(t);
        return NULL;
    }
    return t->handle;
}

asyncio_timeout_t *asyncio_timeout_at_enter(double when)
{
    if (isnan(when)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "when must not be NaN");
        return NULL;
    }
    return enter(when, deadline_of(when), asyncio__now_ns());
}

asyncio_timeout_t *asyncio_timeout_enter(double delay)
{
    if (isnan(delay)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "delay must not be NaN");
        return NULL;
    }
    /* The clock is read once: it costs a good part of a scope. */
    uint64_t now = asyncio__now_ns();
    if (delay < 0)
        return enter(-1.0, UINT64_MAX, now);
    double ns = delay * 1e9;
    uint64_t deadline = ns >= (double)(UINT64_MAX - 1 - now) ? UINT64_MAX - 1 : now + (uint64_t)ns;
    return enter((double)now / 1e9 + delay, deadline, now);
}

/* The scope an open handle names, else NULL with RuntimeError raised (a
 * scope is gone once exited). */
static timeout_t *open_scope(asyncio_timeout_t *handle)
{
    timeout_t *t = asyncio__handle_get(handle, ASYNCIO__H_TIMEOUT);
    if (!t)
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not an open timeout scope");
    return t;
}

void asyncio_timeout_reschedule(asyncio_timeout_t *handle, double when)
{
    timeout_t *t = open_scope(handle);
    if (!t)
        return;
    if (t->state != ENTERED) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Cannot change state of expiring Timeout");
        return;
    }
    if (isnan(when)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "when must not be NaN");
        return;
    }
    arm_ns(t, when, deadline_of(when), asyncio__now_ns()); /* MemoryError raised on failure */
}

double asyncio_timeout_when(asyncio_timeout_t *handle)
{
    timeout_t *t = asyncio__handle_get(handle, ASYNCIO__H_TIMEOUT);
    return t ? t->when : -1.0;
}

bool asyncio_timeout_expired(asyncio_timeout_t *handle)
{
    timeout_t *t = asyncio__handle_get(handle, ASYNCIO__H_TIMEOUT);
    return t && t->state != ENTERED;
}

int asyncio_timeout_exit(asyncio_timeout_t *handle)
{
    timeout_t *t = open_scope(handle);
    if (!t)
        return ASYNCIO_ERUNTIME;
    asyncio__task_t *task = asyncio__current();
    if (task != t->scope.task)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the timeout scope belongs to another task");
    if (t->state == EXPIRING) {
        t->state = EXPIRED;
        /* uncancel also withdraws our cancel if it was never delivered.
         * With no older request left, the body's newest CancelledError is
         * ours: raised, it becomes TimeoutError; under an error the body
         * raised on top of it (`finally: raise X`), it is dropped and X
         * goes on, as in Python. */
        if (asyncio__task_uncancel(task) <= t->cancelling_at_enter) {
            long ours = asyncio__find_raised(asyncio__scope_raised(&t->scope), "CancelledError");
            if (ours == 0)
                asyncio__raise_instead(asyncio__exc_make(ASYNCIO_ETIMEDOUT, "TimeoutError", ""));
            else if (ours > 0)
                asyncio__drop_raised((size_t)ours);
        }
    }
    free_timeout(t);
    asyncio__exc_t *e = task->err.raised;
    return e ? e->pub.code : 0;
}
