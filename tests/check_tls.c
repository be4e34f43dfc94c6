/*
 * TLS (Python's ssl= and start_tls): casyncio's clients against
 * `openssl s_server` and a Python ssl server, its servers against
 * `openssl s_client` and a Python client, mutual TLS, the handshake's
 * errors as Python words them, STARTTLS on streams and transports (with
 * the ClientHello sent in the same write as the STARTTLS line), flow
 * control and volume, many connections at once, cancellation, the loop
 * closing with TLS connections open, and a context shared by two loops
 * on two threads.
 *
 * The certificates (tests/tls/make-certs.sh) are made once per run of the
 * runner, in tls_suite(), before Check forks a process per test, into a
 * temporary directory that the runner's own process removes at exit.
 * Peers are started by the tests themselves on 127.0.0.1 (servers on a
 * free port that they print) and killed by the tests; the Python ones are
 * tests/tls/peer.py, run with /usr/bin/python3.
 *
 * Where Python decides the answer the expected lines are what the twins
 * tests/twins/tls_*.py print (each test names its twin); C's messages are
 * Python's without the " (_ssl.c:NNNN)" that Python appends.  Where
 * casyncio answers otherwise on purpose (write_eof over TLS, start_tls
 * without server_hostname or twice, the server's reports of failed
 * handshakes, messages naming the file), the test says so and the twin
 * prints Python's answer for the record.  No result depends on timing:
 * the short handshake timeouts are there to end the tests that wait for
 * them, never measured.
 */
#include "testutil.h"
#include "netutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes */

#include "../src/testing.h" /* asyncio__handle_count */

#define PYTHON "/usr/bin/python3"

/* ---------------------------------------------------------------------
 * Certificates: made once per run, before the forks.
 * --------------------------------------------------------------------- */

static char ROOT[512] = "."; /* the source tree (tests/tls/ is under it) */
static char CERTS[128];      /* the certificates' directory; "" if not made */
static pid_t CERTS_OWNER;    /* the process that made it removes it */

static void certs_remove(void)
{
    /* Check's forked test processes run the atexit handlers too. */
    if (getpid() != CERTS_OWNER || !CERTS[0])
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", CERTS);
    if (system(cmd) != 0)
        fprintf(stderr, "tls: could not remove %s\n", CERTS);
}

/* The source tree: the current directory when tests/tls is there (make
 * check runs from it), else two levels above the runner (build/tests/). */
static void find_root(void)
{
    if (access("tests/tls/make-certs.sh", R_OK) == 0)
        return;
    char exe[400];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(ROOT, sizeof ROOT, "%s", exe);
}

static void certs_make(void)
{
    if (CERTS[0])
        return;
    find_root();
    char dir[] = "/tmp/casyncio-tls-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "tls: mkdtemp: %s\n", strerror(errno));
        return;
    }
    snprintf(CERTS, sizeof CERTS, "%s", dir);
    CERTS_OWNER = getpid();
    atexit(certs_remove);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tls/make-certs.sh' '%s' >/dev/null", ROOT, CERTS);
    if (system(cmd) != 0) {
        fprintf(stderr, "tls: %s failed: the TLS tests will fail\n", cmd);
        certs_remove();
        CERTS[0] = '\0';
    }
}

/* The path of a file of the certificates' directory (a static buffer,
 * one of eight used in turn). */
static const char *certp(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ % 8];
    ck_assert_msg(CERTS[0], "the certificates were not made (see the messages above)");
    snprintf(b, 256, "%s/%s", CERTS, name);
    return b;
}

static const char *peer_py(void)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/tests/tls/peer.py", ROOT);
    return p;
}

/* ---------------------------------------------------------------------
 * Contexts, peers and reports.
 * --------------------------------------------------------------------- */

/* A client's context trusting the tests' CA. */
static asyncio_ssl_context_t *client_ctx(void)
{
    asyncio_ssl_context_t *c = asyncio_ssl_context_new(ASYNCIO_SSL_SERVER_AUTH);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(asyncio_ssl_context_load_verify_locations(c, certp("ca.pem"), NULL), 0);
    return c;
}

/* A server's context with the certificate `name`.pem and its key. */
static asyncio_ssl_context_t *server_ctx(const char *name)
{
    asyncio_ssl_context_t *c = asyncio_ssl_context_new(ASYNCIO_SSL_CLIENT_AUTH);
    ck_assert_ptr_nonnull(c);
    char pem[64], key[64];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    int rc = asyncio_ssl_context_load_cert_chain(c, certp(pem), certp(key), NULL);
    ck_assert_msg(rc == 0, "load_cert_chain: %s", tu_raised_message());
    return c;
}

/* A peer process: its stdout is read up to the line that gives its port. */
typedef struct peer {
    asyncio_process_t *p;
    int port;
} peer_t;

/* Starts argv (stdin and stderr /dev/null) and reads its stdout until a
 * line starting with `marker`; the port is the number after the line's
 * last ':' or ' ' ("PORT 4242", "ACCEPT 127.0.0.1:4242"). */
static peer_t peer_start(const char *const *argv, const char *marker)
{
    asyncio_subprocess_opts_t o = {.stdin_mode = ASYNCIO_STDIO_DEVNULL,
                                   .stdout_mode = ASYNCIO_STDIO_PIPE,
                                   .stderr_mode = ASYNCIO_STDIO_DEVNULL};
    /* A server left by a test that failed must not outlive it: setpriv
     * has it killed when the test's process exits (peer.py does it for
     * itself). */
    const char *with_setpriv[24] = {"setpriv", "--pdeathsig", "KILL"};
    if (strcmp(argv[0], "openssl") == 0 && access("/usr/bin/setpriv", X_OK) == 0) {
        for (size_t i = 0; argv[i]; i++) {
            ck_assert_uint_lt(i + 4, 24);
            with_setpriv[i + 3] = argv[i];
        }
        argv = with_setpriv;
    }
    peer_t p = {0};
    int rc = asyncio_create_subprocess_exec(argv, &o, &p.p);
    ck_assert_msg(rc == 0, "%s: %s", argv[0], tu_raised_message());
    char line[256];
    size_t n;
    for (;;) {
        rc = asyncio_stream_readline(asyncio_process_stdout(p.p), line, sizeof line, &n);
        ck_assert_msg(rc == 0 && n > 0, "%s %s exited before saying its port", argv[0], argv[1]);
        if (strncmp(line, marker, strlen(marker)) == 0)
            break;
    }
    char *sep = strrchr(line, ':');
    if (!sep)
        sep = strrchr(line, ' ');
    p.port = atoi(sep + 1);
    ck_assert_int_gt(p.port, 0);
    return p;
}

/* The Python peer `mode` (a server: it prints its port). */
static peer_t py_server(const char *mode, const char *opt)
{
    const char *argv[] = {PYTHON, peer_py(), mode, CERTS, opt, NULL};
    return peer_start(argv, "PORT ");
}

static void peer_stop(peer_t *p)
{
    asyncio_process_kill(p->p);
    asyncio_error_clear(); /* it may have exited already */
    int code;
    ck_assert_int_eq(asyncio_process_wait(p->p, &code), 0);
    asyncio_process_free(p->p);
    p->p = NULL;
}

/* Runs argv to its end with input on its stdin; its stdout and stderr
 * (NUL-terminated, the caller's: asyncio_buffer_free). */
static int run_program(const char *const *argv, const char *input, char **out, char **err)
{
    asyncio_subprocess_opts_t o = {.stdin_mode = ASYNCIO_STDIO_PIPE,
                                   .stdout_mode = ASYNCIO_STDIO_PIPE,
                                   .stderr_mode = ASYNCIO_STDIO_PIPE};
    asyncio_process_t *p = NULL;
    int rc = asyncio_create_subprocess_exec(argv, &o, &p);
    ck_assert_msg(rc == 0, "%s: %s", argv[0], tu_raised_message());
    size_t out_len, err_len;
    rc = asyncio_process_communicate(p, input, input ? strlen(input) : 0, out, &out_len, err,
                                     &err_len);
    ck_assert_msg(rc == 0, "communicate: %s", tu_raised_message());
    int code;
    ck_assert(asyncio_process_returncode(p, &code));
    asyncio_process_free(p);
    return code;
}

/* What the loop's exception handler was told, one line per report:
 * "<message>: <type>: <exception's message>". */
static tu_log_t REPORTS;

/* What servers' handlers and protocols log, apart from the clients' LOG
 * (their lines would interleave). */
static tu_log_t SLOG;
#define SLOGF(...) tu_logf(&SLOG, __VA_ARGS__)

static void capture_report(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    const asyncio_error_t *e = ctx->exception;
    tu_logf(&REPORTS, "%s: %s: %s\n", ctx->message, e ? e->type : "-", e ? e->message : "-");
}

static void capture_reports(void)
{
    memset(&REPORTS, 0, sizeof REPORTS);
    memset(&SLOG, 0, sizeof SLOG);
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), capture_report, NULL);
}

/* Logs the raised error as the twins print it, "[<what> ]<Type>
 * <message>", and clears it. */
static void log_error(const char *what)
{
    const asyncio_error_t *e = asyncio_error();
    ck_assert_msg(e != NULL, "%s: no error raised", what ? what : "");
    assert_python_message();
    if (what)
        LOGF("%s ", what);
    LOGF("%s %s\n", e->type, e->message);
    asyncio_error_clear();
}

/* The value of a certificate's field, or NULL. */
static const char *field(const asyncio_cert_field_t *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return f[i].value;
    return NULL;
}

/* A stream's TLS parameters, asserted to be there. */
static asyncio_ssl_info_t info_of(asyncio_stream_t *s)
{
    asyncio_ssl_info_t info;
    ck_assert_int_eq(asyncio_transport_ssl_info(asyncio_stream_transport(s), &info), 0);
    ck_assert_ptr_nonnull(info.version);
    return info;
}

/* A round trip over s: writes line, reads a line back into buf. */
static void round_trip(asyncio_stream_t *s, const char *line, char *buf, size_t cap)
{
    size_t n;
    ck_assert_int_eq(asyncio_stream_write(s, line, strlen(line)), 0);
    int rc = asyncio_stream_readline(s, buf, cap, &n);
    ck_assert_msg(rc == 0, "readline: %s", tu_raised_message());
}

/* Closes s, waits for the task still reading it, frees it. */
static void close_free_after(asyncio_stream_t *s, asyncio_future_t *reader)
{
    asyncio_stream_close(s);
    ck_assert_int_eq(asyncio_wait_for(reader, 5, NULL), 0);
    asyncio_decref(reader);
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);
}

static void close_free(asyncio_stream_t *s)
{
    asyncio_stream_close(s);
    int rc = asyncio_stream_wait_closed(s);
    ck_assert_msg(rc == 0, "wait_closed: %s", tu_raised_message());
    asyncio_stream_free(s);
}

/* ---------------------------------------------------------------------
 * Clients against openssl s_server and a Python server.
 * --------------------------------------------------------------------- */

/* What `openssl x509` says of a certificate file: option -enddate gives
 * "notAfter=<date>\n"; the part after '=' without the newline. */
static void x509_says(const char *pem, const char *opt, char *out, size_t cap)
{
    const char *argv[] = {"openssl", "x509", "-noout", opt, "-in", pem, NULL};
    char *o, *e;
    ck_assert_int_eq(run_program(argv, NULL, &o, &e), 0);
    char *eq = strchr(o, '=');
    ck_assert_ptr_nonnull(eq);
    eq[strcspn(eq, "\n")] = '\0';
    snprintf(out, cap, "%s", eq + 1);
    asyncio_buffer_free(o);
    asyncio_buffer_free(e);
}

/* The DER form of a PEM certificate file. */
static unsigned char *der_of(const char *pem, size_t *len)
{
    const char *argv[] = {"openssl", "x509", "-outform", "DER", "-in", pem, NULL};
    asyncio_subprocess_opts_t o = {.stdout_mode = ASYNCIO_STDIO_PIPE};
    asyncio_process_t *p = NULL;
    ck_assert_int_eq(asyncio_create_subprocess_exec(argv, &o, &p), 0);
    char *out;
    ck_assert_int_eq(asyncio_process_communicate(p, NULL, 0, &out, len, NULL, NULL), 0);
    asyncio_process_free(p);
    return (unsigned char *)out;
}

/* The server's certificate as getpeercert() gives it, checked field by
 * field against what openssl says of server.pem. */
static void check_server_cert(asyncio_stream_t *s)
{
    asyncio_peercert_t *c = SENTINEL;
    ck_assert_int_eq(asyncio_transport_getpeercert(asyncio_stream_transport(s), &c), 0);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->verified);
    ck_assert_uint_eq(c->subject_len, 2);
    ck_assert_str_eq(c->subject[0].name, "commonName");
    ck_assert_str_eq(c->subject[0].value, "localhost");
    ck_assert_str_eq(c->subject[1].name, "organizationName");
    ck_assert_str_eq(c->subject[1].value, "casyncio tests");
    ck_assert_str_eq(field(c->issuer, c->issuer_len, "commonName"), "casyncio test CA");
    ck_assert_uint_eq(c->subject_alt_name_len, 2);
    ck_assert_str_eq(c->subject_alt_name[0].name, "DNS");
    ck_assert_str_eq(c->subject_alt_name[0].value, "localhost");
    ck_assert_str_eq(c->subject_alt_name[1].name, "IP Address");
    ck_assert_str_eq(c->subject_alt_name[1].value, "127.0.0.1");
    ck_assert_int_eq(c->version, 3);
    char want[128];
    x509_says(certp("server.pem"), "-startdate", want, sizeof want);
    ck_assert_str_eq(c->not_before, want);
    x509_says(certp("server.pem"), "-enddate", want, sizeof want);
    ck_assert_str_eq(c->not_after, want);
    x509_says(certp("server.pem"), "-serial", want, sizeof want);
    ck_assert_str_eq(c->serial_number, want);
    /* Python's format: "Dec  7 04:00:00 2026 GMT", the day padded. */
    char mon[4], zone[4];
    int day, hh, mm, ss, year;
    ck_assert_int_eq(
        sscanf(c->not_after, "%3s %d %d:%d:%d %d %3s", mon, &day, &hh, &mm, &ss, &year, zone), 7);
    ck_assert_uint_eq(strlen(c->not_after), 24);
    ck_assert_str_eq(zone, "GMT");
    size_t len;
    unsigned char *der = der_of(certp("server.pem"), &len);
    ck_assert_uint_eq(c->der_len, len);
    ck_assert(memcmp(c->der, der, len) == 0);
    asyncio_buffer_free(der);
    asyncio_peercert_free(c);
}

/* Connects to port with ctx, checks the version, the session's reuse and
 * the echo (s_server -rev answers a line reversed; the Python peer
 * echoes it). */
static asyncio_stream_t *tls_connect(int port, asyncio_ssl_context_t *ctx, const char *version,
                                     bool reused)
{
    asyncio_stream_opts_t o = {.ssl = ctx};
    asyncio_stream_t *s = connect_ok(port, &o);
    asyncio_ssl_info_t info = info_of(s);
    ck_assert_str_eq(info.version, version);
    ck_assert_ptr_nonnull(info.cipher);
    ck_assert_int_ge(info.cipher_bits, 128);
    ck_assert_msg(info.session_reused == reused, "session_reused %d", info.session_reused);
    return s;
}

static void *client_s_server_main(void *arg)
{
    (void)arg;
    const char *argv[] = {
        "openssl", "s_server",          "-accept", "127.0.0.1:0", "-cert",    certp("server.pem"),
        "-key",    certp("server.key"), "-rev",    "-alpn",       "http/1.1", NULL};
    peer_t p = peer_start(argv, "ACCEPT ");
    long handles = asyncio__handle_count();
    asyncio_ssl_context_t *ctx = client_ctx();
    const char *alpn[] = {"h2", "http/1.1"};
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(ctx, alpn, 2), 0);
    char buf[64];

    /* TLS 1.3: the certificate, ALPN, the echo; then a session resumed. */
    asyncio_stream_t *s = tls_connect(p.port, ctx, "TLSv1.3", false);
    ck_assert_str_eq(info_of(s).alpn_protocol, "http/1.1");
    ck_assert_str_eq(info_of(s).cipher, "TLS_AES_256_GCM_SHA384");
    check_server_cert(s);
    round_trip(s, "hello\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "olleh\n");
    close_free(s);
    s = tls_connect(p.port, ctx, "TLSv1.3", true);
    round_trip(s, "again\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "niaga\n");
    close_free(s);

    /* TLS 1.2 when the client goes no higher, resumed likewise. */
    asyncio_ssl_context_t *ctx12 = client_ctx();
    ck_assert_int_eq(asyncio_ssl_context_set_maximum_version(ctx12, ASYNCIO_TLS_VERSION_1_2), 0);
    s = tls_connect(p.port, ctx12, "TLSv1.2", false);
    ck_assert_str_eq(info_of(s).alpn_protocol, "");
    round_trip(s, "tls12\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "21slt\n");
    close_free(s);
    s = tls_connect(p.port, ctx12, "TLSv1.2", true);
    close_free(s);

    /* CERT_NONE: nothing verified, getpeercert() is empty but for der. */
    asyncio_ssl_context_t *none = asyncio_ssl_context_new(ASYNCIO_SSL_SERVER_AUTH);
    ck_assert_int_eq(asyncio_ssl_context_set_check_hostname(none, false), 0);
    ck_assert_int_eq(asyncio_ssl_context_set_verify_mode(none, ASYNCIO_SSL_CERT_NONE), 0);
    s = tls_connect(p.port, none, "TLSv1.3", false);
    asyncio_peercert_t *c;
    ck_assert_int_eq(asyncio_transport_getpeercert(asyncio_stream_transport(s), &c), 0);
    ck_assert(!c->verified);
    ck_assert_uint_eq(c->subject_len, 0);
    ck_assert_ptr_null(c->not_after);
    size_t len;
    unsigned char *der = der_of(certp("server.pem"), &len);
    ck_assert_uint_eq(c->der_len, len);
    ck_assert(memcmp(c->der, der, len) == 0);
    asyncio_buffer_free(der);
    asyncio_peercert_free(c);
    close_free(s);

    asyncio_ssl_context_decref(ctx);
    asyncio_ssl_context_decref(ctx12);
    asyncio_ssl_context_decref(none);
    assert_handles_back(handles);
    peer_stop(&p);
    return NULL;
}

START_TEST(test_client_s_server)
{
    run(client_s_server_main, NULL);
}
END_TEST

/* The Python server (peer.py echo): TLS 1.3, ALPN, the echo, the
 * server's view of the connection ("info"), resumption; then with the
 * server limited to TLS 1.2. */
static void *client_python_server_main(void *arg)
{
    (void)arg;
    peer_t p = py_server("echo", NULL);
    asyncio_ssl_context_t *ctx = client_ctx();
    const char *alpn[] = {"h2", "http/1.1"};
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(ctx, alpn, 2), 0);
    char buf[128];
    asyncio_stream_opts_t o = {.ssl = ctx, .server_hostname = "localhost"};
    asyncio_stream_t *s = connect_ok(p.port, &o);
    ck_assert_str_eq(info_of(s).version, "TLSv1.3");
    ck_assert_str_eq(info_of(s).alpn_protocol, "http/1.1");
    ck_assert(!info_of(s).session_reused);
    check_server_cert(s);
    round_trip(s, "hello\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "hello\n");
    round_trip(s, "info\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "TLSv1.3 http/1.1 -\n");
    close_free(s);
    s = connect_ok(p.port, &o);
    ck_assert(info_of(s).session_reused);
    round_trip(s, "info\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "TLSv1.3 http/1.1 -\n");
    close_free(s);
    peer_stop(&p);

    p = py_server("echo", "--tls12");
    s = tls_connect(p.port, ctx, "TLSv1.2", false);
    round_trip(s, "info\n", buf, sizeof buf);
    ck_assert_str_eq(buf, "TLSv1.2 http/1.1 -\n");
    close_free(s);
    s = tls_connect(p.port, ctx, "TLSv1.2", true);
    close_free(s);
    peer_stop(&p);
    asyncio_ssl_context_decref(ctx);
    return NULL;
}

START_TEST(test_client_python_server)
{
    run(client_python_server_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Servers against openssl s_client and a Python client; mutual TLS.
 * --------------------------------------------------------------------- */

/* "<version> <alpn or -> <client's commonName or ->", the server's view
 * of a connection, as peer.py's echo server answers "info". */
static void view_of(asyncio_transport_t *t, char *out, size_t cap)
{
    asyncio_ssl_info_t info;
    ck_assert_int_eq(asyncio_transport_ssl_info(t, &info), 0);
    asyncio_peercert_t *c = SENTINEL;
    ck_assert_int_eq(asyncio_transport_getpeercert(t, &c), 0);
    const char *cn = c ? field(c->subject, c->subject_len, "commonName") : NULL;
    snprintf(out, cap, "%s %s %s", info.version ? info.version : "plain",
             info.alpn_protocol[0] ? info.alpn_protocol : "-", cn ? cn : "-");
    asyncio_peercert_free(c);
}

/* A server's handler: answers each line with "echo: <line>", "info" with
 * the connection's view, "bye" by closing; logs the view once. */
static void *line_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char line[128], out[600], view[400];
    size_t n;
    view_of(asyncio_stream_transport(s), view, sizeof view);
    SLOGF("handler: %s\n", view);
    while (asyncio_stream_readline(s, line, sizeof line, &n) == 0 && n > 0) {
        if (strcmp(line, "bye\n") == 0)
            break;
        if (strcmp(line, "info\n") == 0)
            snprintf(out, sizeof out, "%s\n", view);
        else
            snprintf(out, sizeof out, "echo: %s", line);
        if (asyncio_stream_write(s, out, strlen(out)) || asyncio_stream_drain(s))
            break;
    }
    asyncio_error_clear();
    return NULL;
}

/* The same over a protocol (create_server): a line in, its echo out, then
 * the transport closes. */
typedef struct line_proto {
    char buf[128];
    size_t len;
    bool lost;
} line_proto_t;

static void lp_made(asyncio_transport_t *t, void *user)
{
    (void)user;
    char view[400];
    view_of(t, view, sizeof view); /* the handshake is over before connection_made */
    SLOGF("made: %s\n", view);
    asyncio_transport_set_user(t, calloc(1, sizeof(line_proto_t)));
}

static void lp_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    line_proto_t *lp = user;
    for (size_t i = 0; i < len && lp->len < sizeof lp->buf - 1; i++) {
        lp->buf[lp->len++] = data[i];
        if (data[i] == '\n') {
            ck_assert_int_eq(asyncio_transport_write(t, "echo: ", 6), 0);
            ck_assert_int_eq(asyncio_transport_write(t, lp->buf, lp->len), 0);
            asyncio_transport_close(t);
            return;
        }
    }
}

static void lp_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    SLOGF("lost: %s\n", exc ? exc->type : "None");
    free(user);
}

static const asyncio_protocol_t LINE_PROTO = {lp_made, lp_data, NULL, lp_lost, NULL, NULL};

/* openssl s_client against casyncio's server: the line's echo comes back
 * and s_client says the certificate verified; -ign_eof keeps it reading
 * until the server closes. */
static void s_client_talks(int port, const char *input, bool with_cert, const char *want_out)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *argv[] = {"openssl",
                          "s_client",
                          "-connect",
                          addr,
                          "-CAfile",
                          certp("ca.pem"),
                          "-servername",
                          "localhost",
                          "-verify_return_error",
                          "-brief",
                          "-ign_eof",
                          "-alpn",
                          "http/1.1",
                          with_cert ? "-cert" : NULL,
                          certp("client.pem"),
                          "-key",
                          certp("client.key"),
                          NULL};
    char *out, *err;
    int code = run_program(argv, input, &out, &err);
    ck_assert_msg(code == 0, "s_client: %d: %s", code, err);
    ck_assert_str_eq(out, want_out);
    ck_assert_msg(strstr(err, "Verification: OK") && strstr(err, "Protocol version: TLSv1.3"),
                  "s_client said: %s", err);
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
}

static void *server_s_client_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    const char *alpn[] = {"http/1.1"};
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(sctx, alpn, 1), 0);
    asyncio_stream_opts_t o = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv), 0);
    asyncio_ssl_context_decref(sctx); /* the server keeps its own reference */
    s_client_talks(server_port(srv), "hello\nbye\n", false, "echo: hello\n");
    server_shutdown(srv);

    /* create_server: the protocol's view, then its echo. */
    sctx = server_ctx("server");
    o.ssl = sctx;
    ck_assert_int_eq(asyncio_create_server(&LINE_PROTO, NULL, "127.0.0.1", 0, &o, &srv), 0);
    s_client_talks(server_port(srv), "proto\n", false, "echo: proto\n");
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    ck_assert_int_eq(asyncio_sleep(0.01), 0); /* the protocol's connection_lost */
    return NULL;
}

START_TEST(test_server_s_client)
{
    run(server_s_client_main, NULL);
    tu_assert_log(&SLOG, "handler: TLSv1.3 http/1.1 -\nmade: TLSv1.3 - -\nlost: None\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* peer.py's client against casyncio's servers: what it prints. */
static void py_client_says(int port, const char *opt, const char *want)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    const char *argv[] = {PYTHON, peer_py(), "client", CERTS, ports, opt, NULL};
    char *out, *err;
    ck_assert_int_eq(run_program(argv, NULL, &out, &err), 0);
    ck_assert_str_eq(out, want);
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
}

static void *server_python_client_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    asyncio_stream_opts_t o = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv), 0);
    py_client_says(server_port(srv), NULL,
                   "connected TLSv1.3 localhost\nreply b'echo: hello\\n'\n"
                   "info b'TLSv1.3 - -\\n'\nclosed\n");
    server_shutdown(srv);
    ck_assert_int_eq(asyncio_create_server(&LINE_PROTO, NULL, "127.0.0.1", 0, &o, &srv), 0);
    py_client_says(server_port(srv), NULL,
                   "connected TLSv1.3 localhost\nreply b'echo: hello\\n'\ninfo b''\nclosed\n");
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    return NULL;
}

START_TEST(test_server_python_client)
{
    run(server_python_client_main, NULL);
    tu_assert_log(&SLOG, "handler: TLSv1.3 - -\nmade: TLSv1.3 - -\nlost: None\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ALPN between casyncio's server and client: the server's preference
 * wins (Python's rule, OpenSSL's SSL_select_next_proto); no protocol in
 * common is no ALPN, not an error. */
static void *alpn_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    const char *server_pref[] = {"h2", "http/1.1"}, *client_pref[] = {"http/1.1", "h2"};
    const char *other[] = {"spdy/3"};
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(sctx, server_pref, 2), 0);
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    char buf[128];
    for (int round = 0; round < 3; round++) {
        if (round == 0)
            ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(cctx, client_pref, 2), 0);
        else if (round == 1)
            ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(cctx, other, 1), 0);
        else
            ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(cctx, NULL, 0), 0);
        asyncio_stream_t *s = connect_ok(server_port(srv), &o);
        LOGF("client: '%s'", info_of(s).alpn_protocol);
        round_trip(s, "info\n", buf, sizeof buf);
        LOGF(", server: %s", buf);
        close_free(s);
    }
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_alpn)
{
    run(alpn_main, NULL);
    tu_assert_log(&LOG, "client: 'h2', server: TLSv1.3 h2 -\n"
                        "client: '', server: TLSv1.3 - -\n"
                        "client: '', server: TLSv1.3 - -\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* A client's attempt at mutual TLS, logged as tests/twins/tls_mtls.py
 * prints it: with_cert selects client.pem; tls12 limits the client. */
static void mtls_attempt(int port, bool with_cert, bool tls12, const char *answer_to)
{
    asyncio_ssl_context_t *ctx = client_ctx();
    if (with_cert)
        ck_assert_int_eq(asyncio_ssl_context_load_cert_chain(ctx, certp("client.pem"),
                                                             certp("client.key"), NULL),
                         0);
    if (tls12)
        ck_assert_int_eq(asyncio_ssl_context_set_maximum_version(ctx, ASYNCIO_TLS_VERSION_1_2), 0);
    const char *what = with_cert ? "cert" : "no cert";
    asyncio_stream_opts_t o = {.ssl = ctx, .server_hostname = "localhost"};
    asyncio_stream_t *s = NULL;
    if (asyncio_open_connection("127.0.0.1", port, &o, &s) != 0) {
        ck_assert_ptr_null(s);
        LOGF("%s: ", what);
        log_error("connect");
        asyncio_ssl_context_decref(ctx);
        return;
    }
    LOGF("%s: connected %s\n", what, info_of(s).version);
    char buf[128];
    size_t n;
    ck_assert_int_eq(asyncio_stream_write(s, answer_to, strlen(answer_to)), 0);
    if (asyncio_stream_readline(s, buf, sizeof buf, &n) == 0) {
        LOGF("%s: read %s", what, buf);
        if (n == 0)
            LOGF("EOF\n");
    } else {
        LOGF("%s: ", what);
        log_error("read");
    }
    asyncio_stream_close(s);
    asyncio_stream_wait_closed(s);
    asyncio_error_clear();
    asyncio_stream_free(s);
    asyncio_ssl_context_decref(ctx);
}

static const char MTLS_CLIENT_LOG[] =
    "cert: connected TLSv1.3\n"
    "cert: read %s"
    "no cert: connected TLSv1.3\n"
    "no cert: read SSLError [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate "
    "required\n"
    "cert: connected TLSv1.2\n"
    "cert: read %s"
    "no cert: connect SSLError [SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake "
    "failure\n";

/* Twin: tests/twins/tls_mtls.py (the client side, against s_server
 * -Verify 1, which requires a client certificate). */
static void *mtls_s_server_main(void *arg)
{
    (void)arg;
    const char *argv[] = {"openssl",
                          "s_server",
                          "-accept",
                          "127.0.0.1:0",
                          "-cert",
                          certp("server.pem"),
                          "-key",
                          certp("server.key"),
                          "-rev",
                          "-Verify",
                          "1",
                          "-CAfile",
                          certp("ca.pem"),
                          NULL};
    peer_t p = peer_start(argv, "ACCEPT ");
    for (int tls12 = 0; tls12 < 2; tls12++) {
        mtls_attempt(p.port, true, tls12, "hello\n");
        mtls_attempt(p.port, false, tls12, "hello\n");
    }
    peer_stop(&p);
    return NULL;
}

START_TEST(test_mtls_s_server)
{
    run(mtls_s_server_main, NULL);
    char want[1024];
    snprintf(want, sizeof want, MTLS_CLIENT_LOG, "olleh\n", "olleh\n");
    tu_assert_log(&LOG, want);
}
END_TEST

/* casyncio's server requiring a client certificate: the same answers as
 * s_server's for casyncio's and Python's clients, and s_client's with
 * one; the refused handshakes are not reported (an SSLError is reported
 * only in debug mode, as "Error on transport creation for incoming
 * connection", as Python 3.11 does: see tests/twins/tls_mtls.py). */
static void *mtls_server_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    ck_assert_int_eq(asyncio_ssl_context_set_verify_mode(sctx, ASYNCIO_SSL_CERT_REQUIRED), 0);
    ck_assert_int_eq(asyncio_ssl_context_load_verify_locations(sctx, certp("ca.pem"), NULL), 0);
    asyncio_stream_opts_t o = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv), 0);
    int port = server_port(srv);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        mtls_attempt(port, true, tls12, "hello\n");
        mtls_attempt(port, false, tls12, "hello\n");
    }
    py_client_says(port, "--cert",
                   "connected TLSv1.3 localhost\nreply b'echo: hello\\n'\n"
                   "info b'TLSv1.3 - casyncio client\\n'\nclosed\n");
    py_client_says(port, NULL,
                   "connected TLSv1.3 localhost\nerror SSLError [SSL: "
                   "TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required\n");
    s_client_talks(port, "hello\nbye\n", true, "echo: hello\n");
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    return NULL;
}

START_TEST(test_mtls_server)
{
    run(mtls_server_main, NULL);
    char want[1024];
    snprintf(want, sizeof want, MTLS_CLIENT_LOG, "echo: hello\n", "echo: hello\n");
    tu_assert_log(&LOG, want);
    tu_assert_log(&SLOG, "handler: TLSv1.3 - casyncio client\n"
                         "handler: TLSv1.2 - casyncio client\n"
                         "handler: TLSv1.3 - casyncio client\n"
                         "handler: TLSv1.3 - casyncio client\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ---------------------------------------------------------------------
 * Errors, as tests/twins/tls_errors.py prints Python's.
 * --------------------------------------------------------------------- */

/* Python's repr() of bytes, for the logs compared with the twins. */
static void logbytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    LOGF("b'");
    for (size_t i = 0; i < n; i++) {
        if (c[i] == '\n')
            LOGF("\\n");
        else if (c[i] == '\r')
            LOGF("\\r");
        else if (c[i] == '\'' || c[i] == '\\')
            LOGF("\\%c", c[i]);
        else if (c[i] < 32 || c[i] > 126)
            LOGF("\\x%02x", c[i]);
        else
            LOGF("%c", c[i]);
    }
    LOGF("'");
}

/* A connection that must fail: "<what>: <Type> <message>", with the
 * verify code of a certificate refused (Python's verify_code). */
static void connect_fails(const char *what, int port, asyncio_stream_opts_t *o)
{
    asyncio_stream_t *s = SENTINEL;
    int rc = asyncio_open_connection("127.0.0.1", port, o, &s);
    ck_assert_msg(rc != 0, "%s: connected", what);
    ck_assert_ptr_null(s);
    const asyncio_error_t *e = asyncio_error();
    ck_assert_int_eq(rc, e->code);
    LOGF("%s: ", what);
    if (strcmp(e->type, "SSLCertVerificationError") == 0) {
        /* Python's bases: SSLError (an OSError) and ValueError. */
        ck_assert(asyncio_error_matches("SSLError") && asyncio_error_matches("ValueError") &&
                  asyncio_error_matches("OSError"));
        ck_assert_int_eq(rc, ASYNCIO_ESSL);
        LOGF("%s %s (verify_code %d)\n", e->type, e->message, e->detail);
        asyncio_error_clear();
        return;
    }
    log_error(NULL);
}

/* A client's refusal of the server's certificate comes to the server
 * as the client's alert: an SSLError, not reported outside debug mode
 * (see test_mtls_server). */
static const char VERIFY_LOG[] =
    "self: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "self-signed certificate (verify_code 18)\n"
    "self-ip: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: self-signed certificate (verify_code 18)\n"
    "expired: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: certificate has expired (verify_code 10)\n"
    "expired-ip: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: certificate has expired (verify_code 10)\n"
    "other: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "Hostname mismatch, certificate is not valid for 'localhost'. (verify_code 62)\n"
    "other-ip: SSLCertVerificationError [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: IP address mismatch, certificate is not valid for '127.0.0.1'. (verify_code 64)\n";

/* Twin: tests/twins/tls_errors.py (verify).  Each refused certificate by
 * name (server_hostname "localhost") and by address (127.0.0.1). */
static void *verify_errors_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *cctx = client_ctx();
    long handles = asyncio__handle_count();
    static const char *const certs[] = {"self", "expired", "other"};
    for (int i = 0; i < 3; i++) {
        asyncio_ssl_context_t *sctx = server_ctx(certs[i]);
        asyncio_stream_opts_t so = {.ssl = sctx};
        asyncio_server_t *srv = NULL;
        ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
        asyncio_ssl_context_decref(sctx);
        asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
        connect_fails(certs[i], server_port(srv), &o);
        char what[32];
        snprintf(what, sizeof what, "%s-ip", certs[i]);
        o.server_hostname = NULL;
        connect_fails(what, server_port(srv), &o);
        ck_assert_int_eq(asyncio_sleep(0.02), 0); /* the server hears the alert */
        server_shutdown(srv);
    }
    assert_handles_back(handles);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_verify_errors)
{
    run(verify_errors_main, NULL);
    tu_assert_log(&LOG, VERIFY_LOG);
    tu_assert_log(&REPORTS, "");
    tu_assert_log(&SLOG, ""); /* no handler ran */
}
END_TEST

/* Plain servers that are not TLS peers. */
static void *garbage_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    asyncio_stream_write(s, resp, sizeof resp - 1);
    asyncio_stream_drain(s);
    asyncio_error_clear();
    return NULL;
}

/* Accepts and never answers: holds the connection until the client goes. */
static void *stall_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char b[4096];
    size_t n;
    while (asyncio_stream_read(s, b, sizeof b, &n) == 0 && n > 0)
        ;
    asyncio_error_clear();
    return NULL;
}

/* Writes its data, then aborts: no close_notify. */
static void *abrupt_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    ck_assert_int_eq(asyncio_stream_write(s, "data", 4), 0);
    ck_assert_int_eq(asyncio_stream_drain(s), 0);
    asyncio_transport_abort(asyncio_stream_transport(s));
    return NULL;
}

/* Twin: tests/twins/tls_errors.py (garbage, stall, abrupt, oversized). */
static void *peer_errors_main(void *arg)
{
    (void)arg;
    asyncio_ssl_context_t *cctx = client_ctx();
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    long handles = asyncio__handle_count();

    /* An HTTP server's answer instead of a ServerHello. */
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(garbage_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    connect_fails("garbage", server_port(srv), &o);
    server_shutdown(srv);

    /* A peer that never answers the ClientHello. */
    ck_assert_int_eq(asyncio_start_server(stall_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    o.ssl_handshake_timeout = 0.2;
    connect_fails("stall", server_port(srv), &o);
    o.ssl_handshake_timeout = 0.25;
    connect_fails("stall", server_port(srv), &o);
    o.ssl_handshake_timeout = 0;
    server_shutdown(srv);

    /* Data, then the end of the connection without close_notify: the
     * data, then EOF, no error (as Python's asyncio). */
    asyncio_ssl_context_t *sctx = server_ctx("server");
    asyncio_stream_opts_t so = {.ssl = sctx};
    ck_assert_int_eq(asyncio_start_server(abrupt_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    char buf[64];
    size_t n;
    LOGF("abrupt: ");
    ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    LOGF(" at_eof %s\n", TF(asyncio_stream_at_eof(s)));
    close_free(s);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);

    /* A record longer than TLS allows, after "hello". */
    peer_t p = py_server("oversized", NULL);
    s = connect_ok(p.port, &o);
    LOGF("oversized: ");
    ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
    logbytes(buf, n);
    LOGF(" ");
    ck_assert_int_ne(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
    ck_assert_uint_eq(n, 0);
    log_error(NULL);
    ck_assert(asyncio_stream_is_closing(s));
    asyncio_stream_close(s);
    LOGF("oversized: wait_closed ");
    if (asyncio_stream_wait_closed(s) == 0)
        LOGF("None\n");
    else
        log_error(NULL); /* the connection's error, as Python's */
    asyncio_stream_free(s);
    peer_stop(&p);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_peer_errors)
{
    run(peer_errors_main, NULL);
    tu_assert_log(&LOG, "garbage: SSLError [SSL: WRONG_VERSION_NUMBER] wrong version number\n"
                        "stall: ConnectionAbortedError SSL handshake is taking longer than 0.2 "
                        "seconds: aborting the connection\n"
                        "stall: ConnectionAbortedError SSL handshake is taking longer than 0.25 "
                        "seconds: aborting the connection\n"
                        "abrupt: b'data' b'' at_eof True\n"
                        "oversized: b'hello' SSLError [SSL: PACKET_LENGTH_TOO_LONG] packet length "
                        "too long\n"
                        "oversized: wait_closed SSLError [SSL: PACKET_LENGTH_TOO_LONG] packet "
                        "length too long\n");
}
END_TEST

/* Loading certificates and keys: casyncio's messages name the file, where
 * Python 3.11's do not ("[Errno 2] No such file or directory", "[SSL]
 * PEM lib": tests/twins/tls_errors.py prints them).  Logged as
 * "<what>: <Type> <message>" with the directory's path as CERTS. */
static void load_attempt(const char *what, int rc)
{
    LOGF("%s: ", what);
    if (rc == 0) {
        ck_assert_ptr_null(asyncio_error());
        LOGF("ok\n");
        return;
    }
    const asyncio_error_t *e = asyncio_error();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, rc);
    assert_python_message();
    /* The directory's path varies: CERTS stands for it. */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", e->message);
    char *at = strstr(msg, CERTS);
    if (at) {
        char rest[512];
        snprintf(rest, sizeof rest, "%s", at + strlen(CERTS));
        snprintf(at, sizeof msg - (size_t)(at - msg), "CERTS%s", rest);
    }
    LOGF("%s %s\n", e->type, msg);
    asyncio_error_clear();
}

START_TEST(test_load_errors)
{
    asyncio_ssl_context_t *c = asyncio_ssl_context_new(ASYNCIO_SSL_CLIENT_AUTH);
    ck_assert_ptr_nonnull(c);
    load_attempt("missing cert",
                 asyncio_ssl_context_load_cert_chain(c, "/nonexistent/cert.pem", NULL, NULL));
    load_attempt("missing key", asyncio_ssl_context_load_cert_chain(c, certp("server.pem"),
                                                                    "/nonexistent/key.pem", NULL));
    load_attempt("wrong password", asyncio_ssl_context_load_cert_chain(
                                       c, certp("server.pem"), certp("locked.key"), "wrong"));
    load_attempt("no password", asyncio_ssl_context_load_cert_chain(c, certp("server.pem"),
                                                                    certp("locked.key"), NULL));
    load_attempt("password", asyncio_ssl_context_load_cert_chain(c, certp("server.pem"),
                                                                 certp("locked.key"), "secret"));
    load_attempt("mismatch", asyncio_ssl_context_load_cert_chain(c, certp("server.pem"),
                                                                 certp("other.key"), NULL));
    load_attempt("key as cert",
                 asyncio_ssl_context_load_cert_chain(c, certp("server.key"), NULL, NULL));
    load_attempt("directory", asyncio_ssl_context_load_cert_chain(c, CERTS, NULL, NULL));
    load_attempt("missing cafile",
                 asyncio_ssl_context_load_verify_locations(c, "/nonexistent/ca.pem", NULL));
    load_attempt("key as cafile",
                 asyncio_ssl_context_load_verify_locations(c, certp("server.key"), NULL));
    load_attempt("ciphers", asyncio_ssl_context_set_ciphers(c, "NOPE"));
    asyncio_ssl_context_decref(c);
    c = asyncio_ssl_create_default_context(ASYNCIO_SSL_SERVER_AUTH);
    ck_assert_ptr_nonnull(c);
    load_attempt("CERT_NONE", asyncio_ssl_context_set_verify_mode(c, ASYNCIO_SSL_CERT_NONE));
    asyncio_ssl_context_decref(c);
    tu_assert_log(
        &LOG,
        "missing cert: FileNotFoundError [Errno 2] No such file or directory: "
        "'/nonexistent/cert.pem'\n"
        "missing key: FileNotFoundError [Errno 2] No such file or directory: "
        "'/nonexistent/key.pem'\n"
        "wrong password: SSLError [SSL: PEM_LIB] PEM lib: 'CERTS/locked.key'\n"
        /* Python asks on the terminal for the password it was not given. */
        "no password: SSLError [SSL: PEM_LIB] PEM lib: 'CERTS/locked.key'\n"
        "password: ok\n"
        "mismatch: SSLError [X509: KEY_VALUES_MISMATCH] key values mismatch: 'CERTS/other.key'\n"
        "key as cert: SSLError [SSL: PEM_LIB] PEM lib: 'CERTS/server.key'\n"
        "directory: IsADirectoryError [Errno 21] Is a directory: 'CERTS'\n"
        "missing cafile: FileNotFoundError [Errno 2] No such file or directory: "
        "'/nonexistent/ca.pem'\n"
        "key as cafile: SSLError [X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl "
        "found: 'CERTS/server.key'\n"
        /* Python's str() of this one is "('No cipher can be selected.',)". */
        "ciphers: SSLError No cipher can be selected.\n"
        "CERT_NONE: ValueError Cannot set verify_mode to CERT_NONE when check_hostname is "
        "enabled.\n");
}
END_TEST

/* Bad arguments: ValueError with a message, out-parameters cleared. */
static void *bad_input_main(void *arg)
{
    (void)arg;
    asyncio_ssl_context_t *cctx = client_ctx(), *sctx = server_ctx("server");
    asyncio_stream_t *s = SENTINEL;
    asyncio_server_t *srv = SENTINEL;
    asyncio_stream_opts_t o = {.ssl = sctx};
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "a server's SSL context (CLIENT_AUTH) cannot connect");
    ck_assert_ptr_null(s);
    o.ssl = cctx;
    expect_msg(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv), ASYNCIO_EVALUE,
               "ValueError", "a client's SSL context (SERVER_AUTH) cannot serve");
    ck_assert_ptr_null(srv);
    asyncio_stream_opts_t plain = {.server_hostname = "localhost"};
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &plain, &s), ASYNCIO_EVALUE, "ValueError",
               "server_hostname is only meaningful with ssl");
    o.ssl_handshake_timeout = -1;
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "ssl timeouts must be positive numbers");
    o.ssl_handshake_timeout = 0;
    o.ssl_shutdown_timeout = 0.0 / 0.0;
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "ssl timeouts must be positive numbers");
    o.ssl_shutdown_timeout = 0;
    expect_msg(asyncio_open_unix_connection("/nonexistent/tls.sock", &o, &s), ASYNCIO_EVALUE,
               "ValueError", "You must set server_hostname when using ssl without a host");
    o.ssl = sctx;
    o.server_hostname = "localhost";
    expect_msg(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv), ASYNCIO_EVALUE,
               "ValueError", "server_hostname is only meaningful for a client");

    /* A context that is gone, or never was one. */
    asyncio_ssl_context_t *gone = client_ctx();
    asyncio_ssl_context_decref(gone);
    o = (asyncio_stream_opts_t){.ssl = gone};
    expect_msg(asyncio_open_connection("127.0.0.1", 1, &o, &s), ASYNCIO_EVALUE, "ValueError",
               "not a live SSL context (freed, or never one)");
    expect_msg(asyncio_ssl_context_load_verify_locations(gone, certp("ca.pem"), NULL),
               ASYNCIO_EVALUE, "ValueError", "not a live SSL context (freed, or never one)");
    expect_msg(asyncio_ssl_context_set_check_hostname(NULL, true), ASYNCIO_EVALUE, "ValueError",
               "the SSL context is NULL");
    ck_assert_ptr_null(asyncio_ssl_context_ssl_ctx(gone));
    ck_assert_ptr_null(asyncio_ssl_context_incref(gone));
    assert_not_live("SSL context");
    asyncio_ssl_context_decref(NULL); /* harmless */
    ck_assert_ptr_eq(asyncio_ssl_context_incref(cctx), cctx);
    asyncio_ssl_context_decref(cctx);

    /* The settings' arguments. */
    ck_assert_ptr_null(asyncio_ssl_context_new((enum asyncio_ssl_purpose)42));
    expect_msg(ASYNCIO_EVALUE, ASYNCIO_EVALUE, "ValueError", "invalid purpose 42");
    expect_msg(asyncio_ssl_context_set_verify_mode(sctx, (enum asyncio_ssl_verify)7),
               ASYNCIO_EVALUE, "ValueError", "invalid value for verify_mode");
    expect_msg(asyncio_ssl_context_set_minimum_version(sctx, (enum asyncio_tls_version)0x0301),
               ASYNCIO_EVALUE, "ValueError", "unsupported TLS version 0x301");
    const char *empty[] = {"h2", ""};
    expect_msg(asyncio_ssl_context_set_alpn_protocols(sctx, empty, 2), ASYNCIO_EVALUE, "ValueError",
               "protocols[1] must be 1 to 255 bytes long");
    expect_msg(asyncio_ssl_context_set_alpn_protocols(sctx, NULL, 1), ASYNCIO_EVALUE, "ValueError",
               "protocols is NULL");
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(sctx, NULL, 0), 0);
    expect_msg(asyncio_ssl_context_load_cert_chain(sctx, NULL, NULL, NULL), ASYNCIO_EVALUE,
               "ValueError", "certfile is NULL");
    expect_msg(asyncio_ssl_context_load_verify_locations(sctx, NULL, NULL), ASYNCIO_EVALUE,
               "ValueError", "cafile and capath are both NULL");
    expect_msg(asyncio_ssl_context_set_ciphers(sctx, NULL), ASYNCIO_EVALUE, "ValueError",
               "ciphers is NULL");
    ck_assert_ptr_nonnull(asyncio_ssl_context_ssl_ctx(sctx));

    /* The extra info of a plain connection: nothing, and no error. */
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    s = connect_ok(server_port(srv), NULL);
    asyncio_transport_t *t = asyncio_stream_transport(s);
    asyncio_ssl_info_t info;
    memset(&info, 0x55, sizeof info);
    ck_assert_int_eq(asyncio_transport_ssl_info(t, &info), 0);
    ck_assert_ptr_null(info.version);
    ck_assert_ptr_null(info.cipher);
    ck_assert_str_eq(info.alpn_protocol, "");
    ck_assert(!info.session_reused);
    asyncio_peercert_t *c = SENTINEL;
    ck_assert_int_eq(asyncio_transport_getpeercert(t, &c), 0);
    ck_assert_ptr_null(c);
    ck_assert_ptr_null(asyncio_transport_ssl_object(t));
    ck_assert_ptr_null(asyncio_error());
    expect_msg(asyncio_transport_ssl_info(t, NULL), ASYNCIO_EVALUE, "ValueError", "info is NULL");
    expect_msg(asyncio_transport_getpeercert(t, NULL), ASYNCIO_EVALUE, "ValueError",
               "cert is NULL");
    memset(&info, 0x55, sizeof info);
    expect_msg(asyncio_transport_ssl_info(NULL, &info), ASYNCIO_EVALUE, "ValueError",
               "the transport is NULL");
    ck_assert_ptr_null(info.version);
    c = SENTINEL;
    expect_msg(asyncio_transport_getpeercert(NULL, &c), ASYNCIO_EVALUE, "ValueError",
               "the transport is NULL");
    ck_assert_ptr_null(c);
    ck_assert_ptr_null(asyncio_transport_ssl_object(NULL));
    expect_msg(ASYNCIO_EVALUE, ASYNCIO_EVALUE, "ValueError", "the transport is NULL");
    asyncio_peercert_free(NULL);
    close_free(s);
    server_shutdown(srv);
    asyncio_ssl_context_decref(cctx);
    asyncio_ssl_context_decref(sctx);
    return NULL;
}

START_TEST(test_bad_input)
{
    run(bad_input_main, NULL);
}
END_TEST

/* Failed handshakes on the server's side: the connection goes, and only
 * what is not an OSError is reported, unless the loop is in debug mode,
 * where everything is, as "Error on transport creation for incoming
 * connection" (Python 3.11's rule: see tests/twins/tls_mtls.py). */
static void *server_errors_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    asyncio_stream_opts_t so = {.ssl = sctx, .ssl_handshake_timeout = 0.2};
    asyncio_server_t *srv = NULL;
    char buf[256];
    size_t n;
    for (int debug = 0; debug < 2; debug++) {
        asyncio_loop_set_debug(asyncio_get_running_loop(), debug);
        ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
        int port = server_port(srv);
        /* A client that says nothing: the handshake times out. */
        asyncio_stream_t *s = connect_ok(port, NULL);
        ck_assert_int_eq(asyncio_stream_read(s, buf, sizeof buf, &n), 0);
        ck_assert_uint_eq(n, 0);
        close_free(s);
        /* A client that goes at once (once accepted: the next poll of
         * the loop finds the listener ready). */
        s = connect_ok(port, NULL);
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
        close_free(s);
        /* wait_closed: every connection has ended, its failure judged
         * in this pass's mode. */
        server_shutdown(srv);
        tu_logf(&REPORTS, "--\n");
    }
    /* Plain HTTP to a TLS port, in debug mode still: reported before the
     * connection closes. */
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_t *s = connect_ok(server_port(srv), NULL);
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    ck_assert_int_eq(asyncio_stream_write(s, req, sizeof req - 1), 0);
    while (asyncio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0)
        ;
    asyncio_error_clear();
    close_free(s);
    server_shutdown(srv);
    asyncio_loop_set_debug(asyncio_get_running_loop(), false);
    asyncio_ssl_context_decref(sctx);
    return NULL;
}

START_TEST(test_server_errors)
{
    run(server_errors_main, NULL);
    tu_assert_log(&REPORTS,
                  "--\n"
                  "Error on transport creation for incoming connection: ConnectionAbortedError: "
                  "SSL handshake is taking longer than 0.2 seconds: aborting the connection\n"
                  "Error on transport creation for incoming connection: ConnectionResetError: "
                  "Connection lost during the TLS handshake\n"
                  "--\n"
                  "Error on transport creation for incoming connection: SSLError: [SSL: "
                  "HTTP_REQUEST] http request\n");
    tu_assert_log(&SLOG, "");
}
END_TEST

/* ---------------------------------------------------------------------
 * STARTTLS on streams (twin: tests/twins/tls_starttls.py) and transports.
 * --------------------------------------------------------------------- */

/* A line without its "\r\n", appended to a log as " | "-joined facts. */
static void fact(tu_log_t *log, bool *first, const char *text)
{
    tu_logf(log, "%s%.*s", *first ? "" : " | ", (int)strcspn(text, "\r\n"), text);
    *first = false;
}

static void fact_error(tu_log_t *log, bool *first)
{
    char e[512];
    snprintf(e, sizeof e, "error %s %s", asyncio_error()->type, asyncio_error()->message);
    fact(log, first, e);
    asyncio_error_clear();
}

/* The server's side: greets, reads STARTTLS, answers, upgrades (arg: the
 * server's context), answers one line over TLS, waits for the end. */
static void *starttls_handler(asyncio_stream_t *s, void *arg)
{
    char line[128], out[160];
    size_t n;
    bool first = true;
    SLOGF("server: ");
    ck_assert_int_eq(asyncio_stream_write(s, "220 ready\r\n", 11), 0);
    if (asyncio_stream_readline(s, line, sizeof line, &n))
        goto failed;
    fact(&SLOG, &first, line);
    ck_assert_int_eq(asyncio_stream_write(s, "220 go ahead\r\n", 14), 0);
    /* A bound, so that a ClientHello lost ends the test with an error. */
    asyncio_stream_opts_t o = {.ssl_handshake_timeout = 10};
    if (asyncio_stream_start_tls(s, arg, &o))
        goto failed;
    fact(&SLOG, &first, info_of(s).version);
    if (asyncio_stream_readline(s, line, sizeof line, &n))
        goto failed;
    fact(&SLOG, &first, line);
    snprintf(out, sizeof out, "250 %s", line);
    ck_assert_int_eq(asyncio_stream_write(s, out, strlen(out)), 0);
    while (asyncio_stream_read(s, line, sizeof line, &n) == 0 && n > 0)
        ;
    asyncio_error_clear();
    SLOGF("\n");
    return NULL;
failed:
    fact_error(&SLOG, &first);
    SLOGF("\n");
    return NULL;
}

/* The client's side, logged to LOG. */
static void starttls_client(int port, asyncio_ssl_context_t *ctx)
{
    asyncio_stream_t *s = connect_ok(port, NULL);
    char line[128];
    size_t n;
    bool first = true;
    LOGF("client: ");
    ck_assert_int_eq(asyncio_stream_readline(s, line, sizeof line, &n), 0);
    fact(&LOG, &first, line);
    ck_assert_int_eq(asyncio_stream_write(s, "STARTTLS\r\n", 10), 0);
    ck_assert_int_eq(asyncio_stream_readline(s, line, sizeof line, &n), 0);
    fact(&LOG, &first, line);
    asyncio_stream_opts_t o = {.server_hostname = "localhost"};
    if (asyncio_stream_start_tls(s, ctx, &o)) {
        fact_error(&LOG, &first);
        LOGF("\n");
        /* Closed by the failure: wait_closed raises the same error. */
        ck_assert(asyncio_stream_is_closing(s));
        ck_assert_int_ne(asyncio_stream_wait_closed(s), 0);
        asyncio_error_clear();
        asyncio_stream_free(s);
        return;
    }
    fact(&LOG, &first, info_of(s).version);
    ck_assert_int_eq(asyncio_stream_write(s, "EHLO tls\r\n", 10), 0);
    ck_assert_int_eq(asyncio_stream_readline(s, line, sizeof line, &n), 0);
    fact(&LOG, &first, line);
    LOGF("\n");
    close_free(s);
}

static const char STARTTLS_CLIENT[] = "client: 220 ready | 220 go ahead | TLSv1.3 | 250 EHLO tls\n";
static const char STARTTLS_SERVER[] = "server: STARTTLS | TLSv1.3 | EHLO tls\n";

/* Twin: tests/twins/tls_starttls.py.  casyncio on both sides. */
static void *starttls_c_main(void *arg)
{
    (void)arg;
    capture_reports();
    long handles = asyncio__handle_count();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(starttls_handler, sctx, "127.0.0.1", 0, NULL, &srv), 0);
    starttls_client(server_port(srv), cctx);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    assert_handles_back(handles);
    return NULL;
}

START_TEST(test_starttls_c)
{
    run(starttls_c_main, NULL);
    tu_assert_log(&LOG, STARTTLS_CLIENT);
    tu_assert_log(&SLOG, STARTTLS_SERVER);
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* Clients that reset their connection right after their Finished: the
 * server's session tickets cannot be sent.  The handshake was reported
 * failed by the close and then successful, so the handler started on a
 * stream being freed (a double free: openssl s_time -new found it).  Each
 * must fail once, quietly, and the server go on serving. */
static void *handshake_reset_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    asyncio_stream_opts_t o = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    for (int proto = 0; proto < 2; proto++) {
        int rc = proto ? asyncio_create_server(&LINE_PROTO, NULL, "127.0.0.1", 0, &o, &srv)
                       : asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &o, &srv);
        ck_assert_int_eq(rc, 0);
        char ports[16], count[16];
        snprintf(ports, sizeof ports, "%d", server_port(srv));
        snprintf(count, sizeof count, "%ld", tu_scaled(200) > 10 ? tu_scaled(200) : 10);
        const char *argv[] = {PYTHON, peer_py(), "resets", CERTS, ports, count, NULL};
        char *out, *err;
        ck_assert_int_eq(run_program(argv, NULL, &out, &err), 0);
        ck_assert_msg(strncmp(out, "resets ", 7) == 0, "peer said: %s %s", out, err);
        asyncio_buffer_free(out);
        asyncio_buffer_free(err);
        py_client_says(server_port(srv), NULL,
                       proto ? "connected TLSv1.3 localhost\nreply b'echo: hello\\n'\ninfo b''\n"
                               "closed\n"
                             : "connected TLSv1.3 localhost\nreply b'echo: hello\\n'\n"
                               "info b'TLSv1.3 - -\\n'\nclosed\n");
        server_shutdown(srv);
    }
    asyncio_ssl_context_decref(sctx);
    return NULL;
}

START_TEST(test_handshake_reset)
{
    run(handshake_reset_main, NULL);
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* What a Python peer (a client) prints to its end. */
static void py_client_run(const char *mode, int port, tu_log_t *log)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    const char *argv[] = {PYTHON, peer_py(), mode, CERTS, ports, NULL};
    char *out, *err;
    ck_assert_int_eq(run_program(argv, NULL, &out, &err), 0);
    tu_logf(log, "%s", out);
    asyncio_buffer_free(out);
    asyncio_buffer_free(err);
}

/* Twin: tests/twins/tls_starttls.py.  casyncio's server with Python's
 * client, then casyncio's client with Python's server. */
static void *starttls_python_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(starttls_handler, sctx, "127.0.0.1", 0, NULL, &srv), 0);
    py_client_run("starttls-client", server_port(srv), &LOG);
    server_shutdown(srv);

    peer_t p = py_server("starttls-server", NULL);
    starttls_client(p.port, cctx);
    char line[256];
    size_t n;
    ck_assert_int_eq(asyncio_stream_readline(asyncio_process_stdout(p.p), line, sizeof line, &n),
                     0);
    tu_logf(&SLOG, "%s", line);
    peer_stop(&p);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_starttls_python)
{
    run(starttls_python_main, NULL);
    char want[256];
    snprintf(want, sizeof want, "%s%s", STARTTLS_CLIENT, STARTTLS_CLIENT);
    tu_assert_log(&LOG, want);
    snprintf(want, sizeof want, "%s%s", STARTTLS_SERVER, STARTTLS_SERVER);
    tu_assert_log(&SLOG, want);
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* The client sends "STARTTLS\r\n" and its ClientHello in one write
 * (peer.py early): the server's readline takes the line, start_tls
 * finds the ClientHello in what the reader had not consumed.  Python's
 * server stalls there (the twin shows it). */
static void *starttls_early_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(starttls_handler, sctx, "127.0.0.1", 0, NULL, &srv), 0);
    py_client_run("early", server_port(srv), &LOG);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    return NULL;
}

START_TEST(test_starttls_early)
{
    run(starttls_early_main, NULL);
    tu_assert_log(&LOG, "early: 220 ready | 220 go ahead | TLSv1.3 | 250 EHLO early\n");
    tu_assert_log(&SLOG, "server: STARTTLS | TLSv1.3 | EHLO early\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* Protocols for loop.start_tls: each side records what it received. */
typedef struct side {
    asyncio_transport_t *t;
    char got[4096];
    size_t len;
    bool lost;
    char lost_exc[64];
} side_t;

static side_t SERVER_SIDE; /* the server's connection (create_server's arg is NULL) */

static void side_made(asyncio_transport_t *t, void *user)
{
    side_t *sd = user ? user : &SERVER_SIDE;
    sd->t = t;
    if (!user)
        asyncio_transport_set_user(t, sd);
}

static void side_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)t;
    side_t *sd = user;
    ck_assert_uint_le(sd->len + len, sizeof sd->got - 1);
    memcpy(sd->got + sd->len, data, len);
    sd->len += len;
    sd->got[sd->len] = '\0';
}

static void side_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    side_t *sd = user;
    sd->lost = true;
    snprintf(sd->lost_exc, sizeof sd->lost_exc, "%s", exc ? exc->type : "None");
}

static const asyncio_protocol_t SIDE_PROTO = {side_made, side_data, NULL, side_lost, NULL, NULL};

typedef struct upgrade {
    asyncio_transport_t *t;
    asyncio_ssl_context_t *ctx;
    bool server_side;
    int rc;
} upgrade_t;

static void *t_upgrade(void *arg)
{
    upgrade_t *u = arg;
    asyncio_stream_opts_t o = {.server_hostname = u->server_side ? NULL : "localhost"};
    u->rc = asyncio_start_tls(u->t, u->ctx, u->server_side, &o);
    if (u->rc)
        LOGF("upgrade: %s %s\n", asyncio_error()->type, asyncio_error()->message);
    return NULL;
}

/* While the client's handshake runs: a write waits for it (counted in the
 * write buffer), and reading is paused. */
static void *t_during_handshake(void *arg)
{
    side_t *cli = arg;
    asyncio_ssl_info_t info;
    ck_assert_int_eq(asyncio_transport_ssl_info(cli->t, &info), 0);
    ck_assert_ptr_nonnull(info.version); /* a TLS layer, handshaking */
    asyncio_peercert_t *c = SENTINEL;
    ck_assert_int_eq(asyncio_transport_getpeercert(cli->t, &c), 0);
    ck_assert_ptr_null(c); /* not yet */
    ck_assert_int_eq(asyncio_transport_write(cli->t, "early-write", 11), 0);
    ck_assert_uint_eq(asyncio_transport_get_write_buffer_size(cli->t), 11);
    asyncio_transport_pause_reading(cli->t);
    return NULL;
}

static void wait_len(side_t *sd, size_t len)
{
    while (sd->len < len && !sd->lost)
        tu_yield();
    ck_assert_uint_eq(sd->len, len);
}

/* loop.start_tls on both ends of a plain connection, the connecting end
 * the TLS client (swap false) or the TLS server (swap true). */
static void *start_tls_transport_main(void *arg)
{
    (void)arg;
    capture_reports();
    long handles = asyncio__handle_count();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&SIDE_PROTO, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    for (int swap = 0; swap < 2; swap++) {
        memset(&SERVER_SIDE, 0, sizeof SERVER_SIDE);
        side_t cli = {0};
        asyncio_transport_t *t = NULL;
        ck_assert_int_eq(
            asyncio_create_connection(&SIDE_PROTO, &cli, "127.0.0.1", server_port(srv), NULL, &t),
            0);
        ck_assert_ptr_eq(cli.t, t);
        while (!SERVER_SIDE.t)
            tu_yield();
        /* Plain first: a line each way. */
        ck_assert_int_eq(asyncio_transport_write(t, "plain", 5), 0);
        wait_len(&SERVER_SIDE, 5);
        SERVER_SIDE.len = 0;
        /* The server's end pauses reading before the upgrade: it stays so. */
        asyncio_transport_pause_reading(SERVER_SIDE.t);
        upgrade_t us = {SERVER_SIDE.t, swap ? cctx : sctx, !swap, -1};
        upgrade_t uc = {t, swap ? sctx : cctx, swap, -1};
        asyncio_future_t *ts[3] = {tu_spawn(t_upgrade, &us), tu_spawn(t_upgrade, &uc),
                                   tu_spawn(t_during_handshake, &cli)};
        tu_gather_drop(ts, 3);
        ck_assert_int_eq(us.rc, 0);
        ck_assert_int_eq(uc.rc, 0);
        /* The same handles go on, over TLS. */
        asyncio_ssl_info_t info;
        ck_assert_int_eq(asyncio_transport_ssl_info(t, &info), 0);
        ck_assert_str_eq(info.version, "TLSv1.3");
        ck_assert_int_eq(asyncio_transport_ssl_info(SERVER_SIDE.t, &info), 0);
        ck_assert_str_eq(info.version, "TLSv1.3");
        asyncio_peercert_t *c;
        ck_assert_int_eq(asyncio_transport_getpeercert(swap ? SERVER_SIDE.t : t, &c), 0);
        ck_assert_str_eq(field(c->subject, c->subject_len, "commonName"), "localhost");
        asyncio_peercert_free(c);
        ck_assert(!asyncio_transport_is_reading(SERVER_SIDE.t));
        ck_assert(!asyncio_transport_is_reading(t));
        /* Paused: nothing comes, the handshake's data neither. */
        ck_assert_int_eq(asyncio_transport_write(t, "after", 5), 0);
        ck_assert_int_eq(asyncio_transport_write(SERVER_SIDE.t, "back", 4), 0);
        ck_assert_int_eq(asyncio_sleep(0.05), 0);
        ck_assert_uint_eq(SERVER_SIDE.len, 0);
        ck_assert_uint_eq(cli.len, 0);
        asyncio_transport_resume_reading(SERVER_SIDE.t);
        asyncio_transport_resume_reading(t);
        wait_len(&SERVER_SIDE, 16);
        ck_assert_str_eq(SERVER_SIDE.got, "early-writeafter");
        wait_len(&cli, 4);
        ck_assert_str_eq(cli.got, "back");
        /* A second upgrade is refused. */
        asyncio_stream_opts_t again = {.server_hostname = swap ? NULL : "localhost"};
        expect_msg(asyncio_start_tls(t, uc.ctx, swap, &again), ASYNCIO_ERUNTIME, "RuntimeError",
                   "the transport already speaks TLS");
        asyncio_transport_close(t);
        while (!cli.lost || !SERVER_SIDE.lost)
            tu_yield();
        ck_assert_str_eq(cli.lost_exc, "None");
        ck_assert_str_eq(SERVER_SIDE.lost_exc, "None");
    }
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    assert_handles_back(handles);
    return NULL;
}

START_TEST(test_start_tls_transport)
{
    run(start_tls_transport_main, NULL);
    tu_assert_log(&LOG, "");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* A task doing start_tls on a stream, for tests that cancel it. */
typedef struct stream_upgrade {
    asyncio_stream_t *s;
    asyncio_ssl_context_t *ctx;
    asyncio_stream_opts_t opts;
    int rc;
} stream_upgrade_t;

static void *t_stream_upgrade(void *arg)
{
    stream_upgrade_t *u = arg;
    u->rc = asyncio_stream_start_tls(u->s, u->ctx, &u->opts);
    return NULL;
}

/* A task reading a stream (for start_tls while another task reads). */
static void *t_read_one(void *arg)
{
    char b[8];
    size_t n;
    asyncio_stream_read(arg, b, sizeof b, &n);
    asyncio_error_clear();
    return NULL;
}

/* A stream's start_tls: its errors (Python's where Python has one: see
 * the report), cancellation and a failed handshake closing the
 * connection. */
static void *starttls_errors_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(stall_handler, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    int port = server_port(srv);
    asyncio_stream_opts_t named = {.server_hostname = "localhost"};

    asyncio_stream_t *s = connect_ok(port, NULL);
    expect_msg(asyncio_stream_start_tls(NULL, cctx, &named), ASYNCIO_EVALUE, "ValueError",
               "the stream is NULL");
    expect_msg(asyncio_stream_start_tls(s, NULL, &named), ASYNCIO_EVALUE, "ValueError",
               "the SSL context is NULL");
    expect_msg(asyncio_stream_start_tls(s, sctx, NULL), ASYNCIO_EVALUE, "ValueError",
               "a server's SSL context (CLIENT_AUTH) cannot connect");
    /* Python 3.11 goes on without checking any name. */
    expect_msg(asyncio_stream_start_tls(s, cctx, NULL), ASYNCIO_EVALUE, "ValueError",
               "check_hostname requires server_hostname");
    asyncio_stream_opts_t other = {.ssl = sctx, .server_hostname = "localhost"};
    expect_msg(asyncio_stream_start_tls(s, cctx, &other), ASYNCIO_EVALUE, "ValueError",
               "opts.ssl is not the context given");
    asyncio_stream_opts_t negative = {.server_hostname = "localhost", .ssl_handshake_timeout = -1};
    expect_msg(asyncio_stream_start_tls(s, cctx, &negative), ASYNCIO_EVALUE, "ValueError",
               "ssl timeouts must be positive numbers");
    /* Another task reading. */
    asyncio_future_t *reader = tu_spawn(t_read_one, s);
    tu_yield();
    expect_msg(asyncio_stream_start_tls(s, cctx, &named), ASYNCIO_ERUNTIME, "RuntimeError",
               "start_tls() called while another coroutine is waiting for incoming data");
    /* None of these touched the connection: still plain, still open. */
    ck_assert(!asyncio_stream_is_closing(s));
    asyncio_ssl_info_t info;
    ck_assert_int_eq(asyncio_transport_ssl_info(asyncio_stream_transport(s), &info), 0);
    ck_assert_ptr_null(info.version);
    close_free_after(s, reader);

    /* A closed stream: as Python, "Connection lost". */
    s = connect_ok(port, NULL);
    asyncio_stream_close(s);
    expect_msg(asyncio_stream_start_tls(s, cctx, &named), UV_ECONNRESET, "ConnectionResetError",
               "Connection lost");
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);

    /* A peer that never answers: the handshake times out, the connection
     * is closed. */
    s = connect_ok(port, NULL);
    asyncio_stream_opts_t quick = {.server_hostname = "localhost", .ssl_handshake_timeout = 0.2};
    expect_msg(asyncio_stream_start_tls(s, cctx, &quick), UV_ECONNABORTED, "ConnectionAbortedError",
               "SSL handshake is taking longer than 0.2 seconds: aborting the connection");
    ck_assert(asyncio_stream_is_closing(s));
    /* The connection's error (Python 3.11's reader waits forever). */
    char b[8];
    size_t n;
    expect_msg(asyncio_stream_read(s, b, sizeof b, &n), UV_ECONNABORTED, "ConnectionAbortedError",
               "SSL handshake is taking longer than 0.2 seconds: aborting the connection");
    expect_msg(asyncio_stream_wait_closed(s), UV_ECONNABORTED, "ConnectionAbortedError",
               "SSL handshake is taking longer than 0.2 seconds: aborting the connection");
    asyncio_stream_free(s);

    /* Cancelled during the handshake: the connection is closed (a half
     * done handshake cannot be resumed), the stream is still the
     * caller's to free. */
    s = connect_ok(port, NULL);
    stream_upgrade_t u = {s, cctx, {.server_hostname = "localhost"}, -1};
    asyncio_future_t *t = tu_spawn(t_stream_upgrade, &u);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_gather(&t, 1, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert(asyncio_cancelled(t));
    ck_assert_int_eq(u.rc, ASYNCIO_ECANCELLED);
    asyncio_decref(t);
    ck_assert(asyncio_stream_is_closing(s));
    ck_assert_int_eq(asyncio_stream_wait_closed(s), 0);
    asyncio_stream_free(s);
    server_shutdown(srv);

    /* A certificate refused: the error, then the connection is closed. */
    asyncio_ssl_context_t *self = server_ctx("self");
    ck_assert_int_eq(asyncio_start_server(starttls_handler, self, "127.0.0.1", 0, NULL, &srv), 0);
    memset(&SLOG, 0, sizeof SLOG);
    starttls_client(server_port(srv), cctx);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    server_shutdown(srv);
    asyncio_ssl_context_decref(self);

    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_starttls_errors)
{
    run(starttls_errors_main, NULL);
    tu_assert_log(&LOG, "client: 220 ready | 220 go ahead | error SSLCertVerificationError "
                        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                        "certificate\n");
    tu_assert_log(&SLOG, "server: STARTTLS | error SSLError [SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 "
                         "alert unknown ca\n");
    tu_assert_log(&REPORTS, "");
    /* Outside a task. */
    asyncio_ssl_context_t *c = asyncio_ssl_context_new(ASYNCIO_SSL_SERVER_AUTH);
    expect_msg(asyncio_stream_start_tls(NULL, c, NULL), ASYNCIO_ERUNTIME, "RuntimeError",
               "no running event loop");
    expect_msg(asyncio_start_tls(NULL, c, false, NULL), ASYNCIO_ERUNTIME, "RuntimeError",
               "no running event loop");
    asyncio_ssl_context_decref(c);
}
END_TEST

/* loop.start_tls's errors; a cancelled or failed upgrade closes the
 * transport (connection_lost follows), as Python's. */
static void *start_tls_errors_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_create_server(&SIDE_PROTO, NULL, "127.0.0.1", 0, NULL, &srv), 0);
    asyncio_stream_opts_t named = {.server_hostname = "localhost"};
    memset(&SERVER_SIDE, 0, sizeof SERVER_SIDE);
    side_t cli = {0};
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&SIDE_PROTO, &cli, "127.0.0.1", server_port(srv), NULL, &t), 0);
    expect_msg(asyncio_start_tls(NULL, cctx, false, &named), ASYNCIO_EVALUE, "ValueError",
               "the transport is NULL");
    expect_msg(asyncio_start_tls(t, NULL, false, &named), ASYNCIO_EVALUE, "ValueError",
               "the SSL context is NULL");
    expect_msg(asyncio_start_tls(t, cctx, true, NULL), ASYNCIO_EVALUE, "ValueError",
               "a client's SSL context (SERVER_AUTH) cannot serve");
    expect_msg(asyncio_start_tls(t, sctx, false, &named), ASYNCIO_EVALUE, "ValueError",
               "a server's SSL context (CLIENT_AUTH) cannot connect");
    expect_msg(asyncio_start_tls(t, cctx, false, NULL), ASYNCIO_EVALUE, "ValueError",
               "check_hostname requires server_hostname");
    expect_msg(asyncio_start_tls(t, sctx, true, &named), ASYNCIO_EVALUE, "ValueError",
               "server_hostname is only meaningful for a client");
    ck_assert(!asyncio_transport_is_closing(t));

    /* Cancelled while the peer (still plain) does not answer. */
    upgrade_t u = {t, cctx, false, -1};
    asyncio_future_t *f = tu_spawn(t_upgrade, &u);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_cancel(f, NULL));
    ck_assert_int_eq(asyncio_gather(&f, 1, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert(asyncio_cancelled(f));
    asyncio_decref(f);
    ck_assert_int_eq(u.rc, ASYNCIO_ECANCELLED);
    while (!cli.lost || !SERVER_SIDE.lost)
        tu_yield();
    ck_assert_str_eq(cli.lost_exc, "None");

    /* A closing transport: "Connection lost". */
    memset(&SERVER_SIDE, 0, sizeof SERVER_SIDE);
    memset(&cli, 0, sizeof cli);
    ck_assert_int_eq(
        asyncio_create_connection(&SIDE_PROTO, &cli, "127.0.0.1", server_port(srv), NULL, &t), 0);
    asyncio_transport_close(t);
    expect_msg(asyncio_start_tls(t, cctx, false, &named), UV_ECONNRESET, "ConnectionResetError",
               "Connection lost");
    while (!cli.lost || !SERVER_SIDE.lost)
        tu_yield();
    /* Gone: a handle no longer live. */
    expect_msg(asyncio_start_tls(t, cctx, false, &named), ASYNCIO_EVALUE, "ValueError",
               "not a live transport (freed, or never one)");
    server_shutdown(srv);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_start_tls_errors)
{
    run(start_tls_errors_main, NULL);
    tu_assert_log(&LOG, "upgrade: CancelledError \n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ---------------------------------------------------------------------
 * Streams over TLS: limits, shutdown, write_eof, close and abort, pause
 * and resume, volume with a slow reader.
 * --------------------------------------------------------------------- */

static void *limit_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    asyncio_stream_write(s, "0123456789\nab\n", 14);
    asyncio_stream_drain(s);
    asyncio_error_clear();
    return NULL;
}

#define BIG_LINE ((size_t)200000)

/* A line of BIG_LINE bytes, then a chunk ending in "<END>" whose separator
 * straddles two records (the first record ends after "<E"). */
static void *big_line_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char *line = malloc(BIG_LINE);
    for (size_t i = 0; i < BIG_LINE - 1; i++)
        line[i] = (char)('a' + i % 26);
    line[BIG_LINE - 1] = '\n';
    asyncio_stream_write(s, line, BIG_LINE);
    memset(line, '.', 16384 - 2);
    memcpy(line + 16384 - 2, "<E", 2);
    asyncio_stream_write(s, line, 16384); /* one record */
    asyncio_stream_write(s, "ND>", 3);    /* the next */
    free(line);
    asyncio_stream_drain(s);
    char b[8];
    size_t n;
    asyncio_stream_read(s, b, sizeof b, &n); /* until the client goes */
    asyncio_error_clear();
    return NULL;
}

/* Twin: tests/twins/tls_stream.py (limit_overrun, shutdown). */
static void *stream_over_tls_main(void *arg)
{
    (void)arg;
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(limit_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost", .limit = 8};
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    char buf[64];
    size_t n = 0;
    LOGF("limit_overrun ");
    ck_assert_int_eq(asyncio_stream_readuntil(s, "\n", 1, buf, sizeof buf, &n),
                     ASYNCIO_ELIMITOVERRUN);
    const asyncio_error_t *e = asyncio_catch("LimitOverrunError");
    ck_assert_ptr_nonnull(e);
    LOGF("LimitOverrunError(%s, consumed=%d)", e->message, e->detail);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), ASYNCIO_EVALUE);
    e = asyncio_catch("ValueError");
    LOGF(" ValueError(%s)", e->message);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    ck_assert_int_eq(asyncio_stream_readline(s, buf, sizeof buf, &n), 0);
    LOGF(" ");
    logbytes(buf, n);
    LOGF("\n");
    close_free(s);
    server_shutdown(srv);

    /* A line of 200,000 bytes comes in records of 16 KiB at most: readline
     * and readuntil (a separator split across records) put it together. */
    ck_assert_int_eq(asyncio_start_server(big_line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    o = (asyncio_stream_opts_t){.ssl = cctx, .server_hostname = "localhost", .limit = 256 * 1024};
    s = connect_ok(server_port(srv), &o);
    char *line = malloc(BIG_LINE + 16);
    ck_assert_int_eq(asyncio_stream_readline(s, line, BIG_LINE + 16, &n), 0);
    ck_assert_uint_eq(n, BIG_LINE);
    for (size_t i = 0; i < BIG_LINE - 1; i++)
        ck_assert_int_eq(line[i], 'a' + (int)(i % 26));
    ck_assert_int_eq(line[BIG_LINE - 1], '\n');
    ck_assert_int_eq(asyncio_stream_readuntil(s, "<END>", 5, line, BIG_LINE + 16, &n), 0);
    ck_assert_uint_eq(n, 16384 - 2 + 5);
    ck_assert_int_eq(memcmp(line + n - 5, "<END>", 5), 0);
    free(line);
    close_free(s);
    server_shutdown(srv);

    /* A peer that never answers close_notify: wait_closed raises once the
     * shutdown times out. */
    peer_t p = py_server("mute", NULL);
    o = (asyncio_stream_opts_t){
        .ssl = cctx, .server_hostname = "localhost", .ssl_shutdown_timeout = 0.2};
    s = connect_ok(p.port, &o);
    asyncio_stream_close(s);
    /* Closing from close() on, while close_notify waits for an answer. */
    ck_assert(asyncio_stream_is_closing(s));
    ck_assert(asyncio_transport_is_closing(asyncio_stream_transport(s)));
    LOGF("shutdown: wait_closed ");
    ck_assert_int_ne(asyncio_stream_wait_closed(s), 0);
    log_error(NULL);
    asyncio_stream_free(s);
    peer_stop(&p);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_stream_over_tls)
{
    run(stream_over_tls_main, NULL);
    tu_assert_log(&LOG, "limit_overrun LimitOverrunError(Separator is found, but chunk is longer "
                        "than limit, consumed=10) ValueError(Separator is found, but chunk is "
                        "longer than limit) b'ab\\n' b''\n"
                        "shutdown: wait_closed TimeoutError SSL shutdown timed out\n");
}
END_TEST

/* Reads to EOF, then tries to answer: over TLS the peer's close_notify
 * starts this side's shutdown (as Python's sslproto does), so the answer
 * is dropped. */
static void *eof_then_answer(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    char *data;
    size_t n;
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    SLOGF("server: read %s, at_eof %s", data, TF(asyncio_stream_at_eof(s)));
    asyncio_buffer_free(data);
    int rc = asyncio_stream_write(s, "pong", 4);
    SLOGF(", write %d", rc);
    rc = asyncio_stream_drain(s);
    SLOGF(", drain %s\n", rc ? asyncio_error()->type : "None");
    asyncio_error_clear();
    return NULL;
}

/* write_eof over TLS sends close_notify (Python 3.11 raises
 * NotImplementedError: tests/twins/tls_stream.py).  A casyncio or Python
 * peer sees EOF and shuts down in turn; a peer that keeps writing after
 * the close_notify (peer.py halfclose, TLS's half-close) is read to its
 * end. */
static void *write_eof_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(eof_then_answer, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    ck_assert(asyncio_stream_can_write_eof(s)); /* Python: False */
    ck_assert_int_eq(asyncio_stream_write(s, "ping", 4), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(s), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(s), 0); /* again: harmless */
    expect_msg(asyncio_stream_write(s, "x", 1), ASYNCIO_ERUNTIME, "RuntimeError",
               "Cannot call write() after write_eof()");
    char *data;
    size_t n;
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    LOGF("client: read '%s'\n", data);
    asyncio_buffer_free(data);
    close_free(s);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    server_shutdown(srv);

    peer_t p = py_server("halfclose", NULL);
    s = connect_ok(p.port, &o);
    ck_assert_int_eq(asyncio_stream_write(s, "ping", 4), 0);
    ck_assert_int_eq(asyncio_stream_write_eof(s), 0);
    ck_assert_int_eq(asyncio_stream_read_all(s, &data, &n), 0);
    LOGF("half-close: read '%s'\n", data);
    asyncio_buffer_free(data);
    close_free(s);
    peer_stop(&p);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_write_eof)
{
    run(write_eof_main, NULL);
    tu_assert_log(&LOG, "client: read ''\nhalf-close: read 'pong:ping'\n");
    tu_assert_log(&SLOG, "server: read ping, at_eof True, write 0, drain ConnectionResetError\n");
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* A TLS client over a protocol for the flow tests: counts what comes,
 * pauses itself after each delivery when asked, and says whether data
 * came while it was paused. */
typedef struct counter {
    asyncio_transport_t *t;
    size_t received;
    bool pause_each;   /* pause_reading inside every data_received */
    bool paused;       /* as far as the protocol knows */
    long during_pause; /* data_received calls while paused: must stay 0 */
    long deliveries;
    bool eof, lost;
    char lost_exc[64];
} counter_t;

static void ct_made(asyncio_transport_t *t, void *user)
{
    ((counter_t *)user)->t = t;
}

static void ct_data(asyncio_transport_t *t, const char *data, size_t len, void *user)
{
    (void)data;
    counter_t *c = user;
    if (c->paused)
        c->during_pause++;
    c->received += len;
    c->deliveries++;
    if (c->pause_each) {
        asyncio_transport_pause_reading(t);
        c->paused = true;
    }
}

static bool ct_eof(asyncio_transport_t *t, void *user)
{
    (void)t;
    ((counter_t *)user)->eof = true;
    return false;
}

static void ct_lost(asyncio_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    counter_t *c = user;
    c->lost = true;
    snprintf(c->lost_exc, sizeof c->lost_exc, "%s", exc ? exc->type : "None");
}

static const asyncio_protocol_t COUNTER_PROTO = {ct_made, ct_data, ct_eof, ct_lost, NULL, NULL};

/* Writes arg bytes (a size_t *) of 'x' and closes. */
static void *bulk_handler(asyncio_stream_t *s, void *arg)
{
    size_t total = *(size_t *)arg, sent = 0;
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    while (sent < total) {
        size_t n = total - sent < sizeof chunk ? total - sent : sizeof chunk;
        if (asyncio_stream_write(s, chunk, n) || asyncio_stream_drain(s))
            break;
        sent += n;
    }
    asyncio_error_clear();
    return NULL;
}

/* Counts what it reads until EOF into *arg (a size_t *). */
static void *count_handler(asyncio_stream_t *s, void *arg)
{
    char buf[65536];
    size_t n;
    while (asyncio_stream_read(s, buf, sizeof buf, &n) == 0 && n > 0)
        *(size_t *)arg += n;
    asyncio_error_clear();
    SLOGF("count_handler: %zu\n", *(size_t *)arg);
    return NULL;
}

/* pause_reading over TLS, from outside and from inside data_received
 * (with records still decrypted or buffered in the layer): no delivery
 * while paused, everything after resume_reading. */
static void *pause_resume_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    size_t total = 4 * 1024 * 1024;
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(bulk_handler, &total, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    counter_t c = {0};
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&COUNTER_PROTO, &c, "127.0.0.1", server_port(srv), &o, &t), 0);
    /* Paused from outside at once: nothing comes. */
    asyncio_transport_pause_reading(t);
    c.paused = true;
    ck_assert(!asyncio_transport_is_reading(t));
    ck_assert_int_eq(asyncio_sleep(0.1), 0);
    ck_assert_uint_eq(c.received, 0);
    /* Then paused from inside every delivery, resumed from here. */
    c.pause_each = true;
    long resumes = 0;
    while (!c.lost) {
        c.paused = false;
        asyncio_transport_resume_reading(t);
        resumes++;
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    }
    ck_assert_uint_eq(c.received, total);
    ck_assert_int_eq(c.during_pause, 0);
    ck_assert(c.eof);
    ck_assert_str_eq(c.lost_exc, "None");
    ck_assert_int_ge(resumes, c.deliveries);
    ck_assert_int_gt(c.deliveries, 4); /* 64 KiB at most per delivery */
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_pause_resume)
{
    run(pause_resume_main, NULL);
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* close() after a big write sends it all, then close_notify: the peer
 * reads every byte, then EOF.  abort() drops what is buffered and sends
 * no close_notify: the peer sees the end of the connection all the same
 * (no error: a missing close_notify is an EOF).  wait_closed ends once
 * the shutdown is over. */
static void *close_abort_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();
    size_t counted = 0;
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(count_handler, &counted, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    size_t big = 16 * 1024 * 1024; /* more than the sockets hold */
    char *data = calloc(1, big);

    /* Streams: close after a write bigger than the kernel takes at once. */
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    ck_assert_int_eq(asyncio_stream_write(s, data, big), 0);
    ck_assert_uint_gt(asyncio_transport_get_write_buffer_size(asyncio_stream_transport(s)), 0);
    close_free(s);
    for (int i = 0; i < 1000 && counted < big; i++)
        ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_uint_eq(counted, big);

    /* Protocols: close, then abort with data buffered. */
    for (int abort = 0; abort < 2; abort++) {
        counted = 0;
        counter_t c = {0};
        asyncio_transport_t *t = NULL;
        ck_assert_int_eq(
            asyncio_create_connection(&COUNTER_PROTO, &c, "127.0.0.1", server_port(srv), &o, &t),
            0);
        ck_assert_int_eq(asyncio_transport_write(t, data, big), 0);
        if (abort)
            asyncio_transport_abort(t);
        else
            asyncio_transport_close(t);
        ck_assert(asyncio_transport_is_closing(t));
        while (!c.lost)
            tu_yield();
        ck_assert_str_eq(c.lost_exc, "None");
        ck_assert(!c.eof);
        if (!abort) {
            for (int i = 0; i < 1000 && counted < big; i++)
                ck_assert_int_eq(asyncio_sleep(0.01), 0);
            ck_assert_uint_eq(counted, big);
        } else {
            ck_assert_int_eq(asyncio_sleep(0.05), 0);
            ck_assert_uint_lt(counted, big); /* dropped */
        }
    }
    free(data);
    server_shutdown(srv);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_close_abort)
{
    run(close_abort_main, NULL);
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ---- volume: a deterministic byte stream each way, a slow reader */

/* xorshift64*: the bytes of direction `dir`, regenerated by the reader. */
typedef struct gen {
    uint64_t state;
    uint64_t word;
    int left;
} gen_t;

static void gen_init(gen_t *g, int dir)
{
    g->state = 0x9E3779B97F4A7C15ull * (uint64_t)(dir + 1);
    g->left = 0;
}

static unsigned char gen_byte(gen_t *g)
{
    if (g->left == 0) {
        g->state ^= g->state >> 12;
        g->state ^= g->state << 25;
        g->state ^= g->state >> 27;
        g->word = g->state * 0x2545F4914F6CDD1Dull;
        g->left = 8;
    }
    unsigned char b = (unsigned char)g->word;
    g->word >>= 8;
    g->left--;
    return b;
}

typedef struct volume {
    size_t total;
    size_t max_buffer[2]; /* the writer's transport buffer, after each write */
    bool blocked[2];      /* the writer went above the high-water mark */
    bool written[2];
    size_t read[2];
    uint64_t sum[2][2]; /* [dir][writer, reader]: FNV-1a of the stream */
} volume_t;

static volume_t VOL;

#define VOL_CHUNK ((size_t)65536)

static void fnv(uint64_t *h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ p[i]) * 0x100000001B3ull;
}

typedef struct vol_end {
    asyncio_stream_t *s;
    int dir; /* 0: client to server, 1: server to client */
} vol_end_t;

static void *vol_writer(void *arg)
{
    vol_end_t *e = arg;
    asyncio_transport_t *t = asyncio_stream_transport(e->s);
    size_t high, low;
    asyncio_transport_get_write_buffer_limits(t, &high, &low);
    gen_t g;
    gen_init(&g, e->dir);
    static unsigned char chunks[2][VOL_CHUNK];
    unsigned char *chunk = chunks[e->dir];
    VOL.sum[e->dir][0] = 0xCBF29CE484222325ull;
    for (size_t sent = 0; sent < VOL.total;) {
        size_t n = VOL.total - sent < VOL_CHUNK ? VOL.total - sent : VOL_CHUNK;
        for (size_t i = 0; i < n; i++)
            chunk[i] = gen_byte(&g);
        fnv(&VOL.sum[e->dir][0], chunk, n);
        ck_assert_int_eq(asyncio_stream_write(e->s, chunk, n), 0);
        size_t buffered = asyncio_transport_get_write_buffer_size(t);
        if (buffered > VOL.max_buffer[e->dir])
            VOL.max_buffer[e->dir] = buffered;
        if (buffered > high)
            VOL.blocked[e->dir] = true;
        ck_assert_int_eq(asyncio_stream_drain(e->s), 0);
        sent += n;
    }
    VOL.written[e->dir] = true;
    return NULL;
}

/* Waits until the writer had to wait for it (or is done), then reads,
 * checking every byte, with a pause every few reads. */
static void vol_reader(asyncio_stream_t *s, int dir)
{
    while (!VOL.blocked[dir] && !VOL.written[dir])
        ck_assert_int_eq(asyncio_sleep(0.005), 0);
    gen_t g;
    gen_init(&g, dir);
    VOL.sum[dir][1] = 0xCBF29CE484222325ull;
    static unsigned char bufs[2][VOL_CHUNK];
    unsigned char *buf = bufs[dir];
    long reads = 0;
    while (VOL.read[dir] < VOL.total) {
        size_t n;
        int rc = asyncio_stream_read(s, buf, VOL_CHUNK, &n);
        ck_assert_msg(rc == 0 && n > 0, "read: %d %s", rc, tu_raised_message());
        for (size_t i = 0; i < n; i++)
            if (buf[i] != gen_byte(&g))
                ck_abort_msg("byte %zu of direction %d differs", VOL.read[dir] + i, dir);
        fnv(&VOL.sum[dir][1], buf, n);
        VOL.read[dir] += n;
        if (++reads % 8 == 0)
            ck_assert_int_eq(asyncio_sleep(0.001), 0); /* the slow reader */
    }
}

static void *vol_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    vol_end_t e = {s, 1};
    asyncio_future_t *w = tu_spawn(vol_writer, &e);
    vol_reader(s, 0);
    ck_assert_int_eq(asyncio_gather(&w, 1, NULL, 0), 0);
    asyncio_decref(w);
    return NULL;
}

static void *volume_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    asyncio_stream_opts_t so = {.ssl = sctx};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(vol_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    vol_end_t e = {s, 0};
    asyncio_future_t *w = tu_spawn(vol_writer, &e);
    vol_reader(s, 1);
    ck_assert_int_eq(asyncio_gather(&w, 1, NULL, 0), 0);
    asyncio_decref(w);
    /* The server's side is done once its handler returns: EOF here. */
    char b[16];
    size_t n;
    ck_assert_int_eq(asyncio_stream_read(s, b, sizeof b, &n), 0);
    ck_assert_uint_eq(n, 0);
    close_free(s);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_volume)
{
    memset(&VOL, 0, sizeof VOL);
    VOL.total = (size_t)tu_scaled(64L * 1024 * 1024);
    run(volume_main, NULL);
    /* The bound: the high-water mark, plus the chunk written last and its
     * records' overhead (22 bytes per 16 KiB record in TLS 1.3), with
     * room to spare; unbounded buffering would hold megabytes. */
    size_t bound = ASYNCIO_WRITE_HIGH_WATER + VOL_CHUNK + 4096;
    for (int dir = 0; dir < 2; dir++) {
        fprintf(stderr, "volume: direction %d, %zu bytes, write buffer at most %zu (bound %zu)%s\n",
                dir, VOL.total, VOL.max_buffer[dir], bound,
                VOL.blocked[dir] ? ", the writer waited" : "");
        ck_assert_uint_eq(VOL.read[dir], VOL.total);
        ck_assert(VOL.sum[dir][0] == VOL.sum[dir][1]);
        ck_assert_uint_le(VOL.max_buffer[dir], bound);
        /* Megabytes fill the sockets' buffers: the writer must have waited
         * for the slow reader (scaled down under Valgrind it may not). */
        if (VOL.total >= 32L * 1024 * 1024)
            ck_assert(VOL.blocked[dir]);
    }
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ---------------------------------------------------------------------
 * Many connections at once.
 * --------------------------------------------------------------------- */

static asyncio_ssl_context_t *MANY_CTX;
static int MANY_PORT;
static long MANY_OK;

static void *many_client(void *arg)
{
    long i = PI(arg);
    asyncio_stream_opts_t o = {.ssl = MANY_CTX, .server_hostname = "localhost"};
    asyncio_stream_t *s = NULL;
    int rc = asyncio_open_connection("127.0.0.1", MANY_PORT, &o, &s);
    ck_assert_msg(rc == 0, "client %ld: %s", i, tu_raised_message());
    char msg[64], buf[64];
    snprintf(msg, sizeof msg, "message %ld\n", i);
    round_trip(s, msg, buf, sizeof buf);
    ck_assert_str_eq(buf, msg);
    close_free(s);
    MANY_OK++;
    return NULL;
}

static void *many_main(void *arg)
{
    long n = PI(arg);
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server");
    MANY_CTX = client_ctx();
    asyncio_stream_opts_t so = {.ssl = sctx, .backlog = 2048};
    asyncio_server_t *srv = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    MANY_PORT = server_port(srv);
    asyncio_future_t **ts = calloc((size_t)n, sizeof *ts);
    for (long i = 0; i < n; i++)
        ts[i] = tu_spawn(many_client, IP(i));
    ck_assert_int_eq(asyncio_gather(ts, (size_t)n, NULL, 0), 0);
    tu_decref_all(ts, (size_t)n);
    free(ts);
    ck_assert_int_eq(MANY_OK, n);
    server_shutdown(srv);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(MANY_CTX);
    return NULL;
}

/* 1,000 TLS connections at once to one server, each echoing its line
 * (tu_scaled: fewer under Valgrind and TSan). */
START_TEST(test_many_connections)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    long n = tu_scaled(1000);
    long fit = ((long)rl.rlim_cur - 64) / 2;
    if (n > fit)
        n = fit;
    MANY_OK = 0;
    run(many_main, IP(n));
    tu_assert_log(&REPORTS, "");
}
END_TEST

/* ---------------------------------------------------------------------
 * Cancellation, and the loop closing with TLS connections open.
 * --------------------------------------------------------------------- */

typedef struct opener {
    int port;
    asyncio_stream_opts_t opts;
    asyncio_stream_t *s;
    int rc;
} opener_t;

static void *t_open(void *arg)
{
    opener_t *o = arg;
    o->s = SENTINEL;
    o->rc = asyncio_open_connection("127.0.0.1", o->port, &o->opts, &o->s);
    return NULL;
}

/* Reads nothing more after the handshake: close_notify is not answered
 * (its transport does not read), the connection is held until the peer
 * goes. */
/* Connections the deaf handler has stopped reading: a client waits for
 * its own before it sends, or a slow server (Valgrind) could read the
 * client's close_notify before its handler runs, and answer it. */
static int DEAF_READY;

static void *deaf_handler(asyncio_stream_t *s, void *arg)
{
    (void)arg;
    asyncio_transport_pause_reading(asyncio_stream_transport(s));
    DEAF_READY++;
    asyncio_stream_wait_closed(s);
    asyncio_error_clear();
    return NULL;
}

static void *cancel_main(void *arg)
{
    (void)arg;
    capture_reports();
    asyncio_ssl_context_t *sctx = server_ctx("server"), *cctx = client_ctx();
    long handles = asyncio__handle_count();

    /* open_connection cancelled during the handshake. */
    asyncio_server_t *stall = NULL;
    ck_assert_int_eq(asyncio_start_server(stall_handler, NULL, "127.0.0.1", 0, NULL, &stall), 0);
    opener_t op = {server_port(stall), {.ssl = cctx, .server_hostname = "localhost"}, NULL, -1};
    asyncio_future_t *t = tu_spawn(t_open, &op);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_gather(&t, 1, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert(asyncio_cancelled(t));
    asyncio_decref(t);
    ck_assert_int_eq(op.rc, ASYNCIO_ECANCELLED);
    ck_assert_ptr_null(op.s);
    server_shutdown(stall);

    /* A TLS server closed with a connection handshaking (a client that
     * sends no ClientHello): wait_closed waits for it (until the
     * handshake's timeout), close_clients ends it; no handler runs. */
    asyncio_server_t *srv = NULL;
    asyncio_stream_opts_t so = {.ssl = sctx};
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_t *raw = connect_ok(server_port(srv), NULL);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    asyncio_server_close(srv);
    t = tu_spawn(t_server_wait_closed, srv);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(!asyncio_done(t));
    asyncio_server_close_clients(srv);
    ck_assert_int_eq(asyncio_gather(&t, 1, NULL, 0), 0);
    asyncio_decref(t);
    asyncio_server_free(srv);
    char b[8];
    size_t n;
    int rc = asyncio_stream_read(raw, b, sizeof b, &n); /* EOF, or a reset */
    ck_assert(rc != 0 || n == 0);
    asyncio_error_clear();
    close_free(raw);

    /* wait_closed cancelled while the shutdown waits for close_notify;
     * the stream is still the caller's to free, its shutdown goes on
     * until its timeout (then the deaf server's connections end). */
    ck_assert_int_eq(asyncio_start_server(deaf_handler, NULL, "127.0.0.1", 0, &so, &srv), 0);
    asyncio_stream_opts_t o = {.ssl = cctx, .server_hostname = "localhost"};
    DEAF_READY = 0;
    asyncio_stream_t *s = connect_ok(server_port(srv), &o);
    while (DEAF_READY < 1)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_int_eq(asyncio_stream_write(s, "x", 1), 0);
    asyncio_stream_close(s);
    t = tu_spawn(t_wait_closed, s);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    ck_assert(!asyncio_done(t)); /* the peer does not answer (30 s to go) */
    ck_assert(asyncio_cancel(t, NULL));
    ck_assert_int_eq(asyncio_gather(&t, 1, NULL, ASYNCIO_RETURN_EXCEPTIONS), 0);
    ck_assert(asyncio_cancelled(t));
    asyncio_decref(t);
    ck_assert(asyncio_stream_is_closing(s));
    asyncio_stream_free(s);
    /* And freed at once after close, without waiting. */
    o.ssl_shutdown_timeout = 0.2;
    s = connect_ok(server_port(srv), &o);
    asyncio_stream_close(s);
    asyncio_stream_free(s);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    /* The deaf connections never read their peers' end: closed here. */
    asyncio_server_close_clients(srv);
    server_shutdown(srv);
    ck_assert_int_eq(asyncio_sleep(0.02), 0);
    assert_handles_back(handles);
    asyncio_ssl_context_decref(sctx);
    asyncio_ssl_context_decref(cctx);
    return NULL;
}

START_TEST(test_cancel)
{
    run(cancel_main, NULL);
    tu_assert_log(&REPORTS, "");
    tu_assert_log(&SLOG, "");
}
END_TEST

/* What the loop's closing leaves to the caller: streams and servers are
 * freed after, and contexts. */
static struct {
    asyncio_ssl_context_t *sctx, *cctx;
    asyncio_server_t *srv[3];
    asyncio_stream_t *s[4];
    asyncio_future_t *t[3];
    opener_t op;
    upgrade_t up;
    stream_upgrade_t sup;
    side_t side;
} LEFT;

/* Leaves TLS connections open in every state: a client handshaking, a
 * server's connection handshaking, an established connection, one
 * closing (close_notify unanswered), a transport's start_tls and a
 * stream's start_tls in progress. */
static void *leave_tls_open(void *arg)
{
    (void)arg;
    asyncio_stream_opts_t so = {.ssl = LEFT.sctx};
    asyncio_stream_opts_t o = {.ssl = LEFT.cctx, .server_hostname = "localhost"};
    ck_assert_int_eq(asyncio_start_server(stall_handler, NULL, "127.0.0.1", 0, NULL, &LEFT.srv[0]),
                     0);
    ck_assert_int_eq(asyncio_start_server(line_handler, NULL, "127.0.0.1", 0, &so, &LEFT.srv[1]),
                     0);
    ck_assert_int_eq(asyncio_start_server(deaf_handler, NULL, "127.0.0.1", 0, &so, &LEFT.srv[2]),
                     0);
    int stall = server_port(LEFT.srv[0]), tls = server_port(LEFT.srv[1]),
        deaf = server_port(LEFT.srv[2]);
    LEFT.op = (opener_t){stall, o, NULL, -1};
    LEFT.t[0] = tu_spawn(t_open, &LEFT.op);
    LEFT.s[0] = connect_ok(tls, NULL); /* plain: the server's side handshakes */
    LEFT.s[1] = connect_ok(tls, &o);   /* established */
    ck_assert_int_eq(asyncio_stream_write(LEFT.s[1], "hello\n", 6), 0);
    DEAF_READY = 0;
    LEFT.s[2] = connect_ok(deaf, &o);
    while (DEAF_READY < 1)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert_int_eq(asyncio_stream_write(LEFT.s[2], "x", 1), 0);
    asyncio_stream_close(LEFT.s[2]); /* close_notify, never answered */
    asyncio_transport_t *t = NULL;
    ck_assert_int_eq(
        asyncio_create_connection(&SIDE_PROTO, &LEFT.side, "127.0.0.1", stall, NULL, &t), 0);
    LEFT.up = (upgrade_t){t, LEFT.cctx, false, -1};
    LEFT.t[1] = tu_spawn(t_upgrade, &LEFT.up);
    LEFT.s[3] = connect_ok(stall, NULL);
    LEFT.sup = (stream_upgrade_t){LEFT.s[3], LEFT.cctx, {.server_hostname = "localhost"}, -1};
    LEFT.t[2] = tu_spawn(t_stream_upgrade, &LEFT.sup);
    ck_assert_int_eq(asyncio_sleep(0.05), 0);
    return NULL;
}

START_TEST(test_loop_close_with_tls_open)
{
    memset(&LEFT, 0, sizeof LEFT);
    memset(&LOG, 0, sizeof LOG);
    LEFT.sctx = server_ctx("server");
    LEFT.cctx = client_ctx();
    asyncio_loop_t *loop = asyncio_loop_new();
    memset(&REPORTS, 0, sizeof REPORTS);
    asyncio_loop_set_exception_handler(loop, capture_report, NULL);
    asyncio_future_t *f = asyncio_create_task(leave_tls_open, NULL);
    ck_assert_int_eq(asyncio_loop_run_until_complete(loop, f, NULL), 0);
    asyncio_decref(f);
    /* Still in progress when the loop closes. */
    for (int i = 0; i < 3; i++)
        ck_assert(!asyncio_done(LEFT.t[i]));
    ck_assert_int_eq(asyncio_loop_close(loop), 0);
    asyncio_error_clear();
    ck_assert(LEFT.side.lost); /* connection_lost: the last chance to free */
    for (int i = 0; i < 3; i++)
        asyncio_decref(LEFT.t[i]);
    for (int i = 0; i < 4; i++) {
        ck_assert(asyncio_stream_is_closing(LEFT.s[i]));
        asyncio_stream_free(LEFT.s[i]);
    }
    for (int i = 0; i < 3; i++)
        asyncio_server_free(LEFT.srv[i]);
    asyncio_ssl_context_decref(LEFT.sctx);
    asyncio_ssl_context_decref(LEFT.cctx);
    ck_assert_ptr_null(asyncio_error());
    tu_assert_no_leak();
    tu_assert_log(&REPORTS, ""); /* no failed handshake reported */
}
END_TEST

/* ---------------------------------------------------------------------
 * One context shared by loops on two threads.
 * --------------------------------------------------------------------- */

typedef struct shared {
    asyncio_ssl_context_t *sctx, *cctx;
    _Atomic int ports[2];
    atomic_int done;
    long clients;
} shared_t;

typedef struct loop_thread {
    shared_t *sh;
    int index;
    pthread_t thread;
    int rc;
    long ok;
    char error[256];
} loop_thread_t;

typedef struct shared_client {
    loop_thread_t *lt;
    int port;
    long i;
} shared_client_t;

/* One client: its line echoed over TLS; failures are counted, not
 * asserted (Check's assertions belong to the test's thread). */
static void *shared_client(void *arg)
{
    shared_client_t *c = arg;
    asyncio_stream_opts_t o = {.ssl = c->lt->sh->cctx, .server_hostname = "localhost"};
    asyncio_stream_t *s = NULL;
    if (asyncio_open_connection("127.0.0.1", c->port, &o, &s) == 0) {
        char msg[64], buf[64];
        size_t n;
        snprintf(msg, sizeof msg, "thread %d client %ld\n", c->lt->index, c->i);
        if (asyncio_stream_write(s, msg, strlen(msg)) == 0 &&
            asyncio_stream_readline(s, buf, sizeof buf, &n) == 0 && strcmp(buf, msg) == 0)
            c->lt->ok++;
        asyncio_stream_close(s);
        asyncio_stream_wait_closed(s);
        asyncio_stream_free(s);
    }
    if (asyncio_error() && !c->lt->error[0])
        snprintf(c->lt->error, sizeof c->lt->error, "%s: %s", asyncio_error()->type,
                 asyncio_error()->message);
    asyncio_error_clear();
    return NULL;
}

/* A loop's work: a TLS server with the shared context, then clients with
 * the other shared context, half to this server, half to the other
 * thread's, all at once; the server serves until both threads are done. */
static void *shared_loop_main(void *arg)
{
    loop_thread_t *lt = arg;
    shared_t *sh = lt->sh;
    asyncio_stream_opts_t so = {.ssl = sh->sctx, .backlog = 1024};
    asyncio_server_t *srv = NULL;
    if (asyncio_start_server(echo_handler, NULL, "127.0.0.1", 0, &so, &srv))
        return NULL;
    asyncio_sockaddr_t a;
    asyncio_server_sockname(srv, 0, &a);
    atomic_store(&sh->ports[lt->index], a.port);
    /* The other loop's server (waiting here lets this loop run). */
    while (!atomic_load(&sh->ports[!lt->index]))
        asyncio_sleep(0.005);
    long n = sh->clients;
    shared_client_t *cs = calloc((size_t)n, sizeof *cs);
    asyncio_future_t **ts = calloc((size_t)n, sizeof *ts);
    for (long i = 0; i < n; i++) {
        cs[i] = (shared_client_t){lt, atomic_load(&sh->ports[i % 2]), i};
        ts[i] = asyncio_create_task(shared_client, &cs[i]);
    }
    asyncio_gather(ts, (size_t)n, NULL, ASYNCIO_RETURN_EXCEPTIONS);
    for (long i = 0; i < n; i++)
        asyncio_decref(ts[i]);
    free(ts);
    free(cs);
    atomic_fetch_add(&sh->done, 1);
    while (atomic_load(&sh->done) < 2)
        asyncio_sleep(0.005);
    asyncio_server_close(srv);
    asyncio_server_wait_closed(srv);
    asyncio_server_free(srv);
    return NULL;
}

static void *loop_thread(void *arg)
{
    loop_thread_t *lt = arg;
    lt->rc = asyncio_run(shared_loop_main, lt, NULL);
    if (lt->rc && !lt->error[0])
        snprintf(lt->error, sizeof lt->error, "asyncio_run: %s", tu_raised_message());
    tu_clear_all();
    return NULL;
}

START_TEST(test_shared_context_threads)
{
    /* 16 clients a loop at least: enough for TSan to see the contexts
     * shared (TSan's runs divide counts by 50). */
    long clients = tu_scaled(200) < 16 ? 16 : tu_scaled(200);
    shared_t sh = {.sctx = server_ctx("server"), .cctx = client_ctx(), .clients = clients};
    const char *alpn[] = {"http/1.1"};
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(sh.sctx, alpn, 1), 0);
    ck_assert_int_eq(asyncio_ssl_context_set_alpn_protocols(sh.cctx, alpn, 1), 0);
    loop_thread_t lts[2];
    for (int i = 0; i < 2; i++) {
        lts[i] = (loop_thread_t){.sh = &sh, .index = i};
        ck_assert_int_eq(pthread_create(&lts[i].thread, NULL, loop_thread, &lts[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(lts[i].thread, NULL), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(lts[i].rc == 0 && lts[i].ok == sh.clients, "thread %d: %ld of %ld: %s", i,
                      lts[i].ok, sh.clients, lts[i].error);
    }
    /* Only the caller's references are left: one each. */
    asyncio_ssl_context_decref(sh.sctx);
    asyncio_ssl_context_decref(sh.cctx);
}
END_TEST

Suite *tls_suite(void)
{
    certs_make();
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("interop");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client_s_server);
    tcase_add_test(tc, test_client_python_server);
    tcase_add_test(tc, test_server_s_client);
    tcase_add_test(tc, test_server_python_client);
    tcase_add_test(tc, test_handshake_reset);
    tcase_add_test(tc, test_alpn);
    tcase_add_test(tc, test_mtls_s_server);
    tcase_add_test(tc, test_mtls_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_verify_errors);
    tcase_add_test(tc, test_peer_errors);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_server_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("starttls");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_starttls_c);
    tcase_add_test(tc, test_starttls_python);
    tcase_add_test(tc, test_starttls_early);
    tcase_add_test(tc, test_start_tls_transport);
    tcase_add_test(tc, test_starttls_errors);
    tcase_add_test(tc, test_start_tls_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_over_tls);
    tcase_add_test(tc, test_write_eof);
    tcase_add_test(tc, test_pause_resume);
    tcase_add_test(tc, test_close_abort);
    tcase_add_test(tc, test_volume);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetimes");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_many_connections);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_loop_close_with_tls_open);
    tcase_add_test(tc, test_shared_context_threads);
    suite_add_tcase(s, tc);
    return s;
}
