/* cut and cut.save (mitmproxy's addons/cut.py): values picked out of flows by attribute
 * paths ("request.method", "response.header[content-type]", "server_conn.address.port").
 *
 * mitmproxy walks Python attributes; mitmc knows the attributes a flow has in its flow
 * files and answers the same way: a missing attribute (or a path through None) is "", a
 * bool is "true"/"false", bytes stay bytes (request.content, request.raw_content,
 * *.alpn), an address tuple gives its host and port, everything else is str() of the
 * value (0 and "" alike print as "", as Python's `str(v or "")` does). Main thread only. */
#include "addon/httputil.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/command.h"
#include "core/options.h"
#include "flow/encoding.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "ui/commands.h"
#include "ui/master.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { V_NONE, V_STR, V_BYTES, V_BOOL, V_INT, V_FLOAT, V_ADDR };

/* One extracted value; text holds strings, bytes and addresses' hosts. */
struct value {
    enum kind kind;
    struct mitm_buf text;
    long i; /* INT; BOOL; ADDR: the port */
    double d;
    bool zero_shown; /* an address's port: str(port), where other values print str(v or "") */
};

static void v_str(struct value *v, const char *s, size_t n)
{
    v->kind = s ? V_STR : V_NONE;
    if (s)
        mitm_buf_append(&v->text, s, n);
}

static void v_cstr(struct value *v, const char *s)
{
    v_str(v, s, s ? strlen(s) : 0);
}

static void v_int(struct value *v, long i)
{
    v->kind = V_INT;
    v->i = i;
}

static void v_float(struct value *v, double d)
{
    v->kind = d ? V_FLOAT : V_NONE; /* mitmc keeps None timestamps as 0 */
    v->d = d;
}

static void v_bool(struct value *v, bool b)
{
    v->kind = V_BOOL;
    v->i = b;
}

static void v_addr(struct value *v, const char *host, uint16_t port)
{
    if (!host) {
        v->kind = V_NONE;
        return;
    }
    v->kind = V_ADDR;
    mitm_buf_append(&v->text, host, strlen(host));
    v->i = port;
}

/* "header[name]" -> name (trimmed). Returns false for another spec. */
static bool header_name(const char *spec, char *out, size_t cap)
{
    size_t n = strlen(spec);
    if (n < 8 || strncmp(spec, "header[", 7) != 0 || spec[n - 1] != ']')
        return false;
    const char *b = spec + 7, *e = spec + n - 1;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    snprintf(out, cap, "%.*s", (int)(e - b), b);
    return true;
}

/* A body (request.content / .text decoded; raw_content as stored). */
static void v_body(struct value *v, const struct mitm_headers *h, const struct mitm_buf *c, bool missing,
                   const char *attr)
{
    if (missing)
        return;
    if (strcmp(attr, "raw_content") == 0) {
        v->kind = V_BYTES;
        mitm_buf_append(&v->text, mitm_buf_data(c), c->len);
        return;
    }
    struct mitm_buf storage;
    struct mitm_slice body;
    mitm_buf_init(&storage, 0);
    mitm_encoding_message_content(h, c, false, (size_t)UINT32_MAX, &storage, &body);
    mitm_buf_append(&v->text, body.base, body.len);
    mitm_buf_free(&storage);
    v->kind = strcmp(attr, "text") == 0 ? V_STR : V_BYTES;
}

static bool is_body(const char *a)
{
    return strcmp(a, "content") == 0 || strcmp(a, "raw_content") == 0 || strcmp(a, "text") == 0;
}

static void request_attr(const struct mitm_http_request *r, const char *a, const char *sub, struct value *v)
{
    if (strcmp(a, "method") == 0)
        v_cstr(v, r->method);
    else if (strcmp(a, "scheme") == 0)
        v_cstr(v, r->scheme);
    else if (strcmp(a, "host") == 0)
        v_cstr(v, r->host);
    else if (strcmp(a, "port") == 0)
        v_int(v, r->port);
    else if (strcmp(a, "path") == 0)
        v_cstr(v, r->path);
    else if (strcmp(a, "authority") == 0)
        v_cstr(v, r->authority);
    else if (strcmp(a, "http_version") == 0)
        v_cstr(v, r->http_version);
    else if (strcmp(a, "url") == 0) {
        char url[8192];
        mitm_http_request_url(r, false, url, sizeof(url));
        v_cstr(v, url);
    } else if (strcmp(a, "pretty_url") == 0) {
        v->kind = V_STR;
        mitm_addon_pretty_url(r, &v->text);
    } else if (is_body(a))
        v_body(v, &r->headers, &r->content, r->content_missing, a);
    else if (strcmp(a, "timestamp_start") == 0)
        v_float(v, r->timestamp_start);
    else if (strcmp(a, "timestamp_end") == 0)
        v_float(v, r->timestamp_end);
    (void)sub;
}

static void response_attr(const struct mitm_http_response *r, const char *a, struct value *v)
{
    if (strcmp(a, "status_code") == 0)
        v_int(v, r->status_code);
    else if (strcmp(a, "reason") == 0)
        v_cstr(v, r->reason);
    else if (strcmp(a, "http_version") == 0)
        v_cstr(v, r->http_version);
    else if (is_body(a))
        v_body(v, &r->headers, &r->content, r->content_missing, a);
    else if (strcmp(a, "timestamp_start") == 0)
        v_float(v, r->timestamp_start);
    else if (strcmp(a, "timestamp_end") == 0)
        v_float(v, r->timestamp_end);
}

/* client_conn.X / server_conn.X; sub is the next path element (host/port of an address). */
static void conn_attr(const struct mitm_conn_info *c, bool server, const char *a, struct value *v)
{
    if (strcmp(a, "peername") == 0 || (!server && strcmp(a, "address") == 0))
        v_addr(v, c->peer_host, c->peer_port);
    else if (strcmp(a, "sockname") == 0)
        v_addr(v, c->sock_host, c->sock_port);
    else if (server && strcmp(a, "address") == 0)
        v_addr(v, c->address_host, c->address_port);
    else if (strcmp(a, "id") == 0)
        v_cstr(v, c->id);
    else if (strcmp(a, "sni") == 0)
        v_cstr(v, c->sni);
    else if (strcmp(a, "tls_version") == 0)
        v_cstr(v, c->tls_version);
    else if (strcmp(a, "cipher") == 0)
        v_cstr(v, c->cipher);
    else if (strcmp(a, "error") == 0)
        v_cstr(v, c->error);
    else if (strcmp(a, "tls") == 0 || strcmp(a, "tls_established") == 0)
        v_bool(v, c->tls);
    else if (strcmp(a, "alpn") == 0 && c->alpn) {
        v->kind = V_BYTES;
        mitm_buf_append(&v->text, c->alpn, c->alpn_len);
    } else if (strcmp(a, "certificate_list") == 0 && c->certificate_list.n)
        v_cstr(v, c->certificate_list.v[0]); /* the first certificate, PEM, as mitmproxy */
    else if (strcmp(a, "timestamp_start") == 0)
        v_float(v, c->timestamp_start);
    else if (strcmp(a, "timestamp_end") == 0)
        v_float(v, c->timestamp_end);
    else if (strcmp(a, "timestamp_tls_setup") == 0)
        v_float(v, c->timestamp_tls_setup);
}

static void flow_attr(const struct mitm_flow *f, const char *a, struct value *v)
{
    if (strcmp(a, "id") == 0)
        v_cstr(v, f->id);
    else if (strcmp(a, "type") == 0)
        v_cstr(v, f->type == MITM_FLOW_TCP ? "tcp" : "http");
    else if (strcmp(a, "marked") == 0)
        v_cstr(v, f->marked);
    else if (strcmp(a, "comment") == 0)
        v_cstr(v, f->comment);
    else if (strcmp(a, "is_replay") == 0)
        v_cstr(v, f->is_replay);
    else if (strcmp(a, "intercepted") == 0)
        v_bool(v, f->intercepted);
    else if (strcmp(a, "timestamp_created") == 0)
        v_float(v, f->timestamp_created);
}

/* A WebSocket flow's request.content / response.content: its messages, one a line, each
 * "[OUTGOING] " or "[INCOMING] " + content (mitmproxy does this so "save body" works on
 * WebSocket flows). */
static void ws_messages(const struct mitm_websocket_data *ws, struct value *v)
{
    v->kind = V_BYTES;
    for (size_t i = 0; i < ws->n_messages; i++) {
        const struct mitm_websocket_message *msg = &ws->messages[i];
        if (i)
            mitm_buf_append(&v->text, "\n", 1);
        mitm_buf_append(&v->text, msg->from_client ? "[OUTGOING] " : "[INCOMING] ", 11);
        mitm_buf_append(&v->text, msg->content, msg->len);
    }
}

/* Walk cut over f into v. Returns 0, or -1 with mitmproxy's message in err. */
static int extract(const char *cut, const struct mitm_flow *f, struct value *v, char *err, size_t errlen)
{
    if (f->websocket && (strcmp(cut, "request.content") == 0 || strcmp(cut, "response.content") == 0)) {
        ws_messages(f->websocket, v);
        return 0;
    }
    char *path = mitm_strdup(cut), *parts[8];
    size_t n = 0;
    for (char *save = NULL, *p = strtok_r(path, ".", &save); p; p = strtok_r(NULL, ".", &save))
        if (n < 8)
            parts[n++] = p;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (parts[i][0] == '_') {
            snprintf(err, errlen, "Can't access internal attribute %s", parts[i]);
            rc = -1;
            goto Exit;
        }
    const char *last = n ? parts[n - 1] : "";
    char hname[256];
    bool header = n == 2 && strncmp(last, "header[", 7) == 0;
    if (header && !header_name(last, hname, sizeof(hname))) {
        snprintf(err, errlen, "Invalid header spec: %s", last);
        rc = -1;
        goto Exit;
    }
    const struct mitm_headers *hs = NULL;
    if (n == 1)
        flow_attr(f, parts[0], v);
    else if (strcmp(parts[0], "request") == 0 && f->request) {
        if (header)
            hs = &f->request->headers;
        else if (n == 2)
            request_attr(f->request, parts[1], NULL, v);
    } else if (strcmp(parts[0], "response") == 0 && f->response) {
        if (header)
            hs = &f->response->headers;
        else if (n == 2)
            response_attr(f->response, parts[1], v);
    } else if (strcmp(parts[0], "client_conn") == 0 || strcmp(parts[0], "server_conn") == 0) {
        bool server = parts[0][0] == 's';
        conn_attr(server ? &f->server_conn : &f->client_conn, server, parts[1], v);
        if (v->kind == V_ADDR && n == 3) { /* .host / .port of an address tuple */
            if (strcmp(parts[2], "port") == 0) {
                v->kind = V_INT;
                v->zero_shown = true;
            } else if (strcmp(parts[2], "host") == 0)
                v->kind = V_STR;
            else
                v->kind = V_NONE;
        } else if (n != 2) {
            v->kind = V_NONE;
        }
    } else if (strcmp(parts[0], "error") == 0 && f->error && n == 2) {
        if (strcmp(parts[1], "msg") == 0)
            v_cstr(v, f->error->msg);
        else if (strcmp(parts[1], "timestamp") == 0)
            v_float(v, f->error->timestamp);
    }
    if (hs) {
        mitm_addon_header_joined(hs, hname, &v->text);
        v->kind = V_STR;
    }
Exit:
    free(path);
    return rc;
}

/* Python's repr(float): the shortest text that reads back as the same double. */
static void py_float(struct mitm_buf *out, double d)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            break;
    }
    mitm_buf_append(out, t, strlen(t));
    if (!strpbrk(t, ".eE"))
        mitm_buf_append(out, ".0", 2);
}

/* Python's repr(bytes). */
static void py_bytes(struct mitm_buf *out, const uint8_t *b, size_t n)
{
    bool sq = memchr(b, '\'', n) != NULL, dq = memchr(b, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    mitm_buf_printf(out, "b%c", q);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if (c == '\\' || c == (uint8_t)q)
            mitm_buf_printf(out, "\\%c", c);
        else if (c == '\t')
            mitm_buf_append(out, "\\t", 2);
        else if (c == '\n')
            mitm_buf_append(out, "\\n", 2);
        else if (c == '\r')
            mitm_buf_append(out, "\\r", 2);
        else if (c < 0x20 || c >= 0x7f)
            mitm_buf_printf(out, "\\x%02x", c);
        else
            mitm_buf_append(out, &c, 1);
    }
    mitm_buf_append(out, &q, 1);
}

/* The value as text (extract_str: bytes as their repr); raw keeps bytes as they are. */
static void render(const struct value *v, bool raw, struct mitm_buf *out)
{
    switch (v->kind) {
    case V_NONE:
        break;
    case V_STR:
        mitm_buf_append(out, mitm_buf_data(&v->text), v->text.len);
        break;
    case V_BYTES:
        if (raw)
            mitm_buf_append(out, mitm_buf_data(&v->text), v->text.len);
        else
            py_bytes(out, mitm_buf_data(&v->text), v->text.len);
        break;
    case V_BOOL:
        mitm_buf_printf(out, "%s", v->i ? "true" : "false");
        break;
    case V_INT:
        if (v->i || v->zero_shown) /* str(0 or "") is "" */
            mitm_buf_printf(out, "%ld", v->i);
        break;
    case V_FLOAT:
        py_float(out, v->d);
        break;
    case V_ADDR:
        mitm_buf_printf(out, "('%.*s', %ld)", (int)v->text.len, (const char *)mitm_buf_data(&v->text), v->i);
        break;
    }
}

/* One CSV field as Python's csv writer (QUOTE_MINIMAL) writes it. */
static void csv_field(struct mitm_buf *out, const uint8_t *s, size_t n, bool only)
{
    bool quote = (only && n == 0) || memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\r', n) ||
                 memchr(s, '\n', n);
    if (!quote) {
        mitm_buf_append(out, s, n);
        return;
    }
    mitm_buf_append(out, "\"", 1);
    for (size_t i = 0; i < n; i++)
        mitm_buf_append(out, s[i] == '"' ? "\"\"" : (const char *)&s[i], s[i] == '"' ? 2 : 1);
    mitm_buf_append(out, "\"", 1);
}

struct cuts {
    char **v;
    size_t n;
};

/* CutSpec: comma-separated, each trimmed. */
static void split_cuts(const char *spec, struct cuts *c)
{
    c->v = NULL;
    c->n = 0;
    for (const char *p = spec;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *b = p;
        while (len && (*b == ' ' || *b == '\t'))
            b++, len--;
        while (len && (b[len - 1] == ' ' || b[len - 1] == '\t'))
            len--;
        c->v = mitm_realloc(c->v, (c->n + 1) * sizeof(*c->v));
        c->v[c->n++] = mitm_strndup(b, len);
        if (!e)
            break;
        p = e + 1;
    }
}

static void free_cuts(struct cuts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

/* Every flow a CSV row of its cuts. Returns 0, or -1 with err set (bad spec). */
static int csv_rows(const struct mitm_cmd_arg *flows, const struct cuts *c, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    struct mitm_buf field;
    mitm_buf_init(&field, 0);
    int rc = 0;
    for (size_t i = 0; i < flows->nflows && rc == 0; i++) {
        for (size_t k = 0; k < c->n; k++) {
            struct value v = {0};
            mitm_buf_init(&v.text, 0);
            rc = extract(c->v[k], flows->flows[i], &v, err, errlen);
            field.len = 0;
            render(&v, false, &field);
            mitm_buf_free(&v.text);
            if (rc < 0)
                break;
            if (k)
                mitm_buf_append(out, ",", 1);
            csv_field(out, mitm_buf_data(&field), field.len, c->n == 1);
        }
        mitm_buf_append(out, "\r\n", 2);
    }
    mitm_buf_free(&field);
    return rc;
}

/* cut: the rows, as CSV (mitmproxy returns a list of rows; a text result needs one form). */
static int cmd_cut(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                   size_t errlen)
{
    (void)data, (void)n;
    struct cuts c;
    split_cuts(a[1].str, &c);
    int rc = csv_rows(&a[0], &c, out, err, errlen);
    free_cuts(&c);
    if (rc == 0 && out->len >= 2)
        out->len -= 2; /* a result has no trailing newline */
    return rc;
}

static int write_all(const char *path, bool append, const struct mitm_buf *b, bool sep_if_nonempty)
{
    FILE *fp = fopen(path, append ? "ab" : "wb");
    if (!fp)
        return -1;
    int rc = 0;
    if (sep_if_nonempty && ftell(fp) > 0 && fputc('\n', fp) == EOF)
        rc = -1;
    if (rc == 0 && b->len && fwrite(mitm_buf_data(b), 1, b->len, fp) != b->len)
        rc = -1;
    if (fclose(fp) != 0)
        rc = -1;
    return rc;
}

/* cut.save: one flow and one cut are written as they are (bytes raw), anything else as CSV;
 * "+path" appends. A file error is logged, not raised, as mitmproxy does. */
static int cmd_cut_save(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)data, (void)n, (void)out;
    const char *spec = a[2].str;
    bool append = spec[0] == '+';
    char *path = append ? mitm_options_expanduser(spec + 1) : mitm_strdup(spec);
    struct cuts c;
    split_cuts(a[1].str, &c);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    bool single = c.n == 1 && a[0].nflows == 1;
    int rc = 0;
    if (single) {
        struct value v = {0};
        mitm_buf_init(&v.text, 0);
        rc = extract(c.v[0], a[0].flows[0], &v, err, errlen);
        render(&v, true, &b);
        mitm_buf_free(&v.text);
    } else {
        rc = csv_rows(&a[0], &c, &b, err, errlen);
    }
    if (rc == 0 && write_all(path, append, &b, single) < 0)
        mitm_log(MITM_LOG_ERROR, NULL, "[Errno %d] %s: '%s'", errno, strerror(errno), path);
    else if (rc == 0 && single)
        mitm_log(MITM_LOG_ALERT, NULL, "Saved single cut.");
    else if (rc == 0)
        mitm_log(MITM_LOG_ALERT, NULL, "Saved %zu cuts over %zu flows as CSV.", c.n, a[0].nflows);
    mitm_buf_free(&b);
    free_cuts(&c);
    free(path);
    return rc;
}

static const struct mitm_cmd_param p_cut[] = {{"flows", MITM_ARG_FLOWS, NULL}, {"cuts", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_cut_save[] = {
    {"flows", MITM_ARG_FLOWS, NULL}, {"cuts", MITM_ARG_STR, NULL}, {"path", MITM_ARG_PATH, NULL}};

int mitm_ui_cut_register(struct mitm_master *m, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"cut", p_cut, 2, "data", "Cut data from a set of flows.", cmd_cut, m},
        {"cut.save", p_cut_save, 3, NULL, "Save cuts to file.", cmd_cut_save, m},
    };
    return mitm_ui_register_defs(m, defs, sizeof(defs) / sizeof(defs[0]), err, errlen);
}
