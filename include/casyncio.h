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
 *             or NULL for functions returning pointers, and raises its own
 *             error on top of any error still raised (which comes back
 *             when the newer one is caught: section 1).  A call that
 *             succeeds never touches the indicator.
 *   New ref   the caller owns one reference and must asyncio_decref() it.
 *   Borrowed  the pointer is valid as long as the object it came from.
 *   Thread-safe  may be called from any thread; everything else must be
 *             called on the thread running the loop concerned.
 *
 * Out-parameters.  Every out-parameter may be NULL when the caller does
 * not want it.  A call that fails sets every out-parameter it was given
 * to NULL, 0 or false, whatever failed and however early, so a cleanup
 * path may free what a failed constructor returned:
 *
 *     asyncio_file_t *f;
 *     if (asyncio_file_open(path, "r", &f) < 0)
 *         goto end;              // f is NULL here
 *     ...
 *   end:
 *     asyncio_file_close(f);     // every _free and _close accepts NULL
 *
 * Bytes.  A call that stores bytes in the caller's buffer (buf, cap)
 * NUL-terminates them when there is room: after n bytes, buf[n] is '\0'
 * if n < cap.  The line-oriented reads (readline, readuntil) keep that
 * room: they store at most cap - 1 bytes, so what they return is always a
 * C string (n excludes the NUL).  Memory the library allocates for bytes
 * it returns (read_all, file_read_all, communicate, HTTP bodies) always
 * has a NUL after its length.  The bytes themselves may contain NULs:
 * lengths, not strlen, say how many there are.
 *
 * Messages.  An error's message reads as Python's would for the same
 * failure ("[Errno 2] No such file or directory: '/nonexistent'",
 * "Lock is not acquired."); a bad argument's message names the argument
 * ("buf is NULL", "timeout must not be NaN").  Messages never name the C
 * function that failed: the type, the code and the text say what
 * happened.
 *
 * Handles.  Every object the caller frees or closes (locks, events,
 * conditions, semaphores, barriers, queues, timeout scopes, task
 * groups, as_completed iterators, HTTP sessions and streams, streams,
 * servers, transports, datagram transports, files, processes,
 * concurrent futures, contexts, context variables and their tokens) is
 * given out as a handle, not an address: a handle names its object until
 * the object is freed, and never again.  A
 * call with a freed handle (a double free, a use after free) is refused
 * with the error its function documents for a dead object (ValueError
 * "not a live lock (freed, or never one)"; RuntimeError for HTTP
 * sessions, timeout scopes and task groups) without touching freed
 * memory, and it never reaches a newer object, even one that reuses the
 * memory: a handle carries a 32-bit generation.  Checking one costs a
 * table lookup.  Loops and executors are checked through a registry of
 * live ones.  Futures and tasks are reference counted instead: a future
 * used after its last reference went is undefined, as in CPython's C
 * API.
 */
#ifndef CASYNCIO_H
#define CASYNCIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Opaque types, all of them here so that every area header can name
 * those of another (a process hands out streams).  Handles and
 * pointers to these are never dereferenced by the caller. */
typedef struct asyncio_loop asyncio_loop_t;
typedef struct asyncio_future asyncio_future_t;
typedef struct asyncio_as_completed asyncio_as_completed_t;
typedef struct asyncio_timeout asyncio_timeout_t;
typedef struct asyncio_taskgroup asyncio_taskgroup_t;
typedef struct asyncio_lock asyncio_lock_t;
typedef struct asyncio_event asyncio_event_t;
typedef struct asyncio_condition asyncio_condition_t;
typedef struct asyncio_semaphore asyncio_semaphore_t;
typedef struct asyncio_barrier asyncio_barrier_t;
typedef struct asyncio_queue asyncio_queue_t;
typedef struct asyncio_executor asyncio_executor_t;
typedef struct asyncio_cfuture asyncio_cfuture_t;
typedef struct asyncio_http_session asyncio_http_session_t;
typedef struct asyncio_http_stream asyncio_http_stream_t;
typedef struct asyncio_stream asyncio_stream_t;
typedef struct asyncio_transport asyncio_transport_t;
typedef struct asyncio_datagram_transport asyncio_datagram_transport_t;
typedef struct asyncio_server asyncio_server_t;
typedef struct asyncio_ssl_context asyncio_ssl_context_t;
typedef struct asyncio_file asyncio_file_t;
typedef struct asyncio_process asyncio_process_t;
typedef struct asyncio_context asyncio_context_t;
typedef struct asyncio_contextvar asyncio_contextvar_t;
typedef struct asyncio_contextvar_token asyncio_contextvar_token_t;
struct uv_loop_s;

/* The specification, one area per header, in the order of its sections. */
#include "casyncio/error.h"
#include "casyncio/core.h"
#include "casyncio/combinators.h"
#include "casyncio/sync.h"
#include "casyncio/threads.h"
#include "casyncio/http.h"
#include "casyncio/net.h"
#include "casyncio/os.h"

#ifdef __cplusplus
}
#endif
#endif /* CASYNCIO_H */
