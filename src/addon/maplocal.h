/* map_local: mitmproxy's addons/maplocal.py. Spec "[SEP filter] SEP url-regex SEP path"
 * (spec.h); path ("~" expanded, symlinks resolved) must exist at start.
 *
 * In the request hook of a flow without a response, for each spec whose filter matches
 * and whose regex is found in request.pretty_url, in order:
 *   - path is a file: it is the one candidate;
 *   - else (a directory) the candidates come from the URL: the regex's first group if it
 *     has groups, else what follows the match without its query string and slashes; that
 *     suffix is percent-decoded (UTF-8, invalid sequences as U+FFFD), and the candidates
 *     are DIR/suffix and DIR/suffix/index.html, then the same with every character outside
 *     [0-9a-zA-Z-_.=(),/] made "_" (if that differs). A suffix that is absolute or has a
 *     ".." component gives no candidate at all (werkzeug's safe_join), so no request can
 *     reach outside DIR by its URL. An empty suffix gives DIR/index.html.
 * The first candidate that is a regular file answers 200 with its bytes, "Server",
 * "Content-Type" (mimetypes.h, when one is known) and "content-length" headers; a file
 * that cannot be read (or is larger than body_buffer_limit) is logged and the next spec
 * tried. If specs matched but no candidate exists, the flow is answered 404 (empty body)
 * and the candidates are logged. Files are read on the worker running the hook, as
 * mitmproxy reads them on its event loop. The state is immutable once configured. */
#ifndef MITM_ADDON_MAPLOCAL_H
#define MITM_ADDON_MAPLOCAL_H

#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_maplocal;

/* From o->map_local (the system mime.types files are read now); *out NULL when empty.
 * Errors: "Cannot parse map_local option SPEC: " + "Invalid number of parameters (2 or 3
 * are expected)", "Invalid filter expression: ...", "Invalid regular expression '(' (...)",
 * "Invalid file path: x ([Errno 2] No such file or directory: 'x')". Returns 0, or -1 with
 * err set. */
int mitm_maplocal_configure(const struct mitm_options *o, struct mitm_maplocal **out, char *err,
                            size_t errlen);
void mitm_maplocal_free(struct mitm_maplocal *m); /* accepts NULL */

extern const struct mitm_addon mitm_addon_maplocal;

#endif
