/*
 * casyncio/sync.h: Locks, events, conditions, semaphores, barriers and queues.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_SYNC_H
#define CASYNCIO_SYNC_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/sync.h>"
#endif

/* ======================================================================
 * 5. Synchronisation and queues
 * ====================================================================== */

/*
 * asyncio.Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier and
 * Queue, LifoQueue, PriorityQueue.  Behaviour is Python's (3.11 for the
 * primitives, 3.13 for Queue.shutdown):
 *   - waiters are served in the order they arrived (FIFO), and a released
 *     lock or semaphore goes to the first waiter even if another task asks
 *     for it before that waiter runs;
 *   - a waiter cancelled after being woken passes on what it was given (the
 *     lock, a permit, an item's arrival, a free slot, a notification), so a
 *     cancellation never loses one.  Condition follows Python 3.12+ here:
 *     a notified waiter that is cancelled notifies another.
 *
 * Objects are plain allocations (not reference counted): *_new returns one
 * the caller owns (NULL and MemoryError on failure); *_free frees it.  A
 * primitive is bound to the loop of the first task that waits on it;
 * waiting on it from a task of another loop raises RuntimeError.  Waiting
 * allocates nothing but a future from the loop's free list.
 *
 * Every function raises ValueError for a NULL object or a handle that is
 * not a live object of its type (freed, or of another type; see Handles at
 * the top; functions returning bool or size_t then
 * return false / 0).  The *_free functions accept NULL; freeing an object
 * that tasks are still waiting on (or woken and about to return from a
 * wait on) is refused: it raises RuntimeError ("cannot free a Lock that
 * tasks are waiting on") and leaves the object alive.
 *
 * Suspending calls (acquire, wait, get, put, join) raise RuntimeError
 * outside a task ("no running event loop", or "no running task" from a
 * loop's callback) and CancelledError when the task is cancelled while it
 * waits; a cancelled call has no effect (no lock taken, no item put or
 * taken).  None of these functions is thread-safe: use them on the loop's
 * thread.  Functions that do not suspend may also be called outside a task
 * (from a callback, or before the loop runs).
 */

/* --- Lock: `async with lock:` is acquire ... release. */

/* asyncio.Lock(): unlocked.  Owned by the caller. */
ASYNCIO_EXTERN asyncio_lock_t *asyncio_lock_new(void);

/* `await lock.acquire()`.  Suspends while the lock is held or earlier
 * waiters are queued.  Raises CancelledError (the lock is not taken),
 * RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_lock_acquire(asyncio_lock_t *lock);

/* lock.release(): unlocks and wakes the first waiter.  Does not suspend.
 * Any task (or a callback) may release it.  RuntimeError ("Lock is not
 * acquired.") if it is not locked. */
ASYNCIO_EXTERN int asyncio_lock_release(asyncio_lock_t *lock);

/* lock.locked(). */
ASYNCIO_EXTERN bool asyncio_lock_locked(asyncio_lock_t *lock);

/* Frees the lock (see above for NULL and waiters). */
ASYNCIO_EXTERN void asyncio_lock_free(asyncio_lock_t *lock);

/* --- Event */

/* asyncio.Event(): not set.  Owned by the caller. */
ASYNCIO_EXTERN asyncio_event_t *asyncio_event_new(void);

/* `await event.wait()`: returns at once if set, else suspends until
 * asyncio_event_set.  A waiter woken by set returns 0 even if the event is
 * cleared before it runs.  Raises CancelledError, RuntimeError,
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_event_wait(asyncio_event_t *event);

/* event.set(): sets the flag and wakes every waiter.  Does not suspend. */
ASYNCIO_EXTERN void asyncio_event_set(asyncio_event_t *event);

/* event.clear(). */
ASYNCIO_EXTERN void asyncio_event_clear(asyncio_event_t *event);

/* event.is_set(). */
ASYNCIO_EXTERN bool asyncio_event_is_set(asyncio_event_t *event);

/* Frees the event (refused while tasks wait on it: see above). */
ASYNCIO_EXTERN void asyncio_event_free(asyncio_event_t *event);

/* --- Condition */

/* asyncio.Condition(lock): lock NULL gives the condition its own lock;
 * otherwise the lock is borrowed (it may be shared by several conditions)
 * and must outlive the condition.  Owned by the caller.  ValueError for a
 * lock that is not live, MemoryError. */
ASYNCIO_EXTERN asyncio_condition_t *asyncio_condition_new(asyncio_lock_t *lock);

/* acquire/release/locked of the condition's lock (as the lock's own). */
ASYNCIO_EXTERN int asyncio_condition_acquire(asyncio_condition_t *cond);
ASYNCIO_EXTERN int asyncio_condition_release(asyncio_condition_t *cond);
ASYNCIO_EXTERN bool asyncio_condition_locked(asyncio_condition_t *cond);

/* `await cond.wait()`: releases the lock, suspends until notified, then
 * re-acquires the lock before returning, also when it fails: a task
 * cancelled while waiting still waits for the lock, then raises
 * CancelledError (holding the lock).  RuntimeError ("cannot wait on
 * un-acquired lock") if the lock is not held; MemoryError (then the lock
 * may not be held on return). */
ASYNCIO_EXTERN int asyncio_condition_wait(asyncio_condition_t *cond);

/* `await cond.wait_for(lambda: pred(arg))`: returns 0 as soon as pred(arg)
 * is true, calling asyncio_condition_wait until it is.  pred runs with the
 * lock held, in the calling task.  Errors as asyncio_condition_wait, and
 * ValueError ("pred is NULL"). */
ASYNCIO_EXTERN int asyncio_condition_wait_for(asyncio_condition_t *cond, bool (*pred)(void *),
                                              void *arg);

/* cond.notify(n) / cond.notify_all(): wakes up to n waiters (in order).
 * Does not suspend; the woken tasks return from wait once they get the
 * lock.  RuntimeError ("cannot notify on un-acquired lock") if the lock is
 * not held. */
ASYNCIO_EXTERN int asyncio_condition_notify(asyncio_condition_t *cond, size_t n);
ASYNCIO_EXTERN int asyncio_condition_notify_all(asyncio_condition_t *cond);

/* Frees the condition (and its own lock; a borrowed lock is left alone).
 * Refused while tasks wait on it, including a cancelled waiter still
 * retaking the lock inside asyncio_condition_wait (see above). */
ASYNCIO_EXTERN void asyncio_condition_free(asyncio_condition_t *cond);

/* --- Semaphore, BoundedSemaphore: `async with sem:` is acquire ... release. */

/* asyncio.Semaphore(value) / asyncio.BoundedSemaphore(value).  Owned by the
 * caller. */
ASYNCIO_EXTERN asyncio_semaphore_t *asyncio_semaphore_new(size_t value);
ASYNCIO_EXTERN asyncio_semaphore_t *asyncio_bounded_semaphore_new(size_t value);

/* `await sem.acquire()`: takes a permit, suspending while there is none or
 * earlier waiters are queued.  Raises CancelledError (no permit taken),
 * RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_semaphore_acquire(asyncio_semaphore_t *sem);

/* sem.release(): returns a permit, waking the first waiter.  Does not
 * suspend.  ValueError ("BoundedSemaphore released too many times") when a
 * bounded semaphore would go above its initial value. */
ASYNCIO_EXTERN int asyncio_semaphore_release(asyncio_semaphore_t *sem);

/* sem.locked(): true if acquire would suspend. */
ASYNCIO_EXTERN bool asyncio_semaphore_locked(asyncio_semaphore_t *sem);

/* Frees the semaphore (refused while tasks wait on it: see above). */
ASYNCIO_EXTERN void asyncio_semaphore_free(asyncio_semaphore_t *sem);

/* --- Barrier */

/* asyncio.Barrier(parties).  ValueError if parties is 0 (or above
 * INT32_MAX), MemoryError.  Owned by the caller. */
ASYNCIO_EXTERN asyncio_barrier_t *asyncio_barrier_new(size_t parties);

/* `index = await barrier.wait()`.  Suspends until `parties` tasks have
 * called it (the last to arrive does not suspend), then returns the
 * caller's arrival index, 0 .. parties-1.  A barrier that is still
 * releasing its previous round makes newcomers wait for the next.  Raises
 * BrokenBarrierError ("Barrier aborted" when broken on entry; "Abort or
 * reset of barrier" when reset or aborted while waiting), CancelledError,
 * RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_barrier_wait(asyncio_barrier_t *barrier);

/* barrier.reset(): back to the empty state; tasks waiting get
 * BrokenBarrierError.  barrier.abort(): broken until reset; waiting and
 * arriving tasks get BrokenBarrierError.  Neither suspends (Python's are
 * coroutines that never actually wait here). */
ASYNCIO_EXTERN int asyncio_barrier_reset(asyncio_barrier_t *barrier);
ASYNCIO_EXTERN int asyncio_barrier_abort(asyncio_barrier_t *barrier);

/* barrier.parties, barrier.n_waiting, barrier.broken. */
ASYNCIO_EXTERN size_t asyncio_barrier_parties(asyncio_barrier_t *barrier);
ASYNCIO_EXTERN size_t asyncio_barrier_n_waiting(asyncio_barrier_t *barrier);
ASYNCIO_EXTERN bool asyncio_barrier_broken(asyncio_barrier_t *barrier);

/* Frees the barrier (refused while tasks wait on it: see above). */
ASYNCIO_EXTERN void asyncio_barrier_free(asyncio_barrier_t *barrier);

/* --- Queues.  Items are opaque `void *` owned by the caller; NULL is an
 * ordinary item.  The queue never frees or copies them. */

/* asyncio.Queue(maxsize) (FIFO), asyncio.LifoQueue(maxsize) and
 * asyncio.PriorityQueue(maxsize).  maxsize 0 means unbounded.  The
 * priority queue orders items with cmp(a, b) (negative, zero, positive as
 * for qsort), smallest first, equal items in the order they were put.
 * Owned by the caller.  ValueError for a NULL cmp, MemoryError. */
ASYNCIO_EXTERN asyncio_queue_t *asyncio_queue_new(size_t maxsize);
ASYNCIO_EXTERN asyncio_queue_t *asyncio_lifo_queue_new(size_t maxsize);
ASYNCIO_EXTERN asyncio_queue_t *
asyncio_priority_queue_new(size_t maxsize, int (*cmp)(const void *a, const void *b));

/* `await queue.put(item)`: suspends while the queue is full.  Raises
 * QueueShutDown (shut down: on entry, or while waiting), CancelledError
 * (the item was not put), RuntimeError, MemoryError (storage could not
 * grow; the item was not put). */
ASYNCIO_EXTERN int asyncio_queue_put(asyncio_queue_t *queue, void *item);

/* `item = await queue.get()`: suspends while the queue is empty; *item
 * gets the item (item may be NULL to drop it).  Raises QueueShutDown (shut
 * down and empty, or shut down with immediate), CancelledError (no item
 * was taken), RuntimeError, ValueError.  On failure *item is NULL, which
 * is also an ordinary item: the return code tells them apart. */
ASYNCIO_EXTERN int asyncio_queue_get(asyncio_queue_t *queue, void **item);

/* queue.put_nowait(item) / queue.get_nowait(): never suspend.  Raise
 * QueueFull / QueueEmpty, QueueShutDown as put/get, MemoryError (put),
 * ValueError; a failed get_nowait stores NULL in *item. */
ASYNCIO_EXTERN int asyncio_queue_put_nowait(asyncio_queue_t *queue, void *item);
ASYNCIO_EXTERN int asyncio_queue_get_nowait(asyncio_queue_t *queue, void **item);

/* queue.task_done(): one item taken earlier is processed.  ValueError
 * ("task_done() called too many times") when no item is unfinished. */
ASYNCIO_EXTERN int asyncio_queue_task_done(asyncio_queue_t *queue);

/* `await queue.join()`: suspends until every item put has been marked
 * done (returns at once if none is pending).  Raises CancelledError,
 * RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_queue_join(asyncio_queue_t *queue);

/* queue.qsize(), queue.maxsize, queue.empty(), queue.full() (never true
 * for an unbounded queue). */
ASYNCIO_EXTERN size_t asyncio_queue_qsize(asyncio_queue_t *queue);
ASYNCIO_EXTERN size_t asyncio_queue_maxsize(asyncio_queue_t *queue);
ASYNCIO_EXTERN bool asyncio_queue_empty(asyncio_queue_t *queue);
ASYNCIO_EXTERN bool asyncio_queue_full(asyncio_queue_t *queue);

/* queue.shutdown(immediate) (Python 3.13): from now on put raises
 * QueueShutDown, and get does once the queue is empty; every task blocked
 * in put or get is woken to find that out.  With immediate the items left
 * are dropped at once (the queue does not free them: drain the queue
 * yourself first if they own memory), each counted as task_done(), so
 * join() returns once nothing else is unfinished.  Does not suspend.
 * Calling it again is harmless. */
ASYNCIO_EXTERN void asyncio_queue_shutdown(asyncio_queue_t *queue, bool immediate);

/* True once asyncio_queue_shutdown was called. */
ASYNCIO_EXTERN bool asyncio_queue_is_shutdown(asyncio_queue_t *queue);

/* Frees the queue's storage (not the items in it) and the queue; refused
 * while tasks wait on it (see above). */
ASYNCIO_EXTERN void asyncio_queue_free(asyncio_queue_t *queue);

#endif /* CASYNCIO_SYNC_H */
