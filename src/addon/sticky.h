/* stickyauth and stickycookie: mitmproxy's addons/stickyauth.py and stickycookie.py. Each
 * is on when its option holds a filter expression.
 *
 * stickyauth (request hook): a request with an Authorization header stores its value (all
 * fields joined with ", ") for request.host, whatever the filter; a request without one
 * that matches the filter gets the value stored for its host.
 *
 * stickycookie: every response stores its Set-Cookie cookies in a jar keyed by (domain,
 * port, path): domain is the cookie's Domain attribute or the request host, port the
 * request port, path the Path attribute or "/"; a cookie whose domain does not
 * domain-match the request host is ignored, an expired one (Expires in the past, or
 * Max-Age <= 0) is removed. A request that matches the filter gets every cookie of each
 * entry whose domain domain-matches its host (RFC 2965: equal, or a suffix starting with
 * a dot; "Domain=example.com" also matches as ".example.com"), whose port is its port and
 * whose path prefixes its path, as its only Cookie header (replacing any it had, as
 * mitmproxy does), and flow.metadata["stickycookie"] = True.
 *
 * The stores are shared by every worker (a mutex each) and bounded: stickyauth forgets
 * the least recently used host first, stickycookie the oldest (domain, port, path) entry
 * and, within a full entry, its oldest cookie. mitmproxy's are unbounded. */
#ifndef MITM_ADDON_STICKY_H
#define MITM_ADDON_STICKY_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_sticky;

#define MITM_STICKYAUTH_MAX_HOSTS     4096
#define MITM_STICKYAUTH_MAX_BYTES     ((size_t)4 << 20)
#define MITM_STICKYCOOKIE_MAX_ORIGINS 1024 /* (domain, port, path) entries */
#define MITM_STICKYCOOKIE_MAX_COOKIES 256  /* per entry */
#define MITM_STICKYCOOKIE_MAX_BYTES   ((size_t)4 << 20)

/* From o->stickyauth / o->stickycookie (cookie = true); *out NULL when the option is
 * None or empty. Error: the filter's ("Invalid filter expression: '~x' (...)"). Returns 0,
 * or -1 with err set. */
int mitm_sticky_configure(const struct mitm_options *o, bool cookie, struct mitm_sticky **out, char *err,
                          size_t errlen);
void mitm_sticky_free(struct mitm_sticky *s); /* accepts NULL */

/* http.cookiejar.domain_match(a, b) or domain_match(a, b stripped of dots), as stickycookie
 * uses it (mitmc requires b to be a suffix of a; CPython's rfind also accepts it inside). */
bool mitm_sticky_domain_match(const char *a, const char *b);

extern const struct mitm_addon mitm_addon_stickyauth;   /* state: stickyauth's */
extern const struct mitm_addon mitm_addon_stickycookie; /* state: stickycookie's */

#endif
