/* The parts of mitmproxy's http.Request / http.Response API the built-in addons use, on
 * mitmc's neutral HTTP model: pretty_url, the url setter (url.parse, then scheme, host,
 * port and path with the Host header and authority kept in step), Response.make (and its
 * reason phrases), Basic credentials, the proxy mode of a flow and flow.metadata values.
 * Pure functions on what they are given: safe on any thread. */
#ifndef MITM_ADDON_HTTPUTIL_H
#define MITM_ADDON_HTTPUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "flow/flow-t.h"

/* A flow an addon must leave alone (mitmproxy's flow.error, set by flow.kill() too): it
 * failed, or an earlier addon killed it. */
static inline bool mitm_addon_flow_dead(const struct mitm_flow *f)
{
    return f->error || f->killed || f->loaded;
}

/* The Server header of responses the addons make (mitmproxy: "mitmproxy <version>"). */
#define MITM_ADDON_SERVER "mitmc/" MITM_VERSION

/* mitmproxy's reason phrase for status (net/http/status_codes.py RESPONSES, e.g. 504
 * "Gateway Time-out"); "" for a code it does not know. */
const char *mitm_addon_reason(int status);

/* Response.make(status, body, headers): HTTP/1.1, mitmproxy's reason, the headers
 * hdrs[0..2*nhdrs) (name, value pairs, in order), then "content-length: <len>" as
 * mitmproxy's content setter adds it, and the body; both timestamps now. */
struct mitm_http_response *mitm_addon_make_response(int status, const char *const *hdrs, size_t nhdrs,
                                                    const void *body, size_t len, double now);

/* url.hostport(): host, with ":port" unless port is the scheme's default; an IPv6
 * address gets brackets (mitmproxy leaves them out, making "::1:8080"). Appended to out. */
void mitm_addon_hostport(const char *scheme, const char *host, unsigned port, struct mitm_buf *out);

/* request.pretty_url: scheme://host[:port]path built from the Host header (HTTP/2: the
 * authority) when there is one (parsed as url.parse_authority(check=False)), else from
 * the request's host and port; a CONNECT's authority. Appended to out (no NUL). */
void mitm_addon_pretty_url(const struct mitm_http_request *r, struct mitm_buf *out);

/* After the host, port or scheme changed (request.host = ...): a Host header present becomes
 * hostport(scheme, host, port) (its position and spelling kept), as does a non-empty
 * authority (mitmproxy's _update_host_and_authority). */
void mitm_addon_update_host_and_authority(struct mitm_http_request *r);

/* request.url = url (url[0..n)): parse it as mitmproxy's url.parse (urllib's urlparse:
 * the scheme lower-cased, the host lower-cased, a missing or zero port the scheme's
 * default, the path with its params, query and fragment, "/" prefixed), then set scheme,
 * host, port and path; a Host header present is set to hostport(scheme, host, port)
 * (its position and spelling kept), as is a non-empty authority. Refuses (request
 * unchanged): no host ("No hostname given"), an invalid host ("Invalid Host"; non-ASCII
 * hosts are refused as mitmc does no IDNA), a bad port ("Port out of range 0-65535",
 * "Port could not be cast to integer value as 'x'"), unbalanced brackets ("Invalid IPv6
 * URL"), and a URL with bytes outside 0x21..0x7e once tabs and newlines are dropped
 * (mitmc: such a path cannot be sent in an HTTP/1 request line; mitmproxy refuses
 * non-ASCII and sends spaces). Returns 0, or -1 with err set. */
int mitm_addon_set_url(struct mitm_http_request *r, const char *url, size_t n, char *err, size_t errlen);

/* Every value of the header name, joined with ", " (mitmproxy's Headers[name]); false
 * (out emptied) if there is none. */
bool mitm_addon_header_joined(const struct mitm_headers *h, const char *name, struct mitm_buf *out);

/* Is the flow's client connection in proxy mode name ("regular", "upstream", "reverse",
 * ...)? The mode spec is MODE[:DATA][@[HOST:]PORT]; a flow without one is "regular". */
bool mitm_addon_mode_is(const struct mitm_flow *f, const char *name);

/* flow.metadata[key] = True. */
void mitm_addon_meta_true(struct mitm_flow *f, const char *key);
/* flow.metadata[key] = (a, b): a tuple of two str (saved as a list, as mitmproxy does). */
void mitm_addon_meta_pair(struct mitm_flow *f, const char *key, const char *a, size_t alen, const char *b,
                          size_t blen);

/* base64 of in[0..n) appended to out (standard alphabet, padded). */
void mitm_addon_base64(const void *in, size_t n, struct mitm_buf *out);
/* binascii.a2b_base64 (non-strict): characters outside the alphabet are skipped, decoding
 * stops at padding; a length that padding does not complete is an error ("Incorrect
 * padding"). Appends to out; returns 0 or -1 (out unchanged). */
int mitm_addon_unbase64(const char *in, size_t n, struct mitm_buf *out);

/* proxyauth's parse_http_basic_auth: value must be exactly two whitespace-separated words,
 * the first "basic" (any case), the second base64 of "user:password". The password is
 * everything after the first ':' (RFC 7617 §2; mitmproxy refuses a second ':'). Returns
 * true with the two parts in user and pass (emptied first), else false. */
bool mitm_addon_parse_basic(const char *value, size_t n, struct mitm_buf *user, struct mitm_buf *pass);

#endif
