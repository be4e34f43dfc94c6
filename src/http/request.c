/*
 * HTTP requests and responses: a transfer is configured from an
 * asyncio_http_request_t, started in its session's multi handle, and the
 * task waits for it on a private future; curl's callbacks collect the
 * header block and the body.  session.get / session.request / response.*
 * of aiohttp.
 */
#include "http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bodies announced by Content-Length up to this size get their buffer at
 * once; larger ones grow as they come (a lying header costs nothing). */
#define PREALLOC_MAX (64u << 20)

/* A response and everything it points to but the body, in one block. */
typedef struct response_impl {
    asyncio_http_response_t pub;
    uint32_t magic;
    size_t body_cap; /* the body's buffer, for the body cache */
} response_impl_t;

/* ------------------------------------------------------------ body cache */

/* Large bodies come and go at the request rate; through malloc, each one
 * freed near the top of the heap lets glibc give the memory back to the
 * kernel and the next one takes it again, page fault by page fault (a
 * third of the CPU for 100 KiB bodies).  So the buffers of freed
 * responses are kept, per loop (on its thread), for the next bodies: large
 * ones only (malloc's own bins recycle small blocks well), as many as 64
 * transfers in flight free at once (CACHE_SLOTS) within CACHE_BYTES, and
 * freed with the loop.  (With 16 slots, 48 of 64 bodies of 100 KiB went
 * back to malloc at every turn: 1.5 page faults per request.) */
#define CACHE_SLOTS 128
#define CACHE_BYTES (16u << 20)
#define CACHE_MIN_BUF (16u << 10)
#define CACHE_MAX_BUF (1u << 20)

typedef struct asyncio__body_cache {
    asyncio_loop_t *loop;
    asyncio__closer_t closer; /* on loop->closers */
    size_t n, bytes;
    char *buf[CACHE_SLOTS];
    size_t cap[CACHE_SLOTS];
} body_cache_t;

static void cache_closed(asyncio__closer_t *c)
{
    body_cache_t *bc = asyncio__container_of(c, body_cache_t, closer);
    asyncio__list_remove(&c->link);
    while (bc->n)
        asyncio__free(bc->buf[--bc->n]);
    bc->loop->http_bodies = NULL;
    asyncio__free(bc);
}

/* Takes slot i out of the cache. */
static char *cache_remove(body_cache_t *bc, size_t i)
{
    char *p = bc->buf[i];
    bc->bytes -= bc->cap[i];
    bc->n--;
    bc->buf[i] = bc->buf[bc->n];
    bc->cap[i] = bc->cap[bc->n];
    return p;
}

/* A cached buffer of at least need bytes and not more than twice that
 * (need 0: any), with its capacity in *cap; NULL when none fits. */
static char *cache_take(asyncio_loop_t *loop, size_t need, size_t *cap)
{
    body_cache_t *bc = loop->http_bodies;
    if (!bc)
        return NULL;
    for (size_t i = bc->n; i-- > 0;) {
        if (bc->cap[i] < need || (need && bc->cap[i] / 2 > need))
            continue;
        *cap = bc->cap[i];
        return cache_remove(bc, i);
    }
    return NULL;
}

/* Keeps a body's buffer for reuse when called on the thread of a running
 * loop (made on first use) and the buffer is worth it; frees it
 * otherwise. */
static void cache_give(char *p, size_t cap)
{
    asyncio_loop_t *loop = asyncio__tls.running;
    body_cache_t *bc = loop ? loop->http_bodies : NULL;
    if (!p || !loop || cap < CACHE_MIN_BUF || cap > CACHE_MAX_BUF) {
        asyncio__free(p);
        return;
    }
    if (!bc) {
        if (!(bc = asyncio__calloc(1, sizeof *bc))) {
            asyncio__free(p);
            return;
        }
        bc->loop = loop;
        bc->closer.close = cache_closed;
        asyncio__list_insert(&loop->closers, &bc->closer.link);
        loop->http_bodies = bc;
    }
    while (bc->n == CACHE_SLOTS || bc->bytes + cap > CACHE_BYTES) { /* the smallest go */
        size_t k = 0;
        for (size_t i = 1; i < bc->n; i++)
            k = bc->cap[i] < bc->cap[k] ? i : k;
        if (bc->cap[k] >= cap) {
            asyncio__free(p);
            return;
        }
        asyncio__free(cache_remove(bc, k));
    }
    bc->buf[bc->n] = p;
    bc->cap[bc->n++] = cap;
    bc->bytes += cap;
}

#define RESPONSE_MAGIC 0x477E5E5Bu
#define PINNED_MAGIC 0x477E5E5Cu /* a stream's */

/* ------------------------------------------------------------ callbacks */

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *p = asyncio__realloc(*buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Writes a piece of the body to output_file: len, or 0 (curl then fails
 * the transfer with CURLE_WRITE_ERROR) with errno kept in write_errno, so
 * that the OSError raised names the real cause. */
static size_t write_file(asyncio__http_xfer_t *x, const char *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(x->out_fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            x->write_errno = errno;
            return 0;
        }
        off += (size_t)w;
    }
    x->body_len += len;
    return len;
}

/* The body's first buffer, before its first piece (len bytes) is stored:
 * sized once from Content-Length (exactly: rounding 100 KiB up to 128 KiB
 * would cross malloc's mmap threshold), a cached one if one fits.  With
 * no length known and nothing cached, the body grows as it comes. */
static int first_buffer(asyncio__http_xfer_t *x, size_t len)
{
    curl_off_t cl = -1;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    size_t want = cl > 0 && (uint64_t)cl < PREALLOC_MAX && (size_t)cl >= len ? (size_t)cl + 1 : 0;
    if (!x->session)
        return 0;
    if ((x->body = cache_take(x->session->loop, want, &x->body_cap)) || !want)
        return 0;
    if (!(x->body = asyncio__malloc(want)))
        return ASYNCIO_ENOMEM;
    x->body_cap = want;
    return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
    asyncio__http_xfer_t *x = ud;
    size_t len = size * n;
    if (x->stream)
        return asyncio__http_stream_write(x, p, len);
    if (x->discard) {
        x->body_len += len;
        return len;
    }
    if (x->out_fd >= 0)
        return write_file(x, p, len);
    if ((!x->body_cap && first_buffer(x, len)) ||
        grow(&x->body, &x->body_cap, x->body_len + len + 1)) {
        x->nomem = true;
        return 0;
    }
    memcpy(x->body + x->body_len, p, len);
    x->body_len += len;
    return len;
}

/* Is the header block just ended the final response's (not a 1xx, not a
 * redirect curl is about to follow)?  Streams open when it is. */
static bool final_block(asyncio__http_xfer_t *x)
{
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200)
        return false;
    if (code >= 300 && code < 400 && x->follow_redirects) {
        /* curl follows when the block had a Location (it has not said
         * where to yet at this point). */
        for (const char *p = x->hdr; (p = strchr(p, '\n'));)
            if (strncasecmp(++p, "location:", 9) == 0)
                return false;
    }
    return true;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
    asyncio__http_xfer_t *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        x->hdr_len = 0; /* a new response (after a 1xx or a redirect) */
    if (grow(&x->hdr, &x->hdr_cap, x->hdr_len + len + 1)) {
        x->nomem = true;
        return 0;
    }
    memcpy(x->hdr + x->hdr_len, p, len);
    x->hdr_len += len;
    x->hdr[x->hdr_len] = '\0';
    if ((len == 2 && p[0] == '\r') || (len == 1 && p[0] == '\n')) {
        if (x->stream && !x->headers_done && final_block(x)) {
            x->headers_done = true;
            asyncio__http_xfer_wake(x);
        }
    }
    return len;
}

/* Upload callbacks running on this thread (a call's scope: curl calls
 * them on the loop's thread, inside the transfer machinery). */
static _Thread_local int in_body_fn;

bool asyncio__http_in_callback(void)
{
    if (!in_body_fn)
        return false;
    asyncio__raise_code(ASYNCIO_ERUNTIME,
                        "the HTTP API cannot be called from an upload callback (body_fn)");
    return true;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    asyncio__http_xfer_t *x = ud;
    size_t cap = size * n;
    if (x->up_fd >= 0) {
        ssize_t r;
        do
            r = read(x->up_fd, buf, cap);
        while (r < 0 && errno == EINTR);
        return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
    }
    in_body_fn++;
    long r = x->body_fn(x->body_arg, buf, cap);
    in_body_fn--;
    if (r < 0 || (size_t)r > cap)
        return CURL_READFUNC_ABORT;
    return (size_t)r;
}

/* Redirects (307/308) and authentication resend the body from the start. */
static int seek_cb(void *ud, curl_off_t offset, int origin)
{
    asyncio__http_xfer_t *x = ud;
    if (x->up_fd < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    return lseek(x->up_fd, (off_t)offset, origin) < 0 ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------ setup */

static bool is_http_url(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static bool valid_header(const char *h)
{
    const char *colon = strchr(h, ':');
    return colon && colon != h && !strpbrk(h, "\r\n");
}

int asyncio__http_check_headers(const char *const *headers)
{
    for (const char *const *h = headers; h && *h; h++)
        if (!valid_header(*h))
            return asyncio__raise_code(ASYNCIO_EVALUE,
                                       "header '%s' is not 'Name: value' on one line", *h);
    return 0;
}

static bool valid_method(const char *m)
{
    for (; *m; m++)
        if (*m <= ' ' || *m >= 127)
            return false;
    return true;
}

/* Does the request set (or remove) a header called name (len bytes)? */
static bool overridden(const char *const *headers, const char *name, size_t len)
{
    for (const char *const *h = headers; h && *h; h++)
        if (strncasecmp(*h, name, len) == 0 && (*h)[len] == ':')
            return true;
    return false;
}

/* aiohttp's InvalidURL (a ValueError) for url, in the form aiohttp gives
 * its message ("URL - why"). */
static int invalid_url(const char *url, const char *why)
{
    asyncio_raise("InvalidURL", "%s - %s", url, why);
    return ASYNCIO_EVALUE;
}

static int check_request(const asyncio_http_request_t *r, bool stream)
{
    if (!r)
        return asyncio__raise_code(ASYNCIO_EVALUE, "req is NULL");
    if (!r->url)
        return asyncio__raise_code(ASYNCIO_EVALUE, "url is NULL");
    if (!*r->url) {
        asyncio_raise("InvalidURL", "url is empty");
        return ASYNCIO_EVALUE;
    }
    if (!is_http_url(r->url))
        return invalid_url(r->url, "unsupported URL scheme (http:// or https:// only)");
    if (r->method && !*r->method)
        return asyncio__raise_code(ASYNCIO_EVALUE, "method is empty");
    if (r->method && !valid_method(r->method))
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "method cannot contain non-token characters '%s'", r->method);
    if (!r->body && r->body_len)
        return asyncio__raise_code(ASYNCIO_EVALUE, "body is NULL but body_len is %zu", r->body_len);
    if ((r->body != NULL) + (r->body_fn != NULL) + (r->body_file != NULL) > 1)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "only one of body, body_fn and body_file may be given");
    if (isnan(r->timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, "timeout must not be NaN");
    if (r->timeout < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "timeout must be >= 0");
    if (r->discard_body && r->output_file)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "discard_body and output_file cannot be used together");
    if (stream && (r->discard_body || r->output_file))
        return asyncio__raise_code(ASYNCIO_EVALUE, "a stream gives its body to the reader "
                                                   "(no discard_body or output_file)");
    return asyncio__http_check_headers(r->headers);
}

/* A malformed URL is the caller's mistake (InvalidURL, a ValueError, as
 * in aiohttp), not a transfer failure: parse it before starting, into the
 * transfer's URL handle, which curl then uses as it is (no second parse).
 * curl's parser reads "http:///path" as the host "path": an empty
 * authority is refused here first. */
static int parse_url(asyncio__http_xfer_t *x, const char *url)
{
    const char *auth = strstr(url, "://") + 3; /* check_request saw the scheme */
    CURLUcode uc = strchr("/?#", *auth) ? CURLUE_NO_HOST : CURLUE_OK;
    if (!uc && !x->url && !(x->url = curl_url()))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP transfer");
    if (!uc)
        uc = curl_url_set(x->url, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OUT_OF_MEMORY)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP transfer");
    if (uc)
        return invalid_url(url, curl_url_strerror(uc));
    return 0;
}

/* OSError for a file that open() refused, as Python's open() words it
 * ("[Errno 2] No such file or directory: '/x'"). */
static int open_fail(const char *path)
{
    int err = -errno;
    asyncio_raise_uv(err, "'%s'", path);
    return err;
}

/* The header list of this request: the session's own when the request
 * adds nothing, else a list of its own (defaults it does not override
 * first). */
static int build_headers(asyncio__http_xfer_t *x, const asyncio_http_request_t *r, bool has_body,
                         bool chunked, struct curl_slist **out)
{
    asyncio__http_session_t *s = x->session;
    if (!r->headers && !chunked) {
        *out = has_body ? s->headers_body : s->headers;
        return 0;
    }
    struct curl_slist *l = NULL, *n;
    for (struct curl_slist *d = s->headers; d; d = d->next) {
        size_t len = (size_t)(strchr(d->data, ':') - d->data);
        if (overridden(r->headers, d->data, len))
            continue;
        if (!(n = curl_slist_append(l, d->data)))
            goto nomem;
        l = n;
    }
    if (has_body && !overridden(r->headers, "Expect", 6)) {
        if (!(n = curl_slist_append(l, "Expect:")))
            goto nomem;
        l = n;
    }
    /* HTTP/1.1 sends a body of unknown size chunked (curl wants to be told). */
    if (chunked && !(n = curl_slist_append(l, "Transfer-Encoding: chunked")))
        goto nomem;
    l = chunked ? n : l;
    for (const char *const *h = r->headers; h && *h; h++) {
        if (!(n = curl_slist_append(l, *h)))
            goto nomem;
        l = n;
    }
    x->own_headers = l;
    *out = l;
    return 0;
nomem:
    curl_slist_free_all(l);
    return ASYNCIO_ENOMEM;
}

/* Where the request body comes from, besides memory: body_file, opened
 * (its size read when it is a regular file), or body_fn.  *size is -1
 * when the size is not known (HTTP/1.1 then sends the body chunked). */
static int open_body(asyncio__http_xfer_t *x, const asyncio_http_request_t *r, curl_off_t *size)
{
    *size = -1;
    if (r->body_file) {
        if ((x->up_fd = open(r->body_file, O_RDONLY | O_CLOEXEC)) < 0)
            return open_fail(r->body_file);
        struct stat st;
        if (fstat(x->up_fd, &st) == 0 && S_ISREG(st.st_mode))
            *size = (curl_off_t)st.st_size;
    } else if (r->body_fn) {
        x->body_fn = r->body_fn;
        x->body_arg = r->body_arg;
        *size = r->body_size > 0 ? (curl_off_t)r->body_size : -1;
    }
    return 0;
}

/* The curl options of every transfer: callbacks, protocols, the
 * session's settings, the request's timeout and header list. */
static void set_transfer_options(asyncio__http_xfer_t *x, const asyncio_http_request_t *r,
                                 struct curl_slist *headers)
{
    asyncio__http_session_t *s = x->session;
    CURL *e = x->easy;
    long timeout_ms = r->timeout > 0 ? asyncio__http_ms(r->timeout) : s->timeout_ms;
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_CURLU, x->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* as aiohttp: decoded for the user */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, (long)x->follow_redirects);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, s->max_redirects);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
    if (s->curl_version != CURL_HTTP_VERSION_NONE)
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, s->curl_version);
    if (s->h2c_one_shot && strncasecmp(r->url, "http:", 5) == 0)
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    else if (s->curl_version >= CURL_HTTP_VERSION_2_0) /* wait to multiplex, not connect */
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (s->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (s->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (s->ca_path)
        curl_easy_setopt(e, CURLOPT_CAPATH, s->ca_path);
    if (s->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, s->proxy);
    if (headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}

/* The method and where curl reads the body from.  A HEAD without a body
 * asks for no response body; a body from body_fn or body_file is read
 * through read_cb (seek_cb rewinds it for a redirect). */
static void set_method(asyncio__http_xfer_t *x, const asyncio_http_request_t *r, bool has_body,
                       curl_off_t body_size)
{
    CURL *e = x->easy;
    const char *m = r->method ? r->method : has_body ? "POST" : "GET";
    if (strcasecmp(m, "HEAD") == 0 && !has_body) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        if (r->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        } else {
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(e, CURLOPT_READDATA, x);
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
            curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
        }
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
}

int asyncio__http_xfer_setup(asyncio__http_xfer_t *x, const asyncio_http_request_t *r, bool stream)
{
    curl_off_t body_size;
    struct curl_slist *headers;
    int rc;
    if ((rc = check_request(r, stream)) || (rc = parse_url(x, r->url)) ||
        (rc = open_body(x, r, &body_size)))
        return rc;
    if (r->output_file &&
        (x->out_fd = open(r->output_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
        return open_fail(r->output_file);
    x->discard = r->discard_body;
    x->follow_redirects = r->follow_redirects ? r->follow_redirects > 0 : x->session->follow;

    bool has_body = r->body || r->body_fn || r->body_file;
    bool chunked = (r->body_fn || r->body_file) && body_size < 0;
    if (build_headers(x, r, has_body, chunked, &headers))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP transfer");
    set_transfer_options(x, r, headers);
    set_method(x, r, has_body, body_size);
    return 0;
}

/* ------------------------------------------------------------ outcome */

static int raise_detail(int code, int detail, const char *fmt, ...) ASYNCIO_PRINTF(3, 4);
static int raise_detail(int code, int detail, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    asyncio__raise_exc(asyncio__exc_new(code, asyncio__code_type(code), detail, fmt, ap));
    va_end(ap);
    return code;
}

/* curl's text for the transfer's failure.  curl keeps the first text it
 * wrote in the error buffer for the rest of a transfer, and it writes one
 * ("Recv failure: ...", "Send failure: ...") when a reused connection
 * turns out dead, before it retries the request on a new one.  When the
 * transfer then fails for another reason (too many redirects, a refused
 * connect), that first text belongs to the failure curl recovered from,
 * not to this one: the code's own text is used instead. */
static const char *curl_message(const asyncio__http_xfer_t *x)
{
    const char *b = x->errbuf;
    bool stale = (strncmp(b, "Recv failure", 12) == 0 && x->result != CURLE_RECV_ERROR) ||
                 (strncmp(b, "Send failure", 12) == 0 && x->result != CURLE_SEND_ERROR);
    return b[0] && !stale ? b : curl_easy_strerror(x->result);
}

int asyncio__http_xfer_raise(asyncio__http_xfer_t *x)
{
    if (x->session_closed)
        return raise_detail(ASYNCIO_EHTTP, 0, "session closed");
    if (x->result == CURLE_OK)
        return 0;
    if (x->nomem)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "out of memory for an HTTP response");
    if (x->result == CURLE_WRITE_ERROR && x->write_errno) {
        /* Python's write() names no file: "[Errno 28] No space left on
         * device". */
        int err = -x->write_errno;
        asyncio_raise_uv(err, NULL);
        return err;
    }
    const char *msg = curl_message(x);
    if (x->result == CURLE_OPERATION_TIMEDOUT)
        return raise_detail(ASYNCIO_ETIMEDOUT, (int)x->result, "%s", msg);
    return raise_detail(ASYNCIO_EHTTP, (int)x->result, "%s", msg);
}

static double secs(CURL *e, CURLINFO what)
{
    curl_off_t us = 0;
    curl_easy_getinfo(e, what, &us);
    return (double)us / 1e6;
}

void asyncio__http_response_timings(asyncio__http_xfer_t *x, asyncio_http_response_t *resp)
{
    CURL *e = x->easy;
    asyncio_http_timings_t *t = &resp->timings;
    t->namelookup = secs(e, CURLINFO_NAMELOOKUP_TIME_T);
    t->connect = secs(e, CURLINFO_CONNECT_TIME_T);
    t->appconnect = secs(e, CURLINFO_APPCONNECT_TIME_T);
    t->pretransfer = secs(e, CURLINFO_PRETRANSFER_TIME_T);
    t->starttransfer = secs(e, CURLINFO_STARTTRANSFER_TIME_T);
    t->redirect = secs(e, CURLINFO_REDIRECT_TIME_T);
    t->total = secs(e, CURLINFO_TOTAL_TIME_T);
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    resp->connects = connects;
}

static int version_of(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0:
        return 10;
    case CURL_HTTP_VERSION_1_1:
        return 11;
    case CURL_HTTP_VERSION_2_0:
        return 20;
    case CURL_HTTP_VERSION_3:
        return 30;
    default:
        return 0;
    }
}

/* The URL the transfer ended at (after redirects). */
static const char *effective_url(CURL *e)
{
    char *url = NULL;
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
    return url ? url : "";
}

/* The lines after the status line of the transfer's last header block.
 * hdr_len, not hdr, says whether a block came: a pooled transfer's buffer
 * still holds the previous transfer's block. */
static const char *header_lines(const asyncio__http_xfer_t *x)
{
    const char *block = x->hdr_len ? x->hdr : "";
    const char *eol = strchr(block, '\n');
    return eol ? eol + 1 : block + strlen(block);
}

/* Parses header lines up to the blank line that ends the block (or the
 * end of the text) and returns how many headers they hold.  A header is a
 * line with a colon that does not start with white space: other lines
 * (obsolete folded continuations, lines without a colon) are skipped.  Its
 * name is what precedes the first colon; its value what follows, without
 * the white space around it.
 *
 * The response is sized by one call and filled by another, on the same
 * lines, so the count and the headers cannot disagree.  With hdrs NULL it
 * only counts; with hdrs, text is a copy of lines and each header's name
 * and value are cut out of it (NUL-terminated in place) into hdrs, in
 * order.  lines themselves are only read. */
static size_t parse_headers(const char *lines, char *text, asyncio_http_header_t *hdrs)
{
    size_t n = 0;
    for (const char *p = lines; *p && *p != '\r' && *p != '\n';) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon && *p != ' ' && *p != '\t') {
            if (hdrs) {
                const char *value = colon + 1;
                while (value < end && (*value == ' ' || *value == '\t'))
                    value++;
                text[colon - lines] = '\0';
                text[end - lines] = '\0';
                hdrs[n].name = text + (p - lines);
                hdrs[n].value = text + (value - lines);
            }
            n++;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return n;
}

/* Takes the body buffer from the transfer, with its capacity (for the
 * body cache).  It is NUL-terminated, as the API promises, so an empty
 * body still needs a byte. */
static int take_body(asyncio__http_xfer_t *x, char **body, size_t *cap)
{
    if (!x->body && !(x->body = asyncio__malloc(1)))
        return ASYNCIO_ENOMEM;
    x->body[x->body_len] = '\0';
    *body = x->body;
    *cap = x->body_cap;
    x->body = NULL;
    x->body_cap = 0;
    return 0;
}

asyncio_http_response_t *asyncio__http_response_make(asyncio__http_xfer_t *x, bool with_body)
{
    const char *lines = header_lines(x);
    const char *url = effective_url(x->easy);
    size_t nheaders = parse_headers(lines, NULL, NULL);
    size_t lines_len = strlen(lines), url_len = strlen(url);
    char *body = NULL;
    size_t body_cap = 0;

    /* One block: the response, its header array, the header lines the
     * array points into, the URL. */
    response_impl_t *r = asyncio__malloc(sizeof *r + nheaders * sizeof(asyncio_http_header_t) +
                                         lines_len + 1 + url_len + 1);
    if (!r)
        goto fail;
    /* A discarded body or one written to a file leaves only its count. */
    if (with_body && !x->discard && x->out_fd < 0 && take_body(x, &body, &body_cap))
        goto fail_body;

    asyncio_http_header_t *hdrs = (asyncio_http_header_t *)(r + 1);
    char *text = (char *)(hdrs + nheaders);
    char *url_copy = text + lines_len + 1;
    memcpy(text, lines, lines_len + 1);
    memcpy(url_copy, url, url_len + 1);
    parse_headers(lines, text, hdrs);

    long status = 0, version = 0, redirects = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    r->magic = RESPONSE_MAGIC;
    r->body_cap = body_cap;
    r->pub = (asyncio_http_response_t){0};
    r->pub.status = status;
    r->pub.url = url_copy;
    r->pub.body = body;
    r->pub.body_len = with_body ? x->body_len : 0;
    r->pub.http_version = version_of(version);
    r->pub.headers = hdrs;
    r->pub.header_count = nheaders;
    r->pub.redirect_count = redirects;
    if (with_body)
        asyncio__http_response_timings(x, &r->pub);
    return &r->pub;

fail_body:
    asyncio__free(r);
fail:
    asyncio__raise_code(ASYNCIO_ENOMEM, "out of memory for an HTTP response");
    return NULL;
}

/* ------------------------------------------------------------ API */

/* session.get / session.request. */
static int request(asyncio_http_session_t *session, const asyncio_http_request_t *req,
                   asyncio_http_response_t **out)
{
    if (out)
        *out = NULL;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    asyncio__http_session_t *s = asyncio__http_session_resolve(session);
    if (!s)
        return asyncio_error()->code;
    asyncio__http_xfer_t *x = asyncio__http_xfer_get(s);
    if (!x)
        return ASYNCIO_ENOMEM;
    int rc;
    if ((rc = asyncio__http_xfer_setup(x, req, false)) || (rc = asyncio__http_xfer_start(x)))
        goto done;
    while (!x->done)
        if ((rc = asyncio__http_xfer_wait(task, x)))
            goto done; /* cancelled: xfer_put aborts the transfer */
    if ((rc = asyncio__http_xfer_raise(x)))
        goto done;
    asyncio_http_response_t *resp = asyncio__http_response_make(x, true);
    if (!resp)
        rc = ASYNCIO_ENOMEM;
    else if (out)
        *out = resp;
    else
        asyncio_http_response_free(resp);
done:
    asyncio__http_xfer_put(x);
    return rc;
}

int asyncio_http_request(asyncio_http_session_t *session, const asyncio_http_request_t *req,
                         asyncio_http_response_t **out)
{
    return request(session, req, out);
}

int asyncio_http_get(asyncio_http_session_t *session, const char *url,
                     asyncio_http_response_t **out)
{
    asyncio_http_request_t req = {.url = url};
    return request(session, &req, out);
}

const char *asyncio_http_response_header_nth(const asyncio_http_response_t *resp, const char *name,
                                             size_t n)
{
    if (!resp || !name)
        return NULL;
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0 && n-- == 0)
            return resp->headers[i].value;
    return NULL;
}

const char *asyncio_http_response_header(const asyncio_http_response_t *resp, const char *name)
{
    return asyncio_http_response_header_nth(resp, name, 0);
}

void asyncio_http_response_free(asyncio_http_response_t *resp)
{
    if (!resp)
        return;
    response_impl_t *r = (response_impl_t *)resp;
    if (r->magic == PINNED_MAGIC) {
        asyncio__raise_code(ASYNCIO_ERUNTIME,
                            "the response belongs to its stream, which frees it when closed");
        return;
    }
    /* A response is a plain struct, not a handle: freeing one twice is
     * undefined, as with free().  The mark only catches a pointer that
     * never was a response, or the common double free while the memory
     * is still unused. */
    if (r->magic != RESPONSE_MAGIC)
        return;
    r->magic = 0;
    cache_give(resp->body, r->body_cap);
    asyncio__free(r);
}

void asyncio__http_response_pin(asyncio_http_response_t *resp)
{
    ((response_impl_t *)resp)->magic = PINNED_MAGIC;
}

void asyncio__http_response_release(asyncio_http_response_t *resp)
{
    if (!resp)
        return;
    ((response_impl_t *)resp)->magic = 0;
    asyncio__free(resp->body);
    asyncio__free(resp);
}
