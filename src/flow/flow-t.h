/* The flow model: mitmproxy's flow.get_state() fields (reference §10), in C.
 * Types only; functions in flow.h. */
#ifndef MITM_FLOW_FLOW_T_H
#define MITM_FLOW_FLOW_T_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/http/http-t.h"

#define MITM_UUID_LEN 36

enum mitm_flow_type {
    MITM_FLOW_HTTP = 0,
    MITM_FLOW_TCP,
};

/* A list of byte strings (certificate_list, alpn_offers, cipher_list). */
struct mitm_strlist {
    char **v;
    size_t *lens;
    size_t n;
};

/* client_conn / server_conn of a flow. Hosts are text addresses (no brackets). */
struct mitm_conn_info {
    char id[MITM_UUID_LEN + 1];
    char *peer_host; /* peername; NULL = None */
    uint16_t peer_port;
    char *sock_host; /* sockname; NULL = None */
    uint16_t sock_port;
    char *address_host; /* server only: address asked for; NULL = None */
    uint16_t address_port;
    char *error; /* NULL = None */
    bool tls;
    struct mitm_strlist certificate_list; /* PEM */
    char *alpn;                           /* NULL = None */
    size_t alpn_len;
    struct mitm_strlist alpn_offers;
    char *cipher; /* NULL = None */
    struct mitm_strlist cipher_list;
    char *tls_version;          /* NULL = None, else "TLSv1.2", ... */
    char *sni;                  /* NULL = None */
    double timestamp_start;     /* 0 = None */
    double timestamp_end;       /* 0 = None */
    double timestamp_tls_setup; /* 0 = None */
    double timestamp_tcp_setup; /* server only; 0 = None */
    char *mitmcert;             /* client only: PEM of the forged leaf; NULL = None */
    char *proxy_mode;           /* client only: mode spec, e.g. "regular" */
    char *via_scheme;           /* server only: upstream proxy; NULL = None */
    char *via_host;
    uint16_t via_port;
};

struct mitm_flow_error {
    char *msg;
    double timestamp;
};

/* A key/value pair of flow.metadata; values are stored as their tnetstring encoding
 * so any type round-trips. */
struct mitm_meta {
    char *key;
    uint8_t *tns;
    size_t tns_len;
};

struct mitm_tcp_message {
    bool from_client;
    uint8_t *content;
    size_t len;
    double timestamp;
};

/* One WebSocket message (mitmproxy's WebSocketMessage, mitmproxy/websocket.py): fragmented
 * messages are stored reassembled. */
struct mitm_websocket_message {
    uint8_t type;     /* opcode: 1 text, 2 binary (any RFC 6455 opcode loads from a file) */
    bool from_client; /* sent by the client */
    uint8_t *content; /* owned (never NULL) */
    size_t len;
    double timestamp; /* received or created */
    bool dropped;     /* not forwarded (an addon called drop()) */
    bool injected;    /* made by the proxy (inject.websocket), not received from a peer */
};

/* flow.websocket (mitmproxy's WebSocketData): everything about the WebSocket connection an HTTP
 * flow upgraded to. */
struct mitm_websocket_data {
    struct mitm_websocket_message *messages;
    size_t n_messages, cap_messages;
    int8_t closed_by_client; /* -1 = None (still open), 0 = the server closed, 1 = the client did */
    int32_t close_code;      /* -1 = None */
    char *close_reason;      /* NULL = None; UTF-8, NUL-terminated, may hold a NUL: use the length */
    size_t close_reason_len;
    double timestamp_end; /* 0 = None */
};

/* A flow. Refcounted; shared (read-only) between a worker and the main thread once
 * published. */
struct mitm_flow {
    int refs; /* atomic via mitm_flow_ref/unref */
    enum mitm_flow_type type;
    char id[MITM_UUID_LEN + 1];
    struct mitm_conn_info client_conn;
    struct mitm_conn_info server_conn;
    struct mitm_flow_error *error; /* NULL = None */
    bool intercepted;
    char *is_replay; /* NULL, "request" or "response" */
    char *marked;    /* "" = unmarked */
    char *comment;   /* never NULL */
    struct mitm_meta *metadata;
    size_t n_metadata;
    double timestamp_created;
    /* http */
    struct mitm_http_request *request;     /* NULL only transiently */
    struct mitm_http_response *response;   /* NULL = None */
    struct mitm_websocket_data *websocket; /* NULL = None: not a WebSocket flow */
    /* tcp */
    struct mitm_tcp_message *messages;
    size_t n_messages;
    /* Set by an addon in the request hook (server replay's "kill"): the proxy then closes
     * the client connection without a response and records "Connection killed." as the
     * flow's error, like mitmproxy's flow.kill(). Not saved in flow files. */
    bool killed;
    /* Read from a file (-r) and run through the addons there, not proxied: mitmproxy's
     * `not flow.live`. Addons that answer or rewrite traffic leave such flows alone. Not
     * saved in flow files. */
    bool loaded;
};

#endif
