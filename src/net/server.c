/*
 * Servers: asyncio.start_server (a task per connection, streams) and
 * loop.create_server (a protocol per connection, no task), over TCP or a
 * Unix socket.
 *
 * A server has one listening handle per address, each in its own
 * allocation (freed by its close callback), and a list of the connections
 * it accepted.  The server's memory goes once its owner freed it and every
 * listening handle is closed; connections still open are detached first.
 */
#include "net/net.h"

#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

typedef struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    asyncio_server_t *srv;
} listener_t;

struct asyncio_server {
    uint32_t magic;
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
};

static bool check(asyncio_server_t *srv, const char *who)
{
    if (!srv) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: server is NULL", who);
        return false;
    }
    if (srv->magic != ASYNCIO__SERVER_MAGIC) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: not a live server", who);
        return false;
    }
    return true;
}

static void server_free_memory(asyncio_server_t *srv)
{
    asyncio__list_remove(&srv->closer.link);
    asyncio_decref(srv->forever);
    asyncio__free(srv->ls);
    srv->magic = ASYNCIO__DEAD_MAGIC;
    asyncio__free(srv);
}

static void maybe_wake_closed(asyncio_server_t *srv)
{
    if (srv->closed && srv->nconns == 0)
        asyncio__transport_wake_all(&srv->waiters);
}

static void listener_closed(uv_handle_t *h)
{
    listener_t *l = h->data;
    asyncio_server_t *srv = l->srv;
    asyncio__free(l);
    if (--srv->nopen == 0 && srv->freed)
        server_free_memory(srv);
}

static void reject_closed(uv_handle_t *h)
{
    asyncio_server_t *srv = h->data;
    srv->rejecting = false;
    if (--srv->nopen == 0 && srv->freed)
        server_free_memory(srv);
}

static void reject(asyncio_server_t *srv, uv_stream_t *lst)
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
static void conn_gone(asyncio_transport_t *t)
{
    asyncio_server_t *srv = t->server;
    asyncio__list_remove(&t->server_link);
    t->server = NULL;
    t->on_gone = NULL;
    srv->nconns--;
    maybe_wake_closed(srv);
}

static void on_connection(uv_stream_t *lst, int status)
{
    listener_t *l = lst->data;
    asyncio_server_t *srv = l->srv;
    if (status < 0 || srv->closed)
        return;
    int kind = srv->pipe ? ASYNCIO__KIND_PIPE : ASYNCIO__KIND_TCP;
    asyncio_stream_t *s = NULL;
    asyncio_transport_t *t;
    if (srv->handler) {
        s = asyncio__stream_alloc(srv->loop, kind, srv->limit);
        t = s ? asyncio__stream_get_transport(s) : NULL;
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
    if (s) {
        if (!asyncio__stream_serve(s, srv->handler, srv->arg)) {
            asyncio__report(srv->loop, "Error starting a connection's task", asyncio_error(), NULL);
            asyncio_error_clear();
        }
        return;
    }
    asyncio__transport_made(t);
}

static void close_listeners(asyncio_server_t *srv)
{
    for (size_t i = 0; i < srv->nls; i++)
        if (srv->ls[i] && !uv_is_closing(&srv->ls[i]->h.handle))
            uv_close(&srv->ls[i]->h.handle, listener_closed);
}

static void detach_conns(asyncio_server_t *srv)
{
    while (!asyncio__list_empty(&srv->conns)) {
        asyncio_transport_t *t =
            asyncio__container_of(srv->conns.next, asyncio_transport_t, server_link);
        asyncio__list_remove(&t->server_link);
        t->server = NULL;
        t->on_gone = NULL;
    }
    srv->nconns = 0;
}

static void closer_run(asyncio__closer_t *c)
{
    asyncio_server_t *srv = asyncio__container_of(c, asyncio_server_t, closer);
    srv->closed = true;
    close_listeners(srv);
    detach_conns(srv);
    /* The memory stays for asyncio_server_free, which the caller still
     * calls (a late free must be no use after free). */
}

static int add_listener(asyncio_server_t *srv, const struct sockaddr *addr, const char *path,
                        const asyncio_stream_opts_t *opts, const char *who)
{
    listener_t *l = asyncio__calloc(1, sizeof *l);
    listener_t **ls = l ? asyncio__realloc(srv->ls, (srv->nls + 1) * sizeof *ls) : NULL;
    if (!ls) {
        asyncio__free(l);
        return asyncio__raise_code(ASYNCIO_ENOMEM, "%s", who);
    }
    srv->ls = ls;
    l->srv = srv;
    l->h.handle.data = l;
    int rc = path ? uv_pipe_init(&srv->loop->uv, &l->h.pipe, 0)
                  : uv_tcp_init_ex(&srv->loop->uv, &l->h.tcp, addr->sa_family);
    if (rc < 0) {
        asyncio__free(l);
        asyncio_raise_uv(rc, "%s: creating a socket", who);
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
    if (rc < 0) {
        if (path) {
            asyncio_raise_uv(rc, "error while attempting to bind on address '%s'", path);
        } else {
            asyncio_sockaddr_t a;
            asyncio__sockaddr_from(&a, addr);
            asyncio_raise_uv(rc, "error while attempting to bind on address ('%s', %d)", a.host,
                             a.port);
        }
        return rc;
    }
    return 0;
}

/* Phase 1: a server that does not listen yet, or NULL (raised). */
static asyncio_server_t *server_new(asyncio_loop_t *loop, asyncio_stream_handler_fn handler,
                                    const asyncio_protocol_t *proto, void *arg, bool pipe,
                                    const asyncio_stream_opts_t *opts, const char *who)
{
    asyncio_server_t *srv = asyncio__calloc(1, sizeof *srv);
    if (!srv) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "%s", who);
        return NULL;
    }
    srv->magic = ASYNCIO__SERVER_MAGIC;
    srv->pipe = pipe;
    srv->loop = loop;
    srv->handler = handler;
    srv->proto = proto;
    srv->arg = arg;
    srv->limit = opts ? opts->limit : 0;
    asyncio__list_init(&srv->conns);
    asyncio__waitq_init(&srv->waiters);
    srv->closer.close = closer_run;
    asyncio__list_init(&srv->closer.link);
    return srv;
}

/* Phase 2, a Unix socket: listens on path.  As Python, a socket file left
 * at the path (a server that is gone) is removed; any other file makes
 * bind fail. */
static int listen_unix(asyncio_server_t *srv, const char *path, const asyncio_stream_opts_t *opts,
                       const char *who)
{
    if (!asyncio__unix_path_fits(path))
        return asyncio_error()->code;
    struct stat st;
    if (path[0] && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return add_listener(srv, NULL, path, opts, who);
}

/* Phase 2, TCP: listens on every address of host:port. */
static int listen_tcp(asyncio__task_t *task, asyncio_server_t *srv, const char *host, int port,
                      const asyncio_stream_opts_t *opts, const char *who)
{
    struct addrinfo *res = NULL;
    int rc = asyncio__resolve_tcp(task, host, port, opts ? opts->family : 0, AI_PASSIVE, &res, who);
    for (struct addrinfo *ai = res; rc == 0 && ai; ai = ai->ai_next)
        rc = add_listener(srv, ai->ai_addr, NULL, opts, who);
    uv_freeaddrinfo(res);
    return rc;
}

/* Checks the arguments, makes the server, listens, registers it. */
static int start(asyncio_stream_handler_fn handler, const asyncio_protocol_t *proto, void *arg,
                 const char *host, int port, const char *path, const asyncio_stream_opts_t *opts,
                 asyncio_server_t **server, const char *who)
{
    asyncio__task_t *task = asyncio__require_task(who);
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!handler && !proto)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: %s is NULL", who,
                                   proto ? "handler" : "protocol");
    if (!server)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: server is NULL", who);
    if (!path && (port < 0 || port > 65535))
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: port %d is out of range", who, port);
    if (opts && opts->backlog < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: backlog %d is negative", who,
                                   opts->backlog);
    asyncio_loop_t *loop = task->fut.loop;
    int rc;

    /* 1. The server. */
    asyncio_server_t *srv = server_new(loop, handler, proto, arg, path != NULL, opts, who);
    if (!srv)
        return ASYNCIO_ENOMEM;

    /* 2. Its listening sockets. */
    rc = path ? listen_unix(srv, path, opts, who) : listen_tcp(task, srv, host, port, opts, who);
    if (rc)
        goto fail_listen;

    /* 3. Closed with the loop. */
    asyncio__list_insert(&loop->closers, &srv->closer.link);
    *server = srv;
    return 0;

fail_listen:
    /* The listeners made so far close; the memory goes with the last. */
    srv->closed = srv->freed = true;
    close_listeners(srv);
    if (srv->nopen == 0)
        server_free_memory(srv);
    return rc;
}

int asyncio_start_server(asyncio_stream_handler_fn handler, void *arg, const char *host, int port,
                         const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    if (!handler) {
        if (!asyncio__require_task("asyncio_start_server"))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_start_server: handler is NULL");
    }
    return start(handler, NULL, arg, host, port, NULL, opts, server, "asyncio_start_server");
}

int asyncio_start_unix_server(asyncio_stream_handler_fn handler, void *arg, const char *path,
                              const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    if (!handler || !path) {
        if (!asyncio__require_task("asyncio_start_unix_server"))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_start_unix_server: %s is NULL",
                                   handler ? "path" : "handler");
    }
    return start(handler, NULL, arg, NULL, 0, path, opts, server, "asyncio_start_unix_server");
}

int asyncio_create_server(const asyncio_protocol_t *proto, void *arg, const char *host, int port,
                          const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    if (!proto) {
        if (!asyncio__require_task("asyncio_create_server"))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_create_server: protocol is NULL");
    }
    return start(NULL, proto, arg, host, port, NULL, opts, server, "asyncio_create_server");
}

int asyncio_create_unix_server(const asyncio_protocol_t *proto, void *arg, const char *path,
                               const asyncio_stream_opts_t *opts, asyncio_server_t **server)
{
    if (!proto || !path) {
        if (!asyncio__require_task("asyncio_create_unix_server"))
            return ASYNCIO_ERUNTIME;
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_create_unix_server: %s is NULL",
                                   proto ? "path" : "protocol");
    }
    return start(NULL, proto, arg, NULL, 0, path, opts, server, "asyncio_create_unix_server");
}

void asyncio_server_close(asyncio_server_t *srv)
{
    if (!srv || srv->magic != ASYNCIO__SERVER_MAGIC || srv->closed)
        return;
    srv->closed = true;
    close_listeners(srv);
    /* As Python: serve_forever ends with CancelledError. */
    if (srv->forever && srv->forever->state == ASYNCIO__PENDING)
        asyncio__future_cancel(srv->forever, NULL);
    maybe_wake_closed(srv);
}

void asyncio_server_close_clients(asyncio_server_t *srv)
{
    if (!srv || srv->magic != ASYNCIO__SERVER_MAGIC)
        return;
    for (asyncio__list_t *n = srv->conns.next; n != &srv->conns; n = n->next) {
        asyncio_transport_t *t = asyncio__container_of(n, asyncio_transport_t, server_link);
        if (srv->handler)
            asyncio__stream_cancel_handler(asyncio__stream_of(t));
        asyncio_transport_close(t);
    }
}

int asyncio_server_wait_closed(asyncio_server_t *srv)
{
    asyncio__task_t *task = asyncio__require_task("asyncio_server_wait_closed");
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!check(srv, "asyncio_server_wait_closed"))
        return ASYNCIO_EVALUE;
    if (srv->closed && srv->nconns == 0)
        return 0;
    return asyncio__transport_wait(task, &srv->waiters);
}

int asyncio_server_serve_forever(asyncio_server_t *srv)
{
    asyncio__task_t *task = asyncio__require_task("asyncio_server_serve_forever");
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!check(srv, "asyncio_server_serve_forever"))
        return ASYNCIO_EVALUE;
    if (srv->forever)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "server is already being awaited on serve_forever()");
    if (srv->closed)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "server is closed");
    asyncio_future_t *f = asyncio__future_new(srv->loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    srv->forever = f;
    int rc = asyncio__task_wait_private(task, f);
    srv->forever = NULL;
    asyncio_decref(f);
    if (rc == ASYNCIO_ECANCELLED) {
        /* Python: close, wait for the connections, re-raise. */
        asyncio__exc_t *e = asyncio__take_raised();
        asyncio_server_close(srv);
        asyncio_server_wait_closed(srv);
        asyncio__raise_exc(e);
    }
    return rc;
}

bool asyncio_server_is_serving(asyncio_server_t *srv)
{
    return srv && srv->magic == ASYNCIO__SERVER_MAGIC && !srv->closed;
}

size_t asyncio_server_nsockets(asyncio_server_t *srv)
{
    return srv && srv->magic == ASYNCIO__SERVER_MAGIC && !srv->closed ? srv->nls : 0;
}

int asyncio_server_sockname(asyncio_server_t *srv, size_t i, asyncio_sockaddr_t *addr)
{
    if (!check(srv, "asyncio_server_sockname"))
        return ASYNCIO_EVALUE;
    if (!addr)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_server_sockname: addr is NULL");
    if (srv->closed || i >= srv->nls)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_server_sockname: no socket %zu", i);
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
        asyncio_raise_uv(rc, "asyncio_server_sockname");
        return rc;
    }
    return 0;
}

void asyncio_server_free(asyncio_server_t *srv)
{
    if (!srv || !check(srv, "asyncio_server_free"))
        return;
    if (srv->forever || !asyncio__waitq_empty(&srv->waiters)) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "asyncio_server_free: a task waits on the server");
        return;
    }
    asyncio_server_close(srv);
    asyncio_server_close_clients(srv);
    detach_conns(srv);
    srv->freed = true;
    /* Not live from now on, although the memory stays until the
     * listening sockets are closed. */
    srv->magic = ASYNCIO__DEAD_MAGIC;
    if (srv->nopen == 0)
        server_free_memory(srv);
}
