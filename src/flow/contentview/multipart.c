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

ssize_t mitm_multipart_decode(const char *ct, size_t ctlen, const uint8_t *d, size_t n, struct mitm_kv **out)
{
    *out = NULL;
    size_t bl = 0;
    const char *b = ct ? mitm_content_type_param(ct, ctlen, "boundary", &bl) : NULL;
    if (!b || bl == 0 || bl > 200)
        return 0;
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
    *out = kv;
    return (ssize_t)k;
}

int mitm_multipart_encode(const char *ct, size_t ctlen, const struct mitm_kv *kv, size_t n,
                          struct mitm_buf *out, char *err, size_t errlen)
{
    size_t bl = 0;
    const char *b = ct ? mitm_content_type_param(ct, ctlen, "boundary", &bl) : NULL;
    if (!b) {
        snprintf(err, errlen, "The content type has no multipart boundary.");
        return -1;
    }
    struct mitm_buf bd; /* urllib's quote(): unreserved bytes and '/' as they are */
    mitm_buf_init(&bd, 0);
    for (size_t i = 0; i < bl; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (isalnum(ch) || strchr("_.-~/", ch))
            mitm_buf_append(&bd, &ch, 1);
        else
            mitm_buf_printf(&bd, "%%%02X", ch);
    }
    const char *bs = (const char *)mitm_buf_data(&bd);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* mitmproxy refuses a value that is the delimiter line itself */
        size_t vl = kv[i].vlen;
        if (vl && kv[i].v[vl - 1] == '\n')
            vl--;
        if (vl == bd.len + 2 && memcmp(kv[i].v, "--", 2) == 0 && memcmp(kv[i].v + 2, bs, bd.len) == 0) {
            snprintf(err, errlen, "boundary found in encoded string");
            rc = -1;
            break;
        }
        if (kv[i].klen) {
            mitm_buf_printf(out, "--%.*s\r\nContent-Disposition: form-data; name=\"", (int)bd.len, bs);
            mitm_buf_append(out, kv[i].k, kv[i].klen);
            mitm_buf_printf(out, "\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
            mitm_buf_append(out, kv[i].v, kv[i].vlen);
            mitm_buf_append(out, "\r\n", 2);
        }
        mitm_buf_append(out, "\r\n", 2);
    }
    if (rc == 0)
        mitm_buf_printf(out, "--%.*s--\r\n", (int)bd.len, bs);
    mitm_buf_free(&bd);
    return rc;
}

/* The view: mitmproxy's decode_multipart, then the pairs. */
static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    struct mitm_kv *kv;
    ssize_t k = mitm_multipart_decode(m->content_type, m->content_type_len, d, n, &kv);
    if (k <= 0)
        return -1;
    mitm_cv_put(r, MITM_CV_HIGHLIGHT, "Form data:", 10);
    mitm_cv_endline(r);
    mitm_cv_format_pairs(r, kv, (size_t)k, false);
    mitm_kv_free(kv, (size_t)k);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "multipart/form-data") == 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_multipart = {"multipart form", "Multipart form", render, priority};
