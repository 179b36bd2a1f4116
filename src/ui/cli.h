/* The command line: mitmproxy's flags (tools/cmdline.py) and its load order
 * (tools/main.py), so that `mitmc`, `mitmc dump` and `mitmc web` are drop-in
 * replacements for mitmproxy, mitmdump and mitmweb. */
#ifndef MITM_UI_CLI_H
#define MITM_UI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/options.h"

enum mitm_tool {
    MITM_TOOL_CONSOLE = 0,
    MITM_TOOL_DUMP,
    MITM_TOOL_WEB,
};

struct mitm_cli {
    enum mitm_tool tool; /* argv[1] "dump" -> DUMP, "web" -> WEB, otherwise CONSOLE; an argv[0]
                            basename of "mitmdump"/"mitmweb" also selects (argv[1] is then not
                            looked at) */
    bool show_version;   /* --version: print mitm_cli_version() and exit 0 */
    bool show_options;   /* --options: print mitm_options_dump() and exit 0 */
    bool show_commands;  /* --commands: print the tool's commands (mitm_cmd_dump) and exit 0 */
    bool show_help;      /* -h/--help: print mitm_cli_usage() and exit 1 (as mitmproxy does) */
    char *filter;        /* dump: positional filter words joined by spaces, or NULL (owned) */
    /* --set specs naming no option of the table, in order, kept for the options scripts
     * add when they load (mitmproxy defers them the same way). Only non-empty when scripts
     * are given: without a script an unknown option is an error. The array is owned, the
     * strings point into argv. */
    const char **deferred;
    size_t ndeferred;
};

/* Parse argv into o (which was mitm_options_init'ed) following mitmproxy's order: all
 * --set first (grouped by option as mitmproxy does: a list option gets exactly the
 * values given, a scalar option given two values is an error), then
 * confdir/config.yaml and confdir/config.yml via mitm_options_load_yaml, then the
 * dedicated flags (last one wins; the first -m replaces the default mode list; -q and
 * --options then set termlog_verbosity=error flow_detail=0, and -v
 * termlog_verbosity=debug flow_detail=2 on top).
 *
 * Flags: -h/--help, --version, --options, --set name[=value], -q/--quiet, -v/--verbose,
 * -m/--mode, -s/--scripts, --[no-]anticache, --[no-]anticomp, --[no-]showhost, -r/--rfile,
 * -w/--save-stream-file, --listen-host, -p/--listen-port, -n/--no-server, --server,
 * -k/--ssl-insecure, --no-ssl-insecure; dump only: --flow-detail and positional filter
 * words (the first positional takes every later argument, as argparse's REMAINDER does;
 * a "--" ends the flags and is dropped). Accepted forms: "--flag value", "--flag=value",
 * a unique prefix of a long flag, "-p 8080", "-p8080", "-p=8080", clusters ("-nk").
 * On -h parsing stops at once (show_help set, o left as it was).
 *
 * cli is overwritten (free it with mitm_cli_free whatever the result). Returns 0, or -1
 * with an argparse-style message in err: "unrecognized arguments: --foo",
 * "argument -p/--listen-port: invalid int value: 'x'", "argument -p/--listen-port:
 * expected one argument", "argument --no-anticache: not allowed with argument
 * --anticache", "ambiguous option: --s could match ...", or an options error ("Unknown
 * option: x", "Error reading PATH: ..."). After an error o may be partly updated. */
int mitm_cli_parse(int argc, char **argv, struct mitm_options *o, struct mitm_cli *cli, char *err,
                   size_t errlen);

/* Free what cli owns; cli can be parsed into again. */
void mitm_cli_free(struct mitm_cli *cli);

/* Write the -h text for cli->tool: a usage line and every flag with its help, grouped
 * like mitmproxy's. */
void mitm_cli_usage(const struct mitm_cli *cli, FILE *out);

/* Write "Mitmc: VERSION\nOpenSSL: ...\nlibuv: ...\nPlatform: SYSNAME-RELEASE-MACHINE\n". */
void mitm_cli_version(FILE *out);

#endif
