#include "flow/export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/command.h"
#include "core/options.h"
#include "base/alloc.h"
#include "flow/encoding.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"

static const char *const formats[] = {"curl", "httpie", "raw", "raw_request", "raw_response"};

const char *const *mitm_export_formats(size_t *n)
{
    *n = sizeof(formats) / sizeof(formats[0]);
    return formats;
}

void mitm_export_shell_quote(struct mitm_buf *out, const char *s, size_t n)
{
    bool safe = n > 0;
    for (size_t i = 0; i < n && safe; i++) {
        unsigned char c = (unsigned char)s[i];
        safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("_@%+=:,./-", c));
    }
    if (safe) {
        mitm_buf_append(out, s, n);
        return;
    }
    mitm_buf_append(out, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            mitm_buf_append(out, "'\"'\"'", 5);
        else
            mitm_buf_append(out, &s[i], 1);
    }
    mitm_buf_append(out, "'", 1);
}

static void quote_str(struct mitm_buf *out, const char *s)
{
    mitm_export_shell_quote(out, s, strlen(s));
}

/* A message copy after mitmproxy's Message.decode(strict=False): when the body is non-empty,
 * Content-Encoding is dropped, the body decoded (kept as is if it does not decode) and
 * Content-Length set to its length unless Transfer-Encoding is present. */
struct msg {
    struct mitm_headers headers;
    struct mitm_buf body;
    bool missing;
};

static void msg_init(struct msg *m, const struct mitm_headers *h, const struct mitm_buf *content,
                     bool missing)
{
    mitm_headers_copy(&m->headers, h);
    mitm_buf_init(&m->body, 0);
    m->missing = missing;
    if (missing || content->len == 0)
        return;
    struct mitm_buf storage;
    struct mitm_slice body;
    mitm_buf_init(&storage, 0);
    mitm_encoding_message_content(h, content, false, MITM_EXPORT_DECODE_CAP, &storage, &body);
    mitm_buf_append(&m->body, body.base, body.len);
    mitm_buf_free(&storage);
    mitm_headers_remove(&m->headers, "content-encoding");
    if (mitm_headers_find(&m->headers, "transfer-encoding", 0) < 0) {
        char cl[32];
        int l = snprintf(cl, sizeof(cl), "%zu", m->body.len);
        mitm_headers_set(&m->headers, "content-length", cl, (size_t)l);
    }
}

static void msg_free(struct msg *m)
{
    mitm_headers_free(&m->headers);
    mitm_buf_free(&m->body);
}

/* mitmproxy's url.parse_authority(check=False): host (brackets removed) and port (0 = none). */
static void split_authority(const char *a, size_t n, char *host, size_t hcap, unsigned *port)
{
    *port = 0;
    const char *hs = a, *he = a + n;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (rb) {
            hs = a + 1;
            he = rb;
            if (rb + 1 < a + n && rb[1] == ':')
                *port = (unsigned)strtoul(rb + 2, NULL, 10);
        }
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon && !memchr(colon + 1, ':', (size_t)(a + n - colon - 1))) {
            char tmp[8] = "";
            size_t pl = (size_t)(a + n - colon - 1);
            bool digits = pl > 0 && pl < sizeof(tmp);
            for (size_t i = 0; digits && i < pl; i++)
                digits = colon[1 + i] >= '0' && colon[1 + i] <= '9';
            if (digits) {
                memcpy(tmp, colon + 1, pl);
                unsigned long p = strtoul(tmp, NULL, 10);
                if (p <= 65535) {
                    he = colon;
                    *port = (unsigned)p;
                }
            }
        }
    }
    snprintf(host, hcap, "%.*s", (int)(he - hs), hs);
}

/* mitmproxy's host_header: the authority (else Host) for HTTP/2+, the Host header for HTTP/1. */
static const char *host_header(const struct mitm_http_request *r, const struct mitm_headers *h, size_t *len)
{
    bool h1 = !r->http_version || strncmp(r->http_version, "HTTP/1", 6) == 0 || r->http_version[0] == 0;
    if (!h1 && r->authority && r->authority[0]) {
        *len = strlen(r->authority);
        return r->authority;
    }
    return mitm_headers_get(h, "host", len);
}

static void pretty_host(const struct mitm_http_request *r, const struct mitm_headers *h, char *out,
                        size_t cap)
{
    size_t len = 0;
    const char *hh = host_header(r, h, &len);
    unsigned port;
    if (hh)
        split_authority(hh, len, out, cap, &port);
    else
        snprintf(out, cap, "%s", r->host ? r->host : "");
}

void mitm_export_pretty_host(const struct mitm_http_request *r, char *out, size_t cap)
{
    pretty_host(r, &r->headers, out, cap);
}

/* mitmproxy's Request.pretty_url: from the host header (authority-form requests: the
 * authority), with the port left out when it is the scheme's default. */
static void pretty_url(const struct mitm_http_request *r, const struct mitm_headers *h, struct mitm_buf *out)
{
    const char *scheme = r->scheme ? r->scheme : "http";
    if (r->form == MITM_TARGET_AUTHORITY) {
        if (r->authority && r->authority[0])
            mitm_buf_printf(out, "%s", r->authority);
        else
            mitm_buf_printf(out, strchr(r->host, ':') ? "[%s]:%u" : "%s:%u", r->host, r->port);
        return;
    }
    size_t len = 0;
    const char *hh = host_header(r, h, &len);
    if (!hh) {
        /* request.url */
        bool v6 = r->host && strchr(r->host, ':');
        bool dflt = (strcmp(scheme, "http") == 0 && r->port == 80) ||
                    (strcmp(scheme, "https") == 0 && r->port == 443);
        mitm_buf_printf(out, "%s://%s%s%s", scheme, v6 ? "[" : "", r->host ? r->host : "", v6 ? "]" : "");
        if (!dflt)
            mitm_buf_printf(out, ":%u", r->port);
        mitm_buf_printf(out, "%s", r->path ? r->path : "");
        return;
    }
    char host[1024];
    unsigned port = r->port;
    if (hh) {
        split_authority(hh, len, host, sizeof(host), &port);
        if (!port)
            port = strcmp(scheme, "http") == 0 ? 80 : 443;
    } else {
        snprintf(host, sizeof(host), "%s", r->host ? r->host : "");
    }
    bool dflt = (strcmp(scheme, "http") == 0 && port == 80) || (strcmp(scheme, "https") == 0 && port == 443);
    bool v6 = strchr(host, ':') != NULL;
    mitm_buf_printf(out, "%s://%s%s%s", scheme, v6 ? "[" : "", host, v6 ? "]" : "");
    if (!dflt)
        mitm_buf_printf(out, ":%u", port);
    mitm_buf_printf(out, "%s", r->path && strcmp(r->path, "*") != 0 ? r->path : "");
}

void mitm_export_pretty_url(const struct mitm_http_request *r, struct mitm_buf *out)
{
    pretty_url(r, &r->headers, out);
}

/* Decode body bytes to text per the Content-Type (mitmproxy's infer_content_encoding) into
 * UTF-8. Returns 0, or -1 when the bytes are not valid in that charset. */
static int body_text(const struct mitm_headers *h, const struct mitm_buf *body, struct mitm_buf *text)
{
    size_t ctlen = 0;
    const char *ct = mitm_headers_get(h, "content-type", &ctlen);
    enum mitm_charset cs = mitm_charset_of(ct, ct ? ctlen : 0, MITM_CHARSET_LATIN1);
    return mitm_charset_decode(cs, mitm_buf_data(body), body->len, text);
}

/* request_content_for_console: the body text shell-quoted; control characters as \xNN and the
 * whole wrapped in "$(printf ...)" when there are any. */
static int console_body(const struct msg *m, struct mitm_buf *out, char *err, size_t errlen)
{
    struct mitm_buf text, esc;
    mitm_buf_init(&text, 0);
    mitm_buf_init(&esc, 0);
    if (body_text(&m->headers, &m->body, &text) != 0) {
        mitm_buf_free(&text);
        snprintf(err, errlen, "Request content must be valid unicode");
        return -1;
    }
    bool escaped = false;
    const uint8_t *t = mitm_buf_data(&text);
    for (size_t i = 0; i < text.len; i++) {
        if (t[i] < 32) {
            mitm_buf_printf(&esc, "\\x%02x", t[i]);
            escaped = true;
        } else {
            mitm_buf_append(&esc, &t[i], 1);
        }
    }
    if (escaped)
        mitm_buf_append(out, "\"$(printf ", 10);
    mitm_export_shell_quote(out, (const char *)mitm_buf_data(&esc), esc.len);
    if (escaped)
        mitm_buf_append(out, ")\"", 2);
    mitm_buf_free(&text);
    mitm_buf_free(&esc);
    return 0;
}

static bool header_value_is(const struct mitm_headers *h, const char *name, const char *v)
{
    size_t len = 0;
    const char *x = mitm_headers_get(h, name, &len);
    return x && len == strlen(v) && memcmp(x, v, len) == 0;
}

/* pop_headers: content-length always; host and :authority when equal to the host. */
static void pop_headers(const struct mitm_http_request *r, struct msg *m)
{
    mitm_headers_remove(&m->headers, "content-length");
    const char *host = r->host ? r->host : "";
    if (header_value_is(&m->headers, "host", host))
        mitm_headers_remove(&m->headers, "host");
    if (header_value_is(&m->headers, ":authority", host))
        mitm_headers_remove(&m->headers, ":authority");
}

static void quote_header(struct mitm_buf *out, const struct mitm_header *hd)
{
    struct mitm_buf kv;
    mitm_buf_init(&kv, 0);
    mitm_buf_append(&kv, hd->name, hd->name_len);
    mitm_buf_append(&kv, ": ", 2);
    mitm_buf_append(&kv, hd->value, hd->value_len);
    mitm_export_shell_quote(out, (const char *)mitm_buf_data(&kv), kv.len);
    mitm_buf_free(&kv);
}

static int curl(const struct mitm_flow *f, bool preserve_ip, struct mitm_buf *out, char *err, size_t errlen)
{
    const struct mitm_http_request *r = f->request;
    struct msg m;
    msg_init(&m, &r->headers, &r->content, r->content_missing);
    pop_headers(r, &m);
    mitm_buf_append(out, "curl", 4);
    const char *ip = f->server_conn.peer_host;
    char phost[1024];
    pretty_host(r, &m.headers, phost, sizeof(phost));
    if (preserve_ip && ip && strcmp(phost, ip) != 0) {
        char resolve[1200];
        snprintf(resolve, sizeof(resolve), "%s:%u:[%s]", phost, r->port, ip);
        mitm_buf_append(out, " --resolve ", 11);
        quote_str(out, resolve);
    }
    for (size_t i = 0; i < m.headers.n; i++) {
        const struct mitm_header *hd = &m.headers.v[i];
        if (hd->name_len == 15 && strncasecmp(hd->name, "accept-encoding", 15) == 0) {
            mitm_buf_append(out, " --compressed", 13);
            continue;
        }
        mitm_buf_append(out, " -H ", 4);
        quote_header(out, hd);
    }
    if (strcmp(r->method, "GET") != 0) {
        if (m.body.len == 0)
            mitm_buf_append(out, " -H 'content-length: 0'", 23);
        mitm_buf_append(out, " -X ", 4);
        quote_str(out, r->method);
    }
    struct mitm_buf url;
    mitm_buf_init(&url, 0);
    pretty_url(r, &m.headers, &url);
    mitm_buf_append(out, " ", 1);
    mitm_export_shell_quote(out, (const char *)mitm_buf_data(&url), url.len);
    mitm_buf_free(&url);
    int rc = 0;
    if (m.body.len) {
        mitm_buf_append(out, " -d ", 4);
        rc = console_body(&m, out, err, errlen);
    }
    msg_free(&m);
    return rc;
}

static int httpie(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    const struct mitm_http_request *r = f->request;
    struct msg m;
    msg_init(&m, &r->headers, &r->content, r->content_missing);
    pop_headers(r, &m);
    mitm_buf_append(out, "http ", 5);
    quote_str(out, r->method);
    struct mitm_buf url;
    mitm_buf_init(&url, 0);
    pretty_url(r, &m.headers, &url);
    mitm_buf_append(out, " ", 1);
    mitm_export_shell_quote(out, (const char *)mitm_buf_data(&url), url.len);
    mitm_buf_free(&url);
    for (size_t i = 0; i < m.headers.n; i++) {
        mitm_buf_append(out, " ", 1);
        quote_header(out, &m.headers.v[i]);
    }
    int rc = 0;
    if (m.body.len) {
        mitm_buf_append(out, " <<< ", 5);
        rc = console_body(&m, out, err, errlen);
    }
    msg_free(&m);
    return rc;
}

/* assemble_body: chunked when Transfer-Encoding says so (with trailers), else the bytes. */
static void assemble_body(const struct msg *m, const struct mitm_headers *trailers, struct mitm_buf *out)
{
    size_t len = 0;
    const char *te = mitm_headers_get(&m->headers, "transfer-encoding", &len);
    bool chunked = false;
    for (size_t i = 0; te && i + 7 <= len && !chunked; i++)
        chunked = strncasecmp(te + i, "chunked", 7) == 0;
    if (chunked) {
        mitm_h1_write_chunk(out, mitm_buf_data(&m->body), m->body.len);
        mitm_h1_write_last_chunk(out, trailers && trailers->n ? trailers : NULL);
    } else {
        mitm_buf_append(out, mitm_buf_data(&m->body), m->body.len);
    }
}

static int raw_request(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    const struct mitm_http_request *r = f->request;
    if (!r) {
        snprintf(err, errlen, "Can't export flow with no request.");
        return -1;
    }
    if (r->content_missing) {
        snprintf(err, errlen, "Request content missing.");
        return -1;
    }
    struct msg m;
    msg_init(&m, &r->headers, &r->content, false);
    /* _assemble_request_line: CONNECT -> authority, an authority -> absolute form, else path */
    struct mitm_http_request tmp = *r;
    tmp.headers = m.headers;
    enum mitm_target_form form = MITM_TARGET_ORIGIN;
    if (strcasecmp(r->method, "CONNECT") == 0)
        form = MITM_TARGET_AUTHORITY;
    else if (r->authority && r->authority[0])
        form = MITM_TARGET_ABSOLUTE;
    else if (r->form == MITM_TARGET_ASTERISK)
        form = MITM_TARGET_ASTERISK;
    mitm_h1_write_request_head(out, &tmp, form);
    assemble_body(&m, r->trailers, out);
    msg_free(&m);
    return 0;
}

static int raw_response(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    const struct mitm_http_response *r = f->response;
    if (!r) {
        snprintf(err, errlen, "Can't export flow with no response.");
        return -1;
    }
    if (r->content_missing) {
        snprintf(err, errlen, "Response content missing.");
        return -1;
    }
    struct msg m;
    msg_init(&m, &r->headers, &r->content, false);
    struct mitm_http_response tmp = *r;
    tmp.headers = m.headers;
    mitm_h1_write_response_head(out, &tmp);
    assemble_body(&m, r->trailers, out);
    msg_free(&m);
    return 0;
}

static int raw(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen)
{
    bool req = f->type == MITM_FLOW_HTTP && f->request && !f->request->content_missing;
    bool resp = f->type == MITM_FLOW_HTTP && f->response && !f->response->content_missing;
    if (req && resp) {
        raw_request(f, out, err, errlen);
        mitm_buf_append(out, "\r\n\r\n", 4);
        int rc = raw_response(f, out, err, errlen);
        if (rc == 0 && f->websocket) {
            /* mitmproxy >= 10.3: a third part, the messages as "[OUTGOING] " / "[INCOMING] " +
             * content joined by "\n" (WebSocketData._get_formatted_messages); a WebSocket flow
             * without messages still gets the separator and an empty part */
            mitm_buf_append(out, "\r\n\r\n", 4);
            for (size_t i = 0; i < f->websocket->n_messages; i++) {
                const struct mitm_websocket_message *m = &f->websocket->messages[i];
                if (i)
                    mitm_buf_append(out, "\n", 1);
                mitm_buf_append(out, m->from_client ? "[OUTGOING] " : "[INCOMING] ", 11);
                mitm_buf_append(out, m->content, m->len);
            }
        }
        return rc;
    }
    if (req)
        return raw_request(f, out, err, errlen);
    if (resp)
        return raw_response(f, out, err, errlen);
    snprintf(err, errlen, "Can't export flow with no request or response.");
    return -1;
}

int mitm_export(const char *format, const struct mitm_flow *f, bool preserve_ip, struct mitm_buf *out,
                char *err, size_t errlen)
{
    struct mitm_buf tmp;
    mitm_buf_init(&tmp, out->limit);
    int rc;
    bool is_http = f->type == MITM_FLOW_HTTP;
    if (strcmp(format, "raw") == 0) {
        rc = raw(f, &tmp, err, errlen);
    } else if (strcmp(format, "raw_request") == 0 || strcmp(format, "raw_response") == 0) {
        if (!is_http) {
            snprintf(err, errlen, "Can't export flow with no %s.",
                     format[4] == 'r' && format[6] == 'q' ? "request" : "response");
            rc = -1;
        } else {
            rc = format[6] == 'q' ? raw_request(f, &tmp, err, errlen) : raw_response(f, &tmp, err, errlen);
        }
    } else if (strcmp(format, "curl") == 0 || strcmp(format, "httpie") == 0) {
        if (!is_http || !f->request) {
            snprintf(err, errlen, "Can't export flow with no request.");
            rc = -1;
        } else {
            rc = format[0] == 'c' ? curl(f, preserve_ip, &tmp, err, errlen) : httpie(f, &tmp, err, errlen);
        }
    } else {
        snprintf(err, errlen, "No such export format: %s", format);
        rc = -1;
    }
    if (rc == 0 && mitm_buf_append(out, mitm_buf_data(&tmp), tmp.len) != 0) {
        snprintf(err, errlen, "export larger than the output cap");
        rc = -1;
    }
    mitm_buf_free(&tmp);
    return rc;
}

/* ---- charsets ---- */

const char *mitm_content_type_param(const char *ct, size_t len, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    const char *end = ct + len, *p = memchr(ct, ';', len);
    while (p && p < end) {
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1, *ve;
            if (v < end && *v == '"') {
                v++;
                ve = memchr(v, '"', (size_t)(end - v));
                if (!ve)
                    ve = end;
            } else {
                ve = v;
                while (ve < end && *ve != ';' && *ve != ' ' && *ve != '\t')
                    ve++;
            }
            *vl = (size_t)(ve - v);
            return v;
        }
        p = memchr(p, ';', (size_t)(end - p));
    }
    return NULL;
}

enum mitm_charset mitm_charset_of(const char *ct, size_t len, enum mitm_charset dflt)
{
    if (!ct)
        return dflt;
    size_t nl;
    const char *v = mitm_content_type_param(ct, len, "charset", &nl);
    if (v) {
        char name[32];
        if (nl == 0 || nl >= sizeof(name))
            return MITM_CHARSET_OTHER;
        for (size_t i = 0; i < nl; i++)
            name[i] = (char)((v[i] >= 'A' && v[i] <= 'Z') ? v[i] + 32 : v[i]);
        name[nl] = 0;
        static const char *const utf8[] = {"utf-8", "utf8", "u8", "utf"};
        static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "latin-1", "latin1",    "l1",
                                             "iso_8859-1", "8859",      "cp819",   "iso-ir-100"};
        static const char *const ascii[] = {"ascii", "us-ascii", "646", "us"};
        for (size_t i = 0; i < sizeof(utf8) / sizeof(*utf8); i++)
            if (strcmp(name, utf8[i]) == 0)
                return MITM_CHARSET_UTF8;
        for (size_t i = 0; i < sizeof(latin1) / sizeof(*latin1); i++)
            if (strcmp(name, latin1[i]) == 0)
                return MITM_CHARSET_LATIN1;
        for (size_t i = 0; i < sizeof(ascii) / sizeof(*ascii); i++)
            if (strcmp(name, ascii[i]) == 0)
                return MITM_CHARSET_ASCII;
        return MITM_CHARSET_OTHER;
    }
    for (size_t i = 0; i + 4 <= len; i++)
        if (strncasecmp(ct + i, "json", 4) == 0)
            return MITM_CHARSET_UTF8;
    return dflt;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629 §4), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t l;
    uint32_t min, cp;
    if ((c & 0xe0) == 0xc0) {
        l = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        l = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        l = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < l)
        return 0;
    for (size_t i = 1; i < l; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return l;
}

size_t mitm_utf8_seq(const uint8_t *p, size_t n)
{
    return n ? utf8_seq(p, n) : 0;
}

int mitm_charset_decode(enum mitm_charset cs, const uint8_t *p, size_t n, struct mitm_buf *out)
{
    for (size_t i = 0; i < n;) {
        if (cs == MITM_CHARSET_LATIN1) {
            if (p[i] < 0x80) {
                mitm_buf_append(out, &p[i], 1);
            } else {
                uint8_t two[2] = {(uint8_t)(0xc0 | (p[i] >> 6)), (uint8_t)(0x80 | (p[i] & 0x3f))};
                mitm_buf_append(out, two, 2);
            }
            i++;
            continue;
        }
        size_t l = utf8_seq(p + i, n - i);
        if (l == 0 || (cs == MITM_CHARSET_ASCII && l > 1))
            return -1;
        mitm_buf_append(out, p + i, l);
        i += l;
    }
    return 0;
}

int mitm_charset_encode(enum mitm_charset cs, const uint8_t *p, size_t n, struct mitm_buf *out)
{
    if (cs == MITM_CHARSET_UTF8 || cs == MITM_CHARSET_OTHER)
        return mitm_buf_append(out, p, n);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 1) {
            mitm_buf_append(out, &p[i], 1);
        } else if (l == 2 && cs == MITM_CHARSET_LATIN1 && p[i] <= 0xc3) {
            uint8_t b = (uint8_t)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3f));
            mitm_buf_append(out, &b, 1);
        } else {
            return -1;
        }
        i += l;
    }
    return 0;
}

/* ---- commands ---- */

static int cmd_export(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    (void)data;
    (void)n;
    return mitm_export(a[0].str, a[1].flows[0], mitm_options.export_preserve_original_ip, out, err, errlen);
}

static int cmd_export_file(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)data;
    (void)n;
    (void)out;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    int rc = mitm_export(a[0].str, a[1].flows[0], mitm_options.export_preserve_original_ip, &b, err, errlen);
    if (rc == 0) {
        FILE *fp = fopen(a[2].str, "wb");
        if (!fp || fwrite(mitm_buf_data(&b), 1, b.len, fp) != b.len) {
            snprintf(err, errlen, "%s: %s", a[2].str, strerror(errno));
            rc = -1;
        }
        if (fp && fclose(fp) != 0 && rc == 0) {
            snprintf(err, errlen, "%s: %s", a[2].str, strerror(errno));
            rc = -1;
        }
    }
    mitm_buf_free(&b);
    return rc;
}

static int cmd_export_formats(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                              char *err, size_t errlen)
{
    (void)data;
    (void)a;
    (void)n;
    (void)err;
    (void)errlen;
    size_t k;
    const char *const *v = mitm_export_formats(&k);
    for (size_t i = 0; i < k; i++)
        mitm_buf_printf(out, "%s%s", i ? "\n" : "", v[i]);
    return 0;
}

static const struct mitm_cmd_param export_params[] = {{"format", MITM_ARG_STR, NULL},
                                                      {"f", MITM_ARG_FLOW, NULL}};
static const struct mitm_cmd_param file_params[] = {
    {"format", MITM_ARG_STR, NULL}, {"flow", MITM_ARG_FLOW, NULL}, {"path", MITM_ARG_PATH, NULL}};

int mitm_export_register_commands(struct mitm_cmd_registry *reg, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"export", export_params, 2, "str", "Export a flow and return the result.", cmd_export, NULL},
        {"export.file", file_params, 3, NULL, "Export a flow to path.", cmd_export_file, NULL},
        {"export.formats", NULL, 0, "str[]", "Return a list of the supported export formats.",
         cmd_export_formats, NULL},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (mitm_cmd_register(reg, &defs[i], err, errlen) != 0)
            return -1;
    return 0;
}
