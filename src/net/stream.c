/*
 * Streams: asyncio's StreamReader and StreamWriter in one object, a
 * protocol of a transport (transport.c) embedded in the same allocation.
 *
 * The reader's buffer is [buf + start, buf + start + len); consuming moves
 * start, appending compacts first.  Reading pauses the transport above
 * twice the limit and resumes it at or below the limit, as Python does.
 * One task at a time may wait for data: it waits on a private future that
 * data_received, eof_received and connection_lost finish directly.
 */
#define _GNU_SOURCE /* memmem */
#include "net/net.h"

#include <string.h>

/* A buffer this big or smaller is kept once emptied. */
#define KEEP_BUFFER ((size_t)16 * 1024)

struct asyncio_stream {
    uint32_t magic;
    bool has_transport;
    bool eof;
    bool paused;       /* reading paused by the reader's backpressure */
    bool write_paused; /* the transport said pause_writing */
    bool conn_lost;    /* connection_lost happened */
    bool server_owned; /* a server's handler gets it and the server frees it */
    bool freed;        /* the owner let go */
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
    asyncio_transport_t t; /* unused (magic 0) without a transport */
};

static bool check(asyncio_stream_t *s, const char *who)
{
    if (!s) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: stream is NULL", who);
        return false;
    }
    /* Freed by its owner (or its server) but not yet gone: the socket
     * still closes, or calls in progress still return. */
    if (s->magic != ASYNCIO__STREAM_MAGIC || s->freed) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: not a live stream", who);
        return false;
    }
    return true;
}

static void wake(asyncio_future_t **w)
{
    asyncio_future_t *f = *w;
    if (f && f->state == ASYNCIO__PENDING && !f->loop->closed)
        asyncio__future_finish(f, NULL, NULL);
}

/* ------------------------------------------------------------ protocol */

static int append(asyncio_stream_t *s, const char *data, size_t n)
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

static void on_data(asyncio_transport_t *t, const char *data, size_t n, void *user)
{
    asyncio_stream_t *s = user;
    if (append(s, data, n)) {
        asyncio__transport_force_close(
            t, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "stream buffer cannot grow"));
        return;
    }
    wake(&s->read_waiter);
    if (!s->paused && s->len > 2 * s->limit) {
        s->paused = true;
        asyncio_transport_pause_reading(t);
    }
}

static bool on_eof(asyncio_transport_t *t, void *user)
{
    (void)t;
    asyncio_stream_t *s = user;
    s->eof = true;
    wake(&s->read_waiter);
    return true; /* half-closed: the writer goes on */
}

static void on_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    asyncio_stream_t *s = user;
    s->conn_lost = true;
    s->eof = true;
    if (exc && !s->exc)
        s->exc = asyncio__exc_dup((const asyncio__exc_t *)exc);
    wake(&s->read_waiter);
    asyncio__transport_wake_all(&s->drainers);
    asyncio__transport_wake_all(&s->closers);
}

static void on_pause(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((asyncio_stream_t *)user)->write_paused = true;
}

static void on_resume(asyncio_transport_t *t, void *user)
{
    (void)t;
    asyncio_stream_t *s = user;
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

static void stream_free_memory(asyncio_stream_t *s)
{
    /* A handler task that never finished (the loop closed). */
    asyncio_decref(s->task);
    asyncio__exc_free(s->exc);
    asyncio_decref(s->read_waiter);
    asyncio__free(s->buf);
    s->magic = ASYNCIO__DEAD_MAGIC;
    asyncio__free(s);
}

/* The transport's last hold went.  A server frees its stream when the
 * handler returns, but other tasks the handler gave it to may still be in
 * a call that suspended (read, drain, wait_closed): they were woken by
 * connection_lost and the memory goes when the last of them returns.  At
 * loop close every task has been unwound before the transports close. */
static void transport_gone(asyncio_transport_t *t)
{
    asyncio_stream_t *s = asyncio__container_of(t, asyncio_stream_t, t);
    if (s->busy) {
        s->gone = true;
        return;
    }
    stream_free_memory(s);
}

static asyncio_stream_t *stream_new(asyncio_loop_t *loop, size_t limit)
{
    asyncio_stream_t *s = asyncio__calloc(1, sizeof *s);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "creating a stream");
        return NULL;
    }
    s->magic = ASYNCIO__STREAM_MAGIC;
    s->loop = loop;
    asyncio__waitq_init(&s->drainers);
    asyncio__waitq_init(&s->closers);
    /* Twice the limit is the pause threshold: kept from wrapping (a
     * quarter of the address space is no limit anyway). */
    s->limit = !limit ? ASYNCIO_STREAM_LIMIT : limit > SIZE_MAX / 4 ? SIZE_MAX / 4 : limit;
    return s;
}

asyncio_stream_t *asyncio__stream_alloc(asyncio_loop_t *loop, int kind, size_t limit)
{
    asyncio_stream_t *s = stream_new(loop, limit);
    if (!s)
        return NULL;
    if (asyncio__transport_init(&s->t, loop, kind, &stream_protocol, s, transport_gone)) {
        asyncio__free(s);
        return NULL;
    }
    s->has_transport = true;
    s->t.holds |= ASYNCIO__HOLD_OWNER;
    s->t.caller_owned = true; /* until a server takes it (asyncio__stream_serve) */
    return s;
}

asyncio_transport_t *asyncio__stream_get_transport(asyncio_stream_t *s)
{
    return &s->t;
}

asyncio_stream_t *asyncio__stream_of(asyncio_transport_t *t)
{
    return asyncio__container_of(t, asyncio_stream_t, t);
}

static asyncio_transport_t *alloc_for_open(asyncio_loop_t *loop, int kind, void *ctx)
{
    const asyncio_stream_opts_t *opts = ctx;
    asyncio_stream_t *s = asyncio__stream_alloc(loop, kind, opts ? opts->limit : 0);
    return s ? &s->t : NULL;
}

static int open_stream(const char *host, int port, const char *path,
                       const asyncio_stream_opts_t *opts, asyncio_stream_t **stream,
                       const char *who)
{
    if (!stream) {
        if (!asyncio__require_task(who))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: stream is NULL", who);
    }
    asyncio_transport_t *t;
    int rc = asyncio__transport_open(host, port, path, opts, alloc_for_open, (void *)opts, &t, who);
    if (rc)
        return rc;
    *stream = asyncio__container_of(t, asyncio_stream_t, t);
    return 0;
}

int asyncio_open_connection(const char *host, int port, const asyncio_stream_opts_t *opts,
                            asyncio_stream_t **stream)
{
    return open_stream(host, port, NULL, opts, stream, "asyncio_open_connection");
}

int asyncio_open_unix_connection(const char *path, const asyncio_stream_opts_t *opts,
                                 asyncio_stream_t **stream)
{
    if (!path) {
        if (!asyncio__require_task("asyncio_open_unix_connection"))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_open_unix_connection: path is NULL");
    }
    return open_stream(NULL, 0, path, opts, stream, "asyncio_open_unix_connection");
}

/* The owner lets go: closes, and the memory goes with the transport. */
static void release(asyncio_stream_t *s)
{
    s->freed = true;
    if (!s->has_transport) {
        stream_free_memory(s);
        return;
    }
    asyncio_transport_close(&s->t);
    asyncio__transport_release(&s->t, ASYNCIO__HOLD_OWNER);
}

void asyncio_stream_free(asyncio_stream_t *s)
{
    if (!s)
        return;
    if (!check(s, "asyncio_stream_free"))
        return;
    if (s->server_owned) {
        asyncio__raise_code(ASYNCIO_ERUNTIME,
                            "asyncio_stream_free: the stream belongs to its server");
        return;
    }
    if (s->read_waiter || !asyncio__waitq_empty(&s->drainers) ||
        !asyncio__waitq_empty(&s->closers)) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "asyncio_stream_free: a task waits on the stream");
        return;
    }
    release(s);
}

/* ------------------------------------------------------------ servers */

static void *handler_main(void *arg)
{
    asyncio_stream_t *s = arg;
    s->handler(s, s->handler_arg);
    const asyncio_error_t *e = asyncio_error();
    if (e && e->code != ASYNCIO_ECANCELLED)
        asyncio__report(s->loop, "Unhandled exception in client_connected_cb", e, s->task);
    asyncio__errstate_clear(asyncio__errstate()); /* reported: the task itself succeeds */
    return NULL;
}

/* The handler's task is done (also when cancelled before it started, so
 * that its handler never ran): the connection goes. */
static void handler_done(asyncio_future_t *task, void *arg)
{
    asyncio_stream_t *s = arg;
    s->task = NULL;
    asyncio_decref(task);
    release(s);
}

bool asyncio__stream_serve(asyncio_stream_t *s, asyncio_stream_handler_fn handler, void *arg)
{
    s->server_owned = true;
    s->t.caller_owned = false;
    s->handler = handler;
    s->handler_arg = arg;
    asyncio__transport_made(&s->t);
    s->task = asyncio_create_task(handler_main, s);
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

void asyncio__stream_cancel_handler(asyncio_stream_t *s)
{
    if (s->task)
        asyncio_cancel(s->task, NULL);
}

/* ------------------------------------------------------------ reading */

static int raise_exc(asyncio_stream_t *s)
{
    asyncio__raise_exc(asyncio__exc_dup(s->exc));
    return s->exc->pub.code;
}

static void consume(asyncio_stream_t *s, size_t n)
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
            asyncio_transport_resume_reading(&s->t);
    }
}

/* _wait_for_data: suspends until data, EOF or an error arrives. */
static int wait_data(asyncio__task_t *task, asyncio_stream_t *s, const char *who)
{
    if (s->read_waiter)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "%s() called while another coroutine is already waiting for "
                                   "incoming data",
                                   who);
    if (s->paused) {
        s->paused = false;
        if (s->has_transport)
            asyncio_transport_resume_reading(&s->t);
    }
    asyncio_future_t *f = asyncio__future_new(s->loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    s->read_waiter = f;
    int rc = asyncio__task_wait_private(task, f);
    s->read_waiter = NULL;
    asyncio_decref(f);
    if (rc)
        return rc;
    return s->exc ? raise_exc(s) : 0;
}

/* A call that may suspend holds the stream's memory until it returns. */
static asyncio__task_t *enter(asyncio_stream_t *s, const char *who)
{
    asyncio__task_t *task = asyncio__require_task(who);
    if (!task || !check(s, who))
        return NULL;
    s->busy++;
    return task;
}

static int leave(asyncio_stream_t *s, int rc)
{
    if (--s->busy == 0 && s->gone)
        stream_free_memory(s);
    return rc;
}

static int read_in(asyncio__task_t *task, asyncio_stream_t *s, void *buf, size_t n, size_t *nread)
{
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_read: buf is NULL");
    if (s->exc)
        return raise_exc(s);
    size_t got = 0;
    if (n) {
        if (!s->len && !s->eof) {
            int rc = wait_data(task, s, "read");
            if (rc)
                return rc;
        }
        got = s->len < n ? s->len : n;
        if (got) {
            memcpy(buf, s->buf + s->start, got);
            consume(s, got);
        }
    }
    if (nread)
        *nread = got;
    return 0;
}

static int read_all_in(asyncio__task_t *task, asyncio_stream_t *s, char **data, size_t *len)
{
    if (!data)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_read_all: data is NULL");
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
            return asyncio__raise_code(ASYNCIO_ENOMEM, "asyncio_stream_read_all");
        }
        out = p;
        memcpy(out + olen, s->buf + s->start, s->len);
        olen += s->len;
        consume(s, s->len);
    }
    if (!out && !(out = asyncio__malloc(1)))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "asyncio_stream_read_all");
    out[olen] = '\0';
    *data = out;
    if (len)
        *len = olen;
    return 0;
}

static int incomplete(size_t got, const char *expected)
{
    return asyncio__raise_code(ASYNCIO_EINCOMPLETEREAD,
                               "%zu bytes read on a total of %s expected bytes", got, expected);
}

static int readexactly_in(asyncio__task_t *task, asyncio_stream_t *s, void *buf, size_t n,
                          size_t *nread)
{
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_readexactly: buf is NULL");
    if (s->exc)
        return raise_exc(s);
    while (s->len < n) {
        if (s->eof) {
            size_t got = s->len;
            if (got)
                memcpy(buf, s->buf + s->start, got);
            consume(s, got);
            if (nread)
                *nread = got;
            char expected[32];
            snprintf(expected, sizeof expected, "%zu", n);
            return incomplete(got, expected);
        }
        int rc = wait_data(task, s, "readexactly");
        if (rc)
            return rc;
    }
    if (n)
        memcpy(buf, s->buf + s->start, n);
    consume(s, n);
    if (nread)
        *nread = n;
    return 0;
}

/* readuntil's search; *consumed is the LimitOverrunError's `consumed`. */
static int readuntil(asyncio__task_t *task, asyncio_stream_t *s, const char *sep, size_t seplen,
                     char *buf, size_t cap, size_t *len, size_t *consumed)
{
    size_t limit = cap - seplen < s->limit ? cap - seplen : s->limit;
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
            size_t got = s->len;
            if (got)
                memcpy(buf, s->buf + s->start, got);
            consume(s, got);
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
    memcpy(buf, s->buf + s->start, n);
    consume(s, n);
    *len = n;
    return 0;
}

static int readuntil_in(asyncio__task_t *task, asyncio_stream_t *s, const void *sep, size_t seplen,
                        void *buf, size_t cap, size_t *len)
{
    if (!sep || !seplen)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Separator should be at least one-byte string");
    if (!buf)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_readuntil: buf is NULL");
    if (cap < seplen)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "asyncio_stream_readuntil: cap %zu is below the separator's "
                                   "length",
                                   cap);
    size_t got = 0, consumed = 0;
    int rc = readuntil(task, s, sep, seplen, buf, cap, &got, &consumed);
    if (rc == ASYNCIO_ELIMITOVERRUN)
        asyncio__errstate()->raised->pub.detail =
            (int)(consumed > INT32_MAX ? INT32_MAX : consumed);
    if ((rc == 0 || rc == ASYNCIO_EINCOMPLETEREAD) && len)
        *len = got;
    return rc;
}

static int readline_in(asyncio__task_t *task, asyncio_stream_t *s, void *buf, size_t cap,
                       size_t *len)
{
    if (!buf)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_readline: buf is NULL");
    if (cap < 1)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_stream_readline: cap is 0");
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

bool asyncio_stream_at_eof(asyncio_stream_t *s)
{
    return s && s->magic == ASYNCIO__STREAM_MAGIC && s->eof && s->len == 0;
}

/* ------------------------------------------------------------ writing */

static bool check_writer(asyncio_stream_t *s, const char *who)
{
    if (!check(s, who))
        return false;
    if (!s->has_transport) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: the stream has no transport", who);
        return false;
    }
    return true;
}

int asyncio_stream_write(asyncio_stream_t *s, const void *data, size_t len)
{
    if (!check_writer(s, "asyncio_stream_write"))
        return asyncio_error()->code;
    return asyncio__transport_write2(&s->t, &data, &len, 1, "asyncio_stream_write");
}

int asyncio_stream_writelines(asyncio_stream_t *s, const void *const *data, const size_t *lens,
                              size_t n)
{
    if (!check_writer(s, "asyncio_stream_writelines"))
        return asyncio_error()->code;
    return asyncio_transport_writelines(&s->t, data, lens, n);
}

static int drain_in(asyncio__task_t *task, asyncio_stream_t *s)
{
    if (!check_writer(s, "asyncio_stream_drain"))
        return asyncio_error()->code;
    if (s->exc)
        return raise_exc(s);
    if (asyncio__transport_closing(&s->t) && !s->conn_lost) {
        /* Python yields once so that connection_lost, already scheduled,
         * comes first.  Here it comes with the handle's close callback:
         * once uv_close was called, wait for it (drainers are woken by
         * connection_lost); while writes still flush, yield once. */
        int rc = asyncio__transport_handle_closed(&s->t)
                     ? asyncio__transport_wait(task, &s->drainers)
                     : asyncio_sleep(0);
        if (rc)
            return rc;
        if (s->exc)
            return raise_exc(s);
    }
    if (s->conn_lost)
        return asyncio__raise_code(UV_ECONNRESET, "Connection lost");
    if (!s->write_paused)
        return 0;
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

int asyncio_stream_write_eof(asyncio_stream_t *s)
{
    if (!check_writer(s, "asyncio_stream_write_eof"))
        return asyncio_error()->code;
    return asyncio_transport_write_eof(&s->t);
}

bool asyncio_stream_can_write_eof(asyncio_stream_t *s)
{
    return s && s->magic == ASYNCIO__STREAM_MAGIC && s->has_transport;
}

void asyncio_stream_close(asyncio_stream_t *s)
{
    if (s && s->magic == ASYNCIO__STREAM_MAGIC && s->has_transport)
        asyncio_transport_close(&s->t);
}

bool asyncio_stream_is_closing(asyncio_stream_t *s)
{
    return !s || s->magic != ASYNCIO__STREAM_MAGIC || !s->has_transport ||
           asyncio__transport_closing(&s->t);
}

static int wait_closed_in(asyncio__task_t *task, asyncio_stream_t *s)
{
    if (s->has_transport && !s->conn_lost) {
        int rc = asyncio__transport_wait(task, &s->closers);
        if (rc)
            return rc;
    }
    return s->exc ? raise_exc(s) : 0;
}

int asyncio_stream_peername(asyncio_stream_t *s, asyncio_sockaddr_t *addr)
{
    if (!check_writer(s, "asyncio_stream_peername"))
        return asyncio_error()->code;
    return asyncio__transport_name(&s->t, addr, true, "asyncio_stream_peername");
}

int asyncio_stream_sockname(asyncio_stream_t *s, asyncio_sockaddr_t *addr)
{
    if (!check_writer(s, "asyncio_stream_sockname"))
        return asyncio_error()->code;
    return asyncio__transport_name(&s->t, addr, false, "asyncio_stream_sockname");
}

asyncio_transport_t *asyncio_stream_transport(asyncio_stream_t *s)
{
    if (!check_writer(s, "asyncio_stream_transport"))
        return NULL;
    return &s->t;
}

void asyncio_buffer_free(void *buf)
{
    asyncio__free(buf);
}

/* ------------------------------------------------------------ the calls that suspend */

/* Each holds the stream (enter .. leave): see transport_gone. */
int asyncio_stream_read(asyncio_stream_t *s, void *buf, size_t n, size_t *nread)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_read");
    if (!task)
        return asyncio_error()->code;
    return leave(s, read_in(task, s, buf, n, nread));
}

int asyncio_stream_read_all(asyncio_stream_t *s, char **data, size_t *len)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_read_all");
    if (!task)
        return asyncio_error()->code;
    return leave(s, read_all_in(task, s, data, len));
}

int asyncio_stream_readexactly(asyncio_stream_t *s, void *buf, size_t n, size_t *nread)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_readexactly");
    if (!task)
        return asyncio_error()->code;
    return leave(s, readexactly_in(task, s, buf, n, nread));
}

int asyncio_stream_readuntil(asyncio_stream_t *s, const void *sep, size_t seplen, void *buf,
                             size_t cap, size_t *len)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_readuntil");
    if (!task)
        return asyncio_error()->code;
    return leave(s, readuntil_in(task, s, sep, seplen, buf, cap, len));
}

int asyncio_stream_readline(asyncio_stream_t *s, void *buf, size_t cap, size_t *len)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_readline");
    if (!task)
        return asyncio_error()->code;
    return leave(s, readline_in(task, s, buf, cap, len));
}

int asyncio_stream_drain(asyncio_stream_t *s)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_drain");
    if (!task)
        return asyncio_error()->code;
    return leave(s, drain_in(task, s));
}

int asyncio_stream_wait_closed(asyncio_stream_t *s)
{
    asyncio__task_t *task = enter(s, "asyncio_stream_wait_closed");
    if (!task)
        return asyncio_error()->code;
    return leave(s, wait_closed_in(task, s));
}

/* ------------------------------------------------------------ private entry points */

asyncio_stream_t *asyncio__stream_pipe_new(asyncio_loop_t *loop, uv_pipe_t **pipe)
{
    asyncio_stream_t *s = asyncio__stream_alloc(loop, ASYNCIO__KIND_PIPE, 0);
    if (!s)
        return NULL;
    if (pipe)
        *pipe = &s->t.h.pipe;
    return s;
}

int asyncio__stream_pipe_start(asyncio_stream_t *s, bool readable)
{
    if (!check_writer(s, "asyncio__stream_pipe_start"))
        return asyncio_error()->code;
    if (!readable)
        s->t.want_read = false;
    asyncio__transport_made(&s->t);
    return 0;
}

asyncio_stream_t *asyncio__stream_reader_new(asyncio_loop_t *loop, size_t limit)
{
    return stream_new(loop, limit);
}

int asyncio__stream_feed_data(asyncio_stream_t *s, const void *data, size_t len)
{
    if (!len)
        return 0;
    if (append(s, data, len))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "feed_data");
    wake(&s->read_waiter);
    if (s->len > 2 * s->limit)
        s->paused = true;
    return 0;
}

void asyncio__stream_feed_eof(asyncio_stream_t *s)
{
    s->eof = true;
    wake(&s->read_waiter);
}

size_t asyncio__stream_buffered(asyncio_stream_t *s)
{
    return s->len;
}
