/*
 * Transports and protocols: asyncio's callback API on a uv_stream_t.
 *
 * The hot path allocates nothing: reads land in the loop's one buffer
 * (handed to libuv by alloc_cb and given to data_received before the next
 * read can happen), and a write first goes straight to the kernel with
 * uv_try_write; only what the kernel does not take is copied into a write
 * request.  Streams (stream.c) are a protocol of this layer.
 *
 * The public calls take the transport's handle (net.h); the protocol's
 * callbacks get it too.  Each public call looks its handle up and goes on
 * with the same work as the internal call of the same name that streams
 * use on the transport they hold (asyncio__transport_write, ...).
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RBUF_SIZE ((size_t)64 * 1024)
#define BULK_PIPE_SIZE (256 * 1024)

typedef struct wreq {
    uv_write_t req;
    size_t len;
    char data[];
} wreq_t;

/* A live transport, else NULL with ValueError raised. */
static asyncio__transport_t *checked(asyncio_transport_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_TRANSPORT, "transport");
}

/* A live transport, else NULL (nothing raised): the calls that are
 * harmless on a closed transport are harmless on a gone one too. */
static asyncio__transport_t *found(asyncio_transport_t *handle)
{
    return asyncio__handle_get(handle, ASYNCIO__H_TRANSPORT);
}

asyncio__exc_t *asyncio__os_error(int code, const char *fmt, ...)
{
    if (!fmt) {
        asyncio_raise_uv(code, NULL);
        return asyncio__take_raised();
    }
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char msg[300];
    int no = code > -3000 ? -code : 0; /* on Unix a libuv code is -errno */
    snprintf(msg, sizeof msg, "[Errno %d] %s", no, text);
    asyncio__exc_t *e = asyncio__exc_make(code, asyncio__code_type(code), msg);
    if (e->pub.code == code)
        e->pub.detail = no;
    return e;
}

bool asyncio__port_ok(int port)
{
    if (port >= 0 && port <= 65535)
        return true;
    asyncio__raise_code(ASYNCIO_EVALUE, "port must be 0-65535.");
    return false;
}

/* A protocol callback left an error raised (it cannot return one).  As
 * Python: data_received and eof_received failing are fatal errors of the
 * transport (reported, then closed with the error, which connection_lost
 * gets); from the other callbacks the error is reported.  It must not stay
 * in the indicator, where whatever runs next would find it. */
static bool protocol_failed(asyncio__transport_t *t, const char *what, bool fatal)
{
    if (!asyncio_error())
        return false;
    asyncio__exc_t *e = asyncio__take_raised();
    char msg[96];
    snprintf(msg, sizeof msg,
             fatal ? "Fatal error: protocol.%s() call failed." : "protocol.%s() failed", what);
    asyncio__report(t->loop, msg, &e->pub, NULL);
    if (fatal)
        asyncio__transport_force_close(t, e);
    else
        asyncio__exc_free(e);
    return true;
}

/* A user's protocol is called as Python's loop calls it (see
 * asyncio__callback_enter): outside tasks, in the transport's context;
 * what it raised is reported in there, in the indicator it used.  A
 * stream's protocol is the library's: called where it is.  pause_writing
 * is not wrapped: Python calls it inside the write that went above the
 * mark, in the writer's context (its task's, if any). */
#define PROTOCOL_CALL(t, call)                                                                     \
    do {                                                                                           \
        if ((t)->of_stream) {                                                                      \
            call;                                                                                  \
        } else {                                                                                   \
            ASYNCIO__CALLBACK_IN(&(t)->ctx, call);                                                 \
        }                                                                                          \
    } while (0)

static void close_cb(uv_handle_t *h);

/* Any state to CLOSED (it was OPEN) or DISCARDED (it never was). */
static void do_close(asyncio__transport_t *t)
{
    if (asyncio__transport_handle_closed(t))
        return;
    t->state = t->state < ASYNCIO__TRANSPORT_OPEN ? ASYNCIO__TRANSPORT_DISCARDED
                                                  : ASYNCIO__TRANSPORT_CLOSED;
    t->reading = false;
    if (t->tls)
        asyncio__tls_stop(t->tls);
    uv_close(&t->h.handle, close_cb);
}

static void close_cb(uv_handle_t *h)
{
    asyncio__transport_t *t = h->data;
    if (t->on_gone)
        t->on_gone(t);
    if (t->state == ASYNCIO__TRANSPORT_CLOSED && t->proto->connection_lost) {
        PROTOCOL_CALL(t,
                      t->proto->connection_lost(t->handle, t->exc ? &t->exc->pub : NULL, t->user);
                      protocol_failed(t, "connection_lost", false));
    }
    asyncio__transport_release(t, ASYNCIO__HOLD_HANDLE);
}

void asyncio__transport_force_close(asyncio__transport_t *t, asyncio__exc_t *exc)
{
    if (exc && !t->exc && !asyncio__transport_handle_closed(t))
        t->exc = exc;
    else
        asyncio__exc_free(exc);
    do_close(t);
}

/* close(): OPEN to CLOSING, which waits for the write requests in
 * flight, then closes (before OPEN none are: it closes at once).  Over
 * TLS the layer's shutdown comes first (close_notify both ways), while
 * the transport stays OPEN and reading; its end comes back here. */
static void close_soft(asyncio__transport_t *t)
{
    if (t->tls && !asyncio__tls_over(t->tls) && !asyncio__transport_handle_closed(t)) {
        asyncio__tls_close(t->tls);
        return;
    }
    if (t->state == ASYNCIO__TRANSPORT_OPEN) {
        t->state = ASYNCIO__TRANSPORT_CLOSING;
        if (t->reading) {
            uv_read_stop(&t->h.stream);
            t->reading = false;
        }
    }
    if (t->nreqs == 0)
        do_close(t);
}

static void closer_run(asyncio__closer_t *c)
{
    asyncio__transport_t *t = asyncio__container_of(c, asyncio__transport_t, closer);
    do_close(t);
    /* An owner that is a handler task the loop just abandoned never lets
     * go (its done callback never runs); a caller still frees what is
     * theirs, as they free a process or an HTTP session: the memory stays
     * until then, so a late free is no use after free. */
    int holds = (t->holds & ASYNCIO__HOLD_OWNER) && !t->caller_owned ? ASYNCIO__HOLD_OWNER : 0;
    /* A task awaiting start_tls was abandoned with the loop, too. */
    holds |= t->holds & ASYNCIO__HOLD_TLS;
    if (holds)
        asyncio__transport_release(t, holds);
}

int asyncio__transport_init(asyncio__transport_t *t, asyncio_loop_t *loop, int kind,
                            const asyncio_protocol_t *proto, void *user,
                            void (*free_fn)(asyncio__transport_t *))
{
    if (!(t->handle = asyncio__handle_new(t, ASYNCIO__H_TRANSPORT)))
        return ASYNCIO_ENOMEM;
    int rc = kind == ASYNCIO__KIND_TCP ? uv_tcp_init(&loop->uv, &t->h.tcp)
                                       : uv_pipe_init(&loop->uv, &t->h.pipe, 0);
    if (rc < 0) {
        asyncio__handle_retire(t->handle);
        t->handle = NULL;
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    t->kind = (uint8_t)kind;
    t->state = ASYNCIO__TRANSPORT_NEW;
    t->holds = ASYNCIO__HOLD_HANDLE;
    t->want_read = true;
    t->loop = loop;
    t->h.handle.data = t;
    t->proto = proto;
    t->user = user;
    t->high = ASYNCIO_WRITE_HIGH_WATER;
    t->low = ASYNCIO_WRITE_HIGH_WATER / 4;
    t->free_fn = free_fn;
    asyncio__context_keep(&t->ctx);
    asyncio__list_init(&t->server_link);
    t->closer.close = closer_run;
    asyncio__list_insert(&loop->closers, &t->closer.link);
    return 0;
}

void asyncio__transport_release(asyncio__transport_t *t, int hold)
{
    t->holds &= (uint8_t)~hold;
    if (t->holds)
        return;
    /* Registered until the end: at loop close the closer frees what an
     * owner still holds, also after the socket closed. */
    asyncio__list_remove(&t->closer.link);
    asyncio__exc_free(t->exc);
    t->exc = NULL;
    asyncio__context_drop(&t->ctx);
    asyncio__tls_free(t->tls);
    t->tls = NULL;
    asyncio__handle_retire(t->handle); /* a stream's went with it already */
    t->free_fn(t);
}

/* ------------------------------------------------------------ wait queues */

int asyncio__transport_wait(asyncio__task_t *task, asyncio__waitq_t *q)
{
    asyncio__waiter_t w;
    int rc = asyncio__waiter_wait(q, &w, task);
    if (rc != ASYNCIO_ENOMEM)
        asyncio__waiter_end(&w);
    return rc;
}

void asyncio__transport_wake_all(asyncio__waitq_t *q)
{
    for (asyncio__waiter_t *w = asyncio__waitq_first(q); w; w = asyncio__waitq_next(q, w))
        if (!w->fut->loop->closed)
            asyncio__waiter_wake(w);
}

/* ------------------------------------------------------------ reading */

/* The loop's read buffer goes when the loop closes (a loop may be closed
 * by another thread than the one that ran it: the buffer is the loop's,
 * not the thread's). */
static void free_read_buf(asyncio_loop_t *loop)
{
    asyncio__free(loop->read_buf);
    loop->read_buf = NULL;
}

static asyncio__close_hook_t read_buf_hook = {free_read_buf, NULL};
static pthread_once_t read_buf_hook_once = PTHREAD_ONCE_INIT;

static void add_read_buf_hook(void)
{
    asyncio__loop_add_close_hook(&read_buf_hook);
}

/* Every socket of a loop reads into the loop's one buffer: data_received
 * gets it for the call only, and a stream copies what it keeps.  One byte
 * more than libuv is told: the NUL after what data_received gets. */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    asyncio_loop_t *loop = ((asyncio__transport_t *)h->data)->loop;
    if (!loop->read_buf) {
        pthread_once(&read_buf_hook_once, add_read_buf_hook);
        loop->read_buf = asyncio__malloc(RBUF_SIZE + 1);
    }
    *buf = uv_buf_init(loop->read_buf, loop->read_buf ? (unsigned)RBUF_SIZE : 0);
}

size_t asyncio__transport_read_buffer(asyncio__transport_t *t, char **buf)
{
    uv_buf_t b;
    alloc_cb(&t->h.handle, RBUF_SIZE, &b);
    *buf = b.len ? b.base : NULL;
    return b.len;
}

/* data_received, with the NUL after the data the header promises. */
void asyncio__transport_deliver(asyncio__transport_t *t, const char *data, size_t len)
{
    if (!t->proto->data_received)
        return;
    ((char *)data)[len] = '\0';
    PROTOCOL_CALL(t, t->proto->data_received(t->handle, data, len, t->user);
                  protocol_failed(t, "data_received", true));
}

/* The protocol's eof_received.  Plain: unless it keeps the connection
 * half-open, the transport closes.  Over TLS its answer changes nothing
 * (Python warns): the layer's shutdown closes it. */
void asyncio__transport_app_eof(asyncio__transport_t *t)
{
    bool keep = false, failed = false;
    if (t->proto->eof_received)
        PROTOCOL_CALL(t, keep = t->proto->eof_received(t->handle, t->user);
                      failed = protocol_failed(t, "eof_received", true));
    if (failed || t->tls)
        return;
    if (!keep)
        close_soft(t);
}

/* The TLS layer's shutdown is over: the transport closes as close() does. */
void asyncio__transport_tls_done(asyncio__transport_t *t)
{
    close_soft(t);
}

/* A pipe that a read found full (a whole read buffer at once: the
 * kernel's default capacity is 16 pages, the same 64 KiB where pages are
 * 4 KiB), or that a write found full, carries bulk data: its capacity
 * goes up to BULK_PIPE_SIZE, once, so the writer blocks, and both sides
 * wake, four times less often.  Python and libuv leave pipes as the
 * kernel made them; `cat` of 64 MiB read 64 KiB at a time with blocking
 * reads takes 35-60 ms through a 64 KiB pipe here, 23-25 through this one
 * (256 KiB gains as much as the 1 MiB maximum), and through a stream
 * medians of 36 and 30 ms (bench/process).  Only ever up: a pipe already that large (the
 * child enlarged it, or pages are 64 KiB) stays as it is.  A pipe that
 * never fills keeps its size, so the user's quota of pipe pages
 * (pipe-user-pages-soft) goes only to pipes that use it.  Best effort: the
 * kernel refuses past that quota, and a Unix socket is no pipe; each
 * transport asks once. */
static void grow_bulk_pipe(asyncio__transport_t *t)
{
    t->bulk_tried = true;
#ifdef F_SETPIPE_SZ
    uv_os_fd_t fd;
    if (t->h.handle.type != UV_NAMED_PIPE || uv_fileno(&t->h.handle, &fd) != 0)
        return;
    int size = fcntl(fd, F_GETPIPE_SZ);
    if (size > 0 && size < BULK_PIPE_SIZE)
        (void)fcntl(fd, F_SETPIPE_SZ, BULK_PIPE_SIZE);
#endif
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    asyncio__transport_t *t = s->data;
    if (nread > 0) {
        if (ASYNCIO__UNLIKELY((size_t)nread == RBUF_SIZE) && !t->bulk_tried)
            grow_bulk_pipe(t);
        if (t->tls)
            asyncio__tls_received(t->tls, buf->base, (size_t)nread);
        else
            asyncio__transport_deliver(t, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        t->eof_received = true;
        uv_read_stop(s);
        t->reading = false;
        if (t->tls)
            asyncio__tls_eof(t->tls);
        else
            asyncio__transport_app_eof(t);
        return;
    }
    asyncio__transport_force_close(
        t, nread == UV_ENOBUFS
               ? asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for a read buffer")
               : asyncio__os_error((int)nread, NULL));
}

/* Reads while OPEN, unless paused or at EOF.  A failure is reported
 * through connection_lost, as Python does. */
static void start_reading(asyncio__transport_t *t)
{
    bool tls_needs =
        t->tls && asyncio__tls_reading_needed(t->tls) && t->state <= ASYNCIO__TRANSPORT_OPEN;
    bool wanted = t->state == ASYNCIO__TRANSPORT_OPEN && t->want_read;
    if ((!wanted && !tls_needs) || t->reading || t->eof_received)
        return;
    int rc = uv_read_start(&t->h.stream, alloc_cb, read_cb);
    if (rc < 0) {
        asyncio__transport_force_close(t, asyncio__os_error(rc, NULL));
        return;
    }
    t->reading = true;
}

void asyncio__transport_made(asyncio__transport_t *t)
{
    /* OPEN first: connection_made may close it (then connection_lost is
     * due) or pause reading.  Callers pass a NEW or CONNECTING transport:
     * the test only keeps the state from ever going back. */
    if (t->state < ASYNCIO__TRANSPORT_OPEN)
        t->state = ASYNCIO__TRANSPORT_OPEN;
    if (t->proto->connection_made) {
        if (t->of_stream) {
            t->proto->connection_made(t->handle, t->user);
            protocol_failed(t, "connection_made", false);
        } else { /* Python calls it with call_soon: in a copy, once */
            ASYNCIO__CALLBACK_ONCE(&t->ctx, t->proto->connection_made(t->handle, t->user);
                                   protocol_failed(t, "connection_made", false));
        }
    }
    start_reading(t);
}

void asyncio__transport_pause_reading(asyncio__transport_t *t)
{
    if (!t)
        return;
    t->want_read = false;
    if (t->reading && !(t->tls && asyncio__tls_reading_needed(t->tls))) {
        uv_read_stop(&t->h.stream);
        t->reading = false;
    }
}

void asyncio__transport_resume_reading(asyncio__transport_t *t)
{
    if (!t)
        return;
    t->want_read = true;
    start_reading(t);
    if (t->tls)
        asyncio__tls_resume(t->tls);
}

/* The TLS layer reads during its handshake and shutdown, whatever the
 * protocol asked. */
void asyncio__transport_read_for_tls(asyncio__transport_t *t)
{
    start_reading(t);
}

void asyncio_transport_pause_reading(asyncio_transport_t *handle)
{
    asyncio__transport_pause_reading(found(handle));
}

void asyncio_transport_resume_reading(asyncio_transport_t *handle)
{
    asyncio__transport_resume_reading(found(handle));
}

bool asyncio_transport_is_reading(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    return t && t->want_read && !asyncio__transport_closing(t) && !t->eof_received;
}

/* ------------------------------------------------------------ writing */

/* What the transport holds of the protocol's writes: in write requests,
 * and over TLS what waits for the handshake. */
static size_t buffered(const asyncio__transport_t *t)
{
    return t->pending + (t->tls ? asyncio__tls_buffered(t->tls) : 0);
}

static void maybe_pause(asyncio__transport_t *t)
{
    if (buffered(t) > t->high && !t->write_paused) {
        t->write_paused = true;
        if (t->proto->pause_writing)
            t->proto->pause_writing(t->handle, t->user);
    }
}

static void maybe_resume(asyncio__transport_t *t)
{
    if (t->write_paused && buffered(t) <= t->low) {
        t->write_paused = false;
        if (t->proto->resume_writing)
            PROTOCOL_CALL(t, t->proto->resume_writing(t->handle, t->user));
    }
}

static void write_cb(uv_write_t *req, int status)
{
    wreq_t *w = asyncio__container_of(req, wreq_t, req);
    asyncio__transport_t *t = req->handle->data;
    t->pending -= w->len;
    t->nreqs--;
    asyncio__free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            asyncio__transport_force_close(t, asyncio__os_error(status, NULL));
        return;
    }
    if (!asyncio__transport_handle_closed(t))
        maybe_resume(t);
    if (asyncio__transport_closing(t) && t->nreqs == 0)
        do_close(t);
}

/* Checks the pieces of a write and sums them: NULL data with a length,
 * or more than 4 GiB in all (a uv_buf_t holds an unsigned length; checked
 * per piece so that a sum wrapping around size_t cannot pass as small),
 * raise ValueError. */
static int pieces_total(const void *const *data, const size_t *lens, size_t n, size_t *total)
{
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!data[i] && lens[i])
            return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
        if (lens[i] > UINT32_MAX - sum)
            return asyncio__raise_code(ASYNCIO_EVALUE, "data is more than 4 GiB at once");
        sum += lens[i];
    }
    *total = sum;
    return 0;
}

/* writelines' arrays and pieces, checked before anything is written (as
 * Python joins the list first). */
int asyncio__transport_check_data(const void *const *data, const size_t *lens, size_t n,
                                  size_t *total)
{
    if (n && !data)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    if (n && !lens)
        return asyncio__raise_code(ASYNCIO_EVALUE, "lens is NULL");
    return pieces_total(data, lens, n, total);
}

/* Sends at most 16 pieces (what uv_try_write takes at once) to the
 * socket: what the kernel does not take at once is copied into a write
 * request. */
static int send_pieces(asyncio__transport_t *t, const void *const *data, const size_t *lens,
                       size_t n, size_t total)
{
    size_t off = 0;
    if (t->nreqs == 0 && n <= 16) {
        uv_buf_t bufs[16];
        for (size_t i = 0; i < n; i++)
            bufs[i] = uv_buf_init((char *)data[i], (unsigned)lens[i]);
        int r = uv_try_write(&t->h.stream, bufs, (unsigned)n);
        if (r >= 0 && (size_t)r == total)
            return 0;
        if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) {
            asyncio__transport_force_close(t, asyncio__os_error(r, NULL));
            return 0;
        }
        if (r > 0)
            off = (size_t)r;
        if (!t->bulk_tried)
            grow_bulk_pipe(t);
    }
    size_t rest = total - off;
    wreq_t *w = asyncio__malloc(sizeof *w + rest);
    if (!w)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %zu bytes to write", rest);
    char *p = w->data;
    for (size_t i = 0; i < n; i++) {
        size_t l = lens[i];
        if (off >= l) {
            off -= l;
            continue;
        }
        memcpy(p, (const char *)data[i] + off, l - off);
        p += l - off;
        off = 0;
    }
    w->len = rest;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)rest);
    int rc = uv_write(&w->req, &t->h.stream, &b, 1, write_cb);
    if (rc < 0) {
        asyncio__free(w);
        asyncio__transport_force_close(t, asyncio__os_error(rc, NULL));
        return 0;
    }
    t->pending += rest;
    t->nreqs++;
    maybe_pause(t);
    return 0;
}

/* The TLS layer's ciphertext: to the socket while it is open, whatever the
 * protocol did (close_notify goes out after close()).  Without memory the
 * connection cannot go on: it is closed with the MemoryError. */
void asyncio__transport_raw_write(asyncio__transport_t *t, const void *data, size_t len)
{
    if (asyncio__transport_handle_closed(t) || len == 0)
        return;
    if (send_pieces(t, &data, &len, 1, len))
        asyncio__transport_force_close(t, asyncio__take_raised());
}

/* The protocol's write of at most 16 pieces. */
static int write_some(asyncio__transport_t *t, const void *const *data, const size_t *lens,
                      size_t n, size_t total)
{
    if (t->eof_written)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Cannot call write() after write_eof()");
    if (t->user_closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Cannot call write() after close()");
    if (total == 0 || asyncio__transport_closing(t))
        return 0; /* gone: dropped, as Python drops it (drain raises) */
    if (t->tls) {
        int rc = asyncio__tls_write(t->tls, data, lens, n);
        maybe_pause(t);
        return rc;
    }
    return send_pieces(t, data, lens, n, total);
}

int asyncio__transport_write(asyncio__transport_t *t, const void *const *data, const size_t *lens,
                             size_t n)
{
    size_t total;
    if (pieces_total(data, lens, n, &total))
        return ASYNCIO_EVALUE;
    return write_some(t, data, lens, n, total);
}

int asyncio__transport_writelines(asyncio__transport_t *t, const void *const *data,
                                  const size_t *lens, size_t n)
{
    size_t total;
    if (asyncio__transport_check_data(data, lens, n, &total))
        return ASYNCIO_EVALUE;
    for (size_t i = 0; i < n; i += 16) {
        size_t k = n - i < 16 ? n - i : 16, sum = 0;
        for (size_t j = 0; j < k; j++)
            sum += lens[i + j];
        int rc = write_some(t, data + i, lens + i, k, sum);
        if (rc)
            return rc;
    }
    return 0;
}

int asyncio_transport_write(asyncio_transport_t *handle, const void *data, size_t len)
{
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    return asyncio__transport_write(t, &data, &len, 1);
}

int asyncio_transport_writelines(asyncio_transport_t *handle, const void *const *data,
                                 const size_t *lens, size_t n)
{
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    return asyncio__transport_writelines(t, data, lens, n);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    asyncio__transport_t *t = req->handle->data;
    asyncio__free(req);
    t->nreqs--;
    if (status < 0 && status != UV_ECANCELED && status != UV_ENOTCONN)
        asyncio__transport_force_close(t, asyncio__os_error(status, NULL));
    else if (asyncio__transport_closing(t) && t->nreqs == 0)
        do_close(t);
}

int asyncio__transport_write_eof(asyncio__transport_t *t)
{
    if (t->user_closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "Cannot call write_eof() after close()");
    if (t->eof_written || asyncio__transport_closing(t))
        return 0;
    t->eof_written = true;
    if (t->tls) { /* close_notify is TLS's end of writing; the socket stays open */
        asyncio__tls_write_eof(t->tls);
        return 0;
    }
    uv_shutdown_t *req = asyncio__malloc(sizeof *req);
    if (!req)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a shutdown request");
    int rc = uv_shutdown(req, &t->h.stream, shutdown_cb);
    if (rc < 0) {
        asyncio__free(req);
        asyncio__transport_force_close(t, asyncio__os_error(rc, NULL));
        return 0;
    }
    t->nreqs++;
    return 0;
}

int asyncio_transport_write_eof(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    return asyncio__transport_write_eof(t);
}

void asyncio__transport_close(asyncio__transport_t *t)
{
    if (!t)
        return;
    t->user_closed = true;
    close_soft(t);
}

/* Python schedules connection_lost from close() or abort(): it runs in a
 * copy of the closer's context. */
static void closed_here(asyncio__transport_t *t)
{
    if (t && !t->of_stream && !t->user_closed && !asyncio__transport_handle_closed(t))
        asyncio__context_renew(&t->ctx);
}

void asyncio_transport_close(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    closed_here(t);
    asyncio__transport_close(t);
}

void asyncio_transport_abort(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    if (t) {
        closed_here(t);
        t->user_closed = true;
        do_close(t);
    }
}

bool asyncio_transport_is_closing(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    /* user_closed too: over TLS the transport stays OPEN through the
     * close_notify exchange that close() starts, and is_closing() was
     * false until it ended (tests/check_tls.c test_close_abort). */
    return !t || asyncio__transport_closing(t) || t->user_closed;
}

size_t asyncio_transport_get_write_buffer_size(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    return t ? buffered(t) : 0;
}

int asyncio_transport_set_write_buffer_limits(asyncio_transport_t *handle, size_t high, size_t low)
{
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    /* Python's defaults, with 0 for its None. */
    if (high == 0)
        high = low ? 4 * low : ASYNCIO_WRITE_HIGH_WATER;
    if (low == 0)
        low = high / 4;
    if (low > high)
        return asyncio__raise_code(ASYNCIO_EVALUE, "high (%zu) must be >= low (%zu) must be >= 0",
                                   high, low);
    t->high = high;
    t->low = low;
    maybe_pause(t);
    return 0;
}

void asyncio_transport_get_write_buffer_limits(asyncio_transport_t *handle, size_t *high,
                                               size_t *low)
{
    asyncio__transport_t *t = found(handle);
    if (high)
        *high = t ? t->high : 0;
    if (low)
        *low = t ? t->low : 0;
}

/* A stream's transport keeps the stream as its protocol's user: the
 * caller neither sees nor replaces it. */
void *asyncio_transport_get_user(asyncio_transport_t *handle)
{
    asyncio__transport_t *t = found(handle);
    return t && !t->of_stream ? t->user : NULL;
}

void asyncio_transport_set_user(asyncio_transport_t *handle, void *user)
{
    asyncio__transport_t *t = found(handle);
    if (!t)
        return;
    if (t->of_stream) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the transport belongs to a stream");
        return;
    }
    t->user = user;
}

/* ------------------------------------------------------------ names */

int asyncio__transport_name(asyncio__transport_t *t, asyncio_sockaddr_t *addr, bool peer)
{
    if (!addr)
        return asyncio__raise_code(ASYNCIO_EVALUE, "addr is NULL");
    memset(addr, 0, sizeof *addr);
    if (asyncio__transport_handle_closed(t)) {
        asyncio_raise_uv(UV_EBADF, NULL);
        return UV_EBADF;
    }
    int rc;
    if (t->kind == ASYNCIO__KIND_TCP) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        rc = peer ? uv_tcp_getpeername(&t->h.tcp, (struct sockaddr *)&ss, &len)
                  : uv_tcp_getsockname(&t->h.tcp, (struct sockaddr *)&ss, &len);
        if (rc == 0)
            asyncio__sockaddr_from(addr, (struct sockaddr *)&ss);
    } else {
        asyncio_sockaddr_t a = {.family = AF_UNIX};
        size_t len = sizeof a.host;
        rc = peer ? uv_pipe_getpeername(&t->h.pipe, a.host, &len)
                  : uv_pipe_getsockname(&t->h.pipe, a.host, &len);
        if (rc == 0) {
            a.host[len < sizeof a.host ? len : sizeof a.host - 1] = '\0';
            *addr = a;
        }
    }
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    return 0;
}

int asyncio_transport_peername(asyncio_transport_t *handle, asyncio_sockaddr_t *addr)
{
    if (addr)
        memset(addr, 0, sizeof *addr);
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    return asyncio__transport_name(t, addr, true);
}

int asyncio_transport_sockname(asyncio_transport_t *handle, asyncio_sockaddr_t *addr)
{
    if (addr)
        memset(addr, 0, sizeof *addr);
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    return asyncio__transport_name(t, addr, false);
}

/* ------------------------------------------------------------ connecting */

/* A connection attempt, on the heap rather than in every transport
 * (accepted ones never connect).  When the connecting task is cancelled
 * it leaves at once; closing the handle makes connect_cb come with
 * UV_ECANCELED, and the callback frees the request. */
/* What a connecting task waits on, for task dumps. */
static void describe_connecting(const void *obj, char *buf, size_t len)
{
    snprintf(buf, len, "<Transport %p connecting>", ((const asyncio__transport_t *)obj)->handle);
}

static const asyncio__wait_kind_t connect_wait = {"open_connection()", describe_connecting};

typedef struct connect_op {
    uv_connect_t req;
    asyncio_future_t *fut;
    int status;
    bool abandoned;
} connect_op_t;

static void connect_cb(uv_connect_t *req, int status)
{
    connect_op_t *op = asyncio__container_of(req, connect_op_t, req);
    if (op->abandoned) {
        asyncio_decref(op->fut);
        asyncio__free(op);
        return;
    }
    op->status = status;
    if (op->fut->state == ASYNCIO__PENDING && !op->fut->loop->closed)
        asyncio__future_finish(op->fut, NULL, NULL);
}

/* The error of a failed connect, worded as Python's: "[Errno 111] Connect
 * call failed ('127.0.0.1', 1)" (the address as Python's tuple), or the
 * system's text and the path for a Unix socket; returns status. */
static int connect_failed(int status, const struct sockaddr *addr, const char *path)
{
    if (path) {
        asyncio_raise_uv(status, "'%s'", path);
        return status;
    }
    asyncio_sockaddr_t a;
    asyncio__sockaddr_from(&a, addr);
    if (addr->sa_family == AF_INET6)
        asyncio__raise_exc(asyncio__os_error(status, "Connect call failed ('%s', %d, 0, %u)",
                                             a.host, a.port,
                                             ((const struct sockaddr_in6 *)addr)->sin6_scope_id));
    else
        asyncio__raise_exc(
            asyncio__os_error(status, "Connect call failed ('%s', %d)", a.host, a.port));
    return status;
}

/* NEW to CONNECTING; a failure closes the transport (DISCARDED). */
int asyncio__transport_connect(asyncio__task_t *task, asyncio__transport_t *t,
                               const struct sockaddr *addr, const char *path)
{
    int rc;
    t->state = ASYNCIO__TRANSPORT_CONNECTING;
    connect_op_t *op = asyncio__calloc(1, sizeof *op);
    if (!op || !(op->fut = asyncio__future_new(t->loop))) {
        rc = asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a connection");
        goto fail_alloc;
    }
    if (path) {
        uv_pipe_connect(&op->req, &t->h.pipe, path, connect_cb);
    } else if ((rc = uv_tcp_connect(&op->req, &t->h.tcp, addr, connect_cb)) < 0) {
        connect_failed(rc, addr, NULL);
        goto fail_connect;
    }
    asyncio__task_waits_for(task, &connect_wait, t);
    rc = asyncio__task_wait_private(task, op->fut);
    if (rc && op->fut->state != ASYNCIO__FINISHED) {
        op->abandoned = true; /* connect_cb frees it */
        goto fail_abandoned;
    }
    if (rc == 0 && op->status < 0)
        rc = connect_failed(op->status, addr, path);
    if (rc)
        goto fail_connect;
    asyncio_decref(op->fut);
    asyncio__free(op);
    return 0;

fail_connect:
    asyncio_decref(op->fut);
fail_alloc:
    asyncio__free(op);
fail_abandoned:
    asyncio__transport_force_close(t, NULL);
    return rc;
}

/* libuv copies a Unix socket path into sun_path truncated, which binds or
 * connects to another path: refused as Python refuses it. */
bool asyncio__unix_path_fits(const char *path)
{
    struct sockaddr_un sun;
    if (strlen(path) < sizeof sun.sun_path)
        return true;
    asyncio__raise_exc(asyncio__exc_make(UV_ENAMETOOLONG, "OSError", "AF_UNIX path too long"));
    return false;
}

/* The errors of the addresses tried, collected as Python's
 * create_connection collects them: raised at the end as the first one
 * when they are all alike, else as one OSError naming them all. */
typedef struct attempts {
    asyncio__exc_t *first;
    bool differ;     /* a later error differs from the first */
    char msgs[1024]; /* every message, joined */
} attempts_t;

/* Takes the raised error of a failed attempt. */
static void attempts_add(attempts_t *a)
{
    asyncio__exc_t *e = asyncio__take_raised();
    size_t used = strlen(a->msgs);
    snprintf(a->msgs + used, sizeof a->msgs - used, "%s%s", used ? ", " : "", e->pub.message);
    if (!a->first) {
        a->first = e;
        return;
    }
    a->differ |=
        e->pub.code != a->first->pub.code || strcmp(e->pub.message, a->first->pub.message) != 0;
    asyncio__exc_free(e);
}

/* Raises what the attempts (one at least) failed with; returns its code. */
static int attempts_raise(attempts_t *a)
{
    if (a->differ) {
        char msg[1100];
        snprintf(msg, sizeof msg, "Multiple exceptions: %s", a->msgs);
        int code = a->first->pub.code;
        asyncio__exc_free(a->first);
        asyncio__raise_exc(asyncio__exc_make(code, "OSError", msg));
    } else {
        asyncio__raise_exc(a->first);
    }
    a->first = NULL;
    return asyncio_error()->code;
}

/* Phase 1: host:port's addresses (one at least), new in *res. */
static int resolve(asyncio__task_t *task, const char *host, int port,
                   const asyncio_stream_opts_t *opts, struct addrinfo **res)
{
    if (!host)
        return asyncio__raise_code(ASYNCIO_EVALUE, "host is NULL");
    if (!asyncio__port_ok(port))
        return ASYNCIO_EVALUE;
    int rc = asyncio__resolve_tcp(task, host, port, opts ? opts->family : 0, 0, res);
    if (rc)
        return rc;
    if (!*res) {
        asyncio_raise_uv(UV_EAI_NONAME, NULL);
        return UV_EAI_NONAME;
    }
    return 0;
}

/* Phase 3: a fresh transport from alloc, connected to addr or path.  0 and
 * *out, or the raised error (the transport then goes with its handle). */
static int connect_one(asyncio__task_t *task, int kind, const struct sockaddr *addr,
                       const char *path, asyncio__transport_alloc_fn alloc, void *ctx,
                       asyncio__transport_t **out)
{
    asyncio__transport_t *t = alloc(task->fut.loop, kind, ctx);
    if (!t)
        return asyncio_error()->code;
    int rc = asyncio__transport_connect(task, t, addr, path);
    if (rc) {
        asyncio__transport_release(t, t->holds & ASYNCIO__HOLD_OWNER);
        return rc;
    }
    *out = t;
    return 0;
}

/* Phase 2: each address in turn until one connects.  A cancellation or a
 * MemoryError ends the tries with that error left raised; other errors are
 * collected and raised together if no address connects. */
static int connect_each(asyncio__task_t *task, const struct addrinfo *res,
                        asyncio__transport_alloc_fn alloc, void *ctx, asyncio__transport_t **out)
{
    attempts_t tried = {0};
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int rc = connect_one(task, ASYNCIO__KIND_TCP, ai->ai_addr, NULL, alloc, ctx, out);
        if (rc == 0 || rc == ASYNCIO_ECANCELLED || rc == ASYNCIO_ENOMEM) {
            asyncio__exc_free(tried.first);
            return rc;
        }
        attempts_add(&tried);
    }
    return attempts_raise(&tried);
}

/* ------------------------------------------------------------ TLS */

int asyncio__transport_tls_begin(asyncio__transport_t *t, asyncio__ssl_context_t *ctx,
                                 bool server_side, const char *name,
                                 const asyncio_stream_opts_t *opts, const char *early,
                                 size_t early_len)
{
    t->tls = asyncio__tls_new(t, ctx, server_side, name, opts ? opts->ssl_handshake_timeout : 0,
                              opts ? opts->ssl_shutdown_timeout : 0);
    if (!t->tls)
        return asyncio_error()->code;
    asyncio__tls_start(t->tls, NULL, early, early_len);
    /* The peer's EOF came before the layer: no handshake can follow. */
    if (t->eof_received && !asyncio__tls_over(t->tls))
        asyncio__tls_eof(t->tls);
    return 0;
}

int asyncio__transport_tls_finish(asyncio__task_t *task, asyncio__transport_t *t)
{
    int rc = asyncio__tls_wait_handshake(task, t->tls);
    if (rc)
        asyncio__transport_force_close(t, NULL);
    return rc;
}

int asyncio__transport_start_tls(asyncio__task_t *task, asyncio__transport_t *t,
                                 asyncio__ssl_context_t *ctx, bool server_side,
                                 const asyncio_stream_opts_t *opts, const char *early,
                                 size_t early_len)
{
    if (t->tls)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the transport already speaks TLS");
    if (t->state != ASYNCIO__TRANSPORT_OPEN)
        return asyncio__raise_code(UV_ECONNRESET, "Connection lost");
    int rc = asyncio__transport_tls_begin(t, ctx, server_side, opts ? opts->server_hostname : NULL,
                                          opts, early, early_len);
    if (rc)
        return rc;
    if ((rc = asyncio__transport_tls_finish(task, t)))
        return rc;
    if (!t->want_read) /* the protocol paused reading before, or during, the handshake */
        asyncio__transport_pause_reading(t);
    return 0;
}

int asyncio_start_tls(asyncio_transport_t *handle, asyncio_ssl_context_t *ctx, bool server_side,
                      const asyncio_stream_opts_t *opts)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    asyncio__transport_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    if (!ctx)
        return asyncio__raise_code(ASYNCIO_EVALUE, "the SSL context is NULL");
    if (opts && opts->ssl && opts->ssl != ctx)
        return asyncio__raise_code(ASYNCIO_EVALUE, "opts.ssl is not the context given");
    asyncio__ssl_context_t *ssl;
    int rc = asyncio__tls_check(ctx, opts, server_side, "check_hostname requires server_hostname",
                                &ssl);
    if (rc)
        return rc;
    if (t->tls)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the transport already speaks TLS");
    /* The memory stays while this task waits, whatever closes the transport. */
    t->holds |= ASYNCIO__HOLD_TLS;
    rc = asyncio__transport_start_tls(task, t, ssl, server_side, opts, NULL, 0);
    asyncio__transport_release(t, ASYNCIO__HOLD_TLS);
    return rc;
}

/* Resolves, tries each address, connects, starts: a Unix socket's path is
 * its one address.  With TLS, the handshake comes before the start. */
int asyncio__transport_open(asyncio__task_t *task, const char *host, int port, const char *path,
                            const asyncio_stream_opts_t *opts, asyncio__transport_alloc_fn alloc,
                            void *ctx, asyncio__transport_t **out)
{
    struct addrinfo *res = NULL;
    asyncio__ssl_context_t *ssl;
    asyncio__transport_t *t;
    int rc;

    if ((rc = asyncio__tls_check(opts ? opts->ssl : NULL, opts, false,
                                 path || !host
                                     ? "You must set server_hostname when using ssl without a host"
                                     : NULL,
                                 &ssl)))
        return rc;

    /* 1. Resolve. */
    if (path)
        rc = asyncio__unix_path_fits(path) ? 0 : asyncio_error()->code;
    else
        rc = resolve(task, host, port, opts, &res);
    if (rc)
        goto fail_resolve;

    /* 2, 3. Try each address: connect a fresh transport to it. */
    if (path)
        rc = connect_one(task, ASYNCIO__KIND_PIPE, NULL, path, alloc, ctx, &t);
    else
        rc = connect_each(task, res, alloc, ctx, &t);
    if (rc)
        goto fail_connect;
    uv_freeaddrinfo(res);
    res = NULL;

    /* 4. TLS: the handshake (a failure, or a cancellation, leaves the
     * transport closing). */
    if (ssl && ((rc = asyncio__transport_tls_begin(
                     t, ssl, false, opts->server_hostname ? opts->server_hostname : host, opts,
                     NULL, 0)) ||
                (rc = asyncio__transport_tls_finish(task, t))))
        goto fail_tls;

    /* 5. Start: connection_made, then reading. */
    asyncio__transport_made(t);
    *out = t;
    return 0;

fail_tls:
    asyncio__transport_release(t, t->holds & ASYNCIO__HOLD_OWNER);
fail_connect:
    uv_freeaddrinfo(res);
fail_resolve:
    return rc;
}

/* ------------------------------------------------------------ sock= */

int asyncio__sock_consumed(const asyncio_stream_opts_t *opts, int rc)
{
    if (opts && opts->use_sock && opts->sock >= 0)
        close(opts->sock);
    return rc;
}

int asyncio__sock_check(const asyncio_stream_opts_t *opts, const char *host, int port,
                        const char *path, bool is_unix, int *kind)
{
    int fd = opts->sock, type = 0, family = 0;
    socklen_t len = sizeof type;
    if (host || port || path)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "host/port and sock can not be specified at the same time");
    if (fd < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "Invalid file descriptor: %d", fd);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &(socklen_t){sizeof family}) < 0) {
        int code = uv_translate_sys_error(errno);
        asyncio_raise_uv(code, NULL);
        return code;
    }
    if (type != SOCK_STREAM || (is_unix && family != AF_UNIX))
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "A %sStream Socket was expected, got <socket fd=%d, family=%d, "
                                   "type=%d>",
                                   is_unix ? "UNIX Domain " : "", fd, family, type);
    *kind = family == AF_INET || family == AF_INET6 ? ASYNCIO__KIND_TCP : ASYNCIO__KIND_PIPE;
    return 0;
}

int asyncio__sock_open(uv_handle_t *h, int kind, int fd)
{
    int rc = kind == ASYNCIO__KIND_TCP ? uv_tcp_open((uv_tcp_t *)h, fd)
                                       : uv_pipe_open((uv_pipe_t *)h, fd);
    if (rc == 0)
        return 0;
    if (rc == UV_EEXIST)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "File descriptor %d is already watched by the event loop", fd);
    close(fd);
    asyncio_raise_uv(rc, NULL);
    return rc;
}

/* The phases of asyncio__transport_open for a socket already connected:
 * check it, wrap it in a transport from alloc (which owns it from then
 * on), TLS, start. */
int asyncio__transport_adopt(asyncio__task_t *task, const char *host, int port, const char *path,
                             bool is_unix, const asyncio_stream_opts_t *opts,
                             asyncio__transport_alloc_fn alloc, void *ctx,
                             asyncio__transport_t **out)
{
    asyncio__ssl_context_t *ssl;
    asyncio__transport_t *t;
    int kind, rc;

    /* 1. The socket and the options (until the transport owns it, a
     * failure closes it: the call consumes it). */
    if ((rc = asyncio__tls_check(opts->ssl, opts, false,
                                 "You must set server_hostname when using ssl without a host",
                                 &ssl)) ||
        (rc = asyncio__sock_check(opts, host, port, path, is_unix, &kind)))
        return asyncio__sock_consumed(opts, rc);

    /* 2. Its transport. */
    if (!(t = alloc(task->fut.loop, kind, ctx)))
        return asyncio__sock_consumed(opts, asyncio_error()->code);
    if ((rc = asyncio__sock_open(&t->h.handle, kind, opts->sock))) {
        asyncio__transport_force_close(t, NULL);
        asyncio__transport_release(t, t->holds & ASYNCIO__HOLD_OWNER);
        return rc;
    }

    /* 3. TLS: a failure or a cancellation leaves the transport closing,
     * and the socket with it. */
    if (ssl && ((rc = asyncio__transport_tls_begin(t, ssl, false, opts->server_hostname, opts,
                                                   NULL, 0)) ||
                (rc = asyncio__transport_tls_finish(task, t)))) {
        if (!asyncio__transport_handle_closed(t))
            asyncio__transport_force_close(t, NULL);
        asyncio__transport_release(t, t->holds & ASYNCIO__HOLD_OWNER);
        return rc;
    }

    /* 4. Start. */
    asyncio__transport_made(t);
    *out = t;
    return 0;
}

/* ------------------------------------------------------------ the callback API */

static void free_self(asyncio__transport_t *t)
{
    asyncio__free(t);
}

static asyncio__transport_t *alloc_plain(asyncio_loop_t *loop, int kind, void *ctx)
{
    asyncio__transport_t *t = asyncio__calloc(1, sizeof *t);
    if (!t) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a transport");
        return NULL;
    }
    const asyncio_protocol_t *const *pp = ctx;
    if (asyncio__transport_init(t, loop, kind, pp[0], (void *)pp[1], free_self)) {
        asyncio__free(t);
        return NULL;
    }
    return t;
}

asyncio__transport_t *asyncio__transport_new(asyncio_loop_t *loop, int kind,
                                             const asyncio_protocol_t *proto, void *user)
{
    const void *ctx[2] = {proto, user};
    return alloc_plain(loop, kind, (void *)ctx);
}

static int create_connection(const asyncio_protocol_t *proto, void *user, const char *host,
                             int port, const char *path, bool is_unix,
                             const asyncio_stream_opts_t *opts, asyncio_transport_t **transport)
{
    if (transport)
        *transport = NULL;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return asyncio__sock_consumed(opts, ASYNCIO_ERUNTIME);
    if (!proto)
        return asyncio__sock_consumed(
            opts, asyncio__raise_code(ASYNCIO_EVALUE, "protocol is NULL"));
    if (!transport)
        return asyncio__sock_consumed(
            opts, asyncio__raise_code(ASYNCIO_EVALUE, "transport is NULL"));
    const void *ctx[2] = {proto, user};
    asyncio__transport_t *t;
    int rc = opts && opts->use_sock
                 ? asyncio__transport_adopt(task, host, port, path, is_unix, opts, alloc_plain,
                                            (void *)ctx, &t)
                 : asyncio__transport_open(task, host, port, path, opts, alloc_plain, (void *)ctx,
                                           &t);
    if (rc)
        return rc;
    *transport = t->handle;
    return 0;
}

int asyncio_create_connection(const asyncio_protocol_t *proto, void *user, const char *host,
                              int port, const asyncio_stream_opts_t *opts,
                              asyncio_transport_t **transport)
{
    return create_connection(proto, user, host, port, NULL, false, opts, transport);
}

int asyncio_create_unix_connection(const asyncio_protocol_t *proto, void *user, const char *path,
                                   const asyncio_stream_opts_t *opts,
                                   asyncio_transport_t **transport)
{
    if (!path && !(opts && opts->use_sock)) {
        if (transport)
            *transport = NULL;
        if (!asyncio__task_or_raise())
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "path is NULL");
    }
    return create_connection(proto, user, NULL, 0, path, true, opts, transport);
}
