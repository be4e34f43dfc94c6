/*
 * The loop's level under the streams: transports and protocols
 * (create_connection, create_server with callbacks; write, writelines,
 * write_eof, water marks, pause and resume, close and abort, callbacks
 * that close their own connection or raise) and DNS (getaddrinfo,
 * getnameinfo, cancelled lookups).
 *
 * Servers bind 127.0.0.1 on a free port (port 0) and are closed by the
 * test.
 */
#include "testutil.h"
#include "netutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h> /* libuv's error codes */

#include "../src/testing.h" /* asyncio__handle_count */

/* ---------------------------------------------------------------------
 * Transports and protocols.
 * --------------------------------------------------------------------- */

typedef struct pstate {
    tu_log_t *log;
    const char *name;
    size_t received;
    int pauses, resumes;
    bool eof, lost;
} pstate_t;

static void p_made(asyncio_transport_t *t, void *user)
{
    pstate_t *ps = user;
    if (!ps) { /* a server connection: its own state */
        ps = calloc(1, sizeof *ps);
        ps->name = "srv";
        asyncio_transport_set_user(t, ps);
    }
    LOGF("%s:made ", ps->name);
}

static void p_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    pstate_t *ps = user;
    ps->received += len;
    if (strcmp(ps->name, "srv") == 0)
        ck_assert_int_eq(asyncio_transport_write(t, data, len), 0); /* echo */
}

static bool p_eof(asyncio_transport_t *t, void *user)
{
    pstate_t *ps = user;
    LOGF("%s:eof(%zu) ", ps->name, ps->received);
    ps->eof = true;
    if (strcmp(ps->name, "srv") == 0) {
        ck_assert_int_eq(asyncio_transport_write(t, "bye", 3), 0);
        return false; /* close */
    }
    return true; /* the client stays half-open */
}

static void p_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    pstate_t *ps = user;
    LOGF("%s:lost(%s) ", ps->name, exc ? exc->type : "None");
    ps->lost = true;
    if (strcmp(ps->name, "srv") == 0)
        free(ps);
}

static void p_pause(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((pstate_t *)user)->pauses++;
}

static void p_resume(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((pstate_t *)user)->resumes++;
}

static const asyncio_protocol_t ECHO_PROTO = {p_made, p_data, p_eof, p_lost, p_pause, p_resume};

static void *protocol_main(void *arg)
{
    (void)arg;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&ECHO_PROTO, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    pstate_t cli = {.name = "cli"};
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&ECHO_PROTO, &cli, "127.0.0.1", server_port(srv), NULL, &t), 0);
    ck_assert_ptr_eq(asyncio_transport_get_user(t), &cli);
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_transport_peername(t, &a), 0);
    ck_assert_int_eq(asyncio_transport_sockname(t, &a), 0);
    /* Python's defaults: high = 4 * low. */
    size_t high, low;
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(t, 0, 100), 0);
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 400);
    ck_assert_uint_eq(low, 100);
    /* Small water marks: a big write pauses the protocol, resumed later. */
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(t, 1024, 0), 0);
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 1024);
    ck_assert_uint_eq(low, 256);
    size_t total = 4 * 1024 * 1024;
    char *big = calloc(1, total);
    const void *parts[] = {big, big + total / 2};
    size_t lens[] = {total / 2, total / 2};
    ck_assert_int_eq(asyncio_transport_writelines(t, parts, lens, 2), 0);
    free(big);
    asyncio_transport_pause_reading(t);
    ck_assert(!asyncio_transport_is_reading(t));
    asyncio_transport_resume_reading(t);
    ck_assert(asyncio_transport_is_reading(t));
    while (cli.received < total)
        tu_yield();
    ck_assert_int_eq(cli.pauses, 1);
    ck_assert_int_eq(cli.resumes, 1);
    ck_assert_int_eq(asyncio_transport_write_eof(t), 0);
    /* The server answers and closes; the client, half-open, closes too. */
    while (!cli.eof)
        tu_yield();
    ck_assert(!cli.lost);
    ck_assert_int_eq(asyncio_transport_write(t, "x", 1), ASYNCIO_ERUNTIME);
    asyncio_error_clear();
    asyncio_transport_close(t);
    ck_assert(asyncio_transport_is_closing(t));
    while (!cli.lost)
        tu_yield();
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_protocol)
{
    run(protocol_main, NULL);
    tu_assert_log(&LOG, "srv:made cli:made srv:eof(4194304) srv:lost(None) cli:eof(4194307) "
                        "cli:lost(None) ");
}
END_TEST

/* ---------------------------------------------------------------------
 * DNS
 * --------------------------------------------------------------------- */

static void *dns_main(void *arg)
{
    (void)arg;
    asyncio_addrinfo_t *ai = NULL;
    ck_assert_int_eq(
        asyncio_getaddrinfo("127.0.0.1", "8080", AF_INET, SOCK_STREAM, AI_NUMERICHOST, &ai), 0);
    ck_assert_ptr_nonnull(ai);
    ck_assert_ptr_null(ai->next);
    ck_assert_int_eq(ai->family, AF_INET);
    ck_assert_int_eq(ai->socktype, SOCK_STREAM);
    ck_assert_str_eq(ai->addr.host, "127.0.0.1");
    ck_assert_int_eq(ai->addr.port, 8080);
    ck_assert_uint_eq(ai->sockaddr_len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(((const struct sockaddr_in *)ai->sockaddr)->sin_port, htons(8080));
    asyncio_addrinfo_free(ai);
    ai = NULL;
    ck_assert_int_eq(asyncio_getaddrinfo("::1", NULL, AF_INET6, SOCK_STREAM, AI_NUMERICHOST, &ai),
                     0);
    ck_assert_str_eq(ai->addr.host, "::1");
    asyncio_addrinfo_free(ai);
    ai = NULL;
    /* Not a number, numeric only: socket.gaierror, an OSError. */
    int rc = asyncio_getaddrinfo("not-an-address", "80", 0, 0, AI_NUMERICHOST, &ai);
    ck_assert_int_eq(rc, UV_EAI_NONAME);
    ck_assert(asyncio_error_matches("OSError"));
    tu_clear_all();
    ck_assert_ptr_null(ai);
    ck_assert_int_eq(asyncio_getaddrinfo(NULL, NULL, 0, 0, 0, &ai), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getaddrinfo("x", NULL, 0, 0, 0, NULL), ASYNCIO_EVALUE);
    tu_clear_all();

    char host[ASYNCIO_NI_MAXHOST], serv[ASYNCIO_NI_MAXSERV];
    ck_assert_int_eq(
        asyncio_getnameinfo("127.0.0.1", 8080, NI_NUMERICHOST | NI_NUMERICSERV, host, serv), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(serv, "8080");
    ck_assert_int_eq(asyncio_getnameinfo("::1", 22, NI_NUMERICHOST | NI_NUMERICSERV, host, NULL),
                     0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(asyncio_getnameinfo("nope", 1, 0, host, serv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getnameinfo(NULL, 1, 0, host, serv), ASYNCIO_EVALUE);
    ck_assert_int_eq(asyncio_getnameinfo("127.0.0.1", 70000, 0, host, serv), ASYNCIO_EVALUE);
    tu_clear_all();
    return NULL;
}

START_TEST(test_dns)
{
    run(dns_main, NULL);
}
END_TEST

static void *resolver(void *arg)
{
    (void)arg;
    asyncio_addrinfo_t *ai = NULL;
    int rc = asyncio_getaddrinfo("127.0.0.1", "80", 0, SOCK_STREAM, AI_NUMERICHOST, &ai);
    asyncio_addrinfo_free(ai);
    return IP(rc);
}

static void *dns_cancel_main(void *arg)
{
    (void)arg;
    int cancelled = 0;
    for (int k = 0; k < 50; k++) {
        asyncio_future_t *f = tu_spawn(resolver, NULL);
        for (int i = 0; i < k % 3; i++)
            tu_yield();
        asyncio_cancel(f, NULL);
        void *res = NULL;
        int rc = asyncio_await(f, &res);
        if (rc == ASYNCIO_ECANCELLED) {
            cancelled++;
            asyncio_error_clear();
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(PI(res), 0);
        }
        asyncio_decref(f);
    }
    ck_assert_int_gt(cancelled, 0);
    return NULL;
}

START_TEST(test_dns_cancel)
{
    run(dns_cancel_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Review: defects found reading the code cold, one test each.
 * --------------------------------------------------------------------- */

/* Protocol callbacks that end their connection from inside: abort in
 * data_received, close in connection_made, user data freed in
 * connection_lost, writes from connection_lost. */
typedef struct cbstate {
    int lost;
    int made;
} cbstate_t;

static int cb_lost_total;

static void cb_made_close(asyncio_transport_t *t, void *user)
{
    (void)user;
    cbstate_t *st = calloc(1, sizeof *st);
    st->made = 1;
    asyncio_transport_set_user(t, st);
    ck_assert_int_eq(asyncio_transport_write(t, "x", 1), 0);
    asyncio_transport_close(t);
    asyncio_transport_close(t);
    ck_assert(asyncio_transport_is_closing(t));
}

static void cb_lost_free(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)exc;
    asyncio_transport_write(t, "late", 4); /* dropped: closed */
    asyncio_error_clear();
    asyncio_transport_abort(t);
    free(user);
    cb_lost_total++;
}

static void cb_data_abort(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)data;
    (void)len;
    (void)user;
    asyncio_transport_abort(t);
    asyncio_transport_abort(t);
    asyncio_transport_pause_reading(t);
    asyncio_transport_resume_reading(t);
}

static void cb_made_client(asyncio_transport_t *t, void *user)
{
    (void)user;
    asyncio_transport_set_user(t, calloc(1, sizeof(cbstate_t)));
}

static const asyncio_protocol_t CLOSE_AT_ONCE = {.connection_made = cb_made_close,
                                                 .connection_lost = cb_lost_free};
static const asyncio_protocol_t ABORT_ON_DATA = {.connection_made = cb_made_client,
                                                 .data_received = cb_data_abort,
                                                 .connection_lost = cb_lost_free};

static void *callbacks_main(void *arg)
{
    (void)arg;
    cb_lost_total = 0;
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&CLOSE_AT_ONCE, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    for (int i = 0; i < 4; i++) {
        asyncio_transport_t *t = NULL;
        ck_assert_int_eq(
            asyncio_create_connection(&ABORT_ON_DATA, NULL, "127.0.0.1", port, NULL, &t), 0);
    }
    while (cb_lost_total < 8)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_server_close(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_close_from_callbacks)
{
    run(callbacks_main, NULL);
}
END_TEST

/* A protocol callback that leaves an error raised: as Python, a failing
 * data_received / eof_received is a fatal error of the transport (reported,
 * then connection_lost with that error), never an error left in the
 * thread's indicator for whatever runs next. */
static tu_log_t FAILLOG;
static int fail_lost;

static void fail_handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    tu_logf(&FAILLOG, "[%s %s] ", ctx->message, ctx->exception ? ctx->exception->type : "-");
}

static void fail_made(asyncio_transport_t *t, void *user)
{
    (void)user;
    ck_assert_int_eq(asyncio_transport_write(t, "ping", 4), 0);
}

static void fail_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)data;
    (void)len;
    (void)user;
    asyncio_transport_write(t, NULL, 5); /* ValueError, left raised */
}

static bool fail_eof(asyncio_transport_t *t, void *user)
{
    (void)t;
    (void)user;
    asyncio_transport_write(t, NULL, 5);
    return true;
}

static void fail_lost_cb(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)user;
    tu_logf(&FAILLOG, "lost(%s) ", exc ? exc->type : "None");
    fail_lost++;
}

static const asyncio_protocol_t FAIL_DATA = {
    .connection_made = fail_made, .data_received = fail_data, .connection_lost = fail_lost_cb};
static const asyncio_protocol_t FAIL_EOF = {.eof_received = fail_eof,
                                            .connection_lost = fail_lost_cb};

static void *write_and_eof(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_stream_write(s, "hi", 2), 0);
    if (asyncio_stream_write_eof(s) == 0)
        echo_once(s, NULL);
    asyncio_error_clear();
    return NULL;
}

static void *protocol_error_main(void *arg)
{
    (void)arg;
    memset(&FAILLOG, 0, sizeof FAILLOG);
    fail_lost = 0;
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), fail_handler, NULL);
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(write_and_eof, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&FAIL_DATA, NULL, "127.0.0.1", server_port(srv), NULL, &t), 0);
    while (fail_lost < 1)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_ptr_null(asyncio_error());
    ck_assert_int_eq(
        asyncio_create_connection(&FAIL_EOF, NULL, "127.0.0.1", server_port(srv), NULL, &t), 0);
    while (fail_lost < 2)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_log(&FAILLOG, "[Fatal error: protocol.data_received() call failed. ValueError] "
                            "lost(ValueError) "
                            "[Fatal error: protocol.eof_received() call failed. ValueError] "
                            "lost(ValueError) ");
    asyncio_server_close(srv);
    asyncio_server_close_clients(srv);
    ck_assert_int_eq(asyncio_server_wait_closed(srv), 0);
    asyncio_server_free(srv);
    return NULL;
}

START_TEST(test_review_protocol_callback_error)
{
    run(protocol_error_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * The API's rules: handles, out-parameters, terminated bytes, messages.
 * --------------------------------------------------------------------- */

/* The callbacks get the transport's handle (the one create_connection
 * gave); the data they get has a NUL after it; after connection_lost the
 * handle is dead: refused by the calls that raise, harmless for the
 * others, and never reaching a transport made after it. */
typedef struct hstate {
    asyncio_transport_t *made; /* what connection_made got */
    bool nul_after_data, lost;
    size_t received;
} hstate_t;

static void h_made(asyncio_transport_t *t, void *user)
{
    ((hstate_t *)user)->made = t;
}

static void h_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)t;
    hstate_t *hs = user;
    hs->nul_after_data = data[len] == '\0';
    hs->received += len;
}

static void h_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)exc;
    hstate_t *hs = user;
    ck_assert_ptr_eq(t, hs->made);
    ck_assert(asyncio_transport_is_closing(t)); /* still live during the call */
    ck_assert_ptr_eq(asyncio_transport_get_user(t), user);
    hs->lost = true;
}

static const asyncio_protocol_t HANDLE_PROTO = {
    .connection_made = h_made, .data_received = h_data, .connection_lost = h_lost};

static void *transport_handles_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    hstate_t hs = {0};
    asyncio_transport_t *old = NULL;
    ck_assert_int_eq(asyncio_create_connection(&HANDLE_PROTO, &hs, "127.0.0.1", port, NULL, &old),
                     0);
    ck_assert_ptr_eq(old, hs.made);
    ck_assert_int_eq(asyncio_transport_write(old, "ping", 4), 0);
    while (hs.received < 4)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert(hs.nul_after_data);
    asyncio_transport_close(old);
    while (!hs.lost)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    /* Gone: a new transport may take its memory and slot. */
    hstate_t hs2 = {0};
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(asyncio_create_connection(&HANDLE_PROTO, &hs2, "127.0.0.1", port, NULL, &t),
                     0);
    ck_assert_ptr_ne(t, old);
    ck_assert_int_eq(asyncio_transport_write(old, "x", 1), ASYNCIO_EVALUE);
    assert_not_live("transport");
    const void *parts[] = {"x"};
    size_t lens[] = {1};
    ck_assert_int_eq(asyncio_transport_writelines(old, parts, lens, 1), ASYNCIO_EVALUE);
    assert_not_live("transport");
    ck_assert_int_eq(asyncio_transport_write_eof(old), ASYNCIO_EVALUE);
    assert_not_live("transport");
    ck_assert_int_eq(asyncio_transport_set_write_buffer_limits(old, 10, 1), ASYNCIO_EVALUE);
    assert_not_live("transport");
    asyncio_sockaddr_t a;
    memset(&a, 0x55, sizeof a);
    ck_assert_int_eq(asyncio_transport_peername(old, &a), ASYNCIO_EVALUE);
    assert_not_live("transport");
    ck_assert_int_eq(a.family, 0);
    ck_assert_int_eq(a.port, 0);
    size_t high = 123, low = 123;
    asyncio_transport_get_write_buffer_limits(old, &high, &low);
    ck_assert_uint_eq(high, 0);
    ck_assert_uint_eq(low, 0);
    ck_assert(asyncio_transport_is_closing(old));
    ck_assert(!asyncio_transport_is_reading(old));
    ck_assert_ptr_null(asyncio_transport_get_user(old));
    ck_assert_uint_eq(asyncio_transport_get_write_buffer_size(old), 0);
    asyncio_transport_set_user(old, NULL);
    asyncio_transport_pause_reading(old);
    asyncio_transport_resume_reading(old);
    asyncio_transport_close(old);
    asyncio_transport_abort(old);
    ck_assert_ptr_null(asyncio_error());
    /* None of it reached the new transport. */
    ck_assert(!asyncio_transport_is_closing(t));
    ck_assert(asyncio_transport_is_reading(t));
    ck_assert_ptr_eq(asyncio_transport_get_user(t), &hs2);
    ck_assert_int_eq(asyncio_transport_write(t, "pong", 4), 0);
    while (hs2.received < 4)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_transport_abort(t);
    while (!hs2.lost)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    server_shutdown(srv);
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_transport_handles)
{
    run(transport_handles_main, NULL);
}
END_TEST

/* Out-parameters: NULL, 0 or empty on every failure. */
static void *transport_out_params_main(void *arg)
{
    (void)arg;
    asyncio_transport_t *t = SENTINEL;
    ck_assert_int_eq(asyncio_create_connection(NULL, NULL, "127.0.0.1", 1, NULL, &t),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(t);
    t = SENTINEL;
    ck_assert_int_eq(asyncio_create_connection(&HANDLE_PROTO, NULL, NULL, 1, NULL, &t),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(t);
    t = SENTINEL;
    ck_assert_int_eq(asyncio_create_unix_connection(&HANDLE_PROTO, NULL, NULL, NULL, &t),
                     ASYNCIO_EVALUE);
    ck_assert_ptr_null(t);
    t = SENTINEL;
    ck_assert_int_lt(
        asyncio_create_unix_connection(&HANDLE_PROTO, NULL, "/nonexistent/sock", NULL, &t), 0);
    ck_assert_ptr_null(t);
    tu_clear_all();
    asyncio_sockaddr_t a;
    memset(&a, 0x55, sizeof a);
    ck_assert_int_eq(asyncio_transport_sockname(NULL, &a), ASYNCIO_EVALUE);
    ck_assert_int_eq(a.family, 0);
    ck_assert_int_eq(a.host[0], '\0');
    asyncio_error_clear();
    asyncio_addrinfo_t *ai = SENTINEL;
    ck_assert_int_eq(asyncio_getaddrinfo("not-an-address", "80", 0, 0, AI_NUMERICHOST, &ai),
                     UV_EAI_NONAME);
    ck_assert_ptr_null(ai);
    ai = SENTINEL;
    ck_assert_int_eq(asyncio_getaddrinfo(NULL, NULL, 0, 0, 0, &ai), ASYNCIO_EVALUE);
    ck_assert_ptr_null(ai);
    tu_clear_all();
    char host[ASYNCIO_NI_MAXHOST] = "junk", serv[ASYNCIO_NI_MAXSERV] = "junk";
    ck_assert_int_eq(asyncio_getnameinfo("nope", 1, 0, host, serv), ASYNCIO_EVALUE);
    ck_assert_str_eq(host, "");
    ck_assert_str_eq(serv, "");
    asyncio_error_clear();
    return NULL;
}

START_TEST(test_transport_out_params)
{
    run(transport_out_params_main, NULL);
    tu_alloc_install();
    asyncio_transport_t *t = SENTINEL;
    ck_assert_int_eq(asyncio_create_connection(&HANDLE_PROTO, NULL, "127.0.0.1", 1, NULL, &t),
                     ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(t);
    asyncio_addrinfo_t *ai = SENTINEL;
    ck_assert_int_eq(asyncio_getaddrinfo("localhost", NULL, 0, 0, 0, &ai), ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(ai);
    tu_clear_all();
}
END_TEST

/* Messages read as Python's and name no C function. */
static void *transport_messages_main(void *arg)
{
    (void)arg;
    asyncio_transport_t *t = NULL;
    asyncio_addrinfo_t *ai = NULL;
    char host[ASYNCIO_NI_MAXHOST];
    expect_msg(asyncio_create_connection(NULL, NULL, "127.0.0.1", 1, NULL, &t), ASYNCIO_EVALUE,
               "ValueError", "protocol is NULL");
    expect_msg(asyncio_create_connection(&HANDLE_PROTO, NULL, "127.0.0.1", 1, NULL, NULL),
               ASYNCIO_EVALUE, "ValueError", "transport is NULL");
    expect_msg(asyncio_transport_write(NULL, "x", 1), ASYNCIO_EVALUE, "ValueError",
               "the transport is NULL");
    expect_msg(asyncio_getaddrinfo("not-an-address", "80", 0, 0, AI_NUMERICHOST, &ai),
               UV_EAI_NONAME, "gaierror", "[Errno -2] Name or service not known");
    expect_msg(asyncio_getaddrinfo(NULL, NULL, 0, 0, 0, &ai), ASYNCIO_EVALUE, "ValueError",
               "host and service are both NULL");
    expect_msg(asyncio_getaddrinfo("x", NULL, 0, 0, 0, NULL), ASYNCIO_EVALUE, "ValueError",
               "result is NULL");
    expect_msg(asyncio_getnameinfo("nope", 1, 0, host, NULL), ASYNCIO_EVALUE, "ValueError",
               "host 'nope' is not a numeric IPv4 or IPv6 address");
    expect_msg(asyncio_getnameinfo("127.0.0.1", 70000, 0, host, NULL), ASYNCIO_EVALUE, "ValueError",
               "port must be 0-65535.");
    expect_msg(asyncio_getnameinfo(NULL, 1, 0, host, NULL), ASYNCIO_EVALUE, "ValueError",
               "host is NULL");
    return NULL;
}

START_TEST(test_transport_messages)
{
    run(transport_messages_main, NULL);
    tu_alloc_install();
    asyncio_addrinfo_t *ai = NULL;
    ck_assert_int_eq(asyncio_getaddrinfo("localhost", NULL, 0, 0, 0, &ai), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    asyncio_error_clear();
}
END_TEST

Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("protocols");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_protocol);
    tcase_add_test(tc, test_dns);
    tcase_add_test(tc, test_dns_cancel);
    suite_add_tcase(s, tc);

    tc = tcase_create("review");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_review_close_from_callbacks);
    tcase_add_test(tc, test_review_protocol_callback_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_transport_handles);
    tcase_add_test(tc, test_transport_out_params);
    tcase_add_test(tc, test_transport_messages);
    suite_add_tcase(s, tc);
    return s;
}
