/* Client replay (mitmproxy addons/clientplayback.py): re-send the requests of saved flows
 * (-C / client_replay) through the proxy, as if a client had sent them again.
 *
 * mitmproxy feeds the saved request object into a mock client connection. mitmc does the
 * same through the driver (mitm_proxy_inject): each request is serialised as an HTTP/1.1
 * request in absolute form, the form a client of a regular proxy sends, and a worker runs
 * it on a virtual client connection. The flow it makes has is_replay = "request", runs
 * every hook and addon (so -S, -w and the dump output apply to it) and reaches the main
 * thread's flow sink, which hands it to mitm_clientplayback_on_flow.
 *
 * Concurrency (client_replay_concurrency): 1 sends the next request when the previous
 * replay's flow came back; -1 sends them all at once.
 *
 * Threading: the replay queue is process-wide and used from the main thread (start,
 * on_flow, done); its functions lock a mutex, so calling them from elsewhere is safe too. */
#ifndef MITM_ADDON_CLIENTPLAYBACK_H
#define MITM_ADDON_CLIENTPLAYBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "flow/flow-t.h"

struct mitm_options;

/* Serialise the request of f into out as a client of a regular proxy sends it:
 * "METHOD scheme://host[:port]/path HTTP/1.x" (the destination is the request's host and
 * port; HTTP/2 and HTTP/3 requests become HTTP/1.1), the recorded headers in their order
 * (a Host header is added first when the request has none, as mitmproxy does for h2
 * requests), and the stored body with Content-Length: a chunked original loses its
 * Transfer-Encoding (the body is sent whole; trailers are dropped), and Content-Length is
 * set to the body's length whenever the original had a body, a Content-Length or a
 * Transfer-Encoding. The result is checked with the proxy's own HTTP/1 parser.
 * Rejects (returns -1, err says why, as mitmproxy's messages where it has one; out may hold
 * a partial request): not an HTTP flow ("Can only replay HTTP flows."), no request,
 * a body that was streamed and not stored ("Can't replay flow with missing content."), an
 * intercepted flow, CONNECT and asterisk-form requests, and requests our parser refuses
 * (e.g. invalid header names). Returns 0. */
int mitm_clientplayback_serialize(const struct mitm_flow *f, struct mitm_buf *out, char *err, size_t errlen);

/* Receives one serialised request to run (takes ownership of data, malloc'ed) and the id
 * of the flow it replays. */
typedef void (*mitm_clientplayback_inject_fn)(void *arg, uint8_t *data, size_t len, const char *id);

/* Read every client_replay file of o, queue the replayable requests (others are skipped
 * with a warning naming the reason) and send the first one (concurrency 1) or all of them
 * (-1) to inject(arg, ...). Nothing to do (returns 0) if client_replay is empty.
 * Returns 0, or -1 with err: an unreadable or damaged flow file ("PATH: reason"), or
 * client_replay_concurrency other than 1 and -1 ("Currently the only valid
 * client_replay_concurrency values are -1 and 1."); then nothing is queued.
 * A replay already running is stopped first. */
int mitm_clientplayback_start_with(mitm_clientplayback_inject_fn inject, void *arg,
                                   const struct mitm_options *o, char *err, size_t errlen);

/* mitmproxy's replay.client: add the replayable flows of flows[0..n) to the queue (the
 * others are skipped, each with its reason in the log) and send as concurrency allows,
 * through inject(arg, ...) (which replaces an earlier one). The queue is started if it was
 * not. Returns the number of flows queued. */
size_t mitm_clientplayback_add(mitm_clientplayback_inject_fn inject, void *arg, long concurrency,
                               struct mitm_flow *const *flows, size_t n);

/* Tell the replay queue that a flow reached the flow sink. A flow of ours (is_replay
 * "request", or "response" on a virtual client connection when server replay answered it)
 * ends one replay; with concurrency 1 the next request is sent. Other flows are ignored. */
void mitm_clientplayback_on_flow(const struct mitm_flow *f);

/* Requests queued or in flight (mitmproxy's replay.client.count). */
size_t mitm_clientplayback_count(void);

/* True once every queued request was sent and its flow came back (true as well when no
 * replay was ever started). */
bool mitm_clientplayback_done(void);

/* Drop the queue (requests not yet sent are never sent) and free it. */
void mitm_clientplayback_stop(void);

#endif
