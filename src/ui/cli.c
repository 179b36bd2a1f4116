/* Command line parsing. The flag set and the error texts follow mitmproxy's argparse
 * parser (mitmproxy/tools/cmdline.py), the load order mitmproxy/tools/main.py:
 * --set, then config.yaml, then the dedicated flags. */
#include "ui/cli.h"
#include "base/err.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <uv.h>

#include "base/alloc.h"

enum kind {
    K_HELP,
    K_VERSION,
    K_OPTIONS,
    K_COMMANDS,
    K_SET,
    K_QUIET,
    K_VERBOSE,
    K_VALUE, /* option := argument (a list option: appended; the first use replaces) */
    K_ON,    /* bool option := true */
    K_OFF,   /* bool option := false */
};

#define T_ALL  0x7u
#define T_DUMP (1u << MITM_TOOL_DUMP)
#define T_WEB  (1u << MITM_TOOL_WEB)

struct flagdef {
    char shrt;       /* short flag letter, or 0 */
    const char *lng; /* long flag without "--" */
    enum kind kind;
    const char *option;  /* K_VALUE/K_ON/K_OFF: the option set */
    const char *metavar; /* takes an argument iff non-NULL */
    unsigned tools;      /* bit (1 << enum mitm_tool) for each tool that has it */
    const char *group;   /* heading of the help group this flag opens, or NULL */
    const char *help;    /* NULL: the option's help; "": none (the --no-x half of a pair) */
};

static const struct flagdef flags[] = {
    {'h', "help", K_HELP, NULL, NULL, T_ALL, "options", "show this help message and exit"},
    {0, "version", K_VERSION, NULL, NULL, T_ALL, NULL, "show version number and exit"},
    {0, "options", K_OPTIONS, NULL, NULL, T_ALL, NULL, "Show all options and their default values"},
    {0, "commands", K_COMMANDS, NULL, NULL, T_ALL, NULL, "Show all commands and their signatures"},
    {0, "set", K_SET, NULL, "option[=value]", T_ALL, NULL,
     "Set any option (see --options). Without a value a boolean becomes true, an optional string or "
     "integer becomes None, and a sequence is emptied; booleans also take true, false and toggle. Repeat "
     "--set to give a sequence several items."},
    {'q', "quiet", K_QUIET, NULL, NULL, T_ALL, NULL, "Quiet."},
    {'v', "verbose", K_VERBOSE, NULL, NULL, T_ALL, NULL, "Increase log verbosity."},
    {'m', "mode", K_VALUE, "mode", "MODE", T_ALL, NULL, NULL},
    {0, "no-anticache", K_OFF, "anticache", NULL, T_ALL, NULL, ""},
    {0, "anticache", K_ON, "anticache", NULL, T_ALL, NULL, NULL},
    {0, "no-showhost", K_OFF, "showhost", NULL, T_ALL, NULL, ""},
    {0, "showhost", K_ON, "showhost", NULL, T_ALL, NULL, NULL},
    {'r', "rfile", K_VALUE, "rfile", "PATH", T_ALL, NULL, NULL},
    {'s', "scripts", K_VALUE, "scripts", "SCRIPT", T_ALL, NULL, NULL},
    {0, "stickycookie", K_VALUE, "stickycookie", "FILTER", T_ALL, NULL, NULL},
    {0, "stickyauth", K_VALUE, "stickyauth", "FILTER", T_ALL, NULL, NULL},
    {'w', "save-stream-file", K_VALUE, "save_stream_file", "PATH", T_ALL, NULL, NULL},
    {0, "no-anticomp", K_OFF, "anticomp", NULL, T_ALL, NULL, ""},
    {0, "anticomp", K_ON, "anticomp", NULL, T_ALL, NULL, NULL},
    {0, "flow-detail", K_VALUE, "flow_detail", "LEVEL", T_DUMP, NULL, NULL},
    {0, "listen-host", K_VALUE, "listen_host", "HOST", T_ALL, "Proxy Options", NULL},
    {'p', "listen-port", K_VALUE, "listen_port", "PORT", T_ALL, NULL, NULL},
    {'n', "no-server", K_OFF, "server", NULL, T_ALL, NULL, ""},
    {0, "server", K_ON, "server", NULL, T_ALL, NULL, NULL},
    {0, "upstream-auth", K_VALUE, "upstream_auth", "USER:PASS", T_ALL, NULL, NULL},
    {0, "proxyauth", K_VALUE, "proxyauth", "SPEC", T_ALL, NULL, NULL},
    {0, "no-ssl-insecure", K_OFF, "ssl_insecure", NULL, T_ALL, "SSL", ""},
    {'k', "ssl-insecure", K_ON, "ssl_insecure", NULL, T_ALL, NULL, NULL},
    {0, "certs", K_VALUE, "certs", "SPEC", T_ALL, NULL, NULL},
    {0, "cert-passphrase", K_VALUE, "cert_passphrase", "PASS", T_ALL, NULL, NULL},
    {0, "ignore-hosts", K_VALUE, "ignore_hosts", "HOST", T_ALL, NULL, NULL},
    {0, "allow-hosts", K_VALUE, "allow_hosts", "HOST", T_ALL, NULL, NULL},
    {0, "tcp-hosts", K_VALUE, "tcp_hosts", "HOST", T_ALL, NULL, NULL},
    {0, "no-rawtcp", K_OFF, "rawtcp", NULL, T_ALL, NULL, ""},
    {0, "rawtcp", K_ON, "rawtcp", NULL, T_ALL, NULL, NULL},
    {0, "no-show-ignored-hosts", K_OFF, "show_ignored_hosts", NULL, T_ALL, NULL, ""},
    {0, "show-ignored-hosts", K_ON, "show_ignored_hosts", NULL, T_ALL, NULL, NULL},
    {'C', "client-replay", K_VALUE, "client_replay", "PATH", T_ALL, "Client Replay", NULL},
    {'S', "server-replay", K_VALUE, "server_replay", "PATH", T_ALL, "Server Replay", NULL},
    {0, "no-server-replay-kill-extra", K_OFF, "server_replay_kill_extra", NULL, T_ALL, NULL, ""},
    {0, "server-replay-kill-extra", K_ON, "server_replay_kill_extra", NULL, T_ALL, NULL, NULL},
    {0, "server-replay-extra", K_VALUE, "server_replay_extra", "{forward,kill,204,400,404,500}", T_ALL, NULL,
     NULL},
    {0, "no-server-replay-reuse", K_OFF, "server_replay_reuse", NULL, T_ALL, NULL, ""},
    {0, "server-replay-reuse", K_ON, "server_replay_reuse", NULL, T_ALL, NULL, NULL},
    {0, "no-server-replay-refresh", K_OFF, "server_replay_refresh", NULL, T_ALL, NULL, ""},
    {0, "server-replay-refresh", K_ON, "server_replay_refresh", NULL, T_ALL, NULL, NULL},
    {'M', "map-remote", K_VALUE, "map_remote", "PATTERN", T_ALL, "Map Remote", NULL},
    {0, "map-local", K_VALUE, "map_local", "PATTERN", T_ALL, "Map Local", NULL},
    {'B', "modify-body", K_VALUE, "modify_body", "PATTERN", T_ALL, "Modify Body", NULL},
    {'H', "modify-headers", K_VALUE, "modify_headers", "PATTERN", T_ALL, "Modify Headers", NULL},
    {0, "no-web-open-browser", K_OFF, "web_open_browser", NULL, T_WEB, "Web", ""},
    {0, "web-open-browser", K_ON, "web_open_browser", NULL, T_WEB, NULL, NULL},
    {0, "web-port", K_VALUE, "web_port", "PORT", T_WEB, NULL, NULL},
    {0, "web-host", K_VALUE, "web_host", "HOST", T_WEB, NULL, NULL},
};

enum { NFLAGS = sizeof(flags) / sizeof(flags[0]) };

struct action {
    const struct flagdef *f;
    const char *value; /* points into argv (or NULL) */
};

/* Everything collected from argv before anything is applied. */
struct parsed {
    struct action *acts;
    size_t nacts;
    const char **sets; /* --set specs in order */
    size_t nsets;
    const char **extra; /* unrecognized arguments */
    size_t nextra;
    int filter_from; /* argv index of the first filter word, or 0 */
};

static bool has_tool(const struct flagdef *f, enum mitm_tool t)
{
    return (f->tools >> t) & 1u;
}

/* argparse names a flag "-p/--listen-port" in its errors. */
static const char *display(const struct flagdef *f, char *buf, size_t n)
{
    if (f->shrt)
        snprintf(buf, n, "-%c/--%s", f->shrt, f->lng);
    else
        snprintf(buf, n, "--%s", f->lng);
    return buf;
}

/* argparse's _negative_number_matcher: '^-\d+$|^-\d*\.\d+$'. */
static bool negative_number(const char *a)
{
    if (a[0] != '-' || !a[1])
        return false;
    const char *p = a + 1 + strspn(a + 1, "0123456789");
    if (!*p)
        return true;
    return *p == '.' && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1);
}

/* Does argparse treat a as a flag (rather than a value or a positional)? */
static bool looks_like_flag(const char *a)
{
    return a[0] == '-' && a[1] && !negative_number(a);
}

static bool valid_int(const char *v)
{
    const char *d = v + (v[0] == '+' || v[0] == '-');
    return *d && strspn(d, "0123456789") == strlen(d) && strlen(d) < 19;
}

static const struct flagdef *find_short(char c, enum mitm_tool tool)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags[i].shrt == c && has_tool(&flags[i], tool))
            return &flags[i];
    return NULL;
}

/* Exact long name, else a unique prefix (argparse's allow_abbrev). Returns NULL with
 * *ambiguous set if several flags share the prefix. */
static const struct flagdef *find_long(const char *name, size_t len, enum mitm_tool tool, bool *ambiguous)
{
    const struct flagdef *hit = NULL;
    *ambiguous = false;
    for (size_t i = 0; i < NFLAGS; i++)
        if (has_tool(&flags[i], tool) && strlen(flags[i].lng) == len && memcmp(flags[i].lng, name, len) == 0)
            return &flags[i];
    for (size_t i = 0; i < NFLAGS; i++) {
        if (!has_tool(&flags[i], tool) || strncmp(flags[i].lng, name, len) != 0)
            continue;
        if (hit)
            *ambiguous = true;
        hit = &flags[i];
    }
    return *ambiguous ? NULL : hit;
}

static void ambiguity(const char *name, size_t len, enum mitm_tool tool, char *err, size_t errlen)
{
    char list[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < NFLAGS && n < sizeof(list); i++)
        if (has_tool(&flags[i], tool) && strncmp(flags[i].lng, name, len) == 0)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s--%s", n ? ", " : "", flags[i].lng);
    mitm_errf(err, errlen, "ambiguous option: --%.*s could match %s", (int)len, name, list);
}

static void push_action(struct parsed *p, const struct flagdef *f, const char *value)
{
    p->acts = mitm_realloc(p->acts, (p->nacts + 1) * sizeof(*p->acts));
    p->acts[p->nacts++] = (struct action){f, value};
}

static void push_str(const char ***v, size_t *n, const char *s)
{
    *v = mitm_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = s;
}

/* Record flag f; its argument is explicit (after '=' or attached) or the next argv
 * element. Returns 1 for -h (stop), 0, or -1 with err. */
static int take(struct parsed *p, const struct flagdef *f, const char *explicit, int argc, char **argv,
                int *i, char *err, size_t errlen)
{
    char name[64];
    const char *value = NULL;
    if (f->metavar) {
        if (explicit) {
            value = explicit;
        } else if (*i + 1 < argc && !looks_like_flag(argv[*i + 1])) {
            value = argv[++*i];
        } else {
            mitm_errf(err, errlen, "argument %s: expected one argument", display(f, name, sizeof(name)));
            return -1;
        }
        const struct mitm_opt_info *in = f->option ? mitm_options_info(f->option) : NULL;
        if (in && (in->type == MITM_OPT_TYPE_INT || in->type == MITM_OPT_TYPE_OPT_INT) && !valid_int(value)) {
            mitm_errf(err, errlen, "argument %s: invalid int value: '%s'", display(f, name, sizeof(name)),
                      value);
            return -1;
        }
    } else if (explicit) {
        mitm_errf(err, errlen, "argument %s: ignored explicit argument '%s'", display(f, name, sizeof(name)),
                  explicit);
        return -1;
    }
    if (f->kind == K_HELP)
        return 1;
    if (f->kind == K_SET)
        push_str(&p->sets, &p->nsets, value);
    else
        push_action(p, f, value);
    return 0;
}

static int parse_long_flag(struct parsed *p, enum mitm_tool tool, int argc, char **argv, int *i, char *err,
                           size_t errlen)
{
    const char *a = argv[*i] + 2;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    bool ambiguous;
    const struct flagdef *f = find_long(a, len, tool, &ambiguous);
    if (ambiguous) {
        ambiguity(a, len, tool, err, errlen);
        return -1;
    }
    if (!f) {
        push_str(&p->extra, &p->nextra, argv[*i]);
        return 0;
    }
    return take(p, f, eq ? eq + 1 : NULL, argc, argv, i, err, errlen);
}

/* "-nk", "-p8080", "-p=8080", "-qp 8080". */
static int parse_short_flags(struct parsed *p, enum mitm_tool tool, int argc, char **argv, int *i, char *err,
                             size_t errlen)
{
    const char *a = argv[*i];
    char name[64];
    const struct flagdef *prev = NULL;
    for (size_t j = 1; a[j]; j++) {
        const struct flagdef *f = find_short(a[j], tool);
        if (!f && !prev) {
            push_str(&p->extra, &p->nextra, a);
            return 0;
        }
        if (!f) {
            mitm_errf(err, errlen, "argument %s: ignored explicit argument '%s'",
                      display(prev, name, sizeof(name)), a + j);
            return -1;
        }
        if (f->metavar) {
            const char *rest = a + j + 1;
            if (j == 1 && *rest == '=')
                rest++;
            return take(p, f, *rest ? rest : NULL, argc, argv, i, err, errlen);
        }
        int rc = take(p, f, NULL, argc, argv, i, err, errlen);
        if (rc)
            return rc;
        prev = f;
    }
    return 0;
}

/* Walk argv from first. Returns 1 for -h, 0, or -1 with err. */
static int scan(struct parsed *p, enum mitm_tool tool, int first, int argc, char **argv, char *err,
                size_t errlen)
{
    bool only_positional = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
        } else if (only_positional || !looks_like_flag(a)) {
            if (tool == MITM_TOOL_DUMP) {
                p->filter_from = i; /* argparse REMAINDER: the rest is the filter */
                return 0;
            }
            push_str(&p->extra, &p->nextra, a);
        } else if (a[1] == '-') {
            rc = parse_long_flag(p, tool, argc, argv, &i, err, errlen);
        } else {
            rc = parse_short_flags(p, tool, argc, argv, &i, err, errlen);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The --no-x/--x halves of a pair are mutually exclusive in argparse. */
static int check_exclusive(const struct parsed *p, char *err, size_t errlen)
{
    char n1[64], n2[64];
    for (size_t k = 0; k < p->nacts; k++) {
        const struct flagdef *f = p->acts[k].f;
        if (f->kind != K_ON && f->kind != K_OFF)
            continue;
        for (size_t m = 0; m < k; m++) {
            const struct flagdef *g = p->acts[m].f;
            if (g != f && (g->kind == K_ON || g->kind == K_OFF) && strcmp(g->option, f->option) == 0) {
                mitm_errf(err, errlen, "argument %s: not allowed with argument %s",
                          display(f, n1, sizeof(n1)), display(g, n2, sizeof(n2)));
                return -1;
            }
        }
    }
    return 0;
}

static size_t spec_name_len(const char *spec)
{
    return strcspn(spec, "=");
}

/* mitmproxy's OptManager.set(): specs are grouped by option; a list option receives
 * exactly the values given (so "--set mode=socks5" replaces the default), any other
 * option at most one value, none meaning "no value". */
static int apply_sets(const struct parsed *p, struct mitm_options *o, struct mitm_cli *cli, char *err,
                      size_t errlen)
{
    for (size_t k = 0; k < p->nsets; k++) {
        const char *spec = p->sets[k];
        size_t len = spec_name_len(spec);
        bool seen = false;
        for (size_t m = 0; m < k && !seen; m++)
            seen = spec_name_len(p->sets[m]) == len && memcmp(p->sets[m], spec, len) == 0;
        if (seen)
            continue;
        char *name = mitm_strndup(spec, len);
        const struct mitm_opt_info *in = mitm_options_info(name);
        const char *value = NULL;
        size_t nvalues = 0;
        int rc = 0;
        if (!in) { /* maybe a script's option: kept for after the scripts are loaded */
            for (size_t m = k; m < p->nsets; m++)
                if (spec_name_len(p->sets[m]) == len && memcmp(p->sets[m], spec, len) == 0)
                    push_str(&cli->deferred, &cli->ndeferred, p->sets[m]);
            free(name);
            continue;
        }
        if (in->type == MITM_OPT_TYPE_STRLIST)
            rc = mitm_options_set(o, name, NULL, err, errlen);
        for (size_t m = k; m < p->nsets && rc == 0; m++) {
            const char *s = p->sets[m];
            if (spec_name_len(s) != len || memcmp(s, spec, len) != 0 || !s[len])
                continue;
            if (in->type == MITM_OPT_TYPE_STRLIST) {
                rc = mitm_options_set(o, name, s + len + 1, err, errlen);
            } else if (nvalues++ == 0) {
                value = s + len + 1;
            } else {
                mitm_errf(err, errlen, "Received multiple values for %s: %s, %s", name, value, s + len + 1);
                rc = -1;
            }
        }
        if (rc == 0 && in->type != MITM_OPT_TYPE_STRLIST)
            rc = mitm_options_set(o, name, value, err, errlen);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int apply_flags(const struct parsed *p, struct mitm_options *o, struct mitm_cli *cli, char *err,
                       size_t errlen)
{
    bool quiet = false, verbose = false;
    int rc = 0;
    for (size_t k = 0; k < p->nacts && rc == 0; k++) {
        const struct flagdef *f = p->acts[k].f;
        const struct mitm_opt_info *in = f->option ? mitm_options_info(f->option) : NULL;
        bool first = true;
        for (size_t m = 0; m < k && first; m++)
            first = p->acts[m].f != f;
        switch (f->kind) {
        case K_QUIET:
            quiet = true;
            break;
        case K_VERBOSE:
            verbose = true;
            break;
        case K_VERSION:
            cli->show_version = true;
            break;
        case K_OPTIONS:
            cli->show_options = true;
            break;
        case K_COMMANDS:
            cli->show_commands = true;
            break;
        case K_ON:
        case K_OFF:
            rc = mitm_options_set(o, f->option, f->kind == K_ON ? "true" : "false", err, errlen);
            break;
        case K_VALUE:
            if (in && in->type == MITM_OPT_TYPE_STRLIST && first)
                rc = mitm_options_set(o, f->option, NULL, err, errlen);
            if (rc == 0)
                rc = mitm_options_set(o, f->option, p->acts[k].value, err, errlen);
            break;
        case K_HELP:
        case K_SET:
            break;
        }
    }
    /* tools/main.py process_options(): -q (and --options, --commands) first, -v wins over
     * both. */
    if (rc == 0 && (quiet || cli->show_options || cli->show_commands)) {
        mitm_options_set(o, "termlog_verbosity", "error", NULL, 0);
        mitm_options_set(o, "flow_detail", "0", NULL, 0);
    }
    if (rc == 0 && verbose) {
        mitm_options_set(o, "termlog_verbosity", "debug", NULL, 0);
        mitm_options_set(o, "flow_detail", "2", NULL, 0);
    }
    return rc;
}

static char *join_words(int from, int argc, char **argv)
{
    size_t n = 0;
    for (int i = from; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = mitm_alloc(n + 1), *w = s;
    for (int i = from; i < argc; i++) {
        if (i > from)
            *w++ = ' ';
        size_t l = strlen(argv[i]);
        memcpy(w, argv[i], l);
        w += l;
    }
    *w = 0;
    return s;
}

static enum mitm_tool pick_tool(int argc, char **argv, int *first)
{
    const char *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : (argc > 0 && argv[0] ? argv[0] : "");
    *first = 1;
    if (strcmp(base, "mitmdump") == 0)
        return MITM_TOOL_DUMP;
    if (strcmp(base, "mitmweb") == 0)
        return MITM_TOOL_WEB;
    if (strcmp(base, "mitmproxy") == 0 || argc < 2)
        return MITM_TOOL_CONSOLE;
    *first = 2;
    if (strcmp(argv[1], "dump") == 0)
        return MITM_TOOL_DUMP;
    if (strcmp(argv[1], "web") == 0)
        return MITM_TOOL_WEB;
    *first = 1;
    return MITM_TOOL_CONSOLE;
}

static void parsed_free(struct parsed *p)
{
    free(p->acts);
    free(p->sets);
    free(p->extra);
}

static int apply(const struct parsed *p, struct mitm_options *o, struct mitm_cli *cli, char *err,
                 size_t errlen)
{
    if (apply_sets(p, o, cli, err, errlen) < 0)
        return -1;
    char *confdir = mitm_options_confdir(o);
    int rc = mitm_options_load_yaml(o, confdir, err, errlen);
    free(confdir);
    if (rc < 0)
        return -1;
    return apply_flags(p, o, cli, err, errlen);
}

int mitm_cli_parse(int argc, char **argv, struct mitm_options *o, struct mitm_cli *cli, char *err,
                   size_t errlen)
{
    struct parsed p = {0};
    int first;
    *cli = (struct mitm_cli){0};
    cli->tool = pick_tool(argc, argv, &first);
    int rc = scan(&p, cli->tool, first, argc, argv, err, errlen);
    if (rc == 1) {
        cli->show_help = true;
        rc = 0;
        goto Exit;
    }
    if (rc == 0 && p.nextra) {
        char list[1024] = "";
        size_t n = 0;
        for (size_t k = 0; k < p.nextra && n < sizeof(list); k++)
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", k ? " " : "", p.extra[k]);
        mitm_errf(err, errlen, "unrecognized arguments: %s", list);
        rc = -1;
    }
    if (rc == 0)
        rc = check_exclusive(&p, err, errlen);
    if (rc == 0)
        rc = apply(&p, o, cli, err, errlen);
    if (rc == 0 && cli->ndeferred && o->scripts.n == 0) { /* no script can define it */
        mitm_errf(err, errlen, "Unknown option: %.*s", (int)spec_name_len(cli->deferred[0]),
                  cli->deferred[0]);
        rc = -1;
    }
    if (rc == 0 && p.filter_from)
        cli->filter = join_words(p.filter_from, argc, argv);
Exit:
    parsed_free(&p);
    return rc;
}

void mitm_cli_free(struct mitm_cli *cli)
{
    free(cli->filter);
    cli->filter = NULL;
    free(cli->deferred);
    cli->deferred = NULL;
    cli->ndeferred = 0;
}

/* ---- -h ---- */

enum { HELP_COL = 24, HELP_WIDTH = 78 };

/* Greedy word wrap of text into lines starting at column HELP_COL; the first line
 * continues wherever col is (col <= HELP_COL pads to it). */
static void write_help(FILE *out, const char *text, size_t col)
{
    size_t x = col;
    bool line_empty = true;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t wl = strcspn(p, " ");
        if (!wl)
            break;
        if (line_empty && x < HELP_COL) {
            fprintf(out, "%*s", (int)(HELP_COL - x), "");
            x = HELP_COL;
        }
        if (wl > HELP_WIDTH - HELP_COL && x + 1 + (line_empty ? 0 : 1) < HELP_WIDTH) {
            /* textwrap's break_long_words: a word longer than a whole line fills this one
             * (cut after its last '-' that fits, if any) and goes on on the next */
            size_t room = HELP_WIDTH - x - (line_empty ? 0 : 1), cut = room;
            for (size_t k = room; k > 1; k--)
                if (p[k - 1] == '-' && strspn(p, "-") < k - 1) {
                    cut = k;
                    break;
                }
            if (!line_empty)
                fputc(' ', out);
            fwrite(p, 1, cut, out);
            fprintf(out, "\n%*s", HELP_COL, "");
            x = HELP_COL;
            line_empty = true;
            p += cut;
            continue;
        }
        if (!line_empty && x + 1 + wl > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_COL, "");
            x = HELP_COL;
            line_empty = true;
        }
        if (!line_empty) {
            fputc(' ', out);
            x++;
        }
        fwrite(p, 1, wl, out);
        x += wl;
        line_empty = false;
        p += wl;
    }
    fputc('\n', out);
}

static void write_flag(FILE *out, const struct flagdef *f)
{
    char inv[128];
    const char *mv = f->metavar ? f->metavar : "";
    const char *sp = f->metavar ? " " : "";
    if (f->shrt)
        snprintf(inv, sizeof(inv), "-%c%s%s, --%s%s%s", f->shrt, sp, mv, f->lng, sp, mv);
    else
        snprintf(inv, sizeof(inv), "--%s%s%s", f->lng, sp, mv);
    fprintf(out, "  %s", inv);
    const struct mitm_opt_info *in = f->option ? mitm_options_info(f->option) : NULL;
    const char *help = f->help ? f->help : in ? in->help : "";
    if (!*help) {
        fputc('\n', out);
        return;
    }
    size_t col = 2 + strlen(inv);
    if (col + 2 > HELP_COL) {
        fputc('\n', out);
        col = 0;
    }
    if (in && in->type == MITM_OPT_TYPE_STRLIST && !f->help) {
        size_t n = strlen(help) + 32;
        char *h = mitm_alloc(n);
        snprintf(h, n, "%s May be passed multiple times.", help);
        write_help(out, h, col);
        free(h);
    } else {
        write_help(out, help, col);
    }
}

static const char *tool_name(enum mitm_tool t)
{
    return t == MITM_TOOL_DUMP ? "mitmc dump" : t == MITM_TOOL_WEB ? "mitmc web" : "mitmc";
}

void mitm_cli_usage(const struct mitm_cli *cli, FILE *out)
{
    bool dump = cli->tool == MITM_TOOL_DUMP;
    fprintf(out, "usage: %s [options]%s\n", tool_name(cli->tool), dump ? " [filter]" : "");
    if (dump) {
        fputs("\npositional arguments:\n  filter", out);
        write_help(out,
                   "Filter expression (all remaining words, joined with spaces): only matching flows are "
                   "printed, read with -r and saved with -w.",
                   8);
    }
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flagdef *f = &flags[i];
        if (!has_tool(f, cli->tool))
            continue;
        if (f->group)
            fprintf(out, "\n%s:\n", f->group);
        write_flag(out, f);
    }
}

void mitm_cli_version(FILE *out)
{
    struct utsname u;
    fprintf(out, "Mitmc: %s\n", MITM_VERSION);
    fprintf(out, "OpenSSL: %s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(out, "libuv: %s\n", uv_version_string());
    if (uname(&u) == 0)
        fprintf(out, "Platform: %s-%s-%s\n", u.sysname, u.release, u.machine);
    else
        fprintf(out, "Platform: unknown\n");
}
