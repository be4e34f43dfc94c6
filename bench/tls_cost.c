/*
 * What TLS costs with no event loop and no sockets: OpenSSL alone, a client
 * and a server SSL in this process talking through memory BIOs (as
 * casyncio's and Python's TLS layers do), with the certificate of the TLS
 * benchmarks.  The reference the TLS servers are held against.
 *
 *   tls_cost --cert CERT --key KEY --ca CAFILE --mode record|handshake
 *            [--bench NAME] [--size 1024] [--seconds 1] [--conns 100]
 *
 * --mode record: --conns handshakes, then for --seconds echo round trips of
 * one --size message on each connection in turn (as the echo load does:
 * 100 connections' keys, buffers and SSL state do not all stay in the
 * caches, which costs ~10% over one connection here): the client writes
 * it, its record is moved into the server's input BIO, the server reads
 * it, writes it back, the record is moved into the client's input BIO, the
 * client reads it.  Both sides do
 * the same work for each round trip (one record encrypted, one decrypted,
 * one copy out of an output BIO and into an input BIO, as a server copies
 * ciphertext between the socket and its BIOs), so one side's cost per
 * request is the time per round trip / 2:
 *     RESULT NAME crypto_us_per_req <value> us
 * with OpenSSL's defaults; then the same with SSL_MODE_RELEASE_BUFFERS on
 * both sides (what casyncio's and Python's contexts set: the record buffers
 * are freed whenever they are empty, so each request allocates them again):
 *     RESULT NAME crypto_relbuf_us_per_req <value> us
 *
 * --mode handshake: full handshakes (no session reuse) for --seconds, the
 * server's part timed alone (SSL_new, every SSL_do_handshake call of the
 * server, SSL_free; the client verifies the chain as a client does):
 *     RESULT NAME openssl_cpu_us_per_handshake <value> us
 * (the client's part is on stderr).
 *
 * The protocol version and cipher are OpenSSL's defaults (here TLS 1.3 and
 * TLS_AES_256_GCM_SHA384, what the servers negotiate with bench/echo_load
 * and openssl s_time); they are printed on stderr.  Everything runs on one
 * thread, timed with the monotonic clock (the process does nothing else).
 */
#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct side {
    SSL *ssl;
    BIO *in, *out;
};

static char wire[1 << 17]; /* ciphertext in transit */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "tls_cost: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void side_new(struct side *s, SSL_CTX *ctx, bool server)
{
    s->ssl = SSL_new(ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->in || !s->out)
        die("out of memory");
    SSL_set_bio(s->ssl, s->in, s->out);
    if (server)
        SSL_set_accept_state(s->ssl);
    else
        SSL_set_connect_state(s->ssl);
}

/* Moves what `from` wrote into the input of `to`: true if there was any. */
static bool move(struct side *from, struct side *to)
{
    bool any = false;
    int n;
    while (BIO_ctrl_pending(from->out) > 0 && (n = BIO_read(from->out, wire, sizeof wire)) > 0) {
        if (BIO_write(to->in, wire, n) != n)
            die("BIO_write");
        any = true;
    }
    return any;
}

/* One step of a handshake: false on failure. */
static bool step(struct side *s, bool *done)
{
    if (*done)
        return true;
    int r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        *done = true;
        return true;
    }
    int e = SSL_get_error(s->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* A full handshake between a new client and a new server; the server's
 * part (SSL_new to the end of its handshake) is added to *server_ns. */
static void handshake(SSL_CTX *cctx, SSL_CTX *sctx, struct side *c, struct side *s,
                      int64_t *server_ns, int64_t *client_ns)
{
    int64_t t0 = now_ns();
    side_new(c, cctx, false);
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") != 1)
        die("X509_VERIFY_PARAM_set1_ip_asc");
    int64_t t1 = now_ns();
    side_new(s, sctx, true);
    int64_t t2 = now_ns();
    *client_ns += t1 - t0;
    *server_ns += t2 - t1;
    bool cdone = false, sdone = false;
    for (int rounds = 0; !cdone || !sdone; rounds++) {
        t0 = now_ns();
        bool ok = step(c, &cdone);
        t1 = now_ns();
        move(c, s);
        t2 = now_ns();
        ok = ok && step(s, &sdone);
        int64_t t3 = now_ns();
        move(s, c);
        *client_ns += t1 - t0;
        *server_ns += t3 - t2;
        if (!ok || rounds > 10)
            die("the handshake failed");
    }
    /* The server's last flight (its session tickets, in TLS 1.3) goes to
     * the client, which reads them with its first SSL_read. */
}

static void side_free(struct side *s)
{
    SSL_free(s->ssl);
}

static double record(SSL_CTX *cctx, SSL_CTX *sctx, size_t size, double seconds, int conns)
{
    struct side *c = calloc((size_t)conns, sizeof *c), *s = calloc((size_t)conns, sizeof *s);
    char *msg = malloc(size), *buf = malloc(size);
    if (!c || !s || !msg || !buf)
        die("out of memory");
    int64_t sns = 0, cns = 0;
    for (int k = 0; k < conns; k++)
        handshake(cctx, sctx, &c[k], &s[k], &sns, &cns);
    memset(msg, 'x', size);
    int64_t n = 0, t0 = now_ns(), t1 = t0, end = t0 + (int64_t)(seconds * 1e9);
    /* Round trips on each connection in turn; the first round of them is a
     * warm-up (each client reads its session tickets). */
    for (int64_t i = 0;; i++) {
        struct side *cl = &c[i % conns], *sv = &s[i % conns];
        if (SSL_write(cl->ssl, msg, (int)size) != (int)size)
            die("client SSL_write");
        move(cl, sv);
        if (SSL_read(sv->ssl, buf, (int)size) != (int)size)
            die("server SSL_read");
        if (SSL_write(sv->ssl, buf, (int)size) != (int)size)
            die("server SSL_write");
        move(sv, cl);
        if (SSL_read(cl->ssl, buf, (int)size) != (int)size)
            die("client SSL_read");
        if (i == 2 * conns) {
            t0 = now_ns();
            n = 0;
        } else if ((++n & 1023) == 0 && (t1 = now_ns()) >= end) {
            break;
        }
    }
    if (memcmp(buf, msg, size) != 0)
        die("the echo came back different");
    fprintf(stderr,
            "tls_cost: %s %s, %zu-byte messages on %d connections: %lld round trips in %.2f s\n",
            SSL_get_version(s[0].ssl), SSL_CIPHER_get_name(SSL_get_current_cipher(s[0].ssl)), size,
            conns, (long long)n, (double)(t1 - t0) / 1e9);
    for (int k = 0; k < conns; k++) {
        side_free(&c[k]);
        side_free(&s[k]);
    }
    free(c);
    free(s);
    free(msg);
    free(buf);
    return (double)(t1 - t0) / 1e3 / (double)n / 2;
}

static double handshakes(SSL_CTX *cctx, SSL_CTX *sctx, double seconds)
{
    int64_t sns = 0, cns = 0, n = 0, t0 = now_ns(), end = t0 + (int64_t)(seconds * 1e9);
    const char *version = "?", *cipher = "?";
    while (now_ns() < end || n < 10) {
        struct side c, s;
        handshake(cctx, sctx, &c, &s, &sns, &cns);
        version = SSL_get_version(s.ssl);
        cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(s.ssl));
        if (SSL_session_reused(c.ssl))
            die("a session was reused");
        int64_t t = now_ns();
        side_free(&s);
        sns += now_ns() - t;
        side_free(&c);
        n++;
    }
    double wall = (double)(now_ns() - t0) / 1e9;
    fprintf(stderr,
            "tls_cost: %s %s: %lld full handshakes in %.2f s: server %.1f us, client %.1f us "
            "each\n",
            version, cipher, (long long)n, wall, (double)sns / 1e3 / (double)n,
            (double)cns / 1e3 / (double)n);
    return (double)sns / 1e3 / (double)n;
}

static int usage(void)
{
    fprintf(stderr, "usage: tls_cost --cert CERT --key KEY --ca CAFILE --mode record|handshake\n"
                    "                [--bench NAME] [--size BYTES] [--seconds S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ca = NULL, *mode = NULL, *bench = "tls";
    size_t size = 1024;
    double seconds = 1;
    int conns = 100;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--cert") == 0)
            cert = v;
        else if (strcmp(k, "--key") == 0)
            key = v;
        else if (strcmp(k, "--ca") == 0)
            ca = v;
        else if (strcmp(k, "--mode") == 0)
            mode = v;
        else if (strcmp(k, "--bench") == 0)
            bench = v;
        else if (strcmp(k, "--size") == 0)
            size = strtoul(v, NULL, 10);
        else if (strcmp(k, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else if (strcmp(k, "--conns") == 0)
            conns = atoi(v);
        else
            return usage();
    }
    if (!cert || !key || !ca || !mode || size == 0 || size > 16384 || seconds <= 0 || conns < 1)
        return usage();

    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    if (!sctx || !cctx)
        die("SSL_CTX_new");
    if (SSL_CTX_use_certificate_chain_file(sctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        die("cannot load the certificate and key");
    if (SSL_CTX_load_verify_locations(cctx, ca, NULL) != 1)
        die("cannot load the CA certificates");
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

    if (strcmp(mode, "record") == 0) {
        double us = record(cctx, sctx, size, seconds, conns);
        printf("RESULT %s crypto_us_per_req %.3f us\n", bench, us);
        SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_mode(cctx, SSL_MODE_RELEASE_BUFFERS);
        double rb = record(cctx, sctx, size, seconds, conns);
        printf("RESULT %s crypto_relbuf_us_per_req %.3f us\n", bench, rb);
        fprintf(stderr,
                "tls_cost: one side's OpenSSL work per request: %.3f us (%.3f us with "
                "SSL_MODE_RELEASE_BUFFERS; half a round trip of both)\n",
                us, rb);
    } else if (strcmp(mode, "handshake") == 0) {
        double us = handshakes(cctx, sctx, seconds);
        printf("RESULT %s openssl_cpu_us_per_handshake %.1f us\n", bench, us);
    } else {
        return usage();
    }
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return 0;
}
