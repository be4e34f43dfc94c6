/*
 * One attempt at one URL.
 *
 * The body is read from a stream as it arrives and written to its file
 * chunk by chunk, so memory stays bounded whatever the size (the stream
 * pauses the transfer when the writer falls behind, and TCP holds the
 * server back).  The file is made only when the response's status is
 * good (2xx): a 404 or 503 page, or a redirect not followed, never lands
 * under the URL's name.
 *
 * Resuming.  When the job's file already holds the first bytes of the
 * body (left by an earlier attempt, or by an earlier run with -c), the
 * request asks for the rest: "Range: bytes=N-", with "If-Range: VALIDATOR"
 * when the ETag or Last-Modified of those bytes is known, and
 * "Accept-Encoding: identity" (a range counts the bytes of the stored
 * representation, not of a decoded one).  The answer decides:
 *   206 from byte N   the rest: appended; when its range ends before the
 *                     file (Content-Range "bytes N-M/T", M + 1 < T), the
 *                     rest again, else a partial transfer (retried)
 *   206 elsewhere     a range we did not ask for: asked again without Range
 *   200 (any 2xx)     the server ignored Range, or the resource changed
 *                     (If-Range): the body restarts from its first byte,
 *                     into a new file that replaces the old one only when
 *                     whole (a failure must not cost the bytes we had)
 *   416 of size N     (Content-Range "bytes", '*', then "/N"): the file was
 *                     complete already; another 416 asks again without Range
 * Within one run a retry resumes only bytes with a validator (the same
 * resource, proven by If-Range) and not decoded from a Content-Encoding;
 * with -c any partial file saved from the same URL is resumed (files.c).
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

_Thread_local asyncio_http_session_t *session;

/* Error bodies read to their end (so the connection is kept) up to this
 * size; a longer one costs its connection. */
#define DRAIN_MAX (64 * 1024)

/* curl refuses a request of more than 1 MiB (its line and headers). */
#define MAX_URL_LEN 1000000

/* The bytes of a kept partial file hashed between two turns of the loop. */
#define HASH_CHUNK (256 * 1024)

/* ------------------------------------------------------------ checksums */

struct digest {
    const EVP_MD *md;
    char name[16]; /* "sha256" */
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned len;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

digest_t *digest_parse(const char *spec, char *why, size_t cap)
{
    const char *eq = strchr(spec, '=');
    if (!eq) {
        snprintf(why, cap, "'%s' is not TYPE=HEX (such as sha256=9f86d081...)", spec);
        return NULL;
    }
    /* aria2c spells them "sha-256", OpenSSL "sha256". */
    char type[16];
    size_t n = 0;
    for (const char *p = spec; p < eq && n < sizeof type - 1; p++)
        if (*p != '-')
            type[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    type[n] = '\0';
    static const char *const known[] = {"md5", "sha1", "sha224", "sha256", "sha384", "sha512"};
    const EVP_MD *md = NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(type, known[i]))
            md = EVP_get_digestbyname(type);
    if (!md) {
        snprintf(why, cap, "unknown checksum type '%.*s' (sha256, sha512, sha1 or md5)",
                 (int)(eq - spec), spec);
        return NULL;
    }
    const char *hex = eq + 1;
    size_t size = (size_t)EVP_MD_size(md);
    if (strlen(hex) != 2 * size) {
        snprintf(why, cap, "a %s checksum has %zu hex digits, not %zu", type, 2 * size,
                 strlen(hex));
        return NULL;
    }
    digest_t *d = xcalloc(1, sizeof *d);
    d->md = md;
    snprintf(d->name, sizeof d->name, "%s", type);
    d->len = (unsigned)size;
    for (size_t i = 0; i < size; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(why, cap, "'%s' is not hexadecimal", hex);
            free(d);
            return NULL;
        }
        d->want[i] = (unsigned char)(hi << 4 | lo);
    }
    return d;
}

static void to_hex(const unsigned char *b, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* ------------------------------------------------------------ rate */

/* --limit-rate: one budget for all transfers of every shard.  rate_paid
 * is the time at which the bytes received so far are paid for; a transfer
 * that takes n bytes moves it on by n / rate and sleeps until then.  An
 * idle moment saves at most RATE_CREDIT seconds of credit for a burst.
 * (Loop time is the monotonic clock: the same in every thread.) */
#define RATE_CREDIT 0.05
static double rate_paid; /* under run_lock */

static int rate_wait(size_t n)
{
    double t = now();
    run_lock();
    if (rate_paid < t - RATE_CREDIT)
        rate_paid = t - RATE_CREDIT;
    rate_paid += (double)n / cfg.rate;
    double until = rate_paid;
    run_unlock();
    return until > t ? asyncio_sleep(until - t) : 0;
}

/* ------------------------------------------------------------ an attempt */

typedef struct xfer {
    job_t *j;
    bool create; /* the file is to be made with the first bytes */
    asyncio_http_stream_t *st;
    const asyncio_http_response_t *resp;
    int fd;          /* the output file, -1 */
    uint64_t offset; /* where this response's body starts in the file */
    uint64_t got;    /* body bytes of this response */
    int64_t expect;  /* bytes it announced (Content-Length), -1 */
    int64_t total;   /* the whole file's size, from a 206's Content-Range; -1 */
    bool restart;    /* the server ignored our Range: from byte 0 */
    double *delay;   /* the retry's delay, when there is one */
    EVP_MD_CTX *md;
    /* A body from byte 0 while the job's file holds earlier bytes goes to
     * a new file that replaces it only once whole: a failure leaves the
     * old bytes as they were, with their validators (given back). */
    bool temp;
    char tmp[NAME_MAX_LEN + 64]; /* its hidden name; '\0' while unnamed */
    char *old_etag, *old_modified;
    bool old_encoded;
} xfer_t;

static void set_error(job_t *j, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(job_t *j, const char *kind, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(j->error);
    j->error = xstrdup(msg[0] ? msg : kind); /* never an empty message */
    j->kind = report_kind(kind);
}

/* Adds " (NOTE)" to the job's error. */
static void add_note(job_t *j, const char *note)
{
    char *msg = xmalloc(strlen(j->error) + strlen(note) + 4);
    sprintf(msg, "%s (%s)", j->error, note);
    free(j->error);
    j->error = msg;
}

static void end_stream(xfer_t *x)
{
    if (x->st) {
        asyncio_http_stream_close(x->st);
        x->st = NULL;
        x->resp = NULL;
    }
    if (x->expect > 0) { /* the bar's ETA counts it no more */
        tot.sized--;
        tot.expect -= (uint64_t)x->expect;
        tot.got -= x->got < (uint64_t)x->expect ? x->got : (uint64_t)x->expect;
        x->expect = -1;
    }
}

/* The validators of the bytes the job's file held before this response:
 * back on the job (their bytes stay, the replacement failed), or freed. */
static void old_validators(xfer_t *x, bool restore)
{
    job_t *j = x->j;
    if (restore) {
        free(j->etag);
        free(j->modified);
        j->etag = x->old_etag;
        j->modified = x->old_modified;
        j->encoded = x->old_encoded;
    } else {
        free(x->old_etag);
        free(x->old_modified);
    }
    x->old_etag = x->old_modified = NULL;
}

static void end(xfer_t *x)
{
    end_stream(x);
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    if (x->temp && x->tmp[0]) /* the replacement never took the old file's place */
        files_unlink_path(x->tmp);
    old_validators(x, x->temp);
    x->temp = false;
    if (x->md)
        EVP_MD_CTX_free(x->md);
    x->md = NULL;
}

/* A failure that may be retried: ATTEMPT_RETRY with its delay, or, when
 * the job has no retry left, ATTEMPT_FAILED with the reason added. */
static attempt_t failed(xfer_t *x, bool retryable, double retry_after)
{
    job_t *j = x->j;
    end(x);
    if (!retryable || cfg.retries == 0)
        return ATTEMPT_FAILED;
    char why[256];
    double d = retry_delay(j, retry_after, now(), why, sizeof why);
    if (d >= 0) {
        *x->delay = d;
        return ATTEMPT_RETRY;
    }
    add_note(j, why);
    return ATTEMPT_FAILED;
}

/* The raised error ended the attempt: cancelled (Ctrl-C), or a transport
 * failure (curl's words), a timeout, a bad URL. */
static attempt_t raised(xfer_t *x)
{
    const asyncio_error_t *e = asyncio_error();
    if (e && e->code == ASYNCIO_ECANCELLED) {
        asyncio_error_clear();
        end(x);
        free(x->j->error);
        x->j->error = xstrdup("interrupted");
        x->j->kind = NULL;
        return ATTEMPT_CANCELLED;
    }
    bool retryable;
    const char *kind = report_error_kind(e, &retryable);
    const char *msg = e && e->message[0] ? e->message : kind;
    size_t n = strlen(x->j->url);
    if (!strncmp(msg, x->j->url, n) && !strncmp(msg + n, " - ", 3))
        msg += n + 3; /* "URL - why": the line names the URL already */
    if (e && e->code == ASYNCIO_EHTTP && e->detail == CURLE_OUT_OF_MEMORY) {
        /* What curl says when a header line passes its limit (or a
         * request its own): its "Out of memory" would mislead. */
        kind = report_kind("response header too long");
        msg = "a response header is too long (curl takes at most 100 KiB), or memory ran out";
    }
    set_error(x->j, kind, "%s", msg);
    errors_clear();
    return failed(x, retryable, -1);
}

/* A file error: named with the file and the system's words.  A full disk
 * stops new transfers: they would all fail the same way. */
static attempt_t file_error(xfer_t *x, const char *doing, int err)
{
    job_t *j = x->j;
    char shown[NAME_MAX_LEN * 2 + 4096];
    const char *words = strerrordesc_np(err) ? strerrordesc_np(err) : "unknown error";
    set_error(j, words, "cannot %s %s: %s", doing, files_display(j->name, shown, sizeof shown),
              words);
    if (err == ENOSPC || err == EDQUOT)
        run_stop_starting("the disk is full");
    end(x);
    return ATTEMPT_FAILED;
}

/* A failed read of an error body: false, the failure dropped (the
 * status said what went wrong), or true for a cancellation, left raised. */
static bool read_failed(void)
{
    if (asyncio_error_matches("CancelledError"))
        return true;
    errors_clear();
    return false;
}

/* Reads what is left of the body and drops it, so that the connection can
 * serve another request; gives up beyond DRAIN_MAX (the close then costs
 * the connection).  True when cancelled meanwhile. */
static bool drain(xfer_t *x)
{
    size_t total = 0;
    const void *data;
    size_t len;
    while (total < DRAIN_MAX) {
        if (asyncio_http_stream_read_chunk(x->st, &data, &len) < 0)
            return read_failed();
        if (len == 0)
            return false;
        total += len;
    }
    return false;
}

/* Saves an error body as NAME.error (--content-on-error).  True when
 * cancelled meanwhile. */
static bool save_error_body(xfer_t *x)
{
    job_t *j = x->j;
    char shown[NAME_MAX_LEN * 2 + 4096];
    const char *path;
    int fd = files_create_error(j, &path);
    if (fd < 0)
        return drain(x);
    bool ok = true, cancelled = false;
    const void *data;
    size_t len;
    for (;;) {
        if (asyncio_http_stream_read_chunk(x->st, &data, &len) < 0) {
            cancelled = read_failed();
            ok = false;
            break;
        }
        if (len == 0)
            break;
        if (files_write(fd, data, len) != 0) {
            ok = false;
            break;
        }
    }
    if (close(fd) != 0)
        ok = false;
    if (!ok) {
        files_unlink_path(path);
        return cancelled;
    }
    char note[sizeof shown + 32];
    snprintf(note, sizeof note, "body saved as %s", files_display(path, shown, sizeof shown));
    add_note(j, note);
    return false;
}

/* A response with an error status (>= 400): never saved under the URL's
 * name; retried when it says so (408, 429, 5xx). */
static attempt_t http_error(xfer_t *x)
{
    job_t *j = x->j;
    long status = x->resp->status;
    const char *reason = report_reason(status);
    set_error(j, "HTTP status >= 400", "HTTP %ld%s%s", status, *reason ? " " : "", reason);
    bool again = retry_status(status);
    double after = retry_after_parse(asyncio_http_response_header(x->resp, "Retry-After"));
    char why[256];
    double d = again && cfg.retries ? retry_delay(j, after, now(), why, sizeof why) : -1;
    if (d >= 0) {
        if (why[0]) /* the server's wait was cut: the RETRY line says so */
            add_note(j, why);
        if (drain(x))
            return raised(x);
        end(x);
        *x->delay = d;
        return ATTEMPT_RETRY;
    }
    if (cfg.content_on_error && cfg.outdir ? save_error_body(x) : drain(x))
        return raised(x);
    end(x);
    if (again && cfg.retries)
        add_note(j, why);
    return ATTEMPT_FAILED;
}

/* A final 3xx (not followed: no -L, or --max-redirs 0; or one without a
 * Location): its body is not the resource, so it is never saved under the
 * URL's name, nor in place of a partial file. */
static attempt_t redirected(xfer_t *x)
{
    job_t *j = x->j;
    long status = x->resp->status;
    const char *to = asyncio_http_response_header(x->resp, "Location");
    const char *kind = "redirect not followed";
    if (to && *to && !cfg.follow)
        set_error(j, kind, "redirected to %s; use -L to follow", to);
    else if (to && *to)
        set_error(j, kind, "redirected to %s; not followed (--max-redirs %ld)", to, cfg.max_redirs);
    else
        set_error(j, kind, "HTTP %ld%s%s, without a Location to follow", status,
                  *report_reason(status) ? " " : "", report_reason(status));
    if (drain(x))
        return raised(x);
    end(x);
    return ATTEMPT_FAILED;
}

/* "bytes A-B/T" or "bytes * /T" (without the space): A and B, or -1 for
 * '*'; T, or -1 for '*'.  False when it is neither. */
static bool content_range(const char *v, int64_t *first, int64_t *last, int64_t *total)
{
    *first = *last = *total = -1;
    if (!v || strncasecmp(v, "bytes", 5) != 0)
        return false;
    const char *p = v + 5;
    while (*p == ' ')
        p++;
    char *end;
    if (*p == '*') {
        p++;
    } else {
        *first = strtoll(p, &end, 10);
        if (end == p || *end != '-')
            return false;
        p = end + 1;
        *last = strtoll(p, &end, 10);
        if (end == p || *last < *first)
            return false;
        p = end;
    }
    if (*p != '/')
        return false;
    if (p[1] == '*')
        return true;
    *total = strtoll(p + 1, &end, 10);
    return end != p + 1 && (*last < 0 || *last < *total);
}

static bool strong_etag(const char *e)
{
    return e && e[0] == '"';
}

/* Whether the bytes in the job's file may be continued. */
static bool resumable(const job_t *j)
{
    return j->partial && !j->encoded && (cfg.resume || strong_etag(j->etag) || j->modified);
}

/* The checksum's context, and the first x->offset bytes of the job's file
 * in it (those a resume keeps).  The file is read a chunk at a time into
 * a buffer on the heap (not on the task's stack), the loop running the
 * other transfers between chunks: a partial file may be gigabytes. */
static attempt_t digest_kept(xfer_t *x)
{
    if (!(x->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(x->md, x->j->digest->md, NULL))
        fatal("out of memory");
    uint64_t n = x->offset;
    if (n == 0)
        return ATTEMPT_OK;
    int fd = files_open_read(x->j);
    if (fd < 0)
        return file_error(x, "read", errno);
    size_t cap = HASH_CHUNK;
    char *buf = xmalloc(cap);
    int err = 0;
    bool cancelled = false;
    while (n && !err && !cancelled) {
        ssize_t r = read(fd, buf, n < cap ? n : cap);
        if (r <= 0)
            err = r < 0 ? errno : EIO;
        else if (!EVP_DigestUpdate(x->md, buf, (size_t)r))
            fatal("out of memory");
        else
            n -= (uint64_t)r;
        cancelled = !err && n && asyncio_sleep(0) < 0;
    }
    free(buf);
    close(fd);
    if (cancelled)
        return raised(x);
    return err ? file_error(x, "read", err) : ATTEMPT_OK;
}

/* The validators and encoding of the body being saved. */
static void note_validators(xfer_t *x)
{
    job_t *j = x->j;
    const char *etag = asyncio_http_response_header(x->resp, "ETag");
    const char *mod = asyncio_http_response_header(x->resp, "Last-Modified");
    const char *enc = asyncio_http_response_header(x->resp, "Content-Encoding");
    if (x->offset == 0 || x->restart) { /* kept until the file's bytes are replaced */
        x->old_etag = j->etag;
        x->old_modified = j->modified;
        j->etag = etag && *etag ? xstrdup(etag) : NULL;
        j->modified = mod && *mod ? xstrdup(mod) : NULL;
    }
    x->old_encoded = j->encoded;
    j->encoded = enc && *enc && strcasecmp(enc, "identity") != 0;
}

/* What a later run needs to know of the file being written: its URL
 * always (-c continues only a file saved from the same URL), and with -c
 * the validators of its bytes. */
static void label(xfer_t *x)
{
    if (cfg.resume)
        files_save_validators(x->fd, x->j);
    else
        files_save_url(x->fd, x->j);
}

/* The response is good (2xx): where its body goes. */
static attempt_t open_output(xfer_t *x)
{
    job_t *j = x->j;
    if (x->offset > 0 && !x->restart) {
        j->resumed_from = x->offset;
    } else {
        j->restarted |= x->restart;
        x->offset = 0;
        j->resumed_from = 0;
    }
    if (!cfg.outdir)
        return ATTEMPT_OK;
    if (j->path) {
        x->fd = files_reopen(j);
        if (x->fd < 0 && errno == ENOENT) { /* removed meanwhile */
            j->path = NULL;
            j->partial = false;
            x->offset = 0;
            j->resumed_from = 0;
        } else if (x->fd < 0) {
            return file_error(x, "open", errno);
        }
    }
    if (x->fd < 0) { /* a new file: made when the first bytes come */
        x->create = true;
        return ATTEMPT_OK;
    }
    /* An earlier attempt's file: continued, or replaced once the new body
     * is whole (until then a failure must leave its bytes as they were). */
    if (x->offset == 0 && j->partial) {
        close(x->fd);
        x->fd = files_create_temp(j, x->tmp, sizeof x->tmp);
        if (x->fd < 0)
            return file_error(x, "create a file next to", errno);
        x->temp = true;
    } else {
        old_validators(x, false);
        if ((x->offset == 0 && ftruncate(x->fd, 0) != 0) ||
            lseek(x->fd, (off_t)x->offset, SEEK_SET) < 0)
            return file_error(x, "write", errno);
        j->partial = x->offset > 0;
    }
    label(x);
    return ATTEMPT_OK;
}

/* Makes the new file (its reserved name, else the next free one). */
static attempt_t create_now(xfer_t *x)
{
    x->create = false;
    if ((x->fd = files_create(x->j)) < 0)
        return file_error(x, "create", errno);
    label(x);
    return ATTEMPT_OK;
}

/* The body, chunk by chunk, to its file. */
static attempt_t body(xfer_t *x)
{
    job_t *j = x->j;
    const void *data;
    size_t len;
    for (;;) {
        if (asyncio_http_stream_read_chunk(x->st, &data, &len) < 0)
            return raised(x);
        if (len == 0)
            return x->create ? create_now(x) : ATTEMPT_OK; /* an empty body: an empty file */
        if (x->create) {
            attempt_t r = create_now(x);
            if (r != ATTEMPT_OK)
                return r;
        }
        if (x->fd >= 0) {
            if (files_write(x->fd, data, len) != 0)
                return file_error(x, "write", errno);
            j->partial = true;
        }
        if (x->md)
            EVP_DigestUpdate(x->md, data, len);
        if (x->expect > 0) { /* what the bar's ETA counts: at most the announced size */
            uint64_t cap = (uint64_t)x->expect;
            tot.got += (x->got + len < cap ? x->got + len : cap) - (x->got < cap ? x->got : cap);
        }
        x->got += len;
        j->bytes += len;
        tot.bytes += len;
        if (cfg.rate > 0 && rate_wait(len) < 0)
            return raised(x);
    }
}

/* The checksum of a complete body. */
static attempt_t check_digest(xfer_t *x)
{
    job_t *j = x->j;
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_DigestFinal_ex(x->md, got, &n)) {
        set_error(j, "checksum failed", "cannot compute the %s of the body", j->digest->name);
        end(x);
        return ATTEMPT_FAILED;
    }
    if (n == j->digest->len && !memcmp(got, j->digest->want, n))
        return ATTEMPT_OK;
    char have[2 * EVP_MAX_MD_SIZE + 1], want[2 * EVP_MAX_MD_SIZE + 1];
    to_hex(got, n, have);
    to_hex(j->digest->want, j->digest->len, want);
    set_error(j, "checksum mismatch", "%s of the body is %s, expected %s", j->digest->name, have,
              want);
    j->partial = false; /* wrong bytes: never to be resumed */
    end(x);
    return ATTEMPT_FAILED;
}

/* Whether the response's validator, when both it and ours are known,
 * is ours (a server that checks no If-Range answers 416 for any file). */
static bool same_validator(const char *ours, const char *theirs)
{
    return !ours || !theirs || !*theirs || !strcmp(ours, theirs);
}

/* A 416 to our Range: the file is complete when the server says its size
 * is what we have and its validators are those of our bytes; otherwise
 * the range is asked again from byte 0. */
static bool already_complete(xfer_t *x)
{
    int64_t first, last, total;
    const char *cr = asyncio_http_response_header(x->resp, "Content-Range");
    const job_t *j = x->j;
    return content_range(cr, &first, &last, &total) && total >= 0 && (uint64_t)total == x->offset &&
           same_validator(j->etag, asyncio_http_response_header(x->resp, "ETag")) &&
           same_validator(j->modified, asyncio_http_response_header(x->resp, "Last-Modified"));
}

/* What an attempt does after a request. */
typedef enum {
    NEXT_NONE,  /* nothing: the request's result is the attempt's */
    NEXT_WHOLE, /* the answer to its Range was not one to use: ask again
                 * without Range (it is not a retry) */
    NEXT_REST,  /* a 206 ended before the file does: a Range for the rest */
} next_t;

/* At most this many Ranges for the rest in one attempt (a server that
 * sends a little each time costs a retry, then). */
#define MAX_RANGES 100

/* A 206 whose range ended before the file: the bytes are kept, and the
 * attempt asks for the rest when this one brought some; otherwise it is a
 * partial transfer, which may be retried. */
static attempt_t short_range(xfer_t *x, next_t *next)
{
    job_t *j = x->j;
    uint64_t have = x->offset + x->got;
    set_error(j, "partial file", "the server sent bytes %" PRIu64 "-%" PRIu64 " of %" PRId64
              ": the file is incomplete", x->offset, have ? have - 1 : 0, x->total);
    if (x->fd >= 0) {
        int fd = x->fd;
        x->fd = -1;
        if (close(fd) != 0)
            return file_error(x, "write", errno);
    }
    if (x->got > 0 && have < (uint64_t)x->total)
        *next = NEXT_REST;
    return failed(x, true, -1);
}

/* One request, and what the attempt does next. */
static attempt_t once(job_t *j, double *delay, bool use_range, next_t *next)
{
    xfer_t x = {.j = j, .fd = -1, .expect = -1, .total = -1, .delay = delay};
    *next = NEXT_NONE;
    if (use_range && resumable(j)) {
        int64_t have = files_size(j);
        if (have < 0) {
            j->path = NULL;
            j->partial = false;
        } else {
            x.offset = (uint64_t)have;
        }
    }

    /* The request. */
    char range[64], if_range[1100];
    const char *headers[4];
    size_t nh = 0;
    if (x.offset > 0) {
        snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-", x.offset);
        headers[nh++] = range;
        const char *v = strong_etag(j->etag) ? j->etag : j->modified;
        if (v) {
            snprintf(if_range, sizeof if_range, "If-Range: %s", v);
            headers[nh++] = if_range;
        }
    }
    if (x.offset > 0 || cfg.resume)
        headers[nh++] = "Accept-Encoding: identity";
    headers[nh] = NULL;
    asyncio_http_request_t req = {.url = j->url, .headers = nh ? headers : NULL};
    if (asyncio_http_stream_open(session, &req, &x.st) < 0)
        return raised(&x);
    x.resp = asyncio_http_stream_response(x.st);
    long status = x.resp->status;
    j->status = status;

    /* The answer to a Range. */
    if (x.offset > 0) {
        int64_t first, last;
        if (status == 416 && already_complete(&x)) {
            end_stream(&x);
            j->resumed_from = x.offset;
            j->size = (int64_t)x.offset;
            attempt_t r;
            if (j->digest &&
                ((r = digest_kept(&x)) != ATTEMPT_OK || (r = check_digest(&x)) != ATTEMPT_OK))
                return r;
            end(&x);
            j->partial = false;
            return ATTEMPT_OK;
        }
        if (status == 416 ||
            (status == 206 && (!content_range(asyncio_http_response_header(x.resp, "Content-Range"),
                                              &first, &last, &x.total) ||
                               first != (int64_t)x.offset))) {
            end(&x);
            j->restarted = true;
            *next = NEXT_WHOLE;
            return ATTEMPT_FAILED;
        }
        if (status >= 200 && status < 300 && status != 206)
            x.restart = true; /* Range ignored, or If-Range refused it */
    }
    if (status >= 400)
        return http_error(&x);
    if (status >= 300)
        return redirected(&x);

    const char *cl = asyncio_http_response_header(x.resp, "Content-Length");
    if (cl) {
        char *e;
        long long n = strtoll(cl, &e, 10);
        if (e != cl && n > 0) {
            x.expect = n;
            tot.sized++;
            tot.expect += (uint64_t)n;
        }
    }
    note_validators(&x);
    attempt_t r = open_output(&x);
    if (r != ATTEMPT_OK)
        return r;
    if (j->digest && (r = digest_kept(&x)) != ATTEMPT_OK)
        return r;
    if ((r = body(&x)) != ATTEMPT_OK)
        return r;
    end_stream(&x);
    if (x.total >= 0 && x.offset + x.got != (uint64_t)x.total)
        return short_range(&x, next);
    if (x.md && (r = check_digest(&x)) != ATTEMPT_OK)
        return r;
    if (x.fd >= 0) {
        int fd = x.fd;
        x.fd = -1;
        if (x.temp ? files_replace(j, fd, x.tmp, sizeof x.tmp) != 0 : close(fd) != 0)
            return file_error(&x, "write", errno);
        old_validators(&x, false); /* the old bytes are gone */
        x.temp = false;
    }
    end(&x);
    j->size = cfg.outdir ? (int64_t)(x.offset + x.got) : -1;
    j->partial = false;
    return ATTEMPT_OK;
}

attempt_t transfer_attempt(job_t *j, double *delay)
{
    *delay = -1;
    j->attempts++;
    if (strlen(j->url) > MAX_URL_LEN) { /* curl builds no request from it */
        set_error(j, "URL too long", "the URL is too long (%zu bytes; at most %d)", strlen(j->url),
                  MAX_URL_LEN);
        return ATTEMPT_FAILED;
    }
    if (j->attempts == 1 && cfg.resume && cfg.outdir)
        files_adopt(j);
    bool use_range = true;
    attempt_t r;
    next_t next;
    for (int ranges = 0;; ranges++) {
        r = once(j, delay, use_range, &next);
        if (next == NEXT_WHOLE && use_range)
            use_range = false;
        else if (next != NEXT_REST || ranges == MAX_RANGES)
            return r;
    }
}
