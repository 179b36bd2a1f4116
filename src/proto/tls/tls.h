/* HTTPS interception: the TLS layer of a CONNECT tunnel (mitmproxy's ClientTLSLayer and
 * ServerTLSLayer in one sans-io layer) and the process-wide TLS configuration it uses.
 *
 * The layer runs OpenSSL over memory BIOs (it never touches a socket): it reads the
 * client's ClientHello, (eager strategy) completes the upstream handshake first offering
 * the client's SNI and ALPN, forges the leaf from what the server presented, answers the
 * client, then runs an inner HTTP layer (mitm_http_layer_new_inner) over the plaintext.
 * Upstream certificate errors surface as the inner HTTP layer's 502 for the first request
 * (its OPEN is answered with "Certificate verify failed: <reason>"), as in mitmproxy.
 * Hosts matching ignore_hosts (or not matching allow_hosts) are relayed untouched. */
#ifndef MITM_PROTO_TLS_TLS_H
#define MITM_PROTO_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "layer/layer-t.h"

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
 * verification with ssl_insecure), the connection_strategy, upstream_cert and the
 * compiled ignore_hosts / allow_hosts patterns (PCRE2, case-insensitive). store is
 * borrowed and must outlive the configuration. Call on the main thread at startup (it
 * reads trust stores). Returns the configuration, or NULL with a message in err (a bad
 * version name, a cipher list OpenSSL rejects, an unreadable trust file, a bad regex). */
struct mitm_tls_config *mitm_tls_config_new(const struct mitm_options *o, struct mitm_cert_store *store,
                                            char *err, size_t errlen);

/* Free a configuration (NULL is a no-op). No layer may use it any more. */
void mitm_tls_config_free(struct mitm_tls_config *cfg);

/* A TLS layer for a CONNECT tunnel to host:port whose first client bytes look like a
 * ClientHello, with the configuration ctx->svc->tls. server is the tunnel's open TCP
 * connection (or NULL). Returns NULL (the HTTP layer relays the tunnel untouched) when
 * ctx has no TLS configuration or host:port (or the server's address)
 * matches ignore_hosts. Otherwise the layer; it takes over the client connection and
 * server, and is destroyed by its parent with mitm_layer_destroy. */
struct mitm_layer *mitm_tls_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, const char *host, uint16_t port);

/* Should a connection be relayed untouched (ignore_hosts / allow_hosts, as mitmproxy's
 * next_layer: each of "host:port", "peer_ip:port" and "sni:port" that is known is
 * searched with every pattern)? peer_ip and sni may be NULL. With allow_hosts, a
 * connection is ignored when none matches. */
bool mitm_tls_config_ignored(const struct mitm_tls_config *cfg, const char *host, uint16_t port,
                             const char *peer_ip, const char *sni);

/* ---- for the TLS layer (tlsctx.c) ---- */

SSL_CTX *mitm_tls_config_client_ctx(const struct mitm_tls_config *cfg); /* borrowed */
SSL_CTX *mitm_tls_config_server_ctx(const struct mitm_tls_config *cfg); /* borrowed */
struct mitm_cert_store *mitm_tls_config_store(const struct mitm_tls_config *cfg);
struct mitm_tls_sessions *mitm_tls_config_sessions(const struct mitm_tls_config *cfg); /* shared */
bool mitm_tls_config_eager(const struct mitm_tls_config *cfg);
bool mitm_tls_config_upstream_cert(const struct mitm_tls_config *cfg);
bool mitm_tls_config_verify(const struct mitm_tls_config *cfg);
bool mitm_tls_config_has_ignore(const struct mitm_tls_config *cfg); /* ignore_hosts not empty */

/* Is s an IPv4 or IPv6 literal (brackets allowed)? */
bool mitm_tls_is_ip(const char *s);

#endif
