/*
 * The ceiling of the UDP echo benchmark: a UDP echo server on plain libuv
 * callbacks, written as tightly as a hand-made one would be.
 *
 *   udp_raw_uv [--host H] [--port P]
 *
 * Prints `READY <host> <port> <pid>` once bound, like
 * examples/udp_echo_server, and exits with status 0 on SIGTERM.
 *
 * Reads in batches with recvmmsg (UV_UDP_RECVMMSG, as casyncio's
 * endpoints do) into one buffer, and sends every datagram back with
 * uv_udp_try_send; one the kernel does not take at once is dropped, as
 * UDP may drop any (the load client keeps few enough in flight that the
 * kernel takes them all).  So an echo costs a share of one recvmmsg and
 * one sendmsg, and no allocation.
 */
#define _GNU_SOURCE
#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 20 chunks of 64 KiB: what libuv's recvmmsg reads into at most. */
static char buf[20 * 64 * 1024];
static uv_udp_t server;
static uv_signal_t sigterm;
static unsigned long dropped;

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)flags;
    if (n < 0 || !addr)
        return; /* an error, or the end of a batch */
    uv_buf_t data = uv_buf_init(b->base, (unsigned)n);
    if (uv_udp_try_send(h, &data, 1, addr) < 0)
        dropped++;
}

static void on_sigterm(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)&server, NULL);
    uv_close((uv_handle_t *)s, NULL);
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
        fprintf(stderr, "udp_raw_uv: %s: not a numeric address\n", host);
        return 2;
    }
    int rc = uv_udp_init_ex(loop, &server, addr.ss_family | UV_UDP_RECVMMSG);
    if (rc == 0)
        rc = uv_udp_bind(&server, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&server, on_alloc, on_recv);
    if (rc < 0) {
        fprintf(stderr, "udp_raw_uv: %s:%d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_udp_getsockname(&server, (struct sockaddr *)&bound, &len);
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
    if (dropped)
        fprintf(stderr, "udp_raw_uv: %lu datagrams not sent back (EAGAIN)\n", dropped);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
