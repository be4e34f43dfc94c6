/*
 * What the HTTP files share (session.c: sessions and the bridge between
 * curl's multi interface and the loop; request.c: transfers, requests and
 * responses; streaming.c: streamed bodies).  Nothing here is API.
 */
#ifndef CASYNCIO_HTTP_HTTP_H
#define CASYNCIO_HTTP_HTTP_H

#include "core/handle.h"
#include "core/core.h"
#include "testing.h"

#include <curl/curl.h>

typedef struct asyncio__http_xfer asyncio__http_xfer_t;
typedef struct asyncio__http_session asyncio__http_session_t;
typedef struct asyncio__http_stream asyncio__http_stream_t;

struct asyncio__http_session {
    void *handle; /* what the caller holds (handle.h) */
    bool is_default;
    bool dead; /* torn down because its loop closed: only memory is left */
    asyncio_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer;            /* curl's one timeout (own memory: closes async) */
    asyncio__closer_t closer;     /* on loop->closers while alive */
    asyncio__list_t xfers;        /* attached transfers (requests and streams) */
    asyncio__list_t socks;        /* poll handles, one per curl socket */
    asyncio__list_t closing;      /* poll handles whose close has not called back */
    void *free_socks;             /* closed poll handles' memory, for the next */
    asyncio__http_xfer_t *pool;   /* idle transfers with their easy handles */
    asyncio__http_xfer_t *failed; /* transfers whose socket could not be watched */
    size_t npool;
    size_t nxfers;    /* transfers attached now (on xfers) */
    size_t peak;      /* the most attached at once */
    long maxconnects; /* CURLMOPT_MAXCONNECTS now; fixed when max_connections */
    bool fixed_cache; /* max_connections given: maxconnects is that */
    /* Options, copied. */
    long timeout_ms, connect_timeout_ms, max_redirects, curl_version;
    bool follow, insecure;
    bool h2c_one_shot; /* h2c prior knowledge on curl < 8.0: no reuse */
    size_t stream_buffer;
    char *user_agent, *ca_file, *ca_path, *proxy;
    char **header_names; /* default headers' names, for overrides */
    size_t nheaders;
    struct curl_slist *headers;      /* the defaults */
    struct curl_slist *headers_body; /* the defaults plus "Expect:" */
};

/* One transfer: an easy handle and what its callbacks fill in.  Pooled by
 * its session with the easy handle; buffers keep their capacity. */
struct asyncio__http_xfer {
    asyncio__list_t link;             /* in session->xfers while attached */
    asyncio__http_session_t *session; /* NULL once the session let it go */
    asyncio__http_xfer_t *next_free;
    CURL *easy;
    CURLU *url;            /* the request's URL, parsed (curl uses it: CURLOPT_CURLU) */
    asyncio_future_t *fut; /* what the task using it waits on, if it waits */
    bool in_multi, done, headers_done, session_closed, nomem, discard, follow_redirects;
    CURLcode result;
    CURLcode failed; /* on session->failed (linked by next_free) */
    int out_fd, up_fd, write_errno;
    asyncio_http_read_fn body_fn;
    void *body_arg;
    struct curl_slist *own_headers; /* this request's list, when it needs one */
    char *body;                     /* the body in memory (given to the response) */
    size_t body_len, body_cap;
    char *hdr; /* the current response's header block, as received */
    size_t hdr_len, hdr_cap;
    asyncio__http_stream_t *stream; /* set for streamed transfers */
    char errbuf[CURL_ERROR_SIZE];
};

/* A stream; the caller holds its handle (asyncio_http_stream_t). */
struct asyncio__http_stream {
    void *handle; /* what the caller holds (handle.h) */
    bool reading;
    bool paused;
    bool finished; /* timings filled in */
    asyncio__http_xfer_t *xfer;
    asyncio_http_response_t *resp;
    char *fill; /* curl writes here (a NUL kept after fill_len) ... */
    size_t fill_len, fill_cap;
    char *give; /* ... the reader reads from here (swapped when drained) */
    size_t give_len, give_off, give_cap;
    size_t limit;
    long pauses; /* times the transfer was paused (for the tests) */
};

/* Seconds to curl's milliseconds, rounded up; 0 for <= 0. */
long asyncio__http_ms(double seconds);

/* Once per process, thread-safely; ClientError when curl cannot start. */
int asyncio__http_global_init(void);

/* True, after raising RuntimeError, while an upload callback (body_fn)
 * runs: it is called from inside curl, which the HTTP API would re-enter
 * (a transfer removed or a session freed under curl's feet). */
bool asyncio__http_in_callback(void);

/* The session to use: s itself, checked, or the running loop's default
 * one for NULL; NULL after raising. */
asyncio__http_session_t *asyncio__http_session_resolve(asyncio_http_session_t *handle);

/* A transfer of s with a fresh configuration (NULL and MemoryError). */
asyncio__http_xfer_t *asyncio__http_xfer_get(asyncio__http_session_t *s);
/* Gives a transfer back: removes it from its multi handle if it is still
 * running (the connection is then closed), closes its files and returns
 * it to its session's pool, or frees it when the session is gone. */
void asyncio__http_xfer_put(asyncio__http_xfer_t *x);
/* Starts it in its session's multi handle (ClientError on failure). */
int asyncio__http_xfer_start(asyncio__http_xfer_t *x);
/* Suspends task until the transfer's next event (done, headers, data).
 * 0, or ASYNCIO_ECANCELLED / MemoryError raised. */
int asyncio__http_xfer_wait(asyncio__task_t *task, asyncio__http_xfer_t *x);
/* Wakes the task waiting on x, if any. */
void asyncio__http_xfer_wake(asyncio__http_xfer_t *x);

/* Raises ValueError for the first of headers ("Name: value" strings,
 * NULL-terminated; NULL for none) that is not a header on one line.
 * Sessions' defaults and requests' own obey the same rule. */
int asyncio__http_check_headers(const char *const *headers);

/* Checks req and configures x for it (curl options, files, headers).
 * Raises ValueError (InvalidURL for the URL)/OSError/MemoryError. */
int asyncio__http_xfer_setup(asyncio__http_xfer_t *x, const asyncio_http_request_t *req,
                             bool stream);
/* Raises the failure of a finished transfer (ClientError, TimeoutError,
 * MemoryError, OSError) and returns its code; 0 when it succeeded. */
int asyncio__http_xfer_raise(asyncio__http_xfer_t *x);
/* A response from a finished (or, for a stream, started) transfer; takes
 * the body when with_body.  NULL and MemoryError. */
asyncio_http_response_t *asyncio__http_response_make(asyncio__http_xfer_t *x, bool with_body);
/* A stream's response: asyncio_http_response_free refuses it; the stream
 * frees it with asyncio__http_response_release. */
void asyncio__http_response_pin(asyncio_http_response_t *resp);
void asyncio__http_response_release(asyncio_http_response_t *resp);
/* Fills in resp's timings from x. */
void asyncio__http_response_timings(asyncio__http_xfer_t *x, asyncio_http_response_t *resp);

/* The stream side of curl's write callback. */
size_t asyncio__http_stream_write(asyncio__http_xfer_t *x, const char *p, size_t len);

extern atomic_long asyncio__http_live_easy, asyncio__http_live_polls;

#endif /* CASYNCIO_HTTP_HTTP_H */
