/* "Coroutines and Tasks" timeout program (timeout.py): `async with
   asyncio.timeout(1):` cancels the block when the second passes, and the
   exit of the scope turns that cancellation into TimeoutError. */
#include <casyncio.h>
#include <stdio.h>

/* The docs leave long_running_task() undefined: here it is a task that takes
   an hour.  The docs' timeout is 10 s; 1 s keeps the demo short. */
static void *long_running_task(void *arg)
{
    (void)arg;
    asyncio_sleep(3600); /* a failure (the timeout's cancellation) stays raised */
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    /* try: async with asyncio.timeout(1): */
    asyncio_timeout_t *cm = asyncio_timeout_enter(1);
    if (!cm)
        return NULL;
    asyncio_call(long_running_task, NULL, NULL); /* await long_running_task() */
    /* No return between enter and exit: the exit turns the timeout's
       CancelledError into TimeoutError and lets any other error through. */
    if (asyncio_timeout_exit(cm) < 0) {
        if (!asyncio_catch("TimeoutError")) /* except TimeoutError: */
            return NULL;
        printf("The long operation timed out, but we've handled it.\n");
    }

    printf("This statement will run regardless.\n");
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
