/* Text with a mask of the bytes inside strings and comments, and the rewriting pass of the CSS
 * and JavaScript beautifiers. See contentview-int.h. */
#include "flow/contentview/contentview-int.h"

#include <string.h>

void mitm_cv_masked_put(struct mitm_cv_masked *m, const char *p, size_t n, uint8_t prot)
{
    mitm_buf_append(&m->b, p, n);
    for (size_t i = 0; i < n; i++)
        mitm_buf_append(&m->mask, &prot, 1);
}

void mitm_cv_masked_free(struct mitm_cv_masked *m)
{
    mitm_buf_free(&m->b);
    mitm_buf_free(&m->mask);
}

/* Mark strings ('...', "...", `...` for js), block comments and line comments. */
void mitm_cv_protect(const char *d, size_t n, bool js, struct mitm_cv_masked *out)
{
    size_t i = 0;
    while (i < n) {
        char c = d[i];
        size_t e = i;
        if (c == '"' || c == '\'' || (js && c == '`')) {
            e = i + 1;
            while (e < n && d[e] != c && (js || c == '`' || d[e] != '\n')) {
                if (d[e] == '\\' && e + 1 < n)
                    e++;
                e++;
            }
            e = e < n ? e + 1 : n;
        } else if (c == '/' && i + 1 < n && d[i + 1] == '*') {
            const char *end = memmem(d + i + 2, n - i - 2, "*/", 2);
            e = end ? (size_t)(end - d) + 2 : n;
        } else if (c == '/' && i + 1 < n && d[i + 1] == '/') {
            const char *nl = memchr(d + i, '\n', n - i);
            e = nl ? (size_t)(nl - d) : n;
        }
        if (e > i) {
            mitm_cv_masked_put(out, d + i, e - i, 1);
            i = e;
        } else {
            mitm_cv_masked_put(out, &c, 1, 0);
            i++;
        }
    }
}

/* One rewriting pass: at each unprotected delimiter ch, whitespace around it (unprotected)
 * is replaced by before + ch + after. */
void mitm_cv_around(struct mitm_cv_masked *m, char ch, const char *before, const char *after)
{
    struct mitm_cv_masked o = {0};
    mitm_buf_init(&o.b, 0);
    mitm_buf_init(&o.mask, 0);
    const char *t = (const char *)mitm_buf_data(&m->b);
    const uint8_t *k = mitm_buf_data(&m->mask);
    size_t n = m->b.len;
    for (size_t i = 0; i < n;) {
        if (t[i] == ch && !k[i]) {
            /* drop the whitespace already written before it */
            while (o.b.len && mitm_cv_is_space(((const char *)mitm_buf_data(&o.b))[o.b.len - 1]) &&
                   !mitm_buf_data(&o.mask)[o.mask.len - 1]) {
                o.b.len--;
                o.mask.len--;
            }
            mitm_cv_masked_put(&o, before, strlen(before), 0);
            mitm_cv_masked_put(&o, &ch, 1, 0);
            mitm_cv_masked_put(&o, after, strlen(after), 0);
            i++;
            while (i < n && mitm_cv_is_space(t[i]) && !k[i])
                i++;
            continue;
        }
        mitm_cv_masked_put(&o, &t[i], 1, k[i]);
        i++;
    }
    mitm_cv_masked_free(m);
    *m = o;
}
