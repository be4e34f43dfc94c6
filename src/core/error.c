/*
 * Exceptions: the error indicator, raising, catching and the type hierarchy.
 *
 * The model is CPython's C API.  A failing call raises by storing an error
 * object in the indicator of the current task (of the calling thread when
 * no task runs) and returns its code.  asyncio_catch() is `except T as e`.
 *
 * C's `goto cleanup` path must behave as Python's `finally:`, so errors
 * stack: one raised while another is raised and not caught takes the older
 * one as its context (Python's __context__) through a propagating link,
 * and catching or clearing the newer one raises the older again.  An
 * error the code caught is handled: it never comes back.  When an error
 * leaves its coroutine (a task's outcome, asyncio_call's), its
 * propagating links become history only, as in Python, where the newest
 * exception alone leaves a frame and the others are its __context__.  A
 * chain deeper than CHAIN_MAX (code that fails in a loop without ever
 * catching) loses its oldest errors.
 *
 * Types are names.  A name's base comes from the built-in table below
 * (Python's own hierarchy for the exceptions casyncio raises), else from
 * asyncio_exception_register(), else it is "Exception".
 */
#define _GNU_SOURCE /* EAI_ADDRFAMILY, EAI_NODATA */
#include "core/core.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ type table */

typedef struct builtin_type {
    const char *name;
    const char *base;
    int code;         /* what asyncio_raise(name, ...) returns */
    const char *also; /* a second base (Python's multiple inheritance), or NULL */
} builtin_type_t;

static const builtin_type_t builtins[] = {
    {"BaseException", NULL, ASYNCIO_EEXCEPTION, NULL},
    {"Exception", "BaseException", ASYNCIO_EEXCEPTION, NULL},
    {"CancelledError", "BaseException", ASYNCIO_ECANCELLED, NULL},
    {"KeyboardInterrupt", "BaseException", ASYNCIO_EEXCEPTION, NULL},
    {"SystemExit", "BaseException", ASYNCIO_EEXCEPTION, NULL},
    {"BaseExceptionGroup", "BaseException", ASYNCIO_EGROUP, NULL},
    {"ExceptionGroup", "Exception", ASYNCIO_EGROUP, NULL},
    {"InvalidStateError", "Exception", ASYNCIO_EINVALIDSTATE, NULL},
    {"QueueEmpty", "Exception", ASYNCIO_EQUEUEEMPTY, NULL},
    {"QueueFull", "Exception", ASYNCIO_EQUEUEFULL, NULL},
    {"QueueShutDown", "Exception", ASYNCIO_EQUEUESHUTDOWN, NULL},
    {"EOFError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"IncompleteReadError", "EOFError", ASYNCIO_EINCOMPLETEREAD, NULL},
    {"LimitOverrunError", "Exception", ASYNCIO_ELIMITOVERRUN, NULL},
    {"RuntimeError", "Exception", ASYNCIO_ERUNTIME, NULL},
    {"BrokenBarrierError", "RuntimeError", ASYNCIO_EBROKENBARRIER, NULL},
    {"NotImplementedError", "RuntimeError", ASYNCIO_EEXCEPTION, NULL},
    {"RecursionError", "RuntimeError", ASYNCIO_EEXCEPTION, NULL},
    {"ValueError", "Exception", ASYNCIO_EVALUE, NULL},
    {"UnicodeError", "ValueError", ASYNCIO_EEXCEPTION, NULL},
    {"InvalidURL", "ClientError", ASYNCIO_EVALUE, "ValueError"}, /* aiohttp's MRO */
    {"MemoryError", "Exception", ASYNCIO_ENOMEM, NULL},
    {"ClientError", "Exception", ASYNCIO_EHTTP, NULL},
    {"TypeError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"AssertionError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"AttributeError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"LookupError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"KeyError", "LookupError", ASYNCIO_EEXCEPTION, NULL},
    {"IndexError", "LookupError", ASYNCIO_EEXCEPTION, NULL},
    {"ArithmeticError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"ZeroDivisionError", "ArithmeticError", ASYNCIO_EEXCEPTION, NULL},
    {"OverflowError", "ArithmeticError", ASYNCIO_EEXCEPTION, NULL},
    {"OSError", "Exception", ASYNCIO_EEXCEPTION, NULL},
    {"TimeoutError", "OSError", ASYNCIO_ETIMEDOUT, NULL},
    {"ConnectionError", "OSError", ASYNCIO_EEXCEPTION, NULL},
    {"ConnectionRefusedError", "ConnectionError", UV_ECONNREFUSED, NULL},
    {"ConnectionResetError", "ConnectionError", UV_ECONNRESET, NULL},
    {"ConnectionAbortedError", "ConnectionError", UV_ECONNABORTED, NULL},
    {"BrokenPipeError", "ConnectionError", UV_EPIPE, NULL},
    {"FileNotFoundError", "OSError", UV_ENOENT, NULL},
    {"FileExistsError", "OSError", UV_EEXIST, NULL},
    {"PermissionError", "OSError", UV_EACCES, NULL},
    {"IsADirectoryError", "OSError", UV_EISDIR, NULL},
    {"NotADirectoryError", "OSError", UV_ENOTDIR, NULL},
    {"InterruptedError", "OSError", UV_EINTR, NULL},
    {"BlockingIOError", "OSError", UV_EAGAIN, NULL},
    {"ProcessLookupError", "OSError", UV_ESRCH, NULL},
    {"ChildProcessError", "OSError", (-ECHILD), NULL},
    {"gaierror", "OSError", ASYNCIO_EEXCEPTION, NULL},
    {"SSLError", "OSError", ASYNCIO_ESSL, NULL},
    {"SSLZeroReturnError", "SSLError", ASYNCIO_ESSL, NULL},
    {"SSLSyscallError", "SSLError", ASYNCIO_ESSL, NULL},
    {"SSLEOFError", "SSLError", ASYNCIO_ESSL, NULL},
    {"SSLCertVerificationError", "SSLError", ASYNCIO_ESSL, "ValueError"},
};

static const builtin_type_t *builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

int asyncio__type_code(const char *type)
{
    const builtin_type_t *b = builtin(type);
    return b ? b->code : ASYNCIO_EEXCEPTION;
}

/* User types, registered by any thread: guarded by registry_lock.  The
 * table lives as long as the process and may outlive any allocator set
 * with asyncio_set_allocator, so it uses the C library's directly. */
typedef struct user_type {
    char *name;
    char *base;
} user_type_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static user_type_t *registry;
static size_t registry_len, registry_cap;

static user_type_t *user_type(const char *name)
{
    for (size_t i = 0; i < registry_len; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

/* The base of a type name; NULL for BaseException.  Call with the
 * registry locked.  Unknown names derive from Exception. */
static const char *base_of(const char *name)
{
    const builtin_type_t *b = builtin(name);
    if (b)
        return b->base;
    user_type_t *u = user_type(name);
    return u ? u->base : "Exception";
}

/* Registration refuses cycles and hierarchies deeper than this, so every
 * walk up from a type ends within it. */
#define MAX_DEPTH 64

static int depth_of(const char *type)
{
    int depth = 0;
    while (type && depth <= MAX_DEPTH) {
        type = base_of(type);
        depth++;
    }
    return depth;
}

static bool derives_from_at(const char *type, const char *ancestor, int depth)
{
    for (; type && depth <= MAX_DEPTH; depth++) {
        if (strcmp(type, ancestor) == 0)
            return true;
        const builtin_type_t *b = builtin(type);
        if (b && b->also && derives_from_at(b->also, ancestor, depth + 1))
            return true;
        type = base_of(type);
    }
    return false;
}

static bool derives_from(const char *type, const char *ancestor)
{
    return derives_from_at(type, ancestor, 0);
}

bool asyncio__exc_matches(const asyncio_error_t *e, const char *type)
{
    if (!e)
        return false;
    if (!type || strcmp(type, "BaseException") == 0)
        return true;
    pthread_mutex_lock(&registry_lock);
    bool m = derives_from(e->type, type);
    pthread_mutex_unlock(&registry_lock);
    return m;
}

int asyncio_exception_register(const char *type, const char *base)
{
    if (!base)
        base = "Exception";
    if (!type || !*type)
        return asyncio__raise_code(ASYNCIO_EVALUE, "exception type name is NULL or empty");
    if (!*base)
        return asyncio__raise_code(ASYNCIO_EVALUE, "base type name is empty");
    if (builtin(type))
        return asyncio__raise_code(ASYNCIO_EVALUE, "'%s' is a built-in exception type", type);
    int rc = 0;
    pthread_mutex_lock(&registry_lock);
    user_type_t *u = user_type(type);
    if (u) {
        /* Formatted under the lock: another thread may move the table. */
        char had[256] = "";
        if (strcmp(u->base, base) != 0) {
            rc = ASYNCIO_EVALUE;
            snprintf(had, sizeof had, "%s", u->base);
        }
        pthread_mutex_unlock(&registry_lock);
        if (rc)
            return asyncio__raise_code(rc, "'%s' is already registered with base '%s'", type, had);
        return 0;
    }
    if (!builtin(base) && !user_type(base))
        rc = 1;
    else if (derives_from(base, type))
        rc = 2;
    else if (depth_of(base) >= MAX_DEPTH - 1)
        rc = 3;
    if (rc) {
        pthread_mutex_unlock(&registry_lock);
        if (rc == 1)
            return asyncio__raise_code(ASYNCIO_EVALUE, "unknown base exception type '%s'", base);
        if (rc == 3)
            return asyncio__raise_code(ASYNCIO_EVALUE,
                                       "registering '%s' under '%s': hierarchy deeper than %d",
                                       type, base, MAX_DEPTH);
        return asyncio__raise_code(ASYNCIO_EVALUE, "registering '%s' under '%s' makes a cycle",
                                   type, base);
    }
    if (registry_len == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 16;
        user_type_t *grown = realloc(registry, cap * sizeof *grown);
        if (!grown)
            goto nomem;
        registry = grown;
        registry_cap = cap;
    }
    char *n = strdup(type), *b = strdup(base);
    if (!n || !b) {
        free(n);
        free(b);
        goto nomem;
    }
    registry[registry_len++] = (user_type_t){n, b};
    pthread_mutex_unlock(&registry_lock);
    return 0;
nomem:
    pthread_mutex_unlock(&registry_lock);
    return asyncio__raise_code(ASYNCIO_ENOMEM, "registering exception type '%s'", type);
}

/* ------------------------------------------------------------ codes */

static const struct {
    int code;
    const char *type, *message;
} own_codes[] = {
#define ROW(name, value, type, msg) {value, type, msg},
    ASYNCIO_ERRNO_MAP(ROW)
#undef ROW
};

/* Python's OSError subclass for an errno (PEP 3151), by libuv code (on Unix
 * a libuv code is -errno, also for the errnos libuv has no name for). */
static const struct {
    int code;
    const char *type;
} os_error_types[] = {
    {UV_EAGAIN, "BlockingIOError"},
    {UV_EALREADY, "BlockingIOError"},
    {(-EINPROGRESS), "BlockingIOError"},
    {(-ECHILD), "ChildProcessError"},
    {UV_EPIPE, "BrokenPipeError"},
    {UV_ESHUTDOWN, "BrokenPipeError"},
    {UV_ECONNABORTED, "ConnectionAbortedError"},
    {UV_ECONNREFUSED, "ConnectionRefusedError"},
    {UV_ECONNRESET, "ConnectionResetError"},
    {UV_EEXIST, "FileExistsError"},
    {UV_ENOENT, "FileNotFoundError"},
    {UV_EINTR, "InterruptedError"},
    {UV_EISDIR, "IsADirectoryError"},
    {UV_ENOTDIR, "NotADirectoryError"},
    {UV_EACCES, "PermissionError"},
    {UV_EPERM, "PermissionError"},
    {UV_ESRCH, "ProcessLookupError"},
    {UV_ETIMEDOUT, "TimeoutError"},
};

static const char *uv_type(int code)
{
    for (size_t i = 0; i < sizeof os_error_types / sizeof os_error_types[0]; i++)
        if (os_error_types[i].code == code)
            return os_error_types[i].type;
    if (code <= UV_EAI_ADDRFAMILY && code >= UV_EAI_SOCKTYPE)
        return "gaierror";
    return "OSError";
}

const char *asyncio__code_type(int code)
{
    for (size_t i = 0; i < sizeof own_codes / sizeof own_codes[0]; i++)
        if (own_codes[i].code == code)
            return own_codes[i].type;
    return uv_type(code);
}

const char *asyncio_strerror(int code)
{
    if (code == 0)
        return "success";
    for (size_t i = 0; i < sizeof own_codes / sizeof own_codes[0]; i++)
        if (own_codes[i].code == code)
            return own_codes[i].message;
    /* uv_strerror allocates for codes it does not know: ask only for known. */
    switch (code) {
#define KNOWN(name, _) case UV_##name:
        UV_ERRNO_MAP(KNOWN)
#undef KNOWN
        return uv_strerror(code);
    default:
        return "unknown error";
    }
}

/* ------------------------------------------------------------ error objects */

/* Allocation failures must still raise something: this one is never freed
 * (nor chained: it is shared). */
static asyncio__exc_t nomem_exc = {.pub = {ASYNCIO_ENOMEM, "MemoryError", "out of memory", 0}};

/* Errors kept under a raised one; older ones are dropped. */
#define CHAIN_MAX 64

static asyncio__exc_t *exc_alloc(int code, const char *type, int detail, size_t msglen)
{
    size_t tlen = strlen(type) + 1;
    asyncio__exc_t *e = asyncio__malloc(sizeof *e + tlen + msglen + 1);
    if (!e)
        return NULL;
    char *t = (char *)(e + 1);
    memcpy(t, type, tlen);
    e->pub.code = code;
    e->pub.type = t;
    e->pub.message = t + tlen;
    e->pub.detail = detail;
    e->nmembers = 0;
    e->members = NULL;
    e->context = NULL;
    e->context_propagating = false;
    e->resurfaced = false;
    return e;
}

/* exc_make and exc_new never fail: without memory they give the shared
 * MemoryError, which exc_free leaves alone. */
asyncio__exc_t *asyncio__exc_make(int code, const char *type, const char *message)
{
    if (!message)
        message = "";
    size_t mlen = strlen(message);
    asyncio__exc_t *e = exc_alloc(code, type, 0, mlen);
    if (!e)
        return &nomem_exc;
    memcpy((char *)e->pub.message, message, mlen + 1);
    return e;
}

asyncio__exc_t *asyncio__exc_new(int code, const char *type, int detail, const char *fmt,
                                 va_list ap)
{
    if (!fmt)
        fmt = "";
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    asyncio__exc_t *e = exc_alloc(code, type, detail, (size_t)n);
    if (!e)
        return &nomem_exc;
    vsnprintf((char *)e->pub.message, (size_t)n + 1, fmt, ap);
    return e;
}

asyncio__exc_t *asyncio__exc_group(const char *message, asyncio__exc_t **members, size_t n)
{
    asyncio__exc_t *e = asyncio__exc_make(ASYNCIO_EGROUP, "ExceptionGroup", message);
    if (e == &nomem_exc) {
        for (size_t i = 0; i < n; i++)
            asyncio__exc_free(members[i]);
        asyncio__free(members);
        return NULL;
    }
    e->members = members;
    e->nmembers = n;
    return e;
}

asyncio__exc_t *asyncio__exc_dup(const asyncio__exc_t *src)
{
    if (!src)
        return NULL;
    if (src == &nomem_exc)
        return &nomem_exc;
    asyncio__exc_t *e = asyncio__exc_make(src->pub.code, src->pub.type, src->pub.message);
    if (e == &nomem_exc)
        return e;
    e->pub.detail = src->pub.detail;
    if (src->context && (e->context = asyncio__exc_dup(src->context)) == &nomem_exc) {
        e->context = NULL;
        goto fail;
    }
    e->context_propagating = src->context_propagating;
    if (src->pub.code == ASYNCIO_EGROUP && src->nmembers) {
        e->members = asyncio__calloc(src->nmembers, sizeof *e->members);
        if (!e->members)
            goto fail;
        e->nmembers = src->nmembers;
        for (size_t i = 0; i < src->nmembers; i++)
            if ((e->members[i] = asyncio__exc_dup(src->members[i])) == &nomem_exc)
                goto fail;
    }
    return e;
fail:
    asyncio__exc_free(e);
    return &nomem_exc;
}

void asyncio__exc_free(asyncio__exc_t *e)
{
    while (e && e != &nomem_exc) {
        asyncio__exc_t *context = e->context;
        for (size_t i = 0; i < e->nmembers; i++)
            asyncio__exc_free(e->members[i]);
        asyncio__free(e->members);
        asyncio__free(e);
        e = context;
    }
}

/* The error propagating under e (its first propagating link down its
 * chain), taken off the chain: what becomes raised again when e is caught.
 * e keeps its history. */
static asyncio__exc_t *exc_pop_context(asyncio__exc_t *e)
{
    for (asyncio__exc_t *x = e; x && x != &nomem_exc; x = x->context) {
        if (x->context_propagating) {
            asyncio__exc_t *older = x->context;
            x->context = NULL;
            x->context_propagating = false;
            return older;
        }
    }
    return NULL;
}

/* Puts older under e, propagating, at the end of e's own chain (e's
 * history stays right under it), and drops what goes beyond CHAIN_MAX. */
static void exc_chain(asyncio__exc_t *e, asyncio__exc_t *older)
{
    asyncio__exc_t *last = e;
    size_t depth = 1;
    while (last->context && depth < CHAIN_MAX) {
        last = last->context;
        depth++;
    }
    if (depth == CHAIN_MAX) {
        asyncio__exc_free(last->context);
        last->context = NULL;
        asyncio__exc_free(older);
        return;
    }
    last->context = older;
    last->context_propagating = true;
    for (asyncio__exc_t *x = older; x; x = x->context)
        if (++depth == CHAIN_MAX) {
            asyncio__exc_free(x->context);
            x->context = NULL;
            break;
        }
}

asyncio__exc_t *asyncio__exc_settle(asyncio__exc_t *e)
{
    for (asyncio__exc_t *x = e; x && x != &nomem_exc; x = x->context)
        x->context_propagating = false;
    return e;
}

/* fn runs with a clean indicator, as a new `await` would: what the caller
 * raised and caught is set aside until fn returns. */
asyncio__errstate_t asyncio__call_enter(void)
{
    asyncio__errstate_t *es = asyncio__errstate();
    asyncio__errstate_t saved = *es;
    *es = (asyncio__errstate_t){NULL, NULL};
    return saved;
}

int asyncio__call_leave(asyncio__errstate_t saved, void *r, void **result)
{
    asyncio__errstate_t *es = asyncio__errstate();
    asyncio__exc_free(es->caught); /* fn's own catches end with fn */
    es->caught = saved.caught;
    if (es->raised) {
        /* Raised again over the error set aside, which becomes its context;
         * what fn left propagating under its own error is history now. */
        asyncio__exc_t *failure = asyncio__exc_settle(es->raised);
        es->raised = saved.raised;
        asyncio__raise_exc(failure);
        return asyncio__out_fail(failure->pub.code, result);
    }
    es->raised = saved.raised;
    if (result)
        *result = r;
    return 0;
}

/* ------------------------------------------------------------ indicators */

_Thread_local asyncio__tls_t asyncio__tls __attribute__((tls_model("initial-exec")));

/* Frees a thread's indicator when the thread exits. */
static pthread_key_t tls_key;
static pthread_once_t tls_key_once = PTHREAD_ONCE_INIT;

static void tls_destructor(void *p)
{
    asyncio__errstate_clear(p);
}

static void tls_key_create(void)
{
    pthread_key_create(&tls_key, tls_destructor);
}

asyncio__errstate_t *asyncio__errstate(void)
{
    asyncio__task_t *t = asyncio__current();
    return t ? &t->err : &asyncio__tls.err;
}

void asyncio__errstate_clear(asyncio__errstate_t *es)
{
    if (!es->raised && !es->caught)
        return; /* the common case: every task ends through here */
    asyncio__exc_free(es->raised);
    asyncio__exc_free(es->caught);
    es->raised = es->caught = NULL;
}

void *asyncio__raise_exc(asyncio__exc_t *e)
{
    asyncio__errstate_t *es = asyncio__errstate();
    if (!e)
        e = &nomem_exc;
    if (es == &asyncio__tls.err && !es->raised && !es->caught) {
        /* First use of this thread's indicator: free it at thread exit. */
        pthread_once(&tls_key_once, tls_key_create);
        pthread_setspecific(tls_key, es);
    }
    /* e was made before the old errors go, so it may quote them. */
    asyncio__exc_free(es->caught);
    es->caught = NULL;
    asyncio__exc_t *older = es->raised;
    if (older && e->pub.code == ASYNCIO_ENOMEM && older->pub.code == ASYNCIO_ENOMEM) {
        /* Out of memory twice in a row says nothing more than once, and a
         * failing constructor often raises on top of what its callee
         * raised already: the newer replaces the older. */
        es->raised = exc_pop_context(older);
        asyncio__exc_free(older);
        older = es->raised;
    }
    if (older && e == &nomem_exc) {
        /* The shared MemoryError cannot hold a context: a copy of it can. */
        asyncio__exc_t *copy = exc_alloc(ASYNCIO_ENOMEM, "MemoryError", 0, 13);
        if (copy)
            memcpy((char *)copy->pub.message, "out of memory", 14);
        e = copy ? copy : e;
    }
    if (older && e != &nomem_exc)
        exc_chain(e, older);
    else
        asyncio__exc_free(older); /* no memory even for that: the older goes */
    es->raised = e;
    return NULL;
}

int asyncio__raise_code(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    asyncio__raise_exc(asyncio__exc_new(code, asyncio__code_type(code), 0, fmt, ap));
    va_end(ap);
    return code;
}

asyncio__exc_t *asyncio__take_raised(void)
{
    asyncio__errstate_t *es = asyncio__errstate();
    asyncio__exc_t *e = es->raised;
    es->raised = exc_pop_context(e);
    return e;
}

asyncio__exc_t *asyncio__take_all(void)
{
    asyncio__errstate_t *es = asyncio__errstate();
    asyncio__exc_t *e = es->raised;
    es->raised = NULL;
    return e;
}

/* The link in the stack of propagating errors that leads to the index-th
 * one (index >= 1): the propagating link at the end of the one before. */
static asyncio__exc_t *link_to(asyncio__exc_t *e, size_t index)
{
    asyncio__exc_t *x = e;
    for (;;) {
        while (x && !x->context_propagating)
            x = x->context;
        if (!x || --index == 0)
            return x;
        x = x->context;
    }
}

size_t asyncio__raised_depth(void)
{
    asyncio__exc_t *e = asyncio__errstate()->raised;
    size_t n = 0;
    for (asyncio__exc_t *x = e; x; n++) {
        while (x->context && !x->context_propagating)
            x = x->context;
        x = x->context_propagating ? x->context : NULL;
    }
    return n;
}

long asyncio__find_raised(size_t within, const char *type)
{
    asyncio__exc_t *e = asyncio__errstate()->raised;
    for (size_t i = 0; i < within && e; i++) {
        if (asyncio__exc_matches(&e->pub, type))
            return (long)i;
        asyncio__exc_t *link = link_to(e, 1);
        e = link ? link->context : NULL;
    }
    return -1;
}

void asyncio__drop_raised(size_t index)
{
    asyncio__errstate_t *es = asyncio__errstate();
    if (index == 0) {
        asyncio__exc_free(asyncio__take_raised());
        return;
    }
    asyncio__exc_t *link = link_to(es->raised, index);
    if (!link)
        return;
    asyncio__exc_t *dropped = link->context;
    asyncio__exc_t *under = exc_pop_context(dropped);
    asyncio__exc_free(dropped);
    link->context = under;
    link->context_propagating = under != NULL;
}

void asyncio__raise_instead(asyncio__exc_t *e)
{
    asyncio__exc_free(asyncio__take_raised());
    asyncio__raise_exc(e);
}

const asyncio_error_t *asyncio_error(void)
{
    asyncio__exc_t *e = asyncio__errstate()->raised;
    return e ? &e->pub : NULL;
}

bool asyncio_error_matches(const char *type)
{
    asyncio__exc_t *e = asyncio__errstate()->raised;
    return e && asyncio__exc_matches(&e->pub, type);
}

const asyncio_error_t *asyncio_catch(const char *type)
{
    asyncio__errstate_t *es = asyncio__errstate();
    if (!es->raised || !asyncio__exc_matches(&es->raised->pub, type))
        return NULL;
    asyncio__exc_free(es->caught);
    es->caught = es->raised;
    es->raised = exc_pop_context(es->caught);
    if (es->raised)
        es->raised->resurfaced = true;
    return &es->caught->pub;
}

void asyncio_error_clear(void)
{
    /* `except: pass`: the newest error is handled; an older one still
     * propagating is raised again. */
    asyncio__errstate_t *es = asyncio__errstate();
    asyncio__exc_t *e = es->raised;
    es->raised = exc_pop_context(e);
    if (es->raised)
        es->raised->resurfaced = true;
    asyncio__exc_free(e);
    asyncio__exc_free(es->caught); /* and forgets the error caught last */
    es->caught = NULL;
}

size_t asyncio_error_format(const asyncio_error_t *err, char *buf, size_t cap)
{
    int n;
    if (!err)
        n = snprintf(buf, cap, "%s", "");
    else if (!err->message || !*err->message)
        n = snprintf(buf, cap, "%s", err->type);
    else
        n = snprintf(buf, cap, "%s: %s", err->type, err->message);
    return n < 0 ? 0 : (size_t)n;
}

const asyncio_error_t *asyncio_error_context(const asyncio_error_t *err)
{
    const asyncio__exc_t *e = (const asyncio__exc_t *)err;
    return e && e->context ? &e->context->pub : NULL;
}

void *asyncio_raise(const char *type, const char *fmt, ...)
{
    if (!type)
        type = "Exception";
    va_list ap;
    va_start(ap, fmt);
    asyncio__raise_exc(asyncio__exc_new(asyncio__type_code(type), type, 0, fmt, ap));
    va_end(ap);
    return NULL;
}

/* getaddrinfo's own code for a libuv EAI code (Python's gaierror errno),
 * or 0. */
static int eai_of(int uv_code)
{
    static const struct {
        int uv, eai;
    } map[] = {
        {UV_EAI_AGAIN, EAI_AGAIN},
        {UV_EAI_BADFLAGS, EAI_BADFLAGS},
        {UV_EAI_FAIL, EAI_FAIL},
        {UV_EAI_FAMILY, EAI_FAMILY},
        {UV_EAI_MEMORY, EAI_MEMORY},
        {UV_EAI_NONAME, EAI_NONAME},
        {UV_EAI_OVERFLOW, EAI_OVERFLOW},
        {UV_EAI_SERVICE, EAI_SERVICE},
        {UV_EAI_SOCKTYPE, EAI_SOCKTYPE},
#ifdef EAI_ADDRFAMILY
        {UV_EAI_ADDRFAMILY, EAI_ADDRFAMILY},
#endif
#ifdef EAI_NODATA
        {UV_EAI_NODATA, EAI_NODATA},
#endif
#ifdef EAI_CANCELED
        {UV_EAI_CANCELED, EAI_CANCELED},
#endif
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].uv == uv_code)
            return map[i].eai;
    return 0;
}

/* The errno Python would show for a libuv code, and the C library's text
 * for it ("No such file or directory", "Name or service not known"), as
 * Python's OSError and gaierror messages give them. */
static int os_errno(int uv_code, char *text, size_t cap)
{
    int eai = eai_of(uv_code);
    if (eai) {
        snprintf(text, cap, "%s", gai_strerror(eai));
        return eai;
    }
    if (uv_code > -3000) { /* on Unix a libuv code is -errno */
        char tmp[128];
        snprintf(text, cap, "%s", strerror_r(-uv_code, tmp, sizeof tmp)); /* GNU's */
        return -uv_code;
    }
    snprintf(text, cap, "%s", asyncio_strerror(uv_code));
    return 0;
}

void *asyncio_raise_uv(int uv_code, const char *fmt, ...)
{
    if (uv_code >= 0 || uv_code < UV_EOF) { /* libuv's codes end at UV_EOF (-4095) */
        asyncio__raise_code(ASYNCIO_EVALUE, "%d is not a libuv error code", uv_code);
        return NULL;
    }
    char context[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(context, sizeof context, fmt, ap);
        va_end(ap);
    }
    /* Python's form: "[Errno 2] No such file or directory: '/x'". */
    char text[128];
    int detail = os_errno(uv_code, text, sizeof text);
    char buf[512];
    if (detail)
        snprintf(buf, sizeof buf, *context ? "[Errno %d] %s: %s" : "[Errno %d] %s", detail, text,
                 context);
    else
        snprintf(buf, sizeof buf, *context ? "%s: %s" : "%s", text, context);
    asyncio__exc_t *e = asyncio__exc_make(uv_code, uv_type(uv_code), buf);
    if (e != &nomem_exc)
        e->pub.detail = detail;
    return asyncio__raise_exc(e);
}

void *asyncio_reraise(void)
{
    /* Python's bare `raise`: the exception being handled, which is the
     * raised one, or else the one asyncio_catch took last. */
    asyncio__errstate_t *es = asyncio__errstate();
    if (es->raised)
        return NULL;
    if (es->caught) {
        es->raised = es->caught;
        es->caught = NULL;
        return NULL;
    }
    asyncio__raise_code(ASYNCIO_ERUNTIME, "No active exception to reraise");
    return NULL;
}

void *asyncio_raise_error(const asyncio_error_t *err)
{
    if (!err) {
        asyncio__raise_code(ASYNCIO_EVALUE, "err is NULL");
        return NULL;
    }
    /* `raise e`: what was under e when it was kept is its history now. */
    return asyncio__raise_exc(asyncio__exc_settle(asyncio__exc_dup((const asyncio__exc_t *)err)));
}

asyncio_error_t *asyncio_error_dup(const asyncio_error_t *err)
{
    if (!err)
        return NULL;
    asyncio__exc_t *e;
    if (err == &nomem_exc.pub) {
        /* The shared MemoryError is not the user's to free: a real copy. */
        size_t mlen = strlen(err->message);
        if ((e = exc_alloc(err->code, err->type, 0, mlen)))
            memcpy((char *)e->pub.message, err->message, mlen + 1);
    } else {
        e = asyncio__exc_dup((const asyncio__exc_t *)err);
    }
    return e && e != &nomem_exc ? &e->pub : NULL;
}

void asyncio_error_free(asyncio_error_t *err)
{
    asyncio__exc_free((asyncio__exc_t *)err);
}

size_t asyncio_error_group_size(const asyncio_error_t *err)
{
    if (!err || err->code != ASYNCIO_EGROUP)
        return 0;
    return ((const asyncio__exc_t *)err)->nmembers;
}

const asyncio_error_t *asyncio_error_group_item(const asyncio_error_t *err, size_t i)
{
    if (i >= asyncio_error_group_size(err))
        return NULL;
    return &((const asyncio__exc_t *)err)->members[i]->pub;
}
