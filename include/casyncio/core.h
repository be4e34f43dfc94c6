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
 * loop"; "every task is waiting and nothing can wake them", the deadlock
 * report of asyncio_loop_run_until_complete, after which the tasks are
 * cancelled as any left over), ValueError (main NULL), MemoryError. */
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
 * or one of another loop.
 *
 * The deadlock report (C rule; Python would hang): when fut is not done
 * and nothing can ever run a callback of the loop again, it writes
 * "casyncio: every task is waiting and nothing can wake them" and the task
 * dump (asyncio_dump_tasks) to stderr and returns RuntimeError ("every
 * task is waiting and nothing can wake them"); the tasks stay pending and
 * the loop usable.  That is certain when the loop would block with
 *   - no callback ready, nothing posted to it, no timer pending (sleeps,
 *     timeouts, call_later and call_at count);
 *   - nothing of libuv that could call back: no active handle (a stream
 *     reading, a server listening, a child running, a signal handler, an
 *     HTTP transfer), no request in flight (file, DNS, connect, write), no
 *     handle closing; the dump signal and asyncio_run's Ctrl-C handling
 *     do not count;
 *   - no executor job of this loop queued or running;
 *   - no thread in the process but this one, except the library's own
 *     that cannot post (idle executor workers, libuv's thread pool): any
 *     other thread could call asyncio_call_soon_threadsafe or
 *     asyncio_run_coroutine_threadsafe (threads are counted in
 *     /proc/self/status; without it nothing is reported).
 * While only other threads keep a wake-up possible, the loop looks again
 * now and then (they may end or go idle without posting).  run_forever
 * never reports (its stop may come from anywhere). */
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
 * be called while no loop exists (nor a future of a closed loop, nor a
 * context variable or context object): RuntimeError otherwise; ValueError
 * if any pointer is NULL.  It must not race with other calls of the
 * library.  (The table of exception types registered with
 * asyncio_exception_register outlives any allocator and uses the C
 * library's.)  While the allocator is the C library's malloc (as it is
 * until this is called, or when it is given malloc again), tasks and
 * futures are not malloc'd one by one: they come from slabs the library
 * maps itself (64 KiB at first, up to 2 MiB huge pages in a burst, their
 * pages committed in one call).  A slab goes back once every object in it
 * is free and the loop idled (a period of a second), or at the loop's
 * close; one object the program keeps keeps its slab, until the last of
 * them goes.  With other functions set here, each task and future is one
 * call to them, so every one can be counted or made to fail (also in
 * AddressSanitizer builds, for its checks).  Coroutine stacks are always
 * mapped by the library (section 3 of this header). */
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
    /* create_task(..., context=ctx): the task runs in ctx itself (what it
     * sets is seen in ctx afterwards) and keeps it alive until it ends.
     * NULL: in a copy of the context current now (section "Context
     * variables"). */
    asyncio_context_t *context;
} asyncio_task_opts_t;

/* asyncio.create_task(fn(arg)): new ref.  The task first runs when its
 * creator suspends (or in the next loop iteration).  Uses the running loop,
 * else the thread's current loop.  It runs in a copy of the current
 * context (see "Context variables"), or in opts->context.  Raises
 * RuntimeError (no loop), ValueError (fn NULL, stack_size out of range,
 * a context that is not live), MemoryError.  A task whose stack cannot be
 * allocated when it starts ends with MemoryError.  In debug mode the task
 * remembers where it was created, for task dumps. */
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

/* ======================================================================
 * Context variables (contextvars, PEP 567)
 * ====================================================================== */

/*
 * Request-scoped state that follows a request through every task it
 * starts: Python's contextvars, with asyncio's propagation rules exactly.
 *
 * Every task runs in a context, a mapping from variables to values; so
 * does every thread outside tasks.  asyncio_contextvar_get reads the
 * current context, asyncio_contextvar_set changes it.  Where a context
 * comes from:
 *   - a task runs in a copy of the context current when it was created
 *     (what it sets stays its own; what its creator sets afterwards it
 *     does not see), or in the context given in asyncio_task_opts_t;
 *   - callbacks scheduled with asyncio_call_soon, asyncio_call_later,
 *     asyncio_call_at and asyncio_call_soon_threadsafe, and done callbacks
 *     added with asyncio_add_done_callback, run in a copy of the context
 *     current when they were scheduled or added (in the posting thread for
 *     call_soon_threadsafe; asyncio_run_coroutine_threadsafe's coroutine
 *     runs in a copy of the calling thread's context, as in Python);
 *   - asyncio_to_thread runs its function in a copy of the caller's
 *     context; asyncio_run_in_executor does not: the job runs in its
 *     worker thread's own context, as in Python;
 *   - asyncio_call (`await f()`) runs in the caller's context: what the
 *     callee sets, the caller sees;
 *   - add_reader/add_writer callbacks, signal handlers, a server's
 *     connections and the callbacks of protocols follow Python's loop
 *     too: see asyncio_add_reader, asyncio_start_server and
 *     asyncio_protocol_t (casyncio/net.h), asyncio_add_signal_handler
 *     (casyncio/os.h);
 *   - asyncio_run's main task starts from a copy of the calling thread's
 *     context.
 *
 * Cost: a copy is one reference to the same immutable mapping (a hash
 * array mapped trie, as CPython's), taken only when the mapping is not
 * empty: creating a task in a context nobody changed costs nothing.
 * asyncio_contextvar_get is a handle check and a lookup of a few
 * instructions; set allocates a binding and copies one path of the trie.
 *
 * Values are `void *` and belong to the caller, as results do.  A
 * variable made with a destroy function owns what is set in it instead:
 * destroy(value) is called exactly once for each set, when no context,
 * copy or token holds that value any more (the variable set again or
 * reset, a task ending, a context freed, a thread exiting).  It may run on
 * any thread that held a copy (a to_thread worker), inside the call that
 * let the value go.  The default value is never destroyed.
 *
 * Threads: get, set and reset act on the calling thread's current context
 * (its running task's, or its own), so they are thread-safe as the error
 * functions are.  A context object (asyncio_context_t) may be used by one
 * thread at a time.
 */

typedef struct asyncio_contextvar_opts {
    void *default_value; /* what get returns while unset (unless no_default) */
    bool no_default;     /* ContextVar(name) without a default: get raises LookupError */
    /* Releases a value set in the variable once nothing holds it (above);
     * NULL: values are the caller's. */
    void (*destroy)(void *value);
} asyncio_contextvar_opts_t;

/* contextvars.ContextVar(name, default=default_value).  New: free with
 * asyncio_contextvar_free.  name is copied.  Raises ValueError (name
 * NULL), MemoryError.  Thread-safe. */
ASYNCIO_EXTERN asyncio_contextvar_t *asyncio_contextvar_new(const char *name, void *default_value);
/* The same with options (opts NULL: a NULL default). */
ASYNCIO_EXTERN asyncio_contextvar_t *
asyncio_contextvar_new_ex(const char *name, const asyncio_contextvar_opts_t *opts);

/* Releases the caller's handle.  Values set in the variable stay in the
 * contexts holding them until those let them go (destroy is called then).
 * NULL is harmless. */
ASYNCIO_EXTERN void asyncio_contextvar_free(asyncio_contextvar_t *var);

/* var.name.  Borrowed from the variable; NULL (ValueError) for a handle
 * that is not a live variable. */
ASYNCIO_EXTERN const char *asyncio_contextvar_name(asyncio_contextvar_t *var);

/* var.get(): 0 and the value in the current context, else the variable's
 * default.  Raises LookupError ("<ContextVar name='x'>") when unset with
 * no default, ValueError ("not a live context variable (freed, or never
 * one)").  Does not suspend. */
ASYNCIO_EXTERN int asyncio_contextvar_get(asyncio_contextvar_t *var, void **value);

/* var.get(fallback): as get, but fallback stands in for the default (and
 * no LookupError). */
ASYNCIO_EXTERN int asyncio_contextvar_get_or(asyncio_contextvar_t *var, void *fallback,
                                             void **value);

/* token = var.set(value): sets var in the current context.  *token, when
 * token is not NULL, gets a new token for asyncio_contextvar_reset (or
 * asyncio_contextvar_token_free): it remembers the value it replaced.
 * Raises ValueError (not a live variable), MemoryError (nothing changed).
 * Does not suspend. */
ASYNCIO_EXTERN int asyncio_contextvar_set(asyncio_contextvar_t *var, void *value,
                                          asyncio_contextvar_token_t **token);

/* var.reset(token): puts var back as it was before the set that made the
 * token (unset again if it was unset).  Consumes the token, also when it
 * fails (C rule: a token is used once, whatever happens).  Raises
 * RuntimeError ("<Token> has already been used once", for a token reset
 * or freed before), ValueError ("<Token> was created by a different
 * ContextVar", "<Token> was created in a different Context", not a live
 * variable), MemoryError. */
ASYNCIO_EXTERN int asyncio_contextvar_reset(asyncio_contextvar_t *var,
                                            asyncio_contextvar_token_t *token);

/* token.var: borrowed (valid while the variable's handle is); NULL
 * (ValueError) for a token that is not live. */
ASYNCIO_EXTERN asyncio_contextvar_t *
asyncio_contextvar_token_var(asyncio_contextvar_token_t *token);

/* token.old_value: true and *old the value the set replaced, or false
 * (and *old NULL) when the variable was unset (Token.MISSING) or the token
 * is not live (ValueError). */
ASYNCIO_EXTERN bool asyncio_contextvar_token_old_value(asyncio_contextvar_token_t *token,
                                                       void **old);

/* Drops a token that will not be reset.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_contextvar_token_free(asyncio_contextvar_token_t *token);

/* contextvars.copy_context(): a new context holding what the current one
 * holds now.  New: free with asyncio_context_free.  MemoryError. */
ASYNCIO_EXTERN asyncio_context_t *asyncio_copy_context(void);

/* contextvars.Context(): a new empty context.  New.  MemoryError. */
ASYNCIO_EXTERN asyncio_context_t *asyncio_context_new(void);

/* ctx.copy(): a new context holding what ctx holds.  New.  ValueError
 * (not a live context), MemoryError. */
ASYNCIO_EXTERN asyncio_context_t *asyncio_context_copy(asyncio_context_t *ctx);

/* Releases the caller's handle; tasks created in ctx, and a run in
 * progress, keep it alive until they end.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_context_free(asyncio_context_t *ctx);

/* ctx.run(fn, arg): calls fn(arg) with ctx as the current context, then
 * goes back to the one before; what fn sets stays in ctx.  Returns 0 and
 * fn's result, or the code of the error fn raised (left raised, *result
 * NULL), as asyncio_call does.  Works in a task (fn may suspend: the task
 * stays in ctx until fn returns) and outside.  Raises RuntimeError
 * ("cannot enter context: <Context> is already entered") when ctx is being
 * run, or is the context of the running task; ValueError (not a live
 * context, fn NULL). */
ASYNCIO_EXTERN int asyncio_context_run(asyncio_context_t *ctx, asyncio_coro_fn fn, void *arg,
                                       void **result);

/* ctx[var]: 0 and the value var has in ctx.  Raises KeyError when var is
 * not set in ctx (its default does not count), ValueError for handles
 * that are not live.  value may be NULL (`var in ctx`). */
ASYNCIO_EXTERN int asyncio_context_get(asyncio_context_t *ctx, asyncio_contextvar_t *var,
                                       void **value);

/* len(ctx): how many variables are set in it; 0 for a handle that is not
 * live (ValueError). */
ASYNCIO_EXTERN size_t asyncio_context_len(asyncio_context_t *ctx);

/* ======================================================================
 * Introspection: task dumps (the porting guide's "Debugging a casyncio
 * program" shows them, with the gdb helper and the deadlock report)
 * ====================================================================== */

/* task.print_stack(file=file): writes one line about the task (its name,
 * its coroutine function, and whether it is running, ready, not started,
 * or waiting: how long, in what and on what, as "waiting 2.003 s in
 * Lock.acquire() on <Lock 0x... [locked, waiters:1]>"), then its C
 * backtrace: the live stack of the running task, the suspended stack of
 * the others, unwound from the context its last switch saved.  Frames
 * name their function where the object has symbols, file:line where it
 * has debug information, and always module+offset (`addr2line -e MODULE
 * OFFSET`).  The library's own suspension frames are left out.  In debug
 * mode it also prints where the task was created.  file NULL: stderr.
 * Does not suspend.  On the loop's thread.  Raises ValueError (not a
 * task), RuntimeError (a task of a loop running in another thread). */
ASYNCIO_EXTERN int asyncio_task_print_stack(asyncio_future_t *task, FILE *file);

/* Writes the task dump of the running (or current) loop to file (NULL:
 * stderr): every unfinished task as asyncio_task_print_stack prints it,
 * between a header and "casyncio: end of task dump".  Raises RuntimeError
 * without a loop. */
ASYNCIO_EXTERN int asyncio_dump_tasks(FILE *file);

/* The dump signal, as Go's SIGQUIT: when signum arrives, the loop writes
 * its task dump to stderr in its next iteration (every loop that asked
 * for that signal does).  0 turns it off.  env ASYNCIO_DUMP_SIGNAL (a
 * name, SIGQUIT or QUIT, or a number) sets it for every loop when the
 * loop is made.  While set, the signal's default action (SIGQUIT's core
 * dump) does not happen.  It never keeps the loop alive.  loop NULL: the
 * running (or current) loop.  Raises ValueError (0 < signum < NSIG, not
 * SIGKILL or SIGSTOP), RuntimeError (closed loop), OSError. */
ASYNCIO_EXTERN int asyncio_loop_set_dump_signal(asyncio_loop_t *loop, int signum);

#endif /* CASYNCIO_CORE_H */
