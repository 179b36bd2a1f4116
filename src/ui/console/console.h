/* `mitmc` without a subcommand: mitmproxy's console UI (ncursesw) on the shared master. */
#ifndef MITM_UI_CONSOLE_H
#define MITM_UI_CONSOLE_H

#include <stdio.h>

struct mitm_cli;

/* Run the console until the user quits (q then y, Q, console.exit) or SIGINT/SIGTERM. The
 * terminal is restored on every way out. Returns the exit status: 0, or 1 for an error
 * logged during startup (printed to stderr, the UI never starts). */
int mitm_console_main(const struct mitm_cli *cli);

/* --commands: mitmproxy's command dump of the console's registry (the interactive master's
 * commands and the console's), built without a terminal, a proxy or a store. Printed to
 * out; returns the exit status (0, or 1 if a registration failed, said on stderr). */
int mitm_console_dump_commands(const struct mitm_cli *cli, FILE *out);

#endif
