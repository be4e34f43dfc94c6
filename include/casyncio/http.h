/*
 * casyncio/http.h: HTTP: sessions, requests, responses, streamed bodies.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_HTTP_H
#define CASYNCIO_HTTP_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/http.h>"
#endif

/* ======================================================================
 * 7. HTTP (libcurl multi, driven by the loop)
 * ====================================================================== */

/*
 * aiohttp's ClientSession on libcurl's multi interface, driven by the
 * loop: connection reuse, HTTP/2 multiplexing, DNS caching and TLS are
 * curl's.  A session is bound to the loop that is current when it is made
 * and may only be used by that loop's tasks.  Passing NULL for a session
 * means the loop's default session, made on first use with default
 * options and freed when the loop closes.
 *
 * An HTTP status >= 400 is a response, not an error (check
 * response->status: the analogue of raise_for_status).  Transport
 * failures raise ClientError (ASYNCIO_EHTTP): detail is the CURLcode and
 * message curl's own text (e.g. "Failed to connect to 127.0.0.1 port 1
 * after 0 ms: Couldn't connect to server").  A transfer that exceeds its
 * timeout raises TimeoutError (ASYNCIO_ETIMEDOUT, detail the CURLcode 28).
 * The codes are those curl's own tool reports for the same exchange: a
 * reset connection is CURLE_RECV_ERROR (56, "Recv failure: Connection
 * reset by peer"), a body cut short CURLE_PARTIAL_FILE (18), a redirect
 * chain too long CURLE_TOO_MANY_REDIRECTS (47), a malformed response
 * CURLE_WEIRD_SERVER_REPLY (8).  A request sent on a kept-alive
 * connection the server has meanwhile closed (an idle timeout, a server
 * closing after each response or each redirect) is not a failure: curl
 * sends it again on a new connection, as its tool does (at most 5 times
 * per transfer, curl's limit).  When curl recovered from such a connection
 * and the transfer then failed for another reason, the message is the
 * code's own text (curl_easy_strerror), not that of the dead connection.
 * Cancelling the task awaiting a transfer removes the transfer at once
 * (the connection it used is closed, not reused) and frees everything.
 *
 * URLs.  Every URL the caller gives that is not one, as aiohttp's
 * InvalidURL (type "InvalidURL", code ASYNCIO_EVALUE; like aiohttp's, both
 * a ClientError and a ValueError: catching any of the three works): an
 * empty one, a scheme other than http:// or https://, a
 * malformed one (curl's parser decides: "http://exa mple.com/",
 * "http://[::1", "http:///path", "http://h:99999/").  It is raised before
 * anything is sent, with aiohttp's message form "URL - reason", the
 * reason being curl's ("http:///path - No host part in the URL").  A NULL
 * url is a plain ValueError ("url is NULL").  A redirect to a bad URL is
 * the server's doing: ClientError with curl's code.
 *
 * Handles.  Sessions and streams are handles (see <casyncio.h>): a freed
 * session is refused with RuntimeError "not a live HTTP session (freed,
 * or never one)", a closed stream with ValueError "not a live HTTP stream
 * (freed, or never one)", and neither ever reaches a newer object.
 * Responses are not handles but documented structs the caller reads
 * directly and frees once with asyncio_http_response_free; freeing one
 * twice is undefined, as with free().
 */

/* HTTP versions: what a session asks for (asyncio_http_opts_t
 * .http_version) and what a response got (asyncio_http_response_t
 * .http_version, 10, 11, 20 or 30). */
enum {
    ASYNCIO_HTTP_VERSION_DEFAULT = 0, /* ask: curl's default (HTTP/2 over TLS via
                                         ALPN, HTTP/1.1 in clear) */
    ASYNCIO_HTTP_VERSION_1_0 = 10,
    ASYNCIO_HTTP_VERSION_1_1 = 11,               /* ask: HTTP/1.1 only */
    ASYNCIO_HTTP_VERSION_2 = 20,                 /* ask: HTTP/2 (https:// via ALPN; http://
                                                    through an Upgrade: h2c offer) */
    ASYNCIO_HTTP_VERSION_2_PRIOR_KNOWLEDGE = 21, /* ask: HTTP/2 straight away, also
                                                    for http:// (h2c).  With
                                                    libcurl < 8.0 (curl issue
                                                    10634) each http://
                                                    transfer then gets a
                                                    connection of its own, closed
                                                    after it: no reuse */
    ASYNCIO_HTTP_VERSION_3 = 30
};

/* Session options.  NULL means the defaults, which are those of a zeroed
 * struct except follow_redirects (true, as in aiohttp): start from
 * ASYNCIO_HTTP_OPTS_INIT to keep them.  Strings and arrays are copied by
 * asyncio_http_session_new.  The first six fields are the contract's;
 * later versions add fields only at the end. */
typedef struct asyncio_http_opts {
    long max_connections;      /* open connections in all (aiohttp's limit),
                                  idle ones included: also how many idle ones
                                  are kept for reuse.  0: no limit, and the
                                  session keeps as many idle connections as
                                  it ever had transfers at once (at least
                                  100), so a burst's connections are reused
                                  by the next burst */
    long max_host_connections; /* per host: 0 library default (no limit) */
    double timeout;            /* whole transfer, seconds; 0: none */
    double connect_timeout;    /* seconds; 0: curl's default (300) */
    bool follow_redirects;     /* follow 3xx Location (up to max_redirects) */
    const char *user_agent;    /* NULL: "casyncio/VERSION" */
    /* --- extensions */
    const char *const *headers; /* "Name: value", NULL-terminated: sent with
                                   every request (a request's own header of
                                   the same name wins); may be NULL */
    int http_version;           /* ASYNCIO_HTTP_VERSION_*: what to ask for */
    long max_redirects;         /* 0: 10 (aiohttp's default); < 0: no limit */
    bool insecure;              /* true turns TLS verification (peer and host
                                   name) off; it is on by default */
    const char *ca_file;        /* CA bundle (PEM); NULL: the system's */
    const char *ca_path;        /* directory of CA certificates; NULL: none */
    const char *proxy;          /* "http://host:port", "socks5h://..."; NULL:
                                   curl's environment rules (http_proxy, ...) */
    size_t stream_buffer;       /* bytes a stream buffers before it pauses
                                   the transfer; 0: 64 KiB */
} asyncio_http_opts_t;

#define ASYNCIO_HTTP_OPTS_INIT                                                                     \
    {                                                                                              \
        0, 0, 0.0, 0.0, true, NULL, NULL, 0, 0, false, NULL, NULL, NULL, 0                         \
    }

/* An upload source called by the transfer for more request body: copy at
 * most cap bytes to buf and return how many, 0 at the end of the body, or
 * a negative value to abort the transfer (it raises ClientError,
 * CURLE_ABORTED_BY_CALLBACK).  Called on the loop's thread from inside the
 * transfer machinery: it must not suspend or call the HTTP API. */
typedef long (*asyncio_http_read_fn)(void *arg, char *buf, size_t cap);

/* One request.  Zero the struct (or use designated initialisers) so the
 * extension fields are off.  The first six fields are the contract's.
 * Everything is read during the call that takes the request; nothing is
 * kept (a body_fn is called, and body_arg used, until the transfer ends). */
typedef struct asyncio_http_request {
    const char *method;         /* NULL: GET, or POST when a body is given */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value", NULL-terminated, may be
                                   NULL; "Name:" removes a default header */
    const void *body;           /* request body from memory (may contain NULs) */
    size_t body_len;
    double timeout; /* whole transfer, seconds; 0: session default */
    /* --- extensions */
    asyncio_http_read_fn body_fn; /* request body from a callback ... */
    void *body_arg;
    int64_t body_size;       /* ... of this many bytes; 0 or < 0: unknown
                                (sent chunked over HTTP/1.1; an empty body
                                is .body = "", .body_len = 0) */
    const char *body_file;   /* request body from this file (its size is
                                read when the request starts) */
    int follow_redirects;    /* 0: session default; > 0 follow; < 0 not */
    bool discard_body;       /* count the body, keep none of it (body NULL,
                                body_len the count) */
    const char *output_file; /* write the body to this file (created or
                                truncated) instead of memory (body NULL,
                                body_len the count) */
} asyncio_http_request_t;

/* One response header, as received (name without the colon, value without
 * surrounding white space). */
typedef struct asyncio_http_header {
    const char *name;
    const char *value;
} asyncio_http_header_t;

/* Where the time went, in seconds from the start of the transfer
 * (curl's CURLINFO_*_TIME_T; 0 for a phase that did not happen, such as
 * connect on a reused connection). */
typedef struct asyncio_http_timings {
    double namelookup;    /* DNS done */
    double connect;       /* TCP connected */
    double appconnect;    /* TLS handshake done */
    double pretransfer;   /* about to send the request */
    double starttransfer; /* first byte of the response */
    double redirect;      /* all redirect steps before the last one */
    double total;         /* transfer done */
} asyncio_http_timings_t;

/* A completed response.  Owned by the caller (asyncio_http_response_free);
 * independent of its session: it may outlive it.  All strings are owned
 * by the response. */
typedef struct asyncio_http_response {
    long status;     /* 200, 404, ... of the last response (after redirects) */
    const char *url; /* effective URL after redirects */
    char *body;      /* body_len bytes and a NUL after them, "" for an empty
                        body (they may also contain NULs); NULL for a
                        stream or a discarded/saved body */
    size_t body_len; /* bytes of body received */
    /* --- extensions */
    int http_version;                     /* 10, 11, 20 or 30 */
    const asyncio_http_header_t *headers; /* the last response's headers in
                                             order, repeated ones kept */
    size_t header_count;
    long redirect_count; /* redirects followed */
    long connects;       /* new connections this transfer opened (0: it
                            reused one) */
    asyncio_http_timings_t timings;
} asyncio_http_response_t;

/* ClientSession(...): a session of the current loop with its own
 * connection pool.  New: free it with asyncio_http_session_free.  Raises
 * RuntimeError (no current loop), ValueError naming the option
 * ("max_connections must be >= 0", "timeout must not be NaN", "invalid
 * http_version 12", a header without a colon), MemoryError, or
 * ClientError when curl cannot be initialised. */
ASYNCIO_EXTERN asyncio_http_session_t *asyncio_http_session_new(const asyncio_http_opts_t *opts);

/* await session.close(): aborts the transfers in flight (the tasks
 * awaiting them wake with ClientError "session closed"; open streams fail
 * the same way but must still be closed), closes every connection and
 * frees the session.  Does not suspend.  NULL is harmless; the loop's
 * default session is refused (RuntimeError), and so is a session freed
 * already.  A session whose loop was closed first only has its memory
 * left: free it all the same.  Raises RuntimeError when called from
 * another loop's thread. */
ASYNCIO_EXTERN void asyncio_http_session_free(asyncio_http_session_t *session);

/* The loop's default session (the one NULL stands for), made on first
 * use.  Borrowed: the loop frees it when it closes.  Raises RuntimeError
 * (no current loop), MemoryError. */
ASYNCIO_EXTERN asyncio_http_session_t *asyncio_http_session_default(void);

/* `async with session.get(url) as resp: body = await resp.read()`.
 * Suspends until the whole response is in.  *out gets the response (new:
 * asyncio_http_response_free), NULL on any failure.  Raises ClientError
 * (transport failure, redirect loop or too many redirects, session freed
 * meanwhile), TimeoutError, CancelledError (the transfer is aborted),
 * InvalidURL (an empty, malformed or non-HTTP url: see "URLs" above),
 * ValueError (NULL url), RuntimeError (outside a task, session of another
 * loop or freed), MemoryError. */
ASYNCIO_EXTERN int asyncio_http_get(asyncio_http_session_t *session, const char *url,
                                    asyncio_http_response_t **out);

/* session.request(method, url, headers=..., data=..., timeout=...): as
 * asyncio_http_get for any method and body.  *out is NULL on any
 * failure.  Raises as asyncio_http_get, and ValueError for a NULL
 * request, an empty method or one with spaces, more than one body source,
 * body NULL with a body_len, a header without a colon or with a line
 * break, a negative or NaN timeout, discard_body with output_file; an
 * OSError (FileNotFoundError, PermissionError, ...) when body_file or
 * output_file cannot be opened ("[Errno 2] No such file or directory:
 * '/x'", as Python's open()), or writing output_file fails. */
ASYNCIO_EXTERN int asyncio_http_request(asyncio_http_session_t *session,
                                        const asyncio_http_request_t *req,
                                        asyncio_http_response_t **out);

/* resp.headers.get(name): the value of the first header called name
 * (compared case-insensitively), or NULL.  Borrowed from the response.
 * NULL response or name: NULL. */
ASYNCIO_EXTERN const char *asyncio_http_response_header(const asyncio_http_response_t *resp,
                                                        const char *name);

/* resp.headers.getall(name)[n]: the n-th (from 0) header called name, or
 * NULL when there are not that many.  Borrowed. */
ASYNCIO_EXTERN const char *asyncio_http_response_header_nth(const asyncio_http_response_t *resp,
                                                            const char *name, size_t n);

/* Frees a response (body, headers, url).  NULL is harmless.  A stream's
 * response belongs to the stream: it is refused (RuntimeError).  Freeing
 * a response twice is undefined (it is a struct, not a handle). */
ASYNCIO_EXTERN void asyncio_http_response_free(asyncio_http_response_t *resp);

/* --- Streaming: `async with session.request(...) as resp:` then
 * `async for chunk in resp.content.iter_chunked(n)`.  The body is read as
 * it arrives; when the reader falls behind by the session's stream_buffer
 * the transfer is paused (the server is held back by TCP flow control),
 * so any body size uses bounded memory.  A request body may come from
 * memory, body_fn or body_file as for asyncio_http_request;
 * discard_body and output_file are refused (ValueError). */

/* Starts the request and suspends until the final response's status line
 * and headers are in (redirects followed as configured).  A failure after
 * the headers came (the body cut short) is raised by the reads, once they
 * have given the bytes that came; one before them is raised here.  *out gets the
 * stream's handle (new: asyncio_http_stream_close), NULL on any failure;
 * out may not be NULL (ValueError).  Unlike the other calls, the request's body (from
 * memory) and body_arg are used until the stream is closed: the server may
 * answer before it has read the whole body.  Raises as
 * asyncio_http_request. */
ASYNCIO_EXTERN int asyncio_http_stream_open(asyncio_http_session_t *session,
                                            const asyncio_http_request_t *req,
                                            asyncio_http_stream_t **out);

/* The response so far: status, url, headers, http_version (body NULL;
 * body_len counts the bytes read so far; timings are filled in once the
 * body has been read to its end).  Borrowed from the stream: valid until
 * it is closed.  NULL, with ValueError raised, for a NULL or closed
 * stream. */
ASYNCIO_EXTERN const asyncio_http_response_t *
asyncio_http_stream_response(asyncio_http_stream_t *stream);

/* await resp.content.read(cap): suspends until some body is buffered,
 * then copies up to cap bytes to buf and sets *n; *n = 0 means the body
 * ended.  When *n < cap, buf[*n] is '\0' (at the end too): a body
 * without NULs read with room to spare is a C string.  *n is 0 on any
 * failure.  Raises ClientError (the transfer failed mid-body, e.g. the
 * connection was reset: CURLE_PARTIAL_FILE / CURLE_RECV_ERROR in detail;
 * or session freed), TimeoutError, CancelledError (the transfer is
 * aborted: later reads raise ClientError), ValueError (NULL or closed
 * stream, "buf is NULL", "cap is 0"), RuntimeError (outside a task,
 * another task already reading: aiohttp's "read() called while another
 * coroutine is already waiting for incoming data"). */
ASYNCIO_EXTERN int asyncio_http_stream_read(asyncio_http_stream_t *stream, void *buf, size_t cap,
                                            size_t *n);

/* `async for chunk in resp.content.iter_any()` without a copy: suspends
 * like asyncio_http_stream_read, then *data points to everything buffered
 * (*len bytes, followed by a NUL), or is NULL with *len 0 at the end of
 * the body.  Borrowed: valid until the next read or close of the stream.
 * *data is NULL and *len 0 on any failure.  Raises as
 * asyncio_http_stream_read. */
ASYNCIO_EXTERN int asyncio_http_stream_read_chunk(asyncio_http_stream_t *stream, const void **data,
                                                  size_t *len);

/* Leaves the `async with`: aborts the transfer if its body was not read
 * to the end (the connection is closed, not reused), frees the stream and
 * its response.  Does not suspend.  NULL is harmless; a stream closed
 * already is refused (ValueError).  Not while a task is suspended reading
 * it (RuntimeError). */
ASYNCIO_EXTERN void asyncio_http_stream_close(asyncio_http_stream_t *stream);

#endif /* CASYNCIO_HTTP_H */
