/* One HTTP/1 connection: the first implementation of the codec interface (codec.h).
 *   server role: faces a client (parses requests, writes responses);
 *   client role: faces a server (writes requests, parses responses).
 * Built on the pure codec in src/proto/http1/h1.h. Sans-io: bytes go out as SEND
 * commands of the owning layer. One exchange at a time; pipelined requests wait in the
 * input buffer (in_cap) until the current response has been sent. */
#ifndef MITM_PROTO_HTTP_H1CONN_H
#define MITM_PROTO_HTTP_H1CONN_H

#include "proto/http/codec.h"
#include "proto/http1/h1.h"

/* A new HTTP/1 codec on conn. lim: head limits (copied); in_cap: bytes buffered unparsed
 * (pipelining; at least 16 KiB); absolute_form: client role toward an upstream proxy, so
 * requests go out in absolute form (RFC 9112 §3.2.2). Free with mitm_http_codec_free. */
struct mitm_http_codec *mitm_h1conn_new(enum mitm_codec_role role, struct mitm_layer *owner,
                                        struct mitm_conn *conn, const struct mitm_h1_limits *lim,
                                        size_t in_cap, bool absolute_form, mitm_http_codec_emit_fn emit,
                                        void *emit_arg);

#endif
