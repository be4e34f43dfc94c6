/*
 * Watching descriptors the caller owns: loop.add_reader / add_writer and
 * a task's wait for one (asyncio_wait_readable / _writable), on libuv's
 * uv_poll_t.
 *
 * libuv allows one poll handle per descriptor per loop, so each loop keeps
 * a table, by descriptor, of watchers: one uv_poll_t and two sides, the
 * reader and the writer, each held by at most one party: a callback
 * (add_reader) or a waiting task.  The poll runs for the sides that have
 * a party, and is stopped as soon as none has one: stopping takes the
 * descriptor out of epoll at once (libuv's uv_poll_stop), so its owner may
 * close it right after a wait returned or a remove_reader, as the header
 * says it may.
 *
 * A stopped watcher stays in the table, for the next watch of the same
 * number: a socket read in a loop waits again and again, and starting a
 * stopped poll costs two epoll_ctl where a new handle would cost five
 * system calls more (uv_poll_init checks the descriptor with an epoll_ctl
 * pair and sets O_NONBLOCK; uv_close removes it again).  A stopped
 * watcher is touched again only when its number is watched again, which
 * is when that number is the caller's to watch: never closed before the
 * loop closes, because closing a poll handle removes its number from
 * epoll, and by then the number may belong to another handle of the loop
 * (a transport's new socket), whose watch that would end.  The table
 * grows to the highest descriptor number ever watched.
 *
 * libuv aborts the process when the kernel refuses a descriptor it was
 * told to watch (epoll_ctl failing in the poll phase): one closed between
 * the start of a watch and the next poll, or reused meanwhile by a regular
 * file.  So every start of a poll puts its watcher on a list that a
 * prepare handle checks right before libuv polls: a descriptor no longer
 * open (or no longer pollable) has its poll stopped before libuv reaches
 * it, and its parties are told (the waiting task gets the OSError, a
 * callback is removed and the error reported).  What is left is a
 * descriptor closed by another thread between the prepare and the poll:
 * undefined, as the header says.  This check is also what catches a bad
 * descriptor when a stopped watcher starts again (a new watcher is checked
 * by uv_poll_init itself).
 *
 * Callbacks run from the ready queue, never inside the poll callback: an
 * event queues the side's embedded entry once, and the entry calls the
 * callback only if the registration it was queued for is still the
 * side's (Python cancels the handle of a reader removed or replaced after
 * its event was seen).  A waiting task is woken through its private
 * future; when it resumes it leaves its side if it is still there.
 *
 * A watcher's memory is held (holds) by its libuv handle until the close
 * callback and by each side's queued entry until it ran.  The table lives
 * with the loop: its closer closes every handle at loop close, and the
 * last close callback frees it.
 */
#include "net/net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum { HOLD_HANDLE = 1, HOLD_QUEUED_READ = 2, HOLD_QUEUED_WRITE = 4 };
#define HOLD_QUEUED(dir) (HOLD_QUEUED_READ << (dir))

typedef struct watcher watcher_t;
typedef struct asyncio__fdwatch fdwatch_t;

/* One side of a watched descriptor: held by a callback, by a waiting
 * task, or by nobody. */
typedef struct side {
    asyncio__ready_t ready; /* queued to call fn, once per event seen */
    asyncio_callback_fn fn; /* add_reader / add_writer */
    void *arg;
    /* fn's context (Python's Handle's): a copy of the one current at the
     * add, what one call sets seen by the next; empty without fn. */
    asyncio__context_t ctx;
    asyncio_future_t *waiter; /* the private future of a waiting task */
    uint32_t gen;             /* moves on whenever fn is set or removed */
    uint32_t fire_gen;        /* the registration the queued entry is for */
    watcher_t *w;
    uint8_t dir; /* ASYNCIO__FD_READ or ASYNCIO__FD_WRITE */
} side_t;

struct watcher {
    uv_poll_t poll;
    fdwatch_t *tab;
    int fd;
    int armed; /* UV_READABLE | UV_WRITABLE the poll runs with (0: stopped) */
    uint8_t holds;
    asyncio__list_t check_link; /* on tab->checks while its start is pending */
    side_t side[2];
};

struct asyncio__fdwatch {
    asyncio_loop_t *loop;
    watcher_t **byfd; /* every watcher, running or stopped, by descriptor */
    size_t cap;
    uv_prepare_t prepare;   /* runs the checks right before libuv polls */
    asyncio__list_t checks; /* watchers started since the last poll */
    size_t nmem;            /* watcher structures not freed yet */
    bool prepare_open;
    bool closing; /* the loop closes: memory goes for good */
    asyncio__closer_t closer;
};

static const int EVENT[2] = {UV_READABLE, UV_WRITABLE};
static const char *const READY_WORD[2] = {"readable", "writable"};
static const char *const SIDE_NAME[2] = {"reader", "writer"};

/* ------------------------------------------------------------ memory */

static void table_maybe_free(fdwatch_t *tab)
{
    if (!tab->closing || tab->prepare_open || tab->nmem)
        return;
    tab->loop->fdwatch = NULL;
    asyncio__free(tab->byfd);
    asyncio__free(tab);
}

static void release(watcher_t *w, int hold)
{
    w->holds &= (uint8_t)~hold;
    if (w->holds)
        return;
    fdwatch_t *tab = w->tab;
    tab->nmem--;
    asyncio__context_drop(&w->side[0].ctx);
    asyncio__context_drop(&w->side[1].ctx);
    asyncio__free(w);
    table_maybe_free(tab);
}

static void on_closed(uv_handle_t *h)
{
    release(h->data, HOLD_HANDLE);
}

/* Loop close: out of the table, the handle closed. */
static void watcher_close(watcher_t *w)
{
    w->armed = 0;
    w->tab->byfd[w->fd] = NULL;
    asyncio__list_remove(&w->check_link);
    uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* No party is left: the poll stops (the descriptor leaves epoll now); the
 * watcher stays for the next watch of its number. */
static void watcher_stop(watcher_t *w)
{
    if (w->armed)
        uv_poll_stop(&w->poll);
    w->armed = 0;
    asyncio__list_remove(&w->check_link);
}

static watcher_t *lookup(const fdwatch_t *tab, int fd)
{
    return tab && (size_t)fd < tab->cap ? tab->byfd[fd] : NULL;
}

/* ------------------------------------------------------------ the table */

static void prepare_closed(uv_handle_t *h)
{
    fdwatch_t *tab = h->data;
    tab->prepare_open = false;
    table_maybe_free(tab);
}

/* Loop close: tasks were unwound first (their waits ended and left); what
 * is still registered is dropped without being called. */
static void table_close(asyncio__closer_t *c)
{
    fdwatch_t *tab = asyncio__container_of(c, fdwatch_t, closer);
    tab->closing = true;
    for (size_t fd = 0; fd < tab->cap; fd++) {
        watcher_t *w = tab->byfd[fd];
        if (!w)
            continue;
        for (int d = 0; d < 2; d++) {
            w->side[d].fn = NULL;
            w->side[d].waiter = NULL;
            asyncio__context_drop(&w->side[d].ctx);
        }
        watcher_close(w);
    }
    uv_close((uv_handle_t *)&tab->prepare, prepare_closed);
}

/* The loop's table, made on first use; NULL with MemoryError raised. */
static fdwatch_t *table_of(asyncio_loop_t *loop)
{
    if (ASYNCIO__LIKELY(loop->fdwatch != NULL))
        return loop->fdwatch;
    fdwatch_t *tab = asyncio__calloc(1, sizeof *tab);
    if (!tab) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory to watch a file descriptor");
        return NULL;
    }
    tab->loop = loop;
    asyncio__list_init(&tab->checks);
    uv_prepare_init(&loop->uv, &tab->prepare); /* cannot fail */
    tab->prepare.data = tab;
    tab->prepare_open = true;
    tab->closer.close = table_close;
    asyncio__list_insert(&loop->closers, &tab->closer.link);
    loop->fdwatch = tab;
    return tab;
}

/* Raises what a libuv code says about watching fd: RuntimeError for a
 * descriptor another handle of the loop watches, else the OSError. */
static int watch_error(int rc, int fd)
{
    if (rc == UV_EEXIST)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "File descriptor %d is already watched by the event loop "
                                   "(a transport, a server or an HTTP transfer of it uses it)",
                                   fd);
    asyncio_raise_uv(rc, NULL);
    return rc;
}

/* 0 if fd is open and epoll can watch it (not a regular file nor a
 * directory), else the libuv code epoll_ctl would fail with. */
static int unwatchable(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return uv_translate_sys_error(errno);
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return UV_EPERM;
    return 0;
}

static void run_side(asyncio__ready_t *r);

/* A new watcher of fd, in the table, its poll not started; NULL with the
 * error raised (the descriptor is not open, cannot be watched, or is
 * watched by another handle of the loop: uv_poll_init checks). */
static watcher_t *watcher_open(fdwatch_t *tab, int fd)
{
    if ((size_t)fd >= tab->cap) {
        size_t cap = tab->cap ? tab->cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        watcher_t **byfd = asyncio__realloc(tab->byfd, cap * sizeof *byfd);
        if (!byfd) {
            asyncio__raise_code(ASYNCIO_ENOMEM, "no memory to watch a file descriptor");
            return NULL;
        }
        memset(byfd + tab->cap, 0, (cap - tab->cap) * sizeof *byfd);
        tab->byfd = byfd;
        tab->cap = cap;
    }
    watcher_t *w = asyncio__malloc(sizeof *w);
    if (!w) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory to watch a file descriptor");
        return NULL;
    }
    memset(w, 0, sizeof *w);
    int rc = uv_poll_init(&tab->loop->uv, &w->poll, fd);
    if (rc < 0) {
        asyncio__free(w);
        watch_error(rc, fd);
        return NULL;
    }
    tab->nmem++;
    w->poll.data = w;
    w->tab = tab;
    w->fd = fd;
    w->holds = HOLD_HANDLE;
    asyncio__list_init(&w->check_link);
    for (int d = 0; d < 2; d++) {
        w->side[d].ready.run = run_side;
        w->side[d].w = w;
        w->side[d].dir = (uint8_t)d;
    }
    tab->byfd[fd] = w;
    return w;
}

/* ------------------------------------------------------------ events */

static void on_poll(uv_poll_t *p, int status, int events);
static void on_prepare(uv_prepare_t *h);

/* The events the parties of w want. */
static int wanted(const watcher_t *w)
{
    int want = 0;
    for (int d = 0; d < 2; d++)
        if (w->side[d].fn || w->side[d].waiter)
            want |= EVENT[d];
    return want;
}

/* Runs w's poll for what its parties want: stops it when there is no
 * party, starts it again when the events change.  0, or the libuv code of
 * a start that failed (nothing changed then; nothing raised). */
static int arm(watcher_t *w)
{
    int want = wanted(w);
    if (want == 0) {
        watcher_stop(w);
        return 0;
    }
    if (want == w->armed)
        return 0;
    int rc = uv_poll_start(&w->poll, want, on_poll);
    if (rc < 0)
        return rc;
    w->armed = want;
    /* libuv adds the descriptor to epoll at its next poll: checked first. */
    fdwatch_t *tab = w->tab;
    if (asyncio__list_empty(&w->check_link)) {
        asyncio__list_insert(&tab->checks, &w->check_link);
        if (!uv_is_active((uv_handle_t *)&tab->prepare))
            uv_prepare_start(&tab->prepare, on_prepare);
    }
    return 0;
}

static void wake(asyncio_future_t *f, asyncio__exc_t *exc)
{
    if (f->state == ASYNCIO__PENDING && !f->loop->closed)
        asyncio__future_finish(f, NULL, exc);
    else
        asyncio__exc_free(exc);
}

/* The descriptor cannot be watched any more (closed, replaced by a file
 * epoll refuses, taken by another handle): the waiting tasks get exc (taken
 * over), the callbacks are removed and the error reported, and w stops
 * before libuv polls it.  (Taken by another handle, the poll is stopped
 * already, and stopping it again would take the descriptor out of the
 * other handle's watch.) */
static void fail_all(watcher_t *w, asyncio__exc_t *exc)
{
    asyncio_loop_t *loop = w->tab->loop;
    for (int d = 0; d < 2; d++) {
        side_t *s = &w->side[d];
        if (s->waiter) {
            wake(s->waiter, asyncio__exc_dup(exc));
            s->waiter = NULL;
        }
        if (s->fn) {
            s->fn = NULL;
            s->arg = NULL;
            s->gen++;
            asyncio__context_drop(&s->ctx);
            char msg[160];
            snprintf(msg, sizeof msg,
                     "The %s callback of file descriptor %d was removed: the descriptor can no "
                     "longer be watched (closed while watched?)",
                     SIDE_NAME[d], w->fd);
            asyncio__report(loop, msg, &exc->pub, NULL);
        }
    }
    asyncio__exc_free(exc);
    watcher_stop(w);
}

static void fail_code(watcher_t *w, int rc)
{
    if (rc == UV_EEXIST)
        w->armed = 0; /* not ours any more: nothing to stop */
    watch_error(rc, w->fd);
    fail_all(w, asyncio__take_raised());
}

/* Right before libuv polls: every watcher started since the last poll is
 * checked, so that libuv never meets a descriptor epoll refuses. */
static void on_prepare(uv_prepare_t *h)
{
    fdwatch_t *tab = h->data;
    while (!asyncio__list_empty(&tab->checks)) {
        watcher_t *w = asyncio__container_of(tab->checks.next, watcher_t, check_link);
        asyncio__list_remove(&w->check_link);
        int rc = unwatchable(w->fd);
        if (rc) {
            fail_code(w, rc);
            /* libuv would poll next, knowing nothing of the tasks just
             * woken: with no other event it would block for good.  A
             * stop request makes this poll not wait (as the HTTP
             * bridge's timer does). */
            uv_stop(&tab->loop->uv);
        }
    }
    uv_prepare_stop(h);
}

/* The callback's entry: calls it if its registration is the one the event
 * was seen for. */
static void run_side(asyncio__ready_t *r)
{
    side_t *s = asyncio__container_of(r, side_t, ready);
    watcher_t *w = s->w;
    asyncio_callback_fn fn = s->fn;
    void *arg = s->arg;
    bool fire = fn && s->fire_gen == s->gen && !w->tab->loop->closed;
    release(w, HOLD_QUEUED(s->dir)); /* never the last hold while fn is set */
    if (!fire)
        return;
    /* The call holds its own reference to the context: fn may remove or
     * replace itself.  What it set is kept only for the same registration. */
    uint32_t gen = s->gen;
    asyncio__context_t c = s->ctx;
    asyncio__cnode_incref(c.map);
    ASYNCIO__CALLBACK_IN(&c, fn(arg));
    if (s->gen == gen) {
        asyncio__context_drop(&s->ctx);
        s->ctx = c;
    } else {
        asyncio__context_drop(&c);
    }
}

/* An error on the descriptor (POLLERR: a refused connect, a reset) makes
 * both sides ready, as Python's selectors do: the read or write that
 * follows meets the error.  libuv stopped the poll then: it starts again
 * for the parties left. */
static void on_poll(uv_poll_t *p, int status, int events)
{
    watcher_t *w = p->data;
    if (status < 0) {
        /* libuv stopped the poll but left the descriptor in epoll:
         * removed now, so that nothing stays registered for a descriptor
         * its owner may close once its parties are gone. */
        events = UV_READABLE | UV_WRITABLE;
        uv_poll_stop(&w->poll);
        w->armed = 0;
    }
    for (int d = 0; d < 2; d++) {
        side_t *s = &w->side[d];
        if (!(events & EVENT[d]))
            continue;
        if (s->waiter) {
            wake(s->waiter, NULL);
            s->waiter = NULL;
        } else if (s->fn) {
            s->fire_gen = s->gen;
            if (!(w->holds & HOLD_QUEUED(d))) {
                w->holds |= (uint8_t)HOLD_QUEUED(d);
                asyncio__ready_push(w->tab->loop, &s->ready);
            }
        }
    }
    int rc = arm(w);
    if (rc)
        fail_code(w, rc);
}

/* ------------------------------------------------------------ registering */

/* The RuntimeError of a side already held by another party. */
static int side_busy(const side_t *s, int fd, bool for_wait)
{
    if (s->waiter)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "another task is already waiting for file descriptor %d to "
                                   "be %s",
                                   fd, READY_WORD[s->dir]);
    if (for_wait && s->fn)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "file descriptor %d has a %s callback (add_%s): a task "
                                   "cannot wait for it to be %s too",
                                   fd, SIDE_NAME[s->dir], SIDE_NAME[s->dir], READY_WORD[s->dir]);
    return 0;
}

/* The watcher of fd ready for a new party on side dir: the one in the
 * table, checked free, or a new one (uv_poll_init checks the descriptor).
 * add_reader checks an existing one's descriptor at once; a wait leaves
 * that to the check before the next poll, which fails the wait with the
 * same error (one system call less per wait).  NULL with the error
 * raised. */
static watcher_t *watcher_for(fdwatch_t *tab, int fd, int dir, bool for_wait)
{
    watcher_t *w = lookup(tab, fd);
    if (!w)
        return watcher_open(tab, fd);
    if (side_busy(&w->side[dir], fd, for_wait))
        return NULL;
    int rc = for_wait ? 0 : unwatchable(fd);
    if (rc) {
        asyncio_raise_uv(rc, NULL);
        return NULL;
    }
    return w;
}

static int bad_fd(int fd)
{
    return asyncio__raise_code(ASYNCIO_EVALUE, "Invalid file descriptor: %d", fd);
}

/* What a task waiting for a descriptor waits on, for task dumps (the
 * sock_* coroutines wait the same way). */
static void describe_fd(const void *obj, char *buf, size_t len)
{
    snprintf(buf, len, "<file descriptor %d>", ((const watcher_t *)obj)->fd);
}

static const asyncio__wait_kind_t fd_waits[2] = {{"wait_readable()", describe_fd},
                                                 {"wait_writable()", describe_fd}};

int asyncio__fd_wait(asyncio__task_t *task, int fd, int dir)
{
    if (fd < 0)
        return bad_fd(fd);
    asyncio_loop_t *loop = task->fut.loop;
    fdwatch_t *tab = table_of(loop);
    if (!tab)
        return ASYNCIO_ENOMEM;
    watcher_t *w = watcher_for(tab, fd, dir, true);
    if (!w)
        return asyncio_error()->code;
    side_t *s = &w->side[dir];
    asyncio_future_t *fut = asyncio__future_new(loop);
    if (!fut)
        return ASYNCIO_ENOMEM;
    s->waiter = fut;
    int rc = arm(w);
    if (rc) {
        s->waiter = NULL;
        arm(w); /* nothing changed in libuv: back as it was */
        asyncio_decref(fut);
        return watch_error(rc, fd);
    }
    asyncio__task_waits_for(task, &fd_waits[dir], w);
    rc = asyncio__task_wait_private(task, fut);
    /* Whatever the outcome, nothing of this wait stays (the event or a
     * failure took the waiter off already, or the cancellation did not). */
    if (w->side[dir].waiter == fut) {
        w->side[dir].waiter = NULL;
        int arc = arm(w);
        if (arc)
            fail_code(w, arc);
    }
    if (rc == 0 && fut->exc)
        rc = asyncio__future_outcome(fut, NULL); /* the descriptor failed */
    asyncio_decref(fut);
    return rc;
}

int asyncio_wait_readable(int fd)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    return task ? asyncio__fd_wait(task, fd, ASYNCIO__FD_READ) : ASYNCIO_ERUNTIME;
}

int asyncio_wait_writable(int fd)
{
    asyncio__task_t *task = asyncio__task_or_raise();
    return task ? asyncio__fd_wait(task, fd, ASYNCIO__FD_WRITE) : ASYNCIO_ERUNTIME;
}

/* add_reader / add_writer's loop: the given one or the running (else
 * current) one, open; NULL with the error raised, as call_soon's. */
static asyncio_loop_t *loop_for(asyncio_loop_t *loop, asyncio_callback_fn fn)
{
    if (!fn) {
        asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
        return NULL;
    }
    if (!loop && !(loop = asyncio__loop_get())) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return NULL;
    }
    if (!asyncio__loop_live(loop) || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "Event loop is closed");
        return NULL;
    }
    return loop;
}

static int add_side(asyncio_loop_t *loop, int fd, int dir, asyncio_callback_fn fn, void *arg)
{
    if (!(loop = loop_for(loop, fn)))
        return asyncio_error()->code;
    if (fd < 0)
        return bad_fd(fd);
    fdwatch_t *tab = table_of(loop);
    if (!tab)
        return ASYNCIO_ENOMEM;
    watcher_t *w = watcher_for(tab, fd, dir, false);
    if (!w)
        return asyncio_error()->code;
    side_t *s = &w->side[dir];
    /* A callback registered before is replaced: an event already seen for
     * it does not call the new one (gen). */
    s->fn = fn;
    s->arg = arg;
    s->gen++;
    asyncio__context_renew(&s->ctx);
    int rc = arm(w);
    if (rc) { /* only a new side starts the poll: it had no callback */
        s->fn = NULL;
        s->arg = NULL;
        asyncio__context_drop(&s->ctx);
        arm(w);
        return watch_error(rc, fd);
    }
    return 0;
}

static bool remove_side(asyncio_loop_t *loop, int fd, int dir)
{
    if (!loop && !(loop = asyncio__loop_get())) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
        return false;
    }
    if (!asyncio__loop_live(loop) || loop->closed)
        return false; /* as Python's closed loop */
    if (fd < 0) {
        bad_fd(fd);
        return false;
    }
    watcher_t *w = lookup(loop->fdwatch, fd);
    if (!w || !w->side[dir].fn)
        return false;
    side_t *s = &w->side[dir];
    s->fn = NULL;
    s->arg = NULL;
    s->gen++;
    asyncio__context_drop(&s->ctx);
    int rc = arm(w);
    if (rc)
        fail_code(w, rc);
    return true;
}

int asyncio_add_reader(asyncio_loop_t *loop, int fd, asyncio_callback_fn fn, void *arg)
{
    return add_side(loop, fd, ASYNCIO__FD_READ, fn, arg);
}

int asyncio_add_writer(asyncio_loop_t *loop, int fd, asyncio_callback_fn fn, void *arg)
{
    return add_side(loop, fd, ASYNCIO__FD_WRITE, fn, arg);
}

bool asyncio_remove_reader(asyncio_loop_t *loop, int fd)
{
    return remove_side(loop, fd, ASYNCIO__FD_READ);
}

bool asyncio_remove_writer(asyncio_loop_t *loop, int fd)
{
    return remove_side(loop, fd, ASYNCIO__FD_WRITE);
}

long asyncio__fdwatch_count(asyncio_loop_t *loop)
{
    if (!loop)
        loop = asyncio__loop_get();
    fdwatch_t *tab = loop ? loop->fdwatch : NULL;
    long n = 0;
    for (size_t fd = 0; tab && fd < tab->cap; fd++) {
        const watcher_t *w = tab->byfd[fd];
        n += w && (w->armed || wanted(w));
    }
    return n;
}
