/*
 * The command line.  Flags follow curl's names where curl has the
 * feature, else wget2's or aria2c's.  Options and URLs may be mixed; --out
 * and --checksum apply to the URL argument that follows them, as curl's -o
 * pairs with its URL.  A short option's value may be attached (-j64) or
 * the next argument; a long option's may follow '=' (--retry=3).
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

config_t cfg = {
    .jobs = 16,
    .retry_delay = 1.0,
    .max_redirs = 10,
    .http_version = ASYNCIO_HTTP_VERSION_DEFAULT,
};

static const char usage_text[] =
    "usage: " PROG " [OPTIONS] [URL...]\n"
    "Fetches URLs in parallel (HTTP/1.1 keep-alive, HTTP/2 multiplexing).  Bodies\n"
    "are discarded unless -o DIR says where to save them.\n"
    "\n"
    "Input:\n"
    "  -i, --input-file FILE   read URLs from FILE (\"-\": stdin), one per line; blank\n"
    "                          lines and # comments are skipped; \"URL<TAB>NAME\" or an\n"
    "                          indented \"out=NAME\" line below the URL names its file,\n"
    "                          an indented \"checksum=sha-256=HEX\" line its checksum\n"
    "      --out NAME          save the next URL argument as NAME\n"
    "      --checksum TYPE=HEX check the next URL argument's body (sha256, sha512,\n"
    "                          sha1, md5); a mismatch fails it and removes its file\n"
    "Output:\n"
    "  -o, -d, --dir, --output-dir DIR\n"
    "                          save each body in DIR (made if missing), named after\n"
    "                          the URL; an existing file is never overwritten (NAME.1,\n"
    "                          NAME.2, ... instead); a failed URL leaves no file\n"
    "  -n, --discard           count the bodies, save none (the default)\n"
    "  -f, --fail              accepted for curl's sake: the body of an HTTP error\n"
    "                          is never saved under the URL's name\n"
    "  -c, --continue          resume partial files saved from the same URL (Range,\n"
    "                          checked with If-Range); keep partial files of failed\n"
    "                          or interrupted transfers\n"
    "      --content-on-error  keep the body of an HTTP error as NAME.error\n"
    "                          (-c, --content-on-error and --out need -o DIR)\n"
    "      --json FILE         one JSON record per URL (\"-\": stdout)\n"
    "  -q, --quiet             no progress, no lines per transfer, no summary\n"
    "      --no-progress-meter no progress bar on a terminal\n"
    "Transfers:\n"
    "  -j, --jobs N            N transfers in flight (1-10000, default 16)\n"
    "      --threads N         run them in N threads, each with its own event loop\n"
    "                          and connections (default: one per CPU, at most 4,\n"
    "                          one per 100 URLs)\n"
    "      --per-host N        at most N of them to one host (default: no limit)\n"
    "      --limit-rate RATE   bytes per second in all (suffix K, M or G: 1024s)\n"
    "  -m, --max-time SECONDS  give up an attempt after SECONDS (also -t)\n"
    "      --connect-timeout SECONDS   give up connecting after SECONDS\n"
    "      --retry N           try a failed URL again up to N times (default 0): on\n"
    "                          connection errors, timeouts, 408, 429 and 5xx\n"
    "      --retry-delay SECONDS   first wait before a retry (default 1), doubled\n"
    "                          each time, with jitter; a Retry-After header wins\n"
    "                          (up to 600 s, or --retry-max-time if longer)\n"
    "      --retry-max-time SECONDS   no retry starts SECONDS after the first try\n"
    "HTTP:\n"
    "  -L, --location          follow redirects (without it a 3xx fails its URL)\n"
    "      --max-redirs N      at most N redirects (default 10; -1: no limit)\n"
    "  -H, --header 'NAME: VALUE'   send this header (repeatable)\n"
    "  -A, --user-agent TEXT   the User-Agent header\n"
    "      --compressed        accepted for curl's sake: compressed bodies are\n"
    "                          always asked for and decoded (not with -c)\n"
    "      --http1.1           HTTP/1.1 only\n"
    "      --http2             ask for HTTP/2 (ALPN for https://, Upgrade for http://)\n"
    "      --h2c, --http2-prior-knowledge   HTTP/2 straight away, also for http://\n"
    "  -x, --proxy URL         use this proxy (default: http_proxy, https_proxy,\n"
    "                          no_proxy from the environment)\n"
    "  -k, --insecure          do not verify TLS certificates\n"
    "      --cacert FILE       trust the CA certificates in FILE\n"
    "Other:\n"
    "  -h, --help              this text\n"
    "  -V, --version           the version\n"
    "\n"
    "Ctrl-C stops: no new transfers, those in flight cancelled, their partial files\n"
    "removed (kept with -c), the summary printed; a second Ctrl-C exits at once.\n"
    "Exit status: 0 if every URL succeeded, 1 if any failed, 2 on a usage error,\n"
    "130 when interrupted.  See casyncio-fetch(1).\n";

/* ------------------------------------------------------------ helpers */

void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vsay_line(fmt, ap);
    va_end(ap);
    fputs("Try '" PROG " --help' for more information.\n", stderr);
    exit(2);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vsay_line(fmt, ap);
    va_end(ap);
    exit(2);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fatal("out of memory");
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        fatal("out of memory");
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        fatal("out of memory");
    return p;
}

/* An integer option: lo..hi, or a usage error naming the option. */
static long parse_long(const char *opt, const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < lo || n > hi)
        usage_error("%s wants %s from %ld to %ld, not '%s'", opt, what, lo, hi, s);
    return n;
}

/* Seconds: positive (or >= 0 when zero_ok), finite, at most ~4 months. */
static double parse_seconds(const char *opt, const char *s, bool zero_ok)
{
    char *end;
    errno = 0;
    double t = strtod(s, &end);
    if (errno || end == s || *end || isnan(t) || t < 0 || (t == 0 && !zero_ok) || t > 1e7)
        usage_error("%s wants a %s number of seconds, not '%s'", opt,
                    zero_ok ? "non-negative" : "positive", s);
    return t;
}

/* curl's --limit-rate: bytes per second, K/M/G multiply by 1024s. */
static double parse_rate(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mult = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1024, end++;
        break;
    case 'm':
    case 'M':
        mult = 1024.0 * 1024, end++;
        break;
    case 'g':
    case 'G':
        mult = 1024.0 * 1024 * 1024, end++;
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (errno || end == s || *end || isnan(v) || v <= 0 || v * mult < 1 || v * mult > 1e15)
        usage_error("%s wants bytes per second (such as 500K or 2M), not '%s'", opt, s);
    return v * mult;
}

static void add_header(const char *opt, const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strpbrk(h, "\r\n"))
        usage_error("%s wants 'Name: value', not '%s'", opt, h);
    cfg.headers = realloc(cfg.headers, (cfg.nheaders + 2) * sizeof *cfg.headers);
    if (!cfg.headers)
        fatal("out of memory");
    cfg.headers[cfg.nheaders++] = h;
    cfg.headers[cfg.nheaders] = NULL;
}

static void version(void)
{
    printf("%s %s (casyncio %s, libcurl %s)\n", PROG, FETCH_VERSION, asyncio_version_string(),
           curl_version_info(CURLVERSION_NOW)->version);
    exit(0);
}

/* ------------------------------------------------------------ the table */

enum {
    O_INPUT = 'i',
    O_JOBS = 'j',
    O_DIR = 'o',
    O_DISCARD = 'n',
    O_CONTINUE = 'c',
    O_QUIET = 'q',
    O_MAXTIME = 'm',
    O_LOCATION = 'L',
    O_HEADER = 'H',
    O_AGENT = 'A',
    O_PROXY = 'x',
    O_INSECURE = 'k',
    O_HELP = 'h',
    O_VERSION = 'V',
    O_OUT = 256,
    O_CHECKSUM,
    O_ERRBODY,
    O_JSON,
    O_NOPROGRESS,
    O_PERHOST,
    O_RATE,
    O_CONNECT,
    O_RETRY,
    O_RETRYDELAY,
    O_RETRYMAX,
    O_MAXREDIRS,
    O_COMPRESSED,
    O_FAIL,
    O_HTTP11,
    O_HTTP2,
    O_H2C,
    O_CACERT,
    O_THREADS,
};

typedef struct option {
    char shrt;       /* 0: long only */
    const char *lng; /* NULL: short only */
    bool arg;
    int id;
} option_t;

static const option_t options[] = {
    {'i', "input-file", true, O_INPUT},
    {0, "out", true, O_OUT},
    {0, "checksum", true, O_CHECKSUM},
    {'o', NULL, true, O_DIR},
    {'d', "dir", true, O_DIR},
    {0, "output-dir", true, O_DIR}, /* curl's */
    {'P', "directory-prefix", true, O_DIR}, /* wget's */
    {'n', "discard", false, O_DISCARD},
    {'c', "continue", false, O_CONTINUE},
    {'f', "fail", false, O_FAIL},
    {0, "content-on-error", false, O_ERRBODY},
    {0, "json", true, O_JSON},
    {'q', "quiet", false, O_QUIET},
    {0, "no-progress-meter", false, O_NOPROGRESS},
    {'j', "jobs", true, O_JOBS},
    {0, "parallel-max", true, O_JOBS}, /* curl's */
    {0, "per-host", true, O_PERHOST},
    {0, "threads", true, O_THREADS},
    {0, "limit-rate", true, O_RATE},
    {'m', "max-time", true, O_MAXTIME},
    {'t', NULL, true, O_MAXTIME}, /* the first casyncio-fetch's */
    {0, "connect-timeout", true, O_CONNECT},
    {0, "retry", true, O_RETRY},
    {0, "retry-delay", true, O_RETRYDELAY},
    {0, "retry-max-time", true, O_RETRYMAX},
    {'L', "location", false, O_LOCATION},
    {0, "max-redirs", true, O_MAXREDIRS},
    {'H', "header", true, O_HEADER},
    {'A', "user-agent", true, O_AGENT},
    {0, "compressed", false, O_COMPRESSED},
    {0, "http1.1", false, O_HTTP11},
    {0, "http2", false, O_HTTP2},
    {0, "h2c", false, O_H2C},
    {0, "http2-prior-knowledge", false, O_H2C},
    {'x', "proxy", true, O_PROXY},
    {'k', "insecure", false, O_INSECURE},
    {0, "cacert", true, O_CACERT},
    {'h', "help", false, O_HELP},
    {'V', "version", false, O_VERSION},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static const option_t *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].lng && strlen(options[i].lng) == len && !memcmp(options[i].lng, name, len))
            return &options[i];
    return NULL;
}

static const option_t *find_short(char c)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (options[i].shrt == c)
            return &options[i];
    return NULL;
}

/* What --out and --checksum said for the next URL argument. */
static const char *next_out, *next_checksum;
/* Whether --out was given at all (it names a file: -o must say where). */
static bool out_given;

static void apply(const option_t *o, const char *opt, const char *val)
{
    switch (o->id) {
    case O_INPUT:
        input_read_file(val);
        break;
    case O_OUT:
        if (!*val)
            usage_error("%s wants a file name", opt);
        next_out = val;
        out_given = true;
        break;
    case O_CHECKSUM:
        next_checksum = val;
        break;
    case O_DIR:
        if (!*val)
            usage_error("%s wants a directory", opt);
        cfg.outdir = val;
        break;
    case O_DISCARD:
        cfg.outdir = NULL;
        break;
    case O_CONTINUE:
        cfg.resume = true;
        break;
    case O_ERRBODY:
        cfg.content_on_error = true;
        break;
    case O_JSON:
        cfg.json = val;
        break;
    case O_QUIET:
        cfg.quiet = true;
        break;
    case O_NOPROGRESS:
        cfg.no_progress = true;
        break;
    case O_JOBS:
        cfg.jobs = parse_long(opt, val, 1, MAX_JOBS, "a number of transfers");
        break;
    case O_THREADS:
        cfg.threads = parse_long(opt, val, 1, 64, "a number of threads");
        break;
    case O_PERHOST:
        cfg.per_host = parse_long(opt, val, 0, MAX_JOBS, "a number of transfers");
        break;
    case O_RATE:
        cfg.rate = parse_rate(opt, val);
        break;
    case O_MAXTIME:
        cfg.max_time = parse_seconds(opt, val, false);
        break;
    case O_CONNECT:
        cfg.connect_timeout = parse_seconds(opt, val, false);
        break;
    case O_RETRY:
        cfg.retries = parse_long(opt, val, 0, 1000, "a number of retries");
        break;
    case O_RETRYDELAY:
        cfg.retry_delay = parse_seconds(opt, val, true);
        break;
    case O_RETRYMAX:
        cfg.retry_max_time = parse_seconds(opt, val, true);
        break;
    case O_LOCATION:
        cfg.follow = true;
        break;
    case O_MAXREDIRS:
        cfg.max_redirs = parse_long(opt, val, -1, 1000, "a number of redirects");
        break;
    case O_HEADER:
        add_header(opt, val);
        break;
    case O_AGENT:
        cfg.user_agent = val;
        break;
    case O_COMPRESSED:
        break; /* always on */
    case O_FAIL:
        break; /* always so */
    case O_HTTP11:
        cfg.http_version = ASYNCIO_HTTP_VERSION_1_1;
        break;
    case O_HTTP2:
        cfg.http_version = ASYNCIO_HTTP_VERSION_2;
        break;
    case O_H2C:
        cfg.http_version = ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
        break;
    case O_PROXY:
        cfg.proxy = val;
        break;
    case O_INSECURE:
        cfg.insecure = true;
        break;
    case O_CACERT:
        cfg.cacert = val;
        break;
    case O_HELP:
        fputs(usage_text, stdout);
        exit(0);
    case O_VERSION:
        version();
    }
}

static void add_url_arg(const char *url)
{
    input_add(url, next_out, next_checksum, "the command line");
    next_out = next_checksum = NULL;
}

void options_parse(int argc, char **argv)
{
    bool dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash || a[0] != '-' || a[1] == '\0') {
            add_url_arg(a);
            continue;
        }
        if (!strcmp(a, "--")) {
            dashdash = true;
            continue;
        }
        if (a[1] == '-') { /* --name, --name=value, --name value */
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const option_t *o = find_long(name, len);
            if (!o)
                usage_error("unknown option '%.*s'", (int)(len + 2), a);
            char opt[64];
            snprintf(opt, sizeof opt, "--%s", o->lng);
            const char *val = NULL;
            if (o->arg) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    usage_error("option %s wants a value", opt);
            } else if (eq) {
                usage_error("option %s takes no value", opt);
            }
            apply(o, opt, val);
            continue;
        }
        /* -x, -xVALUE, -x VALUE, and flags together (-Lq). */
        for (const char *p = a + 1; *p; p++) {
            const option_t *o = find_short(*p);
            if (!o)
                usage_error("unknown option '-%c'", *p);
            char opt[3] = {'-', *p, '\0'};
            if (!o->arg) {
                apply(o, opt, NULL);
                continue;
            }
            const char *val;
            if (p[1])
                val = p + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                usage_error("option %s wants a value", opt);
            apply(o, opt, val);
            break;
        }
    }
    if (next_out || next_checksum)
        usage_error("%s given after the last URL: it applies to the URL that follows it",
                    next_out ? "--out" : "--checksum");
    if (njobs == 0)
        usage_error("no URL given (as arguments or with -i FILE)");
    /* Bodies are discarded without -o: a user who resumes or names files
     * but forgot where would otherwise get a run that keeps nothing.
     * Names from URL files are not checked: a list serves both kinds of
     * run. */
    if (!cfg.outdir && (cfg.resume || cfg.content_on_error || out_given))
        usage_error("%s saves files, but bodies are discarded: give -o DIR to say where",
                    cfg.resume             ? "-c"
                    : cfg.content_on_error ? "--content-on-error"
                                           : "--out");
    if (cfg.outdir)
        files_open_dir(cfg.outdir);
    if (cfg.json)
        report_open_json(cfg.json);
    input_assign_names();
}
