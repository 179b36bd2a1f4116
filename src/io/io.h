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
                                    mitm_flow_sink_fn sink, void *sink_arg, char *err, size_t errlen);

/* A start that failed after some workers ran (a thread could not be created): err said
 * why; the caller stops the proxy as usual (mitm_proxy_stop) and reports the failure. */
bool mitm_proxy_failed(const struct mitm_proxy *p);

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

/* The port the first mode's server is bound to (useful with listen_port 0); of mode i. */
int mitm_proxy_port(const struct mitm_proxy *p);
int mitm_proxy_mode_port(const struct mitm_proxy *p, size_t i);

/* Wall-clock seconds. */
double mitm_io_now(void);

#endif
