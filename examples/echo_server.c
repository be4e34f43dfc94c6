/* An echo server (echo_server.py), in the two styles asyncio offers:
 *
 *   echo_server [--host H] [--port P] [--mode streams|protocol] [--tls CERT KEY]
 *
 * streams:  asyncio_start_server, one task per connection reading and
 *           writing a stream (asyncio.start_server).
 * protocol: asyncio_create_server, callbacks and no task (loop.create_server
 *           with a Protocol): the way to hold many mostly idle connections.
 *
 * --tls: serves TLS (ssl=) with the certificate chain CERT and its key KEY
 * (PEM files), in either mode: the echo code does not change.
 *
 * Prints `READY <host> <port> <pid>` once listening (port 0 picks a free
 * port: the line says which), echoes every byte back, and on SIGTERM closes
 * the server and its connections and exits with status 0. */
#include <casyncio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
    const char *host;
    int port;
    bool protocol;
    const char *cert, *key; /* --tls */
};

/* --- streams: async def handle_echo(reader, writer) */
static void *handle_echo(asyncio_stream_t *stream, void *arg)
{
    (void)arg;
    /* On the task's stack, and small: an idle connection costs the stack
     * pages its task ever touched, and a buffer that spans one more page
     * than needed adds 4 KiB to every connection (~6 KiB in all with this
     * one, ~10 KiB with 4 KiB or more).  Reads of 2 KiB are as fast for
     * the messages of an echo. */
    char buf[2048];
    for (;;) {
        size_t n;
        if (asyncio_stream_read(stream, buf, sizeof buf, &n) < 0)
            break; /* reset by the peer, or cancelled by the shutdown */
        if (n == 0)
            break; /* EOF */
        if (asyncio_stream_write(stream, buf, n) < 0 || asyncio_stream_drain(stream) < 0)
            break;
    }
    /* A peer that goes away is the normal end of an echo session; the
     * cancellation of the shutdown stays raised, as it must. */
    asyncio_catch("ConnectionError");
    return NULL; /* the server closes and frees the stream */
}

/* --- protocol: class EchoProtocol(asyncio.Protocol) */
static void echo_data_received(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)user;
    if (asyncio_transport_write(t, data, len) < 0)
        asyncio_transport_abort(t); /* out of memory: drop this client only */
}

static const asyncio_protocol_t echo_protocol = {
    .data_received = echo_data_received,
    /* eof_received NULL: close the transport when the client has sent all,
     * as Python's default does. */
};

/* --- async def main() */
static void stop_serving(void *event)
{
    asyncio_event_set(event);
}

static void *async_main(void *arg)
{
    const struct options *opt = arg;
    asyncio_server_t *server = NULL;
    asyncio_ssl_context_t *tls = NULL;
    asyncio_event_t *stop = asyncio_event_new();
    if (!stop)
        return NULL;
    /* ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
     * ctx.load_cert_chain(cert, key) */
    if (opt->cert) {
        tls = asyncio_ssl_create_default_context(ASYNCIO_SSL_CLIENT_AUTH);
        if (!tls || asyncio_ssl_context_load_cert_chain(tls, opt->cert, opt->key, NULL) < 0)
            goto out;
    }
    asyncio_stream_opts_t opts = {.ssl = tls};
    /* loop.add_signal_handler(SIGTERM, stop.set) */
    if (asyncio_add_signal_handler(NULL, SIGTERM, stop_serving, stop) < 0)
        goto out;

    int rc = opt->protocol
                 ? asyncio_create_server(&echo_protocol, NULL, opt->host, opt->port, &opts, &server)
                 : asyncio_start_server(handle_echo, NULL, opt->host, opt->port, &opts, &server);
    if (rc < 0)
        goto out;
    asyncio_sockaddr_t addr;
    if (asyncio_server_sockname(server, 0, &addr) < 0)
        goto out;
    printf("READY %s %d %ld\n", addr.host, addr.port, (long)getpid());
    fflush(stdout);

    if (asyncio_event_wait(stop) < 0)
        goto out;
    /* server.close(); server.close_clients(); await server.wait_closed() */
    asyncio_server_close(server);
    asyncio_server_close_clients(server);
    asyncio_server_wait_closed(server);
out:
    asyncio_remove_signal_handler(NULL, SIGTERM);
    asyncio_server_free(server);
    asyncio_ssl_context_decref(tls);
    asyncio_event_free(stop);
    return NULL;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--host H] [--port P] [--mode streams|protocol] [--tls CERT KEY]\n",
            prog);
    return 2;
}

int main(int argc, char **argv)
{
    struct options opt = {.host = "127.0.0.1", .port = 8888, .protocol = false};
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            return usage(argv[0]);
        const char *val = argv[++i];
        if (strcmp(argv[i - 1], "--tls") == 0) {
            if (i + 1 >= argc)
                return usage(argv[0]);
            opt.cert = val;
            opt.key = argv[++i];
        } else if (strcmp(argv[i - 1], "--host") == 0) {
            opt.host = val;
        } else if (strcmp(argv[i - 1], "--port") == 0) {
            char *end;
            long port = strtol(val, &end, 10);
            if (*val == '\0' || *end != '\0' || port < 0 || port > 65535)
                return usage(argv[0]);
            opt.port = (int)port;
        } else if (strcmp(argv[i - 1], "--mode") == 0) {
            if (strcmp(val, "protocol") == 0)
                opt.protocol = true;
            else if (strcmp(val, "streams") != 0)
                return usage(argv[0]);
        } else {
            return usage(argv[0]);
        }
    }

    if (asyncio_run(async_main, &opt, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "echo_server: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
