/* The client half of TLS interception (mitmproxy's ClientTLSLayer): we are the TLS server
 * toward the client. See tls.h (mitm_tls_client_layer_new). Sans-io: OpenSSL over memory
 * BIOs; ciphertext leaves as SEND commands, arrives as DATA events.
 *
 *   HELLO      hold client bytes until the ClientHello is complete (SNI, ALPN), then the
 *              tls_clienthello hook (an addon may ask to pass the connection through)
 *   SERVER_HS  with server TLS and the eager strategy (mitmproxy's
 *              establish_server_tls_first): the server half is pushed on the server
 *              connection with the client's SNI and ALPN offers and the connection opened;
 *              its certificate names the leaf. A failure is remembered, not fatal: the
 *              client still gets its handshake and the reason becomes the 502 of its first
 *              request (the server connection's OPEN is answered with it), as in mitmproxy
 *   CLIENT_HS  forge the leaf (upstream certificate, SNI, destination), answer the hello
 *   OPEN       a next-layer step runs over the plaintext: SENDs to the client from below are
 *              encrypted here (command()), client bytes decrypted
 *   RELAY      tls_clienthello said ignore_connection: a TCP relay without a flow */
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "cert/store.h"
#include "core/options.h"
#include "core/services.h"
#include "layer/layer.h"
#include "proto/next.h"
#include "proto/tcp/tcp.h"
#include "proto/tls/clienthello.h"
#include "proto/tls/tls-int.h"
#include "proto/tls/tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Client bytes we hold before the handshake starts: the hello plus a little slack. */
#define HELLO_CAP  (MITM_TLS_CLIENTHELLO_MAX + MITM_TLS_RECORD_MAX)
#define READ_CHUNK 16384

enum state {
    ST_HELLO = 0,
    ST_HOOK, /* tls_clienthello */
    ST_SERVER_HS,
    ST_CLIENT_HS,
    ST_OPEN,
    ST_RELAY,
    ST_DEAD,
};

struct tls_client {
    struct mitm_layer base;
    const struct mitm_tls_config *cfg;
    struct mitm_conn *server;  /* the stack's server (NULL: a secure web proxy's client) */
    bool server_tls;           /* the server half runs on server */
    enum mitm_next_kind after; /* the next-layer step over the plaintext */
    enum state state;
    struct mitm_buf hello; /* client bytes before the client handshake starts */
    struct mitm_buf early; /* server bytes before the child exists (an h2 server's SETTINGS
                              arrive during the client handshake when the connect is eager) */
    struct mitm_clienthello ch;
    uint8_t *alpn_wire; /* client's offers (minus h2 if http2 is off), RFC 7301 §3.1 wire format */
    size_t alpn_wire_len;
    SSL *ssl;
    BIO *in, *out;
    bool client_shut, client_eof;
    char *upstream_error; /* why the eager upstream handshake failed */
    struct mitm_layer *child;
    struct mitm_timer hs_timer; /* tls_handshake_timeout */
    double now;
};

static const struct mitm_layer_vt client_vt;

static const char *dest(const struct tls_client *t)
{
    return t->ch.sni ? t->ch.sni : t->server && t->server->host ? t->server->host : "the proxy";
}

/* Move what OpenSSL wrote to the client as one SEND. Emitted from this layer, so no
 * ancestor re-encrypts it. closing: the client is already marked CLOSED by the CLOSE being
 * emitted, but our close_notify still goes out ahead of it. */
static void flush_to(struct tls_client *t, bool closing)
{
    struct mitm_conn *conn = t->base.ctx->client;
    size_t n = (size_t)BIO_ctrl_pending(t->out);
    if (!n)
        return;
    uint8_t *buf = mitm_alloc(n);
    int r = BIO_read(t->out, buf, (int)n);
    if (r > 0 && (closing || conn->state != MITM_CONN_CLOSED)) {
        struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_SEND);
        c->conn = conn;
        c->data = buf;
        c->len = (size_t)r;
        mitm_layer_emit(&t->base, c);
        return;
    }
    free(buf);
}

static void flush(struct tls_client *t)
{
    flush_to(t, false);
}

static void close_conn(struct tls_client *t, struct mitm_conn *c)
{
    if (c && c->state != MITM_CONN_CLOSED && c->state != MITM_CONN_NEW)
        mitm_layer_close(&t->base, c, false);
}

static void child_data(struct tls_client *t, const uint8_t *p, size_t n)
{
    struct mitm_event ev = {
        .type = MITM_EV_DATA, .now = t->now, .conn = t->base.ctx->client, .data = mitm_slice(p, n)};
    if (t->child)
        mitm_layer_event(t->child, &ev);
}

static void child_closed(struct tls_client *t, bool half)
{
    struct mitm_event ev = {
        .type = MITM_EV_CLOSED, .now = t->now, .conn = t->base.ctx->client, .half_close = half};
    if (t->child)
        mitm_layer_event(t->child, &ev);
}

/* ---- hook arguments -------------------------------------------------------------- */

static void hookdata_free(void *p)
{
    free(p);
}

static const struct mitm_payload_vt clienthello_vt = {.name = "ClientHelloData", .free = hookdata_free};
static const struct mitm_payload_vt tlsdata_vt = {.name = "TlsData", .free = hookdata_free};

static void hook_tls(struct tls_client *t, enum mitm_hook h, const char *error)
{
    struct mitm_tls_hook_data *d = mitm_calloc(1, sizeof(*d));
    d->conn = t->base.ctx->client;
    snprintf(d->error, sizeof(d->error), "%s", error ? error : "");
    mitm_layer_hook(&t->base, h, (struct mitm_payload){.vt = &tlsdata_vt, .p = d});
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
    struct tls_client *t = SSL_get_app_data(ssl);
    if (!t)
        return SSL_TLSEXT_ERR_NOACK;
    bool h2 = t->base.ctx->opts && t->base.ctx->opts->http2;
    if (t->server && t->server->tls && t->alpn_wire_len) {
        /* mirror the server; none there means none here (mitmproxy's NO_OVERLAPPING) */
        const char *sa = t->server->alpn ? t->server->alpn : "";
        size_t l = strlen(sa);
        if (l && (h2 || strcmp(sa, "h2") != 0) && alpn_in(in, inlen, sa, l, out)) {
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        return SSL_TLSEXT_ERR_NOACK;
    }
    /* no server answer to mirror: the client's first HTTP protocol in its order (h2 only
     * with option http2), as mitmproxy's alpn_select_callback */
    for (unsigned int i = 0; i < inlen;) {
        unsigned int l = in[i];
        if (i + 1 + l > inlen)
            break;
        const char *p = (const char *)in + i + 1;
        if ((l == 8 && (memcmp(p, "http/1.1", 8) == 0 || memcmp(p, "http/1.0", 8) == 0 ||
                        memcmp(p, "http/0.9", 8) == 0)) ||
            (h2 && l == 2 && memcmp(p, "h2", 2) == 0)) {
            *out = in + i + 1;
            *outlen = (unsigned char)l;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + l;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* The client's ALPN offers in wire format, for the server connection (mitmproxy keeps h2
 * among them only with option http2, so both sides speak the same version). */
static void build_alpn(struct tls_client *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->ch.alpn_count; i++)
        total += 1 + t->ch.alpn[i].len;
    t->alpn_wire = mitm_alloc(total + 1);
    size_t n = 0;
    for (size_t i = 0; i < t->ch.alpn_count; i++) {
        struct mitm_slice a = t->ch.alpn[i];
        if (a.len == 0 || a.len > 255 ||
            (mitm_slice_eq(a, mitm_slice_str("h2")) && !(t->base.ctx->opts && t->base.ctx->opts->http2)))
            continue;
        t->alpn_wire[n++] = (uint8_t)a.len;
        memcpy(t->alpn_wire + n, a.base, a.len);
        n += a.len;
    }
    t->alpn_wire_len = n;
}

/* ---- failure ------------------------------------------------------------------- */

static void fail_client(struct tls_client *t, const char *msg)
{
    mitm_layer_log(&t->base, MITM_LOG_WARN, "Client TLS handshake failed. %s", msg);
    struct mitm_conn *client = t->base.ctx->client;
    free(client->error);
    client->error = mitm_strdup(msg);
    t->state = ST_DEAD;
    mitm_timer_clear(&t->hs_timer);
    close_conn(t, client);
    close_conn(t, t->server);
    hook_tls(t, MITM_HOOK_TLS_FAILED_CLIENT, msg);
}

/* ---- the client handshake ------------------------------------------------------ */

static void pump_client(struct tls_client *t);

static void start_client_hs(struct tls_client *t)
{
    char err[256];
    struct mitm_cert_names names;
    struct mitm_conn *client = t->base.ctx->client;
    t->state = ST_CLIENT_HS;
    X509 *upstream = mitm_tls_config_upstream_cert(t->cfg) ? mitm_tls_server_peer(t->server) : NULL;
    mitm_cert_names_build(&names, upstream, t->ch.sni, t->ch.sni ? NULL : client->sock_host,
                          t->server ? t->server->host : NULL);
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
        mitm_tls_ssl_reason(why, sizeof(why), "out of memory");
        snprintf(msg, sizeof(msg), "cannot set up TLS for %s: %s", dest(t), why);
        fail_client(t, msg);
        return;
    }
    mitm_cert_entry_release(e);
    /* add_upstream_certs_to_client_chain: the server's certificates follow our leaf */
    STACK_OF(X509) *chain = t->base.ctx->opts && t->base.ctx->opts->add_upstream_certs_to_client_chain
                                ? mitm_tls_server_chain(t->server)
                                : NULL;
    for (int i = 0; chain && i < sk_X509_num(chain); i++)
        SSL_add1_chain_cert(t->ssl, sk_X509_value(chain, i));
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

/* The client handshake finished: a next-layer step takes over the plaintext. */
static void client_ready(struct tls_client *t)
{
    mitm_tls_record_facts(t->base.ctx->client, t->ssl, t->ch.sni);
    t->state = ST_OPEN;
    mitm_timer_clear(&t->hs_timer);
    t->child = mitm_next_layer_new(t->base.ctx, &t->base, t->server, t->after);
    struct mitm_event start = {.type = MITM_EV_START, .now = t->now};
    mitm_layer_event(t->child, &start);
    if (t->early.len && t->server) {
        size_t n;
        uint8_t *p = mitm_buf_steal(&t->early, &n);
        struct mitm_event ev = {
            .type = MITM_EV_DATA, .now = t->now, .conn = t->server, .data = mitm_slice(p, n)};
        mitm_layer_event(t->child, &ev);
        free(p);
    }
    hook_tls(t, MITM_HOOK_TLS_ESTABLISHED_CLIENT, NULL);
}

static void classify_failure(struct tls_client *t, const char *why, char *msg, size_t cap)
{
    if (strstr(why, "unknown ca") || strstr(why, "bad certificate") || strstr(why, "certificate unknown"))
        snprintf(msg, cap, "The client does not trust the proxy's certificate for %s (%s)", dest(t), why);
    else
        snprintf(msg, cap, "%s", why);
}

static void pump_client(struct tls_client *t)
{
    struct mitm_conn *client = t->base.ctx->client;
    if (t->state == ST_CLIENT_HS) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            flush(t);
            if (e == SSL_ERROR_WANT_READ)
                return;
            char why[256], msg[512];
            mitm_tls_ssl_reason(why, sizeof(why), "handshake failed");
            classify_failure(t, why, msg, sizeof(msg));
            fail_client(t, msg);
            return;
        }
        flush(t);
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
            child_data(t, buf, (size_t)r);
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->client_eof = true;
            child_closed(t, true);
        } else if (e != SSL_ERROR_WANT_READ) {
            char why[256];
            mitm_tls_ssl_reason(why, sizeof(why), "read failed");
            mitm_layer_log(&t->base, MITM_LOG_INFO, "Client TLS error: %s", why);
            t->client_eof = true;
            close_conn(t, client);
            child_closed(t, false);
        }
        break;
    }
    if (t->ssl)
        flush(t);
}

/* ---- the ClientHello ----------------------------------------------------------- */

static void relay(struct tls_client *t, const struct mitm_event *ev)
{
    if (t->child)
        mitm_layer_event(t->child, ev);
}

/* tls_clienthello said to pass the connection through: a TCP relay gets the hello. */
static void start_relay(struct tls_client *t)
{
    t->state = ST_RELAY;
    mitm_timer_clear(&t->hs_timer);
    t->child = mitm_tcp_layer_new(t->base.ctx, &t->base, t->server, true);
    struct mitm_event start = {.type = MITM_EV_START, .now = t->now};
    mitm_layer_event(t->child, &start);
    size_t n;
    uint8_t *p = mitm_buf_steal(&t->hello, &n);
    struct mitm_event ev = {
        .type = MITM_EV_DATA, .now = t->now, .conn = t->base.ctx->client, .data = mitm_slice(p, n)};
    relay(t, &ev);
    free(p);
}

static void after_hello_hook(struct tls_client *t, const struct mitm_tls_clienthello_data *d)
{
    if (d && d->ignore_connection) {
        start_relay(t);
        return;
    }
    if (t->server_tls && t->server && !mitm_tls_server_has(t->server) &&
        !mitm_tls_server_push(t->base.ctx, t->server, t->ch.sni, t->alpn_wire, t->alpn_wire_len))
        t->server_tls = false; /* no configuration: nothing to intercept with (tests) */
    bool first = d ? d->establish_server_tls_first : false;
    if (t->server_tls && first && t->server && t->server->state != MITM_CONN_CLOSED) {
        t->state = ST_SERVER_HS;
        mitm_layer_open(&t->base, t->server);
        return;
    }
    start_client_hs(t);
}

static void on_hello_bytes(struct tls_client *t, const uint8_t *p, size_t n)
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
        snprintf(msg, sizeof(msg), "invalid ClientHello for %s: %s", dest(t),
                 t->ch.error ? t->ch.error : "parse error");
        fail_client(t, msg);
        return;
    }
    build_alpn(t);
    t->state = ST_HOOK;
    struct mitm_tls_clienthello_data *d = mitm_calloc(1, sizeof(*d));
    d->clienthello = &t->ch;
    d->client = t->base.ctx->client;
    d->server = t->server;
    d->establish_server_tls_first = t->server_tls && mitm_tls_config_eager(t->cfg);
    mitm_layer_hook(&t->base, MITM_HOOK_TLS_CLIENTHELLO,
                    (struct mitm_payload){.vt = &clienthello_vt, .p = d});
}

/* ---- the layer ----------------------------------------------------------------- */

static void on_client_closed(struct tls_client *t, const struct mitm_event *ev)
{
    switch (t->state) {
    case ST_OPEN:
        if (!t->client_eof || !ev->half_close) {
            t->client_eof = true;
            child_closed(t, ev->half_close);
        }
        break;
    case ST_RELAY:
        relay(t, ev);
        break;
    case ST_HELLO:
    case ST_HOOK:
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
            snprintf(msg, sizeof(msg), "The client disconnected before the TLS handshake to %s", dest(t));
        fail_client(t, msg);
        break;
    }
    case ST_DEAD:
        break;
    }
}

static void on_reply(struct tls_client *t, const struct mitm_event *ev)
{
    struct mitm_cmd *c = ev->cmd;
    if (t->state == ST_HOOK && c->type == MITM_CMD_HOOK && c->hook == MITM_HOOK_TLS_CLIENTHELLO) {
        after_hello_hook(t, c->arg.vt == &clienthello_vt ? c->arg.p : NULL);
    } else if (t->state == ST_SERVER_HS && c->type == MITM_CMD_OPEN) {
        if (c->error) {
            free(t->upstream_error);
            t->upstream_error = mitm_strdup(c->error);
        }
        start_client_hs(t);
    }
}

static void on_client_data(struct tls_client *t, const struct mitm_event *ev)
{
    switch (t->state) {
    case ST_HELLO:
    case ST_HOOK:
    case ST_SERVER_HS:
        on_hello_bytes(t, ev->data.base, ev->data.len);
        break;
    case ST_CLIENT_HS:
    case ST_OPEN:
        BIO_write(t->in, ev->data.base, (int)ev->data.len);
        pump_client(t);
        break;
    case ST_RELAY:
        relay(t, ev);
        break;
    case ST_DEAD:
        break;
    }
}

static void client_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct tls_client *t = (struct tls_client *)l;
    struct mitm_conn *client = l->ctx->client;
    t->now = ev->now;
    switch (ev->type) {
    case MITM_EV_START:
        if (l->ctx->opts && l->ctx->opts->tls_handshake_timeout > 0 && t->state == ST_HELLO)
            mitm_timer_set(l, &t->hs_timer, ev->now, (double)l->ctx->opts->tls_handshake_timeout);
        return;
    case MITM_EV_REPLY:
        on_reply(t, ev);
        return;
    case MITM_EV_WAKEUP:
        if (mitm_timer_due(l, &t->hs_timer, ev) && t->state < ST_OPEN) {
            char msg[320];
            snprintf(msg, sizeof(msg), "TLS handshake with the client for %s timed out after %ld s", dest(t),
                     l->ctx->opts->tls_handshake_timeout);
            fail_client(t, msg);
        } else if (t->child) {
            mitm_layer_event(t->child, ev);
        }
        return;
    case MITM_EV_DATA:
        if (ev->conn == client)
            on_client_data(t, ev);
        else if (!t->child && ev->conn == t->server && t->state != ST_DEAD)
            mitm_buf_append(&t->early, ev->data.base, ev->data.len); /* over the cap: dropped */
        else
            relay(t, ev);
        return;
    case MITM_EV_CLOSED:
        if (ev->conn == client)
            on_client_closed(t, ev);
        else
            relay(t, ev);
        return;
    default:
        relay(t, ev);
        return;
    }
}

/* Commands from below, before they are queued: SENDs to the client are encrypted, its
 * CLOSE gets a close_notify first, and a server OPEN after a failed eager handshake is
 * answered with that failure. */
static bool client_command(struct mitm_layer *l, struct mitm_layer *from, struct mitm_cmd *c)
{
    (void)from;
    struct tls_client *t = (struct tls_client *)l;
    struct mitm_conn *client = l->ctx->client;
    if (t->state == ST_RELAY)
        return false;
    switch (c->type) {
    case MITM_CMD_SEND:
        if (c->conn != client)
            return false;
        if (t->state == ST_OPEN && t->ssl && !t->client_shut) {
            ERR_clear_error();
            if (SSL_write(t->ssl, c->data, (int)c->len) <= 0) {
                char why[256];
                mitm_tls_ssl_reason(why, sizeof(why), "write failed");
                mitm_layer_log(&t->base, MITM_LOG_INFO, "Client TLS error: %s", why);
            }
            flush(t);
        }
        mitm_cmd_free(c);
        return true;
    case MITM_CMD_CLOSE:
        /* close_notify first (RFC 8446 §6.1), then the TCP close the command asks for */
        if (c->conn == client && t->ssl && !t->client_shut && t->state == ST_OPEN) {
            t->client_shut = true;
            ERR_clear_error();
            SSL_shutdown(t->ssl);
            flush_to(t, true);
            ERR_clear_error();
        }
        return false;
    case MITM_CMD_OPEN:
        if (c->conn != t->server || !t->upstream_error)
            return false;
        free(c->error);
        c->error = mitm_strdup(t->upstream_error);
        c->conn->state = MITM_CONN_CLOSED;
        if (c->origin) {
            struct mitm_event ev = {.type = MITM_EV_REPLY, .now = t->now, .cmd = c};
            mitm_layer_event(c->origin, &ev);
        }
        mitm_cmd_free(c);
        return true;
    default:
        return false;
    }
}

static void client_destroy(struct mitm_layer *l)
{
    struct tls_client *t = (struct tls_client *)l;
    mitm_layer_destroy(t->child);
    SSL_free(t->ssl);
    mitm_buf_free(&t->hello);
    mitm_buf_free(&t->early);
    mitm_tls_clienthello_free(&t->ch);
    free(t->alpn_wire);
    free(t->upstream_error);
    mitm_layer_deinit(l);
    free(t);
}

static const struct mitm_layer_vt client_vt = {
    .name = "ClientTLSLayer", .handle = client_handle, .destroy = client_destroy, .command = client_command};

struct mitm_layer *mitm_tls_client_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                             struct mitm_conn *server, bool server_tls,
                                             enum mitm_next_kind after)
{
    const struct mitm_tls_config *cfg = ctx->svc ? ctx->svc->tls : NULL;
    if (!cfg)
        return NULL;
    struct tls_client *t = mitm_calloc(1, sizeof(*t));
    mitm_layer_init(&t->base, &client_vt, ctx, parent);
    t->cfg = cfg;
    t->server = server;
    t->server_tls = server_tls && server;
    t->after = after;
    mitm_buf_init(&t->hello, HELLO_CAP);
    mitm_buf_init(&t->early, HELLO_CAP);
    return &t->base;
}
