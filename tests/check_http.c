/*
 * HTTP through libcurl's multi interface, against the project's own test
 * server (tests/httpd.c, on 127.0.0.1, started by each test) and against
 * nginx (started by the interop tests with their own configuration;
 * skipped loudly when /usr/sbin/nginx is missing).
 *
 * Normal paths: GET, POST, methods, headers in and out, repeated headers,
 * statuses >= 400 as responses, redirects, effective URL, version,
 * timings, chunked bodies, keep-alive reuse, streaming with backpressure,
 * uploads from a callback and from a file, bodies to a file or discarded.
 * Errors: connection refused, reset mid-body, redirect loop, timeouts, bad
 * input.  Cancellation at random moments, loop close and session free with
 * transfers in flight: no easy handle, poll handle or byte left behind.
 * The Python twin of the basic scenarios is tests/twins/http_basic.py
 * (aiohttp).
 */
#include "httpd.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../src/testing.h"

/* "libcurl/7.88.1 ...": the running libcurl (curl.h stays away). */
char *curl_version(void);

/* curl's codes the tests expect (the header keeps curl.h away). */
enum {
    CURLE_COULDNT_CONNECT = 7,
    CURLE_WEIRD_SERVER_REPLY = 8,
    CURLE_PARTIAL_FILE = 18,
    CURLE_OPERATION_TIMEDOUT = 28,
    CURLE_ABORTED_BY_CALLBACK = 42,
    CURLE_TOO_MANY_REDIRECTS = 47,
    CURLE_SEND_ERROR = 55,
    CURLE_RECV_ERROR = 56,
};

static httpd_t *H;
static asyncio_http_session_t *S;

static const char *U(const char *path)
{
    static _Thread_local char bufs[16][256]; /* per thread: loops in threads use it */
    static _Thread_local unsigned i;
    return httpd_url(H, path, bufs[i++ % 16], sizeof bufs[0]);
}

/* The raised error is ClientError with this CURLcode and a message
 * containing `text`; clears it. */
static void assert_curl_error(int code, const char *text)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(e->code == ASYNCIO_EHTTP && e->detail == code && strstr(e->message, text),
                  "expected ClientError %d '%s', got %s %d: %s", code, text, e->type, e->detail,
                  e->message);
    asyncio_error_clear();
}

static void assert_counts_zero(void)
{
    long easy, polls;
    asyncio__http_counts(&easy, &polls);
    ck_assert_msg(easy == 0 && polls == 0, "left behind: %ld easy handles, %ld poll handles", easy,
                  polls);
}

/* Runs main with the server up; checks handles and memory after. */
static void run_with_server(asyncio_coro_fn main)
{
    H = httpd_start();
    tu_run_ok(main, NULL);
    httpd_stop(H);
    assert_counts_zero();
}

static bool pattern_ok(const char *p, size_t len, uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (char)('a' + (offset + i) % 26))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---------------------------------------------------------------------
 * Normal paths
 * --------------------------------------------------------------------- */

static void *get_main(void *arg)
{
    (void)arg;
    asyncio_http_session_t *s = asyncio_http_session_new(NULL);
    ck_assert_ptr_nonnull(s);
    asyncio_http_response_t *r = NULL;
    ck_assert_int_eq(asyncio_http_get(s, U("/hello"), &r), 0);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "hello world");
    ck_assert_uint_eq(r->body_len, 11);
    ck_assert_str_eq(r->url, U("/hello"));
    ck_assert_int_eq(r->http_version, 11);
    ck_assert_str_eq(asyncio_http_response_header(r, "content-length"), "11");
    ck_assert_str_eq(asyncio_http_response_header(r, "CONTENT-TYPE"), "text/plain");
    ck_assert_ptr_null(asyncio_http_response_header(r, "X-Missing"));
    ck_assert_ptr_null(asyncio_http_response_header(r, NULL));
    ck_assert_ptr_null(asyncio_http_response_header(NULL, "a"));
    ck_assert_uint_eq(r->header_count, 2);
    ck_assert_str_eq(r->headers[0].name, "Content-Length");
    ck_assert_int_eq(r->connects, 1);
    ck_assert_int_eq(r->redirect_count, 0);
    ck_assert(r->timings.total > 0);
    ck_assert(r->timings.total >= r->timings.starttransfer);
    ck_assert(r->timings.starttransfer >= r->timings.connect);
    asyncio_http_response_free(r);

    /* Keep-alive: the second request reuses the connection. */
    ck_assert_int_eq(asyncio_http_get(s, U("/conn"), &r), 0);
    ck_assert_str_eq(r->body, "1");
    asyncio_http_response_free(r);
    ck_assert_int_eq(asyncio_http_get(s, U("/conn"), &r), 0);
    ck_assert_str_eq(r->body, "1");
    ck_assert_int_eq(r->connects, 0);
    asyncio_http_response_free(r);
    ck_assert_int_eq(httpd_connections(H), 1);

    /* out NULL: the response is dropped. */
    ck_assert_int_eq(asyncio_http_get(s, U("/hello"), NULL), 0);
    asyncio_http_session_free(s);
    asyncio_http_response_free(NULL);
    asyncio_http_session_free(NULL);
    return NULL;
}

START_TEST(test_get)
{
    run_with_server(get_main);
}
END_TEST

static void *post_main(void *arg)
{
    (void)arg;
    static const char body[] = "a\0b=c&d";
    const char *hdrs[] = {"X-Test: yes", "Content-Type: application/x-test", NULL};
    asyncio_http_request_t req = {
        .url = U("/echo"), .headers = hdrs, .body = body, .body_len = sizeof body - 1};
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_msg(strncmp(r->body, "POST /echo\n", 11) == 0, "%s", r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\nX-Test: yes\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nContent-Type: application/x-test\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nContent-Length: 7\n"));
    ck_assert_ptr_null(strstr(r->body, "Expect:"));
    ck_assert_int_eq(memcmp(r->body + r->body_len - 7, body, 7), 0);
    asyncio_http_response_free(r);

    static const char *const methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS", "FOO"};
    for (size_t i = 0; i < 5; i++) {
        asyncio_http_request_t m = {.method = methods[i], .url = U("/echo")};
        if (i % 2 == 0) {
            m.body = "xyz";
            m.body_len = 3;
        }
        ck_assert_int_eq(asyncio_http_request(NULL, &m, &r), 0);
        char want[64];
        snprintf(want, sizeof want, "%s /echo\n", methods[i]);
        ck_assert_msg(strncmp(r->body, want, strlen(want)) == 0, "%s", r->body);
        if (i % 2 == 0)
            ck_assert(ends_with(r->body, "\n\nxyz"));
        asyncio_http_response_free(r);
    }
    /* HEAD: headers only. */
    asyncio_http_request_t head = {.method = "HEAD", .url = U("/hello")};
    ck_assert_int_eq(asyncio_http_request(NULL, &head, &r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->body_len, 0);
    ck_assert_str_eq(r->body, "");
    ck_assert_str_eq(asyncio_http_response_header(r, "Content-Length"), "11");
    asyncio_http_response_free(r);
    /* An empty POST body still says Content-Length: 0. */
    asyncio_http_request_t empty = {.url = U("/echo"), .body = "", .body_len = 0};
    ck_assert_int_eq(asyncio_http_request(NULL, &empty, &r), 0);
    ck_assert_msg(strncmp(r->body, "POST /echo\n", 11) == 0, "%s", r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\nContent-Length: 0\n"));
    asyncio_http_response_free(r);
    return NULL;
}

START_TEST(test_post_and_methods)
{
    run_with_server(post_main);
}
END_TEST

static void *headers_main(void *arg)
{
    (void)arg;
    const char *defaults[] = {"X-A: 1", "X-B: 2", "X-C: 3", NULL};
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.headers = defaults;
    o.user_agent = "tester/1";
    asyncio_http_session_t *s = asyncio_http_session_new(&o);
    ck_assert_ptr_nonnull(s);
    const char *mine[] = {"x-b: 20", "X-A:", "X-D: 4", NULL};
    asyncio_http_request_t req = {.url = U("/echo"), .headers = mine};
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_request(s, &req, &r), 0);
    ck_assert_msg(strncmp(r->body, "GET /echo\n", 10) == 0, "%s", r->body);
    ck_assert_ptr_null(strstr(r->body, "X-A"));
    ck_assert_ptr_null(strstr(r->body, "X-B: 2"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nx-b: 20\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nX-C: 3\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nX-D: 4\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nUser-Agent: tester/1\n"));
    asyncio_http_response_free(r);
    /* Without headers of its own the request sends the defaults. */
    ck_assert_int_eq(asyncio_http_get(s, U("/echo"), &r), 0);
    ck_assert_ptr_nonnull(strstr(r->body, "\nX-A: 1\n"));
    ck_assert_ptr_nonnull(strstr(r->body, "\nX-B: 2\n"));
    asyncio_http_response_free(r);

    /* Repeated response headers are all kept, in order. */
    ck_assert_int_eq(asyncio_http_get(s, U("/headers"), &r), 0);
    ck_assert_str_eq(asyncio_http_response_header(r, "set-cookie"), "a=1");
    ck_assert_str_eq(asyncio_http_response_header_nth(r, "Set-Cookie", 1), "b=2");
    ck_assert_ptr_null(asyncio_http_response_header_nth(r, "Set-Cookie", 2));
    ck_assert_str_eq(asyncio_http_response_header_nth(r, "X-MULTI", 0), "one");
    ck_assert_str_eq(asyncio_http_response_header_nth(r, "X-MULTI", 1), "two");
    ck_assert_uint_eq(r->header_count, 6);
    asyncio_http_response_free(r);
    asyncio_http_session_free(s);

    /* Through a proxy (the test server plays one): the request line names
     * the whole URL, the host needs no resolving. */
    asyncio_http_opts_t p = ASYNCIO_HTTP_OPTS_INIT;
    p.proxy = U("");
    p.http_version = ASYNCIO_HTTP_VERSION_1_0;
    s = asyncio_http_session_new(&p);
    ck_assert_int_eq(asyncio_http_get(s, "http://nowhere.invalid/echo", &r), 0);
    ck_assert_msg(strncmp(r->body, "GET http://nowhere.invalid/echo\n", 32) == 0, "%s", r->body);
    asyncio_http_response_free(r);
    ck_assert_int_eq(asyncio_http_get(s, "http://nowhere.invalid/hello", &r), 0);
    ck_assert_str_eq(r->body, "hello world");
    asyncio_http_response_free(r);
    asyncio_http_session_free(s);
    return NULL;
}

START_TEST(test_headers)
{
    run_with_server(headers_main);
}
END_TEST

static void *status_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    static const int codes[] = {404, 500, 503, 204};
    for (size_t i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof path, "/status/%d", codes[i]);
        ck_assert_int_eq(asyncio_http_get(NULL, U(path), &r), 0);
        ck_assert_int_eq(r->status, codes[i]);
        asyncio_http_response_free(r);
    }
    ck_assert_int_eq(asyncio_http_get(NULL, U("/nowhere"), &r), 0);
    ck_assert_int_eq(r->status, 404);
    ck_assert_str_eq(r->body, "not found");
    asyncio_http_response_free(r);
    return NULL;
}

START_TEST(test_status_is_a_response)
{
    run_with_server(status_main);
}
END_TEST

static void *redirect_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(NULL, U("/redirect/3"), &r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "done");
    ck_assert_str_eq(r->url, U("/redirect/0"));
    ck_assert_int_eq(r->redirect_count, 3);
    ck_assert_uint_eq(r->header_count, 2); /* the last response's only */
    asyncio_http_response_free(r);

    asyncio_http_request_t req = {.url = U("/redirect/3"), .follow_redirects = -1};
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), 0);
    ck_assert_int_eq(r->status, 302);
    ck_assert_str_eq(asyncio_http_response_header(r, "Location"), "/redirect/2");
    ck_assert_str_eq(r->url, U("/redirect/3"));
    asyncio_http_response_free(r);

    asyncio_http_opts_t o = {.follow_redirects = false};
    asyncio_http_session_t *s = asyncio_http_session_new(&o);
    ck_assert_int_eq(asyncio_http_get(s, U("/redirect/1"), &r), 0);
    ck_assert_int_eq(r->status, 302);
    asyncio_http_response_free(r);
    req.follow_redirects = 1;
    ck_assert_int_eq(asyncio_http_request(s, &req, &r), 0);
    ck_assert_int_eq(r->status, 200);
    asyncio_http_response_free(r);

    /* A loop ends as ClientError (too many redirects). */
    ck_assert_int_eq(asyncio_http_get(NULL, U("/loop"), &r), ASYNCIO_EHTTP);
    ck_assert_ptr_null(r);
    assert_raised(ASYNCIO_EHTTP, "ClientError");
    ck_assert_int_eq(asyncio_error()->detail, CURLE_TOO_MANY_REDIRECTS);
    ck_assert_ptr_nonnull(strstr(asyncio_error()->message, "redirect"));
    asyncio_error_clear();
    /* ... also with a limit of our own. */
    o = (asyncio_http_opts_t)ASYNCIO_HTTP_OPTS_INIT;
    o.max_redirects = 2;
    asyncio_http_session_t *s2 = asyncio_http_session_new(&o);
    ck_assert_int_eq(asyncio_http_get(s2, U("/redirect/3"), &r), ASYNCIO_EHTTP);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_get(s2, U("/redirect/2"), &r), 0);
    asyncio_http_response_free(r);
    asyncio_http_session_free(s2);
    asyncio_http_session_free(s);
    return NULL;
}

START_TEST(test_redirects)
{
    run_with_server(redirect_main);
}
END_TEST

static void *chunked_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(NULL, U("/chunked/100000"), &r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->body_len, 100000);
    ck_assert(pattern_ok(r->body, r->body_len, 0));
    ck_assert_str_eq(asyncio_http_response_header(r, "Transfer-Encoding"), "chunked");
    asyncio_http_response_free(r);
    ck_assert_int_eq(asyncio_http_get(NULL, U("/bytes/3000000"), &r), 0);
    ck_assert_uint_eq(r->body_len, 3000000);
    ck_assert(pattern_ok(r->body, r->body_len, 0));
    ck_assert_int_eq(r->body[r->body_len], '\0');
    asyncio_http_response_free(r);
    return NULL;
}

START_TEST(test_chunked_and_big)
{
    run_with_server(chunked_main);
}
END_TEST

/* Many at once over one session. */
static void *one_get(void *arg)
{
    asyncio_http_response_t *r;
    if (asyncio_http_get(S, arg, &r))
        return NULL;
    bool ok = r->status == 200 && strcmp(r->body, "hello world") == 0;
    asyncio_http_response_free(r);
    return ok ? IP(1) : NULL;
}

static void *concurrent_main(void *arg)
{
    (void)arg;
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.max_host_connections = 8;
    S = asyncio_http_session_new(&o);
    enum { N = 200 };
    asyncio_future_t *ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = tu_spawn(one_get, (void *)U("/hello"));
    void *results[N];
    ck_assert_int_eq(asyncio_gather(ts, N, results, 0), 0);
    for (int i = 0; i < N; i++)
        ck_assert_ptr_eq(results[i], IP(1));
    tu_decref_all(ts, N);
    ck_assert_int_le(httpd_connections(H), 8);
    asyncio_http_session_free(S);
    return NULL;
}

START_TEST(test_concurrent)
{
    run_with_server(concurrent_main);
}
END_TEST

/* One GET of /conn: counts the connections opened (response->connects). */
static void *conn_get(void *arg)
{
    long *connects = arg;
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(S, U("/conn"), &r), 0);
    ck_assert_int_eq(r->status, 200);
    *connects += r->connects;
    asyncio_http_response_free(r);
    return NULL;
}

/* Bursts of 64 requests, one after the other: the connections the first
 * burst opened are all kept (the session's connection cache fits the most
 * transfers it had at once, beyond curl's 4 x the transfers attached), so
 * later bursts open none, also after a lull of single requests. */
static long burst(int n)
{
    long connects = 0;
    asyncio_future_t *ts[64];
    for (int i = 0; i < n; i++)
        ts[i] = tu_spawn(conn_get, &connects);
    ck_assert_int_eq(asyncio_gather(ts, n, NULL, 0), 0);
    tu_decref_all(ts, n);
    return connects;
}

static void *reuse_main(void *arg)
{
    (void)arg;
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.http_version = ASYNCIO_HTTP_VERSION_1_1;
    S = asyncio_http_session_new(&o);
    ck_assert_int_eq(burst(64), 64);
    long opened = httpd_connections(H);
    ck_assert_int_eq(opened, 64);
    for (int round = 0; round < 5; round++) {
        ck_assert_int_eq(burst(1), 0); /* a lull: one transfer attached */
        ck_assert_int_eq(burst(64), 0);
    }
    ck_assert_int_eq(httpd_connections(H), opened);
    asyncio_http_session_free(S);

    /* max_connections given: it is also the cache size. */
    o.max_connections = 8;
    S = asyncio_http_session_new(&o);
    ck_assert_int_eq(burst(64), 8);
    ck_assert_int_eq(burst(64), 0);
    ck_assert_int_eq(httpd_connections(H), opened + 8);
    asyncio_http_session_free(S);
    return NULL;
}

/* The buffers of freed responses' large bodies are reused for the next
 * bodies of the loop: contents, lengths and terminators stay right
 * whatever buffer a body lands in; buffers still cached when the loop
 * closes are freed with it (the teardown checks for leaks); responses
 * freed after that are plain memory. */
static asyncio_http_response_t *get_bytes(const char *path, size_t len)
{
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(S, U(path), &r), 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->body_len, len);
    ck_assert(pattern_ok(r->body, len, 0));
    ck_assert_int_eq(r->body[len], '\0');
    return r;
}

static asyncio_http_response_t *kept;

static void *body_reuse_main(void *arg)
{
    (void)arg;
    S = asyncio_http_session_new(NULL);
    asyncio_http_response_t *r = get_bytes("/bytes/100000", 100000);
    char *p = r->body;
    asyncio_http_response_free(r);
    r = get_bytes("/bytes/80000", 80000); /* fits: reused */
    ck_assert_ptr_eq(r->body, p);
    asyncio_http_response_free(r);
    r = get_bytes("/bytes/20000", 20000); /* would waste it: not reused */
    ck_assert_ptr_ne(r->body, p);
    asyncio_http_response_free(r);
    r = get_bytes("/chunked/150000", 150000); /* no length: grows from one */
    asyncio_http_response_free(r);
    for (int i = 0; i < 40; i++) /* more than the cache keeps */
        asyncio_http_response_free(
            get_bytes(i % 2 ? "/bytes/300000" : "/chunked/40000", i % 2 ? 300000 : 40000));
    r = get_bytes("/bytes/2000000", 2000000); /* too big to keep */
    asyncio_http_response_free(r);
    kept = get_bytes("/bytes/100000", 100000);
    asyncio_http_session_free(S);
    return NULL;
}

START_TEST(test_body_reuse)
{
    run_with_server(body_reuse_main);
    ck_assert(pattern_ok(kept->body, 100000, 0));
    asyncio_http_response_free(kept); /* after its loop closed */
}
END_TEST

START_TEST(test_connection_reuse)
{
    run_with_server(reuse_main);
}
END_TEST

/* Servers that hang up after a response without saying so (idle
 * timeouts, load balancers, servers closing after a redirect): a request
 * sent on such a connection before its FIN arrives meets a reset, and
 * curl, as its own tool does, must retry it on a new connection.  Every
 * one of the requests succeeds; before the bridge handed curl a poll
 * error as readable and writable, most failed with CURLE_SEND_ERROR. */
static long failures_of(const char *path, long n, long *first_detail, char *first, size_t cap)
{
    long failed = 0;
    for (long i = 0; i < n; i++) {
        asyncio_http_response_t *r;
        if (asyncio_http_get(NULL, U(path), &r) < 0) {
            if (!failed++) {
                *first_detail = asyncio_error()->detail;
                snprintf(first, cap, "%s", asyncio_error()->message);
            }
            asyncio_error_clear();
            continue;
        }
        ck_assert_int_eq(r->status, 200);
        asyncio_http_response_free(r);
    }
    return failed;
}

static void *closing_server_main(void *arg)
{
    const char *path = arg;
    long n = tu_scaled(1000), detail = 0;
    char first[256] = "";
    long failed = failures_of(path, n, &detail, first, sizeof first);
    ck_assert_msg(failed == 0, "%s: %ld of %ld failed; first: detail %ld, %s", path, failed, n,
                  detail, first);
    return NULL;
}

START_TEST(test_server_closes_each_response)
{
    H = httpd_start_ex(HTTPD_CLOSE_EACH);
    tu_run_ok(closing_server_main, "/hello");
    httpd_stop(H);
    assert_counts_zero();
}
END_TEST

/* A redirect loop on a server that hangs up after each 3xx ends with
 * curl's own error every time, never with a poll error in its place.
 * (Three redirects: curl retries a request on a dead connection at most 5
 * times per transfer, and each hop may need one where the server thread
 * is slow to close, as under valgrind.) */
static void *closing_loop_main(void *arg)
{
    (void)arg;
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.max_redirects = 3;
    asyncio_http_session_t *s = asyncio_http_session_new(&o);
    ck_assert_ptr_nonnull(s);
    for (long i = 0, n = tu_scaled(200); i < n; i++) {
        asyncio_http_response_t *r = (void *)1;
        ck_assert_int_eq(asyncio_http_get(s, U("/loop"), &r), ASYNCIO_EHTTP);
        ck_assert_ptr_null(r);
        /* curl's text, or its code's text when curl kept that of a dead
         * connection it recovered from (never "Recv failure"). */
        const char *m = asyncio_error()->message;
        ck_assert_msg(strstr(m, "Maximum (3) redirects followed") ||
                          strstr(m, "Number of redirects hit maximum amount"),
                      "message: %s", m);
        assert_curl_error(CURLE_TOO_MANY_REDIRECTS, "redirects");
    }
    asyncio_http_session_free(s);
    return NULL;
}

START_TEST(test_server_closes_after_redirects)
{
    H = httpd_start_ex(HTTPD_CLOSE_3XX);
    tu_run_ok(closing_server_main, "/redirect/3");
    tu_run_ok(closing_loop_main, NULL);
    httpd_stop(H);
    assert_counts_zero();
}
END_TEST

/* One loop per thread, each with its own default session. */
static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        asyncio_http_response_t *r;
        ck_assert_int_eq(asyncio_http_get(NULL, U("/hello"), &r), 0);
        ck_assert_str_eq(r->body, "hello world");
        asyncio_http_response_free(r);
    }
    return NULL;
}

static void *run_in_thread(void *arg)
{
    (void)arg;
    tu_run_ok(thread_main, NULL);
    return NULL;
}

START_TEST(test_loops_in_threads)
{
    H = httpd_start();
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, run_in_thread, NULL), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    httpd_stop(H);
    assert_counts_zero();
}
END_TEST

/* ---------------------------------------------------------------------
 * Uploads and downloads without memory
 * --------------------------------------------------------------------- */

typedef struct source {
    size_t left, sent;
} source_t;

static long produce(void *arg, char *buf, size_t cap)
{
    source_t *src = arg;
    size_t n = src->left < cap ? src->left : cap;
    if (n > 1000)
        n = 1000; /* many small pieces */
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (src->sent + i) % 26);
    src->left -= n;
    src->sent += n;
    return (long)n;
}

static long refuse(void *arg, char *buf, size_t cap)
{
    (void)arg;
    (void)buf;
    (void)cap;
    return -1;
}

/* An upload callback that tries the HTTP API (it runs inside curl):
 * every call is refused with RuntimeError, nothing is torn down, and the
 * upload goes on. */
typedef struct reentrant {
    asyncio_http_session_t *session;
    asyncio_http_stream_t *stream;
    int refused;
    bool done;
} reentrant_t;

static long reenter(void *arg, char *buf, size_t cap)
{
    reentrant_t *re = arg;
    if (re->done)
        return 0;
    asyncio_http_response_t *r = NULL;
    size_t n;
    char b[4];
    asyncio_http_session_free(re->session);
    re->refused += asyncio_error() && asyncio_error()->code == ASYNCIO_ERUNTIME;
    asyncio_error_clear();
    re->refused += asyncio_http_get(re->session, "http://127.0.0.1:1/", &r) == ASYNCIO_ERUNTIME;
    asyncio_error_clear();
    re->refused += asyncio_http_stream_read(re->stream, b, sizeof b, &n) == ASYNCIO_ERUNTIME;
    asyncio_error_clear();
    asyncio_http_stream_close(re->stream);
    re->refused += asyncio_error() && asyncio_error()->code == ASYNCIO_ERUNTIME;
    asyncio_error_clear();
    re->done = true;
    memcpy(buf, "ok", cap < 2 ? cap : 2);
    return cap < 2 ? (long)cap : 2;
}

static char TMPDIR_[64];

static void *upload_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    static const int64_t sizes[] = {-1, 0, 50000}; /* unknown twice, then known */
    for (int k = 0; k < 3; k++) {
        bool known = sizes[k] > 0;
        source_t src = {.left = 50000};
        asyncio_http_request_t req = {.method = "PUT",
                                      .url = U("/echo"),
                                      .body_fn = produce,
                                      .body_arg = &src,
                                      .body_size = sizes[k]};
        ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), 0);
        ck_assert_msg(strncmp(r->body, "PUT /echo\n", 10) == 0, "%s", r->body);
        ck_assert_ptr_nonnull(strstr(r->body, known ? "\nContent-Length: 50000\n"
                                                    : "\nTransfer-Encoding: chunked\n"));
        const char *b = strstr(r->body, "\n\n") + 2;
        ck_assert_uint_eq(r->body_len - (size_t)(b - r->body), 50000);
        ck_assert(pattern_ok(b, 50000, 0));
        asyncio_http_response_free(r);
    }
    /* The callback tries to re-enter the HTTP API: refused. */
    reentrant_t re = {.session = asyncio_http_session_new(NULL)};
    asyncio_http_request_t get = {.url = U("/bytes/10")};
    ck_assert_int_eq(asyncio_http_stream_open(re.session, &get, &re.stream), 0);
    asyncio_http_request_t in = {
        .method = "PUT", .url = U("/echo"), .body_fn = reenter, .body_arg = &re, .body_size = 2};
    ck_assert_int_eq(asyncio_http_request(re.session, &in, &r), 0);
    ck_assert_int_eq(re.refused, 4);
    ck_assert_int_eq(r->status, 200);
    asyncio_http_response_free(r);
    asyncio_http_stream_close(re.stream);
    asyncio_http_session_free(re.session);
    ck_assert_ptr_null(asyncio_error());

    /* The callback aborts: ClientError. */
    asyncio_http_request_t bad = {.url = U("/echo"), .body_fn = refuse, .body_size = 10};
    ck_assert_int_eq(asyncio_http_request(NULL, &bad, &r), ASYNCIO_EHTTP);
    ck_assert_int_eq(asyncio_error()->detail, CURLE_ABORTED_BY_CALLBACK);
    asyncio_error_clear();

    /* From a file. */
    char path[128];
    snprintf(path, sizeof path, "%s/up", TMPDIR_);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 70000; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    asyncio_http_request_t up = {.url = U("/echo"), .body_file = path};
    ck_assert_int_eq(asyncio_http_request(NULL, &up, &r), 0);
    ck_assert_msg(strncmp(r->body, "POST /echo\n", 11) == 0, "%s", r->body);
    ck_assert_ptr_nonnull(strstr(r->body, "\nContent-Length: 70000\n"));
    const char *b = strstr(r->body, "\n\n") + 2;
    ck_assert(pattern_ok(b, 70000, 0));
    asyncio_http_response_free(r);
    up.body_file = "/nonexistent/file";
    ck_assert_int_eq(asyncio_http_request(NULL, &up, &r), UV_ENOENT);
    assert_raised(UV_ENOENT, "FileNotFoundError");
    ck_assert_str_eq(tu_raised_message(),
                     "[Errno 2] No such file or directory: '/nonexistent/file'");
    asyncio_error_clear();

    /* The body to a file, or nowhere. */
    char out[128];
    snprintf(out, sizeof out, "%s/down", TMPDIR_);
    asyncio_http_request_t down = {.url = U("/bytes/1000000"), .output_file = out};
    ck_assert_int_eq(asyncio_http_request(NULL, &down, &r), 0);
    ck_assert_ptr_null(r->body);
    ck_assert_uint_eq(r->body_len, 1000000);
    asyncio_http_response_free(r);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, 1000000);
    asyncio_http_request_t drop = {.url = U("/chunked/123456"), .discard_body = true};
    ck_assert_int_eq(asyncio_http_request(NULL, &drop, &r), 0);
    ck_assert_ptr_null(r->body);
    ck_assert_uint_eq(r->body_len, 123456);
    asyncio_http_response_free(r);
    down.output_file = "/nonexistent/dir/file";
    ck_assert_int_eq(asyncio_http_request(NULL, &down, &r), UV_ENOENT);
    asyncio_error_clear();
    unlink(path);
    unlink(out);
    return NULL;
}

START_TEST(test_upload_and_files)
{
    snprintf(TMPDIR_, sizeof TMPDIR_, "/tmp/casyncio-http-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(TMPDIR_));
    run_with_server(upload_main);
    rmdir(TMPDIR_);
}
END_TEST

/* ---------------------------------------------------------------------
 * Streaming
 * --------------------------------------------------------------------- */

/* A stream of url opens with a 200, its reads give 1,000 bytes, then
 * fail with ClientError code (text in its message). */
static void expect_cut_body(asyncio_http_session_t *s, const char *url, int code, const char *text)
{
    asyncio_http_request_t req = {.url = url};
    asyncio_http_stream_t *st;
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_response(st)->status, 200);
    char b[32];
    size_t m, got = 0;
    int rc;
    while ((rc = asyncio_http_stream_read(st, b, sizeof b, &m)) == 0 && m)
        got += m;
    ck_assert_int_eq(rc, ASYNCIO_EHTTP);
    ck_assert_uint_eq(got, 1000);
    assert_curl_error(code, text);
    asyncio_http_stream_close(st);
}

static void *stream_main(void *arg)
{
    (void)arg;
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.stream_buffer = 32768;
    asyncio_http_session_t *s = asyncio_http_session_new(&o);
    uint64_t total = (uint64_t)tu_scaled(100) << 20; /* 100 MiB */
    char path[64];
    snprintf(path, sizeof path, "/bytes/%llu", (unsigned long long)total);
    asyncio_http_stream_t *st = NULL;
    asyncio_http_request_t req = {.url = U(path)};
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    const asyncio_http_response_t *r = asyncio_http_stream_response(st);
    ck_assert_int_eq(r->status, 200);
    ck_assert_ptr_null(r->body);
    ck_assert_uint_eq(r->body_len, 0);
    asyncio_http_response_free((asyncio_http_response_t *)r); /* the stream's: refused */
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    uint64_t got = 0;
    size_t max_buf = 0;
    unsigned n = 0;
    for (;;) {
        const void *data;
        size_t len;
        ck_assert_int_eq(asyncio_http_stream_read_chunk(st, &data, &len), 0);
        if (!len)
            break;
        ck_assert_msg(pattern_ok(data, len, got), "bad bytes at %llu", (unsigned long long)got);
        got += len;
        size_t buf;
        long pauses;
        asyncio__http_stream_stats(st, &buf, &pauses);
        if (buf > max_buf)
            max_buf = buf;
        if (++n % 4 == 0) /* a slow reader now and then */
            ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    ck_assert_uint_eq(got, total);
    ck_assert_uint_eq(r->body_len, total);
    ck_assert(r->timings.total > 0);
    size_t buf;
    long pauses;
    asyncio__http_stream_stats(st, &buf, &pauses);
    ck_assert_msg(pauses > 0, "the transfer was never paused");
    ck_assert_msg(max_buf <= 4 * 32768 + 65536, "buffers grew to %zu bytes", max_buf);
    /* At the end: more reads say end again. */
    size_t k = 1;
    char tmp[16];
    ck_assert_int_eq(asyncio_http_stream_read(st, tmp, sizeof tmp, &k), 0);
    ck_assert_uint_eq(k, 0);
    asyncio_http_stream_close(st);

    /* read() with a small buffer over a chunked body. */
    req.url = U("/chunked/100001");
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    got = 0;
    for (;;) {
        char b[777];
        size_t m;
        ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &m), 0);
        if (!m)
            break;
        ck_assert(pattern_ok(b, m, got));
        got += m;
    }
    ck_assert_uint_eq(got, 100001);
    asyncio_http_stream_close(st);

    /* The stream opens before a slow body arrives; closing it unread
     * aborts the transfer. */
    req.url = U("/slowbody/200");
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_response(st)->status, 200);
    ck_assert_str_eq(
        asyncio_http_response_header(asyncio_http_stream_response(st), "content-length"), "10");
    char b[32];
    size_t m;
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &m), 0);
    ck_assert_uint_eq(m, 10);
    asyncio_http_stream_close(st);
    req.url = U("/bytes/10000000");
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &m), 0);
    asyncio_http_stream_close(st);
    /* A redirect is followed before the stream opens; a 404 opens. */
    req.url = U("/redirect/2");
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_response(st)->status, 200);
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &m), 0);
    ck_assert_uint_eq(m, 4);
    asyncio_http_stream_close(st);
    req.url = U("/status/404");
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_response(st)->status, 404);
    asyncio_http_stream_close(st);
    /* Reset mid-body: the bytes before it, then ClientError. */
    expect_cut_body(s, U("/reset"), CURLE_RECV_ERROR, "Connection reset by peer");
    /* The body cut short with the headers in the same read: the stream
     * still opens (the failure came after the headers), the reads give the
     * 1,000 bytes that came, then raise, as aiohttp's do. */
    expect_cut_body(s, U("/cutshort"), CURLE_PARTIAL_FILE, "bytes remaining to read");
    /* Reset before a byte of the response: the same error at open. */
    req.url = U("/resetearly");
    st = (void *)1;
    ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), ASYNCIO_EHTTP);
    ck_assert_ptr_null(st);
    assert_curl_error(CURLE_RECV_ERROR, "Connection reset by peer");
    asyncio_http_session_free(s);
    return NULL;
}

START_TEST(test_stream)
{
    run_with_server(stream_main);
}
END_TEST

/* ---------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------- */

/* Two loopback ports for nginx, below the kernel's ephemeral range: a
 * port taken from that range and released again may meanwhile become the
 * source port of someone's outgoing connection (benchmarks on a shared
 * machine make tens of thousands), and nginx could not bind it. */
static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void free_ports(int *ports, int n)
{
    int low = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &low) != 1)
            low = 32768;
        fclose(f);
    }
    if (low < 12000)
        low = 65535; /* an unusual range: take ports above 12000 */
    for (int i = 0; i < n; i++) {
        do
            ports[i] =
                10000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % (unsigned)(low - 10000));
        while (!port_bindable(ports[i]) || (i && ports[i] == ports[0]) ||
               (i > 1 && ports[i] == ports[1]));
    }
}

static int free_port(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t tcp;
    uv_tcp_init(&loop, &tcp);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ck_assert_int_eq(uv_tcp_bind(&tcp, (const struct sockaddr *)&addr, 0), 0);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&tcp, (struct sockaddr *)&got, &len);
    uv_close((uv_handle_t *)&tcp, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return ntohs(got.sin_port);
}

static void *errors_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r = (void *)1;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", free_port());
    ck_assert_int_eq(asyncio_http_get(NULL, url, &r), ASYNCIO_EHTTP);
    ck_assert_ptr_null(r);
    assert_raised(ASYNCIO_EHTTP, "ClientError");
    ck_assert_int_eq(asyncio_error()->detail, CURLE_COULDNT_CONNECT);
    ck_assert_msg(strstr(asyncio_error()->message, "127.0.0.1") != NULL, "%s",
                  asyncio_error()->message);
    ck_assert(asyncio_error_matches("Exception"));
    asyncio_error_clear();

    /* The error curl's own tool reports for each, its code and text. */
    ck_assert_int_eq(asyncio_http_get(NULL, U("/reset"), &r), ASYNCIO_EHTTP);
    assert_curl_error(CURLE_RECV_ERROR, "Connection reset by peer");
    ck_assert_int_eq(asyncio_http_get(NULL, U("/resetearly"), &r), ASYNCIO_EHTTP);
    assert_curl_error(CURLE_RECV_ERROR, "Connection reset by peer");
    ck_assert_int_eq(asyncio_http_get(NULL, U("/badlength"), &r), ASYNCIO_EHTTP);
    assert_curl_error(CURLE_WEIRD_SERVER_REPLY, "Content-Length");
    ck_assert_int_eq(asyncio_http_get(NULL, U("/loop"), &r), ASYNCIO_EHTTP);
    assert_curl_error(CURLE_TOO_MANY_REDIRECTS, "Maximum (10) redirects followed");

    /* Timeouts: TimeoutError with curl's code in detail. */
    asyncio_http_request_t req = {.url = U("/delay/3000"), .timeout = 0.1};
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_ETIMEDOUT);
    assert_raised(ASYNCIO_ETIMEDOUT, "TimeoutError");
    ck_assert_int_eq(asyncio_error()->detail, CURLE_OPERATION_TIMEDOUT);
    asyncio_error_clear();
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.timeout = 0.1;
    asyncio_http_session_t *s = asyncio_http_session_new(&o);
    ck_assert_int_eq(asyncio_http_get(s, U("/slowbody/3000"), &r), ASYNCIO_ETIMEDOUT);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_get(s, U("/slowheaders/3000"), &r), ASYNCIO_ETIMEDOUT);
    asyncio_error_clear();
    /* A request's own timeout wins over the session's. */
    req.url = U("/delay/300");
    req.timeout = 10;
    ck_assert_int_eq(asyncio_http_request(s, &req, &r), 0);
    ck_assert_str_eq(r->body, "late");
    asyncio_http_response_free(r);
    asyncio_http_session_free(s);

    /* A malformed URL is InvalidURL (a ValueError, as in aiohttp) before
     * anything starts, its message naming the URL and curl's reason
     * ("URL - why", aiohttp's form); the session is still usable. */
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"http://exa mple.com/", "Bad hostname"},    {"http://[::1", "Bad IPv6 address"},
        {"http:///path", "No host part in the URL"}, {"https://?q", "No host part in the URL"},
        {"http://127.0.0.1:99999/", "Port number"},  {"http://127.0.0.1/a b", "Bad path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = (void *)1;
        ck_assert_int_eq(asyncio_http_get(NULL, bad[i].url, &r), ASYNCIO_EVALUE);
        ck_assert_ptr_null(r);
        assert_raised(ASYNCIO_EVALUE, "InvalidURL");
        ck_assert(asyncio_error_matches("ValueError"));
        char want[128];
        snprintf(want, sizeof want, "%s - %s", bad[i].url, bad[i].why);
        ck_assert_msg(strncmp(asyncio_error()->message, want, strlen(want)) == 0, "message: %s",
                      asyncio_error()->message);
        asyncio_error_clear();
        asyncio_http_stream_t *st = (void *)1;
        asyncio_http_request_t sreq = {.url = bad[i].url};
        ck_assert_int_eq(asyncio_http_stream_open(NULL, &sreq, &st), ASYNCIO_EVALUE);
        ck_assert_ptr_null(st);
        ck_assert_ptr_nonnull(asyncio_catch("ValueError")); /* caught as a ValueError too */
        asyncio_error_clear();
    }
    /* A redirect to a bad URL is the server's failure, not the caller's:
     * ClientError with curl's code, as curl's tool reports it. */
    static const struct {
        const char *path;
        int code;
        const char *why;
    } bad_locations[] = {
        {"/to/ftp://127.0.0.1/x", 1 /* CURLE_UNSUPPORTED_PROTOCOL */, "Protocol \"ftp\""},
        {"/to/http://[::1", 3 /* CURLE_URL_MALFORMAT */, "Bad IPv6 address"},
        {"/to/http://127.0.0.1:99999/", 3, "Port number"},
    };
    for (size_t i = 0; i < sizeof bad_locations / sizeof bad_locations[0]; i++) {
        r = (void *)1;
        ck_assert_int_eq(asyncio_http_get(NULL, U(bad_locations[i].path), &r), ASYNCIO_EHTTP);
        ck_assert_ptr_null(r);
        assert_curl_error(bad_locations[i].code, bad_locations[i].why);
    }
    /* Upper-case scheme and host, IPv6 literal with port, query and
     * fragment: valid (the last fails to connect: nothing listens). */
    ck_assert_int_eq(asyncio_http_get(NULL, U("/hello?a=b#frag"), &r), 0);
    ck_assert_int_eq(r->status, 404); /* the test server knows no queries */
    asyncio_http_response_free(r);
    char up[128];
    snprintf(up, sizeof up, "HTTP://LOCALHOST:%d/hello", httpd_port(H));
    ck_assert_int_eq(asyncio_http_get(NULL, up, &r), 0);
    asyncio_http_response_free(r);
    ck_assert_int_eq(asyncio_http_get(NULL, "http://[::1]:1/x", &r), ASYNCIO_EHTTP);
    ck_assert_int_eq(asyncio_error()->detail, CURLE_COULDNT_CONNECT);
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_errors)
{
    run_with_server(errors_main);
}
END_TEST

static void *bad_input_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r = (void *)1;
    ck_assert_int_eq(asyncio_http_get(NULL, NULL, &r), ASYNCIO_EVALUE);
    ck_assert_ptr_null(r);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(tu_raised_message(), "url is NULL");
    asyncio_error_clear();
    /* An empty URL and an unsupported scheme are InvalidURL, as any
     * malformed URL. */
    r = (void *)1;
    ck_assert_int_eq(asyncio_http_get(NULL, "", &r), ASYNCIO_EVALUE);
    ck_assert_ptr_null(r);
    assert_raised(ASYNCIO_EVALUE, "InvalidURL");
    ck_assert_str_eq(tu_raised_message(), "url is empty");
    asyncio_error_clear();
    static const char *const bad_urls[] = {"ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1",
                                           "gopher://x", "httpx://a"};
    for (size_t i = 0; i < 5; i++) {
        r = (void *)1;
        ck_assert_int_eq(asyncio_http_get(NULL, bad_urls[i], &r), ASYNCIO_EVALUE);
        ck_assert_ptr_null(r);
        assert_raised(ASYNCIO_EVALUE, "InvalidURL");
        char want[128];
        snprintf(want, sizeof want, "%s - unsupported URL scheme", bad_urls[i]);
        ck_assert_msg(strncmp(tu_raised_message(), want, strlen(want)) == 0, "message: %s",
                      tu_raised_message());
        ck_assert_ptr_nonnull(asyncio_catch("ValueError"));
        asyncio_error_clear();
    }
    ck_assert_int_eq(asyncio_http_request(NULL, NULL, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_http_request_t req = {.url = U("/hello"), .method = ""};
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    req.method = "GE T";
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    req.method = NULL;
    const char *hdrs[] = {"NoColon", NULL};
    req.headers = hdrs;
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    const char *hdrs2[] = {"X: a\r\nY: b", NULL};
    req.headers = hdrs2;
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    req.headers = NULL;
    req.body = "x";
    req.body_len = 1;
    req.body_file = "/etc/hostname";
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    req.body = NULL;
    req.body_file = NULL;
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE); /* len, no body */
    asyncio_error_clear();
    req.body_len = 0;
    req.timeout = -1;
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    req.timeout = 0;
    req.discard_body = true;
    req.output_file = "/tmp/x";
    ck_assert_int_eq(asyncio_http_request(NULL, &req, &r), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_http_stream_t *st = (void *)1;
    req.output_file = NULL;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), ASYNCIO_EVALUE);
    ck_assert_ptr_null(st);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    size_t n;
    char b[4];
    ck_assert_int_eq(asyncio_http_stream_read(NULL, b, 4, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_stream_read_chunk(NULL, NULL, NULL), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_http_stream_response(NULL));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(tu_raised_message(), "the HTTP stream is NULL");
    asyncio_error_clear();
    asyncio_http_stream_close(NULL);
    ck_assert_ptr_null(asyncio_error());
    req.discard_body = false;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), 0);
    ck_assert_int_eq(asyncio_http_stream_read(st, NULL, 4, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_stream_read(st, b, 0, &n), ASYNCIO_EVALUE);
    asyncio_error_clear();
    asyncio_http_stream_close(st);

    /* Session options. */
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.timeout = -1;
    ck_assert_ptr_null(asyncio_http_session_new(&o));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    o.timeout = 0.0 / 0.0;
    ck_assert_ptr_null(asyncio_http_session_new(&o));
    asyncio_error_clear();
    o.timeout = 0;
    o.max_connections = -1;
    ck_assert_ptr_null(asyncio_http_session_new(&o));
    asyncio_error_clear();
    o.max_connections = 0;
    o.http_version = 12;
    ck_assert_ptr_null(asyncio_http_session_new(&o));
    asyncio_error_clear();
    o.http_version = 0;
    o.headers = hdrs;
    ck_assert_ptr_null(asyncio_http_session_new(&o));
    asyncio_error_clear();
    /* The default session is the loop's. */
    asyncio_http_session_t *d = asyncio_http_session_default();
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_eq(asyncio_http_session_default(), d);
    asyncio_http_session_free(d);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_get(d, U("/hello"), &r), 0);
    asyncio_http_response_free(r);
    return NULL;
}

START_TEST(test_bad_input)
{
    run_with_server(bad_input_main);
    /* Outside a task: RuntimeError, out-parameters cleared; outside a
     * loop, no session. */
    asyncio_http_response_t *r = (void *)1;
    ck_assert_int_eq(asyncio_http_get(NULL, "http://127.0.0.1/", &r), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    asyncio_error_clear();
    asyncio_http_request_t out = {.url = "http://127.0.0.1/"};
    r = (void *)1;
    ck_assert_int_eq(asyncio_http_request(NULL, &out, &r), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(r);
    asyncio_error_clear();
    asyncio_http_stream_t *st = (void *)1;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &out, &st), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(st);
    asyncio_error_clear();
    size_t n = 123;
    char b[4];
    ck_assert_int_eq(asyncio_http_stream_read((void *)1, b, sizeof b, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    asyncio_error_clear();
    ck_assert_ptr_null(asyncio_http_session_new(NULL));
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(tu_raised_message(), "no current event loop");
    asyncio_error_clear();
    asyncio_loop_t *loop = asyncio_loop_new();
    asyncio_http_session_t *s = asyncio_http_session_new(NULL);
    ck_assert_ptr_nonnull(s);
    asyncio_http_request_t req = {.url = "http://127.0.0.1/"};
    ck_assert_int_eq(asyncio_http_request(s, &req, &r), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_http_session_free(s);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
}
END_TEST

/* ---------------------------------------------------------------------
 * Cancellation, session free and loop close with transfers in flight
 * --------------------------------------------------------------------- */

static void *get_anything(void *arg)
{
    asyncio_http_response_t *r = NULL;
    int rc = asyncio_http_get(S, arg, &r);
    if (rc == 0) {
        /* Finished before the cancel came: fine. */
        asyncio_http_response_free(r);
    }
    return NULL;
}

static void *stream_anything(void *arg)
{
    asyncio_http_stream_t *st;
    asyncio_http_request_t req = {.url = arg};
    if (asyncio_http_stream_open(S, &req, &st))
        return NULL;
    char b[4096];
    size_t n;
    while (asyncio_http_stream_read(st, b, sizeof b, &n) == 0 && n)
        ;
    asyncio_http_stream_close(st);
    return NULL;
}

static void *cancel_main(void *arg)
{
    (void)arg;
    srand(12345);
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.max_host_connections = 16;
    S = asyncio_http_session_new(&o);
    static const char *const paths[] = {"/hello",         "/bytes/200000", "/delay/20",
                                        "/chunked/50000", "/slowbody/10",  "/redirect/2"};
    long total = tu_scaled(10000);
    enum { BATCH = 100 };
    long cancelled = 0;
    for (long done = 0; done < total; done += BATCH) {
        asyncio_future_t *ts[BATCH];
        for (int i = 0; i < BATCH; i++)
            ts[i] =
                tu_spawn(i % 5 == 4 ? stream_anything : get_anything, (void *)U(paths[rand() % 6]));
        for (int i = 0; i < BATCH; i++) {
            int waits = rand() % 4;
            for (int k = 0; k < waits; k++)
                tu_yield();
            if (rand() % 8 == 0)
                ck_assert_int_eq(asyncio_sleep(0.001), 0);
            cancelled += asyncio_cancel(ts[i], NULL);
        }
        tu_gather_drop(ts, BATCH);
    }
    ck_assert_int_gt(cancelled, 0);
    /* The session still works after all that. */
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(S, U("/hello"), &r), 0);
    ck_assert_str_eq(r->body, "hello world");
    asyncio_http_response_free(r);
    asyncio_http_session_free(S);
    S = NULL;
    return NULL;
}

START_TEST(test_cancel_random)
{
    run_with_server(cancel_main);
}
END_TEST

static void *wait_session_closed(void *arg)
{
    asyncio_http_response_t *r;
    int rc = asyncio_http_get(S, arg, &r);
    ck_assert_int_eq(rc, ASYNCIO_EHTTP);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(tu_raised_message(), "session closed");
    asyncio_error_clear();
    return IP(1);
}

static void *session_free_main(void *arg)
{
    (void)arg;
    S = asyncio_http_session_new(NULL);
    /* Nothing here can finish before the free, however slow the machine
     * (valgrind): 5 s delays once did, and a 100 MB GET could. */
    asyncio_future_t *ts[3] = {tu_spawn(wait_session_closed, (void *)U("/delay/600000")),
                               tu_spawn(wait_session_closed, (void *)U("/slowbody/600000")),
                               tu_spawn(wait_session_closed, (void *)U("/slowheaders/600000"))};
    asyncio_http_stream_t *st;
    asyncio_http_request_t req = {.url = U("/bytes/100000000")};
    ck_assert_int_eq(asyncio_http_stream_open(S, &req, &st), 0);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    asyncio_http_session_free(S);
    void *res[3];
    ck_assert_int_eq(asyncio_gather(ts, 3, res, 0), 0);
    tu_decref_all(ts, 3);
    char b[100];
    size_t n;
    int rc;
    while ((rc = asyncio_http_stream_read(st, b, sizeof b, &n)) == 0 && n)
        ;
    ck_assert_int_eq(rc, ASYNCIO_EHTTP);
    ck_assert_str_eq(tu_raised_message(), "session closed");
    asyncio_error_clear();
    asyncio_http_stream_close(st);
    return NULL;
}

START_TEST(test_session_free_in_flight)
{
    run_with_server(session_free_main);
}
END_TEST

static asyncio_http_stream_t *LEFT_OPEN;

static void *hang(void *arg)
{
    asyncio_http_response_t *r;
    asyncio_http_get(arg == IP(1) ? NULL : S, U("/delay/10000"), &r);
    return NULL;
}

static void *open_and_leave(void *arg)
{
    (void)arg;
    asyncio_http_request_t req = {.url = U("/bytes/100000000")};
    ck_assert_int_eq(asyncio_http_stream_open(S, &req, &LEFT_OPEN), 0);
    return NULL;
}

static void *use_dead_session(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(S, U("/hello"), &r), ASYNCIO_ERUNTIME);
    ck_assert_ptr_nonnull(strstr(tu_raised_message(), "closed"));
    asyncio_error_clear();
    /* A session of this loop works, and may outlive it. */
    asyncio_http_session_t *mine = asyncio_http_session_new(NULL);
    ck_assert_int_eq(asyncio_http_get(mine, U("/hello"), &r), 0);
    asyncio_http_response_free(r);
    return mine; /* freed by the test, once this loop is closed */
}

START_TEST(test_loop_close_in_flight)
{
    H = httpd_start();
    asyncio_loop_t *loop = asyncio_loop_new();
    S = asyncio_http_session_new(NULL);
    asyncio_future_t *ts[4] = {asyncio_create_task(hang, IP(0)), asyncio_create_task(hang, IP(1)),
                               asyncio_create_task(hang, IP(0)),
                               asyncio_create_task(open_and_leave, NULL)};
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, ts[3], NULL), 0);
    long easy, polls;
    asyncio__http_counts(&easy, &polls);
    ck_assert_int_ge(easy, 4);
    ck_assert_int_ge(polls, 1);
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_error_clear();
    tu_decref_all(ts, 4);
    /* The loop is gone: the session and the stream only have memory.  A
     * dead session is refused by a new loop. */
    asyncio_http_stream_close(LEFT_OPEN);
    void *mine = NULL;
    ck_assert_int_eq(tu_run(use_dead_session, NULL, &mine), 0);
    ck_assert_ptr_nonnull(mine);
    asyncio_http_session_free(mine); /* its loop is closed: memory only */
    asyncio_http_session_free(S);
    assert_counts_zero();
    httpd_stop(H);
}
END_TEST

/* ---------------------------------------------------------------------
 * Allocation failures
 * --------------------------------------------------------------------- */

static void *chaos_main(void *arg)
{
    (void)arg;
    /* Fail the 1st, 2nd, ... allocation of a session and a request in turn
     * until they go through; every failure must be clean. */
    for (long nth = 1;; nth++) {
        tu_alloc_fail_at(nth);
        asyncio_http_session_t *s = asyncio_http_session_new(NULL);
        asyncio_http_response_t *r = NULL;
        int rc = s ? asyncio_http_get(s, U("/hello"), &r) : -1;
        tu_alloc_fail_at(0);
        if (!s || rc) {
            ck_assert(asyncio_error() != NULL);
            asyncio_error_clear();
            asyncio_http_session_free(s);
            continue;
        }
        ck_assert_str_eq(r->body, "hello world");
        asyncio_http_response_free(r);
        asyncio_http_session_free(s);
        ck_assert_int_gt(nth, 3);
        break;
    }
    return NULL;
}

START_TEST(test_alloc_failure)
{
    run_with_server(chaos_main);
}
END_TEST

/* ---------------------------------------------------------------------
 * The API's rules: handles, out-parameters, bytes, messages
 * --------------------------------------------------------------------- */

/* The raised error has a message, and it names no C function; clears
 * it. */
static void assert_clean_message(void)
{
    const char *m = tu_raised_message();
    ck_assert_msg(*m && !strstr(m, "asyncio_") && !strstr(m, "curl_"), "message: '%s'", m);
    asyncio_error_clear();
}

static void *stream_handles_main(void *arg)
{
    (void)arg;
    asyncio_http_request_t req = {.url = U("/hello")};
    asyncio_http_stream_t *st;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), 0);
    asyncio_http_stream_close(st);
    ck_assert_ptr_null(asyncio_error());

    /* Closed twice: refused without touching the freed stream. */
    asyncio_http_stream_close(st);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    ck_assert_str_eq(tu_raised_message(), "not a live HTTP stream (freed, or never one)");
    asyncio_error_clear();
    /* Used after the close: every call refuses, out-parameters cleared. */
    char b[16];
    size_t n = 123;
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "not a live HTTP stream (freed, or never one)");
    asyncio_error_clear();
    const void *data = (void *)1;
    size_t len = 123;
    ck_assert_int_eq(asyncio_http_stream_read_chunk(st, &data, &len), ASYNCIO_EVALUE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    assert_clean_message();
    ck_assert_ptr_null(asyncio_http_stream_response(st));
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();

    /* Streams opened after the close, whatever memory or slot they get,
     * are never reached through the stale handle. */
    for (int i = 0; i < 8; i++) {
        asyncio_http_stream_t *st2;
        ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st2), 0);
        ck_assert_ptr_ne(st2, st);
        ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &n), ASYNCIO_EVALUE);
        asyncio_error_clear();
        asyncio_http_stream_close(st);
        asyncio_error_clear();
        ck_assert_ptr_null(asyncio_http_stream_response(st));
        asyncio_error_clear();
        ck_assert_int_eq(asyncio_http_stream_read(st2, b, sizeof b, &n), 0);
        ck_assert_uint_eq(n, 11);
        ck_assert_str_eq(b, "hello world");
        asyncio_http_stream_close(st2);
        ck_assert_ptr_null(asyncio_error());
    }

    /* Not a stream: a session's handle is refused, the session untouched. */
    asyncio_http_session_t *s = asyncio_http_session_new(NULL);
    asyncio_http_stream_close((asyncio_http_stream_t *)s);
    assert_raised(ASYNCIO_EVALUE, "ValueError");
    asyncio_error_clear();
    asyncio_http_response_t *r = NULL;
    ck_assert_int_eq(asyncio_http_get(s, U("/hello"), &r), 0);
    asyncio_http_response_free(r);

    /* Sessions: freed twice, used after the free, never reaching a
     * session made after it (RuntimeError, as documented). */
    asyncio_http_session_free(s);
    ck_assert_ptr_null(asyncio_error());
    asyncio_http_session_free(s);
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    ck_assert_str_eq(tu_raised_message(), "not a live HTTP session (freed, or never one)");
    asyncio_error_clear();
    for (int i = 0; i < 4; i++) {
        asyncio_http_session_t *s2 = asyncio_http_session_new(NULL);
        ck_assert_ptr_ne(s2, s);
        r = (void *)1;
        ck_assert_int_eq(asyncio_http_get(s, U("/hello"), &r), ASYNCIO_ERUNTIME);
        ck_assert_ptr_null(r);
        assert_clean_message();
        st = (void *)1;
        ck_assert_int_eq(asyncio_http_stream_open(s, &req, &st), ASYNCIO_ERUNTIME);
        ck_assert_ptr_null(st);
        assert_clean_message();
        asyncio_http_session_free(s);
        asyncio_error_clear();
        ck_assert_int_eq(asyncio_http_get(s2, U("/hello"), &r), 0);
        ck_assert_str_eq(r->body, "hello world");
        asyncio_http_response_free(r);
        asyncio_http_session_free(s2);
        ck_assert_ptr_null(asyncio_error());
    }
    return NULL;
}

START_TEST(test_stream_handles)
{
    run_with_server(stream_handles_main);
}
END_TEST

static void *read_slowly(void *arg)
{
    char b[32];
    size_t n;
    ck_assert_int_eq(asyncio_http_stream_read(arg, b, sizeof b, &n), 0);
    ck_assert_uint_eq(n, 10);
    return NULL;
}

/* Every call with an out-parameter, made to fail each way it can: the
 * out-parameter comes back NULL or 0, and the message is clean. */
static void *out_params_main(void *arg)
{
    (void)arg;
    asyncio_http_response_t *r;
    asyncio_http_stream_t *st;
    asyncio_http_request_t ftp = {.url = "ftp://127.0.0.1/"};
    asyncio_http_request_t out_file = {.url = U("/hello"), .output_file = "/nonexistent/x"};
    asyncio_http_request_t refused = {.url = "http://127.0.0.1:1/"};
    const asyncio_http_request_t *const failing[] = {NULL, &ftp, &out_file, &refused};
    for (size_t i = 0; i < 4; i++) {
        r = (void *)1;
        ck_assert_int_lt(asyncio_http_request(NULL, failing[i], &r), 0);
        ck_assert_ptr_null(r);
        assert_clean_message();
        if (failing[i] == &out_file)
            continue; /* streams refuse output_file before opening it */
        st = (void *)1;
        ck_assert_int_lt(asyncio_http_stream_open(NULL, failing[i], &st), 0);
        ck_assert_ptr_null(st);
        assert_clean_message();
    }
    static const char *const urls[] = {NULL, "", "http://[::1", "http://127.0.0.1:1/"};
    for (size_t i = 0; i < 4; i++) {
        r = (void *)1;
        ck_assert_int_lt(asyncio_http_get(NULL, urls[i], &r), 0);
        ck_assert_ptr_null(r);
        assert_clean_message();
    }
    asyncio_http_request_t disc = {.url = U("/hello"), .discard_body = true};
    st = (void *)1;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &disc, &st), ASYNCIO_EVALUE);
    ck_assert_ptr_null(st);
    assert_clean_message();

    /* Reads: bad arguments, a failed transfer, another reader. */
    char b[16];
    size_t n = 123;
    const void *data = (void *)1;
    size_t len = 123;
    ck_assert_int_eq(asyncio_http_stream_read(NULL, b, sizeof b, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "the HTTP stream is NULL");
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_http_stream_read_chunk(NULL, &data, &len), ASYNCIO_EVALUE);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    assert_clean_message();
    asyncio_http_request_t slow = {.url = U("/slowbody/200")};
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &slow, &st), 0);
    n = 123;
    ck_assert_int_eq(asyncio_http_stream_read(st, NULL, 4, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "buf is NULL");
    asyncio_error_clear();
    n = 123;
    ck_assert_int_eq(asyncio_http_stream_read(st, b, 0, &n), ASYNCIO_EVALUE);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "cap is 0");
    asyncio_error_clear();
    asyncio_future_t *reader = tu_spawn(read_slowly, st);
    tu_yield();
    n = 123;
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &n), ASYNCIO_ERUNTIME);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tu_raised_message(), "StreamReader.read() called while another coroutine "
                                          "is already waiting for incoming data");
    asyncio_error_clear();
    data = (void *)1;
    len = 123;
    ck_assert_int_eq(asyncio_http_stream_read_chunk(st, &data, &len), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    assert_clean_message();
    asyncio_http_stream_close(st); /* refused while read */
    assert_raised(ASYNCIO_ERUNTIME, "RuntimeError");
    assert_clean_message();
    ck_assert_int_eq(asyncio_await(reader, NULL), 0);
    asyncio_decref(reader);
    asyncio_http_stream_close(st);
    asyncio_http_request_t reset = {.url = U("/reset")};
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &reset, &st), 0);
    int rc;
    while ((rc = asyncio_http_stream_read_chunk(st, &data, &len)) == 0 && len)
        ;
    ck_assert_int_eq(rc, ASYNCIO_EHTTP);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);
    assert_clean_message();
    n = 123;
    ck_assert_int_eq(asyncio_http_stream_read(st, b, sizeof b, &n), ASYNCIO_EHTTP);
    ck_assert_uint_eq(n, 0);
    assert_clean_message();
    asyncio_http_stream_close(st);
    return NULL;
}

START_TEST(test_out_params)
{
    run_with_server(out_params_main);
}
END_TEST

/* Byte results: what read() stores is NUL-terminated when there is room
 * (the buffers come from malloc, uninitialised: valgrind would see a
 * strlen run past the bytes), a chunk and every response body have a NUL
 * after their length, empty ones too. */
static void *bytes_main(void *arg)
{
    (void)arg;
    asyncio_http_request_t req = {.url = U("/hello")};
    asyncio_http_stream_t *st;
    size_t n;
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), 0);
    char *buf = malloc(64);
    ck_assert_int_eq(asyncio_http_stream_read(st, buf, 64, &n), 0);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_eq(strlen(buf), 11);
    ck_assert_str_eq(buf, "hello world");
    free(buf);
    buf = malloc(8);
    ck_assert_int_eq(asyncio_http_stream_read(st, buf, 8, &n), 0); /* the end */
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(buf, "");
    free(buf);
    asyncio_http_stream_close(st);
    /* n == cap: no room, nothing stored past cap (ASan); the rest, with
     * room, terminated. */
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), 0);
    buf = malloc(5);
    ck_assert_int_eq(asyncio_http_stream_read(st, buf, 5, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    free(buf);
    buf = malloc(32);
    ck_assert_int_eq(asyncio_http_stream_read(st, buf, 32, &n), 0);
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(buf, " world");
    free(buf);
    asyncio_http_stream_close(st);
    /* Chunks: a NUL after each. */
    req.url = U("/chunked/100001");
    ck_assert_int_eq(asyncio_http_stream_open(NULL, &req, &st), 0);
    uint64_t got = 0;
    for (;;) {
        const void *data;
        size_t len;
        ck_assert_int_eq(asyncio_http_stream_read_chunk(st, &data, &len), 0);
        if (!len)
            break;
        ck_assert_uint_eq(strlen(data), len);
        ck_assert(pattern_ok(data, len, got));
        got += len;
    }
    ck_assert_uint_eq(got, 100001);
    asyncio_http_stream_close(st);

    /* Bodies, empty ones included (with a length, chunked, HEAD). */
    static const char *const empty[] = {"/bytes/0", "/chunked/0"};
    asyncio_http_response_t *r;
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(asyncio_http_get(NULL, U(empty[i]), &r), 0);
        ck_assert_ptr_nonnull(r->body);
        ck_assert_uint_eq(r->body_len, 0);
        ck_assert_str_eq(r->body, "");
        asyncio_http_response_free(r);
    }
    asyncio_http_request_t head = {.method = "HEAD", .url = U("/hello")};
    ck_assert_int_eq(asyncio_http_request(NULL, &head, &r), 0);
    ck_assert_ptr_nonnull(r->body);
    ck_assert_uint_eq(r->body_len, 0);
    ck_assert_str_eq(r->body, "");
    asyncio_http_response_free(r);
    /* A body in a buffer reused from an earlier one (the loop's body
     * cache: it holds the old bytes), with and without a length. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(asyncio_http_get(NULL, U(i ? "/chunked/17001" : "/bytes/20000"), &r), 0);
        ck_assert_uint_eq(strlen(r->body), r->body_len);
        ck_assert_uint_eq(r->body_len, i ? 17001 : 20000);
        asyncio_http_response_free(r);
    }
    /* A body written to a file, or discarded, is not in memory: body is
     * NULL and body_len counts it, an empty one too. */
    char path[] = "/tmp/casyncio-http-body-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    static const char *const to_file[] = {"/bytes/0", "/bytes/1234"};
    for (size_t i = 0; i < 2; i++) {
        asyncio_http_request_t save = {.url = U(to_file[i]), .output_file = path};
        ck_assert_int_eq(asyncio_http_request(NULL, &save, &r), 0);
        ck_assert_ptr_null(r->body);
        ck_assert_uint_eq(r->body_len, i ? 1234 : 0);
        asyncio_http_response_free(r);
        struct stat sb;
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert_int_eq(sb.st_size, i ? 1234 : 0);
        asyncio_http_request_t drop = {.url = U(to_file[i]), .discard_body = true};
        ck_assert_int_eq(asyncio_http_request(NULL, &drop, &r), 0);
        ck_assert_ptr_null(r->body);
        ck_assert_uint_eq(r->body_len, i ? 1234 : 0);
        asyncio_http_response_free(r);
    }
    unlink(path);
    return NULL;
}

START_TEST(test_bytes)
{
    run_with_server(bytes_main);
}
END_TEST

/* ---------------------------------------------------------------------
 * Interop with nginx
 * --------------------------------------------------------------------- */

#define NGINX "/usr/sbin/nginx"

static char NGX_DIR[64];
static pid_t NGX_PID;
static int NGX_PORT, NGX_H2_PORT, NGX_TLS_PORT;

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Starts nginx on a free loopback port with files 1k and 100k in its root;
 * false (after saying so) when nginx is not installed. */
static bool nginx_start(void)
{
    if (access(NGINX, X_OK) != 0) {
        fprintf(stderr,
                "\n*** http: %s is not installed: nginx interop tests SKIPPED "
                "(apt-get install nginx-light) ***\n\n",
                NGINX);
        return false;
    }
    snprintf(NGX_DIR, sizeof NGX_DIR, "/tmp/casyncio-nginx-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(NGX_DIR));
    char path[256];
    snprintf(path, sizeof path, "%s/www", NGX_DIR);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/www/1k", NGX_DIR);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 1024; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    /* A certificate for 127.0.0.1, made here (the CA file of the TLS test). */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/cert.pem "
             "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
             NGX_DIR, NGX_DIR);
    ck_assert_msg(system(cmd) == 0, "openssl could not make a test certificate");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int attempt = 0; attempt < 5; attempt++) {
        int ports[3];
        free_ports(ports, 3);
        NGX_PORT = ports[0];
        NGX_H2_PORT = ports[1];
        NGX_TLS_PORT = ports[2];
        snprintf(path, sizeof path, "%s/nginx.conf", NGX_DIR);
        f = fopen(path, "w");
        fprintf(f,
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
                "error_log %s/error.log;\nevents { worker_connections 1024; }\n"
                "http {\n access_log off;\n client_body_temp_path %s;\n proxy_temp_path %s;\n"
                " fastcgi_temp_path %s;\n uwsgi_temp_path %s;\n scgi_temp_path %s;\n"
                " keepalive_requests 100000;\n"
                " server { listen 127.0.0.1:%d; root %s/www; }\n"
                " server { listen 127.0.0.1:%d http2; root %s/www; }\n"
                " server { listen 127.0.0.1:%d ssl http2; root %s/www;\n"
                "  ssl_certificate %s/cert.pem; ssl_certificate_key %s/key.pem; }\n}\n",
                NGX_DIR, NGX_DIR, NGX_DIR, NGX_DIR, NGX_DIR, NGX_DIR, NGX_DIR, NGX_PORT, NGX_DIR,
                NGX_H2_PORT, NGX_DIR, NGX_TLS_PORT, NGX_DIR, NGX_DIR, NGX_DIR);
        fclose(f);
        NGX_PID = fork();
        if (NGX_PID == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* a failed test must not leave it running */
            char prefix[80];
            snprintf(prefix, sizeof prefix, "%s/", NGX_DIR);
            execl(NGINX, "nginx", "-p", prefix, "-c", path, "-e", "stderr", (char *)NULL);
            _exit(127);
        }
        for (int i = 0;
             i < 500 && !(port_open(NGX_PORT) && port_open(NGX_H2_PORT) && port_open(NGX_TLS_PORT));
             i++) {
            if (waitpid(NGX_PID, NULL, WNOHANG) == NGX_PID) {
                NGX_PID = -1;
                break;
            }
            usleep(10000);
        }
        if (NGX_PID > 0)
            break; /* up; else it could not bind: other ports */
    }
    ck_assert_msg(NGX_PID > 0 && port_open(NGX_PORT) && port_open(NGX_H2_PORT),
                  "nginx did not start (see %s/error.log)", NGX_DIR);
    return true;
}

static void nginx_stop(void)
{
    kill(NGX_PID, SIGTERM);
    waitpid(NGX_PID, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", NGX_DIR);
    ck_assert_int_eq(system(cmd), 0);
}

static char NGX_URL[128];

static void *ngx_get(void *arg)
{
    asyncio_http_response_t *r;
    int rc = asyncio_http_get(S, NGX_URL, &r);
    ck_assert_msg(rc == 0, "%s: %s (%d)", NGX_URL, tu_raised_message(),
                  asyncio_error() ? asyncio_error()->detail : 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->body_len, 1024);
    ck_assert(pattern_ok(r->body, 1024, 0));
    long *stats = arg;
    stats[0] += r->connects;
    stats[1] += r->http_version;
    asyncio_http_response_free(r);
    return NULL;
}

static void *nginx_main(void *arg)
{
    (void)arg;
    long stats[2] = {0, 0};
    /* HTTP/1.1 keep-alive: one connection for requests one after another. */
    S = asyncio_http_session_new(NULL);
    snprintf(NGX_URL, sizeof NGX_URL, "http://127.0.0.1:%d/1k", NGX_PORT);
    for (int i = 0; i < 50; i++)
        ngx_get(stats);
    ck_assert_int_eq(stats[0], 1);
    ck_assert_int_eq(stats[1], 50 * 11);
    asyncio_http_session_free(S);

    /* h2c with prior knowledge: 10 requests one after the other, then 10
     * at once, on one session.  libcurl before 8.0 breaks the reuse of a
     * prior-knowledge connection (curl issue 10634): the session then
     * gives each transfer a connection of its own; from 8.0 on, one
     * connection serves them all.  Multiplexing is checked over TLS too,
     * below. */
    bool old_curl = strncmp(curl_version(), "libcurl/", 8) == 0 && atoi(curl_version() + 8) < 8;
    asyncio_http_opts_t o = ASYNCIO_HTTP_OPTS_INIT;
    o.http_version = ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    S = asyncio_http_session_new(&o);
    snprintf(NGX_URL, sizeof NGX_URL, "http://127.0.0.1:%d/1k", NGX_H2_PORT);
    stats[0] = stats[1] = 0;
    for (int i = 0; i < 10; i++)
        ngx_get(stats);
    ck_assert_int_eq(stats[1], 10 * 20);
    ck_assert_int_eq(stats[0], old_curl ? 10 : 1);
    {
        asyncio_future_t *hs[10];
        for (int i = 0; i < 10; i++)
            hs[i] = tu_spawn(ngx_get, stats);
        ck_assert_int_eq(asyncio_gather(hs, 10, NULL, 0), 0);
        tu_decref_all(hs, 10);
    }
    ck_assert_int_eq(stats[1], 20 * 20);
    asyncio_http_session_free(S);

    /* TLS is verified by default: nginx's certificate is self-made. */
    snprintf(NGX_URL, sizeof NGX_URL, "https://127.0.0.1:%d/1k", NGX_TLS_PORT);
    asyncio_http_response_t *r;
    ck_assert_int_eq(asyncio_http_get(NULL, NGX_URL, &r), ASYNCIO_EHTTP);
    ck_assert_int_eq(asyncio_error()->detail, 60); /* CURLE_PEER_FAILED_VERIFICATION */
    asyncio_error_clear();
    o = (asyncio_http_opts_t)ASYNCIO_HTTP_OPTS_INIT;
    o.insecure = true;
    S = asyncio_http_session_new(&o);
    ck_assert_int_eq(asyncio_http_get(S, NGX_URL, &r), 0);
    ck_assert_int_eq(r->http_version, 20);
    ck_assert(r->timings.appconnect > 0);
    asyncio_http_response_free(r);
    asyncio_http_session_free(S);

    /* HTTP/2 over TLS (ALPN), trusting the certificate through ca_file:
     * 50 transfers at once multiplexed over one connection. */
    char ca[128];
    snprintf(ca, sizeof ca, "%s/cert.pem", NGX_DIR);
    o = (asyncio_http_opts_t)ASYNCIO_HTTP_OPTS_INIT;
    o.ca_file = ca;
    o.http_version = ASYNCIO_HTTP_VERSION_2;
    S = asyncio_http_session_new(&o);
    stats[0] = stats[1] = 0;
    enum { N = 50 };
    asyncio_future_t *ts[N];
    for (int i = 0; i < N; i++)
        ts[i] = tu_spawn(ngx_get, stats);
    ck_assert_int_eq(asyncio_gather(ts, N, NULL, 0), 0);
    tu_decref_all(ts, N);
    ck_assert_int_eq(stats[0], 1);
    ck_assert_int_eq(stats[1], N * 20);
    asyncio_http_session_free(S);
    return NULL;
}

START_TEST(test_nginx_interop)
{
    if (!nginx_start())
        return;
    tu_run_ok(nginx_main, NULL);
    nginx_stop();
    assert_counts_zero();
}
END_TEST

/* The loop's default session and body cache belong to the loop, not to
 * the thread: a loop run by one thread and closed by another, then a new
 * loop in the first thread using HTTP again (they were the first
 * thread's, left pointing at freed memory).  The thread asserts nothing
 * itself (Check's asserts belong to the test's thread): it counts. */
typedef struct cross {
    asyncio_loop_t *loop;
    pthread_barrier_t closed;
    int ok;
} cross_t;

static void *get_twice_default(void *arg)
{
    cross_t *c = arg;
    for (int i = 0; i < 2; i++) {
        asyncio_http_response_t *r = NULL;
        if (asyncio_http_get(NULL, U("/bytes/40000"), &r) == 0 && r->status == 200 &&
            r->body_len == 40000)
            c->ok++;
        asyncio_http_response_free(r); /* its buffer goes to the loop's cache */
    }
    return NULL;
}

static void run_one(cross_t *c)
{
    asyncio_future_t *t = asyncio_create_task(get_twice_default, c);
    if (t)
        asyncio_loop_run_until_complete(c->loop, t, NULL);
    asyncio_decref(t);
}

static void *cross_thread(void *arg)
{
    cross_t *c = arg;
    if (!(c->loop = asyncio_loop_new()))
        return NULL;
    run_one(c);
    pthread_barrier_wait(&c->closed); /* the test's thread closes the loop */
    pthread_barrier_wait(&c->closed);
    if (!(c->loop = asyncio_loop_new()))
        return NULL;
    run_one(c);
    asyncio_loop_close(c->loop);
    return NULL;
}

START_TEST(test_loop_closed_by_another_thread)
{
    H = httpd_start();
    cross_t c = {0};
    pthread_barrier_init(&c.closed, NULL, 2);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cross_thread, &c), 0);
    pthread_barrier_wait(&c.closed);
    ck_assert_ptr_nonnull(c.loop);
    ck_assert_int_eq(asyncio_loop_close(c.loop), 0);
    pthread_barrier_wait(&c.closed);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&c.closed);
    httpd_stop(H);
    ck_assert_int_eq(c.ok, 4);
    assert_counts_zero();
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("basic");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_get);
    tcase_add_test(tc, test_post_and_methods);
    tcase_add_test(tc, test_headers);
    tcase_add_test(tc, test_status_is_a_response);
    tcase_add_test(tc, test_redirects);
    tcase_add_test(tc, test_chunked_and_big);
    tcase_add_test(tc, test_concurrent);
    tcase_add_test(tc, test_connection_reuse);
    tcase_add_test(tc, test_server_closes_each_response);
    tcase_add_test(tc, test_server_closes_after_redirects);
    tcase_add_test(tc, test_body_reuse);
    tcase_add_test(tc, test_upload_and_files);
    tcase_add_test(tc, test_loops_in_threads);
    tcase_add_test(tc, test_loop_closed_by_another_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_stream);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_alloc_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("cancel");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cancel_random);
    tcase_add_test(tc, test_session_free_in_flight);
    tcase_add_test(tc, test_loop_close_in_flight);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_handles);
    tcase_add_test(tc, test_out_params);
    tcase_add_test(tc, test_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("nginx");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_nginx_interop);
    suite_add_tcase(s, tc);
    return s;
}
