/* Tutorial "advanced" program 2 (exceptions.py): catching a task's error. */
#include <casyncio.h>
#include <stdio.h>

/* async def faulty_task(): */
static void *faulty_task(void *arg)
{
    (void)arg;
    if (asyncio_sleep(2) < 0)
        return NULL;
    return asyncio_raise("ValueError", "Something went wrong!");
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* try: await faulty_task()  -- asyncio_call runs it inline, in this task */
    if (asyncio_call(faulty_task, NULL, NULL) < 0) {
        const asyncio_error_t *e = asyncio_catch("ValueError");
        if (e) /* except ValueError as e: */
            printf("Caught an error: %s\n", e->message);
        /* any other exception is still raised and propagates */
    }
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
