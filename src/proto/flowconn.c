#include "proto/flowconn.h"
#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

static void set_opt(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? mitm_strdup(src) : NULL;
}

static void copy_tls(struct mitm_conn_info *i, const struct mitm_conn *c)
{
    i->tls = c->tls;
    set_opt(&i->sni, c->sni);
    set_opt(&i->tls_version, c->tls_version);
    set_opt(&i->cipher, c->cipher);
    set_opt(&i->alpn, c->alpn);
    i->alpn_len = c->alpn ? strlen(c->alpn) : 0;
}

void mitm_flowconn_client(struct mitm_flow *f, struct mitm_ctx *ctx, double now)
{
    const struct mitm_conn *c = ctx->client;
    struct mitm_conn_info *i = &f->client_conn;
    set_opt(&i->peer_host, c->peer_host);
    i->peer_port = c->peer_port;
    set_opt(&i->sock_host, c->sock_host);
    i->sock_port = c->sock_port;
    i->timestamp_start = c->timestamp_start ? c->timestamp_start : now;
    set_opt(&i->proxy_mode, ctx->proxy_mode);
    copy_tls(i, c);
    if (ctx->replay && !f->is_replay)
        f->is_replay = mitm_strdup("request");
    if (ctx->replay && ctx->replay_id[0]) {
        memcpy(f->id, ctx->replay_id, sizeof(f->id));
        ctx->replay_id[0] = 0;
    }
}

void mitm_flowconn_server(struct mitm_flow *f, const struct mitm_conn *c)
{
    struct mitm_conn_info *i = &f->server_conn;
    set_opt(&i->address_host, c->host);
    i->address_port = c->port;
    set_opt(&i->peer_host, c->peer_host[0] ? c->peer_host : NULL);
    i->peer_port = c->peer_port;
    set_opt(&i->sock_host, c->sock_host[0] ? c->sock_host : NULL);
    i->sock_port = c->sock_port;
    i->timestamp_start = c->timestamp_start;
    i->timestamp_tcp_setup = c->timestamp_tcp_setup;
    copy_tls(i, c);
    if (c->via_host) {
        set_opt(&i->via_scheme, "http");
        set_opt(&i->via_host, c->via_host);
        i->via_port = c->via_port;
    }
}
