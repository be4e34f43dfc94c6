/*
 * What the run says at its end: failures counted by kind, statuses
 * counted, the summary, and the --json records.
 *
 * --json writes JSON Lines: one object per URL, as each one ends (so a
 * run cut short still leaves the records of what finished), then one for
 * each URL that never started:
 *
 *   {"url": "...", "file": "out/a.bin", "status": 200, "bytes": 1024,
 *    "size": 1024, "seconds": 0.012, "attempts": 1, "retries": 0,
 *    "resumed_from": 0, "restarted": false, "result": "ok", "error": null,
 *    "kind": null}
 *
 * result is "ok", "failed", "interrupted" or "not started"; file, status,
 * size, error and kind are null when there is none (status too when no
 * response came).  bytes counts what
 * was received (every attempt), size what the file holds; resumed_from
 * is where the saved body was continued from (0: from its start);
 * restarted says that a resume was refused and the body fetched whole.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#define MAX_KINDS 32

typedef struct kind {
    char *name;
    long count;
} kind_t;

static kind_t kinds[MAX_KINDS + 1]; /* the last collects the rest */
static size_t nkinds;
static long status_count[600];
static long status_other;
static FILE *json;
static bool json_stdout;

/* ------------------------------------------------------------ kinds */

const char *report_kind(const char *text)
{
    const char *k = NULL;
    run_lock();
    for (size_t i = 0; i < nkinds && !k; i++)
        if (!strcmp(kinds[i].name, text))
            k = kinds[i].name;
    if (!k && nkinds == MAX_KINDS) {
        kinds[MAX_KINDS].name = "other";
        k = kinds[MAX_KINDS].name;
    } else if (!k) {
        kinds[nkinds].name = xstrdup(text);
        k = kinds[nkinds++].name;
    }
    run_unlock();
    return k;
}

static void count_kind(const char *name)
{
    for (size_t i = 0; i <= MAX_KINDS; i++)
        if (kinds[i].name == name) {
            kinds[i].count++;
            return;
        }
}

const char *report_error_kind(const asyncio_error_t *e, bool *retryable)
{
    *retryable = false;
    if (!e)
        return report_kind("unknown error");
    /* curl's words for its codes ("Couldn't connect to server"), as a
     * user of curl knows them; the library's types in words otherwise. */
    if ((e->code == ASYNCIO_EHTTP || e->code == ASYNCIO_ETIMEDOUT) && e->detail > 0) {
        *retryable = e->code == ASYNCIO_ETIMEDOUT || retry_curl_code(e->detail);
        return report_kind(curl_easy_strerror((CURLcode)e->detail));
    }
    if (e->code == ASYNCIO_ETIMEDOUT) {
        *retryable = true;
        return report_kind("timeout");
    }
    if (!strcmp(e->type, "InvalidURL"))
        return report_kind("invalid URL");
    if (!strcmp(e->type, "MemoryError"))
        return report_kind("out of memory");
    return report_kind(asyncio_strerror(e->code));
}

/* The reason phrases of RFC 9110 for the statuses a download meets. */
static const struct {
    long status;
    const char *reason;
} reasons[] = {
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {410, "Gone"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {416, "Range Not Satisfiable"},
    {418, "I'm a teapot"},
    {429, "Too Many Requests"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *report_reason(long status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "";
}

/* ------------------------------------------------------------ JSON */

void report_open_json(const char *path)
{
    json_stdout = !strcmp(path, "-");
    json = json_stdout ? stdout : fopen(path, "w");
    if (!json)
        fatal("cannot write the JSON records to %s: %s", path, strerror(errno));
}

/* A JSON string: escapes quotes, backslashes and control characters, and
 * writes bytes that are not UTF-8 as U+FFFD. */
static void json_str(const char *s)
{
    if (!s) {
        fputs("null", json);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', json);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', json);
            fputc(c, json);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(json, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc(c, json);
            p++;
        } else {
            size_t n = utf8_len((const char *)p);
            if (n) {
                fwrite(p, 1, n, json);
                p += n;
            } else {
                fputs("\\ufffd", json);
                p++;
            }
        }
    }
    fputc('"', json);
}

size_t utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80)
        return 1;
    /* The second byte's range is what rules out overlong forms (E0, F0),
     * surrogates (ED) and code points beyond U+10FFFF (F4). */
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        lo = p[0] == 0xE0 ? 0xA0 : 0x80;
        hi = p[0] == 0xED ? 0x9F : 0xBF;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        lo = p[0] == 0xF0 ? 0x90 : 0x80;
        hi = p[0] == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0; /* a continuation byte, C0, C1, F5-FF */
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    return n;
}

static const char *result_word(const job_t *j)
{
    switch (j->state) {
    case JOB_OK:
        return "ok";
    case JOB_FAILED:
        return "failed";
    case JOB_QUEUED:
        return j->attempts ? "interrupted" : "not started";
    default:
        return "interrupted";
    }
}

static void json_record(const job_t *j)
{
    char shown[NAME_MAX_LEN * 2 + 4096];
    fputs("{\"url\": ", json);
    json_str(j->url);
    fputs(", \"file\": ", json);
    json_str(j->path && cfg.outdir ? files_display(j->path, shown, sizeof shown) : NULL);
    if (j->status > 0)
        fprintf(json, ", \"status\": %ld", j->status);
    else
        fputs(", \"status\": null", json);
    fprintf(json, ", \"bytes\": %llu", (unsigned long long)j->bytes);
    if (j->size >= 0)
        fprintf(json, ", \"size\": %lld", (long long)j->size);
    else
        fputs(", \"size\": null", json);
    fprintf(json, ", \"seconds\": %.3f, \"attempts\": %d, \"retries\": %d",
            j->attempts ? j->t1 - j->t0 : 0.0, j->attempts, j->attempts ? j->attempts - 1 : 0);
    fprintf(json, ", \"resumed_from\": %llu, \"restarted\": %s, \"result\": \"%s\", \"error\": ",
            (unsigned long long)j->resumed_from, j->restarted ? "true" : "false", result_word(j));
    json_str(j->state == JOB_OK ? NULL : j->error ? j->error : "not started");
    fputs(", \"kind\": ", json);
    json_str(j->state == JOB_OK ? NULL : j->kind);
    fputs("}\n", json);
}

void report_final(job_t *j)
{
    /* The statuses that decided a URL's end: of those that succeeded, and
     * of those that failed by their status (a 404, a redirect not
     * followed).  A 200 whose body was cut short failed by the cut, not
     * by its status; an interrupted body has no final status. */
    bool finished = j->state == JOB_OK || (j->state == JOB_FAILED && j->status >= 300);
    run_lock();
    if (finished && j->status >= 100 && j->status < 600)
        status_count[j->status]++;
    else if (finished && j->status)
        status_other++;
    if (j->state == JOB_FAILED && j->kind)
        count_kind(j->kind);
    if (json)
        json_record(j);
    run_unlock();
}

int report_close_json(void)
{
    if (!json)
        return 0;
    for (size_t i = 0; i < njobs; i++)
        if (jobs[i].state == JOB_QUEUED)
            json_record(&jobs[i]);
    bool bad = ferror(json) != 0;
    int err = errno;
    if (json_stdout ? fflush(json) != 0 : fclose(json) != 0)
        bad = true, err = errno;
    json = NULL;
    if (bad) {
        say_line(PROG ": cannot write the JSON records to %s: %s", cfg.json, strerror(err));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ summary */

void human_bytes(uint64_t b, char *out, size_t cap)
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

void report_summary(double elapsed)
{
    char hb[32];
    size_t not_finished = njobs - tot.ok - tot.failed;
    human_bytes(tot.bytes, hb, sizeof hb);
    fprintf(stderr, "requests: %zu (%zu ok, %zu failed", njobs, tot.ok, tot.failed);
    if (not_finished)
        fprintf(stderr, ", %zu not finished", not_finished);
    fputs(")\n", stderr);
    if (not_finished) {
        const char *why = tot.stop_signal == SIGINT    ? "interrupted (SIGINT)"
                          : tot.stop_signal == SIGTERM ? "terminated (SIGTERM)"
                                                       : "the disk is full";
        fprintf(stderr,
                "stopped:  %s: %zu cancelled (in flight or waiting to retry), %zu not "
                "started\n",
                why, tot.cancelled, not_finished - tot.cancelled);
    }
    /* Without -o nothing is saved: said here, where a user who expected
     * files looks first. */
    fprintf(stderr, "bytes:    %llu (%s%s)\n", (unsigned long long)tot.bytes, hb,
            cfg.outdir ? "" : ", counted and discarded: -o DIR saves them");
    fprintf(stderr, "elapsed:  %.3f s\n", elapsed);
    fprintf(stderr, "rate:     %.1f req/s, %.2f MB/s\n",
            elapsed > 0 ? (double)(tot.ok + tot.failed) / elapsed : 0.0,
            elapsed > 0 ? (double)tot.bytes / 1e6 / elapsed : 0.0);
    if (tot.retries)
        fprintf(stderr, "retries:  %ld (of %zu URL%s)\n", tot.retries, tot.retried,
                tot.retried == 1 ? "" : "s");
    for (size_t i = 0; i <= MAX_KINDS; i++)
        if (kinds[i].count)
            fprintf(stderr, "failure:  %ld %s\n", kinds[i].count, kinds[i].name);
    long cls[6] = {0};
    for (int c = 100; c < 600; c++)
        cls[c / 100] += status_count[c];
    fprintf(stderr, "status:   1xx %ld, 2xx %ld, 3xx %ld, 4xx %ld, 5xx %ld", cls[1], cls[2], cls[3],
            cls[4], cls[5]);
    if (status_other)
        fprintf(stderr, ", other %ld", status_other);
    fputc('\n', stderr);
    for (int c = 100; c < 600; c++)
        if (status_count[c])
            fprintf(stderr, "status:   %d %ld\n", c, status_count[c]);
}
