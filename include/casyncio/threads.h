/*
 * casyncio/threads.h: The executor, to_thread, thread-safe calls and concurrent futures.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_THREADS_H
#define CASYNCIO_THREADS_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/threads.h>"
#endif

/* ======================================================================
 * 6. Threads: executor and thread-safe entry points
 * ====================================================================== */

/*
 * Blocking work runs in a thread pool, casyncio's own (not libuv's, so
 * blocking jobs never starve file or DNS requests): the Python
 * concurrent.futures.ThreadPoolExecutor.  A job is a plain function
 * running on a worker thread; it fails by raising in its thread's
 * indicator (asyncio_raise), which is cleared before each job, and the
 * awaiting task sees the same type and message.  A job must not touch a
 * loop except through the thread-safe entry points.
 *
 * Each loop has a default executor, made on first use with
 * asyncio_executor_default_workers() workers and owned by the loop:
 * asyncio_run shuts it down and waits for its jobs (running the loop
 * meanwhile); asyncio_loop_close shuts it down without waiting.  An
 * executor made with asyncio_executor_new is the caller's: it may serve
 * several loops in several threads at once (each job belongs to the loop
 * of its future) and outlives them; free it with asyncio_executor_free.
 * A loop that closes with jobs of its own still queued or running leaves
 * them to run; their outcomes are dropped (results to free_result).
 *
 * Loops in other threads: asyncio_run_coroutine_threadsafe hands a
 * coroutine to a loop from any thread and returns a concurrent future
 * (asyncio_cfuture_t) to wait on with a timeout.  Several loops may run in
 * several threads, each with its own tasks; they talk through these entry
 * points and asyncio_call_soon_threadsafe.
 */

/* A blocking job: runs on a worker thread; its return value is the
 * result unless it returns with the thread's indicator set. */
typedef void *(*asyncio_blocking_fn)(void *arg);

/* min(32, CPUs + 4): the default executor's max_workers.  Thread-safe. */
ASYNCIO_EXTERN size_t asyncio_executor_default_workers(void);

/* ThreadPoolExecutor(max_workers): a pool of at most max_workers threads,
 * started lazily (a new thread only when no idle one can take a job).
 * New: free it with asyncio_executor_free.  Raises ValueError for
 * max_workers 0, MemoryError.  Thread-safe. */
ASYNCIO_EXTERN asyncio_executor_t *asyncio_executor_new(size_t max_workers);

/* executor.shutdown(wait, cancel_futures): refuses new jobs from now on
 * (RuntimeError "cannot schedule new futures after shutdown"); with
 * cancel_futures the jobs not started are cancelled (their futures end
 * cancelled, their functions never run); the others still run.  With
 * wait, blocks the calling thread until every worker has exited (a job
 * shutting down its own executor does not wait).  Does not suspend: it
 * blocks the loop if called on one.  Calling it again is harmless.
 * Raises ValueError ("executor is NULL") or RuntimeError ("not a live
 * executor (freed, or never one)").  Thread-safe. */
ASYNCIO_EXTERN void asyncio_executor_shutdown(asyncio_executor_t *executor, bool wait,
                                              bool cancel_futures);

/* `with ThreadPoolExecutor() as ex: ...` ends: shutdown(wait=true,
 * cancel_futures=false), then releases the handle (the memory goes once
 * no loop uses it as its default).  Using the handle afterwards raises
 * RuntimeError.  NULL is harmless.  Thread-safe. */
ASYNCIO_EXTERN void asyncio_executor_free(asyncio_executor_t *executor);

/* loop.set_default_executor(executor): jobs given no executor go to this
 * one.  The loop keeps it alive (not the handle: the caller still frees
 * it) and asyncio_run shuts it down as it would its own.  NULL goes back
 * to a default made on first use.  A default the loop made is shut down
 * (not waited for) when replaced.  Raises RuntimeError (closed loop, freed
 * executor). */
ASYNCIO_EXTERN void asyncio_loop_set_default_executor(asyncio_loop_t *loop,
                                                      asyncio_executor_t *executor);

/* loop.run_in_executor(executor, fn, arg): queues fn(arg) on executor
 * (NULL: the loop's default) and returns a future of the running (or
 * current) loop for its result.  New ref.  Does not suspend.  Cancelling
 * the future (or the task awaiting it) takes a job that has not started
 * off the queue (fn never runs); a job already running finishes and its
 * result is dropped: the _ex form hands it to free_result (never called
 * for NULL results or failed jobs).  Raises RuntimeError (no loop, executor
 * shut down or freed), ValueError (fn NULL), MemoryError, or an OSError
 * when no worker thread can be started. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_run_in_executor(asyncio_executor_t *executor,
                                                         asyncio_blocking_fn fn, void *arg);
ASYNCIO_EXTERN asyncio_future_t *asyncio_run_in_executor_ex(asyncio_executor_t *executor,
                                                            asyncio_blocking_fn fn, void *arg,
                                                            void (*free_result)(void *));

/* `result = await asyncio.to_thread(fn, arg)`: fn(arg) in the default
 * executor.  Suspends.  Returns 0 and its result, or raises what fn
 * raised, CancelledError (the job, if not started, never runs; if
 * running, its result goes to free_result), RuntimeError outside a task,
 * and the errors of asyncio_run_in_executor; *result is NULL whenever the
 * call fails. */
ASYNCIO_EXTERN int asyncio_to_thread(asyncio_blocking_fn fn, void *arg, void **result);
ASYNCIO_EXTERN int asyncio_to_thread_ex(asyncio_blocking_fn fn, void *arg,
                                        void (*free_result)(void *), void **result);

/* asyncio.run_coroutine_threadsafe(fn(arg), loop): from any thread, runs
 * fn(arg) as a task of loop (which runs, or will, in another thread) and
 * returns a concurrent future for its outcome.  New: free it with
 * asyncio_cfuture_free.  Does not suspend or block.  Raises ValueError (fn
 * NULL), RuntimeError (loop NULL, closed, or not a loop), MemoryError.  If
 * the loop closes before the coroutine ends, the cfuture ends cancelled
 * ("Event loop is closed").  The _ex form's free_result gets a result
 * nobody can take any more (it arrived after a cancel or a free).
 * Thread-safe. */
ASYNCIO_EXTERN asyncio_cfuture_t *asyncio_run_coroutine_threadsafe(asyncio_loop_t *loop,
                                                                   asyncio_coro_fn fn, void *arg);
ASYNCIO_EXTERN asyncio_cfuture_t *asyncio_run_coroutine_threadsafe_ex(asyncio_loop_t *loop,
                                                                      asyncio_coro_fn fn, void *arg,
                                                                      void (*free_result)(void *));

/* concurrent future .result(timeout): blocks the calling thread (it never
 * suspends a task) until the coroutine ends or timeout seconds pass
 * (negative: forever, 0: just look).  Returns 0 and the result (it stays
 * the caller's to free), or raises the coroutine's exception (same type
 * and message), CancelledError, TimeoutError (ASYNCIO_ETIMEDOUT: the
 * coroutine keeps running, as in Python; ask again later), ValueError (NULL,
 * freed, "timeout must not be NaN"), RuntimeError when called on the
 * thread of the loop that runs the coroutine while it is pending (it would
 * wait for itself; a timeout of 0 is allowed).  *result is NULL whenever
 * the call fails, TimeoutError included.  May be called several times, by
 * several threads.  Thread-safe. */
ASYNCIO_EXTERN int asyncio_cfuture_result(asyncio_cfuture_t *cf, double timeout, void **result);

/* future.cancel(): false if already done.  Otherwise the cfuture is
 * cancelled at once (waiters wake with CancelledError) and its task is
 * cancelled on its loop, soon after: a coroutine not yet started never
 * runs.  Thread-safe. */
ASYNCIO_EXTERN bool asyncio_cfuture_cancel(asyncio_cfuture_t *cf);

/* future.done() / future.cancelled(); false for NULL.  Thread-safe. */
ASYNCIO_EXTERN bool asyncio_cfuture_done(asyncio_cfuture_t *cf);
ASYNCIO_EXTERN bool asyncio_cfuture_cancelled(asyncio_cfuture_t *cf);

/* Releases the caller's handle.  A pending coroutine is not cancelled (as
 * dropping a concurrent future in Python does not cancel it: call
 * asyncio_cfuture_cancel first for that); it runs to its end and the
 * memory goes then, its result to free_result.  Threads already waiting in
 * asyncio_cfuture_result keep their own hold and return normally; any
 * other use of the handle afterwards is an error.  NULL is harmless.
 * Thread-safe. */
ASYNCIO_EXTERN void asyncio_cfuture_free(asyncio_cfuture_t *cf);

#endif /* CASYNCIO_THREADS_H */
