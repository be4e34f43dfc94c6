/*
 * casyncio/net.h: Addresses and DNS, transports and protocols, streams, servers,
 * datagram endpoints.
 *
 * Part of the specification that <casyncio.h> assembles: include
 * <casyncio.h>, not this file.  The conventions its comments use are at
 * the top of <casyncio.h>.
 */
#ifndef CASYNCIO_NET_H
#define CASYNCIO_NET_H

#ifndef CASYNCIO_H
#error "include <casyncio.h>, not <casyncio/net.h>"
#endif

/* ======================================================================
 * 8. Streams, transports and protocols, DNS
 * ====================================================================== */

/*
 * Streams (asyncio.open_connection / start_server, StreamReader and
 * StreamWriter in one object), transports and protocols (the callback API:
 * loop.create_connection / create_server), over TCP and Unix sockets;
 * datagram endpoints (loop.create_datagram_endpoint) over UDP and Unix
 * datagram sockets; DNS.
 *
 * One object, asyncio_stream_t, is Python's (reader, writer) pair: the
 * read functions are StreamReader's, the others StreamWriter's.  Streams
 * are built on transports: every stream has one (asyncio_stream_transport).
 *
 * Handles.  Streams, transports and servers are handles (see "Handles"
 * in <casyncio.h>): what a constructor's out-parameter, a handler, a
 * protocol callback or a getter is given is the handle, and a handle is
 * live until its object is freed, never after.
 *
 * Ownership.  A stream from asyncio_open_connection* is the caller's: free
 * it with asyncio_stream_free (which closes it if needed; the memory goes
 * once the socket is closed; the handle at once).  A stream given to a
 * server's handler belongs to the server: it is closed and freed when the
 * handler's task ends.  A transport belongs to the library and lives
 * until its protocol's connection_lost has returned (or, under a stream,
 * until the stream is freed).  Servers are the caller's: free them with
 * asyncio_server_free.  Closing a loop closes every stream, transport and
 * server of it still open and frees what the library owns (transports,
 * servers' streams); the caller's streams and servers keep their memory
 * until the caller frees them, as usual (as a process or an HTTP session):
 * free them all the same, before or after the loop closed.
 *
 * After the free.  A handle that is no longer live is refused without
 * reaching any memory: ValueError "not a live stream (freed, or never
 * one)" (or transport, server) from the calls that raise; the calls that
 * cannot (close, is_closing, is_reading, pause/resume_reading, the
 * getters) do nothing and answer false, 0 or NULL.  One exception, kept
 * from Python, where a StreamWriter outlives its connection as a closed
 * object: a stream whose handle is no longer live is a closed writer to
 * the writer's calls.  write and writelines drop the data (returning 0
 * once their arguments are checked), write_eof and close do nothing,
 * is_closing is true, drain raises ConnectionResetError("Connection
 * lost"), wait_closed returns 0.  So a handler may keep another client's
 * stream (a chat server's broadcast list) and write to it after that
 * client's handler returned; the reader's calls, peername/sockname,
 * transport and asyncio_stream_free refuse it (ValueError).
 *
 * Out-parameters are NULL, 0, an empty string or a zeroed address after
 * any failure (see <casyncio.h>).
 *
 * Bytes are copied: write functions copy what they are given; read
 * functions fill the caller's buffer and NUL-terminate what they stored
 * when there is room (readline and readuntil always: they store at most
 * cap - 1 bytes).  The bytes may contain NULs: the lengths count them.
 */


/* The StreamReader's default limit and the default high-water mark of
 * writes (the low-water mark defaults to a quarter of the high one). */
#define ASYNCIO_STREAM_LIMIT ((size_t)64 * 1024)
#define ASYNCIO_WRITE_HIGH_WATER ((size_t)64 * 1024)

/* --- TLS contexts (Python's ssl.SSLContext)
 *
 * A context holds what TLS connections share: certificates, CA locations,
 * verification rules, ALPN protocols, versions, ciphers.  It is a handle,
 * reference counted: asyncio_ssl_create_default_context and
 * asyncio_ssl_context_new return a new reference, asyncio_ssl_context_decref
 * drops one (the last frees it; NULL is harmless).  Connections and
 * servers keep their own reference while they need it.  The reference
 * counting is thread-safe, and a configured context may be shared by loops
 * in several threads; configure it (the _set and _load calls) before its
 * first use and from one thread.
 *
 * Failures raise SSLError (an OSError; ASYNCIO_ESSL) naming the file and
 * OpenSSL's reason ("[SSL: PEM_LIB] PEM lib: 'cert.pem'"), OSError for a
 * file that cannot be read ("[Errno 2] No such file or directory:
 * 'missing.pem'"), ValueError for a bad argument.  The context's SSL_CTX
 * is reachable for anything not wrapped (asyncio_ssl_context_ssl_ctx).
 */

/* ssl.Purpose: what the context authenticates.  SERVER_AUTH: a client's
 * context, which checks the server; CLIENT_AUTH: a server's. */
enum asyncio_ssl_purpose { ASYNCIO_SSL_SERVER_AUTH, ASYNCIO_SSL_CLIENT_AUTH };

/* ssl.CERT_NONE / CERT_OPTIONAL / CERT_REQUIRED. */
enum asyncio_ssl_verify {
    ASYNCIO_SSL_CERT_NONE,
    ASYNCIO_SSL_CERT_OPTIONAL,
    ASYNCIO_SSL_CERT_REQUIRED
};

/* ssl.TLSVersion: minimum and maximum versions (0: OpenSSL's own bound). */
enum asyncio_tls_version {
    ASYNCIO_TLS_VERSION_DEFAULT = 0,
    ASYNCIO_TLS_VERSION_1_2 = 0x0303,
    ASYNCIO_TLS_VERSION_1_3 = 0x0304
};

/* ssl.create_default_context(purpose).  SERVER_AUTH (a client's context):
 * CERT_REQUIRED, check_hostname on, the system's CA store, TLS 1.2 at
 * least.  CLIENT_AUTH (a server's context): CERT_NONE (no client
 * certificate asked for), check_hostname off, TLS 1.2 at least; load its
 * certificate chain before use.  New reference; NULL and SSLError or
 * MemoryError on failure. */
ASYNCIO_EXTERN asyncio_ssl_context_t *
asyncio_ssl_create_default_context(enum asyncio_ssl_purpose purpose);

/* ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT / PROTOCOL_TLS_SERVER): as
 * create_default_context but with no CA loaded (a client's then trusts
 * nothing until asyncio_ssl_context_load_verify_locations). */
ASYNCIO_EXTERN asyncio_ssl_context_t *asyncio_ssl_context_new(enum asyncio_ssl_purpose purpose);

ASYNCIO_EXTERN asyncio_ssl_context_t *asyncio_ssl_context_incref(asyncio_ssl_context_t *ctx);
ASYNCIO_EXTERN void asyncio_ssl_context_decref(asyncio_ssl_context_t *ctx);

/* ctx.load_cert_chain(certfile, keyfile, password): the certificate chain
 * (PEM) and its private key (keyfile NULL: in certfile), decrypted with
 * password when it is encrypted.  Raises SSLError (a key that does not
 * match the certificate: "[X509: KEY_VALUES_MISMATCH] key values
 * mismatch"; a wrong password), OSError (a file that cannot be read),
 * ValueError (ctx or certfile NULL). */
ASYNCIO_EXTERN int asyncio_ssl_context_load_cert_chain(asyncio_ssl_context_t *ctx,
                                                       const char *certfile, const char *keyfile,
                                                       const char *password);

/* ctx.load_verify_locations(cafile, capath): trusted CA certificates from
 * a PEM file and/or a hashed directory (one may be NULL, not both). */
ASYNCIO_EXTERN int asyncio_ssl_context_load_verify_locations(asyncio_ssl_context_t *ctx,
                                                             const char *cafile,
                                                             const char *capath);

/* ctx.load_default_certs(): the system's CA store. */
ASYNCIO_EXTERN int asyncio_ssl_context_load_default_certs(asyncio_ssl_context_t *ctx);

/* ctx.verify_mode = mode.  As Python: CERT_NONE while check_hostname is on
 * raises ValueError ("Cannot set verify_mode to CERT_NONE when
 * check_hostname is enabled.").  A server asks for a client certificate
 * with CERT_OPTIONAL and requires one with CERT_REQUIRED (mutual TLS). */
ASYNCIO_EXTERN int asyncio_ssl_context_set_verify_mode(asyncio_ssl_context_t *ctx,
                                                       enum asyncio_ssl_verify mode);

/* ctx.check_hostname = on.  Turning it on with CERT_NONE also turns
 * verify_mode to CERT_REQUIRED, as Python does. */
ASYNCIO_EXTERN int asyncio_ssl_context_set_check_hostname(asyncio_ssl_context_t *ctx, bool on);

/* ctx.set_alpn_protocols(protocols): n protocol names ("h2", "http/1.1"),
 * in order of preference; n 0 clears them.  ValueError for an empty name
 * or one longer than 255 bytes. */
ASYNCIO_EXTERN int asyncio_ssl_context_set_alpn_protocols(asyncio_ssl_context_t *ctx,
                                                          const char *const *protocols, size_t n);

/* ctx.minimum_version / maximum_version = version. */
ASYNCIO_EXTERN int asyncio_ssl_context_set_minimum_version(asyncio_ssl_context_t *ctx,
                                                           enum asyncio_tls_version version);
ASYNCIO_EXTERN int asyncio_ssl_context_set_maximum_version(asyncio_ssl_context_t *ctx,
                                                           enum asyncio_tls_version version);

/* ctx.set_ciphers(ciphers): OpenSSL's cipher list for TLS 1.2 and below
 * (TLS 1.3's suites are OpenSSL's defaults).  SSLError "No cipher can be
 * selected." when nothing matches. */
ASYNCIO_EXTERN int asyncio_ssl_context_set_ciphers(asyncio_ssl_context_t *ctx, const char *ciphers);

/* The context's OpenSSL SSL_CTX, for what this API does not wrap (as
 * curl's CURLOPT_SSL_CTX_FUNCTION gives it).  Borrowed: valid while the
 * context is; configure it before the first connection.  NULL for a handle
 * that is not a live context. */
struct ssl_ctx_st;
ASYNCIO_EXTERN struct ssl_ctx_st *asyncio_ssl_context_ssl_ctx(asyncio_ssl_context_t *ctx);

/* Optional settings of connections and servers; NULL or zeroed fields mean
 * the defaults. */
typedef struct asyncio_stream_opts {
    size_t limit;    /* StreamReader limit (0: ASYNCIO_STREAM_LIMIT) */
    int backlog;     /* servers: listen() backlog (0: 100, as Python) */
    bool reuse_port; /* servers: SO_REUSEPORT (one loop per core on one port) */
    int family;      /* AF_INET / AF_INET6 / 0 (AF_UNSPEC): addresses to use */
    /* TLS (Python's ssl=, server_hostname=, ssl_handshake_timeout=,
     * ssl_shutdown_timeout=).  ssl NULL: plain.  The context is referenced
     * for as long as the connection or server needs it. */
    asyncio_ssl_context_t *ssl;
    const char *server_hostname; /* clients: the name sent (SNI) and checked;
                                    NULL: the host connected to */
    double ssl_handshake_timeout; /* seconds; 0: 60, as Python */
    double ssl_shutdown_timeout;  /* seconds; 0: 30, as Python */
    /* sock= (Python's open_connection(sock=s), create_connection,
     * start_server, create_server and their Unix forms): with use_sock
     * set, the connection or server is made on the descriptor `sock`, a
     * stream socket the caller made (connected for a connection; bound,
     * listening or not, for a server: it is listened on with the
     * backlog), instead of an address: host must be NULL, port 0, path
     * NULL ("host/port and sock can not be specified at the same time").
     * A Unix form wants an AF_UNIX socket.  The socket is made
     * non-blocking.  Ownership, a C rule: the call takes the socket over
     * whatever happens: the connection (or server) closes it when it
     * closes, and a call that fails has closed it already, even for a
     * bad argument (Python leaves it open when it refuses it with
     * ValueError) -- the caller never closes it after the call.  The one
     * exception is a descriptor the loop already watches (RuntimeError:
     * another handle owns it), left alone.  Zeroed options mean no socket:
     * use_sock false (0 is a descriptor like any other). */
    bool use_sock;
    int sock;
} asyncio_stream_opts_t;

/* A socket address as Python's get_extra_info('peername'/'sockname') gives
 * it: (host, port) for TCP, the path for a Unix socket (port 0). */
typedef struct asyncio_sockaddr {
    int family; /* AF_INET, AF_INET6 or AF_UNIX */
    int port;
    char host[128]; /* numeric address, or the socket's path */
} asyncio_sockaddr_t;

/* --- Streams: opening */

/* `reader, writer = await asyncio.open_connection(host, port)`.  Resolves
 * host (asyncio_getaddrinfo) and tries every address in turn until one
 * connects.  Suspends.  New: *stream is the caller's (asyncio_stream_free);
 * NULL after a failure.  Raises, when no address connects, their error if
 * they all failed alike (ConnectionRefusedError "[Errno 111] Connect call
 * failed ('127.0.0.1', 8888)", ...), else OSError ("Multiple exceptions:
 * ..."), as Python; socket.gaierror as OSError for a name that does not resolve,
 * CancelledError (the connection attempt is abandoned and its socket
 * closed), ValueError (host NULL, port outside 0..65535, stream NULL),
 * RuntimeError (outside a task), MemoryError. */
ASYNCIO_EXTERN int asyncio_open_connection(const char *host, int port,
                                           const asyncio_stream_opts_t *opts,
                                           asyncio_stream_t **stream);

/* `await asyncio.open_unix_connection(path)`.  As above; a failed connect
 * raises the system's error with the path ("[Errno 2] No such file or
 * directory: '/x'"), ValueError for path NULL. */
ASYNCIO_EXTERN int asyncio_open_unix_connection(const char *path, const asyncio_stream_opts_t *opts,
                                                asyncio_stream_t **stream);

/* A server's client_connected_cb: runs as a task per connection (a
 * coroutine: it may suspend).  The stream is borrowed: the server closes
 * and frees it when the function returns, and its handle is no longer
 * live from then on.  Other tasks it handed the stream to and that are
 * inside a call on it then (read, drain, wait_closed, ...) come back with
 * EOF or the connection's error; a task that kept the handle (another
 * client's handler broadcasting to it) holds a closed writer from then on
 * (see "After the free" above): its writes are dropped, its reads refused.
 * An exception the handler leaves raised (other than CancelledError) is
 * reported to the loop's exception handler and the connection closed, as
 * Python does.  Python leaves the connection of a handler that returns
 * without closing its writer open until the writer is collected; here it
 * closes when the handler returns. */
typedef void *(*asyncio_stream_handler_fn)(asyncio_stream_t *stream, void *arg);

/* `server = await asyncio.start_server(handler, host, port)`: listens on
 * every address host resolves to (host NULL: all interfaces, IPv4 and
 * IPv6; port 0: a free port, see asyncio_server_sockname) and runs
 * handler(stream, arg) as a new task for each connection.  Serving starts
 * at once.  Each handler task runs in a copy of the context current when
 * the server was made (Python accepts in a Handle made then), whatever
 * the handlers of other connections set.  With opts->ssl (a CLIENT_AUTH
 * context), each connection's TLS handshake ends before its handler
 * starts; a failed handshake drops the connection and, as in Python 3.11,
 * is reported to the exception handler only in debug mode ("Error on
 * transport creation for incoming connection"), unless it is not an
 * OSError ("SSL handshake failed").
 * Suspends (to resolve host).  New: *server is the caller's;
 * NULL after a failure.  Raises OSError (address in use: "[Errno 98] error
 * while attempting to bind on address ('127.0.0.1', 8888): address already
 * in use", ...), ValueError (handler NULL, port outside 0..65535, server
 * NULL, backlog < 0), CancelledError, RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_start_server(asyncio_stream_handler_fn handler, void *arg,
                                        const char *host, int port,
                                        const asyncio_stream_opts_t *opts,
                                        asyncio_server_t **server);

/* `await asyncio.start_unix_server(handler, path)`.  A socket file
 * already at path is removed first, as Python does (even one a live
 * server listens on: that server no longer gets connections); any other
 * file there makes it fail with OSError ("[Errno 98] Address '/p' is
 * already in use").  The socket file is left behind at close (Python
 * 3.11).  As above; ValueError for path NULL. */
ASYNCIO_EXTERN int asyncio_start_unix_server(asyncio_stream_handler_fn handler, void *arg,
                                             const char *path, const asyncio_stream_opts_t *opts,
                                             asyncio_server_t **server);

/* --- Streams: reading (StreamReader).  An error the connection ended with
 * (ConnectionResetError, ...) is raised by every read from then on, even
 * with data still buffered, as in Python.  Only one task may read at a
 * time: a second concurrent reader raises RuntimeError.  On a closed
 * stream reads return what is buffered, then EOF.  A failing read sets
 * its count (*nread, *len) to 0, and the first byte of buf (when cap or n
 * is not 0) is a NUL unless it stored a partial, which is terminated
 * too. */

/* `data = await reader.read(n)`: waits until at least one byte is buffered
 * or EOF, then copies up to n bytes into buf, followed by a NUL when fewer
 * than n came; *nread 0 means EOF (or n was 0, which returns at once).
 * Suspends.  Raises the connection's error, CancelledError (nothing
 * consumed), ValueError (stream NULL or not live, buf NULL), RuntimeError
 * (outside a task, another task reading). */
ASYNCIO_EXTERN int asyncio_stream_read(asyncio_stream_t *stream, void *buf, size_t n,
                                       size_t *nread);

/* `data = await reader.read()` (n = -1): reads until EOF into a new buffer
 * *data (free it with asyncio_buffer_free), *len bytes, with a NUL after
 * them.  *data NULL and *len 0 after a failure.  Errors as
 * asyncio_stream_read, ValueError (data NULL), MemoryError. */
ASYNCIO_EXTERN int asyncio_stream_read_all(asyncio_stream_t *stream, char **data, size_t *len);

/* `data = await reader.readexactly(n)`: fills buf with exactly n bytes
 * (no NUL: buf is n bytes).  Suspends.  At EOF first: IncompleteReadError
 * (EOFError), with the partial bytes consumed and left in buf,
 * NUL-terminated, and their count in the error's detail (Python's
 * len(e.partial): the error object cannot carry bytes); *nread is 0, as
 * after any failure.  Otherwise as asyncio_stream_read. */
ASYNCIO_EXTERN int asyncio_stream_readexactly(asyncio_stream_t *stream, void *buf, size_t n,
                                              size_t *nread);

/* `data = await reader.readuntil(separator)`: waits until sep is buffered,
 * then copies the data up to and including it into buf (*len bytes),
 * followed by a NUL, and consumes it.  The limit is the stream's
 * (opts.limit), lowered to cap - 1 - seplen so that the chunk and its NUL
 * always fit buf: at most cap - 1 bytes are stored.  Suspends.  Raises
 * LimitOverrunError (separator not found within the limit, or found
 * beyond it; the data stays buffered, as in Python: read it with read();
 * the error's detail is Python's `consumed`), IncompleteReadError (EOF
 * before the separator: the whole buffer is the partial, consumed into
 * buf and NUL-terminated, its size the error's detail; *len is 0),
 * ValueError (empty or NULL separator, buf NULL, cap 0, cap <= seplen:
 * no room for the separator and the NUL), and the errors of read. */
ASYNCIO_EXTERN int asyncio_stream_readuntil(asyncio_stream_t *stream, const void *sep,
                                            size_t seplen, void *buf, size_t cap, size_t *len);

/* `line = await reader.readline()`: readuntil(b"\n"), except that EOF
 * returns the partial line (*len 0 at EOF), and an over-long line (more
 * than cap - 1 bytes with its newline, or over the stream's limit) is
 * consumed (up to its newline, or the whole buffer if none) and raises
 * ValueError, as Python does.  What it stores is always a C string; cap
 * must be 2 at least (ValueError).  Suspends. */
ASYNCIO_EXTERN int asyncio_stream_readline(asyncio_stream_t *stream, void *buf, size_t cap,
                                           size_t *len);

/* reader.at_eof(): EOF was received and the buffer is empty (false for a
 * handle that is not live). */
ASYNCIO_EXTERN bool asyncio_stream_at_eof(asyncio_stream_t *stream);

/* --- Streams: writing (StreamWriter) */

/* writer.write(data): sends what the socket takes at once and buffers the
 * rest (copied).  Never suspends.  Writing after the peer went away, or to
 * a stream whose handle is no longer live (a closed writer, see "After the
 * free"), drops the data silently, as Python does (drain raises).  Raises
 * RuntimeError (after write_eof: "Cannot call write() after write_eof()";
 * C rule: after close, too: "Cannot call write() after close()"),
 * ValueError (stream NULL, data NULL with len > 0, more than 4 GiB in one
 * call), MemoryError. */
ASYNCIO_EXTERN int asyncio_stream_write(asyncio_stream_t *stream, const void *data, size_t len);

/* writer.writelines(): write of n buffers in order; every one is checked
 * before any is written (ValueError also for data or lens NULL). */
ASYNCIO_EXTERN int asyncio_stream_writelines(asyncio_stream_t *stream, const void *const *data,
                                             const size_t *lens, size_t n);

/* `await writer.drain()`: returns at once while the write buffer is at or
 * below the high-water mark, else suspends until it drains to the low one.
 * Several tasks may drain at once (Python 3.12).  Raises the connection's
 * error, ConnectionResetError ("Connection lost") once the connection is
 * gone (and on a stream whose handle is no longer live), CancelledError
 * (the data stays queued), RuntimeError (outside a task, a stream without
 * a transport), ValueError (stream NULL). */
ASYNCIO_EXTERN int asyncio_stream_drain(asyncio_stream_t *stream);

/* writer.write_eof(): shuts the sending side down once the buffered data
 * is sent (half-close); reading goes on.  Does not suspend.  Calling it
 * again is harmless, and so is calling it on a stream whose handle is no
 * longer live.  Over TLS it sends close_notify (Python raises
 * NotImplementedError there): a peer that supports TLS half-close can
 * still answer, but most (Python's asyncio, casyncio itself) shut down on
 * close_notify, so their answers are dropped.  Raises RuntimeError after
 * your close() ("Cannot call write_eof() after close()"), ValueError
 * (stream NULL). */
ASYNCIO_EXTERN int asyncio_stream_write_eof(asyncio_stream_t *stream);

/* writer.can_write_eof(): true for TCP and Unix sockets, with or without
 * TLS (false for a handle no longer live). */
ASYNCIO_EXTERN bool asyncio_stream_can_write_eof(asyncio_stream_t *stream);

/* writer.close(): sends what is buffered, then closes the socket.  Does not
 * suspend.  Calling it again is harmless.  Tasks blocked in read see EOF;
 * in drain, ConnectionResetError. */
ASYNCIO_EXTERN void asyncio_stream_close(asyncio_stream_t *stream);

/* writer.is_closing(): close() was called or the connection is gone (true
 * for a handle no longer live). */
ASYNCIO_EXTERN bool asyncio_stream_is_closing(asyncio_stream_t *stream);

/* `await writer.wait_closed()`: suspends until the socket is closed (any
 * number of tasks may wait); returns 0 at once for a stream whose handle
 * is no longer live.  Raises the error the connection ended with, if any
 * (Python 3.11), CancelledError, RuntimeError, ValueError (stream NULL). */
ASYNCIO_EXTERN int asyncio_stream_wait_closed(asyncio_stream_t *stream);

/* Releases the caller's stream (from asyncio_open_connection*): closes it
 * if needed (buffered data is still sent), the memory goes once the socket
 * is closed, the handle (and its transport's) at once.  Also after its
 * loop closed (which closed it but left the memory to this call).  Refused
 * (RuntimeError, nothing freed) while a task waits on it, and for a stream
 * a server owns; ValueError for a handle no longer live (a double free).
 * NULL is harmless. */
ASYNCIO_EXTERN void asyncio_stream_free(asyncio_stream_t *stream);

/* get_extra_info('peername') / ('sockname').  *addr is zeroed after a
 * failure.  Raises OSError (not connected, closed: UV_ENOTCONN / UV_EBADF
 * "[Errno 9] Bad file descriptor"), ValueError (stream NULL or not live:
 * Python's closed writer still answers from its cache), RuntimeError (no
 * transport). */
ASYNCIO_EXTERN int asyncio_stream_peername(asyncio_stream_t *stream, asyncio_sockaddr_t *addr);
ASYNCIO_EXTERN int asyncio_stream_sockname(asyncio_stream_t *stream, asyncio_sockaddr_t *addr);

/* writer.transport: the stream's transport (borrowed; for buffer sizes and
 * water marks).  Its handle goes with the stream's.  Its user pointer is
 * the stream's own: asyncio_transport_get_user answers NULL, and
 * asyncio_transport_set_user raises RuntimeError.  NULL with ValueError
 * for a stream NULL or not live, RuntimeError without a transport. */
ASYNCIO_EXTERN asyncio_transport_t *asyncio_stream_transport(asyncio_stream_t *stream);

/* Frees a buffer the library allocated for the caller (read_all).  NULL is
 * harmless. */
ASYNCIO_EXTERN void asyncio_buffer_free(void *buf);

/* `await writer.start_tls(sslcontext, server_hostname=...,
 * ssl_handshake_timeout=...)` (3.11): upgrades the connection to TLS in
 * place (STARTTLS): drains the writer, then runs the handshake on the
 * same stream, the client side for a stream from asyncio_open_connection,
 * the server side for a server's.  Reading and writing go on over TLS
 * with the same handle.  The bytes the peer sent that the reader had not
 * consumed yet (a TLS ClientHello sent right after the plaintext command)
 * are handed to the handshake, not lost (Python's reader keeps them as
 * plaintext).  ctx is referenced while the connection lives.  opts (NULL
 * for the defaults): server_hostname (a client's: the name sent and
 * checked; required while the context checks host names: start_tls does
 * not take the host connected to, and where Python 3.11 then goes on
 * without checking any name, this raises ValueError), ssl_handshake_timeout,
 * ssl_shutdown_timeout; opts->ssl is NULL or ctx.  Suspends.  Raises the
 * handshake's errors as asyncio_open_connection (SSLError,
 * SSLCertVerificationError, ConnectionAbortedError for the handshake
 * timeout, ConnectionResetError "Connection lost" for a closed
 * connection), after which the connection is closed; CancelledError (the
 * connection is closed: a half-done handshake cannot be resumed);
 * ValueError (stream or ctx NULL or not live, a client's context on a
 * server's stream or the reverse, "check_hostname requires
 * server_hostname", negative timeouts), RuntimeError (outside a task, the
 * stream already speaks TLS, another task is reading, no transport). */
ASYNCIO_EXTERN int asyncio_stream_start_tls(asyncio_stream_t *stream, asyncio_ssl_context_t *ctx,
                                            const asyncio_stream_opts_t *opts);

/* --- Transports and protocols (the callback API)
 *
 * A protocol is a table of callbacks; every callback gets the transport's
 * handle and its user pointer (asyncio_transport_get_user; a server's arg
 * until connection_made sets another one).  Callbacks run on the loop, from
 * libuv's I/O callbacks, with two exceptions that Python shares:
 * pause_writing may be called inside asyncio_transport_write (and
 * set_write_buffer_limits) when the buffer goes above the high-water
 * mark, and create_connection calls connection_made in the connecting
 * task before it returns.  connection_lost always comes from the loop,
 * after the socket is closed, also when the loop closes with the
 * transport open (the last chance to free the user's state).  Any
 * callback may be NULL.  They must not suspend.  data is borrowed for the
 * call only, and has a NUL after its len bytes.  An error a callback
 * leaves raised is reported to the loop's
 * exception handler; from data_received or eof_received it is also, as in
 * Python, a fatal error of the transport: closed at once, connection_lost
 * gets it.
 *
 * Contexts (contextvars), as Python's loop: the callbacks run outside any
 * task (asyncio_current_task() is NULL in them, also in the
 * connection_made that runs before create_connection returns).
 * connection_made runs in a copy of the context current when the
 * transport was made (a server's connection: the server's, see
 * asyncio_start_server), used once; data_received, eof_received and
 * resume_writing in one copy kept for the transport, so that what one
 * call sets the next sees; connection_lost after asyncio_transport_close
 * or _abort in a copy of the closer's context, else in the transport's.
 * pause_writing, called inside a write, runs in the writer's context and
 * task. */
typedef struct asyncio_protocol {
    void (*connection_made)(asyncio_transport_t *t, void *user);
    void (*data_received)(asyncio_transport_t *t, const char *data, size_t len, void *user);
    /* Returns true to keep the transport open (half-closed); false (or a
     * NULL callback) closes it, as Python's None. */
    bool (*eof_received)(asyncio_transport_t *t, void *user);
    /* exc NULL: closed normally (close, abort, EOF); else the error
     * (ConnectionResetError, ...), borrowed for the call.  The last
     * callback: the transport is freed when it returns, and its handle
     * is no longer live. */
    void (*connection_lost)(asyncio_transport_t *t, const asyncio_error_t *exc, void *user);
    /* The write buffer went above the high-water mark / back to the low. */
    void (*pause_writing)(asyncio_transport_t *t, void *user);
    void (*resume_writing)(asyncio_transport_t *t, void *user);
} asyncio_protocol_t;

/* `transport, protocol = await loop.create_connection(factory, host, port)`:
 * connects as asyncio_open_connection does, then calls
 * proto->connection_made and returns.  proto must outlive the transport.
 * Suspends.  *transport is borrowed (see the ownership rules above); NULL
 * after a failure.  Raises as asyncio_open_connection (ValueError for
 * proto or transport NULL). */
ASYNCIO_EXTERN int asyncio_create_connection(const asyncio_protocol_t *proto, void *user,
                                             const char *host, int port,
                                             const asyncio_stream_opts_t *opts,
                                             asyncio_transport_t **transport);
ASYNCIO_EXTERN int asyncio_create_unix_connection(const asyncio_protocol_t *proto, void *user,
                                                  const char *path,
                                                  const asyncio_stream_opts_t *opts,
                                                  asyncio_transport_t **transport);

/* `server = await loop.create_server(factory, host, port)`: as
 * asyncio_start_server, but each connection gets a transport driving
 * proto (user is the server's arg; connection_made may set its own), no
 * task.  Each connection's protocol starts from the context current when
 * the server was made (see asyncio_protocol_t).  Suspends. */
ASYNCIO_EXTERN int asyncio_create_server(const asyncio_protocol_t *proto, void *arg,
                                         const char *host, int port,
                                         const asyncio_stream_opts_t *opts,
                                         asyncio_server_t **server);
ASYNCIO_EXTERN int asyncio_create_unix_server(const asyncio_protocol_t *proto, void *arg,
                                              const char *path, const asyncio_stream_opts_t *opts,
                                              asyncio_server_t **server);

/* transport.write(data): as asyncio_stream_write (pause_writing is called
 * when the buffer goes above the high-water mark).  Never suspends.
 * ValueError for a transport NULL or no longer live (and for the write's
 * arguments). */
ASYNCIO_EXTERN int asyncio_transport_write(asyncio_transport_t *t, const void *data, size_t len);
ASYNCIO_EXTERN int asyncio_transport_writelines(asyncio_transport_t *t, const void *const *data,
                                                const size_t *lens, size_t n);

/* transport.write_eof(): as asyncio_stream_write_eof. */
ASYNCIO_EXTERN int asyncio_transport_write_eof(asyncio_transport_t *t);

/* transport.close(): stops reading, sends what is buffered, closes;
 * connection_lost(NULL) follows from the loop.  Harmless when repeated,
 * and on a handle no longer live. */
ASYNCIO_EXTERN void asyncio_transport_close(asyncio_transport_t *t);

/* transport.abort(): closes at once, dropping buffered data;
 * connection_lost(NULL) follows from the loop. */
ASYNCIO_EXTERN void asyncio_transport_abort(asyncio_transport_t *t);

/* transport.is_closing(); true for a handle no longer live. */
ASYNCIO_EXTERN bool asyncio_transport_is_closing(asyncio_transport_t *t);

/* transport.pause_reading() / resume_reading() / is_reading(): no
 * data_received between pause and resume.  Harmless when repeated, on a
 * closing transport and on a handle no longer live. */
ASYNCIO_EXTERN void asyncio_transport_pause_reading(asyncio_transport_t *t);
ASYNCIO_EXTERN void asyncio_transport_resume_reading(asyncio_transport_t *t);
ASYNCIO_EXTERN bool asyncio_transport_is_reading(asyncio_transport_t *t);

/* transport.get_write_buffer_size(): bytes written but not yet taken by
 * the kernel. */
ASYNCIO_EXTERN size_t asyncio_transport_get_write_buffer_size(asyncio_transport_t *t);

/* transport.set_write_buffer_limits(high, low), 0 standing for Python's
 * None: high defaults to 4 * low, or 64 KiB without low; low to high / 4.
 * ValueError unless low <= high, or for a handle no longer live.  May call
 * pause_writing at once (as Python), resume_writing later.  get sets both
 * to 0 for a handle no longer live. */
ASYNCIO_EXTERN int asyncio_transport_set_write_buffer_limits(asyncio_transport_t *t, size_t high,
                                                             size_t low);
ASYNCIO_EXTERN void asyncio_transport_get_write_buffer_limits(asyncio_transport_t *t, size_t *high,
                                                              size_t *low);

/* `transport = await loop.start_tls(transport, protocol, sslcontext,
 * server_side=...)`: upgrades an open plain transport to TLS in place and
 * suspends until the handshake ends.  Python returns a new transport and
 * the old one must no longer be used; here the handle stays the same, as
 * do its protocol and user pointer, and connection_made is not called
 * again.  Writes made while the handshake runs are sent once it is done;
 * data_received resumes with plaintext.  A pause_reading in effect stays
 * in effect.  server_side: the side this end takes (a context of that
 * side, CLIENT_AUTH for a server).  opts as asyncio_stream_start_tls.
 * Raises as asyncio_stream_start_tls (ValueError for a transport NULL or
 * not live); on a failure or a cancellation the transport is closed
 * (connection_lost follows), as Python closes it. */
ASYNCIO_EXTERN int asyncio_start_tls(asyncio_transport_t *transport, asyncio_ssl_context_t *ctx,
                                     bool server_side, const asyncio_stream_opts_t *opts);

/* --- TLS connections: what get_extra_info gives ('ssl_object',
 * 'peercert', 'cipher') */

/* The negotiated parameters of a TLS connection (SSLObject.version(),
 * cipher(), selected_alpn_protocol(), session_reused).  The strings are
 * OpenSSL's constants: valid for the life of the program. */
typedef struct asyncio_ssl_info {
    const char *version;       /* "TLSv1.3", "TLSv1.2"; NULL: a plain connection */
    const char *cipher;        /* "TLS_AES_256_GCM_SHA384" (cipher()[0]) */
    int cipher_bits;           /* cipher()[2] */
    char alpn_protocol[256];   /* "" when none was agreed */
    bool session_reused;       /* the client resumed an earlier session */
} asyncio_ssl_info_t;

/* Fills *info for a transport that speaks TLS (a stream's: see
 * asyncio_stream_transport); a plain one gets it zeroed (version NULL)
 * and 0, as get_extra_info('ssl_object') answers None.  While the
 * handshake runs the fields describe what is agreed so far.  Does not
 * suspend.  Raises ValueError (transport or info NULL, a handle no longer
 * live; *info zeroed). */
ASYNCIO_EXTERN int asyncio_transport_ssl_info(asyncio_transport_t *transport,
                                              asyncio_ssl_info_t *info);

/* get_extra_info('ssl_object'): the connection's SSL (borrowed: valid
 * until connection_lost; do not free it, do not read or write through it,
 * which would bypass the transport), for what the other calls do not
 * give.  NULL for a plain connection, and with ValueError raised for a
 * transport NULL or not live. */
struct ssl_st;
ASYNCIO_EXTERN struct ssl_st *asyncio_transport_ssl_object(asyncio_transport_t *transport);

/* One (name, value) pair of a certificate: ('commonName', 'localhost')
 * in a subject or issuer, ('DNS', 'localhost') or ('IP Address',
 * '127.0.0.1') in subjectAltName, with Python's names. */
typedef struct asyncio_cert_field {
    const char *name;
    const char *value;
} asyncio_cert_field_t;

/* The peer's certificate as getpeercert() gives it.  subject and issuer
 * list their attributes in the certificate's order (Python nests each in
 * a tuple of its relative distinguished name; the order is the same).
 * not_before / not_after: "Dec  7 04:00:00 2026 GMT", Python's format.
 * der / der_len: getpeercert(binary_form=True).  Python gives an empty
 * dict for a certificate that was not verified (CERT_NONE): here
 * `verified` is false and only der is filled. */
typedef struct asyncio_peercert {
    bool verified;
    const asyncio_cert_field_t *subject;
    size_t subject_len;
    const asyncio_cert_field_t *issuer;
    size_t issuer_len;
    const asyncio_cert_field_t *subject_alt_name;
    size_t subject_alt_name_len;
    int version;               /* 3 for X.509v3 */
    const char *serial_number; /* hexadecimal, upper case */
    const char *not_before;
    const char *not_after;
    const unsigned char *der;
    size_t der_len;
} asyncio_peercert_t;

/* get_extra_info('peercert'): *cert a new copy of the peer's certificate
 * (the caller's: asyncio_peercert_free), or NULL with 0 when there is
 * none: a plain connection, a peer that sent none (a client a server did
 * not ask for one), a handshake not done yet.  Does not suspend.  Raises
 * ValueError (transport or cert NULL, a handle no longer live),
 * MemoryError; *cert is NULL after a failure. */
ASYNCIO_EXTERN int asyncio_transport_getpeercert(asyncio_transport_t *transport,
                                                 asyncio_peercert_t **cert);

/* Frees what asyncio_transport_getpeercert gave.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_peercert_free(asyncio_peercert_t *cert);

/* The user pointer the callbacks get (NULL for a handle no longer live;
 * a stream's transport: see asyncio_stream_transport). */
ASYNCIO_EXTERN void *asyncio_transport_get_user(asyncio_transport_t *t);
ASYNCIO_EXTERN void asyncio_transport_set_user(asyncio_transport_t *t, void *user);

/* get_extra_info('peername') / ('sockname'), as for streams (ValueError
 * for a transport NULL or no longer live; *addr zeroed after a failure). */
ASYNCIO_EXTERN int asyncio_transport_peername(asyncio_transport_t *t, asyncio_sockaddr_t *addr);
ASYNCIO_EXTERN int asyncio_transport_sockname(asyncio_transport_t *t, asyncio_sockaddr_t *addr);

/* --- Servers */

/* `await server.serve_forever()`: suspends until the server is closed.
 * Cancelling the caller closes the server (as Python does) and raises
 * CancelledError.  RuntimeError if the server is already closed or
 * another task serves it forever; ValueError for a server NULL or freed. */
ASYNCIO_EXTERN int asyncio_server_serve_forever(asyncio_server_t *server);

/* server.close(): stops listening (new connections are refused); existing
 * connections go on.  Does not suspend.  Harmless when repeated, and on a
 * freed server. */
ASYNCIO_EXTERN void asyncio_server_close(asyncio_server_t *server);

/* server.close_clients() (Python 3.13): closes every connection of the
 * server; a streams server also cancels the handler tasks. */
ASYNCIO_EXTERN void asyncio_server_close_clients(asyncio_server_t *server);

/* `await server.wait_closed()`: suspends until the server is closed and
 * every connection it accepted has ended.  CancelledError, RuntimeError,
 * ValueError (server NULL or freed). */
ASYNCIO_EXTERN int asyncio_server_wait_closed(asyncio_server_t *server);

/* server.is_serving(); false for a freed server. */
ASYNCIO_EXTERN bool asyncio_server_is_serving(asyncio_server_t *server);

/* Number of listening sockets (0 once closed or freed), and the address
 * of the i-th (to learn the port chosen for port 0; *addr zeroed after a
 * failure).  ValueError for i out of range, addr NULL, a server NULL or
 * freed. */
ASYNCIO_EXTERN size_t asyncio_server_nsockets(asyncio_server_t *server);
ASYNCIO_EXTERN int asyncio_server_sockname(asyncio_server_t *server, size_t i,
                                           asyncio_sockaddr_t *addr);

/* Releases the caller's server: closes it if needed; connections still
 * open are closed (handler tasks cancelled), memory goes once they are.
 * Also after its loop closed (which closed it but left the memory to
 * this call).  Its handle is no longer live from then on (the memory goes
 * once the listening sockets are closed).  Refused (RuntimeError) while a
 * task waits in serve_forever or wait_closed; ValueError for a server
 * freed already.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_server_free(asyncio_server_t *server);

/* --- Datagrams (loop.create_datagram_endpoint, DatagramProtocol,
 * DatagramTransport), over UDP (IPv4 and IPv6) and Unix datagram sockets.
 *
 * A datagram endpoint is its own kind of transport, with its own handle
 * type: asyncio_datagram_transport_t has sendto where a stream's transport
 * has write, no write_eof and no reading pause (Python's DatagramTransport
 * is a BaseTransport, not a ReadTransport or WriteTransport), and its
 * protocol is asyncio_datagram_protocol_t.  A datagram transport given to
 * a stream transport's call (or the reverse) draws the compiler's
 * incompatible-pointer diagnostic, and a handle of one kind is refused at
 * run time by the calls of the other.
 *
 * The handle and ownership rules are the transports' (above): the
 * transport belongs to the library and lives until its protocol's
 * connection_lost has returned; from then on its handle is no longer
 * live: ValueError "not a live datagram transport (freed, or never one)"
 * from the calls that raise, nothing from the others (close, abort,
 * is_closing (true), get_write_buffer_size (0), fileno (-1), the user
 * pointer's calls (NULL)).  Closing a loop closes every endpoint of it
 * still open; connection_lost comes then too.
 *
 * Only asyncio_create_datagram_endpoint suspends; every other call
 * returns at once.  All are for the loop's thread.
 *
 * The protocol's callbacks run on the loop and must not suspend; any may
 * be NULL.  Each gets the transport's handle and its user pointer.
 * connection_made is called in the creating task before the creating
 * call returns (as Python's create_datagram_endpoint awaits it), and
 * reading starts after it.  Python calls two of them from inside
 * sendto, and so does casyncio: error_received, for an error the kernel
 * gave at once, and pause_writing, when the datagram queued took the
 * write buffer above its high-water mark.  An error a callback leaves
 * raised is reported to the loop's exception handler and the endpoint
 * goes on, as in Python (an exception in datagram_received is not fatal
 * to a datagram transport). */

/* An address as sendto takes it and datagram_received gives it: Python's
 * (host, port) for UDP, the path for a Unix socket (see asyncio_sockaddr_t
 * above: family AF_INET, AF_INET6 or AF_UNIX; host a numeric address or
 * a path).  A Unix path that starts with '@' names Linux's abstract
 * namespace (Python's leading '\0'). */

typedef struct asyncio_datagram_protocol {
    void (*connection_made)(asyncio_datagram_transport_t *t, void *user);
    /* One datagram: data is borrowed for the call only and has a NUL after
     * its len bytes (len may be 0: an empty datagram).  addr is the
     * sender (borrowed for the call); NULL for a Unix socket that sent
     * without a name of its own (Python's None). */
    void (*datagram_received)(asyncio_datagram_transport_t *t, const char *data, size_t len,
                              const asyncio_sockaddr_t *addr, void *user);
    /* The kernel refused a datagram, or reported an error for one sent
     * earlier: an OSError (ConnectionRefusedError "[Errno 111] Connection
     * refused" after an ICMP port unreachable on a connected socket,
     * "[Errno 90] Message too long", "[Errno 105] No buffer space
     * available", "[Errno 2] No such file or directory" for a Unix path
     * nobody is bound to, ...), borrowed for the call.  The endpoint
     * stays open. */
    void (*error_received)(asyncio_datagram_transport_t *t, const asyncio_error_t *exc, void *user);
    /* exc NULL: closed (close, abort, loop close); else the error that
     * ended it (MemoryError: no memory for the read buffer).  The last
     * callback: the transport's handle is no longer live once it returns. */
    void (*connection_lost)(asyncio_datagram_transport_t *t, const asyncio_error_t *exc,
                            void *user);
    /* The write buffer went above the high-water mark / back to the low. */
    void (*pause_writing)(asyncio_datagram_transport_t *t, void *user);
    void (*resume_writing)(asyncio_datagram_transport_t *t, void *user);
} asyncio_datagram_protocol_t;

/* create_datagram_endpoint's keyword arguments; NULL or zeroed fields
 * mean Python's defaults (None, 0, False). */
typedef struct asyncio_datagram_opts {
    /* AF_INET, AF_INET6, AF_UNIX; 0: any family the addresses resolve
     * to.  Required (Python's "unexpected address family") when neither
     * address is given: an unbound socket of that family. */
    int family;
    /* local_addr=(local_host, local_port): the socket is bound there
     * (port 0: a free one).  local_host NULL: no local_addr (local_port
     * must then be 0).  With AF_UNIX, local_host is the path (a socket
     * file already there is removed first, as Python does; the file is
     * left behind at close) and local_port must be 0. */
    const char *local_host;
    int local_port;
    /* remote_addr=(remote_host, remote_port): the socket is connected
     * there (sendto's address may then be NULL or this one only, and
     * only datagrams from there are received).  With AF_UNIX, the path;
     * remote_port must then be 0. */
    const char *remote_host;
    int remote_port;
    bool reuse_port;      /* SO_REUSEPORT: several endpoints, one port */
    bool allow_broadcast; /* SO_BROADCAST; the socket is then not connected to
                             remote_addr, which stays sendto's default */
} asyncio_datagram_opts_t;

/* `transport, protocol = await loop.create_datagram_endpoint(factory,
 * local_addr=..., remote_addr=..., family=..., reuse_port=...,
 * allow_broadcast=...)`.  Resolves the addresses (asyncio_getaddrinfo's
 * way, for SOCK_DGRAM), pairs the local and remote ones by family, and
 * makes the socket of the first pair that works (bound, connected),
 * then calls proto->connection_made and starts reading.  Suspends to
 * resolve the addresses (a Unix socket, or an IP one without addresses,
 * is made without suspending; either way it must be called from a task).
 * proto must outlive the transport; user is the callbacks' pointer.
 * Contexts as for asyncio_protocol_t: connection_made in a copy of the
 * context current at this call, datagram_received and error_received
 * (but see sendto) in one copy kept for the endpoint, connection_lost
 * after close or abort in a copy of the closer's, all outside tasks.
 * *transport is borrowed (the library's); NULL after a failure.  Raises
 * ValueError (proto or transport NULL, no address and no family:
 * "unexpected address family", local and remote addresses of no common
 * family: "can not get address information", a port outside 0..65535:
 * "port must be 0-65535.", a port without a host or with AF_UNIX),
 * socket.gaierror as OSError (a name that does not resolve: "[Errno -2]
 * Name or service not known"; an address of another family than
 * opts->family: "[Errno -9] Address family for hostname not supported";
 * an unknown family: "[Errno -6] ai_family not supported"), OSError (the
 * first pair's error when none works: "[Errno 98] Address already in
 * use", "[Errno 97] Address family not supported by protocol" for an
 * unknown family without addresses, "AF_UNIX path too long", a Unix
 * path's "[Errno 2] No such file or directory" or "[Errno 111]
 * Connection refused"), CancelledError (while resolving: nothing is
 * left open), RuntimeError (outside a task), MemoryError. */
ASYNCIO_EXTERN int asyncio_create_datagram_endpoint(const asyncio_datagram_protocol_t *proto,
                                                    void *user,
                                                    const asyncio_datagram_opts_t *opts,
                                                    asyncio_datagram_transport_t **transport);

/* `await loop.create_datagram_endpoint(factory, sock=sock)`: an endpoint on
 * a datagram socket the caller made (AF_INET, AF_INET6 or AF_UNIX,
 * SOCK_DGRAM; bound, connected or neither).  It is made non-blocking.
 * On success the transport owns the descriptor (closing the transport
 * closes it); after a failure it is still the caller's, open.  A
 * connected socket's peer is its remote address (sendto's address must
 * be NULL or the peer: Python sends to the peer whatever the address).
 * connection_made is called before it returns.  Does not suspend, but
 * needs a running loop.  *transport as above.  Raises ValueError (a
 * socket of another type or family: "A UDP Socket was expected, got fd 7
 * (SOCK_STREAM)", sock < 0, proto or transport NULL), OSError (not a
 * socket: "[Errno 88] Socket operation on non-socket"), RuntimeError (no
 * running loop; a descriptor the loop already watches: "File descriptor
 * 7 is used by another transport"), MemoryError. */
ASYNCIO_EXTERN int asyncio_create_datagram_endpoint_sock(const asyncio_datagram_protocol_t *proto,
                                                         void *user, int sock,
                                                         asyncio_datagram_transport_t **transport);

/* transport.sendto(data, addr): sends len bytes (0 is an empty datagram,
 * sent as Python 3.13 sends it; 3.11 drops it) to addr, or with addr
 * NULL to the remote address.  Goes to the kernel at once while nothing
 * is queued; what the kernel cannot take yet is copied and queued (see
 * get_write_buffer_size), sent in order when it can.  Never suspends.
 * Returns 0 also when the kernel refused the datagram: that error goes
 * to the protocol's error_received (called inside this call when the
 * kernel refused at once, as Python does, in the caller's context and
 * task): a datagram too large
 * ("[Errno 90] Message too long": above 65507 bytes over IPv4), a Unix
 * path nobody is bound to, ECONNREFUSED on a connected socket, an
 * address of the other IP family (gaierror "[Errno -9] Address family
 * for hostname not supported", as Python) or a Unix path too long
 * ("AF_UNIX path too long").  After close() or abort() the datagram is
 * dropped (0), as Python drops it.  addr's host must be a numeric
 * address (Python resolves names here, blocking the loop: resolve them
 * first, asyncio_getaddrinfo).  Raises ValueError (transport NULL or not
 * live, data NULL with len > 0, more than 4 GiB, addr NULL without a
 * remote address, an address other than the remote one: "Invalid
 * address: must be None or ('127.0.0.1', 9999)" with Python's words, a
 * host that is not numeric, a port outside 0..65535, a Unix address on
 * an IP socket or the reverse), MemoryError (no memory to queue it;
 * nothing queued). */
ASYNCIO_EXTERN int asyncio_datagram_transport_sendto(asyncio_datagram_transport_t *t,
                                                     const void *data, size_t len,
                                                     const asyncio_sockaddr_t *addr);

/* transport.get_write_buffer_size(): the bytes queued and not yet taken by
 * the kernel, counting 8 more per datagram for its header, as Python 3.13
 * does (so that empty datagrams count).  0 for a handle no longer live. */
ASYNCIO_EXTERN size_t
asyncio_datagram_transport_get_write_buffer_size(asyncio_datagram_transport_t *t);

/* transport.set_write_buffer_limits(high, low) and get_: as for stream
 * transports (0 stands for None: high 64 KiB, low high / 4). */
ASYNCIO_EXTERN int asyncio_datagram_transport_set_write_buffer_limits(
    asyncio_datagram_transport_t *t, size_t high, size_t low);
ASYNCIO_EXTERN void asyncio_datagram_transport_get_write_buffer_limits(
    asyncio_datagram_transport_t *t, size_t *high, size_t *low);

/* transport.close(): stops receiving; the queued datagrams are still
 * sent, then the socket closes and connection_lost(NULL) follows from the
 * loop.  Harmless when repeated, and on a handle no longer live. */
ASYNCIO_EXTERN void asyncio_datagram_transport_close(asyncio_datagram_transport_t *t);

/* transport.abort(): closes at once, dropping the queue;
 * connection_lost(NULL) follows from the loop. */
ASYNCIO_EXTERN void asyncio_datagram_transport_abort(asyncio_datagram_transport_t *t);

/* transport.is_closing(); true for a handle no longer live. */
ASYNCIO_EXTERN bool asyncio_datagram_transport_is_closing(asyncio_datagram_transport_t *t);

/* get_extra_info('sockname') / ('peername').  *addr is zeroed after a
 * failure.  An endpoint that is not connected has no peer: peername
 * returns 0 with *addr zeroed (family 0), Python's None; an unbound Unix
 * socket's sockname is AF_UNIX with an empty path, as Python's ''.
 * Raises ValueError (transport NULL or not live, addr NULL), OSError
 * (the socket is closed: "[Errno 9] Bad file descriptor"). */
ASYNCIO_EXTERN int asyncio_datagram_transport_sockname(asyncio_datagram_transport_t *t,
                                                       asyncio_sockaddr_t *addr);
ASYNCIO_EXTERN int asyncio_datagram_transport_peername(asyncio_datagram_transport_t *t,
                                                       asyncio_sockaddr_t *addr);

/* get_extra_info('socket').fileno(): the socket's descriptor, borrowed
 * (the transport closes it; set options on it, do not read from it or
 * close it); -1 once closed and for a handle no longer live (nothing
 * raised). */
ASYNCIO_EXTERN int asyncio_datagram_transport_fileno(asyncio_datagram_transport_t *t);

/* The user pointer the callbacks get (NULL for a handle no longer live). */
ASYNCIO_EXTERN void *asyncio_datagram_transport_get_user(asyncio_datagram_transport_t *t);
ASYNCIO_EXTERN void asyncio_datagram_transport_set_user(asyncio_datagram_transport_t *t,
                                                        void *user);

/* --- DNS (libuv's getaddrinfo / getnameinfo, on its thread pool) */

/* One resolved address, as a tuple of Python's getaddrinfo. */
typedef struct asyncio_addrinfo {
    struct asyncio_addrinfo *next;
    int family;   /* AF_INET, AF_INET6 */
    int socktype; /* SOCK_STREAM, ... */
    int protocol;
    char *canonname;         /* with AI_CANONNAME on the first entry, else NULL */
    asyncio_sockaddr_t addr; /* numeric host and port */
    const void *sockaddr;    /* the struct sockaddr itself, sockaddr_len bytes */
    unsigned sockaddr_len;
} asyncio_addrinfo_t;

/* `await loop.getaddrinfo(host, port, family=, type=, flags=)`: host and
 * service may be NULL (not both); family/type/flags are the AF_, SOCK_ and
 * AI_ constants (0 for any).  Suspends.  New: *result is a list the caller
 * frees with asyncio_addrinfo_free; NULL after a failure.  Raises
 * socket.gaierror, an OSError (the libuv UV_EAI_* code, e.g. UV_EAI_NONAME:
 * "[Errno -2] Name or service not known", as Python, without the host),
 * CancelledError (the request is cancelled), ValueError (both NULL, result
 * NULL), RuntimeError, MemoryError. */
ASYNCIO_EXTERN int asyncio_getaddrinfo(const char *host, const char *service, int family, int type,
                                       int flags, asyncio_addrinfo_t **result);

/* Frees a list from asyncio_getaddrinfo.  NULL is harmless. */
ASYNCIO_EXTERN void asyncio_addrinfo_free(asyncio_addrinfo_t *list);

#define ASYNCIO_NI_MAXHOST 1025
#define ASYNCIO_NI_MAXSERV 32

/* `host, service = await loop.getnameinfo((host, port), flags)`: host is
 * a numeric IPv4 or IPv6 address; flags are NI_ constants.  Fills host_out
 * (ASYNCIO_NI_MAXHOST bytes) and serv_out (ASYNCIO_NI_MAXSERV) with C
 * strings; either may be NULL; both are empty strings after a failure.
 * Suspends.  Raises OSError (UV_EAI_*), ValueError (host NULL or not a
 * numeric address, port outside 0..65535), CancelledError, RuntimeError. */
ASYNCIO_EXTERN int asyncio_getnameinfo(const char *host, int port, int flags, char *host_out,
                                       char *serv_out);

/* --- Watching file descriptors (loop.add_reader, add_writer) and
 * waiting for one
 *
 * A descriptor is any file descriptor epoll can watch: a socket, a pipe,
 * a terminal, an eventfd, a descriptor a library hands out (libpq's
 * PQsocket, ...).  Regular files and directories cannot be watched
 * (PermissionError "[Errno 1] Operation not permitted", as Python's epoll
 * selector says).  A loop watches a descriptor with one libuv poll handle
 * shared by its two sides, the reader and the writer; these rules follow:
 *
 *   - The sides are independent: a reader callback (or a task waiting
 *     until the descriptor is readable) and a writer callback (or a task
 *     waiting until it is writable) may be registered at once, by
 *     different parties.
 *   - One party per side.  add_reader on a descriptor with a reader
 *     callback replaces it (Python's rule: the old one is not called
 *     again, even for an event already seen).  A task waiting on a side is
 *     alone there: a second task's wait, or add_reader while a task waits
 *     for the descriptor to be readable, raises RuntimeError ("another
 *     task is already waiting for file descriptor 5 to be readable"), and
 *     so does a wait on a side that has a callback.  (Python replaces the
 *     first waiter's reader, which then waits forever.)
 *   - Two loops (threads) may watch one descriptor: each has its own
 *     watch and is told on its own; both wake, whoever reads first gets
 *     the data, the other finds none (the sock_ calls then wait again).
 *   - A descriptor the loop already watches for a transport, a server or
 *     an HTTP transfer of its own is refused with RuntimeError ("File
 *     descriptor 5 is already watched by the event loop ...") when the
 *     loop is watching it at the time (Python keeps a table of its
 *     transports' descriptors and always refuses them); watching one at
 *     another time is an error of the program that is not detected.
 *   - Closing.  Remove the watch before closing the descriptor
 *     (remove_reader, remove_writer; a wait leaves nothing behind when it
 *     returns, and a cancelled one neither).  The kernel forgets a closed
 *     descriptor silently: callbacks stop coming and a task's wait never
 *     ends.  What is detected: a descriptor not open when the watch
 *     starts (OSError "[Errno 9] Bad file descriptor", raised by the
 *     call), and one closed (or whose number was taken by a file epoll
 *     refuses) after the watch started but before the loop polled next:
 *     the waiting task gets that OSError, a callback is removed and the
 *     error reported to the loop's exception handler.  A descriptor closed
 *     by another thread while its loop watches it is undefined behaviour
 *     (libuv may abort the process).
 *   - libuv makes a descriptor non-blocking (O_NONBLOCK) when it starts
 *     watching it; Python's loop leaves the mode alone.
 *   - Readiness is level-triggered, as with Python's selectors: a reader
 *     callback is called again in every iteration while data is there.
 *     An error on the descriptor (a refused connect, a reset) or a
 *     hang-up makes both sides ready: the read or write that follows
 *     meets it.
 *   - Callbacks run from the ready queue in the iteration after the poll
 *     that saw the event, a descriptor's reader before its writer, as in
 *     Python; never inside the call that registered them.  An error a
 *     callback leaves raised is reported to the exception handler.
 *   - Closing the loop drops every watch: callbacks are never called
 *     again; tasks still waiting are unwound as every task is.
 *
 * Cost: a wait starts and ends a watch: three epoll_ctl and an fstat
 * (Python's sock_recv registers and unregisters a reader each time: two
 * epoll_ctl); a callback stays registered and costs nothing per event.
 * Memory: the loop keeps a small record per descriptor number it ever
 * watched, until it closes.
 */

/* loop.add_reader(fd, callback, arg): calls fn(arg) from the loop
 * whenever fd is readable (or in error), until remove_reader, outside any
 * task and in a copy of the context current at this call: the same copy
 * for every call, so what one call sets the next sees (Python's Handle
 * keeps one Context).  loop NULL:
 * the running loop (else the thread's current one).  Replaces the reader
 * callback fd had.  Does not suspend.  Raises ValueError (fn NULL; fd
 * negative: "Invalid file descriptor: -1"), RuntimeError ("no running
 * event loop", "Event loop is closed", a task waiting for fd to be
 * readable, a descriptor the loop watches for a transport), OSError (fd
 * not open: "[Errno 9] Bad file descriptor"; PermissionError for a
 * regular file or a directory), MemoryError.  A call that fails
 * registers nothing (a callback registered before stays) and never calls
 * fn. */
ASYNCIO_EXTERN int asyncio_add_reader(asyncio_loop_t *loop, int fd, asyncio_callback_fn fn,
                                      void *arg);

/* loop.add_writer(fd, callback, arg): as add_reader, for writable. */
ASYNCIO_EXTERN int asyncio_add_writer(asyncio_loop_t *loop, int fd, asyncio_callback_fn fn,
                                      void *arg);

/* loop.remove_reader(fd): true if fd had a reader callback, which is
 * removed and not called again (not even for an event already seen);
 * false, with nothing raised, for a descriptor without one (a task's wait
 * is not a callback: it stays), and on a closed loop.  False with
 * ValueError for fd negative, RuntimeError without a loop.  Does not
 * suspend. */
ASYNCIO_EXTERN bool asyncio_remove_reader(asyncio_loop_t *loop, int fd);

/* loop.remove_writer(fd): as remove_reader, for the writer callback. */
ASYNCIO_EXTERN bool asyncio_remove_writer(asyncio_loop_t *loop, int fd);

/* Suspends the current task until fd is readable (or in error, or hung
 * up: the read that follows says which).  Python has no one call for it:
 * it is `fut = loop.create_future(); loop.add_reader(fd, fut.set_result,
 * None); try: await fut; finally: loop.remove_reader(fd)`.  Nothing
 * watches fd for the task once the call returned, whatever the outcome.
 * No timeout of its own: bound it with an asyncio_timeout scope around
 * it, or asyncio_wait_for on a task that makes it.  Suspends.  Raises
 * CancelledError, OSError (fd not open, or closed before the loop polled
 * it: "[Errno 9] Bad file descriptor"; PermissionError for a regular file
 * or a directory), RuntimeError (outside a task; another task waits for
 * fd to be readable; fd has a reader callback; a descriptor the loop
 * watches for a transport), ValueError (fd negative), MemoryError. */
ASYNCIO_EXTERN int asyncio_wait_readable(int fd);

/* Suspends the current task until fd is writable (or in error: a
 * non-blocking connect that failed, a reset; the write or the SO_ERROR
 * that follows says which).  As asyncio_wait_readable otherwise. */
ASYNCIO_EXTERN int asyncio_wait_writable(int fd);

/* --- Sockets the caller made (loop.sock_recv, sock_sendall, ...)
 *
 * The loop's low-level calls on a non-blocking socket (a descriptor) that
 * the caller made and keeps owning.  Each makes the system call at once
 * and, when it would block, waits for the socket (asyncio_wait_readable
 * or _writable, with their rules: one task per side of a socket) and
 * tries again.  They all suspend, and raise:
 *   ValueError "the socket must be non-blocking" for a blocking socket
 *     (Python checks it in debug mode only; here always, as a blocking
 *     call would freeze the loop), and for bad arguments;
 *   OSError with the system's error ("[Errno 104] Connection reset by
 *     peer": ConnectionResetError, ...; "[Errno 9] Bad file descriptor");
 *   CancelledError: nothing is left watching the socket, and what was
 *     sent or received before the cancellation stays so;
 *   RuntimeError outside a task, or while another task waits on the same
 *     side of the socket; MemoryError.
 * Out-parameters are 0 (an accepted socket -1) and addresses zeroed after
 * a failure.
 */

/* `data = await loop.sock_recv(sock, n)`: receives up to n bytes into buf
 * (*nread of them; 0 at EOF), NUL-terminated when *nread < n. */
ASYNCIO_EXTERN int asyncio_sock_recv(int sock, void *buf, size_t n, size_t *nread);

/* `nbytes = await loop.sock_recv_into(sock, buf)`: the same call as
 * asyncio_sock_recv (in C both fill the caller's buffer), for ports that
 * use the other name. */
ASYNCIO_EXTERN int asyncio_sock_recv_into(int sock, void *buf, size_t n, size_t *nread);

/* `data, address = await loop.sock_recvfrom(sock, n)` (3.11): one
 * datagram, up to n bytes of it (the rest of a longer one is lost, as in
 * Python), into buf, NUL-terminated when *nread < n; *addr (may be NULL)
 * its sender: host and port, or the path of a Unix socket ("" when the
 * sender is unnamed). */
ASYNCIO_EXTERN int asyncio_sock_recvfrom(int sock, void *buf, size_t n, size_t *nread,
                                         asyncio_sockaddr_t *addr);

/* `nbytes, address = await loop.sock_recvfrom_into(sock, buf)` (3.11):
 * the same call as asyncio_sock_recvfrom. */
ASYNCIO_EXTERN int asyncio_sock_recvfrom_into(int sock, void *buf, size_t n, size_t *nread,
                                              asyncio_sockaddr_t *addr);

/* `await loop.sock_sendall(sock, data)`: sends all len bytes, waiting for
 * room as often as needed.  Data NULL is allowed with len 0 (ValueError
 * otherwise).  On failure or cancellation an unknown part was sent, as in
 * Python. */
ASYNCIO_EXTERN int asyncio_sock_sendall(int sock, const void *data, size_t len);

/* `n = await loop.sock_sendto(sock, data, address)` (3.11): one datagram
 * to addr: a numeric IPv4 or IPv6 host and a port (family 0: taken from
 * the host), or an AF_UNIX path in host.  *nsent (may be NULL) the bytes
 * sent.  ValueError for a host that is not a numeric address (Python
 * resolves names here, blocking its loop), a port outside 0..65535,
 * addr NULL. */
ASYNCIO_EXTERN int asyncio_sock_sendto(int sock, const void *data, size_t len,
                                       const asyncio_sockaddr_t *addr, size_t *nsent);

/* `await loop.sock_connect(sock, (host, port))`: connects the socket to
 * host:port, resolving host (asyncio_getaddrinfo, with the socket's family
 * and type) unless it is numeric; for an AF_UNIX socket host is the path
 * and port is ignored.  Raises as Python: a connection refused at once
 * "[Errno 111] Connection refused", one refused later "[Errno 111]
 * Connect call failed ('127.0.0.1', 1)" (ConnectionRefusedError either
 * way); socket.gaierror (an OSError) for a name that does not resolve;
 * ValueError (host NULL, port outside 0..65535); CancelledError: the
 * connection attempt goes on in the kernel, as in Python (close the
 * socket to end it). */
ASYNCIO_EXTERN int asyncio_sock_connect(int sock, const char *host, int port);

/* `conn, address = await loop.sock_accept(sock)`: accepts a connection on
 * a listening socket.  *conn is the new socket, non-blocking and
 * close-on-exec, the caller's to close (-1 after a failure: 0 is a
 * descriptor); *addr (may be NULL) the peer's address.  ValueError for
 * conn NULL. */
ASYNCIO_EXTERN int asyncio_sock_accept(int sock, int *conn, asyncio_sockaddr_t *addr);

#endif /* CASYNCIO_NET_H */
