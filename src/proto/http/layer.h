/* The HTTP layer: the explicit-proxy HTTP stack of one client connection. It drives the
 * HTTP/1 codec on the client connection and on every server connection, keeps server
 * connections for reuse while the client connection lives, answers CONNECT, and runs one
 * stream (src/proto/http/stream.c: the version-neutral per-request logic) per request. */
#ifndef MITM_PROTO_HTTP_LAYER_H
#define MITM_PROTO_HTTP_LAYER_H

#include "layer/layer-t.h"

/* New HTTP layer for ctx (regular proxy mode). Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_http_layer_new(struct mitm_ctx *ctx);

/* An HTTP layer inside a tunnel (e.g. under the TLS layer): origin-form requests go to
 * host:port with scheme; server, if not NULL, is an open connection to host:port it
 * starts with (kept for reuse). Bytes of ctx->client arrive as DATA events from parent,
 * and its SENDs to ctx->client pass through parent (see mitm_layer_vt.command). */
struct mitm_layer *mitm_http_layer_new_inner(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                             const char *scheme, const char *host, uint16_t port,
                                             struct mitm_conn *server);

#endif
