#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui/cli.h"

static struct mitm_options o;
static struct mitm_cli cli;
static char err[512];

static void setup(void)
{
    /* No ~/.mitmproxy/config.yaml may leak into the tests. */
    setenv("HOME", "/nonexistent/mitmc-test-home", 1);
    memset(&o, 0, sizeof(o));
    memset(&cli, 0, sizeof(cli));
    mitm_options_init(&o);
}

static void teardown(void)
{
    mitm_cli_free(&cli);
    mitm_options_free(&o);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* Parse a NULL-terminated argument list (argv[0] included). */
#define PARSE(...) parse((const char *[]){__VA_ARGS__, NULL})

static int parse(const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    mitm_cli_free(&cli);
    err[0] = 0;
    return mitm_cli_parse(argc, (char **)args, &o, &cli, err, sizeof(err));
}

Test(cli, tool_selection)
{
    cr_assert_eq(PARSE("mitmc"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_CONSOLE);
    cr_assert_eq(PARSE("mitmc", "dump"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_DUMP);
    cr_assert_null(cli.filter);
    cr_assert_eq(PARSE("./mitmc", "web", "-p", "1"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_WEB);
    cr_assert_eq(o.listen_port, 1);
    cr_assert_eq(PARSE("/usr/bin/mitmdump", "-n"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_DUMP);
    cr_assert_eq(PARSE("mitmweb"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_WEB);
    cr_assert_eq(PARSE("mitmdump", "dump"), 0);
    cr_assert_eq(cli.tool, MITM_TOOL_DUMP);
    cr_assert_str_eq(cli.filter, "dump", "with argv[0] mitmdump, 'dump' is a filter word");
    cr_assert_eq(PARSE("mitmc", "-p", "3", "dump"), -1, "the tool word must come first");
    cr_assert_str_eq(err, "unrecognized arguments: dump");
}

Test(cli, set_then_yaml_then_flags)
{
    cr_assert_eq(PARSE("mitmc", "--set", "listen_port=1", "-p", "2"), 0, "%s", err);
    cr_assert_eq(o.listen_port, 2);
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "-p", "2", "--set", "listen_port=1"), 0, "%s", err);
    cr_assert_eq(o.listen_port, 2, "dedicated flags win over --set whatever the order");
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "--set", "listen_port=1"), 0);
    cr_assert_eq(o.listen_port, 1);
}

Test(cli, yaml_in_confdir)
{
    char dir[] = "/tmp/mitmc-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *path, *confset;
    cr_assert(asprintf(&path, "%s/config.yaml", dir) > 0);
    cr_assert(asprintf(&confset, "confdir=%s", dir) > 0);
    FILE *f = fopen(path, "w");
    fputs("listen_port: 5\nanticache: true\nflow_detail: 3\nsome_future_option: 1\n", f);
    fclose(f);

    cr_assert_eq(PARSE("mitmc", "dump", "--set", confset, "--set", "listen_port=1", "-q"), 0, "%s", err);
    cr_assert_eq(o.listen_port, 5, "config.yaml is read after --set");
    cr_assert(o.anticache);
    cr_assert_eq(o.flow_detail, 0, "-q is applied after config.yaml");

    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "dump", "--set", confset, "-p", "7", "--no-anticache", "--flow-detail=2"), 0,
                 "%s", err);
    cr_assert_eq(o.listen_port, 7);
    cr_assert_not(o.anticache);
    cr_assert_eq(o.flow_detail, 2);

    f = fopen(path, "w");
    fputs("listen_port: [1]\n", f);
    fclose(f);
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "--set", confset), -1);
    cr_assert(strstr(err, path) && strstr(err, "listen_port"), "%s", err);

    unlink(path);
    rmdir(dir);
    free(path);
    free(confset);
}

Test(cli, set_forms_and_grouping)
{
    cr_assert_eq(PARSE("mitmc", "--set=anticache", "--set", "showhost=true", "--set=termlog_verbosity=warn"),
                 0, "%s", err);
    cr_assert(o.anticache);
    cr_assert(o.showhost);
    cr_assert_str_eq(o.termlog_verbosity, "warn");
    cr_assert_eq(PARSE("mitmc", "--set", "anticache=false", "--set", "anticache"), 0, "%s", err);
    cr_assert_not(o.anticache, "mitmproxy groups specs per option: the bare one adds no value");
    cr_assert_eq(PARSE("mitmc", "--set", "listen_port=1", "--set", "listen_port=2"), -1);
    cr_assert_str_eq(err, "Received multiple values for listen_port: 1, 2");
    cr_assert_eq(PARSE("mitmc", "--set", "nope=1"), -1);
    cr_assert_str_eq(err, "Unknown option: nope");
    cr_assert_eq(PARSE("mitmc", "--set", "flow_detail=x"), -1);
    cr_assert_str_eq(err, "Failed to parse option flow_detail: not an integer: x");
    cr_assert_eq(PARSE("mitmc", "--set"), -1);
    cr_assert_str_eq(err, "argument --set: expected one argument");
}

Test(cli, set_list_options)
{
    cr_assert_eq(PARSE("mitmc", "--set", "mode=socks5"), 0, "%s", err);
    cr_assert_eq(o.mode.n, 1, "--set gives a list exactly its values");
    cr_assert_str_eq(o.mode.v[0], "socks5");
    cr_assert_eq(PARSE("mitmc", "--set", "mode=a", "--set", "listen_port=3", "--set", "mode=b"), 0, "%s",
                 err);
    cr_assert_eq(o.mode.n, 2);
    cr_assert_str_eq(o.mode.v[0], "a");
    cr_assert_str_eq(o.mode.v[1], "b");
    cr_assert_eq(PARSE("mitmc", "--set", "mode"), 0);
    cr_assert_eq(o.mode.n, 0, "a bare list --set empties it");
}

Test(cli, mode_flag_replaces_default_then_appends)
{
    cr_assert_eq(PARSE("mitmc", "--set", "mode=x", "-m", "socks5", "--mode", "upstream:http://u:3128",
                       "--mode=reverse:http://r"),
                 0, "%s", err);
    cr_assert_eq(o.mode.n, 3);
    cr_assert_str_eq(o.mode.v[0], "socks5");
    cr_assert_str_eq(o.mode.v[1], "upstream:http://u:3128");
    cr_assert_str_eq(o.mode.v[2], "reverse:http://r");
}

Test(cli, value_forms)
{
    cr_assert_eq(PARSE("mitmc", "-p8080"), 0);
    cr_assert_eq(o.listen_port, 8080);
    cr_assert_eq(PARSE("mitmc", "-p=8081"), 0);
    cr_assert_eq(o.listen_port, 8081);
    cr_assert_eq(PARSE("mitmc", "--listen-port=8082"), 0);
    cr_assert_eq(o.listen_port, 8082);
    cr_assert_eq(PARSE("mitmc", "--listen-port", "8083", "--listen-host", "::1"), 0);
    cr_assert_eq(o.listen_port, 8083);
    cr_assert_str_eq(o.listen_host, "::1");
    cr_assert_eq(PARSE("mitmc", "--listen-p", "9"), 0, "a unique prefix is accepted");
    cr_assert_eq(o.listen_port, 9);
    cr_assert_eq(PARSE("mitmc", "-p", "-1"), 0, "a negative number is a value");
    cr_assert_eq(o.listen_port, -1);
    cr_assert_eq(PARSE("mitmc", "-w", "out.mitm", "-r", "-"), 0);
    cr_assert_str_eq(o.save_stream_file, "out.mitm");
    cr_assert_str_eq(o.rfile, "-", "\"-\" alone is a value (stdin)");
    cr_assert_eq(PARSE("mitmc", "--save-stream-file=+a.mitm", "--rfile", "b.mitm"), 0);
    cr_assert_str_eq(o.save_stream_file, "+a.mitm");
    cr_assert_str_eq(o.rfile, "b.mitm");
    cr_assert_eq(PARSE("mitmc", "-p", "1", "-p", "2"), 0);
    cr_assert_eq(o.listen_port, 2, "the last one wins");
}

Test(cli, value_errors)
{
    cr_assert_eq(PARSE("mitmc", "-p", "x"), -1);
    cr_assert_str_eq(err, "argument -p/--listen-port: invalid int value: 'x'");
    cr_assert_eq(PARSE("mitmc", "--listen-port=8o"), -1);
    cr_assert_str_eq(err, "argument -p/--listen-port: invalid int value: '8o'");
    cr_assert_eq(PARSE("mitmc", "-p"), -1);
    cr_assert_str_eq(err, "argument -p/--listen-port: expected one argument");
    cr_assert_eq(PARSE("mitmc", "-p", "-q"), -1);
    cr_assert_str_eq(err, "argument -p/--listen-port: expected one argument");
    cr_assert_eq(PARSE("mitmc", "dump", "--flow-detail", "lots"), -1);
    cr_assert_str_eq(err, "argument --flow-detail: invalid int value: 'lots'");
    cr_assert_eq(PARSE("mitmc", "--list", "9"), -1);
    cr_assert_str_eq(err, "ambiguous option: --list could match --listen-host, --listen-port");
    cr_assert_eq(PARSE("mitmc", "--foo", "--bar=1"), -1);
    cr_assert_str_eq(err, "unrecognized arguments: --foo --bar=1");
    cr_assert_eq(PARSE("mitmc", "~q"), -1, "only dump takes positional words");
    cr_assert_str_eq(err, "unrecognized arguments: ~q");
    cr_assert_eq(PARSE("mitmc", "--flow-detail", "3"), -1, "--flow-detail is dump only");
    cr_assert_str_eq(err, "unrecognized arguments: --flow-detail 3");
    cr_assert_eq(PARSE("mitmc", "-x"), -1);
    cr_assert_str_eq(err, "unrecognized arguments: -x");
    cr_assert_eq(PARSE("mitmc", "-nx"), -1);
    cr_assert_str_eq(err, "argument -n/--no-server: ignored explicit argument 'x'");
    cr_assert_eq(PARSE("mitmc", "--anticache=1"), -1);
    cr_assert_str_eq(err, "argument --anticache: ignored explicit argument '1'");
}

Test(cli, bool_pairs)
{
    cr_assert_eq(PARSE("mitmc", "--anticache", "--anticomp", "--showhost", "-k"), 0, "%s", err);
    cr_assert(o.anticache && o.anticomp && o.showhost && o.ssl_insecure);
    cr_assert_eq(PARSE("mitmc", "--no-anticache", "--no-anticomp", "--no-showhost", "--no-ssl-insecure"), 0);
    cr_assert(!o.anticache && !o.anticomp && !o.showhost && !o.ssl_insecure);
    cr_assert_eq(PARSE("mitmc", "-n"), 0);
    cr_assert_not(o.server);
    cr_assert_eq(PARSE("mitmc", "--server"), 0);
    cr_assert(o.server);
    cr_assert_eq(PARSE("mitmc", "--no-server", "--ssl-insecure"), 0);
    cr_assert(!o.server && o.ssl_insecure);
    cr_assert_eq(PARSE("mitmc", "--anticache", "--anticache"), 0, "the same flag twice is fine");
    cr_assert_eq(PARSE("mitmc", "--anticache", "--no-anticache"), -1);
    cr_assert_str_eq(err, "argument --no-anticache: not allowed with argument --anticache");
    cr_assert_eq(PARSE("mitmc", "-n", "--server"), -1);
    cr_assert_str_eq(err, "argument --server: not allowed with argument -n/--no-server");
}

Test(cli, short_clusters)
{
    cr_assert_eq(PARSE("mitmc", "-nkq"), 0, "%s", err);
    cr_assert(!o.server && o.ssl_insecure);
    cr_assert_str_eq(o.termlog_verbosity, "error");
    cr_assert_eq(PARSE("mitmc", "-np", "8080"), 0, "%s", err);
    cr_assert_eq(o.listen_port, 8080);
    cr_assert_eq(PARSE("mitmc", "-kp9090"), 0, "%s", err);
    cr_assert_eq(o.listen_port, 9090);
    cr_assert_eq(PARSE("mitmc", "-nr", "in.mitm"), 0, "%s", err);
    cr_assert_str_eq(o.rfile, "in.mitm");
}

Test(cli, quiet_verbose_options)
{
    cr_assert_eq(PARSE("mitmc", "dump", "-q", "--flow-detail", "3"), 0);
    cr_assert_str_eq(o.termlog_verbosity, "error");
    cr_assert_eq(o.flow_detail, 0, "-q wins over --flow-detail, as in mitmproxy");
    cr_assert_eq(PARSE("mitmc", "dump", "-v", "-q"), 0);
    cr_assert_str_eq(o.termlog_verbosity, "debug");
    cr_assert_eq(o.flow_detail, 2, "-v wins over -q");
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "--verbose"), 0);
    cr_assert_str_eq(o.termlog_verbosity, "debug");
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "--options"), 0);
    cr_assert(cli.show_options);
    cr_assert_str_eq(o.termlog_verbosity, "error");
    cr_assert_eq(PARSE("mitmc", "--version"), 0);
    cr_assert(cli.show_version);
    cr_assert_not(cli.show_options);
}

Test(cli, help_stops_parsing)
{
    cr_assert_eq(PARSE("mitmc", "-h"), 0);
    cr_assert(cli.show_help);
    cr_assert_eq(PARSE("mitmc", "--foo", "-p", "5", "--help", "-p", "x"), 0);
    cr_assert(cli.show_help);
    cr_assert_eq(o.listen_port, MITM_OPT_NONE, "nothing is applied on -h");
    cr_assert_eq(PARSE("mitmc", "--he"), 0);
    cr_assert(cli.show_help);
}

Test(cli, dump_filter_words)
{
    cr_assert_eq(PARSE("mitmc", "dump", "-n", "~d", "example.com", "&", "!~s", "-p", "1"), 0, "%s", err);
    cr_assert_str_eq(cli.filter, "~d example.com & !~s -p 1", "everything after the first word is filter");
    cr_assert_not(o.server);
    cr_assert_eq(o.listen_port, MITM_OPT_NONE);
    cr_assert_eq(PARSE("mitmc", "dump", "--", "-x", "y"), 0);
    cr_assert_str_eq(cli.filter, "-x y", "\"--\" ends the flags");
    cr_assert_eq(PARSE("mitmc", "dump", "-w", "out", "~q"), 0);
    cr_assert_str_eq(cli.filter, "~q");
    cr_assert_str_eq(o.save_stream_file, "out");
}

static char *capture(void (*fn)(FILE *, const struct mitm_cli *), const struct mitm_cli *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fn(f, c);
    fclose(f);
    return text;
}

static void usage_fn(FILE *f, const struct mitm_cli *c)
{
    mitm_cli_usage(c, f);
}

static void version_fn(FILE *f, const struct mitm_cli *c)
{
    (void)c;
    mitm_cli_version(f);
}

Test(cli, usage_text)
{
    struct mitm_cli d = {.tool = MITM_TOOL_DUMP};
    char *t = capture(usage_fn, &d);
    cr_assert(strncmp(t, "usage: mitmc dump [options] [filter]\n", 37) == 0, "%s", t);
    cr_assert(strstr(t, "\n  -h, --help            show this help message and exit\n"), "%s", t);
    cr_assert(strstr(t, "\n  -p PORT, --listen-port PORT\n                        Port to bind proxy"), "%s",
              t);
    cr_assert(strstr(t, "\n  --flow-detail LEVEL   The display detail level"), "%s", t);
    cr_assert(strstr(t, "\n  -m MODE, --mode MODE  The proxy server type(s)"), "%s", t);
    cr_assert(strstr(t, "May be passed multiple times."));
    cr_assert(strstr(t, "\n  -n, --no-server\n  --server              Start a proxy server."), "%s", t);
    cr_assert(strstr(t, "\nProxy Options:\n"));
    cr_assert(strstr(t, "\n  filter  "));
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        cr_assert_leq(nl - line, 78, "%.*s", (int)(nl - line), line);
        line = nl + 1;
    }
    free(t);
    struct mitm_cli c = {.tool = MITM_TOOL_CONSOLE};
    t = capture(usage_fn, &c);
    cr_assert(strncmp(t, "usage: mitmc [options]\n", 23) == 0);
    cr_assert_null(strstr(t, "--flow-detail"));
    cr_assert_null(strstr(t, "filter  "));
    cr_assert(strstr(t, "--ssl-insecure"));
    free(t);
}

Test(cli, version_text)
{
    char *t = capture(version_fn, NULL);
    cr_assert(strncmp(t, "Mitmc: " MITM_VERSION "\nOpenSSL: OpenSSL 3.", 7 + strlen(MITM_VERSION) + 18) == 0,
              "%s", t);
    cr_assert(strstr(t, "\nlibuv: 1."), "%s", t);
    cr_assert(strstr(t, "\nPlatform: Linux-"), "%s", t);
    free(t);
}

Test(cli, replay_flags)
{
    cr_assert_eq(PARSE("mitmc", "dump", "-C", "a.mitm", "--client-replay", "b.mitm", "-S", "c.mitm",
                       "--server-replay-extra", "404", "--server-replay-kill-extra", "--server-replay-reuse",
                       "--no-server-replay-refresh"),
                 0, "%s", err);
    cr_assert_eq(o.client_replay.n, 2);
    cr_assert_str_eq(o.client_replay.v[0], "a.mitm");
    cr_assert_str_eq(o.client_replay.v[1], "b.mitm");
    cr_assert_eq(o.server_replay.n, 1);
    cr_assert_str_eq(o.server_replay.v[0], "c.mitm");
    cr_assert_str_eq(o.server_replay_extra, "404");
    cr_assert(o.server_replay_kill_extra && o.server_replay_reuse);
    cr_assert_not(o.server_replay_refresh);
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "-nS", "x", "-S", "y"), 0, "%s", err);
    cr_assert_eq(o.server_replay.n, 2, "-S appends");
    cr_assert(o.server_replay_refresh, "refresh is on by default");
    cr_assert_str_eq(o.server_replay_extra, "forward");
    cr_assert_eq(PARSE("mitmc", "--server-replay-extra", "drop"), -1);
    cr_assert(strstr(err, "server_replay_extra"), "%s", err);
    cr_assert_eq(PARSE("mitmc", "--server-replay-reuse", "--no-server-replay-reuse"), -1);
    cr_assert_str_eq(err,
                     "argument --no-server-replay-reuse: not allowed with argument --server-replay-reuse");
    struct mitm_cli d = {.tool = MITM_TOOL_DUMP};
    char *t = capture(usage_fn, &d);
    cr_assert(strstr(t, "\nClient Replay:\n  -C PATH, --client-replay PATH\n"), "%s", t);
    cr_assert(strstr(t, "\nServer Replay:\n  -S PATH, --server-replay PATH\n"), "%s", t);
    cr_assert(strstr(t, "\n  --server-replay-extra {forward,kill,204,400,404,500}\n"), "%s", t);
    free(t);
}

Test(cli, scripts_and_deferred_options)
{
    cr_assert_eq(PARSE("mitmc", "dump", "-s", "a.lua", "--scripts", "b.lua", "--set", "mine=1", "--set",
                       "mine=2", "--set", "anticache"),
                 0, "%s", err);
    cr_assert_eq(o.scripts.n, 2);
    cr_assert_str_eq(o.scripts.v[1], "b.lua");
    cr_assert(o.anticache);
    cr_assert_eq(cli.ndeferred, 2, "options no table row names wait for the scripts");
    cr_assert_str_eq(cli.deferred[0], "mine=1");
    cr_assert_str_eq(cli.deferred[1], "mine=2");
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "dump", "--set", "mine=1"), -1);
    cr_assert_str_eq(err, "Unknown option: mine", "without a script nothing can define it");
}

Test(cli, commands_flag)
{
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "--commands"), 0, "%s", err);
    cr_assert(cli.show_commands);
    cr_assert_not(cli.show_options);
    cr_assert_eq(cli.tool, MITM_TOOL_CONSOLE);
    cr_assert_str_eq(o.termlog_verbosity, "error", "--commands quiets startup logging, as mitmproxy");
    cr_assert_eq(o.flow_detail, 0);
    mitm_options_init(&o);
    cr_assert_eq(PARSE("mitmc", "dump", "--commands", "-v"), 0, "%s", err);
    cr_assert(cli.show_commands);
    cr_assert_eq(cli.tool, MITM_TOOL_DUMP);
    cr_assert_str_eq(o.termlog_verbosity, "debug", "-v wins");
    cr_assert_eq(PARSE("mitmc", "--version"), 0);
    cr_assert_not(cli.show_commands);
    struct mitm_cli d = {.tool = MITM_TOOL_DUMP};
    char *t = capture(usage_fn, &d);
    cr_assert(strstr(t, "\n  --commands            Show all commands and their signatures\n"), "%s", t);
    free(t);
}

/* mitmweb's flags (tools/cmdline.py common_options + mitmweb): web tool only. */
Test(cli, web_flags)
{
    cr_assert_eq(o.web_port, 8081);
    cr_assert_str_eq(o.web_host, "127.0.0.1");
    cr_assert(o.web_open_browser);
    cr_assert_eq(
        PARSE("mitmc", "web", "--web-port", "9001", "--web-host", "0.0.0.0", "--no-web-open-browser"), 0,
        "%s", err);
    cr_assert_eq(o.web_port, 9001);
    cr_assert_str_eq(o.web_host, "0.0.0.0");
    cr_assert_not(o.web_open_browser);
    cr_assert_eq(PARSE("mitmweb", "--web-open-browser"), 0, "%s", err);
    cr_assert(o.web_open_browser);
    cr_assert_eq(PARSE("mitmc", "dump", "--web-port", "1"), -1, "mitmdump has no web flags");
    cr_assert_eq(PARSE("mitmc", "--set", "web_password=$argon2id$x"), 0, "%s", err);
    cr_assert_str_eq(o.web_password, "$argon2id$x");
}
