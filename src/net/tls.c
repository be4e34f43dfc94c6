/*
 * TLS on a transport: OpenSSL over memory BIOs, as asyncio's sslproto and
 * uvloop do, so that streams and protocols behave the same with and
 * without TLS.
 *
 * The transport reads ciphertext from its socket into `in`, and this file
 * turns it into plaintext for the protocol (data_received, eof_received);
 * the protocol's writes become ciphertext in `out`, which goes to the
 * socket through the transport's raw write.  The plaintext is read into
 * the loop's read buffer, free again once its ciphertext is in `in`.
 *
 * The states are sslproto's:
 *
 *   HANDSHAKE --> WRAPPED --> FLUSHING --> SHUTDOWN --> DONE
 *       '-----------------------------------------------^
 *
 *   HANDSHAKE  tls_start: the handshake runs; the protocol's writes wait
 *              in the backlog.  A timer bounds it (ssl_handshake_timeout:
 *              ConnectionAbortedError, Python's error).  Its end completes
 *              the handshake future (a connecting task waits on it) or
 *              calls on_handshake (a server's accepted connection).
 *   WRAPPED    application data flows both ways.
 *   FLUSHING   the protocol closed, or the peer's EOF or close_notify
 *              came: what is left to read is delivered, then SHUTDOWN.
 *   SHUTDOWN   close_notify is sent, and the peer's awaited unless its EOF
 *              came already; a timer bounds it (ssl_shutdown_timeout:
 *              TimeoutError "SSL shutdown timed out", Python's).  Then the
 *              protocol's eof_received (if the peer closed) and the
 *              transport's close.
 *   DONE       the TLS layer is over (the handshake failed, or the
 *              shutdown ended); the transport is closing.
 *
 * The transport's own life goes on beside this (net.h): a client's
 * transport stays CONNECTING through the handshake and is made OPEN only
 * after it, so connection_made (and open_connection's return) come with a
 * connection that speaks TLS; a server's accepted one stays NEW likewise.
 */
#include "net/net.h"

#include <arpa/inet.h>
#include <math.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

enum { TLS_HANDSHAKE, TLS_WRAPPED, TLS_FLUSHING, TLS_SHUTDOWN, TLS_DONE };

#define DEFAULT_HANDSHAKE_TIMEOUT 60.0
#define DEFAULT_SHUTDOWN_TIMEOUT 30.0

struct asyncio__tls_layer {
    asyncio__transport_t *t;
    asyncio__ssl_context_t *ctx; /* referenced */
    SSL *ssl;
    BIO *in, *out; /* ciphertext from and to the socket (owned by ssl) */
    int state;
    bool server_side;
    bool peer_eof;         /* the socket's EOF came */
    bool app_eof;          /* the protocol's eof_received was called */
    bool close_notify_out; /* ours is sent (write_eof, or the shutdown) */
    char *server_hostname; /* a client's: sent (SNI) and checked */
    double handshake_timeout, shutdown_timeout;
    asyncio__timer_t *timer; /* the handshake's or the shutdown's deadline */
    uint64_t timer_id;
    asyncio__timer_t *resume; /* reading resumed: drive soon, not inside the call */
    uint64_t resume_id;
    asyncio_future_t *handshake; /* done when the handshake ends (a client waits on it) */
    asyncio__exc_t *handshake_error;
    void (*on_handshake)(asyncio__transport_t *t, asyncio__exc_t *error);
    /* Plaintext written before the handshake ended, not yet encrypted. */
    char *backlog;
    size_t backlog_len, backlog_cap;
};

/* SSL_get_error needs the thread's error queue empty before the call it
 * explains.  It nearly always is (every failure here empties it): peeking
 * costs less than clearing its sixteen slots on every read and write. */
static inline void errors_clear(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

static void drive(asyncio__tls_layer_t *tls);
static void start_shutdown(asyncio__tls_layer_t *tls);

/* ------------------------------------------------------------ errors */

/* The handshake's failure as Python raises it: SSLCertVerificationError
 * when the peer's certificate was refused, else SSLError from OpenSSL's
 * queue, ConnectionResetError for a peer that went away. */
static asyncio__exc_t *handshake_error(asyncio__tls_layer_t *tls, int ssl_err)
{
    long verify = SSL_get_verify_result(tls->ssl);
    if (verify != X509_V_OK &&
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        char why[256];
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH)
            snprintf(why, sizeof why, "Hostname mismatch, certificate is not valid for '%s'.",
                     tls->server_hostname ? tls->server_hostname : "");
        else if (verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(why, sizeof why, "IP address mismatch, certificate is not valid for '%s'.",
                     tls->server_hostname ? tls->server_hostname : "");
        else
            snprintf(why, sizeof why, "%s", X509_verify_cert_error_string(verify));
        ERR_clear_error();
        char msg[400];
        snprintf(msg, sizeof msg, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s",
                 why);
        asyncio__exc_t *e = asyncio__exc_make(ASYNCIO_ESSL, "SSLCertVerificationError", msg);
        e->pub.detail = (int)verify;
        return e;
    }
    if (ssl_err == SSL_ERROR_SYSCALL || ERR_peek_last_error() == 0) {
        ERR_clear_error();
        return asyncio__exc_make(UV_ECONNRESET, "ConnectionResetError",
                                 "Connection lost during the TLS handshake");
    }
    return asyncio__ssl_error(NULL, NULL);
}

/* ------------------------------------------------------------ timers */

static void timer_stop(asyncio__tls_layer_t *tls)
{
    if (tls->timer)
        asyncio__timer_cancel(tls->timer, tls->timer_id);
    tls->timer = NULL;
}

static void timer_start(asyncio__tls_layer_t *tls, double seconds, asyncio_callback_fn fn)
{
    timer_stop(tls);
    uint64_t when = asyncio__now_ns() + (uint64_t)(seconds * 1e9);
    tls->timer = asyncio__timer_start(tls->t->loop, when, fn, tls);
    if (tls->timer)
        tls->timer_id = tls->timer->id;
    else
        asyncio_error_clear(); /* no memory for the timer: the transport still ends */
}

/* ------------------------------------------------------------ ciphertext out */

/* Whatever OpenSSL wrote to `out` goes to the socket. */
static void flush_out(asyncio__tls_layer_t *tls)
{
    char *p;
    long n = BIO_get_mem_data(tls->out, &p);
    if (n <= 0)
        return;
    asyncio__transport_raw_write(tls->t, p, (size_t)n);
    (void)BIO_reset(tls->out);
}

/* ------------------------------------------------------------ the end */

/* A fatal error: the transport closes at once with it (Python's
 * _fatal_error). */
static void fatal(asyncio__tls_layer_t *tls, asyncio__exc_t *e)
{
    tls->state = TLS_DONE;
    timer_stop(tls);
    asyncio__transport_force_close(tls->t, e);
}

/* The protocol's eof_received, once (Python's _call_eof_received): with
 * TLS its answer cannot keep the connection open. */
static void app_eof(asyncio__tls_layer_t *tls)
{
    if (tls->app_eof)
        return;
    tls->app_eof = true;
    asyncio__transport_app_eof(tls->t);
}

/* ------------------------------------------------------------ handshake */

/* The handshake is over: whoever waits is told (the connecting task
 * through the future, a server through on_handshake). */
static void handshake_finish(asyncio__tls_layer_t *tls, const asyncio__exc_t *error)
{
    timer_stop(tls);
    tls->state = error ? TLS_DONE : TLS_WRAPPED;
    if (error)
        tls->handshake_error = asyncio__exc_dup(error);
    if (tls->handshake && tls->handshake->state == ASYNCIO__PENDING)
        asyncio__future_finish(tls->handshake, NULL, NULL);
    if (tls->on_handshake)
        tls->on_handshake(tls->t, error ? asyncio__exc_dup(error) : NULL);
}

static void handshake_end(asyncio__tls_layer_t *tls, asyncio__exc_t *error)
{
    handshake_finish(tls, error);
    if (error) {
        asyncio__transport_force_close(tls->t, error);
        return;
    }
    /* Application data may have come with the handshake's last flight. */
    drive(tls);
}

/* A float as Python's repr() writes it: the fewest digits that read back
 * as the same value, "60.0", "0.25", "1e-05".  (The message printed "%.1f"
 * before: a timeout of 0.25 read "0.2", where Python says "0.25";
 * tests/check_tls.c test_peer_errors.) */
static void float_repr(char *out, size_t cap, double v)
{
    int p = 1;
    for (; p < 17; p++) {
        snprintf(out, cap, "%.*e", p - 1, v);
        if (strtod(out, NULL) == v)
            break;
    }
    const char *e = strchr(out, 'e');
    int exp = e ? atoi(e + 1) : 0; /* the decimal exponent, carries included */
    if (!isfinite(v) || (exp >= -4 && exp < 16))
        snprintf(out, cap, "%.*f", p - 1 - exp > 1 ? p - 1 - exp : 1, v);
    else
        snprintf(out, cap, "%.*e", p - 1, v);
}

static void on_handshake_timeout(void *arg)
{
    asyncio__tls_layer_t *tls = arg;
    tls->timer = NULL;
    if (tls->state != TLS_HANDSHAKE)
        return;
    char secs[32], msg[128];
    float_repr(secs, sizeof secs, tls->handshake_timeout);
    snprintf(msg, sizeof msg,
             "SSL handshake is taking longer than %s seconds: aborting the connection", secs);
    handshake_end(tls, asyncio__exc_make(UV_ECONNABORTED, "ConnectionAbortedError", msg));
}

static void do_handshake(asyncio__tls_layer_t *tls)
{
    errors_clear();
    int r = SSL_do_handshake(tls->ssl);
    flush_out(tls);
    /* Sending the last flight can fail (the peer reset the connection
     * right after its Finished): the transport closed and the handshake
     * was reported failed: not a success too. */
    if (tls->state != TLS_HANDSHAKE)
        return;
    if (r == 1) {
        handshake_end(tls, NULL);
        return;
    }
    int err = SSL_get_error(tls->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return;
    handshake_end(tls, handshake_error(tls, err));
}

/* ------------------------------------------------------------ reading */

/* Decrypts what `in` holds for the protocol, while it reads; the peer's
 * close_notify ends the reading (Python's _do_read). */
static void do_read(asyncio__tls_layer_t *tls)
{
    asyncio__transport_t *t = tls->t;
    char *buf;
    size_t cap = asyncio__transport_read_buffer(t, &buf);
    while (tls->state == TLS_WRAPPED || tls->state == TLS_FLUSHING) {
        if (!t->want_read || asyncio__transport_handle_closed(t) || !buf)
            return;
        size_t n = 0;
        errors_clear();
        int r = SSL_read_ex(tls->ssl, buf, cap, &n);
        if (r == 1) {
            asyncio__transport_deliver(t, buf, n);
            continue;
        }
        int err = SSL_get_error(tls->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            break;
        if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify */
            flush_out(tls);
            app_eof(tls);
            start_shutdown(tls);
            return;
        }
        fatal(tls, asyncio__ssl_error(NULL, NULL));
        return;
    }
    flush_out(tls); /* TLS 1.3 answers some records (a key update) */
}

/* ------------------------------------------------------------ shutdown */

static void shutdown_end(asyncio__tls_layer_t *tls)
{
    timer_stop(tls);
    tls->state = TLS_DONE;
    if (tls->peer_eof)
        app_eof(tls);
    asyncio__transport_tls_done(tls->t);
}

static void do_shutdown(asyncio__tls_layer_t *tls)
{
    if (tls->peer_eof) { /* nothing more can come: no close_notify to wait for */
        shutdown_end(tls);
        return;
    }
    errors_clear();
    int r = SSL_shutdown(tls->ssl);
    tls->close_notify_out = true;
    flush_out(tls);
    if (r == 1) {
        shutdown_end(tls);
        return;
    }
    if (r == 0)
        return; /* ours is sent: the peer's comes with more data */
    int err = SSL_get_error(tls->ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return;
    fatal(tls, asyncio__ssl_error(NULL, NULL));
}

static void on_shutdown_timeout(void *arg)
{
    asyncio__tls_layer_t *tls = arg;
    tls->timer = NULL;
    if (tls->state == TLS_FLUSHING || tls->state == TLS_SHUTDOWN)
        fatal(tls, asyncio__exc_make(ASYNCIO_ETIMEDOUT, "TimeoutError", "SSL shutdown timed out"));
}

/* The protocol closed, or the peer's close_notify came (Python's
 * _start_shutdown): during the handshake the connection is aborted. */
static void start_shutdown(asyncio__tls_layer_t *tls)
{
    if (tls->state == TLS_HANDSHAKE) {
        handshake_end(tls, asyncio__exc_make(UV_ECONNABORTED, "ConnectionAbortedError",
                                             "Connection closed during the TLS handshake"));
        return;
    }
    if (tls->state != TLS_WRAPPED)
        return;
    tls->state = TLS_FLUSHING;
    timer_start(tls, tls->shutdown_timeout, on_shutdown_timeout);
    asyncio__transport_read_for_tls(tls->t); /* the peer's close_notify comes */
    do_read(tls);
    if (tls->state == TLS_FLUSHING) {
        tls->state = TLS_SHUTDOWN;
        do_shutdown(tls);
    }
}

/* ------------------------------------------------------------ writing */

static int backlog_add(asyncio__tls_layer_t *tls, const void *data, size_t len)
{
    if (tls->backlog_len + len > tls->backlog_cap) {
        size_t cap = tls->backlog_cap ? tls->backlog_cap : 4096;
        while (cap < tls->backlog_len + len)
            cap *= 2;
        char *grown = asyncio__realloc(tls->backlog, cap);
        if (!grown)
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for %zu bytes to write", len);
        tls->backlog = grown;
        tls->backlog_cap = cap;
    }
    memcpy(tls->backlog + tls->backlog_len, data, len);
    tls->backlog_len += len;
    return 0;
}

/* Encrypts len bytes into `out`; false (fatal error done) on failure. */
static bool encrypt(asyncio__tls_layer_t *tls, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        size_t n = 0;
        errors_clear();
        if (SSL_write_ex(tls->ssl, p, len, &n) != 1) {
            fatal(tls, asyncio__ssl_error(NULL, NULL));
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* The backlog, once the handshake is over. */
static void write_backlog(asyncio__tls_layer_t *tls)
{
    if (!tls->backlog_len || tls->state != TLS_WRAPPED)
        return;
    size_t len = tls->backlog_len;
    tls->backlog_len = 0;
    if (encrypt(tls, tls->backlog, len))
        flush_out(tls);
}

int asyncio__tls_write(asyncio__tls_layer_t *tls, const void *const *data, const size_t *lens, size_t n)
{
    if (tls->state == TLS_HANDSHAKE) {
        for (size_t i = 0; i < n; i++)
            if (lens[i] && backlog_add(tls, data[i], lens[i]))
                return ASYNCIO_ENOMEM;
        return 0;
    }
    if (tls->state != TLS_WRAPPED || tls->close_notify_out)
        return 0; /* closing: dropped, as Python drops it */
    for (size_t i = 0; i < n; i++)
        if (lens[i] && !encrypt(tls, data[i], lens[i]))
            return 0;
    flush_out(tls);
    return 0;
}

size_t asyncio__tls_buffered(const asyncio__tls_layer_t *tls)
{
    return tls->backlog_len;
}

/* write_eof: close_notify, after what the backlog holds. */
void asyncio__tls_write_eof(asyncio__tls_layer_t *tls)
{
    if (tls->state != TLS_WRAPPED || tls->close_notify_out)
        return;
    write_backlog(tls);
    ERR_clear_error();
    SSL_shutdown(tls->ssl);
    tls->close_notify_out = true;
    flush_out(tls);
}

/* ------------------------------------------------------------ events */

/* What to do with what is in `in` now. */
static void drive(asyncio__tls_layer_t *tls)
{
    switch (tls->state) {
    case TLS_HANDSHAKE:
        do_handshake(tls);
        break;
    case TLS_WRAPPED:
        do_read(tls);
        write_backlog(tls);
        break;
    case TLS_FLUSHING:
        do_read(tls);
        break;
    case TLS_SHUTDOWN:
        do_shutdown(tls);
        break;
    }
}

void asyncio__tls_received(asyncio__tls_layer_t *tls, const char *data, size_t len)
{
    if (BIO_write(tls->in, data, (int)len) != (int)len) {
        fatal(tls, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for TLS input"));
        return;
    }
    drive(tls);
}

/* The socket's EOF (Python's eof_received). */
void asyncio__tls_eof(asyncio__tls_layer_t *tls)
{
    tls->peer_eof = true;
    switch (tls->state) {
    case TLS_HANDSHAKE:
        handshake_end(tls, asyncio__exc_make(UV_ECONNRESET, "ConnectionResetError",
                                             "Connection lost during the TLS handshake"));
        break;
    case TLS_WRAPPED:
        tls->state = TLS_FLUSHING;
        timer_start(tls, tls->shutdown_timeout, on_shutdown_timeout);
        do_read(tls);
        if (tls->state == TLS_FLUSHING) {
            tls->state = TLS_SHUTDOWN;
            do_shutdown(tls);
        }
        break;
    case TLS_FLUSHING:
        tls->state = TLS_SHUTDOWN;
        do_shutdown(tls);
        break;
    case TLS_SHUTDOWN:
        do_shutdown(tls);
        break;
    }
}

void asyncio__tls_close(asyncio__tls_layer_t *tls)
{
    start_shutdown(tls);
}

static void resume_now(void *arg)
{
    asyncio__tls_layer_t *tls = arg;
    tls->resume = NULL;
    if (tls->state == TLS_WRAPPED || tls->state == TLS_FLUSHING)
        drive(tls);
    if (tls->state == TLS_FLUSHING && tls->peer_eof) {
        tls->state = TLS_SHUTDOWN;
        do_shutdown(tls);
    }
}

/* Reading resumed: what was decrypted, or is buffered in `in`, is
 * delivered in the next iteration (Python's call_soon(resume)): the
 * protocol may have resumed from inside its own data_received. */
void asyncio__tls_resume(asyncio__tls_layer_t *tls)
{
    if (tls->resume || (tls->state != TLS_WRAPPED && tls->state != TLS_FLUSHING))
        return;
    tls->resume = asyncio__timer_start(tls->t->loop, 0, resume_now, tls);
    if (tls->resume)
        tls->resume_id = tls->resume->id;
    else
        asyncio_error_clear(); /* no memory: delivered with the next ciphertext */
}

bool asyncio__tls_reading_needed(const asyncio__tls_layer_t *tls)
{
    return tls->state == TLS_HANDSHAKE || tls->state == TLS_FLUSHING || tls->state == TLS_SHUTDOWN;
}

bool asyncio__tls_over(const asyncio__tls_layer_t *tls)
{
    return tls->state == TLS_DONE;
}

void asyncio__tls_stop(asyncio__tls_layer_t *tls)
{
    timer_stop(tls);
    if (tls->resume)
        asyncio__timer_cancel(tls->resume, tls->resume_id);
    tls->resume = NULL;
    if (tls->state == TLS_HANDSHAKE) { /* aborted, or the loop closes */
        asyncio__exc_t *e = asyncio__exc_make(UV_ECONNABORTED, "ConnectionAbortedError",
                                              "Connection closed during the TLS handshake");
        handshake_finish(tls, e);
        asyncio__exc_free(e);
    }
    tls->state = TLS_DONE;
}

/* ------------------------------------------------------------ options */

int asyncio__tls_check(asyncio_ssl_context_t *handle, const asyncio_stream_opts_t *opts,
                       bool server_side, const char *no_name, asyncio__ssl_context_t **ctx)
{
    *ctx = NULL;
    const char *name = opts ? opts->server_hostname : NULL;
    if (name && (server_side || !handle))
        return asyncio__raise_code(ASYNCIO_EVALUE, server_side
                                                       ? "server_hostname is only meaningful for a client"
                                                       : "server_hostname is only meaningful with ssl");
    if (!handle)
        return 0;
    asyncio__ssl_context_t *c = asyncio__ssl_context_get(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (server_side != asyncio__ssl_context_server_side(c))
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   server_side ? "a client's SSL context (SERVER_AUTH) cannot serve"
                                               : "a server's SSL context (CLIENT_AUTH) cannot connect");
    if (!server_side && no_name && !name && asyncio__ssl_context_check_hostname(c))
        return asyncio__raise_code(ASYNCIO_EVALUE, "%s", no_name);
    if (opts && (isnan(opts->ssl_handshake_timeout) || opts->ssl_handshake_timeout < 0 ||
                 isnan(opts->ssl_shutdown_timeout) || opts->ssl_shutdown_timeout < 0))
        return asyncio__raise_code(ASYNCIO_EVALUE, "ssl timeouts must be positive numbers");
    *ctx = c;
    return 0;
}

/* ------------------------------------------------------------ life */

/* The name to check: an IP address is checked as one (and not sent as
 * SNI, which takes host names only). */
static int set_peer_name(asyncio__tls_layer_t *tls)
{
    const char *name = tls->server_hostname;
    if (!name || !*name)
        return 0;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(tls->ssl, name) != 1)
        return -1;
    if (!asyncio__ssl_context_check_hostname(tls->ctx))
        return 0;
    X509_VERIFY_PARAM *param = SSL_get0_param(tls->ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                  : X509_VERIFY_PARAM_set1_host(param, name, 0)) == 1
               ? 0
               : -1;
}

asyncio__tls_layer_t *asyncio__tls_new(asyncio__transport_t *t, asyncio__ssl_context_t *ctx,
                                 bool server_side, const char *server_hostname,
                                 double handshake_timeout, double shutdown_timeout)
{
    asyncio__tls_layer_t *tls = asyncio__calloc(1, sizeof *tls);
    if (!tls) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a TLS connection");
        return NULL;
    }
    tls->t = t;
    tls->server_side = server_side;
    tls->handshake_timeout = handshake_timeout > 0 ? handshake_timeout : DEFAULT_HANDSHAKE_TIMEOUT;
    tls->shutdown_timeout = shutdown_timeout > 0 ? shutdown_timeout : DEFAULT_SHUTDOWN_TIMEOUT;
    if (server_hostname && !(tls->server_hostname = asyncio__strdup(server_hostname)))
        goto nomem;
    ERR_clear_error();
    if (!(tls->ssl = SSL_new(asyncio__ssl_context_ctx(ctx))))
        goto ssl_failed;
    tls->in = BIO_new(BIO_s_mem());
    tls->out = BIO_new(BIO_s_mem());
    if (!tls->in || !tls->out) {
        BIO_free(tls->in);
        BIO_free(tls->out);
        goto ssl_failed;
    }
    /* An empty `in` asks for more, it is not the end of the input. */
    BIO_set_mem_eof_return(tls->in, -1);
    BIO_set_mem_eof_return(tls->out, -1);
    SSL_set_bio(tls->ssl, tls->in, tls->out);
    tls->ctx = asyncio__ssl_context_ref(ctx);
    if (server_side) {
        SSL_set_accept_state(tls->ssl);
    } else {
        SSL_set_connect_state(tls->ssl);
        if (set_peer_name(tls) != 0)
            goto ssl_failed;
        asyncio__ssl_context_resume(ctx, tls->ssl, tls->server_hostname);
    }
    tls->state = TLS_HANDSHAKE;
    return tls;

ssl_failed:
    asyncio__raise_exc(asyncio__ssl_error(NULL, NULL));
    asyncio__tls_free(tls);
    return NULL;
nomem:
    asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for a TLS connection");
    asyncio__tls_free(tls);
    return NULL;
}

void asyncio__tls_start(asyncio__tls_layer_t *tls,
                        void (*on_handshake)(asyncio__transport_t *t, asyncio__exc_t *error),
                        const char *early, size_t early_len)
{
    tls->on_handshake = on_handshake;
    timer_start(tls, tls->handshake_timeout, on_handshake_timeout);
    if (early_len && BIO_write(tls->in, early, (int)early_len) != (int)early_len) {
        handshake_end(tls, asyncio__exc_make(ASYNCIO_ENOMEM, "MemoryError", "no memory for TLS input"));
        return;
    }
    asyncio__transport_read_for_tls(tls->t);
    do_handshake(tls);
}

int asyncio__tls_wait_handshake(asyncio__task_t *task, asyncio__tls_layer_t *tls)
{
    if (tls->state == TLS_HANDSHAKE) {
        tls->handshake = asyncio__future_new(task->fut.loop);
        if (!tls->handshake)
            return ASYNCIO_ENOMEM;
        static const asyncio__wait_kind_t handshake_wait = {"TLS handshake", NULL};
        asyncio__task_waits_for(task, &handshake_wait, tls);
        int rc = asyncio__task_wait_private(task, tls->handshake);
        asyncio_decref(tls->handshake);
        tls->handshake = NULL;
        if (rc)
            return rc; /* cancelled: the caller closes the transport */
    }
    if (tls->state == TLS_HANDSHAKE)
        return asyncio__raise_code(ASYNCIO_ERUNTIME, "the TLS handshake did not end");
    if (tls->handshake_error) {
        asyncio__exc_t *e = tls->handshake_error;
        tls->handshake_error = NULL;
        asyncio__raise_exc(e);
        return e->pub.code;
    }
    if (tls->state == TLS_DONE)
        return asyncio__raise_code(UV_ECONNRESET, "Connection lost during the TLS handshake");
    return 0;
}

void asyncio__tls_free(asyncio__tls_layer_t *tls)
{
    if (!tls)
        return;
    asyncio__tls_stop(tls);
    if (tls->handshake && tls->handshake->state == ASYNCIO__PENDING)
        asyncio__future_finish(tls->handshake, NULL, NULL);
    SSL_free(tls->ssl); /* and its BIOs */
    asyncio__ssl_context_unref(tls->ctx);
    asyncio__exc_free(tls->handshake_error);
    asyncio__free(tls->server_hostname);
    asyncio__free(tls->backlog);
    asyncio__free(tls);
}

SSL *asyncio__tls_ssl(const asyncio__tls_layer_t *tls)
{
    return tls->ssl;
}

/* ------------------------------------------------------------ extra info */

/* The TLS layer of a live transport (NULL: a plain one); *ok false with
 * ValueError raised for a handle that is not a live transport. */
static asyncio__tls_layer_t *layer_of(asyncio_transport_t *handle, bool *ok)
{
    asyncio__transport_t *t = asyncio__handle_check(handle, ASYNCIO__H_TRANSPORT, "transport");
    *ok = t != NULL;
    return t ? t->tls : NULL;
}

int asyncio_transport_ssl_info(asyncio_transport_t *handle, asyncio_ssl_info_t *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    bool ok;
    asyncio__tls_layer_t *tls = layer_of(handle, &ok);
    if (!ok)
        return ASYNCIO_EVALUE;
    if (!info)
        return asyncio__raise_code(ASYNCIO_EVALUE, "info is NULL");
    if (!tls)
        return 0;
    info->version = SSL_get_version(tls->ssl);
    const SSL_CIPHER *cipher = SSL_get_current_cipher(tls->ssl);
    if (cipher) {
        info->cipher = SSL_CIPHER_get_name(cipher);
        info->cipher_bits = SSL_CIPHER_get_bits(cipher, NULL);
    }
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(tls->ssl, &alpn, &alpn_len);
    if (alpn_len >= sizeof info->alpn_protocol)
        alpn_len = sizeof info->alpn_protocol - 1; /* ALPN names are 255 bytes at most */
    if (alpn_len) /* none agreed: alpn is NULL, which memcpy must not get (UBSan) */
        memcpy(info->alpn_protocol, alpn, alpn_len);
    info->session_reused = SSL_session_reused(tls->ssl) == 1;
    return 0;
}

struct ssl_st *asyncio_transport_ssl_object(asyncio_transport_t *handle)
{
    bool ok;
    asyncio__tls_layer_t *tls = layer_of(handle, &ok);
    return tls ? tls->ssl : NULL;
}

/* getpeercert()'s dictionary, field by field.  Every string is the
 * certificate's own copy, freed by asyncio_peercert_free. */

static char *copy_n(const void *p, size_t n)
{
    char *s = asyncio__malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int add_field(const asyncio_cert_field_t **fields, size_t *len, const char *name,
                     const void *value, size_t value_len)
{
    asyncio_cert_field_t *grown = asyncio__realloc((void *)*fields, (*len + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *fields = grown;
    char *n = asyncio__strdup(name), *v = copy_n(value, value_len);
    if (!n || !v) {
        asyncio__free(n);
        asyncio__free(v);
        return -1;
    }
    grown[(*len)++] = (asyncio_cert_field_t){n, v};
    return 0;
}

static void free_fields(const asyncio_cert_field_t *fields, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        asyncio__free((void *)fields[i].name);
        asyncio__free((void *)fields[i].value);
    }
    asyncio__free((void *)fields);
}

/* A subject or issuer: (attribute's long name, its UTF-8 value), as
 * Python's _create_tuple_for_X509_NAME. */
static int name_fields(const X509_NAME *name, const asyncio_cert_field_t **fields, size_t *len)
{
    for (int i = 0; i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        char key[128];
        OBJ_obj2txt(key, sizeof key, X509_NAME_ENTRY_get_object(e), 0);
        unsigned char *utf8;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
        if (n < 0)
            return -1;
        int rc = add_field(fields, len, key, utf8, (size_t)n);
        OPENSSL_free(utf8);
        if (rc)
            return -1;
    }
    return 0;
}

/* One subjectAltName entry as Python's _get_peer_alt_names names it. */
static int alt_name_field(const GENERAL_NAME *g, const asyncio_cert_field_t **fields, size_t *len)
{
    char text[256];
    const ASN1_STRING *str;
    switch (g->type) {
    case GEN_DNS:
        str = g->d.dNSName;
        return add_field(fields, len, "DNS", ASN1_STRING_get0_data(str),
                         (size_t)ASN1_STRING_length(str));
    case GEN_EMAIL:
        str = g->d.rfc822Name;
        return add_field(fields, len, "email", ASN1_STRING_get0_data(str),
                         (size_t)ASN1_STRING_length(str));
    case GEN_URI:
        str = g->d.uniformResourceIdentifier;
        return add_field(fields, len, "URI", ASN1_STRING_get0_data(str),
                         (size_t)ASN1_STRING_length(str));
    case GEN_IPADD: {
        const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
        int n = ASN1_STRING_length(g->d.iPAddress);
        if (n == 4)
            snprintf(text, sizeof text, "%d.%d.%d.%d", p[0], p[1], p[2], p[3]);
        else if (n == 16) /* Python's form: eight groups, upper case, no "::" */
            snprintf(text, sizeof text, "%X:%X:%X:%X:%X:%X:%X:%X", p[0] << 8 | p[1],
                     p[2] << 8 | p[3], p[4] << 8 | p[5], p[6] << 8 | p[7], p[8] << 8 | p[9],
                     p[10] << 8 | p[11], p[12] << 8 | p[13], p[14] << 8 | p[15]);
        else
            snprintf(text, sizeof text, "<invalid>");
        return add_field(fields, len, "IP Address", text, strlen(text));
    }
    case GEN_DIRNAME:
        X509_NAME_oneline(g->d.directoryName, text, sizeof text);
        return add_field(fields, len, "DirName", text, strlen(text));
    case GEN_RID:
        OBJ_obj2txt(text, sizeof text, g->d.registeredID, 0);
        return add_field(fields, len, "Registered ID", text, strlen(text));
    default:
        return add_field(fields, len, "othername", "<unsupported>", strlen("<unsupported>"));
    }
}

static int alt_name_fields(X509 *cert, const asyncio_cert_field_t **fields, size_t *len)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    for (int i = 0; names && rc == 0 && i < sk_GENERAL_NAME_num(names); i++)
        rc = alt_name_field(sk_GENERAL_NAME_value(names, i), fields, len);
    GENERAL_NAMES_free(names);
    return rc;
}

/* What OpenSSL prints into a memory BIO, as a new string (Python's
 * notBefore, notAfter, serialNumber). */
static const char *printed(int (*print)(BIO *, const void *), const void *what)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return NULL;
    char *s = NULL, *p;
    if (print(bio, what) > 0) {
        long n = BIO_get_mem_data(bio, &p);
        s = copy_n(p, n > 0 ? (size_t)n : 0);
    }
    BIO_free(bio);
    return s;
}

static int print_time(BIO *bio, const void *t)
{
    return ASN1_TIME_print(bio, t);
}

static int print_serial(BIO *bio, const void *serial)
{
    return i2a_ASN1_INTEGER(bio, serial);
}

static int cert_fields(X509 *x, asyncio_peercert_t *cert)
{
    if (name_fields(X509_get_subject_name(x), &cert->subject, &cert->subject_len) ||
        name_fields(X509_get_issuer_name(x), &cert->issuer, &cert->issuer_len) ||
        alt_name_fields(x, &cert->subject_alt_name, &cert->subject_alt_name_len))
        return -1;
    cert->version = (int)X509_get_version(x) + 1;
    cert->serial_number = printed(print_serial, X509_get0_serialNumber(x));
    cert->not_before = printed(print_time, X509_get0_notBefore(x));
    cert->not_after = printed(print_time, X509_get0_notAfter(x));
    return cert->serial_number && cert->not_before && cert->not_after ? 0 : -1;
}

int asyncio_transport_getpeercert(asyncio_transport_t *handle, asyncio_peercert_t **out)
{
    if (out)
        *out = NULL;
    bool ok;
    asyncio__tls_layer_t *tls = layer_of(handle, &ok);
    if (!ok)
        return ASYNCIO_EVALUE;
    if (!out)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cert is NULL");
    if (!tls || !SSL_is_init_finished(tls->ssl))
        return 0;
    X509 *x = SSL_get1_peer_certificate(tls->ssl);
    if (!x)
        return 0;
    asyncio_peercert_t *cert = asyncio__calloc(1, sizeof *cert);
    if (!cert)
        goto nomem;
    unsigned char *der = NULL;
    int der_len = i2d_X509(x, &der);
    if (der_len < 0)
        goto nomem;
    cert->der = (unsigned char *)copy_n(der, (size_t)der_len);
    cert->der_len = (size_t)der_len;
    OPENSSL_free(der);
    if (!cert->der)
        goto nomem;
    /* Python's getpeercert() is empty for a certificate it did not verify. */
    cert->verified = (SSL_get_verify_mode(tls->ssl) & SSL_VERIFY_PEER) != 0;
    if (cert->verified && cert_fields(x, cert))
        goto nomem;
    X509_free(x);
    *out = cert;
    return 0;

nomem:
    X509_free(x);
    asyncio_peercert_free(cert);
    ERR_clear_error();
    return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for the peer's certificate");
}

void asyncio_peercert_free(asyncio_peercert_t *cert)
{
    if (!cert)
        return;
    free_fields(cert->subject, cert->subject_len);
    free_fields(cert->issuer, cert->issuer_len);
    free_fields(cert->subject_alt_name, cert->subject_alt_name_len);
    asyncio__free((void *)cert->serial_number);
    asyncio__free((void *)cert->not_before);
    asyncio__free((void *)cert->not_after);
    asyncio__free((void *)cert->der);
    asyncio__free(cert);
}
