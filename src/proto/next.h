/* The next-layer decision (mitmproxy's addons/next_layer.py): which layer handles a
 * connection's bytes, from its first bytes, the mode and the options ignore_hosts,
 * allow_hosts, tcp_hosts, rawtcp and show_ignored_hosts. The step itself is the generic
 * src/layer/nextlayer.h; this file knows the protocols. */
#ifndef MITM_PROTO_NEXT_H
#define MITM_PROTO_NEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer/layer-t.h"

struct mitm_options;
struct mitm_next_config;

enum mitm_next_kind {
    /* mitmproxy's general decision: ignore/allow hosts, TLS, tcp_hosts, ALPN, "probably not
     * HTTP", else HTTP. With no server connection (the root of a regular or upstream
     * listener, or inside a secure web proxy's TLS) it is the explicit-proxy stack:
     * TLS to the proxy or the HTTP layer in the listener's mode. */
    MITM_NEXT_GENERIC = 0,
    /* The root of a reverse listener: by the spec's scheme (http, https, tcp, tls), with
     * client TLS detected from the first bytes. */
    MITM_NEXT_REVERSE,
    MITM_NEXT_HTTP, /* always the HTTP layer toward the server (reverse http/https after TLS) */
    MITM_NEXT_TCP,  /* always raw TCP (reverse tcp/tls after TLS) */
};

/* Compile ignore_hosts, allow_hosts and tcp_hosts (PCRE2, case-insensitive, as Python's
 * re.search with IGNORECASE). Returns NULL with "invalid ignore_hosts pattern 'x': why at
 * offset n" (or allow_hosts / tcp_hosts) in err. */
struct mitm_next_config *mitm_next_config_new(const struct mitm_options *o, char *err, size_t errlen);
void mitm_next_config_free(struct mitm_next_config *c); /* accepts NULL */

/* Is a connection to host:port ignored (mitmproxy 12's _ignore_connection)? Each known name
 * ("host:port" of the address, "peer_ip:port", "sni:port", "Host-header[:port]") is searched
 * with the patterns: not matching any allow_hosts pattern (when there are some), or matching
 * an ignore_hosts pattern, ignores it. Any name may be NULL. */
bool mitm_next_ignored(const struct mitm_next_config *c, const char *host, uint16_t port, const char *peer_ip,
                       const char *sni, const char *host_header);
/* Does "host:port" or "sni:port" match tcp_hosts? */
bool mitm_next_tcp_host(const struct mitm_next_config *c, const char *host, uint16_t port, const char *sni);

/* A next-layer step of kind under parent, for the stack whose server connection is server
 * (may be NULL). Configuration: ctx->svc->next (NULL: no host patterns). */
struct mitm_layer *mitm_next_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                       struct mitm_conn *server, enum mitm_next_kind kind);

/* mitmproxy's "probably not HTTP" test on a client's first bytes: fewer than 3 bytes, the
 * first three not ASCII letters, the server spoke first, or an SSH banner. */
bool mitm_next_probably_not_http(const uint8_t *p, size_t n, bool server_spoke);

/* Does a client's first bytes start with the HTTP/2 connection preface ("PRI *
 * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 §3.4), the sign of cleartext HTTP/2 with prior
 * knowledge (§3.3)? Returns 1 yes, 0 no (also for n == 0), -1 p is a proper, non-empty
 * prefix of it and more may come (more: the client has not closed and the step may still
 * wait). */
int mitm_next_h2_preface(const uint8_t *p, size_t n, bool more);

#endif
