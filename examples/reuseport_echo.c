/* An echo server with one event loop per core: N threads, each running
 * asyncio_run with a server of its own on the same port (SO_REUSEPORT:
 * asyncio_stream_opts_t.reuse_port), the kernel spreading the incoming
 * connections over them.  The scale-out of DESIGN.md: loops never share
 * anything, so there is nothing to lock.
 *
 *   reuseport_echo [--host H] [--port P] [--loops N] [--mode streams|protocol]
 *
 * N defaults to the number of CPUs.  The first loop binds P (0: a free
 * port), the others the port it got.  Prints `READY <host> <port> <pid>
 * <loops>` once every loop listens, echoes every byte back, and on SIGTERM
 * or SIGINT closes every server and its connections and exits with
 * status 0.
 *
 * The Python equivalent is one process per core, each running
 * `asyncio.run(main())` with start_server(..., reuse_port=True); with
 * threads, Python's loops would share the GIL. */
#include <casyncio.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
    const char *host;
    int port;
    int loops;
    bool protocol;
};

/* One loop: its thread, and what the main thread needs to stop it. */
struct shard {
    const struct options *opt;
    int index;
    pthread_t thread;
    int port;              /* the port it listens on (out) */
    asyncio_loop_t *loop;  /* its running loop (out) */
    asyncio_event_t *stop; /* set from the main thread through the loop */
    int status;            /* 0: listening; -1: failed */
    bool ready;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* --- streams: async def handle_echo(reader, writer) */
static void *handle_echo(asyncio_stream_t *stream, void *arg)
{
    (void)arg;
    char buf[2048];
    for (;;) {
        size_t n;
        if (asyncio_stream_read(stream, buf, sizeof buf, &n) < 0 || n == 0)
            break;
        if (asyncio_stream_write(stream, buf, n) < 0 || asyncio_stream_drain(stream) < 0)
            break;
    }
    asyncio_catch("ConnectionError");
    return NULL;
}

/* --- protocol: class EchoProtocol(asyncio.Protocol) */
static void echo_data_received(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)user;
    if (asyncio_transport_write(t, data, len) < 0)
        asyncio_transport_abort(t);
}

static const asyncio_protocol_t echo_protocol = {.data_received = echo_data_received};

static void announce(struct shard *sh, int status)
{
    pthread_mutex_lock(&lock);
    sh->status = status;
    sh->ready = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

/* --- async def main(): one shard's server, until the main thread says
 * stop. */
static void *shard_main(void *arg)
{
    struct shard *sh = arg;
    const struct options *opt = sh->opt;
    asyncio_server_t *server = NULL;
    asyncio_stream_opts_t opts = {.reuse_port = true};
    sh->stop = asyncio_event_new();
    int rc = sh->stop ? 0 : -1;
    if (rc == 0)
        rc = opt->protocol
                 ? asyncio_create_server(&echo_protocol, NULL, opt->host, sh->port, &opts, &server)
                 : asyncio_start_server(handle_echo, NULL, opt->host, sh->port, &opts, &server);
    asyncio_sockaddr_t addr;
    if (rc == 0)
        rc = asyncio_server_sockname(server, 0, &addr);
    if (rc < 0) {
        announce(sh, -1);
        goto out; /* the error stays raised: asyncio_run returns it */
    }
    sh->port = addr.port;
    sh->loop = asyncio_get_running_loop();
    announce(sh, 0);
    if (asyncio_event_wait(sh->stop) == 0) {
        asyncio_server_close(server);
        asyncio_server_close_clients(server);
        asyncio_server_wait_closed(server);
    }
out:
    asyncio_server_free(server);
    return NULL;
}

static void *shard_thread(void *arg)
{
    struct shard *sh = arg;
    if (asyncio_run(shard_main, sh, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "reuseport_echo: loop %d: %s\n", sh->index, e ? text : "Error");
        if (!sh->ready)
            announce(sh, -1);
    }
    asyncio_event_free(sh->stop);
    sh->stop = NULL;
    return NULL;
}

/* Runs in each loop's thread (call_soon_threadsafe). */
static void stop_shard(void *arg)
{
    asyncio_event_set(((struct shard *)arg)->stop);
}

/* Starts shard i and waits until it listens (or failed). */
static int start_shard(struct shard *sh)
{
    if (pthread_create(&sh->thread, NULL, shard_thread, sh) != 0)
        return -1;
    pthread_mutex_lock(&lock);
    while (!sh->ready)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return sh->status;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--host H] [--port P] [--loops N] [--mode streams|protocol]\n",
            prog);
    return 2;
}

int main(int argc, char **argv)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct options opt = {.host = "127.0.0.1", .port = 8888, .loops = ncpu > 0 ? (int)ncpu : 1};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage(argv[0]);
        const char *key = argv[i], *val = argv[i + 1];
        char *end;
        long v = strtol(val, &end, 10);
        bool number = *val != '\0' && *end == '\0';
        if (strcmp(key, "--host") == 0)
            opt.host = val;
        else if (strcmp(key, "--port") == 0 && number && v >= 0 && v <= 65535)
            opt.port = (int)v;
        else if (strcmp(key, "--loops") == 0 && number && v >= 1 && v <= 1024)
            opt.loops = (int)v;
        else if (strcmp(key, "--mode") == 0 && strcmp(val, "protocol") == 0)
            opt.protocol = true;
        else if (strcmp(key, "--mode") != 0 || strcmp(val, "streams") != 0)
            return usage(argv[0]);
    }

    /* Signals go to the main thread alone (sigwait below): the loops'
     * threads inherit the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct shard *shards = calloc((size_t)opt.loops, sizeof *shards);
    if (!shards)
        return 1;
    int started = 0, status = 0;
    for (; started < opt.loops; started++) {
        struct shard *sh = &shards[started];
        sh->opt = &opt;
        sh->index = started;
        /* The first binds the port asked for; the others join it. */
        sh->port = started == 0 ? opt.port : shards[0].port;
        if (start_shard(sh) != 0) {
            status = 1;
            break;
        }
    }
    if (status == 0) {
        printf("READY %s %d %ld %d\n", opt.host, shards[0].port, (long)getpid(), opt.loops);
        fflush(stdout);
        int sig;
        sigwait(&sigs, &sig);
    }
    /* Stop every loop that listens; join them all. */
    for (int i = 0; i <= started && i < opt.loops; i++) {
        struct shard *sh = &shards[i];
        if (!sh->ready)
            continue;
        if (sh->status == 0)
            asyncio_call_soon_threadsafe(sh->loop, stop_shard, sh);
        pthread_join(sh->thread, NULL);
    }
    free(shards);
    return status;
}
