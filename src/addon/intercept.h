/* intercept: mitmproxy's addons/intercept.py, added by the interactive front ends (the
 * console, later the web UI), not by `mitmc dump`, as mitmproxy adds it to its console and
 * web masters only. In the request and response hooks (and websocket_message, tcp_message),
 * a flow that is not a replay and matches the intercept filter while intercept_active is
 * on is marked intercepted: the driver then holds the hook until the user resumes or kills
 * the flow.
 *
 * Unlike most options, a change reaches running connections at once: the filter and the
 * toggle are live state swapped under a lock (a user who sets `i ~q` expects the next
 * request of an open keep-alive connection to stop, as mitmproxy does). A hook takes a
 * reference to the compiled filter under the lock and matches outside it. */
#ifndef MITM_ADDON_INTERCEPT_H
#define MITM_ADDON_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "addon/addon.h"

struct mitm_intercept;

/* A new state: no filter, inactive. Never NULL. */
struct mitm_intercept *mitm_intercept_new(void);
void mitm_intercept_free(struct mitm_intercept *ic); /* accepts NULL */

/* Set the filter expression (NULL or "": none). As mitmproxy's configure, setting a filter
 * turns intercept_active on and clearing it turns it off; *active receives the new toggle.
 * Returns 0, or -1 with err = "Invalid intercept filter: ..." (nothing changed). Main
 * thread. */
int mitm_intercept_set_filter(struct mitm_intercept *ic, const char *expr, bool *active, char *err,
                              size_t errlen);
/* intercept_active. */
void mitm_intercept_set_active(struct mitm_intercept *ic, bool on);

extern const struct mitm_addon mitm_addon_intercept;

#endif
