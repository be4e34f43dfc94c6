/*
 * The load client of the UDP echo benchmark, on plain libuv callbacks so
 * that it is the same for every server measured.
 *
 *   udp_load --port P [--host H] [--name NAME] [--pid PID] [--size 64]
 *            [--window 32] [--warmup 1] [--seconds 5]
 *
 * One socket, connected to the server, keeps --window datagrams of --size
 * bytes in flight: each datagram that comes back (checked: its length and
 * sequence number) sends the next.  A window small enough for the
 * server's receive buffer means the kernel drops nothing on loopback;
 * should datagrams go missing all the same (a server too slow to read
 * them), a stall of 50 ms refills the window and counts them lost.  After
 * --warmup seconds it counts round trips for --seconds and prints
 *     RESULT udp_echo NAME_pkt_per_s <value> pkt/s
 * and, given the server's --pid, the server's CPU time (user + system, of
 * all its threads) over the same interval per round trip:
 *     RESULT udp_echo NAME_cpu_us_per_pkt <value> us
 *
 * Human-readable progress goes to stderr.  Exit status 0 only if round
 * trips were made and no datagram came back wrong.
 */
#define _GNU_SOURCE
#include <uv.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum phase { WARMUP, MEASURING, DONE };

struct load {
    uv_loop_t *loop;
    uv_udp_t sock;
    uv_timer_t timer, stall;
    size_t size, window;
    double warmup_s, seconds;
    long server_pid;
    const char *name;
    char *message;
    enum phase phase;
    uint64_t next_seq;    /* sequence number of the next datagram sent */
    uint64_t received;    /* round trips so far */
    uint64_t at_last_tick; /* received at the last stall check */
    uint64_t round_trips; /* counted while MEASURING */
    uint64_t lost, bad, send_errors;
    uint64_t t0_ns, t1_ns;
    int64_t cpu0_ns, cpu1_ns;
};

static char rbuf[20 * 64 * 1024];

/* CPU time (user + system) of every thread of process pid in nanoseconds,
 * from /proc/PID/task/TID/schedstat; -1 if it cannot be read (as
 * bench/echo_load.c). */
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
            continue;
        long long ns;
        if (fscanf(f, "%lld", &ns) == 1)
            total += ns;
        fclose(f);
    }
    closedir(dir);
    return total;
}

static void send_one(struct load *l)
{
    memcpy(l->message, &l->next_seq, sizeof l->next_seq);
    l->next_seq++;
    uv_buf_t b = uv_buf_init(l->message, (unsigned)l->size);
    if (uv_udp_try_send(&l->sock, &b, 1, NULL) < 0)
        l->send_errors++; /* counted as lost by the stall check */
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                    unsigned flags)
{
    (void)flags;
    struct load *l = h->data;
    if (n < 0) {
        fprintf(stderr, "udp_load: recv: %s\n", uv_strerror((int)n));
        l->bad++;
        return;
    }
    if (!addr || l->phase == DONE)
        return;
    uint64_t seq;
    memcpy(&seq, b->base, sizeof seq);
    if ((size_t)n != l->size || seq >= l->next_seq ||
        memcmp(b->base + sizeof seq, l->message + sizeof seq, l->size - sizeof seq) != 0) {
        l->bad++;
        return;
    }
    l->received++;
    if (l->phase == MEASURING)
        l->round_trips++;
    send_one(l);
}

/* No datagram came back for a while: the window's are gone.  Refill it. */
static void on_stall(uv_timer_t *t)
{
    struct load *l = t->data;
    if (l->received == l->at_last_tick && l->phase != DONE) {
        l->lost += l->window;
        for (size_t i = 0; i < l->window; i++)
            send_one(l);
    }
    l->at_last_tick = l->received;
}

static void end_measure(uv_timer_t *t)
{
    struct load *l = t->data;
    l->t1_ns = uv_hrtime();
    l->cpu1_ns = l->server_pid ? process_cpu_ns(l->server_pid) : -1;
    l->phase = DONE;
    uv_close((uv_handle_t *)&l->sock, NULL);
    uv_close((uv_handle_t *)&l->timer, NULL);
    uv_close((uv_handle_t *)&l->stall, NULL);
    uint64_t n = l->round_trips;
    double secs = (double)(l->t1_ns - l->t0_ns) / 1e9;
    fprintf(stderr,
            "udp_load: %s: %" PRIu64 " round trips of %zu bytes in %.2f s, %zu in flight; "
            "%" PRIu64 " lost, %" PRIu64 " bad\n",
            l->name, n, l->size, secs, l->window, l->lost, l->bad);
    if (n == 0)
        return;
    printf("RESULT udp_echo %s_pkt_per_s %.0f pkt/s\n", l->name, (double)n / secs);
    if (l->cpu0_ns >= 0 && l->cpu1_ns >= 0)
        printf("RESULT udp_echo %s_cpu_us_per_pkt %.3f us\n", l->name,
               (double)(l->cpu1_ns - l->cpu0_ns) / 1e3 / (double)n);
}

static void begin_measure(uv_timer_t *t)
{
    struct load *l = t->data;
    l->phase = MEASURING;
    l->cpu0_ns = l->server_pid ? process_cpu_ns(l->server_pid) : -1;
    l->t0_ns = uv_hrtime();
    uv_timer_start(&l->timer, end_measure, (uint64_t)(l->seconds * 1000), 0);
}

static int usage(void)
{
    fprintf(stderr, "usage: udp_load --port P [--host H] [--name NAME] [--pid PID] [--size B]\n"
                    "                [--window N] [--warmup S] [--seconds S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct load l = {
        .size = 64, .window = 32, .warmup_s = 1, .seconds = 5, .name = "server"};
    const char *host = "127.0.0.1";
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
        else if (strcmp(k, "--pid") == 0)
            l.server_pid = strtol(v, NULL, 10);
        else if (strcmp(k, "--size") == 0)
            l.size = strtoul(v, NULL, 10);
        else if (strcmp(k, "--window") == 0)
            l.window = strtoul(v, NULL, 10);
        else if (strcmp(k, "--warmup") == 0)
            l.warmup_s = strtod(v, NULL);
        else if (strcmp(k, "--seconds") == 0)
            l.seconds = strtod(v, NULL);
        else
            return usage();
    }
    if (port <= 0 || port > 65535 || l.size < 8 || l.size > 65507 || l.window == 0 ||
        l.seconds <= 0)
        return usage();

    struct sockaddr_storage addr;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "udp_load: %s: not a numeric address\n", host);
        return 2;
    }
    l.message = malloc(l.size);
    if (!l.message)
        return 2;
    for (size_t i = 0; i < l.size; i++)
        l.message[i] = (char)('a' + i % 26);
    l.loop = uv_default_loop();
    l.sock.data = l.timer.data = l.stall.data = &l;
    int rc = uv_udp_init_ex(l.loop, &l.sock, addr.ss_family | UV_UDP_RECVMMSG);
    if (rc == 0)
        rc = uv_udp_connect(&l.sock, (struct sockaddr *)&addr);
    if (rc == 0)
        rc = uv_udp_recv_start(&l.sock, on_alloc, on_recv);
    if (rc < 0) {
        fprintf(stderr, "udp_load: %s:%ld: %s\n", host, port, uv_strerror(rc));
        return 2;
    }
    uv_timer_init(l.loop, &l.timer);
    uv_timer_init(l.loop, &l.stall);
    uv_timer_start(&l.timer, begin_measure, (uint64_t)(l.warmup_s * 1000), 0);
    uv_timer_start(&l.stall, on_stall, 50, 50);
    for (size_t i = 0; i < l.window; i++)
        send_one(&l);
    uv_run(l.loop, UV_RUN_DEFAULT);
    uv_loop_close(l.loop);
    free(l.message);
    return l.round_trips > 0 && l.bad == 0 ? 0 : 1;
}
