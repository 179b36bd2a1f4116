/* The server half of TLS interception (mitmproxy's ServerTLSLayer) as a connection filter:
 * we are the TLS client toward a server. See tls.h (mitm_tls_server_push).
 *
 * start     the connection is open: SSL_new from the server-facing context, SNI, ALPN
 *           offers, the name to verify (RFC 6125: SANs only, no partial wildcards), a
 *           session to resume if the cache has one; the ClientHello goes out
 * recv      ciphertext in: the handshake goes on, then plaintext goes up
 * send      plaintext down: encrypted (held until the handshake is done)
 * close     close_notify, then the TCP close
 * A failed handshake fails the filter with mitmproxy's reason ("Certificate verify failed:
 * <reason>" or "TLS handshake failed: <reason>"): the OPEN that waits for it is answered
 * with that reason (the client's 502 names it) and no plaintext ever reaches the server. */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "layer/cfilter.h"
#include "core/services.h"
#include "proto/tls/sessions.h"
#include "proto/tls/tls-int.h"
#include "proto/tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plaintext held for a connection whose handshake is still running. */
#define PENDING_CAP ((size_t)4 << 20)
#define READ_CHUNK  16384

struct tls_server {
    struct mitm_cfilter base;
    const struct mitm_tls_config *cfg;
    SSL *ssl;
    BIO *in, *out;
    char *sni;         /* what we send (NULL: none) */
    char *verify_name; /* what the certificate must be valid for */
    uint8_t *alpn;     /* offers, RFC 7301 wire format */
    size_t alpn_len;
    char *sess_key; /* its key in the upstream session cache (NULL: not cached) */
    bool hs_done, shut, eof_seen;
    struct mitm_buf pending; /* plaintext sent before the handshake finished */
};

static const struct mitm_cfilter_vt server_vt;

void mitm_tls_ssl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_get_error(), last = e;
    while (e) { /* the last queued error is the most specific one */
        last = e;
        e = ERR_get_error();
    }
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    snprintf(buf, cap, "%s", r ? r : fallback);
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? mitm_strdup(src) : NULL;
}

void mitm_tls_record_facts(struct mitm_conn *c, SSL *ssl, const char *sni)
{
    c->tls = true;
    set_str(&c->sni, sni);
    const unsigned char *a = NULL;
    unsigned int alen = 0;
    SSL_get0_alpn_selected(ssl, &a, &alen);
    free(c->alpn);
    c->alpn = alen ? mitm_strndup((const char *)a, alen) : NULL;
    set_str(&c->tls_version, SSL_get_version(ssl));
    set_str(&c->cipher, SSL_get_cipher_name(ssl));
}

/* What OpenSSL wrote goes down to the socket. */
static void flush(struct tls_server *s)
{
    size_t n = (size_t)BIO_ctrl_pending(s->out);
    if (!n)
        return;
    uint8_t *buf = mitm_alloc(n);
    int r = BIO_read(s->out, buf, (int)n);
    if (r > 0)
        mitm_cfilter_down(&s->base, buf, (size_t)r);
    free(buf);
}

static void fail(struct tls_server *s, const char *reason)
{
    struct mitm_conn *c = s->base.conn;
    mitm_cfilter_log(&s->base, MITM_LOG_INFO, "Server TLS handshake failed for %s:%u. %s", c->host, c->port,
                     reason);
    mitm_cfilter_fail(&s->base, reason);
}

static void write_plain(struct tls_server *s, const uint8_t *p, size_t n)
{
    ERR_clear_error();
    if (n && SSL_write(s->ssl, p, (int)n) <= 0) {
        char why[256];
        mitm_tls_ssl_reason(why, sizeof(why), "write failed");
        mitm_cfilter_log(&s->base, MITM_LOG_INFO, "Server TLS error for %s:%u: %s", s->base.conn->host,
                         s->base.conn->port, why);
    }
    flush(s);
}

static void handshake_done(struct tls_server *s)
{
    s->hs_done = true;
    mitm_tls_record_facts(s->base.conn, s->ssl, s->sni);
    if (s->pending.len) {
        size_t n;
        uint8_t *p = mitm_buf_steal(&s->pending, &n);
        write_plain(s, p, n);
        free(p);
    }
    mitm_cfilter_ready(&s->base);
}

static void step(struct tls_server *s)
{
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    flush(s);
    if (r == 1) {
        handshake_done(s);
        return;
    }
    if (SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_READ)
        return;
    char why[256], msg[320];
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(msg, sizeof(msg), "Certificate verify failed: %s", X509_verify_cert_error_string(v));
    } else {
        mitm_tls_ssl_reason(why, sizeof(why), "handshake failed");
        snprintf(msg, sizeof(msg), "TLS handshake failed: %s", why);
    }
    fail(s, msg);
}

/* Offer a session this server gave an earlier connection made the same way (address,
 * SNI, name verified, ALPN); new sessions reach mitm_tls_new_session. */
static void resume(struct tls_server *s)
{
    char key[1024];
    struct mitm_conn *c = s->base.conn;
    if (!mitm_tls_sessions_key(key, sizeof(key), c->host, c->port, s->sni, s->verify_name, s->alpn,
                               s->alpn_len))
        return;
    s->sess_key = mitm_strdup(key);
    SSL_SESSION *sess = mitm_tls_sessions_take(mitm_tls_config_sessions(s->cfg), key, (time_t)s->base.now);
    if (sess) {
        SSL_set_session(s->ssl, sess);
        SSL_SESSION_free(sess);
    }
}

int mitm_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_server *s = SSL_get_app_data(ssl);
    if (!s || !s->sess_key || s->base.failed)
        return 0; /* not ours to keep: OpenSSL frees it */
    mitm_tls_sessions_put(mitm_tls_config_sessions(s->cfg), s->sess_key, sess);
    return 1;
}

static void verify_setup(struct tls_server *s)
{
    if (!mitm_tls_config_verify(s->cfg))
        return;
    X509_VERIFY_PARAM *p = SSL_get0_param(s->ssl);
    /* RFC 6125: SANs only (no CN fallback), no partial wildcards such as f*.com */
    X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    const char *name = s->verify_name;
    if (mitm_tls_is_ip(name)) {
        char ip[64];
        size_t n = strlen(name);
        if (name[0] == '[' && n >= 2 && n - 2 < sizeof(ip)) {
            memcpy(ip, name + 1, n - 2);
            ip[n - 2] = 0;
        } else {
            snprintf(ip, sizeof(ip), "%s", name);
        }
        X509_VERIFY_PARAM_set1_ip_asc(p, ip);
    } else {
        X509_VERIFY_PARAM_set1_host(p, name, 0);
    }
}

static void server_start(struct mitm_cfilter *f)
{
    struct tls_server *s = (struct tls_server *)f;
    ERR_clear_error();
    s->ssl = SSL_new(mitm_tls_config_server_ctx(s->cfg));
    if (!s->ssl) {
        fail(s, "TLS handshake failed: cannot create a TLS connection");
        return;
    }
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_connect_state(s->ssl);
    SSL_set_app_data(s->ssl, s);
    if (s->sni)
        SSL_set_tlsext_host_name(s->ssl, s->sni);
    if (s->alpn_len)
        SSL_set_alpn_protos(s->ssl, s->alpn, (unsigned)s->alpn_len);
    resume(s);
    verify_setup(s);
    step(s);
}

static void server_recv(struct mitm_cfilter *f, struct mitm_slice data)
{
    struct tls_server *s = (struct tls_server *)f;
    if (f->failed || !s->ssl)
        return;
    BIO_write(s->in, data.base, (int)data.len);
    if (!s->hs_done) {
        step(s);
        return;
    }
    uint8_t buf[READ_CHUNK];
    for (int guard = 0; guard < 1 << 20; guard++) {
        ERR_clear_error();
        int r = SSL_read(s->ssl, buf, sizeof(buf));
        if (r > 0) {
            mitm_cfilter_up(f, mitm_slice(buf, (size_t)r));
            if (f->failed || f->conn->state == MITM_CONN_CLOSED)
                break;
            continue;
        }
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: like a FIN for the layers */
            if (!s->eof_seen) {
                s->eof_seen = true;
                mitm_cfilter_up_closed(f, true);
            }
        } else if (e != SSL_ERROR_WANT_READ) {
            char why[256];
            mitm_tls_ssl_reason(why, sizeof(why), "read failed");
            mitm_cfilter_log(f, MITM_LOG_INFO, "Server TLS error for %s:%u: %s", f->conn->host, f->conn->port,
                             why);
            mitm_cfilter_fail(f, why);
            return;
        }
        break;
    }
    if (s->ssl && !f->failed)
        flush(s);
}

static void server_closed(struct mitm_cfilter *f, bool half)
{
    struct tls_server *s = (struct tls_server *)f;
    if (f->failed)
        return;
    if (!s->hs_done) {
        fail(s, "TLS handshake failed: server closed the connection");
        return;
    }
    if (half && s->eof_seen)
        return;
    s->eof_seen = true;
    mitm_cfilter_up_closed(f, half);
}

static void server_send(struct mitm_cfilter *f, struct mitm_slice data)
{
    struct tls_server *s = (struct tls_server *)f;
    if (f->failed || s->shut)
        return;
    if (s->hs_done) {
        write_plain(s, data.base, data.len);
    } else if (mitm_buf_append(&s->pending, data.base, data.len) < 0) {
        mitm_cfilter_fail(f, "too much data before the TLS handshake finished");
    }
}

static void server_close(struct mitm_cfilter *f, bool half)
{
    struct tls_server *s = (struct tls_server *)f;
    /* close_notify first (RFC 8446 §6.1), then the TCP close */
    if (s->ssl && s->hs_done && !s->shut && !f->failed) {
        s->shut = true;
        ERR_clear_error();
        SSL_shutdown(s->ssl);
        flush(s);
        ERR_clear_error();
    }
    mitm_cfilter_down_close(f, half);
}

static void server_destroy(struct mitm_cfilter *f)
{
    struct tls_server *s = (struct tls_server *)f;
    /* A connection that ends without our close_notify (the client left first) is not an
     * error: without this, SSL_free marks its session, which the cache may hold, as not
     * resumable. Failed connections keep OpenSSL's rule. */
    if (s->ssl && s->hs_done && !f->failed)
        SSL_set_shutdown(s->ssl, SSL_get_shutdown(s->ssl) | SSL_SENT_SHUTDOWN);
    SSL_free(s->ssl);
    free(s->sni);
    free(s->verify_name);
    free(s->alpn);
    free(s->sess_key);
    mitm_buf_free(&s->pending);
    free(s);
}

static const struct mitm_cfilter_vt server_vt = {.name = "tls-server",
                                                 .start = server_start,
                                                 .recv = server_recv,
                                                 .closed = server_closed,
                                                 .send = server_send,
                                                 .close = server_close,
                                                 .destroy = server_destroy};

bool mitm_tls_server_push(struct mitm_ctx *ctx, struct mitm_conn *conn, const char *sni, const uint8_t *alpn,
                          size_t alpn_len)
{
    const struct mitm_tls_config *cfg = ctx->svc ? ctx->svc->tls : NULL;
    if (!cfg)
        return false;
    struct tls_server *s = mitm_calloc(1, sizeof(*s));
    s->base.vt = &server_vt;
    s->cfg = cfg;
    /* SNI: the one asked for, else the destination unless it is an IP (RFC 6066 §3) */
    const char *name = sni && sni[0] ? sni : conn->host;
    if (name && !mitm_tls_is_ip(name))
        s->sni = mitm_strdup(name);
    s->verify_name = mitm_strdup(name ? name : "");
    if (alpn_len) {
        s->alpn = mitm_memdup(alpn, alpn_len);
        s->alpn_len = alpn_len;
    }
    mitm_buf_init(&s->pending, PENDING_CAP);
    mitm_cfilter_push(ctx, conn, &s->base);
    return true;
}

static struct tls_server *find(const struct mitm_conn *conn)
{
    return conn ? (struct tls_server *)mitm_cfilter_find(conn, &server_vt) : NULL;
}

X509 *mitm_tls_server_peer(const struct mitm_conn *conn)
{
    struct tls_server *s = find(conn);
    return s && s->hs_done ? SSL_get0_peer_certificate(s->ssl) : NULL;
}

STACK_OF(X509) * mitm_tls_server_chain(const struct mitm_conn *conn)
{
    struct tls_server *s = find(conn);
    return s && s->hs_done ? SSL_get_peer_cert_chain(s->ssl) : NULL;
}

bool mitm_tls_server_has(const struct mitm_conn *conn)
{
    return find(conn) != NULL;
}
