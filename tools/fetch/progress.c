/*
 * What the user sees while the run goes on.
 *
 * On a terminal (stderr), one line redrawn in place ten times a second:
 *
 *   [=========>          ]  45% 4512/10000 done  12.3 MiB  4.5 MiB/s  ETA 0:12  64 active  3 failed
 *
 * fitted to the terminal's width (the bar goes first, then the fields on
 * the right).  The fraction done counts finished URLs (cancelled ones did
 * not finish: after Ctrl-C the bar says how far the run got, and that it
 * stopped, not "100%"), and the transfers
 * in flight that announced their size by the share they received, so one
 * big download moves the bar as smoothly as many small ones.  The rate is
 * over the last two seconds; the ETA extrapolates the fraction done.
 * Failures and retries print above the bar.  Shard 0 draws it from what
 * every shard last published (each publishes ten times a second).
 *
 * Off a terminal, one line per finished transfer, for logs and scripts:
 *
 *   200 1024 0.012 s http://host/a.bin -> out/a.bin
 *   FAIL HTTP status >= 400 0.003 s http://host/x: HTTP 404 Not Found
 *   RETRY 1/3 after 0.9 s: http://host/y: HTTP 503 Service Unavailable
 *   CANCELLED http://host/z (partial file removed)
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

bool tty;

#define REDRAW 0.1 /* seconds between redraws */
#define WINDOW 20  /* redraws the rate is measured over (2 s) */

static _Thread_local asyncio_future_t *task; /* a shard's redraw or publish task */
/* Under run_lock: */
static bool drawn;
static double sample_t[WINDOW];
static uint64_t sample_b[WINDOW];
static size_t nsamples;

static void clear(void)
{
    if (drawn) {
        fputs("\r\033[K", stderr);
        drawn = false;
    }
}

static int columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

static void clock_text(double s, char *out, size_t cap)
{
    if (s < 0 || s > 359999) {
        snprintf(out, cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

/* The bytes per second over the last WINDOW redraws. */
static double rate(double t, uint64_t bytes)
{
    size_t i = nsamples % WINDOW;
    sample_t[i] = t;
    sample_b[i] = bytes;
    nsamples++;
    size_t oldest = nsamples > WINDOW ? nsamples % WINDOW : 0;
    double dt = t - sample_t[oldest];
    return dt > 0 ? (double)(bytes - sample_b[oldest]) / dt : 0;
}

/* Under run_lock. */
static void draw(void)
{
    totals_t tot;
    run_totals(&tot);
    double t = now(), elapsed = t - run_t0;
    double sized = tot.expect ? (double)tot.got / (double)tot.expect : 0;
    size_t finished = tot.ok + tot.failed;
    double frac = njobs ? ((double)finished + sized * (double)tot.sized) / (double)njobs : 1;
    if (frac > 1)
        frac = 1;
    char hb[32], hr[32], eta[64], fields[320];
    human_bytes(tot.bytes, hb, sizeof hb);
    human_bytes((uint64_t)rate(t, tot.bytes), hr, sizeof hr);
    if (tot.cancelled) /* only a stop cancels */
        snprintf(eta, sizeof eta, "stopped");
    else {
        memcpy(eta, "ETA ", 4);
        clock_text(frac > 0.001 && elapsed > 0.5 ? elapsed * (1 - frac) / frac : -1, eta + 4,
                   sizeof eta - 4);
    }
    int n = snprintf(fields, sizeof fields, "%3.0f%% %zu/%zu done  %s  %s/s  %s  %zu active",
                     frac * 100, finished, njobs, hb, hr, eta, tot.running);
    if (tot.failed && n < (int)sizeof fields)
        n += snprintf(fields + n, sizeof fields - (size_t)n, "  %zu failed", tot.failed);
    if (tot.cancelled && n < (int)sizeof fields)
        n += snprintf(fields + n, sizeof fields - (size_t)n, "  %zu cancelled", tot.cancelled);
    if (tot.delayed && n < (int)sizeof fields)
        snprintf(fields + n, sizeof fields - (size_t)n, "  %zu to retry", tot.delayed);

    /* The bar takes what the fields leave, 10 to 30 columns, or goes. */
    int width = columns() - 1, len = (int)strlen(fields);
    int bar = width - len - 3;
    if (bar > 30)
        bar = 30;
    char line[512];
    int k = 0;
    if (bar >= 10) {
        int full = (int)(frac * bar);
        line[k++] = '[';
        for (int i = 0; i < bar; i++)
            line[k++] = i < full ? '=' : i == full ? '>' : ' ';
        line[k++] = ']';
        line[k++] = ' ';
    }
    snprintf(line + k, sizeof line - (size_t)k, "%.*s", width - k > 0 ? width - k : 0, fields);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    drawn = true;
}

/* Shard 0 draws (arg non-NULL), the others only publish. */
static void *tick(void *arg)
{
    for (;;) {
        run_lock();
        run_publish();
        if (arg)
            draw();
        run_unlock();
        if (asyncio_sleep(REDRAW) < 0)
            return NULL; /* cancelled: the run is over */
    }
}

static bool bar_wanted(void)
{
    return tty && !cfg.no_progress;
}

static void stop_task(void)
{
    if (!task)
        return;
    asyncio_cancel(task, NULL);
    asyncio_await(task, NULL);
    errors_clear();
    asyncio_decref(task);
    task = NULL;
}

void progress_start(void)
{
    tty = isatty(STDERR_FILENO) && !cfg.quiet;
    if (bar_wanted() && !(task = asyncio_create_task(tick, "draw")))
        asyncio_error_clear(); /* no bar, then */
}

void progress_start_publishing(void)
{
    if (bar_wanted() && !(task = asyncio_create_task(tick, NULL)))
        asyncio_error_clear();
}

void progress_stop_publishing(void)
{
    stop_task();
}

void progress_stop(void)
{
    if (task) {
        stop_task();
        run_lock();
        run_publish();
        draw(); /* the final state stays on screen */
        fputc('\n', stderr);
        drawn = false;
        run_unlock();
    }
}

/* Text shown on the terminal comes from URLs, names and servers: a
 * control in it (C0, DEL, a C1 control U+0080-U+009F, or a byte that is
 * not UTF-8, which some terminals take for a C1) could move the cursor,
 * retitle the window or ring the bell.  Such characters are shown
 * escaped: \xHH for a byte, \uHHHH for a C1 control. */
static void put_escaped(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_len((const char *)p);
        if (n == 1 && *p >= 0x20 && *p != 0x7f)
            fputc(*p, stderr);
        else if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0)
            fprintf(stderr, "\\u%04x", p[1]);
        else if (n > 1)
            fwrite(p, 1, n, stderr);
        else
            fprintf(stderr, "\\x%02x", *p);
        p += n ? n : 1;
    }
}

void vsay_line(const char *fmt, va_list ap)
{
    char *text;
    if (vasprintf(&text, fmt, ap) < 0) {
        fputs("(out of memory)\n", stderr);
        return;
    }
    put_escaped(text);
    fputc('\n', stderr);
    free(text);
}

void say_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay_line(fmt, ap);
    va_end(ap);
}

void progress_line(const char *fmt, ...)
{
    if (cfg.quiet)
        return;
    run_lock();
    bool redraw_after = drawn;
    clear();
    va_list ap;
    va_start(ap, fmt);
    vsay_line(fmt, ap);
    va_end(ap);
    if (redraw_after)
        draw();
    run_unlock();
}

static const char *file_note(const job_t *j, const char *removal, char *buf, size_t cap)
{
    char shown[NAME_MAX_LEN * 2 + 4096];
    buf[0] = '\0';
    if (j->path && j->partial)
        snprintf(buf, cap, " (partial file kept: %s, %lld bytes)",
                 files_display(j->path, shown, sizeof shown), (long long)files_size((job_t *)j));
    else if (removal)
        snprintf(buf, cap, " (%s)", removal);
    return buf;
}

void progress_done(const job_t *j)
{
    if (cfg.quiet || tty)
        return;
    char shown[NAME_MAX_LEN * 2 + 4096], note[64] = "";
    if (j->resumed_from && j->size == (int64_t)j->resumed_from)
        snprintf(note, sizeof note, " (already complete)");
    else if (j->resumed_from)
        snprintf(note, sizeof note, " (resumed from byte %llu)",
                 (unsigned long long)j->resumed_from);
    else if (j->restarted)
        snprintf(note, sizeof note, " (resume refused: fetched whole)");
    run_lock();
    say_line("%ld %llu %.3f s %s%s%s%s", j->status, (unsigned long long)j->bytes,
            j->t1 - j->t0, j->url, j->path ? " -> " : "",
            j->path ? files_display(j->path, shown, sizeof shown) : "", note);
    run_unlock();
}

void progress_failed(const job_t *j, const char *removal)
{
    char note[NAME_MAX_LEN * 4 + 8400];
    file_note(j, removal, note, sizeof note);
    if (j->state == JOB_CANCELLED)
        progress_line("CANCELLED %s: %s%s", j->url, j->error ? j->error : "interrupted", note);
    else
        progress_line("FAIL %s %.3f s %s: %s%s", j->kind ? j->kind : "error", j->t1 - j->t0, j->url,
                      j->error ? j->error : "failed", note);
}

void progress_retry(const job_t *j, double delay)
{
    progress_line("RETRY %d/%ld after %.2f s: %s: %s", j->attempts, cfg.retries, delay, j->url,
                  j->error ? j->error : "failed");
}
