/* The routes of mitmweb's API (mitmproxy/tools/web/app.py's handlers), on the master's store,
 * view and command registry; plus the paged /flows of docs/internals/web.md. */
#include "ui/web/web-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/command.h"
#include "core/modespec.h"
#include "core/options.h"
#include "filter/filter.h"
#include "flow/contentview.h"
#include "flow/encoding.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/commands.h"

#define FLOW_ID_CHARS "0123456789abcdef-"

static bool is(const struct web_request *r, const char *method)
{
    return strcmp(r->method, method) == 0;
}

static bool is_get(const struct web_request *r)
{
    return is(r, "GET") || is(r, "HEAD");
}

/* "/x" or "/x.json" */
static bool path_json(const char *path, const char *base)
{
    size_t n = strlen(base);
    return strncmp(path, base, n) == 0 && (path[n] == 0 || strcmp(path + n, ".json") == 0);
}

/* ---- the login page and the static files ---- */

static const char LOGIN_PAGE[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mitmc web: login</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>body{font-family:sans-serif;max-width:28em;margin:4em auto;padding:0 1em}"
    "input{font-size:1em;padding:.3em;width:100%%;box-sizing:border-box;margin:.5em 0}"
    ".err{color:#b00}</style></head><body>\n<h1>mitmc web</h1>\n%s"
    "<form method=\"post\" action=\"/\"><label>Token or password<input type=\"password\" name=\"token\" "
    "autofocus></label><input type=\"submit\" value=\"Log in\"></form>\n"
    "<p>The token is printed in the URL mitmc shows at start (<code>?token=...</code>), unless "
    "<code>web_password</code> is set.</p></body></html>\n";

static void login_page(struct web_request *r)
{
    char page[2048];
    int n = snprintf(page, sizeof(page), LOGIN_PAGE,
                     r->bad_password ? "<p class=\"err\">Invalid token or password.</p>\n" : "");
    web_reply(r, 403, "text/html; charset=UTF-8", NULL, page, (size_t)n);
}

static const struct web_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < web_assets_n; i++)
        if (strcmp(web_assets[i].path, path) == 0)
            return &web_assets[i];
    return NULL;
}

static bool header_has(const struct mitm_headers *h, const char *name, const char *token)
{
    size_t len;
    const char *v = mitm_headers_get(h, name, &len);
    if (!v)
        return false;
    size_t tl = strlen(token);
    for (size_t i = 0; i + tl <= len; i++)
        if (strncasecmp(v + i, token, tl) == 0)
            return true;
    return false;
}

static void serve_asset(struct web_request *r, const struct web_asset *a)
{
    char extra[256];
    size_t len;
    const char *inm = mitm_headers_get(&r->req->headers, "If-None-Match", &len);
    if (inm && len == strlen(a->etag) && memcmp(inm, a->etag, len) == 0) {
        snprintf(extra, sizeof(extra), "ETag: %s\r\nCache-Control: no-cache\r\n", a->etag);
        web_reply(r, 304, NULL, extra, NULL, 0);
        return;
    }
    bool gz = a->gz && header_has(&r->req->headers, "Accept-Encoding", "gzip");
    snprintf(extra, sizeof(extra), "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s",
             a->etag, gz ? "Content-Encoding: gzip\r\n" : "");
    web_reply(r, 200, a->ctype, extra, gz ? a->gz : a->data, gz ? a->gz_len : a->len);
}

/* ---- flows ---- */

/* The flow of /flows/<id>...: its store index, or -1 after answering 404. */
static ssize_t flow_index(struct web *w, struct web_request *r, const char *id, size_t idlen)
{
    char buf[MITM_UUID_LEN + 1];
    if (idlen == 0 || idlen > MITM_UUID_LEN || strspn(id, FLOW_ID_CHARS) < idlen) {
        web_reply_error(r, 404, "Flow not found.");
        return -1;
    }
    memcpy(buf, id, idlen);
    buf[idlen] = 0;
    ssize_t i = mitm_store_find(w->m.store, buf);
    if (i < 0 || !mitm_store_summary(w->m.store, (size_t)i)) {
        web_reply_error(r, 404, "Flow not found.");
        return -1;
    }
    return i;
}

static struct mitm_flow *load(struct web *w, struct web_request *r, size_t i)
{
    char err[512];
    struct mitm_flow *f = mitm_store_get(w->m.store, i, err, sizeof(err));
    if (!f && r)
        web_reply_error(r, 500, "Cannot load the flow: %s", err);
    return f;
}

json_t *web_api_matching_ids(struct web *w, const struct mitm_filter *filt)
{
    json_t *ids = json_array();
    size_t n = mitm_store_view_count(w->m.view);
    for (size_t pos = 0; pos < n; pos++) {
        ssize_t i = mitm_store_view_at(w->m.view, pos);
        if (i >= 0 && mitm_store_match(w->m.store, (size_t)i, filt, NULL, 0) == 1)
            json_array_append_new(ids, json_string(mitm_store_summary(w->m.store, (size_t)i)->id));
    }
    return ids;
}

/* GET /flows: every flow of the view (mitmproxy's shape), or with ?limit= one page of it
 * (docs/internals/web.md): {"total", "offset", "flows"}, optionally filtered. */
static void get_flows(struct web *w, struct web_request *r)
{
    char *limit_s = web_query_arg(r->query, "limit");
    char *offset_s = web_query_arg(r->query, "offset");
    char *expr = web_query_arg(r->query, "filter");
    long limit = -1, offset = 0;
    struct mitm_filter *filt = NULL;
    char err[512];
    if ((limit_s && (mitm_cmd_parse_int(limit_s, &limit) < 0 || limit < 0)) ||
        (offset_s && (mitm_cmd_parse_int(offset_s, &offset) < 0 || offset < 0))) {
        web_reply_error(r, 400, "offset and limit must be integers >= 0");
        goto Exit;
    }
    if (expr && *expr && !(filt = mitm_filter_parse(expr, err, sizeof(err)))) {
        web_reply_error(r, 400, "Invalid filter: %s", err);
        goto Exit;
    }
    if (limit > WEB_PAGE_MAX)
        limit = WEB_PAGE_MAX;
    bool paged = limit_s != NULL;
    /* each flow is dumped on its own and appended: the tree of one flow lives at a time */
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_buf_append(&out, "[", 1);
    size_t n = mitm_store_view_count(w->m.view), total = 0, listed = 0;
    size_t from = paged ? (size_t)offset : 0, to = paged ? from + (size_t)limit : n;
    for (size_t pos = filt ? 0 : from; pos < n && (filt || pos < to); pos++) {
        ssize_t i = mitm_store_view_at(w->m.view, pos);
        /* a filter is decided on the summaries where it can be: only listed flows are read */
        bool match = i >= 0 && (!filt || mitm_store_match(w->m.store, (size_t)i, filt, NULL, 0) == 1);
        struct mitm_flow *f = NULL;
        if (match && (!filt || !paged || (total >= from && total < to)) && (f = load(w, NULL, (size_t)i))) {
            if (listed++)
                mitm_buf_append(&out, ",", 1);
            web_flow_json(f, mitm_store_has_backup(w->m.store, (size_t)i), &out);
        }
        if (match)
            total++;
        mitm_flow_unref(f);
    }
    mitm_buf_append(&out, "]", 1);
    if (!filt)
        total = n;
    if (paged) {
        char head[96];
        int hl = snprintf(head, sizeof(head), "{\"total\":%zu,\"offset\":%ld,\"flows\":", total, offset);
        struct mitm_buf page;
        mitm_buf_init(&page, 0);
        mitm_buf_append(&page, head, (size_t)hl);
        mitm_buf_append(&page, mitm_buf_data(&out), out.len);
        mitm_buf_append(&page, "}", 1);
        mitm_buf_free(&out);
        out = page;
    }
    size_t len;
    uint8_t *body = mitm_buf_steal(&out, &len);
    web_reply_owned(r, 200, "application/json; charset=UTF-8", NULL, body, len);
Exit:
    mitm_filter_free(filt);
    free(limit_s);
    free(offset_s);
    free(expr);
}

static void dump_flows(struct web *w, struct web_request *r)
{
    char *expr = web_query_arg(r->query, "filter");
    struct mitm_filter *filt = NULL;
    char err[512];
    if (expr && !(filt = mitm_filter_parse(expr, err, sizeof(err)))) {
        web_reply_error(r, 400, "Invalid filter argument / regex");
        free(expr);
        return;
    }
    free(expr);
    int version = mitm_flowfile_version_for(mitm_options.save_flow_format);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    size_t n = mitm_store_view_count(w->m.view);
    for (size_t pos = 0; pos < n; pos++) {
        ssize_t i = mitm_store_view_at(w->m.view, pos);
        bool match = i >= 0 && (!filt || mitm_store_match(w->m.store, (size_t)i, filt, NULL, 0) == 1);
        struct mitm_flow *f = match ? load(w, NULL, (size_t)i) : NULL;
        if (f && mitm_flowfile_encode_version(f, version, &out, err, sizeof(err)) < 0)
            mitm_log(MITM_LOG_WARN, NULL, "web: cannot write flow %s: %s", f->id, err);
        mitm_flow_unref(f);
    }
    mitm_filter_free(filt);
    size_t len;
    uint8_t *body = mitm_buf_steal(&out, &len);
    web_reply_owned(r, 200, "application/octet-stream", "Content-Disposition: attachment; filename=flows\r\n",
                    body, len);
}

/* mitmproxy's filecontents: the first file of a multipart/form-data body, else the body. */
static struct mitm_slice upload(const struct web_request *r)
{
    struct mitm_slice all = mitm_slice(r->body, r->body_len);
    size_t len;
    const char *ct = mitm_headers_get(&r->req->headers, "Content-Type", &len);
    if (!ct || len < 19 || strncasecmp(ct, "multipart/form-data", 19) != 0)
        return all;
    const char *b = NULL;
    for (size_t i = 0; i + 9 <= len; i++)
        if (strncasecmp(ct + i, "boundary=", 9) == 0) {
            b = ct + i + 9;
            break;
        }
    if (!b)
        return all;
    size_t blen = (size_t)(ct + len - b);
    if (blen && *b == '"') {
        b++;
        const char *q = memchr(b, '"', (size_t)(ct + len - b));
        blen = q ? (size_t)(q - b) : 0;
    } else {
        blen = strcspn(b, "; \t");
        if (blen > (size_t)(ct + len - b))
            blen = (size_t)(ct + len - b);
    }
    char delim[256];
    if (!blen || blen > 200)
        return all;
    int dl = snprintf(delim, sizeof(delim), "--%.*s", (int)blen, b);
    const uint8_t *p = memmem(r->body, r->body_len, delim, (size_t)dl);
    if (!p)
        return all;
    const uint8_t *end = r->body + r->body_len;
    const uint8_t *hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (!hdr_end)
        return all;
    const uint8_t *data = hdr_end + 4;
    int cl = snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)blen, b);
    const uint8_t *stop = memmem(data, (size_t)(end - data), delim, (size_t)cl);
    return mitm_slice(data, stop ? (size_t)(stop - data) : (size_t)(end - data));
}

static void clear_all(struct web *w)
{
    char err[256];
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    if (mitm_cmd_call(w->m.commands, "view.clear", NULL, 0, &out, err, sizeof(err)) < 0)
        mitm_log(MITM_LOG_WARN, NULL, "web: view.clear: %s", err);
    mitm_buf_free(&out);
}

/* POST /flows/dump: the whole file is checked before anything changes, then the view is
 * replaced with its flows read as -r reads them (through the addons). */
static void load_flows(struct web *w, struct web_request *r)
{
    struct mitm_slice data = upload(r);
    struct mitm_flowfile_reader *rd = mitm_flowfile_open_mem(data.base, data.len);
    char err[512] = "";
    size_t n = 0;
    int rc;
    struct mitm_flow *f;
    while ((rc = mitm_flowfile_next(rd, &f, err, sizeof(err))) > 0) {
        mitm_flow_unref(f);
        n++;
    }
    mitm_flowfile_close(rd);
    if (rc < 0) {
        web_reply_error(r, 400, "Not a flow file: %s", err);
        return;
    }
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/mitmc-web-upload-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        web_reply_error(r, 500, "Cannot keep the upload: %s", strerror(errno));
        return;
    }
    size_t off = 0;
    while (off < data.len) {
        ssize_t k = write(fd, data.base + off, data.len - off);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    close(fd);
    if (off < data.len) {
        unlink(path);
        web_reply_error(r, 500, "Cannot keep the upload: %s", strerror(errno));
        return;
    }
    clear_all(w);
    long got = mitm_master_read_file(&w->m, path);
    unlink(path);
    if (got < 0)
        web_reply_error(r, 400, "Cannot read the flow file (see the event log)");
    else
        web_reply(r, 200, NULL, NULL, NULL, 0);
}

static void resume_flow(struct web *w, struct mitm_flow *f)
{
    if (!f->intercepted)
        return;
    f->intercepted = false; /* the stored flow carries what the user edited while it waited */
    mitm_ui_update(&w->m, f);
    mitm_master_resume(&w->m, f->id, mitm_flowfile_snapshot(f, false));
}

static void kill_flow(struct web *w, struct mitm_flow *f)
{
    if (f->error || !mitm_master_kill(&w->m, f->id)) /* mitmproxy's killable */
        return;
    f->intercepted = false;
    mitm_ui_update(&w->m, f);
}

/* POST /flows/resume and /flows/kill: every flow of the view. */
static void all_flows(struct web *w, struct web_request *r, bool resume)
{
    size_t n = mitm_store_count(w->m.store);
    for (size_t i = 0; i < n; i++) {
        const struct mitm_store_summary *s = mitm_store_summary(w->m.store, i);
        if (!s || (resume ? !s->intercepted : !mitm_master_is_live(&w->m, s->id)))
            continue;
        if (mitm_store_view_pos(w->m.view, i) < 0)
            continue;
        struct mitm_flow *f = load(w, NULL, i);
        if (f) {
            if (resume)
                resume_flow(w, f);
            else
                kill_flow(w, f);
        }
        mitm_flow_unref(f);
    }
    web_reply(r, 200, NULL, NULL, NULL, 0);
}

/* ---- PUT /flows/<id>: mitmproxy's FlowHandler.put, checked before it changes anything ---- */

static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s <= 32 || *s >= 127 || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

static bool line_ok(const char *s, size_t n, bool allow_space)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 32 || s[i] == 127 || (!allow_space && s[i] == ' '))
            if (!(allow_space && s[i] == '\t'))
                return false;
    return true;
}

static int set_headers(struct mitm_headers *h, const json_t *v, const char *what, char *err, size_t errlen)
{
    if (!json_is_array(v)) {
        snprintf(err, errlen, "%s must be a list of [name, value] pairs", what);
        return -1;
    }
    struct mitm_headers nh;
    mitm_headers_init(&nh);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        const char *name, *value;
        size_t nl, vl;
        if (json_unpack(e, "[s%s%]", &name, &nl, &value, &vl) < 0 || !token_ok(name) || strlen(name) != nl ||
            !line_ok(value, vl, true)) {
            snprintf(err, errlen, "Invalid %s entry %zu", what, i);
            mitm_headers_free(&nh);
            return -1;
        }
        mitm_headers_add(&nh, name, nl, value, vl);
    }
    mitm_headers_free(h);
    *h = nh;
    return 0;
}

/* mitmproxy's Message.content setter: encoded per Content-Encoding, Content-Length updated
 * unless Transfer-Encoding frames the body. */
static int set_content(struct mitm_headers *h, struct mitm_buf *content, bool *missing, const void *p,
                       size_t n, char *err, size_t errlen)
{
    size_t cel;
    const char *ce = mitm_headers_get(h, "Content-Encoding", &cel);
    struct mitm_buf enc;
    mitm_buf_init(&enc, 0);
    if (ce && !(cel == 8 && strncasecmp(ce, "identity", 8) == 0)) {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)cel, ce);
        if (mitm_encode(name, p, n, WEB_BODY_MAX, &enc, err, errlen) < 0)
            return -1;
    } else {
        mitm_buf_append(&enc, p, n);
    }
    mitm_buf_free(content);
    *content = enc;
    *missing = false;
    if (!mitm_headers_get(h, "Transfer-Encoding", &cel)) {
        char len[32];
        int l = snprintf(len, sizeof(len), "%zu", content->len);
        mitm_headers_set(h, "content-length", len, (size_t)l);
    }
    return 0;
}

static int str_field(char **dst, const json_t *v, bool (*ok)(const char *), const char *what, char *err,
                     size_t errlen)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s || (ok && !ok(s))) {
        snprintf(err, errlen, "Invalid %s", what);
        return -1;
    }
    free(*dst);
    *dst = mitm_strdup(s);
    return 0;
}

static bool host_ok(const char *s)
{
    return *s && line_ok(s, strlen(s), false) && !strpbrk(s, "/?#@");
}

static bool path_ok(const char *s)
{
    return line_ok(s, strlen(s), false);
}

static bool version_ok(const char *s)
{
    return strncmp(s, "HTTP/", 5) == 0 && token_ok(s + 5);
}

static bool reason_ok(const char *s)
{
    return line_ok(s, strlen(s), true);
}

/* The fields requests and responses share (headers, trailers, content). Returns 1 if k was
 * one of them (and applied), 0 if not, -1 with err. */
static int edit_message(const char *part, const char *k, const json_t *v, struct mitm_headers *h,
                        struct mitm_headers **trailers, struct mitm_buf *content, bool *missing, char *err,
                        size_t errlen)
{
    char what[64];
    snprintf(what, sizeof(what), "%s.%s", part, k);
    if (strcmp(k, "headers") == 0)
        return set_headers(h, v, what, err, errlen) < 0 ? -1 : 1;
    if (strcmp(k, "trailers") == 0) {
        if (!*trailers) {
            *trailers = mitm_calloc(1, sizeof(**trailers));
            mitm_headers_init(*trailers);
        }
        return set_headers(*trailers, v, what, err, errlen) < 0 ? -1 : 1;
    }
    if (strcmp(k, "content") == 0) {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "%s must be a string", what);
            return -1;
        }
        return set_content(h, content, missing, json_string_value(v), json_string_length(v), err, errlen) < 0
                   ? -1
                   : 1;
    }
    return 0;
}

static void unknown_field(const char *what, const char *k, const json_t *v, char *err, size_t errlen)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(err, errlen, "Unknown update %s%s%s: %s", what, *what ? "." : "", k, t ? t : "");
    free(t);
}

/* An integer field given as a number or a decimal string, in lo..hi; -1 otherwise. */
static long int_field(const json_t *v, long lo, long hi)
{
    long x = -1;
    if (json_is_integer(v))
        x = (long)json_integer_value(v);
    else if (!json_is_string(v) || mitm_cmd_parse_int(json_string_value(v), &x) < 0)
        x = -1;
    return x >= lo && x <= hi ? x : -1;
}

struct str_field {
    const char *name;
    char **dst;
    bool (*ok)(const char *);
};

/* The edits of one message (mitmproxy's FlowHandler.put): its text fields, one integer field
 * (port or code, in lo..hi, into *num), headers, trailers, content. Returns 0 or -1 with err. */
static int edit_part(const char *part, const json_t *o, const struct str_field *sf, size_t nsf,
                     const char *numname, long lo, long hi, long *num, struct mitm_headers *h,
                     struct mitm_headers **trailers, struct mitm_buf *content, bool *missing, char *err,
                     size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        int rc = edit_message(part, k, v, h, trailers, content, missing, err, errlen);
        size_t i = 0;
        while (!rc && i < nsf && strcmp(k, sf[i].name) != 0)
            i++;
        if (rc) {
            /* done */
        } else if (i < nsf) {
            rc = str_field(sf[i].dst, v, sf[i].ok, sf[i].name, err, errlen);
        } else if (strcmp(k, numname) == 0) {
            if ((*num = int_field(v, lo, hi)) < 0) {
                snprintf(err, errlen, "Invalid %s.%s", part, numname);
                rc = -1;
            }
        } else {
            unknown_field(part, k, v, err, errlen);
            rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int edit_request(struct mitm_http_request *q, const json_t *o, char *err, size_t errlen)
{
    const struct str_field sf[] = {{"method", &q->method, token_ok},
                                   {"scheme", &q->scheme, token_ok},
                                   {"host", &q->host, host_ok},
                                   {"path", &q->path, path_ok},
                                   {"http_version", &q->http_version, version_ok}};
    long port = q->port;
    if (edit_part("request", o, sf, sizeof(sf) / sizeof(sf[0]), "port", 1, 65535, &port, &q->headers,
                  &q->trailers, &q->content, &q->content_missing, err, errlen) < 0)
        return -1;
    q->port = (uint16_t)port;
    return 0;
}

static int edit_response(struct mitm_http_response *s, const json_t *o, char *err, size_t errlen)
{
    const struct str_field sf[] = {{"reason", &s->reason, reason_ok},
                                   {"http_version", &s->http_version, version_ok}};
    long code = s->status_code;
    if (edit_part("response", o, sf, sizeof(sf) / sizeof(sf[0]), "code", 100, 999, &code, &s->headers,
                  &s->trailers, &s->content, &s->content_missing, err, errlen) < 0)
        return -1;
    s->status_code = (int)code;
    return 0;
}

static json_t *body_json(struct web_request *r)
{
    size_t len;
    const char *ct = mitm_headers_get(&r->req->headers, "Content-Type", &len);
    if (!ct || len < 16 || strncasecmp(ct, "application/json", 16) != 0) {
        web_reply_error(r, 400, "Invalid Content-Type, expected application/json.");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_DECODE_ANY, &jerr);
    if (!j)
        web_reply_error(r, 400, "Malformed JSON: %s", jerr.text);
    return j;
}

static void put_flow(struct web *w, struct web_request *r, size_t i)
{
    json_t *j = body_json(r);
    if (!j)
        return;
    struct mitm_flow *f = NULL;
    char err[512] = "";
    if (!json_is_object(j)) {
        web_reply_error(r, 400, "Expected a JSON object");
        goto Exit;
    }
    if (!(f = load(w, r, i)))
        goto Exit;
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "request") == 0 && f->type == MITM_FLOW_HTTP && json_is_object(v))
            rc = edit_request(f->request, v, err, sizeof(err));
        else if (strcmp(k, "response") == 0 && f->response && json_is_object(v))
            rc = edit_response(f->response, v, err, sizeof(err));
        else if (strcmp(k, "marked") == 0 && (json_is_string(v) || json_is_boolean(v))) {
            free(f->marked);
            f->marked = mitm_strdup(json_is_string(v) ? json_string_value(v)
                                    : json_is_true(v) ? ":default:"
                                                      : "");
        } else if (strcmp(k, "comment") == 0 && json_is_string(v)) {
            free(f->comment);
            f->comment = mitm_strdup(json_string_value(v));
        } else {
            unknown_field("", k, v, err, sizeof(err));
            rc = -1;
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        web_reply_error(r, 400, "%s", err); /* nothing was written back: the stored flow is unchanged */
        goto Exit;
    }
    mitm_store_backup(w->m.store, i);
    if (mitm_master_update_flow(&w->m, i, f) < 0)
        web_reply_error(r, 400, "The edited flow cannot be stored (see the event log)");
    else
        web_reply(r, 200, NULL, NULL, NULL, 0);
Exit:
    mitm_flow_unref(f);
    json_decref(j);
}

/* ---- bodies ---- */

static void content_data(struct web *w, struct web_request *r, size_t i, const char *msg)
{
    struct mitm_flow *f = load(w, r, i);
    if (!f)
        return;
    bool req = strcmp(msg, "request") == 0;
    if (strcmp(msg, "messages") == 0 || f->type != MITM_FLOW_HTTP || (!req && !f->response)) {
        web_reply_error(r, 400, "This flow has no %s.", msg);
        goto Exit;
    }
    struct mitm_headers *h = req ? &f->request->headers : &f->response->headers;
    struct mitm_buf *content = req ? &f->request->content : &f->response->content;
    bool *missing = req ? &f->request->content_missing : &f->response->content_missing;
    if (!is_get(r)) {
        struct mitm_slice data = upload(r);
        char err[256];
        if (set_content(h, content, missing, data.base, data.len, err, sizeof(err)) < 0) {
            web_reply_error(r, 400, "%s", err);
            goto Exit;
        }
        mitm_store_backup(w->m.store, i);
        if (mitm_master_update_flow(&w->m, i, f) < 0)
            web_reply_error(r, 400, "The edited flow cannot be stored (see the event log)");
        else
            web_reply(r, 200, NULL, NULL, NULL, 0);
        goto Exit;
    }
    /* the file name: Content-Disposition's, else the path's last segment; safe characters only */
    char name[256] = "";
    size_t cdl;
    const char *cd = mitm_headers_get(h, "Content-Disposition", &cdl);
    const char *src = NULL;
    size_t srcl = 0;
    if (cd) {
        const char *fn = memmem(cd, cdl, "filename=", 9);
        if (fn) {
            src = fn + 9;
            srcl = strspn(src, "-_\" .()abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
            if (srcl > (size_t)(cd + cdl - src))
                srcl = (size_t)(cd + cdl - src);
        }
    }
    if (!srcl) {
        const char *path = f->request->path ? f->request->path : "";
        size_t pl = strcspn(path, "?");
        src = path;
        for (size_t k = 0; k < pl; k++)
            if (path[k] == '/')
                src = path + k + 1;
        srcl = (size_t)(path + pl - src);
    }
    size_t o = 0;
    for (size_t k = 0; k < srcl && o + 1 < sizeof(name); k++) {
        char ch = src[k];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-_\" .()", ch))
            name[o++] = ch;
    }
    name[o] = 0;
    char extra[400];
    snprintf(extra, sizeof(extra), "Content-Disposition: attachment; filename=%s\r\n", name);
    struct mitm_buf storage;
    mitm_buf_init(&storage, 0);
    struct mitm_slice body = {0};
    mitm_encoding_message_content(h, content, *missing, WEB_BODY_MAX, &storage, &body);
    web_reply(r, 200, "application/text", extra, body.base, body.len);
    mitm_buf_free(&storage);
Exit:
    mitm_flow_unref(f);
}

static const char *highlight(const char *view)
{
    if (strcmp(view, "json") == 0)
        return "yaml";
    if (strcmp(view, "xml/html") == 0 || strcmp(view, "xml") == 0)
        return "xml";
    if (strcmp(view, "css") == 0 || strcmp(view, "javascript") == 0)
        return view;
    return "none";
}

static json_t *rendered(struct mitm_cv_result *res)
{
    struct mitm_buf text;
    mitm_buf_init(&text, 0);
    for (size_t l = 0; l < res->nlines; l++) {
        if (l)
            mitm_buf_append(&text, "\n", 1);
        mitm_cv_line_text(res, l, &text);
    }
    json_t *t = json_stringn((const char *)mitm_buf_data(&text), text.len);
    mitm_buf_free(&text);
    json_t *j = json_pack("{s:o,s:s,s:s,s:s}", "text", t ? t : json_string(""), "view_name", res->view,
                          "syntax_highlight", highlight(res->view), "description", res->description);
    mitm_cv_result_free(res);
    return j;
}

static void content_view(struct web *w, struct web_request *r, size_t i, const char *msg, const char *view)
{
    struct mitm_flow *f = load(w, r, i);
    if (!f)
        return;
    char *lines_s = web_query_arg(r->query, "lines");
    long lines = 0;
    if (lines_s && (mitm_cmd_parse_int(lines_s, &lines) < 0 || lines < 0))
        lines = 0;
    free(lines_s);
    size_t max = lines > 0 ? (size_t)lines : SIZE_MAX;
    if (strcmp(msg, "messages") == 0) {
        json_t *a = json_array();
        size_t nm = f->websocket ? f->websocket->n_messages : f->type == MITM_FLOW_TCP ? f->n_messages : 0;
        if (!f->websocket && f->type != MITM_FLOW_TCP) {
            json_decref(a);
            web_reply_error(r, 400, "This flow has no messages.");
            goto Exit;
        }
        for (size_t k = 0; k < nm && max > 0; k++) {
            const struct mitm_websocket_message *wm = f->websocket ? &f->websocket->messages[k] : NULL;
            const struct mitm_tcp_message *tm = f->websocket ? NULL : &f->messages[k];
            struct mitm_cv_result res = {0};
            mitm_cv_render(view, wm ? wm->content : tm->content, wm ? wm->len : tm->len, NULL, max, &res);
            size_t used = res.nlines;
            json_t *j = rendered(&res);
            json_object_set_new(j, "from_client", json_boolean(wm ? wm->from_client : tm->from_client));
            json_object_set_new(j, "timestamp", json_real(wm ? wm->timestamp : tm->timestamp));
            json_array_append_new(a, j);
            if (max != SIZE_MAX)
                max = used >= max ? 0 : max - used;
        }
        web_reply_json(r, 200, a);
        goto Exit;
    }
    bool req = strcmp(msg, "request") == 0;
    if (f->type != MITM_FLOW_HTTP || (!req && !f->response)) {
        web_reply_error(r, 400, "This flow has no %s.", msg);
        goto Exit;
    }
    struct mitm_cv_result res = {0};
    if (req)
        mitm_cv_render_message(view, &f->request->headers, &f->request->content, f->request->content_missing,
                               f->request, max, &res);
    else
        mitm_cv_render_message(view, &f->response->headers, &f->response->content,
                               f->response->content_missing, NULL, max, &res);
    web_reply_json(r, 200, rendered(&res));
Exit:
    mitm_flow_unref(f);
}

/* ---- /flows/<id>... ---- */

static void flow_route(struct web *w, struct web_request *r, const char *rest)
{
    size_t idlen = strcspn(rest, "/");
    ssize_t si = flow_index(w, r, rest, idlen);
    if (si < 0)
        return;
    size_t i = (size_t)si;
    const char *sub = rest + idlen;
    if (!*sub) {
        if (is(r, "PUT")) {
            put_flow(w, r, i);
        } else if (is(r, "DELETE")) {
            struct mitm_flow *f = load(w, r, i);
            if (!f)
                return;
            if (mitm_master_is_live(&w->m, f->id))
                mitm_master_kill(&w->m, f->id);
            mitm_store_remove(w->m.store, i);
            mitm_ui_settings_prune(&w->m);
            web_broadcast(w, json_pack("{s:s,s:s}", "type", "flows/remove", "payload", f->id));
            mitm_flow_unref(f);
            web_reply(r, 200, NULL, NULL, NULL, 0);
        } else {
            web_reply_error(r, 405, "Method not allowed");
        }
        return;
    }
    sub++;
    if (strncmp(sub, "request/", 8) == 0 || strncmp(sub, "response/", 9) == 0 ||
        strncmp(sub, "messages/", 9) == 0) {
        char msg[16];
        size_t ml = strcspn(sub, "/");
        snprintf(msg, sizeof(msg), "%.*s", (int)ml, sub);
        const char *what = sub + ml + 1;
        if (strcmp(what, "content.data") == 0) {
            if (is_get(r) || is(r, "POST"))
                content_data(w, r, i, msg);
            else
                web_reply_error(r, 405, "Method not allowed");
            return;
        }
        if (strncmp(what, "content/", 8) == 0 && is_get(r)) {
            char view[64];
            const char *v = what + 8;
            size_t vl = strlen(v);
            if (vl > 5 && strcmp(v + vl - 5, ".json") == 0)
                vl -= 5;
            if (vl == 0 || vl >= sizeof(view)) {
                web_reply_error(r, 404, "Unknown content view");
                return;
            }
            snprintf(view, sizeof(view), "%.*s", (int)vl, v);
            content_view(w, r, i, msg, view);
            return;
        }
        web_reply_error(r, 404, "Not found");
        return;
    }
    if (!is(r, "POST")) {
        web_reply_error(r, 405, "Method not allowed");
        return;
    }
    struct mitm_flow *f = load(w, r, i);
    if (!f)
        return;
    char err[512];
    if (strcmp(sub, "resume") == 0) {
        resume_flow(w, f);
        web_reply(r, 200, NULL, NULL, NULL, 0);
    } else if (strcmp(sub, "kill") == 0) {
        kill_flow(w, f);
        web_reply(r, 200, NULL, NULL, NULL, 0);
    } else if (strcmp(sub, "duplicate") == 0) {
        mitm_uuid4(f->id);
        f->intercepted = false;
        ssize_t k = mitm_master_add_flow(&w->m, f);
        if (k < 0)
            web_reply_error(r, 500, "Cannot store the duplicate (see the event log)");
        else
            web_reply(r, 200, "text/plain; charset=UTF-8", NULL, f->id, strlen(f->id));
    } else if (strcmp(sub, "replay") == 0) {
        struct mitm_flow *one[1] = {f};
        if (mitm_master_replay(&w->m, one, 1, err, sizeof(err)) < 0)
            web_reply_error(r, 400, "%s", err);
        else
            web_reply(r, 200, NULL, NULL, NULL, 0);
    } else if (strcmp(sub, "revert") == 0) {
        int rc = mitm_store_revert(w->m.store, i, err, sizeof(err));
        if (rc < 0) {
            web_reply_error(r, 500, "%s", err);
        } else {
            if (rc > 0)
                mitm_ui_changed(&w->m, (ssize_t)i);
            web_reply(r, 200, NULL, NULL, NULL, 0);
        }
    } else {
        web_reply_error(r, 404, "Not found");
    }
    mitm_flow_unref(f);
}

/* ---- options, commands, events, state ---- */

static void put_options(struct web *w, struct web_request *r)
{
    json_t *j = body_json(r);
    if (!j)
        return;
    char err[512] = "";
    struct mitm_options tmp;
    mitm_options_copy(&tmp, &mitm_options);
    const char *k;
    json_t *v;
    if (!json_is_object(j))
        snprintf(err, sizeof(err), "Expected a JSON object");
    /* everything is checked on a copy first: a bad value changes nothing */
    json_object_foreach(j, k, v)
    {
        if (*err)
            break;
        const struct mitm_opt_info *in = mitm_options_info(k);
        const struct mitm_opt_info *sin = in ? NULL : mitm_master_option(&w->m, k, NULL, NULL);
        char *text = NULL;
        if (sin) { /* a script's option: its value checked in a scratch field of its type */
            if (web_option_value_text(sin, v, &text, err, sizeof(err)) == 0 && text) {
                union {
                    bool b;
                    long l;
                    char *s;
                    struct mitm_strvec v;
                } scratch = {0};
                if (sin->type == MITM_OPT_TYPE_STRLIST)
                    mitm_options_set_list(sin, &scratch, text, err, sizeof(err));
                else
                    mitm_options_set_field(sin, &scratch, text, err, sizeof(err));
                mitm_options_free_field(sin, &scratch);
            }
        } else if (!in) {
            snprintf(err, sizeof(err), "Unknown option: %s", k);
        } else if (web_option_value_text(in, v, &text, err, sizeof(err)) == 0 && text) {
            if (in->type == MITM_OPT_TYPE_STRLIST)
                mitm_options_set(&tmp, k, NULL, err, sizeof(err));
            for (char *p = text; in->type == MITM_OPT_TYPE_STRLIST && *p && !*err;) {
                char *nl = strchr(p, '\n');
                if (nl)
                    *nl = 0;
                mitm_options_set(&tmp, k, p, err, sizeof(err));
                p = nl ? nl + 1 : p + strlen(p);
            }
            if (in->type != MITM_OPT_TYPE_STRLIST)
                mitm_options_set(&tmp, k, text, err, sizeof(err));
            if (!*err && (strcmp(k, "intercept") == 0 || strcmp(k, "view_filter") == 0) && *text) {
                struct mitm_filter *flt = mitm_filter_parse(text, err, sizeof(err));
                mitm_filter_free(flt);
            }
        }
        free(text);
    }
    mitm_options_free(&tmp);
    if (*err) {
        web_reply_error(r, 400, "%s", err);
        json_decref(j);
        return;
    }
    json_object_foreach(j, k, v)
    {
        char *text = NULL;
        web_option_value_text(mitm_master_option(&w->m, k, NULL, NULL), v, &text, err, sizeof(err));
        if (mitm_master_set_option(&w->m, k, text, err, sizeof(err)) < 0) {
            free(text);
            web_reply_error(r, 400, "%s", err);
            json_decref(j);
            return;
        }
        free(text);
    }
    json_decref(j);
    web_reply(r, 200, NULL, NULL, NULL, 0);
}

static void run_command(struct web *w, struct web_request *r, const char *cmd)
{
    json_t *args = NULL;
    json_error_t jerr;
    json_t *j = r->body_len ? json_loadb((const char *)r->body, r->body_len, 0, &jerr) : NULL;
    if (j && json_is_object(j))
        args = json_object_get(j, "arguments");
    size_t n = args && json_is_array(args) ? json_array_size(args) : 0;
    char **argv = mitm_calloc(n + 1, sizeof(*argv));
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(args, i);
        argv[i] = json_is_string(a) ? mitm_strdup(json_string_value(a)) : json_dumps(a, JSON_ENCODE_ANY);
        if (!argv[i])
            argv[i] = mitm_strdup("");
    }
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[1024];
    int rc = mitm_cmd_call(w->m.commands, cmd, (const char *const *)argv, n, &out, err, sizeof(err));
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    json_decref(j);
    if (rc < 0)
        web_reply_json(r, 200, json_pack("{s:s}", "error", err));
    else
        web_reply_json(
            r, 200,
            json_pack("{s:o}", "value",
                      out.len ? json_stringn((const char *)mitm_buf_data(&out), out.len) : json_null()));
    mitm_buf_free(&out);
}

static json_t *events_json(struct web *w)
{
    json_t *a = json_array();
    for (size_t k = 0; k < w->ev_n; k++) {
        const struct web_event *e = &w->events[(w->ev_head + k) % WEB_EVENTS_MAX];
        json_array_append_new(a, json_pack("{s:I,s:o,s:s}", "id", (json_int_t)e->id, "message",
                                           json_string(e->msg), "level", e->level));
    }
    return a;
}

static json_t *state_json(struct web *w)
{
    size_t n;
    const char *const *names = mitm_cv_names(&n);
    json_t *views = json_array();
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], "query") != 0)
            json_array_append_new(views, json_string(names[i]));
    json_t *servers = json_object();
    for (size_t i = 0; i < w->m.n_modes; i++) {
        const struct mitm_mode_spec *s = &w->m.modes[i];
        char type[32];
        snprintf(type, sizeof(type), "%.*s", (int)strcspn(s->full, ":@"), s->full);
        const char *host = mitm_mode_spec_listen_host(s, mitm_options.listen_host);
        int port = mitm_mode_spec_listen_port(s, mitm_options.listen_port);
        if (w->m.proxy && mitm_proxy_mode_port(w->m.proxy, i) > 0)
            port = mitm_proxy_mode_port(w->m.proxy, i); /* the bound one (-p 0) */
        json_object_set_new(servers, s->full,
                            json_pack("{s:s,s:s,s:s,s:b,s:n,s:[[s,i]]}", "type", type, "description",
                                      s->description ? s->description : "", "full_spec", s->full,
                                      "is_running", w->m.proxy != NULL, "last_exception", "listen_addrs",
                                      host ? host : "", port));
    }
    return json_pack("{s:s,s:o,s:o,s:s,s:s}", "version", MITM_VERSION, "contentViews", views, "servers",
                     servers, "platform", "linux", "localModeUnavailable",
                     "mitmc has no local redirect mode");
}

static json_t *filter_help_json(void)
{
    size_t n;
    const struct mitm_filter_help *h = mitm_filter_help(&n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[s,s]", h[i].syntax, h[i].help));
    return json_pack("{s:o}", "commands", a);
}

/* ---- the router ---- */

/* mitmproxy's _require_auth: the cookie, else a Bearer header, else ?token= (or the login
 * form's token field). Returns whether r may go on. */
static bool authenticate(struct web *w, struct web_request *r)
{
    if (web_auth_cookie_valid(w, &r->req->headers))
        return true;
    char *given = NULL;
    size_t len;
    const char *auth = mitm_headers_get(&r->req->headers, "Authorization", &len);
    if (auth && len > 7 && strncmp(auth, "Bearer ", 7) == 0) {
        given = mitm_alloc(len - 6);
        memcpy(given, auth + 7, len - 7);
        given[len - 7] = 0;
    }
    if (!given)
        given = web_query_arg(r->query, "token");
    if (!given && strcmp(r->path, "/") == 0 && is(r, "POST")) {
        char *form = mitm_alloc(r->body_len + 1);
        memcpy(form, r->body, r->body_len);
        form[r->body_len] = 0;
        given = web_query_arg(form, "token");
        free(form);
    }
    bool ok = given && web_auth_check(w, given, strlen(given));
    r->bad_password = given && *given && !ok;
    if (r->bad_password)
        mitm_log(MITM_LOG_WARN, r->conn ? NULL : NULL, "web: a request with a wrong token or password");
    free(given);
    r->set_cookie = ok;
    return ok;
}

bool web_api_head_authenticated(struct web *w, const struct mitm_http_request *req)
{
    if (web_auth_cookie_valid(w, &req->headers))
        return true;
    size_t len;
    const char *auth = mitm_headers_get(&req->headers, "Authorization", &len);
    if (auth && len > 7 && strncmp(auth, "Bearer ", 7) == 0 && web_auth_check(w, auth + 7, len - 7))
        return true;
    const char *q = req->path ? strchr(req->path, '?') : NULL;
    char *given = q ? web_query_arg(q + 1, "token") : NULL;
    bool ok = given && web_auth_check(w, given, strlen(given));
    free(given);
    return ok;
}

void web_api_handle(struct web *w, struct web_request *r)
{
    const char *p = r->path;
    if (!web_host_allowed(w, &r->req->headers)) {
        size_t len = 0;
        const char *h = mitm_headers_get(&r->req->headers, "Host", &len);
        mitm_log(MITM_LOG_WARN, NULL, "web: refused a request for Host %.*s (DNS rebinding?)", (int)len,
                 h ? h : "");
        web_reply_error(r, 403, "Invalid Host header.");
        return;
    }
    bool safe = is_get(r) || is(r, "OPTIONS");
    if ((!safe || strcmp(p, "/updates") == 0) && !web_same_origin(w, &r->req->headers)) {
        mitm_log(MITM_LOG_WARN, NULL, "web: refused a cross-site %s %s", r->method, p);
        web_reply_error(r, 403, "Cross-site request refused.");
        return;
    }
    if (!authenticate(w, r)) {
        if (strcmp(p, "/") == 0)
            login_page(r);
        else
            web_reply_error(r, 403,
                            "Authentication required: the token of the startup URL, or web_password.");
        return;
    }
    if (strcmp(p, "/") == 0 && (is_get(r) || is(r, "POST"))) {
        const struct web_asset *a = find_asset("/");
        if (a)
            serve_asset(r, a);
        else
            web_reply_error(r, 404, "No index page built in.");
    } else if (strcmp(p, "/updates") == 0 && is(r, "GET")) {
        web_upgrade(r);
    } else if (path_json(p, "/filter-help") && is_get(r)) {
        web_reply_json(r, 200, filter_help_json());
    } else if (path_json(p, "/commands") && is_get(r)) {
        web_reply_json(r, 200, web_commands_json(w->m.commands));
    } else if (strncmp(p, "/commands/", 10) == 0 && is(r, "POST")) {
        run_command(w, r, p + 10);
    } else if (path_json(p, "/events") && is_get(r)) {
        web_reply_json(r, 200, events_json(w));
    } else if (path_json(p, "/flows") && is_get(r)) {
        get_flows(w, r);
    } else if (strcmp(p, "/flows/dump") == 0 && (is_get(r) || is(r, "POST"))) {
        if (is_get(r))
            dump_flows(w, r);
        else
            load_flows(w, r);
    } else if (strcmp(p, "/flows/resume") == 0 && is(r, "POST")) {
        all_flows(w, r, true);
    } else if (strcmp(p, "/flows/kill") == 0 && is(r, "POST")) {
        all_flows(w, r, false);
    } else if (strncmp(p, "/flows/", 7) == 0 && p[7]) {
        flow_route(w, r, p + 7);
    } else if (strcmp(p, "/clear") == 0 && is(r, "POST")) {
        clear_all(w);
        web_events_clear(w);
        web_reply(r, 200, NULL, NULL, NULL, 0);
    } else if (path_json(p, "/options") && (is_get(r) || is(r, "PUT"))) {
        if (is_get(r))
            web_reply_json(r, 200, web_options_json(&w->m, NULL));
        else
            put_options(w, r);
    } else if (strcmp(p, "/options/save") == 0 && is(r, "POST")) {
        web_reply(r, 200, NULL, NULL, NULL, 0); /* as mitmproxy 12: a no-op */
    } else if (path_json(p, "/state") && is_get(r)) {
        web_reply_json(r, 200, state_json(w));
    } else if (is_get(r) && find_asset(p)) {
        serve_asset(r, find_asset(p));
    } else {
        web_reply_error(r, 404, "Not found");
    }
}
