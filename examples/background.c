/* Tutorial "advanced" program 1 (background.py): a task in the background. */
#include <casyncio.h>
#include <stdio.h>

/* async def background_task(): */
static void *background_task(void *arg)
{
    (void)arg;
    if (asyncio_sleep(3) < 0)
        return NULL;
    printf("Background Task Complete\n");
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    asyncio_future_t *task = asyncio_create_task(background_task, NULL);
    if (!task)
        return NULL;
    printf("Main Task Running\n");
    if (asyncio_sleep(1) == 0) {
        printf("Main Task Complete\n");
        asyncio_await(task, NULL); /* Ensure background task completes */
    }
    /* Drop our reference (the loop holds its own until the task is done);
       an error raised above stays raised and propagates. */
    asyncio_decref(task);
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
