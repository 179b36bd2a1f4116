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

/* Set the flow's error (replaces an earlier one). */
void mitm_flow_set_error(struct mitm_flow *f, const char *msg, double now);

/* Set flow.metadata[key] to the value whose tnetstring encoding is tns[0..len) (copied),
 * replacing an earlier value of key (its position is kept) or appending. */
void mitm_flow_meta_set(struct mitm_flow *f, const char *key, const void *tns, size_t len);
/* The metadata entry called key, or NULL. Borrowed. */
const struct mitm_meta *mitm_flow_meta_get(const struct mitm_flow *f, const char *key);

/* Fill id with a random uuid4 (36 chars + NUL). Thread-safe. */
void mitm_uuid4(char out[MITM_UUID_LEN + 1]);

void mitm_conn_info_init(struct mitm_conn_info *c);
void mitm_conn_info_clear(struct mitm_conn_info *c);
void mitm_strlist_add(struct mitm_strlist *l, const char *s, size_t n);
void mitm_strlist_clear(struct mitm_strlist *l);

#endif
