/* Connection filters: see cfilter.h. */
#include "layer/cfilter.h"
#include "base/alloc.h"
#include "layer/layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static struct mitm_cfilter *bottom(const struct mitm_conn *conn)
{
    struct mitm_cfilter *f = conn->filter;
    while (f && f->below)
        f = f->below;
    return f;
}

void mitm_cfilter_push(struct mitm_ctx *ctx, struct mitm_conn *conn, struct mitm_cfilter *f)
{
    f->ctx = ctx;
    f->conn = conn;
    f->below = conn->filter;
    f->above = NULL;
    if (f->below)
        f->below->above = f;
    conn->filter = f;
}

struct mitm_cfilter *mitm_cfilter_find(const struct mitm_conn *conn, const struct mitm_cfilter_vt *vt)
{
    for (struct mitm_cfilter *f = conn->filter; f; f = f->below)
        if (f->vt == vt)
            return f;
    return NULL;
}

bool mitm_cfilter_pending(const struct mitm_conn *conn)
{
    for (struct mitm_cfilter *f = conn->filter; f; f = f->below)
        if (!f->ready && !f->failed)
            return true;
    return false;
}

void mitm_cfilter_free_chain(struct mitm_conn *conn)
{
    struct mitm_cfilter *f = conn->filter, *n;
    conn->filter = NULL;
    for (; f; f = n) {
        n = f->below;
        f->vt->destroy(f);
    }
}

static void queue(struct mitm_ctx *ctx, struct mitm_cmd *c)
{
    *ctx->out_tail = c;
    ctx->out_tail = &c->next;
}

/* ---- data up and down ------------------------------------------------------------ */

void mitm_cfilter_up(struct mitm_cfilter *f, struct mitm_slice data)
{
    if (!data.len)
        return;
    if (f->above) {
        f->above->now = f->now;
        f->above->vt->recv(f->above, data);
        return;
    }
    struct mitm_event ev = {.type = MITM_EV_DATA, .now = f->now, .conn = f->conn, .data = data};
    if (f->ctx->root)
        mitm_layer_event(f->ctx->root, &ev);
}

void mitm_cfilter_up_closed(struct mitm_cfilter *f, bool half)
{
    if (f->above) {
        f->above->now = f->now;
        f->above->vt->closed(f->above, half);
        return;
    }
    struct mitm_conn *c = f->conn;
    if (!half)
        c->state = MITM_CONN_CLOSED;
    else if (c->state == MITM_CONN_OPEN)
        c->state = MITM_CONN_READ_EOF;
    struct mitm_event ev = {.type = MITM_EV_CLOSED, .now = f->now, .conn = c, .half_close = half};
    if (f->ctx->root)
        mitm_layer_event(f->ctx->root, &ev);
}

void mitm_cfilter_down(struct mitm_cfilter *f, const void *data, size_t len)
{
    if (!len)
        return;
    if (f->below) {
        f->below->now = f->now;
        f->below->vt->send(f->below, mitm_slice(data, len));
        return;
    }
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_SEND);
    c->conn = f->conn;
    c->data = mitm_memdup(data, len);
    c->len = len;
    queue(f->ctx, c);
}

void mitm_cfilter_down_close(struct mitm_cfilter *f, bool half)
{
    if (f->below) {
        f->below->now = f->now;
        f->below->vt->close(f->below, half);
        return;
    }
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_CLOSE);
    c->conn = f->conn;
    c->half_close = half;
    queue(f->ctx, c);
}

/* ---- opening ------------------------------------------------------------------- */

static void answer_open(struct mitm_cfilter *f, const char *error)
{
    struct mitm_conn *conn = f->conn;
    struct mitm_cmd *c = conn->pending_open;
    if (!c)
        return;
    conn->pending_open = NULL;
    if (error && !c->error)
        c->error = mitm_strdup(error);
    mitm_ctx_reply(f->ctx, c, f->now);
}

/* Start the lowest filter that has not started (from the bottom up). */
static void start_next(struct mitm_cfilter *from)
{
    for (struct mitm_cfilter *f = from; f; f = f->above) {
        if (f->failed)
            return;
        if (f->ready)
            continue;
        if (!f->started) {
            f->started = true;
            f->now = from->now;
            f->vt->start(f);
        }
        return;
    }
    answer_open(from, NULL);
}

void mitm_cfilter_open(struct mitm_ctx *ctx, struct mitm_cmd *c, double now)
{
    (void)ctx;
    struct mitm_conn *conn = c->conn;
    mitm_cmd_free(conn->pending_open); /* only one OPEN is answered */
    conn->pending_open = c;
    struct mitm_cfilter *b = bottom(conn);
    b->now = now;
    start_next(b);
}

void mitm_cfilter_ready(struct mitm_cfilter *f)
{
    f->ready = true;
    if (f->above) {
        f->above->now = f->now;
        start_next(f->above);
    } else {
        answer_open(f, NULL);
    }
}

void mitm_cfilter_fail(struct mitm_cfilter *f, const char *reason)
{
    if (f->failed)
        return;
    bool was_ready = f->ready;
    f->failed = true;
    struct mitm_conn *conn = f->conn;
    free(conn->error);
    conn->error = mitm_strdup(reason);
    bool opening = conn->pending_open != NULL;
    if (conn->state != MITM_CONN_CLOSED) {
        conn->state = MITM_CONN_CLOSED;
        struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_CLOSE);
        c->conn = conn;
        queue(f->ctx, c);
    }
    if (opening) {
        answer_open(f, reason);
    } else if (was_ready) {
        struct mitm_event ev = {.type = MITM_EV_CLOSED, .now = f->now, .conn = conn};
        if (f->ctx->root)
            mitm_layer_event(f->ctx->root, &ev);
    }
}

void mitm_cfilter_log(struct mitm_cfilter *f, int level, const char *fmt, ...)
{
    struct mitm_cmd *c = mitm_cmd_new(MITM_CMD_LOG);
    c->level = level;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->msg, fmt, ap) < 0)
        c->msg = mitm_strdup("(log message lost)");
    va_end(ap);
    queue(f->ctx, c);
}

/* ---- the framework's side -------------------------------------------------------- */

void mitm_cfilter_input(struct mitm_ctx *ctx, const struct mitm_event *ev)
{
    (void)ctx;
    struct mitm_cfilter *b = bottom(ev->conn);
    b->now = ev->now;
    if (ev->type == MITM_EV_DATA)
        b->vt->recv(b, ev->data);
    else
        b->vt->closed(b, ev->half_close);
}

void mitm_cfilter_command(struct mitm_ctx *ctx, struct mitm_cmd *c)
{
    (void)ctx;
    struct mitm_cfilter *top = c->conn->filter;
    if (c->type == MITM_CMD_SEND)
        top->vt->send(top, mitm_slice(c->data, c->len));
    else
        top->vt->close(top, c->half_close);
    mitm_cmd_free(c);
}
