/* The libuv driver: listeners, worker threads, connections; it executes the commands of
 * the layer stacks and feeds them events. The only code (with src/platform) that touches
 * sockets, libuv or the clock. */
#ifndef MITM_IO_IO_H
#define MITM_IO_IO_H

#include <stddef.h>
#include <uv.h>

#include "flow/flow-t.h"
#include "layer/layer-t.h"

struct mitm_services;
struct mitm_proxy;

/* A flow event a worker publishes to the main thread. */
struct mitm_pub {
    enum mitm_hook hook;    /* the hook it was published at */
    struct mitm_flow *flow; /* a reference the sink must drop with mitm_flow_unref */
    int worker;             /* the worker that owns the flow (for resume and kill) */
    bool live;              /* a snapshot of a flow that goes on; false: the flow is final */
    bool intercepted;       /* the hook is held (flow->intercepted): it waits for a resume */
};

/* Receives published flows on the main thread. */
typedef void (*mitm_flow_sink_fn)(void *arg, const struct mitm_pub *ev);

/* What the main thread takes from the workers. Without fn nothing is published. Finished
 * flows (after their response or error hook) always reach fn; WebSocket and TCP messages
 * as copies of the flow with its last message. live: also a snapshot at every other hook
 * (requestheaders, request, responseheaders) and full copies at message hooks, for a UI
 * that shows flows as they happen. queue_max: published events the main thread has not
 * taken yet above which workers stop reading from their clients (backpressure); 0 picks
 * MITM_PUB_QUEUE_MAX. */
struct mitm_proxy_sink {
    mitm_flow_sink_fn fn;
    void *arg;
    bool live;
    size_t queue_max;
};
#define MITM_PUB_QUEUE_MAX 4096
/* live: a flow that changed is published at most this long after (one snapshot for all its
 * changes meanwhile; none if it ended first, when its final version goes instead). A UI
 * drawing at 20 frames a second shows it as soon; at 10,000 small requests a second almost
 * none needs a snapshot of its own. Held (intercepted) flows are published at once. */
#define MITM_LIVE_DELAY_MS 50
/* A worker hands its published events to the main thread (one lock, one wake-up) at most
 * this often: at full load a wake-up per loop turn was thousands a second, each a context
 * switch of the main thread for a handful of flows. Held flows and replays go at once. */
#define MITM_PUB_FLUSH_MS 2
/* ... and at once when this many events wait. */
#define MITM_PUB_FLUSH_BATCH 256

struct mitm_mode_spec;
/* Bind one server per mode spec (modes[0..n_modes), borrowed: they must outlive the proxy)
 * on its listen host and port, each with one listening socket per worker (SO_REUSEPORT),
 * and start the workers, which run every connection with svc (borrowed too), its
 * listener's mode and the options snapshot current when it starts. Logs mitmproxy's
 * "DESCRIPTION listening at HOST:PORT." per mode. Returns NULL with a message in err if two
 * modes ask for the same address, a worker cannot start, or an address cannot be bound.
 * With the server option false (-n) the workers run without listening sockets: only client
 * replays (mitm_proxy_inject) reach them. */
struct mitm_proxy *mitm_proxy_start(uv_loop_t *main_loop, const struct mitm_services *svc,
                                    const struct mitm_mode_spec *modes, size_t n_modes,
                                    const struct mitm_proxy_sink *sink, char *err, size_t errlen);

/* A start that failed after some workers ran (a thread could not be created): err said
 * why; the caller stops the proxy as usual (mitm_proxy_stop) and reports the failure. */
bool mitm_proxy_failed(const struct mitm_proxy *p);

/* Stop accepting, give live exchanges up to grace seconds, close everything, join the
 * workers, then call done(arg) on the main loop. */
void mitm_proxy_stop(struct mitm_proxy *p, double grace, void (*done)(void *), void *arg);

/* ---- the mailbox: the main thread's requests to the workers (main thread only) ---- */

/* Client replay: a worker runs a virtual client connection that sends data (an HTTP/1
 * request in absolute form, as a proxy client would) and then EOF. The flows it produces
 * have is_replay "request" and reach the sink like any other; the first one takes the id
 * id (the replayed flow's, as mitmproxy replays a flow in place; NULL or "": a new id).
 * Takes ownership of data. */
void mitm_proxy_inject(struct mitm_proxy *p, uint8_t *data, size_t len, const char *id);

/* Resume the flow id held on worker (published with intercepted set). edited (taken over;
 * NULL: none) carries the user's changes: its request and response (method, URL parts,
 * headers, body, trailers; status, reason), marked and comment replace the live flow's
 * before the hook is answered. A flow that is no longer held is left alone (it was
 * resumed, killed, or its client left: that already reached the sink). */
void mitm_proxy_resume(struct mitm_proxy *p, int worker, const char *id, struct mitm_flow *edited);

/* Kill the live flow id of worker, as mitmproxy's flow.kill(): a held flow ends at once
 * with the error "Connection killed." and its client connection closes; a flow that is
 * running is killed at its next hook. */
void mitm_proxy_kill(struct mitm_proxy *p, int worker, const char *id);

/* inject.websocket / inject.tcp: hand data[0..len) (copied) to the live WebSocket or TCP flow
 * id of worker, as a message toward the client (to_client) or the server; is_text: a
 * WebSocket text message. The layer logs why when it cannot (the connection ended). */
void mitm_proxy_inject_message(struct mitm_proxy *p, int worker, const char *id, bool to_client, bool is_text,
                               const void *data, size_t len);

/* Published events the main thread has not taken yet (a gauge, for tests and benches). */
size_t mitm_proxy_backlog(struct mitm_proxy *p);

/* Free after done was called. */
void mitm_proxy_free(struct mitm_proxy *p);

/* The port the first mode's server is bound to (useful with listen_port 0); of mode i. */
int mitm_proxy_port(const struct mitm_proxy *p);
int mitm_proxy_mode_port(const struct mitm_proxy *p, size_t i);

/* Wall-clock seconds. */
double mitm_io_now(void);

#endif
