/*
 * The net area's private header: transports on a uv_stream_t (TCP socket
 * or pipe), shared by transport.c (the core and the callback API),
 * stream.c (StreamReader/StreamWriter on top of it), server.c and dns.c.
 * Nothing here is API.
 *
 * Handles (core/handle.h).  The caller names a stream, a transport or a
 * server by its handle, never by the address of the structures below:
 * every public call looks its handle up, and every object handed to user
 * code (a handler's stream, a protocol callback's transport, a getter's
 * result, an out-parameter) is its handle.  A handle is retired before the
 * memory of its object goes, or earlier when the object stops being the
 * caller's: a stream when its owner lets go (asyncio_stream_free, or the
 * server when the handler returns), a stream's transport with its stream,
 * a server at asyncio_server_free.  The memory may outlive the handle (a
 * socket still closing, a task still inside a call): only the library
 * reaches it then, through its own pointers.
 *
 * Lifetime: one state (below) says where a transport is between its
 * handle's init and its close callback; its memory goes when nothing holds
 * it any more: the libuv handle holds it until its close callback has run
 * (after the protocol's connection_lost), and an owner (the stream
 * embedding it) until released.
 *
 * The pipe streams subprocesses use, and the hand-fed StreamReader of the
 * tests and the fuzzer, are declared in testing.h.
 */
#ifndef CASYNCIO_NET_NET_H
#define CASYNCIO_NET_NET_H

#include "core/core.h"
#include "core/handle.h"
#include "core/waiters.h"
#include "testing.h"

#include <netdb.h>

typedef struct asyncio__transport asyncio__transport_t;
typedef struct asyncio__tls_layer asyncio__tls_layer_t;
typedef struct asyncio__stream asyncio__stream_t;
typedef struct asyncio__server asyncio__server_t;

/* What keeps a transport's memory (t->holds): its socket until close_cb,
 * its owner (a stream, a caller), a task in asyncio_start_tls. */
enum { ASYNCIO__HOLD_HANDLE = 1, ASYNCIO__HOLD_OWNER = 2, ASYNCIO__HOLD_TLS = 4 };
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

struct asyncio__transport {
    void *handle; /* what the caller holds (handle.h) */
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
    bool bulk_tried;   /* found full once: a pipe's capacity was raised
                          (grow_bulk_pipe) */
    /* Who owns what, not a state: */
    bool caller_owned; /* its owner hold is a caller's, who frees it even after
                          loop close (a stream from open_connection or a child's
                          pipe; not a server's stream, whose task is abandoned) */
    bool of_stream;    /* a stream's: its protocol and user are the stream's */
    asyncio_loop_t *loop;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    const asyncio_protocol_t *proto;
    void *user;
    /* The context a user's protocol is called in (Python's: its reader
     * Handle's): a copy of the one current when the transport was made;
     * for a server's connections, of the server's. */
    asyncio__context_t ctx;
    size_t pending; /* bytes in write requests not yet completed */
    size_t nreqs;   /* write and shutdown requests in flight */
    size_t high, low;
    asyncio__exc_t *exc; /* the error the connection ended with */
    asyncio__closer_t closer;
    /* The server that accepted it (server.c), NULL once detached; the
     * server links its connections through server_link and is told of the
     * handle's close through on_gone (set by the server: the transport
     * never calls up into it). */
    asyncio__server_t *server;
    asyncio__list_t server_link;
    void (*on_gone)(asyncio__transport_t *t);
    /* Frees the object embedding the transport (a stream, or itself). */
    void (*free_fn)(asyncio__transport_t *t);
    /* TLS (tls.c) between the socket and the protocol, or NULL.  The
     * socket carries its ciphertext; everything above sees plaintext. */
    asyncio__tls_layer_t *tls;
};

/* Prepares t (embedded in zeroed memory) for a TCP socket or a pipe of
 * loop: gives it a handle, initialises the libuv handle, registers the
 * closer, takes the handle hold.  Returns 0 or the raised error (t is
 * then untouched). */
int asyncio__transport_init(asyncio__transport_t *t, asyncio_loop_t *loop, int kind,
                            const asyncio_protocol_t *proto, void *user,
                            void (*free_fn)(asyncio__transport_t *));
/* The connection is made (connected, accepted, a child's pipe opened):
 * OPEN, the protocol's connection_made (an error it raises is reported),
 * then reading unless paused. */
void asyncio__transport_made(asyncio__transport_t *t);
/* close() or abort() was called, or the connection ended: reading is over
 * and writes are dropped. */
static inline bool asyncio__transport_closing(const asyncio__transport_t *t)
{
    return t->state >= ASYNCIO__TRANSPORT_CLOSING;
}
/* uv_close was called: the socket is gone. */
static inline bool asyncio__transport_handle_closed(const asyncio__transport_t *t)
{
    return t->state >= ASYNCIO__TRANSPORT_CLOSED;
}
/* Drops a hold; the last one retires the handle and frees the embedding
 * object. */
void asyncio__transport_release(asyncio__transport_t *t, int hold);
/* Closes at once with exc (taken over; NULL: no error). */
void asyncio__transport_force_close(asyncio__transport_t *t, asyncio__exc_t *exc);

/* The calls of the public API on a transport the library already holds
 * (a stream's): asyncio_transport_write, writelines, write_eof, close,
 * pause_reading, resume_reading, peername/sockname.  close, pause and
 * resume do nothing with NULL. */
int asyncio__transport_write(asyncio__transport_t *t, const void *const *data, const size_t *lens,
                             size_t n);
int asyncio__transport_writelines(asyncio__transport_t *t, const void *const *data,
                                  const size_t *lens, size_t n);
int asyncio__transport_write_eof(asyncio__transport_t *t);
void asyncio__transport_close(asyncio__transport_t *t);
void asyncio__transport_pause_reading(asyncio__transport_t *t);
void asyncio__transport_resume_reading(asyncio__transport_t *t);
int asyncio__transport_name(asyncio__transport_t *t, asyncio_sockaddr_t *addr, bool peer);
/* writelines' arguments, checked as the write calls check them (ValueError
 * for NULL arrays, NULL data with a length, more than 4 GiB): 0 and their
 * total, or ASYNCIO_EVALUE raised.  n 1 checks write's. */
int asyncio__transport_check_data(const void *const *data, const size_t *lens, size_t n,
                                  size_t *total);

/* Connects t (NEW) to addr, or to the Unix socket path: CONNECTING until
 * its caller makes it.  Suspends.  0, or the raised error (t is then
 * DISCARDED). */
int asyncio__transport_connect(asyncio__task_t *task, asyncio__transport_t *t,
                               const struct sockaddr *addr, const char *path);
/* Makes a transport ready to connect or accept (see alloc_plain). */
typedef asyncio__transport_t *(*asyncio__transport_alloc_fn)(asyncio_loop_t *loop, int kind,
                                                             void *ctx);
/* Connects a transport from alloc to every address of host:port in turn,
 * or to path, and makes it (asyncio__transport_made).  Suspends.  0 and
 * *out, or the raised error. */
int asyncio__transport_open(asyncio__task_t *task, const char *host, int port, const char *path,
                            const asyncio_stream_opts_t *opts, asyncio__transport_alloc_fn alloc,
                            void *ctx, asyncio__transport_t **out);
/* sock= (asyncio_stream_opts_t.use_sock).  A call given a socket consumes
 * it: until a transport or a listener owns it, every failure closes it.
 *   consumed: closes opts->sock if the options give one; returns rc.
 *   check: host, port and path must be unset, the socket a stream socket
 *     (AF_UNIX for the Unix forms, is_unix); *kind: ASYNCIO__KIND_TCP for
 *     AF_INET and AF_INET6, else ASYNCIO__KIND_PIPE.  0 or ValueError
 *     (OSError for a descriptor that is no socket) raised, nothing closed.
 *   open: hands fd to h, an initialised handle of that kind.  0, or the
 *     error raised: RuntimeError when the loop already watches fd (left
 *     open: not the caller's to give), else fd is closed.
 *   adopt: asyncio__transport_open's phases on opts->sock (TLS, start),
 *     the failures closing the socket. */
int asyncio__sock_consumed(const asyncio_stream_opts_t *opts, int rc);
int asyncio__sock_check(const asyncio_stream_opts_t *opts, const char *host, int port,
                        const char *path, bool is_unix, int *kind);
int asyncio__sock_open(uv_handle_t *h, int kind, int fd);
int asyncio__transport_adopt(asyncio__task_t *task, const char *host, int port, const char *path,
                             bool is_unix, const asyncio_stream_opts_t *opts,
                             asyncio__transport_alloc_fn alloc, void *ctx,
                             asyncio__transport_t **out);
/* A protocol transport of its own allocation. */
asyncio__transport_t *asyncio__transport_new(asyncio_loop_t *loop, int kind,
                                             const asyncio_protocol_t *proto, void *user);
/* Fills out from a socket address. */
void asyncio__sockaddr_from(asyncio_sockaddr_t *out, const struct sockaddr *sa);
/* False, after raising OSError "AF_UNIX path too long", for a path that
 * does not fit in sun_path (servers and connections). */
bool asyncio__unix_path_fits(const char *path);
/* Raises ValueError "port must be 0-65535." unless it is; false then. */
bool asyncio__port_ok(int port);
/* An OSError for a libuv code with Python's own text instead of the
 * system's ("[Errno 111] Connect call failed ('127.0.0.1', 1)"). */
asyncio__exc_t *asyncio__os_error(int code, const char *fmt, ...) ASYNCIO_PRINTF(2, 3);

/* Resolves host/service (dns.c).  Suspends.  New: *res is freed with
 * uv_freeaddrinfo.  0 or the raised error. */
int asyncio__resolve(asyncio__task_t *task, const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res);
/* asyncio__resolve for a TCP socket on port of host, in family (0: any),
 * with flags (AI_PASSIVE to listen). */
int asyncio__resolve_tcp(asyncio__task_t *task, const char *host, int port, int family, int flags,
                         struct addrinfo **res);

/* Tasks waiting for the same event (drain, wait_closed), on the waiter
 * queues of waiters.h: each waits on a future of its own, so cancelling
 * one never disturbs the others.  wait: 0 once woken, or the raised
 * error; wake_all: wakes every waiter (not while the loop closes). */
int asyncio__transport_wait(asyncio__task_t *task, asyncio__waitq_t *q);
void asyncio__transport_wake_all(asyncio__waitq_t *q);

/* Streams over accepted connections (stream.c, for server.c). */
asyncio__stream_t *asyncio__stream_alloc(asyncio_loop_t *loop, int kind, size_t limit);
asyncio__transport_t *asyncio__stream_transport(asyncio__stream_t *s);
asyncio__stream_t *asyncio__stream_of(asyncio__transport_t *t);
/* Starts the handler task of an accepted stream; false if it could not
 * (the stream is then released). */
bool asyncio__stream_serve(asyncio__stream_t *s, asyncio_stream_handler_fn handler, void *arg);
void asyncio__stream_cancel_handler(asyncio__stream_t *s);

/* ---------------------------------------------------------------- descriptors */

/* The sides of a watched descriptor (fdwatch.c). */
enum { ASYNCIO__FD_READ, ASYNCIO__FD_WRITE };
/* Suspends task until fd is ready on side dir (readable, writable; or in
 * error, which makes both ready), as asyncio_wait_readable/_writable do:
 * 0, or the raised error.  Nothing watches fd for it once it returned. */
int asyncio__fd_wait(asyncio__task_t *task, int fd, int dir);

/* ---------------------------------------------------------------- TLS */

/* A TLS context (ssl_context.c): the handle's object. */
typedef struct asyncio__ssl_context asyncio__ssl_context_t;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* The live context a handle names, else NULL with ValueError raised. */
asyncio__ssl_context_t *asyncio__ssl_context_get(asyncio_ssl_context_t *handle);
/* A reference for a connection or a server; unref drops it (NULL: none). */
asyncio__ssl_context_t *asyncio__ssl_context_ref(asyncio__ssl_context_t *c);
void asyncio__ssl_context_unref(asyncio__ssl_context_t *c);
SSL_CTX *asyncio__ssl_context_ctx(const asyncio__ssl_context_t *c);
bool asyncio__ssl_context_server_side(const asyncio__ssl_context_t *c);
bool asyncio__ssl_context_check_hostname(const asyncio__ssl_context_t *c);
/* A client connection to server `name` resumes the session the context
 * kept from the last one, if any; name (kept by the caller while ssl
 * lives) names the session the connection will bring. */
void asyncio__ssl_context_resume(asyncio__ssl_context_t *c, SSL *ssl, const char *name);
/* The TLS options of a connection, a server or a STARTTLS, checked as
 * Python checks them (tls.c): handle (opts->ssl, or start_tls's context)
 * NULL: plain, *ctx NULL; else *ctx the live context, of the side asked.
 * no_name: for a client without a host name to check (a Unix socket,
 * start_tls), the message when check_hostname needs server_hostname.
 * Returns 0 or ValueError raised (*ctx NULL). */
int asyncio__tls_check(asyncio_ssl_context_t *handle, const asyncio_stream_opts_t *opts,
                       bool server_side, const char *no_name, asyncio__ssl_context_t **ctx);
/* TLS on a transport (tls.c).  new: the layer for t (a client's checks
 * server_hostname; timeouts 0: Python's 60 and 30 s); NULL with the error
 * raised.  The transport owns it (t->tls) and frees it with its memory. */
asyncio__tls_layer_t *asyncio__tls_new(asyncio__transport_t *t, asyncio__ssl_context_t *ctx,
                                 bool server_side, const char *server_hostname,
                                 double handshake_timeout, double shutdown_timeout);
/* Starts the handshake (the transport must be reading); on_handshake, if
 * not NULL, is told how it ended (error NULL: it succeeded; else taken
 * over, the transport then closing).  early: ciphertext that came before
 * the layer did (STARTTLS: what a stream had buffered), handled first. */
void asyncio__tls_start(asyncio__tls_layer_t *tls,
                        void (*on_handshake)(asyncio__transport_t *t, asyncio__exc_t *error),
                        const char *early, size_t early_len);
/* Suspends until the handshake ends: 0, or its error raised (a
 * cancellation too: the caller closes the transport then). */
int asyncio__tls_wait_handshake(asyncio__task_t *task, asyncio__tls_layer_t *tls);
void asyncio__tls_free(asyncio__tls_layer_t *tls);
/* The transport hands it ciphertext, the socket's EOF, the protocol's
 * writes, write_eof and close, and a resumption of reading. */
void asyncio__tls_received(asyncio__tls_layer_t *tls, const char *data, size_t len);
void asyncio__tls_eof(asyncio__tls_layer_t *tls);
int asyncio__tls_write(asyncio__tls_layer_t *tls, const void *const *data, const size_t *lens, size_t n);
void asyncio__tls_write_eof(asyncio__tls_layer_t *tls);
void asyncio__tls_close(asyncio__tls_layer_t *tls);
void asyncio__tls_resume(asyncio__tls_layer_t *tls);
/* The socket is closing: no timer of the layer may fire any more. */
void asyncio__tls_stop(asyncio__tls_layer_t *tls);
/* Plaintext written and not yet encrypted (the handshake runs). */
size_t asyncio__tls_buffered(const asyncio__tls_layer_t *tls);
/* The handshake or the shutdown runs: the socket must be read. */
bool asyncio__tls_reading_needed(const asyncio__tls_layer_t *tls);
/* The layer is over (failed, or shut down): the transport may close. */
bool asyncio__tls_over(const asyncio__tls_layer_t *tls);
SSL *asyncio__tls_ssl(const asyncio__tls_layer_t *tls);

/* TLS on a connected transport (transport.c).  begin: the layer, its
 * handshake started (early: ciphertext already read, see tls_start); the
 * error raised if it cannot be made.  finish: awaits the handshake; a
 * failure or a cancellation closes the transport.  start_tls: STARTTLS on
 * an OPEN plain transport, both steps, reading paused again after it if
 * the protocol had paused it.  The caller keeps t's memory meanwhile. */
int asyncio__transport_tls_begin(asyncio__transport_t *t, asyncio__ssl_context_t *ctx,
                                 bool server_side, const char *name,
                                 const asyncio_stream_opts_t *opts, const char *early,
                                 size_t early_len);
int asyncio__transport_tls_finish(asyncio__task_t *task, asyncio__transport_t *t);
int asyncio__transport_start_tls(asyncio__task_t *task, asyncio__transport_t *t,
                                 asyncio__ssl_context_t *ctx, bool server_side,
                                 const asyncio_stream_opts_t *opts, const char *early,
                                 size_t early_len);

/* What the TLS layer calls back in the transport (transport.c). */
void asyncio__transport_raw_write(asyncio__transport_t *t, const void *data, size_t len);
size_t asyncio__transport_read_buffer(asyncio__transport_t *t, char **buf);
void asyncio__transport_deliver(asyncio__transport_t *t, const char *data, size_t len);
void asyncio__transport_app_eof(asyncio__transport_t *t);
void asyncio__transport_tls_done(asyncio__transport_t *t);
/* Starts reading the socket if the layer needs it (handshake, shutdown). */
void asyncio__transport_read_for_tls(asyncio__transport_t *t);

/* An SSLError (or the given type of the family) from OpenSSL's error
 * queue, which it empties: "[SSL: REASON] reason: context". */
asyncio__exc_t *asyncio__ssl_error(const char *type, const char *fmt, ...) ASYNCIO_PRINTF(2, 3);

#endif /* CASYNCIO_NET_NET_H */
