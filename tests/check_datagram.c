/*
 * Datagram endpoints (loop.create_datagram_endpoint): UDP over IPv4 and
 * IPv6, Unix datagram sockets with and without a remote address, in the
 * abstract namespace and larger than UDP's, connected and unconnected
 * endpoints, a server answering several peers, empty datagrams,
 * reuse_port, error_received (ECONNREFUSED, EMSGSIZE, ENOBUFS, another
 * family's address), the write queue and flow control, existing sockets
 * (sock=), bad arguments and dead handles, 100,000 datagrams each way,
 * cancellation while resolving, allocation failures, callbacks that raise
 * or close their endpoint in the middle of a batch, and the loop closing
 * with endpoints open.
 *
 * Where Python decides the answer, the expected lines are what the twins
 * tests/twins/datagram_*.py print (run with /usr/bin/python3), named in
 * each test's comment; the logs use their format.  Endpoints bind
 * 127.0.0.1, ::1 or paths in a temporary directory, and are closed by the
 * tests.  No result depends on timing: tests wait for events, never for
 * durations.
 *
 * The runner is linked with -Wl,--wrap=sendto, so the sends the library
 * makes (datagram.c) go through __wrap_sendto below: a test can make the
 * kernel refuse the next ones (EAGAIN, ENOBUFS), which loopback UDP never
 * does by itself.  libuv's own sends (sendmmsg, for the queue's head) are
 * not wrapped.
 */
#include "testutil.h"
#include "netutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h> /* libuv's error codes */

#include "../src/testing.h" /* asyncio__handle_count */

/* ---------------------------------------------------------------------
 * Sends that fail on demand.
 * --------------------------------------------------------------------- */

ssize_t __real_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
                      socklen_t alen);
ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
                      socklen_t alen);

static int fail_sends; /* how many of the next sends fail */
static int fail_errno; /* with this errno */

ssize_t __wrap_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
                      socklen_t alen)
{
    if (fail_sends > 0) {
        fail_sends--;
        errno = fail_errno;
        return -1;
    }
    return __real_sendto(fd, buf, len, flags, addr, alen);
}

/* ---------------------------------------------------------------------
 * Endpoints that log what happens to them, as the twins' Recorder.
 * --------------------------------------------------------------------- */

/* A temporary directory for Unix sockets, made per test (fork mode). */
static char DIR_[64];

static const char *dpath(const char *name)
{
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ % 8];
    if (!DIR_[0]) {
        snprintf(DIR_, sizeof DIR_, "/tmp/casyncio-dgram-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(DIR_));
    }
    snprintf(b, 128, "%s/%s", DIR_, name);
    return b;
}

static void dir_remove(void)
{
    if (!DIR_[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    ck_assert_int_eq(system(cmd), 0);
    DIR_[0] = '\0';
}

typedef struct ep {
    const char *name;
    bool echo;       /* send every datagram back to its sender */
    bool unix_names; /* log senders by file name (the unix twin's way) */
    asyncio_datagram_transport_t *t;
    asyncio_sockaddr_t sockname; /* at connection_made */
    int got;                     /* datagrams and errors received */
    int lost;
    int pauses, resumes;
    bool paused;
} ep_t;

/* The endpoints of the running test, to name senders. */
static ep_t *EPS[8];
static size_t NEPS;

/* Appends " event" to LOG, with every number of 4 or 5 digits written P
 * (ports), as the twins' Log.add. */
static void ev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ev(const char *fmt, ...)
{
    char raw[2048], out[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t o = 0;
    for (size_t i = 0; raw[i] && o < sizeof out - 2;) {
        size_t j = i;
        while (raw[j] >= '0' && raw[j] <= '9')
            j++;
        bool word_before =
            i > 0 && (raw[i - 1] == '_' || (raw[i - 1] >= '0' && raw[i - 1] <= '9') ||
                      ((raw[i - 1] | 32) >= 'a' && (raw[i - 1] | 32) <= 'z'));
        bool word_after = raw[j] == '_' || ((raw[j] | 32) >= 'a' && (raw[j] | 32) <= 'z');
        if (j - i >= 4 && j - i <= 5 && !word_before && !word_after) {
            out[o++] = 'P';
            i = j;
        } else if (j > i) {
            while (i < j && o < sizeof out - 2)
                out[o++] = raw[i++];
        } else {
            out[o++] = raw[i++];
        }
    }
    out[o] = '\0';
    LOGF(" %s", out);
}

/* Python's repr() of bytes. */
static const char *pybytes(const char *p, size_t n)
{
    static char buf[256];
    size_t o = 0;
    buf[o++] = 'b';
    buf[o++] = '\'';
    for (size_t i = 0; i < n && o < sizeof buf - 8; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, sizeof buf - o, "\\%c", c);
        else if (c >= 32 && c < 127)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* Python's repr() of an address tuple. */
static const char *pyaddr(const asyncio_sockaddr_t *a)
{
    static char buf[200];
    if (a->family == AF_INET6)
        snprintf(buf, sizeof buf, "('%s', %d, 0, 0)", a->host, a->port);
    else
        snprintf(buf, sizeof buf, "('%s', %d)", a->host, a->port);
    return buf;
}

/* A Unix address as the unix twin writes it. */
static const char *unix_label(const asyncio_sockaddr_t *a)
{
    if (!a)
        return "None";
    if (!a->host[0])
        return "''";
    if (a->host[0] == '@')
        return a->host;
    const char *slash = strrchr(a->host, '/');
    return slash ? slash + 1 : a->host;
}

static const char *sender(const ep_t *e, const asyncio_sockaddr_t *addr)
{
    if (e->unix_names)
        return unix_label(addr);
    for (size_t i = 0; i < NEPS; i++)
        if (EPS[i]->sockname.family == addr->family && EPS[i]->sockname.port == addr->port &&
            strcmp(EPS[i]->sockname.host, addr->host) == 0)
            return EPS[i]->name;
    return pyaddr(addr);
}

static void r_made(asyncio_datagram_transport_t *t, void *user)
{
    ep_t *e = user;
    e->t = t;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(t, &e->sockname), 0);
    ev("%s:made", e->name);
}

static void r_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                   const asyncio_sockaddr_t *addr, void *user)
{
    ep_t *e = user;
    ck_assert_int_eq(data[len], '\0');
    if (len < 100)
        ev("%s:recv(%s,%s)", e->name, pybytes(data, len), sender(e, addr));
    else
        ev("%s:recv(%zu bytes)", e->name, len);
    if (e->echo)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(t, data, len, addr), 0);
    e->got++;
}

static void r_error(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    ep_t *e = user;
    ck_assert(asyncio_error_matches("OSError") || !asyncio_error());
    ev("%s:error(%s: %s)", e->name, exc->type, exc->message);
    e->got++;
}

static void r_lost(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    ep_t *e = user;
    ev("%s%slost(%s)", e->name, e->name[0] ? ":" : "", exc ? exc->type : "None");
    e->lost++;
}

static void r_pause(asyncio_datagram_transport_t *t, void *user)
{
    (void)t;
    ep_t *e = user;
    e->pauses++;
    e->paused = true;
    ev("pause_writing");
}

static void r_resume(asyncio_datagram_transport_t *t, void *user)
{
    (void)t;
    ep_t *e = user;
    e->resumes++;
    e->paused = false;
    ev("resume_writing");
}

/* A protocol with no callbacks: Python's bare DatagramProtocol. */
static const asyncio_datagram_protocol_t NOTHING = {0};

static const asyncio_datagram_protocol_t RECORDER = {r_made, r_recv,  r_error,
                                                     r_lost, r_pause, r_resume};

/* create_datagram_endpoint with e as the protocol's state, asserting it
 * worked and that connection_made came before it returned. */
static void create_ok(ep_t *e, const asyncio_datagram_opts_t *o)
{
    asyncio_datagram_transport_t *t = SENTINEL;
    int rc = asyncio_create_datagram_endpoint(&RECORDER, e, o, &t);
    ck_assert_msg(rc == 0, "create_datagram_endpoint (%s): %s", e->name, tu_raised_message());
    ck_assert_ptr_eq(t, e->t);
    ck_assert(NEPS < 8);
    EPS[NEPS++] = e;
}

static void wait_for(const int *counter, int n)
{
    while (*counter < n)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
}

/* transport.close(), then awaits connection_lost. */
static void close_ok(ep_t *e)
{
    int lost = e->lost;
    asyncio_datagram_transport_close(e->t);
    wait_for(&e->lost, lost + 1);
}

static void reset(void)
{
    NEPS = 0;
    memset(&LOG, 0, sizeof LOG);
}

/* Runs main, then compares the log with the twin's line. */
static void run_log(asyncio_coro_fn main, void *arg, const char *want)
{
    reset();
    tu_run_ok(main, arg);
    tu_assert_log(&LOG, want);
}

/* ---------------------------------------------------------------------
 * UDP.  Twin: tests/twins/datagram_basic.py
 * --------------------------------------------------------------------- */

static void *udp_main(void *arg)
{
    const char *host = arg;
    bool v6 = strchr(host, ':') != NULL;
    LOGF("%s", v6 ? "udp_v6" : "udp_v4");
    ep_t srv = {.name = "srv", .echo = true}, cli = {.name = "cli"};
    asyncio_datagram_opts_t so = {.local_host = host};
    create_ok(&srv, &so);
    int port = srv.sockname.port;
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(srv.sockname.family, v6 ? AF_INET6 : AF_INET);
    asyncio_datagram_opts_t co = {.remote_host = host, .remote_port = port};
    create_ok(&cli, &co);
    asyncio_sockaddr_t peer;
    ck_assert_int_eq(asyncio_datagram_transport_peername(cli.t, &peer), 0);
    ev("peer=%s,%s", peer.host, peer.port == port ? "P" : "?");
    /* The server is not connected: Python's None. */
    ck_assert_int_eq(asyncio_datagram_transport_peername(srv.t, &peer), 0);
    ck_assert_int_eq(peer.family, 0);

    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "hello", 5, NULL), 0);
    wait_for(&cli.got, 1);
    asyncio_sockaddr_t other = {.port = port};
    strcpy(other.host, v6 ? "::2" : "127.0.0.2");
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "x", 1, &other), ASYNCIO_EVALUE);
    assert_python_message();
    ck_assert_str_eq(asyncio_error()->type, "ValueError");
    ev("ValueError(%s)", asyncio_error()->message);
    asyncio_error_clear();
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "again", 5, &srv.sockname), 0);
    wait_for(&cli.got, 2);
    ev("closing=%s", TF(asyncio_datagram_transport_is_closing(cli.t)));
    close_ok(&cli);
    ev("closing=%s", TF(asyncio_datagram_transport_is_closing(cli.t)));
    close_ok(&srv);
    return NULL;
}

START_TEST(test_udp_v4)
{
    run_log(udp_main, "127.0.0.1",
            "udp_v4 srv:made cli:made peer=127.0.0.1,P srv:recv(b'hello',cli) "
            "cli:recv(b'hello',srv) ValueError(Invalid address: must be None or ('127.0.0.1', P)) "
            "srv:recv(b'again',cli) cli:recv(b'again',srv) closing=False cli:lost(None) "
            "closing=True srv:lost(None)");
}
END_TEST

START_TEST(test_udp_v6)
{
    run_log(udp_main, "::1",
            "udp_v6 srv:made cli:made peer=::1,P srv:recv(b'hello',cli) cli:recv(b'hello',srv) "
            "ValueError(Invalid address: must be None or ('::1', P, 0, 0)) "
            "srv:recv(b'again',cli) cli:recv(b'again',srv) closing=False cli:lost(None) "
            "closing=True srv:lost(None)");
}
END_TEST

/* allow_broadcast with remote_addr: not connected, and remote_addr is
 * sendto's default address. */
static void *broadcast_main(void *arg)
{
    (void)arg;
    LOGF("broadcast_remote");
    ep_t srv = {.name = "srv", .echo = true}, bc = {.name = "bc"};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    asyncio_datagram_opts_t bo = {
        .remote_host = "127.0.0.1", .remote_port = srv.sockname.port, .allow_broadcast = true};
    create_ok(&bc, &bo);
    asyncio_sockaddr_t peer;
    ck_assert_int_eq(asyncio_datagram_transport_peername(bc.t, &peer), 0);
    ev("peer=%s", peer.family ? peer.host : "None");
    int on = 0;
    socklen_t len = sizeof on;
    ck_assert_int_eq(
        getsockopt(asyncio_datagram_transport_fileno(bc.t), SOL_SOCKET, SO_BROADCAST, &on, &len),
        0);
    ck_assert_int_eq(on, 1);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(bc.t, "to remote", 9, NULL), 0);
    wait_for(&bc.got, 1);
    close_ok(&bc);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_udp_broadcast_remote)
{
    run_log(broadcast_main, NULL,
            "broadcast_remote srv:made bc:made peer=None srv:recv(b'to remote',('127.0.0.1', P)) "
            "bc:recv(b'to remote',srv) bc:lost(None) srv:lost(None)");
}
END_TEST

/* A connected endpoint whose peer is gone: ICMP port unreachable comes
 * back as ConnectionRefusedError in error_received, once per datagram,
 * and the endpoint stays open. */
static void *refused_main(void *arg)
{
    (void)arg;
    LOGF("refused");
    ep_t gone = {.name = "gone"}, cli = {.name = "cli"};
    asyncio_datagram_opts_t go = {.local_host = "127.0.0.1"};
    create_ok(&gone, &go);
    int port = gone.sockname.port;
    close_ok(&gone);
    /* From another loopback address: bound to 127.0.0.1, the client could
     * get the freed port and be connected to itself. */
    asyncio_datagram_opts_t co = {
        .local_host = "127.0.0.2", .remote_host = "127.0.0.1", .remote_port = port};
    create_ok(&cli, &co);
    for (int i = 1; i <= 2; i++) {
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, i == 1 ? "1" : "2", 1, NULL), 0);
        wait_for(&cli.got, i);
        ev("closing=%s", TF(asyncio_datagram_transport_is_closing(cli.t)));
    }
    close_ok(&cli);
    return NULL;
}

START_TEST(test_udp_refused)
{
    run_log(refused_main, NULL,
            "refused gone:made gone:lost(None) cli:made "
            "cli:error(ConnectionRefusedError: [Errno 111] Connection refused) closing=False "
            "cli:error(ConnectionRefusedError: [Errno 111] Connection refused) closing=False "
            "cli:lost(None)");
}
END_TEST

/* A server answering several peers in turn: each answer goes to the peer
 * that asked (the transport keeps the last sender's address converted;
 * a new sender replaces it). */
static void *peers_main(void *arg)
{
    (void)arg;
    ep_t srv = {.name = "srv", .echo = true};
    ep_t cli[3] = {{.name = "c0"}, {.name = "c1"}, {.name = "c2"}};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    for (int i = 0; i < 3; i++) {
        asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = srv.sockname.port};
        create_ok(&cli[i], &co);
    }
    static const int order[] = {0, 1, 1, 2, 0, 0, 2, 1};
    int want[3] = {0};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        int i = order[k];
        char msg[16];
        snprintf(msg, sizeof msg, "to c%d", i);
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli[i].t, msg, strlen(msg), NULL), 0);
        wait_for(&cli[i].got, ++want[i]);
    }
    /* A copy of the last sender's address, not the pointer given. */
    asyncio_sockaddr_t copy = cli[1].sockname;
    ck_assert_int_eq(asyncio_datagram_transport_sendto(srv.t, "copy", 4, &copy), 0);
    wait_for(&cli[1].got, ++want[1]);
    for (int i = 0; i < 3; i++)
        close_ok(&cli[i]);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_udp_peers)
{
    reset();
    tu_run_ok(peers_main, NULL);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof want, "c%d:recv(b'to c%d',srv)", i, i);
        ck_assert_ptr_nonnull(strstr(LOG.buf, want));
        for (int j = 0; j < 3; j++) {
            snprintf(want, sizeof want, "c%d:recv(b'to c%d',srv)", i, j);
            if (i != j)
                ck_assert_ptr_null(strstr(LOG.buf, want));
        }
    }
    ck_assert_ptr_nonnull(strstr(LOG.buf, "c1:recv(b'copy',srv)"));
}
END_TEST

/* Empty datagrams are sent and received, as Python 3.13 sends them (3.11
 * drops them in sendto): no twin line.  The data pointer of an empty
 * datagram points at a NUL, as any other's. */
static void *empty_main(void *arg)
{
    (void)arg;
    ep_t srv = {.name = "srv", .echo = true}, cli = {.name = "cli"};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = srv.sockname.port};
    create_ok(&cli, &co);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, NULL, 0, NULL), 0);
    wait_for(&cli.got, 1);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "", 0, NULL), 0);
    wait_for(&cli.got, 2);
    close_ok(&cli);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_empty_datagram)
{
    run_log(empty_main, NULL,
            " srv:made cli:made srv:recv(b'',cli) cli:recv(b'',srv) srv:recv(b'',cli) "
            "cli:recv(b'',srv) cli:lost(None) srv:lost(None)");
}
END_TEST

/* ---------------------------------------------------------------------
 * Volume: N datagrams each way with at most W in flight, so that no
 * receive buffer overflows; every one must arrive, exactly once.
 *
 * One thing can still drop a datagram on loopback: the kernel's per-CPU
 * queue of packets waiting for its network softirq (1,000 by default,
 * shared by every process), which other programs' bulk traffic can fill
 * on a busy machine.  The test then sees no progress: after half a second
 * of it, it sends again what is missing, and passes only if the kernel's
 * count of such drops (or of UDP receive errors) went up meanwhile: a
 * datagram lost with the kernel's counters unmoved is lost by casyncio.
 * --------------------------------------------------------------------- */

typedef struct volume {
    long n, window;
    long sent, echoed, received; /* client sends, server echoes, client receives */
    long resent;
    unsigned char *seen;
    asyncio_datagram_transport_t *cli;
    bool dup;
} volume_t;

static void v_send(volume_t *v, long seq)
{
    char d[64];
    memset(d, 'v', sizeof d);
    memcpy(d, &seq, sizeof seq);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(v->cli, d, sizeof d, NULL), 0);
}

static void v_send_next(volume_t *v)
{
    v_send(v, v->sent++);
}

/* Datagrams the kernel dropped, by its counters: the softirq queue's drops
 * (/proc/net/softnet_stat, second column, one line per CPU) and UDP's
 * InErrors (/proc/net/snmp). */
static unsigned long long kernel_drops(void)
{
    unsigned long long total = 0, processed, dropped;
    FILE *f = fopen("/proc/net/softnet_stat", "r");
    if (f) {
        while (fscanf(f, "%llx %llx%*[^\n]", &processed, &dropped) == 2)
            total += dropped;
        fclose(f);
    }
    char line[512];
    int udp_lines = 0;
    if ((f = fopen("/proc/net/snmp", "r"))) {
        while (fgets(line, sizeof line, f)) {
            unsigned long long in, noports, errors;
            if (strncmp(line, "Udp: ", 5) == 0 && ++udp_lines == 2 &&
                sscanf(line + 5, "%llu %llu %llu", &in, &noports, &errors) == 3)
                total += errors;
        }
        fclose(f);
    }
    return total;
}

/* No answer for a while: what was sent and has not come back, again. */
static void v_resend_missing(volume_t *v)
{
    for (long seq = 0; seq < v->sent; seq++)
        if (!v->seen[seq]) {
            v_send(v, seq);
            v->resent++;
        }
}

static void v_srv_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                       const asyncio_sockaddr_t *addr, void *user)
{
    volume_t *v = user;
    v->echoed++;
    ck_assert_int_eq(asyncio_datagram_transport_sendto(t, data, len, addr), 0);
}

static void v_cli_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                       const asyncio_sockaddr_t *addr, void *user)
{
    (void)t;
    (void)addr;
    volume_t *v = user;
    ck_assert_uint_eq(len, 64);
    long seq;
    memcpy(&seq, data, sizeof seq);
    ck_assert(seq >= 0 && seq < v->n);
    if (v->seen[seq]) { /* with resends, one that was only late can come twice */
        v->dup = true;
        return;
    }
    v->seen[seq] = 1;
    v->received++;
    if (v->sent < v->n)
        v_send_next(v);
}

static void v_error(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)user;
    ck_abort_msg("error_received: %s: %s", exc->type, exc->message);
}

static const asyncio_datagram_protocol_t V_SRV = {.datagram_received = v_srv_recv,
                                                  .error_received = v_error};
static const asyncio_datagram_protocol_t V_CLI = {.datagram_received = v_cli_recv,
                                                  .error_received = v_error};

static void *volume_main(void *arg)
{
    bool unix_ = arg != NULL;
    volume_t v = {.n = tu_scaled(100000), .window = unix_ ? 8 : 64};
    v.seen = calloc((size_t)v.n, 1);
    asyncio_datagram_transport_t *srv = NULL;
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    if (unix_)
        so = (asyncio_datagram_opts_t){.family = AF_UNIX, .local_host = dpath("srv.sock")};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&V_SRV, &v, &so, &srv), 0);
    asyncio_sockaddr_t sa;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(srv, &sa), 0);
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = sa.port};
    if (unix_) /* bound, so that the server can answer */
        co = (asyncio_datagram_opts_t){
            .family = AF_UNIX, .local_host = dpath("cli.sock"), .remote_host = sa.host};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&V_CLI, &v, &co, &v.cli), 0);
    unsigned long long drops_before = kernel_drops();
    for (long i = 0; i < v.window && v.sent < v.n; i++)
        v_send_next(&v);
    long progress = -1;
    double since = asyncio_loop_time(NULL);
    while (v.received < v.n) {
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
        double now = asyncio_loop_time(NULL);
        if (v.received != progress) {
            progress = v.received;
            since = now;
        } else if (now - since > 0.5) {
            v_resend_missing(&v);
            since = now;
        }
    }
    if (v.resent) {
        ck_assert_msg(kernel_drops() > drops_before,
                      "%ld datagrams sent again, and the kernel dropped none: lost by casyncio",
                      v.resent);
    } else {
        ck_assert_int_eq(v.echoed, v.n);
        ck_assert(!v.dup);
    }
    for (long i = 0; i < v.n; i++)
        ck_assert(v.seen[i]);
    asyncio_datagram_transport_close(v.cli);
    asyncio_datagram_transport_close(srv);
    free(v.seen);
    return NULL;
}

START_TEST(test_udp_volume)
{
    tu_run_ok(volume_main, NULL);
}
END_TEST

START_TEST(test_unix_volume)
{
    tu_run_ok(volume_main, "unix");
    dir_remove();
}
END_TEST

/* ---------------------------------------------------------------------
 * Unix datagram sockets.  Twin: tests/twins/datagram_unix.py
 * --------------------------------------------------------------------- */

static void unix_create_ok(ep_t *e, const char *local, const char *remote)
{
    e->unix_names = true;
    asyncio_datagram_opts_t o = {.family = AF_UNIX, .local_host = local, .remote_host = remote};
    create_ok(e, &o);
}

static asyncio_sockaddr_t unix_addr(const char *path)
{
    asyncio_sockaddr_t a = {.family = AF_UNIX};
    snprintf(a.host, sizeof a.host, "%s", path);
    return a;
}

static void *unix_main(void *arg)
{
    (void)arg;
    LOGF("unix");
    const char *A = dpath("a.sock"), *B = dpath("b.sock");
    ep_t a = {.name = "a"}, b = {.name = "b"}, c = {.name = "c"}, a2 = {.name = "a2"},
         d = {.name = "d"};
    asyncio_sockaddr_t s, p;
    unix_create_ok(&a, A, NULL);
    ck_assert_int_eq(asyncio_datagram_transport_peername(a.t, &p), 0);
    ev("a.sockname=%s a.peer=%s", unix_label(&a.sockname), p.family ? unix_label(&p) : "None");
    /* b: connected, unbound: the receiver sees None */
    unix_create_ok(&b, NULL, A);
    ck_assert_int_eq(asyncio_datagram_transport_sockname(b.t, &s), 0);
    ck_assert_int_eq(asyncio_datagram_transport_peername(b.t, &p), 0);
    ev("b.sockname=%s b.peer=%s", unix_label(&s), unix_label(&p));
    ck_assert_int_eq(asyncio_datagram_transport_sendto(b.t, "from unbound", 12, NULL), 0);
    wait_for(&a.got, 1);
    /* c: bound and connected */
    unix_create_ok(&c, B, A);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(c.t, "from bound", 10, NULL), 0);
    wait_for(&a.got, 2);
    asyncio_sockaddr_t to = unix_addr(B);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(a.t, "reply", 5, &to), 0);
    wait_for(&c.got, 1);
    to = unix_addr(dpath("other.sock"));
    ck_assert_int_eq(asyncio_datagram_transport_sendto(c.t, "x", 1, &to), ASYNCIO_EVALUE);
    assert_python_message();
    const char *msg = asyncio_error()->message, *dir = strstr(msg, DIR_);
    ck_assert_ptr_nonnull(dir);
    ev("ValueError(%.*s%s)", (int)(dir - msg), msg, dir + strlen(DIR_) + 1);
    asyncio_error_clear();
    to = unix_addr(dpath("nobody.sock"));
    ck_assert_int_eq(asyncio_datagram_transport_sendto(a.t, "lost", 4, &to), 0);
    wait_for(&a.got, 3);
    close_ok(&a);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(c.t, "to a closed socket", 18, NULL), 0);
    wait_for(&c.got, 2);
    ev("c.closing=%s", TF(asyncio_datagram_transport_is_closing(c.t)));
    /* A socket file left at A is removed when a new endpoint binds there.
     * c's connection ended with the socket it was connected to. */
    unix_create_ok(&a2, A, NULL);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(c.t, "to the new a", 12, NULL), 0);
    wait_for(&c.got, 3);
    unix_create_ok(&d, NULL, A);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(d.t, "to the new a", 12, NULL), 0);
    wait_for(&a2.got, 1);
    close_ok(&a2);
    close_ok(&b);
    close_ok(&c);
    close_ok(&d);
    /* The socket files stay, as Python leaves them. */
    struct stat st;
    ck_assert_int_eq(stat(A, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    return NULL;
}

START_TEST(test_unix)
{
    run_log(unix_main, NULL,
            "unix a:made a.sockname=a.sock a.peer=None b:made b.sockname='' b.peer=a.sock "
            "a:recv(b'from unbound',None) c:made a:recv(b'from bound',b.sock) "
            "c:recv(b'reply',a.sock) ValueError(Invalid address: must be None or a.sock) "
            "a:error(FileNotFoundError: [Errno 2] No such file or directory) a:lost(None) "
            "c:error(ConnectionRefusedError: [Errno 111] Connection refused) c.closing=False "
            "a2:made c:error(OSError: [Errno 107] Transport endpoint is not connected) d:made "
            "a2:recv(b'to the new a',None) a2:lost(None) b:lost(None) c:lost(None) "
            "d:lost(None)");
    dir_remove();
}
END_TEST

/* Linux's abstract namespace: '@' for Python's leading NUL.  The names
 * carry the pid (after a 'p', so that ev() leaves it alone), written PID
 * in the log, as the twin writes it. */
static void *abstract_main(void *arg)
{
    (void)arg;
    LOGF("unix_abstract");
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "@casyncio-twin-p%d-1", (int)getpid());
    snprintf(n2, sizeof n2, "@casyncio-twin-p%d-2", (int)getpid());
    ep_t x = {.name = "x"}, y = {.name = "y"};
    unix_create_ok(&x, n1, NULL);
    unix_create_ok(&y, n2, n1);
    asyncio_sockaddr_t p;
    ck_assert_int_eq(asyncio_datagram_transport_peername(y.t, &p), 0);
    ev("y.peer=%s", unix_label(&p));
    ck_assert_int_eq(asyncio_datagram_transport_sendto(y.t, "abstract", 8, NULL), 0);
    wait_for(&x.got, 1);
    asyncio_sockaddr_t to = unix_addr(n2);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(x.t, "back", 4, &to), 0);
    wait_for(&y.got, 1);
    close_ok(&x);
    close_ok(&y);
    return NULL;
}

START_TEST(test_unix_abstract)
{
    reset();
    tu_run_ok(abstract_main, NULL);
    char pid[16], out[sizeof LOG.buf] = "";
    snprintf(pid, sizeof pid, "p%d", (int)getpid());
    for (const char *p = LOG.buf, *q; *p; p = q + strlen(pid)) {
        if (!(q = strstr(p, pid))) {
            strcat(out, p);
            break;
        }
        strncat(out, p, (size_t)(q - p));
        strcat(out, "PID");
    }
    ck_assert_str_eq(out, "unix_abstract x:made y:made y.peer=@casyncio-twin-PID-1 "
                          "x:recv(b'abstract',@casyncio-twin-PID-2) "
                          "y:recv(b'back',@casyncio-twin-PID-1) x:lost(None) y:lost(None)");
}
END_TEST

/* Unix datagrams larger than UDP's: read whole (Python reads up to 256
 * KiB), with the NUL after them. */
static int large_got;

static void large_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                       const asyncio_sockaddr_t *addr, void *user)
{
    (void)t;
    (void)addr;
    ck_assert_uint_eq(len, (size_t)(intptr_t)user);
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq(data[i], (char)(i % 251));
    ck_assert_int_eq(data[len], '\0');
    large_got++;
}

static const asyncio_datagram_protocol_t LARGE = {.datagram_received = large_recv};

static void *unix_large_main(void *arg)
{
    (void)arg;
    enum { SIZE = 150000 };
    asyncio_datagram_transport_t *rx = NULL, *tx = NULL;
    asyncio_datagram_opts_t ro = {.family = AF_UNIX, .local_host = dpath("large.sock")};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&LARGE, IP(SIZE), &ro, &rx), 0);
    asyncio_datagram_opts_t to = {.family = AF_UNIX, .remote_host = ro.local_host};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &to, &tx), 0);
    int sndbuf = 4 * SIZE;
    setsockopt(asyncio_datagram_transport_fileno(tx), SOL_SOCKET, SO_SNDBUF, &sndbuf,
               sizeof sndbuf);
    char *big = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        big[i] = (char)(i % 251);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(tx, big, SIZE, NULL), 0);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(tx, big, SIZE, NULL), 0);
    free(big);
    while (large_got < 2)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    asyncio_datagram_transport_close(tx);
    asyncio_datagram_transport_close(rx);
    return NULL;
}

START_TEST(test_unix_large)
{
    tu_run_ok(unix_large_main, NULL);
    dir_remove();
}
END_TEST

/* Twin: tests/twins/datagram_flow.py.  A Unix endpoint connected to a
 * plain socket that reads nothing until told to: the kernel takes
 * max_dgram_qlen + 1 datagrams, the rest are queued; past the high-water
 * mark the protocol is paused, then resumed as the queue drains; close()
 * waits for the queue. */
static void *flow_main(void *arg)
{
    (void)arg;
    enum { N = 30 };
    LOGF("flow_control");
    const char *path = dpath("rx.sock");
    int rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    ck_assert_int_eq(bind(rx, (struct sockaddr *)&sun, sizeof sun), 0);
    ep_t e = {.name = ""}; /* the twin's Flow logs "lost(None)" */
    asyncio_datagram_opts_t o = {.family = AF_UNIX, .remote_host = path};
    asyncio_datagram_transport_t *t = NULL;
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&RECORDER, &e, &o, &t), 0);
    memset(&LOG, 0, sizeof LOG); /* the twin logs no made */
    ck_assert_int_eq(asyncio_datagram_transport_set_write_buffer_limits(t, 4096, 0), 0);
    size_t high, low;
    asyncio_datagram_transport_get_write_buffer_limits(t, &high, &low);
    ck_assert_uint_eq(high, 4096);
    ck_assert_uint_eq(low, 1024);
    char d[1000];
    int sends = 0;
    while (!e.paused) {
        memset(d, sends, sizeof d);
        ck_assert_int_eq(asyncio_datagram_transport_sendto(t, d, sizeof d, NULL), 0);
        sends++;
    }
    size_t queued = asyncio_datagram_transport_get_write_buffer_size(t);
    ck_assert_uint_eq(queued % (sizeof d + 8), 0); /* 8 more per datagram, as 3.13 */
    static char got[N][2000];
    int n = 0, taken = 0;
    for (ssize_t r; (r = recv(rx, got[n], sizeof got[n], 0)) > 0; n++, taken++)
        ck_assert_int_eq(r, 1000);
    ck_assert_int_eq((size_t)(sends - taken) * (sizeof d + 8), queued);
    /* The twin's first entry, before the events so far (pause_writing). */
    static char events[sizeof LOG.buf];
    memcpy(events, LOG.buf, sizeof events);
    memset(&LOG, 0, sizeof LOG);
    LOGF("flow_control sends=%d kernel=%d queued=%s%s", sends, taken, TF(queued > 0), events);
    for (int i = sends; i < N; i++) {
        memset(d, i, sizeof d);
        ck_assert_int_eq(asyncio_datagram_transport_sendto(t, d, sizeof d, NULL), 0);
    }
    asyncio_datagram_transport_close(t);
    ev("closing=%s", TF(asyncio_datagram_transport_is_closing(t)));
    /* Dropped once closing, as Python drops it. */
    ck_assert_int_eq(asyncio_datagram_transport_sendto(t, "late", 4, NULL), 0);
    while (n < N) {
        ssize_t r = recv(rx, got[n], sizeof got[n], 0);
        if (r < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            ck_assert_int_eq(asyncio_sleep(0.001), 0);
            continue;
        }
        ck_assert_int_eq(r, 1000);
        n++;
    }
    wait_for(&e.lost, 1);
    bool in_order = true;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 1000; j++)
            in_order &= got[i][j] == (char)i;
    ev("received=%d in_order=%s buffer=%zu", n, TF(in_order),
       asyncio_datagram_transport_get_write_buffer_size(t));
    ck_assert_int_eq(recv(rx, got[0], sizeof got[0], 0), -1); /* "late" was dropped */
    close(rx);
    return NULL;
}

START_TEST(test_flow_control)
{
    reset();
    tu_run_ok(flow_main, NULL);
    /* The kernel's share is the receiver's queue: net.unix.max_dgram_qlen
     * + 1 (11 with the default 10, as the twin printed here). */
    long qlen = 10;
    FILE *f = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
    if (f) {
        ck_assert_int_eq(fscanf(f, "%ld", &qlen), 1);
        fclose(f);
    }
    char want[256];
    snprintf(want, sizeof want,
             "flow_control sends=%ld kernel=%ld queued=True pause_writing closing=True "
             "resume_writing lost(None) received=30 in_order=True buffer=0",
             qlen + 1 + 5, qlen + 1);
    tu_assert_log(&LOG, want);
    dir_remove();
}
END_TEST

/* ---------------------------------------------------------------------
 * The UDP write queue: sends the kernel refuses for now (EAGAIN, made
 * here with __wrap_sendto) are queued; the queue's head goes through
 * libuv, the rest follow in order; flow control as for Unix sockets;
 * ENOBUFS goes to error_received.
 * --------------------------------------------------------------------- */

static void *udp_queue_main(void *arg)
{
    (void)arg;
    enum { N = 20 };
    ep_t srv = {.name = "srv"}, cli = {.name = "cli"};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = srv.sockname.port};
    create_ok(&cli, &co);
    ck_assert_int_eq(asyncio_datagram_transport_set_write_buffer_limits(cli.t, 4096, 0), 0);

    /* The kernel refuses the next 8 sends: the first datagram is queued,
     * and the next ones queue behind it. */
    fail_sends = 8;
    fail_errno = EAGAIN;
    char d[1000];
    for (int i = 0; i < N; i++) {
        memset(d, 'a' + i, sizeof d);
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, d, sizeof d, NULL), 0);
    }
    ck_assert_int_eq(cli.pauses, 1);
    ck_assert_uint_eq(asyncio_datagram_transport_get_write_buffer_size(cli.t), N * 1008);
    wait_for(&srv.got, N);
    wait_for(&cli.resumes, 1);
    ck_assert_uint_eq(asyncio_datagram_transport_get_write_buffer_size(cli.t), 0);
    ck_assert_int_eq(fail_sends, 0);

    /* ENOBUFS, at once and from the queue: error_received, the endpoint
     * goes on. */
    fail_sends = 1;
    fail_errno = ENOBUFS;
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "nobufs", 6, NULL), 0);
    ck_assert_int_eq(cli.got, 1);
    fail_sends = 1;
    fail_errno = EAGAIN;
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "queued", 6, NULL), 0);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "refused", 7, NULL), 0);
    /* libuv sends "queued", then the queue's next send, "refused", gets
     * ENOBUFS. */
    fail_sends = 1;
    fail_errno = ENOBUFS;
    wait_for(&srv.got, N + 1);
    wait_for(&cli.got, 2);
    ck_assert_int_eq(fail_sends, 0);

    /* close() with datagrams queued: they are still sent. */
    fail_sends = 1;
    fail_errno = EAGAIN;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "last", 4, NULL), 0);
    close_ok(&cli);
    wait_for(&srv.got, N + 4);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_udp_queue)
{
    reset();
    tu_run_ok(udp_queue_main, NULL);
    ck_assert_msg(strncmp(LOG.buf, " srv:made cli:made pause_writing", 32) == 0, "%s", LOG.buf);
    ck_assert_ptr_nonnull(
        strstr(LOG.buf, "cli:error(OSError: [Errno 105] No buffer space available)"));
    ck_assert_ptr_nonnull(strstr(LOG.buf, "srv:recv(b'queued',cli)"));
    ck_assert_ptr_null(strstr(LOG.buf, "srv:recv(b'refused'"));
    ck_assert_ptr_null(strstr(LOG.buf, "srv:recv(b'nobufs'"));
    ck_assert_ptr_nonnull(strstr(LOG.buf, "srv:recv(b'last',cli) srv:recv(b'last',cli) "
                                          "srv:recv(b'last',cli)"));
}
END_TEST

/* abort() with a datagram in libuv's hands and more queued: all dropped,
 * connection_lost(None), nothing leaks (tu_teardown). */
static void *udp_abort_main(void *arg)
{
    (void)arg;
    ep_t srv = {.name = "srv"}, cli = {.name = "cli"};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = srv.sockname.port};
    create_ok(&cli, &co);
    fail_sends = 1;
    fail_errno = EAGAIN;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "q", 1, NULL), 0);
    ck_assert_uint_eq(asyncio_datagram_transport_get_write_buffer_size(cli.t), 5 * 9);
    asyncio_datagram_transport_abort(cli.t);
    ck_assert(asyncio_datagram_transport_is_closing(cli.t));
    wait_for(&cli.lost, 1);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_udp_abort_queued)
{
    reset();
    tu_run_ok(udp_abort_main, NULL);
    ck_assert_ptr_nonnull(strstr(LOG.buf, "cli:lost(None)"));
}
END_TEST

/* ---------------------------------------------------------------------
 * Errors.  Twin: tests/twins/datagram_errors.py
 * --------------------------------------------------------------------- */

static void *create_errors_main(void *arg)
{
    (void)arg;
    LOGF("create_errors");
    asyncio_datagram_transport_t *taken = NULL, *t;
    asyncio_datagram_opts_t to = {.local_host = "127.0.0.1"};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &to, &taken), 0);
    asyncio_sockaddr_t ta;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(taken, &ta), 0);
    const char *regular = dpath("regular-file");
    fclose(fopen(regular, "w"));
    char longpath[256] = "/tmp/";
    memset(longpath + 5, 'x', 200);
    const asyncio_datagram_opts_t cases[] = {
        {0},
        {.family = 12345},
        {.family = 12345, .local_host = "127.0.0.1"},
        {.family = AF_INET, .local_host = "::1"},
        {.local_host = "127.0.0.1", .remote_host = "::1", .remote_port = 9},
        {.local_host = "no-such-host.invalid"},
        {.local_host = "127.0.0.1", .local_port = ta.port},
        {.family = AF_UNIX, .remote_host = dpath("nobody.sock")},
        {.family = AF_UNIX, .remote_host = regular},
        {.family = AF_UNIX, .local_host = dpath("no-dir/x.sock")},
        {.family = AF_UNIX, .local_host = regular},
        {.family = AF_UNIX, .local_host = longpath},
    };
    char line[2048] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t = SENTINEL;
        int rc = asyncio_create_datagram_endpoint(&NOTHING, NULL, &cases[i], &t);
        ck_assert_ptr_null(t);
        ck_assert_int_lt(rc, 0);
        const asyncio_error_t *e = asyncio_error();
        ck_assert_int_eq(e->code, rc);
        assert_python_message();
        size_t used = strlen(line);
        snprintf(line + used, sizeof line - used, "%s%s: %s", i ? " | " : "", e->type, e->message);
        asyncio_error_clear();
    }
    ev("%s", line);
    /* A file that is not a socket stays. */
    struct stat st;
    ck_assert_int_eq(stat(regular, &st), 0);
    asyncio_datagram_transport_close(taken);
    return NULL;
}

START_TEST(test_create_errors)
{
    run_log(create_errors_main, NULL,
            "create_errors ValueError: unexpected address family | OSError: [Errno 97] Address "
            "family not supported by protocol | gaierror: [Errno -6] ai_family not supported | "
            "gaierror: [Errno -9] Address family for hostname not supported | ValueError: can "
            "not get address information | gaierror: [Errno -2] Name or service not known | "
            "OSError: [Errno 98] Address already in use | FileNotFoundError: [Errno 2] No such "
            "file or directory | ConnectionRefusedError: [Errno 111] Connection refused | "
            "FileNotFoundError: [Errno 2] No such file or directory | OSError: [Errno 98] Address "
            "already in use | OSError: AF_UNIX path too long");
    dir_remove();
}
END_TEST

static void *sendto_errors_main(void *arg)
{
    (void)arg;
    LOGF("sendto_errors");
    ep_t srv = {.name = "srv"}, cli = {.name = "cli"};
    asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
    create_ok(&srv, &so);
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = srv.sockname.port};
    create_ok(&cli, &co);
    memset(&LOG, 0, sizeof LOG); /* the twin logs no made */
    LOGF("sendto_errors");
    char *big = malloc(65508);
    memset(big, 'z', 65508);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, big, 65508, NULL), 0);
    ck_assert_int_eq(cli.got, 1); /* inside sendto, as Python */
    ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, big, 65507, NULL), 0);
    wait_for(&srv.got, 1);
    free(big);
    asyncio_sockaddr_t six = {.family = AF_INET6, .host = "::1", .port = srv.sockname.port};
    ck_assert_int_eq(asyncio_datagram_transport_sendto(srv.t, "w", 1, &six), 0);
    ck_assert_int_eq(srv.got, 2);
    ev("closing=%s,%s", TF(asyncio_datagram_transport_is_closing(cli.t)),
       TF(asyncio_datagram_transport_is_closing(srv.t)));
    size_t len = LOG.len;
    close_ok(&cli);
    close_ok(&srv);
    LOG.buf[len] = '\0';
    LOG.len = len;
    return NULL;
}

START_TEST(test_sendto_errors)
{
    run_log(sendto_errors_main, NULL,
            "sendto_errors cli:error(OSError: [Errno 90] Message too long) srv:recv(P bytes) "
            "srv:error(gaierror: [Errno -9] Address family for hostname not supported) "
            "closing=False,False");
}
END_TEST

/* Bad arguments and dead handles: ValueError (RuntimeError outside a
 * loop), out-parameters cleared, nothing done. */
static void *bad_args_main(void *arg)
{
    (void)arg;
    asyncio_datagram_transport_t *t = SENTINEL;
    asyncio_datagram_opts_t o = {.local_host = "127.0.0.1"};
    expect_msg(asyncio_create_datagram_endpoint(NULL, NULL, &o, &t), ASYNCIO_EVALUE, "ValueError",
               "protocol is NULL");
    ck_assert_ptr_null(t);
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, NULL), ASYNCIO_EVALUE,
               "ValueError", "transport is NULL");
    o.local_port = 70000;
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &t), ASYNCIO_EVALUE,
               "ValueError", "port must be 0-65535.");
    o = (asyncio_datagram_opts_t){.family = AF_INET, .local_port = 5000};
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &t), ASYNCIO_EVALUE,
               "ValueError", "a port is given without its host");
    o = (asyncio_datagram_opts_t){.family = AF_UNIX, .local_host = "/tmp/x", .local_port = 1};
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &t), ASYNCIO_EVALUE,
               "ValueError", "a Unix socket's address is a path: the ports must be 0");
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, NULL, &t), ASYNCIO_EVALUE,
               "ValueError", "unexpected address family");
    ck_assert_ptr_null(t);

    /* An unbound socket of a family: sendto binds it. */
    ep_t srv = {.name = "srv", .echo = true}, u = {.name = "u"};
    o = (asyncio_datagram_opts_t){.local_host = "127.0.0.1"};
    create_ok(&srv, &o);
    o = (asyncio_datagram_opts_t){.family = AF_INET};
    create_ok(&u, &o);
    ck_assert_str_eq(u.sockname.host, "0.0.0.0");
    ck_assert_int_eq(u.sockname.port, 0);
    ck_assert_int_ge(asyncio_datagram_transport_fileno(u.t), 0);

    /* sendto's arguments. */
    expect_msg(asyncio_datagram_transport_sendto(NULL, "x", 1, &srv.sockname), ASYNCIO_EVALUE,
               "ValueError", "the datagram transport is NULL");
    expect_msg(asyncio_datagram_transport_sendto(u.t, NULL, 1, &srv.sockname), ASYNCIO_EVALUE,
               "ValueError", "data is NULL");
    expect_msg(asyncio_datagram_transport_sendto(u.t, "x", 1, NULL), ASYNCIO_EVALUE, "ValueError",
               "addr is NULL and the endpoint has no remote address");
    asyncio_sockaddr_t a = {.host = "localhost", .port = srv.sockname.port};
    expect_msg(asyncio_datagram_transport_sendto(u.t, "x", 1, &a), ASYNCIO_EVALUE, "ValueError",
               "host 'localhost' is not a numeric IPv4 address");
    a = srv.sockname;
    a.port = 70000;
    expect_msg(asyncio_datagram_transport_sendto(u.t, "x", 1, &a), ASYNCIO_EVALUE, "ValueError",
               "port must be 0-65535.");
    a = (asyncio_sockaddr_t){.family = AF_UNIX, .host = "/tmp/x"};
    expect_msg(asyncio_datagram_transport_sendto(u.t, "x", 1, &a), ASYNCIO_EVALUE, "ValueError",
               "an IP socket cannot send to a Unix path");
    /* The family field may be left 0: the host says. */
    a = (asyncio_sockaddr_t){.host = "127.0.0.1", .port = srv.sockname.port};
    ck_assert_int_eq(asyncio_datagram_transport_sendto(u.t, "hi", 2, &a), 0);
    wait_for(&u.got, 1);
    ck_assert_int_eq(asyncio_datagram_transport_sockname(u.t, &a), 0);
    ck_assert_str_eq(a.host, "0.0.0.0");
    ck_assert_int_gt(a.port, 0); /* bound by its first send */
    expect_msg(asyncio_datagram_transport_sockname(u.t, NULL), ASYNCIO_EVALUE, "ValueError",
               "addr is NULL");
    ck_assert_int_eq(asyncio_datagram_transport_set_write_buffer_limits(u.t, 10, 20),
                     ASYNCIO_EVALUE);
    asyncio_error_clear();

    /* The user pointer. */
    ck_assert_ptr_eq(asyncio_datagram_transport_get_user(u.t), &u);
    asyncio_datagram_transport_set_user(u.t, &srv);
    ck_assert_ptr_eq(asyncio_datagram_transport_get_user(u.t), &srv);
    asyncio_datagram_transport_set_user(u.t, &u);

    /* A dead handle: refused without touching memory. */
    asyncio_datagram_transport_t *dead = u.t;
    long before = asyncio__handle_count();
    close_ok(&u);
    ck_assert_int_eq(asyncio__handle_count(), before - 1);
    a = srv.sockname;
    ck_assert_int_eq(asyncio_datagram_transport_sendto(dead, "x", 1, &a), ASYNCIO_EVALUE);
    assert_not_live("datagram transport");
    memset(&a, 1, sizeof a);
    ck_assert_int_eq(asyncio_datagram_transport_sockname(dead, &a), ASYNCIO_EVALUE);
    assert_not_live("datagram transport");
    ck_assert_int_eq(a.family, 0);
    ck_assert_int_eq(asyncio_datagram_transport_peername(dead, &a), ASYNCIO_EVALUE);
    assert_not_live("datagram transport");
    ck_assert_int_eq(asyncio_datagram_transport_set_write_buffer_limits(dead, 0, 0),
                     ASYNCIO_EVALUE);
    assert_not_live("datagram transport");
    ck_assert(asyncio_datagram_transport_is_closing(dead));
    ck_assert_int_eq(asyncio_datagram_transport_fileno(dead), -1);
    ck_assert_ptr_null(asyncio_datagram_transport_get_user(dead));
    ck_assert_uint_eq(asyncio_datagram_transport_get_write_buffer_size(dead), 0);
    size_t high = 1, low = 1;
    asyncio_datagram_transport_get_write_buffer_limits(dead, &high, &low);
    ck_assert_uint_eq(high + low, 0);
    asyncio_datagram_transport_set_user(dead, &u);
    asyncio_datagram_transport_close(dead);
    asyncio_datagram_transport_abort(dead);
    asyncio_datagram_transport_close(NULL);
    ck_assert_ptr_null(asyncio_error());

    /* A stream transport's handle is not a datagram transport's. */
    asyncio_server_t *server = NULL;
    ck_assert_int_eq(asyncio_start_server(echo_once, NULL, "127.0.0.1", 0, NULL, &server), 0);
    asyncio_stream_t *s = connect_ok(server_port(server), NULL);
    asyncio_datagram_transport_t *wrong =
        (asyncio_datagram_transport_t *)asyncio_stream_transport(s);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(wrong, "x", 1, NULL), ASYNCIO_EVALUE);
    assert_not_live("datagram transport");
    ck_assert(asyncio_datagram_transport_is_closing(wrong));
    asyncio_stream_free(s);
    server_shutdown(server);
    close_ok(&srv);
    return NULL;
}

START_TEST(test_bad_args)
{
    reset();
    /* Outside a loop: RuntimeError, as Python's. */
    asyncio_datagram_transport_t *t = SENTINEL;
    asyncio_datagram_opts_t o = {.local_host = "127.0.0.1"};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &t), ASYNCIO_ERUNTIME);
    ck_assert_str_eq(tu_raised_message(), "no running event loop");
    ck_assert_ptr_null(t);
    asyncio_error_clear();
    t = SENTINEL;
    ck_assert_int_eq(asyncio_create_datagram_endpoint_sock(&NOTHING, NULL, 0, &t),
                     ASYNCIO_ERUNTIME);
    ck_assert_ptr_null(t);
    asyncio_error_clear();
    tu_run_ok(bad_args_main, NULL);
}
END_TEST

/* A callback that raises: reported to the loop's exception handler, and
 * the endpoint goes on (not fatal, as in Python). */
static tu_log_t HANDLED;

static void handler(asyncio_loop_t *loop, const asyncio_exception_context_t *ctx, void *arg)
{
    (void)loop;
    (void)arg;
    tu_logf(&HANDLED, "[%s %s: %s]", ctx->message, ctx->exception ? ctx->exception->type : "-",
            ctx->exception ? ctx->exception->message : "-");
}

static int raised_recv;

static void raising_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                         const asyncio_sockaddr_t *addr, void *user)
{
    (void)t;
    (void)data;
    (void)len;
    (void)addr;
    (void)user;
    raised_recv++;
    asyncio_raise("ValueError", "bad datagram %d", raised_recv);
}

static void raising_made(asyncio_datagram_transport_t *t, void *user)
{
    (void)t;
    (void)user;
    asyncio_raise("KeyError", "made");
}

static const asyncio_datagram_protocol_t RAISING = {.connection_made = raising_made,
                                                    .datagram_received = raising_recv};

static void *callback_errors_main(void *arg)
{
    (void)arg;
    memset(&HANDLED, 0, sizeof HANDLED);
    asyncio_loop_set_exception_handler(asyncio_get_running_loop(), handler, NULL);
    asyncio_datagram_transport_t *srv = NULL;
    asyncio_datagram_opts_t o = {.local_host = "127.0.0.1"};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&RAISING, NULL, &o, &srv), 0);
    ck_assert_ptr_null(asyncio_error()); /* connection_made's error was reported, not raised */
    asyncio_sockaddr_t a;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(srv, &a), 0);
    ep_t cli = {.name = "cli"};
    asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = a.port};
    create_ok(&cli, &co);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(cli.t, "x", 1, NULL), 0);
    while (raised_recv < 2)
        ck_assert_int_eq(asyncio_sleep(0.001), 0);
    ck_assert(!asyncio_datagram_transport_is_closing(srv));
    asyncio_datagram_transport_close(srv);
    close_ok(&cli);
    return NULL;
}

START_TEST(test_callback_errors)
{
    reset();
    tu_run_ok(callback_errors_main, NULL);
    tu_assert_log(&HANDLED, "[protocol.connection_made() failed KeyError: made]"
                            "[protocol.datagram_received() failed ValueError: bad datagram 1]"
                            "[protocol.datagram_received() failed ValueError: bad datagram 2]");
}
END_TEST

/* reuse_port: SO_REUSEPORT on both endpoints lets them share a port;
 * without it the second bind fails, as Python's. */
static void *reuse_port_main(void *arg)
{
    (void)arg;
    asyncio_datagram_transport_t *a = NULL, *b = NULL, *c = SENTINEL;
    asyncio_datagram_opts_t o = {.local_host = "127.0.0.1", .reuse_port = true};
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &a), 0);
    asyncio_sockaddr_t sa;
    ck_assert_int_eq(asyncio_datagram_transport_sockname(a, &sa), 0);
    int on = 0;
    socklen_t len = sizeof on;
    ck_assert_int_eq(
        getsockopt(asyncio_datagram_transport_fileno(a), SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
    ck_assert_int_eq(on, 1);
    o.local_port = sa.port;
    ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &b), 0);
    o.reuse_port = false;
    expect_msg(asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &c), UV_EADDRINUSE, "OSError",
               "[Errno 98] Address already in use");
    ck_assert_ptr_null(c);
    asyncio_datagram_transport_close(a);
    asyncio_datagram_transport_close(b);
    return NULL;
}

START_TEST(test_reuse_port)
{
    tu_run_ok(reuse_port_main, NULL);
}
END_TEST

/* IPv4 addresses are written without printf (net/dns.c): every width of
 * every byte, through getaddrinfo, which gives them the same way. */
static void *ip4_text_main(void *arg)
{
    (void)arg;
    static const char *const hosts[] = {"0.0.0.0",      "1.2.3.4",         "10.20.30.40",
                                        "99.100.101.9", "255.255.255.255", "127.0.0.1",
                                        "192.168.0.250"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        asyncio_addrinfo_t *ai = NULL;
        ck_assert_int_eq(
            asyncio_getaddrinfo(hosts[i], "7", AF_INET, SOCK_DGRAM, AI_NUMERICHOST, &ai), 0);
        ck_assert_str_eq(ai->addr.host, hosts[i]);
        ck_assert_int_eq(ai->addr.port, 7);
        asyncio_addrinfo_free(ai);
    }
    return NULL;
}

START_TEST(test_ip4_text)
{
    tu_run_ok(ip4_text_main, NULL);
}
END_TEST

/* ---------------------------------------------------------------------
 * Existing sockets (sock=).
 * --------------------------------------------------------------------- */

static void *sock_main(void *arg)
{
    (void)arg;
    /* A bound UDP socket. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ep_t srv = {.name = "srv", .echo = true}, cli = {.name = "cli"}, p1 = {.name = "p1"},
         p2 = {.name = "p2"};
    asyncio_datagram_transport_t *t = SENTINEL;
    ck_assert_int_eq(asyncio_create_datagram_endpoint_sock(&RECORDER, &srv, fd, &t), 0);
    ck_assert_ptr_eq(t, srv.t);
    EPS[NEPS++] = &srv;
    ck_assert_int_eq(asyncio_datagram_transport_fileno(t), fd);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ck_assert_str_eq(srv.sockname.host, "127.0.0.1");

    /* The same descriptor again: the loop watches it already. */
    char msg[96];
    snprintf(msg, sizeof msg, "File descriptor %d is used by another transport", fd);
    expect_msg(asyncio_create_datagram_endpoint_sock(&RECORDER, &cli, fd, &t), ASYNCIO_ERUNTIME,
               "RuntimeError", msg);
    ck_assert_ptr_null(t);

    /* A connected UDP socket: its peer is its remote address. */
    int cfd = socket(AF_INET, SOCK_DGRAM, 0);
    sin.sin_port = htons((uint16_t)srv.sockname.port);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(asyncio_create_datagram_endpoint_sock(&RECORDER, &cli, cfd, &t), 0);
    EPS[NEPS++] = &cli;
    asyncio_sockaddr_t peer;
    ck_assert_int_eq(asyncio_datagram_transport_peername(t, &peer), 0);
    ck_assert_int_eq(peer.port, srv.sockname.port);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(t, "via sock", 8, NULL), 0);
    wait_for(&cli.got, 1);
    asyncio_sockaddr_t other = {.host = "127.0.0.1", .port = 9};
    ck_assert_int_eq(asyncio_datagram_transport_sendto(t, "x", 1, &other), ASYNCIO_EVALUE);
    asyncio_error_clear();
    close_ok(&cli);
    /* Closing the transport closed the descriptor. */
    ck_assert_int_eq(fcntl(cfd, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);

    /* A Unix socketpair: both ends, connected, unnamed. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    p1.unix_names = p2.unix_names = true;
    ck_assert_int_eq(asyncio_create_datagram_endpoint_sock(&RECORDER, &p1, sv[0], &t), 0);
    ck_assert_int_eq(asyncio_create_datagram_endpoint_sock(&RECORDER, &p2, sv[1], &t), 0);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(p1.t, "pair", 4, NULL), 0);
    wait_for(&p2.got, 1);
    ck_assert_int_eq(asyncio_datagram_transport_sendto(p2.t, "back", 4, NULL), 0);
    wait_for(&p1.got, 1);
    close_ok(&p1);
    close_ok(&p2);

    /* Not a datagram socket, not a socket, not a descriptor: still the
     * caller's, open. */
    int sfd = socket(AF_INET, SOCK_STREAM, 0);
    snprintf(msg, sizeof msg, "A UDP Socket was expected, got fd %d (SOCK_STREAM)", sfd);
    expect_msg(asyncio_create_datagram_endpoint_sock(&RECORDER, &p1, sfd, &t), ASYNCIO_EVALUE,
               "ValueError", msg);
    ck_assert_ptr_null(t);
    ck_assert_int_ge(fcntl(sfd, F_GETFD), 0);
    close(sfd);
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    expect_msg(asyncio_create_datagram_endpoint_sock(&RECORDER, &p1, pipefd[0], &t), UV_ENOTSOCK,
               "OSError", "[Errno 88] Socket operation on non-socket");
    ck_assert_int_ge(fcntl(pipefd[0], F_GETFD), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    expect_msg(asyncio_create_datagram_endpoint_sock(&RECORDER, &p1, -1, &t), ASYNCIO_EVALUE,
               "ValueError", "sock is negative (-1)");
    expect_msg(asyncio_create_datagram_endpoint_sock(NULL, &p1, 0, &t), ASYNCIO_EVALUE,
               "ValueError", "protocol is NULL");
    close_ok(&srv);
    return NULL;
}

START_TEST(test_sock)
{
    reset();
    tu_run_ok(sock_main, NULL);
    ck_assert_ptr_nonnull(strstr(LOG.buf, "srv:recv(b'via sock',cli) cli:recv(b'via sock',srv)"));
    ck_assert_ptr_nonnull(strstr(LOG.buf, "p2:recv(b'pair',None) p1:recv(b'back',None)"));
}
END_TEST

/* ---------------------------------------------------------------------
 * Lifetime: cancellation, allocation failures, closing from callbacks,
 * the loop closing with endpoints open.
 * --------------------------------------------------------------------- */

/* Creates an endpoint whose addresses need resolving (two suspensions:
 * the local name, then the remote one). */
static void *resolving_create(void *arg)
{
    (void)arg;
    asyncio_datagram_transport_t *t = SENTINEL;
    asyncio_datagram_opts_t o = {
        .family = AF_INET, .local_host = "localhost", .remote_host = "localhost", .remote_port = 9};
    int rc = asyncio_create_datagram_endpoint(&NOTHING, NULL, &o, &t);
    if (rc == 0) {
        asyncio_datagram_transport_close(t);
        return IP(1);
    }
    ck_assert_ptr_null(t);
    return NULL; /* the CancelledError propagates */
}

static void *cancel_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    int cancelled = 0, made = 0;
    for (int k = 0; k < 40; k++) {
        asyncio_future_t *f = tu_spawn(resolving_create, NULL);
        /* Cancel it at another point each time: before it starts, while
         * it resolves the local address, the remote one, or once done. */
        if (k % 4 == 1)
            tu_yield();
        else if (k % 4 == 2)
            for (int i = 0; i < k; i++)
                tu_yield();
        else if (k % 4 == 3)
            ck_assert_int_eq(asyncio_sleep(0.0005 * k), 0);
        asyncio_cancel(f, NULL);
        void *res = NULL;
        int rc = asyncio_await(f, &res);
        if (rc == ASYNCIO_ECANCELLED) {
            cancelled++;
            asyncio_error_clear();
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_ptr_eq(res, IP(1));
            made++;
        }
        asyncio_decref(f);
    }
    ck_assert_int_gt(cancelled, 0);
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_cancel_resolving)
{
    tu_run_ok(cancel_main, NULL);
}
END_TEST

/* Allocation failures anywhere in the creation: MemoryError and nothing
 * left, or an endpoint that works. */
static void *chaos_main(void *arg)
{
    (void)arg;
    long before = asyncio__handle_count();
    bool unix_ = arg != NULL;
    for (long n = 1; n <= 30; n++) {
        ep_t e = {.name = "e"};
        asyncio_datagram_transport_t *t = SENTINEL;
        asyncio_datagram_opts_t o = {
            .local_host = "127.0.0.1", .remote_host = "127.0.0.1", .remote_port = 9};
        if (unix_)
            o = (asyncio_datagram_opts_t){.family = AF_UNIX, .local_host = dpath("chaos.sock")};
        tu_alloc_fail_at(n);
        int rc = asyncio_create_datagram_endpoint(&RECORDER, &e, &o, &t);
        tu_alloc_fail_at(0);
        if (rc) {
            ck_assert_int_eq(rc, ASYNCIO_ENOMEM);
            ck_assert_ptr_null(t);
            asyncio_error_clear();
            continue;
        }
        close_ok(&e);
    }
    assert_handles_back(before);
    return NULL;
}

START_TEST(test_alloc_failure)
{
    reset();
    tu_run_ok(chaos_main, NULL);
    reset();
    tu_run_ok(chaos_main, "unix");
    dir_remove();
}
END_TEST

/* A callback that closes its endpoint while a batch of datagrams is being
 * delivered: none of the rest comes, connection_lost comes once. */
static int batch_got, batch_lost;

static void batch_recv(asyncio_datagram_transport_t *t, const char *data, size_t len,
                       const asyncio_sockaddr_t *addr, void *user)
{
    (void)data;
    (void)len;
    (void)addr;
    batch_got++;
    if (user)
        asyncio_datagram_transport_abort(t);
    else
        asyncio_datagram_transport_close(t);
    ck_assert(asyncio_datagram_transport_is_closing(t));
    /* Dropped once closing (a Unix sender may have no address). */
    if (addr)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(t, "x", 1, addr), 0);
}

static void batch_lost_cb(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user)
{
    (void)t;
    (void)user;
    ck_assert_ptr_null(exc);
    batch_lost++;
}

static const asyncio_datagram_protocol_t BATCH = {.datagram_received = batch_recv,
                                                  .connection_lost = batch_lost_cb};

static void *batch_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 4; round++) {
        bool unix_ = round >= 2, abort_ = round % 2;
        batch_got = batch_lost = 0;
        asyncio_datagram_transport_t *srv = NULL, *cli = NULL;
        asyncio_datagram_opts_t so = {.local_host = "127.0.0.1"};
        if (unix_)
            so = (asyncio_datagram_opts_t){.family = AF_UNIX, .local_host = dpath("batch.sock")};
        ck_assert_int_eq(asyncio_create_datagram_endpoint(&BATCH, abort_ ? IP(1) : NULL, &so, &srv),
                         0);
        asyncio_sockaddr_t a;
        ck_assert_int_eq(asyncio_datagram_transport_sockname(srv, &a), 0);
        asyncio_datagram_opts_t co = {.remote_host = "127.0.0.1", .remote_port = a.port};
        if (unix_)
            co = (asyncio_datagram_opts_t){.family = AF_UNIX, .remote_host = a.host};
        ck_assert_int_eq(asyncio_create_datagram_endpoint(&NOTHING, NULL, &co, &cli), 0);
        /* All sent before the server reads: one batch. */
        for (int i = 0; i < 8; i++)
            ck_assert_int_eq(asyncio_datagram_transport_sendto(cli, "b", 1, NULL), 0);
        while (batch_lost < 1)
            ck_assert_int_eq(asyncio_sleep(0.001), 0);
        ck_assert_int_eq(batch_got, 1);
        asyncio_datagram_transport_close(cli);
    }
    ck_assert_int_eq(asyncio_sleep(0.01), 0);
    ck_assert_int_eq(batch_lost, 1);
    return NULL;
}

START_TEST(test_close_in_batch)
{
    tu_run_ok(batch_main, NULL);
    dir_remove();
}
END_TEST

/* The loop closes with endpoints open (UDP, Unix, one with datagrams
 * queued and its retry timer armed): each gets connection_lost(None) as
 * the loop closes, and nothing leaks (tu_teardown counts). */
static ep_t LEFT[4];
static int left_rx;

static void *left_open_main(void *arg)
{
    (void)arg;
    const char *rxp = dpath("rx.sock");
    left_rx = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, rxp);
    ck_assert_int_eq(bind(left_rx, (struct sockaddr *)&sun, sizeof sun), 0);
    LEFT[0] = (ep_t){.name = "udp"};
    LEFT[1] = (ep_t){.name = "udp6"};
    LEFT[2] = (ep_t){.name = "unix"};
    LEFT[3] = (ep_t){.name = "full"};
    asyncio_datagram_opts_t o0 = {.local_host = "127.0.0.1"}, o1 = {.local_host = "::1"},
                            o2 = {.family = AF_UNIX, .local_host = dpath("left.sock")},
                            o3 = {.family = AF_UNIX, .local_host = dpath("full.sock")};
    create_ok(&LEFT[0], &o0);
    create_ok(&LEFT[1], &o1);
    create_ok(&LEFT[2], &o2);
    create_ok(&LEFT[3], &o3);
    /* Unconnected, to a socket that reads nothing: the kernel takes a few,
     * the rest wait on the retry timer. */
    asyncio_sockaddr_t to = unix_addr(rxp);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(asyncio_datagram_transport_sendto(LEFT[3].t, "queued", 6, &to), 0);
    ck_assert_uint_gt(asyncio_datagram_transport_get_write_buffer_size(LEFT[3].t), 0);
    ck_assert_int_eq(asyncio_sleep(0.005), 0); /* a retry or more */
    ck_assert_uint_gt(asyncio_datagram_transport_get_write_buffer_size(LEFT[3].t), 0);
    return NULL; /* asyncio_run closes the loop */
}

START_TEST(test_loop_close_open)
{
    reset();
    long before = asyncio__handle_count();
    tu_run_ok(left_open_main, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(LEFT[i].lost, 1);
    close(left_rx);
    ck_assert_int_eq(asyncio__handle_count(), before);
    dir_remove();
}
END_TEST

Suite *datagram_suite(void)
{
    Suite *s = suite_create("datagram");
    TCase *tc = tcase_create("udp");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_udp_v4);
    tcase_add_test(tc, test_udp_v6);
    tcase_add_test(tc, test_udp_broadcast_remote);
    tcase_add_test(tc, test_udp_refused);
    tcase_add_test(tc, test_udp_peers);
    tcase_add_test(tc, test_empty_datagram);
    tcase_add_test(tc, test_udp_queue);
    tcase_add_test(tc, test_udp_abort_queued);
    tcase_add_test(tc, test_udp_volume);
    suite_add_tcase(s, tc);

    tc = tcase_create("unix");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unix);
    tcase_add_test(tc, test_unix_abstract);
    tcase_add_test(tc, test_unix_large);
    tcase_add_test(tc, test_flow_control);
    tcase_add_test(tc, test_unix_volume);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_sendto_errors);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_callback_errors);
    tcase_add_test(tc, test_sock);
    tcase_add_test(tc, test_ip4_text);
    tcase_add_test(tc, test_reuse_port);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifetime");
    tcase_add_checked_fixture(tc, tu_setup, tu_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cancel_resolving);
    tcase_add_test(tc, test_alloc_failure);
    tcase_add_test(tc, test_close_in_batch);
    tcase_add_test(tc, test_loop_close_open);
    suite_add_tcase(s, tc);
    return s;
}
