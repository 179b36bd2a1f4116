/* The HTTP layer (mitmproxy's HttpLayer): routes bytes of the client and server
 * connections through their HTTP/1 codecs, hands the resulting events to one stream per
 * request, keeps server connections for reuse, and after a CONNECT hands the client
 * connection to a next-layer step (TLS, HTTP or raw TCP inside the tunnel). */
#include "proto/http/layer.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/modespec.h"
#include "core/options.h"
#include "proto/http/connect.h"
#include "proto/http/h1conn.h"
#include "proto/http2/h2conn.h"
#include "proto/http/http.h"
#include "proto/http/layer-int.h"
#include "proto/next.h"
#include "proto/tcp/tcp.h"
#include "proto/tls/tls.h"
#include "proto/ws/layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct mitm_layer_vt http_vt;

/* Pipelined bytes a client may send ahead of our responses. */
#define PIPELINE_CAP ((size_t)1 << 20)

/* ALPN we offer servers we open ourselves: HTTP/1 only through a parent proxy's TLS, else
 * h2 first when option http2 is on (mitmproxy's HTTP_ALPNS). */
static const uint8_t ALPN_HTTP11[] = "\x08http/1.1";
static const uint8_t ALPN_H2[] = "\x02h2\x08http/1.1";

static void client_event(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev);
static void server_event(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev);

static struct http_server *server_new(struct http_layer *hl, struct mitm_conn *conn, bool proxy)
{
    struct http_server *srv = mitm_calloc(1, sizeof(*srv));
    srv->conn = conn;
    srv->hl = hl;
    srv->proxy = proxy;
    srv->next = hl->servers;
    hl->servers = srv;
    return srv;
}

struct mitm_layer *mitm_http_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                       enum mitm_http_mode mode, struct mitm_conn *server)
{
    struct http_layer *hl = mitm_calloc(1, sizeof(*hl));
    mitm_layer_init(&hl->base, &http_vt, ctx, parent);
    hl->mode = mode;
    const struct mitm_options *o = ctx->opts;
    int64_t line = mitm_options_size(o->http_max_line_size),
            head = mitm_options_size(o->http_max_header_size);
    hl->lim.max_line = line > 0 ? (size_t)line : MITM_H1_DEFAULT_MAX_LINE;
    hl->lim.max_head = head > 0 ? (size_t)head : MITM_H1_DEFAULT_MAX_HEAD;
    hl->lim.validate = o->validate_inbound_headers;
    mitm_h2_limits_from(&hl->h2lim, o);
    /* h2 by ALPN, or "h2c": the next-layer step saw the prior-knowledge preface */
    const char *alpn = ctx->client->alpn;
    bool tls = ctx->client->tls;
    if (o->http2 && alpn && (tls ? strcmp(alpn, "h2") == 0 : strcmp(alpn, "h2c") == 0))
        hl->client = mitm_h2conn_new(MITM_CODEC_SERVER, &hl->base, ctx->client, &hl->h2lim, client_event, hl);
    hl->h2_client = hl->client != NULL;
    if (!hl->client)
        hl->client = mitm_h1conn_new(MITM_CODEC_SERVER, &hl->base, ctx->client, &hl->lim, PIPELINE_CAP, false,
                                     client_event, hl);
    hl->origin = server;
    if (server) {
        struct http_server *srv = server_new(hl, server, false);
        srv->stack = true;
        srv->https = mitm_tls_server_has(server);
    }
    return &hl->base;
}

static void free_server(struct http_server *srv)
{
    mitm_http_codec_free(srv->codec);
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
        if (srv->dead && !srv->users && srv->conn->state != MITM_CONN_OPENING) {
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

static bool live_streams(const struct http_layer *hl)
{
    for (struct http_stream *s = hl->streams; s; s = mitm_http_stream_next(s))
        if (!mitm_http_stream_done(s))
            return true;
    return false;
}

static void deliver(struct http_stream *s, struct mitm_http_event *ev, double now)
{
    struct mitm_event e = {.type = MITM_EV_MESSAGE, .now = now, .msg = mitm_http_event_payload(ev)};
    mitm_layer_event(mitm_http_stream_layer(s), &e);
}

/* A response the layer itself sends when no exchange is there to do it (a malformed
 * head, a header timeout), then the close. */
static void refuse(struct http_layer *hl, int status, const char *msg)
{
    mitm_http_codec_refuse(hl->client, status, msg);
}

static void client_event(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev)
{
    struct http_layer *hl = arg;
    struct http_stream *s = NULL;
    if (ev->type == MITM_HTTP_REQUEST_HEADERS) {
        mitm_timer_clear(&hl->head);
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
    if (ev->type == MITM_HTTP_REQUEST_ERROR && !mitm_http_codec_multiplexed(c)) {
        /* no exchange to attach it to: a malformed head (HTTP/2: a stream whose exchange
         * ended already; connection errors are the codec's own) */
        mitm_layer_log(&hl->base, MITM_LOG_INFO, "%s protocol error: %s", hl->client->vt->name, ev->msg);
        if (ev->status)
            refuse(hl, ev->status, ev->msg);
        else
            mitm_layer_close(&hl->base, hl->base.ctx->client, false);
    }
    mitm_http_event_free(ev);
}

static void server_event(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev)
{
    struct http_server *srv = arg;
    if (mitm_http_codec_multiplexed(c)) {
        /* the layer's stream id travels with every event of an HTTP/2 exchange */
        struct http_stream *s = find_stream(srv->hl, ev->stream_id);
        if (s)
            deliver(s, ev, srv->hl->now);
        else
            mitm_http_event_free(ev);
        return;
    }
    if (srv->owner) {
        deliver(srv->owner, ev, srv->hl->now);
        return;
    }
    /* an idle connection spoke or failed: it is of no further use */
    srv->dead = true;
    mitm_http_event_free(ev);
}

/* ---- server connections ------------------------------------------------------------ */

static bool reusable(struct http_server *srv, const char *host, uint16_t port, bool https, bool proxy)
{
    if (srv->dead || srv->given || srv->stack || srv->https != https || srv->proxy != proxy ||
        srv->conn->port != port || strcasecmp(srv->conn->host, host) != 0 ||
        srv->conn->state != MITM_CONN_OPEN)
        return false;
    struct mitm_http_codec *c = mitm_http_server_codec(srv);
    return (!srv->owner || mitm_http_codec_multiplexed(c)) && mitm_http_codec_reusable(c);
}

/* Basic credentials of upstream_auth ("user:pass"), for Proxy-Authorization. */
static void upstream_auth(const struct mitm_options *o, char *out, size_t cap)
{
    out[0] = 0;
    if (o && o->upstream_auth && o->upstream_auth[0])
        mitm_http_basic_auth(o->upstream_auth, out, cap);
}

/* A new connection as the request needs it. Upstream mode: plain http to the parent proxy
 * itself (absolute form); anything else through a CONNECT to it. */
static struct http_server *server_make(struct http_layer *hl, const char *scheme, const char *host,
                                       uint16_t port, bool connect)
{
    struct mitm_ctx *ctx = hl->base.ctx;
    const struct mitm_mode_spec *m = ctx->mode;
    bool https = !connect && strcmp(scheme, "https") == 0;
    bool upstream = hl->mode == MITM_HTTP_UPSTREAM && m && m->kind == MITM_MODE_UPSTREAM;
    bool proxy = upstream && !connect && !https;
    struct mitm_conn *conn = mitm_ctx_conn_new(ctx, proxy ? m->host : host, proxy ? m->port : port);
    if (upstream) {
        bool parent_tls = strcmp(m->scheme, "https") == 0;
        if (!proxy) {
            conn->via_host = mitm_strdup(m->host);
            conn->via_port = m->port;
        }
        if (parent_tls) /* TLS to the parent proxy itself, under everything else */
            mitm_tls_server_push(ctx, conn, m->host, ALPN_HTTP11, sizeof(ALPN_HTTP11) - 1);
        if (!proxy) {
            char auth[600];
            upstream_auth(ctx->opts, auth, sizeof(auth));
            mitm_http_connect_push(ctx, conn, auth[0] ? auth : NULL,
                                   ctx->opts->http_connect_send_host_header);
        }
    }
    if (https)
        mitm_tls_server_push(ctx, conn, host, ctx->opts->http2 ? ALPN_H2 : ALPN_HTTP11,
                             ctx->opts->http2 ? sizeof(ALPN_H2) - 1 : sizeof(ALPN_HTTP11) - 1);
    struct http_server *srv = server_new(hl, conn, proxy);
    srv->https = https;
    return srv;
}

struct http_server *mitm_http_server_get(struct http_layer *hl, struct http_stream *s, const char *scheme,
                                         const char *host, uint16_t port, bool connect)
{
    const struct mitm_mode_spec *m = hl->base.ctx->mode;
    bool https = !connect && strcmp(scheme, "https") == 0;
    bool proxy = hl->mode == MITM_HTTP_UPSTREAM && m && m->kind == MITM_MODE_UPSTREAM && !connect && !https;
    const char *h = proxy ? m->host : host;
    uint16_t p = proxy ? m->port : port;
    for (struct http_server *srv = hl->servers; srv; srv = srv->next) {
        /* the stack's own connection serves the first request to its address */
        bool stack = srv->stack && !connect && srv->conn->port == p && strcasecmp(srv->conn->host, h) == 0;
        if (stack || (!connect && reusable(srv, h, p, https, proxy))) {
            srv->stack = false;
            srv->owner = s;
            srv->users++;
            return srv;
        }
    }
    struct http_server *srv = server_make(hl, scheme, host, port, connect);
    srv->owner = s;
    srv->users++;
    return srv;
}

void mitm_http_server_release(struct http_layer *hl, struct http_server *srv)
{
    srv->owner = NULL;
    if (srv->users)
        srv->users--;
    if (srv->users && !srv->dead)
        return; /* HTTP/2: its other streams go on */
    if (!srv->dead && srv->conn->state == MITM_CONN_OPEN &&
        (!srv->codec || mitm_http_codec_reusable(srv->codec)))
        return; /* no codec yet: opened (a CONNECT's tunnel, say) but never spoken on */
    srv->dead = true;
    if (mitm_conn_writable(srv->conn))
        mitm_layer_close(&hl->base, srv->conn, false);
}

struct mitm_http_codec *mitm_http_server_codec(struct http_server *srv)
{
    if (srv->codec)
        return srv->codec;
    struct http_layer *hl = srv->hl;
    const char *alpn = srv->conn->alpn;
    if (hl->base.ctx->opts->http2 && srv->https && alpn && strcmp(alpn, "h2") == 0) {
        srv->codec = mitm_h2conn_new(MITM_CODEC_CLIENT, &hl->base, srv->conn, &hl->h2lim, server_event, srv);
        srv->active = hl->now; /* its preface and SETTINGS go out now */
    }
    if (!srv->codec)
        srv->codec = mitm_h1conn_new(MITM_CODEC_CLIENT, &hl->base, srv->conn, &hl->lim, 0, srv->proxy,
                                     server_event, srv);
    return srv->codec;
}

static struct http_server *find_server(struct http_layer *hl, struct mitm_conn *conn)
{
    for (struct http_server *srv = hl->servers; srv; srv = srv->next)
        if (srv->conn == conn && !srv->given)
            return srv;
    return NULL;
}

/* ---- CONNECT tunnels ---------------------------------------------------------------- */

void mitm_http_layer_tunnel(struct http_layer *hl, struct mitm_conn *conn)
{
    struct mitm_ctx *ctx = hl->base.ctx;
    for (struct http_server *srv = hl->servers; srv; srv = srv->next)
        if (srv->conn == conn)
            srv->given = true;
    hl->tunnel = conn;
    mitm_timer_clear(&hl->idle);
    mitm_timer_clear(&hl->head);
    hl->child = mitm_next_layer_new(ctx, &hl->base, conn, MITM_NEXT_GENERIC);
    struct mitm_event start = {.type = MITM_EV_START, .now = hl->now};
    mitm_layer_event(hl->child, &start);
    uint8_t *rest;
    size_t n;
    mitm_http_codec_take_rest(hl->client, &rest, &n);
    if (n) { /* bytes the client sent before our 200 */
        struct mitm_event ev = {
            .type = MITM_EV_DATA, .now = hl->now, .conn = ctx->client, .data = mitm_slice(rest, n)};
        mitm_layer_event(hl->child, &ev);
    }
    free(rest);
}

/* ---- protocol upgrades (101) ---------------------------------------------------------- */

/* Bytes a codec held back after the switch, as a DATA event for the child. */
static void pass_rest(struct http_layer *hl, struct mitm_http_codec *c, struct mitm_conn *conn)
{
    uint8_t *rest;
    size_t n;
    mitm_http_codec_take_rest(c, &rest, &n);
    if (n && hl->child) {
        struct mitm_event ev = {
            .type = MITM_EV_DATA, .now = hl->now, .conn = conn, .data = mitm_slice(rest, n)};
        mitm_layer_event(hl->child, &ev);
    }
    free(rest);
}

void mitm_http_layer_upgrade(struct http_layer *hl, struct http_server *srv, struct mitm_flow *flow)
{
    struct mitm_ctx *ctx = hl->base.ctx;
    srv->given = true;
    srv->owner = NULL;
    srv->users = 0;
    hl->tunnel = srv->conn;
    mitm_timer_clear(&hl->idle);
    mitm_timer_clear(&hl->head);
    if (flow->websocket) {
        hl->child = mitm_ws_layer_new(ctx, &hl->base, flow, srv->conn);
    } else if (ctx->opts->rawtcp) {
        hl->child = mitm_tcp_layer_new(ctx, &hl->base, srv->conn, false);
    } else {
        mitm_layer_log(&hl->base, MITM_LOG_WARN,
                       "Sent HTTP 101 response, but no protocol is enabled to upgrade to.");
        mitm_layer_close(&hl->base, ctx->client, false);
        if (mitm_conn_writable(srv->conn))
            mitm_layer_close(&hl->base, srv->conn, false);
        srv->dead = true;
        return;
    }
    struct mitm_event start = {.type = MITM_EV_START, .now = hl->now};
    mitm_layer_event(hl->child, &start);
    pass_rest(hl, hl->client, ctx->client);
    if (srv->codec)
        pass_rest(hl, srv->codec, srv->conn);
    if (srv->conn->state == MITM_CONN_CLOSED || srv->conn->state == MITM_CONN_READ_EOF) {
        /* the server left before the switch was done: the new layer sees it go */
        struct mitm_event ev = {.type = MITM_EV_CLOSED,
                                .now = hl->now,
                                .conn = srv->conn,
                                .half_close = srv->conn->state == MITM_CONN_READ_EOF};
        mitm_layer_event(hl->child, &ev);
    }
}

/* ---- timeouts ------------------------------------------------------------------------ */

/* An HTTP/2 server connection that gets keep-alive PINGs: open, ours, its codec made. */
static bool pingable(const struct http_server *srv)
{
    return srv->codec && mitm_http_codec_multiplexed(srv->codec) && !srv->dead && !srv->given &&
           srv->conn->state == MITM_CONN_OPEN;
}

/* http2_ping_keepalive (mitmproxy's Http2Client): one timer for all HTTP/2 server
 * connections, due when the least recently active one has been idle that long. Activities
 * only move later, so the deadline does too, and mitm_timer_due re-arms for what is left. */
static void arm_ping(struct http_layer *hl)
{
    long k = hl->base.ctx->opts->http2_ping_keepalive;
    double next = 0;
    if (k > 0 && !hl->base.ctx->replay)
        for (struct http_server *srv = hl->servers; srv; srv = srv->next)
            if (pingable(srv) && (next == 0 || srv->active + (double)k < next))
                next = srv->active + (double)k;
    if (next == 0)
        mitm_timer_clear(&hl->ping);
    else if (hl->ping.deadline != next)
        mitm_timer_set(&hl->base, &hl->ping, hl->now, next - hl->now);
}

/* The PING timer fired: every HTTP/2 server idle for the keep-alive (less a second, as
 * mitmproxy does, so connections due close together share one wake-up) gets a PING. An
 * unanswered PING changes nothing: the next one follows a keep-alive later, and a server
 * that closes the connection is seen as any close is (mitmproxy neither waits for the ACK). */
static void send_pings(struct http_layer *hl)
{
    long k = hl->base.ctx->opts->http2_ping_keepalive;
    for (struct http_server *srv = hl->servers; srv; srv = srv->next) {
        if (!pingable(srv) || hl->now - srv->active + 1 <= (double)k)
            continue;
        srv->active = hl->now;
        if (mitm_http_codec_ping(srv->codec))
            mitm_layer_log(&hl->base, MITM_LOG_DEBUG, "Send HTTP/2 keep-alive PING to %s", srv->conn->peer);
    }
}

/* After each event: an idle client connection (no exchange, no partial head) has
 * http_idle_timeout to start a request; a started head has http_header_timeout to end. */
void mitm_http_layer_update_timers(struct http_layer *hl)
{
    const struct mitm_options *o = hl->base.ctx->opts;
    arm_ping(hl);
    if (hl->child || hl->base.ctx->client->state == MITM_CONN_CLOSED || hl->base.ctx->replay) {
        mitm_timer_clear(&hl->idle);
        mitm_timer_clear(&hl->head);
        return;
    }
    bool live = live_streams(hl), partial = mitm_http_codec_head_pending(hl->client);
    if (live || partial)
        mitm_timer_clear(&hl->idle);
    else if (!hl->idle.deadline && o->http_idle_timeout > 0)
        mitm_timer_set(&hl->base, &hl->idle, hl->now, (double)o->http_idle_timeout);
    if (!partial)
        mitm_timer_clear(&hl->head);
    else if (!hl->head.deadline && o->http_header_timeout > 0)
        mitm_timer_set(&hl->base, &hl->head, hl->now, (double)o->http_header_timeout);
}

static void on_wakeup(struct http_layer *hl, const struct mitm_event *ev)
{
    const struct mitm_options *o = hl->base.ctx->opts;
    struct mitm_conn *client = hl->base.ctx->client;
    if (mitm_timer_due(&hl->base, &hl->ping, ev)) {
        send_pings(hl);
        return;
    }
    if (mitm_timer_due(&hl->base, &hl->head, ev) && mitm_http_codec_head_pending(hl->client)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Request head not complete after %ld s: closing the connection",
                 o->http_header_timeout);
        mitm_layer_log(&hl->base, MITM_LOG_INFO, "%s", msg);
        refuse(hl, 408, msg);
    } else if (mitm_timer_due(&hl->base, &hl->idle, ev) && !live_streams(hl)) {
        mitm_layer_log(&hl->base, MITM_LOG_INFO, "Client connection idle for %ld s: closing",
                       o->http_idle_timeout);
        mitm_layer_close(&hl->base, client, false);
    }
}

/* ---- events -------------------------------------------------------------------------- */

static void on_client_closed(struct http_layer *hl, const struct mitm_event *ev)
{
    mitm_http_codec_eof(hl->client);
    if (ev->half_close && live_streams(hl))
        return; /* answer what was asked, then close (h1conn sees peer_eof) */
    hl->base.ctx->client->state = MITM_CONN_CLOSED;
    /* every live exchange loses its client */
    for (struct http_stream *s = hl->streams; s; s = mitm_http_stream_next(s))
        if (!mitm_http_stream_done(s))
            deliver(s,
                    mitm_http_event_error(MITM_HTTP_REQUEST_ERROR, mitm_http_stream_id(s), 0,
                                          "Client disconnected."),
                    ev->now);
    for (struct http_server *srv = hl->servers; srv; srv = srv->next) {
        if (mitm_conn_writable(srv->conn))
            mitm_layer_close(&hl->base, srv->conn, false);
        srv->dead = true;
    }
}

static void on_server_closed(struct http_layer *hl, struct http_server *srv, const struct mitm_event *ev)
{
    srv->conn->state = ev->half_close ? MITM_CONN_READ_EOF : MITM_CONN_CLOSED;
    if (srv->codec)
        mitm_http_codec_eof(srv->codec);
    if (!ev->half_close || !srv->users) {
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
    if (ev->type == MITM_EV_WAKEUP) {
        on_wakeup(hl, ev);
    } else if (hl->child && (ev->type == MITM_EV_DATA || ev->type == MITM_EV_CLOSED) &&
               (ev->conn == client || !find_server(hl, ev->conn))) {
        /* everything inside the tunnel belongs to the child stack */
        mitm_layer_event(hl->child, ev);
    } else if (ev->type == MITM_EV_DATA) {
        if (ev->conn == client) {
            mitm_http_codec_feed(hl->client, ev->data.base, ev->data.len);
        } else {
            struct http_server *srv = find_server(hl, ev->conn);
            if (srv) {
                srv->active = ev->now;
                mitm_http_codec_feed(mitm_http_server_codec(srv), ev->data.base, ev->data.len);
            }
        }
    } else if (ev->type == MITM_EV_CLOSED) {
        if (ev->conn == client) {
            on_client_closed(hl, ev);
        } else {
            struct http_server *srv = find_server(hl, ev->conn);
            if (srv)
                on_server_closed(hl, srv, ev);
        }
    }
    mitm_http_layer_update_timers(hl);
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
    mitm_http_codec_free(hl->client);
    mitm_layer_deinit(l);
    free(hl);
}

static const struct mitm_layer_vt http_vt = {
    .name = "HttpLayer", .handle = http_handle, .destroy = http_destroy};
