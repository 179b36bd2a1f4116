#include "proto/http/h1conn.h"
#include "base/alloc.h"
#include "base/log.h"
#include "layer/layer.h"
#include "proto/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum rstate {
    R_HEAD = 0, /* expecting a head (client role: only while a request is outstanding) */
    R_BODY,     /* reading a body */
    R_WAIT,     /* server role: request read, waiting for our response to finish */
    R_IDLE,     /* client role: no request outstanding */
    R_DEAD,     /* protocol error or closed: ignore input */
};

enum wstate {
    W_NONE = 0, /* no body to write (or not started) */
    W_RAW,      /* body bytes as they are (Content-Length or until close) */
    W_CHUNKED,  /* we frame the body as chunks */
};

/* 16 KiB: one read's worth; the rest stays in the kernel until we parse again. */
#define MIN_IN_CAP ((size_t)16 * 1024)

struct mitm_h1conn {
    struct mitm_http_codec base;
    struct mitm_h1_limits lim;
    size_t in_cap; /* bytes we buffer unparsed (pipelining) */
    struct mitm_buf in;
    size_t head_scanned; /* bytes of in already searched for the end of a head */
    int rstate;          /* read side */
    int wstate;          /* write side */
    struct mitm_h1_body body;
    uint32_t stream_id; /* stream of the current exchange; 0 = none */
    uint32_t next_stream_id;
    char *req_method;   /* method of the current exchange (response framing) */
    bool req_http10;    /* current request is HTTP/1.0 */
    bool close_after;   /* close once the current exchange ends */
    bool parsing;       /* re-entrancy guard of the read loop */
    bool resume;        /* exchange ended during the read loop: parse on */
    bool tunnel;        /* a CONNECT succeeded or a 101 switched: bytes now belong to a tunnel */
    bool peer_eof;      /* the peer shut down its sending side */
    bool absolute_form; /* client role toward an upstream proxy: requests in absolute form */
};

static const struct mitm_http_codec_vt h1_vt;

struct mitm_http_codec *mitm_h1conn_new(enum mitm_codec_role role, struct mitm_layer *owner,
                                        struct mitm_conn *conn, const struct mitm_h1_limits *lim,
                                        size_t in_cap, bool absolute_form, mitm_http_codec_emit_fn emit,
                                        void *emit_arg)
{
    struct mitm_h1conn *c = mitm_calloc(1, sizeof(*c));
    c->base = (struct mitm_http_codec){
        .vt = &h1_vt, .role = role, .owner = owner, .conn = conn, .emit = emit, .emit_arg = emit_arg};
    c->lim = *lim;
    c->in_cap = in_cap < MIN_IN_CAP ? MIN_IN_CAP : in_cap;
    mitm_buf_init(&c->in, 0);
    c->rstate = role == MITM_CODEC_SERVER ? R_HEAD : R_IDLE;
    c->absolute_form = absolute_form;
    return &c->base;
}

static void h1_free(struct mitm_http_codec *base)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    mitm_buf_free(&c->in);
    mitm_h1_body_free(&c->body);
    free(c->req_method);
    free(c);
}

/* Does a Connection header hold token? (RFC 9110 §7.6.1: comma list, case-insensitive) */
static bool conn_token(const struct mitm_headers *h, const char *token)
{
    size_t tl = strlen(token);
    for (long i = mitm_headers_find(h, "connection", 0); i >= 0;
         i = mitm_headers_find(h, "connection", i + 1)) {
        const char *v = h->v[i].value, *end = v + h->v[i].value_len;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *s = v;
            while (v < end && *v != ',')
                v++;
            const char *e = v;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
                return true;
        }
    }
    return false;
}

static bool is_http10(const char *version)
{
    return version && strcmp(version, "HTTP/1.0") == 0;
}

/* RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". */
static bool wants_close(const char *version, const struct mitm_headers *h)
{
    if (conn_token(h, "close"))
        return true;
    return is_http10(version) && !conn_token(h, "keep-alive");
}

static void emit(struct mitm_h1conn *c, struct mitm_http_event *ev)
{
    c->base.emit(c->base.emit_arg, &c->base, ev);
}

static void fail(struct mitm_h1conn *c, int status, const char *reason)
{
    c->rstate = R_DEAD;
    enum mitm_http_ev_type t =
        c->base.role == MITM_CODEC_SERVER ? MITM_HTTP_REQUEST_ERROR : MITM_HTTP_RESPONSE_ERROR;
    emit(c, mitm_http_event_error(t, c->stream_id, status, reason));
}

/* Bytes were taken from the front of c->in: the next head search starts over. */
static void consumed(struct mitm_h1conn *c, size_t n)
{
    mitm_buf_consume(&c->in, n);
    c->head_scanned = 0;
}

/* Can c->in hold a whole head, or break a limit the parser must report? Searches only the
 * bytes not searched before for the blank line that ends a head (LF LF or LF CR LF), so a
 * peer sending a large head in small pieces costs O(n), not a full parse per piece. */
static bool head_ready(struct mitm_h1conn *c)
{
    const uint8_t *b = mitm_buf_data(&c->in);
    size_t len = c->in.len;
    size_t from = c->head_scanned > 2 ? c->head_scanned - 2 : 0;
    c->head_scanned = len;
    for (const uint8_t *p = from < len ? memchr(b + from, '\n', len - from) : NULL; p;
         p = (size_t)(p + 1 - b) < len ? memchr(p + 1, '\n', len - (size_t)(p + 1 - b)) : NULL) {
        size_t i = (size_t)(p - b);
        if ((i + 1 < len && b[i + 1] == '\n') || (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n'))
            return true;
    }
    size_t max_line = c->lim.max_line ? c->lim.max_line : MITM_H1_DEFAULT_MAX_LINE;
    size_t max_head = c->lim.max_head ? c->lim.max_head : MITM_H1_DEFAULT_MAX_HEAD;
    if (len > max_head)
        return true;
    /* a start line still open past max_line is a 414 now (bounded: at most max_line + 2 bytes) */
    return len > max_line && !memchr(b, '\n', max_line + 2 < len ? max_line + 2 : len);
}

/* Server role: one request head. Returns false when more bytes are needed or on error. */
static bool parse_request_head(struct mitm_h1conn *c)
{
    if (!head_ready(c))
        return false;
    struct mitm_http_request *req = mitm_http_request_new();
    int status = 400;
    const char *reason = "malformed request";
    ssize_t n = mitm_h1_parse_request_head(mitm_buf_data(&c->in), c->in.len, &c->lim, req, &status, &reason);
    if (n == MITM_INCOMPLETE) {
        mitm_http_request_free(req);
        return false;
    }
    if (n < 0) {
        mitm_http_request_free(req);
        c->stream_id = 0;
        fail(c, status, reason);
        return false;
    }
    consumed(c, (size_t)n);
    mitm_h1_body_free(&c->body);
    if (mitm_h1_request_framing(req, &c->lim, &c->body, &reason) < 0) {
        mitm_http_request_free(req);
        c->stream_id = 0;
        fail(c, 400, reason);
        return false;
    }
    if (c->body.kind == MITM_H1_BODY_LENGTH && c->body.remaining == 0)
        c->body.kind = MITM_H1_BODY_NONE; /* Content-Length: 0 */
    c->stream_id = ++c->next_stream_id;
    mitm_str_set(&c->req_method, req->method, strlen(req->method));
    c->req_http10 = is_http10(req->http_version);
    c->close_after = wants_close(req->http_version, &req->headers);
    c->wstate = W_NONE;
    struct mitm_http_event *ev = mitm_http_event_new(MITM_HTTP_REQUEST_HEADERS, c->stream_id);
    ev->req = req;
    c->rstate = c->body.kind == MITM_H1_BODY_NONE ? R_WAIT : R_BODY;
    emit(c, ev);
    if (c->rstate == R_WAIT)
        emit(c, mitm_http_event_new(MITM_HTTP_REQUEST_END, c->stream_id));
    return true;
}

static bool is_interim(int status)
{
    return status >= 100 && status < 200 && status != 101;
}

/* Client role: one response head; interim (1xx) responses are dropped (we answered
 * Expect: 100-continue ourselves; RFC 9110 §15.2 lets a proxy drop them). */
static bool parse_response_head(struct mitm_h1conn *c)
{
    struct mitm_http_response *resp = mitm_http_response_new();
    const char *reason = "malformed response";
    if (!head_ready(c)) {
        mitm_http_response_free(resp);
        return false;
    }
    ssize_t n = mitm_h1_parse_response_head(mitm_buf_data(&c->in), c->in.len, &c->lim, resp, &reason);
    if (n == MITM_INCOMPLETE) {
        mitm_http_response_free(resp);
        return false;
    }
    if (n < 0) {
        mitm_http_response_free(resp);
        fail(c, 502, reason);
        return false;
    }
    consumed(c, (size_t)n);
    if (is_interim(resp->status_code)) {
        mitm_http_response_free(resp);
        return true;
    }
    mitm_h1_body_free(&c->body);
    if (mitm_h1_response_framing(c->req_method, resp, &c->lim, &c->body, &reason) < 0) {
        mitm_http_response_free(resp);
        fail(c, 502, reason);
        return false;
    }
    if (c->body.kind == MITM_H1_BODY_LENGTH && c->body.remaining == 0)
        c->body.kind = MITM_H1_BODY_NONE; /* Content-Length: 0 */
    if (wants_close(resp->http_version, &resp->headers) || c->body.kind == MITM_H1_BODY_CLOSE ||
        resp->status_code == 101)
        c->close_after = true;
    if (resp->status_code == 101)
        c->tunnel = true; /* RFC 9110 §15.2.2: what follows is the new protocol's; it stays in
                             c->in for mitm_h1conn_take_rest */
    struct mitm_http_event *ev = mitm_http_event_new(MITM_HTTP_RESPONSE_HEADERS, c->stream_id);
    ev->resp = resp;
    c->rstate = c->body.kind == MITM_H1_BODY_NONE ? R_IDLE : R_BODY;
    emit(c, ev);
    if (c->rstate == R_IDLE)
        emit(c, mitm_http_event_new(MITM_HTTP_RESPONSE_END, c->stream_id));
    return true;
}

static void body_done(struct mitm_h1conn *c)
{
    bool server = c->base.role == MITM_CODEC_SERVER;
    struct mitm_http_event *ev =
        mitm_http_event_new(server ? MITM_HTTP_REQUEST_END : MITM_HTTP_RESPONSE_END, c->stream_id);
    ev->trailers = c->body.trailers;
    c->body.trailers = NULL;
    c->rstate = server ? R_WAIT : R_IDLE;
    emit(c, ev);
}

/* Returns false when more bytes are needed or on error. */
static bool parse_body(struct mitm_h1conn *c)
{
    bool server = c->base.role == MITM_CODEC_SERVER;
    while (c->rstate == R_BODY && c->in.len) {
        struct mitm_slice data = {0};
        bool done = false;
        const char *reason = "malformed body";
        ssize_t n = mitm_h1_body_decode(&c->body, mitm_buf_data(&c->in), c->in.len, &data, &done, &reason);
        if (n < 0) {
            fail(c, server ? 400 : 502, reason);
            return false;
        }
        if (data.len)
            emit(c, mitm_http_event_data(server ? MITM_HTTP_REQUEST_DATA : MITM_HTTP_RESPONSE_DATA,
                                         c->stream_id, data.base, data.len));
        consumed(c, (size_t)n);
        if (done) {
            body_done(c);
            return true;
        }
        if (n == 0)
            return false;
    }
    return false;
}

static void parse(struct mitm_h1conn *c)
{
    if (c->parsing) {
        c->resume = true;
        return;
    }
    c->parsing = true;
    do {
        c->resume = false;
        for (;;) {
            if (c->tunnel || c->rstate == R_DEAD)
                break;
            if (c->rstate == R_BODY) {
                if (!parse_body(c))
                    break;
            } else if (c->rstate == R_HEAD && c->in.len) {
                bool ok = c->base.role == MITM_CODEC_SERVER ? parse_request_head(c) : parse_response_head(c);
                if (!ok)
                    break;
            } else if (c->rstate == R_IDLE && c->in.len) {
                /* a server must not speak without being asked (RFC 9112 §9.3) */
                fail(c, 502, "unexpected data from server");
                break;
            } else {
                break;
            }
        }
    } while (c->resume);
    c->parsing = false;
}

static void h1_feed(struct mitm_http_codec *base, const uint8_t *data, size_t len)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    if (c->rstate == R_DEAD)
        return;
    if (c->in.len + len > c->in_cap + c->lim.max_head && c->rstate == R_WAIT) {
        /* a pipelining client ran far ahead of us */
        fail(c, 0, "too much pipelined data");
        return;
    }
    if (mitm_buf_append(&c->in, data, len) < 0) {
        fail(c, 0, "out of memory");
        return;
    }
    parse(c);
}

static void h1_eof(struct mitm_http_codec *base)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    c->peer_eof = true;
    if (c->tunnel)
        return;
    switch (c->rstate) {
    case R_BODY:
        if (c->body.kind == MITM_H1_BODY_CLOSE) {
            body_done(c);
            c->rstate = R_DEAD;
            return;
        }
        fail(c, 0, c->base.role == MITM_CODEC_SERVER ? "Client disconnected." : "server disconnected");
        return;
    case R_HEAD:
        if (c->base.role == MITM_CODEC_CLIENT) {
            fail(c, 502, "server closed connection"); /* mitmproxy's words */
            return;
        }
        c->rstate = R_DEAD; /* a client leaving between requests is fine */
        return;
    default:
        if (c->base.role == MITM_CODEC_CLIENT)
            c->rstate = R_DEAD;
        return;
    }
}

static void send_bytes(struct mitm_h1conn *c, struct mitm_buf *b)
{
    size_t n;
    uint8_t *data = mitm_buf_steal(b, &n);
    if (n == 0) {
        free(data);
        return;
    }
    struct mitm_cmd *cmd = mitm_cmd_new(MITM_CMD_SEND);
    cmd->conn = c->base.conn;
    cmd->data = data;
    cmd->len = n;
    mitm_layer_emit(c->base.owner, cmd);
}

static void write_data(struct mitm_h1conn *c, struct mitm_buf *out, const uint8_t *data, size_t len)
{
    if (c->wstate == W_CHUNKED)
        mitm_h1_write_chunk(out, data, len);
    else if (c->wstate == W_RAW)
        mitm_buf_append(out, data, len);
}

static bool is_http2(const char *version)
{
    return version && strcmp(version, "HTTP/2.0") == 0;
}

/* A message that came in over HTTP/2 goes out as HTTP/1.1 (mitmproxy's Http1Server/Client):
 * the version, a reason phrase, framing where HTTP/2 had none (its DATA frames end the body:
 * RFC 9113 §8.1), and Host from :authority (RFC 9113 §8.3.1). The flow keeps the original;
 * this is the codec's copy. */
static void frame_from_h2(struct mitm_headers *h, bool end_stream)
{
    if (!mitm_headers_get(h, "content-length", NULL) && !mitm_headers_get(h, "transfer-encoding", NULL))
        mitm_headers_add(h, end_stream ? "content-length" : "transfer-encoding", end_stream ? 14 : 17,
                         end_stream ? "0" : "chunked", end_stream ? 1 : 7);
}

/* mitmproxy's Http1Client: "Host" from :authority, inserted first unless there is one. */
static void request_from_h2(struct mitm_http_request *req, bool end_stream)
{
    mitm_str_set(&req->http_version, "HTTP/1.1", 8);
    if (!mitm_headers_get(&req->headers, "host", NULL) && req->authority && req->authority[0]) {
        struct mitm_headers h;
        mitm_headers_init(&h);
        mitm_headers_add(&h, "Host", 4, req->authority, strlen(req->authority));
        for (size_t i = 0; i < req->headers.n; i++)
            mitm_headers_add(&h, req->headers.v[i].name, req->headers.v[i].name_len, req->headers.v[i].value,
                             req->headers.v[i].value_len);
        mitm_headers_free(&req->headers);
        req->headers = h;
    }
    if (!end_stream || mitm_headers_get(&req->headers, "content-length", NULL))
        frame_from_h2(&req->headers, end_stream);
}

static void response_from_h2(struct mitm_http_response *resp, bool end_stream, bool bodyless)
{
    mitm_str_set(&resp->http_version, "HTTP/1.1", 8);
    if (!resp->reason || !resp->reason[0]) {
        const char *r = mitm_http_reason(resp->status_code);
        mitm_str_set(&resp->reason, r, strlen(r));
    }
    if (!bodyless)
        frame_from_h2(&resp->headers, end_stream);
}

/* Server role: the framing of the response we write (RFC 9112 §6). */
static void start_response(struct mitm_h1conn *c, struct mitm_http_response *resp, bool end_stream,
                           struct mitm_buf *out)
{
    int st = resp->status_code;
    bool connect_ok = c->req_method && strcmp(c->req_method, "CONNECT") == 0 && st >= 200 && st < 300;
    bool bodyless = (c->req_method && strcmp(c->req_method, "HEAD") == 0) || st == 204 || st == 304 ||
                    (st >= 100 && st < 200) || connect_ok;
    if (is_http2(resp->http_version))
        response_from_h2(resp, end_stream, bodyless);
    if (bodyless) {
        c->wstate = W_NONE;
    } else if (mitm_h1_te_chunked(&resp->headers)) {
        if (c->req_http10) {
            /* an HTTP/1.0 client cannot read chunks (RFC 9112 §7.1): de-chunk, end by close */
            mitm_headers_remove(&resp->headers, "transfer-encoding");
            c->wstate = W_RAW;
            c->close_after = true;
        } else {
            c->wstate = W_CHUNKED;
        }
    } else {
        c->wstate = W_RAW;
        if (!mitm_headers_get(&resp->headers, "content-length", NULL))
            c->close_after = true; /* delimited by close */
    }
    if (!is_interim(st) && wants_close(resp->http_version, &resp->headers))
        c->close_after = true;
    if (connect_ok)
        c->close_after = false; /* RFC 9110 §9.3.6: a 2xx to CONNECT makes a tunnel, whatever the version */
    if (st == 101)
        c->tunnel = true; /* RFC 9110 §15.2.2: the client's next bytes are the new protocol's */
    mitm_h1_write_response_head(out, resp);
}

static void end_exchange(struct mitm_h1conn *c)
{
    if (c->rstate != R_WAIT || c->close_after || c->peer_eof) {
        /* the request was not read completely (early response), or no persistence */
        c->rstate = R_DEAD;
        mitm_layer_close(c->base.owner, c->base.conn, false);
        return;
    }
    c->rstate = R_HEAD;
    c->stream_id = 0;
    parse(c);
}

static void send_response_event(struct mitm_h1conn *c, struct mitm_http_event *ev, struct mitm_buf *out)
{
    switch (ev->type) {
    case MITM_HTTP_RESPONSE_HEADERS:
        start_response(c, ev->resp, ev->end_stream, out);
        break;
    case MITM_HTTP_RESPONSE_DATA:
        write_data(c, out, ev->data, ev->len);
        break;
    case MITM_HTTP_RESPONSE_END:
        if (c->wstate == W_CHUNKED)
            mitm_h1_write_last_chunk(out, ev->trailers);
        break;
    default:
        break;
    }
}

static void send_request_event(struct mitm_h1conn *c, struct mitm_http_event *ev, struct mitm_buf *out)
{
    switch (ev->type) {
    case MITM_HTTP_REQUEST_HEADERS: {
        struct mitm_http_request *req = ev->req;
        if (is_http2(req->http_version))
            request_from_h2(req, ev->end_stream);
        c->stream_id = ev->stream_id;
        mitm_str_set(&c->req_method, req->method, strlen(req->method));
        c->close_after = wants_close(req->http_version, &req->headers);
        if (mitm_h1_te_chunked(&req->headers))
            c->wstate = W_CHUNKED;
        else
            c->wstate = mitm_headers_get(&req->headers, "content-length", NULL) ? W_RAW : W_NONE;
        /* RFC 9112 §3.2: origin form toward an origin server, absolute form toward a proxy */
        enum mitm_target_form form = req->form == MITM_TARGET_ASTERISK ? MITM_TARGET_ASTERISK
                                     : c->absolute_form                ? MITM_TARGET_ABSOLUTE
                                                                       : MITM_TARGET_ORIGIN;
        mitm_h1_write_request_head(out, req, form);
        c->rstate = R_HEAD;
        break;
    }
    case MITM_HTTP_REQUEST_DATA:
        write_data(c, out, ev->data, ev->len);
        break;
    case MITM_HTTP_REQUEST_END:
        if (c->wstate == W_CHUNKED)
            mitm_h1_write_last_chunk(out, ev->trailers);
        break;
    default:
        break;
    }
}

static void h1_send(struct mitm_http_codec *base, struct mitm_http_event *ev)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    if (ev->len)
        mitm_buf_reserve(&out, ev->len + 32); /* one allocation: the piece and its chunk framing */
    bool end = false;
    if (c->base.role == MITM_CODEC_SERVER) {
        send_response_event(c, ev, &out);
        end = ev->type == MITM_HTTP_RESPONSE_END;
    } else {
        send_request_event(c, ev, &out);
        /* parse a response that raced ahead of our request bytes */
        if (ev->type == MITM_HTTP_REQUEST_HEADERS && c->in.len)
            end = true;
    }
    mitm_http_event_free(ev);
    send_bytes(c, &out);
    mitm_buf_free(&out);
    if (c->base.role == MITM_CODEC_SERVER && end)
        end_exchange(c);
    else if (end)
        parse(c);
}

static bool h1_reusable(const struct mitm_http_codec *base)
{
    const struct mitm_h1conn *c = (const struct mitm_h1conn *)base;
    return c->base.role == MITM_CODEC_CLIENT && c->rstate == R_IDLE && !c->close_after && c->in.len == 0 &&
           c->base.conn->state == MITM_CONN_OPEN;
}

static void h1_take_rest(struct mitm_http_codec *base, uint8_t **data, size_t *len)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    c->tunnel = true;
    *data = mitm_buf_steal(&c->in, len);
    c->head_scanned = 0;
}

static bool h1_head_pending(const struct mitm_http_codec *base)
{
    const struct mitm_h1conn *c = (const struct mitm_h1conn *)base;
    return c->base.role == MITM_CODEC_SERVER && c->rstate == R_HEAD && c->in.len > 0 && !c->tunnel;
}

/* An error page the layer sends with no exchange to carry it, then the close. */
static void h1_refuse(struct mitm_http_codec *base, int status, const char *msg)
{
    struct mitm_h1conn *c = (struct mitm_h1conn *)base;
    struct mitm_http_response *r = mitm_http_codec_error_response(base, status, msg);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    mitm_h1_write_response_head(&out, r);
    mitm_buf_append(&out, mitm_buf_data(&r->content), r->content.len);
    send_bytes(c, &out);
    mitm_buf_free(&out);
    mitm_http_response_free(r);
    c->rstate = R_DEAD;
    mitm_layer_close(base->owner, base->conn, false);
}

/* HTTP/1 error pages end the connection (mitmproxy's make_error_response). */
static void h1_decorate_error(struct mitm_http_response *r)
{
    mitm_headers_add(&r->headers, "Connection", 10, "close", 5);
}

static const struct mitm_http_codec_vt h1_vt = {
    .name = "HTTP/1",
    .version = "HTTP/1.1",
    .feed = h1_feed,
    .eof = h1_eof,
    .send = h1_send,
    .reusable = h1_reusable,
    .head_pending = h1_head_pending,
    .take_rest = h1_take_rest,
    .refuse = h1_refuse,
    .decorate_error = h1_decorate_error,
    .free = h1_free,
};
