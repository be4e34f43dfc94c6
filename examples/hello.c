/* Tutorial program 1 (hello.py): an async function that sleeps. */
#include <casyncio.h>
#include <stdio.h>

/* async def say_hello(): */
static void *say_hello(void *arg)
{
    (void)arg;
    printf("Hello\n");
    if (asyncio_sleep(1) < 0)
        return NULL; /* a failed await propagates, like an uncaught exception */
    printf("World\n");
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep print order when stdout is a pipe */
    if (asyncio_run(say_hello, NULL, NULL) < 0) {
        /* Python would print a traceback and exit with status 1. */
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "%s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
