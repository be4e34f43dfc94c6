/*
 * Shared helpers for the Check suites.
 *
 * Every suite file tests/check_<area>.c exports `Suite *<area>_suite(void)`
 * and is listed in tests/main.c.  Tests run in fork mode, so each test may
 * install the counting allocator for itself.
 */
#ifndef CASYNCIO_TESTUTIL_H
#define CASYNCIO_TESTUTIL_H

#include <casyncio.h>
#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Installs a counting allocator (asyncio_set_allocator) that records live
 * allocations and can be told to fail the Nth one.  Call before any loop
 * exists, e.g. as the first line of a test or from a checked fixture. */
void tu_alloc_install(void);
/* Live allocations made through the library's allocator. */
long tu_alloc_live(void);
/* Total successful allocations so far. */
long tu_alloc_total(void);
/* Fail the nth allocation from now on (1 = the next one); 0 disables. */
void tu_alloc_fail_at(long nth);
/* Asserts that nothing the library allocated is still live. */
#define tu_assert_no_leak()                                                                        \
    ck_assert_msg(tu_alloc_live() == 0, "leak: %ld live allocations", tu_alloc_live())

/* A checked fixture: installs the counting allocator before each test and
 * checks for leaks after it (the thread's error indicator is cleared
 * first).  Use: tcase_add_checked_fixture(tc, tu_setup, tu_teardown). */
void tu_setup(void);
void tu_teardown(void);

/* Scale for big loops: divide counts by this under Valgrind (env
 * CASYNCIO_TEST_SCALE, default 1). */
long tu_scaled(long n);

/* 1 in AddressSanitizer builds, whose memory checks change what some
 * tests can see (stack overflows, slabs), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The number after "field:" in a /proc file such as /proc/self/status
 * (kB for the memory fields); -1 when the file or the field is absent. */
long tu_proc_field(const char *file, const char *field);

/* Integers carried in void * arguments and results. */
#define IP(x) ((void *)(intptr_t)(x))
#define PI(p) ((intptr_t)(p))
/* Python's spelling of a bool, for logs compared with a twin's output. */
#define TF(b) ((b) ? "True" : "False")

/* Asserts that an error of this code and type is raised (not cleared). */
#define assert_raised(code_, type_)                                                                \
    do {                                                                                           \
        const asyncio_error_t *e_ = asyncio_error();                                               \
        ck_assert_msg(e_ != NULL, "no error raised, expected %s", (type_));                        \
        ck_assert_int_eq(e_->code, (code_));                                                       \
        ck_assert_str_eq(e_->type, (type_));                                                       \
        ck_assert_ptr_nonnull(e_->message);                                                        \
    } while (0)

/* Drops every raised error (a failing call raises on top of the error
 * already raised, which comes back when the newer is cleared): for tests
 * that make several calls fail in a row, checking each, then clear. */
void tu_clear_all(void);

/* The raised error's message, or "" when none is raised. */
const char *tu_raised_message(void);
/* Drops one reference to each of n futures. */
void tu_decref_all(asyncio_future_t **fs, size_t n);
/* create_task, asserting it worked. */
asyncio_future_t *tu_spawn(asyncio_coro_fn fn, void *arg);
/* await gather(*ts, return_exceptions=True), then drops the n tasks. */
void tu_gather_drop(asyncio_future_t **ts, size_t n);
/* await sleep(0), asserting it worked. */
void tu_yield(void);
/* Runs main with asyncio_run and asserts it succeeded, saying why not. */
void tu_run_ok(asyncio_coro_fn main, void *arg);

/* Runs `main` with asyncio_run and returns its status. */
int tu_run(asyncio_coro_fn main, void *arg, void **result);

/* A growable text log that tests append to, to compare event order with
 * the Python twin's output. */
typedef struct tu_log {
    char buf[8192];
    size_t len;
} tu_log_t;
void tu_logf(tu_log_t *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define tu_assert_log(log, expected) ck_assert_str_eq((log)->buf, (expected))

#endif
