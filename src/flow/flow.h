/* Flow lifecycle. */
#ifndef MITM_FLOW_FLOW_H
#define MITM_FLOW_FLOW_H

#include "flow/flow-t.h"

/* New flow of a type: fresh uuid4 id, refs = 1, comment "", marked "". */
struct mitm_flow *mitm_flow_new(enum mitm_flow_type type, double now);
struct mitm_flow *mitm_flow_ref(struct mitm_flow *f);
/* Drop a reference; frees the flow and everything it owns at zero. Accepts NULL. */
void mitm_flow_unref(struct mitm_flow *f);

/* Set the flow's error (replaces an earlier one). */
void mitm_flow_set_error(struct mitm_flow *f, const char *msg, double now);

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
