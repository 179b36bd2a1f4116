/* The layer framework: context, commands, and pause/replay written once. */
#ifndef MITM_LAYER_LAYER_H
#define MITM_LAYER_LAYER_H

#include "layer/layer-t.h"

struct mitm_options;

/* Context: create with the client connection already set up (id 1, state OPEN). */
void mitm_ctx_init(struct mitm_ctx *ctx, const struct mitm_options *opts);
/* Free every connection and every unexecuted command. */
void mitm_ctx_free(struct mitm_ctx *ctx);
/* New server connection to host:port (state NEW); owned by ctx. */
struct mitm_conn *mitm_ctx_conn_new(struct mitm_ctx *ctx, const char *host, uint16_t port);
/* n unpredictable bytes from ctx->random; without one (playbooks) zeros, so that expected
 * output is fixed. */
void mitm_ctx_random(const struct mitm_ctx *ctx, uint8_t *out, size_t n);
/* Pop the oldest emitted command, or NULL. The caller now owns it. */
struct mitm_cmd *mitm_ctx_next_cmd(struct mitm_ctx *ctx);

/* ---- what the driver (and test runners) call; ctx->root must be set ---- */

/* An event from the outside (START, DATA, CLOSED): DATA and CLOSED of a connection with
 * filters pass through them first; everything reaches ctx->root. */
void mitm_ctx_input(struct mitm_ctx *ctx, const struct mitm_event *ev);
/* The driver's answer to a blocking command (takes c). An OPEN that succeeded is answered
 * only once the connection's filters are ready (or one failed). An OPEN of a connection
 * that is already open (filters pushed on it later) is answered at once with success. */
void mitm_ctx_reply(struct mitm_ctx *ctx, struct mitm_cmd *c, double now);
/* A WAKEUP command's delay passed (takes c): its timer's layer gets a WAKEUP event unless
 * it is gone. */
void mitm_ctx_wakeup(struct mitm_ctx *ctx, struct mitm_cmd *c, double now);
/* The driver gives up a command it owns without answering it (the session ends): c is
 * unhooked from its layer (a paused layer stops waiting, a timer forgets it) and freed. */
void mitm_ctx_drop(struct mitm_cmd *c);

/* Addressable layers: a layer registers itself under a key (its flow's id) while it can take
 * events from outside the stack, and unregisters in its destroy function, so the driver never
 * holds a pointer to a layer that is gone. find: the layer registered under key, or NULL. */
void mitm_ctx_register(struct mitm_ctx *ctx, const char *key, struct mitm_layer *l);
void mitm_ctx_unregister(struct mitm_ctx *ctx, struct mitm_layer *l);
struct mitm_layer *mitm_ctx_find(const struct mitm_ctx *ctx, const char *key);

struct mitm_cmd *mitm_cmd_new(enum mitm_cmd_type type);

/* May a layer still SEND to c: open, or the peer only half-closed (we may still write)? */
static inline bool mitm_conn_writable(const struct mitm_conn *c)
{
    return c && (c->state == MITM_CONN_OPEN || c->state == MITM_CONN_READ_EOF);
}
void mitm_cmd_free(struct mitm_cmd *c);

/* Initialise the base of a layer. */
void mitm_layer_init(struct mitm_layer *l, const struct mitm_layer_vt *vt, struct mitm_ctx *ctx,
                     struct mitm_layer *parent);
/* Release what the base holds (queued events). Call from the layer's destroy. */
void mitm_layer_deinit(struct mitm_layer *l);
void mitm_layer_destroy(struct mitm_layer *l); /* accepts NULL */

/* Deliver an event to a layer, with pause/replay: while the layer waits for the reply to
 * a blocking command, every other event is queued (DATA copied) and replayed in order
 * once the reply has been handled. */
void mitm_layer_event(struct mitm_layer *l, const struct mitm_event *ev);

/* Emit a command from layer l (sets origin). A blocking command pauses l. */
void mitm_layer_emit(struct mitm_layer *l, struct mitm_cmd *c);

/* Shorthands. */
void mitm_layer_send(struct mitm_layer *l, struct mitm_conn *conn, const void *data, size_t len);
void mitm_layer_close(struct mitm_layer *l, struct mitm_conn *conn, bool half_close);
void mitm_layer_log(struct mitm_layer *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Blocking: returns the command so the layer can recognise the reply. */
struct mitm_cmd *mitm_layer_open(struct mitm_layer *l, struct mitm_conn *conn);
/* Run hook with data as its argument (the command takes data over). */
struct mitm_cmd *mitm_layer_hook(struct mitm_layer *l, enum mitm_hook hook, struct mitm_payload data);

/* Free a payload's content (nothing for an empty or borrowed one) and empty it. */
void mitm_payload_free(struct mitm_payload *p);
/* Bytes a payload holds (0 for an empty one). */
size_t mitm_payload_size(const struct mitm_payload *p);

const char *mitm_hook_name(enum mitm_hook h);

/* Timers. Arm t to fire delay seconds after now (replacing an earlier deadline): a WAKEUP
 * goes out only if none is out for t already, so re-arming on every request is cheap.
 * A layer has at most 4 timers with a WAKEUP out (an assertion). */
void mitm_timer_set(struct mitm_layer *l, struct mitm_timer *t, double now, double delay);
/* Disarm t (its WAKEUP, if out, is ignored when it comes). */
void mitm_timer_clear(struct mitm_timer *t);
/* On a WAKEUP event: true if it is t's and t's deadline has come (t is then disarmed);
 * a wakeup that came early for a deadline moved later re-arms itself. */
bool mitm_timer_due(struct mitm_layer *l, struct mitm_timer *t, const struct mitm_event *ev);

#endif
