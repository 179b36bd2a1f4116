/* Private to the HTTP layer and its streams. */
#ifndef MITM_PROTO_HTTP_LAYER_INT_H
#define MITM_PROTO_HTTP_LAYER_INT_H

#include "layer/layer.h"
#include "proto/http/event.h"
#include "proto/http/codec.h"
#include "proto/http1/h1.h"
#include "proto/http2/h2conn.h"
#include "proto/http/layer.h"

struct http_stream;
struct mitm_flow;

/* A server connection of the HTTP layer. */
struct http_server {
    struct mitm_conn *conn;
    struct mitm_http_codec *codec; /* HTTP/1 or HTTP/2 by the ALPN the server chose; made
                                      once the connection is open (mitm_http_server_codec) */
    struct http_stream *owner;     /* HTTP/1: the stream using it, NULL when idle */
    unsigned users;                /* streams using it (HTTP/2: several at once) */
    bool dead;                     /* closed; freed at the next safe point */
    bool given;                    /* handed to the stack inside a CONNECT tunnel */
    bool stack;                    /* the stack's own server connection, not used yet */
    bool https;                    /* TLS to the origin (the server half runs on it) */
    bool proxy;                    /* to the upstream proxy itself (absolute-form requests) */
    double active;                 /* HTTP/2: when bytes last went either way (keep-alive PING) */
    struct http_layer *hl;
    struct http_server *next;
};

struct http_layer {
    struct mitm_layer base;
    enum mitm_http_mode mode;
    struct mitm_http_codec *client; /* server-role codec on the client connection */
    struct http_server *servers;
    struct http_stream *streams; /* live and finished (freed at the next safe point) */
    struct mitm_conn *origin;    /* transparent: where origin-form requests go (the stack's server) */
    struct mitm_layer *child;    /* the stack inside a CONNECT tunnel */
    struct mitm_conn *tunnel;    /* its server connection */
    struct mitm_h1_limits lim;
    struct mitm_h2_limits h2lim;  /* from the http2_* options */
    bool h2_client;               /* the client connection speaks HTTP/2 */
    struct mitm_timer idle, head; /* http_idle_timeout, http_header_timeout */
    struct mitm_timer ping;       /* http2_ping_keepalive: the first HTTP/2 server due a PING */
    double now;                   /* time of the event being handled (codecs call back
                                     synchronously from handle()) */
};

/* stream.c */
struct http_stream *mitm_http_stream_new(struct http_layer *hl, uint32_t id);
void mitm_http_stream_free(struct http_stream *s);
struct mitm_layer *mitm_http_stream_layer(struct http_stream *s);
uint32_t mitm_http_stream_id(const struct http_stream *s);
bool mitm_http_stream_done(const struct http_stream *s);
struct http_stream *mitm_http_stream_next(const struct http_stream *s);
struct http_stream **mitm_http_stream_next_ptr(struct http_stream *s);

/* layer.c, for streams */
/* A server connection for a request to scheme://host:port (connect: a CONNECT's tunnel):
 * the stack's server connection if it is for host:port and unused, an idle reusable one
 * made the same way, or a new one (state NEW; the stream opens it) with the connection
 * filters it needs (TLS for https, the CONNECT through an upstream proxy). The server is
 * owned by s until released. */
struct http_server *mitm_http_server_get(struct http_layer *hl, struct http_stream *s, const char *scheme,
                                         const char *host, uint16_t port, bool connect);
/* The stream is done with it: kept for reuse if possible, else closed. */
void mitm_http_server_release(struct http_layer *hl, struct http_server *srv);
/* Its codec, made on first use after the connection opened: HTTP/2 when the server chose h2
 * by ALPN (and option http2 is on), else HTTP/1. */
struct mitm_http_codec *mitm_http_server_codec(struct http_server *srv);
/* After a stream's event: the keep-alive and header timers follow the exchanges, and the
 * PING timer the HTTP/2 server connections' activity. */
void mitm_http_layer_update_timers(struct http_layer *hl);
/* CONNECT answered 2xx: the client connection becomes a tunnel to conn (open or not) and a
 * next-layer step takes it, with the bytes the client sent early. */
void mitm_http_layer_tunnel(struct http_layer *hl, struct mitm_conn *conn);

/* A 101 was sent to the client: the client connection and srv's connection (released by
 * the stream) go to a WebSocket layer for flow when flow->websocket is set, else to the raw
 * TCP layer (rawtcp), else both are closed. Bytes either peer sent after the 101 head go on to
 * the new layer. */
void mitm_http_layer_upgrade(struct http_layer *hl, struct http_server *srv, struct mitm_flow *flow);

#endif
