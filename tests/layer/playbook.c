#include "playbook.h"
#include "core/options.h"
#include "base/alloc.h"
#include "flow/flow.h"
#include "proto/http/http.h"
#include "proto/mode/mode.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERVERS 16

struct pb {
    const char *name;
    int split_step;
    size_t split_at;
    struct mitm_ctx ctx;
    struct mitm_layer *root;
    struct mitm_cmd *log_head, **log_tail; /* emitted, not yet matched */
    struct mitm_conn *servers[MAX_SERVERS + 1];
    int n_servers;
    double now;
    struct pb_timer *timers; /* WAKEUPs not fired yet */
    struct mitm_cmd *held;   /* PB_HOLD: the hook waiting for PB_RESUME or PB_DROP */
};

/* A WAKEUP the layer asked for, due at `at` on the playbook's clock. */
struct pb_timer {
    struct mitm_cmd *c;
    double at;
    struct pb_timer *next;
};

/* Move emitted commands into our log; LOG commands are only printed. */
static void drain(struct pb *pb)
{
    struct mitm_cmd *c;
    while ((c = mitm_ctx_next_cmd(&pb->ctx))) {
        if (c->type == MITM_CMD_LOG) {
            cr_log_info("[%s] log: %s", pb->name, c->msg);
            mitm_cmd_free(c);
            continue;
        }
        if (c->type == MITM_CMD_WAKEUP) { /* timers fire only when a step moves the clock */
            struct pb_timer *t = mitm_calloc(1, sizeof(*t));
            t->c = c;
            t->at = pb->now + c->delay;
            t->next = pb->timers;
            pb->timers = t;
            continue;
        }
        *pb->log_tail = c;
        pb->log_tail = &c->next;
    }
}

static struct mitm_cmd *pop(struct pb *pb)
{
    drain(pb);
    struct mitm_cmd *c = pb->log_head;
    if (c) {
        pb->log_head = c->next;
        if (!pb->log_head)
            pb->log_tail = &pb->log_head;
        c->next = NULL;
    }
    return c;
}

/* Events go in as the driver sends them (mitm_ctx_input: through connection filters). */
static void deliver(struct pb *pb, struct mitm_layer *to, struct mitm_event *ev)
{
    (void)to;
    pb->now += 0.001;
    ev->now = pb->now;
    mitm_ctx_input(&pb->ctx, ev);
    drain(pb);
}

static void reply(struct pb *pb, struct mitm_cmd *c)
{
    pb->now += 0.001;
    mitm_ctx_reply(&pb->ctx, c, pb->now);
    drain(pb);
}

/* PB_ADVANCE: move the clock and fire, in order, every timer due by then. */
static void advance(struct pb *pb, double seconds)
{
    double until = pb->now + seconds;
    for (int guard = 0; guard < 1000; guard++) {
        struct pb_timer **best = NULL;
        for (struct pb_timer **tp = &pb->timers; *tp; tp = &(*tp)->next)
            if ((*tp)->at <= until && (!best || (*tp)->at < (*best)->at))
                best = tp;
        if (!best)
            break;
        struct pb_timer *t = *best;
        *best = t->next;
        pb->now = t->at > pb->now ? t->at : pb->now;
        mitm_ctx_wakeup(&pb->ctx, t->c, pb->now);
        free(t);
        drain(pb);
    }
    pb->now = until;
}

static void drop_timers(struct pb *pb)
{
    while (pb->timers) {
        struct pb_timer *t = pb->timers;
        pb->timers = t->next;
        mitm_ctx_drop(t->c);
        free(t);
    }
}

static struct mitm_conn *conn_of(struct pb *pb, int idx, int step)
{
    if (idx == PB_CLIENT)
        return pb->ctx.client;
    cr_assert(idx <= pb->n_servers, "[%s] step %d: server %d was never opened", pb->name, step, idx);
    return pb->servers[idx];
}

static const char *type_name(enum mitm_cmd_type t)
{
    static const char *n[] = {"SEND", "OPEN", "CLOSE", "HOOK", "WAKEUP", "LOG"};
    return n[t];
}

static void describe(struct mitm_cmd *c, char *out, size_t cap)
{
    if (!c) {
        snprintf(out, cap, "nothing");
        return;
    }
    if (c->type == MITM_CMD_HOOK)
        snprintf(out, cap, "HOOK %s", mitm_hook_name(c->hook));
    else if (c->type == MITM_CMD_SEND)
        snprintf(out, cap, "SEND conn %u: %.*s", c->conn->id, (int)(c->len > 200 ? 200 : c->len), c->data);
    else
        snprintf(out, cap, "%s conn %u", type_name(c->type), c->conn ? c->conn->id : 0);
}

static void in_data(struct pb *pb, const struct pb_step *st, int i)
{
    struct mitm_conn *conn = conn_of(pb, st->conn, i);
    size_t cut = i == pb->split_step ? pb->split_at : st->len;
    struct mitm_event ev = {.type = MITM_EV_DATA, .conn = conn, .data = mitm_slice(st->data, cut)};
    deliver(pb, pb->root, &ev);
    if (cut < st->len) {
        struct mitm_event ev2 = {
            .type = MITM_EV_DATA, .conn = conn, .data = mitm_slice(st->data + cut, st->len - cut)};
        deliver(pb, pb->root, &ev2);
    }
}

static void expect_prefix(struct pb *pb, const struct pb_step *st, int i)
{
    struct mitm_conn *conn = conn_of(pb, st->conn, i);
    char got[8192];
    size_t n = 0;
    drain(pb);
    while (pb->log_head && pb->log_head->type == MITM_CMD_SEND && pb->log_head->conn == conn) {
        struct mitm_cmd *c = pop(pb);
        size_t take = c->len < sizeof(got) - n ? c->len : sizeof(got) - n;
        memcpy(got + n, c->data, take);
        n += take;
        mitm_cmd_free(c);
    }
    cr_assert(n >= st->len && memcmp(got, st->data, st->len) == 0,
              "[%s split %d@%zu] step %d: expected SEND to conn %u starting \"%.*s\", got \"%.*s\"", pb->name,
              pb->split_step, pb->split_at, i, conn->id, (int)st->len, st->data, (int)n, got);
}

static void expect_send(struct pb *pb, const struct pb_step *st, int i)
{
    struct mitm_conn *conn = conn_of(pb, st->conn, i);
    if (st->prefix) {
        expect_prefix(pb, st, i);
        return;
    }
    size_t got = 0;
    while (got < st->len) {
        struct mitm_cmd *c = pop(pb);
        char d[300];
        describe(c, d, sizeof(d));
        cr_assert(c && c->type == MITM_CMD_SEND && c->conn == conn,
                  "[%s split %d@%zu] step %d: expected SEND to conn %u of \"%.*s\", got %s", pb->name,
                  pb->split_step, pb->split_at, i, conn->id, (int)st->len, st->data, d);
        cr_assert(
            got + c->len <= st->len && memcmp(c->data, st->data + got, c->len) == 0,
            "[%s split %d@%zu] step %d: SEND bytes differ at offset %zu:\nexpected: %.*s\ngot:      %.*s",
            pb->name, pb->split_step, pb->split_at, i, got, (int)(st->len - got), st->data + got, (int)c->len,
            c->data);
        got += c->len;
        mitm_cmd_free(c);
    }
}

static void expect_cmd(struct pb *pb, const struct pb_step *st, int i)
{
    struct mitm_cmd *c = pop(pb);
    char d[300];
    describe(c, d, sizeof(d));
    switch (st->type) {
    case PB_HOOK:
        cr_assert(c && c->type == MITM_CMD_HOOK && c->hook == st->hook,
                  "[%s split %d@%zu] step %d: expected HOOK %s, got %s", pb->name, pb->split_step,
                  pb->split_at, i, mitm_hook_name(st->hook), d);
        reply(pb, c);
        break;
    case PB_OPEN:
        cr_assert(c && c->type == MITM_CMD_OPEN, "[%s] step %d: expected OPEN %s:%d, got %s", pb->name, i,
                  st->host, st->port, d);
        cr_assert_str_eq(c->conn->host, st->host, "[%s] step %d: OPEN host", pb->name, i);
        cr_assert_eq(c->conn->port, st->port, "[%s] step %d: OPEN port", pb->name, i);
        cr_assert(pb->n_servers < MAX_SERVERS);
        pb->servers[++pb->n_servers] = c->conn;
        if (st->error) {
            c->error = mitm_strdup(st->error);
            c->conn->state = MITM_CONN_CLOSED;
        } else {
            c->conn->state = MITM_CONN_OPEN;
            snprintf(c->conn->peer_host, sizeof(c->conn->peer_host), "127.0.0.1");
            c->conn->peer_port = (uint16_t)st->port;
        }
        reply(pb, c);
        break;
    case PB_CLOSE: {
        struct mitm_conn *conn = conn_of(pb, st->conn, i);
        cr_assert(c && c->type == MITM_CMD_CLOSE && c->conn == conn,
                  "[%s split %d@%zu] step %d: expected CLOSE conn %u, got %s", pb->name, pb->split_step,
                  pb->split_at, i, conn->id, d);
        conn->state = MITM_CONN_CLOSED;
        mitm_cmd_free(c);
        break;
    }
    case PB_HOLD:
        cr_assert(c && c->type == MITM_CMD_HOOK && c->hook == st->hook,
                  "[%s split %d@%zu] step %d: expected HOOK %s to hold, got %s", pb->name, pb->split_step,
                  pb->split_at, i, mitm_hook_name(st->hook), d);
        cr_assert(!pb->held, "[%s] step %d: one hook held at a time", pb->name, i);
        pb->held = c;
        break;
    case PB_NOTHING:
        cr_assert(c == NULL, "[%s split %d@%zu] step %d: expected nothing, got %s", pb->name, pb->split_step,
                  pb->split_at, i, d);
        break;
    default:
        break;
    }
}

/* PB_RESUME / PB_DROP: answer the held hook as the driver does after the user's decision. */
static void resume(struct pb *pb, const struct pb_step *st, int i)
{
    struct mitm_cmd *c = pb->held;
    cr_assert(c, "[%s] step %d: no hook is held", pb->name, i);
    pb->held = NULL;
    if (st->type == PB_DROP) {
        mitm_ctx_drop(c);
        drain(pb);
        return;
    }
    struct mitm_flow *f = mitm_payload_flow(&c->arg);
    cr_assert(f, "[%s] step %d: the held hook carries no flow", pb->name, i);
    if (st->hdr_name)
        mitm_headers_add(&f->request->headers, st->hdr_name, strlen(st->hdr_name), st->hdr_value,
                         strlen(st->hdr_value));
    if (st->status)
        f->response->status_code = st->status;
    if (st->kill)
        f->killed = true;
    reply(pb, c);
}

void pb_run(const char *name, pb_layer_fn make, const struct pb_step *steps, int split_step, size_t split_at)
{
    struct pb pb = {.name = name, .split_step = split_step, .split_at = split_at, .now = 1700000000.0};
    pb.log_tail = &pb.log_head;
    mitm_ctx_init(&pb.ctx, &mitm_options);
    snprintf(pb.ctx.client->peer_host, sizeof(pb.ctx.client->peer_host), "127.0.0.1");
    pb.ctx.client->peer_port = 50000;
    snprintf(pb.ctx.client->peer, sizeof(pb.ctx.client->peer), "127.0.0.1:50000");
    pb.root = make(&pb.ctx);
    pb.ctx.root = pb.root;
    struct mitm_event start = {.type = MITM_EV_START};
    deliver(&pb, pb.root, &start);
    for (int i = 0; steps[i].type != PB_END; i++) {
        const struct pb_step *st = &steps[i];
        if (st->type == PB_DATA) {
            in_data(&pb, st, i);
        } else if (st->type == PB_CLOSED) {
            struct mitm_conn *conn = conn_of(&pb, st->conn, i);
            struct mitm_event ev = {.type = MITM_EV_CLOSED, .conn = conn, .half_close = st->half};
            conn->state = st->half ? MITM_CONN_READ_EOF : MITM_CONN_CLOSED;
            deliver(&pb, pb.root, &ev);
        } else if (st->type == PB_ADVANCE) {
            advance(&pb, st->seconds);
        } else if (st->type == PB_RESUME || st->type == PB_DROP) {
            resume(&pb, st, i);
        } else if (st->type == PB_SEND) {
            expect_send(&pb, st, i);
        } else {
            expect_cmd(&pb, st, i);
        }
    }
    struct mitm_cmd *left = pop(&pb);
    char d[300];
    describe(left, d, sizeof(d));
    if (left)
        mitm_cmd_free(left);
    cr_assert(left == NULL, "[%s split %d@%zu] unexpected command after the last step: %s", name, split_step,
              split_at, d);
    cr_assert(!pb.held, "[%s] a hook is still held at the end", name);
    drop_timers(&pb); /* while the layers live: dropping unhooks their timers */
    mitm_layer_destroy(pb.root);
    mitm_ctx_free(&pb.ctx);
}

void pb_run_all(const char *name, pb_layer_fn make, const struct pb_step *steps)
{
    pb_run(name, make, steps, -1, 0);
    for (int i = 0; steps[i].type != PB_END; i++)
        if (steps[i].type == PB_DATA)
            for (size_t k = 1; k < steps[i].len; k++)
                pb_run(name, make, steps, i, k);
}

struct mitm_layer *pb_regular(struct mitm_ctx *ctx)
{
    return mitm_mode_layer_new(ctx);
}
