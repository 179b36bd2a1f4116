/* mitmc: the console UI (`mitmc`, mitmproxy), `mitmc dump` (mitmdump) and `mitmc web` (mitmweb). */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>

#include "core/command.h"
#include "core/options.h"
#include "base/log.h"
#include "script/script.h"
#include "ui/cli.h"
#include "ui/commands.h"
#include "ui/master.h"
#include "ui/console/console.h"
#include "ui/dump/tool.h"
#include "ui/web/web.h"

/* --options: the defaults, with the options of the scripts given (mitmproxy loads them for
 * that). Returns the exit status. */
static int show_options(void)
{
    struct mitm_options defaults = {0};
    mitm_options_init(&defaults);
    int rc = 0;
    if (mitm_options.scripts.n) {
        int lvl = mitm_log_level_parse(mitm_options.termlog_verbosity);
        mitm_log_set_level(lvl < 0 ? MITM_LOG_ERROR : (enum mitm_log_level)lvl);
        struct mitm_script_config cfg = {&mitm_options, NULL};
        struct mitm_script_rt *rt = mitm_script_rt_new(&cfg);
        struct mitm_hook_env env = {.opts = &mitm_options, .worker = -1};
        for (size_t i = 0; i < mitm_options.scripts.n && rc == 0; i++)
            if (mitm_script_rt_load(rt, mitm_options.scripts.v[i], &env) < 0)
                rc = 1;
        if (rc == 0)
            mitm_script_rt_dump_options(rt, &defaults, stdout);
        mitm_script_rt_free(rt);
    } else {
        mitm_options_dump(&defaults, stdout);
    }
    mitm_options_free(&defaults);
    return rc;
}

/* --commands for mitmc dump and mitmc web: what their master registers (web: the
 * interactive commands of every UI, on a master that is never started), script.run and the
 * commands of the scripts given (loaded as for --options). Returns the exit status. */
static int show_tool_commands(const struct mitm_cli *cli, bool interactive)
{
    int lvl = mitm_log_level_parse(mitm_options.termlog_verbosity);
    mitm_log_set_level(lvl < 0 ? MITM_LOG_ERROR : (enum mitm_log_level)lvl);
    struct mitm_master m = {0};
    struct mitm_frontend fe = {.wants_flows = true, .interactive = interactive};
    mitm_master_init(&m, NULL, cli, &fe);
    struct mitm_script_config cfg = {&mitm_options, NULL};
    struct mitm_script_rt *rt = mitm_script_rt_new(&cfg);
    struct mitm_hook_env env = {.opts = &mitm_options, .worker = -1};
    char err[512];
    int rc = 0;
    if ((interactive && mitm_ui_commands_register(&m, err, sizeof(err)) < 0) ||
        mitm_script_rt_commands(rt, m.commands, &env, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        rc = 1;
    }
    for (size_t i = 0; i < mitm_options.scripts.n && rc == 0; i++)
        if (mitm_script_rt_load(rt, mitm_options.scripts.v[i], &env) < 0)
            rc = 1;
    if (rc == 0) {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        mitm_cmd_dump(m.commands, &b);
        fwrite(mitm_buf_data(&b), 1, b.len, stdout);
        mitm_buf_free(&b);
    }
    mitm_script_rt_free(rt);
    mitm_ui_commands_free(&m);
    mitm_cmd_registry_free(m.commands);
    return rc;
}

int main(int argc, char **argv)
{
    /* glibc raises its mmap threshold each time a large (mmapped) block is freed, up to
     * 32 MiB, so after the first flows 64 KiB bodies come from the heap, where a few
     * long-lived blocks between them keep it from shrinking: RSS grew by about one body
     * per flow (bench/memory). A fixed threshold keeps body-sized blocks in mmap. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Fixing that threshold leaves the trim threshold at 128 KiB: a streamed body's 64 KiB
     * pieces, freed at the top of a heap, gave the pages back (a TLB shootdown on every core)
     * and faulted them in again for the next piece, a fifth of a large download's CPU. Up
     * to 4 MiB of free heap top is kept. */
    mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    signal(SIGPIPE, SIG_IGN);
    struct mitm_cli cli = {0};
    char err[1024];
    mitm_options_init(&mitm_options);
    if (mitm_cli_parse(argc, argv, &mitm_options, &cli, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        mitm_cli_free(&cli);
        mitm_options_free(&mitm_options);
        return 2;
    }
    int rc = 0;
    if (cli.show_help) {
        mitm_cli_usage(&cli, stdout);
        rc = 1; /* as mitmproxy */
    } else if (cli.show_version) {
        mitm_cli_version(stdout);
    } else if (cli.show_options) {
        rc = show_options();
    } else if (cli.show_commands) {
        rc = cli.tool == MITM_TOOL_CONSOLE ? mitm_console_dump_commands(&cli, stdout)
                                           : show_tool_commands(&cli, cli.tool == MITM_TOOL_WEB);
    } else if (cli.tool == MITM_TOOL_CONSOLE) {
        rc = mitm_console_main(&cli);
    } else if (cli.tool == MITM_TOOL_WEB) {
        rc = mitm_web_main(&cli);
    } else {
        int lvl = mitm_log_level_parse(mitm_options.termlog_verbosity);
        mitm_log_set_level(lvl < 0 ? MITM_LOG_INFO : (enum mitm_log_level)lvl);
        rc = mitm_dump_main(&cli);
    }
    mitm_cli_free(&cli);
    mitm_options_free(&mitm_options);
    return rc;
}
