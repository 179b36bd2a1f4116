/* block_list: mitmproxy's addons/blocklist.py. Spec "SEP filter SEP status" (exactly two
 * parts; the filter is required). In the request hook of a flow without a response, the
 * every spec whose filter matches sets flow.metadata["blocklisted"] = True and either
 * kills the flow (status 444: the client connection is closed with no response) or
 * answers it with an empty response of that status ("Server" and "content-length: 0"
 * headers, as mitmproxy's Response.make); as in mitmproxy the last matching status wins
 * and a kill wins over any status. The state is immutable once configured. */
#ifndef MITM_ADDON_BLOCKLIST_H
#define MITM_ADDON_BLOCKLIST_H

#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_blocklist;

/* From o->block_list; *out NULL when empty. Errors: "Cannot parse block_list option SPEC:
 * " + "Invalid number of parameters (2 are expected)", "Invalid HTTP status code: x"
 * (mitmc: also a code outside 100..999, which an HTTP/1 status line cannot carry;
 * mitmproxy 12 takes any integer), "Empty filter expression", "Invalid filter
 * expression: ...". Returns 0, or -1 with err set. */
int mitm_blocklist_configure(const struct mitm_options *o, struct mitm_blocklist **out, char *err,
                             size_t errlen);
void mitm_blocklist_free(struct mitm_blocklist *b); /* accepts NULL */

extern const struct mitm_addon mitm_addon_blocklist;

#endif
