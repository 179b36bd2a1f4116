/* modify_headers (-H) and modify_body (-B): mitmproxy's addons/modifyheaders.py and
 * modifybody.py.
 *
 * Spec: "[SEP filter] SEP subject SEP [@]replacement" (spec.h). subject and a replacement
 * without "@" take Python's bytes escapes (\n, \x00, ...); "@path" reads the replacement
 * from a file ("~" expanded) once, at configure time (mitmproxy reads it again at every
 * use). modify_body's subject is a bytes regex (re.DOTALL), replaced by the replacement
 * taken literally.
 *
 * modify_headers, in the requestheaders hook (unless the flow already has a response) and
 * the responseheaders hook: every spec whose filter matches the flow as it was before this
 * run removes the headers called subject; then each one with a non-empty replacement adds
 * "subject: replacement" at the end. mitmproxy also runs responseheaders for a response an
 * addon made; mitmc's HTTP layer does not yet, so such a response gets it in the response
 * hook (running it twice gives the same headers).
 *
 * modify_body, in the request hook (unless the flow has a response) and the response hook:
 * each matching spec in turn replaces every match in the decoded body (Content-Encoding
 * undone and redone; an undecodable body is left alone with a warning); a changed body
 * gets a new Content-Length unless the message has Transfer-Encoding. Streamed bodies
 * (stream_large_bodies, body_buffer_limit) are never modified: a warning at start when
 * both modify_body and stream_large_bodies are set, as mitmproxy 10.1.6+, and one per
 * message that matched but was streamed.
 *
 * The states are immutable once configured: hooks only read them. */
#ifndef MITM_ADDON_MODIFY_H
#define MITM_ADDON_MODIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"
#include "base/buf.h"

struct mitm_options;
struct mitm_modify;

/* Build the state of modify_headers (body = false) or modify_body (body = true) from
 * o->modify_headers / o->modify_body. *out is NULL when the option is empty. Errors name
 * the option as mitmproxy's OptionsError does: "Cannot parse modify_body option
 * SPEC: Invalid regular expression b'a(' (...)", "...: Invalid file path: x ([Errno 2]
 * ...)", "...: invalid \x escape at position 0", "...: Invalid number of parameters (2
 * or 3 are expected)", "...: Invalid filter expression: ...". mitmc also refuses, for
 * modify_headers, a name that is not an HTTP token and a value holding CR, LF or NUL
 * (one trailing newline of an @file is dropped). Returns 0, or -1 with err set. */
int mitm_modify_configure(const struct mitm_options *o, bool body, struct mitm_modify **out, char *err,
                          size_t errlen);
void mitm_modify_free(struct mitm_modify *m); /* accepts NULL */

extern const struct mitm_addon mitm_addon_modifyheaders; /* state: modify_headers' */
extern const struct mitm_addon mitm_addon_modifybody;    /* state: modify_body's */

#endif
