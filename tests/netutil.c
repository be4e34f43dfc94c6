/* Helpers the net suites share: stream, transport and server. */
#include "netutil.h"

#include "../src/testing.h" /* asyncio__handle_count */

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

tu_log_t LOG;

void run(asyncio_coro_fn main, void *arg)
{
    memset(&LOG, 0, sizeof LOG);
    tu_run_ok(main, arg);
}

int server_port(asyncio_server_t *srv)
{
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_server_sockname(srv, 0, &a), 0);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_int_gt(a.port, 0);
    return a.port;
}

asyncio_stream_t *connect_ok(int port, const asyncio_stream_opts_t *opts)
{
    asyncio_stream_t *s = NULL;
    int rc = asyncio_open_connection("127.0.0.1", port, opts, &s);
    ck_assert_msg(rc == 0, "open_connection: %s", tu_raised_message());
    ck_assert_ptr_nonnull(s);
    return s;
}

void echo_ok(int port)
{
    asyncio_stream_t *s = connect_ok(port, NULL);
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
    char b[2];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readexactly(s, b, 1, &n), 0);
    asyncio_stream_free(s);
}

void assert_not_live(const char *what)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_msg(e != NULL, "a %s that is not live was accepted", what);
    ck_assert_str_eq(e->type, "ValueError");
    char want[64];
    snprintf(want, sizeof want, "not a live %s (freed, or never one)", what);
    ck_assert_str_eq(e->message, want);
    asyncio_error_clear();
}

void assert_python_message(void)
{
    const asyncio_error_t *e = asyncio_error();
    if (!e)
        return;
    ck_assert_msg(e->message[0] != '\0', "an empty message (%s)", e->type);
    ck_assert_msg(!strstr(e->message, "asyncio_"), "a C name in: %s", e->message);
}

void expect_msg(int rc, int want_rc, const char *type, const char *msg)
{
    ck_assert_int_eq(rc, want_rc);
    assert_python_message();
    ck_assert_str_eq(asyncio_error()->type, type);
    ck_assert_str_eq(tu_raised_message(), msg);
    asyncio_error_clear();
}

void server_shutdown(asyncio_server_t *srv)
{
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
}

void assert_handles_back(long before)
{
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(asyncio__handle_count(), before);
}

void *echo_handler(asyncio_stream_t *s, void *arg)
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

void *echo_once(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char buf[64];
    size_t n;
    while (asyncio_stream_read(s, buf, sizeof buf, &n) == 0 && n)
        ;
    asyncio_error_clear();
    return NULL;
}

void *t_server_wait_closed(void *arg)
{
    asyncio_server_wait_closed(arg);
    return NULL;
}

void *t_wait_closed(void *arg)
{
    asyncio_stream_wait_closed(arg);
    return NULL;
}
