/* The TLS layer under a real OpenSSL client and server: a two-endpoint buffer-pumping
 * test (like picotls's test_handshake). The layer stack is the regular HTTP layer with the
 * TLS factory registered, exactly as the proxy runs it; the harness plays the driver
 * (answers OPEN and HOOK commands, carries SEND bytes to the peers' memory BIOs and the
 * peers' output back as DATA events) and records logs, hooks and closes. */
#include <criterion/criterion.h>

#include "core/options.h"
#include "core/services.h"
#include "base/alloc.h"
#include "base/log.h"
#include "cert/ca.h"
#include "cert/leaf.h"
#include "cert/store.h"
#include "flow/flow.h"
#include "layer/layer.h"
#include "proto/mode/mode.h"
#include "proto/tls/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PEERS 8
#define PUMP_MAX  10000

#define REQ  "GET /hello?x=1 HTTP/1.1\r\nHost: beta.test\r\nX-Test: 1\r\n\r\n"
#define RESP "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Up: yes\r\n\r\nhello world"

/* One TLS endpoint played by the test: SSL over memory BIOs plus what it received. */
struct peer {
    SSL *ssl;
    BIO *in, *out;
    bool hs_done, hs_failed, wrote;
    bool raw; /* server: no TLS accepted yet (never used) */
    struct mitm_conn *conn;
    char plain[65536];
    size_t plain_len;
    char offered_alpn[256]; /* server: ALPN list the proxy offered, comma-separated */
    char sni[256];          /* server: SNI the proxy sent */
};

struct harness {
    struct mitm_ctx ctx;
    struct mitm_layer *root;
    struct peer client;
    struct peer servers[MAX_PEERS];
    int n_servers;
    char logs[16384];
    char opens[1024];
    char hooks[2048];
    char flow_error[512];
    bool client_closed;
    int server_closes;
    const char *open_error; /* answer OPENs with this */
    const char *client_request;
    const char *server_response;
};

/* ---- fixtures: our CA, an upstream CA and its server certificate ---- */

static char tmpdir[200], upstream_dir[256];
static struct mitm_ca *ca, *up_ca;
static struct mitm_cert_store *store;
static struct mitm_cert_signer *up_signer;
static X509 *up_cert;
static struct mitm_tls_config *cfg;
static SSL_CTX *client_ctx, *server_ctx;

static int server_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg)
{
    (void)arg;
    struct peer *p = SSL_get_app_data(ssl);
    size_t n = 0;
    for (unsigned i = 0; i < inlen && n + in[i] + 2 < sizeof(p->offered_alpn);) {
        if (n)
            p->offered_alpn[n++] = ',';
        memcpy(p->offered_alpn + n, in + i + 1, in[i]);
        n += in[i];
        i += 1u + in[i];
    }
    p->offered_alpn[n] = 0;
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static void make_upstream_cert(const char *const *names, size_t n, const char *org)
{
    struct mitm_cert_names cn = {0};
    for (size_t i = 0; i < n; i++)
        mitm_cert_names_add(&cn, names[i], strlen(names[i]));
    cn.organization = org ? mitm_strdup(org) : NULL;
    char err[256];
    X509_free(up_cert);
    up_cert = mitm_cert_mint(up_signer, &cn, err, sizeof(err));
    cr_assert(up_cert, "mint: %s", err);
    mitm_cert_names_free(&cn);
    SSL_CTX_free(server_ctx);
    server_ctx = SSL_CTX_new(TLS_server_method());
    cr_assert(SSL_CTX_use_certificate(server_ctx, up_cert) == 1);
    cr_assert(SSL_CTX_use_PrivateKey(server_ctx, mitm_cert_signer_key(up_signer)) == 1);
    SSL_CTX_set_alpn_select_cb(server_ctx, server_alpn_cb, NULL);
}

/* The services the stacks under test run with (only the TLS configuration is set). */
static struct mitm_services svc;

static void set_opt(const char *name, const char *value)
{
    char err[256];
    cr_assert(mitm_options_set(&mitm_options, name, value, err, sizeof(err)) == 0, "%s", err);
}

/* (Re)build the TLS configuration from the current options. */
static void configure(void)
{
    char err[256];
    mitm_tls_config_free(cfg);
    cfg = mitm_tls_config_new(&mitm_options, store, err, sizeof(err));
    cr_assert(cfg, "config: %s", err);
    svc.tls = cfg;
    mitm_next_config_free(svc.next);
    svc.next = mitm_next_config_new(&mitm_options, err, sizeof(err));
    cr_assert(svc.next, "next-layer config: %s", err);
}

static void setup(void)
{
    char err[256];
    mitm_options_init(&mitm_options);
    mitm_log_set_level(MITM_LOG_ERROR);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mitmc-tls-test-%d", (int)getpid());
    snprintf(upstream_dir, sizeof(upstream_dir), "%s/upstream", tmpdir);
    ca = mitm_ca_load_or_create(tmpdir, 2048, NULL, err, sizeof(err));
    cr_assert(ca, "%s", err);
    up_ca = mitm_ca_load_or_create(upstream_dir, 2048, NULL, err, sizeof(err));
    cr_assert(up_ca, "%s", err);
    store = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    cr_assert(store, "%s", err);
    up_signer = mitm_cert_signer_new(up_ca, MITM_LEAF_KEY_EC_P256, 0, err, sizeof(err));
    cr_assert(up_signer, "%s", err);
    static const char *const names[] = {"alpha.test", "beta.test", "127.0.0.1"};
    make_upstream_cert(names, 3, "Upstream Org");
    set_opt("ssl_verify_upstream_trusted_ca", mitm_ca_path(up_ca, MITM_CA_FILE_CERT_PEM));
    configure();

    client_ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(SSL_CTX_load_verify_locations(client_ctx, mitm_ca_path(ca, MITM_CA_FILE_CERT_PEM), NULL) == 1);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
}

static void teardown(void)
{
    svc.tls = NULL;
    mitm_tls_config_free(cfg);
    mitm_next_config_free(svc.next);
    svc.next = NULL;
    cfg = NULL;
    mitm_cert_store_free(store);
    mitm_cert_signer_free(up_signer);
    X509_free(up_cert);
    up_cert = NULL;
    mitm_ca_free(ca);
    mitm_ca_free(up_ca);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    server_ctx = NULL;
    mitm_options_free(&mitm_options);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert(system(cmd) == 0);
}

TestSuite(tls, .init = setup, .fini = teardown);

/* ---- the harness ---- */

static void peer_init(struct peer *p, SSL_CTX *c, bool server)
{
    memset(p, 0, sizeof(*p));
    p->ssl = SSL_new(c);
    p->in = BIO_new(BIO_s_mem());
    p->out = BIO_new(BIO_s_mem());
    SSL_set_bio(p->ssl, p->in, p->out);
    SSL_set_app_data(p->ssl, p);
    if (server)
        SSL_set_accept_state(p->ssl);
    else
        SSL_set_connect_state(p->ssl);
}

static void peer_free(struct peer *p)
{
    SSL_free(p->ssl);
    p->ssl = NULL;
}

static void h_init(struct harness *h, const char *sni, const char *alpn_wire, size_t alpn_len)
{
    memset(h, 0, sizeof(*h));
    mitm_ctx_init(&h->ctx, &mitm_options);
    h->ctx.svc = &svc;
    strcpy(h->ctx.client->sock_host, "127.0.0.1");
    h->root = mitm_mode_layer_new(&h->ctx);
    h->ctx.root = h->root;
    peer_init(&h->client, client_ctx, false);
    h->client.conn = h->ctx.client;
    if (sni) {
        SSL_set_tlsext_host_name(h->client.ssl, sni);
        X509_VERIFY_PARAM *vp = SSL_get0_param(h->client.ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        X509_VERIFY_PARAM_set1_host(vp, sni, 0);
    }
    if (alpn_len)
        SSL_set_alpn_protos(h->client.ssl, (const unsigned char *)alpn_wire, (unsigned)alpn_len);
    h->client_request = REQ;
    h->server_response = RESP;
}

static void h_free(struct harness *h)
{
    mitm_layer_destroy(h->root);
    mitm_ctx_free(&h->ctx);
    peer_free(&h->client);
    for (int i = 0; i < h->n_servers; i++)
        peer_free(&h->servers[i]);
}

static void event(struct harness *h, struct mitm_event *ev)
{
    ev->now = 1.0;
    mitm_ctx_input(&h->ctx, ev);
}

static struct peer *peer_of(struct harness *h, struct mitm_conn *c)
{
    if (c == h->ctx.client)
        return &h->client;
    for (int i = 0; i < h->n_servers; i++)
        if (h->servers[i].conn == c)
            return &h->servers[i];
    return NULL;
}

static void append(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(dst);
    snprintf(dst + n, cap - n, "%s|", s);
}

static void reply(struct harness *h, struct mitm_cmd *c)
{
    mitm_ctx_reply(&h->ctx, c, 1.0);
}

/* Execute queued commands; returns whether anything happened. */
static bool run_cmds(struct harness *h)
{
    bool any = false;
    struct mitm_cmd *c;
    while ((c = mitm_ctx_next_cmd(&h->ctx))) {
        any = true;
        switch (c->type) {
        case MITM_CMD_LOG:
            append(h->logs, sizeof(h->logs), c->msg);
            mitm_cmd_free(c);
            break;
        case MITM_CMD_HOOK:
            append(h->hooks, sizeof(h->hooks), mitm_hook_name(c->hook));
            struct mitm_flow *f = mitm_payload_flow(&c->arg);
            if (c->hook == MITM_HOOK_ERROR && f && f->error)
                snprintf(h->flow_error, sizeof(h->flow_error), "%s", f->error->msg);
            reply(h, c);
            break;
        case MITM_CMD_OPEN: {
            if (c->conn->state == MITM_CONN_OPEN) { /* connected: as the driver, answer at once */
                reply(h, c);
                break;
            }
            char buf[300];
            snprintf(buf, sizeof(buf), "%s:%u", c->conn->host, c->conn->port);
            append(h->opens, sizeof(h->opens), buf);
            if (h->open_error) {
                c->error = mitm_strdup(h->open_error);
                c->conn->state = MITM_CONN_CLOSED;
            } else {
                cr_assert(h->n_servers < MAX_PEERS);
                struct peer *p = &h->servers[h->n_servers++];
                peer_init(p, server_ctx, true);
                p->conn = c->conn;
                c->conn->state = MITM_CONN_OPEN;
                snprintf(c->conn->peer_host, sizeof(c->conn->peer_host), "127.0.0.1");
            }
            reply(h, c);
            break;
        }
        case MITM_CMD_SEND: {
            struct peer *p = peer_of(h, c->conn);
            cr_assert(p, "SEND to an unknown connection");
            BIO_write(p->in, c->data, (int)c->len);
            mitm_cmd_free(c);
            break;
        }
        case MITM_CMD_CLOSE:
            if (c->conn == h->ctx.client)
                h->client_closed = true;
            else
                h->server_closes++;
            if (!c->half_close)
                c->conn->state = MITM_CONN_CLOSED;
            mitm_cmd_free(c);
            break;
        case MITM_CMD_WAKEUP: /* no timer fires in these tests */
            mitm_ctx_drop(c);
            break;
        default:
            mitm_cmd_free(c);
            break;
        }
    }
    return any;
}

/* Let a peer process its input and hand its output to the layer. */
static bool drive_peer(struct harness *h, struct peer *p, bool is_client)
{
    bool any = false;
    if (!p->ssl || p->hs_failed)
        return false;
    if (!p->hs_done) {
        ERR_clear_error();
        int r = SSL_do_handshake(p->ssl);
        if (r == 1) {
            p->hs_done = true;
            any = true;
            if (!is_client) {
                const char *sn = SSL_get_servername(p->ssl, TLSEXT_NAMETYPE_host_name);
                snprintf(p->sni, sizeof(p->sni), "%s", sn ? sn : "");
            }
        } else if (SSL_get_error(p->ssl, r) != SSL_ERROR_WANT_READ) {
            p->hs_failed = true;
            any = true;
        }
    }
    if (p->hs_done) {
        if (is_client && !p->wrote && h->client_request) {
            SSL_write(p->ssl, h->client_request, (int)strlen(h->client_request));
            p->wrote = true;
            any = true;
        }
        char buf[16384];
        int r;
        while ((r = SSL_read(p->ssl, buf, sizeof(buf))) > 0) {
            cr_assert(p->plain_len + (size_t)r < sizeof(p->plain));
            memcpy(p->plain + p->plain_len, buf, (size_t)r);
            p->plain_len += (size_t)r;
            p->plain[p->plain_len] = 0;
            any = true;
        }
        if (!is_client && !p->wrote && strstr(p->plain, "\r\n\r\n")) {
            SSL_write(p->ssl, h->server_response, (int)strlen(h->server_response));
            p->wrote = true;
        }
    }
    size_t n = (size_t)BIO_ctrl_pending(p->out);
    if (n && p->conn->state != MITM_CONN_CLOSED) {
        uint8_t *buf = mitm_alloc(n);
        BIO_read(p->out, buf, (int)n);
        struct mitm_event ev = {.type = MITM_EV_DATA, .conn = p->conn, .data = mitm_slice(buf, n)};
        event(h, &ev);
        free(buf);
        any = true;
    }
    return any;
}

static void pump(struct harness *h)
{
    for (int i = 0; i < PUMP_MAX; i++) {
        bool any = run_cmds(h);
        any |= drive_peer(h, &h->client, true);
        for (int k = 0; k < h->n_servers; k++)
            any |= drive_peer(h, &h->servers[k], false);
        any |= run_cmds(h);
        if (!any)
            return;
    }
    cr_assert_fail("pump did not settle");
}

static void connect_tunnel(struct harness *h, const char *target)
{
    char req[256];
    int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
    struct mitm_event ev = {.type = MITM_EV_DATA, .conn = h->ctx.client, .data = mitm_slice(req, (size_t)n)};
    event(h, &ev);
    run_cmds(h);
    /* the 200 went to the client peer's TLS input: take it out again (plain bytes) */
    char resp[256] = {0};
    int r = BIO_read(h->client.in, resp, sizeof(resp) - 1);
    cr_assert(r > 0, "no CONNECT response");
    cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "CONNECT answer: %s", resp);
}

static bool has_san(X509 *x, int type, const char *value)
{
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
        GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        if (n->type != type)
            continue;
        if (type == GEN_DNS) {
            const char *s = (const char *)ASN1_STRING_get0_data(n->d.dNSName);
            found |= strcmp(s, value) == 0;
        } else if (type == GEN_IPADD) {
            const unsigned char *b = ASN1_STRING_get0_data(n->d.iPAddress);
            char txt[64];
            if (ASN1_STRING_length(n->d.iPAddress) == 4) {
                snprintf(txt, sizeof(txt), "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
                found |= strcmp(txt, value) == 0;
            }
        }
    }
    GENERAL_NAMES_free(g);
    return found;
}

#define ALPN_H2_H1 "\x02h2\x08http/1.1"

/* ---- tests ---- */

Test(tls, eager_intercepts_with_sniffed_names_and_intact_plaintext)
{
    struct harness h;
    h_init(&h, "beta.test", ALPN_H2_H1, sizeof(ALPN_H2_H1) - 1);
    connect_tunnel(&h, "127.0.0.1:443");
    pump(&h);
    cr_assert(h.client.hs_done, "client handshake failed; logs: %s", h.logs);
    cr_assert_eq(h.n_servers, 1, "one server connection (the tunnel's), opens: %s", h.opens);
    /* upstream saw the client's SNI and its ALPN offers (h2 among them: option http2) */
    cr_assert_str_eq(h.servers[0].sni, "beta.test");
    cr_assert_str_eq(h.servers[0].offered_alpn, "h2,http/1.1");
    /* the client got what the server chose */
    const unsigned char *a;
    unsigned alen;
    SSL_get0_alpn_selected(h.client.ssl, &a, &alen);
    cr_assert(alen == 8 && memcmp(a, "http/1.1", 8) == 0);
    /* the leaf names the upstream names, the SNI, the CONNECT IP; upstream O; our issuer */
    X509 *leaf = SSL_get0_peer_certificate(h.client.ssl);
    cr_assert(leaf);
    cr_assert(has_san(leaf, GEN_DNS, "alpha.test"));
    cr_assert(has_san(leaf, GEN_DNS, "beta.test"));
    cr_assert(has_san(leaf, GEN_IPADD, "127.0.0.1"));
    char org[128] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_organizationName, org, sizeof(org));
    cr_assert_str_eq(org, "Upstream Org");
    cr_assert(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(mitm_ca_cert(ca))) == 0);
    cr_assert_eq(SSL_get_verify_result(h.client.ssl), X509_V_OK);
    /* plaintext intact both ways */
    cr_assert_str_eq(h.servers[0].plain, REQ);
    cr_assert_str_eq(h.client.plain, RESP);
    cr_assert(strstr(h.hooks, "request|") && strstr(h.hooks, "response|"), "hooks: %s", h.hooks);
    /* TLS facts recorded on both connections */
    cr_assert(h.ctx.client->tls);
    cr_assert_str_eq(h.ctx.client->sni, "beta.test");
    cr_assert_str_eq(h.ctx.client->alpn, "http/1.1");
    cr_assert_str_eq(h.ctx.client->tls_version, "TLSv1.3");
    cr_assert(h.servers[0].conn->tls);
    cr_assert_str_eq(h.servers[0].conn->sni, "beta.test");
    h_free(&h);
}

/* A client offering only h2 to an HTTP/1-only server: upstream is offered upstream_offer,
 * refuses it, and the client gets no ALPN either (mirrored); HTTP/1 flows. */
static void only_h2_client(const char *upstream_offer)
{
    struct harness h;
    h_init(&h, "alpha.test", "\x02h2", 3);
    connect_tunnel(&h, "alpha.test:443");
    pump(&h);
    cr_assert(h.client.hs_done, "logs: %s", h.logs);
    cr_assert_str_eq(h.servers[0].offered_alpn, upstream_offer);
    const unsigned char *a;
    unsigned alen = 99;
    SSL_get0_alpn_selected(h.client.ssl, &a, &alen);
    cr_assert_eq(alen, 0);
    cr_assert_str_eq(h.client.plain, RESP);
    h_free(&h);
}

Test(tls, only_h2_offered_to_an_http1_server_gets_no_alpn)
{
    only_h2_client("h2");
}

Test(tls, http2_off_never_offers_h2_upstream)
{
    set_opt("http2", "false");
    only_h2_client("");
}

Test(tls, no_sni_ip_target_gets_ip_leaf)
{
    struct harness h;
    h_init(&h, NULL, NULL, 0);
    connect_tunnel(&h, "127.0.0.1:443");
    pump(&h);
    cr_assert(h.client.hs_done, "logs: %s", h.logs);
    cr_assert_str_eq(h.servers[0].sni, "", "no SNI for an IP literal (RFC 6066 §3)");
    X509 *leaf = SSL_get0_peer_certificate(h.client.ssl);
    cr_assert(has_san(leaf, GEN_IPADD, "127.0.0.1"));
    cr_assert_str_eq(h.client.plain, RESP);
    h_free(&h);
}

static void expect_502(const char *target, const char *sni, const char *reason)
{
    struct harness h;
    h_init(&h, sni, NULL, 0);
    connect_tunnel(&h, target);
    pump(&h);
    cr_assert(h.client.hs_done, "the client handshake completes; logs: %s", h.logs);
    cr_assert(strncmp(h.client.plain, "HTTP/1.1 502", 12) == 0, "got: %s logs: %s hooks: %s opens: %s",
              h.client.plain, h.logs, h.hooks, h.opens);
    cr_assert(strstr(h.client.plain, reason), "reason '%s' missing: %s", reason, h.client.plain);
    cr_assert(strstr(h.flow_error, reason), "flow error: %s", h.flow_error);
    for (int i = 0; i < h.n_servers; i++)
        cr_assert_eq(h.servers[i].plain_len, 0, "no request byte upstream");
    h_free(&h);
}

Test(tls, untrusted_upstream_is_502)
{
    set_opt("ssl_verify_upstream_trusted_ca", mitm_ca_path(ca, MITM_CA_FILE_CERT_PEM));
    configure();
    expect_502("beta.test:443", "beta.test",
               "Certificate verify failed: unable to get local issuer certificate");
}

Test(tls, hostname_mismatch_is_502)
{
    expect_502("gamma.test:443", "gamma.test", "Certificate verify failed: hostname mismatch");
}

Test(tls, ip_mismatch_is_502)
{
    expect_502("127.0.0.2:443", NULL, "Certificate verify failed: IP address mismatch");
}

Test(tls, ssl_insecure_passes)
{
    set_opt("ssl_verify_upstream_trusted_ca", mitm_ca_path(ca, MITM_CA_FILE_CERT_PEM));
    set_opt("ssl_insecure", "true");
    configure();
    struct harness h;
    h_init(&h, "gamma.test", NULL, 0);
    connect_tunnel(&h, "gamma.test:443");
    pump(&h);
    cr_assert_str_eq(h.client.plain, RESP);
    cr_assert_str_eq(h.servers[0].plain, REQ);
    h_free(&h);
}

Test(tls, client_rejecting_our_cert_is_logged_and_closed)
{
    struct harness h;
    h_init(&h, "beta.test", NULL, 0);
    /* a client trusting only the upstream CA rejects our leaf */
    SSL_free(h.client.ssl);
    SSL_CTX *other = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(other, mitm_ca_path(up_ca, MITM_CA_FILE_CERT_PEM), NULL);
    SSL_CTX_set_verify(other, SSL_VERIFY_PEER, NULL);
    peer_init(&h.client, other, false);
    h.client.conn = h.ctx.client;
    SSL_set_tlsext_host_name(h.client.ssl, "beta.test");
    SSL_CTX_free(other);
    connect_tunnel(&h, "beta.test:443");
    pump(&h);
    cr_assert(h.client.hs_failed);
    cr_assert(strstr(h.logs, "The client does not trust the proxy's certificate for beta.test"), "logs: %s",
              h.logs);
    cr_assert(h.client_closed);
    cr_assert_eq(h.servers[0].plain_len, 0);
    h_free(&h);
}

Test(tls, garbage_after_tls_record_header_is_rejected)
{
    struct harness h;
    h_init(&h, NULL, NULL, 0);
    connect_tunnel(&h, "beta.test:443");
    static const char junk[] = "\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00";
    struct mitm_event ev = {.type = MITM_EV_DATA, .conn = h.ctx.client, .data = mitm_slice(junk, 10)};
    event(&h, &ev);
    run_cmds(&h);
    cr_assert(strstr(h.logs, "invalid ClientHello"), "logs: %s", h.logs);
    cr_assert(h.client_closed);
    h_free(&h);
}

Test(tls, lazy_opens_on_first_request)
{
    set_opt("connection_strategy", "lazy");
    configure();
    struct harness h;
    /* an HTTP/1 client (offered h2, it would get h2: no server answer to mirror yet) */
    h_init(&h, "beta.test", "\x08http/1.1", 9);
    connect_tunnel(&h, "beta.test:443");
    pump(&h);
    cr_assert(h.client.hs_done, "logs: %s", h.logs);
    /* the leaf has no upstream names (no sniffing) */
    X509 *leaf = SSL_get0_peer_certificate(h.client.ssl);
    cr_assert(has_san(leaf, GEN_DNS, "beta.test"));
    cr_assert(!has_san(leaf, GEN_DNS, "alpha.test"));
    cr_assert_eq(h.n_servers, 1, "lazy: no connection until the request: %s", h.opens);
    cr_assert_str_eq(h.servers[0].plain, REQ);
    cr_assert_str_eq(h.client.plain, RESP);
    h_free(&h);
}

/* mitmproxy's alpn_select_callback: with no server answer to mirror, h2 is chosen when the
 * client offers it (option http2), in the client's order. */
Test(tls, lazy_selects_h2_for_the_client)
{
    set_opt("connection_strategy", "lazy");
    configure();
    struct harness h;
    h_init(&h, "beta.test", ALPN_H2_H1, sizeof(ALPN_H2_H1) - 1);
    connect_tunnel(&h, "beta.test:443");
    pump(&h);
    cr_assert(h.client.hs_done, "logs: %s", h.logs);
    const unsigned char *a;
    unsigned alen = 0;
    SSL_get0_alpn_selected(h.client.ssl, &a, &alen);
    cr_assert(alen == 2 && memcmp(a, "h2", 2) == 0);
    cr_assert_str_eq(h.ctx.client->alpn, "h2");
    h_free(&h);
}

Test(tls, ignore_hosts_relays_untouched)
{
    set_opt("ignore_hosts", "^beta\\.test:443$");
    configure();
    struct harness h;
    h_init(&h, "beta.test", NULL, 0);
    /* the client trusts the upstream CA: it must see the real certificate */
    SSL_free(h.client.ssl);
    SSL_CTX *other = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(other, mitm_ca_path(up_ca, MITM_CA_FILE_CERT_PEM), NULL);
    SSL_CTX_set_verify(other, SSL_VERIFY_PEER, NULL);
    peer_init(&h.client, other, false);
    h.client.conn = h.ctx.client;
    SSL_set_tlsext_host_name(h.client.ssl, "beta.test");
    SSL_CTX_free(other);
    connect_tunnel(&h, "beta.test:443");
    pump(&h);
    cr_assert(h.client.hs_done, "logs: %s", h.logs);
    cr_assert(X509_cmp(SSL_get0_peer_certificate(h.client.ssl), up_cert) == 0);
    cr_assert_str_eq(h.client.plain, RESP);
    h_free(&h);
}

Test(tls, ignore_hosts_by_sni)
{
    set_opt("ignore_hosts", "alpha");
    configure();
    struct harness h;
    h_init(&h, "alpha.test", NULL, 0);
    SSL_free(h.client.ssl);
    SSL_CTX *other = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(other, mitm_ca_path(up_ca, MITM_CA_FILE_CERT_PEM), NULL);
    peer_init(&h.client, other, false);
    h.client.conn = h.ctx.client;
    SSL_set_tlsext_host_name(h.client.ssl, "alpha.test");
    SSL_CTX_free(other);
    connect_tunnel(&h, "127.0.0.1:443");
    pump(&h);
    cr_assert(h.client.hs_done);
    cr_assert(X509_cmp(SSL_get0_peer_certificate(h.client.ssl), up_cert) == 0);
    h_free(&h);
}

Test(tls, allow_hosts_intercepts_only_matches)
{
    set_opt("allow_hosts", "beta");
    configure();
    struct harness h;
    h_init(&h, "beta.test", NULL, 0);
    connect_tunnel(&h, "127.0.0.1:443");
    pump(&h);
    cr_assert(h.client.hs_done);
    cr_assert(X509_cmp(SSL_get0_peer_certificate(h.client.ssl), up_cert) != 0, "intercepted");
    h_free(&h);
    /* not allowed: relayed, the client sees the upstream certificate */
    h_init(&h, "alpha.test", NULL, 0);
    SSL_set_verify(h.client.ssl, SSL_VERIFY_NONE, NULL);
    connect_tunnel(&h, "127.0.0.1:443");
    pump(&h);
    cr_assert(h.client.hs_done);
    cr_assert(X509_cmp(SSL_get0_peer_certificate(h.client.ssl), up_cert) == 0, "relayed");
    h_free(&h);
}

Test(tls, server_reconnect_after_close_is_wrapped)
{
    struct harness h;
    h_init(&h, "beta.test", NULL, 0);
    connect_tunnel(&h, "beta.test:443");
    pump(&h);
    cr_assert_str_eq(h.client.plain, RESP);
    /* the server drops the kept-alive connection */
    h.servers[0].conn->state = MITM_CONN_CLOSED;
    struct mitm_event ev = {.type = MITM_EV_CLOSED, .conn = h.servers[0].conn};
    event(&h, &ev);
    pump(&h);
    cr_assert(!h.client_closed);
    /* second request on the same client TLS connection: a new upstream TLS connection */
    h.client.plain_len = 0;
    h.client.plain[0] = 0;
    SSL_write(h.client.ssl, REQ, (int)strlen(REQ));
    pump(&h);
    cr_assert_eq(h.n_servers, 2, "opens: %s", h.opens);
    cr_assert(h.servers[1].hs_done);
    cr_assert_str_eq(h.servers[1].sni, "beta.test");
    cr_assert_str_eq(h.servers[1].plain, REQ);
    cr_assert_str_eq(h.client.plain, RESP);
    h_free(&h);
}
