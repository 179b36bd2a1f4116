/* The socks5 mode layer (mitmproxy's Socks5Proxy): the root of a socks5 listener's
 * connections. It runs the SOCKSv5 handshake with the codec of socks5.h (greeting, RFC 1929
 * username/password when proxyauth is set, checked by the socks5_auth hook, then the
 * CONNECT request), opens the destination with the eager strategy, answers the client and
 * hands the connection to a next-layer step toward that destination. */
#ifndef MITM_PROTO_SOCKS5_LAYER_H
#define MITM_PROTO_SOCKS5_LAYER_H

#include <stdbool.h>

#include "layer/layer-t.h"

/* The argument of socks5_auth (mitmproxy's Socks5AuthData): an addon sets valid. */
struct mitm_socks5_auth_data {
    struct mitm_conn *client;
    char username[256];
    char password[256];
    bool valid;
};

struct mitm_layer *mitm_socks5_layer_new(struct mitm_ctx *ctx);

#endif
