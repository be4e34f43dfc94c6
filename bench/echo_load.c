/*
 * The load client of the echo benchmark, on plain libuv callbacks so that
 * it is never the bottleneck and is the same for every server measured.
 *
 *   echo_load --port P [--host H] [--name NAME] [--pid PID]
 *             [--conns 100] [--size 1024] [--warmup 1] [--seconds 5]
 *             [--tls CAFILE] [--bench echo]
 *   echo_load --port P --idle N [--pid PID] [--name NAME] [--tls CAFILE]
 *
 * Load mode: opens --conns connections, each with one message of --size
 * bytes in flight: it sends the message, waits until the same number of
 * bytes came back (checking them), sends again.  After --warmup seconds it
 * counts round trips for --seconds and prints
 *     RESULT echo NAME_req_per_s <value> req/s
 * and, given the server's --pid, the server's CPU time (user + system, of
 * all its threads) over the same interval per round trip:
 *     RESULT echo NAME_cpu_us_per_req <value> us
 * (its own CPU time per round trip is on stderr, and with --tls also in
 *     RESULT echo NAME_client_cpu_us_per_req <value> us).
 *
 * Idle mode: opens N connections, makes one 1-byte round trip on each (so
 * the server has accepted and set up every one), then reads the server's
 * RSS and prints the growth since before the first connection, per
 * connection:
 *     RESULT echo NAME_idle_bytes_per_conn <value> B
 * The connections are then closed.  N needs file descriptors in both
 * processes: this program raises its own soft RLIMIT_NOFILE to the hard
 * limit; the server must be started with enough (ulimit -n).
 *
 * --tls CAFILE: every connection speaks TLS (OpenSSL, the library's
 * defaults: TLS 1.3 here), verifying the server's certificate against
 * CAFILE and --host as an IP address; each connection counts as up once its
 * handshake is done, and the load or the idle round trip runs over TLS.
 * OpenSSL runs over memory BIOs on the sockets libuv already manages: what
 * libuv reads goes into the connection's input BIO, what OpenSSL writes
 * goes out with uv_try_write (in the idle mode SSL_MODE_RELEASE_BUFFERS
 * keeps the client small).  Every connection is a full handshake (no
 * session reuse).  Connections are closed with a close_notify.
 * --bench NAME: the benchmark name of the RESULT lines (default echo).
 *
 * Human-readable progress goes to stderr.  Exit status 0 only if every
 * connection worked and every byte came back as sent.
 */
#define _GNU_SOURCE
#include <uv.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    size_t got; /* bytes of the current message received */
    struct load *load;
    SSL *ssl; /* --tls: over memory BIOs (in: what was read, out: to send) */
    BIO *in, *out;
    bool up;    /* connected (and with --tls, handshake done) */
    char buf[]; /* where reads land: one message */
};

enum phase { IDLE, WARMUP, MEASURING, DONE };

struct load {
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    size_t nconns, size;
    double warmup_s, seconds;
    bool idle;
    long server_pid;
    const char *name, *bench;
    char *message;
    struct conn **conns;
    size_t connected, ready, closed;
    enum phase phase;
    uint64_t round_trips; /* counted while MEASURING */
    uint64_t t0_ns, t1_ns;
    int64_t cpu0_ns, cpu1_ns;
    int64_t self0_ns, self1_ns; /* this client's own CPU time */
    SSL_CTX *tls;               /* --tls */
    const char *host;
    char *rxbuf, *txbuf; /* --tls: ciphertext in and out (shared) */
    long rss0_kb;
    uv_timer_t timer;
    int failed;
};

static void die_uv(const char *what, int rc)
{
    fprintf(stderr, "echo_load: %s: %s\n", what, uv_strerror(rc));
    exit(2);
}

/* CPU time (user + system) of every thread of process pid in nanoseconds,
 * from /proc/PID/task/TID/schedstat (nanosecond resolution; /proc/PID/stat
 * counts clock ticks of 10 ms); -1 if it cannot be read. */
static int64_t process_cpu_ns(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int64_t total = 0;
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.')
            continue;
        char file[384];
        snprintf(file, sizeof file, "%s/%s/schedstat", path, d->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue; /* the thread just ended */
        long long ns;
        if (fscanf(f, "%lld", &ns) == 1)
            total += ns;
        fclose(f);
    }
    closedir(dir);
    return total;
}

/* VmRSS of process pid in kB, -1 if it cannot be read. */
static long process_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->load->closed++;
    if (c->ssl)
        SSL_free(c->ssl); /* and its BIOs */
    free(c);
}

/* --tls: a close_notify, sent if the kernel takes it at once (errors
 * ignored: the connection is going anyway). */
static void tls_goodbye(struct conn *c)
{
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    char *p;
    long n = BIO_get_mem_data(c->out, &p);
    if (n > 0) {
        uv_buf_t b = uv_buf_init(p, (unsigned)n);
        uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    ERR_clear_error();
}

static void close_all(struct load *l)
{
    l->phase = DONE;
    for (size_t i = 0; i < l->nconns; i++) {
        struct conn *c = l->conns[i];
        if (!c || uv_is_closing((uv_handle_t *)&c->tcp))
            continue;
        if (c->ssl && c->up && !l->failed)
            tls_goodbye(c);
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
    uv_close((uv_handle_t *)&l->timer, NULL);
}

static void fail(struct conn *c, const char *what, int rc)
{
    struct load *l = c->load;
    fprintf(stderr, "echo_load: %s: %s\n", what, rc ? uv_strerror(rc) : "unexpected data");
    l->failed = 1;
    if (l->phase != DONE)
        close_all(l);
}

/* An OpenSSL failure: its error queue (and the verification result). */
static void tls_fail(struct conn *c, const char *what, int err)
{
    struct load *l = c->load;
    unsigned long e = ERR_get_error();
    char text[256] = "";
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    long v = SSL_get_verify_result(c->ssl);
    fprintf(stderr, "echo_load: TLS %s: SSL_get_error %d%s%s%s%s\n", what, err, *text ? ", " : "",
            text, v != X509_V_OK ? ", certificate: " : "",
            v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
    ERR_clear_error();
    l->failed = 1;
    if (l->phase != DONE)
        close_all(l);
}

struct wreq {
    uv_write_t req;
    char data[]; /* a copy of what uv_try_write did not take, if not stable */
};

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        fail(c, "write", status);
}

/* Sends len bytes: what the kernel takes at once (nearly always all of
 * it), then the rest through a uv_write of its own, from base itself if it
 * stays (the message) or else from a copy. */
static void send_bytes(struct conn *c, char *base, size_t len, bool stable)
{
    uv_buf_t b = uv_buf_init(base, (unsigned)len);
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (sent == (int)len)
        return;
    if (sent < 0 && sent != UV_EAGAIN) {
        fail(c, "write", sent);
        return;
    }
    if (sent > 0)
        b = uv_buf_init(b.base + sent, (unsigned)(len - (size_t)sent));
    struct wreq *w = malloc(sizeof *w + (stable ? 0 : b.len));
    if (!w) {
        fprintf(stderr, "echo_load: out of memory\n");
        exit(2);
    }
    if (!stable) {
        memcpy(w->data, b.base, b.len);
        b.base = w->data;
    }
    w->req.data = c;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        fail(c, "write", rc);
    }
}

/* --tls: sends what OpenSSL wrote into the output BIO. */
static void tls_flush(struct conn *c)
{
    struct load *l = c->load;
    int n;
    while (BIO_ctrl_pending(c->out) > 0 && (n = BIO_read(c->out, l->txbuf, 65536)) > 0)
        send_bytes(c, l->txbuf, (size_t)n, false);
}

/* Sends len bytes of the message (encrypted with --tls). */
static void send_message(struct conn *c, size_t len)
{
    c->got = 0;
    if (!c->ssl) {
        send_bytes(c, c->load->message, len, true);
        return;
    }
    ERR_clear_error();
    int r = SSL_write(c->ssl, c->load->message, (int)len);
    if (r != (int)len) {
        tls_fail(c, "write", SSL_get_error(c->ssl, r));
        return;
    }
    tls_flush(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct conn *c = h->data;
    if (c->ssl) /* ciphertext: into the input BIO at once */
        *buf = uv_buf_init(c->load->rxbuf, 65536);
    else
        *buf = uv_buf_init(c->buf + c->got, (unsigned)(c->load->size - c->got));
}

static void idle_ready(struct load *l);
static void begin_measure(uv_timer_t *t);

/* The connection can carry messages: the first one goes. */
static void conn_up(struct conn *c)
{
    struct load *l = c->load;
    c->up = true;
    send_message(c, l->idle ? 1 : l->size);
    if (l->connected == 0 && c->ssl)
        fprintf(stderr, "echo_load: %s %s\n", SSL_get_version(c->ssl),
                SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
    /* Everyone up: the warm-up starts (the timer is free: every connection
     * was opened before this one completed). */
    if (++l->connected == l->nconns && !l->idle)
        uv_timer_start(&l->timer, begin_measure, (uint64_t)(l->warmup_s * 1000), 0);
}

/* got more bytes of the current message (already in c->buf): false if the
 * connection failed. */
static bool received(struct conn *c)
{
    struct load *l = c->load;
    size_t want = l->idle ? 1 : l->size;
    if (c->got < want)
        return true;
    if (c->got > want || memcmp(c->buf, l->message, want) != 0) {
        fail(c, "echo", 0);
        return false;
    }
    if (l->idle) {
        c->got = 0;
        if (++l->ready == l->nconns)
            idle_ready(l);
        return l->phase != DONE;
    }
    if (l->phase == MEASURING)
        l->round_trips++;
    send_message(c, l->size);
    return !l->failed;
}

/* --tls: n bytes of ciphertext came: the handshake goes on, or the
 * plaintext is read (at most the rest of the current message). */
static void tls_received(struct conn *c, const char *data, size_t n)
{
    struct load *l = c->load;
    if (BIO_write(c->in, data, (int)n) != (int)n) {
        fprintf(stderr, "echo_load: out of memory\n");
        exit(2);
    }
    ERR_clear_error();
    if (!c->up) {
        int r = SSL_do_handshake(c->ssl);
        tls_flush(c);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                tls_fail(c, "handshake", err);
            return;
        }
        conn_up(c);
        if (l->failed)
            return;
    }
    for (;;) {
        size_t want = l->idle ? 1 : l->size;
        int r = SSL_read(c->ssl, c->buf + c->got, (int)(want - c->got));
        if (r <= 0) {
            int err = SSL_get_error(c->ssl, r);
            if (err == SSL_ERROR_WANT_READ)
                return;
            if (err == SSL_ERROR_ZERO_RETURN)
                fail(c, "TLS read", UV_EOF);
            else
                tls_fail(c, "read", err);
            return;
        }
        c->got += (size_t)r;
        if (!received(c))
            return;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    struct load *l = c->load;
    if (n == 0 || l->phase == DONE)
        return;
    if (n < 0) {
        fail(c, "read", (int)n);
        return;
    }
    if (c->ssl) {
        tls_received(c, buf->base, (size_t)n);
        return;
    }
    c->got += (size_t)n;
    received(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct load *l = c->load;
    if (status < 0) {
        fail(c, "connect", status);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        fail(c, "read_start", rc);
        return;
    }
    if (!l->tls) {
        conn_up(c);
        return;
    }
    /* The ClientHello; the rest of the handshake in tls_received. */
    c->ssl = SSL_new(l->tls);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->in || !c->out) {
        fprintf(stderr, "echo_load: out of memory\n");
        exit(2);
    }
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_connect_state(c->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), l->host) != 1) {
        tls_fail(c, "verify parameters", 0);
        return;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    int err = SSL_get_error(c->ssl, r);
    if (err != SSL_ERROR_WANT_READ) {
        tls_fail(c, "handshake", err);
        return;
    }
    tls_flush(c);
}

/* Connections are opened in batches so that the server's accept backlog
 * (100 by default, as Python's) is not overrun when there are thousands. */
#define BATCH 64

static void open_some(struct load *l);

static void open_more(uv_timer_t *t)
{
    open_some(t->data);
}

static void open_some(struct load *l)
{
    size_t opened = 0;
    for (size_t i = 0; i < l->nconns && opened < BATCH; i++) {
        if (l->conns[i])
            continue;
        if (l->connected + BATCH < i)
            break; /* wait until earlier ones are through */
        struct conn *c = calloc(1, sizeof *c + l->size);
        if (!c) {
            fprintf(stderr, "echo_load: out of memory\n");
            exit(2);
        }
        c->load = l;
        c->tcp.data = c;
        c->connect.data = c;
        int rc = uv_tcp_init(l->loop, &c->tcp);
        if (rc < 0)
            die_uv("tcp_init", rc);
        l->conns[i] = c;
        rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&l->addr, on_connect);
        if (rc < 0) {
            fail(c, "connect", rc);
            return;
        }
        opened++;
    }
    if (l->conns[l->nconns - 1] == NULL && l->phase != DONE)
        uv_timer_start(&l->timer, open_more, 1, 0);
}

static void end_measure(uv_timer_t *t)
{
    struct load *l = t->data;
    l->t1_ns = uv_hrtime();
    l->cpu1_ns = l->server_pid ? process_cpu_ns(l->server_pid) : -1;
    l->self1_ns = process_cpu_ns(getpid());
    uint64_t n = l->round_trips;
    close_all(l);
    double secs = (double)(l->t1_ns - l->t0_ns) / 1e9;
    fprintf(stderr,
            "echo_load: %s: %" PRIu64 " round trips of %zu bytes in %.2f s on %zu connections\n",
            l->name, n, l->size, secs, l->nconns);
    if (n == 0) {
        l->failed = 1;
        return;
    }
    printf("RESULT %s %s_req_per_s %.0f req/s\n", l->bench, l->name, (double)n / secs);
    if (l->cpu0_ns >= 0 && l->cpu1_ns >= 0)
        printf("RESULT %s %s_cpu_us_per_req %.3f us\n", l->bench, l->name,
               (double)(l->cpu1_ns - l->cpu0_ns) / 1e3 / (double)n);
    if (l->self0_ns >= 0 && l->self1_ns >= 0) {
        double self = (double)(l->self1_ns - l->self0_ns) / 1e3 / (double)n;
        fprintf(stderr, "echo_load: %s: the client's own CPU: %.3f us per round trip\n", l->name,
                self);
        if (l->tls)
            printf("RESULT %s %s_client_cpu_us_per_req %.3f us\n", l->bench, l->name, self);
    }
}

static void begin_measure(uv_timer_t *t)
{
    struct load *l = t->data;
    l->phase = MEASURING;
    l->cpu0_ns = l->server_pid ? process_cpu_ns(l->server_pid) : -1;
    l->self0_ns = process_cpu_ns(getpid());
    l->t0_ns = uv_hrtime();
    uv_timer_start(&l->timer, end_measure, (uint64_t)(l->seconds * 1000), 0);
}

static void idle_ready(struct load *l)
{
    uv_timer_stop(&l->timer);
    long rss1 = process_rss_kb(l->server_pid);
    close_all(l);
    fprintf(stderr, "echo_load: %s: %zu idle connections, server RSS %ld kB -> %ld kB\n", l->name,
            l->nconns, l->rss0_kb, rss1);
    if (l->rss0_kb < 0 || rss1 < 0) {
        l->failed = 1;
        return;
    }
    printf("RESULT %s %s_idle_bytes_per_conn %.0f B\n", l->bench, l->name,
           (double)(rss1 - l->rss0_kb) * 1024.0 / (double)l->nconns);
}

static int usage(void)
{
    fprintf(stderr, "usage: echo_load --port P [--host H] [--name NAME] [--pid PID] [--conns N]\n"
                    "                 [--size BYTES] [--warmup S] [--seconds S] [--idle N]\n"
                    "                 [--tls CAFILE] [--bench NAME]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct load l = {.nconns = 100,
                     .size = 1024,
                     .warmup_s = 1,
                     .seconds = 5,
                     .name = "server",
                     .bench = "echo"};
    const char *host = "127.0.0.1", *cafile = NULL;
    long port = -1;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--host") == 0)
            host = v;
        else if (strcmp(k, "--port") == 0)
            port = strtol(v, NULL, 10);
        else if (strcmp(k, "--name") == 0)
            l.name = v;
        else if (strcmp(k, "--bench") == 0)
            l.bench = v;
        else if (strcmp(k, "--tls") == 0)
            cafile = v;
        else if (strcmp(k, "--pid") == 0)
            l.server_pid = strtol(v, NULL, 10);
        else if (strcmp(k, "--conns") == 0)
            l.nconns = strtoul(v, NULL, 10);
        else if (strcmp(k, "--size") == 0)
            l.size = strtoul(v, NULL, 10);
        else if (strcmp(k, "--warmup") == 0)
            l.warmup_s = strtod(v, NULL);
        else if (strcmp(k, "--seconds") == 0)
            l.seconds = strtod(v, NULL);
        else if (strcmp(k, "--idle") == 0) {
            l.idle = true;
            l.nconns = strtoul(v, NULL, 10);
        } else
            return usage();
    }
    if (port <= 0 || port > 65535 || l.nconns == 0 || l.size == 0 || l.seconds <= 0 ||
        (l.idle && l.server_pid <= 0))
        return usage();

    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&l.addr) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&l.addr) != 0) {
        fprintf(stderr, "echo_load: %s: not a numeric address\n", host);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    l.host = host;
    if (cafile) {
        l.tls = SSL_CTX_new(TLS_client_method());
        if (!l.tls || SSL_CTX_load_verify_locations(l.tls, cafile, NULL) != 1) {
            fprintf(stderr, "echo_load: %s: cannot load the CA certificates\n", cafile);
            return 2;
        }
        SSL_CTX_set_verify(l.tls, SSL_VERIFY_PEER, NULL);
        /* Idle connections give their record buffers back, as the
         * servers' do (casyncio's and Python's contexts set it too). */
        if (l.idle)
            SSL_CTX_set_mode(l.tls, SSL_MODE_RELEASE_BUFFERS);
        l.rxbuf = malloc(65536);
        l.txbuf = malloc(65536);
        if (!l.rxbuf || !l.txbuf)
            return 2;
    }

    l.message = malloc(l.size);
    l.conns = calloc(l.nconns, sizeof *l.conns);
    if (!l.message || !l.conns)
        return 2;
    for (size_t i = 0; i < l.size; i++)
        l.message[i] = (char)('a' + i % 26);
    l.loop = uv_default_loop();
    uv_timer_init(l.loop, &l.timer);
    l.timer.data = &l;
    if (l.idle)
        l.rss0_kb = process_rss_kb(l.server_pid);
    else
        l.phase = WARMUP;
    open_some(&l);
    uv_run(l.loop, UV_RUN_DEFAULT);
    if (!l.idle && l.phase != DONE && !l.failed) {
        fprintf(stderr, "echo_load: the loop ended early\n");
        l.failed = 1;
    }
    int rc = uv_loop_close(l.loop);
    if (rc < 0)
        fprintf(stderr, "echo_load: loop close: %s\n", uv_strerror(rc));
    free(l.conns);
    free(l.message);
    free(l.rxbuf);
    free(l.txbuf);
    SSL_CTX_free(l.tls);
    return l.failed ? 1 : 0;
}
