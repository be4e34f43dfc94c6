/*
 * Exceptions: the error indicator (per task, per thread), raising,
 * catching by exact type and by base, built-in codes, libuv codes, kept
 * errors (dup/free/raise_error), the user hierarchy, strerror, and the
 * propagation rule that turns a coroutine returning with the indicator set
 * into a failed (or cancelled) task.
 *
 * Where Python decides the answer the expected text is the stdout of the
 * twin program in tests/twins/ named in the test's comment.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* Asserts that the raised error has this code, type and message. */
#define assert_raised_msg(code_, type_, msg_)                                                      \
    do {                                                                                           \
        const asyncio_error_t *e_ = asyncio_error();                                               \
        ck_assert_msg(e_ != NULL, "no error raised");                                              \
        ck_assert_int_eq(e_->code, (code_));                                                       \
        ck_assert_str_eq(e_->type, (type_));                                                       \
        if ((msg_) != NULL)                                                                        \
            ck_assert_str_eq(e_->message, (const char *)(msg_));                                   \
    } while (0)

/* ---------------------------------------------------------------------
 * Raising and catching outside any task (the thread's indicator)
 * --------------------------------------------------------------------- */

START_TEST(test_no_error_initially)
{
    ck_assert_ptr_null(asyncio_error());
    ck_assert(!asyncio_error_matches(NULL));
    ck_assert(!asyncio_error_matches("BaseException"));
    ck_assert_ptr_null(asyncio_catch(NULL));
    asyncio_error_clear(); /* clearing nothing is harmless */
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

START_TEST(test_raise_and_catch)
{
    ck_assert_ptr_null(asyncio_raise("ValueError", "bad %d", 3));
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 3");
    ck_assert_int_eq(asyncio_error()->detail, 0);

    /* matches never clears */
    ck_assert(asyncio_error_matches("ValueError"));
    ck_assert(asyncio_error_matches("ValueError"));
    ck_assert(!asyncio_error_matches("KeyError"));
    ck_assert_ptr_nonnull(asyncio_error());

    /* a catch that does not match leaves it raised */
    ck_assert_ptr_null(asyncio_catch("KeyError"));
    ck_assert_ptr_null(asyncio_catch("RuntimeError"));
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 3");

    const asyncio_error_t *e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(asyncio_error());
    /* the caught error stays readable until the next catch or raise */
    ck_assert_int_eq(e->code, ASYNCIO_EVALUE);
    ck_assert_str_eq(e->type, "ValueError");
    ck_assert_str_eq(e->message, "bad 3");
    ck_assert_ptr_null(asyncio_catch(NULL));
}
END_TEST

/* An error raised while another is raised and not caught takes it as its
 * context; clearing the newer one raises the older again. */
START_TEST(test_raise_chains)
{
    asyncio_raise("ValueError", "first");
    asyncio_raise("KeyError", "second %s", "x");
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "second x");
    const asyncio_error_t *ctx = asyncio_error_context(asyncio_error());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_str_eq(ctx->type, "ValueError");
    ck_assert_ptr_null(asyncio_error_context(ctx));
    asyncio_error_clear();
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "first");
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_error());
    asyncio_error_clear(); /* nothing raised: harmless */
    ck_assert_ptr_null(asyncio_error_context(NULL));
}
END_TEST

/* As Python prints an exception: no ": " after an empty message. */
START_TEST(test_error_format)
{
    char buf[64];
    asyncio_raise("ValueError", "bad %d", 3);
    ck_assert_uint_eq(asyncio_error_format(asyncio_error(), buf, sizeof buf), 17);
    ck_assert_str_eq(buf, "ValueError: bad 3");
    asyncio_error_clear();
    asyncio_raise("KeyboardInterrupt", "%s", "");
    asyncio_error_format(asyncio_error(), buf, sizeof buf);
    ck_assert_str_eq(buf, "KeyboardInterrupt");
    asyncio_error_clear();
    asyncio_raise("ValueError", "a long message");
    ck_assert_uint_eq(asyncio_error_format(asyncio_error(), buf, 8), 26); /* as snprintf */
    ck_assert_str_eq(buf, "ValueEr");
    asyncio_error_clear();
    ck_assert_uint_eq(asyncio_error_format(NULL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(asyncio_error_format(NULL, NULL, 0), 0);
}
END_TEST

START_TEST(test_raise_null_type_is_exception)
{
    asyncio_raise(NULL, "plain");
    assert_raised_msg(ASYNCIO_EEXCEPTION, "Exception", "plain");
    ck_assert(asyncio_error_matches("Exception"));
    ck_assert(asyncio_error_matches(NULL));
    ck_assert(!asyncio_error_matches("ValueError"));
    /* An empty message is "", never NULL. */
    asyncio_raise("ValueError", "%s", "");
    ck_assert_ptr_nonnull(asyncio_error()->message);
    ck_assert_str_eq(asyncio_error()->message, "");
}
END_TEST

START_TEST(test_long_message)
{
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    asyncio_raise("ValueError", "<%s>", big);
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    /* Either kept whole or truncated, but a valid string starting right. */
    ck_assert(strncmp(e->message, "<xxx", 4) == 0);
    ck_assert_uint_ge(strlen(e->message), 100);
}
END_TEST

/* Every built-in name of ASYNCIO_ERRNO_MAP raises with its own code. */
START_TEST(test_builtin_codes)
{
    static const struct {
        int code;
        const char *type;
    } map[] = {
#define ROW(name, value, type, msg) {value, type},
        ASYNCIO_ERRNO_MAP(ROW)
#undef ROW
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (map[i].code == ASYNCIO_EGROUP)
            continue; /* groups come from TaskGroup, not from a name */
        asyncio_raise(map[i].type, "m%zu", i);
        const asyncio_error_t *e = asyncio_error();
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(e->code == map[i].code, "%s raised code %d, expected %d", map[i].type,
                      e->code, map[i].code);
        ck_assert_str_eq(e->type, map[i].type);
        ck_assert(asyncio_error_matches(map[i].type));
        ck_assert_ptr_nonnull(asyncio_catch(map[i].type));
    }
    /* any other name gets ASYNCIO_EEXCEPTION and keeps its name */
    asyncio_raise("MyOwnError", "mine");
    assert_raised_msg(ASYNCIO_EEXCEPTION, "MyOwnError", "mine");
    ck_assert(asyncio_error_matches("MyOwnError"));
    ck_assert(asyncio_error_matches("Exception"));
    ck_assert(!asyncio_error_matches("MyOwn")); /* exact names, no prefixes */
    ck_assert(!asyncio_error_matches("MyOwnErrorX"));
}
END_TEST

START_TEST(test_matching_rules)
{
    /* "Exception" does not catch CancelledError; BaseException and NULL do */
    asyncio_raise("CancelledError", "c");
    ck_assert_int_eq(asyncio_error()->code, ASYNCIO_ECANCELLED);
    ck_assert(!asyncio_error_matches("Exception"));
    ck_assert_ptr_null(asyncio_catch("Exception"));
    ck_assert(asyncio_error_matches("BaseException"));
    ck_assert(asyncio_error_matches(NULL));
    ck_assert_ptr_nonnull(asyncio_catch("BaseException"));

    asyncio_raise("CancelledError", "c");
    ck_assert_ptr_nonnull(asyncio_catch(NULL));
    ck_assert_ptr_null(asyncio_error());

    /* OSError catches ConnectionRefusedError and TimeoutError */
    asyncio_raise_uv(UV_ECONNREFUSED, NULL);
    ck_assert(asyncio_error_matches("ConnectionRefusedError"));
    ck_assert(asyncio_error_matches("ConnectionError"));
    ck_assert(asyncio_error_matches("OSError"));
    ck_assert(asyncio_error_matches("Exception"));
    ck_assert(!asyncio_error_matches("ConnectionResetError"));
    ck_assert(!asyncio_error_matches("TimeoutError"));
    ck_assert_ptr_nonnull(asyncio_catch("OSError"));

    asyncio_raise("TimeoutError", "t");
    ck_assert_int_eq(asyncio_error()->code, ASYNCIO_ETIMEDOUT);
    ck_assert(asyncio_error_matches("OSError"));
    ck_assert(!asyncio_error_matches("ConnectionError"));
    ck_assert(!asyncio_error_matches("CancelledError"));
    ck_assert_ptr_nonnull(asyncio_catch("OSError"));

    /* RuntimeError catches BrokenBarrierError, not the other way round */
    asyncio_raise("BrokenBarrierError", "b");
    ck_assert_ptr_nonnull(asyncio_catch("RuntimeError"));
    asyncio_raise("RuntimeError", "r");
    ck_assert(!asyncio_error_matches("BrokenBarrierError"));
    asyncio_error_clear();

    /* EOFError catches IncompleteReadError */
    asyncio_raise("IncompleteReadError", "i");
    ck_assert_ptr_nonnull(asyncio_catch("EOFError"));
    asyncio_raise("LimitOverrunError", "l");
    ck_assert(!asyncio_error_matches("EOFError"));
    ck_assert_ptr_nonnull(asyncio_catch("Exception"));

    /* every libuv code is an OSError */
    asyncio_raise_uv(UV_EINVAL, NULL);
    ck_assert(asyncio_error_matches("OSError"));
    ck_assert(!asyncio_error_matches("ValueError"));
    ck_assert_ptr_nonnull(asyncio_catch("OSError"));
}
END_TEST

/* The whole matrix against Python: twins/error_hierarchy.py */
START_TEST(test_hierarchy_like_python)
{
    static const char *expected =
        "CancelledError: CancelledError BaseException=1 Exception=0 CancelledError=1 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "TimeoutError: TimeoutError BaseException=1 Exception=1 CancelledError=0 OSError=1 "
        "ConnectionError=0 TimeoutError=1 RuntimeError=0 EOFError=0 ValueError=0\n"
        "InvalidStateError: InvalidStateError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=0 ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "ValueError: ValueError BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=1\n"
        "RuntimeError: RuntimeError BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=1 EOFError=0 ValueError=0\n"
        "BrokenBarrierError: BrokenBarrierError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=0 ConnectionError=0 TimeoutError=0 RuntimeError=1 EOFError=0 ValueError=0\n"
        "IncompleteReadError: IncompleteReadError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=0 ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=1 ValueError=0\n"
        "LimitOverrunError: LimitOverrunError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=0 ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "QueueEmpty: QueueEmpty BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "QueueFull: QueueFull BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "MemoryError: MemoryError BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "SSLError: SSLError BaseException=1 Exception=1 CancelledError=0 OSError=1 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "SSLCertVerificationError: SSLCertVerificationError BaseException=1 Exception=1 "
        "CancelledError=0 OSError=1 ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 "
        "ValueError=1\n"
        "InvalidURL: InvalidURL BaseException=1 Exception=1 CancelledError=0 OSError=0 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=1\n"
        "ECONNREFUSED: ConnectionRefusedError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=1 ConnectionError=1 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "ECONNRESET: ConnectionResetError BaseException=1 Exception=1 CancelledError=0 OSError=1 "
        "ConnectionError=1 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "ECONNABORTED: ConnectionAbortedError BaseException=1 Exception=1 CancelledError=0 "
        "OSError=1 ConnectionError=1 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "EPIPE: BrokenPipeError BaseException=1 Exception=1 CancelledError=0 OSError=1 "
        "ConnectionError=1 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "ENOENT: FileNotFoundError BaseException=1 Exception=1 CancelledError=0 OSError=1 "
        "ConnectionError=0 TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n"
        "EINVAL: OSError BaseException=1 Exception=1 CancelledError=0 OSError=1 ConnectionError=0 "
        "TimeoutError=0 RuntimeError=0 EOFError=0 ValueError=0\n";
    static const char *named[] = {"CancelledError",
                                  "TimeoutError",
                                  "InvalidStateError",
                                  "ValueError",
                                  "RuntimeError",
                                  "BrokenBarrierError",
                                  "IncompleteReadError",
                                  "LimitOverrunError",
                                  "QueueEmpty",
                                  "QueueFull",
                                  "MemoryError",
                                  "SSLError",
                                  "SSLCertVerificationError",
                                  "InvalidURL"};
    static const struct {
        const char *name;
        int code;
    } uv[] = {{"ECONNREFUSED", UV_ECONNREFUSED},
              {"ECONNRESET", UV_ECONNRESET},
              {"ECONNABORTED", UV_ECONNABORTED},
              {"EPIPE", UV_EPIPE},
              {"ENOENT", UV_ENOENT},
              {"EINVAL", UV_EINVAL}};
    static const char *bases[] = {"BaseException", "Exception",       "CancelledError",
                                  "OSError",       "ConnectionError", "TimeoutError",
                                  "RuntimeError",  "EOFError",        "ValueError"};
    static tu_log_t log;
    size_t nn = sizeof named / sizeof named[0], nu = sizeof uv / sizeof uv[0];
    for (size_t i = 0; i < nn + nu; i++) {
        const char *label;
        if (i < nn) {
            label = named[i];
            asyncio_raise(label, "m");
        } else {
            label = uv[i - nn].name;
            asyncio_raise_uv(uv[i - nn].code, "m");
        }
        ck_assert_ptr_nonnull(asyncio_error());
        tu_logf(&log, "%s: %s", label, asyncio_error()->type);
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
            tu_logf(&log, " %s=%d", bases[b], asyncio_error_matches(bases[b]) ? 1 : 0);
        tu_logf(&log, "\n");
        asyncio_error_clear();
    }
    tu_assert_log(&log, expected);
}
END_TEST

/* ---------------------------------------------------------------------
 * libuv codes
 * --------------------------------------------------------------------- */

START_TEST(test_raise_uv)
{
    ck_assert_int_eq(UV_ECONNREFUSED, -111);
    ck_assert_ptr_null(asyncio_raise_uv(UV_ECONNREFUSED, "connect to %s", "127.0.0.1:1"));
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, UV_ECONNREFUSED); /* passes through unchanged */
    ck_assert_int_eq(e->code, -111);
    ck_assert_str_eq(e->type, "ConnectionRefusedError");
    ck_assert_int_eq(e->detail, ECONNREFUSED); /* errno */
    /* Python's message: the errno, the C library's text, the context */
    ck_assert_str_eq(e->message, "[Errno 111] Connection refused: connect to 127.0.0.1:1");
    asyncio_error_clear();

    /* without context: as Python's str(FileNotFoundError(2, ...)) */
    asyncio_raise_uv(UV_ENOENT, NULL);
    e = asyncio_error();
    ck_assert_int_eq(e->code, UV_ENOENT);
    ck_assert_str_eq(e->type, "FileNotFoundError");
    ck_assert_int_eq(e->detail, ENOENT);
    ck_assert_str_eq(e->message, "[Errno 2] No such file or directory");
    asyncio_error_clear();
    asyncio_raise_uv(UV_ENOENT, "'%s'", "/nonexistent");
    ck_assert_str_eq(asyncio_error()->message,
                     "[Errno 2] No such file or directory: '/nonexistent'");
    asyncio_error_clear();

    /* getaddrinfo's errors are gaierror with getaddrinfo's own code */
    asyncio_raise_uv(UV_EAI_NONAME, NULL);
    ck_assert_str_eq(asyncio_error()->type, "gaierror");
    ck_assert_str_eq(asyncio_error()->message, "[Errno -2] Name or service not known");
    ck_assert_int_eq(asyncio_error()->detail, -2);
    asyncio_error_clear();

    /* a code without a dedicated type is a plain OSError */
    asyncio_raise_uv(UV_EINVAL, "ctx");
    e = asyncio_error();
    ck_assert_int_eq(e->code, UV_EINVAL);
    ck_assert_str_eq(e->type, "OSError");
    ck_assert_int_eq(e->detail, EINVAL);
    asyncio_error_clear();
}
END_TEST

/* Types Python gives OSError(errno, ...): twins/error_errno_types.py */
START_TEST(test_raise_uv_errno_types)
{
    static const char *expected = "EPERM PermissionError 1\n"
                                  "ENOENT FileNotFoundError 2\n"
                                  "ESRCH ProcessLookupError 3\n"
                                  "EINTR InterruptedError 4\n"
                                  "EAGAIN BlockingIOError 11\n"
                                  "ECHILD ChildProcessError 10\n"
                                  "EACCES PermissionError 13\n"
                                  "EEXIST FileExistsError 17\n"
                                  "ENOTDIR NotADirectoryError 20\n"
                                  "EISDIR IsADirectoryError 21\n"
                                  "EINVAL OSError 22\n"
                                  "EPIPE BrokenPipeError 32\n"
                                  "EALREADY BlockingIOError 114\n"
                                  "EINPROGRESS BlockingIOError 115\n"
                                  "ECONNABORTED ConnectionAbortedError 103\n"
                                  "ECONNREFUSED ConnectionRefusedError 111\n"
                                  "ECONNRESET ConnectionResetError 104\n"
                                  "ETIMEDOUT TimeoutError 110\n";
    static const struct {
        const char *name;
        int code;
    } codes[] = {{"EPERM", UV_EPERM},
                 {"ENOENT", UV_ENOENT},
                 {"ESRCH", UV_ESRCH},
                 {"EINTR", UV_EINTR},
                 {"EAGAIN", UV_EAGAIN},
                 {"ECHILD", -ECHILD},
                 {"EACCES", UV_EACCES},
                 {"EEXIST", UV_EEXIST},
                 {"ENOTDIR", UV_ENOTDIR},
                 {"EISDIR", UV_EISDIR},
                 {"EINVAL", UV_EINVAL},
                 {"EPIPE", UV_EPIPE},
                 {"EALREADY", UV_EALREADY},
                 {"EINPROGRESS", -EINPROGRESS},
                 {"ECONNABORTED", UV_ECONNABORTED},
                 {"ECONNREFUSED", UV_ECONNREFUSED},
                 {"ECONNRESET", UV_ECONNRESET},
                 {"ETIMEDOUT", UV_ETIMEDOUT}};
    static tu_log_t log;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        asyncio_raise_uv(codes[i].code, NULL);
        const asyncio_error_t *e = asyncio_error();
        ck_assert_ptr_nonnull(e);
        ck_assert_int_eq(e->code, codes[i].code);
        ck_assert(asyncio_error_matches("OSError"));
        tu_logf(&log, "%s %s %d\n", codes[i].name, e->type, e->detail);
        asyncio_error_clear();
    }
    tu_assert_log(&log, expected);
}
END_TEST

START_TEST(test_strerror)
{
    static const struct {
        int code;
        const char *msg;
    } map[] = {
#define ROW(name, value, type, msg) {value, msg},
        ASYNCIO_ERRNO_MAP(ROW)
#undef ROW
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *s = asyncio_strerror(map[i].code);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s, map[i].msg);
    }
    ck_assert_str_eq(asyncio_strerror(UV_ECONNREFUSED), uv_strerror(UV_ECONNREFUSED));
    ck_assert_str_eq(asyncio_strerror(UV_ENOENT), uv_strerror(UV_ENOENT));
    /* never NULL, whatever the code */
    ck_assert_ptr_nonnull(asyncio_strerror(0));
    ck_assert_ptr_nonnull(asyncio_strerror(1));
    ck_assert_ptr_nonnull(asyncio_strerror(-29999));
    ck_assert_ptr_nonnull(asyncio_strerror(-30999));
    ck_assert_ptr_nonnull(asyncio_strerror(INT32_MIN));
    ck_assert_ptr_nonnull(asyncio_strerror(INT32_MAX));
    /* strerror raises nothing */
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

/* ---------------------------------------------------------------------
 * reraise, kept errors, groups
 * --------------------------------------------------------------------- */

START_TEST(test_reraise)
{
    asyncio_raise("ValueError", "keep me");
    ck_assert_ptr_null(asyncio_reraise());
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "keep me");
    asyncio_error_clear();
}
END_TEST

/* Python: a bare `raise` with no active exception is RuntimeError. */
START_TEST(test_reraise_nothing)
{
    ck_assert_ptr_null(asyncio_reraise());
    ck_assert_ptr_nonnull(asyncio_error());
    ck_assert(asyncio_error_matches("RuntimeError"));
    asyncio_error_clear();
}
END_TEST

START_TEST(test_dup_free)
{
    ck_assert_ptr_null(asyncio_error_dup(NULL));
    asyncio_error_free(NULL);
    ck_assert_ptr_null(asyncio_error()); /* dup(NULL) is not an error */

    asyncio_raise_uv(UV_ECONNRESET, "peer %d", 7);
    const asyncio_error_t *raised = asyncio_error();
    asyncio_error_t *copy = asyncio_error_dup(raised);
    ck_assert_ptr_nonnull(copy);
    ck_assert_ptr_ne(copy, raised);
    ck_assert_int_eq(copy->code, raised->code);
    ck_assert_int_eq(copy->detail, ECONNRESET);
    ck_assert_str_eq(copy->type, raised->type);
    ck_assert_str_eq(copy->message, raised->message);
    ck_assert_uint_eq(asyncio_error_group_size(copy), 0);
    ck_assert_ptr_null(asyncio_error_group_item(copy, 0));

    /* the copy outlives the raised error */
    char msg[256];
    snprintf(msg, sizeof msg, "%s", raised->message);
    asyncio_error_clear();
    asyncio_raise("KeyError", "something else");
    asyncio_error_clear();
    ck_assert_str_eq(copy->type, "ConnectionResetError");
    ck_assert_str_eq(copy->message, msg);

    /* raise e */
    ck_assert_ptr_null(asyncio_raise_error(copy));
    const asyncio_error_t *again = asyncio_error();
    ck_assert_ptr_nonnull(again);
    ck_assert_ptr_ne(again, copy); /* raised as a copy */
    ck_assert_int_eq(again->code, UV_ECONNRESET);
    ck_assert_int_eq(again->detail, ECONNRESET);
    ck_assert_str_eq(again->type, "ConnectionResetError");
    ck_assert_str_eq(again->message, msg);
    ck_assert(asyncio_error_matches("ConnectionError"));

    /* a dup of a dup, freed in either order */
    asyncio_error_t *copy2 = asyncio_error_dup(copy);
    asyncio_error_free(copy);
    ck_assert_str_eq(copy2->message, msg);
    asyncio_error_free(copy2);
    asyncio_error_clear();

    /* a caught error can be kept after the catch */
    asyncio_raise("ValueError", "caught");
    const asyncio_error_t *c = asyncio_catch("ValueError");
    asyncio_error_t *kept = asyncio_error_dup(c);
    ck_assert_ptr_nonnull(kept);
    ck_assert_str_eq(kept->message, "caught");
    asyncio_error_free(kept);
}
END_TEST

START_TEST(test_raise_error_null)
{
    ck_assert_ptr_null(asyncio_raise_error(NULL));
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", NULL);
    asyncio_error_clear();
}
END_TEST

START_TEST(test_group_of_plain_errors)
{
    ck_assert_uint_eq(asyncio_error_group_size(NULL), 0);
    ck_assert_ptr_null(asyncio_error_group_item(NULL, 0));
    asyncio_raise("ValueError", "x");
    ck_assert_uint_eq(asyncio_error_group_size(asyncio_error()), 0);
    ck_assert_ptr_null(asyncio_error_group_item(asyncio_error(), 0));
    ck_assert_ptr_null(asyncio_error_group_item(asyncio_error(), 12345));
    asyncio_error_clear();
}
END_TEST

/* Allocation failures while keeping an error: NULL, no leak, no crash. */
START_TEST(test_dup_alloc_failure)
{
    asyncio_raise("ValueError", "to be copied %d", 1);
    for (long n = 1; n < 50; n++) {
        tu_alloc_fail_at(n);
        asyncio_error_t *copy = asyncio_error_dup(asyncio_error());
        tu_alloc_fail_at(0);
        if (copy) {
            ck_assert_str_eq(copy->message, "to be copied 1");
            asyncio_error_free(copy);
            break;
        }
    }
    asyncio_error_clear();
}
END_TEST

/* ---------------------------------------------------------------------
 * User hierarchy
 * --------------------------------------------------------------------- */

START_TEST(test_register_hierarchy)
{
    ck_assert_int_eq(asyncio_exception_register("AppError", NULL), 0); /* base Exception */
    ck_assert_int_eq(asyncio_exception_register("DbError", "AppError"), 0);
    ck_assert_int_eq(asyncio_exception_register("DbTimeout", "DbError"), 0);
    ck_assert_int_eq(asyncio_exception_register("BadConfig", "ValueError"), 0);
    ck_assert_ptr_null(asyncio_error());

    asyncio_raise("DbTimeout", "slow %d", 5);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "DbTimeout", "slow 5");
    ck_assert(asyncio_error_matches("DbTimeout"));
    ck_assert(asyncio_error_matches("DbError"));
    ck_assert(asyncio_error_matches("AppError"));
    ck_assert(asyncio_error_matches("Exception"));
    ck_assert(asyncio_error_matches("BaseException"));
    ck_assert(!asyncio_error_matches("ValueError"));
    ck_assert(!asyncio_error_matches("TimeoutError"));
    const asyncio_error_t *e = asyncio_catch("AppError"); /* via the base */
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "DbTimeout");

    asyncio_raise("DbError", "d");
    ck_assert(!asyncio_error_matches("DbTimeout")); /* not the other way round */
    asyncio_error_clear();

    asyncio_raise("BadConfig", "cfg");
    ck_assert(asyncio_error_matches("ValueError"));
    ck_assert(!asyncio_error_matches("AppError"));
    e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->type, "BadConfig");

    /* re-registering with the same base is harmless */
    ck_assert_int_eq(asyncio_exception_register("DbError", "AppError"), 0);
    ck_assert_int_eq(asyncio_exception_register("AppError", "Exception"), 0);
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

START_TEST(test_register_deep_chain)
{
    char name[32], base[32];
    ck_assert_int_eq(asyncio_exception_register("Chain0", "OSError"), 0);
    for (int i = 1; i < 32; i++) {
        snprintf(name, sizeof name, "Chain%d", i);
        snprintf(base, sizeof base, "Chain%d", i - 1);
        ck_assert_int_eq(asyncio_exception_register(name, base), 0);
    }
    asyncio_raise("Chain31", "deep");
    ck_assert(asyncio_error_matches("Chain0"));
    ck_assert(asyncio_error_matches("Chain30"));
    ck_assert(asyncio_error_matches("OSError"));
    ck_assert(!asyncio_error_matches("ConnectionError"));
    asyncio_error_clear();
}
END_TEST

/* A user subclass of CancelledError is not caught by "Exception". */
START_TEST(test_register_under_cancelled)
{
    ck_assert_int_eq(asyncio_exception_register("MyCancel", "CancelledError"), 0);
    asyncio_raise("MyCancel", "stop");
    ck_assert(!asyncio_error_matches("Exception"));
    ck_assert(asyncio_error_matches("CancelledError"));
    ck_assert(asyncio_error_matches("BaseException"));
    asyncio_error_clear();
}
END_TEST

START_TEST(test_register_bad_inputs)
{
    ck_assert_int_eq(asyncio_exception_register(NULL, "ValueError"), ASYNCIO_EVALUE);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", NULL);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_exception_register("", "ValueError"), ASYNCIO_EVALUE);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", NULL);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_exception_register("Orphan", "NoSuchBase"), ASYNCIO_EVALUE);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", NULL);
    asyncio_error_clear();
    /* a failed registration registered nothing */
    asyncio_raise("Orphan", "o");
    ck_assert(!asyncio_error_matches("NoSuchBase"));
    asyncio_error_clear();

    /* a cycle: a type as its own base, or through a chain */
    ck_assert_int_eq(asyncio_exception_register("Selfish", "Selfish"), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_exception_register("CycA", NULL), 0);
    ck_assert_int_eq(asyncio_exception_register("CycB", "CycA"), 0);
    ck_assert_int_eq(asyncio_exception_register("CycA", "CycB"), ASYNCIO_EVALUE);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", NULL);
    asyncio_error_clear();

    /* conflicting re-registration, of a user type or of a built-in */
    ck_assert_int_eq(asyncio_exception_register("Conf", "ValueError"), 0);
    ck_assert_int_eq(asyncio_exception_register("Conf", "RuntimeError"), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_exception_register("ValueError", "RuntimeError"), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_exception_register("CancelledError", "Exception"), ASYNCIO_EVALUE);
    asyncio_error_clear();

    /* the hierarchy is unchanged by the failures */
    asyncio_raise("Conf", "c");
    ck_assert(asyncio_error_matches("ValueError"));
    ck_assert(!asyncio_error_matches("RuntimeError"));
    asyncio_error_clear();
    asyncio_raise("ValueError", "v");
    ck_assert(!asyncio_error_matches("RuntimeError"));
    asyncio_error_clear();
    asyncio_raise("CancelledError", "c");
    ck_assert(!asyncio_error_matches("Exception"));
    asyncio_error_clear();
    asyncio_raise("CycA", "a");
    ck_assert(!asyncio_error_matches("CycB"));
    asyncio_error_clear();
}
END_TEST

struct reg_arg {
    int idx;
    int failures;
};

static pthread_barrier_t reg_barrier;

/* An allocator with atomic counters for this test, where several threads
 * allocate at once (testutil's counters are exact for one thread only). */
static atomic_long reg_live;

static void *reg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p)
        atomic_fetch_add(&reg_live, 1);
    return p;
}

static void *reg_calloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p)
        atomic_fetch_add(&reg_live, 1);
    return p;
}

static void *reg_realloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (p && !old)
        atomic_fetch_add(&reg_live, 1);
    return p;
}

static void reg_free(void *p)
{
    if (p)
        atomic_fetch_sub(&reg_live, 1);
    free(p);
}

static void *register_many(void *p)
{
    struct reg_arg *a = p;
    char name[48];
    pthread_barrier_wait(&reg_barrier);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "Thr%dErr%d", a->idx, i);
        if (asyncio_exception_register(name, i % 2 ? "ValueError" : "OSError") != 0)
            a->failures++;
        if (asyncio_exception_register("SharedErr", "RuntimeError") != 0)
            a->failures++;
        /* matching reads the registry while the others write it */
        asyncio_raise(name, "x");
        if (!asyncio_error_matches(i % 2 ? "ValueError" : "OSError"))
            a->failures++;
        asyncio_error_clear();
    }
    return NULL;
}

/* Registration and matching from several threads at once. */
START_TEST(test_register_threads)
{
    ck_assert_int_eq(asyncio_set_allocator(reg_malloc, reg_realloc, reg_calloc, reg_free), 0);
    pthread_t th[4];
    struct reg_arg args[4];
    pthread_barrier_init(&reg_barrier, NULL, 4);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct reg_arg){i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, register_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    pthread_barrier_destroy(&reg_barrier);
    asyncio_raise("Thr3Err7", "x");
    ck_assert(asyncio_error_matches("ValueError"));
    asyncio_error_clear();
    asyncio_raise("Thr0Err8", "x");
    ck_assert(asyncio_error_matches("OSError"));
    asyncio_error_clear();
    asyncio_raise("SharedErr", "x");
    ck_assert(asyncio_error_matches("RuntimeError"));
    asyncio_error_clear();
    ck_assert_msg(atomic_load(&reg_live) == 0, "leak: %ld live allocations",
                  atomic_load(&reg_live));
}
END_TEST

/* ---------------------------------------------------------------------
 * The per-thread indicator
 * --------------------------------------------------------------------- */

struct thread_probe {
    bool saw_error;
    int code;
    bool cleared;
    bool clear_at_end;
};

static void *probe_thread(void *p)
{
    struct thread_probe *t = p;
    t->saw_error = asyncio_error() != NULL;
    asyncio_raise("KeyError", "in thread");
    t->code = asyncio_error() ? asyncio_error()->code : 0;
    if (t->clear_at_end) {
        ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
        t->cleared = asyncio_error() == NULL;
    }
    return NULL;
}

START_TEST(test_thread_indicators_independent)
{
    asyncio_raise("ValueError", "in main");
    struct thread_probe t = {.clear_at_end = true};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, probe_thread, &t), 0);
    pthread_join(th, NULL);
    ck_assert(!t.saw_error);
    ck_assert_int_eq(t.code, ASYNCIO_EEXCEPTION);
    ck_assert(t.cleared);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "in main");
    asyncio_error_clear();
}
END_TEST

/* A thread that exits with its indicator set must not leak it. */
START_TEST(test_thread_exit_frees_indicator)
{
    struct thread_probe t = {.clear_at_end = false};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, probe_thread, &t), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(t.code, ASYNCIO_EEXCEPTION);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_no_leak();
}
END_TEST

/* ---------------------------------------------------------------------
 * Propagation through tasks
 * --------------------------------------------------------------------- */

static void *raise_value(void *arg)
{
    return asyncio_raise("ValueError", "bad %d", (int)(intptr_t)arg);
}

static void *raise_named(void *arg)
{
    return asyncio_raise((const char *)arg, "named %s", (const char *)arg);
}

static void *raise_conn(void *arg)
{
    (void)arg;
    return asyncio_raise_uv(UV_ECONNREFUSED, "port %d", 1);
}

static void *handled(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "handled");
    ck_assert_ptr_nonnull(asyncio_catch("ValueError"));
    return (void *)(intptr_t)77;
}

/* Awaits task arg->fn and records what it saw. */
struct awaited {
    asyncio_coro_fn fn;
    void *arg;
    int rc;
    void *result;
    asyncio_error_t *err;
    bool task_done, task_cancelled;
    asyncio_error_t *exc; /* asyncio_exception(task) */
};

static void *await_child(void *p)
{
    struct awaited *a = p;
    asyncio_future_t *t = asyncio_create_task(a->fn, a->arg);
    ck_assert_ptr_nonnull(t);
    a->rc = asyncio_await(t, &a->result);
    a->err = asyncio_error_dup(asyncio_error());
    asyncio_error_clear();
    a->task_done = asyncio_done(t);
    a->task_cancelled = asyncio_cancelled(t);
    a->exc = asyncio_error_dup(asyncio_exception(t));
    asyncio_error_clear();
    asyncio_decref(t);
    return NULL;
}

static void awaited_free(struct awaited *a)
{
    asyncio_error_free(a->err);
    asyncio_error_free(a->exc);
}

START_TEST(test_propagation_value_error)
{
    struct awaited a = {.fn = raise_value, .arg = (void *)(intptr_t)7};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, ASYNCIO_EVALUE);
    ck_assert_ptr_nonnull(a.err);
    ck_assert_int_eq(a.err->code, ASYNCIO_EVALUE);
    ck_assert_str_eq(a.err->type, "ValueError");
    ck_assert_str_eq(a.err->message, "bad 7");
    ck_assert(a.task_done);
    ck_assert(!a.task_cancelled);
    ck_assert_ptr_nonnull(a.exc);
    ck_assert_str_eq(a.exc->type, "ValueError");
    ck_assert_str_eq(a.exc->message, "bad 7");
    awaited_free(&a);
}
END_TEST

START_TEST(test_propagation_user_and_os_errors)
{
    struct awaited a = {.fn = raise_named, .arg = "KeyError"};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, ASYNCIO_EEXCEPTION);
    ck_assert_str_eq(a.err->type, "KeyError");
    ck_assert_str_eq(a.err->message, "named KeyError");
    awaited_free(&a);

    struct awaited b = {.fn = raise_conn};
    ck_assert_int_eq(tu_run(await_child, &b, NULL), 0);
    ck_assert_int_eq(b.rc, UV_ECONNREFUSED);
    ck_assert_int_eq(b.err->code, UV_ECONNREFUSED);
    ck_assert_int_eq(b.err->detail, ECONNREFUSED);
    ck_assert_str_eq(b.err->type, "ConnectionRefusedError");
    ck_assert_ptr_nonnull(strstr(b.err->message, "port 1"));
    ck_assert_int_eq(b.exc->code, UV_ECONNREFUSED);
    awaited_free(&b);
}
END_TEST

/* Raising "CancelledError" by name ends the task cancelled. */
START_TEST(test_propagation_cancelled_by_name)
{
    struct awaited a = {.fn = raise_named, .arg = "CancelledError"};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, ASYNCIO_ECANCELLED);
    ck_assert_str_eq(a.err->type, "CancelledError");
    ck_assert(a.task_done);
    ck_assert(a.task_cancelled);
    ck_assert_ptr_nonnull(a.exc);
    ck_assert_str_eq(a.exc->type, "CancelledError");
    awaited_free(&a);
}
END_TEST

START_TEST(test_propagation_handled)
{
    struct awaited a = {.fn = handled};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_ptr_eq(a.result, (void *)(intptr_t)77);
    ck_assert_ptr_null(a.err);
    ck_assert_ptr_null(a.exc);
    ck_assert(!a.task_cancelled);
}
END_TEST

/* `return NULL` after a failed await propagates the failure unchanged. */
static void *middle(void *arg)
{
    asyncio_future_t *t = asyncio_create_task(raise_value, arg);
    int rc = asyncio_await(t, NULL);
    asyncio_decref(t);
    if (rc < 0)
        return NULL;
    return (void *)(intptr_t)1;
}

START_TEST(test_propagation_through_early_return)
{
    struct awaited a = {.fn = middle, .arg = (void *)(intptr_t)9};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, ASYNCIO_EVALUE);
    ck_assert_str_eq(a.err->type, "ValueError");
    ck_assert_str_eq(a.err->message, "bad 9");
    awaited_free(&a);
}
END_TEST

/* A successful suspending call keeps the raised error (`except E: await
 * cleanup(); raise`); a failing one replaces it. */
static void *fail_key(void *arg)
{
    (void)arg;
    return asyncio_raise("KeyError", "k");
}

static void *keeps_error(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "pending");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "pending");
    ck_assert_int_eq(asyncio_sleep(0.001), 0);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "pending");
    asyncio_future_t *t = asyncio_create_task(fail_key, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_EEXCEPTION);
    asyncio_decref(t);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "k");
    return asyncio_reraise();
}

START_TEST(test_suspending_keeps_error)
{
    void *res = (void *)1;
    ck_assert_int_eq(tu_run(keeps_error, NULL, &res), ASYNCIO_EEXCEPTION);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "k");
    asyncio_error_clear();
}
END_TEST

/* C rule: a successful call never clears the indicator; a failing one
 * replaces it. */
static void noop_cb(void *arg)
{
    (void)arg;
}

START_TEST(test_success_keeps_failure_replaces)
{
    asyncio_raise("KeyError", "pending %d", 1);
    asyncio_loop_t *loop = asyncio_loop_new();
    ck_assert_ptr_nonnull(loop);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "pending 1");
    asyncio_future_t *f = asyncio_future_new();
    ck_assert_ptr_nonnull(f);
    ck_assert(asyncio_handle_valid(asyncio_call_soon(loop, noop_cb, NULL)));
    ck_assert_int_eq(asyncio_future_set_result(f, NULL), 0);
    ck_assert_int_eq(asyncio_result(f, NULL), 0);
    ck_assert_ptr_null(asyncio_exception(f));
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "pending 1");

    ck_assert_int_eq(asyncio_future_set_result(f, NULL), ASYNCIO_EINVALIDSTATE);
    assert_raised_msg(ASYNCIO_EINVALIDSTATE, "InvalidStateError", NULL);
    asyncio_error_clear();
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* asyncio_run leaves main's exception in the calling thread's indicator. */
START_TEST(test_run_leaves_exception)
{
    void *res = (void *)1;
    ck_assert_int_eq(tu_run(raise_value, (void *)(intptr_t)3, &res), ASYNCIO_EVALUE);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 3");
    ck_assert_ptr_nonnull(asyncio_catch("ValueError"));

    ck_assert_int_eq(tu_run(raise_named, "CancelledError", NULL), ASYNCIO_ECANCELLED);
    ck_assert(asyncio_error_matches("CancelledError"));
    asyncio_error_clear();

    res = NULL;
    ck_assert_int_eq(tu_run(handled, NULL, &res), 0);
    ck_assert_ptr_eq(res, (void *)(intptr_t)77);
    ck_assert_ptr_null(asyncio_error());
}
END_TEST

/* Indicators of different tasks are independent, and independent of the
 * thread's own. */
static tu_log_t order_log;

static void *indep_a(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_error());
    asyncio_raise("ValueError", "from a");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "from a");
    tu_logf(&order_log, "a:%s ", asyncio_error()->type);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "from a");
    asyncio_error_clear();
    return (void *)(intptr_t)1;
}

static void *indep_b(void *arg)
{
    (void)arg;
    tu_logf(&order_log, "b:%s ", asyncio_error() ? asyncio_error()->type : "none");
    asyncio_raise("KeyError", "from b");
    ck_assert_int_eq(asyncio_sleep(0), 0);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "from b");
    asyncio_error_clear();
    return (void *)(intptr_t)2;
}

static void *indep_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_error()); /* the thread's ValueError is not ours */
    asyncio_future_t *a = asyncio_create_task(indep_a, NULL);
    asyncio_future_t *b = asyncio_create_task(indep_b, NULL);
    ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_ptr_null(asyncio_error());
    void *ra = NULL, *rb = NULL;
    ck_assert_int_eq(asyncio_await(a, &ra), 0);
    ck_assert_int_eq(asyncio_await(b, &rb), 0);
    ck_assert_ptr_eq(ra, (void *)(intptr_t)1);
    ck_assert_ptr_eq(rb, (void *)(intptr_t)2);
    ck_assert_ptr_null(asyncio_error());
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_task_indicators_independent)
{
    asyncio_raise("RuntimeError", "thread's own");
    ck_assert_int_eq(tu_run(indep_main, NULL, NULL), 0);
    tu_assert_log(&order_log, "b:none a:ValueError ");
    asyncio_error_clear();
}
END_TEST

/* A caught error stays valid in its task while other tasks raise and
 * catch during a suspension. */
static void *churn(void *arg)
{
    for (int i = 0; i < 20; i++) {
        asyncio_raise("KeyError", "churn %d %d", (int)(intptr_t)arg, i);
        ck_assert_ptr_nonnull(asyncio_catch("KeyError"));
        asyncio_raise("RuntimeError", "more churn");
        ck_assert_int_eq(asyncio_sleep(0), 0);
        asyncio_error_clear();
    }
    return NULL;
}

static void *keeps_caught(void *arg)
{
    (void)arg;
    asyncio_future_t *a = asyncio_create_task(churn, (void *)(intptr_t)1);
    asyncio_future_t *b = asyncio_create_task(churn, (void *)(intptr_t)2);
    asyncio_raise("ValueError", "mine %s", "to keep");
    const asyncio_error_t *e = asyncio_catch("ValueError");
    ck_assert_ptr_nonnull(e);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(asyncio_sleep(0), 0);
    ck_assert_str_eq(e->type, "ValueError");
    ck_assert_str_eq(e->message, "mine to keep");
    ck_assert_int_eq(e->code, ASYNCIO_EVALUE);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(asyncio_await(a, NULL), 0);
    ck_assert_int_eq(asyncio_await(b, NULL), 0);
    asyncio_decref(a);
    asyncio_decref(b);
    return NULL;
}

START_TEST(test_caught_error_survives_other_tasks)
{
    ck_assert_int_eq(tu_run(keeps_caught, NULL, NULL), 0);
}
END_TEST

/* Nested asyncio_call: each level sets aside its own error, restores it
 * when the call succeeds, and chains it under the call's error when it
 * fails. */
static void *inner_ok(void *arg)
{
    ck_assert_ptr_null(asyncio_error());
    return arg;
}

static void *outer_raises_then_calls(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_error());
    asyncio_raise("KeyError", "outer");
    void *r = NULL;
    ck_assert_int_eq(asyncio_call(inner_ok, (void *)(intptr_t)8, &r), 0);
    ck_assert_ptr_eq(r, (void *)(intptr_t)8);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "outer");
    return NULL; /* propagates KeyError */
}

static void *nested_call_main(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "outermost");
    ck_assert_int_eq(asyncio_call(outer_raises_then_calls, NULL, NULL), ASYNCIO_EEXCEPTION);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "outer");
    asyncio_error_clear();
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "outermost");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_call_nested)
{
    ck_assert_int_eq(tu_run(nested_call_main, NULL, NULL), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * asyncio_call
 * --------------------------------------------------------------------- */

static void *ret_arg(void *arg)
{
    ck_assert_ptr_null(asyncio_error()); /* the caller's error is set aside */
    return arg;
}

static void *sleeps_then_returns(void *arg)
{
    ck_assert_int_eq(asyncio_sleep(0), 0);
    return arg;
}

static void *call_main(void *arg)
{
    (void)arg;
    void *res = NULL;
    ck_assert_int_eq(asyncio_call(ret_arg, (void *)(intptr_t)42, &res), 0);
    ck_assert_ptr_eq(res, (void *)(intptr_t)42);
    ck_assert_int_eq(asyncio_call(ret_arg, NULL, NULL), 0);

    /* fn may suspend: it runs inline in this task */
    res = NULL;
    ck_assert_int_eq(asyncio_call(sleeps_then_returns, (void *)(intptr_t)5, &res), 0);
    ck_assert_ptr_eq(res, (void *)(intptr_t)5);

    /* exception left raised, result NULL */
    res = (void *)(intptr_t)99;
    ck_assert_int_eq(asyncio_call(raise_value, (void *)(intptr_t)4, &res), ASYNCIO_EVALUE);
    ck_assert_ptr_null(res);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 4");

    /* prior error restored on success */
    ck_assert_int_eq(asyncio_call(ret_arg, (void *)(intptr_t)1, &res), 0);
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 4");

    /* on failure the prior error is the context of the call's */
    ck_assert_int_eq(asyncio_call(fail_key, NULL, NULL), ASYNCIO_EEXCEPTION);
    assert_raised_msg(ASYNCIO_EEXCEPTION, "KeyError", "k");
    ck_assert_str_eq(asyncio_error_context(asyncio_error())->message, "bad 4");
    asyncio_error_clear();
    assert_raised_msg(ASYNCIO_EVALUE, "ValueError", "bad 4");
    asyncio_error_clear();

    /* CancelledError raised by fn is just an error of the call */
    ck_assert_int_eq(asyncio_call(raise_named, "CancelledError", NULL), ASYNCIO_ECANCELLED);
    ck_assert_ptr_nonnull(asyncio_catch("CancelledError"));
    return (void *)(intptr_t)1;
}

START_TEST(test_call)
{
    void *res = NULL;
    ck_assert_int_eq(tu_run(call_main, NULL, &res), 0);
    ck_assert_ptr_eq(res, (void *)(intptr_t)1);
}
END_TEST

START_TEST(test_call_outside_task)
{
    void *res = (void *)(intptr_t)3;
    ck_assert_int_eq(asyncio_call(ret_arg, NULL, &res), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(res);
    assert_raised_msg(ASYNCIO_ERUNTIME, "RuntimeError", "no running event loop");
    asyncio_error_clear();
}
END_TEST

static void *call_null_main(void *arg)
{
    (void)arg;
    void *res = (void *)(intptr_t)3;
    int rc = asyncio_call(NULL, NULL, &res);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_nonnull(asyncio_error());
    ck_assert_int_eq(asyncio_error()->code, rc);
    ck_assert_str_eq(asyncio_error()->message, "fn is NULL");
    ck_assert_ptr_null(res);
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_call_null_fn)
{
    ck_assert_int_eq(tu_run(call_null_main, NULL, NULL), 0);
}
END_TEST

/* A task that returns with an error its coroutine raised then caught is
 * successful; one that catches only a non-matching type fails. */
static void *catch_wrong(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "wrong");
    ck_assert_ptr_null(asyncio_catch("KeyError"));
    return (void *)(intptr_t)5; /* the return value is ignored */
}

START_TEST(test_catch_wrong_type_fails_task)
{
    struct awaited a = {.fn = catch_wrong};
    ck_assert_int_eq(tu_run(await_child, &a, NULL), 0);
    ck_assert_int_eq(a.rc, ASYNCIO_EVALUE);
    ck_assert_ptr_null(a.result);
    ck_assert_str_eq(a.err->message, "wrong");
    awaited_free(&a);
}
END_TEST

/* ---------------------------------------------------------------------
 * Cleanup paths behave as Python's `finally:` (twin:
 * tests/twins/error_cleanup.py).  Each worker fails or is cancelled; its
 * `goto cleanup` path runs while that error is raised; main logs how the
 * worker ended.
 * --------------------------------------------------------------------- */

static tu_log_t cleanup_log;
#define CL(...) tu_logf(&cleanup_log, __VA_ARGS__)

static void cl_show(const asyncio_error_t *e)
{
    if (e)
        CL("%s(%s)", e->type, e->message);
    else
        CL("None");
}

static void *cl_helper(void *arg)
{
    (void)arg;
    asyncio_sleep(10);
    return NULL;
}

static void *cleanup_awaits_and_catches(void *arg)
{
    (void)arg;
    asyncio_future_t *h = asyncio_create_task(cl_helper, NULL);
    if (asyncio_sleep(10) < 0)
        goto cleanup;
cleanup:
    asyncio_cancel(h, NULL);
    if (asyncio_await(h, NULL) < 0 && asyncio_catch("CancelledError"))
        CL("  cleanup caught the helper's CancelledError\n");
    asyncio_decref(h);
    return NULL; /* the worker's own CancelledError is still raised */
}

static void *cleanup_fails(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "first");
    goto cleanup;
cleanup:
    return asyncio_raise("KeyError", "cleanup");
}

static void *nested_cleanups(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "inner");
    /* inner cleanup */
    asyncio_raise("KeyError", "cleanup1");
    if (asyncio_catch("KeyError"))
        CL("  caught cleanup1\n");
    /* outer cleanup */
    asyncio_raise("RuntimeError", "cleanup2");
    if (asyncio_catch("RuntimeError"))
        CL("  caught cleanup2\n");
    return NULL;
}

static void *fails_in_call(void *arg)
{
    (void)arg;
    return asyncio_raise("KeyError", "in call");
}

static void *call_in_cleanup_caught(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "body");
    if (asyncio_call(fails_in_call, NULL, NULL) < 0) {
        const asyncio_error_t *e = asyncio_catch("KeyError");
        CL("  the call failed: ");
        cl_show(e);
        CL("\n");
    }
    return NULL;
}

static void *call_in_cleanup_uncaught(void *arg)
{
    (void)arg;
    asyncio_raise("ValueError", "body");
    asyncio_call(fails_in_call, NULL, NULL);
    return NULL;
}

static void cl_run(const char *name, asyncio_coro_fn fn, bool cancel)
{
    asyncio_future_t *t = asyncio_create_task(fn, NULL);
    if (cancel) {
        tu_yield();
        asyncio_cancel(t, NULL);
    }
    if (asyncio_await(t, NULL) == 0) {
        CL("%s: returned\n", name);
    } else if (asyncio_catch("CancelledError")) {
        CL("%s: cancelled\n", name);
    } else {
        const asyncio_error_t *e = asyncio_catch("Exception");
        ck_assert_ptr_nonnull(e);
        CL("%s: ", name);
        cl_show(e);
        CL(" context=");
        cl_show(asyncio_error_context(e));
        CL("\n");
    }
    ck_assert_ptr_null(asyncio_error()); /* nothing else came back in main */
    asyncio_decref(t);
}

static void *cleanup_main(void *arg)
{
    (void)arg;
    cl_run("awaits and catches", cleanup_awaits_and_catches, true);
    cl_run("fails", cleanup_fails, false);
    cl_run("nested", nested_cleanups, false);
    cl_run("call caught", call_in_cleanup_caught, false);
    cl_run("call uncaught", call_in_cleanup_uncaught, false);
    return NULL;
}

START_TEST(test_cleanup_is_finally)
{
    memset(&cleanup_log, 0, sizeof cleanup_log);
    tu_run_ok(cleanup_main, NULL);
    tu_assert_log(&cleanup_log, "  cleanup caught the helper's CancelledError\n"
                                "awaits and catches: cancelled\n"
                                "fails: KeyError(cleanup) context=ValueError(first)\n"
                                "  caught cleanup1\n"
                                "  caught cleanup2\n"
                                "nested: ValueError(inner) context=None\n"
                                "  the call failed: KeyError(in call)\n"
                                "call caught: ValueError(body) context=None\n"
                                "call uncaught: KeyError(in call) context=ValueError(body)\n");
}
END_TEST

/* Debug mode names a task that returns with an error that came back when
 * it caught a newer one (the cleanup: it caught "CancelledError"
 * meaning the helper's and the task's own went on). */
static char cl_report[512];

static void cl_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    snprintf(cl_report, sizeof cl_report, "%s", ctx->message);
}

static void *resurfaced_main(void *arg)
{
    (void)arg;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), cl_handler, NULL);
    asyncio_loop_set_debug(asyncio_get_running_loop(), true);
    asyncio_task_opts_t opts = {.name = "worker"};
    asyncio_future_t *t = asyncio_create_task_ex(cleanup_awaits_and_catches, NULL, &opts);
    tu_yield();
    asyncio_cancel(t, NULL);
    ck_assert_int_eq(asyncio_await(t, NULL), ASYNCIO_ECANCELLED);
    asyncio_catch("CancelledError");
    asyncio_decref(t);
    return NULL;
}

START_TEST(test_debug_reports_resurfaced_error)
{
    memset(&cleanup_log, 0, sizeof cleanup_log);
    tu_run_ok(resurfaced_main, NULL);
    ck_assert_msg(strstr(cl_report, "Task 'worker' returned with CancelledError raised again"),
                  "report: %s", cl_report);
}
END_TEST

/* ---------------------------------------------------------------------
 * The conventions of casyncio.h for the calls of this library's core,
 * combinators, synchronisation and threads: a failing call sets every
 * out-parameter it was given to NULL (or false), however early it fails,
 * and its message reads as Python's, never naming a C function.
 * --------------------------------------------------------------------- */

#define SENTINEL ((void *)1)

/* The call failed with this type and message (NULL: any message), its
 * out-parameter came back NULL, and no message names a C function; drops
 * what it raised. */
#define assert_failed_out(rc_, out_, type_, msg_)                                                  \
    do {                                                                                           \
        int r_ = (rc_);                                                                            \
        ck_assert_int_lt(r_, 0);                                                                   \
        ck_assert_ptr_null(out_);                                                                  \
        assert_failed(r_, (type_), (msg_));                                                        \
    } while (0)

static void assert_failed(int rc, const char *type, const char *msg)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_msg(e != NULL, "no error raised, expected %s", type);
    ck_assert_int_eq(e->code, rc);
    ck_assert_str_eq(e->type, type);
    if (msg)
        ck_assert_str_eq(e->message, msg);
    ck_assert_msg(!strstr(e->message, "asyncio_"), "a C name in: %s", e->message);
    tu_clear_all();
}

static void conv_handle_cb(void *arg)
{
    (void)arg;
}

static void *conv_nested_run(void *arg)
{
    (void)arg;
    void *r = SENTINEL;
    assert_failed_out(asyncio_run(ret_arg, NULL, &r), r, "RuntimeError",
                      "asyncio.run() cannot be called from a running event loop");
    return NULL;
}

START_TEST(test_out_params_outside_tasks)
{
    void *r = SENTINEL;
    assert_failed_out(asyncio_run(NULL, NULL, &r), r, "ValueError", "main is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_run(raise_value, (void *)(intptr_t)1, &r), r, "ValueError", "bad 1");
    ck_assert_int_eq(asyncio_run(conv_nested_run, NULL, NULL), 0);

    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *pending = asyncio_future_new();
    asyncio_future_t *failed = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(failed, "ValueError", "boom"), 0);
    asyncio_future_t *fs[2] = {pending, failed};

    r = SENTINEL;
    assert_failed_out(asyncio_loop_run_until_complete(NULL, pending, &r), r, "RuntimeError",
                      "Event loop is closed");
    r = SENTINEL;
    assert_failed_out(asyncio_loop_run_until_complete(loop, NULL, &r), r, "ValueError",
                      "fut is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_loop_run_until_complete(loop, failed, &r), r, "ValueError", "boom");
    r = SENTINEL;
    assert_failed_out(asyncio_result(NULL, &r), r, "ValueError", "fut is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_result(pending, &r), r, "InvalidStateError", "Result is not ready.");
    r = SENTINEL;
    assert_failed_out(asyncio_result(failed, &r), r, "ValueError", "boom");

    /* Suspending calls, outside any task. */
    r = SENTINEL;
    assert_failed_out(asyncio_await(pending, &r), r, "RuntimeError", "no running event loop");
    r = SENTINEL;
    assert_failed_out(asyncio_wait_for(pending, 1, &r), r, "RuntimeError", "no running event loop");
    r = SENTINEL;
    assert_failed_out(asyncio_call(ret_arg, NULL, &r), r, "RuntimeError", "no running event loop");
    r = SENTINEL;
    assert_failed_out(asyncio_to_thread(ret_arg, NULL, &r), r, "RuntimeError",
                      "no running event loop");
    void *results[2] = {SENTINEL, SENTINEL};
    assert_failed(asyncio_gather(fs, 2, results, 0), "RuntimeError", "no running event loop");
    ck_assert(!results[0] && !results[1]);
    bool done[2] = {true, true};
    assert_failed(asyncio_wait(fs, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done),
                  "RuntimeError", "no running event loop");
    ck_assert(!done[0] && !done[1]);
    asyncio_as_completed_t *it = asyncio_as_completed(fs, 2, ASYNCIO_NO_TIMEOUT);
    asyncio_future_t *d = SENTINEL;
    assert_failed_out(asyncio_as_completed_next(it, &d), d, "RuntimeError",
                      "no running event loop");
    asyncio_as_completed_free(it);

    /* Queues. */
    asyncio_queue_t *q = asyncio_queue_new(0);
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get(q, &r), r, "RuntimeError", "no running event loop");
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get(NULL, &r), r, "ValueError", "the queue is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get_nowait(NULL, &r), r, "ValueError", "the queue is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get_nowait(q, &r), r, "QueueEmpty", NULL);
    asyncio_queue_shutdown(q, false);
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get_nowait(q, &r), r, "QueueShutDown", NULL);
    asyncio_queue_free(q);

    /* Concurrent futures (the loop is not running: nothing starts). */
    r = SENTINEL;
    assert_failed_out(asyncio_cfuture_result(NULL, 0, &r), r, "ValueError",
                      "the concurrent future is NULL");
    asyncio_cfuture_t *cf = asyncio_run_coroutine_threadsafe(loop, ret_arg, NULL);
    r = SENTINEL;
    assert_failed_out(asyncio_cfuture_result(cf, NAN, &r), r, "ValueError",
                      "timeout must not be NaN");
    r = SENTINEL;
    assert_failed_out(asyncio_cfuture_result(cf, 0, &r), r, "TimeoutError", NULL);
    ck_assert(asyncio_cfuture_cancel(cf));
    r = SENTINEL;
    assert_failed_out(asyncio_cfuture_result(cf, ASYNCIO_NO_TIMEOUT, &r), r, "CancelledError",
                      NULL);
    asyncio_cfuture_free(cf);

    asyncio_decref(pending);
    asyncio_decref(failed);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

static void *conv_thread_fails(void *arg)
{
    (void)arg;
    return asyncio_raise("OSError", "no disk");
}

static void *conv_in_task_main(void *arg)
{
    (void)arg;
    asyncio_future_t *self = asyncio_current_task();
    asyncio_future_t *failed = asyncio_future_new();
    ck_assert_int_eq(asyncio_future_set_exception(failed, "ValueError", "boom"), 0);
    asyncio_future_t *cancelled = asyncio_future_new();
    asyncio_cancel(cancelled, "stop");
    asyncio_future_t *pending = asyncio_future_new();
    void *r = SENTINEL;

    assert_failed_out(asyncio_await(self, &r), r, "RuntimeError", NULL);
    r = SENTINEL;
    assert_failed_out(asyncio_await(NULL, &r), r, "ValueError", "fut is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_await(failed, &r), r, "ValueError", "boom");
    r = SENTINEL;
    assert_failed_out(asyncio_await(cancelled, &r), r, "CancelledError", "stop");
    r = SENTINEL;
    assert_failed_out(asyncio_result(cancelled, &r), r, "CancelledError", "stop");
    r = SENTINEL;
    assert_failed_out(asyncio_call(NULL, NULL, &r), r, "ValueError", "fn is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_call(raise_value, (void *)(intptr_t)2, &r), r, "ValueError", "bad 2");
    r = SENTINEL;
    assert_failed_out(asyncio_wait_for(NULL, 1, &r), r, "ValueError", "fut is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_wait_for(pending, NAN, &r), r, "ValueError",
                      "timeout must not be NaN");
    r = SENTINEL;
    assert_failed_out(asyncio_wait_for(pending, 0, &r), r, "TimeoutError", NULL);
    r = SENTINEL;
    assert_failed_out(asyncio_to_thread(NULL, NULL, &r), r, "ValueError", "fn is NULL");
    r = SENTINEL;
    assert_failed_out(asyncio_to_thread(conv_thread_fails, NULL, &r), r, "OSError", "no disk");
    r = SENTINEL;
    assert_failed_out(asyncio_loop_run_until_complete(asyncio_get_running_loop(), failed, &r), r,
                      "RuntimeError", "This event loop is already running");

    /* gather: every result slot NULL, whatever failed. */
    asyncio_future_t *fs[2] = {failed, NULL};
    void *results[2] = {SENTINEL, SENTINEL};
    assert_failed(asyncio_gather(fs, 2, results, 0), "ValueError", "futs[1] is NULL");
    ck_assert(!results[0] && !results[1]);
    results[0] = results[1] = SENTINEL;
    assert_failed(asyncio_gather(NULL, 2, results, 0), "ValueError", "futs is NULL");
    ck_assert(!results[0] && !results[1]);
    fs[1] = failed;
    results[0] = results[1] = SENTINEL;
    assert_failed(asyncio_gather(fs, 2, results, 0), "ValueError", "boom");
    ck_assert(!results[0] && !results[1]);

    /* wait: every done flag false. */
    bool done[2] = {true, true};
    assert_failed(asyncio_wait(NULL, 2, ASYNCIO_NO_TIMEOUT, ASYNCIO_ALL_COMPLETED, done),
                  "ValueError", "futs is NULL");
    ck_assert(!done[0] && !done[1]);
    done[0] = done[1] = true;
    assert_failed(asyncio_wait(fs, 2, NAN, ASYNCIO_ALL_COMPLETED, done), "ValueError",
                  "timeout must not be NaN");
    ck_assert(!done[0] && !done[1]);

    /* as_completed: a next() that raises stores NULL. */
    asyncio_future_t *d = SENTINEL;
    assert_failed_out(asyncio_as_completed_next(NULL, &d), d, "ValueError",
                      "the as_completed iterator is NULL");
    asyncio_future_t *later = asyncio_future_new();
    asyncio_as_completed_t *it = asyncio_as_completed(&later, 1, 0);
    d = SENTINEL;
    assert_failed_out(asyncio_as_completed_next(it, &d), d, "TimeoutError", NULL);
    asyncio_as_completed_free(it);

    /* Queues: shut down and empty. */
    asyncio_queue_t *q = asyncio_queue_new(0);
    asyncio_queue_shutdown(q, false);
    r = SENTINEL;
    assert_failed_out(asyncio_queue_get(q, &r), r, "QueueShutDown", NULL);
    asyncio_queue_free(q);

    /* A concurrent future of this very loop, waited for on its thread. */
    asyncio_cfuture_t *cf =
        asyncio_run_coroutine_threadsafe(asyncio_get_running_loop(), ret_arg, NULL);
    r = SENTINEL;
    assert_failed_out(asyncio_cfuture_result(cf, 1, &r), r, "RuntimeError", NULL);
    asyncio_cfuture_free(cf);

    asyncio_cancel(later, NULL);
    asyncio_decref(later);
    asyncio_decref(pending);
    asyncio_decref(cancelled);
    asyncio_decref(failed);
    return NULL;
}

START_TEST(test_out_params_in_tasks)
{
    tu_run_ok(conv_in_task_main, NULL);
}
END_TEST

/* Python's words where Python has them; an argument's name where C's
 * arguments fail. */
static void *conv_messages_main(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(asyncio_create_task(NULL, NULL));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "fn is NULL");
    asyncio_task_opts_t opts = {.stack_size = SIZE_MAX};
    ck_assert_ptr_null(asyncio_create_task_ex(ret_arg, NULL, &opts));
    assert_failed(ASYNCIO_EVALUE, "ValueError", NULL);
    assert_failed(asyncio_sleep(NAN), "ValueError", "delay must not be NaN");
    ck_assert(!asyncio_handle_valid(asyncio_call_later(NULL, NAN, NULL, NULL)));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "fn is NULL");
    ck_assert(!asyncio_handle_valid(asyncio_call_later(NULL, NAN, conv_handle_cb, NULL)));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "delay must not be NaN");
    ck_assert(!asyncio_handle_valid(asyncio_call_at(NULL, NAN, conv_handle_cb, NULL)));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "when must not be NaN");
    ck_assert_ptr_null(asyncio_timeout_enter(NAN));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "delay must not be NaN");
    ck_assert_ptr_null(asyncio_timeout_at_enter(NAN));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "when must not be NaN");
    ck_assert_ptr_null(asyncio_as_completed(NULL, 0, NAN));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "timeout must not be NaN");
    asyncio_future_t *fut = asyncio_future_new();
    assert_failed(asyncio_task_cancelling(fut), "ValueError", "the future is not a task");
    assert_failed(asyncio_task_uncancel(NULL), "ValueError", "task is NULL");
    assert_failed(asyncio_add_done_callback(fut, NULL, NULL), "ValueError", "fn is NULL");
    assert_failed(asyncio_future_set_error(fut, NULL), "ValueError", "err is NULL");
    assert_failed(asyncio_future_set_result(asyncio_current_task(), NULL), "RuntimeError",
                  "Task does not support set_result operation");
    assert_failed(asyncio_call_soon_threadsafe(asyncio_get_running_loop(), NULL, NULL),
                  "ValueError", "fn is NULL");
    assert_failed(asyncio_call_soon_threadsafe(NULL, conv_handle_cb, NULL), "RuntimeError",
                  "loop is NULL");
    ck_assert_ptr_null(asyncio_run_coroutine_threadsafe(NULL, ret_arg, NULL));
    assert_failed(ASYNCIO_ERUNTIME, "RuntimeError", "loop is NULL");
    ck_assert_ptr_null(asyncio_run_in_executor(NULL, NULL, NULL));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "fn is NULL");
    ck_assert_ptr_null(asyncio_priority_queue_new(0, NULL));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "cmp is NULL");
    asyncio_condition_t *cond = asyncio_condition_new(NULL);
    assert_failed(asyncio_condition_wait_for(cond, NULL, NULL), "ValueError", "pred is NULL");
    asyncio_condition_free(cond);
    ck_assert_ptr_null(asyncio_raise_error(NULL));
    assert_failed(ASYNCIO_EVALUE, "ValueError", "err is NULL");
    assert_failed(asyncio_set_allocator(malloc, realloc, calloc, free), "RuntimeError",
                  "the allocator cannot change while a loop exists");
    asyncio_decref(fut);
    return NULL;
}

/* On the loop's thread, outside its tasks. */
static void conv_in_callback(void *arg)
{
    assert_failed(asyncio_sleep(0), "RuntimeError", "no running task");
    ck_assert_ptr_null(asyncio_timeout_enter(1));
    assert_failed(ASYNCIO_ERUNTIME, "RuntimeError", "Timeout should be used inside a task");
    ck_assert_ptr_null(asyncio_taskgroup_enter());
    assert_failed(ASYNCIO_ERUNTIME, "RuntimeError", "TaskGroup cannot determine the parent task");
    ck_assert_int_eq(asyncio_future_set_result(arg, NULL), 0);
}

START_TEST(test_messages)
{
    tu_run_ok(conv_messages_main, NULL);
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_future_t *f = asyncio_future_new();
    ck_assert(asyncio_handle_valid(asyncio_call_soon(loop, conv_in_callback, f)));
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), 0);
    asyncio_decref(f);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    assert_failed(asyncio_set_allocator(malloc, realloc, NULL, free), "ValueError",
                  "calloc_fn is NULL");
    ck_assert_ptr_null(asyncio_timeout_enter(1));
    assert_failed(ASYNCIO_ERUNTIME, "RuntimeError", "no running event loop");
    ck_assert_ptr_null(asyncio_taskgroup_enter());
    assert_failed(ASYNCIO_ERUNTIME, "RuntimeError", "no running event loop");
}
END_TEST

Suite *error_suite(void)
{
    Suite *s = suite_create("error");

    TCase *tc = tcase_create("indicator");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_no_error_initially);
    tcase_add_test(tc, test_raise_and_catch);
    tcase_add_test(tc, test_raise_chains);
    tcase_add_test(tc, test_cleanup_is_finally);
    tcase_add_test(tc, test_debug_reports_resurfaced_error);
    tcase_add_test(tc, test_raise_null_type_is_exception);
    tcase_add_test(tc, test_error_format);
    tcase_add_test(tc, test_long_message);
    tcase_add_test(tc, test_builtin_codes);
    tcase_add_test(tc, test_matching_rules);
    tcase_add_test(tc, test_hierarchy_like_python);
    tcase_add_test(tc, test_reraise);
    tcase_add_test(tc, test_reraise_nothing);
    tcase_add_test(tc, test_thread_indicators_independent);
    tcase_add_test(tc, test_thread_exit_frees_indicator);
    suite_add_tcase(s, tc);

    tc = tcase_create("uv_strerror");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_raise_uv);
    tcase_add_test(tc, test_raise_uv_errno_types);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);

    tc = tcase_create("kept");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_dup_free);
    tcase_add_test(tc, test_raise_error_null);
    tcase_add_test(tc, test_group_of_plain_errors);
    tcase_add_test(tc, test_dup_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("register");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_register_hierarchy);
    tcase_add_test(tc, test_register_deep_chain);
    tcase_add_test(tc, test_register_under_cancelled);
    tcase_add_test(tc, test_register_bad_inputs);
    tcase_add_test(tc, test_register_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("propagation");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_propagation_value_error);
    tcase_add_test(tc, test_propagation_user_and_os_errors);
    tcase_add_test(tc, test_propagation_cancelled_by_name);
    tcase_add_test(tc, test_propagation_handled);
    tcase_add_test(tc, test_propagation_through_early_return);
    tcase_add_test(tc, test_suspending_keeps_error);
    tcase_add_test(tc, test_success_keeps_failure_replaces);
    tcase_add_test(tc, test_run_leaves_exception);
    tcase_add_test(tc, test_task_indicators_independent);
    tcase_add_test(tc, test_catch_wrong_type_fails_task);
    tcase_add_test(tc, test_call);
    tcase_add_test(tc, test_call_nested);
    tcase_add_test(tc, test_caught_error_survives_other_tasks);
    tcase_add_test(tc, test_call_outside_task);
    tcase_add_test(tc, test_call_null_fn);
    suite_add_tcase(s, tc);

    tc = tcase_create("conventions");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_out_params_outside_tasks);
    tcase_add_test(tc, test_out_params_in_tasks);
    tcase_add_test(tc, test_messages);
    suite_add_tcase(s, tc);
    return s;
}
