/*
 * HTTP sessions and the bridge between libcurl's multi interface and the
 * loop.
 *
 * One CURLM per session.  curl says which sockets it wants watched
 * (CURLMOPT_SOCKETFUNCTION): each gets one uv_poll_t, attached to the
 * socket with curl_multi_assign.  curl says when it next needs to be
 * called (CURLMOPT_TIMERFUNCTION): one uv_timer_t.  Both callbacks only
 * arm or disarm libuv handles: curl_multi_socket_action is called from the
 * libuv callbacks alone, never from inside a curl callback, and every call
 * is followed by draining curl_multi_info_read, which is where finished
 * transfers wake their tasks.  A zero timeout becomes a libuv timer of 0,
 * which fires in the next loop iteration (never a busy 1 ms timer).
 */
#include "http/http.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Idle easy handles a session keeps for reuse. */
#define POOL_MAX 256
/* aiohttp's default. */
#define DEFAULT_MAX_REDIRECTS 10
/* Idle connections a session keeps at least (aiohttp's connection limit)
 * when max_connections is not given; see cache_fit. */
#define CACHE_MIN 100
#define DEFAULT_STREAM_BUFFER (64 * 1024)

atomic_long asyncio__http_live_easy, asyncio__http_live_polls;

void asyncio__http_counts(long *easy, long *polls)
{
    if (easy)
        *easy = atomic_load(&asyncio__http_live_easy);
    if (polls)
        *polls = atomic_load(&asyncio__http_live_polls);
}

/* ------------------------------------------------------------ global init */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int asyncio__http_global_init(void)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return asyncio__raise_code(ASYNCIO_EHTTP, "libcurl could not be initialised: %s",
                                   curl_easy_strerror(global_rc));
    return 0;
}

/* ------------------------------------------------------------ the bridge */

/* A socket curl wants watched. */
typedef struct sock {
    uv_poll_t poll;
    asyncio__list_t link;             /* in session->socks, then ->closing */
    asyncio__http_session_t *session; /* NULL once the session is gone */
    curl_socket_t fd;
    int events;             /* UV_READABLE | UV_WRITABLE curl asked for */
    struct sock *next_free; /* in session->free_socks */
} sock_t;

/* A keep-alive connection leaves curl's watch after every transfer and
 * comes back with the next one, each time as a new poll handle (see
 * sock_close): its memory comes from the session's free list rather than
 * malloc. */
static void sock_closed(uv_handle_t *h)
{
    sock_t *k = h->data;
    atomic_fetch_sub(&asyncio__http_live_polls, 1);
    asyncio__http_session_t *s = k->session;
    if (!s) {
        asyncio__free(k);
        return;
    }
    asyncio__list_remove(&k->link);
    k->next_free = s->free_socks;
    s->free_socks = k;
}

/* Stops and closes at once: curl (and the OS) may hand the same fd number
 * to a new socket right after this, which then needs a poll handle of its
 * own (libuv refuses two active handles on one fd). */
static void sock_close(sock_t *k)
{
    asyncio__list_remove(&k->link);
    if (k->session)
        asyncio__list_insert(&k->session->closing, &k->link);
    uv_poll_stop(&k->poll);
    uv_close((uv_handle_t *)&k->poll, sock_closed);
}

/* Finished transfers: off the multi handle, their tasks woken. */
static void drain_done(asyncio__http_session_t *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result; /* m dies with the removal below */
        asyncio__http_xfer_t *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(s->multi, easy);
        x->in_multi = false;
        x->done = true;
        x->result = rc;
        asyncio__http_xfer_wake(x);
    }
    while (s->failed) {
        asyncio__http_xfer_t *x = s->failed;
        s->failed = x->next_free;
        x->next_free = NULL;
        if (!x->in_multi)
            continue;
        curl_multi_remove_handle(s->multi, x->easy);
        x->in_multi = false;
        x->done = true;
        x->result = x->failed;
        x->nomem = x->failed == CURLE_OUT_OF_MEMORY;
        asyncio__http_xfer_wake(x);
    }
}

/* A poll error (libuv's answer to POLLERR or POLLHUP: a reset or a closed
 * peer) is handed to curl as readable and writable, which is what its own
 * poll loop makes of it: curl then reads the socket and meets the real
 * error.  That is where it tells a dead keep-alive connection (retried on
 * a new one) from a transfer that failed (ECONNRESET mid-body, a bad
 * reply), each with its own code.  CURL_CSELECT_ERR would fail the
 * transfer at once as "select/poll returned error" (CURLE_SEND_ERROR).
 * libuv stops a handle that reported an error, so one curl still watches
 * is started again. */
static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_t *k = p->data;
    asyncio__http_session_t *s = k->session;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    int flags = 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->multi, k->fd, flags, &running);
    if (status < 0 && !uv_is_closing((uv_handle_t *)&k->poll))
        uv_poll_start(&k->poll, k->events, on_poll);
    drain_done(s);
}

static void on_timeout(uv_timer_t *t)
{
    asyncio__http_session_t *s = t->data;
    int running;
    curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(s);
    /* libuv runs timers before it polls, and it knows nothing of the ready
     * queue: tasks woken here must not wait for the poll to end.  A stop
     * request makes this iteration's poll non-blocking (the casyncio loop
     * goes on by itself). */
    uv_stop(&s->loop->uv);
}

/* A socket that cannot be watched: its transfer would wait forever.  It
 * is failed after the current socket_action (not from inside curl). */
static void sock_failed(asyncio__http_session_t *s, CURL *easy, CURLcode why)
{
    asyncio__http_xfer_t *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x || x->failed)
        return;
    x->failed = why;
    x->next_free = s->failed;
    s->failed = x;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    asyncio__http_session_t *s = userp;
    sock_t *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            curl_multi_assign(s->multi, fd, NULL);
            sock_close(k);
        }
        return 0;
    }
    if (!k) {
        if ((k = s->free_socks))
            s->free_socks = k->next_free;
        else if (!(k = asyncio__malloc(sizeof *k))) {
            sock_failed(s, easy, CURLE_OUT_OF_MEMORY);
            return 0;
        }
        if (uv_poll_init_socket(&s->loop->uv, &k->poll, fd) != 0) {
            asyncio__free(k);
            sock_failed(s, easy, CURLE_COULDNT_CONNECT);
            return 0;
        }
        atomic_fetch_add(&asyncio__http_live_polls, 1);
        k->poll.data = k;
        k->session = s;
        k->fd = fd;
        asyncio__list_insert(&s->socks, &k->link);
        curl_multi_assign(s->multi, fd, k);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    k->events = events;
    if (uv_poll_start(&k->poll, events, on_poll) != 0)
        sock_failed(s, easy, CURLE_COULDNT_CONNECT);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    asyncio__http_session_t *s = userp;
    if (timeout_ms < 0)
        uv_timer_stop(s->timer);
    else /* 0 included: libuv runs it in the next iteration */
        uv_timer_start(s->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ------------------------------------------------------------ transfers */

/* curl's own connection cache size is 4 x the transfers attached at the
 * moment a connection is returned to it, so every lull (the tail of a
 * burst) closes connections the next burst must open again.  A session
 * keeps instead as many idle connections as it ever had transfers at once
 * (at least CACHE_MIN): every connection a burst opened survives to serve
 * the next one.  Given max_connections, the cache is that size (no more
 * can be open anyway). */
static void cache_fit(asyncio__http_session_t *s)
{
    if (++s->nxfers <= s->peak)
        return;
    s->peak = s->nxfers;
    if (s->fixed_cache || (long)s->peak <= s->maxconnects)
        return;
    s->maxconnects = (long)s->peak;
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, s->maxconnects);
}

asyncio__http_xfer_t *asyncio__http_xfer_get(asyncio__http_session_t *s)
{
    asyncio__http_xfer_t *x = s->pool;
    if (x) {
        s->pool = x->next_free;
        s->npool--;
    } else {
        if (!(x = asyncio__calloc(1, sizeof *x))) {
            asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP transfer");
            return NULL;
        }
        if (!(x->easy = curl_easy_init())) { /* it only fails for memory */
            asyncio__free(x);
            asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP transfer");
            return NULL;
        }
        atomic_fetch_add(&asyncio__http_live_easy, 1);
    }
    x->session = s;
    x->next_free = NULL;
    x->fut = NULL;
    x->in_multi = x->done = x->headers_done = x->session_closed = x->nomem = x->discard = false;
    x->result = CURLE_OK;
    x->out_fd = x->up_fd = -1;
    x->write_errno = 0;
    x->failed = CURLE_OK;
    x->body_fn = NULL;
    x->body_arg = NULL;
    x->own_headers = NULL;
    x->body = NULL;
    x->body_len = x->body_cap = 0;
    x->hdr_len = 0;
    x->stream = NULL;
    x->errbuf[0] = '\0';
    asyncio__list_insert(&s->xfers, &x->link);
    cache_fit(s);
    return x;
}

static void xfer_destroy(asyncio__http_xfer_t *x)
{
    curl_easy_cleanup(x->easy);
    curl_url_cleanup(x->url);
    atomic_fetch_sub(&asyncio__http_live_easy, 1);
    asyncio__free(x->hdr);
    asyncio__free(x);
}

void asyncio__http_xfer_put(asyncio__http_xfer_t *x)
{
    asyncio__http_session_t *s = x->session;
    if (s && x->failed) { /* still on the failed list (a pause resumed it) */
        asyncio__http_xfer_t **pp = &s->failed;
        while (*pp && *pp != x)
            pp = &(*pp)->next_free;
        if (*pp)
            *pp = x->next_free;
    }
    if (x->in_multi) { /* unfinished: its connection is closed, not reused */
        curl_multi_remove_handle(s->multi, x->easy);
        x->in_multi = false;
    }
    curl_slist_free_all(x->own_headers);
    x->own_headers = NULL;
    if (x->out_fd >= 0)
        close(x->out_fd);
    if (x->up_fd >= 0)
        close(x->up_fd);
    x->out_fd = x->up_fd = -1;
    asyncio__free(x->body);
    x->body = NULL;
    x->stream = NULL;
    if (!s) {
        xfer_destroy(x);
        return;
    }
    asyncio__list_remove(&x->link);
    s->nxfers--;
    if (s->npool >= POOL_MAX) {
        xfer_destroy(x);
        return;
    }
    curl_easy_reset(x->easy);
    x->session = NULL;
    x->next_free = s->pool;
    s->pool = x;
    s->npool++;
}

int asyncio__http_xfer_start(asyncio__http_xfer_t *x)
{
    CURLMcode mc = curl_multi_add_handle(x->session->multi, x->easy);
    if (mc != CURLM_OK) {
        return asyncio__raise_code(ASYNCIO_EHTTP, "the transfer could not start: %s",
                                   curl_multi_strerror(mc));
    }
    x->in_multi = true;
    return 0;
}

void asyncio__http_xfer_wake(asyncio__http_xfer_t *x)
{
    asyncio_future_t *f = x->fut;
    if (!f)
        return;
    x->fut = NULL;
    if (f->state == ASYNCIO__PENDING) /* not if the task's cancel got there first */
        asyncio__future_finish(f, NULL, NULL);
}

/* What a task waits on in a transfer, for task dumps: the method and URL
 * curl is on (after redirects). */
static void describe_xfer(const void *obj, char *buf, size_t len)
{
    const asyncio__http_xfer_t *x = obj;
    char *url = NULL, *method = NULL, *asked = NULL;
    if (x->easy) {
        curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
        curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_METHOD, &method);
    }
    /* Before curl starts, the URL asked for. */
    if ((!url || !*url) && x->url && curl_url_get(x->url, CURLUPART_URL, &asked, 0) == CURLUE_OK)
        url = asked;
    snprintf(buf, len, "<%s%s%s%s>", method && *method ? method : "", method && *method ? " " : "",
             url ? url : "(no URL)", x->done ? " done" : "");
    curl_free(asked);
}

static const asyncio__wait_kind_t xfer_wait = {"HTTP transfer", describe_xfer};

int asyncio__http_xfer_wait(asyncio__task_t *task, asyncio__http_xfer_t *x)
{
    asyncio_future_t *f = asyncio__future_new(task->fut.loop);
    if (!f)
        return ASYNCIO_ENOMEM;
    x->fut = f;
    asyncio__task_waits_for(task, &xfer_wait, x);
    int rc = asyncio__task_wait_private(task, f);
    if (x->fut == f)
        x->fut = NULL;
    asyncio_decref(f);
    return rc;
}

/* ------------------------------------------------------------ sessions */

static void timer_closed(uv_handle_t *h)
{
    asyncio__free(h);
}

static void free_options(asyncio__http_session_t *s)
{
    asyncio__free(s->user_agent);
    asyncio__free(s->ca_file);
    asyncio__free(s->ca_path);
    asyncio__free(s->proxy);
    for (size_t i = 0; i < s->nheaders; i++)
        asyncio__free(s->header_names[i]);
    asyncio__free(s->header_names);
    curl_slist_free_all(s->headers);
    curl_slist_free_all(s->headers_body);
}

/* Aborts every transfer (their tasks wake to ClientError "session
 * closed"), frees the pooled easy handles and the multi handle, and closes
 * every libuv handle with a callback that frees its memory. */
static void teardown(asyncio__http_session_t *s)
{
    while (s->xfers.next != &s->xfers) {
        asyncio__http_xfer_t *x = asyncio__container_of(s->xfers.next, asyncio__http_xfer_t, link);
        asyncio__list_remove(&x->link);
        s->nxfers--;
        if (x->in_multi) {
            curl_multi_remove_handle(s->multi, x->easy);
            x->in_multi = false;
        }
        if (!x->done) {
            x->done = true;
            x->session_closed = true;
        }
        x->session = NULL; /* its user frees it when done with it */
        asyncio__http_xfer_wake(x);
    }
    while (s->pool) {
        asyncio__http_xfer_t *x = s->pool;
        s->pool = x->next_free;
        xfer_destroy(x);
    }
    s->npool = 0;
    /* curl must not call back into a session going away. */
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, NULL);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(s->multi);
    s->multi = NULL;
    /* Their close callbacks come after the session is gone: they free. */
    while (s->closing.next != &s->closing) {
        sock_t *k = asyncio__container_of(s->closing.next, sock_t, link);
        asyncio__list_remove(&k->link);
        k->session = NULL;
    }
    while (s->socks.next != &s->socks) {
        sock_t *k = asyncio__container_of(s->socks.next, sock_t, link);
        k->session = NULL;
        sock_close(k);
    }
    while (s->free_socks) {
        sock_t *k = s->free_socks;
        s->free_socks = k->next_free;
        asyncio__free(k);
    }
    uv_close((uv_handle_t *)s->timer, timer_closed);
    s->timer = NULL;
    free_options(s);
    asyncio__list_remove(&s->closer.link);
}

/* The loop closes: a default session goes entirely; the user's keep their
 * memory until asyncio_http_session_free. */
static void session_loop_closed(asyncio__closer_t *c)
{
    asyncio__http_session_t *s = asyncio__container_of(c, asyncio__http_session_t, closer);
    teardown(s);
    s->dead = true;
    if (s->is_default) {
        s->loop->http_default = NULL;
        asyncio__handle_retire(s->handle);
        asyncio__free(s);
    }
}

static bool bad_number(double v)
{
    return isnan(v) || v < 0;
}

long asyncio__http_ms(double seconds)
{
    if (!(seconds > 0))
        return 0;
    double ms = seconds * 1000.0;
    if (ms >= (double)LONG_MAX)
        return LONG_MAX;
    long l = (long)ms; /* rounded up: a timeout never ends early (no libm) */
    return (double)l < ms ? l + 1 : l;
}

/* curl's HTTP version for an ASYNCIO_HTTP_VERSION_*; -1 for none. */
static long curl_http_version(int v)
{
    switch (v) {
    case ASYNCIO_HTTP_VERSION_DEFAULT:
        return CURL_HTTP_VERSION_NONE;
    case ASYNCIO_HTTP_VERSION_1_0:
        return CURL_HTTP_VERSION_1_0;
    case ASYNCIO_HTTP_VERSION_1_1:
        return CURL_HTTP_VERSION_1_1;
    case ASYNCIO_HTTP_VERSION_2:
        return CURL_HTTP_VERSION_2_0;
    case ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE:
        return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    case ASYNCIO_HTTP_VERSION_3:
        return CURL_HTTP_VERSION_3;
    default:
        return -1;
    }
}

/* ValueError naming the first option out of range. */
static int check_options(const asyncio_http_opts_t *o)
{
    if (o->max_connections < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "max_connections must be >= 0");
    if (o->max_host_connections < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "max_host_connections must be >= 0");
    if (bad_number(o->timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, isnan(o->timeout) ? "timeout must not be NaN"
                                                                     : "timeout must be >= 0");
    if (bad_number(o->connect_timeout))
        return asyncio__raise_code(ASYNCIO_EVALUE, isnan(o->connect_timeout)
                                                       ? "connect_timeout must not be NaN"
                                                       : "connect_timeout must be >= 0");
    if (curl_http_version(o->http_version) < 0)
        return asyncio__raise_code(ASYNCIO_EVALUE, "invalid http_version %d", o->http_version);
    return asyncio__http_check_headers(o->headers);
}

static int copy_str(char **dst, const char *src)
{
    if (src && !(*dst = asyncio__strdup(src)))
        return ASYNCIO_ENOMEM;
    return 0;
}

static int copy_strings(asyncio__http_session_t *s, const asyncio_http_opts_t *o)
{
    char ua[64];
    snprintf(ua, sizeof ua, "casyncio/%s", asyncio_version_string());
    if (copy_str(&s->user_agent, o->user_agent ? o->user_agent : ua) ||
        copy_str(&s->ca_file, o->ca_file) || copy_str(&s->ca_path, o->ca_path) ||
        copy_str(&s->proxy, o->proxy))
        return ASYNCIO_ENOMEM;
    return 0;
}

static int slist_add(struct curl_slist **l, const char *str)
{
    struct curl_slist *n = curl_slist_append(*l, str);
    if (!n)
        return ASYNCIO_ENOMEM;
    *l = n;
    return 0;
}

/* The default headers (checked already): their names, and two lists, one
 * for requests without a body and one for those with one. */
static int default_headers(asyncio__http_session_t *s, const char *const *headers)
{
    size_t n = 0;
    while (headers && headers[n])
        n++;
    if (n && !(s->header_names = asyncio__calloc(n, sizeof *s->header_names)))
        return ASYNCIO_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *h = headers[i];
        size_t len = (size_t)(strchr(h, ':') - h);
        if (!(s->header_names[i] = asyncio__malloc(len + 1)))
            return ASYNCIO_ENOMEM;
        s->nheaders = i + 1;
        memcpy(s->header_names[i], h, len);
        s->header_names[i][len] = '\0';
        if (slist_add(&s->headers, h) || slist_add(&s->headers_body, h))
            return ASYNCIO_ENOMEM;
    }
    /* curl would send "Expect: 100-continue" before big bodies and wait up
     * to a second for servers that ignore it; aiohttp never sends it. */
    return slist_add(&s->headers_body, "Expect:");
}

/* The bridge's callbacks and the connection limits, on the multi handle;
 * true when curl refused one. */
static bool multi_options(asyncio__http_session_t *s, const asyncio_http_opts_t *o)
{
    CURLM *m = s->multi;
    return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket) ||
           curl_multi_setopt(m, CURLMOPT_SOCKETDATA, s) ||
           curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer) ||
           curl_multi_setopt(m, CURLMOPT_TIMERDATA, s) ||
           curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) ||
           curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, s->maxconnects) ||
           curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->max_connections) ||
           curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, o->max_host_connections);
}

/* Checks the options and copies them into s.  What a failure leaves made
 * is the caller's to free (free_options). */
static int set_options(asyncio__http_session_t *s, const asyncio_http_opts_t *o)
{
    int rc = check_options(o);
    if (rc)
        return rc;

    s->curl_version = curl_http_version(o->http_version);
    /* libcurl before 8.0 breaks a reused h2c prior-knowledge connection
     * ("Error in the HTTP2 framing layer", curl issue 10634): there each
     * http:// transfer gets a connection of its own, closed after it, so
     * the session works, only slower. */
    s->h2c_one_shot = o->http_version == ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE &&
                      curl_version_info(CURLVERSION_NOW)->version_num < 0x080000;
    s->timeout_ms = asyncio__http_ms(o->timeout);
    s->connect_timeout_ms = asyncio__http_ms(o->connect_timeout);
    s->follow = o->follow_redirects;
    s->max_redirects = o->max_redirects == 0  ? DEFAULT_MAX_REDIRECTS
                       : o->max_redirects < 0 ? -1
                                              : o->max_redirects;
    s->insecure = o->insecure;
    s->stream_buffer = o->stream_buffer ? o->stream_buffer : DEFAULT_STREAM_BUFFER;
    s->fixed_cache = o->max_connections > 0;
    s->maxconnects = s->fixed_cache ? o->max_connections : CACHE_MIN;

    if (copy_strings(s, o) || default_headers(s, o->headers))
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP session");
    if (multi_options(s, o))
        return asyncio__raise_code(ASYNCIO_EHTTP, "libcurl refused the session's options");
    return 0;
}

static asyncio__http_session_t *session_new(asyncio_loop_t *loop, const asyncio_http_opts_t *opts)
{
    static const asyncio_http_opts_t defaults_opts = ASYNCIO_HTTP_OPTS_INIT;
    if (asyncio__http_global_init())
        return NULL;
    asyncio__http_session_t *s = asyncio__calloc(1, sizeof *s);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP session");
        return NULL;
    }
    if (!asyncio__handle_give(s, &s->handle, ASYNCIO__H_HTTP_SESSION))
        return NULL; /* s freed */
    s->loop = loop;
    asyncio__list_init(&s->xfers);
    asyncio__list_init(&s->socks);
    asyncio__list_init(&s->closing);
    asyncio__list_init(&s->closer.link);
    s->closer.close = session_loop_closed;
    if (!(s->timer = asyncio__malloc(sizeof *s->timer))) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP session");
        goto fail_timer;
    }
    if (!(s->multi = curl_multi_init())) {
        asyncio__raise_code(ASYNCIO_EHTTP, "libcurl could not make a session");
        goto fail_multi;
    }
    if (set_options(s, opts ? opts : &defaults_opts))
        goto fail_options;
    uv_timer_init(&loop->uv, s->timer);
    s->timer->data = s;
    asyncio__list_insert(&loop->closers, &s->closer.link);
    return s;

fail_options:
    free_options(s);
    curl_multi_cleanup(s->multi);
fail_multi:
    asyncio__free(s->timer);
fail_timer:
    asyncio__handle_retire(s->handle);
    asyncio__free(s);
    return NULL;
}

asyncio_http_session_t *asyncio_http_session_new(const asyncio_http_opts_t *opts)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no current event loop");
        return NULL;
    }
    asyncio__http_session_t *s = session_new(loop, opts);
    return s ? s->handle : NULL;
}

asyncio_http_session_t *asyncio_http_session_default(void)
{
    asyncio_loop_t *loop = asyncio__loop_get();
    if (!loop || loop->closed) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "no current event loop");
        return NULL;
    }
    if (loop->http_default)
        return loop->http_default->handle;
    asyncio__http_session_t *s = session_new(loop, NULL);
    if (!s)
        return NULL;
    s->is_default = true;
    loop->http_default = s;
    return s->handle;
}

void asyncio_http_session_free(asyncio_http_session_t *handle)
{
    if (!handle || asyncio__http_in_callback())
        return;
    asyncio__http_session_t *s = asyncio__handle_get(handle, ASYNCIO__H_HTTP_SESSION);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not a live HTTP session (freed, or never one)");
        return;
    }
    if (s->is_default) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the loop's default session is freed by the loop");
        return;
    }
    if (!s->dead) {
        if (asyncio__loop_get() != s->loop) {
            asyncio__raise_code(ASYNCIO_ERUNTIME, "the session belongs to another event loop");
            return;
        }
        teardown(s);
    }
    asyncio__handle_retire(handle);
    asyncio__free(s);
}

asyncio__http_session_t *asyncio__http_session_resolve(asyncio_http_session_t *handle)
{
    if (asyncio__http_in_callback())
        return NULL;
    if (!handle) {
        if (!asyncio__tls.running) {
            asyncio__raise_code(ASYNCIO_ERUNTIME, "no running event loop");
            return NULL;
        }
        if (!asyncio_http_session_default())
            return NULL;
        return asyncio__tls.running->http_default;
    }
    asyncio__http_session_t *s = asyncio__handle_get(handle, ASYNCIO__H_HTTP_SESSION);
    if (!s) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "not a live HTTP session (freed, or never one)");
        return NULL;
    }
    if (s->dead) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the session's event loop is closed");
        return NULL;
    }
    if (s->loop != asyncio__tls.running) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "the session belongs to another event loop");
        return NULL;
    }
    return s;
}
