/* `mitmc dump`: the mitmdump tool (proxy + flow printer, later -w/-r/-n, replays). */
#ifndef MITM_UI_DUMP_TOOL_H
#define MITM_UI_DUMP_TOOL_H

struct mitm_cli;

/* Run until SIGINT/SIGTERM (or until the work is done with -n). Returns the exit code.
 * Options are in mitm_options (parsed by the caller). */
int mitm_dump_main(const struct mitm_cli *cli);

#endif
