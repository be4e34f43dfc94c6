/* A subprocess pipeline (pipeline.py): the shell's `A | B | C` built with
 * create_subprocess_exec, a task per pipe copying one child's stdout into
 * the next one's stdin through streams.
 *
 *   pipeline [COMMAND ARG... '|' COMMAND ARG... ...]
 *
 * Without arguments it runs `seq 1 100000 | grep 7 | wc -l`.  Prints what
 * the last command writes; exits with 1 if a command failed (as the shell's
 * `set -o pipefail`), else 0. */
#include <casyncio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STAGES 16

struct pipeline {
    char **argv[MAX_STAGES]; /* each NULL-terminated, inside main's argv */
    size_t n;
    asyncio_process_t *procs[MAX_STAGES];
};

/* async def copy(src, dst): src's stdout into dst's stdin until EOF, then
 * close dst's stdin so that it sees EOF in turn. */
struct copy {
    asyncio_stream_t *from, *to;
};

static void *copy_task(void *arg)
{
    struct copy *c = arg;
    char buf[65536];
    for (;;) {
        size_t n;
        if (asyncio_stream_read(c->from, buf, sizeof buf, &n) < 0 || n == 0)
            break;
        if (asyncio_stream_write(c->to, buf, n) < 0 || asyncio_stream_drain(c->to) < 0)
            break;
    }
    /* EOF to the next command.  And if it ended without reading all (like
     * `head`), closing our end of the previous command's stdout makes its
     * next write fail (SIGPIPE), as in a shell pipe: it stops instead of
     * filling a pipe nobody reads.  BrokenPipeError is then the normal
     * end. */
    asyncio_stream_close(c->to);
    asyncio_stream_close(c->from);
    asyncio_catch("ConnectionError");
    return NULL;
}

/* async def main(): */
static void *async_main(void *arg)
{
    struct pipeline *pl = arg;
    struct copy copies[MAX_STAGES];
    asyncio_future_t *tasks[MAX_STAGES] = {NULL};
    size_t spawned = 0, ncopies = 0;
    int *status = malloc(pl->n * sizeof *status);
    if (!status)
        return asyncio_raise("MemoryError", "no memory");

    for (; spawned < pl->n; spawned++) {
        asyncio_subprocess_opts_t opts = {
            .stdin_mode = spawned > 0 ? ASYNCIO_STDIO_PIPE : ASYNCIO_STDIO_INHERIT,
            .stdout_mode = ASYNCIO_STDIO_PIPE,
        };
        if (asyncio_create_subprocess_exec((const char *const *)pl->argv[spawned], &opts,
                                           &pl->procs[spawned]) < 0)
            goto out;
    }
    for (; ncopies + 1 < pl->n; ncopies++) {
        copies[ncopies].from = asyncio_process_stdout(pl->procs[ncopies]);
        copies[ncopies].to = asyncio_process_stdin(pl->procs[ncopies + 1]);
        if (!(tasks[ncopies] = asyncio_create_task(copy_task, &copies[ncopies])))
            goto out;
    }
    /* What the last command writes: read to the end, then print. */
    char *out;
    size_t len;
    if (asyncio_stream_read_all(asyncio_process_stdout(pl->procs[pl->n - 1]), &out, &len) < 0)
        goto out;
    fwrite(out, 1, len, stdout);
    asyncio_buffer_free(out);
    for (size_t i = 0; i < ncopies; i++)
        if (asyncio_await(tasks[i], NULL) < 0)
            goto out;
    for (size_t i = 0; i < pl->n; i++)
        if (asyncio_process_wait(pl->procs[i], &status[i]) < 0)
            goto out;
    for (size_t i = 0; i < pl->n; i++)
        if (status[i] != 0) {
            fprintf(stderr, "pipeline: %s exited with %d\n", pl->argv[i][0], status[i]);
            asyncio_raise("RuntimeError", "command %zu of the pipeline failed", i + 1);
            break;
        }
out:
    /* On an error the copies still running are cancelled and waited for
     * (they use the processes' streams), then the children are freed,
     * which kills those still running. */
    if (asyncio_error()) {
        asyncio_error_t *why = asyncio_error_dup(asyncio_error());
        asyncio_error_clear();
        for (size_t i = 0; i < ncopies; i++)
            asyncio_cancel(tasks[i], NULL);
        for (size_t i = 0; i < ncopies; i++)
            if (asyncio_await(tasks[i], NULL) < 0)
                asyncio_error_clear();
        asyncio_raise_error(why);
        asyncio_error_free(why);
    }
    for (size_t i = 0; i < ncopies; i++)
        asyncio_decref(tasks[i]);
    for (size_t i = 0; i < spawned; i++)
        asyncio_process_free(pl->procs[i]);
    free(status);
    return NULL;
}

static int usage(const char *prog)
{
    fprintf(stderr, "usage: %s [COMMAND ARG... '|' COMMAND ARG...] (at most %d commands)\n", prog,
            MAX_STAGES);
    return 2;
}

int main(int argc, char **argv)
{
    static char *seq[] = {"seq", "1", "100000", NULL};
    static char *grep[] = {"grep", "7", NULL};
    static char *wc[] = {"wc", "-l", NULL};
    struct pipeline pl = {.argv = {seq, grep, wc}, .n = 3};
    if (argc > 1) {
        /* Split argv at each "|" into NULL-terminated commands. */
        pl.n = 0;
        pl.argv[pl.n++] = argv + 1;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "|") != 0)
                continue;
            argv[i] = NULL;
            if (pl.n == MAX_STAGES || i + 1 == argc || argv[i - 1] == NULL || i == 1)
                return usage(argv[0]);
            pl.argv[pl.n++] = argv + i + 1;
        }
    }
    if (asyncio_run(async_main, &pl, NULL) < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "pipeline: %s\n", e ? text : "Error");
        return 1;
    }
    return 0;
}
