/*
 * Servers: start_server and start_unix_server (a task per connection),
 * serve_forever, close, close_clients, wait_closed, SO_REUSEPORT, many
 * connections at once, allocation failures, the loop closing with servers
 * and connections open, Unix socket paths.  A server's protocol
 * connections (create_server) are in check_transport.c.
 *
 * Servers bind 127.0.0.1 on a free port (port 0) and are closed by the
 * test.  Where Python decides the answer the expected behaviour is what
 * tests/twins/stream_servers.py shows for the test of the same name.
 */
#include "testutil.h"
#include "netutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes */

#include "../src/testing.h" /* asyncio__handle_count */

/* ---------------------------------------------------------------------
 * Unix sockets
 * --------------------------------------------------------------------- */

static void *unix_main(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/casyncio-test-%d.sock", (int)getpid());
    unlink(path);
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_unix_server(echo_handler, NULL, path, NULL, &srv), 0);
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_server_sockname(srv, 0, &a), 0);
    ck_assert_int_eq(a.family, AF_UNIX);
    ck_assert_str_eq(a.host, path);
    /* A path taken by a file that is not a socket: address in use. */
    char fpath[80];
    snprintf(fpath, sizeof fpath, "%s.file", path);
    FILE *fp = fopen(fpath, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    asyncio_server_t *srv2 = NULL;
    ck_assert_int_lt(asyncio_start_unix_server(echo_handler, NULL, fpath, NULL, &srv2), 0);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    ck_assert_ptr_null(srv2);
    ck_assert_int_eq(access(fpath, F_OK), 0); /* left alone */
    unlink(fpath);
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_unix_connection(path, NULL, &s), 0);
    ck_assert_int_eq(asyncio_stream_peername(s, &a), 0);
    ck_assert_str_eq(a.host, path);
    ck_assert_int_eq(asyncio_stream_write(s, "unix\n", 5), 0);
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readexactly(s, buf, 5, &n), 0);
    ck_assert(memcmp(buf, "unix\n", 5) == 0);
    asyncio_stream_free(s);
    asyncio_server_free(srv);
    unlink(path);
    /* Nobody listens any more. */
    ck_assert_int_lt(asyncio_open_unix_connection(path, NULL, &s), 0);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_unix)
{
    run(unix_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Servers: close with live clients, serve_forever, handler errors.
 * --------------------------------------------------------------------- */

static int HANDLERS_CANCELLED, HANDLERS_DONE;

static void *line_echo(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[64];
    size_t n;
    for (;;) {
        int rc = asyncio_stream_readline(s, buf, sizeof buf, &n);
        if (rc == ASYNCIO_ECANCELLED) {
            HANDLERS_CANCELLED++;
            return NULL; /* raised: the task ends cancelled, quietly */
        }
        if (rc || n == 0) {
            HANDLERS_DONE++;
            return NULL;
        }
        ck_assert_int_eq(asyncio_stream_write(s, buf, n), 0);
    }
}

static asyncio_server_t *WAITED;

static void *other_waiter(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_server_wait_closed(WAITED), 0);
    return NULL;
}

/* Twin: tests/twins/stream_servers.py (close_keeps_live_clients) */
static void *server_close_main(void *arg)
{
    (void)arg;
    HANDLERS_CANCELLED = HANDLERS_DONE = 0;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(line_echo, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    asyncio_stream_t *c[3];
    char buf[64];
    size_t n;
    for (int i = 0; i < 3; i++) {
        c[i] = connect_ok(port, NULL);
        ck_assert_int_eq(asyncio_stream_write(c[i], "hi\n", 3), 0);
        ck_assert_int_eq(asyncio_stream_readline(c[i], buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, 3);
    }
    asyncio_server_close(srv);
    asyncio_server_close(srv); /* again: harmless */
    ck_assert(!asyncio_server_is_serving(srv));
    ck_assert_uint_eq(asyncio_server_nsockets(srv), 0);
    ck_assert_int_eq(asyncio_server_serve_forever(srv), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    /* New connections are refused; the live ones go on. */
    asyncio_stream_t *late = NULL;
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", port, NULL, &late), UV_ECONNREFUSED);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_write(c[1], "again\n", 6), 0);
    ck_assert_int_eq(asyncio_stream_readline(c[1], buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 6);
    /* One client leaves by itself; close_clients cancels the others. */
    asyncio_stream_free(c[0]);
    while (HANDLERS_DONE < 1)
        tu_yield();
    WAITED = srv;
    asyncio_future_t *w = tu_spawn(other_waiter, NULL);
    tu_yield();
    ck_assert(!asyncio_done(w));
    asyncio_server_close_clients(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    ck_assert_int_eq(asyncio_await(w, NULL), 0);
    asyncio_decref(w);
    ck_assert_int_eq(HANDLERS_CANCELLED, 2);
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(asyncio_stream_read(c[i], buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, 0); /* EOF */
        asyncio_stream_free(c[i]);
    }
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_server_close_live_clients)
{
    run(server_close_main, NULL);
}
END_TEST

static asyncio_server_t *FOREVER;

static void *forever_task(void *arg)
{
    (void)arg;
    return IP(asyncio_server_serve_forever(FOREVER));
}

static void *failing_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_stream_write(s, "bye", 3), 0);
    return asyncio_raise("ValueError", "handler failed");
}

static int REPORTS;
static void count_reports(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    ck_assert_str_eq(ctx->message, "Unhandled exception in client_connected_cb");
    ck_assert_str_eq(ctx->exception->type, "ValueError");
    REPORTS++;
}

/* Twin: tests/twins/stream_servers.py (serve_forever_ends_on_close,
 * cancel_serve_forever_closes) */
static void *serve_forever_main(void *arg)
{
    (void)arg;
    REPORTS = 0;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), count_reports, NULL);
    ck_assert_int_eq(asyncio_start_server(failing_handler, NULL, "127.0.0.1", 0, NULL, &FOREVER),
                     0);
    asyncio_future_t *f = tu_spawn(forever_task, NULL);
    tu_yield();
    ck_assert_int_eq(asyncio_server_serve_forever(FOREVER), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_server_free(FOREVER); /* refused: a task serves it */
    ck_assert_int_eq(asyncio_error()->code, ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    /* A handler that raises: reported, its connection closed. */
    asyncio_stream_t *s = connect_ok(server_port(FOREVER), NULL);
    char *data = NULL;
    size_t n;
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    ck_assert_str_eq(data, "bye");
    asyncio_buffer_free(data);
    asyncio_stream_free(s);
    ck_assert_int_eq(REPORTS, 1);
    /* Closing the server ends serve_forever with CancelledError, as in
     * Python. */
    asyncio_server_close(FOREVER);
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(f);
    /* Cancelling serve_forever closes the server. */
    asyncio_server_free(FOREVER);
    ck_assert_int_eq(asyncio_start_server(failing_handler, NULL, "127.0.0.1", 0, NULL, &FOREVER),
                     0);
    f = tu_spawn(forever_task, NULL);
    tu_yield();
    asyncio_cancel(f, NULL);
    ck_assert_int_eq(asyncio_await(f, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(f);
    ck_assert(!asyncio_server_is_serving(FOREVER));
    asyncio_server_free(FOREVER);
    return NULL;
}

START_TEST(test_serve_forever)
{
    run(serve_forever_main, NULL);
}
END_TEST

/* SO_REUSEPORT: two servers share a port (one loop per core); without it
 * the second bind fails. */
static void *reuse_port_main(void *arg)
{
    (void)arg;
    asyncio_stream_opts_t opts = {.reuse_port = true};
    asyncio_server_t *a = NULL, *b = NULL, *c = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &opts, &a), 0);
    int port = server_port(a);
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", port, &opts, &b), 0);
    ck_assert_int_eq(server_port(b), port);
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", port, NULL, &c),
                     UV_EADDRINUSE);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    ck_assert_ptr_null(c);
    echo_ok(port);
    asyncio_server_free(a);
    asyncio_server_free(b);
    return NULL;
}

START_TEST(test_reuse_port)
{
    run(reuse_port_main, NULL);
}
END_TEST

/* Allocation failure at every point of start_server, open_connection and
 * a round trip: MemoryError (or a clean success), never a crash or a
 * leak. */
static int CHAOS_REPORTS;
static void chaos_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    /* A connection the server could not take: reported, then rejected. */
    ck_assert_str_eq(ctx->exception->type, "MemoryError");
    CHAOS_REPORTS++;
}

static void *chaos_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), chaos_report, NULL);
    int failures = 0, successes = 0;
    for (long nth = 1; nth < 400 && successes < 5; nth++) {
        asyncio_server_t *srv = NULL;
        asyncio_stream_t *s = NULL;
        tu_alloc_fail_at(nth);
        int rc = asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv);
        if (rc == 0)
            rc = asyncio_open_connection("127.0.0.1", server_port(srv), NULL, &s);
        char buf[4];
        size_t n;
        if (rc == 0)
            rc = asyncio_stream_write(s, "abc", 3);
        if (rc == 0)
            rc = asyncio_stream_readexactly(s, buf, 3, &n);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            successes++;
        } else {
            failures++;
            ck_assert_msg(asyncio_error_matches("MemoryError") ||
                              asyncio_error_matches("IncompleteReadError") ||
                              asyncio_error_matches("OSError"),
                          "allocation %ld: %s", nth, tu_raised_message());
            asyncio_error_clear();
        }
        asyncio_stream_free(s);
        asyncio_server_free(srv);
        /* Let closed handles go before the next round. */
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_gt(successes, 0);
    ck_assert_int_gt(CHAOS_REPORTS, 0);
    return NULL;
}

START_TEST(test_alloc_failure)
{
    run(chaos_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Many connections at once.
 * --------------------------------------------------------------------- */

static int MANY_PORT;
static long MANY_OK;

static void *many_client(void *arg)
{
    char msg[32], buf[32];
    int len = snprintf(msg, sizeof msg, "client %ld\n", (long)PI(arg));
    asyncio_stream_t *s = NULL;
    ck_assert_msg(asyncio_open_connection("127.0.0.1", MANY_PORT, NULL, &s) == 0, "%s",
                  tu_raised_message());
    /* Everyone connects before anyone writes: all are open at once. */
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_int_eq(asyncio_stream_write(s, msg, (size_t)len), 0);
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, (size_t)len);
    ck_assert(memcmp(buf, msg, n) == 0);
    asyncio_stream_free(s);
    MANY_OK++;
    return NULL;
}

static void *many_main(void *arg)
{
    long n = PI(arg);
    asyncio_server_t *srv = NULL;
    asyncio_stream_opts_t opts = {.backlog = 4096};
    ck_assert_int_eq(asyncio_start_server(line_echo, NULL, "127.0.0.1", 0, &opts, &srv), 0);
    MANY_PORT = server_port(srv);
    asyncio_future_t **ts = calloc((size_t)n, sizeof *ts);
    asyncio_task_opts_t topts = {.stack_size = 32 * 1024};
    for (long i = 0; i < n; i++)
        ck_assert_ptr_nonnull(ts[i] = asyncio_create_task_ex(many_client, IP(i), &topts));
    ck_assert_int_eq(asyncio_gather(ts, (size_t)n, NULL, 0), 0);
    tu_decref_all(ts, (size_t)n);
    free(ts);
    ck_assert_int_eq(MANY_OK, n);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_many_connections)
{
    /* Two descriptors per connection: raise the soft limit to the hard
     * one and scale down if that is still too low. */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    long n = tu_scaled(10000);
    long fit = ((long)rl.rlim_cur - 64) / 2;
    if (n > fit)
        n = fit;
    fprintf(stderr, "many_connections: %ld at once\n", n);
    MANY_OK = 0;
    run(many_main, IP(n));
}
END_TEST

/* ---------------------------------------------------------------------
 * Loop close with connections and servers open.
 * --------------------------------------------------------------------- */

static void *idle_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[8];
    size_t n;
    asyncio_stream_read(s, buf, sizeof buf, &n); /* until the loop closes */
    return NULL;
}

/* Closes its connection, then waits for something else until the loop
 * closes: the loop frees the stream although the handler never ends. */
static void *close_then_wait(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    asyncio_stream_close(s);
    asyncio_sleep(3600);
    return NULL;
}

/* What leave_open leaves open and the caller frees after the loop closed:
 * the memory of its streams and servers stays for those frees. */
static struct {
    asyncio_server_t *srv[3];
    asyncio_stream_t *s[5];
} left;

static void *leave_open(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL, *psrv = NULL, *csrv = NULL;
    ck_assert_int_eq(asyncio_start_server(close_then_wait, NULL, "127.0.0.1", 0, NULL, &csrv), 0);
    asyncio_stream_t *cs = connect_ok(server_port(csrv), NULL);
    char b[1];
    size_t nb;
    ck_assert_int_eq(asyncio_stream_read(cs, b, 1, &nb), 0);
    ck_assert_uint_eq(nb, 0);                 /* the handler closed it */
    ck_assert_int_eq(asyncio_sleep(0.01), 0); /* its socket is closed by now */
    ck_assert_int_eq(asyncio_start_server(idle_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    static const asyncio_protocol_t nothing = {0};
    ck_assert_int_eq(asyncio_create_server(&nothing, NULL, "127.0.0.1", 0, NULL, &psrv), 0);
    int port = server_port(srv);
    for (int i = 0; i < 4; i++) {
        asyncio_stream_t *s = connect_ok(i % 2 ? port : server_port(psrv), NULL);
        ck_assert_int_eq(asyncio_stream_write(s, "pending", 7), 0);
        left.s[i] = s;
    }
    left.s[4] = cs;
    left.srv[0] = srv;
    left.srv[1] = psrv;
    left.srv[2] = csrv;
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(asyncio_create_connection(&nothing, NULL, "127.0.0.1", port, NULL, &t), 0);
    tu_yield();
    return NULL; /* everything left open */
}

START_TEST(test_loop_close_with_open_connections)
{
    tu_alloc_install();
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *f = asyncio_create_task(leave_open, NULL);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), 0);
    asyncio_decref(f);
    /* Let the server side accept. */
    f = asyncio_create_task(leave_open, NULL);
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_error_clear();
    /* Closed by the loop; the caller's memory until freed. */
    ck_assert(asyncio_stream_is_closing(left.s[0]));
    ck_assert(!asyncio_server_is_serving(left.srv[0]));
    for (int i = 0; i < 5; i++)
        asyncio_stream_free(left.s[i]);
    for (int i = 0; i < 3; i++)
        asyncio_server_free(left.srv[i]);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_no_leak();
}
END_TEST

/* ---------------------------------------------------------------------
 * Review: defects found reading the code cold, one test each.
 * --------------------------------------------------------------------- */

/* A handler hands its stream to other tasks and returns: the server closes
 * the stream, and the tasks still in read / wait_closed / drain must come
 * back (EOF, closed) without touching freed memory. */
static asyncio_future_t *helpers[3];
static int helper_rc[3];
static size_t helper_n;

static void *helper_read(void *arg)
{
    char buf[8];
    helper_rc[0] = asyncio_stream_read(arg, buf, sizeof buf, &helper_n);
    asyncio_error_clear();
    return NULL;
}

static void *helper_wait_closed(void *arg)
{
    helper_rc[1] = asyncio_stream_wait_closed(arg);
    asyncio_error_clear();
    return NULL;
}

static void *helper_wait_closed2(void *arg)
{
    helper_rc[2] = asyncio_stream_wait_closed(arg);
    asyncio_error_clear();
    return NULL;
}

static void *hand_over(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    helpers[0] = asyncio_create_task(helper_read, s);
    helpers[1] = asyncio_create_task(helper_wait_closed, s);
    helpers[2] = asyncio_create_task(helper_wait_closed2, s);
    tu_yield(); /* they all wait now */
    return NULL;
}

static void *hand_over_main(void *arg)
{
    (void)arg;
    memset(helpers, 0, sizeof helpers);
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(hand_over, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *c = connect_ok(server_port(srv), NULL);
    char b[1];
    size_t nb;
    ck_assert_int_eq(asyncio_stream_read(c, b, 1, &nb), 0);
    ck_assert_uint_eq(nb, 0); /* the server closed its side */
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(helpers[i]);
        asyncio_await(helpers[i], NULL);
        asyncio_decref(helpers[i]);
    }
    ck_assert_int_eq(helper_rc[0], 0);
    ck_assert_uint_eq(helper_n, 0);
    ck_assert_int_eq(helper_rc[1], 0);
    ck_assert_int_eq(helper_rc[2], 0);
    asyncio_stream_free(c);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_handler_returns_while_others_wait)
{
    run(hand_over_main, NULL);
}
END_TEST

/* A Unix socket path longer than sun_path: an error, as Python's "AF_UNIX
 * path too long", never a silently truncated path (which would bind, or
 * connect to, another socket). */
static void *long_path_main(void *arg)
{
    (void)arg;
    struct sockaddr_un sun;
    char base[sizeof sun.sun_path + 8];
    int len = snprintf(base, sizeof base, "/tmp/casyncio-review-%d-", (int)getpid());
    while ((size_t)len < sizeof sun.sun_path - 1)
        base[len++] = 'a';
    base[len] = '\0'; /* what fits exactly */
    char longer[sizeof base + 4];
    snprintf(longer, sizeof longer, "%sbcd", base);
    unlink(base);
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_unix_server(echo_once, NULL, base, NULL, &srv), 0);
    asyncio_stream_t *s = NULL;
    int rc = asyncio_open_unix_connection(longer, NULL, &s);
    ck_assert_int_ne(rc, 0);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(tu_raised_message(), "AF_UNIX path too long");
    asyncio_error_clear();
    asyncio_server_t *srv2 = NULL;
    ck_assert_int_ne(asyncio_start_unix_server(echo_once, NULL, longer, NULL, &srv2), 0);
    ck_assert_str_eq(tu_raised_message(), "AF_UNIX path too long");
    asyncio_error_clear();
    ck_assert_ptr_null(srv2);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    unlink(base);
    return NULL;
}

START_TEST(test_review_unix_path_too_long)
{
    run(long_path_main, NULL);
}
END_TEST

/* A socket file left at the path (a server that died): removed and bound
 * again, as Python's create_unix_server does. */
static void *stale_socket_main(void *arg)
{
    (void)arg;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "/tmp/casyncio-stale-%d.sock", (int)getpid());
    unlink(sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    close(fd);
    asyncio_server_t *srv = NULL;
    int rc = asyncio_start_unix_server(echo_once, NULL, sun.sun_path, NULL, &srv);
    ck_assert_msg(rc == 0, "start_unix_server: %s", tu_raised_message());
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_unix_connection(sun.sun_path, NULL, &s), 0);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    unlink(sun.sun_path);
    return NULL;
}

START_TEST(test_review_stale_unix_socket)
{
    run(stale_socket_main, NULL);
}
END_TEST

/* The loop closes with a task suspended at every point: serve_forever,
 * server wait_closed, getaddrinfo, connect, read, drain, wait_closed.  No
 * leak, no crash. */
static bool flood_blocked;

static void *flood(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    static char chunk[64 * 1024];
    for (;;) { /* the client never reads: drain blocks */
        if (asyncio_stream_write(s, chunk, sizeof chunk))
            break;
        if (asyncio_transport_get_write_buffer_size(asyncio_stream_transport(s)) > 0)
            flood_blocked = true;
        if (asyncio_stream_drain(s))
            break;
    }
    return NULL;
}

static void *t_serve_forever(void *arg)
{
    asyncio_server_serve_forever(arg);
    return NULL;
}

static void *t_resolve(void *arg)
{
    (void)arg;
    asyncio_addrinfo_t *ai = NULL;
    if (asyncio_getaddrinfo("localhost", "80", 0, SOCK_STREAM, 0, &ai) == 0)
        asyncio_addrinfo_free(ai);
    return NULL;
}

static void *t_connect(void *arg)
{
    asyncio_stream_t *s = NULL;
    if (asyncio_open_connection("127.0.0.1", PI(arg), NULL, &s) == 0)
        asyncio_stream_free(s);
    return NULL;
}

static void *t_read(void *arg)
{
    char buf[4];
    size_t n;
    asyncio_stream_read(arg, buf, sizeof buf, &n);
    return NULL;
}

static asyncio_server_t *es_srv; /* the caller's, freed after the loop closed */
static asyncio_stream_t *es_stream;

static void *every_state(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(flood, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    flood_blocked = false;
    asyncio_stream_t *c = connect_ok(port, NULL);
    es_srv = srv;
    es_stream = c;
    while (!flood_blocked) /* the handler is in drain */
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_future_t *ts[6] = {
        asyncio_create_task(t_serve_forever, srv),
        asyncio_create_task(t_server_wait_closed, srv),
        asyncio_create_task(t_resolve, NULL),
        asyncio_create_task(t_connect, IP(port)),
        asyncio_create_task(t_read, c),
        asyncio_create_task(t_wait_closed, c),
    };
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_nonnull(ts[i]);
        asyncio_decref(ts[i]);
    }
    tu_yield();
    return NULL; /* everything suspended */
}

START_TEST(test_review_loop_close_every_state)
{
    tu_alloc_install();
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *f = asyncio_create_task(every_state, NULL);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), 0);
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_error_clear();
    asyncio_stream_free(es_stream);
    asyncio_server_free(es_srv);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_no_leak();
}
END_TEST

/* ---------------------------------------------------------------------
 * The API's rules: handles, out-parameters, messages; a peer's stream
 * kept after its handler returned.
 * --------------------------------------------------------------------- */

/* A freed server's handle: free, serve_forever, wait_closed and sockname
 * refuse it (ValueError, without reading the freed memory: ASan), close
 * and the getters do nothing, and it never reaches a server made after
 * the free. */
static void *server_handles_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    asyncio_server_t *old = NULL, *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &old), 0);
    asyncio_server_free(old);
    ck_assert_ptr_null(asyncio_error());
    asyncio_server_free(old); /* a double free is refused, not done */
    assert_not_live("server");
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    ck_assert_ptr_ne(srv, old);
    ck_assert_int_eq(asyncio_server_serve_forever(old), ASYNCIO_EVALUE);
    assert_not_live("server");
    ck_assert_int_eq(asyncio_server_wait_closed(old), ASYNCIO_EVALUE);
    assert_not_live("server");
    asyncio_sockaddr_t a;
    memset(&a, 0x55, sizeof a);
    ck_assert_int_eq(asyncio_server_sockname(old, 0, &a), ASYNCIO_EVALUE);
    assert_not_live("server");
    ck_assert_int_eq(a.port, 0);
    ck_assert_int_eq(a.host[0], '\0');
    asyncio_server_close(old);
    asyncio_server_close_clients(old);
    ck_assert(!asyncio_server_is_serving(old));
    ck_assert_uint_eq(asyncio_server_nsockets(old), 0);
    ck_assert_ptr_null(asyncio_error());
    /* The new server is untouched. */
    ck_assert(asyncio_server_is_serving(srv));
    echo_ok(server_port(srv));
    server_shutdown(srv);
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_server_handles)
{
    run(server_handles_main, NULL);
}
END_TEST

/* Every failing constructor sets *server to NULL, however early. */
static void *server_out_params_main(void *arg)
{
    (void)arg;
    static const asyncio_protocol_t nothing = {0};
    asyncio_server_t *srv = SENTINEL;
    ck_assert_int_eq(asyncio_start_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE);
    ck_assert_ptr_null(srv);
    srv = SENTINEL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 70000, NULL, &srv),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(srv);
    srv = SENTINEL;
    ck_assert_int_eq(asyncio_start_unix_server(echo_handler, NULL, NULL, NULL, &srv),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(srv);
    srv = SENTINEL;
    ck_assert_int_eq(asyncio_create_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE);
    ck_assert_ptr_null(srv);
    srv = SENTINEL;
    ck_assert_int_eq(asyncio_create_unix_server(&nothing, NULL, NULL, NULL, &srv), ASYNCIO_EVALUE);
    ck_assert_ptr_null(srv);
    tu_clear_all();
    /* Failing late: the address is taken. */
    asyncio_server_t *a = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &a), 0);
    srv = SENTINEL;
    ck_assert_int_eq(asyncio_create_server(&nothing, NULL, "127.0.0.1", server_port(a), NULL, &srv),
                     UV_EADDRINUSE);
    ck_assert_ptr_null(srv);
    asyncio_error_clear();
    asyncio_sockaddr_t addr;
    memset(&addr, 0x55, sizeof addr);
    ck_assert_int_eq(asyncio_server_sockname(a, 1, &addr), ASYNCIO_EVALUE);
    ck_assert_int_eq(addr.family, 0);
    ck_assert_int_eq(addr.host[0], '\0');
    asyncio_error_clear();
    asyncio_server_free(a);
    return NULL;
}

START_TEST(test_server_out_params)
{
    run(server_out_params_main, NULL);
    tu_alloc_install();
    asyncio_server_t *srv = SENTINEL;
    expect_msg(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv),
               ASYNCIO_ERUNTIME, "RuntimeError", "no running event loop");
    ck_assert_ptr_null(srv);
}
END_TEST

/* Messages read as Python's and name no C function. */
static void *server_messages_main(void *arg)
{
    (void)arg;
    static const asyncio_protocol_t nothing = {0};
    asyncio_server_t *srv = NULL, *a = NULL;
    char want[256];
    expect_msg(asyncio_start_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE,
               "ValueError", "handler is NULL");
    expect_msg(asyncio_create_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE,
               "ValueError", "protocol is NULL");
    expect_msg(asyncio_create_unix_server(&nothing, NULL, NULL, NULL, &srv), ASYNCIO_EVALUE,
               "ValueError", "path is NULL");
    expect_msg(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, NULL), ASYNCIO_EVALUE,
               "ValueError", "server is NULL");
    expect_msg(asyncio_start_server(echo_handler, NULL, "127.0.0.1", -1, NULL, &srv),
               ASYNCIO_EVALUE, "ValueError", "port must be 0-65535.");
    asyncio_stream_opts_t bad = {.backlog = -1};
    expect_msg(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &bad, &srv), ASYNCIO_EVALUE,
               "ValueError", "backlog must not be negative");
    expect_msg(asyncio_server_wait_closed(NULL), ASYNCIO_EVALUE, "ValueError",
               "the server is NULL");
    /* Python's: "error while attempting to bind on address %r: %s". */
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &a), 0);
    int port = server_port(a);
    snprintf(want, sizeof want,
             "[Errno 98] error while attempting to bind on address ('127.0.0.1', %d): address "
             "already in use",
             port);
    expect_msg(asyncio_start_server(echo_handler, NULL, "127.0.0.1", port, NULL, &srv),
               UV_EADDRINUSE, "OSError", want);
    asyncio_sockaddr_t addr;
    expect_msg(asyncio_server_sockname(a, 3, &addr), ASYNCIO_EVALUE, "ValueError",
               "no socket 3: the server has 1");
    expect_msg(asyncio_server_sockname(a, 0, NULL), ASYNCIO_EVALUE, "ValueError", "addr is NULL");
    asyncio_server_free(a);
    /* A Unix path taken by a file that is not a socket: Python's words. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/casyncio-msg-%d.file", (int)getpid());
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    snprintf(want, sizeof want, "[Errno 98] Address '%s' is already in use", path);
    expect_msg(asyncio_start_unix_server(echo_handler, NULL, path, NULL, &srv), UV_EADDRINUSE,
               "OSError", want);
    unlink(path);
    return NULL;
}

START_TEST(test_server_messages)
{
    run(server_messages_main, NULL);
}
END_TEST

/* Twin: tests/twins/stream_kept_writer.py (kept_peer_stream).  A handler
 * keeps another client's stream (a chat server's broadcast list) after
 * that client left and its handler returned: the stream is freed, its
 * handle dead, and every call with it answers as Python's closed writer
 * does, without touching the freed memory (ASan). */
static asyncio_stream_t *KEPT;
static asyncio_event_t *KEPT_LEFT;

static void log_call(const char *name, int rc)
{
    if (rc == 0) {
        LOGF("; %s: ok", name);
        return;
    }
    const asyncio_error_t *e = asyncio_error();
    LOGF("; %s: %s(%s)", name, e->type, e->message);
    asyncio_error_clear();
}

static void *kept_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char name[8];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, name, sizeof name, &n), 0);
    if (strcmp(name, "A\n") == 0) {
        KEPT = s; /* the broadcast list keeps it */
        char *rest = NULL;
        ck_assert_int_eq(asyncio_stream_read_all(s, &rest, &n), 0); /* until A leaves */
        asyncio_buffer_free(rest);
        asyncio_stream_close(s); /* the canonical handler's finally */
        asyncio_event_set(KEPT_LEFT);
        return NULL;
    }
    ck_assert_int_eq(asyncio_event_wait(KEPT_LEFT), 0);
    /* Until A's handler has returned: its handle is dead then. */
    while (asyncio_stream_transport(KEPT)) {
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_sleep(0.01), 0); /* its socket is closed, its memory gone */
    LOGF("kept_peer_stream is_closing: %s", TF(asyncio_stream_is_closing(KEPT)));
    log_call("write", asyncio_stream_write(KEPT, "hello\n", 6));
    const void *parts[] = {"a", "b"};
    size_t lens[] = {1, 1};
    log_call("writelines", asyncio_stream_writelines(KEPT, parts, lens, 2));
    log_call("drain", asyncio_stream_drain(KEPT));
    log_call("write_eof", asyncio_stream_write_eof(KEPT));
    asyncio_stream_close(KEPT);
    log_call("close", asyncio_error() ? -1 : 0);
    log_call("wait_closed", asyncio_stream_wait_closed(KEPT));
    asyncio_stream_close(s);
    return NULL;
}

static void *kept_main(void *arg)
{
    (void)arg;
    KEPT = NULL;
    KEPT_LEFT = asyncio_event_new();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(kept_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    asyncio_stream_t *a = connect_ok(port, NULL);
    ck_assert_int_eq(asyncio_stream_write(a, "A\n", 2), 0);
    asyncio_stream_t *b = connect_ok(port, NULL);
    ck_assert_int_eq(asyncio_stream_write(b, "B\n", 2), 0);
    while (!KEPT)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_stream_close(a);
    ck_assert_int_eq(asyncio_stream_wait_closed(a), 0);
    char *data = NULL;
    size_t n;
    ck_assert_int_eq(asyncio_stream_read_all(b, &data, &n), 0); /* B's handler is done */
    ck_assert_uint_eq(n, 0);
    asyncio_buffer_free(data);
    asyncio_stream_free(a);
    asyncio_stream_free(b);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    asyncio_event_free(KEPT_LEFT);
    return NULL;
}

START_TEST(test_kept_peer_stream)
{
    run(kept_main, NULL);
    tu_assert_log(&LOG, "kept_peer_stream is_closing: True; write: ok; writelines: ok; drain: "
                        "ConnectionResetError(Connection lost); write_eof: ok; close: ok; "
                        "wait_closed: ok");
}
END_TEST

Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("semantics");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_unix);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("servers");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_server_close_live_clients);
    tcase_add_test(tc, test_serve_forever);
    tcase_add_test(tc, test_reuse_port);
    tcase_add_test(tc, test_many_connections);
    tcase_add_test(tc, test_loop_close_with_open_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("review");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_review_handler_returns_while_others_wait);
    tcase_add_test(tc, test_review_unix_path_too_long);
    tcase_add_test(tc, test_review_stale_unix_socket);
    tcase_add_test(tc, test_review_loop_close_every_state);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_server_handles);
    tcase_add_test(tc, test_server_out_params);
    tcase_add_test(tc, test_server_messages);
    tcase_add_test(tc, test_kept_peer_stream);
    suite_add_tcase(s, tc);
    return s;
}
