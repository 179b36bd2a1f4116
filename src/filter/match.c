/* Matching a compiled filter against a flow. Subjects that cost something to build
 * (decoded bodies, serialized headers, the URL, metadata text) are built at most once
 * per mitm_filter_match call, however often the expression uses them. */
#include "filter/filter.h"
#include "base/alloc.h"
#include "filter/node.h"
#include "flow/encoding.h"
#include "proto/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REQ = 0, RESP = 1 };

/* Per-call state: nothing here is shared between threads. */
struct mctx {
    const struct mitm_filter *flt;
    const struct mitm_flow *f;
    pcre2_match_data *md;
    int body_state[2]; /* 0 = not built, 1 = present, 2 = missing */
    struct mitm_slice body[2];
    struct mitm_buf body_store[2];
    bool head_done[2];
    struct mitm_buf head[2];
    char *url;
    bool meta_done;
    struct mitm_buf meta;
};

static bool search(struct mctx *c, const pcre2_code *re, const void *subject, size_t len)
{
    if (!c->md) {
        /* one ovector pair is enough: we only ask whether there is a match (rc 0 =
         * ovector too small, still a match) */
        c->md = pcre2_match_data_create(1, NULL);
        if (!c->md)
            return false;
    }
    int rc = pcre2_match(re, (PCRE2_SPTR)(subject ? subject : ""), len, 0, 0, c->md, c->flt->mctx);
    return rc >= 0;
}

static bool search_str(struct mctx *c, const pcre2_code *re, const char *s)
{
    return s && search(c, re, s, strlen(s));
}

static bool is_http(const struct mitm_flow *f)
{
    return f->type == MITM_FLOW_HTTP && f->request;
}

static const struct mitm_headers *msg_headers(const struct mitm_flow *f, int which)
{
    if (which == REQ)
        return f->request ? &f->request->headers : NULL;
    return f->response ? &f->response->headers : NULL;
}

/* Decoded body of the request or response (mitmproxy: get_content(strict=False));
 * false when there is no such message or its content was not kept. */
static bool body(struct mctx *c, int which, struct mitm_slice *out)
{
    if (c->body_state[which] == 0) {
        bool present = false;
        if (which == REQ && c->f->request)
            present = mitm_encoding_request_content(c->f->request, MITM_FILTER_DECODE_CAP,
                                                    &c->body_store[REQ], &c->body[REQ]);
        else if (which == RESP && c->f->response)
            present = mitm_encoding_response_content(c->f->response, MITM_FILTER_DECODE_CAP,
                                                     &c->body_store[RESP], &c->body[RESP]);
        c->body_state[which] = present ? 1 : 2;
    }
    *out = c->body[which];
    return c->body_state[which] == 1;
}

static bool match_body(struct mctx *c, const pcre2_code *re, bool want_req, bool want_resp)
{
    const struct mitm_flow *f = c->f;
    struct mitm_slice b;
    if (f->type == MITM_FLOW_TCP) {
        for (size_t i = 0; i < f->n_messages; i++) {
            const struct mitm_tcp_message *m = &f->messages[i];
            if ((m->from_client ? want_req : want_resp) && search(c, re, m->content, m->len))
                return true;
        }
        return false;
    }
    if (!is_http(f))
        return false;
    if (want_req && body(c, REQ, &b) && search(c, re, b.base, b.len))
        return true;
    if (want_resp && body(c, RESP, &b) && search(c, re, b.base, b.len))
        return true;
    /* then every WebSocket message of the direction (mitmproxy's FBod/FBodRequest/FBodResponse:
     * messages as stored, never decoded) */
    for (size_t i = 0; f->websocket && i < f->websocket->n_messages; i++) {
        const struct mitm_websocket_message *m = &f->websocket->messages[i];
        if ((m->from_client ? want_req : want_resp) && search(c, re, m->content, m->len))
            return true;
    }
    return false;
}

/* bytes(headers) in mitmproxy, with "\n" line ends instead of "\r\n" so that "$"
 * works at the end of a value under MULTILINE. */
static bool match_head(struct mctx *c, const pcre2_code *re, int which)
{
    const struct mitm_headers *h = msg_headers(c->f, which);
    if (!h)
        return false;
    struct mitm_buf *b = &c->head[which];
    if (!c->head_done[which]) {
        c->head_done[which] = true;
        for (size_t i = 0; i < h->n; i++) {
            mitm_buf_append(b, h->v[i].name, h->v[i].name_len);
            mitm_buf_append(b, ": ", 2);
            mitm_buf_append(b, h->v[i].value, h->v[i].value_len);
            mitm_buf_append(b, "\n", 1);
        }
    }
    return search(c, re, mitm_buf_data(b), b->len);
}

/* Any Content-Type field of the message matches (every field, not only the first). */
static bool match_ctype(struct mctx *c, const pcre2_code *re, int which)
{
    const struct mitm_headers *h = msg_headers(c->f, which);
    if (!h)
        return false;
    for (long i = mitm_headers_find(h, "content-type", 0); i >= 0;
         i = mitm_headers_find(h, "content-type", (size_t)i + 1))
        if (search(c, re, h->v[i].value, h->v[i].value_len))
            return true;
    return false;
}

/* ~a: mitmproxy's ASSET_TYPES, searched case-sensitively (they are compiled without
 * the ignore-case flag); "image/.*" searched anywhere is a substring test. */
bool filter_asset_ctype(const char *v, size_t len)
{
    static const char *const types[] = {
        "text/javascript", "application/x-javascript", "application/javascript", "text/css", "image/",
        "font/",           "application/font",
    };
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        if (memmem(v, len, types[t], strlen(types[t])))
            return true;
    return false;
}

static bool match_asset(const struct mitm_flow *f)
{
    if (!is_http(f) || !f->response)
        return false;
    const struct mitm_headers *h = &f->response->headers;
    for (long i = mitm_headers_find(h, "content-type", 0); i >= 0;
         i = mitm_headers_find(h, "content-type", (size_t)i + 1))
        if (filter_asset_ctype(h->v[i].value, h->v[i].value_len))
            return true;
    return false;
}

/* pretty_host when it is not request.host: the host of the Host header (or :authority), as
 * url.parse_authority(check=False) has it. False without such a header. */
bool filter_pretty_host(const struct mitm_http_request *r, const char **host, size_t *hl)
{
    size_t len = 0;
    const char *v = mitm_http_request_host_header(r, &len);
    if (!v)
        return false;
    long port;
    mitm_http_parse_authority(v, len, host, hl, &port);
    return true;
}

/* ~d: request.host, else pretty_host */
static bool match_domain(struct mctx *c, const pcre2_code *re)
{
    const struct mitm_http_request *r = c->f->request;
    if (search_str(c, re, r->host ? r->host : ""))
        return true;
    const char *host;
    size_t hl;
    return filter_pretty_host(r, &host, &hl) && search(c, re, host, hl);
}

static bool match_url(struct mctx *c, const pcre2_code *re)
{
    const struct mitm_http_request *r = c->f->request;
    if (!c->url) {
        size_t hl = 0;
        (void)mitm_http_request_host_header(r, &hl);
        size_t cap = 64 + hl + (r->scheme ? strlen(r->scheme) : 0) + (r->host ? strlen(r->host) : 0) +
                     (r->path ? strlen(r->path) : 0) + (r->authority ? strlen(r->authority) : 0);
        c->url = mitm_alloc(cap);
        mitm_http_request_url(r, true, c->url, cap);
    }
    return search_str(c, re, c->url);
}

static bool match_addr(struct mctx *c, const pcre2_code *re, const char *host, uint16_t port)
{
    if (!host)
        return false;
    /* f"{host}:{port}": IPv6 addresses stay unbracketed, as in mitmproxy */
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_buf_printf(&b, "%s:%u", host, port);
    bool m = search(c, re, mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return m;
}

/* Python's repr() of bytes: b'...' (or b"..." when only that avoids escaping). */
static void bytes_repr(struct mitm_buf *b, const uint8_t *p, size_t n)
{
    bool sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    mitm_buf_printf(b, "b%c", q);
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        if (ch == '\\' || ch == (uint8_t)q)
            mitm_buf_printf(b, "\\%c", ch);
        else if (ch == '\t')
            mitm_buf_append(b, "\\t", 2);
        else if (ch == '\n')
            mitm_buf_append(b, "\\n", 2);
        else if (ch == '\r')
            mitm_buf_append(b, "\\r", 2);
        else if (ch < 0x20 || ch >= 0x7f)
            mitm_buf_printf(b, "\\x%02x", ch);
        else
            mitm_buf_append(b, &ch, 1);
    }
    mitm_buf_append(b, &q, 1);
}

/* One metadata value as Python's str() shows it: text and numbers plainly, bytes as
 * b'...', booleans True/False, null None. Lists and dicts (and anything that is not a
 * well-formed tnetstring) are shown as their raw tnetstring: an approximation of
 * Python's repr that still lets a regex find the values inside. */
static void meta_value(struct mitm_buf *b, const uint8_t *t, size_t n)
{
    size_t i = 0, dlen = 0;
    while (i < n && i < 10 && t[i] >= '0' && t[i] <= '9')
        dlen = dlen * 10 + (size_t)(t[i++] - '0');
    if (i == 0 || i >= n || t[i] != ':' || n - i - 1 < 1 || dlen != n - i - 2) {
        mitm_buf_append(b, t, n);
        return;
    }
    const uint8_t *d = t + i + 1;
    switch (t[n - 1]) {
    case ',':
        bytes_repr(b, d, dlen);
        break;
    case '!':
        mitm_buf_printf(b, "%s", dlen == 4 && memcmp(d, "true", 4) == 0 ? "True" : "False");
        break;
    case '~':
        mitm_buf_printf(b, "None");
        break;
    case ';':
    case '#':
    case '^':
        mitm_buf_append(b, d, dlen);
        break;
    default:
        mitm_buf_append(b, t, n);
    }
}

/* "\n".join(f"{key}: {value}" for key, value in flow.metadata.items()) */
static bool match_meta(struct mctx *c, const pcre2_code *re)
{
    if (!c->meta_done) {
        c->meta_done = true;
        for (size_t i = 0; i < c->f->n_metadata; i++) {
            const struct mitm_meta *m = &c->f->metadata[i];
            if (i)
                mitm_buf_append(&c->meta, "\n", 1);
            mitm_buf_printf(&c->meta, "%s: ", m->key ? m->key : "");
            meta_value(&c->meta, m->tns, m->tns_len);
        }
    }
    return search(c, re, mitm_buf_data(&c->meta), c->meta.len);
}

static bool eval(struct mctx *c, const struct fnode *n)
{
    const struct mitm_flow *f = c->f;
    switch (n->kind) {
    case K_ALL:
        return true;
    case K_ASSET:
        return match_asset(f);
    case K_DNS:
    case K_UDP:
        return false; /* no DNS or UDP flows yet */
    case K_ERR:
        return f->error != NULL;
    case K_HTTP:
        return f->type == MITM_FLOW_HTTP;
    case K_MARKED:
        return f->marked && f->marked[0];
    case K_REQ:
        return is_http(f) && !f->response;
    case K_REPLAY:
        return f->is_replay != NULL;
    case K_REPLAYQ:
        return f->is_replay && strcmp(f->is_replay, "request") == 0;
    case K_REPLAYS:
        return f->is_replay && strcmp(f->is_replay, "response") == 0;
    case K_RESP:
        return is_http(f) && f->response;
    case K_TCP:
        return f->type == MITM_FLOW_TCP;
    case K_WEBSOCKET:
        return f->type == MITM_FLOW_HTTP && f->websocket != NULL;
    case K_BODY:
        return match_body(c, n->re, true, true);
    case K_BODYQ:
        return match_body(c, n->re, true, false);
    case K_BODYS:
        return match_body(c, n->re, false, true);
    case K_COMMENT:
        return search_str(c, n->re, f->comment ? f->comment : "");
    case K_DOMAIN:
        return is_http(f) && match_domain(c, n->re);
    case K_DST:
        return match_addr(c, n->re, f->server_conn.address_host, f->server_conn.address_port);
    case K_HEAD:
        return is_http(f) && (match_head(c, n->re, REQ) || match_head(c, n->re, RESP));
    case K_HEADQ:
        return is_http(f) && match_head(c, n->re, REQ);
    case K_HEADS:
        return is_http(f) && match_head(c, n->re, RESP);
    case K_METHOD:
        return is_http(f) && search_str(c, n->re, f->request->method ? f->request->method : "");
    case K_MARKER:
        return search_str(c, n->re, f->marked ? f->marked : "");
    case K_META:
        return match_meta(c, n->re);
    case K_SRC:
        return match_addr(c, n->re, f->client_conn.peer_host, f->client_conn.peer_port);
    case K_CTYPE:
        return is_http(f) && (match_ctype(c, n->re, REQ) || match_ctype(c, n->re, RESP));
    case K_CTYPEQ:
        return is_http(f) && match_ctype(c, n->re, REQ);
    case K_CTYPES:
        return is_http(f) && match_ctype(c, n->re, RESP);
    case K_URL:
        return is_http(f) && match_url(c, n->re);
    case K_CODE:
        return is_http(f) && f->response && f->response->status_code == n->num;
    case K_NOT:
        return !eval(c, n->kids[0]);
    case K_AND:
        for (size_t i = 0; i < n->n; i++)
            if (!eval(c, n->kids[i]))
                return false;
        return true;
    case K_OR:
        for (size_t i = 0; i < n->n; i++)
            if (eval(c, n->kids[i]))
                return true;
        return false;
    }
    return false;
}

bool mitm_filter_match(const struct mitm_filter *flt, const struct mitm_flow *flow)
{
    struct mctx c;
    memset(&c, 0, sizeof(c));
    c.flt = flt;
    c.f = flow;
    for (int i = 0; i < 2; i++) {
        mitm_buf_init(&c.body_store[i], 0);
        mitm_buf_init(&c.head[i], 0);
    }
    mitm_buf_init(&c.meta, 0);
    bool m = eval(&c, flt->root);
    for (int i = 0; i < 2; i++) {
        mitm_buf_free(&c.body_store[i]);
        mitm_buf_free(&c.head[i]);
    }
    mitm_buf_free(&c.meta);
    free(c.url);
    if (c.md)
        pcre2_match_data_free(c.md);
    return m;
}
