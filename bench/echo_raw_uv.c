/*
 * The ceiling of the echo benchmark: an echo server on plain libuv
 * callbacks, written as tightly as a hand-made server would be.
 *
 *   echo_raw_uv [--host H] [--port P]
 *
 * Prints `READY <host> <port> <pid>` once listening, like
 * examples/echo_server, and exits with status 0 on SIGTERM.
 *
 * Every read lands in one buffer shared by all connections (the loop runs
 * one callback at a time) and is sent back with uv_try_write; only what
 * the kernel does not take at once is copied for a uv_write.  So an echo
 * costs one read and one write system call and no allocation.
 */
#define _GNU_SOURCE
#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char shared_buf[65536];
static uv_tcp_t server;
static uv_signal_t sigterm;

struct pending_write {
    uv_write_t req;
    char data[];
};

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_write(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error too */
    free(req);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(shared_buf, sizeof shared_buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) { /* EOF or error */
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t data = uv_buf_init(buf->base, (unsigned)n); /* buf->len is the buffer's size */
    int sent = uv_try_write(s, &data, 1);
    if (sent == n)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t done = sent > 0 ? (size_t)sent : 0, rest = (size_t)n - done;
    struct pending_write *w = malloc(sizeof *w + rest);
    if (!w) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(w->data, buf->base + done, rest);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)rest);
    if (uv_write(&w->req, s, &b, 1, on_write) < 0) {
        free(w);
        uv_close((uv_handle_t *)s, on_close);
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(srv->loop, c);
    if (uv_accept(srv, (uv_stream_t *)c) < 0 ||
        uv_read_start((uv_stream_t *)c, on_alloc, on_read) < 0)
        uv_close((uv_handle_t *)c, on_close);
}

static void close_connection(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (h != (uv_handle_t *)&server && h != (uv_handle_t *)&sigterm && !uv_is_closing(h))
        uv_close(h, on_close);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)&server, NULL);
    uv_close((uv_handle_t *)s, NULL);
    uv_walk(s->loop, close_connection, NULL);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
    }
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_storage addr;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "echo_raw_uv: %s: not a numeric address\n", host);
        return 2;
    }
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 100, on_connection);
    if (rc < 0) {
        fprintf(stderr, "echo_raw_uv: %s:%d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    char name[64];
    int bound_port;
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, name, sizeof name);
        bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, name, sizeof name);
        bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_sigterm, SIGTERM);
    printf("READY %s %d %ld\n", name, bound_port, (long)getpid());
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
