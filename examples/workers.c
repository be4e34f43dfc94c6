/* The Python documentation's asyncio Queue "workers" example (workers.py):
 * three workers process 20 sleep jobs from a queue.  The sleep times are
 * fixed instead of random (see workers.py) so both print the same. */
#include <casyncio.h>
#include <stdio.h>

static double SLEEP_TIMES[20] = {0.28, 0.57, 0.40, 0.62, 0.64, 0.11, 0.06, 0.85, 0.30, 0.27,
                                 1.00, 0.50, 0.84, 0.50, 0.66, 0.19, 0.65, 0.87, 0.55, 0.75};

typedef struct worker_args {
    char name[16];
    asyncio_queue_t *queue;
} worker_args_t;

/* async def worker(name, queue): */
static void *worker(void *arg)
{
    worker_args_t *w = arg;
    for (;;) {
        /* Get a "work item" out of the queue: a pointer to its sleep time. */
        void *item;
        if (asyncio_queue_get(w->queue, &item) < 0)
            return NULL;
        double sleep_for = *(double *)item;
        /* Sleep for the "sleep_for" seconds. */
        if (asyncio_sleep(sleep_for) < 0)
            return NULL;
        /* Notify the queue that the "work item" has been processed. */
        asyncio_queue_task_done(w->queue);
        printf("%s has slept for %.2f seconds\n", w->name, sleep_for);
    }
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* Create a queue that we will use to store our "workload". */
    asyncio_queue_t *queue = asyncio_queue_new(0);
    if (!queue)
        return NULL;
    /* Put the sleep times into the queue. */
    double total_sleep_time = 0;
    for (int i = 0; i < 20; i++) {
        total_sleep_time += SLEEP_TIMES[i];
        asyncio_queue_put_nowait(queue, &SLEEP_TIMES[i]);
    }
    /* Create three worker tasks to process the queue concurrently. */
    worker_args_t args[3];
    asyncio_future_t *tasks[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        snprintf(args[i].name, sizeof args[i].name, "worker-%d", i);
        args[i].queue = queue;
        tasks[i] = asyncio_create_task(worker, &args[i]);
    }
    /* Wait until the queue is fully processed. */
    double started_at = asyncio_loop_time(NULL);
    int rc = asyncio_queue_join(queue);
    double total_slept_for = asyncio_loop_time(NULL) - started_at;
    /* Cancel our worker tasks, and wait until they are all cancelled. */
    for (int i = 0; i < 3; i++)
        if (tasks[i])
            asyncio_cancel(tasks[i], NULL);
    asyncio_gather(tasks, 3, NULL, ASYNCIO_RETURN_EXCEPTIONS);
    for (int i = 0; i < 3; i++)
        asyncio_decref(tasks[i]);
    asyncio_queue_free(queue);
    if (rc < 0)
        return NULL;
    printf("====\n");
    printf("3 workers slept in parallel for %.1f seconds\n", total_slept_for);
    printf("total expected sleep time: %.2f seconds\n", total_sleep_time);
    return NULL;
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
