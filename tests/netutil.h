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

/* Server handlers: echo_handler writes back what it reads (and drains)
 * until EOF; echo_once reads until EOF and writes nothing. */
void *echo_handler(asyncio_stream_t *s, void *arg);
void *echo_once(asyncio_stream_t *s, void *arg);

/* Task bodies that wait, for tests that cancel them or close the loop
 * under them: wait_closed of a server, of a stream (arg). */
void *t_server_wait_closed(void *arg);
void *t_wait_closed(void *arg);

#endif
