#include "layer/layer.h"
#include "base/alloc.h"
#include "base/log.h"
#include "layer/cfilter.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mitm_queued_event {
    struct mitm_event ev; /* data points at copy */
    uint8_t *copy;
    struct mitm_queued_event *next;
};

static const char *hook_names[] = {
#define MITM_HOOK_NAME(e, s) s,
    MITM_HOOKS(MITM_HOOK_NAME)
#undef MITM_HOOK_NAME
};

const char *mitm_hook_name(enum mitm_hook h)
{
    return (unsigned)h < MITM_HOOK__COUNT ? hook_names[h] : "?";
}

static struct mitm_conn *conn_new(struct mitm_ctx *ctx, enum mitm_conn_side side)
{
    struct mitm_conn *c = mitm_calloc(1, sizeof(*c));
    c->id = ctx->next_conn_id++;
    c->side = side;
    /* append: the client stays first */
    struct mitm_conn **pp = &ctx->conns;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

void mitm_ctx_init(struct mitm_ctx *ctx, const struct mitm_options *opts)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->next_conn_id = 1;
    ctx->out_tail = &ctx->out_head;
    ctx->opts = opts;
    ctx->proxy_mode = "regular";
    ctx->client = conn_new(ctx, MITM_CONN_CLIENT);
    ctx->client->state = MITM_CONN_OPEN;
}

struct mitm_conn *mitm_ctx_conn_new(struct mitm_ctx *ctx, const char *host, uint16_t port)
{
    struct mitm_conn *c = conn_new(ctx, MITM_CONN_SERVER);
    c->host = mitm_strdup(host);
    c->port = port;
    return c;
}

void mitm_ctx_register(struct mitm_ctx *ctx, const char *key, struct mitm_layer *l)
{
    struct mitm_addressable *a = mitm_calloc(1, sizeof(*a));
    snprintf(a->key, sizeof(a->key), "%s", key);
    a->layer = l;
    a->next = ctx->addressable;
    ctx->addressable = a;
}

void mitm_ctx_unregister(struct mitm_ctx *ctx, struct mitm_layer *l)
{
    for (struct mitm_addressable **pp = &ctx->addressable; *pp;) {
        struct mitm_addressable *a = *pp;
        if (a->layer == l) {
            *pp = a->next;
            free(a);
        } else {
            pp = &a->next;
        }
    }
}

struct mitm_layer *mitm_ctx_find(const struct mitm_ctx *ctx, const char *key)
{
    for (const struct mitm_addressable *a = ctx->addressable; a; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a->layer;
    return NULL;
}

void mitm_ctx_free(struct mitm_ctx *ctx)
{
    for (struct mitm_addressable *a = ctx->addressable, *n; a; a = n) {
        n = a->next;
        free(a);
    }
    ctx->addressable = NULL;
    struct mitm_cmd *c;
    while ((c = mitm_ctx_next_cmd(ctx)))
        mitm_cmd_free(c);
    struct mitm_conn *n;
    for (struct mitm_conn *x = ctx->conns; x; x = n) {
        n = x->next;
        mitm_cfilter_free_chain(x);
        mitm_cmd_free(x->pending_open);
        free(x->host);
        free(x->via_host);
        free(x->error);
        free(x->sni);
        free(x->alpn);
        free(x->tls_version);
        free(x->cipher);
        free(x);
    }
    ctx->conns = ctx->client = NULL;
}

void mitm_ctx_random(const struct mitm_ctx *ctx, uint8_t *out, size_t n)
{
    if (ctx->random)
        ctx->random(out, n);
    else
        memset(out, 0, n);
}

struct mitm_cmd *mitm_ctx_next_cmd(struct mitm_ctx *ctx)
{
    struct mitm_cmd *c = ctx->out_head;
    if (!c)
        return NULL;
    ctx->out_head = c->next;
    if (!ctx->out_head)
        ctx->out_tail = &ctx->out_head;
    c->next = NULL;
    return c;
}

struct mitm_cmd *mitm_cmd_new(enum mitm_cmd_type type)
{
    struct mitm_cmd *c = mitm_calloc(1, sizeof(*c));
    c->type = type;
    c->blocking = type == MITM_CMD_OPEN || type == MITM_CMD_HOOK;
    return c;
}

void mitm_cmd_free(struct mitm_cmd *c)
{
    if (!c)
        return;
    free(c->data);
    free(c->msg);
    free(c->error);
    mitm_payload_free(&c->arg);
    free(c);
}

void mitm_layer_init(struct mitm_layer *l, const struct mitm_layer_vt *vt, struct mitm_ctx *ctx,
                     struct mitm_layer *parent)
{
    memset(l, 0, sizeof(*l));
    l->vt = vt;
    l->ctx = ctx;
    l->parent = parent;
    l->q_tail = &l->q_head;
}

/* Payload bytes an event holds (for flow control of the pause queues). */
static size_t ev_bytes(const struct mitm_event *ev)
{
    if (ev->type == MITM_EV_DATA)
        return ev->data.len;
    if (ev->type == MITM_EV_MESSAGE)
        return mitm_payload_size(&ev->msg);
    return 0;
}

void mitm_layer_deinit(struct mitm_layer *l)
{
    if (l->paused)
        l->paused->origin = NULL; /* orphan the pending reply */
    l->paused = NULL;
    for (size_t i = 0; i < sizeof(l->timers) / sizeof(l->timers[0]); i++) {
        if (l->timers[i] && l->timers[i]->cmd)
            l->timers[i]->cmd->origin = NULL; /* the driver drops the wakeup */
        l->timers[i] = NULL;
    }
    struct mitm_queued_event *q, *n;
    for (q = l->q_head; q; q = n) {
        n = q->next;
        l->ctx->queued_bytes -= ev_bytes(&q->ev);
        if (q->ev.type == MITM_EV_MESSAGE)
            mitm_payload_free(&q->ev.msg);
        free(q->copy);
        free(q);
    }
    l->q_head = NULL;
    l->q_tail = &l->q_head;
}

void mitm_layer_destroy(struct mitm_layer *l)
{
    if (l)
        l->vt->destroy(l);
}

static void enqueue(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct mitm_queued_event *q = mitm_calloc(1, sizeof(*q));
    q->ev = *ev;
    if (ev->type == MITM_EV_DATA && ev->data.len) {
        q->copy = mitm_memdup(ev->data.base, ev->data.len);
        q->ev.data = mitm_slice(q->copy, ev->data.len);
    }
    l->ctx->queued_bytes += ev_bytes(ev);
    *l->q_tail = q;
    l->q_tail = &q->next;
}

/* Replay queued events until the queue is empty or the layer pauses again. A replay
 * already running further up the stack owns the loop (no recursion). */
static void replay(struct mitm_layer *l)
{
    if (l->replaying)
        return;
    l->replaying = true;
    while (!l->paused && l->q_head) {
        struct mitm_queued_event *q = l->q_head;
        l->q_head = q->next;
        if (!l->q_head)
            l->q_tail = &l->q_head;
        l->ctx->queued_bytes -= ev_bytes(&q->ev);
        l->vt->handle(l, &q->ev);
        free(q->copy);
        free(q);
    }
    l->replaying = false;
}

void mitm_layer_event(struct mitm_layer *l, const struct mitm_event *ev)
{
    if (l->paused) {
        if (ev->type == MITM_EV_REPLY && ev->cmd == l->paused) {
            l->paused = NULL;
            l->vt->handle(l, ev);
            replay(l);
        } else {
            enqueue(l, ev);
        }
        return;
    }
    if (l->q_head) { /* keep order: older queued events first */
        enqueue(l, ev);
        replay(l);
        return;
    }
    l->vt->handle(l, ev);
}

void mitm_layer_emit(struct mitm_layer *l, struct mitm_cmd *c)
{
    c->origin = l;
    if (c->blocking)
        l->paused = c;
    for (struct mitm_layer *p = l->parent; p; p = p->parent)
        if (p->vt->command && p->vt->command(p, l, c))
            return;
    struct mitm_ctx *ctx = l->ctx;
    if ((c->type == MITM_CMD_SEND || c->type == MITM_CMD_CLOSE) && c->conn && c->conn->filter) {
        mitm_cfilter_command(ctx, c);
        return;
    }
    *ctx->out_tail = c;
    ctx->out_tail = &c->next;
}

/* ---- driver entry points --------------------------------------------------------- */

void mitm_ctx_input(struct mitm_ctx *ctx, const struct mitm_event *ev)
{
    if ((ev->type == MITM_EV_DATA || ev->type == MITM_EV_CLOSED) && ev->conn && ev->conn->filter)
        mitm_cfilter_input(ctx, ev);
    else if (ctx->root)
        mitm_layer_event(ctx->root, ev);
}

void mitm_ctx_reply(struct mitm_ctx *ctx, struct mitm_cmd *c, double now)
{
    if (c->type == MITM_CMD_OPEN && !c->error && c->conn && mitm_cfilter_pending(c->conn)) {
        c->conn->state = MITM_CONN_OPEN;
        mitm_cfilter_open(ctx, c, now); /* answered when the handshakes are done */
        return;
    }
    if (c->origin) {
        struct mitm_event ev = {.type = MITM_EV_REPLY, .now = now, .cmd = c};
        mitm_layer_event(c->origin, &ev);
    }
    mitm_cmd_free(c);
}

/* Unhook a WAKEUP from its layer's timer; returns the timer (NULL if orphaned). */
static struct mitm_timer *unhook_timer(struct mitm_cmd *c)
{
    struct mitm_layer *l = c->origin;
    struct mitm_timer *t = c->timer;
    if (!l || !t)
        return NULL;
    t->cmd = NULL;
    for (size_t i = 0; i < sizeof(l->timers) / sizeof(l->timers[0]); i++)
        if (l->timers[i] == t)
            l->timers[i] = NULL;
    return t;
}

void mitm_ctx_wakeup(struct mitm_ctx *ctx, struct mitm_cmd *c, double now)
{
    (void)ctx;
    struct mitm_timer *t = unhook_timer(c);
    if (t) {
        struct mitm_event ev = {.type = MITM_EV_WAKEUP, .now = now, .timer = t};
        mitm_layer_event(c->origin, &ev);
    }
    mitm_cmd_free(c);
}

void mitm_ctx_drop(struct mitm_cmd *c)
{
    if (c->type == MITM_CMD_WAKEUP)
        unhook_timer(c);
    else if (c->origin && c->origin->paused == c)
        c->origin->paused = NULL;
    mitm_cmd_free(c);
}

/* ---- timers ---------------------------------------------------------------------- */

static void timer_emit(struct mitm_layer *l, struct mitm_timer *t, double delay)
{
    size_t i = 0, n = sizeof(l->timers) / sizeof(l->timers[0]);
    while (i < n && l->timers[i])
        i++;
    assert(i < n && "a layer has at most 4 timers out");
    if (i == n)
        return;
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_WAKEUP);
    c->delay = delay > 0 ? delay : 0;
    c->timer = t;
    t->cmd = c;
    l->timers[i] = t;
    mitm_layer_emit(l, c);
}

void mitm_timer_set(struct mitm_layer *l, struct mitm_timer *t, double now, double delay)
{
    t->deadline = now + delay;
    if (!t->cmd)
        timer_emit(l, t, delay);
}

void mitm_timer_clear(struct mitm_timer *t)
{
    t->deadline = 0;
}

bool mitm_timer_due(struct mitm_layer *l, struct mitm_timer *t, const struct mitm_event *ev)
{
    if (ev->type != MITM_EV_WAKEUP || ev->timer != t || t->deadline == 0)
        return false;
    if (ev->now + 1e-3 >= t->deadline) {
        t->deadline = 0;
        return true;
    }
    timer_emit(l, t, t->deadline - ev->now); /* moved later meanwhile */
    return false;
}

void mitm_layer_send(struct mitm_layer *l, struct mitm_conn *conn, const void *data, size_t len)
{
    if (len == 0)
        return;
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_SEND);
    c->conn = conn;
    c->data = mitm_memdup(data, len);
    c->len = len;
    mitm_layer_emit(l, c);
}

void mitm_layer_close(struct mitm_layer *l, struct mitm_conn *conn, bool half_close)
{
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_CLOSE);
    c->conn = conn;
    c->half_close = half_close;
    if (!half_close && conn->state != MITM_CONN_CLOSED)
        conn->state = MITM_CONN_CLOSED;
    mitm_layer_emit(l, c);
}

void mitm_layer_log(struct mitm_layer *l, int level, const char *fmt, ...)
{
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_LOG);
    c->level = level;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->msg, fmt, ap) < 0)
        c->msg = mitm_strdup("(log message lost)");
    va_end(ap);
    mitm_layer_emit(l, c);
}

struct mitm_cmd *mitm_layer_open(struct mitm_layer *l, struct mitm_conn *conn)
{
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_OPEN);
    c->conn = conn;
    if (conn->state != MITM_CONN_OPEN) /* an open one only gets its filters started */
        conn->state = MITM_CONN_OPENING;
    mitm_layer_emit(l, c);
    return c;
}

struct mitm_cmd *mitm_layer_hook(struct mitm_layer *l, enum mitm_hook hook, struct mitm_payload data)
{
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_HOOK);
    c->hook = hook;
    c->arg = data;
    mitm_layer_emit(l, c);
    return c;
}

void mitm_payload_free(struct mitm_payload *p)
{
    if (p->vt && p->vt->free && p->p)
        p->vt->free(p->p);
    p->vt = NULL;
    p->p = NULL;
}

size_t mitm_payload_size(const struct mitm_payload *p)
{
    return p->vt && p->vt->size && p->p ? p->vt->size(p->p) : 0;
}
