/*
 * Descriptors: loop.add_reader / add_writer / remove_*, a task's wait for
 * a descriptor (asyncio_wait_readable / _writable), the loop.sock_* calls
 * on sockets the caller made, and the sock= forms of the connection and
 * server constructors.
 *
 * Where Python decides the answer the expected line is what
 * tests/twins/fd_watch.py or tests/twins/fd_sock.py prints for the test of
 * the same name.  The rest are the C rules of net.h: one watcher per
 * descriptor shared by its two sides, one party per side, cancellation
 * and loop close leaving nothing behind, descriptors closed while watched
 * (never a crash), two loops on one descriptor.  Sockets are socketpairs,
 * or bound to 127.0.0.1 and to paths in a temporary directory.  Sleeps
 * only wait for something to happen: no result depends on timing.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes; a raw poll handle */

#include "../src/testing.h" /* asyncio__fdwatch_count */

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

/* A non-blocking socketpair. */
static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void close_pair(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

static long watched(void)
{
    return asyncio__fdwatch_count(NULL);
}

/* Sleeps a millisecond at a time until *flag is at least want. */
static void until(const int *flag, int want)
{
    for (int i = 0; i < 5000 && *flag < want; i++)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_int_ge(*flag, want);
}

static void settle(int iterations)
{
    for (int i = 0; i < iterations; i++)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
}

/* Python's repr() of bytes. */
static void logbytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    LOGF("b'");
    for (size_t i = 0; i < n; i++)
        LOGF(s[i] >= 32 && s[i] < 127 && s[i] != '\'' && s[i] != '\\' ? "%c" : "\\x%02x", s[i]);
    LOGF("'");
}

/* Logs the raised error as Python's `f"{type(e).__name__}({e})"` and
 * clears it. */
static void log_error(void)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    assert_python_message();
    LOGF("%s(%s)", e->type, e->message);
    asyncio_error_clear();
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---------------------------------------------------------------------
 * add_reader / add_writer.  Twin: tests/twins/fd_watch.py
 * --------------------------------------------------------------------- */

static int W_FD;
static int w_calls;

static void order_cb(void *name)
{
    LOGF(" %s", (const char *)name);
    if (strcmp(name, "r") == 0)
        ck_assert(asyncio_remove_reader(NULL, W_FD));
    else
        ck_assert(asyncio_remove_writer(NULL, W_FD));
    w_calls++;
}

/* Twin: fd_watch.py (watch_order) */
static void *watch_order_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    W_FD = sv[0];
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    LOGF("watch_order");
    ck_assert_int_eq(asyncio_add_writer(NULL, sv[0], order_cb, "w"), 0);
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], order_cb, "r"), 0);
    ck_assert_int_eq(watched(), 1); /* one watcher for both sides */
    until(&w_calls, 2);
    ck_assert_int_eq(watched(), 0);
    close_pair(sv);
    return NULL;
}

START_TEST(test_watch_order)
{
    run(watch_order_main, NULL);
    tu_assert_log(&LOG, "watch_order r w");
}
END_TEST

static int level_calls;

static void level_cb(void *arg)
{
    (void)arg;
    level_calls++;
    LOGF("%s%d", level_calls == 1 ? "" : ", ", level_calls);
    if (level_calls == 3) {
        char buf[10];
        ssize_t n = read(W_FD, buf, sizeof buf);
        ck_assert_int_eq(n, 3);
        LOGF(", ");
        logbytes(buf, (size_t)n);
        level_calls++;
    }
}

/* Twin: fd_watch.py (watch_level) */
static void *watch_level_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    W_FD = sv[0];
    ck_assert_int_eq(write(sv[1], "abc", 3), 3);
    LOGF("watch_level [");
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], level_cb, NULL), 0);
    until(&level_calls, 4);
    settle(5);
    bool removed = asyncio_remove_reader(NULL, sv[0]);
    LOGF("] %s", TF(removed));
    close_pair(sv);
    return NULL;
}

START_TEST(test_watch_level)
{
    run(watch_level_main, NULL);
    tu_assert_log(&LOG, "watch_level [1, 2, 3, b'abc'] True");
}
END_TEST

static const char *replace_got;
static int replace_calls;

static void replace_cb(void *name)
{
    if (!replace_got)
        replace_got = name;
    replace_calls++;
}

/* Twin: fd_watch.py (watch_replace) */
static void *watch_replace_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    int fd = sv[0];
    bool out[5];
    out[0] = asyncio_remove_reader(NULL, fd);
    out[1] = asyncio_remove_writer(NULL, fd);
    ck_assert_int_eq(asyncio_add_reader(NULL, fd, replace_cb, "first"), 0);
    ck_assert_int_eq(asyncio_add_reader(NULL, fd, replace_cb, "second"), 0);
    out[2] = asyncio_remove_writer(NULL, fd);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    until(&replace_calls, 1);
    out[3] = asyncio_remove_reader(NULL, fd);
    out[4] = asyncio_remove_reader(NULL, fd);
    LOGF("watch_replace %s", replace_got);
    for (int i = 0; i < 5; i++)
        LOGF(" %s", TF(out[i]));
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(watched(), 0);
    close_pair(sv);
    return NULL;
}

START_TEST(test_watch_replace)
{
    run(watch_replace_main, NULL);
    tu_assert_log(&LOG, "watch_replace second False False False True False");
}
END_TEST

static void rq_write(void *name);

static void rq_read(void *arg)
{
    (void)arg;
    char buf[10];
    LOGF(" r");
    w_calls++;
    ck_assert_int_eq(read(W_FD, buf, sizeof buf), 1);
    ck_assert(asyncio_remove_reader(NULL, W_FD));
    ck_assert(asyncio_remove_writer(NULL, W_FD));
    ck_assert_int_eq(asyncio_add_writer(NULL, W_FD, rq_write, "w2"), 0);
}

static void rq_write(void *name)
{
    LOGF(" %s", (const char *)name);
    w_calls++;
    ck_assert(asyncio_remove_writer(NULL, W_FD));
}

/* Twin: fd_watch.py (watch_remove_queued) */
static void *watch_remove_queued_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    W_FD = sv[0];
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    LOGF("watch_remove_queued");
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], rq_read, NULL), 0);
    ck_assert_int_eq(asyncio_add_writer(NULL, sv[0], rq_write, "w1"), 0);
    until(&w_calls, 2);
    settle(5);
    ck_assert_int_eq(w_calls, 2);
    close_pair(sv);
    return NULL;
}

START_TEST(test_watch_remove_queued)
{
    run(watch_remove_queued_main, NULL);
    tu_assert_log(&LOG, "watch_remove_queued r w2");
}
END_TEST

static void noop(void *arg)
{
    (void)arg;
}

/* Twin: fd_watch.py (watch_errors) */
static void *watch_errors_main(void *arg)
{
    (void)arg;
    LOGF("watch_errors ");
    ck_assert_int_eq(asyncio_add_reader(NULL, -1, noop, NULL), ASYNCIO_EVALUE);
    log_error();
    int sv[2];
    pair(sv);
    int fd = sv[0];
    close(fd);
    ck_assert_int_eq(asyncio_add_reader(NULL, fd, noop, NULL), UV_EBADF);
    LOGF(" ");
    log_error();
    LOGF(" %s", TF(asyncio_remove_reader(NULL, fd)));
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_add_writer(NULL, fileno(f), noop, NULL), UV_EPERM);
    LOGF(" ");
    log_error();
    fclose(f);
    close(sv[1]);
    ck_assert_int_eq(watched(), 0);
    return NULL;
}

START_TEST(test_watch_errors)
{
    run(watch_errors_main, NULL);
    tu_assert_log(&LOG,
                  "watch_errors ValueError(Invalid file descriptor: -1) OSError([Errno 9] Bad "
                  "file descriptor) False PermissionError([Errno 1] Operation not "
                  "permitted)");
}
END_TEST

/* The C side of the API: arguments, loops, a descriptor the loop already
 * watches through another handle. */
static void raw_poll_cb(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)status;
    (void)events;
}

static void *watch_api_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    expect_msg(asyncio_add_reader(NULL, sv[0], NULL, NULL), ASYNCIO_EVALUE, "ValueError",
               "fn is NULL");
    ck_assert(!asyncio_remove_writer(NULL, -2));
    expect_msg(ASYNCIO_EVALUE, ASYNCIO_EVALUE, "ValueError", "Invalid file descriptor: -2");
    /* A descriptor another handle of the loop watches (a transport's). */
    uv_poll_t raw;
    ck_assert_int_eq(uv_poll_init(asyncio_loop_uv(asyncio_get_running_loop()), &raw, sv[0]), 0);
    ck_assert_int_eq(uv_poll_start(&raw, UV_READABLE, raw_poll_cb), 0);
    char want[128];
    snprintf(want, sizeof want,
             "File descriptor %d is already watched by the event loop (a transport, a server or "
             "an HTTP transfer of it uses it)",
             sv[0]);
    expect_msg(asyncio_add_reader(NULL, sv[0], noop, NULL), ASYNCIO_ERUNTIME, "RuntimeError", want);
    expect_msg(asyncio_wait_writable(sv[0]), ASYNCIO_ERUNTIME, "RuntimeError", want);
    uv_close((uv_handle_t *)&raw, NULL);
    settle(2); /* closed before its memory goes with this frame */
    /* Now free: works. */
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], noop, NULL), 0);
    ck_assert(asyncio_remove_reader(NULL, sv[0]));
    close_pair(sv);
    return NULL;
}

START_TEST(test_watch_api)
{
    run(watch_api_main, NULL);
    /* Without a loop, and with a closed one. */
    tu_clear_all();
    ck_assert_int_eq(asyncio_add_reader(NULL, 0, noop, NULL), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    tu_clear_all();
    ck_assert(!asyncio_remove_reader(NULL, 0));
    tu_clear_all();
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    /* A closed loop: as Python's, add refuses and remove answers false. */
    asyncio_loop_t *loop2 = asyncio_loop_new();
    int sv[2];
    pair(sv);
    ck_assert_int_eq(asyncio_add_reader(loop2, sv[0], noop, NULL), 0);
    ck_assert_int_eq(asyncio_loop_close(loop2), 0);
    ck_assert_int_eq(asyncio_add_reader(loop2, sv[0], noop, NULL), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "Event loop is closed");
    tu_clear_all();
    ck_assert(!asyncio_remove_reader(loop2, sv[0]));
    ck_assert_ptr_null(asyncio_error());
    close_pair(sv);
}
END_TEST

/* ---------------------------------------------------------------------
 * A task's wait for a descriptor
 * --------------------------------------------------------------------- */

typedef struct waiter {
    int fd;
    bool writable;
    int rc;
    char type[32];
    char msg[160];
    int done;
} waiter_t;

static void *wait_task(void *arg)
{
    waiter_t *w = arg;
    w->rc = w->writable ? asyncio_wait_writable(w->fd) : asyncio_wait_readable(w->fd);
    if (w->rc) {
        snprintf(w->type, sizeof w->type, "%s", asyncio_error()->type);
        snprintf(w->msg, sizeof w->msg, "%s", asyncio_error()->message);
    }
    w->done = 1;
    return NULL; /* an error stays raised: the task ends with it */
}

/* Fills the socket's send buffer: it is not writable any more. */
static size_t fill(int fd)
{
    static char junk[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = write(fd, junk, sizeof junk)) > 0)
        total += (size_t)n;
    ck_assert_int_eq(errno, EAGAIN);
    return total;
}

static void drain(int fd, size_t total)
{
    char buf[65536];
    while (total) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN) {
            ck_assert_int_eq(asyncio_sleep(0.001), 0);
            continue;
        }
        ck_assert_int_gt(n, 0);
        total -= (size_t)n;
    }
}

/* Two tasks on the two sides of one descriptor share its watcher; each
 * wakes for its own event; nothing stays. */
static void *wait_sides_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    size_t filled = fill(sv[0]);
    waiter_t r = {.fd = sv[0]}, w = {.fd = sv[0], .writable = true};
    asyncio_future_t *tr = tu_spawn(wait_task, &r), *tw = tu_spawn(wait_task, &w);
    settle(3);
    ck_assert(!r.done && !w.done);
    ck_assert_int_eq(watched(), 1);
    /* The reader's event only. */
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    until(&r.done, 1);
    ck_assert_int_eq(r.rc, 0);
    ck_assert(!w.done);
    ck_assert_int_eq(watched(), 1);
    /* Then the writer's. */
    drain(sv[1], filled);
    until(&w.done, 1);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(watched(), 0);
    asyncio_future_t *ts[] = {tr, tw};
    tu_gather_drop(ts, 2);
    /* Ready already: the wait returns after one poll. */
    ck_assert_int_eq(asyncio_wait_writable(sv[1]), 0);
    ck_assert_int_eq(asyncio_wait_readable(sv[0]), 0);
    ck_assert_int_eq(watched(), 0);
    close_pair(sv);
    return NULL;
}

START_TEST(test_wait_sides)
{
    run(wait_sides_main, NULL);
}
END_TEST

/* One party per side: a second waiter, a callback beside a waiter, a
 * waiter beside a callback are RuntimeErrors; the other side is free. */
static void *wait_busy_main(void *arg)
{
    (void)arg;
    int sv[2], sv2[2];
    pair(sv);
    pair(sv2);
    char msg[160];
    waiter_t r = {.fd = sv[0]};
    asyncio_future_t *t = tu_spawn(wait_task, &r);
    tu_yield();
    snprintf(msg, sizeof msg,
             "another task is already waiting for file descriptor %d to be readable", sv[0]);
    expect_msg(asyncio_wait_readable(sv[0]), ASYNCIO_ERUNTIME, "RuntimeError", msg);
    expect_msg(asyncio_add_reader(NULL, sv[0], noop, NULL), ASYNCIO_ERUNTIME, "RuntimeError", msg);
    /* The writer side is free. */
    ck_assert_int_eq(asyncio_add_writer(NULL, sv[0], noop, NULL), 0);
    ck_assert(asyncio_remove_writer(NULL, sv[0]));
    /* A callback, then a wait on its side. */
    ck_assert_int_eq(asyncio_add_reader(NULL, sv2[0], noop, NULL), 0);
    snprintf(msg, sizeof msg,
             "file descriptor %d has a reader callback (add_reader): a task cannot wait for it "
             "to be readable too",
             sv2[0]);
    expect_msg(asyncio_wait_readable(sv2[0]), ASYNCIO_ERUNTIME, "RuntimeError", msg);
    /* remove_reader does not touch a task's wait. */
    ck_assert(!asyncio_remove_reader(NULL, sv[0]));
    ck_assert(asyncio_remove_reader(NULL, sv2[0]));
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    until(&r.done, 1);
    ck_assert_int_eq(r.rc, 0);
    tu_gather_drop(&t, 1);
    ck_assert_int_eq(watched(), 0);
    close_pair(sv);
    close_pair(sv2);
    return NULL;
}

START_TEST(test_wait_busy)
{
    run(wait_busy_main, NULL);
}
END_TEST

/* Cancelled at its suspension: CancelledError, and nothing left watching;
 * a callback on the other side stays. */
static void *wait_cancel_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    size_t filled = fill(sv[0]);
    for (int k = 0; k < 3; k++) {
        waiter_t w = {.fd = sv[0], .writable = k != 1};
        if (k == 2)
            ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], noop, NULL), 0);
        asyncio_future_t *t = tu_spawn(wait_task, &w);
        settle(2);
        ck_assert_int_eq(watched(), 1);
        ck_assert(asyncio_cancel(t, "stop"));
        ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
        ck_assert_str_eq(tu_raised_message(), "stop");
        asyncio_error_clear();
        asyncio_decref(t);
        ck_assert_int_eq(w.rc, ASYNCIO_ECANCELLED);
        ck_assert_int_eq(watched(), k == 2 ? 1 : 0);
    }
    ck_assert(asyncio_remove_reader(NULL, sv[0]));
    ck_assert_int_eq(watched(), 0);
    /* Cancelled before it ever ran, and just after its event. */
    waiter_t w = {.fd = sv[1]};
    asyncio_future_t *t = tu_spawn(wait_task, &w);
    asyncio_cancel(t, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(t);
    ck_assert_int_eq(watched(), 0);
    drain(sv[1], filled);
    close_pair(sv);
    return NULL;
}

START_TEST(test_wait_cancel)
{
    run(wait_cancel_main, NULL);
}
END_TEST

/* It composes with timeout scopes and wait_for as any await. */
static void *wait_timeout_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    asyncio_timeout_t *to = asyncio_timeout_enter(0.01);
    ck_assert_ptr_nonnull(to);
    ck_assert_int_eq(asyncio_wait_readable(sv[0]), ASYNCIO_ECANCELLED);
    ck_assert_int_eq(asyncio_timeout_exit(to), ASYNCIO_ETIMEDOUT);
    ck_assert(asyncio_error_matches("TimeoutError"));
    asyncio_error_clear();
    ck_assert_int_eq(watched(), 0);
    waiter_t w = {.fd = sv[0]};
    asyncio_future_t *t = tu_spawn(wait_task, &w);
    ck_assert_int_eq(asyncio_wait_for(t, 0.01, NULL), ASYNCIO_ETIMEDOUT);
    asyncio_error_clear();
    asyncio_decref(t);
    ck_assert_int_eq(w.rc, ASYNCIO_ECANCELLED);
    ck_assert_int_eq(watched(), 0);
    close_pair(sv);
    return NULL;
}

START_TEST(test_wait_timeout)
{
    run(wait_timeout_main, NULL);
}
END_TEST

/* Bad descriptors: a clear error, nothing left behind. */
static void *wait_bad_main(void *arg)
{
    (void)arg;
    expect_msg(asyncio_wait_readable(-1), ASYNCIO_EVALUE, "ValueError",
               "Invalid file descriptor: -1");
    int sv[2];
    pair(sv);
    close(sv[1]);
    close(sv[0]);
    expect_msg(asyncio_wait_readable(sv[0]), UV_EBADF, "OSError", "[Errno 9] Bad file descriptor");
    FILE *f = tmpfile();
    expect_msg(asyncio_wait_writable(fileno(f)), UV_EPERM, "PermissionError",
               "[Errno 1] Operation not permitted");
    fclose(f);
    ck_assert_int_eq(watched(), 0);
    return NULL;
}

START_TEST(test_wait_bad)
{
    run(wait_bad_main, NULL);
    tu_clear_all();
    ck_assert_int_eq(asyncio_wait_readable(0), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    tu_clear_all();
}
END_TEST

/* Closed after the watch started but before the loop polled: detected
 * (the waiting task gets OSError, the callback is removed and reported),
 * never the abort libuv would make of it. */
static tu_log_t REPORTS;

static void report_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    tu_logf(&REPORTS, "[%s: %s] ", ctx->exception ? ctx->exception->type : "-",
            ctx->exception ? ctx->exception->message : "-");
}

static void *closed_while_watched_main(void *arg)
{
    (void)arg;
    memset(&REPORTS, 0, sizeof REPORTS);
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), report_handler, NULL);
    int sv[2];
    pair(sv);
    waiter_t w = {.fd = sv[0]};
    asyncio_future_t *t = tu_spawn(wait_task, &w);
    tu_yield(); /* t started its watch; the loop has not polled since */
    ck_assert_int_eq(watched(), 1);
    close(sv[0]);
    ck_assert_int_eq(asyncio_await(t, NULL), UV_EBADF);
    ck_assert_str_eq(tu_raised_message(), "[Errno 9] Bad file descriptor");
    asyncio_error_clear();
    asyncio_decref(t);
    ck_assert_int_eq(watched(), 0);
    /* A callback: removed, and the error reported. */
    int fd = dup(sv[1]);
    ck_assert_int_eq(asyncio_add_writer(NULL, fd, noop, NULL), 0);
    close(fd);
    settle(2);
    ck_assert_int_eq(watched(), 0);
    ck_assert(!asyncio_remove_writer(NULL, fd));
    tu_assert_log(&REPORTS, "[OSError: [Errno 9] Bad file descriptor] ");
    /* Replaced by a regular file meanwhile (the same number). */
    fd = dup(sv[1]);
    ck_assert_int_eq(asyncio_add_reader(NULL, fd, noop, NULL), 0);
    FILE *f = tmpfile();
    ck_assert_int_eq(dup2(fileno(f), fd), fd);
    settle(2);
    ck_assert_int_eq(watched(), 0);
    close(fd);
    fclose(f);
    tu_assert_log(&REPORTS, "[OSError: [Errno 9] Bad file descriptor] "
                            "[PermissionError: [Errno 1] Operation not permitted] ");
    close(sv[1]);
    return NULL;
}

START_TEST(test_closed_while_watched)
{
    run(closed_while_watched_main, NULL);
}
END_TEST

/* The documented way: remove, then close; the number, reused by a new
 * socket, is watched afresh. */
static int reuse_calls;

static void reuse_cb(void *arg)
{
    (void)arg;
    reuse_calls++;
    asyncio_remove_reader(NULL, W_FD);
}

static void *remove_then_close_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    int fd = sv[0];
    ck_assert_int_eq(asyncio_add_reader(NULL, fd, noop, NULL), 0);
    ck_assert_int_eq(asyncio_add_writer(NULL, fd, noop, NULL), 0);
    ck_assert(asyncio_remove_reader(NULL, fd));
    ck_assert(asyncio_remove_writer(NULL, fd));
    close_pair(sv);
    settle(2);
    int sv2[2];
    pair(sv2);
    ck_assert_int_eq(sv2[0], fd); /* the lowest free number */
    W_FD = sv2[0];
    ck_assert_int_eq(write(sv2[1], "x", 1), 1);
    ck_assert_int_eq(asyncio_add_reader(NULL, sv2[0], reuse_cb, NULL), 0);
    until(&reuse_calls, 1);
    /* And a wait, then a close, then a new wait on the number. */
    ck_assert_int_eq(asyncio_wait_readable(sv2[0]), 0);
    close_pair(sv2);
    pair(sv2);
    ck_assert_int_eq(asyncio_wait_writable(sv2[0]), 0);
    close_pair(sv2);
    ck_assert_int_eq(watched(), 0);
    return NULL;
}

START_TEST(test_remove_then_close)
{
    run(remove_then_close_main, NULL);
}
END_TEST

/* Two loops in two threads wait for one descriptor: each is told. */
typedef struct two {
    int fd;
    int rc;
    int started;
} two_t;

static void *two_main(void *arg)
{
    two_t *t = arg;
    __atomic_store_n(&t->started, 1, __ATOMIC_RELEASE);
    t->rc = asyncio_wait_readable(t->fd);
    asyncio_error_clear();
    return NULL;
}

static void *two_thread(void *arg)
{
    asyncio_run(two_main, arg, NULL);
    return NULL;
}

START_TEST(test_two_loops)
{
    int sv[2];
    pair(sv);
    two_t a = {.fd = sv[0], .rc = -1}, b = {.fd = sv[0], .rc = -1};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, two_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, two_thread, &b), 0);
    while (!__atomic_load_n(&a.started, __ATOMIC_ACQUIRE) ||
           !__atomic_load_n(&b.started, __ATOMIC_ACQUIRE))
        usleep(1000);
    ck_assert_int_eq(write(sv[1], "x", 1), 1); /* nobody reads it: both see it */
    ck_assert_int_eq(pthread_join(ta, NULL), 0);
    ck_assert_int_eq(pthread_join(tb, NULL), 0);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(b.rc, 0);
    close_pair(sv);
}
END_TEST

/* A loop closed while a task waits and callbacks are registered: nothing
 * is called, nothing leaks (the fixture counts allocations). */
static int late_calls;

static void late_cb(void *arg)
{
    (void)arg;
    late_calls++;
}

static void silent(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (void)arg;
}

static void *start_watches(void *arg)
{
    int *sv = arg;
    static waiter_t w;
    w = (waiter_t){.fd = sv[0]};
    asyncio_decref(asyncio_create_task(wait_task, &w));
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[2], late_cb, NULL), 0);
    ck_assert_int_eq(asyncio_add_writer(NULL, sv[2], late_cb, NULL), 0);
    until(&late_calls, 1); /* writable: the writer is called */
    return NULL;
}

START_TEST(test_loop_close_with_watches)
{
    int sv[4];
    pair(sv);
    pair(sv + 2);
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_loop_set_exception_handler(loop, silent, NULL);
    asyncio_future_t *t = asyncio_create_task(start_watches, sv);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, t, NULL), 0);
    asyncio_decref(t);
    ck_assert_int_eq(asyncio__fdwatch_count(loop), 2);
    int calls = late_calls;
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert_int_eq(late_calls, calls);
    close_pair(sv);
    close_pair(sv + 2);
}
END_TEST

/* ---------------------------------------------------------------------
 * loop.sock_*.  Twin: tests/twins/fd_sock.py
 * --------------------------------------------------------------------- */

static int tcp_socket(int type)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* A socket bound to 127.0.0.1 on a free port; its address in *a. */
static int bound(int type, asyncio_sockaddr_t *a)
{
    int fd = tcp_socket(type);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
    socklen_t len = sizeof in;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    if (a)
        *a = (asyncio_sockaddr_t){.family = AF_INET, .port = ntohs(in.sin_port)};
    if (a)
        strcpy(a->host, "127.0.0.1");
    return fd;
}

typedef struct acc {
    int lst, conn, rc;
    asyncio_sockaddr_t addr;
} acc_t;

static void *accept_task(void *arg)
{
    acc_t *a = arg;
    a->rc = asyncio_sock_accept(a->lst, &a->conn, &a->addr);
    return NULL;
}

typedef struct snd {
    int fd, rc;
    const void *data;
    size_t len;
} snd_t;

static void *sendall_task(void *arg)
{
    snd_t *s = arg;
    s->rc = asyncio_sock_sendall(s->fd, s->data, s->len);
    return NULL;
}

#define BIG (1 << 20)

/* Twin: fd_sock.py (sock_stream) */
static void *sock_stream_main(void *arg)
{
    (void)arg;
    asyncio_sockaddr_t la;
    acc_t acc = {.lst = bound(SOCK_STREAM, &la), .conn = -2};
    ck_assert_int_eq(listen(acc.lst, 8), 0);
    asyncio_future_t *ta = tu_spawn(accept_task, &acc);
    int cli = tcp_socket(SOCK_STREAM);
    ck_assert_int_eq(asyncio_sock_connect(cli, "127.0.0.1", la.port), 0);
    ck_assert_int_eq(asyncio_await(ta, NULL), 0);
    asyncio_decref(ta);
    ck_assert_int_eq(acc.rc, 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    ck_assert_int_eq(getsockname(cli, (struct sockaddr *)&me, &len), 0);
    bool peer = acc.addr.family == AF_INET && acc.addr.port == ntohs(me.sin_port) &&
                strcmp(acc.addr.host, "127.0.0.1") == 0;
    unsigned char *data = malloc(BIG), *got = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (unsigned char)(i * 7 % 251);
    snd_t s = {.fd = cli, .data = data, .len = BIG};
    asyncio_future_t *ts = tu_spawn(sendall_task, &s);
    size_t total = 0;
    while (total < BIG) {
        size_t n;
        ck_assert_int_eq(asyncio_sock_recv_into(acc.conn, got + total,
                                                BIG - total < 65536 ? BIG - total : 65536, &n),
                         0);
        ck_assert_uint_gt(n, 0);
        total += n;
    }
    ck_assert_int_eq(asyncio_await(ts, NULL), 0);
    asyncio_decref(ts);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_eq(shutdown(cli, SHUT_WR), 0);
    char buf[101];
    size_t n = 99;
    ck_assert_int_eq(asyncio_sock_recv(acc.conn, buf, 100, &n), 0);
    LOGF("sock_stream peer=%s received=%zu same=%s eof=", TF(peer), total,
         TF(memcmp(data, got, BIG) == 0));
    logbytes(buf, n);
    ck_assert_int_eq(buf[0], '\0'); /* terminated */
    LOGF(" blocking=%s", TF(!(fcntl(acc.conn, F_GETFL) & O_NONBLOCK)));
    ck_assert(fcntl(acc.conn, F_GETFD) & FD_CLOEXEC);
    free(data);
    free(got);
    close(acc.lst);
    close(cli);
    close(acc.conn);
    ck_assert_int_eq(watched(), 0);
    return NULL;
}

START_TEST(test_sock_stream)
{
    run(sock_stream_main, NULL);
    tu_assert_log(&LOG, "sock_stream peer=True received=1048576 same=True eof=b'' "
                        "blocking=False");
}
END_TEST

typedef struct rcv {
    int fd, rc;
    char buf[101];
    size_t n;
    asyncio_sockaddr_t from;
} rcv_t;

static void *recvfrom_task(void *arg)
{
    rcv_t *r = arg;
    r->rc = asyncio_sock_recvfrom(r->fd, r->buf, 100, &r->n, &r->from);
    return NULL;
}

/* Twin: fd_sock.py (sock_dgram) */
static void *sock_dgram_main(void *arg)
{
    (void)arg;
    asyncio_sockaddr_t aa, ba;
    int a = bound(SOCK_DGRAM, &aa), b = bound(SOCK_DGRAM, &ba);
    rcv_t r = {.fd = b};
    asyncio_future_t *t = tu_spawn(recvfrom_task, &r);
    tu_yield();
    size_t n = 0;
    ck_assert_int_eq(asyncio_sock_sendto(a, "hello", 5, &ba, &n), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    ck_assert_int_eq(r.rc, 0);
    LOGF("sock_dgram %zu ", n);
    logbytes(r.buf, r.n);
    LOGF(" %s", TF(r.from.port == aa.port && strcmp(r.from.host, aa.host) == 0));
    /* family 0: taken from the host */
    asyncio_sockaddr_t to = {.port = ba.port};
    strcpy(to.host, "127.0.0.1");
    ck_assert_int_eq(asyncio_sock_sendto(a, "0123456789", 10, &to, NULL), 0);
    ck_assert_int_eq(asyncio_sock_sendto(a, "next", 4, &ba, NULL), 0);
    char small[4];
    ck_assert_int_eq(asyncio_sock_recvfrom_into(b, small, sizeof small, &n, NULL), 0);
    LOGF(" %zu ", n);
    logbytes(small, n);
    ck_assert_int_eq(asyncio_sock_recvfrom(b, r.buf, 100, &n, &r.from), 0);
    LOGF(" ");
    logbytes(r.buf, n);
    close(a);
    close(b);
    return NULL;
}

START_TEST(test_sock_dgram)
{
    run(sock_dgram_main, NULL);
    tu_assert_log(&LOG, "sock_dgram 5 b'hello' True 4 b'0123' b'next'");
}
END_TEST

static int unix_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static int unix_listener(const char *path)
{
    int fd = unix_socket();
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* Twin: fd_sock.py (sock_unix) */
static void *sock_unix_main(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/casyncio-fd.XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s", dir);
    LOGF("sock_unix ");
    int cli = unix_socket();
    ck_assert_int_eq(asyncio_sock_connect(cli, path, 0), UV_ENOENT);
    log_error();
    close(cli);
    acc_t acc = {.lst = unix_listener(path)};
    cli = unix_socket();
    ck_assert_int_eq(asyncio_sock_connect(cli, path, 0), 0);
    accept_task(&acc);
    ck_assert_int_eq(acc.rc, 0);
    ck_assert_int_eq(asyncio_sock_sendall(cli, "ping", 4), 0);
    char buf[11];
    size_t n;
    ck_assert_int_eq(asyncio_sock_recv(acc.conn, buf, 10, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_str_eq(buf, "ping"); /* terminated */
    ck_assert_int_eq(acc.addr.family, AF_UNIX);
    LOGF(" '%s'", acc.addr.host);
    close(cli);
    close(acc.conn);
    close(acc.lst);
    unlink(path);
    rmdir(dir);
    return NULL;
}

START_TEST(test_sock_unix)
{
    run(sock_unix_main, NULL);
    tu_assert_log(&LOG, "sock_unix FileNotFoundError([Errno 2] No such file or directory) b'ping' "
                        "''");
}
END_TEST

/* Twin: fd_sock.py (sock_errors) */
static void *sock_errors_main(void *arg)
{
    (void)arg;
    LOGF("sock_errors ");
    int blocking = socket(AF_INET, SOCK_STREAM, 0);
    char buf[16];
    size_t n = 99;
    ck_assert_int_eq(asyncio_sock_recv(blocking, buf, 10, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    log_error();
    close(blocking);
    /* A port nothing listens on. */
    asyncio_sockaddr_t pa;
    close(bound(SOCK_STREAM, &pa));
    int cli = tcp_socket(SOCK_STREAM);
    ck_assert_int_eq(asyncio_sock_connect(cli, "127.0.0.1", pa.port), UV_ECONNREFUSED);
    char want[96];
    snprintf(want, sizeof want, "[Errno 111] Connect call failed ('127.0.0.1', %d)", pa.port);
    ck_assert_str_eq(tu_raised_message(), want);
    LOGF(" %s([Errno 111] Connect call failed ('127.0.0.1', PORT))", asyncio_error()->type);
    asyncio_error_clear();
    close(cli);
    /* A reset. */
    asyncio_sockaddr_t la;
    acc_t acc = {.lst = bound(SOCK_STREAM, &la)};
    ck_assert_int_eq(listen(acc.lst, 1), 0);
    cli = tcp_socket(SOCK_STREAM);
    ck_assert_int_eq(asyncio_sock_connect(cli, "127.0.0.1", la.port), 0);
    accept_task(&acc);
    ck_assert_int_eq(acc.rc, 0);
    struct linger lg = {1, 0};
    ck_assert_int_eq(setsockopt(acc.conn, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(acc.conn);
    ck_assert_int_eq(asyncio_sock_recv(cli, buf, 10, &n), UV_ECONNRESET);
    LOGF(" ");
    log_error();
    close(cli);
    close(acc.lst);
    return NULL;
}

START_TEST(test_sock_errors)
{
    run(sock_errors_main, NULL);
    tu_assert_log(&LOG, "sock_errors ValueError(the socket must be non-blocking) "
                        "ConnectionRefusedError([Errno 111] Connect call failed ('127.0.0.1', "
                        "PORT)) ConnectionResetError([Errno 104] Connection reset by peer)");
}
END_TEST

static void *recv_task(void *arg)
{
    rcv_t *r = arg;
    r->rc = asyncio_sock_recv(r->fd, r->buf, 10, &r->n);
    return NULL;
}

/* Twin: fd_sock.py (sock_cancel) */
static void *sock_cancel_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    rcv_t r = {.fd = sv[0]};
    asyncio_future_t *t = tu_spawn(recv_task, &r);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    asyncio_cancel(t, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    ck_assert_int_eq(watched(), 0);
    ck_assert_int_eq(write(sv[1], "after", 5), 5);
    char buf[11];
    size_t n;
    ck_assert_int_eq(asyncio_sock_recv(sv[0], buf, 10, &n), 0);
    LOGF("sock_cancel cancelled=%s ", TF(asyncio_cancelled(t)));
    logbytes(buf, n);
    asyncio_decref(t);
    close_pair(sv);
    return NULL;
}

START_TEST(test_sock_cancel)
{
    run(sock_cancel_main, NULL);
    tu_assert_log(&LOG, "sock_cancel cancelled=True b'after'");
}
END_TEST

/* Every suspension point of every call, cancelled: CancelledError, the
 * socket still usable, nothing left watching it. */
typedef struct op {
    int kind; /* which call */
    int fd, rc;
    const char *host;
    int port;
    asyncio_sockaddr_t addr;
    char buf[64];
    size_t n;
    int conn;
} op_t;

enum { OP_RECV, OP_RECVFROM, OP_SENDALL, OP_SENDTO, OP_CONNECT, OP_ACCEPT };

static void *op_task(void *arg)
{
    op_t *o = arg;
    static char big[1 << 22];
    switch (o->kind) {
    case OP_RECV:
        o->rc = asyncio_sock_recv(o->fd, o->buf, sizeof o->buf, &o->n);
        break;
    case OP_RECVFROM:
        o->rc = asyncio_sock_recvfrom(o->fd, o->buf, sizeof o->buf, &o->n, &o->addr);
        break;
    case OP_SENDALL:
        o->rc = asyncio_sock_sendall(o->fd, big, sizeof big);
        break;
    case OP_SENDTO:
        for (;;) /* until the peer's queue is full and it waits */
            if ((o->rc = asyncio_sock_sendto(o->fd, "datagram", 8, &o->addr, &o->n)))
                break;
        break;
    case OP_CONNECT:
        o->rc = asyncio_sock_connect(o->fd, o->host, o->port);
        break;
    case OP_ACCEPT:
        o->rc = asyncio_sock_accept(o->fd, &o->conn, NULL);
        break;
    }
    return NULL;
}

/* Starts o, lets it reach its wait, cancels it: true if it was cancelled
 * there (false if it completed first). */
static bool cancel_op(op_t *o, int yields)
{
    asyncio_future_t *t = tu_spawn(op_task, o);
    for (int i = 0; i < yields; i++)
        tu_yield();
    asyncio_cancel(t, NULL);
    int rc = asyncio_await(t, NULL);
    asyncio_error_clear();
    asyncio_decref(t);
    ck_assert_int_eq(watched(), 0);
    if (rc == ASYNCIO_ECANCELLED) {
        ck_assert_int_eq(o->rc, ASYNCIO_ECANCELLED);
        return true;
    }
    return false;
}

static void *sock_cancel_points_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    op_t o = {.kind = OP_RECV, .fd = sv[0]};
    ck_assert(cancel_op(&o, 2));
    o = (op_t){.kind = OP_SENDALL, .fd = sv[0]};
    ck_assert(cancel_op(&o, 3));
    close_pair(sv);

    asyncio_sockaddr_t ua;
    int u = bound(SOCK_DGRAM, &ua);
    o = (op_t){.kind = OP_RECVFROM, .fd = u};
    ck_assert(cancel_op(&o, 2));
    close(u);

    /* sendto: a Unix datagram socket connected to a full receiver. */
    char dir[] = "/tmp/casyncio-fd.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    o = (op_t){.kind = OP_SENDTO, .addr.family = AF_UNIX};
    snprintf(o.addr.host, sizeof o.addr.host, "%s/d", dir);
    int rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, o.addr.host);
    ck_assert_int_eq(bind(rx, (struct sockaddr *)&un, sizeof un), 0);
    o.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(connect(o.fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert(cancel_op(&o, 3));
    ck_assert_uint_eq(o.n, 0); /* out-parameter of the failed call */
    close(o.fd);
    close(rx);
    unlink(o.addr.host);
    rmdir(dir);

    /* accept: nobody connects. */
    asyncio_sockaddr_t la;
    int lst = bound(SOCK_STREAM, &la);
    ck_assert_int_eq(listen(lst, 0), 0);
    o = (op_t){.kind = OP_ACCEPT, .fd = lst};
    ck_assert(cancel_op(&o, 2));
    ck_assert_int_eq(o.conn, -1);

    /* connect, in the name's resolution (a name, not a number) and in
     * its wait (a listener whose queue is full drops the SYN: the connect
     * stays in progress). */
    int cli = tcp_socket(SOCK_STREAM);
    o = (op_t){.kind = OP_CONNECT, .fd = cli, .host = "localhost", .port = la.port};
    cancel_op(&o, 1); /* resolution is quick: either way nothing stays */
    close(cli);
    int fds[8], ncancelled = 0;
    for (int i = 0; i < 8; i++) {
        fds[i] = tcp_socket(SOCK_STREAM);
        o = (op_t){.kind = OP_CONNECT, .fd = fds[i], .host = "127.0.0.1", .port = la.port};
        ncancelled += cancel_op(&o, 3);
    }
    ck_assert_int_gt(ncancelled, 0);
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    close(lst);
    return NULL;
}

START_TEST(test_sock_cancel_points)
{
    run(sock_cancel_points_main, NULL);
}
END_TEST

/* Two tasks on one side of a socket: the second is refused. */
static void *sock_busy_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    rcv_t r = {.fd = sv[0]};
    asyncio_future_t *t = tu_spawn(recv_task, &r);
    tu_yield();
    char buf[8], msg[128];
    size_t n;
    snprintf(msg, sizeof msg,
             "another task is already waiting for file descriptor %d to be readable", sv[0]);
    expect_msg(asyncio_sock_recv(sv[0], buf, sizeof buf, &n), ASYNCIO_ERUNTIME, "RuntimeError",
               msg);
    /* The other side is free: a send goes out at once. */
    ck_assert_int_eq(asyncio_sock_sendall(sv[0], "x", 1), 0);
    ck_assert_int_eq(asyncio_sock_sendall(sv[1], "y", 1), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.buf, "y");
    close_pair(sv);
    return NULL;
}

START_TEST(test_sock_busy)
{
    run(sock_busy_main, NULL);
}
END_TEST

/* Bad arguments, and the out-parameters of failed calls. */
static void *sock_args_main(void *arg)
{
    (void)arg;
    int sv[2];
    pair(sv);
    char buf[8];
    size_t n = 5;
    int conn = 5;
    asyncio_sockaddr_t addr;
    memset(&addr, 0x55, sizeof addr);
    expect_msg(asyncio_sock_recv(-1, buf, 1, &n), ASYNCIO_EVALUE, "ValueError",
               "Invalid file descriptor: -1");
    ck_assert_uint_eq(n, 0);
    expect_msg(asyncio_sock_recv(sv[0], NULL, 1, &n), ASYNCIO_EVALUE, "ValueError", "buf is NULL");
    expect_msg(asyncio_sock_recvfrom(sv[0], NULL, 1, &n, &addr), ASYNCIO_EVALUE, "ValueError",
               "buf is NULL");
    ck_assert_int_eq(addr.family, 0);
    ck_assert_int_eq(addr.host[0], '\0');
    expect_msg(asyncio_sock_sendall(sv[0], NULL, 1), ASYNCIO_EVALUE, "ValueError", "data is NULL");
    ck_assert_int_eq(asyncio_sock_sendall(sv[0], NULL, 0), 0);
    expect_msg(asyncio_sock_sendto(sv[0], "x", 1, NULL, &n), ASYNCIO_EVALUE, "ValueError",
               "addr is NULL");
    asyncio_sockaddr_t to = {.port = 1};
    strcpy(to.host, "localhost");
    expect_msg(asyncio_sock_sendto(sv[0], "x", 1, &to, &n), ASYNCIO_EVALUE, "ValueError",
               "host 'localhost' is not a numeric IPv4 or IPv6 address");
    to = (asyncio_sockaddr_t){.port = 70000};
    strcpy(to.host, "127.0.0.1");
    expect_msg(asyncio_sock_sendto(sv[0], "x", 1, &to, &n), ASYNCIO_EVALUE, "ValueError",
               "port must be 0-65535.");
    expect_msg(asyncio_sock_accept(sv[0], NULL, NULL), ASYNCIO_EVALUE, "ValueError",
               "conn is NULL");
    expect_msg(asyncio_sock_connect(sv[0], NULL, 1), ASYNCIO_EVALUE, "ValueError", "host is NULL");
    int tcp = tcp_socket(SOCK_STREAM);
    expect_msg(asyncio_sock_connect(tcp, "127.0.0.1", -1), ASYNCIO_EVALUE, "ValueError",
               "port must be 0-65535.");
    close(tcp);
    /* Closed. */
    int fd = dup(sv[0]);
    close(fd);
    expect_msg(asyncio_sock_accept(fd, &conn, &addr), UV_EBADF, "OSError",
               "[Errno 9] Bad file descriptor");
    ck_assert_int_eq(conn, -1);
    close_pair(sv);
    ck_assert_int_eq(watched(), 0);
    return NULL;
}

START_TEST(test_sock_args)
{
    run(sock_args_main, NULL);
    tu_clear_all();
    size_t n = 3;
    char buf[4];
    ck_assert_int_eq(asyncio_sock_recv(0, buf, 1, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    tu_clear_all();
}
END_TEST

/* ---------------------------------------------------------------------
 * sock=: streams, transports and servers on the caller's socket
 * --------------------------------------------------------------------- */

/* A socket connected to 127.0.0.1:port. */
static int connected(int port)
{
    int fd = tcp_socket(SOCK_STREAM);
    ck_assert_int_eq(asyncio_sock_connect(fd, "127.0.0.1", port), 0);
    return fd;
}

static void *sock_stream_forms_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);

    /* open_connection(sock=) */
    int fd = connected(port);
    asyncio_stream_opts_t o = {.use_sock = true, .sock = fd};
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_connection(NULL, 0, &o, &s), 0);
    ck_assert_int_eq(asyncio_stream_write(s, "hello\n", 6), 0);
    char line[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, line, sizeof line, &n), 0);
    ck_assert_str_eq(line, "hello\n");
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_stream_peername(s, &a), 0);
    ck_assert_int_eq(a.port, port);
    asyncio_stream_close(s);
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);
    ck_assert(!is_open(fd)); /* the stream closed it */

    /* create_connection(sock=) */
    fd = connected(port);
    o.sock = fd;
    asyncio_transport_t *t = NULL;
    static const asyncio_protocol_t quiet = {0};
    ck_assert_int_eq(asyncio_create_connection(&quiet, NULL, NULL, 0, &o, &t), 0);
    ck_assert_int_eq(asyncio_transport_write(t, "x", 1), 0);
    asyncio_transport_close(t);
    settle(3);
    ck_assert(!is_open(fd));

    /* start_server(sock=) on a bound socket, and create_server(sock=) on a
     * listening one: both are listened on. */
    asyncio_sockaddr_t la;
    int lfd = bound(SOCK_STREAM, &la);
    o.sock = lfd;
    asyncio_server_t *srv2 = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, NULL, 0, &o, &srv2), 0);
    ck_assert_int_eq(server_port(srv2), la.port);
    echo_ok(la.port);
    server_shutdown(srv2);
    ck_assert(!is_open(lfd));
    lfd = bound(SOCK_STREAM, &la);
    ck_assert_int_eq(listen(lfd, 5), 0);
    o.sock = lfd;
    ck_assert_int_eq(asyncio_create_server(&quiet, NULL, NULL, 0, &o, &srv2), 0);
    int c = connected(la.port);
    close(c);
    server_shutdown(srv2);
    ck_assert(!is_open(lfd));

    server_shutdown(srv);
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_sock_stream_forms)
{
    run(sock_stream_forms_main, NULL);
}
END_TEST

static void *sock_unix_forms_main(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/casyncio-fd.XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s", dir);
    int lfd = unix_listener(path);
    asyncio_stream_opts_t o = {.use_sock = true, .sock = lfd};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_unix_server(echo_handler, NULL, NULL, &o, &srv), 0);
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_server_sockname(srv, 0, &a), 0);
    ck_assert_int_eq(a.family, AF_UNIX);
    ck_assert_str_eq(a.host, path);
    int fd = unix_socket();
    ck_assert_int_eq(asyncio_sock_connect(fd, path, 0), 0);
    o.sock = fd;
    asyncio_stream_t *s = NULL;
    ck_assert_int_eq(asyncio_open_unix_connection(NULL, &o, &s), 0);
    ck_assert_int_eq(asyncio_stream_write(s, "ping\n", 5), 0);
    char line[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(s, line, sizeof line, &n), 0);
    ck_assert_str_eq(line, "ping\n");
    asyncio_stream_free(s);
    server_shutdown(srv);
    settle(2);
    ck_assert(!is_open(fd));
    ck_assert(!is_open(lfd));
    unlink(path);
    rmdir(dir);
    return NULL;
}

START_TEST(test_sock_unix_forms)
{
    run(sock_unix_forms_main, NULL);
}
END_TEST

/* Refused: the socket is consumed all the same (closed), except one the
 * loop already watches. */
static void *sock_form_errors_main(void *arg)
{
    (void)arg;
    asyncio_stream_t *s = SENTINEL;
    asyncio_server_t *srv = SENTINEL;
    char msg[128];
    int fd = tcp_socket(SOCK_STREAM);
    asyncio_stream_opts_t o = {.use_sock = true, .sock = fd};
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "host/port and sock can not be specified at the same time");
    ck_assert_ptr_null(s);
    ck_assert(!is_open(fd));

    fd = tcp_socket(SOCK_DGRAM);
    o.sock = fd;
    snprintf(msg, sizeof msg, "A Stream Socket was expected, got <socket fd=%d, family=2, type=2>",
             fd);
    expect_msg(asyncio_start_server(echo_handler, NULL, NULL, 0, &o, &srv), ASYNCIO_EVALUE,
               "ValueError", msg);
    ck_assert_ptr_null(srv);
    ck_assert(!is_open(fd));

    fd = tcp_socket(SOCK_STREAM);
    o.sock = fd;
    snprintf(msg, sizeof msg,
             "A UNIX Domain Stream Socket was expected, got <socket fd=%d, family=2, type=1>", fd);
    expect_msg(asyncio_open_unix_connection(NULL, &o, &s), ASYNCIO_EVALUE, "ValueError", msg);
    ck_assert(!is_open(fd));

    fd = tcp_socket(SOCK_STREAM);
    o.sock = fd;
    expect_msg(asyncio_open_connection(NULL, 0, &o, NULL), ASYNCIO_EVALUE, "ValueError",
               "stream is NULL");
    ck_assert(!is_open(fd));

    /* TLS without a host name to check. */
    asyncio_ssl_context_t *ctx = asyncio_ssl_create_default_context(ASYNCIO_SSL_SERVER_AUTH);
    ck_assert_ptr_nonnull(ctx);
    fd = tcp_socket(SOCK_STREAM);
    o = (asyncio_stream_opts_t){.use_sock = true, .sock = fd, .ssl = ctx};
    expect_msg(asyncio_open_connection(NULL, 0, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "You must set server_hostname when using ssl without a host");
    ck_assert(!is_open(fd));
    asyncio_ssl_context_decref(ctx);

    /* A socket the loop watches: refused, and left open. */
    int sv[2];
    pair(sv);
    ck_assert_int_eq(asyncio_add_reader(NULL, sv[0], noop, NULL), 0);
    o = (asyncio_stream_opts_t){.use_sock = true, .sock = sv[0]};
    snprintf(msg, sizeof msg, "File descriptor %d is already watched by the event loop", sv[0]);
    expect_msg(asyncio_open_connection(NULL, 0, &o, &s), ASYNCIO_ERUNTIME, "RuntimeError", msg);
    ck_assert(is_open(sv[0]));
    ck_assert(asyncio_remove_reader(NULL, sv[0]));
    close_pair(sv);
    return NULL;
}

START_TEST(test_sock_form_errors)
{
    run(sock_form_errors_main, NULL);
    /* Outside a task: consumed too. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    asyncio_stream_opts_t o = {.use_sock = true, .sock = fd};
    asyncio_stream_t *s = SENTINEL;
    ck_assert_int_eq(asyncio_open_connection(NULL, 0, &o, &s), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(s);
    ck_assert(!is_open(fd));
    tu_clear_all();
}
END_TEST

Suite *fd_suite(void)
{
    Suite *s = suite_create("fd");
    TCase *tc = tcase_create("watch");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_watch_order);
    tcase_add_test(tc, test_watch_level);
    tcase_add_test(tc, test_watch_replace);
    tcase_add_test(tc, test_watch_remove_queued);
    tcase_add_test(tc, test_watch_errors);
    tcase_add_test(tc, test_watch_api);
    suite_add_tcase(s, tc);

    tc = tcase_create("wait");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_wait_sides);
    tcase_add_test(tc, test_wait_busy);
    tcase_add_test(tc, test_wait_cancel);
    tcase_add_test(tc, test_wait_timeout);
    tcase_add_test(tc, test_wait_bad);
    tcase_add_test(tc, test_closed_while_watched);
    tcase_add_test(tc, test_remove_then_close);
    tcase_add_test(tc, test_two_loops);
    tcase_add_test(tc, test_loop_close_with_watches);
    suite_add_tcase(s, tc);

    tc = tcase_create("sock");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sock_stream);
    tcase_add_test(tc, test_sock_dgram);
    tcase_add_test(tc, test_sock_unix);
    tcase_add_test(tc, test_sock_errors);
    tcase_add_test(tc, test_sock_cancel);
    tcase_add_test(tc, test_sock_cancel_points);
    tcase_add_test(tc, test_sock_busy);
    tcase_add_test(tc, test_sock_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("sock_forms");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_sock_stream_forms);
    tcase_add_test(tc, test_sock_unix_forms);
    tcase_add_test(tc, test_sock_form_errors);
    suite_add_tcase(s, tc);
    return s;
}
