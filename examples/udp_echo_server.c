/* A UDP echo server (udp_echo_server.py), on a datagram endpoint:
 *
 *   udp_echo_server [--host H] [--port P]
 *
 * loop.create_datagram_endpoint with local_addr=(H, P) and a
 * DatagramProtocol whose datagram_received sends every datagram back to
 * its sender.  No task per client: each datagram is one callback.
 *
 * Prints `READY <host> <port> <pid>` once bound (port 0 picks a free
 * port: the line says which), and on SIGTERM closes the endpoint and exits
 * with status 0. */
#include <casyncio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
    const char *host;
    int port;
};

/* --- class EchoServerProtocol(asyncio.DatagramProtocol) */
static void echo_datagram_received(asyncio_datagram_transport_t *t, const char *data, size_t len,
                                   const asyncio_sockaddr_t *addr, void *user)
{
    (void)user;
    /* transport.sendto(data, addr).  An error the kernel gives goes to
     * error_received (none here: it is ignored, as Python's default);
     * only running out of memory to queue a datagram fails here, and
     * that datagram is lost, as UDP may lose any. */
    if (asyncio_datagram_transport_sendto(t, data, len, addr) < 0)
        asyncio_error_clear();
}

static const asyncio_datagram_protocol_t echo_protocol = {
    .datagram_received = echo_datagram_received,
};

/* --- async def main() */
static void stop_serving(void *event)
{
    asyncio_event_set(event);
}

static void *async_main(void *arg)
{
    const struct options *opt = arg;
    asyncio_datagram_transport_t *transport = NULL;
    asyncio_event_t *stop = asyncio_event_new();
    if (!stop)
        return NULL;
    /* loop.add_signal_handler(SIGTERM, stop.set) */
    if (asyncio_add_signal_handler(NULL, SIGTERM, stop_serving, stop) < 0)
        goto out;

    /* transport, protocol = await loop.create_datagram_endpoint(
     *     EchoServerProtocol, local_addr=(host, port)) */
    asyncio_datagram_opts_t opts = {.local_host = opt->host, .local_port = opt->port};
    if (asyncio_create_datagram_endpoint(&echo_protocol, NULL, &opts, &transport) < 0)
        goto out;
    asyncio_sockaddr_t addr;
    if (asyncio_datagram_transport_sockname(transport, &addr) < 0)
        goto out;
    printf("READY %s %d %ld\n", addr.host, addr.port, (long)getpid());
    fflush(stdout);

    if (asyncio_event_wait(stop) < 0)
        goto out;
out:
    /* transport.close(): connection_lost follows from the loop, before
     * asyncio_run returns. */
    asyncio_datagram_transport_close(transport);
    asyncio_remove_signal_handler(NULL, SIGTERM);
    asyncio_event_free(stop);
    return NULL;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--host H] [--port P]\n", prog);
    return 2;
}

int main(int argc, char **argv)
{
    struct options opt = {.host = "127.0.0.1", .port = 9999};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage(argv[0]);
        const char *val = argv[i + 1];
        if (strcmp(argv[i], "--host") == 0) {
            opt.host = val;
        } else if (strcmp(argv[i], "--port") == 0) {
            char *end;
            long port = strtol(val, &end, 10);
            if (*val == '\0' || *end != '\0' || port < 0 || port > 65535)
                return usage(argv[0]);
            opt.port = (int)port;
        } else {
            return usage(argv[0]);
        }
    }

    if (asyncio_run(async_main, &opt, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "udp_echo_server: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
