/* Content views (mitmproxy/contentviews/, reference §12): turn a message body into lines of
 * styled text for mitmdump --flow-detail 3/4, the console and the web UI.
 *
 * Views (registry names, lower case as mitmproxy's): auto, css, hex dump, image, javascript,
 * json, multipart form, query, raw, url-encoded, xml/html. "auto" picks the view with the
 * highest priority for the data and its Content-Type as mitmproxy's render_priority does:
 * json/xml/html/javascript/css/url-encoded/multipart/image by type (1), xml/html by sniffing
 * (0.4, data starting with '<'), hex dump for mostly binary data (0.5), query for an empty
 * request body with a query string (0.3), raw otherwise (0.1). Empty data with nothing better
 * renders no lines. A view that cannot parse its input (invalid JSON, no boundary...) falls
 * back to raw with "[failed to parse as NAME]" in the description.
 *
 * Output formats follow mitmdump 8.1.1 (which we can run side by side), except JSON, which
 * keeps the document's key order as mitmproxy >= 11 does (8.1.1 sorted keys):
 *   raw        the text, invalid UTF-8 bytes and control characters as \xNN (tab kept), split
 *              at \n, \r\n and \r;
 *   hex dump   "0000000000 00 01 ... (47 columns)   ascii" per 16 bytes;
 *   json       Python json.dumps(indent=4, ensure_ascii=False) of the parsed document
 *              (numbers as Python prints them: 2.50 -> 2.5, 1e5 -> 100000.0);
 *   url-encoded, query, multipart form, image
 *              "key:" padded to the longest key (at most 30) + 2, then the value;
 *   xml/html   mitmproxy's tokenizer indenter (2 spaces per open element);
 *   css, javascript
 *              whitespace-only beautifiers (a line per declaration / statement).
 * Text in segments is valid UTF-8 with control characters other than tab shown as '.'. */
#ifndef MITM_FLOW_CONTENTVIEW_H
#define MITM_FLOW_CONTENTVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/http/http-t.h"

#define MITM_CV_MAX_INPUT ((size_t)16 << 20) /* bytes of a body a view reads; the rest is cut */
#define MITM_CV_MAX_DEPTH 512                /* JSON / XML nesting followed before giving up */

/* Styles of segments, for colouring (mitmproxy's style names in comments). */
enum mitm_cv_style {
    MITM_CV_TEXT = 0,  /* text */
    MITM_CV_KEY,       /* header: a key of a key/value listing */
    MITM_CV_HIGHLIGHT, /* highlight */
    MITM_CV_OFFSET,    /* offset (hex dump) */
    MITM_CV_STRING,    /* json_string */
    MITM_CV_NUMBER,    /* json_number */
    MITM_CV_BOOLEAN,   /* json_boolean (true, false, null) */
    MITM_CV_ERROR,     /* error */
};

struct mitm_cv_seg {
    enum mitm_cv_style style;
    size_t off, len; /* bytes in mitm_cv_result.text */
};

struct mitm_cv_line {
    size_t first, n; /* segments [first, first + n) */
};

/* A rendering. Owns its memory; free with mitm_cv_result_free. */
struct mitm_cv_result {
    const char *view;      /* the view that rendered (static name) */
    char description[160]; /* e.g. "[decoded gzip] JSON", "[failed to parse as json] Raw" */
    struct mitm_buf text;
    struct mitm_cv_seg *segs;
    size_t nsegs, segcap;
    struct mitm_cv_line *lines;
    size_t nlines, linecap;
    size_t max_lines; /* lines kept */
    bool cut;         /* the rendering had more than max_lines lines */
    bool open;        /* internal: a line is being built */
};

/* What a view may know about the data besides its bytes. */
struct mitm_cv_meta {
    const char *content_type; /* the Content-Type header value (NULL = none); not NUL-terminated */
    size_t content_type_len;
    const struct mitm_http_request *request; /* set when the data is this request's body (query view) */
};

/* View names: "auto" first, then the others sorted (mitmproxy's available_views()). Static. */
const char *const *mitm_cv_names(size_t *n);

/* Render len bytes with the view called name (case-insensitive; NULL, "auto" or an unknown
 * name = auto; "hex" and "viewcss" are accepted as aliases). At most max_lines lines are kept
 * (SIZE_MAX = all); input beyond MITM_CV_MAX_INPUT is not looked at ("[cut at N bytes]" in the
 * description). out must be zeroed; free it with mitm_cv_result_free. Never fails: a view
 * that cannot parse the data falls back to raw. */
void mitm_cv_render(const char *name, const uint8_t *data, size_t len, const struct mitm_cv_meta *meta,
                    size_t max_lines, struct mitm_cv_result *out);

/* Render an HTTP message body like mitmproxy's prettify_message: the body decoded per its
 * Content-Encoding ("[decoded gzip]" in the description; "[cannot decode]" and the raw bytes
 * if it does not decode), the Content-Type from headers; request = the request when the
 * message is one (for the query view), else NULL. A missing body (streamed, not kept) renders
 * one error line "Content is missing.". out must be zeroed. */
void mitm_cv_render_message(const char *name, const struct mitm_headers *headers,
                            const struct mitm_buf *content, bool missing,
                            const struct mitm_http_request *request, size_t max_lines,
                            struct mitm_cv_result *out);

void mitm_cv_result_free(struct mitm_cv_result *r);

/* Append the text of line i (all its segments, no newline) to out. */
void mitm_cv_line_text(const struct mitm_cv_result *r, size_t i, struct mitm_buf *out);

/* mitmproxy's strutils.is_mostly_bin: more than 30% of the first 100 bytes are control
 * characters other than \t \n \v \f \r, or bytes >= 0x7f. False for empty data. */
bool mitm_cv_is_mostly_bin(const uint8_t *p, size_t n);

/* One key/value pair of a parsed form or query. */
struct mitm_kv {
    char *k, *v; /* owned, NUL-terminated (may also hold NULs: use the lengths) */
    size_t klen, vlen;
};

/* Python's urllib.parse.parse_qsl(keep_blank_values=True): pairs split at '&', name and value
 * at the first '=', '+' as space and %XX decoded (invalid escapes kept). Empty pieces are
 * skipped. At most max pairs are returned. Returns the count; *out is a new array (free with
 * mitm_kv_free), NULL when the count is 0. */
size_t mitm_cv_parse_qsl(const char *s, size_t n, size_t max, struct mitm_kv **out);
void mitm_kv_free(struct mitm_kv *kv, size_t n);

/* mitmproxy's multipart.decode: the (name, value) pairs of a multipart/form-data body whose
 * content type ct (ctlen bytes) gives the boundary. Returns the count (0: no boundary or
 * no named part), or -1 for a named part without the empty line after its headers (where
 * mitmproxy raises); *out as mitm_cv_parse_qsl's. */
ssize_t mitm_multipart_decode(const char *ct, size_t ctlen, const uint8_t *d, size_t n, struct mitm_kv **out);

/* mitmproxy's multipart.encode: the pairs as a multipart/form-data body with ct's boundary
 * appended to out, each part "Content-Disposition: form-data; name=..." and "Content-Type:
 * text/plain; charset=utf-8". Returns 0, or -1 with err set (no boundary; a value that is the
 * delimiter line). */
int mitm_multipart_encode(const char *ct, size_t ctlen, const struct mitm_kv *kv, size_t n,
                          struct mitm_buf *out, char *err, size_t errlen);

#endif
