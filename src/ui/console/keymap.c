/* Key bindings: see keymap.h. */
#include "ui/console/keymap.h"
#include "base/alloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static const char *const ctx_names[MITM_KCTX_COUNT] = {
    "chooser",  "commands", "commonkey",  "dataviewer", "eventlog",    "flowlist",
    "flowview", "global",   "grideditor", "help",       "keybindings", "options",
};

unsigned mitm_key_ctx_parse(const char *name)
{
    for (size_t i = 0; i < MITM_KCTX_COUNT; i++)
        if (strcmp(ctx_names[i], name) == 0)
            return 1u << i;
    return 0;
}

const char *mitm_key_ctx_name(size_t i)
{
    return i < MITM_KCTX_COUNT ? ctx_names[i] : NULL;
}

void mitm_key_ctx_format(unsigned mask, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < MITM_KCTX_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        int w = snprintf(out + len, cap - len, "%s%s", len ? "," : "", ctx_names[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return;
        len += (size_t)w;
    }
}

/* ---- key names ---------------------------------------------------------------------- */

static const char *const named_keys[] = {
    "enter", "esc",   "tab",  "space", "backspace", "delete",    "insert", "up",  "down",
    "left",  "right", "home", "end",   "page_up",   "page_down", "f1",     "f2",  "f3",
    "f4",    "f5",    "f6",   "f7",    "f8",        "f9",        "f10",    "f11", "f12",
};

/* Length of the UTF-8 sequence starting at s if it is exactly one character, else 0. */
static size_t one_char(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n || strlen(s) != n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] >> 6) != 2)
            return 0;
    return n;
}

static bool is_named(const char *w)
{
    for (size_t i = 0; i < sizeof(named_keys) / sizeof(named_keys[0]); i++)
        if (strcmp(named_keys[i], w) == 0)
            return true;
    return false;
}

int mitm_key_normalize(const char *name, char *out, size_t cap, char *err, size_t errlen)
{
    char words[8][32];
    size_t nw = 0;
    for (const char *p = name; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        if (nw == 8 || len >= sizeof(words[0]))
            goto Bad;
        memcpy(words[nw], p, len);
        words[nw++][len] = 0;
        p += len;
    }
    if (!nw)
        goto Bad;
    /* "page up" is urwid's name; keys.yaml files also say page_up */
    if (nw >= 2 && strcmp(words[nw - 2], "page") == 0 &&
        (strcmp(words[nw - 1], "up") == 0 || strcmp(words[nw - 1], "down") == 0)) {
        char joined[sizeof(words[0])];
        snprintf(joined, sizeof(joined), "page_%s", words[nw - 1]);
        memcpy(words[nw - 2], joined, sizeof(joined));
        nw--;
    }
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < nw; i++) {
        char *w = words[i];
        bool last = i + 1 == nw;
        if (!last || !one_char(w))
            for (char *c = w; *c; c++)
                *c = (char)tolower((unsigned char)*c);
        if (!last && strcmp(w, "ctrl") && strcmp(w, "meta") && strcmp(w, "shift"))
            goto Bad;
        if (last && !one_char(w) && !is_named(w))
            goto Bad;
        int n = snprintf(out + len, cap - len, "%s%s", i ? " " : "", w);
        if (n < 0 || (size_t)n >= cap - len)
            goto Bad;
        len += (size_t)n;
    }
    return 0;
Bad:
    snprintf(err, errlen, "Unknown key: %s", name);
    return -1;
}

/* ---- the map ------------------------------------------------------------------------- */

struct mitm_keymap {
    struct mitm_key_binding *v;
    size_t n, cap;
};

#define C(x) MITM_KCTX_##x
/* mitmproxy's defaultkeys.py, in its order. */
static const struct {
    const char *key;
    const char *cmd;
    unsigned ctx;
    const char *help;
} defaults[] = {
    {":", "console.command ", C(COMMONKEY) | C(GLOBAL), "Command prompt"},
    {";", "console.command flow.comment @focus ''", C(FLOWLIST) | C(FLOWVIEW), "Add comment to flow"},
    {"?", "console.view.help", C(GLOBAL), "View help"},
    {"B", "browser.start", C(GLOBAL), "Start an attached browser"},
    {"C", "console.view.commands", C(GLOBAL), "View commands"},
    {"K", "console.view.keybindings", C(GLOBAL), "View key bindings"},
    {"O", "console.view.options", C(COMMONKEY) | C(GLOBAL), "View options"},
    {"E", "console.view.eventlog", C(COMMONKEY) | C(GLOBAL), "View event log"},
    {"Q", "console.exit", C(GLOBAL), "Exit immediately"},
    {"q", "console.view.pop", C(COMMONKEY) | C(GLOBAL), "Exit the current view"},
    {"esc", "console.view.pop", C(COMMONKEY) | C(GLOBAL), "Exit the current view"},
    {"H", "set console_quickhelp_visible toggle", C(GLOBAL), "Toggle quick help bar visibility"},
    {"-", "console.layout.cycle", C(GLOBAL), "Cycle to next layout"},
    {"ctrl right", "console.panes.next", C(GLOBAL), "Focus next layout pane"},
    {"ctrl left", "console.panes.prev", C(GLOBAL), "Focus previous layout pane"},
    {"shift tab", "console.panes.next", C(GLOBAL), "Focus next layout pane"},
    {"P", "console.view.flow @focus", C(GLOBAL), "View flow details"},
    {"?", "console.view.pop", C(HELP), "Exit help"},
    {"g", "console.nav.start", C(GLOBAL), "Go to start"},
    {"G", "console.nav.end", C(GLOBAL), "Go to end"},
    {"k", "console.nav.up", C(GLOBAL), "Up"},
    {"j", "console.nav.down", C(GLOBAL), "Down"},
    {"l", "console.nav.right", C(GLOBAL), "Right"},
    {"h", "console.nav.left", C(GLOBAL), "Left"},
    {"tab", "console.nav.next", C(COMMONKEY) | C(GLOBAL), "Next"},
    {"enter", "console.nav.select", C(COMMONKEY) | C(GLOBAL), "Select"},
    {"space", "console.nav.pagedown", C(GLOBAL), "Page down"},
    {"ctrl f", "console.nav.pagedown", C(GLOBAL), "Page down"},
    {"ctrl b", "console.nav.pageup", C(GLOBAL), "Page up"},
    {"I", "set intercept_active toggle", C(GLOBAL),
     "Toggle whether the filtering via the intercept option is enabled"},
    {"i", "console.command.set intercept", C(GLOBAL), "Set intercept"},
    {"W", "console.command.set save_stream_file", C(GLOBAL), "Stream to file"},
    {"A", "flow.resume @all", C(FLOWLIST) | C(FLOWVIEW), "Resume all intercepted flows"},
    {"a", "flow.resume @focus", C(FLOWLIST) | C(FLOWVIEW), "Resume this intercepted flow"},
    {"b", "console.command cut.save @focus response.content ", C(FLOWLIST) | C(FLOWVIEW),
     "Save response body to file"},
    {"d", "view.flows.remove @focus", C(FLOWLIST) | C(FLOWVIEW), "Delete flow from view"},
    {"D", "view.flows.duplicate @focus", C(FLOWLIST) | C(FLOWVIEW), "Duplicate flow"},
    {"x", "console.choose.cmd \"Export as...\" export.formats\nconsole.command export.file {choice} @focus",
     C(FLOWLIST) | C(FLOWVIEW), "Export this flow to file"},
    {"f", "console.command.set view_filter", C(FLOWLIST), "Set view filter"},
    {"F", "set console_focus_follow toggle", C(FLOWLIST) | C(FLOWVIEW), "Set focus follow"},
    {"ctrl l", "console.command cut.clip ", C(FLOWLIST) | C(FLOWVIEW), "Send cuts to clipboard"},
    {"L", "console.command view.flows.load ", C(FLOWLIST), "Load flows from file"},
    {"m", "flow.mark.toggle @focus", C(FLOWLIST), "Toggle mark on this flow"},
    {"M", "view.properties.marked.toggle", C(FLOWLIST), "Toggle viewing marked flows"},
    {"n", "console.command view.flows.create get https://example.com/", C(FLOWLIST), "Create a new flow"},
    {"o", "console.choose.cmd \"Order flows by...\" view.order.options\nset view_order {choice}", C(FLOWLIST),
     "Set flow list order"},
    {"r", "replay.client @focus", C(FLOWLIST) | C(FLOWVIEW), "Replay this flow"},
    {"S", "console.command replay.server ", C(FLOWLIST), "Start server replay"},
    {"v", "set view_order_reversed toggle", C(FLOWLIST), "Reverse flow list order"},
    {"U", "flow.mark @all false", C(FLOWLIST), "Un-set all marks"},
    {"w", "console.command save.file @shown ", C(FLOWLIST), "Save listed flows to file"},
    {"V", "flow.revert @focus", C(FLOWLIST) | C(FLOWVIEW), "Revert changes to this flow"},
    {"X", "flow.kill @focus", C(FLOWLIST), "Kill this flow"},
    {"z", "console.command.confirm \"Delete all flows\" view.flows.remove @all", C(FLOWLIST),
     "Clear flow list"},
    {"Z", "console.command.confirm \"Purge all hidden flows\" view.flows.remove @hidden", C(FLOWLIST),
     "Purge all flows not showing"},
    {"|", "console.command script.run @focus ", C(FLOWLIST) | C(FLOWVIEW), "Run a script on this flow"},
    {"e", "console.choose.cmd \"Edit...\" console.edit.focus.options\nconsole.edit.focus {choice}",
     C(FLOWLIST) | C(FLOWVIEW), "Edit a flow component"},
    {"f", "view.settings.setval.toggle @focus fullcontents", C(FLOWVIEW),
     "Toggle viewing full contents on this flow"},
    {"w", "console.command save.file @focus ", C(FLOWVIEW), "Save flow to file"},
    {"space", "view.focus.next", C(FLOWVIEW), "Go to next flow"},
    {"v", "console.choose \"View...\" request,response\nconsole.bodyview @focus {choice}", C(FLOWVIEW),
     "View flow body in an external viewer"},
    {"p", "view.focus.prev", C(FLOWVIEW), "Go to previous flow"},
    {"m",
     "console.choose.cmd \"Set contentview...\" console.flowview.mode.options\nconsole.flowview.mode.set "
     "{choice}",
     C(FLOWVIEW), "Set flow view mode"},
    {"z", "console.choose \"Encode/decode...\" request,response\nflow.encode.toggle @focus {choice}",
     C(FLOWVIEW), "Encode/decode flow body"},
    {"L", "console.command options.load ", C(OPTIONS), "Load from file"},
    {"S", "console.command options.save ", C(OPTIONS), "Save to file"},
    {"D", "options.reset", C(OPTIONS), "Reset all options"},
    {"d", "console.options.reset.focus", C(OPTIONS), "Reset this option"},
    {"a", "console.grideditor.add", C(GRIDEDITOR), "Add a row after cursor"},
    {"A", "console.grideditor.insert", C(GRIDEDITOR), "Insert a row before cursor"},
    {"d", "console.grideditor.delete", C(GRIDEDITOR), "Delete this row"},
    {"r", "console.command console.grideditor.load", C(GRIDEDITOR),
     "Read unescaped data into the current cell from file"},
    {"R", "console.command console.grideditor.load_escaped", C(GRIDEDITOR),
     "Load a Python-style escaped string into the current cell from file"},
    {"e", "console.grideditor.editor", C(GRIDEDITOR), "Edit in external editor"},
    {"w", "console.command console.grideditor.save ", C(GRIDEDITOR), "Save data to file as CSV"},
    {"z", "console.command.confirm \"Clear event log\" eventstore.clear", C(EVENTLOG), "Clear"},
    {"a", "console.choose.cmd \"Context\" console.key.contexts\nconsole.command console.key.bind {choice}",
     C(KEYBINDINGS), "Add a key binding"},
    {"d", "console.key.unbind.focus", C(KEYBINDINGS), "Unbind the currently focused key binding"},
    {"x", "console.key.execute.focus", C(KEYBINDINGS), "Execute the currently focused key binding"},
    {"enter", "console.key.edit.focus", C(KEYBINDINGS), "Edit the currently focused key binding"},
};
#undef C

struct mitm_keymap *mitm_keymap_new_empty(void)
{
    return mitm_calloc(1, sizeof(struct mitm_keymap));
}

struct mitm_keymap *mitm_keymap_new(void)
{
    struct mitm_keymap *km = mitm_keymap_new_empty();
    char err[128];
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        mitm_keymap_add(km, defaults[i].key, defaults[i].ctx, defaults[i].cmd, defaults[i].help, err,
                        sizeof(err));
    return km;
}

static void binding_free(struct mitm_key_binding *b)
{
    free(b->key);
    free(b->cmd);
    free(b->help);
}

void mitm_keymap_free(struct mitm_keymap *km)
{
    if (!km)
        return;
    for (size_t i = 0; i < km->n; i++)
        binding_free(&km->v[i]);
    free(km->v);
    free(km);
}

size_t mitm_keymap_count(const struct mitm_keymap *km)
{
    return km->n;
}

/* Commands compare without surrounding whitespace, as mitmproxy's strip(). */
static bool same_cmd(const char *a, const char *b)
{
    while (isspace((unsigned char)*a))
        a++;
    while (isspace((unsigned char)*b))
        b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && isspace((unsigned char)a[la - 1]))
        la--;
    while (lb && isspace((unsigned char)b[lb - 1]))
        lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

size_t mitm_keymap_remove(struct mitm_keymap *km, const char *key, unsigned ctx)
{
    size_t changed = 0, k = 0;
    for (size_t i = 0; i < km->n; i++) {
        struct mitm_key_binding *b = &km->v[i];
        if (strcmp(b->key, key) == 0 && (b->ctx & ctx)) {
            b->ctx &= ~ctx;
            changed++;
        }
        if (!b->ctx)
            binding_free(b);
        else
            km->v[k++] = *b;
    }
    km->n = k;
    return changed;
}

int mitm_keymap_add(struct mitm_keymap *km, const char *key, unsigned ctx, const char *cmd, const char *help,
                    char *err, size_t errlen)
{
    char canon[64];
    if (!ctx) {
        snprintf(err, errlen, "Must specify at least one context.");
        return -1;
    }
    if (mitm_key_normalize(key, canon, sizeof(canon), err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < km->n; i++) {
        struct mitm_key_binding *b = &km->v[i];
        if (strcmp(b->key, canon) == 0 && same_cmd(b->cmd, cmd)) {
            /* the contexts it gains lose their old binding of this key */
            unsigned gained = ctx & ~b->ctx;
            b->ctx |= ctx;
            if (help && *help) {
                free(b->help);
                b->help = mitm_strdup(help);
            }
            for (size_t j = 0; j < km->n; j++)
                if (j != i && strcmp(km->v[j].key, canon) == 0)
                    km->v[j].ctx &= ~gained;
            mitm_keymap_remove(km, canon, 0); /* drop the emptied ones */
            return 0;
        }
    }
    mitm_keymap_remove(km, canon, ctx);
    if (km->n == km->cap) {
        km->cap = km->cap ? km->cap * 2 : 128;
        km->v = mitm_realloc(km->v, km->cap * sizeof(*km->v));
    }
    km->v[km->n++] =
        (struct mitm_key_binding){mitm_strdup(canon), mitm_strdup(cmd), mitm_strdup(help ? help : ""), ctx};
    return 0;
}

const struct mitm_key_binding *mitm_keymap_get(const struct mitm_keymap *km, unsigned ctx, const char *key)
{
    for (size_t i = 0; i < km->n; i++)
        if ((km->v[i].ctx & ctx) && strcmp(km->v[i].key, key) == 0)
            return &km->v[i];
    return NULL;
}

const struct mitm_key_binding *mitm_keymap_lookup(const struct mitm_keymap *km, unsigned ctx, const char *key)
{
    const struct mitm_key_binding *b = mitm_keymap_get(km, ctx, key);
    return b ? b : mitm_keymap_get(km, MITM_KCTX_GLOBAL, key);
}

static int cmp_binding(const void *pa, const void *pb)
{
    const struct mitm_key_binding *a = *(const struct mitm_key_binding *const *)pa;
    const struct mitm_key_binding *b = *(const struct mitm_key_binding *const *)pb;
    bool ma = strchr(a->key, ' ') != NULL, mb = strchr(b->key, ' ') != NULL;
    if (ma != mb)
        return ma ? 1 : -1;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    char ca[256], cb[256];
    mitm_key_ctx_format(a->ctx, ca, sizeof(ca));
    mitm_key_ctx_format(b->ctx, cb, sizeof(cb));
    return strcmp(ca, cb);
}

size_t mitm_keymap_list(const struct mitm_keymap *km, unsigned ctx, const struct mitm_key_binding **out,
                        size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < km->n; i++) {
        if (ctx && !(km->v[i].ctx & ctx))
            continue;
        if (out && n < cap)
            out[n] = &km->v[i];
        n++;
    }
    if (out && n <= cap)
        qsort(out, n, sizeof(*out), cmp_binding);
    return n;
}

/* ---- keys.yaml ---------------------------------------------------------------------- */

struct pending {
    char *key, *cmd, *help;
    unsigned ctx;
};

static char *scalar(yaml_document_t *doc, yaml_node_t *n)
{
    (void)doc;
    return mitm_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
}

/* One list item: a mapping of known attributes with the right types. */
static int parse_item(yaml_document_t *doc, yaml_node_t *item, struct pending *p, char *err, size_t errlen)
{
    if (item->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "Invalid keybinding config - expected a list of keys");
        return -1;
    }
    p->ctx = MITM_KCTX_GLOBAL;
    for (yaml_node_pair_t *pr = item->data.mapping.pairs.start; pr < item->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key), *v = yaml_document_get_node(doc, pr->value);
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            snprintf(err, errlen, "Invalid keybinding config - expected a list of keys");
            return -1;
        }
        const char *name = (const char *)k->data.scalar.value;
        char **dst = strcmp(name, "key") == 0    ? &p->key
                     : strcmp(name, "cmd") == 0  ? &p->cmd
                     : strcmp(name, "help") == 0 ? &p->help
                                                 : NULL;
        if (dst) {
            if (v->type != YAML_SCALAR_NODE) {
                snprintf(err, errlen, "Invalid type for %s", name);
                return -1;
            }
            free(*dst);
            *dst = scalar(doc, v);
        } else if (strcmp(name, "ctx") == 0) {
            if (v->type != YAML_SEQUENCE_NODE) {
                snprintf(err, errlen, "Invalid type for ctx");
                return -1;
            }
            p->ctx = 0;
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *c = yaml_document_get_node(doc, *it);
                if (!c || c->type != YAML_SCALAR_NODE) {
                    snprintf(err, errlen, "Invalid type for ctx");
                    return -1;
                }
                unsigned bit = mitm_key_ctx_parse((const char *)c->data.scalar.value);
                if (!bit) {
                    snprintf(err, errlen, "Unsupported context: %s", (const char *)c->data.scalar.value);
                    return -1;
                }
                p->ctx |= bit;
            }
            if (!p->ctx) {
                snprintf(err, errlen, "Must specify at least one context.");
                return -1;
            }
        } else {
            snprintf(err, errlen, "Unknown key attributes: %s", name);
            return -1;
        }
    }
    if (!p->key || !p->cmd) {
        snprintf(err, errlen, "Missing required key attributes: %s", !p->key ? "key" : "cmd");
        return -1;
    }
    char canon[64];
    if (mitm_key_normalize(p->key, canon, sizeof(canon), err, errlen) < 0)
        return -1;
    return 0;
}

long mitm_keymap_load_text(struct mitm_keymap *km, const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    long rc = -1;
    struct pending *items = NULL;
    size_t n = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "Key binding config error at line %zu: %s", parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    bool empty =
        !root || (root->type == YAML_SCALAR_NODE &&
                  (root->data.scalar.length == 0 || strcmp((char *)root->data.scalar.value, "~") == 0 ||
                   strcmp((char *)root->data.scalar.value, "null") == 0));
    if (empty) {
        rc = 0;
        goto Exit;
    }
    if (root->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errlen, "Invalid keybinding config - expected a list of keys");
        goto Exit;
    }
    size_t total = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    items = mitm_calloc(total ? total : 1, sizeof(*items));
    for (yaml_node_item_t *it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        if (!item || parse_item(&doc, item, &items[n++], err, errlen) < 0)
            goto Exit;
    }
    for (size_t i = 0; i < n; i++) {
        mitm_keymap_remove(km, items[i].key, items[i].ctx);
        mitm_keymap_add(km, items[i].key, items[i].ctx, items[i].cmd, items[i].help, err, errlen);
    }
    rc = (long)n;
Exit:
    for (size_t i = 0; i < n; i++) {
        free(items[i].key);
        free(items[i].cmd);
        free(items[i].help);
    }
    free(items);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

long mitm_keymap_load_file(struct mitm_keymap *km, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = mitm_realloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, fp);
        len += r;
        if (r == 0)
            break;
    }
    bool bad = ferror(fp);
    fclose(fp);
    if (bad) {
        snprintf(err, errlen, "Could not read %s", path);
        free(buf);
        return -1;
    }
    char why[512];
    long rc = mitm_keymap_load_text(km, buf, len, why, sizeof(why));
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "Error reading %s: %s", path, why);
    return rc;
}
