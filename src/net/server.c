/*
 * Servers: asyncio.start_server (a task per connection, streams) and
 * loop.create_server (a protocol per connection, no task), over TCP or a
 * Unix socket.
 *
 * A server has one listening handle per address, each in its own
 * allocation (freed by its close callback), and a list of the connections
 * it accepted.  The server's memory goes once its owner freed it and every
 * listening handle is closed; connections still open are detached first.
 * The caller names it by its handle (net.h), live until asyncio_server_free.
 */
#include "net/net.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/un.h>

typedef struct asyncio__server server_t;

typedef struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    server_t *srv;
} listener_t;

struct asyncio__server {
    void *handle; /* what the caller holds (handle.h); retired by asyncio_server_free */
    bool pipe;
    bool closed;
    bool freed;
    asyncio_loop_t *loop;
    asyncio_stream_handler_fn handler; /* streams server */
    const asyncio_protocol_t *proto;   /* protocol server */
    void *arg;
    size_t limit;
    listener_t **ls;
    size_t nls;
    size_t nopen; /* listening handles not yet closed */
    asyncio__list_t conns;
    size_t nconns;
    asyncio_future_t *forever;
    asyncio__waitq_t waiters; /* tasks in wait_closed */
    /* Accepts and closes a connection no memory could be found for:
     * libuv stops listening until the connection it holds is taken. */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } reject;
    bool rejecting;
    asyncio__closer_t closer;
    /* TLS: each accepted connection's handshake comes before its handler
     * or connection_made (referenced until the memory goes). */
    asyncio__ssl_context_t *ssl;
    double ssl_handshake_timeout, ssl_shutdown_timeout;
    /* The context current when it was made: Python accepts in a Handle
     * that runs in a copy of it, so every connection's protocol and
     * handler task start from it. */
    asyncio__cnode_t *ctxmap;
};

/* A live server, else NULL with ValueError raised ("the server is NULL",
 * "not a live server (freed, or never one)"). */
static server_t *checked(asyncio_server_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_SERVER, "server");
}

/* A live server, else NULL (nothing raised). */
static server_t *found(asyncio_server_t *handle)
{
    return asyncio__handle_get(handle, ASYNCIO__H_SERVER);
}

static void server_free_memory(server_t *srv)
{
    asyncio__ssl_context_unref(srv->ssl);
    asyncio__cnode_decref(srv->ctxmap);
    asyncio__handle_retire(srv->handle); /* asyncio_server_free retired it already */
    asyncio__list_remove(&srv->closer.link);
    asyncio_decref(srv->forever);
    asyncio__free(srv->ls);
    asyncio__free(srv);
}

static void maybe_wake_closed(server_t *srv)
{
    if (srv->closed && srv->nconns == 0)
        asyncio__transport_wake_all(&srv->waiters);
}

static void listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    server_t *srv = l->srv;
    asyncio__free(l);
    if (--srv->nopen == 0 && srv->freed)
        server_free_memory(srv);
}

static void reject_closed(uv_handle_t *h)
{
    server_t *srv = h->data;
    srv->rejecting = false;
    if (--srv->nopen == 0 && srv->freed)
        server_free_memory(srv);
}

static void reject(server_t *srv, uv_stream_t *lst)
{
    if (srv->rejecting)
        return; /* the next try will find it */
    int rc = srv->pipe ? uv_pipe_init(&srv->loop->uv, &srv->reject.pipe, 0)
                       : uv_tcp_init(&srv->loop->uv, &srv->reject.tcp);
    if (rc < 0)
        return;
    srv->reject.handle.data = srv;
    srv->rejecting = true;
    srv->nopen++;
    uv_accept(lst, &srv->reject.stream);
    uv_close(&srv->reject.handle, reject_closed);
}

/* A connection's handle closed (the transport's on_gone). */
static void conn_gone(asyncio__transport_t *t)
{
    server_t *srv = t->server;
    asyncio__list_remove(&t->server_link);
    t->server = NULL;
    t->on_gone = NULL;
    srv->nconns--;
    maybe_wake_closed(srv);
}

/* The connection is ready for its protocol: the stream's handler task
 * starts, or the protocol's connection_made is called. */
static void conn_start(server_t *srv, asyncio__transport_t *t)
{
    asyncio__stream_t *s = srv->handler ? asyncio__stream_of(t) : NULL;
    if (!s) {
        asyncio__transport_made(t);
        return;
    }
    if (!asyncio__stream_serve(s, srv->handler, srv->arg)) {
        asyncio__report(srv->loop, "Error starting a connection's task", asyncio_error(), NULL);
        asyncio_error_clear();
    }
}

/* An accepted connection's TLS handshake ended.  A failure is reported as
 * Python 3.11 reports it: an OSError (SSLError included: a scanner, a
 * client refusing the certificate, one that went away) only in debug
 * mode, as "Error on transport creation for incoming connection"; any
 * other error always, as "SSL handshake failed".  The connection, which
 * no protocol saw, goes. */
static void conn_handshake_done(asyncio__transport_t *t, asyncio__exc_t *error)
{
    server_t *srv = t->server;
    if (!error) {
        if (srv && !srv->closed)
            conn_start(srv, t);
        else
            asyncio__transport_force_close(t, NULL);
        return;
    }
    if (t->loop->debug)
        asyncio__report(t->loop, "Error on transport creation for incoming connection",
                        &error->pub, NULL);
    else if (!asyncio__exc_matches(&error->pub, "OSError"))
        asyncio__report(t->loop, "SSL handshake failed", &error->pub, NULL);
    asyncio__exc_free(error);
    if (t->holds & ASYNCIO__HOLD_OWNER) /* the stream no handler will have */
        asyncio__transport_release(t, ASYNCIO__HOLD_OWNER);
}

static void accept_one(server_t *srv, uv_stream_t *lst)
{
    int kind = srv->pipe ? ASYNCIO__KIND_PIPE : ASYNCIO__KIND_TCP;
    asyncio__stream_t *s = NULL;
    asyncio__transport_t *t;
    if (srv->handler) {
        s = asyncio__stream_alloc(srv->loop, kind, srv->limit);
        t = s ? asyncio__stream_transport(s) : NULL;
    } else {
        t = asyncio__transport_new(srv->loop, kind, srv->proto, srv->arg);
    }
    if (!t) {
        asyncio__report(srv->loop, "Error accepting a connection", asyncio_error(), NULL);
        asyncio_error_clear();
        reject(srv, lst);
        return;
    }
    int rc = uv_accept(lst, &t->h.stream);
    if (rc < 0) {
        asyncio__transport_force_close(t, NULL);
        if (s)
            asyncio__transport_release(t, ASYNCIO__HOLD_OWNER);
        return;
    }
    t->server = srv;
    t->on_gone = conn_gone;
    asyncio__list_insert(&srv->conns, &t->server_link);
    srv->nconns++;
    if (!srv->ssl) {
        conn_start(srv, t);
        return;
    }
    t->tls = asyncio__tls_new(t, srv->ssl, true, NULL, srv->ssl_handshake_timeout,
                              srv->ssl_shutdown_timeout);
    if (!t->tls) {
        asyncio__report(srv->loop, "Error accepting a connection", asyncio_error(), NULL);
        asyncio_error_clear();
        asyncio__transport_force_close(t, NULL);
        if (s)
            asyncio__transport_release(t, ASYNCIO__HOLD_OWNER);
        return;
    }
    asyncio__tls_start(t->tls, conn_handshake_done, NULL, 0);
}

/* The connection is accepted in a copy of the server's context (a copy:
 * an exception handler called from in there may set variables): its
 * transport keeps a copy (asyncio__transport_init), and a stream's
 * handler task is made in that (asyncio__stream_serve). */
static void on_connection(uv_stream_t *lst, int status)
{
    listener_t *l = lst->data;
    server_t *srv = l->srv;
    if (status < 0 || srv->closed)
        return;
    asyncio__context_t c = {srv->ctxmap, 0};
    ASYNCIO__CALLBACK_ONCE(&c, accept_one(srv, lst));
}

static void close_listeners(server_t *srv)
{
    for (size_t i = 0; i < srv->nls; i++)
        if (srv->ls[i] && !uv_is_closing(&srv->ls[i]->h.handle))
            uv_close(&srv->ls[i]->h.handle, listener_closed);
}

static void detach_conns(server_t *srv)
{
    while (!asyncio__list_empty(&srv->conns)) {
        asyncio__transport_t *t =
            asyncio__container_of(srv->conns.next, asyncio__transport_t, server_link);
        asyncio__list_remove(&t->server_link);
        t->server = NULL;
        t->on_gone = NULL;
    }
    srv->nconns = 0;
}

static void closer_run(asyncio__closer_t *c)
{
    server_t *srv = asyncio__container_of(c, server_t, closer);
    srv->closed = true;
    close_listeners(srv);
    detach_conns(srv);
    /* The memory stays for asyncio_server_free, which the caller still
     * calls (a late free must be no use after free). */
}

/* Python's words for an address that cannot be bound: "[Errno 98] error
 * while attempting to bind on address ('127.0.0.1', 8888): address already
 * in use"; for a Unix socket "[Errno 98] Address '/p' is already in use",
 * else the system's text and the path. */
static int bind_failed(int rc, const struct sockaddr *addr, const char *path)
{
    if (path) {
        if (rc == UV_EADDRINUSE)
            asyncio__raise_exc(asyncio__os_error(rc, "Address '%s' is already in use", path));
        else
            asyncio_raise_uv(rc, "'%s'", path);
        return rc;
    }
    char text[128];
    snprintf(text, sizeof text, "%s", rc > -3000 ? strerror(-rc) : asyncio_strerror(rc));
    for (char *p = text; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    asyncio_sockaddr_t a;
    asyncio__sockaddr_from(&a, addr);
    asyncio__raise_exc(asyncio__os_error(
        rc, "error while attempting to bind on address ('%s', %d): %s", a.host, a.port, text));
    return rc;
}

static int add_listener(server_t *srv, const struct sockaddr *addr, const char *path,
                        const asyncio_stream_opts_t *opts)
{
    listener_t *l = asyncio__calloc(1, sizeof *l);
    listener_t **ls = l ? asyncio__realloc(srv->ls, (srv->nls + 1) * sizeof *ls) : NULL;
    if (!ls) {
        asyncio__free(l);
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a listening socket");
    }
    srv->ls = ls;
    l->srv = srv;
    l->h.handle.data = l;
    int rc = path ? uv_pipe_init(&srv->loop->uv, &l->h.pipe, 0)
                  : uv_tcp_init_ex(&srv->loop->uv, &l->h.tcp, addr->sa_family);
    if (rc < 0) {
        asyncio__free(l);
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    srv->ls[srv->nls++] = l;
    srv->nopen++;
    if (path) {
        rc = uv_pipe_bind(&l->h.pipe, path);
    } else {
        if (opts && opts->reuse_port) {
            uv_os_fd_t fd;
            int on = 1;
            rc = uv_fileno(&l->h.handle, &fd);
            if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
                rc = uv_translate_sys_error(errno);
        }
        if (rc == 0)
            rc = uv_tcp_bind(&l->h.tcp, addr, addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    }
    if (rc == 0)
        rc = uv_listen(&l->h.stream, opts && opts->backlog ? opts->backlog : 100, on_connection);
    if (rc < 0)
        return bind_failed(rc, addr, path);
    return 0;
}

/* Phase 1: a server with its handle that does not listen yet, or NULL
 * (raised). */
static server_t *server_new(asyncio_loop_t *loop, asyncio_stream_handler_fn handler,
                            const asyncio_protocol_t *proto, void *arg, bool pipe,
                            const asyncio_stream_opts_t *opts)
{
    server_t *srv = asyncio__calloc(1, sizeof *srv);
    if (!srv) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a server");
        return NULL;
    }
    if (!asyncio__handle_give(srv, &srv->handle, ASYNCIO__H_SERVER))
        return NULL;
    srv->pipe = pipe;
    srv->loop = loop;
    srv->handler = handler;
    srv->proto = proto;
    srv->arg = arg;
    srv->limit = opts ? opts->limit : 0;
    srv->ctxmap = asyncio__context_capture();
    asyncio__list_init(&srv->conns);
    asyncio__waitq_init(&srv->waiters);
    srv->closer.close = closer_run;
    asyncio__list_init(&srv->closer.link);
    return srv;
}

/* Phase 2, sock=: listens on the caller's socket (kind: its
 * ASYNCIO__KIND_*), which the listener owns from then on; a failure before
 * closes it. */
static int listen_sock(server_t *srv, int kind, const asyncio_stream_opts_t *opts)
{
    listener_t *l = asyncio__calloc(1, sizeof *l);
    listener_t **ls = l ? asyncio__realloc(srv->ls, sizeof *ls) : NULL;
    if (!ls) {
        asyncio__free(l);
        return asyncio__sock_consumed(
            opts, asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a listening socket"));
    }
    srv->ls = ls;
    l->srv = srv;
    l->h.handle.data = l;
    if (kind == ASYNCIO__KIND_TCP)
        uv_tcp_init(&srv->loop->uv, &l->h.tcp);
    else
        uv_pipe_init(&srv->loop->uv, &l->h.pipe, 0);
    srv->ls[srv->nls++] = l;
    srv->nopen++;
    int rc = asyncio__sock_open(&l->h.handle, kind, opts->sock);
    if (rc)
        return rc;
    /* As Python's _start_serving: listen() again, with the backlog. */
    rc = uv_listen(&l->h.stream, opts->backlog ? opts->backlog : 100, on_connection);
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    return 0;
}

/* Phase 2, a Unix socket: listens on path.  As Python, a socket file left
 * at the path (a server that is gone) is removed; any other file makes
 * bind fail. */
static int listen_unix(server_t *srv, const char *path, const asyncio_stream_opts_t *opts)
{
    if (!asyncio__unix_path_fits(path))
        return asyncio_error()->code;
    struct stat st;
    if (path[0] && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return add_listener(srv, NULL, path, opts);
}

/* Phase 2, TCP: listens on every address of host:port. */
static int listen_tcp(asyncio__task_t *task, server_t *srv, const char *host, int port,
                      const asyncio_stream_opts_t *opts)
{
    struct addrinfo *res = NULL;
    int rc = asyncio__resolve_tcp(task, host, port, opts ? opts->family : 0, AI_PASSIVE, &res);
    for (struct addrinfo *ai = res; rc == 0 && ai; ai = ai->ai_next)
        rc = add_listener(srv, ai->ai_addr, NULL, opts);
    uv_freeaddrinfo(res);
    return rc;
}

/* The constructors' arguments: 0, or ValueError raised. */
static int checks(const char *name, bool is_unix, asyncio_stream_handler_fn handler,
                  const asyncio_protocol_t *proto, int port, const char *path,
                  const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    bool use_sock = opts && opts->use_sock;
    if (!handler && !proto)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s is NULL",
                                   strstr(name, "start") ? "handler" : "protocol");
    if (is_unix && !path && !use_sock)
        return asyncio__raise_code(ASYNCIO_EVALUE, "path is NULL");
    if (!server)
        return asyncio__raise_code(ASYNCIO_EVALUE, "server is NULL");
    if (!is_unix && !asyncio__port_ok(port))
        return ASYNCIO_EVALUE;
    if (opts && opts->backlog < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "backlog must not be negative");
    return 0;
}

/* The four constructors (name: Python's, for the message outside a task;
 * is_unix: a path was expected).  Checks the arguments, makes the server,
 * listens, registers it. */
static int start(const char *name, bool is_unix, asyncio_stream_handler_fn handler,
                 const asyncio_protocol_t *proto, void *arg, const char *host, int port,
                 const char *path, const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    if (server)
        *server = NULL;
    bool use_sock = opts && opts->use_sock;
    int kind = is_unix ? ASYNCIO__KIND_PIPE : ASYNCIO__KIND_TCP;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return asyncio__sock_consumed(opts, ASYNCIO_ERUNTIME);
    int rc = checks(name, is_unix, handler, proto, port, path, opts, server);
    if (rc == 0 && use_sock)
        rc = asyncio__sock_check(opts, host, port, path, is_unix, &kind);
    asyncio__ssl_context_t *ssl = NULL;
    if (rc == 0)
        rc = asyncio__tls_check(opts ? opts->ssl : NULL, opts, true, NULL, &ssl);
    if (rc)
        return asyncio__sock_consumed(opts, rc);
    asyncio_loop_t *loop = task->fut.loop;

    /* 1. The server. */
    server_t *srv =
        server_new(loop, handler, proto, arg, kind == ASYNCIO__KIND_PIPE, opts);
    if (!srv)
        return asyncio__sock_consumed(opts, ASYNCIO_ENOMEM);
    if (ssl) {
        srv->ssl = asyncio__ssl_context_ref(ssl);
        srv->ssl_handshake_timeout = opts->ssl_handshake_timeout;
        srv->ssl_shutdown_timeout = opts->ssl_shutdown_timeout;
    }

    /* 2. Its listening sockets. */
    rc = use_sock  ? listen_sock(srv, kind, opts)
         : is_unix ? listen_unix(srv, path, opts)
                   : listen_tcp(task, srv, host, port, opts);
    if (rc)
        goto fail_listen;

    /* 3. Closed with the loop. */
    asyncio__list_insert(&loop->closers, &srv->closer.link);
    *server = srv->handle;
    return 0;

fail_listen:
    /* The listeners made so far close; the memory goes with the last. */
    asyncio__handle_retire(srv->handle);
    srv->closed = srv->freed = true;
    close_listeners(srv);
    if (srv->nopen == 0)
        server_free_memory(srv);
    return rc;
}

int asyncio_start_server(asyncio_stream_handler_fn handler, void *arg, const char *host, int port,
                         const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    return start("start_server", false, handler, NULL, arg, host, port, NULL, opts, server);
}

int asyncio_start_unix_server(asyncio_stream_handler_fn handler, void *arg, const char *path,
                              const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    return start("start_unix_server", true, handler, NULL, arg, NULL, 0, path, opts, server);
}

int asyncio_create_server(const asyncio_protocol_t *proto, void *arg, const char *host, int port,
                          const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    return start("create_server", false, NULL, proto, arg, host, port, NULL, opts, server);
}

int asyncio_create_unix_server(const asyncio_protocol_t *proto, void *arg, const char *path,
                               const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    return start("create_unix_server", true, NULL, proto, arg, NULL, 0, path, opts, server);
}

/* close() and close_clients(); nothing with NULL (a handle not live). */
static void server_close(server_t *srv)
{
    if (!srv || srv->closed)
        return;
    srv->closed = true;
    close_listeners(srv);
    /* As Python: serve_forever ends with CancelledError. */
    if (srv->forever && srv->forever->state == ASYNCIO__PENDING)
        asyncio__future_cancel(srv->forever, NULL);
    maybe_wake_closed(srv);
}

static void close_clients(server_t *srv)
{
    if (!srv)
        return;
    for (asyncio__list_t *n = srv->conns.next; n != &srv->conns; n = n->next) {
        asyncio__transport_t *t = asyncio__container_of(n, asyncio__transport_t, server_link);
        if (srv->handler)
            asyncio__stream_cancel_handler(asyncio__stream_of(t));
        asyncio__transport_close(t);
    }
}

void asyncio_server_close(asyncio_server_t *handle)
{
    server_close(found(handle));
}

void asyncio_server_close_clients(asyncio_server_t *handle)
{
    close_clients(found(handle));
}

/* What a task waits on in a server, for task dumps. */
static void describe_server(const void *obj, char *buf, size_t len)
{
    const server_t *srv = obj;
    snprintf(buf, len, "<Server %p sockets=%zu connections=%zu%s>", srv->handle, srv->nopen,
             srv->nconns, srv->closed ? " closed" : "");
}

static const asyncio__wait_kind_t wait_closed_wait = {"Server.wait_closed()", describe_server};
static const asyncio__wait_kind_t forever_wait = {"Server.serve_forever()", describe_server};

static int wait_closed(asyncio__task_t *task, server_t *srv)
{
    if (srv->closed && srv->nconns == 0)
        return 0;
    asyncio__task_waits_for(task, &wait_closed_wait, srv);
    return asyncio__transport_wait(task, &srv->waiters);
}

/* The start of the calls that suspend: the live server, or NULL with the
 * error raised (RuntimeError outside a task, then ValueError). */
static server_t *enter(asyncio_server_t *handle, asyncio__task_t **task)
{
    *task = asyncio__task_or_raise();
    return *task ? checked(handle) : NULL;
}

int asyncio_server_wait_closed(asyncio_server_t *handle)
{
    asyncio__task_t *task;
    server_t *srv = enter(handle, &task);
    return srv ? wait_closed(task, srv) : asyncio_error()->code;
}

int asyncio_server_serve_forever(asyncio_server_t *handle)
{
    asyncio__task_t *task;
    server_t *srv = enter(handle, &task);
    if (!srv)
        return asyncio_error()->code;
    if (srv->forever)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "server is already being awaited on serve_forever()");
    if (srv->closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "server is closed");
    asyncio_future_t *f = asyncio__future_new(srv->loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    srv->forever = f;
    asyncio__task_waits_for(task, &forever_wait, srv);
    int rc = asyncio__task_wait_private(task, f);
    srv->forever = NULL;
    asyncio_decref(f);
    if (rc == ASYNCIO_ECANCELLED) {
        /* Python: close, wait for the connections, re-raise. */
        asyncio__exc_t *e = asyncio__take_raised();
        server_close(srv);
        wait_closed(task, srv);
        asyncio__raise_exc(e);
    }
    return rc;
}

bool asyncio_server_is_serving(asyncio_server_t *handle)
{
    server_t *srv = found(handle);
    return srv && !srv->closed;
}

size_t asyncio_server_nsockets(asyncio_server_t *handle)
{
    server_t *srv = found(handle);
    return srv && !srv->closed ? srv->nls : 0;
}

int asyncio_server_sockname(asyncio_server_t *handle, size_t i, asyncio_sockaddr_t *addr)
{
    if (addr)
        memset(addr, 0, sizeof *addr);
    server_t *srv = checked(handle);
    if (!srv)
        return ASYNCIO_EVALUE;
    if (!addr)
        return asyncio__raise_code(ASYNCIO_EVALUE, "addr is NULL");
    if (srv->closed || i >= srv->nls)
        return asyncio__raise_code(ASYNCIO_EVALUE, "no socket %zu: the server has %zu", i,
                                   srv->closed ? (size_t)0 : srv->nls);
    listener_t *l = srv->ls[i];
    int rc;
    if (srv->pipe) {
        asyncio_sockaddr_t a = {.family = AF_UNIX};
        size_t len = sizeof a.host;
        rc = uv_pipe_getsockname(&l->h.pipe, a.host, &len);
        if (rc == 0) {
            a.host[len < sizeof a.host ? len : sizeof a.host - 1] = '\0';
            *addr = a;
        }
    } else {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        rc = uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len);
        if (rc == 0)
            asyncio__sockaddr_from(addr, (struct sockaddr *)&ss);
    }
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    return 0;
}

void asyncio_server_free(asyncio_server_t *handle)
{
    if (!handle)
        return;
    server_t *srv = checked(handle);
    if (!srv)
        return;
    if (srv->forever || !asyncio__waitq_empty(&srv->waiters)) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "a task waits on the server");
        return;
    }
    /* Not live from now on, although the memory stays until the
     * listening sockets are closed. */
    asyncio__handle_retire(handle);
    server_close(srv);
    close_clients(srv);
    detach_conns(srv);
    srv->freed = true;
    if (srv->nopen == 0)
        server_free_memory(srv);
}
