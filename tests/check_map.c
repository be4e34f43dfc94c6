/*
 * asyncio_map: the Semaphore + gather program in one call.  Twin:
 * tests/twins/map_cases.py (fn(i) takes STEPS[i] loop iterations; at most
 * LIMIT run at once).  Also: bad input, outside a task, many arguments
 * with few workers, allocation failure, results NULL on failure.
 */
#include "testutil.h"

#include <string.h>

static const int STEPS[] = {10, 3, 20, 5, 2, 12};
#define N 6
#define LIMIT 2

static tu_log_t LOG;
static int running, peak;
static int fail_mode; /* 0: none, 1: odd arguments, 2: argument 2 */

static void *fn(void *arg)
{
    int i = (int)PI(arg);
    running++;
    if (running > peak)
        peak = running;
    for (int s = 0; s < STEPS[i]; s++) {
        if (asyncio_sleep(0) < 0) {
            tu_logf(&LOG, " cancelled %d", i);
            running--;
            return NULL; /* CancelledError raised */
        }
    }
    running--;
    if ((fail_mode == 1 && i % 2) || (fail_mode == 2 && i == 2))
        return asyncio_raise("ValueError", "bad %d", i);
    tu_logf(&LOG, " end %d", i);
    return IP(i * 10);
}

static void *const ARGS[N] = {IP(0), IP(1), IP(2), IP(3), IP(4), IP(5)};

static void reset(int mode)
{
    memset(&LOG, 0, sizeof LOG);
    running = peak = 0;
    fail_mode = mode;
}

static void *normal_main(void *arg)
{
    (void)arg;
    void *res[N];
    reset(0);
    ck_assert_int_eq(asyncio_map(fn, ARGS, N, LIMIT, res, 0), 0);
    for (int i = 0; i < N; i++)
        tu_logf(&LOG, "%s%d", i ? ", " : " | results [", (int)PI(res[i]));
    tu_logf(&LOG, "] | peak %d", peak);
    return NULL;
}

START_TEST(test_map_normal)
{
    tu_run_ok(normal_main, NULL);
    tu_assert_log(&LOG, " end 1 end 0 end 3 end 4 end 2 end 5 | results [0, 10, 20, 30, 40, 50] "
                        "| peak 2");
}
END_TEST

static void *return_exceptions_main(void *arg)
{
    (void)arg;
    void *res[N];
    asyncio_error_t *errs[N];
    reset(1);
    ck_assert_int_eq(asyncio_map_ex(fn, ARGS, N, LIMIT, res, errs, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert_ptr_null(asyncio_error());
    memset(&LOG, 0, sizeof LOG);
    for (int i = 0; i < N; i++) {
        if (res[i] || !errs[i])
            tu_logf(&LOG, "%s%d", i ? ", " : "[", (int)PI(res[i]));
        else
            tu_logf(&LOG, "%sNone", i ? ", " : "[");
    }
    tu_logf(&LOG, "]");
    for (int i = 0; i < N; i++)
        if (errs[i]) {
            tu_logf(&LOG, " %s:%s", errs[i]->type, errs[i]->message);
            asyncio_error_free(errs[i]);
        }
    /* asyncio_map alone: the same results, no errors to free. */
    tu_log_t kept = LOG;
    reset(1);
    ck_assert_int_eq(asyncio_map(fn, ARGS, N, LIMIT, res, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert_ptr_null(res[1]);
    ck_assert_int_eq((int)PI(res[4]), 40);
    LOG = kept;
    return NULL;
}

START_TEST(test_map_return_exceptions)
{
    tu_run_ok(return_exceptions_main, NULL);
    tu_assert_log(
        &LOG, "[0, None, 20, None, 40, None] ValueError:bad 1 ValueError:bad 3 ValueError:bad 5");
}
END_TEST

static void *first_failure_main(void *arg)
{
    (void)arg;
    void *res[N] = {IP(7)};
    reset(2);
    ck_assert_int_eq(asyncio_map(fn, ARGS, N, LIMIT, res, 0), ASYNCIO_EVALUE);
    tu_logf(&LOG, " | raised %s", asyncio_error()->message);
    asyncio_error_clear();
    for (int i = 0; i < N; i++)
        ck_assert_ptr_null(res[i]); /* every result NULL on failure */
    ck_assert_int_eq(running, 0);   /* nothing left running */
    return NULL;
}

START_TEST(test_map_first_failure)
{
    tu_run_ok(first_failure_main, NULL);
    tu_assert_log(&LOG, " end 1 end 0 end 3 end 4 cancelled 5 | raised bad 2");
}
END_TEST

static void *mapper(void *arg)
{
    (void)arg;
    void *res[N];
    return asyncio_map(fn, ARGS, N, LIMIT, res, 0) == 0 ? IP(1) : NULL;
}

static void *cancel_main(void *arg)
{
    (void)arg;
    reset(0);
    asyncio_future_t *t = asyncio_create_task(mapper, NULL);
    for (int i = 0; i < 8; i++)
        tu_yield();
    asyncio_cancel(t, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(running, 0);
    tu_logf(&LOG, " | cancelled");
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_map_caller_cancelled)
{
    tu_run_ok(cancel_main, NULL);
    tu_assert_log(&LOG, " end 1 cancelled 0 cancelled 2 | cancelled");
}
END_TEST

/* 10,000 arguments, 8 workers: every result in place, at most 8 running. */
static void *sum_fn(void *arg)
{
    running++;
    if (running > peak)
        peak = running;
    asyncio_sleep(0);
    running--;
    return IP(PI(arg) + 1);
}

static void *many_main(void *arg)
{
    (void)arg;
    enum { M = 10000 };
    static void *args[M], *res[M];
    for (int i = 0; i < M; i++)
        args[i] = IP(i);
    reset(0);
    long before = asyncio_all_tasks(NULL, 0);
    ck_assert_int_eq(asyncio_map(sum_fn, args, M, 8, res, 0), 0);
    for (int i = 0; i < M; i++)
        ck_assert_int_eq((int)PI(res[i]), i + 1);
    ck_assert_int_eq(peak, 8);
    ck_assert_int_eq(asyncio_all_tasks(NULL, 0), before); /* the workers are gone */
    /* limit 0: no limit, all at once. */
    reset(0);
    ck_assert_int_eq(asyncio_map(sum_fn, args, 100, 0, res, 0), 0);
    ck_assert_int_eq(peak, 100);
    /* results may be NULL; n 0 is nothing. */
    ck_assert_int_eq(asyncio_map(sum_fn, args, 100, 3, NULL, 0), 0);
    ck_assert_int_eq(asyncio_map(sum_fn, NULL, 0, 3, NULL, 0), 0);
    return NULL;
}

START_TEST(test_map_many)
{
    tu_run_ok(many_main, NULL);
}
END_TEST

static void *bad_main(void *arg)
{
    (void)arg;
    void *res[2] = {IP(1), IP(2)};
    ck_assert_int_eq(asyncio_map(NULL, ARGS, 2, 1, res, 0), ASYNCIO_EVALUE);
    ck_assert_str_eq(asyncio_error()->message, "fn is NULL");
    ck_assert_ptr_null(res[0]); /* out-parameters NULL on failure */
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_map(fn, NULL, 2, 1, res, 0), ASYNCIO_EVALUE);
    ck_assert_str_eq(asyncio_error()->message, "args is NULL");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_map_bad_input)
{
    tu_run_ok(bad_main, NULL);
    /* Outside a task: RuntimeError, results NULL. */
    void *res[1] = {IP(1)};
    ck_assert_int_eq(asyncio_map(fn, ARGS, 1, 1, res, 0), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(res[0]);
    asyncio_error_clear();
}
END_TEST

/* Every allocation the map makes fails in turn: MemoryError, nothing left
 * running or allocated, until it succeeds. */
static void *chaos_main(void *arg)
{
    (void)arg;
    bool ok = false;
    for (long n = 1; n < 200 && !ok; n++) {
        void *res[N];
        reset(0);
        tu_alloc_fail_at(n);
        int rc = asyncio_map(fn, ARGS, N, LIMIT, res, 0);
        tu_alloc_fail_at(0);
        if (rc == 0) {
            ok = true;
            ck_assert_int_eq((int)PI(res[5]), 50);
        } else {
            ck_assert_msg(asyncio_error_matches("MemoryError"), "failure %ld: %s", n,
                          tu_raised_message());
            tu_clear_all();
            for (int i = 0; i < N; i++)
                ck_assert_ptr_null(res[i]);
        }
        ck_assert_int_eq(running, 0);
    }
    ck_assert(ok);
    return NULL;
}

START_TEST(test_map_alloc_failure)
{
    tu_run_ok(chaos_main, NULL);
}
END_TEST

Suite *map_suite(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("map");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_map_normal);
    tcase_add_test(tc, test_map_return_exceptions);
    tcase_add_test(tc, test_map_first_failure);
    tcase_add_test(tc, test_map_caller_cancelled);
    tcase_add_test(tc, test_map_many);
    tcase_add_test(tc, test_map_bad_input);
    tcase_add_test(tc, test_map_alloc_failure);
    suite_add_tcase(s, tc);
    return s;
}
