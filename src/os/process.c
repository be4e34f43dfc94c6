/*
 * Subprocesses: asyncio.create_subprocess_exec/_shell and Process on
 * libuv's uv_spawn.
 *
 * A process object owns a uv_process_t and up to three streams (the
 * parent's ends of the child's stdin, stdout, stderr: stream.c's
 * asyncio_stream_t over a uv_pipe_t, as Python's StreamWriter and
 * StreamReaders).  Loop close (the closer) kills a child still running and
 * reaps it; the streams are closed and freed by their own closers then, so
 * the process forgets them; the object itself stays for the user to free.
 *
 * Lifetime.  The child's life is p->state, moved on the loop's thread:
 *
 *   SPAWNING -> RUNNING   spawn, once uv_spawn started the child
 *   RUNNING  -> EXITED    on_exit_cb: libuv reaped the child (returncode set)
 *   RUNNING  -> KILLED    proc_close: loop close killed and reaped it (no
 *                         return code: libuv no longer watches it)
 *
 * The uv_process_t is open exactly while RUNNING: whoever moves the state
 * on closes it.  The memory has two holds (net.h's bits, as a transport's):
 * the caller's (ASYNCIO__HOLD_OWNER, dropped by asyncio_process_free) and
 * the handle's (ASYNCIO__HOLD_HANDLE, dropped by its close callback); it
 * goes when both are gone.  A spawn that fails once uv_spawn initialised
 * the handle stays SPAWNING with the handle's hold alone, so the close
 * callback frees it.
 *
 * Pipes are created here with uv_pipe() rather than UV_CREATE_PIPE, so
 * that a child's stderr can share its stdout pipe (Python's STDOUT); the
 * parent's end is then opened in the stream's uv_pipe_t.
 *
 * communicate is Python's: a task writes the input and closes stdin while
 * one task per output reads it to its end, all gathered, then the exit is
 * awaited.  What the tasks share lives on the heap, so a cancelled
 * communicate never leaves them pointing into its frame.
 *
 * Python writes the whole input into the stream at once (a copy) and
 * drains it.  Here only its first FEED_CHUNK goes at once; the feeding task
 * writes the rest from the caller's memory, which communicate keeps alive,
 * a chunk at a time, each drained before the next: the same bytes in the
 * same order, without a copy of all of it (64 MiB of fresh pages, a fault
 * each).  Whatever the task did not write when communicate ends early
 * (cancelled, or failing) is written then, at once, as Python would have
 * it buffered already.
 */
#include "core/handle.h"
#include "core/core.h"
#include "core/waiters.h"
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct proc proc_t;

/* The child's life (the opening comment says who moves it). */
enum proc_state {
    PROC_SPAWNING, /* not started: the caller never sees a process in it */
    PROC_RUNNING,  /* the child runs; the handle is open and libuv watches it */
    PROC_EXITED,   /* it exited and libuv reaped it: returncode is set */
    PROC_KILLED,   /* loop close killed and reaped it: no return code */
};

struct proc {
    void *handle; /* what the caller holds (handle.h) */
    uv_process_t uv;
    asyncio_loop_t *loop; /* whose closers hold p->closer; NULL once they no longer do */
    asyncio__closer_t closer;
    asyncio_stream_t *io[3]; /* NULL: not a pipe (or the loop closed) */
    int pid;
    enum proc_state state;
    uint8_t holds; /* ASYNCIO__HOLD_OWNER and ASYNCIO__HOLD_HANDLE (net.h) */
    int returncode;
    bool communicating;
    asyncio__waitq_t waiters; /* tasks in asyncio_process_wait */
};

/* What a task waits on in a process, for task dumps. */
static void describe_process(const void *obj, char *buf, size_t len)
{
    const proc_t *p = obj;
    snprintf(buf, len, "<Process %d%s>", p->pid,
             p->state == PROC_RUNNING  ? " running"
             : p->state == PROC_EXITED ? " exited"
                                       : "");
}

/* Drops one hold; the last one frees the memory. */
static void proc_release(proc_t *p, uint8_t hold)
{
    p->holds &= (uint8_t)~hold;
    if (!p->holds)
        asyncio__free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    /* Nothing is left for loop close to do. */
    if (p->loop) {
        asyncio__list_remove(&p->closer.link);
        p->loop = NULL;
    }
    proc_release(p, ASYNCIO__HOLD_HANDLE);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int term_signal)
{
    proc_t *p = h->data;
    p->state = PROC_EXITED;
    p->returncode = term_signal ? -term_signal : (int)status;
    /* Oldest first, as Python's _process_exited wakes its exit waiters.
     * Waking only schedules each task: none runs inside this callback. */
    for (asyncio__waiter_t *w = asyncio__waitq_first(&p->waiters); w;
         w = asyncio__waitq_next(&p->waiters, w))
        asyncio__waiter_wake(w);
    uv_close((uv_handle_t *)&p->uv, on_handle_closed);
}

/* ------------------------------------------------------------ life cycle */

/* Loop close: the child is killed and reaped, every handle closed. */
static void proc_close(asyncio__closer_t *c)
{
    proc_t *p = asyncio__container_of(c, proc_t, closer);
    if (p->state == PROC_RUNNING) {
        uv_process_kill(&p->uv, SIGKILL);
        /* libuv stops watching it: reap it here (SIGKILL is prompt). */
        int st;
        while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
            ;
        p->state = PROC_KILLED;
        uv_close((uv_handle_t *)&p->uv, on_handle_closed);
    }
    /* The streams' own closers close them; asyncio_process_free frees
     * them. */
    p->loop = NULL; /* the closer was unlinked by loop close */
}

static proc_t *checked(asyncio_process_t *ap)
{
    return asyncio__handle_check(ap, ASYNCIO__H_PROCESS, "process");
}

/* ------------------------------------------------------------ spawn */

static const char *const stdio_names[3] = {"stdin", "stdout", "stderr"};

/* ValueError for a mode out of range, or STDOUT for stdin or stdout. */
static int check_modes(const enum asyncio_stdio modes[3])
{
    for (int i = 0; i < 3; i++) {
        if ((unsigned)modes[i] > ASYNCIO_STDIO_STDOUT)
            return asyncio__raise_code(ASYNCIO_EVALUE, "invalid %s_mode %d", stdio_names[i],
                                       (int)modes[i]);
        if (i < 2 && modes[i] == ASYNCIO_STDIO_STDOUT)
            return asyncio__raise_code(ASYNCIO_EVALUE, "%s_mode STDOUT is for stderr only",
                                       stdio_names[i]);
    }
    return 0;
}

/* A zeroed process with its handle (SPAWNING, no holds), or NULL with
 * MemoryError raised. */
static proc_t *proc_new(void)
{
    proc_t *p = asyncio__calloc(1, sizeof *p);
    if (!p) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a process");
        return NULL;
    }
    if (!asyncio__handle_give(p, &p->handle, ASYNCIO__H_PROCESS))
        return NULL; /* p freed */
    asyncio__waitq_init(&p->waiters);
    return p;
}

/* A stream for every piped descriptor, its uv_pipe_t in pipes[i] (opened
 * once the child runs).  0, or the raised error with the streams made so
 * far left in p->io for the caller to free. */
static int make_streams(proc_t *p, asyncio_loop_t *loop, const enum asyncio_stdio modes[3],
                        uv_pipe_t *pipes[3])
{
    for (int i = 0; i < 3; i++)
        if (modes[i] == ASYNCIO_STDIO_PIPE &&
            !(p->io[i] = asyncio__stream_pipe_new(loop, &pipes[i])))
            return asyncio_error() ? asyncio_error()->code : ASYNCIO_ENOMEM;
    return 0;
}

/* What the child gets as its descriptors 0, 1 and 2, and the descriptors
 * made for them (-1: none).  The child's ends of the pipes and /dev/null
 * are closed once uv_spawn returned (the child has its own copies by
 * then, or never will); the parent's ends go to the streams. */
typedef struct child_stdio {
    uv_stdio_container_t stdio[3];
    int child[3];
    int parent[3];
    int devnull;
} child_stdio_t;

static void close_fds(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void close_child_ends(const child_stdio_t *cs)
{
    close_fds(cs->child, 3);
    close_fds(&cs->devnull, 1);
}

/* Descriptor i of the child: 0 or a libuv error. */
static int child_stdio_one(child_stdio_t *cs, int i, enum asyncio_stdio mode)
{
    uv_stdio_container_t *s = &cs->stdio[i];
    s->flags = UV_INHERIT_FD;
    s->data.fd = i;
    switch (mode) {
    case ASYNCIO_STDIO_INHERIT:
        return 0;
    case ASYNCIO_STDIO_DEVNULL:
        /* One /dev/null serves every descriptor that wants it. */
        if (cs->devnull < 0 && (cs->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            return uv_translate_sys_error(errno);
        s->data.fd = cs->devnull;
        return 0;
    case ASYNCIO_STDIO_STDOUT:
        *s = cs->stdio[1];
        return 0;
    case ASYNCIO_STDIO_PIPE: {
        int fds[2];
        /* Our end non-blocking, the child's as children expect. */
        int rc = i == 0 ? uv_pipe(fds, 0, UV_NONBLOCK_PIPE) : uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
        if (rc)
            return rc;
        cs->parent[i] = i == 0 ? fds[1] : fds[0];
        cs->child[i] = i == 0 ? fds[0] : fds[1];
        s->data.fd = cs->child[i];
        return 0;
    }
    }
    return 0;
}

/* The child's three descriptors.  0, or a libuv error (nothing raised)
 * with every descriptor it made closed again. */
static int child_stdio_open(child_stdio_t *cs, const enum asyncio_stdio modes[3])
{
    int rc = 0;
    cs->devnull = -1;
    for (int i = 0; i < 3; i++)
        cs->child[i] = cs->parent[i] = -1;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = child_stdio_one(cs, i, modes[i]);
    if (rc) {
        close_child_ends(cs);
        close_fds(cs->parent, 3);
    }
    return rc;
}

/* Opens our end of each pipe in its stream.  Opening a descriptor of our
 * own in a fresh handle does not fail in practice; if it does, that stream
 * is simply not there. */
static void open_parent_ends(proc_t *p, uv_pipe_t *const pipes[3], const int parent[3])
{
    for (int i = 0; i < 3; i++) {
        if (!p->io[i])
            continue;
        int rc = uv_pipe_open(pipes[i], parent[i]);
        if (rc)
            close(parent[i]);
        else if ((rc = asyncio__stream_pipe_start(p->io[i], i != 0)) != 0)
            asyncio_error_clear();
        if (rc) {
            asyncio_stream_free(p->io[i]);
            p->io[i] = NULL;
        }
    }
}

/* OSError for a child that could not be started.  Python names what is
 * missing: the working directory when that is what the child could not
 * enter. */
static void raise_spawn_error(const char *file, const char *cwd, int rc)
{
    const char *what = file;
    if (cwd && (rc == UV_ENOENT || rc == UV_ENOTDIR || rc == UV_EACCES) && access(cwd, X_OK) != 0)
        what = cwd;
    asyncio_raise_uv(rc, "'%s'", what);
}

/* Undoes phase 2 of a spawn that failed: the streams, then the object.  A
 * handle uv_spawn initialised must be closed: the object goes from its
 * close callback then. */
static void proc_discard(proc_t *p)
{
    for (int i = 0; i < 3; i++)
        asyncio_stream_free(p->io[i]);
    asyncio__handle_retire(p->handle);
    if (uv_is_active((uv_handle_t *)&p->uv) || p->uv.loop) {
        p->holds = ASYNCIO__HOLD_HANDLE;
        uv_close((uv_handle_t *)&p->uv, on_handle_closed);
    } else {
        asyncio__free(p);
    }
}

/* Starts file with args; *out is NULL already. */
static int spawn(const char *file, char **args, const asyncio_subprocess_opts_t *opts,
                 asyncio_process_t **out)
{
    static const asyncio_subprocess_opts_t defaults;

    /* 1. The options, before anything is made. */
    asyncio_loop_t *loop = asyncio_get_running_loop();
    if (!loop)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
    if (!out)
        return asyncio__raise_code(ASYNCIO_EVALUE, "out is NULL");
    if (!opts)
        opts = &defaults;
    enum asyncio_stdio modes[3] = {opts->stdin_mode, opts->stdout_mode, opts->stderr_mode};
    int rc = check_modes(modes);
    if (rc)
        return rc;

    /* 2. The object and its streams: the streams first, since nothing may
     * fail once the child runs. */
    proc_t *p = proc_new();
    if (!p)
        return ASYNCIO_ENOMEM;
    uv_pipe_t *pipes[3] = {NULL, NULL, NULL};
    if ((rc = make_streams(p, loop, modes, pipes)) != 0)
        goto fail_streams;

    /* 3. The child's descriptors. */
    child_stdio_t cs;
    if ((rc = child_stdio_open(&cs, modes)) != 0)
        goto fail_stdio;

    /* 4. The child. */
    uv_process_options_t o = {
        .exit_cb = on_exit_cb,
        .file = file,
        .args = args,
        .env = (char **)opts->env,
        .cwd = opts->cwd,
        .stdio = cs.stdio,
        .stdio_count = 3,
    };
    rc = uv_spawn(&loop->uv, &p->uv, &o);
    /* Whatever the outcome: the close callback of a handle that uv_spawn
     * initialised but could not start finds the object through it too. */
    p->uv.data = p;
    /* The child has its own copies of its ends now, or never will. */
    close_child_ends(&cs);
    if (rc)
        goto fail_spawn;
    p->state = PROC_RUNNING;
    p->holds = ASYNCIO__HOLD_OWNER | ASYNCIO__HOLD_HANDLE;
    p->pid = p->uv.pid;

    /* 5. Our ends of the pipes. */
    open_parent_ends(p, pipes, cs.parent);

    /* 6. The loop: its close kills the child if it still runs. */
    p->loop = loop;
    p->closer.close = proc_close;
    asyncio__list_insert(&loop->closers, &p->closer.link);
    *out = p->handle;
    return 0;

fail_spawn: /* 4: our ends of the pipes (the handle goes with the object). */
    close_fds(cs.parent, 3);
fail_stdio: /* 3, which closed what it had made, or 4: the error is raised. */
    raise_spawn_error(file, opts->cwd, rc);
fail_streams: /* 2: the streams, then the object. */
    proc_discard(p);
    return rc;
}

int asyncio_create_subprocess_exec(const char *const *argv, const asyncio_subprocess_opts_t *opts,
                                   asyncio_process_t **out)
{
    if (out)
        *out = NULL;
    if (!argv || !argv[0] || !*argv[0])
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s",
                                   !argv      ? "argv is NULL"
                                   : !argv[0] ? "argv is empty"
                                              : "argv[0] is empty");
    return spawn(argv[0], (char **)argv, opts, out);
}

int asyncio_create_subprocess_shell(const char *cmd, const asyncio_subprocess_opts_t *opts,
                                    asyncio_process_t **out)
{
    if (out)
        *out = NULL;
    if (!cmd)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cmd is NULL");
    char *args[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return spawn("/bin/sh", args, opts, out);
}

int asyncio_process_pid(asyncio_process_t *ap)
{
    proc_t *p = asyncio__handle_get(ap, ASYNCIO__H_PROCESS);
    return p ? p->pid : -1;
}

bool asyncio_process_returncode(asyncio_process_t *ap, int *code)
{
    if (code)
        *code = 0;
    proc_t *p = asyncio__handle_get(ap, ASYNCIO__H_PROCESS);
    if (!p || p->state != PROC_EXITED)
        return false;
    if (code)
        *code = p->returncode;
    return true;
}

/* The current task, which must run on p's loop (unless p has exited). */
static asyncio__task_t *task_for(proc_t *p)
{
    asyncio__task_t *t = asyncio__task_or_raise();
    if (t && p->loop != t->fut.loop && p->state != PROC_EXITED) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the process is attached to a different loop");
        return NULL;
    }
    return t;
}

int asyncio_process_wait(asyncio_process_t *ap, int *code)
{
    if (code)
        *code = 0;
    proc_t *p = checked(ap);
    if (!p)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = task_for(p);
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (p->state != PROC_EXITED) {
        if (p->state != PROC_RUNNING) /* the loop closed under it */
            return asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        /* The exit wakes the waiter; cancelling the task cancels only its
         * own waiter's future, never the child. */
        static const asyncio__wait_kind_t process_wait = {"Process.wait()", describe_process};
        asyncio__waiter_t w;
        asyncio__task_waits_for(t, &process_wait, p);
        int rc = asyncio__waiter_wait(&p->waiters, &w, t);
        asyncio__waiter_end(&w);
        if (rc)
            return rc;
    }
    if (code)
        *code = p->returncode;
    return 0;
}

int asyncio_process_send_signal(asyncio_process_t *ap, int signum)
{
    proc_t *p = checked(ap);
    if (!p)
        return ASYNCIO_EVALUE;
    /* Once reaped, its pid may already be someone else's.  Python raises a
     * bare ProcessLookupError(); the message is os.kill's for a pid that
     * is gone. */
    int rc = p->state == PROC_RUNNING ? uv_process_kill(&p->uv, signum) : UV_ESRCH;
    if (rc)
        asyncio_raise_uv(rc, NULL); /* os.kill's OSError names nothing */
    return rc;
}

int asyncio_process_terminate(asyncio_process_t *p)
{
    return asyncio_process_send_signal(p, SIGTERM);
}

int asyncio_process_kill(asyncio_process_t *p)
{
    return asyncio_process_send_signal(p, SIGKILL);
}

/* ------------------------------------------------------------ streams */

static asyncio_stream_t *stream_of(asyncio_process_t *ap, int i)
{
    proc_t *p = asyncio__handle_get(ap, ASYNCIO__H_PROCESS);
    return p ? p->io[i] : NULL;
}

asyncio_stream_t *asyncio_process_stdin(asyncio_process_t *p)
{
    return stream_of(p, 0);
}

asyncio_stream_t *asyncio_process_stdout(asyncio_process_t *p)
{
    return stream_of(p, 1);
}

asyncio_stream_t *asyncio_process_stderr(asyncio_process_t *p)
{
    return stream_of(p, 2);
}

/* ------------------------------------------------------------ communicate */

/* What communicate's tasks share.  Each task holds a reference through a
 * done callback of its own (a task cancelled before it started never runs
 * its function, but it ends), communicate one more. */
typedef struct comm comm_t;
typedef struct comm_slot {
    comm_t *c;
    int i;
} comm_slot_t;

/* The input is written a chunk at a time (see the opening comment). */
#define FEED_CHUNK ((size_t)64 << 10)

struct comm {
    int refs;
    asyncio_stream_t *io[3];
    comm_slot_t slot[3];
    char *data[3];
    size_t len[3];
    const char *input;     /* the caller's, until communicate returns */
    size_t fed, input_len; /* input[0, fed) is written */
};

/* communicate's reference, to p's streams; NULL and MemoryError. */
static comm_t *comm_new(proc_t *p)
{
    comm_t *c = asyncio__calloc(1, sizeof *c);
    if (!c) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for communicate");
        return NULL;
    }
    c->refs = 1;
    for (int i = 0; i < 3; i++) {
        c->io[i] = p->io[i];
        c->slot[i] = (comm_slot_t){c, i};
    }
    return c;
}

static void comm_unref(comm_t *c)
{
    if (--c->refs > 0)
        return;
    for (int i = 0; i < 3; i++)
        asyncio__free(c->data[i]);
    asyncio__free(c);
}

/* Writes the next chunk of the input: 0 or the raised error. */
static int feed_chunk(comm_t *c)
{
    size_t n = c->input_len - c->fed < FEED_CHUNK ? c->input_len - c->fed : FEED_CHUNK;
    int rc = asyncio_stream_write(c->io[0], c->input + c->fed, n);
    if (rc == 0)
        c->fed += n;
    return rc;
}

/* Feeding stops before the end of the input (cancelled, or failing): the
 * rest goes into the stream now, as Python's single write had put it
 * there. */
static void feed_rest(comm_t *c)
{
    if (!c->io[0] || c->fed >= c->input_len)
        return;
    const asyncio_error_t *before = asyncio_error();
    if (asyncio_stream_write(c->io[0], c->input + c->fed, c->input_len - c->fed) == 0)
        c->fed = c->input_len;
    else if (asyncio_error() != before)
        asyncio_error_clear(); /* the stream's own error: what stopped feeding stays */
}

/* Python's _feed_stdin: writes the input (the first chunk is written
 * already) and drains it, ignoring a child that went away, and closes. */
static void *feed_stdin(void *arg)
{
    comm_slot_t *sl = arg;
    comm_t *c = sl->c;
    int rc = asyncio_stream_drain(c->io[0]);
    while (rc == 0 && c->fed < c->input_len)
        if ((rc = feed_chunk(c)) == 0)
            rc = asyncio_stream_drain(c->io[0]);
    if (rc != 0 &&
        (asyncio_error_matches("BrokenPipeError") || asyncio_error_matches("ConnectionResetError")))
        asyncio_error_clear();
    else if (rc != 0)
        feed_rest(c);
    asyncio_stream_close(c->io[0]);
    return NULL;
}

static void *read_output(void *arg)
{
    comm_slot_t *sl = arg;
    comm_t *c = sl->c;
    asyncio_stream_read_all(c->io[sl->i], &c->data[sl->i], &c->len[sl->i]);
    return NULL;
}

static void comm_task_done(asyncio_future_t *t, void *arg)
{
    (void)t;
    comm_unref(arg);
}

/* Writes the input (copied into the stream) or, without input, closes
 * stdin at once, then starts a task per stream that has work: feeding
 * stdin, reading stdout, reading stderr.  The tasks started are in ts[0 ..
 * *n), also on failure: 0 or the raised error. */
static int comm_start(comm_t *c, const void *input, size_t len, asyncio_future_t *ts[3], size_t *n)
{
    int rc = 0;
    c->input = input;
    c->input_len = len;
    if (c->io[0] && len)
        rc = feed_chunk(c);
    else if (c->io[0])
        asyncio_stream_close(c->io[0]);
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!c->io[i] || (i == 0 && !len))
            continue;
        asyncio_future_t *t = asyncio_create_task(i == 0 ? feed_stdin : read_output, &c->slot[i]);
        if (!t)
            return asyncio_error()->code;
        ts[(*n)++] = t;
        /* A fresh task's first callback is stored inline: cannot fail. */
        asyncio__add_callback(t, comm_task_done, c);
        c->refs++;
    }
    return rc;
}

/* After a failure: cancels the tasks and waits until each has ended (they
 * end at once), so none outlives the call; gives up only while the loop
 * closes (the tasks are being unwound too).  Returns code, with the error
 * that was raised raised again. */
static int comm_abort(asyncio__task_t *self, asyncio_future_t **ts, size_t n, int code)
{
    asyncio__exc_t *exc = asyncio__take_raised();
    for (size_t i = 0; i < n; i++) {
        asyncio_cancel(ts[i], NULL);
        /* Each failed await raised its own error: dropped at once. */
        while (!asyncio_done(ts[i]) && !self->unwinding)
            if (asyncio_await(ts[i], NULL) < 0)
                asyncio_error_clear();
        if (asyncio_done(ts[i]) && !asyncio_cancelled(ts[i]))
            asyncio_exception(ts[i]); /* retrieved: not reported */
    }
    if (exc)
        asyncio__raise_exc(exc);
    return code;
}

/* Gives what was read from stdout and stderr to the caller (read_all's
 * memory: NUL-terminated, also when empty); c NULL: NULL and 0, as a
 * failed call leaves them. */
static void comm_hand_out(comm_t *c, char **out, size_t *out_len, char **err, size_t *err_len)
{
    char **dst[3] = {NULL, out, err};
    size_t *dlen[3] = {NULL, out_len, err_len};
    for (int i = 1; i < 3; i++) {
        if (dlen[i])
            *dlen[i] = c && c->io[i] ? c->len[i] : 0;
        if (dst[i]) {
            *dst[i] = c ? c->data[i] : NULL;
            if (c)
                c->data[i] = NULL;
        }
    }
}

int asyncio_process_communicate(asyncio_process_t *ap, const void *input, size_t len, char **out,
                                size_t *out_len, char **err, size_t *err_len)
{
    comm_hand_out(NULL, out, out_len, err, err_len); /* NULL and 0 until it succeeds */
    proc_t *p = checked(ap);
    if (!p)
        return ASYNCIO_EVALUE;
    if (!input && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "input is NULL");
    if (len && !p->io[0])
        return asyncio__raise_code(ASYNCIO_EVALUE, "input given but stdin is not a pipe");
    asyncio__task_t *self = asyncio__task_or_raise();
    if (!self)
        return ASYNCIO_ERUNTIME;
    if (p->communicating)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "already communicating");
    comm_t *c = comm_new(p);
    if (!c)
        return ASYNCIO_ENOMEM;

    asyncio_future_t *ts[3];
    size_t n = 0;
    int rc = comm_start(c, input, len, ts, &n);
    /* From here until the tasks are gone the process may not be freed:
     * they use its streams. */
    p->communicating = true;
    if (rc == 0)
        rc = asyncio_gather(ts, n, NULL, 0);
    if (rc) {
        rc = comm_abort(self, ts, n, rc);
        feed_rest(c);
    } else {
        rc = asyncio_process_wait(ap, NULL);
    }
    p->communicating = false;
    for (size_t i = 0; i < n; i++)
        asyncio_decref(ts[i]);

    if (rc == 0)
        comm_hand_out(c, out, out_len, err, err_len);
    comm_unref(c);
    return rc;
}

/* ------------------------------------------------------------ free */

void asyncio_process_free(asyncio_process_t *ap)
{
    if (!ap)
        return;
    proc_t *p = asyncio__handle_check(ap, ASYNCIO__H_PROCESS, "process");
    if (!p)
        return;
    if (!asyncio__waitq_empty(&p->waiters) || p->communicating) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "tasks are waiting on the process");
        return;
    }
    /* Streams a task still uses refuse to go (RuntimeError): the process
     * stays then, with the streams not yet released, for another try. */
    for (int i = 0; i < 3; i++) {
        if (!p->io[i])
            continue;
        const asyncio_error_t *before = asyncio_error();
        asyncio_stream_free(p->io[i]);
        if (asyncio_error() != before)
            return;
        p->io[i] = NULL;
    }
    asyncio__handle_retire(ap);
    /* Python's transport close: a child still running is killed; libuv
     * reaps it and its exit callback closes the process handle. */
    if (p->state == PROC_RUNNING)
        uv_process_kill(&p->uv, SIGKILL);
    proc_release(p, ASYNCIO__HOLD_OWNER);
}
