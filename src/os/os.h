/*
 * The os area's private header: what the runner uses of it.  Nothing here
 * is API.
 *
 * asyncio_run's SIGINT handling lives in signal.c, beside the signal
 * handlers it must hand SIGINT over to (a program that installs its own
 * SIGINT handler during the run takes over from the runner), and follows
 * Python 3.11's Runner: the first SIGINT cancels the main task, a second
 * one interrupts the program.
 */
#ifndef CASYNCIO_OS_OS_H
#define CASYNCIO_OS_OS_H

#include "core/core.h"

typedef struct asyncio__sigint asyncio__sigint_t;

/* Watches SIGINT for asyncio_run's main task, only in the main thread and
 * only while SIGINT has its default disposition (the program did not set
 * its own handler).  NULL when it does not watch. */
asyncio__sigint_t *asyncio__sigint_install(asyncio_loop_t *loop, asyncio_future_t *main);
/* Stops watching (default disposition back) and returns how many SIGINTs
 * arrived.  NULL is harmless (0). */
int asyncio__sigint_uninstall(asyncio__sigint_t *si);

#endif /* CASYNCIO_OS_OS_H */
