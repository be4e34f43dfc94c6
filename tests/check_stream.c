/*
 * Streams over TCP and Unix sockets, servers, transports and protocols,
 * DNS.
 *
 * Servers bind 127.0.0.1 on a free port (port 0) and are closed by the
 * test.  Where Python decides the answer the expected line is what
 * tests/twins/stream_semantics.py prints for the test of the same name.
 * Sleeps only split writes into separate packets: no result depends on
 * timing.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes */

/* Hand-fed readers and the pipe streams subprocesses use. */
#include "../src/testing.h"

static tu_log_t LOG;
#define LOGF(...) tu_logf(&LOG, __VA_ARGS__)

static void run(asyncio_coro_fn main, void *arg)
{
    memset(&LOG, 0, sizeof LOG);
    tu_run_ok(main, arg);
}

/* Python's repr() of bytes, for the logs compared with the twin. */
static void logbytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    LOGF("b'");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            LOGF("\\n");
        else if (s[i] == '\'' || s[i] == '\\')
            LOGF("\\%c", s[i]);
        else if (s[i] < 32 || s[i] > 126)
            LOGF("\\x%02x", s[i]);
        else
            LOGF("%c", s[i]);
    }
    LOGF("'");
}

static int server_port(asyncio_server_t *srv)
{
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_server_sockname(srv, 0, &a), 0);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_int_gt(a.port, 0);
    return a.port;
}

static asyncio_stream_t *connect_ok(int port, const asyncio_stream_opts_t *opts)
{
    asyncio_stream_t *s = NULL;
    int rc = asyncio_open_connection("127.0.0.1", port, opts, &s);
    ck_assert_msg(rc == 0, "open_connection: %s", tu_raised_message());
    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---------------------------------------------------------------------
 * A scripted server: writes its chunks with a pause between them.
 * --------------------------------------------------------------------- */

typedef struct script {
    const char *const *chunks;
    size_t n;
} script_t;

static void *script_handler(asyncio_stream_t *s, void *arg)
{
    const script_t *sc = arg;
    for (size_t i = 0; i < sc->n; i++) {
        if (asyncio_stream_write(s, sc->chunks[i], strlen(sc->chunks[i])) ||
            asyncio_stream_drain(s) || asyncio_sleep(0.02))
            return NULL;
    }
    asyncio_stream_close(s);
    return NULL;
}

static const char *const CHUNKS[] = {"ab", "c\nde", "f|", "|gh", "ij\n", "klm"};

/* Twin: tests/twins/stream_semantics.py (partial_reads) */
static void *partial_reads_main(void *arg)
{
    (void)arg;
    script_t sc = {CHUNKS, 6};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(script_handler, &sc, "127.0.0.1", 0, NULL, &srv), 0);
    ck_assert(asyncio_server_is_serving(srv));
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    char buf[64];
    size_t n = 99;
    LOGF("partial_reads ");
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readuntil(s, "||", 2, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_read(s, buf, 2, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readexactly(s, buf, 3, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readexactly(s, buf, 5, &n), ASYNCIO_EINCOMPLETEREAD);
    ck_assert(asyncio_error_matches("EOFError"));
    const asyncio_error_t *e = asyncio_catch("IncompleteReadError");
    ck_assert_ptr_nonnull(e);
    LOGF(" IncompleteReadError(");
    logbytes(buf, n);
    LOGF(", %s)", e->message);
    LOGF(" %s", TF(asyncio_stream_at_eof(s)));
    ck_assert_int_eq(asyncio_stream_read(s, buf, 10, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    asyncio_stream_close(s);
    ck_assert(asyncio_stream_is_closing(s));
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert(!asyncio_server_is_serving(srv));
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_partial_reads)
{
    run(partial_reads_main, NULL);
    tu_assert_log(&LOG,
                  "partial_reads b'abc\\n' b'def||' b'gh' b'ij\\n' IncompleteReadError(b'klm', "
                  "3 bytes read on a total of 5 expected bytes) True b'' b''");
}
END_TEST

/* Twin: tests/twins/stream_semantics.py (limit_overrun) */
static void *limit_main(void *arg)
{
    (void)arg;
    static const char *const chunk[] = {"0123456789\nab\n"};
    script_t sc = {chunk, 1};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(script_handler, &sc, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_opts_t opts = {.limit = 8};
    asyncio_stream_t *s = connect_ok(server_port(srv), &opts);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    char buf[64];
    size_t n = 0;
    LOGF("limit_overrun ");
    ck_assert_int_eq(asyncio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n),
                     ASYNCIO_ELIMITOVERRUN);
    const asyncio_error_t *e = asyncio_catch("LimitOverrunError");
    ck_assert_ptr_nonnull(e);
    LOGF("LimitOverrunError(%s, consumed=%d)", e->message, e->detail);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    LOGF(" ValueError(%s)", e->message);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    asyncio_stream_free(s);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_limit_overrun)
{
    run(limit_main, NULL);
    tu_assert_log(&LOG, "limit_overrun LimitOverrunError(Separator is found, but chunk is longer "
                        "than limit, consumed=10) ValueError(Separator is found, but chunk is "
                        "longer than limit) b'ab\\n' b''");
}
END_TEST

/* LimitOverrunError leaves the data buffered; a small caller buffer lowers
 * the limit; a separator not found within it raises too. */
static void *limit_keeps_main(void *arg)
{
    (void)arg;
    static const char *const chunk[] = {"abcdefghij|xyz"};
    script_t sc = {chunk, 1};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(script_handler, &sc, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    char buf[64];
    size_t n = 0;
    /* cap 6: the limit is 5, the separator is at 10. */
    ck_assert_int_eq(asyncio_stream_readuntil(s, "|", 1, buf, 6, &n), ASYNCIO_ELIMITOVERRUN);
    asyncio_error_clear();
    /* Not found: "Separator is not found, and chunk exceed the limit". */
    ck_assert_int_eq(asyncio_stream_readuntil(s, "#", 1, buf, 6, &n), ASYNCIO_ELIMITOVERRUN);
    ck_assert_str_eq(tu_raised_message(), "Separator is not found, and chunk exceed the limit");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_readuntil(s, "|", 1, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 11);
    ck_assert(memcmp(buf, "abcdefghij|", 11) == 0);
    /* EOF before the separator: the partial is the rest. */
    ck_assert_int_eq(asyncio_stream_readuntil(s, "|", 1, buf, sizeof buf, &n),
                     ASYNCIO_EINCOMPLETEREAD);
    ck_assert_str_eq(tu_raised_message(), "3 bytes read on a total of None expected bytes");
    asyncio_error_clear();
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(buf, "xyz", 3) == 0);
    ck_assert(asyncio_stream_at_eof(s));
    asyncio_stream_free(s);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_limit_keeps_data)
{
    run(limit_keeps_main, NULL);
}
END_TEST

/* Twin: tests/twins/stream_semantics.py (half_close) */
static char half_got[64];

static void *half_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char *data = NULL;
    size_t n = 0;
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    snprintf(half_got, sizeof half_got, "%s", data);
    ck_assert_int_eq(asyncio_stream_write(s, "pong:", 5), 0);
    ck_assert_int_eq(asyncio_stream_write(s, data, n), 0);
    asyncio_buffer_free(data);
    asyncio_stream_close(s);
    return NULL;
}

static void *half_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(half_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    ck_assert(asyncio_stream_can_write_eof(s));
    ck_assert_int_eq(asyncio_stream_write(s, "ping", 4), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(s), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(s), 0); /* again: harmless */
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "Cannot call write() after write_eof()");
    asyncio_error_clear();
    char *data = NULL;
    size_t n = 0;
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    LOGF("half_close b'%s' ", half_got);
    logbytes(data, n);
    LOGF(" %s", TF(asyncio_stream_at_eof(s)));
    asyncio_buffer_free(data);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_half_close)
{
    run(half_main, NULL);
    tu_assert_log(&LOG, "half_close b'ping' b'pong:ping' True");
}
END_TEST

/* ---------------------------------------------------------------------
 * Echo, names, Unix sockets
 * --------------------------------------------------------------------- */

static void *echo_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[4096];
    size_t n;
    while (asyncio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0) {
        if (asyncio_stream_write(s, buf, n) || asyncio_stream_drain(s))
            break;
    }
    asyncio_error_clear();
    return NULL;
}

static void *echo_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    asyncio_stream_opts_t sopts = {.backlog = 16, .reuse_port = true};
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &sopts, &srv), 0);
    ck_assert_uint_eq(asyncio_server_nsockets(srv), 1);
    int port = server_port(srv);
    asyncio_stream_t *s = connect_ok(port, NULL);
    asyncio_sockaddr_t peer, me;
    ck_assert_int_eq(asyncio_stream_peername(s, &peer), 0);
    ck_assert_int_eq(asyncio_stream_sockname(s, &me), 0);
    ck_assert_str_eq(peer.host, "127.0.0.1");
    ck_assert_int_eq(peer.port, port);
    ck_assert_int_eq(me.family, AF_INET);
    ck_assert_int_ne(me.port, port);
    const void *parts[] = {"hel", "lo ", "world\n"};
    size_t lens[] = {3, 3, 6};
    ck_assert_int_eq(asyncio_stream_writelines(s, parts, lens, 3), 0);
    ck_assert_int_eq(asyncio_stream_drain(s), 0);
    char buf[64];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert(memcmp(buf, "hello world\n", 12) == 0);
    /* A line longer than the caller's buffer: ValueError, the line dropped. */
    ck_assert_int_eq(asyncio_stream_write(s, "0123456789\nok\n", 14), 0);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, 4, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_readline(s, buf, 4, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(buf, "ok\n", 3) == 0);
    asyncio_transport_t *t = asyncio_stream_transport(s);
    ck_assert_ptr_nonnull(t);
    ck_assert(asyncio_transport_is_reading(t));
    ck_assert_uint_eq(asyncio_transport_get_write_buffer_size(t), 0);
    asyncio_stream_close(s);
    asyncio_stream_close(s); /* again: harmless */
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    ck_assert_int_eq(asyncio_stream_peername(s, &peer), UV_EBADF);
    asyncio_error_clear();
    asyncio_stream_free(s);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_echo)
{
    run(echo_main, NULL);
}
END_TEST

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
 * Backpressure both ways: a fast writer, a slow reader.
 * --------------------------------------------------------------------- */

static struct {
    size_t total, received;
    bool saw_reader_paused;
    size_t max_write_buffer, max_read_buffer;
} BP;

static void *slow_reader(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[4096];
    size_t n;
    asyncio_transport_t *t = asyncio_stream_transport(s);
    for (;;) {
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
        if (!asyncio_transport_is_reading(t))
            BP.saw_reader_paused = true;
        if (asyncio__stream_buffered(s) > BP.max_read_buffer)
            BP.max_read_buffer = asyncio__stream_buffered(s);
        ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
        if (n == 0)
            break;
        bool same = true;
        for (size_t i = 0; i < n; i++)
            same &= (unsigned char)buf[i] == (unsigned char)((BP.received + i) % 251);
        ck_assert_msg(same, "data corrupted after %zu bytes", BP.received);
        BP.received += n;
    }
    return NULL;
}

static void *backpressure_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    asyncio_stream_opts_t opts = {.limit = 16 * 1024};
    ck_assert_int_eq(asyncio_start_server(slow_reader, NULL, "127.0.0.1", 0, &opts, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    asyncio_transport_t *t = asyncio_stream_transport(s);
    size_t high, low;
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, ASYNCIO_WRITE_HIGH_WATER);
    ck_assert_uint_eq(low, ASYNCIO_WRITE_HIGH_WATER / 4);
    char chunk[32 * 1024];
    bool drained_paused = false;
    for (size_t sent = 0; sent < BP.total; sent += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (char)((sent + i) % 251);
        ck_assert_int_eq(asyncio_stream_write(s, chunk, sizeof chunk), 0);
        size_t before = asyncio_transport_get_write_buffer_size(t);
        if (before > BP.max_write_buffer)
            BP.max_write_buffer = before;
        ck_assert_int_eq(asyncio_stream_drain(s), 0);
        size_t after = asyncio_transport_get_write_buffer_size(t);
        if (before > high) {
            drained_paused = true;
            ck_assert_uint_le(after, low);
        }
    }
    asyncio_stream_close(s);
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    ck_assert_uint_eq(BP.received, BP.total);
    ck_assert(drained_paused);
    ck_assert(BP.saw_reader_paused);
    /* The writer's buffer stays bounded: below high + one chunk; the
     * reader's: reading pauses above twice the limit (16 KiB here), so at
     * most one read (64 KiB) more. */
    ck_assert_uint_le(BP.max_write_buffer, high + sizeof chunk);
    ck_assert_uint_gt(BP.max_read_buffer, 0);
    ck_assert_uint_le(BP.max_read_buffer, 2 * 16 * 1024 + 64 * 1024);
    return NULL;
}

START_TEST(test_backpressure)
{
    memset(&BP, 0, sizeof BP);
    /* Not scaled: the kernel's socket buffers must fill for the writer to
     * pause. */
    BP.total = (size_t)8 * 1024 * 1024;
    run(backpressure_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Errors: refused, reset, bad input
 * --------------------------------------------------------------------- */

/* A raw listening socket on 127.0.0.1; returns its fd and port. */
static int raw_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void *refused_main(void *arg)
{
    (void)arg;
    int port;
    int fd = raw_listener(&port);
    close(fd); /* nobody listens there now */
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", port, NULL, &s), UV_ECONNREFUSED);
    ck_assert(asyncio_error_matches("ConnectionRefusedError"));
    ck_assert(asyncio_error_matches("ConnectionError"));
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    ck_assert_ptr_null(s);
    return NULL;
}

START_TEST(test_refused)
{
    run(refused_main, NULL);
}
END_TEST

static void *reset_main(void *arg)
{
    (void)arg;
    int port;
    int lfd = raw_listener(&port);
    asyncio_stream_t *s = connect_ok(port, NULL);
    int cfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(cfd, 0);
    /* Linger 0: close sends a reset. */
    struct linger lg = {1, 0};
    ck_assert_int_eq(setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(cfd);
    close(lfd);
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), UV_ECONNRESET);
    ck_assert(asyncio_error_matches("ConnectionResetError"));
    asyncio_error_clear();
    /* Every read from now on raises it, as Python's. */
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), UV_ECONNRESET);
    asyncio_error_clear();
    ck_assert(asyncio_stream_is_closing(s));
    /* A write after the peer went away is dropped; drain raises. */
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
    ck_assert_int_eq(asyncio_stream_drain(s), UV_ECONNRESET);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_wait_closed(s), UV_ECONNRESET);
    asyncio_error_clear();
    asyncio_stream_free(s);
    return NULL;
}

START_TEST(test_peer_reset)
{
    run(reset_main, NULL);
}
END_TEST

static void *bad_input_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = NULL;
    asyncio_server_t *srv = NULL;
    char buf[8];
    size_t n;
    ck_assert_int_eq(asyncio_open_connection(NULL, 80, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", -1, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", 65536, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", 80, NULL, NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_open_unix_connection(NULL, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_start_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, NULL),
                     ASYNCIO_EVALUE);
    asyncio_stream_opts_t bad = {.backlog = -1};
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &bad, &srv),
                     ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_create_server(NULL, NULL, "127.0.0.1", 0, NULL, &srv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_create_connection(NULL, NULL, "127.0.0.1", 1, NULL, NULL),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(s);
    ck_assert_ptr_null(srv);
    ck_assert_int_eq(asyncio_stream_read(NULL, buf, 1, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readexactly(NULL, buf, 1, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readline(NULL, buf, 8, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readuntil(NULL, "x", 1, buf, 8, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_write(NULL, "x", 1), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_drain(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_write_eof(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_wait_closed(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_server_serve_forever(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_server_wait_closed(NULL), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_transport_write(NULL, "x", 1), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(NULL, 1, 1), ASYNCIO_EVALUE);
    ck_assert(!asyncio_stream_at_eof(NULL));
    ck_assert(asyncio_stream_is_closing(NULL));
    ck_assert(!asyncio_server_is_serving(NULL));
    ck_assert_ptr_null(asyncio_stream_transport(NULL));
    asyncio_error_clear();
    asyncio_stream_free(NULL);
    asyncio_server_free(NULL);
    asyncio_stream_close(NULL);
    asyncio_server_close(NULL);
    asyncio_transport_close(NULL);
    asyncio_transport_abort(NULL);
    asyncio_addrinfo_free(NULL);
    asyncio_buffer_free(NULL);

    /* On a live stream. */
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    s = connect_ok(server_port(srv), NULL);
    ck_assert_int_eq(asyncio_stream_readuntil(s, "", 0, buf, 8, &n), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "Separator should be at least one-byte string");
    ck_assert_int_eq(asyncio_stream_readuntil(s, NULL, 1, buf, 8, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readuntil(s, "abc", 3, buf, 2, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readuntil(s, "a", 1, NULL, 8, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, 0, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_read(s, NULL, 1, &n), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_write(s, NULL, 1), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_stream_read_all(s, NULL, &n), ASYNCIO_EVALUE);
    asyncio_transport_t *t = asyncio_stream_transport(s);
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(t, 10, 20), ASYNCIO_EVALUE);
    asyncio_error_clear();
    /* read(0) returns at once; empty writes are nothing. */
    ck_assert_int_eq(asyncio_stream_read(s, buf, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(asyncio_stream_write(s, NULL, 0), 0);
    ck_assert_int_eq(asyncio_server_sockname(srv, 5, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_stream_free(s);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_bad_input)
{
    run(bad_input_main, NULL);
    /* Outside a task: RuntimeError. */
    tu_alloc_install();
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", 1, NULL, &s), ASYNCIO_ERUNTIME);
    ck_assert_int_eq(asyncio_stream_read(s, NULL, 0, NULL), ASYNCIO_ERUNTIME);
    ck_assert_int_eq(asyncio_getaddrinfo("localhost", NULL, 0, 0, 0, NULL), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
}
END_TEST

/* ---------------------------------------------------------------------
 * Concurrency: one reader at a time; cancellation.
 * --------------------------------------------------------------------- */

static asyncio_stream_t *SHARED;

static void *second_reader(void *arg)
{
    (void)arg;
    char buf[4];
    size_t n;
    int rc = asyncio_stream_read(SHARED, buf, sizeof buf, &n);
    ck_assert_int_eq(rc, ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(),
                     "read() called while another coroutine is already waiting for incoming data");
    asyncio_error_clear();
    return NULL;
}

static void *reader_task(void *arg)
{
    (void)arg;
    char buf[4];
    size_t n;
    return IP(asyncio_stream_read(SHARED, buf, sizeof buf, &n));
}

static void *cancel_read_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    SHARED = connect_ok(server_port(srv), NULL);
    asyncio_future_t *r = tu_spawn(reader_task, NULL);
    tu_yield();
    asyncio_future_t *r2 = tu_spawn(second_reader, NULL);
    ck_assert_int_eq(asyncio_await(r2, NULL), 0);
    asyncio_decref(r2);
    /* Refused while a task waits on it. */
    asyncio_stream_free(SHARED);
    ck_assert_int_eq(asyncio_error()->code, ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    ck_assert(asyncio_cancel(r, NULL));
    ck_assert_int_eq(asyncio_await(r, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(r);
    /* The stream still works. */
    ck_assert_int_eq(asyncio_stream_write(SHARED, "ok", 2), 0);
    char buf[4];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readexactly(SHARED, buf, 2, &n), 0);
    ck_assert(memcmp(buf, "ok", 2) == 0);
    asyncio_stream_free(SHARED);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_cancel_read)
{
    run(cancel_read_main, NULL);
}
END_TEST

static void *sink_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    /* Reads nothing until cancelled: the client's writes back up. */
    ck_assert_int_eq(asyncio_sleep(3600), ASYNCIO_ECANCELLED);
    (void)s;
    return NULL;
}

static void *drainer(void *arg)
{
    (void)arg;
    static char chunk[256 * 1024];
    for (;;) {
        ck_assert_int_eq(asyncio_stream_write(SHARED, chunk, sizeof chunk), 0);
        int rc = asyncio_stream_drain(SHARED);
        if (rc == UV_ECONNRESET) {
            ck_assert_str_eq(tu_raised_message(), "Connection lost");
            asyncio_error_clear();
        }
        if (rc)
            return IP(rc);
    }
}

static void *cancel_drain_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    asyncio_stream_opts_t opts = {.limit = 1024};
    ck_assert_int_eq(asyncio_start_server(sink_handler, NULL, "127.0.0.1", 0, &opts, &srv), 0);
    SHARED = connect_ok(server_port(srv), NULL);
    /* Two writers drain at once (Python 3.12 allows it). */
    asyncio_future_t *d = tu_spawn(drainer, NULL);
    asyncio_future_t *d2 = tu_spawn(drainer, NULL);
    /* Until they are blocked in drain: the buffer is above the mark. */
    asyncio_transport_t *t = asyncio_stream_transport(SHARED);
    while (asyncio_transport_get_write_buffer_size(t) <= ASYNCIO_WRITE_HIGH_WATER)
        tu_yield();
    tu_yield();
    ck_assert(!asyncio_done(d));
    ck_assert(!asyncio_done(d2));
    /* Refused while tasks wait on it. */
    asyncio_stream_free(SHARED);
    ck_assert_int_eq(asyncio_error()->code, ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    /* Cancelling one leaves the other waiting. */
    ck_assert(asyncio_cancel(d, NULL));
    ck_assert_int_eq(asyncio_await(d, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(d);
    tu_yield();
    ck_assert(!asyncio_done(d2));
    /* Abort drops the queued data; the other drain learns the connection
     * is gone. */
    asyncio_transport_abort(t);
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(d2, &res), 0);
    ck_assert_int_eq(PI(res), UV_ECONNRESET);
    asyncio_decref(d2);
    ck_assert_int_eq(asyncio_stream_wait_closed(SHARED), 0);
    asyncio_stream_free(SHARED);
    asyncio_server_close_clients(srv);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_cancel_drain)
{
    run(cancel_drain_main, NULL);
}
END_TEST

/* Cancels open_connection after k loop iterations, for k = 0, 1, ...:
 * every point of the resolve and connect is hit; each attempt either
 * connects or raises CancelledError, and nothing leaks. */
static int CONNECT_PORT;

static void *connector(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = NULL;
    int rc = asyncio_open_connection("127.0.0.1", CONNECT_PORT, NULL, &s);
    if (rc == 0) {
        asyncio_stream_free(s);
        return IP(1);
    }
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    return NULL;
}

static void *cancel_connect_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    CONNECT_PORT = server_port(srv);
    int cancelled = 0, connected = 0;
    /* The loop polls I/O only every so many callbacks: past the first
     * yields, short sleeps step through the phases that wait for I/O. */
    for (int k = 0; k < 300 && connected < 3; k++) {
        asyncio_future_t *c = tu_spawn(connector, NULL);
        if (k < 30)
            for (int i = 0; i < k; i++)
                tu_yield();
        else
            ck_assert_int_eq(asyncio_sleep(0.00005 * (k - 29)), 0);
        asyncio_cancel(c, NULL);
        void *res = NULL;
        int rc = asyncio_await(c, &res);
        if (rc == 0 && res)
            connected++;
        else {
            cancelled++;
            asyncio_error_clear();
        }
        asyncio_decref(c);
    }
    ck_assert_int_gt(cancelled, 0);
    ck_assert_int_gt(connected, 0);
    asyncio_server_close_clients(srv);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_cancel_connect)
{
    run(cancel_connect_main, NULL);
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
    asyncio_stream_t *s = connect_ok(port, NULL);
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
    char buf[1];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readexactly(s, buf, 1, &n), 0);
    asyncio_stream_free(s);
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
 * Transports and protocols.
 * --------------------------------------------------------------------- */

typedef struct pstate {
    tu_log_t *log;
    const char *name;
    size_t received;
    int pauses, resumes;
    bool eof, lost;
} pstate_t;

static void p_made(asyncio_transport_t *t, void *user)
{
    pstate_t *ps = user;
    if (!ps) { /* a server connection: its own state */
        ps = calloc(1, sizeof *ps);
        ps->name = "srv";
        asyncio_transport_set_user(t, ps);
    }
    LOGF("%s:made ", ps->name);
}

static void p_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    pstate_t *ps = user;
    ps->received += len;
    if (strcmp(ps->name, "srv") == 0)
        ck_assert_int_eq(asyncio_transport_write(t, data, len), 0); /* echo */
}

static bool p_eof(asyncio_transport_t *t, void *user)
{
    pstate_t *ps = user;
    LOGF("%s:eof(%zu) ", ps->name, ps->received);
    ps->eof = true;
    if (strcmp(ps->name, "srv") == 0) {
        ck_assert_int_eq(asyncio_transport_write(t, "bye", 3), 0);
        return false; /* close */
    }
    return true; /* the client stays half-open */
}

static void p_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    pstate_t *ps = user;
    LOGF("%s:lost(%s) ", ps->name, exc ? exc->type : "None");
    ps->lost = true;
    if (strcmp(ps->name, "srv") == 0)
        free(ps);
}

static void p_pause(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((pstate_t *)user)->pauses++;
}

static void p_resume(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((pstate_t *)user)->resumes++;
}

static const asyncio_protocol_t ECHO_PROTO = {p_made, p_data, p_eof, p_lost, p_pause, p_resume};

static void *protocol_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&ECHO_PROTO, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    pstate_t cli = {.name = "cli"};
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&ECHO_PROTO, &cli, "127.0.0.1", server_port(srv), NULL, &t), 0);
    ck_assert_ptr_eq(asyncio_transport_get_user(t), &cli);
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_transport_peername(t, &a), 0);
    ck_assert_int_eq(asyncio_transport_sockname(t, &a), 0);
    /* Python's defaults: high = 4 * low. */
    size_t high, low;
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(t, 0, 100), 0);
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 400);
    ck_assert_uint_eq(low, 100);
    /* Small water marks: a big write pauses the protocol, resumed later. */
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(t, 1024, 0), 0);
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 1024);
    ck_assert_uint_eq(low, 256);
    size_t total = 4 * 1024 * 1024;
    char *big = calloc(1, total);
    const void *parts[] = {big, big + total / 2};
    size_t lens[] = {total / 2, total / 2};
    ck_assert_int_eq(asyncio_transport_writelines(t, parts, lens, 2), 0);
    free(big);
    asyncio_transport_pause_reading(t);
    ck_assert(!asyncio_transport_is_reading(t));
    asyncio_transport_resume_reading(t);
    ck_assert(asyncio_transport_is_reading(t));
    while (cli.received < total)
        tu_yield();
    ck_assert_int_eq(cli.pauses, 1);
    ck_assert_int_eq(cli.resumes, 1);
    ck_assert_int_eq(asyncio_transport_write_eof(t), 0);
    /* The server answers and closes; the client, half-open, closes too. */
    while (!cli.eof)
        tu_yield();
    ck_assert(!cli.lost);
    ck_assert_int_eq(asyncio_transport_write(t, "x", 1), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_transport_close(t);
    ck_assert(asyncio_transport_is_closing(t));
    while (!cli.lost)
        tu_yield();
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_protocol)
{
    run(protocol_main, NULL);
    tu_assert_log(&LOG, "srv:made cli:made srv:eof(4194304) srv:lost(None) cli:eof(4194307) "
                        "cli:lost(None) ");
}
END_TEST

/* ---------------------------------------------------------------------
 * DNS
 * --------------------------------------------------------------------- */

static void *dns_main(void *arg)
{
    (void)arg;
    asyncio_addrinfo_t *ai = NULL;
    ck_assert_int_eq(
        asyncio_getaddrinfo("127.0.0.1", "8080", AF_INET, SOCK_STREAM, AI_NUMERICHOST, &ai), 0);
    ck_assert_ptr_nonnull(ai);
    ck_assert_ptr_null(ai->next);
    ck_assert_int_eq(ai->family, AF_INET);
    ck_assert_int_eq(ai->socktype, SOCK_STREAM);
    ck_assert_str_eq(ai->addr.host, "127.0.0.1");
    ck_assert_int_eq(ai->addr.port, 8080);
    ck_assert_uint_eq(ai->sockaddr_len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(((const struct sockaddr_in *)ai->sockaddr)->sin_port, htons(8080));
    asyncio_addrinfo_free(ai);
    ai = NULL;
    ck_assert_int_eq(asyncio_getaddrinfo("::1", NULL, AF_INET6, SOCK_STREAM, AI_NUMERICHOST, &ai),
                     0);
    ck_assert_str_eq(ai->addr.host, "::1");
    asyncio_addrinfo_free(ai);
    ai = NULL;
    /* Not a number, numeric only: socket.gaierror, an OSError. */
    int rc = asyncio_getaddrinfo("not-an-address", "80", 0, 0, AI_NUMERICHOST, &ai);
    ck_assert_int_eq(rc, UV_EAI_NONAME);
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    ck_assert_ptr_null(ai);
    ck_assert_int_eq(asyncio_getaddrinfo(NULL, NULL, 0, 0, 0, &ai), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getaddrinfo("x", NULL, 0, 0, 0, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();

    char host[ASYNCIO_NI_MAXHOST], serv[ASYNCIO_NI_MAXSERV];
    ck_assert_int_eq(
        asyncio_getnameinfo("127.0.0.1", 8080, NI_NUMERICHOST | NI_NUMERICSERV, host, serv), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(serv, "8080");
    ck_assert_int_eq(asyncio_getnameinfo("::1", 22, NI_NUMERICHOST | NI_NUMERICSERV, host, NULL),
                     0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(asyncio_getnameinfo("nope", 1, 0, host, serv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getnameinfo(NULL, 1, 0, host, serv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getnameinfo("127.0.0.1", 70000, 0, host, serv), ASYNCIO_EVALUE);
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_dns)
{
    run(dns_main, NULL);
}
END_TEST

static void *resolver(void *arg)
{
    (void)arg;
    asyncio_addrinfo_t *ai = NULL;
    int rc = asyncio_getaddrinfo("127.0.0.1", "80", 0, SOCK_STREAM, AI_NUMERICHOST, &ai);
    asyncio_addrinfo_free(ai);
    return IP(rc);
}

static void *dns_cancel_main(void *arg)
{
    (void)arg;
    int cancelled = 0;
    for (int k = 0; k < 50; k++) {
        asyncio_future_t *f = tu_spawn(resolver, NULL);
        for (int i = 0; i < k % 3; i++)
            tu_yield();
        asyncio_cancel(f, NULL);
        void *res = NULL;
        int rc = asyncio_await(f, &res);
        if (rc == ASYNCIO_ECANCELLED) {
            cancelled++;
            asyncio_error_clear();
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(PI(res), 0);
        }
        asyncio_decref(f);
    }
    ck_assert_int_gt(cancelled, 0);
    return NULL;
}

START_TEST(test_dns_cancel)
{
    run(dns_cancel_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Streams over pipes (how subprocesses get theirs): a socketpair's ends
 * opened on pipes made by asyncio__stream_pipe_new.
 * --------------------------------------------------------------------- */

static asyncio_stream_t *pipe_stream(int fd, bool readable)
{
    uv_pipe_t *p = NULL;
    asyncio_stream_t *s = asyncio__stream_pipe_new(asyncio_get_running_loop(), &p);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(uv_pipe_open(p, fd), 0);
    ck_assert_int_eq(asyncio__stream_pipe_start(s, readable), 0);
    return s;
}

static void *pipe_main(void *arg)
{
    (void)arg;
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    asyncio_stream_t *w = pipe_stream(fds[0], false);
    asyncio_stream_t *r = pipe_stream(fds[1], true);
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i % 253);
    ck_assert_int_eq(asyncio_stream_write(w, "line one\n", 9), 0);
    ck_assert_int_eq(asyncio_stream_write(w, big, sizeof big), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(w), 0);
    char buf[32];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(r, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 9);
    char *data = NULL;
    ck_assert_int_eq(asyncio_stream_read_all(r, &data, &n), 0);
    ck_assert_uint_eq(n, sizeof big);
    ck_assert(memcmp(data, big, n) == 0);
    asyncio_buffer_free(data);
    ck_assert(asyncio_stream_at_eof(r));
    ck_assert_int_eq(asyncio_stream_drain(w), 0);
    asyncio_stream_free(w);
    asyncio_stream_free(r);
    return NULL;
}

START_TEST(test_pipe_stream)
{
    run(pipe_main, NULL);
}
END_TEST

/* A StreamReader fed by hand: the fuzzer's entry points. */
static void *fed_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = asyncio__stream_reader_new(asyncio_get_running_loop(), 4);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(asyncio__stream_feed_data(s, "abc\ndefghijk", 12), 0);
    ck_assert_uint_eq(asyncio__stream_buffered(s), 12);
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), ASYNCIO_ERUNTIME); /* no transport */
    asyncio_error_clear();
    asyncio__stream_feed_eof(s);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert(asyncio_stream_at_eof(s));
    asyncio_stream_free(s);
    return NULL;
}

START_TEST(test_fed_reader)
{
    run(fed_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Review: defects found reading the code cold, one test each.
 * --------------------------------------------------------------------- */

static void *echo_once(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[64];
    size_t n;
    while (asyncio_stream_read(s, buf, sizeof buf, &n) == 0 && n)
        ;
    asyncio_error_clear();
    return NULL;
}

/* Lengths whose sum wraps around size_t must be refused, not truncated
 * into a uv_buf_t that reads far past the caller's data. */
static void *overflow_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_once, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    static const char small[4] = "abc";
    const void *data[2] = {small, small};
    size_t lens[2] = {SIZE_MAX, 2};
    ck_assert_int_eq(asyncio_stream_writelines(s, data, lens, 2), ASYNCIO_EVALUE);
    asyncio_error_clear();
    size_t lens2[2] = {(size_t)UINT32_MAX + 1, 0};
    ck_assert_int_eq(asyncio_stream_writelines(s, data, lens2, 2), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert(!asyncio_stream_is_closing(s));
    ck_assert_int_eq(asyncio_stream_write(s, "ok", 2), 0);
    ck_assert_int_eq(asyncio_stream_drain(s), 0);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_write_size_overflow)
{
    run(overflow_main, NULL);
}
END_TEST

/* A reader's buffer growth must not wrap around size_t. */
static void *feed_overflow_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = asyncio__stream_reader_new(asyncio_get_running_loop(), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(asyncio__stream_feed_data(s, "x", 1), 0);
    ck_assert_int_eq(asyncio__stream_feed_data(s, "y", SIZE_MAX), ASYNCIO_ENOMEM);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio__stream_feed_data(s, "y", SIZE_MAX / 2 + 1), ASYNCIO_ENOMEM);
    asyncio_error_clear();
    ck_assert_uint_eq(asyncio__stream_buffered(s), 1);
    asyncio_stream_free(s);
    return NULL;
}

START_TEST(test_review_feed_overflow)
{
    run(feed_overflow_main, NULL);
}
END_TEST

/* readuntil waits having searched the first bytes; another task consumes
 * them meanwhile: the search must not start past the end of the buffer. */
typedef struct ru_state {
    asyncio_stream_t *s;
    char out[32];
    size_t n;
    int rc;
} ru_state_t;

static void *ru_reader(void *arg)
{
    ru_state_t *st = arg;
    st->rc = asyncio_stream_readuntil(st->s, "\n", 1, st->out, sizeof st->out, &st->n);
    return NULL;
}

static void *readuntil_race_main(void *arg)
{
    (void)arg;
    ru_state_t st = {.s = asyncio__stream_reader_new(asyncio_get_running_loop(), 0)};
    ck_assert_ptr_nonnull(st.s);
    ck_assert_int_eq(asyncio__stream_feed_data(st.s, "abcdefgh", 8), 0);
    asyncio_future_t *t = tu_spawn(ru_reader, &st);
    tu_yield(); /* searched 8 bytes, waits */
    ck_assert_int_eq(asyncio__stream_feed_data(st.s, "ij", 2), 0);
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_read(st.s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(asyncio__stream_feed_data(st.s, "k\n", 2), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    ck_assert_int_eq(st.rc, 0);
    ck_assert_uint_eq(st.n, 2);
    ck_assert(memcmp(st.out, "k\n", 2) == 0);
    asyncio_stream_free(st.s);
    return NULL;
}

START_TEST(test_review_readuntil_consumed_meanwhile)
{
    run(readuntil_race_main, NULL);
}
END_TEST

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

/* A limit so large that twice it wraps around size_t must not pause
 * reading at the first byte. */
static void *write_ten(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_stream_write(s, "0123456789", 10), 0);
    echo_once(s, NULL);
    return NULL;
}

static void *huge_limit_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(write_ten, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_opts_t opts = {.limit = SIZE_MAX / 2 + 1};
    asyncio_stream_t *s = connect_ok(server_port(srv), &opts);
    while (asyncio__stream_buffered(s) < 10)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert(asyncio_transport_is_reading(asyncio_stream_transport(s)));
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readexactly(s, buf, 10, &n), 0);
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_huge_limit)
{
    run(huge_limit_main, NULL);
}
END_TEST

/* Protocol callbacks that end their connection from inside: abort in
 * data_received, close in connection_made, user data freed in
 * connection_lost, writes from connection_lost. */
typedef struct cbstate {
    int lost;
    int made;
} cbstate_t;

static int cb_lost_total;

static void cb_made_close(asyncio_transport_t *t, void *user)
{
    (void)user;
    cbstate_t *st = calloc(1, sizeof *st);
    st->made = 1;
    asyncio_transport_set_user(t, st);
    ck_assert_int_eq(asyncio_transport_write(t, "x", 1), 0);
    asyncio_transport_close(t);
    asyncio_transport_close(t);
    ck_assert(asyncio_transport_is_closing(t));
}

static void cb_lost_free(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)exc;
    asyncio_transport_write(t, "late", 4); /* dropped: closed */
    asyncio_error_clear();
    asyncio_transport_abort(t);
    free(user);
    cb_lost_total++;
}

static void cb_data_abort(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)data;
    (void)len;
    (void)user;
    asyncio_transport_abort(t);
    asyncio_transport_abort(t);
    asyncio_transport_pause_reading(t);
    asyncio_transport_resume_reading(t);
}

static void cb_made_client(asyncio_transport_t *t, void *user)
{
    (void)user;
    asyncio_transport_set_user(t, calloc(1, sizeof(cbstate_t)));
}

static const asyncio_protocol_t CLOSE_AT_ONCE = {.connection_made = cb_made_close,
                                                 .connection_lost = cb_lost_free};
static const asyncio_protocol_t ABORT_ON_DATA = {.connection_made = cb_made_client,
                                                 .data_received = cb_data_abort,
                                                 .connection_lost = cb_lost_free};

static void *callbacks_main(void *arg)
{
    (void)arg;
    cb_lost_total = 0;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&CLOSE_AT_ONCE, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    for (int i = 0; i < 4; i++) {
        asyncio_transport_t *t = NULL;
        ck_assert_int_eq(
            asyncio_create_connection(&ABORT_ON_DATA, NULL, "127.0.0.1", port, NULL, &t), 0);
    }
    while (cb_lost_total < 8)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_close_from_callbacks)
{
    run(callbacks_main, NULL);
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

static void *t_server_wait_closed(void *arg)
{
    asyncio_server_wait_closed(arg);
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

static void *t_wait_closed(void *arg)
{
    asyncio_stream_wait_closed(arg);
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

/* drain after close(): Python yields once, connection_lost comes, and
 * drain raises ConnectionResetError("Connection lost"), each time
 * (checked with Python 3.11). */
static void *drain_after_close_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_once, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
    asyncio_stream_close(s);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(asyncio_stream_drain(s), UV_ECONNRESET);
        ck_assert(asyncio_error_matches("ConnectionResetError"));
        ck_assert_str_eq(tu_raised_message(), "Connection lost");
        asyncio_error_clear();
    }
    asyncio_stream_free(s);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_drain_after_close)
{
    run(drain_after_close_main, NULL);
}
END_TEST

/* A stream or server passed again after its free, before its socket is
 * closed (its memory still there): refused as not live, never used. */
static void *double_free_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_once, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    asyncio_stream_free(s);
    ck_assert_ptr_null(asyncio_error());
    asyncio_stream_free(s);
    ck_assert(asyncio_error_matches("ValueError"));
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), ASYNCIO_EVALUE);
    asyncio_error_clear();
    char buf[4];
    size_t n;
    ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_server_free(srv);
    ck_assert_ptr_null(asyncio_error());
    asyncio_server_free(srv);
    ck_assert(asyncio_error_matches("ValueError"));
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_server_serve_forever(srv), ASYNCIO_EVALUE);
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_review_double_free)
{
    run(double_free_main, NULL);
}
END_TEST

/* A protocol callback that leaves an error raised: as Python, a failing
 * data_received / eof_received is a fatal error of the transport (reported,
 * then connection_lost with that error), never an error left in the
 * thread's indicator for whatever runs next. */
static tu_log_t FAILLOG;
static int fail_lost;

static void fail_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    tu_logf(&FAILLOG, "[%s %s] ", ctx->message, ctx->exception ? ctx->exception->type : "-");
}

static void fail_made(asyncio_transport_t *t, void *user)
{
    (void)user;
    ck_assert_int_eq(asyncio_transport_write(t, "ping", 4), 0);
}

static void fail_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)data;
    (void)len;
    (void)user;
    asyncio_transport_write(t, NULL, 5); /* ValueError, left raised */
}

static bool fail_eof(asyncio_transport_t *t, void *user)
{
    (void)t;
    (void)user;
    asyncio_transport_write(t, NULL, 5);
    return true;
}

static void fail_lost_cb(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)user;
    tu_logf(&FAILLOG, "lost(%s) ", exc ? exc->type : "None");
    fail_lost++;
}

static const asyncio_protocol_t FAIL_DATA = {
    .connection_made = fail_made, .data_received = fail_data, .connection_lost = fail_lost_cb};
static const asyncio_protocol_t FAIL_EOF = {.eof_received = fail_eof,
                                            .connection_lost = fail_lost_cb};

static void *write_and_eof(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_stream_write(s, "hi", 2), 0);
    if (asyncio_stream_write_eof(s) == 0)
        echo_once(s, NULL);
    asyncio_error_clear();
    return NULL;
}

static void *protocol_error_main(void *arg)
{
    (void)arg;
    memset(&FAILLOG, 0, sizeof FAILLOG);
    fail_lost = 0;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), fail_handler, NULL);
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(write_and_eof, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&FAIL_DATA, NULL, "127.0.0.1", server_port(srv), NULL, &t), 0);
    while (fail_lost < 1)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(
        asyncio_create_connection(&FAIL_EOF, NULL, "127.0.0.1", server_port(srv), NULL, &t), 0);
    while (fail_lost < 2)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_log(&FAILLOG, "[Fatal error: protocol.data_received() call failed. ValueError] "
                            "lost(ValueError) "
                            "[Fatal error: protocol.eof_received() call failed. ValueError] "
                            "lost(ValueError) ");
    asyncio_server_close(srv);
    asyncio_server_close_clients(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_protocol_callback_error)
{
    run(protocol_error_main, NULL);
}
END_TEST

/* writelines refuses a bad entry before writing any: Python joins the
 * list first, so a bad item writes nothing. */
static size_t wl_got;
static bool wl_done;

static void *read_everything(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char *data = NULL;
    size_t len = 0;
    if (asyncio_stream_read_all(s, &data, &len) == 0)
        asyncio_buffer_free(data);
    asyncio_error_clear();
    wl_got = len;
    wl_done = true;
    return NULL;
}

static void *writelines_main(void *arg)
{
    (void)arg;
    wl_done = false;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(read_everything, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    const void *data[20];
    size_t lens[20];
    for (int i = 0; i < 20; i++) {
        data[i] = "a";
        lens[i] = 1;
    }
    data[17] = NULL;
    ck_assert_int_eq(asyncio_stream_writelines(s, data, lens, 20), ASYNCIO_EVALUE);
    asyncio_error_clear();
    data[17] = "a";
    lens[18] = SIZE_MAX;
    ck_assert_int_eq(asyncio_stream_writelines(s, data, lens, 20), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_write(s, "end", 3), 0);
    asyncio_stream_free(s);
    while (!wl_done)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_uint_eq(wl_got, 3);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_writelines_all_or_nothing)
{
    run(writelines_main, NULL);
}
END_TEST

/* Cancelled in wait_closed (stream and server) and readuntil: the objects
 * stay usable and can be freed (no waiter left behind). */
static void *t_readuntil(void *arg)
{
    char buf[16];
    size_t n;
    asyncio_stream_readuntil(arg, "\n", 1, buf, sizeof buf, &n);
    return NULL;
}

static void *cancel_waits_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    asyncio_future_t *ts[3] = {asyncio_create_task(t_wait_closed, s),
                               asyncio_create_task(t_server_wait_closed, srv),
                               asyncio_create_task(t_readuntil, s)};
    tu_yield();
    for (int i = 0; i < 3; i++) {
        ck_assert(!asyncio_done(ts[i]));
        asyncio_cancel(ts[i], NULL);
        ck_assert_int_eq(asyncio_await(ts[i], NULL), ASYNCIO_ECANCELLED);
        asyncio_error_clear();
        asyncio_decref(ts[i]);
    }
    ck_assert_int_eq(asyncio_stream_write(s, "again\n", 6), 0);
    char buf[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 6);
    asyncio_stream_free(s);
    ck_assert_ptr_null(asyncio_error());
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    ck_assert_ptr_null(asyncio_error());
    return NULL;
}

START_TEST(test_review_cancel_waits)
{
    run(cancel_waits_main, NULL);
}
END_TEST

/* A loop run by one thread and closed by another, with a connection still
 * open: the read buffer belongs to the loop, so it goes at its close
 * (it was the running thread's, and leaked).  The thread asserts nothing
 * itself (Check's asserts belong to the test's thread): it reports. */
typedef struct left_open {
    asyncio_loop_t *loop;
    asyncio_server_t *srv;
    asyncio_stream_t *stream;
    size_t echoed;
} left_open_t;

static void *open_and_leave(void *arg)
{
    left_open_t *lo = arg;
    asyncio_sockaddr_t addr;
    char buf[8];
    if (asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &lo->srv) == 0 &&
        asyncio_server_sockname(lo->srv, 0, &addr) == 0 &&
        asyncio_open_connection("127.0.0.1", addr.port, NULL, &lo->stream) == 0 &&
        asyncio_stream_write(lo->stream, "hi\n", 3) == 0)
        asyncio_stream_readline(lo->stream, buf, sizeof buf, &lo->echoed);
    return NULL; /* left open: the loop's close closes them */
}

static void *run_in_thread(void *arg)
{
    left_open_t *lo = arg;
    if (!(lo->loop = asyncio_loop_new()))
        return NULL;
    asyncio_future_t *t = asyncio_create_task(open_and_leave, lo);
    if (t)
        asyncio_loop_run_until_complete(lo->loop, t, NULL);
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_loop_closed_by_another_thread)
{
    left_open_t lo = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_in_thread, &lo), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_ptr_nonnull(lo.loop);
    ck_assert_uint_eq(lo.echoed, 3);
    ck_assert_int_eq(asyncio_loop_close(lo.loop), 0);
    asyncio_stream_free(lo.stream);
    asyncio_server_free(lo.srv);
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("semantics");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_partial_reads);
    tcase_add_test(tc, test_limit_overrun);
    tcase_add_test(tc, test_limit_keeps_data);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_echo);
    tcase_add_test(tc, test_loop_closed_by_another_thread);
    tcase_add_test(tc, test_unix);
    tcase_add_test(tc, test_pipe_stream);
    tcase_add_test(tc, test_fed_reader);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_peer_reset);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_cancel_read);
    tcase_add_test(tc, test_cancel_drain);
    tcase_add_test(tc, test_cancel_connect);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("servers");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_server_close_live_clients);
    tcase_add_test(tc, test_serve_forever);
    tcase_add_test(tc, test_reuse_port);
    tcase_add_test(tc, test_many_connections);
    tcase_add_test(tc, test_loop_close_with_open_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("protocols");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_protocol);
    tcase_add_test(tc, test_dns);
    tcase_add_test(tc, test_dns_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("review");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_review_write_size_overflow);
    tcase_add_test(tc, test_review_feed_overflow);
    tcase_add_test(tc, test_review_readuntil_consumed_meanwhile);
    tcase_add_test(tc, test_review_handler_returns_while_others_wait);
    tcase_add_test(tc, test_review_unix_path_too_long);
    tcase_add_test(tc, test_review_huge_limit);
    tcase_add_test(tc, test_review_close_from_callbacks);
    tcase_add_test(tc, test_review_stale_unix_socket);
    tcase_add_test(tc, test_review_loop_close_every_state);
    tcase_add_test(tc, test_review_drain_after_close);
    tcase_add_test(tc, test_review_double_free);
    tcase_add_test(tc, test_review_protocol_callback_error);
    tcase_add_test(tc, test_review_writelines_all_or_nothing);
    tcase_add_test(tc, test_review_cancel_waits);
    suite_add_tcase(s, tc);
    return s;
}
