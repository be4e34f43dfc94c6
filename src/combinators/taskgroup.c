/*
 * `async with asyncio.TaskGroup() as tg:` as an enter/exit pair.
 *
 * The group keeps a reference to every child it made (the pointers it
 * hands out stay valid until exit) and counts those still running.  The
 * first child to fail aborts the group: the other children are cancelled,
 * and so is the parent task (the body), with a request that exit withdraws
 * again, so that the parent is not left cancelled.  Exit waits until every
 * child is done, then raises what failed: one failure as itself (C rule),
 * several as an ExceptionGroup.  Errors are recorded in an array reserved
 * as children are made, so recording one never allocates.
 */
#include "core/core.h"
#include "core/handle.h"

#include <stdio.h>
#include <string.h>

/* Children a group holds without allocating: most groups are small. */
#define INLINE_CHILDREN 16

typedef struct taskgroup {
    asyncio__scope_t scope;
    void *handle; /* what the caller holds (handle.h), retired when the group goes */
    bool exiting, aborting, parent_cancel_requested;
    asyncio_future_t **children; /* every child made, one reference each */
    size_t nchildren, cap;
    size_t running;          /* children not done yet */
    size_t ncompleted;       /* children done, their callback run or not */
    asyncio__exc_t **errors; /* room for one per child, plus the body's */
    size_t nerrors;
    asyncio_future_t *on_completed; /* exit waits on it while children run */
    /* children and errors while the group has at most INLINE_CHILDREN */
    asyncio_future_t *inline_children[INLINE_CHILDREN];
    asyncio__exc_t *inline_errors[INLINE_CHILDREN + 1];
} taskgroup_t;

/* What a task waits on when it leaves a group, for task dumps. */
static void describe_group(const void *obj, char *buf, size_t len)
{
    const taskgroup_t *tg = obj;
    snprintf(buf, len, "<TaskGroup %p tasks=%zu running=%zu%s>", tg->handle, tg->nchildren,
             tg->running, tg->aborting ? " aborting" : "");
}

static const asyncio__wait_kind_t exit_wait = {"TaskGroup.__aexit__()", describe_group};

/* SystemExit and KeyboardInterrupt win over everything else (Python's
 * "base errors"): raised alone, as themselves. */
static bool is_base_error(const asyncio__exc_t *e)
{
    return asyncio__exc_matches(&e->pub, "SystemExit") ||
           asyncio__exc_matches(&e->pub, "KeyboardInterrupt");
}

static void abort_group(taskgroup_t *tg)
{
    tg->aborting = true;
    for (size_t i = 0; i < tg->nchildren; i++)
        if (!asyncio_done(tg->children[i]))
            asyncio_cancel(tg->children[i], NULL);
}

static void on_child_done(asyncio_future_t *child, void *arg)
{
    taskgroup_t *tg = arg;
    tg->running--;
    if (tg->on_completed && !tg->running && !asyncio_done(tg->on_completed))
        asyncio__future_finish(tg->on_completed, NULL, NULL);
    if (child->state != ASYNCIO__FINISHED || !child->exc)
        return;
    child->log_exception = 0; /* the group retrieves it */
    tg->errors[tg->nerrors++] = asyncio__exc_dup(child->exc);
    asyncio__task_t *parent = tg->scope.task;
    if (parent->fut.state != ASYNCIO__PENDING) {
        asyncio__report(child->loop,
                        "Task has errored out but its parent task is already completed",
                        &child->exc->pub, child);
        return;
    }
    if (!tg->aborting && !tg->parent_cancel_requested) {
        /* Interrupt the body; exit takes the request back. */
        abort_group(tg);
        tg->parent_cancel_requested = true;
        asyncio__task_cancel(parent, NULL);
    }
}

/* A child completes (before its callback is queued): when another child
 * has not completed yet and this one did not fail, on_child_done would
 * only count it -- done here, sparing the queue entry.  Whatever can be
 * seen (an error recorded, the group aborted, exit woken when none is
 * left running) still happens in on_child_done at the callback's place:
 * a failed child's, or the last child's, queued after every callback
 * queued before it.  `running` stays above zero meanwhile, as before. */
static bool child_settle(asyncio_future_t *child, void *arg)
{
    taskgroup_t *tg = arg;
    if (++tg->ncompleted >= tg->nchildren || child->loop->closed ||
        (child->state == ASYNCIO__FINISHED && child->exc))
        return false;
    tg->running--;
    return true;
}

static void close_left_open(asyncio__scope_t *s);

/* The group an open handle names, else NULL with RuntimeError raised (a
 * group is gone once exited). */
static taskgroup_t *open_group(asyncio_taskgroup_t *handle)
{
    taskgroup_t *tg = asyncio__handle_get(handle, ASYNCIO__H_TASKGROUP);
    if (!tg)
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not an open TaskGroup");
    return tg;
}

asyncio_taskgroup_t *asyncio_taskgroup_enter(void)
{
    asyncio__task_t *task = asyncio__current();
    if (!task) {
        /* Python's words: get_running_loop()'s, else the group's own. */
        asyncio__raise_code(ASYNCIO_ERUNTIME, "%s",
                            asyncio__tls.running ? "TaskGroup cannot determine the parent task"
                                                 : "no running event loop");
        return NULL;
    }
    taskgroup_t *tg = asyncio__malloc(sizeof *tg);
    if (!tg) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a TaskGroup");
        return NULL;
    }
    /* The arrays inside are not cleared: only their used part is read. */
    memset(tg, 0, offsetof(taskgroup_t, inline_children));
    tg->children = tg->inline_children;
    tg->errors = tg->inline_errors; /* room for the body's error from the start */
    tg->cap = INLINE_CHILDREN;
    if (!asyncio__handle_give(tg, &tg->handle, ASYNCIO__H_TASKGROUP))
        return NULL;
    asyncio__scope_push(task, &tg->scope, "TaskGroup", close_left_open);
    return tg->handle;
}

/* Room for more children, and for their errors if they fail, plus the
 * body's: the arrays move to the heap past INLINE_CHILDREN. */
static int grow(taskgroup_t *tg)
{
    size_t cap = tg->cap * 2;
    bool inline_now = tg->children == tg->inline_children;
    asyncio_future_t **children =
        asyncio__realloc(inline_now ? NULL : tg->children, cap * sizeof *children);
    if (children) {
        if (inline_now)
            memcpy(children, tg->children, tg->nchildren * sizeof *children);
        tg->children = children;
    }
    asyncio__exc_t **errors =
        children ? asyncio__realloc(inline_now ? NULL : tg->errors, (cap + 1) * sizeof *errors)
                 : NULL;
    if (!errors)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a TaskGroup's task");
    if (inline_now)
        memcpy(errors, tg->errors, tg->nerrors * sizeof *errors);
    tg->errors = errors;
    tg->cap = cap;
    return 0;
}

asyncio_future_t *asyncio_taskgroup_create_task_ex(asyncio_taskgroup_t *handle, asyncio_coro_fn fn,
                                                   void *arg, const asyncio_task_opts_t *opts)
{
    taskgroup_t *tg = open_group(handle);
    if (!tg)
        return NULL;
    if (tg->exiting && !tg->running) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "TaskGroup is finished");
        return NULL;
    }
    if (tg->aborting) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "TaskGroup is shutting down");
        return NULL;
    }
    if (tg->nchildren == tg->cap && grow(tg) != 0)
        return NULL;
    asyncio_future_t *t = asyncio_create_task_ex(fn, arg, opts);
    if (!t)
        return NULL;
    /* A new task has no callback yet: this one takes the record inside the
     * task and cannot fail. */
    asyncio__add_callback_settle(t, on_child_done, child_settle, tg);
    tg->children[tg->nchildren++] = t; /* the reference create_task gave us */
    tg->running++;
    return t;
}

asyncio_future_t *asyncio_taskgroup_create_task(asyncio_taskgroup_t *handle, asyncio_coro_fn fn,
                                                void *arg)
{
    return asyncio_taskgroup_create_task_ex(handle, fn, arg, NULL);
}

/* Waits until every child is done.  A cancellation of the caller meanwhile
 * aborts the group (once) and is kept, to be raised if nothing failed. */
static void wait_children(taskgroup_t *tg, asyncio__task_t *task, asyncio__exc_t **propagate_cancel)
{
    /* A task unwound at loop close cannot wait: its children never run. */
    while (tg->running && !task->unwinding) {
        if (!(tg->on_completed = asyncio__future_new(task->fut.loop))) {
            /* Out of memory: poll instead of waiting on a future. */
            asyncio__exc_free(asyncio__take_raised());
            asyncio_sleep(0);
            asyncio__exc_free(asyncio__take_raised());
            continue;
        }
        asyncio__task_waits_for(task, &exit_wait, tg);
        if (asyncio__task_wait_private(task, tg->on_completed) == ASYNCIO_ECANCELLED) {
            asyncio__exc_t *ex = asyncio__take_raised();
            if (!tg->aborting) {
                asyncio__exc_free(*propagate_cancel);
                *propagate_cancel = ex;
                abort_group(tg);
            } else {
                asyncio__exc_free(ex);
            }
        }
        asyncio_decref(tg->on_completed);
        tg->on_completed = NULL;
    }
}

static void free_group(taskgroup_t *tg)
{
    asyncio__handle_retire(tg->handle);
    asyncio__scope_remove(&tg->scope);
    for (size_t i = 0; i < tg->nchildren; i++) {
        /* Only after an unwinding at loop close can a child still run. */
        if (tg->running)
            asyncio_remove_done_callback(tg->children[i], on_child_done, tg);
        asyncio_decref(tg->children[i]);
    }
    for (size_t i = 0; i < tg->nerrors; i++)
        asyncio__exc_free(tg->errors[i]);
    if (tg->children != tg->inline_children) {
        asyncio__free(tg->children);
        asyncio__free(tg->errors);
    }
    asyncio__free(tg);
}

/* The scope rule: the coroutine returned inside the group. */
static void close_left_open(asyncio__scope_t *s)
{
    taskgroup_t *tg = (taskgroup_t *)s;
    asyncio__exc_t *cancel = NULL;
    tg->exiting = true;
    abort_group(tg);
    wait_children(tg, s->task, &cancel);
    asyncio__exc_free(cancel);
    if (tg->parent_cancel_requested)
        asyncio__task_uncancel(s->task);
    /* Nobody will see these through exit: report them, never drop them. */
    for (size_t i = 0; i < tg->nerrors; i++)
        asyncio__report(s->task->fut.loop, "unhandled error in a TaskGroup left open",
                        &tg->errors[i]->pub, &s->task->fut);
    free_group(tg);
}

/* Picks what exit raises and hands it over; NULL for nothing. */
static asyncio__exc_t *outcome(taskgroup_t *tg, asyncio__exc_t *body_error,
                               asyncio__exc_t *propagate_cancel)
{
    for (size_t i = 0; i < tg->nerrors; i++)
        if (is_base_error(tg->errors[i])) {
            asyncio__exc_t *e = tg->errors[i];
            tg->errors[i] = tg->errors[--tg->nerrors];
            return e;
        }
    if (body_error && is_base_error(body_error))
        return asyncio__exc_dup(body_error);
    if (propagate_cancel && tg->nerrors == 0)
        return asyncio__exc_dup(propagate_cancel);
    if (body_error && !asyncio__exc_matches(&body_error->pub, "CancelledError"))
        tg->errors[tg->nerrors++] = asyncio__exc_dup(body_error);
    if (tg->nerrors == 0)
        return NULL;
    if (tg->nerrors == 1) { /* C rule: one failure as itself */
        tg->nerrors = 0;
        return tg->errors[0];
    }
    asyncio__exc_t **members = asyncio__malloc(tg->nerrors * sizeof *members);
    if (!members)
        return asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for an ExceptionGroup");
    memcpy(members, tg->errors, tg->nerrors * sizeof *members);
    char msg[64];
    snprintf(msg, sizeof msg, "unhandled errors in a TaskGroup (%zu sub-exceptions)", tg->nerrors);
    size_t n = tg->nerrors;
    tg->nerrors = 0;
    return asyncio__exc_group(msg, members, n);
}

int asyncio_taskgroup_exit(asyncio_taskgroup_t *handle)
{
    taskgroup_t *tg = open_group(handle);
    if (!tg)
        return ASYNCIO_ERUNTIME;
    asyncio__task_t *task = asyncio__current();
    if (task != tg->scope.task)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the TaskGroup belongs to another task");
    tg->exiting = true;
    /* What the body raised, if anything (Python's exc_type in __aexit__):
     * an error propagating since before the group was entered is not the
     * body's, and goes on under whatever the group raises. */
    size_t body_raised = asyncio__scope_raised(&tg->scope);
    asyncio__exc_t *body_error = body_raised ? asyncio__take_raised() : NULL;
    asyncio__exc_t *propagate_cancel = NULL;
    if (body_error && asyncio__exc_matches(&body_error->pub, "CancelledError"))
        propagate_cancel = asyncio__exc_dup(body_error);
    if (body_error && !tg->aborting)
        abort_group(tg);
    wait_children(tg, task, &propagate_cancel);
    /* The cancel the group sent its parent (before or during the wait) is
     * taken back: if it was the only one, the parent's CancelledError was
     * ours and is not raised.  (Python 3.12's order: 3.11 took it back
     * before the wait and could leave the parent cancelled.) */
    if (tg->parent_cancel_requested && asyncio__task_uncancel(task) == 0) {
        asyncio__exc_free(propagate_cancel);
        propagate_cancel = NULL;
        /* The body replaced the CancelledError the group caused with an
         * error of its own (`finally: raise X`): that CancelledError, still
         * propagating under X, was the group's and goes. */
        if (body_error && body_raised > 1) {
            long ours = asyncio__find_raised(body_raised - 1, "CancelledError");
            if (ours >= 0)
                asyncio__drop_raised((size_t)ours);
        }
    }
    asyncio__exc_t *e = outcome(tg, body_error, propagate_cancel);
    asyncio__exc_free(body_error);
    asyncio__exc_free(propagate_cancel);
    free_group(tg);
    if (!e)
        return 0;
    asyncio__raise_exc(e);
    return e->pub.code;
}
