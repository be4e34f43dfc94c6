/*
 * casyncio/core.h: Running, the loop, futures and tasks.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_CORE_H
#define CASYNCIO_CORE_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/core.h>"
#endif

/* ======================================================================
 * 2. Running and the loop
 * ====================================================================== */

/* asyncio.run(main(arg)): creates a loop, runs main as a task named
 * "Task-N", waits for it, cancels the tasks left over and waits for them,
 * shuts the default executor down and closes the loop.  Returns main's
 * status; *result gets its result, or NULL when the call fails.  When main
 * raised, the calling thread's indicator holds its exception.  Raises
 * RuntimeError ("asyncio.run() cannot be called from a running event
 * loop"), ValueError (main NULL), MemoryError. */
ASYNCIO_EXTERN int asyncio_run(asyncio_coro_fn main, void *arg, void **result);

/* The loop running in this thread, or NULL.  Borrowed. */
ASYNCIO_EXTERN asyncio_loop_t *asyncio_get_running_loop(void);

/* A new loop (new: close it with asyncio_loop_close()).  It becomes this
 * thread's current loop: functions that need a loop while none runs
 * (asyncio_future_new, asyncio_create_task) use it.  NULL and MemoryError
 * on failure.  The first loop of the process sets SIGPIPE to SIG_IGN if it
 * still has the default disposition, as Python does at startup: writing to
 * a closed socket or pipe then fails with UV_EPIPE instead of killing the
 * process. */
ASYNCIO_EXTERN asyncio_loop_t *asyncio_loop_new(void);

/* loop.run_until_complete(fut): runs the loop until fut is done and
 * returns its status (*result gets its result, NULL on any failure; its
 * exception is raised in the calling thread).  RuntimeError if the loop is
 * closed (or not a loop) or a loop is already running in this thread, or
 * if the loop was stopped before fut was done; ValueError for a NULL fut
 * or one of another loop. */
ASYNCIO_EXTERN int asyncio_loop_run_until_complete(asyncio_loop_t *loop, asyncio_future_t *fut,
                                                   void **result);

/* loop.run_forever(): runs until asyncio_loop_stop().  RuntimeError as
 * above. */
ASYNCIO_EXTERN int asyncio_loop_run_forever(asyncio_loop_t *loop);

/* loop.stop(): the loop finishes the callbacks already scheduled for this
 * iteration, then run_forever returns. */
ASYNCIO_EXTERN void asyncio_loop_stop(asyncio_loop_t *loop);

/* loop.close(): frees the loop.  Pending callbacks are dropped; tasks still
 * alive are left unfinished (futures the caller holds stay valid until
 * their last reference goes).  NULL is harmless (0).  RuntimeError if the
 * loop is running; RuntimeError ("the loop is already closed (or was never
 * a loop)") for a loop closed before or a pointer that is not a live
 * loop. */
ASYNCIO_EXTERN int asyncio_loop_close(asyncio_loop_t *loop);

/* Monotonic clock of the loop, in seconds (CLOCK_MONOTONIC).  loop may be
 * NULL.  Thread-safe. */
ASYNCIO_EXTERN double asyncio_loop_time(asyncio_loop_t *loop);

/* The libuv loop underneath (escape hatch).  Borrowed. */
ASYNCIO_EXTERN struct uv_loop_s *asyncio_loop_uv(asyncio_loop_t *loop);

/* Debug mode: logs callbacks and task steps slower than 100 ms with the
 * task's name, and scopes left open.  Also on with env ASYNCIO_DEBUG=1. */
ASYNCIO_EXTERN void asyncio_loop_set_debug(asyncio_loop_t *loop, bool enabled);
ASYNCIO_EXTERN bool asyncio_loop_get_debug(asyncio_loop_t *loop);

/* A scheduled callback, by value.  Handles are generation-checked: using
 * one after its callback ran or was cancelled is harmless.  They must not
 * be used after their loop is closed. */
typedef struct asyncio_handle {
    void *ptr;
    uint64_t id;
} asyncio_handle_t;

/* loop.call_soon(fn, arg): fn(arg) runs in the next loop iteration, FIFO.
 * loop NULL: the running loop.  Returns an invalid handle (see
 * asyncio_handle_valid) and raises RuntimeError ("no running event loop",
 * "Event loop is closed"), ValueError ("fn is NULL") or MemoryError. */
ASYNCIO_EXTERN asyncio_handle_t asyncio_call_soon(asyncio_loop_t *loop, asyncio_callback_fn fn,
                                                  void *arg);

/* loop.call_later(delay, fn, arg) / loop.call_at(when, fn, arg), times in
 * seconds of asyncio_loop_time().  A negative or NaN delay, or a NaN when,
 * raises ValueError ("delay must not be NaN").  Errors as
 * asyncio_call_soon. */
ASYNCIO_EXTERN asyncio_handle_t asyncio_call_later(asyncio_loop_t *loop, double delay,
                                                   asyncio_callback_fn fn, void *arg);
ASYNCIO_EXTERN asyncio_handle_t asyncio_call_at(asyncio_loop_t *loop, double when,
                                                asyncio_callback_fn fn, void *arg);

/* handle.cancel(): true if the callback was pending and will not run;
 * false (and harmless) once it ran or was cancelled. */
ASYNCIO_EXTERN bool asyncio_handle_cancel(asyncio_handle_t handle);

/* False for the handle a failed call returned. */
ASYNCIO_EXTERN bool asyncio_handle_valid(asyncio_handle_t handle);

/* loop.call_soon_threadsafe(fn, arg): schedules fn(arg) on loop from any
 * thread and wakes the loop.  Callbacks from one thread run in the order
 * they were posted.  Returns ValueError (fn NULL), RuntimeError (loop NULL
 * or closed), MemoryError.  Thread-safe. */
ASYNCIO_EXTERN int asyncio_call_soon_threadsafe(asyncio_loop_t *loop, asyncio_callback_fn fn,
                                                void *arg);

/* Watching file descriptors (loop.add_reader, add_writer, remove_reader,
 * remove_writer), a task's wait for one (asyncio_wait_readable,
 * asyncio_wait_writable) and the loop's socket calls (loop.sock_recv,
 * sock_sendall, sock_connect, sock_accept, ...): <casyncio/net.h>, beside
 * the transports that share the loop's descriptors with them. */

/* What the exception handler is told. */
typedef struct asyncio_exception_context {
    const char *message;              /* "Task exception was never retrieved", ... */
    const asyncio_error_t *exception; /* may be NULL */
    asyncio_future_t *future;         /* the task/future concerned, may be NULL */
} asyncio_exception_context_t;
typedef void (*asyncio_exception_handler_fn)(asyncio_loop_t *loop,
                                             const asyncio_exception_context_t *ctx, void *arg);

/* loop.set_exception_handler(): handler NULL restores the default. */
ASYNCIO_EXTERN void asyncio_loop_set_exception_handler(asyncio_loop_t *loop,
                                                       asyncio_exception_handler_fn handler,
                                                       void *arg);

/* loop.default_exception_handler(): logs the context to stderr (never
 * stdout). */
ASYNCIO_EXTERN void asyncio_loop_default_exception_handler(asyncio_loop_t *loop,
                                                           const asyncio_exception_context_t *ctx);

/* loop.call_exception_handler(): reports ctx to the loop's handler. */
ASYNCIO_EXTERN void asyncio_loop_call_exception_handler(asyncio_loop_t *loop,
                                                        const asyncio_exception_context_t *ctx);

/* Routes every allocation of the library through these functions.  Must
 * be called while no loop exists (nor a future of a closed loop):
 * RuntimeError otherwise; ValueError if any pointer is NULL.  It must not
 * race with other calls of the library.  (The table of exception types
 * registered with asyncio_exception_register outlives any allocator and
 * uses the C library's.) */
ASYNCIO_EXTERN int asyncio_set_allocator(void *(*malloc_fn)(size_t),
                                         void *(*realloc_fn)(void *, size_t),
                                         void *(*calloc_fn)(size_t, size_t),
                                         void (*free_fn)(void *));

/* ======================================================================
 * 3. Futures and tasks
 * ====================================================================== */

/*
 * A task is a future running a coroutine on its own stack; one type serves
 * both.  Futures are reference counted: functions named *_new and
 * asyncio_create_task* return a new reference; everything else borrows.
 * The loop keeps its own reference to a task until the task is done.  A
 * future belongs to the loop that was running (or current) when it was
 * made.
 */

/* loop.create_future().  New ref.  RuntimeError without a loop. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_future_new(void);

/* Adds a reference; returns its argument (NULL is harmless). */
ASYNCIO_EXTERN asyncio_future_t *asyncio_incref(asyncio_future_t *fut);

/* Drops a reference; the last one frees the future.  NULL is harmless.  A
 * future that failed and whose exception was never retrieved is reported
 * to its loop's exception handler ("... exception was never retrieved"). */
ASYNCIO_EXTERN void asyncio_decref(asyncio_future_t *fut);

/* future.set_result(value).  InvalidStateError if already done;
 * RuntimeError on a task; ValueError for NULL. */
ASYNCIO_EXTERN int asyncio_future_set_result(asyncio_future_t *fut, void *value);

/* future.set_exception(type(fmt % ...)).  Errors as set_result; type NULL
 * means "Exception". */
ASYNCIO_EXTERN int asyncio_future_set_exception(asyncio_future_t *fut, const char *type,
                                                const char *fmt, ...) ASYNCIO_PRINTF(3, 4);

/* future.set_exception(err) with a kept error (copied, group included). */
ASYNCIO_EXTERN int asyncio_future_set_error(asyncio_future_t *fut, const asyncio_error_t *err);

/* fut.cancel(msg) / task.cancel(msg): false if already done.  A task is
 * cancelled at the call it is suspended in (the future it awaits is
 * cancelled too), or before it starts.  msg may be NULL; it is copied. */
ASYNCIO_EXTERN bool asyncio_cancel(asyncio_future_t *fut, const char *msg);

ASYNCIO_EXTERN bool asyncio_done(asyncio_future_t *fut);      /* false for NULL */
ASYNCIO_EXTERN bool asyncio_cancelled(asyncio_future_t *fut); /* false for NULL */

/* future.result(): 0 and *value, or raises its exception / CancelledError
 * / InvalidStateError ("Result is not ready.") / ValueError ("fut is
 * NULL"), with *value NULL.  Marks it retrieved. */
ASYNCIO_EXTERN int asyncio_result(asyncio_future_t *fut, void **value);

/* future.exception(): NULL if it succeeded; its CancelledError if
 * cancelled; its exception if it failed (marks it retrieved).  NULL and
 * raises InvalidStateError if not done.  Borrowed from the future. */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_exception(asyncio_future_t *fut);

/* Done callbacks run through the loop (never inside this call), in the
 * order they were added, each once.  Adding to a done future schedules it
 * at once.  ValueError for NULL; MemoryError. */
typedef void (*asyncio_done_fn)(asyncio_future_t *fut, void *arg);
ASYNCIO_EXTERN int asyncio_add_done_callback(asyncio_future_t *fut, asyncio_done_fn fn, void *arg);

/* Removes every pending callback equal to (fn, arg); returns how many (a
 * negative code for bad input). */
ASYNCIO_EXTERN int asyncio_remove_done_callback(asyncio_future_t *fut, asyncio_done_fn fn,
                                                void *arg);

/* Default stack: 256 KiB of address space (committed lazily), or env
 * ASYNCIO_STACK_SIZE (bytes, or with a K/M suffix).  Sizes are rounded up
 * to a power of two between ASYNCIO_STACK_MIN and ASYNCIO_STACK_MAX.
 * Overflow aborts the process with "casyncio: task 'NAME' overflowed its
 * N KiB stack".  Below each stack is a guard of the stack's size (at least
 * 256 KiB): a frame up to that size is caught whatever the compiler flags;
 * a larger frame is caught only in code built with
 * -fstack-clash-protection, which `pkg-config --cflags casyncio` adds. */
#define ASYNCIO_STACK_MIN ((size_t)16 * 1024)
#define ASYNCIO_STACK_MAX ((size_t)1024 * 1024 * 1024)

typedef struct asyncio_task_opts {
    const char *name;  /* NULL: "Task-N"; copied */
    size_t stack_size; /* 0: library default */
} asyncio_task_opts_t;

/* asyncio.create_task(fn(arg)): new ref.  The task first runs when its
 * creator suspends (or in the next loop iteration).  Uses the running loop,
 * else the thread's current loop.  Raises RuntimeError (no loop),
 * ValueError (fn NULL, stack_size out of range), MemoryError.  A task
 * whose stack cannot be allocated when it starts ends with MemoryError. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_create_task(asyncio_coro_fn fn, void *arg);
ASYNCIO_EXTERN asyncio_future_t *asyncio_create_task_ex(asyncio_coro_fn fn, void *arg,
                                                        const asyncio_task_opts_t *opts);

/* The running task, borrowed; NULL outside tasks. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_current_task(void);

/* asyncio.all_tasks(): the running loop's unfinished tasks, borrowed.
 * Stores up to cap of them in out (may be NULL with cap 0) and returns how
 * many there are. */
ASYNCIO_EXTERN size_t asyncio_all_tasks(asyncio_future_t **out, size_t cap);

/* task.get_name() (borrowed, valid until renamed or freed; NULL for a
 * non-task) / task.set_name() (copied). "Task-N" counts from 1 per
 * process. */
ASYNCIO_EXTERN const char *asyncio_task_get_name(asyncio_future_t *task);
ASYNCIO_EXTERN void asyncio_task_set_name(asyncio_future_t *task, const char *name);

/* task.cancelling(): pending cancellation requests.  task.uncancel():
 * decrements it and returns the new count; at 0 a cancellation not yet
 * delivered is withdrawn too (Python 3.13's rule).  Negative code
 * (ValueError) for a non-task. */
ASYNCIO_EXTERN int asyncio_task_cancelling(asyncio_future_t *task);
ASYNCIO_EXTERN int asyncio_task_uncancel(asyncio_future_t *task);

/* True if fut is a task. */
ASYNCIO_EXTERN bool asyncio_is_task(asyncio_future_t *fut);

/* `result = await fut`.  Suspends unless fut is already done.  Returns its
 * status: its exception or CancelledError is raised in the caller, and
 * *result is NULL whenever the call fails.  Cancelling the caller cancels
 * fut.  Raises RuntimeError outside a task (as every suspending call:
 * "no running event loop", or "no running task" from a callback of a
 * running loop), when a task awaits itself, or for a future of another
 * loop; ValueError ("fut is NULL"). */
ASYNCIO_EXTERN int asyncio_await(asyncio_future_t *fut, void **result);

/* asyncio.sleep(delay), in seconds.  Suspends; sleep(0) (or a negative
 * delay) just yields to the other ready tasks.  Raises CancelledError,
 * RuntimeError outside a task, ValueError ("delay must not be NaN"). */
ASYNCIO_EXTERN int asyncio_sleep(double delay);

#endif /* CASYNCIO_CORE_H */
