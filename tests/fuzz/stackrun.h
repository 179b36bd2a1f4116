/* The driver's part in the layer-stack fuzz targets (fuzz_stack, fuzz_h2): a context whose
 * commands are answered as src/io would answer them (OPEN, HOOK, SEND, CLOSE, WAKEUP, LOG),
 * and a script of events read from the fuzz input. No network, no clock. */
#ifndef MITM_TESTS_FUZZ_STACKRUN_H
#define MITM_TESTS_FUZZ_STACKRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer/layer.h"

#define STACKRUN_MAX_CONNS  8
#define STACKRUN_MAX_TIMERS 64

struct stackrun {
    struct mitm_ctx ctx;
    struct mitm_conn *servers[STACKRUN_MAX_CONNS]; /* server connections the stack opened */
    int n_servers;
    struct mitm_cmd *timers[STACKRUN_MAX_TIMERS];
    int n_timers;
    bool fail_next_open;
    double now;
};

/* A context for opts and svc with a loopback client (127.0.0.1:50000 -> 127.0.0.1:8080).
 * The caller sets ctx.mode and ctx.root, then calls stackrun_input with a START. */
void stackrun_init(struct stackrun *r, const struct mitm_options *opts, struct mitm_services *svc);
/* One event into the stack (now advanced a little), then every command answered. */
void stackrun_input(struct stackrun *r, struct mitm_event *ev);
/* Bytes from conn, if it can still deliver them. */
void stackrun_data(struct stackrun *r, struct mitm_conn *conn, const uint8_t *p, size_t n);
/* The script: each step is a control byte (low 3 bits: 0-2 data from a connection, with a
 * length byte and that many bytes; 3 half-close; 4 reset; 5 fire the timers; 6-7 the next
 * OPEN fails; the high bits pick the client or one of the servers). At most 256 steps. */
void stackrun_script(struct stackrun *r, const uint8_t *data, size_t size);
/* Drop the timers, destroy the root, free the context. */
void stackrun_free(struct stackrun *r);

#endif
