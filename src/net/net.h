/*
 * The net area's private header: transports on a uv_stream_t (TCP socket
 * or pipe), shared by transport.c (the core and the callback API),
 * stream.c (StreamReader/StreamWriter on top of it), server.c and dns.c.
 * Nothing here is API.
 *
 * Lifetime: a transport is freed when nothing holds it any more: the
 * handle holds it until its close callback has run (after the protocol's
 * connection_lost), and an owner (the stream embedding it) until released.
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

struct asyncio_transport {
    uint32_t magic;
    uint8_t kind;
    uint8_t holds;       /* ASYNCIO__HOLD_* bits */
    bool opened;         /* the handle is initialised (close it to free) */
    bool closing;        /* close/abort called or the connection failed */
    bool handle_closing; /* uv_close called */
    bool reading;        /* uv_read_start is in effect */
    bool want_read;      /* reading wanted (not paused by the protocol) */
    bool write_paused;   /* pause_writing was called, resume not yet */
    bool eof_written;    /* write_eof called */
    bool eof_received;
    bool loop_closed;  /* loop close is releasing it: no futures, no tasks */
    bool made;         /* connected: connection_lost will be called */
    bool user_closed;  /* close/abort called by the user: writes are refused */
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
/* Starts reading (unless paused by the protocol). */
int asyncio__transport_start(asyncio_transport_t *t);
/* Drops a hold; the last one frees the embedding object. */
void asyncio__transport_release(asyncio_transport_t *t, int hold);
/* Closes at once with exc (taken over; NULL: no error). */
void asyncio__transport_force_close(asyncio_transport_t *t, asyncio__exc_t *exc);
/* Checks t is a live transport; raises ValueError naming `who`. */
bool asyncio__transport_check(asyncio_transport_t *t, const char *who);
/* Connects t (already initialised) to addr, or to the Unix socket path.
 * Suspends.  0, or the raised error (t is then closing). */
int asyncio__transport_connect(asyncio__task_t *task, asyncio_transport_t *t,
                               const struct sockaddr *addr, const char *path);
/* Makes a transport ready to connect or accept (see alloc_plain). */
typedef asyncio_transport_t *(*asyncio__transport_alloc_fn)(asyncio_loop_t *loop, int kind,
                                                            void *ctx);
/* Connects a transport from alloc to every address of host:port in turn,
 * or to path.  Suspends.  0 or the raised error. */
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
