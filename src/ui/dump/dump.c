#include "ui/dump/dump.h"
#include "core/options.h"
#include "flow/contentview.h"
#include "proto/http/http.h"
#include "proto/ws/ws.h"

#include <arpa/inet.h>
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

/* Python's str(IPv6Address): lower-case hex groups without leading zeros, the longest run of two
 * or more zero groups (the first of equal ones) as "::" (RFC 5952). */
static void ipv6_text(const uint8_t a[16], char *out, size_t cap)
{
    uint16_t g[8];
    int best = -1, best_len = 1, run = 0;
    for (int i = 0; i < 8; i++) {
        g[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
        run = g[i] ? 0 : run + 1;
        if (run > best_len) {
            best_len = run;
            best = i - run + 1;
        }
    }
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < 8 && n < cap; i++) {
        if (i == best) {
            n += (size_t)snprintf(out + n, cap - n, "::");
            i += best_len - 1;
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%x", n && out[n - 1] != ':' ? ":" : "", g[i]);
    }
}

/* mitmproxy's human.format_address: "<no address>" for None, "*:port" for an unspecified address,
 * an IPv4-mapped IPv6 address as IPv4, other IPv6 in brackets, anything else "host:port". */
static void format_address(const char *host, uint16_t port, char *out, size_t cap)
{
    struct in_addr a4;
    struct in6_addr a6;
    char text[48], ip[64];
    if (!host) {
        snprintf(out, cap, "<no address>");
        return;
    }
    const char *pct = strchr(host, '%'); /* an IPv6 scope id stays as written */
    size_t hl = pct ? (size_t)(pct - host) : strlen(host);
    if (hl < sizeof(ip)) {
        memcpy(ip, host, hl);
        ip[hl] = 0;
    } else {
        ip[0] = 0;
    }
    if (!pct && inet_pton(AF_INET, host, &a4) == 1) {
        inet_ntop(AF_INET, &a4, text, sizeof(text));
        if (a4.s_addr == 0)
            snprintf(out, cap, "*:%u", port);
        else
            snprintf(out, cap, "%s:%u", text, port);
        return;
    }
    if (inet_pton(AF_INET6, ip, &a6) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const uint8_t zero[16] = {0};
        if (!pct && memcmp(a6.s6_addr, zero, 16) == 0) {
            snprintf(out, cap, "*:%u", port);
        } else if (!pct && memcmp(a6.s6_addr, mapped, 12) == 0) {
            inet_ntop(AF_INET, a6.s6_addr + 12, text, sizeof(text));
            snprintf(out, cap, "%s:%u", text, port);
        } else {
            ipv6_text(a6.s6_addr, text, sizeof(text));
            snprintf(out, cap, "[%s%s]:%u", text, pct ? pct : "", port); /* the scope as written */
        }
        return;
    }
    snprintf(out, cap, "%s:%u", host, port);
}

static void client_addr(const struct mitm_flow *f, char *out, size_t cap)
{
    format_address(f->client_conn.peer_host, f->client_conn.peer_port, out, cap);
}

static bool is_h1(const char *v)
{
    return v && (strcmp(v, "HTTP/1.1") == 0 || strcmp(v, "HTTP/1.0") == 0);
}

static void request_line(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    const struct mitm_http_request *r = f->request;
    char client[128], url[8192];
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

/* The lines of a rendering (Dumper._echo_message), and free it. */
static void echo_rendering(const struct mitm_dump_style *st, struct mitm_cv_result *r, struct mitm_buf *b)
{
    if (r->nlines)
        mitm_buf_append(b, "\n", 1);
    for (size_t i = 0; i < r->nlines; i++) {
        const struct mitm_cv_line *l = &r->lines[i];
        mitm_buf_append(b, "    ", 4);
        for (size_t k = l->first; k < l->first + l->n; k++) {
            const struct mitm_cv_seg *sg = &r->segs[k];
            /* CONTENTVIEW_STYLES: header green bold, text green, offset blue, highlight bold */
            enum color c = sg->style == MITM_CV_KEY || sg->style == MITM_CV_TEXT ? C_GREEN
                           : sg->style == MITM_CV_OFFSET                         ? C_BLUE
                           : sg->style == MITM_CV_ERROR                          ? C_RED
                                                                                 : C_NONE;
            bool bold = sg->style == MITM_CV_KEY || sg->style == MITM_CV_HIGHLIGHT;
            if (c || bold)
                style_on(st, b, c, bold);
            mitm_buf_append(b, mitm_buf_data(&r->text) + sg->off, sg->len);
            if (c || bold)
                style_off(st, b);
        }
        mitm_buf_append(b, "\n", 1);
    }
    if (r->cut) {
        mitm_buf_append(b, "    ", 4);
        if (st->color)
            mitm_buf_append(b, "\x1b[2m", 4);
        mitm_buf_append(b, "(cut off)", 9);
        style_off(st, b);
        mitm_buf_append(b, "\n", 1);
    }
    if (st->flow_detail >= 2)
        mitm_buf_append(b, "\n", 1);
    mitm_cv_result_free(r);
}

static size_t max_lines(const struct mitm_dump_style *st)
{
    return st->flow_detail == 3 && st->lines_cutoff >= 0 ? (size_t)st->lines_cutoff : SIZE_MAX;
}

static const char *default_view(void)
{
    const char *view = mitm_options.dumper_default_contentview;
    return view && view[0] ? view : "auto";
}

/* Body at detail 3/4 (mitmproxy's Dumper._echo_message): the decoded body rendered by the
 * dumper_default_contentview content view, each line indented by 4, cut at lines_cutoff lines
 * at detail 3 with "(cut off)"; a blank line before the content and one after. req is the
 * request when the message is one (the query view shows its query string), else NULL. */
static void body(const struct mitm_dump_style *st, const struct mitm_headers *h,
                 const struct mitm_buf *content, bool missing, const struct mitm_http_request *req,
                 struct mitm_buf *b)
{
    struct mitm_cv_result r = {0};
    mitm_cv_render_message(default_view(), h, content, missing, req, max_lines(st), &r);
    echo_rendering(st, &r, b);
}

static void response_line(const struct mitm_dump_style *st, const struct mitm_flow *f, struct mitm_buf *b)
{
    const struct mitm_http_response *r = f->response;
    bool replay = f->is_replay && strcmp(f->is_replay, "response") == 0;
    char version[32] = "", size[24], client[128];
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
    /* HTTP/2 has no reason phrase: mitmdump prints the status table's */
    const char *reason =
        r->http_version && strcmp(r->http_version, "HTTP/2.0") == 0 ? mitm_http_reason(code) : r->reason;
    escaped(b, reason, strlen(reason));
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

/* ---- WebSocket and TCP hooks (Dumper.websocket_message, websocket_end, tcp_message, tcp_error) */

static const char *opcode_name(uint8_t op)
{
    switch (op) { /* wsproto's Opcode member names, lower-cased */
    case MITM_WS_CONTINUATION:
        return "continuation";
    case MITM_WS_TEXT:
        return "text";
    case MITM_WS_BINARY:
        return "binary";
    case MITM_WS_CLOSE:
        return "close";
    case MITM_WS_PING:
        return "ping";
    case MITM_WS_PONG:
        return "pong";
    }
    return "unknown";
}

/* str() of a metadata value for the QUIC stream ids (ints; text is shown as it is), else "". */
static void meta_text(const struct mitm_flow *f, const char *key, struct mitm_buf *b)
{
    for (size_t i = 0; i < f->n_metadata; i++) {
        const struct mitm_meta *m = &f->metadata[i];
        if (strcmp(m->key, key) != 0)
            continue;
        const uint8_t *colon = memchr(m->tns, ':', m->tns_len);
        char tag = m->tns_len ? (char)m->tns[m->tns_len - 1] : 0;
        if (colon && (tag == '#' || tag == ';' || tag == ','))
            mitm_buf_append(b, colon + 1, (size_t)(m->tns + m->tns_len - 1 - (colon + 1)));
    }
}

/* The message's content through the default content view (no Content-Type: mitmproxy passes
 * none for WebSocket and TCP messages). */
static void message_content(const struct mitm_dump_style *st, const uint8_t *p, size_t n, struct mitm_buf *b)
{
    struct mitm_cv_result r = {0};
    struct mitm_cv_meta meta = {0};
    mitm_cv_render(default_view(), p, n, &meta, max_lines(st), &r);
    echo_rendering(st, &r, b);
}

void mitm_dump_format_message(const struct mitm_dump_style *st, const struct mitm_flow *f, size_t index,
                              struct mitm_buf *out)
{
    char client[128], server[128];
    if (st->flow_detail <= 0)
        return;
    format_address(f->client_conn.peer_host, f->client_conn.peer_port, client, sizeof(client));
    format_address(f->server_conn.address_host, f->server_conn.address_port, server, sizeof(server));
    if (f->type == MITM_FLOW_HTTP) {
        if (!f->websocket || index >= f->websocket->n_messages)
            return;
        const struct mitm_websocket_message *m = &f->websocket->messages[index];
        const char *dir = m->from_client ? "->" : "<-";
        mitm_buf_printf(out, "%s %s WebSocket %s message %s %s%s\n", client, dir, opcode_name(m->type), dir,
                        server, f->request && f->request->path ? f->request->path : "");
        if (st->flow_detail >= 3)
            message_content(st, m->content, m->len, out);
        return;
    }
    if (index >= f->n_messages)
        return;
    const struct mitm_tcp_message *m = &f->messages[index];
    const char *dir = m->from_client ? "->" : "<-";
    mitm_buf_printf(out, "%s %s ", client, dir);
    if (f->client_conn.tls_version && strcmp(f->client_conn.tls_version, "QUICv1") == 0) {
        mitm_buf_append(out, "quic stream ", 12);
        meta_text(f, "quic_stream_id_client", out);
        mitm_buf_printf(out, " %s mitmproxy %s quic stream ", dir, dir);
        meta_text(f, "quic_stream_id_server", out);
    } else {
        mitm_buf_append(out, "tcp", 3);
    }
    mitm_buf_printf(out, " %s %s\n", dir, server);
    if (st->flow_detail >= 3)
        message_content(st, m->content, m->len, out);
}

/* echo(text, fg="red"): the whole line in red. */
static void red_line_start(const struct mitm_dump_style *st, struct mitm_buf *b)
{
    style_on(st, b, C_RED, false);
}

static void red_line_end(const struct mitm_dump_style *st, struct mitm_buf *b)
{
    style_off(st, b);
    mitm_buf_append(b, "\n", 1);
}

void mitm_dump_format_websocket_end(const struct mitm_dump_style *st, const struct mitm_flow *f,
                                    struct mitm_buf *out)
{
    const struct mitm_websocket_data *ws = f->websocket;
    if (st->flow_detail <= 0 || !ws)
        return;
    int code = ws->close_code;
    if (code == 1000 || code == 1001 || code == 1005) {
        mitm_buf_printf(out, "WebSocket connection closed by %s: %d ",
                        ws->closed_by_client > 0 ? "client" : "server", code);
        if (ws->close_reason)
            mitm_buf_append(out, ws->close_reason, ws->close_reason_len);
        else
            mitm_buf_append(out, "None", 4);
        mitm_buf_append(out, "\n", 1);
        return;
    }
    char server[128];
    format_address(f->server_conn.address_host, f->server_conn.address_port, server, sizeof(server));
    red_line_start(st, out);
    mitm_buf_printf(out, "Error in WebSocket connection to %s: WebSocket Error: ", server);
    const char *name = mitm_ws_close_code_name(code);
    if (name)
        mitm_buf_printf(out, "%s", name);
    else if (code < 0)
        mitm_buf_printf(out, "UNKNOWN_ERROR=None");
    else
        mitm_buf_printf(out, "UNKNOWN_ERROR=%d", code);
    if (ws->close_reason && ws->close_reason_len) {
        mitm_buf_append(out, " (reason: ", 10);
        mitm_buf_append(out, ws->close_reason, ws->close_reason_len);
        mitm_buf_append(out, ")", 1);
    }
    red_line_end(st, out);
}

void mitm_dump_format_tcp_error(const struct mitm_dump_style *st, const struct mitm_flow *f,
                                struct mitm_buf *out)
{
    if (st->flow_detail <= 0 || !f->error || f->type != MITM_FLOW_TCP)
        return;
    char server[128];
    format_address(f->server_conn.address_host, f->server_conn.address_port, server, sizeof(server));
    red_line_start(st, out);
    mitm_buf_printf(out, "Error in TCP connection to %s: %s", server, f->error->msg ? f->error->msg : "");
    red_line_end(st, out);
}
