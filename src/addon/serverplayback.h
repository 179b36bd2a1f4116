/* Server replay (mitmproxy addons/serverplayback.py): answer requests with responses
 * recorded in flow files (-S / server_replay), matched on a loose key of the request.
 *
 * The key (mitmproxy's ServerPlayback._hash) is made of: scheme, method, the URL path
 * (without query, fragment and ";params" of the last segment, as urllib's urlparse cuts
 * them), the body unless server_replay_ignore_content (with
 * server_replay_ignore_payload_params: the urlencoded or multipart form fields minus the
 * ignored names, if the body is such a form), the host of the Host header (h2: the
 * authority) unless server_replay_ignore_host, the port unless server_replay_ignore_port,
 * the query parameters minus server_replay_ignore_params, and the values of the
 * server_replay_use_headers headers (absent and present-but-different both count).
 * Two requests match when their keys are equal. Request bodies are compared as stored
 * (still content-encoded); mitmproxy decodes a compressed form body first.
 *
 * Several recorded flows with one key are answered in recording order, each once
 * (server_replay_reuse/_nopop: the first one, forever). Recorded flows without a response
 * stay in the index but never answer (mitmproxy's next_flow skips them); so do flows whose
 * response body was streamed and not stored (mitmc: replaying them would send a
 * Content-Length with no body).
 *
 * Thread safety: the index is built on the main thread; lookups (mitm_serverplayback_next,
 * the request hook) run on any worker. Every change and lookup of the index takes the
 * object's mutex, so the main thread may add flows or clear the index while the workers
 * run (the replay.server* commands): the addon's state pointer never changes, only what
 * the index holds, and a worker that took an answer holds its own reference to it. The
 * front end owns the index the addon uses (its state); an interactive one always has one,
 * empty (inactive) until replay.server fills it. */
#ifndef MITM_ADDON_SERVERPLAYBACK_H
#define MITM_ADDON_SERVERPLAYBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"
#include "base/buf.h"
#include "flow/flow-t.h"

struct mitm_options;
struct mitm_serverplayback;

/* A list of flows read from files (each element holds one reference). */
struct mitm_flowvec {
    struct mitm_flow **v;
    size_t n;
};

/* Read every flow of the flow file at path and append it to out (which must be zeroed or
 * hold earlier results). Errors (return -1, err = "PATH: reason", out keeps what it held
 * before the call): the file cannot be opened or read, it is HAR (not supported for
 * replay yet), it is not a flow file, a record is damaged or of an unsupported version,
 * or it ends inside a record (mitmproxy refuses such files too). Flow types mitmc does not
 * load (udp, dns) are skipped with a warning. Returns 0. */
int mitm_serverplayback_read_file(const char *path, struct mitm_flowvec *out, char *err, size_t errlen);
/* Drop every reference in v and free it; v is left empty. */
void mitm_serverplayback_flows_free(struct mitm_flowvec *v);

/* A new, empty index matching with the options in o (borrowed: o must outlive the index
 * and the matching options must not change while it is used). Never NULL. */
struct mitm_serverplayback *mitm_serverplayback_new(const struct mitm_options *o);
/* Free the index and drop its references. Accepts NULL. */
void mitm_serverplayback_free(struct mitm_serverplayback *sp);

/* Add HTTP flows (others are ignored) to the index, after those already there; the index
 * takes its own reference. Thread-safe. Returns the number of flows added. */
size_t mitm_serverplayback_add(struct mitm_serverplayback *sp, struct mitm_flow *const *flows, size_t n);

/* Empty the index (replay.server.stop): lookups find nothing until flows are added. Thread-safe. */
void mitm_serverplayback_clear(struct mitm_serverplayback *sp);

/* Flows left in the index (mitmproxy's replay.server.count; flows without a response
 * count too, as there). Thread-safe. */
size_t mitm_serverplayback_count(struct mitm_serverplayback *sp);

/* The recorded flow answering request flow f, or NULL if none matches (or f has no
 * request). Unless server_replay_reuse or server_replay_nopop, the answer is taken out of
 * the index. Returns a new reference (drop it with mitm_flow_unref). Thread-safe. */
struct mitm_flow *mitm_serverplayback_next(struct mitm_serverplayback *sp, const struct mitm_flow *f);

/* The match key of request r under o's matching options, appended to out (for tests and
 * diagnostics: two requests match iff their keys are equal bytes). */
void mitm_serverplayback_key(const struct mitm_http_request *r, const struct mitm_options *o,
                             struct mitm_buf *out);

/* The request hook's work (mitmproxy ServerPlayback.request): if the index is not empty,
 * answer f with a copy of the matching recorded response (refreshed to now when
 * server_replay_refresh) and set is_replay = "response"; with no match apply
 * server_replay_extra: "forward" does nothing, "kill" (or server_replay_kill_extra) sets
 * f->killed, a status code sets an empty response with that status (is_replay
 * "response"). An empty index forwards everything, as mitmproxy does once every recorded
 * response was used. A flow that another addon already answered is left alone (mitmc:
 * mitmproxy would replace that response). */
void mitm_serverplayback_request(struct mitm_serverplayback *sp, struct mitm_flow *f,
                                 const struct mitm_hook_env *env);

/* mitmproxy's Response.refresh(): shift the Date, Expires and Last-Modified headers and
 * the expires attribute of each Set-Cookie by (now - r->timestamp_start) seconds. Values
 * that are not dates are left alone, except a cookie's unparseable expires attribute,
 * which is removed (as mitmproxy does); a Set-Cookie without a name or value is left as
 * it is. */
void mitm_serverplayback_refresh(struct mitm_http_response *r, double now);

/* Read every server_replay file of o (in order) into a new index for the addon, stored in
 * *out (the caller frees it after the proxy stopped); *out is NULL when server_replay is
 * empty. Main thread, before the proxy starts. Returns 0, or -1 with err naming the file
 * and the reason (then *out is NULL). Logs the deprecation warnings of
 * server_replay_kill_extra and server_replay_nopop as mitmproxy does. */
int mitm_serverplayback_configure(const struct mitm_options *o, struct mitm_serverplayback **out, char *err,
                                  size_t errlen);

/* The addon: runs mitm_serverplayback_request in the request hook on the index it was
 * added with (its state; nothing when NULL). */
extern const struct mitm_addon mitm_addon_serverplayback;

#endif
