/* The HTTP layer: the explicit-proxy HTTP stack of one client connection. It drives the
 * HTTP/1 codec on the client connection and on every server connection, keeps server
 * connections for reuse while the client connection lives, answers CONNECT, and runs one
 * stream (src/proto/http/stream.c: the version-neutral per-request logic) per request. */
#ifndef MITM_PROTO_HTTP_LAYER_H
#define MITM_PROTO_HTTP_LAYER_H

#include "layer/layer-t.h"

/* New HTTP layer for ctx (regular proxy mode). Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_http_layer_new(struct mitm_ctx *ctx);

#endif
