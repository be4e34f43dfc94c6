/* Tutorial program 2 (gather.py): two coroutines run concurrently. */
#include <casyncio.h>
#include <stdio.h>

/* async def task1(): */
static void *task1(void *arg)
{
    (void)arg;
    if (asyncio_sleep(2) < 0)
        return NULL;
    printf("Task 1 complete\n");
    return NULL;
}

/* async def task2(): */
static void *task2(void *arg)
{
    (void)arg;
    if (asyncio_sleep(1) < 0)
        return NULL;
    printf("Task 2 complete\n");
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* gather() wraps coroutines in tasks; in C the tasks are created
       explicitly and the references they return are ours to drop. */
    asyncio_future_t *tasks[2] = {asyncio_create_task(task1, NULL),
                                  asyncio_create_task(task2, NULL)};
    if (tasks[0] && tasks[1])
        asyncio_gather(tasks, 2, NULL, 0); /* a failure stays raised and propagates */
    asyncio_decref(tasks[0]);
    asyncio_decref(tasks[1]);
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
