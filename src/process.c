/*
 * Subprocesses: asyncio.create_subprocess_exec/_shell and Process on
 * libuv's uv_spawn.
 *
 * A process object owns a uv_process_t and up to three uv_pipe_t (the
 * parent's ends of the child's stdin, stdout, stderr).  Its memory goes
 * once the user released it (asyncio_process_free) and every handle is
 * closed: the process handle closes when the child has exited and been
 * reaped, the pipes when released or at end of file.  Loop close (the
 * closer) kills a child still running, reaps it and closes everything, so
 * no handle outlives the loop; the object itself stays for the user to
 * free.
 *
 * Pipes are created here with uv_pipe() rather than UV_CREATE_PIPE, so
 * that a child's stderr can share its stdout pipe (Python's STDOUT).
 * Reading: one reader per pipe at a time.  asyncio_process_read reads
 * straight into the caller's buffer: libuv's alloc callback hands it out
 * and the read callback runs right after the read(2), within the same I/O
 * callback, so stopping the read (on cancellation) means the buffer is no
 * longer used.  communicate collects into buffers of the process object.
 * Writing: the bytes are copied into the write request (Python's transport
 * buffer), so a cancelled write finishes in the background.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROCESS_MAGIC 0x9C0C0001u
#define READ_CHUNK 65536

typedef struct proc proc_t;

/* The parent's end of one of the child's standard streams. */
typedef struct pipe_end {
    uv_pipe_t uv;
    proc_t *proc;
    bool used;    /* this stream is a pipe */
    bool open;    /* the handle is open (not closing) */
    bool eof;     /* read: end of file seen */
    bool reading; /* uv_read_start is on */
    int error;    /* read: the error that ended it */
    /* asyncio_process_read: the caller's buffer. */
    char *ubuf;
    size_t un, got;
    /* communicate: what was collected. */
    bool collect;
    char *buf;
    size_t len, cap;
    asyncio_future_t *waiter; /* a task's private future */
} pipe_end_t;

/* A task in asyncio_process_wait (its node lives in the wait's frame: the
 * wait always unlinks it before returning). */
typedef struct exit_waiter {
    struct exit_waiter *next;
    asyncio_future_t *fut;
} exit_waiter_t;

/* A write to stdin; owns a copy of its bytes. */
typedef struct write_req {
    uv_write_t uv;
    proc_t *proc;
    asyncio_future_t *fut; /* the writer's private future, NULL if none */
    bool close_after;      /* communicate: close stdin once written */
    size_t len;
    char data[];
} write_req_t;

struct proc {
    uint32_t magic;
    uv_process_t uv;
    asyncio_loop_t *loop; /* NULL once the loop closed */
    asyncio__closer_t closer;
    pipe_end_t io[3];
    int pid;
    bool exited;
    int returncode;
    bool released;     /* asyncio_process_free was called */
    bool process_open; /* the uv_process_t is open */
    int handles_open;
    int pending_writes;
    bool communicating;
    int comm_pending;              /* communicate: parts still running */
    int comm_write_status;         /* communicate: the stdin write's outcome */
    asyncio_future_t *comm_waiter; /* communicate: woken when comm_pending is 0 */
    exit_waiter_t *waiters;
};

static void maybe_free(proc_t *p)
{
    if (p->handles_open > 0 || !p->released)
        return;
    if (p->loop)
        asyncio__list_remove(&p->closer.link);
    p->magic = 0;
    asyncio__free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    p->handles_open--;
    if (p->handles_open == 0 && p->loop) {
        asyncio__list_remove(&p->closer.link);
        p->loop = NULL; /* nothing left for loop close to do */
    }
    maybe_free(p);
}

static void wake(asyncio_future_t **w, int status)
{
    asyncio_future_t *f = *w;
    *w = NULL;
    if (f && f->state == ASYNCIO__PENDING)
        asyncio__future_finish(f, (void *)(intptr_t)status, NULL);
    asyncio_decref(f);
}

static void pipe_close(pipe_end_t *pe)
{
    if (!pe->open)
        return;
    pe->open = false;
    pe->reading = false;
    uv_close((uv_handle_t *)&pe->uv, on_handle_closed);
}

static void comm_part_done(proc_t *p)
{
    if (p->communicating && --p->comm_pending == 0)
        wake(&p->comm_waiter, 0);
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

/* ------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    pipe_end_t *pe = asyncio__container_of((uv_pipe_t *)h, pipe_end_t, uv);
    if (!pe->collect) {
        *buf = uv_buf_init(pe->ubuf, (unsigned)pe->un);
        return;
    }
    if (pe->cap - pe->len < READ_CHUNK) {
        size_t cap = pe->cap ? pe->cap * 2 : 2 * READ_CHUNK;
        char *grown = asyncio__realloc(pe->buf, cap);
        if (!grown) {
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        pe->buf = grown;
        pe->cap = cap;
    }
    *buf = uv_buf_init(pe->buf + pe->len, (unsigned)(pe->cap - pe->len - 1));
}

static void read_stop(pipe_end_t *pe)
{
    if (pe->reading) {
        uv_read_stop((uv_stream_t *)&pe->uv);
        pe->reading = false;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    pipe_end_t *pe = asyncio__container_of((uv_pipe_t *)s, pipe_end_t, uv);
    if (n == 0)
        return; /* EAGAIN */
    if (n > 0) {
        if (pe->collect) {
            pe->len += (size_t)n;
            return;
        }
        pe->got = (size_t)n;
    } else {
        pe->eof = true;
        pe->error = n == UV_EOF ? 0 : (int)n;
        pipe_close(pe); /* nothing more to read: the descriptor goes now */
    }
    read_stop(pe);
    if (pe->collect) {
        pe->collect = false;
        comm_part_done(pe->proc);
    } else {
        wake(&pe->waiter, 0);
    }
}

/* ------------------------------------------------------------ writing */

static void on_write(uv_write_t *w, int status)
{
    write_req_t *r = asyncio__container_of(w, write_req_t, uv);
    proc_t *p = r->proc;
    p->pending_writes--;
    if (r->close_after) {
        /* Python ignores a child that does not read its input. */
        p->comm_write_status = status == UV_EPIPE || status == UV_ECONNRESET ? 0 : status;
        pipe_close(&p->io[0]);
        comm_part_done(p);
    }
    wake(&r->fut, status);
    asyncio__free(r);
}

static int write_start(proc_t *p, const void *data, size_t len, bool close_after,
                       asyncio_future_t *fut)
{
    write_req_t *r = asyncio__malloc(sizeof *r + len);
    if (!r)
        return ASYNCIO_ENOMEM;
    if (len)
        memcpy(r->data, data, len);
    r->proc = p;
    r->fut = fut;
    r->close_after = close_after;
    r->len = len;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    int rc = uv_write(&r->uv, (uv_stream_t *)&p->io[0].uv, &b, 1, on_write);
    if (rc) {
        asyncio__free(r);
        return rc;
    }
    if (fut)
        asyncio_incref(fut);
    p->pending_writes++;
    return 0;
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
    for (int i = 0; i < 3; i++)
        pipe_close(&p->io[i]);
    p->loop = NULL; /* the closer was unlinked by loop close */
}

static proc_t *checked(const char *who, asyncio_process_t *ap)
{
    proc_t *p = (proc_t *)ap;
    if (!p || p->magic != PROCESS_MAGIC || p->released) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: %s", who,
                            p ? "not a live process object" : "process is NULL");
        return NULL;
    }
    return p;
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
        return asyncio__raise_code(ASYNCIO_ENOMEM, "%s", who);
    /* child[i]: the descriptor the child gets as i, closed after spawn
     * (those we made); parent[i]: our end of a pipe. */
    int child[3] = {-1, -1, -1}, parent[3] = {-1, -1, -1}, devnull = -1, rc = 0;
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
        for (int i = 0; i < 3; i++)
            if (parent[i] >= 0)
                close(parent[i]);
        /* A failed uv_spawn leaves an initialised handle: closed and freed
         * with it. */
        if (uv_is_active((uv_handle_t *)&p->uv) || p->uv.loop) {
            p->released = true;
            p->handles_open = 1;
            p->uv.data = p;
            uv_close((uv_handle_t *)&p->uv, on_handle_closed);
        } else {
            asyncio__free(p);
        }
        asyncio_raise_uv(rc, "%s: '%s'", who, file);
        return rc;
    }
    p->magic = PROCESS_MAGIC;
    p->loop = loop;
    p->pid = p->uv.pid;
    p->uv.data = p;
    p->process_open = true;
    p->handles_open = 1;
    for (int i = 0; i < 3; i++) {
        pipe_end_t *pe = &p->io[i];
        pe->proc = p;
        if (parent[i] < 0)
            continue;
        pe->used = true;
        uv_pipe_init(&loop->uv, &pe->uv, 0);
        pe->uv.data = p;
        p->handles_open++;
        pe->open = true;
        if (uv_pipe_open(&pe->uv, parent[i]) != 0) {
            close(parent[i]);
            pipe_close(pe); /* reads as end of file, writes as closed */
            pe->eof = true;
        }
    }
    p->closer.close = proc_close;
    asyncio__list_insert(&loop->closers, &p->closer.link);
    *out = (asyncio_process_t *)p;
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
    proc_t *p = (proc_t *)ap;
    return p && p->magic == PROCESS_MAGIC ? p->pid : -1;
}

bool asyncio_process_returncode(asyncio_process_t *ap, int *code)
{
    proc_t *p = (proc_t *)ap;
    if (!p || p->magic != PROCESS_MAGIC || !p->exited)
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

/* ------------------------------------------------------------ pipes */

static pipe_end_t *pipe_for(const char *who, proc_t *p, int i)
{
    pipe_end_t *pe = &p->io[i];
    const char *name = i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr";
    if (!pe->used) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s: %s is not a pipe", who, name);
        return NULL;
    }
    if (pe->waiter || pe->collect || p->communicating) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s: another task is using %s", who, name);
        return NULL;
    }
    return pe;
}

int asyncio_process_read(asyncio_process_t *ap, int which, void *buf, size_t n, size_t *nread)
{
    static const char who[] = "asyncio_process_read";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    if (which != 1 && which != 2)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: which must be 1 (stdout) or 2 (stderr)",
                                   who);
    if (!buf && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: buf is NULL", who);
    asyncio__task_t *t = task_for(who, p);
    if (!t)
        return ASYNCIO_ERUNTIME;
    pipe_end_t *pe = pipe_for(who, p, which);
    if (!pe)
        return asyncio_error()->code;
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    if (nread)
        *nread = 0;
    if (pe->eof || !pe->open || n == 0) {
        if (pe->error) {
            asyncio_raise_uv(pe->error, "%s", who);
            return pe->error;
        }
        return 0;
    }
    if (!(pe->waiter = asyncio__future_new(t->fut.loop)))
        return ASYNCIO_ENOMEM;
    asyncio_future_t *fut = asyncio_incref(pe->waiter);
    pe->ubuf = buf;
    pe->un = n;
    pe->got = 0;
    int rc = uv_read_start((uv_stream_t *)&pe->uv, on_alloc, on_read);
    if (rc == 0) {
        pe->reading = true;
        rc = asyncio__task_wait_private(t, fut);
    } else {
        asyncio_raise_uv(rc, "%s", who);
    }
    /* Cancelled, or done: either way the caller's buffer is let go. */
    read_stop(pe);
    pe->ubuf = NULL;
    if (pe->waiter == fut) {
        pe->waiter = NULL;
        asyncio_decref(fut);
    }
    asyncio_decref(fut);
    if (rc)
        return rc;
    if (pe->error) {
        asyncio_raise_uv(pe->error, "%s", who);
        return pe->error;
    }
    if (nread)
        *nread = pe->got;
    return 0;
}

int asyncio_process_write(asyncio_process_t *ap, const void *data, size_t n)
{
    static const char who[] = "asyncio_process_write";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    if (!data && n)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: data is NULL", who);
    asyncio__task_t *t = task_for(who, p);
    if (!t)
        return ASYNCIO_ERUNTIME;
    pipe_end_t *pe = pipe_for(who, p, 0);
    if (!pe)
        return asyncio_error()->code;
    if (!pe->open)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: stdin is closed", who);
    if (n > UINT32_MAX)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: %zu bytes at once is too many", who, n);
    asyncio_future_t *fut = asyncio__future_new(t->fut.loop);
    if (!fut)
        return ASYNCIO_ENOMEM;
    int rc = write_start(p, data, n, false, fut);
    if (rc == 0) {
        /* Cancelled, the write goes on in the background with its copy. */
        rc = asyncio__task_wait_private(t, fut);
        if (rc == 0)
            rc = (int)(intptr_t)fut->result;
    }
    asyncio_decref(fut);
    if (rc == ASYNCIO_ENOMEM)
        asyncio__raise_code(rc, "%s", who);
    else if (rc < 0 && rc != ASYNCIO_ECANCELLED)
        asyncio_raise_uv(rc, "%s", who);
    return rc;
}

int asyncio_process_close_stdin(asyncio_process_t *ap)
{
    static const char who[] = "asyncio_process_close_stdin";
    proc_t *p = checked(who, ap);
    if (!p)
        return ASYNCIO_EVALUE;
    pipe_end_t *pe = &p->io[0];
    if (!pe->used)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: stdin is not a pipe", who);
    /* Pending writes are cut short (their writers see ECANCELED), as
     * transport.close() does not: close after write + drain. */
    pipe_close(pe);
    return 0;
}

/* ------------------------------------------------------------ communicate */

static void comm_reset(proc_t *p)
{
    p->communicating = false;
    for (int i = 1; i < 3; i++) {
        pipe_end_t *pe = &p->io[i];
        if (pe->collect) {
            read_stop(pe);
            pe->collect = false;
        }
        asyncio__free(pe->buf);
        pe->buf = NULL;
        pe->len = pe->cap = 0;
    }
    asyncio_decref(p->comm_waiter);
    p->comm_waiter = NULL;
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
    if (len && !p->io[0].used)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: input given but stdin is not a pipe", who);
    asyncio__task_t *t = task_for(who, p);
    if (!t)
        return ASYNCIO_ERUNTIME;
    for (int i = 0; i < 3; i++)
        if (p->io[i].used && !pipe_for(who, p, i))
            return ASYNCIO_ERUNTIME;
    if (len > UINT32_MAX)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s: input too large", who);
    if (!(p->comm_waiter = asyncio__future_new(t->fut.loop)))
        return ASYNCIO_ENOMEM;
    asyncio_future_t *fut = asyncio_incref(p->comm_waiter);
    p->communicating = true;
    p->comm_pending = 1; /* this call's own, dropped once all is started */
    p->comm_write_status = 0;
    int rc = 0;
    if (p->io[0].open) {
        if (len) {
            if ((rc = write_start(p, input, len, true, NULL)) == 0)
                p->comm_pending++;
        } else {
            pipe_close(&p->io[0]);
        }
    }
    for (int i = 1; i < 3 && rc == 0; i++) {
        pipe_end_t *pe = &p->io[i];
        if (!pe->used || pe->eof || !pe->open)
            continue;
        pe->collect = true;
        if ((rc = uv_read_start((uv_stream_t *)&pe->uv, on_alloc, on_read)) != 0) {
            pe->collect = false;
            break;
        }
        pe->reading = true;
        p->comm_pending++;
    }
    if (rc) {
        comm_reset(p);
        asyncio_decref(fut);
        if (rc == ASYNCIO_ENOMEM)
            return asyncio__raise_code(rc, "%s", who);
        asyncio_raise_uv(rc, "%s", who);
        return rc;
    }
    if (--p->comm_pending == 0)
        wake(&p->comm_waiter, 0);
    rc = asyncio__task_wait_private(t, fut);
    asyncio_decref(fut);
    if (rc == 0) {
        for (int i = 1; i < 3; i++)
            if (p->io[i].error) {
                rc = p->io[i].error;
                asyncio_raise_uv(rc, "%s: reading %s", who, i == 1 ? "stdout" : "stderr");
            }
        if (rc == 0 && p->comm_write_status) {
            rc = p->comm_write_status;
            asyncio_raise_uv(rc, "%s: writing stdin", who);
        }
    }
    if (rc) {
        if (p->io[0].open && p->pending_writes)
            pipe_close(&p->io[0]); /* stops using the input */
        comm_reset(p);
        return rc;
    }
    p->communicating = false; /* the wait for exit may be shared */
    rc = asyncio_process_wait(ap, NULL);
    if (rc) {
        comm_reset(p);
        return rc;
    }
    char **dst[3] = {NULL, out, err};
    size_t *dlen[3] = {NULL, out_len, err_len};
    for (int i = 1; i < 3; i++) {
        pipe_end_t *pe = &p->io[i];
        if (dst[i])
            *dst[i] = NULL;
        if (dlen[i])
            *dlen[i] = 0;
        if (!pe->used)
            continue;
        if (!pe->buf && !(pe->buf = asyncio__malloc(1))) {
            comm_reset(p);
            return asyncio__raise_code(ASYNCIO_ENOMEM, "%s", who);
        }
        pe->buf[pe->len] = '\0';
        if (dlen[i])
            *dlen[i] = pe->len;
        if (dst[i]) {
            *dst[i] = pe->buf;
            pe->buf = NULL;
        }
    }
    comm_reset(p);
    return 0;
}

/* ------------------------------------------------------------ free */

void asyncio_process_free(asyncio_process_t *ap)
{
    proc_t *p = (proc_t *)ap;
    if (!p)
        return;
    if (p->magic != PROCESS_MAGIC || p->released) {
        asyncio__raise_code(ASYNCIO_EVALUE, "asyncio_process_free: not a live process object");
        return;
    }
    if (p->waiters || p->communicating || p->io[1].waiter || p->io[2].waiter) {
        asyncio__raise_code(ASYNCIO_ERUNTIME,
                            "asyncio_process_free: tasks are waiting on the process");
        return;
    }
    p->released = true;
    /* Python's transport close: a child still running is killed; libuv
     * reaps it and its exit callback closes the process handle. */
    if (p->process_open && !p->exited)
        uv_process_kill(&p->uv, SIGKILL);
    for (int i = 0; i < 3; i++)
        pipe_close(&p->io[i]);
    maybe_free(p);
}
