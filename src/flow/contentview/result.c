/* Building a rendering: segments, lines, the line cap. See contentview-int.h. */
#include "flow/contentview/contentview-int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/export.h"

/* Append a segment to the current line. Text is made safe to print: invalid UTF-8 bytes
 * become U+FFFD, control characters other than tab become '.' (mitmproxy's safe_to_print). */
void mitm_cv_put(struct mitm_cv_result *r, enum mitm_cv_style st, const char *p, size_t n)
{
    if (r->cut)
        return;
    if (!r->open) {
        if (r->nlines == r->max_lines) {
            r->cut = true;
            return;
        }
        if (r->nlines == r->linecap) {
            r->linecap = r->linecap ? r->linecap * 2 : 64;
            r->lines = mitm_realloc(r->lines, r->linecap * sizeof(*r->lines));
        }
        r->lines[r->nlines++] = (struct mitm_cv_line){r->nsegs, 0};
        r->open = true;
    }
    if (n == 0)
        return;
    if (r->nsegs == r->segcap) {
        r->segcap = r->segcap ? r->segcap * 2 : 128;
        r->segs = mitm_realloc(r->segs, r->segcap * sizeof(*r->segs));
    }
    size_t off = r->text.len;
    for (size_t i = 0; i < n;) {
        const uint8_t *u = (const uint8_t *)p + i;
        size_t l = mitm_utf8_seq(u, n - i);
        if (l == 0) {
            mitm_buf_append(&r->text, "\xef\xbf\xbd", 3);
            i++;
        } else if (l == 1 && ((*u < 0x20 && *u != '\t') || *u == 0x7f)) {
            mitm_buf_append(&r->text, ".", 1);
            i++;
        } else {
            mitm_buf_append(&r->text, u, l);
            i += l;
        }
    }
    r->segs[r->nsegs++] = (struct mitm_cv_seg){st, off, r->text.len - off};
    r->lines[r->nlines - 1].n++;
}

/* End the current line (an empty line if none is open). */
void mitm_cv_endline(struct mitm_cv_result *r)
{
    if (!r->open)
        mitm_cv_put(r, MITM_CV_TEXT, "", 0);
    r->open = false;
}

/* One text line per line of p (split at \n, \r\n and \r like Python's splitlines). */
void mitm_cv_text_lines(struct mitm_cv_result *r, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !mitm_cv_full(r)) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        mitm_cv_put(r, MITM_CV_TEXT, p + i, j - i);
        mitm_cv_endline(r);
        if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
            j++;
        i = j + 1;
    }
}

void mitm_cv_result_free(struct mitm_cv_result *r)
{
    mitm_buf_free(&r->text);
    free(r->segs);
    free(r->lines);
    memset(r, 0, sizeof(*r));
}

void mitm_cv_line_text(const struct mitm_cv_result *r, size_t i, struct mitm_buf *out)
{
    const struct mitm_cv_line *l = &r->lines[i];
    for (size_t k = l->first; k < l->first + l->n; k++)
        mitm_buf_append(out, mitm_buf_data(&r->text) + r->segs[k].off, r->segs[k].len);
}
