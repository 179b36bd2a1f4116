/* Private to the HTTP layer and its streams. */
#ifndef MITM_PROTO_HTTP_LAYER_INT_H
#define MITM_PROTO_HTTP_LAYER_INT_H

#include "layer/layer.h"
#include "proto/http/event.h"
#include "proto/http/h1conn.h"

struct http_stream;

/* A server connection of the HTTP layer. */
struct http_server {
    struct mitm_conn *conn;
    struct mitm_h1conn h1;
    struct http_stream *owner; /* stream using it, NULL when idle */
    bool dead;                 /* closed; freed at the next safe point */
    bool given;                /* handed to a child stack (TLS in a CONNECT tunnel) */
    struct http_layer *hl;
    struct http_server *next;
};

struct http_layer {
    struct mitm_layer base;
    struct mitm_h1conn client; /* server-role codec on the client connection */
    struct http_server *servers;
    struct http_stream *streams; /* live and finished (freed at the next safe point) */
    char *tunnel_host;           /* inside a CONNECT tunnel: where origin-form requests go */
    uint16_t tunnel_port;
    char *tunnel_scheme;      /* scheme of origin-form requests in the tunnel ("https") */
    struct mitm_layer *child; /* the stack inside a TLS tunnel */
    bool relaying;            /* raw relay after CONNECT (TLS not intercepted) */
    struct mitm_h1_limits lim;
    double now; /* time of the event being handled (codecs call back
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
/* The stream's server connection went away. */
void mitm_http_stream_server_lost(struct http_stream *s);

/* layer.c, for streams */
/* An idle reusable server connection to host:port, or a new one (state NEW; the stream
 * opens it). The server is owned by s until released. */
struct http_server *mitm_http_server_get(struct http_layer *hl, struct http_stream *s, const char *host,
                                         uint16_t port);
/* The stream is done with it: kept for reuse if possible, else closed. */
void mitm_http_server_release(struct http_layer *hl, struct http_server *srv);
/* CONNECT answered 2xx: switch the client connection to a tunnel to host:port. */
void mitm_http_layer_tunnel(struct http_layer *hl, const char *host, uint16_t port);
/* After the 2xx went out: bytes the client sent early enter the tunnel now. */
void mitm_http_layer_tunnel_start(struct http_layer *hl);

#endif
