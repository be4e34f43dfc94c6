/*
 * Signals: loop.add_signal_handler / remove_signal_handler on libuv's
 * uv_signal_t, and the SIGINT handling of asyncio_run (Python 3.11's
 * Runner: the first SIGINT cancels the main task, a second one interrupts
 * the program).
 *
 * libuv turns a signal into a callback of the loop (its own handler only
 * writes to a pipe), so nothing here runs in signal context.  The user's
 * callback is not called from there either: as in Python it goes through
 * the ready queue, like any call_soon, as a Handle that keeps its context
 * from one call to the next (sig_reg_t).  libuv restores the default
 * disposition when the last watcher of a signal stops, which is what
 * Python's remove_signal_handler does.
 */
#include "os/os.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

/* What Python's add_signal_handler makes: a Handle, run once for each
 * signal in the one context it copied when it was made, so that what one
 * call sets the next call sees.  Held by its handler and by each call
 * queued for it: a call queued before the handler was removed or replaced
 * still runs, as Python's queued Handle does.  Loop thread only. */
typedef struct sig_reg {
    int refs;
    asyncio_callback_fn fn;
    void *arg;
    asyncio__context_t ctx;
} sig_reg_t;

/* One signal's call, in the ready queue. */
typedef struct sig_call {
    asyncio__ready_t ready;
    asyncio_loop_t *loop;
    sig_reg_t *reg;
} sig_call_t;

typedef struct sig_handler {
    uv_signal_t uv;
    asyncio__closer_t closer; /* loop close: the handle is closed and freed */
    asyncio_loop_t *loop;
    sig_reg_t *reg; /* the callback, its argument and its context */
    int signum;
    asyncio__list_t link; /* in this thread's handlers (loops stay on their thread) */
} sig_handler_t;

/* asyncio_run's SIGINT watcher. */
struct asyncio__sigint {
    uv_signal_t uv;
    asyncio_loop_t *loop;
    asyncio_future_t *main;
    int interrupts;
    bool watching;
    struct sigaction installed; /* SIGINT's disposition once watched (libuv's) */
};

/* A list head needs its own address: made on the thread's first handler. */
static _Thread_local asyncio__list_t handlers;
static _Thread_local asyncio__sigint_t *runner_sigint;

static void reg_unref(sig_reg_t *reg)
{
    if (reg && --reg->refs == 0) {
        asyncio__context_drop(&reg->ctx);
        asyncio__free(reg);
    }
}

/* A new registration of fn(arg) in a copy of the current context; NULL
 * with MemoryError raised. */
static sig_reg_t *reg_new(asyncio_callback_fn fn, void *arg)
{
    sig_reg_t *reg = asyncio__malloc(sizeof *reg);
    if (!reg) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a signal handler");
        return NULL;
    }
    reg->refs = 1;
    reg->fn = fn;
    reg->arg = arg;
    asyncio__context_keep(&reg->ctx);
    return reg;
}

static void handler_freed(uv_handle_t *h)
{
    sig_handler_t *sh = h->data;
    reg_unref(sh->reg);
    asyncio__free(sh);
}

/* Unlinks h and closes its handle: its memory goes in the close callback. */
static void handler_drop(sig_handler_t *h)
{
    asyncio__list_remove(&h->link);
    asyncio__list_remove(&h->closer.link);
    uv_close((uv_handle_t *)&h->uv, handler_freed);
}

static void handler_close(asyncio__closer_t *c)
{
    handler_drop(asyncio__container_of(c, sig_handler_t, closer));
}

static sig_handler_t *find(asyncio_loop_t *loop, int signum)
{
    if (!handlers.next)
        return NULL;
    for (asyncio__list_t *n = handlers.next; n != &handlers; n = n->next) {
        sig_handler_t *h = asyncio__container_of(n, sig_handler_t, link);
        if (h->loop == loop && h->signum == signum)
            return h;
    }
    return NULL;
}

/* The queued call: the user's callback outside tasks in its
 * registration's context (nothing at loop close, which drops the queue). */
static void run_call(asyncio__ready_t *r)
{
    sig_call_t *c = asyncio__container_of(r, sig_call_t, ready);
    sig_reg_t *reg = c->reg;
    if (!c->loop->closed)
        ASYNCIO__CALLBACK_IN(&reg->ctx, reg->fn(reg->arg));
    reg_unref(reg);
    asyncio__free(c);
}

/* As Python's _handle_signal: the handler's Handle goes to the ready
 * queue, once for each signal seen. */
static void on_signal(uv_signal_t *uvh, int signum)
{
    (void)signum;
    sig_handler_t *h = uvh->data;
    sig_call_t *c = asyncio__malloc(sizeof *c);
    if (!c) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory to call a signal handler");
        asyncio__exc_t *e = asyncio__take_raised();
        asyncio__report(h->loop, "Cannot schedule a signal handler", e ? &e->pub : NULL, NULL);
        asyncio__exc_free(e);
        return;
    }
    c->ready.run = run_call;
    c->loop = h->loop;
    c->reg = h->reg;
    h->reg->refs++;
    asyncio__ready_push(h->loop, &c->ready);
}

/* The checks Python's _check_signal makes, with its message (3.11); SIGKILL
 * and SIGSTOP are refused as signal.signal refuses them (RuntimeError "sig
 * N cannot be caught"). */
static int check_signum(int signum)
{
    if (signum < 1 || signum >= NSIG)
        return asyncio__raise_code(ASYNCIO_EVALUE, "invalid signal number %d", signum);
    return 0;
}

static asyncio_loop_t *live_loop(asyncio_loop_t *loop)
{
    if (!loop)
        loop = asyncio__loop_get();
    if (!loop || !asyncio__loop_live(loop)) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s",
                            loop ? "Event loop is closed" : "no running event loop");
        return NULL;
    }
    return loop;
}

int asyncio_add_signal_handler(asyncio_loop_t *loop, int signum, asyncio_callback_fn fn, void *arg)
{
    if (!(loop = live_loop(loop)))
        return ASYNCIO_ERUNTIME;
    int rc = check_signum(signum);
    if (rc)
        return rc;
    if (!fn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL");
    if (signum == SIGKILL || signum == SIGSTOP)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "sig %d cannot be caught", signum);
    sig_reg_t *reg = reg_new(fn, arg);
    if (!reg)
        return ASYNCIO_ENOMEM;
    sig_handler_t *h = find(loop, signum);
    if (h) { /* replaces the handler, as Python does: a new Handle */
        reg_unref(h->reg);
        h->reg = reg;
        return 0;
    }
    if (!(h = asyncio__calloc(1, sizeof *h))) {
        reg_unref(reg);
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a signal handler");
    }
    uv_signal_init(&loop->uv, &h->uv);
    h->uv.data = h;
    h->reg = reg;
    if ((rc = uv_signal_start(&h->uv, on_signal, signum)) != 0) {
        /* Not yet linked: the close callback only frees it. */
        uv_close((uv_handle_t *)&h->uv, handler_freed);
        if (rc == UV_EINVAL)
            return asyncio__raise_code(ASYNCIO_ERUNTIME, "sig %d cannot be caught", signum);
        asyncio_raise_uv(rc, NULL); /* signal.signal's OSError names nothing */
        return rc;
    }
    h->loop = loop;
    h->signum = signum;
    if (!handlers.next)
        asyncio__list_init(&handlers);
    asyncio__list_insert(&handlers, &h->link);
    h->closer.close = handler_close;
    asyncio__list_insert(&loop->closers, &h->closer.link);
    /* The program's own SIGINT handler replaces asyncio_run's, as
     * signal.signal() does in Python. */
    asyncio__sigint_t *si = runner_sigint;
    if (signum == SIGINT && si && si->loop == loop && si->watching) {
        uv_signal_stop(&si->uv);
        si->watching = false;
    }
    return 0;
}

int asyncio_remove_signal_handler(asyncio_loop_t *loop, int signum)
{
    if (!(loop = live_loop(loop)))
        return ASYNCIO_ERUNTIME;
    int rc = check_signum(signum);
    if (rc)
        return rc;
    sig_handler_t *h = find(loop, signum);
    if (!h)
        return 0;
    handler_drop(h); /* the last watcher of signum gone: default disposition */
    return 1;
}

/* ------------------------------------------------------------ asyncio_run */

static bool in_main_thread(void)
{
#if defined(__linux__)
    return (pid_t)syscall(SYS_gettid) == getpid();
#else
    return true;
#endif
}

static void sigint_freed(uv_handle_t *h)
{
    asyncio__free(h->data);
}

static void on_sigint(uv_signal_t *uvh, int signum)
{
    asyncio__sigint_t *si = uvh->data;
    si->interrupts++;
    if (si->interrupts == 1 && !asyncio_done(si->main)) {
        asyncio_cancel(si->main, NULL);
        return;
    }
    /* Python raises KeyboardInterrupt here, at once.  The C equivalent of
     * an uncaught KeyboardInterrupt is the default action of SIGINT: stop
     * watching (libuv restores the default disposition) and deliver the
     * signal again. */
    uv_signal_stop(&si->uv);
    si->watching = false;
    struct sigaction sa;
    if (sigaction(signum, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        raise(signum);
}

asyncio__sigint_t *asyncio__sigint_install(asyncio_loop_t *loop, asyncio_future_t *main)
{
    struct sigaction sa;
    if (runner_sigint || !in_main_thread() || sigaction(SIGINT, NULL, &sa) != 0 ||
        sa.sa_handler != SIG_DFL || (sa.sa_flags & SA_SIGINFO))
        return NULL; /* the program handles SIGINT itself */
    asyncio__sigint_t *si = asyncio__calloc(1, sizeof *si);
    if (!si)
        return NULL; /* SIGINT keeps its default action */
    uv_signal_init(&loop->uv, &si->uv);
    si->uv.data = si;
    si->loop = loop;
    si->main = main;
    if (uv_signal_start(&si->uv, on_sigint, SIGINT) != 0) {
        uv_close((uv_handle_t *)&si->uv, sigint_freed);
        return NULL;
    }
    si->watching = true;
    /* Ctrl-C interrupts; it wakes no task: the loop's liveness (and its
     * deadlock check) does not count it. */
    uv_unref((uv_handle_t *)&si->uv);
    sigaction(SIGINT, NULL, &si->installed);
    runner_sigint = si;
    return si;
}

int asyncio__sigint_uninstall(asyncio__sigint_t *si)
{
    if (!si)
        return 0;
    int n = si->interrupts;
    runner_sigint = NULL;
    /* libuv puts SIG_DFL back when its last SIGINT watcher goes; Python
     * restores the default only if the handler is still the runner's, so
     * one the program installed meanwhile (sigaction) is put back. */
    struct sigaction now;
    bool replaced =
        sigaction(SIGINT, NULL, &now) == 0 && now.sa_handler != si->installed.sa_handler;
    /* Closing stops the watcher at once; the memory goes in the close
     * callback, at the latest when the loop closes. */
    uv_close((uv_handle_t *)&si->uv, sigint_freed);
    if (replaced)
        sigaction(SIGINT, &now, NULL);
    return n;
}
