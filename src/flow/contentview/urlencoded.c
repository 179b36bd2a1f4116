/* The URL-encoded form view (mitmproxy's urlencoded.py) and the query-string parser it shares
 * with the query view. */
#include "flow/contentview/contentview-int.h"

#include <string.h>

#include "base/alloc.h"

size_t mitm_cv_parse_qsl(const char *s, size_t n, size_t max, struct mitm_kv **out)
{
    struct mitm_kv *v = NULL;
    size_t count = 0;
    const char *p = s, *end = s + n;
    while (p < end && count < max) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe > p) {
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            struct mitm_buf k, val;
            mitm_buf_init(&k, 0);
            mitm_buf_init(&val, 0);
            mitm_buf_unquote_plus(&k, p, (size_t)((eq ? eq : pe) - p));
            if (eq)
                mitm_buf_unquote_plus(&val, eq + 1, (size_t)(pe - eq - 1));
            mitm_cv_kv_add(&v, &count, (const char *)mitm_buf_data(&k), k.len,
                           (const char *)mitm_buf_data(&val), val.len);
            mitm_buf_free(&k);
            mitm_buf_free(&val);
        }
        p = amp ? amp + 1 : end;
    }
    *out = v;
    return count;
}

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    for (size_t i = 0; i < n; i++)
        if (d[i] >= 0x80)
            return -1; /* data.decode("ascii") fails */
    struct mitm_kv *kv = NULL;
    size_t k = mitm_cv_parse_qsl((const char *)d, n, SIZE_MAX, &kv);
    mitm_cv_format_pairs(r, kv, k, false);
    mitm_kv_free(kv, k);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)m;
    return n && strcmp(t, "application/x-www-form-urlencoded") == 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_urlencoded = {"url-encoded", "URLEncoded form", render, priority};
