/* stickycookie (--stickycookie FILTER): mitmproxy's addons/stickycookie.py.
 *
 * Every response stores its Set-Cookie cookies in a jar keyed by (domain, port, path):
 * domain is the cookie's Domain attribute or the request host, port the request port, path
 * the Path attribute or "/"; a cookie whose domain does not domain-match the request host is
 * ignored, an expired one (Expires in the past, or Max-Age <= 0) is removed. A request that
 * matches the filter gets every cookie of each entry whose domain domain-matches its host
 * (RFC 2965: equal, or a suffix starting with a dot; "Domain=example.com" also matches as
 * ".example.com"), whose port is its port and whose path prefixes its path, as its only
 * Cookie header (replacing any it had, as mitmproxy does), and
 * flow.metadata["stickycookie"] = True.
 *
 * The jar is shared by every worker (a mutex) and bounded: the oldest (domain, port, path)
 * entry goes first, and within a full entry its oldest cookie (mitmproxy's is unbounded). */
#ifndef MITM_ADDON_STICKYCOOKIE_H
#define MITM_ADDON_STICKYCOOKIE_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_stickycookie;

#define MITM_STICKYCOOKIE_MAX_ORIGINS 1024 /* (domain, port, path) entries */
#define MITM_STICKYCOOKIE_MAX_COOKIES 256  /* per entry */
#define MITM_STICKYCOOKIE_MAX_BYTES   ((size_t)4 << 20)

/* From o->stickycookie; *out NULL when it is None or empty. Error: the filter's. Returns
 * 0, or -1 with err set. */
int mitm_stickycookie_configure(const struct mitm_options *o, struct mitm_stickycookie **out, char *err,
                                size_t errlen);
void mitm_stickycookie_free(struct mitm_stickycookie *s); /* accepts NULL */

/* http.cookiejar.domain_match(a, b) or domain_match(a, b stripped of dots), as stickycookie
 * uses it (mitmc requires b to be a suffix of a; CPython's rfind also accepts it inside). */
bool mitm_stickycookie_domain_match(const char *a, const char *b);

extern const struct mitm_addon mitm_addon_stickycookie;

#endif
