/* Cookie parsing and formatting as mitmproxy's net/http/cookies.py does it (permissive:
 * RFC 6265 plus the comma-separated multi-cookie Set-Cookie of RFC 2109, malformed input
 * kept rather than refused), for stickycookie. Pure functions. */
#ifndef MITM_ADDON_COOKIES_H
#define MITM_ADDON_COOKIES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/slice.h"

/* One attribute (key as written) or cookie pair; value NULL = no "=" (Python None). */
struct mitm_cookie_pair {
    char *key;
    char *value;
};

/* One cookie of a Set-Cookie header: name, value (NULL: none) and attributes in order. */
struct mitm_setcookie {
    char *name;
    char *value;
    struct mitm_cookie_pair *attrs;
    size_t nattrs;
};

struct mitm_setcookies {
    struct mitm_setcookie *v;
    size_t n;
};

/* parse_set_cookie_header(line): append every cookie of one Set-Cookie value to out
 * (which must be zeroed or hold earlier results). An "expires" value is read past its
 * comma when what came before is 3 characters or fewer (mitmproxy's heuristic). */
void mitm_setcookie_parse(const char *line, size_t n, struct mitm_setcookies *out);
void mitm_setcookies_free(struct mitm_setcookies *c);

/* CookieAttrs[key]: the last attribute called key (case-insensitive), or NULL; *found
 * tells apart "absent" from an attribute without a value (which returns NULL, found). */
const char *mitm_setcookie_attr(const struct mitm_setcookie *c, const char *key, bool *found);

/* cookies.is_expired(attrs): an "expires" that parses as an email date at or before now,
 * else (no "expires" at all) a "max-age" that is an integer <= 0. */
bool mitm_setcookie_expired(const struct mitm_setcookie *c, double now);

/* format_cookie_header(pairs): "k=v; k2=v2"; a value holding '"', ',', ';', '\' or a
 * byte outside 0x21..0x7e is written as a quoted string with '"' and '\' escaped; a pair
 * without a value is written as its key alone. Appended to out. */
void mitm_cookie_format(const struct mitm_cookie_pair *pairs, size_t n, struct mitm_buf *out);

#endif
