/* Flow sinks (issue 14): every finished flow of the main thread's flow stream goes to each
 * sink named by the flow_sink option (a list: several at once). A sink owns a bounded
 * in-memory queue, an on-disk spool and a thread: the main thread only encodes the flow's
 * record and queues it; the sink thread appends it to the spool and delivers the spool in
 * order, in batches, to the store (PostgreSQL today), retrying with backoff while the store
 * is down. Nothing on the main loop ever waits for a store. See docs/internals/sinks.md. */
#ifndef MITM_SINK_SINK_H
#define MITM_SINK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/flow-t.h"
#include "layer/layer-t.h"

/* One record handed to a store: the flow (parsed back from the spool) and the bytes of its
 * flow-file record (version 21), which rebuild it exactly. Both borrowed for the call. */
struct mitm_sink_item {
    const struct mitm_flow *flow;
    const uint8_t *rec;
    size_t rec_len;
};

/* What a store implements. deliver() runs on the sink thread only. */
struct mitm_sink_vt {
    const char *name; /* for log lines: "postgresql" */
    /* Deliver items[0..n) as one unit: all stored (0) or none visible (-1, err set: the batch
     * stays spooled and is retried; re-delivering stored items must be harmless). */
    int (*deliver)(void *st, const char *instance, const struct mitm_sink_item *items, size_t n, char *err,
                   size_t errlen);
    void (*free)(void *st);
};

/* Start one sink per flow_sink entry (mitm_options), spooling under flow_sink_spool_dir
 * (default: confdir). Returns 0 (also with no sinks), or -1 with err set (an unknown URI
 * scheme, a spool that cannot be opened or is in use by another process). */
int mitm_sinks_start(char *err, size_t errlen);

/* Are any sinks running? (The master then asks the workers for finished flows.) */
bool mitm_sinks_active(void);

/* A flow event of the main thread's stream, published at hook (not a live snapshot). The
 * final ones (response of a non-WebSocket flow, error, websocket_end, tcp_end, tcp_error) are
 * encoded and queued to every sink; the others are ignored. Never blocks on a store; if a
 * sink's queue is full the flow is dropped for that sink, counted and logged. f stays the
 * caller's. */
void mitm_sinks_flow(enum mitm_hook hook, const struct mitm_flow *f);

/* Stop the sink threads: each first spools what its queue holds and makes one more delivery
 * attempt (bounded by flow_sink_flush_timeout), then what is undelivered stays in its spool for
 * the next start. Safe without sinks and twice. */
void mitm_sinks_stop(void);

/* Counters of sink i (tests, bench). Returns false past the last sink. */
struct mitm_sink_stats {
    uint64_t queued, spooled, delivered, dropped, failures;
    uint64_t spool_bytes; /* undelivered bytes in the spool */
};
bool mitm_sinks_stats(size_t i, struct mitm_sink_stats *out);

/* The options the sinks run with: a snapshot taken when they started (their threads must
 * not read mitm_options, which a `set` replaces). */
const struct mitm_options *mitm_sink_options(void);

/* uri with its password (user:PASSWORD@ or password=...) replaced by "***", for log lines.
 * Returns a new string. */
char *mitm_sink_redact(const char *uri);

#endif
