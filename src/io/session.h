/* Private to src/io: one client connection, its layer stack and its sockets. */
#ifndef MITM_IO_SESSION_H
#define MITM_IO_SESSION_H

#include <stdbool.h>
#include <uv.h>

#include "io/io.h"
#include "layer/layer.h"

struct worker;
struct published;
struct mail;
struct held;
struct iotimer;

struct ioconn {
    uv_tcp_t tcp;
    struct session *s;
    struct mitm_conn *conn;    /* NULL once the layer side is gone */
    struct mitm_cmd *open_cmd; /* pending OPEN, replied when the connect ends */
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    uv_timer_t timer; /* connect timeout */
    struct addrinfo *ai, *ai_next;
    bool tcp_init, timer_init, gai_pending, connecting, closing, reading, read_eof, shut;
    bool hooked;  /* client_connected / server_connected ran: the disconnected hook is owed */
    int handles;  /* libuv handles still to be closed */
    int last_err; /* last connect error (libuv code) */
    struct ioconn *next;
};

struct session {
    struct worker *w;
    struct mitm_ctx ctx;
    struct mitm_optsnap *opts; /* the options this connection runs with (a reference) */
    struct mitm_layer *root;
    struct ioconn *conns;
    struct ioconn *client;
    bool ending;                /* the client is gone: tear down */
    bool paused;                /* reads stopped for flow control */
    bool running;               /* executing commands */
    int live_flows;             /* exchanges between requestheaders and response/error */
    int n_held;                 /* hooks of this session held on the worker (intercepted) */
    bool virtual;               /* client replay: no client socket */
    int hold;                   /* > 0: a caller still uses the session; do not free it */
    struct iotimer *timers;     /* pending WAKEUPs */
    int n_timers;               /* timer handles not yet closed */
    struct mitm_cmd *dead_cmds; /* OPENs whose socket went away unanswered; freed after the
                                   layers (which may still point at them) */
    struct session *prev, *next;
};

/* worker.c */
/* One mode's listening socket on one worker. */
struct listener {
    uv_tcp_t tcp;
    struct worker *w;
    const struct mitm_mode_spec *mode;
    bool open; /* tcp initialised */
};

struct worker {
    struct mitm_proxy *p;
    int index;
    uv_thread_t thread;
    bool thread_started;
    bool loop_init;
    uv_loop_t loop;
    struct listener *listeners; /* one per mode (none with -n) */
    size_t n_listeners;
    uv_async_t wake;
    uv_timer_t grace;
    uv_async_t inject;                   /* main -> worker: the mailbox has mail */
    struct mail *mail_head, **mail_tail; /* guarded by the proxy's lock */
    bool mail_closed;                    /* guarded by the proxy's lock: the loop ended, mail is freed */
    bool throttle_asked;                 /* guarded by the proxy's lock: mail when the backlog is low */
    bool throttled;                      /* reads paused: the main thread is behind */
    struct held *held;                   /* hooks held for the main thread */
    char (*kills)[MITM_UUID_LEN + 1];    /* flows to kill at their next hook */
    size_t n_kills;
    uv_check_t flush; /* hands published flows to the main thread once per loop turn */
    struct published *pub_head, **pub_tail;
    size_t n_pub; /* events in pub_head */
    /* the main thread is woken at most every MITM_PUB_FLUSH_MS (flush_timer hands over what
     * waited), unless pub_urgent: a held flow or a replay's end, which something waits for */
    uv_timer_t flush_timer;
    bool flush_timer_on, pub_urgent;
    uint64_t last_push; /* uv_now when flows last went to the main thread */
    /* live flows that changed since the last snapshots: one snapshot each when live_timer
     * fires (a small request's hooks, or a burst of messages, cost one copy, and a flow that
     * ends before the timer costs none) */
    struct live_dirty *dirty;
    size_t n_dirty, cap_dirty;
    uv_timer_t live_timer;
    bool live_timer_on;
    struct session *sessions;
    int n_sessions;
    bool stopping;
    char readbuf[65536];
};

/* Queue flow (a reference, taken) for the main thread, handed over at the end of the loop
 * turn. live: a snapshot of a flow that goes on; intercepted: its hook is held. */
void mitm_worker_publish(struct worker *w, enum mitm_hook hook, struct mitm_flow *flow, bool live,
                         bool intercepted);
const struct mitm_services *mitm_worker_services(struct worker *w);
/* Does the main thread take published flows (a sink is set)? */
bool mitm_worker_wants_flows(const struct worker *w);
/* A live flow changed at hook (a UI wants to see it): a snapshot of it is published at the
 * end of the loop turn unless the flow is published final or held before. */
void mitm_worker_touch_live(struct worker *w, enum mitm_hook hook, struct mitm_flow *flow);
/* Does it want a snapshot at every hook (a UI)? */
bool mitm_worker_wants_live(const struct worker *w);
/* Are the worker's reads paused because the main thread is behind? */
bool mitm_worker_throttled(const struct worker *w);

/* session.c */
/* Free io once no handle or request of it is pending (after close_io). */
void mitm_io_maybe_unlink(struct ioconn *io);
/* Is host:port one of the proxy's own listening addresses (localhost, a loopback or
 * unspecified address, v4-mapped too, or the mode's listen host, on a port a mode is bound
 * to)? mitmproxy's proxyserver refuses to connect
 * there. */
bool mitm_proxy_is_self(const struct mitm_proxy *p, const char *host, unsigned port);
void mitm_session_accept(struct worker *w, struct listener *l);
void mitm_session_close_idle(struct session *s, bool force);
/* Start a virtual client connection that sends data then EOF (client replay). */
void mitm_session_virtual(struct worker *w, const uint8_t *data, size_t len, const char *id);
/* The mailbox: answer the held hook of flow id (edited: the user's changes, taken, may be
 * NULL); kill flow id (held: now; running: at its next hook). */
void mitm_session_resume(struct worker *w, const char *id, struct mitm_flow *edited);
void mitm_session_kill(struct worker *w, const char *id);
/* Inject a message into the live WebSocket/TCP flow id (its layer registered under the id). */
void mitm_session_inject(struct worker *w, const char *id, bool to_client, bool is_text, const uint8_t *data,
                         size_t len);
/* Stop or restart reading s's sockets for its own write queues and the worker's throttle. */
void mitm_session_flow_control(struct session *s);

#endif
