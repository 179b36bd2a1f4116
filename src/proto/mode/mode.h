/* Mode layers (mitmproxy's proxy/layers/modes.py): the root of every client connection's
 * stack, made from its listener's mode spec (ctx->mode). regular and upstream start with
 * the explicit-proxy next-layer step; transparent learns the destination from the driver
 * (ctx->orig_host/orig_port, SO_ORIGINAL_DST) and reverse from the spec, open it first with
 * the eager strategy, then run a next-layer step toward it; socks5 runs the SOCKSv5
 * handshake first. */
#ifndef MITM_PROTO_MODE_MODE_H
#define MITM_PROTO_MODE_MODE_H

#include "layer/layer-t.h"

/* The root layer for ctx (ctx->mode NULL: regular). Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_mode_layer_new(struct mitm_ctx *ctx);

#endif
