/* The WebSocket layer (mitmproxy's WebsocketLayer, proxy/layers/websocket.py): after a 101 that
 * upgraded to WebSocket (mitm_ws_is_upgrade), relays messages between the client and the server
 * connection. One parser per direction; every data message is assembled, appended to the flow's
 * websocket data and run through the websocket_message hook, which may edit the last message's
 * content or drop it; then it is sent on with the frame lengths it arrived with (mitmproxy's
 * Fragmentizer; 4000-byte frames if its length changed), masked with a fresh key toward the
 * server (ctx->random), compressed when both sides agreed on permessage-deflate. Ping and pong
 * are logged and forwarded, not stored. A Close frame from either side, a protocol error (close
 * code from the parser: 1002, 1007, 1009, 1011) or a connection lost (1006) ends it: the close
 * is recorded in the flow (closed_by_client, close_code, close_reason, timestamp_end) and sent
 * to each side that can still take it, both connections are closed, and websocket_end runs.
 * docs/internals/websocket.md §4 has the details. */
#ifndef MITM_PROTO_WS_LAYER_H
#define MITM_PROTO_WS_LAYER_H

#include "flow/flow-t.h"
#include "layer/layer-t.h"

/* A WebSocket layer under parent for flow (an HTTP flow whose request and 101 response made the
 * handshake; flow->websocket must be set: the layer takes a reference to the flow) between the
 * context's client and server (an open connection). Its START event runs websocket_start.
 * Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_ws_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent, struct mitm_flow *flow,
                                     struct mitm_conn *server);

#endif
