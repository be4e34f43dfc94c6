/* Tutorial program 6 (producer_consumer.py): a producer and a consumer
 * task connected by an asyncio.Queue. */
#include <casyncio.h>
#include <stdint.h>
#include <stdio.h>

/* async def producer(queue): */
static void *producer(void *arg)
{
    asyncio_queue_t *queue = arg;
    for (intptr_t i = 0; i < 5; i++) {
        if (asyncio_sleep(1) < 0)
            return NULL;
        /* Items are void *: small integers travel inside the pointer. */
        if (asyncio_queue_put(queue, (void *)i) < 0)
            return NULL;
        printf("Produced: %d\n", (int)i);
    }
    return NULL;
}

/* async def consumer(queue): */
static void *consumer(void *arg)
{
    asyncio_queue_t *queue = arg;
    for (;;) {
        void *item;
        if (asyncio_queue_get(queue, &item) < 0)
            return NULL; /* cancelled: the CancelledError propagates */
        printf("Consumed: %d\n", (int)(intptr_t)item);
        asyncio_queue_task_done(queue);
    }
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    asyncio_queue_t *queue = asyncio_queue_new(0);
    if (!queue)
        return NULL;
    asyncio_future_t *producers = asyncio_create_task(producer, queue);
    asyncio_future_t *consumers = asyncio_create_task(consumer, queue);
    if (producers && consumers && asyncio_await(producers, NULL) == 0 &&
        asyncio_queue_join(queue) == 0)
        asyncio_cancel(consumers, NULL);
    /* C: the queue must outlive the tasks using it, so wait for the
     * consumer to finish its cancellation before freeing the queue. */
    if (consumers && asyncio_await(consumers, NULL) < 0)
        asyncio_catch("CancelledError");
    asyncio_decref(producers);
    asyncio_decref(consumers);
    asyncio_queue_free(queue);
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
