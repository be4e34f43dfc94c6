/* "Coroutines and Tasks" program 1 (say_after.py): awaiting two coroutines
   one after the other takes 1 + 2 = 3 seconds. */
#include <casyncio.h>
#include <stdio.h>

/* The docs print time.strftime('%X'), the time of day.  To make the output
   the same on every run, clock_hms() gives the time since the program
   started instead, rounded to whole seconds, in the same HH:MM:SS form
   (clock() in say_after.py). */
static double start;

static const char *clock_hms(void)
{
    static char buf[32];
    long s = (long)(asyncio_loop_time(NULL) - start + 0.5);
    snprintf(buf, sizeof buf, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

struct say_after_args {
    double delay;
    const char *what;
};

/* async def say_after(delay, what): */
static void *say_after(void *arg)
{
    const struct say_after_args *args = arg;
    if (asyncio_sleep(args->delay) < 0)
        return NULL; /* a failed await propagates */
    printf("%s\n", args->what);
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    (void)arg;
    printf("started at %s\n", clock_hms());

    /* await say_after(...): asyncio_call runs the coroutine inline, in this task */
    if (asyncio_call(say_after, &(struct say_after_args){1, "hello"}, NULL) < 0)
        return NULL;
    if (asyncio_call(say_after, &(struct say_after_args){2, "world"}, NULL) < 0)
        return NULL;

    printf("finished at %s\n", clock_hms());
    return NULL;
}

int main(void)
{
    start = asyncio_loop_time(NULL);  /* START = time.monotonic() */
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
