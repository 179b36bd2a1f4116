/* The JavaScript view (mitmproxy's javascript.py): a whitespace-only beautifier, one statement
 * a line. */
#include "flow/contentview/contentview-int.h"

#include <ctype.h>
#include <string.h>

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    struct mitm_cv_masked b = {0};
    mitm_buf_init(&b.b, 0);
    mitm_buf_init(&b.mask, 0);
    mitm_cv_protect((const char *)d, n, true, &b);
    /* "for(...)" headers keep their semicolons */
    {
        char *t = (char *)(b.b.mem ? b.b.mem + b.b.off : NULL);
        uint8_t *k = b.mask.mem ? b.mask.mem + b.mask.off : NULL;
        for (size_t i = 0; t && i + 4 <= b.b.len; i++) {
            if (!k[i] && memcmp(t + i, "for(", 4) == 0 && (i == 0 || !isalnum((unsigned char)t[i - 1]))) {
                size_t j = i + 4;
                while (j < b.b.len && t[j] != ')' && t[j] != '\n')
                    k[j++] = 1;
            }
        }
    }
    mitm_cv_around(&b, '{', " ", "\n");
    mitm_cv_around(&b, ';', "", "\n");
    mitm_cv_around(&b, '}', "\n", "\n");
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    const char *t = (const char *)mitm_buf_data(&b.b);
    long level = 0;
    /* line by line: "... {" opens, "}..." closes; 2 spaces per level */
    for (size_t i = 0; i < b.b.len;) {
        const char *nl = memchr(t + i, '\n', b.b.len - i);
        size_t e = nl ? (size_t)(nl - t) + 1 : b.b.len;
        const char *l = t + i;
        size_t ll = e - i;
        bool opens = ll >= 2 && l[ll - 1] == '\n' && l[ll - 2] == '{';
        if (!opens && ll && l[0] == '}')
            level--;
        for (long x = 0; x < level; x++)
            mitm_buf_append(&out, "  ", 2);
        mitm_buf_append(&out, l, ll);
        if (opens)
            level++;
        i = e;
    }
    mitm_cv_escaped_lines(r, &out);
    mitm_cv_masked_free(&b);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && (strcmp(t, "application/x-javascript") == 0 || strcmp(t, "application/javascript") == 0 ||
                 strcmp(t, "text/javascript") == 0)
               ? 1
               : 0;
}

const struct mitm_cv_view mitm_cv_view_javascript = {"javascript", "JavaScript", render, priority};
