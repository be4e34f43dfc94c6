/*
 * DNS: loop.getaddrinfo / loop.getnameinfo on libuv's requests (run on
 * libuv's thread pool).
 *
 * A request lives on the heap, not on the task's stack: when the waiting
 * task is cancelled it leaves at once, uv_cancel stops the request if it
 * has not started, and the callback, which comes in every case (with
 * UV_EAI_CANCELED when cancelled), frees what is left.
 */
#include "net/net.h"

#include <stdio.h>
#include <string.h>

typedef struct dns_req {
    union {
        uv_getaddrinfo_t ai;
        uv_getnameinfo_t ni;
    } req;
    asyncio_future_t *fut; /* the request's own reference */
    struct addrinfo *res;
    int status;
    bool done;      /* the callback ran */
    bool abandoned; /* the task left: the callback frees the request */
    char host[ASYNCIO_NI_MAXHOST];
    char service[ASYNCIO_NI_MAXSERV];
} dns_req_t;

static void req_done(dns_req_t *r)
{
    r->done = true;
    if (r->abandoned) {
        uv_freeaddrinfo(r->res);
        asyncio_decref(r->fut);
        asyncio__free(r);
        return;
    }
    if (r->fut->state == ASYNCIO__PENDING && !r->fut->loop->closed)
        asyncio__future_finish(r->fut, NULL, NULL);
}

static void getaddrinfo_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    dns_req_t *r = asyncio__container_of(req, dns_req_t, req.ai);
    r->status = status;
    r->res = res;
    req_done(r);
}

static void getnameinfo_cb(uv_getnameinfo_t *req, int status, const char *host, const char *service)
{
    dns_req_t *r = asyncio__container_of(req, dns_req_t, req.ni);
    r->status = status;
    if (status == 0) {
        snprintf(r->host, sizeof r->host, "%s", host ? host : "");
        snprintf(r->service, sizeof r->service, "%s", service ? service : "");
    }
    req_done(r);
}

static dns_req_t *req_new(asyncio_loop_t *loop)
{
    asyncio__uv_pool_used(); /* resolving goes to libuv's thread pool */
    dns_req_t *r = asyncio__calloc(1, sizeof *r);
    if (!r) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a DNS request");
        return NULL;
    }
    if (!(r->fut = asyncio__future_new(loop))) {
        asyncio__free(r);
        return NULL;
    }
    return r;
}

/* What a resolving task waits on, for task dumps. */
static void describe_getaddrinfo(const void *obj, char *buf, size_t len)
{
    const uv_getaddrinfo_t *ai = &((const dns_req_t *)obj)->req.ai;
    snprintf(buf, len, "host '%s', service '%s'", ai->hostname ? ai->hostname : "",
             ai->service ? ai->service : "");
}

static const asyncio__wait_kind_t getaddrinfo_wait = {"getaddrinfo()", describe_getaddrinfo};
static const asyncio__wait_kind_t getnameinfo_wait = {"getnameinfo()", NULL};

/* Waits for r; on cancellation abandons it to its callback.  0 or the
 * raised CancelledError; r is freed by the caller only when 0. */
static int req_wait(asyncio__task_t *task, dns_req_t *r, uv_req_t *req)
{
    asyncio__task_waits_for(task,
                            req->type == UV_GETADDRINFO ? &getaddrinfo_wait : &getnameinfo_wait, r);
    int rc = asyncio__task_wait_private(task, r->fut);
    if (rc && !r->done) {
        r->abandoned = true;
        uv_cancel(req); /* fails once running: the callback comes anyway */
        return rc;
    }
    if (rc) {
        uv_freeaddrinfo(r->res);
        asyncio_decref(r->fut);
        asyncio__free(r);
    }
    return rc;
}

int asyncio__resolve(asyncio__task_t *task, const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res)
{
    dns_req_t *r = req_new(task->fut.loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    int rc = uv_getaddrinfo(&task->fut.loop->uv, &r->req.ai, getaddrinfo_cb, host, service, hints);
    if (rc < 0) {
        asyncio_decref(r->fut);
        asyncio__free(r);
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    if ((rc = req_wait(task, r, (uv_req_t *)&r->req.ai)))
        return rc;
    rc = r->status;
    *res = r->res;
    asyncio_decref(r->fut);
    asyncio__free(r);
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL); /* Python's gaierror names no host */
        return rc;
    }
    return 0;
}

int asyncio__resolve_tcp(asyncio__task_t *task, const char *host, int port, int family, int flags,
                         struct addrinfo **res)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP,
                             .ai_flags = flags};
    return asyncio__resolve(task, host, service, &hints, res);
}

int asyncio_getaddrinfo(const char *host, const char *service, int family, int type, int flags,
                        asyncio_addrinfo_t **result)
{
    if (result)
        *result = NULL;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!host && !service)
        return asyncio__raise_code(ASYNCIO_EVALUE, "host and service are both NULL");
    if (!result)
        return asyncio__raise_code(ASYNCIO_EVALUE, "result is NULL");
    struct addrinfo hints = {.ai_family = family, .ai_socktype = type, .ai_flags = flags};
    struct addrinfo *res = NULL;
    int rc = asyncio__resolve(task, host, service, &hints, &res);
    if (rc)
        return rc;
    /* One allocation per entry: the entry, its sockaddr, its canonname. */
    asyncio_addrinfo_t *head = NULL, **tailp = &head;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        size_t clen = ai->ai_canonname ? strlen(ai->ai_canonname) + 1 : 0;
        asyncio_addrinfo_t *e = asyncio__calloc(1, sizeof *e + ai->ai_addrlen + clen);
        if (!e) {
            uv_freeaddrinfo(res);
            asyncio_addrinfo_free(head);
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an address");
        }
        e->family = ai->ai_family;
        e->socktype = ai->ai_socktype;
        e->protocol = ai->ai_protocol;
        memcpy(e + 1, ai->ai_addr, ai->ai_addrlen);
        e->sockaddr = e + 1;
        e->sockaddr_len = (unsigned)ai->ai_addrlen;
        if (clen) {
            e->canonname = (char *)(e + 1) + ai->ai_addrlen;
            memcpy(e->canonname, ai->ai_canonname, clen);
        }
        asyncio__sockaddr_from(&e->addr, ai->ai_addr);
        *tailp = e;
        tailp = &e->next;
    }
    uv_freeaddrinfo(res);
    *result = head;
    return 0;
}

void asyncio_addrinfo_free(asyncio_addrinfo_t *list)
{
    while (list) {
        asyncio_addrinfo_t *next = list->next;
        asyncio__free(list);
        list = next;
    }
}

static int getnameinfo_in(const char *host, int port, int flags, char *host_out, char *serv_out)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!host)
        return asyncio__raise_code(ASYNCIO_EVALUE, "host is NULL");
    if (!asyncio__port_ok(port))
        return ASYNCIO_EVALUE;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "host '%s' is not a numeric IPv4 or IPv6 address", host);
    dns_req_t *r = req_new(task->fut.loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    int rc = uv_getnameinfo(&task->fut.loop->uv, &r->req.ni, getnameinfo_cb,
                            (const struct sockaddr *)&ss, flags);
    if (rc < 0) {
        asyncio_decref(r->fut);
        asyncio__free(r);
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    if ((rc = req_wait(task, r, (uv_req_t *)&r->req.ni)))
        return rc;
    rc = r->status;
    if (rc == 0) {
        if (host_out)
            memcpy(host_out, r->host, sizeof r->host);
        if (serv_out)
            memcpy(serv_out, r->service, sizeof r->service);
    }
    asyncio_decref(r->fut);
    asyncio__free(r);
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL);
        return rc;
    }
    return 0;
}

/* On failure both outputs are empty strings (not before: host may be
 * host_out). */
int asyncio_getnameinfo(const char *host, int port, int flags, char *host_out, char *serv_out)
{
    int rc = getnameinfo_in(host, port, flags, host_out, serv_out);
    if (rc && host_out)
        host_out[0] = '\0';
    if (rc && serv_out)
        serv_out[0] = '\0';
    return rc;
}

/* Dotted-quad text of an IPv4 address into host (16 bytes at least):
 * what inet_ntop writes, without the printf machinery it uses, which a
 * datagram server would otherwise pay for every datagram it receives. */
static void ip4_text(char *host, const struct in_addr *a)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    char *p = host;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}

/* An address as the API gives it (host text, port), from a sockaddr:
 * what getaddrinfo returns and what sockets are named with. */
void asyncio__sockaddr_from(asyncio_sockaddr_t *out, const struct sockaddr *sa)
{
    memset(out, 0, sizeof *out);
    out->family = sa->sa_family;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        ip4_text(out->host, &in->sin_addr);
        out->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, out->host, sizeof out->host);
        out->port = ntohs(in6->sin6_port);
    }
}
