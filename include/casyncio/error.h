/*
 * casyncio/error.h: Status codes and exceptions: the error indicator, raise and catch.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_ERROR_H
#define CASYNCIO_ERROR_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/error.h>"
#endif

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
    X(EXCEPTION, -30015, "Exception", "exception raised")                                          \
    X(SSL, -30016, "SSLError", "SSL error")

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
 *
 * The rules every call follows:
 *   - A call that succeeds never touches the indicator: an error raised
 *     before it stays raised.
 *   - A call that fails raises its own error.  If another error is raised
 *     and not caught at that moment, the new one takes it as its context
 *     (Python's __context__, asyncio_error_context()).
 *   - Catching or clearing the newest error raises its context again: the
 *     older error was never handled, so it goes on propagating.  This is
 *     what makes a C cleanup path (`goto cleanup`, which runs while an
 *     error is raised) behave as Python's `finally:` block: in
 *
 *         rc = asyncio_await(work, NULL);      // cancelled: CancelledError
 *       cleanup:
 *         asyncio_cancel(helper, NULL);
 *         if (asyncio_await(helper, NULL) < 0) // the helper's CancelledError
 *             asyncio_catch("CancelledError");  // handles the helper's only
 *         return NULL;                          // ends cancelled, as Python
 *
 *     the task still ends with its own CancelledError.
 *   - An error the code caught (asyncio_catch) is handled: it never comes
 *     back by itself (asyncio_reraise raises it again on purpose).
 *   - Code that fails again and again without ever catching builds a chain;
 *     beyond 64 errors the oldest are dropped.
 * Debug mode (asyncio_loop_set_debug, ASYNCIO_DEBUG=1) reports a task that
 * returns with an error that came back when it caught a newer one: that is
 * what Python does too, but in C it usually means the cleanup caught an
 * error thinking it was the only one.
 */

/* The raised error, or NULL.  Borrowed: valid until the next raise, catch
 * or clear in this task (or thread). */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_error(void);

/* True if an error is raised and it matches `type` (see "Matching" in the
 * contract: NULL and "BaseException" match everything, "Exception" all but
 * CancelledError, "OSError" every libuv code, ...).  Does not clear. */
ASYNCIO_EXTERN bool asyncio_error_matches(const char *type);

/* `except type as e`: if the raised error matches `type`, take it off the
 * indicator and return it, else return NULL and leave it raised.  The
 * error it was raised on top of, if any, is raised again (see the rules
 * above).  The returned pointer stays valid until the next catch, raise or
 * clear in this task (or thread); asyncio_reraise() raises it again. */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_catch(const char *type);

/* `except: pass` for the newest error: it is dropped, and the error it was
 * raised on top of, if any, is raised again (see the rules above).  The
 * error caught last is forgotten too.  To drop every error:
 * `while (asyncio_error()) asyncio_error_clear();`. */
ASYNCIO_EXTERN void asyncio_error_clear(void);

/* Python's traceback.format_exception_only(e): "ValueError: bad input",
 * or the type alone when the message is empty ("KeyboardInterrupt"), as
 * Python prints an exception.  Writes at most cap bytes to buf, always
 * NUL-terminated when cap > 0, and returns the length the whole text
 * needs (as snprintf).  err NULL gives "" (0). */
ASYNCIO_EXTERN size_t asyncio_error_format(const asyncio_error_t *err, char *buf, size_t cap);

/* Python's __context__: the error that was propagating (raised and not
 * caught) when err was raised, or NULL.  Borrowed from err.  The context
 * stays with an error while it propagates (a task's exception keeps it);
 * an error asyncio_catch returns no longer has one (its context was raised
 * again). */
ASYNCIO_EXTERN const asyncio_error_t *asyncio_error_context(const asyncio_error_t *err);

/* `raise type(fmt % ...)`.  A built-in name gets its code ("ValueError" ->
 * ASYNCIO_EVALUE, "CancelledError" -> ASYNCIO_ECANCELLED, ...); any other
 * name gets ASYNCIO_EEXCEPTION.  type NULL means "Exception".  An error
 * already raised becomes its context (see the rules above).  Always
 * returns NULL, so `return asyncio_raise(...)` works in a coroutine. */
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
 * (left raised; *result is then NULL, as for every failure of the call).  An error already raised before the call is set aside
 * while fn runs (fn starts with a clean indicator, as a new coroutine
 * would): it is raised again if fn succeeds, and becomes the context of
 * fn's error if fn fails, so cleanup code may use asyncio_call too.
 * Raises RuntimeError outside a task, ValueError ("fn is NULL"). */
ASYNCIO_EXTERN int asyncio_call(asyncio_coro_fn fn, void *arg, void **result);

#endif /* CASYNCIO_ERROR_H */
