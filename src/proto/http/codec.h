/* The codec interface of the HTTP layer (DESIGN §6): one HTTP connection, of whatever
 * version, as the layer and its streams use it. Bytes in -> neutral HTTP events out
 * (event.h); neutral events in -> bytes out, as SEND commands of the owning layer.
 * Implementations: HTTP/1 (h1conn.h) and HTTP/2 (src/proto/http2/h2conn.h). The HTTP layer
 * and stream.c call only the functions below; version-specific literals (the version string
 * of messages the proxy makes, Connection: close on error pages, GOAWAY) live in the codec.
 * Sans-io: nothing here touches a socket or a clock. */
#ifndef MITM_PROTO_HTTP_CODEC_H
#define MITM_PROTO_HTTP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer/layer-t.h"
#include "proto/http/event.h"

enum mitm_codec_role {
    MITM_CODEC_SERVER = 0, /* faces the client: parses requests, writes responses */
    MITM_CODEC_CLIENT,     /* faces a server: writes requests, parses responses */
};

struct mitm_http_codec;
/* Receives every event the codec produces; takes ownership of ev. Events carry the stream
 * id the HTTP layer knows the exchange by (server role: the codec assigns it; client role:
 * the id of the REQUEST_HEADERS that started the exchange). */
typedef void (*mitm_http_codec_emit_fn)(void *arg, struct mitm_http_codec *c, struct mitm_http_event *ev);

struct mitm_http_codec_vt {
    const char *name;    /* "HTTP/1", "HTTP/2": for log lines */
    const char *version; /* http_version of messages the proxy makes on it ("HTTP/1.1") */
    void (*feed)(struct mitm_http_codec *c, const uint8_t *data, size_t len);
    void (*eof)(struct mitm_http_codec *c);
    void (*send)(struct mitm_http_codec *c, struct mitm_http_event *ev);
    bool (*reusable)(const struct mitm_http_codec *c);
    bool (*multiplexed)(const struct mitm_http_codec *c);
    bool (*head_pending)(const struct mitm_http_codec *c);
    void (*take_rest)(struct mitm_http_codec *c, uint8_t **data, size_t *len);
    void (*refuse)(struct mitm_http_codec *c, int status, const char *msg);
    void (*decorate_error)(struct mitm_http_response *r);
    void (*consumed)(struct mitm_http_codec *c, uint32_t stream_id, size_t n);
    void (*cancel)(struct mitm_http_codec *c, uint32_t stream_id);
    bool (*ping)(struct mitm_http_codec *c);
    void (*free)(struct mitm_http_codec *c);
};

/* Fields every codec has; an implementation embeds this as its first member. */
struct mitm_http_codec {
    const struct mitm_http_codec_vt *vt;
    enum mitm_codec_role role;
    struct mitm_layer *owner; /* SEND/CLOSE are emitted through it */
    struct mitm_conn *conn;
    mitm_http_codec_emit_fn emit;
    void *emit_arg;
};

/* Bytes from the peer. Produces events through emit (possibly none, possibly several). */
static inline void mitm_http_codec_feed(struct mitm_http_codec *c, const uint8_t *data, size_t len)
{
    c->vt->feed(c, data, len);
}
/* The peer closed its sending side: ends a read-until-close body, or reports an error for
 * every exchange it cut off. */
static inline void mitm_http_codec_eof(struct mitm_http_codec *c)
{
    c->vt->eof(c);
}
/* Send an event to the peer; takes ownership of ev. Server role takes RESPONSE_*, client role
 * REQUEST_*; ev->stream_id names the exchange. */
static inline void mitm_http_codec_send(struct mitm_http_codec *c, struct mitm_http_event *ev)
{
    c->vt->send(c, ev);
}
/* Client role: the connection can take a new exchange now (HTTP/1: idle and persistent;
 * HTTP/2: open, no GOAWAY, under the peer's stream limit). */
static inline bool mitm_http_codec_reusable(const struct mitm_http_codec *c)
{
    return c->vt->reusable(c);
}
/* Several exchanges may run on the connection at once (HTTP/2). */
static inline bool mitm_http_codec_multiplexed(const struct mitm_http_codec *c)
{
    return c->vt->multiplexed && c->vt->multiplexed(c);
}
/* Server role: part of a request head arrived and is not complete yet (header timeout). */
static inline bool mitm_http_codec_head_pending(const struct mitm_http_codec *c)
{
    return c->vt->head_pending && c->vt->head_pending(c);
}
/* Take the bytes that arrived after a CONNECT was accepted or a 101 switched protocols;
 * the codec parses nothing more (caller frees *data; *len may be 0). */
static inline void mitm_http_codec_take_rest(struct mitm_http_codec *c, uint8_t **data, size_t *len)
{
    c->vt->take_rest(c, data, len);
}
/* Server role, no exchange to answer through (a malformed head, a header timeout): tell the
 * client (HTTP/1: an error page; HTTP/2: GOAWAY) and close. */
static inline void mitm_http_codec_refuse(struct mitm_http_codec *c, int status, const char *msg)
{
    c->vt->refuse(c, status, msg);
}
/* The stream handled n body bytes of stream_id that this codec emitted: flow control may
 * let the peer send more (HTTP/2: WINDOW_UPDATE; HTTP/1: nothing). */
static inline void mitm_http_codec_consumed(struct mitm_http_codec *c, uint32_t stream_id, size_t n)
{
    if (c->vt->consumed)
        c->vt->consumed(c, stream_id, n);
}
/* Multiplexed codecs: end one exchange without touching its siblings (HTTP/2: RST_STREAM
 * CANCEL); no event is emitted for it afterwards. Others: nothing (the caller closes). */
static inline void mitm_http_codec_cancel(struct mitm_http_codec *c, uint32_t stream_id)
{
    if (c->vt->cancel)
        c->vt->cancel(c, stream_id);
}
/* A keep-alive probe to the peer (HTTP/2: PING with 8 bytes "00000000", as mitmproxy's
 * Http2Client sends; RFC 9113 §6.7). Nothing waits for the ACK: whatever the peer sends
 * back is activity. Returns true if one was sent; false for codecs without one (HTTP/1) or
 * a connection that is failing. */
static inline bool mitm_http_codec_ping(struct mitm_http_codec *c)
{
    return c->vt->ping && c->vt->ping(c);
}
/* Accepts NULL. */
static inline void mitm_http_codec_free(struct mitm_http_codec *c)
{
    if (c)
        c->vt->free(c);
}

/* mitmproxy-style error page for this codec's peer: status, reason, message (HTML-escaped),
 * the codec's version and its connection handling (HTTP/1: Connection: close). Caller frees. */
struct mitm_http_response *mitm_http_codec_error_response(const struct mitm_http_codec *c, int status,
                                                          const char *message);

#endif
