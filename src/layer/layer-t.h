/* The sans-io layer model (DESIGN §3): layers are state machines that receive events
 * and emit commands. Only src/io executes commands; layers never touch sockets, libuv
 * or the clock (time arrives in every event). Types only; functions in layer.h. */
#ifndef MITM_LAYER_LAYER_T_H
#define MITM_LAYER_LAYER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"

struct mitm_layer;
struct mitm_services;
struct mitm_cfilter;
struct mitm_cmd;
struct mitm_mode_spec;

/* An opaque payload carried by an event (a protocol message: an HTTP event, later a
 * WebSocket or TCP message) or by a command (the argument of a hook). The framework only
 * moves, counts and frees it; what it is belongs to whoever made it. */
struct mitm_payload_vt {
    const char *name;
    void (*free)(void *p);         /* NULL: nothing to free (borrowed) */
    size_t (*size)(const void *p); /* bytes it holds, for flow control; NULL: 0 */
};

struct mitm_payload {
    const struct mitm_payload_vt *vt; /* NULL: empty */
    void *p;
};

enum mitm_conn_side {
    MITM_CONN_CLIENT = 0,
    MITM_CONN_SERVER,
};

enum mitm_conn_state {
    MITM_CONN_NEW = 0,  /* server connection not opened yet */
    MITM_CONN_OPENING,  /* OPEN command issued, no reply yet */
    MITM_CONN_OPEN,     /* both directions usable */
    MITM_CONN_READ_EOF, /* the peer half-closed; we may still write */
    MITM_CONN_CLOSED,   /* gone */
};

/* A connection as layers see it. Owned by the context (mitm_ctx_conn_new); the driver
 * attaches its socket state through io. */
struct mitm_conn {
    uint32_t id; /* unique within one context; the client is 1 */
    enum mitm_conn_side side;
    enum mitm_conn_state state;
    char *host; /* server: host to connect to (name or address) */
    uint16_t port;
    char peer[64];      /* "ip:port" ("[v6]:port") of the peer once known, for logs */
    char peer_host[48]; /* peer address without brackets */
    uint16_t peer_port;
    char sock_host[48]; /* our end */
    uint16_t sock_port;
    double timestamp_start, timestamp_tcp_setup, timestamp_end;
    char *error; /* why it failed/closed, if it did */
    /* server: dial this address instead of host:port (an upstream proxy); NULL = host:port */
    char *via_host;
    uint16_t via_port;
    /* TLS, filled by the TLS layer once the handshake is done (flows copy it) */
    bool tls;
    char *sni, *alpn, *tls_version, *cipher;
    /* Connection filters (src/layer/cfilter.h), top (layer side) first: TLS toward a
     * server, a CONNECT through an upstream proxy. NULL = bytes go to the socket as is. */
    struct mitm_cfilter *filter;
    struct mitm_cmd *pending_open; /* an OPEN whose reply waits for the filters' handshakes */
    void *io;                      /* driver-private; NULL in playbooks */
    struct mitm_conn *next;        /* context's list */
};

/* The argument of the server_connect, server_connected, server_connect_error and
 * server_disconnected hooks (mitmproxy's ServerConnectionHookData). The client_* hooks get
 * the client's struct mitm_conn itself. An addon that sets conn->error in client_connected
 * or server_connect kills that connection. */
struct mitm_server_hook_data {
    struct mitm_conn *client, *server;
};

/* Hooks, exactly mitmproxy's names (reference §11). */
#define MITM_HOOKS(X)                                                                                        \
    X(CLIENT_CONNECTED, "client_connected")                                                                  \
    X(CLIENT_DISCONNECTED, "client_disconnected")                                                            \
    X(SERVER_CONNECT, "server_connect")                                                                      \
    X(SERVER_CONNECTED, "server_connected")                                                                  \
    X(SERVER_CONNECT_ERROR, "server_connect_error")                                                          \
    X(SERVER_DISCONNECTED, "server_disconnected")                                                            \
    X(HTTP_CONNECT, "http_connect")                                                                          \
    X(REQUESTHEADERS, "requestheaders")                                                                      \
    X(REQUEST, "request")                                                                                    \
    X(RESPONSEHEADERS, "responseheaders")                                                                    \
    X(RESPONSE, "response")                                                                                  \
    X(ERROR, "error")                                                                                        \
    X(TLS_CLIENTHELLO, "tls_clienthello")                                                                    \
    X(TLS_ESTABLISHED_CLIENT, "tls_established_client")                                                      \
    X(TLS_FAILED_CLIENT, "tls_failed_client")                                                                \
    X(TCP_START, "tcp_start")                                                                                \
    X(TCP_MESSAGE, "tcp_message")                                                                            \
    X(TCP_END, "tcp_end")                                                                                    \
    X(TCP_ERROR, "tcp_error")                                                                                \
    X(WEBSOCKET_START, "websocket_start")                                                                    \
    X(WEBSOCKET_MESSAGE, "websocket_message")                                                                \
    X(WEBSOCKET_END, "websocket_end")                                                                        \
    X(SOCKS5_AUTH, "socks5_auth")

enum mitm_hook {
#define MITM_HOOK_ENUM(e, s) MITM_HOOK_##e,
    MITM_HOOKS(MITM_HOOK_ENUM)
#undef MITM_HOOK_ENUM
        MITM_HOOK__COUNT
};

enum mitm_event_type {
    MITM_EV_START = 0, /* the layer was just created and the client connection is open */
    MITM_EV_DATA,      /* bytes arrived on conn */
    MITM_EV_CLOSED,    /* conn was closed by the peer (or failed): no more DATA */
    MITM_EV_REPLY,     /* the reply to a blocking command (cmd) */
    MITM_EV_WAKEUP,    /* a timer asked for by MITM_CMD_WAKEUP fired */
    MITM_EV_MESSAGE,   /* a protocol message between layers of one protocol (msg) */
};

/* A timer of a layer (mitm_timer_set): one WAKEUP command is out for it at a time; moving
 * the deadline later costs nothing (the wakeup re-arms itself for what is left). */
struct mitm_timer {
    double deadline;      /* 0 = not armed */
    struct mitm_cmd *cmd; /* the WAKEUP out for it, NULL if none */
};

/* An event. Borrowed by handle(): data is valid only during the call (the pause queue
 * copies it); a MESSAGE's payload (msg) is moved to the receiver, which frees it with
 * mitm_payload_free. */
struct mitm_event {
    enum mitm_event_type type;
    double now;               /* wall-clock seconds, stamped by the driver */
    struct mitm_conn *conn;   /* DATA, CLOSED */
    struct mitm_slice data;   /* DATA */
    bool half_close;          /* CLOSED: peer sent EOF but we can still write */
    struct mitm_cmd *cmd;     /* REPLY: the command answered */
    struct mitm_timer *timer; /* WAKEUP: the timer whose deadline may have come */
    struct mitm_payload msg;  /* MESSAGE */
};

enum mitm_cmd_type {
    MITM_CMD_SEND = 0, /* write data to conn */
    MITM_CMD_OPEN,     /* blocking: connect conn (host, port); reply carries cmd->error */
    MITM_CMD_CLOSE,    /* close conn (half_close: shut down our write side only) */
    MITM_CMD_HOOK,     /* blocking: run the hook on flow through the addons */
    MITM_CMD_WAKEUP,   /* ask for a WAKEUP event after delay seconds */
    MITM_CMD_LOG,      /* log msg at level for this connection */
};

/* A blocking command whose issuer was destroyed before the reply has origin NULL: the
 * executor drops the reply. */

/* A command. Created with mitm_cmd_new, handed to the context with mitm_layer_emit; the
 * executor frees it (blocking ones after their reply was handled). */
struct mitm_cmd {
    enum mitm_cmd_type type;
    bool blocking;
    struct mitm_layer *origin; /* the layer that emitted it; replies go back there */
    struct mitm_conn *conn;    /* SEND, OPEN, CLOSE */
    uint8_t *data;             /* SEND: owned */
    size_t len;
    bool half_close;          /* CLOSE */
    enum mitm_hook hook;      /* HOOK */
    struct mitm_payload arg;  /* HOOK: the hook's argument (a flow, a connection, ...), owned */
    double delay;             /* WAKEUP */
    struct mitm_timer *timer; /* WAKEUP: the timer it serves */
    int level;                /* LOG: enum mitm_log_level */
    char *msg;                /* LOG: owned */
    char *error;              /* OPEN reply: NULL on success, else the reason (owned) */
    bool timeout;             /* OPEN reply: the error was a timeout */
    struct mitm_cmd *next;    /* queue link */
};

/* Per-connection context shared by a layer stack. */
/* A layer the driver can address by a key (a flow id) to hand it an event from outside the
 * stack (a message injected by the user). */
struct mitm_addressable {
    char key[40];
    struct mitm_layer *layer;
    struct mitm_addressable *next;
};

struct mitm_ctx {
    struct mitm_layer *root;              /* receives every event the driver delivers (mitm_ctx_input) */
    struct mitm_addressable *addressable; /* layers reachable by key (mitm_ctx_find) */
    struct mitm_conn *client;
    struct mitm_conn *conns; /* every connection of this stack, client first */
    uint32_t next_conn_id;
    struct mitm_cmd *out_head, **out_tail; /* emitted commands not yet executed */
    const struct mitm_options *opts;       /* the options snapshot this connection runs with */
    const struct mitm_services *svc;       /* TLS configuration, addons, ... (NULL in some tests) */
    const char *proxy_mode;                /* the listener's mode spec as given ("regular") */
    const struct mitm_mode_spec *mode;     /* parsed (NULL in some tests: regular) */
    bool replay;                           /* a client replay: no real client; flows are marked is_replay */
    /* a client replay of a stored flow: the first flow made on the connection takes this id
     * (mitmproxy replays a flow in place), then it is cleared; "" for none */
    char replay_id[37];
    /* transparent mode: where the client meant to go (SO_ORIGINAL_DST), filled by the
     * driver before START; orig_error says why it is not known */
    char orig_host[64];
    uint16_t orig_port;
    char orig_error[200];
    size_t queued_bytes; /* DATA bytes held in pause queues; the driver stops
                            reading while this is high (flow control) */
    /* Fills out[0..n) with unpredictable bytes (WebSocket masking keys, RFC 6455 §5.3 asks for
     * a strong source of entropy). Set by the driver, which owns every source of randomness as
     * it owns the clock; NULL in playbooks: see mitm_ctx_random. */
    void (*random)(uint8_t *out, size_t n);
};

struct mitm_layer_vt {
    const char *name;
    /* Handle one event; emit commands with mitm_layer_emit. */
    void (*handle)(struct mitm_layer *l, const struct mitm_event *ev);
    /* Free the layer (and its children). */
    void (*destroy)(struct mitm_layer *l);
    /* Optional: see a command emitted by a descendant (from) before it is queued, e.g. to
     * encrypt a SEND. Return true to take ownership of c (it is then not queued). */
    bool (*command)(struct mitm_layer *l, struct mitm_layer *from, struct mitm_cmd *c);
};

struct mitm_queued_event;

/* Base of every layer (embed as first member). */
struct mitm_layer {
    const struct mitm_layer_vt *vt;
    struct mitm_ctx *ctx;
    struct mitm_layer *parent;
    struct mitm_cmd *paused;                    /* blocking command awaiting its reply */
    struct mitm_timer *timers[4];               /* timers with a WAKEUP out (orphaned on deinit) */
    struct mitm_queued_event *q_head, **q_tail; /* events that arrived while paused */
    bool replaying;
};

#endif
