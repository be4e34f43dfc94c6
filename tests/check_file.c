/*
 * Files: whole-file read/write/append round trips (binary, empty, larger
 * than one read), streaming open/read/write/pread/pwrite/seek/close and
 * Python's open modes, OSError types and messages with the path, bad
 * input, calls outside a task; cancellation of a request queued behind a
 * busy thread pool (withdrawn at once) and of one already running (waited
 * for, its result released: no descriptor leaks); loop close with requests
 * queued and running; allocation failure at every step.  The API rules:
 * out-parameters NULL or 0 after any failure, reads NUL-terminated when
 * the buffer has room, a closed file's handle refused (never reaching a
 * newer file), Python's messages.
 *
 * Requests that never finish on their own are opens of a FIFO with no
 * writer: the test opens the writing end when it wants them to finish.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

static char DIR_[64];

static void make_dir(void)
{
    strcpy(DIR_, "/tmp/casyncio-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(DIR_));
}

static void remove_dir(void)
{
    DIR *d = opendir(DIR_);
    if (!d)
        return;
    struct dirent *e;
    char p[sizeof DIR_ + sizeof e->d_name + 2];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", DIR_, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(DIR_);
}

static const char *path(const char *name)
{
    static char bufs[4][128];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, 128, "%s/%s", DIR_, name);
    return b;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void setup(void)
{
    /* Two pool threads: two blocked requests fill it. */
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    tu_setup();
    make_dir();
}

static void teardown(void)
{
    remove_dir();
    tu_teardown();
}

/* ------------------------------------------------------------ whole files */

static void *roundtrip_main(void *arg)
{
    (void)arg;
    size_t n = 3 * 1024 * 1024 + 17; /* several reads */
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 13)); /* NUL bytes included */
    ck_assert_int_eq(asyncio_file_write_all(path("a"), data, n), 0);
    char *got = NULL;
    size_t len = 0;
    ck_assert_int_eq(asyncio_file_read_all(path("a"), &got, &len), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, data, n) == 0);
    ck_assert_int_eq(got[len], '\0');
    asyncio_buffer_free(got);

    /* Past 4 MiB the buffer is filled through huge pages where the kernel
     * allows: the same bytes, terminated, at any offset in the pages. */
    size_t big = 9 * 1024 * 1024 + 4093;
    unsigned char *bigdata = malloc(big);
    for (size_t i = 0; i < big; i++)
        bigdata[i] = (unsigned char)(i * 13 + (i >> 21));
    ck_assert_int_eq(asyncio_file_write_all(path("big"), bigdata, big), 0);
    ck_assert_int_eq(asyncio_file_read_all(path("big"), &got, &len), 0);
    ck_assert_uint_eq(len, big);
    ck_assert(memcmp(got, bigdata, big) == 0);
    ck_assert_int_eq(got[len], '\0');
    asyncio_buffer_free(got);
    free(bigdata);

    /* Truncating write, then appends. */
    ck_assert_int_eq(asyncio_file_write_all(path("a"), "hello", 5), 0);
    ck_assert_int_eq(asyncio_file_append(path("a"), " world", 6), 0);
    ck_assert_int_eq(asyncio_file_append(path("new"), "x", 1), 0); /* creates */
    ck_assert_int_eq(asyncio_file_read_all(path("a"), &got, &len), 0);
    ck_assert_str_eq(got, "hello world");
    ck_assert_uint_eq(len, 11);
    asyncio_buffer_free(got);
    ck_assert_int_eq(asyncio_file_read_all(path("new"), &got, NULL), 0);
    ck_assert_str_eq(got, "x");
    asyncio_buffer_free(got);

    /* Empty file, empty write (data NULL with len 0). */
    ck_assert_int_eq(asyncio_file_write_all(path("empty"), NULL, 0), 0);
    len = 99;
    ck_assert_int_eq(asyncio_file_read_all(path("empty"), &got, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(got, "");
    asyncio_buffer_free(got);

    /* A file that is not regular: its size says nothing. */
    ck_assert_int_eq(asyncio_file_read_all("/proc/self/stat", &got, &len), 0);
    ck_assert_uint_gt(len, 0);
    asyncio_buffer_free(got);
    free(data);
    return NULL;
}

START_TEST(test_whole_file_roundtrip)
{
    tu_run_ok(roundtrip_main, NULL);
}
END_TEST

/* The raised message is want (Python's); clears it. */
static void assert_message(const char *want)
{
    ck_assert_str_eq(tu_raised_message(), want);
    asyncio_error_clear();
}

static void *errors_main(void *arg)
{
    (void)arg;
    char *got = (char *)"untouched";
    ck_assert_int_eq(asyncio_file_read_all("/nonexistent", &got, NULL), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    ck_assert_int_eq(asyncio_error()->detail, ENOENT);
    ck_assert(asyncio_error_matches("OSError"));
    ck_assert_ptr_null(got); /* a failed call's out-parameters are NULL */
    assert_message("[Errno 2] No such file or directory: '/nonexistent'");

    char want[160];
    ck_assert_int_eq(asyncio_file_read_all(DIR_, &got, NULL), UV_EISDIR);
    assert_raised(UV_EISDIR, "IsADirectoryError");
    snprintf(want, sizeof want, "[Errno 21] Is a directory: '%s'", DIR_);
    assert_message(want);

    ck_assert_int_eq(asyncio_file_write_all(path("no/such/dir"), "x", 1), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_file_write_all(DIR_, "x", 1), UV_EISDIR);
    asyncio_error_clear();

    /* Bad input. */
    ck_assert_int_eq(asyncio_file_read_all(NULL, &got, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    assert_message("path is NULL");
    ck_assert_int_eq(asyncio_file_read_all(path("a"), NULL, NULL), ASYNCIO_EVALUE);
    assert_message("data is NULL");
    ck_assert_int_eq(asyncio_file_write_all(path("a"), NULL, 3), ASYNCIO_EVALUE);
    assert_message("data is NULL");
    ck_assert_int_eq(asyncio_file_append(NULL, "x", 1), ASYNCIO_EVALUE);
    assert_message("path is NULL");
    return NULL;
}

START_TEST(test_whole_file_errors)
{
    tu_run_ok(errors_main, NULL);
    /* Outside a task. */
    char *got;
    ck_assert_int_eq(asyncio_file_read_all(path("a"), &got, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_ptr_null(strstr(tu_raised_message(), "asyncio_")); /* no C name */
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_file_write_all(path("a"), "x", 1), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
}
END_TEST

/* ------------------------------------------------------------ streaming */

static void *stream_main(void *arg)
{
    (void)arg;
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("s"), "w", &f), 0);
    ck_assert_int_ge(asyncio_file_fileno(f), 0);
    for (int i = 0; i < 100; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        ck_assert_int_eq(asyncio_file_write(f, line, (size_t)n), 0);
    }
    int64_t pos = -1;
    ck_assert_int_eq(asyncio_file_seek(f, 0, SEEK_CUR, &pos), 0);
    ck_assert_int_eq(pos, 790);
    /* Reading a write-only file. */
    char buf[4096];
    size_t got = 0;
    ck_assert_int_eq(asyncio_file_read(f, buf, sizeof buf, &got), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    assert_message("File not open for reading"); /* Python's FileIO */
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* Read it back in small pieces until end of file. */
    ck_assert_int_eq(asyncio_file_open(path("s"), "rb", &f), 0);
    size_t total = 0;
    for (;;) {
        ck_assert_int_eq(asyncio_file_read(f, buf + total, 7, &got), 0);
        if (got == 0)
            break;
        total += got;
    }
    ck_assert_uint_eq(total, 790);
    ck_assert(memcmp(buf, "line 0\nline 1\n", 14) == 0);
    /* pread does not move the position; seek does. */
    ck_assert_int_eq(asyncio_file_pread(f, buf, 6, 7, &got), 0);
    ck_assert_uint_eq(got, 6);
    ck_assert(memcmp(buf, "line 1", 6) == 0);
    ck_assert_int_eq(asyncio_file_read(f, buf, 10, &got), 0);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(asyncio_file_seek(f, -8, SEEK_END, &pos), 0);
    ck_assert_int_eq(pos, 782);
    ck_assert_int_eq(asyncio_file_read(f, buf, 100, &got), 0);
    ck_assert_uint_eq(got, 8);
    ck_assert(memcmp(buf, "line 99\n", 8) == 0);
    ck_assert_int_eq(asyncio_file_write(f, "x", 1), ASYNCIO_EVALUE);
    assert_message("File not open for writing");
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* r+: pwrite in the middle. */
    ck_assert_int_eq(asyncio_file_open(path("s"), "r+", &f), 0);
    ck_assert_int_eq(asyncio_file_pwrite(f, "LINE", 4, 7), 0);
    ck_assert_int_eq(asyncio_file_pread(f, buf, 11, 7, &got), 0);
    ck_assert(memcmp(buf, "LINE 1\nline", 11) == 0);
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* a: writes go to the end whatever the position. */
    ck_assert_int_eq(asyncio_file_open(path("s"), "a+", &f), 0);
    ck_assert_int_eq(asyncio_file_seek(f, 0, SEEK_SET, NULL), 0);
    ck_assert_int_eq(asyncio_file_write(f, "end", 3), 0);
    ck_assert_int_eq(asyncio_file_pread(f, buf, 10, 787, &got), 0);
    ck_assert_uint_eq(got, 6);
    ck_assert(memcmp(buf, "99\nend", 6) == 0);
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* x: exclusive creation. */
    f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("s"), "x", &f), UV_EEXIST);
    assert_raised(UV_EEXIST, "FileExistsError");
    ck_assert_ptr_null(f);
    char want[160];
    snprintf(want, sizeof want, "[Errno 17] File exists: '%s'", path("s"));
    assert_message(want);
    ck_assert_int_eq(asyncio_file_open(path("fresh"), "xb", &f), 0);
    ck_assert_int_eq(asyncio_file_write(f, NULL, 0), 0);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    ck_assert_int_eq(asyncio_file_open("/nonexistent", "r", &f), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    assert_message("[Errno 2] No such file or directory: '/nonexistent'");
    return NULL;
}

START_TEST(test_streaming)
{
    asyncio_loop_close(asyncio_loop_new()); /* libuv's signal pipe, made once */
    int fds = open_fds();
    tu_run_ok(stream_main, NULL);
    ck_assert_int_eq(open_fds(), fds);
}
END_TEST

static asyncio_file_t *KEPT;

static void *bad_stream_main(void *arg)
{
    (void)arg;
    asyncio_file_t *f = NULL;
    /* Python's open() messages for each. */
    static const char none[] =
        "Must have exactly one of create/read/write/append mode and at most one plus";
    static const char two[] = "must have exactly one of create/read/write/append mode";
    static const struct {
        const char *mode, *message;
    } bad_modes[] = {{"", none},
                     {"rw", two},
                     {"z", "invalid mode: 'z'"},
                     {"r++", "invalid mode: 'r++'"},
                     {"wa", two},
                     {"+", none},
                     {"rx", two},
                     {"rr", "invalid mode: 'rr'"}};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        ck_assert_int_eq(asyncio_file_open(path("s"), bad_modes[i].mode, &f), ASYNCIO_EVALUE);
        assert_raised(ASYNCIO_EVALUE, "ValueError");
        assert_message(bad_modes[i].message);
    }
    ck_assert_int_eq(asyncio_file_open(path("s"), NULL, &f), ASYNCIO_EVALUE);
    assert_message("mode is NULL");
    ck_assert_int_eq(asyncio_file_open(NULL, "r", &f), ASYNCIO_EVALUE);
    assert_message("path is NULL");
    ck_assert_int_eq(asyncio_file_open(path("s"), "w", NULL), ASYNCIO_EVALUE);
    assert_message("out is NULL");
    ck_assert_ptr_null(f);
    char buf[8];
    ck_assert_int_eq(asyncio_file_read(NULL, buf, 8, NULL), ASYNCIO_EVALUE);
    assert_message("the file is NULL");
    ck_assert_int_eq(asyncio_file_write(NULL, buf, 8), ASYNCIO_EVALUE);
    assert_message("the file is NULL");
    ck_assert_int_eq(asyncio_file_seek(NULL, 0, SEEK_SET, NULL), ASYNCIO_EVALUE);
    assert_message("the file is NULL");
    ck_assert_int_eq(asyncio_file_fileno(NULL), -1);
    ck_assert_int_eq(asyncio_file_close(NULL), 0);

    ck_assert_int_eq(asyncio_file_open(path("s"), "w+", &f), 0);
    ck_assert_int_eq(asyncio_file_read(f, NULL, 8, NULL), ASYNCIO_EVALUE);
    assert_message("buf is NULL");
    ck_assert_int_eq(asyncio_file_pread(f, buf, 8, -1, NULL), ASYNCIO_EVALUE);
    assert_message("negative offset -1");
    ck_assert_int_eq(asyncio_file_pwrite(f, buf, 8, -5), ASYNCIO_EVALUE);
    assert_message("negative offset -5");
    ck_assert_int_eq(asyncio_file_seek(f, 0, 42, NULL), ASYNCIO_EVALUE);
    assert_message("invalid whence (42, should be 0, 1 or 2)"); /* Python's */
    ck_assert_int_eq(asyncio_file_seek(f, -10, SEEK_SET, NULL), UV_EINVAL);
    assert_raised(UV_EINVAL, "OSError");
    assert_message("[Errno 22] Invalid argument"); /* os.lseek's */

    KEPT = f; /* closed outside the loop */
    return NULL;
}

START_TEST(test_streaming_bad_input)
{
    tu_run_ok(bad_stream_main, NULL);
    int fds = open_fds();
    /* Closing outside a task closes at once. */
    ck_assert_int_eq(asyncio_file_close(KEPT), 0);
    ck_assert_int_eq(open_fds(), fds - 1);
}
END_TEST

/* Offsets past 2 and 4 GiB (a sparse file: no disk used). */
static void *big_offsets_main(void *arg)
{
    (void)arg;
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("sparse"), "w+", &f), 0);
    const int64_t at[] = {((int64_t)1 << 31) + 7, ((int64_t)5 << 30) + 3};
    for (int i = 0; i < 2; i++) {
        char want[8], got[8];
        snprintf(want, sizeof want, "pos%d", i);
        ck_assert_int_eq(asyncio_file_pwrite(f, want, 5, at[i]), 0);
        size_t n = 0;
        ck_assert_int_eq(asyncio_file_pread(f, got, 5, at[i], &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert(memcmp(got, want, 5) == 0);
        int64_t pos = 0;
        ck_assert_int_eq(asyncio_file_seek(f, at[i], SEEK_SET, &pos), 0);
        ck_assert(pos == at[i]);
        memset(got, 0, sizeof got);
        ck_assert_int_eq(asyncio_file_read(f, got, 5, &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert(memcmp(got, want, 5) == 0);
    }
    int64_t end = 0;
    ck_assert_int_eq(asyncio_file_seek(f, 0, SEEK_END, &end), 0);
    ck_assert(end == at[1] + 5);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    return NULL;
}

START_TEST(test_offsets_past_4gib)
{
    tu_run_ok(big_offsets_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ cancellation */

static int fifo_write_end(const char *p)
{
    /* Opens the writing end once a reader is blocked in open (ENXIO until
     * then). */
    for (;;) {
        int fd = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 || errno != ENXIO)
            return fd;
        usleep(1000);
    }
}

/* How many of this process's threads are blocked in openat (pool threads
 * opening a FIFO), from /proc/self/task/N/syscall. */
static int threads_in_openat(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[300];
        snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = fopen(p, "r");
        long nr;
        if (f && fscanf(f, "%ld", &nr) == 1 && nr == SYS_openat)
            n++;
        if (f)
            fclose(f);
    }
    closedir(d);
    return n;
}

/* How many of this process's other threads are blocked in read(2) (this
 * one reads the files with read). */
static int threads_in_read(void)
{
    int n = 0;
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[300];
        snprintf(p, sizeof p, "/proc/self/task/%s/syscall", e->d_name);
        FILE *f = fopen(p, "r");
        long nr;
        if (f && fscanf(f, "%ld", &nr) == 1 && nr == SYS_read && strcmp(e->d_name, self) != 0)
            n++;
        if (f)
            fclose(f);
    }
    closedir(d);
    return n;
}

/* Waits (in a task) until n pool threads are blocked opening FIFOs.  The
 * bounds of such waits here are a minute: under valgrind on a loaded
 * machine, a pool thread once took over 5 s to start; a pool that never
 * starts still fails, by the bound or by the test's timeout. */
static void wait_blocked(int n)
{
    for (int i = 0; threads_in_openat() < n; i++) {
        ck_assert_msg(i < 60000, "the pool never started the opens");
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
}

/* Opens one of the FIFOs: stays in the pool until its writer comes. */
static void *open_fifo(void *arg)
{
    asyncio_file_t *f = NULL;
    int rc = asyncio_file_open(path((const char *)arg), "r", &f);
    if (rc == 0)
        asyncio_file_close(f);
    return IP(rc);
}

static void *reader(void *arg)
{
    char *data = NULL;
    int rc = asyncio_file_read_all((const char *)arg, &data, NULL);
    asyncio_buffer_free(data);
    return IP(rc);
}

static void *cancel_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(mkfifo(path("f1"), 0600), 0);
    ck_assert_int_eq(mkfifo(path("f2"), 0600), 0);
    ck_assert_int_eq(asyncio_file_write_all(path("plain"), "data", 4), 0);
    int fds = open_fds();
    /* Both pool threads block in opens. */
    asyncio_future_t *b1 = tu_spawn(open_fifo, "f1");
    asyncio_future_t *b2 = tu_spawn(open_fifo, "f2");
    wait_blocked(2);
    /* This one queues behind them: cancelling withdraws it at once. */
    asyncio_future_t *r = tu_spawn(reader, (void *)path("plain"));
    tu_yield();
    ck_assert(!asyncio_done(r));
    ck_assert(asyncio_cancel(r, NULL));
    ck_assert_int_eq(asyncio_await(r, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(r));
    asyncio_decref(r);

    /* b1 is running: cancelling it waits for its open, which the writer
     * lets finish; the descriptor it got is closed. */
    ck_assert(asyncio_cancel(b1, "stop"));
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert(!asyncio_done(b1)); /* still waiting for the open */
    int w1 = fifo_write_end(path("f1"));
    ck_assert_int_ge(w1, 0);
    ck_assert_int_eq(asyncio_await(b1, NULL), ASYNCIO_ECANCELLED);
    ck_assert_str_eq(tu_raised_message(), "stop");
    asyncio_error_clear();
    ck_assert(asyncio_cancelled(b1));
    close(w1);

    /* b2 finishes normally. */
    int w2 = fifo_write_end(path("f2"));
    void *res = NULL;
    ck_assert_int_eq(asyncio_await(b2, &res), 0);
    ck_assert_int_eq(PI(res), 0);
    close(w2);
    asyncio_decref(b1);
    asyncio_decref(b2);
    ck_assert_int_eq(open_fds(), fds);

    /* read_all uses only memory of its own: cancelled while running, it
     * returns at once and its job finishes in the background. */
    ck_assert_int_eq(mkfifo(path("f3"), 0600), 0);
    r = tu_spawn(reader, (void *)path("f3"));
    wait_blocked(1);
    ck_assert(asyncio_cancel(r, NULL));
    ck_assert_int_eq(asyncio_await(r, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(r);
    int w3 = fifo_write_end(path("f3"));
    ck_assert_int_ge(w3, 0);
    close(w3); /* the job reads end of file and closes its descriptor */
    for (int i = 0; open_fds() != fds; i++) {
        ck_assert_msg(i < 60000, "the abandoned job kept its descriptor");
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    return NULL;
}

START_TEST(test_cancel_queued_and_running)
{
    tu_run_ok(cancel_main, NULL);
}
END_TEST

/* A close cancelled while its request waits in the queue: the file is
 * closed all the same (its descriptor does not leak), as Python's close
 * cannot be half done. */
static void *closer(void *arg)
{
    return IP(asyncio_file_close(arg));
}

static void *cancel_close_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(mkfifo(path("f1"), 0600), 0);
    ck_assert_int_eq(mkfifo(path("f2"), 0600), 0);
    ck_assert_int_eq(asyncio_file_write_all(path("plain"), "data", 4), 0);
    int fds = open_fds();
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("plain"), "r", &f), 0);
    ck_assert_int_eq(open_fds(), fds + 1);
    asyncio_future_t *b1 = tu_spawn(open_fifo, "f1");
    asyncio_future_t *b2 = tu_spawn(open_fifo, "f2");
    wait_blocked(2);
    asyncio_future_t *c = tu_spawn(closer, f);
    tu_yield();
    ck_assert(!asyncio_done(c)); /* its close is queued behind the opens */
    ck_assert(asyncio_cancel(c, NULL));
    ck_assert_int_eq(asyncio_await(c, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(c);
    int w1 = fifo_write_end(path("f1")), w2 = fifo_write_end(path("f2"));
    ck_assert_int_eq(asyncio_await(b1, NULL), 0);
    ck_assert_int_eq(asyncio_await(b2, NULL), 0);
    close(w1);
    close(w2);
    asyncio_decref(b1);
    asyncio_decref(b2);
    ck_assert_int_eq(open_fds(), fds);
    return NULL;
}

START_TEST(test_close_cancelled)
{
    tu_run_ok(cancel_close_main, NULL);
}
END_TEST

/* Closing a file while another task's read of it runs in the pool: the
 * descriptor must not be closed under the read (its number could go to a
 * new file that the read, or a write, would then use).  close refuses,
 * the file stays usable, and closes once the read is over. */
static void *fifo_reader(void *arg)
{
    char buf[16];
    size_t got = 0;
    int rc = asyncio_file_read(arg, buf, sizeof buf, &got);
    return rc ? NULL : IP(got);
}

static void *close_pending_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(mkfifo(path("f1"), 0600), 0);
    int fds = open_fds();
    asyncio_file_t *f = NULL;
    /* "r+": open does not wait for a writer; the read waits for data. */
    ck_assert_int_eq(asyncio_file_open(path("f1"), "r+", &f), 0);
    int before = threads_in_read();
    asyncio_future_t *r = tu_spawn(fifo_reader, f);
    for (int i = 0; threads_in_read() <= before; i++) {
        ck_assert_msg(i < 60000, "the pool never started the read");
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    ck_assert_int_eq(asyncio_file_close(f), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_ge(asyncio_file_fileno(f), 0); /* still open */
    int w = open(path("f1"), O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(w, 0);
    ck_assert_int_eq(write(w, "abc", 3), 3);
    close(w);
    void *got = NULL;
    ck_assert_int_eq(asyncio_await(r, &got), 0);
    ck_assert_int_eq(PI(got), 3);
    asyncio_decref(r);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    ck_assert_int_eq(open_fds(), fds);
    return NULL;
}

START_TEST(test_close_while_reading)
{
    tu_run_ok(close_pending_main, NULL);
}
END_TEST

/* Loop close while requests are running and queued: a thread opens the
 * FIFOs' writing ends so the running ones end; nothing leaks. */
static void *unblocker(void *arg)
{
    (void)arg;
    int a = fifo_write_end(path("f1"));
    int b = fifo_write_end(path("f2"));
    close(a);
    close(b);
    return NULL;
}

static void *close_main(void *arg)
{
    (void)arg;
    asyncio_future_t *ts[3] = {tu_spawn(open_fifo, "f1"), tu_spawn(open_fifo, "f2"),
                               tu_spawn(reader, (void *)path("plain"))};
    wait_blocked(2);
    tu_yield();
    for (int i = 0; i < 3; i++)
        asyncio_decref(ts[i]);
    asyncio_loop_stop(asyncio_get_running_loop());
    return NULL;
}

START_TEST(test_loop_close_with_requests)
{
    ck_assert_int_eq(mkfifo(path("f1"), 0600), 0);
    ck_assert_int_eq(mkfifo(path("f2"), 0600), 0);
    int fd = open(path("plain"), O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, "data", 4), 4);
    close(fd);
    /* libuv's process-wide signal pipe is made with the first loop. */
    asyncio_loop_close(asyncio_loop_new());
    int fds = open_fds();
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *m = asyncio_create_task(close_main, NULL);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    asyncio_decref(m);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, unblocker, NULL), 0);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    pthread_join(th, NULL);
    asyncio_error_clear();
    ck_assert_int_eq(open_fds(), fds);
}
END_TEST

/* ------------------------------------------------------------ memory */

static void *chaos_body(void *arg)
{
    (void)arg;
    char *got = NULL;
    int rc = asyncio_file_write_all(path("c"), "chaos", 5);
    if (rc == 0)
        rc = asyncio_file_read_all(path("c"), &got, NULL);
    if (rc == 0) {
        ck_assert_str_eq(got, "chaos");
        asyncio_buffer_free(got);
    }
    asyncio_file_t *f = NULL;
    if (rc == 0 && (rc = asyncio_file_open(path("c"), "r", &f)) == 0) {
        char buf[8];
        rc = asyncio_file_read(f, buf, sizeof buf, NULL);
        int crc = asyncio_file_close(f);
        if (rc == 0)
            rc = crc;
    }
    if (rc)
        ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
    return IP(rc);
}

static void *chaos_main(void *arg)
{
    (void)arg;
    int fds = open_fds();
    for (long n = 1;; n++) {
        tu_alloc_fail_at(n);
        void *res = NULL;
        int rc = asyncio_call(chaos_body, NULL, &res);
        tu_alloc_fail_at(0);
        asyncio_error_clear();
        ck_assert_int_eq(open_fds(), fds);
        if (rc == 0 && PI(res) == 0)
            break;
        ck_assert_int_lt(n, 200);
    }
    return NULL;
}

START_TEST(test_alloc_failure)
{
    tu_run_ok(chaos_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ API rules */

/* Every call with an out-parameter sets it to NULL or 0 when it fails,
 * also when it fails on its arguments before doing anything: the values
 * going in are sentinels that must not come back. */
#define SENTINEL ((void *)1)

/* read and pread of f fail with code and set *nread to 0. */
static void assert_reads_fail(asyncio_file_t *f, int code)
{
    char buf[8];
    size_t n = 123;
    ck_assert_int_eq(asyncio_file_read(f, buf, sizeof buf, &n), code);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_file_pread(f, buf, sizeof buf, 0, &n), code);
    ck_assert_uint_eq(n, 0);
    tu_clear_all();
}

static void *out_params_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_file_write_all(path("w"), "data", 4), 0);
    char *data = SENTINEL;
    size_t len = 123;
    ck_assert_int_eq(asyncio_file_read_all(NULL, &data, &len), ASYNCIO_EVALUE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    data = SENTINEL, len = 123;
    ck_assert_int_eq(asyncio_file_read_all(path("missing"), &data, &len), UV_ENOENT);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    len = 123;
    ck_assert_int_eq(asyncio_file_read_all(path("w"), NULL, &len), ASYNCIO_EVALUE);
    ck_assert_uint_eq(len, 0);
    tu_clear_all();

    asyncio_file_t *f = SENTINEL;
    ck_assert_int_eq(asyncio_file_open(NULL, "r", &f), ASYNCIO_EVALUE);
    ck_assert_ptr_null(f);
    f = SENTINEL;
    ck_assert_int_eq(asyncio_file_open(path("w"), "z", &f), ASYNCIO_EVALUE);
    ck_assert_ptr_null(f);
    f = SENTINEL;
    ck_assert_int_eq(asyncio_file_open(path("missing"), "r", &f), UV_ENOENT);
    ck_assert_ptr_null(f);
    tu_clear_all();

    assert_reads_fail(NULL, ASYNCIO_EVALUE);
    int64_t pos = 123;
    ck_assert_int_eq(asyncio_file_seek(NULL, 0, SEEK_SET, &pos), ASYNCIO_EVALUE);
    ck_assert_int_eq(pos, 0);
    tu_clear_all();

    ck_assert_int_eq(asyncio_file_open(path("w"), "w", &f), 0);
    assert_reads_fail(f, ASYNCIO_EVALUE); /* write-only */
    char buf[8];
    size_t n = 123;
    ck_assert_int_eq(asyncio_file_read(f, NULL, sizeof buf, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    n = 123;
    ck_assert_int_eq(asyncio_file_pread(f, buf, sizeof buf, -1, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    pos = 123;
    ck_assert_int_eq(asyncio_file_seek(f, 0, 42, &pos), ASYNCIO_EVALUE);
    ck_assert_int_eq(pos, 0);
    pos = 123;
    ck_assert_int_eq(asyncio_file_seek(f, -10, SEEK_SET, &pos), UV_EINVAL);
    ck_assert_int_eq(pos, 0);
    tu_clear_all();
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* A directory opens for reading; reading it fails in the pool. */
    ck_assert_int_eq(asyncio_file_open(DIR_, "r", &f), 0);
    ck_assert_int_eq(asyncio_file_read(f, buf, sizeof buf, NULL), UV_EISDIR);
    assert_message("[Errno 21] Is a directory"); /* os.read's: no path */
    assert_reads_fail(f, UV_EISDIR);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    return NULL;
}

START_TEST(test_out_params_on_failure)
{
    tu_run_ok(out_params_main, NULL);
    /* Outside a task: RuntimeError before anything, out-parameters 0. */
    char *data = SENTINEL;
    size_t len = 123;
    ck_assert_int_eq(asyncio_file_read_all(path("w"), &data, &len), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    asyncio_file_t *f = SENTINEL;
    ck_assert_int_eq(asyncio_file_open(path("w"), "r", &f), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(f);
    assert_reads_fail(NULL, ASYNCIO_ERUNTIME);
}
END_TEST

/* A read stores bytes in the caller's buffer and terminates them when
 * there is room.  The buffers come from malloc, uninitialised: reading
 * them as strings without the NUL would read uninitialised memory, which
 * valgrind reports (and which could run past the bytes read). */
static void *terminated_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_file_write_all(path("t"), "hello", 5), 0);
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("t"), "r", &f), 0);
    char *buf = malloc(64);
    size_t n = 0;
    ck_assert_int_eq(asyncio_file_read(f, buf, 64, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(buf, "hello");
    ck_assert_int_eq(asyncio_file_read(f, buf, 64, &n), 0); /* end of file */
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(buf, "");
    free(buf);

    buf = malloc(64);
    ck_assert_int_eq(asyncio_file_pread(f, buf, 64, 1, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(buf, "ello");
    /* A buffer filled to its end has no room: nothing is stored past it. */
    memset(buf, 'x', 64);
    ck_assert_int_eq(asyncio_file_pread(f, buf, 3, 0, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(buf, "helx", 4) == 0);
    ck_assert_int_eq(asyncio_file_seek(f, 0, SEEK_SET, NULL), 0);
    ck_assert_int_eq(asyncio_file_read(f, buf, 5, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(buf, "hellox", 6) == 0);
    free(buf);
    ck_assert_int_eq(asyncio_file_close(f), 0);

    /* read_all's memory: terminated, also when the file is empty. */
    ck_assert_int_eq(asyncio_file_write_all(path("e"), NULL, 0), 0);
    char *data = NULL;
    size_t len = 1;
    ck_assert_int_eq(asyncio_file_read_all(path("e"), &data, &len), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(data[0], '\0');
    asyncio_buffer_free(data);
    ck_assert_int_eq(asyncio_file_read_all(path("t"), &data, &len), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(data, "hello");
    asyncio_buffer_free(data);
    return NULL;
}

START_TEST(test_reads_terminated)
{
    tu_run_ok(terminated_main, NULL);
}
END_TEST

/* The message of a closed file's handle. */
static void assert_closed(void)
{
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    assert_message("not a live file (freed, or never one)");
}

/* A file is a handle: closed, it names nothing (a second close, a read,
 * a write, a seek are refused without reading the freed memory: this runs
 * under ASan too), and a file opened afterwards, which may get the same
 * memory and slot, is never reached through the old handle. */
static void *handles_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_file_write_all(path("h"), "old", 3), 0);
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open(path("h"), "r+", &f), 0);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    ck_assert_int_eq(asyncio_file_close(f), ASYNCIO_EVALUE); /* double close */
    assert_closed();

    asyncio_file_t *g = NULL;
    ck_assert_int_eq(asyncio_file_open(path("h"), "r+", &g), 0);
    ck_assert_ptr_ne(g, f);
    char buf[8];
    size_t n = 123;
    ck_assert_int_eq(asyncio_file_read(f, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    assert_closed();
    ck_assert_int_eq(asyncio_file_pread(f, buf, sizeof buf, 0, &n), ASYNCIO_EVALUE);
    assert_closed();
    ck_assert_int_eq(asyncio_file_write(f, "new", 3), ASYNCIO_EVALUE);
    assert_closed();
    ck_assert_int_eq(asyncio_file_pwrite(f, "new", 3, 0), ASYNCIO_EVALUE);
    assert_closed();
    ck_assert_int_eq(asyncio_file_seek(f, 0, SEEK_END, NULL), ASYNCIO_EVALUE);
    assert_closed();
    ck_assert_int_eq(asyncio_file_fileno(f), -1);
    ck_assert_int_eq(asyncio_file_close(f), ASYNCIO_EVALUE);
    assert_closed();

    /* The new file was not touched by any of it. */
    ck_assert_int_ge(asyncio_file_fileno(g), 0);
    ck_assert_int_eq(asyncio_file_read(g, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(buf, "old");
    ck_assert_int_eq(asyncio_file_close(g), 0);

    /* Another type's handle is not a file. */
    asyncio_lock_t *lock = asyncio_lock_new();
    ck_assert_int_eq(asyncio_file_close((asyncio_file_t *)lock), ASYNCIO_EVALUE);
    assert_closed();
    ck_assert(!asyncio_lock_locked(lock));
    asyncio_lock_free(lock);
    ck_assert_ptr_null(asyncio_error());
    return NULL;
}

START_TEST(test_handles)
{
    tu_run_ok(handles_main, NULL);
}
END_TEST

Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_whole_file_roundtrip);
    tcase_add_test(tc, test_whole_file_errors);
    tcase_add_test(tc, test_streaming);
    tcase_add_test(tc, test_streaming_bad_input);
    tcase_add_test(tc, test_offsets_past_4gib);
    tcase_add_test(tc, test_cancel_queued_and_running);
    tcase_add_test(tc, test_close_cancelled);
    tcase_add_test(tc, test_close_while_reading);
    tcase_add_test(tc, test_loop_close_with_requests);
    tcase_add_test(tc, test_alloc_failure);
    tcase_add_test(tc, test_out_params_on_failure);
    tcase_add_test(tc, test_reads_terminated);
    tcase_add_test(tc, test_handles);
    suite_add_tcase(s, tc);
    return s;
}
