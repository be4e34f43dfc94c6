/*
 * Datagram endpoints: loop.create_datagram_endpoint, DatagramProtocol and
 * DatagramTransport (Python's _SelectorDatagramTransport), over UDP (IPv4,
 * IPv6) and Unix datagram sockets.
 *
 * Two kinds of socket under one transport.  A UDP socket is libuv's
 * uv_udp_t, read with recvmmsg (UV_UDP_RECVMMSG: up to 20 datagrams per
 * system call, into the loop's one datagram buffer).  libuv's UDP is
 * IP-only, so a Unix datagram socket is one made here (socket, bind,
 * connect), watched with a uv_poll_t and read with recvfrom.  Above the
 * socket everything is shared: the protocol's callbacks, the state, the
 * write queue and its flow control, addresses as the API gives them.
 *
 * Sending.  A datagram goes straight to the kernel (sendto on the socket,
 * also for UDP: libuv's uv_udp_try_send turns ENOBUFS into EAGAIN, where
 * Python reports it) while nothing is queued.  Only what the kernel
 * refuses for now (EAGAIN) is copied onto the queue, which drains in
 * order as the socket becomes writable:
 *   - UDP: the queue's head goes through one uv_udp_send at a time, whose
 *     callback then sends what follows directly.  Never more than one:
 *     libuv sends its queued requests in a batch (sendmmsg) and fails
 *     them all with the batch's error, where Python reports one datagram's
 *     error and keeps the others.
 *   - Unix, connected: the poll's UV_WRITABLE.
 *   - Unix, not connected: a 1 ms timer.  Such a socket polls writable
 *     while the socket it sends to has a full queue (Linux checks the
 *     receiver only for a connected sender), so UV_WRITABLE would spin.
 * Every error the kernel gives for a datagram (ECONNREFUSED after an ICMP
 * port unreachable on a connected socket, ENOBUFS, EMSGSIZE, ENOENT for a
 * Unix path) goes to error_received, as in Python; the endpoint stays
 * open.
 *
 * Lifetime: one state (below).  The memory goes in the close callback of
 * the libuv handle, right after the protocol's connection_lost; the
 * caller's handle is retired then too.  No task holds a transport: its
 * creation suspends only before the socket exists (to resolve).
 */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The loop's datagram buffer: libuv's recvmmsg reads into chunks of 64
 * KiB (UV__UDP_DGRAM_MAXSIZE, more than any UDP payload: 65527 bytes),
 * 20 at most per call.  One byte more for the NUL after the last chunk's
 * datagram; a Unix datagram is read into the whole buffer (larger than
 * the largest send buffer the kernel gives by default). */
#define CHUNK ((size_t)64 * 1024)
#define CHUNKS 20
#define DGRAM_BUF_SIZE (CHUNKS * CHUNK)

/* The header Python 3.13 counts for each queued datagram. */
#define HEADER_SIZE 8

/* Datagrams read per readiness of a Unix socket before other work runs
 * (libuv's number for UDP). */
#define UNIX_READS 32

/* Retry delay of an unconnected Unix socket whose datagram was refused. */
#define RETRY_NS 1000000

enum { KIND_UDP, KIND_UNIX };

/*
 * A transport's lifetime (t->state), forward only:
 *
 *   NEW --> OPEN --> CLOSING --> CLOSED
 *    |         '-----------------^
 *    '-----------------------------------> DISCARDED
 *
 *   NEW        dgram_new: the socket and its libuv handle exist; the
 *              creating call binds and connects it.
 *   OPEN       start: connection_made was called and connection_lost will
 *              be; reading runs.
 *   CLOSING    close(): reading stopped, sendto drops; the queue still
 *              drains, and the last datagram sent moves it on.
 *   CLOSED     do_close from OPEN or CLOSING (the end of CLOSING, abort,
 *              a fatal error, loop close): uv_close was called; the close
 *              callback calls connection_lost, then frees.
 *   DISCARDED  do_close from NEW: the socket could not be set up (bound,
 *              connected): closed with no protocol callback.
 */
enum dgram_state { NEW, OPEN, CLOSING, CLOSED, DISCARDED };

/* A queued datagram, copied, with where it goes (unless connected). */
typedef struct item {
    asyncio__list_t link;
    size_t len;
    socklen_t addrlen; /* 0: connected, no address */
    struct sockaddr_storage addr;
    char data[];
} item_t;

typedef struct asyncio__dgram {
    void *handle; /* what the caller holds (handle.h) */
    uint8_t kind;
    uint8_t state;     /* enum dgram_state */
    bool connected;    /* sends name no address (connect() was called) */
    bool has_remote;   /* sendto's address must be NULL or `remote` */
    bool write_paused; /* pause_writing was called, resume not yet */
    bool in_flight;    /* UDP: the queue's head is in send_req */
    bool reading;      /* UDP: uv_udp_recv_start is in effect */
    int family;        /* AF_INET, AF_INET6, AF_UNIX */
    int fd;            /* the socket; a Unix one is closed by close_cb */
    int events;        /* Unix: the poll's events (UV_READABLE, UV_WRITABLE) */
    asyncio_loop_t *loop;
    union {
        uv_handle_t handle;
        uv_udp_t udp;
        uv_poll_t poll;
    } h;
    uv_udp_send_t send_req;
    const asyncio_datagram_protocol_t *proto;
    void *user;
    struct sockaddr_storage remote; /* remote_addr, resolved (has_remote) */
    socklen_t remote_len;
    /* UDP: the last sender, as the kernel gave it and as the API gives it.
     * A server answers the peer it just heard from: its address is then
     * converted neither way again (converting addresses was most of what
     * a datagram cost in the transport's own code). */
    struct sockaddr_storage last_raw;
    socklen_t last_len;
    asyncio_sockaddr_t last_pub;
    asyncio__list_t queue; /* item_t, oldest first */
    size_t buffered;       /* bytes queued, HEADER_SIZE more per datagram */
    size_t high, low;
    asyncio__timer_t *retry; /* Unix, not connected: the queue's next try */
    uint64_t retry_id;
    asyncio__exc_t *exc; /* what connection_lost gets */
    asyncio__closer_t closer;
    /* The context the protocol is called in (Python's: its reader
     * Handle's): a copy of the one current when the endpoint was made. */
    asyncio__context_t ctx;
} dgram_t;

/* Raises the OSError of errno (a system call just failed); returns its
 * libuv code (on Unix, -errno). */
static int raise_errno(void)
{
    int rc = -errno;
    asyncio_raise_uv(rc, NULL);
    return rc;
}

/* A live transport, else NULL with ValueError raised. */
static dgram_t *checked(asyncio_datagram_transport_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_DATAGRAM, "datagram transport");
}

/* A live transport, else NULL (nothing raised). */
static dgram_t *found(asyncio_datagram_transport_t *handle)
{
    return asyncio__handle_get(handle, ASYNCIO__H_DATAGRAM);
}

/* ------------------------------------------------------------ addresses */

/* A Unix socket's address for path: '@' names the abstract namespace
 * (Linux: a leading NUL).  False, with nothing raised, for a path too
 * long for sun_path. */
static bool unix_sockaddr(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path)
        return false;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@') {
        sun->sun_path[0] = '\0'; /* abstract: the name is exactly n bytes */
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return true;
}

/* The API's form of a Unix socket address of len bytes: the path, '@'
 * and the name for an abstract one, "" for an unnamed one (false then). */
static bool unix_name(asyncio_sockaddr_t *out, const struct sockaddr_un *sun, socklen_t len)
{
    memset(out, 0, sizeof *out);
    out->family = AF_UNIX;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;
    if (n > sizeof sun->sun_path)
        n = sizeof sun->sun_path;
    if (n == 0)
        return false;
    if (sun->sun_path[0] == '\0') {
        out->host[0] = '@';
        memcpy(out->host + 1, sun->sun_path + 1, n - 1);
    } else {
        memcpy(out->host, sun->sun_path, strnlen(sun->sun_path, n));
    }
    return true;
}

/* The API's form of any socket address of the transport's family. */
static bool name_of(const dgram_t *t, asyncio_sockaddr_t *out, const struct sockaddr *sa,
                    socklen_t len)
{
    if (t->kind == KIND_UNIX)
        return unix_name(out, (const struct sockaddr_un *)sa, len);
    asyncio__sockaddr_from(out, sa);
    return true;
}

/* The remote address as Python prints it: ('127.0.0.1', 9999), ('::1',
 * 9999, 0, 0), or the path. */
static void remote_repr(const dgram_t *t, char *buf, size_t cap)
{
    asyncio_sockaddr_t a;
    name_of(t, &a, (const struct sockaddr *)&t->remote, t->remote_len);
    if (t->family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&t->remote;
        snprintf(buf, cap, "('%s', %d, %u, %u)", a.host, a.port, ntohl(in6->sin6_flowinfo),
                 in6->sin6_scope_id);
    } else if (t->family == AF_INET) {
        snprintf(buf, cap, "('%s', %d)", a.host, a.port);
    } else {
        snprintf(buf, cap, "%s", a.host);
    }
}

/* Two socket addresses of the transport's family name the same place. */
static bool same_addr(const dgram_t *t, const struct sockaddr_storage *a, socklen_t alen)
{
    const struct sockaddr_storage *b = &t->remote;
    if (t->family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (t->family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return alen == t->remote_len && memcmp(a, b, alen) == 0;
}

/* Where sendto's addr sends to, for the transport's socket, in *ss:
 *   0         *len bytes of address;
 *   1         the socket cannot send there, as Python finds at send time:
 *             *soft is the OSError for error_received (an address of the
 *             other IP family: gaierror -9, as Python's getaddrinfo gives;
 *             a Unix path too long);
 *   negative  a bad argument: ValueError raised (C rule: Python raises
 *             TypeError or OverflowError, fatal to the transport). */
static int dest_of(const dgram_t *t, const asyncio_sockaddr_t *addr, struct sockaddr_storage *ss,
                   socklen_t *len, asyncio__exc_t **soft)
{
    if (t->kind == KIND_UNIX) {
        if (addr->family != 0 && addr->family != AF_UNIX)
            return asyncio__raise_code(
                ASYNCIO_EVALUE, "a Unix socket sends to a path, not to family %d", addr->family);
        if (!unix_sockaddr(addr->host, (struct sockaddr_un *)ss, len)) {
            *soft = asyncio__exc_make(UV_ENAMETOOLONG, "OSError", "AF_UNIX path too long");
            return 1;
        }
        return 0;
    }
    if (addr->family == AF_UNIX)
        return asyncio__raise_code(ASYNCIO_EVALUE, "an IP socket cannot send to a Unix path");
    if (!asyncio__port_ok(addr->port))
        return ASYNCIO_EVALUE;
    if (t->last_len && addr->port == t->last_pub.port &&
        strcmp(addr->host, t->last_pub.host) == 0) {
        memcpy(ss, &t->last_raw, t->last_len);
        *len = t->last_len;
        return 0;
    }
    memset(ss, 0, sizeof *ss);
    int rc = t->family == AF_INET ? uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)ss)
                                  : uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)ss);
    if (rc == 0) {
        *len = t->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        return 0;
    }
    struct sockaddr_storage other;
    if (t->family == AF_INET ? uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)&other)
                             : uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)&other)) {
        return asyncio__raise_code(ASYNCIO_EVALUE, "host '%s' is not a numeric %s address",
                                   addr->host, t->family == AF_INET ? "IPv4" : "IPv6");
    }
    asyncio_raise_uv(UV_EAI_ADDRFAMILY, NULL);
    *soft = asyncio__take_raised();
    return 1;
}

/* ------------------------------------------------------------ callbacks */

/* A protocol callback left an error raised: reported, and the endpoint
 * goes on (Python's datagram transports let it reach the loop's handler).
 * It must not stay in the indicator, where whatever runs next would find
 * it. */
static void callback_failed(dgram_t *t, const char *what)
{
    if (!asyncio_error())
        return;
    asyncio__exc_t *e = asyncio__take_raised();
    char msg[96];
    snprintf(msg, sizeof msg, "protocol.%s() failed", what);
    asyncio__report(t->loop, msg, &e->pub, NULL);
    asyncio__exc_free(e);
}

/* error_received(e), e taken over.  here: called by sendto, where Python
 * calls it (in the sender's context and task); else as the endpoint's
 * other callbacks, in its context outside tasks. */
static void report_error(dgram_t *t, asyncio__exc_t *e, bool here)
{
    if (t->proto->error_received) {
        if (here) {
            t->proto->error_received(t->handle, &e->pub, t->user);
            callback_failed(t, "error_received");
        } else {
            ASYNCIO__CALLBACK_IN(&t->ctx, t->proto->error_received(t->handle, &e->pub, t->user);
                                 callback_failed(t, "error_received"));
        }
    }
    asyncio__exc_free(e);
}

static void error_received(dgram_t *t, asyncio__exc_t *e)
{
    report_error(t, e, false);
}

/* error_received of the OSError of a libuv code. */
static void os_error_received(dgram_t *t, int code)
{
    error_received(t, asyncio__os_error(code, NULL));
}

static void deliver(dgram_t *t, char *data, size_t len, const asyncio_sockaddr_t *addr)
{
    if (!t->proto->datagram_received)
        return;
    data[len] = '\0';
    ASYNCIO__CALLBACK_IN(&t->ctx, t->proto->datagram_received(t->handle, data, len, addr, t->user);
                         callback_failed(t, "datagram_received"));
}

/* ------------------------------------------------------------ closing */

static void close_cb(uv_handle_t *h);

static void retry_stop(dgram_t *t)
{
    if (t->retry)
        asyncio__timer_cancel(t->retry, t->retry_id);
    t->retry = NULL;
}

/* NEW to DISCARDED, OPEN or CLOSING to CLOSED: the socket closes. */
static void do_close(dgram_t *t)
{
    if (t->state >= CLOSED)
        return;
    t->state = t->state == NEW ? DISCARDED : CLOSED;
    t->reading = false;
    retry_stop(t);
    uv_close(&t->h.handle, close_cb);
}

/* Closes at once with exc (taken over; NULL: no error). */
static void force_close(dgram_t *t, asyncio__exc_t *exc)
{
    if (exc && !t->exc && t->state < CLOSED)
        t->exc = exc;
    else
        asyncio__exc_free(exc);
    do_close(t);
}

static void close_cb(uv_handle_t *h)
{
    dgram_t *t = h->data;
    if (t->state == CLOSED && t->proto->connection_lost) {
        ASYNCIO__CALLBACK_IN(
            &t->ctx, t->proto->connection_lost(t->handle, t->exc ? &t->exc->pub : NULL, t->user);
            callback_failed(t, "connection_lost"));
    }
    /* libuv closed a UDP socket in uv_close; a Unix one is ours (Python
     * closes it after connection_lost too). */
    if (t->kind == KIND_UNIX && t->fd >= 0)
        close(t->fd);
    while (!asyncio__list_empty(&t->queue)) {
        item_t *it = asyncio__container_of(t->queue.next, item_t, link);
        asyncio__list_remove(&it->link);
        asyncio__free(it);
    }
    asyncio__list_remove(&t->closer.link);
    asyncio__exc_free(t->exc);
    asyncio__context_drop(&t->ctx);
    asyncio__handle_retire(t->handle);
    asyncio__free(t);
}

static void closer_run(asyncio__closer_t *c)
{
    do_close(asyncio__container_of(c, dgram_t, closer));
}

/* ------------------------------------------------------------ the socket */

/* Python's socket modifiers, on the socket before it is bound. */
static int set_options(dgram_t *t, bool reuse_port, bool allow_broadcast)
{
    int on = 1;
    if ((reuse_port && setsockopt(t->fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) ||
        (allow_broadcast && setsockopt(t->fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) < 0))
        return raise_errno();
    return 0;
}

/* Frees a transport whose UDP handle never took a socket (close_cb's
 * work without a protocol, a queue or a closer). */
static void discard_cb(uv_handle_t *h)
{
    dgram_t *t = h->data;
    asyncio__handle_retire(t->handle);
    asyncio__free(t);
}

/* A transport of loop over a new socket of this kind and family, or over
 * the caller's fd (>= 0), which it owns from then on.  NULL with the error
 * raised; fd is then still the caller's. */
static dgram_t *dgram_new(asyncio_loop_t *loop, int kind, int family, int fd,
                          const asyncio_datagram_protocol_t *proto, void *user)
{
    bool ours = fd < 0;
    int rc;
    dgram_t *t = asyncio__calloc(1, sizeof *t);
    if (!t) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a datagram transport");
        return NULL;
    }
    if (!asyncio__handle_give(t, &t->handle, ASYNCIO__H_DATAGRAM))
        return NULL;
    t->h.handle.data = t;

    /* 1. The socket and its libuv handle. */
    if (kind == KIND_UDP) {
        /* UV_UDP_RECVMMSG: libuv reads batches of datagrams with recvmmsg. */
        unsigned flags = (unsigned)(ours ? family : AF_UNSPEC) | UV_UDP_RECVMMSG;
        if ((rc = uv_udp_init_ex(&loop->uv, &t->h.udp, flags)) < 0)
            goto fail_handle;
        /* libuv sets SO_REUSEADDR on a socket it is given. */
        if (!ours && (rc = uv_udp_open(&t->h.udp, fd)) < 0)
            goto fail_open;
        uv_fileno(&t->h.handle, &fd);
    } else {
        if (ours && (fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
            rc = -errno;
            goto fail_handle;
        }
        if (!ours && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            rc = -errno;
            goto fail_handle;
        }
        if ((rc = uv_poll_init_socket(&loop->uv, &t->h.poll, fd)) < 0)
            goto fail_poll;
    }

    /* 2. The transport around it. */
    t->kind = (uint8_t)kind;
    t->state = NEW;
    t->family = family;
    t->fd = fd;
    t->loop = loop;
    t->proto = proto;
    t->user = user;
    t->high = ASYNCIO_WRITE_HIGH_WATER;
    t->low = ASYNCIO_WRITE_HIGH_WATER / 4;
    asyncio__context_keep(&t->ctx);
    asyncio__list_init(&t->queue);
    t->closer.close = closer_run;
    asyncio__list_insert(&loop->closers, &t->closer.link);
    return t;

fail_open: /* the handle exists without the caller's descriptor */
    uv_close(&t->h.handle, discard_cb);
    goto raise;
fail_poll:
    if (ours)
        close(fd);
fail_handle:
    asyncio__handle_retire(t->handle);
    asyncio__free(t);
raise:
    if (rc == UV_EEXIST)
        asyncio__raise_code(ASYNCIO_ERUNTIME, "File descriptor %d is used by another transport",
                            fd);
    else
        asyncio_raise_uv(rc, NULL);
    return NULL;
}

/* ------------------------------------------------------------ reading */

/* The loop's datagram buffer goes when the loop closes (maybe on another
 * thread than the one that ran it: it is the loop's, not the thread's). */
static void free_dgram_buf(asyncio_loop_t *loop)
{
    asyncio__free(loop->dgram_buf);
    loop->dgram_buf = NULL;
}

static asyncio__close_hook_t dgram_buf_hook = {free_dgram_buf, NULL};
static pthread_once_t dgram_buf_hook_once = PTHREAD_ONCE_INIT;

static void add_dgram_buf_hook(void)
{
    asyncio__loop_add_close_hook(&dgram_buf_hook);
}

static char *dgram_buf(asyncio_loop_t *loop)
{
    if (ASYNCIO__UNLIKELY(!loop->dgram_buf)) {
        pthread_once(&dgram_buf_hook_once, add_dgram_buf_hook);
        loop->dgram_buf = asyncio__malloc(DGRAM_BUF_SIZE + 1);
    }
    return loop->dgram_buf;
}

static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    char *b = dgram_buf(((dgram_t *)h->data)->loop);
    *buf = uv_buf_init(b, b ? (unsigned)DGRAM_BUF_SIZE : 0);
}

/* One call per datagram of a batch (UV_UDP_MMSG_CHUNK: buf is its chunk),
 * then one with no address (UV_UDP_MMSG_FREE, or nothing more to read).
 * A transport that stopped being OPEN in the middle of a batch (the
 * protocol closed it) gets none of the rest: Python reads nothing once
 * closing either. */
static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    (void)flags; /* UV_UDP_PARTIAL cannot be: a chunk holds any UDP payload */
    dgram_t *t = h->data;
    if (t->state != OPEN)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS)
            force_close(t, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError",
                                             "no memory for a datagram buffer"));
        else
            os_error_received(t, (int)nread);
        return;
    }
    if (!addr)
        return;
    socklen_t len =
        addr->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (len != t->last_len || memcmp(addr, &t->last_raw, len) != 0) {
        memcpy(&t->last_raw, addr, len);
        t->last_len = len;
        asyncio__sockaddr_from(&t->last_pub, addr);
    }
    deliver(t, buf->base, (size_t)nread, &t->last_pub);
}

/* Up to UNIX_READS datagrams, while the transport stays OPEN. */
static void unix_read(dgram_t *t)
{
    char *buf = dgram_buf(t->loop);
    if (!buf) {
        force_close(
            t, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for a datagram buffer"));
        return;
    }
    for (int i = 0; i < UNIX_READS && t->state == OPEN; i++) {
        struct sockaddr_un from;
        socklen_t flen = sizeof from;
        ssize_t n =
            recvfrom(t->fd, buf, DGRAM_BUF_SIZE, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                os_error_received(t, -errno);
            return;
        }
        asyncio_sockaddr_t a;
        bool named = unix_name(&a, &from, flen);
        deliver(t, buf, (size_t)n, named ? &a : NULL);
    }
}

static void poll_cb(uv_poll_t *p, int status, int events);

/* The Unix socket's poll watches `events` (none: stopped). */
static void poll_update(dgram_t *t, int events)
{
    if (events == t->events || t->state >= CLOSED)
        return;
    int rc = events ? uv_poll_start(&t->h.poll, events, poll_cb) : uv_poll_stop(&t->h.poll);
    if (rc < 0) {
        force_close(t, asyncio__os_error(rc, NULL));
        return;
    }
    t->events = events;
}

static void start_reading(dgram_t *t)
{
    if (t->state != OPEN)
        return;
    if (t->kind == KIND_UNIX) {
        poll_update(t, t->events | UV_READABLE);
        return;
    }
    int rc = uv_udp_recv_start(&t->h.udp, udp_alloc_cb, udp_recv_cb);
    if (rc < 0)
        force_close(t, asyncio__os_error(rc, NULL));
    else
        t->reading = true;
}

static void stop_reading(dgram_t *t)
{
    if (t->kind == KIND_UNIX) {
        poll_update(t, t->events & ~UV_READABLE);
    } else if (t->reading) {
        uv_udp_recv_stop(&t->h.udp);
        t->reading = false;
    }
}

/* NEW to OPEN: connection_made, then reading (Python starts reading once
 * connection_made has been called). */
static void start(dgram_t *t)
{
    t->state = OPEN;
    if (t->proto->connection_made) { /* Python calls it with call_soon: in a copy, once */
        ASYNCIO__CALLBACK_ONCE(&t->ctx, t->proto->connection_made(t->handle, t->user);
                               callback_failed(t, "connection_made"));
    }
    start_reading(t);
}

/* ------------------------------------------------------------ sending */

static void maybe_pause(dgram_t *t)
{
    if (t->buffered > t->high && !t->write_paused && t->state < CLOSED) {
        t->write_paused = true;
        if (t->proto->pause_writing) {
            t->proto->pause_writing(t->handle, t->user);
            callback_failed(t, "pause_writing");
        }
    }
}

static void maybe_resume(dgram_t *t)
{
    if (t->write_paused && t->buffered <= t->low) {
        t->write_paused = false;
        if (t->proto->resume_writing) {
            ASYNCIO__CALLBACK_IN(&t->ctx, t->proto->resume_writing(t->handle, t->user);
                                 callback_failed(t, "resume_writing"));
        }
    }
}

/* One datagram to the kernel: 0, or a libuv code (on Unix, -errno). */
static int send_now(dgram_t *t, const void *data, size_t len, const void *addr, socklen_t alen)
{
    ssize_t n;
    do
        n = sendto(t->fd, data, len, MSG_NOSIGNAL, alen ? addr : NULL, alen);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

static void flush(dgram_t *t);

static void send_cb(uv_udp_send_t *req, int status)
{
    dgram_t *t = req->handle->data;
    t->in_flight = false;
    if (t->state >= CLOSED)
        return; /* cancelled by uv_close: close_cb frees the queue */
    item_t *it = asyncio__container_of(t->queue.next, item_t, link);
    asyncio__list_remove(&it->link);
    t->buffered -= it->len + HEADER_SIZE;
    asyncio__free(it);
    if (status < 0)
        os_error_received(t, status);
    flush(t);
}

static void retry_fire(void *arg)
{
    dgram_t *t = arg;
    t->retry = NULL;
    flush(t);
}

/* The queue's head waits for the socket (see the top of the file). */
static void arm(dgram_t *t)
{
    item_t *it = asyncio__container_of(t->queue.next, item_t, link);
    if (t->kind == KIND_UDP) {
        uv_buf_t b = uv_buf_init(it->data, (unsigned)it->len);
        int rc = uv_udp_send(&t->send_req, &t->h.udp, &b, 1,
                             it->addrlen ? (const struct sockaddr *)&it->addr : NULL, send_cb);
        if (rc == 0) {
            t->in_flight = true;
            return;
        }
        /* Refused before any system call: that is the datagram's error. */
        asyncio__list_remove(&it->link);
        t->buffered -= it->len + HEADER_SIZE;
        asyncio__free(it);
        os_error_received(t, rc);
        return;
    }
    if (!t->connected) {
        if (t->retry)
            return;
        t->retry = asyncio__timer_start(t->loop, asyncio__now_ns() + RETRY_NS, retry_fire, t);
        if (t->retry) {
            t->retry_id = t->retry->id;
            return;
        }
        asyncio__exc_free(asyncio__take_raised()); /* no memory for a timer: poll (spinning) */
    }
    poll_update(t, t->events | UV_WRITABLE);
}

/* Sends the queue in order while the kernel takes it (Python's
 * _sendto_ready); what it refuses for now waits for the socket.  Each
 * datagram's error goes to error_received.  The end of the queue ends a
 * CLOSING transport. */
static void flush(dgram_t *t)
{
    while (!asyncio__list_empty(&t->queue) && t->state < CLOSED && !t->in_flight) {
        item_t *it = asyncio__container_of(t->queue.next, item_t, link);
        int rc = send_now(t, it->data, it->len, &it->addr, it->addrlen);
        if (rc == UV_EAGAIN) {
            arm(t);
            if (t->kind == KIND_UNIX)
                return; /* until the socket (or the timer) says so */
            continue;   /* UDP: in flight now (or refused, and gone) */
        }
        asyncio__list_remove(&it->link);
        t->buffered -= it->len + HEADER_SIZE;
        asyncio__free(it);
        if (rc < 0)
            os_error_received(t, rc);
    }
    if (t->state >= CLOSED)
        return;
    if (asyncio__list_empty(&t->queue) && t->kind == KIND_UNIX)
        poll_update(t, t->events & ~UV_WRITABLE);
    maybe_resume(t);
    if (t->state == CLOSING && asyncio__list_empty(&t->queue) && !t->in_flight)
        do_close(t);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
    dgram_t *t = p->data;
    if (status < 0) {
        force_close(t, asyncio__os_error(status, NULL));
        return;
    }
    if ((events & UV_READABLE) && t->state == OPEN)
        unix_read(t);
    if ((events & UV_WRITABLE) && t->state < CLOSED)
        flush(t);
}

/* Copies a datagram the kernel did not take onto the queue. */
static int enqueue(dgram_t *t, const void *data, size_t len, const void *addr, socklen_t alen)
{
    item_t *it = asyncio__malloc(sizeof *it + len);
    if (!it)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a datagram of %zu bytes", len);
    it->len = len;
    it->addrlen = alen;
    if (alen)
        memcpy(&it->addr, addr, alen);
    if (len)
        memcpy(it->data, data, len);
    bool first = asyncio__list_empty(&t->queue);
    asyncio__list_insert(&t->queue, &it->link);
    t->buffered += len + HEADER_SIZE;
    if (first)
        arm(t);
    maybe_pause(t);
    return 0;
}

int asyncio_datagram_transport_sendto(asyncio_datagram_transport_t *handle, const void *data,
                                      size_t len, const asyncio_sockaddr_t *addr)
{
    dgram_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    if (!data && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    if (len > UINT32_MAX)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is more than 4 GiB at once");

    /* Where it goes: the remote address, or addr. */
    struct sockaddr_storage ss;
    socklen_t alen = 0;
    const void *dest = NULL;
    if (addr) {
        asyncio__exc_t *soft = NULL;
        int rc = dest_of(t, addr, &ss, &alen, &soft);
        if (rc < 0)
            return rc;
        if (t->has_remote && (rc > 0 || !same_addr(t, &ss, alen))) {
            asyncio__exc_free(soft);
            char want[200];
            remote_repr(t, want, sizeof want);
            return asyncio__raise_code(ASYNCIO_EVALUE, "Invalid address: must be None or %s", want);
        }
        if (rc > 0) {
            if (t->state == OPEN)
                report_error(t, soft, true);
            else
                asyncio__exc_free(soft);
            return 0;
        }
        dest = &ss;
    } else if (t->has_remote) {
        dest = &t->remote;
        alen = t->remote_len;
    } else {
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "addr is NULL and the endpoint has no remote address");
    }
    if (t->connected)
        alen = 0; /* the kernel knows where */

    /* Closing or closed: dropped, as Python drops it. */
    if (t->state != OPEN)
        return 0;
    if (asyncio__list_empty(&t->queue) && !t->in_flight) {
        int rc = send_now(t, data, len, dest, alen);
        if (rc == 0)
            return 0;
        if (rc != UV_EAGAIN) {
            report_error(t, asyncio__os_error(rc, NULL), true);
            return 0;
        }
    }
    return enqueue(t, data, len, dest, alen);
}

size_t asyncio_datagram_transport_get_write_buffer_size(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    return t ? t->buffered : 0;
}

int asyncio_datagram_transport_set_write_buffer_limits(asyncio_datagram_transport_t *handle,
                                                       size_t high, size_t low)
{
    dgram_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
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

void asyncio_datagram_transport_get_write_buffer_limits(asyncio_datagram_transport_t *handle,
                                                        size_t *high, size_t *low)
{
    dgram_t *t = found(handle);
    if (high)
        *high = t ? t->high : 0;
    if (low)
        *low = t ? t->low : 0;
}

/* ------------------------------------------------------------ close, getters */

void asyncio_datagram_transport_close(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    if (!t || t->state != OPEN)
        return;
    t->state = CLOSING;
    stop_reading(t);
    /* Python's call_soon(connection_lost), from the closer (or from the
     * send that empties the queue: there the closer's context too). */
    asyncio__context_renew(&t->ctx);
    if (asyncio__list_empty(&t->queue) && !t->in_flight)
        do_close(t);
}

void asyncio_datagram_transport_abort(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    if (t && t->state < CLOSED) {
        asyncio__context_renew(&t->ctx);
        do_close(t);
    }
}

bool asyncio_datagram_transport_is_closing(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    return !t || t->state >= CLOSING;
}

int asyncio_datagram_transport_fileno(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    return t && t->state < CLOSED ? t->fd : -1;
}

void *asyncio_datagram_transport_get_user(asyncio_datagram_transport_t *handle)
{
    dgram_t *t = found(handle);
    return t ? t->user : NULL;
}

void asyncio_datagram_transport_set_user(asyncio_datagram_transport_t *handle, void *user)
{
    dgram_t *t = found(handle);
    if (t)
        t->user = user;
}

static int sock_name(asyncio_datagram_transport_t *handle, asyncio_sockaddr_t *addr, bool peer)
{
    if (addr)
        memset(addr, 0, sizeof *addr);
    dgram_t *t = checked(handle);
    if (!t)
        return ASYNCIO_EVALUE;
    if (!addr)
        return asyncio__raise_code(ASYNCIO_EVALUE, "addr is NULL");
    if (t->state >= CLOSED) {
        asyncio_raise_uv(UV_EBADF, NULL);
        return UV_EBADF;
    }
    if (peer && !t->connected)
        return 0; /* Python's None */
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = peer ? getpeername(t->fd, (struct sockaddr *)&ss, &len)
                  : getsockname(t->fd, (struct sockaddr *)&ss, &len);
    if (rc < 0)
        return raise_errno();
    name_of(t, addr, (struct sockaddr *)&ss, len);
    return 0;
}

int asyncio_datagram_transport_sockname(asyncio_datagram_transport_t *handle,
                                        asyncio_sockaddr_t *addr)
{
    return sock_name(handle, addr, false);
}

int asyncio_datagram_transport_peername(asyncio_datagram_transport_t *handle,
                                        asyncio_sockaddr_t *addr)
{
    return sock_name(handle, addr, true);
}

/* ------------------------------------------------------------ creating */

/* The arguments every creation checks; 0 or ValueError raised. */
static int check_args(const asyncio_datagram_protocol_t *proto,
                      asyncio_datagram_transport_t **transport)
{
    if (!proto)
        return asyncio__raise_code(ASYNCIO_EVALUE, "protocol is NULL");
    if (!transport)
        return asyncio__raise_code(ASYNCIO_EVALUE, "transport is NULL");
    return 0;
}

/* Binds t to local and connects it to remote (either may be NULL), as
 * Python sets a candidate socket up; the remote address is kept for
 * sendto.  0 or the raised OSError. */
static int bind_connect(dgram_t *t, const asyncio_datagram_opts_t *o, const struct sockaddr *local,
                        socklen_t llen, const struct sockaddr *remote, socklen_t rlen)
{
    int rc = set_options(t, o->reuse_port, o->allow_broadcast);
    if (rc)
        return rc;
    if (local && bind(t->fd, local, llen) < 0)
        return raise_errno();
    if (!remote)
        return 0;
    if (!o->allow_broadcast) {
        /* A UDP handle must know it is connected (libuv's sends check);
         * a Unix socket is ours. */
        rc = t->kind == KIND_UDP ? uv_udp_connect(&t->h.udp, remote)
                                 : (connect(t->fd, remote, rlen) < 0 ? -errno : 0);
        if (rc < 0) {
            asyncio_raise_uv(rc, NULL);
            return rc;
        }
        t->connected = true;
    }
    t->has_remote = true;
    memcpy(&t->remote, remote, rlen);
    t->remote_len = rlen;
    return 0;
}

/* A socket file left at a Unix socket's path is removed, as Python does
 * (any other file stays, and bind fails with EADDRINUSE). */
static void remove_stale(const char *path)
{
    struct stat st;
    if (path[0] != '@' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
}

static int open_unix(asyncio_loop_t *loop, const asyncio_datagram_protocol_t *proto, void *user,
                     const asyncio_datagram_opts_t *o, dgram_t **out)
{
    struct sockaddr_un lsun, rsun;
    socklen_t llen = 0, rlen = 0;
    if (o->local_port || o->remote_port)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "a Unix socket's address is a path: the ports must be 0");
    if ((o->local_host && !asyncio__unix_path_fits(o->local_host)) ||
        (o->remote_host && !asyncio__unix_path_fits(o->remote_host)))
        return UV_ENAMETOOLONG;
    if (o->local_host)
        unix_sockaddr(o->local_host, &lsun, &llen);
    if (o->remote_host)
        unix_sockaddr(o->remote_host, &rsun, &rlen);
    if (o->local_host)
        remove_stale(o->local_host);
    dgram_t *t = dgram_new(loop, KIND_UNIX, AF_UNIX, -1, proto, user);
    if (!t)
        return asyncio_error()->code;
    int rc = bind_connect(t, o, o->local_host ? (struct sockaddr *)&lsun : NULL, llen,
                          o->remote_host ? (struct sockaddr *)&rsun : NULL, rlen);
    if (rc) {
        do_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* host:port's addresses for a datagram socket of family (0: any), new in
 * *res: what Python's _ensure_resolved asks. */
static int resolve(asyncio__task_t *task, const char *host, int port, int family,
                   struct addrinfo **res)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_DGRAM};
    int rc = asyncio__resolve(task, host, service, &hints, res);
    if (rc == 0 && !*res) {
        asyncio__raise_code(UV_EAI_NONAME, "getaddrinfo() returned empty list");
        return UV_EAI_NONAME;
    }
    return rc;
}

/* What Python pairs: per family, in the order the families first appear
 * (the local addresses', then the remote ones'), the last local and the
 * last remote address of that family. */
typedef struct pair {
    int family;
    const struct addrinfo *local, *remote;
} pair_t;

static size_t make_pairs(const struct addrinfo *lres, const struct addrinfo *rres, pair_t *pairs,
                         size_t cap)
{
    size_t n = 0;
    for (int side = 0; side < 2; side++) {
        for (const struct addrinfo *ai = side ? rres : lres; ai; ai = ai->ai_next) {
            size_t i = 0;
            while (i < n && pairs[i].family != ai->ai_family)
                i++;
            if (i == n) {
                if (n == cap)
                    continue;
                pairs[n++] = (pair_t){ai->ai_family, NULL, NULL};
            }
            if (side)
                pairs[i].remote = ai;
            else
                pairs[i].local = ai;
        }
    }
    return n;
}

/* Resolves, pairs, then makes the socket of the first pair that works;
 * raises the first pair's error if none does (Python's exceptions[0]). */
static int open_ip(asyncio__task_t *task, const asyncio_datagram_protocol_t *proto, void *user,
                   const asyncio_datagram_opts_t *o, dgram_t **out)
{
    struct addrinfo *lres = NULL, *rres = NULL;
    asyncio__exc_t *first = NULL;
    int rc;

    /* 1. Resolve, the local address first (two suspensions, as Python's). */
    if (o->local_host && (rc = resolve(task, o->local_host, o->local_port, o->family, &lres)))
        goto end;
    if (o->remote_host && (rc = resolve(task, o->remote_host, o->remote_port, o->family, &rres)))
        goto end;

    /* 2. Pair them by family. */
    pair_t pairs[4];
    size_t n = make_pairs(lres, rres, pairs, 4), tried = 0;

    /* 3. A socket per usable pair until one is set up. */
    for (size_t i = 0; i < n; i++) {
        const pair_t *p = &pairs[i];
        if ((o->local_host && !p->local) || (o->remote_host && !p->remote))
            continue;
        if (p->family != AF_INET && p->family != AF_INET6)
            continue;
        tried++;
        dgram_t *t = dgram_new(task->fut.loop, KIND_UDP, p->family, -1, proto, user);
        if (!t) {
            rc = asyncio_error()->code;
            goto end; /* no memory, no socket: not an address's failure */
        }
        rc = bind_connect(
            t, o, p->local ? p->local->ai_addr : NULL, p->local ? p->local->ai_addrlen : 0,
            p->remote ? p->remote->ai_addr : NULL, p->remote ? p->remote->ai_addrlen : 0);
        if (rc == 0) {
            *out = t;
            goto end;
        }
        do_close(t);
        asyncio__exc_t *e = asyncio__take_raised();
        if (first)
            asyncio__exc_free(e);
        else
            first = e;
    }
    if (tried == 0) {
        rc = asyncio__raise_code(ASYNCIO_EVALUE, "can not get address information");
    } else {
        rc = first->pub.code;
        asyncio__raise_exc(first);
        first = NULL;
    }

end:
    asyncio__exc_free(first);
    uv_freeaddrinfo(lres);
    uv_freeaddrinfo(rres);
    return rc;
}

/* No address: an unbound socket of the family given. */
static int open_unbound(asyncio_loop_t *loop, const asyncio_datagram_protocol_t *proto, void *user,
                        const asyncio_datagram_opts_t *o, dgram_t **out)
{
    if (o->family == 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "unexpected address family");
    if (o->family != AF_INET && o->family != AF_INET6) {
        asyncio_raise_uv(UV_EAFNOSUPPORT, NULL);
        return UV_EAFNOSUPPORT;
    }
    dgram_t *t = dgram_new(loop, KIND_UDP, o->family, -1, proto, user);
    if (!t)
        return asyncio_error()->code;
    int rc = set_options(t, o->reuse_port, o->allow_broadcast);
    if (rc) {
        do_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

int asyncio_create_datagram_endpoint(const asyncio_datagram_protocol_t *proto, void *user,
                                     const asyncio_datagram_opts_t *opts,
                                     asyncio_datagram_transport_t **transport)
{
    if (transport)
        *transport = NULL;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    int rc = check_args(proto, transport);
    if (rc)
        return rc;
    asyncio_datagram_opts_t o = opts ? *opts : (asyncio_datagram_opts_t){0};
    if ((!o.local_host && o.local_port) || (!o.remote_host && o.remote_port))
        return asyncio__raise_code(ASYNCIO_EVALUE, "a port is given without its host");
    if (!asyncio__port_ok(o.local_port) || !asyncio__port_ok(o.remote_port))
        return ASYNCIO_EVALUE;

    dgram_t *t = NULL;
    asyncio_loop_t *loop = task->fut.loop;
    if (o.family == AF_UNIX)
        rc = open_unix(loop, proto, user, &o, &t);
    else if (!o.local_host && !o.remote_host)
        rc = open_unbound(loop, proto, user, &o, &t);
    else
        rc = open_ip(task, proto, user, &o, &t);
    if (rc)
        return rc;
    start(t);
    *transport = t->handle;
    return 0;
}

int asyncio_create_datagram_endpoint_sock(const asyncio_datagram_protocol_t *proto, void *user,
                                          int sock, asyncio_datagram_transport_t **transport)
{
    if (transport)
        *transport = NULL;
    asyncio_loop_t *loop = asyncio_get_running_loop();
    if (!loop)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
    int rc = check_args(proto, transport);
    if (rc)
        return rc;
    if (sock < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "sock is negative (%d)", sock);

    /* What the socket is: a datagram socket of a family we speak. */
    int type;
    socklen_t tlen = sizeof type;
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        getsockname(sock, (struct sockaddr *)&ss, &slen) < 0)
        return raise_errno();
    int family = ss.ss_family;
    if (type != SOCK_DGRAM)
        return asyncio__raise_code(ASYNCIO_EVALUE, "A UDP Socket was expected, got fd %d (%s)",
                                   sock, type == SOCK_STREAM ? "SOCK_STREAM" : "not SOCK_DGRAM");
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return asyncio__raise_code(
            ASYNCIO_EVALUE, "A UDP Socket was expected, got fd %d (family %d)", sock, family);

    /* Its peer, if connected: the remote address from then on. */
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    bool connected = getpeername(sock, (struct sockaddr *)&peer, &plen) == 0;

    dgram_t *t =
        dgram_new(loop, family == AF_UNIX ? KIND_UNIX : KIND_UDP, family, sock, proto, user);
    if (!t)
        return asyncio_error()->code;
    if (connected) {
        t->connected = t->has_remote = true;
        memcpy(&t->remote, &peer, plen);
        t->remote_len = plen;
    }
    start(t);
    *transport = t->handle;
    return 0;
}
