#include "proto/http2/h2conn.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "layer/layer.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_STREAMS     100
#define DEFAULT_MAX_HEADER_LIST (64 * 1024)
#define DEFAULT_STREAM_WINDOW   (1 << 20)
#define DEFAULT_RESET_BUDGET    200
/* The connection window we announce: large, since it is refilled as bytes arrive. */
#define CONN_WINDOW (16 << 20)

/* One HTTP/2 stream. */
struct h2s {
    int32_t id;   /* HTTP/2 stream id; -1 until nghttp2 assigned it (client role) */
    uint32_t sid; /* the layer's stream id */
    /* the incoming message being assembled (request: server role; response: client role) */
    struct mitm_http_request *req;
    struct mitm_http_response *resp;
    struct mitm_headers *trailers;
    bool head_seen;      /* its header block has been delivered (another one is trailers) */
    bool in_ended;       /* END_STREAM received */
    bool out_ended;      /* our END_STREAM went out */
    bool head_sent;      /* our header block was submitted */
    bool out_eof;        /* the layer sent END: no more body after out */
    bool deferred;       /* the data source is waiting for bytes */
    bool reported;       /* an error for it was emitted */
    size_t header_bytes; /* of the header block being received (RFC 9113 §6.5.2's sizes) */
    struct mitm_buf out; /* body bytes not yet handed to nghttp2 */
    struct mitm_headers *out_trailers;
    struct h2s *next;
};

struct mitm_h2conn {
    struct mitm_http_codec base;
    nghttp2_session *ng;
    struct mitm_h2_limits lim;
    struct h2s *streams;
    uint32_t resets_left; /* reset budget (CVE-2023-44487) */
    bool dead;            /* connection-level failure: input ignored */
    bool goaway;          /* the peer sent GOAWAY: no new streams */
    bool flushing;
};

static const struct mitm_http_codec_vt h2_vt;

static struct mitm_h2conn *H(struct mitm_http_codec *b)
{
    return (struct mitm_h2conn *)b;
}

/* ---- streams --------------------------------------------------------------------- */

static struct h2s *stream_new(struct mitm_h2conn *c, int32_t id, uint32_t sid)
{
    struct h2s *s = mitm_calloc(1, sizeof(*s));
    s->id = id;
    s->sid = sid;
    mitm_buf_init(&s->out, 0);
    s->next = c->streams;
    c->streams = s;
    return s;
}

static void headers_drop(struct mitm_headers *h)
{
    if (h) {
        mitm_headers_free(h);
        free(h);
    }
}

static void stream_free(struct h2s *s)
{
    mitm_http_request_free(s->req);
    mitm_http_response_free(s->resp);
    headers_drop(s->trailers);
    headers_drop(s->out_trailers);
    mitm_buf_free(&s->out);
    free(s);
}

static struct h2s *by_id(struct mitm_h2conn *c, int32_t id)
{
    for (struct h2s *s = c->streams; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static struct h2s *by_sid(struct mitm_h2conn *c, uint32_t sid)
{
    for (struct h2s *s = c->streams; s; s = s->next)
        if (s->sid == sid)
            return s;
    return NULL;
}

static void stream_remove(struct mitm_h2conn *c, struct h2s *s)
{
    for (struct h2s **p = &c->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    stream_free(s);
}

static void emit(struct mitm_h2conn *c, struct mitm_http_event *ev)
{
    c->base.emit(c->base.emit_arg, &c->base, ev);
}

static bool server_role(const struct mitm_h2conn *c)
{
    return c->base.role == MITM_CODEC_SERVER;
}

/* The exchange of s failed on this side: one error event, once. */
static void stream_error(struct mitm_h2conn *c, struct h2s *s, const char *msg)
{
    if (s->reported)
        return;
    s->reported = true;
    enum mitm_http_ev_type t = server_role(c) ? MITM_HTTP_REQUEST_ERROR : MITM_HTTP_RESPONSE_ERROR;
    emit(c, mitm_http_event_error(t, s->sid, server_role(c) ? 0 : 502, msg));
}

/* ---- output ------------------------------------------------------------------------ */

/* Everything nghttp2 wants to send, as one SEND command. */
static void flush(struct mitm_h2conn *c)
{
    if (c->flushing)
        return;
    c->flushing = true;
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        if (n <= 0)
            break;
        mitm_buf_append(&out, p, (size_t)n);
    }
    if (out.len && mitm_conn_writable(c->base.conn)) {
        struct mitm_cmd *cmd = mitm_cmd_new(MITM_CMD_SEND);
        cmd->conn = c->base.conn;
        cmd->data = mitm_buf_steal(&out, &cmd->len);
        mitm_layer_emit(c->base.owner, cmd);
    }
    mitm_buf_free(&out);
    c->flushing = false;
    if (!c->dead && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        /* both sides are done with the session (GOAWAY and no streams left) */
        c->dead = true;
        if (mitm_conn_writable(c->base.conn))
            mitm_layer_close(c->base.owner, c->base.conn, false);
    }
}

static ssize_t read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    (void)src;
    struct mitm_h2conn *c = user;
    struct h2s *s = by_id(c, id);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = s->out.len < len ? s->out.len : len;
    memcpy(buf, mitm_buf_data(&s->out), n);
    mitm_buf_consume(&s->out, n);
    if (s->out.len == 0 && s->out_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s->out_ended = true;
        if (s->out_trailers) {
            /* RFC 9113 §8.1: trailers end the stream in their own HEADERS frame */
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_nv nv[64];
            size_t k = 0;
            for (size_t i = 0; i < s->out_trailers->n && k < 64; i++) {
                struct mitm_header *h = &s->out_trailers->v[i];
                for (size_t j = 0; j < h->name_len; j++)
                    h->name[j] =
                        (char)(h->name[j] >= 'A' && h->name[j] <= 'Z' ? h->name[j] + 32 : h->name[j]);
                nv[k++] = (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, h->name_len, h->value_len,
                                       NGHTTP2_NV_FLAG_NONE};
            }
            nghttp2_submit_trailer(ng, id, nv, k);
        }
    } else if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* ---- header translation ----------------------------------------------------------- */

struct nvlist {
    nghttp2_nv *v;
    size_t n, cap;
    struct mitm_buf names; /* lowercased names (offsets into it, fixed up at the end) */
};

static void nv_add(struct nvlist *l, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = mitm_realloc(l->v, l->cap * sizeof(*l->v));
    }
    /* names go lowercase into one buffer (RFC 9113 §8.2.1); the pointer is an offset until
     * nv_done, since the buffer may move */
    size_t off = l->names.len;
    for (size_t i = 0; i < nlen; i++) {
        char ch = name[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        mitm_buf_append(&l->names, &ch, 1);
    }
    l->v[l->n++] =
        (nghttp2_nv){(uint8_t *)(uintptr_t)off, (uint8_t *)value, nlen, vlen, NGHTTP2_NV_FLAG_NONE};
}

static void nv_done(struct nvlist *l)
{
    uint8_t *base = (uint8_t *)(uintptr_t)mitm_buf_data(&l->names); /* nghttp2 copies names */
    for (size_t i = 0; i < l->n; i++)
        l->v[i].name = base + (uintptr_t)l->v[i].name;
}

static void nv_free(struct nvlist *l)
{
    free(l->v);
    mitm_buf_free(&l->names);
}

static bool name_is(const struct mitm_header *h, const char *n)
{
    return h->name_len == strlen(n) && strncasecmp(h->name, n, h->name_len) == 0;
}

/* Is h named in a Connection header of hs? (those are hop-by-hop, RFC 9110 §7.6.1) */
static bool listed_in_connection(const struct mitm_headers *hs, const struct mitm_header *h)
{
    for (long i = mitm_headers_find(hs, "connection", 0); i >= 0;
         i = mitm_headers_find(hs, "connection", i + 1)) {
        const char *v = hs->v[i].value, *end = v + hs->v[i].value_len;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *b = v;
            while (v < end && *v != ',' && *v != ' ' && *v != '\t')
                v++;
            if ((size_t)(v - b) == h->name_len && strncasecmp(b, h->name, h->name_len) == 0)
                return true;
            while (v < end && *v != ',')
                v++;
        }
    }
    return false;
}

/* RFC 9113 §8.2.2: connection-specific fields never go on an HTTP/2 connection (TE only as
 * "trailers"); Host becomes :authority. */
static bool h2_forbidden(const struct mitm_headers *hs, const struct mitm_header *h)
{
    static const char *const hop[] = {"connection",        "keep-alive", "proxy-connection",
                                      "transfer-encoding", "upgrade",    "host"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (name_is(h, hop[i]))
            return true;
    if (name_is(h, "te"))
        return !(h->value_len == 8 && strncasecmp(h->value, "trailers", 8) == 0);
    return listed_in_connection(hs, h);
}

/* The regular fields of hs, with Cookie split into crumbs (RFC 9113 §8.2.3). */
static void nv_headers(struct nvlist *l, const struct mitm_headers *hs)
{
    for (size_t i = 0; i < hs->n; i++) {
        const struct mitm_header *h = &hs->v[i];
        if (h2_forbidden(hs, h))
            continue;
        if (!name_is(h, "cookie")) {
            nv_add(l, h->name, h->name_len, h->value, h->value_len);
            continue;
        }
        const char *v = h->value, *end = v + h->value_len;
        while (v < end) {
            const char *semi = memchr(v, ';', (size_t)(end - v));
            const char *e = semi ? semi : end;
            if (e > v)
                nv_add(l, "cookie", 6, v, (size_t)(e - v));
            v = semi ? semi + 1 : end;
            while (v < end && *v == ' ')
                v++;
        }
    }
}

/* ---- input: nghttp2 callbacks -------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    (void)ng;
    struct mitm_h2conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (server_role(c) && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        struct h2s *s = stream_new(c, f->hd.stream_id, (uint32_t)f->hd.stream_id);
        s->req = mitm_http_request_new();
        s->req->http_version = mitm_strdup("HTTP/2.0");
        s->req->form = MITM_TARGET_ORIGIN;
        return 0;
    }
    struct h2s *s = by_id(c, f->hd.stream_id);
    if (s && !s->head_seen && !server_role(c) && !s->resp) {
        s->resp = mitm_http_response_new();
        s->resp->http_version = mitm_strdup("HTTP/2.0");
        s->resp->reason = mitm_strdup("");
    } else if (s && s->head_seen && !s->trailers) {
        s->trailers = mitm_calloc(1, sizeof(*s->trailers));
    }
    return 0;
}

static void set_str(char **f, const uint8_t *v, size_t n)
{
    mitm_str_set(f, (const char *)v, n);
}

/* A pseudo-header of a request (nghttp2 has checked that they come first, once each, and
 * that the required ones are there: RFC 9113 §8.3.1). */
static void request_pseudo(struct mitm_http_request *r, const uint8_t *n, size_t nl, const uint8_t *v,
                           size_t vl)
{
    if (nl == 7 && memcmp(n, ":method", 7) == 0)
        set_str(&r->method, v, vl);
    else if (nl == 7 && memcmp(n, ":scheme", 7) == 0)
        set_str(&r->scheme, v, vl);
    else if (nl == 10 && memcmp(n, ":authority", 10) == 0)
        set_str(&r->authority, v, vl);
    else if (nl == 5 && memcmp(n, ":path", 5) == 0)
        set_str(&r->path, v, vl);
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                     const uint8_t *v, size_t vl, uint8_t flags, void *user)
{
    (void)ng;
    (void)flags;
    struct mitm_h2conn *c = user;
    struct h2s *s = by_id(c, f->hd.stream_id);
    if (!s)
        return 0;
    /* SETTINGS_MAX_HEADER_LIST_SIZE is only advertised by nghttp2: a peer that sends more
     * (HPACK lets a few bytes name a large table entry) gets the stream reset */
    s->header_bytes += nl + vl + 32;
    if (s->header_bytes > c->lim.max_header_list) {
        mitm_layer_log(c->base.owner, MITM_LOG_INFO,
                       "HTTP/2 peer %s sent a header list over %u bytes on stream %d: stream reset",
                       c->base.conn->peer, (unsigned)c->lim.max_header_list, f->hd.stream_id);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (s->head_seen) {
        if (s->trailers && (nl == 0 || n[0] != ':'))
            mitm_headers_add(s->trailers, (const char *)n, nl, (const char *)v, vl);
        return 0;
    }
    if (s->req) {
        if (nl && n[0] == ':') {
            request_pseudo(s->req, n, nl, v, vl);
        } else if (nl == 6 && memcmp(n, "cookie", 6) == 0) {
            /* RFC 9113 §8.2.3: crumbs are joined with "; " for the HTTP/1-shaped model */
            long i = mitm_headers_find(&s->req->headers, "cookie", 0);
            if (i < 0) {
                mitm_headers_add(&s->req->headers, "cookie", 6, (const char *)v, vl);
            } else {
                struct mitm_header *h = &s->req->headers.v[i];
                size_t len = h->value_len + 2 + vl;
                char *joined = mitm_alloc(len + 1);
                memcpy(joined, h->value, h->value_len);
                memcpy(joined + h->value_len, "; ", 2);
                memcpy(joined + h->value_len + 2, v, vl);
                joined[len] = 0;
                mitm_headers_set(&s->req->headers, "cookie", joined, len);
                free(joined);
            }
        } else {
            mitm_headers_add(&s->req->headers, (const char *)n, nl, (const char *)v, vl);
        }
    } else if (s->resp) {
        if (nl == 7 && memcmp(n, ":status", 7) == 0) {
            int st = 0;
            for (size_t i = 0; i < vl && i < 3; i++)
                st = st * 10 + (v[i] - '0');
            s->resp->status_code = st;
        } else if (!(nl && n[0] == ':')) {
            mitm_headers_add(&s->resp->headers, (const char *)n, nl, (const char *)v, vl);
        }
    }
    return 0;
}

/* host and port of a request from :authority (or Host), by its scheme's default port. */
static void request_destination(struct mitm_http_request *r)
{
    if (!r->scheme)
        r->scheme = mitm_strdup("https");
    if (!r->path)
        r->path = mitm_strdup("");
    if (!r->authority)
        r->authority = mitm_strdup("");
    uint16_t dflt = strcmp(r->scheme, "http") == 0 ? 80 : 443;
    const char *a = r->authority;
    size_t al = strlen(a);
    if (!al)
        a = mitm_headers_get(&r->headers, "host", &al);
    char *host = NULL;
    uint16_t port = 0;
    if (a && al && mitm_h1_parse_authority(a, al, dflt, &host, &port) >= 0) {
        free(r->host);
        r->host = host;
        r->port = port;
    }
    if (!r->host)
        r->host = mitm_strdup("");
    if (r->path[0] == '*' && r->path[1] == 0)
        r->form = MITM_TARGET_ASTERISK;
}

static void deliver_head(struct mitm_h2conn *c, struct h2s *s, bool end_stream)
{
    struct mitm_http_event *ev;
    if (s->req) {
        request_destination(s->req);
        ev = mitm_http_event_new(MITM_HTTP_REQUEST_HEADERS, s->sid);
        ev->req = s->req;
        s->req = NULL;
    } else {
        if (s->resp->status_code >= 100 && s->resp->status_code < 200) {
            /* interim response: dropped, as the HTTP/1 codec does (RFC 9110 §15.2) */
            mitm_http_response_free(s->resp);
            s->resp = NULL;
            return;
        }
        ev = mitm_http_event_new(MITM_HTTP_RESPONSE_HEADERS, s->sid);
        ev->resp = s->resp;
        s->resp = NULL;
    }
    ev->end_stream = end_stream;
    s->head_seen = true;
    s->header_bytes = 0; /* trailers are a block of their own */
    emit(c, ev);
}

static void deliver_end(struct mitm_h2conn *c, struct h2s *s)
{
    s->in_ended = true;
    struct mitm_http_event *ev =
        mitm_http_event_new(server_role(c) ? MITM_HTTP_REQUEST_END : MITM_HTTP_RESPONSE_END, s->sid);
    ev->trailers = s->trailers;
    s->trailers = NULL;
    emit(c, ev);
}

/* CVE-2023-44487 ("rapid reset"): a peer that opens and cancels streams costs us a flow and
 * an upstream exchange each; past the budget it gets GOAWAY(ENHANCE_YOUR_CALM). */
static void count_reset(struct mitm_h2conn *c)
{
    if (c->resets_left > 0 && --c->resets_left == 0) {
        mitm_layer_log(c->base.owner, MITM_LOG_WARN,
                       "HTTP/2 peer %s reset too many streams (rapid reset, CVE-2023-44487): closing",
                       c->base.conn->peer);
        nghttp2_session_terminate_session(c->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    (void)ng;
    struct mitm_h2conn *c = user;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        return 0;
    }
    struct h2s *s = f->hd.stream_id ? by_id(c, f->hd.stream_id) : NULL;
    if (f->hd.type == NGHTTP2_RST_STREAM && s && server_role(c) && !(s->in_ended && s->out_ended))
        count_reset(c); /* whatever the error code: NO_ERROR resets cost the same */
    if (!s || s->reported)
        return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (!s->head_seen && (s->req || s->resp))
            deliver_head(c, s, end);
        if (end && s->head_seen && !s->in_ended)
            deliver_end(c, s);
    } else if (f->hd.type == NGHTTP2_DATA && end && s->head_seen && !s->in_ended) {
        deliver_end(c, s);
    }
    return 0;
}

static int on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user)
{
    (void)flags;
    struct mitm_h2conn *c = user;
    /* the connection window is ours to refill at once; the stream's waits for the layer */
    nghttp2_session_consume_connection(ng, len);
    struct h2s *s = by_id(c, id);
    if (!s || s->reported || !s->head_seen) {
        nghttp2_session_consume_stream(ng, id, len);
        return 0;
    }
    emit(c, mitm_http_event_data(server_role(c) ? MITM_HTTP_REQUEST_DATA : MITM_HTTP_RESPONSE_DATA, s->sid,
                                 data, len));
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    (void)ng;
    struct mitm_h2conn *c = user;
    struct h2s *s = by_id(c, id);
    if (!s)
        return 0;
    bool complete = s->in_ended && (s->out_ended || !server_role(c));
    if (!complete && !s->reported) {
        char msg[160];
        snprintf(msg, sizeof(msg), "HTTP/2 stream %d reset by %s (%s)", id,
                 server_role(c) ? "client" : "server", nghttp2_http2_strerror(code));
        stream_error(c, s, msg); /* whatever the code: the exchange did not finish */
    } else if (complete && server_role(c) && c->resets_left < c->lim.reset_budget) {
        c->resets_left++; /* a finished exchange earns one reset back */
    }
    stream_remove(c, s);
    return 0;
}

/* RFC 9113 §8.1: a complete response sent before the request ended (an early error
 * response, say) asks the client to stop sending with RST_STREAM(NO_ERROR); its flow is
 * over, and a stream whose window nobody will reopen must not hold the client forever. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct mitm_h2conn *c = user;
    if (!server_role(c) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
        return 0;
    struct h2s *s = by_id(c, f->hd.stream_id);
    if (s && !s->in_ended) {
        s->reported = true;
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *f, int err, void *user)
{
    (void)ng;
    struct mitm_h2conn *c = user;
    mitm_layer_log(c->base.owner, MITM_LOG_INFO, "HTTP/2 peer %s sent an invalid frame on stream %d: %s",
                   c->base.conn->peer, f->hd.stream_id, nghttp2_strerror(err));
    return 0;
}

/* ---- the codec interface ------------------------------------------------------------- */

static void fail_all(struct mitm_h2conn *c, const char *msg)
{
    c->dead = true;
    for (struct h2s *s = c->streams; s; s = s->next)
        if (!(s->in_ended && s->out_ended))
            stream_error(c, s, msg);
}

static void h2_feed(struct mitm_http_codec *b, const uint8_t *data, size_t len)
{
    struct mitm_h2conn *c = H(b);
    if (c->dead)
        return;
    ssize_t n = nghttp2_session_mem_recv(c->ng, data, len);
    if (n < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "HTTP/2 protocol error from %s: %s", b->conn->peer,
                 nghttp2_strerror((int)n));
        mitm_layer_log(b->owner, MITM_LOG_INFO, "%s", msg);
        if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
            nghttp2_session_terminate_session(c->ng, NGHTTP2_PROTOCOL_ERROR);
        flush(c);
        fail_all(c, msg);
        if (mitm_conn_writable(b->conn))
            mitm_layer_close(b->owner, b->conn, false);
        return;
    }
    flush(c);
}

static void h2_eof(struct mitm_http_codec *b)
{
    struct mitm_h2conn *c = H(b);
    fail_all(c, server_role(c) ? "Client disconnected." : "server disconnected");
}

/* The body and END of a stream we send. */
static void queue_data(struct mitm_h2conn *c, struct h2s *s, const struct mitm_http_event *ev)
{
    if (ev->type == MITM_HTTP_REQUEST_DATA || ev->type == MITM_HTTP_RESPONSE_DATA) {
        mitm_buf_append(&s->out, ev->data, ev->len);
    } else {
        s->out_eof = true;
        if (ev->trailers && ev->trailers->n) {
            s->out_trailers = mitm_calloc(1, sizeof(*s->out_trailers));
            mitm_headers_copy(s->out_trailers, ev->trailers);
        }
    }
    if (s->deferred && s->id > 0) {
        s->deferred = false;
        nghttp2_session_resume_data(c->ng, s->id);
    }
}

static void send_response_head(struct mitm_h2conn *c, struct h2s *s, struct mitm_http_response *r)
{
    char st[8];
    snprintf(st, sizeof(st), "%03d", r->status_code % 1000);
    struct nvlist l = {0};
    mitm_buf_init(&l.names, 0);
    nv_add(&l, ":status", 7, st, 3);
    nv_headers(&l, &r->headers);
    nv_done(&l);
    if (r->status_code >= 100 && r->status_code < 200) {
        /* interim (100 Continue): a HEADERS frame of its own */
        nghttp2_submit_headers(c->ng, NGHTTP2_FLAG_NONE, s->id, NULL, l.v, l.n, NULL);
    } else {
        nghttp2_data_provider dp = {.read_callback = read_body};
        s->head_sent = true;
        int rv = nghttp2_submit_response(c->ng, s->id, l.v, l.n, &dp);
        if (rv < 0)
            stream_error(c, s, nghttp2_strerror(rv));
    }
    nv_free(&l);
}

/* An HTTP/1-shaped request as an HTTP/2 request (RFC 9113 §8.3.1): :authority from the
 * authority, else Host, else host:port. */
static void send_request_head(struct mitm_h2conn *c, uint32_t sid, struct mitm_http_request *r, bool end)
{
    if (c->goaway || c->dead) {
        struct h2s *s = stream_new(c, -1, sid);
        stream_error(c, s, "HTTP/2 server connection is going away");
        stream_remove(c, s);
        return;
    }
    char auth[300];
    size_t hl;
    const char *host = mitm_headers_get(&r->headers, "host", &hl);
    if (r->authority && r->authority[0])
        snprintf(auth, sizeof(auth), "%s", r->authority);
    else if (host)
        snprintf(auth, sizeof(auth), "%.*s", (int)(hl < 299 ? hl : 299), host);
    else
        snprintf(auth, sizeof(auth), strchr(r->host, ':') ? "[%s]:%u" : "%s:%u", r->host, r->port);
    struct nvlist l = {0};
    mitm_buf_init(&l.names, 0);
    nv_add(&l, ":method", 7, r->method, strlen(r->method));
    nv_add(&l, ":scheme", 7, r->scheme, strlen(r->scheme));
    nv_add(&l, ":authority", 10, auth, strlen(auth));
    const char *path = r->path && r->path[0] ? r->path : "/";
    nv_add(&l, ":path", 5, path, strlen(path));
    nv_headers(&l, &r->headers);
    nv_done(&l);
    struct h2s *s = stream_new(c, -1, sid);
    nghttp2_data_provider dp = {.read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, l.v, l.n, end ? NULL : &dp, NULL);
    nv_free(&l);
    if (id < 0) {
        stream_error(c, s, nghttp2_strerror(id));
        stream_remove(c, s);
        return;
    }
    s->id = id;
    s->head_sent = true;
    s->out_eof = s->out_ended = end;
}

static void h2_send(struct mitm_http_codec *b, struct mitm_http_event *ev)
{
    struct mitm_h2conn *c = H(b);
    struct h2s *s = by_sid(c, ev->stream_id);
    switch (ev->type) {
    case MITM_HTTP_REQUEST_HEADERS:
        send_request_head(c, ev->stream_id, ev->req, ev->end_stream);
        break;
    case MITM_HTTP_RESPONSE_HEADERS:
        if (s && !s->head_sent)
            send_response_head(c, s, ev->resp);
        break;
    case MITM_HTTP_REQUEST_DATA:
    case MITM_HTTP_RESPONSE_DATA:
    case MITM_HTTP_REQUEST_END:
    case MITM_HTTP_RESPONSE_END:
        if (s && s->head_sent && !s->out_ended)
            queue_data(c, s, ev);
        break;
    default:
        break;
    }
    mitm_http_event_free(ev);
    if (!c->dead)
        flush(c);
}

static bool h2_reusable(const struct mitm_http_codec *b)
{
    const struct mitm_h2conn *c = (const struct mitm_h2conn *)b;
    if (c->dead || c->goaway || b->conn->state != MITM_CONN_OPEN)
        return false;
    size_t open = 0;
    for (struct h2s *s = c->streams; s; s = s->next)
        open++;
    return open < nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

static bool h2_multiplexed(const struct mitm_http_codec *b)
{
    (void)b;
    return true;
}

static void h2_take_rest(struct mitm_http_codec *b, uint8_t **data, size_t *len)
{
    (void)b;
    *data = NULL; /* no CONNECT tunnels or upgrades on HTTP/2 yet */
    *len = 0;
}

static void h2_refuse(struct mitm_http_codec *b, int status, const char *msg)
{
    struct mitm_h2conn *c = H(b);
    (void)status;
    (void)msg;
    nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
    flush(c);
    c->dead = true;
    if (mitm_conn_writable(b->conn))
        mitm_layer_close(b->owner, b->conn, false);
}

static void h2_consumed(struct mitm_http_codec *b, uint32_t sid, size_t n)
{
    struct mitm_h2conn *c = H(b);
    struct h2s *s = by_sid(c, sid);
    if (!s || s->id <= 0 || c->dead)
        return;
    nghttp2_session_consume_stream(c->ng, s->id, n);
    flush(c);
}

static void h2_cancel(struct mitm_http_codec *b, uint32_t sid)
{
    struct mitm_h2conn *c = H(b);
    struct h2s *s = by_sid(c, sid);
    if (!s || s->id <= 0 || c->dead)
        return;
    s->reported = true; /* our own reset: nothing to report back */
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    flush(c);
}

static bool h2_ping(struct mitm_http_codec *b)
{
    struct mitm_h2conn *c = H(b);
    if (c->dead || !mitm_conn_writable(b->conn))
        return false;
    /* the opaque data is ours to choose (RFC 9113 §6.7); mitmproxy's eight ASCII zeros */
    if (nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, (const uint8_t *)"00000000") != 0)
        return false;
    flush(c);
    return true;
}

static void h2_free(struct mitm_http_codec *b)
{
    struct mitm_h2conn *c = H(b);
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    while (c->streams) {
        struct h2s *s = c->streams;
        c->streams = s->next;
        stream_free(s);
    }
    free(c);
}

static const struct mitm_http_codec_vt h2_vt = {
    .name = "HTTP/2",
    .version = "HTTP/2.0",
    .feed = h2_feed,
    .eof = h2_eof,
    .send = h2_send,
    .reusable = h2_reusable,
    .multiplexed = h2_multiplexed,
    .take_rest = h2_take_rest,
    .refuse = h2_refuse,
    .consumed = h2_consumed,
    .cancel = h2_cancel,
    .ping = h2_ping,
    .free = h2_free,
};

static uint32_t or_default(uint32_t v, uint32_t d)
{
    return v ? v : d;
}

static uint32_t clamp(int64_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

void mitm_h2_limits_from(struct mitm_h2_limits *lim, const struct mitm_options *o)
{
    memset(lim, 0, sizeof(*lim));
    lim->max_concurrent_streams = clamp(o->http2_max_concurrent_streams, 1, 1000);
    lim->max_header_list = clamp(mitm_options_size(o->http2_max_header_list_size), 1024, 1 << 20);
    lim->max_frame_size = clamp(mitm_options_size(o->http2_max_frame_size), 1 << 14, (1 << 24) - 1);
}

struct mitm_http_codec *mitm_h2conn_new(enum mitm_codec_role role, struct mitm_layer *owner,
                                        struct mitm_conn *conn, const struct mitm_h2_limits *lim,
                                        mitm_http_codec_emit_fn emit, void *emit_arg)
{
    struct mitm_h2conn *c = mitm_calloc(1, sizeof(*c));
    c->base = (struct mitm_http_codec){
        .vt = &h2_vt, .role = role, .owner = owner, .conn = conn, .emit = emit, .emit_arg = emit_arg};
    struct mitm_h2_limits z = {0};
    const struct mitm_h2_limits *L = lim ? lim : &z;
    c->lim.max_concurrent_streams = or_default(L->max_concurrent_streams, DEFAULT_MAX_STREAMS);
    c->lim.max_header_list = or_default(L->max_header_list, DEFAULT_MAX_HEADER_LIST);
    c->lim.max_frame_size = or_default(L->max_frame_size, 1 << 14);
    c->lim.stream_window = or_default(L->stream_window, DEFAULT_STREAM_WINDOW);
    c->lim.reset_budget = or_default(L->reset_budget, DEFAULT_RESET_BUDGET);
    c->resets_left = c->lim.reset_budget;
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        free(c);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
    /* CVE-2019-9512/9515: bounded queues of PING / SETTINGS answers */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    int rv = role == MITM_CODEC_SERVER ? nghttp2_session_server_new2(&c->ng, cb, c, opt)
                                       : nghttp2_session_client_new2(&c->ng, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        free(c);
        return NULL;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->lim.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->lim.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->lim.max_header_list},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, c->lim.max_frame_size},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    size_t niv = sizeof(iv) / sizeof(iv[0]);
    if (role == MITM_CODEC_SERVER)
        niv--; /* ENABLE_PUSH is the client's setting */
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (role == MITM_CODEC_CLIENT)
        flush(c);
    return &c->base;
}
