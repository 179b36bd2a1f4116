/* The next-layer step: see nextlayer.h. */
#include "layer/nextlayer.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "layer/layer.h"

#include <stdlib.h>
#include <string.h>

#define HOLD_CAP ((size_t)256 << 10)

struct held {
    struct mitm_event ev; /* DATA points at data */
    uint8_t *data;
    struct held *next;
};

struct nextlayer {
    struct mitm_layer base;
    struct mitm_conn *server;
    mitm_next_fn decide;
    void *arg;
    struct mitm_buf client, from_srv; /* bytes seen, for the decision */
    bool client_eof;
    struct held *head, **tail; /* events held, in order */
    struct mitm_layer *child;
    bool deciding, dead;
    double timeout;
    struct mitm_timer wait;
};

static const struct mitm_layer_vt next_vt;

static void hold(struct nextlayer *nl, const struct mitm_event *ev)
{
    struct held *h = mitm_calloc(1, sizeof(*h));
    h->ev = *ev;
    if (ev->type == MITM_EV_DATA && ev->data.len) {
        h->data = mitm_memdup(ev->data.base, ev->data.len);
        h->ev.data = mitm_slice(h->data, ev->data.len);
    }
    *nl->tail = h;
    nl->tail = &h->next;
}

static void free_held(struct nextlayer *nl)
{
    for (struct held *h = nl->head, *n; h; h = n) {
        n = h->next;
        free(h->data);
        free(h);
    }
    nl->head = NULL;
    nl->tail = &nl->head;
}

/* Hand over: START, then the held events in order. */
static void hand_over(struct nextlayer *nl, double now)
{
    struct mitm_event start = {.type = MITM_EV_START, .now = now};
    mitm_layer_event(nl->child, &start);
    while (nl->head && nl->child) {
        struct held *h = nl->head;
        nl->head = h->next;
        if (!nl->head)
            nl->tail = &nl->head;
        mitm_layer_event(nl->child, &h->ev);
        free(h->data);
        free(h);
    }
    mitm_buf_free(&nl->client);
    mitm_buf_free(&nl->from_srv);
}

static void give_up(struct nextlayer *nl)
{
    nl->dead = true;
    mitm_timer_clear(&nl->wait);
    free_held(nl);
    struct mitm_conn *c = nl->base.ctx->client;
    if (c->state != MITM_CONN_CLOSED)
        mitm_layer_close(&nl->base, c, false);
    if (nl->server && nl->server->state != MITM_CONN_CLOSED && nl->server->state != MITM_CONN_NEW)
        mitm_layer_close(&nl->base, nl->server, false);
}

static void try_decide(struct nextlayer *nl, double now)
{
    if (nl->child || nl->dead || nl->deciding)
        return;
    struct mitm_next_input in = {
        .server = nl->server,
        .client = mitm_slice(mitm_buf_data(&nl->client), nl->client.len),
        .from_srv = mitm_slice(mitm_buf_data(&nl->from_srv), nl->from_srv.len),
        .client_eof = nl->client_eof,
        .full = nl->client.len >= HOLD_CAP || nl->from_srv.len >= HOLD_CAP,
    };
    nl->deciding = true;
    struct mitm_layer *child = nl->decide(&nl->base, nl->arg, &in);
    nl->deciding = false;
    if (child) {
        nl->child = child;
        mitm_timer_clear(&nl->wait);
        hand_over(nl, now);
        return;
    }
    if (in.full || in.client_eof)
        give_up(nl);
}

static void next_handle(struct mitm_layer *l, const struct mitm_event *ev)
{
    struct nextlayer *nl = (struct nextlayer *)l;
    if (nl->child) {
        mitm_layer_event(nl->child, ev);
        return;
    }
    if (ev->type == MITM_EV_START) { /* some decisions need no bytes */
        if (nl->timeout > 0)
            mitm_timer_set(l, &nl->wait, ev->now, nl->timeout);
        try_decide(nl, ev->now);
        return;
    }
    if (ev->type == MITM_EV_WAKEUP) {
        if (mitm_timer_due(l, &nl->wait, ev) && !nl->dead) {
            mitm_layer_log(l, MITM_LOG_INFO, "No data from the client within %.0f s: closing", nl->timeout);
            give_up(nl);
        }
        return;
    }
    if (nl->dead || (ev->type != MITM_EV_DATA && ev->type != MITM_EV_CLOSED))
        return;
    struct mitm_conn *client = l->ctx->client;
    hold(nl, ev);
    if (ev->type == MITM_EV_DATA) {
        struct mitm_buf *b = ev->conn == client ? &nl->client : &nl->from_srv;
        if (ev->conn == client || ev->conn == nl->server)
            mitm_buf_append(b, ev->data.base, ev->data.len); /* capped: then decide */
    } else if (ev->conn == client) {
        nl->client_eof = true;
    }
    try_decide(nl, ev->now);
}

static void next_destroy(struct mitm_layer *l)
{
    struct nextlayer *nl = (struct nextlayer *)l;
    mitm_layer_destroy(nl->child);
    free_held(nl);
    mitm_buf_free(&nl->client);
    mitm_buf_free(&nl->from_srv);
    mitm_layer_deinit(l);
    free(nl);
}

static const struct mitm_layer_vt next_vt = {
    .name = "NextLayer", .handle = next_handle, .destroy = next_destroy};

struct mitm_layer *mitm_nextlayer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, mitm_next_fn decide, void *arg)
{
    struct nextlayer *nl = mitm_calloc(1, sizeof(*nl));
    mitm_layer_init(&nl->base, &next_vt, ctx, parent);
    nl->server = server;
    nl->decide = decide;
    nl->arg = arg;
    nl->tail = &nl->head;
    mitm_buf_init(&nl->client, HOLD_CAP);
    mitm_buf_init(&nl->from_srv, HOLD_CAP);
    return &nl->base;
}

void mitm_nextlayer_set_timeout(struct mitm_layer *l, double seconds)
{
    ((struct nextlayer *)l)->timeout = seconds;
}

struct mitm_layer *mitm_nextlayer_child(struct mitm_layer *l)
{
    return ((struct nextlayer *)l)->child;
}

void mitm_nextlayer_poke(struct mitm_layer *l, double now)
{
    try_decide((struct nextlayer *)l, now);
}
