#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/options.h"
#include "base/log.h"

static struct mitm_options o;
static char err[512];

static void setup(void)
{
    memset(&o, 0, sizeof(o));
    mitm_options_init(&o);
    err[0] = 0;
}

static void teardown(void)
{
    mitm_options_free(&o);
}

TestSuite(options, .init = setup, .fini = teardown);

static int set(const char *name, const char *value)
{
    err[0] = 0;
    return mitm_options_set(&o, name, value, err, sizeof(err));
}

static int yaml(const char *text)
{
    err[0] = 0;
    return mitm_options_load_yaml_string(&o, text, strlen(text), "cfg.yaml", err, sizeof(err));
}

static char *dump(const struct mitm_options *opts)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    mitm_options_dump(opts, f);
    fclose(f);
    return text;
}

Test(options, defaults_from_table)
{
    cr_assert_str_eq(o.confdir, "~/.mitmproxy");
    cr_assert_eq(o.mode.n, 1);
    cr_assert_str_eq(o.mode.v[0], "regular");
    cr_assert_str_eq(o.listen_host, "");
    cr_assert_eq(o.listen_port, MITM_OPT_NONE);
    cr_assert(o.server);
    cr_assert(o.block_global);
    cr_assert_not(o.block_private);
    cr_assert_null(o.body_size_limit);
    cr_assert_str_eq(o.body_buffer_limit, "64m");
    cr_assert_eq(o.flow_detail, 1);
    cr_assert_str_eq(o.termlog_verbosity, "info");
    cr_assert_null(o.rfile);
    cr_assert_null(o.save_stream_file);
    cr_assert_not(o.ssl_insecure);
    cr_assert_eq(o.connect_timeout, 30);
}

Test(options, reinit_resets_and_frees)
{
    cr_assert_eq(set("mode", "socks5"), 0);
    cr_assert_eq(set("rfile", "x.mitm"), 0);
    cr_assert_eq(set("listen_host", "::1"), 0);
    mitm_options_init(&o); /* frees the old strings (ASan would report a leak otherwise) */
    cr_assert_eq(o.mode.n, 1);
    cr_assert_null(o.rfile);
    cr_assert_str_eq(o.listen_host, "");
}

Test(options, global_instance)
{
    mitm_options_init(&mitm_options);
    cr_assert_eq(mitm_options.flow_detail, 1);
    mitm_options_free(&mitm_options);
    cr_assert_null(mitm_options.confdir);
}

Test(options, set_bool)
{
    cr_assert_eq(set("anticache", NULL), 0);
    cr_assert(o.anticache);
    cr_assert_eq(set("anticache", "false"), 0);
    cr_assert_not(o.anticache);
    cr_assert_eq(set("anticache", "toggle"), 0);
    cr_assert(o.anticache);
    cr_assert_eq(set("anticache", "toggle"), 0);
    cr_assert_not(o.anticache);
    cr_assert_eq(set("anticache", ""), 0, "an empty value is a synonym for true");
    cr_assert(o.anticache);
    cr_assert_eq(set("server", "true"), 0);
    cr_assert(o.server);
    cr_assert_eq(set("server", "yes"), -1);
    cr_assert_str_eq(err, "Failed to parse option server: boolean must be \"true\", \"false\", or have the "
                          "value omitted (a synonym for \"true\").");
    cr_assert_eq(set("server", "TRUE"), -1, "mitmproxy compares case-sensitively");
    cr_assert(o.server);
}

Test(options, set_int)
{
    cr_assert_eq(set("flow_detail", "3"), 0);
    cr_assert_eq(o.flow_detail, 3);
    cr_assert_eq(set("connect_timeout", "-5"), 0);
    cr_assert_eq(o.connect_timeout, -5);
    cr_assert_eq(set("flow_detail", "+4"), 0);
    cr_assert_eq(o.flow_detail, 4);
    cr_assert_eq(set("flow_detail", "x"), -1);
    cr_assert_str_eq(err, "Failed to parse option flow_detail: not an integer: x");
    cr_assert_eq(set("flow_detail", "3.0"), -1);
    cr_assert_eq(set("flow_detail", "99999999999999999999"), -1, "overflow is an error");
    cr_assert_eq(set("flow_detail", NULL), -1);
    cr_assert_str_eq(err, "Option is required: flow_detail");
    cr_assert_eq(set("flow_detail", ""), -1);
    cr_assert_eq(o.flow_detail, 4, "failed sets leave the value alone");
}

Test(options, set_optional_int)
{
    cr_assert_eq(set("listen_port", "8080"), 0);
    cr_assert_eq(o.listen_port, 8080);
    cr_assert_eq(set("listen_port", ""), 0);
    cr_assert_eq(o.listen_port, MITM_OPT_NONE);
    cr_assert_eq(set("listen_port", "1"), 0);
    cr_assert_eq(set("listen_port", NULL), 0);
    cr_assert_eq(o.listen_port, MITM_OPT_NONE);
    cr_assert_eq(set("listen_port", "80 "), -1);
}

Test(options, set_str_and_choices)
{
    cr_assert_eq(set("listen_host", "127.0.0.1"), 0);
    cr_assert_str_eq(o.listen_host, "127.0.0.1");
    cr_assert_eq(set("listen_host", ""), 0, "a str may be empty");
    cr_assert_str_eq(o.listen_host, "");
    cr_assert_eq(set("listen_host", NULL), -1);
    cr_assert_str_eq(err, "Option is required: listen_host");
    cr_assert_eq(set("termlog_verbosity", "debug"), 0);
    cr_assert_str_eq(o.termlog_verbosity, "debug");
    cr_assert_eq(set("termlog_verbosity", "loud"), -1);
    cr_assert_str_eq(err, "Failed to parse option termlog_verbosity: invalid choice: 'loud' (choose from "
                          "'error', 'warn', 'info', 'alert', 'debug')");
    cr_assert_eq(set("termlog_verbosity", "debu"), -1, "a prefix of a choice is not a choice");
    cr_assert_eq(set("termlog_verbosity", "debugx"), -1);
    cr_assert_str_eq(o.termlog_verbosity, "debug");
}

Test(options, set_optional_str)
{
    cr_assert_eq(set("rfile", "in.mitm"), 0);
    cr_assert_str_eq(o.rfile, "in.mitm");
    cr_assert_eq(set("rfile", ""), 0);
    cr_assert_null(o.rfile);
    cr_assert_eq(set("save_stream_file", "+out.mitm"), 0);
    cr_assert_str_eq(o.save_stream_file, "+out.mitm");
    cr_assert_eq(set("save_stream_file", NULL), 0);
    cr_assert_null(o.save_stream_file);
}

Test(options, set_size)
{
    cr_assert_eq(set("body_size_limit", "3m"), 0);
    cr_assert_str_eq(o.body_size_limit, "3m");
    cr_assert_eq(set("body_size_limit", "3x"), -1);
    cr_assert_str_eq(err, "Failed to parse option body_size_limit: invalid size specification: 3x");
    cr_assert_str_eq(o.body_size_limit, "3m");
    cr_assert_eq(set("body_size_limit", ""), 0);
    cr_assert_null(o.body_size_limit);
    cr_assert_eq(set("http_max_line_size", "1K"), 0);
    cr_assert_eq(mitm_options_size(o.http_max_line_size), 1024);
}

Test(options, set_list)
{
    cr_assert_eq(set("mode", "socks5"), 0);
    cr_assert_eq(o.mode.n, 2, "set appends");
    cr_assert_str_eq(o.mode.v[1], "socks5");
    cr_assert_eq(set("mode", NULL), 0);
    cr_assert_eq(o.mode.n, 0, "no value empties");
    cr_assert_eq(set("mode", ""), 0);
    cr_assert_eq(o.mode.n, 1);
    cr_assert_str_eq(o.mode.v[0], "");
}

Test(options, set_unknown)
{
    cr_assert_eq(set("nope", "1"), -1);
    cr_assert_str_eq(err, "Unknown option: nope");
    cr_assert_eq(mitm_options_set(&o, "nope", NULL, NULL, 0), -1, "err may be NULL");
}

Test(options, size_parse)
{
    cr_assert_eq(mitm_options_size("0"), 0);
    cr_assert_eq(mitm_options_size("1024"), 1024);
    cr_assert_eq(mitm_options_size("+7"), 7);
    cr_assert_eq(mitm_options_size("1b"), 1);
    cr_assert_eq(mitm_options_size("1k"), 1024);
    cr_assert_eq(mitm_options_size("1K"), 1024);
    cr_assert_eq(mitm_options_size("3m"), 3 * 1024 * 1024);
    cr_assert_eq(mitm_options_size("2G"), 2LL * 1024 * 1024 * 1024);
    cr_assert_eq(mitm_options_size("1t"), 1LL << 40);
    cr_assert_eq(mitm_options_size("8589934591g"), 8589934591LL << 30);
    cr_assert_eq(mitm_options_size("8589934592g"), -1, "2^63 overflows");
    cr_assert_eq(mitm_options_size("99999999999999999999"), -1);
    cr_assert_eq(mitm_options_size(NULL), -1);
    cr_assert_eq(mitm_options_size(""), -1);
    cr_assert_eq(mitm_options_size("k"), -1);
    cr_assert_eq(mitm_options_size("+"), -1);
    cr_assert_eq(mitm_options_size("-1"), -1);
    cr_assert_eq(mitm_options_size("1.5k"), -1);
    cr_assert_eq(mitm_options_size("1kb"), -1);
    cr_assert_eq(mitm_options_size("1 k"), -1);
    cr_assert_eq(mitm_options_size("1x"), -1);
}

Test(options, info_table)
{
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    cr_assert_gt(n, 20);
    cr_assert_str_eq(all[0].name, "confdir");
    const struct mitm_opt_info *in = mitm_options_info("listen_port");
    cr_assert_not_null(in);
    cr_assert_eq(in->type, MITM_OPT_TYPE_OPT_INT);
    cr_assert_null(mitm_options_info("listen_por"));
    cr_assert_str_eq(mitm_options_info("termlog_verbosity")->choices, "error|warn|info|alert|debug");
    cr_assert_str_eq(mitm_options_type_name(MITM_OPT_TYPE_SIZE), "optional str");
    cr_assert_str_eq(mitm_options_type_name(MITM_OPT_TYPE_STRLIST), "sequence of str");
    cr_assert_str_eq(mitm_options_type_name(MITM_OPT_TYPE_OPT_INT), "optional int");
}

Test(options, copy_is_deep)
{
    struct mitm_options c;
    cr_assert_eq(set("rfile", "a"), 0);
    mitm_options_copy(&c, &o);
    cr_assert_eq(set("rfile", "b"), 0);
    cr_assert_eq(set("mode", "x"), 0);
    cr_assert_str_eq(c.rfile, "a");
    cr_assert_eq(c.mode.n, 1);
    cr_assert_neq(c.confdir, o.confdir);
    mitm_options_free(&c);
}

/* ---- YAML ---- */

Test(options, yaml_types)
{
    cr_assert_eq(yaml("anticache: true\n"
                      "server: False\n"
                      "listen_port: 8081\n"
                      "flow_detail: 3\n"
                      "listen_host: 127.0.0.1\n"
                      "termlog_verbosity: 'debug'\n"
                      "body_size_limit: 10k\n"
                      "stream_large_bodies: 1024\n"
                      "rfile: \"in.mitm\"\n"
                      "mode:\n  - socks5\n  - \"reverse:http://example.com\"\n"),
                 0, "%s", err);
    cr_assert(o.anticache);
    cr_assert_not(o.server);
    cr_assert_eq(o.listen_port, 8081);
    cr_assert_eq(o.flow_detail, 3);
    cr_assert_str_eq(o.listen_host, "127.0.0.1");
    cr_assert_str_eq(o.termlog_verbosity, "debug");
    cr_assert_str_eq(o.body_size_limit, "10k");
    cr_assert_str_eq(o.stream_large_bodies, "1024", "a plain int is accepted for a size");
    cr_assert_str_eq(o.rfile, "in.mitm");
    cr_assert_eq(o.mode.n, 2, "a YAML list replaces the list");
    cr_assert_str_eq(o.mode.v[0], "socks5");
    cr_assert_str_eq(o.mode.v[1], "reverse:http://example.com");
}

Test(options, yaml_nulls)
{
    cr_assert_eq(set("listen_port", "1"), 0);
    cr_assert_eq(set("rfile", "x"), 0);
    cr_assert_eq(yaml("listen_port:\nrfile: null\nmode: []\nbody_buffer_limit: ~\n"), 0, "%s", err);
    cr_assert_eq(o.listen_port, MITM_OPT_NONE);
    cr_assert_null(o.rfile);
    cr_assert_eq(o.mode.n, 0);
    cr_assert_null(o.body_buffer_limit);
}

Test(options, yaml_unknown_keys_are_skipped)
{
    mitm_log_set_level(MITM_LOG_ERROR); /* keep the warning out of the test output */
    cr_assert_eq(yaml("web_port: 8082\nanticomp: true\nconsole_mouse: false\nnested: {a: [1, 2]}\n"), 0, "%s",
                 err);
    cr_assert(o.anticomp);
    cr_assert_str_eq(err, "");
}

Test(options, yaml_bad_values_name_option_and_file)
{
    cr_assert_eq(yaml("anticache: true\nserver: 'true'\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Expected bool for server, but got str.");
    cr_assert_not(o.anticache, "the update is all-or-nothing");
    cr_assert_eq(yaml("listen_port: abc\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Expected optional int for listen_port, but got str.");
    cr_assert_eq(yaml("flow_detail: ~\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Expected int for flow_detail, but got null.");
    cr_assert_eq(yaml("flow_detail: 99999999999999999999\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Failed to parse option flow_detail: integer out of range: "
                          "99999999999999999999");
    cr_assert_eq(yaml("listen_host: [a]\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Expected str for listen_host, but got sequence.");
    cr_assert_eq(yaml("mode: [regular, [x]]\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Expected str items for mode, but got sequence.");
    cr_assert_eq(yaml("mode: {a: b}\n"), -1);
    cr_assert_eq(yaml("termlog_verbosity: chatty\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Failed to parse option termlog_verbosity: invalid choice: "
                          "'chatty' (choose from 'error', 'warn', 'info', 'alert', 'debug')");
    cr_assert_eq(yaml("body_size_limit: lots\n"), -1);
    cr_assert_eq(yaml("confdir: ~\n"), -1, "a str option cannot be None");
    cr_assert_eq(o.mode.n, 1);
    cr_assert_str_eq(o.termlog_verbosity, "info");
}

Test(options, yaml_documents)
{
    cr_assert_eq(yaml(""), 0);
    cr_assert_eq(yaml("\n# only a comment\n"), 0, "%s", err);
    cr_assert_eq(yaml("~\n"), 0);
    cr_assert_eq(yaml("---\n...\n"), 0, "%s", err);
    cr_assert_eq(yaml("just a string\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Config error - no keys found.");
    cr_assert_eq(yaml("- a\n- b\n"), -1);
    cr_assert_eq(yaml("anticache: true\nserver: [unclosed\n"), -1);
    cr_assert(strncmp(err, "Error reading cfg.yaml: Config error at line 3", 46) == 0, "%s", err);
    cr_assert_not(o.anticache);
    cr_assert_eq(yaml("a: \xff\xfe\n"), -1, "invalid UTF-8 is refused");
    cr_assert_eq(yaml("? [a, b]\n: c\n"), -1, "a non-scalar key");
}

Test(options, yaml_scalar_for_list_and_aliases)
{
    cr_assert_eq(yaml("mode: socks5\n"), 0, "%s", err);
    cr_assert_eq(o.mode.n, 1);
    cr_assert_str_eq(o.mode.v[0], "socks5");
    cr_assert_eq(yaml("listen_host: &h example.com\nmode: [*h, *h]\n"), 0, "%s", err);
    cr_assert_eq(o.mode.n, 2);
    cr_assert_str_eq(o.mode.v[1], "example.com");
}

Test(options, yaml_size_cap)
{
    size_t n = MITM_OPTIONS_YAML_MAX + 1;
    char *big = malloc(n);
    memset(big, '#', n);
    cr_assert_eq(mitm_options_load_yaml_string(&o, big, n, "big.yaml", err, sizeof(err)), -1);
    cr_assert(strstr(err, "larger than"));
    free(big);
}

static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path;
    cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(options, yaml_files_and_confdir)
{
    char dir[] = "/tmp/mitmc-opt-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(mitm_options_load_yaml(&o, dir, err, sizeof(err)), 0, "an empty confdir is fine");
    char *yml = write_file(dir, "config.yml", "flow_detail: 2\nlisten_port: 1\n");
    char *yaml_path = write_file(dir, "config.yaml", "flow_detail: 4\nanticache: true\n");
    cr_assert_eq(mitm_options_load_yaml(&o, dir, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(o.flow_detail, 2, "config.yml is read after config.yaml");
    cr_assert_eq(o.listen_port, 1);
    cr_assert(o.anticache);
    mitm_options_init(&o);
    cr_assert_eq(mitm_options_load_yaml(&o, yaml_path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(o.flow_detail, 4);
    char *missing;
    cr_assert(asprintf(&missing, "%s/nope.yaml", dir) > 0);
    cr_assert_eq(mitm_options_load_yaml(&o, missing, err, sizeof(err)), 0, "a missing file is not an error");
    char *bad = write_file(dir, "bad.yaml", "flow_detail: x\n");
    cr_assert_eq(mitm_options_load_yaml(&o, bad, err, sizeof(err)), -1);
    cr_assert(strstr(err, bad) && strstr(err, "flow_detail"), "%s", err);
    unlink(yml);
    unlink(yaml_path);
    unlink(bad);
    rmdir(dir);
    free(yml);
    free(yaml_path);
    free(bad);
    free(missing);
}

/* ---- --options ---- */

Test(options, dump_matches_mitmproxy_layout)
{
    char *text = dump(&o);
    /* These blocks are byte-for-byte what mitmproxy's --options prints for the same help. */
    cr_assert(strncmp(text, "\n# ", 3) == 0, "every block starts with a blank line");
    cr_assert(strstr(text, "\n# Strip out request headers that might cause the server to return\n"
                           "# 304-not-modified. Type bool.\nanticache: false\n"),
              "%s", text);
    cr_assert(strstr(text, "\n# Log verbosity. Valid values are 'error', 'warn', 'info', 'alert',\n"
                           "# 'debug'.\ntermlog_verbosity: info\n"));
    cr_assert(strstr(text, "\n# Location of the default mitmproxy configuration files. Type str.\n"
                           "confdir: ~/.mitmproxy\n"));
    cr_assert(strstr(text, "# suffixes, i.e. 3m for 3 megabytes. Type optional str.\nbody_size_limit:\n"));
    cr_assert(strstr(text, "Type optional int.\nlisten_port:\n"));
    cr_assert(strstr(text, "\nlisten_host: ''\n"));
    cr_assert(strstr(text, "Type sequence of str.\nmode:\n- regular\n"));
    cr_assert(strstr(text, "\nbody_buffer_limit: 64m\n"));
    cr_assert(strstr(text, "\nflow_detail: 1\n"));
    /* Sorted by name. */
    cr_assert_lt(strstr(text, "\nanticache:") - text, strstr(text, "\nanticomp:") - text);
    cr_assert_lt(strstr(text, "\nworkers:") - text, (long)strlen(text));
    cr_assert_lt(strstr(text, "\nvalidate_inbound_headers:") - text, strstr(text, "\nworkers:") - text);
    /* No comment line is wider than 72 ("# " + 70). */
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        if (line[0] == '#')
            cr_assert_leq(nl - line, 72, "%.*s", (int)(nl - line), line);
        line = nl + 1;
    }
    free(text);
}

Test(options, dump_wraps_hyphenated_words_like_textwrap)
{
    /* Python: textwrap.wrap("The display detail level ... very verbose). 0: no output; 1: ...") */
    char *text = dump(&o);
    cr_assert(strstr(text, "# The display detail level for flows in mitmdump: 0 (quiet) to 4 (very\n"
                           "# verbose). 0: no output; 1: shortened request URL with response status\n"),
              "%s", text);
    free(text);
}

Test(options, dump_lists_and_quoting_round_trip)
{
    cr_assert_eq(set("mode", NULL), 0);
    cr_assert_eq(set("listen_host", "a: b"), 0);
    cr_assert_eq(set("rfile", "it's"), 0);
    cr_assert_eq(set("save_stream_file", "line\nbreak\t\x01"), 0);
    cr_assert_eq(set("confdir", "true"), 0);
    cr_assert_eq(set("body_size_limit", "123"), 0);
    cr_assert_eq(set("listen_port", "-1"), 0);
    char *text = dump(&o);
    cr_assert(strstr(text, "\nmode: []\n"));
    cr_assert(strstr(text, "\nlisten_host: 'a: b'\n"));
    cr_assert(strstr(text, "\nrfile: it's\n"), "a quote inside a plain scalar is fine");
    cr_assert(strstr(text, "\nsave_stream_file: \"line\\nbreak\\t\\x01\"\n"), "%s", text);
    cr_assert(strstr(text, "\nconfdir: 'true'\n"));
    cr_assert(strstr(text, "\nbody_size_limit: '123'\n"));

    const char *tricky[] = {"#x",    "- x",  "-x",   "x #y", "x:",    " lead", "trail ", "~",
                            "null",  "1.5",  "0x1f", "é",    "[a]",   "@a",    "%",      "'q'",
                            "\"d\"", "a\\b", "yes",  ".inf", "12:30", "\x7f"};
    struct mitm_options back = {0};
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++)
        cr_assert_eq(set("mode", tricky[i]), 0);
    free(text);
    text = dump(&o);
    mitm_options_init(&back);
    cr_assert_eq(mitm_options_load_yaml_string(&back, text, strlen(text), "dump", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(back.listen_host, "a: b");
    cr_assert_str_eq(back.rfile, "it's");
    cr_assert_str_eq(back.save_stream_file, "line\nbreak\t\x01");
    cr_assert_str_eq(back.confdir, "true");
    cr_assert_str_eq(back.body_size_limit, "123");
    cr_assert_eq(back.listen_port, -1);
    cr_assert_eq(back.mode.n, sizeof(tricky) / sizeof(tricky[0]));
    for (size_t i = 0; i < back.mode.n; i++)
        cr_assert_str_eq(back.mode.v[i], tricky[i]);
    mitm_options_free(&back);
    free(text);
}

/* ---- confdir ---- */

Test(options, confdir_expansion)
{
    char *c;
    setenv("HOME", "/home/u/", 1);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "/home/u/.mitmproxy");
    free(c);
    cr_assert_eq(set("confdir", "~"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "/home/u");
    free(c);
    cr_assert_eq(set("confdir", "/etc/mitm"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "/etc/mitm");
    free(c);
    cr_assert_eq(set("confdir", "x/~"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "x/~");
    free(c);
    cr_assert_eq(set("confdir", "~root/conf"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "/root/conf");
    free(c);
    cr_assert_eq(set("confdir", "~no-such-user-mitmc/conf"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "~no-such-user-mitmc/conf", "an unknown user leaves the path as it is");
    free(c);
    setenv("HOME", "/", 1);
    cr_assert_eq(set("confdir", "~/"), 0);
    c = mitm_options_confdir(&o);
    cr_assert_str_eq(c, "/");
    free(c);
}

Test(options, yaml_single_document_and_nul)
{
    cr_assert_eq(yaml("---\nanticache: true\n---\nlisten_port: 1\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Config error - expected a single document");
    cr_assert_not(o.anticache);
    cr_assert_eq(yaml("---\nanticache: true\n...\n"), 0, "%s", err);
    cr_assert(o.anticache);
    cr_assert_eq(yaml("rfile: \"a\\0b\"\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Failed to parse option rfile: NUL character in value");
    cr_assert_eq(yaml("mode: [\"a\\0b\"]\n"), -1);
    cr_assert_str_eq(err, "Error reading cfg.yaml: Failed to parse option mode: NUL character in value");
    cr_assert_eq(o.mode.n, 1);
}
