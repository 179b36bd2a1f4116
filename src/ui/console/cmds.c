/* The console.* commands (mitmproxy's tools/console/consoleaddons.py and keymap.py) on the
 * master's registry, so key bindings, the ":" prompt and scripts reach the console the same
 * way. eventstore.clear, which mitmproxy's eventstore addon has, is registered here (the
 * event log is the console's) unless the core has one. */
#include "base/alloc.h"
#include "base/buf.h"
#include "core/command.h"
#include "core/options.h"
#include "flow/contentview.h"
#include "flow/store.h"
#include "ui/console/console-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNUSED_ARGS (void)a, (void)n, (void)out, (void)err, (void)errlen

/* Quote a word for the command line if the lexer would split or unquote it. */
static void quote_into(struct mitm_buf *b, const char *w)
{
    bool plain = *w && !strpbrk(w, " \t\r\n\"'");
    if (plain) {
        mitm_buf_append(b, w, strlen(w));
        return;
    }
    char q = strchr(w, '"') ? '\'' : '"';
    mitm_buf_append(b, &q, 1);
    mitm_buf_append(b, w, strlen(w));
    mitm_buf_append(b, &q, 1);
}

/* ---- prompts ---- */

static int cmd_command(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    struct mitm_buf line;
    mitm_buf_init(&line, 0);
    bool empty_last = a[0].nrest && a[0].rest[a[0].nrest - 1][0] == 0;
    for (size_t i = 0; i < a[0].nrest; i++) {
        if (i)
            mitm_buf_append(&line, " ", 1);
        /* the words came unquoted from the lexer: quote them again so the line splits
         * back into the same words (mitmproxy joins them with spaces) */
        if (i + 1 == a[0].nrest && empty_last)
            mitm_buf_append(&line, "\"\"", 2);
        else
            quote_into(&line, a[0].rest[i]);
    }
    /* a binding ending in a space ("save.file @shown ") waits for one more word */
    if (a[0].nrest && !empty_last)
        mitm_buf_append(&line, " ", 1);
    mitm_buf_append(&line, "", 1);
    prompt_command(c, (const char *)mitm_buf_data(&line));
    if (empty_last) /* ";" (flow.comment @focus '') types between the quotes */
        c->prompt.cur = c->prompt.len - 1;
    mitm_buf_free(&line);
    return 0;
}

static int cmd_command_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    const void *field;
    const struct mitm_opt_info *in = mitm_master_option(&c->m, a[0].str, &field, NULL);
    if (!in) {
        snprintf(err, errlen, "Unknown option: %s", a[0].str);
        return -1;
    }
    struct mitm_buf line;
    mitm_buf_init(&line, 0);
    mitm_buf_append(&line, "set ", 4);
    mitm_buf_append(&line, in->name, strlen(in->name));
    mitm_buf_append(&line, " ", 1);
    /* as mitmproxy: the current value quoted, the cursor before the closing quote, so what
     * is typed stays one word */
    char val[4096] = "";
    if (in->type == MITM_OPT_TYPE_STR || in->type == MITM_OPT_TYPE_OPT_STR ||
        in->type == MITM_OPT_TYPE_SIZE) {
        const char *v = *(char *const *)field;
        snprintf(val, sizeof(val), "%s", v ? v : "");
    } else if (in->type == MITM_OPT_TYPE_BOOL) {
        snprintf(val, sizeof(val), "%s", *(const bool *)field ? "true" : "");
    } else if (in->type == MITM_OPT_TYPE_INT || in->type == MITM_OPT_TYPE_OPT_INT) {
        long v = *(const long *)field;
        if (v != MITM_OPT_NONE)
            snprintf(val, sizeof(val), "%ld", v);
    } else {
        const struct mitm_strvec *v = field;
        for (size_t i = 0; i < v->n; i++)
            snprintf(val + strlen(val), sizeof(val) - strlen(val), "%s%s", i ? " " : "", v->v[i]);
    }
    char q = strchr(val, '\'') ? '"' : '\'';
    mitm_buf_append(&line, &q, 1);
    mitm_buf_append(&line, val, strlen(val));
    mitm_buf_append(&line, &q, 1);
    mitm_buf_append(&line, "", 1);
    prompt_command(c, (const char *)mitm_buf_data(&line));
    c->prompt.cur = c->prompt.len - 1;
    mitm_buf_free(&line);
    return 0;
}

struct confirm {
    char *cmd;
    char **args;
    size_t n;
};

static void confirm_free(void *p)
{
    struct confirm *cf = p;
    for (size_t i = 0; i < cf->n; i++)
        free(cf->args[i]);
    free(cf->args);
    free(cf->cmd);
    free(cf);
}

static void confirm_key(struct console *c, char key, void *arg)
{
    struct confirm *cf = arg;
    if (key != 'y')
        return;
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[1024];
    if (mitm_cmd_call(c->m.commands, cf->cmd, (const char *const *)cf->args, cf->n, &out, err, sizeof(err)) <
        0)
        con_message(c, MITM_ST_ERROR, "%s", err);
    mitm_buf_free(&out);
}

static int cmd_confirm(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                       size_t errlen)
{
    UNUSED_ARGS;
    struct confirm *cf = mitm_calloc(1, sizeof(*cf));
    cf->cmd = mitm_strdup(a[1].str);
    cf->args = mitm_calloc(a[2].nrest + 1, sizeof(*cf->args));
    for (size_t i = 0; i < a[2].nrest; i++)
        cf->args[i] = mitm_strdup(a[2].rest[i]);
    cf->n = a[2].nrest;
    prompt_onekey(data, a[0].str, "yn", confirm_key, cf, confirm_free);
    return 0;
}

/* Split a result or a "a,b,c" list into items. */
static char **split_items(const char *s, size_t len, char sep, size_t *n)
{
    char **v = NULL;
    *n = 0;
    for (size_t i = 0; i < len;) {
        const char *e = memchr(s + i, sep, len - i);
        size_t k = e ? (size_t)(e - (s + i)) : len - i;
        if (k) {
            v = mitm_realloc(v, (*n + 1) * sizeof(*v));
            v[(*n)++] = mitm_strndup(s + i, k);
        }
        i += k + 1;
    }
    return v;
}

static int cmd_choose(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                      size_t errlen)
{
    UNUSED_ARGS;
    size_t k;
    char **items = split_items(a[1].str, strlen(a[1].str), ',', &k);
    chooser_open(data, a[0].str, items, k, a[2].str, a[3].rest, a[3].nrest);
    return 0;
}

static int cmd_choose_cmd(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    struct mitm_buf res;
    mitm_buf_init(&res, 0);
    if (mitm_cmd_call_line(c->m.commands, a[1].str, &res, err, errlen) < 0) {
        mitm_buf_free(&res);
        return -1;
    }
    size_t k;
    char **items = split_items((const char *)mitm_buf_data(&res), res.len, '\n', &k);
    mitm_buf_free(&res);
    chooser_open(c, a[0].str, items, k, a[2].str, a[3].rest, a[3].nrest);
    return 0;
}

/* ---- views ---- */

static int cmd_view_flow(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    if (a[0].nflows != 1) {
        snprintf(err, errlen, "No flow to view.");
        return -1;
    }
    ssize_t i = mitm_store_find(c->m.store, a[0].flows[0]->id);
    if (i >= 0)
        mitm_store_view_set_focus(c->m.view, (size_t)i);
    struct con_screen *s = con_push(c, SCR_FLOWVIEW);
    s->stale = true;
    return 0;
}

static int cmd_view_pop(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    if (c->chooser.on) {
        chooser_close(c);
        return 0;
    }
    if (c->depth > 1) {
        con_pop(c);
        return 0;
    }
    con_prompt_exit(c);
    return 0;
}

#define VIEW_CMD(fname, kind)                                                                                \
    static int fname(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,    \
                     size_t errlen)                                                                          \
    {                                                                                                        \
        UNUSED_ARGS;                                                                                         \
        con_push(data, kind);                                                                                \
        return 0;                                                                                            \
    }
VIEW_CMD(cmd_view_help, SCR_HELP)
VIEW_CMD(cmd_view_eventlog, SCR_EVENTLOG)
VIEW_CMD(cmd_view_options, SCR_OPTIONS)
VIEW_CMD(cmd_view_keybindings, SCR_KEYBINDINGS)
VIEW_CMD(cmd_view_commands, SCR_COMMANDS)

#define NAV_CMD(fname, what)                                                                                 \
    static int fname(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,    \
                     size_t errlen)                                                                          \
    {                                                                                                        \
        UNUSED_ARGS;                                                                                         \
        screens_nav(data, what);                                                                             \
        return 0;                                                                                            \
    }
NAV_CMD(cmd_nav_start, "start")
NAV_CMD(cmd_nav_end, "end")
NAV_CMD(cmd_nav_up, "up")
NAV_CMD(cmd_nav_down, "down")
NAV_CMD(cmd_nav_left, "left")
NAV_CMD(cmd_nav_right, "right")
NAV_CMD(cmd_nav_next, "next")
NAV_CMD(cmd_nav_select, "select")
NAV_CMD(cmd_nav_pagedown, "pagedown")
NAV_CMD(cmd_nav_pageup, "pageup")

static int cmd_exit(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    UNUSED_ARGS;
    con_exit(data);
    return 0;
}

static int cmd_panes_switch(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    /* two panes: next and prev both land on the other one */
    UNUSED_ARGS;
    con_pane_switch(data);
    return 0;
}

/* ---- layout ---- */

static int cmd_layout_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                              char *err, size_t errlen)
{
    UNUSED_ARGS, (void)data;
    mitm_buf_append(out, "single\nvertical\nhorizontal", 26);
    return 0;
}

static int cmd_layout_cycle(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    (void)a, (void)n, (void)out;
    static const char *const order[] = {"single", "vertical", "horizontal"};
    size_t i = 0;
    while (i < 3 && strcmp(order[i], mitm_options.console_layout) != 0)
        i++;
    struct console *c = data;
    return mitm_master_set_option(&c->m, "console_layout", order[(i + 1) % 3], err, errlen);
}

/* ---- flow view mode ---- */

static int cmd_mode(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                    size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    const char *m = c->flowview_mode ? c->flowview_mode : mitm_options.console_default_contentview;
    mitm_buf_append(out, m, strlen(m));
    return 0;
}

static int cmd_mode_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    UNUSED_ARGS, (void)data;
    size_t k;
    const char *const *names = mitm_cv_names(&k);
    for (size_t i = 0; i < k; i++) {
        if (i)
            mitm_buf_append(out, "\n", 1);
        mitm_buf_append(out, names[i], strlen(names[i]));
    }
    return 0;
}

static int cmd_mode_set(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    size_t k;
    const char *const *names = mitm_cv_names(&k);
    bool ok = false;
    for (size_t i = 0; i < k; i++)
        ok |= strcmp(names[i], a[0].str) == 0;
    if (!ok) {
        snprintf(err, errlen, "Invalid flowview mode.");
        return -1;
    }
    free(c->flowview_mode);
    c->flowview_mode = mitm_strdup(a[0].str);
    flowview_stale(c, -1);
    con_dirty(c);
    return 0;
}

/* ---- editing ---- */

static int cmd_edit_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    UNUSED_ARGS;
    edit_options(data, out);
    return 0;
}

static int cmd_edit_focus(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)n, (void)out;
    return edit_focus(data, a[0].str, err, errlen);
}

#define GRID_CMD(fname, what)                                                                                \
    static int fname(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,    \
                     size_t errlen)                                                                          \
    {                                                                                                        \
        UNUSED_ARGS;                                                                                         \
        struct console *c = data;                                                                            \
        if (con_top(c)->kind != SCR_GRID) {                                                                  \
            snprintf(err, errlen, "Not in a grid editor.");                                                  \
            return -1;                                                                                       \
        }                                                                                                    \
        grid_key(c, what);                                                                                   \
        return 0;                                                                                            \
    }
GRID_CMD(cmd_grid_add, "add")
GRID_CMD(cmd_grid_insert, "insert")
GRID_CMD(cmd_grid_delete, "delete")
GRID_CMD(cmd_grid_editor, "editor")

static int cmd_grid_load(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)n, (void)out;
    return grid_load(data, a[0].str, false, err, errlen);
}

static int cmd_grid_load_escaped(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                 char *err, size_t errlen)
{
    (void)n, (void)out;
    return grid_load(data, a[0].str, true, err, errlen);
}

static int cmd_grid_save(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                         size_t errlen)
{
    (void)n, (void)out;
    return grid_save(data, a[0].str, err, errlen);
}

/* ---- key bindings ---- */

static int parse_ctxs(const char *s, unsigned *mask, char *err, size_t errlen)
{
    *mask = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        unsigned bit = mitm_key_ctx_parse(t);
        if (!bit) {
            snprintf(err, errlen, "Unsupported context: %s", t);
            return -1;
        }
        *mask |= bit;
    }
    if (!*mask) {
        snprintf(err, errlen, "Must specify at least one context.");
        return -1;
    }
    return 0;
}

static int cmd_key_bind(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    unsigned mask;
    if (parse_ctxs(a[0].str, &mask, err, errlen) < 0)
        return -1;
    struct mitm_buf line;
    mitm_buf_init(&line, 0);
    quote_into(&line, a[2].str);
    for (size_t i = 0; i < a[3].nrest; i++) {
        mitm_buf_append(&line, " ", 1);
        quote_into(&line, a[3].rest[i]);
    }
    mitm_buf_append(&line, "", 1);
    int rc = mitm_keymap_add(c->keys, a[1].str, mask, (const char *)mitm_buf_data(&line), "", err, errlen);
    mitm_buf_free(&line);
    con_dirty(c);
    return rc;
}

static int cmd_key_unbind(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                          size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    unsigned mask;
    char key[64];
    if (parse_ctxs(a[0].str, &mask, err, errlen) < 0 ||
        mitm_key_normalize(a[1].str, key, sizeof(key), err, errlen) < 0)
        return -1;
    mitm_keymap_remove(c->keys, key, mask);
    con_dirty(c);
    return 0;
}

static int cmd_key_contexts(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                            char *err, size_t errlen)
{
    UNUSED_ARGS, (void)data;
    for (size_t i = 0; mitm_key_ctx_name(i); i++) {
        if (i)
            mitm_buf_append(out, "\n", 1);
        mitm_buf_append(out, mitm_key_ctx_name(i), strlen(mitm_key_ctx_name(i)));
    }
    return 0;
}

static int cmd_key_unbind_focus(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                char *err, size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    const struct mitm_key_binding *b = keybindings_focus(c);
    if (!b) {
        snprintf(err, errlen, "No key binding focused.");
        return -1;
    }
    char key[64];
    snprintf(key, sizeof(key), "%s", b->key);
    mitm_keymap_remove(c->keys, key, b->ctx);
    return 0;
}

static int cmd_key_execute_focus(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                 char *err, size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    const struct mitm_key_binding *b = keybindings_focus(c);
    if (!b) {
        snprintf(err, errlen, "No key binding focused.");
        return -1;
    }
    char *cmd = mitm_strdup(b->cmd);
    con_run(c, cmd);
    free(cmd);
    return 0;
}

static int cmd_key_edit_focus(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                              char *err, size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    const struct mitm_key_binding *b = keybindings_focus(c);
    if (!b) {
        snprintf(err, errlen, "No key binding focused.");
        return -1;
    }
    char ctx[256];
    mitm_key_ctx_format(b->ctx, ctx, sizeof(ctx));
    struct mitm_buf line;
    mitm_buf_init(&line, 0);
    mitm_buf_append(&line, "console.key.bind ", 17);
    mitm_buf_append(&line, ctx, strlen(ctx));
    mitm_buf_append(&line, " ", 1);
    quote_into(&line, b->key);
    mitm_buf_append(&line, " ", 1);
    for (const char *p = b->cmd; *p; p++)
        mitm_buf_append(&line, *p == '\n' ? " " : p, 1);
    mitm_buf_append(&line, "", 1);
    prompt_command(c, (const char *)mitm_buf_data(&line));
    mitm_buf_free(&line);
    return 0;
}

static int cmd_keymap_load(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                           char *err, size_t errlen)
{
    (void)n, (void)out;
    struct console *c = data;
    char why[1024];
    if (mitm_keymap_load_file(c->keys, a[0].str, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "Could not load key bindings - %s", why);
        return -1;
    }
    return 0;
}

/* ---- options ---- */

static int cmd_options_reset_focus(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                   char *err, size_t errlen)
{
    (void)a, (void)n, (void)out;
    struct console *c = data;
    const char *name = options_focus(c);
    if (!name) {
        snprintf(err, errlen, "No option focused.");
        return -1;
    }
    return mitm_master_set_option(&c->m, name, NULL, err, errlen);
}

/* ---- the event log ---- */

static int cmd_eventstore_clear(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                char *err, size_t errlen)
{
    UNUSED_ARGS;
    struct console *c = data;
    pthread_mutex_lock(&c->log_mu);
    for (size_t i = 0; i < c->ev_n; i++)
        free(c->events[(c->ev_head + i) % EVENTLOG_MAX].text);
    c->ev_n = c->ev_head = 0;
    pthread_mutex_unlock(&c->log_mu);
    con_dirty(c);
    return 0;
}

static int cmd_bodyview(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)n, (void)out;
    return edit_bodyview(data, a[0].flows[0], a[1].str, err, errlen);
}

static int cmd_bodyview_options(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                                char *err, size_t errlen)
{
    UNUSED_ARGS, (void)data;
    mitm_buf_append(out, "request\nresponse", 16);
    return 0;
}

/* ---- registration ---- */

static const struct mitm_cmd_param p_cmdstr[] = {{"command_str", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_option[] = {{"option_name", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_confirm[] = {
    {"prompt", MITM_ARG_STR, NULL}, {"cmd", MITM_ARG_STR, NULL}, {"args", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_choose[] = {{"prompt", MITM_ARG_STR, NULL},
                                                 {"choices", MITM_ARG_STR, NULL},
                                                 {"cmd", MITM_ARG_STR, NULL},
                                                 {"args", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_choose_cmd[] = {{"prompt", MITM_ARG_STR, NULL},
                                                     {"choicecmd", MITM_ARG_STR, NULL},
                                                     {"subcmd", MITM_ARG_STR, NULL},
                                                     {"args", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_flow[] = {{"flow", MITM_ARG_FLOW, NULL}};
static const struct mitm_cmd_param p_part[] = {{"flow_part", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_mode[] = {{"mode", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_bind[] = {{"contexts", MITM_ARG_STR, NULL},
                                               {"key", MITM_ARG_STR, NULL},
                                               {"cmd", MITM_ARG_STR, NULL},
                                               {"args", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_unbind[] = {{"contexts", MITM_ARG_STR, NULL},
                                                 {"key", MITM_ARG_STR, NULL}};
static const struct mitm_cmd_param p_path[] = {{"path", MITM_ARG_PATH, NULL}};
static const struct mitm_cmd_param p_bodyview[] = {{"flow", MITM_ARG_FLOW, NULL},
                                                   {"part", MITM_ARG_STR, NULL}};

int con_commands_register(struct console *c, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"console.bodyview", p_bodyview, 2, NULL,
         "Spawn an external viewer for a flow request or response body based on the detected MIME type.",
         cmd_bodyview, c},
        {"console.bodyview.options", NULL, 0, "str[]", "Possible parts for console.bodyview.",
         cmd_bodyview_options, c},
        {"console.choose", p_choose, 4, NULL,
         "Prompt the user to choose from a specified list of strings, then invoke another command with all "
         "occurrences of {choice} replaced by the choice the user made.",
         cmd_choose, c},
        {"console.choose.cmd", p_choose_cmd, 4, NULL,
         "Prompt the user to choose from a list of strings returned by a command, then invoke another "
         "command with "
         "all occurrences of {choice} replaced by the choice the user made.",
         cmd_choose_cmd, c},
        {"console.command", p_cmdstr, 1, NULL,
         "Prompt the user to edit a command with a (possibly empty) starting "
         "value.",
         cmd_command, c},
        {"console.command.confirm", p_confirm, 3, NULL,
         "Prompt the user before running the specified command.", cmd_confirm, c},
        {"console.command.set", p_option, 1, NULL, "Prompt the user to set an option.", cmd_command_set, c},
        {"console.edit.focus", p_part, 1, NULL, "Edit a component of the currently focused flow.",
         cmd_edit_focus, c},
        {"console.edit.focus.options", NULL, 0, "str[]", "Possible components for console.edit.focus.",
         cmd_edit_options, c},
        {"console.exit", NULL, 0, NULL, "Exit mitmproxy.", cmd_exit, c},
        {"console.flowview.mode", NULL, 0, "str", "Get the display mode for the current flow view.", cmd_mode,
         c},
        {"console.flowview.mode.options", NULL, 0, "str[]",
         "Returns the valid options for the flowview mode.", cmd_mode_options, c},
        {"console.flowview.mode.set", p_mode, 1, NULL, "Set the display mode for the current flow view.",
         cmd_mode_set, c},
        {"console.grideditor.add", NULL, 0, NULL, "Add a row after the cursor.", cmd_grid_add, c},
        {"console.grideditor.delete", NULL, 0, NULL, "Delete row", cmd_grid_delete, c},
        {"console.grideditor.editor", NULL, 0, NULL, "Spawn an external editor on the current cell.",
         cmd_grid_editor, c},
        {"console.grideditor.insert", NULL, 0, NULL, "Insert a row before the cursor.", cmd_grid_insert, c},
        {"console.grideditor.load", p_path, 1, NULL, "Read a file into the current cell.", cmd_grid_load, c},
        {"console.grideditor.load_escaped", p_path, 1, NULL,
         "Read a file containing a Python-style escaped string into the current cell.", cmd_grid_load_escaped,
         c},
        {"console.grideditor.save", p_path, 1, NULL, "Save data to file as a CSV.", cmd_grid_save, c},
        {"console.key.bind", p_bind, 4, NULL, "Bind a shortcut key.", cmd_key_bind, c},
        {"console.key.contexts", NULL, 0, "str[]", "The available contexts for key binding.",
         cmd_key_contexts, c},
        {"console.key.edit.focus", NULL, 0, NULL, "Execute the currently focused key binding.",
         cmd_key_edit_focus, c},
        {"console.key.execute.focus", NULL, 0, NULL, "Execute the currently focused key binding.",
         cmd_key_execute_focus, c},
        {"console.key.unbind", p_unbind, 2, NULL, "Un-bind a shortcut key.", cmd_key_unbind, c},
        {"console.key.unbind.focus", NULL, 0, NULL,
         "Un-bind the shortcut key currently focused in the key binding viewer.", cmd_key_unbind_focus, c},
        {"console.keymap.load", p_path, 1, NULL, "Load key bindings from a YAML file.", cmd_keymap_load, c},
        {"console.layout.cycle", NULL, 0, NULL, "Cycle through the console layout options.", cmd_layout_cycle,
         c},
        {"console.layout.options", NULL, 0, "str[]",
         "Returns the available options for the console_layout option.", cmd_layout_options, c},
        {"console.nav.down", NULL, 0, NULL, "Go down.", cmd_nav_down, c},
        {"console.nav.end", NULL, 0, NULL, "Go to the end of a list or scrollable.", cmd_nav_end, c},
        {"console.nav.left", NULL, 0, NULL, "Go left.", cmd_nav_left, c},
        {"console.nav.next", NULL, 0, NULL, "Go to the next navigatable item.", cmd_nav_next, c},
        {"console.nav.pagedown", NULL, 0, NULL, "Go down.", cmd_nav_pagedown, c},
        {"console.nav.pageup", NULL, 0, NULL, "Go up.", cmd_nav_pageup, c},
        {"console.nav.right", NULL, 0, NULL, "Go right.", cmd_nav_right, c},
        {"console.nav.select", NULL, 0, NULL, "Select a navigable item for viewing or editing.",
         cmd_nav_select, c},
        {"console.nav.start", NULL, 0, NULL, "Go to the start of a list or scrollable.", cmd_nav_start, c},
        {"console.nav.up", NULL, 0, NULL, "Go up.", cmd_nav_up, c},
        {"console.options.reset.focus", NULL, 0, NULL, "Reset the current option in the options editor.",
         cmd_options_reset_focus, c},
        {"console.panes.next", NULL, 0, NULL, "Go to the next layout pane.", cmd_panes_switch, c},
        {"console.panes.prev", NULL, 0, NULL, "Go to the previous layout pane.", cmd_panes_switch, c},
        {"console.view.commands", NULL, 0, NULL, "View the commands list.", cmd_view_commands, c},
        {"console.view.eventlog", NULL, 0, NULL, "View the event log.", cmd_view_eventlog, c},
        {"console.view.flow", p_flow, 1, NULL, "View a flow.", cmd_view_flow, c},
        {"console.view.help", NULL, 0, NULL, "View help.", cmd_view_help, c},
        {"console.view.keybindings", NULL, 0, NULL, "View the commands list.", cmd_view_keybindings, c},
        {"console.view.options", NULL, 0, NULL, "View the options editor.", cmd_view_options, c},
        {"console.view.pop", NULL, 0, NULL, "Pop a view off the console stack.", cmd_view_pop, c},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (mitm_cmd_register(c->m.commands, &defs[i], err, errlen) < 0)
            return -1;
    /* eventstore.clear belongs to mitmproxy's eventstore addon; here the event log is the console's */
    const struct mitm_cmd_def clear = {"eventstore.clear",   NULL, 0, NULL, "Clear the event log.",
                                       cmd_eventstore_clear, c};
    if (!mitm_cmd_lookup(c->m.commands, clear.name) &&
        mitm_cmd_register(c->m.commands, &clear, err, errlen) < 0)
        return -1;
    return 0;
}
