/* The registry of views and auto selection (mitmproxy's contentviews/__init__.py), and the
 * rendering of a message body. See contentview.h. */
#include "flow/contentview/contentview-int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "flow/encoding.h"
#include "proto/http/http.h"

/* "type/subtype" lower-cased from a Content-Type (mitmproxy's parse_content_type), or "". */
static void mime_of(const struct mitm_cv_meta *m, char *out, size_t cap)
{
    out[0] = 0;
    if (!m || !m->content_type)
        return;
    const char *p = m->content_type, *end = p + m->content_type_len;
    const char *semi = memchr(p, ';', m->content_type_len);
    const char *e = semi ? semi : end;
    while (p < e && mitm_cv_is_space(*p))
        p++;
    while (e > p && mitm_cv_is_space(e[-1]))
        e--;
    const char *slash = memchr(p, '/', (size_t)(e - p));
    if (!slash || (size_t)(e - p) >= cap)
        return;
    for (const char *q = p; q < e; q++)
        out[q - p] = (char)tolower((unsigned char)*q);
    out[e - p] = 0;
    /* parse_content_type strips the parts around '/' */
    char *s = strchr(out, '/');
    char *a = out, *ae = s;
    while (ae > a && mitm_cv_is_space(ae[-1]))
        ae--;
    char *b = s + 1;
    while (*b && mitm_cv_is_space(*b))
        b++;
    memmove(ae + 1, b, strlen(b) + 1);
    *ae = '/';
}

static void reset(struct mitm_cv_result *r)
{
    size_t max = r->max_lines;
    mitm_cv_result_free(r);
    r->max_lines = max;
}

/* Sorted by name (available_views order after "auto"). */
static const struct mitm_cv_view *const views[] = {
    &mitm_cv_view_css,        &mitm_cv_view_hex,       &mitm_cv_view_image, &mitm_cv_view_javascript,
    &mitm_cv_view_json,       &mitm_cv_view_multipart, &mitm_cv_view_query, &mitm_cv_view_raw,
    &mitm_cv_view_urlencoded, &mitm_cv_view_xml,
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

static const char *const names[NVIEWS + 1] = {"auto",       "css",         "hex dump",       "image",
                                              "javascript", "json",        "multipart form", "query",
                                              "raw",        "url-encoded", "xml/html"};

const char *const *mitm_cv_names(size_t *n)
{
    *n = NVIEWS + 1;
    return names;
}

static const struct mitm_cv_view *find_view(const char *name)
{
    if (!name)
        return NULL;
    if (strcasecmp(name, "hex") == 0)
        name = "hex dump";
    else if (strcasecmp(name, "viewcss") == 0)
        name = "css";
    for (size_t i = 0; i < NVIEWS; i++)
        if (strcasecmp(views[i]->name, name) == 0)
            return views[i];
    return NULL;
}

void mitm_cv_render(const char *name, const uint8_t *data, size_t len, const struct mitm_cv_meta *meta,
                    size_t max_lines, struct mitm_cv_result *out)
{
    static const struct mitm_cv_meta none = {0};
    if (!meta)
        meta = &none;
    out->max_lines = max_lines;
    char cut[48] = "";
    if (len > MITM_CV_MAX_INPUT) {
        snprintf(cut, sizeof(cut), " [cut at %zu bytes]", MITM_CV_MAX_INPUT);
        len = MITM_CV_MAX_INPUT;
    }
    char mime[128];
    mime_of(meta, mime, sizeof(mime));
    const struct mitm_cv_view *v = find_view(name);
    bool chosen = v != NULL;
    if (!v) {
        double best = -1;
        for (size_t i = 0; i < NVIEWS; i++) {
            double p = views[i]->priority(data, len, mime, meta);
            if (p > best) {
                best = p;
                v = views[i];
            }
        }
        if (best <= 0 && len == 0) {
            out->view = "raw";
            snprintf(out->description, sizeof(out->description), "No content");
            return;
        }
    }
    out->view = v->name;
    if (v->render(out, data, len, meta) == 0) {
        snprintf(out->description, sizeof(out->description), "%s%s", v->title, cut);
        return;
    }
    /* mitmproxy: an auto-chosen view that fails falls back to raw; a chosen one too here
     * (mitmdump shows the data rather than a traceback) */
    (void)chosen;
    reset(out);
    out->view = "raw";
    mitm_cv_view_raw.render(out, data, len, meta);
    snprintf(out->description, sizeof(out->description), "[failed to parse as %s] Raw%s", v->name, cut);
}

void mitm_cv_render_message(const char *name, const struct mitm_headers *headers,
                            const struct mitm_buf *content, bool missing,
                            const struct mitm_http_request *request, size_t max_lines,
                            struct mitm_cv_result *out)
{
    if (missing) {
        out->max_lines = max_lines;
        out->view = "raw";
        mitm_cv_put(out, MITM_CV_ERROR, "Content is missing.", 19);
        mitm_cv_endline(out);
        snprintf(out->description, sizeof(out->description), "Content is missing.");
        return;
    }
    struct mitm_buf storage;
    struct mitm_slice body;
    mitm_buf_init(&storage, 0);
    mitm_encoding_message_content(headers, content, false, MITM_CV_MAX_INPUT, &storage, &body);
    size_t cel = 0;
    const char *ce = mitm_headers_get(headers, "content-encoding", &cel);
    /* like mitmproxy: "[decoded X]" when the decoded bytes differ from the raw ones, "[cannot
     * decode]" when a coding is named but the bytes did not decode */
    bool same = body.len == content->len &&
                (body.len == 0 || memcmp(body.base, mitm_buf_data(content), body.len) == 0);
    bool decoded = ce && !same;
    bool failed = ce && same && content->len && !(cel == 8 && strncasecmp(ce, "identity", 8) == 0) &&
                  !(cel == 4 && strncasecmp(ce, "none", 4) == 0) && cel > 0;
    size_t ctl = 0;
    const char *ct = mitm_headers_get(headers, "content-type", &ctl);
    struct mitm_cv_meta meta = {ct, ct ? ctl : 0, request};
    mitm_cv_render(name, body.base, body.len, &meta, max_lines, out);
    struct mitm_buf desc;
    mitm_buf_init(&desc, 0);
    if (decoded)
        mitm_buf_printf(&desc, "[decoded %.*s] ", (int)(cel < 40 ? cel : 40), ce);
    else if (failed)
        mitm_buf_printf(&desc, "[cannot decode] ");
    mitm_buf_printf(&desc, "%s", out->description);
    snprintf(out->description, sizeof(out->description), "%.*s", (int)desc.len,
             (const char *)mitm_buf_data(&desc));
    mitm_buf_free(&desc);
    mitm_buf_free(&storage);
}
