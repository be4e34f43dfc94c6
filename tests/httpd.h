/*
 * A small HTTP/1.1 test server on its own thread and libuv loop, bound to
 * 127.0.0.1 on a free port.  Keep-alive; request bodies by Content-Length
 * or chunked.  Routes:
 *   /hello              200 "hello world"
 *   /echo               200: "METHOD TARGET\n", the request's header lines
 *                       ("Name: value\n"), "\n", then the request body
 *   /status/N           status N, body "status N"
 *   /redirect/N         302 to /redirect/N-1; /redirect/0 is 200 "done"
 *   /loop               302 to itself
 *   /to/LOCATION        302 to LOCATION, verbatim (one without spaces)
 *   /bytes/N            N bytes ('a' + i % 26) with Content-Length, written
 *                       as the client takes them (bounded server memory)
 *   /chunked/N          the same N bytes, chunked transfer encoding
 *   /headers            repeated headers (Set-Cookie, X-Multi twice)
 *   /delay/MS           200 "late" after MS milliseconds
 *   /slowheaders/MS     the same (the status line comes late too)
 *   /slowbody/MS        headers at once, then the 10-byte body after MS
 *   /reset              promises 1000000 bytes, sends 1000, then resets
 *   /conn               body: the serial number of the connection
 *   /resetearly         reads the request, then resets without a byte
 *   /badlength          a 200 whose Content-Length is negative
 * Asked as a proxy ("GET http://host/path"), it answers for the path;
 * /echo then shows the absolute target.
 */
#ifndef CASYNCIO_HTTPD_H
#define CASYNCIO_HTTPD_H

#include <stddef.h>
#include <stdint.h>

typedef struct httpd httpd_t;

/* Starts the server (aborts the test on failure). */
httpd_t *httpd_start(void);

/* Modes of httpd_start_ex: the server closes the connection once a
 * response is written, without announcing it, after every response or
 * after every 3xx (as servers that close on redirects do).  A client that
 * reuses the connection meets a FIN or a reset. */
enum { HTTPD_CLOSE_EACH = 1, HTTPD_CLOSE_3XX = 2 };
httpd_t *httpd_start_ex(int flags);
/* "http://127.0.0.1:PORT" + path, in a static buffer per call site's
 * choosing: writes into buf (size >= 128). */
const char *httpd_url(httpd_t *h, const char *path, char *buf, size_t size);
int httpd_port(httpd_t *h);
/* Connections accepted so far. */
long httpd_connections(httpd_t *h);
/* Stops the server, closes every connection, frees it. */
void httpd_stop(httpd_t *h);

#endif
