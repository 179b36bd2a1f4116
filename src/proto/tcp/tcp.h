/* The raw TCP layer (mitmproxy's TCPLayer): relays bytes between the client and the
 * stack's server connection. Unless ignored, the connection is a TCP flow whose messages
 * (one per read) run the hooks tcp_start, tcp_message (the last message may be edited
 * before it is forwarded), tcp_end or tcp_error. Ignored connections (ignore_hosts,
 * allow_hosts, tls_clienthello's ignore_connection) are relayed without a flow. An idle
 * connection is closed after tcp_timeout seconds. */
#ifndef MITM_PROTO_TCP_TCP_H
#define MITM_PROTO_TCP_TCP_H

#include <stdbool.h>

#include "layer/layer-t.h"

/* A TCP layer under parent relaying the client to server (opened by the layer if it is
 * not open yet). ignore: no flow, no hooks. Destroy with mitm_layer_destroy. */
struct mitm_layer *mitm_tcp_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, bool ignore);

#endif
