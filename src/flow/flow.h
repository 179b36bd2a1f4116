/* Flow lifecycle. */
#ifndef MITM_FLOW_FLOW_H
#define MITM_FLOW_FLOW_H

#include "flow/flow-t.h"
#include "layer/layer-t.h"

/* New flow of a type: fresh uuid4 id, refs = 1, comment "", marked "". */
struct mitm_flow *mitm_flow_new(enum mitm_flow_type type, double now);
struct mitm_flow *mitm_flow_ref(struct mitm_flow *f);
/* Drop a reference; frees the flow and everything it owns at zero. Accepts NULL. */
void mitm_flow_unref(struct mitm_flow *f);

/* A flow as a hook's argument: the payload holds a new reference to f (dropped when the
 * hook command is freed). */
struct mitm_payload mitm_flow_payload(struct mitm_flow *f);
/* The flow a payload carries, or NULL if it carries something else. Borrowed. */
struct mitm_flow *mitm_payload_flow(const struct mitm_payload *p);

/* A copy of a TCP flow that stays valid while the original goes on: its addresses and
 * its last message only (what a tcp_message consumer on another thread reads). */
struct mitm_flow *mitm_flow_message_snapshot(const struct mitm_flow *f);

/* The user's changes to a held flow (edited, a copy nobody else uses, e.g. loaded from the
 * store and changed by a UI) moved into the live flow f: the request's method, scheme,
 * authority, host, port, path, http_version, headers, content and trailers; the response's
 * (if both have one) http_version, status, reason, headers, content and trailers; the last
 * WebSocket or TCP message's content (if both have as many messages); marked and comment.
 * What the proxy keeps about the exchange itself (target form, streaming, timestamps,
 * connections) stays f's. edited is left with f's old values. */
void mitm_flow_apply_edits(struct mitm_flow *f, struct mitm_flow *edited);

/* Set the flow's error (replaces an earlier one). */
void mitm_flow_set_error(struct mitm_flow *f, const char *msg, double now);

/* Set flow.metadata[key] to the value whose tnetstring encoding is tns[0..len) (copied),
 * replacing an earlier value of key (its position is kept) or appending. */
void mitm_flow_meta_set(struct mitm_flow *f, const char *key, const void *tns, size_t len);
/* The metadata entry called key, or NULL. Borrowed. */
const struct mitm_meta *mitm_flow_meta_get(const struct mitm_flow *f, const char *key);

/* Fill id with a random uuid4 (36 chars + NUL). Thread-safe. */
void mitm_uuid4(char out[MITM_UUID_LEN + 1]);

/* flow.websocket. new(): no messages, closed_by_client/close_code/close_reason None. free()
 * accepts NULL. copy(): a deep copy (NULL for NULL). */
struct mitm_websocket_data *mitm_websocket_new(void);
void mitm_websocket_free(struct mitm_websocket_data *ws);
struct mitm_websocket_data *mitm_websocket_copy(const struct mitm_websocket_data *ws);

/* Append a message (content copied; dropped and injected false). Returns it; the pointer stays
 * valid until the next append. */
struct mitm_websocket_message *mitm_websocket_add(struct mitm_websocket_data *ws, uint8_t type,
                                                  bool from_client, const void *content, size_t len,
                                                  double timestamp);

/* Record the end of the connection (websocket_end): who closed it, the code (-1 = None) and reason
 * (copied; NULL = None), and timestamp_end. */
void mitm_websocket_set_close(struct mitm_websocket_data *ws, bool by_client, int code, const char *reason,
                              size_t reason_len, double timestamp_end);

void mitm_conn_info_init(struct mitm_conn_info *c);
void mitm_conn_info_clear(struct mitm_conn_info *c);
void mitm_strlist_add(struct mitm_strlist *l, const char *s, size_t n);
void mitm_strlist_clear(struct mitm_strlist *l);

#endif
