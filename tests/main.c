/* The one test runner: every suite, fork mode, Check's summary line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

/* One line per area so that areas added side by side do not touch the
 * same line. */
#define HTTP_SUITES(X) X(http)

#define STREAM_SUITES(X) X(stream) X(transport) X(server) X(tls) X(datagram) X(fd)

#define PROCESS_SUITES(X) X(signal) X(file) X(process)

#define INTROSPECT_SUITES(X) X(contextvars) X(introspect) X(deadlock)

#define POOL_SUITES(X) X(pool)

#define SUITES(X)                                                                                  \
    X(error)                                                                                       \
    X(future)                                                                                      \
    X(loop)                                                                                        \
    X(task)                                                                                        \
    X(cancel) X(gather) X(stack) X(threadsafe) X(executor) X(threads) X(wait) X(timeout) X(sync)   \
        X(queue) X(taskgroup) X(map) X(regress) X(handles) HTTP_SUITES(X) STREAM_SUITES(X)         \
            PROCESS_SUITES(X) INTROSPECT_SUITES(X) POOL_SUITES(X)

#define DECLARE(name) Suite *name##_suite(void);
SUITES(DECLARE)

int main(int argc, char **argv)
{
    /* argv[1], when given, runs only the suite of that name. */
    const char *only = argc > 1 ? argv[1] : NULL;
    SRunner *sr = srunner_create(NULL);
#define ADD(name)                                                                                  \
    if (!only || strcmp(only, #name) == 0)                                                         \
        srunner_add_suite(sr, name##_suite());
    SUITES(ADD)
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
