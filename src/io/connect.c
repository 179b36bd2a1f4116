/* Opening server connections: resolve (uv_getaddrinfo, skipped for IP literals), connect
 * to each address in turn, bounded by connect_timeout; the OPEN command's reply carries
 * the outcome. */
#include "core/options.h"
#include "base/alloc.h"
#include "io/session.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mitm_io_open_done(struct ioconn *io, const char *err, bool timeout);

static void try_next(struct ioconn *io, int last_err);

/* Where the socket goes: the upstream proxy (via) if there is one, else the target. */
static const char *dial_host(const struct ioconn *io)
{
    return !io->conn ? "?" : io->conn->via_host ? io->conn->via_host : io->conn->host;
}

static unsigned dial_port(const struct ioconn *io)
{
    return !io->conn ? 0 : io->conn->via_host ? io->conn->via_port : io->conn->port;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct ioconn *io = req->data;
    if (status == UV_ECANCELED || io->closing) {
        if (io->open_cmd && !io->closing)
            mitm_io_open_done(io, "connection cancelled", false);
        return;
    }
    if (status == 0) {
        uv_tcp_nodelay(&io->tcp, 1);
        mitm_io_open_done(io, NULL, false);
        return;
    }
    try_next(io, status);
}

static void on_tcp_reset(uv_handle_t *h)
{
    struct ioconn *io = h->data;
    io->handles--;
    if (io->closing) {
        mitm_io_maybe_unlink(io);
        return;
    }
    try_next(io, 0);
}

static void connect_error(struct ioconn *io, int err)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "Error connecting to %s:%u: %s", dial_host(io), dial_port(io),
             uv_strerror(err));
    mitm_io_open_done(io, msg, false);
}

/* Connect to the next resolved address; after a failed attempt the old socket is closed
 * first (a libuv handle connects once). */
static void try_next(struct ioconn *io, int err)
{
    if (err)
        io->last_err = err;
    if (io->tcp_init) {
        io->tcp_init = false;
        io->handles++;
        uv_close((uv_handle_t *)&io->tcp, on_tcp_reset);
        return;
    }
    if (!io->ai_next) {
        connect_error(io, io->last_err ? io->last_err : UV_ECONNREFUSED);
        return;
    }
    struct addrinfo *a = io->ai_next;
    io->ai_next = a->ai_next;
    uv_tcp_init(&io->s->w->loop, &io->tcp);
    io->tcp.data = io;
    io->tcp_init = true;
    io->creq.data = io;
    int r = uv_tcp_connect(&io->creq, &io->tcp, a->ai_addr, on_connect);
    if (r != 0)
        try_next(io, r);
}

static void on_timeout(uv_timer_t *t)
{
    struct ioconn *io = t->data;
    char msg[512];
    snprintf(msg, sizeof(msg), "Error connecting to %s:%u: connect timed out after %ld s", dial_host(io),
             dial_port(io), io->s->ctx.opts->connect_timeout);
    mitm_io_open_done(io, msg, true);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct ioconn *io = req->data;
    io->gai_pending = false;
    if (io->closing) {
        if (res)
            uv_freeaddrinfo(res);
        if (io->open_cmd)
            mitm_io_open_done(io, "connection cancelled", false);
        mitm_io_maybe_unlink(io);
        return;
    }
    if (status != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "Error resolving %s: %s", dial_host(io), uv_strerror(status));
        mitm_io_open_done(io, msg, false);
        return;
    }
    io->ai = res;
    io->ai_next = res;
    try_next(io, 0);
}

/* An address literal needs no resolver round trip. */
static struct addrinfo *literal(const char *host, uint16_t port)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return NULL;
    return res;
}

void mitm_io_open(struct session *s, struct mitm_cmd *c)
{
    struct ioconn *io = mitm_calloc(1, sizeof(*io));
    io->s = s;
    io->conn = c->conn;
    c->conn->io = io;
    io->next = s->conns;
    s->conns = io;
    io->open_cmd = c;
    io->connecting = true;
    c->conn->timestamp_start = mitm_io_now();
    long timeout = s->ctx.opts->connect_timeout;
    uv_timer_init(&s->w->loop, &io->timer);
    io->timer.data = io;
    io->timer_init = true;
    if (timeout > 0)
        uv_timer_start(&io->timer, on_timeout, (uint64_t)timeout * 1000, 0);
    /* through an upstream proxy, the socket goes to the proxy (conn->host stays the target) */
    const char *host = c->conn->via_host ? c->conn->via_host : c->conn->host;
    uint16_t port = c->conn->via_host ? c->conn->via_port : c->conn->port;
    struct addrinfo *lit = literal(host, port);
    if (lit) {
        io->ai = lit;
        io->ai_next = lit;
        try_next(io, 0);
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    io->gai.data = io;
    io->gai_pending = true;
    int r = uv_getaddrinfo(&s->w->loop, &io->gai, on_resolved, host, ps, &hints);
    if (r != 0) {
        io->gai_pending = false;
        char msg[512];
        snprintf(msg, sizeof(msg), "Error resolving %s: %s", host, uv_strerror(r));
        mitm_io_open_done(io, msg, false);
    }
}
