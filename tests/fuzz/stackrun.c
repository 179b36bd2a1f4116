#include "stackrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stackrun_init(struct stackrun *r, const struct mitm_options *opts, struct mitm_services *svc)
{
    memset(r, 0, sizeof(*r));
    r->now = 1e9;
    mitm_ctx_init(&r->ctx, opts);
    r->ctx.svc = svc;
    struct mitm_conn *c = r->ctx.client;
    snprintf(c->peer_host, sizeof(c->peer_host), "127.0.0.1");
    snprintf(c->peer, sizeof(c->peer), "127.0.0.1:50000");
    snprintf(c->sock_host, sizeof(c->sock_host), "127.0.0.1");
    c->sock_port = 8080;
}

static void execute(struct stackrun *r)
{
    struct mitm_cmd *c;
    for (int guard = 0; guard < 100000 && (c = mitm_ctx_next_cmd(&r->ctx)); guard++) {
        switch (c->type) {
        case MITM_CMD_OPEN:
            if (r->fail_next_open) {
                c->error = strdup("Error connecting to x: connection refused");
                c->conn->state = MITM_CONN_CLOSED;
            } else {
                if (c->conn->state != MITM_CONN_OPEN && r->n_servers < STACKRUN_MAX_CONNS)
                    r->servers[r->n_servers++] = c->conn;
                c->conn->state = MITM_CONN_OPEN;
                snprintf(c->conn->peer_host, sizeof(c->conn->peer_host), "192.0.2.1");
            }
            r->fail_next_open = false;
            mitm_ctx_reply(&r->ctx, c, r->now);
            break;
        case MITM_CMD_HOOK:
            mitm_ctx_reply(&r->ctx, c, r->now);
            break;
        case MITM_CMD_WAKEUP:
            if (r->n_timers < STACKRUN_MAX_TIMERS)
                r->timers[r->n_timers++] = c;
            else
                mitm_ctx_drop(c);
            break;
        case MITM_CMD_CLOSE:
            if (!c->half_close)
                c->conn->state = MITM_CONN_CLOSED;
            mitm_cmd_free(c);
            break;
        default:
            mitm_cmd_free(c);
            break;
        }
    }
}

void stackrun_input(struct stackrun *r, struct mitm_event *ev)
{
    r->now += 0.01;
    ev->now = r->now;
    mitm_ctx_input(&r->ctx, ev);
    execute(r);
}

void stackrun_data(struct stackrun *r, struct mitm_conn *conn, const uint8_t *p, size_t n)
{
    if (conn->state != MITM_CONN_OPEN && conn->state != MITM_CONN_READ_EOF)
        return;
    struct mitm_event ev = {.type = MITM_EV_DATA, .conn = conn, .data = mitm_slice(p, n)};
    stackrun_input(r, &ev);
}

static void fire_timers(struct stackrun *r)
{
    int n = r->n_timers;
    r->n_timers = 0;
    r->now += 3600; /* every deadline has come */
    for (int i = 0; i < n; i++) {
        mitm_ctx_wakeup(&r->ctx, r->timers[i], r->now);
        execute(r);
    }
}

static struct mitm_conn *target(struct stackrun *r, uint8_t sel)
{
    int k = sel % (r->n_servers + 1);
    return k == 0 ? r->ctx.client : r->servers[k - 1];
}

void stackrun_script(struct stackrun *r, const uint8_t *data, size_t size)
{
    size_t i = 0;
    for (int steps = 0; i < size && steps < 256; steps++) {
        uint8_t ctl = data[i++];
        struct mitm_conn *conn = target(r, (uint8_t)(ctl >> 3));
        switch (ctl & 7) {
        case 0: /* data */
        case 1:
        case 2: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            stackrun_data(r, conn, data + i, n);
            i += n;
            break;
        }
        case 3: /* the peer half-closes */
        case 4: /* the peer resets */
            if (conn->state == MITM_CONN_OPEN || conn->state == MITM_CONN_READ_EOF) {
                bool half = (ctl & 7) == 3;
                conn->state = half ? MITM_CONN_READ_EOF : MITM_CONN_CLOSED;
                struct mitm_event ev = {.type = MITM_EV_CLOSED, .conn = conn, .half_close = half};
                stackrun_input(r, &ev);
            }
            break;
        case 5:
            fire_timers(r);
            break;
        default:
            r->fail_next_open = true;
            break;
        }
        if (r->ctx.client->state == MITM_CONN_CLOSED)
            break;
    }
}

void stackrun_free(struct stackrun *r)
{
    for (int k = 0; k < r->n_timers; k++)
        mitm_ctx_drop(r->timers[k]);
    mitm_layer_destroy(r->ctx.root);
    mitm_ctx_free(&r->ctx);
}
