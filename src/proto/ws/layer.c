/* The WebSocket layer: see layer.h. Behaviour follows mitmproxy's proxy/layers/websocket.py
 * (on wsproto); the codec pieces are in ws.h and deflate.h. */
#include "proto/ws/layer.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "flow/flow.h"
#include "layer/layer.h"
#include "proto/inject.h"
#include "proto/ws/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum wait {
    W_NOTHING = 0,
    W_START,   /* websocket_start */
    W_MESSAGE, /* websocket_message */
    W_END,     /* websocket_end */
};

/* One direction: frames from src, parsed and assembled, written toward dst. */
struct ws_dir {
    bool from_client;
    struct mitm_conn *src, *dst;
    struct mitm_ws_parser p;
    struct mitm_ws_assembler a;
    struct mitm_ws_writer w; /* toward dst: masked when dst is the server */
};

struct ws_layer {
    struct mitm_layer base;
    struct mitm_flow *flow;
    struct mitm_conn *server;
    struct ws_dir dir[2]; /* [0] client -> server, [1] server -> client */
    enum wait wait;
    struct ws_dir *paused_dir; /* W_MESSAGE: the direction whose message is in the hook */
    bool injected;             /* W_MESSAGE: the message in the hook was injected by the user */
    /* input of paused_dir after the message in the hook: parsed on once it is forwarded */
    struct mitm_buf rest;
    size_t rest_off;
    bool started, ended;
};

static const struct mitm_layer_vt ws_vt;

/* SEND the bytes of b to conn (b is emptied). */
static void send_buf(struct ws_layer *w, struct mitm_conn *conn, struct mitm_buf *b)
{
    size_t n;
    uint8_t *data = mitm_buf_steal(b, &n);
    if (n == 0 || !mitm_conn_writable(conn)) {
        free(data);
        return;
    }
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_SEND);
    c->conn = conn;
    c->data = data;
    c->len = n;
    mitm_layer_emit(&w->base, c);
}

/* A fresh masking key for a frame toward the server (RFC 6455 §5.3), NULL toward the client. */
static const uint8_t *mask_for(struct ws_layer *w, const struct mitm_conn *dst, uint8_t key[4])
{
    if (dst != w->server)
        return NULL;
    mitm_ctx_random(w->base.ctx, key, 4);
    return key;
}

static const char *side_name(const struct ws_dir *d)
{
    return d->from_client ? "client" : "server";
}

/* Python's repr() of a bytes payload (what mitmproxy logs for pings): b'...' with escapes. */
static void bytes_repr(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(out, cap, "b'");
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        uint8_t c = p[i];
        if (c == '\'' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c == '\n' || c == '\r' || c == '\t')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        else if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    snprintf(out + o, cap - o, "'");
}

/* The connection ends (wsproto's CloseConnection event reached mitmproxy): record it, send the
 * close to each side that can still take one (the side that sent a Close gets it echoed, as
 * wsproto in REMOTE_CLOSING does; a side whose connection was lost gets none), close both
 * connections, run websocket_end. */
static void finish(struct ws_layer *w, struct ws_dir *d, uint16_t code, const char *reason, size_t reason_len,
                   bool src_lost, double now)
{
    if (w->ended)
        return;
    w->ended = true;
    mitm_websocket_set_close(w->flow->websocket, d->from_client, code, reason, reason_len, now);
    struct mitm_conn *conns[2] = {w->server, w->base.ctx->client};
    for (int i = 0; i < 2; i++) {
        struct mitm_conn *c = conns[i];
        if (!mitm_conn_writable(c) || (src_lost && c == d->src))
            continue;
        struct mitm_buf out;
        uint8_t key[4];
        mitm_buf_init(&out, 0);
        mitm_ws_write_close(&out, code, reason, reason_len, mask_for(w, c, key));
        send_buf(w, c, &out);
        mitm_buf_free(&out);
    }
    for (int i = 0; i < 2; i++)
        if (conns[i] && conns[i]->state != MITM_CONN_CLOSED && conns[i]->state != MITM_CONN_NEW)
            mitm_layer_close(&w->base, conns[i], false);
    double ts = now;
    w->flow->client_conn.timestamp_end =
        w->base.ctx->client->timestamp_end ? w->base.ctx->client->timestamp_end : ts;
    if (w->server)
        w->flow->server_conn.timestamp_end = w->server->timestamp_end ? w->server->timestamp_end : ts;
    w->wait = W_END;
    mitm_layer_hook(&w->base, MITM_HOOK_WEBSOCKET_END, mitm_flow_payload(w->flow));
}

static void protocol_error(struct ws_layer *w, struct ws_dir *d, uint16_t code, const char *why, double now)
{
    mitm_layer_log(&w->base, MITM_LOG_INFO, "WebSocket protocol error from %s %s: %s (closing with %u)",
                   side_name(d), d->src->peer[0] ? d->src->peer : "?", why, code);
    finish(w, d, code, why, strlen(why), false, now);
}

static void on_control(struct ws_layer *w, struct ws_dir *d, const struct mitm_ws_event *ev, double now)
{
    if (ev->opcode == MITM_WS_CLOSE) {
        finish(w, d, ev->close_code, (const char *)ev->close_reason.base, ev->close_reason.len, false, now);
        return;
    }
    char repr[4 * MITM_WS_MAX_CONTROL + 8];
    bytes_repr(ev->data.base, ev->data.len, repr, sizeof(repr));
    mitm_layer_log(&w->base, MITM_LOG_INFO, "Received WebSocket %s from %s (payload: %s)",
                   ev->opcode == MITM_WS_PING ? "ping" : "pong", side_name(d), repr);
    struct mitm_buf out;
    uint8_t key[4];
    mitm_buf_init(&out, 0);
    mitm_ws_write_control(&out, ev->opcode, ev->data.base, ev->data.len, mask_for(w, d->dst, key));
    send_buf(w, d->dst, &out);
    mitm_buf_free(&out);
}

/* The message in the hook came back: send it on unless it was dropped, with the frame lengths
 * it arrived with when its length is unchanged (mitmproxy's Fragmentizer). */
static void forward_message(struct ws_layer *w, struct ws_dir *d, double now)
{
    struct mitm_websocket_data *ws = w->flow->websocket;
    const struct mitm_websocket_message *m = &ws->messages[ws->n_messages - 1];
    if (m->dropped)
        return;
    /* a received message keeps its fragmentation; an injected one goes as one frame */
    bool injected = w->injected;
    w->injected = false;
    struct mitm_ws_fragments it;
    mitm_ws_fragments_init(&it, injected ? NULL : d->a.frames, injected ? 0 : d->a.nframes, m->len);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    uint64_t off, n;
    bool fin;
    int rc = 0;
    while (rc == 0 && mitm_ws_fragments_next(&it, &off, &n, &fin)) {
        uint8_t key[4];
        rc = mitm_ws_writer_data(&d->w, &out, injected ? m->type : d->a.opcode, m->content + off, (size_t)n,
                                 fin, mask_for(w, d->dst, key));
    }
    if (rc < 0) {
        mitm_buf_free(&out);
        static const char why[] = "cannot compress a message";
        mitm_layer_log(&w->base, MITM_LOG_WARN, "WebSocket: %s toward the %s", why,
                       d->from_client ? "server" : "client");
        finish(w, d, MITM_WS_INTERNAL_ERROR, why, sizeof(why) - 1, false, now);
        return;
    }
    send_buf(w, d->dst, &out);
    mitm_buf_free(&out);
}

/* Parse in[0..len) from d. Stops at a complete message (kept for the websocket_message hook;
 * returns the bytes consumed so the caller keeps the rest) or the end. Returns len when all
 * was consumed (or the connection ended). */
static size_t parse(struct ws_layer *w, struct ws_dir *d, const uint8_t *in, size_t len, double now)
{
    size_t off = 0;
    while (!w->ended) {
        struct mitm_ws_event ev;
        ssize_t n = mitm_ws_parse(&d->p, in + off, len - off, &ev);
        if (n < 0) {
            protocol_error(w, d, ev.error_code, ev.error, now);
            break;
        }
        off += (size_t)n;
        if (ev.type == MITM_WS_EV_NONE)
            break;
        if (ev.type == MITM_WS_EV_CONTROL) {
            on_control(w, d, &ev, now);
            continue;
        }
        int r = mitm_ws_assembler_feed(&d->a, &ev);
        if (r < 0) {
            protocol_error(w, d, MITM_WS_MESSAGE_TOO_BIG, "message too big", now);
            break;
        }
        if (r == 1) {
            mitm_websocket_add(w->flow->websocket, d->a.opcode, d->from_client, mitm_buf_data(&d->a.content),
                               d->a.content.len, now);
            w->wait = W_MESSAGE;
            w->paused_dir = d;
            mitm_layer_hook(&w->base, MITM_HOOK_WEBSOCKET_MESSAGE, mitm_flow_payload(w->flow));
            return off;
        }
    }
    return len;
}

/* Parse bytes from d; what follows a message in the hook waits in w->rest. */
static void feed(struct ws_layer *w, struct ws_dir *d, const uint8_t *in, size_t len, double now)
{
    size_t used = parse(w, d, in, len, now);
    if (used < len && !w->ended)
        mitm_buf_append(&w->rest, in + used, len - used);
}

/* After websocket_message: forward, then parse on what was left of that input. */
static void resume(struct ws_layer *w, double now)
{
    struct ws_dir *d = w->paused_dir;
    w->paused_dir = NULL;
    forward_message(w, d, now);
    while (!w->ended && w->wait == W_NOTHING && w->rest_off < w->rest.len) {
        const uint8_t *p = mitm_buf_data(&w->rest) + w->rest_off;
        w->rest_off += parse(w, d, p, w->rest.len - w->rest_off, now);
    }
    if (w->wait == W_NOTHING || w->ended) {
        mitm_buf_consume(&w->rest, w->rest.len);
        w->rest_off = 0;
    }
}

static void log_extensions(struct ws_layer *w, const struct mitm_ws_negotiated *n)
{
    for (size_t i = 0; i < n->ext.n; i++)
        if (i != n->pmd_index)
            mitm_layer_log(&w->base, MITM_LOG_INFO, "Ignoring unknown WebSocket extension '%s'.",
                           n->ext.v[i].name);
}

static void on_start(struct ws_layer *w)
{
    w->started = true;
    struct mitm_ws_negotiated n;
    const char *reason = NULL;
    const struct mitm_ws_pmd *pmd = NULL;
    bool have = mitm_ws_negotiate(&w->flow->request->headers, &w->flow->response->headers, &n, &reason) == 0;
    if (have) {
        log_extensions(w, &n);
        if (n.pmd)
            pmd = &n.params;
    } else {
        mitm_layer_log(&w->base, MITM_LOG_WARN, "WebSocket extensions not usable (%s): relaying without them",
                       reason ? reason : "?");
    }
    struct mitm_ws_limits lim = {0}; /* zero fields: the codec's defaults */
    const struct mitm_options *o = w->base.ctx->opts;
    int64_t max = o ? mitm_options_size(o->websocket_max_message_size) : -1;
    if (max > 0)
        lim.max_message = (uint64_t)max;
    for (int i = 0; i < 2; i++) {
        struct ws_dir *d = &w->dir[i];
        d->from_client = i == 0;
        d->src = d->from_client ? w->base.ctx->client : w->server;
        d->dst = d->from_client ? w->server : w->base.ctx->client;
        mitm_ws_parser_init(&d->p, d->from_client, &lim, pmd);
        mitm_ws_assembler_init(&d->a, 0);
        mitm_ws_writer_init(&d->w, d->from_client, pmd);
    }
    if (have)
        mitm_ws_negotiated_free(&n);
    mitm_ctx_register(w->base.ctx, w->flow->id, &w->base); /* inject.websocket finds it */
    w->wait = W_START;
    mitm_layer_hook(&w->base, MITM_HOOK_WEBSOCKET_START, mitm_flow_payload(w->flow));
}

static struct ws_dir *dir_of(struct ws_layer *w, const struct mitm_conn *c)
{
    if (c == w->base.ctx->client)
        return &w->dir[0];
    if (c == w->server)
        return &w->dir[1];
    return NULL;
}

static void on_reply(struct ws_layer *w, const struct mitm_event *ev)
{
    enum wait was = w->wait;
    w->wait = W_NOTHING;
    if (was == W_MESSAGE && !w->ended)
        resume(w, ev->now);
}

/* inject.websocket: the message is treated as one from the other side (mitmproxy's
 * WebSocketMessageInjected): recorded with injected set, through websocket_message, then
 * sent whole. Events are handled one at a time (the layer is paused while a hook runs), and
 * a received message is only forwarded once complete, so an injected one never lands between
 * the fragments of another. */
static void on_inject(struct ws_layer *w, const struct mitm_inject *in, double now)
{
    if (!w->started || w->ended) {
        mitm_layer_log(&w->base, MITM_LOG_WARN,
                       "Cannot inject a WebSocket message: the connection has ended.");
        return;
    }
    struct ws_dir *d = in->to_client ? &w->dir[1] : &w->dir[0];
    if (!mitm_conn_writable(d->dst)) {
        mitm_layer_log(&w->base, MITM_LOG_WARN, "Cannot inject a WebSocket message: the %s is gone.",
                       in->to_client ? "client" : "server");
        return;
    }
    struct mitm_websocket_message *m =
        mitm_websocket_add(w->flow->websocket, in->is_text ? 1 : 2, !in->to_client, in->data, in->len, now);
    m->injected = true;
    w->injected = true;
    w->wait = W_MESSAGE;
    w->paused_dir = d;
    mitm_layer_hook(&w->base, MITM_HOOK_WEBSOCKET_MESSAGE, mitm_flow_payload(w->flow));
}

static void ws_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct ws_layer *w = (struct ws_layer *)l;
    struct ws_dir *d = ev->conn ? dir_of(w, ev->conn) : NULL;
    switch (ev->type) {
    case MITM_EV_START:
        if (!w->started)
            on_start(w);
        break;
    case MITM_EV_REPLY:
        on_reply(w, ev);
        break;
    case MITM_EV_DATA:
        if (d && w->started && !w->ended)
            feed(w, d, ev->data.base, ev->data.len, ev->now);
        break;
    case MITM_EV_CLOSED:
        if (d && w->started && !w->ended) {
            /* wsproto: a connection lost without a Close frame is 1006 (RFC 6455 §7.1.5) */
            finish(w, d, MITM_WS_ABNORMAL_CLOSURE, NULL, 0, true, ev->now);
        }
        break;
    case MITM_EV_MESSAGE: {
        struct mitm_payload msg = ev->msg; /* ours */
        const struct mitm_inject *in = mitm_payload_inject(&msg);
        if (in)
            on_inject(w, in, ev->now);
        mitm_payload_free(&msg);
        break;
    }
    default:
        break;
    }
}

static void ws_destroy(struct mitm_layer *l)
{
    struct ws_layer *w = (struct ws_layer *)l;
    mitm_ctx_unregister(l->ctx, l);
    if (w->started) {
        for (int i = 0; i < 2; i++) {
            mitm_ws_parser_free(&w->dir[i].p);
            mitm_ws_assembler_free(&w->dir[i].a);
            mitm_ws_writer_free(&w->dir[i].w);
        }
    }
    mitm_buf_free(&w->rest);
    mitm_flow_unref(w->flow);
    mitm_layer_deinit(l);
    free(w);
}

static const struct mitm_layer_vt ws_vt = {
    .name = "WebsocketLayer", .handle = ws_handle, .destroy = ws_destroy};

struct mitm_layer *mitm_ws_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent, struct mitm_flow *flow,
                                     struct mitm_conn *server)
{
    struct ws_layer *w = mitm_calloc(1, sizeof(*w));
    mitm_layer_init(&w->base, &ws_vt, ctx, parent);
    w->flow = mitm_flow_ref(flow);
    w->server = server;
    mitm_buf_init(&w->rest, 0);
    return &w->base;
}
