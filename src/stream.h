/*
 * Streams on any uv_stream_t: what other areas (subprocess pipes) and the
 * fuzzer use of stream.c.  Nothing here is API.
 *
 * Entry points for process.c:
 *   asyncio__stream_pipe_new(loop, &pipe)  a stream over a uv_pipe_t that
 *       is initialised (uv_pipe_init) but not open: hand `pipe` to uv_spawn
 *       as a UV_CREATE_PIPE container, then
 *   asyncio__stream_pipe_start(stream, readable)  once the spawn succeeded
 *       (readable: read into the StreamReader buffer, as Python's
 *       subprocess stdout/stderr; false for stdin), or asyncio_stream_free
 *       if it failed.
 * The stream is then an ordinary asyncio_stream_t owned by the caller.
 *
 * For the fuzzer and tests: a StreamReader without a transport fed by
 * hand (Python's StreamReader() with feed_data/feed_eof).
 */
#ifndef CASYNCIO_STREAM_H
#define CASYNCIO_STREAM_H

#include "internal.h"

/* A stream over a fresh uv_pipe_t of loop (see above).  New; NULL and
 * MemoryError (or the libuv error of uv_pipe_init) on failure. */
asyncio_stream_t *asyncio__stream_pipe_new(asyncio_loop_t *loop, uv_pipe_t **pipe);

/* The pipe is open (the spawn succeeded): from now on the stream works;
 * with readable it starts reading.  Returns 0 or a raised libuv error. */
int asyncio__stream_pipe_start(asyncio_stream_t *stream, bool readable);

/* A stream with no transport: data comes only from feed_data/feed_eof.
 * limit 0: the default.  New (asyncio_stream_free); NULL and MemoryError. */
asyncio_stream_t *asyncio__stream_reader_new(asyncio_loop_t *loop, size_t limit);

/* reader.feed_data(data) / feed_eof(): append to the buffer / mark EOF and
 * wake the reader.  feed_data returns ASYNCIO_ENOMEM (raised) when the
 * buffer cannot grow. */
int asyncio__stream_feed_data(asyncio_stream_t *stream, const void *data, size_t len);
void asyncio__stream_feed_eof(asyncio_stream_t *stream);

/* Bytes buffered in the reader (tests of backpressure). */
size_t asyncio__stream_buffered(asyncio_stream_t *stream);

#endif /* CASYNCIO_STREAM_H */
