/*
 * Helpers the net suites share (check_stream.c, check_transport.c,
 * check_server.c): the run wrapper and its log, a server's port, a
 * connection that must work, and the handlers and tasks several suites'
 * tests start.
 */
#ifndef CASYNCIO_NETUTIL_H
#define CASYNCIO_NETUTIL_H

#include "testutil.h"

/* The log a test writes with LOGF, to compare event order with the
 * Python twin's output; run clears it. */
extern tu_log_t LOG;
#define LOGF(...) tu_logf(&LOG, __VA_ARGS__)

/* Runs main with asyncio_run on a cleared LOG, asserting it succeeded. */
void run(asyncio_coro_fn main, void *arg);

/* The port of srv's first socket, asserted to be 127.0.0.1's. */
int server_port(asyncio_server_t *srv);
/* open_connection to 127.0.0.1:port, asserting it worked. */
asyncio_stream_t *connect_ok(int port, const asyncio_stream_opts_t *opts);

/* A round trip through an echo server at 127.0.0.1:port: a connection
 * that writes a byte, reads it back and goes. */
void echo_ok(int port);

/* Server handlers: echo_handler writes back what it reads (and drains)
 * until EOF; echo_once reads until EOF and writes nothing. */
void *echo_handler(asyncio_stream_t *s, void *arg);
void *echo_once(asyncio_stream_t *s, void *arg);

/* Asserts that the raised error is ValueError "not a live <what> (freed,
 * or never one)" and clears it. */
void assert_not_live(const char *what);

/* Asserts that the raised error, if any, names no C function (no
 * "asyncio_" in its message) and has a message. */
void assert_python_message(void);

/* Asserts that a call returned want_rc and raised type with exactly msg
 * (assert_python_message too), and clears it. */
void expect_msg(int rc, int want_rc, const char *type, const char *msg);

/* What tests put in an out-parameter to see a failing call clear it. */
#define SENTINEL ((void *)1)

/* server.close(); await server.wait_closed(); then frees it. */
void server_shutdown(asyncio_server_t *srv);

/* Lets closed sockets go, then asserts that as many handles are live as
 * before (asyncio__handle_count). */
void assert_handles_back(long before);

/* Task bodies that wait, for tests that cancel them or close the loop
 * under them: wait_closed of a server, of a stream (arg). */
void *t_server_wait_closed(void *arg);
void *t_wait_closed(void *arg);

#endif
