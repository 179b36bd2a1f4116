/* browser.start (mitmproxy's addons/browser.py): an isolated browser that uses the running
 * proxy. Main thread only. */
#ifndef MITM_UI_BROWSER_H
#define MITM_UI_BROWSER_H

#include <stddef.h>

struct mitm_master;

/* Register browser.start on m->commands. Returns 0, or -1 with err set. */
int mitm_ui_browser_register(struct mitm_master *m, char *err, size_t errlen);

/* Stop the browsers started (SIGTERM to each one's process group, SIGKILL after 2 s) and
 * remove their profiles. Safe when none was started. */
void mitm_ui_browser_free(struct mitm_master *m);

#endif
