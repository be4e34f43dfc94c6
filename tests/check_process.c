/*
 * Subprocesses: exec and shell, stdin/stdout/stderr as PIPE, DEVNULL,
 * inherited and stderr to STDOUT; environment and working directory;
 * communicate with 10 MiB through stdin, stdout and stderr at once; return
 * codes of exits and signals; kill, terminate, send_signal after exit;
 * several waiters; wait and communicate cancelled (the child keeps
 * running); reading and writing the pipes directly, BrokenPipeError;
 * freeing a running process (killed and reaped); loop close with a
 * running process; bad input with Python's messages; out-parameters NULL
 * or 0 after any failure, outputs NUL-terminated also when empty, a freed
 * process's handle refused (never reaching a newer process).
 *
 * Python's answers: tests/twins/process_cases.py.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static const asyncio_subprocess_opts_t OUT_PIPE = {.stdout_mode = ASYNCIO_STDIO_PIPE};
static const asyncio_subprocess_opts_t ALL_PIPES = {.stdin_mode = ASYNCIO_STDIO_PIPE,
                                                    .stdout_mode = ASYNCIO_STDIO_PIPE,
                                                    .stderr_mode = ASYNCIO_STDIO_PIPE};

static asyncio_process_t *shell(const char *cmd, const asyncio_subprocess_opts_t *opts)
{
    asyncio_process_t *p = NULL;
    int rc = asyncio_create_subprocess_shell(cmd, opts, &p);
    ck_assert_msg(rc == 0, "spawn failed: %s", tu_raised_message());
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Runs cmd with opts and communicate(input); checks the return code. */
static void run_shell(const char *cmd, const asyncio_subprocess_opts_t *opts, const char *input,
                      int expect_code, char **out, char **err)
{
    asyncio_process_t *p = shell(cmd, opts);
    ck_assert_int_eq(
        asyncio_process_communicate(p, input, input ? strlen(input) : 0, out, NULL, err, NULL), 0);
    int code = -1000;
    ck_assert(asyncio_process_returncode(p, &code));
    ck_assert_msg(code == expect_code, "%s: exit %d, expected %d (stderr: %s)", cmd, code,
                  expect_code, err && *err ? *err : "-");
    asyncio_process_free(p);
}

/* Twin: process_cases.py (basics) */
static void *basics_main(void *arg)
{
    (void)arg;
    const char *argv[] = {"echo", "hello", "world", NULL};
    asyncio_process_t *p = NULL;
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, &OUT_PIPE, &p), 0);
    ck_assert_int_gt(asyncio_process_pid(p), 0);
    ck_assert(!asyncio_process_returncode(p, NULL) || true); /* may have exited already */
    char *out = NULL, *err = (char *)"untouched";
    size_t out_len = 0;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, &out_len, &err, NULL), 0);
    ck_assert_str_eq(out, "hello world\n");
    ck_assert_uint_eq(out_len, 12);
    ck_assert_ptr_null(err); /* stderr not piped */
    asyncio_buffer_free(out);
    int code = -1;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0); /* again: at once */
    ck_assert_int_eq(code, 0);
    asyncio_process_free(p);

    /* Exit codes, stderr to stdout, both pipes. */
    run_shell("exit 3", NULL, NULL, 3, NULL, NULL);
    asyncio_subprocess_opts_t merged = {.stdout_mode = ASYNCIO_STDIO_PIPE,
                                        .stderr_mode = ASYNCIO_STDIO_STDOUT};
    run_shell("echo out; echo err >&2; exit 1", &merged, NULL, 1, &out, NULL);
    ck_assert_str_eq(out, "out\nerr\n");
    asyncio_buffer_free(out);
    run_shell("echo out; echo err >&2", &ALL_PIPES, NULL, 0, &out, &err);
    ck_assert_str_eq(out, "out\n");
    ck_assert_str_eq(err, "err\n");
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);

    /* DEVNULL: stdin reads nothing, output vanishes. */
    asyncio_subprocess_opts_t devnull = {.stdin_mode = ASYNCIO_STDIO_DEVNULL,
                                         .stdout_mode = ASYNCIO_STDIO_PIPE,
                                         .stderr_mode = ASYNCIO_STDIO_DEVNULL};
    run_shell("cat; echo gone >&2", &devnull, NULL, 0, &out, &err);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_null(err);
    asyncio_buffer_free(out);

    /* Environment and working directory. */
    const char *env[] = {"CASYNCIO_TEST=forty-two", NULL};
    asyncio_subprocess_opts_t envopts = {.stdout_mode = ASYNCIO_STDIO_PIPE, .env = env, .cwd = "/"};
    run_shell("printf '%s %s' \"$CASYNCIO_TEST\" \"$(pwd)\"", &envopts, NULL, 0, &out, NULL);
    ck_assert_str_eq(out, "forty-two /");
    asyncio_buffer_free(out);

    /* Input through stdin. */
    run_shell("read line; echo \"got $line\"", &ALL_PIPES, "shout\n", 0, &out, &err);
    ck_assert_str_eq(out, "got shout\n");
    ck_assert_str_eq(err, "");
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);

    /* A child that never reads its input is not an error. */
    run_shell("exit 0", &ALL_PIPES, "ignored input", 0, NULL, NULL);
    return NULL;
}

START_TEST(test_basics)
{
    tu_run_ok(basics_main, NULL);
}
END_TEST

/* 10 MiB in through stdin while 10 MiB come out of stdout and stderr. */
static void *big_main(void *arg)
{
    (void)arg;
    size_t n = (size_t)tu_scaled(10 * 1024 * 1024);
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    asyncio_process_t *p = shell("tee /dev/stderr", &ALL_PIPES);
    char *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 0;
    ck_assert_int_eq(asyncio_process_communicate(p, in, n, &out, &out_len, &err, &err_len), 0);
    ck_assert_uint_eq(out_len, n);
    ck_assert_uint_eq(err_len, n);
    ck_assert(memcmp(out, in, n) == 0);
    ck_assert(memcmp(err, in, n) == 0);
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
    int code = -1;
    ck_assert(asyncio_process_returncode(p, &code));
    ck_assert_int_eq(code, 0);
    asyncio_process_free(p);
    free(in);
    return NULL;
}

START_TEST(test_communicate_10mib_both_ways)
{
    tu_run_ok(big_main, NULL);
}
END_TEST

/* Input the child never reads: communicate ignores the broken pipe, as
 * Python's _feed_stdin does, whether the child is gone before the input is
 * written or closes its stdin and keeps running. */
static void *unread_input_main(void *arg)
{
    (void)arg;
    size_t n = 1024 * 1024; /* far more than a pipe holds */
    char *in = calloc(1, n);
    asyncio_process_t *p = shell("exit 5", &ALL_PIPES);
    int code = 0;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, 5);
    char *out = NULL;
    size_t out_len = 1;
    int rc = asyncio_process_communicate(p, in, n, &out, &out_len, NULL, NULL);
    ck_assert_msg(rc == 0, "communicate: %s", tu_raised_message());
    ck_assert_uint_eq(out_len, 0);
    asyncio_buffer_free(out);
    asyncio_process_free(p);

    p = shell("exec 0<&-; echo closed", &ALL_PIPES);
    out = NULL;
    rc = asyncio_process_communicate(p, in, n, &out, NULL, NULL, NULL);
    ck_assert_msg(rc == 0, "communicate: %s", tu_raised_message());
    ck_assert_str_eq(out, "closed\n");
    asyncio_buffer_free(out);
    asyncio_process_free(p);
    free(in);
    return NULL;
}

START_TEST(test_communicate_unread_input)
{
    tu_run_ok(unread_input_main, NULL);
}
END_TEST

/* The child gets its three descriptors and nothing else of ours: not the
 * pipes of another child, not a file the program has open.  Descriptors
 * the test process inherited without close-on-exec (from whatever started
 * it) are not ours: they are noted before the loop exists. */
static bool INHERITED[1024];

static void note_inherited(void)
{
    for (int fd = 0; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        INHERITED[fd] = fl >= 0 && !(fl & FD_CLOEXEC);
    }
}

static void *fds_main(void *arg)
{
    (void)arg;
    asyncio_process_t *other = shell("cat", &ALL_PIPES);
    asyncio_file_t *f = NULL;
    ck_assert_int_eq(asyncio_file_open("/dev/null", "r", &f), 0);
    /* Ours: every descriptor the loop, the streams, the file opened. */
    char cmd[4096] = "for fd in";
    for (int fd = 3; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || INHERITED[fd])
            continue;
        ck_assert_msg(fl & FD_CLOEXEC, "descriptor %d is not close-on-exec", fd);
        size_t used = strlen(cmd);
        snprintf(cmd + used, sizeof cmd - used, " %d", fd);
    }
    /* The child's view: none of them is open there ($$: the shell). */
    strcat(cmd, "; do [ -e /proc/$$/fd/$fd ] && echo $fd; done; true");
    asyncio_process_t *p = shell(cmd, &ALL_PIPES);
    char *out = NULL;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL), 0);
    ck_assert_msg(*out == '\0', "descriptors of ours in the child: %s", out);
    asyncio_buffer_free(out);
    asyncio_process_free(p);
    ck_assert_int_eq(asyncio_file_close(f), 0);
    ck_assert_int_eq(asyncio_process_communicate(other, NULL, 0, NULL, NULL, NULL, NULL), 0);
    asyncio_process_free(other);
    return NULL;
}

START_TEST(test_no_descriptor_leaks)
{
    note_inherited();
    tu_run_ok(fds_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ signals */

static void *waiter(void *arg)
{
    int code = 0;
    int rc = asyncio_process_wait(arg, &code);
    return rc ? NULL : IP(code);
}

/* Twin: process_cases.py (signals) */
static asyncio_process_t *ORDER_P;
static int ORDER[3], ORDER_LEN;

static void *ordered_waiter(void *arg)
{
    if (asyncio_process_wait(ORDER_P, NULL) == 0)
        ORDER[ORDER_LEN++] = (int)PI(arg);
    return NULL;
}

static void *signals_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("exec sleep 30", NULL);
    /* Two waiters. */
    asyncio_future_t *w[2] = {tu_spawn(waiter, p), tu_spawn(waiter, p)};
    tu_yield();
    ck_assert(!asyncio_process_returncode(p, NULL));
    ck_assert_int_eq(asyncio_process_kill(p), 0);
    void *res[2];
    ck_assert_int_eq(asyncio_gather(w, 2, res, 0), 0);
    ck_assert_int_eq(PI(res[0]), -SIGKILL);
    ck_assert_int_eq(PI(res[1]), -SIGKILL);
    tu_decref_all(w, 2);
    /* Exited: signals are refused (Python's bare ProcessLookupError, with
     * os.kill's message for a pid that is gone). */
    ck_assert_int_eq(asyncio_process_send_signal(p, SIGTERM), UV_ESRCH);
    assert_raised(UV_ESRCH, "ProcessLookupError");
    ck_assert_str_eq(tu_raised_message(), "[Errno 3] No such process");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_process_terminate(p), UV_ESRCH);
    asyncio_error_clear();
    asyncio_process_free(p);

    p = shell("exec sleep 30", NULL);
    ck_assert_int_eq(asyncio_process_terminate(p), 0);
    int code = 0;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, -SIGTERM);
    asyncio_process_free(p);

    /* Several waiters resume in the order they started waiting, as in
     * Python ("wake order: [0, 1, 2]" in the twin). */
    p = shell("exec sleep 30", NULL);
    ORDER_P = p;
    ORDER_LEN = 0;
    asyncio_future_t *ow[3];
    for (int i = 0; i < 3; i++)
        ow[i] = tu_spawn(ordered_waiter, IP(i));
    tu_yield();
    ck_assert_int_eq(asyncio_process_kill(p), 0);
    tu_gather_drop(ow, 3);
    ck_assert_int_eq(ORDER_LEN, 3);
    ck_assert_int_eq(ORDER[0] * 100 + ORDER[1] * 10 + ORDER[2], 12); /* 0, 1, 2 */
    asyncio_process_free(p);

    /* A signal the child handles. */
    p = shell("trap 'exit 7' USR1; echo ready; while :; do sleep 0.01; done", &OUT_PIPE);
    char ready[8];
    size_t got = 0;
    ck_assert_int_eq(asyncio_stream_read(asyncio_process_stdout(p), ready, sizeof ready, &got), 0);
    ck_assert_uint_eq(got, 6); /* the trap is set */
    ck_assert_int_eq(asyncio_process_send_signal(p, SIGUSR1), 0);
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, 7);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_signals_and_return_codes)
{
    tu_run_ok(signals_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ cancellation */

static void *communicator(void *arg)
{
    char *out = NULL;
    int rc = asyncio_process_communicate(arg, NULL, 0, &out, NULL, NULL, NULL);
    asyncio_buffer_free(out);
    return IP(rc);
}

static void *cancel_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("echo partial; exec sleep 30", &OUT_PIPE);
    asyncio_future_t *w = tu_spawn(waiter, p);
    tu_yield();
    ck_assert(asyncio_cancel(w, NULL));
    ck_assert_int_eq(asyncio_await(w, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(w);
    ck_assert(!asyncio_process_returncode(p, NULL)); /* still running */

    /* communicate cancelled: the child keeps running. */
    asyncio_future_t *c = tu_spawn(communicator, p);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    /* Busy meanwhile. */
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, NULL, NULL, NULL, NULL),
                     ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_process_free(p); /* refused while a task uses it */
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(tu_raised_message(), "tasks are waiting on the process");
    asyncio_error_clear();
    ck_assert(asyncio_cancel(c, NULL));
    ck_assert_int_eq(asyncio_await(c, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(c);
    ck_assert(!asyncio_process_returncode(p, NULL));

    ck_assert_int_eq(asyncio_process_kill(p), 0);
    int code = 0;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, -SIGKILL);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_wait_and_communicate_cancelled)
{
    tu_run_ok(cancel_main, NULL);
}
END_TEST

/* communicate cancelled half way through its input: the child still gets
 * all of it, in order, as Python's single write had buffered it (the
 * input goes in chunks while it runs, the rest at once when it ends). */
struct feed {
    asyncio_process_t *p;
    const char *in;
    size_t n;
};

static void *feeding_communicator(void *arg)
{
    struct feed *f = arg;
    return IP(asyncio_process_communicate(f->p, f->in, f->n, NULL, NULL, NULL, NULL));
}

static void *cancel_feed_main(void *arg)
{
    (void)arg;
    size_t n = (size_t)tu_scaled(8 * 1024 * 1024);
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    /* The child reads slowly at first (sleep), so that communicate is
     * cancelled with most of the input not yet written. */
    char path[64], cmd[128];
    snprintf(path, sizeof path, "/tmp/casyncio-feed-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "sleep 0.2; cat > %s", path);
    asyncio_subprocess_opts_t in_pipe = {.stdin_mode = ASYNCIO_STDIO_PIPE};
    asyncio_process_t *p = shell(cmd, &in_pipe);
    struct feed f = {p, in, n};
    asyncio_future_t *c = tu_spawn(feeding_communicator, &f);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_cancel(c, NULL));
    ck_assert_int_eq(asyncio_await(c, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(c);
    /* stdin was closed after the whole input: cat ends by itself. */
    int code = -1;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, 0);
    asyncio_process_free(p);
    char *got = NULL;
    size_t len = 0;
    ck_assert_int_eq(asyncio_file_read_all(path, &got, &len), 0);
    unlink(path);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, in, n) == 0);
    asyncio_buffer_free(got);
    free(in);
    return NULL;
}

START_TEST(test_communicate_cancelled_while_feeding)
{
    tu_run_ok(cancel_feed_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ pipes */

static void *pipes_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("cat; echo done >&2", &ALL_PIPES);
    asyncio_stream_t *in = asyncio_process_stdin(p), *out = asyncio_process_stdout(p),
                     *err = asyncio_process_stderr(p);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(err);
    ck_assert_int_eq(asyncio_stream_write(in, "abc", 3), 0);
    ck_assert_int_eq(asyncio_stream_write(in, "def\n", 4), 0);
    ck_assert_int_eq(asyncio_stream_drain(in), 0);
    char buf[64];
    size_t got = 0;
    ck_assert_int_eq(asyncio_stream_readline(out, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, 7);
    ck_assert(memcmp(buf, "abcdef\n", 7) == 0);
    asyncio_stream_close(in); /* cat sees end of file */
    ck_assert_int_eq(asyncio_stream_read(out, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, 0); /* end of file */
    ck_assert(asyncio_stream_at_eof(out));
    char *all = NULL;
    ck_assert_int_eq(asyncio_stream_read_all(err, &all, &got), 0);
    ck_assert_str_eq(all, "done\n");
    asyncio_buffer_free(all);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);

    /* The child is gone: writing fails at drain with BrokenPipeError. */
    p = shell("exit 0", &ALL_PIPES);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    in = asyncio_process_stdin(p);
    int rc = 0;
    /* The failed write is reported once its callback has come. */
    for (int i = 0; i < 100 && rc == 0; i++)
        if ((rc = asyncio_stream_write(in, "x", 1)) == 0)
            rc = asyncio_stream_drain(in);
    /* SIGPIPE is ignored (the test process is alive); the stream layer
     * may drop such writes silently, as Python's write() does, or raise
     * at drain. */
    ck_assert(rc == 0 || asyncio_error_matches("ConnectionError"));
    asyncio_error_clear();
    asyncio_process_free(p);

    /* Streams that are not pipes. */
    p = shell("exit 0", NULL);
    ck_assert_ptr_null(asyncio_process_stdin(p));
    ck_assert_ptr_null(asyncio_process_stdout(p));
    ck_assert_ptr_null(asyncio_process_stderr(p));
    ck_assert_ptr_null(asyncio_process_stdout(NULL));
    ck_assert_int_eq(asyncio_process_communicate(p, "in", 2, NULL, NULL, NULL, NULL),
                     ASYNCIO_EVALUE);
    ck_assert_str_eq(tu_raised_message(), "input given but stdin is not a pipe");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_pipes)
{
    tu_run_ok(pipes_main, NULL);
}
END_TEST

/* Pipes that carry bulk data get a larger capacity (transport.c,
 * grow_bulk_pipe); the others keep the kernel's default.  The child tells
 * its own pipes' capacities (F_GETPIPE_SZ) on stderr: "default capacity"
 * first, then per mode -- out: says stdout's capacity, fills it without
 * blocking and says how many bytes that took, waits for a line, says
 * stdout's capacity; big: the same with its stdout enlarged to 1 MiB
 * first (the most an unprivileged process may ask); in:
 * reads stdin to its end and says how many bytes and stdin's capacity;
 * small: writes a line, waits for one, says stdout's capacity.  Its lines
 * start with "n " (a tool running the child, as Valgrind does with
 * --trace-children, may write lines of its own there). */
static const char BULK_CHILD[] =
    "import fcntl, os, sys\n"
    "r, w = os.pipe()\n"
    "os.write(2, b'n %d\\n' % fcntl.fcntl(w, fcntl.F_GETPIPE_SZ))\n"
    "mode = sys.argv[1]\n"
    "if mode in ('out', 'big'):\n"
    "    if mode == 'big':\n"
    "        try:\n"
    "            fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, 1 << 20)\n"
    "        except OSError:\n"
    "            pass\n"
    "    os.write(2, b'n %d\\n' % fcntl.fcntl(1, fcntl.F_GETPIPE_SZ))\n"
    "    fcntl.fcntl(1, fcntl.F_SETFL, os.O_NONBLOCK)\n"
    "    n = 0\n"
    "    try:\n"
    "        while True:\n"
    "            n += os.write(1, b'x' * 65536)\n"
    "    except BlockingIOError:\n"
    "        pass\n"
    "    os.write(2, b'n %d\\n' % n)\n"
    "    sys.stdin.readline()\n"
    "    os.write(2, b'n %d\\n' % fcntl.fcntl(1, fcntl.F_GETPIPE_SZ))\n"
    "elif mode == 'in':\n"
    "    n = 0\n"
    "    while True:\n"
    "        b = os.read(0, 1 << 20)\n"
    "        if not b:\n"
    "            break\n"
    "        n += len(b)\n"
    "    os.write(2, b'n %d %d\\n' % (n, fcntl.fcntl(0, fcntl.F_GETPIPE_SZ)))\n"
    "else:\n"
    "    os.write(1, b'small\\n')\n"
    "    sys.stdin.readline()\n"
    "    os.write(2, b'n %d\\n' % fcntl.fcntl(1, fcntl.F_GETPIPE_SZ))\n";

static asyncio_process_t *bulk_child(const char *mode)
{
    const char *argv[] = {"python3", "-c", BULK_CHILD, mode, NULL};
    asyncio_process_t *p = NULL;
    ck_assert_msg(asyncio_create_subprocess_exec(argv, &ALL_PIPES, &p) == 0, "spawn: %s",
                  tu_raised_message());
    return p;
}

/* The child's next report on stderr (its "n " dropped), in line. */
static void err_report(asyncio_process_t *p, char *line, size_t cap)
{
    size_t n = 0;
    do {
        ck_assert_int_eq(asyncio_stream_readline(asyncio_process_stderr(p), line, cap, &n), 0);
        ck_assert_msg(n > 0, "the child said nothing more on stderr");
    } while (strncmp(line, "n ", 2) != 0);
    memmove(line, line + 2, n - 1);
}

/* The child's next report, a number. */
static long err_number(asyncio_process_t *p)
{
    char line[512];
    err_report(p, line, sizeof line);
    return strtol(line, NULL, 10);
}

static void finish_child(asyncio_process_t *p)
{
    int code = -1;
    ck_assert_int_eq(asyncio_process_wait(p, &code), 0);
    ck_assert_int_eq(code, 0);
    asyncio_process_free(p);
}

/* A child in mode out or big whose stdout we read while it is full: its
 * capacity before and after. */
static void filled_stdout(const char *mode, long *dflt, long *before, long *after)
{
    asyncio_process_t *p = bulk_child(mode);
    *dflt = err_number(p);
    *before = err_number(p);
    long filled = err_number(p);
    ck_assert_int_ge(filled, *before);
    char *buf = malloc((size_t)filled);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(
        asyncio_stream_readexactly(asyncio_process_stdout(p), buf, (size_t)filled, NULL), 0);
    for (long i = 0; i < filled; i++)
        ck_assert_int_eq(buf[i], 'x');
    free(buf);
    ck_assert_int_eq(asyncio_stream_write(asyncio_process_stdin(p), "go\n", 3), 0);
    *after = err_number(p);
    finish_child(p);
}

static void *bulk_pipes_main(void *arg)
{
    (void)arg;
    /* Its stdout filled: our read took a whole buffer at once. */
    long dflt, before, grown;
    filled_stdout("out", &dflt, &before, &grown);
    ck_assert_int_eq(before, dflt);
    ck_assert_msg(grown >= 256 * 1024 && grown >= dflt, "stdout's capacity %ld, the default %ld",
                  grown, dflt);

    /* A pipe already larger is never made smaller. */
    long enlarged, kept;
    filled_stdout("big", &dflt, &enlarged, &kept);
    ck_assert_msg(kept >= enlarged, "stdout's capacity %ld, %ld before our reads", kept, enlarged);
    asyncio_process_t *p;

    /* Its stdin: the kernel did not take our write at once. */
    p = bulk_child("in");
    dflt = err_number(p);
    size_t len = (size_t)1 << 20;
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    memset(data, 'y', len);
    ck_assert_int_eq(asyncio_stream_write(asyncio_process_stdin(p), data, len), 0);
    ck_assert_int_eq(asyncio_stream_drain(asyncio_process_stdin(p)), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(asyncio_process_stdin(p)), 0);
    free(data);
    char line[512];
    size_t n = 0;
    err_report(p, line, sizeof line);
    long got = -1, cap = -1;
    ck_assert_int_eq(sscanf(line, "%ld %ld", &got, &cap), 2);
    ck_assert_int_eq(got, (long)len);
    ck_assert_msg(cap >= 256 * 1024 && cap >= dflt, "stdin's capacity %ld, the default %ld", cap,
                  dflt);
    finish_child(p);

    /* A line each way: the default stays. */
    p = bulk_child("small");
    dflt = err_number(p);
    ck_assert_int_eq(asyncio_stream_readline(asyncio_process_stdout(p), line, sizeof line, &n), 0);
    ck_assert_str_eq(line, "small\n");
    ck_assert_int_eq(asyncio_stream_write(asyncio_process_stdin(p), "go\n", 3), 0);
    ck_assert_int_eq(err_number(p), dflt);
    finish_child(p);
    return NULL;
}

START_TEST(test_bulk_pipes_grow)
{
    tu_run_ok(bulk_pipes_main, NULL);
}
END_TEST

/* A read cancelled: the child's output is still there for the next. */
static void *reader(void *arg)
{
    char buf[16];
    size_t got = 0;
    int rc = asyncio_stream_read(asyncio_process_stdout(arg), buf, sizeof buf, &got);
    return rc ? NULL : IP(got);
}

static void *read_cancel_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("read line; echo \"$line\"", &ALL_PIPES);
    asyncio_future_t *r = tu_spawn(reader, p);
    tu_yield();
    ck_assert(asyncio_cancel(r, NULL));
    ck_assert_int_eq(asyncio_await(r, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(r);
    char *out = NULL;
    ck_assert_int_eq(asyncio_process_communicate(p, "again\n", 6, &out, NULL, NULL, NULL), 0);
    ck_assert_str_eq(out, "again\n");
    asyncio_buffer_free(out);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_read_cancelled)
{
    tu_run_ok(read_cancel_main, NULL);
}
END_TEST

/* ------------------------------------------------------------ life cycle */

static bool pid_gone(int pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void *free_running_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("exec sleep 30", &ALL_PIPES);
    int pid = asyncio_process_pid(p);
    asyncio_process_free(p);
    ck_assert_ptr_null(asyncio_error());
    /* Killed, then reaped by the loop (no zombie left). */
    for (int i = 0; !pid_gone(pid); i++) {
        ck_assert_msg(i < 60000, "the child was not killed and reaped");
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    return NULL;
}

START_TEST(test_free_running_process)
{
    tu_run_ok(free_running_main, NULL);
}
END_TEST

static asyncio_process_t *KEPT;

static void *close_main(void *arg)
{
    (void)arg;
    KEPT = shell("exec sleep 30", &ALL_PIPES);
    asyncio_future_t *w = tu_spawn(waiter, KEPT);
    asyncio_decref(w);
    tu_yield();
    asyncio_loop_stop(asyncio_get_running_loop());
    return NULL;
}

START_TEST(test_loop_close_with_running_process)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *m = asyncio_create_task(close_main, NULL);
    ck_assert_int_eq(asyncio_loop_run_forever(loop), 0);
    asyncio_decref(m);
    int pid = asyncio_process_pid(KEPT);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_error_clear();
    ck_assert(pid_gone(pid)); /* killed and reaped at close */
    ck_assert_int_eq(asyncio_process_pid(KEPT), pid);
    asyncio_process_free(KEPT);
}
END_TEST

/* The raised message is want; clears it. */
static void assert_message(const char *want)
{
    ck_assert_str_eq(tu_raised_message(), want);
    asyncio_error_clear();
}

/* Twin: process_cases.py (bad) */
static void *bad_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = NULL;
    const char *nopath[] = {"no-such-program", NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(nopath, &ALL_PIPES, &p), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    ck_assert_int_eq(asyncio_error()->detail, ENOENT);
    assert_message("[Errno 2] No such file or directory: 'no-such-program'");
    const char *missing[] = {"/nonexistent/program", NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(missing, NULL, &p), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    assert_message("[Errno 2] No such file or directory: '/nonexistent/program'");
    /* Python names the directory that is missing, not the program. */
    asyncio_subprocess_opts_t badcwd = {.cwd = "/nonexistent"};
    const char *truth[] = {"true", NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(truth, &badcwd, &p), UV_ENOENT);
    assert_message("[Errno 2] No such file or directory: '/nonexistent'");
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", &badcwd, &p), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    assert_message("[Errno 2] No such file or directory: '/nonexistent'");
    ck_assert_ptr_null(p);

    const char *empty[] = {NULL}, *blank[] = {"", NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(NULL, NULL, &p), ASYNCIO_EVALUE);
    assert_message("argv is NULL");
    ck_assert_int_eq(asyncio_create_subprocess_exec(empty, NULL, &p), ASYNCIO_EVALUE);
    assert_message("argv is empty");
    ck_assert_int_eq(asyncio_create_subprocess_exec(blank, NULL, &p), ASYNCIO_EVALUE);
    assert_message("argv[0] is empty");
    ck_assert_int_eq(asyncio_create_subprocess_shell(NULL, NULL, &p), ASYNCIO_EVALUE);
    assert_message("cmd is NULL");
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", NULL, NULL), ASYNCIO_EVALUE);
    assert_message("out is NULL");
    asyncio_subprocess_opts_t bad = {.stdin_mode = ASYNCIO_STDIO_STDOUT};
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", &bad, &p), ASYNCIO_EVALUE);
    assert_message("stdin_mode STDOUT is for stderr only");
    bad = (asyncio_subprocess_opts_t){.stdout_mode = ASYNCIO_STDIO_STDOUT};
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", &bad, &p), ASYNCIO_EVALUE);
    assert_message("stdout_mode STDOUT is for stderr only");
    bad = (asyncio_subprocess_opts_t){.stderr_mode = (enum asyncio_stdio)42};
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", &bad, &p), ASYNCIO_EVALUE);
    assert_message("invalid stderr_mode 42");
    ck_assert_ptr_null(p);

    ck_assert_int_eq(asyncio_process_wait(NULL, NULL), ASYNCIO_EVALUE);
    assert_message("the process is NULL");
    ck_assert_int_eq(asyncio_process_kill(NULL), ASYNCIO_EVALUE);
    assert_message("the process is NULL");
    ck_assert_int_eq(asyncio_process_pid(NULL), -1);
    ck_assert(!asyncio_process_returncode(NULL, NULL));
    asyncio_process_free(NULL);

    p = shell("exit 0", &OUT_PIPE);
    ck_assert_int_eq(asyncio_process_send_signal(p, 12345), UV_EINVAL);
    assert_message("[Errno 22] Invalid argument"); /* os.kill's */
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 5, NULL, NULL, NULL, NULL),
                     ASYNCIO_EVALUE);
    assert_message("input is NULL");
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_bad_input)
{
    tu_run_ok(bad_main, NULL);
    /* Outside a loop. */
    asyncio_process_t *p = NULL;
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", NULL, &p), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    assert_message("no running event loop");
}
END_TEST

/* ------------------------------------------------------------ API rules */

#define SENTINEL ((void *)1)

/* communicate's outputs after a failure: NULL and 0. */
static void assert_no_output(char *out, size_t out_len, char *err, size_t err_len)
{
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_ptr_null(err);
    ck_assert_uint_eq(err_len, 0);
}

/* Every call with an out-parameter sets it to NULL or 0 when it fails,
 * however early: the values going in are sentinels. */
static void *out_params_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = SENTINEL;
    const char *missing[] = {"no-such-program", NULL}, *empty[] = {NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(missing, &ALL_PIPES, &p), UV_ENOENT);
    ck_assert_ptr_null(p);
    p = SENTINEL;
    ck_assert_int_eq(asyncio_create_subprocess_exec(NULL, NULL, &p), ASYNCIO_EVALUE);
    ck_assert_ptr_null(p);
    p = SENTINEL;
    ck_assert_int_eq(asyncio_create_subprocess_exec(empty, NULL, &p), ASYNCIO_EVALUE);
    ck_assert_ptr_null(p);
    p = SENTINEL;
    ck_assert_int_eq(asyncio_create_subprocess_shell(NULL, NULL, &p), ASYNCIO_EVALUE);
    ck_assert_ptr_null(p);
    p = SENTINEL;
    asyncio_subprocess_opts_t bad = {.stdin_mode = ASYNCIO_STDIO_STDOUT};
    ck_assert_int_eq(asyncio_create_subprocess_shell("true", &bad, &p), ASYNCIO_EVALUE);
    ck_assert_ptr_null(p);
    tu_clear_all();

    int code = 123;
    ck_assert_int_eq(asyncio_process_wait(NULL, &code), ASYNCIO_EVALUE);
    ck_assert_int_eq(code, 0);
    code = 123;
    ck_assert(!asyncio_process_returncode(NULL, &code));
    ck_assert_int_eq(code, 0);
    char *out = SENTINEL, *err = SENTINEL;
    size_t out_len = 123, err_len = 123;
    ck_assert_int_eq(asyncio_process_communicate(NULL, NULL, 0, &out, &out_len, &err, &err_len),
                     ASYNCIO_EVALUE);
    assert_no_output(out, out_len, err, err_len);
    tu_clear_all();

    p = shell("exec sleep 30", &OUT_PIPE);
    code = 123;
    ck_assert(!asyncio_process_returncode(p, &code)); /* still running */
    ck_assert_int_eq(code, 0);
    out = err = SENTINEL, out_len = err_len = 123;
    ck_assert_int_eq(asyncio_process_communicate(p, "x", 1, &out, &out_len, &err, &err_len),
                     ASYNCIO_EVALUE); /* stdin is not a pipe */
    assert_no_output(out, out_len, err, err_len);
    out = err = SENTINEL, out_len = err_len = 123;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 3, &out, &out_len, &err, &err_len),
                     ASYNCIO_EVALUE);
    assert_no_output(out, out_len, err, err_len);
    tu_clear_all();
    asyncio_process_free(p); /* killed */
    return NULL;
}

/* communicate cancelled, its outputs given as sentinels. */
static void *communicator_sentinels(void *arg)
{
    char *out = SENTINEL, *err = SENTINEL;
    size_t out_len = 123, err_len = 123;
    int rc = asyncio_process_communicate(arg, NULL, 0, &out, &out_len, &err, &err_len);
    ck_assert_int_eq(rc, ASYNCIO_ECANCELLED);
    assert_no_output(out, out_len, err, err_len);
    return NULL;
}

static void *cancelled_outputs_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("echo partial; exec sleep 30", &ALL_PIPES);
    asyncio_future_t *c = tu_spawn(communicator_sentinels, p);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_cancel(c, NULL));
    ck_assert_int_eq(asyncio_await(c, NULL), ASYNCIO_ECANCELLED);
    asyncio_error_clear();
    asyncio_decref(c);
    ck_assert_int_eq(asyncio_process_kill(p), 0);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_out_params_on_failure)
{
    tu_run_ok(out_params_main, NULL);
    tu_run_ok(cancelled_outputs_main, NULL);
    /* Outside a loop: RuntimeError before anything, *out NULL. */
    asyncio_process_t *p = SENTINEL;
    const char *argv[] = {"true", NULL};
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, NULL, &p), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(p);
    asyncio_error_clear();
}
END_TEST

/* communicate's outputs are NUL-terminated, also when nothing was read:
 * read as strings they show no uninitialised memory under valgrind. */
static void *empty_outputs_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("exit 0", &ALL_PIPES);
    char *out = NULL, *err = NULL;
    size_t out_len = 123, err_len = 123;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, &out_len, &err, &err_len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_eq(out_len, 0);
    ck_assert_uint_eq(err_len, 0);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "");
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
    asyncio_process_free(p);

    p = shell("printf abc; printf de >&2", &ALL_PIPES);
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, &out_len, &err, &err_len), 0);
    ck_assert_uint_eq(out_len, 3);
    ck_assert_uint_eq(err_len, 2);
    ck_assert_str_eq(out, "abc");
    ck_assert_str_eq(err, "de");
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
    asyncio_process_free(p);
    return NULL;
}

START_TEST(test_outputs_terminated)
{
    tu_run_ok(empty_outputs_main, NULL);
}
END_TEST

/* The message of a freed process's handle; clears it. */
static void assert_freed(void)
{
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    assert_message("not a live process (freed, or never one)");
}

/* A freed process's handle names nothing: a second free and every call
 * are refused without reading the freed memory (this runs under ASan
 * too), and a process made afterwards is never reached through it. */
static void *handles_main(void *arg)
{
    (void)arg;
    asyncio_process_t *p = shell("exit 4", &ALL_PIPES);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);
    asyncio_process_free(p); /* double free */
    assert_freed();

    asyncio_process_t *q = shell("exec sleep 30", &ALL_PIPES);
    ck_assert_ptr_ne(q, p);
    int code = 123;
    ck_assert_int_eq(asyncio_process_wait(p, &code), ASYNCIO_EVALUE);
    ck_assert_int_eq(code, 0);
    assert_freed();
    ck_assert_int_eq(asyncio_process_kill(p), ASYNCIO_EVALUE); /* must not reach q */
    assert_freed();
    ck_assert_int_eq(asyncio_process_terminate(p), ASYNCIO_EVALUE);
    assert_freed();
    ck_assert_int_eq(asyncio_process_send_signal(p, SIGTERM), ASYNCIO_EVALUE);
    assert_freed();
    char *out = SENTINEL;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, NULL, NULL, NULL),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(out);
    assert_freed();
    ck_assert_int_eq(asyncio_process_pid(p), -1);
    ck_assert(!asyncio_process_returncode(p, &code));
    ck_assert_ptr_null(asyncio_process_stdin(p));
    ck_assert_ptr_null(asyncio_process_stdout(p));
    ck_assert_ptr_null(asyncio_process_stderr(p));
    ck_assert_ptr_null(asyncio_error());

    /* q is untouched: still running, its streams there. */
    ck_assert(!asyncio_process_returncode(q, NULL));
    ck_assert_ptr_nonnull(asyncio_process_stdout(q));
    ck_assert_int_eq(asyncio_process_kill(q), 0);
    ck_assert_int_eq(asyncio_process_wait(q, &code), 0);
    ck_assert_int_eq(code, -SIGKILL);
    asyncio_process_free(q);
    ck_assert_ptr_null(asyncio_error());
    return NULL;
}

START_TEST(test_handles)
{
    tu_run_ok(handles_main, NULL);
}
END_TEST

/* Allocation failure at every step of a spawn and communicate. */
static void *chaos_body(void *arg)
{
    (void)arg;
    asyncio_process_t *p = NULL;
    int rc = asyncio_create_subprocess_shell("cat", &ALL_PIPES, &p);
    if (rc)
        return NULL;
    char *out = NULL, *err = NULL;
    rc = asyncio_process_communicate(p, "chaos", 5, &out, NULL, &err, NULL);
    if (rc == 0) {
        ck_assert_str_eq(out, "chaos");
        asyncio_buffer_free(out);
        asyncio_buffer_free(err);
    } else {
        ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
        asyncio_error_clear();
        asyncio_process_kill(p);
        asyncio_error_clear();
        asyncio_process_wait(p, NULL);
    }
    asyncio_process_free(p);
    return rc ? NULL : IP(1);
}

static void *chaos_main(void *arg)
{
    (void)arg;
    for (long n = 1;; n++) {
        tu_alloc_fail_at(n);
        void *res = NULL;
        int rc = asyncio_call(chaos_body, NULL, &res);
        tu_alloc_fail_at(0);
        asyncio_error_clear();
        if (rc == 0 && res)
            break;
        ck_assert_int_lt(n, 100);
    }
    return NULL;
}

START_TEST(test_alloc_failure)
{
    tu_run_ok(chaos_main, NULL);
}
END_TEST

Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("process");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_basics);
    tcase_add_test(tc, test_communicate_10mib_both_ways);
    tcase_add_test(tc, test_communicate_unread_input);
    tcase_add_test(tc, test_no_descriptor_leaks);
    tcase_add_test(tc, test_signals_and_return_codes);
    tcase_add_test(tc, test_wait_and_communicate_cancelled);
    tcase_add_test(tc, test_communicate_cancelled_while_feeding);
    tcase_add_test(tc, test_pipes);
    tcase_add_test(tc, test_bulk_pipes_grow);
    tcase_add_test(tc, test_read_cancelled);
    tcase_add_test(tc, test_free_running_process);
    tcase_add_test(tc, test_loop_close_with_running_process);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_alloc_failure);
    tcase_add_test(tc, test_out_params_on_failure);
    tcase_add_test(tc, test_outputs_terminated);
    tcase_add_test(tc, test_handles);
    suite_add_tcase(s, tc);
    return s;
}
