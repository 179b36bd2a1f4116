/* The commands of mitmproxy's core addons on the master's registry (reference §6.3):
 * flow.* (core.py, comment.py), replay.client* (clientplayback.py), save.file (save.py),
 * set and options.* (core.py), view.* (view.py), for the interactive front ends. Flow
 * specs ("@focus", "@all", "@shown", "@hidden", "@marked", "@unmarked", "@intercepted", a
 * flow id, a filter expression) are resolved against the master's store and view, as
 * mitmproxy's view.resolve. Main thread only. */
#ifndef MITM_UI_COMMANDS_H
#define MITM_UI_COMMANDS_H

#include <stddef.h>

struct mitm_master;

/* Register every command and the flow resolver on m->commands. Returns 0, or -1 with err
 * set (a duplicate name: a programming error). */
int mitm_ui_commands_register(struct mitm_master *m, char *err, size_t errlen);

#endif
