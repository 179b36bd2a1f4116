/* The states of the built-in addons that mitmproxy configures from options (its
 * "configure" hook): modify/map/block, sticky and auth. A front end makes them once, on
 * the main thread before the workers start, with mitm_builtin_addons_configure, hands
 * them to mitm_addons_add_builtin, and frees them after the workers stopped, so every
 * front end runs the same set with the same validation.
 *
 * A NULL member is an addon whose option is off (its hook does nothing). The states are
 * read-only for the hooks except the stores of stickycookie, stickyauth and proxyauth and
 * save's file, which lock. Changing an option later means making a new set (none of the front ends
 * does that while workers run yet). */
#ifndef MITM_ADDON_BUILTIN_H
#define MITM_ADDON_BUILTIN_H

#include <stddef.h>

struct mitm_options;

struct mitm_builtin_addons {
    struct mitm_blocklist *blocklist;
    struct mitm_proxyauth *proxyauth;
    struct mitm_mapremote *mapremote;
    struct mitm_maplocal *maplocal;
    struct mitm_modify *modifybody;
    struct mitm_modify *modifyheaders;
    struct mitm_stickyauth *stickyauth;
    struct mitm_stickycookie *stickycookie;
    struct mitm_save *save; /* -w: the open file; its writer locks (savefile.h) */
    struct mitm_upstream_auth *upstream_auth;
};

/* Build every state from o (b must be zeroed) at time now (it names save's first strftime
 * file: mitmproxy opens it in configure). On the first invalid option stops with
 * mitmproxy's OptionsError text in err (e.g. "Cannot parse map_remote option |x: Invalid
 * number of parameters (2 or 3 are expected)"), frees what it made and returns -1; the
 * front end reports it and exits with status 1, as mitmproxy does. Returns 0. */
int mitm_builtin_addons_configure(struct mitm_builtin_addons *b, const struct mitm_options *o, double now,
                                  char *err, size_t errlen);
/* Free every state (b is zeroed). */
void mitm_builtin_addons_free(struct mitm_builtin_addons *b);

#endif
