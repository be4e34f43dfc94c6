/*
 * asyncio.run: the one file that sees every area (Python's runners.py).
 *
 * It makes a loop, runs main as a task with the SIGINT handling of
 * Python 3.11's Runner (os area: the first Ctrl-C cancels main, main ended
 * cancelled by it becomes KeyboardInterrupt), then shuts down as Python
 * does: the tasks main left behind are cancelled and gathered
 * (combinators), the default executor is shut down while the loop still
 * runs (threads), and the loop is closed.  Nothing below it calls up into
 * it.
 */
#include "core/core.h"
#include "os/os.h"
#include "threads/threads.h"

/* Cancels the tasks main left behind and waits for them, reporting those
 * that failed with something other than the cancellation. */
static void cancel_all_tasks(asyncio_loop_t *loop)
{
    size_t n = loop->ntasks;
    if (!n)
        return;
    asyncio_future_t **tasks = asyncio__malloc(n * sizeof *tasks);
    if (!tasks)
        return;
    asyncio_all_tasks(tasks, n);
    for (size_t i = 0; i < n; i++) {
        asyncio_incref(tasks[i]);
        asyncio_cancel(tasks[i], NULL);
    }
    asyncio_future_t *all = asyncio_gather_future(tasks, n, ASYNCIO_RETURN_EXCEPTIONS);
    if (all) {
        asyncio_loop_run_until_complete(loop, all, NULL);
        asyncio_decref(all);
    }
    for (size_t i = 0; i < n; i++) {
        if (asyncio_done(tasks[i]) && !asyncio_cancelled(tasks[i])) {
            const asyncio_error_t *e = asyncio_exception(tasks[i]);
            if (e)
                asyncio__report(loop, "unhandled exception during asyncio.run() shutdown", e,
                                tasks[i]);
        }
        asyncio_decref(tasks[i]);
    }
    asyncio__free(tasks);
}

static int run(asyncio_coro_fn main, void *arg, void **result)
{
    if (asyncio__tls.running)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "asyncio.run() cannot be called from a running event loop");
    if (!main)
        return asyncio__raise_code(ASYNCIO_EVALUE, "main is NULL");
    asyncio_loop_t *outer = asyncio__tls.current;
    asyncio_loop_t *loop = asyncio_loop_new();
    if (!loop)
        return ASYNCIO_ENOMEM;
    asyncio_future_t *task = asyncio_create_task(main, arg);
    int rc;
    if (!task) {
        rc = asyncio_error() ? asyncio_error()->code : ASYNCIO_ENOMEM;
    } else {
        asyncio__sigint_t *sigint = asyncio__sigint_install(loop, task);
        rc = asyncio_loop_run_until_complete(loop, task, result);
        /* Python 3.11's Runner: main ended cancelled by a SIGINT (and not
         * cancelled more than that) becomes KeyboardInterrupt. */
        if (asyncio__sigint_uninstall(sigint) > 0 && rc == ASYNCIO_ECANCELLED &&
            asyncio_task_uncancel(task) == 0) {
            asyncio__raise_instead(asyncio__exc_make(ASYNCIO_EEXCEPTION, "KeyboardInterrupt", ""));
            rc = ASYNCIO_EEXCEPTION;
        }
        /* main's exception stays in this thread's indicator through the
         * shutdown. */
        asyncio__exc_t *main_exc = asyncio__take_all();
        cancel_all_tasks(loop);
        asyncio__executor_shutdown_default(loop);
        asyncio__errstate_clear(asyncio__errstate()); /* what the shutdown left */
        if (main_exc)
            asyncio__raise_exc(main_exc);
        asyncio_decref(task);
    }
    asyncio__exc_t *exc = asyncio__take_all();
    asyncio_loop_close(loop);
    if (exc)
        asyncio__raise_exc(exc);
    /* main may have closed the loop that was current before. */
    asyncio__tls.current = outer && asyncio__loop_live(outer) ? outer : NULL;
    return rc;
}

int asyncio_run(asyncio_coro_fn main, void *arg, void **result)
{
    int rc = run(main, arg, result);
    return rc < 0 ? asyncio__out_fail(rc, result) : rc;
}
