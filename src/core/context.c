/*
 * Context variables: Python's contextvars (PEP 567).
 *
 * A context's content is a persistent hash array mapped trie (HAMT), as in
 * CPython: an immutable tree of nodes, each with a 32-bit bitmap saying
 * which of its 32 slots are present and a dense array of them; a slot is a
 * binding (a cell: variable and value) or a child node, told apart by the
 * low bit of the pointer.  A variable's 64-bit hash is unique (a bijective
 * mix of a serial number), so two bindings always part at some level
 * (5 bits a level, 13 levels at most) and no collision lists are needed.
 *
 * Copying a context is taking one reference to its root; set copies the
 * path from the root to the binding (a node or two for the few variables a
 * program has) and leaves every copy as it was.  The empty mapping is
 * NULL, so a task whose creator set nothing copies a NULL pointer: task
 * creation pays nothing for contexts nobody uses.
 *
 * Ownership, with every count atomic (a copy may go to a worker thread,
 * to_thread; the posting thread's copy to a loop, call_soon_threadsafe):
 *   - a node holds a reference to each cell and child it points to;
 *   - a cell holds a reference to its variable, and owns its value when
 *     the variable has a destroy function (called when the cell goes);
 *   - a variable is held by its handle and by its cells and tokens, so
 *     that its hash and destroy function outlive the user's free;
 *   - a token holds the cell it replaced (the old value stays alive for
 *     the reset) and its variable.
 *
 * Where the current context is: see asyncio__context_slot (core.h).
 * A task's own context is a copy of its creator's; asyncio_context_run
 * and opts.context point the task (or the thread, outside tasks) at a
 * context object for a while.
 */
#include "core/handle.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

#define LEVEL_BITS 5
#define LEVEL_MASK 31u

atomic_long asyncio__live_contexts;

typedef struct contextvar contextvar_t;

struct contextvar {
    void *handle;
    atomic_long refs; /* its handle, its cells and tokens */
    uint64_t hash;
    void *default_value;
    bool has_default;
    void (*destroy)(void *);
    char name[];
};

typedef struct cell {
    atomic_long refs; /* nodes and tokens holding it */
    contextvar_t *var;
    void *value;
} cell_t;

struct asyncio__cnode {
    atomic_long refs;
    uint32_t bitmap; /* which of the 32 slots are present */
    uint32_t size;   /* bindings in this subtree */
    void *slots[];   /* in bit order: a cell, or a child node with bit 0 set */
};
typedef asyncio__cnode_t cnode_t;

/* A context object (asyncio_context_t's object). */
typedef struct ctxobj {
    asyncio__context_t base; /* first: the object is a context */
    void *handle;
    atomic_long refs;    /* its handle, tasks running in it, runs in progress */
    atomic_bool entered; /* inside asyncio_context_run */
} ctxobj_t;

typedef struct token {
    void *handle;
    contextvar_t *var;
    cell_t *old;     /* the binding it replaced; NULL: the variable was unset */
    uint64_t ctx_id; /* the context it was made in */
} token_t;

/* ------------------------------------------------------------ ids */

static atomic_uint_fast64_t serials;

static uint64_t next_serial(void)
{
    return atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
}

/* splitmix64's finaliser: a bijection, so distinct serials give distinct
 * hashes, spread over every level of the trie. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Context identities, for tokens (reset must happen in the context of the
 * set).  A task's own context is named by the task's number, even; every
 * other context gets an odd serial on first need. */
static uint64_t context_id(asyncio__context_t *c)
{
    if (!c->id)
        c->id = next_serial() << 1 | 1;
    return c->id;
}

static uint64_t current_context_id(void)
{
    asyncio_loop_t *l = asyncio__tls.running;
    asyncio__task_t *t = l ? l->current : NULL;
    if (t) {
        asyncio__task_extra_t *x = asyncio__task_extra(t);
        return x && x->context ? context_id(x->context) : t->number << 1;
    }
    return context_id(asyncio__tls.context ? asyncio__tls.context : &asyncio__tls.ctx0);
}

/* ------------------------------------------------------------ variables and cells */

static void var_ref(contextvar_t *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

static void var_unref(contextvar_t *v)
{
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        asyncio__free(v);
        atomic_fetch_sub(&asyncio__live_contexts, 1);
    }
}

static cell_t *cell_new(contextvar_t *v, void *value)
{
    cell_t *c = asyncio__malloc(sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->var = v;
    c->value = value;
    var_ref(v);
    return c;
}

static cell_t *cell_ref(cell_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

static void cell_unref(cell_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    contextvar_t *v = c->var;
    void *value = c->value;
    asyncio__free(c);
    if (v->destroy)
        v->destroy(value);
    var_unref(v);
}

/* ------------------------------------------------------------ the trie */

static bool is_node(const void *slot)
{
    return (uintptr_t)slot & 1;
}

static cnode_t *as_node(void *slot)
{
    return (cnode_t *)((uintptr_t)slot - 1);
}

static void *tagged(cnode_t *n)
{
    return (void *)((uintptr_t)n + 1);
}

static unsigned popcount(uint32_t x)
{
    return (unsigned)__builtin_popcount(x);
}

static uint32_t bit_at(uint64_t hash, unsigned shift)
{
    return 1u << ((hash >> shift) & LEVEL_MASK);
}

void asyncio__cnode_incref(cnode_t *n)
{
    if (n)
        atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

static void slot_ref(void *s)
{
    if (is_node(s))
        asyncio__cnode_incref(as_node(s));
    else
        cell_ref(s);
}

static void slot_unref(void *s);

void asyncio__cnode_decref(cnode_t *n)
{
    if (!n || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    unsigned k = popcount(n->bitmap);
    for (unsigned i = 0; i < k; i++)
        slot_unref(n->slots[i]);
    asyncio__free(n);
}

static void slot_unref(void *s)
{
    if (is_node(s))
        asyncio__cnode_decref(as_node(s));
    else
        cell_unref(s);
}

static cnode_t *node_new(uint32_t bitmap, uint32_t size)
{
    cnode_t *n = asyncio__malloc(sizeof *n + popcount(bitmap) * sizeof(void *));
    if (!n)
        return NULL;
    atomic_init(&n->refs, 1);
    n->bitmap = bitmap;
    n->size = size;
    return n;
}

/* The binding of v in the trie rooted at n, or NULL.  The hot path of
 * asyncio_contextvar_get: with a few variables, one level. */
static inline cell_t *find(const cnode_t *n, const contextvar_t *v)
{
    uint64_t h = v->hash;
    for (unsigned shift = 0; n; shift += LEVEL_BITS) {
        uint32_t bit = bit_at(h, shift);
        if (!(n->bitmap & bit))
            return NULL;
        void *s = n->slots[popcount(n->bitmap & (bit - 1))];
        if (!is_node(s)) {
            cell_t *c = s;
            return c->var == v ? c : NULL;
        }
        n = as_node(s);
    }
    return NULL;
}

/* A node holding cells a and b (of different variables) below level
 * `shift`, or NULL without memory. */
static cnode_t *pair(cell_t *a, cell_t *b, unsigned shift)
{
    uint32_t ba = bit_at(a->var->hash, shift), bb = bit_at(b->var->hash, shift);
    cnode_t *n;
    if (ba == bb) {
        cnode_t *child = pair(a, b, shift + LEVEL_BITS);
        if (!child)
            return NULL;
        if (!(n = node_new(ba, 2))) {
            asyncio__cnode_decref(child);
            return NULL;
        }
        n->slots[0] = tagged(child);
        return n;
    }
    if (!(n = node_new(ba | bb, 2)))
        return NULL;
    n->slots[ba < bb ? 0 : 1] = cell_ref(a);
    n->slots[ba < bb ? 1 : 0] = cell_ref(b);
    return n;
}

/* A copy of the trie n (NULL: empty) with c bound (replacing the binding
 * of its variable): a new root with one reference, sharing everything off
 * the path; NULL without memory (n untouched). */
static cnode_t *assoc(const cnode_t *n, unsigned shift, cell_t *c)
{
    uint32_t bit = bit_at(c->var->hash, shift);
    if (!n) {
        cnode_t *m = node_new(bit, 1);
        if (m)
            m->slots[0] = cell_ref(c);
        return m;
    }
    unsigned idx = popcount(n->bitmap & (bit - 1)), k = popcount(n->bitmap);
    if (!(n->bitmap & bit)) {
        cnode_t *m = node_new(n->bitmap | bit, n->size + 1);
        if (!m)
            return NULL;
        for (unsigned i = 0; i < idx; i++)
            slot_ref(m->slots[i] = n->slots[i]);
        m->slots[idx] = cell_ref(c);
        for (unsigned i = idx; i < k; i++)
            slot_ref(m->slots[i + 1] = n->slots[i]);
        return m;
    }
    void *s = n->slots[idx], *repl;
    uint32_t size = n->size;
    if (is_node(s)) {
        cnode_t *child = assoc(as_node(s), shift + LEVEL_BITS, c);
        if (!child)
            return NULL;
        size += child->size - as_node(s)->size;
        repl = tagged(child);
    } else if (((cell_t *)s)->var == c->var) {
        repl = cell_ref(c);
    } else {
        cnode_t *child = pair(s, c, shift + LEVEL_BITS);
        if (!child)
            return NULL;
        size++;
        repl = tagged(child);
    }
    cnode_t *m = node_new(n->bitmap, size);
    if (!m) {
        slot_unref(repl);
        return NULL;
    }
    for (unsigned i = 0; i < k; i++)
        if (i != idx)
            slot_ref(m->slots[i] = n->slots[i]);
    m->slots[idx] = repl;
    return m;
}

/* A copy of the trie n without v's binding in *out (n itself, with a new
 * reference, when v is not bound; NULL when nothing is left).  -1 without
 * memory (*out untouched). */
static int dissoc(cnode_t *n, unsigned shift, const contextvar_t *v, cnode_t **out)
{
    uint32_t bit = bit_at(v->hash, shift);
    if (!n || !(n->bitmap & bit)) {
        asyncio__cnode_incref(n);
        *out = n;
        return 0;
    }
    unsigned idx = popcount(n->bitmap & (bit - 1)), k = popcount(n->bitmap);
    void *s = n->slots[idx], *repl = NULL;
    if (is_node(s)) {
        cnode_t *child;
        if (dissoc(as_node(s), shift + LEVEL_BITS, v, &child) != 0)
            return -1;
        if (child == as_node(s)) { /* not there */
            asyncio__cnode_decref(child);
            asyncio__cnode_incref(n);
            *out = n;
            return 0;
        }
        if (child && child->size == 1 && !is_node(child->slots[0])) {
            /* A lone binding moves up: the trie stays as shallow as it can. */
            repl = cell_ref(child->slots[0]);
            asyncio__cnode_decref(child);
        } else if (child) {
            repl = tagged(child);
        }
    } else if (((cell_t *)s)->var != v) {
        asyncio__cnode_incref(n);
        *out = n;
        return 0;
    }
    if (!repl && k == 1) {
        *out = NULL;
        return 0;
    }
    cnode_t *m = node_new(repl ? n->bitmap : n->bitmap & ~bit, n->size - 1);
    if (!m) {
        if (repl)
            slot_unref(repl);
        return -1;
    }
    for (unsigned i = 0, j = 0; i < k; i++) {
        if (i == idx) {
            if (repl)
                m->slots[j++] = repl;
        } else {
            slot_ref(m->slots[j++] = n->slots[i]);
        }
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------ updates in place */

/* A context owns its root alone most of the time (nobody copied it since
 * its last set): then set and reset change the nodes it owns alone in
 * place, and copy only from the first node it shares.  No one else can
 * take a reference to a node whose count is 1, since the one reference
 * is ours.  What an update lets go (a replaced binding, shared nodes it
 * copied) is released only once the trie is whole again: releasing may
 * run destroy functions, which may look at the context. */
typedef struct garbage {
    void *slots[8];
    unsigned n;
} garbage_t;

static void trash(garbage_t *g, void *slot)
{
    g->slots[g->n++] = slot; /* a level lets go of one at most, three levels at most */
}

static void empty_trash(garbage_t *g)
{
    for (unsigned i = 0; i < g->n; i++)
        slot_unref(g->slots[i]);
    g->n = 0;
}

static bool exclusive(const cnode_t *n)
{
    return atomic_load_explicit(&n->refs, memory_order_acquire) == 1;
}

/* Binds c (borrowed: the trie takes its own reference) in the trie *np
 * at level shift.  0, or -1 without memory, the trie unchanged. */
static int put(cnode_t **np, unsigned shift, cell_t *c, garbage_t *g)
{
    cnode_t *n = *np;
    if (!n || !exclusive(n)) {
        cnode_t *m = assoc(n, shift, c);
        if (!m)
            return -1;
        if (n)
            trash(g, tagged(n));
        *np = m;
        return 0;
    }
    uint32_t bit = bit_at(c->var->hash, shift);
    unsigned idx = popcount(n->bitmap & (bit - 1)), k = popcount(n->bitmap);
    if (!(n->bitmap & bit)) {
        cnode_t *m = asyncio__realloc(n, sizeof *n + (k + 1) * sizeof(void *));
        if (!m)
            return -1;
        memmove(&m->slots[idx + 1], &m->slots[idx], (k - idx) * sizeof(void *));
        m->slots[idx] = cell_ref(c);
        m->bitmap |= bit;
        m->size++;
        *np = m;
        return 0;
    }
    void *s = n->slots[idx];
    if (is_node(s)) {
        cnode_t *child = as_node(s);
        uint32_t before = child->size;
        if (put(&child, shift + LEVEL_BITS, c, g) != 0)
            return -1;
        n->slots[idx] = tagged(child);
        n->size += child->size - before;
    } else if (((cell_t *)s)->var == c->var) {
        n->slots[idx] = cell_ref(c);
        trash(g, s);
    } else {
        cnode_t *child = pair(s, c, shift + LEVEL_BITS);
        if (!child)
            return -1;
        n->slots[idx] = tagged(child);
        trash(g, s); /* pair took its own reference */
        n->size++;
    }
    return 0;
}

/* Takes v's binding out of the trie *np.  1 if it was there, 0 if not, -1
 * without memory (the trie unchanged). */
static int del(cnode_t **np, unsigned shift, const contextvar_t *v, garbage_t *g)
{
    cnode_t *n = *np;
    uint32_t bit = bit_at(v->hash, shift);
    if (!n || !(n->bitmap & bit))
        return 0;
    if (!exclusive(n)) {
        cnode_t *m;
        if (dissoc(n, shift, v, &m) != 0)
            return -1;
        if (m == n) {
            asyncio__cnode_decref(m);
            return 0;
        }
        trash(g, tagged(n));
        *np = m;
        return 1;
    }
    unsigned idx = popcount(n->bitmap & (bit - 1)), k = popcount(n->bitmap);
    void *s = n->slots[idx];
    if (is_node(s)) {
        cnode_t *child = as_node(s);
        int rc = del(&child, shift + LEVEL_BITS, v, g);
        if (rc <= 0)
            return rc;
        n->size--;
        if (child && child->size == 1 && !is_node(child->slots[0])) {
            /* A lone binding moves up: the trie stays as shallow as it can. */
            n->slots[idx] = cell_ref(child->slots[0]);
            trash(g, tagged(child));
            return 1;
        }
        if (child) {
            n->slots[idx] = tagged(child);
            return 1;
        }
    } else if (((cell_t *)s)->var == v) {
        trash(g, s);
        n->size--;
    } else {
        return 0;
    }
    /* The slot goes. */
    if (k == 1) {
        asyncio__free(n);
        *np = NULL;
        return 1;
    }
    memmove(&n->slots[idx], &n->slots[idx + 1], (k - idx - 1) * sizeof(void *));
    n->bitmap &= ~bit;
    return 1;
}

/* Installs map (a reference taken over) in the mapping slot *slot and
 * drops the old one, last: dropping it may run destroy functions, which
 * may look at the context. */
static void install(cnode_t **slot, cnode_t *map)
{
    cnode_t *old = *slot;
    *slot = map;
    asyncio__cnode_decref(old);
}

/* ------------------------------------------------------------ the current context */

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* A thread's own context goes with the thread.  (The main thread's stays
 * until the process ends, as Python's does.) */
static void thread_exit(void *p)
{
    asyncio__context_t *c = p;
    install(&c->map, NULL);
}

static void thread_key_create(void)
{
    pthread_key_create(&thread_key, thread_exit);
}

/* Before a thread's own context first holds something. */
static void thread_context_register(cnode_t **slot)
{
    if (slot != &asyncio__tls.ctx0.map || asyncio__tls.ctx_key_set)
        return;
    pthread_once(&thread_key_once, thread_key_create);
    pthread_setspecific(thread_key, &asyncio__tls.ctx0);
    asyncio__tls.ctx_key_set = true;
}

asyncio__cnode_t *asyncio__context_capture(void)
{
    cnode_t *m = *asyncio__context_slot();
    asyncio__cnode_incref(m);
    return m;
}

/* Makes c the context of the calling thread outside tasks, or of the
 * running task (which needs its extras for that); *was gets the one it
 * replaces (NULL: the own one).  MemoryError without extras. */
static int enter(asyncio__context_t *c, asyncio__context_t **was)
{
    asyncio__task_t *t = asyncio__current();
    if (t) {
        asyncio__task_extra_t *x = asyncio__task_extras(t);
        if (!x)
            return ASYNCIO_ENOMEM;
        *was = x->context;
        x->context = c;
    } else {
        *was = asyncio__tls.context;
        asyncio__tls.context = c;
    }
    return 0;
}

/* Undoes enter: the task (or thread) is the one that entered, since
 * enter/leave pairs nest on one stack. */
static void leave(asyncio__context_t *was)
{
    asyncio__task_t *t = asyncio__current();
    if (t)
        asyncio__task_extra(t)->context = was;
    else
        asyncio__tls.context = was;
}

void asyncio__context_call(asyncio__cnode_t *m, asyncio_callback_fn fn, void *arg)
{
    asyncio__context_t copy = {m, 0};
    asyncio__cnode_incref(m);
    asyncio__context_t *was = asyncio__tls.context;
    asyncio__tls.context = &copy;
    fn(arg);
    asyncio__tls.context = was;
    install(&copy.map, NULL);
}

void *asyncio__context_call_blocking(asyncio__cnode_t *m, void *(*fn)(void *), void *arg)
{
    asyncio__context_t copy = {m, 0};
    asyncio__cnode_incref(m);
    asyncio__context_t *was = asyncio__tls.context;
    asyncio__tls.context = &copy;
    void *r = fn(arg);
    asyncio__tls.context = was;
    install(&copy.map, NULL);
    return r;
}

asyncio__callback_scope_t asyncio__callback_enter(asyncio__context_t *c)
{
    asyncio_loop_t *l = asyncio__tls.running;
    asyncio__callback_scope_t was = {l ? l->current : NULL, asyncio__tls.context};
    if (l)
        l->current = NULL;
    asyncio__tls.context = c;
    return was;
}

void asyncio__callback_leave(asyncio__callback_scope_t was)
{
    asyncio_loop_t *l = asyncio__tls.running;
    if (l)
        l->current = was.task;
    asyncio__tls.context = was.context;
}

/* ------------------------------------------------------------ ContextVar */

static contextvar_t *var_check(asyncio_contextvar_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_CONTEXTVAR, "context variable");
}

asyncio_contextvar_t *asyncio_contextvar_new_ex(const char *name,
                                                const asyncio_contextvar_opts_t *opts)
{
    if (!name) {
        asyncio__raise_code(ASYNCIO_EVALUE, "name is NULL");
        return NULL;
    }
    size_t len = strlen(name) + 1;
    contextvar_t *v = asyncio__malloc(sizeof *v + len);
    if (!v) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a ContextVar");
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->hash = mix(next_serial());
    v->default_value = opts ? opts->default_value : NULL;
    v->has_default = !(opts && opts->no_default);
    v->destroy = opts ? opts->destroy : NULL;
    memcpy(v->name, name, len);
    if (!asyncio__handle_give(v, &v->handle, ASYNCIO__H_CONTEXTVAR))
        return NULL;
    atomic_fetch_add(&asyncio__live_contexts, 1);
    return v->handle;
}

asyncio_contextvar_t *asyncio_contextvar_new(const char *name, void *default_value)
{
    asyncio_contextvar_opts_t opts = {.default_value = default_value};
    return asyncio_contextvar_new_ex(name, &opts);
}

void asyncio_contextvar_free(asyncio_contextvar_t *handle)
{
    if (!handle)
        return;
    contextvar_t *v = var_check(handle);
    if (!v)
        return;
    asyncio__handle_retire(handle);
    var_unref(v);
}

const char *asyncio_contextvar_name(asyncio_contextvar_t *handle)
{
    contextvar_t *v = var_check(handle);
    return v ? v->name : NULL;
}

/* Python's LookupError or KeyError for an unset variable: its repr. */
static int raise_missing(const char *type, const contextvar_t *v)
{
    char msg[192];
    snprintf(msg, sizeof msg, "<ContextVar name='%s'>", v->name);
    asyncio__raise_exc(asyncio__exc_make(ASYNCIO_EEXCEPTION, type, msg));
    return ASYNCIO_EEXCEPTION;
}

int asyncio_contextvar_get(asyncio_contextvar_t *handle, void **value)
{
    contextvar_t *v = var_check(handle);
    if (ASYNCIO__UNLIKELY(!v))
        return asyncio__out_fail(ASYNCIO_EVALUE, value);
    cell_t *c = find(*asyncio__context_slot(), v);
    if (ASYNCIO__LIKELY(c != NULL)) {
        if (value)
            *value = c->value;
        return 0;
    }
    if (!v->has_default)
        return asyncio__out_fail(raise_missing("LookupError", v), value);
    if (value)
        *value = v->default_value;
    return 0;
}

int asyncio_contextvar_get_or(asyncio_contextvar_t *handle, void *fallback, void **value)
{
    contextvar_t *v = var_check(handle);
    if (!v)
        return asyncio__out_fail(ASYNCIO_EVALUE, value);
    cell_t *c = find(*asyncio__context_slot(), v);
    if (value)
        *value = c ? c->value : fallback;
    return 0;
}

static int nomem(const char *what)
{
    return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %s", what);
}

int asyncio_contextvar_set(asyncio_contextvar_t *handle, void *value,
                           asyncio_contextvar_token_t **tokenp)
{
    if (tokenp)
        *tokenp = NULL;
    contextvar_t *v = var_check(handle);
    if (!v)
        return ASYNCIO_EVALUE;
    cnode_t **slot = asyncio__context_slot();
    token_t *tok = NULL;
    if (tokenp) {
        if (!(tok = asyncio__malloc(sizeof *tok)))
            return nomem("a Token");
        if (!asyncio__handle_give(tok, &tok->handle, ASYNCIO__H_CONTEXTVAR_TOKEN))
            return ASYNCIO_ENOMEM;
        tok->var = v;
        tok->old = find(*slot, v);
        tok->ctx_id = current_context_id();
    }
    garbage_t g = {.n = 0};
    cell_t *c = cell_new(v, value);
    if (!c || put(slot, 0, c, &g) != 0) {
        if (c) { /* not set after all: the value stays the caller's */
            asyncio__free(c);
            var_unref(v);
        }
        if (tok) {
            asyncio__handle_retire(tok->handle);
            asyncio__free(tok);
        }
        return nomem("a context variable's value");
    }
    cell_unref(c); /* the trie holds it */
    if (tok) {
        var_ref(v);
        if (tok->old)
            cell_ref(tok->old); /* before the trie lets it go */
        *tokenp = tok->handle;
    }
    thread_context_register(slot);
    empty_trash(&g);
    return 0;
}

static void token_release(token_t *tok)
{
    asyncio__handle_retire(tok->handle);
    if (tok->old)
        cell_unref(tok->old);
    var_unref(tok->var);
    asyncio__free(tok);
}

/* The token behind a handle, or NULL with the error raised: a handle of
 * the token type that is no longer live was used (reset or freed) before. */
static token_t *token_check(asyncio_contextvar_token_t *handle)
{
    token_t *tok = asyncio__handle_get(handle, ASYNCIO__H_CONTEXTVAR_TOKEN);
    if (tok)
        return tok;
    if (handle && ((uintptr_t)handle & ((1u << ASYNCIO__HANDLE_TYPE_BITS) - 1)) ==
                      ASYNCIO__H_CONTEXTVAR_TOKEN)
        asyncio__raise_code(ASYNCIO_ERUNTIME, "<Token> has already been used once");
    else
        asyncio__handle_refused(handle, "token");
    return NULL;
}

int asyncio_contextvar_reset(asyncio_contextvar_t *handle, asyncio_contextvar_token_t *token)
{
    token_t *tok = token_check(token);
    if (!tok)
        return asyncio_error()->code;
    contextvar_t *v = var_check(handle);
    int rc = 0;
    if (!v) {
        rc = ASYNCIO_EVALUE;
    } else if (tok->var != v) {
        rc = asyncio__raise_code(ASYNCIO_EVALUE,
                                 "<Token var=<ContextVar name='%s'>> was "
                                 "created by a different ContextVar",
                                 tok->var->name);
    } else {
        cnode_t **slot = asyncio__context_slot();
        garbage_t g = {.n = 0};
        if (current_context_id() != tok->ctx_id)
            rc = asyncio__raise_code(ASYNCIO_EVALUE,
                                     "<Token var=<ContextVar name='%s'>> was "
                                     "created in a different Context",
                                     v->name);
        else if (tok->old ? put(slot, 0, tok->old, &g) != 0 : del(slot, 0, v, &g) < 0)
            rc = nomem("a context variable's value");
        empty_trash(&g);
    }
    token_release(tok);
    return rc;
}

asyncio_contextvar_t *asyncio_contextvar_token_var(asyncio_contextvar_token_t *token)
{
    token_t *tok = token_check(token);
    return tok ? tok->var->handle : NULL;
}

bool asyncio_contextvar_token_old_value(asyncio_contextvar_token_t *token, void **old)
{
    token_t *tok = token_check(token);
    if (old)
        *old = tok && tok->old ? tok->old->value : NULL;
    return tok && tok->old;
}

void asyncio_contextvar_token_free(asyncio_contextvar_token_t *token)
{
    token_t *tok = asyncio__handle_get(token, ASYNCIO__H_CONTEXTVAR_TOKEN);
    if (tok)
        token_release(tok);
}

/* ------------------------------------------------------------ Context */

static ctxobj_t *ctx_check(asyncio_context_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_CONTEXT, "context");
}

/* A context object holding map (a reference taken over); NULL with
 * MemoryError (map released). */
static asyncio_context_t *ctxobj_new(cnode_t *map)
{
    ctxobj_t *c = asyncio__malloc(sizeof *c);
    if (!c) {
        asyncio__cnode_decref(map);
        nomem("a Context");
        return NULL;
    }
    c->base = (asyncio__context_t){map, 0};
    atomic_init(&c->refs, 1);
    atomic_init(&c->entered, false);
    if (!asyncio__handle_give(c, &c->handle, ASYNCIO__H_CONTEXT)) {
        asyncio__cnode_decref(map);
        return NULL;
    }
    atomic_fetch_add(&asyncio__live_contexts, 1);
    return c->handle;
}

static void ctxobj_ref(ctxobj_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void ctxobj_unref(ctxobj_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    install(&c->base.map, NULL);
    asyncio__free(c);
    atomic_fetch_sub(&asyncio__live_contexts, 1);
}

asyncio_context_t *asyncio_copy_context(void)
{
    return ctxobj_new(asyncio__context_capture());
}

asyncio_context_t *asyncio_context_new(void)
{
    return ctxobj_new(NULL);
}

asyncio_context_t *asyncio_context_copy(asyncio_context_t *handle)
{
    ctxobj_t *c = ctx_check(handle);
    if (!c)
        return NULL;
    asyncio__cnode_incref(c->base.map);
    return ctxobj_new(c->base.map);
}

void asyncio_context_free(asyncio_context_t *handle)
{
    if (!handle)
        return;
    ctxobj_t *c = ctx_check(handle);
    if (!c)
        return;
    asyncio__handle_retire(handle);
    ctxobj_unref(c);
}

int asyncio_context_run(asyncio_context_t *handle, asyncio_coro_fn fn, void *arg, void **result)
{
    ctxobj_t *c = ctx_check(handle);
    if (!c)
        return asyncio__out_fail(ASYNCIO_EVALUE, result);
    if (!fn)
        return asyncio__out_fail(asyncio__raise_code(ASYNCIO_EVALUE, "fn is NULL"), result);
    if (asyncio__context_slot() == &c->base.map ||
        atomic_exchange_explicit(&c->entered, true, memory_order_acquire))
        return asyncio__out_fail(asyncio__raise_code(ASYNCIO_ERUNTIME,
                                                     "cannot enter context: <Context> is "
                                                     "already entered"),
                                 result);
    asyncio__context_t *was;
    if (enter(&c->base, &was) != 0) {
        atomic_store_explicit(&c->entered, false, memory_order_release);
        return asyncio__out_fail(ASYNCIO_ENOMEM, result);
    }
    ctxobj_ref(c); /* a free during the run waits for its end */
    /* fn runs with a clean indicator, as asyncio_call's callee: an error
     * raised before comes back if fn succeeds, and is the context of fn's
     * error if fn fails. */
    asyncio__errstate_t saved = asyncio__call_enter();
    void *r = fn(arg);
    leave(was);
    atomic_store_explicit(&c->entered, false, memory_order_release);
    ctxobj_unref(c);
    return asyncio__call_leave(saved, r, result);
}

int asyncio_context_get(asyncio_context_t *handle, asyncio_contextvar_t *var, void **value)
{
    ctxobj_t *c = ctx_check(handle);
    contextvar_t *v = c ? var_check(var) : NULL;
    if (!v)
        return asyncio__out_fail(ASYNCIO_EVALUE, value);
    cell_t *cell = find(c->base.map, v);
    if (!cell)
        return asyncio__out_fail(raise_missing("KeyError", v), value);
    if (value)
        *value = cell->value;
    return 0;
}

size_t asyncio_context_len(asyncio_context_t *handle)
{
    ctxobj_t *c = ctx_check(handle);
    return c && c->base.map ? c->base.map->size : 0;
}

/* ------------------------------------------------------------ tasks */

/* The context a new task runs in, per asyncio_task_opts_t.context: the
 * object itself (a reference taken), else a copy of the current one. */
int asyncio__context_for_task(asyncio_context_t *given, asyncio__context_t **obj,
                              asyncio__cnode_t **map)
{
    if (given) {
        ctxobj_t *c = ctx_check(given);
        if (!c)
            return ASYNCIO_EVALUE;
        ctxobj_ref(c);
        *obj = &c->base;
        *map = NULL;
        return 0;
    }
    *obj = NULL;
    *map = asyncio__context_capture();
    return 0;
}

asyncio__task_extra_t *asyncio__task_extras(asyncio__task_t *t)
{
    asyncio__task_extra_t *x = asyncio__task_extra(t);
    if (x)
        return x;
    if (!(x = asyncio__calloc(1, sizeof *x))) {
        nomem("a task's context");
        return NULL;
    }
    x->map = t->ctxmap;
    t->ctxmap = (cnode_t *)((uintptr_t)x | 1);
    return x;
}

void asyncio__task_release_extras(asyncio__task_t *t)
{
    asyncio__task_extra_t *x = asyncio__task_extra(t);
    if (!x) {
        install(&t->ctxmap, NULL);
        return;
    }
    t->ctxmap = NULL;
    install(&x->map, NULL);
    if (x->given)
        ctxobj_unref((ctxobj_t *)x->given);
    asyncio__free(x->created_at);
    asyncio__free(x);
}

void asyncio__context_unref(asyncio__context_t *c)
{
    ctxobj_unref((ctxobj_t *)c);
}
