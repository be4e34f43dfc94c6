/* "Coroutines and Tasks" program 3 (taskgroup.py): program 2
   with a TaskGroup, which awaits its tasks when the block ends (2 seconds). */
#include <casyncio.h>
#include <stdio.h>

/* The docs print time.strftime('%X'), the time of day.  To make the output
   the same on every run, clock_hms() gives the time since the program
   started instead, rounded to whole seconds, in the same HH:MM:SS form
   (clock() in taskgroup.py). */
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
    /* The tasks' arguments live in main's frame, which outlives the group. */
    struct say_after_args hello = {1, "hello"}, world = {2, "world"};

    /* async with asyncio.TaskGroup() as tg: */
    asyncio_taskgroup_t *tg = asyncio_taskgroup_enter();
    if (!tg)
        return NULL;
    /* The group's tasks are borrowed (valid until the exit): no decref. */
    asyncio_future_t *task1 = asyncio_taskgroup_create_task(tg, say_after, &hello);

    asyncio_future_t *task2 = task1 ? asyncio_taskgroup_create_task(tg, say_after, &world) : NULL;

    if (task2)
        printf("started at %s\n", clock_hms());
    /* No return between enter and exit: a failure above stays raised, and
       the exit cancels the children and raises it. */
    if (asyncio_taskgroup_exit(tg) < 0)
        return NULL;

    /* The await is implicit when the context manager exits. */

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
