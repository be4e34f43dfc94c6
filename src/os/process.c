/*
 * Subprocesses: asyncio.create_subprocess_exec/_shell and Process on
 * libuv's uv_spawn.
 *
 * A process object owns a uv_process_t and up to three streams (the
 * parent's ends of the child's stdin, stdout, stderr: stream.c's
 * asyncio_stream_t over a uv_pipe_t, as Python's StreamWriter and
 * StreamReaders).  Its memory goes once the user released it
 * (asyncio_process_free) and the process handle is closed, which happens
 * when the child has exited and been reaped.  Loop close (the closer)
 * kills a child still running and reaps it; the streams are closed and
 * freed by their own closers then, so the process forgets them; the
 * object itself stays for the user to free.
 *
 * Pipes are created here with uv_pipe() rather than UV_CREATE_PIPE, so
 * that a child's stderr can share its stdout pipe (Python's STDOUT); the
 * parent's end is then opened in the stream's uv_pipe_t.
 *
 * communicate is Python's: a task writes the input and closes stdin while
 * one task per output reads it to its end, all gathered, then the exit is
 * awaited.  What the tasks share lives on the heap, so a cancelled
 * communicate never leaves them pointing into its frame.
 */
#include "core/handle.h"
#include "core/core.h"
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct proc proc_t;

/* A task in asyncio_process_wait (its node lives in the wait's frame: the
 * wait always unlinks it before returning). */
typedef struct exit_waiter {
    struct exit_waiter *next;
    asyncio_future_t *fut;
} exit_waiter_t;

struct proc {
    void *handle; /* what the caller holds (handle.h) */
    uv_process_t uv;
    asyncio_loop_t *loop; /* NULL once the loop closed */
    asyncio__closer_t closer;
    asyncio_stream_t *io[3]; /* NULL: not a pipe (or the loop closed) */
    int pid;
    bool exited;
    int returncode;
    bool released;     /* asyncio_process_free was called */
    bool process_open; /* the uv_process_t is open (not closing) */
    bool handle_live;  /* its close callback has not run yet */
    bool communicating;
    exit_waiter_t *waiters;
};

static void maybe_free(proc_t *p)
{
    if (p->handle_live || !p->released)
        return;
    if (p->loop)
        asyncio__list_remove(&p->closer.link);
    asyncio__free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    p->process_open = false;
    p->handle_live = false;
    if (p->loop) {
        asyncio__list_remove(&p->closer.link);
        p->loop = NULL; /* nothing left for loop close to do */
    }
    maybe_free(p);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int term_signal)
{
    proc_t *p = h->data;
    p->exited = true;
    p->returncode = term_signal ? -term_signal : (int)status;
    for (exit_waiter_t *w = p->waiters; w; w = w->next)
        if (w->fut->state == ASYNCIO__PENDING)
            asyncio__future_finish(w->fut, NULL, NULL);
    p->process_open = false;
    uv_close((uv_handle_t *)&p->uv, on_handle_closed);
}

/* ------------------------------------------------------------ life cycle */

/* Loop close: the child is killed and reaped, every handle closed. */
static void proc_close(asyncio__closer_t *c)
{
    proc_t *p = asyncio__container_of(c, proc_t, closer);
    if (p->process_open) {
        if (!p->exited) {
            uv_process_kill(&p->uv, SIGKILL);
            /* libuv stops watching it: reap it here (SIGKILL is prompt). */
            int st;
            while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
        p->process_open = false;
        uv_close((uv_handle_t *)&p->uv, on_handle_closed);
    }
    /* The streams' own closers close them; asyncio_process_free frees
     * them. */
    p->loop = NULL; /* the closer was unlinked by loop close */
}

static proc_t *checked(const char *who, asyncio_process_t *ap)
{
    (void)who;
    return asyncio__handle_check(ap, ASYNCIO__H_PROCESS, "process");
}

static int spawn(const char *who, const char *file, char **args,
                 const asyncio_subprocess_opts_t *opts, asyncio_process_t **out)
{
    asyncio_loop_t *loop = asyncio_get_running_loop();
    if (!loop)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: no running event loop", who);
    if (!out)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: out is NULL", who);
    static const asyncio_subprocess_opts_t defaults;
    if (!opts)
        opts = &defaults;
    enum asyncio_stdio modes[3] = {opts->stdin_mode, opts->stdout_mode, opts->stderr_mode};
    for (int i = 0; i < 3; i++)
        if ((unsigned)modes[i] > ASYNCIO_STDIO_STDOUT ||
            (i < 2 && modes[i] == ASYNCIO_STDIO_STDOUT))
            return asyncio__raise_code(ASYNCIO_EVALUE, "%s: invalid mode %d for %s", who,
                                       (int)modes[i],
                                       i == 0   ? "stdin"
                                       : i == 1 ? "stdout"
                                                : "stderr");
    proc_t *p = asyncio__calloc(1, sizeof *p);
    if (!p)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a process");
    if (!asyncio__handle_give(p, &p->handle, ASYNCIO__H_PROCESS))
        return ASYNCIO_ENOMEM;
    /* child[i]: the descriptor the child gets as i, closed after spawn
     * (those we made); parent[i]: our end of a pipe. */
    int child[3] = {-1, -1, -1}, parent[3] = {-1, -1, -1}, devnull = -1, rc = 0;
    uv_pipe_t *pipes[3] = {NULL, NULL, NULL};
    /* The streams first: nothing can fail once the child runs. */
    for (int i = 0; i < 3 && rc == 0; i++)
        if (modes[i] == ASYNCIO_STDIO_PIPE &&
            !(p->io[i] = asyncio__stream_pipe_new(loop, &pipes[i])))
            rc = asyncio_error() ? asyncio_error()->code : ASYNCIO_ENOMEM;
    if (rc) {
        for (int i = 0; i < 3; i++)
            asyncio_stream_free(p->io[i]);
        asyncio__handle_retire(p->handle);
        asyncio__free(p);
        return rc; /* raised */
    }
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3 && rc == 0; i++) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = i;
        switch (modes[i]) {
        case ASYNCIO_STDIO_INHERIT:
            break;
        case ASYNCIO_STDIO_DEVNULL:
            if (devnull < 0 && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                rc = uv_translate_sys_error(errno);
            stdio[i].data.fd = devnull;
            break;
        case ASYNCIO_STDIO_STDOUT:
            stdio[i] = stdio[1];
            break;
        case ASYNCIO_STDIO_PIPE: {
            int fds[2];
            /* Our end non-blocking, the child's as children expect. */
            rc = i == 0 ? uv_pipe(fds, 0, UV_NONBLOCK_PIPE) : uv_pipe(fds, UV_NONBLOCK_PIPE, 0);
            if (rc)
                break;
            parent[i] = i == 0 ? fds[1] : fds[0];
            child[i] = i == 0 ? fds[0] : fds[1];
            stdio[i].data.fd = child[i];
            break;
        }
        }
    }
    uv_process_options_t o = {0};
    o.exit_cb = on_exit_cb;
    o.file = file;
    o.args = args;
    o.env = (char **)opts->env;
    o.cwd = opts->cwd;
    o.stdio = stdio;
    o.stdio_count = 3;
    if (rc == 0)
        rc = uv_spawn(&loop->uv, &p->uv, &o);
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0)
            close(child[i]);
    if (devnull >= 0)
        close(devnull);
    if (rc) {
        for (int i = 0; i < 3; i++) {
            if (parent[i] >= 0)
                close(parent[i]);
            asyncio_stream_free(p->io[i]);
        }
        asyncio__handle_retire(p->handle);
        /* A failed uv_spawn leaves an initialised handle: closed and freed
         * with it. */
        if (uv_is_active((uv_handle_t *)&p->uv) || p->uv.loop) {
            p->released = true;
            p->handle_live = true; /* until its close callback */
            p->uv.data = p;
            uv_close((uv_handle_t *)&p->uv, on_handle_closed);
        } else {
            asyncio__free(p);
        }
        /* Python names what is missing: the working directory when that
         * is what the child could not enter. */
        const char *what = file;
        if (opts->cwd && (rc == UV_ENOENT || rc == UV_ENOTDIR || rc == UV_EACCES) &&
            access(opts->cwd, X_OK) != 0)
            what = opts->cwd;
        asyncio_raise_uv(rc, "%s: '%s'", who, what);
        return rc;
    }
    p->loop = loop;
    p->pid = p->uv.pid;
    p->uv.data = p;
    p->process_open = p->handle_live = true;
    for (int i = 0; i < 3; i++) {
        if (!p->io[i])
            continue;
        /* Opening a descriptor of our own in a fresh handle does not fail
         * in practice; if it does, that stream is simply not there. */
        int orc = uv_pipe_open(pipes[i], parent[i]);
        if (orc)
            close(parent[i]);
        else if ((orc = asyncio__stream_pipe_start(p->io[i], i != 0)) != 0)
            asyncio_error_clear();
        if (orc) {
            asyncio_stream_free(p->io[i]);
            p->io[i] = NULL;
        }
    }
    p->closer.close = proc_close;
    asyncio__list_insert(&loop->closers, &p->closer.link);
    *out = p->handle;
    return 0;
}

int asyncio_create_subprocess_exec(const char *const *argv, const asyncio_subprocess_opts_t *opts,
                                   asyncio_process_t **out)
{
    if (!argv || !argv[0] || !*argv[0])
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_create_subprocess_exec: %s",
                                   !argv ? "argv is NULL" : "the program name is missing");
    return spawn("asyncio_create_subprocess_exec", argv[0], (char **)argv, opts, out);
}

int asyncio_create_subprocess_shell(const char *cmd, const asyncio_subprocess_opts_t *opts,
                                    asyncio_process_t **out)
{
    if (!cmd)
        return asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_create_subprocess_shell: cmd is NULL");
    char *args[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return spawn("asyncio_create_subprocess_shell", "/bin/sh", args, opts, out);
}

int asyncio_process_pid(asyncio_process_t *ap)
{
    proc_t *p = asyncio__handle_get(ap, ASYNCIO__H_PROCESS);
    return p ? p->pid : -1;
}

bool asyncio_process_returncode(asyncio_process_t *ap, int *code)
{
    proc_t *p = asyncio__handle_get(ap, ASYNCIO__H_PROCESS);
    if (!p || !p->exited)
        return false;
    if (code)
        *code = p->returncode;
    return true;
}

static asyncio__task_t *task_for(const char *who, proc_t *p)
{
    asyncio__task_t *t = asyncio__require_task(who);
    if (t && p->loop != t->fut.loop && !p->exited) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: the process belongs to another loop", who);
        return NULL;
    }
    return t;
}

int asyncio_process_wait(asyncio_process_t *ap, int *code)
{
    static const char who[] = "asyncio_process_wait";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    asyncio__task_t *t = task_for(who, p);
    if (!t)
        return ASYNCIO_ERUNTIME;
    if (!p->exited) {
        if (!p->process_open) /* the loop closed under it */
            return asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: Event loop is closed", who);
        exit_waiter_t w = {p->waiters, asyncio__future_new(t->fut.loop)};
        if (!w.fut)
            return ASYNCIO_ENOMEM;
        p->waiters = &w;
        int rc = asyncio__task_wait_private(t, w.fut);
        exit_waiter_t **pp = &p->waiters;
        while (*pp != &w)
            pp = &(*pp)->next;
        *pp = w.next;
        asyncio_decref(w.fut);
        if (rc)
            return rc;
    }
    if (code)
        *code = p->returncode;
    return 0;
}

int asyncio_process_send_signal(asyncio_process_t *ap, int signum)
{
    static const char who[] = "asyncio_process_send_signal";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    if (p->exited || !p->process_open) {
        asyncio_raise_uv(UV_ESRCH, "%s: the process has exited", who);
        return UV_ESRCH;
    }
    int rc = uv_process_kill(&p->uv, signum);
    if (rc)
        asyncio_raise_uv(rc, "%s(%d)", who, signum);
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

struct comm {
    int refs;
    asyncio_stream_t *io[3];
    comm_slot_t slot[3];
    char *data[3];
    size_t len[3];
};

static void comm_unref(comm_t *c)
{
    if (--c->refs > 0)
        return;
    for (int i = 0; i < 3; i++)
        asyncio__free(c->data[i]);
    asyncio__free(c);
}

/* Python's _feed_stdin: the input is already written (copied into the
 * stream); drain it, ignoring a child that went away, and close. */
static void *feed_stdin(void *arg)
{
    comm_slot_t *sl = arg;
    comm_t *c = sl->c;
    if (asyncio_stream_drain(c->io[0]) != 0 &&
        (asyncio_error_matches("BrokenPipeError") || asyncio_error_matches("ConnectionResetError")))
        asyncio_error_clear();
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

/* After a failure: cancels the tasks and waits until each has ended (they
 * end at once), so none outlives the call; gives up only while the loop
 * closes (the tasks are being unwound too).  Returns code, with the error
 * that was raised raised again. */
static int comm_abort(asyncio__task_t *self, asyncio_future_t **ts, size_t n, int code)
{
    asyncio__exc_t *exc = asyncio__take_raised();
    for (size_t i = 0; i < n; i++) {
        asyncio_cancel(ts[i], NULL);
        while (!asyncio_done(ts[i]) && !self->unwinding)
            asyncio_await(ts[i], NULL);
        if (asyncio_done(ts[i]) && !asyncio_cancelled(ts[i]))
            asyncio_exception(ts[i]); /* retrieved: not reported */
        asyncio_error_clear();
    }
    if (exc)
        asyncio__raise_exc(exc);
    return code;
}

int asyncio_process_communicate(asyncio_process_t *ap, const void *input, size_t len, char **out,
                                size_t *out_len, char **err, size_t *err_len)
{
    static const char who[] = "asyncio_process_communicate";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    if (!input && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: input is NULL", who);
    if (len && !p->io[0])
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: input given but stdin is not a pipe", who);
    asyncio__task_t *self = asyncio__require_task(who);
    if (!self)
        return ASYNCIO_ERUNTIME;
    if (p->communicating)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: already communicating", who);
    comm_t *c = asyncio__calloc(1, sizeof *c);
    if (!c)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "%s", who);
    c->refs = 1;
    asyncio_future_t *ts[3];
    size_t n = 0;
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        c->io[i] = p->io[i];
        c->slot[i] = (comm_slot_t){c, i};
    }
    if (c->io[0] && len)
        rc = asyncio_stream_write(c->io[0], input, len);
    else if (c->io[0])
        asyncio_stream_close(c->io[0]); /* no input: stdin closed at once */
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!c->io[i] || (i == 0 && !len))
            continue;
        asyncio_future_t *t = asyncio_create_task(i == 0 ? feed_stdin : read_output, &c->slot[i]);
        if (!t) {
            rc = asyncio_error()->code;
            break;
        }
        ts[n++] = t;
        /* A fresh task's first callback is stored inline: cannot fail. */
        asyncio__add_callback(t, comm_task_done, c);
        c->refs++;
    }
    p->communicating = true;
    if (rc == 0)
        rc = asyncio_gather(ts, n, NULL, 0);
    if (rc)
        rc = comm_abort(self, ts, n, rc);
    else
        rc = asyncio_process_wait(ap, NULL);
    p->communicating = false;
    for (size_t i = 0; i < n; i++)
        asyncio_decref(ts[i]);
    if (rc == 0) {
        char **dst[3] = {NULL, out, err};
        size_t *dlen[3] = {NULL, out_len, err_len};
        for (int i = 1; i < 3; i++) {
            if (dlen[i])
                *dlen[i] = c->io[i] ? c->len[i] : 0;
            if (dst[i]) {
                *dst[i] = c->data[i];
                c->data[i] = NULL;
            }
        }
    }
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
    if (p->waiters || p->communicating) {
        asyncio__raise_code(ASYNCIO_ERUNTIME,
                            "asyncio_process_free: tasks are waiting on the process");
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
    p->released = true;
    /* Python's transport close: a child still running is killed; libuv
     * reaps it and its exit callback closes the process handle. */
    if (p->process_open && !p->exited)
        uv_process_kill(&p->uv, SIGKILL);
    maybe_free(p);
}
