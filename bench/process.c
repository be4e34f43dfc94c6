/*
 * process: subprocesses and files.
 *   spawn      create_subprocess_exec("true") then wait, 300 times: µs per
 *              child (mostly the kernel's fork/exec: the floor is the same
 *              for every loop).
 *   pipe       communicate() of 64 MiB through `cat` (in through stdin,
 *              back through stdout at the same time): ms.
 *   read_pipe  64 MiB from a child's stdout (`cat` of a 64 MiB file) in
 *              reads of 64 KiB, `await proc.stdout.read(65536)` until
 *              EOF: ms.  Its floor, read_pipe_floor: the same child read
 *              with blocking read(2) calls and no event loop (posix_spawn,
 *              read, waitpid) through a pipe of the kernel's default
 *              capacity: what the child and the kernel take with the
 *              64 KiB pipe Python reads through (casyncio raises a pipe
 *              that fills to 256 KiB, so it can go below this floor).
 *   read_small read_all of a 4 KiB file, 5,000 times: µs per file.
 *   read_big   read_all of a 64 MiB file: ms.
 * The figures are medians of several rounds.
 *
 * Twin: bench/process.py (asyncio.to_thread for the files, as Python has
 * no asynchronous file API of its own).
 */
#include "bench.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SPAWNS 300
#define PIPE_BYTES ((size_t)64 << 20)
#define SMALL_READS 5000
#define BIG_BYTES ((size_t)64 << 20)
#define PIPE_READ ((size_t)64 << 10)
#define ROUNDS 3

static char small_path[64], big_path[64];

static void *bench_main(void *arg)
{
    (void)arg;
    double v[ROUNDS];
    const char *argv[] = {"true", NULL};
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < SPAWNS; i++) {
            asyncio_process_t *p;
            bench_check(asyncio_create_subprocess_exec(argv, NULL, &p), "spawn");
            bench_check(asyncio_process_wait(p, NULL), "wait");
            asyncio_process_free(p);
        }
        v[r] = (double)(bench_now_ns() - t0) / 1e3 / SPAWNS;
        fprintf(stderr, "process: spawn round %d: %.0f us per child\n", r, v[r]);
    }
    bench_result("process", "spawn_wait_us", bench_median(v, ROUNDS), "us");

    char *in = bench_check_ptr(malloc(PIPE_BYTES), "malloc");
    memset(in, 'x', PIPE_BYTES);
    const char *cat[] = {"cat", NULL};
    asyncio_subprocess_opts_t opts = {.stdin_mode = ASYNCIO_STDIO_PIPE,
                                      .stdout_mode = ASYNCIO_STDIO_PIPE};
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        asyncio_process_t *p;
        bench_check(asyncio_create_subprocess_exec(cat, &opts, &p), "spawn cat");
        char *out;
        size_t len;
        bench_check(asyncio_process_communicate(p, in, PIPE_BYTES, &out, &len, NULL, NULL),
                    "communicate");
        if (len != PIPE_BYTES)
            bench_die("communicate length", -1);
        asyncio_buffer_free(out);
        asyncio_process_free(p);
        v[r] = (double)(bench_now_ns() - t0) / 1e6;
        fprintf(stderr, "process: pipe round %d: %.1f ms (%.0f MB/s)\n", r, v[r],
                (double)PIPE_BYTES / 1e3 / v[r]);
    }
    bench_result("process", "communicate_64MiB_ms", bench_median(v, ROUNDS), "ms");

    bench_check(asyncio_file_write_all(small_path, in, 4096), "write small");
    bench_check(asyncio_file_write_all(big_path, in, BIG_BYTES), "write big");
    free(in);
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < SMALL_READS; i++) {
            char *data;
            bench_check(asyncio_file_read_all(small_path, &data, NULL), "read small");
            asyncio_buffer_free(data);
        }
        v[r] = (double)(bench_now_ns() - t0) / 1e3 / SMALL_READS;
        fprintf(stderr, "process: read_small round %d: %.1f us per file\n", r, v[r]);
    }
    bench_result("process", "read_small_us", bench_median(v, ROUNDS), "us");
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        char *data;
        size_t len;
        bench_check(asyncio_file_read_all(big_path, &data, &len), "read big");
        asyncio_buffer_free(data);
        v[r] = (double)(bench_now_ns() - t0) / 1e6;
        fprintf(stderr, "process: read_big round %d: %.1f ms (%zu bytes)\n", r, v[r], len);
    }
    bench_result("process", "read_big_64MiB_ms", bench_median(v, ROUNDS), "ms");

    char *chunk = bench_check_ptr(malloc(PIPE_READ), "malloc");
    const char *cat_big[] = {"cat", big_path, NULL};
    asyncio_subprocess_opts_t out_only = {.stdout_mode = ASYNCIO_STDIO_PIPE};
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        asyncio_process_t *p;
        bench_check(asyncio_create_subprocess_exec(cat_big, &out_only, &p), "spawn cat big");
        asyncio_stream_t *out = asyncio_process_stdout(p);
        size_t total = 0, n;
        do {
            bench_check(asyncio_stream_read(out, chunk, PIPE_READ, &n), "read stdout");
            total += n;
        } while (n);
        bench_check(asyncio_process_wait(p, NULL), "wait cat big");
        asyncio_process_free(p);
        v[r] = (double)(bench_now_ns() - t0) / 1e6;
        if (total != BIG_BYTES)
            bench_die("read_pipe length", -1);
        fprintf(stderr, "process: read_pipe round %d: %.1f ms (%zu bytes in reads of %zu)\n", r,
                v[r], total, PIPE_READ);
    }
    bench_result("process", "read_pipe_64MiB_ms", bench_median(v, ROUNDS), "ms");
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t0 = bench_now_ns();
        int fds[2];
        if (pipe(fds) != 0)
            bench_die("pipe", -1);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
        pid_t pid;
        if (posix_spawnp(&pid, "cat", &fa, NULL, (char *const *)cat_big, environ) != 0)
            bench_die("posix_spawnp", -1);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        size_t total = 0;
        ssize_t n;
        while ((n = read(fds[0], chunk, PIPE_READ)) > 0)
            total += (size_t)n;
        close(fds[0]);
        waitpid(pid, NULL, 0);
        v[r] = (double)(bench_now_ns() - t0) / 1e6;
        if (total != BIG_BYTES)
            bench_die("read_pipe_floor length", -1);
        fprintf(stderr, "process: read_pipe_floor round %d: %.1f ms (blocking reads, no loop)\n", r,
                v[r]);
    }
    free(chunk);
    bench_result("process", "read_pipe_floor_64MiB_ms", bench_median(v, ROUNDS), "ms");
    return NULL;
}

int main(void)
{
    snprintf(small_path, sizeof small_path, "/tmp/casyncio-bench-small-%d", (int)getpid());
    snprintf(big_path, sizeof big_path, "/tmp/casyncio-bench-big-%d", (int)getpid());
    int rc = asyncio_run(bench_main, NULL, NULL);
    unlink(small_path);
    unlink(big_path);
    if (rc)
        bench_die("asyncio_run", rc);
    return 0;
}
