/* Connection facts into a flow's client_conn / server_conn (mitmproxy's Client and Server
 * objects as flows store them), shared by every protocol layer that makes flows. */
#ifndef MITM_PROTO_FLOWCONN_H
#define MITM_PROTO_FLOWCONN_H

#include "flow/flow-t.h"
#include "layer/layer-t.h"

/* client_conn from ctx's client connection (addresses, TLS facts, proxy mode); marks the
 * flow as a client replay when ctx is one. */
void mitm_flowconn_client(struct mitm_flow *f, struct mitm_ctx *ctx, double now);
/* server_conn from an open server connection c (address asked for, peer, our end,
 * timestamps, TLS facts, the upstream proxy it went through). */
void mitm_flowconn_server(struct mitm_flow *f, const struct mitm_conn *c);

#endif
