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

/* Receives finished flows on the main thread (after the response or error hook ran on
 * the worker). The sink gets a reference it must drop with mitm_flow_unref. */
typedef void (*mitm_flow_sink_fn)(void *arg, enum mitm_hook hook, struct mitm_flow *flow);

/* Bind the listening sockets (one per worker, SO_REUSEPORT) and start the workers, which
 * run every connection with svc (borrowed: it must outlive the proxy) and the options
 * snapshot current when the connection starts.
 * Logs "HTTP(S) proxy listening at HOST:PORT." Returns NULL with a message in err if the
 * address cannot be bound. With o->server false (-n) the workers run without listening
 * sockets: only client replays (mitm_proxy_inject) reach them. */
struct mitm_proxy *mitm_proxy_start(uv_loop_t *main_loop, const struct mitm_services *svc,
                                    mitm_flow_sink_fn sink, void *sink_arg, char *err, size_t errlen);

/* Stop accepting, give live exchanges up to grace seconds, close everything, join the
 * workers, then call done(arg) on the main loop. */
void mitm_proxy_stop(struct mitm_proxy *p, double grace, void (*done)(void *), void *arg);

/* Client replay: a worker runs a virtual client connection that sends data (an HTTP/1
 * request in absolute form, as a proxy client would) and then EOF. The flows it produces
 * have is_replay "request" and reach the sink like any other. Takes ownership of data.
 * Main thread only. */
void mitm_proxy_inject(struct mitm_proxy *p, uint8_t *data, size_t len);

/* Free after done was called. */
void mitm_proxy_free(struct mitm_proxy *p);

/* The bound port (useful with listen_port 0). */
int mitm_proxy_port(const struct mitm_proxy *p);

/* Wall-clock seconds. */
double mitm_io_now(void);

#endif
