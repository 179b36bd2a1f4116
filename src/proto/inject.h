/* A message the user injects into a live WebSocket or TCP flow (mitmproxy's inject.websocket
 * and inject.tcp): the driver hands it to the flow's layer as a MESSAGE event, found by the
 * flow's id (mitm_ctx_find), and the layer treats it as a message from the other side:
 * recorded with injected set (WebSocket), run through its message hook, then sent. */
#ifndef MITM_PROTO_INJECT_H
#define MITM_PROTO_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer/layer-t.h"

struct mitm_inject {
    bool to_client; /* toward the client (as if the server sent it), else toward the server */
    bool is_text;   /* WebSocket: a text message, else binary */
    uint8_t *data;  /* owned */
    size_t len;
};

/* A payload carrying a copy of data[0..len). */
struct mitm_payload mitm_inject_payload(bool to_client, bool is_text, const void *data, size_t len);
/* The injected message a payload carries, or NULL if it carries something else. Borrowed. */
const struct mitm_inject *mitm_payload_inject(const struct mitm_payload *p);

#endif
