/* One HTTP/2 connection (RFC 9113): the second implementation of the codec interface
 * (src/proto/http/codec.h), on nghttp2's memory API (mem_recv / mem_send), so it stays
 * sans-io like the HTTP/1 codec.
 *   server role: faces a client that chose h2 by ALPN; one layer stream per HTTP/2 stream,
 *                known to the layer by its HTTP/2 stream id;
 *   client role: faces an h2 server; each REQUEST_HEADERS opens a new HTTP/2 stream and the
 *                events of its response carry the layer's stream id back.
 * Translation to the neutral model: pseudo-headers <-> method, scheme, authority, path and
 * status; connection-specific fields dropped (RFC 9113 §8.2.2); Cookie crumbs joined on the
 * way in and split on the way out (§8.2.3); trailers kept. http_version is "HTTP/2.0".
 * Flow control is per stream: the connection window is refilled as bytes arrive, a stream's
 * window only when the layer reports the bytes consumed (a paused stream stops its peer, not
 * its siblings). Limits: see http2.md (max concurrent streams, header list size, the
 * reset budget against CVE-2023-44487). */
#ifndef MITM_PROTO_HTTP2_H2CONN_H
#define MITM_PROTO_HTTP2_H2CONN_H

#include "proto/http/codec.h"

struct mitm_options;

/* Limits of one HTTP/2 connection (0 = the default named; out-of-range values are clamped:
 * streams 1..1000, header list 1 KiB..1 MiB, frame 16 KiB..16 MiB-1). */
struct mitm_h2_limits {
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS we announce: 100 */
    uint32_t max_header_list;        /* SETTINGS_MAX_HEADER_LIST_SIZE: 64 KiB */
    uint32_t max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE: 16 KiB */
    uint32_t stream_window;          /* SETTINGS_INITIAL_WINDOW_SIZE: 1 MiB */
    uint32_t reset_budget;           /* peer resets of unfinished streams before GOAWAY: 200 */
};

/* A new HTTP/2 codec on conn. The server role expects the client's connection preface;
 * both roles send their SETTINGS on the first flush (client role: the preface at once).
 * Returns NULL if nghttp2 cannot make a session (out of memory). Free with
 * mitm_http_codec_free. */
/* The limits options ask for (http2_max_concurrent_streams, _header_list_size,
 * _frame_size), clamped. */
void mitm_h2_limits_from(struct mitm_h2_limits *lim, const struct mitm_options *o);

struct mitm_http_codec *mitm_h2conn_new(enum mitm_codec_role role, struct mitm_layer *owner,
                                        struct mitm_conn *conn, const struct mitm_h2_limits *lim,
                                        mitm_http_codec_emit_fn emit, void *emit_arg);

#endif
