/* Mode layers: see mode.h. */
#include "proto/mode/mode.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/modespec.h"
#include "core/options.h"
#include "layer/layer.h"
#include "proto/next.h"
#include "proto/socks5/layer.h"
#include "proto/tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A mode whose destination is known before the first byte (mitmproxy's DestinationKnown):
 * transparent and reverse. */
struct dest_layer {
    struct mitm_layer base;
    struct mitm_conn *server;
    enum mitm_next_kind kind;
    struct mitm_layer *child;
    bool started, dead;
};

static const struct mitm_layer_vt dest_vt;

static void start_child(struct dest_layer *d, double now)
{
    d->child = mitm_next_layer_new(d->base.ctx, &d->base, d->server, d->kind);
    struct mitm_event start = {.type = MITM_EV_START, .now = now};
    mitm_layer_event(d->child, &start);
}

static void give_up(struct dest_layer *d)
{
    d->dead = true;
    struct mitm_conn *c = d->base.ctx->client;
    if (c->state != MITM_CONN_CLOSED)
        mitm_layer_close(&d->base, c, false);
}

/* transparent: the original destination, unless the connection was not redirected (it was
 * meant for the proxy itself: relaying it would loop) */
static struct mitm_conn *transparent_dest(struct dest_layer *d)
{
    struct mitm_ctx *ctx = d->base.ctx;
    struct mitm_conn *c = ctx->client;
    if (!ctx->orig_host[0]) {
        mitm_layer_log(&d->base, MITM_LOG_WARN, "Transparent mode failure: %s",
                       ctx->orig_error[0] ? ctx->orig_error : "no original destination");
        return NULL;
    }
    (void)c;
    return mitm_ctx_conn_new(ctx, ctx->orig_host, ctx->orig_port);
}

static void dest_start(struct dest_layer *d, double now)
{
    struct mitm_ctx *ctx = d->base.ctx;
    const struct mitm_mode_spec *m = ctx->mode;
    d->started = true;
    if (m->kind == MITM_MODE_TRANSPARENT) {
        d->server = transparent_dest(d);
    } else {
        d->server = mitm_ctx_conn_new(ctx, m->host, m->port);
        if (strcmp(m->scheme, "https") == 0 || strcmp(m->scheme, "tls") == 0) {
            /* HTTP: h2 first when option http2 is on (the HTTP layer translates either way) */
            static const uint8_t h1[] = "\x08http/1.1", h2[] = "\x02h2\x08http/1.1";
            bool http = strcmp(m->scheme, "https") == 0, v2 = http && ctx->opts && ctx->opts->http2;
            mitm_tls_server_push(ctx, d->server, m->host,
                                 v2     ? h2
                                 : http ? h1
                                        : NULL,
                                 v2     ? sizeof(h2) - 1
                                 : http ? sizeof(h1) - 1
                                        : 0);
        }
    }
    if (!d->server) {
        give_up(d);
        return;
    }
    if (ctx->opts && strcmp(ctx->opts->connection_strategy, "eager") == 0) {
        mitm_layer_open(&d->base, d->server); /* the reply starts the child */
        return;
    }
    start_child(d, now);
}

static void dest_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct dest_layer *d = (struct dest_layer *)l;
    if (d->dead)
        return;
    if (ev->type == MITM_EV_START && !d->started) {
        dest_start(d, ev->now);
        return;
    }
    if (ev->type == MITM_EV_REPLY && !d->child) {
        if (ev->cmd->error) {
            mitm_layer_log(l, MITM_LOG_INFO, "%s", ev->cmd->error);
            give_up(d);
            return;
        }
        start_child(d, ev->now);
        return;
    }
    if (d->child)
        mitm_layer_event(d->child, ev);
}

static void dest_destroy(struct mitm_layer *l)
{
    struct dest_layer *d = (struct dest_layer *)l;
    mitm_layer_destroy(d->child);
    mitm_layer_deinit(l);
    free(d);
}

static const struct mitm_layer_vt dest_vt = {
    .name = "DestinationKnown", .handle = dest_handle, .destroy = dest_destroy};

struct mitm_layer *mitm_mode_layer_new(struct mitm_ctx *ctx)
{
    const struct mitm_mode_spec *m = ctx->mode;
    if (!m || m->kind == MITM_MODE_REGULAR || m->kind == MITM_MODE_UPSTREAM)
        return mitm_next_layer_new(ctx, NULL, NULL, MITM_NEXT_GENERIC);
    if (m->kind == MITM_MODE_SOCKS5)
        return mitm_socks5_layer_new(ctx);
    struct dest_layer *d = mitm_calloc(1, sizeof(*d));
    mitm_layer_init(&d->base, &dest_vt, ctx, NULL);
    d->kind = m->kind == MITM_MODE_REVERSE ? MITM_NEXT_REVERSE : MITM_NEXT_GENERIC;
    return &d->base;
}
