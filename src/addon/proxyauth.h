/* proxyauth: mitmproxy's addons/proxyauth.py. The option is "user:pass" (one user),
 * "any" (any credentials), or "@path" (an htpasswd file, htpasswd.h); "" / None is off.
 * mitmproxy's LDAP backend ("ldap[s]:...") is not built in mitmc and is refused.
 *
 * In regular and upstream mode mitmc acts as a proxy: credentials come from
 * Proxy-Authorization and a request without valid ones is answered 407 with
 * 'Proxy-Authenticate: Basic realm="mitmproxy"'. In every other mode (reverse,
 * transparent, ...) it acts as the server: Authorization, 401 and WWW-Authenticate. Valid
 * credentials remove that header and set flow.metadata["proxyauth"] = (user, pass).
 *
 * Hooks: http_connect authenticates a CONNECT and, if valid, remembers its client
 * connection, so the requests inside the tunnel are not asked again (mitmproxy's
 * authenticated connections); requestheaders authenticates every other request, except
 * those of a remembered connection (which get the remembered metadata) and client replays.
 * A connection is identified by its client's address, port and the time it was accepted:
 * flows do not yet carry a per-connection id (mitmproxy's client.id). The table is shared by
 * the workers (mutex) and bounded (MITM_PROXYAUTH_MAX_CONNS, least recently used first
 * out; a forgotten tunnel's next request is asked for credentials again).
 *
 * Verified bcrypt credentials are cached (SHA-256 of user and password, bounded), so a
 * client that sends Proxy-Authorization with every request pays for bcrypt once, not per
 * request. */
#ifndef MITM_ADDON_PROXYAUTH_H
#define MITM_ADDON_PROXYAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_proxyauth;

#define MITM_PROXYAUTH_REALM      "mitmproxy"
#define MITM_PROXYAUTH_MAX_CONNS  16384
#define MITM_PROXYAUTH_CACHE_SIZE 1024

/* From o->proxyauth; *out NULL when off. Errors (mitmproxy's OptionsError texts):
 * "Invalid proxyauth specification." (no ':'), "Invalid single-user auth specification."
 * (more than one ':'), "Could not open htpasswd file: PATH (reason)", and mitmc's
 * "Invalid proxyauth specification: LDAP authentication is not supported by mitmc".
 * Returns 0, or -1 with err set. */
int mitm_proxyauth_configure(const struct mitm_options *o, struct mitm_proxyauth **out, char *err,
                             size_t errlen);
void mitm_proxyauth_free(struct mitm_proxyauth *pa); /* accepts NULL */

/* The credential check of the configured validator (for the SOCKS5 layer too): true if
 * user/pass are accepted. Thread-safe. */
bool mitm_proxyauth_check(struct mitm_proxyauth *pa, const char *user, size_t ulen, const char *pass,
                          size_t plen);

/* mitmproxy's socks5_auth hook: check user/pass and, if valid, remember the client
 * connection (peer address and port, and the time it was accepted, as the flows of that
 * connection will carry them in client_conn) so its HTTP requests are not asked again.
 * Returns whether the credentials are valid. Thread-safe. */
bool mitm_proxyauth_socks5(struct mitm_proxyauth *pa, const char *peer_host, uint16_t peer_port,
                           double conn_start, const char *user, size_t ulen, const char *pass, size_t plen);

/* The 407 (proxy) or 401 response mitmproxy sends (make_auth_required_response). */
struct mitm_http_response *mitm_proxyauth_required_response(bool is_proxy, double now);

extern const struct mitm_addon mitm_addon_proxyauth;

#endif
