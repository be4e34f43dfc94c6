/*
 * Streams (asyncio's StreamReader and StreamWriter): open_connection over
 * TCP, reading (partial reads, readuntil and its limit, readexactly, EOF,
 * half close), writing and drain with backpressure, errors, cancellation,
 * streams over pipes and hand-fed readers.  Servers are in check_server.c,
 * transports and protocols in check_transport.c.
 *
 * Servers bind 127.0.0.1 on a free port (port 0) and are closed by the
 * test.  Where Python decides the answer the expected line is what
 * tests/twins/stream_semantics.py prints for the test of the same name.
 * Sleeps only split writes into separate packets: no result depends on
 * timing.
 */
#include "testutil.h"
#include "netutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes, uv_pipe_open */

/* Hand-fed readers and the pipe streams subprocesses use. */
#include "../src/testing.h"

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
    ck_assert_uint_eq(n, 0); /* failed: the partial's length is the detail */
    ck_assert(asyncio_error_matches("EOFError"));
    const asyncio_error_t *e = asyncio_catch("IncompleteReadError");
    ck_assert_ptr_nonnull(e);
    LOGF(" IncompleteReadError(");
    logbytes(buf, (size_t)e->detail);
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
    /* cap 6: the limit is 4 (room for the separator and the NUL), the
     * separator is at 10. */
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
    ck_assert_int_eq(asyncio_error()->detail, 3);
    asyncio_error_clear();
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(buf, "xyz");
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
 * Echo, names
 * --------------------------------------------------------------------- */

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
    tu_clear_all();
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
    tu_clear_all();
    /* read(0) returns at once; empty writes are nothing. */
    ck_assert_int_eq(asyncio_stream_read(s, buf, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(asyncio_stream_write(s, NULL, 0), 0);
    ck_assert_int_eq(asyncio_server_sockname(srv, 5, NULL), ASYNCIO_EVALUE);
    tu_clear_all();
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
 * closed (its memory still there): refused as not live (a stream's writer
 * calls answer as a closed writer's), never used. */
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
    /* A stream that is gone is a closed writer: the write is dropped. */
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
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

/* ---------------------------------------------------------------------
 * The API's rules: handles, out-parameters, terminated bytes, messages.
 * --------------------------------------------------------------------- */

/* A freed stream's handle: free and the reader's calls refuse it
 * (ValueError, without reading the freed memory: ASan), the writer's
 * calls answer as a closed writer's (Python's writer outlives its
 * connection), and it never reaches a stream made after the free. */
static void *stream_handles_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    asyncio_loop_t *loop = asyncio_get_running_loop();
    asyncio_stream_t *old = asyncio__stream_reader_new(loop, 0);
    ck_assert_ptr_nonnull(old);
    ck_assert_int_eq(asyncio__stream_feed_data(old, "old\n", 4), 0);
    asyncio_stream_free(old);
    ck_assert_ptr_null(asyncio_error());
    asyncio_stream_free(old); /* a double free is refused, not done */
    assert_not_live("stream");
    /* A new stream may take the old one's memory and slot. */
    asyncio_stream_t *s = asyncio__stream_reader_new(loop, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_ne(s, old);
    ck_assert_int_eq(asyncio__stream_feed_data(old, "x", 1), ASYNCIO_EVALUE);
    assert_not_live("stream");
    asyncio__stream_feed_eof(old); /* harmless */
    char buf[8];
    size_t n;
    char *data;
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_stream_read(old, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_stream_read_all(old, &data, &n), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_stream_readexactly(old, buf, 2, &n), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_stream_readline(old, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_stream_readuntil(old, "\n", 1, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_int_eq(asyncio_stream_peername(old, &a), ASYNCIO_EVALUE);
    assert_not_live("stream");
    ck_assert_ptr_null(asyncio_stream_transport(old));
    assert_not_live("stream");
    ck_assert(!asyncio_stream_at_eof(old));
    ck_assert(!asyncio_stream_can_write_eof(old));
    ck_assert_uint_eq(asyncio__stream_buffered(old), 0);
    /* The writer's calls: a closed writer. */
    const void *parts[] = {"a", "b"};
    size_t lens[] = {1, 1};
    ck_assert(asyncio_stream_is_closing(old));
    ck_assert_int_eq(asyncio_stream_write(old, "x", 1), 0);
    ck_assert_int_eq(asyncio_stream_writelines(old, parts, lens, 2), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(old), 0);
    asyncio_stream_close(old);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(asyncio_stream_drain(old), UV_ECONNRESET);
    ck_assert(asyncio_error_matches("ConnectionResetError"));
    ck_assert_str_eq(tu_raised_message(), "Connection lost");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_wait_closed(old), 0);
    /* ... whose arguments are still checked. */
    ck_assert_int_eq(asyncio_stream_write(old, NULL, 1), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "data is NULL");
    asyncio_error_clear();
    /* None of it reached the new stream. */
    ck_assert_uint_eq(asyncio__stream_buffered(s), 0);
    ck_assert(!asyncio_stream_at_eof(s));
    ck_assert_int_eq(asyncio__stream_feed_data(s, "new\n", 4), 0);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_str_eq(buf, "new\n");
    asyncio_stream_free(s);
    ck_assert_int_eq(asyncio__handle_count(), before);
    return NULL;
}

START_TEST(test_stream_handles)
{
    run(stream_handles_main, NULL);
}
END_TEST

/* A connected stream freed while its socket still closes: its handle and
 * its transport's are dead at once; a connection made after it is never
 * reached through them. */
static void *connected_handles_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    asyncio_stream_t *old = connect_ok(port, NULL);
    asyncio_transport_t *ot = asyncio_stream_transport(old);
    ck_assert_ptr_nonnull(ot);
    ck_assert_int_eq(asyncio_stream_write(old, "x", 1), 0);
    asyncio_stream_free(old);
    asyncio_stream_t *s = connect_ok(port, NULL);
    asyncio_transport_t *t = asyncio_stream_transport(s);
    ck_assert_int_eq(asyncio_transport_write(ot, "y", 1), ASYNCIO_EVALUE);
    assert_not_live("transport");
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(ot, 10, 1), ASYNCIO_EVALUE);
    assert_not_live("transport");
    ck_assert(asyncio_transport_is_closing(ot));
    ck_assert(!asyncio_transport_is_reading(ot));
    asyncio_transport_pause_reading(ot); /* harmless */
    asyncio_transport_close(ot);
    asyncio_transport_abort(ot);
    ck_assert_ptr_null(asyncio_error());
    /* The new connection is untouched. */
    ck_assert(asyncio_transport_is_reading(t));
    ck_assert(!asyncio_transport_is_closing(t));
    ck_assert_int_eq(asyncio_stream_write(old, "old\n", 4), 0); /* dropped */
    ck_assert_int_eq(asyncio_stream_write(s, "new\n", 4), 0);
    char buf[8];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    ck_assert_str_eq(buf, "new\n");
    /* A stream's transport keeps the stream as its user. */
    ck_assert_ptr_null(asyncio_transport_get_user(t));
    asyncio_transport_set_user(t, buf);
    ck_assert(asyncio_error_matches("RuntimeError"));
    asyncio_error_clear();
    asyncio_stream_free(s);
    server_shutdown(srv);
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_connected_handles)
{
    run(connected_handles_main, NULL);
}
END_TEST

/* Out-parameters: every failing call sets each one it was given to
 * NULL / 0 / a zeroed address, however early it failed. */
static void assert_addr_zero(const asyncio_sockaddr_t *a)
{
    static const asyncio_sockaddr_t zero;
    ck_assert(memcmp(a, &zero, sizeof zero) == 0);
}

static void *out_params_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = SENTINEL;
    ck_assert_int_eq(asyncio_open_connection(NULL, 80, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_ptr_null(s);
    s = SENTINEL;
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", 70000, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_ptr_null(s);
    s = SENTINEL;
    ck_assert_int_eq(asyncio_open_unix_connection(NULL, NULL, &s), ASYNCIO_EVALUE);
    ck_assert_ptr_null(s);
    s = SENTINEL;
    ck_assert_int_lt(asyncio_open_unix_connection("/nonexistent/sock", NULL, &s), 0);
    ck_assert_ptr_null(s);
    tu_clear_all();

    asyncio_stream_t *r = asyncio__stream_reader_new(asyncio_get_running_loop(), 4);
    ck_assert_int_eq(asyncio__stream_feed_data(r, "abcdefghij", 10), 0);
    asyncio__stream_feed_eof(r);
    char buf[16];
    size_t n = 123;
    char *data = SENTINEL;
    ck_assert_int_eq(asyncio_stream_read(NULL, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_read(r, NULL, 4, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_read_all(NULL, &data, &n), ASYNCIO_EVALUE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readuntil(r, "#", 1, buf, sizeof buf, &n),
                     ASYNCIO_ELIMITOVERRUN);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readline(r, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readline(r, buf, 0, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    tu_clear_all();
    /* IncompleteReadError: the partial is in buf, its length the detail. */
    ck_assert_int_eq(asyncio__stream_feed_data(r, "xyz", 3), 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readexactly(r, buf, 8, &n), ASYNCIO_EINCOMPLETEREAD);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(asyncio_error()->detail, 3);
    ck_assert_str_eq(buf, "xyz");
    asyncio_error_clear();
    n = 123;
    ck_assert_int_eq(asyncio_stream_readuntil(r, "#", 1, buf, sizeof buf, &n),
                     ASYNCIO_EINCOMPLETEREAD);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(asyncio_error()->detail, 0);
    asyncio_error_clear();
    asyncio_sockaddr_t a;
    memset(&a, 0x55, sizeof a);
    ck_assert_int_eq(asyncio_stream_peername(r, &a), ASYNCIO_ERUNTIME); /* no transport */
    assert_addr_zero(&a);
    memset(&a, 0x55, sizeof a);
    ck_assert_int_eq(asyncio_stream_sockname(NULL, &a), ASYNCIO_EVALUE);
    assert_addr_zero(&a);
    tu_clear_all();
    asyncio_stream_free(r);
    return NULL;
}

START_TEST(test_out_params)
{
    run(out_params_main, NULL);
    /* Outside a task: the first thing that fails. */
    tu_alloc_install();
    asyncio_stream_t *s = SENTINEL;
    ck_assert_int_eq(asyncio_open_connection("127.0.0.1", 1, NULL, &s), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(s);
    size_t n = 123;
    char buf[4];
    ck_assert_int_eq(asyncio_stream_read(NULL, buf, sizeof buf, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    char *data = SENTINEL;
    n = 123;
    ck_assert_int_eq(asyncio_stream_read_all(NULL, &data, &n), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readexactly(NULL, buf, 2, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readline(NULL, buf, sizeof buf, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_stream_readuntil(NULL, "x", 1, buf, sizeof buf, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    tu_clear_all();
}
END_TEST

/* Bytes: what a read stores in the caller's buffer is NUL-terminated when
 * there is room; readline and readuntil store at most cap - 1 bytes and
 * always terminate. */
static void *terminated_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *r = asyncio__stream_reader_new(asyncio_get_running_loop(), 0);
    ck_assert_int_eq(asyncio__stream_feed_data(r, "hello\nabc\nabcd\n0123world", 24), 0);
    char buf[16];
    size_t n;
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(asyncio_stream_read(r, buf, 3, &n), 0); /* n == cap: no room */
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(buf, "helx", 4) == 0);
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(asyncio_stream_readline(r, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(buf, "lo\n");
    /* "abc\n" and its NUL fill a cap of 5 exactly; "abcd\n" does not. */
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(asyncio_stream_readline(r, buf, 5, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(buf, "abc\n");
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(asyncio_stream_readuntil(r, "\n", 1, buf, 5, &n), ASYNCIO_ELIMITOVERRUN);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(buf, ""); /* nothing stored, still a C string */
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_readuntil(r, "\n", 1, buf, 6, &n), 0);
    ck_assert_str_eq(buf, "abcd\n");
    /* readexactly filling buf exactly writes nothing after it. */
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(asyncio_stream_readexactly(r, buf, 4, &n), 0);
    ck_assert(memcmp(buf, "0123x", 5) == 0);
    /* A buffer fresh from malloc: unterminated, strcmp would read bytes
     * never written (Valgrind: uninitialised; ASan fills them). */
    char *m = malloc(16);
    ck_assert_int_eq(asyncio_stream_read(r, m, 16, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(m, "world");
    free(m);
    /* Too small for anything but the NUL: refused. */
    ck_assert_int_eq(asyncio_stream_readline(r, buf, 1, &n), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "cap 1 leaves no room for a line and the NUL");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_stream_readuntil(r, "ab", 2, buf, 2, &n), ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "cap 2 leaves no room for the separator and the NUL");
    asyncio_error_clear();
    /* read_all: a NUL after its length. */
    asyncio__stream_feed_data(r, "tail", 4);
    asyncio__stream_feed_eof(r);
    char *data = NULL;
    ck_assert_int_eq(asyncio_stream_read_all(r, &data, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(data, "tail");
    asyncio_buffer_free(data);
    asyncio_stream_free(r);
    return NULL;
}

START_TEST(test_terminated)
{
    run(terminated_main, NULL);
}
END_TEST

/* Messages read as Python's and name no C function. */
static void *messages_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = NULL;
    char buf[8], want[128];
    size_t n;
    expect_msg(asyncio_open_connection(NULL, 80, NULL, &s), ASYNCIO_EVALUE, "ValueError",
               "host is NULL");
    expect_msg(asyncio_open_connection("127.0.0.1", -1, NULL, &s), ASYNCIO_EVALUE, "ValueError",
               "port must be 0-65535.");
    expect_msg(asyncio_open_connection("127.0.0.1", 80, NULL, NULL), ASYNCIO_EVALUE, "ValueError",
               "stream is NULL");
    expect_msg(asyncio_open_unix_connection(NULL, NULL, &s), ASYNCIO_EVALUE, "ValueError",
               "path is NULL");
    expect_msg(asyncio_stream_read(NULL, buf, 1, &n), ASYNCIO_EVALUE, "ValueError",
               "the stream is NULL");
    /* Python's: the address as its tuple, after the errno. */
    int port;
    int fd = raw_listener(&port);
    close(fd);
    snprintf(want, sizeof want, "[Errno 111] Connect call failed ('127.0.0.1', %d)", port);
    expect_msg(asyncio_open_connection("127.0.0.1", port, NULL, &s), UV_ECONNREFUSED,
               "ConnectionRefusedError", want);
    expect_msg(asyncio_open_unix_connection("/nonexistent/casyncio.sock", NULL, &s), UV_ENOENT,
               "FileNotFoundError",
               "[Errno 2] No such file or directory: '/nonexistent/casyncio.sock'");

    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    s = connect_ok(server_port(srv), NULL);
    expect_msg(asyncio_stream_read(s, NULL, 1, &n), ASYNCIO_EVALUE, "ValueError", "buf is NULL");
    expect_msg(asyncio_stream_readline(s, buf, 0, &n), ASYNCIO_EVALUE, "ValueError", "cap is 0");
    expect_msg(asyncio_stream_readuntil(s, "x", 1, buf, 0, &n), ASYNCIO_EVALUE, "ValueError",
               "cap is 0");
    expect_msg(asyncio_stream_read_all(s, NULL, &n), ASYNCIO_EVALUE, "ValueError", "data is NULL");
    const void *parts[] = {"a"};
    expect_msg(asyncio_stream_writelines(s, parts, NULL, 1), ASYNCIO_EVALUE, "ValueError",
               "lens is NULL");
    asyncio_stream_close(s);
    expect_msg(asyncio_stream_write(s, "x", 1), ASYNCIO_ERUNTIME, "RuntimeError",
               "Cannot call write() after close()");
    expect_msg(asyncio_stream_write_eof(s), ASYNCIO_ERUNTIME, "RuntimeError",
               "Cannot call write_eof() after close()");
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_sockaddr_t a;
    expect_msg(asyncio_stream_peername(s, &a), UV_EBADF, "OSError",
               "[Errno 9] Bad file descriptor");
    asyncio_stream_free(s);
    asyncio_stream_free((asyncio_stream_t *)srv); /* a handle of another type */
    assert_not_live("stream");
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_messages)
{
    run(messages_main, NULL);
    tu_alloc_install();
    char buf[4];
    size_t n;
    ck_assert_int_eq(asyncio_stream_read(NULL, buf, sizeof buf, &n), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    asyncio_error_clear();
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
    suite_add_tcase(s, tc);

    tc = tcase_create("backpressure");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_backpressure);
    suite_add_tcase(s, tc);

    tc = tcase_create("review");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_review_write_size_overflow);
    tcase_add_test(tc, test_review_feed_overflow);
    tcase_add_test(tc, test_review_readuntil_consumed_meanwhile);
    tcase_add_test(tc, test_review_huge_limit);
    tcase_add_test(tc, test_review_drain_after_close);
    tcase_add_test(tc, test_review_double_free);
    tcase_add_test(tc, test_review_writelines_all_or_nothing);
    tcase_add_test(tc, test_review_cancel_waits);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_stream_handles);
    tcase_add_test(tc, test_connected_handles);
    tcase_add_test(tc, test_out_params);
    tcase_add_test(tc, test_terminated);
    tcase_add_test(tc, test_messages);
    suite_add_tcase(s, tc);
    return s;
}
