/* save: mitmproxy's addons/save.py, the -w file (save_stream_file, save_stream_filter).
 *
 * Which hook writes a flow, as save.py: response (an HTTP flow without a WebSocket), error
 * (likewise), websocket_end (the whole WebSocket flow, messages included, once it ends),
 * tcp_end and tcp_error. A flow that does not match save_stream_filter is not written.
 *
 * Where: on the worker thread that runs the flow, inside its hook. The HTTP layer sends a
 * buffered response only after the response hook returns, and holds back the last bytes
 * of a streamed one until then (src/proto/http/stream.c), so a flow is in the kernel's
 * page cache before its client can have the response's last byte: SIGKILL never loses a
 * flow a client saw complete (docs/internals/flows.md). WebSocket and TCP flows are written
 * at their end, after their client saw everything: that is inherent, as in mitmproxy.
 *
 * A flow read with -r runs the hooks on the main thread (mitmproxy's load_flow) and is
 * written there, once: mitmproxy writes a loaded flow with a response and an error twice
 * (response, then error); mitmc skips the error hook of such a loaded flow.
 *
 * A write error stops the writing (the first error is kept) and is reported to the owner
 * through mitm_save_failed: a worker cannot stop the proxy, the main thread does (mitmproxy
 * exits with status 1: better to stop visibly than to let traffic through unrecorded).
 * Until it has, each live flow that should have been written at its response is killed
 * (flow->killed: the HTTP layer closes the client connection instead of sending it).
 *
 * The state is shared by every worker: the file locks (savefile.h), the filter matcher is
 * re-entrant (filter.h), the error is an atomic flag plus a message under a mutex. */
#ifndef MITM_ADDON_SAVE_H
#define MITM_ADDON_SAVE_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"

struct mitm_options;
struct mitm_save;
struct mitm_savefile;

/* From o->save_stream_file (with save_stream_fsync) and o->save_stream_filter, opening
 * the file at time now (its strftime name); *out NULL when no file is set. Errors:
 * "Invalid filter expression: ..." , "Cannot open the save_stream_file PATH: REASON".
 * Returns 0, or -1 with err set. */
int mitm_save_configure(const struct mitm_options *o, double now, struct mitm_save **out, char *err,
                        size_t errlen);
/* Close the file (synced if save_stream_fsync > 0). Only once no hook runs. Accepts NULL. */
void mitm_save_free(struct mitm_save *s);

/* The writer, for the owner's fsync timer (mitm_savefile_tick); NULL after a write error
 * or for s NULL. */
struct mitm_savefile *mitm_save_file(struct mitm_save *s);

/* True once a write failed, with its message ("Error while writing to PATH: REASON") in
 * err. Any thread; s may be NULL. */
bool mitm_save_failed(struct mitm_save *s, char *err, size_t errlen);

extern const struct mitm_addon mitm_addon_save;

#endif
