/* A CONNECT through an upstream proxy as a connection filter (layer/cfilter.h): the
 * connection's socket goes to the proxy (conn->via_host); when it is open the filter sends
 * "CONNECT host:port HTTP/1.1" for conn->host:port and the connection counts as open once
 * the proxy answered 2xx (RFC 9110 §9.3.6). Any other answer fails the OPEN with
 * "Upstream proxy HOST:PORT refused the CONNECT to X: STATUS REASON"; bytes the proxy sent
 * after its 2xx head belong to the tunnel. */
#ifndef MITM_PROTO_HTTP_CONNECT_H
#define MITM_PROTO_HTTP_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "layer/layer-t.h"

/* Push the filter on conn. proxy_auth: a Proxy-Authorization value to send (copied; NULL:
 * none); host_header: send "Host: host:port" too (http_connect_send_host_header). */
void mitm_http_connect_push(struct mitm_ctx *ctx, struct mitm_conn *conn, const char *proxy_auth,
                            bool host_header);

/* "Basic " + base64(userpass) into out (RFC 7617), for upstream_auth's "user:pass". */
void mitm_http_basic_auth(const char *userpass, char *out, size_t cap);

#endif
