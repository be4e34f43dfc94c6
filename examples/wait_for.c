/* "Coroutines and Tasks" wait_for program (wait_for.py): wait_for cancels
   the task when its timeout passes and raises TimeoutError. */
#include <casyncio.h>
#include <stdio.h>

/* async def eternity(): */
static void *eternity(void *arg)
{
    (void)arg;
    /* Sleep for one hour */
    if (asyncio_sleep(3600) < 0)
        return NULL;
    printf("yay!\n");
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* wait_for() wraps a coroutine in a task; in C the task is created
       explicitly and the reference it returns is ours to drop. */
    asyncio_future_t *task = asyncio_create_task(eternity, NULL);
    if (!task)
        return NULL;
    /* Wait for at most 1 second */
    if (asyncio_wait_for(task, 1.0, NULL) < 0) { /* try: await asyncio.wait_for(...) */
        if (asyncio_catch("TimeoutError"))       /* except TimeoutError: */
            printf("timeout!\n");
        /* any other exception is still raised and propagates */
    }
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
