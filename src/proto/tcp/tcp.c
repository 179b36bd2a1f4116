/* The raw TCP layer: see tcp.h. Behaviour follows mitmproxy's proxy/layers/tcp.py. */
#include "proto/tcp/tcp.h"
#include "proto/inject.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "flow/flow.h"
#include "layer/layer.h"
#include "proto/flowconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum wait {
    W_NOTHING = 0,
    W_START,   /* tcp_start */
    W_OPEN,    /* the server connection */
    W_MESSAGE, /* tcp_message */
    W_END,     /* tcp_end / tcp_error */
};

struct tcp_layer {
    struct mitm_layer base;
    struct mitm_conn *server;
    bool ignore;
    struct mitm_flow *flow;
    enum wait wait;
    bool started, client_eof, server_eof, ended;
    struct mitm_timer idle;
    double timeout;
};

static const struct mitm_layer_vt tcp_vt;

static struct mitm_conn *other(struct tcp_layer *t, const struct mitm_conn *c)
{
    return c == t->base.ctx->client ? t->server : t->base.ctx->client;
}

static void close_both(struct tcp_layer *t)
{
    struct mitm_conn *c = t->base.ctx->client;
    if (c->state != MITM_CONN_CLOSED)
        mitm_layer_close(&t->base, c, false);
    if (t->server && t->server->state != MITM_CONN_CLOSED && t->server->state != MITM_CONN_NEW)
        mitm_layer_close(&t->base, t->server, false);
}

static void hook(struct tcp_layer *t, enum mitm_hook h, enum wait w)
{
    t->wait = w;
    mitm_layer_hook(&t->base, h, mitm_flow_payload(t->flow));
}

/* Both directions are done (or one failed): the flow ends. */
static void end(struct tcp_layer *t, const char *error, double now)
{
    if (t->ended)
        return;
    t->ended = true;
    mitm_timer_clear(&t->idle);
    close_both(t);
    if (!t->flow)
        return;
    if (error)
        mitm_flow_set_error(t->flow, error, now);
    struct mitm_conn *c = t->base.ctx->client;
    t->flow->client_conn.timestamp_end = c->timestamp_end ? c->timestamp_end : now;
    if (t->server)
        t->flow->server_conn.timestamp_end = t->server->timestamp_end ? t->server->timestamp_end : now;
    hook(t, error ? MITM_HOOK_TCP_ERROR : MITM_HOOK_TCP_END, W_END);
}

static void touch(struct tcp_layer *t, double now)
{
    if (t->timeout > 0 && !t->ended)
        mitm_timer_set(&t->base, &t->idle, now, t->timeout);
}

static void forward(struct tcp_layer *t, struct mitm_conn *to, const uint8_t *p, size_t n)
{
    if (mitm_conn_writable(to) || (to && to->state == MITM_CONN_NEW))
        mitm_layer_send(&t->base, to, p, n);
}

static void open_server(struct tcp_layer *t)
{
    if (!t->server) {
        end(t, "no server to relay to", 0);
        return;
    }
    if (t->server->state == MITM_CONN_NEW) {
        t->wait = W_OPEN;
        mitm_layer_open(&t->base, t->server);
        return;
    }
    if (t->flow)
        mitm_flowconn_server(t->flow, t->server);
}

static void on_start(struct tcp_layer *t, double now)
{
    t->started = true;
    touch(t, now);
    if (t->ignore) {
        open_server(t);
        return;
    }
    t->flow = mitm_flow_new(MITM_FLOW_TCP, now);
    mitm_flowconn_client(t->flow, t->base.ctx, now);
    mitm_ctx_register(t->base.ctx, t->flow->id, &t->base); /* inject.tcp finds it */
    if (t->server) {
        free(t->flow->server_conn.address_host);
        t->flow->server_conn.address_host = mitm_strdup(t->server->host);
        t->flow->server_conn.address_port = t->server->port;
    }
    hook(t, MITM_HOOK_TCP_START, W_START);
}

/* A message from one side (received, or injected by the user as if that side sent it):
 * recorded, through tcp_message, then forwarded as the hook left it. */
static void message(struct tcp_layer *t, bool from_client, const uint8_t *p, size_t n, double now)
{
    struct mitm_flow *f = t->flow;
    struct mitm_tcp_message *m = mitm_realloc(f->messages, (f->n_messages + 1) * sizeof(*m));
    f->messages = m;
    m = &f->messages[f->n_messages++];
    m->from_client = from_client;
    m->content = mitm_memdup(p, n);
    m->len = n;
    m->timestamp = now;
    hook(t, MITM_HOOK_TCP_MESSAGE, W_MESSAGE);
}

static void on_data(struct tcp_layer *t, const struct mitm_event *ev)
{
    touch(t, ev->now);
    struct mitm_conn *to = other(t, ev->conn);
    if (t->ignore || !t->flow) {
        forward(t, to, ev->data.base, ev->data.len);
        return;
    }
    message(t, ev->conn == t->base.ctx->client, ev->data.base, ev->data.len, ev->now);
}

/* inject.tcp (mitmproxy's TcpMessageInjected). */
static void on_inject(struct tcp_layer *t, const struct mitm_inject *in, double now)
{
    struct mitm_conn *to = in->to_client ? t->base.ctx->client : t->server;
    if (t->ended || !t->flow || !mitm_conn_writable(to)) {
        mitm_layer_log(&t->base, MITM_LOG_WARN, "Cannot inject a TCP message: the connection has ended.");
        return;
    }
    touch(t, now);
    message(t, !in->to_client, in->data, in->len, now);
}

static void after_message(struct tcp_layer *t)
{
    struct mitm_flow *f = t->flow;
    struct mitm_tcp_message *m = &f->messages[f->n_messages - 1];
    struct mitm_conn *to = m->from_client ? t->server : t->base.ctx->client;
    forward(t, to, m->content, m->len); /* as the hook left it */
}

static void on_closed(struct tcp_layer *t, const struct mitm_event *ev)
{
    bool from_client = ev->conn == t->base.ctx->client;
    struct mitm_conn *to = other(t, ev->conn);
    if (from_client)
        t->client_eof = true;
    else
        t->server_eof = true;
    if (!ev->half_close) {
        end(t, NULL, ev->now);
        return;
    }
    /* RFC 9293 half-close: pass the FIN on and keep the other direction */
    if (mitm_conn_writable(to))
        mitm_layer_close(&t->base, to, true);
    if (t->client_eof && t->server_eof)
        end(t, NULL, ev->now);
}

static void on_reply(struct tcp_layer *t, const struct mitm_event *ev)
{
    enum wait w = t->wait;
    t->wait = W_NOTHING;
    switch (w) {
    case W_START:
        open_server(t);
        break;
    case W_OPEN:
        if (ev->cmd->error) {
            char msg[600];
            snprintf(msg, sizeof(msg), "%s", ev->cmd->error);
            end(t, msg, ev->now);
            return;
        }
        if (t->flow)
            mitm_flowconn_server(t->flow, t->server);
        break;
    case W_MESSAGE:
        after_message(t);
        break;
    default:
        break;
    }
}

static void tcp_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct tcp_layer *t = (struct tcp_layer *)l;
    switch (ev->type) {
    case MITM_EV_START:
        if (!t->started)
            on_start(t, ev->now);
        break;
    case MITM_EV_REPLY:
        on_reply(t, ev);
        break;
    case MITM_EV_WAKEUP:
        if (mitm_timer_due(l, &t->idle, ev)) {
            mitm_layer_log(l, MITM_LOG_INFO, "TCP connection to %s:%u idle for %.0f s: closing",
                           t->server ? t->server->host : "?", t->server ? t->server->port : 0, t->timeout);
            end(t, "Connection idle timeout", ev->now);
        }
        break;
    case MITM_EV_DATA:
        if (!t->ended && (ev->conn == l->ctx->client || ev->conn == t->server))
            on_data(t, ev);
        break;
    case MITM_EV_CLOSED:
        if (!t->ended && (ev->conn == l->ctx->client || ev->conn == t->server))
            on_closed(t, ev);
        break;
    case MITM_EV_MESSAGE: {
        struct mitm_payload msg = ev->msg; /* ours */
        const struct mitm_inject *in = mitm_payload_inject(&msg);
        if (in)
            on_inject(t, in, ev->now);
        mitm_payload_free(&msg);
        break;
    }
    default:
        break;
    }
}

static void tcp_destroy(struct mitm_layer *l)
{
    struct tcp_layer *t = (struct tcp_layer *)l;
    mitm_ctx_unregister(l->ctx, l);
    mitm_flow_unref(t->flow);
    mitm_layer_deinit(l);
    free(t);
}

static const struct mitm_layer_vt tcp_vt = {.name = "TCPLayer", .handle = tcp_handle, .destroy = tcp_destroy};

struct mitm_layer *mitm_tcp_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, bool ignore)
{
    struct tcp_layer *t = mitm_calloc(1, sizeof(*t));
    mitm_layer_init(&t->base, &tcp_vt, ctx, parent);
    t->server = server;
    t->ignore = ignore;
    t->timeout = ctx->opts ? (double)ctx->opts->tcp_timeout : 600;
    return &t->base;
}
