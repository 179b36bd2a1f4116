/* The socks5 mode layer: see layer.h. */
#include "proto/socks5/layer.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "core/options.h"
#include "layer/layer.h"
#include "proto/next.h"
#include "proto/socks5/socks5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_CAP (MITM_SOCKS5_GREETING_MAX + MITM_SOCKS5_AUTH_MAX + MITM_SOCKS5_REQUEST_MAX)

enum state { ST_GREETING = 0, ST_AUTH, ST_AUTH_HOOK, ST_REQUEST, ST_OPEN, ST_DONE, ST_DEAD };

struct socks5 {
    struct mitm_layer base;
    enum state state;
    struct mitm_buf in;
    struct mitm_conn *server;
    struct mitm_layer *child;
};

static const struct mitm_layer_vt socks5_vt;

static void reply_bytes(struct socks5 *s, void (*write)(struct mitm_buf *, uint8_t), uint8_t v)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    write(&out, v);
    mitm_layer_send(&s->base, s->base.ctx->client, mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
}

static void write_method(struct mitm_buf *b, uint8_t m)
{
    mitm_socks5_write_method(b, m);
}

static void write_reply(struct mitm_buf *b, uint8_t rep)
{
    mitm_socks5_write_reply(b, rep);
}

static void write_auth(struct mitm_buf *b, uint8_t ok)
{
    mitm_socks5_write_auth_reply(b, ok != 0);
}

static void die(struct socks5 *s, const char *why)
{
    if (why && why[0])
        mitm_layer_log(&s->base, MITM_LOG_INFO, "%s", why);
    s->state = ST_DEAD;
    struct mitm_conn *c = s->base.ctx->client;
    if (c->state != MITM_CONN_CLOSED)
        mitm_layer_close(&s->base, c, false);
}

static void consume(struct socks5 *s, size_t n)
{
    size_t len;
    uint8_t *all = mitm_buf_steal(&s->in, &len);
    mitm_buf_init(&s->in, BUF_CAP);
    if (n < len)
        mitm_buf_append(&s->in, all + n, len - n);
    free(all);
}

static void auth_free(void *p)
{
    free(p);
}

static const struct mitm_payload_vt auth_vt = {.name = "Socks5AuthData", .free = auth_free};

/* The handshake is done: the child takes over, with what the client sent after its request. */
static void hand_over(struct socks5 *s, double now)
{
    reply_bytes(s, write_reply, MITM_SOCKS5_REP_SUCCEEDED);
    s->state = ST_DONE;
    s->child = mitm_next_layer_new(s->base.ctx, &s->base, s->server, MITM_NEXT_GENERIC);
    struct mitm_event start = {.type = MITM_EV_START, .now = now};
    mitm_layer_event(s->child, &start);
    if (s->in.len) {
        size_t n;
        uint8_t *rest = mitm_buf_steal(&s->in, &n);
        struct mitm_event ev = {
            .type = MITM_EV_DATA, .now = now, .conn = s->base.ctx->client, .data = mitm_slice(rest, n)};
        mitm_layer_event(s->child, &ev);
        free(rest);
    }
}

static void on_request(struct socks5 *s, struct mitm_socks5_request *r, double now)
{
    s->server = mitm_ctx_conn_new(s->base.ctx, r->host, r->port);
    const struct mitm_options *o = s->base.ctx->opts;
    if (o && strcmp(o->connection_strategy, "eager") == 0) {
        s->state = ST_OPEN;
        mitm_layer_open(&s->base, s->server);
        return;
    }
    hand_over(s, now);
}

/* Parse what the buffer holds for the current state; loops over several messages. */
static void advance(struct socks5 *s, double now)
{
    char err[MITM_SOCKS5_ERR_LEN];
    bool auth = s->base.ctx->opts && s->base.ctx->opts->proxyauth && s->base.ctx->opts->proxyauth[0];
    for (int guard = 0; guard < 4 && s->in.len; guard++) {
        const uint8_t *p = mitm_buf_data(&s->in);
        size_t n = s->in.len;
        ssize_t r;
        if (s->state == ST_GREETING) {
            struct mitm_socks5_greeting g;
            r = mitm_socks5_parse_greeting(p, n, auth, &g, err, sizeof(err));
            if (r == MITM_INCOMPLETE)
                return;
            if (r < 0) {
                die(s, err);
                return;
            }
            consume(s, (size_t)r);
            reply_bytes(s, write_method, g.method);
            if (g.method == MITM_SOCKS5_METHOD_NO_ACCEPTABLE) {
                die(s, err);
                return;
            }
            s->state = g.method == MITM_SOCKS5_METHOD_USERPASS ? ST_AUTH : ST_REQUEST;
        } else if (s->state == ST_AUTH) {
            struct mitm_socks5_auth a;
            r = mitm_socks5_parse_auth(p, n, &a, err, sizeof(err));
            if (r == MITM_INCOMPLETE)
                return;
            if (r < 0) {
                reply_bytes(s, write_auth, 0);
                die(s, err);
                return;
            }
            struct mitm_socks5_auth_data *d = mitm_calloc(1, sizeof(*d));
            d->client = s->base.ctx->client;
            snprintf(d->username, sizeof(d->username), "%.*s", (int)a.username.len,
                     (const char *)a.username.base);
            snprintf(d->password, sizeof(d->password), "%.*s", (int)a.password.len,
                     (const char *)a.password.base);
            consume(s, (size_t)r);
            s->state = ST_AUTH_HOOK;
            mitm_layer_hook(&s->base, MITM_HOOK_SOCKS5_AUTH, (struct mitm_payload){.vt = &auth_vt, .p = d});
            return; /* paused: the reply goes on */
        } else if (s->state == ST_REQUEST) {
            struct mitm_socks5_request req;
            uint8_t rep = 0;
            r = mitm_socks5_parse_request(p, n, &req, &rep, err, sizeof(err));
            if (r == MITM_INCOMPLETE)
                return;
            if (r < 0) {
                reply_bytes(s, write_reply, rep);
                die(s, err);
                return;
            }
            consume(s, (size_t)r);
            on_request(s, &req, now);
            return;
        } else {
            return;
        }
    }
}

static void on_reply(struct socks5 *s, const struct mitm_event *ev)
{
    struct mitm_cmd *c = ev->cmd;
    if (s->state == ST_AUTH_HOOK) {
        struct mitm_socks5_auth_data *d = c->arg.vt == &auth_vt ? c->arg.p : NULL;
        if (!d || !d->valid) {
            reply_bytes(s, write_auth, 0);
            die(s, MITM_SOCKS5_AUTH_FAILED_MSG);
            return;
        }
        reply_bytes(s, write_auth, 1);
        s->state = ST_REQUEST;
        advance(s, ev->now);
    } else if (s->state == ST_OPEN) {
        if (c->error) {
            reply_bytes(s, write_reply, MITM_SOCKS5_REP_HOST_UNREACHABLE);
            die(s, c->error);
            return;
        }
        hand_over(s, ev->now);
    }
}

static void socks5_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct socks5 *s = (struct socks5 *)l;
    if (s->child) {
        mitm_layer_event(s->child, ev);
        return;
    }
    struct mitm_conn *client = l->ctx->client;
    switch (ev->type) {
    case MITM_EV_REPLY:
        on_reply(s, ev);
        break;
    case MITM_EV_DATA:
        if (ev->conn != client || s->state == ST_DEAD)
            break;
        if (mitm_buf_append(&s->in, ev->data.base, ev->data.len) < 0) {
            die(s, "SOCKS5 handshake too long");
            break;
        }
        advance(s, ev->now);
        break;
    case MITM_EV_CLOSED:
        if (ev->conn == client && s->state != ST_DEAD) {
            char err[MITM_SOCKS5_ERR_LEN];
            mitm_socks5_eof_text(mitm_buf_data(&s->in), s->in.len, err, sizeof(err));
            die(s, err);
        }
        break;
    default:
        break;
    }
}

static void socks5_destroy(struct mitm_layer *l)
{
    struct socks5 *s = (struct socks5 *)l;
    mitm_layer_destroy(s->child);
    mitm_buf_free(&s->in);
    mitm_layer_deinit(l);
    free(s);
}

static const struct mitm_layer_vt socks5_vt = {
    .name = "Socks5Proxy", .handle = socks5_handle, .destroy = socks5_destroy};

struct mitm_layer *mitm_socks5_layer_new(struct mitm_ctx *ctx)
{
    struct socks5 *s = mitm_calloc(1, sizeof(*s));
    mitm_layer_init(&s->base, &socks5_vt, ctx, NULL);
    mitm_buf_init(&s->in, BUF_CAP);
    return &s->base;
}
