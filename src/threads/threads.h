/*
 * The threads area's private header: what the runner and the area's two
 * files share.  Nothing here is API.
 */
#ifndef CASYNCIO_THREADS_THREADS_H
#define CASYNCIO_THREADS_THREADS_H

#include "core/core.h"

/* Shuts the loop's default executor down: from asyncio_run (loop open),
 * waiting for its jobs while running the loop; from loop close (loop
 * closed, through the area's close hook), without waiting, releasing what
 * the loop's jobs and run_coroutine_threadsafe requests still hold
 * (executor.c). */
void asyncio__executor_shutdown_default(asyncio_loop_t *loop);

/* Registers the area's loop close hook (once per process): called before
 * the first executor, job or concurrent future exists. */
void asyncio__threads_hook_install(void);

/* Loop close: concurrent futures whose coroutine never started are
 * cancelled (threadsafe.c). */
void asyncio__cfutures_loop_closed(asyncio_loop_t *loop);

#endif /* CASYNCIO_THREADS_THREADS_H */
