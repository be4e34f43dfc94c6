/*
 * The net area's private header: transports on a uv_stream_t (TCP socket
 * or pipe), shared by transport.c (the core and the callback API),
 * stream.c (StreamReader/StreamWriter on top of it), server.c and dns.c.
 * Nothing here is API.
 *
 * Lifetime: one state (below) says where a transport is between its
 * handle's init and its close callback; its memory goes when nothing holds
 * it any more: the handle holds it until its close callback has run (after
 * the protocol's connection_lost), and an owner (the stream embedding it)
 * until released.
 *
 * The pipe streams subprocesses use, and the hand-fed StreamReader of the
 * tests and the fuzzer, are declared in testing.h.
 */
#ifndef CASYNCIO_NET_NET_H
#define CASYNCIO_NET_NET_H

#include "core/core.h"
#include "core/waiters.h"
#include "testing.h"

#include <netdb.h>

#define ASYNCIO__TRANSPORT_MAGIC 0x7A45B0A7u
#define ASYNCIO__STREAM_MAGIC 0x57AE3001u
#define ASYNCIO__SERVER_MAGIC 0x5E4FE401u

enum { ASYNCIO__HOLD_HANDLE = 1, ASYNCIO__HOLD_OWNER = 2 };
enum { ASYNCIO__KIND_TCP, ASYNCIO__KIND_PIPE };

/*
 * A transport's lifetime (t->state).  It only moves forward, by these
 * functions of transport.c:
 *
 *   NEW --> CONNECTING --> OPEN --> CLOSING --> CLOSED
 *    |          |            '-------------------^
 *    '----------'----------------------------------> DISCARDED
 *
 *   NEW         asyncio__transport_init: the handle is initialised.  An
 *               accepted connection (server.c) and a child's pipe
 *               (stream.c) wait here for asyncio__transport_made.
 *   CONNECTING  asyncio__transport_connect, from NEW: a connect request is
 *               in flight; when it succeeds the transport stays here until
 *               its caller (asyncio__transport_open) makes it OPEN.
 *   OPEN        asyncio__transport_made, from NEW or CONNECTING: the
 *               protocol's connection_made was called and connection_lost
 *               will be; reading runs unless paused.
 *   CLOSING     close_soft, from OPEN (the user's close(), or the peer's
 *               EOF that the protocol did not keep), while write or shutdown
 *               requests are in flight: reading stopped, new writes dropped.
 *               The last request's callback moves it on.
 *   CLOSED      do_close, from OPEN or CLOSING: uv_close was called (the end
 *               of CLOSING, abort(), a failed read or write, loop close);
 *               close_cb calls connection_lost, then drops the handle hold.
 *   DISCARDED   do_close, from NEW or CONNECTING: the connection never
 *               opened (a failed or cancelled connect, a failed accept, a
 *               stream freed unused, loop close): uv_close was called and
 *               no protocol callback comes.
 *
 * The state is not the memory: the holds (ASYNCIO__HOLD_*) are.  The
 * handle hold goes in close_cb, after CLOSED or DISCARDED; the owner hold
 * when the stream embedding the transport lets go (a protocol transport
 * of its own allocation has none), or at loop close by the closer when no
 * caller owns it (caller_owned).
 */
enum asyncio__transport_state {
    ASYNCIO__TRANSPORT_NEW,
    ASYNCIO__TRANSPORT_CONNECTING,
    ASYNCIO__TRANSPORT_OPEN,
    ASYNCIO__TRANSPORT_CLOSING,
    ASYNCIO__TRANSPORT_CLOSED,
    ASYNCIO__TRANSPORT_DISCARDED,
};

struct asyncio_transport {
    uint32_t magic;
    uint8_t kind;
    uint8_t state; /* enum asyncio__transport_state */
    uint8_t holds; /* ASYNCIO__HOLD_* bits */
    /* The data flow, beside the lifetime: flags of their own because they
     * change while the state stays OPEN (reading is paused and resumed,
     * EOF is received and written in either order), and because who closed
     * the transport (user_closed) is not where it is in its life. */
    bool reading;      /* uv_read_start is in effect */
    bool want_read;    /* reading wanted (not paused by the protocol) */
    bool eof_received; /* the peer's EOF came: no more reading */
    bool write_paused; /* pause_writing was called, resume not yet */
    bool eof_written;  /* write_eof called: writes are refused */
    bool user_closed;  /* close/abort called by the user: writes are refused,
                          where a connection that ended otherwise drops them */
    /* Who owns the owner hold, not a state: */
    bool caller_owned; /* its owner hold is a caller's, who frees it even after
                          loop close (a stream from open_connection or a child's
                          pipe; not a server's stream, whose task is abandoned) */
    asyncio_loop_t *loop;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    const asyncio_protocol_t *proto;
    void *user;
    size_t pending; /* bytes in write requests not yet completed */
    size_t nreqs;   /* write and shutdown requests in flight */
    size_t high, low;
    asyncio__exc_t *exc; /* the error the connection ended with */
    asyncio__closer_t closer;
    /* The server that accepted it (server.c), NULL once detached; the
     * server links its connections through server_link and is told of the
     * handle's close through on_gone (set by the server: the transport
     * never calls up into it). */
    asyncio_server_t *server;
    asyncio__list_t server_link;
    void (*on_gone)(asyncio_transport_t *t);
    /* Frees the object embedding the transport (a stream, or itself). */
    void (*free_fn)(asyncio_transport_t *t);
};

/* Prepares t (embedded in zeroed memory) for a TCP socket or a pipe of
 * loop: initialises the handle, registers the closer, takes the handle
 * hold.  Returns 0 or a raised libuv error (t is then untouched). */
int asyncio__transport_init(asyncio_transport_t *t, asyncio_loop_t *loop, int kind,
                            const asyncio_protocol_t *proto, void *user,
                            void (*free_fn)(asyncio_transport_t *));
/* The connection is made (connected, accepted, a child's pipe opened):
 * OPEN, the protocol's connection_made (an error it raises is reported),
 * then reading unless paused. */
void asyncio__transport_made(asyncio_transport_t *t);
/* close() or abort() was called, or the connection ended: reading is over
 * and writes are dropped. */
static inline bool asyncio__transport_closing(const asyncio_transport_t *t)
{
    return t->state >= ASYNCIO__TRANSPORT_CLOSING;
}
/* uv_close was called: the socket is gone. */
static inline bool asyncio__transport_handle_closed(const asyncio_transport_t *t)
{
    return t->state >= ASYNCIO__TRANSPORT_CLOSED;
}
/* Drops a hold; the last one frees the embedding object. */
void asyncio__transport_release(asyncio_transport_t *t, int hold);
/* Closes at once with exc (taken over; NULL: no error). */
void asyncio__transport_force_close(asyncio_transport_t *t, asyncio__exc_t *exc);
/* Checks t is a live transport; raises ValueError naming `who`. */
bool asyncio__transport_check(asyncio_transport_t *t, const char *who);
/* Connects t (NEW) to addr, or to the Unix socket path: CONNECTING until
 * its caller makes it.  Suspends.  0, or the raised error (t is then
 * DISCARDED). */
int asyncio__transport_connect(asyncio__task_t *task, asyncio_transport_t *t,
                               const struct sockaddr *addr, const char *path);
/* Makes a transport ready to connect or accept (see alloc_plain). */
typedef asyncio_transport_t *(*asyncio__transport_alloc_fn)(asyncio_loop_t *loop, int kind,
                                                            void *ctx);
/* Connects a transport from alloc to every address of host:port in turn,
 * or to path, and makes it (asyncio__transport_made).  Suspends.  0 or the
 * raised error. */
int asyncio__transport_open(const char *host, int port, const char *path,
                            const asyncio_stream_opts_t *opts, asyncio__transport_alloc_fn alloc,
                            void *ctx, asyncio_transport_t **out, const char *who);
/* A protocol transport of its own allocation. */
asyncio_transport_t *asyncio__transport_new(asyncio_loop_t *loop, int kind,
                                            const asyncio_protocol_t *proto, void *user);
/* Fills out from a socket address. */
void asyncio__sockaddr_from(asyncio_sockaddr_t *out, const struct sockaddr *sa);
/* False, after raising OSError "AF_UNIX path too long", for a path that
 * does not fit in sun_path (servers and connections). */
bool asyncio__unix_path_fits(const char *path);
int asyncio__transport_name(asyncio_transport_t *t, asyncio_sockaddr_t *addr, bool peer,
                            const char *who);
int asyncio__transport_write2(asyncio_transport_t *t, const void *const *data, const size_t *lens,
                              size_t n, const char *who);

/* Resolves host/service (dns.c).  Suspends.  New: *res is freed with
 * uv_freeaddrinfo.  0 or the raised error. */
int asyncio__resolve(asyncio__task_t *task, const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res, const char *who);
/* asyncio__resolve for a TCP socket on port of host, in family (0: any),
 * with flags (AI_PASSIVE to listen). */
int asyncio__resolve_tcp(asyncio__task_t *task, const char *host, int port, int family, int flags,
                         struct addrinfo **res, const char *who);

/* Tasks waiting for the same event (drain, wait_closed), on the waiter
 * queues of waiters.h: each waits on a future of its own, so cancelling
 * one never disturbs the others.  wait: 0 once woken, or the raised
 * error; wake_all: wakes every waiter (not while the loop closes). */
int asyncio__transport_wait(asyncio__task_t *task, asyncio__waitq_t *q);
void asyncio__transport_wake_all(asyncio__waitq_t *q);

/* Server side (server.c): a connection ended (its transport is freed). */

/* Streams over accepted connections (stream.c). */
asyncio_stream_t *asyncio__stream_alloc(asyncio_loop_t *loop, int kind, size_t limit);
asyncio_transport_t *asyncio__stream_get_transport(asyncio_stream_t *s);
asyncio_stream_t *asyncio__stream_of(asyncio_transport_t *t);
/* Starts the handler task of an accepted stream; false if it could not. */
bool asyncio__stream_serve(asyncio_stream_t *s, asyncio_stream_handler_fn handler, void *arg);
void asyncio__stream_cancel_handler(asyncio_stream_t *s);

#endif /* CASYNCIO_NET_NET_H */
