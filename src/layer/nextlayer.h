/* The next-layer step (mitmproxy's NextLayer): a placeholder in a layer stack that holds
 * the connection's first bytes until a decision function says which layer comes next
 * (TLS, HTTP, raw TCP, ...), then hands that layer a START and every held event in order
 * and passes everything on to it from then on. The decision itself belongs to whoever
 * makes the step (src/proto/next.c): the framework knows no protocol. */
#ifndef MITM_LAYER_NEXTLAYER_H
#define MITM_LAYER_NEXTLAYER_H

#include "layer/layer-t.h"

/* What has arrived so far, for the decision. */
struct mitm_next_input {
    struct mitm_conn *server;   /* the stack's server connection (may be NULL) */
    struct mitm_slice client;   /* every byte the client sent so far */
    struct mitm_slice from_srv; /* every byte the server sent so far */
    bool client_eof;            /* the client closed (no more bytes will come) */
    bool full;                  /* the hold buffer is full: decide now */
};

/* Decide for the next-layer step nl: return the new layer (created with nl as parent), or
 * NULL to wait for more bytes (ignored when in->full or in->client_eof: then returning
 * NULL closes the connection, after the function logged why). */
typedef struct mitm_layer *(*mitm_next_fn)(struct mitm_layer *nl, void *arg,
                                           const struct mitm_next_input *in);

/* A next-layer step for ctx under parent, for the stack whose server connection is server
 * (may be NULL). arg is passed to decide. Holds at most 256 KiB before forcing a decision. */
struct mitm_layer *mitm_nextlayer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                      struct mitm_conn *server, mitm_next_fn decide, void *arg);

/* Close the connection when no decision came within seconds of START (0: never), with a
 * log line naming the wait. */
void mitm_nextlayer_set_timeout(struct mitm_layer *nl, double seconds);

/* The layer chosen, or NULL before the decision. */
struct mitm_layer *mitm_nextlayer_child(struct mitm_layer *nl);

/* Ask for a decision now with what has arrived (e.g. after a mode layer learned the
 * destination): used when a protocol needs no client bytes, such as a server-first one. */
void mitm_nextlayer_poke(struct mitm_layer *nl, double now);

#endif
