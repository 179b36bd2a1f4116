/* The HTTP layer (mitmproxy's HttpLayer): the HTTP stack of one client connection, or of a
 * tunnel inside it. It drives the HTTP/1 codec on the client connection and on every
 * server connection, keeps server connections for reuse while the client connection lives,
 * answers CONNECT (then a next-layer step runs inside the tunnel), and runs one stream
 * (src/proto/http/stream.c: the version-neutral per-request logic) per request. */
#ifndef MITM_PROTO_HTTP_LAYER_H
#define MITM_PROTO_HTTP_LAYER_H

#include "layer/layer-t.h"

/* mitmproxy's HTTPMode: how requests find their destination. */
enum mitm_http_mode {
    MITM_HTTP_REGULAR = 0, /* explicit proxy: absolute-form URLs, CONNECT, else the Host header */
    MITM_HTTP_TRANSPARENT, /* origin-form requests go to the stack's server connection */
    MITM_HTTP_UPSTREAM,    /* explicit proxy whose requests all go through ctx->mode's parent proxy */
};

/* New HTTP layer under parent (NULL: the root) for ctx. server: the stack's server
 * connection (transparent mode; may be NULL otherwise), used by the first request that
 * goes to its host:port whatever its state (a TLS failure on it is then that request's
 * 502). Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_http_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                       enum mitm_http_mode mode, struct mitm_conn *server);

#endif
