/*
 * asyncio_run's SIGINT handling (signal.c), as Python 3.11's Runner: the
 * first SIGINT cancels the main task, a second one interrupts the program.
 * Nothing here is API.
 */
#ifndef CASYNCIO_RUNNER_SIGINT_H
#define CASYNCIO_RUNNER_SIGINT_H

#include "internal.h"

typedef struct asyncio__sigint asyncio__sigint_t;

/* Watches SIGINT for asyncio_run's main task, only in the main thread and
 * only while SIGINT has its default disposition (the program did not set
 * its own handler).  NULL when it does not watch. */
asyncio__sigint_t *asyncio__sigint_install(asyncio_loop_t *loop, asyncio_future_t *main);
/* Stops watching (default disposition back) and returns how many SIGINTs
 * arrived.  NULL is harmless (0). */
int asyncio__sigint_uninstall(asyncio__sigint_t *si);

#endif
