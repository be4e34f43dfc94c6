/*
 * Streams: asyncio's StreamReader and StreamWriter in one object, a
 * protocol of a transport (transport.c) embedded in the same allocation.
 *
 * The reader's buffer is [buf + start, buf + start + len); consuming moves
 * start, appending compacts first.  Reading pauses the transport above
 * twice the limit and resumes it at or below the limit, as Python does.
 * One task at a time may wait for data: it waits on a private future that
 * data_received, eof_received and connection_lost finish directly.
 *
 * The caller holds the stream's handle (net.h).  It is retired when the
 * owner lets go: asyncio_stream_free, or the server when the handler's
 * task ends.  A handle that is no longer live names a closed writer, as a
 * Python StreamWriter kept after its connection ended is one: the writer's
 * calls drop their data or say the connection is lost (see "a stream that
 * is gone" below); the others refuse it (ValueError).  Tasks still inside
 * a call when that happens go on with the memory (busy), never with the
 * handle.
 */
#define _GNU_SOURCE /* memmem */
#include "net/net.h"

#include <stdio.h>
#include <string.h>

/* A buffer this big or smaller is kept once emptied. */
#define KEEP_BUFFER ((size_t)16 * 1024)

typedef struct asyncio__stream stream_t;

struct asyncio__stream {
    void *handle; /* what the caller holds (handle.h); retired when the owner lets go */
    bool has_transport;
    bool eof;
    bool paused;       /* reading paused by the reader's backpressure */
    bool write_paused; /* the transport said pause_writing */
    bool conn_lost;    /* connection_lost happened */
    bool server_owned; /* a server's handler gets it and the server frees it */
    bool gone;         /* the transport went while busy: free on leaving */
    unsigned busy;     /* calls in progress (enter .. leave) */
    char *buf;
    size_t start, len, cap;
    size_t limit;
    asyncio_loop_t *loop;
    asyncio__exc_t *exc;           /* the reader's exception */
    asyncio_future_t *read_waiter; /* a reader waiting for data */
    asyncio__waitq_t drainers;     /* tasks in drain */
    asyncio__waitq_t closers;      /* tasks in wait_closed */
    asyncio_future_t *task;        /* the handler's task (servers) */
    asyncio_stream_handler_fn handler;
    void *handler_arg;
    asyncio__transport_t t; /* unused (no handle) without a transport */
};

/* A live stream, else NULL with ValueError raised ("the stream is NULL",
 * "not a live stream (freed, or never one)"). */
static stream_t *checked(asyncio_stream_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_STREAM, "stream");
}

/* A live stream, else NULL (nothing raised). */
static stream_t *found(asyncio_stream_t *handle)
{
    return asyncio__handle_get(handle, ASYNCIO__H_STREAM);
}

static void wake(asyncio_future_t **w)
{
    asyncio_future_t *f = *w;
    if (f && f->state == ASYNCIO__PENDING && !f->loop->closed)
        asyncio__future_finish(f, NULL, NULL);
}

/* ------------------------------------------------------------ protocol */

static int append(stream_t *s, const char *data, size_t n)
{
    /* Room for len + n with the doubling below never wrapping around. */
    if (n > SIZE_MAX / 4 - s->len)
        return ASYNCIO_ENOMEM;
    if (s->start + s->len + n > s->cap) {
        if (s->start) {
            memmove(s->buf, s->buf + s->start, s->len);
            s->start = 0;
        }
        if (s->len + n > s->cap) {
            size_t cap = s->cap ? s->cap : 1024;
            while (cap < s->len + n)
                cap *= 2;
            char *p = asyncio__realloc(s->buf, cap);
            if (!p)
                return ASYNCIO_ENOMEM;
            s->buf = p;
            s->cap = cap;
        }
    }
    memcpy(s->buf + s->start + s->len, data, n);
    s->len += n;
    return 0;
}

/* The protocol's callbacks get the transport's handle, which is retired
 * once the stream's owner let go: they work on user, the stream. */
static void on_data(asyncio_transport_t *unused, const char *data, size_t n, void *user)
{
    (void)unused;
    stream_t *s = user;
    if (append(s, data, n)) {
        asyncio__transport_force_close(
            &s->t, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "stream buffer cannot grow"));
        return;
    }
    wake(&s->read_waiter);
    if (!s->paused && s->len > 2 * s->limit) {
        s->paused = true;
        asyncio__transport_pause_reading(&s->t);
    }
}

static bool on_eof(asyncio_transport_t *unused, void *user)
{
    (void)unused;
    stream_t *s = user;
    s->eof = true;
    wake(&s->read_waiter);
    return true; /* half-closed: the writer goes on */
}

static void on_lost(asyncio_transport_t *unused, const asyncio_error_t *exc, void *user)
{
    (void)unused;
    stream_t *s = user;
    s->conn_lost = true;
    s->eof = true;
    if (exc && !s->exc)
        s->exc = asyncio__exc_dup((const asyncio__exc_t *)exc);
    wake(&s->read_waiter);
    asyncio__transport_wake_all(&s->drainers);
    asyncio__transport_wake_all(&s->closers);
}

static void on_pause(asyncio_transport_t *unused, void *user)
{
    (void)unused;
    ((stream_t *)user)->write_paused = true;
}

static void on_resume(asyncio_transport_t *unused, void *user)
{
    (void)unused;
    stream_t *s = user;
    s->write_paused = false;
    asyncio__transport_wake_all(&s->drainers);
}

static const asyncio_protocol_t stream_protocol = {
    .data_received = on_data,
    .eof_received = on_eof,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
};

/* ------------------------------------------------------------ life */

static void stream_free_memory(stream_t *s)
{
    asyncio__handle_retire(s->handle); /* the owner's release retired it already */
    /* A handler task that never finished (the loop closed). */
    asyncio_decref(s->task);
    asyncio__exc_free(s->exc);
    asyncio_decref(s->read_waiter);
    asyncio__free(s->buf);
    asyncio__free(s);
}

/* The transport's last hold went.  A server frees its stream when the
 * handler returns, but other tasks the handler gave it to may still be in
 * a call that suspended (read, drain, wait_closed): they were woken by
 * connection_lost and the memory goes when the last of them returns.  At
 * loop close every task has been unwound before the transports close. */
static void transport_gone(asyncio__transport_t *t)
{
    stream_t *s = asyncio__container_of(t, stream_t, t);
    if (s->busy) {
        s->gone = true;
        return;
    }
    stream_free_memory(s);
}

/* A stream with its handle, no transport yet; NULL and MemoryError. */
static stream_t *stream_new(asyncio_loop_t *loop, size_t limit)
{
    stream_t *s = asyncio__calloc(1, sizeof *s);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a stream");
        return NULL;
    }
    if (!asyncio__handle_give(s, &s->handle, ASYNCIO__H_STREAM))
        return NULL;
    s->loop = loop;
    asyncio__waitq_init(&s->drainers);
    asyncio__waitq_init(&s->closers);
    /* Twice the limit is the pause threshold: kept from wrapping (a
     * quarter of the address space is no limit anyway). */
    s->limit = !limit ? ASYNCIO_STREAM_LIMIT : limit > SIZE_MAX / 4 ? SIZE_MAX / 4 : limit;
    return s;
}

asyncio__stream_t *asyncio__stream_alloc(asyncio_loop_t *loop, int kind, size_t limit)
{
    stream_t *s = stream_new(loop, limit);
    if (!s)
        return NULL;
    if (asyncio__transport_init(&s->t, loop, kind, &stream_protocol, s, transport_gone)) {
        asyncio__handle_retire(s->handle);
        asyncio__free(s);
        return NULL;
    }
    s->has_transport = true;
    s->t.of_stream = true;
    s->t.holds |= ASYNCIO__HOLD_OWNER;
    s->t.caller_owned = true; /* until a server takes it (asyncio__stream_serve) */
    return s;
}

asyncio__transport_t *asyncio__stream_transport(asyncio__stream_t *s)
{
    return &s->t;
}

asyncio__stream_t *asyncio__stream_of(asyncio__transport_t *t)
{
    return asyncio__container_of(t, stream_t, t);
}

static asyncio__transport_t *alloc_for_open(asyncio_loop_t *loop, int kind, void *ctx)
{
    const asyncio_stream_opts_t *opts = ctx;
    stream_t *s = asyncio__stream_alloc(loop, kind, opts ? opts->limit : 0);
    return s ? &s->t : NULL;
}

/* open_connection and open_unix_connection (path, or NULL for host:port;
 * is_unix says which was called). */
static int open_stream(bool is_unix, const char *host, int port, const char *path,
                       const asyncio_stream_opts_t *opts, asyncio_stream_t **stream)
{
    if (stream)
        *stream = NULL;
    bool use_sock = opts && opts->use_sock;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return asyncio__sock_consumed(opts, ASYNCIO_ERUNTIME);
    if (is_unix && !path && !use_sock)
        return asyncio__raise_code(ASYNCIO_EVALUE, "path is NULL");
    if (!stream)
        return asyncio__sock_consumed(opts,
                                      asyncio__raise_code(ASYNCIO_EVALUE, "stream is NULL"));
    asyncio__transport_t *t;
    int rc = use_sock ? asyncio__transport_adopt(task, host, port, path, is_unix, opts,
                                                 alloc_for_open, (void *)opts, &t)
                      : asyncio__transport_open(task, host, port, path, opts, alloc_for_open,
                                                (void *)opts, &t);
    if (rc)
        return rc;
    *stream = asyncio__stream_of(t)->handle;
    return 0;
}

int asyncio_open_connection(const char *host, int port, const asyncio_stream_opts_t *opts,
                            asyncio_stream_t **stream)
{
    return open_stream(false, host, port, NULL, opts, stream);
}

int asyncio_open_unix_connection(const char *path, const asyncio_stream_opts_t *opts,
                                 asyncio_stream_t **stream)
{
    return open_stream(true, NULL, 0, path, opts, stream);
}

/* The owner lets go: the handles go at once (the stream's, and its
 * transport's with it), the socket closes, and the memory goes with the
 * transport. */
static void release(stream_t *s)
{
    asyncio__handle_retire(s->handle);
    if (!s->has_transport) {
        stream_free_memory(s);
        return;
    }
    asyncio__handle_retire(s->t.handle);
    asyncio__transport_close(&s->t);
    asyncio__transport_release(&s->t, ASYNCIO__HOLD_OWNER);
}

void asyncio_stream_free(asyncio_stream_t *handle)
{
    if (!handle)
        return;
    stream_t *s = checked(handle);
    if (!s)
        return;
    if (s->server_owned) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the stream belongs to its server");
        return;
    }
    if (s->read_waiter || !asyncio__waitq_empty(&s->drainers) ||
        !asyncio__waitq_empty(&s->closers)) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "a task waits on the stream");
        return;
    }
    release(s);
}

/* ------------------------------------------------------------ servers */

static void *handler_main(void *arg)
{
    stream_t *s = arg;
    s->handler(s->handle, s->handler_arg);
    const asyncio_error_t *e = asyncio_error();
    if (e && e->code != ASYNCIO_ECANCELLED)
        asyncio__report(s->loop, "Unhandled exception in client_connected_cb", e, s->task);
    asyncio__errstate_clear(asyncio__errstate()); /* reported: the task itself succeeds */
    return NULL;
}

/* The handler's task is done (also when cancelled before it started, so
 * that its handler never ran): the connection goes, and the handle with
 * it, whoever else kept it (see "a stream that is gone"). */
static void handler_done(asyncio_future_t *task, void *arg)
{
    stream_t *s = arg;
    s->task = NULL;
    asyncio_decref(task);
    release(s);
}

bool asyncio__stream_serve(asyncio__stream_t *s, asyncio_stream_handler_fn handler, void *arg)
{
    s->server_owned = true;
    s->t.caller_owned = false;
    s->handler = handler;
    s->handler_arg = arg;
    asyncio__transport_made(&s->t);
    /* Python makes the task in connection_made: in a copy of the server's
     * context, which the transport keeps. */
    ASYNCIO__CALLBACK_IN(&s->t.ctx, s->task = asyncio_create_task(handler_main, s));
    if (!s->task || asyncio__add_callback(s->task, handler_done, s)) {
        if (s->task)
            asyncio_cancel(s->task, NULL); /* never runs: s goes now */
        asyncio_decref(s->task);
        s->task = NULL;
        release(s);
        return false;
    }
    return true;
}

void asyncio__stream_cancel_handler(asyncio__stream_t *s)
{
    if (s->task)
        asyncio_cancel(s->task, NULL);
}

/* ------------------------------------------------------------ reading */

static int raise_exc(stream_t *s)
{
    asyncio__raise_exc(asyncio__exc_dup(s->exc));
    return s->exc->pub.code;
}

static void consume(stream_t *s, size_t n)
{
    s->start += n;
    s->len -= n;
    if (s->len == 0) {
        s->start = 0;
        if (s->cap > KEEP_BUFFER) {
            asyncio__free(s->buf);
            s->buf = NULL;
            s->cap = 0;
        }
    }
    if (s->paused && s->len <= s->limit) {
        s->paused = false;
        if (s->has_transport)
            asyncio__transport_resume_reading(&s->t);
    }
}

/* Moves n buffered bytes into buf, NUL-terminated when cap has room. */
static void take(stream_t *s, char *buf, size_t n, size_t cap)
{
    if (n)
        memcpy(buf, s->buf + s->start, n);
    if (n < cap)
        buf[n] = '\0';
    consume(s, n);
}

/* What a task waits on in a stream, for task dumps. */
static void describe_reader(const void *obj, char *buf, size_t len)
{
    const stream_t *s = obj;
    snprintf(buf, len, "<StreamReader %p buffered=%zu limit=%zu%s%s%s>", s->handle, s->len,
             s->limit, s->eof ? " eof" : "", s->paused ? " paused" : "",
             s->has_transport ? "" : " (no transport)");
}

static void describe_writer(const void *obj, char *buf, size_t len)
{
    const stream_t *s = obj;
    snprintf(buf, len, "<StreamWriter %p%s%s>", s->handle, s->write_paused ? " paused writing" : "",
             s->conn_lost ? " connection lost" : "");
}

static const asyncio__wait_kind_t read_wait = {"StreamReader.read()", describe_reader};
static const asyncio__wait_kind_t readexactly_wait = {"StreamReader.readexactly()",
                                                      describe_reader};
static const asyncio__wait_kind_t readuntil_wait = {"StreamReader.readuntil()", describe_reader};
static const asyncio__wait_kind_t drain_wait = {"StreamWriter.drain()", describe_writer};
static const asyncio__wait_kind_t closed_wait = {"StreamWriter.wait_closed()", describe_writer};

/* _wait_for_data: suspends until data, EOF or an error arrives. */
static int wait_data(asyncio__task_t *task, stream_t *s, const char *name)
{
    if (s->read_waiter)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "%s() called while another coroutine is already waiting for "
                                   "incoming data",
                                   name);
    if (s->paused) {
        s->paused = false;
        if (s->has_transport)
            asyncio__transport_resume_reading(&s->t);
    }
    asyncio_future_t *f = asyncio__future_new(s->loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    s->read_waiter = f;
    asyncio__task_waits_for(task,
                            strcmp(name, "readexactly") == 0 ? &readexactly_wait
                            : strcmp(name, "readuntil") == 0 ? &readuntil_wait
                                                             : &read_wait,
                            s);
    int rc = asyncio__task_wait_private(task, f);
    s->read_waiter = NULL;
    asyncio_decref(f);
    if (rc)
        return rc;
    return s->exc ? raise_exc(s) : 0;
}

/* A call that may suspend holds the stream's memory until it returns:
 * the live stream, or NULL with the error raised (RuntimeError outside a
 * task, ValueError for a handle that is not a live stream). */
static stream_t *enter(asyncio_stream_t *handle, asyncio__task_t **task)
{
    if (!(*task = asyncio__task_or_raise()))
        return NULL;
    stream_t *s = checked(handle);
    if (s)
        s->busy++;
    return s;
}

static int leave(stream_t *s, int rc)
{
    if (--s->busy == 0 && s->gone)
        stream_free_memory(s);
    return rc;
}

static int read_in(asyncio__task_t *task, stream_t *s, char *buf, size_t n, size_t *nread)
{
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    if (s->exc)
        return raise_exc(s);
    if (!n)
        return 0;
    if (!s->len && !s->eof) {
        int rc = wait_data(task, s, "read");
        if (rc)
            return rc;
    }
    size_t got = s->len < n ? s->len : n;
    take(s, buf, got, n);
    if (nread)
        *nread = got;
    return 0;
}

static int read_all_in(asyncio__task_t *task, stream_t *s, char **data, size_t *len)
{
    if (!data)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    if (s->exc)
        return raise_exc(s);
    char *out = NULL;
    size_t olen = 0;
    for (;;) {
        if (!s->len && !s->eof) {
            int rc = wait_data(task, s, "read");
            if (rc) {
                asyncio__free(out);
                return rc;
            }
            continue;
        }
        if (!s->len)
            break;
        char *p = asyncio__realloc(out, olen + s->len + 1);
        if (!p) {
            asyncio__free(out);
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %zu bytes", olen + s->len);
        }
        out = p;
        memcpy(out + olen, s->buf + s->start, s->len);
        olen += s->len;
        consume(s, s->len);
    }
    if (!out && !(out = asyncio__malloc(1)))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for 0 bytes");
    out[olen] = '\0';
    *data = out;
    if (len)
        *len = olen;
    return 0;
}

/* IncompleteReadError for got bytes of `expected`; its detail is got
 * (Python's len(e.partial): the bytes themselves are in the caller's
 * buffer). */
static int incomplete(size_t got, const char *expected)
{
    int rc = asyncio__raise_code(ASYNCIO_EINCOMPLETEREAD,
                                 "%zu bytes read on a total of %s expected bytes", got, expected);
    asyncio__errstate()->raised->pub.detail = (int)(got > INT32_MAX ? INT32_MAX : got);
    return rc;
}

static int readexactly_in(asyncio__task_t *task, stream_t *s, char *buf, size_t n, size_t *nread)
{
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    if (s->exc)
        return raise_exc(s);
    while (s->len < n) {
        if (s->eof) {
            size_t got = s->len;
            take(s, buf, got, n);
            char expected[32];
            snprintf(expected, sizeof expected, "%zu", n);
            return incomplete(got, expected);
        }
        int rc = wait_data(task, s, "readexactly");
        if (rc)
            return rc;
    }
    if (n)
        take(s, buf, n, n);
    if (nread)
        *nread = n;
    return 0;
}

/* readuntil's search: the chunk (separator included) goes into buf,
 * NUL-terminated, so it is at most cap - 1 bytes; *consumed is the
 * LimitOverrunError's `consumed`.  cap > seplen. */
static int readuntil(asyncio__task_t *task, stream_t *s, const char *sep, size_t seplen, char *buf,
                     size_t cap, size_t *len, size_t *consumed)
{
    size_t limit = cap - 1 - seplen < s->limit ? cap - 1 - seplen : s->limit;
    size_t offset = 0;
    size_t isep;
    if (s->exc)
        return raise_exc(s);
    for (;;) {
        /* Another task may have consumed what was searched while this
         * one waited: the search then starts over. */
        if (offset > s->len)
            offset = 0;
        if (s->len - offset >= seplen) {
            const char *base = s->buf + s->start;
            const char *hit = memmem(base + offset, s->len - offset, sep, seplen);
            if (hit) {
                isep = (size_t)(hit - base);
                break;
            }
            offset = s->len + 1 - seplen;
            if (offset > limit) {
                *consumed = offset;
                return asyncio__raise_code(ASYNCIO_ELIMITOVERRUN,
                                           "Separator is not found, and chunk exceed the limit");
            }
        }
        if (s->eof) {
            /* Fits: the search above raised for more than limit +
             * seplen - 1 bytes. */
            size_t got = s->len;
            take(s, buf, got, cap);
            *len = got;
            return incomplete(got, "None");
        }
        int rc = wait_data(task, s, "readuntil");
        if (rc)
            return rc;
    }
    if (isep > limit) {
        *consumed = isep;
        return asyncio__raise_code(ASYNCIO_ELIMITOVERRUN,
                                   "Separator is found, but chunk is longer than limit");
    }
    size_t n = isep + seplen;
    take(s, buf, n, cap);
    *len = n;
    return 0;
}

static int readuntil_in(asyncio__task_t *task, stream_t *s, const void *sep, size_t seplen,
                        char *buf, size_t cap, size_t *len)
{
    if (!sep || !seplen)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Separator should be at least one-byte string");
    if (!buf)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    if (cap == 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cap is 0");
    if (cap <= seplen)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "cap %zu leaves no room for the separator and the NUL", cap);
    size_t got = 0, consumed = 0;
    int rc = readuntil(task, s, sep, seplen, buf, cap, &got, &consumed);
    if (rc == ASYNCIO_ELIMITOVERRUN)
        asyncio__errstate()->raised->pub.detail =
            (int)(consumed > INT32_MAX ? INT32_MAX : consumed);
    if (rc == 0 && len)
        *len = got;
    return rc;
}

static int readline_in(asyncio__task_t *task, stream_t *s, char *buf, size_t cap, size_t *len)
{
    if (!buf)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    if (cap == 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cap is 0");
    if (cap == 1)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cap 1 leaves no room for a line and the NUL");
    size_t got = 0, consumed = 0;
    int rc = readuntil(task, s, "\n", 1, buf, cap, &got, &consumed);
    if (rc == ASYNCIO_EINCOMPLETEREAD) {
        asyncio_error_clear();
        rc = 0;
    } else if (rc == ASYNCIO_ELIMITOVERRUN) {
        /* Python drops the over-long line (or everything buffered). */
        if (consumed < s->len && s->buf[s->start + consumed] == '\n')
            consume(s, consumed + 1);
        else
            consume(s, s->len);
        asyncio__exc_t *e = asyncio__take_raised();
        asyncio__raise_code(ASYNCIO_EVALUE, "%s", e->pub.message);
        asyncio__exc_free(e);
        return ASYNCIO_EVALUE;
    }
    if (rc == 0 && len)
        *len = got;
    return rc;
}

bool asyncio_stream_at_eof(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    return s && s->eof && s->len == 0;
}

/* ------------------------------------------------------------ writing */

/*
 * A stream that is gone.  A Python StreamWriter outlives its connection:
 * a handler that kept another client's writer after that client left
 * (the chat server's broadcast) holds a closed writer, whose write drops
 * the data, whose drain raises ConnectionResetError, whose close and
 * write_eof do nothing.  A handle that is no longer live (its stream freed
 * by its owner: the server when the handler returned, or the caller) is
 * that closed writer: writer() returns GONE for it, and the writer's calls
 * answer as Python's on a writer whose connection ended.  The reader's
 * calls, and free, refuse it (ValueError).
 */
enum { GONE = 1 };

/* 0 and *out for a live stream, GONE, or ValueError raised for NULL;
 * with transport, RuntimeError raised for a live stream without one. */
static int writer(asyncio_stream_t *handle, bool transport, stream_t **out)
{
    stream_t *s = *out = found(handle);
    if (s && transport && !s->has_transport)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the stream has no transport");
    if (s)
        return 0;
    if (handle)
        return GONE;
    asyncio__handle_refused(handle, "stream");
    return ASYNCIO_EVALUE;
}

/* A live stream whose writer works: NULL with the error raised for a
 * stream that is not live, or has no transport (a hand-fed reader). */
static stream_t *checked_writer(asyncio_stream_t *handle)
{
    stream_t *s = checked(handle);
    if (s && !s->has_transport) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the stream has no transport");
        return NULL;
    }
    return s;
}

static int writelines(asyncio_stream_t *handle, const void *const *data, const size_t *lens,
                      size_t n)
{
    stream_t *s;
    size_t total;
    int rc = writer(handle, true, &s);
    if (rc == GONE)
        return asyncio__transport_check_data(data, lens, n, &total);
    return rc ? rc : asyncio__transport_writelines(&s->t, data, lens, n);
}

int asyncio_stream_write(asyncio_stream_t *handle, const void *data, size_t len)
{
    return writelines(handle, &data, &len, 1);
}

int asyncio_stream_writelines(asyncio_stream_t *handle, const void *const *data, const size_t *lens,
                              size_t n)
{
    return writelines(handle, data, lens, n);
}

static int drain_in(asyncio__task_t *task, stream_t *s)
{
    if (!s->has_transport)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the stream has no transport");
    if (s->exc)
        return raise_exc(s);
    if (asyncio__transport_closing(&s->t) && !s->conn_lost) {
        /* Python yields once so that connection_lost, already scheduled,
         * comes first.  Here it comes with the handle's close callback:
         * once uv_close was called, wait for it (drainers are woken by
         * connection_lost); while writes still flush, yield once. */
        int rc;
        if (asyncio__transport_handle_closed(&s->t)) {
            asyncio__task_waits_for(task, &drain_wait, s);
            rc = asyncio__transport_wait(task, &s->drainers);
        } else {
            rc = asyncio_sleep(0);
        }
        if (rc)
            return rc;
        if (s->exc)
            return raise_exc(s);
    }
    if (s->conn_lost)
        return asyncio__raise_code(UV_ECONNRESET, "Connection lost");
    if (!s->write_paused)
        return 0;
    asyncio__task_waits_for(task, &drain_wait, s);
    int rc = asyncio__transport_wait(task, &s->drainers);
    if (rc)
        return rc;
    if (s->conn_lost) {
        if (s->exc)
            return raise_exc(s);
        return asyncio__raise_code(UV_ECONNRESET, "Connection lost");
    }
    return 0;
}

int asyncio_stream_write_eof(asyncio_stream_t *handle)
{
    stream_t *s;
    int rc = writer(handle, true, &s);
    if (rc)
        return rc == GONE ? 0 : rc;
    return asyncio__transport_write_eof(&s->t);
}

bool asyncio_stream_can_write_eof(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    return s && s->has_transport;
}

void asyncio_stream_close(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    if (s && s->has_transport)
        asyncio__transport_close(&s->t);
}

bool asyncio_stream_is_closing(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    /* user_closed: see asyncio_transport_is_closing (TLS's shutdown). */
    return !s || !s->has_transport || asyncio__transport_closing(&s->t) || s->t.user_closed;
}

static int wait_closed_in(asyncio__task_t *task, stream_t *s)
{
    if (s->has_transport && !s->conn_lost) {
        asyncio__task_waits_for(task, &closed_wait, s);
        int rc = asyncio__transport_wait(task, &s->closers);
        if (rc)
            return rc;
    }
    return s->exc ? raise_exc(s) : 0;
}

static int name_of(asyncio_stream_t *handle, asyncio_sockaddr_t *addr, bool peer)
{
    if (addr)
        memset(addr, 0, sizeof *addr);
    stream_t *s = checked_writer(handle);
    if (!s)
        return asyncio_error()->code;
    return asyncio__transport_name(&s->t, addr, peer);
}

int asyncio_stream_peername(asyncio_stream_t *handle, asyncio_sockaddr_t *addr)
{
    return name_of(handle, addr, true);
}

int asyncio_stream_sockname(asyncio_stream_t *handle, asyncio_sockaddr_t *addr)
{
    return name_of(handle, addr, false);
}

asyncio_transport_t *asyncio_stream_transport(asyncio_stream_t *handle)
{
    stream_t *s = checked_writer(handle);
    return s ? s->t.handle : NULL;
}

void asyncio_buffer_free(void *buf)
{
    asyncio__free(buf);
}

/* ------------------------------------------------------------ the calls that suspend */

/* Each holds the stream (enter .. leave): see transport_gone.  Their
 * out-parameters are cleared first, so that every failure leaves them
 * 0 / NULL, and a buffer they fill is a C string as soon as there is
 * room (its first byte is NUL until bytes come): clear_out. */
static void clear_out(size_t *count, void *buf, size_t cap)
{
    if (count)
        *count = 0;
    if (buf && cap)
        ((char *)buf)[0] = '\0';
}

int asyncio_stream_read(asyncio_stream_t *handle, void *buf, size_t n, size_t *nread)
{
    clear_out(nread, buf, n);
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, read_in(task, s, buf, n, nread));
}

int asyncio_stream_read_all(asyncio_stream_t *handle, char **data, size_t *len)
{
    if (data)
        *data = NULL;
    clear_out(len, NULL, 0);
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, read_all_in(task, s, data, len));
}

int asyncio_stream_readexactly(asyncio_stream_t *handle, void *buf, size_t n, size_t *nread)
{
    clear_out(nread, buf, n);
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, readexactly_in(task, s, buf, n, nread));
}

int asyncio_stream_readuntil(asyncio_stream_t *handle, const void *sep, size_t seplen, void *buf,
                             size_t cap, size_t *len)
{
    clear_out(len, buf, cap);
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, readuntil_in(task, s, sep, seplen, buf, cap, len));
}

int asyncio_stream_readline(asyncio_stream_t *handle, void *buf, size_t cap, size_t *len)
{
    clear_out(len, buf, cap);
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, readline_in(task, s, buf, cap, len));
}

int asyncio_stream_drain(asyncio_stream_t *handle)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    stream_t *s;
    int rc = writer(handle, false, &s);
    if (rc)
        return rc == GONE ? asyncio__raise_code(UV_ECONNRESET, "Connection lost") : rc;
    s->busy++;
    return leave(s, drain_in(task, s));
}

int asyncio_stream_wait_closed(asyncio_stream_t *handle)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    stream_t *s;
    int rc = writer(handle, false, &s);
    if (rc)
        return rc == GONE ? 0 : rc;
    s->busy++;
    return leave(s, wait_closed_in(task, s));
}

/* writer.start_tls (3.11): after a drain, the same transport goes on over
 * TLS; a server's stream takes the server side.  What the peer sent that
 * the reader has not consumed is ciphertext already (a ClientHello sent
 * right after STARTTLS): the TLS layer gets it first, where Python's
 * reader would keep it as plaintext and the handshake would stall. */
static int start_tls_in(asyncio__task_t *task, stream_t *s, asyncio_ssl_context_t *ctx,
                        const asyncio_stream_opts_t *opts)
{
    if (!s->has_transport)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the stream has no transport");
    if (!ctx)
        return asyncio__raise_code(ASYNCIO_EVALUE, "the SSL context is NULL");
    if (opts && opts->ssl && opts->ssl != ctx)
        return asyncio__raise_code(ASYNCIO_EVALUE, "opts.ssl is not the context given");
    if (s->t.tls)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the transport already speaks TLS");
    if (s->read_waiter)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "start_tls() called while another coroutine "
                                                     "is waiting for incoming data");
    asyncio__ssl_context_t *ssl;
    int rc = asyncio__tls_check(ctx, opts, s->server_owned,
                                "check_hostname requires server_hostname", &ssl);
    if (rc)
        return rc;
    ssl = asyncio__ssl_context_ref(ssl); /* the caller may let go while we drain */
    if ((rc = drain_in(task, s)))
        goto out;

    /* The unconsumed bytes leave the reader for the TLS layer. */
    char *early = s->buf;
    size_t early_start = s->start, early_len = s->len;
    s->buf = NULL;
    s->start = s->len = s->cap = 0;
    if (s->paused) {
        s->paused = false;
        asyncio__transport_resume_reading(&s->t);
    }
    rc = asyncio__transport_start_tls(task, &s->t, ssl, s->server_owned, opts,
                                      early ? early + early_start : NULL, early_len);
    asyncio__free(early);
out:
    asyncio__ssl_context_unref(ssl);
    return rc;
}

int asyncio_stream_start_tls(asyncio_stream_t *handle, asyncio_ssl_context_t *ctx,
                             const asyncio_stream_opts_t *opts)
{
    asyncio__task_t *task;
    stream_t *s = enter(handle, &task);
    if (!s)
        return asyncio_error()->code;
    return leave(s, start_tls_in(task, s, ctx, opts));
}

/* ------------------------------------------------------------ private entry points */

asyncio_stream_t *asyncio__stream_pipe_new(asyncio_loop_t *loop, uv_pipe_t **pipe)
{
    if (pipe)
        *pipe = NULL;
    stream_t *s = asyncio__stream_alloc(loop, ASYNCIO__KIND_PIPE, 0);
    if (!s)
        return NULL;
    if (pipe)
        *pipe = &s->t.h.pipe;
    return s->handle;
}

int asyncio__stream_pipe_start(asyncio_stream_t *handle, bool readable)
{
    stream_t *s = checked_writer(handle);
    if (!s)
        return asyncio_error()->code;
    if (!readable)
        s->t.want_read = false;
    asyncio__transport_made(&s->t);
    return 0;
}

asyncio_stream_t *asyncio__stream_reader_new(asyncio_loop_t *loop, size_t limit)
{
    stream_t *s = stream_new(loop, limit);
    return s ? s->handle : NULL;
}

int asyncio__stream_feed_data(asyncio_stream_t *handle, const void *data, size_t len)
{
    stream_t *s = checked(handle);
    if (!s)
        return ASYNCIO_EVALUE;
    if (!len)
        return 0;
    if (append(s, data, len))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "stream buffer cannot grow");
    wake(&s->read_waiter);
    if (s->len > 2 * s->limit)
        s->paused = true;
    return 0;
}

void asyncio__stream_feed_eof(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    if (!s)
        return;
    s->eof = true;
    wake(&s->read_waiter);
}

size_t asyncio__stream_buffered(asyncio_stream_t *handle)
{
    stream_t *s = found(handle);
    return s ? s->len : 0;
}
