/*
 * Context variables (PEP 567): Python's propagation rules, tokens, the
 * Context object, value ownership and the trie underneath.
 *
 * The expected logs are what the Python twins in
 * tests/twins/contextvars_*.py print (run them with /usr/bin/python3).
 */
#include "netutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static asyncio_contextvar_t *VAR;

/* The log's separator: a space between entries, as the twins join them. */
static void logv(const char *fmt, const char *a, const char *b)
{
    if (LOG.len)
        tu_logf(&LOG, " ");
    tu_logf(&LOG, fmt, a, b);
}

/* var.get() as a string; "?" on failure. */
static const char *get(void)
{
    void *v = NULL;
    if (asyncio_contextvar_get(VAR, &v) != 0)
        return "?";
    return v;
}

static void set(const char *value)
{
    ck_assert_int_eq(asyncio_contextvar_set(VAR, (void *)value, NULL), 0);
}

static void *set_fn(void *x)
{
    set(x);
    return NULL;
}

static void make_var(void)
{
    VAR = asyncio_contextvar_new("var", "default");
    ck_assert_ptr_nonnull(VAR);
}

static void free_var(void)
{
    asyncio_contextvar_free(VAR);
    VAR = NULL;
}

/* Runs main with VAR made for it, then compares the log with the line
 * its twin prints. */
static void run_twin(asyncio_coro_fn main, const char *want)
{
    make_var();
    tu_run_ok(main, NULL);
    tu_assert_log(&LOG, want);
    free_var();
}

/* ---------------------------------------------------------------- task copy */

static void *child(void *tag)
{
    logv("%s:start=%s", tag, get());
    char *mine = tag; /* "c1" -> "c1-set": static strings below */
    set(strcmp(mine, "c1") == 0 ? "c1-set" : "c2-set");
    tu_yield();
    logv("%s:after=%s", tag, get());
    return NULL;
}

static void *copy_main(void *arg)
{
    (void)arg;
    logv("main=%s%s", get(), "");
    set("main1");
    asyncio_future_t *t[2];
    t[0] = tu_spawn(child, "c1");
    set("main2");
    t[1] = tu_spawn(child, "c2");
    tu_gather_drop(t, 2);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_task_copy.py */
START_TEST(test_task_copy)
{
    make_var();
    asyncio_contextvar_token_t *tok;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "outer", &tok), 0);
    tu_run_ok(copy_main, NULL);
    logv("outer=%s%s", get(), "");
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), 0);
    logv("reset=%s%s", get(), "");
    tu_assert_log(&LOG, "main=outer c1:start=main1 c2:start=main2 c1:after=c1-set "
                        "c2:after=c2-set main=main2 outer=outer reset=default");
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- create_task(context=) */

static void *ctx_child(void *tag)
{
    logv("%s=%s", tag, get());
    set(strcmp(tag, "first") == 0 ? "first-set" : "second-set");
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

static void *reenter(void *ctx)
{
    if (asyncio_context_run(ctx, nothing, NULL, NULL) < 0 && asyncio_catch("RuntimeError"))
        logv("RuntimeError%s%s", "", "");
    return NULL;
}

/* ctx[var] as a string. */
static const char *ctx_get(asyncio_context_t *ctx)
{
    void *v = NULL;
    if (asyncio_context_get(ctx, VAR, &v) != 0)
        return "?";
    return v;
}

static void run_in(asyncio_coro_fn fn, void *arg, asyncio_context_t *ctx)
{
    asyncio_task_opts_t opts = {.context = ctx};
    asyncio_future_t *t = asyncio_create_task_ex(fn, arg, &opts);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
}

static void *task_context_main(void *arg)
{
    (void)arg;
    set("main1");
    asyncio_context_t *ctx = asyncio_copy_context();
    ck_assert_ptr_nonnull(ctx);
    set("main2");
    run_in(ctx_child, "first", ctx);
    logv("ctx=%s%s", ctx_get(ctx), "");
    run_in(ctx_child, "second", ctx);
    logv("ctx=%s%s", ctx_get(ctx), "");
    run_in(reenter, ctx, ctx);
    logv("main=%s%s", get(), "");
    asyncio_context_free(ctx);
    return NULL;
}

/* Twin: tests/twins/contextvars_task_context.py */
START_TEST(test_task_context)
{
    run_twin(task_context_main,
             "first=main1 ctx=first-set second=first-set ctx=second-set RuntimeError "
             "main=main2");
}
END_TEST

/* A task keeps its context alive after the caller frees it. */
static void *ctx_holder(void *arg)
{
    (void)arg;
    tu_yield();
    logv("held=%s%s", get(), "");
    return NULL;
}

static void *context_kept_main(void *arg)
{
    (void)arg;
    asyncio_context_t *ctx = asyncio_context_new();
    ck_assert_int_eq(asyncio_context_run(ctx, set_fn, "inside", NULL), 0);
    asyncio_task_opts_t opts = {.context = ctx};
    asyncio_future_t *t = asyncio_create_task_ex(ctx_holder, NULL, &opts);
    asyncio_context_free(ctx); /* the task holds it */
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    /* A freed context is refused. */
    opts.context = ctx;
    ck_assert_ptr_null(asyncio_create_task_ex(ctx_holder, NULL, &opts));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_task_context_kept)
{
    run_twin(context_kept_main, "held=inside");
}
END_TEST

/* ---------------------------------------------------------------- callbacks */

typedef struct soon_state {
    asyncio_future_t *fut;
    asyncio_future_t *task;
} soon_state_t;

static void cb(void *tag)
{
    logv("%s=%s", tag, get());
    set("cb-set"); /* stays in the callback's copy */
}

static void *reader(void *tag)
{
    logv("%s=%s", tag, get());
    return NULL;
}

static void spawner(void *arg)
{
    soon_state_t *st = arg;
    set("spawner-set");
    st->task = tu_spawn(reader, "task");
}

static void last(void *arg)
{
    soon_state_t *st = arg;
    logv("last=%s%s", get(), "");
    asyncio_future_set_result(st->fut, NULL);
}

static void *call_soon_main(void *arg)
{
    (void)arg;
    soon_state_t st = {asyncio_future_new(), NULL};
    set("soon");
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, cb, "soon")));
    set("later");
    ck_assert(asyncio_handle_valid(asyncio_call_later(NULL, 0, cb, "later")));
    set("at");
    ck_assert(asyncio_handle_valid(asyncio_call_at(NULL, asyncio_loop_time(NULL), cb, "at")));
    set("spawner");
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, spawner, &st)));
    set("last");
    ck_assert(asyncio_handle_valid(asyncio_call_soon(NULL, last, &st)));
    set("main");
    ck_assert_int_eq(asyncio_await(st.fut, NULL), 0);
    ck_assert_int_eq(asyncio_await(st.task, NULL), 0);
    asyncio_decref(st.task);
    asyncio_decref(st.fut);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_call_soon.py */
START_TEST(test_call_soon)
{
    run_twin(call_soon_main, "soon=soon last=last later=later at=at task=spawner-set main=main");
}
END_TEST

/* A cancelled callback releases its context (the leak check). */
static void *cancelled_cb_main(void *arg)
{
    (void)arg;
    set("held");
    asyncio_handle_t h = asyncio_call_later(NULL, 100, cb, "never");
    asyncio_handle_t h2 = asyncio_call_soon(NULL, cb, "never");
    ck_assert(asyncio_handle_cancel(h));
    ck_assert(asyncio_handle_cancel(h2));
    asyncio_call_later(NULL, 100, cb, "dropped at close");
    tu_yield();
    return NULL;
}

START_TEST(test_cancelled_callbacks)
{
    run_twin(cancelled_cb_main, "");
}
END_TEST

static void done_cb(asyncio_future_t *fut, void *tag)
{
    (void)fut;
    logv("%s=%s", tag, get());
    set("done-set");
}

static void *done_main(void *arg)
{
    (void)arg;
    asyncio_future_t *fut = asyncio_future_new();
    set("added1");
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_cb, "cb1"), 0);
    set("added2");
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_cb, "cb2"), 0);
    set("resolver");
    ck_assert_int_eq(asyncio_future_set_result(fut, NULL), 0);
    set("late");
    ck_assert_int_eq(asyncio_add_done_callback(fut, done_cb, "cb3"), 0);
    set("main");
    tu_yield();
    tu_yield();
    logv("main=%s%s", get(), "");
    /* Removed before it ran: its context goes with it. */
    asyncio_future_t *f2 = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_done_callback(f2, done_cb, "never"), 0);
    ck_assert_int_eq(asyncio_add_done_callback(f2, done_cb, "never2"), 0);
    ck_assert_int_eq(asyncio_remove_done_callback(f2, done_cb, "never"), 1);
    asyncio_decref(f2); /* never2's record goes with the future */
    asyncio_decref(fut);
    return NULL;
}

/* Twin: tests/twins/contextvars_done_callback.py */
START_TEST(test_done_callback)
{
    run_twin(done_main, "cb1=added1 cb2=added2 cb3=late main=main");
}
END_TEST

/* ---------------------------------------------------------------- threads */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void *job(void *tag)
{
    pthread_mutex_lock(&log_lock);
    logv("%s=%s", tag, get());
    pthread_mutex_unlock(&log_lock);
    asyncio_contextvar_token_t *tok;
    bool kept = strcmp(tag, "to_thread") == 0;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, kept ? "to_thread-set" : "executor-set", &tok), 0);
    const char *seen = get();
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), 0);
    if (kept)
        set("to_thread-kept"); /* in the job's copy: dropped with it */
    return (void *)seen;
}

static void *to_thread_main(void *arg)
{
    (void)arg;
    set("main");
    void *r;
    ck_assert_int_eq(asyncio_to_thread(job, "to_thread", &r), 0);
    pthread_mutex_lock(&log_lock);
    logv("result=%s main=%s", r, get());
    pthread_mutex_unlock(&log_lock);
    asyncio_future_t *f = asyncio_run_in_executor(NULL, job, "executor");
    ck_assert_int_eq(asyncio_await(f, &r), 0);
    asyncio_decref(f);
    logv("result=%s main=%s", r, get());
    return NULL;
}

/* Twin: tests/twins/contextvars_to_thread.py */
START_TEST(test_to_thread)
{
    run_twin(to_thread_main, "to_thread=main result=to_thread-set main=main executor=default "
                             "result=executor-set main=main");
}
END_TEST

typedef struct poster_arg {
    asyncio_loop_t *loop;
    asyncio_future_t *fut;
} poster_arg_t;

static void tcb(void *tag)
{
    logv("%s=%s", tag, get());
}

static void *coro(void *arg)
{
    (void)arg;
    logv("coro=%s%s", get(), "");
    return "done";
}

static void resolve(void *fut)
{
    asyncio_future_set_result(fut, NULL);
}

static void *poster(void *arg)
{
    poster_arg_t *p = arg;
    set("thread"); /* this thread's own context: goes when the thread exits */
    ck_assert_int_eq(asyncio_call_soon_threadsafe(p->loop, tcb, "threadsafe"), 0);
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(p->loop, coro, NULL);
    void *r;
    ck_assert_int_eq(asyncio_cfuture_result(cf, -1, &r), 0);
    asyncio_cfuture_free(cf);
    logv("result=%s%s", r, "");
    ck_assert_int_eq(asyncio_call_soon_threadsafe(p->loop, resolve, p->fut), 0);
    return NULL;
}

static void *threadsafe_main(void *arg)
{
    (void)arg;
    poster_arg_t p = {asyncio_get_running_loop(), asyncio_future_new()};
    set("loop");
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, poster, &p), 0);
    ck_assert_int_eq(asyncio_await(p.fut, NULL), 0);
    pthread_join(th, NULL);
    asyncio_decref(p.fut);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_threadsafe.py */
START_TEST(test_threadsafe)
{
    run_twin(threadsafe_main, "threadsafe=thread coro=thread result=done main=loop");
}
END_TEST

/* ---------------------------------------------------------------- asyncio_call */

static void *sub(void *arg)
{
    (void)arg;
    logv("sub=%s%s", get(), "");
    set("sub-set");
    tu_yield();
    return NULL;
}

static void *call_main(void *arg)
{
    (void)arg;
    set("main");
    ck_assert_int_eq(asyncio_call(sub, NULL, NULL), 0);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_call.py */
START_TEST(test_call)
{
    run_twin(call_main, "sub=main main=sub-set");
}
END_TEST

/* ---------------------------------------------------------------- copy_context and run */

static void *f(void *x)
{
    logv("run=%s%s", get(), "");
    set(x);
    return strcmp(x, "c") == 0 ? "c!" : "?";
}

static asyncio_context_t *CTX;

static void *nested(void *arg)
{
    (void)arg;
    return asyncio_context_run(CTX, f, "d", NULL) < 0 ? NULL : "ran";
}

static void *get_fn(void *arg)
{
    (void)arg;
    return (void *)get();
}

static void *spawn_fn(void *arg)
{
    (void)arg;
    return tu_spawn(reader, "task");
}

static void *copy_run_main(void *arg)
{
    (void)arg;
    set("a");
    CTX = asyncio_copy_context();
    ck_assert_ptr_nonnull(CTX);
    set("b");
    void *r;
    ck_assert_int_eq(asyncio_context_run(CTX, f, "c", &r), 0);
    char buf[128];
    snprintf(buf, sizeof buf, "result=%s ctx=%s main=%s len=%zu", (char *)r, ctx_get(CTX), get(),
             asyncio_context_len(CTX));
    logv("%s%s", buf, "");
    if (asyncio_context_run(CTX, nested, NULL, &r) < 0 && asyncio_catch("RuntimeError"))
        logv("RuntimeError%s%s", "", "");
    asyncio_context_t *empty = asyncio_context_new();
    ck_assert_int_eq(asyncio_context_run(empty, get_fn, NULL, &r), 0);
    snprintf(buf, sizeof buf, "empty=%s len=%zu", (char *)r, asyncio_context_len(empty));
    logv("%s%s", buf, "");
    if (asyncio_context_get(empty, VAR, NULL) < 0 && asyncio_catch("KeyError"))
        logv("KeyError%s%s", "", "");
    asyncio_context_t *c2 = asyncio_context_copy(CTX);
    ck_assert_int_eq(asyncio_context_run(c2, set_fn, "e", NULL), 0);
    logv("ctx=%s c2=%s", ctx_get(CTX), ctx_get(c2));
    asyncio_future_t *t;
    ck_assert_int_eq(asyncio_context_run(CTX, spawn_fn, NULL, (void **)&t), 0);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    logv("main=%s%s", get(), "");
    asyncio_context_free(c2);
    asyncio_context_free(empty);
    asyncio_context_free(CTX);
    return NULL;
}

/* Twin: tests/twins/contextvars_copy_run.py */
START_TEST(test_copy_run)
{
    run_twin(copy_run_main, "run=a result=c! ctx=c main=b len=1 RuntimeError empty=default len=0 "
                            "KeyError ctx=c c2=e task=c main=b");
}
END_TEST

/* Context.run outside any loop, with errors: fn's error comes back with
 * its code, an error raised before stays under it. */
static void *raiser(void *arg)
{
    set(arg);
    return asyncio_raise("ValueError", "from fn");
}

START_TEST(test_run_errors)
{
    make_var();
    asyncio_context_t *ctx = asyncio_context_new();
    void *r = (void *)1;
    ck_assert_int_eq(asyncio_context_run(ctx, raiser, "x", &r), ASYNCIO_EVALUE);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(tu_raised_message(), "from fn");
    asyncio_error_clear();
    ck_assert_str_eq(ctx_get(ctx), "x");
    ck_assert_str_eq(get(), "default"); /* the thread's own context is untouched */
    ck_assert_int_eq(asyncio_context_run(ctx, NULL, NULL, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_context_run(NULL, get_fn, NULL, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_context_free(ctx);
    ck_assert_int_eq(asyncio_context_run(ctx, get_fn, NULL, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_uint_eq(asyncio_context_len(ctx), 0);
    asyncio_error_clear();
    asyncio_context_free(NULL);
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- tokens */

static asyncio_contextvar_t *OTHER;

static void *reset_child(void *tok)
{
    if (asyncio_contextvar_reset(VAR, tok) < 0 && asyncio_catch("ValueError"))
        logv("ValueError-ctx%s%s", "", "");
    return NULL;
}

static const char *old(asyncio_contextvar_token_t *tok)
{
    void *v;
    return asyncio_contextvar_token_old_value(tok, &v) ? v : "MISSING";
}

static void *tokens_main(void *arg)
{
    (void)arg;
    void *v = (void *)1;
    if (asyncio_contextvar_get(VAR, &v) < 0 && asyncio_catch("LookupError"))
        logv("LookupError%s%s", "", "");
    ck_assert_ptr_null(v);
    ck_assert_int_eq(asyncio_contextvar_get_or(VAR, "fallback", &v), 0);
    logv("get_or=%s%s", v, "");
    asyncio_contextvar_token_t *t1, *t2, *t3, *t4;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "one", &t1), 0);
    logv("old=%s%s", old(t1), "");
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "two", &t2), 0);
    ck_assert_ptr_eq(asyncio_contextvar_token_var(t2), VAR);
    logv("old=%s var=%s", old(t2), asyncio_contextvar_name(asyncio_contextvar_token_var(t2)));
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, t2), 0);
    logv("now=%s%s", get(), "");
    if (asyncio_contextvar_reset(VAR, t2) < 0 && asyncio_catch("RuntimeError"))
        logv("RuntimeError%s%s", "", "");
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "three", &t3), 0);
    if (asyncio_contextvar_reset(OTHER, t3) < 0 && asyncio_catch("ValueError"))
        logv("ValueError-var%s%s", "", "");
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "four", &t4), 0);
    asyncio_future_t *t = tu_spawn(reset_child, t4);
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    logv("now=%s%s", get(), "");
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, t1), 0);
    if (asyncio_contextvar_get(VAR, NULL) < 0 && asyncio_catch("LookupError"))
        logv("LookupError%s%s", "", "");
    return NULL;
}

/* Twin: tests/twins/contextvars_tokens.py */
START_TEST(test_tokens)
{
    asyncio_contextvar_opts_t opts = {.no_default = true};
    VAR = asyncio_contextvar_new_ex("var", &opts);
    OTHER = asyncio_contextvar_new("other", NULL);
    tu_run_ok(tokens_main, NULL);
    tu_assert_log(&LOG, "LookupError get_or=fallback old=MISSING old=one var=var now=one "
                        "RuntimeError ValueError-var ValueError-ctx now=four LookupError");
    asyncio_contextvar_free(OTHER);
    free_var();
}
END_TEST

/* The messages Python gives, and bad handles. */
START_TEST(test_messages)
{
    asyncio_contextvar_opts_t opts = {.no_default = true};
    VAR = asyncio_contextvar_new_ex("request_id", &opts);
    ck_assert_int_eq(asyncio_contextvar_get(VAR, NULL), ASYNCIO_EEXCEPTION);
    assert_raised(ASYNCIO_EEXCEPTION, "LookupError");
    ck_assert_str_eq(tu_raised_message(), "<ContextVar name='request_id'>");
    ck_assert(asyncio_error_matches("Exception"));
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_contextvar_new(NULL, NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    void *v = (void *)1;
    ck_assert_int_eq(asyncio_contextvar_get(NULL, &v), ASYNCIO_EVALUE);
    ck_assert_ptr_null(v);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_contextvar_set(NULL, "x", NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();

    /* Outside any loop: the thread's own context. */
    asyncio_contextvar_token_t *tok = (void *)1, *tok2;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "x", &tok), 0);
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), 0);
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "<Token> has already been used once");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_contextvar_token_var(tok));
    asyncio_error_clear();
    ck_assert(!asyncio_contextvar_token_old_value(tok, &v));
    ck_assert_ptr_null(v);
    asyncio_error_clear();
    asyncio_contextvar_token_free(tok); /* harmless on a used token */
    asyncio_contextvar_token_free(NULL);
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();

    /* A token never reset is freed; the older one still resets. */
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "y", &tok), 0);
    ck_assert_int_eq(asyncio_contextvar_set(VAR, "z", &tok2), 0);
    asyncio_contextvar_token_free(tok2);
    ck_assert_int_eq(asyncio_contextvar_get(VAR, &v), 0);
    ck_assert_str_eq(v, "z");
    /* The allocator cannot change while variables (and what they hold)
     * live. */
    ck_assert_int_eq(asyncio_set_allocator(malloc, realloc, calloc, free), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), 0);
    ck_assert_int_eq(asyncio_contextvar_get(VAR, NULL), ASYNCIO_EEXCEPTION);
    asyncio_error_clear();

    /* A freed variable is refused. */
    asyncio_contextvar_t *w = asyncio_contextvar_new("w", NULL);
    asyncio_contextvar_free(w);
    ck_assert_ptr_null(asyncio_contextvar_name(w));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(tu_raised_message(), "not a live context variable (freed, or never one)");
    asyncio_error_clear();
    asyncio_contextvar_free(NULL);
    ck_assert_str_eq(asyncio_contextvar_name(VAR), "request_id");
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- ownership */

static atomic_int destroyed;
static char destroyed_log[256];
static pthread_mutex_t destroy_lock = PTHREAD_MUTEX_INITIALIZER;

static void destroy(void *value)
{
    pthread_mutex_lock(&destroy_lock);
    size_t n = strlen(destroyed_log);
    snprintf(destroyed_log + n, sizeof destroyed_log - n, "%s%s", n ? " " : "", (char *)value);
    pthread_mutex_unlock(&destroy_lock);
    atomic_fetch_add(&destroyed, 1);
    free(value);
}

static void *value(const char *s)
{
    return strdup(s);
}

static void *owned_child(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("child"), NULL), 0);
    tu_yield();
    return NULL;
}

static void *owned_job(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("job"), NULL), 0);
    return NULL;
}

static void *owned_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("a"), NULL), 0);
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("b"), NULL), 0);
    ck_assert_str_eq(destroyed_log, "a");              /* replaced, held by nothing */
    asyncio_future_t *t = tu_spawn(owned_child, NULL); /* holds "b" too */
    asyncio_contextvar_token_t *tok;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("c"), &tok), 0);
    ck_assert_str_eq(destroyed_log, "a"); /* "b": the child's copy and the token */
    ck_assert_int_eq(asyncio_await(t, NULL), 0);
    asyncio_decref(t);
    ck_assert_str_eq(destroyed_log, "a child"); /* the child's context ended */
    ck_assert_int_eq(asyncio_contextvar_reset(VAR, tok), 0);
    ck_assert_str_eq(destroyed_log, "a child c"); /* back to "b", held again */
    ck_assert_int_eq(asyncio_to_thread(owned_job, NULL, NULL), 0);
    ck_assert_str_eq(destroyed_log, "a child c job"); /* the job's copy ended */
    asyncio_context_t *ctx = asyncio_copy_context();  /* holds "b" */
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("d"), NULL), 0);
    ck_assert_str_eq(destroyed_log, "a child c job");
    asyncio_context_free(ctx);
    ck_assert_str_eq(destroyed_log, "a child c job b");
    return NULL; /* "d" goes with the main task's context */
}

START_TEST(test_value_ownership)
{
    asyncio_contextvar_opts_t opts = {.destroy = destroy};
    VAR = asyncio_contextvar_new_ex("owned", &opts);
    tu_run_ok(owned_main, NULL);
    ck_assert_str_eq(destroyed_log, "a child c job b d");
    ck_assert_int_eq(atomic_load(&destroyed), 6);
    free_var();
}
END_TEST

/* A variable freed while values are set: they are destroyed later, when
 * their contexts let them go. */
static void *free_early_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("kept"), NULL), 0);
    asyncio_contextvar_free(VAR);
    ck_assert_str_eq(destroyed_log, "");
    tu_yield();
    return NULL;
}

START_TEST(test_free_with_values)
{
    asyncio_contextvar_opts_t opts = {.destroy = destroy};
    VAR = asyncio_contextvar_new_ex("owned", &opts);
    tu_run_ok(free_early_main, NULL);
    ck_assert_str_eq(destroyed_log, "kept");
}
END_TEST

/* A thread's own context goes with the thread. */
static void *thread_setter(void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_contextvar_set(VAR, value("thread"), NULL), 0);
    return NULL;
}

START_TEST(test_thread_exit)
{
    asyncio_contextvar_opts_t opts = {.destroy = destroy};
    VAR = asyncio_contextvar_new_ex("owned", &opts);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_setter, NULL), 0);
    pthread_join(th, NULL);
    ck_assert_str_eq(destroyed_log, "thread");
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- the trie */

#define NVARS 300

/* Many variables in one context: deeper levels of the trie, copies that
 * share them, resets that take them out again; checked against a plain
 * array after every step. */
static void *many_main(void *arg)
{
    (void)arg;
    asyncio_contextvar_t *vars[NVARS];
    asyncio_contextvar_token_t *toks[NVARS];
    intptr_t model[NVARS];
    for (int i = 0; i < NVARS; i++) {
        vars[i] = asyncio_contextvar_new("v", IP(-1));
        model[i] = -1;
    }
    unsigned seed = 12345;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < NVARS; i++) {
            seed = seed * 1103515245u + 12345u;
            int k = (int)((seed >> 8) % NVARS);
            ck_assert_int_eq(asyncio_contextvar_set(vars[i], IP(round * 1000 + i), &toks[i]), 0);
            model[i] = round * 1000 + i;
            void *v;
            ck_assert_int_eq(asyncio_contextvar_get(vars[k], &v), 0);
            ck_assert_int_eq(PI(v), model[k]);
        }
        asyncio_context_t *snap = asyncio_copy_context();
        ck_assert_uint_eq(asyncio_context_len(snap), NVARS);
        /* Undo in an odd order: every other one, then the rest, backwards. */
        for (int pass = 0; pass < 2; pass++)
            for (int i = NVARS - 1 - pass; i >= 0; i -= 2)
                ck_assert_int_eq(asyncio_contextvar_reset(vars[i], toks[i]), 0);
        for (int i = 0; i < NVARS; i++) {
            void *v;
            ck_assert_int_eq(asyncio_contextvar_get(vars[i], &v), 0);
            ck_assert_int_eq(PI(v), round == 0 ? -1 : (round - 1) * 1000 + i);
            ck_assert_int_eq(asyncio_context_get(snap, vars[i], &v), 0);
            ck_assert_int_eq(PI(v), round * 1000 + i);
        }
        asyncio_context_free(snap);
        for (int i = 0; i < NVARS; i++) /* keep this round's values for the next */
            ck_assert_int_eq(asyncio_contextvar_set(vars[i], IP(round * 1000 + i), NULL), 0);
    }
    for (int i = 0; i < NVARS; i++)
        asyncio_contextvar_free(vars[i]);
    return NULL;
}

START_TEST(test_many_vars)
{
    tu_run_ok(many_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------- out of memory */

static void *nomem_main(void *arg)
{
    (void)arg;
    asyncio_contextvar_t *vars[8];
    for (int i = 0; i < 8; i++)
        vars[i] = asyncio_contextvar_new("v", NULL);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(asyncio_contextvar_set(vars[i], IP(i), NULL), 0);
    /* Fail each allocation of a set with a token in turn: nothing changes
     * and nothing leaks. */
    for (long nth = 1;; nth++) {
        asyncio_contextvar_token_t *tok = (void *)1;
        tu_alloc_fail_at(nth);
        int rc = asyncio_contextvar_set(vars[3], IP(33), &tok);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ck_assert_int_eq(asyncio_contextvar_reset(vars[3], tok), 0);
            break;
        }
        ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
        ck_assert_ptr_null(tok);
        asyncio_error_clear();
        void *v;
        for (int i = 0; i < 8; i++) {
            ck_assert_int_eq(asyncio_contextvar_get(vars[i], &v), 0);
            ck_assert_int_eq(PI(v), i);
        }
    }
    for (int i = 0; i < 8; i++)
        asyncio_contextvar_free(vars[i]);
    return NULL;
}

START_TEST(test_nomem)
{
    tu_run_ok(nomem_main, NULL);
}
END_TEST

/* Creating tasks in a context nobody changed costs no allocation. */
static void *cheap_main(void *arg)
{
    (void)arg;
    long before = tu_alloc_total();
    asyncio_future_t *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = tu_spawn(nothing, NULL);
    long after = tu_alloc_total();
    tu_gather_drop(t, 4);
    /* Task memory itself comes from the free list after the first; no
     * allocation is made for contexts (four tasks, at most four blocks). */
    ck_assert_int_le(after - before, 4);
    return NULL;
}

START_TEST(test_no_cost_when_unused)
{
    tu_run_ok(cheap_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------- descriptors */

/* The state of the descriptor and server tests: the futures the
 * callbacks resolve, in order. */
typedef struct io_state {
    int r, w;
    asyncio_future_t *next;
} io_state_t;

/* Resolves the future the main task waits on. */
static void step_done(io_state_t *st)
{
    asyncio_future_t *f = st->next;
    st->next = NULL;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
}

/* " in-a-task" when a callback runs in a task: never, as in Python. */
static const char *in_task(void)
{
    return asyncio_current_task() ? " in-a-task" : "";
}

static void fd_reader(void *arg)
{
    io_state_t *st = arg;
    char c;
    ck_assert_int_eq(read(st->r, &c, 1), 1);
    logv("reader=%s%s", get(), in_task());
    set("reader-set");
    step_done(st);
}

static void fd_writer(void *arg)
{
    io_state_t *st = arg;
    logv("writer=%s%s", get(), in_task());
    ck_assert(asyncio_remove_writer(NULL, st->w));
    step_done(st);
}

/* Writes a byte and waits until the reader has read it. */
static void fd_step(io_state_t *st, const char *byte)
{
    asyncio_future_t *f = st->next = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(write(st->w, byte, 1), 1);
    ck_assert_int_eq(asyncio_await(f, NULL), 0);
    asyncio_decref(f);
}

static void *add_reader_main(void *arg)
{
    (void)arg;
    io_state_t st;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    st.r = p[0];
    st.w = p[1];
    set("add");
    ck_assert_int_eq(asyncio_add_reader(NULL, st.r, fd_reader, &st), 0);
    set("main");
    fd_step(&st, "x");
    fd_step(&st, "y");
    set("replaced");
    ck_assert_int_eq(asyncio_add_reader(NULL, st.r, fd_reader, &st), 0);
    set("main2");
    fd_step(&st, "z");
    ck_assert(asyncio_remove_reader(NULL, st.r));
    set("writer");
    asyncio_future_t *f = st.next = asyncio_future_new();
    ck_assert_int_eq(asyncio_add_writer(NULL, st.w, fd_writer, &st), 0);
    set("main3");
    ck_assert_int_eq(asyncio_await(f, NULL), 0);
    asyncio_decref(f);
    logv("main=%s%s", get(), "");
    close(st.r);
    close(st.w);
    return NULL;
}

/* Twin: tests/twins/contextvars_add_reader.py */
START_TEST(test_add_reader)
{
    run_twin(add_reader_main,
             "reader=add reader=reader-set reader=replaced writer=writer main=main3");
}
END_TEST

/* A reader left registered when the loop closes lets its context go (the
 * leak check), and so does one that removes itself. */
static void fd_self_remove(void *arg)
{
    io_state_t *st = arg;
    set("gone");
    ck_assert(asyncio_remove_reader(NULL, st->r));
    step_done(st);
}

static void *reader_left_main(void *arg)
{
    (void)arg;
    io_state_t st;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    st.r = p[0];
    st.w = p[1];
    set("held");
    ck_assert_int_eq(asyncio_add_reader(NULL, st.r, fd_self_remove, &st), 0);
    fd_step(&st, "x");
    ck_assert_int_eq(asyncio_add_reader(NULL, st.r, fd_reader, &st), 0);
    ck_assert_int_eq(asyncio_add_writer(NULL, st.w, fd_writer, &st), 0);
    return NULL; /* both still registered: the loop's close drops them */
}

START_TEST(test_reader_left)
{
    make_var();
    tu_run_ok(reader_left_main, NULL);
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- signal handlers */

static io_state_t SIG_STATE;

/* Runs for "h" (the first handler) and "r" (the one that replaced it). */
static void sig_handler(void *tag)
{
    logv("%s=%s", tag, get());
    set(strcmp(tag, "h") == 0 ? "h-set" : "r-set");
    if (asyncio_current_task())
        logv("%s%s", "in-a-task", "");
    step_done(&SIG_STATE);
}

/* Raises SIGUSR1 and waits until the handler ran. */
static void signal_once(void)
{
    asyncio_future_t *f = SIG_STATE.next = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(asyncio_await(f, NULL), 0);
    asyncio_decref(f);
}

static void sig_quiet(void *arg)
{
    (void)arg;
    set("quiet-set");
}

static void *signal_main(void *arg)
{
    (void)arg;
    set("add");
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, sig_handler, "h"), 0);
    set("main");
    signal_once();
    signal_once();
    set("replaced");
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, sig_handler, "r"), 0);
    set("main2");
    signal_once();
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGUSR1), 1);
    logv("main=%s%s", get(), "");
    /* Left registered, perhaps with a call queued, when the loop closes:
     * its context goes too (the leak check). */
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, sig_quiet, NULL), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    return NULL;
}

/* Twin: tests/twins/contextvars_signal.py */
START_TEST(test_signal_handler)
{
    run_twin(signal_main, "h=add h=h-set r=replaced main=main2");
}
END_TEST

/* ---------------------------------------------------------------- servers */

typedef struct side_log {
    tu_log_t log;
    asyncio_queue_t *events;
} side_log_t;

static side_log_t SIDE[2]; /* 0: the server's connection, 1: the client's */
static const char *const SIDE_TAG[2] = {"srv", "cli"};

static void side_logf(void *user, const char *what, const char *extra)
{
    side_log_t *s = user;
    int i = (int)(s - SIDE);
    if (s->log.len)
        tu_logf(&s->log, " ");
    tu_logf(&s->log, "%s.%s=%s%s", SIDE_TAG[i], what, get(), extra);
}

static void p_made(asyncio_transport_t *t, void *user)
{
    (void)t;
    side_logf(user, "made", in_task());
    set("made-set");
}

static void p_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    side_log_t *s = user;
    side_logf(user, "data", in_task());
    set(s == &SIDE[0] ? "srv-data-set" : "cli-data-set");
    if (s == &SIDE[0])
        ck_assert_int_eq(asyncio_transport_write(t, data, len), 0);
    ck_assert_int_eq(asyncio_queue_put_nowait(s->events, (void *)"data"), 0);
}

static bool p_eof(asyncio_transport_t *t, void *user)
{
    (void)t;
    side_logf(user, "eof", in_task());
    return false;
}

static void p_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)exc;
    side_log_t *s = user;
    side_logf(user, "lost", in_task());
    ck_assert_int_eq(asyncio_queue_put_nowait(s->events, (void *)"lost"), 0);
}

static const asyncio_protocol_t CTX_PROTO = {.connection_made = p_made,
                                             .data_received = p_data,
                                             .eof_received = p_eof,
                                             .connection_lost = p_lost};

static void *ctx_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    logv("handler=%s%s", get(), "");
    set("handler-set");
    if (asyncio_stream_write(s, "x", 1) == 0)
        asyncio_stream_drain(s);
    asyncio_stream_close(s);
    return NULL;
}

static void next_event(side_log_t *s)
{
    void *item;
    ck_assert_int_eq(asyncio_queue_get(s->events, &item), 0);
}

static void *server_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv;
    set("server");
    ck_assert_int_eq(asyncio_start_server(ctx_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    set("main");
    for (int i = 0; i < 2; i++) {
        asyncio_stream_t *s = connect_ok(port, NULL);
        char *data;
        size_t len;
        ck_assert_int_eq(asyncio_stream_read_all(s, &data, &len), 0);
        asyncio_buffer_free(data);
        asyncio_stream_close(s);
        ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
        asyncio_stream_free(s);
    }
    server_shutdown(srv);

    for (int i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(SIDE[i].events = asyncio_queue_new(0));
    set("pserver");
    ck_assert_int_eq(asyncio_create_server(&CTX_PROTO, &SIDE[0], "127.0.0.1", 0, NULL, &srv), 0);
    port = server_port(srv);
    set("client");
    asyncio_transport_t *t;
    ck_assert_int_eq(asyncio_create_connection(&CTX_PROTO, &SIDE[1], "127.0.0.1", port, NULL, &t),
                     0);
    set("main");
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(asyncio_transport_write(t, i ? "b" : "a", 1), 0);
        next_event(&SIDE[0]);
        next_event(&SIDE[1]);
    }
    set("closer");
    asyncio_transport_close(t);
    set("main");
    next_event(&SIDE[1]);
    next_event(&SIDE[0]);
    server_shutdown(srv);
    for (int i = 0; i < 2; i++)
        asyncio_queue_free(SIDE[i].events);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_server.py (the two sides' logs first,
 * then the main log, as the twin prints them). */
START_TEST(test_server)
{
    make_var();
    memset(SIDE, 0, sizeof SIDE);
    tu_run_ok(server_main, NULL);
    tu_logf(&SIDE[0].log, " %s %s", SIDE[1].log.buf, LOG.buf);
    tu_assert_log(&SIDE[0].log,
                  "srv.made=pserver srv.data=pserver srv.data=srv-data-set srv.eof=srv-data-set "
                  "srv.lost=srv-data-set cli.made=client cli.data=client cli.data=cli-data-set "
                  "cli.lost=closer handler=server handler=server main=main");
    free_var();
}
END_TEST

/* ---------------------------------------------------------------- datagrams */

static asyncio_queue_t *DG_EVENTS;

static void d_made(asyncio_datagram_transport_t *t, void *user)
{
    (void)t;
    (void)user;
    logv("made=%s%s", get(), in_task());
    set("made-set");
}

static void d_received(asyncio_datagram_transport_t *t, const char *data, size_t len,
                       const asyncio_sockaddr_t *addr, void *user)
{
    (void)t;
    (void)data;
    (void)len;
    (void)addr;
    (void)user;
    logv("received=%s%s", get(), in_task());
    set("received-set");
    ck_assert_int_eq(asyncio_queue_put_nowait(DG_EVENTS, (void *)"data"), 0);
}

static void d_error(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)exc;
    (void)user;
    logv("error=%s%s", get(), in_task());
    set("error-set");
}

static void d_lost(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)exc;
    (void)user;
    logv("lost=%s%s", get(), in_task());
    ck_assert_int_eq(asyncio_queue_put_nowait(DG_EVENTS, (void *)"lost"), 0);
}

static const asyncio_datagram_protocol_t CTX_DPROTO = {.connection_made = d_made,
                                                       .datagram_received = d_received,
                                                       .error_received = d_error,
                                                       .connection_lost = d_lost};

static void *datagram_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_nonnull(DG_EVENTS = asyncio_queue_new(0));
    asyncio_datagram_opts_t opts = {.local_host = "127.0.0.1"};
    asyncio_datagram_transport_t *t;
    set("create");
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&CTX_DPROTO, NULL, &opts, &t), 0);
    set("main");
    asyncio_sockaddr_t addr;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(t, &addr), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)addr.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int peer = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(peer, 0);
    void *item;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sendto(peer, i ? "b" : "a", 1, 0, (struct sockaddr *)&sin, sizeof sin), 1);
        ck_assert_int_eq(asyncio_queue_get(DG_EVENTS, &item), 0);
    }
    set("sender");
    static char big[70000];
    ck_assert_int_eq(asyncio_datagram_transport_sendto(t, big, sizeof big, &addr), 0);
    set("closer");
    asyncio_datagram_transport_close(t);
    set("main");
    ck_assert_int_eq(asyncio_queue_get(DG_EVENTS, &item), 0);
    close(peer);
    asyncio_queue_free(DG_EVENTS);
    logv("main=%s%s", get(), "");
    return NULL;
}

/* Twin: tests/twins/contextvars_datagram.py */
START_TEST(test_datagram)
{
    run_twin(datagram_main,
             "made=create received=create received=received-set error=sender in-a-task "
             "lost=closer main=main");
}
END_TEST

Suite *contextvars_suite(void)
{
    Suite *s = suite_create("contextvars");
    TCase *tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_task_copy);
    tcase_add_test(tc, test_task_context);
    tcase_add_test(tc, test_task_context_kept);
    tcase_add_test(tc, test_call_soon);
    tcase_add_test(tc, test_cancelled_callbacks);
    tcase_add_test(tc, test_done_callback);
    tcase_add_test(tc, test_to_thread);
    tcase_add_test(tc, test_threadsafe);
    tcase_add_test(tc, test_call);
    tcase_add_test(tc, test_copy_run);
    tcase_add_test(tc, test_run_errors);
    tcase_add_test(tc, test_tokens);
    tcase_add_test(tc, test_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("ownership");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_value_ownership);
    tcase_add_test(tc, test_free_with_values);
    tcase_add_test(tc, test_thread_exit);
    tcase_add_test(tc, test_many_vars);
    tcase_add_test(tc, test_nomem);
    tcase_add_test(tc, test_no_cost_when_unused);
    suite_add_tcase(s, tc);

    tc = tcase_create("io");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_add_reader);
    tcase_add_test(tc, test_reader_left);
    tcase_add_test(tc, test_signal_handler);
    tcase_add_test(tc, test_server);
    tcase_add_test(tc, test_datagram);
    suite_add_tcase(s, tc);

    return s;
}
