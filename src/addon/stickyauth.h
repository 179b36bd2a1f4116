/* stickyauth (--stickyauth FILTER): mitmproxy's addons/stickyauth.py. In the request
 * hook, a request with an Authorization header stores its value (all fields joined with
 * ", ") for request.host, whatever the filter; a request without one that matches the
 * filter gets the value stored for its host. The store is shared by every worker (a mutex)
 * and bounded: the least recently used host is forgotten first (mitmproxy's is unbounded). */
#ifndef MITM_ADDON_STICKYAUTH_H
#define MITM_ADDON_STICKYAUTH_H

#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_stickyauth;

#define MITM_STICKYAUTH_MAX_HOSTS 4096
#define MITM_STICKYAUTH_MAX_BYTES ((size_t)4 << 20)

/* From o->stickyauth; *out NULL when it is None or empty. Error: the filter's ("Invalid
 * filter expression: '~x' (...)"). Returns 0, or -1 with err set. */
int mitm_stickyauth_configure(const struct mitm_options *o, struct mitm_stickyauth **out, char *err,
                              size_t errlen);
void mitm_stickyauth_free(struct mitm_stickyauth *s); /* accepts NULL */

extern const struct mitm_addon mitm_addon_stickyauth;

#endif
