/* The commands of mitmproxy's core addons on the master's registry (reference §6.3):
 * flow.* (core.py, comment.py), replay.client* (clientplayback.py), save.file (save.py),
 * set and options.* (core.py), view.* (view.py), for the interactive front ends. Flow
 * specs ("@focus", "@all", "@shown", "@hidden", "@marked", "@unmarked", "@intercepted", a
 * flow id, a filter expression) are resolved against the master's store and view, as
 * mitmproxy's view.resolve. Main thread only. */
#ifndef MITM_UI_COMMANDS_H
#define MITM_UI_COMMANDS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/command.h"
#include "flow/flow-t.h"

struct mitm_master;

/* Register every command and the flow resolver on m->commands. Returns 0, or -1 with err
 * set (a duplicate name: a programming error). */
int mitm_ui_commands_register(struct mitm_master *m, char *err, size_t errlen);

/* Free what the commands keep on m (the view settings). Safe on a master whose commands were
 * never registered. */
void mitm_ui_commands_free(struct mitm_master *m);

/* ---- shared by the command files: commands.c, viewcmds.c (view.*), flowcmds.c (flow.set,
 * flow.encode*, flow.revert, options.*, replay.server*), cut.c (cut*) ---- */

/* Write a command's change of f (a copy the resolver handed out) back to the store by its
 * id, telling the front end. A flow no longer stored is ignored. */
void mitm_ui_update(struct mitm_master *m, const struct mitm_flow *f);

/* mitmproxy's flow.backup(): keep f's stored record for flow.revert unless it has a backup.
 * Call before the first change. */
void mitm_ui_backup(struct mitm_master *m, const struct mitm_flow *f);

/* Tell the front end that flow index changed, or (-1) the store or view as a whole. */
void mitm_ui_changed(struct mitm_master *m, ssize_t index);

/* The flow resolver (view.resolve) set on m->commands; ud is the master. */
int mitm_ui_resolve(void *ud, const char *spec, struct mitm_flow ***out, size_t *nout, char *err,
                    size_t errlen);

/* Register n definitions. Returns 0 or -1 with err set. */
int mitm_ui_register_defs(struct mitm_master *m, const struct mitm_cmd_def *defs, size_t n, char *err,
                          size_t errlen);

int mitm_ui_viewcmds_register(struct mitm_master *m, char *err, size_t errlen);
int mitm_ui_flowcmds_register(struct mitm_master *m, char *err, size_t errlen);
int mitm_ui_cut_register(struct mitm_master *m, char *err, size_t errlen);

/* Drop the view settings of flows that are no longer stored (after removals, clears). */
void mitm_ui_settings_prune(struct mitm_master *m);

#endif
