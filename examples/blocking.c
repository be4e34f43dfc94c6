/* Tutorial program 7 (blocking.py): blocking code in the default executor
 * beside an async task.  The blocking sleep runs on a worker thread, so the
 * whole program takes 3 s, not 5.
 *
 * The two "Starting" lines race, in Python as in C: the task starts in the
 * loop's next iteration, microseconds away, while the job waits for a new
 * worker thread to start; the task wins (nearly always). */
#include <casyncio.h>
#include <stdio.h>
#include <time.h>

/* async def async_task(): */
static void *async_task(void *arg)
{
    (void)arg;
    printf("Starting async task\n");
    if (asyncio_sleep(2) < 0)
        return NULL;
    printf("Async task complete\n");
    return NULL;
}

/* def blocking_task(): runs on a worker thread. */
static void *blocking_task(void *arg)
{
    (void)arg;
    printf("Starting blocking task\n");
    struct timespec three_s = {3, 0};
    nanosleep(&three_s, NULL); /* time.sleep(3) */
    printf("Blocking task complete\n");
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* blocking = loop.run_in_executor(None, blocking_task) */
    asyncio_future_t *blocking = asyncio_run_in_executor(NULL, blocking_task, NULL);
    if (!blocking)
        return NULL;
    /* await asyncio.gather(async_task(), blocking) */
    asyncio_future_t *task = asyncio_create_task(async_task, NULL);
    if (task) {
        asyncio_future_t *both[] = {task, blocking};
        asyncio_gather(both, 2, NULL, 0);
        asyncio_decref(task);
    }
    asyncio_decref(blocking);
    return NULL; /* an error raised above stays raised and propagates */
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep print order when stdout is a pipe */
    if (asyncio_run(async_main, NULL, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "%s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
