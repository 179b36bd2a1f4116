#include "ui/dump/dump.h"
#include "core/options.h"
#include "flow/contentview.h"
#include "proto/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void mitm_dump_style_init(struct mitm_dump_style *st, const struct mitm_options *o)
{
    memset(st, 0, sizeof(*st));
    st->flow_detail = (int)o->flow_detail;
    st->showhost = o->showhost;
    st->color = isatty(STDOUT_FILENO);
    st->lines_cutoff = o->content_view_lines_cutoff; /* mitmproxy 12 (8.1.1 cut at 70) */
    struct winsize ws;
    const char *env = getenv("COLUMNS");
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        st->columns = ws.ws_col;
    else if (env && atoi(env) > 0)
        st->columns = atoi(env);
    else
        st->columns = 80; /* shutil.get_terminal_size()'s fallback */
}

void mitm_pretty_size(uint64_t size, char out[16])
{
    if (size < 1024) {
        snprintf(out, 16, "%llub", (unsigned long long)size);
        return;
    }
    double s = (double)size;
    const char *suffix = "kmgt";
    for (int i = 0; i < 4; i++) {
        s /= 1024;
        if (s < 99.95) {
            snprintf(out, 16, "%.1f%c", s, suffix[i]);
            return;
        }
        if (s < 1024 || i == 3) {
            snprintf(out, 16, "%.0f%c", s, suffix[i]);
            return;
        }
    }
}

enum color { C_NONE = 0, C_RED = 31, C_GREEN = 32, C_YELLOW = 33, C_BLUE = 34, C_MAGENTA = 35 };

static void style_on(const struct mitm_dump_style *st, struct mitm_buf *b, enum color c, bool bold)
{
    if (!st->color)
        return;
    if (bold)
        mitm_buf_append(b, "\x1b[1m", 4);
    if (c)
        mitm_buf_printf(b, "\x1b[%dm", (int)c);
}

static void style_off(const struct mitm_dump_style *st, struct mitm_buf *b)
{
    if (st->color)
        mitm_buf_append(b, "\x1b[0m", 4);
}

/* strutils.bytes_to_escaped_str: printable ASCII as is, the rest as \xNN (\t \r \n named). */
static void escaped(struct mitm_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\')
            mitm_buf_append(b, "\\\\", 2);
        else if (ch == '\t')
            mitm_buf_append(b, "\\t", 2);
        else if (ch == '\r')
            mitm_buf_append(b, "\\r", 2);
        else if (ch == '\n')
            mitm_buf_append(b, "\\n", 2);
        else if (ch < 0x20 || ch == 0x7f)
            mitm_buf_printf(b, "\\x%02x", ch);
        else
            mitm_buf_append(b, &s[i], 1);
    }
}

static void client_addr(const struct mitm_flow *f, char *out, size_t cap)
{
    const struct mitm_conn_info *c = &f->client_conn;
    if (!c->peer_host)
        snprintf(out, cap, "<no address>");
    else if (strchr(c->peer_host, ':'))
        snprintf(out, cap, "[%s]:%u", c->peer_host, c->peer_port);
    else
        snprintf(out, cap, "%s:%u", c->peer_host, c->peer_port);
}

static bool is_h1(const char *v)
{
    return v && (strcmp(v, "HTTP/1.1") == 0 || strcmp(v, "HTTP/1.0") == 0);
}

static void request_line(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    const struct mitm_http_request *r = f->request;
    char client[80], url[8192];
    if (f->is_replay && strcmp(f->is_replay, "request") == 0)
        snprintf(client, sizeof(client), "[replay]");
    else
        client_addr(f, client, sizeof(client));
    mitm_http_request_url(r, st->showhost, url, sizeof(url));
    size_t ulen = strlen(url);
    int limit = st->columns - 25 > 50 ? st->columns - 25 : 50;
    if (st->flow_detail == 1 && ulen > (size_t)limit) {
        ulen = (size_t)limit;
        /* do not cut a UTF-8 sequence */
        while (ulen > 0 && ((unsigned char)url[ulen] & 0xc0) == 0x80)
            ulen--;
    }
    mitm_buf_printf(b, "%s: ", client);
    enum color mc = strcmp(r->method, "GET") == 0      ? C_GREEN
                    : strcmp(r->method, "DELETE") == 0 ? C_RED
                                                       : C_MAGENTA;
    style_on(st, b, mc, true);
    escaped(b, r->method, strlen(r->method));
    style_off(st, b);
    mitm_buf_append(b, " ", 1);
    style_on(st, b, C_NONE, true);
    mitm_buf_append(b, url, ulen);
    if (ulen < strlen(url))
        mitm_buf_append(b, "\xe2\x80\xa6", 3);
    style_off(st, b);
    const char *rv = f->response ? f->response->http_version : "HTTP/1.1";
    if (!is_h1(r->http_version) || strcmp(r->http_version, rv) != 0)
        mitm_buf_printf(b, " %s", r->http_version);
    mitm_buf_append(b, "\n", 1);
}

static void headers(const struct mitm_dump_style *st, const struct mitm_headers *h, struct mitm_buf *b)
{
    for (size_t i = 0; i < h->n; i++) {
        mitm_buf_append(b, "    ", 4);
        style_on(st, b, C_BLUE, false);
        escaped(b, h->v[i].name, h->v[i].name_len);
        style_off(st, b);
        mitm_buf_append(b, ": ", 2);
        escaped(b, h->v[i].value, h->v[i].value_len);
        mitm_buf_append(b, "\n", 1);
    }
}

static void trailers(const struct mitm_dump_style *st, const struct mitm_headers *t, struct mitm_buf *b)
{
    if (!t || t->n == 0)
        return;
    mitm_buf_append(b, "    ", 4);
    style_on(st, b, C_MAGENTA, false);
    mitm_buf_append(b, "--- HTTP Trailers", 17);
    style_off(st, b);
    mitm_buf_append(b, "\n", 1);
    headers(st, t, b);
}

/* Body at detail 3/4 (mitmproxy's Dumper._echo_message): the decoded body rendered by the
 * dumper_default_contentview content view, each line indented by 4, cut at lines_cutoff lines
 * at detail 3 with "(cut off)"; a blank line before the content and one after. req is the
 * request when the message is one (the query view shows its query string), else NULL. */
static void body(const struct mitm_dump_style *st, const struct mitm_headers *h,
                 const struct mitm_buf *content, bool missing, const struct mitm_http_request *req,
                 struct mitm_buf *b)
{
    size_t max = st->flow_detail == 3 && st->lines_cutoff >= 0 ? (size_t)st->lines_cutoff : SIZE_MAX;
    const char *view = mitm_options.dumper_default_contentview;
    struct mitm_cv_result r = {0};
    mitm_cv_render_message(view && view[0] ? view : "auto", h, content, missing, req, max, &r);
    if (r.nlines)
        mitm_buf_append(b, "\n", 1);
    for (size_t i = 0; i < r.nlines; i++) {
        const struct mitm_cv_line *l = &r.lines[i];
        mitm_buf_append(b, "    ", 4);
        for (size_t k = l->first; k < l->first + l->n; k++) {
            const struct mitm_cv_seg *sg = &r.segs[k];
            /* CONTENTVIEW_STYLES: header green bold, text green, offset blue, highlight bold */
            enum color c = sg->style == MITM_CV_KEY || sg->style == MITM_CV_TEXT ? C_GREEN
                           : sg->style == MITM_CV_OFFSET                         ? C_BLUE
                           : sg->style == MITM_CV_ERROR                          ? C_RED
                                                                                 : C_NONE;
            bool bold = sg->style == MITM_CV_KEY || sg->style == MITM_CV_HIGHLIGHT;
            if (c || bold)
                style_on(st, b, c, bold);
            mitm_buf_append(b, mitm_buf_data(&r.text) + sg->off, sg->len);
            if (c || bold)
                style_off(st, b);
        }
        mitm_buf_append(b, "\n", 1);
    }
    if (r.cut) {
        mitm_buf_append(b, "    ", 4);
        if (st->color)
            mitm_buf_append(b, "\x1b[2m", 4);
        mitm_buf_append(b, "(cut off)", 9);
        style_off(st, b);
        mitm_buf_append(b, "\n", 1);
    }
    if (st->flow_detail >= 2)
        mitm_buf_append(b, "\n", 1);
    mitm_cv_result_free(&r);
}

static void response_line(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    const struct mitm_http_response *r = f->response;
    bool replay = f->is_replay && strcmp(f->is_replay, "response") == 0;
    char version[32] = "", size[24], client[80];
    if (!is_h1(r->http_version) || strcmp(f->request->http_version, r->http_version) != 0)
        snprintf(version, sizeof(version), "%s ", r->http_version);
    if (r->content_missing)
        snprintf(size, sizeof(size), "(content missing)");
    else
        mitm_pretty_size(r->content.len, size);
    if (replay) {
        style_on(st, b, C_YELLOW, true);
        mitm_buf_append(b, "[replay]", 8);
        style_off(st, b);
    }
    if (st->flow_detail == 1) {
        client_addr(f, client, sizeof(client));
        long pad = (long)strlen(client) - (long)(2 + strlen(version) + (replay ? 8 : 0));
        for (long i = 0; i < pad; i++)
            mitm_buf_append(b, " ", 1);
    }
    style_on(st, b, C_NONE, true);
    mitm_buf_append(b, " <<", 3);
    style_off(st, b);
    mitm_buf_printf(b, " %s", version);
    int code = r->status_code;
    enum color cc = code >= 200 && code < 300   ? C_GREEN
                    : code >= 300 && code < 400 ? C_MAGENTA
                    : code >= 400 && code < 600 ? C_RED
                                                : C_NONE;
    style_on(st, b, cc, true);
    mitm_buf_printf(b, "%d ", code);
    escaped(b, r->reason, strlen(r->reason));
    style_off(st, b);
    mitm_buf_append(b, " ", 1);
    style_on(st, b, C_NONE, true);
    mitm_buf_append(b, size, strlen(size));
    style_off(st, b);
    mitm_buf_append(b, "\n", 1);
}

void mitm_dump_format(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    if (st->flow_detail <= 0 || f->type != MITM_FLOW_HTTP)
        return;
    if (f->request) {
        request_line(st, f, b);
        if (st->flow_detail >= 2)
            headers(st, &f->request->headers, b);
        if (st->flow_detail >= 3)
            body(st, &f->request->headers, &f->request->content, f->request->content_missing, f->request, b);
        if (st->flow_detail >= 2)
            trailers(st, f->request->trailers, b);
    }
    if (f->response) {
        response_line(st, f, b);
        if (st->flow_detail >= 2)
            headers(st, &f->response->headers, b);
        if (st->flow_detail >= 3)
            body(st, &f->response->headers, &f->response->content, f->response->content_missing, NULL, b);
        if (st->flow_detail >= 2)
            trailers(st, f->response->trailers, b);
    }
    if (f->error) {
        style_on(st, b, C_RED, true);
        mitm_buf_append(b, " << ", 4);
        escaped(b, f->error->msg, strlen(f->error->msg));
        style_off(st, b);
        mitm_buf_append(b, "\n", 1);
    }
}
