/* Fuzz target: the layer stack itself, with no network. The first byte picks a listener's
 * mode (regular, socks5, reverse http, reverse tcp, transparent, upstream); the rest is a
 * script of events: each step is a control byte and, for data, a length byte and that many
 * bytes. Data goes to the client or to one of the server connections the stack opened;
 * other steps close a connection, fire the pending timers, or decide whether the next OPEN
 * fails. The runner answers every command as the driver would (OPEN, HOOK, SEND, CLOSE,
 * WAKEUP, LOG). Invariants: no crash, no sanitizer report, every object freed (the ASan
 * build checks leaks), bounded work. The TLS layers run with a real configuration (a CA made
 * once in a temporary directory), so ClientHello-looking input reaches them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon/addon.h"
#include "base/log.h"
#include "cert/ca.h"
#include "cert/store.h"
#include "core/modespec.h"
#include "core/options.h"
#include "core/services.h"
#include "layer/layer.h"
#include "proto/mode/mode.h"
#include "proto/next.h"
#include "proto/tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CONNS  8
#define MAX_TIMERS 64

static struct mitm_options opts;
static struct mitm_services svc;
static struct mitm_mode_spec modes[6];
static bool ready;
static char ca_dir[64];

static void remove_ca_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ca_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz-stack: could not remove %s\n", ca_dir);
}

static void setup(void)
{
    char err[512];
    mitm_log_set_level(MITM_LOG_ERROR);
    mitm_options_init(&opts);
    mitm_options_set(&opts, "ignore_hosts", "^ignored\\.test:", err, sizeof(err));
    mitm_options_set(&opts, "tcp_hosts", "^tcp\\.test:", err, sizeof(err));
    mitm_services_init(&svc, &opts);
    snprintf(ca_dir, sizeof(ca_dir), "/tmp/mitmc-fuzz-stack-%d", (int)getpid());
    atexit(remove_ca_dir);
    struct mitm_ca *ca = mitm_ca_load_or_create(ca_dir, 2048, NULL, err, sizeof(err));
    struct mitm_cert_store *store = ca ? mitm_cert_store_new(ca, NULL, err, sizeof(err)) : NULL;
    mitm_ca_free(ca);
    if (store)
        svc.tls = mitm_tls_config_new(&opts, store, err, sizeof(err)); /* store kept for the process */
    svc.next = mitm_next_config_new(&opts, err, sizeof(err));
    static const char *const specs[] = {"regular",
                                        "socks5",
                                        "reverse:http://origin.test:8080",
                                        "reverse:tcp://origin.test:9",
                                        "transparent",
                                        "upstream:http://parent.test:3128"};
    for (int i = 0; i < 6; i++)
        if (mitm_mode_spec_parse(specs[i], &modes[i], err, sizeof(err)) < 0)
            abort();
    ready = true;
}

struct run {
    struct mitm_ctx ctx;
    struct mitm_conn *servers[MAX_CONNS];
    int n_servers;
    struct mitm_cmd *timers[MAX_TIMERS];
    int n_timers;
    bool fail_next_open;
    double now;
};

static void execute(struct run *r)
{
    struct mitm_cmd *c;
    for (int guard = 0; guard < 100000 && (c = mitm_ctx_next_cmd(&r->ctx)); guard++) {
        switch (c->type) {
        case MITM_CMD_OPEN:
            if (r->fail_next_open) {
                c->error = strdup("Error connecting to x: connection refused");
                c->conn->state = MITM_CONN_CLOSED;
            } else {
                if (c->conn->state != MITM_CONN_OPEN && r->n_servers < MAX_CONNS)
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
            if (r->n_timers < MAX_TIMERS)
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

static void input(struct run *r, struct mitm_event *ev)
{
    r->now += 0.01;
    ev->now = r->now;
    mitm_ctx_input(&r->ctx, ev);
    execute(r);
}

static void fire_timers(struct run *r)
{
    int n = r->n_timers;
    r->n_timers = 0;
    r->now += 3600; /* every deadline has come */
    for (int i = 0; i < n; i++) {
        mitm_ctx_wakeup(&r->ctx, r->timers[i], r->now);
        execute(r);
    }
}

static struct mitm_conn *target(struct run *r, uint8_t sel)
{
    int k = sel % (r->n_servers + 1);
    return k == 0 ? r->ctx.client : r->servers[k - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 1)
        return 0;
    struct run r = {.now = 1e9};
    mitm_ctx_init(&r.ctx, &opts);
    r.ctx.svc = &svc;
    r.ctx.mode = &modes[data[0] % 6];
    r.ctx.proxy_mode = r.ctx.mode->full;
    snprintf(r.ctx.client->peer_host, sizeof(r.ctx.client->peer_host), "127.0.0.1");
    snprintf(r.ctx.client->peer, sizeof(r.ctx.client->peer), "127.0.0.1:50000");
    snprintf(r.ctx.client->sock_host, sizeof(r.ctx.client->sock_host), "127.0.0.1");
    r.ctx.client->sock_port = 8080;
    snprintf(r.ctx.orig_host, sizeof(r.ctx.orig_host), "origin.test");
    r.ctx.orig_port = 80;
    r.ctx.root = mitm_mode_layer_new(&r.ctx);
    struct mitm_event start = {.type = MITM_EV_START};
    input(&r, &start);
    size_t i = 1;
    for (int steps = 0; i < size && steps < 256; steps++) {
        uint8_t ctl = data[i++];
        struct mitm_conn *conn = target(&r, (uint8_t)(ctl >> 3));
        switch (ctl & 7) {
        case 0: /* data */
        case 1:
        case 2: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            if (conn->state == MITM_CONN_OPEN || conn->state == MITM_CONN_READ_EOF) {
                struct mitm_event ev = {.type = MITM_EV_DATA, .conn = conn, .data = mitm_slice(data + i, n)};
                input(&r, &ev);
            }
            i += n;
            break;
        }
        case 3: /* the peer half-closes */
        case 4: /* the peer resets */
            if (conn->state == MITM_CONN_OPEN || conn->state == MITM_CONN_READ_EOF) {
                bool half = (ctl & 7) == 3;
                conn->state = half ? MITM_CONN_READ_EOF : MITM_CONN_CLOSED;
                struct mitm_event ev = {.type = MITM_EV_CLOSED, .conn = conn, .half_close = half};
                input(&r, &ev);
            }
            break;
        case 5:
            fire_timers(&r);
            break;
        default:
            r.fail_next_open = true;
            break;
        }
        if (r.ctx.client->state == MITM_CONN_CLOSED)
            break;
    }
    for (int k = 0; k < r.n_timers; k++)
        mitm_ctx_drop(r.timers[k]);
    mitm_layer_destroy(r.ctx.root);
    mitm_ctx_free(&r.ctx);
    return 0;
}
