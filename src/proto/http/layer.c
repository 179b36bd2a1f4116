/* The HTTP layer (mitmproxy's HttpLayer, regular mode): routes bytes of the client and
 * server connections through their HTTP/1 codecs, hands the resulting events to one
 * stream per request, and keeps server connections for reuse. */
#include "proto/http/layer.h"
#include "core/options.h"
#include "base/alloc.h"
#include "base/log.h"
#include "proto/http/http.h"
#include "proto/http/layer-int.h"
#include "proto/tls/tls.h"

#include <stdlib.h>
#include <string.h>

static const struct mitm_layer_vt http_vt;

/* Pipelined bytes a client may send ahead of our responses. */
#define PIPELINE_CAP ((size_t)1 << 20)

static void client_event(void *arg, struct mitm_h1conn *c, struct mitm_http_event *ev);
static void server_event(void *arg, struct mitm_h1conn *c, struct mitm_http_event *ev);

static struct http_layer *layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent)
{
    struct http_layer *hl = mitm_calloc(1, sizeof(*hl));
    mitm_layer_init(&hl->base, &http_vt, ctx, parent);
    const struct mitm_options *o = ctx->opts;
    int64_t line = mitm_options_size(o->http_max_line_size),
            head = mitm_options_size(o->http_max_header_size);
    hl->lim.max_line = line > 0 ? (size_t)line : MITM_H1_DEFAULT_MAX_LINE;
    hl->lim.max_head = head > 0 ? (size_t)head : MITM_H1_DEFAULT_MAX_HEAD;
    hl->lim.validate = o->validate_inbound_headers;
    mitm_h1conn_init(&hl->client, MITM_H1CONN_SERVER, &hl->base, ctx->client, &hl->lim, PIPELINE_CAP,
                     client_event, hl);
    return hl;
}

struct mitm_layer *mitm_http_layer_new(struct mitm_ctx *ctx)
{
    return &layer_new(ctx, NULL)->base;
}

struct mitm_layer *mitm_http_layer_new_inner(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                             const char *scheme, const char *host, uint16_t port,
                                             struct mitm_conn *server)
{
    struct http_layer *hl = layer_new(ctx, parent);
    hl->tunnel_host = mitm_strdup(host);
    hl->tunnel_port = port;
    hl->tunnel_scheme = mitm_strdup(scheme);
    if (server) {
        struct http_server *srv = mitm_calloc(1, sizeof(*srv));
        srv->conn = server;
        srv->hl = hl;
        mitm_h1conn_init(&srv->h1, MITM_H1CONN_CLIENT, &hl->base, server, &hl->lim, 0, server_event, srv);
        hl->servers = srv;
    }
    return &hl->base;
}

static void free_server(struct http_server *srv)
{
    mitm_h1conn_free(&srv->h1);
    free(srv);
}

/* Free finished streams and dead servers. Only called where no stream or codec code is
 * on the stack (the top of the layer's own handler, and destroy). */
static void collect(struct http_layer *hl)
{
    struct http_stream **sp = &hl->streams;
    while (*sp) {
        struct http_stream *st = *sp;
        if (mitm_http_stream_done(st) && !mitm_http_stream_layer(st)->paused) {
            *sp = mitm_http_stream_next(st);
            mitm_http_stream_free(st);
        } else {
            sp = mitm_http_stream_next_ptr(st);
        }
    }
    struct http_server **pp = &hl->servers;
    while (*pp) {
        struct http_server *srv = *pp;
        if (srv->dead && !srv->owner && srv->conn->state != MITM_CONN_OPENING) {
            *pp = srv->next;
            free_server(srv);
        } else {
            pp = &srv->next;
        }
    }
}

static struct http_stream *find_stream(struct http_layer *hl, uint32_t id)
{
    for (struct http_stream *s = hl->streams; s; s = mitm_http_stream_next(s))
        if (mitm_http_stream_id(s) == id && !mitm_http_stream_done(s))
            return s;
    return NULL;
}

static void deliver(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_event e = {.type = MITM_EV_MESSAGE, .now = now, .msg = mitm_http_event_payload(ev)};
    mitm_layer_event(mitm_http_stream_layer(s), &e);
}

static void client_event(void *arg, struct mitm_h1conn *c, struct mitm_http_event *ev)
{
    (void)c;
    struct http_layer *hl = arg;
    struct http_stream *s = NULL;
    if (ev->type == MITM_HTTP_REQUEST_HEADERS) {
        s = mitm_http_stream_new(hl, ev->stream_id);
        *mitm_http_stream_next_ptr(s) = hl->streams;
        hl->streams = s;
    } else {
        s = ev->stream_id ? find_stream(hl, ev->stream_id) : NULL;
    }
    if (s) {
        deliver(s, ev, hl->now);
        return;
    }
    if (ev->type == MITM_HTTP_REQUEST_ERROR) {
        /* no exchange to attach it to: a malformed head */
        mitm_layer_log(&hl->base, MITM_LOG_INFO, "HTTP/1 protocol error: %s", ev->msg);
        if (ev->status) {
            struct mitm_http_response *r = mitm_http_error_response(ev->status, ev->msg);
            struct mitm_buf out;
            mitm_buf_init(&out, 0);
            mitm_h1_write_response_head(&out, r);
            mitm_buf_append(&out, mitm_buf_data(&r->content), r->content.len);
            mitm_layer_send(&hl->base, hl->base.ctx->client, mitm_buf_data(&out), out.len);
            mitm_buf_free(&out);
            mitm_http_response_free(r);
        }
        mitm_layer_close(&hl->base, hl->base.ctx->client, false);
    }
    mitm_http_event_free(ev);
}

static void server_event(void *arg, struct mitm_h1conn *c, struct mitm_http_event *ev)
{
    struct http_server *srv = arg;
    (void)c;
    if (srv->owner) {
        deliver(srv->owner, ev, srv->hl->now);
        return;
    }
    /* an idle connection spoke or failed: it is of no further use */
    srv->dead = true;
    mitm_http_event_free(ev);
}

struct http_server *mitm_http_server_get(struct http_layer *hl, struct http_stream *s, const char *host,
                                         uint16_t port)
{
    for (struct http_server *srv = hl->servers; srv; srv = srv->next) {
        if (!srv->owner && !srv->dead && srv->conn->port == port && strcmp(srv->conn->host, host) == 0 &&
            mitm_h1conn_reusable(&srv->h1)) {
            srv->owner = s;
            return srv;
        }
    }
    struct http_server *srv = mitm_calloc(1, sizeof(*srv));
    srv->conn = mitm_ctx_conn_new(hl->base.ctx, host, port);
    mitm_h1conn_init(&srv->h1, MITM_H1CONN_CLIENT, &hl->base, srv->conn, &hl->lim, 0, server_event, srv);
    srv->owner = s;
    srv->hl = hl;
    srv->next = hl->servers;
    hl->servers = srv;
    return srv;
}

void mitm_http_server_release(struct http_layer *hl, struct http_server *srv)
{
    srv->owner = NULL;
    if (!srv->dead && mitm_h1conn_reusable(&srv->h1))
        return;
    srv->dead = true;
    if (srv->conn->state == MITM_CONN_OPEN || srv->conn->state == MITM_CONN_READ_EOF)
        mitm_layer_close(&hl->base, srv->conn, false);
}

static struct http_server *find_server(struct http_layer *hl, struct mitm_conn *conn)
{
    for (struct http_server *srv = hl->servers; srv; srv = srv->next)
        if (srv->conn == conn && !srv->given)
            return srv;
    return NULL;
}

void mitm_http_layer_tunnel(struct http_layer *hl, const char *host, uint16_t port)
{
    free(hl->tunnel_host);
    hl->tunnel_host = mitm_strdup(host);
    hl->tunnel_port = port;
    hl->client.tunnel = true; /* the next bytes decide: HTTP or something else */
}

/* TLS record: handshake, SSL 3.0 .. TLS 1.2 record version (mitmproxy next_layer). */
static bool looks_like_tls(const uint8_t *p, size_t n)
{
    return n >= 3 && p[0] == 0x16 && p[1] == 0x03 && p[2] <= 0x03;
}

static struct http_server *tunnel_server(struct http_layer *hl)
{
    for (struct http_server *srv = hl->servers; srv; srv = srv->next)
        if (!srv->dead && srv->conn->port == hl->tunnel_port && strcmp(srv->conn->host, hl->tunnel_host) == 0)
            return srv;
    return NULL;
}

/* First bytes inside a CONNECT tunnel: HTTP is proxied as HTTP; TLS (until interception
 * exists) is relayed untouched to the server. */
static void tunnel_first_bytes(struct http_layer *hl, const uint8_t *p, size_t n)
{
    /* three bytes tell TLS from anything else; wait for them */
    if (mitm_buf_append(&hl->client.in, p, n) < 0 || hl->client.in.len < 3) {
        if (hl->client.in.len < 3)
            return;
    }
    size_t len;
    uint8_t *data = mitm_buf_steal(&hl->client.in, &len);
    struct http_server *srv = tunnel_server(hl);
    if (looks_like_tls(data, len)) {
        /* TLS interception: the TLS layer takes the client and the tunnel's server
         * connection (if one is open) and runs its own HTTP layer inside */
        struct mitm_conn *server = NULL;
        if (srv && srv->conn->state == MITM_CONN_OPEN) {
            server = srv->conn;
            srv->given = true;
        }
        hl->child = mitm_tls_layer_new(hl->base.ctx, &hl->base, server, hl->tunnel_host, hl->tunnel_port);
        if (!hl->child && srv) /* TLS: declined (ignore_hosts): relayed below */
            srv->given = false;
    }
    if (hl->child) {
        struct mitm_event ev = {.type = MITM_EV_DATA,
                                .now = hl->now,
                                .conn = hl->base.ctx->client,
                                .data = mitm_slice(data, len)};
        mitm_layer_event(hl->child, &ev);
    } else if (looks_like_tls(data, len) && srv && srv->conn->state == MITM_CONN_OPEN) {
        hl->relaying = true;
        srv->owner = NULL;
        srv->dead = false;
        srv->h1.tunnel = true;
        mitm_layer_send(&hl->base, srv->conn, data, len);
    } else {
        hl->client.tunnel = false;
        mitm_h1conn_feed(&hl->client, data, len);
    }
    free(data);
}

void mitm_http_layer_tunnel_start(struct http_layer *hl)
{
    uint8_t *rest;
    size_t n;
    mitm_h1conn_take_rest(&hl->client, &rest, &n);
    if (n)
        tunnel_first_bytes(hl, rest, n);
    free(rest);
}

static void relay(struct http_layer *hl, const struct mitm_event *ev)
{
    struct http_server *srv = tunnel_server(hl);
    struct mitm_conn *client = hl->base.ctx->client;
    if (!srv)
        return;
    struct mitm_conn *other = ev->conn == client ? srv->conn : client;
    if (ev->type == MITM_EV_DATA) {
        mitm_layer_send(&hl->base, other, ev->data.base, ev->data.len);
    } else if (ev->type == MITM_EV_CLOSED) {
        if (other->state != MITM_CONN_CLOSED)
            mitm_layer_close(&hl->base, other, ev->half_close);
        if (!ev->half_close)
            srv->dead = true;
    }
}

static void on_client_closed(struct http_layer *hl, const struct mitm_event *ev)
{
    mitm_h1conn_eof(&hl->client);
    bool live = false;
    for (struct http_stream *s = hl->streams; s; s = mitm_http_stream_next(s))
        live |= !mitm_http_stream_done(s);
    if (ev->half_close && live)
        return; /* answer what was asked, then close (h1conn sees peer_eof) */
    hl->base.ctx->client->state = MITM_CONN_CLOSED;
    /* every live exchange loses its client */
    for (struct http_stream *s = hl->streams; s; s = mitm_http_stream_next(s))
        if (!mitm_http_stream_done(s))
            deliver(s,
                    mitm_http_event_error(MITM_HTTP_REQUEST_ERROR, mitm_http_stream_id(s), 0,
                                          "client disconnected"),
                    ev->now);
    for (struct http_server *srv = hl->servers; srv; srv = srv->next) {
        if (srv->conn->state == MITM_CONN_OPEN || srv->conn->state == MITM_CONN_READ_EOF)
            mitm_layer_close(&hl->base, srv->conn, false);
        srv->dead = true;
    }
}

static void on_server_closed(struct http_layer *hl, struct http_server *srv, const struct mitm_event *ev)
{
    srv->conn->state = ev->half_close ? MITM_CONN_READ_EOF : MITM_CONN_CLOSED;
    mitm_h1conn_eof(&srv->h1);
    if (!ev->half_close || !srv->owner) {
        if (srv->conn->state != MITM_CONN_CLOSED)
            mitm_layer_close(&hl->base, srv->conn, false);
        srv->dead = true;
    }
}

static void http_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct http_layer *hl = (struct http_layer *)l;
    hl->now = ev->now;
    collect(hl);
    struct mitm_conn *client = l->ctx->client;
    if (hl->child && (ev->type == MITM_EV_DATA || ev->type == MITM_EV_CLOSED) &&
        (ev->conn == client || !find_server(hl, ev->conn))) {
        /* everything inside the tunnel belongs to the child stack */
        mitm_layer_event(hl->child, ev);
        collect(hl);
        return;
    }
    if (hl->relaying && (ev->type == MITM_EV_DATA || ev->type == MITM_EV_CLOSED)) {
        relay(hl, ev);
        return;
    }
    switch (ev->type) {
    case MITM_EV_DATA:
        if (ev->conn == client) {
            if (hl->client.tunnel) {
                tunnel_first_bytes(hl, ev->data.base, ev->data.len);
            } else {
                mitm_h1conn_feed(&hl->client, ev->data.base, ev->data.len);
            }
        } else {
            struct http_server *srv = find_server(hl, ev->conn);
            if (srv)
                mitm_h1conn_feed(&srv->h1, ev->data.base, ev->data.len);
        }
        break;
    case MITM_EV_CLOSED:
        if (ev->conn == client) {
            on_client_closed(hl, ev);
        } else {
            struct http_server *srv = find_server(hl, ev->conn);
            if (srv)
                on_server_closed(hl, srv, ev);
        }
        break;
    default:
        break;
    }
    collect(hl);
}

static void http_destroy(struct mitm_layer *l)
{
    struct http_layer *hl = (struct http_layer *)l;
    struct http_stream *s, *sn;
    for (s = hl->streams; s; s = sn) {
        sn = mitm_http_stream_next(s);
        mitm_http_stream_free(s);
    }
    struct http_server *srv, *n;
    for (srv = hl->servers; srv; srv = n) {
        n = srv->next;
        free_server(srv);
    }
    mitm_layer_destroy(hl->child);
    mitm_h1conn_free(&hl->client);
    free(hl->tunnel_host);
    free(hl->tunnel_scheme);
    mitm_layer_deinit(l);
    free(hl);
}

static const struct mitm_layer_vt http_vt = {
    .name = "HttpLayer", .handle = http_handle, .destroy = http_destroy};
