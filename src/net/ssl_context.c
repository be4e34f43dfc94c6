/*
 * TLS contexts (Python's ssl.SSLContext) over an OpenSSL SSL_CTX.
 *
 * A context is a handle with a reference count: the caller's references
 * and one per connection or server using it.  The count is atomic and the
 * last reference may go on any thread; the SSL_CTX itself is thread-safe
 * once configured (OpenSSL's rule), which is why the header asks for the
 * configuration to come before the first use.
 *
 * Python's defaults, as create_default_context sets them: TLS 1.2 at
 * least; a client verifies the server's chain and name; compression and
 * renegotiation off.  SSL_MODE_RELEASE_BUFFERS lets an idle connection
 * give its record buffers back.  A client context keeps the last session
 * of each server name it talked to, so that a new connection to the same
 * server resumes it where the server allows (TLS 1.2 session ids, TLS 1.3
 * tickets).
 */
#include "net/net.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Sessions a client context remembers (by server name, oldest dropped). */
#define SESSIONS_MAX 64

typedef struct cached_session {
    char *name;
    SSL_SESSION *session;
} cached_session_t;

struct asyncio__ssl_context {
    void *handle;
    atomic_int refs;
    SSL_CTX *ctx;
    bool server_side;
    bool check_hostname;
    enum asyncio_ssl_verify verify_mode;
    pthread_mutex_t sessions_lock; /* the cache is shared by every loop using it */
    cached_session_t sessions[SESSIONS_MAX];
    size_t nsessions;
};

/* ------------------------------------------------------------ ex data */

/* Where a context and a connection keep what OpenSSL's callbacks need:
 * indexes of our own (another user of OpenSSL in the process has its
 * own). */
static int ctx_index = -1, alpn_index = -1, name_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void make_indexes(void)
{
    ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    name_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* ------------------------------------------------------------ errors */

/* OpenSSL's library name as Python's ssl module writes it. */
static const char *lib_name(unsigned long e)
{
    switch (ERR_GET_LIB(e)) {
    case ERR_LIB_X509:
    case ERR_LIB_X509V3:
        return "X509";
    case ERR_LIB_PEM:
        return "PEM";
    case ERR_LIB_EVP:
        return "EVP";
    case ERR_LIB_ASN1:
        return "ASN1";
    case ERR_LIB_SYS:
        return "SYS";
    default:
        return "SSL";
    }
}

/* OpenSSL's reason as Python shows it: "[SSL: WRONG_VERSION_NUMBER] wrong
 * version number".  The bracketed name is the reason text in capitals,
 * which is how OpenSSL names its reason codes. */
static void reason_text(unsigned long e, char *out, size_t cap)
{
    const char *reason = ERR_reason_error_string(e);
    if (!reason) {
        snprintf(out, cap, "[%s] unknown error %lu", lib_name(e), (unsigned long)ERR_GET_REASON(e));
        return;
    }
    char name[128];
    size_t i = 0;
    for (; reason[i] && i < sizeof name - 1; i++) {
        char c = reason[i];
        name[i] = c == ' ' || c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    name[i] = '\0';
    snprintf(out, cap, "[%s: %s] %s", lib_name(e), name, reason);
}

asyncio__exc_t *asyncio__ssl_error(const char *type, const char *fmt, ...)
{
    unsigned long e = ERR_peek_last_error();
    char text[256] = "";
    if (e)
        reason_text(e, text, sizeof text);
    ERR_clear_error();
    char context[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(context, sizeof context, fmt, ap);
        va_end(ap);
    }
    char msg[600];
    if (*text && *context)
        snprintf(msg, sizeof msg, "%s: %s", text, context);
    else
        snprintf(msg, sizeof msg, "%s", *text ? text : context);
    asyncio__exc_t *exc = asyncio__exc_make(ASYNCIO_ESSL, type ? type : "SSLError", msg);
    exc->pub.detail = e ? ERR_GET_REASON(e) : 0;
    return exc;
}

/* Raises SSLError from OpenSSL's queue; returns ASYNCIO_ESSL. */
static int raise_ssl(const char *fmt, const char *path)
{
    asyncio__raise_exc(asyncio__ssl_error(NULL, fmt, path));
    return ASYNCIO_ESSL;
}

/* A file OpenSSL is about to read must be readable: else the OSError
 * Python would raise, naming it. */
static int check_readable(const char *path)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    /* fopen opens a directory too: Python's IsADirectoryError, not
     * OpenSSL's "PEM lib" (tests/check_tls.c test_load_errors). */
    if (f && fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        f = NULL;
        errno = EISDIR;
    }
    if (f) {
        fclose(f);
        return 0;
    }
    int code = -errno;
    asyncio_raise_uv(code, "'%s'", path);
    return code;
}

/* ------------------------------------------------------------ life */

static asyncio__ssl_context_t *checked(asyncio_ssl_context_t *handle)
{
    return asyncio__handle_check(handle, ASYNCIO__H_SSL_CONTEXT, "SSL context");
}

asyncio__ssl_context_t *asyncio__ssl_context_get(asyncio_ssl_context_t *handle)
{
    return checked(handle);
}

static void apply_verify(asyncio__ssl_context_t *c)
{
    int mode = SSL_VERIFY_NONE;
    if (c->verify_mode != ASYNCIO_SSL_CERT_NONE) {
        mode = SSL_VERIFY_PEER;
        if (c->server_side && c->verify_mode == ASYNCIO_SSL_CERT_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(c->ctx, mode, NULL);
}

/* A new session from a server: kept for the next connection to it. */
static int on_new_session(SSL *ssl, SSL_SESSION *session);

static asyncio_ssl_context_t *context_new(enum asyncio_ssl_purpose purpose, bool default_cas)
{
    if (purpose != ASYNCIO_SSL_SERVER_AUTH && purpose != ASYNCIO_SSL_CLIENT_AUTH) {
        asyncio__raise_code(ASYNCIO_EVALUE, "invalid purpose %d", (int)purpose);
        return NULL;
    }
    pthread_once(&index_once, make_indexes);
    asyncio__ssl_context_t *c = asyncio__calloc(1, sizeof *c);
    if (!c) {
        asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for an SSL context");
        return NULL;
    }
    c->server_side = purpose == ASYNCIO_SSL_CLIENT_AUTH;
    c->ctx = SSL_CTX_new(c->server_side ? TLS_server_method() : TLS_client_method());
    if (!c->ctx) {
        asyncio__free(c);
        asyncio__raise_exc(asyncio__ssl_error(NULL, NULL));
        return NULL;
    }
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->sessions_lock, NULL);
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_ex_data(c->ctx, ctx_index, c);
    if (!c->server_side) {
        c->check_hostname = true;
        c->verify_mode = ASYNCIO_SSL_CERT_REQUIRED;
        SSL_CTX_set_session_cache_mode(c->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, on_new_session);
    }
    apply_verify(c);
    if (default_cas && !c->server_side && SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        asyncio__raise_exc(asyncio__ssl_error(NULL, "loading the system's CA store"));
        SSL_CTX_free(c->ctx);
        pthread_mutex_destroy(&c->sessions_lock);
        asyncio__free(c);
        return NULL;
    }
    if (!(c->handle = asyncio__handle_new(c, ASYNCIO__H_SSL_CONTEXT))) {
        SSL_CTX_free(c->ctx);
        pthread_mutex_destroy(&c->sessions_lock);
        asyncio__free(c);
        return NULL;
    }
    return c->handle;
}

asyncio_ssl_context_t *asyncio_ssl_create_default_context(enum asyncio_ssl_purpose purpose)
{
    return context_new(purpose, true);
}

asyncio_ssl_context_t *asyncio_ssl_context_new(enum asyncio_ssl_purpose purpose)
{
    return context_new(purpose, false);
}

asyncio__ssl_context_t *asyncio__ssl_context_ref(asyncio__ssl_context_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void asyncio__ssl_context_unref(asyncio__ssl_context_t *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    asyncio__handle_retire(c->handle);
    for (size_t i = 0; i < c->nsessions; i++) {
        asyncio__free(c->sessions[i].name);
        SSL_SESSION_free(c->sessions[i].session);
    }
    pthread_mutex_destroy(&c->sessions_lock);
    asyncio__free(SSL_CTX_get_ex_data(c->ctx, alpn_index));
    SSL_CTX_free(c->ctx);
    asyncio__free(c);
}

asyncio_ssl_context_t *asyncio_ssl_context_incref(asyncio_ssl_context_t *handle)
{
    asyncio__ssl_context_t *c = checked(handle);
    return c ? asyncio__ssl_context_ref(c)->handle : NULL;
}

void asyncio_ssl_context_decref(asyncio_ssl_context_t *handle)
{
    if (!handle)
        return;
    asyncio__ssl_context_unref(checked(handle));
}

struct ssl_ctx_st *asyncio_ssl_context_ssl_ctx(asyncio_ssl_context_t *handle)
{
    asyncio__ssl_context_t *c = asyncio__handle_get(handle, ASYNCIO__H_SSL_CONTEXT);
    return c ? c->ctx : NULL;
}

SSL_CTX *asyncio__ssl_context_ctx(const asyncio__ssl_context_t *c)
{
    return c->ctx;
}

bool asyncio__ssl_context_server_side(const asyncio__ssl_context_t *c)
{
    return c->server_side;
}

bool asyncio__ssl_context_check_hostname(const asyncio__ssl_context_t *c)
{
    return c->check_hostname;
}

/* ------------------------------------------------------------ sessions */

static int on_new_session(SSL *ssl, SSL_SESSION *session)
{
    asyncio__ssl_context_t *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
    const char *name = SSL_get_ex_data(ssl, name_index);
    if (!c || !name)
        return 0;
    char *copy = asyncio__strdup(name);
    if (!copy)
        return 0;
    pthread_mutex_lock(&c->sessions_lock);
    size_t i = 0;
    while (i < c->nsessions && strcmp(c->sessions[i].name, name) != 0)
        i++;
    if (i < c->nsessions) { /* the newer replaces it */
        asyncio__free(c->sessions[i].name);
        SSL_SESSION_free(c->sessions[i].session);
    } else if (c->nsessions == SESSIONS_MAX) { /* the oldest goes */
        asyncio__free(c->sessions[0].name);
        SSL_SESSION_free(c->sessions[0].session);
        memmove(c->sessions, c->sessions + 1, (SESSIONS_MAX - 1) * sizeof c->sessions[0]);
        i = SESSIONS_MAX - 1;
    } else {
        i = c->nsessions++;
    }
    c->sessions[i] = (cached_session_t){copy, session};
    pthread_mutex_unlock(&c->sessions_lock);
    return 1; /* the cache keeps the reference OpenSSL gave */
}

void asyncio__ssl_context_resume(asyncio__ssl_context_t *c, SSL *ssl, const char *name)
{
    if (!name || c->server_side)
        return;
    /* The name stays with the connection (its copy) for on_new_session. */
    SSL_set_ex_data(ssl, name_index, (void *)name);
    pthread_mutex_lock(&c->sessions_lock);
    for (size_t i = 0; i < c->nsessions; i++)
        if (strcmp(c->sessions[i].name, name) == 0) {
            if (SSL_SESSION_is_resumable(c->sessions[i].session))
                SSL_set_session(ssl, c->sessions[i].session);
            break;
        }
    pthread_mutex_unlock(&c->sessions_lock);
}

/* ------------------------------------------------------------ settings */

int asyncio_ssl_context_load_cert_chain(asyncio_ssl_context_t *handle, const char *certfile,
                                        const char *keyfile, const char *password)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (!certfile)
        return asyncio__raise_code(ASYNCIO_EVALUE, "certfile is NULL");
    if (!keyfile)
        keyfile = certfile;
    int rc;
    if ((rc = check_readable(certfile)) || (rc = check_readable(keyfile)))
        return rc;
    /* The password goes to OpenSSL's callback for this call only. */
    SSL_CTX_set_default_passwd_cb_userdata(c->ctx, (void *)(password ? password : ""));
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(c->ctx, certfile) != 1)
        rc = raise_ssl("'%s'", certfile);
    else if (SSL_CTX_use_PrivateKey_file(c->ctx, keyfile, SSL_FILETYPE_PEM) != 1)
        rc = raise_ssl("'%s'", keyfile);
    else if (SSL_CTX_check_private_key(c->ctx) != 1)
        rc = raise_ssl("'%s'", keyfile);
    SSL_CTX_set_default_passwd_cb_userdata(c->ctx, NULL);
    return rc;
}

int asyncio_ssl_context_load_verify_locations(asyncio_ssl_context_t *handle, const char *cafile,
                                              const char *capath)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (!cafile && !capath)
        return asyncio__raise_code(ASYNCIO_EVALUE, "cafile and capath are both NULL");
    int rc;
    if (cafile && (rc = check_readable(cafile)))
        return rc;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(c->ctx, cafile, capath) != 1)
        return raise_ssl("'%s'", cafile ? cafile : capath);
    return 0;
}

int asyncio_ssl_context_load_default_certs(asyncio_ssl_context_t *handle)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    ERR_clear_error();
    if (SSL_CTX_set_default_verify_paths(c->ctx) != 1)
        return raise_ssl("%s", "the system's CA store");
    return 0;
}

int asyncio_ssl_context_set_verify_mode(asyncio_ssl_context_t *handle, enum asyncio_ssl_verify mode)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (mode != ASYNCIO_SSL_CERT_NONE && mode != ASYNCIO_SSL_CERT_OPTIONAL &&
        mode != ASYNCIO_SSL_CERT_REQUIRED)
        return asyncio__raise_code(ASYNCIO_EVALUE, "invalid value for verify_mode");
    if (mode == ASYNCIO_SSL_CERT_NONE && c->check_hostname)
        return asyncio__raise_code(ASYNCIO_EVALUE,
                                   "Cannot set verify_mode to CERT_NONE when check_hostname is "
                                   "enabled.");
    c->verify_mode = mode;
    apply_verify(c);
    return 0;
}

int asyncio_ssl_context_set_check_hostname(asyncio_ssl_context_t *handle, bool on)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (on && c->verify_mode == ASYNCIO_SSL_CERT_NONE) {
        c->verify_mode = ASYNCIO_SSL_CERT_REQUIRED;
        apply_verify(c);
    }
    c->check_hostname = on;
    return 0;
}

/* A server picks the first of its own protocols that the client offers
 * (Python's rule: the server's preference). */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const unsigned char *mine = arg;
    unsigned char *chosen;
    /* The list starts after its two length bytes (it began at mine + 1,
     * inside the length: no protocol was ever agreed, tests/check_tls.c
     * test_server_s_client). */
    if (SSL_select_next_proto(&chosen, outlen, mine + 2, mine[0] | mine[1] << 8, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

int asyncio_ssl_context_set_alpn_protocols(asyncio_ssl_context_t *handle,
                                           const char *const *protocols, size_t n)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (n && !protocols)
        return asyncio__raise_code(ASYNCIO_EVALUE, "protocols is NULL");
    /* The wire format: each name behind its length byte. */
    unsigned char wire[1024];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = protocols[i] ? strlen(protocols[i]) : 0;
        if (l == 0 || l > 255)
            return asyncio__raise_code(ASYNCIO_EVALUE, "protocols[%zu] must be 1 to 255 bytes long",
                                       i);
        if (len + 1 + l > sizeof wire)
            return asyncio__raise_code(ASYNCIO_EVALUE, "protocols are too long");
        wire[len++] = (unsigned char)l;
        memcpy(wire + len, protocols[i], l);
        len += l;
    }
    if (c->server_side) {
        /* Kept with the context: its callback reads it at each handshake
         * (length in the first two bytes). */
        unsigned char *keep = asyncio__malloc(len + 2);
        if (!keep)
            return asyncio__raise_code(ASYNCIO_ENOMEM, "no memory for ALPN protocols");
        keep[0] = (unsigned char)(len & 0xFF);
        keep[1] = (unsigned char)(len >> 8);
        memcpy(keep + 2, wire, len);
        unsigned char *old = SSL_CTX_get_ex_data(c->ctx, alpn_index);
        SSL_CTX_set_ex_data(c->ctx, alpn_index, keep);
        asyncio__free(old);
        SSL_CTX_set_alpn_select_cb(c->ctx, n ? select_alpn : NULL, keep);
        return 0;
    }
    if (SSL_CTX_set_alpn_protos(c->ctx, wire, (unsigned)len) != 0)
        return raise_ssl("%s", "ALPN protocols");
    return 0;
}

static int set_version(asyncio_ssl_context_t *handle, enum asyncio_tls_version v, bool max)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (v != ASYNCIO_TLS_VERSION_DEFAULT && v != ASYNCIO_TLS_VERSION_1_2 &&
        v != ASYNCIO_TLS_VERSION_1_3)
        return asyncio__raise_code(ASYNCIO_EVALUE, "unsupported TLS version 0x%x", (unsigned)v);
    int ok = max ? SSL_CTX_set_max_proto_version(c->ctx, (int)v)
                 : SSL_CTX_set_min_proto_version(c->ctx, (int)v);
    return ok == 1 ? 0 : raise_ssl("%s", max ? "maximum_version" : "minimum_version");
}

int asyncio_ssl_context_set_minimum_version(asyncio_ssl_context_t *ctx,
                                            enum asyncio_tls_version version)
{
    return set_version(ctx, version, false);
}

int asyncio_ssl_context_set_maximum_version(asyncio_ssl_context_t *ctx,
                                            enum asyncio_tls_version version)
{
    return set_version(ctx, version, true);
}

int asyncio_ssl_context_set_ciphers(asyncio_ssl_context_t *handle, const char *ciphers)
{
    asyncio__ssl_context_t *c = checked(handle);
    if (!c)
        return ASYNCIO_EVALUE;
    if (!ciphers)
        return asyncio__raise_code(ASYNCIO_EVALUE, "ciphers is NULL");
    ERR_clear_error();
    if (SSL_CTX_set_cipher_list(c->ctx, ciphers) != 1) {
        ERR_clear_error();
        asyncio__raise_exc(
            asyncio__exc_make(ASYNCIO_ESSL, "SSLError", "No cipher can be selected."));
        return ASYNCIO_ESSL;
    }
    return 0;
}
