/* Addons written in C, and hook dispatch. The registry is filled at startup on the main
 * thread and read-only afterwards; hooks run on the worker thread that owns the flow, so
 * an addon's hook must be thread-safe (read options, change only the flow it is given). */
#ifndef MITM_ADDON_ADDON_H
#define MITM_ADDON_ADDON_H

#include "flow/flow-t.h"
#include "layer/layer-t.h"

#include <stddef.h>

struct mitm_options;
struct mitm_serverplayback;
struct mitm_cert_signer;
struct mitm_builtin_addons;

/* What a hook runs with besides its argument. Hooks never read the clock, touch io or
 * write to the process log themselves: the time, the options and the log come from here. */
struct mitm_hook_env {
    double now;                      /* wall-clock seconds of the event that fired the hook */
    const struct mitm_options *opts; /* the connection's options snapshot */
    int worker;                      /* index of the worker thread running it; -1 = main thread */
    /* A log line for the connection the hook runs for (NULL: the process log). */
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
};

/* Log through env (mitmproxy's logging from an addon). */
void mitm_hook_log(const struct mitm_hook_env *env, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An addon. Its hook is called for every hook with the state it was added with; it
 * ignores the hooks it does not handle. arg is the hook's argument, as mitmproxy passes it:
 * struct mitm_flow * for the HTTP hooks (requestheaders ... error, http_connect). */
struct mitm_addon {
    const char *name;
    void (*hook)(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env);
};

/* The addon registry (a service: filled at startup on the main thread, read-only while
 * workers run). */
struct mitm_addons;

struct mitm_addons *mitm_addons_new(void);
void mitm_addons_free(struct mitm_addons *r); /* accepts NULL; states belong to their owners */
/* Add an addon with its state (order of adding = order of calls). */
void mitm_addons_add(struct mitm_addons *r, const struct mitm_addon *a, void *state);
/* Add an addon with its state just before the first addon before (so that it runs at a
 * given place in mitmproxy's order, e.g. the script addon before server replay); appended
 * when before is not in r. */
void mitm_addons_insert_before(struct mitm_addons *r, const struct mitm_addon *before,
                               const struct mitm_addon *a, void *state);
/* Run hook h with arg through every addon in order. r may be NULL (no addons). */
void mitm_addons_run(const struct mitm_addons *r, enum mitm_hook h, void *arg,
                     const struct mitm_hook_env *env);

/* The built-in addons of every tool, in mitmproxy's order: blocklist, anticache,
 * anticomp, disable_h2c, onboarding, proxyauth, server replay with the index sp, mapremote, maplocal,
 * modifybody, modifyheaders, stickyauth, stickycookie, save (-w), the magic CRL signed by signer
 * (mitmproxy's tlsconfig), upstream_auth. b holds the configured states (builtin.h); b,
 * sp and signer may be NULL (those addons are off), are borrowed and must outlive r. */
void mitm_addons_add_builtin(struct mitm_addons *r, const struct mitm_builtin_addons *b,
                             struct mitm_serverplayback *sp, const struct mitm_cert_signer *signer);

/* Answer f from the proxy itself (the request is never forwarded): an HTTP/1.1 response
 * with status, reason, Content-Type ctype, Content-Disposition disposition (NULL: none),
 * Content-Length and body; replaces any response f had. */
void mitm_addon_respond(struct mitm_flow *f, int status, const char *reason, const char *ctype,
                        const char *disposition, const void *body, size_t len);

extern const struct mitm_addon mitm_addon_anticache;
extern const struct mitm_addon mitm_addon_anticomp;
extern const struct mitm_addon mitm_addon_disable_h2c;
extern const struct mitm_addon mitm_addon_update_alt_svc;

#endif
