/* Fuzz target: every content view, and auto selection, over arbitrary bytes. The first input
 * byte picks a Content-Type (low 5 bits), whether the data is the body of a request with a
 * query string (bit 5) and a line cap (bits 6-7); the rest is the body. Checks the invariants
 * a front end relies on: at most max_lines lines, every line's segments and every segment's
 * bytes inside the result, text that is valid UTF-8 with no control character but tab, a
 * view name and a description always set, the same rendering for the same input, and a cut
 * raw or hex rendering is a prefix of the whole one. The message path (Content-Encoding
 * decoded first) and the query-string parser run on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "flow/contentview.h"
#include "flow/export.h"
#include "proto/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                             \
    do {                                                                                                     \
        if (!(c))                                                                                            \
            abort();                                                                                         \
    } while (0)

/* The views are linear or close to it; a few KiB per input keeps each run short. */
#define MAX_BODY 2048

static const char *const types[32] = {
    NULL,
    "application/json",
    "application/vnd.api+json; charset=utf-8",
    "text/xml",
    "text/html; charset=utf-8",
    "text/css",
    "application/javascript",
    "text/javascript",
    "image/png",
    "image/gif",
    "image/jpeg",
    "image/x-icon",
    "image/svg+xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "multipart/form-data; boundary=\"quoted boundary\"",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    " Text / HTML ; charset=latin-1",
    "application/json-rpc",
    "application/x-javascript",
    "image/webp",
    "multipart/form-data; boundary=",
    "text",
    "",
    ";;;",
    "application/json; boundary=xyz",
    "image/",
    "text/css; charset=\"\\\"\"",
    "multipart/form-data; BOUNDARY=xyz",
    "application/xml",
};

static const size_t caps[4] = {SIZE_MAX, 0, 1, 7};

/* The invariants of one rendering. */
static void check_result(const struct mitm_cv_result *r, size_t max_lines)
{
    CHECK(r->view != NULL);
    CHECK(memchr(r->description, 0, sizeof(r->description)) != NULL);
    CHECK(r->nlines <= max_lines);
    CHECK(r->nlines <= r->linecap && r->nsegs <= r->segcap);
    size_t next = 0;
    for (size_t i = 0; i < r->nlines; i++) {
        CHECK(r->lines[i].first == next); /* lines cover the segments in order */
        CHECK(r->lines[i].first + r->lines[i].n <= r->nsegs);
        next += r->lines[i].n;
    }
    CHECK(next == r->nsegs);
    const uint8_t *t = mitm_buf_data(&r->text);
    for (size_t i = 0; i < r->nsegs; i++) {
        const struct mitm_cv_seg *s = &r->segs[i];
        CHECK(s->off <= r->text.len && s->len <= r->text.len - s->off);
        CHECK(s->style >= MITM_CV_TEXT && s->style <= MITM_CV_ERROR);
    }
    for (size_t i = 0; i < r->text.len;) {
        size_t l = mitm_utf8_seq(t + i, r->text.len - i);
        CHECK(l > 0);
        CHECK(l > 1 || t[i] == '\t' || (t[i] >= 0x20 && t[i] != 0x7f));
        i += l;
    }
}

static void line_texts(const struct mitm_cv_result *r, struct mitm_buf *out)
{
    for (size_t i = 0; i < r->nlines; i++) {
        mitm_cv_line_text(r, i, out);
        mitm_buf_append(out, "\n", 1);
    }
}

static bool same(const struct mitm_cv_result *a, const struct mitm_cv_result *b)
{
    if (strcmp(a->view, b->view) != 0 || strcmp(a->description, b->description) != 0 ||
        a->nlines != b->nlines || a->nsegs != b->nsegs || a->cut != b->cut || a->text.len != b->text.len ||
        memcmp(mitm_buf_data(&a->text), mitm_buf_data(&b->text), a->text.len) != 0)
        return false;
    /* field by field: the structs have padding */
    for (size_t i = 0; i < a->nsegs; i++)
        if (a->segs[i].style != b->segs[i].style || a->segs[i].off != b->segs[i].off ||
            a->segs[i].len != b->segs[i].len)
            return false;
    for (size_t i = 0; i < a->nlines; i++)
        if (a->lines[i].first != b->lines[i].first || a->lines[i].n != b->lines[i].n)
            return false;
    return true;
}

static void render_one(const char *name, const uint8_t *body, size_t len, const struct mitm_cv_meta *meta,
                       size_t max_lines)
{
    struct mitm_cv_result r = {0}, again = {0};
    mitm_cv_render(name, body, len, meta, max_lines, &r);
    check_result(&r, max_lines);
    mitm_cv_render(name, body, len, meta, max_lines, &again);
    CHECK(same(&r, &again));
    mitm_cv_result_free(&again);
    /* raw and hex dump render line by line: a cut rendering is the start of the whole one */
    if (max_lines != SIZE_MAX && name &&
        (strcmp(name, "raw") == 0 || strcmp(name, "hex dump") == 0 || strcmp(name, "hex") == 0)) {
        struct mitm_cv_result whole = {0};
        mitm_cv_render(name, body, len, meta, SIZE_MAX, &whole);
        struct mitm_buf a, b;
        mitm_buf_init(&a, 0);
        mitm_buf_init(&b, 0);
        line_texts(&r, &a);
        line_texts(&whole, &b);
        CHECK(a.len <= b.len && (a.len == 0 || memcmp(mitm_buf_data(&a), mitm_buf_data(&b), a.len) == 0));
        CHECK(r.cut == (whole.nlines > max_lines));
        mitm_buf_free(&a);
        mitm_buf_free(&b);
        mitm_cv_result_free(&whole);
    }
    mitm_cv_result_free(&r);
}

static void render_message(const uint8_t *body, size_t len, const char *ct, uint8_t sel,
                           const struct mitm_http_request *req, size_t max_lines)
{
    static const char *const codings[] = {NULL,   "gzip",     "deflate",   "br",
                                          "zstd", "identity", "x-unknown", "gzip, br"};
    struct mitm_headers h;
    mitm_headers_init(&h);
    if (ct)
        mitm_headers_add(&h, "Content-Type", 12, ct, strlen(ct));
    const char *ce = codings[sel % 8];
    if (ce)
        mitm_headers_add(&h, "Content-Encoding", 16, ce, strlen(ce));
    struct mitm_buf content;
    mitm_buf_init(&content, 0);
    mitm_buf_append(&content, body, len);
    struct mitm_cv_result r = {0};
    mitm_cv_render_message("auto", &h, &content, false, req, max_lines, &r);
    check_result(&r, max_lines);
    mitm_cv_result_free(&r);
    memset(&r, 0, sizeof(r));
    mitm_cv_render_message("auto", &h, &content, true, req, max_lines, &r);
    check_result(&r, max_lines);
    CHECK(max_lines == 0 || r.nlines == 1);
    mitm_cv_result_free(&r);
    mitm_buf_free(&content);
    mitm_headers_free(&h);
}

static void parse_qsl(const uint8_t *body, size_t len)
{
    struct mitm_kv *kv;
    size_t n = mitm_cv_parse_qsl((const char *)body, len, 64, &kv);
    CHECK(n <= 64 && (n == 0) == (kv == NULL));
    for (size_t i = 0; i < n; i++)
        CHECK(kv[i].klen <= len && kv[i].vlen <= len && kv[i].k[kv[i].klen] == 0 && kv[i].v[kv[i].vlen] == 0);
    mitm_kv_free(kv, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mitm_log_set_level(MITM_LOG_ERROR);
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1 < MAX_BODY ? size - 1 : MAX_BODY;
    const char *ct = types[sel & 31];
    size_t max_lines = caps[sel >> 6];
    struct mitm_http_request *req = NULL;
    if (sel & 32) {
        req = mitm_http_request_new();
        static const char path[] = "/search?q=caf%C3%A9&empty=&a+b=c%2&&x#frag";
        mitm_str_set(&req->path, path, sizeof(path) - 1);
    }
    struct mitm_cv_meta meta = {ct, ct ? strlen(ct) : 0, req};

    size_t n;
    const char *const *names = mitm_cv_names(&n);
    CHECK(n > 1 && strcmp(names[0], "auto") == 0);
    for (size_t i = 0; i < n; i++)
        render_one(names[i], body, len, &meta, max_lines);
    /* aliases, an unknown name and none at all (auto) */
    static const char *const extra[] = {"hex", "viewcss", "JSON", "no such view", NULL};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        render_one(extra[i], body, len, &meta, max_lines);
    /* no meta at all: auto selection from the bytes alone */
    struct mitm_cv_result r = {0};
    mitm_cv_render(NULL, body, len, NULL, max_lines, &r);
    check_result(&r, max_lines);
    mitm_cv_result_free(&r);

    render_message(body, len, ct, (uint8_t)(len ? body[len - 1] : 0), req, max_lines);
    parse_qsl(body, len);
    (void)mitm_cv_is_mostly_bin(body, len);
    if (req)
        mitm_http_request_free(req);
    return 0;
}
