/* Layer playbooks (like mitmproxy's tutils.Playbook): a table of events in and commands
 * expected out, run against a layer with no sockets. The runner checks the commands in
 * order, merging consecutive SENDs to one connection (so byte boundaries don't matter),
 * answers blocking commands where the table says, and fails on any command the table
 * does not expect. pb_run_all() runs a playbook once as written and then once for every
 * byte offset of every DATA step, split into two DATA events there. */
#ifndef MITM_TESTS_PLAYBOOK_H
#define MITM_TESTS_PLAYBOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "layer/layer.h"

#define PB_CLIENT    0
#define PB_SERVER(n) (n) /* the n-th server connection the layer opened (1-based) */

enum pb_type {
    PB_END = 0,
    PB_DATA,    /* in: bytes on conn */
    PB_CLOSED,  /* in: conn closed by the peer (half: EOF only) */
    PB_HOOK,    /* out: a hook; the runner replies at once */
    PB_OPEN,    /* out: OPEN of host:port; the runner replies with error (NULL = ok) */
    PB_SEND,    /* out: these bytes on conn */
    PB_CLOSE,   /* out: CLOSE of conn */
    PB_NOTHING, /* out: nothing pending right now (besides logs and timers) */
    PB_ADVANCE, /* in: the clock moves by seconds; timers due by then fire */
    PB_HOLD,    /* out: a hook the runner keeps unanswered (the driver holding an intercepted flow) */
    PB_RESUME,  /* in: the held hook is answered, after an optional edit or a kill */
    PB_DROP,    /* in: the held hook is given up unanswered (the session ends) */
};

struct pb_step {
    enum pb_type type;
    int conn;
    const char *data;
    size_t len;
    enum mitm_hook hook;
    const char *host;
    int port;
    const char *error;
    bool half;
    bool prefix;    /* SEND: the bytes start with data; every consecutive SEND to conn is consumed */
    double seconds; /* ADVANCE */
    /* RESUME: a request header added (name NULL: none), a response status set (0: none),
     * or the flow killed */
    const char *hdr_name, *hdr_value;
    int status;
    bool kill;
};

#define PB_IN(c, s)                                                                                          \
    {                                                                                                        \
        .type = PB_DATA, .conn = (c), .data = (s), .len = sizeof(s) - 1                                      \
    }
#define PB_EOF(c)                                                                                            \
    {                                                                                                        \
        .type = PB_CLOSED, .conn = (c), .half = true                                                         \
    }
#define PB_RST(c)                                                                                            \
    {                                                                                                        \
        .type = PB_CLOSED, .conn = (c), .half = false                                                        \
    }
#define PB_EXPECT_HOOK(h)                                                                                    \
    {                                                                                                        \
        .type = PB_HOOK, .hook = MITM_HOOK_##h                                                               \
    }
#define PB_EXPECT_OPEN(h, p, err)                                                                            \
    {                                                                                                        \
        .type = PB_OPEN, .host = (h), .port = (p), .error = (err)                                            \
    }
#define PB_EXPECT_SEND(c, s)                                                                                 \
    {                                                                                                        \
        .type = PB_SEND, .conn = (c), .data = (s), .len = sizeof(s) - 1                                      \
    }
#define PB_EXPECT_SEND_PREFIX(c, s)                                                                          \
    {                                                                                                        \
        .type = PB_SEND, .conn = (c), .data = (s), .len = sizeof(s) - 1, .prefix = true                      \
    }
#define PB_EXPECT_CLOSE(c)                                                                                   \
    {                                                                                                        \
        .type = PB_CLOSE, .conn = (c)                                                                        \
    }
#define PB_EXPECT_NOTHING                                                                                    \
    {                                                                                                        \
        .type = PB_NOTHING                                                                                   \
    }
#define PB_WAIT(s)                                                                                           \
    {                                                                                                        \
        .type = PB_ADVANCE, .seconds = (s)                                                                   \
    }
#define PB_EXPECT_HOLD(h)                                                                                    \
    {                                                                                                        \
        .type = PB_HOLD, .hook = MITM_HOOK_##h                                                               \
    }
#define PB_RESUME_PLAIN                                                                                      \
    {                                                                                                        \
        .type = PB_RESUME                                                                                    \
    }
#define PB_RESUME_ADDING(name, value)                                                                        \
    {                                                                                                        \
        .type = PB_RESUME, .hdr_name = (name), .hdr_value = (value)                                          \
    }
#define PB_RESUME_STATUS(code)                                                                               \
    {                                                                                                        \
        .type = PB_RESUME, .status = (code)                                                                  \
    }
#define PB_KILL_HELD                                                                                         \
    {                                                                                                        \
        .type = PB_RESUME, .kill = true                                                                      \
    }
#define PB_DROP_HELD                                                                                         \
    {                                                                                                        \
        .type = PB_DROP                                                                                      \
    }
#define PB_DONE                                                                                              \
    {                                                                                                        \
        .type = PB_END                                                                                       \
    }

/* The root of a regular-mode connection (the mode layer: next-layer step, HTTP layer). */
struct mitm_layer *pb_regular(struct mitm_ctx *ctx);

/* Makes the layer under test for a fresh context. */
typedef struct mitm_layer *(*pb_layer_fn)(struct mitm_ctx *ctx);

/* Run once, splitting DATA step split_step at split_at (split_step < 0: no split). Every
 * mismatch is a Criterion assertion failure naming the step. */
void pb_run(const char *name, pb_layer_fn make, const struct pb_step *steps, int split_step, size_t split_at);

/* Run as written, then split at every offset of every DATA step. */
void pb_run_all(const char *name, pb_layer_fn make, const struct pb_step *steps);

#endif
