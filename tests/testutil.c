#include "testutil.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Atomic: tests with threads allocate from several at once. */
static _Atomic long live, total, fail_at;

static int should_fail(void)
{
    long n = fail_at;
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fail_at, &n, n - 1))
            return n == 1;
    }
    return 0;
}

/* realloc of NULL is an allocation; realloc to a new block is not a new
 * live block, so only the NULL case counts. */
static void *count_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p) {
        live++;
        total++;
    }
    return p;
}

static void *count_calloc(size_t n, size_t m)
{
    if (should_fail())
        return NULL;
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p) {
        live++;
        total++;
    }
    return p;
}

static void *count_realloc(void *old, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = realloc(old, n ? n : 1);
    if (p && !old) {
        live++;
        total++;
    }
    return p;
}

static void count_free(void *p)
{
    if (p)
        live--;
    free(p);
}

void tu_alloc_install(void)
{
    live = total = fail_at = 0;
    ck_assert_int_eq(asyncio_set_allocator(count_malloc, count_realloc, count_calloc, count_free),
                     0);
}

long tu_alloc_live(void)
{
    return live;
}
long tu_alloc_total(void)
{
    return total;
}
void tu_alloc_fail_at(long nth)
{
    fail_at = nth;
}

void tu_setup(void)
{
    tu_alloc_install();
}

void tu_clear_all(void)
{
    do /* every error still raised, and the one caught last */
        asyncio_error_clear();
    while (asyncio_error());
}

void tu_teardown(void)
{
    tu_clear_all();
    tu_assert_no_leak();
}

long tu_scaled(long n)
{
    const char *s = getenv("CASYNCIO_TEST_SCALE");
    long div = s ? atol(s) : 1;
    if (div < 1)
        div = 1;
    n /= div;
    return n > 0 ? n : 1;
}

int tu_run(asyncio_coro_fn main, void *arg, void **result)
{
    return asyncio_run(main, arg, result);
}

void tu_logf(tu_log_t *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(log->buf + log->len, sizeof log->buf - log->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        log->len += (size_t)n;
        if (log->len >= sizeof log->buf)
            log->len = sizeof log->buf - 1;
    }
}

const char *tu_raised_message(void)
{
    const asyncio_error_t *e = asyncio_error();
    return e && e->message ? e->message : "";
}

void tu_decref_all(asyncio_future_t **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        asyncio_decref(fs[i]);
}

asyncio_future_t *tu_spawn(asyncio_coro_fn fn, void *arg)
{
    asyncio_future_t *t = asyncio_create_task(fn, arg);
    ck_assert_ptr_nonnull(t);
    return t;
}

void tu_gather_drop(asyncio_future_t **ts, size_t n)
{
    ck_assert_int_eq(asyncio_gather(ts, n, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    tu_decref_all(ts, n);
}

void tu_yield(void)
{
    ck_assert_int_eq(asyncio_sleep(0), 0);
}

void tu_run_ok(asyncio_coro_fn main, void *arg)
{
    int rc = tu_run(main, arg, NULL);
    const asyncio_error_t *e = asyncio_error();
    ck_assert_msg(rc == 0, "main failed: %d %s: %s", rc, e ? e->type : "-", e ? e->message : "-");
}

long tu_proc_field(const char *file, const char *field)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long n = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            n = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return n;
}
