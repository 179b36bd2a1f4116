/* Private to src/flow/contentview/: what the views share. One view a file (as mitmproxy's
 * contentviews/), each defining a struct mitm_cv_view; registry.c lists them and picks one.
 * The public API is flow/contentview.h. */
#ifndef MITM_FLOW_CONTENTVIEW_INT_H
#define MITM_FLOW_CONTENTVIEW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "flow/contentview.h"

/* A view. render appends the rendering of d[0..n) to r (zeroed, max_lines set) and returns 0,
 * or -1 when the data is not of its kind: then r is discarded and the data rendered raw.
 * priority is mitmproxy's render_priority: how well the view fits the data with the
 * lower-cased "type/subtype" mime ("" for none); 0 = not at all. */
struct mitm_cv_view {
    const char *name;  /* registry key, lower case (mitmproxy's view name) */
    const char *title; /* the description of a successful rendering */
    int (*render)(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m);
    double (*priority)(const uint8_t *d, size_t n, const char *mime, const struct mitm_cv_meta *m);
};

extern const struct mitm_cv_view mitm_cv_view_css, mitm_cv_view_hex, mitm_cv_view_image,
    mitm_cv_view_javascript, mitm_cv_view_json, mitm_cv_view_multipart, mitm_cv_view_query, mitm_cv_view_raw,
    mitm_cv_view_urlencoded, mitm_cv_view_xml;

/* ---- building a result (result.c) ---- */

/* True once the rendering has more lines than r->max_lines: views stop early. */
static inline bool mitm_cv_full(const struct mitm_cv_result *r)
{
    return r->cut;
}

/* Append a segment of style st holding p[0..n) to the current line, opening a line if none is
 * (an empty segment only opens the line). Invalid UTF-8 bytes become U+FFFD and control
 * characters other than tab '.' (mitmproxy's safe_to_print). Past max_lines nothing is added
 * and r->cut is set. */
void mitm_cv_put(struct mitm_cv_result *r, enum mitm_cv_style st, const char *p, size_t n);

/* End the current line (an empty line if none is open). */
void mitm_cv_endline(struct mitm_cv_result *r);

/* One text line per line of p[0..n) (split at \n, \r\n and \r like Python's splitlines). */
void mitm_cv_text_lines(struct mitm_cv_result *r, const char *p, size_t n);

/* ---- text helpers (text.c) ---- */

/* Append p[0..n) to out as text for display: valid UTF-8 kept, other bytes and control
 * characters as \xNN, except tab, and CR/LF when keep_newlines; with backslashes, a backslash
 * is doubled so that \xNN is unambiguous (bytes_to_escaped_str). */
void mitm_cv_escape(const uint8_t *p, size_t n, struct mitm_buf *out, bool keep_newlines, bool backslashes);

/* A beautifier's output as text lines, escaped (newlines kept). Frees out. */
void mitm_cv_escaped_lines(struct mitm_cv_result *r, struct mitm_buf *out);

/* mitmproxy's base.format_pairs: one line per pair, "key:" (MITM_CV_KEY) padded to the longest
 * key (at most 30 columns) + 2, then the value; keys and values escaped. With split, a value
 * holding '\n' continues on lines of its own. */
void mitm_cv_format_pairs(struct mitm_cv_result *r, const struct mitm_kv *kv, size_t n, bool split);

/* Append a copy of k[0..kl) = val[0..vl) to the array *v of *n pairs (grown; free with
 * mitm_kv_free). */
void mitm_cv_kv_add(struct mitm_kv **v, size_t *n, const char *k, size_t kl, const char *val, size_t vl);

/* Append Python's repr() of the float v (shortest round-trip digits; exponent form below 1e-4
 * and from 1e16; "Infinity" as json.dumps writes it). */
void mitm_cv_py_float(double v, struct mitm_buf *o);

/* Python's str.isspace() for ASCII: space, \t \n \r \f \v. */
bool mitm_cv_is_space(char c);

/* ---- masked text for the CSS and JavaScript beautifiers (masked.c) ---- */

/* Text with one mask byte per text byte: 1 = inside a string or a comment, never rewritten
 * (mitmproxy hides those parts before its regular expressions run). */
struct mitm_cv_masked {
    struct mitm_buf b;    /* text */
    struct mitm_buf mask; /* one byte per text byte: 1 = inside a string/comment */
};

/* Append p[0..n) with the mask byte prot. */
void mitm_cv_masked_put(struct mitm_cv_masked *m, const char *p, size_t n, uint8_t prot);
void mitm_cv_masked_free(struct mitm_cv_masked *m);

/* Append d[0..n) to out, marking strings ('...', "...", and `...` when js), block comments
 * and line comments. */
void mitm_cv_protect(const char *d, size_t n, bool js, struct mitm_cv_masked *out);

/* One rewriting pass: at each unmarked ch, the unmarked whitespace around it is replaced by
 * before + ch + after. */
void mitm_cv_around(struct mitm_cv_masked *m, char ch, const char *before, const char *after);

#endif
