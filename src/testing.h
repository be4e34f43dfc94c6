/*
 * What the test suites and the fuzzer reach inside the library, in one
 * place: counters of live objects, a StreamReader fed by hand, pipe
 * streams made directly.  Nothing here is API; the library's own files
 * include it too, so that every declaration is checked against its
 * definition.  It needs only the public header (libuv's pipe type is
 * named by its struct tag).
 */
#ifndef CASYNCIO_TESTING_H
#define CASYNCIO_TESTING_H

#include <casyncio.h>

struct uv_pipe_s;

/* ---- core (core/handle.c, core/pool.c) */

/* Live handles of every type. */
long asyncio__handle_count(void);
/* Slabs of tasks and futures mapped in the process. */
long asyncio__slab_count(void);

/* ---- http (http/session.c, http/streaming.c) */

/* Easy handles and poll handles alive in every session. */
void asyncio__http_counts(long *easy, long *polls);
/* Bytes buffered in a streamed body and how often curl was paused. */
void asyncio__http_stream_stats(asyncio_http_stream_t *st, size_t *bytes, long *pauses);

/* ---- net (net/stream.c) */

/* A stream over a fresh uv_pipe_t of loop, initialised (uv_pipe_init) but
 * not open: hand *pipe to uv_spawn as a UV_CREATE_PIPE container, then
 * call asyncio__stream_pipe_start once the spawn succeeded, or
 * asyncio_stream_free if it failed.  New: the stream's handle, what the
 * public calls take; NULL (and *pipe NULL) with MemoryError or the libuv
 * error of uv_pipe_init on failure.  Subprocesses use it too. */
asyncio_stream_t *asyncio__stream_pipe_new(asyncio_loop_t *loop, struct uv_pipe_s **pipe);

/* The pipe is open: from now on the stream works; with readable it starts
 * reading (a child's stdout or stderr; false for its stdin).  Returns 0
 * or a raised libuv error. */
int asyncio__stream_pipe_start(asyncio_stream_t *stream, bool readable);

/* A stream with no transport: data comes only from feed_data/feed_eof
 * (Python's StreamReader() with feed_data/feed_eof).  limit 0: the
 * default.  New: a stream handle (asyncio_stream_free); NULL and
 * MemoryError.  The calls below take its handle: feed_data refuses one
 * that is not live (ValueError), feed_eof and buffered ignore it. */
asyncio_stream_t *asyncio__stream_reader_new(asyncio_loop_t *loop, size_t limit);

/* reader.feed_data(data) / feed_eof(): append to the buffer / mark EOF and
 * wake the reader.  feed_data returns ASYNCIO_ENOMEM (raised) when the
 * buffer cannot grow. */
int asyncio__stream_feed_data(asyncio_stream_t *stream, const void *data, size_t len);
void asyncio__stream_feed_eof(asyncio_stream_t *stream);

/* Bytes buffered in the reader (tests of backpressure). */
size_t asyncio__stream_buffered(asyncio_stream_t *stream);

/* ---- net (net/fdwatch.c) */

/* Descriptors loop watches (add_reader, add_writer, tasks' waits): its
 * open poll handles.  loop NULL: the running loop. */
long asyncio__fdwatch_count(asyncio_loop_t *loop);

#endif /* CASYNCIO_TESTING_H */
