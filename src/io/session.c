/* A client connection's life: accept, read, execute the layer stack's commands (send,
 * connect, close, hooks, logs), flow control, teardown. All on one worker's loop. */
#include "io/session.h"
#include "addon/addon.h"
#include "core/options.h"
#include "core/services.h"
#include "base/alloc.h"
#include "base/log.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "core/modespec.h"
#include "platform/orig_dst.h"
#include "proto/inject.h"
#include "proto/mode/mode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flow control: stop reading every socket of a session while one of its write queues or
 * its layers' pause queues hold more than HIGH bytes; resume below LOW. */
#define FLOW_HIGH ((size_t)4 << 20)
#define FLOW_LOW  ((size_t)1 << 20)

#define MAX_IOV 16

struct wreq {
    uv_write_t req;
    uint8_t *data[MAX_IOV];
    int n;
    struct ioconn *io;
};

static void run(struct session *s);
static void close_io(struct ioconn *io);
static void close_graceful(struct ioconn *io, bool half);
static void start_reading(struct ioconn *io);

double mitm_io_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- addresses ---------------------------------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, char *host, size_t hcap, uint16_t *port)
{
    host[0] = 0;
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hcap);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, (socklen_t)hcap);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hcap);
        *port = ntohs(a->sin6_port);
    }
}

static void fill_addresses(struct ioconn *io)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    struct mitm_conn *c = io->conn;
    if (uv_tcp_getpeername(&io->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, c->peer_host, sizeof(c->peer_host), &c->peer_port);
    len = sizeof(ss);
    if (uv_tcp_getsockname(&io->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, c->sock_host, sizeof(c->sock_host), &c->sock_port);
    bool v6 = strchr(c->peer_host, ':') != NULL;
    snprintf(c->peer, sizeof(c->peer), v6 ? "[%s]:%u" : "%s:%u", c->peer_host, c->peer_port);
}

/* mitmproxy block.py: loopback is always allowed; "private" are the RFC 1918 / ULA /
 * link-local / CGNAT ranges; everything else is "global". */
static bool ip_is_private(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t ip = ntohl(a4.s_addr);
        return (ip >> 24) == 10 || (ip >> 20) == (172u << 4 | 1) || (ip >> 16) == (192u << 8 | 168) ||
               (ip >> 16) == (169u << 8 | 254) || (ip >> 22) == (100u << 2 | 1) || ip == 0;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return (a6.s6_addr[0] & 0xfe) == 0xfc || (a6.s6_addr[0] == 0xfe && (a6.s6_addr[1] & 0xc0) == 0x80);
    return false;
}

static bool ip_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* ---- session lifetime -------------------------------------------------------- */

static struct ioconn *ioconn_new(struct session *s, struct mitm_conn *conn)
{
    struct ioconn *io = mitm_calloc(1, sizeof(*io));
    io->s = s;
    io->conn = conn;
    conn->io = io;
    io->next = s->conns;
    s->conns = io;
    return io;
}

static void session_free(struct session *s)
{
    struct worker *w = s->w;
    mitm_layer_destroy(s->root);
    for (struct mitm_cmd *c = s->dead_cmds, *n; c; c = n) {
        n = c->next;
        mitm_cmd_free(c);
    }
    mitm_ctx_free(&s->ctx);
    mitm_optsnap_unref(s->opts);
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->n_sessions--;
    free(s);
    if (w->stopping && w->n_sessions == 0)
        uv_stop(&w->loop);
}

static void maybe_free_session(struct session *s)
{
    if (s->ending && !s->conns && !s->running && !s->hold && !s->n_timers)
        session_free(s);
}

static void unlink_io(struct ioconn *io)
{
    struct session *s = io->s;
    for (struct ioconn **pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == io) {
            *pp = io->next;
            break;
        }
    }
    if (io->conn)
        io->conn->io = NULL;
    if (s->client == io)
        s->client = NULL;
    if (io->ai)
        uv_freeaddrinfo(io->ai);
    if (io->open_cmd) {
        io->open_cmd->next = s->dead_cmds;
        s->dead_cmds = io->open_cmd;
    }
    free(io);
    maybe_free_session(s);
}

void mitm_io_maybe_unlink(struct ioconn *io)
{
    if (io->closing && io->handles == 0 && !io->gai_pending)
        unlink_io(io);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct ioconn *io = h->data;
    io->handles--;
    mitm_io_maybe_unlink(io);
}

static void drop_timers(struct session *s);
static void release_held(struct session *s);
static void hook_log(void *arg, int level, const char *msg);
static const char *session_peer(const struct session *s);

/* Run a hook through the addons, synchronously on this worker: the layers' HOOK commands and
 * the connection hooks mitmproxy's ConnectionHandler runs itself, not its layers
 * (client_connected ... server_disconnected). */
static void run_hook(struct session *s, enum mitm_hook h, void *arg)
{
    struct mitm_hook_env env = {
        .now = mitm_io_now(), .opts = s->ctx.opts, .worker = s->w->index, .log = hook_log, .log_arg = s};
    mitm_addons_run(s->ctx.svc->addons, h, arg, &env);
}

static void server_hook(struct session *s, enum mitm_hook h, struct mitm_conn *server)
{
    struct mitm_server_hook_data d = {.client = s->ctx.client, .server = server};
    run_hook(s, h, &d);
}

static void end_session(struct session *s)
{
    if (s->ending)
        return;
    s->ending = true;
    release_held(s);
    drop_timers(s);
    for (struct ioconn *io = s->conns, *n; io; io = n) {
        n = io->next;
        close_io(io);
    }
}

/* Close an ioconn's handles now (pending writes are dropped by libuv). */
static void close_io(struct ioconn *io)
{
    if (io->closing)
        return;
    io->closing = true;
    if (io->conn && io->conn->state != MITM_CONN_CLOSED)
        io->conn->state = MITM_CONN_CLOSED;
    if (io->gai_pending)
        uv_cancel((uv_req_t *)&io->gai);
    if (io->timer_init) {
        io->handles++;
        uv_close((uv_handle_t *)&io->timer, on_handle_closed);
    }
    if (io->tcp_init) {
        io->handles++;
        uv_close((uv_handle_t *)&io->tcp, on_handle_closed);
    }
    bool client = io == io->s->client;
    if (client && io->conn && io->conn->peer[0])
        mitm_log(MITM_LOG_INFO, io->conn->peer, "client disconnect");
    if (io->hooked && io->conn) { /* the connected hook ran: the disconnected one is owed */
        io->hooked = false;
        if (!io->conn->timestamp_end)
            io->conn->timestamp_end = mitm_io_now();
        if (client)
            run_hook(io->s, MITM_HOOK_CLIENT_DISCONNECTED, io->conn);
        else
            server_hook(io->s, MITM_HOOK_SERVER_DISCONNECTED, io->conn);
    }
    if (client)
        end_session(io->s); /* io stays listed (its handle is closing): the session lives on */
    if (io->handles == 0 && !io->gai_pending)
        unlink_io(io);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    struct ioconn *io = req->data;
    free(req);
    close_io(io);
}

static void on_half_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

/* Close after pending writes are flushed (our FIN after the data). */
static void close_graceful(struct ioconn *io, bool half)
{
    if (io->closing || io->shut)
        return;
    if (!io->tcp_init || io->connecting) {
        close_io(io);
        return;
    }
    uv_shutdown_t *req = mitm_calloc(1, sizeof(*req));
    req->data = io;
    io->shut = true;
    if (half) {
        if (uv_shutdown(req, (uv_stream_t *)&io->tcp, on_half_shutdown) != 0)
            free(req);
        return;
    }
    if (uv_shutdown(req, (uv_stream_t *)&io->tcp, on_shutdown) != 0) {
        free(req);
        close_io(io);
    }
}

/* ---- events into the layers ------------------------------------------------- */

static void deliver(struct session *s, struct mitm_event *ev)
{
    ev->now = mitm_io_now();
    s->running = true;
    mitm_ctx_input(&s->ctx, ev);
    s->running = false;
    run(s);
}

static void deliver_closed(struct ioconn *io, bool half)
{
    struct session *s = io->s;
    if (!io->conn || s->ending)
        return;
    struct mitm_event ev = {.type = MITM_EV_CLOSED, .conn = io->conn, .half_close = half};
    if (!half)
        io->conn->state = MITM_CONN_CLOSED;
    else if (io->conn->state == MITM_CONN_OPEN)
        io->conn->state = MITM_CONN_READ_EOF;
    io->conn->timestamp_end = mitm_io_now();
    deliver(s, &ev);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ioconn *io = h->data;
    *buf = uv_buf_init(io->s->w->readbuf, sizeof(io->s->w->readbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct ioconn *io = st->data;
    struct session *s = io->s;
    if (nread > 0) {
        if (!io->conn || io->closing || s->ending)
            return;
        struct mitm_event ev = {.type = MITM_EV_DATA, .conn = io->conn};
        ev.data = mitm_slice(buf->base, (size_t)nread);
        deliver(s, &ev);
        return;
    }
    if (nread == 0)
        return;
    uv_read_stop(st);
    io->reading = false;
    if (nread == UV_EOF && io == s->client && s->n_held && !s->ending) {
        /* the layer waiting for the user cannot see the EOF until it is resumed: a client
         * that leaves now is gone, and its held flows end with an error */
        deliver_closed(io, false);
        close_io(io);
        return;
    }
    if (nread == UV_EOF) {
        io->read_eof = true;
        deliver_closed(io, true);
        /* a client that is gone for good, or a server that half-closed after the layer
         * no longer cares, is closed by the layer's CLOSE; nothing else to do here */
        return;
    }
    if (io->conn && io->conn->side == MITM_CONN_SERVER)
        mitm_log(MITM_LOG_DEBUG, s->client ? s->client->conn->peer : NULL, "server %s:%u: %s", io->conn->host,
                 io->conn->port, uv_strerror((int)nread));
    deliver_closed(io, false);
    close_io(io);
}

static void start_reading(struct ioconn *io)
{
    if (io->reading || io->read_eof || io->closing || !io->tcp_init || io->s->paused)
        return;
    if (uv_read_start((uv_stream_t *)&io->tcp, on_alloc, on_read) == 0)
        io->reading = true;
}

/* Reads stop while a write queue or the layers' pause queues hold more than FLOW_HIGH, or
 * while the worker is throttled (the main thread is behind); they restart below FLOW_LOW. */
static void flow_control(struct session *s)
{
    size_t most = s->ctx.queued_bytes;
    for (struct ioconn *io = s->conns; io; io = io->next)
        if (io->tcp_init && io->tcp.write_queue_size > most)
            most = io->tcp.write_queue_size;
    bool throttled = mitm_worker_throttled(s->w);
    if (!s->paused && (most > FLOW_HIGH || throttled)) {
        s->paused = true;
        for (struct ioconn *io = s->conns; io; io = io->next) {
            if (io->reading)
                uv_read_stop((uv_stream_t *)&io->tcp);
            io->reading = false;
        }
    } else if (s->paused && most < FLOW_LOW && !throttled) {
        s->paused = false;
        for (struct ioconn *io = s->conns; io; io = io->next)
            start_reading(io);
    }
}

void mitm_session_flow_control(struct session *s)
{
    if (!s->ending)
        flow_control(s);
}

/* ---- commands ---------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct ioconn *io = w->io;
    for (int i = 0; i < w->n; i++)
        free(w->data[i]);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !io->closing) {
        deliver_closed(io, false);
        close_io(io);
        return;
    }
    if (io->s->paused)
        flow_control(io->s);
}

/* Write c and the SENDs to the same connection queued right behind it with one writev:
 * a response head and its body leave in one segment. */
static void exec_send(struct session *s, struct mitm_cmd *c)
{
    struct ioconn *io = c->conn ? c->conn->io : NULL;
    if (!io || io->closing || io->shut || !io->tcp_init || io->connecting)
        return;
    struct mitm_cmd *cmds[MAX_IOV];
    uv_buf_t bufs[MAX_IOV];
    int n = 0;
    cmds[n] = c;
    bufs[n++] = uv_buf_init((char *)c->data, (unsigned)c->len);
    while (n < MAX_IOV && s->ctx.out_head && s->ctx.out_head->type == MITM_CMD_SEND &&
           s->ctx.out_head->conn == c->conn) {
        struct mitm_cmd *m = mitm_ctx_next_cmd(&s->ctx);
        cmds[n] = m;
        bufs[n++] = uv_buf_init((char *)m->data, (unsigned)m->len);
    }
    size_t done = 0;
    if (io->tcp.write_queue_size == 0) {
        int r = uv_try_write((uv_stream_t *)&io->tcp, bufs, (unsigned)n);
        if (r < 0 && r != UV_EAGAIN) {
            for (int i = 1; i < n; i++)
                mitm_cmd_free(cmds[i]);
            c->conn->state = MITM_CONN_CLOSED;
            deliver_closed(io, false);
            close_io(io);
            return;
        }
        done = r > 0 ? (size_t)r : 0;
    }
    struct wreq *w = NULL;
    uv_buf_t rest[MAX_IOV];
    int nrest = 0;
    for (int i = 0; i < n; i++) {
        size_t len = bufs[i].len;
        if (done >= len) {
            done -= len;
        } else {
            if (!w)
                w = mitm_calloc(1, sizeof(*w));
            rest[nrest++] = uv_buf_init(bufs[i].base + done, (unsigned)(len - done));
            w->data[w->n++] = cmds[i]->data;
            cmds[i]->data = NULL;
            done = 0;
        }
        if (i > 0)
            mitm_cmd_free(cmds[i]);
    }
    if (!w)
        return;
    w->io = io;
    if (uv_write(&w->req, (uv_stream_t *)&io->tcp, rest, (unsigned)nrest, on_write) != 0) {
        for (int i = 0; i < w->n; i++)
            free(w->data[i]);
        free(w);
        close_io(io);
    }
}

static void reply(struct session *s, struct mitm_cmd *c)
{
    if (!s->ending) {
        mitm_ctx_reply(&s->ctx, c, mitm_io_now());
        return;
    }
    mitm_ctx_drop(c); /* the session is ending: nobody waits any more */
}

static const char *session_peer(const struct session *s)
{
    return s->client && s->client->conn ? s->client->conn->peer : NULL;
}

/* Hooks log for the client connection they run for. */
static void hook_log(void *arg, int level, const char *msg)
{
    mitm_log((enum mitm_log_level)level, session_peer(arg), "%s", msg);
}

/* A copy of a flow that goes on, for the main thread (NULL copies are dropped: a flow with
 * invalid metadata cannot be encoded, and is published when it ends). */
static void publish_copy(struct session *s, enum mitm_hook hook, struct mitm_flow *copy, bool intercepted)
{
    if (copy)
        mitm_worker_publish(s->w, hook, copy, true, intercepted);
}

/* A UI sees the flow as it goes: one snapshot per loop turn (mitm_worker_touch_live). */
static void publish_snapshot(struct session *s, enum mitm_hook hook, struct mitm_flow *flow)
{
    if (flow && mitm_worker_wants_live(s->w))
        mitm_worker_touch_live(s->w, hook, flow);
}

/* A flow hook was answered: count live exchanges, publish what the main thread takes at
 * this hook, and reply to the layer. */
static void after_hook(struct session *s, struct mitm_cmd *c)
{
    struct mitm_flow *flow = mitm_payload_flow(&c->arg);
    bool live = mitm_worker_wants_live(s->w);
    switch (c->hook) {
    case MITM_HOOK_REQUESTHEADERS:
    case MITM_HOOK_TCP_START:
    case MITM_HOOK_WEBSOCKET_START: /* live again until websocket_end */
        s->live_flows++;
        publish_snapshot(s, c->hook, flow);
        break;
    case MITM_HOOK_REQUEST:
    case MITM_HOOK_RESPONSEHEADERS:
        publish_snapshot(s, c->hook, flow);
        break;
    case MITM_HOOK_RESPONSE:
        if (flow && flow->websocket) {
            /* a WebSocket follows: the flow goes on until websocket_end, the main thread
             * prints a copy now */
            if (s->live_flows > 0)
                s->live_flows--;
            if (mitm_worker_wants_flows(s->w))
                publish_copy(s, c->hook, mitm_flowfile_snapshot(flow, false), false);
            break;
        }
        /* fall through */
    case MITM_HOOK_ERROR:
    case MITM_HOOK_TCP_END:
    case MITM_HOOK_TCP_ERROR:
    case MITM_HOOK_WEBSOCKET_END: /* the flow is final: the main thread may keep it */
        if (s->live_flows > 0)
            s->live_flows--;
        if (flow)
            mitm_worker_publish(s->w, c->hook, mitm_flow_ref(flow), false, false);
        break;
    case MITM_HOOK_TCP_MESSAGE: /* the flow goes on: the main thread gets a copy (a UI: all of it,
                                 * once per loop turn) */
        if (live)
            publish_snapshot(s, c->hook, flow);
        else if (flow && mitm_worker_wants_flows(s->w))
            publish_copy(s, c->hook, mitm_flow_message_snapshot(flow), false);
        break;
    case MITM_HOOK_WEBSOCKET_MESSAGE:
        if (live)
            publish_snapshot(s, c->hook, flow);
        else if (flow && mitm_worker_wants_flows(s->w))
            publish_copy(s, c->hook, mitm_flowfile_snapshot(flow, true), false);
        break;
    default:
        break;
    }
    reply(s, c);
}

/* ---- held hooks (intercept): answered later, from the mailbox ---------------------- */

struct held {
    struct session *s;
    struct mitm_cmd *c;     /* the HOOK command, answered on resume */
    struct mitm_flow *flow; /* c's payload (borrowed) */
    struct held *next, *prev;
};

/* Pending kills of running flows are few (one per user action); beyond this many the
 * oldest is forgotten (its flow had ended, or it would have been taken). */
#define MAX_KILLS 256

static void unlink_held(struct worker *w, struct held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        w->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->s->n_held--;
}

static struct held *find_held(struct worker *w, const char *id)
{
    for (struct held *h = w->held; h; h = h->next)
        if (strcmp(h->flow->id, id) == 0)
            return h;
    return NULL;
}

/* An addon (intercept, a script's flow:intercept()) marked the flow intercepted: the hook
 * is not answered. Its layer stays paused (events that arrive queue, as they do for any
 * blocking command) until the main thread resumes or kills the flow, or its client leaves. */
static void hold(struct session *s, struct mitm_cmd *c, struct mitm_flow *flow)
{
    struct held *h = mitm_calloc(1, sizeof(*h));
    h->s = s;
    h->c = c;
    h->flow = flow;
    h->next = s->w->held;
    if (h->next)
        h->next->prev = h;
    s->w->held = h;
    s->n_held++;
    if (mitm_worker_wants_live(s->w)) /* a UI shows it waiting; dump prints flows when they end */
        publish_copy(s, c->hook, mitm_flowfile_snapshot(flow, false), true);
}

static void answer_held(struct held *h, struct mitm_flow *edited, bool kill)
{
    struct session *s = h->s;
    struct mitm_cmd *c = h->c;
    struct mitm_flow *flow = h->flow;
    unlink_held(s->w, h);
    free(h);
    if (edited)
        mitm_flow_apply_edits(flow, edited);
    flow->intercepted = false;
    if (kill)
        flow->killed = true;
    s->running = true;
    after_hook(s, c);
    s->running = false;
    run(s);
}

void mitm_session_resume(struct worker *w, const char *id, struct mitm_flow *edited)
{
    struct held *h = find_held(w, id);
    if (h)
        answer_held(h, edited, false);
    mitm_flow_unref(edited);
}

void mitm_session_kill(struct worker *w, const char *id)
{
    struct held *h = find_held(w, id);
    if (h) {
        answer_held(h, NULL, true);
        return;
    }
    if (!w->kills)
        w->kills = mitm_calloc(MAX_KILLS, sizeof(*w->kills));
    if (w->n_kills == MAX_KILLS) {
        memmove(w->kills, w->kills + 1, (MAX_KILLS - 1) * sizeof(*w->kills));
        w->n_kills--;
    }
    snprintf(w->kills[w->n_kills++], MITM_UUID_LEN + 1, "%s", id);
}

void mitm_session_inject(struct worker *w, const char *id, bool to_client, bool is_text, const uint8_t *data,
                         size_t len)
{
    for (struct session *s = w->sessions; s; s = s->next) {
        struct mitm_layer *l = s->ending ? NULL : mitm_ctx_find(&s->ctx, id);
        if (!l)
            continue;
        struct mitm_event ev = {.type = MITM_EV_MESSAGE, .now = mitm_io_now()};
        ev.msg = mitm_inject_payload(to_client, is_text, data, len);
        s->running = true;
        mitm_layer_event(l, &ev);
        s->running = false;
        run(s);
        return;
    }
    mitm_log(MITM_LOG_WARN, NULL, "Cannot inject a message: flow %s is not live.", id);
}

/* Is flow id waiting to be killed? (Taken off the list.) */
static bool take_kill(struct worker *w, const char *id)
{
    for (size_t i = 0; i < w->n_kills; i++) {
        if (strcmp(w->kills[i], id) == 0) {
            memmove(w->kills + i, w->kills + i + 1, (w->n_kills - i - 1) * sizeof(*w->kills));
            w->n_kills--;
            return true;
        }
    }
    return false;
}

/* The session ends (its client left, shutdown) with hooks held: each of those flows ends
 * with an error, through the error hook, and reaches the main thread as final. */
static void release_held(struct session *s)
{
    struct worker *w = s->w;
    for (struct held *h = w->held, *n; h && s->n_held; h = n) {
        n = h->next;
        if (h->s != s)
            continue;
        struct mitm_flow *flow = h->flow;
        struct mitm_cmd *c = h->c;
        unlink_held(w, h);
        free(h);
        flow->intercepted = false;
        if (!flow->error)
            mitm_flow_set_error(flow, "Client disconnected.", mitm_io_now());
        enum mitm_hook eh = flow->type == MITM_FLOW_TCP ? MITM_HOOK_TCP_ERROR : MITM_HOOK_ERROR;
        mitm_log(MITM_LOG_INFO, session_peer(s), "client left while its flow was intercepted");
        run_hook(s, eh, flow);
        if (s->live_flows > 0)
            s->live_flows--;
        mitm_worker_publish(w, eh, mitm_flow_ref(flow), false, false);
        mitm_ctx_drop(c);
    }
}

static void exec_hook(struct session *s, struct mitm_cmd *c)
{
    struct mitm_flow *flow = mitm_payload_flow(&c->arg);
    if (c->arg.p)
        run_hook(s, c->hook, c->arg.p);
    if (flow && s->w->n_kills && take_kill(s->w, flow->id)) {
        flow->killed = true;
        flow->intercepted = false;
    }
    if (flow && flow->intercepted && !flow->killed && !s->ending) {
        hold(s, c, flow);
        return;
    }
    if (flow)
        flow->intercepted = false; /* killed, or nobody is left to resume it */
    after_hook(s, c);
}

static void exec_close(struct mitm_cmd *c)
{
    struct ioconn *io = c->conn ? c->conn->io : NULL;
    if (!io) {
        if (c->conn)
            c->conn->state = MITM_CONN_CLOSED;
        return;
    }
    if (c->half_close) {
        close_graceful(io, true);
        return;
    }
    if (io->conn)
        io->conn->state = MITM_CONN_CLOSED;
    if (io->conn && io->conn->side == MITM_CONN_SERVER && io->tcp_init && !io->connecting)
        mitm_log(MITM_LOG_INFO, io->s->client ? io->s->client->conn->peer : NULL, "server disconnect %s:%u",
                 io->conn->host, io->conn->port);
    close_graceful(io, false);
}

void mitm_io_open(struct session *s, struct mitm_cmd *c); /* connect.c */

/* ---- timers (WAKEUP) ------------------------------------------------------------- */

struct iotimer {
    uv_timer_t t;
    struct session *s;
    struct mitm_cmd *cmd; /* NULL once fired or dropped */
    struct iotimer *next, **pprev;
};

static void unlink_timer(struct iotimer *it)
{
    *it->pprev = it->next;
    if (it->next)
        it->next->pprev = it->pprev;
    it->next = NULL;
    it->pprev = &it->next;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct iotimer *it = h->data;
    struct session *s = it->s;
    free(it);
    s->n_timers--;
    maybe_free_session(s);
}

static void on_timer(uv_timer_t *t)
{
    struct iotimer *it = t->data;
    struct session *s = it->s;
    struct mitm_cmd *c = it->cmd;
    it->cmd = NULL;
    unlink_timer(it);
    uv_close((uv_handle_t *)&it->t, on_timer_closed);
    if (!c)
        return;
    if (s->ending) {
        mitm_ctx_drop(c);
        return;
    }
    s->running = true;
    mitm_ctx_wakeup(&s->ctx, c, mitm_io_now());
    s->running = false;
    run(s);
}

static void start_timer(struct session *s, struct mitm_cmd *c)
{
    if (!c->origin || s->ending) {
        mitm_ctx_drop(c);
        return;
    }
    struct iotimer *it = mitm_calloc(1, sizeof(*it));
    it->s = s;
    it->cmd = c;
    uv_timer_init(&s->w->loop, &it->t);
    it->t.data = it;
    it->next = s->timers;
    if (it->next)
        it->next->pprev = &it->next;
    it->pprev = &s->timers;
    s->timers = it;
    s->n_timers++;
    uv_timer_start(&it->t, on_timer, (uint64_t)(c->delay * 1000.0 + 0.5), 0);
}

/* The session ends: every pending wakeup is dropped (before the layers go). */
static void drop_timers(struct session *s)
{
    while (s->timers) {
        struct iotimer *it = s->timers;
        unlink_timer(it);
        if (it->cmd)
            mitm_ctx_drop(it->cmd);
        it->cmd = NULL;
        uv_close((uv_handle_t *)&it->t, on_timer_closed);
    }
}

/* server_connect: an addon that set the server's error kills the connection before it is
 * made (mitmproxy's "Connection killed: ..."). True when c was answered so. */
static bool server_connect_killed(struct session *s, struct mitm_cmd *c)
{
    struct mitm_conn *srv = c->conn;
    /* as mitmproxy's proxyserver addon, which comes before the others: no loop through
     * ourselves (a request to the proxy's own address would be sent to it again, forever) */
    if (!srv->error && mitm_proxy_is_self(s->w->p, srv->host, srv->port))
        srv->error =
            mitm_strdup("Request destination unknown. Unable to figure out where this request should be "
                        "forwarded to.");
    server_hook(s, MITM_HOOK_SERVER_CONNECT, srv);
    if (!srv->error)
        return false;
    mitm_log(MITM_LOG_INFO, session_peer(s), "server connection to %s:%u killed before connect: %s",
             srv->host, srv->port, srv->error);
    server_hook(s, MITM_HOOK_SERVER_CONNECT_ERROR, srv);
    char msg[600];
    snprintf(msg, sizeof(msg), "Connection killed: %s", srv->error);
    c->error = mitm_strdup(msg);
    srv->state = MITM_CONN_CLOSED;
    reply(s, c);
    return true;
}

static void execute(struct session *s, struct mitm_cmd *c)
{
    switch (c->type) {
    case MITM_CMD_SEND:
        exec_send(s, c);
        break;
    case MITM_CMD_OPEN:
        if (c->conn->state == MITM_CONN_OPEN && c->conn->io) {
            reply(s, c); /* connected already: its filters start now */
            return;
        }
        if (server_connect_killed(s, c))
            return;
        mitm_io_open(s, c);
        return; /* replied later; owns c */
    case MITM_CMD_CLOSE:
        exec_close(c);
        break;
    case MITM_CMD_HOOK:
        exec_hook(s, c);
        return; /* reply() freed c */
    case MITM_CMD_LOG:
        mitm_log(c->level, s->client && s->client->conn ? s->client->conn->peer : NULL, "%s", c->msg);
        break;
    case MITM_CMD_WAKEUP:
        start_timer(s, c);
        return; /* owns c until it fires or the session ends */
    }
    mitm_cmd_free(c);
}

static void run(struct session *s)
{
    if (s->running)
        return;
    s->running = true;
    struct mitm_cmd *c;
    while ((c = mitm_ctx_next_cmd(&s->ctx)))
        execute(s, c);
    s->running = false;
    if (!s->ending && s->ctx.client->state == MITM_CONN_CLOSED && s->client)
        close_graceful(s->client, false);
    if (!s->ending && s->virtual && s->ctx.client->state == MITM_CONN_CLOSED)
        end_session(s);
    if (!s->ending)
        flow_control(s);
    maybe_free_session(s);
}

/* Called by connect.c when an OPEN finished (err NULL = connected). */
void mitm_io_open_done(struct ioconn *io, const char *err, bool timeout)
{
    struct session *s = io->s;
    struct mitm_cmd *c = io->open_cmd;
    io->open_cmd = NULL;
    io->connecting = false;
    if (io->timer_init)
        uv_timer_stop(&io->timer);
    if (c) {
        struct mitm_conn *srv = io->conn;
        if (err) {
            c->error = mitm_strdup(err);
            c->timeout = timeout;
            if (io->conn) {
                io->conn->state = MITM_CONN_CLOSED;
                io->conn->io = NULL;
                io->conn = NULL;
            }
            mitm_log(MITM_LOG_INFO, s->client && s->client->conn ? s->client->conn->peer : NULL,
                     "error establishing server connection: %s", err);
            if (srv) {
                if (!srv->error)
                    srv->error = mitm_strdup(err);
                server_hook(s, MITM_HOOK_SERVER_CONNECT_ERROR, srv);
            }
        } else {
            io->conn->state = MITM_CONN_OPEN;
            io->conn->timestamp_tcp_setup = mitm_io_now();
            fill_addresses(io);
            mitm_log(MITM_LOG_INFO, s->client && s->client->conn ? s->client->conn->peer : NULL,
                     "server connect %s:%u", io->conn->host, io->conn->port);
            server_hook(s, MITM_HOOK_SERVER_CONNECTED, io->conn);
            io->hooked = true;
        }
        s->running = true;
        reply(s, c);
        s->running = false;
    }
    if (err)
        close_io(io);
    else
        start_reading(io);
    run(s);
}

/* ---- accept ------------------------------------------------------------------ */

/* Transparent mode: where the client meant to go, for the mode layer. */
static void original_destination(struct session *s, struct ioconn *io)
{
    uv_os_fd_t fd;
    struct mitm_platform_addr dst, local;
    char err[200];
    if (uv_fileno((uv_handle_t *)&io->tcp, &fd) != 0) {
        snprintf(s->ctx.orig_error, sizeof(s->ctx.orig_error), "no socket");
    } else if (mitm_orig_dst(fd, &dst, &local, err, sizeof(err)) < 0) {
        snprintf(s->ctx.orig_error, sizeof(s->ctx.orig_error), "%s", err);
    } else if (mitm_orig_dst_is_self(&dst, &local)) {
        snprintf(
            s->ctx.orig_error, sizeof(s->ctx.orig_error),
            "the connection to %s:%u was not redirected (it is addressed to the proxy itself); refusing it "
            "rather than looping",
            dst.host, dst.port);
    } else {
        snprintf(s->ctx.orig_host, sizeof(s->ctx.orig_host), "%s", dst.host);
        s->ctx.orig_port = dst.port;
    }
}

/* ctx->random: OpenSSL's DRBG (per thread, seeded from the OS), getrandom() if it fails. */
static void random_bytes(uint8_t *out, size_t n)
{
    if (n <= INT_MAX && RAND_bytes(out, (int)n) == 1)
        return;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            abort(); /* no entropy at all: masking keys must not be predictable */
    }
}

void mitm_session_accept(struct worker *w, struct listener *l)
{
    struct session *s = mitm_calloc(1, sizeof(*s));
    s->w = w;
    s->opts = mitm_services_options(mitm_worker_services(w));
    const struct mitm_options *o = &s->opts->o;
    mitm_ctx_init(&s->ctx, o);
    s->ctx.svc = mitm_worker_services(w);
    s->ctx.random = random_bytes;
    s->ctx.mode = l->mode;
    s->ctx.proxy_mode = l->mode->full;
    struct ioconn *io = ioconn_new(s, s->ctx.client);
    s->client = io;
    uv_tcp_init(&w->loop, &io->tcp);
    io->tcp.data = io;
    io->tcp_init = true;
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    w->n_sessions++;
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&io->tcp) != 0) {
        close_io(io);
        return;
    }
    uv_tcp_nodelay(&io->tcp, 1);
    fill_addresses(io);
    struct mitm_conn *c = s->ctx.client;
    c->timestamp_start = mitm_io_now();
    bool loop = ip_is_loopback(c->peer_host), priv = ip_is_private(c->peer_host);
    if ((o->block_global && !loop && !priv) || (o->block_private && priv)) {
        mitm_log(MITM_LOG_WARN, NULL, "Client connection from %s killed by %s option.", c->peer_host,
                 priv ? "block_private" : "block_global");
        close_io(io);
        return;
    }
    mitm_log(MITM_LOG_INFO, c->peer, "client connect");
    run_hook(s, MITM_HOOK_CLIENT_CONNECTED, c);
    io->hooked = true;
    if (c->error) {
        mitm_log(MITM_LOG_INFO, c->peer, "client kill connection");
        close_io(io);
        return;
    }
    if (l->mode->kind == MITM_MODE_TRANSPARENT)
        original_destination(s, io);
    s->root = mitm_mode_layer_new(&s->ctx);
    s->ctx.root = s->root;
    flow_control(s); /* a throttled worker does not read from new clients either */
    start_reading(io);
    struct mitm_event ev = {.type = MITM_EV_START};
    deliver(s, &ev);
}

void mitm_session_virtual(struct worker *w, const uint8_t *data, size_t len, const char *id)
{
    struct session *s = mitm_calloc(1, sizeof(*s));
    s->w = w;
    s->virtual = true;
    s->opts = mitm_services_options(mitm_worker_services(w));
    mitm_ctx_init(&s->ctx, &s->opts->o);
    s->ctx.svc = mitm_worker_services(w);
    s->ctx.random = random_bytes;
    s->ctx.replay = true;
    snprintf(s->ctx.replay_id, sizeof(s->ctx.replay_id), "%s", id ? id : "");
    struct mitm_conn *c = s->ctx.client;
    c->timestamp_start = mitm_io_now();
    snprintf(c->peer, sizeof(c->peer), "replay");
    s->next = w->sessions;
    if (w->sessions)
        w->sessions->prev = s;
    w->sessions = s;
    w->n_sessions++;
    s->root = mitm_mode_layer_new(&s->ctx);
    s->ctx.root = s->root;
    s->hold++;
    struct mitm_event start = {.type = MITM_EV_START};
    deliver(s, &start);
    struct mitm_event ev = {.type = MITM_EV_DATA, .conn = c, .data = mitm_slice(data, len)};
    if (!s->ending)
        deliver(s, &ev);
    struct mitm_event eof = {.type = MITM_EV_CLOSED, .conn = c, .half_close = true};
    if (!s->ending) {
        c->state = MITM_CONN_READ_EOF;
        deliver(s, &eof);
    }
    s->hold--;
    maybe_free_session(s);
}

/* Shutdown: close a session now if it has no exchange in progress (force: always). */
void mitm_session_close_idle(struct session *s, bool force)
{
    if (s->ending || (!force && s->live_flows > 0))
        return;
    /* the grace time is over: the layers see the client go, as when it leaves, so its
     * flows in flight end through the error hook ("Client disconnected.") and reach -w and
     * the front end, as mitmproxy's save writes its active flows at done */
    if (force && s->client && !s->client->closing && s->live_flows > 0)
        deliver_closed(s->client, false);
    if (s->client)
        close_io(s->client);
    else
        end_session(s);
    maybe_free_session(s);
}
