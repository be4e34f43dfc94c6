/* A chat server (chat_server.py): every line a client sends goes to all the
 * other clients.
 *
 *   chat_server [--host H] [--port P]
 *
 * A client's first line is its name; the server answers "* welcome NAME"
 * and from then on sends every other client "NAME: line" for each line.
 * Prints `READY <host> <port> <pid>` once listening; exits with 0 on
 * SIGTERM, as echo_server does.
 *
 * A slow client never stalls the others.  Each client has its own writer
 * task draining its own bounded queue (MAX_QUEUED lines); the sender's task
 * only puts lines in queues with put_nowait, which never suspends.  Drop
 * policy: when a client's queue is full, the line is dropped for that
 * client alone (it has fallen MAX_QUEUED lines behind), and it is told how
 * many it missed when its queue has room again. */
#include <casyncio.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_QUEUED 256
#define MAX_LINE 4096

/* A line on its way to several clients: shared, freed by the last one. */
struct message {
    size_t refs, len;
    char data[];
};

struct client {
    struct client *prev, *next; /* the chat's list of clients with a name */
    asyncio_stream_t *stream;
    asyncio_queue_t *outbox; /* struct message *, at most MAX_QUEUED */
    size_t dropped;          /* lines dropped since the last that got through */
    char name[64];
};

struct chat {
    struct client *clients;
};

static struct message *message_new(const char *a, size_t alen, const char *b, size_t blen)
{
    struct message *m = malloc(sizeof *m + alen + blen);
    if (!m) {
        asyncio_raise("MemoryError", "no memory for a message");
        return NULL;
    }
    m->refs = 1;
    m->len = alen + blen;
    memcpy(m->data, a, alen);
    memcpy(m->data + alen, b, blen);
    return m;
}

static void message_unref(struct message *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* queue.put_nowait(), or count the line as dropped for this client. */
static void deliver(struct client *c, struct message *m)
{
    if (c->dropped) { /* tell it first what it missed, if there is room */
        char note[64];
        int n = snprintf(note, sizeof note, "* %zu lines dropped\n", c->dropped);
        struct message *d = message_new(note, (size_t)n, "", 0);
        if (!d || asyncio_queue_put_nowait(c->outbox, d) < 0) {
            message_unref(d);
            asyncio_error_clear();
            c->dropped++;
            return;
        }
        c->dropped = 0;
    }
    m->refs++;
    if (asyncio_queue_put_nowait(c->outbox, m) < 0) { /* QueueFull */
        asyncio_error_clear();
        m->refs--;
        c->dropped++;
    }
}

/* One task per client: sends what its queue holds.  Its drain suspends
 * this task alone. */
static void *writer_task(void *arg)
{
    struct client *c = arg;
    for (;;) {
        void *item;
        if (asyncio_queue_get(c->outbox, &item) < 0)
            return NULL; /* cancelled when the client leaves */
        struct message *m = item;
        int rc = asyncio_stream_write(c->stream, m->data, m->len);
        message_unref(m);
        if (rc < 0 || asyncio_stream_drain(c->stream) < 0)
            return NULL; /* the client is gone: its reader sees it too */
    }
}

static void chat_join(struct chat *chat, struct client *c)
{
    c->next = chat->clients;
    if (c->next)
        c->next->prev = c;
    chat->clients = c;
}

static void chat_leave(struct chat *chat, struct client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (chat->clients == c)
        chat->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* readline without the newline; false at EOF or on an error (raised). */
static bool read_line(asyncio_stream_t *stream, char *buf, size_t cap, size_t *len)
{
    if (asyncio_stream_readline(stream, buf, cap, len) < 0 || *len == 0)
        return false;
    if (buf[*len - 1] == '\n')
        (*len)--;
    return true;
}

/* async def handle_client(reader, writer): */
static void *handle_client(asyncio_stream_t *stream, void *arg)
{
    struct chat *chat = arg;
    struct client c = {.stream = stream};
    char line[MAX_LINE];
    size_t len;

    if (!read_line(stream, line, sizeof c.name, &len))
        return NULL;
    snprintf(c.name, sizeof c.name, "%.*s", (int)len, line);
    c.outbox = asyncio_queue_new(MAX_QUEUED);
    if (!c.outbox)
        return NULL;
    asyncio_future_t *writer = asyncio_create_task(writer_task, &c);
    if (!writer) {
        asyncio_queue_free(c.outbox);
        return NULL;
    }
    char hello[sizeof c.name + 16];
    int hlen = snprintf(hello, sizeof hello, "* welcome %s\n", c.name);
    struct message *welcome = message_new(hello, (size_t)hlen, "", 0);
    if (welcome) {
        deliver(&c, welcome);
        message_unref(welcome);
    }
    chat_join(chat, &c);

    char prefix[sizeof c.name + 2];
    int plen = snprintf(prefix, sizeof prefix, "%s: ", c.name);
    while (read_line(stream, line, sizeof line - 1, &len)) {
        line[len++] = '\n';
        struct message *m = message_new(prefix, (size_t)plen, line, len);
        if (!m)
            break;
        for (struct client *o = chat->clients; o; o = o->next)
            if (o != &c)
                deliver(o, m);
        message_unref(m);
        /* Let the writers run before the next line: put_nowait never
         * suspends, nor does readline while lines are buffered, so a burst
         * read at once would fill every queue before any writer had a
         * turn. */
        if (asyncio_sleep(0) < 0)
            break;
    }

    /* The client left, its connection failed, or the server is shutting
     * down (this task is cancelled).  Keep that error aside while the
     * writer task is stopped and waited for: it uses c, on this stack. */
    chat_leave(chat, &c);
    asyncio_error_t *why = asyncio_error() ? asyncio_error_dup(asyncio_error()) : NULL;
    asyncio_error_clear();
    asyncio_cancel(writer, NULL);
    if (asyncio_await(writer, NULL) < 0)
        asyncio_error_clear();
    asyncio_decref(writer);
    void *item;
    while (asyncio_queue_get_nowait(c.outbox, &item) == 0)
        message_unref(item);
    asyncio_error_clear();
    asyncio_queue_free(c.outbox);
    if (why) {
        /* A peer that went away or a line too long ends this client alone;
         * anything else (the shutdown's CancelledError) goes on. */
        asyncio_raise_error(why);
        asyncio_error_free(why);
        if (!asyncio_catch("ConnectionError"))
            asyncio_catch("ValueError");
    }
    return NULL;
}

static void stop_serving(void *event)
{
    asyncio_event_set(event);
}

/* async def main(): as echo_server's. */
static void *async_main(void *arg)
{
    const char *const *where = arg;
    struct chat chat = {NULL};
    asyncio_server_t *server = NULL;
    asyncio_event_t *stop = asyncio_event_new();
    if (!stop)
        return NULL;
    if (asyncio_add_signal_handler(NULL, SIGTERM, stop_serving, stop) < 0 ||
        asyncio_start_server(handle_client, &chat, where[0], atoi(where[1]), NULL, &server) < 0)
        goto out;
    asyncio_sockaddr_t addr;
    if (asyncio_server_sockname(server, 0, &addr) < 0)
        goto out;
    printf("READY %s %d %ld\n", addr.host, addr.port, (long)getpid());
    fflush(stdout);
    if (asyncio_event_wait(stop) < 0)
        goto out;
    asyncio_server_close(server);
    asyncio_server_close_clients(server);
    asyncio_server_wait_closed(server);
out:
    asyncio_remove_signal_handler(NULL, SIGTERM);
    asyncio_server_free(server);
    asyncio_event_free(stop);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *where[2] = {"127.0.0.1", "8888"};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "--host") == 0) {
            where[0] = argv[i + 1];
        } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
            where[1] = argv[i + 1];
        } else {
            fprintf(stderr, "usage: %s [--host H] [--port P]\n", argv[0]);
            return 2;
        }
    }
    if (asyncio_run(async_main, (void *)where, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "chat_server: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
