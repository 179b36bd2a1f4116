/* The flow store (DESIGN §3): every flow of a session, owned by the main thread, with
 * ordered, filtered views on it (mitmproxy's addons/view.py) shared by the dump, console
 * and web front ends.
 *
 * Memory stays flat however long the capture runs. The full flow lives in an append-only
 * spool file: one flow-file record (mitm_flowfile_encode, version 21) per add or update,
 * in an unlinked temporary file, so nothing is left behind when the process ends, even
 * after a crash. RAM keeps a compact summary per flow (struct mitm_store_summary: id,
 * timestamps, method, URL parts, status, sizes, flags, spool position) - about 200 bytes
 * plus the path - and every view keeps 4 bytes per member. mitm_store_get() loads the
 * whole flow back from the spool when a front end needs it.
 *
 * Indexes are stable for the life of the store (until mitm_store_clear): removing a flow
 * (view.flows.remove) leaves a tombstone in its slot, so an index a front end or a live
 * update holds never comes to mean another flow. mitm_store_count() counts slots,
 * tombstones included: code walking 0..count must skip removed slots, for which
 * mitm_store_summary() returns NULL and mitm_store_get() fails. A removed flow's id cannot
 * come back (a worker's later updates of it are refused with MITM_STORE_REMOVED), as
 * mitmproxy's view ignores updates of flows no longer in its store. A tombstone costs its
 * summary slot until the store is cleared.
 *
 * Backups (flow.backup/revert): the first modification by a command keeps the flow's
 * previous record as its backup. Records are never overwritten in the spool, so a backup
 * is only the old record's offset and length in the summary (12 bytes), no copy.
 *
 * Not thread-safe: one thread (the main thread) uses a store and its views. */
#ifndef MITM_FLOW_STORE_H
#define MITM_FLOW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flow/flow-t.h"

struct mitm_filter;

/* Paths longer than this are kept truncated in the summary (the spool has them whole). */
#define MITM_STORE_PATH_MAX 256
/* Hosts, methods and schemes are interned; longer ones are truncated in the summary. */
#define MITM_STORE_NAME_MAX 255

/* What RAM keeps of one flow. Strings are NUL-terminated and owned by the store; they stay
 * valid until the flow is updated, the store is cleared or freed. */
struct mitm_store_summary {
    char id[MITM_UUID_LEN + 1];
    uint8_t type;        /* enum mitm_flow_type */
    bool has_response;   /* HTTP: a response arrived */
    bool error;          /* the flow has an error */
    bool marked;         /* flow.marked != "" */
    bool replay;         /* is_replay is set */
    bool path_truncated; /* path holds only the first MITM_STORE_PATH_MAX bytes */
    bool removed;        /* a tombstone (mitm_store_remove) */
    bool intercepted;    /* flow.intercepted: held by its worker (the console highlights it) */
    bool websocket;      /* an HTTP flow that upgraded to WebSocket */
    bool host_is_pretty; /* filter facts (mitm_filter_request_facts): ~d needs only host */
    bool url_is_pretty;  /* ~u's URL is scheme://host[:port]path */
    uint8_t req_ctypes;  /* Content-Type fields of the request (2 = two or more) */
    uint8_t resp_ctypes; /* and of the response */
    uint16_t port;       /* request port (TCP: server address port) */
    uint16_t status;     /* response status code, 0 without a response, MITM_STORE_STATUS_UNKNOWN
                          * for one outside 0..65534 (a script can set any integer) */
    double timestamp_created;
    double timestamp_start;   /* request start (TCP: client connection start); 0 = unknown */
    double timestamp_end;     /* response end, else error time; 0 = unknown */
    uint64_t request_size;    /* raw request body bytes */
    uint64_t response_size;   /* raw response body bytes (TCP: all message bytes) */
    const char *method;       /* interned; "" for TCP */
    const char *scheme;       /* interned; "" for TCP */
    const char *host;         /* interned (TCP: server address host) */
    const char *path;         /* HTTP path (+query), at most MITM_STORE_PATH_MAX bytes; TCP: the
                               * client's address ("host:port", "[v6]:port"; "" if unknown) */
    const char *content_type; /* interned response Content-Type up to its ';' ("" if none) */
    const char *ctype_whole;  /* interned whole value of the response's one Content-Type field,
                               * NULL if it has none, several, or one too long to intern */
    uint64_t spool_off;       /* where the flow's newest record starts in the spool */
    uint32_t spool_len;       /* and its length */
    uint32_t backup_len;      /* length of the backup record, 0 = no backup */
    uint64_t backup_off;      /* where the backup record starts in the spool */
};

#define MITM_STORE_STATUS_UNKNOWN 0xFFFF

/* mitm_store_add's return for a flow whose id was removed: nothing was stored. */
#define MITM_STORE_REMOVED (-2)

/* View orders (view_order): the keys of mitmproxy's view, from the summaries. */
enum mitm_store_order {
    MITM_STORE_ORDER_TIME,   /* timestamp_created */
    MITM_STORE_ORDER_METHOD, /* request method (TCP flows: "TCP") */
    MITM_STORE_ORDER_URL,    /* scheme, host, port, path (the stored first 256 bytes) */
    MITM_STORE_ORDER_SIZE,   /* request + response body bytes (TCP: all messages) */
};

struct mitm_store;      /* opaque */
struct mitm_store_view; /* opaque */

/* A new, empty store whose spool is an unlinked file in dir (NULL or "": $TMPDIR, else
 * /tmp). Returns NULL with a message in err ("cannot create the flow store spool in DIR:
 * REASON") if the file cannot be created. Free with mitm_store_free. */
struct mitm_store *mitm_store_new(const char *dir, char *err, size_t errlen);

/* Free the store, its views (pointers to them become invalid) and its spool (the file
 * is already unlinked: closing it returns the disk space). Accepts NULL. */
void mitm_store_free(struct mitm_store *s);

/* Add a flow: its record is appended to the spool and its summary kept; every view
 * evaluates its filter on f. The store does not keep f (the caller keeps its reference).
 * A flow whose id is already stored replaces that one (as mitmproxy's view.add does), at
 * the same index, keeping its backup. Returns the index (0-based, in arrival order), or -1
 * with err set if the flow cannot be encoded (an HTTP flow without request, invalid
 * metadata) or the spool cannot be written (disk full), or MITM_STORE_REMOVED (err set) if
 * a flow with this id was removed: the store is then unchanged. */
ssize_t mitm_store_add(struct mitm_store *s, const struct mitm_flow *f, char *err, size_t errlen);

/* Like mitm_store_add with f's record already encoded (rec[0..len), exactly what
 * mitm_flowfile_encode(f) produced: the -w writer encodes once for both). Returns as
 * mitm_store_add; also -1 if len is 0 or above 4 GiB - 1. */
ssize_t mitm_store_add_record(struct mitm_store *s, const struct mitm_flow *f, const uint8_t *rec, size_t len,
                              char *err, size_t errlen);

/* The flow at index i changed (marked, comment, a new response...): append its new record
 * and repoint the summary; views re-evaluate it. The old record stays in the spool as
 * garbage until mitm_store_clear (or it is the backup). f->id must equal the stored id.
 * Returns 0, or -1 with err set (i out of range or removed, id mismatch, encode or spool
 * failure: the store is unchanged). */
int mitm_store_update(struct mitm_store *s, size_t i, const struct mitm_flow *f, char *err, size_t errlen);

/* Remove flow i (view.flows.remove): its slot becomes a tombstone, every view drops it, and
 * a view focused on it moves the focus to the flow shown next (else the last one), as
 * mitmproxy's Focus does. Returns 0, or -1 if i is out of range or already removed. */
int mitm_store_remove(struct mitm_store *s, size_t i);

/* Number of slots (stored flows plus tombstones): indexes run 0..count-1. */
size_t mitm_store_count(const struct mitm_store *s);

/* Number of flows stored (tombstones not counted). */
size_t mitm_store_live_count(const struct mitm_store *s);

/* The summary of flow i, or NULL if i >= count or flow i was removed. Valid until the next
 * add/update/clear. */
const struct mitm_store_summary *mitm_store_summary(const struct mitm_store *s, size_t i);

/* Index of the flow with this id, or -1. O(1) (a hash of the ids). */
ssize_t mitm_store_find(const struct mitm_store *s, const char *id);

/* Load flow i from the spool. Returns a new flow (refs = 1, the caller unrefs it), or NULL
 * with err set if i is out of range or removed, or the spool cannot be read or parsed
 * (which means the spool was damaged behind our back). */
struct mitm_flow *mitm_store_get(struct mitm_store *s, size_t i, char *err, size_t errlen);

/* Does stored flow i match filter f? Decided from the summary where it holds the answer
 * (mitm_filter_match_facts: ~d ~u ~m ~c ~t ~q ~s ~e ~marked... and their combinations), else
 * the flow is read back and matched whole. Returns 1 or 0; -1 if i is removed or cannot be
 * read (err set). A filter over a million flows thus reads only the flows its facts cannot
 * decide (bench: store-bench -f). */
int mitm_store_match(struct mitm_store *s, size_t i, const struct mitm_filter *f, char *err, size_t errlen);

/* How many flows mitm_store_match has had to read back (benches and tests). */
uint64_t mitm_store_match_loads(const struct mitm_store *s);

/* Keep flow i's current record as its backup unless it has one (mitmproxy's flow.backup():
 * call it before the first change a command makes). Returns 0, or -1 (i out of range or
 * removed). */
int mitm_store_backup(struct mitm_store *s, size_t i);

/* Has flow i a backup (mitmproxy's flow.modified())? False for a bad or removed index. */
bool mitm_store_has_backup(const struct mitm_store *s, size_t i);

/* flow.revert: flow i becomes its backup again and the backup is dropped; views re-place
 * it. Returns 1 (reverted), 0 (no backup: nothing done), or -1 with err set (bad index,
 * the backup cannot be read: the flow is unchanged). */
int mitm_store_revert(struct mitm_store *s, size_t i, char *err, size_t errlen);

/* Drop every flow: summaries are freed, the spool is truncated to 0 bytes and every view
 * becomes empty (filters are kept). */
void mitm_store_clear(struct mitm_store *s);

/* Bytes of spool written (including superseded records), and an estimate of the RAM the
 * store holds for its flows (summaries, paths, interned names, id hash, view members). */
uint64_t mitm_store_spool_bytes(const struct mitm_store *s);
size_t mitm_store_ram_bytes(const struct mitm_store *s);

/* ---- Views: the flows of a store that match a filter, in an order, with a focus. ---- */
/* Positions are what a front end shows (0 = top, reversed order included). Members are
 * kept sorted by (order key, store index) in 4 bytes each: a new or updated flow is
 * placed by binary search (O(log n) compares plus one memmove), never by a re-sort. */

/* A new view on s showing every flow (no filter, time order), focus on the first flow if any. The
 * store owns the view: free it with mitm_store_view_free or it goes with the store. */
struct mitm_store_view *mitm_store_view_new(struct mitm_store *s);

/* Detach and free a view. Accepts NULL. */
void mitm_store_view_free(struct mitm_store_view *v);

/* Set the view's filter (mitmproxy's language; NULL or "" = every flow) and re-evaluate
 * every stored flow against it, loading one flow at a time from the spool (memory stays
 * bounded by the largest flow). The focus stays on the same flow if it still matches,
 * else moves to the member nearest in order (else the last one). Returns 0, or -1 with the
 * parser's message in err (the view is then unchanged). A flow that cannot be loaded is
 * left out of the view and counted in mitm_store_view_load_errors. */
int mitm_store_view_set_filter(struct mitm_store_view *v, const char *expr, char *err, size_t errlen);

/* Marked-only mode (view.properties.marked.toggle): the view shows only marked flows that
 * match its filter. Setting it re-evaluates the view as set_filter does. */
void mitm_store_view_set_marked_only(struct mitm_store_view *v, bool on);
bool mitm_store_view_marked_only(const struct mitm_store_view *v);

/* Order names (view.order.options: "method", "size", "time", "url"). parse returns the
 * order, or -1 for an unknown name. */
int mitm_store_order_parse(const char *name);
const char *mitm_store_order_name(enum mitm_store_order o);

/* Sort the view by o (O(n log n) over the summaries, no spool reads); the focus stays on
 * the same flow. */
void mitm_store_view_set_order(struct mitm_store_view *v, enum mitm_store_order o);
enum mitm_store_order mitm_store_view_order(const struct mitm_store_view *v);

/* Show the order reversed (view_order_reversed); the focus stays on the same flow. */
void mitm_store_view_set_reversed(struct mitm_store_view *v, bool on);
bool mitm_store_view_reversed(const struct mitm_store_view *v);

/* The expression set (NULL when there is none). */
const char *mitm_store_view_filter(const struct mitm_store_view *v);

/* Flows that could not be loaded during the last re-evaluation. */
size_t mitm_store_view_load_errors(const struct mitm_store_view *v);

/* Number of flows in the view. */
size_t mitm_store_view_count(const struct mitm_store_view *v);

/* Store index of the flow shown at pos, or -1 if pos >= count. */
ssize_t mitm_store_view_at(const struct mitm_store_view *v, size_t pos);

/* Position in the view of store index i, or -1 if that flow is not in the view. */
ssize_t mitm_store_view_pos(const struct mitm_store_view *v, size_t i);

/* Store index of the focused flow, or -1 (empty view). */
ssize_t mitm_store_view_focus(const struct mitm_store_view *v);

/* Focus store index i. Returns 0, or -1 (focus unchanged) if i is not in the view. */
int mitm_store_view_set_focus(struct mitm_store_view *v, size_t i);

/* Move the focus one flow down / up as shown (it stays put at the ends). Return
 * the new focus (store index) or -1 if the view is empty. */
ssize_t mitm_store_view_focus_next(struct mitm_store_view *v);
ssize_t mitm_store_view_focus_prev(struct mitm_store_view *v);

/* Focus follows each flow that enters the view (console_focus_follow) when on; turning it
 * on focuses the last flow shown. Default off: the focus stays where it is, and an empty
 * view focuses the first flow that arrives. */
void mitm_store_view_set_follow(struct mitm_store_view *v, bool on);

#endif
