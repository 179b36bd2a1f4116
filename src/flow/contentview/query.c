/* The query view (mitmproxy's query.py): the query string of the request whose (empty) body
 * this is. */
#include "flow/contentview/contentview-int.h"

#include <string.h>

static const char *query_of(const struct mitm_http_request *q, size_t *len)
{
    const char *s = q && q->path ? strchr(q->path, '?') : NULL;
    if (!s)
        return NULL;
    s++;
    const char *h = strchr(s, '#');
    *len = h ? (size_t)(h - s) : strlen(s);
    return s;
}

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)d;
    (void)n;
    size_t ql = 0;
    const char *q = query_of(m->request, &ql);
    struct mitm_kv *kv = NULL;
    size_t k = q ? mitm_cv_parse_qsl(q, ql, SIZE_MAX, &kv) : 0;
    if (k)
        mitm_cv_format_pairs(r, kv, k, false);
    else
        mitm_cv_endline(r);
    mitm_kv_free(kv, k);
    return 0;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)t;
    size_t ql = 0;
    return !n && m && query_of(m->request, &ql) && ql ? 0.3 : 0;
}

const struct mitm_cv_view mitm_cv_view_query = {"query", "Query", render, priority};
