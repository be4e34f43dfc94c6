/*
 * Handles of the objects a caller frees (locks, events, conditions,
 * semaphores, barriers, queues, timeout scopes, task groups, as_completed
 * iterators, HTTP sessions, processes, concurrent futures): a freed handle
 * is refused, freeing it again does
 * nothing, and a new object made after the free (which may reuse the
 * memory and the table slot) is never reached through the old handle.
 * Under AddressSanitizer these tests also prove that no call reads the
 * freed object to decide (a read would be a heap-use-after-free report).
 */
#include "testutil.h"

#include <string.h>

#include "../src/testing.h"

/* The raised error is ValueError (or the given type) saying the object is
 * not live; clears it. */
static void assert_stale(const char *type)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_msg(e != NULL, "a stale handle was accepted");
    ck_assert_str_eq(e->type, type);
    ck_assert_msg(strstr(e->message, "not a live") || strstr(e->message, "not an open"),
                  "message: %s", e->message);
    asyncio_error_clear();
}

START_TEST(test_sync_primitives)
{
    long before = asyncio__handle_count();
    asyncio_lock_t *l = asyncio_lock_new();
    asyncio_lock_free(l);
    asyncio_lock_free(l); /* a double free is refused, not done */
    assert_stale("ValueError");
    ck_assert_int_eq(asyncio_lock_release(l), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    ck_assert(!asyncio_lock_locked(l));
    assert_stale("ValueError");
    /* A new lock may take the old one's memory and slot: the old handle
     * still names nothing. */
    asyncio_lock_t *l2 = asyncio_lock_new();
    ck_assert_ptr_ne(l2, l);
    asyncio_lock_free(l);
    assert_stale("ValueError");
    ck_assert_int_eq(asyncio_condition_acquire(asyncio_condition_new(l)), ASYNCIO_EVALUE);
    tu_clear_all(); /* the condition's ValueError, then the acquire's on top */
    asyncio_lock_free(l2); /* still live: freed now */
    ck_assert_ptr_null(asyncio_error());

    asyncio_event_t *e = asyncio_event_new();
    asyncio_event_free(e);
    asyncio_event_t *e2 = asyncio_event_new();
    asyncio_event_set(e);
    assert_stale("ValueError");
    ck_assert(!asyncio_event_is_set(e2));
    asyncio_event_free(e);
    assert_stale("ValueError");
    asyncio_event_free(e2);
    ck_assert_ptr_null(asyncio_error());

    asyncio_condition_t *c = asyncio_condition_new(NULL);
    asyncio_condition_free(c);
    asyncio_condition_t *c2 = asyncio_condition_new(NULL);
    ck_assert_int_eq(asyncio_condition_notify(c, 1), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    asyncio_condition_free(c);
    assert_stale("ValueError");
    asyncio_condition_free(c2);

    asyncio_semaphore_t *s = asyncio_semaphore_new(1);
    asyncio_semaphore_free(s);
    asyncio_semaphore_t *s2 = asyncio_bounded_semaphore_new(1);
    ck_assert_int_eq(asyncio_semaphore_release(s), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    asyncio_semaphore_free(s);
    assert_stale("ValueError");
    ck_assert(!asyncio_semaphore_locked(s2));
    asyncio_semaphore_free(s2);

    asyncio_barrier_t *b = asyncio_barrier_new(2);
    asyncio_barrier_free(b);
    asyncio_barrier_t *b2 = asyncio_barrier_new(3);
    ck_assert_int_eq(asyncio_barrier_abort(b), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    ck_assert(!asyncio_barrier_broken(b2));
    ck_assert_uint_eq(asyncio_barrier_parties(b), 0);
    asyncio_error_clear();
    asyncio_barrier_free(b);
    assert_stale("ValueError");
    ck_assert_uint_eq(asyncio_barrier_parties(b2), 3);
    asyncio_barrier_free(b2);

    asyncio_queue_t *q = asyncio_queue_new(0);
    asyncio_queue_free(q);
    asyncio_queue_t *q2 = asyncio_queue_new(0);
    ck_assert_int_eq(asyncio_queue_put_nowait(q, IP(1)), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    ck_assert_uint_eq(asyncio_queue_qsize(q2), 0); /* the put did not land here */
    asyncio_queue_free(q);
    assert_stale("ValueError");
    ck_assert_int_eq(asyncio_queue_put_nowait(q2, IP(2)), 0);
    asyncio_queue_free(q2);

    /* A handle of one type is not one of another. */
    asyncio_lock_t *l3 = asyncio_lock_new();
    ck_assert_int_eq(asyncio_queue_put_nowait((asyncio_queue_t *)l3, NULL), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    asyncio_event_free((asyncio_event_t *)l3);
    assert_stale("ValueError");
    ck_assert(!asyncio_lock_locked(l3) && !asyncio_error());
    asyncio_lock_free(l3);
    ck_assert_int_eq(asyncio__handle_count(), before);
}
END_TEST

/* Many objects freed and made again: every stale handle stays refused
 * while the table reuses its slots. */
START_TEST(test_reuse_many)
{
    enum { N = 2000 };
    static asyncio_queue_t *old[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            old[i] = asyncio_queue_new(0);
        for (int i = 0; i < N; i++)
            asyncio_queue_free(old[i]);
        asyncio_queue_t *fresh[64];
        for (int i = 0; i < 64; i++)
            fresh[i] = asyncio_queue_new(0);
        for (int i = 0; i < N; i++) {
            ck_assert_int_eq(asyncio_queue_put_nowait(old[i], NULL), ASYNCIO_EVALUE);
            asyncio_error_clear();
        }
        for (int i = 0; i < 64; i++) {
            ck_assert_uint_eq(asyncio_queue_qsize(fresh[i]), 0);
            asyncio_queue_free(fresh[i]);
        }
    }
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

static void *noop(void *arg)
{
    return arg;
}

static void *loop_objects_main(void *arg)
{
    (void)arg;
    /* Timeout scopes: exit frees. */
    asyncio_timeout_t *t = asyncio_timeout_enter(10);
    ck_assert_int_eq(asyncio_timeout_exit(t), 0);
    asyncio_timeout_t *t2 = asyncio_timeout_enter(20);
    ck_assert_int_eq(asyncio_timeout_exit(t), ASYNCIO_ERUNTIME);
    assert_stale("RuntimeError");
    ck_assert(asyncio_timeout_when(t) < 0);
    ck_assert(asyncio_timeout_when(t2) > 0); /* the new scope is untouched */
    asyncio_timeout_reschedule(t, 1);
    assert_stale("RuntimeError");
    ck_assert_int_eq(asyncio_timeout_exit(t2), 0);

    /* HTTP sessions. */
    asyncio_http_session_t *hs = asyncio_http_session_new(NULL);
    asyncio_http_session_free(hs);
    asyncio_http_session_t *hs2 = asyncio_http_session_new(NULL);
    asyncio_http_session_free(hs);
    assert_stale("RuntimeError");
    asyncio_http_response_t *r = (void *)1;
    ck_assert_int_eq(asyncio_http_get(hs, "http://127.0.0.1:1/", &r), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(r);
    assert_stale("RuntimeError");
    asyncio_http_session_free(hs2);
    ck_assert_ptr_null(asyncio_error());

    /* Processes. */
    const char *argv[] = {"true", NULL};
    asyncio_process_t *p = (void *)1, *p2 = NULL;
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, NULL, &p), 0);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), 0);
    asyncio_process_free(p);
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, NULL, &p2), 0);
    int pid2 = asyncio_process_pid(p2);
    asyncio_process_free(p);
    assert_stale("ValueError");
    ck_assert_int_eq(asyncio_process_pid(p), -1);
    ck_assert_int_eq(asyncio_process_wait(p, NULL), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    ck_assert_int_eq(asyncio_process_pid(p2), pid2);
    ck_assert_int_eq(asyncio_process_wait(p2, NULL), 0);
    asyncio_process_free(p2);

    /* Concurrent futures. */
    asyncio_cfuture_t *cf =
        asyncio_run_coroutine_threadsafe(asyncio_get_running_loop(), noop, IP(7));
    while (!asyncio_cfuture_done(cf))
        tu_yield();
    asyncio_cfuture_free(cf);
    asyncio_cfuture_t *cf2 =
        asyncio_run_coroutine_threadsafe(asyncio_get_running_loop(), noop, IP(8));
    asyncio_cfuture_free(cf); /* nothing: it was freed */
    ck_assert(!asyncio_cfuture_done(cf));
    ck_assert(!asyncio_cfuture_cancel(cf));
    assert_stale("ValueError");
    void *res = NULL;
    ck_assert_int_eq(asyncio_cfuture_result(cf, 0, &res), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    while (!asyncio_cfuture_done(cf2))
        tu_yield();
    ck_assert_int_eq(asyncio_cfuture_result(cf2, 0, &res), 0);
    ck_assert_ptr_eq(res, IP(8));
    asyncio_cfuture_free(cf2);
    return NULL;
}

static void *child(void *arg)
{
    return arg;
}

/* The combinators' objects: as_completed iterators (ValueError, as the
 * sync primitives) and task groups (RuntimeError, as timeout scopes). */
static void *combinator_objects_main(void *arg)
{
    (void)arg;
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_result(f, IP(1)), 0);

    /* as_completed: a double free is refused, a next() after the free too,
     * and neither reaches the iterator made since. */
    asyncio_as_completed_t *it = asyncio_as_completed(&f, 1, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it);
    asyncio_as_completed_free(it);
    asyncio_as_completed_t *it2 = asyncio_as_completed(&f, 1, ASYNCIO_NO_TIMEOUT);
    ck_assert_ptr_nonnull(it2);
    ck_assert_ptr_ne(it2, it);
    asyncio_as_completed_free(it);
    assert_stale("ValueError");
    asyncio_future_t *d = (void *)1;
    ck_assert_int_eq(asyncio_as_completed_next(it, &d), ASYNCIO_EVALUE);
    ck_assert_ptr_null(d);
    assert_stale("ValueError");
    /* A handle of another type is not an iterator. */
    asyncio_lock_t *l = asyncio_lock_new();
    ck_assert_int_eq(asyncio_as_completed_next((asyncio_as_completed_t *)l, &d), ASYNCIO_EVALUE);
    assert_stale("ValueError");
    asyncio_lock_free(l);
    /* The new iterator still yields its future, once. */
    ck_assert_int_eq(asyncio_as_completed_next(it2, &d), 0);
    ck_assert_ptr_eq(d, f);
    ck_assert_int_eq(asyncio_as_completed_next(it2, &d), 0);
    ck_assert_ptr_null(d);
    asyncio_as_completed_free(it2);
    ck_assert_ptr_null(asyncio_error());

    /* Task groups: exit frees; the old handle then names nothing, also
     * after a new group took the memory. */
    asyncio_taskgroup_t *tg = asyncio_taskgroup_enter();
    ck_assert_ptr_nonnull(tg);
    ck_assert_ptr_nonnull(asyncio_taskgroup_create_task(tg, child, IP(2)));
    ck_assert_int_eq(asyncio_taskgroup_exit(tg), 0);
    asyncio_taskgroup_t *tg2 = asyncio_taskgroup_enter();
    ck_assert_ptr_nonnull(tg2);
    ck_assert_ptr_ne(tg2, tg);
    ck_assert_int_eq(asyncio_taskgroup_exit(tg), ASYNCIO_ERUNTIME);
    assert_stale("RuntimeError");
    ck_assert_ptr_null(asyncio_taskgroup_create_task(tg, child, IP(3)));
    assert_stale("RuntimeError");
    ck_assert_ptr_null(asyncio_taskgroup_create_task((asyncio_taskgroup_t *)f, child, NULL));
    assert_stale("RuntimeError");
    /* The new group got no child from the stale handle. */
    asyncio_future_t *c = asyncio_taskgroup_create_task(tg2, child, IP(4));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(asyncio_all_tasks(NULL, 0), 2); /* this task and c */
    ck_assert_int_eq(asyncio_taskgroup_exit(tg2), 0);
    ck_assert_int_eq(asyncio_taskgroup_exit(tg2), ASYNCIO_ERUNTIME);
    assert_stale("RuntimeError");
    asyncio_decref(f);
    return NULL;
}

START_TEST(test_combinator_objects)
{
    long before = asyncio__handle_count();
    tu_run_ok(combinator_objects_main, NULL);
    ck_assert_int_eq(asyncio__handle_count(), before);
}
END_TEST

START_TEST(test_loop_objects)
{
    long before = asyncio__handle_count();
    tu_run_ok(loop_objects_main, NULL);
    ck_assert_int_eq(asyncio__handle_count(), before);
}
END_TEST

Suite *handles_suite(void)
{
    Suite *s = suite_create("handles");
    TCase *tc = tcase_create("stale");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sync_primitives);
    tcase_add_test(tc, test_reuse_many);
    tcase_add_test(tc, test_loop_objects);
    tcase_add_test(tc, test_combinator_objects);
    suite_add_tcase(s, tc);
    return s;
}
