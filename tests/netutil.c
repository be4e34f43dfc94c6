/* Helpers the net suites share: stream, transport and server. */
#include "netutil.h"

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
