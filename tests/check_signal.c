/*
 * Signals: add_signal_handler runs the callback as a loop callback (not
 * inside the kill), replacing and removing handlers (default disposition
 * back), bad signal numbers, loop close with handlers installed; and
 * asyncio_run's SIGINT: the first cancels the main task (KeyboardInterrupt
 * when main ends cancelled, a normal return when it catches the
 * cancellation), a second one kills the process, a program's own SIGINT
 * handler is left alone.
 *
 * Python's answers: tests/twins/signal_sigint.py.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int calls_a, calls_b;
static asyncio_event_t *EV;

static void on_a(void *arg)
{
    calls_a += (int)PI(arg);
    if (EV)
        asyncio_event_set(EV);
}

static void on_b(void *arg)
{
    calls_b += (int)PI(arg);
    if (EV)
        asyncio_event_set(EV);
}

static bool is_default(int signum)
{
    struct sigaction sa;
    ck_assert_int_eq(sigaction(signum, NULL, &sa), 0);
    return sa.sa_handler == SIG_DFL;
}

static void default_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    ck_assert_int_eq(sigaction(SIGINT, &sa, NULL), 0);
}

/* Waits for the event a handler sets. */
static void wait_event(void)
{
    ck_assert_int_eq(asyncio_event_wait(EV), 0);
    asyncio_event_clear(EV);
}

static void *handler_main(void *arg)
{
    (void)arg;
    EV = asyncio_event_new();
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, on_a, IP(1)), 0);
    ck_assert(!is_default(SIGUSR1));
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    /* Delivered to the loop, not run inside kill(). */
    ck_assert_int_eq(calls_a, 0);
    wait_event();
    ck_assert_int_eq(calls_a, 1);
    /* Twice more: each delivery runs it (or signals merge: at least once). */
    kill(getpid(), SIGUSR1);
    wait_event();
    ck_assert_int_ge(calls_a, 2);

    /* Replacing. */
    int before = calls_a;
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, on_b, IP(10)), 0);
    kill(getpid(), SIGUSR1);
    wait_event();
    ck_assert_int_eq(calls_a, before);
    ck_assert_int_eq(calls_b, 10);

    /* Removing: 1, then 0; the default disposition is back. */
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGUSR1), 1);
    ck_assert(is_default(SIGUSR1));
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGUSR1), 0);
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGUSR2), 0);
    asyncio_event_free(EV);
    EV = NULL;
    return NULL;
}

START_TEST(test_handler_runs_on_loop)
{
    calls_a = calls_b = 0;
    tu_run_ok(handler_main, NULL);
    ck_assert(is_default(SIGUSR1));
}
END_TEST

/* Two signals with handlers of their own. */
static void *two_signals_main(void *arg)
{
    (void)arg;
    EV = asyncio_event_new();
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, on_a, IP(1)), 0);
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR2, on_b, IP(1)), 0);
    kill(getpid(), SIGUSR2);
    wait_event();
    ck_assert_int_eq(calls_a, 0);
    ck_assert_int_eq(calls_b, 1);
    kill(getpid(), SIGUSR1);
    wait_event();
    ck_assert_int_eq(calls_a, 1);
    ck_assert_int_eq(calls_b, 1);
    /* Left installed: asyncio_run's loop close removes them. */
    asyncio_event_free(EV);
    EV = NULL;
    return NULL;
}

START_TEST(test_two_signals_left_installed)
{
    calls_a = calls_b = 0;
    tu_run_ok(two_signals_main, NULL);
    ck_assert(is_default(SIGUSR1));
    ck_assert(is_default(SIGUSR2));
}
END_TEST

static void *bad_main(void *arg)
{
    (void)arg;
    int bad[] = {0, -1, NSIG, NSIG + 5};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(asyncio_add_signal_handler(NULL, bad[i], on_a, NULL), ASYNCIO_EVALUE);
        assert_raised(ASYNCIO_EVALUE, "ValueError");
        char want[64]; /* Python 3.11's _check_signal */
        snprintf(want, sizeof want, "invalid signal number %d", bad[i]);
        ck_assert_str_eq(tu_raised_message(), want);
        ck_assert_int_eq(asyncio_remove_signal_handler(NULL, bad[i]), ASYNCIO_EVALUE);
        ck_assert_str_eq(tu_raised_message(), want);
        tu_clear_all();
    }
    int uncatchable[] = {SIGKILL, SIGSTOP};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(asyncio_add_signal_handler(NULL, uncatchable[i], on_a, NULL),
                         ASYNCIO_ERUNTIME);
        assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
        char want[64];
        snprintf(want, sizeof want, "sig %d cannot be caught", uncatchable[i]);
        ck_assert_str_eq(tu_raised_message(), want);
        tu_clear_all();
        ck_assert_int_eq(asyncio_remove_signal_handler(NULL, uncatchable[i]), 0);
    }
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, NULL, NULL), ASYNCIO_EVALUE);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(tu_raised_message(), "fn is NULL");
    tu_clear_all();
    ck_assert(is_default(SIGUSR1));
    return NULL;
}

START_TEST(test_bad_signals)
{
    tu_run_ok(bad_main, NULL);
    /* No loop at all. */
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGUSR1, on_a, NULL), ASYNCIO_ERUNTIME);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGUSR1), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    /* A closed loop: Python's message. */
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert_int_eq(asyncio_add_signal_handler(loop, SIGUSR1, on_a, NULL), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "Event loop is closed");
    asyncio_error_clear();
}
END_TEST

/* A loop that is not running: handlers are added and the loop closed. */
START_TEST(test_loop_close_with_handlers)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(asyncio_add_signal_handler(loop, SIGUSR1, on_a, NULL), 0);
    ck_assert_int_eq(asyncio_add_signal_handler(loop, SIGUSR2, on_a, NULL), 0);
    ck_assert_int_eq(asyncio_remove_signal_handler(loop, SIGUSR2), 1);
    ck_assert(!is_default(SIGUSR1));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    ck_assert(is_default(SIGUSR1));
    ck_assert(is_default(SIGUSR2));
    /* The closed loop refuses. */
    ck_assert_int_eq(asyncio_add_signal_handler(loop, SIGUSR1, on_a, NULL), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
}
END_TEST

/* Allocation failure: MemoryError, nothing installed. */
START_TEST(test_alloc_failure)
{
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    tu_alloc_fail_at(1);
    ck_assert_int_eq(asyncio_add_signal_handler(loop, SIGUSR1, on_a, NULL), ASYNCIO_ENOMEM);
    tu_alloc_fail_at(0);
    assert_raised(ASYNCIO_ENOMEM, "MemoryError");
    asyncio_error_clear();
    ck_assert(is_default(SIGUSR1));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* --------------------------------------------------------------- SIGINT */

static int saw_cancel;

/* Twin: signal_sigint.py (uncaught) */
static void *sigint_uncaught_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(kill(getpid(), SIGINT), 0);
    int rc = asyncio_sleep(30);
    saw_cancel = rc == ASYNCIO_ECANCELLED && asyncio_error_matches("CancelledError");
    return NULL; /* the CancelledError stays raised */
}

START_TEST(test_sigint_cancels_main)
{
    default_sigint();
    saw_cancel = 0;
    int rc = asyncio_run(sigint_uncaught_main, NULL, NULL);
    ck_assert_int_eq(saw_cancel, 1);
    ck_assert_int_eq(rc, ASYNCIO_EEXCEPTION);
    assert_raised(ASYNCIO_EEXCEPTION, "KeyboardInterrupt");
    ck_assert(!asyncio_error_matches("Exception"));
    ck_assert(asyncio_error_matches("BaseException"));
    asyncio_error_clear();
    ck_assert(is_default(SIGINT));
}
END_TEST

/* Twin: signal_sigint.py (caught) */
static void *sigint_caught_main(void *arg)
{
    (void)arg;
    kill(getpid(), SIGINT);
    if (asyncio_sleep(30) == ASYNCIO_ECANCELLED && asyncio_catch("CancelledError"))
        saw_cancel = 1;
    return IP(42);
}

START_TEST(test_sigint_caught_returns)
{
    default_sigint();
    saw_cancel = 0;
    void *res = NULL;
    ck_assert_int_eq(asyncio_run(sigint_caught_main, NULL, &res), 0);
    ck_assert_int_eq(saw_cancel, 1);
    ck_assert_int_eq(PI(res), 42);
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

/* A second SIGINT is Python's immediate KeyboardInterrupt: the process
 * dies of SIGINT (the test expects that signal). */
static void *sigint_twice_main(void *arg)
{
    (void)arg;
    kill(getpid(), SIGINT);
    if (asyncio_sleep(30) == ASYNCIO_ECANCELLED)
        asyncio_catch("CancelledError");
    kill(getpid(), SIGINT);
    asyncio_sleep(30);
    asyncio_sleep(30);
    return NULL;
}

START_TEST(test_sigint_twice_kills)
{
    default_sigint();
    asyncio_run(sigint_twice_main, NULL, NULL);
    ck_abort_msg("the second SIGINT did not end the process");
}
END_TEST

/* The program's own SIGINT handler: asyncio_run leaves SIGINT alone. */
static volatile sig_atomic_t own_handler_ran;
static void own_handler(int sig)
{
    (void)sig;
    own_handler_ran = 1;
}

static void *own_handler_main(void *arg)
{
    (void)arg;
    kill(getpid(), SIGINT);
    ck_assert_int_eq(asyncio_sleep(0.01), 0); /* not cancelled */
    return NULL;
}

START_TEST(test_sigint_own_handler)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    ck_assert_int_eq(sigaction(SIGINT, &sa, NULL), 0);
    own_handler_ran = 0;
    tu_run_ok(own_handler_main, NULL);
    ck_assert_int_eq(own_handler_ran, 1);
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert(sa.sa_handler == own_handler);
}
END_TEST

/* The program installs its own SIGINT handler (sigaction) while
 * asyncio_run runs: the runner does not put the default back over it
 * (Python restores default_int_handler only if the handler is still the
 * runner's). */
static void *install_own_main(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    ck_assert_int_eq(sigaction(SIGINT, &sa, NULL), 0);
    return NULL;
}

START_TEST(test_sigint_handler_set_during_run_kept)
{
    default_sigint();
    own_handler_ran = 0;
    tu_run_ok(install_own_main, NULL);
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert(sa.sa_handler == own_handler);
    kill(getpid(), SIGINT);
    ck_assert_int_eq(own_handler_ran, 1);
}
END_TEST

/* add_signal_handler(SIGINT) inside asyncio_run replaces the runner's. */
static void *replace_runner_main(void *arg)
{
    (void)arg;
    EV = asyncio_event_new();
    ck_assert_int_eq(asyncio_add_signal_handler(NULL, SIGINT, on_a, IP(1)), 0);
    kill(getpid(), SIGINT);
    wait_event();
    ck_assert_int_eq(calls_a, 1);
    ck_assert_int_eq(asyncio_remove_signal_handler(NULL, SIGINT), 1);
    asyncio_event_free(EV);
    EV = NULL;
    return NULL;
}

START_TEST(test_sigint_user_handler_replaces_runner)
{
    default_sigint();
    calls_a = 0;
    tu_run_ok(replace_runner_main, NULL);
    ck_assert(is_default(SIGINT));
}
END_TEST

/* A SIGINT arriving while main is already done: an immediate
 * KeyboardInterrupt, i.e. the process dies of SIGINT. */
static void *late_sigint_child(void *arg)
{
    (void)arg;
    asyncio_sleep(30); /* cancelled by asyncio_run's shutdown */
    asyncio_error_clear();
    kill(getpid(), SIGINT);
    asyncio_sleep(30);
    return NULL;
}

static void *late_sigint_main(void *arg)
{
    (void)arg;
    /* A leftover task sends the signal while asyncio_run is cancelling
     * leftovers: by then the runner no longer watches SIGINT. */
    asyncio_future_t *t = tu_spawn(late_sigint_child, NULL);
    asyncio_decref(t);
    tu_yield(); /* the child starts and sleeps */
    return NULL;
}

START_TEST(test_sigint_after_main_done)
{
    default_sigint();
    asyncio_run(late_sigint_main, NULL, NULL);
    ck_abort_msg("a SIGINT after main ended did not end the process");
}
END_TEST

/* Only the main thread's asyncio_run watches SIGINT, as in Python. */
static void *sigint_disposition_main(void *arg)
{
    *(bool *)arg = is_default(SIGINT);
    return NULL;
}

static void *thread_run(void *arg)
{
    tu_run_ok(sigint_disposition_main, arg);
    return NULL;
}

START_TEST(test_sigint_main_thread_only)
{
    default_sigint();
    bool dflt = false;
    tu_run_ok(sigint_disposition_main, &dflt);
    ck_assert(!dflt); /* watched in the main thread */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, thread_run, &dflt), 0);
    pthread_join(th, NULL);
    ck_assert(dflt); /* left alone in another thread */
}
END_TEST

Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("handlers");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_handler_runs_on_loop);
    tcase_add_test(tc, test_two_signals_left_installed);
    tcase_add_test(tc, test_bad_signals);
    tcase_add_test(tc, test_loop_close_with_handlers);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("sigint");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_sigint_cancels_main);
    tcase_add_test(tc, test_sigint_caught_returns);
    tcase_add_test_raise_signal(tc, test_sigint_twice_kills, SIGINT);
    tcase_add_test_raise_signal(tc, test_sigint_after_main_done, SIGINT);
    tcase_add_test(tc, test_sigint_own_handler);
    tcase_add_test(tc, test_sigint_handler_set_during_run_kept);
    tcase_add_test(tc, test_sigint_user_handler_replaces_runner);
    tcase_add_test(tc, test_sigint_main_thread_only);
    suite_add_tcase(s, tc);
    return s;
}
