/*
 * Synchronisation primitives: asyncio.Lock, Event, Condition, Semaphore,
 * BoundedSemaphore and Barrier.
 *
 * Each follows its Python counterpart step for step, so that wake-up order
 * and what a cancellation does are Python's:
 *   - waiters are served first come, first served;
 *   - a waiter is woken by completing its future; it unlinks itself when
 *     it resumes (Python's `finally: self._waiters.remove(fut)`), so a woken
 *     waiter that has not run yet still counts as a waiter;
 *   - a waiter cancelled after being woken passes what it was given on
 *     (the lock, the permit, the notification) to the next one.
 * Condition follows Python 3.12+ where 3.11 differs: a notified waiter that
 * fails (is cancelled) notifies another one instead, so a wake-up is never
 * lost.  Barrier is Python's state machine written directly on a waiter
 * list; Python builds it on a Condition whose lock is never contended (the
 * barrier never suspends while holding it), so the two behave alike and
 * reset/abort need not suspend.
 *
 * Waiting costs no allocation beyond a future from the loop's free list:
 * waiter nodes live in the waiting task's frame (waiters.h).
 */
#include "core/handle.h"
#include "core/waiters.h"

#include <stdio.h>

typedef struct lock lock_t;
typedef struct event event_t;
typedef struct condition condition_t;
typedef struct semaphore semaphore_t;
typedef struct barrier barrier_t;

/* True if the future of every waiter is cancelled (true for none). */
static bool all_cancelled(const asyncio__waitq_t *q)
{
    for (const asyncio__waiter_t *w = asyncio__waitq_first(q); w; w = asyncio__waitq_next(q, w))
        if (!asyncio__waiter_cancelled(w))
            return false;
    return true;
}

/* Wakes up to n waiters whose futures are not done yet, in order; returns
 * how many. */
static size_t wake_n(asyncio__waitq_t *q, size_t n)
{
    size_t woken = 0;
    for (asyncio__waiter_t *w = asyncio__waitq_first(q); w && woken < n;
         w = asyncio__waitq_next(q, w))
        if (asyncio__waiter_wake(w))
            woken++;
    return woken;
}

/* The waiter's outcome, read before asyncio__waiter_end drops its future:
 * true if it was given something (its future has a result). */
static bool waiter_got(const asyncio__waiter_t *w)
{
    return w->fut && w->fut->state == ASYNCIO__FINISHED;
}

/* A free that would leave waiters pointing at freed memory is refused;
 * what names the type ("Lock"). */
static bool refuse_free(const asyncio__waitq_t *q, const char *what)
{
    if (asyncio__waitq_empty(q))
        return false;
    asyncio__raise_code(ASYNCIO_ERUNTIME, "cannot free a %s that tasks are waiting on", what);
    return true;
}

/* ------------------------------------------------------------ Lock */

struct lock {
    void *handle; /* what the caller holds (handle.h) */
    bool locked;
    uint64_t loop; /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t waiters;
};

static void lock_init(lock_t *l)
{
    *l = (lock_t){0};
    asyncio__waitq_init(&l->waiters);
}

asyncio_lock_t *asyncio_lock_new(void)
{
    lock_t *l = asyncio__malloc(sizeof *l);
    if (!l) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a Lock");
        return NULL;
    }
    lock_init(l);
    return asyncio__handle_give(l, &l->handle, ASYNCIO__H_LOCK);
}

/* What a task waits on, for task dumps: the primitive as Python's repr
 * shows it. */
static void describe_lock(const void *obj, char *buf, size_t len)
{
    const lock_t *l = obj;
    if (l->handle)
        snprintf(buf, len, "<Lock %p [%s, waiters:%zu]>", l->handle,
                 l->locked ? "locked" : "unlocked", asyncio__waitq_len(&l->waiters));
    else
        snprintf(buf, len, "<Lock of a Condition [%s, waiters:%zu]>",
                 l->locked ? "locked" : "unlocked", asyncio__waitq_len(&l->waiters));
}

static const asyncio__wait_kind_t lock_wait = {"Lock.acquire()", describe_lock};

static void lock_wake_first(lock_t *l)
{
    if (!asyncio__waitq_empty(&l->waiters))
        asyncio__waiter_wake(asyncio__waitq_first(&l->waiters));
}

static int lock_acquire(lock_t *l, asyncio__task_t *t)
{
    /* Free, and nobody queued who could still take it. */
    if (ASYNCIO__LIKELY(!l->locked && all_cancelled(&l->waiters))) {
        l->locked = true;
        return 0;
    }
    int rc = asyncio__bind_loop(&l->loop, t, "Lock");
    if (rc)
        return rc;
    asyncio__waiter_t w;
    asyncio__task_waits_for(t, &lock_wait, l);
    rc = asyncio__waiter_wait(&l->waiters, &w, t);
    asyncio__waiter_end(&w);
    if (rc) {
        /* Woken and then cancelled: the lock is free again, so whoever is
         * first now must get its chance. */
        if (!l->locked)
            lock_wake_first(l);
        return rc;
    }
    l->locked = true;
    return 0;
}

static int lock_release(lock_t *l)
{
    if (!l->locked)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Lock is not acquired.");
    l->locked = false;
    lock_wake_first(l);
    return 0;
}

int asyncio_lock_acquire(asyncio_lock_t *handle)
{
    lock_t *lock = asyncio__handle_check(handle, ASYNCIO__H_LOCK, "lock");
    if (!lock)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    return lock_acquire(lock, t);
}

int asyncio_lock_release(asyncio_lock_t *handle)
{
    lock_t *lock = asyncio__handle_check(handle, ASYNCIO__H_LOCK, "lock");
    if (!lock)
        return ASYNCIO_EVALUE;
    return lock_release(lock);
}

bool asyncio_lock_locked(asyncio_lock_t *handle)
{
    lock_t *lock = asyncio__handle_check(handle, ASYNCIO__H_LOCK, "lock");
    if (!lock)
        return false;
    return lock->locked;
}

void asyncio_lock_free(asyncio_lock_t *handle)
{
    if (!handle)
        return;
    lock_t *lock = asyncio__handle_check(handle, ASYNCIO__H_LOCK, "lock");
    if (!lock || refuse_free(&lock->waiters, "Lock"))
        return;
    asyncio__handle_retire(handle);
    asyncio__free(lock);
}

/* ------------------------------------------------------------ Event */

struct event {
    void *handle; /* what the caller holds (handle.h) */
    bool value;
    uint64_t loop; /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t waiters;
};

static void describe_event(const void *obj, char *buf, size_t len)
{
    const event_t *e = obj;
    snprintf(buf, len, "<Event %p [%s, waiters:%zu]>", e->handle, e->value ? "set" : "unset",
             asyncio__waitq_len(&e->waiters));
}

static const asyncio__wait_kind_t event_wait = {"Event.wait()", describe_event};

asyncio_event_t *asyncio_event_new(void)
{
    event_t *e = asyncio__malloc(sizeof *e);
    if (!e) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an Event");
        return NULL;
    }
    *e = (event_t){0};
    asyncio__waitq_init(&e->waiters);
    return asyncio__handle_give(e, &e->handle, ASYNCIO__H_EVENT);
}

int asyncio_event_wait(asyncio_event_t *handle)
{
    event_t *ev = asyncio__handle_check(handle, ASYNCIO__H_EVENT, "event");
    if (!ev)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (ev->value)
        return 0;
    int rc = asyncio__bind_loop(&ev->loop, t, "Event");
    if (rc)
        return rc;
    asyncio__waiter_t w;
    asyncio__task_waits_for(t, &event_wait, ev);
    rc = asyncio__waiter_wait(&ev->waiters, &w, t);
    asyncio__waiter_end(&w);
    return rc;
}

void asyncio_event_set(asyncio_event_t *handle)
{
    event_t *ev = asyncio__handle_check(handle, ASYNCIO__H_EVENT, "event");
    if (!ev)
        return;
    if (ev->value)
        return;
    ev->value = true;
    wake_n(&ev->waiters, SIZE_MAX);
}

void asyncio_event_clear(asyncio_event_t *handle)
{
    event_t *ev = asyncio__handle_check(handle, ASYNCIO__H_EVENT, "event");
    if (!ev)
        return;
    ev->value = false;
}

bool asyncio_event_is_set(asyncio_event_t *handle)
{
    event_t *ev = asyncio__handle_check(handle, ASYNCIO__H_EVENT, "event");
    if (!ev)
        return false;
    return ev->value;
}

void asyncio_event_free(asyncio_event_t *handle)
{
    if (!handle)
        return;
    event_t *ev = asyncio__handle_check(handle, ASYNCIO__H_EVENT, "event");
    if (!ev || refuse_free(&ev->waiters, "Event"))
        return;
    asyncio__handle_retire(handle);
    asyncio__free(ev);
}

/* ------------------------------------------------------------ Condition */

struct condition {
    void *handle;  /* what the caller holds (handle.h) */
    lock_t *lock;  /* &own, or the caller's (which must outlive it) */
    uint64_t loop; /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t waiters;
    size_t inside; /* tasks inside wait (also while they retake the lock) */
    lock_t own;
};

asyncio_condition_t *asyncio_condition_new(asyncio_lock_t *lock_handle)
{
    lock_t *lock = NULL;
    if (lock_handle && !(lock = asyncio__handle_check(lock_handle, ASYNCIO__H_LOCK, "lock")))
        return NULL;
    condition_t *c = asyncio__malloc(sizeof *c);
    if (!c) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a Condition");
        return NULL;
    }
    *c = (condition_t){0};
    asyncio__waitq_init(&c->waiters);
    lock_init(&c->own);
    c->lock = lock ? lock : &c->own;
    return asyncio__handle_give(c, &c->handle, ASYNCIO__H_CONDITION);
}

int asyncio_condition_acquire(asyncio_condition_t *handle)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    return lock_acquire(cond->lock, t);
}

int asyncio_condition_release(asyncio_condition_t *handle)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return ASYNCIO_EVALUE;
    return lock_release(cond->lock);
}

bool asyncio_condition_locked(asyncio_condition_t *handle)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return false;
    return cond->lock->locked;
}

static void describe_condition(const void *obj, char *buf, size_t len)
{
    const condition_t *c = obj;
    snprintf(buf, len, "<Condition %p [%s, waiters:%zu]>", c->handle,
             c->lock->locked ? "locked" : "unlocked", asyncio__waitq_len(&c->waiters));
}

static const asyncio__wait_kind_t condition_wait = {"Condition.wait()", describe_condition};

static int cond_wait(condition_t *c, asyncio__task_t *t)
{
    if (!c->lock->locked)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "cannot wait on un-acquired lock");
    int rc = asyncio__bind_loop(&c->loop, t, "Condition");
    if (rc)
        return rc;
    lock_release(c->lock);
    c->inside++;
    asyncio__waiter_t w;
    asyncio__task_waits_for(t, &condition_wait, c);
    rc = asyncio__waiter_wait(&c->waiters, &w, t);
    asyncio__waiter_end(&w);
    /* The lock is taken back even when the wait was cancelled, and even if
     * cancellations keep arriving meanwhile; the last one is raised. */
    for (;;) {
        int r = lock_acquire(c->lock, t);
        if (r == 0)
            break;
        rc = r;
        if (r != ASYNCIO_ECANCELLED)
            break; /* MemoryError: give up without the lock, as Python would */
    }
    if (rc) {
        /* This task may have been notified before it failed: notify another
         * one in its place (a spurious wake-up at worst, which a condition
         * variable allows). */
        wake_n(&c->waiters, 1);
    }
    c->inside--;
    return rc;
}

int asyncio_condition_wait(asyncio_condition_t *handle)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    return cond_wait(cond, t);
}

int asyncio_condition_wait_for(asyncio_condition_t *handle, bool (*pred)(void *), void *arg)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return ASYNCIO_EVALUE;
    if (!pred)
        return asyncio__raise_code(ASYNCIO_EVALUE, "pred is NULL");
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    while (!pred(arg)) {
        int rc = cond_wait(cond, t);
        if (rc)
            return rc;
    }
    return 0;
}

int asyncio_condition_notify(asyncio_condition_t *handle, size_t n)
{
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond)
        return ASYNCIO_EVALUE;
    if (!cond->lock->locked)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "cannot notify on un-acquired lock");
    wake_n(&cond->waiters, n);
    return 0;
}

int asyncio_condition_notify_all(asyncio_condition_t *handle)
{
    return asyncio_condition_notify(handle, SIZE_MAX);
}

void asyncio_condition_free(asyncio_condition_t *handle)
{
    if (!handle)
        return;
    condition_t *cond = asyncio__handle_check(handle, ASYNCIO__H_CONDITION, "condition");
    if (!cond || refuse_free(&cond->waiters, "Condition") ||
        refuse_free(&cond->own.waiters, "Condition"))
        return;
    if (cond->inside) {
        /* A cancelled waiter retaking a borrowed lock is in that lock's
         * queue, not ours, but will come back to this condition. */
        asyncio__raise_code(ASYNCIO_ERUNTIME,
                            "cannot free a Condition that tasks are waiting on (%zu inside wait)",
                            cond->inside);
        return;
    }
    asyncio__handle_retire(handle);
    asyncio__free(cond);
}

/* ------------------------------------------------------------ Semaphore */

struct semaphore {
    void *handle; /* what the caller holds (handle.h) */
    bool bounded;
    size_t value;
    size_t bound;  /* BoundedSemaphore: the initial value */
    uint64_t loop; /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t waiters;
    /* Every waiter before this one is done (woken or cancelled); NULL when
     * all are.  Saves rescanning the woken waiters that have not run yet
     * at each release: a burst of releases stays linear. */
    asyncio__waiter_t *pending;
};

static void describe_semaphore(const void *obj, char *buf, size_t len)
{
    const semaphore_t *sem = obj;
    snprintf(buf, len, "<%s %p [%s, value:%zu, waiters:%zu]>",
             sem->bounded ? "BoundedSemaphore" : "Semaphore", sem->handle,
             sem->value == 0 ? "locked" : "unlocked", sem->value,
             asyncio__waitq_len(&sem->waiters));
}

static const asyncio__wait_kind_t semaphore_wait = {"Semaphore.acquire()", describe_semaphore};

static asyncio_semaphore_t *semaphore_new(size_t value, bool bounded, const char *what)
{
    semaphore_t *s = asyncio__malloc(sizeof *s);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "%s", what);
        return NULL;
    }
    *s = (semaphore_t){.bounded = bounded, .value = value, .bound = value};
    asyncio__waitq_init(&s->waiters);
    return asyncio__handle_give(s, &s->handle, ASYNCIO__H_SEMAPHORE);
}

asyncio_semaphore_t *asyncio_semaphore_new(size_t value)
{
    return semaphore_new(value, false, "no memory for a Semaphore");
}

asyncio_semaphore_t *asyncio_bounded_semaphore_new(size_t value)
{
    return semaphore_new(value, true, "no memory for a BoundedSemaphore");
}

static bool sem_locked(const semaphore_t *s)
{
    return s->value == 0 || !all_cancelled(&s->waiters);
}

/* Hands a permit to the first waiter not woken yet. */
static void sem_wake_next(semaphore_t *s)
{
    for (asyncio__waiter_t *w = s->pending; w; w = asyncio__waitq_next(&s->waiters, w)) {
        if (!asyncio__waiter_done(w)) {
            s->value--;
            asyncio__waiter_wake(w);
            s->pending = asyncio__waitq_next(&s->waiters, w);
            return;
        }
    }
    s->pending = NULL;
}

int asyncio_semaphore_acquire(asyncio_semaphore_t *handle)
{
    semaphore_t *sem = asyncio__handle_check(handle, ASYNCIO__H_SEMAPHORE, "semaphore");
    if (!sem)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (ASYNCIO__LIKELY(!sem_locked(sem))) {
        sem->value--;
        return 0;
    }
    int rc = asyncio__bind_loop(&sem->loop, t, "Semaphore");
    if (rc)
        return rc;
    asyncio__waiter_t w;
    if (!sem->pending)
        sem->pending = &w; /* linked at the tail by waiter_wait, before anything runs */
    asyncio__task_waits_for(t, &semaphore_wait, sem);
    rc = asyncio__waiter_wait(&sem->waiters, &w, t);
    bool got = waiter_got(&w);
    if (sem->pending == &w)
        sem->pending = asyncio__waiter_linked(&w) ? asyncio__waitq_next(&sem->waiters, &w) : NULL;
    asyncio__waiter_end(&w);
    if (rc) {
        if (got) {
            /* Given a permit, then cancelled: pass it on. */
            sem->value++;
            sem_wake_next(sem);
        }
        return rc;
    }
    if (sem->value > 0)
        sem_wake_next(sem);
    return 0;
}

int asyncio_semaphore_release(asyncio_semaphore_t *handle)
{
    semaphore_t *sem = asyncio__handle_check(handle, ASYNCIO__H_SEMAPHORE, "semaphore");
    if (!sem)
        return ASYNCIO_EVALUE;
    if (sem->bounded && sem->value >= sem->bound)
        return asyncio__raise_code(ASYNCIO_EVALUE, "BoundedSemaphore released too many times");
    if (sem->value == SIZE_MAX)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Semaphore value would overflow");
    sem->value++;
    sem_wake_next(sem);
    return 0;
}

bool asyncio_semaphore_locked(asyncio_semaphore_t *handle)
{
    semaphore_t *sem = asyncio__handle_check(handle, ASYNCIO__H_SEMAPHORE, "semaphore");
    if (!sem)
        return false;
    return sem_locked(sem);
}

void asyncio_semaphore_free(asyncio_semaphore_t *handle)
{
    if (!handle)
        return;
    semaphore_t *sem = asyncio__handle_check(handle, ASYNCIO__H_SEMAPHORE, "semaphore");
    if (!sem || refuse_free(&sem->waiters, "Semaphore"))
        return;
    asyncio__handle_retire(handle);
    asyncio__free(sem);
}

/* ------------------------------------------------------------ Barrier */

enum { FILLING, DRAINING, RESETTING, BROKEN };

struct barrier {
    void *handle; /* what the caller holds (handle.h) */
    int state;
    size_t parties;
    size_t count;             /* tasks inside wait() past the entry check */
    uint64_t loop;            /* serial of the loop it is bound to, 0 before */
    asyncio__waitq_t waiters; /* Python's Condition waiters */
};

asyncio_barrier_t *asyncio_barrier_new(size_t parties)
{
    if (parties < 1 || parties > (size_t)INT32_MAX) {
        asyncio__raise_code(ASYNCIO_EVALUE, "parties must be > 0 (and fit in an int)");
        return NULL;
    }
    barrier_t *b = asyncio__malloc(sizeof *b);
    if (!b) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a Barrier");
        return NULL;
    }
    *b = (barrier_t){.state = FILLING, .parties = parties};
    asyncio__waitq_init(&b->waiters);
    return asyncio__handle_give(b, &b->handle, ASYNCIO__H_BARRIER);
}

static void describe_barrier(const void *obj, char *buf, size_t len)
{
    static const char *const states[] = {"filling", "draining", "resetting", "broken"};
    const barrier_t *b = obj;
    snprintf(buf, len, "<Barrier %p [%s, waiters:%zu/%zu]>", b->handle, states[b->state],
             asyncio__waitq_len(&b->waiters), b->parties);
}

static const asyncio__wait_kind_t barrier_wait = {"Barrier.wait()", describe_barrier};

/* Condition.wait() on the barrier's condition, whose lock is never held
 * across a suspension: releasing and re-taking it are no-ops here. */
static int barrier_cond_wait(barrier_t *b, asyncio__task_t *t)
{
    asyncio__waiter_t w;
    asyncio__task_waits_for(t, &barrier_wait, b);
    int rc = asyncio__waiter_wait(&b->waiters, &w, t);
    asyncio__waiter_end(&w);
    if (rc)
        wake_n(&b->waiters, 1); /* as Condition.wait: a wake-up is never lost */
    return rc;
}

static void barrier_exit(barrier_t *b)
{
    if (b->count == 0) {
        if (b->state == RESETTING || b->state == DRAINING)
            b->state = FILLING;
        wake_n(&b->waiters, SIZE_MAX);
    }
}

int asyncio_barrier_wait(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = asyncio__task_or_raise();
    if (!t)
        return ASYNCIO_ERUNTIME;
    barrier_t *b = barrier;
    int rc = asyncio__bind_loop(&b->loop, t, "Barrier");
    if (rc)
        return rc;
    /* Block while the barrier drains or resets. */
    while (b->state == DRAINING || b->state == RESETTING) {
        if ((rc = barrier_cond_wait(b, t)) != 0)
            return rc;
    }
    if (b->state == BROKEN)
        return asyncio__raise_code(ASYNCIO_EBROKENBARRIER, "Barrier aborted");
    size_t index = b->count++;
    if (index + 1 == b->parties) {
        b->state = DRAINING; /* the last to arrive releases the others */
        wake_n(&b->waiters, SIZE_MAX);
    } else {
        while (b->state == FILLING) {
            if ((rc = barrier_cond_wait(b, t)) != 0)
                break;
        }
        if (!rc && (b->state == BROKEN || b->state == RESETTING))
            rc = asyncio__raise_code(ASYNCIO_EBROKENBARRIER, "Abort or reset of barrier");
    }
    b->count--;
    barrier_exit(b);
    return rc ? rc : (int)index;
}

int asyncio_barrier_reset(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return ASYNCIO_EVALUE;
    if (barrier->count > 0)
        barrier->state = RESETTING;
    else
        barrier->state = FILLING;
    wake_n(&barrier->waiters, SIZE_MAX);
    return 0;
}

int asyncio_barrier_abort(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return ASYNCIO_EVALUE;
    barrier->state = BROKEN;
    wake_n(&barrier->waiters, SIZE_MAX);
    return 0;
}

size_t asyncio_barrier_parties(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return 0;
    return barrier->parties;
}

size_t asyncio_barrier_n_waiting(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return 0;
    return barrier->state == FILLING ? barrier->count : 0;
}

bool asyncio_barrier_broken(asyncio_barrier_t *handle)
{
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier)
        return false;
    return barrier->state == BROKEN;
}

void asyncio_barrier_free(asyncio_barrier_t *handle)
{
    if (!handle)
        return;
    barrier_t *barrier = asyncio__handle_check(handle, ASYNCIO__H_BARRIER, "barrier");
    if (!barrier || refuse_free(&barrier->waiters, "Barrier"))
        return;
    asyncio__handle_retire(handle);
    asyncio__free(barrier);
}
