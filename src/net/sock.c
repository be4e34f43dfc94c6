/*
 * The loop's calls on sockets the caller made: loop.sock_recv,
 * sock_recv_into, sock_recvfrom(_into), sock_sendall, sock_sendto,
 * sock_connect, sock_accept.
 *
 * Each is Python's: the system call first, and while it would block, a
 * wait for the socket (fdwatch.c) and the call again.  The wait is the
 * only suspension (sock_connect also resolves a name first); cancelling
 * it leaves nothing watching the socket.  The socket stays the caller's
 * throughout.
 */
#define _GNU_SOURCE /* accept4 */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The system call failed with errno: its OSError raised, code returned. */
static int raise_errno(int err)
{
    int code = uv_translate_sys_error(err);
    asyncio_raise_uv(code, NULL);
    return code;
}

static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

/* The checks every call starts with: a task (returned), a descriptor, and
 * a non-blocking one; NULL with the error raised. */
static asyncio__task_t *enter(int sock)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return NULL;
    if (sock < 0) {
        asyncio__raise_code(ASYNCIO_EVALUE, "Invalid file descriptor: %d", sock);
        return NULL;
    }
    int flags = fcntl(sock, F_GETFL);
    if (flags < 0) {
        raise_errno(errno);
        return NULL;
    }
    if (!(flags & O_NONBLOCK)) {
        asyncio__raise_code(ASYNCIO_EVALUE, "the socket must be non-blocking");
        return NULL;
    }
    return task;
}

/* The Bytes rule: a NUL after what was stored, when there is room. */
static void terminate(void *buf, size_t got, size_t cap)
{
    if (got < cap)
        ((char *)buf)[got] = '\0';
}

/* A peer's address as Python gives it: (host, port), or a Unix socket's
 * path ("" for an unnamed one, Python's '' or None). */
static void addr_from(asyncio_sockaddr_t *addr, const struct sockaddr_storage *ss, socklen_t len)
{
    if (ss->ss_family != AF_UNIX) {
        asyncio__sockaddr_from(addr, (const struct sockaddr *)ss);
        return;
    }
    const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t plen = len > off ? len - off : 0;
    memset(addr, 0, sizeof *addr);
    addr->family = AF_UNIX;
    snprintf(addr->host, sizeof addr->host, "%.*s", (int)plen, un->sun_path);
}

static int recv_common(int sock, void *buf, size_t n, size_t *nread, asyncio_sockaddr_t *addr,
                       bool from)
{
    if (nread)
        *nread = 0;
    if (addr)
        memset(addr, 0, sizeof *addr);
    asyncio__task_t *task = enter(sock);
    if (!task)
        return asyncio_error()->code;
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        memset(&ss, 0, sizeof ss);
        ssize_t r =
            from ? recvfrom(sock, buf, n, 0, (struct sockaddr *)&ss, &len) : recv(sock, buf, n, 0);
        if (r >= 0) {
            terminate(buf, (size_t)r, n);
            if (nread)
                *nread = (size_t)r;
            if (from && addr)
                addr_from(addr, &ss, len);
            return 0;
        }
        int err = errno;
        if (err == EINTR)
            continue;
        if (!would_block(err))
            return raise_errno(err);
        int rc = asyncio__fd_wait(task, sock, ASYNCIO__FD_READ);
        if (rc)
            return rc;
    }
}

int asyncio_sock_recv(int sock, void *buf, size_t n, size_t *nread)
{
    return recv_common(sock, buf, n, nread, NULL, false);
}

int asyncio_sock_recv_into(int sock, void *buf, size_t n, size_t *nread)
{
    return recv_common(sock, buf, n, nread, NULL, false);
}

int asyncio_sock_recvfrom(int sock, void *buf, size_t n, size_t *nread, asyncio_sockaddr_t *addr)
{
    return recv_common(sock, buf, n, nread, addr, true);
}

int asyncio_sock_recvfrom_into(int sock, void *buf, size_t n, size_t *nread,
                               asyncio_sockaddr_t *addr)
{
    return recv_common(sock, buf, n, nread, addr, true);
}

int asyncio_sock_sendall(int sock, const void *data, size_t len)
{
    asyncio__task_t *task = enter(sock);
    if (!task)
        return asyncio_error()->code;
    if (!data && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    size_t off = 0;
    for (;;) {
        ssize_t r = send(sock, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (r >= 0) {
            off += (size_t)r;
            if (off == len)
                return 0;
            /* Python waits for room after a partial send: the next send
             * would fail with EAGAIN. */
        } else if (errno == EINTR) {
            continue;
        } else if (!would_block(errno)) {
            return raise_errno(errno);
        }
        int rc = asyncio__fd_wait(task, sock, ASYNCIO__FD_WRITE);
        if (rc)
            return rc;
    }
}

/* A socket address from a numeric host and port (family 0: the host's), or
 * from a path for AF_UNIX.  0, or ValueError raised. */
static int make_addr(const asyncio_sockaddr_t *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t plen = strnlen(a->host, sizeof a->host);
        if (plen >= sizeof un->sun_path)
            return asyncio__raise_code(ASYNCIO_EVALUE, "AF_UNIX path too long");
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->host, plen);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
        return 0;
    }
    if (!asyncio__port_ok(a->port))
        return ASYNCIO_EVALUE;
    if (a->family != AF_INET6 && uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0) {
        *len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (a->family != AF_INET && uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0) {
        *len = sizeof(struct sockaddr_in6);
        return 0;
    }
    if (a->family != 0 && a->family != AF_INET && a->family != AF_INET6)
        return asyncio__raise_code(ASYNCIO_EVALUE, "address family %d is not supported", a->family);
    return asyncio__raise_code(ASYNCIO_EVALUE, "host '%.*s' is not a numeric %s address",
                               (int)strnlen(a->host, sizeof a->host), a->host,
                               a->family == AF_INET    ? "IPv4"
                               : a->family == AF_INET6 ? "IPv6"
                                                       : "IPv4 or IPv6");
}

int asyncio_sock_sendto(int sock, const void *data, size_t len, const asyncio_sockaddr_t *addr,
                        size_t *nsent)
{
    if (nsent)
        *nsent = 0;
    asyncio__task_t *task = enter(sock);
    if (!task)
        return asyncio_error()->code;
    if (!data && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    if (!addr)
        return asyncio__raise_code(ASYNCIO_EVALUE, "addr is NULL");
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int rc = make_addr(addr, &ss, &sslen);
    if (rc)
        return rc;
    for (;;) {
        ssize_t r = sendto(sock, data, len, MSG_NOSIGNAL, (struct sockaddr *)&ss, sslen);
        if (r >= 0) {
            if (nsent)
                *nsent = (size_t)r;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (!would_block(errno))
            return raise_errno(errno);
        if ((rc = asyncio__fd_wait(task, sock, ASYNCIO__FD_WRITE)))
            return rc;
    }
}

/* Python's words for a connect that failed after the wait: "[Errno 111]
 * Connect call failed ('127.0.0.1', 1)", the address as its tuple (the
 * path itself for a Unix socket). */
static int connect_failed(int err, const struct sockaddr *sa)
{
    int code = uv_translate_sys_error(err);
    asyncio_sockaddr_t a;
    if (sa->sa_family == AF_UNIX) {
        asyncio__raise_exc(asyncio__os_error(code, "Connect call failed %s",
                                             ((const struct sockaddr_un *)sa)->sun_path));
        return code;
    }
    asyncio__sockaddr_from(&a, sa);
    if (sa->sa_family == AF_INET6)
        asyncio__raise_exc(asyncio__os_error(code, "Connect call failed ('%s', %d, 0, %u)", a.host,
                                             a.port,
                                             ((const struct sockaddr_in6 *)sa)->sin6_scope_id));
    else
        asyncio__raise_exc(
            asyncio__os_error(code, "Connect call failed ('%s', %d)", a.host, a.port));
    return code;
}

/* Where sock_connect goes: the path of a Unix socket, a numeric address,
 * or the first address host resolves to for the socket's family and type
 * (Python's _ensure_resolved).  0, or the error raised. */
static int connect_addr(asyncio__task_t *task, int sock, const char *host, int port,
                        struct sockaddr_storage *ss, socklen_t *len)
{
    int family = 0, type = 0;
    socklen_t optlen = sizeof family;
    if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &family, &optlen) < 0)
        return raise_errno(errno);
    optlen = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &optlen) < 0)
        return raise_errno(errno);
    memset(ss, 0, sizeof *ss);
    if (family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        if (!asyncio__unix_path_fits(host))
            return asyncio_error()->code;
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, host);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(host) + 1);
        return 0;
    }
    if (!asyncio__port_ok(port))
        return ASYNCIO_EVALUE;
    if (family == AF_INET && uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) {
        *len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (family == AF_INET6 && uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) {
        *len = sizeof(struct sockaddr_in6);
        return 0;
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = type;
    int rc = asyncio__resolve(task, host, service, &hints, &res);
    if (rc)
        return rc;
    if (!res) {
        asyncio_raise_uv(UV_EAI_NONAME, NULL);
        return UV_EAI_NONAME;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    uv_freeaddrinfo(res);
    return 0;
}

int asyncio_sock_connect(int sock, const char *host, int port)
{
    asyncio__task_t *task = enter(sock);
    if (!task)
        return asyncio_error()->code;
    if (!host)
        return asyncio__raise_code(ASYNCIO_EVALUE, "host is NULL");
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int rc = connect_addr(task, sock, host, port, &ss, &len);
    if (rc)
        return rc;
    if (connect(sock, (struct sockaddr *)&ss, len) == 0)
        return 0;
    /* EINTR too: the connection goes on in the background (Python's issue
     * #23618); refused at once, the plain socket error. */
    int err0 = errno;
    if (err0 != EINPROGRESS && err0 != EINTR && !would_block(err0))
        return raise_errno(err0);
    for (;;) {
        if ((rc = asyncio__fd_wait(task, sock, ASYNCIO__FD_WRITE)))
            return rc;
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            return raise_errno(errno);
        if (err == 0)
            return 0;
        if (err != EINPROGRESS && err != EINTR && !would_block(err))
            return connect_failed(err, (struct sockaddr *)&ss);
    }
}

int asyncio_sock_accept(int sock, int *conn, asyncio_sockaddr_t *addr)
{
    if (conn)
        *conn = -1;
    if (addr)
        memset(addr, 0, sizeof *addr);
    asyncio__task_t *task = enter(sock);
    if (!task)
        return asyncio_error()->code;
    if (!conn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "conn is NULL");
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        memset(&ss, 0, sizeof ss);
        int c = accept4(sock, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            *conn = c;
            if (addr)
                addr_from(addr, &ss, len);
            return 0;
        }
        int err = errno;
        if (err == EINTR)
            continue;
        if (!would_block(err))
            return raise_errno(err);
        int rc = asyncio__fd_wait(task, sock, ASYNCIO__FD_READ);
        if (rc)
            return rc;
    }
}
