/* The CSS view (mitmproxy's css.py): a whitespace-only beautifier, one declaration a line. */
#include "flow/contentview/contentview-int.h"

#include <string.h>

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    const char *s = (const char *)d, *e = s + n;
    while (s < e && mitm_cv_is_space(*s))
        s++;
    while (e > s && mitm_cv_is_space(e[-1]))
        e--;
    struct mitm_cv_masked b = {0};
    mitm_buf_init(&b.b, 0);
    mitm_buf_init(&b.mask, 0);
    mitm_cv_protect(s, (size_t)(e - s), false, &b);
    mitm_cv_around(&b, ';', "", "\n");
    mitm_cv_around(&b, '{', " ", "\n");
    mitm_cv_around(&b, '}', "\n", "\n\n");
    mitm_cv_around(&b, ',', "", " ");
    /* indent the lines inside a block: depth from the unprotected braces */
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    const char *t = (const char *)mitm_buf_data(&b.b);
    const uint8_t *k = mitm_buf_data(&b.mask);
    long depth = 0;
    bool bol = true;
    for (size_t i = 0; i < b.b.len; i++) {
        if (bol && !k[i] && (t[i] == ' ' || t[i] == '\t'))
            continue; /* re.sub("\n[ \t]+", "\n") */
        if (bol && t[i] != '\n') {
            long dd = depth - (t[i] == '}' && !k[i] ? 1 : 0);
            for (long x = 0; x < dd; x++)
                mitm_buf_append(&out, "    ", 4);
        }
        bol = false;
        if (!k[i] && t[i] == '{')
            depth++;
        if (!k[i] && t[i] == '}' && depth > 0)
            depth--;
        /* ":" in a declaration: "a : b" -> "a: b" */
        if (!k[i] && t[i] == ':' && depth > 0) {
            while (out.len &&
                   (mitm_buf_data(&out)[out.len - 1] == ' ' || mitm_buf_data(&out)[out.len - 1] == '\t'))
                out.len--;
            mitm_buf_append(&out, ": ", 2);
            while (i + 1 < b.b.len && !k[i + 1] && (t[i + 1] == ' ' || t[i + 1] == '\t'))
                i++;
            continue;
        }
        mitm_buf_append(&out, &t[i], 1);
        if (t[i] == '\n')
            bol = true;
    }
    while (out.len && mitm_buf_data(&out)[out.len - 1] == '\n')
        out.len--;
    mitm_cv_escaped_lines(r, &out);
    mitm_cv_masked_free(&b);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "text/css") == 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_css = {"css", "CSS", render, priority};
