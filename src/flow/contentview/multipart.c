/* The multipart form view (mitmproxy's multipart.py). */
#include "flow/contentview/contentview-int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "flow/export.h"

/* bytes.splitlines(): lines split at \n, \r\n, \r. */
struct span {
    const uint8_t *p;
    size_t n;
};

static size_t splitlines(const uint8_t *p, size_t n, struct span **out)
{
    size_t cap = 16, k = 0;
    struct span *v = mitm_alloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        if (k == cap)
            v = mitm_realloc(v, (cap *= 2) * sizeof(*v));
        v[k++] = (struct span){p + i, j - i};
        if (j < n && p[j] == '\r' && j + 1 < n && p[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    *out = v;
    return k;
}

/* mitmproxy's decode_multipart: split at "--boundary"; a part whose second line names the
 * field (name="...") has the lines after its first empty line (from the third on) joined as
 * the value. */
static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    size_t bl = 0;
    const char *b = m->content_type
                        ? mitm_content_type_param(m->content_type, m->content_type_len, "boundary", &bl)
                        : NULL;
    if (!b || bl == 0 || bl > 200)
        return -1;
    char delim[210];
    snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
    size_t dl = bl + 2;
    struct mitm_kv *kv = NULL;
    size_t k = 0;
    const uint8_t *p = d, *end = d + n;
    while (p <= end) {
        const uint8_t *next = memmem(p, (size_t)(end - p), delim, dl);
        const uint8_t *pe = next ? next : end;
        struct span *lines;
        size_t nl = splitlines(p, (size_t)(pe - p), &lines);
        if (nl > 1 && !(lines[0].n >= 2 && lines[0].p[0] == '-' && lines[0].p[1] == '-')) {
            const char *nm = memmem(lines[1].p, lines[1].n, "name=\"", 6);
            /* \bname=: the byte before "name" must not be a word character */
            if (nm && nm > (const char *)lines[1].p && (isalnum((unsigned char)nm[-1]) || nm[-1] == '_'))
                nm = NULL;
            const char *ne =
                nm ? memchr(nm + 6, '"', (size_t)((const char *)lines[1].p + lines[1].n - nm - 6)) : NULL;
            if (nm && ne && ne > nm + 6) {
                size_t blank = 2;
                while (blank < nl && lines[blank].n)
                    blank++;
                if (blank == nl) {
                    free(lines);
                    mitm_kv_free(kv, k);
                    return -1; /* list.index raises: no empty line */
                }
                struct mitm_buf val;
                mitm_buf_init(&val, 0);
                for (size_t i = blank + 1; i < nl; i++)
                    mitm_buf_append(&val, lines[i].p, lines[i].n);
                mitm_cv_kv_add(&kv, &k, nm + 6, (size_t)(ne - nm - 6), (const char *)mitm_buf_data(&val),
                               val.len);
                mitm_buf_free(&val);
            }
        }
        free(lines);
        if (!next)
            break;
        p = next + dl;
    }
    if (k == 0)
        return -1;
    mitm_cv_put(r, MITM_CV_HIGHLIGHT, "Form data:", 10);
    mitm_cv_endline(r);
    mitm_cv_format_pairs(r, kv, k, false);
    mitm_kv_free(kv, k);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "multipart/form-data") == 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_multipart = {"multipart form", "Multipart form", render, priority};
