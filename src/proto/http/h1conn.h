/* One HTTP/1 connection, as the HTTP layer uses it: bytes in -> neutral HTTP events out,
 * neutral events in -> bytes out. Two roles:
 *   server role: faces a client (parses requests, writes responses);
 *   client role: faces a server (writes requests, parses responses).
 * Built on the pure codec in src/proto/http1/h1.h. Sans-io: bytes go out as SEND
 * commands of the owning layer. */
#ifndef MITM_PROTO_HTTP_H1CONN_H
#define MITM_PROTO_HTTP_H1CONN_H

#include "layer/layer-t.h"
#include "proto/http/event.h"
#include "proto/http1/h1.h"

enum mitm_h1conn_role {
    MITM_H1CONN_SERVER = 0, /* faces the client */
    MITM_H1CONN_CLIENT,     /* faces a server */
};

struct mitm_h1conn;
/* Receives every event the connection produces; takes ownership of ev. */
typedef void (*mitm_h1conn_emit_fn)(void *arg, struct mitm_h1conn *c, struct mitm_http_event *ev);

struct mitm_h1conn {
    enum mitm_h1conn_role role;
    struct mitm_layer *owner; /* SEND/CLOSE are emitted through it */
    struct mitm_conn *conn;
    struct mitm_h1_limits lim;
    size_t in_cap; /* bytes we buffer unparsed (pipelining) */
    struct mitm_buf in;
    size_t head_scanned; /* bytes of in already searched for the end of a head (private) */
    int rstate;          /* read side (private) */
    int wstate;          /* write side (private) */
    struct mitm_h1_body body;
    uint32_t stream_id; /* stream of the current exchange; 0 = none */
    uint32_t next_stream_id;
    char *req_method;   /* method of the current exchange (response framing) */
    bool req_http10;    /* current request is HTTP/1.0 */
    bool close_after;   /* close once the current exchange ends */
    bool parsing;       /* re-entrancy guard of the read loop */
    bool resume;        /* exchange ended during the read loop: parse on */
    bool tunnel;        /* a CONNECT succeeded: bytes now belong to a tunnel */
    bool peer_eof;      /* the peer shut down its sending side */
    bool absolute_form; /* client role toward an upstream proxy: requests in absolute form */
    mitm_h1conn_emit_fn emit;
    void *emit_arg;
};

void mitm_h1conn_init(struct mitm_h1conn *c, enum mitm_h1conn_role role, struct mitm_layer *owner,
                      struct mitm_conn *conn, const struct mitm_h1_limits *lim, size_t in_cap,
                      mitm_h1conn_emit_fn emit, void *emit_arg);
void mitm_h1conn_free(struct mitm_h1conn *c);

/* Bytes from the peer. Produces events through emit. */
void mitm_h1conn_feed(struct mitm_h1conn *c, const uint8_t *data, size_t len);
/* The peer closed its side: ends a read-until-close body, or reports an error if a
 * message was cut off. */
void mitm_h1conn_eof(struct mitm_h1conn *c);
/* Send an event to the peer (takes ownership of ev). Server role takes RESPONSE_*,
 * client role REQUEST_*. */
void mitm_h1conn_send(struct mitm_h1conn *c, struct mitm_http_event *ev);
/* Client role: no exchange in progress and the connection may be reused. */
bool mitm_h1conn_reusable(const struct mitm_h1conn *c);
/* Server role: part of a request head arrived and the head is not complete yet. */
bool mitm_h1conn_head_pending(const struct mitm_h1conn *c);
/* Take the bytes that arrived after a CONNECT was accepted or a 101 (either side) switched
 * protocols; the codec parses nothing more (caller frees *data). */
void mitm_h1conn_take_rest(struct mitm_h1conn *c, uint8_t **data, size_t *len);

/* mitmproxy-style error page: status, reason and message; Connection: close. */
struct mitm_http_response *mitm_http_error_response(int status, const char *message);

#endif
