/* One HTTP request/response exchange: the version-neutral per-request logic (mitmproxy's
 * HttpStream). It sees only neutral HTTP events, runs the hooks, decides buffering or
 * streaming, opens (or reuses) the server connection, and turns failures into an error
 * response, a flow error and the error hook. */
#include "core/options.h"
#include "base/alloc.h"
#include "base/log.h"
#include "flow/bodyfile.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "core/modespec.h"
#include "proto/flowconn.h"
#include "proto/http/layer-int.h"
#include "proto/ws/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum wait {
    W_NOTHING = 0,
    W_REQUESTHEADERS, /* requestheaders hook */
    W_REQUEST,        /* request hook */
    W_HTTP_CONNECT,   /* http_connect hook */
    W_OPEN,           /* server connection */
    W_RESPONSEHEADERS,
    W_MADE_RESPONSEHEADERS, /* responseheaders for a response an addon made */
    W_RESPONSE,
    W_ERROR, /* error hook */
};

struct http_stream {
    struct mitm_layer base;
    struct http_layer *hl;
    uint32_t id;
    struct mitm_flow *flow;
    struct http_server *srv;
    enum wait wait;
    bool req_complete;   /* client sent the whole request */
    bool req_sent_head;  /* request head went to the server */
    bool resp_sent_head; /* response head went to the client */
    bool resp_complete;  /* server sent the whole response */
    bool is_connect;
    bool done;
    bool discard_body;        /* an addon answered in requestheaders: the request body is read, not kept */
    struct mitm_conn *tunnel; /* CONNECT: the server connection of the tunnel */
    int64_t body_limit;       /* body_size_limit, -1 = none */
    int64_t stream_limit;     /* stream above this size */
    bool limit_is_buffer;     /* stream_limit is body_buffer_limit (not stream_large_bodies) */
    /* streamed bodies being kept in a file (keep_streamed_bodies): the request's, the response's */
    struct mitm_bodyfile *keep[2];
    /* A streamed response's newest piece toward the client (its head or a body piece), not
     * sent until the next one comes or, for the last one, until the response hook returned:
     * the -w record is written in that hook, and a client must not get the last byte of a
     * response before its record is in the file (docs/internals/flows.md). */
    struct mitm_http_event *held;
    /* A failure's word to the client, told after the error hook (tell_client) */
    int fail_status; /* the error response's status; 0: none */
    char *fail_msg;  /* its text */
    bool fail_close; /* no response: close the client connection */
    struct http_stream *next;
};

static const struct mitm_layer_vt stream_vt;

enum { KEEP_REQ = 0, KEEP_RESP = 1 };

static void finish(struct http_stream *s);
static void cut_server(struct http_stream *s, bool close_now);
static void cut_client(struct http_stream *s);
static void fail(struct http_stream *s, int status, const char *msg, double now);
static void fail_logged(struct http_stream *s, int status, const char *msg, double now, bool log);

static int64_t min_limit(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

struct http_stream *mitm_http_stream_new(struct http_layer *hl, uint32_t id)
{
    struct http_stream *s = mitm_calloc(1, sizeof(*s));
    mitm_layer_init(&s->base, &stream_vt, hl->base.ctx, &hl->base);
    s->hl = hl;
    s->id = id;
    const struct mitm_options *o = hl->base.ctx->opts;
    s->body_limit = mitm_options_size(o->body_size_limit);
    int64_t slb = mitm_options_size(o->stream_large_bodies), bbl = mitm_options_size(o->body_buffer_limit);
    s->stream_limit = min_limit(slb, bbl);
    s->limit_is_buffer = slb < 0 || (bbl >= 0 && bbl < slb);
    return s;
}

void mitm_http_stream_free(struct http_stream *s)
{
    mitm_bodyfile_free(s->keep[KEEP_REQ]);
    mitm_bodyfile_free(s->keep[KEEP_RESP]);
    mitm_http_event_free(s->held);
    free(s->fail_msg);
    mitm_layer_deinit(&s->base);
    mitm_flow_unref(s->flow);
    free(s);
}

struct mitm_layer *mitm_http_stream_layer(struct http_stream *s)
{
    return &s->base;
}

uint32_t mitm_http_stream_id(const struct http_stream *s)
{
    return s->id;
}

bool mitm_http_stream_done(const struct http_stream *s)
{
    return s->done;
}

struct http_stream *mitm_http_stream_next(const struct http_stream *s)
{
    return s->next;
}

struct http_stream **mitm_http_stream_next_ptr(struct http_stream *s)
{
    return &s->next;
}

/* ---- streamed bodies kept in a file (flow/bodyfile.h, keep_streamed_bodies) ---- */

/* A message starts to stream: keep its body in a file when the option says so. by_limit: it
 * streams because it outgrew body_buffer_limit (not stream_large_bodies or a script). The
 * bytes buffered so far go first. */
static void keep_start(struct http_stream *s, int which, bool by_limit, const struct mitm_buf *so_far)
{
    const struct mitm_options *o = s->base.ctx->opts;
    const char *k = o && o->keep_streamed_bodies ? o->keep_streamed_bodies : "large";
    if (s->keep[which] || !(strcmp(k, "all") == 0 || (by_limit && strcmp(k, "large") == 0)))
        return;
    char err[512];
    s->keep[which] = mitm_bodyfile_new(o ? o->store_dir : NULL, err, sizeof(err));
    if (s->keep[which] && so_far->len &&
        mitm_bodyfile_append(s->keep[which], mitm_buf_data(so_far), so_far->len, err, sizeof(err)) < 0) {
        mitm_bodyfile_free(s->keep[which]);
        s->keep[which] = NULL;
    }
    if (!s->keep[which])
        mitm_layer_log(&s->base, MITM_LOG_WARN, "%s body streamed without being kept: %s",
                       which == KEEP_REQ ? "request" : "response", err);
}

static void keep_data(struct http_stream *s, int which, const uint8_t *p, size_t n)
{
    char err[512];
    if (!s->keep[which] || mitm_bodyfile_append(s->keep[which], p, n, err, sizeof(err)) == 0)
        return;
    mitm_layer_log(&s->base, MITM_LOG_WARN, "%s body no longer kept: %s",
                   which == KEEP_REQ ? "request" : "response", err);
    mitm_bodyfile_free(s->keep[which]);
    s->keep[which] = NULL;
}

/* The message ended: its kept body becomes its content (read-only, mapped from the file). */
static void keep_end(struct http_stream *s, int which, struct mitm_buf *content, bool *missing)
{
    char err[512];
    struct mitm_bodyfile *w = s->keep[which];
    s->keep[which] = NULL;
    if (!w)
        return;
    if (mitm_bodyfile_finish(w, content, err, sizeof(err)) < 0) {
        mitm_layer_log(&s->base, MITM_LOG_WARN, "%s body not kept: %s",
                       which == KEEP_REQ ? "request" : "response", err);
        return;
    }
    *missing = false;
}

static void hook(struct http_stream *s, enum mitm_hook h, enum wait w)
{
    s->wait = w;
    mitm_layer_hook(&s->base, h, mitm_flow_payload(s->flow));
}

static void to_client(struct http_stream *s, struct mitm_http_event *ev)
{
    mitm_http_codec_send(s->hl->client, ev);
}

static void to_server(struct http_stream *s, struct mitm_http_event *ev)
{
    if (s->srv && !s->srv->dead) {
        s->srv->active = s->hl->now;
        mitm_http_codec_send(mitm_http_server_codec(s->srv), ev);
    } else {
        mitm_http_event_free(ev);
    }
}

static struct mitm_http_event *ev_new(struct http_stream *s, enum mitm_http_ev_type t)
{
    return mitm_http_event_new(t, s->id);
}

/* REQUEST_END / RESPONSE_END carrying a copy of the message's trailers (if any). */
static struct mitm_http_event *end_event(struct http_stream *s, enum mitm_http_ev_type t,
                                         const struct mitm_headers *trailers)
{
    struct mitm_http_event *e = ev_new(s, t);
    if (trailers) {
        e->trailers = mitm_calloc(1, sizeof(*e->trailers));
        mitm_headers_copy(e->trailers, trailers);
    }
    return e;
}

/* A piece of a streamed response: the one held before goes out, this one waits. */
static void stream_to_client(struct http_stream *s, struct mitm_http_event *ev)
{
    if (s->held)
        to_client(s, s->held);
    s->held = ev;
}

/* The streamed response's last piece and its end, once the response hook returned. */
static void release_held(struct http_stream *s, const struct mitm_headers *trailers)
{
    if (s->held)
        to_client(s, s->held);
    s->held = NULL;
    to_client(s, end_event(s, MITM_HTTP_RESPONSE_END, trailers));
}

/* Send a complete response (head, buffered body, end) to the client. The flow keeps its
 * response; the codec gets a copy of the head. */
/* A buffered body goes out in pieces of this size: each is copied (into the codec's output,
 * then by TLS) on its own and freed once written, instead of the whole body at every step. */
#define BODY_PIECE (64 * 1024) /* under glibc's mmap threshold (128 KiB): heap, not mmap + munmap */

static void send_body(struct http_stream *s, void (*to)(struct http_stream *, struct mitm_http_event *),
                      enum mitm_http_ev_type type, const struct mitm_buf *content)
{
    const uint8_t *p = mitm_buf_data(content);
    for (size_t off = 0; off < content->len; off += BODY_PIECE) /* the flow keeps the body */
        to(s, mitm_http_event_data_borrowed(
                  type, s->id, p + off, content->len - off < BODY_PIECE ? content->len - off : BODY_PIECE));
}

static void send_response(struct http_stream *s, const struct mitm_http_response *r)
{
    struct mitm_http_event *h = ev_new(s, MITM_HTTP_RESPONSE_HEADERS);
    h->resp = mitm_http_response_new();
    h->resp->http_version = mitm_strdup(r->http_version);
    h->resp->status_code = r->status_code;
    h->resp->reason = mitm_strdup(r->reason);
    mitm_headers_copy(&h->resp->headers, &r->headers);
    h->end_stream = r->content.len == 0 && !r->trailers;
    s->resp_sent_head = true;
    to_client(s, h);
    send_body(s, to_client, MITM_HTTP_RESPONSE_DATA, &r->content);
    to_client(s, end_event(s, MITM_HTTP_RESPONSE_END, r->trailers));
}

static void send_request_head(struct http_stream *s)
{
    const struct mitm_http_request *r = s->flow->request;
    struct mitm_http_event *h = ev_new(s, MITM_HTTP_REQUEST_HEADERS);
    h->req = mitm_http_request_new();
    h->req->method = mitm_strdup(r->method);
    h->req->scheme = mitm_strdup(r->scheme);
    h->req->authority = mitm_strdup(r->authority ? r->authority : "");
    h->req->host = mitm_strdup(r->host);
    h->req->port = r->port;
    h->req->path = mitm_strdup(r->path);
    h->req->http_version = mitm_strdup(r->http_version);
    h->req->form = r->form;
    mitm_headers_copy(&h->req->headers, &r->headers);
    h->end_stream = s->req_complete && !r->stream && r->content.len == 0 && !r->trailers;
    s->req_sent_head = true;
    to_server(s, h);
}

static void send_request_rest(struct http_stream *s)
{
    const struct mitm_http_request *r = s->flow->request;
    send_body(s, to_server, MITM_HTTP_REQUEST_DATA, &r->content);
    if (!s->req_complete)
        return;
    to_server(s, end_event(s, MITM_HTTP_REQUEST_END, r->trailers));
}

/* Fill the flow's server_conn from the connection once it is open. */
static void record_server(struct http_stream *s)
{
    mitm_flowconn_server(s->flow, s->srv->conn);
}

/* Get a server connection and send the request (head now; body as far as we have it). */
static void connect_and_send(struct http_stream *s)
{
    struct mitm_http_request *r = s->flow->request;
    if (!s->srv)
        s->srv = mitm_http_server_get(s->hl, s, r->scheme, r->host, r->port, s->is_connect);
    if (s->srv->conn->state != MITM_CONN_OPEN && s->srv->conn->state != MITM_CONN_READ_EOF) {
        s->wait = W_OPEN;
        mitm_layer_open(&s->base, s->srv->conn);
        return;
    }
    record_server(s);
    send_request_head(s);
    send_request_rest(s);
}

/* Host header value for host:port under scheme: the port left out when it is the default. */
static void host_value(char *out, size_t cap, const char *scheme, const char *host, uint16_t port)
{
    bool v6 = strchr(host, ':') != NULL;
    bool dflt = (port == 80 && strcmp(scheme, "http") == 0) || (port == 443 && strcmp(scheme, "https") == 0);
    int n = snprintf(out, cap, v6 ? "[%s]" : "%s", host);
    if (!dflt && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, ":%u", port);
}

/* Reverse mode: every request goes to the spec's target; Host follows unless
 * keep_host_header (mitmproxy's HttpStream for ReverseMode). */
static void to_reverse_target(struct http_stream *s, const struct mitm_mode_spec *m)
{
    struct mitm_http_request *r = s->flow->request;
    const char *scheme = strcmp(m->scheme, "http") == 0 ? "http" : "https";
    mitm_str_set(&r->scheme, scheme, strlen(scheme));
    mitm_str_set(&r->host, m->host, strlen(m->host));
    r->port = m->port;
    if (!s->base.ctx->opts->keep_host_header) {
        char hv[300];
        host_value(hv, sizeof(hv), scheme, m->host, m->port);
        /* mitmproxy's host_header setter: an HTTP/2 request's is :authority, and a Host
         * header only changes if it has one */
        bool h2 = r->http_version && strcmp(r->http_version, "HTTP/2.0") == 0;
        if (h2)
            mitm_str_set(&r->authority, hv, strlen(hv));
        if (!h2 || mitm_headers_get(&r->headers, "host", NULL))
            mitm_headers_set(&r->headers, "Host", hv, strlen(hv));
    }
}

/* The destination of the request (RFC 9112 §3.2): absolute and authority forms name it;
 * origin form goes to the stack's server (transparent: the address the client connected
 * to, https when the client spoke TLS) or, for an explicit proxy, to the Host header. */
static int resolve_destination(struct http_stream *s, const char **err)
{
    struct mitm_http_request *r = s->flow->request;
    struct http_layer *hl = s->hl;
    const struct mitm_mode_spec *m = s->base.ctx->mode;
    if (m && m->kind == MITM_MODE_REVERSE) {
        to_reverse_target(s, m);
        return 0;
    }
    if (r->form == MITM_TARGET_ABSOLUTE || r->form == MITM_TARGET_AUTHORITY)
        return 0;
    if (hl->h2_client && hl->mode != MITM_HTTP_TRANSPARENT && r->host && r->host[0]) {
        /* HTTP/2 to the explicit proxy itself (h2c with prior knowledge): :scheme and
         * :authority (the codec parsed them) name the destination as an absolute-form URL
         * does (RFC 9113 §8.3.1), as in mitmproxy, where an h2 request carries its host */
        r->form = MITM_TARGET_ABSOLUTE;
        return 0;
    }
    if (hl->mode == MITM_HTTP_TRANSPARENT && hl->origin) {
        mitm_str_set(&r->host, hl->origin->host, strlen(hl->origin->host));
        r->port = hl->origin->port;
        const char *scheme = s->base.ctx->client->tls ? "https" : "http";
        mitm_str_set(&r->scheme, scheme, strlen(scheme));
        return 0;
    }
    size_t len;
    const char *host = mitm_headers_get(&r->headers, "host", &len);
    char *h = NULL;
    uint16_t port = 0;
    if (!host && r->authority && r->authority[0]) { /* HTTP/2: :authority stands for Host */
        host = r->authority;
        len = strlen(host);
    }
    if (!host || mitm_h1_parse_authority(host, len, 80, &h, &port) < 0) {
        *err = host ? "invalid Host header" : "HTTP request has no Host header: destination unknown";
        return -1;
    }
    free(r->host);
    r->host = h;
    r->port = port;
    return 0;
}

static void flow_from_client(struct http_stream *s, double now)
{
    mitm_flowconn_client(s->flow, s->base.ctx, now);
}

static void on_request_headers(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    s->flow = mitm_flow_new(MITM_FLOW_HTTP, now);
    s->flow->request = ev->req;
    ev->req = NULL;
    s->flow->request->timestamp_start = now;
    if (!s->flow->request->scheme)
        s->flow->request->scheme = mitm_strdup("http");
    flow_from_client(s, now);
    const char *err = NULL;
    if (resolve_destination(s, &err) < 0) {
        fail(s, 400, err, now);
        return;
    }
    if (s->hl->h2_client && strcmp(s->flow->request->method, "CONNECT") == 0) {
        fail(s, 501, "CONNECT over HTTP/2 is not supported", now);
        return;
    }
    if (strcmp(s->flow->request->method, "CONNECT") == 0 && s->flow->request->form == MITM_TARGET_AUTHORITY) {
        s->is_connect = true;
        hook(s, MITM_HOOK_HTTP_CONNECT, W_HTTP_CONNECT);
        return;
    }
    hook(s, MITM_HOOK_REQUESTHEADERS, W_REQUESTHEADERS);
}

/* Content-Length of headers, or -1. */
static int64_t content_length(const struct mitm_headers *h)
{
    size_t len;
    const char *v = mitm_headers_get(h, "content-length", &len);
    if (!v)
        return -1;
    char tmp[32];
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, len);
    tmp[len] = 0;
    char *end;
    long long n = strtoll(tmp, &end, 10);
    return *end || n < 0 ? -1 : n;
}

static void after_requestheaders(struct http_stream *s, double now)
{
    struct mitm_http_request *r = s->flow->request;
    if (s->flow->killed) {
        fail(s, 0, "Connection killed.", now);
        return;
    }
    size_t len;
    const char *expect = mitm_headers_get(&r->headers, "expect", &len);
    if (expect && len == 12 && strncasecmp(expect, "100-continue", 12) == 0) {
        /* mitmproxy answers 100-continue itself and drops the header upstream */
        struct mitm_http_event *h = ev_new(s, MITM_HTTP_RESPONSE_HEADERS);
        h->resp = mitm_http_response_new();
        h->resp->http_version = mitm_strdup(s->hl->client->vt->version);
        h->resp->status_code = 100;
        h->resp->reason = mitm_strdup("Continue");
        to_client(s, h);
        mitm_headers_remove(&r->headers, "expect");
    }
    if (s->flow->response) {
        /* answered already (a 407 from proxyauth, a blocked host): nothing may reach a server,
         * so no streaming; the body is read to keep the connection in step, and dropped
         * (mitmproxy refuses a streamed flow that has a response) */
        r->stream = false;
        s->discard_body = true;
        return;
    }
    int64_t cl = content_length(&r->headers);
    if (s->body_limit >= 0 && cl > s->body_limit) {
        fail(s, 413, "Request body exceeds body_size_limit", now);
        return;
    }
    if (r->stream || (s->stream_limit >= 0 && cl > s->stream_limit)) {
        keep_start(s, KEEP_REQ, !r->stream && s->limit_is_buffer, &r->content);
        r->stream = true;
        r->content_missing = true;
        connect_and_send(s);
    }
}

/* Keep a body piece of a buffered message. Returns -1 after failing the exchange (over
 * body_size_limit: status, or out of memory), 1 when the body just outgrew the streaming
 * threshold, else 0. what: "Request" or "Response". */
static int buffer_body(struct http_stream *s, struct mitm_buf *content, const struct mitm_http_event *ev,
                       int status, const char *what, double now)
{
    char msg[96];
    if (s->body_limit >= 0 && (int64_t)(content->len + ev->len) > s->body_limit) {
        snprintf(msg, sizeof(msg), "%s body exceeds body_size_limit", what);
        fail(s, status, msg, now);
        return -1;
    }
    if (mitm_buf_append(content, ev->data, ev->len) < 0) {
        snprintf(msg, sizeof(msg), "%s body: out of memory buffering it", what);
        fail(s, status, msg, now);
        return -1;
    }
    return s->stream_limit >= 0 && (int64_t)content->len > s->stream_limit;
}

static void take_request_data(struct http_stream *s, struct mitm_http_event *ev, double now);

/* The bytes of a body piece were handled (buffered or passed on): the codec that read them
 * may open its flow-control window again (HTTP/2). A paused stream gets here only when its
 * queued events are replayed, so it holds back its own peer and nobody else. */
static void on_request_data(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    take_request_data(s, ev, now);
    mitm_http_codec_consumed(s->hl->client, s->id, ev->len);
}

static void take_request_data(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_http_request *r = s->flow->request;
    if (s->discard_body) {
        r->content_missing = true;
        return;
    }
    if (r->stream) {
        keep_data(s, KEEP_REQ, ev->data, ev->len);
        to_server(s, mitm_http_event_data(MITM_HTTP_REQUEST_DATA, s->id, ev->data, ev->len));
        return;
    }
    if (buffer_body(s, &r->content, ev, 413, "Request", now) == 1) {
        /* too large to keep: send what we have and stream the rest */
        keep_start(s, KEEP_REQ, s->limit_is_buffer, &r->content);
        r->stream = true;
        connect_and_send(s);
        if (s->wait != W_OPEN) {
            mitm_buf_free(&r->content);
            r->content_missing = true;
        }
    }
}

static void on_request_end(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_http_request *r = s->flow->request;
    s->req_complete = true;
    r->timestamp_end = now;
    if (ev->trailers) {
        r->trailers = ev->trailers;
        ev->trailers = NULL;
    }
    if (r->stream) {
        to_server(s, end_event(s, MITM_HTTP_REQUEST_END, r->trailers));
        keep_end(s, KEEP_REQ, &r->content, &r->content_missing);
    }
    hook(s, MITM_HOOK_REQUEST, W_REQUEST);
}

static void after_request(struct http_stream *s, double now)
{
    if (s->flow->killed) { /* mitmproxy's flow.kill(): no response, the client connection closes */
        fail(s, 0, "Connection killed.", now);
        return;
    }
    if (s->flow->request->stream) /* already on its way (streamed) */
        return;
    if (s->flow->response) { /* an addon answered: no server involved; responseheaders runs
                              * for it too, as mitmproxy emulates it */
        s->resp_complete = true;
        if (!s->flow->response->timestamp_start)
            s->flow->response->timestamp_start = now;
        hook(s, MITM_HOOK_RESPONSEHEADERS, W_MADE_RESPONSEHEADERS);
        return;
    }
    connect_and_send(s);
}

/* connection_strategy lazy: a CONNECT is answered before any server connection exists
 * (one is opened when something inside the tunnel needs it). Through an upstream proxy the
 * parent's answer decides, so the CONNECT always goes out first. */
static bool lazy_connect(const struct http_stream *s)
{
    const struct mitm_options *o = s->base.ctx->opts;
    return s->hl->mode != MITM_HTTP_UPSTREAM && o && strcmp(o->connection_strategy, "lazy") == 0;
}

static void established(struct http_stream *s, double now)
{
    s->flow->response = mitm_http_response_new();
    s->flow->response->http_version = mitm_strdup(s->hl->client->vt->version);
    s->flow->response->status_code = 200;
    s->flow->response->reason = mitm_strdup("Connection established");
    s->flow->response->timestamp_start = s->flow->response->timestamp_end = now;
    finish(s);
}

static void connect_lazily(struct http_stream *s, double now)
{
    struct mitm_http_request *r = s->flow->request;
    s->tunnel = mitm_ctx_conn_new(s->base.ctx, r->host, r->port);
    established(s, now);
}

static void after_open(struct http_stream *s, struct mitm_cmd *cmd, double now)
{
    if (cmd->error) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", cmd->error);
        free(s->flow->server_conn.error);
        s->flow->server_conn.error = mitm_strdup(cmd->error);
        s->srv->dead = true;
        mitm_http_server_release(s->hl, s->srv);
        s->srv = NULL;
        fail_logged(s, cmd->timeout ? 504 : 502, msg, now, false); /* the driver logged it */
        return;
    }
    record_server(s);
    if (s->is_connect) {
        established(s, now);
        return;
    }
    send_request_head(s);
    struct mitm_http_request *r = s->flow->request;
    send_request_rest(s);
    if (r->stream) {
        mitm_buf_free(&r->content);
        r->content_missing = true;
    }
}

static void on_response_headers(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    mitm_http_response_free(s->flow->response);
    s->flow->response = ev->resp;
    ev->resp = NULL;
    s->flow->response->timestamp_start = now;
    hook(s, MITM_HOOK_RESPONSEHEADERS, W_RESPONSEHEADERS);
}

/* RFC 9112 §6.3 rules 1 and 2, and Content-Length: 0: the head is the whole response, so
 * it is its last byte and must wait for the response hook like a body's last piece. */
static bool head_is_whole(const struct http_stream *s, const struct mitm_http_response *r)
{
    int code = r->status_code;
    return content_length(&r->headers) == 0 || strcmp(s->flow->request->method, "HEAD") == 0 ||
           (code >= 100 && code < 200) || code == 204 || code == 304;
}

static void start_streaming_response(struct http_stream *s, bool by_limit)
{
    struct mitm_http_response *r = s->flow->response;
    keep_start(s, KEEP_RESP, by_limit, &r->content);
    r->stream = true;
    struct mitm_http_event *h = ev_new(s, MITM_HTTP_RESPONSE_HEADERS);
    h->resp = mitm_http_response_new();
    h->resp->http_version = mitm_strdup(r->http_version);
    h->resp->status_code = r->status_code;
    h->resp->reason = mitm_strdup(r->reason);
    mitm_headers_copy(&h->resp->headers, &r->headers);
    s->resp_sent_head = true;
    /* a head with a body to come goes now (a long poll must see it), else it is held */
    if (head_is_whole(s, r))
        stream_to_client(s, h);
    else
        to_client(s, h);
    if (r->content.len)
        stream_to_client(s, mitm_http_event_data(MITM_HTTP_RESPONSE_DATA, s->id, mitm_buf_data(&r->content),
                                                 r->content.len));
    mitm_buf_free(&r->content);
    r->content_missing = true;
}

static void after_responseheaders(struct http_stream *s, double now)
{
    struct mitm_http_response *r = s->flow->response;
    int64_t cl = content_length(&r->headers);
    if (s->body_limit >= 0 && cl > s->body_limit) {
        fail(s, 502, "Response body exceeds body_size_limit", now);
        return;
    }
    if (r->stream || (s->stream_limit >= 0 && cl > s->stream_limit))
        start_streaming_response(s, !r->stream && s->limit_is_buffer);
}

static void on_response_data(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_http_response *r = s->flow->response;
    if (r->stream) {
        keep_data(s, KEEP_RESP, ev->data, ev->len);
        stream_to_client(s, mitm_http_event_data(MITM_HTTP_RESPONSE_DATA, s->id, ev->data, ev->len));
    } else if (buffer_body(s, &r->content, ev, 502, "Response", now) == 1) {
        start_streaming_response(s, s->limit_is_buffer);
    }
    if (s->srv && s->srv->codec)
        mitm_http_codec_consumed(s->srv->codec, s->id, ev->len);
}

static void on_response_end(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_http_response *r = s->flow->response;
    s->resp_complete = true;
    r->timestamp_end = now;
    if (ev->trailers) {
        r->trailers = ev->trailers;
        ev->trailers = NULL;
    }
    /* streamed: the held last piece and the end go after the response hook (after_response);
     * a kept body is the flow's from now on, for the hook and the recorders */
    if (r->stream)
        keep_end(s, KEEP_RESP, &r->content, &r->content_missing);
    /* set before the response hook, as mitmproxy does, so addons know a WebSocket follows */
    const struct mitm_options *o = s->base.ctx->opts;
    if ((!o || o->websocket) && !s->flow->websocket &&
        mitm_ws_is_upgrade(r->status_code, &s->flow->request->headers, &r->headers))
        s->flow->websocket = mitm_websocket_new();
    hook(s, MITM_HOOK_RESPONSE, W_RESPONSE);
}

static void after_response(struct http_stream *s)
{
    if (s->flow->response->stream && s->resp_sent_head)
        release_held(s, s->flow->response->trailers);
    else /* buffered, or made by an addon (which streams nothing, even when marked so) */
        send_response(s, s->flow->response);
    finish(s);
}

/* mitmproxy's check_killed after the response hook: a flow killed there (a script's
 * flow:kill(), the save addon after a write error) sends nothing more to its client, whose
 * connection closes. No error hook: the flow is final, the driver published it already. */
static void kill_after_response(struct http_stream *s)
{
    mitm_http_event_free(s->held);
    s->held = NULL;
    cut_server(s, false); /* not reused: it may have switched protocols (a 101) */
    cut_client(s);
    finish(s);
}

/* The exchange ends without its proper end on the server side. HTTP/1: the connection is of
 * no further use (closed now, or at release); HTTP/2: only this stream is reset. */
static void cut_server(struct http_stream *s, bool close_now)
{
    if (!s->srv)
        return;
    if (s->srv->codec && mitm_http_codec_multiplexed(s->srv->codec)) {
        mitm_http_codec_cancel(s->srv->codec, s->id);
        return;
    }
    s->srv->dead = true;
    if (close_now && mitm_conn_writable(s->srv->conn))
        mitm_layer_close(&s->base, s->srv->conn, false);
}

/* The same toward the client: HTTP/1 closes the connection, HTTP/2 resets the stream. */
static void cut_client(struct http_stream *s)
{
    if (mitm_http_codec_multiplexed(s->hl->client))
        mitm_http_codec_cancel(s->hl->client, s->id);
    else if (s->hl->base.ctx->client->state != MITM_CONN_CLOSED)
        mitm_layer_close(&s->base, s->hl->base.ctx->client, false);
}

static void finish(struct http_stream *s)
{
    if (s->done)
        return;
    s->done = true;
    if (s->flow->response && s->flow->response->status_code == 101 && s->resp_sent_head && !s->is_connect) {
        if (s->srv && !s->flow->killed) {
            /* switching protocols: the connections go to the new protocol's layer */
            struct http_server *srv = s->srv;
            s->srv = NULL;
            mitm_http_layer_upgrade(s->hl, srv, s->flow);
            return;
        }
        /* the client switched already, but no server speaks the new protocol with it */
        if (s->hl->base.ctx->client->state != MITM_CONN_CLOSED)
            mitm_layer_close(&s->base, s->hl->base.ctx->client, false);
    }
    if (s->srv) {
        struct http_server *srv = s->srv;
        s->srv = NULL;
        if (s->is_connect)
            s->tunnel = srv->conn;
        /* an exchange cut short leaves the connection unusable; a CONNECT's connection
         * carries the tunnel */
        if (!s->is_connect && (!s->resp_complete || !s->req_complete)) {
            s->srv = srv;
            cut_server(s, false);
            s->srv = NULL;
        }
        mitm_http_server_release(s->hl, srv);
    }
    if (s->is_connect && s->flow->response && s->flow->response->status_code == 200 && s->tunnel) {
        send_response(s, s->flow->response);
        mitm_http_layer_tunnel(s->hl, s->tunnel);
    }
}

/* The client learns of the failure after the error hook, as in mitmproxy (the hook, then
 * the error toward the client): -w writes the flow in that hook, before the client has the
 * last byte of the error response. */
static void tell_client(struct http_stream *s)
{
    if (s->fail_status) {
        struct mitm_http_response *r =
            mitm_http_codec_error_response(s->hl->client, s->fail_status, s->fail_msg);
        send_response(s, r);
        mitm_http_response_free(r);
    } else if (s->fail_close) {
        cut_client(s);
    }
    s->fail_status = 0;
    s->fail_close = false;
}

static void fail(struct http_stream *s, int status, const char *msg, double now)
{
    fail_logged(s, status, msg, now, true);
}

/* The exchange failed: tell the client if it can still be told, record the error, log it
 * (unless already logged), run the error hook. status 0: nothing to send (client gone). */
static void fail_logged(struct http_stream *s, int status, const char *msg, double now, bool log)
{
    if (!s->flow) {
        s->flow = mitm_flow_new(MITM_FLOW_HTTP, now);
        flow_from_client(s, now);
    }
    mitm_flow_set_error(s->flow, msg, now);
    mitm_http_event_free(s->held); /* a cut response: its client gets no more of it */
    s->held = NULL;
    if (log)
        mitm_layer_log(&s->base, MITM_LOG_INFO, "%s", msg);
    if (status && !s->resp_sent_head) {
        s->fail_status = status;
        free(s->fail_msg);
        s->fail_msg = mitm_strdup(msg);
    } else {
        /* a killed flow's client never gets the response that was waiting for it */
        s->fail_close = !s->resp_complete || s->resp_sent_head || s->flow->killed;
    }
    cut_server(s, true);
    s->resp_complete = s->req_complete = true; /* nothing more will happen */
    if (s->flow->request) {
        hook(s, MITM_HOOK_ERROR, W_ERROR);
        return;
    }
    tell_client(s);
    finish(s);
}

static void on_http(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    if (s->done)
        return;
    switch (ev->type) {
    case MITM_HTTP_REQUEST_HEADERS:
        on_request_headers(s, ev, now);
        break;
    case MITM_HTTP_REQUEST_DATA:
        on_request_data(s, ev, now);
        break;
    case MITM_HTTP_REQUEST_END:
        on_request_end(s, ev, now);
        break;
    case MITM_HTTP_RESPONSE_HEADERS:
        on_response_headers(s, ev, now);
        break;
    case MITM_HTTP_RESPONSE_DATA:
        on_response_data(s, ev, now);
        break;
    case MITM_HTTP_RESPONSE_END:
        on_response_end(s, ev, now);
        break;
    case MITM_HTTP_REQUEST_ERROR:
        fail(s, ev->status, ev->msg, now);
        break;
    case MITM_HTTP_RESPONSE_ERROR:
        fail(s, 502, ev->msg, now);
        break;
    }
}

static void on_reply(struct http_stream *s, struct mitm_cmd *cmd, double now)
{
    enum wait w = s->wait;
    s->wait = W_NOTHING;
    if (s->done && w != W_ERROR)
        return;
    switch (w) {
    case W_REQUESTHEADERS:
        after_requestheaders(s, now);
        break;
    case W_REQUEST:
        after_request(s, now);
        break;
    case W_HTTP_CONNECT:
        if (s->flow->response) /* refused by an addon */
            after_response(s);
        else if (lazy_connect(s))
            connect_lazily(s, now);
        else
            connect_and_send(s);
        break;
    case W_OPEN:
        after_open(s, cmd, now);
        break;
    case W_RESPONSEHEADERS:
        if (s->flow->killed) /* flow.kill() in responseheaders, or the user killed it while held */
            fail(s, 0, "Connection killed.", now);
        else
            after_responseheaders(s, now);
        break;
    case W_MADE_RESPONSEHEADERS:
        if (s->flow->killed)
            fail(s, 0, "Connection killed.", now);
        else
            hook(s, MITM_HOOK_RESPONSE, W_RESPONSE);
        break;
    case W_RESPONSE:
        if (s->flow->killed)
            kill_after_response(s);
        else
            after_response(s);
        break;
    case W_ERROR:
        tell_client(s);
        finish(s);
        break;
    case W_NOTHING:
        break;
    }
}

static void stream_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct http_stream *s = (struct http_stream *)l;
    s->hl->now = ev->now;
    if (ev->type == MITM_EV_MESSAGE) {
        struct mitm_payload msg = ev->msg; /* ours now */
        struct mitm_http_event *e = mitm_payload_http_take(&msg);
        if (e)
            on_http(s, e, ev->now);
        mitm_http_event_free(e);
        mitm_payload_free(&msg);
    } else if (ev->type == MITM_EV_REPLY) {
        on_reply(s, ev->cmd, ev->now);
    }
    if (ev->type == MITM_EV_REPLY) /* replies come straight here, not through the layer */
        mitm_http_layer_update_timers(s->hl);
}

static void stream_destroy(struct mitm_layer *l)
{
    mitm_http_stream_free((struct http_stream *)l);
}

static const struct mitm_layer_vt stream_vt = {
    .name = "HttpStream", .handle = stream_handle, .destroy = stream_destroy};
