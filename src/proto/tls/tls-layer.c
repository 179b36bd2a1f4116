/* The TLS layer of a CONNECT tunnel (see tls.h). Sans-io: OpenSSL runs over memory BIOs;
 * ciphertext leaves as SEND commands, arrives as DATA events.
 *
 * Life of a tunnel (eager strategy, mitmproxy's establish_server_tls_first):
 *   HELLO      buffer client bytes until the ClientHello is complete (SNI, ALPN)
 *   SERVER_HS  handshake with the server on the tunnel's connection, offering the
 *              client's SNI (or the CONNECT host unless it is an IP, RFC 6066 §3) and
 *              ALPN minus h2; a failure is remembered, not fatal (see below)
 *   CLIENT_HS  forge the leaf from the server's certificate, SNI and CONNECT host, and
 *              answer the buffered ClientHello
 *   OPEN       an inner HTTP layer runs over the plaintext of both sides: its SENDs to
 *              the client or to a TLS server connection come through command() and are
 *              encrypted; its OPENs of the tunnel's host:port are run by a tls_srv record
 *              (TCP, then the handshake) before the inner layer sees their reply
 *   RELAY      ignore_hosts: bytes pass untouched
 * An upstream handshake failure (e.g. certificate verification) leaves the inner layer
 * without a server; its first OPEN is answered with the reason, so the client gets a 502
 * naming it and no request byte goes upstream. */
#include "core/options.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "cert/store.h"
#include "core/services.h"
#include "layer/layer.h"
#include "proto/http/layer.h"
#include "proto/tls/clienthello.h"
#include "proto/tls/sessions.h"
#include "proto/tls/tls-int.h"
#include "proto/tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Client bytes we hold before the handshake starts: the hello plus a little slack. */
#define HELLO_CAP (MITM_TLS_CLIENTHELLO_MAX + MITM_TLS_RECORD_MAX)
/* Plaintext held for a server connection whose handshake is still running. */
#define PENDING_CAP ((size_t)4 << 20)
#define READ_CHUNK  16384

enum state {
    ST_HELLO = 0,
    ST_SERVER_HS,
    ST_CLIENT_HS,
    ST_OPEN,
    ST_RELAY,
    ST_DEAD,
};

struct tls_layer;

/* One server connection under TLS. Its base is the origin of its OPEN, so waiting for
 * the TCP connect pauses this record, never the TLS layer (client bytes keep flowing). */
struct tls_srv {
    struct mitm_layer base;
    struct tls_layer *t;
    struct mitm_conn *conn;
    SSL *ssl;
    BIO *in, *out;
    char *sni;      /* what we sent (NULL: none) */
    char *sess_key; /* its key in the upstream session cache (NULL: not cached) */
    bool hs_done, failed, shut;
    struct mitm_cmd *child_open; /* the inner layer's OPEN, answered after the handshake */
    struct mitm_buf pending;     /* plaintext sent before the handshake finished */
    struct tls_srv *next;
};

struct tls_layer {
    struct mitm_layer base;
    const struct mitm_tls_config *cfg;
    char *host;
    uint16_t port;
    enum state state;
    struct mitm_buf hello; /* client bytes before the client handshake starts */
    struct mitm_clienthello ch;
    uint8_t *alpn_wire; /* client's offers minus h2, RFC 7301 §3.1 wire format */
    size_t alpn_wire_len;
    SSL *ssl; /* client side */
    BIO *in, *out;
    bool client_shut, client_eof;
    struct mitm_conn *server; /* the tunnel's TCP connection (may be NULL) */
    struct tls_srv *srvs;
    struct tls_srv *tunnel;          /* the record for server while its handshake decides the leaf */
    X509 *upstream;                  /* server's certificate (eager sniffing) */
    STACK_OF(X509) * upstream_chain; /* the server's chain, for add_upstream_certs_to_client_chain */
    char *upstream_error;            /* why the eager upstream handshake failed */
    bool server_alpn_known;          /* the server handshake ran with ALPN offers */
    char *server_alpn;               /* what it chose ("" = none) */
    struct mitm_layer *child;
    double now;
};

static const struct mitm_layer_vt tls_vt, srv_vt;

static void start_client_hs(struct tls_layer *t);
static void pump_client(struct tls_layer *t);

/* ---- helpers ------------------------------------------------------------------- */

/* The reason OpenSSL gives for the last failure on this thread (queue cleared). */
static void ssl_reason(char *buf, size_t cap, const char *fallback)
{
    unsigned long e = ERR_get_error(), last = e;
    while (e) { /* the last queued error is the most specific one */
        last = e;
        e = ERR_get_error();
    }
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    snprintf(buf, cap, "%s", r ? r : fallback);
}

/* Move what OpenSSL wrote into the out BIO to conn as one SEND. */
static void flush_to(struct tls_layer *t, BIO *out, struct mitm_conn *conn, bool closing);

static void flush(struct tls_layer *t, BIO *out, struct mitm_conn *conn)
{
    flush_to(t, out, conn, false);
}

/* closing: conn is already marked CLOSED by the CLOSE being emitted (mitm_layer_close),
 * but our close_notify still goes out ahead of it. */
static void flush_to(struct tls_layer *t, BIO *out, struct mitm_conn *conn, bool closing)
{
    size_t n = (size_t)BIO_ctrl_pending(out);
    if (!n)
        return;
    uint8_t *buf = mitm_alloc(n);
    int r = BIO_read(out, buf, (int)n);
    if (r > 0 && conn && (closing || conn->state != MITM_CONN_CLOSED)) {
        struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_SEND);
        c->conn = conn;
        c->data = buf;
        c->len = (size_t)r;
        mitm_layer_emit(&t->base, c);
        return;
    }
    free(buf);
}

static void close_conn(struct tls_layer *t, struct mitm_conn *c, bool half)
{
    if (c && c->state != MITM_CONN_CLOSED && c->state != MITM_CONN_NEW)
        mitm_layer_close(&t->base, c, half);
}

static void child_event(struct tls_layer *t, const struct mitm_event *ev)
{
    if (t->child)
        mitm_layer_event(t->child, ev);
}

static void child_data(struct tls_layer *t, struct mitm_conn *conn, const uint8_t *p, size_t n)
{
    struct mitm_event ev = {.type = MITM_EV_DATA, .now = t->now, .conn = conn, .data = mitm_slice(p, n)};
    child_event(t, &ev);
}

static void child_closed(struct tls_layer *t, struct mitm_conn *conn, bool half)
{
    struct mitm_event ev = {.type = MITM_EV_CLOSED, .now = t->now, .conn = conn, .half_close = half};
    child_event(t, &ev);
}

static const char *dest(const struct tls_layer *t)
{
    return t->ch.sni ? t->ch.sni : t->host;
}

static bool is_tunnel_target(const struct tls_layer *t, const struct mitm_conn *c)
{
    return c->host && c->port == t->port && strcasecmp(c->host, t->host) == 0;
}

static struct tls_srv *find_srv(const struct tls_layer *t, const struct mitm_conn *c)
{
    for (struct tls_srv *s = t->srvs; s; s = s->next)
        if (s->conn == c)
            return s;
    return NULL;
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? mitm_strdup(src) : NULL;
}

/* TLS facts of a finished handshake on the connection (flows copy them). */
static void record_facts(struct mitm_conn *c, SSL *ssl, const char *sni)
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

/* Answer the inner layer's OPEN (err NULL: connected and handshaken). */
static void reply_child(struct tls_layer *t, struct mitm_cmd *c, const char *err, bool timeout)
{
    if (err) {
        free(c->error);
        c->error = mitm_strdup(err);
        c->timeout = timeout;
        c->conn->state = MITM_CONN_CLOSED;
    }
    struct mitm_layer *o = c->origin;
    if (o) {
        struct mitm_event ev = {.type = MITM_EV_REPLY, .now = t->now, .cmd = c};
        mitm_layer_event(o, &ev);
    }
    mitm_cmd_free(c);
}

/* ---- ALPN ---------------------------------------------------------------------- */

static bool alpn_in(const unsigned char *in, unsigned int inlen, const char *p, size_t plen,
                    const unsigned char **at)
{
    for (unsigned int i = 0; i < inlen;) {
        unsigned int l = in[i];
        if (i + 1 + l > inlen)
            return false;
        if (l == plen && memcmp(in + i + 1, p, plen) == 0) {
            *at = in + i + 1;
            return true;
        }
        i += 1 + l;
    }
    return false;
}

int mitm_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                         unsigned int inlen, void *arg)
{
    (void)arg;
    struct tls_layer *t = SSL_get_app_data(ssl);
    if (!t)
        return SSL_TLSEXT_ERR_NOACK;
    if (t->server_alpn_known) {
        /* mirror the server; none there means none here (mitmproxy's NO_OVERLAPPING) */
        size_t l = strlen(t->server_alpn);
        if (l && strcmp(t->server_alpn, "h2") != 0 && alpn_in(in, inlen, t->server_alpn, l, out)) {
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        return SSL_TLSEXT_ERR_NOACK;
    }
    /* no server answer to mirror: the client's first HTTP/1 protocol, in its order */
    for (unsigned int i = 0; i < inlen;) {
        unsigned int l = in[i];
        if (i + 1 + l > inlen)
            break;
        const char *p = (const char *)in + i + 1;
        if ((l == 8 && memcmp(p, "http/1.1", 8) == 0) || (l == 8 && memcmp(p, "http/1.0", 8) == 0) ||
            (l == 8 && memcmp(p, "http/0.9", 8) == 0)) {
            *out = in + i + 1;
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* The client's ALPN offers minus h2 (we speak HTTP/1 only), in wire format. */
static void build_alpn(struct tls_layer *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->ch.alpn_count; i++)
        total += 1 + t->ch.alpn[i].len;
    t->alpn_wire = mitm_alloc(total + 1);
    size_t n = 0;
    for (size_t i = 0; i < t->ch.alpn_count; i++) {
        struct mitm_slice a = t->ch.alpn[i];
        if (a.len == 0 || a.len > 255 || mitm_slice_eq(a, mitm_slice_str("h2")))
            continue;
        t->alpn_wire[n++] = (uint8_t)a.len;
        memcpy(t->alpn_wire + n, a.base, a.len);
        n += a.len;
    }
    t->alpn_wire_len = n;
}

/* ---- server side --------------------------------------------------------------- */

static void srv_free(struct tls_srv *s)
{
    mitm_layer_deinit(&s->base);
    mitm_cmd_free(s->child_open);
    /* A connection that ends without our close_notify (the client left first) is not an
     * error: without this, SSL_free marks its session, which the cache may hold, as not
     * resumable. Failed connections keep OpenSSL's rule. */
    if (s->ssl && s->hs_done && !s->failed)
        SSL_set_shutdown(s->ssl, SSL_get_shutdown(s->ssl) | SSL_SENT_SHUTDOWN);
    SSL_free(s->ssl);
    free(s->sni);
    free(s->sess_key);
    mitm_buf_free(&s->pending);
    free(s);
}

static struct tls_srv *srv_new(struct tls_layer *t, struct mitm_conn *conn)
{
    struct tls_srv *s = mitm_calloc(1, sizeof(*s));
    mitm_layer_init(&s->base, &srv_vt, t->base.ctx, &t->base);
    s->t = t;
    s->conn = conn;
    mitm_buf_init(&s->pending, PENDING_CAP);
    s->next = t->srvs;
    t->srvs = s;
    return s;
}

static void srv_done(struct tls_srv *s);
static void srv_fail(struct tls_srv *s, const char *reason);

static void srv_step(struct tls_srv *s)
{
    struct tls_layer *t = s->t;
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    flush(t, s->out, s->conn);
    if (r == 1) {
        srv_done(s);
        return;
    }
    int e = SSL_get_error(s->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return;
    char why[256], msg[320];
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        snprintf(msg, sizeof(msg), "Certificate verify failed: %s", X509_verify_cert_error_string(v));
    } else {
        ssl_reason(why, sizeof(why), "handshake failed");
        snprintf(msg, sizeof(msg), "TLS handshake failed: %s", why);
    }
    srv_fail(s, msg);
}

/* Offer a session this server gave an earlier connection made the same way (address,
 * SNI, name verified, ALPN), if the cache has one; new sessions reach
 * mitm_tls_new_session. */
static void resume(struct tls_srv *s, const char *name)
{
    char key[1024];
    struct tls_layer *t = s->t;
    if (!mitm_tls_sessions_key(key, sizeof(key), s->conn->host, s->conn->port, s->sni, name, t->alpn_wire,
                               t->alpn_wire_len))
        return;
    s->sess_key = mitm_strdup(key);
    SSL_set_app_data(s->ssl, s);
    SSL_SESSION *sess = mitm_tls_sessions_take(mitm_tls_config_sessions(t->cfg), key, (time_t)t->now);
    if (sess) {
        SSL_set_session(s->ssl, sess);
        SSL_SESSION_free(sess);
    }
}

int mitm_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_srv *s = SSL_get_app_data(ssl);
    if (!s || !s->sess_key || s->failed)
        return 0; /* not ours to keep: OpenSSL frees it */
    mitm_tls_sessions_put(mitm_tls_config_sessions(s->t->cfg), s->sess_key, sess);
    return 1;
}

/* Start the client handshake toward the server on s->conn (open). */
static void srv_start(struct tls_srv *s)
{
    struct tls_layer *t = s->t;
    ERR_clear_error();
    s->ssl = SSL_new(mitm_tls_config_server_ctx(t->cfg));
    if (!s->ssl) {
        srv_fail(s, "TLS handshake failed: cannot create a TLS connection");
        return;
    }
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_connect_state(s->ssl);
    /* SNI: the client's, else the destination unless it is an IP (RFC 6066 §3) */
    const char *name = t->ch.sni ? t->ch.sni : t->host;
    if (!mitm_tls_is_ip(name)) {
        s->sni = mitm_strdup(name);
        SSL_set_tlsext_host_name(s->ssl, s->sni);
    }
    if (t->alpn_wire_len)
        SSL_set_alpn_protos(s->ssl, t->alpn_wire, (unsigned)t->alpn_wire_len);
    resume(s, name);
    if (mitm_tls_config_verify(t->cfg)) {
        X509_VERIFY_PARAM *p = SSL_get0_param(s->ssl);
        /* RFC 6125: SANs only (no CN fallback), no partial wildcards such as f*.com */
        X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                               X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
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
    srv_step(s);
}

static void srv_write(struct tls_srv *s, const uint8_t *p, size_t n)
{
    ERR_clear_error();
    if (n && SSL_write(s->ssl, p, (int)n) <= 0) {
        char why[256];
        ssl_reason(why, sizeof(why), "write failed");
        mitm_layer_log(&s->t->base, MITM_LOG_INFO, "Server TLS error for %s:%u: %s", s->conn->host,
                       s->conn->port, why);
    }
    flush(s->t, s->out, s->conn);
}

static void srv_done(struct tls_srv *s)
{
    struct tls_layer *t = s->t;
    s->hs_done = true;
    record_facts(s->conn, s->ssl, s->sni);
    if (s == t->tunnel && t->state == ST_SERVER_HS) {
        t->tunnel = NULL;
        t->server_alpn_known = t->alpn_wire_len > 0;
        set_str(&t->server_alpn, s->conn->alpn ? s->conn->alpn : "");
        if (mitm_tls_config_upstream_cert(t->cfg))
            t->upstream = SSL_get1_peer_certificate(s->ssl);
        STACK_OF(X509) *chain = SSL_get_peer_cert_chain(s->ssl);
        if (t->base.ctx->opts->add_upstream_certs_to_client_chain && chain)
            t->upstream_chain = X509_chain_up_ref(chain);
        start_client_hs(t);
        return;
    }
    if (s->child_open) {
        struct mitm_cmd *c = s->child_open;
        s->child_open = NULL;
        reply_child(t, c, NULL, false);
    }
    if (s->pending.len && !s->failed) {
        size_t n;
        uint8_t *p = mitm_buf_steal(&s->pending, &n);
        srv_write(s, p, n);
        free(p);
    }
}

static void srv_fail(struct tls_srv *s, const char *reason)
{
    struct tls_layer *t = s->t;
    s->failed = true;
    mitm_layer_log(&t->base, MITM_LOG_INFO, "Server TLS handshake failed for %s:%u. %s", s->conn->host,
                   s->conn->port, reason);
    free(s->conn->error);
    s->conn->error = mitm_strdup(reason);
    close_conn(t, s->conn, false);
    if (s == t->tunnel && t->state == ST_SERVER_HS) {
        /* mitmproxy: the client still gets its handshake; the reason becomes the 502 of
         * its first request */
        t->tunnel = NULL;
        t->server = NULL;
        set_str(&t->upstream_error, reason);
        start_client_hs(t);
        return;
    }
    if (s->child_open) {
        struct mitm_cmd *c = s->child_open;
        s->child_open = NULL;
        reply_child(t, c, reason, false);
    }
}

/* Ciphertext from a server connection. */
static void srv_data(struct tls_srv *s, const uint8_t *p, size_t n)
{
    struct tls_layer *t = s->t;
    if (s->failed || !s->ssl)
        return;
    BIO_write(s->in, p, (int)n);
    if (!s->hs_done) {
        srv_step(s);
        return;
    }
    uint8_t buf[READ_CHUNK];
    for (int guard = 0; guard < 1 << 20; guard++) {
        ERR_clear_error();
        int r = SSL_read(s->ssl, buf, sizeof(buf));
        if (r > 0) {
            child_data(t, s->conn, buf, (size_t)r);
            if (s->conn->state == MITM_CONN_CLOSED)
                break;
            continue;
        }
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: like a FIN for the HTTP layer */
            child_closed(t, s->conn, true);
        } else if (e != SSL_ERROR_WANT_READ) {
            char why[256];
            ssl_reason(why, sizeof(why), "read failed");
            mitm_layer_log(&t->base, MITM_LOG_INFO, "Server TLS error for %s:%u: %s", s->conn->host,
                           s->conn->port, why);
            s->failed = true;
            close_conn(t, s->conn, false);
            child_closed(t, s->conn, false);
        }
        break;
    }
    if (s->ssl)
        flush(t, s->out, s->conn);
}

static void srv_closed(struct tls_srv *s, const struct mitm_event *ev)
{
    struct tls_layer *t = s->t;
    if (!s->hs_done && !s->failed) {
        srv_fail(s, "TLS handshake failed: server closed the connection");
        return;
    }
    if (s->hs_done)
        child_closed(t, s->conn, ev->half_close);
}

/* The reply to this record's OPEN. */
static void srv_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct tls_srv *s = (struct tls_srv *)l;
    if (ev->type != MITM_EV_REPLY)
        return;
    s->t->now = ev->now;
    if (ev->cmd->error) {
        s->failed = true;
        if (s->child_open) {
            struct mitm_cmd *c = s->child_open;
            s->child_open = NULL;
            reply_child(s->t, c, ev->cmd->error, ev->cmd->timeout);
        }
        return;
    }
    srv_start(s);
}

static void srv_destroy(struct mitm_layer *l)
{
    srv_free((struct tls_srv *)l);
}

static const struct mitm_layer_vt srv_vt = {
    .name = "ServerTLS", .handle = srv_handle, .destroy = srv_destroy};

/* ---- client side --------------------------------------------------------------- */

static void fail_client(struct tls_layer *t, const char *msg)
{
    mitm_layer_log(&t->base, MITM_LOG_WARN, "Client TLS handshake failed. %s", msg);
    free(t->base.ctx->client->error);
    t->base.ctx->client->error = mitm_strdup(msg);
    t->state = ST_DEAD;
    close_conn(t, t->base.ctx->client, false);
    close_conn(t, t->server, false);
    for (struct tls_srv *s = t->srvs; s; s = s->next)
        close_conn(t, s->conn, false);
}

static void start_client_hs(struct tls_layer *t)
{
    char err[256];
    struct mitm_cert_names names;
    struct mitm_conn *client = t->base.ctx->client;
    t->state = ST_CLIENT_HS;
    mitm_cert_names_build(&names, t->upstream, t->ch.sni, t->ch.sni ? NULL : client->sock_host, t->host);
    struct mitm_cert_entry *e = mitm_cert_store_get(mitm_tls_config_store(t->cfg), &names, err, sizeof(err));
    mitm_cert_names_free(&names);
    if (!e) {
        char msg[320];
        snprintf(msg, sizeof(msg), "cannot make a certificate for %s: %s", dest(t), err);
        fail_client(t, msg);
        return;
    }
    ERR_clear_error();
    t->ssl = SSL_new(mitm_tls_config_client_ctx(t->cfg));
    if (!t->ssl || !mitm_cert_entry_apply(e, t->ssl)) {
        mitm_cert_entry_release(e);
        char why[256], msg[320];
        ssl_reason(why, sizeof(why), "out of memory");
        snprintf(msg, sizeof(msg), "cannot set up TLS for %s: %s", dest(t), why);
        fail_client(t, msg);
        return;
    }
    mitm_cert_entry_release(e);
    /* add_upstream_certs_to_client_chain: the server's certificates follow our leaf */
    for (int i = 0; t->upstream_chain && i < sk_X509_num(t->upstream_chain); i++)
        SSL_add1_chain_cert(t->ssl, sk_X509_value(t->upstream_chain, i));
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_accept_state(t->ssl);
    SSL_set_app_data(t->ssl, t);
    size_t n;
    uint8_t *p = mitm_buf_steal(&t->hello, &n);
    BIO_write(t->in, p, (int)n);
    free(p);
    pump_client(t);
}

/* The client handshake finished: the inner HTTP layer takes over the plaintext. */
static void client_ready(struct tls_layer *t)
{
    struct mitm_conn *client = t->base.ctx->client;
    record_facts(client, t->ssl, t->ch.sni);
    t->state = ST_OPEN;
    struct mitm_conn *server = t->server && !t->upstream_error && t->server->state == MITM_CONN_OPEN &&
                                       find_srv(t, t->server) && find_srv(t, t->server)->hs_done
                                   ? t->server
                                   : NULL;
    t->child = mitm_http_layer_new_inner(t->base.ctx, &t->base, "https", t->host, t->port, server);
}

static void classify_failure(struct tls_layer *t, const char *why, char *msg, size_t cap)
{
    if (strstr(why, "unknown ca") || strstr(why, "bad certificate") || strstr(why, "certificate unknown"))
        snprintf(msg, cap, "The client does not trust the proxy's certificate for %s (%s)", dest(t), why);
    else
        snprintf(msg, cap, "%s", why);
}

static void pump_client(struct tls_layer *t)
{
    struct mitm_conn *client = t->base.ctx->client;
    if (t->state == ST_CLIENT_HS) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            flush(t, t->out, client);
            if (e == SSL_ERROR_WANT_READ)
                return;
            char why[256], msg[512];
            ssl_reason(why, sizeof(why), "handshake failed");
            classify_failure(t, why, msg, sizeof(msg));
            fail_client(t, msg);
            return;
        }
        flush(t, t->out, client);
        client_ready(t);
    }
    if (t->state != ST_OPEN)
        return;
    uint8_t buf[READ_CHUNK];
    for (int guard = 0; guard < 1 << 20 && t->ssl; guard++) {
        if (client->state == MITM_CONN_CLOSED || t->client_eof)
            break;
        ERR_clear_error();
        int r = SSL_read(t->ssl, buf, sizeof(buf));
        if (r > 0) {
            child_data(t, client, buf, (size_t)r);
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->client_eof = true;
            child_closed(t, client, true);
        } else if (e != SSL_ERROR_WANT_READ) {
            char why[256];
            ssl_reason(why, sizeof(why), "read failed");
            mitm_layer_log(&t->base, MITM_LOG_INFO, "Client TLS error: %s", why);
            t->client_eof = true;
            close_conn(t, client, false);
            child_closed(t, client, false);
        }
        break;
    }
    if (t->ssl)
        flush(t, t->out, client);
}

/* ---- relay (ignore_hosts) ------------------------------------------------------ */

static void start_relay(struct tls_layer *t)
{
    struct mitm_conn *client = t->base.ctx->client;
    if (!t->server || t->server->state != MITM_CONN_OPEN) {
        mitm_layer_log(&t->base, MITM_LOG_INFO, "Cannot relay the ignored connection to %s:%u: no server",
                       t->host, t->port);
        t->state = ST_DEAD;
        close_conn(t, client, false);
        return;
    }
    t->state = ST_RELAY;
    size_t n;
    uint8_t *p = mitm_buf_steal(&t->hello, &n);
    mitm_layer_send(&t->base, t->server, p, n);
    free(p);
}

static void relay(struct tls_layer *t, const struct mitm_event *ev)
{
    struct mitm_conn *client = t->base.ctx->client;
    struct mitm_conn *other = ev->conn == client ? t->server : client;
    if (!other)
        return;
    if (ev->type == MITM_EV_DATA)
        mitm_layer_send(&t->base, other, ev->data.base, ev->data.len);
    else if (ev->type == MITM_EV_CLOSED)
        close_conn(t, other, ev->half_close);
}

/* ---- the ClientHello ----------------------------------------------------------- */

static void on_hello_bytes(struct tls_layer *t, const uint8_t *p, size_t n)
{
    if (mitm_buf_append(&t->hello, p, n) < 0) {
        fail_client(t, "ClientHello too large");
        return;
    }
    if (t->state != ST_HELLO)
        return; /* held until the client handshake starts */
    ssize_t r = mitm_tls_parse_clienthello(mitm_buf_data(&t->hello), t->hello.len, &t->ch);
    if (r == MITM_INCOMPLETE)
        return;
    if (r < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid ClientHello for %s:%u: %s", t->host, t->port,
                 t->ch.error ? t->ch.error : "parse error");
        fail_client(t, msg);
        return;
    }
    build_alpn(t);
    const char *peer = t->server && t->server->peer_host[0] ? t->server->peer_host : NULL;
    if (mitm_tls_config_ignored(t->cfg, t->host, t->port, peer, t->ch.sni)) {
        start_relay(t);
        return;
    }
    if (mitm_tls_config_eager(t->cfg) && t->server && t->server->state == MITM_CONN_OPEN) {
        t->state = ST_SERVER_HS;
        t->tunnel = srv_new(t, t->server);
        srv_start(t->tunnel);
        return;
    }
    /* lazy (or no tunnel connection): the inner layer opens one when a request needs it */
    if (t->server) {
        close_conn(t, t->server, false);
        t->server = NULL;
    }
    start_client_hs(t);
}

/* ---- the layer ----------------------------------------------------------------- */

static void on_client_closed(struct tls_layer *t, const struct mitm_event *ev)
{
    switch (t->state) {
    case ST_OPEN:
        if (!t->client_eof || !ev->half_close) {
            t->client_eof = true;
            child_closed(t, ev->conn, ev->half_close);
        }
        break;
    case ST_RELAY:
        relay(t, ev);
        break;
    case ST_HELLO:
    case ST_SERVER_HS:
    case ST_CLIENT_HS: {
        char msg[512];
        if (t->state == ST_CLIENT_HS)
            snprintf(
                msg, sizeof(msg),
                "The client disconnected during the handshake. If this happens consistently for %s, this "
                "may indicate that the client does not trust the proxy's certificate.",
                dest(t));
        else
            snprintf(msg, sizeof(msg), "The client disconnected before the TLS handshake to %s:%u", t->host,
                     t->port);
        fail_client(t, msg);
        break;
    }
    case ST_DEAD:
        break;
    }
}

static void collect(struct tls_layer *t)
{
    struct tls_srv **pp = &t->srvs;
    while (*pp) {
        struct tls_srv *s = *pp;
        if (s != t->tunnel && !s->base.paused && !s->child_open && s->conn->state == MITM_CONN_CLOSED) {
            *pp = s->next;
            srv_free(s);
        } else {
            pp = &s->next;
        }
    }
}

static void tls_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct tls_layer *t = (struct tls_layer *)l;
    struct mitm_conn *client = l->ctx->client;
    t->now = ev->now;
    collect(t);
    if (ev->type != MITM_EV_DATA && ev->type != MITM_EV_CLOSED)
        return;
    if (t->state == ST_RELAY && (ev->conn == client || ev->conn == t->server)) {
        relay(t, ev);
        return;
    }
    if (ev->conn == client) {
        if (ev->type == MITM_EV_CLOSED) {
            on_client_closed(t, ev);
            return;
        }
        switch (t->state) {
        case ST_HELLO:
        case ST_SERVER_HS:
            on_hello_bytes(t, ev->data.base, ev->data.len);
            break;
        case ST_CLIENT_HS:
        case ST_OPEN:
            BIO_write(t->in, ev->data.base, (int)ev->data.len);
            pump_client(t);
            break;
        default:
            break;
        }
        return;
    }
    struct tls_srv *s = find_srv(t, ev->conn);
    if (s) {
        if (ev->type == MITM_EV_DATA)
            srv_data(s, ev->data.base, ev->data.len);
        else
            srv_closed(s, ev);
        return;
    }
    if (ev->conn == t->server) /* the tunnel connection we gave up (lazy) */
        return;
    child_event(t, ev); /* a plain connection of the inner layer */
}

/* Commands of the inner HTTP layer (and its streams) before they are queued. */
static bool tls_command(struct mitm_layer *l, struct mitm_layer *from, struct mitm_cmd *c)
{
    struct tls_layer *t = (struct tls_layer *)l;
    struct mitm_conn *client = l->ctx->client;
    if (from->vt == &srv_vt)
        return false; /* our own OPEN */
    switch (c->type) {
    case MITM_CMD_SEND: {
        if (c->conn == client) {
            if (t->state == ST_OPEN && t->ssl && !t->client_shut) {
                ERR_clear_error();
                if (SSL_write(t->ssl, c->data, (int)c->len) <= 0) {
                    char why[256];
                    ssl_reason(why, sizeof(why), "write failed");
                    mitm_layer_log(&t->base, MITM_LOG_INFO, "Client TLS error: %s", why);
                }
                flush(t, t->out, client);
            }
            mitm_cmd_free(c);
            return true;
        }
        struct tls_srv *s = find_srv(t, c->conn);
        if (!s)
            return false;
        if (s->hs_done && !s->failed && !s->shut)
            srv_write(s, c->data, c->len);
        else if (!s->failed && mitm_buf_append(&s->pending, c->data, c->len) < 0)
            close_conn(t, s->conn, false);
        mitm_cmd_free(c);
        return true;
    }
    case MITM_CMD_CLOSE: {
        /* close_notify first (RFC 8446 §6.1), then the TCP close the command asks for */
        if (c->conn == client && t->ssl && !t->client_shut && t->state == ST_OPEN) {
            t->client_shut = true;
            ERR_clear_error();
            SSL_shutdown(t->ssl);
            flush_to(t, t->out, client, true);
            ERR_clear_error();
        } else {
            struct tls_srv *s = find_srv(t, c->conn);
            if (s && s->hs_done && !s->shut && !s->failed) {
                s->shut = true;
                ERR_clear_error();
                SSL_shutdown(s->ssl);
                flush_to(t, s->out, s->conn, true);
                ERR_clear_error();
            }
        }
        return false;
    }
    case MITM_CMD_OPEN: {
        if (!is_tunnel_target(t, c->conn))
            return false; /* plain HTTP elsewhere (absolute-form request in the tunnel) */
        if (t->upstream_error) {
            reply_child(t, c, t->upstream_error, false);
            return true;
        }
        struct tls_srv *s = srv_new(t, c->conn);
        s->child_open = c;
        mitm_layer_open(&s->base, c->conn);
        return true;
    }
    default:
        return false;
    }
}

static void tls_destroy(struct mitm_layer *l)
{
    struct tls_layer *t = (struct tls_layer *)l;
    mitm_layer_destroy(t->child);
    struct tls_srv *s, *n;
    for (s = t->srvs; s; s = n) {
        n = s->next;
        srv_free(s);
    }
    SSL_free(t->ssl);
    X509_free(t->upstream);
    if (t->upstream_chain)
        sk_X509_pop_free(t->upstream_chain, X509_free);
    mitm_buf_free(&t->hello);
    mitm_tls_clienthello_free(&t->ch);
    free(t->alpn_wire);
    free(t->host);
    free(t->upstream_error);
    free(t->server_alpn);
    mitm_layer_deinit(l);
    free(t);
}

static const struct mitm_layer_vt tls_vt = {
    .name = "TlsLayer", .handle = tls_handle, .destroy = tls_destroy, .command = tls_command};

struct mitm_layer *mitm_tls_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, const char *host, uint16_t port)
{
    const struct mitm_tls_config *cfg = ctx->svc ? ctx->svc->tls : NULL;
    if (!cfg)
        return NULL;
    /* ignore_hosts matching the CONNECT target: the HTTP layer relays (allow_hosts has
     * to wait for the SNI, which may still match) */
    const char *peer = server && server->peer_host[0] ? server->peer_host : NULL;
    if (mitm_tls_config_has_ignore(cfg) && mitm_tls_config_ignored(cfg, host, port, peer, NULL))
        return NULL;
    struct tls_layer *t = mitm_calloc(1, sizeof(*t));
    mitm_layer_init(&t->base, &tls_vt, ctx, parent);
    t->cfg = cfg;
    t->host = mitm_strdup(host);
    t->port = port;
    t->server = server;
    mitm_buf_init(&t->hello, HELLO_CAP);
    return &t->base;
}
