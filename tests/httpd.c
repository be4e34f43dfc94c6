/*
 * The test HTTP/1.1 server (see httpd.h).  Plain libuv on a thread of its
 * own, so the tests' loop and this one never share anything but sockets.
 * One request at a time per connection (curl does not pipeline).
 */
#define _GNU_SOURCE /* memmem */
#include "httpd.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdbool.h>

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#define BIG_PIECE (256 * 1024)

struct httpd {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    pthread_t thread;
    int port;
    int flags; /* HTTPD_CLOSE_* */
    atomic_long connections;
    uv_sem_t ready;
};

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    httpd_t *h;
    long serial;
    char *in;
    size_t in_len, in_cap;
    bool busy; /* a response is being produced */
    bool closing;
    /* /bytes and /chunked: what is left to send */
    uint64_t left, sent;
    bool chunked;
    int timer_kind; /* what the timer does when it fires */
    int delay_ms;
} conn_t;

enum { T_NONE, T_DELAY, T_SLOWBODY, T_RESET };

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

/* ------------------------------------------------------------ writing */

typedef struct wreq {
    uv_write_t req;
    conn_t *c;
    bool more; /* continue a big body when written */
    char data[];
} wreq_t;

static void conn_close(conn_t *c);
static void send_more(conn_t *c);

static void written(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    conn_t *c = w->c;
    bool more = w->more;
    free(w);
    if (status < 0 || c->closing) {
        conn_close(c);
        return;
    }
    if (more)
        send_more(c);
}

static void send_buf(conn_t *c, const char *data, size_t len, bool more)
{
    wreq_t *w = xmalloc(sizeof *w + len);
    memcpy(w->data, data, len);
    w->c = c;
    w->more = more;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, written) < 0) {
        free(w);
        conn_close(c);
    }
}

static void process(conn_t *c);

/* Whether this server hangs up after a response with this status,
 * without saying so (no "Connection: close"), as an idle timeout or a
 * load balancer does between two requests. */
static bool closes_after(const conn_t *c, int status)
{
    return (c->h->flags & HTTPD_CLOSE_EACH) ||
           ((c->h->flags & HTTPD_CLOSE_3XX) && status >= 300 && status < 400);
}

/* The response is queued: the next buffered request, or, in a closing
 * mode, the end of the connection once the write is done (see written). */
static void response_end(conn_t *c, int status)
{
    c->busy = false;
    if (closes_after(c, status)) {
        c->closing = true;
        return;
    }
    process(c); /* a request already buffered */
}

static void response_done(conn_t *c)
{
    response_end(c, 200);
}

static void respond(conn_t *c, int status, const char *extra, const char *body, size_t len)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n",
                     status, len, extra ? extra : "");
    size_t total = (size_t)n + len;
    char *all = xmalloc(total);
    memcpy(all, head, (size_t)n);
    memcpy(all + n, body, len);
    send_buf(c, all, total, false);
    free(all);
    response_end(c, status);
}

/* The next piece of a big body, sent when the previous one was written:
 * the server holds at most one piece per connection. */
static void send_more(conn_t *c)
{
    if (!c->left) {
        if (c->chunked)
            send_buf(c, "0\r\n\r\n", 5, false);
        response_done(c);
        return;
    }
    size_t n = c->left < BIG_PIECE ? (size_t)c->left : BIG_PIECE;
    if (c->chunked && n > 5000)
        n = 5000; /* many chunks */
    char *p = xmalloc(n + 32);
    size_t off = 0;
    if (c->chunked)
        off = (size_t)sprintf(p, "%zx\r\n", n);
    for (size_t i = 0; i < n; i++)
        p[off + i] = (char)('a' + (c->sent + i) % 26);
    off += n;
    if (c->chunked) {
        memcpy(p + off, "\r\n", 2);
        off += 2;
    }
    c->left -= n;
    c->sent += n;
    send_buf(c, p, off, true);
    free(p);
}

static void conn_freed(uv_handle_t *hd)
{
    conn_t *c = hd->data;
    free(c->in);
    free(c);
}

static void reset_done(uv_handle_t *hd)
{
    conn_t *c = hd->data;
    uv_close((uv_handle_t *)&c->timer, conn_freed);
}

static void on_timer(uv_timer_t *t)
{
    conn_t *c = t->data;
    switch (c->timer_kind) {
    case T_DELAY:
        respond(c, 200, NULL, "late", 4);
        break;
    case T_SLOWBODY:
        send_buf(c, "0123456789", 10, false);
        response_done(c);
        break;
    case T_RESET:
        c->closing = true;
        uv_tcp_close_reset(&c->tcp, reset_done);
        break;
    }
}

/* ------------------------------------------------------------ requests */

static void timer_closed(uv_handle_t *hd)
{
    conn_t *c = hd->data;
    uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void conn_close(conn_t *c)
{
    if (uv_is_closing((uv_handle_t *)&c->timer) || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* A complete request in c->in: length of it, or 0 while incomplete.
 * The body (decoded if chunked) goes to *body (malloc'd). */
static size_t parse(conn_t *c, char **body, size_t *blen)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - c->in) + 4;
    const char *cl = NULL, *te = NULL;
    for (char *p = c->in; p < end; p++) {
        if ((p == c->in || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
            cl = p + 15;
        if ((p == c->in || p[-1] == '\n') && strncasecmp(p, "transfer-encoding:", 18) == 0)
            te = p + 18;
    }
    if (te && strstr(te, "chunked") < end && strstr(te, "chunked")) {
        char *out = xmalloc(c->in_len + 1);
        size_t olen = 0, pos = hlen;
        for (;;) {
            char *eol = memmem(c->in + pos, c->in_len - pos, "\r\n", 2);
            if (!eol) {
                free(out);
                return 0;
            }
            size_t n = strtoul(c->in + pos, NULL, 16);
            size_t data = (size_t)(eol - c->in) + 2;
            if (data + n + 2 > c->in_len) {
                free(out);
                return 0;
            }
            if (n == 0) {
                /* trailers: none expected; the final CRLF */
                *body = out;
                *blen = olen;
                return data + 2;
            }
            memcpy(out + olen, c->in + data, n);
            olen += n;
            pos = data + n + 2;
        }
    }
    size_t n = cl ? strtoul(cl, NULL, 10) : 0;
    if (hlen + n > c->in_len)
        return 0;
    *body = xmalloc(n + 1);
    memcpy(*body, c->in + hlen, n);
    *blen = n;
    return hlen + n;
}

static void handle(conn_t *c, char *req, size_t body_len, const char *body)
{
    char method[32], target[512];
    if (sscanf(req, "%31s %511s", method, target) != 2) {
        respond(c, 400, NULL, "bad", 3);
        return;
    }
    char extra[256];
    /* Asked as a proxy (absolute form): /echo shows the whole target, the
     * other routes answer for their path. */
    const char *path = strncmp(target, "http://", 7) == 0 ? strchr(target + 7, '/') : NULL;
    bool echo = strcmp(path ? path : target, "/echo") == 0;
    if (path && !echo)
        memmove(target, path, strlen(path) + 1);
    if (strcmp(target, "/hello") == 0) {
        respond(c, 200, NULL, "hello world", 11);
    } else if (echo) {
        char *hend = strstr(req, "\r\n\r\n");
        char *hstart = strstr(req, "\r\n") + 2;
        size_t cap = strlen(method) + strlen(target) + (size_t)(hend - hstart) + body_len + 16;
        char *out = xmalloc(cap);
        size_t n = (size_t)sprintf(out, "%s %s\n", method, target);
        for (char *p = hstart; p < hend;) {
            char *eol = strstr(p, "\r\n");
            memcpy(out + n, p, (size_t)(eol - p));
            n += (size_t)(eol - p);
            out[n++] = '\n';
            p = eol + 2;
        }
        out[n++] = '\n';
        memcpy(out + n, body, body_len);
        n += body_len;
        respond(c, 200, NULL, out, n);
        free(out);
    } else if (strncmp(target, "/status/", 8) == 0) {
        int st = atoi(target + 8);
        char b[32];
        int n = snprintf(b, sizeof b, "status %d", st);
        respond(c, st, NULL, b, (size_t)n);
    } else if (strncmp(target, "/redirect/", 10) == 0) {
        int n = atoi(target + 10);
        if (n <= 0) {
            respond(c, 200, NULL, "done", 4);
        } else {
            snprintf(extra, sizeof extra, "Location: /redirect/%d\r\n", n - 1);
            respond(c, 302, extra, "", 0);
        }
    } else if (strcmp(target, "/loop") == 0) {
        respond(c, 302, "Location: /loop\r\n", "", 0);
    } else if (strncmp(target, "/to/", 4) == 0) {
        snprintf(extra, sizeof extra, "Location: %.200s\r\n", target + 4);
        respond(c, 302, extra, "", 0);
    } else if (strncmp(target, "/bytes/", 7) == 0 || strncmp(target, "/chunked/", 9) == 0) {
        c->chunked = target[1] == 'c';
        c->left = strtoull(target + (c->chunked ? 9 : 7), NULL, 10);
        c->sent = 0;
        char head[256];
        int n = c->chunked
                    ? snprintf(head, sizeof head,
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    : snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
                               (unsigned long long)c->left);
        send_buf(c, head, (size_t)n, true);
    } else if (strcmp(target, "/headers") == 0) {
        respond(c, 200, "Set-Cookie: a=1\r\nX-Multi: one\r\nSet-Cookie: b=2\r\nx-multi:  two  \r\n",
                "h", 1);
    } else if (strncmp(target, "/delay/", 7) == 0 || strncmp(target, "/slowheaders/", 13) == 0) {
        c->timer_kind = T_DELAY;
        uv_timer_start(&c->timer, on_timer, strtoul(strchr(target + 1, '/') + 1, NULL, 10), 0);
    } else if (strncmp(target, "/slowbody/", 10) == 0) {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        send_buf(c, head, strlen(head), false);
        c->timer_kind = T_SLOWBODY;
        uv_timer_start(&c->timer, on_timer, strtoul(target + 10, NULL, 10), 0);
    } else if (strcmp(target, "/reset") == 0) {
        char *p = xmalloc(1100);
        int n = sprintf(p, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        memset(p + n, 'r', 1000);
        send_buf(c, p, (size_t)n + 1000, false);
        free(p);
        c->timer_kind = T_RESET;
        uv_timer_start(&c->timer, on_timer, 20, 0);
    } else if (strcmp(target, "/cutshort") == 0) {
        /* The headers, 1,000 of the 1,000,000 bytes promised, and the end
         * of the connection (FIN), all at once: corked, written, shut
         * down, so they leave in one segment and the client's first read
         * finds all three. */
        char p[1100];
        int n = sprintf(p, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        memset(p + n, 'c', 1000);
        uv_buf_t buf = uv_buf_init(p, (unsigned)n + 1000);
        uv_os_fd_t fd;
        int on = 1;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
            setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0 ||
            uv_try_write((uv_stream_t *)&c->tcp, &buf, 1) != n + 1000 || shutdown(fd, SHUT_WR) != 0)
            abort();
        c->closing = true;
    } else if (strcmp(target, "/resetearly") == 0) {
        c->closing = true;
        uv_tcp_close_reset(&c->tcp, reset_done);
    } else if (strcmp(target, "/badlength") == 0) {
        const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello";
        send_buf(c, bad, strlen(bad), false);
        c->closing = true;
    } else if (strcmp(target, "/conn") == 0) {
        char b[32];
        int n = snprintf(b, sizeof b, "%ld", c->serial);
        respond(c, 200, NULL, b, (size_t)n);
    } else {
        respond(c, 404, NULL, "not found", 9);
    }
}

static void process(conn_t *c)
{
    while (!c->busy && !c->closing) {
        char *body = NULL;
        size_t blen = 0;
        size_t used = parse(c, &body, &blen);
        if (!used)
            return;
        char *req = xmalloc(used + 1);
        memcpy(req, c->in, used);
        req[used] = '\0';
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        c->busy = true;
        handle(c, req, blen, body);
        free(req);
        free(body);
    }
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = hd->data;
    if (c->in_cap - c->in_len < 65536) {
        c->in_cap = c->in_cap * 2 + 65536;
        c->in = realloc(c->in, c->in_cap);
        if (!c->in)
            abort();
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->in_len += (size_t)n;
    process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    httpd_t *h = server->data;
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->h = h;
    c->serial = atomic_fetch_add(&h->connections, 1) + 1;
    uv_tcp_init(&h->loop, &c->tcp);
    uv_timer_init(&h->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ------------------------------------------------------------ lifecycle */

static void close_walk(uv_handle_t *hd, void *arg)
{
    (void)arg;
    if (uv_is_closing(hd))
        return;
    if (hd->type == UV_TCP && hd != (uv_handle_t *)&((httpd_t *)arg)->listener) {
        conn_close(hd->data);
        return;
    }
    if (hd->type == UV_TIMER && hd->data && hd->data != arg)
        return; /* a connection's: closed with it */
    uv_close(hd, NULL);
}

static void on_stop(uv_async_t *a)
{
    httpd_t *h = a->data;
    uv_walk(&h->loop, close_walk, h);
}

static void *run(void *arg)
{
    httpd_t *h = arg;
    uv_sem_post(&h->ready);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    return NULL;
}

httpd_t *httpd_start(void)
{
    return httpd_start_ex(0);
}

httpd_t *httpd_start_ex(int flags)
{
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the test */
    httpd_t *h = calloc(1, sizeof *h);
    ck_assert_ptr_nonnull(h);
    h->flags = flags;
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    uv_tcp_init(&h->loop, &h->listener);
    h->listener.data = h;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ck_assert_int_eq(uv_tcp_bind(&h->listener, (const struct sockaddr *)&addr, 0), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&h->listener, 1024, on_connection), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&h->listener, (struct sockaddr *)&got, &len);
    h->port = ntohs(got.sin_port);
    uv_async_init(&h->loop, &h->stop, on_stop);
    h->stop.data = h;
    uv_sem_init(&h->ready, 0);
    ck_assert_int_eq(pthread_create(&h->thread, NULL, run, h), 0);
    uv_sem_wait(&h->ready);
    return h;
}

int httpd_port(httpd_t *h)
{
    return h->port;
}

const char *httpd_url(httpd_t *h, const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", h->port, path);
    return buf;
}

long httpd_connections(httpd_t *h)
{
    return atomic_load(&h->connections);
}

void httpd_stop(httpd_t *h)
{
    uv_async_send(&h->stop);
    pthread_join(h->thread, NULL);
    uv_loop_close(&h->loop);
    uv_sem_destroy(&h->ready);
    free(h);
}
