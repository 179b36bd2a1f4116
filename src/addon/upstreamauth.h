/* upstream_auth: mitmproxy's addons/upstream_auth.py. The option "user:pass" (anything with
 * a ':' after at least one character) becomes the header value "Basic " + base64(option).
 *
 * requestheaders hook: in upstream mode a request with scheme http gets it as
 * Proxy-Authorization (replacing any); in reverse mode every request gets it as
 * Authorization. mitmproxy also puts Proxy-Authorization on the CONNECT it sends to the
 * upstream proxy (its http_connect_upstream hook): the upstream mode layer does that with
 * mitm_upstream_auth_value(). The state is immutable once configured. */
#ifndef MITM_ADDON_UPSTREAMAUTH_H
#define MITM_ADDON_UPSTREAMAUTH_H

#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_upstream_auth;

/* The header value for the option text spec: a new "Basic ..." string (caller frees), or
 * NULL with err "Invalid upstream auth specification: SPEC". */
char *mitm_upstream_auth_header(const char *spec, char *err, size_t errlen);

/* From o->upstream_auth; *out NULL when None. Same error. Returns 0 or -1. */
int mitm_upstream_auth_configure(const struct mitm_options *o, struct mitm_upstream_auth **out, char *err,
                                 size_t errlen);
void mitm_upstream_auth_free(struct mitm_upstream_auth *u); /* accepts NULL */

/* The "Basic ..." value the state holds (for a CONNECT to the upstream proxy). */
const char *mitm_upstream_auth_value(const struct mitm_upstream_auth *u);

extern const struct mitm_addon mitm_addon_upstream_auth;

#endif
