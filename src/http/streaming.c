/*
 * Streamed HTTP bodies: `async with session.get(url) as resp:` and
 * `async for chunk in resp.content.iter_chunked(n)`.
 *
 * curl's write callback appends to the fill buffer; the reader takes the
 * give buffer.  When the reader has drained the give buffer the two swap
 * (so a chunk handed out is never moved or overwritten while the reader
 * holds it).  When the fill buffer holds the session's stream_buffer bytes
 * the write callback pauses the transfer (CURL_WRITEFUNC_PAUSE: curl keeps
 * that piece and stops reading the socket, TCP flow control holds the
 * server back); the reader resumes it after the next swap.  Memory per
 * stream is therefore bounded by about twice stream_buffer plus one piece
 * from curl, whatever the body's size.
 */
#include "http/http.h"

#include <stdio.h>
#include <string.h>

size_t asyncio__http_stream_write(asyncio__http_xfer_t *x, const char *p, size_t len)
{
    asyncio__http_stream_t *st = x->stream;
    if (st->fill_len >= st->limit) {
        st->paused = true;
        st->pauses++;
        return CURL_WRITEFUNC_PAUSE;
    }
    /* One byte more for the NUL that follows the bytes a reader gets. */
    if (st->fill_len + len + 1 > st->fill_cap) {
        size_t n = st->fill_cap ? st->fill_cap : 16384;
        while (n < st->fill_len + len + 1)
            n *= 2;
        char *b = asyncio__realloc(st->fill, n);
        if (!b) {
            x->nomem = true;
            return 0;
        }
        st->fill = b;
        st->fill_cap = n;
    }
    memcpy(st->fill + st->fill_len, p, len);
    st->fill_len += len;
    st->fill[st->fill_len] = '\0';
    asyncio__http_xfer_wake(x);
    return len;
}

/* The stream a public call names, or NULL with the error raised. */
static asyncio__http_stream_t *check_stream(asyncio_http_stream_t *handle)
{
    if (asyncio__http_in_callback())
        return NULL;
    return asyncio__handle_check(handle, ASYNCIO__H_HTTP_STREAM, "HTTP stream");
}

static void stream_free(asyncio__http_stream_t *st)
{
    asyncio__handle_retire(st->handle);
    if (st->xfer)
        asyncio__http_xfer_put(st->xfer);
    asyncio__http_response_release(st->resp);
    asyncio__free(st->fill);
    asyncio__free(st->give);
    asyncio__free(st);
}

int asyncio_http_stream_open(asyncio_http_session_t *session, const asyncio_http_request_t *req,
                             asyncio_http_stream_t **out)
{
    if (out)
        *out = NULL;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (!out)
        return asyncio__raise_code(ASYNCIO_EVALUE, "out is NULL (the stream must be closed)");
    asyncio__http_session_t *s = asyncio__http_session_resolve(session);
    if (!s)
        return asyncio_error()->code;
    asyncio__http_stream_t *st = asyncio__calloc(1, sizeof *st);
    if (!st)
        return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an HTTP stream");
    if (!asyncio__handle_give(st, &st->handle, ASYNCIO__H_HTTP_STREAM))
        return ASYNCIO_ENOMEM; /* st freed */
    st->limit = s->stream_buffer;
    int rc;
    asyncio__http_xfer_t *x = asyncio__http_xfer_get(s);
    if (!x) {
        rc = ASYNCIO_ENOMEM;
        goto fail;
    }
    st->xfer = x;
    x->stream = st;
    if ((rc = asyncio__http_xfer_setup(x, req, true)) || (rc = asyncio__http_xfer_start(x)))
        goto fail;
    while (!x->headers_done && !x->done)
        if ((rc = asyncio__http_xfer_wait(task, x)))
            goto fail;
    /* A transfer that failed after the headers came (a body cut short)
     * still has its response: the reads give what came, then raise, as
     * aiohttp's do.  One that failed before raises here. */
    if (!x->headers_done && (rc = asyncio__http_xfer_raise(x)))
        goto fail;
    if (!(st->resp = asyncio__http_response_make(x, false))) {
        rc = ASYNCIO_ENOMEM;
        goto fail;
    }
    asyncio__http_response_pin(st->resp);
    *out = st->handle;
    return 0;
fail:
    stream_free(st);
    return rc;
}

const asyncio_http_response_t *asyncio_http_stream_response(asyncio_http_stream_t *handle)
{
    asyncio__http_stream_t *st =
        asyncio__handle_check(handle, ASYNCIO__H_HTTP_STREAM, "HTTP stream");
    return st ? st->resp : NULL;
}

/* Hands the reader what curl wrote: the buffers swap, so the give buffer
 * holds the new bytes (and the NUL after them) and curl fills the emptied
 * one.  A transfer paused for want of room goes on now. */
static void swap_buffers(asyncio__http_stream_t *st)
{
    asyncio__http_xfer_t *x = st->xfer;
    char *b = st->give;
    size_t cap = st->give_cap;
    st->give = st->fill;
    st->give_cap = st->fill_cap;
    st->give_len = st->fill_len;
    st->give_off = 0;
    st->fill = b;
    st->fill_cap = cap;
    st->fill_len = 0;
    if (st->paused && x->in_multi) {
        /* Not from a curl callback: curl may deliver the piece it kept
         * right here (into the new fill buffer). */
        st->paused = false;
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

/* A read cancelled mid-body stops the transfer there: later reads raise
 * ClientError. */
static void abort_transfer(asyncio__http_xfer_t *x)
{
    if (!x->in_multi)
        return;
    curl_multi_remove_handle(x->session->multi, x->easy);
    x->in_multi = false;
    x->done = true;
    x->result = CURLE_ABORTED_BY_CALLBACK;
    snprintf(x->errbuf, sizeof x->errbuf, "stream aborted by a cancelled read");
}

/* Makes the give buffer hold unread bytes, or finds the end: 0 with
 * give_off < give_len, or 0 with nothing at the end of the body.  op is
 * the aiohttp call the caller stands for ("StreamReader.read"), for the
 * messages. */
static int fill_give(asyncio__http_stream_t *st, const char *op)
{
    if (st->give_off < st->give_len)
        return 0;
    asyncio__task_t *task = asyncio__task_or_raise();
    if (!task)
        return ASYNCIO_ERUNTIME;
    if (st->reading) /* aiohttp's StreamReader says the same */
        return asyncio__raise_code(
            ASYNCIO_ERUNTIME,
            "%s() called while another coroutine is already waiting for incoming data", op);
    asyncio__http_xfer_t *x = st->xfer;
    for (;;) {
        if (st->fill_len) {
            swap_buffers(st);
            return 0;
        }
        if (x->done) {
            int rc = asyncio__http_xfer_raise(x);
            if (rc == 0 && !st->finished) {
                st->finished = true;
                asyncio__http_response_timings(x, st->resp);
            }
            return rc;
        }
        st->reading = true;
        int rc = asyncio__http_xfer_wait(task, x);
        st->reading = false;
        if (rc) {
            abort_transfer(x);
            return rc;
        }
    }
}

int asyncio_http_stream_read(asyncio_http_stream_t *handle, void *buf, size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    asyncio__http_stream_t *st = check_stream(handle);
    if (!st)
        return asyncio_error()->code;
    if (!buf)
        return asyncio__raise_code(ASYNCIO_EVALUE, "buf is NULL");
    if (!cap)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cap is 0");
    int rc = fill_give(st, "StreamReader.read");
    if (rc)
        return rc;
    size_t k = st->give_len - st->give_off;
    if (k > cap)
        k = cap;
    memcpy(buf, st->give + st->give_off, k);
    if (k < cap)
        ((char *)buf)[k] = '\0';
    st->give_off += k;
    st->resp->body_len += k;
    if (n)
        *n = k;
    return 0;
}

int asyncio_http_stream_read_chunk(asyncio_http_stream_t *handle, const void **data, size_t *len)
{
    if (data)
        *data = NULL;
    if (len)
        *len = 0;
    asyncio__http_stream_t *st = check_stream(handle);
    if (!st)
        return asyncio_error()->code;
    int rc = fill_give(st, "StreamReader.readany");
    if (rc)
        return rc;
    size_t k = st->give_len - st->give_off;
    if (data)
        *data = k ? st->give + st->give_off : NULL;
    if (len)
        *len = k;
    st->give_off = st->give_len;
    st->resp->body_len += k;
    return 0;
}

void asyncio_http_stream_close(asyncio_http_stream_t *handle)
{
    if (!handle)
        return;
    asyncio__http_stream_t *st = check_stream(handle);
    if (!st)
        return;
    if (st->reading) {
        asyncio__raise_code(ASYNCIO_ERUNTIME, "cannot close an HTTP stream a task is reading");
        return;
    }
    stream_free(st);
}

void asyncio__http_stream_stats(asyncio_http_stream_t *handle, size_t *bytes, long *pauses)
{
    asyncio__http_stream_t *st = asyncio__handle_get(handle, ASYNCIO__H_HTTP_STREAM);
    *bytes = st->fill_cap + st->give_cap;
    *pauses = st->pauses;
}
