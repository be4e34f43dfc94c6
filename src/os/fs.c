/*
 * Files on libuv's fs API: whole-file helpers and open/read/write/close.
 * The system calls run in libuv's thread pool; the task waits on a private
 * future that the request's callback finishes.
 *
 * A request lives on the heap, never on the task's stack: a task that is
 * cancelled may leave before its request ends.  What happens then:
 *  - a request not yet started in the pool is withdrawn with uv_cancel; its
 *    callback comes later with UV_ECANCELED and frees it ("abandoned");
 *  - one already running cannot be stopped and may be using the caller's
 *    buffer, so the task waits for it to end (a second cancel does not cut
 *    that wait short), releases its result, then raises the CancelledError;
 *  - only a task being unwound by loop close cannot wait: the request is
 *    abandoned and its callback, run by asyncio_loop_close, releases it.
 * Releasing a result means closing a descriptor it opened and freeing the
 * buffer it filled.
 *
 * An open file is given out as a handle (handle.h): its memory goes at
 * close, and a closed file's handle is refused by every call without
 * touching that memory.
 */
#include "core/core.h"
#include "core/handle.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file {
    void *handle; /* what the caller holds (handle.h) */
    int fd;
    int busy; /* reads and writes in flight: close refuses meanwhile */
    bool readable, writable, append;
} file_t;

typedef struct fs_req {
    uv_fs_t uv;            /* one fs operation, or */
    uv_work_t work;        /* a whole-file job (is_work) */
    asyncio_future_t *fut; /* the waiting task's private future */
    bool done;             /* the callback has run */
    bool abandoned;        /* the task left: the callback releases it */
    bool result_is_fd;     /* an open: a successful result is a descriptor */
    bool is_work;
    bool uses_nothing_of_callers; /* may be left running when cancelled */
    int own_fd;                   /* a descriptor to close on release, or -1 */
    char *buf;                    /* a buffer it owns (read_all), or NULL */
    /* A whole-file job: */
    size_t len;       /* read: bytes in buf; write: bytes at data */
    const char *data; /* write: the caller's bytes */
    int flags;        /* open(2) flags */
    int result;       /* 0 or a libuv code */
    char *path;       /* a copy: the job may outlive the call */
} fs_req_t;

static void req_release(fs_req_t *r)
{
    if (r->result_is_fd && r->done && r->uv.result >= 0)
        close((int)r->uv.result);
    if (r->own_fd >= 0)
        close(r->own_fd);
    asyncio__free(r->buf);
    asyncio__free(r->path);
    if (!r->is_work)
        uv_fs_req_cleanup(&r->uv);
    asyncio_decref(r->fut);
    asyncio__free(r);
}

static void req_done(fs_req_t *r)
{
    r->done = true;
    if (r->abandoned)
        req_release(r);
    else if (r->fut->state == ASYNCIO__PENDING)
        asyncio__future_finish(r->fut, NULL, NULL);
}

static void on_fs_done(uv_fs_t *uvr)
{
    req_done(asyncio__container_of(uvr, fs_req_t, uv));
}

static void on_work_done(uv_work_t *w, int status)
{
    fs_req_t *r = asyncio__container_of(w, fs_req_t, work);
    if (status == UV_ECANCELED)
        r->result = status; /* the job never ran */
    req_done(r);
}

/* A request ready for its next operation (NULL and MemoryError). */
static fs_req_t *req_new(asyncio_loop_t *loop)
{
    asyncio__uv_pool_used(); /* every request goes to libuv's thread pool */
    fs_req_t *r = asyncio__calloc(1, sizeof *r);
    if (!r) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a file operation");
        return NULL;
    }
    if (!(r->fut = asyncio__future_new(loop))) {
        asyncio__free(r);
        return NULL;
    }
    r->own_fd = -1;
    return r;
}

/* Prepares r for another operation of the same task. */
static int req_reuse(fs_req_t *r, asyncio_loop_t *loop)
{
    uv_fs_req_cleanup(&r->uv);
    r->done = false;
    if (r->fut->state == ASYNCIO__PENDING)
        return 0;
    asyncio_future_t *f = asyncio__future_new(loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    asyncio_decref(r->fut);
    r->fut = f;
    return 0;
}

/* Waits for the operation just started on r.  0: it ended (r->uv.result
 * holds its outcome).  Otherwise the task was cancelled (raised) and r is
 * no longer the caller's: it was released, or abandoned to its callback.
 * closing_fd is the descriptor the operation closes (-1 if it closes none):
 * withdrawn before it ran, the request closes it when released, so a
 * cancelled close still closes. */
/* What a task waits on in a file operation, for task dumps. */
static void describe_fs(const void *obj, char *buf, size_t len)
{
    const fs_req_t *r = obj;
    static const char *const names[] = {[UV_FS_OPEN] = "open",
                                        [UV_FS_CLOSE] = "close",
                                        [UV_FS_READ] = "read",
                                        [UV_FS_WRITE] = "write"};
    const char *op = "whole-file job";
    if (!r->is_work)
        op = (size_t)r->uv.fs_type < sizeof names / sizeof names[0] && names[r->uv.fs_type]
                 ? names[r->uv.fs_type]
                 : "operation";
    const char *path = r->is_work ? r->path : r->uv.path;
    snprintf(buf, len, "<file %s%s%s%s>", op, path ? " '" : "", path ? path : "", path ? "'" : "");
}

static const asyncio__wait_kind_t fs_wait = {"file I/O", describe_fs};

static int req_wait(asyncio__task_t *t, fs_req_t *r, int closing_fd)
{
    asyncio__task_waits_for(t, &fs_wait, r);
    int rc = asyncio__task_wait_private(t, r->fut);
    if (rc == 0 && r->done)
        return 0;
    if (rc == 0) /* woken without a result: cannot happen, but never leak r */
        rc = asyncio__raise_code(ASYNCIO_ERUNTIME, "file operation woken early");
    if (uv_cancel(r->is_work ? (uv_req_t *)&r->work : (uv_req_t *)&r->uv) == 0) {
        /* Withdrawn: the callback comes with UV_ECANCELED and releases it
         * (closing what the operation would have closed). */
        r->own_fd = closing_fd;
        r->abandoned = true;
        return rc;
    }
    if (r->uses_nothing_of_callers) { /* running on memory of its own only */
        r->abandoned = true;
        return rc;
    }
    /* Already running: wait for it, keeping the first CancelledError. */
    asyncio__exc_t *cancel = asyncio__take_raised();
    while (!r->done && !t->unwinding) {
        asyncio_future_t *f = asyncio__future_new(t->fut.loop);
        if (!f) {
            asyncio__exc_free(asyncio__take_raised());
            break;
        }
        asyncio_decref(r->fut);
        r->fut = f;
        if (asyncio__task_wait_private(t, f) != 0)
            asyncio__exc_free(asyncio__take_raised());
    }
    if (r->done)
        req_release(r);
    else
        r->abandoned = true;
    asyncio__raise_exc(cancel);
    return rc;
}

/* The common checks of a suspending call on a path. */
static asyncio__task_t *enter(const char *path)
{
    asyncio__task_t *t = asyncio__task_or_raise();
    if (t && !path) {
        asyncio__raise_code(ASYNCIO_EVALUE, "path is NULL");
        return NULL;
    }
    return t;
}

static int raise_path(int code, const char *path)
{
    asyncio_raise_uv(code, "'%s'", path);
    return code;
}

/* Opens path; returns the descriptor or a negative code (raised). */
static int open_path(asyncio__task_t *t, const char *path, int flags)
{
    asyncio_loop_t *loop = t->fut.loop;
    fs_req_t *r = req_new(loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    r->result_is_fd = true;
    int rc = uv_fs_open(&loop->uv, &r->uv, path, flags | O_CLOEXEC, 0666, on_fs_done);
    if (rc == 0 && (rc = req_wait(t, r, -1)) != 0)
        return rc;
    if (rc == 0)
        rc = (int)r->uv.result;
    r->result_is_fd = false; /* the caller's now */
    req_release(r);
    return rc < 0 ? raise_path(rc, path) : rc;
}

/* Closes fd from a task, waiting for it. */
static int close_fd(asyncio__task_t *t, int fd)
{
    asyncio_loop_t *loop = t->fut.loop;
    fs_req_t *r = req_new(loop);
    if (!r) {
        close(fd);
        return ASYNCIO_ENOMEM;
    }
    int rc = uv_fs_close(&loop->uv, &r->uv, fd, on_fs_done);
    if (rc == 0 && (rc = req_wait(t, r, fd)) != 0)
        return rc;
    if (rc == 0)
        rc = (int)r->uv.result;
    req_release(r);
    if (rc < 0)
        asyncio_raise_uv(rc, NULL); /* os.close's OSError names no path */
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------ whole files */

/* A buffer this big is filled through huge pages where the kernel allows
 * (see advise_huge). */
#define HUGE_BUFFER ((size_t)4 << 20)

/* A large buffer about to be filled at once: its pages are all touched
 * right away, so 2 MiB pages (transparent huge pages, where the system
 * enables them on request) cost one fault per 2 MiB instead of 512, and
 * give the memory back faster too: reading a 64 MiB file took half the
 * time.  Only the 2 MiB-aligned part inside the buffer is advised, so
 * nothing outside it is touched; best effort. */
static void advise_huge(char *buf, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)buf + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)buf + len) & ~(huge - 1);
    if (len >= HUGE_BUFFER && hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)buf;
    (void)len;
#endif
}

/* The whole-file jobs run every system call of the operation in one pool
 * job: one round trip through the pool instead of one per call. */
static int sys_error(void)
{
    return uv_translate_sys_error(errno);
}

static void read_all_work(uv_work_t *w)
{
    fs_req_t *r = asyncio__container_of(w, fs_req_t, work);
    int fd;
    while ((fd = open(r->path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (fd < 0) {
        r->result = sys_error();
        return;
    }
    /* The size tells how much to read at once; the file may still grow or
     * shrink meanwhile (or be a /proc file of size 0), so the end is where
     * a read returns 0. */
    struct stat st;
    size_t cap = 4096, used = 0;
    if (fstat(fd, &st) != 0) {
        r->result = sys_error();
    } else if (S_ISDIR(st.st_mode)) {
        r->result = UV_EISDIR;
    } else {
        /* Room for the NUL and one more byte: the read that finds the end
         * needs no bigger buffer. */
        if (st.st_size > 0 && (size_t)st.st_size + 2 > cap)
            cap = (size_t)st.st_size + 2;
        if (!(r->buf = asyncio__malloc(cap)))
            r->result = ASYNCIO_ENOMEM;
        else
            advise_huge(r->buf, cap);
    }
    while (r->result == 0) {
        if (cap - used < 2) { /* keeps a byte for the terminating NUL */
            char *grown = asyncio__realloc(r->buf, cap * 2);
            if (!grown) {
                r->result = ASYNCIO_ENOMEM;
                break;
            }
            r->buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, r->buf + used, cap - used - 1);
        if (n > 0)
            used += (size_t)n;
        else if (n == 0)
            break;
        else if (errno != EINTR)
            r->result = sys_error();
    }
    close(fd);
    if (r->result == 0) {
        r->buf[used] = '\0';
        r->len = used;
    }
}

static void write_all_work(uv_work_t *w)
{
    fs_req_t *r = asyncio__container_of(w, fs_req_t, work);
    int fd;
    while ((fd = open(r->path, r->flags | O_CLOEXEC, 0666)) < 0 && errno == EINTR)
        ;
    if (fd < 0) {
        r->result = sys_error();
        return;
    }
    size_t done = 0;
    while (done < r->len) {
        ssize_t n = write(fd, r->data + done, r->len - done);
        if (n >= 0)
            done += (size_t)n;
        else if (errno != EINTR) {
            r->result = sys_error();
            break;
        }
    }
    if (close(fd) != 0 && r->result == 0 && errno != EINTR)
        r->result = sys_error();
}

/* Runs a whole-file job of task t and waits for it.  Returns 0 with r
 * still the caller's, or a raised code (r is then gone). */
static int run_job(asyncio__task_t *t, const char *path, fs_req_t **out, uv_work_cb work,
                   const void *data, size_t len, int flags)
{
    asyncio_loop_t *loop = t->fut.loop;
    fs_req_t *r = req_new(loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    r->is_work = true;
    /* A read uses only its own memory, a write the caller's bytes. */
    r->uses_nothing_of_callers = work == read_all_work;
    r->data = data;
    r->len = len;
    r->flags = flags;
    if (!(r->path = asyncio__strdup(path))) {
        req_release(r);
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for '%s'", path);
    }
    int rc = uv_queue_work(&loop->uv, &r->work, work, on_work_done);
    if (rc == 0 && (rc = req_wait(t, r, -1)) != 0)
        return rc;
    if (rc == 0)
        rc = r->result;
    if (rc) {
        req_release(r);
        if (rc == ASYNCIO_ENOMEM)
            return asyncio__raise_code(rc, "no memory for '%s'", path);
        return raise_path(rc, path);
    }
    *out = r;
    return 0;
}

int asyncio_file_read_all(const char *path, char **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    asyncio__task_t *t = enter(path);
    if (!t)
        return asyncio_error()->code;
    if (!data)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    fs_req_t *r;
    int rc = run_job(t, path, &r, read_all_work, NULL, 0, 0);
    if (rc)
        return rc;
    *data = r->buf; /* NUL-terminated by the job, also when empty */
    if (len)
        *len = r->len;
    r->buf = NULL;
    req_release(r);
    return 0;
}

/* Writes all of [data, data + len) to fd at offset (-1: the position).
 * 0 or a raised code. */
static int write_all(asyncio__task_t *t, int fd, const void *data, size_t len, int64_t offset)
{
    asyncio_loop_t *loop = t->fut.loop;
    fs_req_t *r = req_new(loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    const char *p = data;
    int rc = 0;
    bool first = true;
    /* One call even for 0 bytes: a write of nothing still checks fd. */
    while (rc == 0 && (len > 0 || first)) {
        first = false;
        if ((rc = req_reuse(r, loop)) != 0)
            break;
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        uv_buf_t b = uv_buf_init((char *)p, chunk);
        rc = uv_fs_write(&loop->uv, &r->uv, fd, &b, 1, offset, on_fs_done);
        if (rc == 0 && (rc = req_wait(t, r, -1)) != 0)
            return rc;
        if (rc == 0 && (rc = (int)r->uv.result) >= 0) {
            p += rc;
            len -= (size_t)rc;
            if (offset >= 0)
                offset += rc;
            rc = 0;
        }
    }
    req_release(r);
    if (rc && rc != ASYNCIO_ENOMEM) /* a MemoryError is raised already */
        asyncio_raise_uv(rc, NULL); /* os.write's OSError names no path */
    return rc;
}

static int write_file(const char *path, const void *data, size_t len, int flags)
{
    asyncio__task_t *t = enter(path);
    if (!t)
        return asyncio_error()->code;
    if (!data && len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "data is NULL");
    fs_req_t *r;
    int rc = run_job(t, path, &r, write_all_work, data, len, flags);
    if (rc == 0)
        req_release(r);
    return rc;
}

int asyncio_file_write_all(const char *path, const void *data, size_t len)
{
    return write_file(path, data, len, O_WRONLY | O_CREAT | O_TRUNC);
}

int asyncio_file_append(const char *path, const void *data, size_t len)
{
    return write_file(path, data, len, O_WRONLY | O_CREAT | O_APPEND);
}

/* ------------------------------------------------------------ streaming */

/* Python's open() modes; ValueError with Python's message for a bad one. */
static int parse_mode(const char *mode, int *flags, file_t *f)
{
    int base = 0, bases = 0, plus = 0;
    for (const char *m = mode; *m; m++) {
        switch (*m) {
        case 'r':
        case 'w':
        case 'a':
        case 'x':
            if (strchr(m + 1, *m))
                goto invalid;
            base = *m;
            bases++;
            break;
        case '+':
            if (plus++)
                goto invalid;
            break;
        case 'b':
            break;
        default:
            goto invalid;
        }
    }
    if (bases > 1)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "must have exactly one of create/read/write/append mode");
    switch (base) {
    case 'r':
        *flags = 0;
        f->readable = true;
        break;
    case 'w':
        *flags = O_CREAT | O_TRUNC;
        f->writable = true;
        break;
    case 'a':
        *flags = O_CREAT | O_APPEND;
        f->writable = f->append = true;
        break;
    case 'x':
        *flags = O_CREAT | O_EXCL;
        f->writable = true;
        break;
    default:
        return asyncio__raise_code(
            ASYNCIO_EVALUE,
            "Must have exactly one of create/read/write/append mode and at most one plus");
    }
    if (plus)
        f->readable = f->writable = true;
    *flags |= f->readable && f->writable ? O_RDWR : f->readable ? O_RDONLY : O_WRONLY;
    return 0;
invalid:
    return asyncio__raise_code(ASYNCIO_EVALUE, "invalid mode: '%s'", mode);
}

int asyncio_file_open(const char *path, const char *mode, asyncio_file_t **out)
{
    if (out)
        *out = NULL;
    asyncio__task_t *t = enter(path);
    if (!t)
        return asyncio_error()->code;
    if (!out)
        return asyncio__raise_code(ASYNCIO_EVALUE, "out is NULL");
    if (!mode)
        return asyncio__raise_code(ASYNCIO_EVALUE, "mode is NULL");
    file_t tmp = {0};
    int flags = 0;
    if (parse_mode(mode, &flags, &tmp) != 0)
        return ASYNCIO_EVALUE;
    file_t *f = asyncio__malloc(sizeof *f);
    if (!f)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a file");
    *f = tmp;
    if (!asyncio__handle_give(f, &f->handle, ASYNCIO__H_FILE))
        return ASYNCIO_ENOMEM; /* f freed */
    int fd = open_path(t, path, flags);
    if (fd < 0) {
        asyncio__handle_retire(f->handle);
        asyncio__free(f);
        return fd;
    }
    f->fd = fd;
    *out = f->handle;
    return 0;
}

/* The checks of a read or write of a file: its task and the file, else
 * NULL with the error raised. */
static file_t *file_enter(asyncio_file_t *handle, const void *buf, size_t n, bool writing,
                          asyncio__task_t **task)
{
    if (!(*task = asyncio__task_or_raise()))
        return NULL;
    file_t *f = asyncio__handle_check(handle, ASYNCIO__H_FILE, "file");
    if (!f)
        return NULL;
    const char *bad = NULL;
    if (!buf && n)
        bad = "buf is NULL";
    else if (writing && !f->writable)
        bad = "File not open for writing";
    else if (!writing && !f->readable)
        bad = "File not open for reading";
    if (bad) {
        asyncio__raise_code(ASYNCIO_EVALUE, "%s", bad);
        return NULL;
    }
    return f;
}

/* Reads at offset (-1: the position, which moves).  The bytes are the
 * caller's, NUL-terminated when there is room. */
static int read_at(asyncio_file_t *handle, void *buf, size_t n, int64_t offset, size_t *nread)
{
    asyncio__task_t *t;
    file_t *f = file_enter(handle, buf, n, false, &t);
    if (!f)
        return asyncio_error()->code;
    asyncio_loop_t *loop = t->fut.loop;
    fs_req_t *r = req_new(loop);
    if (!r)
        return ASYNCIO_ENOMEM;
    uv_buf_t b = uv_buf_init(buf, n > (1u << 30) ? (1u << 30) : (unsigned)n);
    int rc = uv_fs_read(&loop->uv, &r->uv, f->fd, &b, 1, offset, on_fs_done);
    if (rc == 0) {
        f->busy++;
        rc = req_wait(t, r, -1);
        f->busy--;
        if (rc)
            return rc;
    }
    if (rc == 0)
        rc = (int)r->uv.result;
    req_release(r);
    if (rc < 0) {
        asyncio_raise_uv(rc, NULL); /* os.read's OSError names no path */
        return rc;
    }
    if ((size_t)rc < n)
        ((char *)buf)[rc] = '\0';
    if (nread)
        *nread = (size_t)rc;
    return 0;
}

int asyncio_file_read(asyncio_file_t *f, void *buf, size_t n, size_t *nread)
{
    if (nread)
        *nread = 0;
    return read_at(f, buf, n, -1, nread);
}

int asyncio_file_pread(asyncio_file_t *f, void *buf, size_t n, int64_t offset, size_t *nread)
{
    if (nread)
        *nread = 0;
    if (offset < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "negative offset %" PRId64, offset);
    return read_at(f, buf, n, offset, nread);
}

static int write_at(asyncio_file_t *handle, const void *buf, size_t n, int64_t offset)
{
    asyncio__task_t *t;
    file_t *f = file_enter(handle, buf, n, true, &t);
    if (!f)
        return asyncio_error()->code;
    f->busy++;
    int rc = write_all(t, f->fd, buf, n, offset);
    f->busy--;
    return rc;
}

int asyncio_file_write(asyncio_file_t *f, const void *buf, size_t n)
{
    return write_at(f, buf, n, -1);
}

int asyncio_file_pwrite(asyncio_file_t *f, const void *buf, size_t n, int64_t offset)
{
    if (offset < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "negative offset %" PRId64, offset);
    return write_at(f, buf, n, offset);
}

/* An OSError from errno, as Python's os functions raise it (no path). */
static int raise_errno(void)
{
    int code = uv_translate_sys_error(errno);
    asyncio_raise_uv(code, NULL);
    return code;
}

int asyncio_file_seek(asyncio_file_t *handle, int64_t offset, int whence, int64_t *pos)
{
    if (pos)
        *pos = 0;
    file_t *f = asyncio__handle_check(handle, ASYNCIO__H_FILE, "file");
    if (!f)
        return ASYNCIO_EVALUE;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return asyncio__raise_code(ASYNCIO_EVALUE, "invalid whence (%d, should be %d, %d or %d)",
                                   whence, SEEK_SET, SEEK_CUR, SEEK_END);
    /* lseek does no I/O: done here, without the pool. */
    off_t at = lseek(f->fd, (off_t)offset, whence);
    if (at < 0)
        return raise_errno();
    if (pos)
        *pos = (int64_t)at;
    return 0;
}

int asyncio_file_close(asyncio_file_t *handle)
{
    if (!handle)
        return 0;
    file_t *f = asyncio__handle_check(handle, ASYNCIO__H_FILE, "file");
    if (!f)
        return ASYNCIO_EVALUE;
    /* Closed under a read or write running in the pool, the descriptor's
     * number could go to a file opened meanwhile, which that operation
     * would then read or write. */
    if (f->busy)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "a read or write of the file is in progress");
    int fd = f->fd;
    asyncio__handle_retire(handle);
    asyncio__free(f);
    asyncio__task_t *t = asyncio__current();
    if (!t)
        return close(fd) != 0 ? raise_errno() : 0;
    return close_fd(t, fd);
}

int asyncio_file_fileno(asyncio_file_t *handle)
{
    file_t *f = asyncio__handle_get(handle, ASYNCIO__H_FILE);
    return f ? f->fd : -1;
}
