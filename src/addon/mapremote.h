/* map_remote (-M): mitmproxy's addons/mapremote.py. Spec "[SEP filter] SEP url-regex SEP
 * replacement" (spec.h; the regex is a Python str pattern, the replacement a Python re.sub
 * template: \1, \g<name>, ...).
 *
 * In the request hook of a flow without a response, every spec whose filter matches, in
 * order, runs re.sub(regex, replacement, request.pretty_url); when that changes the URL,
 * request.url is set to it: scheme, host, port and path change, and a Host header (and an
 * authority) becomes the new host[:port] (httputil.h mitm_addon_set_url). The request then
 * goes to the new host and port. A new URL that does not parse is logged and the request
 * left as it was (mitmproxy: an addon error). The template is checked against the regex at
 * start; mitmproxy finds a bad template only at the first matching request.
 *
 * The state is immutable once configured. */
#ifndef MITM_ADDON_MAPREMOTE_H
#define MITM_ADDON_MAPREMOTE_H

#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_mapremote;

/* From o->map_remote; *out NULL when empty. Errors: "Cannot parse map_remote option SPEC:
 * " + "Invalid number of parameters (2 or 3 are expected)", "Invalid filter expression:
 * ...", "Invalid regular expression 'a(' (...)", "Invalid replacement '\q' (bad escape \q
 * at position 0)". Returns 0, or -1 with err set. */
int mitm_mapremote_configure(const struct mitm_options *o, struct mitm_mapremote **out, char *err,
                             size_t errlen);
void mitm_mapremote_free(struct mitm_mapremote *m); /* accepts NULL */

extern const struct mitm_addon mitm_addon_mapremote;

#endif
