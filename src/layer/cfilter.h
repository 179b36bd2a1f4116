/* Connection filters (like curl's connection filters, docs/internals/layers.md): a chain of
 * transformations between a connection's socket and the layers, e.g. TLS toward a server,
 * or TLS to an upstream proxy, a CONNECT through it, then TLS to the origin. A layer that
 * wants a TLS server connection pushes a filter on the connection and opens it; it then
 * sends and receives plaintext as if the connection were plain, and the OPEN is answered
 * once every filter has finished its handshake.
 *
 * Data path. Up: the driver's bytes for conn enter the bottom filter (recv); a filter
 * passes what it makes of them up with mitm_cfilter_up(), which reaches the filter above
 * or, from the top filter, the context's root layer as a DATA event. Down: a SEND a layer
 * emits for conn enters the top filter (send); a filter passes bytes down with
 * mitm_cfilter_down(), which reaches the filter below or, from the bottom one, the driver
 * as a SEND command. CLOSE and the peer's close travel the same ways.
 *
 * Filters are sans-io like layers: no socket, no clock (f->now is the time of the event
 * being handled). A filter belongs to its connection and is destroyed with the context. */
#ifndef MITM_LAYER_CFILTER_H
#define MITM_LAYER_CFILTER_H

#include "layer/layer-t.h"

struct mitm_cfilter_vt {
    const char *name;
    /* The connection below is open (TCP connected, or the filter below ready): start,
     * e.g. send a ClientHello. Call mitm_cfilter_ready() or mitm_cfilter_fail() when done
     * (possibly from inside start, or later from recv). */
    void (*start)(struct mitm_cfilter *f);
    /* Bytes from below (the peer). */
    void (*recv)(struct mitm_cfilter *f, struct mitm_slice data);
    /* The peer closed (half: it sent EOF, we may still write). Pass it up with
     * mitm_cfilter_up_closed() when the layers should know. */
    void (*closed)(struct mitm_cfilter *f, bool half);
    /* Bytes from above (the layers) to send to the peer. */
    void (*send)(struct mitm_cfilter *f, struct mitm_slice data);
    /* The layers close the connection (half: our sending side only); pass it on with
     * mitm_cfilter_down_close() after whatever must go out first (TLS close_notify). */
    void (*close)(struct mitm_cfilter *f, bool half);
    /* Free the filter (its base is freed by the framework). */
    void (*destroy)(struct mitm_cfilter *f);
};

struct mitm_cfilter {
    const struct mitm_cfilter_vt *vt;
    struct mitm_ctx *ctx;
    struct mitm_conn *conn;
    struct mitm_cfilter *below; /* toward the socket; NULL: the socket */
    struct mitm_cfilter *above; /* toward the layers; NULL: the layers */
    bool started, ready, failed;
    double now; /* time of the event being handled */
};

/* Put f (vt set, the rest zeroed; allocated by its maker) on top of conn's chain. f is
 * owned by conn from now on. A filter pushed on an open connection starts when the next
 * OPEN of the connection is emitted (see mitm_layer_emit). */
void mitm_cfilter_push(struct mitm_ctx *ctx, struct mitm_conn *conn, struct mitm_cfilter *f);
/* The first filter of conn's chain (from the top) with vt, or NULL. */
struct mitm_cfilter *mitm_cfilter_find(const struct mitm_conn *conn, const struct mitm_cfilter_vt *vt);
/* Does conn have a filter that has not finished starting? */
bool mitm_cfilter_pending(const struct mitm_conn *conn);

/* For filters: pass bytes (or a close) on. */
void mitm_cfilter_up(struct mitm_cfilter *f, struct mitm_slice data);
void mitm_cfilter_up_closed(struct mitm_cfilter *f, bool half);
void mitm_cfilter_down(struct mitm_cfilter *f, const void *data, size_t len);
void mitm_cfilter_down_close(struct mitm_cfilter *f, bool half);
/* The filter's handshake is done: the next filter up starts, or the OPEN is answered. */
void mitm_cfilter_ready(struct mitm_cfilter *f);
/* The filter failed (before or after ready): the pending OPEN, if any, is answered with
 * reason, the connection is closed, and reason is kept in conn->error. A failure after
 * ready reaches the layers as the connection's close. */
void mitm_cfilter_fail(struct mitm_cfilter *f, const char *reason);
/* A log line for this client connection. */
void mitm_cfilter_log(struct mitm_cfilter *f, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For the framework (layer.c): the events and commands that concern filtered connections. */
/* Bytes or a close from the driver for a filtered connection. */
void mitm_cfilter_input(struct mitm_ctx *ctx, const struct mitm_event *ev);
/* A SEND or CLOSE emitted for a filtered connection (takes c). */
void mitm_cfilter_command(struct mitm_ctx *ctx, struct mitm_cmd *c);
/* Start the filters of c->conn (an OPEN whose TCP part is done); takes c. */
void mitm_cfilter_open(struct mitm_ctx *ctx, struct mitm_cmd *c, double now);
/* Free the chain of conn. */
void mitm_cfilter_free_chain(struct mitm_conn *conn);

#endif
