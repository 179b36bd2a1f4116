#include "core/command.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"
#include "base/alloc.h"
#include "flow/flow.h"

struct mitm_cmd_registry {
    struct mitm_cmd_def *defs; /* sorted by name */
    size_t n, cap;
    const struct mitm_cmd_def **list; /* mitm_cmd_list's view */
    mitm_cmd_resolve_fn resolve;
    void *resolve_ud;
};

struct mitm_cmd_registry *mitm_cmd_registry_new(void)
{
    return mitm_calloc(1, sizeof(struct mitm_cmd_registry));
}

void mitm_cmd_registry_free(struct mitm_cmd_registry *reg)
{
    if (!reg)
        return;
    free(reg->defs);
    free(reg->list);
    free(reg);
}

void mitm_cmd_set_resolver(struct mitm_cmd_registry *reg, mitm_cmd_resolve_fn fn, void *ud)
{
    reg->resolve = fn;
    reg->resolve_ud = ud;
}

/* Index of name in the sorted table, or where it would go (negative: -(pos + 1)). */
static long find(const struct mitm_cmd_registry *reg, const char *name)
{
    size_t lo = 0, hi = reg->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->defs[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

int mitm_cmd_register(struct mitm_cmd_registry *reg, const struct mitm_cmd_def *def, char *err, size_t errlen)
{
    if (!def->name || !def->name[0] || !def->fn) {
        snprintf(err, errlen, "command without a name or function");
        return -1;
    }
    for (size_t i = 0; i < def->nparams; i++) {
        const struct mitm_cmd_param *p = &def->params[i];
        if (p->type == MITM_ARG_STRS && i + 1 != def->nparams) {
            snprintf(err, errlen, "%s: str[] parameter %s must be the last", def->name, p->name);
            return -1;
        }
        if (p->type == MITM_ARG_CHOICE && (!p->choices || !p->choices[0])) {
            snprintf(err, errlen, "%s: choice parameter %s has no choices", def->name, p->name);
            return -1;
        }
    }
    long at = find(reg, def->name);
    if (at >= 0) {
        snprintf(err, errlen, "Command already registered: %s", def->name);
        return -1;
    }
    size_t pos = (size_t)(-at - 1);
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 32;
        reg->defs = mitm_realloc(reg->defs, reg->cap * sizeof(*reg->defs));
    }
    memmove(&reg->defs[pos + 1], &reg->defs[pos], (reg->n - pos) * sizeof(*reg->defs));
    reg->defs[pos] = *def;
    reg->n++;
    return 0;
}

const struct mitm_cmd_def *mitm_cmd_lookup(const struct mitm_cmd_registry *reg, const char *name)
{
    long at = find(reg, name);
    return at >= 0 ? &reg->defs[at] : NULL;
}

const struct mitm_cmd_def *const *mitm_cmd_list(struct mitm_cmd_registry *reg, size_t *n)
{
    free(reg->list);
    reg->list = mitm_calloc(reg->n + 1, sizeof(*reg->list));
    for (size_t i = 0; i < reg->n; i++)
        reg->list[i] = &reg->defs[i];
    *n = reg->n;
    return reg->list;
}

const char *mitm_arg_type_name(enum mitm_arg_type t)
{
    switch (t) {
    case MITM_ARG_STR:
        return "str";
    case MITM_ARG_INT:
        return "int";
    case MITM_ARG_BOOL:
        return "bool";
    case MITM_ARG_FLOW:
        return "flow";
    case MITM_ARG_FLOWS:
        return "flow[]";
    case MITM_ARG_PATH:
        return "path";
    case MITM_ARG_CHOICE:
        return "choice";
    case MITM_ARG_STRS:
        return "str";
    }
    return "unknown";
}

void mitm_cmd_signature(const struct mitm_cmd_def *def, struct mitm_buf *out)
{
    mitm_buf_printf(out, "%s", def->name);
    for (size_t i = 0; i < def->nparams; i++) {
        const struct mitm_cmd_param *p = &def->params[i];
        mitm_buf_printf(out, " %s%s:%s", p->type == MITM_ARG_STRS ? "*" : "", p->name,
                        mitm_arg_type_name(p->type));
    }
    if (def->ret)
        mitm_buf_printf(out, " -> %s", def->ret);
}

int mitm_cmd_parse_int(const char *s, long *out)
{
    while (isspace((unsigned char)*s))
        s++;
    char digits[64];
    size_t n = 0;
    if (*s == '+' || *s == '-')
        digits[n++] = *s++;
    bool any = false, prev_digit = false;
    for (; *s && !isspace((unsigned char)*s); s++) {
        if (isdigit((unsigned char)*s)) {
            if (n + 1 >= sizeof(digits))
                return -1;
            digits[n++] = *s;
            any = prev_digit = true;
        } else if (*s == '_' && prev_digit && isdigit((unsigned char)s[1])) {
            prev_digit = false;
        } else {
            return -1;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!any || *s)
        return -1;
    digits[n] = 0;
    errno = 0;
    long v = strtol(digits, NULL, 10);
    if (errno)
        return -1;
    *out = v;
    return 0;
}

/* Convert one string to a parameter's type. Returns 0 or -1 with err set. */
static int parse_arg(struct mitm_cmd_registry *reg, const struct mitm_cmd_param *p, const char *s,
                     struct mitm_cmd_arg *a, char **owned, char *err, size_t errlen)
{
    a->type = p->type;
    a->str = s;
    switch (p->type) {
    case MITM_ARG_STR:
    case MITM_ARG_STRS:
        return 0;
    case MITM_ARG_INT:
        if (mitm_cmd_parse_int(s, &a->i) == 0)
            return 0;
        snprintf(err, errlen, "Not an integer: %s", s);
        return -1;
    case MITM_ARG_BOOL:
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            a->b = s[0] == 't';
            return 0;
        }
        snprintf(err, errlen, "Booleans are 'true' or 'false', got %s", s);
        return -1;
    case MITM_ARG_PATH: {
        /* os.path.expanduser: "~" or "~/..." */
        const char *home = getenv("HOME");
        if (s[0] == '~' && (s[1] == 0 || s[1] == '/') && home) {
            size_t l = strlen(home) + strlen(s);
            *owned = mitm_alloc(l + 1);
            snprintf(*owned, l + 1, "%s%s", home, s + 1);
            a->str = *owned;
        }
        return 0;
    }
    case MITM_ARG_CHOICE:
        if (mitm_options_in_choices(p->choices, s))
            return 0;
        snprintf(err, errlen, "Invalid choice.");
        return -1;
    case MITM_ARG_FLOW:
    case MITM_ARG_FLOWS:
        if (!reg->resolve) {
            snprintf(err, errlen, "no flows available");
            return -1;
        }
        if (reg->resolve(reg->resolve_ud, s, &a->flows, &a->nflows, err, errlen) != 0)
            return -1;
        if (p->type == MITM_ARG_FLOW && a->nflows != 1) {
            snprintf(err, errlen, "Command requires one flow, specification matched %zu.", a->nflows);
            return -1;
        }
        return 0;
    }
    return -1;
}

static void free_args(struct mitm_cmd_arg *args, char **owned, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < args[i].nflows; k++)
            mitm_flow_unref(args[i].flows[k]);
        free(args[i].flows);
        free(owned[i]);
    }
    free(args);
    free(owned);
}

int mitm_cmd_call(struct mitm_cmd_registry *reg, const char *name, const char *const *argv, size_t argc,
                  struct mitm_buf *out, char *err, size_t errlen)
{
    const struct mitm_cmd_def *def = mitm_cmd_lookup(reg, name);
    if (!def) {
        snprintf(err, errlen, "Unknown command: %s", name);
        return -1;
    }
    bool variadic = def->nparams > 0 && def->params[def->nparams - 1].type == MITM_ARG_STRS;
    size_t fixed = variadic ? def->nparams - 1 : def->nparams;
    if (argc < fixed || (!variadic && argc > fixed)) {
        snprintf(err, errlen, "Command argument mismatch: expected %s%zu arguments, got %zu",
                 variadic ? "at least " : "", fixed, argc);
        return -1;
    }
    size_t n = def->nparams;
    struct mitm_cmd_arg *args = mitm_calloc(n + 1, sizeof(*args));
    char **owned = mitm_calloc(n + 1, sizeof(*owned));
    int rc = -1;
    for (size_t i = 0; i < fixed; i++) {
        char why[256] = "";
        if (parse_arg(reg, &def->params[i], argv[i], &args[i], &owned[i], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "Invalid value for argument %s: %s", def->params[i].name, why);
            goto Exit;
        }
    }
    if (variadic) {
        args[fixed].type = MITM_ARG_STRS;
        args[fixed].str = "";
        args[fixed].rest = argv + fixed;
        args[fixed].nrest = argc - fixed;
    }
    err[0] = 0;
    rc = def->fn(def->data, args, n, out, err, errlen) == 0 ? 0 : -1;
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "%s failed", def->name);
Exit:
    free_args(args, owned, n);
    return rc;
}

char **mitm_cmd_split(const char *line, size_t *argc, char *err, size_t errlen)
{
    size_t len = strlen(line);
    if (len > MITM_CMD_LINE_MAX) {
        snprintf(err, errlen, "command line longer than %d bytes", MITM_CMD_LINE_MAX);
        return NULL;
    }
    char **v = mitm_calloc(MITM_CMD_WORDS_MAX + 1, sizeof(char *));
    size_t n = 0;
    const char *p = line, *end = line + len;
    while (p < end) {
        if (strchr(" \r\n\t", *p)) {
            p++;
            continue;
        }
        if (n == MITM_CMD_WORDS_MAX) {
            snprintf(err, errlen, "more than %d words in a command line", MITM_CMD_WORDS_MAX);
            mitm_cmd_argv_free(v);
            return NULL;
        }
        const char *s, *e;
        if (*p == '"' || *p == '\'') {
            const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
            s = p + 1;
            e = q ? q : end;
            p = q ? q + 1 : end;
        } else {
            s = p;
            while (p < end && !strchr("'\" \r\n\t", *p))
                p++;
            e = p;
        }
        v[n++] = mitm_strndup(s, (size_t)(e - s));
    }
    *argc = n;
    return v;
}

void mitm_cmd_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

int mitm_cmd_call_line(struct mitm_cmd_registry *reg, const char *line, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    size_t argc = 0;
    char **argv = mitm_cmd_split(line, &argc, err, errlen);
    if (!argv)
        return -1;
    int rc = -1;
    if (argc == 0)
        snprintf(err, errlen, "Empty command");
    else
        rc = mitm_cmd_call(reg, argv[0], (const char *const *)argv + 1, argc - 1, out, err, errlen);
    mitm_cmd_argv_free(argv);
    return rc;
}

struct sig_entry {
    char *sig;
    const struct mitm_cmd_def *def;
};

static int sig_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sig_entry *)a)->sig, ((const struct sig_entry *)b)->sig);
}

void mitm_cmd_dump(struct mitm_cmd_registry *reg, struct mitm_buf *out)
{
    size_t n;
    const struct mitm_cmd_def *const *defs = mitm_cmd_list(reg, &n);
    struct sig_entry *v = mitm_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        mitm_cmd_signature(defs[i], &b);
        size_t len;
        v[i] = (struct sig_entry){(char *)mitm_buf_steal(&b, &len), defs[i]};
    }
    /* by signature, not name, as mitmproxy sorts */
    qsort(v, n, sizeof(*v), sig_cmp);
    for (size_t i = 0; i < n; i++) {
        const char *h = v[i].def->help ? v[i].def->help : "";
        while (*h) {
            size_t l = strcspn(h, "\n");
            mitm_buf_printf(out, "# %.*s\n", (int)l, h);
            h += l + (h[l] == '\n');
        }
        mitm_buf_printf(out, "%s\n\n", v[i].sig);
        free(v[i].sig);
    }
    free(v);
}
