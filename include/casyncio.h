/*
 * casyncio — Python's asyncio, in C, on libuv.
 *
 * This header is the specification: anything not declared here is not API.
 *
 * Porting rule of thumb: `asyncio.X(...)` becomes `asyncio_X(...)`, `await
 * expr` becomes a call that suspends the current task, and `try/except`
 * becomes "check the return code, then asyncio_catch()".
 *
 * Conventions used by every comment below:
 *   Suspends  the call may switch away from the current task; it may only be
 *             called from inside a task (otherwise it raises RuntimeError).
 *   Raises    what the call sets the error indicator to when it fails.  A
 *             failing call returns a negative ASYNCIO_E... (or libuv) code,
 *             or NULL for functions returning pointers.
 *   New ref   the caller owns one reference and must asyncio_decref() it.
 *   Borrowed  the pointer is valid as long as the object it came from.
 *   Thread-safe  may be called from any thread; everything else must be
 *             called on the thread running the loop concerned.
 *
 * Every out-parameter may be NULL when the caller does not want it; on
 * failure it is left untouched.
 *
 * Handles.  Locks, events, conditions, semaphores, barriers, queues,
 * timeout scopes, HTTP sessions, processes and concurrent futures are
 * given out as handles, not addresses: a handle names its object until the
 * object is freed, and never again.  A call with a freed handle (a double
 * free, a use after free) is refused with the error its function documents
 * for a dead object (ValueError "not a live lock (freed, or never one)",
 * RuntimeError for sessions and timeout scopes) without touching freed
 * memory, and it never reaches a newer object, even one that reuses the
 * memory: a handle carries a 32-bit generation.  Checking one costs a
 * table lookup.  Loops and executors are checked through a registry of
 * live ones.  Futures and tasks are reference counted instead: a future
 * used after its last reference went is undefined, as in CPython's C API;
 * so are streams, servers, transports and files used after their free.
 */
#ifndef CASYNCIO_H
#define CASYNCIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ASYNCIO_EXTERN __attribute__((visibility("default")))
#define ASYNCIO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ASYNCIO_EXTERN
#define ASYNCIO_PRINTF(f, a)
#endif

#define ASYNCIO_VERSION_MAJOR 0
#define ASYNCIO_VERSION_MINOR 1
#define ASYNCIO_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
ASYNCIO_EXTERN const char *asyncio_version_string(void);

/* Opaque types. */
typedef struct asyncio_loop asyncio_loop_t;
typedef struct asyncio_future asyncio_future_t;
struct uv_loop_s;

/* ======================================================================
 * 1. Status codes and exceptions (the CPython C-API model)
 * ====================================================================== */

/*
 * Every call that can fail returns 0 (ASYNCIO_OK) or a negative code.  OS
 * errors are libuv's negative codes passed through unchanged (UV_ENOENT,
 * UV_ECONNREFUSED, ...); casyncio's own codes live in the range below, far
 * from libuv's.  X(NAME, value, Python type, default message)
 */
#define ASYNCIO_ERRNO_MAP(X)                                                                       \
    X(CANCELLED, -30001, "CancelledError", "operation cancelled")                                  \
    X(TIMEDOUT, -30002, "TimeoutError", "operation timed out")                                     \
    X(INVALIDSTATE, -30003, "InvalidStateError", "invalid state")                                  \
    X(QUEUEEMPTY, -30004, "QueueEmpty", "queue is empty")                                          \
    X(QUEUEFULL, -30005, "QueueFull", "queue is full")                                             \
    X(QUEUESHUTDOWN, -30006, "QueueShutDown", "queue is shut down")                                \
    X(INCOMPLETEREAD, -30007, "IncompleteReadError", "incomplete read")                            \
    X(LIMITOVERRUN, -30008, "LimitOverrunError", "buffer limit overrun")                           \
    X(BROKENBARRIER, -30009, "BrokenBarrierError", "barrier is broken")                            \
    X(RUNTIME, -30010, "RuntimeError", "runtime error")                                            \
    X(VALUE, -30011, "ValueError", "invalid value")                                                \
    X(NOMEM, -30012, "MemoryError", "out of memory")                                               \
    X(HTTP, -30013, "ClientError", "HTTP transfer failed")                                         \
    X(GROUP, -30014, "ExceptionGroup", "multiple exceptions")                                      \
    X(EXCEPTION, -30015, "Exception", "exception raised")

enum {
    ASYNCIO_OK = 0,
#define ASYNCIO__ERRNO_ENUM(name, value, type, msg) ASYNCIO_E##name = value,
    ASYNCIO_ERRNO_MAP(ASYNCIO__ERRNO_ENUM)
#undef ASYNCIO__ERRNO_ENUM
};

/* A raised exception.  All strings are owned by the error object. */
typedef struct asyncio_error {
    int code;            /* ASYNCIO_E... or a libuv code */
    const char *type;    /* "CancelledError", "ValueError", "OSError", ... */
    const char *message; /* human readable, never NULL (may be "") */
    int detail;          /* errno / CURLcode / HTTP status where relevant */
} asyncio_error_t;

/*
 * The error indicator.  Each task has one; outside tasks each thread has
 * one.  These functions act on the indicator of the current task, or of the
 * calling thread when no task runs.  Thread-safe (each thread touches only
 * its own indicator).
 */

/* The raised error, or NULL.  Borrowed: valid until the next raise, catch
 * or clear in this task (or thread). */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_error(void);

/* True if an error is raised and it matches `type` (see "Matching" in the
 * contract: NULL and "BaseException" match everything, "Exception" all but
 * CancelledError, "OSError" every libuv code, ...).  Does not clear. */
ASYNCIO_EXTERN bool asyncio_error_matches(const char *type);

/* `except type as e`: if the raised error matches `type`, clear the
 * indicator and return the error, else return NULL and leave it raised.
 * The returned pointer stays valid until the next catch, raise or clear in
 * this task (or thread); asyncio_reraise() raises it again. */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_catch(const char *type);

/* `except: pass`: clear the indicator (and forget the error caught last). */
ASYNCIO_EXTERN void asyncio_error_clear(void);

/* `raise type(fmt % ...)`.  A built-in name gets its code ("ValueError" ->
 * ASYNCIO_EVALUE, "CancelledError" -> ASYNCIO_ECANCELLED, ...); any other
 * name gets ASYNCIO_EEXCEPTION.  type NULL means "Exception".  Replaces any
 * raised error.  Always returns NULL, so `return asyncio_raise(...)` works
 * in a coroutine. */
ASYNCIO_EXTERN void *asyncio_raise(const char *type, const char *fmt, ...) ASYNCIO_PRINTF(2, 3);

/* `raise e` of a kept error: raises a deep copy of `err` (group members
 * included).  err may be any asyncio_error_t, also one the caller filled
 * in, but an ExceptionGroup (code ASYNCIO_EGROUP) must come from the
 * library.  err NULL raises ValueError.  Returns NULL. */
ASYNCIO_EXTERN void *asyncio_raise_error(const asyncio_error_t *err);

/* Raise an OS error from a libuv code: type from the code (OSError,
 * ConnectionRefusedError, FileNotFoundError, ...), message from libuv plus
 * the optional context `fmt`.  Returns NULL. */
ASYNCIO_EXTERN void *asyncio_raise_uv(int uv_code, const char *fmt, ...) ASYNCIO_PRINTF(2, 3);

/* Bare `raise` inside an except block: keeps the raised error, or raises
 * again the error asyncio_catch() took last (the one being handled).
 * RuntimeError ("No active exception to reraise") when there is neither.
 * Returns NULL. */
ASYNCIO_EXTERN void *asyncio_reraise(void);

/* Deep copy of an error (group members too) that outlives the task that
 * raised it.  New: free it with asyncio_error_free().  NULL on NULL input or
 * on allocation failure. */
ASYNCIO_EXTERN asyncio_error_t *asyncio_error_dup(const asyncio_error_t *err);

/* Frees a copy made by asyncio_error_dup().  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_error_free(asyncio_error_t *err);

/* ExceptionGroup members: 0 for an error that is not a group.  Items are
 * borrowed from the group. */
ASYNCIO_EXTERN size_t asyncio_error_group_size(const asyncio_error_t *err);
ASYNCIO_EXTERN const asyncio_error_t *asyncio_error_group_item(const asyncio_error_t *err,
                                                               size_t i);

/* Declares a user exception type `type` deriving from `base` (a built-in
 * or an already registered name; NULL means "Exception"), so that catching
 * `base` catches it.  Re-registering with the same base is harmless.
 * Raises ValueError for a NULL/empty name, a built-in name, an unknown
 * base, a cycle, a hierarchy deeper than 64 levels, or a conflicting
 * re-registration.  Thread-safe. */
ASYNCIO_EXTERN int asyncio_exception_register(const char *type, const char *base);

/* Static description of a code (casyncio's or libuv's).  Never NULL. */
ASYNCIO_EXTERN const char *asyncio_strerror(int code);

/* A coroutine function: `async def f(arg)`.  Its return value is the
 * task's result unless it returns with the error indicator set. */
typedef void *(*asyncio_coro_fn)(void *arg);
typedef void (*asyncio_callback_fn)(void *arg);

/* `result = await fn(arg)` inline in the current task (no new task): calls
 * fn, then returns 0 and its result, or the code of the exception it raised
 * (left raised).  An error already raised before the call is set aside and
 * restored if fn succeeds.  Raises RuntimeError outside a task. */
ASYNCIO_EXTERN int asyncio_call(asyncio_coro_fn fn, void *arg, void **result);

/* ======================================================================
 * 2. Running and the loop
 * ====================================================================== */

/* asyncio.run(main(arg)): creates a loop, runs main as a task named
 * "Task-N", waits for it, cancels the tasks left over and waits for them,
 * shuts the default executor down and closes the loop.  Returns main's
 * status; *result gets its result.  When main raised, the calling thread's
 * indicator holds its exception.  Raises RuntimeError when called while a
 * loop is running in this thread. */
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
 * returns its status (*result gets its result; its exception is raised in
 * the calling thread).  RuntimeError if the loop is closed or a loop is
 * already running in this thread, or if the loop was stopped before fut
 * was done. */
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
 * their last reference goes).  RuntimeError if the loop is running;
 * RuntimeError ("loop is already closed") for a loop closed before or a
 * pointer that is not a live loop. */
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
 * asyncio_handle_valid) and raises RuntimeError (no loop / closed loop),
 * ValueError (fn NULL) or MemoryError. */
ASYNCIO_EXTERN asyncio_handle_t asyncio_call_soon(asyncio_loop_t *loop, asyncio_callback_fn fn,
                                                  void *arg);

/* loop.call_later(delay, fn, arg) / loop.call_at(when, fn, arg), times in
 * seconds of asyncio_loop_time().  A negative or NaN delay raises
 * ValueError.  Errors as asyncio_call_soon. */
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
 * / InvalidStateError ("Result is not ready.").  Marks it retrieved. */
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
 * status: its exception or CancelledError is raised in the caller.
 * Cancelling the caller cancels fut.  Raises RuntimeError outside a task,
 * when a task awaits itself, or for a future of another loop; ValueError
 * for NULL. */
ASYNCIO_EXTERN int asyncio_await(asyncio_future_t *fut, void **result);

/* asyncio.sleep(seconds).  Suspends; sleep(0) (or a negative delay) just
 * yields to the other ready tasks.  Raises CancelledError, RuntimeError
 * outside a task, ValueError for NaN. */
ASYNCIO_EXTERN int asyncio_sleep(double seconds);

/* ======================================================================
 * 4. Combinators
 * ====================================================================== */

enum { ASYNCIO_RETURN_EXCEPTIONS = 1 };

/* `results = await asyncio.gather(*futs)`.  Suspends.  Fills results[0..n)
 * in argument order (NULL for a failed or cancelled child under
 * ASYNCIO_RETURN_EXCEPTIONS: inspect the future).  Without the flag the
 * first failure is raised at once and the others keep running.  Cancelling
 * the caller cancels the children.  ValueError for NULL futs with n > 0 or
 * a NULL item. */
ASYNCIO_EXTERN int asyncio_gather(asyncio_future_t *const *futs, size_t n, void **results,
                                  int flags);

/* asyncio.gather(*futs) as a future (new ref).  Its result is an array of
 * n results (void **) owned by it.  Cancelling it cancels the children. */
ASYNCIO_EXTERN asyncio_future_t *asyncio_gather_future(asyncio_future_t *const *futs, size_t n,
                                                       int flags);

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
 * A future passed twice counts once.  Never cancels the futures and does
 * not retrieve their exceptions.  Raises ValueError (n == 0, futs NULL, a
 * NULL item, a bad return_when), RuntimeError (outside a task, futures of
 * another loop), CancelledError (the caller was cancelled: the futures run
 * on), MemoryError. */
ASYNCIO_EXTERN int asyncio_wait(asyncio_future_t *const *futs, size_t n, double timeout,
                                enum asyncio_return_when return_when, bool *done);

/* `result = await asyncio.wait_for(fut, timeout)`.  Suspends.  Returns fut's
 * status (its exception raised) when it finishes in time.  When the timeout
 * passes, fut is cancelled and waited for, then TimeoutError
 * (ASYNCIO_ETIMEDOUT) is raised; but if fut finished meanwhile anyway, its
 * outcome is returned and nothing is lost.  Cancelling the caller cancels
 * fut and waits for it (fut's outcome is returned instead if it finished
 * first); a second cancellation of the caller during that wait ends it at
 * once, as in Python 3.11.  A negative timeout waits for ever; 0 returns a
 * fut that is already done, else cancels it, waits for it and raises
 * TimeoutError.  Errors as asyncio_await. */
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
 * item), RuntimeError (no loop), MemoryError. */
typedef struct asyncio_as_completed asyncio_as_completed_t;
ASYNCIO_EXTERN asyncio_as_completed_t *asyncio_as_completed(asyncio_future_t *const *futs, size_t n,
                                                            double timeout);

/* Suspends until the next future finishes and stores it in *done
 * (borrowed, valid until asyncio_as_completed_free; read its outcome with
 * asyncio_result), or stores NULL once all were yielded.  When the timeout
 * passes, this and each later call for the futures still running raise
 * TimeoutError (ASYNCIO_ETIMEDOUT), as Python's iterator does.  Raises
 * CancelledError (the caller was cancelled; the futures run on),
 * RuntimeError outside a task, ValueError for NULL. */
ASYNCIO_EXTERN int asyncio_as_completed_next(asyncio_as_completed_t *it, asyncio_future_t **done);

/* Frees the iterator (NULL is harmless); the futures are left running. */
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
 * it.  NULL and RuntimeError outside a task, ValueError for NaN,
 * MemoryError. */
typedef struct asyncio_timeout asyncio_timeout_t;
ASYNCIO_EXTERN asyncio_timeout_t *asyncio_timeout_enter(double delay);
ASYNCIO_EXTERN asyncio_timeout_t *asyncio_timeout_at_enter(double when);

/* Moves the deadline to `when` (loop time; negative: no deadline; in the
 * past: expires at the next iteration).  RuntimeError once the timeout has
 * expired or for NULL. */
ASYNCIO_EXTERN void asyncio_timeout_reschedule(asyncio_timeout_t *t, double when);

/* The deadline, or a negative value for none. */
ASYNCIO_EXTERN double asyncio_timeout_when(asyncio_timeout_t *t);

/* True once the deadline passed and the task was cancelled for it. */
ASYNCIO_EXTERN bool asyncio_timeout_expired(asyncio_timeout_t *t);

/* Leaves the scope and frees t.  Does not suspend.  When the deadline
 * cancelled the task and the CancelledError it caused is still raised, it
 * becomes TimeoutError and ASYNCIO_ETIMEDOUT is returned (unless somebody
 * else cancelled the task meanwhile: then the cancellation stays, as with
 * Python's uncancel logic).  Any other raised error passes through and its
 * code is returned; 0 when nothing is raised.  RuntimeError for NULL, a
 * scope of another task, or one already exited. */
ASYNCIO_EXTERN int asyncio_timeout_exit(asyncio_timeout_t *t);

/* `async with asyncio.TaskGroup() as tg:`.  Does not suspend.  New:
 * asyncio_taskgroup_exit frees it.  NULL and RuntimeError outside a task,
 * MemoryError. */
typedef struct asyncio_taskgroup asyncio_taskgroup_t;
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
 * failures.  Returns 0 when nothing failed.  RuntimeError for NULL or a
 * group of another task. */
ASYNCIO_EXTERN int asyncio_taskgroup_exit(asyncio_taskgroup_t *tg);

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
 * wait on) is refused: it raises RuntimeError and leaves the object alive.
 *
 * Suspending calls (acquire, wait, get, put, join) raise RuntimeError
 * outside a task and CancelledError when the task is cancelled while it
 * waits; a cancelled call has no effect (no lock taken, no item put or
 * taken).  None of these functions is thread-safe: use them on the loop's
 * thread.  Functions that do not suspend may also be called outside a task
 * (from a callback, or before the loop runs).
 */
typedef struct asyncio_lock asyncio_lock_t;
typedef struct asyncio_event asyncio_event_t;
typedef struct asyncio_condition asyncio_condition_t;
typedef struct asyncio_semaphore asyncio_semaphore_t;
typedef struct asyncio_barrier asyncio_barrier_t;
typedef struct asyncio_queue asyncio_queue_t;

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
 * ValueError for a NULL pred. */
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
 * was taken), RuntimeError. */
ASYNCIO_EXTERN int asyncio_queue_get(asyncio_queue_t *queue, void **item);

/* queue.put_nowait(item) / queue.get_nowait(): never suspend.  Raise
 * QueueFull / QueueEmpty, QueueShutDown as put/get, MemoryError (put). */
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
typedef struct asyncio_executor asyncio_executor_t;
typedef struct asyncio_cfuture asyncio_cfuture_t;

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
 * Raises ValueError (NULL) or RuntimeError (freed or not an executor).
 * Thread-safe. */
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
 * running, its result goes to free_result), and the errors of
 * asyncio_run_in_executor. */
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
 * freed, NaN timeout), RuntimeError when called on the thread of the
 * loop that runs the coroutine while it is pending (it would wait for
 * itself; a timeout of 0 is allowed).  May be called several times, by
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

/* ======================================================================
 * 7. HTTP (libcurl multi, driven by the loop)
 * ====================================================================== */

/*
 * aiohttp's ClientSession on libcurl's multi interface, driven by the
 * loop: connection reuse, HTTP/2 multiplexing, DNS caching and TLS are
 * curl's.  A session is bound to the loop that is current when it is made
 * and may only be used by that loop's tasks.  Passing NULL for a session
 * means the loop's default session, made on first use with default
 * options and freed when the loop closes.
 *
 * An HTTP status >= 400 is a response, not an error (check
 * response->status: the analogue of raise_for_status).  Transport
 * failures raise ClientError (ASYNCIO_EHTTP): detail is the CURLcode and
 * message curl's own text (e.g. "Failed to connect to 127.0.0.1 port 1
 * after 0 ms: Couldn't connect to server").  A transfer that exceeds its
 * timeout raises TimeoutError (ASYNCIO_ETIMEDOUT, detail the CURLcode 28).
 * The codes are those curl's own tool reports for the same exchange: a
 * reset connection is CURLE_RECV_ERROR (56, "Recv failure: Connection
 * reset by peer"), a body cut short CURLE_PARTIAL_FILE (18), a redirect
 * chain too long CURLE_TOO_MANY_REDIRECTS (47), a malformed response
 * CURLE_WEIRD_SERVER_REPLY (8).  A request sent on a kept-alive
 * connection the server has meanwhile closed (an idle timeout, a server
 * closing after each response or each redirect) is not a failure: curl
 * sends it again on a new connection, as its tool does (at most 5 times
 * per transfer, curl's limit).  When curl recovered from such a connection
 * and the transfer then failed for another reason, the message is the
 * code's own text (curl_easy_strerror), not that of the dead connection.
 * Cancelling the task awaiting a transfer removes the transfer at once
 * (the connection it used is closed, not reused) and frees everything.
 */
typedef struct asyncio_http_session asyncio_http_session_t;
typedef struct asyncio_http_stream asyncio_http_stream_t;

/* HTTP versions: what a session asks for (asyncio_http_opts_t
 * .http_version) and what a response got (asyncio_http_response_t
 * .http_version, 10, 11, 20 or 30). */
enum {
    ASYNCIO_HTTP_VERSION_DEFAULT = 0, /* ask: curl's default (HTTP/2 over TLS via
                                         ALPN, HTTP/1.1 in clear) */
    ASYNCIO_HTTP_VERSION_1_0 = 10,
    ASYNCIO_HTTP_VERSION_1_1 = 11,               /* ask: HTTP/1.1 only */
    ASYNCIO_HTTP_VERSION_2 = 20,                 /* ask: HTTP/2 (https:// via ALPN; http://
                                                    through an Upgrade: h2c offer) */
    ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE = 21, /* ask: HTTP/2 straight away, also
                                                    for http:// (h2c).  With
                                                    libcurl < 8.0 (curl issue
                                                    10634) each http://
                                                    transfer then gets a
                                                    connection of its own, closed
                                                    after it: no reuse */
    ASYNCIO_HTTP_VERSION_3 = 30
};

/* Session options.  NULL means the defaults, which are those of a zeroed
 * struct except follow_redirects (true, as in aiohttp): start from
 * ASYNCIO_HTTP_OPTS_INIT to keep them.  Strings and arrays are copied by
 * asyncio_http_session_new.  The first six fields are the contract's;
 * later versions add fields only at the end. */
typedef struct asyncio_http_opts {
    long max_connections;      /* open connections in all (aiohttp's limit),
                                  idle ones included: also how many idle ones
                                  are kept for reuse.  0: no limit, and the
                                  session keeps as many idle connections as
                                  it ever had transfers at once (at least
                                  100), so a burst's connections are reused
                                  by the next burst */
    long max_host_connections; /* per host: 0 library default (no limit) */
    double timeout;            /* whole transfer, seconds; 0: none */
    double connect_timeout;    /* seconds; 0: curl's default (300) */
    bool follow_redirects;     /* follow 3xx Location (up to max_redirects) */
    const char *user_agent;    /* NULL: "casyncio/VERSION" */
    /* --- extensions */
    const char *const *headers; /* "Name: value", NULL-terminated: sent with
                                   every request (a request's own header of
                                   the same name wins); may be NULL */
    int http_version;           /* ASYNCIO_HTTP_VERSION_*: what to ask for */
    long max_redirects;         /* 0: 10 (aiohttp's default); < 0: no limit */
    bool insecure;              /* true turns TLS verification (peer and host
                                   name) off; it is on by default */
    const char *ca_file;        /* CA bundle (PEM); NULL: the system's */
    const char *ca_path;        /* directory of CA certificates; NULL: none */
    const char *proxy;          /* "http://host:port", "socks5h://..."; NULL:
                                   curl's environment rules (http_proxy, ...) */
    size_t stream_buffer;       /* bytes a stream buffers before it pauses
                                   the transfer; 0: 64 KiB */
} asyncio_http_opts_t;

#define ASYNCIO_HTTP_OPTS_INIT                                                                     \
    {                                                                                              \
        0, 0, 0.0, 0.0, true, NULL, NULL, 0, 0, false, NULL, NULL, NULL, 0                         \
    }

/* An upload source called by the transfer for more request body: copy at
 * most cap bytes to buf and return how many, 0 at the end of the body, or
 * a negative value to abort the transfer (it raises ClientError,
 * CURLE_ABORTED_BY_CALLBACK).  Called on the loop's thread from inside the
 * transfer machinery: it must not suspend or call the HTTP API. */
typedef long (*asyncio_http_read_fn)(void *arg, char *buf, size_t cap);

/* One request.  Zero the struct (or use designated initialisers) so the
 * extension fields are off.  The first six fields are the contract's.
 * Everything is read during the call that takes the request; nothing is
 * kept (a body_fn is called, and body_arg used, until the transfer ends). */
typedef struct asyncio_http_request {
    const char *method;         /* NULL: GET, or POST when a body is given */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value", NULL-terminated, may be
                                   NULL; "Name:" removes a default header */
    const void *body;           /* request body from memory (may contain NULs) */
    size_t body_len;
    double timeout; /* whole transfer, seconds; 0: session default */
    /* --- extensions */
    asyncio_http_read_fn body_fn; /* request body from a callback ... */
    void *body_arg;
    int64_t body_size;       /* ... of this many bytes; 0 or < 0: unknown
                                (sent chunked over HTTP/1.1; an empty body
                                is .body = "", .body_len = 0) */
    const char *body_file;   /* request body from this file (its size is
                                read when the request starts) */
    int follow_redirects;    /* 0: session default; > 0 follow; < 0 not */
    bool discard_body;       /* count the body, keep none of it (body NULL,
                                body_len the count) */
    const char *output_file; /* write the body to this file (created or
                                truncated) instead of memory (body NULL,
                                body_len the count) */
} asyncio_http_request_t;

/* One response header, as received (name without the colon, value without
 * surrounding white space). */
typedef struct asyncio_http_header {
    const char *name;
    const char *value;
} asyncio_http_header_t;

/* Where the time went, in seconds from the start of the transfer
 * (curl's CURLINFO_*_TIME_T; 0 for a phase that did not happen, such as
 * connect on a reused connection). */
typedef struct asyncio_http_timings {
    double namelookup;    /* DNS done */
    double connect;       /* TCP connected */
    double appconnect;    /* TLS handshake done */
    double pretransfer;   /* about to send the request */
    double starttransfer; /* first byte of the response */
    double redirect;      /* all redirect steps before the last one */
    double total;         /* transfer done */
} asyncio_http_timings_t;

/* A completed response.  Owned by the caller (asyncio_http_response_free);
 * independent of its session: it may outlive it.  All strings are owned
 * by the response. */
typedef struct asyncio_http_response {
    long status;     /* 200, 404, ... of the last response (after redirects) */
    const char *url; /* effective URL after redirects */
    char *body;      /* NUL-terminated (may also contain NULs); NULL for a
                        stream or a discarded/saved body */
    size_t body_len; /* bytes of body received */
    /* --- extensions */
    int http_version;                     /* 10, 11, 20 or 30 */
    const asyncio_http_header_t *headers; /* the last response's headers in
                                             order, repeated ones kept */
    size_t header_count;
    long redirect_count; /* redirects followed */
    long connects;       /* new connections this transfer opened (0: it
                            reused one) */
    asyncio_http_timings_t timings;
} asyncio_http_response_t;

/* ClientSession(...): a session of the current loop with its own
 * connection pool.  New: free it with asyncio_http_session_free.  Raises
 * RuntimeError (no current loop), ValueError (negative limit or timeout,
 * NaN, unknown http_version, a header without a colon), MemoryError, or
 * ClientError when curl cannot be initialised. */
ASYNCIO_EXTERN asyncio_http_session_t *asyncio_http_session_new(const asyncio_http_opts_t *opts);

/* await session.close(): aborts the transfers in flight (the tasks
 * awaiting them wake with ClientError "session closed"; open streams fail
 * the same way but must still be closed), closes every connection and
 * frees the session.  Does not suspend.  NULL is harmless; the loop's
 * default session is refused (RuntimeError).  A session whose loop was
 * closed first only has its memory left: free it all the same.  Raises
 * RuntimeError when called from another loop's thread. */
ASYNCIO_EXTERN void asyncio_http_session_free(asyncio_http_session_t *session);

/* The loop's default session (the one NULL stands for), made on first
 * use.  Borrowed: the loop frees it when it closes.  Raises RuntimeError
 * (no current loop), MemoryError. */
ASYNCIO_EXTERN asyncio_http_session_t *asyncio_http_session_default(void);

/* `async with session.get(url) as resp: body = await resp.read()`.
 * Suspends until the whole response is in.  *out gets the response (new:
 * asyncio_http_response_free), NULL on failure.  Raises ClientError
 * (transport failure, redirect loop or too many redirects, session freed
 * meanwhile), TimeoutError, CancelledError (the transfer is aborted),
 * ValueError (NULL or empty url, a url that is not http:// or https://,
 * a malformed url, e.g. "http://exa mple.com/" or "http:///path": the
 * message names it and curl's reason),
 * RuntimeError (outside a task, session of another loop or freed),
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_http_get(asyncio_http_session_t *session, const char *url,
                                    asyncio_http_response_t **out);

/* session.request(method, url, headers=..., data=..., timeout=...): as
 * asyncio_http_get for any method and body.  Raises as asyncio_http_get,
 * and ValueError for a NULL request, an empty method or one with spaces,
 * more than one body source, body NULL with a body_len, a header without
 * a colon or with a line break, a negative timeout, discard_body with
 * output_file; an OSError (FileNotFoundError, PermissionError, ...) when
 * body_file or output_file cannot be opened, or writing output_file
 * fails. */
ASYNCIO_EXTERN int asyncio_http_request(asyncio_http_session_t *session,
                                        const asyncio_http_request_t *req,
                                        asyncio_http_response_t **out);

/* resp.headers.get(name): the value of the first header called name
 * (compared case-insensitively), or NULL.  Borrowed from the response.
 * NULL response or name: NULL. */
ASYNCIO_EXTERN const char *asyncio_http_response_header(const asyncio_http_response_t *resp,
                                                        const char *name);

/* resp.headers.getall(name)[n]: the n-th (from 0) header called name, or
 * NULL when there are not that many.  Borrowed. */
ASYNCIO_EXTERN const char *asyncio_http_response_header_nth(const asyncio_http_response_t *resp,
                                                            const char *name, size_t n);

/* Frees a response (body, headers, url).  NULL is harmless.  A stream's
 * response belongs to the stream: it is refused (RuntimeError). */
ASYNCIO_EXTERN void asyncio_http_response_free(asyncio_http_response_t *resp);

/* --- Streaming: `async with session.request(...) as resp:` then
 * `async for chunk in resp.content.iter_chunked(n)`.  The body is read as
 * it arrives; when the reader falls behind by the session's stream_buffer
 * the transfer is paused (the server is held back by TCP flow control),
 * so any body size uses bounded memory.  A request body may come from
 * memory, body_fn or body_file as for asyncio_http_request;
 * discard_body and output_file are refused (ValueError). */

/* Starts the request and suspends until the final response's status line
 * and headers are in (redirects followed as configured).  *out gets the
 * stream (new: asyncio_http_stream_close), NULL on failure; out may not
 * be NULL (ValueError).  Unlike the other calls, the request's body (from
 * memory) and body_arg are used until the stream is closed: the server may
 * answer before it has read the whole body.  Raises as
 * asyncio_http_request. */
ASYNCIO_EXTERN int asyncio_http_stream_open(asyncio_http_session_t *session,
                                            const asyncio_http_request_t *req,
                                            asyncio_http_stream_t **out);

/* The response so far: status, url, headers, http_version (body NULL;
 * body_len counts the bytes read so far; timings are filled in once the
 * body has been read to its end).  Borrowed from the stream.  NULL for a
 * NULL stream. */
ASYNCIO_EXTERN const asyncio_http_response_t *
asyncio_http_stream_response(asyncio_http_stream_t *stream);

/* await resp.content.read(cap): suspends until some body is buffered,
 * then copies up to cap bytes to buf and sets *n; *n = 0 means the body
 * ended.  Raises ClientError (the transfer failed mid-body, e.g. the
 * connection was reset: CURLE_PARTIAL_FILE / CURLE_RECV_ERROR in detail;
 * or session freed), TimeoutError, CancelledError (the transfer is
 * aborted: later reads raise ClientError), ValueError (NULL stream or buf,
 * cap 0), RuntimeError (outside a task, another task already reading). */
ASYNCIO_EXTERN int asyncio_http_stream_read(asyncio_http_stream_t *stream, void *buf, size_t cap,
                                            size_t *n);

/* `async for chunk in resp.content.iter_any()` without a copy: suspends
 * like asyncio_http_stream_read, then *data points to everything buffered
 * (*len bytes, 0 at the end of the body).  Borrowed: valid until the next
 * read or close of the stream.  Raises as asyncio_http_stream_read. */
ASYNCIO_EXTERN int asyncio_http_stream_read_chunk(asyncio_http_stream_t *stream, const void **data,
                                                  size_t *len);

/* Leaves the `async with`: aborts the transfer if its body was not read
 * to the end (the connection is closed, not reused), frees the stream and
 * its response.  Does not suspend.  NULL is harmless.  Not while a task
 * is suspended reading it (RuntimeError). */
ASYNCIO_EXTERN void asyncio_http_stream_close(asyncio_http_stream_t *stream);

/* ======================================================================
 * 8. Streams, transports and protocols, DNS
 * ====================================================================== */

/*
 * Streams (asyncio.open_connection / start_server, StreamReader and
 * StreamWriter in one object), transports and protocols (the callback API:
 * loop.create_connection / create_server), over TCP and Unix sockets; DNS.
 *
 * One object, asyncio_stream_t, is Python's (reader, writer) pair: the
 * read functions are StreamReader's, the others StreamWriter's.  Streams
 * are built on transports: every stream has one (asyncio_stream_transport).
 *
 * Ownership.  A stream from asyncio_open_connection* is the caller's: free
 * it with asyncio_stream_free (which closes it if needed; the memory goes
 * once the socket is closed).  A stream given to a server's handler belongs
 * to the server: it is closed and freed when the handler's task ends.  A
 * transport belongs to the library and lives until its protocol's
 * connection_lost has returned (or, under a stream, until the stream is
 * freed): never use it afterwards.  Servers are the caller's: free them
 * with asyncio_server_free.  Closing a loop closes every stream, transport
 * and server of it still open and frees what the library owns (transports,
 * servers' streams); the caller's streams and servers keep their memory
 * until the caller frees them, as usual (as a process or an HTTP session):
 * free them all the same, before or after the loop closed.
 *
 * Bytes are copied: write functions copy what they are given; read
 * functions fill the caller's buffer.
 */

typedef struct asyncio_stream asyncio_stream_t;
typedef struct asyncio_transport asyncio_transport_t;
typedef struct asyncio_server asyncio_server_t;

/* The StreamReader's default limit and the default high-water mark of
 * writes (the low-water mark defaults to a quarter of the high one). */
#define ASYNCIO_STREAM_LIMIT ((size_t)64 * 1024)
#define ASYNCIO_WRITE_HIGH_WATER ((size_t)64 * 1024)

/* Optional settings of connections and servers; NULL or zeroed fields mean
 * the defaults. */
typedef struct asyncio_stream_opts {
    size_t limit;    /* StreamReader limit (0: ASYNCIO_STREAM_LIMIT) */
    int backlog;     /* servers: listen() backlog (0: 100, as Python) */
    bool reuse_port; /* servers: SO_REUSEPORT (one loop per core on one port) */
    int family;      /* AF_INET / AF_INET6 / 0 (AF_UNSPEC): addresses to use */
} asyncio_stream_opts_t;

/* A socket address as Python's get_extra_info('peername'/'sockname') gives
 * it: (host, port) for TCP, the path for a Unix socket (port 0). */
typedef struct asyncio_sockaddr {
    int family; /* AF_INET, AF_INET6 or AF_UNIX */
    int port;
    char host[128]; /* numeric address, or the socket's path */
} asyncio_sockaddr_t;

/* --- Streams: opening */

/* `reader, writer = await asyncio.open_connection(host, port)`.  Resolves
 * host (asyncio_getaddrinfo) and tries every address in turn until one
 * connects.  Suspends.  New: *stream is the caller's (asyncio_stream_free).
 * Raises, when no address connects, their error if they all failed alike
 * (ConnectionRefusedError, ...), else OSError ("Multiple exceptions: ..."),
 * as Python; socket.gaierror as OSError for a name that does not resolve,
 * CancelledError (the connection attempt is abandoned and its socket
 * closed), ValueError (host NULL, port outside 0..65535, stream NULL),
 * RuntimeError (outside a task), MemoryError. */
ASYNCIO_EXTERN int asyncio_open_connection(const char *host, int port,
                                           const asyncio_stream_opts_t *opts,
                                           asyncio_stream_t **stream);

/* `await asyncio.open_unix_connection(path)`.  As above. */
ASYNCIO_EXTERN int asyncio_open_unix_connection(const char *path, const asyncio_stream_opts_t *opts,
                                                asyncio_stream_t **stream);

/* A server's client_connected_cb: runs as a task per connection (a
 * coroutine: it may suspend).  The stream is borrowed: the server closes
 * and frees it when the function returns.  Other tasks it handed the
 * stream to and that are inside a call on it then (read, drain,
 * wait_closed, ...) come back with EOF or the connection's error; they
 * must not call it again.  An exception it leaves raised
 * (other than CancelledError) is reported to the loop's exception handler
 * and the connection closed, as Python does. */
typedef void *(*asyncio_stream_handler_fn)(asyncio_stream_t *stream, void *arg);

/* `server = await asyncio.start_server(handler, host, port)`: listens on
 * every address host resolves to (host NULL: all interfaces, IPv4 and
 * IPv6; port 0: a free port, see asyncio_server_sockname) and runs
 * handler(stream, arg) as a new task for each connection.  Serving starts
 * at once.  Suspends (to resolve host).  New: *server is the caller's.
 * Raises OSError (address in use, ...), ValueError (handler NULL, port out
 * of range, server NULL, backlog < 0), CancelledError, RuntimeError,
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_start_server(asyncio_stream_handler_fn handler, void *arg,
                                        const char *host, int port,
                                        const asyncio_stream_opts_t *opts,
                                        asyncio_server_t **server);

/* `await asyncio.start_unix_server(handler, path)`.  A socket file
 * already at path is removed first, as Python does (even one a live
 * server listens on: that server no longer gets connections); any other
 * file there makes it fail with OSError (address in use).  The socket
 * file is left behind at close (Python 3.11).  As above. */
ASYNCIO_EXTERN int asyncio_start_unix_server(asyncio_stream_handler_fn handler, void *arg,
                                             const char *path, const asyncio_stream_opts_t *opts,
                                             asyncio_server_t **server);

/* --- Streams: reading (StreamReader).  An error the connection ended with
 * (ConnectionResetError, ...) is raised by every read from then on, even
 * with data still buffered, as in Python.  Only one task may read at a
 * time: a second concurrent reader raises RuntimeError.  On a closed
 * stream reads return what is buffered, then EOF. */

/* `data = await reader.read(n)`: waits until at least one byte is buffered
 * or EOF, then copies up to n bytes into buf; *nread 0 means EOF (or n was
 * 0, which returns at once).  Suspends.  Raises the connection's error,
 * CancelledError (nothing consumed), ValueError (stream or buf NULL),
 * RuntimeError (outside a task, another task reading). */
ASYNCIO_EXTERN int asyncio_stream_read(asyncio_stream_t *stream, void *buf, size_t n,
                                       size_t *nread);

/* `data = await reader.read()` (n = -1): reads until EOF into a new buffer
 * *data (free it with asyncio_buffer_free), *len bytes; NUL-terminated for
 * convenience.  Errors as asyncio_stream_read, MemoryError. */
ASYNCIO_EXTERN int asyncio_stream_read_all(asyncio_stream_t *stream, char **data, size_t *len);

/* `data = await reader.readexactly(n)`: fills buf with exactly n bytes.
 * Suspends.  At EOF first: IncompleteReadError (EOFError), with the
 * partial bytes consumed and left in buf and their count in *nread (the
 * error object cannot carry bytes).  Otherwise as asyncio_stream_read. */
ASYNCIO_EXTERN int asyncio_stream_readexactly(asyncio_stream_t *stream, void *buf, size_t n,
                                              size_t *nread);

/* `data = await reader.readuntil(separator)`: waits until sep is buffered,
 * then copies the data up to and including it into buf (*len bytes) and
 * consumes it.  The limit is the stream's (opts.limit), lowered to
 * cap - seplen so the chunk always fits buf.  Suspends.  Raises
 * LimitOverrunError (separator not found within the limit, or found
 * beyond it; the data stays buffered, as in Python: read it with read();
 * the error's detail is Python's `consumed`),
 * IncompleteReadError (EOF before the separator: the whole buffer is the
 * partial, consumed into buf, *len its size), ValueError (empty or NULL
 * separator, buf NULL, cap < seplen), and the errors of read. */
ASYNCIO_EXTERN int asyncio_stream_readuntil(asyncio_stream_t *stream, const void *sep,
                                            size_t seplen, void *buf, size_t cap, size_t *len);

/* `line = await reader.readline()`: readuntil(b"\n"), except that EOF
 * returns the partial line (*len 0 at EOF), and an over-long line is
 * consumed (up to its newline, or the whole buffer if none) and raises
 * ValueError, as Python does.  Suspends. */
ASYNCIO_EXTERN int asyncio_stream_readline(asyncio_stream_t *stream, void *buf, size_t cap,
                                           size_t *len);

/* reader.at_eof(): EOF was received and the buffer is empty. */
ASYNCIO_EXTERN bool asyncio_stream_at_eof(asyncio_stream_t *stream);

/* --- Streams: writing (StreamWriter) */

/* writer.write(data): sends what the socket takes at once and buffers the
 * rest (copied).  Never suspends.  Writing after the peer went away drops
 * the data silently, as Python does (drain raises).  Raises RuntimeError
 * (after write_eof; C rule: after close, too), ValueError (stream NULL,
 * data NULL with len > 0, more than 4 GiB in one call), MemoryError. */
ASYNCIO_EXTERN int asyncio_stream_write(asyncio_stream_t *stream, const void *data, size_t len);

/* writer.writelines(): write of n buffers in order. */
ASYNCIO_EXTERN int asyncio_stream_writelines(asyncio_stream_t *stream, const void *const *data,
                                             const size_t *lens, size_t n);

/* `await writer.drain()`: returns at once while the write buffer is at or
 * below the high-water mark, else suspends until it drains to the low one.
 * Several tasks may drain at once (Python 3.12).  Raises the connection's
 * error, ConnectionResetError ("Connection lost") once the connection is
 * gone, CancelledError (the data stays queued), RuntimeError (outside a
 * task, a stream without a transport), ValueError. */
ASYNCIO_EXTERN int asyncio_stream_drain(asyncio_stream_t *stream);

/* writer.write_eof(): shuts the sending side down once the buffered data
 * is sent (half-close); reading goes on.  Does not suspend.  Calling it
 * again is harmless.  Raises RuntimeError on a closed stream. */
ASYNCIO_EXTERN int asyncio_stream_write_eof(asyncio_stream_t *stream);

/* writer.can_write_eof(): true for TCP and Unix sockets. */
ASYNCIO_EXTERN bool asyncio_stream_can_write_eof(asyncio_stream_t *stream);

/* writer.close(): sends what is buffered, then closes the socket.  Does not
 * suspend.  Calling it again is harmless.  Tasks blocked in read see EOF;
 * in drain, ConnectionResetError. */
ASYNCIO_EXTERN void asyncio_stream_close(asyncio_stream_t *stream);

/* writer.is_closing(): close() was called or the connection is gone. */
ASYNCIO_EXTERN bool asyncio_stream_is_closing(asyncio_stream_t *stream);

/* `await writer.wait_closed()`: suspends until the socket is closed (any
 * number of tasks may wait).  Raises the error the connection ended with,
 * if any (Python 3.11), CancelledError, RuntimeError. */
ASYNCIO_EXTERN int asyncio_stream_wait_closed(asyncio_stream_t *stream);

/* Releases the caller's stream (from asyncio_open_connection*): closes it
 * if needed (buffered data is still sent), the memory goes once the socket
 * is closed.  Also after its loop closed (which closed it but left the
 * memory to this call).  Refused (RuntimeError, nothing freed) while a task waits on
 * it, and for a stream a server owns.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_stream_free(asyncio_stream_t *stream);

/* get_extra_info('peername') / ('sockname').  Raises OSError (not
 * connected, closed: UV_ENOTCONN / UV_EBADF), ValueError. */
ASYNCIO_EXTERN int asyncio_stream_peername(asyncio_stream_t *stream, asyncio_sockaddr_t *addr);
ASYNCIO_EXTERN int asyncio_stream_sockname(asyncio_stream_t *stream, asyncio_sockaddr_t *addr);

/* writer.transport: the stream's transport (borrowed; for buffer sizes and
 * water marks: do not give it a protocol of your own). */
ASYNCIO_EXTERN asyncio_transport_t *asyncio_stream_transport(asyncio_stream_t *stream);

/* Frees a buffer the library allocated for the caller (read_all).  NULL is
 * harmless. */
ASYNCIO_EXTERN void asyncio_buffer_free(void *buf);

/* --- Transports and protocols (the callback API)
 *
 * A protocol is a table of callbacks; every callback gets the transport
 * and its user pointer (asyncio_transport_get_user; a server's arg until
 * connection_made sets another one).  Callbacks run on the loop, from
 * libuv's I/O callbacks, with two exceptions that Python shares:
 * pause_writing may be called inside asyncio_transport_write (and
 * set_write_buffer_limits) when the buffer goes above the high-water
 * mark, and create_connection calls connection_made in the connecting
 * task before it returns.  connection_lost always comes from the loop,
 * after the socket is closed, also when the loop closes with the
 * transport open (the last chance to free the user's state).  Any
 * callback may be NULL.  They must not suspend.  data is borrowed for the
 * call only.  An error a callback leaves raised is reported to the loop's
 * exception handler; from data_received or eof_received it is also, as in
 * Python, a fatal error of the transport: closed at once, connection_lost
 * gets it. */
typedef struct asyncio_protocol {
    void (*connection_made)(asyncio_transport_t *t, void *user);
    void (*data_received)(asyncio_transport_t *t, const char *data, size_t len, void *user);
    /* Returns true to keep the transport open (half-closed); false (or a
     * NULL callback) closes it, as Python's None. */
    bool (*eof_received)(asyncio_transport_t *t, void *user);
    /* exc NULL: closed normally (close, abort, EOF); else the error
     * (ConnectionResetError, ...), borrowed for the call.  The last
     * callback: the transport is freed when it returns. */
    void (*connection_lost)(asyncio_transport_t *t, const asyncio_error_t *exc, void *user);
    /* The write buffer went above the high-water mark / back to the low. */
    void (*pause_writing)(asyncio_transport_t *t, void *user);
    void (*resume_writing)(asyncio_transport_t *t, void *user);
} asyncio_protocol_t;

/* `transport, protocol = await loop.create_connection(factory, host, port)`:
 * connects as asyncio_open_connection does, then calls
 * proto->connection_made and returns.  proto must outlive the transport.
 * Suspends.  *transport is borrowed (see the ownership rules above).
 * Raises as asyncio_open_connection (ValueError for proto NULL). */
ASYNCIO_EXTERN int asyncio_create_connection(const asyncio_protocol_t *proto, void *user,
                                             const char *host, int port,
                                             const asyncio_stream_opts_t *opts,
                                             asyncio_transport_t **transport);
ASYNCIO_EXTERN int asyncio_create_unix_connection(const asyncio_protocol_t *proto, void *user,
                                                  const char *path,
                                                  const asyncio_stream_opts_t *opts,
                                                  asyncio_transport_t **transport);

/* `server = await loop.create_server(factory, host, port)`: as
 * asyncio_start_server, but each connection gets a transport driving
 * proto (user is the server's arg; connection_made may set its own), no
 * task.  Suspends. */
ASYNCIO_EXTERN int asyncio_create_server(const asyncio_protocol_t *proto, void *arg,
                                         const char *host, int port,
                                         const asyncio_stream_opts_t *opts,
                                         asyncio_server_t **server);
ASYNCIO_EXTERN int asyncio_create_unix_server(const asyncio_protocol_t *proto, void *arg,
                                              const char *path, const asyncio_stream_opts_t *opts,
                                              asyncio_server_t **server);

/* transport.write(data): as asyncio_stream_write (pause_writing is called
 * when the buffer goes above the high-water mark).  Never suspends. */
ASYNCIO_EXTERN int asyncio_transport_write(asyncio_transport_t *t, const void *data, size_t len);
ASYNCIO_EXTERN int asyncio_transport_writelines(asyncio_transport_t *t, const void *const *data,
                                                const size_t *lens, size_t n);

/* transport.write_eof(): as asyncio_stream_write_eof. */
ASYNCIO_EXTERN int asyncio_transport_write_eof(asyncio_transport_t *t);

/* transport.close(): stops reading, sends what is buffered, closes;
 * connection_lost(NULL) follows from the loop.  Harmless when repeated. */
ASYNCIO_EXTERN void asyncio_transport_close(asyncio_transport_t *t);

/* transport.abort(): closes at once, dropping buffered data;
 * connection_lost(NULL) follows from the loop. */
ASYNCIO_EXTERN void asyncio_transport_abort(asyncio_transport_t *t);

/* transport.is_closing(). */
ASYNCIO_EXTERN bool asyncio_transport_is_closing(asyncio_transport_t *t);

/* transport.pause_reading() / resume_reading() / is_reading(): no
 * data_received between pause and resume.  Harmless when repeated or on a
 * closing transport. */
ASYNCIO_EXTERN void asyncio_transport_pause_reading(asyncio_transport_t *t);
ASYNCIO_EXTERN void asyncio_transport_resume_reading(asyncio_transport_t *t);
ASYNCIO_EXTERN bool asyncio_transport_is_reading(asyncio_transport_t *t);

/* transport.get_write_buffer_size(): bytes written but not yet taken by
 * the kernel. */
ASYNCIO_EXTERN size_t asyncio_transport_get_write_buffer_size(asyncio_transport_t *t);

/* transport.set_write_buffer_limits(high, low), 0 standing for Python's
 * None: high defaults to 4 * low, or 64 KiB without low; low to high / 4.
 * ValueError unless low <= high.  May call pause_writing at once (as
 * Python), resume_writing later. */
ASYNCIO_EXTERN int asyncio_transport_set_write_buffer_limits(asyncio_transport_t *t, size_t high,
                                                             size_t low);
ASYNCIO_EXTERN void asyncio_transport_get_write_buffer_limits(asyncio_transport_t *t, size_t *high,
                                                              size_t *low);

/* The user pointer the callbacks get. */
ASYNCIO_EXTERN void *asyncio_transport_get_user(asyncio_transport_t *t);
ASYNCIO_EXTERN void asyncio_transport_set_user(asyncio_transport_t *t, void *user);

/* get_extra_info('peername') / ('sockname'), as for streams. */
ASYNCIO_EXTERN int asyncio_transport_peername(asyncio_transport_t *t, asyncio_sockaddr_t *addr);
ASYNCIO_EXTERN int asyncio_transport_sockname(asyncio_transport_t *t, asyncio_sockaddr_t *addr);

/* --- Servers */

/* `await server.serve_forever()`: suspends until the server is closed.
 * Cancelling the caller closes the server (as Python does) and raises
 * CancelledError.  RuntimeError if the server is already closed or
 * another task serves it forever. */
ASYNCIO_EXTERN int asyncio_server_serve_forever(asyncio_server_t *server);

/* server.close(): stops listening (new connections are refused); existing
 * connections go on.  Does not suspend.  Harmless when repeated. */
ASYNCIO_EXTERN void asyncio_server_close(asyncio_server_t *server);

/* server.close_clients() (Python 3.13): closes every connection of the
 * server; a streams server also cancels the handler tasks. */
ASYNCIO_EXTERN void asyncio_server_close_clients(asyncio_server_t *server);

/* `await server.wait_closed()`: suspends until the server is closed and
 * every connection it accepted has ended.  CancelledError, RuntimeError. */
ASYNCIO_EXTERN int asyncio_server_wait_closed(asyncio_server_t *server);

/* server.is_serving(). */
ASYNCIO_EXTERN bool asyncio_server_is_serving(asyncio_server_t *server);

/* Number of listening sockets, and the address of the i-th (to learn the
 * port chosen for port 0).  ValueError for i out of range. */
ASYNCIO_EXTERN size_t asyncio_server_nsockets(asyncio_server_t *server);
ASYNCIO_EXTERN int asyncio_server_sockname(asyncio_server_t *server, size_t i,
                                           asyncio_sockaddr_t *addr);

/* Releases the caller's server: closes it if needed; connections still
 * open are closed (handler tasks cancelled), memory goes once they are.
 * Also after its loop closed (which closed it but left the memory to
 * this call).  Refused (RuntimeError) while a task waits in serve_forever
 * or wait_closed.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_server_free(asyncio_server_t *server);

/* --- DNS (libuv's getaddrinfo / getnameinfo, on its thread pool) */

/* One resolved address, as a tuple of Python's getaddrinfo. */
typedef struct asyncio_addrinfo {
    struct asyncio_addrinfo *next;
    int family;   /* AF_INET, AF_INET6 */
    int socktype; /* SOCK_STREAM, ... */
    int protocol;
    char *canonname;         /* with AI_CANONNAME on the first entry, else NULL */
    asyncio_sockaddr_t addr; /* numeric host and port */
    const void *sockaddr;    /* the struct sockaddr itself, sockaddr_len bytes */
    unsigned sockaddr_len;
} asyncio_addrinfo_t;

/* `await loop.getaddrinfo(host, port, family=, type=, flags=)`: host and
 * service may be NULL (not both); family/type/flags are the AF_, SOCK_ and
 * AI_ constants (0 for any).  Suspends.  New: *result is a list the caller
 * frees with asyncio_addrinfo_free.  Raises OSError (socket.gaierror: the
 * libuv UV_EAI_* code, e.g. UV_EAI_NONAME), CancelledError (the request is
 * cancelled), ValueError (both NULL, result NULL), RuntimeError,
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_getaddrinfo(const char *host, const char *service, int family, int type,
                                       int flags, asyncio_addrinfo_t **result);

/* Frees a list from asyncio_getaddrinfo.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_addrinfo_free(asyncio_addrinfo_t *list);

#define ASYNCIO_NI_MAXHOST 1025
#define ASYNCIO_NI_MAXSERV 32

/* `host, service = await loop.getnameinfo((host, port), flags)`: host is
 * a numeric IPv4 or IPv6 address; flags are NI_ constants.  Fills host_out
 * (ASYNCIO_NI_MAXHOST bytes) and serv_out (ASYNCIO_NI_MAXSERV); either may
 * be NULL.  Suspends.  Raises OSError (UV_EAI_*), ValueError (host not a
 * numeric address, port out of range), CancelledError, RuntimeError. */
ASYNCIO_EXTERN int asyncio_getnameinfo(const char *host, int port, int flags, char *host_out,
                                       char *serv_out);

/* ======================================================================
 * 9. Subprocesses, signals and files
 * ====================================================================== */

/* --- Signals */

/* loop.add_signal_handler(signum, fn, arg): fn(arg) runs as a loop
 * callback (through the ready queue, never in signal context) each time
 * signum arrives.  A second call for the same signal replaces the
 * handler.  loop NULL: the running (or current) loop.  A handler for
 * SIGINT replaces asyncio_run's own SIGINT handling.  Does not suspend.
 * Raises ValueError (signum out of range(1, NSIG), fn NULL), RuntimeError
 * (SIGKILL, SIGSTOP or another signal that cannot be caught: "sig N cannot
 * be caught"; no loop or a closed loop), MemoryError, OSError.  The loop
 * closing removes its handlers. */
ASYNCIO_EXTERN int asyncio_add_signal_handler(asyncio_loop_t *loop, int signum,
                                              asyncio_callback_fn fn, void *arg);

/* loop.remove_signal_handler(signum): returns 1 if a handler was removed
 * (the signal gets its default disposition back once no loop watches it),
 * 0 if none was set.  A callback already scheduled still runs.  Raises
 * ValueError (signum out of range), RuntimeError (no loop or closed). */
ASYNCIO_EXTERN int asyncio_remove_signal_handler(asyncio_loop_t *loop, int signum);

/* asyncio_run and SIGINT (Python 3.11's Runner).  When asyncio_run is
 * called from the main thread and SIGINT has its default disposition (the
 * program set no handler of its own), the first SIGINT cancels the main
 * task.  If main then ends cancelled (it did not catch the CancelledError,
 * and nobody else cancelled it), asyncio_run returns ASYNCIO_EEXCEPTION
 * with "KeyboardInterrupt" raised (a BaseException: "Exception" does not
 * match it).  A second SIGINT, or one arriving when main is already done,
 * is Python's immediate KeyboardInterrupt: the default disposition is
 * restored and the signal delivered again, so the process ends as killed
 * by SIGINT.  The default disposition is back when asyncio_run returns. */

/* --- Files, on libuv's fs API: the work runs in libuv's thread pool, the
 * loop never blocks.  Errors are OSError subtypes with the libuv code
 * (FileNotFoundError for UV_ENOENT, PermissionError for UV_EACCES,
 * IsADirectoryError, ...) and a message naming the path.
 *
 * Cancellation: a request not yet started in the pool is withdrawn.  One
 * already running cannot be interrupted: if it uses the caller's memory
 * (a buffer to read into or write from) it is waited for, then the call
 * raises CancelledError and its result is released (a file it opened is
 * closed); asyncio_file_read_all, which uses only its own, returns at
 * once and its job is released when it ends.  Only when the loop is
 * closing is a running request left behind; asyncio_loop_close returns
 * after it ended: a buffer given to it must stay valid until then.
 * The whole-file functions run all their system calls in one pool job. */
typedef struct asyncio_file asyncio_file_t;

/* `data = await read_file(path)`: the whole file.  *data (NUL-terminated
 * for convenience; *len does not count the NUL) is the caller's: free it
 * with asyncio_buffer_free (section 8).  Suspends.  Raises OSError,
 * CancelledError, ValueError (path NULL, data NULL), RuntimeError
 * (outside a task), MemoryError. */
ASYNCIO_EXTERN int asyncio_file_read_all(const char *path, char **data, size_t *len);

/* `await write_file(path, data)`: creates or truncates path (mode 0666
 * before the umask) and writes len bytes; _append adds them at its end
 * (creating it if needed).  data may be NULL when len is 0.  Suspends.
 * Raises OSError, CancelledError (the file may have been partly written),
 * ValueError, RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_file_write_all(const char *path, const void *data, size_t len);
ASYNCIO_EXTERN int asyncio_file_append(const char *path, const void *data, size_t len);

/* open(path, mode): mode as Python's and fopen's: "r", "w", "a", "x" (create,
 * FileExistsError if it exists), each with an optional "+" (read and
 * write) and "b" (ignored: files are bytes).  New: *out must be closed
 * with asyncio_file_close.  Suspends.  Raises OSError, CancelledError (no
 * file stays open), ValueError (bad mode, NULL path or out), RuntimeError,
 * MemoryError. */
ASYNCIO_EXTERN int asyncio_file_open(const char *path, const char *mode, asyncio_file_t **out);

/* f.read(n) at the current position, which moves past what was read:
 * reads up to n bytes into buf; *nread 0 means end of file.  Suspends.
 * Raises OSError, CancelledError, ValueError (NULL file or buf with n >
 * 0, file closed, not open for reading), RuntimeError. */
ASYNCIO_EXTERN int asyncio_file_read(asyncio_file_t *f, void *buf, size_t n, size_t *nread);

/* os.pread: reads up to n bytes at offset (>= 0); the position does not
 * move.  As asyncio_file_read otherwise. */
ASYNCIO_EXTERN int asyncio_file_pread(asyncio_file_t *f, void *buf, size_t n, int64_t offset,
                                      size_t *nread);

/* f.write(data): writes all n bytes at the current position (at the end
 * in "a" modes).  Suspends.  Raises OSError, CancelledError (part may be
 * written), ValueError (not open for writing, ...), RuntimeError. */
ASYNCIO_EXTERN int asyncio_file_write(asyncio_file_t *f, const void *buf, size_t n);

/* os.pwrite: writes all n bytes at offset (>= 0); the position does not
 * move.  As asyncio_file_write otherwise. */
ASYNCIO_EXTERN int asyncio_file_pwrite(asyncio_file_t *f, const void *buf, size_t n,
                                       int64_t offset);

/* f.seek(offset, whence) with SEEK_SET, SEEK_CUR, SEEK_END; *pos gets the
 * new position (f.tell() is seek(f, 0, SEEK_CUR)).  Does not suspend (no
 * I/O).  Raises ValueError, OSError. */
ASYNCIO_EXTERN int asyncio_file_seek(asyncio_file_t *f, int64_t offset, int whence, int64_t *pos);

/* f.close(): closes the descriptor and frees f, even when it fails or is
 * cancelled (the close then completes in the background).  Suspends in a
 * task; outside a task it closes at once without suspending, so a file is
 * never lost.  NULL is harmless.  Raises OSError, CancelledError,
 * RuntimeError while another task's read or write of f is in progress
 * (f stays open: its descriptor is never closed under a running
 * operation). */
ASYNCIO_EXTERN int asyncio_file_close(asyncio_file_t *f);

/* The file descriptor (os.fileno), -1 for NULL. */
ASYNCIO_EXTERN int asyncio_file_fileno(asyncio_file_t *f);

/* --- Subprocesses: asyncio.create_subprocess_exec / _shell and
 * asyncio.subprocess.Process, on libuv's uv_spawn. */
typedef struct asyncio_process asyncio_process_t;

/* What a child's stdin, stdout or stderr is (Python's None, PIPE, DEVNULL,
 * STDOUT).  ASYNCIO_STDIO_INHERIT is 0, so a zeroed options struct
 * inherits all three, as Python's defaults do. */
enum asyncio_stdio {
    ASYNCIO_STDIO_INHERIT = 0, /* the parent's own descriptor */
    ASYNCIO_STDIO_PIPE,        /* a pipe the parent reads or writes */
    ASYNCIO_STDIO_DEVNULL,     /* /dev/null */
    ASYNCIO_STDIO_STDOUT       /* stderr only: wherever stdout goes */
};

typedef struct asyncio_subprocess_opts {
    enum asyncio_stdio stdin_mode, stdout_mode, stderr_mode;
    const char *cwd;              /* NULL: the parent's */
    const char *const *env;       /* "NAME=value", NULL-terminated; NULL: the parent's */
} asyncio_subprocess_opts_t;

/* Writing to a child that has gone fails with BrokenPipeError (the
 * loop ignores SIGPIPE: see asyncio_loop_new); children get the default
 * disposition back.
 *
 * create_subprocess_exec(argv[0], *argv[1:], ...): starts argv[0]
 * (searched in PATH when it has no '/') with the arguments argv (NULL-
 * terminated, at least argv[0]).  New: *out is the caller's, freed with
 * asyncio_process_free.  Needs a running loop but does not suspend (the
 * child is started when it returns).  Raises FileNotFoundError /
 * PermissionError / OSError (the program cannot be started), ValueError
 * (argv NULL or empty, out NULL, STDOUT given for stdin or stdout, bad
 * mode), RuntimeError (no running loop), MemoryError. */
ASYNCIO_EXTERN int asyncio_create_subprocess_exec(const char *const *argv,
                                                  const asyncio_subprocess_opts_t *opts,
                                                  asyncio_process_t **out);

/* create_subprocess_shell(cmd, ...): "/bin/sh -c cmd".  As _exec. */
ASYNCIO_EXTERN int asyncio_create_subprocess_shell(const char *cmd,
                                                   const asyncio_subprocess_opts_t *opts,
                                                   asyncio_process_t **out);

/* process.pid (-1 for NULL or a released process). */
ASYNCIO_EXTERN int asyncio_process_pid(asyncio_process_t *p);

/* process.returncode: true and *code once the child has exited (its exit
 * status, or -N when killed by signal N); false while it runs. */
ASYNCIO_EXTERN bool asyncio_process_returncode(asyncio_process_t *p, int *code);

/* `code = await process.wait()`: suspends until the child exits; *code
 * gets its return code.  Several tasks may wait at once.  Cancelling a
 * wait leaves the child running.  With stdout or stderr piped a child that
 * writes much blocks until they are read: use asyncio_process_communicate.
 * Raises CancelledError, ValueError (NULL, freed), RuntimeError (outside
 * a task, another loop), MemoryError. */
ASYNCIO_EXTERN int asyncio_process_wait(asyncio_process_t *p, int *code);

/* process.send_signal(signum) / terminate() (SIGTERM) / kill() (SIGKILL).
 * Do not suspend.  Raise ProcessLookupError once the child has exited
 * (its pid may already be someone else's), ValueError, OSError. */
ASYNCIO_EXTERN int asyncio_process_send_signal(asyncio_process_t *p, int signum);
ASYNCIO_EXTERN int asyncio_process_terminate(asyncio_process_t *p);
ASYNCIO_EXTERN int asyncio_process_kill(asyncio_process_t *p);

/* `out, err = await process.communicate(input)`: writes input (len bytes;
 * NULL/0 for none) to stdin and closes it, while reading stdout and
 * stderr to their end, all at once (no deadlock whatever the sizes), then
 * waits for the child to exit.  *out / *err (NUL-terminated, lengths
 * without the NUL) get what was read from a piped stdout / stderr, NULL
 * for one not piped; free them with asyncio_buffer_free.  As in Python,
 * it runs a task per stream and gathers them; stdin is closed even without
 * input.  A child that exits
 * without reading its input is not an error (BrokenPipe and
 * ConnectionReset on stdin are ignored).  Suspends.  Raises
 * CancelledError (the child keeps running; what was read is dropped),
 * ValueError (input given but stdin not piped), RuntimeError (outside a
 * task; another communicate or another reader of the same stream, or
 * stdin already closed), the streams' errors, MemoryError. */
ASYNCIO_EXTERN int asyncio_process_communicate(asyncio_process_t *p, const void *input,
                                               size_t len, char **out, size_t *out_len,
                                               char **err, size_t *err_len);

/* process.stdin / process.stdout / process.stderr: the child's pipes as
 * streams (section 8), or NULL for one that is not a pipe.  Borrowed: they
 * belong to the process and go with asyncio_process_free (loop close
 * closes them; their memory still goes with asyncio_process_free).
 * stdin is a StreamWriter (asyncio_stream_write, _drain, _close: the
 * child sees end of file), stdout and stderr StreamReaders
 * (asyncio_stream_read, _readline, _read_all, ...).  Do not free them. */
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stdin(asyncio_process_t *p);
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stdout(asyncio_process_t *p);
ASYNCIO_EXTERN asyncio_stream_t *asyncio_process_stderr(asyncio_process_t *p);

/* Releases the process object (the transport's close): a child still
 * running is killed (SIGKILL) and reaped in the background, as Python's
 * transport does; its streams are closed and freed.  Refused
 * (RuntimeError) while a task waits on it or uses one of its streams.
 * Loop close kills and reaps children still running and closes their
 * streams: the object stays valid for asyncio_process_free, returncode
 * and pid.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_process_free(asyncio_process_t *p);

#ifdef __cplusplus
}
#endif
#endif /* CASYNCIO_H */
