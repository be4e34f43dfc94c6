/* An echo client (echo_client.py): connects, sends each line, prints what
 * comes back.
 *
 *   echo_client [--host H] [--port P] [--tls] [--cafile FILE] [LINE...]
 *
 * --tls: speaks TLS (ssl=), verifying the server's certificate and host
 * name against the system's CAs, or against FILE (PEM) with --cafile. 
 * Without LINEs it sends three of its own.  Exits with 1 if the connection
 * fails or an echo differs from what was sent. */
#include <casyncio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
    const char *host;
    int port;
    const char *const *lines;
    int nlines;
    bool tls;
    const char *cafile;
};

/* async def tcp_echo_client(host, port, lines): */
static void *echo_client(void *arg)
{
    const struct job *job = arg;
    asyncio_stream_t *stream;
    asyncio_ssl_context_t *tls = NULL;
    /* ctx = ssl.create_default_context(cafile=cafile) */
    if (job->tls) {
        tls = asyncio_ssl_create_default_context(ASYNCIO_SSL_SERVER_AUTH);
        if (!tls || (job->cafile &&
                     asyncio_ssl_context_load_verify_locations(tls, job->cafile, NULL) < 0)) {
            asyncio_ssl_context_decref(tls);
            return NULL;
        }
    }
    /* reader, writer = await asyncio.open_connection(host, port, ssl=ctx) */
    asyncio_stream_opts_t opts = {.ssl = tls};
    int rc = asyncio_open_connection(job->host, job->port, &opts, &stream);
    asyncio_ssl_context_decref(tls); /* the connection keeps its own reference */
    if (rc < 0)
        return NULL;
    for (int i = 0; i < job->nlines; i++) {
        const char *line = job->lines[i];
        size_t len = strlen(line);
        char reply[1024];
        size_t got;
        if (len >= sizeof reply) {
            asyncio_raise("ValueError", "line %d is longer than %zu bytes", i + 1,
                          sizeof reply - 1);
            break;
        }
        printf("Send: %s\n", line);
        /* writer.write(line + b"\n"); await writer.drain() */
        const void *parts[2] = {line, "\n"};
        const size_t lens[2] = {len, 1};
        if (asyncio_stream_writelines(stream, parts, lens, 2) < 0 ||
            asyncio_stream_drain(stream) < 0)
            break;
        /* data = await reader.readline() */
        if (asyncio_stream_readline(stream, reply, sizeof reply, &got) < 0)
            break;
        if (got != len + 1 || memcmp(reply, line, len) != 0) {
            asyncio_raise("RuntimeError", "the echo of line %d differs", i + 1);
            break;
        }
        printf("Received: %.*s\n", (int)len, reply);
    }
    /* writer.close(); await writer.wait_closed() -- keeping an error raised
     * above: wait_closed must not replace it. */
    printf("Close the connection\n");
    asyncio_stream_close(stream);
    if (!asyncio_error())
        asyncio_stream_wait_closed(stream);
    asyncio_stream_free(stream);
    return NULL;
}

int main(int argc, char **argv)
{
    static const char *const default_lines[] = {"Hello World!", "casyncio echoes", "the last line"};
    struct job job = {"127.0.0.1", 8888, default_lines, 3, false, NULL};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--tls") == 0) {
            job.tls = true;
        } else if (i + 1 < argc && strcmp(argv[i], "--host") == 0) {
            job.host = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
            job.port = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--cafile") == 0) {
            job.cafile = argv[++i];
            job.tls = true;
        } else {
            fprintf(stderr, "usage: %s [--host H] [--port P] [--tls] [--cafile FILE] [LINE...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (i < argc) {
        job.lines = (const char *const *)argv + i;
        job.nlines = argc - i;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (asyncio_run(echo_client, &job, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "echo_client: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
