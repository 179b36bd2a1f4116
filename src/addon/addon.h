/* Addons written in C, and hook dispatch. The registry is filled at startup on the main
 * thread and read-only afterwards; hooks run on the worker thread that owns the flow, so
 * an addon's hook must be thread-safe (read options, change only the flow it is given). */
#ifndef MITM_ADDON_ADDON_H
#define MITM_ADDON_ADDON_H

#include "flow/flow-t.h"
#include "layer/layer-t.h"

#include <stddef.h>

struct mitm_options;

struct mitm_addon {
    const char *name;
    /* Called for every hook; an addon ignores the ones it does not handle. */
    void (*hook)(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o);
};

/* Add an addon (startup only; order of registration = order of calls). */
void mitm_addons_register(const struct mitm_addon *a);
/* Remove every addon (tests, shutdown). */
void mitm_addons_clear(void);
/* Run hook h on f through every addon in order. */
void mitm_addons_run(enum mitm_hook h, struct mitm_flow *f, const struct mitm_options *o);

/* The built-in addons of every tool, in mitmproxy's order (anticache, anticomp, ...). */
void mitm_addons_register_builtin(void);

/* Answer f from the proxy itself (the request is never forwarded): an HTTP/1.1 response
 * with status, reason, Content-Type ctype, Content-Disposition disposition (NULL: none),
 * Content-Length and body; replaces any response f had. */
void mitm_addon_respond(struct mitm_flow *f, int status, const char *reason, const char *ctype,
                        const char *disposition, const void *body, size_t len);

extern const struct mitm_addon mitm_addon_anticache;
extern const struct mitm_addon mitm_addon_anticomp;

#endif
