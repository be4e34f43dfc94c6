/*
 * casyncio-fetch: fetch many URLs at once, what `curl --parallel` does.
 *
 *   casyncio-fetch [OPTIONS] [URL...]
 *
 * URLs come from the arguments and from -i FILE (one per line, "-" for
 * stdin; blank lines and # comments skipped).  -j N worker tasks (default
 * 16) take the next URL until none is left, so at most N transfers are in
 * flight on one session.  Bodies are discarded, or streamed to files in -o
 * DIR (names derived from the URL, never outside DIR, never overwriting:
 * "name", "name.1", ...), so any size uses bounded memory.  On a terminal
 * a progress line is redrawn up to 10 times a second; otherwise one line
 * per finished transfer.  A summary ends the run.
 *
 * Exit status: 0 if every transfer succeeded with a status below 400, 1 if
 * any failed, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <casyncio.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_JOBS 16
#define MAX_JOBS 10000
#define MAX_KINDS 32
#define NAME_MAX_LEN 200
#define CHUNK (64 * 1024)

static const char usage_text[] =
    "usage: casyncio-fetch [OPTIONS] [URL...]\n"
    "Fetches URLs in parallel on one HTTP session.\n"
    "\n"
    "  -i FILE      read URLs from FILE, one per line (\"-\": stdin); blank lines\n"
    "               and lines starting with # are skipped; may be repeated\n"
    "  -j N         N transfers in flight (1-10000, default 16)\n"
    "  -o DIR       write each body to a file in DIR (created if missing), named\n"
    "               after the URL; an existing file is never overwritten\n"
    "  -n           discard the bodies (the default)\n"
    "  -t SECONDS   give up a transfer after SECONDS (default: no limit)\n"
    "  -L           follow redirects\n"
    "  --http2      ask for HTTP/2 (ALPN for https://, Upgrade for http://)\n"
    "  --h2c        HTTP/2 with prior knowledge, also for http://\n"
    "  -q           quiet: no progress, no per-transfer lines, no summary\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit status: 0 if every transfer succeeded with a status below 400,\n"
    "1 if any failed, 2 on a usage error.\n";

typedef struct {
    const char *name; /* "ClientError/CURLE_COULDNT_CONNECT", "HTTP >= 400", ... */
    long count;
} kind_t;

static struct {
    /* Options. */
    char **urls;
    size_t nurls, cap_urls;
    long jobs;
    const char *outdir;
    int dirfd;
    double timeout;
    bool follow, quiet, tty;
    int http_version;
    /* Work. */
    asyncio_http_session_t *session;
    size_t next;         /* the next URL to take */
    size_t done, failed; /* finished transfers, failures among them */
    uint64_t bytes;      /* body bytes received */
    long status[600];    /* count per status code */
    long status_other;   /* codes outside 100-599 */
    kind_t kinds[MAX_KINDS + 1];
    size_t nkinds;
    double t0; /* loop time at the start */
    bool bar_drawn;
} g;

static char kind_names[MAX_KINDS][96];

/* ------------------------------------------------------------ input */

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "casyncio-fetch: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'casyncio-fetch --help' for more information.\n");
    exit(2);
}

static void add_url(const char *u)
{
    if (g.nurls == g.cap_urls) {
        g.cap_urls = g.cap_urls ? g.cap_urls * 2 : 64;
        char **n = realloc(g.urls, g.cap_urls * sizeof *n);
        if (!n) {
            fprintf(stderr, "casyncio-fetch: out of memory\n");
            exit(2);
        }
        g.urls = n;
    }
    if (!(g.urls[g.nurls++] = strdup(u))) {
        fprintf(stderr, "casyncio-fetch: out of memory\n");
        exit(2);
    }
}

static void read_url_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "casyncio-fetch: cannot read URLs from %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (*s && *s != '#')
            add_url(s);
    }
    bool bad = ferror(f);
    free(line);
    if (f != stdin)
        fclose(f);
    if (bad) {
        fprintf(stderr, "casyncio-fetch: error reading %s\n", path);
        exit(2);
    }
}

static long parse_jobs(const char *s)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < 1 || n > MAX_JOBS)
        usage_error("-j wants a number of transfers from 1 to 10000, not '%s'", s);
    return n;
}

static double parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double t = strtod(s, &end);
    /* t == t: not NaN. */
    if (errno || end == s || *end || !(t == t) || t <= 0 || t > 1e7)
        usage_error("-t wants a positive number of seconds, not '%s'", s);
    return t;
}

/* The output directory: made if missing, then held open (files are made
 * relative to it, so nothing can escape it). */
static void open_outdir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "casyncio-fetch: cannot create directory %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    g.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g.dirfd < 0) {
        fprintf(stderr, "casyncio-fetch: cannot open directory %s: %s\n", dir, strerror(errno));
        exit(2);
    }
    if (faccessat(g.dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        fprintf(stderr, "casyncio-fetch: cannot write to directory %s: %s\n", dir, strerror(errno));
        exit(2);
    }
}

static void parse_args(int argc, char **argv)
{
    g.jobs = DEFAULT_JOBS;
    g.dirfd = -1;
    g.http_version = ASYNCIO_HTTP_VERSION_DEFAULT;
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash || a[0] != '-' || a[1] == '\0') {
            add_url(a);
            continue;
        }
        /* Options that take a value. */
        const char *val = NULL;
        if (!strcmp(a, "-i") || !strcmp(a, "-j") || !strcmp(a, "-o") || !strcmp(a, "-t")) {
            if (i + 1 >= argc)
                usage_error("option %s wants a value", a);
            val = argv[++i];
        }
        if (!strcmp(a, "--"))
            dashdash = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            exit(0);
        } else if (!strcmp(a, "-i"))
            read_url_file(val);
        else if (!strcmp(a, "-j"))
            g.jobs = parse_jobs(val);
        else if (!strcmp(a, "-o"))
            g.outdir = val;
        else if (!strcmp(a, "-n"))
            g.outdir = NULL;
        else if (!strcmp(a, "-t"))
            g.timeout = parse_seconds(val);
        else if (!strcmp(a, "-L"))
            g.follow = true;
        else if (!strcmp(a, "--http2"))
            g.http_version = ASYNCIO_HTTP_VERSION_2;
        else if (!strcmp(a, "--h2c"))
            g.http_version = ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
        else if (!strcmp(a, "-q"))
            g.quiet = true;
        else
            usage_error("unknown option '%s'", a);
    }
    if (g.nurls == 0)
        usage_error("%s", "no URL given (as arguments or with -i FILE)");
    if (g.outdir)
        open_outdir(g.outdir);
}

/* ------------------------------------------------------------ files */

/* A safe file name from a URL: its path's last segment without query or
 * fragment ("index.html" when empty), only [A-Za-z0-9._-] kept (others
 * become '_'), no leading dot (so never "." or ".." or hidden), at most
 * NAME_MAX_LEN bytes. */
static void name_from_url(const char *url, char *out)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "?#");
    const char *slash = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '/')
            slash = q;
    const char *seg = slash ? slash + 1 : end; /* no path: the host's index */
    size_t n = 0;
    for (const char *q = seg; q < end && n < NAME_MAX_LEN; q++) {
        char c = *q;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    if (n == 0)
        strcpy(out, "index.html");
    else if (out[0] == '.')
        out[0] = '_';
}

/* Creates a new file in the output directory for url: "name", else
 * "name.1", "name.2", ... (O_EXCL: an existing file, or a symbolic link
 * planted there, is never written through).  Sets path (relative to the
 * directory); -1 with errno set on failure. */
static int create_output(const char *url, char *path, size_t cap)
{
    char base[NAME_MAX_LEN + 1];
    name_from_url(url, base);
    for (unsigned k = 0; k < 100000; k++) {
        if (k == 0)
            snprintf(path, cap, "%s", base);
        else
            snprintf(path, cap, "%s.%u", base, k);
        int fd = openat(g.dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------ reporting */

static const char *curl_code_name(int code)
{
    switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
        return "CURLE_UNSUPPORTED_PROTOCOL";
    case CURLE_URL_MALFORMAT:
        return "CURLE_URL_MALFORMAT";
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "CURLE_COULDNT_RESOLVE_PROXY";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_COULDNT_CONNECT:
        return "CURLE_COULDNT_CONNECT";
    case CURLE_WEIRD_SERVER_REPLY:
        return "CURLE_WEIRD_SERVER_REPLY";
    case CURLE_HTTP2:
        return "CURLE_HTTP2";
    case CURLE_PARTIAL_FILE:
        return "CURLE_PARTIAL_FILE";
    case CURLE_WRITE_ERROR:
        return "CURLE_WRITE_ERROR";
    case CURLE_OPERATION_TIMEDOUT:
        return "CURLE_OPERATION_TIMEDOUT";
    case CURLE_SSL_CONNECT_ERROR:
        return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_ABORTED_BY_CALLBACK:
        return "CURLE_ABORTED_BY_CALLBACK";
    case CURLE_TOO_MANY_REDIRECTS:
        return "CURLE_TOO_MANY_REDIRECTS";
    case CURLE_GOT_NOTHING:
        return "CURLE_GOT_NOTHING";
    case CURLE_SEND_ERROR:
        return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR:
        return "CURLE_RECV_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION:
        return "CURLE_PEER_FAILED_VERIFICATION";
    case CURLE_HTTP2_STREAM:
        return "CURLE_HTTP2_STREAM";
    default:
        return NULL;
    }
}

static void count_kind(const char *name)
{
    size_t i;
    for (i = 0; i < g.nkinds; i++)
        if (!strcmp(g.kinds[i].name, name))
            break;
    if (i == g.nkinds) {
        if (g.nkinds == MAX_KINDS) { /* the last slot collects the rest */
            i = MAX_KINDS;
            g.kinds[i].name = "other";
        } else {
            snprintf(kind_names[i], sizeof kind_names[i], "%s", name);
            g.kinds[i].name = kind_names[i];
            g.nkinds++;
        }
    }
    g.kinds[i].count++;
}

/* The kind of the raised error: its type, with curl's code name for a
 * ClientError ("ClientError/CURLE_COULDNT_CONNECT"). */
static void error_kind(const asyncio_error_t *e, char *out, size_t cap)
{
    if (!e) {
        snprintf(out, cap, "unknown");
        return;
    }
    const char *cname = NULL;
    if (e->code == ASYNCIO_EHTTP || e->code == ASYNCIO_ETIMEDOUT)
        cname = curl_code_name(e->detail);
    if (e->code == ASYNCIO_EHTTP && !cname)
        snprintf(out, cap, "%s/CURLcode %d", e->type, e->detail);
    else if (cname)
        snprintf(out, cap, "%s/%s", e->type, cname);
    else
        snprintf(out, cap, "%s", e->type);
}

static double now(void)
{
    return asyncio_loop_time(NULL);
}

static void human_bytes(uint64_t b, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)b);
    else
        snprintf(out, cap, "%.1f %s", v, units[u]);
}

static void clear_bar(void)
{
    if (g.bar_drawn) {
        fputs("\r\033[K", stderr);
        g.bar_drawn = false;
    }
}

static void draw_bar(void)
{
    double el = now() - g.t0;
    char hb[32];
    human_bytes(g.bytes, hb, sizeof hb);
    fprintf(stderr, "\r\033[K%zu/%zu done, %s, %.0f req/s, %zu failed", g.done, g.nurls, hb,
            el > 0 ? (double)g.done / el : 0.0, g.failed);
    fflush(stderr);
    g.bar_drawn = true;
}

/* A failed transfer: counted by kind; a line unless quiet. */
static void report_failure(const char *url, const char *kind, const char *msg, double started)
{
    g.done++;
    g.failed++;
    count_kind(kind);
    if (g.quiet)
        return;
    clear_bar();
    fprintf(stderr, "FAIL %s %.3f s %s: %s\n", kind, now() - started, url, msg);
}

static void report_done(const char *url, long status, uint64_t bytes, double started,
                        const char *file)
{
    g.done++;
    if (status >= 100 && status < 600)
        g.status[status]++;
    else
        g.status_other++;
    if (status >= 400) {
        g.failed++;
        count_kind("HTTP status >= 400");
    }
    if (g.quiet || g.tty)
        return;
    fprintf(stderr, "%ld %llu %.3f s %s%s%s\n", status, (unsigned long long)bytes, now() - started,
            url, file ? " -> " : "", file ? file : "");
}

/* ------------------------------------------------------------ transfers */

/* A body discarded: counted, not kept (no stream needed). */
static void fetch_discard(const char *url, double started)
{
    asyncio_http_request_t req = {.url = url, .discard_body = true};
    asyncio_http_response_t *resp;
    if (asyncio_http_request(g.session, &req, &resp) < 0) {
        char kind[96];
        const asyncio_error_t *e = asyncio_error();
        error_kind(e, kind, sizeof kind);
        report_failure(url, kind, e ? e->message : "?", started);
        asyncio_error_clear();
        return;
    }
    g.bytes += resp->body_len;
    report_done(url, resp->status, resp->body_len, started, NULL);
    asyncio_http_response_free(resp);
}

/* A body streamed to a new file in the output directory, chunk by chunk
 * as it arrives (bounded memory whatever its size).  A transfer that fails
 * leaves no file behind. */
static void fetch_to_file(const char *url, double started)
{
    char kind[96], path[NAME_MAX_LEN + 16];
    asyncio_http_request_t req = {.url = url};
    asyncio_http_stream_t *st;
    if (asyncio_http_stream_open(g.session, &req, &st) < 0)
        goto failed;
    int fd = create_output(url, path, sizeof path);
    if (fd < 0) {
        snprintf(kind, sizeof kind, "OSError/%s", strerrorname_np(errno));
        char msg[512];
        snprintf(msg, sizeof msg, "cannot create %s/%s: %s", g.outdir, path, strerror(errno));
        asyncio_http_stream_close(st);
        report_failure(url, kind, msg, started);
        return;
    }
    uint64_t got = 0;
    for (;;) {
        const void *data;
        size_t len;
        if (asyncio_http_stream_read_chunk(st, &data, &len) < 0) {
            asyncio_http_stream_close(st);
            close(fd);
            unlinkat(g.dirfd, path, 0);
            g.bytes += got;
            goto failed;
        }
        if (len == 0)
            break;
        got += len;
        if (write_all(fd, data, len) != 0) {
            int err = errno;
            asyncio_http_stream_close(st);
            close(fd);
            unlinkat(g.dirfd, path, 0);
            g.bytes += got;
            snprintf(kind, sizeof kind, "OSError/%s", strerrorname_np(err));
            char msg[512];
            snprintf(msg, sizeof msg, "cannot write %s/%s: %s", g.outdir, path, strerror(err));
            report_failure(url, kind, msg, started);
            return;
        }
    }
    long status = asyncio_http_stream_response(st)->status;
    asyncio_http_stream_close(st);
    if (close(fd) != 0) {
        int err = errno;
        unlinkat(g.dirfd, path, 0);
        snprintf(kind, sizeof kind, "OSError/%s", strerrorname_np(err));
        report_failure(url, kind, strerror(err), started);
        return;
    }
    g.bytes += got;
    report_done(url, status, got, started, path);
    return;
failed:;
    const asyncio_error_t *e = asyncio_error();
    error_kind(e, kind, sizeof kind);
    report_failure(url, kind, e ? e->message : "?", started);
    asyncio_error_clear();
}

static bool is_http_url(const char *u)
{
    return !strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8);
}

static void *worker(void *arg)
{
    (void)arg;
    while (g.next < g.nurls) {
        const char *url = g.urls[g.next++];
        double started = now();
        if (!is_http_url(url))
            report_failure(url, "InvalidURL", "not an http:// or https:// URL", started);
        else if (g.outdir)
            fetch_to_file(url, started);
        else
            fetch_discard(url, started);
    }
    return NULL;
}

/* Redraws the progress line (on a terminal) 10 times a second until every
 * transfer is done. */
static void *progress(void *arg)
{
    (void)arg;
    while (g.done < g.nurls) {
        draw_bar();
        if (asyncio_sleep(0.1) < 0)
            return NULL;
    }
    return NULL;
}

static void print_summary(double elapsed)
{
    char hb[32];
    human_bytes(g.bytes, hb, sizeof hb);
    fprintf(stderr, "requests: %zu (%zu ok, %zu failed)\n", g.nurls, g.nurls - g.failed, g.failed);
    fprintf(stderr, "bytes:    %llu (%s)\n", (unsigned long long)g.bytes, hb);
    fprintf(stderr, "elapsed:  %.3f s\n", elapsed);
    fprintf(stderr, "rate:     %.1f req/s, %.2f MB/s\n", elapsed > 0 ? g.done / elapsed : 0.0,
            elapsed > 0 ? (double)g.bytes / 1e6 / elapsed : 0.0);
    for (size_t i = 0; i <= MAX_KINDS; i++)
        if (g.kinds[i].count)
            fprintf(stderr, "failure:  %ld %s\n", g.kinds[i].count, g.kinds[i].name);
    long cls[6] = {0};
    for (int c = 100; c < 600; c++)
        cls[c / 100] += g.status[c];
    fprintf(stderr, "status:   1xx %ld, 2xx %ld, 3xx %ld, 4xx %ld, 5xx %ld", cls[1], cls[2], cls[3],
            cls[4], cls[5]);
    if (g.status_other)
        fprintf(stderr, ", other %ld", g.status_other);
    fputc('\n', stderr);
    for (int c = 100; c < 600; c++)
        if (g.status[c])
            fprintf(stderr, "status:   %d %ld\n", c, g.status[c]);
}

static void *fetch_main(void *arg)
{
    (void)arg;
    asyncio_http_opts_t opts = ASYNCIO_HTTP_OPTS_INIT;
    opts.timeout = g.timeout;
    opts.follow_redirects = g.follow;
    opts.http_version = g.http_version;
    g.session = asyncio_http_session_new(&opts);
    if (!g.session)
        return NULL; /* raised: main reports it */
    size_t n = (size_t)g.jobs < g.nurls ? (size_t)g.jobs : g.nurls;
    asyncio_future_t **tasks = calloc(n + 1, sizeof *tasks);
    if (!tasks) {
        asyncio_http_session_free(g.session);
        return asyncio_raise_error(&(asyncio_error_t){ASYNCIO_ENOMEM, "MemoryError", "", 0});
    }
    g.t0 = now();
    size_t made = 0;
    for (size_t i = 0; i < n; i++)
        if ((tasks[made] = asyncio_create_task(worker, NULL)))
            made++;
    if (made == 0) { /* raised: main reports it */
        free(tasks);
        asyncio_http_session_free(g.session);
        return NULL;
    }
    asyncio_future_t *bar = NULL;
    if (g.tty && !g.quiet)
        bar = asyncio_create_task(progress, NULL); /* none: no progress line */
    asyncio_error_clear();
    int rc = asyncio_gather(tasks, made, NULL, 0);
    double elapsed = now() - g.t0;
    if (bar) { /* between two redraws: stop it now */
        asyncio_cancel(bar, NULL);
        asyncio_gather(&bar, 1, NULL, 0);
        asyncio_error_clear();
        asyncio_decref(bar);
    }
    for (size_t i = 0; i < made; i++)
        asyncio_decref(tasks[i]);
    free(tasks);
    asyncio_http_session_free(g.session);
    if (rc < 0)
        return NULL;
    if (!g.quiet) {
        clear_bar();
        if (g.tty)
            draw_bar(), fputc('\n', stderr);
        print_summary(elapsed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    g.tty = isatty(STDERR_FILENO);
    int rc = asyncio_run(fetch_main, NULL, NULL);
    if (rc < 0) {
        const asyncio_error_t *e = asyncio_error();
        char text[512];
        asyncio_error_format(e, text, sizeof text);
        fprintf(stderr, "casyncio-fetch: %s\n", e ? text : asyncio_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < g.nurls; i++)
        free(g.urls[i]);
    free(g.urls);
    if (g.dirfd >= 0)
        close(g.dirfd);
    return g.failed || g.done < g.nurls ? 1 : 0;
}
