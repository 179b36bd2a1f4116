/* HTTPS interception: the client half (mitmproxy's ClientTLSLayer, client.c), the server
 * half (a connection filter on a server connection, server.c) and the process-wide TLS
 * configuration both use (tlsctx.c).
 *
 * Both run OpenSSL over memory BIOs (never a socket): the client layer reads the client's
 * ClientHello, (eager strategy) has the server half complete the upstream handshake first
 * offering the client's SNI and ALPN, forges the leaf from what the server presented,
 * answers the client, then hands the plaintext to a next-layer step (proto/next.h).
 * Upstream certificate errors surface as the inner HTTP layer's 502 for the first request
 * (its OPEN is answered with "Certificate verify failed: <reason>"), as in mitmproxy.
 * Which connections are intercepted at all is the next-layer step's decision (proto/next.h). */
#ifndef MITM_PROTO_TLS_TLS_H
#define MITM_PROTO_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "layer/layer-t.h"
#include "proto/next.h"

struct mitm_options;
struct mitm_cert_store;
struct mitm_tls_config;
struct mitm_tls_sessions;

/* Default TLS <= 1.2 cipher list toward both sides: mitmproxy's (Mozilla "old") list
 * without DES-CBC3-SHA; no RC4, 3DES, NULL or export suites (TLS 1.3 suites are fixed). */
#define MITM_TLS_DEFAULT_CIPHERS                                                                             \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"               \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                 \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:"                         \
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"         \
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"         \
    "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:"         \
    "AES256-SHA256:AES128-SHA:AES256-SHA:!aNULL:!eNULL:!RC4:!3DES:!EXPORT"

/* Build the configuration from options (read now, not kept): one client-facing SSL_CTX
 * (versions tls_version_client_*, ciphers_client, ALPN selection mirroring the server,
 * key log) and one server-facing SSL_CTX (tls_version_server_*, ciphers_server, trust
 * store: ssl_verify_upstream_trusted_ca / _confdir or OpenSSL's default paths, no
 * verification with ssl_insecure), the connection_strategy and upstream_cert. store is
 * borrowed and must outlive the configuration. Call on the main thread at startup (it
 * reads trust stores). Returns the configuration, or NULL with a message in err (a bad
 * version name, a cipher list OpenSSL rejects, an unreadable trust file). */
struct mitm_tls_config *mitm_tls_config_new(const struct mitm_options *o, struct mitm_cert_store *store,
                                            char *err, size_t errlen);

/* Free a configuration (NULL is a no-op). No layer may use it any more. */
void mitm_tls_config_free(struct mitm_tls_config *cfg);

/* The client half (mitmproxy's ClientTLSLayer): a layer under parent that answers the
 * client's TLS with a certificate forged for it, then runs a next-layer step over the
 * plaintext (of kind after, for the stack whose server connection is server, which may be
 * NULL for a client that wraps its proxy connection in TLS). server_tls: the server connection
 * speaks TLS too; the server half is pushed on it with the client's SNI and ALPN offers,
 * and with the eager strategy it is established first so that the leaf carries the
 * upstream certificate's names. Runs the hooks tls_clienthello (an addon may set
 * ignore_connection: then the bytes are relayed untouched), tls_established_client and
 * tls_failed_client; closes a client whose handshake exceeds tls_handshake_timeout.
 * Returns NULL when ctx has no TLS configuration (ctx->svc->tls). */
struct mitm_layer *mitm_tls_client_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                             struct mitm_conn *server, bool server_tls,
                                             enum mitm_next_kind after);

/* The server half (mitmproxy's ServerTLSLayer) as a connection filter (layer/cfilter.h):
 * push it on a server connection before opening it (or before an OPEN of an open one);
 * the OPEN is then answered once the handshake is done, or with mitmproxy's reason
 * ("Certificate verify failed: ...", "TLS handshake failed: ..."). sni: the name to send
 * and verify (NULL: conn->host unless it is an IP address, RFC 6066 §3); alpn: offers in
 * wire format (may be empty). Resumes sessions of earlier connections made the same way.
 * Returns false (nothing pushed) when ctx has no TLS configuration. */
bool mitm_tls_server_push(struct mitm_ctx *ctx, struct mitm_conn *conn, const char *sni, const uint8_t *alpn,
                          size_t alpn_len);
/* Does conn carry the server half? */
bool mitm_tls_server_has(const struct mitm_conn *conn);
/* The server's certificate and chain once its handshake is done (borrowed), else NULL. */
X509 *mitm_tls_server_peer(const struct mitm_conn *conn);
STACK_OF(X509) * mitm_tls_server_chain(const struct mitm_conn *conn);

/* The argument of tls_clienthello (mitmproxy's ClientHelloData): an addon may set
 * ignore_connection (relay untouched) or change establish_server_tls_first. */
struct mitm_tls_clienthello_data {
    const struct mitm_clienthello *clienthello;
    struct mitm_conn *client, *server; /* server may be NULL */
    bool ignore_connection;
    bool establish_server_tls_first;
};

/* The argument of tls_established_client / tls_failed_client (mitmproxy's TlsData). */
struct mitm_tls_hook_data {
    struct mitm_conn *conn;
    char error[512]; /* tls_failed_*: why; else "" */
};

/* ---- for the TLS layer (tlsctx.c) ---- */

SSL_CTX *mitm_tls_config_client_ctx(const struct mitm_tls_config *cfg); /* borrowed */
SSL_CTX *mitm_tls_config_server_ctx(const struct mitm_tls_config *cfg); /* borrowed */
struct mitm_cert_store *mitm_tls_config_store(const struct mitm_tls_config *cfg);
struct mitm_tls_sessions *mitm_tls_config_sessions(const struct mitm_tls_config *cfg); /* shared */
bool mitm_tls_config_eager(const struct mitm_tls_config *cfg);
bool mitm_tls_config_upstream_cert(const struct mitm_tls_config *cfg);
bool mitm_tls_config_verify(const struct mitm_tls_config *cfg);

/* Is s an IPv4 or IPv6 literal (brackets allowed)? */
bool mitm_tls_is_ip(const char *s);

#endif
