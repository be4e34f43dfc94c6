/*
 * libFuzzer target: an arbitrary byte stream, split at arbitrary points,
 * fed into a StreamReader (a stream without a transport) while a task
 * reads it back with an arbitrary sequence of readline, readuntil,
 * readexactly and read calls.
 *
 * Input layout: byte 0 picks the reader's limit, byte 1 how many bytes of
 * the input are the script (the rest is the stream).  Each script byte is
 * an operation; the stream is fed in chunks whose sizes come from the
 * script too.  Checked: no crash, no leak, what the reader got is
 * exactly the stream, in order, except what readline drops on purpose,
 * and every read left a NUL after what it stored when there was room.
 */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz {
    const uint8_t *script, *data;
    size_t nscript, ndata;
    asyncio_stream_t *s;
    uint8_t *got; /* what the reader received */
    size_t ngot;
    bool dropped; /* readline dropped an over-long line: no comparison */
} fuzz_t;

static void *feeder(void *arg)
{
    fuzz_t *f = arg;
    size_t off = 0, i = 0;
    while (off < f->ndata) {
        size_t step = f->nscript ? (size_t)(f->script[i++ % f->nscript] % 17) + 1 : f->ndata;
        if (step > f->ndata - off)
            step = f->ndata - off;
        if (asyncio__stream_feed_data(f->s, f->data + off, step))
            abort();
        off += step;
        if (asyncio_sleep(0))
            return NULL;
    }
    asyncio__stream_feed_eof(f->s);
    return NULL;
}

static void keep(fuzz_t *f, const char *p, size_t n)
{
    memcpy(f->got + f->ngot, p, n);
    f->ngot += n;
}

static void *reader(void *arg)
{
    fuzz_t *f = arg;
    char buf[512];
    size_t n, idle = 0;
    for (size_t i = 0; !asyncio_stream_at_eof(f->s); i++) {
        uint8_t op = f->nscript ? f->script[i % f->nscript] : 0;
        size_t want = (size_t)(op >> 2) % sizeof buf;
        int rc;
        size_t cap; /* what the call may fill: a NUL follows what it got below that */
        switch (op & 3) {
        case 0:
            /* cap 2 at least: a newline and the NUL (cap 1 is refused). */
            rc = asyncio_stream_readline(f->s, buf, cap = want + 2, &n);
            if (rc == ASYNCIO_EVALUE) {
                f->dropped = true;
                asyncio_error_clear();
                continue;
            }
            break;
        case 1: {
            char sep[2] = {(char)op, '\n'};
            rc = asyncio_stream_readuntil(f->s, sep, 1 + (op & 4 ? 1 : 0), buf, cap = sizeof buf,
                                          &n);
            break;
        }
        case 2:
            rc = asyncio_stream_readexactly(f->s, buf, cap = want, &n);
            break;
        default:
            rc = asyncio_stream_read(f->s, buf, cap = want + 1, &n);
            break;
        }
        if (rc == ASYNCIO_EINCOMPLETEREAD)
            n = (size_t)asyncio_error()->detail; /* the partial, in buf */
        if (rc == 0 || rc == ASYNCIO_EINCOMPLETEREAD) {
            if (n > cap || (n < cap && buf[n] != '\0'))
                abort();
            keep(f, buf, n);
            asyncio_error_clear();
            /* readexactly(0) and friends take nothing: after a whole
             * script of them, a plain read makes progress. */
            if (n == 0 && ++idle > f->nscript) {
                idle = 0;
                if (asyncio_stream_read(f->s, buf, sizeof buf, &n))
                    abort();
                keep(f, buf, n);
            } else if (n) {
                idle = 0;
            }
        } else if (rc == ASYNCIO_ELIMITOVERRUN) {
            asyncio_error_clear(); /* the data stays: read() takes it next */
            rc = asyncio_stream_read(f->s, buf, sizeof buf, &n);
            if (rc)
                abort();
            keep(f, buf, n);
        } else {
            abort();
        }
    }
    return NULL;
}

static void *fuzz_main(void *arg)
{
    fuzz_t *f = arg;
    asyncio_future_t *t[2] = {asyncio_create_task(feeder, f), asyncio_create_task(reader, f)};
    if (!t[0] || !t[1] || asyncio_gather(t, 2, NULL, 0))
        abort();
    asyncio_decref(t[0]);
    asyncio_decref(t[1]);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_t f = {0};
    size_t limit = (size_t)data[0] % 64 + 1;
    f.nscript = data[1] < size - 2 ? data[1] : size - 2;
    f.script = data + 2;
    f.data = data + 2 + f.nscript;
    f.ndata = size - 2 - f.nscript;
    f.got = malloc(f.ndata + 1);
    asyncio_loop_t *loop = asyncio_loop_new();
    f.s = asyncio__stream_reader_new(loop, limit);
    asyncio_future_t *m = asyncio_create_task(fuzz_main, &f);
    if (asyncio_loop_run_until_complete(loop, m, NULL))
        abort();
    asyncio_decref(m);
    asyncio_stream_free(f.s);
    asyncio_loop_close(loop);
    if (f.ngot > f.ndata || (!f.dropped && (f.ngot != f.ndata || memcmp(f.got, f.data, f.ngot))))
        abort();
    free(f.got);
    return 0;
}
