/*
 * casyncio/combinators.h: gather, wait, wait_for, shield, as_completed, timeouts, TaskGroup.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_COMBINATORS_H
#define CASYNCIO_COMBINATORS_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/combinators.h>"
#endif

/* ======================================================================
 * 4. Combinators
 * ====================================================================== */

/*
 * Python versions.  These follow Python 3.11, except for three rules of
 * later versions:
 *   - asyncio_timeout_exit turns its own expiry into TimeoutError even
 *     while an older cancellation of the task is still pending (one made
 *     before the scope was entered and not withdrawn with uncancel):
 *     Python 3.12's rule (cancelling() back to its value at enter,
 *     CPython gh-102780, whose tests assert it; later 3.11 releases took it
 *     too), where 3.11.2 left the CancelledError, converting only when no
 *     cancellation at all was left;
 *   - asyncio_taskgroup_exit takes back the cancel the group sent its
 *     parent after waiting for the children, not before (Python 3.12's
 *     order: 3.11's could leave the parent cancelled);
 *   - both rely on asyncio_task_uncancel withdrawing, at 0, a cancellation
 *     not yet delivered (Python 3.13's rule; see core.h).
 * asyncio_wait_for is 3.11's (see there).
 */

enum { ASYNCIO_RETURN_EXCEPTIONS = 1 };

/* `results = await asyncio.gather(*futs)`.  Suspends.  Fills results[0..n)
 * in argument order (NULL for a failed or cancelled child under
 * ASYNCIO_RETURN_EXCEPTIONS: inspect the future).  Without the flag the
 * first failure is raised at once and the others keep running.  When the
 * call fails, results[0..n) are all NULL (results may be NULL; it must
 * otherwise hold n entries).  Cancelling the caller cancels the children.
 * ValueError ("futs is NULL", "futs[2] is NULL", "futures are tied to
 * different event loops"), RuntimeError outside a task. */
ASYNCIO_EXTERN int asyncio_gather(asyncio_future_t *const *futs, size_t n, void **results,
                                  int flags);

/* asyncio.gather(*futs) as a future (new ref).  Its result is an array of
 * n results (void **) owned by it.  Cancelling it cancels the children. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_gather_future(asyncio_future_t *const *futs, size_t n,
                                                       int flags);

/* "Run fn over n inputs, at most limit at a time, results in order": the
 * Semaphore(limit) + gather program in one call,
 *
 *     sem = asyncio.Semaphore(limit)
 *     async def one(a):
 *         async with sem:
 *             return await fn(a)
 *     results = await asyncio.gather(*(one(a) for a in args))
 *
 * `await`s fn(args[i]) for every i with at most `limit` calls running at
 * once (0: no limit), arguments started in order, results[i] (may be
 * NULL) in argument order.  It runs min(limit, n) worker tasks, not n
 * tasks: each takes the next argument when it finishes one.  Suspends.
 *
 * With ASYNCIO_RETURN_EXCEPTIONS a call that fails leaves NULL in its
 * result and the others go on; the call returns 0 (asyncio_map_ex gives
 * each failure's error).  Without it the first failure stops the map, as a
 * TaskGroup does (gather would let the others run on): no argument starts
 * after it, the calls in flight are cancelled and waited for, and the
 * failure is raised.  Cancelling the caller cancels every running call,
 * starts no more, waits for them and raises CancelledError.  On any
 * failure every result is NULL.  Raises ValueError (fn NULL, args NULL
 * with n > 0), RuntimeError (outside a task), MemoryError, or the first
 * failure. */
ASYNCIO_EXTERN int asyncio_map(asyncio_coro_fn fn, void *const *args, size_t n, size_t limit,
                               void **results, int flags);

/* asyncio_map with each call's error: errors[i] (n slots, may be NULL) is a
 * copy of the error call i failed with, or NULL; free each with
 * asyncio_error_free.  Meaningful with ASYNCIO_RETURN_EXCEPTIONS (without
 * it the first failure is raised instead).  Every slot is NULL on entry
 * and after a failure of the map itself. */
ASYNCIO_EXTERN int asyncio_map_ex(asyncio_coro_fn fn, void *const *args, size_t n, size_t limit,
                                  void **results, asyncio_error_t **errors, int flags);

/* Timeouts are seconds.  C rule: a negative value means "no timeout"
 * (Python's None); 0 expires at once. */
#define ASYNCIO_NO_TIMEOUT (-1.0)

enum asyncio_return_when {
    ASYNCIO_FIRST_COMPLETED,
    ASYNCIO_FIRST_EXCEPTION,
    ASYNCIO_ALL_COMPLETED
};

/* `done, pending = await asyncio.wait(futs, timeout=, return_when=)`.
 * Suspends until return_when holds or the timeout passes, and returns 0
 * either way: done[i] (n flags, may be NULL) tells which futures finished.
 * When the call fails every done[i] is false (ask asyncio_done).  A future
 * passed twice counts once.  Never cancels the futures and does not
 * retrieve their exceptions.  Raises ValueError (n == 0, futs NULL, a NULL
 * item, futures of different loops, a bad return_when, "timeout must not
 * be NaN"), RuntimeError (outside a task, futures of another loop),
 * CancelledError (the caller was cancelled: the futures run on),
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_wait(asyncio_future_t *const *futs, size_t n, double timeout,
                                enum asyncio_return_when return_when, bool *done);

/* `result = await asyncio.wait_for(fut, timeout)`.  Suspends.  Returns fut's
 * status (its exception raised; *result NULL whenever the call fails,
 * TimeoutError included) when it finishes in time.  When the timeout
 * passes, fut is cancelled and waited for, then TimeoutError
 * (ASYNCIO_ETIMEDOUT) is raised; but if fut finished meanwhile anyway, its
 * outcome is returned and nothing is lost.  Cancelling the caller cancels
 * fut and waits for it (fut's outcome is returned instead if it finished
 * first); a second cancellation of the caller during that wait ends it at
 * once, as in Python 3.11.  A negative timeout waits for ever; 0 returns a
 * fut that is already done, else cancels it, waits for it and raises
 * TimeoutError.  Errors as asyncio_await, and ValueError ("timeout must not
 * be NaN"). */
ASYNCIO_EXTERN int asyncio_wait_for(asyncio_future_t *fut, double timeout, void **result);

/* asyncio.shield(fut): a new reference to a future that finishes as fut
 * does, but whose cancellation leaves fut running (await it to protect fut
 * from the caller's cancellation).  A fut already done is returned itself
 * (a new reference).  NULL and ValueError for NULL, MemoryError. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_shield(asyncio_future_t *fut);

/* `for f in asyncio.as_completed(futs, timeout=)`: an iterator (new; free
 * it with asyncio_as_completed_free) over the futures in the order they
 * finish.  Making it does not suspend.  n may be 0; a future passed twice
 * is yielded once.  NULL and ValueError (futs NULL with n > 0, a NULL
 * item, futures of different loops, a NaN timeout), RuntimeError (no
 * loop), MemoryError.  The iterator is a handle (see Handles at the top):
 * once freed, every call with it raises ValueError ("not a live
 * as_completed iterator (freed, or never one)"). */
ASYNCIO_EXTERN asyncio_as_completed_t *asyncio_as_completed(asyncio_future_t *const *futs, size_t n,
                                                            double timeout);

/* Suspends until the next future finishes and stores it in *done
 * (borrowed, valid until asyncio_as_completed_free; read its outcome with
 * asyncio_result), or stores NULL once all were yielded.  When the timeout
 * passes, this and each later call for the futures still running raise
 * TimeoutError (ASYNCIO_ETIMEDOUT), as Python's iterator does.  Raises
 * CancelledError (the caller was cancelled; the futures run on),
 * RuntimeError (outside a task, another task waiting on it, the iterator
 * freed while this call waited), ValueError (NULL or freed).  *done is
 * NULL whenever the call fails. */
ASYNCIO_EXTERN int asyncio_as_completed_next(asyncio_as_completed_t *it, asyncio_future_t **done);

/* Frees the iterator (NULL is harmless; a freed one raises ValueError);
 * the futures are left running. */
ASYNCIO_EXTERN void asyncio_as_completed_free(asyncio_as_completed_t *it);

/*
 * Scopes.  `async with asyncio.timeout(d):` and `async with
 * asyncio.TaskGroup() as tg:` become an enter/exit pair of calls in one
 * function.  C rule: exit every scope in the function that entered it, in
 * the task that entered it.  A scope still open when the task's coroutine
 * returns is closed then, innermost first (a deadline disarmed; a task
 * group's children cancelled and awaited), and reported in debug mode; the
 * task keeps its own result or exception.
 */

/* `async with asyncio.timeout(delay):` / `asyncio.timeout_at(when):`.
 * Arms a deadline (delay seconds from now, or at `when` on
 * asyncio_loop_time()'s clock; negative: none) that cancels the current
 * task when it passes.  Does not suspend.  New: asyncio_timeout_exit frees
 * it.  NULL and RuntimeError outside a task ("no running event loop", or
 * from a loop's callback "Timeout should be used inside a task"),
 * ValueError ("delay must not be NaN", "when must not be NaN"),
 * MemoryError.  The scope is a handle: once exited, every call with it
 * raises RuntimeError ("not an open timeout scope"). */
ASYNCIO_EXTERN asyncio_timeout_t *asyncio_timeout_enter(double delay);
ASYNCIO_EXTERN asyncio_timeout_t *asyncio_timeout_at_enter(double when);

/* Moves the deadline to `when` (loop time; negative: no deadline; in the
 * past: expires at the next iteration).  RuntimeError ("Cannot change
 * state of expiring Timeout") once the timeout has expired, or for NULL or
 * an exited scope; ValueError for NaN. */
ASYNCIO_EXTERN void asyncio_timeout_reschedule(asyncio_timeout_t *t, double when);

/* The deadline, or a negative value for none. */
ASYNCIO_EXTERN double asyncio_timeout_when(asyncio_timeout_t *t);

/* True once the deadline passed and the task was cancelled for it. */
ASYNCIO_EXTERN bool asyncio_timeout_expired(asyncio_timeout_t *t);

/* Leaves the scope and frees t.  Does not suspend.  When the deadline
 * cancelled the task and the CancelledError it caused is still raised, it
 * becomes TimeoutError and ASYNCIO_ETIMEDOUT is returned (unless somebody
 * else cancelled the task meanwhile: then the cancellation stays, as with
 * Python's uncancel logic).  A cancellation requested before the scope was
 * entered and still pending does not count as "meanwhile": the expiry
 * still becomes TimeoutError (Python 3.12's rule, above).  Any other
 * raised error passes through and its code is returned; 0 when nothing is
 * raised.  RuntimeError for NULL, a scope of another task, or one already
 * exited. */
ASYNCIO_EXTERN int asyncio_timeout_exit(asyncio_timeout_t *t);

/* `async with asyncio.TaskGroup() as tg:`.  Does not suspend.  New:
 * asyncio_taskgroup_exit frees it.  NULL and RuntimeError outside a task
 * ("no running event loop", or from a loop's callback "TaskGroup cannot
 * determine the parent task"), MemoryError.  The group is a handle: once
 * exited, every call with it raises RuntimeError ("not an open
 * TaskGroup"). */
ASYNCIO_EXTERN asyncio_taskgroup_t *asyncio_taskgroup_enter(void);

/* tg.create_task(fn(arg)): the task, borrowed and valid until
 * asyncio_taskgroup_exit returns (asyncio_incref it to keep it longer).
 * RuntimeError once the group is shutting down (a child failed, the body
 * failed or was cancelled) or finished; errors of asyncio_create_task_ex. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_taskgroup_create_task(asyncio_taskgroup_t *tg,
                                                               asyncio_coro_fn fn, void *arg);
ASYNCIO_EXTERN asyncio_future_t *asyncio_taskgroup_create_task_ex(asyncio_taskgroup_t *tg,
                                                                  asyncio_coro_fn fn, void *arg,
                                                                  const asyncio_task_opts_t *opts);

/* Leaves the group and frees it.  Suspends until every child is done.  The
 * first child to fail cancels the others and the body (the caller, if it
 * is suspended); an error raised in the body (the indicator when exit is
 * called) cancels the children too.  C rule: one failure is raised as
 * itself and its code returned; several raise ExceptionGroup
 * (ASYNCIO_EGROUP), whose members asyncio_error_group_item lists (the
 * body's error last).  A CancelledError of the body caused by the group is
 * replaced by the failures; one from outside is raised when there are no
 * failures.  Returns 0 when nothing failed.  RuntimeError for NULL, a group
 * already exited, or a group of another task. */
ASYNCIO_EXTERN int asyncio_taskgroup_exit(asyncio_taskgroup_t *tg);

#endif /* CASYNCIO_COMBINATORS_H */
