/*
 * Every allocation of the library goes through these hooks, so a program
 * can count them or make them fail (asyncio_set_allocator).  They may only
 * change while no loop exists, nor any future of a closed one: a block must
 * be freed by the allocator that made it.
 */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static void *(*malloc_hook)(size_t) = malloc;
static void *(*realloc_hook)(void *, size_t) = realloc;
static void *(*calloc_hook)(size_t, size_t) = calloc;
static void (*free_hook)(void *) = free;

atomic_int asyncio__live_loops;

int asyncio_set_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                          void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
    if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s is NULL",
                                   !malloc_fn    ? "malloc_fn"
                                   : !realloc_fn ? "realloc_fn"
                                   : !calloc_fn  ? "calloc_fn"
                                                 : "free_fn");
    if (atomic_load(&asyncio__live_loops) > 0)
        return asyncio__raise_code(ASYNCIO_ERUNTIME,
                                   "the allocator cannot change while a loop exists");
    if (atomic_load(&asyncio__live_contexts) > 0)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the allocator cannot change while a "
                                                     "context variable or context exists");
    malloc_hook = malloc_fn;
    realloc_hook = realloc_fn;
    calloc_hook = calloc_fn;
    free_hook = free_fn;
    return 0;
}

bool asyncio__allocator_is_default(void)
{
    return malloc_hook == malloc;
}

void *asyncio__malloc(size_t n)
{
    return malloc_hook(n);
}
void *asyncio__calloc(size_t n, size_t m)
{
    return calloc_hook(n, m);
}
void *asyncio__realloc(void *p, size_t n)
{
    return realloc_hook(p, n);
}
void asyncio__free(void *p)
{
    if (p)
        free_hook(p);
}

char *asyncio__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = asyncio__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

const char *asyncio_version_string(void)
{
#define STR_(x) #x
#define STR(x) STR_(x)
    return STR(ASYNCIO_VERSION_MAJOR) "." STR(ASYNCIO_VERSION_MINOR) "." STR(ASYNCIO_VERSION_PATCH);
}
